//! Shared builders for the strategy integration tests.

#![allow(dead_code, unreachable_pub)]

use quotewire_book::{Bbo, Level};
use quotewire_core::{Price, Qty};
use quotewire_strategy::{Horizon, MarketState, ModelKind, ModelParams};

/// One cent with four implied decimals.
pub const TICK: i64 = 100;

/// A two-sided book with the given raw prices and touch quantities.
pub fn book(bid: i64, ask: i64, bid_qty: u64, ask_qty: u64) -> Bbo {
    Bbo {
        bid: Some(Level {
            price: Price::from_raw(bid),
            qty: Qty(bid_qty),
            count: 1,
        }),
        ask: Some(Level {
            price: Price::from_raw(ask),
            qty: Qty(ask_qty),
            count: 1,
        }),
    }
}

/// A market snapshot with 100 shares at each side of the touch.
pub fn market(bid: i64, ask: i64, position: i64, now_ns: u64) -> MarketState {
    MarketState {
        bbo: book(bid, ask, 100, 100),
        position,
        reduce_only: false,
        now_ns,
    }
}

/// A valid model of `kind`: tick 1 cent, 100 shares a lot, limit 5 lots,
/// gamma 0.1, sigma 2, A 140, k 1.5 fixed, no floor, one level.
pub fn params(kind: ModelKind) -> ModelParams {
    ModelParams {
        kind,
        gamma: 0.1,
        horizon: Horizon::Infinite,
        sigma: Some(2.0),
        a: Some(140.0),
        k: Some(1.5),
        ..ModelParams::skew(Price::from_raw(TICK), Qty(100), 2, 1, 500, 1)
    }
}

/// Deterministic SplitMix64 generator for synthetic market data.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1_u64 << 53) as f64
    }

    /// Exponential with the given rate.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }
}
