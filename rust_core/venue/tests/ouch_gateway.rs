//! The OUCH 5.0 / SoupBinTCP 4.0 gateway over real TCP on 127.0.0.1: a small
//! client built from the protocol crate's codecs talks to an `OuchGateway`
//! inside a `runtime::Venue` that the test thread polls. Every wait is bounded.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_protocol::ouch::{self, tag, Appendage, AppendageWriter, Inbound, Outbound};
use quotewire_protocol::soupbintcp::{self, LoginRequest, Packet, StreamFramer};
use quotewire_venue::matching::{
    ClientOrderId, Command, Event, FirmId, InstrumentConfig, MatchingEngine, PriceBand, VenueConfig,
};
use quotewire_venue::ouch_gateway::{
    DisconnectReason, OuchAccount, OuchGateway, OuchGatewayConfig, OuchGatewayStats, OuchSymbol,
};
use quotewire_venue::runtime::{OrderEntry, Venue};

const PX: u64 = 1_000_000; // 100.0000
const TICK: u64 = 100;
const AAPL: InstrumentId = InstrumentId(1);
const MSFT: InstrumentId = InstrumentId(2);
const ALICE: FirmId = FirmId(1);
const BOB: FirmId = FirmId(2);
const CAROL: FirmId = FirmId(3);
const SESSION: &str = "QWIRE00001";
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Venue side.

/// Lets the test read the gateway's counters after handing it to the venue.
struct Shared(Arc<Mutex<OuchGateway>>);

impl OrderEntry for Shared {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poll(now_ns, commands);
    }

    fn on_events(&mut self, now_ns: u64, events: &[Event]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .on_events(now_ns, events);
    }
}

fn account(username: &str, firm: FirmId, cod: bool) -> OuchAccount {
    OuchAccount {
        username: username.to_owned(),
        password: "secret".to_owned(),
        firm,
        cancel_on_disconnect: cod,
    }
}

fn gateway_config() -> OuchGatewayConfig {
    OuchGatewayConfig {
        session: SESSION.to_owned(),
        accounts: vec![
            account("ALICE", ALICE, false),
            account("BOB", BOB, false),
            account("CAROL", CAROL, true),
        ],
        symbols: vec![
            OuchSymbol {
                symbol: "AAPL".to_owned(),
                instrument: AAPL,
            },
            OuchSymbol {
                symbol: "MSFT".to_owned(),
                instrument: MSFT,
            },
        ],
        ..OuchGatewayConfig::default()
    }
}

struct Harness {
    venue: Venue,
    gateway: Arc<Mutex<OuchGateway>>,
    addr: SocketAddr,
    start: Instant,
}

impl Harness {
    fn new(config: &OuchGatewayConfig) -> Self {
        let instrument = |id| InstrumentConfig {
            id,
            tick: Price(TICK as i64),
            band: PriceBand::Range {
                min: Price(900_000),
                max: Price(1_100_000),
            },
            max_order_qty: Qty(1_000_000),
        };
        let engine = MatchingEngine::new(&VenueConfig {
            max_orders: 1024,
            max_band_levels: 4096,
            instruments: vec![instrument(AAPL), instrument(MSFT)],
            ..VenueConfig::default()
        })
        .expect("venue config");
        let gateway = OuchGateway::bind(config).expect("bind");
        let addr = gateway.local_addr();
        let gateway = Arc::new(Mutex::new(gateway));
        let mut venue = Venue::new(engine);
        venue.add_gateway(Box::new(Shared(Arc::clone(&gateway))));
        Self {
            venue,
            gateway,
            addr,
            start: Instant::now(),
        }
    }

    fn now_ns(&self) -> u64 {
        // Offset so that timestamps are never zero.
        1_000_000 + u64::try_from(self.start.elapsed().as_nanos()).unwrap()
    }

    fn tick(&mut self) {
        let now = self.now_ns();
        self.venue.poll_once(now);
        std::thread::sleep(Duration::from_micros(200));
    }

