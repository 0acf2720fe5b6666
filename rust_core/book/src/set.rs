//! All instruments' books, the shared order slab and the order-id map.

use std::fmt;

use quotewire_core::mem::{prefetch_read, prefetch_write, HugeSlice};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

use crate::book::{find_level, key_of, side_index, side_of_index, Book, LevelSlot, NIL};
use crate::ids::{IdMap, Probe, MAX_ORDERS};
use crate::{BookConfig, BookCounters, BookError, Execution};

/// One resting order: 32 bytes, two per cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node {
    id: u64,
    price: i64,
    /// Remaining shares; `u32` like ITCH, so the node fits 32 bytes.
    qty: u32,
    /// Previous order in the level's FIFO (towards the head), or `NIL`.
    prev: u32,
    /// Next order in the level's FIFO, or `NIL`; next free node when free.
    next: u32,
    instrument: u16,
    /// 0 = buy, 1 = sell.
    side: u8,
}

const _: () = assert!(size_of::<Node>() == 32);

impl Node {
    const FREE: Self = Self {
        id: 0,
        price: 0,
        qty: 0,
        prev: NIL,
        next: NIL,
        instrument: 0,
        side: 0,
    };
}

/// Where [`BookSet::order_hint`] found an order's node (a hint only: the
/// stages that take it check the node still holds that order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderHint(u32);

impl OrderHint {
    /// No node: the stages that take it do nothing.
    pub const NONE: Self = Self(NIL);
}

/// What the last successful add, execute, cancel, delete or replace did to
/// the touch (best level) of the side it changed, so a caller that reacts
/// only to touch changes need not read the BBO after every event. Never
/// misses a change; a replace that leaves and rejoins the best level may
/// report one that netted out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touch(u8);

impl Touch {
    /// The touch did not change.
    pub const NONE: Self = Self(0);
    /// The best level's quantity changed (its price did not).
    pub const SIZE: Self = Self(1);
    /// A best level appeared or emptied: the best price changed.
    pub const PRICE: Self = Self(PRICE_BIT);

    /// Whether the best price (or whether the side has one) may have changed.
    #[inline(always)]
    #[must_use]
    pub const fn price(self) -> bool {
        self.0 & PRICE_BIT != 0
    }

    /// Whether the best price or the best level's quantity may have changed.
    #[inline(always)]
    #[must_use]
    pub const fn any(self) -> bool {
        self.0 != 0
    }

    /// A change to the level at `best` (the best one) or not: a level that
    /// appeared or emptied (`level_changed`) moves the price, else the size.
    /// Branch-free: `SIZE` is 1, `PRICE` is 2 (measured cheaper than
    /// setting a separate "any change" bit).
    #[inline(always)]
    const fn at_best(best: bool, level_changed: bool) -> Self {
        Self((best as u8) << (level_changed as u8))
    }

    #[inline(always)]
    const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// [`Touch`]'s bit for a best price change (bit 0: a best size change).
const PRICE_BIT: u8 = 2;

/// A live order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Instrument the order rests in.
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Remaining quantity.
    pub qty: Qty,
}

/// Validates a resting quantity.
#[inline(always)]
fn resting_qty(qty: Qty) -> Option<u32> {
    match u32::try_from(qty.0) {
        Ok(q) if q != 0 => Some(q),
        _ => None,
    }
}

/// Every instrument's book plus the order slab and id map they share.
pub struct BookSet {
    /// The slab, fully initialised (and so faulted in, on huge pages where the
    /// OS allows) at construction; free nodes chain through `next`.
    nodes: HugeSlice<Node>,
    free_head: u32,
    live: usize,
    /// Order id -> slab index; a tag match is confirmed against `nodes[slot].id`.
    ids: IdMap,
    books: Vec<Book>,
    levels_per_side: usize,
    counters: BookCounters,
    /// What the last successful event did to the touch of its side.
    touch: Touch,
}

