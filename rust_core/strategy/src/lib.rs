//! Quoting models for quotewire: from the book, our inventory and the
//! parameters, the quotes we want resting at the venue.
//!
//! Owns: [`Quoter`] (the interface of one-level models), the first model
//! [`SkewQuoter`] (symmetric around mid with inventory skew), [`Strategy`]
//! (online estimators of volatility, spread, imbalance and trade intensity
//! feeding one closed-form model, [`ModelKind`]: Skew, Avellaneda-Stoikov
//! 2008 or Gueant-Lehalle-Fernandez-Tapia 2013, quoted as a [`Ladder`] of up
//! to [`MAX_LEVELS`] levels per side), and [`decide`], which turns "what
//! rests" and "what we want" into the one order action that gets there
//! without needless churn.
//! Must never: send orders (the engine does, through risk and the OMS),
//! allocate or block per event, or know about threads, sockets or Python.
//! Prices stay integers (ticks of the instrument); models use `f64`
//! internally (prices in ticks, time in seconds) and round once to a tick.

mod estimate;
mod model;
mod params;
mod strategy;

pub use estimate::{
    Estimates, DEFAULT_A, DEFAULT_K, DEFAULT_SIGMA, INTENSITY_BUCKETS, MIN_MID_SAMPLES, MIN_TRADES,
};
pub use params::{Adjust, Horizon, Ladder, MarketState, ModelKind, ModelParams, MAX_LEVELS};
pub use strategy::{ModelState, Strategy};

use quotewire_book::Bbo;
use quotewire_core::{Price, Qty, Side};
use thiserror::Error;

/// A configuration value a model refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StrategyError {
    /// A parameter was outside its allowed range.
    #[error("{field} = {value} is out of range: {allowed}")]
    OutOfRange {
        /// Parameter name.
        field: &'static str,
        /// The refused value, as given.
        value: String,
        /// What would have been accepted.
        allowed: &'static str,
    },
}

/// One side of a quote: price and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteSide {
    /// Limit price, on the instrument's tick grid.
    pub price: Price,
    /// Shares.
    pub qty: Qty,
}

/// The quote a model wants resting: `None` on a side means "no order there".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    /// Our bid.
    pub bid: Option<QuoteSide>,
    /// Our ask.
    pub ask: Option<QuoteSide>,
}

impl Quote {
    /// The side `side` of the quote.
    #[must_use]
    pub const fn side(&self, side: Side) -> Option<QuoteSide> {
        match side {
            Side::Buy => self.bid,
            Side::Sell => self.ask,
        }
    }
}

/// What a model sees when it quotes.
#[derive(Clone, Copy, Debug)]
pub struct QuoteContext {
    /// Best bid and offer of the market (our own orders included).
    pub bbo: Bbo,
    /// Our position in shares, buys positive.
    pub position: i64,
    /// Quote only the side that shrinks the position, never more than the position.
    pub reduce_only: bool,
    /// Engine clock, nanoseconds.
    pub now_ns: u64,
}

/// A quoting model for one instrument.
pub trait Quoter {
    /// The quote wanted now. Must not allocate.
    fn quote(&mut self, ctx: &QuoteContext) -> Quote;
}

/// Parameters of [`SkewQuoter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkewParams {
    /// Tick size of the instrument (raw price units, > 0).
    pub tick: Price,
    /// Distance from the (skewed) mid to each quote, in ticks (>= 1).
    pub half_spread_ticks: u32,
    /// Shares per quote (> 0).
    pub size: Qty,
    /// Ticks the quotes move down per `size` shares of long inventory (and up when short).
    pub skew_ticks: u32,
    /// No bid at or above this long position, no ask at or below its negative (> 0).
    pub max_position: u64,
    /// A resting quote is moved only when its target price is at least this
    /// many ticks away (>= 1; 1 means any change), or its size changes.
    pub requote_ticks: u32,
}

impl SkewParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), StrategyError> {
        fn bad(field: &'static str, value: i128, allowed: &'static str) -> StrategyError {
            StrategyError::OutOfRange {
                field,
                value: value.to_string(),
                allowed,
            }
        }
        if self.tick.raw() <= 0 {
            return Err(bad("tick", self.tick.raw().into(), "a positive raw price"));
        }
        if self.half_spread_ticks == 0 || self.half_spread_ticks > 100_000 {
            return Err(bad(
                "half_spread_ticks",
                self.half_spread_ticks.into(),
                "1 to 100000",
            ));
        }
        if self.size.is_zero() || self.size.raw() > u64::from(u32::MAX) {
            return Err(bad(
                "size",
                self.size.raw().into(),
                "1 to 4294967295 shares",
            ));
        }
        if self.skew_ticks > 100_000 {
            return Err(bad("skew_ticks", self.skew_ticks.into(), "0 to 100000"));
        }
        if self.max_position == 0 || self.max_position > i64::MAX as u64 / 4 {
            return Err(bad(
                "max_position",
                self.max_position.into(),
                "1 to 2^61 shares",
            ));
        }
        if self.requote_ticks == 0 || self.requote_ticks > 100_000 {
            return Err(bad(
                "requote_ticks",
                self.requote_ticks.into(),
                "1 to 100000",
            ));
        }
        Ok(())
    }
}

