//! [`FixClient`]: the FIX 4.4 initiator session.
//!
//! # Connection and Logon
//!
//! Everything runs from the caller's loop; nothing blocks. The TCP connect is
//! non-blocking exactly as for [`crate::OuchClient`] (`TCP_NODELAY`, checked on
//! later polls, given up after `logon_timeout_ns`). Once connected the client
//! sends Logon(A) with the persisted next outgoing MsgSeqNum, `EncryptMethod=0`,
//! `HeartBtInt` and, only when `reset_seq_num_on_logon` is set,
//! `ResetSeqNumFlag=Y` (both sequences restart at 1). The acceptor's Logon:
//!
//! * at the expected MsgSeqNum: [`SessionEvent::LoggedIn`], then
//!   [`SessionEvent::Ready`] with `next_cl` one above the highest ClOrdId ever
//!   sent (persisted);
//! * above it: logged in, a ResendRequest goes out and the session stays
//!   [`SessionStatus::Replaying`] until the gap is filled, then Ready;
//! * below it: Logout `MsgSeqNum too low, expecting N but received M` and a
//!   disconnect ([`LostReason::Protocol`]): the acceptor's numbers went back
//!   (a new trading day), which needs an operator's decision
//!   ([`FixClient::set_sequence_numbers`]) or `reset_seq_num_on_logon`.
//!
//! A Logout in answer to the Logon is [`SessionEvent::LoginRejected`] with
//! reason `b'5'` (its Text as a [`SessionEvent::Debug`] first); it is not
//! retried on a first login and retried with backoff after an earlier
//! success, as for OUCH.
//!
//! # Sequence numbers
//!
//! Next outgoing and next expected incoming MsgSeqNum are persisted in a
//! memory-mapped state file ([`FixSessionState`]) with plain stores, so they
//! survive a restart of the process. Inbound, after Logon:
//!
//! * the expected number is processed;
//! * a higher one is a gap: it is dropped and one
//!   `ResendRequest(BeginSeqNo=expected, EndSeqNo=0)` asks for everything
//!   from the expected number on (repeated if no progress is made for two
//!   heartbeat intervals); the acceptor's resent messages then arrive in
//!   order. Logout, ResendRequest and SequenceReset-Reset act whatever their
//!   number;
//! * a lower one with PossDupFlag=Y is a duplicate and ignored (counted);
//!   without it the session is broken: Logout, disconnect.
//!
//! SequenceReset-GapFill (in sequence) moves the expected number to NewSeqNo;
//! SequenceReset-Reset sets it whatever its own MsgSeqNum (a NewSeqNo below
//! the expected number is answered with Reject(3) `SessionRejectReason=5`).
//!
//! # Answering the acceptor's ResendRequest
//!
//! Session messages are never resent: each run of them becomes one
//! SequenceReset-GapFill (`PossDupFlag=Y`, `OrigSendingTime`). Application
//! messages (orders) are kept in a pre-allocated resend store of the last
//! `resend_store` messages and are **resent** (`PossDupFlag=Y`,
//! `OrigSendingTime` = their first SendingTime) if they are still in the
//! store and younger than `resend_max_age_ns`; older ones are gap-filled.
//! The reason for the age limit: an order recovered within moments (the
//! acceptor missed a message mid-session) is still what the strategy wants,
//! while one from before a reconnect is stale (the market moved, the OMS
//! may have given up on it), and a venue acting on it late would be worse
//! than the request being lost, which the OMS already handles for requests
//! lost with a connection. `resend_max_age_ns = 0` gap-fills every order.
//!
//! # Liveness
//!
//! A Heartbeat goes out after `HeartBtInt` without output; a TestRequest after
//! `1.2 x HeartBtInt` without input, and the connection is lost
//! ([`LostReason::ServerTimeout`]) if nothing arrives within another
//! `1.2 x HeartBtInt`. A TestRequest from the acceptor is answered with a
//! Heartbeat echoing its TestReqID. Reconnects use the OUCH client's backoff
//! (doubling up to 32 times the configured value, reset by a Logon). An
//! unsolicited Logout is answered with a Logout, its Text reported as
//! [`SessionEvent::Debug`], and the loss as [`LostReason::PeerClosed`].
//! [`FixClient::logout`] ends the session gracefully (waits, bounded, for the
//! acceptor's Logout), [`FixClient::close`] at once.
//!
//! # Garbled input
//!
//! Bytes that do not frame (bad BodyLength, bad CheckSum, no BeginString) are
//! dropped silently as FIX asks and counted ([`FixStats::garbled_frames`]);
//! the sequence number they may have carried is recovered by the gap logic.
//! A well-framed message with a bad structure, a missing required tag or an
//! incorrect value is answered with Reject(3) (RefSeqNum, RefTagID,
//! SessionRejectReason) if its MsgSeqNum is the expected one, which it
//! consumes; counted in [`FixStats::malformed`]. A MsgSeqNum that cannot be
//! read means the message is ignored. CompIDs that do not match the session
//! get a Reject (`SessionRejectReason=9`), a Logout and a disconnect.
//!
//! # Reports
//!
//! ExecutionReport(8) and OrderCancelReject(9) become [`ExecReport`]s (see
//! [`crate::fix`] module docs for the mapping). A session-level Reject(3) or a
//! BusinessMessageReject(j) of one of our orders is reported too: the
//! request is looked up by RefSeqNum in the resend store (or, for `j`, by
//! BusinessRejectRefID) and becomes `Rejected` (NewOrderSingle, replace:
//! reason 1000 + SessionRejectReason, or 2000 + BusinessRejectReason) or
//! `CancelRejected` (cancel). `ts_ns` is TransactTime (else SendingTime) in
//! ns since the Unix epoch, made strictly increasing across the session's
//! reports: FIX times have millisecond resolution while the OMS orders an
//! order's reports by time, and the MsgSeqNum check already delivers every
//! message once.
//!
//! # Time
//!
//! `now_ns` may be any clock (monotonic or wall): SendingTime and
//! TransactTime are `now_ns` shifted onto UTC by an offset measured against
//! the system clock at each connect.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest};
use quotewire_core::InstrumentId;
use quotewire_protocol::fix::{
    tag, FieldError, FieldIter, FixId, Header, Heartbeat, Logon, Logout, Message, MessageBuilder,
    MessageView, Reject, ResendRequest, SequenceReset, SessionRejectReason, StreamBuffer,
    TestRequest, DEFAULT_MAX_BODY,
};
use quotewire_protocol::EncodeError;
use socket2::Socket;

use super::orders::{decimal, fix_id, parse_cl_ord_id, AppIn, FixOrders};
use super::state::{FixSessionState, FixStateStore};
use crate::conn::{Backoff, Conn, OnConnect, OutBuf};
use crate::event::{DebugText, GatewaySink, LostReason, OrderGateway, SessionEvent, SessionStatus};
use crate::{GatewayConfigError, GatewayError, GatewayStats};

