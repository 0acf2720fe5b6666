//! The 64-byte order record kept in the slab, and its state.

use quotewire_core::order::{ClOrdId, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

/// "No slot": end of a list, empty bucket.
pub(crate) const NIL: u32 = u32::MAX;

/// The order sells (clear: buys).
pub(crate) const F_SELL: u8 = 1 << 0;
/// Immediate or cancel.
pub(crate) const F_IOC: u8 = 1 << 1;
/// Post-only instruction (kept for replaces).
pub(crate) const F_POST_ONLY: u8 = 1 << 2;
/// The New is not answered yet (no venue id).
pub(crate) const F_NEW_PENDING: u8 = 1 << 3;
/// A replace is in flight (`pending_*` fields valid, replacement id indexed).
pub(crate) const F_REPLACE_PENDING: u8 = 1 << 4;
/// A cancel is in flight.
pub(crate) const F_CANCEL_PENDING: u8 = 1 << 5;
/// The slot holds an open order (clear: on the free list).
pub(crate) const F_OPEN: u8 = 1 << 6;
/// Every flag that stands for one request in flight.
pub(crate) const F_IN_FLIGHT: u8 = F_NEW_PENDING | F_REPLACE_PENDING | F_CANCEL_PENDING;

/// Where an order stands. Open orders are in one of the first five states;
/// the last four are terminal and only ever appear in what the OMS returns
/// (a terminal order's slot is freed at once).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Sent, not yet accepted by the venue.
    PendingNew = 0,
    /// Accepted, nothing executed.
    Live = 1,
    /// Accepted, some shares executed, some still open.
    PartiallyFilled = 2,
    /// A cancel is in flight (whatever the order's state underneath).
    PendingCancel = 3,
    /// A cancel/replace is in flight.
    PendingReplace = 4,
    /// Terminal: every share executed.
    Filled = 5,
    /// Terminal: the open shares were cancelled (by us or the venue).
    Cancelled = 6,
    /// Terminal: the venue refused the new order.
    Rejected = 7,
    /// Terminal: never reached the venue (reconciliation) or the session ended.
    Expired = 8,
}

impl OrderState {
    /// True for `Filled`, `Cancelled`, `Rejected` and `Expired`.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired
        )
    }
}

/// A cancel/replace in flight: what the order becomes if the venue accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingReplace {
    /// The replacement's id (answers to the same slot until resolved).
    pub cl: ClOrdId,
    /// Requested limit price.
    pub price: Price,
    /// Requested open quantity.
    pub qty: Qty,
}

/// One open order: exactly one 64-byte cache line of the slab.
///
/// Quantities are kept as `u32` (OUCH shares are 32-bit), which is what keeps
/// the record at 64 bytes; the OMS refuses larger requests.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct Order {
    pub(crate) venue_id: u64,
    pub(crate) price: i64,
    pub(crate) pending_price: i64,
    pub(crate) last_match: u64,
    pub(crate) cl: u32,
    pub(crate) pending_cl: u32,
    pub(crate) leaves: u32,
    pub(crate) filled: u32,
    pub(crate) pending_qty: u32,
    /// Previous open order of the same (instrument, side); `NIL` at the head.
    pub(crate) prev: u32,
    /// Next open order of the same (instrument, side), or next free slot.
    pub(crate) next: u32,
    pub(crate) instrument: u16,
    pub(crate) flags: u8,
}

const _: () = assert!(size_of::<Order>() == 64, "Order must stay one cache line");

impl Order {
    /// A free slot linking to `next`.
    pub(crate) const fn free(next: u32) -> Self {
        Self {
            venue_id: 0,
            price: 0,
            pending_price: 0,
            last_match: 0,
            cl: 0,
            pending_cl: 0,
            leaves: 0,
            filled: 0,
            pending_qty: 0,
            prev: NIL,
            next,
            instrument: 0,
            flags: 0,
        }
    }

    #[inline(always)]
    pub(crate) const fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Requests of this order still in flight (0 to 2).
    #[inline(always)]
    pub(crate) const fn requests_in_flight(&self) -> usize {
        (self.flags & F_IN_FLIGHT).count_ones() as usize
    }

    /// Worst-case open shares: both the old and the new order may trade while a
    /// replace is in flight.
    #[inline(always)]
    pub(crate) fn exposure(&self) -> u64 {
        if self.has(F_REPLACE_PENDING) {
            u64::from(self.leaves.max(self.pending_qty))
        } else {
            u64::from(self.leaves)
        }
    }

    /// Most aggressive price the order may rest at (old or new, while a replace is in flight).
    #[inline(always)]
    pub(crate) fn effective_price(&self) -> i64 {
        if self.has(F_REPLACE_PENDING) {
            more_aggressive(self.side(), self.price, self.pending_price)
        } else {
            self.price
        }
    }

    /// Our current id (the pre-replace one until the venue confirms a replace).
    #[must_use]
    pub const fn cl(&self) -> ClOrdId {
        ClOrdId(self.cl)
    }

