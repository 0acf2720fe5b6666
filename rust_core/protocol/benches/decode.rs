//! ITCH 5.0 decode throughput on a realistic order-flow mix, alone and behind
//! MoldUDP64 packet iteration, each against a baseline that walks the same
//! bytes without decoding.
//!
//! Run: `cargo bench -p quotewire-protocol --bench decode`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quotewire_core::Side;
use quotewire_protocol::itch::{self, AddOrder, Message, OrderDelete, OrderExecuted, OrderReplace};
use quotewire_protocol::moldudp64::{Packet, PacketBuilder, Session, MAX_PAYLOAD};

const MESSAGES: usize = 10_000;

/// Deterministic xorshift so the mix is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// About 45% adds, 35% deletes, 10% executions, 10% replaces, as in a
/// typical TotalView session.
fn order_flow() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(MESSAGES);
    let mut next_ref = 1u64;
    for i in 0..MESSAGES {
        let r = rng.next();
        let stock_locate = u16::try_from(r % 8000).unwrap_or(1) + 1;
        let timestamp = 34_200_000_000_000 + i as u64 * 1_000;
        let live_ref = next_ref.saturating_sub(r % 64).max(1);
        let msg: Message = match r % 100 {
            0..=44 => {
                next_ref += 1;
                AddOrder {
                    stock_locate,
                    tracking_number: 0,
                    timestamp,
                    order_ref: next_ref,
                    side: if r & 1 == 0 { Side::Buy } else { Side::Sell },
                    shares: 100,
                    stock: *b"AAPL    ",
                    price: 1_800_000 + u32::try_from(r % 500).unwrap_or(0),
                }
                .into()
            }
            45..=79 => OrderDelete {
                stock_locate,
                tracking_number: 0,
                timestamp,
                order_ref: live_ref,
            }
            .into(),
            80..=89 => OrderExecuted {
                stock_locate,
                tracking_number: 0,
                timestamp,
                order_ref: live_ref,
                executed_shares: 100,
                match_number: i as u64,
            }
            .into(),
            _ => {
                next_ref += 1;
                OrderReplace {
                    stock_locate,
                    tracking_number: 0,
                    timestamp,
                    original_order_ref: live_ref,
                    new_order_ref: next_ref,
                    shares: 200,
                    price: 1_800_100,
                }
                .into()
            }
        };
        let mut buf = vec![0u8; msg.encoded_len()];
        msg.encode(&mut buf).expect("buffer sized from encoded_len");
        out.push(buf);
    }
    out
}

fn packets(msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let session = Session::from_str_padded("BENCH");
    let mut out = Vec::new();
    let mut i = 0;
    while i < msgs.len() {
        let mut buf = vec![0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, session, i as u64 + 1).expect("header fits");
        while i < msgs.len() && b.push(&msgs[i]).is_ok() {
            i += 1;
        }
        let n = b.finish();
        buf.truncate(n);
        out.push(buf);
    }
    out
}

/// A cheap fold over a decoded message so the decode cannot be optimised away.
#[inline]
fn fold(msg: &Message) -> u64 {
    msg.timestamp() ^ msg.order_ref().unwrap_or(0) ^ u64::from(msg.stock_locate())
}

fn bench(c: &mut Criterion) {
    let msgs = order_flow();
    let slices: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let pkts = packets(&msgs);

    let mut g = c.benchmark_group("itch_mix");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("baseline_touch_tag_and_len", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for m in black_box(&slices) {
                acc ^= u64::from(m.first().copied().unwrap_or(0)) + m.len() as u64;
            }
            acc
        });
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for m in black_box(&slices) {
                if let Ok(msg) = itch::decode(m) {
                    acc ^= fold(&msg);
                }
            }
            acc
        });
    });
    // Same message count as the mix, all `A`: the cost without type misprediction.
    let adds: Vec<&[u8]> = slices
        .iter()
        .copied()
        .filter(|m| m.first() == Some(&b'A'))
        .cycle()
        .take(MESSAGES)
        .collect();
    g.bench_function("decode_add_only", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for m in black_box(&adds) {
                if let Ok(msg) = itch::decode(m) {
                    acc ^= fold(&msg);
                }
            }
            acc
        });
    });
    g.finish();

    let mut g = c.benchmark_group("moldudp64_itch");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("baseline_iterate_blocks", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for p in black_box(&pkts) {
                if let Ok(p) = Packet::decode(p) {
                    for (seq, m) in p.messages() {
                        acc ^= seq + m.len() as u64;
                    }
                }
            }
            acc
        });
    });
    g.bench_function("iterate_and_decode", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for p in black_box(&pkts) {
                if let Ok(p) = Packet::decode(p) {
                    for (seq, m) in p.messages() {
                        if let Ok(msg) = itch::decode(m) {
                            acc ^= seq ^ fold(&msg);
                        }
                    }
                }
            }
            acc
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
