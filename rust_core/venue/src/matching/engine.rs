//! The matching engine: order storage, per-instrument ladders and the command handlers.

use std::fmt;

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};

use super::ladder::{InstrumentBook, Ladder, NIL};
use super::types::{
    Accepted, Bbo, Booked, CancelOrder, CancelReason, Canceled, ClientOrderId, Command, Event,
    EventSink, Executed, FirmId, Level, MatchNumber, NewOrder, OrderType, PriceBand, RejectReason,
    Rejected, ReplaceEffect, ReplaceOrder, Replaced, RequestKind, RestingOrder, SelfMatchMode,
    VenueConfig,
};
use crate::VenueError;

/// One resting order (or a free slot, chained through `next`).
#[derive(Clone, Copy, Debug)]
struct Node {
    order_ref: u64,
    client_id: ClientOrderId,
    price: i64,
    qty: u64,
    firm: FirmId,
    /// Towards the head of the level's FIFO, or `NIL`.
    prev: u32,
    /// Towards the tail, or `NIL`; the next free slot while free.
    next: u32,
    /// Ladder index of `price`, kept so no division is needed after entry.
    level: u32,
    instrument: InstrumentId,
    side: Side,
    order_type: OrderType,
}

const _: () = assert!(size_of::<Node>() == 56);

impl Node {
    const FREE: Self = Self {
        order_ref: 0,
        client_id: ClientOrderId(0),
        price: 0,
        qty: 0,
        firm: FirmId(0),
        prev: NIL,
        next: NIL,
        level: 0,
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
    };

    fn view(&self) -> RestingOrder {
        RestingOrder {
            order_ref: OrderId(self.order_ref),
            instrument: self.instrument,
            firm: self.firm,
            client_id: self.client_id,
            side: self.side,
            price: Price(self.price),
            qty: Qty(self.qty),
            order_type: self.order_type,
        }
    }
}

/// The order slab and the two id tables into it. Kept apart from the books so
/// both can be borrowed mutably at once.
struct Orders {
    nodes: Vec<Node>,
    free_head: u32,
    live: usize,
    /// Venue order reference -> slot.
    by_ref: HashMap<u64, u32>,
    /// (firm, client id) -> slot: cancels and replaces address orders this way,
    /// and it is what detects duplicate client ids.
    by_client: HashMap<(FirmId, ClientOrderId), u32>,
}

impl Orders {
    fn new(max_orders: usize) -> Self {
        let nodes = (0..max_orders)
            .map(|i| Node {
                next: if i + 1 < max_orders {
                    i as u32 + 1
                } else {
                    NIL
                },
                ..Node::FREE
            })
            .collect();
        Self {
            nodes,
            free_head: if max_orders > 0 { 0 } else { NIL },
            live: 0,
            by_ref: HashMap::with_capacity(max_orders),
            by_client: HashMap::with_capacity(max_orders),
        }
    }

    /// Stores a node and indexes it; the caller checked a slot is free.
    #[inline(always)]
    fn insert(&mut self, node: Node) -> Option<u32> {
        let slot = self.free_head;
        let free = self.nodes.get_mut(slot as usize)?;
        self.free_head = free.next;
        *free = node;
        self.by_ref.insert(node.order_ref, slot);
        self.by_client.insert((node.firm, node.client_id), slot);
        self.live += 1;
        Some(slot)
    }

    /// Un-indexes a node already unlinked from its level and frees its slot.
    #[inline(always)]
    fn remove(&mut self, slot: u32) {
        let node = &mut self.nodes[slot as usize];
        self.by_ref.remove(&node.order_ref);
        self.by_client.remove(&(node.firm, node.client_id));
        node.next = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }
}

