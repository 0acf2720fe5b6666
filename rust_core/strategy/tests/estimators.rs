//! The online estimators against synthetic data of known parameters:
//! volatility of a random walk, the exponential trade-intensity profile,
//! touch imbalance and the time-weighted spread.

mod common;

use common::*;
use quotewire_core::{Price, Qty};
use quotewire_strategy::{
    Adjust, ModelKind, ModelParams, Strategy, DEFAULT_A, DEFAULT_K, DEFAULT_SIGMA, MIN_TRADES,
};

const NS: f64 = 1e9;

fn estimating(kind: ModelKind) -> ModelParams {
    ModelParams {
        sigma: None,
        a: None,
        k: None,
        vol_half_life_s: 600.0,
        intensity_half_life_s: 300.0,
        ..params(kind)
    }
}

/// A mid random walk: jumps of -2, -1, +1 or +2 ticks (E[J^2] = 2.5) at
/// Poisson rate 1.6/s, so the variance is 4 ticks^2/s (sigma = 2), with
/// book updates that leave the mid alone at rate 10/s in between. Calls
/// `observe(now_ns, bid)` for every update (spread 2 ticks).
fn random_walk(seed: u64, seconds: f64, mut observe: impl FnMut(u64, i64)) {
    let mut rng = Rng(seed);
    let mut bid = 100_000 * TICK;
    let (move_rate, quiet_rate) = (1.6, 10.0);
    let mut t = 0.0;
    while t < seconds {
        t += rng.exponential(move_rate + quiet_rate);
        if rng.uniform() < move_rate / (move_rate + quiet_rate) {
            let jump = match rng.next_u64() % 4 {
                0 => -2,
                1 => -1,
                2 => 1,
                _ => 2,
            };
            bid += jump * TICK;
        }
        observe((t * NS) as u64, bid);
    }
}

#[test]
fn volatility_of_a_random_walk_converges_to_its_sigma() {
    let mut s = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    random_walk(7, 20_000.0, |now, bid| {
        s.on_book(now, &book(bid, bid + 2 * TICK, 100, 100));
    });
    let est = s.estimates();
    assert!(est.mid_samples > 200_000, "{est:?}");
    assert!((est.sigma - 2.0).abs() < 0.16, "sigma {} vs 2", est.sigma);
}

#[test]
fn volatility_is_per_second_whatever_the_sampling() {
    // The same path seen only at irregular, sparse moments (about one book in
    // 30): variance per elapsed second does not depend on how often we look.
    let mut dense = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    let mut sparse = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    let mut pick = Rng(99);
    random_walk(11, 20_000.0, |now, bid| {
        let bbo = book(bid, bid + 2 * TICK, 100, 100);
        dense.on_book(now, &bbo);
        if pick.next_u64() % 30 == 0 {
            sparse.on_book(now, &bbo);
        }
    });
    let (d, sp) = (dense.estimates().sigma, sparse.estimates().sigma);
    assert!((d - 2.0).abs() < 0.16, "dense {d}");
    assert!((sp - 2.0).abs() < 0.2, "sparse {sp}");
}

#[test]
fn volatility_uses_the_default_until_enough_mid_samples() {
    let mut s = Strategy::new(estimating(ModelKind::AvellanedaStoikov)).unwrap();
    for i in 0..5_u64 {
        let bid = 100_000 * TICK + (i as i64 % 2) * 10 * TICK;
        s.on_book(i * 1_000_000, &book(bid, bid + TICK, 100, 100));
    }
    assert_eq!(s.estimates().sigma, DEFAULT_SIGMA);
    assert_eq!(s.estimates().mid_samples, 4);
}

/// Trades against a constant 1-tick book (mid on a half tick) with the
/// profile lambda(delta) = a * exp(-k * delta): arrivals at rate
/// lambda(0.5), each reaching 0.5 + j ticks with P(j >= n) = exp(-k n).
fn exponential_trades(s: &mut Strategy, seed: u64, a: f64, k: f64, seconds: f64, pass_mid: bool) {
    let (bid, ask) = (100_000 * TICK, 100_000 * TICK + TICK);
    s.on_book(0, &book(bid, ask, 100, 100));
    let mid = Price::from_raw(bid + TICK / 2);
    let mut rng = Rng(seed);
    let rate = a * (-0.5 * k).exp();
    let mut t = 0.0;
    loop {
        t += rng.exponential(rate);
        if t >= seconds {
            break;
        }
        let j = (-rng.uniform().ln() / k).floor() as i64;
        let price = if rng.next_u64() % 2 == 0 {
            ask + j * TICK
        } else {
            bid - j * TICK
        };
        let mid = pass_mid.then_some(mid);
        s.on_trade((t * NS) as u64, Price::from_raw(price), Qty(100), mid);
    }
}

