//! Replays a capture through the benchmark market maker and prints the figures:
//! `cargo run --release -p quotewire-backtest --example replay -- FILE [INSTRUMENTS]`.

#![allow(clippy::print_stdout)] // a command-line example prints its result

use std::path::PathBuf;

use quotewire_backtest::{run, Latency, RunConfig, Tape};
use quotewire_engine::trading::bench::bench_trader_config;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: replay FILE [INSTRUMENTS]")?);
    let instruments: u16 = args.next().map_or(Ok(1), |s| s.parse())?;
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
    Ok(())
}
