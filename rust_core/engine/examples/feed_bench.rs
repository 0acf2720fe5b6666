//! `bench feed` without Python, for profilers (perf, callgrind) and A/B runs:
//! `cargo run --release -p quotewire-engine --example feed_bench -- [MESSAGES] [LIVE_ORDERS] [DISTANCE] [SEED]`
//! (defaults 2,000,000 / 1,500,000 / the default pipeline distance / 1, as `quotewire bench feed`). Prints one line.

#![allow(clippy::print_stdout)] // a command-line example prints its result

use quotewire_engine::bench::{run_feed_bench_with, FeedBenchConfig};
use quotewire_engine::market_data::Pipeline;

fn arg(n: usize) -> Option<u64> {
    std::env::args()
        .nth(n)
        .and_then(|a| a.replace('_', "").parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = FeedBenchConfig {
        messages: arg(1).unwrap_or(2_000_000),
        live_orders: arg(2).unwrap_or(1_500_000) as usize,
        instruments: 8_000,
        seed: arg(4).unwrap_or(1),
    };
    let pipeline = arg(3).map_or_else(Pipeline::default, |d| Pipeline { distance: d });
    let r = run_feed_bench_with(&config, pipeline)?;
    let h = &r.histogram;
    println!(
        "msgs {} per_sec {:.3}M per_cpu_sec {:.3}M p50 {} p99 {} p99.9 {} max {} mean {:.1}",
        r.count,
        r.per_sec / 1e6,
        r.count as f64 * 1e3 / r.cpu_ns.max(1) as f64,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.mean()
    );
    Ok(())
}
