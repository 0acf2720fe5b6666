//! The FIX 4.4 acceptor over loopback TCP: a small client built on the
//! protocol codec talks to a `Venue` with one `FixGateway`, pumped from the
//! test thread (no threads, every wait bounded).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_protocol::fix::{
    tag, ExecInst, Header, Logon, Logout, MessageBuilder, MessageView, NewOrderSingle, OrdType,
    OrderCancelReplaceRequest, OrderCancelRequest, ResendRequest, SequenceReset, StreamBuffer,
    TestRequest, TimeInForce,
};
use quotewire_venue::fix_gateway::{FixGateway, FixGatewayConfig, FixInstrument, FixSessionConfig};
use quotewire_venue::matching::{FirmId, InstrumentConfig, MatchingEngine, PriceBand, VenueConfig};
use quotewire_venue::runtime::Venue;

const AAPL: InstrumentId = InstrumentId(1);
const VENUE: &str = "VENUE";
const WAIT: Duration = Duration::from_secs(5);

/// One price in FIX decimal units (100 -> 100.00).
fn px(whole: i64) -> Price {
    Price(whole * 10_000)
}

struct Harness {
    venue: Venue,
    addr: SocketAddr,
    /// Added to the wall clock: lets timer tests skip ahead.
    skew_ns: u64,
}

impl Harness {
    /// A venue trading AAPL with sessions (client CompID, firm, cancel-on-disconnect).
    fn new(sessions: &[(&str, u32, bool)]) -> Self {
        let engine = MatchingEngine::new(&VenueConfig {
            max_orders: 1024,
            instruments: vec![InstrumentConfig {
                id: AAPL,
                tick: Price(100),
                band: PriceBand::Around {
                    reference: px(100),
                    width: px(50),
                },
                max_order_qty: Qty(1_000_000),
            }],
            ..VenueConfig::default()
        })
        .expect("engine");
        let mut config = FixGatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
        config.instruments.push(FixInstrument {
            symbol: "AAPL".into(),
            instrument: AAPL,
        });
        for &(client, firm, cod) in sessions {
            config.sessions.push(FixSessionConfig {
                sender_comp_id: client.into(),
                target_comp_id: VENUE.into(),
                firm: FirmId(firm),
                cancel_on_disconnect: cod,
            });
        }
        let gateway = FixGateway::bind(&config).expect("bind");
        let addr = gateway.local_addr();
        let mut venue = Venue::new(engine);
        venue.add_gateway(Box::new(gateway));
        Self {
            venue,
            addr,
            skew_ns: 0,
        }
    }

    fn now(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        u64::try_from(wall).expect("ns") + self.skew_ns
    }

    fn pump(&mut self) {
        let now = self.now();
        self.venue.poll_once(now);
    }

    /// Pumps for a while (lets the gateway notice disconnects).
    fn settle(&mut self) {
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            self.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn live_orders(&self) -> usize {
        self.venue.engine().live_orders()
    }
}

/// A received message, owned.
struct Msg(Vec<u8>);

impl Msg {
    fn view(&self) -> MessageView<'_> {
        MessageView::parse(&self.0).expect("well-formed message from the gateway")
    }

    fn msg_type(&self) -> String {
        String::from_utf8_lossy(self.view().msg_type()).into_owned()
    }

    fn get(&self, t: u32) -> Option<String> {
        self.view()
            .get(t)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn field(&self, t: u32) -> String {
        self.get(t)
            .unwrap_or_else(|| panic!("tag {t} missing in {}", self.show()))
    }

    fn show(&self) -> String {
        String::from_utf8_lossy(&self.0).replace('\x01', "|")
    }
}

struct Client {
    stream: TcpStream,
    rx: StreamBuffer,
    comp_id: &'static str,
    seq: u64,
    buf: Vec<u8>,
}

impl Client {
    fn connect(h: &mut Harness, comp_id: &'static str) -> Self {
        let stream = TcpStream::connect(h.addr).expect("connect");
        stream.set_nonblocking(true).expect("nonblocking");
        stream.set_nodelay(true).expect("nodelay");
        h.pump();
        Self {
            stream,
            rx: StreamBuffer::new(8192, 65536),
            comp_id,
            seq: 1,
            buf: vec![0; 16384],
        }
    }

