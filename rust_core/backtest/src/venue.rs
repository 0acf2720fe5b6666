//! [`BacktestVenue`]: the simulated venue (see the crate docs for the rules).

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};
use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_gateway::{GatewayError, GatewaySink, OrderGateway, SessionStatus};
use quotewire_protocol::itch::Message;

use crate::latency::LatencySampler;
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

/// One instrument's public book: aggregate shares per price level. Levels
/// are hashed, not ordered: every market event updates one in O(1). The best
/// price of each side is kept as levels come and go (a scan only when the
/// best level empties); the levels an order crosses are collected only for
/// our own marketable orders.
#[derive(Clone, Debug, Default)]
struct Book {
    tick: i64,
    bids: HashMap<i64, u64>,
    asks: HashMap<i64, u64>,
    best_bid: Option<i64>,
    best_ask: Option<i64>,
}

impl Book {
    fn side(&self, side: Side) -> &HashMap<i64, u64> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Adds `qty` shares at `price` on `side`.
    fn add(&mut self, side: Side, price: i64, qty: u64) {
        let (levels, best) = match side {
            Side::Buy => (&mut self.bids, &mut self.best_bid),
            Side::Sell => (&mut self.asks, &mut self.best_ask),
        };
        *levels.entry(price).or_insert(0) += qty;
        if best.is_none_or(|b| better(side, price, b)) {
            *best = Some(price);
        }
    }

    /// Takes up to `qty` shares off the level at `price` on `side`.
    fn remove(&mut self, side: Side, price: i64, qty: u64) {
        let (levels, best) = match side {
            Side::Buy => (&mut self.bids, &mut self.best_bid),
            Side::Sell => (&mut self.asks, &mut self.best_ask),
        };
        let Some(level) = levels.get_mut(&price) else {
            return;
        };
        *level = level.saturating_sub(qty);
        if *level == 0 {
            levels.remove(&price);
            if *best == Some(price) {
                *best = match side {
                    Side::Buy => levels.keys().max().copied(),
                    Side::Sell => levels.keys().min().copied(),
                };
            }
        }
    }

    const fn best(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.best_bid,
            Side::Sell => self.best_ask,
        }
    }

    fn level(&self, side: Side, price: i64) -> u64 {
        self.side(side).get(&price).copied().unwrap_or(0)
    }
}

