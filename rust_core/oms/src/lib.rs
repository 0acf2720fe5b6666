//! Order management for quotewire: our orders, their state machine, and the
//! positions their fills make.
//!
//! Owns: the pre-sized order slab, `ClOrdId` allocation (strictly increasing
//! from 1), lookup by our id and by the venue's order reference, the
//! per-order state machine driven by venue [`ExecReport`]s (including every
//! race a venue can produce and SoupBinTCP replay duplicates), the in-flight
//! request limit, positions per instrument, worst-case working quantity and
//! our best working price per side (for self-cross prevention),
//! reconciliation after a reconnect, and re-applying the requests a journal
//! recorded, under their own ids, after a restart ([`Oms::restore`]).
//! Must never: know a wire protocol or a socket (the gateway maps OUCH/FIX onto
//! [`ExecReport`] and sends the [`OrderRequest`](quotewire_core::order::OrderRequest)s
//! we return), decide what to quote (strategy) or whether a request is safe
//! (risk), allocate, lock or panic on the hot path, or lose or double-count a
//! fill.
//!
//! # State machine
//!
//! ```text
//!   place() --> PendingNew --Rejected--> Rejected*
//!                   |
//!                   | Accepted (venue id indexed)
//!                   v
//!                 Live --Executed, leaves > 0--> PartiallyFilled
//!                   \                              /
//!                    +------- the open state -----+
//!                     |                        |
//!            replace()|                        |cancel()  (also from PendingNew
//!                     v                        v           and PendingReplace)
//!              PendingReplace             PendingCancel
//!                | Replaced --> open:         | CancelRejected --> back to the state
//!                |   same slot, new cl and    |   the cancel was sent from
//!                |   venue id (orig cl        | Canceled, qty >= leaves --> Cancelled*
//!                |   unindexed), price and
//!                |   leaves from the report
//!                | Rejected / CancelRejected
//!                |   --> open, leaves kept
//!
//!   In every non-terminal state:
//!     Executed, leaves > 0     --> same state (Live becomes PartiallyFilled), fill counted
//!     Executed, leaves = 0     --> Filled* (a request in flight is moot)
//!     Canceled, qty < leaves   --> same state, leaves reduced (venue decrement)
//!     Canceled, qty >= leaves  --> Cancelled* (ours, IOC rest, self-match, venue/disconnect)
//!   reconcile(), once a reconnect's replay is complete:
//!     PendingNew               --> Expired* (the venue never saw it)
//!     unanswered cancel or replace --> dropped, back to the open state (request lost)
//!   expire_all()               --> Expired*
//!
//!   * terminal: the slot is freed at once; later reports about the order are
//!     `Unknown` (its ids are unindexed) and change nothing.
//! ```
//!
//! # Races and duplicates
//!
//! * A fill on an order with a cancel or replace in flight is always counted;
//!   the order keeps its pending state unless the fill takes leaves to zero.
//! * While a replace is in flight the replacement id answers to the same slot
//!   as the original; a report on either is applied to the order.
//! * A cancel sent while a replace is in flight names the *replacement* id (the
//!   venue answers the replace first). If the replace is then refused, that
//!   cancel is doomed (it names an id the venue never had): the OMS drops it at
//!   once and says so in [`Applied::ReplaceRejected`]`{ cancel_lost: true }` so
//!   the engine can cancel again.
//! * A replace refusal may come as `Rejected` or `CancelRejected`, naming the
//!   replacement or the original id; all four are understood.
//! * Duplicates (SoupBinTCP replay may repeat what we saw) change nothing:
//!   - `Accepted` for an acknowledged order and `Replaced` for a resolved
//!     replace are [`Applied::Duplicate`] (exact, from the order's state);
//!   - an `Executed` whose match number is not above the order's `last_match`
//!     is a duplicate and is not counted (exact; match number 0, "none", is
//!     always applied and counted in `unnumbered_fills`);
//!   - `Canceled`, `Rejected` and `CancelRejected` carry nothing unique, so
//!     each order keeps a replay watermark (8 bytes per slot, outside the
//!     slab): the venue timestamp of the last report applied to it, and the
//!     reason of a decrement applied at exactly that timestamp. A `Canceled`
//!     older than the watermark, or at the same timestamp with the same
//!     decrement reason, is a duplicate; so is a refusal of a cancel or
//!     replace not after the watermark (a refusal answers a later command:
//!     without this, a replayed old `CancelRejected` would "answer" a newer
//!     replace and orphan its fills). This relies on venue timestamps never
//!     going backwards on one order's reports (a sequenced session). The one
//!     case it cannot tell apart: two decrements of one order with the same
//!     reason at the same venue timestamp (only in a venue's decrement-both
//!     self-match mode, several of our own orders met by one command); the
//!     second is taken as a duplicate and leaves stay overstated, the safe
//!     direction for risk;
//!   - a duplicate about a terminal order is [`Applied::Unknown`] (its ids
//!     are gone), which changes nothing either.
//! * `Executed` for an unknown id is never silently dropped: it is counted in
//!   `unknown_fills`/`unknown_fill_qty` and returned as [`Applied::Unknown`].
//! * `BrokenTrade` is counted and returned; positions are not changed, because
//!   the OMS keeps no per-fill history (it cannot know the side or quantity of
//!   an old match number, nor tell a replayed break from a new one). The engine
//!   must treat it as a risk event and correct positions from the venue's drop
//!   copy.
//!
//! # Layout and memory
//!
//! * **Slab**: one 64-byte, cache-line aligned [`Order`] per slot
//!   ([`OmsConfig::capacity`] slots, compile-time checked), free slots chained
//!   through `next`. Open orders of one (instrument, side) form an intrusive
//!   doubly linked list through `prev`/`next`.
//! * **Indexes**: `ClOrdId` -> slot and venue order reference -> slot, both
//!   open-addressing tables of 4-byte slot entries (`table.rs`) with at least
//!   twice as many buckets as entries, confirming the key against the order.
//!   Both hash with one folded 64x64->128 multiply. The bits of an entry
//!   the slot number does not need (11 in the `ClOrdId` table and 12 in the
//!   venue table for a 1,000,000-slot slab) hold the entry's distance from
//!   its home bucket (4 bits, saturating at 14) and a tag of high hash bits.
//!   A lookup only reads the order of an entry with the key's tag and home
//!   bucket, so it reads about one order: its own. Deleting shifts the rest
//!   of the probe run back (no tombstones) using the stored distances,
//!   without reading any order (an entry 14 or more buckets from home, 0.08%
//!   of them with 1,000,000 live orders, is rehashed from its order). Slabs
//!   above 2^26 slots leave fewer spare bits (no tag in the `ClOrdId`
//!   table, shorter distance fields above 2^27), and above 2^29 slots every
//!   shifted `ClOrdId` entry is rehashed: slower, still correct.
//! * **Replay watermarks**: 8 bytes per slot (see above), outside the slab.
//! * Slab, watermarks and tables are [`HugeSlice`](quotewire_core::mem::HugeSlice)s,
//!   touched at construction. Per order: 64 (slab) + 8 (watermark) + 8 or
//!   more (`ClOrdId` table: two 4-byte buckets per order and per possible
//!   pending replace, rounded up to a power of two) + 8 (venue table) = 88
//!   bytes nominal. 1,000,000 orders (with 8,192 instruments and 4,096
//!   requests in flight) take 90.8 MB, 90.8 bytes per order, huge-page
//!   padding included, as [`Oms::memory_bytes`] reports and
//!   `tests/memory.rs` checks (without the watermarks it would be 82.4 MB).
//! * **Working and best price**: per instrument, worst-case open quantity
//!   per side and the open order count are kept incrementally (O(1)). Our best
//!   working price per (instrument, side) is cached; it is updated in O(1)
//!   when an order arrives or improves, and only marked stale when the order
//!   at the best price leaves or worsens. [`Oms::best_working`] then walks
//!   that (instrument, side)'s open orders once, O(open orders on that side),
//!   and caches the result.
//!
//! # Example
//!
//! ```
//! use quotewire_core::order::{ClOrdId, ExecReport, TimeInForce};
//! use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
//! use quotewire_oms::{Applied, Oms, OmsConfig, OrderState};
//!
//! let mut oms = Oms::new(&OmsConfig { capacity: 1024, max_instruments: 16, max_in_flight: 64 })?;
//! let aapl = InstrumentId(3);
//! let new = oms.place(aapl, Side::Buy, Price(1_000_000), Qty(100), TimeInForce::Day, true, 0)
//!     .expect("room");
//! assert_eq!(new.cl, ClOrdId(1));
//! oms.on_report(&ExecReport::Accepted {
//!     cl: new.cl, venue_id: OrderId(77), price: new.price, qty: new.qty, ts_ns: 1,
//! });
//! let applied = oms.on_report(&ExecReport::Executed {
//!     cl: new.cl, qty: Qty(40), price: new.price, match_number: 9, liquidity: b'A', ts_ns: 2,
//! });
//! assert!(matches!(applied, Applied::Fill(f) if f.leaves == Qty(60) && !f.done));
//! assert_eq!(oms.position(aapl), 40);
//! assert_eq!(oms.by_venue_id(OrderId(77)).map(|o| o.state()), Some(OrderState::PartiallyFilled));
//! # Ok::<(), quotewire_oms::OmsError>(())
//! ```

