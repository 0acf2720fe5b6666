//! Each model against its closed form on hand-computed cases, and the rules
//! that turn a model into a ladder: rounding, post-only safety, levels,
//! inventory bounds and rule adjustments.
//!
//! Unless a test says otherwise: tick 100 raw (one cent), 100 shares a lot,
//! max_position 500 (q_max = 5 lots), gamma 0.1, sigma 2, A 140, k 1.5, and a
//! book 100.0000 / 100.2000 whose mid is s = 10010 ticks.

mod common;

use common::*;
use quotewire_core::{Price, Qty};
use quotewire_strategy::{
    Adjust, Horizon, Ladder, ModelKind, ModelParams, Quote, QuoteContext, QuoteSide, Quoter,
    SkewParams, SkewQuoter, Strategy, MAX_LEVELS,
};

const BID: i64 = 1_000_000;
const ASK: i64 = 1_002_000;
const S: f64 = 10_010.0;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Raw prices of level 0, `-1` for no quote.
fn top(l: &Ladder) -> (i64, i64) {
    let px = |s: Option<QuoteSide>| s.map_or(-1, |s| s.price.raw());
    (px(l.bids[0]), px(l.asks[0]))
}

fn quote_at(params: ModelParams, position: i64, now_ns: u64) -> (Ladder, Strategy) {
    let mut s = Strategy::new(params).unwrap();
    let ladder = s.quote(&market(BID, ASK, position, now_ns), Adjust::default());
    (ladder, s)
}

// --- Avellaneda-Stoikov, finite horizon -------------------------------------

#[test]
fn avellaneda_stoikov_finite_horizon_matches_the_closed_form() {
    // T - t = 2 s: gamma sigma^2 (T - t) = 0.1 * 4 * 2 = 0.8,
    // (1/gamma) ln(1 + gamma/k) = 10 ln(1 + 0.1/1.5) = 0.6453852.
    // q = 0: r = 10010, half = 0.4 + 0.6453852 = 1.0453852
    //        bid 10008.9546 -> 10008, ask 10011.0454 -> 10012
    // q = 1: r = 10009.2, bid 10008.1546 -> 10008, ask 10010.2454 -> 10011
    // q = -1: r = 10010.8, bid 10009.7546 -> 10009, ask 10011.8454 -> 10012
    let p = ModelParams {
        horizon: Horizon::Finite {
            end_ns: 5_000_000_000,
        },
        ..params(ModelKind::AvellanedaStoikov)
    };
    let cases = [
        (0, 10_010.0, 1.045_385_2, 1.045_385_2, 1_000_800, 1_001_200),
        (
            100,
            10_009.2,
            1.845_385_2,
            0.245_385_2,
            1_000_800,
            1_001_100,
        ),
        (
            -100,
            10_010.8,
            0.245_385_2,
            1.845_385_2,
            1_000_900,
            1_001_200,
        ),
    ];
    for (position, r, bid_half, ask_half, bid, ask) in cases {
        let (ladder, s) = quote_at(p, position, 3_000_000_000);
        let st = s.state();
        assert!(close(st.reservation, r), "q={position}: {st:?}");
        assert!(close(st.bid_half_spread, bid_half), "q={position}: {st:?}");
        assert!(close(st.ask_half_spread, ask_half), "q={position}: {st:?}");
        assert_eq!(top(&ladder), (bid, ask), "q={position}");
        assert_eq!((st.sigma_used, st.k_used), (2.0, 1.5));
    }
}

#[test]
fn avellaneda_stoikov_rolling_horizon_uses_the_constant_time_left() {
    let rolling = ModelParams {
        horizon: Horizon::Rolling { seconds: 2.0 },
        ..params(ModelKind::AvellanedaStoikov)
    };
    let (ladder, s) = quote_at(rolling, 100, 987_654_321_000);
    assert!(close(s.state().reservation, 10_009.2));
    assert_eq!(top(&ladder), (1_000_800, 1_001_100));
}

