//! Order actions per second through the venue runtime, on the background
//! market's own flow.
//!
//! The stream is pre-generated outside the timing by running a
//! [`BackgroundFlow`] against a generator engine with every event fed back, so
//! its cancels target orders that are really live (a few race fills, as in a
//! live venue). The first part (the book building up to its steady state) is
//! an untimed warm-up; each timed iteration builds a fresh [`Venue`], replays
//! the warm-up, then times the stream.
//!
//! * `*/submit`: every action through [`Venue::submit`] (matching plus event
//!   distribution, no gateway attached): the venue's capacity.
//! * `*/poll_with_flow`: the flow plugged in with [`Venue::add_gateway`] and
//!   [`Venue::poll_once`] called every simulated millisecond: generation,
//!   matching and the flow's event tracking together, i.e. what the
//!   background market costs a running venue.
//!
//! Workloads: `hot`, 8 instruments with 2,000 limit + 200 IOC orders/s each
//! and cancels at 5/s per resting order (~3,000 live orders); `wide`, 1,000
//! instruments at 20 + 2 orders/s and 0.2/s cancels (~100,000 live orders,
//! cache-missing).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_venue::background::{BackgroundConfig, BackgroundFlow, BackgroundInstrument};
use quotewire_venue::matching::{
    Command, Event, FirmId, InstrumentConfig, MatchingEngine, OrderType, PriceBand, VenueConfig,
};
use quotewire_venue::runtime::Venue;

const TICK: i64 = 100;
const REFERENCE: i64 = 1_000_000;
const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
const START: u64 = 34_200 * SECOND;
const STREAM: usize = 1_000_000;

#[derive(Clone, Copy)]
struct Shape {
    instruments: u16,
    limit_rate: f64,
    market_rate: f64,
    cancel_rate: f64,
    warm_s: u64,
}

fn venue_config(shape: Shape) -> VenueConfig {
    VenueConfig {
        max_orders: 1 << 20,
        max_band_levels: 4096,
        instruments: (0..shape.instruments)
            .map(|i| InstrumentConfig {
                id: InstrumentId(i),
                tick: Price(TICK),
                band: PriceBand::Around {
                    reference: Price(REFERENCE),
                    width: Price(500 * TICK),
                },
                max_order_qty: Qty(1_000_000),
            })
            .collect(),
        ..VenueConfig::default()
    }
}

fn flow_config(shape: Shape) -> BackgroundConfig {
    BackgroundConfig {
        seed: 2026,
        firm: FirmId(100),
        firms: 16,
        start_ns: Some(START),
        instruments: (0..shape.instruments)
            .map(|i| BackgroundInstrument {
                limit_rate: shape.limit_rate,
                market_rate: shape.market_rate,
                cancel_rate: shape.cancel_rate,
                max_live_orders: 1 << 14,
                ..BackgroundInstrument::new(InstrumentId(i), Price(REFERENCE + TICK / 2))
            })
            .collect(),
    }
}

fn new_venue(shape: Shape) -> Venue {
    Venue::new(MatchingEngine::new(&venue_config(shape)).expect("valid venue config"))
}

struct Workload {
    shape: Shape,
    warm: Vec<Command>,
    stream: Vec<Command>,
    /// Simulated time at the end of the warm-up and of the stream.
    warm_end: u64,
    end: u64,
}

/// Runs the flow against a generator engine, events fed back, 1 ms polls.
fn generate(shape: Shape) -> Workload {
    let mut engine = MatchingEngine::new(&venue_config(shape)).expect("valid");
    let mut flow = BackgroundFlow::new(&flow_config(shape), &engine).expect("valid flow");
    let (mut batch, mut events) = (Vec::new(), Vec::<Event>::with_capacity(1024));
    let (mut warm, mut stream) = (Vec::new(), Vec::with_capacity(STREAM + 4096));
    let warm_end = START + shape.warm_s * SECOND;
    let mut now = START;
    while stream.len() < STREAM {
        now += MS;
        batch.clear();
        flow.due(now, &mut batch);
        for c in &batch {
            events.clear();
            engine.process(c, &mut events);
            flow.on_events(&events);
        }
        if now <= warm_end {
            warm.extend_from_slice(&batch);
        } else {
            stream.extend_from_slice(&batch);
        }
    }
    let s = flow.stats();
    let iocs = stream
        .iter()
        .filter(|c| matches!(c, Command::New(n) if n.order_type == OrderType::Ioc))
        .count();
    let cancels = stream
        .iter()
        .filter(|c| matches!(c, Command::Cancel(_)))
        .count();
    eprintln!(
        "{} instruments: warm-up {} actions ({} s), stream {} actions over {:.1} simulated s \
         ({} limit, {iocs} IOC, {cancels} cancels); whole run: {} executions, {} rejects, \
         live at the end {}",
        shape.instruments,
        warm.len(),
        shape.warm_s,
        stream.len(),
        (now - warm_end) as f64 / SECOND as f64,
        stream.len() - iocs - cancels,
        s.executions,
        s.rejects,
        engine.live_orders(),
    );
    Workload {
        shape,
        warm,
        stream,
        warm_end,
        end: now,
    }
}

fn bench_workload(c: &mut Criterion, name: &str, w: &Workload) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(w.stream.len() as u64));
    group.bench_function("submit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut venue = new_venue(w.shape);
                for cmd in &w.warm {
                    venue.submit(cmd.ts().0, cmd);
                }
                let start = Instant::now();
                for cmd in &w.stream {
                    black_box(venue.submit(cmd.ts().0, black_box(cmd)).len());
                }
                total += start.elapsed();
                black_box(&venue);
            }
            total
        });
    });

    // The same simulated interval with the flow generating live; it makes the
    // same actions as the pre-generated stream (same seed, same feedback).
    let actions = {
        let mut venue = new_venue(w.shape);
        let flow = BackgroundFlow::new(&flow_config(w.shape), venue.engine()).expect("valid");
        venue.add_gateway(Box::new(flow));
        let mut now = START;
        while now < w.warm_end {
            now += MS;
            venue.poll_once(now);
        }
        let before = venue.processed();
        while now < w.end {
            now += MS;
            venue.poll_once(now);
        }
        venue.processed() - before
    };
    group.throughput(Throughput::Elements(actions));
    group.bench_function("poll_with_flow", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut venue = new_venue(w.shape);
                let flow =
                    BackgroundFlow::new(&flow_config(w.shape), venue.engine()).expect("valid");
                venue.add_gateway(Box::new(flow));
                let mut now = START;
                while now < w.warm_end {
                    now += MS;
                    venue.poll_once(now);
                }
                let start = Instant::now();
                while now < w.end {
                    now += MS;
                    black_box(venue.poll_once(black_box(now)));
                }
                total += start.elapsed();
                black_box(&venue);
            }
            total
        });
    });
    group.finish();
}

fn venue(c: &mut Criterion) {
    let hot = generate(Shape {
        instruments: 8,
        limit_rate: 2_000.0,
        market_rate: 200.0,
        cancel_rate: 5.0,
        warm_s: 2,
    });
    bench_workload(c, "hot", &hot);
    let wide = generate(Shape {
        instruments: 1_000,
        limit_rate: 20.0,
        market_rate: 2.0,
        cancel_rate: 0.2,
        warm_s: 20,
    });
    bench_workload(c, "wide", &wide);
}

criterion_group!(benches, venue);
criterion_main!(benches);
