//! The background market: synthetic order flow of other participants, so the
//! simulated venue's books are alive when quotewire trades against them.
//!
//! [`BackgroundFlow`] produces [`Command`]s for the [`MatchingEngine`], one
//! stream per configured instrument, deterministically from a seed:
//!
//! * **Mid price**: a random walk in ticks with `volatility_ticks_per_sqrt_s`
//!   (Gaussian increments of variance `sigma^2 * dt`), advanced at every limit
//!   and marketable arrival, reflected so it stays a tick inside the band.
//! * **Limit orders** (day) arrive as a Poisson process of `limit_rate` per
//!   second, either side with equal chance, `k` ticks behind the modelled
//!   touch (the nearest tick strictly below the mid for a bid, strictly above
//!   for an offer) with `k` geometric on `0, 1, 2, ...` of mean
//!   `mean_depth_ticks`, clamped into the band, so always on a tick and inside it.
//! * **Marketable orders** (IOC) arrive as a Poisson process of `market_rate`
//!   per second, priced `market_reach_ticks` through the modelled touch on the
//!   other side, so they take the best levels (whoever rests there).
//! * **Cancellations**: each of the flow's resting orders is cancelled at
//!   `cancel_rate` per second, independently; equivalently a Poisson process
//!   of rate `cancel_rate * live` that cancels a live order chosen uniformly.
//!   With few fills the flow settles near `limit_rate / cancel_rate` resting
//!   orders per instrument.
//! * **Sizes** are whole lots: `lot` times a lot count drawn from
//!   [`SizeDistribution`] with mean `mean_size / lot`, capped at the
//!   instrument's maximum order quantity.
//!
//! The flow spreads its orders over `firms` consecutive firm ids from `firm`
//! (those ids are reserved for it); two of its orders from the same firm meet
//! the venue's self-match prevention like any others, one from different firms
//! trade.
//!
//! # Determinism
//!
//! The limit and marketable arrivals (times, sides, prices, sizes, firms) and
//! the mid path are a function of the seed alone: each instrument draws them
//! from its own generators, so they do not depend on how often [`due`] is
//! called nor on what happened to earlier orders. Cancellations depend on
//! which orders are still live, so on the events fed back through
//! [`on_events`]: the same seed and the same events give the same commands.
//! The generator is a local xoshiro256++ rather than `rand`'s `SmallRng`, whose
//! stream `rand` does not promise to keep across versions or targets.
//!
//! # Cost
//!
//! Everything is allocated in [`BackgroundFlow::new`]: per-instrument slot
//! pools of `max_live_orders` orders (a sparse set, so choosing, adding and
//! removing a live order are O(1)) and an indexed min-heap of the next arrival
//! of each process (O(log instruments) per command). Client ids carry the slot
//! and a generation, so an event is matched to its order without a hash lookup
//! and late events about a cancelled order are ignored.
//!
//! # Changing the market while it runs
//!
//! [`BackgroundFlow::control`] hands out a [`BackgroundControl`]: a lock-free,
//! `Send + Sync` handle through which another thread changes an instrument's
//! volatility and limit, marketable and cancel rates
//! ([`BackgroundControl::set`]) and reads them back with the modelled mid
//! ([`BackgroundControl::params`], [`BackgroundControl::mid`]). The values
//! are `f64` bits in atomics plus a version counter; the flow loads the
//! version once per [`due`] and, when it moved, applies the new values at the
//! end of that call, effective at its `now_ns`: the mid is first advanced to
//! that time with the old volatility (so the walk's variance is
//! `sigma_old^2 * dt_before + sigma_new^2 * dt_after`), and a process whose
//! rate changed draws its next arrival afresh from that time (exact for a
//! Poisson process, which is memoryless; a rate raised from zero starts
//! firing). Without changes the flow draws exactly what it drew before the
//! handle existed; with changes it is deterministic given the seed, the
//! changes and the `now_ns` of the `due` call that first sees each of them.
//!
//! [`due`]: BackgroundFlow::due
//! [`on_events`]: BackgroundFlow::on_events

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quotewire_core::{InstrumentId, Price, Qty, Side, Timestamp};

use crate::matching::{
    CancelOrder, ClientOrderId, Command, Event, FirmId, MatchingEngine, NewOrder, OrderType,
    RequestKind,
};
use crate::runtime::OrderEntry;

/// Nanoseconds per second, as a float for the rate conversions.
const NS_PER_S: f64 = 1e9;
/// A timer that never fires.
const NEVER: u64 = u64::MAX;
/// Client ids of IOC orders carry this bit (they never rest, so need no slot).
const IOC_BIT: u64 = 1 << 63;
/// Generations wrap inside 31 bits so a slot's client id never sets [`IOC_BIT`].
const GEN_MASK: u32 = 0x7FFF_FFFF;

/// How the number of lots of an order is drawn, around a mean of `mean_size / lot`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SizeDistribution {
    /// Always the mean (rounded to whole lots).
    Constant,
    /// `1 + G` lots with `G` geometric: mostly small orders, a few large.
    #[default]
    Geometric,
    /// Uniform on `1..=2 * mean - 1` lots.
    Uniform,
}