#[test]
fn avellaneda_stoikov_after_the_horizon_end_quotes_only_the_intensity_spread() {
    // T - t clamped to 0: r = s whatever q, half = 0.6453852 -> 10009 / 10011.
    let p = ModelParams {
        horizon: Horizon::Finite { end_ns: 1_000 },
        ..params(ModelKind::AvellanedaStoikov)
    };
    let (ladder, s) = quote_at(p, 300, 2_000);
    assert!(close(s.state().reservation, S));
    assert!(close(s.state().bid_half_spread, 0.645_385_2));
    assert_eq!(top(&ladder), (1_000_900, 1_001_100));
}

// --- Avellaneda-Stoikov, infinite horizon -----------------------------------

#[test]
fn avellaneda_stoikov_infinite_horizon_matches_the_stationary_prices() {
    // q_max = 5, (q_max + 1)^2 = 36, c = 0.6453852.
    // q = 0: r_a = s + 10 ln(1 + 1/36) = s + 0.2739897, r_b = s + 10 ln(1 - 1/36) = s - 0.2817088
    //        ask = s + 0.9193750 -> 10011, bid = s - 0.9270940 -> 10009
    // q = 1: r_a = s + 10 ln(1 - 1/35), r_b = s + 10 ln(1 - 3/35)
    //        ask = s + 0.3555098 -> 10011, bid = s - 1.5415068 -> 10008
    // q = -1: r_a = s + 10 ln(1 + 3/35), r_b = s + 10 ln(1 + 1/35)
    //        ask = s + 1.4677662 -> 10012, bid = s - 0.3636764 -> 10009
    let p = params(ModelKind::AvellanedaStoikov);
    let cases = [
        (0, 0.927_094_0, 0.919_375_0, 1_000_900, 1_001_100),
        (100, 1.541_506_8, 0.355_509_8, 1_000_800, 1_001_100),
        (-100, 0.363_676_4, 1.467_766_2, 1_000_900, 1_001_200),
    ];
    for (position, bid_half, ask_half, bid, ask) in cases {
        let (ladder, s) = quote_at(p, position, 0);
        let st = s.state();
        assert!(close(st.bid_half_spread, bid_half), "q={position}: {st:?}");
        assert!(close(st.ask_half_spread, ask_half), "q={position}: {st:?}");
        let r = S + 0.5 * (ask_half - bid_half);
        assert!(close(st.reservation, r), "q={position}: {st:?}");
        assert_eq!(top(&ladder), (bid, ask), "q={position}");
    }
}

#[test]
fn avellaneda_stoikov_infinite_horizon_drops_the_bid_at_the_inventory_limit() {
    // q = 5 = q_max: r_a = s + 10 ln(2/11) = s - 17.0474809, ask = s - 16.4020957,
    // which would cross the best bid: kept at best bid + 1 tick.
    let (ladder, s) = quote_at(params(ModelKind::AvellanedaStoikov), 500, 0);
    assert_eq!(ladder.bids[0], None);
    assert_eq!(top(&ladder).1, BID + TICK);
    assert!(
        close(s.state().ask_half_spread, -16.402_095_7),
        "{:?}",
        s.state()
    );
}

// --- GLFT --------------------------------------------------------------------

