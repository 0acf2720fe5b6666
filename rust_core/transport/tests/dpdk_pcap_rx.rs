//! DPDK `net_pcap` receive equals the pcap replay transport, byte for byte.
//!
//! One test per file: the EAL can be initialised once per process, and each
//! integration test file is its own process.
// Compiled when the `dpdk` feature found libdpdk (`qw_dpdk`, set by build.rs).
#![cfg(all(feature = "dpdk", qw_dpdk))]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use quotewire_protocol::moldudp64::{Session, MAX_PAYLOAD};
use quotewire_synth::{packetize, Generator, SynthConfig};
use quotewire_transport::dpdk::{self, DpdkConfig, DpdkTransport, Eal, EalConfig};
use quotewire_transport::{PcapFilter, PcapReplay, PcapWriter, Transport, MAX_UDP_PAYLOAD};

const FEED_PORT: u16 = 26_477;

/// A synthetic MoldUDP64 session as a pcap, with datagrams to another port mixed in.
fn write_capture(path: &std::path::Path) -> (usize, usize) {
    let config = SynthConfig {
        messages: 20_000,
        instruments: 16,
        max_live_orders: 5_000,
        seed: 7,
        ..SynthConfig::default()
    };
    let packets = packetize(
        Generator::new(config).unwrap(),
        Session::from_str_padded("QWDPDK"),
        1,
        MAX_PAYLOAD,
    )
    .unwrap();
    let mut w = PcapWriter::create(path).unwrap();
    let src = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 26_400);
    let feed = SocketAddrV4::new(Ipv4Addr::new(233, 54, 12, 1), FEED_PORT);
    let other = SocketAddrV4::new(Ipv4Addr::new(233, 54, 12, 2), FEED_PORT + 1);
    let mut noise = 0;
    for (i, datagram) in packets.iter().enumerate() {
        w.write_datagram(1_000 * i as u64, src, feed, datagram)
            .unwrap();
        if i % 10 == 0 {
            w.write_datagram(1_000 * i as u64 + 1, src, other, b"not the feed")
                .unwrap();
            noise += 1;
        }
    }
    w.into_inner().unwrap();
    (packets.len(), noise)
}

#[test]
fn net_pcap_rx_delivers_the_same_moldudp64_datagrams_as_pcap_replay() {
    assert!(
        dpdk::available(),
        "built without libdpdk: {}",
        dpdk::version()
    );
    let dir = std::env::temp_dir().join(format!("qw-dpdk-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("feed.pcap");
    let (packets, noise) = write_capture(&path);

    let mut replay = PcapReplay::open(&path, PcapFilter::port(FEED_PORT)).unwrap();
    let mut want = Vec::new();
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    while let Some(rx) = replay.recv(&mut buf).unwrap() {
        want.push(buf[..rx.len].to_vec());
    }
    assert_eq!(want.len(), packets);

    let eal = Eal::init(
        &EalConfig::virtual_only().with_vdev(format!("net_pcap0,rx_pcap={}", path.display())),
    )
    .unwrap();
    let mut config = DpdkConfig::new("net_pcap0");
    config.filter = PcapFilter::port(FEED_PORT);
    config.join = vec![Ipv4Addr::new(233, 54, 12, 1)];
    let mut t = DpdkTransport::open(eal, &config).unwrap();

    // Both receive paths in turn: `recv` copies, `recv_burst` visits in place.
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < want.len() && Instant::now() < deadline {
        if let Some(rx) = t.recv(&mut buf).unwrap() {
            got.push(buf[..rx.len].to_vec());
        }
        t.recv_burst(&mut [], 7, |p, _| got.push(p.to_vec()))
            .unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got.len(), want.len(), "stats: {:?}", t.stats());
    assert!(got == want, "DPDK datagrams differ from the pcap replay's");
    let stats = t.stats();
    assert_eq!(stats.rx_filtered, noise as u64);
    assert_eq!(stats.rx_frames, (packets + noise) as u64);
    assert_eq!(stats.rx_multi_segment, 0);
}
