//! `OuchClient` against a real venue (`RunningVenue` on 127.0.0.1, its own
//! thread) and, for what the venue cannot be made to do on demand (go silent,
//! end the session), against a scripted SoupBinTCP server. Every wait is
//! bounded; time only drives the protocol, nothing is measured.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, TimeInForce};
use quotewire_core::{Price, Qty, Side};
use quotewire_gateway::{
    LostReason, OrderGateway, OuchClient, OuchClientConfig, SessionEvent, SessionStatus,
};
use quotewire_protocol::ouch::{self, Outbound};
use quotewire_protocol::soupbintcp::{LoginAccepted, Packet, StreamFramer};
use quotewire_venue::matching::FirmId;
use quotewire_venue::ouch_gateway::{OuchAccount, OuchGatewayConfig};
use quotewire_venue::server::{RunningVenue, ServerConfig};

mod common;

use common::*;

const SESSION: &str = "QWIRE00001";

// ---------------------------------------------------------------------------
// Venue.

fn account(username: &str, firm: u32, cod: bool) -> OuchAccount {
    OuchAccount {
        username: username.to_owned(),
        password: "secret".to_owned(),
        firm: FirmId(firm),
        cancel_on_disconnect: cod,
    }
}

fn venue(client_timeout: Duration) -> RunningVenue {
    let config = ServerConfig {
        matching: matching(),
        symbols: vec![(AAPL, "AAPL".to_owned())],
        ouch: Some(OuchGatewayConfig {
            session: SESSION.to_owned(),
            accounts: vec![
                account("ALICE", 1, false),
                account("BOB", 2, false),
                account("CAROL", 3, true),
            ],
            heartbeat_interval: Duration::from_millis(100),
            client_timeout,
            ..OuchGatewayConfig::default()
        }),
        fix: None,
        itch: None,
        extra: Vec::new(),
    };
    RunningVenue::start(config).expect("venue starts")
}

fn addr(v: &RunningVenue) -> SocketAddr {
    v.endpoints().ouch.expect("OUCH enabled")
}

// ---------------------------------------------------------------------------
// Client side.

fn config(addr: SocketAddr, user: &str) -> OuchClientConfig {
    let mut c = OuchClientConfig::new(addr, user, "secret");
    c.symbols = vec![(AAPL, "AAPL".to_owned())];
    c.heartbeat_interval_ns = 50 * MS;
    c.server_timeout_ns = 2_000 * MS;
    c.reconnect_backoff_ns = 50 * MS;
    c
}

type Driver = common::Driver<OuchClient>;

impl TestClient for OuchClient {
    type Config = OuchClientConfig;

    fn build(config: OuchClientConfig) -> Self {
        Self::new(config).expect("valid config")
    }

    fn diag(&self) -> String {
        format!("stats {:?}", self.stats())
    }
}

// ---------------------------------------------------------------------------
// Against the venue.

#[test]
fn fresh_login_replays_from_one_and_becomes_ready_at_user_ref_num_one() {
    let v = venue(Duration::from_secs(15));
    let mut d = Driver::new(config(addr(&v), "ALICE"));
    assert_eq!(d.client.status(), SessionStatus::Connecting);
    assert_eq!(
        d.client.send(0, &buy(1, PX, 100)),
        Err(quotewire_gateway::GatewayError::NotReady)
    );
    d.ready();
    assert_eq!(
        d.rec.events,
        vec![
            SessionEvent::LoggedIn { next_seq: 1 },
            SessionEvent::Ready {
                next_cl: ClOrdId(1)
            }
        ]
    );
    assert_eq!(d.client.state().session, *b"QWIRE00001");
    // The Account Query Response was sequenced message 1.
    assert_eq!(d.client.state().next_seq, 2);
}

