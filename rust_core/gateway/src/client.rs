//! [`OuchClient`]: the OUCH 5.0 order-entry session over SoupBinTCP 4.0.
//!
//! # Connection
//!
//! Everything runs from the caller's loop; nothing blocks. The TCP connect is
//! non-blocking: [`OrderGateway::poll`] starts it and checks for completion on
//! later polls (`SO_ERROR`, then `getpeername`), giving up after
//! `server_timeout_ns`. `TCP_NODELAY` is set on the socket.
//!
//! # Login and replay
//!
//! The Login Request asks for the blank (current) or configured session and
//! for the persisted next sequence number: 1 on a first start, so that every
//! message of the session is delivered (SoupBinTCP's 0 would mean "only new
//! messages", which could skip reports of orders a crashed predecessor sent).
//! The venue answers Login Accepted with the number of the next message it
//! sends; the client adopts it ([`GatewayStats::sequence_adjustments`] counts
//! a difference). Right after Login Accepted it sends an Account Query `Q`:
//! the venue appends the answer to the session log after everything already
//! logged, so it arrives after the replayed messages. On it the client turns
//! [`SessionStatus::Ready`] and reports [`SessionEvent::Ready`] with the
//! venue's next expected UserRefNum. Replayed messages are reported exactly
//! like live ones; the OMS deduplicates (match numbers, order state).
//!
//! After [`OuchClient::replay_from_start`] (a restarted engine recovering
//! from its journal) the login asks for sequence 1, and the answers to every
//! earlier connection's Account Query are replayed too: only one numbered at
//! or after the state file's old next sequence number ends the replay.
//!
//! One corner: if an earlier connection died after its Account Query reached
//! the venue but before the answer arrived, that old answer is replayed and
//! ends the replay early. Its `next_cl` is still above every id the venue had
//! seen (orders are only sent once Ready, and the previous connections' orders
//! preceded it), and the messages after it are still reported; only the
//! "replay complete" moment is early.
//!
//! If Login Accepted names another session than the state file (a new trading
//! day), the state is reset and, unless the venue already starts at 1, the
//! client reconnects at once to log in from sequence 1
//! ([`LostReason::SessionChanged`]).
//!
//! # Liveness
//!
//! A Client Heartbeat `R` goes out after `heartbeat_interval_ns` without
//! output. Nothing received for `server_timeout_ns` loses the connection, as
//! do EOF, socket errors, bad framing and packets out of protocol. A lost
//! connection is reported ([`SessionEvent::Lost`]); unsent bytes are dropped
//! (counted in [`GatewayStats::discarded_bytes`]: those requests never reached
//! the venue) and, if `reconnect` is set, a new connection starts after the
//! backoff, which doubles on each failure up to 32 times the configured
//! value and is reset by a successful login. A rejected first login is
//! reported and not retried (wrong credentials or session) unless
//! `refused_login_retry_ns` is set; a rejected re-login after an earlier
//! success is retried with backoff (the venue may not yet have seen the old
//! connection end). End of Session ends the client for good.
//!
//! # Taking over an account
//!
//! A venue takes one logged-in connection per account, and refuses a second
//! login with the same reason as bad credentials. An engine that takes over
//! from a predecessor (a hot standby after the holder paused) may log in
//! before the venue has ended the predecessor's silent session. With
//! `refused_login_retry_ns` set, a refused first login is retried every that
//! long (no doubling: the venue answered, it is not overloaded) until
//! `server_timeout_ns` has passed since the first refusal, and only then
//! treated as final. Each refusal is still reported.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use quotewire_core::order::{ClOrdId, OrderRequest};
use quotewire_core::InstrumentId;
use quotewire_protocol::soupbintcp::{self, LoginAccepted, LoginRequest, Packet, StreamFramer};
use socket2::Socket;

use crate::codec::{decode_message, printable, Decoded, OuchEncoder, MAX_REQUEST_PACKET_LEN};
use crate::conn::{Backoff, Conn, OnConnect, OutBuf};
use crate::event::{DebugText, GatewaySink, LostReason, OrderGateway, SessionEvent, SessionStatus};
use crate::state::{SessionState, StateStore};
use crate::{GatewayConfigError, GatewayError, GatewayStats};

/// Reads per poll, so that a flood of input cannot starve the caller's loop.
const MAX_READS_PER_POLL: usize = 16;
/// Smallest accepted send buffer.
pub const MIN_SEND_BUFFER: usize = 256;
/// Smallest accepted receive buffer.
pub const MIN_RECV_BUFFER: usize = 512;

