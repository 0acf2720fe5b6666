//! The ITCH publisher over real UDP on 127.0.0.1: its output rebuilds the
//! matching engine's books exactly, a `FeedHandler` recovers every message
//! through the fault switch via the retransmission server, and the edges
//! (malformed requests, history limits, heartbeats, end of session) hold.
//! Every wait is bounded by a deadline.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use quotewire_book::{BookConfig, BookSet};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};
use quotewire_feed::{FeedEvent, FeedHandler, FeedSink, Sequencer, SequencerConfig, StartPolicy};
use quotewire_protocol::itch::{self, Message};
use quotewire_protocol::moldudp64::{Packet, PacketKind, Request, Session, REQUEST_LEN};
use quotewire_transport::{Transport, UdpConfig, UdpTransport};
use quotewire_venue::matching::{
    CancelOrder, ClientOrderId, Command, Event, FirmId, InstrumentConfig, MatchingEngine, NewOrder,
    OrderType, PriceBand, ReplaceEffect, ReplaceOrder, VenueConfig,
};
use quotewire_venue::publisher::{FaultConfig, ItchPublisher, PublisherConfig};
use quotewire_venue::runtime::{MarketDataOut, Venue};

const PX: i64 = 1_000_000;
const TICK: i64 = 100;
const INSTRUMENTS: [(u16, &str); 3] = [(1, "QWAA"), (2, "QWBB"), (5, "QWEE")];
const SESSION: &str = "QWTEST0001";

fn venue_config() -> VenueConfig {
    VenueConfig {
        max_orders: 4096,
        max_band_levels: 256,
        instruments: INSTRUMENTS
            .iter()
            .map(|&(id, _)| InstrumentConfig {
                id: InstrumentId(id),
                tick: Price(TICK),
                band: PriceBand::Range {
                    min: Price(PX - 20 * TICK),
                    max: Price(PX + 20 * TICK),
                },
                max_order_qty: Qty(500),
            })
            .collect(),
        ..VenueConfig::default()
    }
}

fn publisher_config(destination: SocketAddrV4) -> PublisherConfig {
    INSTRUMENTS.iter().fold(
        PublisherConfig::new(SESSION, destination),
        |c, &(id, sym)| c.with_instrument(InstrumentId(id), sym),
    )
}

fn loopback_any() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// Line A of a feed: a unicast receiver on loopback with a large buffer.
fn open_line() -> (UdpTransport, SocketAddrV4) {
    let line = UdpTransport::open(&UdpConfig::unicast(loopback_any()).with_recv_buffer(8 << 20))
        .expect("open line A");
    let std::net::SocketAddr::V4(addr) = line.local_addr() else {
        panic!("IPv4 expected");
    };
    (line, addr)
}

/// xorshift64 for the order flow (no rand dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn price(&mut self, side: Side) -> Price {
        // Biased so that buys and sells overlap by a few ticks: plenty of crossing.
        let offset = self.below(9) as i64 - 4;
        let skew = if side == Side::Buy { -1 } else { 1 };
        Price(PX + (offset + skew) * TICK)
    }
}

/// A random command: limit, IOC, post-only, cancel (full or reduce), replace.
fn random_command(rng: &mut Rng, ts: u64) -> Command {
    let ts = Timestamp(ts);
    let firm = FirmId(1 + rng.below(3) as u32);
    let client_id = ClientOrderId(1 + rng.below(25));
    match rng.below(100) {
        0..=54 => {
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let order_type = match rng.below(100) {
                0..=69 => OrderType::Limit,
                70..=84 => OrderType::Ioc,
                _ => OrderType::PostOnly,
            };
            Command::New(NewOrder {
                ts,
                firm,
                client_id,
                instrument: InstrumentId(INSTRUMENTS[rng.below(3) as usize].0),
                side,
                price: rng.price(side),
                qty: Qty(1 + rng.below(200)),
                order_type,
            })
        }
        55..=74 => Command::Cancel(CancelOrder {
            ts,
            firm,
            client_id,
            leave_qty: Qty(if rng.below(2) == 0 { 0 } else { rng.below(100) }),
        }),
        _ => {
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let new_id = if rng.below(2) == 0 {
                client_id
            } else {
                ClientOrderId(1 + rng.below(25))
            };
            Command::Replace(ReplaceOrder {
                ts,
                firm,
                orig_client_id: client_id,
                client_id: new_id,
                // The order's side is unknown here: a random side's price
                // still lands on either side of the touch.
                price: rng.price(side),
                qty: Qty(1 + rng.below(200)),
            })
        }
    }
}