    fn stats(&self) -> OuchGatewayStats {
        *self
            .gateway
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats()
    }

    fn live_orders(&self) -> usize {
        self.venue.engine().live_orders()
    }

    fn resting(&self, firm: FirmId, urn: u32) -> bool {
        self.venue
            .engine()
            .order_by_client(firm, ClientOrderId(u64::from(urn)))
            .is_some()
    }

    /// Polls the venue until `cond` holds; panics after [`WAIT`].
    fn until(&mut self, what: &str, mut cond: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.tick();
        }
    }

    /// Polls the venue for `d` (to show that something does *not* happen).
    fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.tick();
        }
    }

    /// The next packet `client` receives, skipping Server Heartbeats.
    fn next(&mut self, client: &mut Client) -> Pkt {
        let deadline = Instant::now() + WAIT;
        loop {
            client.read_available();
            while let Some(p) = client.pop() {
                if p.kind != soupbintcp::packet_type::SERVER_HEARTBEAT {
                    return p;
                }
            }
            assert!(
                !client.closed,
                "connection closed while waiting for a packet"
            );
            assert!(Instant::now() < deadline, "timed out waiting for a packet");
            self.tick();
        }
    }

    /// The next OUCH message `client` receives (must be Sequenced Data); its raw payload too.
    fn next_ouch(&mut self, client: &mut Client) -> Vec<u8> {
        let p = self.next(client);
        assert_eq!(
            p.kind,
            soupbintcp::packet_type::SEQUENCED_DATA,
            "expected sequenced data, got {:?}",
            char::from(p.kind)
        );
        p.payload
    }

    /// Polls until `client`'s connection is closed by the gateway.
    fn expect_closed(&mut self, client: &mut Client) {
        let deadline = Instant::now() + WAIT;
        loop {
            client.read_available();
            if client.closed {
                return;
            }
            assert!(Instant::now() < deadline, "connection not closed");
            self.tick();
        }
    }

    fn login(&mut self, user: &str, seq: u64) -> (Client, u64) {
        let mut c = Client::connect(self.addr);
        c.send(&Packet::LoginRequest(
            LoginRequest::new(user.as_bytes(), b"secret", b"", seq).unwrap(),
        ));
        let p = self.next(&mut c);
        let Ok(Packet::LoginAccepted(a)) = Packet::decode(&p.raw) else {
            panic!("login of {user} not accepted: {:?}", p.raw)
        };
        assert_eq!(soupbintcp::trim_alpha(&a.session), SESSION.as_bytes());
        (c, a.sequence_number)
    }
}

// ---------------------------------------------------------------------------
// Test client.

/// One received SoupBinTCP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pkt {
    kind: u8,
    payload: Vec<u8>,
    /// The whole packet as received, length prefix included.
    raw: Vec<u8>,
}