/// A displayed public order.
#[derive(Clone, Copy, Debug)]
struct PubOrder {
    instrument: u16,
    side: Side,
    price: i64,
    qty: u64,
    seq: u64,
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
    books: HashMap<u16, Book>,
    orders: HashMap<u64, PubOrder>,
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
        let mut books = HashMap::with_capacity(instruments.len());
        for spec in instruments {
            if spec.tick.0 <= 0 {
                return Err(BacktestError::InvalidTick(spec.id));
            }
            let book = Book {
                tick: spec.tick.0,
                ..Book::default()
            };
            if books.insert(spec.id.0, book).is_some() {
                return Err(BacktestError::DuplicateInstrument(spec.id));
            }
        }
        Ok(Self {
            latency: LatencySampler::new(&latency, seed)?,
            books,
            orders: HashMap::new(),
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
        self.books.get(&instrument.0)?.best(side).map(Price)
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
                if let Some(old) = self.orders.get(&m.original_order_ref).copied() {
                    let _ = self.reduce_public(m.original_order_ref, u64::MAX);
                    self.add_public(old.instrument, m.new_order_ref, old.side, m.price, m.shares);
                }
            }
            Message::Trade(m) if self.books.contains_key(&m.stock_locate) => {
                let px = i64::from(m.price);
                let (side, inst) = (m.side, m.stock_locate);
                self.fill_ours(u64::from(m.shares), |o| {
                    o.instrument == inst && o.side == side && better(side, o.price, px)
                });
            }
            _ => {}
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
    pub fn advance(&mut self, ts_ns: u64) {
        while self.inbound.front().is_some_and(|f| f.arrival_ns <= ts_ns) {
            let Some(front) = self.inbound.pop_front() else {
                break;
            };
            self.now_ns = self.now_ns.max(front.arrival_ns);
            self.arrive(front.req, front.ack_ns);
        }
        self.now_ns = self.now_ns.max(ts_ns);
    }

    fn add_public(&mut self, inst: u16, order_ref: u64, side: Side, price: u32, shares: u32) {
        let Some(book) = self.books.get_mut(&inst) else {
            return;
        };
        let price = i64::from(price);
        let qty = u64::from(shares);
        if qty == 0 {
            return;
        }
        self.seq += 1;
        book.add(side, price, qty);
        self.orders.insert(
            order_ref,
            PubOrder {
                instrument: inst,
                side,
                price,
                qty,
                seq: self.seq,
            },
        );
        // Rule 3: an order at or through one of ours on the other side would
        // have traded with it.
        let ours = side.opposite();
        self.fill_ours(qty, |o| {
            o.instrument == inst && o.side == ours && !better(ours, price, o.price)
        });
    }

    /// Takes up to `shares` off public order `order_ref` (`u64::MAX`: all of it).
    /// Returns the order as it was, with `qty` = shares removed.
    fn reduce_public(&mut self, order_ref: u64, shares: u64) -> Option<PubOrder> {
        let order = self.orders.get_mut(&order_ref)?;
        let removed = shares.min(order.qty);
        order.qty -= removed;
        let mut was = *order;
        if order.qty == 0 {
            self.orders.remove(&order_ref);
        }
        if let Some(book) = self.books.get_mut(&was.instrument) {
            book.remove(was.side, was.price, removed);
        }
        for o in &mut self.ours {
            if o.instrument == was.instrument
                && o.side == was.side
                && o.price == was.price
                && o.seq > was.seq
            {
                o.ahead = o.ahead.saturating_sub(removed);
            }
        }
        was.qty = removed;
        Some(was)
    }

    fn execute_public(&mut self, order_ref: u64, shares: u64, px: Option<i64>) {
        let Some(was) = self.reduce_public(order_ref, shares) else {
            return;
        };
        let px = px.unwrap_or(was.price);
        // Rules 1 and 2: behind us at our level, or at a worse price than ours.
        self.fill_ours(was.qty, |o| {
            o.instrument == was.instrument
                && o.side == was.side
                && ((o.price == was.price && o.seq < was.seq) || better(o.side, o.price, px))
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
                self.ours.swap_remove(i);
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
        let Some(book) = self.books.get(&inst) else {
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
                let old = self.ours.swap_remove(i);
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
                    self.ours.push(Ours {
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
                        let o = self.ours.swap_remove(i);
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
        let Some(book) = self.books.get(&inst) else {
            return qty;
        };
        if book
            .best(side.opposite())
            .is_none_or(|opp| better(side, opp, price))
        {
            return qty; // crosses nothing
        }
        let mut left = qty;
        let mut fills = Vec::new();
        // Levels crossed, best first.
        let mut crossed: Vec<(i64, u64)> = book
            .side(side.opposite())
            .iter()
            .filter(|&(&px, _)| !better(side, px, price))
            .map(|(&px, &q)| (px, q))
            .collect();
        crossed.sort_unstable_by_key(|&(px, _)| match side {
            Side::Buy => px,
            Side::Sell => -px,
        });
        for (px, avail) in crossed {
            if left == 0 {
                break;
            }
            let q = left.min(avail);
            left -= q;
            fills.push((px, q));
        }
        for (px, q) in fills {
            self.execution(cl, q, px, b'R', ack_ns);
        }
        left
    }

    fn rest(&mut self, cl: ClOrdId, inst: u16, side: Side, price: i64, leaves: u64) {
        let ahead = self.books.get(&inst).map_or(0, |b| b.level(side, price));
        self.seq += 1;
        self.ours.push(Ours {
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