/// Applies decoded ITCH to a `BookSet`, checking sequence order and that
/// every book operation succeeds.
struct Rebuilt {
    books: BookSet,
    next_seq: u64,
    messages: u64,
    /// Message type counts by tag byte.
    tags: [u64; 256],
    system_events: Vec<u8>,
    directory: Vec<(u16, [u8; 8])>,
    feed_events: Vec<FeedEvent>,
}

impl Rebuilt {
    fn new() -> Self {
        Self {
            books: BookSet::new(BookConfig {
                max_orders: 8192,
                max_instruments: 16,
                levels_per_side: 64,
            }),
            next_seq: 1,
            messages: 0,
            tags: [0; 256],
            system_events: Vec::new(),
            directory: Vec::new(),
            feed_events: Vec::new(),
        }
    }

    fn apply(&mut self, seq: u64, bytes: &[u8]) {
        assert_eq!(
            seq, self.next_seq,
            "message out of order or repeated; feed events: {:?}",
            self.feed_events
        );
        self.next_seq += 1;
        self.messages += 1;
        let msg = itch::decode(bytes).expect("publisher output decodes");
        self.tags[usize::from(msg.tag())] += 1;
        let locate = InstrumentId(msg.stock_locate());
        let applied = match msg {
            Message::SystemEvent(s) => {
                self.system_events.push(s.event_code);
                Ok(())
            }
            Message::StockDirectory(r) => {
                self.directory.push((r.stock_locate, r.stock));
                Ok(())
            }
            Message::AddOrder(a) => self.books.add(
                locate,
                OrderId(a.order_ref),
                a.side,
                Price(i64::from(a.price)),
                Qty(u64::from(a.shares)),
            ),
            Message::OrderExecuted(e) => self
                .books
                .execute(OrderId(e.order_ref), Qty(u64::from(e.executed_shares)))
                .map(|x| assert_eq!(x.instrument, locate)),
            Message::OrderCancel(x) => self
                .books
                .cancel(OrderId(x.order_ref), Qty(u64::from(x.cancelled_shares)))
                .map(|x| assert_eq!(x.instrument, locate)),
            Message::OrderDelete(d) => self
                .books
                .delete(OrderId(d.order_ref))
                .map(|x| assert_eq!(x.instrument, locate)),
            Message::OrderReplace(u) => self
                .books
                .replace(
                    OrderId(u.original_order_ref),
                    OrderId(u.new_order_ref),
                    Price(i64::from(u.price)),
                    Qty(u64::from(u.shares)),
                )
                .map(|x| assert_eq!(x.instrument, locate)),
            other => panic!("unexpected ITCH message {other:?}"),
        };
        applied.unwrap_or_else(|e| panic!("seq {seq}: {msg:?} does not apply: {e}"));
    }

    fn tag(&self, t: u8) -> u64 {
        self.tags[usize::from(t)]
    }
}

impl FeedSink for Rebuilt {
    fn message(&mut self, seq: u64, payload: &[u8]) {
        self.apply(seq, payload);
    }

    fn event(&mut self, event: FeedEvent) {
        self.feed_events.push(event);
    }
}

/// The rebuilt book equals the engine's: every level (price, qty, count) and
/// every queue (order refs and quantities, in priority order), both sides.
fn assert_books_equal(engine: &MatchingEngine, books: &BookSet) {
    for &(id, _) in &INSTRUMENTS {
        let inst = InstrumentId(id);
        for side in [Side::Buy, Side::Sell] {
            let want: Vec<_> = engine
                .levels(inst, side)
                .map(|l| (l.price, l.qty, l.count))
                .collect();
            let got: Vec<_> = books
                .book(inst)
                .map(|b| b.levels(side).map(|l| (l.price, l.qty, l.count)).collect())
                .unwrap_or_default();
            assert_eq!(got, want, "{inst:?} {side:?} levels");
            for &(price, _, _) in &want {
                let want_q: Vec<_> = engine
                    .queue(inst, side, price)
                    .map(|o| (o.order_ref, o.qty))
                    .collect();
                let got_q: Vec<_> = books.queue(inst, side, price).collect();
                assert_eq!(got_q, want_q, "{inst:?} {side:?} queue at {price:?}");
            }
        }
        let bbo = engine.bbo(inst);
        let book_bbo = books.book(inst).map(|b| b.bbo()).unwrap_or_default();
        assert_eq!(
            book_bbo.bid.map(|l| (l.price, l.qty)),
            bbo.bid.map(|l| (l.price, l.qty))
        );
        assert_eq!(
            book_bbo.ask.map(|l| (l.price, l.qty)),
            bbo.ask.map(|l| (l.price, l.qty))
        );
    }
    assert_eq!(books.live_orders(), engine.live_orders());
}

