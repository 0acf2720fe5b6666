//! [`Strategy`]: the estimators, one closed-form model and the ladder built from it.

use quotewire_book::Bbo;
use quotewire_core::{Price, Qty};

use crate::estimate::{Estimates, Estimators};
use crate::model::{self, Raw};
use crate::params::{Adjust, Horizon, Ladder, MarketState, ModelKind, ModelParams, MAX_LEVELS};
use crate::{QuoteSide, StrategyError};

/// Model prices within this many ticks of a grid point count as on it (f64 noise).
const GRID_EPS: f64 = 1e-9;
/// Model prices beyond this many ticks are not quoted (a degenerate model input).
const MAX_MODEL_TICKS: f64 = 1e15;

/// The model's values at the last [`Strategy::quote`] with a two-sided book.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModelState {
    /// The estimates as of that quote.
    pub estimates: Estimates,
    /// Reservation price, ticks (see each [`ModelKind`] for its definition).
    pub reservation: f64,
    /// Ticks from the mid down to the level-0 bid, after the floor and widening, before rounding.
    pub bid_half_spread: f64,
    /// Ticks from the mid up to the level-0 ask, after the floor and widening, before rounding.
    pub ask_half_spread: f64,
    /// Volatility the model used, ticks per sqrt(second).
    pub sigma_used: f64,
    /// Intensity scale `A` the model used, per second.
    pub a_used: f64,
    /// Intensity decay `k` the model used, per tick.
    pub k_used: f64,
}

/// A quoting strategy for one instrument: online estimators feeding one
/// closed-form model, turned into a [`Ladder`] of post-only-safe quotes.
///
/// Per quote, with `s` the mid in ticks and `q = position / size` lots:
/// 1. The model ([`ModelKind`]) gives level-0 bid and ask prices in ticks;
///    see `Skew` (as [`crate::SkewQuoter`]: `r = s - q * skew_ticks`, half
///    spread `half_spread_ticks`), Avellaneda-Stoikov (2008) and GLFT
///    (Gueant-Lehalle-Fernandez-Tapia 2013, Gueant 2017) in the model docs.
///    `sigma`, `A`, `k` are the fixed parameters or else the estimates.
/// 2. The model's half spread `(ask - bid) / 2` is floored at
///    `min_half_spread_ticks`, then `Adjust::widen_ticks` is added, keeping
///    the center `(bid + ask) / 2` (the reservation price): the floor limits
///    the width of the quote, never the inventory skew.
/// 3. Prices are rounded once: bid down, ask up (within 1e-9 tick of a grid
///    point counts as on it), then kept post-only safe:
///    bid <= best ask - 1 tick, ask >= best bid + 1 tick (and above our bid).
///    Level `i` sits `i * level_spacing_ticks` beyond level 0.
/// 4. Sizes: `size`, then each level `* (100 + level_size_step_pct) / 100`
///    (rounded down), then `* size_pct / 100` (rounded down; a level of 0
///    shares and every level beyond it are not quoted). Cut from level 0
///    outwards so the position after every bid fills is `<= max_position`
///    and after every ask fills `>= -max_position`. Reduce-only (either
///    flag) quotes only the side that shrinks the position, in total at most
///    `|position|`. `Adjust::pull` quotes nothing. Non-positive prices and
///    non-finite model outputs are not quoted; a one-sided book gives an
///    empty ladder.
#[derive(Clone, Debug)]
pub struct Strategy {
    params: ModelParams,
    /// Per-level sizes before `size_pct`, from the parameters.
    sizes: [u64; MAX_LEVELS],
    est: Estimators,
    state: ModelState,
}

/// Level sizes before any adjustment.
fn level_sizes(p: &ModelParams) -> [u64; MAX_LEVELS] {
    let mut sizes = [0_u64; MAX_LEVELS];
    let mut size = u128::from(p.size.raw());
    for slot in sizes.iter_mut().take(usize::from(p.levels)) {
        *slot = u64::try_from(size).unwrap_or(u64::MAX);
        size = size * (100 + u128::from(p.level_size_step_pct)) / 100;
    }
    sizes
}

