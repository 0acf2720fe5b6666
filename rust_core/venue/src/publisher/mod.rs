//! The venue's market data: TotalView-ITCH 5.0 over MoldUDP64 UDP, with a
//! retransmission server and a fault switch for gap-recovery tests.
//!
//! [`ItchPublisher`] implements [`MarketDataOut`]. Each [`MarketDataOut::on_events`]
//! call maps the matching events to ITCH messages per the table in
//! [`crate::matching`] (stock locate = instrument id, timestamp = `now_ns`
//! modulo one day, tracking number 0), packs them into MoldUDP64 datagrams of
//! at most `max_payload` bytes and sends them before returning: batching never
//! delays a message past the command that caused it. [`MarketDataOut::poll`]
//! answers re-requests from the retransmission port, releases a datagram the
//! fault switch held back, and sends a heartbeat (or, after the end of the
//! session, an end-of-session packet) when the line has been idle for
//! `heartbeat_interval_ns`.
//!
//! The session opens on the first call (or [`ItchPublisher::start_session`])
//! with System Event `O`, one Stock Directory per configured instrument, then
//! `S` and `Q`; [`ItchPublisher::end_session`] (or
//! [`PublisherHandle::request_end_session`], serviced by the next poll) sends
//! `M`, `E`, `C` and a MoldUDP64 end-of-session packet.
//!
//! Every buffer (datagram, history ring, reply, held datagram) is allocated and
//! written in [`ItchPublisher::new`]; nothing allocates per message after
//! that. Sockets are non-blocking; a send that fails is counted, never retried
//! (the client recovers through the retransmission server). Nothing here
//! panics on any input.
//!
//! Counters live in the publisher ([`ItchPublisher::stats`]) and are copied to a
//! shareable [`PublisherHandle`] at the end of each call that changed them, so
//! they can be read while the publisher is owned by a [`crate::runtime::Venue`].

mod fault;
mod history;
mod map;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use quotewire_core::InstrumentId;
use quotewire_protocol::itch::{Message, StockDirectory, SystemEvent};
use quotewire_protocol::moldudp64::{
    encode_end_of_session, encode_header, encode_heartbeat, Header, Request, Session,
    END_OF_SESSION, HEADER_LEN, MAX_PAYLOAD,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

pub use fault::FaultConfig;

use crate::matching::Event;
use crate::runtime::MarketDataOut;
use fault::{Action, Faults};
use history::{History, SLOT};

/// Nanoseconds in a day: ITCH timestamps count from midnight.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Largest datagram the publisher builds (IPv4 UDP payload limit).
const MAX_DATAGRAM: usize = 65_507;

/// Room for a request plus enough slack to recognise a longer datagram as malformed.
const REQUEST_BUF: usize = 64;

/// Why a publisher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// A configuration value is out of range.
    #[error("invalid publisher configuration: {0}")]
    Config(&'static str),
    /// Opening or configuring a socket failed.
    #[error("publisher socket: {0}")]
    Io(#[from] io::Error),
}

/// One instrument on the feed: its stock locate and symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeedInstrument {
    /// Instrument id, published as the stock locate.
    pub id: InstrumentId,
    /// Symbol, left justified and space padded.
    pub symbol: [u8; 8],
    /// Shares per round lot (Stock Directory).
    pub round_lot: u32,
}

impl FeedInstrument {
    /// An instrument with `symbol` padded or truncated to eight bytes and a round lot of 100.
    #[must_use]
    pub fn new(id: InstrumentId, symbol: &str) -> Self {
        let mut s = [b' '; 8];
        for (d, b) in s.iter_mut().zip(symbol.bytes()) {
            *d = b;
        }
        Self {
            id,
            symbol: s,
            round_lot: 100,
        }
    }
}

/// Everything an [`ItchPublisher`] is built from; every size is allocated up front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherConfig {
    /// MoldUDP64 session name.
    pub session: Session,
    /// Instruments announced by Stock Directory messages.
    pub instruments: Vec<FeedInstrument>,
    /// Where datagrams go: a unicast address or an IPv4 multicast group.
    pub destination: SocketAddrV4,
    /// Local address the sender binds; for a multicast destination its IP is
    /// the outgoing interface (an unspecified IP means loopback).
    pub bind: SocketAddrV4,
    /// Multicast TTL (1 keeps the feed on the local network).
    pub multicast_ttl: u32,
    /// Local address of the retransmission server (port 0 picks one).
    pub retransmit_bind: SocketAddrV4,
    /// Messages kept for retransmission (rounded up to a power of two).
    pub history: usize,
    /// Most messages one re-request is answered with.
    pub max_reply_messages: u16,
    /// Most re-requests serviced per poll.
    pub max_requests_per_poll: usize,
    /// Largest datagram built, header included.
    pub max_payload: usize,
    /// Idle time after which a heartbeat (or repeated end of session) is sent.
    pub heartbeat_interval_ns: u64,
    /// Longest a reordered datagram is held when no later datagram comes.
    pub max_hold_ns: u64,
    /// `SO_SNDBUF` of both sockets in bytes; `None` keeps the system default.
    pub send_buffer: Option<usize>,
    /// Damage done to outgoing data datagrams (tests).
    pub faults: FaultConfig,
}

