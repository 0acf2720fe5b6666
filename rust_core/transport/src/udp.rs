//! Busy-polled non-blocking UDP over socket2.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use quotewire_core::clock::Clock;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{Received, Transport, TransportError, MAX_UDP_PAYLOAD};

/// How a [`UdpTransport`] is opened. Build with [`UdpConfig::unicast`] or
/// [`UdpConfig::multicast`], then adjust with the `with_*` methods.
#[derive(Clone, Copy, Debug)]
pub struct UdpConfig {
    /// Local address to bind (port 0 picks a free port).
    pub bind: SocketAddrV4,
    /// IPv4 multicast group and the local interface address to join it on.
    pub multicast: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Where `send` goes (the retransmission server for re-requests).
    pub destination: Option<SocketAddr>,
    /// `SO_RCVBUF` in bytes; `None` keeps the system default.
    pub recv_buffer: Option<usize>,
    /// `SO_REUSEADDR` (needed when several processes listen to one group).
    pub reuse_address: bool,
}

impl UdpConfig {
    /// A unicast socket bound to `bind`.
    #[must_use]
    pub const fn unicast(bind: SocketAddrV4) -> Self {
        Self {
            bind,
            multicast: None,
            destination: None,
            recv_buffer: None,
            reuse_address: true,
        }
    }

    /// A socket that joins `group` on the interface whose address is
    /// `interface` and listens on `port`. It binds to the group address so
    /// that other groups on the same port are not delivered to it.
    #[must_use]
    pub const fn multicast(group: Ipv4Addr, port: u16, interface: Ipv4Addr) -> Self {
        Self {
            bind: SocketAddrV4::new(group, port),
            multicast: Some((group, interface)),
            destination: None,
            recv_buffer: None,
            reuse_address: true,
        }
    }

    /// Sets where `send` goes.
    #[must_use]
    pub const fn with_destination(mut self, destination: SocketAddr) -> Self {
        self.destination = Some(destination);
        self
    }

    /// Requests an `SO_RCVBUF` of `bytes` (the kernel may double or cap it).
    #[must_use]
    pub const fn with_recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }
}

/// A non-blocking UDP socket, busy-polled through [`Transport`].
///
/// `recv` is one `recvfrom` system call; `Ok(None)` on `EAGAIN`. Datagrams
/// longer than the buffer are truncated by the kernel, so size buffers for
/// the largest datagram (a MoldUDP64 feed fits an Ethernet MTU). Timestamps
/// are software ones from the transport's [`Clock`], taken right after the
/// call returns.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    destination: Option<SocketAddr>,
    clock: Clock,
    local: SocketAddr,
}

impl UdpTransport {
    /// Opens, configures and binds the socket, stamping with a monotonic clock.
    pub fn open(config: &UdpConfig) -> Result<Self, TransportError> {
        Self::open_with_clock(config, Clock::monotonic())
    }

    /// Like [`UdpTransport::open`], stamping received datagrams with `clock`
    /// (share the engine's clock so timestamps compare).
    pub fn open_with_clock(config: &UdpConfig, clock: Clock) -> Result<Self, TransportError> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(config.reuse_address)?;
        if let Some(bytes) = config.recv_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        if let Some((group, interface)) = config.multicast {
            if !group.is_multicast() {
                return Err(TransportError::Config(
                    "multicast group is not a multicast address",
                ));
            }
            socket.join_multicast_v4(&group, &interface)?;
            #[cfg(target_os = "linux")]
            socket.set_multicast_all_v4(false)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::from(config.bind))?;
        let socket: UdpSocket = socket.into();
        let local = socket.local_addr()?;
        Ok(Self {
            socket,
            destination: config.destination,
            clock,
            local,
        })
    }

    /// The bound local address (with the port the kernel chose for port 0).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The configured send destination.
    #[must_use]
    pub const fn destination(&self) -> Option<SocketAddr> {
        self.destination
    }

    /// Changes the send destination.
    pub fn set_destination(&mut self, destination: Option<SocketAddr>) {
        self.destination = destination;
    }

    /// The effective `SO_RCVBUF` as reported by the kernel.
    pub fn recv_buffer_size(&self) -> Result<usize, TransportError> {
        Ok(socket2::SockRef::from(&self.socket).recv_buffer_size()?)
    }
}

impl Transport for UdpTransport {
    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        match self.socket.recv(buf) {
            Ok(len) => Ok(Some(Received {
                len,
                ts_ns: self.clock.now_ns(),
            })),
            // ConnectionRefused is a stale ICMP error from an earlier send, not
            // a receive failure; the socket stays usable.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(TransportError::Io(e)),
        }
    }

    #[inline]
    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        let Some(dest) = self.destination else {
            return Err(TransportError::NoDestination);
        };
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(TransportError::PayloadTooLarge(payload.len()));
        }
        match self.socket.send_to(payload, dest) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(TransportError::WouldBlock),
            Err(e) => Err(TransportError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn loopback() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
    }

    fn recv_within(t: &mut UdpTransport, buf: &mut [u8]) -> Option<Received> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Some(rx) = t.recv(buf).unwrap() {
                return Some(rx);
            }
            std::hint::spin_loop();
        }
        None
    }

    #[test]
    fn recv_is_non_blocking_and_returns_none_when_idle() {
        let mut t = UdpTransport::open(&UdpConfig::unicast(loopback())).unwrap();
        let mut buf = [0u8; 64];
        assert!(t.recv(&mut buf).unwrap().is_none());
    }

    #[test]
    fn unicast_send_and_recv_round_trip_on_loopback() {
        let mut rx =
            UdpTransport::open(&UdpConfig::unicast(loopback()).with_recv_buffer(1 << 20)).unwrap();
        assert!(rx.recv_buffer_size().unwrap() >= 1 << 20);
        let mut tx =
            UdpTransport::open(&UdpConfig::unicast(loopback()).with_destination(rx.local_addr()))
                .unwrap();
        tx.send(b"hello").unwrap();
        tx.send(b"world!").unwrap();
        let mut buf = [0u8; 1500];
        let a = recv_within(&mut rx, &mut buf).unwrap();
        assert_eq!(&buf[..a.len], b"hello");
        let b = recv_within(&mut rx, &mut buf).unwrap();
        assert_eq!(&buf[..b.len], b"world!");
        assert!(b.ts_ns >= a.ts_ns);
        let mut seen = Vec::new();
        tx.send(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while seen.is_empty() && Instant::now() < deadline {
            rx.recv_burst(&mut buf, 8, |p, _| seen.push(p.to_vec()))
                .unwrap();
        }
        assert_eq!(seen, vec![b"x".to_vec()]);
    }

    #[test]
    fn send_without_destination_is_an_error() {
        let mut t = UdpTransport::open(&UdpConfig::unicast(loopback())).unwrap();
        assert!(matches!(t.send(b"x"), Err(TransportError::NoDestination)));
    }

    #[test]
    fn multicast_config_refuses_a_unicast_group() {
        let cfg = UdpConfig::multicast(Ipv4Addr::LOCALHOST, 0, Ipv4Addr::LOCALHOST);
        assert!(matches!(
            UdpTransport::open(&cfg),
            Err(TransportError::Config(_))
        ));
    }
}
