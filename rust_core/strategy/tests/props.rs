//! Properties of every quote over random models, books, inventories and
//! adjustments: on the tick grid, never crossing the market, never past
//! max_position in the worst case, levels ordered, reduce-only honoured; and
//! the Skew model agrees with `SkewQuoter`.

mod common;

use common::*;
use proptest::prelude::*;
use quotewire_core::{Price, Qty};
use quotewire_strategy::{
    Adjust, Horizon, MarketState, ModelKind, ModelParams, QuoteContext, Quoter, SkewParams,
    SkewQuoter, Strategy as QuoteStrategy,
};

fn kind() -> impl Strategy<Value = ModelKind> {
    prop_oneof![
        Just(ModelKind::Skew),
        Just(ModelKind::AvellanedaStoikov),
        Just(ModelKind::Glft)
    ]
}

fn horizon() -> impl Strategy<Value = Horizon> {
    prop_oneof![
        Just(Horizon::Infinite),
        (0_u64..20_000_000_000).prop_map(|end_ns| Horizon::Finite { end_ns }),
        (0.0_f64..600.0).prop_map(|seconds| Horizon::Rolling { seconds }),
    ]
}

prop_compose! {
    fn model()(
        kind in kind(),
        tick in prop_oneof![Just(1_i64), Just(50), Just(100), Just(2_500)],
        size in 1_u64..1_000,
        levels in 1_u8..=4,
        spacing in 1_u32..6,
        step in 0_u32..200,
        max_position in 1_u64..5_000,
        half in 1_u32..20,
        skew in 0_u32..20,
        gamma in 0.001_f64..5.0,
        horizon in horizon(),
        sigma in proptest::option::of(0.0_f64..50.0),
        a in proptest::option::of(0.01_f64..1_000.0),
        k in proptest::option::of(0.01_f64..20.0),
        floor in 0_u32..5,
    ) -> ModelParams {
        ModelParams {
            kind,
            levels,
            level_spacing_ticks: spacing,
            level_size_step_pct: step,
            gamma,
            horizon,
            sigma,
            a,
            k,
            min_half_spread_ticks: floor,
            ..ModelParams::skew(Price::from_raw(tick), Qty(size), half, skew, max_position, 1)
        }
    }
}

prop_compose! {
    fn adjust()(
        widen in 0_u32..10,
        size_pct in prop_oneof![Just(0_u32), 1_u32..300],
        pull in proptest::bool::weighted(0.05),
        reduce_only in proptest::bool::weighted(0.2),
    ) -> Adjust {
        Adjust { widen_ticks: widen, size_pct, pull, reduce_only }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn quotes_stay_on_the_grid_passive_and_within_the_position_limit(
        p in model(),
        adjust in adjust(),
        bid_ticks in 1_i64..100_000,
        spread_ticks in -2_i64..30,
        position in -10_000_i64..10_000,
        reduce_only in proptest::bool::weighted(0.2),
        now_ns in 0_u64..30_000_000_000,
        feed in proptest::collection::vec((-3_i64..=3, 0_i64..8, 1_u64..500_000_000), 0..40),
    ) {
        let tick = p.tick.raw();
        let mut s = QuoteStrategy::new(p).unwrap();
        // Some market data first, so estimated inputs vary too.
        let mut t = 0_u64;
        for (dm, depth, dt) in feed {
            t += dt;
            let b = (bid_ticks + dm).max(1) * tick;
            s.on_book(t, &book(b, b + tick, 100, 200));
            s.on_trade(t, Price::from_raw(b + (depth + 1) * tick), Qty(1), None);
        }
        let (best_bid, best_ask) = (bid_ticks * tick, (bid_ticks + spread_ticks) * tick);
        let m = MarketState {
            bbo: book(best_bid, best_ask, 100, 100),
            position,
            reduce_only,
            now_ns: now_ns.max(t),
        };
        let l = s.quote(&m, adjust);
        if adjust.pull {
            prop_assert!(l.is_empty());
        }
        let max = i128::from(p.max_position);
        let pos = i128::from(position);
        for (i, side) in l.bids.iter().enumerate() {
            let Some(q) = side else {
                prop_assert!(l.bids[i..].iter().all(Option::is_none));
                break;
            };
            prop_assert_eq!(q.price.raw() % tick, 0);
            prop_assert!(q.price.raw() > 0);
            prop_assert!(q.price.raw() <= best_ask - tick, "bid {} crosses {}", q.price.raw(), best_ask);
            prop_assert!(q.qty.raw() > 0);
            if i > 0 {
                prop_assert!(q.price < l.bids[i - 1].unwrap().price);
            }
        }
        for (i, side) in l.asks.iter().enumerate() {
            let Some(q) = side else {
                prop_assert!(l.asks[i..].iter().all(Option::is_none));
                break;
            };
            prop_assert_eq!(q.price.raw() % tick, 0);
            prop_assert!(q.price.raw() >= best_bid + tick, "ask {} crosses {}", q.price.raw(), best_bid);
            prop_assert!(q.qty.raw() > 0);
            if i > 0 {
                prop_assert!(q.price > l.asks[i - 1].unwrap().price);
            }
        }
        if let (Some(b), Some(a)) = (l.bids[0], l.asks[0]) {
            prop_assert!(b.price < a.price);
        }
        let bids = i128::from(l.bid_qty());
        let asks = i128::from(l.ask_qty());
        if bids > 0 {
            prop_assert!(pos + bids <= max, "position {pos} + bids {bids} > {max}");
        }
        if asks > 0 {
            prop_assert!(pos - asks >= -max, "position {pos} - asks {asks} < -{max}");
        }
        if reduce_only || adjust.reduce_only {
            prop_assert!(bids <= (-pos).max(0));
            prop_assert!(asks <= pos.max(0));
        }
        let st = s.state();
        if !adjust.pull {
            prop_assert!(st.bid_half_spread.is_finite() && st.ask_half_spread.is_finite());
        }
    }

    #[test]
    fn skew_model_agrees_with_skew_quoter(
        half in 1_u32..50,
        skew in 0_u32..50,
        max_position in 1_u64..2_000,
        bid_ticks in 1_i64..100_000,
        spread_ticks in 1_i64..30,
        position in -3_000_i64..3_000,
        reduce_only in any::<bool>(),
    ) {
        // tick 100 and size 100 keep SkewQuoter's integer skew exact.
        let sp = SkewParams {
            tick: Price::from_raw(100),
            half_spread_ticks: half,
            size: Qty(100),
            skew_ticks: skew,
            max_position,
            requote_ticks: 1,
        };
        let mut old = SkewQuoter::new(sp).unwrap();
        let mut new = QuoteStrategy::new(sp.into()).unwrap();
        let ctx = QuoteContext {
            bbo: book(bid_ticks * 100, (bid_ticks + spread_ticks) * 100, 10, 10),
            position,
            reduce_only,
            now_ns: 0,
        };
        prop_assert_eq!(new.quote(&ctx.into(), Adjust::default()).top(), old.quote(&ctx));
    }
}