    fn header(&self, seq: u64, poss_dup: bool) -> Header<'static> {
        Header {
            sender_comp_id: self.comp_id.as_bytes(),
            target_comp_id: VENUE.as_bytes(),
            msg_seq_num: seq,
            sending_time: 1_700_000_000_000_000_000,
            poss_dup,
            orig_sending_time: poss_dup.then_some(1_700_000_000_000_000_000),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut stream = &self.stream;
        let deadline = Instant::now() + WAIT;
        let mut rest = bytes;
        while !rest.is_empty() {
            match stream.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {}
                Err(e) => panic!("write: {e}"),
            }
        }
    }

    /// Encodes with MsgSeqNum `seq` (and PossDupFlag) and sends; does not touch `self.seq`.
    fn send_at<F>(&mut self, seq: u64, poss_dup: bool, encode: F)
    where
        F: FnOnce(&Header<'_>, &mut [u8]) -> Result<usize, quotewire_protocol::EncodeError>,
    {
        let header = self.header(seq, poss_dup);
        let mut buf = std::mem::take(&mut self.buf);
        let n = encode(&header, &mut buf).expect("encode");
        self.write(&buf[..n]);
        self.buf = buf;
    }

    /// Sends with the next MsgSeqNum.
    fn send<F>(&mut self, encode: F)
    where
        F: FnOnce(&Header<'_>, &mut [u8]) -> Result<usize, quotewire_protocol::EncodeError>,
    {
        let seq = self.seq;
        self.seq += 1;
        self.send_at(seq, false, encode);
    }

    /// The next message, or `None` once the gateway closed the connection.
    fn recv(&mut self, h: &mut Harness) -> Option<Msg> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(frame) = self.rx.next_message() {
                if let Ok(frame) = frame {
                    return Some(Msg(frame.to_vec()));
                }
                continue;
            }
            h.pump();
            match self.stream.read(self.rx.spare()) {
                Ok(0) => return None,
                Ok(n) => self.rx.commit(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no message within {WAIT:?}");
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(_) => return None,
            }
        }
    }

    /// The next message that is not a Heartbeat; it must have MsgType `msg_type`.
    fn expect(&mut self, h: &mut Harness, msg_type: &str) -> Msg {
        loop {
            let msg = self.recv(h).expect("connection closed");
            if msg.msg_type() == "0" && msg_type != "0" {
                continue;
            }
            assert_eq!(msg.msg_type(), msg_type, "got {}", msg.show());
            return msg;
        }
    }

    /// Reads until the gateway closes the connection; returns what came before.
    fn expect_closed(&mut self, h: &mut Harness) -> Vec<Msg> {
        let mut msgs = Vec::new();
        while let Some(m) = self.recv(h) {
            msgs.push(m);
        }
        msgs
    }

    fn logon(&mut self, h: &mut Harness) -> Msg {
        self.send(|hd, b| {
            Logon {
                encrypt_method: 0,
                heart_bt_int: 30,
                reset_seq_num_flag: false,
            }
            .encode(hd, b)
        });
        self.expect(h, "A")
    }

    fn new_order(&mut self, cl: &str, side: Side, qty: u64, price: Price) {
        self.send(|hd, b| order(cl, side, qty, price).encode(hd, b));
    }

    fn cancel(&mut self, cl: &str, orig: &str, side: Side) {
        self.send(|hd, b| {
            OrderCancelRequest {
                orig_cl_ord_id: orig.as_bytes(),
                order_id: None,
                cl_ord_id: cl.as_bytes(),
                account: None,
                symbol: b"AAPL",
                side,
                transact_time: 1_700_000_000_000_000_000,
                order_qty: None,
                text: None,
            }
            .encode(hd, b)
        });
    }
}

fn order(cl: &str, side: Side, qty: u64, price: Price) -> NewOrderSingle<'_> {
    NewOrderSingle {
        cl_ord_id: cl.as_bytes(),
        account: None,
        exec_inst: ExecInst::EMPTY,
        symbol: b"AAPL",
        side,
        transact_time: 1_700_000_000_000_000_000,
        order_qty: Qty(qty),
        ord_type: OrdType::Limit,
        price: Some(price),
        time_in_force: Some(TimeInForce::Day),
        text: None,
    }
}

