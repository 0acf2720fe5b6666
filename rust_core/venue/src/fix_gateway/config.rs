//! Configuration and construction errors of the FIX gateway.

use std::io;
use std::net::SocketAddr;

use quotewire_core::InstrumentId;
use thiserror::Error;

use crate::matching::FirmId;

/// One FIX session the acceptor accepts, identified by the client's CompIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixSessionConfig {
    /// The client's SenderCompID(49) (our TargetCompID on the way out).
    pub sender_comp_id: String,
    /// Our CompID: the client's TargetCompID(56).
    pub target_comp_id: String,
    /// The firm the session's orders belong to (self-match prevention, events).
    pub firm: FirmId,
    /// Cancel the session's open orders when its connection drops.
    pub cancel_on_disconnect: bool,
}

/// A tradable symbol and the matching engine's instrument behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixInstrument {
    /// Symbol(55) as clients send it.
    pub symbol: String,
    /// The engine's instrument.
    pub instrument: InstrumentId,
}

/// Everything a [`FixGateway`](super::FixGateway) is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixGatewayConfig {
    /// Address to listen on (port 0 picks a free port, see `local_addr`).
    pub listen: SocketAddr,
    /// The sessions accepted; a Logon naming any other CompID pair is refused.
    pub sessions: Vec<FixSessionConfig>,
    /// HeartBtInt used when a client's Logon asks for 0, in seconds.
    pub heartbeat_secs: u32,
    /// Time allowed between connecting and a valid Logon, in nanoseconds.
    pub logon_timeout_ns: u64,
    /// Most simultaneous TCP connections (logged on or not); more are closed on accept.
    pub max_connections: usize,
    /// Largest accepted BodyLength(9); longer frames are dropped by the framer.
    pub max_body: usize,
    /// The symbols traded through this gateway.
    pub instruments: Vec<FixInstrument>,
}

impl FixGatewayConfig {
    /// A configuration listening on `listen` with no sessions or symbols yet and
    /// the defaults: 30 s heartbeats, 10 s logon timeout, 64 connections, 8 KiB bodies.
    #[must_use]
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            sessions: Vec::new(),
            heartbeat_secs: 30,
            logon_timeout_ns: 10_000_000_000,
            max_connections: 64,
            max_body: quotewire_protocol::fix::DEFAULT_MAX_BODY,
            instruments: Vec::new(),
        }
    }
}

/// Why a FIX gateway could not be built.
#[derive(Debug, Error)]
pub enum FixGatewayError {
    /// The listening socket could not be opened or configured.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// A CompID is empty, longer than 32 bytes or holds SOH.
    #[error("invalid CompID {0:?}")]
    InvalidCompId(String),
    /// Two sessions share a (SenderCompID, TargetCompID) pair.
    #[error("session {sender}->{target} is configured twice")]
    DuplicateSession {
        /// Client SenderCompID.
        sender: String,
        /// Our CompID.
        target: String,
    },
    /// A symbol is empty, too long, or configured twice.
    #[error("invalid or duplicate symbol {0:?}")]
    InvalidSymbol(String),
}