/// Reads per poll, so that a flood of input cannot starve the caller's loop.
const MAX_READS_PER_POLL: usize = 16;
/// Largest message the client writes (and keeps per resend-store slot).
pub const MAX_FIX_MESSAGE_LEN: usize = 512;
/// Smallest accepted send buffer.
pub const MIN_FIX_SEND_BUFFER: usize = 4 * MAX_FIX_MESSAGE_LEN;
/// Bytes read per `read` call beyond one maximal inbound frame.
const READ_SIZE: usize = 64 * 1024;
/// BusinessRejectRefID(379).
const BUSINESS_REJECT_REF_ID: u32 = 379;
/// BusinessRejectReason(380).
const BUSINESS_REJECT_REASON: u32 = 380;

/// Configuration of a [`FixClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixClientConfig {
    /// The acceptor's address.
    pub addr: SocketAddr,
    /// Our SenderCompID(49).
    pub sender_comp_id: String,
    /// The acceptor's CompID, our TargetCompID(56).
    pub target_comp_id: String,
    /// Account(1) on every order, if set.
    pub account: Option<String>,
    /// Where the sequence numbers are persisted; `None` keeps them in memory
    /// (a restart then starts both at 1).
    pub state_file: Option<PathBuf>,
    /// Instrument to Symbol(55) (1 to 32 printable ASCII characters).
    pub symbols: Vec<(InstrumentId, String)>,
    /// HeartBtInt(108), whole seconds (at least 1).
    pub heartbeat_interval_secs: u32,
    /// A connect, a Logon answer or a Logout answer that takes longer fails.
    pub logon_timeout_ns: u64,
    /// Reconnect after a lost connection.
    pub reconnect: bool,
    /// Wait before the first reconnect attempt (doubles on each failure).
    pub reconnect_backoff_ns: u64,
    /// Send `ResetSeqNumFlag=Y` on every Logon (both sequences restart at 1).
    pub reset_seq_num_on_logon: bool,
    /// Application messages kept for the acceptor's ResendRequests (rounded up
    /// to a power of two; each takes [`MAX_FIX_MESSAGE_LEN`] bytes).
    pub resend_store: usize,
    /// Orders younger than this are resent on a ResendRequest, older ones
    /// gap-filled; 0 gap-fills every order.
    pub resend_max_age_ns: u64,
    /// Orders whose CumQty/LeavesQty are remembered (replaces send FIX's total
    /// OrderQty); rounded up to a power of two, indexed by ClOrdId.
    pub max_orders: usize,
    /// Bytes of the send buffer.
    pub send_buffer: usize,
    /// Largest accepted inbound BodyLength(9); longer frames are dropped.
    pub max_body: usize,
}

