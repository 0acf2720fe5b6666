//! Online estimators of the model inputs: volatility, quoted spread, touch
//! imbalance and the trade-intensity profile `lambda(delta) = A * exp(-k * delta)`.
//!
//! Everything is in ticks of the instrument and seconds, time-decayed with a
//! half-life `H`: an observation `u` seconds old weighs `2^(-u / H)`. State is
//! a few fixed-size arrays; updates never allocate.

use quotewire_book::Bbo;
use quotewire_core::Price;

/// Volatility used until the estimator is warm, ticks per sqrt(second).
pub const DEFAULT_SIGMA: f64 = 1.0;
/// Intensity scale `A` used until the intensity fit is warm, fills per second.
pub const DEFAULT_A: f64 = 1.0;
/// Intensity decay `k` used until the intensity fit is warm, per tick.
pub const DEFAULT_K: f64 = 1.0;
/// Mid increments needed before the volatility estimate replaces [`DEFAULT_SIGMA`].
pub const MIN_MID_SAMPLES: u64 = 20;
/// Trades needed before the intensity fit replaces [`DEFAULT_A`] and [`DEFAULT_K`].
pub const MIN_TRADES: u64 = 30;
/// Distance buckets of the intensity estimator: bucket `b` holds trades `b <= |price - mid| < b + 1` ticks.
pub const INTENSITY_BUCKETS: usize = 16;

/// Rounding guard for bucket counts that have decayed to nothing.
const EMPTY: f64 = 1e-12;

/// What the estimators currently say (the values a model uses when its parameter is `None`).
///
/// **Volatility.** Each call with a two-sided book is a sample of the mid in
/// ticks `m = (bid + ask) / 2 / tick`. With `dm` the mid change and `dt` the
/// seconds since the previous two-sided sample, both sums decay by
/// `d = 2^(-dt / H)` and grow: `S = d*S + dm^2`, `T = d*T + dt`. The variance
/// per second is `S / T` and `sigma = sqrt(S / T)`: arithmetic tick returns
/// (the mid follows `dm ~ sigma * sqrt(dt) * N(0, 1)`), so irregular sampling
/// is handled by dividing by elapsed time, not by the sample count, and books
/// that do not move the mid add time but no variance. `H` is
/// `vol_half_life_s`; the estimate replaces [`DEFAULT_SIGMA`] after
/// [`MIN_MID_SAMPLES`] increments, and is as of the last two-sided book.
/// Tick returns rather than log returns because the models take sigma in
/// ticks.
///
/// **Spread.** The time-weighted average of the quoted spread in ticks, each
/// spread weighted by how long it stood: `N = d*N + (1-d)*spread_prev`,
/// `D = d*D + (1-d)`, estimate `N / D` (the latest spread until time passes).
/// Same half-life as volatility.
///
/// **Intensity.** Each trade counts 1 (its size is ignored) in the bucket of
/// its distance `delta = |price - mid| / tick` (floor, buckets `0..=15`,
/// farther ones in an overflow count). Counts decay with the intensity
/// half-life. The exposure, the decayed time observed since the first event,
/// is `W = (1 - 2^(-t / H)) * H / ln 2`. A quote at `delta` is filled by every
/// trade reaching at least `delta`, so the rate at a bucket is its cumulative
/// count `C_b` (that bucket, every farther one and the overflow) over `W`.
/// `ln(C_b / W) = ln A - k * x_b` is fitted by weighted least squares over the
/// non-empty buckets, `x_b` the mean distance of the bucket's trades and the
/// weight `C_b` (the inverse variance of `ln C_b` for Poisson counts). The
/// fit runs on each trade once [`MIN_TRADES`] trades were counted, needs two
/// non-empty buckets and `k > 0`; a refused fit keeps the previous one (or
/// the defaults). Between trades `A` decays with the counts and the growing
/// exposure; `k` is unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimates {
    /// Volatility of the mid, ticks per sqrt(second) ([`DEFAULT_SIGMA`] until warm).
    pub sigma: f64,
    /// Intensity scale `A`, fills per second at distance 0 ([`DEFAULT_A`] until warm).
    pub a: f64,
    /// Intensity decay `k`, per tick ([`DEFAULT_K`] until warm).
    pub k: f64,
    /// Time-weighted average quoted spread, ticks (0 before any two-sided book).
    pub spread_ticks: f64,
    /// (bidqty-askqty)/(bidqty+askqty) at the touch of the last book (an empty side counts 0;
    /// a book with both sides empty leaves it unchanged; 0 before any book).
    pub imbalance: f64,
    /// Mid increments the volatility estimator has seen.
    pub mid_samples: u64,
    /// Trades the intensity estimator has counted.
    pub trades: u64,
}

