//! Backtests with the live code: [`run`] replays a [`Tape`] of MoldUDP64
//! datagrams (from a journal with [`load_journal`], or a capture with
//! [`Tape::load_capture`]) through the engine's own fast path
//! (`quotewire_engine::trading::Trader`: sequencer, books, strategy, risk,
//! OMS) in simulated time, against [`BacktestVenue`], a simulated venue that
//! implements [`quotewire_gateway::OrderGateway`] exactly like the live OUCH
//! client and is driven by the same ITCH 5.0 market data.
//!
//! The crate sits above `engine` (it drives a `Trader`) and below `py`.
//!
//! Owns: a per-instrument view of the public book (every displayed order with
//! its arrival sequence, and the aggregate quantity of each price level), our
//! simulated orders with their exact queue positions, the request and report
//! latency model, venue ids and match numbers.
//! Must never: let our orders change the public book (they are not in the
//! ITCH data; the public book is exactly what the capture says), read a clock
//! (time is only what the caller passes), or depend on anything random but the
//! configured seed: the same inputs give the same outputs.
//!
//! # Instruments
//!
//! An ITCH message's `stock_locate` is its [`InstrumentId`] (as in the engine);
//! only the instruments named in [`BacktestConfig::instruments`] are tracked.
//!
//! # Time and latency
//!
//! [`OrderGateway::send`](quotewire_gateway::OrderGateway::send) at `now` draws `(order_ns, ack_ns)` from the
//! [`Latency`] model; the request reaches the venue at `now + order_ns` (never
//! before the previous request: one ordered session, as over TCP). The venue
//! processes requests that have arrived by a market event's time *before* that
//! event (ties go to the request). Each report is delivered `ack_ns` after the
//! venue event that caused it (a fill draws its own `ack_ns`), never before an
//! earlier report, and only by a [`OrderGateway::poll`](quotewire_gateway::OrderGateway::poll) whose `now` has
//! reached its delivery time. `poll` also advances the venue to `now`.
//!
//! # Queue position and fills (the exact rule)
//!
//! Every public order and every one of our resting orders gets a venue-wide
//! arrival sequence number when it joins a level (an ITCH `U` replace, or a
//! replace of ours that changes price or raises quantity, takes a new one).
//! For our resting order `o`, *ahead* = shares of public orders at `o`'s
//! instrument, side and price whose sequence is lower than `o`'s; it starts at
//! the level's quantity when `o` joins and drops by exactly the shares any such
//! order loses (execution `E`/`C`, cancel `X`, delete `D`, replace `U`). Orders
//! that joined after `o` never count. Our order is filled (at its own price,
//! liquidity `A`) by:
//!
//! 1. an execution (`E`/`C`) of a public order at `o`'s level that joined
//!    *after* `o` (the matching engine reached past `o`, so `o` traded first);
//! 2. an execution (`E`/`C`, at the execution price) or a non-displayed trade
//!    (`P`) at a price strictly worse than `o`'s (below our bid, above our ask):
//!    the aggressor would have met `o` first;
//! 3. a public order added (`A`/`F`/`U`) on the opposite side at or through
//!    `o`'s price (an ask at or below our bid, a bid at or above our ask).
//!
//! Each such event fills at most its own share count, spread over our eligible
//! orders best price first, then earliest sequence. Executions of orders ahead
//! only consume the queue ahead; they never fill us.
//!
//! # Requests
//!
//! * New: refused ([`ExecReport::Rejected`](quotewire_core::order::ExecReport::Rejected), codes in [`reject`]) for an unknown
//!   instrument, a zero quantity, a price off the tick, a duplicate live id, or
//!   (post-only) a price at or through the public best opposite. Otherwise
//!   Accepted; a marketable order (not post-only) then takes the public levels
//!   it crosses (liquidity `R`, at each level's price, up to each level's
//!   displayed quantity, without changing the public book); an IOC cancels its
//!   rest, a Day order rests at the back of its level.
//! * Replace: refused for an unknown `orig` (Rejected on the new id, `orig`
//!   unchanged) and for the same reasons as a New. Same price and quantity not
//!   above the open quantity keeps the queue position; anything else goes to
//!   the back of the new level.
//! * Cancel: Canceled for the open quantity, CancelRejected for an unknown id.
//!
//! # Replaying a recorded session
//!
//! A journal's feed contains the session's own orders. With
//! [`RunConfig::own_refs`] (the venue ids from the journal's Accepted and
//! Replaced reports, [`Recorded::own_refs`]) the venue keeps them out of the
//! public book and lets the simulated orders stand in for them
//! ([`BacktestVenue::stand_in_for`]): an aggressor that traded with a recorded
//! order trades with the simulated orders at that price or better.
//!
//! # Cost per message
//!
//! The venue keeps its own view of the public book beside the engine's: its
//! public orders in an open-addressing table keyed by ITCH reference (entries
//! inline, one cache line per lookup, no tombstones), and each side's levels in
//! a second such table keyed by price. The best price of a side is kept as
//! levels are added; when the best level empties it is found again only when a
//! request needs it. Each book also keeps the best price of our own resting
//! orders on each side, so the far more common market events that cannot
//! reach them skip the search of our orders. [`run`] walks the tape by index
//! (the datagrams between the venue and the engine are a range of it, as the
//! market data delay is one constant) and the venue reads each datagram once.
//!
//! # Allocation
//!
//! Not allocation-free: the order and level tables double when half full
//! (pre-sized for 32,768 live orders and 256 levels a side), and the
//! request/report queues and the crossed-levels scratch of a marketable order
//! grow to their high-water mark. A backtest is not the live hot path.

mod latency;
mod runner;
mod table;
mod tape;
mod venue;

pub use latency::Latency;
pub use runner::{run, FillRow, OrderRow, RunConfig, RunResult, Sample};
pub use tape::{load_journal, load_recorded, Recorded, RecordedFill, Tape, TapePacket};
pub use venue::{reject, BacktestConfig, BacktestVenue, InstrumentSpec};

use quotewire_core::InstrumentId;

/// A [`BacktestConfig`] that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BacktestError {
    /// A histogram latency model has no bucket with a positive count (or the counts overflow).
    #[error("latency histogram is empty")]
    EmptyHistogram,
    /// An instrument's tick size is zero or negative.
    #[error("instrument {0:?}: tick size must be positive")]
    InvalidTick(InstrumentId),
    /// An instrument is listed twice.
    #[error("instrument {0:?} listed twice")]
    DuplicateInstrument(InstrumentId),
    /// The strategy/risk/OMS configuration was refused by the engine.
    #[error("configuration: {0}")]
    Config(String),
    /// The market data or journal could not be read.
    #[error("data: {0}")]
    Data(String),
}
