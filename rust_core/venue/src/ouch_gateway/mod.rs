//! OUCH 5.0 over SoupBinTCP 4.0: the venue's native order-entry gateway.
//!
//! [`OuchGateway`] listens on one TCP port and serves any number of
//! SoupBinTCP sessions, each logged into one configured account
//! ([`OuchAccount`], trading as one [`FirmId`]). Everything is non-blocking
//! `std::net` serviced from [`OrderEntry::poll`]: no threads, no blocking
//! calls, one listener and one [`StreamFramer`] per connection.
//!
//! # Session (SoupBinTCP 4.0)
//!
//! * A connection must send a Login Request first. Unknown username or wrong
//!   password (both case insensitive), or an account already logged in on
//!   another connection -> Login Rejected `A`; a requested session that is
//!   neither blank nor the configured one (or any login after
//!   [`OuchGateway::end_session`]) -> `S`. The connection is then closed.
//! * Each account has one session for the gateway's lifetime: every OUCH
//!   outbound message for it is appended to an in-memory log and numbered
//!   from 1, whether or not the account is connected. Requested Sequence
//!   Number 0 starts at the next new message; `N` replays from `N` (clamped to
//!   the next new message); Login Accepted carries the session name and the
//!   sequence number of the first message that follows. Replay and live data
//!   are both copied from that log, so a replay is byte-for-byte what was (or
//!   would have been) sent live.
//! * Sequenced Data `S` carries outbound OUCH; Unsequenced Data `U` inbound
//!   OUCH. A Server Heartbeat `H` goes out after `heartbeat_interval` without
//!   output; a client silent (no packet of any kind) for `client_timeout` is
//!   disconnected, as is a connection that does not log in within it.
//!   Logout Request `O` closes the session. [`OuchGateway::end_session`]
//!   sends the remaining data, an OUCH System Event `E` (end of day) and End
//!   of Session `Z`, then closes every connection.
//! * Anything out of protocol (data before login, a second Login Request,
//!   server-only packet types, bad framing or packet lengths, undecodable
//!   OUCH) closes that connection only, after a Debug `+` packet naming the
//!   reason; [`OuchGatewayStats`] counts every disconnect by
//!   [`DisconnectReason`]. Nothing a client sends can panic the gateway.
//!
//! # OUCH 5.0 mapping
//!
//! | Inbound | Command / answer |
//! |---|---|
//! | `O` Enter Order | [`Command::New`]: `UserRefNum` -> [`ClientOrderId`]; Time In Force `3` -> IOC, any other value (`0` day, `5`, `6`, `E`) -> day; Post Only appendage (tag 12) `P` -> post-only (IOC wins if both); sell short (`T`, `E`) trade as sells |
//! | `U` Replace Order | [`Command::Replace`] (orig -> new `UserRefNum`, new price, Quantity = new open shares); the order type is kept, Time In Force, Display, ISE and ClOrdID are only echoed |
//! | `X` Cancel Order | [`Command::Cancel`]; Quantity is the new intended order size, so the open quantity left is Quantity minus shares executed (saturating) |
//! | `M` Modify Order | not simulated: answered with Cancel Reject `I` |
//! | `Q` Account Query | Account Query Response `Q` (last `UserRefNum` + 1) |
//!
//! `UserRefNum`s must strictly increase per account over the whole session
//! (reconnects included); Enter and Replace with a non-increasing one are
//! refused by the gateway with `J` reason 0x000F (Other: the OUCH code table
//! has no dedicated code). Unknown symbol -> `J` 0x0017 Invalid Symbol.
//!
//! | Event | Outbound (to each account whose firm it concerns) |
//! |---|---|
//! | [`Event::Accepted`] | `A` Order Accepted (state `L`; Post Only echoed in the appendage) |
//! | [`Event::Executed`] | `E` Order Executed to the resting firm (liquidity `A`) and to the aggressor firm (`R`) |
//! | [`Event::Canceled`] | `C` Order Canceled, Quantity = shares decremented, reason `U` user, `I` IOC, `Q` self-match |
//! | [`Event::Replaced`] | `U` Order Replaced (new reference number) |
//! | [`Event::Rejected`] | New or Replace: `J` (0x0017 unknown instrument, 0x0013 zero or too large quantity, 0x001D off tick or outside band, 0x0012 post-only would take, 0x000A capacity, 0x000F otherwise); Cancel: `I` Cancel Reject |
//! | [`Event::Booked`] | none |
//!
//! Display, capacity, ISE, cross type and the other appendage options are
//! echoed but not simulated (every order is displayed).
//!
//! Prices are OUCH's 4-implied-decimal integers, the same scale as
//! [`quotewire_core::Price`]. Outbound timestamps are the command timestamps,
//! i.e. the `now_ns` given to [`OrderEntry::poll`], taken modulo one day: the
//! venue's clock is epoch nanoseconds, OUCH carries nanoseconds since midnight.
//!
//! # Cancel on disconnect
//!
//! When a logged-in connection ends for any reason but
//! [`OuchGateway::end_session`] and its account has `cancel_on_disconnect`,
//! the gateway remembers the account's open and in-flight orders, and at the
//! start of the next [`poll`](OrderEntry::poll) (once the commands already
//! handed to the venue have been matched) emits a cancel for each still open.
//! Their `C` messages are logged and replayed at the next login.
//!
//! [`Command::New`]: crate::matching::Command::New
//! [`Command::Replace`]: crate::matching::Command::Replace
//! [`Command::Cancel`]: crate::matching::Command::Cancel
//! [`ClientOrderId`]: crate::matching::ClientOrderId
//! [`Event::Accepted`]: crate::matching::Event::Accepted
//! [`Event::Executed`]: crate::matching::Event::Executed
//! [`Event::Canceled`]: crate::matching::Event::Canceled
//! [`Event::Replaced`]: crate::matching::Event::Replaced
//! [`Event::Rejected`]: crate::matching::Event::Rejected
//! [`Event::Booked`]: crate::matching::Event::Booked