fn logged_on(h: &mut Harness, comp_id: &'static str) -> Client {
    let mut c = Client::connect(h, comp_id);
    c.logon(h);
    c
}

#[test]
fn logon_is_answered_with_logon_echoing_heartbeat_interval() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = Client::connect(&mut h, "CLIENT");
    let reply = c.logon(&mut h);
    assert_eq!(reply.field(tag::MSG_SEQ_NUM), "1");
    assert_eq!(reply.field(tag::HEART_BT_INT), "30");
    assert_eq!(reply.field(tag::SENDER_COMP_ID), VENUE);
    assert_eq!(reply.field(tag::TARGET_COMP_ID), "CLIENT");
}

#[test]
fn logon_with_unknown_comp_id_gets_logout_with_text_and_disconnect() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = Client::connect(&mut h, "STRANGER");
    c.send(|hd, b| {
        Logon {
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: false,
        }
        .encode(hd, b)
    });
    let msgs = c.expect_closed(&mut h);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), "5");
    assert!(msgs[0].field(tag::TEXT).contains("unknown CompID"));
}

#[test]
fn new_order_single_is_acknowledged_with_execution_report_new() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.new_order("O1", Side::Buy, 100, px(100));
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "0");
    assert_eq!(er.field(tag::ORD_STATUS), "0");
    assert_eq!(er.field(tag::CL_ORD_ID), "O1");
    assert_eq!(
        er.field(tag::ORDER_ID),
        "1",
        "OrderID is the venue order reference"
    );
    assert_eq!(er.field(tag::LEAVES_QTY), "100");
    assert_eq!(er.field(tag::CUM_QTY), "0");
    assert_eq!(er.field(tag::SYMBOL), "AAPL");
    assert_eq!(er.field(tag::PRICE), "100");
    assert_eq!(h.live_orders(), 1);
}

#[test]
fn order_without_limit_type_or_for_unknown_symbol_is_rejected() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.send(|hd, b| {
        NewOrderSingle {
            ord_type: OrdType::Market,
            price: None,
            ..order("M1", Side::Buy, 10, px(100))
        }
        .encode(hd, b)
    });
    let er = c.expect(&mut h, "8");
    assert_eq!(
        (er.field(tag::EXEC_TYPE), er.field(tag::ORD_STATUS)),
        ("8".into(), "8".into())
    );
    assert_eq!(er.field(tag::ORD_REJ_REASON), "11");
    c.send(|hd, b| {
        NewOrderSingle {
            symbol: b"MSFT",
            ..order("M2", Side::Buy, 10, px(100))
        }
        .encode(hd, b)
    });
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::ORD_REJ_REASON), "1");
    c.new_order("M3", Side::Buy, 10, Price(1_000_050)); // off tick: the engine refuses
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "8");
    assert_eq!(er.field(tag::CL_ORD_ID), "M3");
    assert_eq!(er.field(tag::TEXT), "price not on a tick");
    assert_eq!(h.live_orders(), 0);
}

