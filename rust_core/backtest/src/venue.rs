//! [`BacktestVenue`]: the simulated venue (see the crate docs for the rules).

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};
use quotewire_core::order::{
    CancelReason, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder, TimeInForce,
};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_gateway::{GatewayError, GatewaySink, OrderGateway, SessionStatus};
use quotewire_protocol::itch::{self, Message};
use quotewire_protocol::moldudp64::{decode_header, sequence_and_count, HEADER_LEN};

use crate::latency::LatencySampler;
use crate::table::{Entry, Table};
use crate::tape::{block, first_messages, framed};
use crate::{BacktestError, Latency};

/// Reject reason codes of [`ExecReport::Rejected`] from the simulated venue.
pub mod reject {
    /// The instrument is not configured.
    pub const UNKNOWN_INSTRUMENT: u16 = 1;
    /// Zero quantity.
    pub const INVALID_QTY: u16 = 2;
    /// Price not positive or not a multiple of the tick size.
    pub const INVALID_PRICE: u16 = 3;
    /// A live order already has this id.
    pub const DUPLICATE_ID: u16 = 4;
    /// Post-only, and the price is at or through the public best opposite.
    pub const POST_ONLY_WOULD_CROSS: u16 = 5;
    /// Replace of an order that is not live.
    pub const UNKNOWN_ORDER: u16 = 6;
}

/// One instrument the venue trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Instrument (= ITCH `stock_locate`).
    pub id: InstrumentId,
    /// Tick size; order prices must be multiples of it.
    pub tick: Price,
}

/// Configuration of a [`BacktestVenue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BacktestConfig {
    /// Request and report delays.
    pub latency: Latency,
    /// Seed of the latency draws.
    pub seed: u64,
    /// Instruments tracked and traded.
    pub instruments: Vec<InstrumentSpec>,
}

/// A price level of one side of a public book (`qty` 0: an empty bucket).
#[derive(Clone, Copy, Debug)]
struct Level {
    price: i64,
    qty: u64,
}

impl Entry for Level {
    const VACANT: Self = Self { price: 0, qty: 0 };
    #[inline]
    fn key(&self) -> u64 {
        self.price as u64
    }
    #[inline]
    fn is_vacant(&self) -> bool {
        self.qty == 0
    }
}

/// One side of an instrument's public book: aggregate shares per price level,
/// in a table placed by price in ticks (every market event updates one level
/// in O(1); the levels near the touch share cache lines). The best price is
/// kept as levels come. When the best level empties, the next one is looked
/// up a tick at a time for a few ticks (exact while every level is on the
/// tick grid, which `off_tick` counts); failing that the best is marked stale
/// and found again by a scan of the levels only when a request needs it.
#[derive(Clone, Debug)]
struct Levels {
    side: Side,
    tick: i64,
    levels: Table<Level>,
    best: Option<i64>,
    stale: bool,
    /// Levels whose price is not a multiple of `tick`.
    off_tick: u32,
}

/// How many ticks past an emptied best level the next one is looked for.
const BEST_WALK_TICKS: i64 = 8;

impl Levels {
    fn new(side: Side, tick: i64) -> Self {
        Self {
            side,
            tick: tick.max(1),
            levels: Table::local(256, tick.max(1).ilog2()),
            best: None,
            stale: false,
            off_tick: 0,
        }
    }

    /// Adds `qty` (> 0) shares at `price`.
    #[inline]
    fn add(&mut self, price: i64, qty: u64) {
        match self.levels.find_or_insert(Level { price, qty }) {
            Ok(i) => self.levels.at(i).qty += qty,
            Err(_) => {
                if price % self.tick != 0 {
                    self.off_tick += 1;
                }
            }
        }
        if !self.stale && self.best.is_none_or(|b| better(self.side, price, b)) {
            self.best = Some(price);
        }
    }

    /// Takes up to `qty` shares off the level at `price`.
    #[inline]
    fn remove(&mut self, price: i64, qty: u64) {
        let Some(i) = self.levels.find(price as u64) else {
            return;
        };
        let level = self.levels.at(i);
        level.qty = level.qty.saturating_sub(qty);
        if level.qty == 0 {
            self.levels.remove_at(i);
            let on_tick = price % self.tick == 0;
            if !on_tick {
                self.off_tick -= 1;
            }
            if !self.stale && self.best == Some(price) {
                self.best_emptied(price, on_tick);
            }
        }
    }

    /// The best level, at `price`, emptied: the next price level behind it.
    #[cold]
    fn best_emptied(&mut self, price: i64, on_tick: bool) {
        if self.levels.is_empty() {
            self.best = None;
            return;
        }
        if on_tick && self.off_tick == 0 {
            // Every level is on the grid and none is better than `price`: the
            // first level met a tick at a time behind it is the best.
            let step = match self.side {
                Side::Buy => -self.tick,
                Side::Sell => self.tick,
            };
            let mut p = price;
            for _ in 0..BEST_WALK_TICKS {
                p = p.saturating_add(step);
                if self.levels.find(p as u64).is_some() {
                    self.best = Some(p);
                    return;
                }
            }
        }
        self.stale = true;
    }