struct Client {
    stream: TcpStream,
    framer: StreamFramer,
    inbox: std::collections::VecDeque<Pkt>,
    closed: bool,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.set_nonblocking(true).unwrap();
        Self {
            stream,
            framer: StreamFramer::new(4096),
            inbox: std::collections::VecDeque::new(),
            closed: false,
        }
    }

    fn write_all(&mut self, mut bytes: &[u8]) {
        let deadline = Instant::now() + WAIT;
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "client write timed out");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("client write failed: {e}"),
            }
        }
    }

    fn send(&mut self, p: &Packet<'_>) {
        let mut buf = vec![0u8; p.encoded_len()];
        p.encode(&mut buf).unwrap();
        self.write_all(&buf);
    }

    fn send_ouch<'a>(&mut self, m: impl Into<Inbound<'a>>) {
        let m = m.into();
        let mut buf = vec![0u8; m.encoded_len()];
        m.encode(&mut buf).unwrap();
        self.send(&Packet::UnsequencedData(&buf));
    }

    fn read_available(&mut self) {
        while !self.closed {
            let spare = self.framer.spare();
            match self.stream.read(spare) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.framer.commit(n);
                    while let Some(p) = self.framer.next_packet().expect("server framing") {
                        let mut raw = vec![0u8; p.encoded_len()];
                        p.encode(&mut raw).unwrap();
                        self.inbox.push_back(Pkt {
                            kind: p.packet_type(),
                            payload: raw[3..].to_vec(),
                            raw,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Reset by the peer: closed as well.
                Err(_) => self.closed = true,
            }
        }
    }

    /// Closes gracefully (FIN, not RST): reads what is pending first.
    fn close(mut self) {
        self.read_available();
        drop(self);
    }

    fn pop(&mut self) -> Option<Pkt> {
        self.inbox.pop_front()
    }
}

// ---------------------------------------------------------------------------
// OUCH builders.

fn enter(
    urn: u32,
    side: ouch::Side,
    qty: u32,
    symbol: &[u8],
    price: u64,
) -> ouch::EnterOrder<'static> {
    ouch::EnterOrder {
        user_ref_num: urn,
        side,
        quantity: qty,
        symbol: soupbintcp::alpha(symbol, "symbol").unwrap(),
        price,
        time_in_force: b'0',
        display: b'Y',
        capacity: b'A',
        intermarket_sweep_eligibility: b'N',
        cross_type: b'N',
        cl_ord_id: soupbintcp::alpha(format!("C{urn}").as_bytes(), "cl_ord_id").unwrap(),
        appendage: Appendage::EMPTY,
    }
}

fn replace(orig: u32, urn: u32, qty: u32, price: u64) -> ouch::ReplaceOrder<'static> {
    ouch::ReplaceOrder {
        orig_user_ref_num: orig,
        user_ref_num: urn,
        quantity: qty,
        price,
        time_in_force: b'0',
        display: b'Y',
        intermarket_sweep_eligibility: b'N',
        cl_ord_id: soupbintcp::alpha(format!("R{urn}").as_bytes(), "cl_ord_id").unwrap(),
        appendage: Appendage::EMPTY,
    }
}

fn cancel(urn: u32, qty: u32) -> ouch::CancelOrder {
    ouch::CancelOrder {
        user_ref_num: urn,
        quantity: qty,
    }
}

fn decode(m: &[u8]) -> Outbound<'_> {
    ouch::decode_outbound(m).expect("decodable OUCH outbound")
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn login_accepted_with_session_and_next_sequence_number() {
    let mut h = Harness::new(&gateway_config());
    let (_alice, seq) = h.login("alice", 0);
    assert_eq!(seq, 1);
    assert_eq!(h.stats().logins, 1);
}

#[test]
fn bad_password_unknown_session_and_second_login_are_rejected() {
    let mut h = Harness::new(&gateway_config());
    let reject = |h: &mut Harness, user: &[u8], pw: &[u8], session: &[u8]| {
        let mut c = Client::connect(h.addr);
        c.send(&Packet::LoginRequest(
            LoginRequest::new(user, pw, session, 0).unwrap(),
        ));
        let p = h.next(&mut c);
        h.expect_closed(&mut c);
        match Packet::decode(&p.raw) {
            Ok(Packet::LoginRejected(r)) => r,
            other => panic!("expected a login reject, got {other:?}"),
        }
    };
    assert_eq!(
        reject(&mut h, b"ALICE", b"wrong", b""),
        soupbintcp::RejectReason::NotAuthorized
    );
    assert_eq!(
        reject(&mut h, b"EVE", b"secret", b""),
        soupbintcp::RejectReason::NotAuthorized
    );
    assert_eq!(
        reject(&mut h, b"ALICE", b"secret", b"OTHER"),
        soupbintcp::RejectReason::SessionNotAvailable
    );
    // The session name itself is fine, in any case.
    let mut c = Client::connect(h.addr);
    c.send(&Packet::LoginRequest(
        LoginRequest::new(b"alice", b"SECRET", b"qwire00001", 0).unwrap(),
    ));
    assert!(matches!(
        Packet::decode(&h.next(&mut c).raw),
        Ok(Packet::LoginAccepted(_))
    ));
    // One login per account at a time.
    assert_eq!(
        reject(&mut h, b"ALICE", b"secret", b""),
        soupbintcp::RejectReason::NotAuthorized
    );
    assert_eq!(h.stats().disconnects(DisconnectReason::LoginRejected), 4);
    // The first session is unaffected.
    c.send_ouch(enter(1, ouch::Side::Buy, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut c)),
        Outbound::OrderAccepted(_)
    ));
}

