//! The hot path never allocates: a counting global allocator watches
//! `on_book`, `on_trade`, `quote`, `estimates` and `state` of every model
//! after construction.

mod common;

use quotewire_testkit::{allocations, CountingAllocator};

use common::*;
use quotewire_core::{Price, Qty};
use quotewire_strategy::{Adjust, Horizon, ModelKind, ModelParams, Strategy};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn books_trades_and_quotes_of_every_model_do_not_allocate() {
    let models = [
        params(ModelKind::Skew),
        ModelParams {
            horizon: Horizon::Rolling { seconds: 30.0 },
            sigma: None,
            k: None,
            levels: 4,
            ..params(ModelKind::AvellanedaStoikov)
        },
        params(ModelKind::AvellanedaStoikov),
        ModelParams {
            sigma: None,
            a: None,
            k: None,
            levels: 3,
            level_size_step_pct: 25,
            ..params(ModelKind::Glft)
        },
    ];
    let mut strategies = models.map(|p| Strategy::new(p).unwrap());
    let probe = allocations();
    drop(std::hint::black_box(vec![0_u8; 16]));
    assert!(allocations() > probe, "the counting allocator is in place");
    let before = allocations();
    let mut quoted = 0_u64;
    for s in &mut strategies {
        for i in 0..20_000_i64 {
            let now = i as u64 * 50_000_000;
            let bid = 100_000 * TICK + (i % 7 - 3) * TICK;
            s.on_book(
                now,
                &book(bid, bid + (1 + i % 2) * TICK, 100 + i as u64 % 50, 120),
            );
            if i % 3 == 0 {
                let price = bid + TICK * (1 + i % 5);
                s.on_trade(now, Price::from_raw(price), Qty(100), None);
            }
            let adjust = Adjust {
                widen_ticks: (i % 3) as u32,
                size_pct: (i % 150) as u32,
                pull: i % 97 == 0,
                reduce_only: i % 41 == 0,
            };
            let l = s.quote(&market(bid, bid + 2 * TICK, (i % 900) - 450, now), adjust);
            quoted += u64::from(!l.is_empty());
            let _ = std::hint::black_box(s.estimates());
            let _ = std::hint::black_box(s.state());
        }
    }
    let after = allocations();
    assert_eq!(after - before, 0, "the hot path allocated");
    assert!(quoted > 70_000, "{quoted}");
    assert!(strategies[3].estimates().trades > 6_000);
}