#[test]
fn glft_matches_the_closed_form_approximation() {
    // c1 = 10 ln(1 + 0.1/1.5) = 0.6453852,
    // c2 = sqrt(0.1 / (2 * 140 * 1.5) * (1 + 0.1/1.5)^(1 + 15)) = 0.0258586, sigma c2 = 0.0517172
    // q = 0: delta_b = delta_a = c1 + 0.5 * 0.0517172 = 0.6712438
    // q = 1: delta_b = c1 + 1.5 * 0.0517172 = 0.7229610, delta_a = c1 - 0.5 * 0.0517172 = 0.6195266
    // q = -1: mirror.
    let p = params(ModelKind::Glft);
    let cases = [
        (0, 0.671_243_8, 0.671_243_8),
        (100, 0.722_961_0, 0.619_526_6),
        (-100, 0.619_526_6, 0.722_961_0),
    ];
    for (position, bid_half, ask_half) in cases {
        let (ladder, s) = quote_at(p, position, 0);
        let st = s.state();
        assert!(close(st.bid_half_spread, bid_half), "q={position}: {st:?}");
        assert!(close(st.ask_half_spread, ask_half), "q={position}: {st:?}");
        let r = S - position as f64 / 100.0 * 0.051_717_2;
        assert!((st.reservation - r).abs() < 1e-6, "q={position}: {st:?}");
        assert_eq!(top(&ladder), (1_000_900, 1_001_100), "q={position}");
        assert_eq!((st.sigma_used, st.a_used, st.k_used), (2.0, 140.0, 1.5));
    }
}

#[test]
fn glft_with_higher_volatility_moves_the_rounded_quotes_against_inventory() {
    // sigma = 20: sigma c2 = 0.5171722.
    // q = 1: delta_b = c1 + 1.5 * 0.5171722 = 1.4211434 -> bid 10008.5789 -> 10008,
    //        delta_a = c1 - 0.5 * 0.5171722 = 0.3867991 -> ask 10010.3868 -> 10011
    // q = -1: bid 10009.6132 -> 10009, ask 10011.4211 -> 10012
    let p = ModelParams {
        sigma: Some(20.0),
        ..params(ModelKind::Glft)
    };
    let (long, s) = quote_at(p, 100, 0);
    assert!(close(s.state().bid_half_spread, 1.421_143_4));
    assert!(close(s.state().ask_half_spread, 0.386_799_1));
    assert_eq!(top(&long), (1_000_800, 1_001_100));
    let (short, _) = quote_at(p, -100, 0);
    assert_eq!(top(&short), (1_000_900, 1_001_200));
}

#[test]
fn glft_quotes_no_bid_at_the_long_limit_and_no_ask_at_the_short_limit() {
    let p = params(ModelKind::Glft);
    let (long, _) = quote_at(p, 500, 0);
    assert_eq!(long.bids[0], None);
    assert!(long.asks[0].is_some());
    let (short, _) = quote_at(p, -500, 0);
    assert_eq!(short.asks[0], None);
    assert!(short.bids[0].is_some());
}

// --- Skew --------------------------------------------------------------------

#[test]
fn skew_model_matches_skew_quoter_on_its_cases() {
    let sp = SkewParams {
        tick: Price::from_raw(TICK),
        half_spread_ticks: 2,
        size: Qty(100),
        skew_ticks: 1,
        max_position: 500,
        requote_ticks: 1,
    };
    let mut old = SkewQuoter::new(sp).unwrap();
    let mut new = Strategy::new(ModelParams::from(sp)).unwrap();
    for (bid, ask) in [(1_000_400, 1_000_600), (1_000_400, 1_000_500), (BID, ASK)] {
        for position in [
            -600, -500, -450, -130, -1, 0, 1, 40, 200, 333, 450, 500, 700,
        ] {
            let m = market(bid, ask, position, 0);
            let ctx = QuoteContext {
                bbo: m.bbo,
                position,
                reduce_only: false,
                now_ns: 0,
            };
            let got = new.quote(&m, Adjust::default()).top();
            assert_eq!(got, old.quote(&ctx), "book {bid}/{ask} position {position}");
        }
    }
    // mid 10005, q = 2 lots: r = 10003, bid 10001, ask 10005.
    let l = new.quote(&market(1_000_400, 1_000_600, 200, 0), Adjust::default());
    assert!(close(new.state().reservation, 10_003.0));
    assert_eq!(top(&l), (1_000_100, 1_000_500));
}