#[test]
fn orders_of_two_sessions_cross_and_both_get_trade_reports() {
    let mut h = Harness::new(&[("SELLER", 1, false), ("BUYER", 2, false)]);
    let mut seller = logged_on(&mut h, "SELLER");
    let mut buyer = logged_on(&mut h, "BUYER");
    seller.new_order("S1", Side::Sell, 100, px(100));
    assert_eq!(seller.expect(&mut h, "8").field(tag::EXEC_TYPE), "0");
    buyer.new_order("B1", Side::Buy, 40, px(101));
    let ack = buyer.expect(&mut h, "8");
    assert_eq!(ack.field(tag::EXEC_TYPE), "0");
    let fill = buyer.expect(&mut h, "8");
    assert_eq!(fill.field(tag::EXEC_TYPE), "F");
    assert_eq!(fill.field(tag::ORD_STATUS), "2");
    assert_eq!(fill.field(tag::CL_ORD_ID), "B1");
    assert_eq!(fill.field(tag::LAST_QTY), "40");
    assert_eq!(
        fill.field(tag::LAST_PX),
        "100",
        "trades print at the resting price"
    );
    assert_eq!(fill.field(tag::LEAVES_QTY), "0");
    assert_eq!(fill.field(tag::CUM_QTY), "40");
    assert_eq!(fill.field(tag::AVG_PX), "100");
    let fill = seller.expect(&mut h, "8");
    assert_eq!(fill.field(tag::EXEC_TYPE), "F");
    assert_eq!(fill.field(tag::ORD_STATUS), "1");
    assert_eq!(fill.field(tag::CL_ORD_ID), "S1");
    assert_eq!(fill.field(tag::LEAVES_QTY), "60");
    assert_eq!(fill.field(tag::CUM_QTY), "40");
    assert_ne!(
        fill.field(tag::EXEC_ID),
        ack.field(tag::EXEC_ID),
        "ExecIDs are unique across sessions"
    );
}

#[test]
fn cancel_reports_canceled_with_request_and_original_cl_ord_ids() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.new_order("O1", Side::Buy, 100, px(100));
    let ack = c.expect(&mut h, "8");
    c.cancel("C1", "O1", Side::Buy);
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "4");
    assert_eq!(er.field(tag::ORD_STATUS), "4");
    assert_eq!(er.field(tag::CL_ORD_ID), "C1");
    assert_eq!(er.field(tag::ORIG_CL_ORD_ID), "O1");
    assert_eq!(er.field(tag::ORDER_ID), ack.field(tag::ORDER_ID));
    assert_eq!(er.field(tag::LEAVES_QTY), "0");
    assert_eq!(h.live_orders(), 0);
    // The order is done: a second cancel is too late.
    c.cancel("C2", "C1", Side::Buy);
    let rej = c.expect(&mut h, "9");
    assert_eq!(rej.field(tag::CXL_REJ_RESPONSE_TO), "1");
    assert_eq!(rej.field(tag::ORD_STATUS), "4");
}

#[test]
fn replace_reports_replaced_with_new_price_quantity_and_order_id() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.new_order("O1", Side::Buy, 100, px(100));
    c.expect(&mut h, "8");
    c.send(|hd, b| {
        OrderCancelReplaceRequest {
            order_id: None,
            orig_cl_ord_id: b"O1",
            cl_ord_id: b"R1",
            account: None,
            exec_inst: ExecInst::EMPTY,
            symbol: b"AAPL",
            side: Side::Buy,
            transact_time: 1_700_000_000_000_000_000,
            order_qty: Qty(150),
            ord_type: OrdType::Limit,
            price: Some(px(101)),
            time_in_force: None,
            text: None,
        }
        .encode(hd, b)
    });
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "5");
    assert_eq!(er.field(tag::ORD_STATUS), "0");
    assert_eq!(er.field(tag::CL_ORD_ID), "R1");
    assert_eq!(er.field(tag::ORIG_CL_ORD_ID), "O1");
    assert_eq!(
        er.field(tag::ORDER_ID),
        "2",
        "a requeued order gets a new reference"
    );
    assert_eq!(er.field(tag::LEAVES_QTY), "150");
    assert_eq!(er.field(tag::ORDER_QTY), "150");
    assert_eq!(er.field(tag::PRICE), "101");
    // The replaced order answers to its new ClOrdID.
    c.cancel("C1", "R1", Side::Buy);
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "4");
    assert_eq!(er.field(tag::ORIG_CL_ORD_ID), "R1");
}

#[test]
fn cancel_of_unknown_order_gets_order_cancel_reject() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.cancel("C1", "NOPE", Side::Buy);
    let rej = c.expect(&mut h, "9");
    assert_eq!(rej.field(tag::CXL_REJ_RESPONSE_TO), "1");
    assert_eq!(rej.field(tag::CXL_REJ_REASON), "1");
    assert_eq!(rej.field(tag::CL_ORD_ID), "C1");
    assert_eq!(rej.field(tag::ORIG_CL_ORD_ID), "NOPE");
    assert_eq!(rej.field(tag::ORDER_ID), "NONE");
}

