//! `FixClient` against the venue simulator's FIX 4.4 acceptor (`RunningVenue`
//! on 127.0.0.1, its own thread) and, for garbled input and silence, against
//! a scripted FIX peer in the test. Every wait is bounded; time only drives
//! the protocol, nothing is measured.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, TimeInForce};
use quotewire_core::{Price, Qty, Side};
use quotewire_gateway::{
    FixClient, FixClientConfig, LostReason, OrderGateway, SessionEvent, SessionStatus,
};
use quotewire_protocol::fix::{
    self, tag, ExecInst, ExecType, ExecutionReport, Frames, Header, Heartbeat, Logon, Message,
    MessageBuilder, OrdStatus, OrdType, ResendRequest, SequenceReset, TestRequest,
};
use quotewire_venue::fix_gateway::{FixGatewayConfig, FixSessionConfig};
use quotewire_venue::matching::FirmId;
use quotewire_venue::server::{RunningVenue, ServerConfig};

mod common;

use common::*;

// ---------------------------------------------------------------------------
// Venue.

fn venue() -> RunningVenue {
    let session = |sender: &str, firm| FixSessionConfig {
        sender_comp_id: sender.to_owned(),
        target_comp_id: "VENUE".to_owned(),
        firm: FirmId(firm),
        cancel_on_disconnect: false,
    };
    let mut fix = FixGatewayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    fix.sessions = vec![session("ALICE", 1), session("BOB", 2)];
    fix.heartbeat_secs = 1;
    let config = ServerConfig {
        matching: matching(),
        symbols: vec![(AAPL, "AAPL".to_owned())],
        ouch: None,
        fix: Some(fix),
        itch: None,
        extra: Vec::new(),
    };
    RunningVenue::start(config).expect("venue starts")
}

fn addr(v: &RunningVenue) -> SocketAddr {
    v.endpoints().fix.expect("FIX enabled")
}

fn config(addr: SocketAddr, sender: &str, state: Option<&Path>) -> FixClientConfig {
    let mut c = FixClientConfig::new(addr, sender, "VENUE");
    c.symbols = vec![(AAPL, "AAPL".to_owned())];
    c.heartbeat_interval_secs = 1;
    c.logon_timeout_ns = 2_000 * MS;
    c.reconnect_backoff_ns = 50 * MS;
    c.account = Some(format!("{sender}-ACC"));
    c.state_file = state.map(Path::to_path_buf);
    c
}

// ---------------------------------------------------------------------------
// Client side.

type Driver = common::Driver<FixClient>;

impl TestClient for FixClient {
    type Config = FixClientConfig;

    fn build(config: FixClientConfig) -> Self {
        Self::new(config).expect("valid config")
    }

    fn diag(&self) -> String {
        format!("stats {:?}", self.fix_stats())
    }
}

/// Alice logged on to `v`, without a state file.
fn alice_ready(v: &RunningVenue) -> Driver {
    let mut d = Driver::new(config(addr(v), "ALICE", None));
    d.ready();
    d
}