#[test]
fn enter_replace_cancel_and_a_trade_give_the_right_reports() {
    let v = venue(Duration::from_secs(15));
    let mut alice = Driver::new(config(addr(&v), "ALICE"));
    let mut bob = Driver::new(config(addr(&v), "BOB"));
    alice.ready();
    bob.ready();

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

    alice.send(&replace(1, 2, PX + TICK, 60));
    alice.reports(2);
    let ExecReport::Replaced {
        orig,
        cl,
        price,
        qty,
        venue_id: new_id,
        ..
    } = alice.rec.reports[1]
    else {
        panic!("expected Replaced, got {:?}", alice.rec.reports[1]);
    };
    assert_eq!(
        (orig, cl, price, qty),
        (ClOrdId(1), ClOrdId(2), Price(PX + TICK), Qty(60))
    );
    assert_ne!(new_id, venue_id);

    // Bob sells 25 into Alice's bid: both sides get an Executed, same match.
    bob.send(&order(1, Side::Sell, PX, 25, TimeInForce::Ioc));
    alice.reports(3);
    bob.until("bob's fill", |d| !d.rec.executed().is_empty());
    let ExecReport::Executed {
        cl,
        qty,
        price,
        liquidity,
        match_number,
        ..
    } = alice.rec.reports[2]
    else {
        panic!("expected Executed, got {:?}", alice.rec.reports[2]);
    };
    assert_eq!(
        (cl, qty, price, liquidity),
        (ClOrdId(2), Qty(25), Price(PX + TICK), b'A')
    );
    assert_eq!(bob.rec.executed(), vec![(ClOrdId(1), match_number)]);

    alice.send(&cancel(2));
    alice.reports(4);
    assert_eq!(
        alice.rec.reports[3],
        ExecReport::Canceled {
            cl: ClOrdId(2),
            qty: Qty(35),
            reason: CancelReason::User,
            ts_ns: ts_of(&alice.rec.reports[3])
        }
    );

    // An off-tick price is rejected; a cancel of a dead order is refused.
    alice.send(&buy(3, PX + 1, 10));
    alice.send(&cancel(2));
    alice.reports(6);
    assert!(matches!(
        alice.rec.reports[4],
        ExecReport::Rejected {
            cl: ClOrdId(3),
            reason: 0x1D,
            ..
        }
    ));
    assert!(matches!(
        alice.rec.reports[5],
        ExecReport::CancelRejected { cl: ClOrdId(2), .. }
    ));
    assert_eq!(alice.client.state().highest_cl, 3);
    assert_eq!(alice.rec.lost(), 0);
}

#[test]
fn client_heartbeats_keep_the_session_alive_past_the_venue_client_timeout() {
    let v = venue(Duration::from_millis(300));
    let mut d = Driver::new(config(addr(&v), "ALICE"));
    d.ready();
    d.run_for(Duration::from_millis(1_200));
    assert_eq!(d.rec.lost(), 0, "events {:?}", d.rec.events);
    assert_eq!(d.client.status(), SessionStatus::Ready);
    let s = d.client.stats();
    assert_eq!(s.connects, 1);
    assert!(s.heartbeats_out >= 10, "{s:?}");
    assert!(s.heartbeats_in >= 5, "{s:?}");
}

#[test]
fn without_client_heartbeats_the_venue_drops_the_session_and_the_client_reconnects() {
    let v = venue(Duration::from_millis(300));
    let mut c = config(addr(&v), "ALICE");
    c.heartbeat_interval_ns = 60_000 * MS;
    let mut d = Driver::new(c);
    d.ready();
    d.until("the venue's timeout", |d| d.rec.lost() >= 1);
    assert!(d.rec.events.contains(&SessionEvent::Lost {
        reason: LostReason::PeerClosed
    }));
    d.until("a second Ready", |d| d.rec.readies().len() >= 2);
    assert!(d.client.stats().reconnects >= 1);
}