/// Last accepted intensity fit, stored so `A` can be aged without refitting.
#[derive(Clone, Copy, Debug)]
struct Fit {
    /// `ln` of the decayed trade count at distance 0 (intercept), as of `ns`.
    ln_count0: f64,
    /// Fitted decay per tick.
    k: f64,
    /// Time of the fit.
    ns: u64,
}

/// `2^(-dt / half_life)` for `dt` in nanoseconds.
#[inline]
fn decay(dt_ns: u64, half_life_s: f64) -> f64 {
    (-(dt_ns as f64 * 1e-9) / half_life_s).exp2()
}

/// All the estimators of one instrument (the method is documented on [`Estimates`]).
#[derive(Clone, Debug)]
pub(crate) struct Estimators {
    /// Latest event time seen, nanoseconds.
    last_ns: u64,
    /// First event time: start of the intensity exposure.
    start_ns: Option<u64>,
    /// `bid + ask` in raw units at the last two-sided book.
    mid2: Option<i128>,
    /// Time of the last two-sided book.
    book_ns: u64,
    var_sum: f64,
    time_sum: f64,
    mid_samples: u64,
    spread: f64,
    spread_num: f64,
    spread_den: f64,
    imbalance: f64,
    trade_ns: u64,
    counts: [f64; INTENSITY_BUCKETS],
    dist_sums: [f64; INTENSITY_BUCKETS],
    overflow: f64,
    trades: u64,
    fit: Option<Fit>,
}

impl Estimators {
    /// Empty estimators.
    pub(crate) const fn new() -> Self {
        Self {
            last_ns: 0,
            start_ns: None,
            mid2: None,
            book_ns: 0,
            var_sum: 0.0,
            time_sum: 0.0,
            mid_samples: 0,
            spread: 0.0,
            spread_num: 0.0,
            spread_den: 0.0,
            imbalance: 0.0,
            trade_ns: 0,
            counts: [0.0; INTENSITY_BUCKETS],
            dist_sums: [0.0; INTENSITY_BUCKETS],
            overflow: 0.0,
            trades: 0,
            fit: None,
        }
    }

    /// Advances the clock to `now_ns` (never backwards).
    #[inline]
    pub(crate) fn touch(&mut self, now_ns: u64) {
        self.last_ns = self.last_ns.max(now_ns);
        if self.start_ns.is_none() {
            self.start_ns = Some(now_ns);
        }
    }

    /// Latest event time seen.
    pub(crate) const fn last_ns(&self) -> u64 {
        self.last_ns
    }

    /// Feeds a book update.
    pub(crate) fn on_book(&mut self, now_ns: u64, bbo: &Bbo, tick: i64, half_life_s: f64) {
        self.touch(now_ns);
        let bid_qty = bbo.bid.map_or(0, |l| l.qty.raw()) as f64;
        let ask_qty = bbo.ask.map_or(0, |l| l.qty.raw()) as f64;
        if bid_qty + ask_qty > 0.0 {
            self.imbalance = (bid_qty - ask_qty) / (bid_qty + ask_qty);
        }
        let (Some(bid), Some(ask)) = (bbo.bid, bbo.ask) else {
            return;
        };
        let bid = i128::from(bid.price.raw());
        let ask = i128::from(ask.price.raw());
        let mid2 = bid + ask;
        let tick = tick as f64;
        let spread = (ask - bid) as f64 / tick;
        if let Some(prev) = self.mid2 {
            let dt_ns = now_ns.saturating_sub(self.book_ns);
            let d = decay(dt_ns, half_life_s);
            let dm = (mid2 - prev) as f64 / (2.0 * tick);
            self.var_sum = self.var_sum * d + dm * dm;
            self.time_sum = self.time_sum * d + dt_ns as f64 * 1e-9;
            self.spread_num = self.spread_num * d + (1.0 - d) * self.spread;
            self.spread_den = self.spread_den * d + (1.0 - d);
            self.mid_samples += 1;
        }
        self.mid2 = Some(mid2);
        self.book_ns = self.book_ns.max(now_ns);
        self.spread = spread;
    }

