//! ITCH messages applied to the order books: the market-data half of the hot path.
//!
//! # Software pipeline
//!
//! A book event on a day-sized book is a chain of dependent cache misses (id
//! map -> order node -> queue neighbours, instrument line -> level). Applied
//! one at a time, the CPU waits for each in turn. [`Pipeline`] overlaps them
//! across the messages of one MoldUDP64 datagram: while message `i` is
//! applied, it reads just the order reference (or instrument) of messages
//! `i + D`, `i + 2D` and `i + 3D` at fixed offsets and issues the matching
//! [`BookSet`] prefetch hints, one link of the chain per stage. Application
//! order is untouched (messages are still applied one by one, in the
//! sequencer's order); the hints only change timing.

use hashbrown::HashMap;
use quotewire_book::{Bbo, BookConfig, BookError, BookSet};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_protocol::itch::{
    self, AddOrder, AddOrderMpid, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace,
};
use quotewire_protocol::moldudp64::Packet;
use quotewire_protocol::DecodeError;

/// Number of distinct stock locate codes (ITCH locates are `u16`).
pub const MAX_LOCATES: usize = 1 << 16;

/// What applying one message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The message changed the book of this instrument.
    Book(InstrumentId),
    /// A valid message with no book effect (directory, trade, system event, ...).
    Other,
    /// The message was dropped and counted (decode failure or a book inconsistency).
    Dropped,
}

/// Counters of everything the pipeline refused or ignored. Nothing is dropped silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarketDataCounters {
    /// Messages handed to [`MarketData::on_message`].
    pub messages: u64,
    /// Messages that changed a book.
    pub book_updates: u64,
    /// Empty or shorter than their type's layout.
    pub truncated: u64,
    /// Message types outside ITCH 5.0 (skipped by their length).
    pub unknown_type: u64,
    /// Length different from the type's fixed layout.
    pub bad_length: u64,
    /// A field outside its domain (e.g. a side byte other than B/S).
    pub invalid_field: u64,
    /// Executes, cancels, deletes or replaces of an order the book does not hold.
    pub unknown_order: u64,
    /// Adds (or replaces) re-using a live order reference.
    pub duplicate_order: u64,
    /// Adds refused because the pre-sized order slab is full.
    pub capacity_exceeded: u64,
    /// Other book refusals (zero quantity, ...).
    pub book_rejects: u64,
}

/// Most messages of one datagram a [`Lookahead`] indexes. A MoldUDP64 datagram
/// of at most 1,500 bytes carries fewer book messages (the smallest, `D`, takes
/// 21 bytes with its length prefix); any beyond are applied without hints.
pub const LOOKAHEAD_MESSAGES: usize = 96;

/// The messages of one MoldUDP64 datagram by sequence number, so the books can
/// be warmed for later messages while earlier ones are applied. Holds borrowed
/// slices only; building one never allocates.
#[derive(Debug)]
pub struct Lookahead<'a> {
    first: u64,
    len: usize,
    messages: [&'a [u8]; LOOKAHEAD_MESSAGES],
}

impl<'a> Lookahead<'a> {
    /// Indexes the messages of `datagram`; a malformed datagram indexes none
    /// (the sequencer will count it).
    #[inline]
    #[must_use]
    pub fn new(datagram: &'a [u8]) -> Self {
        let mut la = Self {
            first: 0,
            len: 0,
            messages: [&[]; LOOKAHEAD_MESSAGES],
        };
        if let Ok(packet) = Packet::decode(datagram) {
            la.first = packet.header.sequence;
            for ((_, msg), slot) in packet.messages().zip(la.messages.iter_mut()) {
                *slot = msg;
                la.len += 1;
            }
        }
        la
    }

    /// Message `seq` of the datagram, if it carries it.
    #[inline(always)]
    #[must_use]
    pub fn get(&self, seq: u64) -> Option<&'a [u8]> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.messages[..self.len].get(i).copied()
    }

    /// Number of messages indexed.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is indexed.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sequence number of the datagram's first message.
    #[must_use]
    pub const fn first_sequence(&self) -> u64 {
        self.first
    }
}