/// Rounds a model price in ticks: `up == false` floors, `true` ceils.
#[inline]
fn round_ticks(x: f64, up: bool) -> Option<i128> {
    if !x.is_finite() || x.abs() > MAX_MODEL_TICKS {
        return None;
    }
    let r = if up {
        (x - GRID_EPS).ceil()
    } else {
        (x + GRID_EPS).floor()
    };
    Some(r as i128)
}

impl Strategy {
    /// A strategy with validated parameters and empty estimators.
    pub fn new(params: ModelParams) -> Result<Self, StrategyError> {
        params.validate()?;
        Ok(Self {
            params,
            sizes: level_sizes(&params),
            est: Estimators::new(),
            state: ModelState::default(),
        })
    }

    /// The parameters in force.
    #[must_use]
    pub const fn params(&self) -> &ModelParams {
        &self.params
    }

    /// Replaces the parameters (validated first; unchanged on error). The
    /// estimators keep their state, except when the tick changes: their
    /// values are in ticks, so they start over.
    pub fn set_params(&mut self, params: ModelParams) -> Result<(), StrategyError> {
        params.validate()?;
        if params.tick != self.params.tick {
            self.est = Estimators::new();
        }
        self.params = params;
        self.sizes = level_sizes(&params);
        Ok(())
    }

    /// Feeds a book update to the volatility, spread and imbalance estimators.
    ///
    /// Volatility: arithmetic mid changes in ticks between consecutive
    /// two-sided books, variance per second = decayed sum of squared changes
    /// over decayed elapsed seconds (half-life `vol_half_life_s`); see
    /// [`Estimates`] for every estimator.
    pub fn on_book(&mut self, now_ns: u64, bbo: &Bbo) {
        self.est.on_book(
            now_ns,
            bbo,
            self.params.tick.raw(),
            self.params.vol_half_life_s,
        );
    }

    /// Feeds a trade to the intensity estimator. `mid` is the mid at the
    /// trade (raw price); `None` uses the last two-sided book's. `qty` is not
    /// used: the intensity counts trades. Refits `A` and `k` (see [`Estimates`]).
    pub fn on_trade(&mut self, now_ns: u64, price: Price, qty: Qty, mid: Option<Price>) {
        let _ = qty;
        self.est.on_trade(
            now_ns,
            price,
            mid,
            self.params.tick.raw(),
            self.params.intensity_half_life_s,
        );
    }

    /// The estimates as of the latest event seen.
    #[must_use]
    pub fn estimates(&self) -> Estimates {
        self.est
            .estimates(self.est.last_ns(), self.params.intensity_half_life_s)
    }

    /// Values of the last quote with a two-sided book.
    #[must_use]
    pub const fn state(&self) -> ModelState {
        self.state
    }