#[test]
fn intensity_fit_recovers_a_and_k_of_an_exponential_profile() {
    for (seed, a, k) in [(1, 20.0, 0.8), (2, 140.0, 1.5), (3, 5.0, 0.4)] {
        let mut s = Strategy::new(estimating(ModelKind::Glft)).unwrap();
        exponential_trades(&mut s, seed, a, k, 3_000.0, seed % 2 == 0);
        let est = s.estimates();
        assert!(est.trades > 1_000, "{est:?}");
        assert!(
            (est.k / k - 1.0).abs() < 0.08,
            "k {} vs {k}: {est:?}",
            est.k
        );
        assert!(
            (est.a / a - 1.0).abs() < 0.12,
            "A {} vs {a}: {est:?}",
            est.a
        );
    }
}

#[test]
fn intensity_scale_fades_when_trades_stop() {
    let mut s = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    exponential_trades(&mut s, 5, 20.0, 0.8, 3_000.0, false);
    let busy = s.estimates();
    // One intensity half-life (300 s) later with no trade, only books.
    s.on_book(
        3_300 * 1_000_000_000,
        &book(100_000 * TICK, 100_000 * TICK + TICK, 1, 1),
    );
    let quiet = s.estimates();
    assert_eq!(quiet.k, busy.k);
    assert!(
        (quiet.a / busy.a - 0.5).abs() < 0.05,
        "{} -> {}",
        busy.a,
        quiet.a
    );
}

#[test]
fn intensity_uses_defaults_until_enough_trades() {
    let mut s = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    exponential_trades(&mut s, 9, 20.0, 0.8, 0.5, false);
    let est = s.estimates();
    assert!(est.trades < MIN_TRADES, "{est:?}");
    assert_eq!((est.a, est.k), (DEFAULT_A, DEFAULT_K));
    let l = s.quote(
        &market(100_000 * TICK, 100_002 * TICK, 0, 1),
        Adjust::default(),
    );
    assert!(!l.is_empty());
    assert_eq!((s.state().a_used, s.state().k_used), (DEFAULT_A, DEFAULT_K));
}

#[test]
fn trades_without_any_mid_are_not_counted() {
    let mut s = Strategy::new(estimating(ModelKind::Glft)).unwrap();
    s.on_trade(1, Price::from_raw(100 * TICK), Qty(1), None);
    assert_eq!(s.estimates().trades, 0);
    s.on_trade(
        2,
        Price::from_raw(100 * TICK),
        Qty(1),
        Some(Price::from_raw(100 * TICK)),
    );
    assert_eq!(s.estimates().trades, 1);
}

#[test]
fn imbalance_is_the_touch_quantity_difference_over_the_sum() {
    let mut s = Strategy::new(estimating(ModelKind::Skew)).unwrap();
    s.on_book(0, &book(1_000_000, 1_000_100, 300, 100));
    assert_eq!(s.estimates().imbalance, 0.5);
    s.on_book(1, &book(1_000_000, 1_000_100, 100, 400));
    assert_eq!(s.estimates().imbalance, -0.6);
    let mut one_sided = book(1_000_000, 1_000_100, 100, 400);
    one_sided.ask = None;
    s.on_book(2, &one_sided);
    assert_eq!(s.estimates().imbalance, 1.0);
}

#[test]
fn spread_is_the_time_weighted_average_of_the_quoted_spread() {
    let mut s = Strategy::new(ModelParams {
        vol_half_life_s: 1e9,
        ..estimating(ModelKind::Skew)
    })
    .unwrap();
    s.on_book(0, &book(1_000_000, 1_000_200, 1, 1));
    assert_eq!(
        s.estimates().spread_ticks,
        2.0,
        "the latest spread before time passes"
    );
    // 2 ticks for 10 s, then 4 ticks for 30 s: (2*10 + 4*30) / 40 = 3.5
    s.on_book(10_000_000_000, &book(1_000_000, 1_000_400, 1, 1));
    s.on_book(40_000_000_000, &book(1_000_000, 1_000_400, 1, 1));
    let spread = s.estimates().spread_ticks;
    assert!((spread - 3.5).abs() < 1e-6, "{spread}");
}

#[test]
fn set_params_keeps_the_estimates_unless_the_tick_changes() {
    let p = estimating(ModelKind::Glft);
    let mut s = Strategy::new(p).unwrap();
    exponential_trades(&mut s, 4, 20.0, 0.8, 600.0, false);
    let before = s.estimates();
    s.set_params(ModelParams { gamma: 0.5, ..p }).unwrap();
    assert_eq!(s.estimates(), before);
    s.set_params(ModelParams {
        tick: Price::from_raw(TICK * 2),
        ..p
    })
    .unwrap();
    assert_eq!(s.estimates().trades, 0);
}

#[test]
fn fixed_parameters_override_the_estimates() {
    let p = ModelParams {
        sigma: Some(3.0),
        ..estimating(ModelKind::Glft)
    };
    let mut s = Strategy::new(p).unwrap();
    random_walk(3, 100.0, |now, bid| {
        s.on_book(now, &book(bid, bid + 2 * TICK, 1, 1));
    });
    let _ = s.quote(
        &market(100_000 * TICK, 100_002 * TICK, 0, 200 * 1_000_000_000),
        Adjust::default(),
    );
    let st = s.state();
    assert_eq!(st.sigma_used, 3.0);
    assert_ne!(st.estimates.sigma, 3.0);
    assert_eq!(st.a_used, st.estimates.a);
}