/// Appends a node at the tail of its level.
#[inline(always)]
fn link_tail(nodes: &mut [Node], ladder: &mut Ladder, slot: u32) {
    let (level_index, qty) = {
        let n = &nodes[slot as usize];
        (n.level, n.qty)
    };
    let level = &mut ladder.levels[level_index as usize];
    let tail = level.tail;
    {
        let n = &mut nodes[slot as usize];
        n.prev = tail;
        n.next = NIL;
    }
    if tail == NIL {
        level.head = slot;
    } else {
        nodes[tail as usize].next = slot;
    }
    level.tail = slot;
    level.qty += qty;
    level.count += 1;
    if level.count == 1 {
        ladder.occupy(level_index);
    }
}

/// Unlinks a node from its level (anywhere in the FIFO).
#[inline(always)]
fn unlink(nodes: &mut [Node], ladder: &mut Ladder, slot: u32) {
    let n = nodes[slot as usize];
    let level = &mut ladder.levels[n.level as usize];
    if n.prev == NIL {
        level.head = n.next;
    } else {
        nodes[n.prev as usize].next = n.next;
    }
    if n.next == NIL {
        level.tail = n.prev;
    } else {
        nodes[n.next as usize].prev = n.prev;
    }
    level.qty -= n.qty;
    level.count -= 1;
    if level.count == 0 {
        ladder.vacate(n.level);
    }
}

/// An incoming order while it matches.
struct Taker {
    ts: Timestamp,
    instrument: InstrumentId,
    order_ref: u64,
    firm: FirmId,
    client_id: ClientOrderId,
    side: Side,
    price: i64,
    level: u32,
    remaining: u64,
    order_type: OrderType,
}

/// The tick size and resolved band of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentRules {
    /// Tick size.
    pub tick: Price,
    /// Lowest valid price (tick-aligned).
    pub low: Price,
    /// Highest valid price (tick-aligned).
    pub high: Price,
    /// Largest accepted order quantity.
    pub max_order_qty: Qty,
}

/// A deterministic price-time matching engine for many instruments.
///
/// Every command is answered through an [`EventSink`]; nothing is returned and
/// nothing panics on any input. See the [module docs](super) for the rules.
pub struct MatchingEngine {
    orders: Orders,
    /// Indexed by instrument id; `None` for ids not traded.
    books: Vec<Option<InstrumentBook>>,
    self_match: SelfMatchMode,
    last_ref: u64,
    last_match: u64,
}

impl fmt::Debug for MatchingEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchingEngine")
            .field("live_orders", &self.orders.live)
            .field("max_orders", &self.orders.nodes.len())
            .field("instruments", &self.books.iter().flatten().count())
            .field("self_match", &self.self_match)
            .field("last_ref", &self.last_ref)
            .field("last_match", &self.last_match)
            .finish_non_exhaustive()
    }
}

/// Resolves a band to tick-aligned `[low, high]`, or says why it cannot be.
fn resolve_band(
    id: InstrumentId,
    tick: i64,
    band: PriceBand,
    max_levels: usize,
) -> Result<(i64, i64), VenueError> {
    let (min, max) = match band {
        PriceBand::Around { reference, width } => (
            i128::from(reference.0) - i128::from(width.0),
            i128::from(reference.0) + i128::from(width.0),
        ),
        PriceBand::Range { min, max } => (i128::from(min.0), i128::from(max.0)),
    };
    let t = i128::from(tick);
    let low = ((min + t - 1).div_euclid(t) * t).max(t);
    let high = max.div_euclid(t) * t;
    if high > i128::from(u32::MAX) {
        return Err(VenueError::BandOutOfRange(id));
    }
    if low > high {
        return Err(VenueError::EmptyBand(id));
    }
    let levels = ((high - low) / t + 1) as u64;
    if levels > max_levels as u64 {
        return Err(VenueError::BandTooWide {
            instrument: id,
            levels,
            limit: max_levels,
        });
    }
    Ok((low as i64, high as i64))
}

