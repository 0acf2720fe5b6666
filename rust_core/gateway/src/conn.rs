//! The connection pieces both clients share: the connection with its
//! non-blocking TCP connect ([`Conn`]), the reconnect [`Backoff`] and the
//! pre-sized outbound buffer ([`OutBuf`]) with its one-write flush.
//!
//! Owns: the socket calls of connecting (create, non-blocking,
//! `TCP_NODELAY`, `connect`, `SO_ERROR`, `getpeername`) and of writing out.
//! The protocol (what is queued, when to connect, what a loss means) stays
//! in each client.
//!
//! Must never: allocate after construction (the buffer is sized once and
//! compacted in place), block, or make more than one `write` per flush.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::event::{GatewaySink, LostReason};

/// The backoff grows up to this multiple of the configured one.
const MAX_BACKOFF_FACTOR: u64 = 32;

/// A client's TCP connection.
#[derive(Debug)]
pub(crate) enum Conn {
    Closed,
    Connecting(Socket),
    Open(TcpStream),
}

impl Conn {
    /// Starts a non-blocking TCP connect to `addr` with `TCP_NODELAY` set;
    /// in progress (`None`), the connection turns [`Conn::Connecting`].
    pub(crate) fn start_connect(&mut self, addr: SocketAddr) -> Option<Connected> {
        let created = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .and_then(|s| s.set_nonblocking(true).map(|()| s));
        let Ok(socket) = created else {
            return Some(Err(LostReason::ConnectFailed));
        };
        // Latency over packet count; failing to set it is not fatal.
        let _ = socket.set_tcp_nodelay(true);
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => Some(Ok(socket)),
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                *self = Self::Connecting(socket);
                None
            }
            Err(_) => Some(Err(LostReason::ConnectFailed)),
        }
    }

    /// Checks a connect in progress (`SO_ERROR`, then `getpeername`) that
    /// started at `since_ns`: a connected socket is taken out (the connection
    /// is `Closed` until the caller opens it); one still pending `timeout_ns`
    /// after its start has timed out. `None`: still pending within the time,
    /// or no connect in progress.
    pub(crate) fn check_connect(
        &mut self,
        now_ns: u64,
        since_ns: u64,
        timeout_ns: u64,
    ) -> Option<Connected> {
        let Self::Connecting(socket) = self else {
            return None;
        };
        if !matches!(socket.take_error(), Ok(None)) {
            return Some(Err(LostReason::ConnectFailed));
        }
        match socket.peer_addr() {
            Ok(_) => match std::mem::replace(self, Self::Closed) {
                Self::Connecting(socket) => Some(Ok(socket)),
                _ => None,
            },
            Err(e) if e.kind() == io::ErrorKind::NotConnected => (now_ns.saturating_sub(since_ns)
                >= timeout_ns)
                .then_some(Err(LostReason::ConnectTimeout)),
            Err(_) => Some(Err(LostReason::ConnectFailed)),
        }
    }

    /// Drops the connection at once (shutting an open one down both ways,
    /// without anything written). False if there was none.
    pub(crate) fn abort(&mut self) -> bool {
        if matches!(self, Self::Closed) {
            return false;
        }
        if let Self::Open(stream) = self {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        *self = Self::Closed;
        true
    }
}

/// What a connect came to: the connected socket (the caller opens the
/// stream), or why it failed (`ConnectFailed`: the socket could not be
/// created or the connect was refused; `ConnectTimeout`).
pub(crate) type Connected = Result<Socket, LostReason>;

/// A client whose TCP connect a [`Conn`] drives: what it does when the
/// connect comes to something.
pub(crate) trait OnConnect {
    /// The connect succeeded: open the session on `socket` (log in).
    fn connected<S: GatewaySink>(&mut self, socket: Socket, now_ns: u64, sink: &mut S);

    /// The connect failed or timed out.
    fn connect_lost<S: GatewaySink>(&mut self, why: LostReason, now_ns: u64, sink: &mut S);