    fn scan_best(&self) -> Option<i64> {
        let prices = self.levels.iter().map(|l| l.price);
        match self.side {
            Side::Buy => prices.max(),
            Side::Sell => prices.min(),
        }
    }

    /// The best price.
    fn best(&self) -> Option<i64> {
        if self.stale {
            self.scan_best()
        } else {
            self.best
        }
    }

    /// Finds a stale best price again.
    fn settle(&mut self) {
        if self.stale {
            self.best = self.scan_best();
            self.stale = false;
        }
    }

    fn get(&self, price: i64) -> u64 {
        self.levels
            .find(price as u64)
            .map_or(0, |i| self.levels.get(i).qty)
    }
}

/// One instrument's public book: aggregate shares per price level; and the
/// best prices of our own resting orders on it (so a market event that
/// cannot reach them skips the search of our orders).
#[derive(Clone, Debug)]
struct Book {
    instrument: u16,
    tick: i64,
    bids: Levels,
    asks: Levels,
    our_bid: Option<i64>,
    our_ask: Option<i64>,
}

impl Book {
    fn new(instrument: u16, tick: i64) -> Self {
        Self {
            instrument,
            tick,
            bids: Levels::new(Side::Buy, tick),
            asks: Levels::new(Side::Sell, tick),
            our_bid: None,
            our_ask: None,
        }
    }

