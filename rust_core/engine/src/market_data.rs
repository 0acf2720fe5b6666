//! ITCH messages applied to the order books: the market-data half of the hot path.
//!
//! # Software pipeline
//!
//! A book event on a day-sized book is a chain of dependent cache misses (id
//! map -> order node -> queue neighbours, instrument line -> level -> queue
//! tail). Applied one at a time, the CPU waits for each in turn. [`Pipeline`]
//! overlaps them across the messages of a MoldUDP64 datagram (and into the
//! next one when it has already arrived, see [`Lookahead`]): while message
//! `i` is applied, it reads just the type byte and fixed-offset fields of
//! messages `i + D`, `i + 2D`, `i + 3D` and `i + 4D` and issues the matching
//! [`BookSet`] prefetch hints, one link of the chain per stage, so by the time
//! a message is applied its lines are in cache. Application order is
//! untouched (messages are still applied one by one, in the sequencer's
//! order); the hints only change timing.

use hashbrown::HashMap;
use quotewire_book::{Bbo, BookConfig, BookError, BookSet, OrderHint, Touch};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_protocol::itch::{
    self, AddOrder, AddOrderMpid, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace,
};
use quotewire_protocol::moldudp64::{decode_header, Packet, HEADER_LEN};
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

/// Most messages a [`Lookahead`] indexes: more than one MoldUDP64 datagram of
/// at most 1,500 bytes carries (the smallest book message, `D`, takes 21 bytes
/// with its length prefix), so a full datagram and most of the next fit. Any
/// beyond are applied without hints.
pub const LOOKAHEAD_MESSAGES: usize = 128;

/// The messages of one MoldUDP64 datagram (and, when it has already arrived, of
/// the next one) by sequence number, so the books can be warmed for later
/// messages while earlier ones are applied. Holds borrowed slices only;
/// building one never allocates, and a receive loop keeps one and
/// [`Lookahead::refill`]s it for every datagram (no re-initialisation, no move).
#[derive(Debug)]
pub struct Lookahead<'a> {
    first: u64,
    len: usize,
    /// Messages of the datagram itself (the rest come from the next one).
    own: usize,
    messages: [&'a [u8]; LOOKAHEAD_MESSAGES],
}

impl Default for Lookahead<'_> {
    fn default() -> Self {
        Self {
            first: 0,
            len: 0,
            own: 0,
            messages: [&[]; LOOKAHEAD_MESSAGES],
        }
    }
}

impl<'a> Lookahead<'a> {
    /// Indexes the messages of `datagram`. Only as much of it is read as
    /// parses (the sequencer validates and counts malformed datagrams).
    #[inline]
    #[must_use]
    pub fn new(datagram: &'a [u8]) -> Self {
        Self::with_next(datagram, None)
    }

    /// Indexes the messages of `datagram`, then those of `next` (a datagram
    /// already received, e.g. the next slot of a receive ring) if it continues
    /// the sequence, so the last messages of `datagram` warm the books for the
    /// first ones of `next`.
    #[inline]
    #[must_use]
    pub fn with_next(datagram: &'a [u8], next: Option<&'a [u8]>) -> Self {
        let mut la = Self::default();
        let Ok(header) = decode_header(datagram) else {
            return la;
        };
        la.first = header.sequence;
        la.push(datagram, header.message_count());
        la.own = la.len;
        la.push_next(next, usize::MAX);
        la
    }

