//! Hot-path costs of the order gateway, without sockets:
//!
//! * `encode/{new,replace,cancel}`: one `OrderRequest` into a SoupBinTCP
//!   Unsequenced Data packet carrying the OUCH message, in a reused buffer
//!   (`OuchEncoder::encode`, the function both gateways call).
//! * `memory_gateway/send_new`: the same through `MemoryGateway::send`
//!   (buffer bookkeeping included), clearing the buffer when it fills.
//! * `decode/executed`: one OUCH Order Executed payload into an
//!   `ExecReport` (`decode_message`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quotewire_core::order::{
    CancelOrder, ClOrdId, NewOrder, OrderRequest, ReplaceOrder, TimeInForce,
};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_gateway::{
    decode_message, MemoryGateway, MemoryGatewayConfig, OrderGateway, OuchEncoder,
};
use quotewire_protocol::ouch::{Appendage, OrderExecuted};

const AAPL: InstrumentId = InstrumentId(3);

fn symbols() -> Vec<(InstrumentId, String)> {
    vec![(InstrumentId(1), "MSFT".into()), (AAPL, "AAPL".into())]
}

fn requests() -> [(&'static str, OrderRequest); 3] {
    [
        (
            "new",
            OrderRequest::New(NewOrder {
                cl: ClOrdId(1_234_567),
                instrument: AAPL,
                side: Side::Buy,
                price: Price(1_875_300),
                qty: Qty(300),
                tif: TimeInForce::Day,
                post_only: true,
            }),
        ),
        (
            "replace",
            OrderRequest::Replace(ReplaceOrder {
                orig: ClOrdId(1_234_567),
                cl: ClOrdId(1_234_568),
                instrument: AAPL,
                side: Side::Buy,
                price: Price(1_875_400),
                qty: Qty(200),
                post_only: true,
            }),
        ),
        (
            "cancel",
            OrderRequest::Cancel(CancelOrder {
                cl: ClOrdId(1_234_568),
                instrument: AAPL,
                side: Side::Buy,
            }),
        ),
    ]
}

fn bench_encode(c: &mut Criterion) {
    let encoder = OuchEncoder::new(&symbols(), Some("QWIR")).expect("valid symbols");
    let mut buf = [0u8; 256];
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for (name, req) in requests() {
        group.bench_function(name, |b| {
            b.iter(|| encoder.encode(black_box(&req), black_box(&mut buf)));
        });
    }
    group.finish();

    let mut gw = MemoryGateway::new(&MemoryGatewayConfig {
        symbols: symbols(),
        buffer: 1 << 16,
        ..MemoryGatewayConfig::default()
    })
    .expect("valid config");
    let (_, new) = requests()[0];
    let mut group = c.benchmark_group("memory_gateway");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_new", |b| {
        b.iter(|| {
            if gw.send(0, black_box(&new)).is_err() {
                gw.clear();
            }
        });
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut msg = [0u8; 64];
    let n = OrderExecuted {
        timestamp: 34_200_000_000_123,
        user_ref_num: 1_234_567,
        quantity: 100,
        price: 1_875_300,
        liquidity_flag: b'A',
        match_number: 987_654_321,
        appendage: Appendage::EMPTY,
    }
    .encode(&mut msg)
    .expect("fits");
    let msg = &msg[..n];
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("executed", |b| b.iter(|| decode_message(black_box(msg))));
    group.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