mod oms;
mod order;
mod table;

pub use oms::Oms;
pub use order::{Order, OrderState, PendingReplace};

use quotewire_core::order::{CancelReason, ClOrdId, ExecReport};
use quotewire_core::{InstrumentId, Price, Qty, Side};

/// Largest slab the OMS builds (a `ClOrdId` table entry keeps the 30-bit slot
/// number, a pending-replacement bit and at least one distance bit in 32 bits).
pub const MAX_CAPACITY: usize = 1 << 30;
/// Instrument ids are `u16`.
pub const MAX_INSTRUMENTS: usize = 1 << 16;

/// Sizes every structure of an [`Oms`] up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OmsConfig {
    /// Most open orders at once (slab slots).
    pub capacity: usize,
    /// Instrument ids must be below this (at most 65,536).
    pub max_instruments: usize,
    /// Most requests sent and not yet answered (at most two per slot).
    pub max_in_flight: usize,
}

impl Default for OmsConfig {
    fn default() -> Self {
        Self {
            capacity: 1 << 16,
            max_instruments: 8_192,
            max_in_flight: 1_024,
        }
    }
}

/// A configuration the OMS refuses to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OmsError {
    /// `capacity` is zero.
    #[error("capacity must be at least 1 order")]
    ZeroCapacity,
    /// `capacity` is above [`MAX_CAPACITY`].
    #[error("capacity {0} exceeds the maximum of {MAX_CAPACITY} orders")]
    CapacityTooLarge(usize),
    /// `max_instruments` is zero.
    #[error("max_instruments must be at least 1")]
    ZeroInstruments,
    /// `max_instruments` is above [`MAX_INSTRUMENTS`].
    #[error(
        "max_instruments {0} exceeds the maximum of {MAX_INSTRUMENTS} (instrument ids are u16)"
    )]
    TooManyInstruments(usize),
    /// `max_in_flight` is zero.
    #[error("max_in_flight must be at least 1 request")]
    ZeroInFlight,
    /// `max_in_flight` is above twice `capacity` (an order has at most two requests in flight).
    #[error("max_in_flight {max_in_flight} exceeds twice the capacity {capacity} (at most two requests per order)")]
    InFlightTooLarge {
        /// The refused limit.
        max_in_flight: usize,
        /// The configured capacity.
        capacity: usize,
    },
}

