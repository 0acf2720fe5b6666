//! A DPDK `net_ring` port hot-plugged into a running EAL loops frames built by
//! `send` back to `recv`, through the benchmark loop.
//!
//! One test per file: the EAL can be initialised once per process.
// Compiled when the `dpdk` feature found libdpdk (`qw_dpdk`, set by build.rs).
#![cfg(all(feature = "dpdk", qw_dpdk))]

use std::net::{Ipv4Addr, SocketAddrV4};

use quotewire_core::clock::Clock;
use quotewire_transport::bench::{dpdk_ring_loopback, run_loop, LoopBenchConfig};
use quotewire_transport::dpdk::{Eal, EalConfig};
use quotewire_transport::Transport;

#[test]
fn ring_loopback_returns_every_sent_datagram_and_filters_other_ports() {
    let eal = Eal::init(&EalConfig::virtual_only()).unwrap();
    let mut t = dpdk_ring_loopback(eal).unwrap();
    let free_before = t.pool_available();
    let config = LoopBenchConfig {
        count: 20_000,
        warmup: 1_000,
        window: 32,
        payload: 100,
        ..LoopBenchConfig::default()
    };
    let r = run_loop(&mut t, &Clock::monotonic(), &config).unwrap();
    assert_eq!((r.count, r.lost), (20_000, 0));
    let stats = t.stats();
    assert_eq!(stats.tx_datagrams, 21_000);
    assert_eq!(stats.rx_datagrams, 21_000);
    assert_eq!(stats.rx_filtered, 0);

    // A second port on the same EAL is independent; frames to a port the
    // filter does not keep are dropped, and no mbuf leaks across bursts.
    let mut other = dpdk_ring_loopback(eal).unwrap();
    assert_ne!(other.port_id(), t.port_id());
    other.send(b"kept: to the filtered port").unwrap();
    let mut buf = [0u8; 128];
    let rx = other.recv(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..rx.len], b"kept: to the filtered port");
    assert!(other.recv(&mut buf).unwrap().is_none());
    other.set_destination(
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 9),
        [2, 0, 0, 0, 0, 2],
    );
    other.send(b"dropped: another port").unwrap();
    assert!(other.recv(&mut buf).unwrap().is_none());
    assert_eq!(other.stats().rx_filtered, 1);
    assert!(t.recv(&mut buf).unwrap().is_none());
    assert_eq!(t.pool_available(), free_before);
}
