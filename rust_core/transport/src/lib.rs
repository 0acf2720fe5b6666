//! Packet I/O for quotewire: the [`Transport`] trait and its backends.
//!
//! Owns: moving whole datagrams between the network (or a capture file) and
//! caller-owned buffers. Backends: [`UdpTransport`] (busy-polled non-blocking
//! UDP, unicast or IPv4 multicast), [`PcapReplay`] (pcap/pcapng replay) and
//! [`PcapWriter`] (recording datagrams to a classic pcap file), and with the
//! `dpdk` feature `dpdk::DpdkTransport` (kernel-bypass burst I/O on a DPDK
//! port). [`mod@bench`] times any backend's send-to-receive loop.
//! Must never: interpret payloads (that is `protocol` and `feed`), allocate,
//! lock or block inside `recv`/`send` after construction, or panic on any
//! input bytes.

pub mod bench;
#[cfg(feature = "dpdk")]
pub mod dpdk;
mod error;
mod net;
mod pcap;
mod udp;

pub use error::TransportError;
pub use pcap::{PcapFilter, PcapReplay, PcapWriter};
pub use udp::{UdpConfig, UdpTransport};

/// Largest UDP payload over IPv4 (65535 minus IPv4 and UDP headers).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Metadata of one received datagram; its bytes are in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Payload length written at the start of the buffer.
    pub len: usize,
    /// Receive timestamp in nanoseconds: the transport's clock for live
    /// sockets, the capture timestamp (since the Unix epoch) for replay.
    pub ts_ns: u64,
}

/// A packet-oriented, non-blocking datagram transport.
///
/// Contract:
/// - `recv` never blocks: `Ok(None)` means nothing is ready now. The caller
///   busy-polls.
/// - One call moves one whole datagram. `buf` should hold the largest datagram
///   expected; a datagram longer than `buf` is reported as
///   [`TransportError::Truncated`] (by backends that can tell) and dropped.
/// - [`Transport::recv_burst`] is the hot-path entry point: it hands up to
///   `max` datagrams to a visitor without the caller looping. Backends with
///   native bursts (DPDK `rx_burst`) override it to visit payloads in place,
///   zero-copy; the default loops over `recv` using `scratch`.
/// - `send` transmits one datagram to the transport's configured destination
///   (for feeds: MoldUDP64 re-requests to the retransmission server).
pub trait Transport {
    /// Receives one datagram into `buf`, or `Ok(None)` when none is ready.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError>;

    /// Sends one datagram to the configured destination.
    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError>;

    /// Receives up to `max` ready datagrams, calling `visit(payload, ts_ns)` for
    /// each, and returns how many were visited. Stops early when nothing is
    /// ready. `scratch` is used by backends that must copy.
    fn recv_burst<F>(
        &mut self,
        scratch: &mut [u8],
        max: usize,
        mut visit: F,
    ) -> Result<usize, TransportError>
    where
        Self: Sized,
        F: FnMut(&[u8], u64),
    {
        let mut n = 0;
        while n < max {
            let Some(rx) = self.recv(scratch)? else { break };
            let len = rx.len.min(scratch.len());
            visit(&scratch[..len], rx.ts_ns);
            n += 1;
        }
        Ok(n)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        (**self).recv(buf)
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        (**self).send(payload)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        (**self).recv(buf)
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        (**self).send(payload)
    }
}