impl fmt::Debug for BookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BookSet")
            .field("live_orders", &self.live)
            .field("max_orders", &self.nodes.len())
            .field("instruments", &self.books.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl BookSet {
    /// Builds the slab (touching all of its memory now), the id map and the
    /// instrument table. `max_orders` is capped at 2^30 and
    /// `max_instruments` at 65,536.
    #[must_use]
    pub fn new(config: BookConfig) -> Self {
        let max_orders = config.max_orders.min(MAX_ORDERS);
        let max_instruments = config.max_instruments.min(usize::from(u16::MAX) + 1);
        let nodes = HugeSlice::from_fn(max_orders, |i| Node {
            next: if i + 1 < max_orders {
                (i + 1) as u32
            } else {
                NIL
            },
            ..Node::FREE
        });
        let books = (0..max_instruments)
            .map(|i| Book::new(InstrumentId(i as u16)))
            .collect();
        Self {
            nodes,
            free_head: if max_orders > 0 { 0 } else { NIL },
            live: 0,
            ids: IdMap::new(max_orders),
            books,
            levels_per_side: config.levels_per_side,
            counters: BookCounters::default(),
            touch: Touch::NONE,
        }
    }

    /// Activates an instrument now (reserving its levels) instead of on its first add.
    pub fn warm_instrument(&mut self, instrument: InstrumentId) -> Result<(), BookError> {
        let Some(book) = self.books.get_mut(usize::from(instrument.0)) else {
            return Err(BookError::UnknownInstrument(instrument));
        };
        if !book.active {
            book.activate(self.levels_per_side);
        }
        Ok(())
    }

    /// Adds an order at the tail of its price level's queue.
    pub fn add(
        &mut self,
        instrument: InstrumentId,
        id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), BookError> {
        let Some(q) = resting_qty(qty) else {
            self.counters.invalid_qty += 1;
            return Err(BookError::InvalidQty);
        };
        let Some(book) = self.books.get_mut(usize::from(instrument.0)) else {
            self.counters.unknown_instrument += 1;
            return Err(BookError::UnknownInstrument(instrument));
        };
        let nodes = &self.nodes;
        let (Probe::Vacant(bucket), tag) = self.ids.probe(id.0, |s| nodes[s as usize].id) else {
            self.counters.duplicate_order += 1;
            return Err(BookError::DuplicateOrder(id));
        };
        let slot = self.free_head;
        let Some(node) = self.nodes.get_mut(slot as usize) else {
            self.counters.capacity_exceeded += 1;
            return Err(BookError::CapacityExceeded);
        };
        if !book.active {
            // First order of this instrument: the only allocation of a normal day.
            book.activate(self.levels_per_side);
        }
        self.free_head = node.next;
        *node = Node {
            id: id.0,
            price: price.0,
            qty: q,
            prev: NIL,
            next: NIL,
            instrument: instrument.0,
            side: side_index(side),
        };
        self.ids.fill(bucket, tag, slot);
        self.touch = self.attach(slot);
        self.live += 1;
        self.counters.adds += 1;
        Ok(())
    }

    /// Executes `qty` against an order; removes it at zero. More than the
    /// remaining quantity removes it and counts an overfill.
    #[inline]
    pub fn execute(&mut self, id: OrderId, qty: Qty) -> Result<Execution, BookError> {
        let done = self.reduce(id, qty)?;
        self.counters.executes += 1;
        Ok(done)
    }

    /// Cancels `qty` of an order (a partial cancel keeps queue priority); removes it at zero.
    #[inline]
    pub fn cancel(&mut self, id: OrderId, qty: Qty) -> Result<Execution, BookError> {
        let done = self.reduce(id, qty)?;
        self.counters.cancels += 1;
        Ok(done)
    }

    /// Removes an order entirely.
    pub fn delete(&mut self, id: OrderId) -> Result<Execution, BookError> {
        let Some(bucket) = self.find(id) else {
            self.counters.unknown_order += 1;
            return Err(BookError::UnknownOrder(id));
        };
        let slot = self.ids.slot(bucket);
        self.ids.remove(bucket);
        let node = self.nodes[slot as usize];
        self.touch = self.detach(slot);
        self.release(slot);
        self.counters.deletes += 1;
        Ok(execution(&node, u64::from(node.qty), 0))
    }

    /// ITCH `U`: removes `old` and adds `new` at the tail of the level at
    /// `price`, same instrument and side. `new` must not be live (not even equal
    /// to `old`). Returns what was removed: the old price and remaining qty.
    pub fn replace(
        &mut self,
        old: OrderId,
        new: OrderId,
        price: Price,
        qty: Qty,
    ) -> Result<Execution, BookError> {
        let Some(q) = resting_qty(qty) else {
            self.counters.invalid_qty += 1;
            return Err(BookError::InvalidQty);
        };
        let Some(bucket) = self.find(old) else {
            self.counters.unknown_order += 1;
            return Err(BookError::UnknownOrder(old));
        };
        let nodes = &self.nodes;
        let (Probe::Vacant(vacant), tag) = self.ids.probe(new.0, |s| nodes[s as usize].id) else {
            self.counters.duplicate_order += 1;
            return Err(BookError::DuplicateOrder(new));
        };
        let slot = self.ids.slot(bucket);
        // The new id takes the vacant bucket its probe found before the old
        // one's bucket is emptied: filling a bucket moves no other entry (the
        // old one stays where `find` saw it), and the removal's backward shift
        // then keeps every run, the new id's included, reachable.
        self.ids.fill(vacant, tag, slot);
        self.ids.remove(bucket);
        let before = self.nodes[slot as usize];
        let left = self.detach(slot);
        let node = &mut self.nodes[slot as usize];
        node.id = new.0;
        node.price = price.0;
        node.qty = q;
        self.touch = left.union(self.attach(slot));
        self.counters.replaces += 1;
        Ok(execution(&before, u64::from(before.qty), 0))
    }

    /// Prefetch hint, first stage for any event naming `id` (including the id of
    /// an add or a replace's new id): starts loading its id-map line.
    ///
    /// Like every `prefetch_*` method this is only a hint: it reads nothing that
    /// is not already valid, never fails, and changes no state or result. Issue
    /// it a few events ahead of the event itself (see the engine's pipeline).
    #[inline(always)]
    pub fn prefetch_id(&self, id: OrderId) {
        self.ids.prefetch(id.0);
    }

    /// Prefetch hint, second stage for an event on a live order `id`: reads
    /// its id-map bucket (cheap once [`Self::prefetch_id`] brought it in) and
    /// starts loading the order's node.
    #[inline(always)]
    pub fn prefetch_order(&self, id: OrderId) {
        self.order_hint(id);
    }

    /// [`Self::prefetch_order`], returning where it looked: the later stages
    /// take the [`OrderHint`] instead of probing the id map again.
    #[inline(always)]
    pub fn order_hint(&self, id: OrderId) -> OrderHint {
        let slot = self.ids.peek(id.0).unwrap_or(NIL);
        if let Some(node) = self.nodes.get(slot as usize) {
            prefetch_write(node);
        }
        OrderHint(slot)
    }

    /// Prefetch hint, third stage for an event on a live order `id`: reads its
    /// node (cheap once [`Self::prefetch_order`] brought it in) and starts
    /// loading its queue neighbours and its instrument's `Book` line.
    #[inline(always)]
    pub fn prefetch_order_links(&self, id: OrderId) {
        self.prefetch_order_links_at(OrderHint(self.ids.peek(id.0).unwrap_or(NIL)), id);
    }

    /// [`Self::prefetch_order_links`] from an [`OrderHint`] of the same id.
    #[inline(always)]
    pub fn prefetch_order_links_at(&self, hint: OrderHint, id: OrderId) {
        let Some(node) = self.nodes.get(hint.0 as usize) else {
            return;
        };
        if node.id != id.0 {
            return;
        }
        if let Some(prev) = self.nodes.get(node.prev as usize) {
            prefetch_write(prev);
        }
        if let Some(next) = self.nodes.get(node.next as usize) {
            prefetch_write(next);
        }
        if let Some(book) = self.books.get(usize::from(node.instrument)) {
            prefetch_read(book);
        }
    }

    /// Prefetch hint, fourth stage for an event on a live order `id`: reads its
    /// node and its instrument's `Book` line (cheap once
    /// [`Self::prefetch_order_links`] brought them in) and starts loading the
    /// level slots near the touch of its side, where the level search starts.
    #[inline(always)]
    pub fn prefetch_order_level(&self, id: OrderId) {
        self.prefetch_order_level_at(OrderHint(self.ids.peek(id.0).unwrap_or(NIL)), id);
    }

    /// [`Self::prefetch_order_level`] from an [`OrderHint`] of the same id.
    #[inline(always)]
    pub fn prefetch_order_level_at(&self, hint: OrderHint, id: OrderId) {
        let Some(node) = self.nodes.get(hint.0 as usize) else {
            return;
        };
        if node.id == id.0 {
            self.prefetch_level(InstrumentId(node.instrument), side_of_index(node.side));
        }
    }

    /// Prefetch hint, last stage for an add at `price`: finds the level (cheap
    /// once [`Self::prefetch_level`] brought the touch in) and starts loading
    /// the order at the tail of its queue, which the add links behind, and
    /// the free node the add will take.
    #[inline(always)]
    pub fn prefetch_add_tail(&self, instrument: InstrumentId, side: Side, price: Price) {
        if let Some(free) = self.nodes.get(self.free_head as usize) {
            prefetch_write(free);
        }
        let Some(book) = self.books.get(usize::from(instrument.0)) else {
            return;
        };
        let s = side_index(side);
        let levels = &book.sides[usize::from(s)];
        let Ok(i) = find_level(levels, key_of(s, price.0)) else {
            return;
        };
        if let Some(tail) = levels.get(i).and_then(|l| self.nodes.get(l.tail as usize)) {
            prefetch_write(tail);
        }
    }

    /// Prefetch hint for an instrument about to receive an add: starts loading
    /// its `Book` line.
    #[inline(always)]
    pub fn prefetch_book(&self, instrument: InstrumentId) {
        if let Some(book) = self.books.get(usize::from(instrument.0)) {
            prefetch_read(book);
        }
    }

    /// Prefetch hint for an add: reads the instrument's `Book` line
    /// (cheap once [`Self::prefetch_book`] brought it in) and starts loading the
    /// level slots near the touch of that side, where almost every add lands.
    #[inline(always)]
    pub fn prefetch_level(&self, instrument: InstrumentId, side: Side) {
        let Some(book) = self.books.get(usize::from(instrument.0)) else {
            return;
        };
        let levels = &book.sides[usize::from(side_index(side))];
        let n = levels.len();
        if let Some(best) = levels.get(n.wrapping_sub(1)) {
            prefetch_write(best);
        }
        if let Some(near) = levels.get(n.wrapping_sub(3)) {
            prefetch_write(near);
        }
    }

    /// A live order, if `id` names one.
    #[inline]
    #[must_use]
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        let slot = self.ids.slot(self.find(id)?);
        let n = &self.nodes[slot as usize];
        Some(OrderView {
            instrument: InstrumentId(n.instrument),
            side: side_of_index(n.side),
            price: Price(n.price),
            qty: Qty(u64::from(n.qty)),
        })
    }

    /// One instrument's book, once it has been activated by an add or [`Self::warm_instrument`].
    #[inline]
    #[must_use]
    pub fn book(&self, instrument: InstrumentId) -> Option<&Book> {
        self.books
            .get(usize::from(instrument.0))
            .filter(|b| b.active)
    }

    /// The FIFO queue at one price level, head (first to trade) first.
    pub fn queue(
        &self,
        instrument: InstrumentId,
        side: Side,
        price: Price,
    ) -> impl Iterator<Item = (OrderId, Qty)> + '_ {
        let head = self
            .books
            .get(usize::from(instrument.0))
            .and_then(|b| b.queue_head(side, price))
            .unwrap_or(NIL);
        QueueIter {
            nodes: &self.nodes,
            cur: head,
        }
    }

    /// Live orders across all instruments.
    #[inline]
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.live
    }

    /// Most orders that can live at once.
    #[inline]
    #[must_use]
    pub fn max_orders(&self) -> usize {
        self.nodes.len()
    }

    /// What the last successful add, execute, cancel, delete or replace did
    /// to the touch of its side (unchanged by a refused event).
    #[inline(always)]
    #[must_use]
    pub const fn last_touch(&self) -> Touch {
        self.touch
    }

    /// Event and anomaly counts.
    #[inline]
    #[must_use]
    pub fn counters(&self) -> BookCounters {
        self.counters
    }

    /// Bytes reserved by the order slab and the id map (the per-order cost).
    #[must_use]
    pub fn order_index_bytes(&self) -> usize {
        self.nodes.reserved_bytes() + self.ids.bytes()
    }

    /// Bytes of the slab and id map the kernel was asked to back with
    /// transparent huge pages (0 off Linux, or when the advice was refused).
    #[must_use]
    pub fn huge_page_bytes(&self) -> usize {
        self.nodes.advice().advised_bytes + self.ids.huge_page_advice().advised_bytes
    }

    /// Bytes reserved by slab, id map, instrument table and level vectors.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.order_index_bytes()
            + self.books.capacity() * size_of::<Book>()
            + self.books.iter().map(Book::reserved_bytes).sum::<usize>()
    }

    /// The id map bucket of a live order.
    #[inline(always)]
    fn find(&self, id: OrderId) -> Option<usize> {
        let nodes = &self.nodes;
        match self.ids.probe(id.0, |s| nodes[s as usize].id) {
            (Probe::Found(bucket), _) => Some(bucket),
            (Probe::Vacant(_), _) => None,
        }
    }

    /// Shared body of execute and cancel.
    #[inline(always)]
    fn reduce(&mut self, id: OrderId, qty: Qty) -> Result<Execution, BookError> {
        if qty.0 == 0 {
            self.counters.invalid_qty += 1;
            return Err(BookError::InvalidQty);
        }
        let Some(bucket) = self.find(id) else {
            self.counters.unknown_order += 1;
            return Err(BookError::UnknownOrder(id));
        };
        let slot = self.ids.slot(bucket);
        let node = self.nodes[slot as usize];
        let resting = u64::from(node.qty);
        if qty.0 >= resting {
            if qty.0 > resting {
                self.counters.overfill += 1;
            }
            self.ids.remove(bucket);
            self.touch = self.detach(slot);
            self.release(slot);
            return Ok(execution(&node, resting, 0));
        }
        // Partial: the order keeps its place in the queue.
        let left = node.qty - qty.0 as u32;
        self.nodes[slot as usize].qty = left;
        let s = node.side;
        let levels = &mut self.books[usize::from(node.instrument)].sides[usize::from(s)];
        self.touch = match find_level(levels, key_of(s, node.price)) {
            Ok(i) => {
                levels[i].qty -= qty.0;
                if i + 1 == levels.len() {
                    Touch::SIZE
                } else {
                    Touch::NONE
                }
            }
            Err(_) => {
                debug_assert!(false, "live order without a level");
                Touch::NONE
            }
        };
        Ok(execution(&node, qty.0, u64::from(left)))
    }

    /// Links a filled-in node at the tail of its level, creating the level if
    /// needed; returns what that did to the touch.
    #[inline(always)]
    fn attach(&mut self, slot: u32) -> Touch {
        let node = self.nodes[slot as usize];
        let s = node.side;
        let book = &mut self.books[usize::from(node.instrument)];
        let levels = &mut book.sides[usize::from(s)];
        let key = key_of(s, node.price);
        let (i, fresh) = match find_level(levels, key) {
            Ok(i) => (i, false),
            Err(at) => {
                if levels.len() == levels.capacity() {
                    self.counters.level_growths += 1;
                }
                levels.insert(at, LevelSlot::empty(key));
                (at, true)
            }
        };
        let touch = Touch::at_best(i + 1 == levels.len(), fresh);
        let level = &mut levels[i];
        let tail = level.tail;
        {
            let n = &mut self.nodes[slot as usize];
            n.prev = tail;
            n.next = NIL;
        }
        if tail == NIL {
            level.head = slot;
        } else {
            self.nodes[tail as usize].next = slot;
        }
        level.tail = slot;
        level.qty += u64::from(node.qty);
        level.count += 1;
        book.orders += 1;
        touch
    }

    /// Unlinks a node from its level, dropping the level when it empties;
    /// returns what that did to the touch.
    #[inline(always)]
    fn detach(&mut self, slot: u32) -> Touch {
        let node = self.nodes[slot as usize];
        let s = node.side;
        let book = &mut self.books[usize::from(node.instrument)];
        let levels = &mut book.sides[usize::from(s)];
        let Ok(i) = find_level(levels, key_of(s, node.price)) else {
            debug_assert!(false, "live order without a level");
            return Touch::NONE;
        };
        let best = i + 1 == levels.len();
        let level = &mut levels[i];
        if node.prev == NIL {
            level.head = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next == NIL {
            level.tail = node.prev;
        } else {
            self.nodes[node.next as usize].prev = node.prev;
        }
        level.qty -= u64::from(node.qty);
        level.count -= 1;
        let emptied = level.count == 0;
        if emptied {
            levels.remove(i);
        }
        book.orders -= 1;
        Touch::at_best(best, emptied)
    }

    /// Returns a detached node to the free list.
    #[inline(always)]
    fn release(&mut self, slot: u32) {
        self.nodes[slot as usize].next = self.free_head;
        self.free_head = slot;
        self.live -= 1;
    }
}