    /// Validates `datagram` as a MoldUDP64 packet and indexes its messages in
    /// the same pass, replacing what was indexed before, then indexes at most
    /// `next_limit` messages of `next` (a datagram already received) if it
    /// continues the sequence; those are a hint only, not validated. The
    /// pipeline never looks further than [`Pipeline::reach`] messages ahead,
    /// so that is all of `next` it needs.
    ///
    /// Returns the decoded packet for [`quotewire_feed::Sequencer::on_decoded`],
    /// so the datagram is walked once for validation and indexing. A malformed
    /// datagram indexes nothing.
    #[inline]
    pub fn refill(
        &mut self,
        datagram: &'a [u8],
        next: Option<&'a [u8]>,
        next_limit: usize,
    ) -> Result<Packet<'a>, DecodeError> {
        let mut len = 0;
        let messages = &mut self.messages;
        let decoded = Packet::decode_each(datagram, |msg| {
            if let Some(slot) = messages.get_mut(len) {
                *slot = msg;
                len += 1;
            }
        });
        let Ok(packet) = &decoded else {
            self.len = 0;
            self.own = 0;
            return decoded;
        };
        self.len = len;
        self.own = len;
        self.first = packet.header.sequence;
        self.push_next(next, next_limit);
        decoded
    }

    /// Indexes up to `limit` messages of `next` if it continues the sequence.
    #[inline]
    fn push_next(&mut self, next: Option<&'a [u8]>, limit: usize) {
        let Some(next) = next else {
            return;
        };
        let Ok(h) = decode_header(next) else {
            return;
        };
        if Some(h.sequence) == self.first.checked_add(self.len as u64) {
            let count = usize::from(h.message_count()).min(limit);
            self.push(next, u16::try_from(count).unwrap_or(u16::MAX));
        }
    }

    /// Appends up to `count` message blocks of `datagram`, stopping at the first
    /// that does not fit. One pass: a lookahead is a hint, not validation.
    #[inline]
    fn push(&mut self, datagram: &'a [u8], count: u16) {
        let mut rest = datagram.get(HEADER_LEN..).unwrap_or_default();
        for _ in 0..count {
            let Some(slot) = self.messages.get_mut(self.len) else {
                return;
            };
            let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let len = usize::from(u16::from_be_bytes(*len));
            let Some((msg, tail)) = tail.split_at_checked(len) else {
                return;
            };
            *slot = msg;
            self.len += 1;
            rest = tail;
        }
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

    /// Whether messages of the next datagram are indexed too: the pipeline then
    /// issues their first hints, and the next datagram needs no
    /// [`MarketData::prime`].
    #[must_use]
    pub const fn runs_into_next(&self) -> bool {
        self.len > self.own
    }

    /// Sequence number of the datagram's first message.
    #[must_use]
    pub const fn first_sequence(&self) -> u64 {
        self.first
    }
}

/// How far ahead [`MarketData`]'s prefetch pipeline works.
///
/// Stage 4 (`4 * distance` messages ahead) loads id-map lines, stage 3 order
/// nodes (adds: the instrument line), stage 2 queue neighbours and the
/// instrument line (adds: the levels near the touch), stage 1 (`distance`
/// messages ahead) the levels near the touch (adds: the queue tail the order
/// joins and the free node it takes). `distance == 0` turns the pipeline off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// Messages between consecutive stages.
    pub distance: u64,
}

impl Default for Pipeline {
    /// The distance that measured best on the `bench feed` day (see the book
    /// crate's `PERFORMANCE.md`).
    fn default() -> Self {
        Self { distance: 3 }
    }
}

impl Pipeline {
    /// How many messages past the one being applied the pipeline reads
    /// (`4 * distance`): all of the next datagram a [`Lookahead`] needs.
    #[inline]
    #[must_use]
    pub fn reach(&self) -> usize {
        usize::try_from(self.distance.saturating_mul(4)).unwrap_or(usize::MAX)
    }
}

/// Order-ref and instrument fields read straight off the wire for a hint.
#[inline(always)]
fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[inline(always)]
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
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
const ADD_PRICE_AT: usize = 32;
const REPLACE_NEW_REF_AT: usize = 19;
const ADD_SHARES_AT: usize = 20;
/// Executed (`E`, `C`) or cancelled (`X`) shares.
const REDUCE_SHARES_AT: usize = 19;
const EXEC_PRICE_AT: usize = 32;
const REPLACE_SHARES_AT: usize = 27;
const REPLACE_PRICE_AT: usize = 31;

/// Big-endian fields of a message whose length is already checked (the
/// offsets are constants, so the bounds checks fold away).
#[inline(always)]
fn u64_at<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    let mut v = [0; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(v)
}

#[inline(always)]
fn u32_at<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    let mut v = [0; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(v)
}

#[inline(always)]
fn u16_at<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// What the pipeline's first stage read off a message for the later ones, so
/// each message is parsed once and its order looked up in the id map once,
/// not once per stage.
#[derive(Clone, Copy, Debug)]
struct Hint {
    /// Sequence number the entry belongs to (the ring slot is `seq % HINTS`).
    seq: u64,
    kind: HintKind,
    locate: u16,
    side: Side,
    price: u32,
    /// Order reference (a replace's original).
    id: u64,
    /// Where stage 3 found the order's node.
    order: OrderHint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HintKind {
    /// No book hint (not a book message, or unreadable).
    None,
    /// Add Order (with or without MPID).
    Add,
    /// Execute, cancel, delete or replace of a resting order.
    Order,
}

impl Hint {
    const EMPTY: Self = Self {
        seq: u64::MAX,
        kind: HintKind::None,
        locate: 0,
        side: Side::Buy,
        price: 0,
        id: 0,
        order: OrderHint::NONE,
    };

