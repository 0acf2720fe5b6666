//! The generator's own record of live orders: a slab of orders, a dense list of
//! live slots for O(1) uniform picks, and per instrument and side a price-ordered
//! map of FIFO levels (intrusive lists through the slab) so executions can hit
//! the oldest order at the best price.

use std::collections::BTreeMap;

use quotewire_core::Side;

/// "No slot" marker for the intrusive lists.
const NIL: u32 = u32::MAX;

/// One live order as the generator tracks it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Order {
    pub(crate) order_ref: u64,
    pub(crate) price: u32,
    pub(crate) shares: u32,
    /// Index of the instrument (stock locate - 1).
    pub(crate) instrument: u16,
    pub(crate) side: Side,
    prev: u32,
    next: u32,
    /// Position of this slot in [`Orders::live`].
    live_pos: u32,
}

/// Head and tail slots of the FIFO queue at one price.
#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
}

/// Bids and asks of one instrument: price -> FIFO level.
#[derive(Debug, Default)]
pub(crate) struct Ladder {
    sides: [BTreeMap<u32, Level>; 2],
}

impl Ladder {
    /// Best bid price, if any.
    pub(crate) fn best_bid(&self) -> Option<u32> {
        self.sides[Side::Buy.index()]
            .last_key_value()
            .map(|(p, _)| *p)
    }

    /// Best ask price, if any.
    pub(crate) fn best_ask(&self) -> Option<u32> {
        self.sides[Side::Sell.index()]
            .first_key_value()
            .map(|(p, _)| *p)
    }

    /// Oldest order at the best price of `side`.
    fn best_head(&self, side: Side) -> Option<u32> {
        let levels = &self.sides[side.index()];
        let level = match side {
            Side::Buy => levels.last_key_value(),
            Side::Sell => levels.first_key_value(),
        };
        level.map(|(_, l)| l.head)
    }
}

/// All live orders of the session.
#[derive(Debug)]
pub(crate) struct Orders {
    slab: Vec<Order>,
    free: Vec<u32>,
    live: Vec<u32>,
}

impl Orders {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            slab: Vec::with_capacity(capacity),
            free: Vec::new(),
            live: Vec::with_capacity(capacity),
        }
    }

    /// Number of live orders.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &Order {
        &self.slab[slot as usize]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut Order {
        &mut self.slab[slot as usize]
    }

    /// The slot at position `pos` of the live list (`pos < len()`).
    #[inline]
    pub(crate) fn live_at(&self, pos: usize) -> u32 {
        self.live[pos]
    }

    /// Adds a live order at the tail of its price level.
    pub(crate) fn insert(
        &mut self,
        ladder: &mut Ladder,
        order_ref: u64,
        instrument: u16,
        side: Side,
        price: u32,
        shares: u32,
    ) -> u32 {
        let order = Order {
            order_ref,
            price,
            shares,
            instrument,
            side,
            prev: NIL,
            next: NIL,
            live_pos: self.live.len() as u32,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = order;
                slot
            }
            None => {
                self.slab.push(order);
                (self.slab.len() - 1) as u32
            }
        };
        self.live.push(slot);
        self.link_tail(ladder, slot);
        slot
    }

    /// Removes a live order from its level and from the live list.
    pub(crate) fn remove(&mut self, ladder: &mut Ladder, slot: u32) {
        self.unlink(ladder, slot);
        let pos = self.slab[slot as usize].live_pos as usize;
        self.live.swap_remove(pos);
        if let Some(&moved) = self.live.get(pos) {
            self.slab[moved as usize].live_pos = pos as u32;
        }
        self.free.push(slot);
    }

    /// Moves an order to a new price (and reference) at the tail of the new
    /// level: a replace loses time priority.
    pub(crate) fn reprice(
        &mut self,
        ladder: &mut Ladder,
        slot: u32,
        order_ref: u64,
        price: u32,
        shares: u32,
    ) {
        self.unlink(ladder, slot);
        let o = &mut self.slab[slot as usize];
        o.order_ref = order_ref;
        o.price = price;
        o.shares = shares;
        self.link_tail(ladder, slot);
    }

    /// Oldest order at the best price of `side` in `ladder`.
    pub(crate) fn best(&self, ladder: &Ladder, side: Side) -> Option<u32> {
        ladder.best_head(side)
    }

    fn link_tail(&mut self, ladder: &mut Ladder, slot: u32) {
        let (side, price) = {
            let o = &self.slab[slot as usize];
            (o.side, o.price)
        };
        let levels = &mut ladder.sides[side.index()];
        match levels.get_mut(&price) {
            Some(level) => {
                let tail = level.tail;
                level.tail = slot;
                self.slab[tail as usize].next = slot;
                let o = &mut self.slab[slot as usize];
                o.prev = tail;
                o.next = NIL;
            }
            None => {
                levels.insert(
                    price,
                    Level {
                        head: slot,
                        tail: slot,
                    },
                );
                let o = &mut self.slab[slot as usize];
                o.prev = NIL;
                o.next = NIL;
            }
        }
    }

    fn unlink(&mut self, ladder: &mut Ladder, slot: u32) {
        let Order {
            prev,
            next,
            side,
            price,
            ..
        } = self.slab[slot as usize];
        if prev != NIL {
            self.slab[prev as usize].next = next;
        }
        if next != NIL {
            self.slab[next as usize].prev = prev;
        }
        let levels = &mut ladder.sides[side.index()];
        if prev == NIL && next == NIL {
            levels.remove(&price);
        } else if let Some(level) = levels.get_mut(&price) {
            if prev == NIL {
                level.head = next;
            }
            if next == NIL {
                level.tail = prev;
            }
        }
    }
}