#[test]
fn enter_replace_cancel_are_accepted_replaced_canceled() {
    let mut h = Harness::new(&gateway_config());
    let (mut c, _) = h.login("ALICE", 0);

    c.send_ouch(enter(10, ouch::Side::Buy, 100, b"AAPL", PX));
    let m = h.next_ouch(&mut c);
    let Outbound::OrderAccepted(a) = decode(&m) else {
        panic!("expected Order Accepted")
    };
    assert_eq!((a.user_ref_num, a.quantity, a.price), (10, 100, PX));
    assert_eq!((a.side, a.order_state), (ouch::Side::Buy, b'L'));
    assert_eq!(soupbintcp::trim_alpha(&a.symbol), b"AAPL");
    assert_eq!(soupbintcp::trim_alpha(&a.cl_ord_id), b"C10");
    assert!(h.resting(ALICE, 10));

    c.send_ouch(replace(10, 11, 80, PX - TICK));
    let m = h.next_ouch(&mut c);
    let Outbound::OrderReplaced(r) = decode(&m) else {
        panic!("expected Order Replaced")
    };
    assert_eq!((r.orig_user_ref_num, r.user_ref_num), (10, 11));
    assert_eq!((r.quantity, r.price), (80, PX - TICK));
    assert_ne!(r.order_reference_number, a.order_reference_number);
    assert_eq!(soupbintcp::trim_alpha(&r.cl_ord_id), b"R11");
    assert!(h.resting(ALICE, 11) && !h.resting(ALICE, 10));

    // Partial cancel: intended size 50 leaves 50 open, decrement 30.
    c.send_ouch(cancel(11, 50));
    let msg = h.next_ouch(&mut c);
    let Outbound::OrderCanceled(x) = decode(&msg) else {
        panic!("expected Order Canceled")
    };
    assert_eq!((x.user_ref_num, x.quantity, x.reason), (11, 30, b'U'));
    c.send_ouch(cancel(11, 0));
    let msg = h.next_ouch(&mut c);
    let Outbound::OrderCanceled(x) = decode(&msg) else {
        panic!("expected Order Canceled")
    };
    assert_eq!((x.user_ref_num, x.quantity, x.reason), (11, 50, b'U'));
    assert_eq!(h.live_orders(), 0);

    // Cancelling it again: Cancel Reject.
    c.send_ouch(cancel(11, 0));
    assert!(matches!(
        decode(&h.next_ouch(&mut c)),
        Outbound::CancelReject(ouch::CancelReject {
            user_ref_num: 11,
            ..
        })
    ));

    // A UserRefNum that does not increase: Rejected, no order.
    c.send_ouch(enter(11, ouch::Side::Buy, 5, b"AAPL", PX));
    let msg = h.next_ouch(&mut c);
    let Outbound::Rejected(j) = decode(&msg) else {
        panic!("expected Rejected")
    };
    assert_eq!((j.user_ref_num, j.reason), (11, 0x000F));
    // Unknown symbol and off-tick price.
    c.send_ouch(enter(12, ouch::Side::Buy, 5, b"GOOG", PX));
    let msg = h.next_ouch(&mut c);
    let Outbound::Rejected(j) = decode(&msg) else {
        panic!("expected Rejected")
    };
    assert_eq!((j.user_ref_num, j.reason), (12, 0x0017));
    c.send_ouch(enter(13, ouch::Side::Buy, 5, b"AAPL", PX + 1));
    let msg = h.next_ouch(&mut c);
    let Outbound::Rejected(j) = decode(&msg) else {
        panic!("expected Rejected")
    };
    assert_eq!((j.user_ref_num, j.reason), (13, 0x001D));

    // IOC (Time In Force '3') on an empty book: accepted, then canceled 'I'.
    let mut ioc = enter(14, ouch::Side::Sell, 7, b"MSFT", PX);
    ioc.time_in_force = b'3';
    c.send_ouch(ioc);
    assert!(matches!(
        decode(&h.next_ouch(&mut c)),
        Outbound::OrderAccepted(_)
    ));
    let msg = h.next_ouch(&mut c);
    let Outbound::OrderCanceled(x) = decode(&msg) else {
        panic!("expected Order Canceled")
    };
    assert_eq!((x.user_ref_num, x.quantity, x.reason), (14, 7, b'I'));

    // Account Query: next expected UserRefNum.
    c.send_ouch(ouch::AccountQuery {});
    let msg = h.next_ouch(&mut c);
    let Outbound::AccountQueryResponse(q) = decode(&msg) else {
        panic!("expected Account Query Response")
    };
    assert_eq!(q.next_user_ref_num, 15);
    assert_eq!(h.live_orders(), 0);
}

