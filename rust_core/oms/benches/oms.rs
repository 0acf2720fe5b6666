//! OMS request + venue answer round trips on a slab holding many live orders.
//!
//! Each bench starts from 500,000 accepted orders over 2,000 instruments (so
//! id-table and slab accesses miss the caches as they would mid-session) and
//! times one request plus the venue's answer to it:
//!
//! * `oms/place_ack`: `place` + `Accepted` (the new orders are cancelled
//!   outside the timing, in chunks, to keep the live count steady);
//! * `oms/replace_ack`: `replace` + `Replaced` (new id and venue reference)
//!   on a live order picked round-robin;
//! * `oms/cancel_ack`: `cancel` + `Canceled` (the orders are placed and
//!   accepted outside the timing).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_oms::{Oms, OmsConfig};

const LIVE: usize = 500_000;
const CAPACITY: usize = 1 << 20;
const INSTRUMENTS: usize = 2_000;
const CHUNK: u64 = 20_000;

/// The OMS, the live orders and the venue's reference / timestamp counters.
struct Rig {
    oms: Oms,
    live: Vec<ClOrdId>,
    next_vid: u64,
    ts: u64,
    seq: u64,
}

impl Rig {
    fn new() -> Self {
        let oms = Oms::new(&OmsConfig {
            capacity: CAPACITY,
            max_instruments: INSTRUMENTS,
            max_in_flight: 4_096,
        })
        .expect("valid config");
        let mut rig = Self {
            oms,
            live: Vec::with_capacity(LIVE),
            next_vid: 1 << 32,
            ts: 0,
            seq: 0,
        };
        for _ in 0..LIVE {
            let cl = rig.place_ack();
            rig.live.push(cl);
        }
        rig
    }

    fn params(&mut self) -> (InstrumentId, Side, Price) {
        self.seq = self
            .seq
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let r = self.seq >> 33;
        let inst = InstrumentId((r % INSTRUMENTS as u64) as u16);
        let side = if r & 1 == 0 { Side::Buy } else { Side::Sell };
        (inst, side, Price(1_000_000 + (r % 20) as i64 * 100))
    }

    fn place_ack(&mut self) -> ClOrdId {
        let (inst, side, price) = self.params();
        self.ts += 1;
        let n = self
            .oms
            .place(inst, side, price, Qty(100), TimeInForce::Day, true, self.ts)
            .expect("room");
        self.next_vid += 1;
        black_box(self.oms.on_report(&ExecReport::Accepted {
            cl: n.cl,
            venue_id: OrderId(self.next_vid),
            price,
            qty: n.qty,
            ts_ns: self.ts,
        }));
        n.cl
    }

    fn cancel_ack(&mut self, cl: ClOrdId) {
        self.ts += 1;
        let c = self.oms.cancel(cl, self.ts).expect("open");
        black_box(self.oms.on_report(&ExecReport::Canceled {
            cl: c.cl,
            qty: Qty(100),
            reason: CancelReason::User,
            ts_ns: self.ts,
        }));
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("oms");
    g.throughput(Throughput::Elements(1));
    let mut rig = Rig::new();
    let mut fresh = Vec::with_capacity(CHUNK as usize);

    g.bench_function("place_ack", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let start = Instant::now();
                for _ in 0..n {
                    fresh.push(rig.place_ack());
                }
                total += start.elapsed();
                for cl in fresh.drain(..) {
                    rig.cancel_ack(cl);
                }
                left -= n;
            }
            total
        });
    });

    g.bench_function("replace_ack", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % LIVE;
            let cl = rig.live[i];
            rig.ts += 1;
            let price = Price(1_000_000 + (rig.ts % 20) as i64 * 100);
            let r = rig.oms.replace(cl, price, Qty(100), rig.ts).expect("open");
            rig.next_vid += 1;
            black_box(rig.oms.on_report(&ExecReport::Replaced {
                orig: cl,
                cl: r.cl,
                venue_id: OrderId(rig.next_vid),
                price,
                qty: Qty(100),
                ts_ns: rig.ts,
            }));
            rig.live[i] = r.cl;
        });
    });

    g.bench_function("cancel_ack", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                for _ in 0..n {
                    let cl = rig.place_ack();
                    fresh.push(cl);
                }
                let start = Instant::now();
                for &cl in &fresh {
                    rig.cancel_ack(cl);
                }
                total += start.elapsed();
                fresh.clear();
                left -= n;
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