/// Why the OMS refused a request (nothing was changed, no id was used).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum OmsReject {
    /// Every slab slot holds an open order.
    #[error("order slab full")]
    Full,
    /// `max_in_flight` requests are already unanswered.
    #[error("too many requests in flight")]
    InFlightLimit,
    /// No open order has this id.
    #[error("unknown order")]
    UnknownOrder,
    /// A request of that kind (or one that excludes it) is already in flight.
    #[error("a request is already pending on this order")]
    AlreadyPending,
    /// Replace of an order the venue has not accepted yet.
    #[error("order not accepted by the venue yet")]
    NotAcked,
    /// Zero quantity (cancel instead of replacing to zero).
    #[error("zero quantity")]
    ZeroQty,
    /// Quantity above `u32::MAX` shares.
    #[error("quantity too large")]
    QtyTooLarge,
    /// Instrument id not below `max_instruments`.
    #[error("unknown instrument")]
    UnknownInstrument,
    /// `ClOrdId`s reached `u32::MAX`.
    #[error("order ids exhausted")]
    IdsExhausted,
    /// [`Oms::restore`]: a new order or replacement whose id is not above every id
    /// already used (a journal replayed twice, or out of order).
    #[error("order id already used")]
    IdUsed,
}

/// The kind of an [`ExecReport`], for reports that were not applied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// `Accepted`.
    Accepted,
    /// `Replaced`.
    Replaced,
    /// `Canceled`.
    Canceled,
    /// `Executed`.
    Executed,
    /// `Rejected`.
    Rejected,
    /// `CancelRejected`.
    CancelRejected,
    /// `BrokenTrade`.
    BrokenTrade,
}

