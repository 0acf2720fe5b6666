//! Configuration of a synthetic session and the crate's error type.

use quotewire_protocol::EncodeError;
use thiserror::Error;

/// 09:30:00.000000000 in nanoseconds since midnight: the start of regular trading.
pub const MARKET_OPEN_NS: u64 = 34_200_000_000_000;

/// Number of non-order messages framing a session: `O`, `S`, `Q` before the
/// order flow and `M`, `E`, `C` after it (the Stock Directory messages come on top).
pub const SYSTEM_EVENTS: u64 = 6;

/// Relative weights of the order messages in the session body.
///
/// `add` and `delete` together set the share of "add or delete" decisions; the
/// split between the two is steered at run time so that the live order
/// population follows the build-up curve (see [`SynthConfig::growth_fraction`]).
/// In steady state adds equal deletes plus full executions, which is what the
/// default weights encode (440 = 430 + 25 x 0.4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MessageMix {
    /// Add Order (`A`).
    pub add: u32,
    /// Order Delete (`D`).
    pub delete: u32,
    /// Order Executed (`E`), partial or full.
    pub execute: u32,
    /// Order Cancel (`X`), always partial.
    pub cancel: u32,
    /// Order Replace (`U`).
    pub replace: u32,
    /// Probability that an execution takes the whole remaining size.
    pub execute_full_probability: f64,
}

impl Default for MessageMix {
    /// Per-mille weights close to a Nasdaq day: 44% A, 43% D, 8% U, 2.5% E, 2.5% X.
    fn default() -> Self {
        Self {
            add: 440,
            delete: 430,
            execute: 25,
            cancel: 25,
            replace: 80,
            execute_full_probability: 0.4,
        }
    }
}

impl MessageMix {
    /// Sum of all weights.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.add as u64
            + self.delete as u64
            + self.execute as u64
            + self.cancel as u64
            + self.replace as u64
    }
}

/// Everything that shapes a synthetic session. Same config (seed included) gives
/// byte-identical output.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    /// Total ITCH messages emitted, framing included: 3 opening System Events,
    /// one Stock Directory per instrument, the order flow, 3 closing System
    /// Events. Must be at least `instruments + 6`.
    pub messages: u64,
    /// Number of instruments; stock locates are `1..=instruments`, symbols `SYM00001`...
    pub instruments: u16,
    /// Hard cap on simultaneously live orders, and the peak the population aims
    /// for when the session is long enough (see `growth_fraction`).
    pub max_live_orders: usize,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// Timestamp (ns since midnight) of the `Q` start-of-market event; order
    /// flow starts just after it. Default 09:30:00. `O` and the directory come
    /// 6h25 earlier, `S` 5h30 earlier (03:05 and 04:00 for a 09:30 open),
    /// clamped so timestamps never decrease.
    pub start_ns: u64,
    /// Mean gap between consecutive order messages, in nanoseconds (exponential gaps).
    pub mean_gap_ns: u64,
    /// Message-type weights of the order flow.
    pub mix: MessageMix,
    /// Zipf exponent of instrument activity: rank `r` gets weight `1 / r^s`.
    pub zipf_exponent: f64,
    /// Peak live population as a fraction of order messages (the net adds the
    /// session may spend building the book), capped by `max_live_orders`. A
    /// full Nasdaq day (~300M messages) reaches the cap; short sessions build a
    /// proportionally smaller book so the message mix stays near its targets.
    pub growth_fraction: f64,
    /// Fraction of the order flow over which the book builds up to its peak;
    /// afterwards adds and removals balance.
    pub ramp_fraction: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            messages: 1_000_000,
            instruments: 8000,
            max_live_orders: 1_500_000,
            seed: 0x5EED_1705,
            start_ns: MARKET_OPEN_NS,
            mean_gap_ns: 10_000,
            mix: MessageMix::default(),
            zipf_exponent: 1.1,
            growth_fraction: 0.02,
            ramp_fraction: 0.2,
        }
    }
}

impl SynthConfig {
    /// Messages outside the order flow: System Events plus Stock Directories.
    #[must_use]
    pub const fn framing_messages(&self) -> u64 {
        SYSTEM_EVENTS + self.instruments as u64
    }

    /// Order messages (A, D, E, X, U) the session will carry.
    #[must_use]
    pub const fn order_messages(&self) -> u64 {
        self.messages.saturating_sub(self.framing_messages())
    }

    /// The live population the session builds up to.
    #[must_use]
    pub fn peak_live_orders(&self) -> usize {
        let budget = (self.order_messages() as f64 * self.growth_fraction) as usize;
        budget.min(self.max_live_orders)
    }

    /// Checks the configuration; [`crate::Generator::new`] calls this.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |reason| Err(SynthError::InvalidConfig(reason));
        if self.instruments == 0 {
            return bad("instruments must be at least 1");
        }
        if self.messages < self.framing_messages() {
            return bad("messages must cover the framing: instruments + 6 system events");
        }
        if self.max_live_orders == 0 || self.max_live_orders >= u32::MAX as usize {
            return bad("max_live_orders must be in 1..u32::MAX");
        }
        let m = &self.mix;
        if m.add == 0 || m.total() == 0 {
            return bad("mix must give Add Order a positive weight");
        }
        if !(0.0..=1.0).contains(&m.execute_full_probability) {
            return bad("mix.execute_full_probability must be within 0..=1");
        }
        if !self.zipf_exponent.is_finite() || self.zipf_exponent < 0.0 {
            return bad("zipf_exponent must be finite and non-negative");
        }
        if !(0.0..=1.0).contains(&self.growth_fraction) {
            return bad("growth_fraction must be within 0..=1");
        }
        if !(self.ramp_fraction > 0.0 && self.ramp_fraction <= 1.0) {
            return bad("ramp_fraction must be within (0, 1]");
        }
        Ok(())
    }
}

/// Why a session could not be generated or written.
#[derive(Debug, Error)]
pub enum SynthError {
    /// The configuration is inconsistent.
    #[error("invalid synth config: {0}")]
    InvalidConfig(&'static str),
    /// A message could not be encoded (e.g. it does not fit `max_payload`).
    #[error("encode failed: {0}")]
    Encode(#[from] EncodeError),
    /// Writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
