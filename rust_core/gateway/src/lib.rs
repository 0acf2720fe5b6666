//! Order-entry sessions: how quotewire's engine talks to a venue.
//!
//! Owns: the [`OrderGateway`] trait (send / flush / poll / status) and its
//! reporting side ([`GatewaySink`], [`SessionEvent`], [`GatewayStats`]); the
//! OUCH 5.0 client over SoupBinTCP 4.0 ([`OuchClient`]: non-blocking TCP,
//! login, replay, heartbeats, timeouts, reconnects, sequence numbers
//! persisted in a memory-mapped state file); the FIX 4.4 initiator
//! ([`FixClient`], module [`fix`]: Logon/Logout, heartbeats and
//! TestRequests, persisted MsgSeqNums, ResendRequest and SequenceReset
//! handling both ways, orders, replaces and cancels); [`SessionGateway`], the
//! engine's choice of either behind one `match`; the in-memory gateway
//! ([`MemoryGateway`]) that encodes the same bytes without sockets; and the
//! one encoder of [`OrderRequest`](quotewire_core::order::OrderRequest)s and
//! decoder of venue messages they share ([`OuchEncoder`], [`decode_message`]).
//!
//! Must never: allocate, lock or block on the hot path after construction
//! (`send` encodes into a pre-sized buffer, `flush` makes at most one write
//! syscall, `poll` a bounded number of reads; symbols are a direct array
//! indexed by instrument), panic on anything a venue sends (undecodable
//! messages are counted and skipped), decide anything about orders (that is
//! the OMS: replays are reported as they come and deduplicated there), or
//! know about wire layouts itself (that is `quotewire-protocol`).

mod client;
mod codec;
mod conn;
mod error;
mod event;
pub mod fix;
mod memory;
mod session;
mod session_file;
mod state;
mod stats;

pub use client::{OuchClient, OuchClientConfig, MIN_RECV_BUFFER, MIN_SEND_BUFFER};
pub use codec::{cl_ord_id_text, decode_message, Decoded, OuchEncoder, MAX_REQUEST_PACKET_LEN};
pub use error::{GatewayConfigError, GatewayError};
pub use event::{
    announce_ready, DebugText, GatewaySink, LostReason, NullSink, OrderGateway, RecordingSink,
    SessionEvent, SessionStatus,
};
pub use fix::{FixClient, FixClientConfig, FixSessionState, FixStats};
pub use memory::{MemoryGateway, MemoryGatewayConfig};
pub use session::SessionGateway;
pub use state::{SessionState, STATE_FILE_LEN};
pub use stats::GatewayStats;