fn accepted(r: &ExecReport) -> Option<ClOrdId> {
    match r {
        ExecReport::Accepted { cl, .. } => Some(*cl),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Against the venue.

#[test]
fn logon_then_enter_replace_fill_and_cancel_give_the_right_reports() {
    let v = venue();
    let addr = addr(&v);
    let mut alice = Driver::new(config(addr, "ALICE", None));
    let mut bob = Driver::new(config(addr, "BOB", None));
    assert_eq!(
        alice.client.send(0, &buy(1, PX, 100)),
        Err(quotewire_gateway::GatewayError::NotReady)
    );
    alice.ready();
    bob.ready();
    assert_eq!(
        alice.rec.events,
        vec![
            SessionEvent::LoggedIn { next_seq: 2 },
            SessionEvent::Ready {
                next_cl: ClOrdId(1)
            }
        ]
    );

    alice.send(&buy(1, PX, 100));
    alice.reports(1);
    let ExecReport::Accepted {
        cl,
        price,
        qty,
        venue_id,
        ..
    } = alice.rec.reports[0]
    else {
        panic!("expected Accepted, got {:?}", alice.rec.reports[0]);
    };
    assert_eq!((cl, price, qty), (ClOrdId(1), Price(PX), Qty(100)));
    assert_ne!(venue_id.0, 0);

    // Bob sells 30 into Alice's bid: both get an Executed with the same price.
    bob.send(&order(1, Side::Sell, PX, 30, TimeInForce::Ioc));
    alice.reports(2);
    bob.until("bob's fill", |d| !d.rec.executed().is_empty());
    let ExecReport::Executed {
        cl,
        qty,
        price,
        match_number,
        ..
    } = alice.rec.reports[1]
    else {
        panic!("expected Executed, got {:?}", alice.rec.reports[1]);
    };
    assert_eq!((cl, qty, price), (ClOrdId(1), Qty(30), Price(PX)));
    assert_ne!(match_number, 0, "the venue's ExecIDs are decimal");

    // Replace to 50 open at a new price: FIX OrderQty is 80 (30 filled).
    alice.send(&replace(1, 2, PX + TICK, 50));
    alice.reports(3);
    let ExecReport::Replaced {
        orig,
        cl,
        price,
        qty,
        venue_id: new_id,
        ..
    } = alice.rec.reports[2]
    else {
        panic!("expected Replaced, got {:?}", alice.rec.reports[2]);
    };
    assert_eq!(
        (orig, cl, price, qty),
        (ClOrdId(1), ClOrdId(2), Price(PX + TICK), Qty(50))
    );
    assert_ne!(new_id, venue_id, "a price change requeues the order");

    alice.send(&cancel(2));
    alice.reports(4);
    assert!(
        matches!(
            alice.rec.reports[3],
            ExecReport::Canceled {
                cl: ClOrdId(2),
                qty: Qty(50),
                reason: CancelReason::User,
                ..
            }
        ),
        "{:?}",
        alice.rec.reports[3]
    );

    // An off-tick price is rejected; a cancel of a dead order is refused.
    alice.send(&buy(3, PX + 1, 10));
    alice.reports(5);
    alice.send(&cancel(2));
    alice.reports(6);
    assert!(
        matches!(
            alice.rec.reports[4],
            ExecReport::Rejected { cl: ClOrdId(3), .. }
        ),
        "{:?}",
        alice.rec.reports[4]
    );
    assert!(
        matches!(
            alice.rec.reports[5],
            ExecReport::CancelRejected { cl: ClOrdId(2), .. }
        ),
        "{:?}",
        alice.rec.reports[5]
    );
    // Report times strictly increase even within one millisecond.
    let ts: Vec<u64> = alice.rec.reports.iter().map(ts_of).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert_eq!(alice.client.state().highest_cl, 3);
    assert_eq!(alice.rec.lost(), 0);
    assert_eq!(alice.client.fix_stats().rejects_received, 0);
    assert_eq!(alice.client.fix_stats().resend_requests_received, 0);

    // Graceful logout: the venue answers and the connection closes.
    let now = alice.now();
    alice.client.logout(now);
    assert_eq!(alice.client.status(), SessionStatus::Ended);
    alice.until("the venue's Logout", |d| !d.client.is_connected());
    assert_eq!(alice.client.fix_stats().logouts_received, 1);
    assert_eq!(alice.rec.lost(), 0);
}

#[test]
fn a_restarted_client_continues_the_persisted_sequence_numbers() {
    let v = venue();
    let addr = addr(&v);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alice.fixstate");

    let mut first = Driver::new(config(addr, "ALICE", Some(&state)));
    first.ready();
    for cl in 1..=3 {
        first.send(&buy(cl, PX, 10));
    }
    first.reports(3);
    let now = first.now();
    first.client.logout(now);
    first.until("the venue's Logout", |d| !d.client.is_connected());
    let before = first.client.state();
    assert_eq!(before.highest_cl, 3);
    // Logon, 3 orders, Logout went out; Logon, 3 reports, Logout came in.
    assert_eq!((before.next_out, before.next_in), (6, 6));
    first.client.sync_state().unwrap();
    drop(first);

    // A new process: same state file, no reset. The venue kept its numbers too.
    let mut second = Driver::new(config(addr, "ALICE", Some(&state)));
    assert_eq!(second.client.state(), before);
    second.ready();
    assert_eq!(
        second.rec.events,
        vec![
            SessionEvent::LoggedIn { next_seq: 7 },
            SessionEvent::Ready {
                next_cl: ClOrdId(4)
            }
        ],
        "the venue's Logon is number 6"
    );
    second.send(&buy(4, PX, 10));
    second.reports(1);
    assert_eq!(accepted(&second.rec.reports[0]), Some(ClOrdId(4)));
    let s = second.client.fix_stats();
    assert_eq!(s.resend_requests_received, 0, "the venue saw no gap");
    assert_eq!(second.rec.lost(), 0);
}

#[test]
fn a_dropped_connection_reconnects_and_continues_the_sequence() {
    let v = venue();
    let mut d = alice_ready(&v);
    d.send(&buy(1, PX, 10));
    d.reports(1);
    let before = d.client.state();
    d.client.drop_session();
    d.until("reconnected", |d| d.rec.readies().len() == 2);
    assert!(d.rec.events.contains(&SessionEvent::Lost {
        reason: LostReason::Local
    }));
    assert!(d.client.stats().logins >= 2);
    // The new Logon took the next numbers on both sides; nothing was reset.
    let after = d.client.state();
    assert!(after.next_out > before.next_out, "{before:?} {after:?}");
    assert!(after.next_in > before.next_in, "{before:?} {after:?}");
    d.send(&buy(2, PX, 10));
    d.reports(2);
    assert_eq!(accepted(&d.rec.reports[1]), Some(ClOrdId(2)));
}

#[test]
fn a_gap_in_the_venues_messages_makes_the_client_ask_for_a_resend() {
    let v = venue();
    let mut d = alice_ready(&v);
    for cl in 1..=3 {
        d.send(&buy(cl, PX, 10));
    }
    d.reports(3);
    // Forget the last two reports: the next one arrives above the expected number.
    let st = d.client.state();
    d.client.set_sequence_numbers(st.next_out, st.next_in - 2);
    d.send(&buy(4, PX, 10));
    d.until("the resent reports and the new one", |d| {
        d.rec.reports.len() >= 6
    });
    let ids: Vec<Option<ClOrdId>> = d.rec.reports.iter().map(accepted).collect();
    assert_eq!(
        ids[3..],
        [Some(ClOrdId(2)), Some(ClOrdId(3)), Some(ClOrdId(4))],
        "reports 2 and 3 again (PossDupFlag=Y), then 4"
    );
    let s = *d.client.fix_stats();
    assert_eq!(s.resend_requests_sent, 1);
    assert!(s.out_of_sequence >= 1, "{s:?}");
    assert_eq!(d.client.state().next_in, st.next_in + 1);
    assert_eq!(d.client.status(), SessionStatus::Ready);
    assert_eq!(d.rec.lost(), 0);
}

#[test]
fn a_skipped_outgoing_number_makes_the_venue_ask_and_the_order_is_resent() {
    let v = venue();
    let mut d = alice_ready(&v);
    d.send(&buy(1, PX, 10));
    d.reports(1);
    // Jump ahead 5 numbers: the venue sees a gap and asks for 3..=8.
    let st = d.client.state();
    d.client.set_sequence_numbers(st.next_out + 5, st.next_in);
    d.send(&buy(2, PX, 10));
    d.reports(2);
    assert_eq!(accepted(&d.rec.reports[1]), Some(ClOrdId(2)));
    let s = *d.client.fix_stats();
    assert_eq!(s.resend_requests_received, 1, "{s:?}");
    assert_eq!(
        s.gap_fills_sent, 1,
        "numbers 3..=7 were never sent: one gap fill"
    );
    assert_eq!(s.messages_resent, 1, "the order itself is resent");
    // The venue took the order once: the resent copy was a duplicate to it.
    d.send(&cancel(2));
    d.reports(3);
    assert!(matches!(
        d.rec.reports[2],
        ExecReport::Canceled {
            cl: ClOrdId(2),
            qty: Qty(10),
            ..
        }
    ));
    assert_eq!(d.rec.lost(), 0);
}

#[test]
fn with_a_zero_resend_age_every_order_is_gap_filled() {
    let v = venue();
    let addr = addr(&v);
    let mut c = config(addr, "ALICE", None);
    c.resend_max_age_ns = 0;
    let mut d = Driver::new(c);
    d.ready();
    let st = d.client.state();
    d.client.set_sequence_numbers(st.next_out + 2, st.next_in);
    d.send(&buy(1, PX, 10));
    d.until("the venue's ResendRequest answered", |d| {
        d.client.fix_stats().gap_fills_sent == 1
    });
    // The order was covered by the gap fill: the venue never acts on it.
    d.send(&buy(2, PX, 10));
    d.reports(1);
    assert_eq!(accepted(&d.rec.reports[0]), Some(ClOrdId(2)));
    assert_eq!(d.client.fix_stats().messages_resent, 0);
}

// ---------------------------------------------------------------------------
// Against a scripted peer.

/// A message the scripted peer received: MsgType and fields after it.
type Got = (String, Vec<(u32, String)>);

/// The acceptor side of a connection, written by hand.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
    next_out: u64,
}

impl Peer {
    fn header(&self, seq: u64) -> Header<'static> {
        Header {
            sender_comp_id: b"VENUE",
            target_comp_id: b"ALICE",
            msg_seq_num: seq,
            sending_time: 1_700_000_000_000_000_000,
            poss_dup: false,
            orig_sending_time: None,
        }
    }

    /// Encodes with the next MsgSeqNum and returns the bytes (not sent).
    fn encode(&mut self, msg: &Message<'_>) -> Vec<u8> {
        let mut b = vec![0; 1024];
        let n = msg.encode(&self.header(self.next_out), &mut b).unwrap();
        self.next_out += 1;
        b.truncate(n);
        b
    }

    fn send(&mut self, msg: &Message<'_>) {
        let bytes = self.encode(msg);
        self.raw(&bytes);
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Every complete message received so far, as (MsgType, fields).
    fn drain(&mut self) -> Vec<Got> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("peer read: {e}"),
            }
        }
        let mut out = Vec::new();
        let mut frames = Frames::new(&self.buf, 8192);
        for frame in frames.by_ref() {
            let frame = frame.expect("the client writes valid frames");
            let view = fix::MessageView::parse(frame).expect("the client writes valid messages");
            let fields = view
                .fields()
                .map(|f| f.unwrap())
                .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                .collect();
            out.push((
                String::from_utf8_lossy(view.msg_type()).into_owned(),
                fields,
            ));
        }
        let rest = frames.remainder().len();
        self.buf.drain(..self.buf.len() - rest);
        out
    }
}