/// The flow of one instrument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundInstrument {
    /// The instrument; must be traded by the engine.
    pub instrument: InstrumentId,
    /// Mid price at the start; must lie inside the instrument's band (need
    /// not be on a tick).
    pub start_mid: Price,
    /// Standard deviation of the mid's move over one second, in ticks.
    pub volatility_ticks_per_sqrt_s: f64,
    /// Limit (day) orders per second.
    pub limit_rate: f64,
    /// Marketable (IOC) orders per second.
    pub market_rate: f64,
    /// Cancellation rate of each resting order of the flow, per second.
    pub cancel_rate: f64,
    /// Mean distance of a limit order behind the modelled touch, in ticks
    /// (0: always at the touch).
    pub mean_depth_ticks: f64,
    /// How many ticks through the modelled touch a marketable order is priced.
    pub market_reach_ticks: u32,
    /// Round lot; every size is a multiple of it.
    pub lot: Qty,
    /// Mean order size (at least one lot).
    pub mean_size: Qty,
    /// Shape of the size distribution.
    pub size_distribution: SizeDistribution,
    /// Most of the flow's orders resting at once on this instrument; a limit
    /// arrival finding the pool full is dropped (and counted).
    pub max_live_orders: u32,
}

impl BackgroundInstrument {
    /// A moderately active instrument: 50 limit and 5 marketable orders per
    /// second, each resting order cancelled at 0.5/s (about 100 resting),
    /// 1 tick/sqrt(s) volatility, orders 2 ticks behind the touch on average,
    /// lots of 100 shares, mean size 300.
    #[must_use]
    pub const fn new(instrument: InstrumentId, start_mid: Price) -> Self {
        Self {
            instrument,
            start_mid,
            volatility_ticks_per_sqrt_s: 1.0,
            limit_rate: 50.0,
            market_rate: 5.0,
            cancel_rate: 0.5,
            mean_depth_ticks: 2.0,
            market_reach_ticks: 2,
            lot: Qty(100),
            mean_size: Qty(300),
            size_distribution: SizeDistribution::Geometric,
            max_live_orders: 4096,
        }
    }
}

/// Configuration of a [`BackgroundFlow`].
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// First firm id of the flow.
    pub firm: FirmId,
    /// Number of consecutive firm ids (from `firm`) the flow's orders are
    /// spread over; at least 1. Orders of different firms trade with each
    /// other; orders of one firm meet self-match prevention.
    pub firms: u32,
    /// Simulated time (ns) of the start; `None`: the `now_ns` of the first
    /// [`BackgroundFlow::due`] call.
    pub start_ns: Option<u64>,
    /// The instruments, each with its own flow.
    pub instruments: Vec<BackgroundInstrument>,
}

/// Why a [`BackgroundConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum BackgroundError {
    /// No instrument configured.
    #[error("background flow: no instruments configured")]
    NoInstruments,
    /// `firms` is zero, or `firm + firms` overflows the firm id.
    #[error("background flow: invalid firm range {firm:?} + {firms}")]
    InvalidFirms {
        /// First firm id.
        firm: FirmId,
        /// Number of firms.
        firms: u32,
    },
    /// The engine does not trade the instrument.
    #[error("background flow: instrument {0:?} is not traded by the engine")]
    UnknownInstrument(InstrumentId),
    /// The instrument is configured twice.
    #[error("background flow: instrument {0:?} is configured twice")]
    DuplicateInstrument(InstrumentId),
    /// A rate, volatility or depth is negative, NaN or infinite.
    #[error("background flow: instrument {instrument:?}: {name} must be finite and non-negative, got {value}")]
    InvalidParameter {
        /// The instrument.
        instrument: InstrumentId,
        /// The field.
        name: &'static str,
        /// The refused value.
        value: f64,
    },
    /// The start mid lies outside the instrument's price band.
    #[error("background flow: instrument {instrument:?}: start mid {mid:?} is outside the band [{low:?}, {high:?}]")]
    MidOutsideBand {
        /// The instrument.
        instrument: InstrumentId,
        /// The refused mid.
        mid: Price,
        /// Lowest valid price.
        low: Price,
        /// Highest valid price.
        high: Price,
    },
    /// The band holds fewer than two ticks, so there is no room for both sides.
    #[error("background flow: instrument {0:?}: the band holds fewer than two prices")]
    BandTooNarrow(InstrumentId),
    /// Zero lot, a mean size below one lot, or a lot above the maximum order quantity.
    #[error("background flow: instrument {instrument:?}: lot {lot:?} and mean size {mean_size:?} need 0 < lot <= mean size and lot <= max order qty {max_order_qty:?}")]
    InvalidSize {
        /// The instrument.
        instrument: InstrumentId,
        /// Configured lot.
        lot: Qty,
        /// Configured mean size.
        mean_size: Qty,
        /// The engine's maximum order quantity for the instrument.
        max_order_qty: Qty,
    },
    /// A change names an instrument the flow does not drive.
    #[error("background flow: instrument {0:?} has no background flow")]
    NoFlow(InstrumentId),
    /// `max_live_orders` is zero, or all instruments' pools together exceed `u32::MAX - 1`.
    #[error(
        "background flow: instrument {instrument:?}: invalid max_live_orders {max_live_orders}"
    )]
    InvalidCapacity {
        /// The instrument.
        instrument: InstrumentId,
        /// The refused capacity.
        max_live_orders: u32,
    },
}

/// What the flow has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BackgroundStats {
    /// Limit orders sent.
    pub limit_orders: u64,
    /// Marketable (IOC) orders sent.
    pub market_orders: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Limit arrivals dropped because the instrument's pool was full.
    pub dropped: u64,
    /// Executions with the flow on either side (an execution between two of
    /// its firms counts once).
    pub executions: u64,
    /// Shares of those executions.
    pub executed_qty: u64,
    /// Rejections of the flow's commands (a cancel racing a fill in the same batch, a full venue).
    pub rejects: u64,
}