/// Which mapping rows the order flow exercised.
#[derive(Debug, Default)]
struct Coverage {
    booked: u64,
    executed: u64,
    on_book_partial_cancels: u64,
    on_book_deletes: u64,
    off_book_cancels: u64,
    in_place_reductions: u64,
    requeued: u64,
    reentered: u64,
    rejected: u64,
}

impl Coverage {
    fn count(&mut self, events: &[Event]) {
        for e in events {
            match e {
                Event::Booked(_) => self.booked += 1,
                Event::Executed(_) => self.executed += 1,
                Event::Canceled(c) if !c.on_book => self.off_book_cancels += 1,
                Event::Canceled(c) if c.remaining.0 > 0 => self.on_book_partial_cancels += 1,
                Event::Canceled(_) => self.on_book_deletes += 1,
                Event::Replaced(r) => match r.effect {
                    ReplaceEffect::InPlace if r.qty < r.old_qty => self.in_place_reductions += 1,
                    ReplaceEffect::InPlace => {}
                    ReplaceEffect::Requeued => self.requeued += 1,
                    ReplaceEffect::Reentered => self.reentered += 1,
                },
                Event::Rejected(_) => self.rejected += 1,
                Event::Accepted(_) => {}
            }
        }
    }

    fn assert_every_row_exercised(&self) {
        let rows = [
            self.booked,
            self.executed,
            self.on_book_partial_cancels,
            self.on_book_deletes,
            self.off_book_cancels,
            self.in_place_reductions,
            self.requeued,
            self.reentered,
            self.rejected,
        ];
        assert!(rows.iter().all(|&n| n > 0), "{self:?}");
    }
}

/// Receives and applies line A's datagrams until `until_seq` is reached
/// (or the deadline passes); returns the packet kinds seen.
fn drain_line(
    line: &mut UdpTransport,
    rebuilt: &mut Rebuilt,
    until_seq: u64,
    within: Duration,
) -> Vec<PacketKind> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65_536];
    let mut kinds = Vec::new();
    loop {
        while let Some(rx) = line.recv(&mut buf).expect("recv") {
            let p = Packet::decode(&buf[..rx.len]).expect("valid MoldUDP64");
            assert_eq!(p.header.session, Session::from_str_padded(SESSION));
            kinds.push(p.header.kind());
            if p.header.kind() == PacketKind::Data {
                assert!(rx.len <= quotewire_protocol::moldudp64::MAX_PAYLOAD);
            } else {
                assert_eq!(
                    p.header.sequence, rebuilt.next_seq,
                    "heartbeat/EOS sequence"
                );
            }
            for (seq, msg) in p.messages() {
                rebuilt.apply(seq, msg);
            }
        }
        if rebuilt.next_seq >= until_seq || Instant::now() > deadline {
            return kinds;
        }
        std::hint::spin_loop();
    }
}