// --- Rounding and post-only safety -------------------------------------------

#[test]
fn short_glft_bid_above_the_market_is_held_one_tick_below_the_best_ask() {
    // 1-tick market 100.1000 / 100.1100, q = -3, sigma 20:
    // delta_b = c1 - 2.5 * 0.5171722 = -0.6475453, bid = 10010.5 + 0.6475 -> 10011 = best ask,
    // held at 10010.
    let p = ModelParams {
        sigma: Some(20.0),
        ..params(ModelKind::Glft)
    };
    let mut s = Strategy::new(p).unwrap();
    let l = s.quote(&market(1_001_000, 1_001_100, -300, 0), Adjust::default());
    assert!(
        close(s.state().bid_half_spread, -0.647_545_3),
        "{:?}",
        s.state()
    );
    assert_eq!(top(&l).0, 1_001_000);
    assert!(top(&l).1 >= 1_001_100);
}

#[test]
fn long_skew_ask_below_the_best_bid_is_held_one_tick_above_it() {
    let p = ModelParams {
        skew_ticks: 10,
        ..params(ModelKind::Skew)
    };
    // mid 10005, q = 3: r = 9975, ask 9977 -> held at best bid + 1 = 10005.
    let (l, _) = {
        let mut s = Strategy::new(p).unwrap();
        (
            s.quote(&market(1_000_400, 1_000_600, 300, 0), Adjust::default()),
            s,
        )
    };
    assert_eq!(top(&l), (997_300, 1_000_500));
}

#[test]
fn half_tick_mid_rounds_bid_down_and_ask_up() {
    // mid 10004.5, half 2: 10002.5 -> 10002, 10006.5 -> 10007
    let mut s = Strategy::new(params(ModelKind::Skew)).unwrap();
    let l = s.quote(&market(1_000_400, 1_000_500, 0, 0), Adjust::default());
    assert_eq!(top(&l), (1_000_200, 1_000_700));
}

#[test]
fn one_sided_book_gives_an_empty_ladder() {
    let mut s = Strategy::new(params(ModelKind::Glft)).unwrap();
    let mut m = market(BID, ASK, 0, 0);
    m.bbo.bid = None;
    assert!(s.quote(&m, Adjust::default()).is_empty());
}

// --- Ladder ------------------------------------------------------------------

fn ladder_params() -> ModelParams {
    ModelParams {
        levels: 3,
        level_spacing_ticks: 2,
        level_size_step_pct: 50,
        max_position: 10_000,
        ..params(ModelKind::Skew)
    }
}

fn sides(side: &[Option<QuoteSide>; MAX_LEVELS]) -> Vec<(i64, u64)> {
    side.iter()
        .flatten()
        .map(|s| (s.price.raw(), s.qty.raw()))
        .collect()
}

#[test]
fn ladder_levels_step_out_by_the_spacing_and_grow_by_the_size_step() {
    // Skew, half 2, flat: level 0 at 10008 / 10012, then 2 ticks apart; sizes 100, 150, 225.
    let (l, _) = quote_at(ladder_params(), 0, 0);
    assert_eq!(
        sides(&l.bids),
        [(1_000_800, 100), (1_000_600, 150), (1_000_400, 225)]
    );
    assert_eq!(
        sides(&l.asks),
        [(1_001_200, 100), (1_001_400, 150), (1_001_600, 225)]
    );
}