mod account;
mod conn;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, Timestamp};
use quotewire_protocol::ouch::{self, Outbound};
use quotewire_protocol::soupbintcp::{self, StreamFramer, SESSION_LEN};

use crate::matching::{Command, Event, FirmId};
use crate::runtime::OrderEntry;

use account::{Account, Symbols};
use conn::{Conn, ConnState, Phase};

/// One OUCH account: a SoupBinTCP login and the firm its orders belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuchAccount {
    /// Login username: 1 to 6 printable ASCII characters, no spaces.
    pub username: String,
    /// Login password: up to 10 printable ASCII characters, no spaces.
    pub password: String,
    /// Firm the account's orders belong to (one account per firm).
    pub firm: FirmId,
    /// Cancel the account's open orders when its connection ends.
    pub cancel_on_disconnect: bool,
}

/// An OUCH symbol and the instrument it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuchSymbol {
    /// Symbol: 1 to 8 printable ASCII characters, no spaces.
    pub symbol: String,
    /// The matching engine's instrument.
    pub instrument: InstrumentId,
}

/// Configuration of an [`OuchGateway`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuchGatewayConfig {
    /// Address to listen on (port 0 picks a free port, see [`OuchGateway::local_addr`]).
    pub listen: SocketAddr,
    /// SoupBinTCP session name, 1 to 10 printable ASCII characters.
    pub session: String,
    /// The accounts that may log in.
    pub accounts: Vec<OuchAccount>,
    /// The symbols that may be traded.
    pub symbols: Vec<OuchSymbol>,
    /// A Server Heartbeat is sent after this long without output.
    pub heartbeat_interval: Duration,
    /// A client that sends nothing for this long is disconnected.
    pub client_timeout: Duration,
    /// Largest inbound SoupBinTCP Packet Length accepted (type byte + payload).
    pub max_packet_len: usize,
    /// Connections served at once; more are accepted and closed at once.
    pub max_connections: usize,
}

impl Default for OuchGatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            session: "0000000001".to_owned(),
            accounts: Vec::new(),
            symbols: Vec::new(),
            heartbeat_interval: Duration::from_secs(1),
            client_timeout: Duration::from_secs(15),
            max_packet_len: 1024,
            max_connections: 64,
        }
    }
}