    /// The best price of our resting orders on `side`.
    #[inline]
    const fn ours(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.our_bid,
            Side::Sell => self.our_ask,
        }
    }

    const fn side(&self, side: Side) -> &Levels {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    const fn side_mut(&mut self, side: Side) -> &mut Levels {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn best(&self, side: Side) -> Option<i64> {
        self.side(side).best()
    }

    fn level(&self, side: Side, price: i64) -> u64 {
        self.side(side).get(price)
    }
}

/// A displayed public order: 24 bytes. The table of them is read at random,
/// one bucket a market event, so its size decides its speed (32-byte entries
/// measured 1.5% slower on the backtest benchmark).
#[derive(Clone, Copy, Debug)]
struct PubOrder {
    order_ref: u64,
    /// `seq << 17 | book << 1 | side` (see [`PubOrder::new`]).
    packed: u64,
    price: u32,
    /// Remaining shares (0: an empty bucket).
    qty: u32,
}

/// Bits of [`PubOrder::packed`] below the sequence number.
const SEQ_SHIFT: u32 = 17;

impl PubOrder {
    /// `seq` counts the venue's orders: below 2^47 it is (every public one
    /// is an ITCH message held in memory, so a tape would need petabytes to
    /// reach it); `book` indexes `BacktestVenue::books`.
    #[inline]
    fn new(order_ref: u64, seq: u64, book: u16, side: Side, price: u32, qty: u32) -> Self {
        debug_assert!(seq < 1 << (64 - SEQ_SHIFT), "sequence {seq} overflows");
        let side = match side {
            Side::Buy => 0,
            Side::Sell => 1,
        };
        Self {
            order_ref,
            packed: seq << SEQ_SHIFT | u64::from(book) << 1 | side,
            price,
            qty,
        }
    }

    #[inline]
    const fn seq(&self) -> u64 {
        self.packed >> SEQ_SHIFT
    }

    #[inline]
    const fn book(&self) -> u16 {
        // 16 bits by construction.
        (self.packed >> 1) as u16
    }

    #[inline]
    const fn side(&self) -> Side {
        if self.packed & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

impl Entry for PubOrder {
    const VACANT: Self = Self {
        order_ref: 0,
        packed: 0,
        price: 0,
        qty: 0,
    };
    #[inline]
    fn key(&self) -> u64 {
        self.order_ref
    }
    #[inline]
    fn is_vacant(&self) -> bool {
        self.qty == 0
    }
}

/// What [`BacktestVenue::reduce_public`] took off a public order.
#[derive(Clone, Copy, Debug)]
struct Removed {
    seq: u64,
    price: u32,
    /// Shares taken off.
    qty: u32,
    instrument: u16,
    book: u16,
    side: Side,
}

/// One of our live orders.
#[derive(Clone, Copy, Debug)]
struct Ours {
    cl: ClOrdId,
    instrument: u16,
    side: Side,
    price: i64,
    leaves: u64,
    ahead: u64,
    seq: u64,
}

/// `book_of` of an instrument the venue does not track.
const NO_BOOK: u16 = u16::MAX;

/// `a` is a better price than `b` for an order on `side`.
const fn better(side: Side, a: i64, b: i64) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// A request in flight to the venue.
#[derive(Clone, Copy, Debug)]
struct Inbound {
    arrival_ns: u64,
    ack_ns: u64,
    req: OrderRequest,
}

/// A simulated venue: an [`OrderGateway`] whose orders rest in queues rebuilt
/// from ITCH market data (see the crate docs for every rule).
#[derive(Debug)]
pub struct BacktestVenue {
    latency: LatencySampler,
    /// Tracked instruments' books; `book_of[locate]` indexes them (`NO_BOOK`: untracked).
    books: Vec<Book>,
    book_of: Box<[u16]>,
    /// Public orders by ITCH reference.
    orders: Table<PubOrder>,
    /// Scratch: the levels a marketable order crosses.
    crossed: Vec<(i64, u64)>,
    ours: Vec<Ours>,
    inbound: VecDeque<Inbound>,
    outbound: VecDeque<(u64, ExecReport)>,
    now_ns: u64,
    seq: u64,
    next_venue_id: u64,
    next_match: u64,
    last_arrival_ns: u64,
    last_delivery_ns: u64,
    announced: bool,
    /// Venue ids of a recorded session's own orders (see [`BacktestVenue::stand_in_for`]).
    own_refs: HashSet<u64>,
    /// Those of them live in the data: ref -> (instrument, side, price).
    own_live: HashMap<u64, (u16, Side, i64)>,
    /// Shares of recorded own orders executed in the data.
    own_executed: u64,
}

impl BacktestVenue {
    /// Validates the configuration and builds an empty venue at time 0.
    pub fn new(config: BacktestConfig) -> Result<Self, BacktestError> {
        let BacktestConfig {
            latency,
            seed,
            instruments,
        } = config;
        let mut books = Vec::with_capacity(instruments.len());
        let mut book_of = vec![NO_BOOK; usize::from(u16::MAX) + 1].into_boxed_slice();
        for spec in instruments {
            if spec.tick.0 <= 0 {
                return Err(BacktestError::InvalidTick(spec.id));
            }
            let slot = &mut book_of[usize::from(spec.id.0)];
            if *slot != NO_BOOK {
                return Err(BacktestError::DuplicateInstrument(spec.id));
            }
            // At most 65,536 distinct ids, and `NO_BOOK` is only reached by the last.
            *slot = u16::try_from(books.len()).unwrap_or(NO_BOOK);
            books.push(Book::new(spec.id.0, spec.tick.0));
        }
        Ok(Self {
            latency: LatencySampler::new(&latency, seed)?,
            books,
            book_of,
            orders: Table::with_capacity(1 << 15),
            crossed: Vec::new(),
            ours: Vec::new(),
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
            now_ns: 0,
            seq: 0,
            next_venue_id: 1,
            next_match: 1,
            last_arrival_ns: 0,
            last_delivery_ns: 0,
            announced: false,
            own_refs: HashSet::new(),
            own_live: HashMap::new(),
            own_executed: 0,
        })
    }

    #[inline]
    fn book(&self, inst: u16) -> Option<&Book> {
        self.books.get(usize::from(self.book_of[usize::from(inst)]))
    }

    #[inline]
    fn book_mut(&mut self, inst: u16) -> Option<&mut Book> {
        self.books
            .get_mut(usize::from(self.book_of[usize::from(inst)]))
    }

    /// Simulated venue time (the latest market event, request arrival or poll).
    #[must_use]
    pub const fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Shares of public orders ahead of our live order `cl`, `None` if it is not live.
    #[must_use]
    pub fn queue_ahead(&self, cl: ClOrdId) -> Option<Qty> {
        self.ours.iter().find(|o| o.cl == cl).map(|o| Qty(o.ahead))
    }

    /// Open quantity of our live order `cl`, `None` if it is not live.
    #[must_use]
    pub fn leaves(&self, cl: ClOrdId) -> Option<Qty> {
        self.ours.iter().find(|o| o.cl == cl).map(|o| Qty(o.leaves))
    }

    /// Best public price on `side` of `instrument` (our orders are not in it).
    #[must_use]
    pub fn best(&self, instrument: InstrumentId, side: Side) -> Option<Price> {
        self.book(instrument.0)?.best(side).map(Price)
    }

    /// Requests sent and not yet arrived at the venue.
    #[must_use]
    pub fn requests_in_flight(&self) -> usize {
        self.inbound.len()
    }

    /// When the venue next has something to do by itself: a request arriving
    /// or a report due for delivery (the earlier), if any.
    #[must_use]
    pub fn next_event_ns(&self) -> Option<u64> {
        let arrival = self.inbound.front().map(|r| r.arrival_ns);
        let delivery = self.outbound.front().map(|r| r.0);
        match (arrival, delivery) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// Replaying a session we traded in: the data contains our own recorded
    /// orders (venue ids `refs`, from the session's Accepted and Replaced
    /// reports). They are kept out of the public book, since the simulated
    /// orders stand in for them, and an execution of one of them (an
    /// aggressor that reached our recorded order) fills the simulated orders
    /// on that side priced better than it, or at its price with nothing
    /// ahead, up to the shares executed.
    pub fn stand_in_for(&mut self, refs: impl IntoIterator<Item = u64>) {
        self.own_refs.extend(refs);
    }

    /// Shares of recorded own orders executed in the data (see [`Self::stand_in_for`]).
    #[must_use]
    pub const fn recorded_own_executed(&self) -> u64 {
        self.own_executed
    }

    /// Reports made by the venue and not yet delivered by a poll.
    #[must_use]
    pub fn reports_in_flight(&self) -> usize {
        self.outbound.len()
    }

    /// Advances to `ts_ns` (processing requests that arrived by then), then
    /// applies one public ITCH event to the venue's book and our queues.
    pub fn on_market(&mut self, ts_ns: u64, message: &Message) {
        self.advance(ts_ns);
        self.apply(message);
    }

    /// [`Self::on_market`] without advancing the clock.
    fn apply(&mut self, message: &Message) {
        if !self.own_refs.is_empty() && self.own_order_event(message) {
            return;
        }
        match message {
            Message::AddOrder(m) => {
                self.add_public(m.stock_locate, m.order_ref, m.side, m.price, m.shares);
            }
            Message::AddOrderMpid(m) => {
                self.add_public(m.stock_locate, m.order_ref, m.side, m.price, m.shares);
            }
            Message::OrderExecuted(m) => {
                self.execute_public(m.order_ref, u64::from(m.executed_shares), None);
            }
            Message::OrderExecutedWithPrice(m) => {
                let px = i64::from(m.execution_price);
                self.execute_public(m.order_ref, u64::from(m.executed_shares), Some(px));
            }
            Message::OrderCancel(m) => {
                let _ = self.reduce_public(m.order_ref, u64::from(m.cancelled_shares));
            }
            Message::OrderDelete(m) => {
                let _ = self.reduce_public(m.order_ref, u64::MAX);
            }
            Message::OrderReplace(m) => {
                self.replace_public(m.original_order_ref, m.new_order_ref, m.price, m.shares);
            }
            Message::Trade(m) => self.trade(m.stock_locate, m.side, m.price, m.shares),
            _ => {}
        }
    }

    /// Applies the ITCH messages of one MoldUDP64 datagram seen at `ts_ns`, as
    /// [`Self::on_market`] one by one: those whose sequence number is at or
    /// past `*next_seq` (lines A and B carry the same messages: each once),
    /// after which `*next_seq` moves past the datagram. A malformed datagram
    /// is skipped whole. Returns the messages applied (well-formed ITCH
    /// messages, whatever their type).
    pub fn on_datagram(&mut self, ts_ns: u64, datagram: &[u8], next_seq: &mut u64) -> u64 {
        // One message exactly filling the datagram, as nearly every datagram
        // of a daily file's tape: its framing is one comparison.
        if let Some((head, body)) = datagram.split_first_chunk::<HEADER_LEN>() {
            if let Some((len, msg)) = body.split_first_chunk::<2>() {
                let (seq, count) = sequence_and_count(head);
                if count == 1 && usize::from(u16::from_be_bytes(*len)) == msg.len() {
                    let applied = seq >= *next_seq && self.apply_itch(ts_ns, msg);
                    *next_seq = (*next_seq).max(seq.wrapping_add(1));
                    return u64::from(applied);
                }
            }
        }
        let Ok(header) = decode_header(datagram) else {
            return 0;
        };
        let body = datagram.get(HEADER_LEN..).unwrap_or_default();
        let count = header.message_count();
        if !framed(body, count) {
            return 0;
        }
        let (mut rest, mut seq, mut applied) = (body, header.sequence, 0);
        for _ in 0..count {
            let Some((msg, tail)) = block(rest) else {
                break;
            };
            if seq >= *next_seq {
                applied += u64::from(self.apply_itch(ts_ns, msg));
            }
            rest = tail;
            seq = seq.wrapping_add(1);
        }
        *next_seq = (*next_seq).max(header.next_sequence());
        applied
    }

    /// A hint ahead of [`Self::on_datagram`] of `datagram`: starts loading
    /// the public orders its messages will look up or insert, so those cache
    /// misses overlap other work; hands each order reference to `also` (the
    /// runner hints the engine's book with it: one read of the datagram for
    /// both). Never changes results.
    #[inline]
    pub fn prefetch_orders(&self, datagram: &[u8], mut also: impl FnMut(u64)) {
        // The first few messages: a datagram is usually one or two.
        first_messages(datagram, 4, |msg| {
            if let (Some(b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U'), Some(r)) =
                (msg.first(), msg.first_chunk::<19>())
            {
                let mut order_ref = [0_u8; 8];
                order_ref.copy_from_slice(&r[11..]);
                let order_ref = u64::from_be_bytes(order_ref);
                self.orders.prefetch(order_ref);
                also(order_ref);
            }
        });
    }

    /// [`Self::on_market`] of one encoded ITCH message, if it decodes (else
    /// nothing, not even the clock); returns whether it decoded. The message
    /// types that move the book are decoded on their own, without building a
    /// [`Message`].
    #[inline]
    fn apply_itch(&mut self, ts_ns: u64, msg: &[u8]) -> bool {
        if !self.own_refs.is_empty() {
            return itch::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                self.apply(&m);
                true
            });
        }
        match msg.first() {
            Some(b'A') => itch::AddOrder::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                self.add_public(m.stock_locate, m.order_ref, m.side, m.price, m.shares);
                true
            }),
            Some(b'D') => itch::OrderDelete::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                let _ = self.reduce_public(m.order_ref, u64::MAX);
                true
            }),
            Some(b'U') => itch::OrderReplace::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                self.replace_public(m.original_order_ref, m.new_order_ref, m.price, m.shares);
                true
            }),
            Some(b'X') => itch::OrderCancel::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                let _ = self.reduce_public(m.order_ref, u64::from(m.cancelled_shares));
                true
            }),
            Some(b'E') => itch::OrderExecuted::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                self.execute_public(m.order_ref, u64::from(m.executed_shares), None);
                true
            }),
            _ => itch::decode(msg).is_ok_and(|m| {
                self.advance(ts_ns);
                self.apply(&m);
                true
            }),
        }
    }

    /// Applies `message` if it is about a recorded own order; returns whether it was.
    fn own_order_event(&mut self, message: &Message) -> bool {
        match message {
            Message::AddOrder(m) if self.own_refs.contains(&m.order_ref) => {
                let live = (m.stock_locate, m.side, i64::from(m.price));
                self.own_live.insert(m.order_ref, live);
            }
            Message::AddOrderMpid(m) if self.own_refs.contains(&m.order_ref) => {
                let live = (m.stock_locate, m.side, i64::from(m.price));
                self.own_live.insert(m.order_ref, live);
            }
            Message::OrderExecuted(m) if self.own_live.contains_key(&m.order_ref) => {
                self.own_execution(m.order_ref, u64::from(m.executed_shares), None);
            }
            Message::OrderExecutedWithPrice(m) if self.own_live.contains_key(&m.order_ref) => {
                let px = Some(i64::from(m.execution_price));
                self.own_execution(m.order_ref, u64::from(m.executed_shares), px);
            }
            Message::OrderCancel(m) if self.own_live.contains_key(&m.order_ref) => {}
            Message::OrderDelete(m) => {
                return self.own_live.remove(&m.order_ref).is_some();
            }
            Message::OrderReplace(m) => {
                let Some((inst, side, _)) = self.own_live.remove(&m.original_order_ref) else {
                    return false;
                };
                if self.own_refs.contains(&m.new_order_ref) {
                    let live = (inst, side, i64::from(m.price));
                    self.own_live.insert(m.new_order_ref, live);
                }
            }
            _ => return false,
        }
        true
    }

    /// A recorded own order traded in the data: the simulated orders standing in for it do.
    fn own_execution(&mut self, order_ref: u64, shares: u64, px: Option<i64>) {
        let Some(&(inst, side, price)) = self.own_live.get(&order_ref) else {
            return;
        };
        self.own_executed += shares;
        let px = px.unwrap_or(price);
        self.fill_ours(shares, |o| {
            o.instrument == inst
                && o.side == side
                && (better(side, o.price, px) || (o.price == px && o.ahead == 0))
        });
    }

    /// Processes every request that has arrived by `ts_ns`; the clock never goes back.
    #[inline]
    pub fn advance(&mut self, ts_ns: u64) {
        if self.inbound.front().is_some_and(|f| f.arrival_ns <= ts_ns) {
            self.arrive_until(ts_ns);
        }
        self.now_ns = self.now_ns.max(ts_ns);
    }

    /// Processes every request that has arrived by `ts_ns`.
    #[inline(never)]
    fn arrive_until(&mut self, ts_ns: u64) {
        while self.inbound.front().is_some_and(|f| f.arrival_ns <= ts_ns) {
            let Some(front) = self.inbound.pop_front() else {
                break;
            };
            self.now_ns = self.now_ns.max(front.arrival_ns);
            self.arrive(front.req, front.ack_ns);
        }
    }

    #[inline]
    fn add_public(&mut self, inst: u16, order_ref: u64, side: Side, price: u32, shares: u32) {
        if shares == 0 {
            return;
        }
        let seq = self.seq + 1;
        let index = self.book_of[usize::from(inst)];
        let Some(book) = self.books.get_mut(usize::from(index)) else {
            return;
        };
        let (qty, px, opposite) = (u64::from(shares), i64::from(price), side.opposite());
        book.side_mut(side).add(px, qty);
        // Rule 3 can apply only if the order is at or through our best on the other side.
        let reaches_ours = book
            .ours(opposite)
            .is_some_and(|ours| !better(opposite, px, ours));
        self.seq = seq;
        self.orders
            .insert(PubOrder::new(order_ref, seq, index, side, price, shares));
        if !reaches_ours {
            return;
        }
        // Rule 3: an order at or through one of ours on the other side would
        // have traded with it.
        self.fill_ours(qty, |o| {
            o.instrument == inst && o.side == opposite && !better(opposite, px, o.price)
        });
    }

    /// An ITCH `U`: the original order leaves its level, the new one joins the back of its own.
    #[inline]
    fn replace_public(&mut self, original: u64, new_ref: u64, price: u32, shares: u32) {
        if let Some(old) = self.reduce_public(original, u64::MAX) {
            self.add_public(old.instrument, new_ref, old.side, price, shares);
        }
    }

    /// An ITCH `P` (non-displayed trade): it would have met our orders priced better (rule 2).
    #[inline]
    fn trade(&mut self, inst: u16, side: Side, price: u32, shares: u32) {
        let px = i64::from(price);
        let reaches_ours = self
            .book(inst)
            .and_then(|b| b.ours(side))
            .is_some_and(|ours| better(side, ours, px));
        if !reaches_ours {
            return;
        }
        self.fill_ours(u64::from(shares), |o| {
            o.instrument == inst && o.side == side && better(side, o.price, px)
        });
    }

    /// Takes up to `shares` off public order `order_ref` (`u64::MAX`: all of it).
    /// Returns the order as it was, with `qty` = shares removed.
    #[inline]
    fn reduce_public(&mut self, order_ref: u64, shares: u64) -> Option<Removed> {
        let bucket = self.orders.find(order_ref)?;
        let order = self.orders.at(bucket);
        // `removed` <= `order.qty`, a `u32`.
        let removed = shares.min(u64::from(order.qty)) as u32;
        order.qty -= removed;
        let was = *order;
        if order.qty == 0 {
            self.orders.remove_at(bucket);
        }
        let (price, removed_qty, side) = (i64::from(was.price), u64::from(removed), was.side());
        let mut out = Removed {
            seq: was.seq(),
            price: was.price,
            qty: removed,
            instrument: NO_BOOK,
            book: was.book(),
            side,
        };
        let Some(book) = self.books.get_mut(usize::from(out.book)) else {
            return Some(out);
        };
        out.instrument = book.instrument;
        book.side_mut(side).remove(price, removed_qty);
        if book.ours(side).is_none() {
            return Some(out);
        }
        for o in &mut self.ours {
            if o.instrument == out.instrument
                && o.side == side
                && o.price == price
                && o.seq > out.seq
            {
                o.ahead = o.ahead.saturating_sub(removed_qty);
            }
        }
        Some(out)
    }

    #[inline]
    fn execute_public(&mut self, order_ref: u64, shares: u64, px: Option<i64>) {
        let Some(was) = self.reduce_public(order_ref, shares) else {
            return;
        };
        if self
            .books
            .get(usize::from(was.book))
            .is_none_or(|b| b.ours(was.side).is_none())
        {
            return;
        }
        let price = i64::from(was.price);
        let px = px.unwrap_or(price);
        // Rules 1 and 2: behind us at our level, or at a worse price than ours.
        self.fill_ours(u64::from(was.qty), |o| {
            o.instrument == was.instrument
                && o.side == was.side
                && ((o.price == price && o.seq < was.seq) || better(o.side, o.price, px))
        });
    }

    /// Fills up to `shares` of our eligible orders, best price then earliest first.
    fn fill_ours(&mut self, mut shares: u64, eligible: impl Fn(&Ours) -> bool) {
        while shares > 0 {
            let mut pick: Option<usize> = None;
            for (i, o) in self.ours.iter().enumerate() {
                if !eligible(o) {
                    continue;
                }
                let first = pick.and_then(|p| self.ours.get(p)).is_none_or(|b| {
                    better(o.side, o.price, b.price) || (o.price == b.price && o.seq < b.seq)
                });
                if first {
                    pick = Some(i);
                }
            }
            let Some(i) = pick else {
                return;
            };
            let Some(o) = self.ours.get_mut(i) else {
                return;
            };
            let q = shares.min(o.leaves);
            o.leaves -= q;
            shares -= q;
            let (cl, price, done) = (o.cl, o.price, o.leaves == 0);
            if done {
                self.remove_ours(i);
            }
            let ack = self.latency.ack();
            self.execution(cl, q, price, b'A', ack);
        }
    }

    fn execution(&mut self, cl: ClOrdId, qty: u64, price: i64, liquidity: u8, ack_ns: u64) {
        let match_number = self.next_match;
        self.next_match += 1;
        let report = ExecReport::Executed {
            cl,
            qty: Qty(qty),
            price: Price(price),
            match_number,
            liquidity,
            ts_ns: self.now_ns,
        };
        self.emit(report, ack_ns);
    }

    fn emit(&mut self, report: ExecReport, ack_ns: u64) {
        let at = self
            .now_ns
            .saturating_add(ack_ns)
            .max(self.last_delivery_ns);
        self.last_delivery_ns = at;
        self.outbound.push_back((at, report));
    }

    fn reject(&mut self, cl: ClOrdId, reason: u16, ack_ns: u64) {
        let ts_ns = self.now_ns;
        self.emit(ExecReport::Rejected { cl, reason, ts_ns }, ack_ns);
    }

    fn venue_id(&mut self) -> OrderId {
        let id = OrderId(self.next_venue_id);
        self.next_venue_id += 1;
        id
    }

    /// Why an order at `price` for `qty` on `instrument` would be refused, if it would.
    fn check(&self, inst: u16, side: Side, price: i64, qty: u64, post_only: bool) -> Option<u16> {
        let Some(book) = self.book(inst) else {
            return Some(reject::UNKNOWN_INSTRUMENT);
        };
        if qty == 0 {
            return Some(reject::INVALID_QTY);
        }
        if price <= 0 || price % book.tick != 0 {
            return Some(reject::INVALID_PRICE);
        }
        let crosses = book
            .best(side.opposite())
            .is_some_and(|opp| !better(side, opp, price));
        (post_only && crosses).then_some(reject::POST_ONLY_WOULD_CROSS)
    }

    fn arrive(&mut self, req: OrderRequest, ack_ns: u64) {
        let ts_ns = self.now_ns;
        if let OrderRequest::New(NewOrder { instrument, .. })
        | OrderRequest::Replace(ReplaceOrder { instrument, .. }) = req
        {
            if let Some(book) = self.book_mut(instrument.0) {
                book.bids.settle();
                book.asks.settle();
            }
        }
        match req {
            OrderRequest::New(n) => {
                let inst = n.instrument.0;
                let live = self.ours.iter().any(|o| o.cl == n.cl);
                let refused = if live {
                    Some(reject::DUPLICATE_ID)
                } else {
                    self.check(inst, n.side, n.price.0, n.qty.0, n.post_only)
                };
                if let Some(reason) = refused {
                    return self.reject(n.cl, reason, ack_ns);
                }
                let venue_id = self.venue_id();
                let accepted = ExecReport::Accepted {
                    cl: n.cl,
                    venue_id,
                    price: n.price,
                    qty: n.qty,
                    ts_ns,
                };
                self.emit(accepted, ack_ns);
                let rest = self.take_liquidity(n.cl, inst, n.side, n.price.0, n.qty.0, ack_ns);
                if rest == 0 {
                    return;
                }
                if n.tif == TimeInForce::Ioc {
                    let canceled = ExecReport::Canceled {
                        cl: n.cl,
                        qty: Qty(rest),
                        reason: CancelReason::Ioc,
                        ts_ns,
                    };
                    return self.emit(canceled, ack_ns);
                }
                self.rest(n.cl, inst, n.side, n.price.0, rest);
            }
            OrderRequest::Replace(r) => {
                let inst = r.instrument.0;
                let Some(i) = self.ours.iter().position(|o| o.cl == r.orig) else {
                    return self.reject(r.cl, reject::UNKNOWN_ORDER, ack_ns);
                };
                let duplicate = r.cl != r.orig && self.ours.iter().any(|o| o.cl == r.cl);
                let refused = if duplicate {
                    Some(reject::DUPLICATE_ID)
                } else {
                    self.check(inst, r.side, r.price.0, r.qty.0, r.post_only)
                };
                if let Some(reason) = refused {
                    return self.reject(r.cl, reason, ack_ns);
                }
                let old = self.remove_ours(i);
                let venue_id = self.venue_id();
                let replaced = ExecReport::Replaced {
                    orig: r.orig,
                    cl: r.cl,
                    venue_id,
                    price: r.price,
                    qty: r.qty,
                    ts_ns,
                };
                self.emit(replaced, ack_ns);
                if old.price == r.price.0 && old.side == r.side && r.qty.0 <= old.leaves {
                    // Same price, quantity not raised: the queue position stays.
                    self.push_ours(Ours {
                        cl: r.cl,
                        leaves: r.qty.0,
                        ..old
                    });
                    return;
                }
                let rest = self.take_liquidity(r.cl, inst, r.side, r.price.0, r.qty.0, ack_ns);
                if rest > 0 {
                    self.rest(r.cl, inst, r.side, r.price.0, rest);
                }
            }
            OrderRequest::Cancel(c) => {
                let report = match self.ours.iter().position(|o| o.cl == c.cl) {
                    Some(i) => {
                        let o = self.remove_ours(i);
                        ExecReport::Canceled {
                            cl: c.cl,
                            qty: Qty(o.leaves),
                            reason: CancelReason::User,
                            ts_ns,
                        }
                    }
                    None => ExecReport::CancelRejected { cl: c.cl, ts_ns },
                };
                self.emit(report, ack_ns);
            }
        }
    }

    /// Executes a marketable order against the public levels it crosses
    /// (without changing them); returns the quantity left.
    fn take_liquidity(
        &mut self,
        cl: ClOrdId,
        inst: u16,
        side: Side,
        price: i64,
        qty: u64,
        ack_ns: u64,
    ) -> u64 {
        let mut crossed = std::mem::take(&mut self.crossed);
        crossed.clear();
        let Some(book) = self.book(inst) else {
            self.crossed = crossed;
            return qty;
        };
        let levels = book.side(side.opposite());
        if levels.best().is_none_or(|opp| better(side, opp, price)) {
            self.crossed = crossed;
            return qty; // crosses nothing
        }
        // Levels crossed, best first.
        crossed.extend(
            levels
                .levels
                .iter()
                .filter(|l| !better(side, l.price, price))
                .map(|l| (l.price, l.qty)),
        );
        crossed.sort_unstable_by_key(|&(px, _)| match side {
            Side::Buy => px,
            Side::Sell => -px,
        });
        let mut left = qty;
        for &(px, avail) in &crossed {
            if left == 0 {
                break;
            }
            let q = left.min(avail);
            left -= q;
            self.execution(cl, q, px, b'R', ack_ns);
        }
        self.crossed = crossed;
        left
    }

    /// Our orders changed on `inst`: its best resting prices of ours again.
    fn refresh_ours(&mut self, inst: u16) {
        let (mut bid, mut ask): (Option<i64>, Option<i64>) = (None, None);
        for o in self.ours.iter().filter(|o| o.instrument == inst) {
            match o.side {
                Side::Buy => bid = Some(bid.map_or(o.price, |b| b.max(o.price))),
                Side::Sell => ask = Some(ask.map_or(o.price, |a| a.min(o.price))),
            }
        }
        if let Some(book) = self.book_mut(inst) {
            book.our_bid = bid;
            book.our_ask = ask;
        }
    }

    fn push_ours(&mut self, o: Ours) {
        self.ours.push(o);
        self.refresh_ours(o.instrument);
    }

    fn remove_ours(&mut self, i: usize) -> Ours {
        let o = self.ours.swap_remove(i);
        self.refresh_ours(o.instrument);
        o
    }

    fn rest(&mut self, cl: ClOrdId, inst: u16, side: Side, price: i64, leaves: u64) {
        let ahead = self.book(inst).map_or(0, |b| b.level(side, price));
        self.seq += 1;
        self.push_ours(Ours {
            cl,
            instrument: inst,
            side,
            price,
            leaves,
            ahead,
            seq: self.seq,
        });
    }
}

