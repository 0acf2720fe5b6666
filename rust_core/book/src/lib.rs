//! Limit order books (L3 queues and L2 aggregates) for every instrument of a feed.
//!
//! Owns: the per-order state of a market-by-order feed (which order rests where,
//! with how many shares), the FIFO queue at every price level, the per-level
//! aggregates (L2: total quantity and order count) and the best bid and offer.
//! Must never: know a wire protocol (an adapter maps ITCH/other feeds onto
//! [`BookSet`]'s add/execute/cancel/delete/replace), allocate, lock or panic on
//! the hot path, or use floating point.
//!
//! # Layout
//!
//! * **Order slab.** Every live order is one 32-byte node in a `Vec`
//!   sized to `max_orders` and filled at construction (so page faults happen
//!   at start-up, not mid-session). Free nodes form a singly linked free list
//!   through their `next` field. Nodes of one price level form an intrusive
//!   doubly linked FIFO list (`prev`/`next` are `u32` slab indices), so a
//!   cancel or delete from the middle of a queue is O(1) once the node is
//!   found. The node keeps quantity as `u32` (ITCH shares are `u32`); that is
//!   what keeps it at 32 bytes, two per cache line. The slab and the id map are
//!   [`HugeSlice`](quotewire_core::mem::HugeSlice)s: 2 MiB-aligned and advised
//!   for transparent huge pages before they are first touched, so random
//!   accesses over ~100 MB do not also miss the TLB
//!   ([`BookSet::huge_page_bytes`] says how much the kernel was asked to back).
//! * **Prefetch hints.** `prefetch_id`, `prefetch_order`,
//!   `prefetch_order_links`, `prefetch_order_level`, `prefetch_book`,
//!   `prefetch_level` and `prefetch_add_tail` each start loading one link of an
//!   event's chain of dependent cache lines (id-map line, node, queue
//!   neighbours, `Book` line, touch levels, queue tail), reading only lines
//!   the previous link brought in. The engine issues them a few messages ahead
//!   of applying each message; they never change state or results.
//! * **Id map.** Order id -> slab index lives in a purpose-built open-addressing
//!   table (`ids.rs`) of 8-byte entries `(hash tag, slot)` with linear probing
//!   and backward-shift deletion. A tag match is confirmed against the node's
//!   id, which the caller loads next anyway, so a lookup costs one line of the
//!   table plus the node (a `hashbrown` table costs a control-byte line, a
//!   bucket line and the node: profiling showed the extra dependent miss). The
//!   tag keeps the order reference's low bits, doubled (xored with a hash of
//!   the bits above the table's), so the orders of the last few thousand
//!   messages, which most events touch, share a few cache lines of the table,
//!   with an empty bucket between neighbours to keep delete scans short
//!   (`ids.rs` explains the choice and its one weak case). The table has at least
//!   four times `max_orders` buckets and never grows; without tombstones it never
//!   degrades or rehashes over a long day. Ids are shared across instruments,
//!   as ITCH order references are unique for the day across the whole feed.
//! * **Books.** One [`Book`] per instrument in a `Vec` indexed by
//!   [`InstrumentId`], activated on first use (or eagerly with
//!   [`BookSet::warm_instrument`]), when each side reserves
//!   `levels_per_side` levels. Each side is a `Vec` of 32-byte level slots
//!   sorted by a side-normalised key (`price` for bids, `!price` for asks) so
//!   that the **best level is at the end** for both sides. Almost all activity
//!   is near the touch, so a level is found by scanning the last eight slots
//!   from the end, falling back to a binary search, and inserting or removing
//!   a level near the touch moves only a handful of slots. A level slot holds
//!   the L2 aggregate (quantity, order count, updated incrementally) and the
//!   head and tail of its FIFO queue. The BBO is the last slot of each side:
//!   O(1).
//!
//! # Semantics worth knowing
//!
//! * Quantities are validated before anything is touched: zero, or (for
//!   resting quantities) more than `u32::MAX`, is [`BookError::InvalidQty`].
//! * An execute or cancel for more than the remaining quantity removes the
//!   order, reports the quantity actually removed and counts an `overfill`.
//! * `replace` (ITCH `U`) keeps instrument and side, reuses the old order's
//!   slab node, and returns what was removed (old price and remaining qty).
//! * Every failed event is counted in [`BookCounters`] and leaves the books
//!   unchanged; nothing an input stream can do panics.
//! * Level vectors that outgrow `levels_per_side` do grow (a book must stay
//!   correct); each such growth is counted in `level_growths` so the
//!   configuration can be fixed.
//!
//! # Example
//!
//! ```
//! use quotewire_book::{BookConfig, BookSet};
//! use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
//!
//! let mut books = BookSet::new(BookConfig { max_orders: 1024, max_instruments: 16, levels_per_side: 32 });
//! let aapl = InstrumentId(7);
//! books.add(aapl, OrderId(1), Side::Buy, Price(1_000_000), Qty(100))?;
//! books.add(aapl, OrderId(2), Side::Buy, Price(1_000_000), Qty(50))?;
//! let fill = books.execute(OrderId(1), Qty(30))?;
//! assert_eq!(fill.remaining, Qty(70));
//! let bid = books.book(aapl).and_then(|b| b.bbo().bid).expect("a bid rests");
//! assert_eq!((bid.price, bid.qty, bid.count), (Price(1_000_000), Qty(120), 2));
//! let queue: Vec<_> = books.queue(aapl, Side::Buy, Price(1_000_000)).collect();
//! assert_eq!(queue, [(OrderId(1), Qty(70)), (OrderId(2), Qty(50))]);
//! # Ok::<(), quotewire_book::BookError>(())
//! ```