/// Why an [`OuchGateway`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OuchGatewayError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: SocketAddr,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A username is empty, longer than 6 characters or not printable ASCII.
    #[error("username {0:?} must be 1 to 6 printable ASCII characters")]
    InvalidUsername(String),
    /// A password is longer than 10 characters or not printable ASCII.
    #[error("password of {0:?} must be at most 10 printable ASCII characters")]
    InvalidPassword(String),
    /// Two accounts share a username (compared case insensitively).
    #[error("username {0:?} is configured twice")]
    DuplicateUsername(String),
    /// Two accounts share a firm (events are routed to accounts by firm).
    #[error("firm {0:?} has two accounts")]
    DuplicateFirm(FirmId),
    /// The session name is empty, longer than 10 characters or not printable ASCII.
    #[error("session {0:?} must be 1 to 10 printable ASCII characters")]
    InvalidSession(String),
    /// A symbol is empty, longer than 8 characters or not printable ASCII.
    #[error("symbol {0:?} must be 1 to 8 printable ASCII characters")]
    InvalidSymbol(String),
    /// Two symbols share a name or an instrument.
    #[error("symbol {0:?} or its instrument is configured twice")]
    DuplicateSymbol(String),
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DisconnectReason {
    /// The client closed the connection (EOF).
    PeerClosed = 0,
    /// A socket error.
    IoError = 1,
    /// Nothing received for `client_timeout` (or no login within it).
    ClientTimeout = 2,
    /// The client sent a Logout Request.
    Logout = 3,
    /// The Login Request was refused (Login Rejected sent).
    LoginRejected = 4,
    /// Unusable SoupBinTCP framing (zero or over-long Packet Length).
    BadFraming = 5,
    /// A SoupBinTCP packet of unknown type or wrong length.
    BadPacket = 6,
    /// A packet other than Login Request (or Debug) before login.
    NotLoggedIn = 7,
    /// A packet not allowed from a logged-in client (second login, server-only type).
    UnexpectedPacket = 8,
    /// Unsequenced Data that is not a decodable OUCH 5.0 inbound message.
    BadOuch = 9,
    /// [`OuchGateway::end_session`].
    EndOfSession = 10,
    /// Accepted beyond `max_connections`.
    TooManyConnections = 11,
}

impl DisconnectReason {
    /// Number of reasons.
    pub const COUNT: usize = 12;

    /// Short text, also sent to the client in a Debug packet.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PeerClosed => "peer closed",
            Self::IoError => "socket error",
            Self::ClientTimeout => "client timeout",
            Self::Logout => "logout",
            Self::LoginRejected => "login rejected",
            Self::BadFraming => "bad SoupBinTCP framing",
            Self::BadPacket => "bad SoupBinTCP packet",
            Self::NotLoggedIn => "not logged in",
            Self::UnexpectedPacket => "unexpected packet",
            Self::BadOuch => "undecodable OUCH message",
            Self::EndOfSession => "end of session",
            Self::TooManyConnections => "too many connections",
        }
    }
}

/// Counters of an [`OuchGateway`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OuchGatewayStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Successful logins.
    pub logins: u64,
    /// OUCH messages received (Unsequenced Data).
    pub messages_in: u64,
    /// Commands handed to the venue.
    pub commands: u64,
    /// Sequenced Data packets sent (live and replayed).
    pub sequenced_out: u64,
    /// Server Heartbeats sent.
    pub heartbeats_out: u64,
    /// Disconnects by [`DisconnectReason`] (index = `reason as usize`).
    pub disconnects: [u64; DisconnectReason::COUNT],
    /// The most recent disconnect reason.
    pub last_disconnect: Option<DisconnectReason>,
}

impl OuchGatewayStats {
    /// Disconnects for one reason.
    #[must_use]
    pub const fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.disconnects[reason as usize]
    }
}

/// Everything but the sockets: accounts, symbols, counters, timers.
#[derive(Debug)]
struct Core {
    session: [u8; SESSION_LEN],
    accounts: Vec<Account>,
    by_firm: HashMap<FirmId, usize>,
    symbols: Symbols,
    heartbeat_ns: u64,
    timeout_ns: u64,
    max_packet_len: usize,
    max_connections: usize,
    ended: bool,
    stats: OuchGatewayStats,
}

/// The OUCH 5.0 / SoupBinTCP 4.0 order-entry gateway; see the module docs.
#[derive(Debug)]
pub struct OuchGateway {
    listener: TcpListener,
    local_addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    core: Core,
}