#[test]
fn itch_output_rebuilds_the_engine_book_after_random_order_flow() {
    let (mut line, dest) = open_line();
    let publisher = ItchPublisher::new(&publisher_config(dest)).unwrap();
    let handle = publisher.handle();
    let mut venue = Venue::new(MatchingEngine::new(&venue_config()).unwrap());
    venue.add_market_data(Box::new(publisher));
    let mut rebuilt = Rebuilt::new();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut coverage = Coverage::default();
    let t0 = 34_200_000_000_000; // 09:30 in ns since midnight

    for i in 0..4000u64 {
        let now = t0 + i * 1000;
        let cmd = random_command(&mut rng, now);
        coverage.count(venue.submit(now, &cmd));
        venue.poll_once(now);
        drain_line(
            &mut line,
            &mut rebuilt,
            handle.next_sequence(),
            Duration::from_secs(2),
        );
        assert_eq!(rebuilt.next_seq, handle.next_sequence(), "command {i}");
        assert_books_equal(venue.engine(), &rebuilt.books);
    }

    coverage.assert_every_row_exercised();
    assert_eq!(&rebuilt.system_events[..3], b"OSQ");
    let want_dir: Vec<_> = INSTRUMENTS
        .iter()
        .map(|&(id, sym)| {
            let mut s = [b' '; 8];
            s[..sym.len()].copy_from_slice(sym.as_bytes());
            (id, s)
        })
        .collect();
    assert_eq!(rebuilt.directory, want_dir);
    for t in [b'A', b'E', b'X', b'D', b'U'] {
        assert!(rebuilt.tag(t) > 0, "no {} message", t as char);
    }
    let stats = handle.stats();
    assert_eq!(stats.messages, rebuilt.messages);
    assert_eq!(
        (
            stats.dropped,
            stats.duplicated,
            stats.reordered,
            stats.send_errors
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(stats.unpublished_events, 0);
    eprintln!("coverage: {coverage:?}");
    eprintln!("publisher: {stats:?}");
}

#[test]
fn one_command_spanning_several_datagrams_is_split_in_sequence() {
    let (mut line, dest) = open_line();
    let mut cfg = publisher_config(dest);
    cfg.max_payload = 120; // three or four messages per datagram
    let mut publisher = ItchPublisher::new(&cfg).unwrap();
    let mut engine = MatchingEngine::new(&venue_config()).unwrap();
    let mut events = Vec::with_capacity(256);
    let inst = InstrumentId(1);
    let order = |firm, id, side, price, qty| {
        Command::New(NewOrder {
            ts: Timestamp(1),
            firm: FirmId(firm),
            client_id: ClientOrderId(id),
            instrument: inst,
            side,
            price: Price(price),
            qty: Qty(qty),
            order_type: OrderType::Limit,
        })
    };
    let mut rebuilt = Rebuilt::new();
    for id in 0..12u64 {
        events.clear();
        engine.process(
            &order(1, id + 1, Side::Sell, PX + (id as i64 % 4) * TICK, 10),
            &mut events,
        );
        publisher.on_events(1_000, &events);
    }
    let before = publisher.stats().datagrams;
    // One sweep: twelve executions and the rest booked, in one `on_events`.
    events.clear();
    engine.process(&order(2, 1, Side::Buy, PX + 10 * TICK, 130), &mut events);
    publisher.on_events(2_000, &events);
    let sweep_datagrams = publisher.stats().datagrams - before;
    assert!(sweep_datagrams >= 3, "{sweep_datagrams}");
    drain_line(
        &mut line,
        &mut rebuilt,
        publisher.next_sequence(),
        Duration::from_secs(2),
    );
    assert_eq!(rebuilt.next_seq, publisher.next_sequence());
    assert_eq!(rebuilt.tag(b'E'), 12);
    assert_books_equal(&engine, &rebuilt.books);
}

fn now_ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[test]
fn feed_handler_recovers_every_message_through_drops_duplicates_and_reorders() {
    let (line_a, dest) = open_line();
    let mut cfg = publisher_config(dest);
    cfg.faults = FaultConfig {
        drop_ppm: 50_000,
        duplicate_ppm: 50_000,
        reorder_ppm: 50_000,
        seed: 0xC0FF_EE00_D15E_A5E5,
    };
    cfg.heartbeat_interval_ns = 50_000_000;
    cfg.max_hold_ns = 500_000;
    let publisher = ItchPublisher::new(&cfg).unwrap();
    let handle = publisher.handle();
    let retransmit = UdpTransport::open(
        &UdpConfig::unicast(loopback_any())
            .with_destination(publisher.retransmit_addr())
            .with_recv_buffer(8 << 20),
    )
    .unwrap();
    let sequencer = Sequencer::new(SequencerConfig {
        session: Some(Session::from_str_padded(SESSION)),
        start: StartPolicy::FromOne,
        // The loop makes a datagram every few microseconds: a request delay
        // in real time would let the reorder store overflow first.
        request_delay_ns: 0,
        reorder_slots: 1024,
        retry_interval_ns: 20_000_000,
        recovery_timeout_ns: 10_000_000_000,
        stale_after_ns: 0,
        ..SequencerConfig::default()
    })
    .unwrap();
    let mut feed: FeedHandler<UdpTransport> =
        FeedHandler::new(sequencer, line_a, None, Some(retransmit));
    let mut venue = Venue::new(MatchingEngine::new(&venue_config()).unwrap());
    venue.add_market_data(Box::new(publisher));
    let mut rebuilt = Rebuilt::new();
    let mut rng = Rng(0xFEED_0000_2222_3333);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);

    for _ in 0..4000 {
        let now = now_ns(t0);
        let cmd = random_command(&mut rng, now);
        venue.submit(now, &cmd);
        venue.poll_once(now);
        for _ in 0..4 {
            feed.poll(now_ns(t0), &mut rebuilt);
        }
    }
    handle.request_end_session();
    while !(feed.sequencer().is_complete() && handle.is_ended()) {
        assert!(Instant::now() < deadline, "feed did not complete in time");
        let now = now_ns(t0);
        venue.poll_once(now);
        feed.poll(now, &mut rebuilt);
    }

    let p = handle.stats();
    let f = *feed.stats();
    eprintln!("publisher: {p:?}");
    eprintln!(
        "feed: messages {} packets {} duplicates {} dup msgs {} gaps {} recovered {} lost {} \
         buffered {} requests {} sent {} retransmit packets {}",
        f.messages,
        f.packets,
        f.duplicates,
        f.duplicate_messages,
        f.gaps,
        f.recovered,
        f.lost,
        f.buffered,
        f.requests,
        f.requests_sent,
        f.lines[2].packets
    );
    // Every message exactly once and in order (`Rebuilt::apply` asserts the order).
    assert_eq!(rebuilt.messages, handle.next_sequence() - 1);
    assert_eq!(f.messages, rebuilt.messages);
    assert_eq!((f.lost, f.lost_messages, f.malformed), (0, 0, 0));
    assert!(f.gaps > 0 && f.recovered > 0, "no gap was exercised");
    assert!(f.duplicates > 0 && f.buffered > 0);
    assert!(p.dropped > 0 && p.duplicated > 0 && p.reordered > 0);
    assert!(p.requests_served > 0 && p.messages_resent > 0);
    assert_eq!((p.malformed_requests, p.send_errors), (0, 0));
    assert!(rebuilt
        .feed_events
        .iter()
        .any(|e| matches!(e, FeedEvent::EndOfSession { .. })));
    assert_eq!(
        &rebuilt.system_events[rebuilt.system_events.len() - 3..],
        b"MEC"
    );
    assert_books_equal(venue.engine(), &rebuilt.books);
}

fn request(session: &str, sequence: u64, count: u16) -> [u8; REQUEST_LEN] {
    let mut buf = [0u8; REQUEST_LEN];
    Request {
        session: Session::from_str_padded(session),
        sequence,
        count,
    }
    .encode(&mut buf)
    .unwrap();
    buf
}

/// Waits for one datagram on a blocking std socket with a timeout.
fn recv_reply(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn malformed_requests_history_limits_heartbeats_and_end_of_session() {
    let (mut line, dest) = open_line();
    let mut cfg = publisher_config(dest);
    cfg.history = 16;
    cfg.heartbeat_interval_ns = 10_000_000;
    let mut publisher = ItchPublisher::new(&cfg).unwrap();
    let handle = publisher.handle();
    let mut engine = MatchingEngine::new(&venue_config()).unwrap();
    let mut rebuilt = Rebuilt::new();
    let t0 = Instant::now();
    let client = UdpSocket::bind(loopback_any()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    client.connect(publisher.retransmit_addr()).unwrap();

    // Thirty resting orders: 5 start-of-session messages + 30 adds.
    let mut events = Vec::with_capacity(16);
    for id in 1..=30u64 {
        events.clear();
        let cmd = Command::New(NewOrder {
            ts: Timestamp(id),
            firm: FirmId(1),
            client_id: ClientOrderId(id),
            instrument: InstrumentId(2),
            side: Side::Buy,
            price: Price(PX - (id as i64 % 5) * TICK),
            qty: Qty(id),
            order_type: OrderType::Limit,
        });
        engine.process(&cmd, &mut events);
        publisher.on_events(now_ns(t0), &events);
    }
    let last_data = Instant::now();
    let next = publisher.next_sequence();
    assert_eq!(next, 1 + 6 + 30);
    drain_line(&mut line, &mut rebuilt, next, Duration::from_secs(2));
    assert_eq!(rebuilt.next_seq, next);

    // Malformed: short, long, wrong session, sequence 0, count 0. None is fatal.
    let long = [0u8; 40];
    for bad in [
        &b"hello"[..],
        &long[..],
        &request("OTHER", 1, 1)[..],
        &request(SESSION, 0, 1)[..],
        &request(SESSION, 20, 0)[..],
    ] {
        client.send(bad).unwrap();
    }
    // In history: the last 16 messages are 21..=36.
    client.send(&request(SESSION, 30, 4)).unwrap();
    // Partly too old: 18..=22 asked, 21..=22 available.
    client.send(&request(SESSION, 18, 5)).unwrap();
    // Entirely too old: nothing to send.
    client.send(&request(SESSION, 2, 3)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while publisher.stats().malformed_requests + publisher.stats().requests_out_of_history < 7 {
        assert!(Instant::now() < deadline, "{:?}", publisher.stats());
        publisher.poll(now_ns(t0));
    }
    let s = *publisher.stats();
    assert_eq!(s.malformed_requests, 5);
    assert_eq!(s.requests_out_of_history, 2);
    assert_eq!(s.requests_served, 2);
    assert_eq!(s.messages_resent, 4 + 2);

    let reply = recv_reply(&client).expect("reply to 30..=33");
    let p = Packet::decode(&reply).unwrap();
    let got: Vec<u64> = p.messages().map(|(seq, _)| seq).collect();
    assert_eq!(got, vec![30, 31, 32, 33]);
    let reply = recv_reply(&client).expect("reply to 21..=22");
    let p = Packet::decode(&reply).unwrap();
    let resent: Vec<(u64, Vec<u8>)> = p.messages().map(|(s, m)| (s, m.to_vec())).collect();
    assert_eq!(resent.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [21, 22]);
    let Ok(Message::AddOrder(a)) = itch::decode(&resent[0].1) else {
        panic!("message 21 is an add");
    };
    assert_eq!(a.order_ref, 21 - 6); // order refs start at 1 after 6 session messages

    // Idle: heartbeats carrying the next sequence number, one per interval.
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.stats().heartbeats < 3 {
        assert!(Instant::now() < deadline, "no heartbeats when idle");
        publisher.poll(now_ns(t0));
    }
    // Three intervals of 10 ms since the last data (less the clock reads' skew).
    assert!(
        last_data.elapsed() >= Duration::from_millis(25),
        "heartbeats too early"
    );
    let kinds = drain_line(&mut line, &mut rebuilt, u64::MAX, Duration::from_millis(50));
    let heartbeats = kinds
        .iter()
        .filter(|&&k| k == PacketKind::Heartbeat)
        .count();
    assert_eq!(kinds.len(), heartbeats, "{kinds:?}");
    assert_eq!(publisher.stats().heartbeats, heartbeats as u64);

    // End of session through the handle, serviced by poll.
    handle.request_end_session();
    publisher.poll(now_ns(t0));
    assert!(handle.is_ended() && publisher.is_ended());
    let kinds = drain_line(&mut line, &mut rebuilt, u64::MAX, Duration::from_millis(50));
    assert_eq!(kinds, [PacketKind::Data, PacketKind::EndOfSession]);
    assert_eq!(&rebuilt.system_events[3..], b"MEC");
    // Events after the end are not published; idle repeats the end of session.
    publisher.on_events(now_ns(t0), &events);
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.stats().end_of_session < 3 {
        assert!(Instant::now() < deadline, "end of session not repeated");
        publisher.poll(now_ns(t0));
    }
    let kinds = drain_line(&mut line, &mut rebuilt, u64::MAX, Duration::from_millis(50));
    assert_eq!(kinds, [PacketKind::EndOfSession; 2]);
    let s = handle.stats();
    assert_eq!(s.messages, next - 1 + 3);
    assert!(s.unpublished_events > 0);
    assert_eq!(s.end_of_session, 3);
    eprintln!("publisher: {s:?}");
}

#[test]
fn multicast_group_on_loopback_carries_the_feed() {
    let group = Ipv4Addr::new(239, 255, 77, 11);
    let probe = UdpSocket::bind(loopback_any()).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let Ok(mut line) = UdpTransport::open(&UdpConfig::multicast(group, port, Ipv4Addr::LOCALHOST))
    else {
        eprintln!("skipped: cannot join a multicast group on loopback here");
        return;
    };
    let mut publisher =
        ItchPublisher::new(&publisher_config(SocketAddrV4::new(group, port))).unwrap();
    publisher.start_session(1);
    let mut rebuilt = Rebuilt::new();
    drain_line(
        &mut line,
        &mut rebuilt,
        publisher.next_sequence(),
        Duration::from_secs(1),
    );
    if rebuilt.messages == 0 {
        eprintln!("skipped: loopback does not deliver multicast here");
        return;
    }
    assert_eq!(rebuilt.next_seq, publisher.next_sequence());
    assert_eq!(rebuilt.system_events, b"OSQ");
}