/// A change of one instrument's flow: each `Some` field replaces the current
/// value, each `None` keeps it. Values are checked like the configuration's
/// (finite and non-negative).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BackgroundChange {
    /// New standard deviation of the mid's move over one second, in ticks.
    pub volatility_ticks_per_sqrt_s: Option<f64>,
    /// New limit (day) orders per second.
    pub limit_rate: Option<f64>,
    /// New marketable (IOC) orders per second.
    pub market_rate: Option<f64>,
    /// New cancellation rate of each resting order, per second.
    pub cancel_rate: Option<f64>,
}

/// The adjustable parameters of one instrument's flow, as last set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundParams {
    /// Standard deviation of the mid's move over one second, in ticks.
    pub volatility_ticks_per_sqrt_s: f64,
    /// Limit (day) orders per second.
    pub limit_rate: f64,
    /// Marketable (IOC) orders per second.
    pub market_rate: f64,
    /// Cancellation rate of each resting order, per second.
    pub cancel_rate: f64,
}

/// One instrument's shared values, `f64` bits.
#[derive(Debug)]
struct SharedLane {
    instrument: InstrumentId,
    volatility: AtomicU64,
    limit_rate: AtomicU64,
    market_rate: AtomicU64,
    cancel_rate: AtomicU64,
    /// The modelled mid in raw price units, published by the flow.
    mid: AtomicU64,
}

impl SharedLane {
    fn params(&self) -> BackgroundParams {
        let load = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        BackgroundParams {
            volatility_ticks_per_sqrt_s: load(&self.volatility),
            limit_rate: load(&self.limit_rate),
            market_rate: load(&self.market_rate),
            cancel_rate: load(&self.cancel_rate),
        }
    }
}

#[derive(Debug)]
struct Shared {
    /// Bumped after every change; the flow re-reads the values when it moved.
    version: AtomicU64,
    /// Lane index by instrument id (`u32::MAX` for instruments without flow).
    lane_of: Vec<u32>,
    lanes: Vec<SharedLane>,
}

/// A lock-free handle that changes a running [`BackgroundFlow`]'s volatility
/// and rates from any thread; see the [module docs](self#changing-the-market-while-it-runs).
///
/// Cheap to clone (an `Arc`); every clone drives the same flow. A change made
/// of several fields may be seen half-applied for one `due` call while a
/// concurrent [`set`](Self::set) is storing it, never longer.
#[derive(Clone, Debug)]
pub struct BackgroundControl {
    shared: Arc<Shared>,
}

impl BackgroundControl {
    fn lane(&self, instrument: InstrumentId) -> Option<&SharedLane> {
        let lane = *self.shared.lane_of.get(usize::from(instrument.0))?;
        self.shared.lanes.get(lane as usize)
    }

    /// Applies `change` to `instrument`'s flow from its next step. Every given
    /// value is checked before any is stored: on error nothing changes.
    pub fn set(
        &self,
        instrument: InstrumentId,
        change: BackgroundChange,
    ) -> Result<(), BackgroundError> {
        let lane = self
            .lane(instrument)
            .ok_or(BackgroundError::NoFlow(instrument))?;
        let fields = [
            (
                "volatility_ticks_per_sqrt_s",
                change.volatility_ticks_per_sqrt_s,
                &lane.volatility,
            ),
            ("limit_rate", change.limit_rate, &lane.limit_rate),
            ("market_rate", change.market_rate, &lane.market_rate),
            ("cancel_rate", change.cancel_rate, &lane.cancel_rate),
        ];
        for (name, value, _) in fields {
            if let Some(v) = value {
                check_param(instrument, name, v)?;
            }
        }
        for (_, value, cell) in fields {
            if let Some(v) = value {
                cell.store(v.to_bits(), Ordering::Relaxed);
            }
        }
        // Release: a flow that sees the new version sees the values above.
        self.shared.version.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The current (last set, or configured) parameters of `instrument`'s
    /// flow; `None` when the flow does not drive it.
    #[must_use]
    pub fn params(&self, instrument: InstrumentId) -> Option<BackgroundParams> {
        self.lane(instrument).map(SharedLane::params)
    }

    /// The modelled mid of `instrument` in raw price units (fractional), as of
    /// the flow's last arrival or change on it.
    #[must_use]
    pub fn mid(&self, instrument: InstrumentId) -> Option<f64> {
        self.lane(instrument)
            .map(|l| f64::from_bits(l.mid.load(Ordering::Relaxed)))
    }

    /// Whether the flow drives `instrument`.
    #[must_use]
    pub fn drives(&self, instrument: InstrumentId) -> bool {
        self.lane(instrument).is_some()
    }

    /// The instruments the flow drives, in configuration order.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentId> + '_ {
        self.shared.lanes.iter().map(|l| l.instrument)
    }
}

/// xoshiro256++ seeded through SplitMix64: small, fast, and a stream this
/// crate controls.
#[derive(Clone, Debug)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xD134_2543_DE82_EF95);
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on `(0, 1]` (never zero, so its logarithm is finite).
    #[inline]
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Uniform on `0..n` (multiply-shift; the bias is below 2^-32 for `n < 2^32`).
    #[inline]
    fn below(&mut self, n: u32) -> u32 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u32
    }

    #[inline]
    fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Exponential of mean 1.
    #[inline]
    fn exp(&mut self) -> f64 {
        -self.unit().ln()
    }

    /// Geometric on `0, 1, 2, ...` with `P(k) = (1 - q) q^k`, given `ln q`
    /// (`-inf` for `q = 0`: always 0).
    #[inline]
    fn geometric(&mut self, ln_q: f64) -> u64 {
        // ln(u) <= 0 and ln_q < 0, so the quotient is >= 0; `as` saturates.
        (self.unit().ln() / ln_q) as u64
    }

    /// Standard normal (Box-Muller, one of the pair).
    #[inline]
    fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.unit().ln()).sqrt();
        r * (std::f64::consts::TAU * self.unit()).cos()
    }
}

