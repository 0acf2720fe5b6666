//! ITCH messages applied to the order books: the market-data half of the hot path.

use hashbrown::HashMap;
use quotewire_book::{Bbo, BookConfig, BookError, BookSet};
use quotewire_core::{InstrumentId, OrderId, Price, Qty};
use quotewire_protocol::itch::{self, Message};
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