impl MatchingEngine {
    /// Builds the engine, allocating (and touching) all order storage and
    /// every instrument's ladder now.
    pub fn new(config: &VenueConfig) -> Result<Self, VenueError> {
        if config.max_orders >= NIL as usize {
            return Err(VenueError::TooManyOrders(config.max_orders));
        }
        let slots = config
            .instruments
            .iter()
            .map(|i| usize::from(i.id.0) + 1)
            .max()
            .unwrap_or(0);
        let mut books: Vec<Option<InstrumentBook>> = (0..slots).map(|_| None).collect();
        for inst in &config.instruments {
            let id = inst.id;
            if inst.tick.0 <= 0 {
                return Err(VenueError::InvalidTick {
                    instrument: id,
                    tick: inst.tick,
                });
            }
            if inst.max_order_qty.0 == 0 || inst.max_order_qty.0 > u64::from(u32::MAX) {
                return Err(VenueError::InvalidMaxQty(id));
            }
            let (low, high) = resolve_band(id, inst.tick.0, inst.band, config.max_band_levels)?;
            let slot = &mut books[usize::from(id.0)];
            if slot.is_some() {
                return Err(VenueError::DuplicateInstrument(id));
            }
            *slot = Some(InstrumentBook::new(
                inst.tick.0,
                low,
                high,
                inst.max_order_qty.0,
            ));
        }
        Ok(Self {
            orders: Orders::new(config.max_orders),
            books,
            self_match: config.self_match,
            last_ref: 0,
            last_match: 0,
        })
    }

    /// Applies one command, emitting its events into `sink` in order.
    #[inline]
    pub fn process<S: EventSink + ?Sized>(&mut self, command: &Command, sink: &mut S) {
        match command {
            Command::New(c) => self.new_order(c, sink),
            Command::Cancel(c) => self.cancel(c, sink),
            Command::Replace(c) => self.replace(c, sink),
        }
    }

    /// Enters an order: `Accepted`, then its executions (and self-match
    /// cancels), then `Booked` for a displayed rest or `Canceled` for an IOC
    /// rest; or a single `Rejected`.
    pub fn new_order<S: EventSink + ?Sized>(&mut self, c: &NewOrder, sink: &mut S) {
        let reject = |reason| {
            Event::Rejected(Rejected {
                ts: c.ts,
                firm: c.firm,
                client_id: c.client_id,
                orig_client_id: c.client_id,
                request: RequestKind::New,
                reason,
            })
        };
        let Some(book) = self
            .books
            .get(usize::from(c.instrument.0))
            .and_then(Option::as_ref)
        else {
            sink.emit(reject(RejectReason::UnknownInstrument));
            return;
        };
        if let Err(reason) = check(book, c.price, c.qty) {
            sink.emit(reject(reason));
            return;
        }
        let level = book.index(c.price.0);
        if self.orders.by_client.contains_key(&(c.firm, c.client_id)) {
            sink.emit(reject(RejectReason::DuplicateClientId));
            return;
        }
        if c.order_type == OrderType::PostOnly && book.crosses(c.side, level) {
            sink.emit(reject(RejectReason::PostOnlyWouldTake));
            return;
        }
        if c.order_type != OrderType::Ioc && self.orders.free_head == NIL {
            sink.emit(reject(RejectReason::CapacityExceeded));
            return;
        }
        self.last_ref += 1;
        sink.emit(Event::Accepted(Accepted {
            ts: c.ts,
            order_ref: OrderId(self.last_ref),
            instrument: c.instrument,
            firm: c.firm,
            client_id: c.client_id,
            side: c.side,
            price: c.price,
            qty: c.qty,
            order_type: c.order_type,
        }));
        let mut taker = Taker {
            ts: c.ts,
            instrument: c.instrument,
            order_ref: self.last_ref,
            firm: c.firm,
            client_id: c.client_id,
            side: c.side,
            price: c.price.0,
            level,
            remaining: c.qty.0,
            order_type: c.order_type,
        };
        self.take(&mut taker, sink);
        self.finish(&taker, sink);
    }