#[inline(always)]
fn execution(node: &Node, qty: u64, remaining: u64) -> Execution {
    Execution {
        instrument: InstrumentId(node.instrument),
        side: side_of_index(node.side),
        price: Price(node.price),
        qty: Qty(qty),
        remaining: Qty(remaining),
    }
}

/// Walks a level's FIFO through the slab.
struct QueueIter<'a> {
    nodes: &'a [Node],
    cur: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = (OrderId, Qty);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.nodes.get(self.cur as usize)?;
        self.cur = n.next;
        Some((OrderId(n.id), Qty(u64::from(n.qty))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bbo, Level};

    const AAPL: InstrumentId = InstrumentId(1);
    const MSFT: InstrumentId = InstrumentId(2);

    fn set(max_orders: usize) -> BookSet {
        BookSet::new(BookConfig {
            max_orders,
            max_instruments: 16,
            levels_per_side: 4,
        })
    }

    fn queue(s: &BookSet, inst: InstrumentId, side: Side, px: i64) -> Vec<(u64, u64)> {
        s.queue(inst, side, Price(px))
            .map(|(id, q)| (id.0, q.0))
            .collect()
    }

    fn lvl(price: i64, qty: u64, count: u32) -> Level {
        Level {
            price: Price(price),
            qty: Qty(qty),
            count,
        }
    }

    #[test]
    fn node_is_32_bytes() {
        assert_eq!(size_of::<Node>(), 32);
    }

    #[test]
    fn adds_build_sorted_levels_and_bbo() {
        let mut s = set(64);
        for (id, side, px, q) in [
            (1, Side::Buy, 100, 10),
            (2, Side::Buy, 101, 5),
            (3, Side::Buy, 99, 7),
            (4, Side::Sell, 103, 3),
            (5, Side::Sell, 102, 4),
            (6, Side::Sell, 102, 6),
        ] {
            s.add(AAPL, OrderId(id), side, Price(px), Qty(q)).unwrap();
        }
        let b = s.book(AAPL).unwrap();
        assert_eq!(
            b.bbo(),
            Bbo {
                bid: Some(lvl(101, 5, 1)),
                ask: Some(lvl(102, 10, 2))
            }
        );
        let bids: Vec<_> = b.levels(Side::Buy).collect();
        assert_eq!(bids, vec![lvl(101, 5, 1), lvl(100, 10, 1), lvl(99, 7, 1)]);
        let mut out = [lvl(0, 0, 0); 2];
        assert_eq!(b.depth(Side::Sell, &mut out), 2);
        assert_eq!(out, [lvl(102, 10, 2), lvl(103, 3, 1)]);
        assert_eq!(b.level_count(Side::Buy), 3);
        assert_eq!(b.order_count(), 6);
        assert_eq!(s.live_orders(), 6);
        assert!(s.book(MSFT).is_none());
        assert_eq!(queue(&s, AAPL, Side::Sell, 102), vec![(5, 4), (6, 6)]);
    }

    #[test]
    fn touch_reports_best_level_changes_and_ignores_deeper_levels() {
        let mut s = set(16);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        assert_eq!(s.last_touch(), Touch::PRICE);
        s.add(AAPL, OrderId(2), Side::Buy, Price(99), Qty(10))
            .unwrap();
        assert_eq!(s.last_touch(), Touch::NONE);
        s.add(AAPL, OrderId(3), Side::Buy, Price(100), Qty(5))
            .unwrap();
        assert_eq!(s.last_touch(), Touch::SIZE);
        s.cancel(OrderId(2), Qty(4)).unwrap();
        assert_eq!(s.last_touch(), Touch::NONE);
        s.execute(OrderId(1), Qty(4)).unwrap();
        assert_eq!(s.last_touch(), Touch::SIZE);
        s.delete(OrderId(1)).unwrap();
        assert_eq!(s.last_touch(), Touch::SIZE);
        // The last order of the best level leaves: the best price moves to 99.
        s.execute(OrderId(3), Qty(5)).unwrap();
        assert_eq!(s.last_touch(), Touch::PRICE);
        // A deeper order replaced onto a new best level.
        s.add(AAPL, OrderId(4), Side::Buy, Price(98), Qty(1))
            .unwrap();
        s.replace(OrderId(4), OrderId(5), Price(101), Qty(1))
            .unwrap();
        assert!(s.last_touch().price());
        // A refused event leaves the last report as it was.
        assert!(s.delete(OrderId(77)).is_err());
        assert!(s.last_touch().price());
        assert!(!Touch::NONE.any() && Touch::SIZE.any() && !Touch::SIZE.price());
    }

    #[test]
    fn partial_cancel_keeps_queue_priority() {
        let mut s = set(8);
        for id in 1..=3 {
            s.add(AAPL, OrderId(id), Side::Buy, Price(100), Qty(10))
                .unwrap();
        }
        let done = s.cancel(OrderId(1), Qty(4)).unwrap();
        assert_eq!((done.qty, done.remaining), (Qty(4), Qty(6)));
        assert_eq!(
            queue(&s, AAPL, Side::Buy, 100),
            vec![(1, 6), (2, 10), (3, 10)]
        );
        assert_eq!(s.book(AAPL).unwrap().best(Side::Buy), Some(lvl(100, 26, 3)));
    }

    #[test]
    fn delete_from_middle_of_queue_relinks_neighbours() {
        let mut s = set(8);
        for id in 1..=4 {
            s.add(AAPL, OrderId(id), Side::Sell, Price(50), Qty(id))
                .unwrap();
        }
        s.delete(OrderId(2)).unwrap();
        s.delete(OrderId(4)).unwrap();
        assert_eq!(queue(&s, AAPL, Side::Sell, 50), vec![(1, 1), (3, 3)]);
        s.add(AAPL, OrderId(5), Side::Sell, Price(50), Qty(5))
            .unwrap();
        s.delete(OrderId(1)).unwrap();
        assert_eq!(queue(&s, AAPL, Side::Sell, 50), vec![(3, 3), (5, 5)]);
        assert_eq!(s.book(AAPL).unwrap().best(Side::Sell), Some(lvl(50, 8, 2)));
    }

    #[test]
    fn replace_moves_order_to_tail_of_new_level() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Buy, Price(100), Qty(20))
            .unwrap();
        s.add(AAPL, OrderId(3), Side::Buy, Price(101), Qty(30))
            .unwrap();
        let done = s
            .replace(OrderId(1), OrderId(9), Price(101), Qty(15))
            .unwrap();
        assert_eq!(done.price, Price(100));
        assert_eq!((done.qty, done.remaining), (Qty(10), Qty::ZERO));
        assert_eq!(queue(&s, AAPL, Side::Buy, 101), vec![(3, 30), (9, 15)]);
        assert_eq!(queue(&s, AAPL, Side::Buy, 100), vec![(2, 20)]);
        assert!(s.order(OrderId(1)).is_none());
        let view = s.order(OrderId(9)).unwrap();
        assert_eq!(
            (view.instrument, view.side, view.price, view.qty),
            (AAPL, Side::Buy, Price(101), Qty(15))
        );
        assert_eq!(s.live_orders(), 3);
    }

    #[test]
    fn replace_at_same_price_loses_priority() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Sell, Price(100), Qty(10))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Sell, Price(100), Qty(20))
            .unwrap();
        s.replace(OrderId(1), OrderId(3), Price(100), Qty(10))
            .unwrap();
        assert_eq!(queue(&s, AAPL, Side::Sell, 100), vec![(2, 20), (3, 10)]);
    }

    #[test]
    fn replace_to_live_id_is_refused_and_changes_nothing() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        s.add(MSFT, OrderId(2), Side::Buy, Price(100), Qty(20))
            .unwrap();
        assert_eq!(
            s.replace(OrderId(1), OrderId(2), Price(99), Qty(5)),
            Err(BookError::DuplicateOrder(OrderId(2)))
        );
        assert_eq!(
            s.replace(OrderId(1), OrderId(1), Price(99), Qty(5)),
            Err(BookError::DuplicateOrder(OrderId(1)))
        );
        assert_eq!(
            s.replace(OrderId(7), OrderId(2), Price(99), Qty(5)),
            Err(BookError::UnknownOrder(OrderId(7)))
        );
        assert_eq!(queue(&s, AAPL, Side::Buy, 100), vec![(1, 10)]);
        assert_eq!(s.counters().duplicate_order, 2);
        assert_eq!(s.counters().unknown_order, 1);
    }

    #[test]
    fn execute_partial_then_full_removes_order_and_level() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Sell, Price(100), Qty(10))
            .unwrap();
        let e = s.execute(OrderId(1), Qty(3)).unwrap();
        assert_eq!(
            e,
            Execution {
                instrument: AAPL,
                side: Side::Sell,
                price: Price(100),
                qty: Qty(3),
                remaining: Qty(7)
            }
        );
        let e = s.execute(OrderId(1), Qty(7)).unwrap();
        assert_eq!((e.qty, e.remaining), (Qty(7), Qty::ZERO));
        assert_eq!(s.book(AAPL).unwrap().bbo(), Bbo::default());
        assert_eq!(s.live_orders(), 0);
        assert_eq!(s.counters().overfill, 0);
    }

    #[test]
    fn execute_more_than_remaining_removes_and_counts_overfill() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Buy, Price(100), Qty(5))
            .unwrap();
        let e = s.execute(OrderId(1), Qty(25)).unwrap();
        assert_eq!((e.qty, e.remaining), (Qty(10), Qty::ZERO));
        assert_eq!(s.counters().overfill, 1);
        assert!(s.order(OrderId(1)).is_none());
        assert_eq!(s.book(AAPL).unwrap().best(Side::Buy), Some(lvl(100, 5, 1)));
        let c = s.cancel(OrderId(2), Qty(6)).unwrap();
        assert_eq!((c.qty, c.remaining), (Qty(5), Qty::ZERO));
        assert_eq!(s.counters().overfill, 2);
        assert_eq!(s.live_orders(), 0);
    }

    #[test]
    fn unknown_order_events_are_counted_not_fatal() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        assert_eq!(
            s.execute(OrderId(2), Qty(1)),
            Err(BookError::UnknownOrder(OrderId(2)))
        );
        assert_eq!(
            s.cancel(OrderId(2), Qty(1)),
            Err(BookError::UnknownOrder(OrderId(2)))
        );
        assert_eq!(
            s.delete(OrderId(2)),
            Err(BookError::UnknownOrder(OrderId(2)))
        );
        s.delete(OrderId(1)).unwrap();
        assert_eq!(
            s.delete(OrderId(1)),
            Err(BookError::UnknownOrder(OrderId(1)))
        );
        assert_eq!(s.counters().unknown_order, 4);
        assert_eq!(s.counters().deletes, 1);
        assert_eq!(s.live_orders(), 0);
    }

    #[test]
    fn duplicate_add_is_refused_even_across_instruments() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        assert_eq!(
            s.add(MSFT, OrderId(1), Side::Sell, Price(5), Qty(1)),
            Err(BookError::DuplicateOrder(OrderId(1)))
        );
        assert_eq!(s.counters().duplicate_order, 1);
        assert_eq!(s.live_orders(), 1);
        assert!(s.book(MSFT).is_none());
    }

    #[test]
    fn capacity_exhausted_is_an_error_not_a_panic() {
        let mut s = set(2);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(1))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Buy, Price(100), Qty(1))
            .unwrap();
        assert_eq!(
            s.add(AAPL, OrderId(3), Side::Buy, Price(100), Qty(1)),
            Err(BookError::CapacityExceeded)
        );
        assert_eq!(s.counters().capacity_exceeded, 1);
        // A replace at capacity reuses the old node and succeeds.
        s.replace(OrderId(1), OrderId(4), Price(101), Qty(2))
            .unwrap();
        s.delete(OrderId(2)).unwrap();
        s.add(AAPL, OrderId(3), Side::Buy, Price(100), Qty(1))
            .unwrap();
        assert_eq!(s.live_orders(), 2);
        let mut empty = set(0);
        assert_eq!(
            empty.add(AAPL, OrderId(1), Side::Buy, Price(1), Qty(1)),
            Err(BookError::CapacityExceeded)
        );
    }

    #[test]
    fn refused_add_leaves_books_untouched() {
        let mut s = set(1);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(1))
            .unwrap();
        assert!(s
            .add(MSFT, OrderId(1), Side::Buy, Price(100), Qty(1))
            .is_err());
        assert!(s
            .add(MSFT, OrderId(2), Side::Buy, Price(100), Qty(1))
            .is_err());
        assert!(s
            .add(MSFT, OrderId(3), Side::Buy, Price(100), Qty(0))
            .is_err());
        assert!(s.book(MSFT).is_none());
        assert_eq!(s.live_orders(), 1);
    }

    #[test]
    fn invalid_qty_and_instrument_are_refused() {
        let mut s = set(4);
        assert_eq!(
            s.add(AAPL, OrderId(1), Side::Buy, Price(1), Qty(0)),
            Err(BookError::InvalidQty)
        );
        assert_eq!(
            s.add(
                AAPL,
                OrderId(1),
                Side::Buy,
                Price(1),
                Qty(u64::from(u32::MAX) + 1)
            ),
            Err(BookError::InvalidQty)
        );
        assert_eq!(
            s.add(InstrumentId(16), OrderId(1), Side::Buy, Price(1), Qty(1)),
            Err(BookError::UnknownInstrument(InstrumentId(16)))
        );
        s.add(
            AAPL,
            OrderId(1),
            Side::Buy,
            Price(1),
            Qty(u64::from(u32::MAX)),
        )
        .unwrap();
        assert_eq!(s.execute(OrderId(1), Qty(0)), Err(BookError::InvalidQty));
        assert_eq!(
            s.replace(OrderId(1), OrderId(2), Price(1), Qty(0)),
            Err(BookError::InvalidQty)
        );
        assert_eq!(s.counters().invalid_qty, 4);
        assert_eq!(s.counters().unknown_instrument, 1);
        assert_eq!(s.order(OrderId(1)).unwrap().qty, Qty(u64::from(u32::MAX)));
    }

    #[test]
    fn extreme_prices_sort_correctly() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Sell, Price::MAX, Qty(1))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Sell, Price::MIN, Qty(1))
            .unwrap();
        s.add(AAPL, OrderId(3), Side::Buy, Price::MIN, Qty(1))
            .unwrap();
        s.add(AAPL, OrderId(4), Side::Buy, Price(-5), Qty(1))
            .unwrap();
        let b = s.book(AAPL).unwrap();
        assert_eq!(b.best(Side::Sell).unwrap().price, Price::MIN);
        assert_eq!(b.best(Side::Buy).unwrap().price, Price(-5));
    }

    #[test]
    fn more_levels_than_reserved_grow_and_are_counted() {
        let mut s = set(64);
        for i in 0..10 {
            s.add(AAPL, OrderId(i), Side::Buy, Price(100 + i as i64), Qty(1))
                .unwrap();
        }
        assert_eq!(s.book(AAPL).unwrap().level_count(Side::Buy), 10);
        assert!(s.counters().level_growths >= 1);
        let prices: Vec<i64> = s
            .book(AAPL)
            .unwrap()
            .levels(Side::Buy)
            .map(|l| l.price.0)
            .collect();
        assert_eq!(prices, (100..110).rev().collect::<Vec<_>>());
    }

    #[test]
    fn slots_are_recycled_without_growth() {
        let mut s = set(4);
        s.warm_instrument(AAPL).unwrap();
        let before = s.memory_bytes();
        for round in 0..1000_u64 {
            for k in 0..4 {
                s.add(
                    AAPL,
                    OrderId(round * 4 + k),
                    Side::Buy,
                    Price(100 + (k as i64)),
                    Qty(1),
                )
                .unwrap();
            }
            for k in 0..4 {
                s.delete(OrderId(round * 4 + k)).unwrap();
            }
        }
        assert_eq!(s.live_orders(), 0);
        assert_eq!(s.memory_bytes(), before);
    }

    #[test]
    fn prefetch_hints_never_fail_and_change_nothing() {
        let mut s = set(8);
        s.add(AAPL, OrderId(1), Side::Buy, Price(100), Qty(10))
            .unwrap();
        s.add(AAPL, OrderId(2), Side::Buy, Price(100), Qty(5))
            .unwrap();
        let before = (
            s.counters(),
            s.live_orders(),
            queue(&s, AAPL, Side::Buy, 100),
        );
        for id in [0, 1, 2, 3, u64::MAX] {
            s.prefetch_id(OrderId(id));
            s.prefetch_order(OrderId(id));
            s.prefetch_order_links(OrderId(id));
            s.prefetch_order_level(OrderId(id));
        }
        for inst in [AAPL, MSFT, InstrumentId(u16::MAX)] {
            for side in [Side::Buy, Side::Sell] {
                s.prefetch_book(inst);
                s.prefetch_level(inst, side);
                for px in [Price(100), Price(1), Price::MIN] {
                    s.prefetch_add_tail(inst, side, px);
                }
            }
        }
        let mut empty = set(0);
        empty.prefetch_order_links(OrderId(1));
        empty.prefetch_add_tail(AAPL, Side::Sell, Price(1));
        assert_eq!(
            (
                s.counters(),
                s.live_orders(),
                queue(&s, AAPL, Side::Buy, 100)
            ),
            before
        );
        assert!(empty
            .add(AAPL, OrderId(1), Side::Buy, Price(1), Qty(1))
            .is_err());
    }

    #[test]
    fn warm_instrument_activates_empty_book() {
        let mut s = set(4);
        assert!(s.book(MSFT).is_none());
        s.warm_instrument(MSFT).unwrap();
        assert_eq!(s.book(MSFT).unwrap().bbo(), Bbo::default());
        assert_eq!(
            s.warm_instrument(InstrumentId(99)),
            Err(BookError::UnknownInstrument(InstrumentId(99)))
        );
        assert_eq!(s.queue(MSFT, Side::Buy, Price(1)).count(), 0);
        assert_eq!(s.queue(InstrumentId(999), Side::Buy, Price(1)).count(), 0);
    }
}