impl ReportKind {
    /// The kind of `r`.
    #[must_use]
    pub const fn of(r: &ExecReport) -> Self {
        match r {
            ExecReport::Accepted { .. } => Self::Accepted,
            ExecReport::Replaced { .. } => Self::Replaced,
            ExecReport::Canceled { .. } => Self::Canceled,
            ExecReport::Executed { .. } => Self::Executed,
            ExecReport::Rejected { .. } => Self::Rejected,
            ExecReport::CancelRejected { .. } => Self::CancelRejected,
            ExecReport::BrokenTrade { .. } => Self::BrokenTrade,
        }
    }
}

/// One execution applied to an order (and to the instrument's position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fill {
    /// The order's current id.
    pub cl: ClOrdId,
    /// Instrument traded.
    pub instrument: InstrumentId,
    /// Our side.
    pub side: Side,
    /// Trade price.
    pub price: Price,
    /// Shares traded.
    pub qty: Qty,
    /// Shares still open afterwards.
    pub leaves: Qty,
    /// Venue match number.
    pub match_number: u64,
    /// Venue liquidity flag (`A` added, `R` removed).
    pub liquidity: u8,
    /// Venue timestamp.
    pub ts_ns: u64,
    /// The order is now `Filled` (slot freed).
    pub done: bool,
}

/// What [`Oms::on_report`] did with a report; the engine updates its quote
/// slots and risk from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// A new order is live at the venue.
    Accepted {
        /// Our id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Accepted price.
        price: Price,
        /// Open shares.
        leaves: Qty,
    },
    /// An execution, counted once.
    Fill(Fill),
    /// A replace took effect: the order now answers to `cl`.
    Replaced {
        /// The id the order had.
        orig: ClOrdId,
        /// Its id from now on.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// New price.
        price: Price,
        /// New open shares.
        leaves: Qty,
        /// Replaced to zero shares: the order is `Cancelled` (slot freed).
        done: bool,
    },
    /// Shares were taken off an order without a trade.
    Cancelled {
        /// The order's id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Shares removed.
        qty: Qty,
        /// Shares still open (0 when done).
        leaves: Qty,
        /// Why.
        reason: CancelReason,
        /// The order is now `Cancelled` (slot freed); false for a partial decrement.
        done: bool,
    },
    /// A new order was refused: it is `Rejected` (slot freed).
    Rejected {
        /// Our id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Venue reason code.
        reason: u16,
    },
    /// A replace was refused: the order is back in its open state, unchanged.
    ReplaceRejected {
        /// The order's id (unchanged).
        cl: ClOrdId,
        /// The refused replacement id (unindexed).
        rejected: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// The price that stays.
        price: Price,
        /// Open shares (fills during the replace already taken off).
        leaves: Qty,
        /// A cancel sent during the replace named the refused id and was dropped: cancel again.
        cancel_lost: bool,
    },
    /// A cancel was refused: the order is back in the state it had before.
    CancelRejected {
        /// The order's id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// The state it is back in.
        state: OrderState,
    },
    /// A report already applied (replay); nothing changed.
    Duplicate {
        /// The id named by the report.
        cl: ClOrdId,
        /// Which report.
        kind: ReportKind,
    },
    /// A report about an id no open order has; nothing changed, counted.
    Unknown {
        /// The id named by the report.
        cl: ClOrdId,
        /// Which report (`Executed`: also counted in `unknown_fills`).
        kind: ReportKind,
    },
    /// The venue broke a trade; counted, positions unchanged (see the crate docs).
    BrokenTrade {
        /// The id named by the report.
        cl: ClOrdId,
        /// The broken trade.
        match_number: u64,
        /// The instrument, when the order is still open.
        instrument: Option<InstrumentId>,
    },
}