    /// Cancels an order (`leave_qty == 0`) or reduces it in place, keeping priority.
    pub fn cancel<S: EventSink + ?Sized>(&mut self, c: &CancelOrder, sink: &mut S) {
        let reject = |reason| {
            Event::Rejected(Rejected {
                ts: c.ts,
                firm: c.firm,
                client_id: c.client_id,
                orig_client_id: c.client_id,
                request: RequestKind::Cancel,
                reason,
            })
        };
        let Some(&slot) = self.orders.by_client.get(&(c.firm, c.client_id)) else {
            sink.emit(reject(RejectReason::UnknownOrder));
            return;
        };
        let node = self.orders.nodes[slot as usize];
        if c.leave_qty.0 >= node.qty {
            sink.emit(reject(RejectReason::NotReduced));
            return;
        }
        let Some(book) = self.books[usize::from(node.instrument.0)].as_mut() else {
            return;
        };
        let ladder = &mut book.sides[node.side.index()];
        let cut = node.qty - c.leave_qty.0;
        if c.leave_qty.0 == 0 {
            unlink(&mut self.orders.nodes, ladder, slot);
            self.orders.remove(slot);
        } else {
            self.orders.nodes[slot as usize].qty = c.leave_qty.0;
            ladder.levels[node.level as usize].qty -= cut;
        }
        sink.emit(Event::Canceled(Canceled {
            ts: c.ts,
            order_ref: OrderId(node.order_ref),
            instrument: node.instrument,
            firm: node.firm,
            client_id: node.client_id,
            side: node.side,
            price: Price(node.price),
            qty: Qty(cut),
            remaining: c.leave_qty,
            reason: CancelReason::User,
            on_book: true,
        }));
    }

    /// Cancel/replace: same price and no more shares keeps priority and the
    /// reference; otherwise the order gets a new reference and goes to the tail,
    /// or, if the new price crosses, re-enters as an aggressive order
    /// (post-only orders are rejected instead).
    pub fn replace<S: EventSink + ?Sized>(&mut self, c: &ReplaceOrder, sink: &mut S) {
        let reject = |reason| {
            Event::Rejected(Rejected {
                ts: c.ts,
                firm: c.firm,
                client_id: c.client_id,
                orig_client_id: c.orig_client_id,
                request: RequestKind::Replace,
                reason,
            })
        };
        let Some(&slot) = self.orders.by_client.get(&(c.firm, c.orig_client_id)) else {
            sink.emit(reject(RejectReason::UnknownOrder));
            return;
        };
        if c.client_id != c.orig_client_id
            && self.orders.by_client.contains_key(&(c.firm, c.client_id))
        {
            sink.emit(reject(RejectReason::DuplicateClientId));
            return;
        }
        let old = self.orders.nodes[slot as usize];
        let Some(book) = self.books[usize::from(old.instrument.0)].as_mut() else {
            return;
        };
        if let Err(reason) = check(book, c.price, c.qty) {
            sink.emit(reject(reason));
            return;
        }
        let level = book.index(c.price.0);
        let in_place = c.price.0 == old.price && c.qty.0 <= old.qty;
        let crosses = !in_place && book.crosses(old.side, level);
        if crosses && old.order_type == OrderType::PostOnly {
            sink.emit(reject(RejectReason::PostOnlyWouldTake));
            return;
        }
        let (effect, new_ref) = if in_place {
            (ReplaceEffect::InPlace, old.order_ref)
        } else if crosses {
            self.last_ref += 1;
            (ReplaceEffect::Reentered, self.last_ref)
        } else {
            self.last_ref += 1;
            (ReplaceEffect::Requeued, self.last_ref)
        };
        sink.emit(Event::Replaced(Replaced {
            ts: c.ts,
            instrument: old.instrument,
            old_ref: OrderId(old.order_ref),
            new_ref: OrderId(new_ref),
            firm: c.firm,
            orig_client_id: c.orig_client_id,
            client_id: c.client_id,
            side: old.side,
            old_price: Price(old.price),
            old_qty: Qty(old.qty),
            price: c.price,
            qty: c.qty,
            effect,
        }));
        let orders = &mut self.orders;
        let ladder = &mut book.sides[old.side.index()];
        match effect {
            ReplaceEffect::InPlace => {
                ladder.levels[old.level as usize].qty -= old.qty - c.qty.0;
                let node = &mut orders.nodes[slot as usize];
                node.qty = c.qty.0;
                node.client_id = c.client_id;
                if c.client_id != c.orig_client_id {
                    orders.by_client.remove(&(c.firm, c.orig_client_id));
                    orders.by_client.insert((c.firm, c.client_id), slot);
                }
            }
            ReplaceEffect::Requeued => {
                unlink(&mut orders.nodes, ladder, slot);
                let node = &mut orders.nodes[slot as usize];
                node.order_ref = new_ref;
                node.client_id = c.client_id;
                node.price = c.price.0;
                node.level = level;
                node.qty = c.qty.0;
                link_tail(&mut orders.nodes, ladder, slot);
                orders.by_ref.remove(&old.order_ref);
                orders.by_ref.insert(new_ref, slot);
                if c.client_id != c.orig_client_id {
                    orders.by_client.remove(&(c.firm, c.orig_client_id));
                    orders.by_client.insert((c.firm, c.client_id), slot);
                }
            }
            ReplaceEffect::Reentered => {
                unlink(&mut orders.nodes, ladder, slot);
                orders.remove(slot);
                let mut taker = Taker {
                    ts: c.ts,
                    instrument: old.instrument,
                    order_ref: new_ref,
                    firm: c.firm,
                    client_id: c.client_id,
                    side: old.side,
                    price: c.price.0,
                    level,
                    remaining: c.qty.0,
                    order_type: old.order_type,
                };
                self.take(&mut taker, sink);
                self.finish(&taker, sink);
            }
        }
    }