    /// Reads the fields the stages need at fixed ITCH offsets (no validation: a
    /// hint for a malformed message is merely useless).
    #[inline(always)]
    fn read(seq: u64, bytes: &[u8]) -> Self {
        let mut h = Self { seq, ..Self::EMPTY };
        let Some(&tag) = bytes.first() else {
            return h;
        };
        match tag {
            AddOrder::TAG | AddOrderMpid::TAG => {
                let side = match bytes.get(ADD_SIDE_AT) {
                    Some(b'B') => Side::Buy,
                    Some(b'S') => Side::Sell,
                    _ => return h,
                };
                let (Some(id), Some(locate), Some(price)) = (
                    be_u64(bytes, ORDER_REF_AT),
                    be_u16(bytes, LOCATE_AT),
                    be_u32(bytes, ADD_PRICE_AT),
                ) else {
                    return h;
                };
                h.kind = HintKind::Add;
                (h.id, h.locate, h.side, h.price) = (id, locate, side, price);
            }
            OrderExecuted::TAG
            | OrderExecutedWithPrice::TAG
            | OrderCancel::TAG
            | OrderDelete::TAG
            | OrderReplace::TAG => {
                if let Some(id) = be_u64(bytes, ORDER_REF_AT) {
                    h.kind = HintKind::Order;
                    h.id = id;
                }
            }
            _ => {}
        }
        h
    }
}

impl Hint {
    /// Stages 2 and 1 of an order event start from where stage 3 found the
    /// order: look it up here when this hint did not go through stage 3.
    #[inline(always)]
    fn find_order_for(&mut self, stage: u64, books: &BookSet) {
        if stage < 3 && self.kind == HintKind::Order {
            self.order = books.order_hint(OrderId(self.id));
        }
    }

    /// Issues stage `stage` of this message's hints (`bytes`: the message, for
    /// a replace's new reference).
    #[inline(always)]
    fn issue(&mut self, stage: u64, bytes: &[u8], books: &BookSet) {
        let id = OrderId(self.id);
        match (self.kind, stage) {
            (HintKind::None, _) => {}
            (HintKind::Add, 4) | (HintKind::Order, 4) => {
                books.prefetch_id(id);
                if self.kind == HintKind::Order && bytes.first() == Some(&OrderReplace::TAG) {
                    if let Some(new) = be_u64(bytes, REPLACE_NEW_REF_AT) {
                        books.prefetch_id(OrderId(new));
                    }
                }
            }
            (HintKind::Add, 3) => books.prefetch_book(InstrumentId(self.locate)),
            (HintKind::Add, 2) => books.prefetch_level(InstrumentId(self.locate), self.side),
            (HintKind::Add, _) => books.prefetch_add_tail(
                InstrumentId(self.locate),
                self.side,
                Price(i64::from(self.price)),
            ),
            (HintKind::Order, 3) => self.order = books.order_hint(id),
            (HintKind::Order, 2) => books.prefetch_order_links_at(self.order, id),
            (HintKind::Order, _) => books.prefetch_order_level_at(self.order, id),
        }
    }
}

/// Entries of the hint ring: more than the pipeline's reach at the default
/// distance (a larger distance re-reads messages, see `MarketData::hint_stage`).
const HINTS: usize = 64;

/// A trade seen on the feed (an execution of a resting order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Execution price.
    pub price: Price,
    /// Shares.
    pub qty: Qty,
    /// Side of the resting order that was hit (a bid hit means a seller took it).
    pub resting_side: Side,
}

impl Trade {
    fn from_execution(e: &quotewire_book::Execution, price: Price) -> Self {
        Self {
            instrument: e.instrument,
            price,
            qty: e.qty,
            resting_side: e.side,
        }
    }
}

