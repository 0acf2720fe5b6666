//! Reading a journaled session: its market data as a tape and what it did.

use quotewire_backtest::{load_journal, load_recorded};
use quotewire_core::order::{ClOrdId, ExecReport, NewOrder, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_journal::codec::{encode_report, encode_request};
use quotewire_journal::{JournalConfig, JournalWriter, RecordKind};

fn new_order(cl: u32) -> OrderRequest {
    OrderRequest::New(NewOrder {
        cl: ClOrdId(cl),
        instrument: InstrumentId(1),
        side: Side::Buy,
        price: Price(1_000_000),
        qty: Qty(100),
        tif: TimeInForce::Day,
        post_only: true,
    })
}

fn accepted(cl: u32, venue_id: u64) -> ExecReport {
    ExecReport::Accepted {
        cl: ClOrdId(cl),
        venue_id: OrderId(venue_id),
        price: Price(1_000_000),
        qty: Qty(100),
        ts_ns: 0,
    }
}

/// Two requests answered after 40 and 70 ns, a fill in between, three packets.
fn write_session(dir: &std::path::Path) {
    let mut w = JournalWriter::open(dir, JournalConfig::default()).expect("journal");
    let mut put = |kind, ts, payload: &[u8]| w.append(kind, 0, ts, payload).expect("append");
    put(RecordKind::InboundPacket, 5, &[0; 20]);
    put(
        RecordKind::OrderRequest,
        100,
        &encode_request(&new_order(1)),
    );
    put(RecordKind::InboundPacket, 120, &[0; 20]);
    put(
        RecordKind::ExecReport,
        140,
        &encode_report(&accepted(1, 77)),
    );
    put(
        RecordKind::OrderRequest,
        200,
        &encode_request(&new_order(2)),
    );
    let fill = ExecReport::Executed {
        cl: ClOrdId(1),
        qty: Qty(40),
        price: Price(1_000_000),
        match_number: 9,
        liquidity: b'A',
        ts_ns: 0,
    };
    put(RecordKind::ExecReport, 230, &encode_report(&fill));
    put(
        RecordKind::ExecReport,
        270,
        &encode_report(&accepted(2, 78)),
    );
    put(RecordKind::InboundPacket, 300, &[0; 20]);
    w.close().expect("close");
}

#[test]
fn recorded_facts_load_without_the_market_data_and_match_a_full_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_session(dir.path());
    let rec = load_recorded(dir.path()).expect("recorded");
    assert_eq!(rec.round_trips_ns, vec![40, 70]);
    assert_eq!(rec.own_refs, vec![77, 78]);
    assert_eq!(rec.requests, 2);
    assert_eq!(rec.fills.len(), 1);
    assert_eq!((rec.fills[0].cl, rec.fills[0].qty), (1, 40));

    let (tape, full) = load_journal(dir.path()).expect("journal");
    assert_eq!(tape.len(), 3);
    assert_eq!(full.round_trips_ns, rec.round_trips_ns);
    assert_eq!(full.own_refs, rec.own_refs);
    assert_eq!(full.fills, rec.fills);
}