    /// Feeds a trade; `mid` overrides the mid of the last two-sided book.
    /// Without either, the trade is not counted.
    pub(crate) fn on_trade(
        &mut self,
        now_ns: u64,
        price: Price,
        mid: Option<Price>,
        tick: i64,
        half_life_s: f64,
    ) {
        self.touch(now_ns);
        let Some(mid2) = mid.map(|m| 2 * i128::from(m.raw())).or(self.mid2) else {
            return;
        };
        let distance =
            (2 * i128::from(price.raw()) - mid2).unsigned_abs() as f64 / (2.0 * tick as f64);
        if self.trades > 0 {
            let d = decay(now_ns.saturating_sub(self.trade_ns), half_life_s);
            for (c, s) in self.counts.iter_mut().zip(self.dist_sums.iter_mut()) {
                *c *= d;
                *s *= d;
            }
            self.overflow *= d;
        }
        self.trade_ns = self.trade_ns.max(now_ns);
        let bucket = distance.floor();
        if bucket < INTENSITY_BUCKETS as f64 {
            let b = bucket as usize;
            self.counts[b] += 1.0;
            self.dist_sums[b] += distance;
        } else {
            self.overflow += 1.0;
        }
        self.trades += 1;
        if self.trades >= MIN_TRADES {
            self.refit();
        }
    }

    /// Weighted least squares of `ln C_b` against the mean distance `x_b`.
    fn refit(&mut self) {
        let (mut sw, mut swx, mut swy, mut swxx, mut swxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut points = 0_u32;
        let mut cumulative = self.overflow;
        for b in (0..INTENSITY_BUCKETS).rev() {
            cumulative += self.counts[b];
            if self.counts[b] <= EMPTY {
                continue;
            }
            let x = self.dist_sums[b] / self.counts[b];
            let y = cumulative.ln();
            let w = cumulative;
            sw += w;
            swx += w * x;
            swy += w * y;
            swxx += w * x * x;
            swxy += w * x * y;
            points += 1;
        }
        if points < 2 {
            return;
        }
        let denom = sw * swxx - swx * swx;
        if denom.is_nan() || denom <= 1e-12 * sw * sw {
            return;
        }
        let slope = (sw * swxy - swx * swy) / denom;
        let intercept = (swy - slope * swx) / sw;
        let k = -slope;
        if k.is_finite() && k > 0.0 && intercept.is_finite() {
            self.fit = Some(Fit {
                ln_count0: intercept,
                k,
                ns: self.trade_ns,
            });
        }
    }

    /// The estimates as of `now_ns` (at least the latest event time).
    pub(crate) fn estimates(&self, now_ns: u64, int_half_life_s: f64) -> Estimates {
        let now_ns = now_ns.max(self.last_ns);
        let sigma = if self.mid_samples >= MIN_MID_SAMPLES && self.time_sum > 0.0 {
            (self.var_sum / self.time_sum).sqrt()
        } else {
            DEFAULT_SIGMA
        };
        let spread_ticks = if self.spread_den > 0.0 {
            self.spread_num / self.spread_den
        } else {
            self.spread
        };
        let (a, k) = match (self.fit, self.start_ns) {
            (Some(fit), Some(start)) => {
                let h = int_half_life_s;
                let exposure =
                    (1.0 - decay(now_ns.saturating_sub(start), h)) * h / std::f64::consts::LN_2;
                let count0 = fit.ln_count0.exp() * decay(now_ns.saturating_sub(fit.ns), h);
                let a = count0 / exposure;
                if a.is_finite() && a > 0.0 {
                    (a, fit.k)
                } else {
                    (DEFAULT_A, DEFAULT_K)
                }
            }
            _ => (DEFAULT_A, DEFAULT_K),
        };
        Estimates {
            sigma,
            a,
            k,
            spread_ticks,
            imbalance: self.imbalance,
            mid_samples: self.mid_samples,
            trades: self.trades,
        }
    }
}