#[test]
fn post_only_that_would_take_is_rejected_and_one_that_rests_is_echoed() {
    let mut h = Harness::new(&gateway_config());
    let (mut alice, _) = h.login("ALICE", 0);
    let (mut bob, _) = h.login("BOB", 0);
    alice.send_ouch(enter(1, ouch::Side::Sell, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderAccepted(_)
    ));

    let mut buf = [0u8; 8];
    let mut w = AppendageWriter::new(&mut buf);
    w.push_u8(tag::POST_ONLY, b'P').unwrap();
    let appendage = w.finish().unwrap();
    let post_only = |urn, price| ouch::EnterOrder {
        appendage,
        ..enter(urn, ouch::Side::Buy, 10, b"AAPL", price)
    };
    bob.send_ouch(post_only(1, PX));
    let msg = h.next_ouch(&mut bob);
    let Outbound::Rejected(j) = decode(&msg) else {
        panic!("expected Rejected")
    };
    assert_eq!(j.reason, 0x0012);
    bob.send_ouch(post_only(2, PX - TICK));
    let m = h.next_ouch(&mut bob);
    let Outbound::OrderAccepted(a) = decode(&m) else {
        panic!("expected Order Accepted")
    };
    assert_eq!(a.appendage.get_u8(tag::POST_ONLY), Some(b'P'));
    assert_eq!(h.live_orders(), 2);
}

#[test]
fn two_accounts_crossing_both_get_executed() {
    let mut h = Harness::new(&gateway_config());
    let (mut alice, _) = h.login("ALICE", 0);
    let (mut bob, _) = h.login("BOB", 0);

    alice.send_ouch(enter(1, ouch::Side::Sell, 100, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderAccepted(_)
    ));
    bob.send_ouch(enter(7, ouch::Side::Buy, 30, b"AAPL", PX + 5 * TICK));
    assert!(matches!(
        decode(&h.next_ouch(&mut bob)),
        Outbound::OrderAccepted(_)
    ));

    let msg = h.next_ouch(&mut bob);
    let Outbound::OrderExecuted(b) = decode(&msg) else {
        panic!("expected Order Executed for the buyer")
    };
    let msg = h.next_ouch(&mut alice);
    let Outbound::OrderExecuted(a) = decode(&msg) else {
        panic!("expected Order Executed for the seller")
    };
    assert_eq!(
        (a.user_ref_num, a.quantity, a.price, a.liquidity_flag),
        (1, 30, PX, b'A')
    );
    assert_eq!(
        (b.user_ref_num, b.quantity, b.price, b.liquidity_flag),
        (7, 30, PX, b'R')
    );
    assert_eq!(a.match_number, b.match_number);
    assert!(a.match_number > 0);
    assert_eq!(
        h.venue
            .engine()
            .order_by_client(ALICE, ClientOrderId(1))
            .map(|o| o.qty),
        Some(Qty(70))
    );

    // Cancel's Quantity is the intended size with executed shares: 50 leaves 20 open.
    alice.send_ouch(cancel(1, 50));
    let msg = h.next_ouch(&mut alice);
    let Outbound::OrderCanceled(x) = decode(&msg) else {
        panic!("expected Order Canceled")
    };
    assert_eq!(x.quantity, 50);
    assert_eq!(
        h.venue
            .engine()
            .order_by_client(ALICE, ClientOrderId(1))
            .map(|o| o.qty),
        Some(Qty(20))
    );
}