    /// Acts on what [`Conn::start_connect`] or [`Conn::check_connect`]
    /// returned (`None`: nothing yet).
    fn settle_connect<S: GatewaySink>(
        &mut self,
        outcome: Option<Connected>,
        now_ns: u64,
        sink: &mut S,
    ) {
        match outcome {
            Some(Ok(socket)) => self.connected(socket, now_ns, sink),
            Some(Err(why)) => self.connect_lost(why, now_ns, sink),
            None => {}
        }
    }
}

/// Reconnect delays: the configured one, doubled after each use up to
/// [`MAX_BACKOFF_FACTOR`] times it, back to it on [`reset`](Self::reset).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    base_ns: u64,
    cur_ns: u64,
}

impl Backoff {
    /// Starts at `base_ns`.
    pub(crate) const fn new(base_ns: u64) -> Self {
        Self {
            base_ns,
            cur_ns: base_ns,
        }
    }

    /// When to reconnect after a failure at `now_ns`; doubles the next delay.
    pub(crate) fn next_at(&mut self, now_ns: u64) -> u64 {
        let at = now_ns.saturating_add(self.cur_ns);
        self.cur_ns = self
            .cur_ns
            .saturating_mul(2)
            .min(self.base_ns.saturating_mul(MAX_BACKOFF_FACTOR));
        at
    }

    /// Back to the configured delay (a successful login).
    pub(crate) const fn reset(&mut self) {
        self.cur_ns = self.base_ns;
    }
}

/// The outbound buffer: bytes encoded in place between `head` and `tail`,
/// written out by [`write_to`](Self::write_to).
#[derive(Debug)]
pub(crate) struct OutBuf {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
}

impl OutBuf {
    /// A buffer of `len` bytes (the only allocation).
    pub(crate) fn new(len: usize) -> Self {
        Self {
            buf: vec![0; len].into_boxed_slice(),
            head: 0,
            tail: 0,
        }
    }

    /// Bytes encoded but not yet written.
    #[inline]
    pub(crate) const fn pending_len(&self) -> usize {
        self.tail - self.head
    }

    /// True when nothing is pending.
    #[inline]
    pub(crate) const fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// The bytes encoded but not yet written.
    #[inline]
    pub(crate) fn pending(&self) -> &[u8] {
        self.buf.get(self.head..self.tail).unwrap_or_default()
    }

    /// Drops everything pending; returns how many bytes that was.
    #[inline]
    pub(crate) const fn discard(&mut self) -> usize {
        let n = self.pending_len();
        self.head = 0;
        self.tail = 0;
        n
    }

