//! Replays a capture through the benchmark market maker and prints the figures:
//! `cargo run --release -p quotewire-backtest --example replay -- FILE [INSTRUMENTS] [--digest]`.
//! `--digest` also prints a hash of every order, fill and sample row (two runs,
//! or two builds that must behave the same, print the same digest).

#![allow(clippy::print_stdout)] // a command-line example prints its result

use std::path::PathBuf;

use quotewire_backtest::{run, Latency, RunConfig, RunResult, Tape};
use quotewire_engine::trading::bench::bench_trader_config;

/// FNV-1a over the rows' debug text: stable across runs and builds.
fn digest(r: &RunResult) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let mut eat = |s: String| {
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    r.orders.iter().for_each(|o| eat(format!("{o:?}")));
    r.fills.iter().for_each(|f| eat(format!("{f:?}")));
    r.samples.iter().for_each(|s| eat(format!("{s:?}")));
    eat(format!("{:?}", r.counters));
    h
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: replay FILE [INSTRUMENTS] [--digest]")?,
    );
    let instruments: u16 = args.next().map_or(Ok(1), |s| s.parse())?;
    let with_digest = args.next().is_some_and(|a| a == "--digest");
    let tape = Tape::load_capture(&path)?;
    let config = RunConfig {
        trader: bench_trader_config(instruments, 1 << 16),
        latency: Latency::Constant {
            order_ns: 10_000,
            ack_ns: 10_000,
        },
        md_latency_ns: 0,
        seed: 1,
        sample_every_ns: 0,
        own_refs: Vec::new(),
        time_packets: false,
    };
    let r = run(&config, &tape)?;
    println!(
        "{} messages, {} datagrams, {} orders, {} fills in {:.3} s: {:.2} M msgs/s",
        r.messages,
        r.datagrams,
        r.orders.len(),
        r.fills.len(),
        r.elapsed_ns as f64 / 1e9,
        r.messages_per_sec() / 1e6
    );
    if with_digest {
        // A second configuration with fills: market data delay, drawn latencies, samples.
        let busy = RunConfig {
            latency: Latency::Histogram(vec![(8_000, 3), (20_000, 2), (60_000, 1)]),
            md_latency_ns: 3_000,
            seed: 7,
            sample_every_ns: 50_000_000,
            ..config
        };
        let b = run(&busy, &tape)?;
        // And one without a market data delay, sampled every millisecond.
        let sampled = RunConfig {
            md_latency_ns: 0,
            sample_every_ns: 1_000_000,
            ..busy
        };
        let s = run(&sampled, &tape)?;
        println!(
            "digest {:016x}; busy: {} orders, {} fills, digest {:016x}; \
             sampled: {} samples, digest {:016x}",
            digest(&r),
            b.orders.len(),
            b.fills.len(),
            digest(&b),
            s.samples.len(),
            digest(&s)
        );
    }
    Ok(())
}