impl PublisherConfig {
    /// Defaults around a session name and a destination: sender and
    /// retransmission server on ephemeral loopback ports, 64Ki messages of
    /// history, 1 s heartbeats, no faults.
    #[must_use]
    pub fn new(session: &str, destination: SocketAddrV4) -> Self {
        Self {
            session: Session::from_str_padded(session),
            instruments: Vec::new(),
            destination,
            bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            multicast_ttl: 1,
            retransmit_bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            history: 1 << 16,
            max_reply_messages: 1000,
            max_requests_per_poll: 16,
            max_payload: MAX_PAYLOAD,
            heartbeat_interval_ns: 1_000_000_000,
            max_hold_ns: 1_000_000,
            send_buffer: None,
            faults: FaultConfig::NONE,
        }
    }

    /// Adds an instrument.
    #[must_use]
    pub fn with_instrument(mut self, id: InstrumentId, symbol: &str) -> Self {
        self.instruments.push(FeedInstrument::new(id, symbol));
        self
    }
}

macro_rules! publisher_stats {
    ($( $(#[doc = $doc:literal])* $name:ident ),* $(,)?) => {
        /// Counters of a publisher. Plain integers, copied out for reporting.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct PublisherStats {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        /// The counters as atomics, written by the publisher's thread only.
        #[derive(Debug, Default)]
        struct SharedStats {
            $( $name: AtomicU64, )*
        }

        impl SharedStats {
            fn store(&self, s: &PublisherStats) {
                $( self.$name.store(s.$name, Relaxed); )*
            }

            fn load(&self) -> PublisherStats {
                PublisherStats { $( $name: self.$name.load(Relaxed), )* }
            }
        }
    };
}

publisher_stats! {
    /// ITCH messages published (each sequence number once).
    messages,
    /// Data datagrams built (each once, whatever the fault switch did to it).
    datagrams,
    /// Heartbeats sent.
    heartbeats,
    /// End-of-session packets sent (the first and the idle repeats).
    end_of_session,
    /// Data datagrams the fault switch dropped.
    dropped,
    /// Data datagrams the fault switch sent twice.
    duplicated,
    /// Data datagrams the fault switch held back behind a later one.
    reordered,
    /// Re-requests answered with at least one message.
    requests_served,
    /// Messages sent again in replies.
    messages_resent,
    /// Datagrams sent in replies.
    retransmit_datagrams,
    /// Valid re-requests naming messages not held (too old, or not yet published).
    requests_out_of_history,
    /// Re-requests refused as malformed (length, session, sequence 0, count 0 or 0xFFFF).
    malformed_requests,
    /// Socket sends that failed (the datagram is lost; clients re-request).
    send_errors,
    /// Receive errors on the retransmission port.
    recv_errors,
    /// Events not published: after the end of the session, or out of ITCH field range.
    unpublished_events,
}

#[derive(Debug, Default)]
struct Shared {
    stats: SharedStats,
    next_sequence: AtomicU64,
    ended: AtomicBool,
    end_requested: AtomicBool,
}

/// A cloneable, thread-safe view of a publisher owned elsewhere (by a
/// [`crate::runtime::Venue`]): its counters, and a switch to end the session.
#[derive(Clone, Debug)]
pub struct PublisherHandle {
    shared: Arc<Shared>,
}

impl PublisherHandle {
    /// The counters as of the publisher's last call.
    #[must_use]
    pub fn stats(&self) -> PublisherStats {
        self.shared.stats.load()
    }

    /// The next sequence number to be published.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.shared.next_sequence.load(Relaxed)
    }

    /// True once the end of the session was sent.
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.shared.ended.load(Relaxed)
    }

    /// Asks the publisher to end the session on its next poll.
    pub fn request_end_session(&self) {
        self.shared.end_requested.store(true, Relaxed);
    }
}