#[test]
fn relogin_from_sequence_one_replays_byte_for_byte_and_from_next_replays_nothing() {
    let mut h = Harness::new(&gateway_config());
    let (mut alice, first) = h.login("ALICE", 1);
    assert_eq!(first, 1);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    alice.send_ouch(enter(1, ouch::Side::Sell, 100, b"AAPL", PX));
    alice.send_ouch(enter(2, ouch::Side::Sell, 100, b"MSFT", PX));
    alice.send_ouch(replace(2, 3, 60, PX + TICK));
    alice.send_ouch(cancel(1, 0));
    for _ in 0..4 {
        seen.push(h.next(&mut alice).raw);
    }
    alice.send(&Packet::LogoutRequest);
    h.expect_closed(&mut alice);
    assert_eq!(h.stats().disconnects(DisconnectReason::Logout), 1);

    // While Alice is away, Bob trades against her replaced MSFT order.
    let (mut bob, _) = h.login("BOB", 0);
    bob.send_ouch(enter(1, ouch::Side::Buy, 10, b"MSFT", PX + TICK));
    assert!(matches!(
        decode(&h.next_ouch(&mut bob)),
        Outbound::OrderAccepted(_)
    ));
    assert!(matches!(
        decode(&h.next_ouch(&mut bob)),
        Outbound::OrderExecuted(_)
    ));

    let (mut again, start) = h.login("ALICE", 1);
    assert_eq!(start, 1);
    for (i, want) in seen.iter().enumerate() {
        let got = h.next(&mut again).raw;
        assert_eq!(&got, want, "replayed message {} differs", i + 1);
    }
    let missed = h.next_ouch(&mut again);
    let Outbound::OrderExecuted(x) = decode(&missed) else {
        panic!("expected the execution that happened while logged out")
    };
    assert_eq!(
        (x.user_ref_num, x.quantity, x.liquidity_flag),
        (3, 10, b'A')
    );
    again.send(&Packet::LogoutRequest);
    h.expect_closed(&mut again);

    // From the next sequence number (and from 0): nothing is replayed.
    for requested in [6, 0] {
        let (mut fresh, start) = h.login("ALICE", requested);
        assert_eq!(start, 6);
        h.run_for(Duration::from_millis(200));
        fresh.read_available();
        let data: Vec<_> = std::iter::from_fn(|| fresh.pop())
            .filter(|p| p.kind != soupbintcp::packet_type::SERVER_HEARTBEAT)
            .collect();
        assert!(data.is_empty(), "unexpected replay: {data:?}");
        fresh.send(&Packet::LogoutRequest);
        h.expect_closed(&mut fresh);
    }

    // From the middle: exactly the tail.
    let (mut mid, start) = h.login("ALICE", 3);
    assert_eq!(start, 3);
    assert_eq!(h.next(&mut mid).raw, seen[2]);
    assert_eq!(h.next(&mut mid).raw, seen[3]);
    assert_eq!(h.next_ouch(&mut mid), missed);
}

