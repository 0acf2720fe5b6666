//! DPDK `net_af_packet` on one end of a veth pair whose other end sits in a
//! network namespace: MoldUDP64 datagrams multicast by a kernel UDP socket in
//! the namespace arrive through DPDK byte for byte, and a re-request built
//! and sent through DPDK arrives at a kernel UDP socket there.
//!
//! Needs root and iproute2 (`ip`); without them it says why and returns.
//! One test per file: the EAL can be initialised once per process.
// Compiled when the `dpdk` feature found libdpdk (`qw_dpdk`, set by build.rs).
#![cfg(all(feature = "dpdk", qw_dpdk))]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use quotewire_protocol::moldudp64::{Request, Session, MAX_PAYLOAD, REQUEST_LEN};
use quotewire_synth::{packetize, Generator, SynthConfig};
use quotewire_testkit::netns::{self, Veth};
use quotewire_transport::dpdk::{DpdkConfig, DpdkTransport, Eal, EalConfig};
use quotewire_transport::{PcapFilter, Transport, UdpConfig, UdpTransport};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 77, 0, 1);
const FEED_PORT: u16 = 26_477;
const RETRANSMIT_PORT: u16 = 26_478;
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PEER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0x02];

#[test]
fn af_packet_on_veth_receives_a_namespaced_feed_and_sends_a_re_request() {
    if !netns::is_root() {
        eprintln!("skipped: needs root for veth and network namespaces");
        return;
    }
    let veth = match Veth::create("qwd", PEER_IP, Some(PEER_MAC), false) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipped: cannot build the veth pair: {e}");
            return;
        }
    };
    let session = Session::from_str_padded("QWVETH");
    let config = SynthConfig {
        messages: 5_000,
        instruments: 8,
        max_live_orders: 2_000,
        seed: 11,
        ..SynthConfig::default()
    };
    let packets = packetize(Generator::new(config).unwrap(), session, 1, MAX_PAYLOAD).unwrap();
    let want: Vec<Vec<u8>> = packets.iter().map(<[u8]>::to_vec).collect();

    let vdev = format!("net_af_packet0,iface={}", veth.host);
    let eal = Eal::init(&EalConfig::virtual_only().with_vdev(vdev)).unwrap();
    let mut dpdk_config = DpdkConfig::new("net_af_packet0");
    dpdk_config.filter = PcapFilter {
        dst_port: Some(FEED_PORT),
        dst_addr: Some(GROUP),
    };
    dpdk_config.join = vec![GROUP];
    dpdk_config.local = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 40_000);
    dpdk_config.destination = Some(SocketAddrV4::new(PEER_IP, RETRANSMIT_PORT));
    dpdk_config.destination_mac = Some(PEER_MAC);
    let mut t = DpdkTransport::open(eal, &dpdk_config).unwrap();

    // The venue side: a thread in the namespace multicasts the feed and then
    // waits for the re-request on its retransmission port.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let ns = veth.ns.clone();
    let sent = want.clone();
    let venue = std::thread::spawn(move || {
        netns::enter_netns(&ns).unwrap();
        let bind = SocketAddrV4::new(PEER_IP, RETRANSMIT_PORT);
        let mut server = UdpTransport::open(
            &UdpConfig::unicast(bind)
                .with_destination(SocketAddr::V4(SocketAddrV4::new(GROUP, FEED_PORT))),
        )
        .unwrap();
        ready_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        for (i, datagram) in sent.iter().enumerate() {
            server.send(datagram).unwrap();
            if i % 16 == 15 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(rx) = server.recv(&mut buf).unwrap() {
                return Some(buf[..rx.len].to_vec());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        None
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    go_tx.send(()).unwrap();

    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < want.len() && Instant::now() < deadline {
        t.recv_burst(&mut [], 32, |p, _| got.push(p.to_vec()))
            .unwrap();
    }
    assert_eq!(got.len(), want.len(), "stats: {:?}", t.stats());
    assert!(
        got == want,
        "datagrams received through DPDK differ from those sent"
    );

    let request = Request {
        session,
        sequence: 42,
        count: 7,
    };
    let mut bytes = [0u8; REQUEST_LEN];
    request.encode(&mut bytes).unwrap();
    t.send(&bytes).unwrap();
    let received = venue
        .join()
        .unwrap()
        .expect("the re-request did not arrive");
    assert_eq!(Request::decode(&received).unwrap(), request);
    drop(t);
    drop(veth);
}