/// Configuration of an [`OuchClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuchClientConfig {
    /// The venue's OUCH/SoupBinTCP address.
    pub addr: SocketAddr,
    /// SoupBinTCP username (1 to 6 printable ASCII characters).
    pub username: String,
    /// SoupBinTCP password (up to 10 printable ASCII characters).
    pub password: String,
    /// Session to log into; blank for the venue's current session.
    pub session: String,
    /// Where the sequence numbers are persisted; `None` keeps them in memory
    /// (a restart then replays the whole session).
    pub state_file: Option<PathBuf>,
    /// Instrument to OUCH symbol (1 to 8 characters).
    pub symbols: Vec<(InstrumentId, String)>,
    /// A Client Heartbeat is sent after this long without output.
    pub heartbeat_interval_ns: u64,
    /// The connection is lost after this long without input (and a connect
    /// or login attempt fails after this long).
    pub server_timeout_ns: u64,
    /// Reconnect after a lost connection.
    pub reconnect: bool,
    /// Wait before the first reconnect attempt (doubles on each failure).
    pub reconnect_backoff_ns: u64,
    /// Retry a refused first login after this long, for up to
    /// `server_timeout_ns` after the first refusal (0: a refused first login is
    /// final). See "Taking over an account" in the module docs.
    pub refused_login_retry_ns: u64,
    /// Firm appendage (tag 2, 1 to 4 characters) added to every Enter Order.
    pub firm: Option<String>,
    /// Bytes of the send buffer.
    pub send_buffer: usize,
    /// Bytes of the receive buffer (two of the largest accepted packets).
    pub recv_buffer: usize,
}

impl OuchClientConfig {
    /// A configuration with defaults: current session, no state file, 1 s
    /// heartbeat, 5 s server timeout, reconnect after 100 ms, 64 KiB buffers.
    #[must_use]
    pub fn new(addr: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            addr,
            username: username.to_owned(),
            password: password.to_owned(),
            session: String::new(),
            state_file: None,
            symbols: Vec::new(),
            heartbeat_interval_ns: 1_000_000_000,
            server_timeout_ns: 5_000_000_000,
            reconnect: true,
            reconnect_backoff_ns: 100_000_000,
            refused_login_retry_ns: 0,
            firm: None,
            send_buffer: 64 * 1024,
            recv_buffer: 64 * 1024,
        }
    }
}

/// Internal phase; [`SessionStatus`] is its public view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Never connected: the first poll connects.
    Idle,
    Connecting,
    LoggingIn,
    Replaying,
    Ready,
    /// Waiting until `next_connect_ns` (`u64::MAX`: for good).
    Down,
    Ended,
}

/// Why the connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    Lost(LostReason),
    Rejected(u8),
    Ended,
}

/// Everything but the socket and the framer (so that a packet borrowed from
/// the framer can be handled while this is mutated).
#[derive(Debug)]
struct Session {
    addr: SocketAddr,
    login: LoginRequest,
    heartbeat_ns: u64,
    timeout_ns: u64,
    reconnect: bool,
    backoff: Backoff,
    /// Retry interval of a refused first login (0: never retried).
    refused_retry_ns: u64,
    /// When the first login was first refused (`u64::MAX`: not yet).
    refused_since_ns: u64,
    encoder: OuchEncoder,
    out: OutBuf,
    store: StateStore,
    stats: GatewayStats,
    phase: Phase,
    since_ns: u64,
    last_rx_ns: u64,
    last_tx_ns: u64,
    next_connect_ns: u64,
    attempts: u64,
    pending_lost: Option<LostReason>,
    state_reset_unreported: bool,
    next_cl: Option<ClOrdId>,
    reports: usize,
    /// An Account Query answer numbered below this is an earlier
    /// connection's, replayed ([`OuchClient::replay_from_start`]).
    replay_until: u64,
}

/// The OUCH 5.0 client over SoupBinTCP 4.0; see the module docs.
#[derive(Debug)]
pub struct OuchClient {
    framer: StreamFramer,
    conn: Conn,
    s: Session,
}