#[test]
fn cancel_on_disconnect_pulls_only_the_orders_of_accounts_that_ask_for_it() {
    let mut h = Harness::new(&gateway_config());
    let (mut carol, _) = h.login("CAROL", 0);
    let (mut alice, _) = h.login("ALICE", 0);
    carol.send_ouch(enter(1, ouch::Side::Buy, 10, b"AAPL", PX - TICK));
    carol.send_ouch(enter(2, ouch::Side::Sell, 10, b"AAPL", PX + TICK));
    carol.send_ouch(enter(3, ouch::Side::Buy, 10, b"MSFT", PX - TICK));
    alice.send_ouch(enter(1, ouch::Side::Buy, 10, b"MSFT", PX - 2 * TICK));
    for _ in 0..3 {
        assert!(matches!(
            decode(&h.next_ouch(&mut carol)),
            Outbound::OrderAccepted(_)
        ));
    }
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderAccepted(_)
    ));
    // Entered and dropped in the same breath: still cancelled.
    carol.send_ouch(enter(4, ouch::Side::Sell, 10, b"MSFT", PX + TICK));
    assert_eq!(h.live_orders(), 4);

    carol.close();
    alice.close();
    h.until("cancel-on-disconnect", |h| {
        let s = h.stats();
        s.disconnects(DisconnectReason::PeerClosed) + s.disconnects(DisconnectReason::IoError) == 2
            && h.live_orders() == 1
            && (1..=4).all(|urn| !h.resting(CAROL, urn))
    });
    assert!(h.resting(ALICE, 1));
    h.run_for(Duration::from_millis(50));
    assert_eq!(h.live_orders(), 1);

    // Carol's cancels were logged while she was away (reason: user).
    let (mut carol, start) = h.login("CAROL", 4);
    assert_eq!(start, 4);
    assert!(
        matches!(decode(&h.next_ouch(&mut carol)), Outbound::OrderAccepted(a) if a.user_ref_num == 4)
    );
    let mut canceled: Vec<u32> = (0..4)
        .map(|_| match decode(&h.next_ouch(&mut carol)) {
            Outbound::OrderCanceled(c) => {
                assert_eq!((c.quantity, c.reason), (10, b'U'));
                c.user_ref_num
            }
            other => panic!("expected Order Canceled, got {other:?}"),
        })
        .collect();
    canceled.sort_unstable();
    assert_eq!(canceled, [1, 2, 3, 4]);
}

#[test]
fn garbage_closes_that_connection_only() {
    let mut h = Harness::new(&gateway_config());
    let (mut alice, _) = h.login("ALICE", 0);

    // Zero Packet Length: the stream cannot be resynchronised.
    let (mut bob, _) = h.login("BOB", 0);
    bob.write_all(&[0, 0, 0xde, 0xad, 0xbe, 0xef]);
    h.expect_closed(&mut bob);
    assert_eq!(h.stats().disconnects(DisconnectReason::BadFraming), 1);

    // Unsequenced Data that is not OUCH.
    let (mut bob, _) = h.login("BOB", 0);
    bob.send(&Packet::UnsequencedData(b"Zgarbage"));
    h.expect_closed(&mut bob);
    assert_eq!(h.stats().disconnects(DisconnectReason::BadOuch), 1);

    // Data before login.
    let mut anon = Client::connect(h.addr);
    anon.send(&Packet::ClientHeartbeat);
    h.expect_closed(&mut anon);
    assert_eq!(h.stats().disconnects(DisconnectReason::NotLoggedIn), 1);

    // Unknown packet type.
    let mut anon = Client::connect(h.addr);
    anon.write_all(&[0, 1, b'?']);
    h.expect_closed(&mut anon);
    assert_eq!(h.stats().disconnects(DisconnectReason::BadPacket), 1);

    // Alice carries on.
    alice.send_ouch(enter(1, ouch::Side::Buy, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderAccepted(_)
    ));
    // And Bob can log in again.
    let (mut bob, _) = h.login("BOB", 0);
    bob.send_ouch(enter(1, ouch::Side::Sell, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut bob)),
        Outbound::OrderAccepted(_)
    ));
    assert!(matches!(
        decode(&h.next_ouch(&mut bob)),
        Outbound::OrderExecuted(_)
    ));
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderExecuted(_)
    ));
}