/// Draws order sizes in whole lots.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    lot: u64,
    distribution: SizeDistribution,
    /// Constant: the lot count; Uniform: the largest lot count.
    lots: u64,
    /// Geometric: `ln q` of the extra lots.
    ln_q: f64,
    max_lots: u64,
}

impl Sizes {
    fn new(cfg: &BackgroundInstrument, max_order_qty: Qty) -> Self {
        let lot = cfg.lot.0;
        let mean_lots = cfg.mean_size.0 as f64 / lot as f64;
        let lots = match cfg.size_distribution {
            SizeDistribution::Constant => mean_lots.round(),
            SizeDistribution::Uniform => (2.0 * mean_lots - 1.0).round(),
            SizeDistribution::Geometric => 1.0,
        };
        Self {
            lot,
            distribution: cfg.size_distribution,
            lots: (lots as u64).clamp(1, u64::from(u32::MAX)),
            ln_q: (1.0 - 1.0 / mean_lots).ln(),
            max_lots: max_order_qty.0 / lot,
        }
    }

    #[inline]
    fn draw(&self, rng: &mut Rng) -> Qty {
        let lots = match self.distribution {
            SizeDistribution::Constant => self.lots,
            SizeDistribution::Geometric => 1 + rng.geometric(self.ln_q),
            SizeDistribution::Uniform => 1 + u64::from(rng.below(self.lots as u32)),
        };
        Qty(lots.min(self.max_lots) * self.lot)
    }
}

/// The three processes of an instrument; timer id = `3 * lane + kind`.
const LIMIT: usize = 0;
const MARKET: usize = 1;
const CANCEL: usize = 2;

/// One instrument's model and generators.
#[derive(Clone, Debug)]
struct Lane {
    instrument: InstrumentId,
    tick: i64,
    low: i64,
    /// Number of prices in the band.
    levels: i64,
    /// Mid in ticks above `low`, kept in `[0.5, levels - 1.5]`.
    mid: f64,
    mid_ns: u64,
    /// The applied parameters, as configured or last changed.
    params: BackgroundParams,
    /// Volatility in ticks per sqrt(ns).
    sigma: f64,
    /// Mean gaps between arrivals, ns (infinite for a zero rate).
    limit_gap_ns: f64,
    market_gap_ns: f64,
    /// Cancel rate per resting order per ns.
    cancel_per_ns: f64,
    depth_ln_q: f64,
    reach: i64,
    sizes: Sizes,
    mid_rng: Rng,
    limit_rng: Rng,
    market_rng: Rng,
    cancel_rng: Rng,
    /// This lane's part of the slot pool: `dense[base .. base + cap]`.
    base: u32,
    cap: u32,
    /// The first `live` entries of the lane's dense range are its live slots.
    live: u32,
}

impl Lane {
    /// Moves the mid to `t` (a Gaussian step of variance `sigma^2 * dt`), reflected into the band.
    #[inline]
    fn advance_mid(&mut self, t: u64) {
        if t <= self.mid_ns {
            return;
        }
        let dt = (t - self.mid_ns) as f64;
        self.mid_ns = t;
        if self.sigma == 0.0 {
            return;
        }
        let lo = 0.5;
        let width = self.levels as f64 - 2.0;
        let x = self.mid - lo + self.sigma * dt.sqrt() * self.mid_rng.normal();
        let folded = if width > 0.0 {
            let y = x.rem_euclid(2.0 * width);
            if y > width {
                2.0 * width - y
            } else {
                y
            }
        } else {
            0.0
        };
        self.mid = lo + folded;
    }

    /// Highest tick index strictly below the mid (the modelled best bid).
    #[inline]
    fn bid_top(&self) -> i64 {
        self.mid.ceil() as i64 - 1
    }

    /// Lowest tick index strictly above the mid (the modelled best offer).
    #[inline]
    fn ask_top(&self) -> i64 {
        self.mid.floor() as i64 + 1
    }

    /// The modelled mid in raw price units.
    #[inline]
    fn raw_mid(&self) -> f64 {
        self.low as f64 + self.mid * self.tick as f64
    }

    #[inline]
    fn price(&self, index: i64) -> Price {
        Price(self.low + index.clamp(0, self.levels - 1) * self.tick)
    }
}

/// Per-slot bookkeeping; a slot's index in the pool is the low half of its
/// order's client id, its generation the high half.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    generation: u32,
    /// Position in the lane's dense range.
    pos: u32,
    lane: u32,
    firm: FirmId,
}

/// An indexed binary min-heap of timer deadlines, ties broken by timer id.
#[derive(Clone, Debug)]
struct Timers {
    heap: Vec<u32>,
    pos: Vec<u32>,
    at: Vec<u64>,
}

impl Timers {
    fn new(n: usize) -> Self {
        // All at NEVER in id order: already a valid heap.
        Self {
            heap: (0..n as u32).collect(),
            pos: (0..n as u32).collect(),
            at: vec![NEVER; n],
        }
    }

