//! Book throughput on a day-shaped event stream.
//!
//! A stream is pre-generated (outside the timing): ~1M live orders over 8,000
//! instruments with Zipf-like activity, then a steady-state mix of 44% adds,
//! 43% deletes, 5% executes, 2% cancels and 6% replaces, prices mostly within
//! a few ticks of each instrument's touch, deletes mostly of recent orders.
//! Each timed iteration rebuilds the warm book (untimed) and applies the whole
//! steady-state stream, so every op runs against ~1M live orders.
//!
//! `day_stream/book` is the full `BookSet`; `day_stream/book_prefetch` the same
//! with the engine's four-stage prefetch pipeline (hints for events `i + 4D`,
//! `i + 3D`, `i + 2D` and `i + D` issued before applying event `i`);
//! `day_stream/id_map_only` applies
//! the same stream to a pre-sized `hashbrown` id -> slot map only (the lookup
//! every book needs), so the ratio of the two is the cost of the book itself.
//! `book/touch_add_delete` is the cache-resident best case: add and delete at
//! the touch of one instrument.

use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quotewire_book::{BookConfig, BookSet};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

const INSTRUMENTS: u16 = 8_000;
const WARM_ORDERS: usize = 1_000_000;
const STREAM_OPS: usize = 1_000_000;
const TICK: i64 = 100;

#[derive(Clone, Copy)]
enum Ev {
    Add {
        inst: u16,
        id: u64,
        side: Side,
        price: i64,
        qty: u32,
    },
    Execute {
        id: u64,
        qty: u32,
    },
    Cancel {
        id: u64,
        qty: u32,
    },
    Delete {
        id: u64,
    },
    Replace {
        old: u64,
        new: u64,
        price: i64,
        qty: u32,
    },
}

/// SplitMix64: deterministic, dependency-free.
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
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
struct Live {
    id: u64,
    inst: u16,
    side: Side,
    qty: u32,
}

struct Gen {
    rng: Rng,
    mids: Vec<i64>,
    live: Vec<Live>,
    pos: hashbrown::HashMap<u64, usize>,
    next_id: u64,
}

impl Gen {
    fn new() -> Self {
        let mut rng = Rng(0x5EED);
        let mids = (0..INSTRUMENTS)
            .map(|_| 1_000 + rng.below(20_000) as i64)
            .collect();
        Self {
            rng,
            mids,
            live: Vec::new(),
            pos: hashbrown::HashMap::new(),
            next_id: 1,
        }
    }

    /// Zipf-like: a few instruments carry most of the flow.
    fn instrument(&mut self) -> u16 {
        let u = self.rng.unit();
        ((u * u * u) * f64::from(INSTRUMENTS)) as u16 % INSTRUMENTS
    }

    /// Ticks away from the touch: half at the touch, geometric tail, 5% deep.
    fn offset(&mut self) -> i64 {
        if self.rng.below(20) == 0 {
            self.rng.below(200) as i64
        } else {
            i64::from(self.rng.next().trailing_zeros().min(30))
        }
    }

    fn price(&mut self, inst: u16, side: Side) -> i64 {
        let mid = self.mids[usize::from(inst)];
        if self.rng.below(1000) == 0 {
            // Slow drift of the touch.
            self.mids[usize::from(inst)] += if self.rng.below(2) == 0 { 1 } else { -1 };
        }
        let off = self.offset();
        let ticks = match side {
            Side::Buy => mid - off,
            Side::Sell => mid + 1 + off,
        };
        ticks * TICK
    }

    fn qty(&mut self) -> u32 {
        100 * (1 + self.rng.below(10) as u32)
    }

    fn push(&mut self, o: Live) {
        self.pos.insert(o.id, self.live.len());
        self.live.push(o);
    }

    fn remove_at(&mut self, i: usize) -> Live {
        let o = self.live.swap_remove(i);
        self.pos.remove(&o.id);
        if let Some(moved) = self.live.get(i) {
            self.pos.insert(moved.id, i);
        }
        o
    }

    /// Mostly recent orders (quote churn), sometimes any live order.
    fn pick(&mut self) -> usize {
        let n = self.live.len() as u64;
        if self.rng.below(10) < 7 {
            (n - 1 - self.rng.below(n.min(4096))) as usize
        } else {
            self.rng.below(n) as usize
        }
    }

    fn add(&mut self) -> Ev {
        let inst = self.instrument();
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = self.price(inst, side);
        let qty = self.qty();
        let id = self.next_id;
        self.next_id += 1 + self.rng.below(3); // mostly increasing, not dense
        self.push(Live {
            id,
            inst,
            side,
            qty,
        });
        Ev::Add {
            inst,
            id,
            side,
            price,
            qty,
        }
    }

