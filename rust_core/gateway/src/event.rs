use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest};

use crate::GatewayError;

/// Where an order-entry session is.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// Not connected yet, or a TCP connect is in progress.
    Connecting,
    /// Connected; the Login Request is sent, no answer yet.
    LoggingIn,
    /// Logged in; replayed messages arrive until the Account Query answer.
    Replaying,
    /// Orders may be sent.
    Ready,
    /// Disconnected; waiting for the reconnect backoff (or for good if
    /// reconnecting is disabled or the login was rejected).
    Down,
    /// The venue ended the session (End of Session) or the client logged out.
    Ended,
}

/// Why a connection was lost.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LostReason {
    /// The TCP connect failed (refused, unreachable).
    ConnectFailed,
    /// The TCP connect did not complete within the server timeout.
    ConnectTimeout,
    /// No Login Accepted/Rejected within the server timeout.
    LoginTimeout,
    /// The venue closed the connection.
    PeerClosed,
    /// A socket read or write failed.
    IoError,
    /// Nothing (data or heartbeat) received for the server timeout.
    ServerTimeout,
    /// Unusable SoupBinTCP framing (zero or over-long Packet Length).
    Framing,
    /// A packet out of protocol (e.g. data before login, a client-only type).
    Protocol,
    /// The venue's session is not the one the state file was for: the state
    /// was reset and the client logs in again from sequence 1.
    SessionChanged,
    /// The owner dropped the connection ([`crate::OuchClient::disconnect`]).
    Local,
}

/// The first bytes of a SoupBinTCP Debug packet (free text from the venue,
/// e.g. why it is closing the connection).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DebugText {
    bytes: [u8; Self::CAPACITY],
    len: u8,
}

impl DebugText {
    /// Bytes kept from a Debug packet; the rest is dropped.
    pub const CAPACITY: usize = 48;

    /// Keeps the first [`Self::CAPACITY`] bytes of `text`.
    #[must_use]
    pub fn new(text: &[u8]) -> Self {
        let mut bytes = [0; Self::CAPACITY];
        let n = text.len().min(Self::CAPACITY);
        for (d, s) in bytes.iter_mut().zip(text) {
            *d = *s;
        }
        // `n <= CAPACITY < 256`.
        Self {
            bytes,
            len: u8::try_from(n).unwrap_or(u8::MAX),
        }
    }

    /// The kept bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl core::fmt::Debug for DebugText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A change of the session's state, reported through [`GatewaySink::session`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEvent {
    /// Login Accepted: the next sequenced message the venue sends is `next_seq`
    /// (replayed messages from there on, then live ones).
    LoggedIn {
        /// Sequence number of the next sequenced message.
        next_seq: u64,
    },
    /// Replay complete: orders may be sent. `next_cl` is the venue's next
    /// expected UserRefNum (above every id it has seen on this account).
    Ready {
        /// First id the venue accepts.
        next_cl: ClOrdId,
    },
    /// The connection was lost; the client reconnects if configured to.
    Lost {
        /// Why.
        reason: LostReason,
    },
    /// The venue refused the login (SoupBinTCP reject reason byte: `A` not
    /// authorized, `S` session not available). Not retried on a first login;
    /// retried with backoff after an earlier login succeeded.
    LoginRejected {
        /// The reject reason code.
        reason: u8,
    },
    /// The venue ended the session (End of Session): no more logins today.
    EndOfSession,
    /// The venue sent a Debug packet (text truncated to [`DebugText::CAPACITY`]).
    Debug {
        /// The start of the text.
        text: DebugText,
    },
    /// The state file was unusable (torn) and reset: the login replays the
    /// whole session and the OMS must deduplicate.
    StateReset,
}

/// Receives what a gateway decodes. Called from [`OrderGateway::poll`].
pub trait GatewaySink {
    /// One execution report (live or replayed; replays are not marked, the
    /// OMS deduplicates).
    fn report(&mut self, r: &ExecReport);
    /// One session event.
    fn session(&mut self, e: SessionEvent);
}

/// An order-entry session: a venue connection or an in-memory stand-in.
pub trait OrderGateway {
    /// Encodes one request into the pre-allocated send buffer. Never allocates, never blocks.
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError>;
    /// Writes everything buffered (one write syscall for a batch). Never blocks
    /// (partial writes keep the rest buffered).
    fn flush(&mut self, now_ns: u64) -> Result<(), GatewayError>;
    /// Reads and decodes what the venue sent, reports each message to the
    /// sink, runs heartbeats/timeouts/reconnects. Returns the number of reports.
    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize;
    /// Where the session is.
    fn status(&self) -> SessionStatus;
    /// Drops the connection as a network failure would (the venue's
    /// cancel-on-disconnect applies); the gateway reports the loss on the next
    /// poll and reconnects if configured to. Operator tooling and tests; a
    /// gateway without a connection ignores it.
    fn drop_session(&mut self) {}
}

/// What a gateway with no real session (in-memory, backtest) reports on its
/// first poll: logged in at sequence 1 and ready for order id 1.
pub fn announce_ready<S: GatewaySink>(sink: &mut S) {
    sink.session(SessionEvent::LoggedIn { next_seq: 1 });
    sink.session(SessionEvent::Ready {
        next_cl: ClOrdId(1),
    });
}

/// A sink that keeps everything it is given, in order (tests, tools; it allocates).
#[derive(Clone, Debug, Default)]
pub struct RecordingSink {
    /// Venue reports received.
    pub reports: Vec<ExecReport>,
    /// Session events received.
    pub events: Vec<SessionEvent>,
}

impl RecordingSink {
    /// How many times the session was lost.
    #[must_use]
    pub fn lost(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, SessionEvent::Lost { .. }))
            .count()
    }

    /// The `next_cl` of every `Ready`, in order.
    #[must_use]
    pub fn readies(&self) -> Vec<ClOrdId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Ready { next_cl } => Some(*next_cl),
                _ => None,
            })
            .collect()
    }

    /// `(order, match number)` of every execution, in order.
    #[must_use]
    pub fn executed(&self) -> Vec<(ClOrdId, u64)> {
        self.reports
            .iter()
            .filter_map(|r| match r {
                ExecReport::Executed {
                    cl, match_number, ..
                } => Some((*cl, *match_number)),
                _ => None,
            })
            .collect()
    }
}

impl GatewaySink for RecordingSink {
    fn report(&mut self, r: &ExecReport) {
        self.reports.push(*r);
    }
    fn session(&mut self, e: SessionEvent) {
        self.events.push(e);
    }
}

/// A sink that drops everything (e.g. while draining a gateway at shutdown).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl GatewaySink for NullSink {
    fn report(&mut self, _r: &ExecReport) {}
    fn session(&mut self, _e: SessionEvent) {}
}
