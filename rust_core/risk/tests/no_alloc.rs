//! The hot path never allocates: a counting global allocator watches every
//! `check`, `on_fill` and `on_reference` after construction.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use quotewire_core::{Price, Qty, Side};
use quotewire_risk::{KillReason, Reject, Working};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts allocations made by the current thread, then defers to the system allocator.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the only extra work is bumping a const-initialised thread-local counter, which
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System` for `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: `ptr`/`layout` come from `System` and the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

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