fn printable(s: &str, max: usize, allow_empty: bool) -> bool {
    (allow_empty || !s.is_empty()) && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

impl OuchGateway {
    /// Validates `config` and starts listening (non-blocking).
    pub fn bind(config: &OuchGatewayConfig) -> Result<Self, OuchGatewayError> {
        if !printable(&config.session, SESSION_LEN, false) {
            return Err(OuchGatewayError::InvalidSession(config.session.clone()));
        }
        let session = soupbintcp::alpha::<SESSION_LEN>(config.session.as_bytes(), "session")
            .map_err(|_| OuchGatewayError::InvalidSession(config.session.clone()))?;
        let mut accounts: Vec<Account> = Vec::with_capacity(config.accounts.len());
        let mut by_firm = HashMap::with_capacity(config.accounts.len());
        for a in &config.accounts {
            if !printable(&a.username, soupbintcp::USERNAME_LEN, false) {
                return Err(OuchGatewayError::InvalidUsername(a.username.clone()));
            }
            if !printable(&a.password, soupbintcp::PASSWORD_LEN, true) {
                return Err(OuchGatewayError::InvalidPassword(a.username.clone()));
            }
            if accounts
                .iter()
                .any(|b| b.username.eq_ignore_ascii_case(a.username.as_bytes()))
            {
                return Err(OuchGatewayError::DuplicateUsername(a.username.clone()));
            }
            if by_firm.insert(a.firm, accounts.len()).is_some() {
                return Err(OuchGatewayError::DuplicateFirm(a.firm));
            }
            accounts.push(Account::new(
                a.username.as_bytes(),
                a.password.as_bytes(),
                a.firm,
                a.cancel_on_disconnect,
            ));
        }
        let mut symbols = Symbols::default();
        for s in &config.symbols {
            let padded = soupbintcp::alpha::<8>(s.symbol.as_bytes(), "symbol")
                .ok()
                .filter(|_| printable(&s.symbol, 8, false))
                .ok_or_else(|| OuchGatewayError::InvalidSymbol(s.symbol.clone()))?;
            if symbols.by_symbol.insert(padded, s.instrument).is_some()
                || symbols.by_instrument.insert(s.instrument, padded).is_some()
            {
                return Err(OuchGatewayError::DuplicateSymbol(s.symbol.clone()));
            }
        }
        let listen_err = |source| OuchGatewayError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).map_err(listen_err)?;
        listener.set_nonblocking(true).map_err(listen_err)?;
        let local_addr = listener.local_addr().map_err(listen_err)?;
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        Ok(Self {
            listener,
            local_addr,
            conns: Vec::with_capacity(config.max_connections),
            core: Core {
                session,
                accounts,
                by_firm,
                symbols,
                heartbeat_ns: nanos(config.heartbeat_interval),
                timeout_ns: nanos(config.client_timeout),
                max_packet_len: config.max_packet_len.clamp(64, usize::from(u16::MAX)),
                max_connections: config.max_connections.max(1),
                ended: false,
                stats: OuchGatewayStats::default(),
            },
        })
    }

    /// The address actually listened on.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &OuchGatewayStats {
        &self.core.stats
    }

    /// Open connections (logged in or not, closing ones included).
    #[must_use]
    pub fn connections(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Whether `username` is logged in now.
    #[must_use]
    pub fn is_logged_in(&self, username: &str) -> bool {
        self.core
            .account(username)
            .is_some_and(|a| a.conn.is_some())
    }

    /// Sequenced messages in `username`'s session so far.
    #[must_use]
    pub fn sequenced_messages(&self, username: &str) -> Option<u64> {
        self.core.account(username).map(|a| a.log.len())
    }

    /// Orders of `username` the gateway knows to be open.
    #[must_use]
    pub fn open_orders(&self, username: &str) -> Option<usize> {
        self.core.account(username).map(|a| a.orders.len())
    }

    /// Ends the session: logs an OUCH System Event `E` (end of day) for every
    /// account, sends what each logged-in client has not yet received, then
    /// End of Session `Z`, and closes every connection (without
    /// cancel-on-disconnect). Later logins are refused with `S`.
    pub fn end_session(&mut self, now_ns: u64) {
        if self.core.ended {
            return;
        }
        self.core.ended = true;
        for a in &mut self.core.accounts {
            a.log.push(&Outbound::SystemEvent(ouch::SystemEvent {
                timestamp: since_midnight(now_ns),
                event_code: b'E',
            }));
        }
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if let Phase::Active { account } = conn.st.phase {
                if let Some(a) = self.core.accounts.get(account) {
                    conn.st
                        .queue_sequenced(&a.log, &mut self.core.stats, now_ns, true);
                }
                conn.st.queue(&soupbintcp::Packet::EndOfSession, now_ns);
            }
            self.core
                .close(slot, &mut conn.st, DisconnectReason::EndOfSession, now_ns);
            // Best effort now; the rest goes out on the next polls.
            let _ = conn.flush();
        }
    }

    fn accept(&mut self, now_ns: u64) {
        loop {
            let (stream, _peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or a transient accept failure (e.g. out of files):
                // try again next poll.
                Err(_) => return,
            };
            self.core.stats.connections += 1;
            if stream.set_nonblocking(true).is_err() {
                self.core.count_disconnect(DisconnectReason::IoError);
                continue;
            }
            // Latency matters more than packet count; a failure here is harmless.
            let _ = stream.set_nodelay(true);
            let open = self.conns.iter().flatten().count();
            if open >= self.core.max_connections {
                self.core
                    .count_disconnect(DisconnectReason::TooManyConnections);
                continue;
            }
            let conn = Conn::new(stream, StreamFramer::new(self.core.max_packet_len), now_ns);
            match self.conns.iter().position(Option::is_none) {
                Some(i) => {
                    if let Some(s) = self.conns.get_mut(i) {
                        *s = Some(conn);
                    }
                }
                None => self.conns.push(Some(conn)),
            }
        }
    }
}

