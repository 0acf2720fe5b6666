//! The transport benchmark: datagrams sent and received back through one
//! backend, each timed from the start of its `send` to its visit in
//! `recv_burst`.
//!
//! Owns: the measuring loop ([`run_loop`]) and the loopback set-ups it runs
//! on ([`udp_loopback`]: a kernel UDP socket sending to itself over
//! 127.0.0.1; with the `dpdk` feature, `dpdk_ring_loopback`: a DPDK
//! `net_ring` port whose TX ring is its RX ring). Latencies go into a
//! buffer allocated before the run; percentiles are the caller's.
//! Must never: allocate or print inside the timed loop.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use quotewire_core::clock::Clock;

use crate::{Transport, TransportError, UdpConfig, UdpTransport, MAX_UDP_PAYLOAD};

/// What [`run_loop`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopBenchConfig {
    /// Datagrams timed.
    pub count: u64,
    /// Datagrams sent and received first, not timed.
    pub warmup: u64,
    /// Payload bytes per datagram (at least 8: the sequence number).
    pub payload: usize,
    /// Datagrams in flight: sent back to back, then all received. 1 is
    /// ping-pong (latency is the bare send-to-receive time); larger windows
    /// raise packets/s and add queueing to the latency.
    pub window: usize,
    /// How long to wait for a window before counting its missing datagrams as lost.
    pub timeout_ns: u64,
}

impl Default for LoopBenchConfig {
    fn default() -> Self {
        Self {
            count: 100_000,
            warmup: 10_000,
            payload: 64,
            window: 1,
            timeout_ns: 100_000_000,
        }
    }
}

/// What [`run_loop`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopBenchResult {
    /// Datagrams timed (received back).
    pub count: u64,
    /// Datagrams sent in the timed part but not received within the timeout.
    pub lost: u64,
    /// Wall time of the timed part.
    pub elapsed_ns: u64,
    /// Datagrams received per second in the timed part.
    pub per_sec: f64,
    /// Send-to-receive time of each timed datagram, in receive order.
    pub latencies_ns: Vec<u64>,
}