fn field(fields: &[(u32, String)], t: u32) -> Option<&str> {
    fields
        .iter()
        .find(|(k, _)| *k == t)
        .map(|(_, v)| v.as_str())
}

/// A client connected to a scripted peer that has answered its Logon.
fn scripted() -> (Driver, Peer, Vec<Got>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = config(addr, "ALICE", None);
    c.heartbeat_interval_secs = 30;
    let mut d = Driver::new(c);
    d.tick();
    let (stream, _) = listener.accept().unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut peer = Peer {
        stream,
        buf: Vec::new(),
        next_out: 1,
    };
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.is_empty() {
        assert!(Instant::now() < deadline, "no Logon from the client");
        d.tick();
        got = peer.drain();
    }
    assert_eq!(got[0].0, "A");
    assert_eq!(field(&got[0].1, tag::HEART_BT_INT), Some("30"));
    assert_eq!(field(&got[0].1, tag::RESET_SEQ_NUM_FLAG), None);
    peer.send(&Message::Logon(Logon {
        encrypt_method: 0,
        heart_bt_int: 30,
        reset_seq_num_flag: false,
    }));
    d.ready();
    (d, peer, got)
}

/// Ticks the client until the peer has received `n` more messages.
fn expect(d: &mut Driver, peer: &mut Peer, n: usize) -> Vec<Got> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "expected {n} messages, got {got:?}"
        );
        d.tick();
        got.extend(peer.drain());
    }
    got
}

