//! Journal costs on both sides of the ring.
//!
//! `journal/try_packet_64b` is the fast-path cost of handing a 64-byte datagram
//! to the ring (a writer thread drains it into a real segment directory).
//! `journal/try_request` encodes and hands over an order request.
//! `journal/append_64b` is the writer thread's cost of appending one 64-byte
//! record to a memory-mapped segment (rotating every 64 MiB).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use quotewire_core::order::{ClOrdId, NewOrder, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_journal::{spawn_writer, JournalConfig, JournalWriter, RecordKind, RingConfig};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut tx, handle, _) = spawn_writer(
        dir.path().join("ring"),
        JournalConfig::default(),
        RingConfig {
            slots: 65_536,
            ..RingConfig::default()
        },
    )
    .expect("journal");
    let packet = [7u8; 64];
    c.bench_function("journal/try_packet_64b", |b| {
        let mut ts = 0u64;
        b.iter(|| {
            ts += 1;
            black_box(tx.try_packet(0, ts, black_box(&packet)))
        });
    });
    let req = OrderRequest::New(NewOrder {
        cl: ClOrdId(1),
        instrument: InstrumentId(3),
        side: Side::Buy,
        price: Price(1_000_000),
        qty: Qty(100),
        tif: TimeInForce::Day,
        post_only: true,
    });
    c.bench_function("journal/try_request", |b| {
        let mut ts = 0u64;
        b.iter(|| {
            ts += 1;
            black_box(tx.try_request(ts, black_box(&req)))
        });
    });
    drop(tx);
    let _ = handle.stop().expect("stop");

    let mut w =
        JournalWriter::open(dir.path().join("direct"), JournalConfig::default()).expect("writer");
    c.bench_function("journal/append_64b", |b| {
        let mut ts = 0u64;
        b.iter(|| {
            ts += 1;
            w.append(RecordKind::InboundPacket, 0, ts, black_box(&packet))
                .expect("append");
        });
    });
    w.close().expect("close");
}

criterion_group!(benches, bench);
criterion_main!(benches);
