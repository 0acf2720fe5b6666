//! Pre-trade check and fill booking latency.
//!
//! `risk/check_accept` runs the full accepting path (every check passes, a
//! throttle token is taken) on one of 1,024 instruments in rotation, with the
//! clock advancing 1 us per order so the bucket never empties.
//! `risk/check_reject_band` stops at the price band. `risk/on_fill` books an
//! alternating buy/sell fill (increase, partial close, flip) and updates the
//! firm sums; `risk/on_reference` re-marks one instrument.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_risk::{FirmLimits, InstrumentLimits, OrderCheck, Risk, RiskConfig, Working};

const INSTRUMENTS: u16 = 1_024;
const REF: i64 = 1_000_000;

fn risk() -> Risk {
    let mut risk = Risk::new(&RiskConfig {
        instruments: usize::from(INSTRUMENTS),
        firm: FirmLimits {
            max_gross_exposure: i64::MAX,
            max_net_exposure: i64::MAX,
            max_open_orders: 100_000,
            orders_per_sec: 10_000_000,
            burst: 1_000,
            max_drawdown: i64::MAX / 2,
        },
        default_instrument: InstrumentLimits {
            max_order_qty: 10_000,
            max_order_notional: i64::MAX,
            price_band_bps: 500,
            max_position: 1_000_000_000,
        },
    })
    .expect("valid config");
    for id in 0..INSTRUMENTS {
        let _ = risk.on_reference(InstrumentId(id), Price(REF));
    }
    risk
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("risk");
    let working = Working {
        open_buy_qty: 300,
        open_sell_qty: 300,
        best_bid: Some(Price(REF - 100)),
        best_ask: Some(Price(REF + 100)),
    };

    let mut r = risk();
    let (mut now, mut i) = (0_u64, 0_u16);
    g.bench_function("check_accept", |b| {
        b.iter(|| {
            now += 1_000;
            i = (i + 1) % INSTRUMENTS;
            let order = OrderCheck {
                instrument: InstrumentId(i),
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                price: Price(if i % 2 == 0 { REF - 200 } else { REF + 200 }),
                qty: Qty(100),
                replaces: None,
            };
            let verdict = r.check(now, black_box(&order), black_box(&working), 10);
            debug_assert!(verdict.is_ok());
            black_box(verdict)
        });
    });
    assert_eq!(r.accepted(), r.checks(), "the accepting path must accept");

    let mut r = risk();
    let far = OrderCheck {
        instrument: InstrumentId(7),
        side: Side::Buy,
        price: Price(2 * REF),
        qty: Qty(100),
        replaces: None,
    };
    g.bench_function("check_reject_band", |b| {
        b.iter(|| black_box(r.check(0, black_box(&far), black_box(&working), 10)));
    });

    let mut r = risk();
    let mut n = 0_u64;
    g.bench_function("on_fill", |b| {
        b.iter(|| {
            n += 1;
            let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
            let qty = Qty(1 + n % 150);
            let price = Price(REF + i64::try_from(n % 64).unwrap_or(0));
            black_box(r.on_fill(black_box(InstrumentId(3)), side, price, qty))
        });
    });

    let mut r = risk();
    let _ = r.on_fill(InstrumentId(3), Side::Buy, Price(REF), Qty(500));
    let mut m = 0_i64;
    g.bench_function("on_reference", |b| {
        b.iter(|| {
            m = (m + 1) % 100;
            black_box(r.on_reference(black_box(InstrumentId(3)), Price(REF + m)))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