/// What [`Oms::reconcile`] or [`Oms::expire_all`] did to one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reconciled {
    /// The order's id.
    pub cl: ClOrdId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// State afterwards: `Expired` (slot freed) or its open state.
    pub state: OrderState,
    /// Open shares afterwards (as before, for an expired order).
    pub leaves: Qty,
    /// A cancel in flight was dropped as lost.
    pub cancel_lost: bool,
    /// A replace in flight was dropped as lost (its replacement id, unindexed).
    pub replace_lost: Option<ClOrdId>,
}

/// Worst-case open quantity of one instrument (pending new orders included; a
/// pending replace counts the larger of its old leaves and its new quantity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Working {
    /// Shares we may still buy.
    pub open_buy_qty: u64,
    /// Shares we may still sell.
    pub open_sell_qty: u64,
    /// Open orders (any non-terminal state).
    pub open_orders: u32,
}

/// Request, report and anomaly counts since the [`Oms`] was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OmsCounters {
    /// New orders returned by `place`.
    pub placed: u64,
    /// Replaces returned by `replace`.
    pub replaces_sent: u64,
    /// Cancels returned by `cancel`, `cancel_all`, `cancel_instrument`.
    pub cancels_sent: u64,
    /// Requests refused with an [`OmsReject`].
    pub refused: u64,
    /// New orders accepted by the venue.
    pub accepted: u64,
    /// Replaces that took effect.
    pub replaced: u64,
    /// Executions applied.
    pub fills: u64,
    /// Shares executed (sum of applied fills).
    pub filled_qty: u64,
    /// Applied executions without a match number (0), which cannot be deduplicated.
    pub unnumbered_fills: u64,
    /// Executions for more than the open shares (applied in full; the order is filled).
    pub overfills: u64,
    /// Orders filled.
    pub filled_orders: u64,
    /// Partial cancels (decrements) applied.
    pub decrements: u64,
    /// Orders cancelled (any reason).
    pub cancelled_orders: u64,
    /// New orders refused by the venue.
    pub rejects: u64,
    /// Replaces refused by the venue.
    pub replace_rejects: u64,
    /// Cancels refused by the venue.
    pub cancel_rejects: u64,
    /// Cancels dropped because the replace they followed was refused.
    pub cancels_lost: u64,
    /// Reports recognised as already applied (replay).
    pub duplicates: u64,
    /// Reports other than `Executed` about an unknown id.
    pub unknown_reports: u64,
    /// `Executed` reports about an unknown id.
    pub unknown_fills: u64,
    /// Shares of those unknown executions.
    pub unknown_fill_qty: u64,
    /// Broken trades reported.
    pub broken_trades: u64,
    /// Orders expired by `reconcile` or `expire_all`.
    pub expired: u64,
    /// Cancels and replaces found lost by `reconcile`.
    pub lost_requests: u64,
}

#[cfg(test)]
mod tests;