#[test]
fn ladder_outer_levels_are_cut_so_the_worst_case_stays_within_max_position() {
    let p = ModelParams {
        max_position: 300,
        skew_ticks: 0,
        ..ladder_params()
    };
    let (flat, _) = quote_at(p, 0, 0);
    assert_eq!(
        sides(&flat.bids).iter().map(|s| s.1).collect::<Vec<_>>(),
        [100, 150, 50]
    );
    let (long, _) = quote_at(p, 250, 0);
    assert_eq!(sides(&long.bids), [(1_000_800, 50)]);
    assert_eq!(long.ask_qty(), 100 + 150 + 225);
    let (over, _) = quote_at(p, 300, 0);
    assert_eq!(over.bids[0], None);
    let (short, _) = quote_at(p, -120, 0);
    assert_eq!(short.ask_qty(), 180);
    // Bids may take the position from -120 up to +300: 100 + 150 + 170.
    assert_eq!(short.bid_qty(), 420);
}

#[test]
fn ladder_bid_levels_below_zero_price_are_dropped() {
    // mid 3.5 ticks: bid level 0 at 1 tick, level 1 would be at -1.
    let (l, _) = {
        let mut s = Strategy::new(ladder_params()).unwrap();
        (s.quote(&market(300, 400, 0, 0), Adjust::default()), s)
    };
    assert_eq!(sides(&l.bids), [(100, 100)]);
    assert_eq!(sides(&l.asks).len(), 3);
}

// --- Floor and adjustments ---------------------------------------------------

#[test]
fn min_half_spread_floors_the_half_spread_around_the_reservation() {
    // Skew half 2, skew 2, q = 2: r = s - 4; floor 3 widens the half spread to 3
    // around r, keeping the skew: bid s - 7 = 10003, ask s - 1 = 10009.
    let p = ModelParams {
        skew_ticks: 2,
        min_half_spread_ticks: 3,
        ..params(ModelKind::Skew)
    };
    let (l, s) = quote_at(p, 200, 0);
    assert!(close(s.state().reservation, S - 4.0));
    assert!(close(s.state().bid_half_spread, 7.0));
    assert!(close(s.state().ask_half_spread, -1.0));
    assert_eq!(top(&l), (1_000_300, 1_000_900));
    // A model half spread above the floor is left alone.
    let (wide, _) = quote_at(
        ModelParams {
            half_spread_ticks: 5,
            ..p
        },
        0,
        0,
    );
    assert_eq!(top(&wide), (1_000_500, 1_001_500));
}

#[test]
fn widen_adds_ticks_to_both_sides_after_the_floor() {
    let p = ModelParams {
        min_half_spread_ticks: 3,
        ..params(ModelKind::Skew)
    };
    let mut s = Strategy::new(p).unwrap();
    let adjust = Adjust {
        widen_ticks: 2,
        ..Adjust::default()
    };
    let l = s.quote(&market(BID, ASK, 0, 0), adjust);
    assert_eq!(top(&l), (1_000_500, 1_001_500));
}

#[test]
fn size_pct_scales_every_level_rounding_down_and_drops_empty_levels() {
    let mut s = Strategy::new(ladder_params()).unwrap();
    let m = market(BID, ASK, 0, 0);
    let half = s.quote(
        &m,
        Adjust {
            size_pct: 50,
            ..Adjust::default()
        },
    );
    assert_eq!(
        sides(&half.bids).iter().map(|s| s.1).collect::<Vec<_>>(),
        [50, 75, 112]
    );
    let unchanged = s.quote(&m, Adjust::default());
    assert_eq!(unchanged.bid_qty(), 475);
    let zero = s.quote(
        &m,
        Adjust {
            size_pct: 0,
            ..Adjust::default()
        },
    );
    assert_eq!(zero, unchanged, "size_pct 0 means no change");
    let tiny = s.quote(
        &m,
        Adjust {
            size_pct: 1,
            ..Adjust::default()
        },
    );
    // 100 -> 1, 150 -> 1, 225 -> 2
    assert_eq!(tiny.bid_qty(), 4);
    let p = ModelParams {
        size: Qty(50),
        levels: 1,
        ..ladder_params()
    };
    s.set_params(p).unwrap();
    let gone = s.quote(
        &m,
        Adjust {
            size_pct: 1,
            ..Adjust::default()
        },
    );
    assert!(gone.is_empty(), "50 * 1% rounds down to 0 shares: no quote");
}

