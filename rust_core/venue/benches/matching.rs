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
use quotewire_core::{InstrumentId, Price, Qty, Side, Timestamp};
use quotewire_venue::matching::{
    CancelOrder, ClientOrderId, Command, Event, FirmId, InstrumentConfig, MatchingEngine, NewOrder,
    OrderType, PriceBand, ReplaceOrder, SelfMatchMode, VenueConfig,
};

const TICK: i64 = 100;
const REFERENCE: i64 = 1_000_000;
const BAND_TICKS: i64 = 500;
const FIRMS: u32 = 16;
const STREAM: usize = 1_000_000;

/// SplitMix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// 0 with probability 1/2, 1 with 1/4, ...
    fn geometric(&mut self, cap: u32) -> i64 {
        i64::from((self.next() | (1 << cap)).trailing_zeros().min(cap))
    }
}

fn config(instruments: u16, max_orders: usize) -> VenueConfig {
    VenueConfig {
        max_orders,
        max_band_levels: 4096,
        self_match: SelfMatchMode::CancelOldest,
        instruments: (0..instruments)
            .map(|i| InstrumentConfig {
                id: InstrumentId(i),
                tick: Price(TICK),
                band: PriceBand::Around {
                    reference: Price(REFERENCE),
                    width: Price(BAND_TICKS * TICK),
                },
                max_order_qty: Qty(1_000_000),
            })
            .collect(),
    }
}

struct Workload {
    instruments: u16,
    max_orders: usize,
    warm: Vec<Command>,
    stream: Vec<Command>,
}

/// Builds the warm-up and the stream by running a generator engine.
fn generate(instruments: u16, warm_per_instrument: usize, seed: u64) -> Workload {
    let max_orders = usize::from(instruments) * warm_per_instrument * 4 + 10_000;
    let mut engine = MatchingEngine::new(&config(instruments, max_orders)).expect("valid config");
    let mut rng = Rng(seed);
    let mut fair: Vec<i64> = vec![0; usize::from(instruments)];
    let mut next_client: Vec<u64> = vec![0; FIRMS as usize];
    // Orders that may be live: (firm, client id); dead ones are purged lazily.
    let mut live: Vec<(FirmId, ClientOrderId)> = Vec::new();
    let mut sink: Vec<Event> = Vec::with_capacity(1024);
    let mut ts = 34_200_000_000_000_u64;
    let mut warm = Vec::new();
    let mut stream = Vec::with_capacity(STREAM);

    let total = usize::from(instruments) * warm_per_instrument + STREAM;
    for n in 0..total {
        ts += 1_000;
        let inst = rng.below(u64::from(instruments)) as usize;
        if rng.below(50) == 0 {
            fair[inst] = (fair[inst] + rng.below(3) as i64 - 1).clamp(-200, 200);
        }
        let warming = n < usize::from(instruments) * warm_per_instrument;
        let roll = if warming { 0 } else { rng.below(100) };
        let firm = FirmId(rng.below(u64::from(FIRMS)) as u32);
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let sign = if side == Side::Buy { -1 } else { 1 };
        let mut new_id = |firm: FirmId| {
            let c = &mut next_client[firm.0 as usize];
            *c += 1;
            ClientOrderId(*c)
        };
        let command = if roll < 45 || (roll < 88 && live.is_empty()) {
            let ticks = fair[inst] + sign * (1 + rng.geometric(6) + rng.below(3) as i64);
            let cmd = NewOrder {
                ts: Timestamp(ts),
                firm,
                client_id: new_id(firm),
                instrument: InstrumentId(inst as u16),
                side,
                price: Price(REFERENCE + ticks * TICK),
                qty: Qty(100 * (1 + rng.below(10))),
                order_type: if rng.below(10) == 0 {
                    OrderType::PostOnly
                } else {
                    OrderType::Limit
                },
            };
            live.push((cmd.firm, cmd.client_id));
            Command::New(cmd)
        } else if roll < 88 {
            // Cancel or replace a live order.
            let mut target = None;
            while !live.is_empty() {
                let i = rng.below(live.len() as u64) as usize;
                let (f, c) = live[i];
                match engine.order_by_client(f, c) {
                    Some(o) => {
                        target = Some((i, o));
                        break;
                    }
                    None => {
                        live.swap_remove(i);
                    }
                }
            }
            let Some((i, o)) = target else { continue };
            if roll < 73 {
                let leave = if rng.below(4) == 0 { o.qty.0 / 2 } else { 0 };
                if leave == 0 {
                    live.swap_remove(i);
                }
                Command::Cancel(CancelOrder {
                    ts: Timestamp(ts),
                    firm: o.firm,
                    client_id: o.client_id,
                    leave_qty: Qty(leave),
                })
            } else {
                let client_id = new_id(o.firm);
                live[i] = (o.firm, client_id);
                let osign = if o.side == Side::Buy { -1 } else { 1 };
                let (price, qty) = match rng.below(3) {
                    0 => (o.price.0, (o.qty.0 / 2).max(1)),
                    1 => (o.price.0 + osign * TICK, o.qty.0),
                    _ => (o.price.0 - osign * TICK, o.qty.0 + 100),
                };
                Command::Replace(ReplaceOrder {
                    ts: Timestamp(ts),
                    firm: o.firm,
                    orig_client_id: o.client_id,
                    client_id,
                    price: Price(price.clamp(REFERENCE - 400 * TICK, REFERENCE + 400 * TICK)),
                    qty: Qty(qty),
                })
            }
        } else {
            // Crossing order: through the fair price by up to three ticks.
            let ticks = fair[inst] - sign * rng.below(4) as i64;
            let ioc = rng.below(3) != 0;
            let cmd = NewOrder {
                ts: Timestamp(ts),
                firm,
                client_id: new_id(firm),
                instrument: InstrumentId(inst as u16),
                side,
                price: Price(REFERENCE + ticks * TICK),
                qty: Qty(100 * (1 + rng.below(8))),
                order_type: if ioc {
                    OrderType::Ioc
                } else {
                    OrderType::Limit
                },
            };
            if !ioc {
                live.push((cmd.firm, cmd.client_id));
            }
            Command::New(cmd)
        };
        sink.clear();
        engine.process(&command, &mut sink);
        if warming {
            warm.push(command);
        } else {
            stream.push(command);
        }
    }
    Workload {
        instruments,
        max_orders,
        warm,
        stream,
    }
}

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

fn matching(c: &mut Criterion) {
    let hot = generate(8, 250, 7);
    bench_workload(c, "hot", &hot);
    let wide = generate(1_000, 100, 11);
    bench_workload(c, "wide", &wide);
}

criterion_group!(benches, matching);
criterion_main!(benches);
