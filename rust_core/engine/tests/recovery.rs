//! Crash recovery: a journal of requests, reports and notes (as an earlier
//! life of the engine wrote it) rebuilds the OMS, positions, fill counts and
//! the kill switch; a torn final record is skipped; requests the journal lost
//! come back from the intent log; once the session is ready, whatever is
//! still open is cancelled before any quote.

mod common;

use std::collections::VecDeque;
use std::path::Path;

use common::*;
use quotewire_core::clock::Clock;
use quotewire_core::order::{
    CancelOrder, CancelReason, ClOrdId, ExecReport, NewOrder, OrderRequest, TimeInForce,
};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_engine::trading::telemetry::{EventWriter, LogLevel, LogSink};
use quotewire_engine::trading::trader::Trader;
use quotewire_gateway::{
    GatewayError, GatewaySink, MemoryGateway, OrderGateway, SessionEvent, SessionStatus,
};
use quotewire_journal::{
    encode_report, encode_request, IntentLog, JournalConfig, JournalWriter, RecordKind,
};
use quotewire_risk::KillReason;

const EPOCH: u64 = 1_700_000_000_000_000_000;

fn new(cl: u32, id: u16, side: Side, qty: u64) -> OrderRequest {
    OrderRequest::New(NewOrder {
        cl: ClOrdId(cl),
        instrument: InstrumentId(id),
        side,
        price: Price(px(100, 0)),
        qty: Qty(qty),
        tif: TimeInForce::Day,
        post_only: true,
    })
}

fn accepted(cl: u32, qty: u64, ts_ns: u64) -> ExecReport {
    ExecReport::Accepted {
        cl: ClOrdId(cl),
        venue_id: OrderId(u64::from(cl) + 500),
        price: Price(px(100, 0)),
        qty: Qty(qty),
        ts_ns,
    }
}

fn executed(cl: u32, qty: u64, match_number: u64, ts_ns: u64) -> ExecReport {
    ExecReport::Executed {
        cl: ClOrdId(cl),
        qty: Qty(qty),
        price: Price(px(100, 0)),
        match_number,
        liquidity: b'A',
        ts_ns,
    }
}

/// What an earlier life journaled.
enum Rec {
    Sent(OrderRequest),
    Got(ExecReport),
    Note(&'static str),
}

/// The journal of a session: orders 1 and 2 on instrument 1, a partial fill of
/// 1, order 2 filled, order 3 on instrument 2 cancelled, order 4 open and
/// unanswered; a manual kill; a reconciliation point.
fn history() -> Vec<Rec> {
    use Rec::{Got, Note, Sent};
    vec![
        Note("instruments 1=S1,2=S2"),
        Note("ready next_cl=1"),
        Sent(new(1, 1, Side::Buy, 100)),
        Sent(new(2, 1, Side::Sell, 100)),
        Got(accepted(1, 100, 10)),
        Got(accepted(2, 100, 11)),
        Got(executed(1, 30, 7, 12)),
        Got(executed(2, 100, 8, 13)),
        Sent(new(3, 2, Side::Buy, 50)),
        Got(accepted(3, 50, 14)),
        Sent(OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(3),
            instrument: InstrumentId(2),
            side: Side::Buy,
        })),
        Got(ExecReport::Canceled {
            cl: ClOrdId(3),
            qty: Qty(50),
            reason: CancelReason::User,
            ts_ns: 15,
        }),
        Note("kill reason=manual"),
        Sent(new(4, 2, Side::Sell, 20)),
    ]
}

fn write_journal(dir: &Path, records: &[Rec]) {
    let mut w = JournalWriter::open(
        dir,
        JournalConfig {
            segment_bytes: 1 << 16,
            clock_epoch_unix_ns: EPOCH,
        },
    )
    .unwrap();
    for (i, r) in records.iter().enumerate() {
        let ts = 1_000 * (i as u64 + 1);
        match r {
            Rec::Sent(req) => w.append(RecordKind::OrderRequest, 0, ts, &encode_request(req)),
            Rec::Got(rep) => w.append(RecordKind::ExecReport, 0, ts, &encode_report(rep)),
            Rec::Note(text) => w.append(RecordKind::Note, 0, ts, text.as_bytes()),
        }
        .unwrap();
    }
    w.close().unwrap();
}

/// A venue session that replays a script (reports, then session events) on
/// the next poll; requests are written to an in-memory wire.
#[derive(Debug)]
struct Replay {
    wire: MemoryGateway,
    script: VecDeque<Result<ExecReport, SessionEvent>>,
}

impl Replay {
    fn report(&mut self, r: ExecReport) {
        self.script.push_back(Ok(r));
    }
    fn ready(&mut self, next_cl: u32) {
        self.script.push_back(Err(SessionEvent::Ready {
            next_cl: ClOrdId(next_cl),
        }));
    }
}

impl OrderGateway for Replay {
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        self.wire.send(now_ns, req)
    }
    fn flush(&mut self, now_ns: u64) -> Result<(), GatewayError> {
        self.wire.flush(now_ns)
    }
    fn poll<S: GatewaySink>(&mut self, _now_ns: u64, sink: &mut S) -> usize {
        let mut n = 0;
        while let Some(step) = self.script.pop_front() {
            match step {
                Ok(r) => {
                    sink.report(&r);
                    n += 1;
                }
                Err(e) => sink.session(e),
            }
        }
        n
    }
    fn status(&self) -> SessionStatus {
        SessionStatus::Ready
    }
}