#[test]
fn sequence_gap_from_client_gets_resend_request_and_queued_order_runs_after_gap_fill() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.seq = 3; // skip 2
    c.new_order("O1", Side::Buy, 100, px(100));
    let rr = c.expect(&mut h, "2");
    assert_eq!(rr.field(tag::BEGIN_SEQ_NO), "2");
    assert_eq!(rr.field(tag::END_SEQ_NO), "0");
    assert_eq!(
        h.live_orders(),
        0,
        "the out-of-order message waits for the gap"
    );
    c.send_at(2, true, |hd, b| {
        SequenceReset {
            gap_fill: true,
            new_seq_no: 3,
        }
        .encode(hd, b)
    });
    // The queued order is processed once the gap is filled; 3 is not asked for again.
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::CL_ORD_ID), "O1");
    assert_eq!(h.live_orders(), 1);
    c.new_order("O2", Side::Buy, 100, px(99));
    assert_eq!(c.expect(&mut h, "8").field(tag::CL_ORD_ID), "O2");
}

#[test]
fn resend_request_from_client_resends_reports_with_poss_dup_and_gap_fills_the_rest() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.new_order("O1", Side::Buy, 100, px(100));
    let original = c.expect(&mut h, "8");
    assert_eq!(original.field(tag::MSG_SEQ_NUM), "2");
    c.send(|hd, b| {
        ResendRequest {
            begin_seq_no: 1,
            end_seq_no: 0,
        }
        .encode(hd, b)
    });
    let gap = c.expect(&mut h, "4");
    assert_eq!(gap.field(tag::MSG_SEQ_NUM), "1", "the Logon is gap-filled");
    assert_eq!(gap.field(tag::GAP_FILL_FLAG), "Y");
    assert_eq!(gap.field(tag::NEW_SEQ_NO), "2");
    assert_eq!(gap.field(tag::POSS_DUP_FLAG), "Y");
    let again = c.expect(&mut h, "8");
    assert_eq!(again.field(tag::MSG_SEQ_NUM), "2");
    assert_eq!(again.field(tag::POSS_DUP_FLAG), "Y");
    assert_eq!(
        again.field(tag::ORIG_SENDING_TIME),
        original.field(tag::SENDING_TIME)
    );
    for t in [tag::CL_ORD_ID, tag::EXEC_ID, tag::ORDER_ID, tag::LEAVES_QTY] {
        assert_eq!(again.field(t), original.field(t));
    }
    // The next fresh message carries on from 3.
    c.new_order("O2", Side::Buy, 100, px(99));
    assert_eq!(c.expect(&mut h, "8").field(tag::MSG_SEQ_NUM), "3");
}

#[test]
fn message_with_too_low_sequence_number_gets_logout_and_disconnect() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.send_at(1, false, |hd, b| {
        TestRequest { test_req_id: b"T1" }.encode(hd, b)
    });
    let msgs = c.expect_closed(&mut h);
    let logout = msgs.iter().find(|m| m.msg_type() == "5").expect("a Logout");
    assert!(logout
        .field(tag::TEXT)
        .starts_with("MsgSeqNum too low, expecting 2 but received 1"));
}

#[test]
fn relogon_continues_sequence_numbers_unless_reset_is_asked() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    c.new_order("O1", Side::Buy, 100, px(100));
    c.expect(&mut h, "8"); // our 2
    c.send(|hd, b| Logout { text: None }.encode(hd, b));
    let msgs = c.expect_closed(&mut h);
    assert_eq!(msgs.last().map(Msg::msg_type).as_deref(), Some("5"));
    h.settle();
    let mut again = Client::connect(&mut h, "CLIENT");
    again.seq = c.seq;
    let logon = again.logon(&mut h);
    assert_eq!(
        logon.field(tag::MSG_SEQ_NUM),
        "4",
        "1 logon, 2 report, 3 logout"
    );
    drop(again);
    h.settle();
    let mut fresh = Client::connect(&mut h, "CLIENT");
    fresh.send(|hd, b| {
        Logon {
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: true,
        }
        .encode(hd, b)
    });
    let logon = fresh.expect(&mut h, "A");
    assert_eq!(logon.field(tag::MSG_SEQ_NUM), "1");
    assert_eq!(logon.field(tag::RESET_SEQ_NUM_FLAG), "Y");
}