/// Alice rests `n` bids, drops her connection, Bob trades them all while she
/// is away; her reconnect replays exactly those fills.
#[test]
fn a_dropped_connection_reconnects_and_the_replay_delivers_what_happened_while_down() {
    let v = venue(Duration::from_secs(15));
    let mut alice = Driver::new(config(addr(&v), "ALICE"));
    let mut bob = Driver::new(config(addr(&v), "BOB"));
    alice.ready();
    bob.ready();
    let n = 5;
    for cl in 1..=n {
        alice.send(&buy(cl, PX, 10));
    }
    alice.reports(n as usize);
    let seq_before = alice.client.state().next_seq;

    alice.client.disconnect();
    bob.send(&order(
        1,
        Side::Sell,
        PX,
        10 * u64::from(n),
        TimeInForce::Ioc,
    ));
    bob.until("bob's fills", |d| d.rec.executed().len() == n as usize);

    alice.until("reconnected", |d| d.rec.readies().len() == 2);
    // Everything up to the new Account Query Response has been delivered.
    assert_eq!(
        alice
            .rec
            .events
            .iter()
            .filter(|e| **e
                == SessionEvent::Lost {
                    reason: LostReason::Local
                })
            .count(),
        1
    );
    assert!(alice.rec.events.contains(&SessionEvent::LoggedIn {
        next_seq: seq_before
    }));
    let fills = alice.rec.executed();
    assert_eq!(fills.len(), n as usize, "reports {:?}", alice.rec.reports);
    let bob_matches: Vec<u64> = bob.rec.executed().iter().map(|(_, m)| *m).collect();
    let alice_matches: Vec<u64> = fills.iter().map(|(_, m)| *m).collect();
    assert_eq!(alice_matches, bob_matches);
    assert_eq!(alice.rec.readies()[1], ClOrdId(n + 1));
    assert_eq!(alice.client.stats().reconnects, 1);
    // Nothing else was delivered twice.
    assert_eq!(alice.rec.reports.len(), 2 * n as usize);
}

#[test]
fn cancel_on_disconnect_cancels_are_reported_once_after_the_reconnect() {
    let v = venue(Duration::from_secs(15));
    let mut carol = Driver::new(config(addr(&v), "CAROL"));
    carol.ready();
    carol.send(&buy(1, PX, 10));
    carol.send(&buy(2, PX - TICK, 20));
    carol.reports(2);
    carol.client.disconnect();
    carol.until("the cancels", |d| {
        d.rec.reports.len() >= 4 && d.rec.readies().len() == 2
    });
    carol.run_for(Duration::from_millis(100));
    let mut cancels: Vec<(ClOrdId, Qty)> = carol
        .rec
        .reports
        .iter()
        .filter_map(|r| match r {
            ExecReport::Canceled { cl, qty, .. } => Some((*cl, *qty)),
            _ => None,
        })
        .collect();
    cancels.sort();
    assert_eq!(cancels, vec![(ClOrdId(1), Qty(10)), (ClOrdId(2), Qty(20))]);
    assert_eq!(carol.rec.reports.len(), 4);
}

#[test]
fn a_restart_with_the_same_state_file_relogs_at_the_right_sequence_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alice.state");
    let v = venue(Duration::from_secs(15));
    let with_state = |p: &Path| {
        let mut c = config(addr(&v), "ALICE");
        c.state_file = Some(p.to_owned());
        c
    };

    let mut first = Driver::new(with_state(&state));
    first.ready();
    for cl in 1..=3 {
        first.send(&buy(cl, PX, 10));
    }
    first.reports(3);
    let next_seq = first.client.state().next_seq;
    let now = first.now();
    first.client.close(now).unwrap();
    assert_eq!(first.client.status(), SessionStatus::Ended);
    drop(first);

    // While Alice is away, Bob trades against her first order.
    let mut bob = Driver::new(config(addr(&v), "BOB"));
    bob.ready();
    bob.send(&order(1, Side::Sell, PX, 10, TimeInForce::Ioc));
    bob.until("bob's fill", |d| d.rec.executed().len() == 1);

    let mut second = Driver::new(with_state(&state));
    assert_eq!(second.client.state().next_seq, next_seq);
    assert_eq!(second.client.state().highest_cl, 3);
    second.ready();
    assert_eq!(
        second.rec.events,
        vec![
            SessionEvent::LoggedIn { next_seq },
            SessionEvent::Ready {
                next_cl: ClOrdId(4)
            }
        ]
    );
    // Only what happened since: the fill, not the three accepts again.
    assert_eq!(second.rec.executed().len(), 1);
    assert_eq!(second.rec.reports.len(), 1);
    // And the next id is accepted.
    second.send(&buy(4, PX, 10));
    second.reports(2);
    assert!(matches!(
        second.rec.reports[1],
        ExecReport::Accepted { cl: ClOrdId(4), .. }
    ));
}