/// The live multicast/unicast line: socket plus the fault switch.
#[derive(Debug)]
struct LiveLine {
    socket: UdpSocket,
    faults: Faults,
    held: Box<[u8]>,
    held_len: usize,
    held_at_ns: u64,
    last_send_ns: u64,
}

impl LiveLine {
    /// Sends one data datagram through the fault switch.
    #[inline]
    fn send_data(&mut self, datagram: &[u8], now_ns: u64, stats: &mut PublisherStats) {
        self.last_send_ns = now_ns;
        match self.faults.next_action() {
            Action::Send => send(&self.socket, datagram, stats),
            Action::Drop => stats.dropped += 1,
            Action::Duplicate => {
                stats.duplicated += 1;
                send(&self.socket, datagram, stats);
                send(&self.socket, datagram, stats);
            }
            Action::Reorder if self.held_len == 0 => {
                if let Some(dst) = self.held.get_mut(..datagram.len()) {
                    dst.copy_from_slice(datagram);
                    self.held_len = datagram.len();
                    self.held_at_ns = now_ns;
                    stats.reordered += 1;
                    // Held until the next datagram (or `max_hold_ns`) passes it.
                    return;
                }
                send(&self.socket, datagram, stats);
            }
            // One datagram held at a time: this one overtakes it.
            Action::Reorder => send(&self.socket, datagram, stats),
        }
        self.release(stats);
    }

    /// Sends a control packet (heartbeat, end of session); never faulted.
    fn send_control(&mut self, datagram: &[u8], now_ns: u64, stats: &mut PublisherStats) {
        self.release(stats);
        self.last_send_ns = now_ns;
        send(&self.socket, datagram, stats);
    }

    fn release(&mut self, stats: &mut PublisherStats) {
        if self.held_len > 0 {
            send(&self.socket, &self.held[..self.held_len], stats);
            self.held_len = 0;
        }
    }
}

/// One send on a connected, non-blocking socket; failures are counted.
#[inline]
fn send(socket: &UdpSocket, datagram: &[u8], stats: &mut PublisherStats) {
    match socket.send(datagram) {
        Ok(_) => {}
        // A stale ICMP error from an earlier send (nobody listening then) is
        // reported instead of sending: the error is consumed, so try once more.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            if socket.send(datagram).is_err() {
                stats.send_errors += 1;
            }
        }
        Err(_) => stats.send_errors += 1,
    }
}

/// The retransmission server's socket and reply buffer.
#[derive(Debug)]
struct Retransmitter {
    socket: UdpSocket,
    request: [u8; REQUEST_BUF],
    reply: Box<[u8]>,
    max_reply: u16,
    max_requests: usize,
}