/// Sends `config.warmup + config.count` datagrams through `transport`, which
/// must receive what it sends (a loopback), in windows of `config.window`,
/// and times each from the start of its `send` to its visit on receive.
pub fn run_loop<T: Transport>(
    transport: &mut T,
    clock: &Clock,
    config: &LoopBenchConfig,
) -> Result<LoopBenchResult, TransportError> {
    if config.payload < 8 || config.payload > MAX_UDP_PAYLOAD {
        return Err(TransportError::Config(
            "bench payload must be 8..=65507 bytes",
        ));
    }
    if config.window == 0 || config.count == 0 {
        return Err(TransportError::Config(
            "bench window and count must be at least 1",
        ));
    }
    let window = config.window as u64;
    let total = config.warmup + config.count;
    let mut payload = vec![0xA5u8; config.payload];
    let mut sent_at = vec![0u64; config.window];
    let mut scratch = vec![0u8; MAX_UDP_PAYLOAD];
    let mut latencies = Vec::with_capacity(usize::try_from(config.count).unwrap_or(0));
    let mut lost = 0u64;
    let mut start = None;
    let mut base = 0u64;
    while base < total {
        let n = window.min(total - base);
        if start.is_none() && base + n > config.warmup {
            start = Some(clock.now_ns());
        }
        for j in 0..n {
            payload[..8].copy_from_slice(&(base + j).to_le_bytes());
            let deadline = clock.now_ns() + config.timeout_ns;
            sent_at[j as usize] = clock.now_ns();
            loop {
                match transport.send(&payload) {
                    Ok(()) => break,
                    Err(TransportError::WouldBlock) if clock.now_ns() < deadline => {
                        std::hint::spin_loop();
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let mut got = 0u64;
        let deadline = clock.now_ns() + config.timeout_ns;
        while got < n {
            transport.recv_burst(&mut scratch, (n - got) as usize, |p, _ts| {
                let now = clock.now_ns();
                let Some(seq) = p
                    .get(..8)
                    .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
                else {
                    return;
                };
                // Late datagrams of an earlier window are not this window's.
                if seq < base || seq >= base + n {
                    return;
                }
                got += 1;
                if seq >= config.warmup {
                    latencies.push(now.saturating_sub(sent_at[(seq - base) as usize]));
                }
            })?;
            if got < n && clock.now_ns() > deadline {
                if base + n > config.warmup {
                    lost += n - got;
                }
                break;
            }
        }
        base += n;
    }
    let elapsed_ns = clock.now_ns().saturating_sub(start.unwrap_or(0)).max(1);
    let count = latencies.len() as u64;
    Ok(LoopBenchResult {
        count,
        lost,
        elapsed_ns,
        per_sec: count as f64 * 1e9 / elapsed_ns as f64,
        latencies_ns: latencies,
    })
}

/// A UDP socket on 127.0.0.1 that sends to itself, with a 4 MiB receive buffer.
pub fn udp_loopback() -> Result<UdpTransport, TransportError> {
    let bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let mut t = UdpTransport::open(&UdpConfig::unicast(bind).with_recv_buffer(4 << 20))?;
    let me: SocketAddr = t.local_addr();
    t.set_destination(Some(me));
    Ok(t)
}

/// A DPDK transport on a fresh `net_ring` virtual device (hot-plugged into
/// the running EAL) whose transmitted frames come back on its RX queue:
/// the DPDK software path (mbuf alloc, frame build, tx/rx burst, header
/// parse) without a wire.
#[cfg(feature = "dpdk")]
pub fn dpdk_ring_loopback(
    eal: crate::dpdk::Eal,
) -> Result<crate::dpdk::DpdkTransport, TransportError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RINGS: AtomicU32 = AtomicU32::new(0);
    // Names stay short: the ring PMD derives ring names (at most 31 bytes) from them.
    let name = format!("net_ring{}", 90 + RINGS.fetch_add(1, Ordering::Relaxed));
    eal.probe(&name)?;
    let port = 26_400;
    let mut config = crate::dpdk::DpdkConfig::new(name);
    config.rx_desc = 512;
    config.tx_desc = 512;
    config.mbufs = 4095;
    config.filter = crate::PcapFilter::port(port);
    config.local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40_000);
    config.destination = Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port));
    config.destination_mac = Some([0x02, 0, 0, 0, 0, 2]);
    crate::dpdk::DpdkTransport::open(eal, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_loopback_receives_every_datagram_it_sends() {
        let mut t = udp_loopback().unwrap();
        let config = LoopBenchConfig {
            count: 200,
            warmup: 20,
            window: 8,
            ..LoopBenchConfig::default()
        };
        let r = run_loop(&mut t, &Clock::monotonic(), &config).unwrap();
        assert_eq!((r.count, r.lost), (200, 0));
        assert_eq!(r.latencies_ns.len(), 200);
        assert!(r.per_sec > 0.0);
    }

    #[test]
    fn a_transport_that_never_delivers_counts_everything_lost() {
        let mut t = udp_loopback().unwrap();
        // Send somewhere else: nothing comes back.
        let sink = udp_loopback().unwrap();
        t.set_destination(Some(sink.local_addr()));
        let config = LoopBenchConfig {
            count: 4,
            warmup: 0,
            window: 2,
            timeout_ns: 1_000_000,
            ..LoopBenchConfig::default()
        };
        let r = run_loop(&mut t, &Clock::monotonic(), &config).unwrap();
        assert_eq!((r.count, r.lost), (0, 4));
    }

    #[test]
    fn payload_shorter_than_a_sequence_number_is_refused() {
        let mut t = udp_loopback().unwrap();
        let config = LoopBenchConfig {
            payload: 4,
            ..LoopBenchConfig::default()
        };
        assert!(run_loop(&mut t, &Clock::monotonic(), &config).is_err());
    }
}