    fn event(&mut self) -> Ev {
        let r = self.rng.below(100);
        if r < 44 || self.live.len() < 2 {
            return self.add();
        }
        let i = self.pick();
        if r < 87 {
            let o = self.remove_at(i);
            return Ev::Delete { id: o.id };
        }
        if r < 94 {
            let o = self.live[i];
            let full = r < 92 || o.qty == 1;
            let qty = if full {
                o.qty
            } else {
                1 + self.rng.below(u64::from(o.qty - 1)) as u32
            };
            if full {
                self.remove_at(i);
            } else {
                self.live[i].qty -= qty;
            }
            return if r < 92 {
                Ev::Execute { id: o.id, qty }
            } else {
                Ev::Cancel { id: o.id, qty }
            };
        }
        let o = self.remove_at(i);
        let new = self.next_id;
        self.next_id += 1;
        let price = self.price(o.inst, o.side);
        let qty = self.qty();
        self.push(Live {
            id: new,
            inst: o.inst,
            side: o.side,
            qty,
        });
        Ev::Replace {
            old: o.id,
            new,
            price,
            qty,
        }
    }
}

struct Day {
    warm: Vec<Ev>,
    stream: Vec<Ev>,
}

fn day() -> Day {
    let mut g = Gen::new();
    let warm = (0..WARM_ORDERS).map(|_| g.add()).collect();
    let stream = (0..STREAM_OPS).map(|_| g.event()).collect();
    Day { warm, stream }
}

fn config() -> BookConfig {
    BookConfig {
        max_orders: 1_500_000,
        max_instruments: usize::from(INSTRUMENTS),
        levels_per_side: 128,
    }
}

#[inline(always)]
fn apply(set: &mut BookSet, ev: Ev) -> u64 {
    let r = match ev {
        Ev::Add {
            inst,
            id,
            side,
            price,
            qty,
        } => set
            .add(
                InstrumentId(inst),
                OrderId(id),
                side,
                Price(price),
                Qty(u64::from(qty)),
            )
            .map(|()| 0),
        Ev::Execute { id, qty } => set
            .execute(OrderId(id), Qty(u64::from(qty)))
            .map(|e| e.remaining.0),
        Ev::Cancel { id, qty } => set
            .cancel(OrderId(id), Qty(u64::from(qty)))
            .map(|e| e.remaining.0),
        Ev::Delete { id } => set.delete(OrderId(id)).map(|e| e.qty.0),
        Ev::Replace {
            old,
            new,
            price,
            qty,
        } => set
            .replace(
                OrderId(old),
                OrderId(new),
                Price(price),
                Qty(u64::from(qty)),
            )
            .map(|e| e.qty.0),
    };
    r.unwrap_or(1)
}

/// Events between the stages of the prefetch pipeline (as in the engine).
const PREFETCH_DISTANCE: usize = 3;

/// The engine's four-stage hint pipeline, on decoded events: stage 4 id-map
/// lines; stage 3 nodes (adds: instrument line); stage 2 queue neighbours and
/// instrument line (adds: touch levels); stage 1 touch levels (adds: the
/// queue tail and the free node).
#[inline(always)]
fn prefetch(set: &BookSet, stage: u8, ev: Ev) {
    match ev {
        Ev::Add {
            inst,
            id,
            side,
            price,
            ..
        } => match stage {
            4 => set.prefetch_id(OrderId(id)),
            3 => set.prefetch_book(InstrumentId(inst)),
            2 => set.prefetch_level(InstrumentId(inst), side),
            _ => set.prefetch_add_tail(InstrumentId(inst), side, Price(price)),
        },
        Ev::Execute { id, .. } | Ev::Cancel { id, .. } | Ev::Delete { id } => match stage {
            4 => set.prefetch_id(OrderId(id)),
            3 => set.prefetch_order(OrderId(id)),
            2 => set.prefetch_order_links(OrderId(id)),
            _ => set.prefetch_order_level(OrderId(id)),
        },
        Ev::Replace { old, new, .. } => match stage {
            4 => {
                set.prefetch_id(OrderId(old));
                set.prefetch_id(OrderId(new));
            }
            3 => set.prefetch_order(OrderId(old)),
            2 => set.prefetch_order_links(OrderId(old)),
            _ => set.prefetch_order_level(OrderId(old)),
        },
    }
}

fn warm_set(day: &Day) -> BookSet {
    let mut set = BookSet::new(config());
    for &ev in &day.warm {
        apply(&mut set, ev);
    }
    set
}

/// Multiplicative hasher for the baseline map (same mixing as the book's id map).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, id: u64) {
        let m = u128::from(id) * 0x9E37_79B9_7F4A_7C15_u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

type IdMap = hashbrown::HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