impl Retransmitter {
    /// Answers up to `max_requests` waiting re-requests; returns how many
    /// datagrams (or receive errors) were handled.
    fn serve(
        &mut self,
        session: Session,
        history: &History,
        next_seq: u64,
        stats: &mut PublisherStats,
    ) -> usize {
        let mut n = 0;
        while n < self.max_requests {
            let (len, from) = match self.socket.recv_from(&mut self.request) {
                Ok(x) => x,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => break,
                    // A stale ICMP error from a reply to a requester that went away.
                    io::ErrorKind::ConnectionRefused => {
                        n += 1;
                        continue;
                    }
                    _ => {
                        stats.recv_errors += 1;
                        n += 1;
                        break;
                    }
                },
            };
            n += 1;
            let Some(req) = self
                .request
                .get(..len)
                .and_then(|b| Request::decode(b).ok())
                .filter(|r| {
                    r.session == session
                        && r.sequence > 0
                        && r.count > 0
                        && r.count != END_OF_SESSION
                })
            else {
                stats.malformed_requests += 1;
                continue;
            };
            self.answer(&req, from, session, history, next_seq, stats);
        }
        n
    }

    fn answer(
        &mut self,
        req: &Request,
        to: SocketAddr,
        session: Session,
        history: &History,
        next_seq: u64,
        stats: &mut PublisherStats,
    ) {
        let wanted_end = req
            .sequence
            .saturating_add(u64::from(req.count.min(self.max_reply)));
        let first = req.sequence.max(history.oldest(next_seq));
        let end = wanted_end.min(next_seq);
        if first != req.sequence || end != wanted_end {
            stats.requests_out_of_history += 1;
        }
        let mut sent = 0u64;
        let mut seq = first;
        while seq < end {
            // One datagram from `seq` on.
            let mut len = HEADER_LEN;
            let mut count: u16 = 0;
            let start = seq;
            while seq < end && count < END_OF_SESSION - 1 {
                let Some(msg) = history.get(seq) else { break };
                let Some(dst) = self.reply.get_mut(len..len + 2 + msg.len()) else {
                    break;
                };
                dst[..2].copy_from_slice(&(msg.len() as u16).to_be_bytes());
                dst[2..].copy_from_slice(msg);
                len += 2 + msg.len();
                count += 1;
                seq += 1;
            }
            if count == 0 {
                break;
            }
            let header = Header {
                session,
                sequence: start,
                count,
            };
            if encode_header(&header, &mut self.reply).is_err() {
                break;
            }
            match self.socket.send_to(&self.reply[..len], to) {
                Ok(_) => {
                    stats.retransmit_datagrams += 1;
                    sent += u64::from(count);
                }
                Err(_) => {
                    stats.send_errors += 1;
                    break;
                }
            }
        }
        if sent > 0 {
            stats.requests_served += 1;
            stats.messages_resent += sent;
        }
    }
}