    #[inline]
    fn key(&self, id: u32) -> (u64, u32) {
        (self.at[id as usize], id)
    }

    /// The earliest timer: (deadline, id).
    #[inline]
    fn peek(&self) -> Option<(u64, u32)> {
        self.heap.first().map(|&id| self.key(id))
    }

    #[inline]
    fn set(&mut self, id: usize, at: u64) {
        let old = self.at[id];
        self.at[id] = at;
        let i = self.pos[id] as usize;
        if at < old {
            self.sift_up(i);
        } else {
            self.sift_down(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.key(self.heap[i]) >= self.key(self.heap[parent]) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && self.key(self.heap[l]) < self.key(self.heap[best]) {
                best = l;
            }
            if r < n && self.key(self.heap[r]) < self.key(self.heap[best]) {
                best = r;
            }
            if best == i {
                break;
            }
            self.swap(i, best);
            i = best;
        }
    }

    #[inline]
    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }
}

/// `t + gap`, rounded to the nanosecond; [`NEVER`] for an infinite gap.
#[inline]
fn after(t: u64, gap_ns: f64) -> u64 {
    if gap_ns < 1.8e19 {
        t.saturating_add(gap_ns.round() as u64)
    } else {
        NEVER
    }
}

/// Synthetic order flow of the venue's other participants. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BackgroundFlow {
    firm: FirmId,
    firms: u32,
    start_ns: Option<u64>,
    started: bool,
    /// Time of the last command emitted.
    clock: u64,
    lanes: Vec<Lane>,
    /// Lane index by instrument id (`u32::MAX` for instruments without flow).
    lane_of: Vec<u32>,
    slots: Vec<Slot>,
    /// Per lane, a permutation of its slots: live first.
    dense: Vec<u32>,
    timers: Timers,
    next_ioc: u64,
    stats: BackgroundStats,
    control: BackgroundControl,
    /// The control's version last applied.
    seen_version: u64,
}

fn check_param(
    instrument: InstrumentId,
    name: &'static str,
    value: f64,
) -> Result<f64, BackgroundError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(BackgroundError::InvalidParameter {
            instrument,
            name,
            value,
        })
    }
}

impl BackgroundFlow {
    /// Validates `cfg` against the engine's instrument rules and allocates everything.
    pub fn new(cfg: &BackgroundConfig, engine: &MatchingEngine) -> Result<Self, BackgroundError> {
        if cfg.instruments.is_empty() {
            return Err(BackgroundError::NoInstruments);
        }
        if cfg.firms == 0 || cfg.firm.0.checked_add(cfg.firms - 1).is_none() {
            return Err(BackgroundError::InvalidFirms {
                firm: cfg.firm,
                firms: cfg.firms,
            });
        }
        let max_id = cfg
            .instruments
            .iter()
            .map(|i| usize::from(i.instrument.0))
            .max()
            .unwrap_or(0);
        let mut lane_of = vec![u32::MAX; max_id + 1];
        let mut lanes = Vec::with_capacity(cfg.instruments.len());
        let mut total: u64 = 0;
        for (index, ic) in cfg.instruments.iter().enumerate() {
            let id = ic.instrument;
            let rules = engine
                .rules(id)
                .ok_or(BackgroundError::UnknownInstrument(id))?;
            let entry = &mut lane_of[usize::from(id.0)];
            if *entry != u32::MAX {
                return Err(BackgroundError::DuplicateInstrument(id));
            }
            *entry = index as u32;
            let sigma = check_param(
                id,
                "volatility_ticks_per_sqrt_s",
                ic.volatility_ticks_per_sqrt_s,
            )?;
            let limit_rate = check_param(id, "limit_rate", ic.limit_rate)?;
            let market_rate = check_param(id, "market_rate", ic.market_rate)?;
            let cancel_rate = check_param(id, "cancel_rate", ic.cancel_rate)?;
            let depth = check_param(id, "mean_depth_ticks", ic.mean_depth_ticks)?;
            let (tick, low, high) = (rules.tick.0, rules.low.0, rules.high.0);
            if ic.start_mid.0 < low || ic.start_mid.0 > high {
                return Err(BackgroundError::MidOutsideBand {
                    instrument: id,
                    mid: ic.start_mid,
                    low: rules.low,
                    high: rules.high,
                });
            }
            let levels = (high - low) / tick + 1;
            if levels < 2 {
                return Err(BackgroundError::BandTooNarrow(id));
            }
            if ic.lot.0 == 0 || ic.mean_size.0 < ic.lot.0 || ic.lot.0 > rules.max_order_qty.0 {
                return Err(BackgroundError::InvalidSize {
                    instrument: id,
                    lot: ic.lot,
                    mean_size: ic.mean_size,
                    max_order_qty: rules.max_order_qty,
                });
            }
            total += u64::from(ic.max_live_orders);
            if ic.max_live_orders == 0 || total >= u64::from(u32::MAX) {
                return Err(BackgroundError::InvalidCapacity {
                    instrument: id,
                    max_live_orders: ic.max_live_orders,
                });
            }
            let stream = |kind: u64| Rng::new(cfg.seed, 4 * index as u64 + kind);
            let mid = ((ic.start_mid.0 - low) as f64 / tick as f64).clamp(0.5, levels as f64 - 1.5);
            lanes.push(Lane {
                instrument: id,
                tick,
                low,
                levels,
                mid,
                mid_ns: 0,
                params: BackgroundParams {
                    volatility_ticks_per_sqrt_s: sigma,
                    limit_rate,
                    market_rate,
                    cancel_rate,
                },
                sigma: sigma / NS_PER_S.sqrt(),
                limit_gap_ns: NS_PER_S / limit_rate,
                market_gap_ns: NS_PER_S / market_rate,
                cancel_per_ns: cancel_rate / NS_PER_S,
                depth_ln_q: (depth / (1.0 + depth)).ln(),
                reach: i64::from(ic.market_reach_ticks),
                sizes: Sizes::new(ic, rules.max_order_qty),
                mid_rng: stream(0),
                limit_rng: stream(1),
                market_rng: stream(2),
                cancel_rng: stream(3),
                base: (total - u64::from(ic.max_live_orders)) as u32,
                cap: ic.max_live_orders,
                live: 0,
            });
        }
        let mut slots = vec![Slot::default(); total as usize];
        let mut dense = vec![0_u32; total as usize];
        for (l, lane) in lanes.iter().enumerate() {
            for i in 0..lane.cap {
                let s = lane.base + i;
                dense[s as usize] = s;
                slots[s as usize] = Slot {
                    generation: 0,
                    pos: i,
                    lane: l as u32,
                    firm: cfg.firm,
                };
            }
        }
        let timers = Timers::new(3 * lanes.len());
        let bits = |v: f64| AtomicU64::new(v.to_bits());
        let control = BackgroundControl {
            shared: Arc::new(Shared {
                version: AtomicU64::new(0),
                lane_of: lane_of.clone(),
                lanes: lanes
                    .iter()
                    .map(|l| SharedLane {
                        instrument: l.instrument,
                        volatility: bits(l.params.volatility_ticks_per_sqrt_s),
                        limit_rate: bits(l.params.limit_rate),
                        market_rate: bits(l.params.market_rate),
                        cancel_rate: bits(l.params.cancel_rate),
                        mid: bits(l.raw_mid()),
                    })
                    .collect(),
            }),
        };
        let mut flow = Self {
            firm: cfg.firm,
            firms: cfg.firms,
            start_ns: cfg.start_ns,
            started: false,
            clock: 0,
            lanes,
            lane_of,
            slots,
            dense,
            timers,
            next_ioc: 0,
            stats: BackgroundStats::default(),
            control,
            seen_version: 0,
        };
        if let Some(start) = cfg.start_ns {
            flow.start(start);
        }
        Ok(flow)
    }