impl Core {
    fn account(&self, username: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.username.eq_ignore_ascii_case(username.as_bytes()))
    }

    fn count_disconnect(&mut self, reason: DisconnectReason) {
        if let Some(n) = self.stats.disconnects.get_mut(reason as usize) {
            *n += 1;
        }
        self.stats.last_disconnect = Some(reason);
    }

    /// Detaches `conn` from its account (arming cancel-on-disconnect unless the
    /// session ended) and starts closing it.
    fn close(&mut self, slot: usize, conn: &mut ConnState, reason: DisconnectReason, now_ns: u64) {
        if matches!(conn.phase, Phase::Closing { .. }) {
            return;
        }
        if let Phase::Active { account } = conn.phase {
            if let Some(a) = self.accounts.get_mut(account) {
                if a.conn == Some(slot) {
                    a.conn = None;
                    if reason != DisconnectReason::EndOfSession {
                        a.arm_cancel_on_disconnect();
                    }
                }
            }
        }
        self.count_disconnect(reason);
        conn.start_closing(reason, now_ns);
    }

    /// Handles one Login Request; `Err` closes the connection.
    fn login(
        &mut self,
        slot: usize,
        conn: &mut ConnState,
        l: &soupbintcp::LoginRequest,
        now_ns: u64,
    ) -> Result<(), DisconnectReason> {
        let username = soupbintcp::trim_alpha(&l.username);
        let password = soupbintcp::trim_alpha(&l.password);
        let found = self
            .accounts
            .iter()
            .position(|a| a.authenticates(username, password));
        let requested = l.requested_session.trim_ascii();
        let reject = match found {
            None => Some(soupbintcp::RejectReason::NotAuthorized),
            Some(i) if self.accounts.get(i).is_some_and(|a| a.conn.is_some()) => {
                Some(soupbintcp::RejectReason::NotAuthorized)
            }
            Some(_)
                if self.ended
                    || (!requested.is_empty()
                        && !requested.eq_ignore_ascii_case(self.session.trim_ascii())) =>
            {
                Some(soupbintcp::RejectReason::SessionNotAvailable)
            }
            Some(_) => None,
        };
        let (Some(account), None) = (found, reject) else {
            let reason = reject.unwrap_or(soupbintcp::RejectReason::NotAuthorized);
            conn.queue(&soupbintcp::Packet::LoginRejected(reason), now_ns);
            return Err(DisconnectReason::LoginRejected);
        };
        let Some(a) = self.accounts.get_mut(account) else {
            return Err(DisconnectReason::LoginRejected);
        };
        let next = a.log.next_seq();
        let start = match l.requested_sequence_number {
            0 => next,
            n => n.min(next),
        };
        a.conn = Some(slot);
        conn.phase = Phase::Active { account };
        conn.next_seq = start;
        conn.queue(
            &soupbintcp::Packet::LoginAccepted(soupbintcp::LoginAccepted {
                session: self.session,
                sequence_number: start,
            }),
            now_ns,
        );
        self.stats.logins += 1;
        Ok(())
    }

    /// Handles one complete packet; `Err` closes the connection.
    fn on_packet(
        &mut self,
        slot: usize,
        conn: &mut ConnState,
        packet: &soupbintcp::Packet<'_>,
        now_ns: u64,
        commands: &mut Vec<Command>,
    ) -> Result<(), DisconnectReason> {
        use soupbintcp::Packet as P;
        match (conn.phase, packet) {
            (_, P::Debug(_)) | (Phase::Closing { .. }, _) => Ok(()),
            (Phase::AwaitingLogin, P::LoginRequest(l)) => self.login(slot, conn, l, now_ns),
            (Phase::AwaitingLogin, _) => Err(DisconnectReason::NotLoggedIn),
            (Phase::Active { account }, P::UnsequencedData(data)) => {
                let m = ouch::decode_inbound(data).map_err(|_| DisconnectReason::BadOuch)?;
                self.stats.messages_in += 1;
                let before = commands.len();
                if let Some(a) = self.accounts.get_mut(account) {
                    a.on_inbound(&m, Timestamp(now_ns), &self.symbols, commands);
                }
                self.stats.commands += (commands.len() - before) as u64;
                Ok(())
            }
            (Phase::Active { .. }, P::ClientHeartbeat) => Ok(()),
            (Phase::Active { .. }, P::LogoutRequest) => Err(DisconnectReason::Logout),
            (Phase::Active { .. }, _) => Err(DisconnectReason::UnexpectedPacket),
        }
    }
}