/// Symmetric quoting around the mid, skewed against inventory.
///
/// With mid `m`, tick `t`, position `q`, size `s`, skew `k` ticks and half
/// spread `h` ticks, the reservation price is `r = m - q * k * t / s`; the bid
/// is `r - h*t` rounded down to the tick grid and the ask `r + h*t` rounded
/// up. Post-only safety: the bid is kept below the market's best ask and the
/// ask above the best bid. The bid disappears once `q >= max_position` and the
/// ask once `q <= -max_position`; a quote never pushes past the limit (its size
/// is cut to what remains). With one side of the book empty there is no mid
/// and no quote.
#[derive(Clone, Copy, Debug)]
pub struct SkewQuoter {
    params: SkewParams,
}

impl SkewQuoter {
    /// A quoter with validated parameters.
    pub fn new(params: SkewParams) -> Result<Self, StrategyError> {
        params.validate()?;
        Ok(Self { params })
    }

    /// The parameters in force.
    #[must_use]
    pub const fn params(&self) -> &SkewParams {
        &self.params
    }

    /// Replaces the parameters (validated first; unchanged on error).
    pub fn set_params(&mut self, params: SkewParams) -> Result<(), StrategyError> {
        params.validate()?;
        self.params = params;
        Ok(())
    }
}

/// Rounds `x` down (`up == false`) or up to a multiple of `tick` (> 0).
#[inline]
fn to_tick(x: i128, tick: i128, up: bool) -> i128 {
    let floor = x.div_euclid(tick) * tick;
    if up && floor != x {
        floor + tick
    } else {
        floor
    }
}

impl Quoter for SkewQuoter {
    fn quote(&mut self, ctx: &QuoteContext) -> Quote {
        let p = &self.params;
        let (Some(best_bid), Some(best_ask)) = (ctx.bbo.bid, ctx.bbo.ask) else {
            return Quote::default();
        };
        let tick = i128::from(p.tick.raw());
        let bid_px = i128::from(best_bid.price.raw());
        let ask_px = i128::from(best_ask.price.raw());
        // Twice the reservation price, so an odd-tick mid stays exact.
        let q = i128::from(ctx.position);
        let size = i128::from(p.size.raw());
        let skew2 = 2 * q * i128::from(p.skew_ticks) * tick / size;
        let reservation2 = bid_px + ask_px - skew2;
        let half2 = 2 * i128::from(p.half_spread_ticks) * tick;
        let mut bid = to_tick((reservation2 - half2).div_euclid(2), tick, false);
        let mut ask = to_tick((reservation2 + half2 + 1).div_euclid(2), tick, true);
        // Never cross the market: stay a passive (post-only) quote.
        bid = bid.min(ask_px - tick);
        ask = ask.max(bid_px + tick);
        let max = i128::from(p.max_position);
        let mut bid_qty = size.min(max - q).max(0);
        let mut ask_qty = size.min(max + q).max(0);
        if ctx.reduce_only {
            bid_qty = bid_qty.min((-q).max(0));
            ask_qty = ask_qty.min(q.max(0));
        }
        let side = |price: i128, qty: i128| {
            (qty > 0 && price > 0).then(|| QuoteSide {
                price: Price::from_raw(price as i64),
                qty: Qty(qty as u64),
            })
        };
        Quote {
            bid: side(bid, bid_qty),
            ask: side(ask, ask_qty),
        }
    }
}

/// The one order action that moves a resting quote side to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave it as it is.
    Keep,
    /// Nothing rests: enter this.
    New(QuoteSide),
    /// Cancel/replace the resting order to this.
    Replace(QuoteSide),
    /// Cancel the resting order.
    Cancel,
}