impl OrderGateway for BacktestVenue {
    /// Puts the request in flight; it reaches the venue after the drawn `order_ns`.
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        let (order_ns, ack_ns) = self.latency.round_trip();
        let arrival_ns = now_ns.saturating_add(order_ns).max(self.last_arrival_ns);
        self.last_arrival_ns = arrival_ns;
        self.inbound.push_back(Inbound {
            arrival_ns,
            ack_ns,
            req: *req,
        });
        Ok(())
    }

    /// Nothing to write: requests are in flight from `send`.
    fn flush(&mut self, _now_ns: u64) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Advances the venue to `now_ns` and delivers every report due by then.
    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        if !self.announced {
            self.announced = true;
            quotewire_gateway::announce_ready(sink);
        }
        self.advance(now_ns);
        let mut n = 0;
        while let Some(&(at, report)) = self.outbound.front() {
            if at > now_ns {
                break;
            }
            self.outbound.pop_front();
            sink.report(&report);
            n += 1;
        }
        n
    }

    /// Always ready: a simulated session never drops.
    fn status(&self) -> SessionStatus {
        SessionStatus::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_order_keeps_its_sequence_book_and_side() {
        let last_seq = (1_u64 << (64 - SEQ_SHIFT)) - 1;
        for seq in [0, 1, 12_345_678_901, last_seq] {
            for book in [0, 1, 0x5A5A, u16::MAX] {
                for side in [Side::Buy, Side::Sell] {
                    let o = PubOrder::new(u64::MAX, seq, book, side, u32::MAX, 7);
                    assert_eq!((o.seq(), o.book(), o.side()), (seq, book, side));
                    assert_eq!((o.order_ref, o.price, o.qty), (u64::MAX, u32::MAX, 7));
                }
            }
        }
        assert_eq!(size_of::<PubOrder>(), 24);
    }

    #[test]
    fn the_kept_best_price_is_the_scanned_one_after_every_change() {
        // Random adds and removes near a moving touch, on the tick grid and now and then
        // off it: whether the best is kept, walked to or left to the scan, it is the
        // best of the levels.
        for side in [Side::Buy, Side::Sell] {
            let mut levels = Levels::new(side, 100);
            let mut live: Vec<(i64, u64)> = Vec::new();
            let mut x = 11_u64;
            for step in 0..60_000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let r = x >> 33;
                if live.is_empty() || r % 5 < 3 {
                    let ticks = i64::try_from(r % 40).unwrap();
                    let off = if r % 97 == 0 { 37 } else { 0 };
                    let price = 1_000_000 + ticks * 100 + off;
                    let qty = 1 + r % 300;
                    levels.add(price, qty);
                    live.push((price, qty));
                } else {
                    let (price, qty) = live.swap_remove(usize::try_from(r).unwrap() % live.len());
                    levels.remove(price, qty);
                }
                assert_eq!(levels.best(), levels.scan_best(), "{side:?} step {step}");
            }
        }
    }
}