#[inline(always)]
fn apply_map(map: &mut IdMap, ev: Ev) -> u64 {
    match ev {
        Ev::Add { id, qty, .. } => {
            map.insert(id, qty);
            0
        }
        Ev::Execute { id, qty } | Ev::Cancel { id, qty } => match map.get_mut(&id) {
            Some(q) if *q > qty => {
                *q -= qty;
                u64::from(*q)
            }
            _ => map.remove(&id).map_or(1, u64::from),
        },
        Ev::Delete { id } => map.remove(&id).map_or(1, u64::from),
        Ev::Replace { old, new, qty, .. } => {
            let r = map.remove(&old).map_or(1, u64::from);
            map.insert(new, qty);
            r
        }
    }
}

fn report_sizes(day: &Day) {
    let set = warm_set(day);
    let c = set.counters();
    let order_bytes = set.order_index_bytes();
    eprintln!(
        "book: live {} / max {}, order slab+map {:.1} MB = {:.1} B per max order, {:.1} B per live order; total reserved {:.1} MB; level growths during warm-up {}; refused {}",
        set.live_orders(),
        set.max_orders(),
        order_bytes as f64 / 1e6,
        order_bytes as f64 / set.max_orders() as f64,
        order_bytes as f64 / set.live_orders() as f64,
        set.memory_bytes() as f64 / 1e6,
        c.level_growths,
        c.unknown_order + c.duplicate_order + c.capacity_exceeded + c.invalid_qty,
    );
    let mut set = set;
    for &ev in &day.stream {
        apply(&mut set, ev);
    }
    let c = set.counters();
    assert_eq!(
        c.unknown_order + c.duplicate_order + c.capacity_exceeded + c.invalid_qty,
        0
    );
    eprintln!(
        "book: after stream live {}, adds {} executes {} cancels {} deletes {} replaces {}, level growths {}",
        set.live_orders(),
        c.adds,
        c.executes,
        c.cancels,
        c.deletes,
        c.replaces,
        c.level_growths
    );
}

fn bench(c: &mut Criterion) {
    let day = day();
    report_sizes(&day);

    let mut g = c.benchmark_group("day_stream");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(day.stream.len() as u64));

    g.bench_function("book", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut set = warm_set(&day);
                let t = Instant::now();
                let mut sum = 0_u64;
                for &ev in &day.stream {
                    sum = sum.wrapping_add(apply(&mut set, ev));
                }
                total += t.elapsed();
                black_box(sum);
            }
            total
        });
    });

    g.bench_function("book_prefetch", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut set = warm_set(&day);
                let t = Instant::now();
                let mut sum = 0_u64;
                let s = &day.stream;
                for (i, &ev) in s.iter().enumerate() {
                    if let Some(&furthest) = s.get(i + 4 * PREFETCH_DISTANCE) {
                        prefetch(&set, 4, furthest);
                    }
                    if let Some(&far) = s.get(i + 3 * PREFETCH_DISTANCE) {
                        prefetch(&set, 3, far);
                    }
                    if let Some(&mid) = s.get(i + 2 * PREFETCH_DISTANCE) {
                        prefetch(&set, 2, mid);
                    }
                    if let Some(&near) = s.get(i + PREFETCH_DISTANCE) {
                        prefetch(&set, 1, near);
                    }
                    sum = sum.wrapping_add(apply(&mut set, ev));
                }
                total += t.elapsed();
                black_box(sum);
            }
            total
        });
    });

    g.bench_function("id_map_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut map =
                    IdMap::with_capacity_and_hasher(2 * config().max_orders, Default::default());
                for &ev in &day.warm {
                    apply_map(&mut map, ev);
                }
                let t = Instant::now();
                let mut sum = 0_u64;
                for &ev in &day.stream {
                    sum = sum.wrapping_add(apply_map(&mut map, ev));
                }
                total += t.elapsed();
                black_box(sum);
            }
            total
        });
    });
    g.finish();

    let mut g = c.benchmark_group("touch");
    g.throughput(Throughput::Elements(2));
    g.bench_function("add_delete_pair", |b| {
        let mut set = BookSet::new(BookConfig {
            max_orders: 1 << 16,
            max_instruments: 4,
            levels_per_side: 64,
        });
        let inst = InstrumentId(1);
        for i in 0..20_u64 {
            let _ = set.add(
                inst,
                OrderId(1 << 40 | i),
                Side::Buy,
                Price(10_000 - 100 * (i as i64 % 5)),
                Qty(100),
            );
            let _ = set.add(
                inst,
                OrderId(1 << 41 | i),
                Side::Sell,
                Price(10_100 + 100 * (i as i64 % 5)),
                Qty(100),
            );
        }
        let mut id = 0_u64;
        b.iter(|| {
            id += 1;
            let _ = set.add(inst, OrderId(id), Side::Buy, Price(10_000), Qty(100));
            black_box(set.delete(OrderId(id)))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