#[test]
fn garbage_is_rejected_or_dropped_and_other_sessions_are_unaffected() {
    let mut h = Harness::new(&[("A", 1, false), ("B", 2, false)]);
    let mut a = logged_on(&mut h, "A");
    // Noise and a frame with a wrong CheckSum: dropped without a word.
    a.write(b"hello\x01world 8=FIX.4.4\x019=5\x0135=0\x0110=000\x01");
    // A well-framed NewOrderSingle without Side(54): Reject(3), seq used up.
    a.send(|hd, b| {
        let mut m = MessageBuilder::new(b, b"D", hd);
        m.str(tag::CL_ORD_ID, b"X1")
            .str(tag::SYMBOL, b"AAPL")
            .timestamp(tag::TRANSACT_TIME, 1_700_000_000_000_000_000)
            .uint(tag::ORDER_QTY, 10)
            .char(tag::ORD_TYPE, b'2')
            .str(tag::PRICE, b"100");
        m.finish()
    });
    let reject = a.expect(&mut h, "3");
    assert_eq!(reject.field(tag::REF_SEQ_NUM), "2");
    assert_eq!(reject.field(tag::REF_TAG_ID), "54");
    assert_eq!(reject.field(tag::SESSION_REJECT_REASON), "1");
    assert_eq!(reject.field(tag::REF_MSG_TYPE), "D");
    // A connection that sends only garbage is closed; it never had a session.
    let mut junk = Client::connect(&mut h, "A");
    junk.write(b"8=FIX.4.4\x019=12\x0135=Z\x01abc\x0110=123\x01GET / HTTP/1.1\r\n\r\n");
    junk.write(&[0xff; 300]);
    h.settle();
    // Both sessions keep working.
    a.send(|hd, b| {
        TestRequest {
            test_req_id: b"PING",
        }
        .encode(hd, b)
    });
    let hb = a.expect(&mut h, "0");
    assert_eq!(hb.field(tag::TEST_REQ_ID), "PING");
    let mut b = logged_on(&mut h, "B");
    b.new_order("B1", Side::Sell, 5, px(100));
    assert_eq!(b.expect(&mut h, "8").field(tag::EXEC_TYPE), "0");
}

#[test]
fn cancel_on_disconnect_cancels_only_the_sessions_that_ask_for_it() {
    let mut h = Harness::new(&[("COD", 1, true), ("KEEP", 2, false)]);
    let mut cod = logged_on(&mut h, "COD");
    let mut keep = logged_on(&mut h, "KEEP");
    cod.new_order("C1", Side::Buy, 100, px(99));
    cod.expect(&mut h, "8");
    cod.new_order("C2", Side::Sell, 100, px(101));
    cod.expect(&mut h, "8");
    keep.new_order("K1", Side::Buy, 100, px(98));
    keep.expect(&mut h, "8");
    assert_eq!(h.live_orders(), 3);
    drop(cod);
    drop(keep);
    h.settle();
    assert_eq!(h.live_orders(), 1, "only the KEEP session's order is left");
    // The cancels were reported while COD was away: a resend after re-logon gets them.
    let mut back = Client::connect(&mut h, "COD");
    back.seq = 4;
    let logon = back.logon(&mut h);
    assert_eq!(
        logon.field(tag::MSG_SEQ_NUM),
        "6",
        "two cancel reports were stored"
    );
    back.send(|hd, b| {
        ResendRequest {
            begin_seq_no: 4,
            end_seq_no: 5,
        }
        .encode(hd, b)
    });
    for _ in 0..2 {
        let er = back.expect(&mut h, "8");
        assert_eq!(er.field(tag::EXEC_TYPE), "4");
        assert_eq!(er.field(tag::POSS_DUP_FLAG), "Y");
    }
}