    /// Matches an incoming order against the opposite side in price-time order.
    #[inline]
    fn take<S: EventSink + ?Sized>(&mut self, t: &mut Taker, sink: &mut S) {
        let Some(book) = self.books[usize::from(t.instrument.0)].as_mut() else {
            return;
        };
        let ladder = &mut book.sides[t.side.opposite().index()];
        let orders = &mut self.orders;
        while t.remaining > 0 {
            let best = ladder.best;
            let crossing = match t.side {
                Side::Buy => best <= t.level,
                Side::Sell => best >= t.level,
            };
            if best == NIL || !crossing {
                break;
            }
            let price = Price(book.low + i64::from(best) * book.tick);
            let slot = ladder.levels[best as usize].head;
            let resting = orders.nodes[slot as usize];
            if resting.firm == t.firm {
                let (resting_cut, taker_cut) = match self.self_match {
                    SelfMatchMode::CancelOldest => (resting.qty, 0),
                    SelfMatchMode::CancelNewest => (0, t.remaining),
                    SelfMatchMode::CancelBoth => (resting.qty, t.remaining),
                    SelfMatchMode::Decrement => {
                        let d = resting.qty.min(t.remaining);
                        (d, d)
                    }
                };
                if resting_cut > 0 {
                    let left = resting.qty - resting_cut;
                    if left == 0 {
                        unlink(&mut orders.nodes, ladder, slot);
                        orders.remove(slot);
                    } else {
                        orders.nodes[slot as usize].qty = left;
                        ladder.levels[best as usize].qty -= resting_cut;
                    }
                    sink.emit(Event::Canceled(Canceled {
                        ts: t.ts,
                        order_ref: OrderId(resting.order_ref),
                        instrument: t.instrument,
                        firm: resting.firm,
                        client_id: resting.client_id,
                        side: resting.side,
                        price,
                        qty: Qty(resting_cut),
                        remaining: Qty(left),
                        reason: CancelReason::SelfMatch,
                        on_book: true,
                    }));
                }
                if taker_cut > 0 {
                    t.remaining -= taker_cut;
                    sink.emit(Event::Canceled(Canceled {
                        ts: t.ts,
                        order_ref: OrderId(t.order_ref),
                        instrument: t.instrument,
                        firm: t.firm,
                        client_id: t.client_id,
                        side: t.side,
                        price: Price(t.price),
                        qty: Qty(taker_cut),
                        remaining: Qty(t.remaining),
                        reason: CancelReason::SelfMatch,
                        on_book: false,
                    }));
                }
                continue;
            }
            let fill = resting.qty.min(t.remaining);
            let left = resting.qty - fill;
            t.remaining -= fill;
            self.last_match += 1;
            if left == 0 {
                unlink(&mut orders.nodes, ladder, slot);
                orders.remove(slot);
            } else {
                orders.nodes[slot as usize].qty = left;
                ladder.levels[best as usize].qty -= fill;
            }
            sink.emit(Event::Executed(Executed {
                ts: t.ts,
                instrument: t.instrument,
                match_number: MatchNumber(self.last_match),
                price,
                qty: Qty(fill),
                aggressor_side: t.side,
                resting_ref: OrderId(resting.order_ref),
                resting_firm: resting.firm,
                resting_client_id: resting.client_id,
                resting_remaining: Qty(left),
                aggressor_ref: OrderId(t.order_ref),
                aggressor_firm: t.firm,
                aggressor_client_id: t.client_id,
                aggressor_remaining: Qty(t.remaining),
            }));
        }
    }