mod book;
mod ids;
mod set;

pub use book::{Bbo, Book, Level};
pub use set::{BookSet, OrderHint, OrderView, Touch};

use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

/// Sizes every structure of a [`BookSet`] up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// Most orders live at once across all instruments.
    pub max_orders: usize,
    /// Instrument ids must be below this (at most 65,536).
    pub max_instruments: usize,
    /// Levels each side of an instrument reserves when activated.
    pub levels_per_side: usize,
}

impl Default for BookConfig {
    fn default() -> Self {
        Self {
            max_orders: 2_000_000,
            max_instruments: 65_536,
            levels_per_side: 128,
        }
    }
}

/// Why a book event was refused. The books are unchanged when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// No live order has this id.
    #[error("unknown order {0:?}")]
    UnknownOrder(OrderId),
    /// A live order already has this id.
    #[error("duplicate order {0:?}")]
    DuplicateOrder(OrderId),
    /// The order slab is full (`max_orders` live orders).
    #[error("order capacity exceeded")]
    CapacityExceeded,
    /// Zero quantity, or a resting quantity above `u32::MAX`.
    #[error("invalid quantity")]
    InvalidQty,
    /// Instrument id not below `max_instruments`.
    #[error("unknown instrument {0:?}")]
    UnknownInstrument(InstrumentId),
}

/// What an execute, cancel, delete or replace did to the order it touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
    /// Price the order rested at (for a replace: the old price).
    pub price: Price,
    /// Quantity removed from the book by this event (capped at what was resting).
    pub qty: Qty,
    /// Quantity still resting afterwards (zero when the order was removed).
    pub remaining: Qty,
}

/// Event and anomaly counts since the [`BookSet`] was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookCounters {
    /// Orders added.
    pub adds: u64,
    /// Executions applied (partial or full).
    pub executes: u64,
    /// Partial or full cancels applied.
    pub cancels: u64,
    /// Deletes applied.
    pub deletes: u64,
    /// Replaces applied.
    pub replaces: u64,
    /// Events naming an order id that is not live.
    pub unknown_order: u64,
    /// Adds or replaces naming an id that is already live.
    pub duplicate_order: u64,
    /// Executes or cancels larger than the remaining quantity (order removed).
    pub overfill: u64,
    /// Adds refused because the order slab was full.
    pub capacity_exceeded: u64,
    /// Events refused for a zero or out-of-range quantity.
    pub invalid_qty: u64,
    /// Adds refused for an instrument id beyond `max_instruments`.
    pub unknown_instrument: u64,
    /// Times a level vector outgrew its reservation and had to allocate.
    pub level_growths: u64,
}