fn report_without_exec_id(peer: &mut Peer) -> Vec<u8> {
    let mut b = vec![0; 1024];
    let mut m = MessageBuilder::new(&mut b, b"8", &peer.header(peer.next_out));
    m.str(tag::ORDER_ID, b"7")
        .str(tag::CL_ORD_ID, b"1")
        .char(tag::EXEC_TYPE, b'0')
        .char(tag::ORD_STATUS, b'0')
        .str(tag::SYMBOL, b"AAPL")
        .char(tag::SIDE, b'1')
        .uint(tag::LEAVES_QTY, 10)
        .uint(tag::CUM_QTY, 0)
        .uint(tag::AVG_PX, 0);
    let n = m.finish().unwrap();
    peer.next_out += 1;
    b.truncate(n);
    b
}

fn new_report(cl: &'static [u8]) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: b"7",
        cl_ord_id: Some(cl),
        orig_cl_ord_id: None,
        exec_id: b"1",
        exec_type: ExecType::New,
        ord_status: OrdStatus::New,
        ord_rej_reason: None,
        account: None,
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: Some(Qty(10)),
        ord_type: Some(OrdType::Limit),
        price: Some(Price(PX)),
        time_in_force: None,
        exec_inst: ExecInst::EMPTY,
        last_qty: None,
        last_px: None,
        leaves_qty: Qty(10),
        cum_qty: Qty(0),
        avg_px: Price(0),
        transact_time: Some(1_700_000_000_000_000_000),
        text: None,
    }
}

