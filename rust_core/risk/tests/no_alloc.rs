//! The hot path never allocates: a counting global allocator watches every
//! `check`, `on_fill` and `on_reference` after construction.

mod common;

use quotewire_testkit::{allocations, CountingAllocator};

use common::*;
use quotewire_core::{Price, Qty, Side};
use quotewire_risk::{KillReason, Reject, Working};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn checks_fills_references_and_kills_do_not_allocate() {
    let mut cfg = config();
    cfg.firm.max_drawdown = 1_000 * REF;
    let mut risk = risk_with(&cfg);
    let working = Working {
        best_bid: Some(Price(REF - 100)),
        best_ask: Some(Price(REF + 100)),
        ..open(10, 10)
    };
    let probe = allocations();
    drop(std::hint::black_box(vec![0_u8; 16]));
    assert!(allocations() > probe, "the counting allocator is in place");
    let before = allocations();
    let mut accepted = 0_u64;
    for i in 0..10_000_u64 {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = if i % 2 == 0 { REF - 200 } else { REF + 200 };
        if risk
            .check(i, &order(INST, side, price, 1 + i % 7), &working, 3)
            .is_ok()
        {
            accepted += 1;
        }
        let _ = risk.on_fill(INST, side, Price(price), Qty(1 + i % 5));
        let _ = risk.on_reference(INST, Price(REF + i64::try_from(i % 50).unwrap()));
    }
    assert_eq!(
        risk.check(0, &buy(REF, 0), &working, 0),
        Err(Reject::InvalidOrder)
    );
    let _ = risk.kill(KillReason::Remote);
    let _ = risk.take_kill_event();
    let _ = risk.rearm();
    let _ = risk.totals();
    let after = allocations();
    assert_eq!(after - before, 0, "the hot path allocated");
    assert_eq!(accepted, 10_000);
}