    /// The ladder wanted now. Never allocates.
    pub fn quote(&mut self, m: &MarketState, adjust: Adjust) -> Ladder {
        self.est.touch(m.now_ns);
        let p = self.params;
        let estimates = self.est.estimates(m.now_ns, p.intensity_half_life_s);
        self.state.estimates = estimates;
        let (Some(best_bid), Some(best_ask)) = (m.bbo.bid, m.bbo.ask) else {
            return Ladder::default();
        };
        let tick = i128::from(p.tick.raw());
        let bid_raw = i128::from(best_bid.price.raw());
        let ask_raw = i128::from(best_ask.price.raw());
        let s = (bid_raw + ask_raw) as f64 / (2.0 * tick as f64);
        let size = p.size.raw() as f64;
        let q = m.position as f64 / size;
        let q_max = p.max_position as f64 / size;
        let sigma = p.sigma.unwrap_or(estimates.sigma);
        let a = p.a.unwrap_or(estimates.a);
        let k = p.k.unwrap_or(estimates.k);
        let raw: Raw = match p.kind {
            ModelKind::Skew => model::skew(
                s,
                q,
                f64::from(p.half_spread_ticks),
                f64::from(p.skew_ticks),
            ),
            ModelKind::AvellanedaStoikov => match p.horizon {
                Horizon::Infinite => model::avellaneda_stoikov_infinite(s, q, q_max, p.gamma, k),
                Horizon::Finite { end_ns } => {
                    let tau = end_ns.saturating_sub(m.now_ns) as f64 * 1e-9;
                    model::avellaneda_stoikov(s, q, p.gamma, sigma, k, tau)
                }
                Horizon::Rolling { seconds } => {
                    model::avellaneda_stoikov(s, q, p.gamma, sigma, k, seconds)
                }
            },
            ModelKind::Glft => model::glft(s, q, q_max, p.gamma, sigma, a, k),
        };
        let floor = f64::from(p.min_half_spread_ticks);
        let widen = f64::from(adjust.widen_ticks);
        let center = 0.5 * (raw.bid + raw.ask);
        let half = (0.5 * (raw.ask - raw.bid)).max(floor) + widen;
        let bid_half = s - (center - half);
        let ask_half = (center + half) - s;
        self.state = ModelState {
            estimates,
            reservation: raw.reservation,
            bid_half_spread: bid_half,
            ask_half_spread: ask_half,
            sigma_used: sigma,
            a_used: a,
            k_used: k,
        };
        if adjust.pull {
            return Ladder::default();
        }

        // Prices: round once, then stay passive (post-only safe).
        let max_bid = (ask_raw - tick).div_euclid(tick);
        let min_ask = -(-(bid_raw + tick)).div_euclid(tick);
        let bid_ok = raw.bid_ok && raw.bid.is_finite();
        let ask_ok = raw.ask_ok && raw.ask.is_finite();
        let bid0 = round_ticks(s - bid_half, false)
            .filter(|_| bid_ok)
            .map(|b| b.min(max_bid));
        let mut ask0 = round_ticks(s + ask_half, true)
            .filter(|_| ask_ok)
            .map(|a| a.max(min_ask));
        if let (Some(b), Some(a)) = (bid0, ask0) {
            if a <= b {
                ask0 = Some(b + 1);
            }
        }

        // Room: worst-case position stays within +-max_position.
        let position = i128::from(m.position);
        let max = i128::from(p.max_position);
        let mut bid_room = (max - position).max(0);
        let mut ask_room = (max + position).max(0);
        if m.reduce_only || adjust.reduce_only {
            bid_room = bid_room.min((-position).max(0));
            ask_room = ask_room.min(position.max(0));
        }
        let pct = if adjust.size_pct == 0 {
            100
        } else {
            u128::from(adjust.size_pct)
        };
        let spacing = i128::from(p.level_spacing_ticks);
        let mut ladder = Ladder::default();
        self.fill_side(&mut ladder.bids, bid0, -spacing, bid_room, pct);
        self.fill_side(&mut ladder.asks, ask0, spacing, ask_room, pct);
        ladder
    }

    /// Fills one side from level 0 outwards: `first` in ticks, `step` ticks
    /// per level, at most `room` shares in total.
    fn fill_side(
        &self,
        side: &mut [Option<QuoteSide>; MAX_LEVELS],
        first: Option<i128>,
        step: i128,
        mut room: i128,
        pct: u128,
    ) {
        let Some(first) = first else {
            return;
        };
        let tick = i128::from(self.params.tick.raw());
        for (i, slot) in side
            .iter_mut()
            .enumerate()
            .take(usize::from(self.params.levels))
        {
            let price = (first + i as i128 * step) * tick;
            let Ok(price) = i64::try_from(price) else {
                return;
            };
            let scaled = u128::from(self.sizes[i]) * pct / 100;
            let qty = i128::try_from(scaled).unwrap_or(i128::MAX).min(room);
            if price <= 0 || qty <= 0 {
                return;
            }
            room -= qty;
            *slot = Some(QuoteSide {
                price: Price::from_raw(price),
                qty: Qty(qty as u64),
            });
        }
    }
}