    /// Ensures `n` free bytes after the pending ones, moving those to the
    /// front if needed (a copy, never an allocation).
    #[inline]
    pub(crate) fn make_room(&mut self, n: usize) -> bool {
        if self.buf.len() - self.tail >= n {
            return true;
        }
        if self.head > 0 {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        self.buf.len() - self.tail >= n
    }

    /// The free space after the pending bytes, at most `max` bytes of it.
    #[inline]
    pub(crate) fn spare(&mut self, max: usize) -> &mut [u8] {
        let end = self.tail + max.min(self.buf.len() - self.tail);
        self.buf.get_mut(self.tail..end).unwrap_or_default()
    }

    /// The first `n` bytes of the free space (just encoded, not yet committed).
    #[inline]
    pub(crate) fn encoded(&self, n: usize) -> Option<&[u8]> {
        self.buf.get(self.tail..self.tail + n)
    }

    /// Makes the first `n` bytes of the free space pending.
    #[inline]
    pub(crate) const fn commit(&mut self, n: usize) {
        self.tail += n;
    }

    /// One write of everything pending (retried only on `EINTR`); the rest
    /// stays buffered. Returns the bytes written (0: nothing pending, or the
    /// socket would block).
    pub(crate) fn write_to(&mut self, mut stream: &TcpStream) -> Result<usize, io::ErrorKind> {
        let pending = self.pending();
        if pending.is_empty() {
            return Ok(0);
        }
        loop {
            return match stream.write(pending) {
                Ok(0) => Err(io::ErrorKind::WriteZero),
                Ok(n) => {
                    self.head += n;
                    if self.head == self.tail {
                        self.head = 0;
                        self.tail = 0;
                    }
                    Ok(n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e.kind()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_resets() {
        let mut b = Backoff::new(10);
        assert_eq!(b.next_at(100), 110);
        assert_eq!(b.next_at(100), 120);
        for _ in 0..10 {
            b.next_at(0);
        }
        assert_eq!(b.next_at(0), 320);
        b.reset();
        assert_eq!(b.next_at(0), 10);
    }

    #[test]
    fn make_room_compacts_pending_bytes_to_the_front() {
        let mut o = OutBuf::new(8);
        o.spare(usize::MAX)[..6].copy_from_slice(b"abcdef");
        o.commit(6);
        // Pretend the first four were written.
        o.head = 4;
        assert!(!o.is_empty());
        assert_eq!(o.spare(usize::MAX).len(), 2);
        assert!(o.make_room(5));
        assert_eq!(o.pending(), b"ef");
        assert_eq!(o.spare(3).len(), 3);
        assert!(!o.make_room(7));
        assert_eq!(o.discard(), 2);
        assert!(o.is_empty());
    }

    #[test]
    fn write_to_writes_what_is_pending_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut o = OutBuf::new(16);
        assert_eq!(o.write_to(&stream), Ok(0));
        o.spare(5).copy_from_slice(b"hello");
        assert_eq!(o.encoded(5), Some(&b"hello"[..]));
        o.commit(5);
        assert_eq!(o.write_to(&stream), Ok(5));
        assert!(o.is_empty());
        let mut got = [0u8; 5];
        std::io::Read::read_exact(&mut peer, &mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn a_refused_connect_fails() {
        // Bind then drop: nothing listens on that port any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut conn = Conn::Closed;
        match conn.start_connect(addr) {
            Some(Err(LostReason::ConnectFailed)) => {}
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                // Bounded: a refused loopback connect settles at once.
                for _ in 0..1000 {
                    match conn.check_connect(0, 0, u64::MAX) {
                        Some(Err(LostReason::ConnectFailed)) => return,
                        None => std::thread::sleep(std::time::Duration::from_millis(1)),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                panic!("connect still pending");
            }
        }
    }

    #[test]
    fn an_accepted_connect_hands_over_its_socket_and_abort_closes_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut conn = Conn::Closed;
        assert!(
            conn.check_connect(0, 0, 0).is_none(),
            "no connect in progress"
        );
        let socket = match conn.start_connect(listener.local_addr().unwrap()) {
            Some(Ok(socket)) => socket,
            None => (0..1000)
                .find_map(|_| match conn.check_connect(0, 0, u64::MAX) {
                    Some(Ok(socket)) => Some(socket),
                    None => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        None
                    }
                    other => panic!("unexpected {other:?}"),
                })
                .expect("connect still pending"),
            Some(Err(why)) => panic!("connect failed: {why:?}"),
        };
        assert!(matches!(conn, Conn::Closed));
        conn = Conn::Open(TcpStream::from(socket));
        assert!(conn.abort());
        assert!(matches!(conn, Conn::Closed));
        assert!(!conn.abort());
    }

    #[test]
    fn a_connect_pending_past_its_timeout_times_out() {
        // A listener that never accepts, with the smallest backlog: once its queue is
        // full the kernel drops further SYNs (retried after a second), so a connect
        // stays pending.
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        listener.bind(&SockAddr::from(any)).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        for _ in 0..64 {
            let mut conn = Conn::Closed;
            let socket = match conn.start_connect(addr) {
                Some(Ok(socket)) => socket,
                Some(Err(why)) => panic!("connect failed: {why:?}"),
                None => match conn.check_connect(1_000, 1_000, 5) {
                    // Pending, within its time: nothing yet; at the timeout: timed out.
                    None => {
                        assert!(matches!(
                            conn.check_connect(1_005, 1_000, 5),
                            Some(Err(LostReason::ConnectTimeout))
                        ));
                        return;
                    }
                    Some(Ok(socket)) => socket,
                    Some(Err(why)) => panic!("connect failed: {why:?}"),
                },
            };
            queued.push(socket);
        }
        panic!("every connect completed: the listener's queue never filled");
    }
}