/// Publishes matching events as TotalView-ITCH 5.0 over MoldUDP64 UDP and
/// serves re-requests. See the module docs.
pub struct ItchPublisher {
    session: Session,
    instruments: Vec<FeedInstrument>,
    /// Symbol by instrument id (blank for ids not configured).
    symbols: Vec<[u8; 8]>,
    line: LiveLine,
    retransmit: Retransmitter,
    history: History,
    /// The datagram being filled: header space, then length-prefixed messages.
    packet: Box<[u8]>,
    packet_len: usize,
    packet_count: u16,
    packet_first: u64,
    next_seq: u64,
    /// Time of the call in progress (a datagram filled mid-batch is sent at it).
    now_ns: u64,
    heartbeat_interval_ns: u64,
    max_hold_ns: u64,
    destination: SocketAddrV4,
    retransmit_addr: SocketAddr,
    started: bool,
    ended: bool,
    stats: PublisherStats,
    dirty: bool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ItchPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItchPublisher")
            .field("session", &self.session.name())
            .field("destination", &self.destination)
            .field("retransmit_addr", &self.retransmit_addr)
            .field("next_seq", &self.next_seq)
            .field("ended", &self.ended)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ItchPublisher {
    /// Validates `config`, opens both sockets and allocates every buffer.
    pub fn new(config: &PublisherConfig) -> Result<Self, PublisherError> {
        let c = config;
        if c.max_payload < HEADER_LEN + 2 + SLOT || c.max_payload > MAX_DATAGRAM {
            return Err(PublisherError::Config(
                "max_payload must hold one message and fit a UDP datagram",
            ));
        }
        if c.history == 0 || c.history > 1 << 30 {
            return Err(PublisherError::Config("history must be in 1..=2^30"));
        }
        if c.max_reply_messages == 0 || c.max_reply_messages == END_OF_SESSION {
            return Err(PublisherError::Config(
                "max_reply_messages must be in 1..=65534",
            ));
        }
        if c.heartbeat_interval_ns == 0 {
            return Err(PublisherError::Config(
                "heartbeat_interval_ns must be positive",
            ));
        }
        if c.faults.total_ppm() > u64::from(fault::PPM) {
            return Err(PublisherError::Config(
                "fault shares must sum to at most 1,000,000 ppm",
            ));
        }
        let max_id = c.instruments.iter().map(|i| usize::from(i.id.0)).max();
        let mut symbols = vec![[b' '; 8]; max_id.map_or(0, |m| m + 1)];
        for (k, i) in c.instruments.iter().enumerate() {
            if c.instruments[..k].iter().any(|j| j.id == i.id) {
                return Err(PublisherError::Config("an instrument is configured twice"));
            }
            symbols[usize::from(i.id.0)] = i.symbol;
        }

        let line = open_sender(c)?;
        let rx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        if let Some(bytes) = c.send_buffer {
            rx.set_send_buffer_size(bytes)?;
        }
        rx.set_nonblocking(true)?;
        rx.bind(&SockAddr::from(c.retransmit_bind))?;
        let rx: UdpSocket = rx.into();
        let retransmit_addr = rx.local_addr()?;

        let shared = Arc::new(Shared::default());
        shared.next_sequence.store(1, Relaxed);
        Ok(Self {
            session: c.session,
            instruments: c.instruments.clone(),
            symbols,
            line: LiveLine {
                socket: line,
                faults: Faults::new(&c.faults),
                held: vec![1u8; c.max_payload].into_boxed_slice(),
                held_len: 0,
                held_at_ns: 0,
                last_send_ns: 0,
            },
            retransmit: Retransmitter {
                socket: rx,
                request: [0; REQUEST_BUF],
                reply: vec![1u8; c.max_payload].into_boxed_slice(),
                max_reply: c.max_reply_messages,
                max_requests: c.max_requests_per_poll.max(1),
            },
            history: History::new(c.history),
            packet: vec![1u8; c.max_payload].into_boxed_slice(),
            packet_len: HEADER_LEN,
            packet_count: 0,
            packet_first: 1,
            next_seq: 1,
            now_ns: 0,
            heartbeat_interval_ns: c.heartbeat_interval_ns,
            max_hold_ns: c.max_hold_ns,
            destination: c.destination,
            retransmit_addr,
            started: false,
            ended: false,
            stats: PublisherStats::default(),
            dirty: false,
            shared,
        })
    }

    /// A handle for reading the counters and ending the session from elsewhere.
    #[must_use]
    pub fn handle(&self) -> PublisherHandle {
        PublisherHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Where data datagrams go.
    #[must_use]
    pub const fn destination(&self) -> SocketAddrV4 {
        self.destination
    }

    /// The retransmission server's address (send MoldUDP64 requests here).
    #[must_use]
    pub const fn retransmit_addr(&self) -> SocketAddr {
        self.retransmit_addr
    }

    /// The MoldUDP64 session.
    #[must_use]
    pub const fn session(&self) -> Session {
        self.session
    }

    /// The next sequence number to be published.
    #[must_use]
    pub const fn next_sequence(&self) -> u64 {
        self.next_seq
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &PublisherStats {
        &self.stats
    }

    /// True once the end of the session was sent.
    #[must_use]
    pub const fn is_ended(&self) -> bool {
        self.ended
    }

    /// Opens the session (System Events `O`, Stock Directories, `S`, `Q`) if
    /// not yet open. Called by the first `on_events`/`poll` otherwise.
    pub fn start_session(&mut self, now_ns: u64) {
        if self.started {
            return;
        }
        self.started = true;
        self.now_ns = now_ns;
        let ts = now_ns % NS_PER_DAY;
        self.push(&system_event(ts, b'O'));
        for k in 0..self.instruments.len() {
            let i = self.instruments[k];
            self.push(&stock_directory(ts, &i));
        }
        self.push(&system_event(ts, b'S'));
        self.push(&system_event(ts, b'Q'));
        self.flush(now_ns);
        self.publish_stats();
    }

    /// Ends the session: System Events `M`, `E`, `C`, then an end-of-session
    /// packet (repeated on every idle heartbeat interval afterwards). Later
    /// events are not published; re-requests are still answered.
    pub fn end_session(&mut self, now_ns: u64) {
        self.start_session(now_ns);
        if self.ended {
            return;
        }
        self.now_ns = now_ns;
        let ts = now_ns % NS_PER_DAY;
        for code in [b'M', b'E', b'C'] {
            self.push(&system_event(ts, code));
        }
        self.flush(now_ns);
        self.ended = true;
        self.send_end_of_session(now_ns);
        self.shared.ended.store(true, Relaxed);
        self.publish_stats();
    }

    fn send_end_of_session(&mut self, now_ns: u64) {
        let mut buf = [0u8; HEADER_LEN];
        if encode_end_of_session(self.session, self.next_seq, &mut buf).is_ok() {
            self.line.send_control(&buf, now_ns, &mut self.stats);
            self.stats.end_of_session += 1;
            self.dirty = true;
        }
    }

    /// Appends one message to the current datagram (flushing first if it does
    /// not fit) and to the history, under the next sequence number.
    #[inline]
    fn push(&mut self, msg: &Message) {
        let mut bytes = [0u8; SLOT];
        let Ok(len) = msg.encode(&mut bytes) else {
            self.stats.unpublished_events += 1;
            self.dirty = true;
            return;
        };
        let body = &bytes[..len];
        if self.packet_len + 2 + len > self.packet.len() {
            self.flush(self.now_ns);
        }
        if self.packet_count == 0 {
            self.packet_first = self.next_seq;
        }
        let at = self.packet_len;
        self.packet[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.packet[at + 2..at + 2 + len].copy_from_slice(body);
        self.packet_len = at + 2 + len;
        self.packet_count += 1;
        self.history.put(self.next_seq, body);
        self.next_seq += 1;
        self.stats.messages += 1;
        self.dirty = true;
    }

    /// Sends the current datagram, if it holds any message.
    fn flush(&mut self, now_ns: u64) {
        if self.packet_count == 0 {
            return;
        }
        let header = Header {
            session: self.session,
            sequence: self.packet_first,
            count: self.packet_count,
        };
        let len = self.packet_len;
        self.packet_len = HEADER_LEN;
        self.packet_count = 0;
        if encode_header(&header, &mut self.packet).is_err() {
            return;
        }
        self.stats.datagrams += 1;
        self.line
            .send_data(&self.packet[..len], now_ns, &mut self.stats);
    }

    fn publish_stats(&mut self) {
        if self.dirty {
            self.dirty = false;
            self.shared.stats.store(&self.stats);
            self.shared.next_sequence.store(self.next_seq, Relaxed);
        }
    }
}

impl MarketDataOut for ItchPublisher {
    fn on_events(&mut self, now_ns: u64, events: &[Event]) {
        self.now_ns = now_ns;
        self.start_session(now_ns);
        let ts = now_ns % NS_PER_DAY;
        for event in events {
            if self.ended {
                self.stats.unpublished_events += 1;
                self.dirty = true;
                continue;
            }
            let symbols = &self.symbols;
            let symbol =
                |id: InstrumentId| symbols.get(usize::from(id.0)).copied().unwrap_or([b' '; 8]);
            match map::itch_for(event, ts, symbol) {
                Ok(Some(msg)) => self.push(&msg),
                Ok(None) => {}
                Err(map::OutOfRange) => {
                    self.stats.unpublished_events += 1;
                    self.dirty = true;
                }
            }
        }
        self.flush(now_ns);
        self.publish_stats();
    }

    fn poll(&mut self, now_ns: u64) {
        self.start_session(now_ns);
        if !self.ended && self.shared.end_requested.load(Relaxed) {
            self.end_session(now_ns);
        }
        let served =
            self.retransmit
                .serve(self.session, &self.history, self.next_seq, &mut self.stats);
        if served > 0 {
            self.dirty = true;
        }
        if self.line.held_len > 0 && now_ns.saturating_sub(self.line.held_at_ns) >= self.max_hold_ns
        {
            self.line.release(&mut self.stats);
        }
        if now_ns.saturating_sub(self.line.last_send_ns) >= self.heartbeat_interval_ns {
            if self.ended {
                self.send_end_of_session(now_ns);
            } else {
                let mut buf = [0u8; HEADER_LEN];
                if encode_heartbeat(self.session, self.next_seq, &mut buf).is_ok() {
                    self.line.send_control(&buf, now_ns, &mut self.stats);
                    self.stats.heartbeats += 1;
                    self.dirty = true;
                }
            }
        }
        self.publish_stats();
    }
}

fn system_event(ts: u64, code: u8) -> Message {
    Message::SystemEvent(SystemEvent {
        stock_locate: 0,
        tracking_number: 0,
        timestamp: ts,
        event_code: code,
    })
}

fn stock_directory(ts: u64, i: &FeedInstrument) -> Message {
    Message::StockDirectory(StockDirectory {
        round_lot_size: i.round_lot,
        // A simulator's securities are test securities.
        authenticity: b'T',
        luld_reference_price_tier: b' ',
        ..StockDirectory::common_stock(ts, i.id.0, i.symbol)
    })
}

/// Opens the sending socket, connected to the destination (one route lookup,
/// at start-up), non-blocking, with multicast loopback on for a group.
fn open_sender(c: &PublisherConfig) -> Result<UdpSocket, PublisherError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(bytes) = c.send_buffer {
        socket.set_send_buffer_size(bytes)?;
    }
    if c.destination.ip().is_multicast() {
        let interface = if c.bind.ip().is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            *c.bind.ip()
        };
        socket.set_multicast_if_v4(&interface)?;
        socket.set_multicast_loop_v4(true)?;
        socket.set_multicast_ttl_v4(c.multicast_ttl)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(c.bind))?;
    socket.connect(&SockAddr::from(c.destination))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{
        Booked, CancelReason, Canceled, ClientOrderId, Executed, FirmId, MatchNumber,
        ReplaceEffect, Replaced,
    };
    use quotewire_core::{OrderId, Price, Qty, Side, Timestamp};
    use quotewire_protocol::itch;

    const INST: InstrumentId = InstrumentId(3);

    fn sym(_: InstrumentId) -> [u8; 8] {
        *b"QWTEST  "
    }

    fn canceled(qty: u64, remaining: u64, on_book: bool) -> Event {
        Event::Canceled(Canceled {
            ts: Timestamp(1),
            order_ref: OrderId(7),
            instrument: INST,
            firm: FirmId(1),
            client_id: ClientOrderId(1),
            side: Side::Buy,
            price: Price(10_000),
            qty: Qty(qty),
            remaining: Qty(remaining),
            reason: CancelReason::User,
            on_book,
        })
    }

    fn replaced(effect: ReplaceEffect, old_qty: u64, qty: u64) -> Event {
        Event::Replaced(Replaced {
            ts: Timestamp(1),
            instrument: INST,
            old_ref: OrderId(7),
            new_ref: OrderId(9),
            firm: FirmId(1),
            orig_client_id: ClientOrderId(1),
            client_id: ClientOrderId(2),
            side: Side::Sell,
            old_price: Price(10_000),
            old_qty: Qty(old_qty),
            price: Price(10_100),
            qty: Qty(qty),
            effect,
        })
    }

    #[test]
    fn mapping_follows_the_matching_table() {
        let tag = |e: &Event| map::itch_for(e, 5, sym).unwrap().map(|m| m.tag());
        let booked = Event::Booked(Booked {
            ts: Timestamp(1),
            order_ref: OrderId(7),
            instrument: INST,
            firm: FirmId(1),
            side: Side::Buy,
            price: Price(10_000),
            qty: Qty(10),
        });
        let Some(Message::AddOrder(a)) = map::itch_for(&booked, 5, sym).unwrap() else {
            panic!("Booked must be an A");
        };
        assert_eq!(
            (a.stock_locate, a.order_ref, a.shares, a.price, a.stock),
            (3, 7, 10, 10_000, *b"QWTEST  ")
        );
        assert_eq!((a.timestamp, a.tracking_number), (5, 0));
        let exec = Event::Executed(Executed {
            ts: Timestamp(1),
            instrument: INST,
            match_number: MatchNumber(4),
            price: Price(10_000),
            qty: Qty(3),
            aggressor_side: Side::Sell,
            resting_ref: OrderId(7),
            resting_firm: FirmId(1),
            resting_client_id: ClientOrderId(1),
            resting_remaining: Qty(7),
            aggressor_ref: OrderId(8),
            aggressor_firm: FirmId(2),
            aggressor_client_id: ClientOrderId(1),
            aggressor_remaining: Qty(0),
        });
        let Some(Message::OrderExecuted(e)) = map::itch_for(&exec, 5, sym).unwrap() else {
            panic!("Executed must be an E");
        };
        assert_eq!((e.order_ref, e.executed_shares, e.match_number), (7, 3, 4));
        assert_eq!(tag(&canceled(3, 4, true)), Some(b'X'));
        assert_eq!(tag(&canceled(3, 0, true)), Some(b'D'));
        assert_eq!(tag(&canceled(3, 0, false)), None);
        let Some(Message::OrderCancel(x)) =
            map::itch_for(&replaced(ReplaceEffect::InPlace, 10, 6), 5, sym).unwrap()
        else {
            panic!("an in-place reduction must be an X");
        };
        assert_eq!((x.order_ref, x.cancelled_shares), (7, 4));
        assert_eq!(tag(&replaced(ReplaceEffect::InPlace, 10, 10)), None);
        let Some(Message::OrderReplace(u)) =
            map::itch_for(&replaced(ReplaceEffect::Requeued, 10, 12), 5, sym).unwrap()
        else {
            panic!("a requeue must be a U");
        };
        assert_eq!(
            (u.original_order_ref, u.new_order_ref, u.shares, u.price),
            (7, 9, 12, 10_100)
        );
        let Some(Message::OrderDelete(d)) =
            map::itch_for(&replaced(ReplaceEffect::Reentered, 10, 12), 5, sym).unwrap()
        else {
            panic!("a re-entry must start with a D");
        };
        assert_eq!(d.order_ref, 7);
    }

    #[test]
    fn price_outside_the_itch_range_is_refused_not_truncated() {
        let booked = Event::Booked(Booked {
            ts: Timestamp(1),
            order_ref: OrderId(7),
            instrument: INST,
            firm: FirmId(1),
            side: Side::Buy,
            price: Price(-1),
            qty: Qty(10),
        });
        assert!(map::itch_for(&booked, 5, sym).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let dest = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
        let mut c = PublisherConfig::new("T", dest);
        c.max_payload = 30;
        assert!(matches!(
            ItchPublisher::new(&c),
            Err(PublisherError::Config(_))
        ));
        let mut c = PublisherConfig::new("T", dest);
        c.faults.drop_ppm = 900_000;
        c.faults.reorder_ppm = 200_000;
        assert!(ItchPublisher::new(&c).is_err());
        let c = PublisherConfig::new("T", dest)
            .with_instrument(INST, "A")
            .with_instrument(INST, "B");
        assert!(ItchPublisher::new(&c).is_err());
    }

    #[test]
    fn all_emitted_message_lengths_fit_the_history_slot() {
        for tag in [b'S', b'R', b'A', b'E', b'X', b'D', b'U'] {
            assert!(itch::message_len(tag).is_some_and(|n| n <= SLOT));
        }
    }
}