#[test]
fn a_wrong_password_is_reported_as_login_rejected_and_not_retried() {
    let v = venue(Duration::from_secs(15));
    let mut c = config(addr(&v), "ALICE");
    c.password = "wrong".to_owned();
    let mut d = Driver::new(c);
    d.until("the rejection", |d| {
        d.client.status() == SessionStatus::Down
    });
    assert_eq!(
        d.rec.events,
        vec![SessionEvent::LoginRejected { reason: b'A' }]
    );
    d.run_for(Duration::from_millis(300));
    assert_eq!(d.client.stats().connects, 1);
    assert_eq!(d.client.status(), SessionStatus::Down);
}

#[test]
fn connect_refused_is_lost_and_retried_with_backoff() {
    // A port nobody listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut d = Driver::new(config(port, "ALICE"));
    d.until("two failures", |d| d.rec.lost() >= 2);
    assert!(d.rec.events.iter().all(|e| *e
        == SessionEvent::Lost {
            reason: LostReason::ConnectFailed
        }));
    assert!(d.client.stats().reconnects >= 1);
    assert_eq!(d.client.stats().connects, 0);
}

// ---------------------------------------------------------------------------
// Against a scripted server.

fn write_packet(s: &mut TcpStream, p: &Packet<'_>) {
    let mut b = vec![0; p.encoded_len()];
    p.encode(&mut b).unwrap();
    s.write_all(&b).unwrap();
}

/// Accepts one connection, reads its Login Request, logs it in and answers
/// its Account Query; returns the stream and the requested sequence number.
fn scripted_login(listener: &TcpListener) -> (TcpStream, u64) {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut framer = StreamFramer::new(1024);
    let mut requested = None;
    let mut queried = false;
    let mut accepted = false;
    while requested.is_none() || !queried {
        let n = s.read(framer.spare()).unwrap();
        assert!(n > 0, "client closed");
        framer.commit(n);
        while let Some(p) = framer.next_packet().unwrap() {
            match p {
                Packet::LoginRequest(l) => requested = Some(l.requested_sequence_number),
                Packet::UnsequencedData(b"Q") => queried = true,
                _ => {}
            }
        }
        if let Some(seq) = requested.filter(|_| !accepted) {
            accepted = true;
            write_packet(
                &mut s,
                &Packet::LoginAccepted(LoginAccepted {
                    session: *b"SCRIPTED  ",
                    sequence_number: seq,
                }),
            );
        }
    }
    let mut q = [0u8; ouch::AccountQueryResponse::LEN];
    Outbound::AccountQueryResponse(ouch::AccountQueryResponse {
        timestamp: 1,
        next_user_ref_num: 1,
    })
    .encode(&mut q)
    .unwrap();
    write_packet(&mut s, &Packet::SequencedData(&q));
    (s, requested.unwrap_or(0))
}

#[test]
fn a_silent_server_times_out_and_the_client_logs_in_again_at_the_next_sequence() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = config(listener.local_addr().unwrap(), "ALICE");
    c.server_timeout_ns = 200 * MS;
    let server = std::thread::spawn(move || {
        let (first, seq1) = scripted_login(&listener);
        // Silent from now on; keep the socket open.
        let (_second, seq2) = scripted_login(&listener);
        drop(first);
        (seq1, seq2)
    });
    let mut d = Driver::new(c);
    d.until("the timeout and a new login", |d| {
        d.rec.readies().len() == 2
    });
    assert!(d.rec.events.contains(&SessionEvent::Lost {
        reason: LostReason::ServerTimeout
    }));
    let (seq1, seq2) = server.join().unwrap();
    assert_eq!((seq1, seq2), (1, 2));
}

#[test]
fn end_of_session_from_the_server_ends_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = config(listener.local_addr().unwrap(), "ALICE");
    let server = std::thread::spawn(move || {
        let (mut s, _) = scripted_login(&listener);
        write_packet(&mut s, &Packet::EndOfSession);
        // Whatever the client does next, no new connection is expected.
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        listener.accept().is_err()
    });
    let mut d = Driver::new(c);
    d.until("the end", |d| d.client.status() == SessionStatus::Ended);
    assert_eq!(d.rec.events.last(), Some(&SessionEvent::EndOfSession));
    d.run_for(Duration::from_millis(300));
    assert!(
        server.join().unwrap(),
        "the client reconnected after End of Session"
    );
    assert_eq!(
        d.client.send(0, &buy(1, PX, 1)),
        Err(quotewire_gateway::GatewayError::NotReady)
    );
}