/// How far ahead [`MarketData`]'s prefetch pipeline works.
///
/// Stage 3 (furthest ahead) loads id-map lines, stage 2 order nodes and
/// instrument lines, stage 1 (`distance` messages ahead) queue neighbours and
/// touch levels. `distance == 0` turns the pipeline off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// Messages between consecutive stages.
    pub distance: u64,
}

impl Default for Pipeline {
    /// The distance that measured best on the `bench feed` day (see the book
    /// crate's `PERFORMANCE.md`).
    fn default() -> Self {
        Self { distance: 4 }
    }
}

/// Order-ref and instrument fields read straight off the wire for a hint.
#[inline(always)]
fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[inline(always)]
fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// Offsets shared by every book message of ITCH 5.0 (checked against the full
/// decoder in the tests).
const LOCATE_AT: usize = 1;
const ORDER_REF_AT: usize = 11;
const ADD_SIDE_AT: usize = 19;
const REPLACE_NEW_REF_AT: usize = 19;

/// The market-data state: one L3/L2 book per instrument and the symbol directory.
#[derive(Debug)]
pub struct MarketData {
    books: BookSet,
    symbols: Vec<[u8; 8]>,
    locates: HashMap<[u8; 8], u16>,
    counters: MarketDataCounters,
}

impl MarketData {
    /// Pre-sizes books for `config`; nothing on the message path allocates afterwards
    /// (a level vector may grow past `levels_per_side` once, during warm-up).
    #[must_use]
    pub fn new(config: BookConfig) -> Self {
        Self {
            books: BookSet::new(config),
            symbols: vec![[b' '; 8]; MAX_LOCATES],
            locates: HashMap::new(),
            counters: MarketDataCounters::default(),
        }
    }

    /// Decodes one ITCH message and applies it. Never panics; every refusal is counted.
    #[inline]
    pub fn on_message(&mut self, bytes: &[u8]) -> Applied {
        self.counters.messages += 1;
        match itch::decode(bytes) {
            Ok(message) => self.apply(&message),
            Err(error) => {
                self.count_decode_error(error);
                Applied::Dropped
            }
        }
    }

    /// Decodes and applies message `seq`, first issuing the pipeline's prefetch
    /// hints for the messages `pipeline.distance`, twice and three times that
    /// many sequence numbers ahead in `lookahead`. Same effect as
    /// [`Self::on_message`]; only the timing differs.
    #[inline]
    pub fn on_message_pipelined(
        &mut self,
        seq: u64,
        bytes: &[u8],
        lookahead: &Lookahead<'_>,
        pipeline: Pipeline,
    ) -> Applied {
        let d = pipeline.distance;
        if d != 0 {
            if let Some(m) = lookahead.get(seq.wrapping_add(4 * d)) {
                self.prefetch_stage(4, m);
            }
            if let Some(m) = lookahead.get(seq.wrapping_add(3 * d)) {
                self.prefetch_stage(3, m);
            }
            if let Some(m) = lookahead.get(seq.wrapping_add(2 * d)) {
                self.prefetch_stage(2, m);
            }
            if let Some(m) = lookahead.get(seq.wrapping_add(d)) {
                self.prefetch_stage(1, m);
            }
        }
        self.on_message(bytes)
    }

    /// Fills the pipeline at the start of a datagram: the hints for its first
    /// messages, which no earlier message of the datagram issued. Call it
    /// before the datagram's first [`Self::on_message_pipelined`].
    #[inline]
    pub fn prime(&self, lookahead: &Lookahead<'_>, pipeline: Pipeline) {
        let d = pipeline.distance;
        if d == 0 {
            return;
        }
        let first = lookahead.first_sequence();
        for stage in (1..=4_u64).rev() {
            for seq in first..first.saturating_add(stage * d) {
                match lookahead.get(seq) {
                    Some(m) => self.prefetch_stage(stage, m),
                    None => break,
                }
            }
        }
    }