    fn start(&mut self, t: u64) {
        self.started = true;
        self.clock = t;
        for (l, lane) in self.lanes.iter_mut().enumerate() {
            lane.mid_ns = t;
            let limit = after(t, lane.limit_rng.exp() * lane.limit_gap_ns);
            let market = after(t, lane.market_rng.exp() * lane.market_gap_ns);
            self.timers.set(3 * l + LIMIT, limit);
            self.timers.set(3 * l + MARKET, market);
        }
    }

    /// Appends, in time order, every command whose arrival time is at most
    /// `now_ns`; each carries its arrival time as `ts`. The first call starts
    /// the clock at `now_ns` unless the config names a start.
    ///
    /// Changes made through the [`BackgroundControl`] since the last call are
    /// applied at the end, effective at `now_ns` (or at the start, if later).
    pub fn due(&mut self, now_ns: u64, out: &mut Vec<Command>) {
        if !self.started {
            // Changes before the start just replace the configuration.
            self.apply_changes(None);
            self.start(self.start_ns.unwrap_or(now_ns));
        }
        while let Some((t, id)) = self.timers.peek() {
            if t > now_ns || t == NEVER {
                break;
            }
            self.clock = t;
            let (lane, kind) = (id as usize / 3, id as usize % 3);
            match kind {
                LIMIT => self.fire_limit(lane, t, out),
                MARKET => self.fire_market(lane, t, out),
                _ => self.fire_cancel(lane, t, out),
            }
        }
        self.apply_changes(Some(now_ns.max(self.clock)));
    }

    /// A handle through which other threads change this flow's volatility and
    /// rates while it runs (clones of the flow share it).
    #[must_use]
    pub fn control(&self) -> BackgroundControl {
        self.control.clone()
    }

    /// Applies the control's values if its version moved: at time `at`
    /// (advancing the mid and redrawing the changed processes' next arrivals
    /// from there), or, with `None`, before the start (nothing scheduled yet).
    fn apply_changes(&mut self, at: Option<u64>) {
        let version = self.control.shared.version.load(Ordering::Acquire);
        if version == self.seen_version {
            return;
        }
        self.seen_version = version;
        // Only on a change: one reference count, no allocation.
        let shared = Arc::clone(&self.control.shared);
        for l in 0..self.lanes.len() {
            let new = shared.lanes[l].params();
            let lane = &mut self.lanes[l];
            let old = lane.params;
            lane.params = new;
            if new.volatility_ticks_per_sqrt_s.to_bits()
                != old.volatility_ticks_per_sqrt_s.to_bits()
            {
                if let Some(t) = at {
                    // The walk up to now keeps the old volatility.
                    lane.advance_mid(t);
                    shared.lanes[l]
                        .mid
                        .store(lane.raw_mid().to_bits(), Ordering::Relaxed);
                }
                lane.sigma = new.volatility_ticks_per_sqrt_s / NS_PER_S.sqrt();
            }
            if new.limit_rate.to_bits() != old.limit_rate.to_bits() {
                lane.limit_gap_ns = NS_PER_S / new.limit_rate;
                if let Some(t) = at {
                    let next = after(t, lane.limit_rng.exp() * lane.limit_gap_ns);
                    self.timers.set(3 * l + LIMIT, next);
                }
            }
            if new.market_rate.to_bits() != old.market_rate.to_bits() {
                lane.market_gap_ns = NS_PER_S / new.market_rate;
                if let Some(t) = at {
                    let next = after(t, lane.market_rng.exp() * lane.market_gap_ns);
                    self.timers.set(3 * l + MARKET, next);
                }
            }
            if new.cancel_rate.to_bits() != old.cancel_rate.to_bits() {
                lane.cancel_per_ns = new.cancel_rate / NS_PER_S;
                if let Some(t) = at {
                    self.reschedule_cancel(l, t);
                }
            }
        }
    }