    /// Rests or cancels what an incoming order has left after matching.
    #[inline]
    fn finish<S: EventSink + ?Sized>(&mut self, t: &Taker, sink: &mut S) {
        if t.remaining == 0 {
            return;
        }
        if t.order_type == OrderType::Ioc {
            sink.emit(Event::Canceled(Canceled {
                ts: t.ts,
                order_ref: OrderId(t.order_ref),
                instrument: t.instrument,
                firm: t.firm,
                client_id: t.client_id,
                side: t.side,
                price: Price(t.price),
                qty: Qty(t.remaining),
                remaining: Qty::ZERO,
                reason: CancelReason::ImmediateOrCancel,
                on_book: false,
            }));
            return;
        }
        let Some(book) = self.books[usize::from(t.instrument.0)].as_mut() else {
            return;
        };
        let node = Node {
            order_ref: t.order_ref,
            client_id: t.client_id,
            price: t.price,
            qty: t.remaining,
            firm: t.firm,
            prev: NIL,
            next: NIL,
            level: t.level,
            instrument: t.instrument,
            side: t.side,
            order_type: t.order_type,
        };
        // A slot is free: entry checked one was, and matching only frees slots.
        let Some(slot) = self.orders.insert(node) else {
            debug_assert!(false, "no free slot for a checked order");
            return;
        };
        link_tail(
            &mut self.orders.nodes,
            &mut book.sides[t.side.index()],
            slot,
        );
        sink.emit(Event::Booked(Booked {
            ts: t.ts,
            order_ref: OrderId(t.order_ref),
            instrument: t.instrument,
            firm: t.firm,
            side: t.side,
            price: Price(t.price),
            qty: Qty(t.remaining),
        }));
    }

    fn book(&self, instrument: InstrumentId) -> Option<&InstrumentBook> {
        self.books
            .get(usize::from(instrument.0))
            .and_then(Option::as_ref)
    }

    /// Tick size and band of an instrument, if it is traded here.
    #[must_use]
    pub fn rules(&self, instrument: InstrumentId) -> Option<InstrumentRules> {
        self.book(instrument).map(|b| InstrumentRules {
            tick: Price(b.tick),
            low: Price(b.low),
            high: Price(b.high),
            max_order_qty: Qty(b.max_qty),
        })
    }

    /// Best level of one side, O(1).
    #[must_use]
    pub fn best(&self, instrument: InstrumentId, side: Side) -> Option<Level> {
        let book = self.book(instrument)?;
        let ladder = &book.sides[side.index()];
        (ladder.best != NIL).then(|| level_at(book, ladder, ladder.best))
    }