#[test]
fn heartbeats_arrive_when_idle_and_a_silent_client_is_dropped() {
    let config = OuchGatewayConfig {
        heartbeat_interval: Duration::from_millis(50),
        client_timeout: Duration::from_millis(600),
        ..gateway_config()
    };
    let mut h = Harness::new(&config);
    let (mut talker, _) = h.login("ALICE", 0);
    let (mut silent, _) = h.login("BOB", 0);
    let mut heartbeats = 0;
    let deadline = Instant::now() + WAIT;
    let mut last_r = Instant::now();
    while heartbeats < 5 {
        assert!(
            Instant::now() < deadline,
            "too few heartbeats: {heartbeats}"
        );
        h.tick();
        if last_r.elapsed() > Duration::from_millis(50) {
            talker.send(&Packet::ClientHeartbeat);
            last_r = Instant::now();
        }
        talker.read_available();
        while let Some(p) = talker.pop() {
            assert_eq!(p.kind, soupbintcp::packet_type::SERVER_HEARTBEAT);
            heartbeats += 1;
        }
    }
    h.expect_closed(&mut silent);
    assert_eq!(h.stats().disconnects(DisconnectReason::ClientTimeout), 1);
    // The talker, heartbeating, is still there.
    talker.send_ouch(enter(1, ouch::Side::Buy, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut talker)),
        Outbound::OrderAccepted(_)
    ));
}

#[test]
fn end_of_session_sends_system_event_then_z_and_refuses_logins() {
    let mut h = Harness::new(&gateway_config());
    let (mut alice, _) = h.login("ALICE", 0);
    alice.send_ouch(enter(1, ouch::Side::Buy, 10, b"AAPL", PX));
    assert!(matches!(
        decode(&h.next_ouch(&mut alice)),
        Outbound::OrderAccepted(_)
    ));
    let now = h.now_ns();
    h.gateway
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .end_session(now);
    let msg = h.next_ouch(&mut alice);
    let Outbound::SystemEvent(e) = decode(&msg) else {
        panic!("expected System Event")
    };
    assert_eq!(e.event_code, b'E');
    assert_eq!(
        h.next(&mut alice).kind,
        soupbintcp::packet_type::END_OF_SESSION
    );
    h.expect_closed(&mut alice);
    // No cancel-on-disconnect at end of session; no more logins.
    assert_eq!(h.live_orders(), 1);
    let mut c = Client::connect(h.addr);
    c.send(&Packet::LoginRequest(
        LoginRequest::new(b"CAROL", b"secret", b"", 0).unwrap(),
    ));
    assert_eq!(
        Packet::decode(&h.next(&mut c).raw),
        Ok(Packet::LoginRejected(
            soupbintcp::RejectReason::SessionNotAvailable
        ))
    );
}

#[test]
fn invalid_configurations_are_refused() {
    use quotewire_venue::ouch_gateway::OuchGatewayError as E;
    let with = |f: &dyn Fn(&mut OuchGatewayConfig)| {
        let mut c = gateway_config();
        f(&mut c);
        OuchGateway::bind(&c).err()
    };
    assert!(matches!(
        with(&|c| c.accounts[0].username = "TOOLONGNAME".into()),
        Some(E::InvalidUsername(_))
    ));
    assert!(matches!(
        with(&|c| c.accounts[1].username = "alice".into()),
        Some(E::DuplicateUsername(_))
    ));
    assert!(matches!(
        with(&|c| c.accounts[1].firm = ALICE),
        Some(E::DuplicateFirm(_))
    ));
    assert!(matches!(
        with(&|c| c.session = "ELEVENCHARS".into()),
        Some(E::InvalidSession(_))
    ));
    assert!(matches!(
        with(&|c| c.symbols[1].instrument = AAPL),
        Some(E::DuplicateSymbol(_))
    ));
    assert!(matches!(
        with(&|c| c.symbols[0].symbol = "A B".into()),
        Some(E::InvalidSymbol(_))
    ));
}