#[test]
fn silent_client_gets_a_test_request_then_is_disconnected() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = Client::connect(&mut h, "CLIENT");
    c.send(|hd, b| {
        Logon {
            encrypt_method: 0,
            heart_bt_int: 1,
            reset_seq_num_flag: false,
        }
        .encode(hd, b)
    });
    c.expect(&mut h, "A");
    h.skew_ns += 1_300_000_000;
    let tr = c.expect(&mut h, "1");
    assert_eq!(tr.field(tag::TEST_REQ_ID), "TEST1");
    h.skew_ns += 1_300_000_000;
    let msgs = c.expect_closed(&mut h);
    assert!(msgs.iter().any(|m| m.msg_type() == "5"));
}

#[test]
fn second_logon_for_a_connected_session_is_refused_without_disturbing_the_first() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut first = logged_on(&mut h, "CLIENT");
    let mut second = Client::connect(&mut h, "CLIENT");
    second.seq = 2;
    second.send(|hd, b| {
        Logon {
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: false,
        }
        .encode(hd, b)
    });
    let msgs = second.expect_closed(&mut h);
    assert!(msgs[0].field(tag::TEXT).contains("already logged on"));
    first.new_order("O1", Side::Buy, 1, px(100));
    assert_eq!(first.expect(&mut h, "8").field(tag::EXEC_TYPE), "0");
}

#[test]
fn cancel_sent_before_the_order_is_acknowledged_still_cancels_it() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    // Both requests reach the gateway in one read, before any event comes back.
    let mut bytes = vec![0u8; 4096];
    let n = order("O1", Side::Buy, 100, px(100))
        .encode(&c.header(2, false), &mut bytes)
        .expect("encode");
    let m = OrderCancelRequest {
        orig_cl_ord_id: b"O1",
        order_id: None,
        cl_ord_id: b"C1",
        account: None,
        symbol: b"AAPL",
        side: Side::Buy,
        transact_time: 1_700_000_000_000_000_000,
        order_qty: None,
        text: None,
    }
    .encode(&c.header(3, false), &mut bytes[n..])
    .expect("encode");
    c.write(&bytes[..n + m]);
    c.seq = 4;
    assert_eq!(c.expect(&mut h, "8").field(tag::EXEC_TYPE), "0");
    let er = c.expect(&mut h, "8");
    assert_eq!(er.field(tag::EXEC_TYPE), "4");
    assert_eq!(er.field(tag::CL_ORD_ID), "C1");
    assert_eq!(h.live_orders(), 0);
}

#[test]
fn cancel_racing_a_fill_gets_too_late_to_cancel() {
    let mut h = Harness::new(&[("CLIENT", 1, false)]);
    let mut c = logged_on(&mut h, "CLIENT");
    // An IOC order is done within its own command: the cancel behind it is too late.
    let mut bytes = vec![0u8; 4096];
    let ioc = NewOrderSingle {
        time_in_force: Some(TimeInForce::ImmediateOrCancel),
        ..order("I1", Side::Buy, 100, px(100))
    };
    let n = ioc.encode(&c.header(2, false), &mut bytes).expect("encode");
    let m = OrderCancelRequest {
        orig_cl_ord_id: b"I1",
        order_id: None,
        cl_ord_id: b"C1",
        account: None,
        symbol: b"AAPL",
        side: Side::Buy,
        transact_time: 1_700_000_000_000_000_000,
        order_qty: None,
        text: None,
    }
    .encode(&c.header(3, false), &mut bytes[n..])
    .expect("encode");
    c.write(&bytes[..n + m]);
    c.seq = 4;
    assert_eq!(c.expect(&mut h, "8").field(tag::EXEC_TYPE), "0");
    let canceled = c.expect(&mut h, "8");
    assert_eq!(canceled.field(tag::EXEC_TYPE), "4");
    assert_eq!(
        canceled.field(tag::CL_ORD_ID),
        "I1",
        "the IOC rest, not the request"
    );
    let rej = c.expect(&mut h, "9");
    assert_eq!(rej.field(tag::CL_ORD_ID), "C1");
    assert_eq!(rej.field(tag::CXL_REJ_REASON), "0");
    assert_eq!(rej.field(tag::ORD_STATUS), "4");
}