    /// The venue's order reference; `None` until the venue accepts the order.
    #[must_use]
    pub const fn venue_id(&self) -> Option<OrderId> {
        if self.has(F_NEW_PENDING) {
            None
        } else {
            Some(OrderId(self.venue_id))
        }
    }

    /// Instrument traded.
    #[must_use]
    pub const fn instrument(&self) -> InstrumentId {
        InstrumentId(self.instrument)
    }

    /// Buy or sell.
    #[must_use]
    pub const fn side(&self) -> Side {
        if self.has(F_SELL) {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    /// Current limit price (the pre-replace one while a replace is in flight).
    #[must_use]
    pub const fn price(&self) -> Price {
        Price(self.price)
    }

    /// Current total quantity: `filled + leaves` (original quantity, less
    /// venue decrements, as reset by replaces).
    #[must_use]
    pub const fn qty(&self) -> Qty {
        Qty(self.filled as u64 + self.leaves as u64)
    }

    /// Shares still open at the venue (as far as we know).
    #[must_use]
    pub const fn leaves(&self) -> Qty {
        Qty(self.leaves as u64)
    }

    /// Shares executed over the order's life (across replaces).
    #[must_use]
    pub const fn filled(&self) -> Qty {
        Qty(self.filled as u64)
    }

    /// Highest venue match number applied to this order (0: none).
    #[must_use]
    pub const fn last_match(&self) -> u64 {
        self.last_match
    }

    /// Day or IOC.
    #[must_use]
    pub const fn tif(&self) -> TimeInForce {
        if self.has(F_IOC) {
            TimeInForce::Ioc
        } else {
            TimeInForce::Day
        }
    }

    /// The order carries the post-only instruction.
    #[must_use]
    pub const fn post_only(&self) -> bool {
        self.has(F_POST_ONLY)
    }

    /// The cancel/replace in flight, if any.
    #[must_use]
    pub const fn pending_replace(&self) -> Option<PendingReplace> {
        if self.has(F_REPLACE_PENDING) {
            Some(PendingReplace {
                cl: ClOrdId(self.pending_cl),
                price: Price(self.pending_price),
                qty: Qty(self.pending_qty as u64),
            })
        } else {
            None
        }
    }

    /// A cancel is in flight.
    #[must_use]
    pub const fn cancel_pending(&self) -> bool {
        self.has(F_CANCEL_PENDING)
    }

    /// The order's state, derived from its requests in flight and fills:
    /// a pending cancel shows over a pending replace, which shows over pending new.
    #[must_use]
    pub const fn state(&self) -> OrderState {
        if self.has(F_CANCEL_PENDING) {
            OrderState::PendingCancel
        } else if self.has(F_REPLACE_PENDING) {
            OrderState::PendingReplace
        } else if self.has(F_NEW_PENDING) {
            OrderState::PendingNew
        } else if self.filled > 0 {
            OrderState::PartiallyFilled
        } else {
            OrderState::Live
        }
    }

    /// The state the order returns to once nothing is in flight.
    #[must_use]
    pub const fn open_state(&self) -> OrderState {
        if self.has(F_NEW_PENDING) {
            OrderState::PendingNew
        } else if self.filled > 0 {
            OrderState::PartiallyFilled
        } else {
            OrderState::Live
        }
    }
}

/// The better price for the order's side: higher for a buy, lower for a sell.
#[inline(always)]
pub(crate) fn more_aggressive(side: Side, a: i64, b: i64) -> i64 {
    match side {
        Side::Buy => a.max(b),
        Side::Sell => a.min(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_one_cache_line() {
        assert_eq!(size_of::<Order>(), 64);
        assert_eq!(align_of::<Order>(), 64);
    }

    #[test]
    fn state_shows_the_request_in_flight_over_the_open_state() {
        let mut o = Order::free(NIL);
        o.flags = F_OPEN | F_NEW_PENDING;
        assert_eq!(o.state(), OrderState::PendingNew);
        o.flags |= F_CANCEL_PENDING;
        assert_eq!(o.state(), OrderState::PendingCancel);
        o.flags = F_OPEN | F_REPLACE_PENDING;
        o.filled = 3;
        assert_eq!(o.state(), OrderState::PendingReplace);
        assert_eq!(o.open_state(), OrderState::PartiallyFilled);
        assert_eq!(o.requests_in_flight(), 1);
    }

    #[test]
    fn pending_replace_exposure_is_the_larger_quantity_at_the_better_price() {
        let mut o = Order::free(NIL);
        o.flags = F_OPEN | F_SELL | F_REPLACE_PENDING;
        o.leaves = 10;
        o.pending_qty = 25;
        o.price = 1_000;
        o.pending_price = 900;
        assert_eq!(o.exposure(), 25);
        assert_eq!(o.effective_price(), 900);
        o.flags &= !F_REPLACE_PENDING;
        assert_eq!(o.exposure(), 10);
        assert_eq!(o.effective_price(), 1_000);
    }
}