/// Decides how to move `resting` to `target` without churn: a resting order
/// whose size is right and whose price is less than `requote_ticks` ticks from
/// the target stays.
#[must_use]
pub fn decide(
    resting: Option<QuoteSide>,
    target: Option<QuoteSide>,
    tick: Price,
    requote_ticks: u32,
) -> Action {
    match (resting, target) {
        (None, None) => Action::Keep,
        (None, Some(t)) => Action::New(t),
        (Some(_), None) => Action::Cancel,
        (Some(r), Some(t)) => {
            let distance = (i128::from(r.price.raw()) - i128::from(t.price.raw())).unsigned_abs();
            let threshold = i128::from(tick.raw()).unsigned_abs() * u128::from(requote_ticks);
            if r.qty == t.qty && distance < threshold {
                Action::Keep
            } else {
                Action::Replace(t)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_book::Level;

    const TICK: i64 = 100; // one cent

    fn params() -> SkewParams {
        SkewParams {
            tick: Price::from_raw(TICK),
            half_spread_ticks: 2,
            size: Qty(100),
            skew_ticks: 1,
            max_position: 500,
            requote_ticks: 1,
        }
    }

    fn bbo(bid: i64, ask: i64) -> Bbo {
        let level = |p: i64| {
            Some(Level {
                price: Price::from_raw(p),
                qty: Qty(100),
                count: 1,
            })
        };
        Bbo {
            bid: level(bid),
            ask: level(ask),
        }
    }

    fn ctx(bid: i64, ask: i64, position: i64) -> QuoteContext {
        QuoteContext {
            bbo: bbo(bid, ask),
            position,
            reduce_only: false,
            now_ns: 0,
        }
    }

    fn px(q: Option<QuoteSide>) -> i64 {
        q.map(|s| s.price.raw()).unwrap_or(-1)
    }

    #[test]
    fn flat_inventory_quotes_symmetrically_around_mid() {
        // mid 100.0500, half spread 2 ticks -> 100.0300 / 100.0700
        let mut q = SkewQuoter::new(params()).unwrap();
        let quote = q.quote(&ctx(1_000_400, 1_000_600, 0));
        assert_eq!(px(quote.bid), 1_000_300);
        assert_eq!(px(quote.ask), 1_000_700);
        assert_eq!(quote.bid.unwrap().qty, Qty(100));
    }

    #[test]
    fn half_tick_mid_rounds_away_from_mid_on_both_sides() {
        // mid 100.0450: bid 100.0250 -> 100.0200, ask 100.0650 -> 100.0700
        let mut q = SkewQuoter::new(params()).unwrap();
        let quote = q.quote(&ctx(1_000_400, 1_000_500, 0));
        assert_eq!(px(quote.bid), 1_000_200);
        assert_eq!(px(quote.ask), 1_000_700);
    }

    #[test]
    fn long_inventory_skews_both_quotes_down_one_tick_per_size() {
        let mut q = SkewQuoter::new(params()).unwrap();
        let quote = q.quote(&ctx(1_000_400, 1_000_600, 200));
        assert_eq!(px(quote.bid), 1_000_100);
        assert_eq!(px(quote.ask), 1_000_500);
    }

    #[test]
    fn quote_never_crosses_the_market() {
        let mut q = SkewQuoter::new(SkewParams {
            skew_ticks: 10,
            ..params()
        })
        .unwrap();
        // Long 300: reservation 30 ticks below mid, ask would cross the best bid.
        let quote = q.quote(&ctx(1_000_400, 1_000_600, 300));
        assert_eq!(px(quote.ask), 1_000_500);
        assert!(px(quote.bid) < 1_000_600);
    }

    #[test]
    fn bid_shrinks_then_disappears_at_max_long_position() {
        let mut q = SkewQuoter::new(params()).unwrap();
        let near = q.quote(&ctx(1_000_400, 1_000_600, 450));
        assert_eq!(near.bid.unwrap().qty, Qty(50));
        let at = q.quote(&ctx(1_000_400, 1_000_600, 500));
        assert_eq!(at.bid, None);
        assert_eq!(at.ask.unwrap().qty, Qty(100));
    }

    #[test]
    fn reduce_only_quotes_only_the_shrinking_side_up_to_the_position() {
        let mut q = SkewQuoter::new(params()).unwrap();
        let mut c = ctx(1_000_400, 1_000_600, 40);
        c.reduce_only = true;
        let quote = q.quote(&c);
        assert_eq!(quote.bid, None);
        assert_eq!(quote.ask.unwrap().qty, Qty(40));
        c.position = 0;
        assert_eq!(q.quote(&c), Quote::default());
    }

    #[test]
    fn one_sided_book_gives_no_quote() {
        let mut q = SkewQuoter::new(params()).unwrap();
        let mut c = ctx(1_000_400, 1_000_600, 0);
        c.bbo.ask = None;
        assert_eq!(q.quote(&c), Quote::default());
    }

    #[test]
    fn bad_parameter_is_refused_naming_the_field() {
        let err = SkewQuoter::new(SkewParams {
            half_spread_ticks: 0,
            ..params()
        })
        .unwrap_err();
        assert!(err.to_string().contains("half_spread_ticks = 0"), "{err}");
    }

    #[test]
    fn decide_keeps_a_quote_within_the_requote_threshold() {
        let side = |p: i64, q: u64| QuoteSide {
            price: Price::from_raw(p),
            qty: Qty(q),
        };
        let tick = Price::from_raw(TICK);
        assert_eq!(
            decide(Some(side(1000, 100)), Some(side(1100, 100)), tick, 2),
            Action::Keep
        );
        assert_eq!(
            decide(Some(side(1000, 100)), Some(side(1200, 100)), tick, 2),
            Action::Replace(side(1200, 100))
        );
        assert_eq!(
            decide(Some(side(1000, 100)), Some(side(1000, 50)), tick, 2),
            Action::Replace(side(1000, 50))
        );
        assert_eq!(decide(Some(side(1000, 100)), None, tick, 1), Action::Cancel);
        assert_eq!(
            decide(None, Some(side(1000, 1)), tick, 1),
            Action::New(side(1000, 1))
        );
        assert_eq!(decide(None, None, tick, 1), Action::Keep);
    }
}