#[test]
fn garbled_frames_are_dropped_and_a_missing_tag_is_rejected() {
    let (mut d, mut peer, _) = scripted();
    // 1. A bad CheckSum: dropped, its number recovered by a ResendRequest.
    let mut bad_sum = peer.encode(&Message::ExecutionReport(new_report(b"1")));
    let at = bad_sum.len() - 4;
    bad_sum[at] = if bad_sum[at] == b'9' {
        b'0'
    } else {
        bad_sum[at] + 1
    };
    peer.raw(&bad_sum);
    // 2. A bad BodyLength: dropped.
    peer.next_out -= 1;
    let good = peer.encode(&Message::ExecutionReport(new_report(b"1")));
    let text = String::from_utf8(good.clone()).unwrap();
    let declared: usize = text.split('\x01').nth(1).unwrap()[2..].parse().unwrap();
    let bad_len = text.replacen(&format!("9={declared}"), &format!("9={}", declared + 3), 1);
    peer.raw(bad_len.as_bytes());
    // Junk between messages is skipped too.
    peer.raw(b"garbage\x01\x01=\x01");
    d.until("both garbled frames counted", |d| {
        d.client.fix_stats().garbled_frames == 2
    });
    assert!(d.rec.reports.is_empty());
    assert_eq!(
        d.client.state().next_in,
        2,
        "garbled frames consume no number"
    );

    // 3. The same number again, well framed: processed.
    peer.raw(&good);
    d.reports(1);
    assert_eq!(accepted(&d.rec.reports[0]), Some(ClOrdId(1)));

    // 4. Well framed, ExecID(17) missing: Reject(3) naming the tag, number consumed.
    let missing = report_without_exec_id(&mut peer);
    peer.raw(&missing);
    let got = expect(&mut d, &mut peer, 1);
    assert_eq!(got[0].0, "3", "{got:?}");
    let f = &got[0].1;
    assert_eq!(field(f, tag::REF_SEQ_NUM), Some("3"));
    assert_eq!(field(f, tag::REF_TAG_ID), Some("17"));
    assert_eq!(field(f, tag::REF_MSG_TYPE), Some("8"));
    assert_eq!(field(f, tag::SESSION_REJECT_REASON), Some("1"));
    assert_eq!(d.client.state().next_in, 4);

    // 5. The session is alive: a TestRequest is answered with its id.
    peer.send(&Message::TestRequest(TestRequest {
        test_req_id: b"PING7",
    }));
    let got = expect(&mut d, &mut peer, 1);
    assert_eq!(got[0].0, "0");
    assert_eq!(field(&got[0].1, tag::TEST_REQ_ID), Some("PING7"));

    let s = *d.client.fix_stats();
    assert_eq!((s.garbled_frames, s.malformed, s.rejects_sent), (2, 1, 1));
    assert_eq!(s.resend_requests_sent, 0);
    assert_eq!(d.client.status(), SessionStatus::Ready);
    assert_eq!(d.rec.lost(), 0);
}

