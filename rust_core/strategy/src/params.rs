//! Configuration and per-call inputs of [`crate::Strategy`]: the model
//! parameters, the rule adjustments and the market snapshot.

use quotewire_book::Bbo;
use quotewire_core::{Price, Qty};

use crate::{QuoteContext, QuoteSide, SkewParams, StrategyError};

/// Most levels a [`Ladder`] holds per side.
pub const MAX_LEVELS: usize = 4;

/// Several levels per side; index 0 is the level nearest the mid. Unused levels are None.
///
/// Levels are filled from index 0 outwards: once a level is `None`, every
/// further level of that side is `None` too. Bid prices strictly fall and ask
/// prices strictly rise with the index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// Our bids, best (highest) first.
    pub bids: [Option<QuoteSide>; MAX_LEVELS],
    /// Our asks, best (lowest) first.
    pub asks: [Option<QuoteSide>; MAX_LEVELS],
}

impl Ladder {
    /// Level 0 of each side, as a one-level [`Quote`](crate::Quote).
    #[must_use]
    pub const fn top(&self) -> crate::Quote {
        crate::Quote {
            bid: self.bids[0],
            ask: self.asks[0],
        }
    }

    /// True when no level is quoted on either side.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bids[0].is_none() && self.asks[0].is_none()
    }

    /// Total shares over every bid level (the worst-case position increase).
    #[must_use]
    pub fn bid_qty(&self) -> u64 {
        self.bids.iter().flatten().map(|s| s.qty.raw()).sum()
    }

    /// Total shares over every ask level (the worst-case position decrease).
    #[must_use]
    pub fn ask_qty(&self) -> u64 {
        self.asks.iter().flatten().map(|s| s.qty.raw()).sum()
    }
}

/// The time left to the end of the trading horizon, for Avellaneda-Stoikov.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Horizon {
    /// The stationary (infinite-horizon) solution, bounded by the inventory limit.
    Infinite,
    /// A fixed end time on the engine clock: `T - t = (end_ns - now_ns) / 1e9`, never below 0.
    Finite {
        /// End of the horizon, engine clock nanoseconds.
        end_ns: u64,
    },
    /// A constant time to the horizon: `T - t = seconds` at every quote.
    Rolling {
        /// Time to the horizon in seconds (finite, >= 0).
        seconds: f64,
    },
}

/// Which closed-form model turns the inputs into a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Symmetric around the mid with a linear inventory skew (as [`crate::SkewQuoter`]).
    Skew,
    /// Avellaneda and Stoikov (2008), "High-frequency trading in a limit order book".
    AvellanedaStoikov,
    /// Gueant, Lehalle and Fernandez-Tapia (2013), closed-form approximation (Gueant 2017).
    Glft,
}

/// Parameters of a [`crate::Strategy`]: the model and how its quote becomes a ladder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelParams {
    /// The model in force.
    pub kind: ModelKind,
    /// Tick size of the instrument (raw price units, > 0): the unit of every model price.
    pub tick: Price,
    /// Shares of level 0 (1 to 2^32 - 1); also the lot that inventory is counted in.
    pub size: Qty,
    /// Levels per side, 1 to [`MAX_LEVELS`].
    pub levels: u8,
    /// Ticks between consecutive levels of a side (>= 1 when `levels > 1`).
    pub level_spacing_ticks: u32,
    /// Each further level's size = previous * (100 + step) / 100, rounded down; 0 = equal sizes.
    pub level_size_step_pct: u32,
    /// Shares: no bid at/over +max, no ask at/under -max; sizes cut so worst case never passes it.
    pub max_position: u64,
    /// Ticks a resting order may drift from its target before [`crate::decide`] moves it (>= 1).
    pub requote_ticks: u32,
    /// Skew model: ticks from the reservation price to each side (>= 1 for the Skew model).
    pub half_spread_ticks: u32,
    /// Skew model: ticks the reservation price moves against each lot of inventory.
    pub skew_ticks: u32,
    /// Risk aversion (> 0) of Avellaneda-Stoikov and GLFT, per tick.
    pub gamma: f64,
    /// Avellaneda-Stoikov horizon.
    pub horizon: Horizon,
    /// Fixed volatility in ticks per sqrt(second); `None` = the online estimate.
    pub sigma: Option<f64>,
    /// Fixed intensity scale `A` (fills per second at distance 0); `None` = the online estimate.
    pub a: Option<f64>,
    /// Fixed intensity decay `k` per tick; `None` = the online estimate.
    pub k: Option<f64>,
    /// Floor, in ticks, on every model's half spread `(ask - bid) / 2` at level 0
    /// (around the model's center, so the inventory skew is kept).
    pub min_half_spread_ticks: u32,
    /// Half-life in seconds of the volatility and spread estimators (> 0).
    pub vol_half_life_s: f64,
    /// Half-life in seconds of the trade-intensity estimator (> 0).
    pub intensity_half_life_s: f64,
}

/// Largest tick count accepted for any tick-valued parameter.
const MAX_TICKS: u32 = 100_000;

fn bad(field: &'static str, value: &dyn std::fmt::Display, allowed: &'static str) -> StrategyError {
    StrategyError::OutOfRange {
        field,
        value: value.to_string(),
        allowed,
    }
}

