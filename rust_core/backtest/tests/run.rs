//! Whole backtests over a generated session: the live fast path against the
//! simulated venue, checked for determinism and for consistent books.

use quotewire_backtest::{run, Latency, RunConfig, RunResult, Tape};
use quotewire_core::Side;
use quotewire_engine::trading::bench::bench_trader_config;
use quotewire_synth::{Generator, SynthConfig};

fn tape(messages: u64, instruments: u16, seed: u64) -> Tape {
    let cfg = SynthConfig {
        messages,
        instruments,
        max_live_orders: 50_000,
        seed,
        ..SynthConfig::default()
    };
    let mut buf = [0_u8; 64];
    let mut encoded: Vec<Vec<u8>> = Vec::new();
    for m in Generator::new(cfg).expect("generator") {
        let n = m.encode(&mut buf).expect("encode");
        encoded.push(buf[..n].to_vec());
    }
    Tape::from_messages(encoded.iter().map(Vec::as_slice))
}

fn config(latency: Latency, seed: u64) -> RunConfig {
    RunConfig {
        trader: bench_trader_config(4, 4096),
        latency,
        md_latency_ns: 2_000,
        seed,
        sample_every_ns: 1_000_000,
        own_refs: Vec::new(),
        time_packets: false,
    }
}

fn constant() -> Latency {
    Latency::Constant {
        order_ns: 5_000,
        ack_ns: 5_000,
    }
}

fn signed(side: Side, qty: u64) -> i64 {
    let q = i64::try_from(qty).expect("qty");
    if side == Side::Buy {
        q
    } else {
        -q
    }
}

fn fingerprint(r: &RunResult) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        r.orders.iter().map(|o| format!("{o:?}")).collect(),
        r.fills.iter().map(|f| format!("{f:?}")).collect(),
        r.samples.iter().map(|s| format!("{s:?}")).collect(),
    )
}

#[test]
fn two_runs_of_the_same_inputs_give_identical_orders_fills_and_samples() {
    let t = tape(60_000, 4, 7);
    let hist = Latency::Histogram(vec![(4_000, 3), (9_000, 2), (30_000, 1)]);
    let a = run(&config(hist.clone(), 11), &t).expect("run a");
    let b = run(&config(hist, 11), &t).expect("run b");
    assert!(!a.fills.is_empty(), "the market maker should trade");
    assert_eq!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn a_different_latency_seed_changes_the_run() {
    let t = tape(60_000, 4, 7);
    let hist = Latency::Histogram(vec![(2_000, 1), (400_000, 1)]);
    let a = run(&config(hist.clone(), 1), &t).expect("run a");
    let b = run(&config(hist, 2), &t).expect("run b");
    assert_ne!(fingerprint(&a).0, fingerprint(&b).0);
}

#[test]
fn positions_are_the_sum_of_the_fills_and_every_order_ends_canceled_or_filled() {
    let t = tape(80_000, 4, 3);
    let r = run(&config(constant(), 1), &t).expect("run");
    assert!(r.fills.len() > 5, "fills: {}", r.fills.len());
    assert_eq!(r.messages, t.messages());
    let mut pos = std::collections::BTreeMap::<u16, i64>::new();
    for f in &r.fills {
        let p = pos.entry(f.instrument).or_default();
        *p += signed(f.side, f.qty);
        assert_eq!(*p, f.position, "fill {f:?}");
    }
    // The final samples (one per instrument, at the end) agree with the fills.
    let last: Vec<_> = r.samples.iter().rev().take(4).collect();
    for s in last {
        assert_eq!(pos.get(&s.instrument).copied().unwrap_or(0), s.position);
    }
    // Every fill the engine applied is a row: no event was lost on the way.
    assert_eq!(r.counters.fills as usize, r.fills.len());
    assert_eq!(r.events_dropped, 0);
}

#[test]
fn no_fill_reaches_the_engine_sooner_than_a_round_trip_after_the_first_order() {
    let t = tape(40_000, 4, 5);
    let r = run(&config(constant(), 1), &t).expect("run");
    let first_order = r.orders.first().expect("orders").ts_ns;
    let first_fill = r.fills.first().expect("fills").ts_ns;
    assert!(
        first_fill >= first_order + 10_000,
        "{first_order} {first_fill}"
    );
}

#[test]
fn fills_are_at_our_own_limit_prices() {
    let t = tape(60_000, 4, 9);
    let r = run(&config(constant(), 1), &t).expect("run");
    let mut limits = std::collections::BTreeMap::<u32, i64>::new();
    for o in &r.orders {
        if o.action != b'C' {
            limits.insert(o.cl, o.price);
        }
    }
    for f in &r.fills {
        assert_eq!(limits.get(&f.cl), Some(&f.price), "fill {f:?}");
    }
}