impl OuchClient {
    /// Validates `config`, opens (or creates) the state file and sizes every
    /// buffer. No network I/O: the first [`poll`](OrderGateway::poll) connects.
    pub fn new(config: OuchClientConfig) -> Result<Self, GatewayConfigError> {
        let c = config;
        if !printable(&c.username, soupbintcp::USERNAME_LEN) {
            return Err(GatewayConfigError::InvalidUsername(c.username));
        }
        if !c.password.is_empty() && !printable(&c.password, soupbintcp::PASSWORD_LEN) {
            return Err(GatewayConfigError::InvalidPassword);
        }
        if !c.session.is_empty() && !printable(&c.session, soupbintcp::SESSION_LEN) {
            return Err(GatewayConfigError::InvalidSession(c.session));
        }
        if c.heartbeat_interval_ns == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "heartbeat_interval_ns must be above 0",
            ));
        }
        if c.server_timeout_ns == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "server_timeout_ns must be above 0",
            ));
        }
        if c.reconnect && c.reconnect_backoff_ns == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "reconnect_backoff_ns must be above 0 when reconnecting",
            ));
        }
        if c.send_buffer < MIN_SEND_BUFFER {
            return Err(GatewayConfigError::BufferTooSmall {
                what: "send_buffer",
                min: MIN_SEND_BUFFER,
                got: c.send_buffer,
            });
        }
        if c.recv_buffer < MIN_RECV_BUFFER {
            return Err(GatewayConfigError::BufferTooSmall {
                what: "recv_buffer",
                min: MIN_RECV_BUFFER,
                got: c.recv_buffer,
            });
        }
        let encoder = OuchEncoder::new(&c.symbols, c.firm.as_deref())?;
        let login = LoginRequest::new(
            c.username.as_bytes(),
            c.password.as_bytes(),
            c.session.as_bytes(),
            0,
        )
        .map_err(|_| GatewayConfigError::InvalidUsername(c.username.clone()))?;
        let (mut store, torn) = match &c.state_file {
            Some(path) => StateStore::open(path)?,
            None => (StateStore::memory(), false),
        };
        let mut stats = GatewayStats::default();
        if torn {
            stats.state_resets += 1;
        }
        // A session named in the configuration that differs from the stored
        // one: the stored numbers belong to another session.
        let stored = store.get().session;
        if !c.session.is_empty() && stored != [b' '; 10] && stored != login.requested_session {
            store.reset(login.requested_session);
            stats.state_resets += 1;
        }
        let max_packet =
            (c.recv_buffer / 2 - soupbintcp::LENGTH_PREFIX_LEN).min(usize::from(u16::MAX));
        Ok(Self {
            framer: StreamFramer::new(max_packet),
            conn: Conn::Closed,
            s: Session {
                addr: c.addr,
                login,
                heartbeat_ns: c.heartbeat_interval_ns,
                timeout_ns: c.server_timeout_ns,
                reconnect: c.reconnect,
                backoff: Backoff::new(c.reconnect_backoff_ns),
                refused_retry_ns: c.refused_login_retry_ns,
                refused_since_ns: u64::MAX,
                encoder,
                out: OutBuf::new(c.send_buffer),
                store,
                stats,
                phase: Phase::Idle,
                since_ns: 0,
                last_rx_ns: 0,
                last_tx_ns: 0,
                next_connect_ns: 0,
                attempts: 0,
                pending_lost: None,
                state_reset_unreported: torn,
                next_cl: None,
                reports: 0,
                replay_until: 0,
            },
        })
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &GatewayStats {
        &self.s.stats
    }

    /// The persisted session state (session name, next expected sequence
    /// number, highest UserRefNum sent).
    #[must_use]
    pub const fn state(&self) -> SessionState {
        self.s.store.get()
    }

    /// Makes the next login ask for the whole session (sequence 1) whatever
    /// the state file says, and persists that: a restarted engine whose
    /// journal may have lost reports the state file already counts as
    /// received (the OMS drops what it has already applied). The replay
    /// then holds the Account Query answers of every earlier connection; only
    /// one numbered at or after the sequence number the state file held
    /// (where the previous process stopped reading) ends the replay, so the
    /// session is not reported ready halfway through it. Without a state
    /// file that number is 1 and the first answer ends it (see the module docs).
    pub fn replay_from_start(&mut self) {
        let stored = self.s.store.get().next_seq;
        self.s.replay_until = self.s.replay_until.max(stored);
        if stored != 1 {
            self.s.store.set_next_seq(1);
        }
    }

    /// The venue's next expected UserRefNum from the last Account Query
    /// Response of this connection's login (`None` until Ready).
    #[must_use]
    pub const fn next_cl(&self) -> Option<ClOrdId> {
        self.s.next_cl
    }

    /// Bytes encoded but not yet written to the socket.
    #[must_use]
    pub const fn pending_bytes(&self) -> usize {
        self.s.out.pending_len()
    }

    /// The encoder (symbol table and Firm appendage) this client uses.
    #[must_use]
    pub const fn encoder(&self) -> &OuchEncoder {
        &self.s.encoder
    }

    /// Flushes the memory-mapped state file to disk (msync). Not needed for
    /// a process crash (the OS keeps the pages), only against a machine crash.
    pub fn sync_state(&self) -> io::Result<()> {
        self.s.store.sync()
    }

    /// Drops the TCP connection at once, without a Logout (as a network
    /// failure would: the venue's cancel-on-disconnect applies). The loss is
    /// reported as [`LostReason::Local`] on the next poll and the client
    /// reconnects if configured to. For tests and operator tooling.
    pub fn disconnect(&mut self) {
        if self.conn.abort() {
            self.s.pending_lost = Some(LostReason::Local);
        }
    }

    /// Logs out (Logout Request, written best effort), closes the connection,
    /// msyncs the state file and ends the client ([`SessionStatus::Ended`]).
    pub fn close(&mut self, now_ns: u64) -> io::Result<()> {
        if let Conn::Open(stream) = &self.conn {
            if matches!(
                self.s.phase,
                Phase::LoggingIn | Phase::Replaying | Phase::Ready
            ) {
                self.s.queue(&Packet::LogoutRequest);
                let _ = self.s.write_out(stream, now_ns);
            }
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        self.conn = Conn::Closed;
        self.s.phase = Phase::Ended;
        self.s.out.discard();
        self.s.store.sync()
    }

    fn start_connect(&mut self, now_ns: u64, sink: &mut impl GatewaySink) {
        if self.s.attempts > 0 {
            self.s.stats.reconnects += 1;
        }
        self.s.attempts += 1;
        self.s.since_ns = now_ns;
        self.s.phase = Phase::Connecting;
        let outcome = self.conn.start_connect(self.s.addr);
        self.settle_connect(outcome, now_ns, sink);
    }

    fn check_connect(&mut self, now_ns: u64, sink: &mut impl GatewaySink) {
        let outcome = self
            .conn
            .check_connect(now_ns, self.s.since_ns, self.s.timeout_ns);
        self.settle_connect(outcome, now_ns, sink);
    }

    /// Closes the socket (if any), reports why and decides what comes next.
    fn close_conn(&mut self, now_ns: u64, why: Close, sink: &mut impl GatewaySink) {
        self.conn = Conn::Closed;
        self.framer.reset();
        let s = &mut self.s;
        s.stats.discarded_bytes += s.out.discard() as u64;
        s.next_cl = None;
        match why {
            Close::Lost(reason) => {
                s.stats.lost += 1;
                s.phase = Phase::Down;
                s.next_connect_ns = if !s.reconnect {
                    u64::MAX
                } else if reason == LostReason::SessionChanged {
                    now_ns
                } else {
                    s.backoff.next_at(now_ns)
                };
                sink.session(SessionEvent::Lost { reason });
            }
            Close::Rejected(reason) => {
                s.phase = Phase::Down;
                // Credentials that worked before are refused: most likely the
                // venue has not yet noticed the previous connection's end.
                // Retry with backoff; a first login is refused for good unless
                // configured to retry for a while (taking over an account).
                if s.stats.logins == 0 && s.refused_since_ns == u64::MAX {
                    s.refused_since_ns = now_ns;
                }
                s.next_connect_ns = if s.reconnect && s.stats.logins > 0 {
                    s.backoff.next_at(now_ns)
                } else if s.refused_retry_ns > 0
                    && now_ns.saturating_sub(s.refused_since_ns) < s.timeout_ns
                {
                    now_ns.saturating_add(s.refused_retry_ns)
                } else {
                    u64::MAX
                };
                sink.session(SessionEvent::LoginRejected { reason });
            }
            Close::Ended => {
                s.phase = Phase::Ended;
                sink.session(SessionEvent::EndOfSession);
            }
        }
    }

    /// Reads what the socket has and handles every complete packet.
    fn read(&mut self, now_ns: u64, sink: &mut impl GatewaySink) -> Result<(), Close> {
        let Conn::Open(stream) = &mut self.conn else {
            return Ok(());
        };
        for _ in 0..MAX_READS_PER_POLL {
            let spare = self.framer.spare();
            if spare.is_empty() {
                break;
            }
            match stream.read(spare) {
                Ok(0) => return Err(Close::Lost(LostReason::PeerClosed)),
                Ok(n) => {
                    self.framer.commit(n);
                    self.s.stats.bytes_in += n as u64;
                    self.s.last_rx_ns = now_ns;
                    handle_packets(&mut self.framer, &mut self.s, now_ns, sink)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Close::Lost(LostReason::IoError)),
            }
        }
        Ok(())
    }

    /// Timeouts and heartbeats of a connected session, then the pending output.
    fn timers(&mut self, now_ns: u64) -> Result<(), Close> {
        let s = &mut self.s;
        match s.phase {
            Phase::LoggingIn if now_ns.saturating_sub(s.since_ns) >= s.timeout_ns => {
                return Err(Close::Lost(LostReason::LoginTimeout));
            }
            Phase::Replaying | Phase::Ready => {
                if now_ns.saturating_sub(s.last_rx_ns) >= s.timeout_ns {
                    return Err(Close::Lost(LostReason::ServerTimeout));
                }
                if s.out.is_empty() && now_ns.saturating_sub(s.last_tx_ns) >= s.heartbeat_ns {
                    s.queue(&Packet::ClientHeartbeat);
                    s.stats.heartbeats_out += 1;
                }
            }
            _ => {}
        }
        if let Conn::Open(stream) = &self.conn {
            self.s
                .write_out(stream, now_ns)
                .map_err(|_| Close::Lost(LostReason::IoError))?;
        }
        Ok(())
    }
}