#[test]
fn gaps_duplicates_and_sequence_resets_from_the_peer() {
    let (mut d, mut peer, _) = scripted();
    // Number 2 never arrives; 3 is above the expected number.
    peer.next_out = 3;
    peer.send(&Message::ExecutionReport(new_report(b"5")));
    let got = expect(&mut d, &mut peer, 1);
    assert_eq!(got[0].0, "2");
    assert_eq!(field(&got[0].1, tag::BEGIN_SEQ_NO), Some("2"));
    assert_eq!(field(&got[0].1, tag::END_SEQ_NO), Some("0"));
    assert!(
        d.rec.reports.is_empty(),
        "the too-high report waits for the gap"
    );
    // Another too-high message: no second request while one is outstanding.
    peer.send(&Message::Heartbeat(Heartbeat::default()));
    // The peer answers: gap fill 2 -> 3, then 3 and 4 again as possible duplicates.
    let mut fill = vec![0; 512];
    let mut h = peer.header(2);
    h.poss_dup = true;
    h.orig_sending_time = Some(h.sending_time);
    let n = SequenceReset {
        gap_fill: true,
        new_seq_no: 3,
    }
    .encode(&h, &mut fill)
    .unwrap();
    peer.raw(&fill[..n]);
    peer.next_out = 3;
    let mut again = peer.encode(&Message::ExecutionReport(new_report(b"5")));
    again = String::from_utf8(again)
        .unwrap()
        .replace("\x0134=3\x01", "\x0134=3\x0143=Y\x01")
        .into_bytes();
    // Re-frame with the right BodyLength and CheckSum.
    let again = reframe(&again);
    peer.raw(&again);
    peer.send(&Message::Heartbeat(Heartbeat::default()));
    d.reports(1);
    d.until("the gap closed", |d| d.client.state().next_in == 5);
    // The same report once more (PossDupFlag=Y, number 3 < 5): ignored.
    peer.raw(&again);
    // SequenceReset-Reset jumps ahead whatever its own number.
    let mut reset = vec![0; 512];
    let n = SequenceReset {
        gap_fill: false,
        new_seq_no: 20,
    }
    .encode(&peer.header(99), &mut reset)
    .unwrap();
    peer.raw(&reset[..n]);
    d.until("the reset applied", |d| d.client.state().next_in == 20);
    let s = *d.client.fix_stats();
    assert_eq!(s.resend_requests_sent, 1, "{s:?}");
    assert_eq!(s.gap_fills_received, 1);
    assert_eq!(s.duplicates_ignored, 1);
    assert_eq!(s.sequence_resets_received, 1);
    assert_eq!(d.rec.reports.len(), 1);
    assert_eq!(d.client.status(), SessionStatus::Ready);

    // The peer asks us for everything: only session messages went out, so one gap fill.
    peer.next_out = 20;
    peer.send(&Message::ResendRequest(ResendRequest {
        begin_seq_no: 1,
        end_seq_no: 0,
    }));
    let got = expect(&mut d, &mut peer, 1);
    let gap = got.iter().find(|(t, _)| t == "4").expect("a gap fill");
    assert_eq!(field(&gap.1, tag::MSG_SEQ_NUM), Some("1"));
    assert_eq!(field(&gap.1, tag::GAP_FILL_FLAG), Some("Y"));
    assert_eq!(field(&gap.1, tag::POSS_DUP_FLAG), Some("Y"));
    assert!(field(&gap.1, tag::ORIG_SENDING_TIME).is_some());
    let next_out = d.client.state().next_out;
    assert_eq!(
        field(&gap.1, tag::NEW_SEQ_NO),
        Some(next_out.to_string().as_str())
    );
    assert_eq!(d.rec.lost(), 0);
}