/// The market-data state: one L3/L2 book per instrument and the symbol directory.
#[derive(Debug)]
pub struct MarketData {
    books: BookSet,
    symbols: Vec<[u8; 8]>,
    locates: HashMap<[u8; 8], u16>,
    counters: MarketDataCounters,
    last_trade: Option<Trade>,
    /// See [`Self::take_other_book`].
    other_book: Option<InstrumentId>,
    /// The pipeline's per-message notes, by sequence number.
    hints: [Hint; HINTS],
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
            last_trade: None,
            other_book: None,
            hints: [Hint::EMPTY; HINTS],
        }
    }

    /// Decodes one ITCH message and applies it. Never panics; every refusal is counted.
    ///
    /// The book messages (`A`, `F`, `E`, `C`, `X`, `D`, `U`) of their exact
    /// length, with a valid side, are applied straight from their fixed
    /// offsets; everything else (other types, and any book message the full
    /// decoder would refuse) goes through [`itch::decode`] and [`Self::apply`],
    /// so the effect and every counter are the same either way.
    #[inline]
    pub fn on_message(&mut self, bytes: &[u8]) -> Applied {
        self.counters.messages += 1;
        let Some(&tag) = bytes.first() else {
            return self.decode_and_apply(bytes);
        };
        let result = match tag {
            AddOrder::TAG | AddOrderMpid::TAG => {
                // Both layouts agree up to the price (offset 32).
                let Some(b) = bytes.first_chunk::<{ AddOrder::LEN }>() else {
                    return self.decode_and_apply(bytes);
                };
                let len_ok = if tag == AddOrder::TAG {
                    bytes.len() == AddOrder::LEN
                } else {
                    bytes.len() == AddOrderMpid::LEN
                };
                let side = match b[ADD_SIDE_AT] {
                    b'B' if len_ok => Side::Buy,
                    b'S' if len_ok => Side::Sell,
                    _ => return self.decode_and_apply(bytes),
                };
                let instrument = InstrumentId(u16_at(b, LOCATE_AT));
                let r = self.books.add(
                    instrument,
                    OrderId(u64_at(b, ORDER_REF_AT)),
                    side,
                    Price(i64::from(u32_at(b, ADD_PRICE_AT))),
                    Qty(u64::from(u32_at(b, ADD_SHARES_AT))),
                );
                (instrument, r)
            }
            OrderExecuted::TAG | OrderExecutedWithPrice::TAG => {
                let Some(b) = bytes.first_chunk::<{ OrderExecuted::LEN }>() else {
                    return self.decode_and_apply(bytes);
                };
                let price_at = if tag == OrderExecuted::TAG {
                    if bytes.len() != OrderExecuted::LEN {
                        return self.decode_and_apply(bytes);
                    }
                    None
                } else {
                    let Ok(c) = <&[u8; OrderExecutedWithPrice::LEN]>::try_from(bytes) else {
                        return self.decode_and_apply(bytes);
                    };
                    Some(u32_at(c, EXEC_PRICE_AT))
                };
                let instrument = InstrumentId(u16_at(b, LOCATE_AT));
                let r = self
                    .books
                    .execute(
                        OrderId(u64_at(b, ORDER_REF_AT)),
                        Qty(u64::from(u32_at(b, REDUCE_SHARES_AT))),
                    )
                    .map(|e| {
                        self.check_instrument(instrument, &e);
                        let price = price_at.map_or(e.price, |p| Price(i64::from(p)));
                        self.last_trade = Some(Trade::from_execution(&e, price));
                    });
                (instrument, r)
            }
            OrderCancel::TAG => {
                let Ok(b) = <&[u8; OrderCancel::LEN]>::try_from(bytes) else {
                    return self.decode_and_apply(bytes);
                };
                let instrument = InstrumentId(u16_at(b, LOCATE_AT));
                let r = self
                    .books
                    .cancel(
                        OrderId(u64_at(b, ORDER_REF_AT)),
                        Qty(u64::from(u32_at(b, REDUCE_SHARES_AT))),
                    )
                    .map(|e| self.check_instrument(instrument, &e));
                (instrument, r)
            }
            OrderDelete::TAG => {
                let Ok(b) = <&[u8; OrderDelete::LEN]>::try_from(bytes) else {
                    return self.decode_and_apply(bytes);
                };
                let instrument = InstrumentId(u16_at(b, LOCATE_AT));
                let r = self
                    .books
                    .delete(OrderId(u64_at(b, ORDER_REF_AT)))
                    .map(|e| self.check_instrument(instrument, &e));
                (instrument, r)
            }
            OrderReplace::TAG => {
                let Ok(b) = <&[u8; OrderReplace::LEN]>::try_from(bytes) else {
                    return self.decode_and_apply(bytes);
                };
                let instrument = InstrumentId(u16_at(b, LOCATE_AT));
                let r = self
                    .books
                    .replace(
                        OrderId(u64_at(b, ORDER_REF_AT)),
                        OrderId(u64_at(b, REPLACE_NEW_REF_AT)),
                        Price(i64::from(u32_at(b, REPLACE_PRICE_AT))),
                        Qty(u64::from(u32_at(b, REPLACE_SHARES_AT))),
                    )
                    .map(|e| self.check_instrument(instrument, &e));
                (instrument, r)
            }
            _ => return self.decode_and_apply(bytes),
        };
        self.book_result(result.0, result.1)
    }

    /// The full decoder's path of [`Self::on_message`] (counters already counted).
    #[inline(never)]
    fn decode_and_apply(&mut self, bytes: &[u8]) -> Applied {
        match itch::decode(bytes) {
            Ok(message) => self.apply(&message),
            Err(error) => {
                self.count_decode_error(error);
                Applied::Dropped
            }
        }
    }

    /// Notes an order event whose order rests in another instrument than the
    /// message names (an inconsistent feed): that book changed behind an
    /// [`Applied::Book`] naming the message's instrument.
    #[inline(always)]
    fn check_instrument(&mut self, named: InstrumentId, e: &quotewire_book::Execution) {
        if e.instrument != named {
            self.other_book = Some(e.instrument);
        }
    }

    /// [`Self::take_other_book`] without taking it.
    #[inline(always)]
    #[must_use]
    pub const fn other_book(&self) -> Option<InstrumentId> {
        self.other_book
    }

    /// The instrument whose book the last messages changed although they
    /// named another one (an order event whose locate differs from its
    /// order's), taken. `None` on a consistent feed.
    #[inline(always)]
    pub fn take_other_book(&mut self) -> Option<InstrumentId> {
        self.other_book.take()
    }

    /// Counts a book event's outcome.
    #[inline(always)]
    fn book_result(&mut self, instrument: InstrumentId, result: Result<(), BookError>) -> Applied {
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

    /// Decodes and applies message `seq`, first issuing the pipeline's prefetch
    /// hints for the messages `pipeline.distance` and two, three and four
    /// times that many sequence numbers ahead in `lookahead`. Same effect as
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
            // Unrolled, so each call is specialised for its stage.
            let ahead = seq.wrapping_add(4 * d);
            if let Some(m) = lookahead.get(ahead) {
                self.hint_stage(4, ahead, m);
            }
            let ahead = seq.wrapping_add(3 * d);
            if let Some(m) = lookahead.get(ahead) {
                self.hint_stage(3, ahead, m);
            }
            let ahead = seq.wrapping_add(2 * d);
            if let Some(m) = lookahead.get(ahead) {
                self.hint_stage(2, ahead, m);
            }
            let ahead = seq.wrapping_add(d);
            if let Some(m) = lookahead.get(ahead) {
                self.hint_stage(1, ahead, m);
            }
        }
        self.on_message(bytes)
    }

    /// Fills the pipeline at the start of a datagram: the hints for its first
    /// messages, which no earlier message of the datagram issued. Call it
    /// before the datagram's first [`Self::on_message_pipelined`].
    #[inline]
    pub fn prime(&mut self, lookahead: &Lookahead<'_>, pipeline: Pipeline) {
        let d = pipeline.distance;
        if d == 0 {
            return;
        }
        let first = lookahead.first_sequence();
        for stage in (1..=4_u64).rev() {
            for seq in first..first.saturating_add(stage * d) {
                match lookahead.get(seq) {
                    Some(m) => self.hint_stage(stage, seq, m),
                    None => break,
                }
            }
        }
    }

    /// One stage of [`Self::prefetch_stage`] for message `seq`, with what stage
    /// 4 read off the message (and where stage 3 found its order) kept in the
    /// hint ring for the later stages. A stage that finds its entry overwritten
    /// (a pipeline reaching further than the ring) reads the message again.
    #[inline(always)]
    fn hint_stage(&mut self, stage: u64, seq: u64, bytes: &[u8]) {
        let h = &mut self.hints[seq as usize % HINTS];
        if stage == 4 || h.seq != seq {
            *h = Hint::read(seq, bytes);
            h.find_order_for(stage, &self.books);
        }
        h.issue(stage, bytes, &self.books);
    }

    /// Issues one stage of book prefetch hints for an ITCH message, reading only
    /// the type byte and fixed-offset fields (no validation: a hint for a
    /// malformed message is merely useless). Stages are those of [`Pipeline`]:
    /// 4 (furthest ahead) to 1 (next to be applied).
    #[inline(always)]
    pub fn prefetch_stage(&self, stage: u64, bytes: &[u8]) {
        let mut h = Hint::read(0, bytes);
        h.find_order_for(stage, &self.books);
        h.issue(stage, bytes, &self.books);
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
                .map(|e| {
                    self.check_instrument(instrument, &e);
                    self.last_trade = Some(Trade::from_execution(&e, e.price));
                }),
            Message::OrderExecutedWithPrice(m) => self
                .books
                .execute(OrderId(m.order_ref), Qty(u64::from(m.executed_shares)))
                .map(|e| {
                    self.check_instrument(instrument, &e);
                    let price = Price(i64::from(m.execution_price));
                    self.last_trade = Some(Trade::from_execution(&e, price));
                }),
            Message::OrderCancel(m) => self
                .books
                .cancel(OrderId(m.order_ref), Qty(u64::from(m.cancelled_shares)))
                .map(|e| self.check_instrument(instrument, &e)),
            Message::OrderDelete(m) => self
                .books
                .delete(OrderId(m.order_ref))
                .map(|e| self.check_instrument(instrument, &e)),
            Message::OrderReplace(m) => self
                .books
                .replace(
                    OrderId(m.original_order_ref),
                    OrderId(m.new_order_ref),
                    Price(i64::from(m.price)),
                    Qty(u64::from(m.shares)),
                )
                .map(|e| self.check_instrument(instrument, &e)),
            Message::StockDirectory(m) => {
                self.symbols[usize::from(m.stock_locate)] = m.stock;
                self.locates.insert(m.stock, m.stock_locate);
                return Applied::Other;
            }
            _ => return Applied::Other,
        };
        self.book_result(instrument, result)
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

    /// The trade the last applied message reported, taken (at most one per message).
    #[inline]
    pub fn take_trade(&mut self) -> Option<Trade> {
        self.last_trade.take()
    }

    /// What the last book change did to the touch of its instrument's side
    /// (see [`quotewire_book::Touch`]); read it after an [`Applied::Book`].
    #[inline(always)]
    #[must_use]
    pub const fn last_touch(&self) -> Touch {
        self.books.last_touch()
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
    fn order_event_naming_another_locate_reports_the_book_it_changed() {
        let mut md = MarketData::new(config());
        assert_eq!(
            md.on_message(&add(7, Side::Buy, 100, 10)),
            Applied::Book(InstrumentId(1))
        );
        assert_eq!(md.other_book(), None);
        let delete_in = |locate| {
            encode(Message::OrderDelete(OrderDelete {
                stock_locate: locate,
                tracking_number: 0,
                timestamp: 2,
                order_ref: 7,
            }))
        };
        // The order rests in locate 1; the message names locate 2.
        assert_eq!(md.on_message(&delete_in(2)), Applied::Book(InstrumentId(2)));
        assert_eq!(md.last_touch(), Touch::PRICE);
        assert_eq!(md.other_book(), Some(InstrumentId(1)));
        assert_eq!(md.take_other_book(), Some(InstrumentId(1)));
        assert_eq!(md.take_other_book(), None);
        md.on_message(&add(8, Side::Buy, 100, 10));
        assert_eq!(md.on_message(&delete_in(1)), Applied::Dropped);
        assert_eq!(md.other_book(), None);
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

    /// Every book-message type: wire fields at the fixed offsets the prefetch
    /// hints read must be the fields the decoder reads.
    #[test]
    fn hint_offsets_match_the_decoder() {
        let msgs = [
            add(0x0102_0304_0506_0708, Side::Sell, 123_456, 7),
            encode(Message::AddOrderMpid(itch::AddOrderMpid {
                stock_locate: 0x0A0B,
                tracking_number: 0,
                timestamp: 1,
                order_ref: 99,
                side: Side::Buy,
                shares: 5,
                stock: *b"ABCD    ",
                price: 777,
                attribution: *b"MPID",
            })),
            encode(Message::OrderExecuted(OrderExecuted {
                stock_locate: 3,
                tracking_number: 0,
                timestamp: 2,
                order_ref: 0xDEAD_BEEF,
                executed_shares: 1,
                match_number: 5,
            })),
            encode(Message::OrderCancel(itch::OrderCancel {
                stock_locate: 3,
                tracking_number: 0,
                timestamp: 2,
                order_ref: 42,
                cancelled_shares: 1,
            })),
            encode(Message::OrderDelete(OrderDelete {
                stock_locate: 3,
                tracking_number: 0,
                timestamp: 3,
                order_ref: 43,
            })),
            encode(Message::OrderReplace(itch::OrderReplace {
                stock_locate: 3,
                tracking_number: 0,
                timestamp: 3,
                original_order_ref: 44,
                new_order_ref: 45,
                shares: 9,
                price: 1000,
            })),
        ];
        for bytes in &msgs {
            let m = itch::decode(bytes).unwrap();
            assert_eq!(be_u64(bytes, ORDER_REF_AT), m.order_ref());
            assert_eq!(be_u16(bytes, LOCATE_AT), Some(m.stock_locate()));
            match m {
                Message::AddOrder(a) => {
                    assert_eq!(bytes[ADD_SIDE_AT], a.side.as_byte());
                    assert_eq!(be_u32(bytes, ADD_PRICE_AT), Some(a.price));
                }
                Message::AddOrderMpid(a) => {
                    assert_eq!(bytes[ADD_SIDE_AT], a.side.as_byte());
                    assert_eq!(be_u32(bytes, ADD_PRICE_AT), Some(a.price));
                }
                Message::OrderReplace(u) => {
                    assert_eq!(be_u64(bytes, REPLACE_NEW_REF_AT), Some(u.new_order_ref));
                }
                _ => {}
            }
        }
        // Hints on garbage are harmless no-ops.
        let md = MarketData::new(config());
        for stage in 0..=5 {
            for junk in [&b""[..], b"A", b"Dxx", b"U\xff\xff"] {
                md.prefetch_stage(stage, junk);
            }
        }
    }

    /// A generated session of `messages`, packed into full MoldUDP64 datagrams
    /// (session "T", first sequence number 1).
    fn generated_session(
        messages: u64,
        instruments: u16,
        max_live_orders: usize,
    ) -> quotewire_synth::Packets {
        use quotewire_protocol::moldudp64::{Session, MAX_PAYLOAD};
        use quotewire_synth::{packetize, Generator, SynthConfig};

        let synth = SynthConfig {
            messages,
            instruments,
            max_live_orders,
            ..SynthConfig::default()
        };
        packetize(
            Generator::new(synth).unwrap(),
            Session::from_str_padded("T"),
            1,
            MAX_PAYLOAD,
        )
        .unwrap()
    }

    /// The fixed-offset path of `on_message` against the full decoder on a
    /// generated session with some messages damaged (cut short, padded, a bad
    /// side byte, an unknown order): same results, trades, books and counters.
    #[test]
    fn fixed_offset_path_matches_the_full_decoder_on_good_and_damaged_messages() {
        use quotewire_protocol::moldudp64::Packet;

        let datagrams = generated_session(20_000, 10, 1_000);
        let mut messages: Vec<Vec<u8>> = Vec::new();
        for d in datagrams.iter() {
            for (_, m) in Packet::decode(d).unwrap().messages() {
                messages.push(m.to_vec());
            }
        }
        let mut damaged = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let mut m = m.clone();
            match i % 97 {
                0 => m.truncate(m.len() - 1),
                1 => m.push(0),
                2 if m.len() > ADD_SIDE_AT => m[ADD_SIDE_AT] = b'Q',
                3 if m.len() > ORDER_REF_AT + 8 => m[ORDER_REF_AT] ^= 0x40,
                4 => m.truncate(1),
                5 => m.clear(),
                _ => {}
            }
            damaged.push(m);
        }
        let books = BookConfig {
            max_orders: 2_048,
            max_instruments: 16,
            levels_per_side: 8,
        };
        let run = |fast: bool| {
            let mut md = MarketData::new(books);
            let mut seen = Vec::new();
            for m in &damaged {
                let applied = if fast {
                    md.on_message(m)
                } else {
                    md.counters.messages += 1;
                    md.decode_and_apply(m)
                };
                seen.push((applied, md.take_trade()));
            }
            let levels: Vec<Vec<_>> = (0..16_u16)
                .flat_map(|i| {
                    let b = md.books().book(InstrumentId(i));
                    [Side::Buy, Side::Sell]
                        .map(|side| b.map(|b| b.levels(side).collect()).unwrap_or_default())
                })
                .collect();
            (seen, md.counters(), md.books().counters(), levels)
        };
        let full = run(false);
        assert_eq!(run(true), full);
        let c = full.1;
        assert!(c.book_updates > 15_000, "{c:?}");
        assert!(
            c.truncated > 0 && c.bad_length > 0 && c.invalid_field > 0,
            "{c:?}"
        );
        assert!(c.unknown_order > 0, "{c:?}");
        assert!(full.0.iter().any(|(_, t)| t.is_some()));
    }

    /// A generated session through the sequencer: with the prefetch pipeline
    /// (any distance, running on into the next datagram or not) the books and
    /// counters end exactly as when messages are applied one at a time.
    #[test]
    fn pipelined_replay_matches_plain_replay() {
        use quotewire_feed::{Line, Sequencer, SequencerConfig};

        let datagrams = generated_session(30_000, 20, 2_000);
        let books = BookConfig {
            max_orders: 4_096,
            max_instruments: 32,
            levels_per_side: 8,
        };
        let run = |pipeline: Option<(Pipeline, bool)>| {
            let mut md = MarketData::new(books);
            let mut seq = Sequencer::new(SequencerConfig::default()).unwrap();
            let all: Vec<&[u8]> = datagrams.iter().collect();
            for (i, d) in all.iter().enumerate() {
                match pipeline {
                    None => seq.on_packet(0, Line::A, d, &mut |_s: u64, m: &[u8]| {
                        md.on_message(m);
                    }),
                    Some((p, into_next)) => {
                        let next = all.get(i + 1).copied().filter(|_| into_next);
                        let la = Lookahead::with_next(d, next);
                        md.prime(&la, p);
                        seq.on_packet(0, Line::A, d, &mut |s: u64, m: &[u8]| {
                            md.on_message_pipelined(s, m, &la, p);
                        });
                    }
                }
            }
            let levels: Vec<Vec<_>> = (0..32_u16)
                .flat_map(|i| {
                    let b = md.books().book(InstrumentId(i));
                    [Side::Buy, Side::Sell]
                        .map(|side| b.map(|b| b.levels(side).collect()).unwrap_or_default())
                })
                .collect();
            (
                md.counters(),
                md.books().counters(),
                md.books().live_orders(),
                levels,
            )
        };
        let plain = run(None);
        assert!(plain.0.book_updates > 20_000);
        for distance in [0, 1, 3, 7] {
            for into_next in [false, true] {
                assert_eq!(run(Some((Pipeline { distance }, into_next))), plain);
            }
        }
    }

    #[test]
    fn lookahead_indexes_by_sequence_and_runs_into_the_next_datagram() {
        use quotewire_protocol::moldudp64::{PacketBuilder, Session};

        let packet = |first: u64, n: u64| {
            let mut buf = vec![0u8; 1400];
            let mut b = PacketBuilder::new(&mut buf, Session::from_str_padded("T"), first).unwrap();
            for i in 0..n {
                b.push(&add(first + i, Side::Buy, 1, 1)).unwrap();
            }
            let len = b.finish();
            buf.truncate(len);
            buf
        };
        let (a, b, far) = (packet(10, 3), packet(13, 2), packet(40, 2));
        let la = Lookahead::with_next(&a, Some(&b));
        assert_eq!(
            (la.len(), la.first_sequence(), la.runs_into_next()),
            (5, 10, true)
        );
        for seq in 10..15 {
            assert_eq!(la.get(seq).and_then(|m| be_u64(m, ORDER_REF_AT)), Some(seq));
        }
        assert!(la.get(9).is_none() && la.get(15).is_none());
        let la = Lookahead::with_next(&a, Some(&far));
        assert_eq!((la.len(), la.runs_into_next()), (3, false));
        let la = Lookahead::new(&a[..25]);
        assert!(la.len() < 3);
        assert!(Lookahead::new(b"short").is_empty());
        // More messages than the index holds: the rest are simply not indexed.
        let mut big = vec![0u8; 9000];
        let mut builder = PacketBuilder::new(&mut big, Session::from_str_padded("T"), 1).unwrap();
        for i in 0..200 {
            builder.push(&[b'Z', i as u8]).unwrap();
        }
        let len = builder.finish();
        let la = Lookahead::new(&big[..len]);
        assert_eq!(la.len(), LOOKAHEAD_MESSAGES);
    }

    #[test]
    fn refill_validates_indexes_a_bounded_tail_of_the_next_and_drops_malformed() {
        use quotewire_protocol::moldudp64::{PacketBuilder, Session};

        let packet = |first: u64, n: u64| {
            let mut buf = vec![0u8; 1400];
            let mut b = PacketBuilder::new(&mut buf, Session::from_str_padded("T"), first).unwrap();
            for i in 0..n {
                b.push(&add(first + i, Side::Buy, 1, 1)).unwrap();
            }
            let len = b.finish();
            buf.truncate(len);
            buf
        };
        let (a, b) = (packet(10, 3), packet(13, 5));
        let mut la = Lookahead::default();
        let decoded = la.refill(&a, Some(&b), 2).unwrap();
        assert_eq!(decoded.header.sequence, 10);
        assert_eq!(
            (la.len(), la.first_sequence(), la.runs_into_next()),
            (5, 10, true)
        );
        let full = Lookahead::with_next(&a, Some(&b));
        for seq in 10..15 {
            assert_eq!(la.get(seq), full.get(seq));
        }
        assert!(
            la.get(15).is_none(),
            "only `next_limit` of the next datagram"
        );
        // A malformed datagram indexes nothing and reports the decode error,
        // even after a good one was indexed.
        assert!(la.refill(&a[..a.len() - 1], Some(&b), 2).is_err());
        assert!(la.is_empty() && la.get(10).is_none());
        // And the next good datagram is indexed afresh.
        assert!(la.refill(&b, None, 2).is_ok());
        assert_eq!((la.len(), la.runs_into_next()), (5, false));
        assert_eq!(la.get(13), full.get(13));
    }
}