/// Handles every complete packet in the framer.
fn handle_packets(
    framer: &mut StreamFramer,
    s: &mut Session,
    now_ns: u64,
    sink: &mut impl GatewaySink,
) -> Result<(), Close> {
    loop {
        let failed = match framer.next_packet() {
            Ok(Some(p)) => {
                s.on_packet(&p, now_ns, sink)?;
                false
            }
            Ok(None) => return Ok(()),
            Err(_) => true,
        };
        if failed {
            if framer.failed().is_some() {
                return Err(Close::Lost(LostReason::Framing));
            }
            // A packet of unknown type or wrong length: counted and skipped.
            s.stats.decode_errors += 1;
        }
    }
}

impl Session {
    /// Appends one packet to the send buffer; false if it does not fit.
    fn queue(&mut self, p: &Packet<'_>) -> bool {
        let n = p.encoded_len();
        if !self.out.make_room(n) {
            return false;
        }
        match p.encode(self.out.spare(usize::MAX)) {
            Ok(n) => {
                self.out.commit(n);
                self.stats.packets_out += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// One write of everything pending; the rest stays buffered.
    fn write_out(&mut self, stream: &TcpStream, now_ns: u64) -> Result<(), io::ErrorKind> {
        let n = self.out.write_to(stream)?;
        if n > 0 {
            self.stats.bytes_out += n as u64;
            self.last_tx_ns = now_ns;
        }
        Ok(())
    }

    fn on_packet(
        &mut self,
        p: &Packet<'_>,
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        self.stats.packets_in += 1;
        match (self.phase, p) {
            (_, Packet::Debug(text)) => {
                self.stats.debug_in += 1;
                sink.session(SessionEvent::Debug {
                    text: DebugText::new(text),
                });
                Ok(())
            }
            (_, Packet::ServerHeartbeat) => {
                self.stats.heartbeats_in += 1;
                Ok(())
            }
            (Phase::LoggingIn, Packet::LoginAccepted(a)) => self.on_login(a, now_ns, sink),
            (Phase::LoggingIn, Packet::LoginRejected(r)) => Err(Close::Rejected(r.as_byte())),
            (Phase::Replaying | Phase::Ready, Packet::SequencedData(m)) => {
                self.on_sequenced(m, sink);
                Ok(())
            }
            (_, Packet::EndOfSession) => Err(Close::Ended),
            _ => Err(Close::Lost(LostReason::Protocol)),
        }
    }

    fn on_login(
        &mut self,
        a: &LoginAccepted,
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        let stored = self.store.get();
        if stored.session == [b' '; 10] {
            self.store.set_session(a.session);
        } else if stored.session != a.session {
            // A new venue session: the stored numbers meant another one.
            self.store.reset(a.session);
            self.replay_until = 0;
            self.stats.state_resets += 1;
            if a.sequence_number > 1 {
                return Err(Close::Lost(LostReason::SessionChanged));
            }
        }
        let next_seq = a.sequence_number.max(1);
        if next_seq != self.store.get().next_seq {
            self.stats.sequence_adjustments += 1;
            self.store.set_next_seq(next_seq);
        }
        self.stats.logins += 1;
        self.backoff.reset();
        self.phase = Phase::Replaying;
        self.since_ns = now_ns;
        sink.session(SessionEvent::LoggedIn { next_seq });
        let query = [quotewire_protocol::ouch::AccountQuery::TAG];
        if !self.queue(&Packet::UnsequencedData(&query)) {
            return Err(Close::Lost(LostReason::IoError));
        }
        Ok(())
    }

    #[inline]
    fn on_sequenced(&mut self, m: &[u8], sink: &mut impl GatewaySink) {
        let seq = self.store.get().next_seq;
        let next = seq.saturating_add(1);
        self.store.set_next_seq(next);
        self.stats.sequenced_in += 1;
        match decode_message(m) {
            Ok(Decoded::Report(r)) => {
                self.stats.reports += 1;
                self.reports += 1;
                sink.report(&r);
            }
            Ok(Decoded::AccountQuery { next_cl })
                if self.phase == Phase::Replaying && seq >= self.replay_until =>
            {
                self.phase = Phase::Ready;
                self.next_cl = Some(next_cl);
                sink.session(SessionEvent::Ready { next_cl });
            }
            Ok(Decoded::AccountQuery { .. } | Decoded::Other(_)) => self.stats.other_messages += 1,
            Err(_) => self.stats.decode_errors += 1,
        }
    }
}

impl OnConnect for OuchClient {
    fn connected<S: GatewaySink>(&mut self, socket: Socket, now_ns: u64, sink: &mut S) {
        let stream = TcpStream::from(socket);
        self.s.stats.connects += 1;
        self.framer.reset();
        self.s.out.discard();
        self.s.phase = Phase::LoggingIn;
        self.s.since_ns = now_ns;
        self.s.last_rx_ns = now_ns;
        self.s.last_tx_ns = now_ns;
        self.s.next_cl = None;
        let login = LoginRequest {
            requested_sequence_number: self.s.store.get().next_seq,
            ..self.s.login
        };
        self.s.queue(&Packet::LoginRequest(login));
        let written = self.s.write_out(&stream, now_ns);
        self.conn = Conn::Open(stream);
        if written.is_err() {
            self.close_conn(now_ns, Close::Lost(LostReason::IoError), sink);
        }
    }

    fn connect_lost<S: GatewaySink>(&mut self, why: LostReason, now_ns: u64, sink: &mut S) {
        self.close_conn(now_ns, Close::Lost(why), sink);
    }
}

impl OrderGateway for OuchClient {
    #[inline]
    fn send(&mut self, _now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        let s = &mut self.s;
        if s.phase != Phase::Ready {
            return Err(GatewayError::NotReady);
        }
        if !s.out.make_room(MAX_REQUEST_PACKET_LEN) {
            return Err(GatewayError::BufferFull);
        }
        let n = s.encoder.encode(req, s.out.spare(usize::MAX))?;
        s.out.commit(n);
        s.stats.requests += 1;
        s.stats.packets_out += 1;
        s.store.note_cl(req.cl().0);
        Ok(())
    }

    fn flush(&mut self, now_ns: u64) -> Result<(), GatewayError> {
        if self.s.out.is_empty() {
            return Ok(());
        }
        let Conn::Open(stream) = &self.conn else {
            return Err(GatewayError::NotReady);
        };
        match self.s.write_out(stream, now_ns) {
            Ok(()) => Ok(()),
            Err(kind) => {
                // Reported (and the socket closed) on the next poll.
                self.s.pending_lost = Some(LostReason::IoError);
                Err(GatewayError::Io(kind))
            }
        }
    }

    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        self.s.reports = 0;
        if std::mem::take(&mut self.s.state_reset_unreported) {
            sink.session(SessionEvent::StateReset);
        }
        if let Some(reason) = self.s.pending_lost.take() {
            self.close_conn(now_ns, Close::Lost(reason), sink);
        }
        match self.s.phase {
            Phase::Idle => self.start_connect(now_ns, sink),
            Phase::Down if now_ns >= self.s.next_connect_ns => self.start_connect(now_ns, sink),
            Phase::Connecting => self.check_connect(now_ns, sink),
            _ => {}
        }
        if matches!(
            self.s.phase,
            Phase::LoggingIn | Phase::Replaying | Phase::Ready
        ) {
            if let Err(why) = self.read(now_ns, sink).and_then(|()| self.timers(now_ns)) {
                self.close_conn(now_ns, why, sink);
            }
        }
        self.s.reports
    }

    fn status(&self) -> SessionStatus {
        match self.s.phase {
            Phase::Idle | Phase::Connecting => SessionStatus::Connecting,
            Phase::LoggingIn => SessionStatus::LoggingIn,
            Phase::Replaying => SessionStatus::Replaying,
            Phase::Ready => SessionStatus::Ready,
            Phase::Down => SessionStatus::Down,
            Phase::Ended => SessionStatus::Ended,
        }
    }

    fn drop_session(&mut self) {
        self.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use quotewire_core::order::{NewOrder, TimeInForce};
    use quotewire_core::{Price, Qty, Side};
    use quotewire_protocol::ouch::{self, Appendage, Outbound};
    use quotewire_protocol::soupbintcp::RejectReason;

    type Rec = crate::RecordingSink;

    fn config() -> OuchClientConfig {
        let mut c = OuchClientConfig::new(SocketAddr::from(([127, 0, 0, 1], 9)), "ALICE", "secret");
        c.symbols = vec![(InstrumentId(1), "AAPL".into())];
        c
    }

    fn packet(p: &Packet<'_>) -> Vec<u8> {
        let mut b = vec![0; p.encoded_len()];
        p.encode(&mut b).unwrap();
        b
    }

    fn sequenced<'a>(m: impl Into<Outbound<'a>>) -> Vec<u8> {
        let m: Outbound<'a> = m.into();
        let mut b = vec![0; m.encoded_len()];
        m.encode(&mut b).unwrap();
        packet(&Packet::SequencedData(&b))
    }

    fn accepted(session: &[u8; 10], seq: u64) -> Vec<u8> {
        packet(&Packet::LoginAccepted(LoginAccepted {
            session: *session,
            sequence_number: seq,
        }))
    }

    fn query_response(next: u32) -> Vec<u8> {
        sequenced(ouch::AccountQueryResponse {
            timestamp: 1,
            next_user_ref_num: next,
        })
    }

    fn canceled(cl: u32) -> Vec<u8> {
        sequenced(ouch::OrderCanceled {
            timestamp: 2,
            user_ref_num: cl,
            quantity: 10,
            reason: b'X',
        })
    }

    /// Feeds bytes as if read from the socket of a client in `phase`.
    fn feed(c: &mut OuchClient, bytes: &[u8], rec: &mut Rec) -> Result<(), Close> {
        assert_eq!(c.framer.push(bytes), bytes.len());
        handle_packets(&mut c.framer, &mut c.s, 1, rec)
    }

    fn logging_in() -> OuchClient {
        let mut c = OuchClient::new(config()).unwrap();
        c.s.phase = Phase::LoggingIn;
        c
    }

    fn order(cl: u32) -> OrderRequest {
        OrderRequest::New(NewOrder {
            cl: ClOrdId(cl),
            instrument: InstrumentId(1),
            side: Side::Buy,
            price: Price(1_000_000),
            qty: Qty(100),
            tif: TimeInForce::Day,
            post_only: false,
        })
    }

    #[test]
    fn configuration_errors_are_named() {
        let mut c = config();
        c.username = "TOOLONGNAME".into();
        assert!(matches!(
            OuchClient::new(c),
            Err(GatewayConfigError::InvalidUsername(_))
        ));
        let mut c = config();
        c.password = "with space".into();
        assert!(matches!(
            OuchClient::new(c),
            Err(GatewayConfigError::InvalidPassword)
        ));
        let mut c = config();
        c.heartbeat_interval_ns = 0;
        assert!(matches!(
            OuchClient::new(c),
            Err(GatewayConfigError::InvalidTimer(_))
        ));
        let mut c = config();
        c.send_buffer = 10;
        let err = OuchClient::new(c).unwrap_err();
        assert!(err
            .to_string()
            .contains("send_buffer of 10 bytes is too small"));
        let mut c = config();
        c.session = "ELEVENCHARS".into();
        assert!(matches!(
            OuchClient::new(c),
            Err(GatewayConfigError::InvalidSession(_))
        ));
    }

    #[test]
    fn send_before_ready_is_not_ready() {
        let mut c = OuchClient::new(config()).unwrap();
        assert_eq!(c.status(), SessionStatus::Connecting);
        assert_eq!(c.send(0, &order(1)), Err(GatewayError::NotReady));
        assert_eq!(c.pending_bytes(), 0);
    }

    #[test]
    fn login_then_replay_then_account_query_makes_ready() {
        let mut c = logging_in();
        let mut rec = Rec::default();
        let mut bytes = accepted(b"SESSION001", 1);
        bytes.extend(canceled(5));
        bytes.extend(query_response(6));
        feed(&mut c, &bytes, &mut rec).unwrap();
        assert_eq!(
            rec.events,
            vec![
                SessionEvent::LoggedIn { next_seq: 1 },
                SessionEvent::Ready {
                    next_cl: ClOrdId(6)
                }
            ]
        );
        assert_eq!(rec.reports.len(), 1);
        assert_eq!(rec.reports[0].cl(), ClOrdId(5));
        assert_eq!(c.status(), SessionStatus::Ready);
        assert_eq!(c.state().next_seq, 3);
        assert_eq!(&c.state().session, b"SESSION001");
        // The Account Query went into the send buffer right after login.
        let pending = c.s.out.pending();
        assert_eq!(pending, packet(&Packet::UnsequencedData(b"Q")).as_slice());
        // Now orders are accepted, and the id is remembered.
        c.send(0, &order(6)).unwrap();
        assert_eq!(c.state().highest_cl, 6);
        // A later Account Query Response is only counted.
        feed(&mut c, &query_response(9), &mut rec).unwrap();
        assert_eq!(c.stats().other_messages, 1);
        assert_eq!(rec.events.len(), 2);
    }

    #[test]
    fn login_rejected_closes_without_reconnect() {
        let mut c = logging_in();
        let mut rec = Rec::default();
        let rejected = packet(&Packet::LoginRejected(RejectReason::NotAuthorized));
        let why = feed(&mut c, &rejected, &mut rec).unwrap_err();
        assert_eq!(why, Close::Rejected(b'A'));
        c.close_conn(5, why, &mut rec);
        assert_eq!(
            rec.events,
            vec![SessionEvent::LoginRejected { reason: b'A' }]
        );
        assert_eq!(c.status(), SessionStatus::Down);
        assert_eq!(c.s.next_connect_ns, u64::MAX);
    }

    #[test]
    fn a_refused_first_login_is_retried_at_the_set_interval_until_the_server_timeout() {
        let mut cfg = config();
        cfg.refused_login_retry_ns = 20;
        cfg.server_timeout_ns = 100;
        let mut c = OuchClient::new(cfg).unwrap();
        let mut rec = Rec::default();
        let rejected = packet(&Packet::LoginRejected(RejectReason::NotAuthorized));
        // Refused at 1_000, 1_050 and 1_099: retried 20 ns later each time, at
        // once and without doubling; refused again at 1_100 (100 since the
        // first refusal): final.
        for (now, next) in [
            (1_000, 1_020),
            (1_050, 1_070),
            (1_099, 1_119),
            (1_100, u64::MAX),
        ] {
            c.s.phase = Phase::LoggingIn;
            let why = feed(&mut c, &rejected, &mut rec).unwrap_err();
            c.close_conn(now, why, &mut rec);
            assert_eq!(c.status(), SessionStatus::Down);
            assert_eq!(c.s.next_connect_ns, next, "refused at {now}");
        }
        assert_eq!(rec.events.len(), 4);
        assert!(rec
            .events
            .iter()
            .all(|e| *e == SessionEvent::LoginRejected { reason: b'A' }));
    }

    #[test]
    fn a_new_venue_session_resets_the_state_and_logs_in_again_from_one() {
        let mut c = logging_in();
        c.s.store.set_session(*b"YESTERDAY ");
        c.s.store.set_next_seq(50);
        c.s.store.note_cl(400);
        let mut rec = Rec::default();
        let why = feed(&mut c, &accepted(b"TODAY     ", 50), &mut rec).unwrap_err();
        assert_eq!(why, Close::Lost(LostReason::SessionChanged));
        assert_eq!(
            c.state(),
            SessionState {
                session: *b"TODAY     ",
                next_seq: 1,
                highest_cl: 0
            }
        );
        c.close_conn(7, why, &mut rec);
        // Reconnects at once, without backoff.
        assert_eq!(c.s.next_connect_ns, 7);
    }

    #[test]
    fn a_replay_from_the_start_ends_at_this_connections_account_query_answer() {
        let mut c = logging_in();
        c.s.store.set_session(*b"SESSION001");
        // The previous process read up to message 3 (two orders' answers and an
        // earlier connection's Account Query answer).
        c.s.store.set_next_seq(4);
        c.replay_from_start();
        assert_eq!(c.state().next_seq, 1);
        let mut rec = Rec::default();
        let mut bytes = accepted(b"SESSION001", 1);
        bytes.extend(query_response(1)); // 1: the first connection's answer
        bytes.extend(canceled(1)); // 2
        bytes.extend(canceled(2)); // 3
        feed(&mut c, &bytes, &mut rec).unwrap();
        assert_eq!(c.status(), SessionStatus::Replaying);
        assert_eq!(rec.reports.len(), 2);
        let mut bytes = canceled(3); // 4: after the previous process died
        bytes.extend(query_response(4)); // 5: ours
        feed(&mut c, &bytes, &mut rec).unwrap();
        assert_eq!(c.status(), SessionStatus::Ready);
        assert_eq!(rec.reports.len(), 3);
        assert_eq!(c.next_cl(), Some(ClOrdId(4)));
        assert_eq!(c.stats().other_messages, 1);
    }

    #[test]
    fn a_venue_starting_elsewhere_than_requested_is_adopted_and_counted() {
        let mut c = logging_in();
        c.s.store.set_session(*b"SESSION001");
        c.s.store.set_next_seq(10);
        let mut rec = Rec::default();
        feed(&mut c, &accepted(b"SESSION001", 4), &mut rec).unwrap();
        assert_eq!(c.state().next_seq, 4);
        assert_eq!(c.stats().sequence_adjustments, 1);
        assert_eq!(rec.events, vec![SessionEvent::LoggedIn { next_seq: 4 }]);
    }

    #[test]
    fn out_of_protocol_packets_lose_the_connection() {
        let mut c = logging_in();
        let mut rec = Rec::default();
        // Sequenced data before Login Accepted.
        let why = feed(&mut c, &canceled(1), &mut rec).unwrap_err();
        assert_eq!(why, Close::Lost(LostReason::Protocol));
        // Bad framing (Packet Length 0) is fatal too.
        let mut c = logging_in();
        let why = feed(&mut c, &[0, 0, 0], &mut rec).unwrap_err();
        assert_eq!(why, Close::Lost(LostReason::Framing));
    }

    #[test]
    fn undecodable_messages_are_counted_and_skipped() {
        let mut c = logging_in();
        let mut rec = Rec::default();
        let mut bytes = accepted(b"SESSION001", 1);
        bytes.extend(packet(&Packet::SequencedData(b"Zjunk")));
        bytes.extend(packet(&Packet::SequencedData(b"E1")));
        bytes.extend([0, 1, b'?']); // unknown SoupBinTCP packet type
        bytes.extend(sequenced(ouch::SystemEvent {
            timestamp: 1,
            event_code: b'S',
        }));
        bytes.extend(sequenced(ouch::OrderExecuted {
            timestamp: 3,
            user_ref_num: 1,
            quantity: 5,
            price: 1_000_000,
            liquidity_flag: b'A',
            match_number: 8,
            appendage: Appendage::EMPTY,
        }));
        feed(&mut c, &bytes, &mut rec).unwrap();
        assert_eq!(c.stats().decode_errors, 3);
        assert_eq!(c.stats().other_messages, 1);
        assert_eq!(rec.reports.len(), 1);
        // Every sequenced message counts towards the sequence, decodable or not.
        assert_eq!(c.state().next_seq, 5);
    }

    #[test]
    fn end_of_session_ends_the_client() {
        let mut c = logging_in();
        let mut rec = Rec::default();
        let mut bytes = accepted(b"SESSION001", 1);
        bytes.extend(packet(&Packet::Debug(b"closing")));
        bytes.extend(packet(&Packet::EndOfSession));
        let why = feed(&mut c, &bytes, &mut rec).unwrap_err();
        c.close_conn(1, why, &mut rec);
        assert_eq!(c.status(), SessionStatus::Ended);
        assert_eq!(
            rec.events,
            vec![
                SessionEvent::LoggedIn { next_seq: 1 },
                SessionEvent::Debug {
                    text: DebugText::new(b"closing")
                },
                SessionEvent::EndOfSession
            ]
        );
        // No reconnect from Ended.
        assert_eq!(c.poll(u64::MAX - 1, &mut rec), 0);
        assert_eq!(c.status(), SessionStatus::Ended);
    }

    #[test]
    fn lost_connections_back_off_exponentially_up_to_a_cap() {
        let mut c = OuchClient::new(config()).unwrap();
        let mut rec = Rec::default();
        let base = config().reconnect_backoff_ns;
        let mut waits = Vec::new();
        for _ in 0..8 {
            c.close_conn(0, Close::Lost(LostReason::ConnectFailed), &mut rec);
            waits.push(c.s.next_connect_ns);
        }
        assert_eq!(waits[0], base);
        assert_eq!(waits[1], 2 * base);
        assert_eq!(waits[5], 32 * base);
        assert_eq!(waits[7], 32 * base);
    }

    proptest! {
        #[test]
        fn garbage_from_the_venue_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..64,
        ) {
            let mut c = logging_in();
            let mut rec = Rec::default();
            let mut stream = accepted(b"SESSION001", 1);
            stream.extend_from_slice(&bytes);
            for piece in stream.chunks(chunk) {
                c.framer.push(piece);
                if handle_packets(&mut c.framer, &mut c.s, 1, &mut rec).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn framed_garbage_payloads_are_counted_not_fatal(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..80), 1..20),
        ) {
            let mut c = logging_in();
            let mut rec = Rec::default();
            feed(&mut c, &accepted(b"SESSION001", 1), &mut rec).unwrap();
            for p in &payloads {
                prop_assert!(feed(&mut c, &packet(&Packet::SequencedData(p)), &mut rec).is_ok());
            }
            let s = c.stats();
            prop_assert_eq!(s.sequenced_in, payloads.len() as u64);
            prop_assert_eq!(
                s.reports + s.decode_errors + s.other_messages + u64::from(c.next_cl().is_some()),
                payloads.len() as u64
            );
        }
    }
}