    /// Best bid and offer, O(1); empty for an unknown instrument.
    #[must_use]
    pub fn bbo(&self, instrument: InstrumentId) -> Bbo {
        Bbo {
            bid: self.best(instrument, Side::Buy),
            ask: self.best(instrument, Side::Sell),
        }
    }

    /// The non-empty levels of one side, best first.
    pub fn levels(&self, instrument: InstrumentId, side: Side) -> impl Iterator<Item = Level> + '_ {
        let book = self.book(instrument);
        let mut cur = book.map_or(NIL, |b| b.sides[side.index()].best);
        std::iter::from_fn(move || {
            let book = book?;
            if cur == NIL {
                return None;
            }
            let ladder = &book.sides[side.index()];
            let level = level_at(book, ladder, cur);
            cur = ladder.next_worse(cur);
            Some(level)
        })
    }

    /// Fills `out` with up to `out.len()` levels best first (L2 depth); returns how many.
    pub fn depth(&self, instrument: InstrumentId, side: Side, out: &mut [Level]) -> usize {
        let mut n = 0;
        for (slot, level) in out.iter_mut().zip(self.levels(instrument, side)) {
            *slot = level;
            n += 1;
        }
        n
    }

    /// The FIFO at one price, first to trade first.
    pub fn queue(
        &self,
        instrument: InstrumentId,
        side: Side,
        price: Price,
    ) -> impl Iterator<Item = RestingOrder> + '_ {
        let head = self
            .book(instrument)
            .filter(|b| check(b, price, Qty(1)).is_ok())
            .map_or(NIL, |b| {
                b.sides[side.index()].levels[b.index(price.0) as usize].head
            });
        let nodes = &self.orders.nodes;
        let mut cur = head;
        std::iter::from_fn(move || {
            let n = nodes.get(cur as usize)?;
            cur = n.next;
            Some(n.view())
        })
    }

    /// A resting order by venue reference, O(1).
    #[must_use]
    pub fn order(&self, order_ref: OrderId) -> Option<RestingOrder> {
        let slot = *self.orders.by_ref.get(&order_ref.0)?;
        Some(self.orders.nodes[slot as usize].view())
    }

    /// A resting order by firm and client id, O(1).
    #[must_use]
    pub fn order_by_client(&self, firm: FirmId, client_id: ClientOrderId) -> Option<RestingOrder> {
        let slot = *self.orders.by_client.get(&(firm, client_id))?;
        Some(self.orders.nodes[slot as usize].view())
    }

    /// Orders resting across all instruments.
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.orders.live
    }

    /// Most orders that can rest at once.
    #[must_use]
    pub fn max_orders(&self) -> usize {
        self.orders.nodes.len()
    }

    /// The last order reference assigned (0 before the first).
    #[must_use]
    pub fn last_order_ref(&self) -> OrderId {
        OrderId(self.last_ref)
    }

    /// The last match number assigned (0 before the first).
    #[must_use]
    pub fn last_match_number(&self) -> MatchNumber {
        MatchNumber(self.last_match)
    }
}

#[inline(always)]
fn level_at(book: &InstrumentBook, ladder: &Ladder, i: u32) -> Level {
    let l = &ladder.levels[i as usize];
    Level {
        price: book.price(i),
        qty: Qty(l.qty),
        count: l.count,
    }
}

/// Quantity, tick and band checks shared by new orders and replaces, in that order.
#[inline(always)]
fn check(book: &InstrumentBook, price: Price, qty: Qty) -> Result<(), RejectReason> {
    if qty.0 == 0 {
        Err(RejectReason::ZeroQty)
    } else if qty.0 > book.max_qty {
        Err(RejectReason::QtyAboveMax)
    } else if price.0.rem_euclid(book.tick) != 0 {
        Err(RejectReason::OffTick)
    } else if price.0 < book.low || price.0 > book.high {
        Err(RejectReason::OutsideBand)
    } else {
        Ok(())
    }
}
