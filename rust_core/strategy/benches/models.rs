//! Cost of one `Strategy::quote` per model, and of the estimator updates.
//!
//! `quote/<model>` quotes a warm strategy (estimators fed 10,000 books and
//! 3,000 trades, untimed) on one of 64 pre-built market states in rotation
//! (mid and position vary): `skew` one level; `as_rolling` and `as_infinite`
//! Avellaneda-Stoikov with estimated sigma and k, two levels; `glft` GLFT with
//! estimated sigma, A and k, four levels. `on_book` and `on_trade` time one
//! estimator update each.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use quotewire_book::{Bbo, Level};
use quotewire_core::{Price, Qty};
use quotewire_strategy::{Adjust, Horizon, MarketState, ModelKind, ModelParams, Strategy};

const TICK: i64 = 100;

fn book(bid: i64, ask: i64) -> Bbo {
    let level = |price: i64, qty: u64| {
        Some(Level {
            price: Price::from_raw(price),
            qty: Qty(qty),
            count: 1,
        })
    };
    Bbo {
        bid: level(bid, 300),
        ask: level(ask, 200),
    }
}

fn params(kind: ModelKind, horizon: Horizon, levels: u8) -> ModelParams {
    ModelParams {
        kind,
        levels,
        level_spacing_ticks: 1,
        level_size_step_pct: 50,
        gamma: 0.1,
        horizon,
        sigma: None,
        a: None,
        k: None,
        ..ModelParams::skew(Price::from_raw(TICK), Qty(100), 2, 1, 1_000, 1)
    }
}

fn warm(p: ModelParams) -> Strategy {
    let mut s = Strategy::new(p).expect("valid params");
    let mut x = 0x1234_5678_u64;
    for i in 0..10_000_u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bid = 100_000 * TICK + (x % 5) as i64 * TICK;
        s.on_book(i * 10_000_000, &book(bid, bid + TICK));
        if i % 3 == 0 {
            let depth = (x >> 8) % 4;
            s.on_trade(
                i * 10_000_000,
                Price::from_raw(bid - depth as i64 * TICK),
                Qty(100),
                None,
            );
        }
    }
    s
}

fn markets() -> Vec<MarketState> {
    (0..64_i64)
        .map(|i| {
            let bid = 100_000 * TICK + (i % 5) * TICK;
            MarketState {
                bbo: book(bid, bid + (1 + i % 2) * TICK),
                position: (i % 13 - 6) * 100,
                reduce_only: false,
                now_ns: 100_000_000_000 + i as u64,
            }
        })
        .collect()
}

fn quote(c: &mut Criterion) {
    let models = [
        ("skew", params(ModelKind::Skew, Horizon::Infinite, 1)),
        (
            "as_rolling",
            params(
                ModelKind::AvellanedaStoikov,
                Horizon::Rolling { seconds: 60.0 },
                2,
            ),
        ),
        (
            "as_infinite",
            params(ModelKind::AvellanedaStoikov, Horizon::Infinite, 2),
        ),
        ("glft", params(ModelKind::Glft, Horizon::Infinite, 4)),
    ];
    let markets = markets();
    let mut group = c.benchmark_group("quote");
    for (name, p) in models {
        let mut s = warm(p);
        let mut i = 0_usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 63;
                black_box(s.quote(black_box(&markets[i]), Adjust::default()))
            });
        });
    }
    group.finish();
}

fn estimators(c: &mut Criterion) {
    let mut s = warm(params(ModelKind::Glft, Horizon::Infinite, 4));
    let books: Vec<Bbo> = (0..64_i64)
        .map(|i| {
            let bid = 100_000 * TICK + (i % 5) * TICK;
            book(bid, bid + TICK)
        })
        .collect();
    let mut now = 200_000_000_000_u64;
    let mut i = 0_usize;
    c.bench_function("on_book", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            now += 1_000;
            s.on_book(now, black_box(&books[i]));
        });
    });
    c.bench_function("on_trade", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            now += 1_000;
            let price = Price::from_raw(100_000 * TICK - (i % 4) as i64 * TICK);
            s.on_trade(now, black_box(price), Qty(100), None);
        });
    });
}

criterion_group!(benches, quote, estimators);
criterion_main!(benches);
