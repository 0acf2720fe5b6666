//! The quotewire venue simulator: the paper-trading venue users run and the
//! counterparty quotewire's own engine is tested against.
//!
//! Owns: the venue side of the wire. Today that is [`matching`], a
//! deterministic price-time matching engine for many instruments (limit,
//! IOC, post-only, cancel, cancel/replace, self-match prevention, tick and
//! price-band checks) that reports everything it does as [`matching::Event`]s.
//! Later this crate also holds the OUCH 5.0 and FIX 4.4 order-entry sessions
//! and the TotalView-ITCH 5.0 publisher, all driven from those events, and
//! [`ledger`], the per-firm record of fills and resting orders that tests
//! compare with what a trading engine believes.
//!
//! Must never: depend on `quotewire-engine` (the venue is what the engine is
//! tested against, so it must not share its code or its bugs), perform I/O,
//! read a clock, draw random numbers or spawn threads inside [`matching`]
//! (timestamps come in with each command; the same commands always give the
//! same events), or allocate per event on the matching hot path after
//! construction.

pub mod background;
pub mod fix_gateway;
pub mod ledger;
pub mod matching;
pub mod ouch_gateway;
pub mod publisher;
pub mod replay;
pub mod runtime;
pub mod server;
pub mod workload;

mod error;

pub use error::VenueError;