fn trader() -> (Trader<Replay>, EventWriter) {
    let config = config(2);
    let (events, writer) = EventWriter::spawn(1 << 14, LogLevel::Error, LogSink::Null).unwrap();
    let gateway = Replay {
        wire: memory_gateway(&config, false),
        script: VecDeque::new(),
    };
    let trader = Trader::new(&config, gateway, Clock::default(), events).unwrap();
    (trader, writer)
}

fn open_ids(t: &Trader<Replay>) -> Vec<(u32, u64)> {
    let mut ids = Vec::new();
    t.oms()
        .for_each_open(|o| ids.push((o.cl().0, o.leaves().raw())));
    ids.sort_unstable();
    ids
}

#[test]
fn a_journal_rebuilds_positions_open_orders_fills_and_the_kill_switch() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), &history());
    let (mut t, _w) = trader();
    let rec = t.recover(dir.path(), &[]).unwrap();
    assert_eq!((rec.requests, rec.reports, rec.fills), (5, 6, 2));
    assert_eq!((rec.refused, rec.damaged, rec.reconciles), (0, 0, 1));
    assert_eq!(rec.killed, Some(KillReason::Manual));
    assert_eq!(t.risk().killed(), Some(KillReason::Manual));
    assert_eq!(t.oms().position(InstrumentId(1)), 30 - 100);
    assert_eq!(t.oms().position(InstrumentId(2)), 0);
    // Order 1 rests with 70 shares; order 4 was sent and never answered.
    assert_eq!(open_ids(&t), vec![(1, 70), (4, 20)]);
    assert_eq!(rec.open_orders, 2);
    assert_eq!(rec.next_cl, ClOrdId(5));
    let s1 = t.instrument_snapshot(0);
    assert_eq!(
        (s1.position, s1.fills, s1.bought, s1.sold),
        (-70, 2, 30, 100)
    );
    // Realised PnL comes back with the position (both fills at one price: flat PnL).
    assert_eq!(s1.realised, 0);
}

#[test]
fn a_torn_final_record_is_skipped_and_everything_before_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), &history());
    let segment = quotewire_journal::list_segments(dir.path()).unwrap()[0].clone();
    let mut bytes = std::fs::read(&segment).unwrap();
    // Half a record header: the process died in the middle of a write.
    bytes.extend_from_slice(&[0x20, 0, 0, 0, 2, 0, 0, 0, 9, 9, 9]);
    bytes.resize(bytes.len().next_multiple_of(8) + 64, 0);
    std::fs::write(&segment, &bytes).unwrap();
    let (mut t, _w) = trader();
    let rec = t.recover(dir.path(), &[]).unwrap();
    assert_eq!(rec.damaged, 1);
    assert_eq!((rec.requests, rec.reports, rec.fills), (5, 6, 2));
    assert_eq!(open_ids(&t), vec![(1, 70), (4, 20)]);
}

#[test]
fn requests_the_journal_lost_come_back_from_the_intent_log() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), &history());
    let path = dir.path().join("intents");
    {
        let (mut log, _) = IntentLog::open(&path, 16, EPOCH).unwrap();
        // The same requests as journaled (same times), then one the ring lost.
        for (i, r) in history().iter().enumerate() {
            if let Rec::Sent(req) = r {
                log.record(1_000 * (i as u64 + 1), req);
            }
        }
        log.record(99_000, &new(5, 1, Side::Buy, 40));
    }
    let (_, intents) = IntentLog::open(&path, 16, EPOCH).unwrap();
    let (mut t, _w) = trader();
    let rec = t.recover(dir.path(), &intents).unwrap();
    assert_eq!(rec.intents, 1);
    assert_eq!(open_ids(&t), vec![(1, 70), (4, 20), (5, 40)]);
    assert_eq!(rec.next_cl, ClOrdId(6));
    // The venue's replay then fills it: counted, not unknown.
    t.gateway_mut().report(accepted(5, 40, 20));
    t.gateway_mut().report(executed(5, 40, 9, 21));
    t.poll_gateway(1);
    assert_eq!(t.oms().position(InstrumentId(1)), -70 + 40);
    assert_eq!(t.counters().unknown_reports, 0);
}

#[test]
fn once_ready_the_replay_of_closed_orders_is_counted_and_open_orders_are_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), &history());
    let (mut t, _w) = trader();
    t.recover(dir.path(), &[]).unwrap();
    // The venue replays the whole session (everything already applied), then
    // answers the Account Query.
    for r in history() {
        if let Rec::Got(rep) = r {
            t.gateway_mut().report(rep);
        }
    }
    t.gateway_mut().ready(5);
    t.poll_gateway(10);
    assert_eq!(t.oms().position(InstrumentId(1)), -70);
    assert_eq!(t.counters().fills, 2);
    assert_eq!(t.counters().unknown_reports, 0);
    assert!(t.counters().replayed_reports > 0);
    assert!(t.session_ready());
    // Order 4 never reached the venue (expired at Ready); order 1 is cancelled.
    let reqs = decode_requests(t.gateway().wire.bytes());
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(matches!(reqs[0], Req::Cancel { cl: 1, .. }), "{reqs:?}");
    assert_eq!(open_ids(&t), vec![(1, 70)]);
    // Killed by hand before the crash: still killed, so nothing else is sent.
    assert_eq!(t.risk().killed(), Some(KillReason::Manual));
}
