//! Real UDP on 127.0.0.1: a publisher with a fault injector on lines A and B,
//! a retransmission server answering MoldUDP64 re-requests from its history,
//! and a busy-polling `FeedHandler`. Loopback only, bounded in time.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use quotewire_feed::{
    FeedEvent, FeedHandler, FeedSink, Line, LossReason, Sequencer, SequencerConfig, StartPolicy,
};
use quotewire_protocol::moldudp64::{
    encode_end_of_session, encode_heartbeat, PacketBuilder, Request, Session, HEADER_LEN,
    MAX_PAYLOAD,
};
use quotewire_transport::{UdpConfig, UdpTransport};

fn session() -> Session {
    Session::from_str_padded("LOOP01")
}

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// xorshift64*: deterministic faults without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Message `seq`: its sequence number then a variable filler.
fn history(n: u64) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|seq| {
            let mut m = seq.to_be_bytes().to_vec();
            m.extend(std::iter::repeat_n(
                b'a' + (seq % 26) as u8,
                (seq % 33) as usize,
            ));
            m
        })
        .collect()
}

/// Packs `history[from-1 .. to-1]` into datagrams of at most `per` messages.
fn packetize(history: &[Vec<u8>], from: u64, to: u64, per: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = from;
    while seq < to {
        let mut buf = vec![0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, session(), seq).unwrap();
        while seq < to && u64::from(b.count()) < per {
            let m = &history[(seq - 1) as usize];
            if b.remaining() < m.len() {
                break;
            }
            b.push(m).unwrap();
            seq += 1;
        }
        let n = b.finish();
        buf.truncate(n);
        out.push(buf);
    }
    out
}

fn control(next: u64, end: bool) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN];
    if end {
        encode_end_of_session(session(), next, &mut buf).unwrap();
    } else {
        encode_heartbeat(session(), next, &mut buf).unwrap();
    }
    buf
}

/// Sends `packets` to `a` and `b`, each line with its own faults: drop ~5%,
/// duplicate ~5%, reorder (swap with the next packet) ~5%.
fn publish(packets: &[Vec<u8>], a: SocketAddr, b: SocketAddr, next: u64, seed: u64) {
    let sock = UdpSocket::bind(localhost()).unwrap();
    let mut rng = Rng(seed);
    let mut held: [Option<&Vec<u8>>; 2] = [None, None];
    for (i, p) in packets.iter().enumerate() {
        for (line, dest) in [a, b].into_iter().enumerate() {
            let roll = rng.below(100);
            if roll < 5 {
                continue; // dropped
            }
            if roll < 10 {
                sock.send_to(p, dest).unwrap();
            }
            if roll < 15 && held[line].is_none() {
                held[line] = Some(p); // sent after the next one
                continue;
            }
            sock.send_to(p, dest).unwrap();
            if let Some(h) = held[line].take() {
                sock.send_to(h, dest).unwrap();
            }
        }
        if i % 16 == 15 {
            thread::sleep(Duration::from_micros(100));
        }
    }
    for (line, dest) in [a, b].into_iter().enumerate() {
        if let Some(h) = held[line].take() {
            sock.send_to(h, dest).unwrap();
        }
    }
    // Heartbeats reveal a dropped tail; end of session closes the day.
    for round in 0..6 {
        let pkt = control(next, round >= 3);
        sock.send_to(&pkt, a).unwrap();
        sock.send_to(&pkt, b).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
}

/// Answers re-requests from `history` until `stop`, counting requests served.
fn retransmission_server(
    sock: &UdpSocket,
    history: &[Vec<u8>],
    stop: &AtomicBool,
    served: &AtomicU64,
) {
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let n = history.len() as u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(req) = Request::decode(&buf[..len]) else {
            continue;
        };
        if req.session != session() || req.sequence == 0 || req.sequence > n {
            continue;
        }
        served.fetch_add(1, Ordering::Relaxed);
        let end = (req.sequence + u64::from(req.count)).min(n + 1);
        for p in packetize(history, req.sequence, end, 20) {
            let _ = sock.send_to(&p, from);
        }
    }
}

struct Collect {
    history: Arc<Vec<Vec<u8>>>,
    seqs: Vec<u64>,
    events: Vec<FeedEvent>,
}

impl FeedSink for Collect {
    fn message(&mut self, seq: u64, payload: &[u8]) {
        assert_eq!(
            payload,
            &self.history[(seq - 1) as usize][..],
            "payload of {seq}"
        );
        self.seqs.push(seq);
    }
    fn event(&mut self, event: FeedEvent) {
        self.events.push(event);
    }
}

fn open_lines(server: SocketAddr) -> (UdpTransport, UdpTransport, UdpTransport) {
    let line = || UdpTransport::open(&UdpConfig::unicast(localhost()).with_recv_buffer(4 << 20));
    let retrans = UdpTransport::open(
        &UdpConfig::unicast(localhost())
            .with_recv_buffer(4 << 20)
            .with_destination(server),
    );
    (line().unwrap(), line().unwrap(), retrans.unwrap())
}