    /// Arrival time of the next command, if any (to sleep or jump until then).
    #[must_use]
    pub fn next_arrival_ns(&self) -> Option<u64> {
        self.timers.peek().map(|(t, _)| t).filter(|&t| t != NEVER)
    }

    #[inline]
    fn draw_firm(firm: FirmId, firms: u32, rng: &mut Rng) -> FirmId {
        FirmId(firm.0 + rng.below(firms))
    }

    fn fire_limit(&mut self, l: usize, t: u64, out: &mut Vec<Command>) {
        let lane = &mut self.lanes[l];
        lane.advance_mid(t);
        self.control.shared.lanes[l]
            .mid
            .store(lane.raw_mid().to_bits(), Ordering::Relaxed);
        // A fixed number of draws per arrival, so the stream never depends on state.
        let rng = &mut lane.limit_rng;
        let side = if rng.coin() { Side::Sell } else { Side::Buy };
        let depth = rng.geometric(lane.depth_ln_q).min(lane.levels as u64) as i64;
        let firm = Self::draw_firm(self.firm, self.firms, rng);
        let qty = lane.sizes.draw(rng);
        let next = after(t, rng.exp() * lane.limit_gap_ns);
        self.timers.set(3 * l + LIMIT, next);
        let index = match side {
            Side::Buy => lane.bid_top() - depth,
            Side::Sell => lane.ask_top() + depth,
        };
        let price = lane.price(index);
        let instrument = lane.instrument;
        let Some(client_id) = self.allocate(l, firm) else {
            self.stats.dropped += 1;
            return;
        };
        out.push(Command::New(NewOrder {
            ts: Timestamp(t),
            firm,
            client_id,
            instrument,
            side,
            price,
            qty,
            order_type: OrderType::Limit,
        }));
        self.stats.limit_orders += 1;
        self.reschedule_cancel(l, t);
    }

    fn fire_market(&mut self, l: usize, t: u64, out: &mut Vec<Command>) {
        let lane = &mut self.lanes[l];
        lane.advance_mid(t);
        self.control.shared.lanes[l]
            .mid
            .store(lane.raw_mid().to_bits(), Ordering::Relaxed);
        let rng = &mut lane.market_rng;
        let side = if rng.coin() { Side::Sell } else { Side::Buy };
        let firm = Self::draw_firm(self.firm, self.firms, rng);
        let qty = lane.sizes.draw(rng);
        let next = after(t, rng.exp() * lane.market_gap_ns);
        self.timers.set(3 * l + MARKET, next);
        let index = match side {
            Side::Buy => lane.ask_top() + lane.reach,
            Side::Sell => lane.bid_top() - lane.reach,
        };
        self.next_ioc += 1;
        out.push(Command::New(NewOrder {
            ts: Timestamp(t),
            firm,
            client_id: ClientOrderId(IOC_BIT | self.next_ioc),
            instrument: lane.instrument,
            side,
            price: lane.price(index),
            qty,
            order_type: OrderType::Ioc,
        }));
        self.stats.market_orders += 1;
    }

    fn fire_cancel(&mut self, l: usize, t: u64, out: &mut Vec<Command>) {
        let lane = &mut self.lanes[l];
        if lane.live > 0 {
            let pick = lane.cancel_rng.below(lane.live);
            let slot = self.dense[(lane.base + pick) as usize];
            let s = self.slots[slot as usize];
            self.release(slot);
            out.push(Command::Cancel(CancelOrder {
                ts: Timestamp(t),
                firm: s.firm,
                client_id: client_id(slot, s.generation),
                leave_qty: Qty(0),
            }));
            self.stats.cancels += 1;
        }
        self.reschedule_cancel(l, t);
    }

    /// Redraws the next cancel after the live count changed at `t` (exact, the
    /// process being memoryless).
    #[inline]
    fn reschedule_cancel(&mut self, l: usize, t: u64) {
        let lane = &mut self.lanes[l];
        let rate = lane.cancel_per_ns * f64::from(lane.live);
        let at = if rate > 0.0 {
            after(t, lane.cancel_rng.exp() / rate)
        } else {
            NEVER
        };
        self.timers.set(3 * l + CANCEL, at);
    }

    /// Takes a free slot of the lane; returns the new order's client id.
    #[inline]
    fn allocate(&mut self, l: usize, firm: FirmId) -> Option<ClientOrderId> {
        let lane = &mut self.lanes[l];
        if lane.live == lane.cap {
            return None;
        }
        let slot_index = self.dense[(lane.base + lane.live) as usize];
        lane.live += 1;
        let slot = &mut self.slots[slot_index as usize];
        slot.generation = (slot.generation + 1) & GEN_MASK;
        slot.firm = firm;
        Some(client_id(slot_index, slot.generation))
    }

