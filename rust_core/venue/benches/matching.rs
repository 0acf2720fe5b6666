//! Matching throughput on a realistic stream of order actions.
//!
//! A stream is pre-generated outside the timing by driving a generator engine
//! (so cancels and replaces target orders that are really live): 45% limit
//! adds near the touch (geometric distance behind it), 28% cancels (of which a
//! quarter are partial), 15% replaces (mostly one tick away or a smaller size),
//! 12% crossing orders (two thirds IOC) that take one or more levels; 16 firms,
//! so self-match prevention triggers now and then; the fair price of each
//! instrument random-walks. Each timed iteration builds and warms a fresh
//! engine (untimed) and replays the whole stream into a pre-reserved
//! `Vec<Event>` sink, so every action is answered with its full event
//! sequence.
//!
//! * `hot/engine`: 8 instruments, ~2,000 live orders (cache-resident).
//! * `wide/engine`: 1,000 instruments, ~100,000 live orders, activity spread
//!   over all of them (cache-missing, closer to a full venue).
//! * `*/id_map_only`: the baseline: the same stream applied to a pre-sized
//!   `hashbrown` map of (firm, client id) -> qty only, the one lookup any venue
//!   makes per action; the ratio is the cost of matching itself.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashbrown::HashMap;
use quotewire_venue::matching::{ClientOrderId, Command, Event, FirmId, MatchingEngine, OrderType};
use quotewire_venue::workload::{config, generate, Workload};

/// Counts of what the stream did, printed once so the mix is visible.
fn describe(name: &str, w: &Workload) {
    let mut engine = MatchingEngine::new(&config(w.instruments, w.max_orders)).expect("valid");
    let mut sink = Vec::with_capacity(1024);
    for c in &w.warm {
        engine.process(c, &mut sink);
    }
    let live_after_warm = engine.live_orders();
    let mut counts = [0_u64; 6];
    let mut rejects = 0_u64;
    for c in &w.stream {
        sink.clear();
        engine.process(c, &mut sink);
        for e in &sink {
            let k = match e {
                Event::Accepted(_) => 0,
                Event::Booked(_) => 1,
                Event::Rejected(_) => {
                    rejects += 1;
                    2
                }
                Event::Executed(_) => 3,
                Event::Canceled(_) => 4,
                Event::Replaced(_) => 5,
            };
            counts[k] += 1;
        }
    }
    eprintln!(
        "{name}: {} actions, live {} -> {}; accepted {} booked {} rejected {} executed {} canceled {} replaced {}",
        w.stream.len(),
        live_after_warm,
        engine.live_orders(),
        counts[0],
        counts[1],
        rejects,
        counts[3],
        counts[4],
        counts[5],
    );
}

fn bench_workload(c: &mut Criterion, name: &str, w: &Workload) {
    describe(name, w);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(w.stream.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("engine", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut engine =
                    MatchingEngine::new(&config(w.instruments, w.max_orders)).expect("valid");
                let mut sink: Vec<Event> = Vec::with_capacity(1024);
                for cmd in &w.warm {
                    sink.clear();
                    engine.process(cmd, &mut sink);
                }
                let start = Instant::now();
                for cmd in &w.stream {
                    sink.clear();
                    engine.process(black_box(cmd), &mut sink);
                    black_box(sink.len());
                }
                total += start.elapsed();
                black_box(&engine);
            }
            total
        });
    });
    group.bench_function("id_map_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut map: HashMap<(FirmId, ClientOrderId), u64> =
                    HashMap::with_capacity(w.max_orders);
                for cmd in &w.warm {
                    apply_to_map(&mut map, cmd);
                }
                let start = Instant::now();
                for cmd in &w.stream {
                    apply_to_map(&mut map, black_box(cmd));
                }
                total += start.elapsed();
                black_box(&map);
            }
            total
        });
    });
    group.finish();
}

#[inline(always)]
fn apply_to_map(map: &mut HashMap<(FirmId, ClientOrderId), u64>, cmd: &Command) {
    match cmd {
        Command::New(n) => {
            if n.order_type != OrderType::Ioc {
                map.insert((n.firm, n.client_id), n.qty.0);
            }
        }
        Command::Cancel(x) => {
            if x.leave_qty.0 == 0 {
                map.remove(&(x.firm, x.client_id));
            } else if let Some(q) = map.get_mut(&(x.firm, x.client_id)) {
                *q = x.leave_qty.0;
            }
        }
        Command::Replace(r) => {
            if map.remove(&(r.firm, r.orig_client_id)).is_some() {
                map.insert((r.firm, r.client_id), r.qty.0);
            }
        }
    }
}

const ACTIONS: usize = 1_000_000;

fn matching(c: &mut Criterion) {
    let hot = generate(8, 250, ACTIONS, 7);
    bench_workload(c, "hot", &hot);
    let wide = generate(1_000, 100, ACTIONS, 11);
    bench_workload(c, "wide", &wide);
}

criterion_group!(benches, matching);
criterion_main!(benches);