/// Recomputes BodyLength and CheckSum of an edited message.
fn reframe(msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(msg.to_vec()).unwrap();
    let body_start = text.find("\x0135=").unwrap() + 1;
    let trailer = text.rfind("10=").unwrap();
    let body = &text[body_start..trailer];
    let head = format!("8=FIX.4.4\x019={}\x01", body.len());
    let without_sum = format!("{head}{body}");
    let sum = fix::checksum(without_sum.as_bytes());
    format!("{without_sum}10={sum:03}\x01").into_bytes()
}

#[test]
fn silence_brings_a_test_request_then_the_loss_of_the_connection() {
    let (mut d, mut peer, _) = scripted();
    // Drive the clock: 30 s heartbeats, so 36 s of silence asks, 72 s gives up.
    let base = d.now();
    d.client.poll(base + 37_000 * MS, &mut d.rec);
    let got = peer_until(&mut peer, 1);
    let kinds: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert!(kinds.contains(&"1"), "a TestRequest: {kinds:?}");
    let test = got.iter().find(|(t, _)| t == "1").unwrap();
    assert_eq!(field(&test.1, tag::TEST_REQ_ID), Some("TEST1"));
    d.client.poll(base + 80_000 * MS, &mut d.rec);
    assert_eq!(
        d.rec.events.last(),
        Some(&SessionEvent::Lost {
            reason: LostReason::ServerTimeout
        })
    );
    assert_eq!(d.client.status(), SessionStatus::Down);
}

/// Reads the peer (without ticking the client) until `n` messages arrived.
fn peer_until(peer: &mut Peer, n: usize) -> Vec<Got> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < n {
        assert!(Instant::now() < deadline, "peer got {got:?}");
        got.extend(peer.drain());
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

#[test]
fn a_logout_answering_the_logon_is_a_rejected_login_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut d = Driver::new(config(addr, "ALICE", None));
    d.tick();
    let (stream, _) = listener.accept().unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut peer = Peer {
        stream,
        buf: Vec::new(),
        next_out: 1,
    };
    expect(&mut d, &mut peer, 1);
    peer.send(&Message::Logout(fix::Logout {
        text: Some(b"MsgSeqNum too low, expecting 9 but received 1"),
    }));
    d.until("the refusal", |d| d.client.status() == SessionStatus::Down);
    assert_eq!(
        d.rec.events,
        vec![
            SessionEvent::Debug {
                text: quotewire_gateway::DebugText::new(
                    b"MsgSeqNum too low, expecting 9 but received 1"
                )
            },
            SessionEvent::LoginRejected { reason: b'5' }
        ]
    );
    d.run_for(Duration::from_millis(200));
    assert_eq!(
        d.client.stats().connects,
        1,
        "a refused first login is final"
    );
}
