//! The live engine reading its feed through DPDK: the venue simulator runs in
//! a network namespace behind a veth pair and multicasts ITCH over MoldUDP64
//! out of it; the engine takes the feed off the host end with DPDK's
//! `net_af_packet` (`feed.transport = "dpdk"`), quotes, and enters orders over
//! the normal OUCH TCP session to the venue across the same veth. Its books
//! equal the venue's published ones (rebuilt from a kernel socket's copy of
//! the feed up to the sequence number the engine reached) and the venue
//! acknowledges its orders.
//!
//! Needs the `dpdk` feature built against libdpdk, root and iproute2 (`ip`);
//! without them it says why and returns. One test per file: the EAL starts
//! once per process.
#![cfg(feature = "dpdk")]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use quotewire_book::{BookConfig, Level};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_engine::market_data::MarketData;
use quotewire_engine::trading::bench::bench_trader_config;
use quotewire_engine::trading::config::{DpdkFeedSection, FeedTransport, OuchSection};
use quotewire_engine::trading::{LiveEngine, SnapshotRecord};
use quotewire_feed::Line;
use quotewire_protocol::moldudp64::Packet;
use quotewire_testkit::netns::{self, Veth};
use quotewire_transport::{Transport, UdpConfig, UdpTransport};
use quotewire_venue::background::{BackgroundConfig, BackgroundFlow, BackgroundInstrument};
use quotewire_venue::matching::{FirmId, InstrumentConfig, MatchingEngine, PriceBand, VenueConfig};
use quotewire_venue::ouch_gateway::{OuchAccount, OuchGatewayConfig};
use quotewire_venue::publisher::PublisherConfig;
use quotewire_venue::runtime::OrderEntry;
use quotewire_venue::server::{BoxedGatewayFactory, RunningVenue, ServerConfig};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 78, 0, 1);
const FEED_PORT: u16 = 26_578;
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const VENUE_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const INSTRUMENTS: u16 = 2;
const OUR_FIRM: u32 = 1;

/// The venue: two instruments with a background market, OUCH for firm 1,
/// ITCH multicast out of the namespace's veth end.
fn venue_config() -> ServerConfig {
    let mids = [1_000_000_i64, 2_500_000];
    let ids = (1..=INSTRUMENTS).map(InstrumentId);
    let matching = VenueConfig {
        instruments: ids
            .clone()
            .zip(mids)
            .map(|(id, mid)| InstrumentConfig {
                id,
                tick: Price(100),
                band: PriceBand::Range {
                    min: Price(mid / 2),
                    max: Price(mid * 3 / 2),
                },
                max_order_qty: Qty(1_000_000),
            })
            .collect(),
        ..VenueConfig::default()
    };
    let mut itch = PublisherConfig::new("QWDPDK", SocketAddrV4::new(GROUP, FEED_PORT));
    itch.bind = SocketAddrV4::new(VENUE_IP, 0);
    itch.retransmit_bind = SocketAddrV4::new(VENUE_IP, 0);
    itch.heartbeat_interval_ns = 200_000_000;
    itch.history = 1 << 20;
    let background = BackgroundConfig {
        seed: 5,
        firm: FirmId(1_000),
        firms: 4,
        start_ns: None,
        instruments: ids
            .clone()
            .zip(mids)
            .map(|(id, mid)| BackgroundInstrument {
                volatility_ticks_per_sqrt_s: 2.0,
                limit_rate: 200.0,
                market_rate: 25.0,
                cancel_rate: 2.0,
                mean_size: Qty(200),
                ..BackgroundInstrument::new(id, Price(mid))
            })
            .collect(),
    };
    let flow: BoxedGatewayFactory = Arc::new(move |engine: &MatchingEngine| {
        BackgroundFlow::new(&background, engine)
            .map(|flow| Box::new(flow) as Box<dyn OrderEntry>)
            .map_err(|e| e.to_string())
    });
    ServerConfig {
        matching,
        symbols: ids.map(|id| (id, format!("S{}", id.0))).collect(),
        ouch: Some(OuchGatewayConfig {
            listen: SocketAddr::V4(SocketAddrV4::new(VENUE_IP, 0)),
            session: "DPDK".into(),
            accounts: vec![OuchAccount {
                username: "MM".into(),
                password: "pw".into(),
                firm: FirmId(OUR_FIRM),
                cancel_on_disconnect: true,
            }],
            heartbeat_interval: Duration::from_millis(200),
            client_timeout: Duration::from_secs(5),
            ..OuchGatewayConfig::default()
        }),
        fix: None,
        itch: Some(itch),
        extra: vec![flow],
    }
}

/// Starts the venue on a thread inside namespace `ns` (its threads and sockets stay there).
fn start_venue_in(ns: &str) -> Result<RunningVenue, String> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        netns::enter_netns(&ns)?;
        RunningVenue::start(venue_config()).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the venue starter panicked".to_owned())?
}