#[test]
fn pull_quotes_nothing_but_still_records_the_model_state() {
    let mut s = Strategy::new(params(ModelKind::Glft)).unwrap();
    let l = s.quote(
        &market(BID, ASK, 100, 0),
        Adjust {
            pull: true,
            ..Adjust::default()
        },
    );
    assert_eq!(l, Ladder::default());
    assert!(close(s.state().bid_half_spread, 0.722_961_0));
}

#[test]
fn reduce_only_quotes_only_the_shrinking_side_up_to_the_position() {
    let mut s = Strategy::new(ladder_params()).unwrap();
    let adjust = Adjust {
        reduce_only: true,
        ..Adjust::default()
    };
    let long = s.quote(&market(BID, ASK, 180, 0), adjust);
    assert_eq!(long.bids[0], None);
    assert_eq!(
        sides(&long.asks).iter().map(|s| s.1).collect::<Vec<_>>(),
        [100, 80]
    );
    let mut m = market(BID, ASK, -40, 0);
    m.reduce_only = true;
    let short = s.quote(&m, Adjust::default());
    assert_eq!(short.asks[0], None);
    assert_eq!(short.bid_qty(), 40);
    m.position = 0;
    assert!(s.quote(&m, Adjust::default()).is_empty());
}

#[test]
fn ladder_top_is_the_level_zero_quote() {
    let (l, _) = quote_at(ladder_params(), 0, 0);
    assert_eq!(
        l.top(),
        Quote {
            bid: l.bids[0],
            ask: l.asks[0]
        }
    );
}

// --- Parameters --------------------------------------------------------------

#[test]
fn invalid_parameters_are_refused_naming_the_field() {
    let base = params(ModelKind::Glft);
    let cases: [(ModelParams, &str); 9] = [
        (ModelParams { levels: 0, ..base }, "levels = 0"),
        (ModelParams { levels: 5, ..base }, "levels = 5"),
        (ModelParams { gamma: 0.0, ..base }, "gamma = 0"),
        (
            ModelParams {
                gamma: f64::NAN,
                ..base
            },
            "gamma = NaN",
        ),
        (
            ModelParams {
                k: Some(-1.0),
                ..base
            },
            "k = -1",
        ),
        (
            ModelParams {
                a: Some(0.0),
                ..base
            },
            "a = 0",
        ),
        (
            ModelParams {
                sigma: Some(f64::INFINITY),
                ..base
            },
            "sigma = inf",
        ),
        (
            ModelParams {
                levels: 2,
                level_spacing_ticks: 0,
                ..base
            },
            "level_spacing_ticks = 0",
        ),
        (
            ModelParams {
                horizon: Horizon::Rolling { seconds: -1.0 },
                ..base
            },
            "horizon.seconds = -1",
        ),
    ];
    for (p, needle) in cases {
        let err = Strategy::new(p).unwrap_err();
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    let mut s = Strategy::new(base).unwrap();
    assert!(s
        .set_params(ModelParams {
            vol_half_life_s: 0.0,
            ..base
        })
        .is_err());
    assert_eq!(s.params(), &base, "unchanged on error");
}

#[test]
fn skew_constructor_gives_a_valid_one_level_skew_model() {
    let p = ModelParams::skew(Price::from_raw(TICK), Qty(100), 2, 1, 500, 1);
    assert_eq!(p.validate(), Ok(()));
    assert_eq!((p.kind, p.levels), (ModelKind::Skew, 1));
    // The Skew model needs a half spread; the others do not.
    assert!(ModelParams {
        half_spread_ticks: 0,
        ..p
    }
    .validate()
    .is_err());
    let glft = ModelParams {
        half_spread_ticks: 0,
        ..params(ModelKind::Glft)
    };
    assert_eq!(glft.validate(), Ok(()));
}