    /// Returns a live slot to its lane's free part (swap with the last live one).
    #[inline]
    fn release(&mut self, slot_index: u32) {
        let Slot { pos, lane, .. } = self.slots[slot_index as usize];
        let lane = &mut self.lanes[lane as usize];
        lane.live -= 1;
        let last = lane.live;
        let other = self.dense[(lane.base + last) as usize];
        self.dense[(lane.base + pos) as usize] = other;
        self.slots[other as usize].pos = pos;
        self.dense[(lane.base + last) as usize] = slot_index;
        self.slots[slot_index as usize].pos = last;
    }

    #[inline]
    fn is_ours(&self, firm: FirmId) -> bool {
        firm.0.wrapping_sub(self.firm.0) < self.firms
    }

    /// The order of `client_id` left the book (filled, cancelled, rejected).
    fn retire(&mut self, client_id: ClientOrderId, ts: u64) {
        let id = client_id.0;
        if id & IOC_BIT != 0 {
            return;
        }
        let slot_index = id as u32;
        let Some(&slot) = self.slots.get(slot_index as usize) else {
            return;
        };
        let lane = slot.lane as usize;
        if u64::from(slot.generation) != id >> 32 || slot.pos >= self.lanes[lane].live {
            return;
        }
        self.release(slot_index);
        self.reschedule_cancel(lane, ts.max(self.clock));
    }

    /// Tracks the flow's orders from the engine's events (every event of the
    /// venue may be passed; others' are ignored): fills, cancels and rejects
    /// remove orders from the live set so they are never cancelled twice.
    pub fn on_events(&mut self, events: &[Event]) {
        for event in events {
            match event {
                Event::Executed(x) => {
                    let (resting, aggressor) =
                        (self.is_ours(x.resting_firm), self.is_ours(x.aggressor_firm));
                    if resting || aggressor {
                        self.stats.executions += 1;
                        self.stats.executed_qty += x.qty.0;
                    }
                    if resting && x.resting_remaining.0 == 0 {
                        self.retire(x.resting_client_id, x.ts.0);
                    }
                    if aggressor && x.aggressor_remaining.0 == 0 {
                        self.retire(x.aggressor_client_id, x.ts.0);
                    }
                }
                Event::Canceled(c) if c.remaining.0 == 0 && self.is_ours(c.firm) => {
                    self.retire(c.client_id, c.ts.0);
                }
                Event::Rejected(r) if self.is_ours(r.firm) => {
                    self.stats.rejects += 1;
                    if r.request == RequestKind::New {
                        self.retire(r.client_id, r.ts.0);
                    }
                }
                _ => {}
            }
        }
    }

    /// The modelled mid of an instrument, in raw price units (fractional).
    #[must_use]
    pub fn mid(&self, instrument: InstrumentId) -> Option<f64> {
        let lane = *self.lane_of.get(usize::from(instrument.0))?;
        Some(self.lanes.get(lane as usize)?.raw_mid())
    }

    /// The flow's orders believed live (sent, not yet seen filled, cancelled or rejected).
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.lanes.iter().map(|l| l.live as usize).sum()
    }

    /// Counters of what the flow has done.
    #[must_use]
    pub const fn stats(&self) -> BackgroundStats {
        self.stats
    }
}

#[inline]
fn client_id(slot: u32, generation: u32) -> ClientOrderId {
    ClientOrderId((u64::from(generation) << 32) | u64::from(slot))
}

/// Plugs the flow into [`Venue::add_gateway`](crate::runtime::Venue::add_gateway):
/// `poll` is [`BackgroundFlow::due`], `on_events` is [`BackgroundFlow::on_events`].
impl OrderEntry for BackgroundFlow {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        self.due(now_ns, commands);
    }

    fn on_events(&mut self, _now_ns: u64, events: &[Event]) {
        Self::on_events(self, events);
    }

    fn background_control(&self) -> Option<BackgroundControl> {
        Some(self.control())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_pop_in_deadline_then_id_order() {
        let mut timers = Timers::new(5);
        for (id, at) in [(0, 50), (1, 10), (2, 10), (3, 70), (4, 5)] {
            timers.set(id, at);
        }
        timers.set(4, 60);
        let mut order = Vec::new();
        while let Some((at, id)) = timers.peek().filter(|&(at, _)| at != NEVER) {
            order.push((at, id));
            timers.set(id as usize, NEVER);
        }
        assert_eq!(order, [(10, 1), (10, 2), (50, 0), (60, 4), (70, 3)]);
    }

    #[test]
    fn geometric_draws_have_the_configured_mean() {
        let mut rng = Rng::new(7, 0);
        let mean = 3.0_f64;
        let ln_q = (mean / (1.0 + mean)).ln();
        let n = 200_000;
        let sum: u64 = (0..n).map(|_| rng.geometric(ln_q)).sum();
        let got = sum as f64 / f64::from(n);
        assert!((got - mean).abs() < 0.05, "mean {got}");
        assert_eq!(rng.geometric(f64::NEG_INFINITY), 0);
    }

    #[test]
    fn uniform_and_normal_draws_are_sane() {
        let mut rng = Rng::new(1, 2);
        let n = 200_000;
        let mut counts = [0_u32; 5];
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            counts[rng.below(5) as usize] += 1;
            let z = rng.normal();
            s1 += z;
            s2 += z * z;
        }
        assert!(
            counts
                .iter()
                .all(|&c| (f64::from(c) - 40_000.0).abs() < 1_000.0),
            "{counts:?}"
        );
        let var = s2 / f64::from(n) - (s1 / f64::from(n)).powi(2);
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