/// A kernel socket on the host end joined to the feed's group: the reference copy of the feed.
fn record_feed(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut socket = UdpTransport::open(&UdpConfig {
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, FEED_PORT),
            multicast: Some((GROUP, HOST_IP)),
            destination: None,
            recv_buffer: Some(16 << 20),
            reuse_address: true,
        })
        .expect("the reference socket");
        ready_tx.send(()).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            match socket.recv(&mut buf).expect("reference recv") {
                Some(rx) => out.push(buf[..rx.len].to_vec()),
                None => std::thread::sleep(Duration::from_micros(100)),
            }
        }
        out
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    handle
}

fn depth(md: &MarketData, id: InstrumentId, side: Side) -> Vec<Level> {
    md.books()
        .book(id)
        .map(|b| b.levels(side).collect())
        .unwrap_or_default()
}

#[test]
fn engine_reads_the_venue_feed_through_dpdk_af_packet_and_trades_over_ouch() {
    if !netns::is_root() {
        eprintln!("skipped: needs root for veth and network namespaces");
        return;
    }
    let veth = match Veth::create("qwe", VENUE_IP, None, true) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipped: cannot build the veth pair: {e}");
            return;
        }
    };
    let stop_recording = Arc::new(AtomicBool::new(false));
    let recorder = record_feed(Arc::clone(&stop_recording));
    let mut venue = start_venue_in(&veth.ns).expect("venue");
    let endpoints = venue.endpoints();

    let mut config = bench_trader_config(INSTRUMENTS, 4_096);
    config.feed.bind = SocketAddrV4::new(GROUP, FEED_PORT);
    config.feed.multicast_group = Some(GROUP);
    config.feed.retransmit = endpoints.itch_retransmit;
    config.feed.transport = FeedTransport::Dpdk;
    config.feed.dpdk = Some(DpdkFeedSection {
        device: "net_af_packet0".into(),
        cores: "0".into(),
        memory_mb: 256,
        no_huge: true,
        no_pci: true,
        no_shconf: true,
        vdevs: vec![format!("net_af_packet0,iface={}", veth.host)],
        pci: Vec::new(),
        file_prefix: None,
        eal_args: vec!["--no-telemetry".into()],
        rx_desc: 1024,
        tx_desc: 256,
        mbufs: 4095,
        burst: 32,
    });
    config.ouch = Some(OuchSection {
        addr: endpoints.ouch.expect("the venue's OUCH address"),
        username: "MM".into(),
        password: "pw".into(),
        session: String::new(),
        state_file: None,
        heartbeat_ms: 200,
        timeout_ms: 3_000,
        reconnect: false,
    });
    config.engine.idle_sleep_us = 20;
    config.engine.kill_on_stale = false;
    config.engine.log_level = "error".into();

    let mut engine = match LiveEngine::start(&config) {
        Ok(e) => e,
        Err(e) if e.to_string().contains("built without DPDK") => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("engine start: {e}"),
    };

    // At least one quote acknowledged by the venue, as the engine sees it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acked = false;
    while !acked && Instant::now() < deadline {
        let snap = engine.snapshot(Duration::from_secs(2)).expect("snapshot");
        acked = snap.iter().any(
            |r| matches!(r, SnapshotRecord::Instrument(i) if i.bid.is_some() || i.ask.is_some()),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(acked, "no quote was acknowledged within 20 s");
    assert!(venue.firm_state(FirmId(OUR_FIRM)).open_orders > 0);
    std::thread::sleep(Duration::from_millis(500));

    let trader = engine.stop().expect("engine stop");
    // Let the reference socket take what was in flight, then stop everything.
    std::thread::sleep(Duration::from_millis(200));
    stop_recording.store(true, Ordering::Relaxed);
    let recorded = recorder.join().expect("recorder");
    venue.stop();

    let counters = trader.counters();
    assert!(counters.orders_new > 0);
    assert_eq!(
        trader.sequencer().current_gap(),
        None,
        "the DPDK path lost datagrams"
    );
    let reached = trader
        .sequencer()
        .expected()
        .expect("the engine joined the feed");
    assert!(reached > 100, "the engine applied only {reached} messages");
    // Live data came through DPDK (line A), not only from gap recovery.
    let line_a = *trader.sequencer().stats().line(Line::A);
    assert!(line_a.wins > 10, "line A (DPDK) brought little: {line_a:?}");

    // The venue's published books up to where the engine stopped reading.
    let mut reference = MarketData::new(BookConfig {
        max_orders: 1 << 20,
        ..BookConfig::default()
    });
    let mut next = 1;
    for datagram in &recorded {
        let packet = Packet::decode(datagram).expect("a MoldUDP64 datagram");
        for (seq, message) in packet.messages() {
            if seq == next && seq < reached {
                reference.on_message(message);
                next += 1;
            }
        }
    }
    assert_eq!(next, reached, "the reference copy of the feed has a gap");
    let engine_md = trader.market_data();
    for id in (1..=INSTRUMENTS).map(InstrumentId) {
        for side in [Side::Buy, Side::Sell] {
            let ours = depth(engine_md, id, side);
            assert!(!ours.is_empty(), "{id:?} {side:?}: empty book");
            assert_eq!(ours, depth(&reference, id, side), "{id:?} {side:?}");
        }
    }
    drop(veth);
}