impl FixClientConfig {
    /// A configuration with defaults: no Account, no state file, 30 s
    /// heartbeats, 10 s logon timeout, reconnect after 100 ms, no reset on
    /// Logon, 4096 stored messages resent for up to 2 s, 64 Ki orders,
    /// 64 KiB send buffer, 8 KiB bodies.
    #[must_use]
    pub fn new(addr: SocketAddr, sender_comp_id: &str, target_comp_id: &str) -> Self {
        Self {
            addr,
            sender_comp_id: sender_comp_id.to_owned(),
            target_comp_id: target_comp_id.to_owned(),
            account: None,
            state_file: None,
            symbols: Vec::new(),
            heartbeat_interval_secs: 30,
            logon_timeout_ns: 10_000_000_000,
            reconnect: true,
            reconnect_backoff_ns: 100_000_000,
            reset_seq_num_on_logon: false,
            resend_store: 4096,
            resend_max_age_ns: 2_000_000_000,
            max_orders: 1 << 16,
            send_buffer: 64 * 1024,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Counters of the FIX session layer (the common ones are in [`GatewayStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixStats {
    /// Frames dropped for bad BodyLength or CheckSum (FIX: ignored, no Reject).
    pub garbled_frames: u64,
    /// Well-framed messages with a bad structure or field.
    pub malformed: u64,
    /// Reject(3) sent.
    pub rejects_sent: u64,
    /// Reject(3) received.
    pub rejects_received: u64,
    /// BusinessMessageReject(j) received.
    pub business_rejects_received: u64,
    /// ResendRequest(2) sent (inbound gaps).
    pub resend_requests_sent: u64,
    /// ResendRequest(2) received.
    pub resend_requests_received: u64,
    /// Application messages resent with PossDupFlag=Y.
    pub messages_resent: u64,
    /// SequenceReset-GapFill sent.
    pub gap_fills_sent: u64,
    /// SequenceReset-GapFill applied.
    pub gap_fills_received: u64,
    /// SequenceReset-Reset applied.
    pub sequence_resets_received: u64,
    /// Messages below the expected MsgSeqNum with PossDupFlag=Y, ignored.
    pub duplicates_ignored: u64,
    /// Messages above the expected MsgSeqNum, dropped pending the resend.
    pub out_of_sequence: u64,
    /// TestRequest(1) sent.
    pub test_requests_sent: u64,
    /// TestRequest(1) received.
    pub test_requests_received: u64,
    /// Logout(5) sent.
    pub logouts_sent: u64,
    /// Logout(5) received.
    pub logouts_received: u64,
    /// Reports naming a ClOrdID that is not ours.
    pub foreign_reports: u64,
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
    /// Our Logout is out; waiting for the acceptor's.
    LoggingOut,
    /// Waiting until `next_connect_ns` (`u64::MAX`: for good).
    Down,
    Ended,
}

/// Why the connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    Lost(LostReason),
    Rejected(u8),
    /// Our Logout was answered (or timed out).
    Ended,
}

/// One application message we sent, kept for ResendRequests and to map the
/// acceptor's Rejects back to the request.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    /// MsgSeqNum (0: empty slot).
    seq: u64,
    /// MsgType byte: `D`, `F` or `G`.
    kind: u8,
    /// The request's `cl` (for a cancel: the order cancelled).
    cl: u32,
    /// Encoded length in the slot's bytes.
    len: u16,
    /// When it was sent, on the caller's clock.
    at_ns: u64,
}

/// Everything but the socket and the receive buffer (so that a frame borrowed
/// from the buffer can be handled while this is mutated).
#[derive(Debug)]
struct Session {
    addr: SocketAddr,
    sender: FixId,
    target: FixId,
    hb_secs: u32,
    hb_ns: u64,
    logon_timeout_ns: u64,
    reconnect: bool,
    backoff: Backoff,
    reset_on_logon: bool,
    resend_max_age_ns: u64,
    orders: FixOrders,
    out: OutBuf,
    store: FixStateStore,
    sent: Box<[Sent]>,
    sent_bytes: Box<[u8]>,
    sent_mask: u64,
    stats: GatewayStats,
    fix: FixStats,
    phase: Phase,
    since_ns: u64,
    last_rx_ns: u64,
    last_tx_ns: u64,
    next_connect_ns: u64,
    attempts: u64,
    pending_lost: Option<LostReason>,
    state_reset_unreported: bool,
    /// An inbound gap is being recovered: the highest MsgSeqNum seen above it.
    resend_until: Option<u64>,
    /// When the last ResendRequest went out or the recovery last progressed.
    resend_at_ns: u64,
    /// When our unanswered TestRequest went out.
    test_req_at: Option<u64>,
    test_reqs: u64,
    /// This connection's Logon asked for a sequence reset.
    reset_requested: bool,
    /// UTC ns minus the caller's clock, measured at connect.
    clock_offset: i128,
    /// Timestamp of the last report delivered (reports' times strictly increase).
    last_ts: u64,
    reports: usize,
}

/// The FIX 4.4 initiator; see the module docs.
#[derive(Debug)]
pub struct FixClient {
    rx: StreamBuffer,
    conn: Conn,
    s: Session,
}

/// Writes `n` in decimal at `out[*at..]`, advancing `at`.
fn put_decimal(out: &mut [u8], at: &mut usize, n: u64) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    let mut v = n;
    loop {
        i -= 1;
        if let Some(b) = d.get_mut(i) {
            // `v % 10 < 10`.
            *b = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    put_bytes(out, at, d.get(i..).unwrap_or_default());
}

fn put_bytes(out: &mut [u8], at: &mut usize, bytes: &[u8]) {
    let end = (*at + bytes.len()).min(out.len());
    if let (Some(dst), Some(src)) = (out.get_mut(*at..end), bytes.get(..end - *at)) {
        dst.copy_from_slice(src);
    }
    *at = end;
}

/// MsgSeqNum(34) and MsgType(35) of a frame whose structure failed, as far
/// as the fields before the error can be read.
fn salvage(frame: &[u8]) -> (Option<u64>, Option<&[u8]>) {
    let (mut seq, mut msg_type) = (None, None);
    for (t, v) in FieldIter::new(frame).map_while(Result::ok) {
        match t {
            tag::MSG_SEQ_NUM => seq = seq.or_else(|| decimal(v)),
            tag::MSG_TYPE => msg_type = msg_type.or(Some(v)),
            _ => {}
        }
    }
    (seq, msg_type)
}

impl FixClient {
    /// Validates `config`, opens (or creates) the state file and sizes every
    /// buffer. No network I/O: the first [`poll`](OrderGateway::poll) connects.
    pub fn new(config: FixClientConfig) -> Result<Self, GatewayConfigError> {
        let c = config;
        let sender = fix_id("SenderCompID", &c.sender_comp_id)?;
        let target = fix_id("TargetCompID", &c.target_comp_id)?;
        if c.heartbeat_interval_secs == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "heartbeat_interval_secs must be at least 1",
            ));
        }
        if c.logon_timeout_ns == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "logon_timeout_ns must be above 0",
            ));
        }
        if c.reconnect && c.reconnect_backoff_ns == 0 {
            return Err(GatewayConfigError::InvalidTimer(
                "reconnect_backoff_ns must be above 0 when reconnecting",
            ));
        }
        if c.send_buffer < MIN_FIX_SEND_BUFFER {
            return Err(GatewayConfigError::BufferTooSmall {
                what: "send_buffer",
                min: MIN_FIX_SEND_BUFFER,
                got: c.send_buffer,
            });
        }
        if c.max_body < 256 {
            return Err(GatewayConfigError::BufferTooSmall {
                what: "max_body",
                min: 256,
                got: c.max_body,
            });
        }
        if c.resend_store == 0 {
            return Err(GatewayConfigError::ZeroCapacity("resend_store"));
        }
        let orders = FixOrders::new(&c.symbols, c.account.as_deref(), c.max_orders)?;
        let (store, torn) = match &c.state_file {
            Some(path) => FixStateStore::open(path)?,
            None => (FixStateStore::memory(), false),
        };
        let mut stats = GatewayStats::default();
        if torn {
            stats.state_resets += 1;
        }
        let slots = c.resend_store.next_power_of_two();
        let hb_ns = u64::from(c.heartbeat_interval_secs) * 1_000_000_000;
        Ok(Self {
            rx: StreamBuffer::new(c.max_body, READ_SIZE),
            conn: Conn::Closed,
            s: Session {
                addr: c.addr,
                sender,
                target,
                hb_secs: c.heartbeat_interval_secs,
                hb_ns,
                logon_timeout_ns: c.logon_timeout_ns,
                reconnect: c.reconnect,
                backoff: Backoff::new(c.reconnect_backoff_ns),
                reset_on_logon: c.reset_seq_num_on_logon,
                resend_max_age_ns: c.resend_max_age_ns,
                orders,
                out: OutBuf::new(c.send_buffer),
                store,
                sent: vec![Sent::default(); slots].into_boxed_slice(),
                sent_bytes: vec![0; slots * MAX_FIX_MESSAGE_LEN].into_boxed_slice(),
                sent_mask: slots as u64 - 1,
                stats,
                fix: FixStats::default(),
                phase: Phase::Idle,
                since_ns: 0,
                last_rx_ns: 0,
                last_tx_ns: 0,
                next_connect_ns: 0,
                attempts: 0,
                pending_lost: None,
                state_reset_unreported: torn,
                resend_until: None,
                resend_at_ns: 0,
                test_req_at: None,
                test_reqs: 0,
                reset_requested: false,
                clock_offset: 0,
                last_ts: 0,
                reports: 0,
            },
        })
    }

    /// Common counters (messages in `packets_*`, Logons in `logins`, garbled
    /// and malformed input in `decode_errors`).
    #[must_use]
    pub const fn stats(&self) -> &GatewayStats {
        &self.s.stats
    }

    /// Session-layer counters.
    #[must_use]
    pub const fn fix_stats(&self) -> &FixStats {
        &self.s.fix
    }

    /// The persisted state: next outgoing and expected incoming MsgSeqNum,
    /// highest ClOrdId sent.
    #[must_use]
    pub const fn state(&self) -> FixSessionState {
        self.s.store.get()
    }

    /// Bytes encoded but not yet written to the socket.
    #[must_use]
    pub const fn pending_bytes(&self) -> usize {
        self.s.out.pending_len()
    }

    /// True while a TCP connection is open (logged on or not; a graceful
    /// [`logout`](Self::logout) keeps it until the acceptor answers).
    #[must_use]
    pub const fn is_connected(&self) -> bool {
        matches!(self.conn, Conn::Open(_))
    }

    /// Sets the next outgoing and expected incoming MsgSeqNum (persisted), as
    /// an operator would after a venue-side reset (QuickFIX's
    /// `setNextSenderMsgSeqNum` / `setNextTargetMsgSeqNum`). Takes effect at
    /// once: on a live session a higher outgoing number makes the acceptor
    /// ask for a resend, a lower incoming one makes this client ask. Values
    /// below 1 are raised to 1.
    pub fn set_sequence_numbers(&mut self, next_out: u64, next_in: u64) {
        self.s.store.set_next_out(next_out.max(1));
        self.s.store.set_next_in(next_in.max(1));
    }

    /// Flushes the memory-mapped state file to disk (msync). Not needed for
    /// a process crash (the OS keeps the pages), only against a machine crash.
    pub fn sync_state(&self) -> io::Result<()> {
        self.s.store.sync()
    }

    /// Drops the TCP connection at once, without a Logout (as a network
    /// failure would). The loss is reported as [`LostReason::Local`] on the
    /// next poll and the client reconnects if configured to.
    pub fn disconnect(&mut self) {
        if self.conn.abort() {
            self.s.pending_lost = Some(LostReason::Local);
        }
    }

    /// Starts a graceful logout: sends Logout(5) and turns
    /// [`SessionStatus::Ended`] (no more orders). Later polls still deliver
    /// reports and close the connection when the acceptor's Logout arrives
    /// (or after `logon_timeout_ns`); [`is_connected`](Self::is_connected)
    /// turns false then. Without a logged-on session the client just ends.
    pub fn logout(&mut self, now_ns: u64) {
        let logged_on = matches!(
            self.s.phase,
            Phase::LoggingIn | Phase::Replaying | Phase::Ready
        );
        match &self.conn {
            _ if matches!(self.s.phase, Phase::LoggingOut | Phase::Ended) => return,
            Conn::Open(stream) if logged_on => {
                self.s.queue_logout(now_ns, None);
                let _ = self.s.write_out(stream, now_ns);
                self.s.phase = Phase::LoggingOut;
                self.s.since_ns = now_ns;
                return;
            }
            _ => {}
        }
        self.conn = Conn::Closed;
        self.s.phase = Phase::Ended;
    }

    /// Logs out without waiting (Logout written best effort), closes the
    /// connection, msyncs the state file and ends the client.
    pub fn close(&mut self, now_ns: u64) -> io::Result<()> {
        if let Conn::Open(stream) = &self.conn {
            if matches!(
                self.s.phase,
                Phase::LoggingIn | Phase::Replaying | Phase::Ready
            ) {
                self.s.queue_logout(now_ns, None);
            }
            let _ = self.s.write_out(stream, now_ns);
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
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.s.clock_offset = i128::try_from(wall).unwrap_or(0) - i128::from(now_ns);
        let outcome = self.conn.start_connect(self.s.addr);
        self.settle_connect(outcome, now_ns, sink);
    }

    fn check_connect(&mut self, now_ns: u64, sink: &mut impl GatewaySink) {
        let outcome = self
            .conn
            .check_connect(now_ns, self.s.since_ns, self.s.logon_timeout_ns);
        self.settle_connect(outcome, now_ns, sink);
    }

    /// Closes the socket (if any), reports why and decides what comes next.
    fn close_conn(&mut self, now_ns: u64, why: Close, sink: &mut impl GatewaySink) {
        if let Conn::Open(stream) = &self.conn {
            // What is already queued (our Logout) goes out best effort.
            let _ = self.s.write_out(stream, now_ns);
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.conn = Conn::Closed;
        let s = &mut self.s;
        s.stats.discarded_bytes += s.out.discard() as u64;
        s.resend_until = None;
        s.test_req_at = None;
        let logging_out = s.phase == Phase::LoggingOut;
        match why {
            _ if logging_out => s.phase = Phase::Ended,
            Close::Lost(reason) => {
                s.stats.lost += 1;
                s.phase = Phase::Down;
                s.next_connect_ns = if s.reconnect {
                    s.backoff.next_at(now_ns)
                } else {
                    u64::MAX
                };
                sink.session(SessionEvent::Lost { reason });
            }
            Close::Rejected(reason) => {
                s.phase = Phase::Down;
                s.next_connect_ns = if s.reconnect && s.stats.logins > 0 {
                    s.backoff.next_at(now_ns)
                } else {
                    u64::MAX
                };
                sink.session(SessionEvent::LoginRejected { reason });
            }
            Close::Ended => s.phase = Phase::Ended,
        }
    }

    /// Reads what the socket has and handles every complete frame.
    fn read(&mut self, now_ns: u64, sink: &mut impl GatewaySink) -> Result<(), Close> {
        let Conn::Open(stream) = &mut self.conn else {
            return Ok(());
        };
        for _ in 0..MAX_READS_PER_POLL {
            match stream.read(self.rx.spare()) {
                Ok(0) => return Err(Close::Lost(LostReason::PeerClosed)),
                Ok(n) => {
                    self.rx.commit(n);
                    self.s.stats.bytes_in += n as u64;
                    self.s.last_rx_ns = now_ns;
                    self.s.test_req_at = None;
                    handle_frames(&mut self.rx, &mut self.s, now_ns, sink)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Close::Lost(LostReason::IoError)),
            }
        }
        Ok(())
    }

    /// Timeouts, heartbeats and TestRequests, then the pending output.
    fn timers(&mut self, now_ns: u64) -> Result<(), Close> {
        let s = &mut self.s;
        let grace = s.hb_ns / 5;
        match s.phase {
            Phase::LoggingIn if now_ns.saturating_sub(s.since_ns) >= s.logon_timeout_ns => {
                return Err(Close::Lost(LostReason::LoginTimeout));
            }
            Phase::LoggingOut if now_ns.saturating_sub(s.since_ns) >= s.logon_timeout_ns => {
                return Err(Close::Ended);
            }
            Phase::Replaying | Phase::Ready | Phase::LoggingOut => {
                match s.test_req_at {
                    Some(at) if now_ns.saturating_sub(at) >= s.hb_ns + grace => {
                        return Err(Close::Lost(LostReason::ServerTimeout));
                    }
                    None if now_ns.saturating_sub(s.last_rx_ns) >= s.hb_ns + grace => {
                        s.test_reqs += 1;
                        let mut id = [0u8; 24];
                        let mut len = 0;
                        put_bytes(&mut id, &mut len, b"TEST");
                        put_decimal(&mut id, &mut len, s.test_reqs);
                        let req = TestRequest {
                            test_req_id: id.get(..len).unwrap_or_default(),
                        };
                        if s.queue(now_ns, None, |h, b| req.encode(h, b)) {
                            s.fix.test_requests_sent += 1;
                            s.test_req_at = Some(now_ns);
                        }
                    }
                    _ => {}
                }
                if s.out.is_empty() && now_ns.saturating_sub(s.last_tx_ns) >= s.hb_ns {
                    let hb = Heartbeat::default();
                    if s.queue(now_ns, None, |h, b| hb.encode(h, b)) {
                        s.stats.heartbeats_out += 1;
                    }
                }
                if s.resend_until.is_some() && now_ns.saturating_sub(s.resend_at_ns) >= 2 * s.hb_ns
                {
                    // No progress on the gap: ask again.
                    s.send_resend_request(now_ns);
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

/// Handles every complete frame in the receive buffer.
fn handle_frames(
    rx: &mut StreamBuffer,
    s: &mut Session,
    now_ns: u64,
    sink: &mut impl GatewaySink,
) -> Result<(), Close> {
    while let Some(frame) = rx.next_message() {
        match frame {
            Ok(frame) => s.on_frame(frame, now_ns, sink)?,
            Err(_) => {
                s.fix.garbled_frames += 1;
                s.stats.decode_errors += 1;
            }
        }
    }
    Ok(())
}

impl Session {
    /// UTC nanoseconds of the caller's `now_ns`.
    #[inline]
    fn wall(&self, now_ns: u64) -> u64 {
        let t = i128::from(now_ns) + self.clock_offset;
        u64::try_from(t.max(0)).unwrap_or(u64::MAX)
    }

    #[inline]
    fn next_in(&self) -> u64 {
        self.store.get().next_in
    }

    /// The free space for one message.
    #[inline]
    fn dst(&mut self) -> &mut [u8] {
        self.out.spare(MAX_FIX_MESSAGE_LEN)
    }

    /// Appends one session message. `resend` is `Some(seq)` for a
    /// SequenceReset-GapFill answering a ResendRequest (that MsgSeqNum,
    /// PossDupFlag=Y, not consuming a number); `None` takes the next
    /// outgoing number. False if it does not fit.
    fn queue<F>(&mut self, now_ns: u64, resend: Option<u64>, encode: F) -> bool
    where
        F: FnOnce(&Header<'_>, &mut [u8]) -> Result<usize, EncodeError>,
    {
        if !self.out.make_room(MAX_FIX_MESSAGE_LEN) {
            return false;
        }
        let wall = self.wall(now_ns);
        let seq = resend.unwrap_or(self.store.get().next_out);
        let (sender, target) = (self.sender, self.target);
        let header = Header {
            sender_comp_id: sender.as_bytes(),
            target_comp_id: target.as_bytes(),
            msg_seq_num: seq,
            sending_time: wall,
            poss_dup: resend.is_some(),
            orig_sending_time: resend.map(|_| wall),
        };
        match encode(&header, self.dst()) {
            Ok(n) => {
                self.out.commit(n);
                self.stats.packets_out += 1;
                if resend.is_none() {
                    self.store.set_next_out(seq + 1);
                }
                true
            }
            Err(_) => false,
        }
    }

    fn queue_logout(&mut self, now_ns: u64, text: Option<&[u8]>) {
        if self.queue(now_ns, None, |h, b| Logout { text }.encode(h, b)) {
            self.fix.logouts_sent += 1;
        }
    }

    fn send_reject(&mut self, now_ns: u64, seq: u64, msg_type: Option<&[u8]>, e: &FieldError) {
        let reject = Reject::for_error(seq, msg_type, e);
        if self.queue(now_ns, None, |h, b| reject.encode(h, b)) {
            self.fix.rejects_sent += 1;
        }
    }

    /// Logout `MsgSeqNum too low, expecting N but received M`, then disconnect.
    fn too_low(&mut self, now_ns: u64, seq: u64, expected: u64) -> Result<(), Close> {
        let mut text = [0u8; 96];
        let mut len = 0;
        put_bytes(&mut text, &mut len, b"MsgSeqNum too low, expecting ");
        put_decimal(&mut text, &mut len, expected);
        put_bytes(&mut text, &mut len, b" but received ");
        put_decimal(&mut text, &mut len, seq);
        self.queue_logout(now_ns, text.get(..len));
        Err(Close::Lost(LostReason::Protocol))
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

    /// Marks `seq` processed; closes a recovered gap.
    fn advance(&mut self, seq: u64, sink: &mut impl GatewaySink, now_ns: u64) {
        self.set_next_in(seq.saturating_add(1).max(self.next_in()), sink, now_ns);
    }

    fn set_next_in(&mut self, next_in: u64, sink: &mut impl GatewaySink, now_ns: u64) {
        self.store.set_next_in(next_in);
        if let Some(until) = self.resend_until {
            self.resend_at_ns = now_ns;
            if next_in > until {
                self.resend_until = None;
                if self.phase == Phase::Replaying {
                    self.become_ready(sink);
                }
            }
        }
    }

    fn become_ready(&mut self, sink: &mut impl GatewaySink) {
        self.phase = Phase::Ready;
        let next_cl = ClOrdId(self.store.get().highest_cl.saturating_add(1));
        sink.session(SessionEvent::Ready { next_cl });
    }

    fn send_resend_request(&mut self, now_ns: u64) {
        let request = ResendRequest {
            begin_seq_no: self.next_in(),
            end_seq_no: 0,
        };
        if self.queue(now_ns, None, |h, b| request.encode(h, b)) {
            self.fix.resend_requests_sent += 1;
        }
        self.resend_at_ns = now_ns;
    }

    /// A message above the expected number: ask for the gap once (EndSeqNo=0
    /// covers later gaps too).
    fn request_resend(&mut self, seq: u64, now_ns: u64) {
        match self.resend_until {
            Some(until) => self.resend_until = Some(until.max(seq)),
            None => {
                self.resend_until = Some(seq);
                self.send_resend_request(now_ns);
            }
        }
    }

    fn debug(&mut self, text: Option<&[u8]>, sink: &mut impl GatewaySink) {
        if let Some(t) = text {
            self.stats.debug_in += 1;
            sink.session(SessionEvent::Debug {
                text: DebugText::new(t),
            });
        }
    }

    fn deliver(&mut self, r: &ExecReport, sink: &mut impl GatewaySink) {
        self.stats.reports += 1;
        self.reports += 1;
        sink.report(r);
    }

    /// The report time: venue time, strictly increasing (see module docs).
    fn report_ts(&mut self, venue_ns: u64) -> u64 {
        let ts = venue_ns.max(self.last_ts.saturating_add(1));
        self.last_ts = ts;
        ts
    }

    fn on_frame(
        &mut self,
        frame: &[u8],
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        self.stats.packets_in += 1;
        let parsed = MessageView::parse(frame).and_then(|v| Ok((v, v.header()?)));
        let (view, header) = match parsed {
            Ok(x) => x,
            Err(e) => return self.on_malformed(frame, &e, now_ns, sink),
        };
        if header.sender_comp_id != self.target.as_bytes()
            || header.target_comp_id != self.sender.as_bytes()
        {
            let t = if header.sender_comp_id == self.target.as_bytes() {
                tag::TARGET_COMP_ID
            } else {
                tag::SENDER_COMP_ID
            };
            let e = FieldError::new(
                t,
                SessionRejectReason::CompIdProblem,
                "CompID does not match the session",
            );
            if self.phase != Phase::LoggingIn {
                self.send_reject(now_ns, header.msg_seq_num, Some(view.msg_type()), &e);
            }
            self.queue_logout(now_ns, Some(b"CompID problem"));
            return Err(Close::Lost(LostReason::Protocol));
        }
        if self.phase == Phase::LoggingIn {
            return self.on_logon_answer(&view, &header, now_ns, sink);
        }
        self.on_message(&view, &header, now_ns, sink)
    }

    /// The first message after our Logon: Logon (accepted) or Logout (refused).
    fn on_logon_answer(
        &mut self,
        view: &MessageView<'_>,
        header: &Header<'_>,
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        match view.msg_type() {
            b"A" => {}
            b"5" => {
                self.fix.logouts_received += 1;
                self.debug(view.text(), sink);
                return Err(Close::Rejected(b'5'));
            }
            _ => return Err(Close::Lost(LostReason::Protocol)),
        }
        let Ok(logon) = Logon::decode(view) else {
            return Err(Close::Lost(LostReason::Protocol));
        };
        let seq = header.msg_seq_num;
        if logon.reset_seq_num_flag && !self.reset_requested {
            // The acceptor reset the session: its numbering restarts here.
            self.stats.sequence_adjustments += 1;
            self.store.set_next_in(seq);
        }
        let expected = self.next_in();
        if seq < expected {
            return self.too_low(now_ns, seq, expected);
        }
        self.stats.logins += 1;
        self.backoff.reset();
        self.phase = Phase::Replaying;
        self.since_ns = now_ns;
        if seq == expected {
            self.store.set_next_in(seq + 1);
        } else {
            self.fix.out_of_sequence += 1;
            self.request_resend(seq, now_ns);
        }
        sink.session(SessionEvent::LoggedIn {
            next_seq: self.next_in(),
        });
        if self.resend_until.is_none() {
            self.become_ready(sink);
        }
        Ok(())
    }

    /// A well-formed message of a logged-on session.
    fn on_message(
        &mut self,
        view: &MessageView<'_>,
        header: &Header<'_>,
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        let seq = header.msg_seq_num;
        let msg_type = view.msg_type();
        let expected = self.next_in();
        // Messages that act whatever their sequence number.
        match msg_type {
            b"4" => {
                if let Ok(r) = SequenceReset::decode(view) {
                    if !r.gap_fill {
                        if r.new_seq_no < expected {
                            let e = FieldError::value(
                                tag::NEW_SEQ_NO,
                                "NewSeqNo below the expected MsgSeqNum",
                            );
                            self.send_reject(now_ns, seq, Some(msg_type), &e);
                        } else {
                            self.fix.sequence_resets_received += 1;
                            self.set_next_in(r.new_seq_no, sink, now_ns);
                        }
                        return Ok(());
                    }
                }
            }
            b"5" => {
                self.fix.logouts_received += 1;
                if seq == expected {
                    self.advance(seq, sink, now_ns);
                }
                self.debug(view.text(), sink);
                if self.phase == Phase::LoggingOut {
                    return Err(Close::Ended);
                }
                self.queue_logout(now_ns, None);
                return Err(Close::Lost(LostReason::PeerClosed));
            }
            b"2" => {
                if let Ok(r) = ResendRequest::decode(view) {
                    if seq < expected {
                        if !header.poss_dup {
                            return self.too_low(now_ns, seq, expected);
                        }
                        self.fix.duplicates_ignored += 1;
                        return Ok(());
                    }
                    self.answer_resend(&r, now_ns);
                    if seq == expected {
                        self.advance(seq, sink, now_ns);
                    } else {
                        self.fix.out_of_sequence += 1;
                        self.request_resend(seq, now_ns);
                    }
                    return Ok(());
                }
            }
            b"A" => {
                self.queue_logout(now_ns, Some(b"Logon received while logged on"));
                return Err(Close::Lost(LostReason::Protocol));
            }
            _ => {}
        }
        if seq > expected {
            self.fix.out_of_sequence += 1;
            self.request_resend(seq, now_ns);
            return Ok(());
        }
        if seq < expected {
            if header.poss_dup {
                self.fix.duplicates_ignored += 1;
                return Ok(());
            }
            return self.too_low(now_ns, seq, expected);
        }
        let msg = match Message::decode(view) {
            Ok(m) => m,
            Err(_) if msg_type == b"j" => {
                self.advance(seq, sink, now_ns);
                self.on_business_reject(view, header, sink);
                return Ok(());
            }
            Err(e) => {
                self.fix.malformed += 1;
                self.stats.decode_errors += 1;
                self.send_reject(now_ns, seq, Some(msg_type), &e);
                self.advance(seq, sink, now_ns);
                return Ok(());
            }
        };
        if !msg.is_admin() {
            self.stats.sequenced_in += 1;
        }
        let venue_ts = |t: Option<u64>| t.unwrap_or(header.sending_time);
        match msg {
            Message::SequenceReset(r) => {
                if r.new_seq_no > seq {
                    self.fix.gap_fills_received += 1;
                    self.set_next_in(r.new_seq_no, sink, now_ns);
                } else {
                    let e = FieldError::value(tag::NEW_SEQ_NO, "NewSeqNo does not move forward");
                    self.send_reject(now_ns, seq, Some(msg_type), &e);
                    self.advance(seq, sink, now_ns);
                }
            }
            Message::Heartbeat(_) => {
                self.stats.heartbeats_in += 1;
                self.advance(seq, sink, now_ns);
            }
            Message::TestRequest(t) => {
                self.fix.test_requests_received += 1;
                self.advance(seq, sink, now_ns);
                let hb = Heartbeat {
                    test_req_id: Some(t.test_req_id),
                };
                if self.queue(now_ns, None, |h, b| hb.encode(h, b)) {
                    self.stats.heartbeats_out += 1;
                }
            }
            Message::Reject(r) => {
                self.fix.rejects_received += 1;
                self.advance(seq, sink, now_ns);
                self.debug(r.text, sink);
                let reason = 1000 + r.session_reject_reason.unwrap_or(99);
                let ts = self.report_ts(header.sending_time);
                self.refused(Some(r.ref_seq_num), None, reason, ts, sink);
            }
            Message::ExecutionReport(er) => {
                self.advance(seq, sink, now_ns);
                let ts = self.report_ts(venue_ts(er.transact_time));
                match self.orders.execution_report(&er, view, ts) {
                    Ok(app) => self.on_app(app, sink),
                    Err(e) => {
                        self.fix.malformed += 1;
                        self.stats.decode_errors += 1;
                        self.send_reject(now_ns, seq, Some(msg_type), &e);
                    }
                }
            }
            Message::OrderCancelReject(r) => {
                self.advance(seq, sink, now_ns);
                let ts = self.report_ts(venue_ts(r.transact_time));
                self.on_app(FixOrders::cancel_reject(&r, ts), sink);
            }
            Message::Logon(_)
            | Message::Logout(_)
            | Message::ResendRequest(_)
            | Message::NewOrderSingle(_)
            | Message::OrderCancelRequest(_)
            | Message::OrderCancelReplaceRequest(_) => {
                self.advance(seq, sink, now_ns);
                let e = FieldError::new(
                    tag::MSG_TYPE,
                    SessionRejectReason::InvalidMsgType,
                    "MsgType not accepted from the acceptor",
                );
                self.send_reject(now_ns, seq, Some(msg_type), &e);
            }
        }
        Ok(())
    }

    fn on_app(&mut self, app: AppIn, sink: &mut impl GatewaySink) {
        match app {
            AppIn::Report(r) => self.deliver(&r, sink),
            AppIn::Other => self.stats.other_messages += 1,
            AppIn::Foreign => self.fix.foreign_reports += 1,
        }
    }

    /// BusinessMessageReject(j): RefSeqNum(45) or BusinessRejectRefID(379)
    /// names the request.
    fn on_business_reject(
        &mut self,
        view: &MessageView<'_>,
        header: &Header<'_>,
        sink: &mut impl GatewaySink,
    ) {
        self.fix.business_rejects_received += 1;
        self.debug(view.text(), sink);
        let ref_seq = view.get(tag::REF_SEQ_NUM).and_then(decimal);
        let by_id = view.get(BUSINESS_REJECT_REF_ID).and_then(parse_cl_ord_id);
        let kind = view.ref_msg_type().and_then(|t| t.first().copied());
        let code = view
            .get(BUSINESS_REJECT_REASON)
            .and_then(decimal)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0);
        let ts = self.report_ts(header.sending_time);
        self.refused(ref_seq, by_id.zip(kind), 2000 + code, ts, sink);
    }

    /// A request of ours refused at the session or business level: reported
    /// as `Rejected` (new order, replace) or `CancelRejected` (cancel).
    fn refused(
        &mut self,
        ref_seq: Option<u64>,
        by_id: Option<(ClOrdId, u8)>,
        reason: u32,
        ts_ns: u64,
        sink: &mut impl GatewaySink,
    ) {
        let found = by_id.or_else(|| {
            let seq = ref_seq?;
            let slot = self.sent.get((seq & self.sent_mask) as usize)?;
            (slot.seq == seq && slot.seq != 0).then_some((ClOrdId(slot.cl), slot.kind))
        });
        let report = match found {
            Some((cl, b'D' | b'G')) => ExecReport::Rejected {
                cl,
                reason: u16::try_from(reason).unwrap_or(u16::MAX),
                ts_ns,
            },
            Some((cl, b'F')) => ExecReport::CancelRejected { cl, ts_ns },
            _ => return,
        };
        self.deliver(&report, sink);
    }

    /// A well-framed message whose structure or fields are broken: Reject(3)
    /// if it is the expected MsgSeqNum (which it consumes), gap logic if
    /// above, ignored if it cannot be placed.
    fn on_malformed(
        &mut self,
        frame: &[u8],
        e: &FieldError,
        now_ns: u64,
        sink: &mut impl GatewaySink,
    ) -> Result<(), Close> {
        self.fix.malformed += 1;
        self.stats.decode_errors += 1;
        if self.phase == Phase::LoggingIn {
            return Err(Close::Lost(LostReason::Protocol));
        }
        let (seq, msg_type) = salvage(frame);
        let Some(seq) = seq else {
            return Ok(());
        };
        let expected = self.next_in();
        if seq == expected {
            self.send_reject(now_ns, seq, msg_type, e);
            self.advance(seq, sink, now_ns);
        } else if seq > expected {
            self.fix.out_of_sequence += 1;
            self.request_resend(seq, now_ns);
        }
        Ok(())
    }

    /// Answers the acceptor's ResendRequest: stored, recent orders are resent
    /// with PossDupFlag=Y and OrigSendingTime; everything else is covered by
    /// SequenceReset-GapFill runs.
    fn answer_resend(&mut self, r: &ResendRequest, now_ns: u64) {
        self.fix.resend_requests_received += 1;
        let next_out = self.store.get().next_out;
        let begin = r.begin_seq_no.max(1);
        if begin >= next_out {
            return;
        }
        let end = if r.end_seq_no == 0 || r.end_seq_no >= next_out {
            next_out - 1
        } else {
            r.end_seq_no
        };
        if begin > end {
            return;
        }
        // Only the last `slots` numbers can be in the store.
        let slots = self.sent_mask + 1;
        let mut gap_from = begin;
        let first_stored = begin.max(next_out.saturating_sub(slots));
        for seq in first_stored..=end {
            let i = (seq & self.sent_mask) as usize;
            let Some(slot) = self.sent.get(i).copied() else {
                continue;
            };
            let fresh = slot.seq == seq
                && self.resend_max_age_ns > 0
                && now_ns.saturating_sub(slot.at_ns) <= self.resend_max_age_ns;
            // Room for this message and a final gap fill.
            if !fresh || !self.out.make_room(2 * MAX_FIX_MESSAGE_LEN) {
                continue;
            }
            if gap_from < seq {
                self.gap_fill(gap_from, seq, now_ns);
            }
            self.resend_one(i, slot, now_ns);
            gap_from = seq + 1;
        }
        if gap_from <= end {
            self.gap_fill(gap_from, end + 1, now_ns);
        }
    }

    fn gap_fill(&mut self, from: u64, to: u64, now_ns: u64) {
        let reset = SequenceReset {
            gap_fill: true,
            new_seq_no: to,
        };
        if self.queue(now_ns, Some(from), |h, b| reset.encode(h, b)) {
            self.fix.gap_fills_sent += 1;
        }
    }

    /// Re-encodes stored message `i` with PossDupFlag=Y, OrigSendingTime (its
    /// first SendingTime) and a new SendingTime.
    fn resend_one(&mut self, i: usize, slot: Sent, now_ns: u64) {
        let from = i * MAX_FIX_MESSAGE_LEN;
        let stored = self
            .sent_bytes
            .get(from..from + usize::from(slot.len))
            .unwrap_or_default();
        let Ok(view) = MessageView::parse(stored) else {
            return;
        };
        let wall = self.wall(now_ns);
        let (sender, target) = (self.sender, self.target);
        let header = Header {
            sender_comp_id: sender.as_bytes(),
            target_comp_id: target.as_bytes(),
            msg_seq_num: slot.seq,
            sending_time: wall,
            poss_dup: true,
            orig_sending_time: Some(view.sending_time().ok().flatten().unwrap_or(wall)),
        };
        let mut b = MessageBuilder::new(
            self.out.spare(MAX_FIX_MESSAGE_LEN),
            view.msg_type(),
            &header,
        );
        for (t, v) in view.fields().map_while(Result::ok) {
            if !tag::is_header(t) {
                b.str(t, v);
            }
        }
        if let Ok(n) = b.finish() {
            self.out.commit(n);
            self.stats.packets_out += 1;
            self.fix.messages_resent += 1;
        }
    }

    /// Encodes one order request with the next MsgSeqNum and keeps it in the
    /// resend store.
    #[inline]
    fn send_request(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        if !self.out.make_room(MAX_FIX_MESSAGE_LEN) {
            return Err(GatewayError::BufferFull);
        }
        let seq = self.store.get().next_out;
        let wall = self.wall(now_ns);
        let (sender, target) = (self.sender, self.target);
        let header = Header {
            sender_comp_id: sender.as_bytes(),
            target_comp_id: target.as_bytes(),
            msg_seq_num: seq,
            sending_time: wall,
            poss_dup: false,
            orig_sending_time: None,
        };
        let n = self
            .orders
            .encode(req, &header, self.out.spare(MAX_FIX_MESSAGE_LEN))?;
        let i = (seq & self.sent_mask) as usize;
        let at = i * MAX_FIX_MESSAGE_LEN;
        if let (Some(keep), Some(msg)) = (self.sent_bytes.get_mut(at..at + n), self.out.encoded(n))
        {
            keep.copy_from_slice(msg);
        }
        if let Some(slot) = self.sent.get_mut(i) {
            *slot = Sent {
                seq,
                kind: match req {
                    OrderRequest::New(_) => b'D',
                    OrderRequest::Replace(_) => b'G',
                    OrderRequest::Cancel(_) => b'F',
                },
                cl: req.cl().0,
                // `n <= MAX_FIX_MESSAGE_LEN`.
                len: u16::try_from(n).unwrap_or(0),
                at_ns: now_ns,
            };
        }
        self.out.commit(n);
        self.store.set_next_out(seq + 1);
        self.store.note_cl(req.cl().0);
        self.stats.requests += 1;
        self.stats.packets_out += 1;
        Ok(())
    }
}

impl OnConnect for FixClient {
    fn connected<S: GatewaySink>(&mut self, socket: Socket, now_ns: u64, sink: &mut S) {
        let stream = TcpStream::from(socket);
        self.rx.clear();
        let s = &mut self.s;
        s.stats.connects += 1;
        s.out.discard();
        s.phase = Phase::LoggingIn;
        s.since_ns = now_ns;
        s.last_rx_ns = now_ns;
        s.last_tx_ns = now_ns;
        s.resend_until = None;
        s.test_req_at = None;
        s.reset_requested = s.reset_on_logon;
        if s.reset_on_logon {
            s.store.reset_sequences();
        }
        let logon = Logon {
            encrypt_method: 0,
            heart_bt_int: s.hb_secs,
            reset_seq_num_flag: s.reset_on_logon,
        };
        s.queue(now_ns, None, |h, b| logon.encode(h, b));
        let written = s.write_out(&stream, now_ns);
        self.conn = Conn::Open(stream);
        if written.is_err() {
            self.close_conn(now_ns, Close::Lost(LostReason::IoError), sink);
        }
    }

    fn connect_lost<S: GatewaySink>(&mut self, why: LostReason, now_ns: u64, sink: &mut S) {
        self.close_conn(now_ns, Close::Lost(why), sink);
    }
}

impl OrderGateway for FixClient {
    #[inline]
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        if self.s.phase != Phase::Ready {
            return Err(GatewayError::NotReady);
        }
        self.s.send_request(now_ns, req)
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
            Phase::LoggingIn | Phase::Replaying | Phase::Ready | Phase::LoggingOut
        ) && matches!(self.conn, Conn::Open(_))
        {
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
            Phase::LoggingOut | Phase::Ended => SessionStatus::Ended,
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

    type Rec = crate::RecordingSink;

    fn config() -> FixClientConfig {
        let mut c = FixClientConfig::new(SocketAddr::from(([127, 0, 0, 1], 9)), "ALICE", "VENUE");
        c.symbols = vec![(InstrumentId(1), "AAPL".into())];
        c
    }

    /// A client whose session is logged on, without a socket.
    fn ready() -> FixClient {
        let mut c = FixClient::new(config()).unwrap();
        c.s.phase = Phase::Ready;
        c.s.store.set_next_in(2);
        c
    }

    fn feed(c: &mut FixClient, bytes: &[u8], rec: &mut Rec) -> Result<(), Close> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = c.rx.push(rest);
            rest = &rest[n..];
            handle_frames(&mut c.rx, &mut c.s, 1, rec)?;
        }
        Ok(())
    }

    /// A well-framed message from the acceptor with the given body fields.
    fn framed(seq: u64, msg_type: &[u8], body: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut buf = vec![0; 4096];
        let header = Header {
            sender_comp_id: b"VENUE",
            target_comp_id: b"ALICE",
            msg_seq_num: seq,
            sending_time: 1_700_000_000_000_000_000,
            poss_dup: false,
            orig_sending_time: None,
        };
        let mut b = MessageBuilder::new(&mut buf, msg_type, &header);
        for (t, v) in body {
            b.str(*t, v);
        }
        let n = b.finish().unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn configuration_errors_are_named() {
        let mut c = config();
        c.sender_comp_id = "WITH SPACE".into();
        assert!(matches!(
            FixClient::new(c),
            Err(GatewayConfigError::InvalidFixValue {
                what: "SenderCompID",
                ..
            })
        ));
        let mut c = config();
        c.heartbeat_interval_secs = 0;
        assert!(matches!(
            FixClient::new(c),
            Err(GatewayConfigError::InvalidTimer(_))
        ));
        let mut c = config();
        c.send_buffer = 100;
        assert!(FixClient::new(c)
            .unwrap_err()
            .to_string()
            .contains("send_buffer of 100 bytes is too small"));
        let mut c = config();
        c.resend_store = 0;
        assert!(matches!(
            FixClient::new(c),
            Err(GatewayConfigError::ZeroCapacity("resend_store"))
        ));
    }

    #[test]
    fn send_before_ready_is_not_ready_and_writes_nothing() {
        let mut c = FixClient::new(config()).unwrap();
        assert_eq!(c.status(), SessionStatus::Connecting);
        let req = OrderRequest::New(NewOrder {
            cl: ClOrdId(1),
            instrument: InstrumentId(1),
            side: Side::Buy,
            price: Price(1_000_000),
            qty: Qty(10),
            tif: TimeInForce::Day,
            post_only: false,
        });
        assert_eq!(c.send(0, &req), Err(GatewayError::NotReady));
        assert_eq!(c.pending_bytes(), 0);
        assert_eq!(c.state().next_out, 1);
        let mut c = ready();
        c.send(0, &req).unwrap();
        assert_eq!((c.state().next_out, c.state().highest_cl), (2, 1));
        assert!(c.pending_bytes() > 0);
    }

    #[test]
    fn a_logon_while_logged_on_and_a_low_number_end_the_connection() {
        let mut c = ready();
        let mut rec = Rec::default();
        let logon = framed(2, b"A", &[(98, b"0".to_vec()), (108, b"30".to_vec())]);
        assert_eq!(
            feed(&mut c, &logon, &mut rec),
            Err(Close::Lost(LostReason::Protocol))
        );
        let mut c = ready();
        let hb = framed(1, b"0", &[]);
        assert_eq!(
            feed(&mut c, &hb, &mut rec),
            Err(Close::Lost(LostReason::Protocol))
        );
        // The Logout said why.
        let out = c.s.out.pending();
        let text = b"58=MsgSeqNum too low, expecting 2 but received 1\x01";
        assert!(out.windows(text.len()).any(|w| w == text));
    }

    #[test]
    fn an_unknown_msg_type_in_sequence_is_rejected_and_consumed() {
        let mut c = ready();
        let mut rec = Rec::default();
        feed(
            &mut c,
            &framed(2, b"B", &[(148, b"news".to_vec())]),
            &mut rec,
        )
        .unwrap();
        assert_eq!(c.fix_stats().rejects_sent, 1);
        assert_eq!(c.state().next_in, 3);
        let out = c.s.out.pending();
        assert!(out.windows(7).any(|w| w == b"\x01373=11"));
    }

    proptest! {
        #[test]
        fn garbage_from_the_acceptor_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            chunk in 1usize..64,
        ) {
            let mut c = ready();
            let mut rec = Rec::default();
            for piece in bytes.chunks(chunk) {
                c.rx.push(piece);
                if handle_frames(&mut c.rx, &mut c.s, 1, &mut rec).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn framed_random_fields_are_rejected_or_handled_never_fatal_in_sequence(
            msg_type in prop_oneof![Just(b"8".to_vec()), Just(b"9".to_vec()),
                                    Just(b"3".to_vec()), Just(b"j".to_vec()),
                                    Just(b"0".to_vec()), Just(b"1".to_vec())],
            fields in proptest::collection::vec(
                (prop_oneof![Just(6u32), Just(11), Just(14), Just(17), Just(31), Just(32),
                             Just(37), Just(39), Just(41), Just(45), Just(54), Just(55),
                             Just(112), Just(150), Just(151), Just(434), Just(9999)],
                 proptest::collection::vec(0x21u8..0x7f, 1..12)),
                0..12),
        ) {
            let mut c = ready();
            let mut rec = Rec::default();
            let msg = framed(2, &msg_type, &fields);
            prop_assert!(feed(&mut c, &msg, &mut rec).is_ok());
            // Whatever it was, it consumed its number.
            prop_assert_eq!(c.state().next_in, 3);
        }
    }
}
