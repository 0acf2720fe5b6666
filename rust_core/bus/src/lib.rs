//! The firm bus: what several engine instances share through NATS with JetStream.
//!
//! Owns: one side thread per [`Bus`] running the `async-nats` client on a tokio
//! current-thread runtime; the lock-free rings between that thread and the control
//! plane (an outbound ring of small `Copy` [`Outbound`] messages: fills, positions,
//! exposures, heartbeats; an inbound ring of [`Inbound`] messages: the firm-wide kill
//! and this instance's risk budget, and, for an allocator, the peers' exposures); the
//! JetStream streams and key-value bucket it creates when missing; the wire format of
//! every message ([`wire`]); its counters ([`BusCounters`]).
//! Must never: run on or block the fast path (the engine knows nothing of it; the
//! control plane feeds it from event batches), decide risk (it carries budgets, the
//! engine enforces them and the allocator computes them), or lose a fill silently (a
//! full ring is counted in [`BusCounters::dropped`], a failed publish is retried with
//! the same `Nats-Msg-Id` so JetStream stores it once).
//!
//! # Subjects and storage (prefix `qw` by default)
//!
//! | subject | what | where |
//! |---|---|---|
//! | `qw.fill.<instance>` | every fill, once (`Nats-Msg-Id`) | stream `QW_DROPCOPY` (limits, file) |
//! | `qw.position.<instance>.<instrument>` | a position snapshot | stream `QW_STATE` (last N per subject) |
//! | `qw.exposure.<instance>` | an exposure snapshot and the budget applied | stream `QW_STATE` |
//! | `qw.heartbeat.<instance>` | the control plane is alive | core NATS only |
//! | `qw.kill` | firm-wide kill, now | core NATS |
//! | KV `QW_RISK` key `kill` | firm-wide kill state, durable | JetStream KV |
//! | KV `QW_RISK` key `budget.<instance>` | the instance's firm limits | JetStream KV (compare-and-set) |
//!
//! Payloads are JSON objects documented in [`wire`]; money is raw integers (price
//! with four implied decimals, notional = raw price x shares), never floats.
//!
//! # Failure
//!
//! [`Bus::connect`] returns [`BusError::Unreachable`] when the server does not answer
//! within [`BusConfig::connect_timeout`]; afterwards the client reconnects by itself
//! (counted in [`BusCounters::reconnects`]), outbound messages wait in the ring while
//! disconnected, and publishes whose acknowledgement fails are sent again.

mod bus;
mod config;
mod error;
mod message;
pub mod wire;
mod worker;

pub use bus::{Bus, BusCounters, StoredMessage};
pub use config::BusConfig;
pub use error::BusError;
pub use message::{Budget, Exposure, Fill, Heartbeat, Inbound, InstanceName, Outbound, Position};