#[test]
fn faulty_a_b_lines_with_retransmission_deliver_every_message_once_in_order() {
    const N: u64 = 20_000;
    let history = Arc::new(history(N));
    let server_sock = UdpSocket::bind(localhost()).unwrap();
    let server_addr = server_sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let server = {
        let (h, s, c) = (history.clone(), stop.clone(), served.clone());
        thread::spawn(move || retransmission_server(&server_sock, &h, &s, &c))
    };

    let (a, b, r) = open_lines(server_addr);
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let sequencer = Sequencer::new(SequencerConfig {
        session: Some(session()),
        start: StartPolicy::FromOne,
        reorder_slots: 2048,
        slot_bytes: 1500,
        request_delay_ns: 200_000,
        retry_interval_ns: 5_000_000,
        recovery_timeout_ns: 2_000_000_000,
        max_request: 500,
        stale_after_ns: 0,
    })
    .unwrap();
    let mut handler = FeedHandler::new(sequencer, a, Some(b), Some(r));

    let packets = {
        let mut rng = Rng(0x5EED);
        let mut out = Vec::new();
        let mut seq = 1;
        while seq <= N {
            let per = 1 + rng.below(8);
            let mut p = packetize(&history, seq, (seq + per).min(N + 1), per);
            seq += per;
            out.append(&mut p);
        }
        out
    };
    let publisher = thread::spawn(move || publish(&packets, a_addr, b_addr, N + 1, 0xFA17));

    let mut sink = Collect {
        history,
        seqs: Vec::new(),
        events: Vec::new(),
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(15);
    while !handler.sequencer().is_complete() && Instant::now() < deadline {
        let now = start.elapsed().as_nanos() as u64;
        if handler.poll(now, &mut sink) == 0 {
            std::hint::spin_loop();
        }
    }
    publisher.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();

    let st = *handler.stats();
    assert!(
        handler.sequencer().is_complete(),
        "incomplete: expected {:?}, stats {st:?}",
        handler.sequencer().expected()
    );
    assert_eq!(sink.seqs.len() as u64, N);
    assert!(
        sink.seqs.iter().copied().eq(1..=N),
        "not exactly 1..=N in order"
    );
    assert_eq!(
        (st.lost, st.lost_messages, st.malformed),
        (0, 0, 0),
        "{st:?}"
    );
    assert_eq!(st.messages, N);
    assert!(
        st.gaps > 0,
        "the fault injector should have caused gaps: {st:?}"
    );
    assert_eq!(st.recovered, st.gaps, "{st:?}");
    assert!(
        st.duplicates > 0 && st.line(Line::A).wins > 0 && st.line(Line::B).wins > 0,
        "{st:?}"
    );
    assert!(
        st.requests_sent > 0 && served.load(Ordering::Relaxed) > 0,
        "{st:?}"
    );
    assert!(sink
        .events
        .contains(&FeedEvent::EndOfSession { next: N + 1 }));
    assert!(!sink
        .events
        .iter()
        .any(|e| matches!(e, FeedEvent::GapLost { .. })));
}

#[test]
fn silent_retransmission_server_leads_to_gap_lost_after_the_timeout() {
    const N: u64 = 40;
    let history = Arc::new(history(N));
    // A server that receives re-requests and never answers.
    let mute = UdpSocket::bind(localhost()).unwrap();
    let (a, b, r) = open_lines(mute.local_addr().unwrap());
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let sequencer = Sequencer::new(SequencerConfig {
        session: Some(session()),
        start: StartPolicy::FromOne,
        reorder_slots: 64,
        slot_bytes: 1500,
        request_delay_ns: 0,
        retry_interval_ns: 20_000_000,
        recovery_timeout_ns: 150_000_000,
        max_request: 100,
        stale_after_ns: 0,
    })
    .unwrap();
    let mut handler = FeedHandler::new(sequencer, a, Some(b), Some(r));

    // Packets of 5; the one carrying 11..=15 is lost on both lines.
    let packets = packetize(&history, 1, N + 1, 5);
    let tx = UdpSocket::bind(localhost()).unwrap();
    for (i, p) in packets.iter().enumerate() {
        if i != 2 {
            tx.send_to(p, a_addr).unwrap();
            tx.send_to(p, b_addr).unwrap();
        }
    }

    let mut sink = Collect {
        history,
        seqs: Vec::new(),
        events: Vec::new(),
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(3);
    let lost = |e: &FeedEvent| matches!(e, FeedEvent::GapLost { .. });
    while sink.seqs.len() < (N - 5) as usize && Instant::now() < deadline {
        handler.poll(start.elapsed().as_nanos() as u64, &mut sink);
    }
    let elapsed = start.elapsed();

    let st = *handler.stats();
    let lost_events: Vec<_> = sink.events.iter().copied().filter(lost).collect();
    assert_eq!(
        lost_events,
        vec![FeedEvent::GapLost {
            from: 11,
            to: 15,
            reason: LossReason::Timeout
        }],
        "{st:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(150),
        "lost before the timeout: {elapsed:?}"
    );
    let want: Vec<u64> = (1..=10).chain(16..=N).collect();
    assert_eq!(sink.seqs, want);
    assert_eq!((st.lost, st.lost_messages, st.recovered), (1, 5, 0));
    assert!(st.requests_sent >= 2, "the re-request is retried: {st:?}");
    // The mute server did receive the re-requests for 11..=15.
    mute.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let (len, _) = mute.recv_from(&mut buf).unwrap();
    let req = Request::decode(&buf[..len]).unwrap();
    assert_eq!((req.sequence, req.count), (11, 5));
}