    /// Issues one stage of book prefetch hints for an ITCH message, reading only
    /// the type byte and fixed-offset fields (no validation: a hint for a
    /// malformed message is merely useless). Stage 3 starts the id-map lines,
    /// stage 2 the order node (or, for an add, the instrument line), stage 1
    /// the queue neighbours (or, for an add, the touch levels).
    #[inline(always)]
    pub fn prefetch_stage(&self, stage: u64, bytes: &[u8]) {
        let books = &self.books;
        let Some(&tag) = bytes.first() else {
            return;
        };
        match tag {
            AddOrder::TAG | AddOrderMpid::TAG => match stage {
                4 => {
                    if let Some(id) = be_u64(bytes, ORDER_REF_AT) {
                        books.prefetch_id(OrderId(id));
                    }
                }
                3 => {
                    if let Some(locate) = be_u16(bytes, LOCATE_AT) {
                        books.prefetch_book(InstrumentId(locate));
                    }
                }
                1 => {}
                _ => {
                    let side = match bytes.get(ADD_SIDE_AT) {
                        Some(b'B') => Side::Buy,
                        Some(b'S') => Side::Sell,
                        _ => return,
                    };
                    if let Some(locate) = be_u16(bytes, LOCATE_AT) {
                        books.prefetch_level(InstrumentId(locate), side);
                    }
                }
            },
            OrderExecuted::TAG
            | OrderExecutedWithPrice::TAG
            | OrderCancel::TAG
            | OrderDelete::TAG
            | OrderReplace::TAG => {
                let Some(id) = be_u64(bytes, ORDER_REF_AT) else {
                    return;
                };
                match stage {
                    4 => {
                        books.prefetch_id(OrderId(id));
                        if tag == OrderReplace::TAG {
                            if let Some(new) = be_u64(bytes, REPLACE_NEW_REF_AT) {
                                books.prefetch_id(OrderId(new));
                            }
                        }
                    }
                    3 => books.prefetch_order(OrderId(id)),
                    2 => books.prefetch_order_links(OrderId(id)),
                    _ => books.prefetch_order_level(OrderId(id)),
                }
            }
            _ => {}
        }
    }

    /// Applies one decoded message.
    #[inline]
    pub fn apply(&mut self, message: &Message) -> Applied {
        let instrument = InstrumentId(message.stock_locate());
        let result = match message {
            Message::AddOrder(m) => self.books.add(
                instrument,
                OrderId(m.order_ref),
                m.side,
                Price(i64::from(m.price)),
                Qty(u64::from(m.shares)),
            ),
            Message::AddOrderMpid(m) => self.books.add(
                instrument,
                OrderId(m.order_ref),
                m.side,
                Price(i64::from(m.price)),
                Qty(u64::from(m.shares)),
            ),
            Message::OrderExecuted(m) => self
                .books
                .execute(OrderId(m.order_ref), Qty(u64::from(m.executed_shares)))
                .map(drop),
            Message::OrderExecutedWithPrice(m) => self
                .books
                .execute(OrderId(m.order_ref), Qty(u64::from(m.executed_shares)))
                .map(drop),
            Message::OrderCancel(m) => self
                .books
                .cancel(OrderId(m.order_ref), Qty(u64::from(m.cancelled_shares)))
                .map(drop),
            Message::OrderDelete(m) => self.books.delete(OrderId(m.order_ref)).map(drop),
            Message::OrderReplace(m) => self
                .books
                .replace(
                    OrderId(m.original_order_ref),
                    OrderId(m.new_order_ref),
                    Price(i64::from(m.price)),
                    Qty(u64::from(m.shares)),
                )
                .map(drop),
            Message::StockDirectory(m) => {
                self.symbols[usize::from(m.stock_locate)] = m.stock;
                self.locates.insert(m.stock, m.stock_locate);
                return Applied::Other;
            }
            _ => return Applied::Other,
        };
        match result {
            Ok(()) => {
                self.counters.book_updates += 1;
                Applied::Book(instrument)
            }
            Err(error) => {
                self.count_book_error(error);
                Applied::Dropped
            }
        }
    }

    #[cold]
    fn count_decode_error(&mut self, error: DecodeError) {
        let c = &mut self.counters;
        match error {
            DecodeError::Truncated { .. } => c.truncated += 1,
            DecodeError::UnknownType(_) => c.unknown_type += 1,
            DecodeError::BadLength { .. } => c.bad_length += 1,
            DecodeError::InvalidField { .. } => c.invalid_field += 1,
        }
    }

    #[cold]
    fn count_book_error(&mut self, error: BookError) {
        let c = &mut self.counters;
        match error {
            BookError::UnknownOrder(_) => c.unknown_order += 1,
            BookError::DuplicateOrder(_) => c.duplicate_order += 1,
            BookError::CapacityExceeded => c.capacity_exceeded += 1,
            _ => c.book_rejects += 1,
        }
    }

