//! The hot path never allocates: a counting global allocator watches
//! `on_book`, `on_trade`, `quote`, `estimates` and `state` of every model
//! after construction.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use quotewire_core::{Price, Qty};
use quotewire_strategy::{Adjust, Horizon, ModelKind, ModelParams, Strategy};

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