fn check_ticks(field: &'static str, value: u32, min: u32) -> Result<(), StrategyError> {
    if value < min || value > MAX_TICKS {
        let allowed = if min == 0 {
            "0 to 100000"
        } else {
            "1 to 100000"
        };
        return Err(bad(field, &value, allowed));
    }
    Ok(())
}

fn check_positive(field: &'static str, value: f64) -> Result<(), StrategyError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(bad(field, &value, "a finite number > 0"))
    }
}

impl ModelParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), StrategyError> {
        if self.tick.raw() <= 0 {
            return Err(bad("tick", &self.tick.raw(), "a positive raw price"));
        }
        if self.size.is_zero() || self.size.raw() > u64::from(u32::MAX) {
            return Err(bad("size", &self.size.raw(), "1 to 4294967295 shares"));
        }
        if self.levels == 0 || usize::from(self.levels) > MAX_LEVELS {
            return Err(bad("levels", &self.levels, "1 to 4"));
        }
        check_ticks(
            "level_spacing_ticks",
            self.level_spacing_ticks,
            u32::from(self.levels > 1),
        )?;
        if self.level_size_step_pct > 1_000 {
            return Err(bad(
                "level_size_step_pct",
                &self.level_size_step_pct,
                "0 to 1000",
            ));
        }
        if self.max_position == 0 || self.max_position > i64::MAX as u64 / 4 {
            return Err(bad("max_position", &self.max_position, "1 to 2^61 shares"));
        }
        check_ticks("requote_ticks", self.requote_ticks, 1)?;
        check_ticks(
            "half_spread_ticks",
            self.half_spread_ticks,
            u32::from(self.kind == ModelKind::Skew),
        )?;
        check_ticks("skew_ticks", self.skew_ticks, 0)?;
        if self.kind != ModelKind::Skew {
            check_positive("gamma", self.gamma)?;
        }
        match self.horizon {
            Horizon::Infinite | Horizon::Finite { .. } => {}
            Horizon::Rolling { seconds } => {
                if !(seconds.is_finite() && seconds >= 0.0) {
                    return Err(bad("horizon.seconds", &seconds, "a finite number >= 0"));
                }
            }
        }
        if let Some(sigma) = self.sigma {
            if !(sigma.is_finite() && sigma >= 0.0) {
                return Err(bad("sigma", &sigma, "a finite number >= 0"));
            }
        }
        if let Some(a) = self.a {
            check_positive("a", a)?;
        }
        if let Some(k) = self.k {
            check_positive("k", k)?;
        }
        check_ticks("min_half_spread_ticks", self.min_half_spread_ticks, 0)?;
        check_positive("vol_half_life_s", self.vol_half_life_s)?;
        check_positive("intensity_half_life_s", self.intensity_half_life_s)?;
        Ok(())
    }

    /// A valid Skew model, one level (valid when the arguments pass [`SkewParams::validate`]).
    ///
    /// The fields the Skew model does not read get harmless defaults: gamma
    /// 0.1, infinite horizon, online estimates, no floor, half-lives of 60 s
    /// (volatility) and 300 s (intensity).
    #[must_use]
    pub const fn skew(
        tick: Price,
        size: Qty,
        half_spread_ticks: u32,
        skew_ticks: u32,
        max_position: u64,
        requote_ticks: u32,
    ) -> Self {
        Self {
            kind: ModelKind::Skew,
            tick,
            size,
            levels: 1,
            level_spacing_ticks: 1,
            level_size_step_pct: 0,
            max_position,
            requote_ticks,
            half_spread_ticks,
            skew_ticks,
            gamma: 0.1,
            horizon: Horizon::Infinite,
            sigma: None,
            a: None,
            k: None,
            min_half_spread_ticks: 0,
            vol_half_life_s: 60.0,
            intensity_half_life_s: 300.0,
        }
    }
}

impl From<SkewParams> for ModelParams {
    fn from(p: SkewParams) -> Self {
        Self::skew(
            p.tick,
            p.size,
            p.half_spread_ticks,
            p.skew_ticks,
            p.max_position,
            p.requote_ticks,
        )
    }
}

/// Automatic adjustments decided by rules, applied on top of the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adjust {
    /// Ticks added to both sides of level 0 (after the half-spread floor).
    pub widen_ticks: u32,
    /// Percent applied to every level's size, rounded down; 0 = no change (treat as 100).
    pub size_pct: u32,
    /// Quote nothing.
    pub pull: bool,
    /// Quote only the side that shrinks the position, never more than the position in total.
    pub reduce_only: bool,
}

/// What the strategy sees when it quotes.
#[derive(Clone, Copy, Debug)]
pub struct MarketState {
    /// Best bid and offer of the market (our own orders included).
    pub bbo: Bbo,
    /// Our position in shares, buys positive.
    pub position: i64,
    /// Quote only the side that shrinks the position (ORed with [`Adjust::reduce_only`]).
    pub reduce_only: bool,
    /// Engine clock, nanoseconds.
    pub now_ns: u64,
}

impl From<QuoteContext> for MarketState {
    fn from(c: QuoteContext) -> Self {
        Self {
            bbo: c.bbo,
            position: c.position,
            reduce_only: c.reduce_only,
            now_ns: c.now_ns,
        }
    }
}