impl OrderEntry for OuchGateway {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        // Cancel-on-disconnect armed during the previous poll: the commands
        // handed over then have been matched, so the open set is final.
        let before = commands.len();
        for a in &mut self.core.accounts {
            if !a.cod_targets.is_empty() {
                a.sweep_cancel_on_disconnect(Timestamp(now_ns), commands);
            }
        }
        self.core.stats.commands += (commands.len() - before) as u64;

        self.accept(now_ns);

        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if let Err(reason) = conn.service(slot, &mut self.core, now_ns, commands) {
                self.core.close(slot, &mut conn.st, reason, now_ns);
            }
            let core = &mut self.core;
            if let Err(reason) =
                conn.pump(&core.accounts, &mut core.stats, core.heartbeat_ns, now_ns)
            {
                core.close(slot, &mut conn.st, reason, now_ns);
            }
            if conn.is_finished(now_ns) {
                if let Some(s) = self.conns.get_mut(slot) {
                    *s = None;
                }
            }
        }
    }

    fn on_events(&mut self, now_ns: u64, events: &[Event]) {
        let mut touched = false;
        for event in events {
            let (first, second) = match event {
                Event::Accepted(e) => (e.firm, None),
                Event::Booked(_) => continue,
                Event::Rejected(e) => (e.firm, None),
                Event::Canceled(e) => (e.firm, None),
                Event::Replaced(e) => (e.firm, None),
                Event::Executed(e) => (
                    e.resting_firm,
                    Some(e.aggressor_firm).filter(|f| *f != e.resting_firm),
                ),
            };
            for firm in core::iter::once(first).chain(second) {
                let Some(&i) = self.core.by_firm.get(&firm) else {
                    continue;
                };
                if let Some(a) = self.core.accounts.get_mut(i) {
                    touched |= a.on_event(event, &self.core.symbols);
                }
            }
        }
        if !touched {
            return;
        }
        // Send at once rather than on the next poll.
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if let Phase::Active { .. } = conn.st.phase {
                let core = &mut self.core;
                if let Err(reason) =
                    conn.pump(&core.accounts, &mut core.stats, core.heartbeat_ns, now_ns)
                {
                    core.close(slot, &mut conn.st, reason, now_ns);
                }
            }
        }
    }
}

/// OUCH timestamps are nanoseconds since midnight; the venue's clock may be
/// epoch nanoseconds (a value already since midnight passes through).
pub(crate) const fn since_midnight(ns: u64) -> u64 {
    ns % 86_400_000_000_000
}