    /// The books.
    #[must_use]
    pub const fn books(&self) -> &BookSet {
        &self.books
    }

    /// The BBO of an instrument (empty when it has no book yet).
    #[must_use]
    pub fn bbo(&self, instrument: InstrumentId) -> Bbo {
        self.books.book(instrument).map_or(
            Bbo {
                bid: None,
                ask: None,
            },
            |b| b.bbo(),
        )
    }

    /// The symbol registered for a locate by a Stock Directory message, if any.
    #[must_use]
    pub fn symbol(&self, instrument: InstrumentId) -> Option<&str> {
        let raw = &self.symbols[usize::from(instrument.0)];
        let text = std::str::from_utf8(raw).ok()?.trim_end();
        (!text.is_empty()).then_some(text)
    }

    /// The locate registered for `symbol`, if a Stock Directory message named it.
    #[must_use]
    pub fn locate_of(&self, symbol: &str) -> Option<InstrumentId> {
        let mut padded = [b' '; 8];
        if symbol.len() > 8 {
            return None;
        }
        padded[..symbol.len()].copy_from_slice(symbol.as_bytes());
        self.locates.get(&padded).map(|&l| InstrumentId(l))
    }

    /// Counters so far.
    #[must_use]
    pub const fn counters(&self) -> MarketDataCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_core::Side;
    use quotewire_protocol::itch::{AddOrder, OrderDelete, OrderExecuted};

    fn config() -> BookConfig {
        BookConfig {
            max_orders: 64,
            max_instruments: 8,
            levels_per_side: 4,
        }
    }

    fn encode(msg: Message) -> Vec<u8> {
        let mut buf = vec![0u8; msg.encoded_len()];
        msg.encode(&mut buf).unwrap();
        buf
    }

    fn add(order_ref: u64, side: Side, price: u32, shares: u32) -> Vec<u8> {
        encode(Message::AddOrder(AddOrder {
            stock_locate: 1,
            tracking_number: 0,
            timestamp: 1,
            order_ref,
            side,
            shares,
            stock: *b"ABCD    ",
            price,
        }))
    }

    #[test]
    fn add_then_execute_updates_bbo() {
        let mut md = MarketData::new(config());
        assert_eq!(
            md.on_message(&add(1, Side::Buy, 100_000, 300)),
            Applied::Book(InstrumentId(1))
        );
        md.on_message(&add(2, Side::Sell, 100_100, 200));
        md.on_message(&encode(Message::OrderExecuted(OrderExecuted {
            stock_locate: 1,
            tracking_number: 0,
            timestamp: 2,
            order_ref: 1,
            executed_shares: 100,
            match_number: 9,
        })));
        let bbo = md.bbo(InstrumentId(1));
        assert_eq!(bbo.bid.unwrap().qty, Qty(200));
        assert_eq!(bbo.ask.unwrap().price, Price(100_100));
        assert_eq!(md.counters().book_updates, 3);
    }

    #[test]
    fn garbage_and_unknown_orders_are_counted_not_fatal() {
        let mut md = MarketData::new(config());
        assert_eq!(md.on_message(&[]), Applied::Dropped);
        assert_eq!(md.on_message(b"~xyz"), Applied::Dropped);
        let mut short = add(1, Side::Buy, 1, 1);
        short.pop();
        assert_eq!(md.on_message(&short), Applied::Dropped);
        let mut bad_side = add(1, Side::Buy, 1, 1);
        bad_side[19] = b'Z';
        assert_eq!(md.on_message(&bad_side), Applied::Dropped);
        let delete = encode(Message::OrderDelete(OrderDelete {
            stock_locate: 1,
            tracking_number: 0,
            timestamp: 3,
            order_ref: 77,
        }));
        assert_eq!(md.on_message(&delete), Applied::Dropped);
        let c = md.counters();
        assert_eq!(c.messages, 5);
        assert_eq!(c.truncated + c.bad_length, 2);
        assert_eq!(c.unknown_type, 1);
        assert_eq!(c.invalid_field, 1);
        assert_eq!(c.unknown_order, 1);
    }
}
