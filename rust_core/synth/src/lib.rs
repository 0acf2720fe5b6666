//! Deterministic synthetic Nasdaq TotalView-ITCH 5.0 sessions.
//!
//! Owns: the synthetic session model, a stand-in for a real Nasdaq day used by
//! `quotewire itch generate`, `quotewire bench feed` and (later) as the venue
//! simulator's background market. Instruments with Zipf-skewed activity, each
//! with its own reference price, tick and random-walk touch; orders placed a
//! geometric number of ticks from the touch (a few deep); a live population
//! that builds up to a peak then stays balanced; and a book that is always
//! consistent: every delete, execute, cancel and replace names a live order,
//! executions take the oldest order at the best price, order references and
//! match numbers strictly increase and timestamps never go backwards. The model
//! keeps its own slab of live orders so all of this costs O(log levels) per
//! message.
//!
//! Outputs: [`Generator`] (an iterator of [`itch::Message`]), the Nasdaq daily
//! file image ([`generate_daily`], [`write_daily`]) and MoldUDP64 datagrams
//! ([`packetize`]).
//!
//! Determinism: the same [`SynthConfig`] (seed included) gives byte-identical
//! output, on the same target with the locked dependency versions (the
//! generator draws from `rand`'s `SmallRng`, whose stream `rand` does not
//! promise to keep across versions or pointer widths).
//!
//! Must never: read the clock, the environment or any file (the only I/O is the
//! explicit `write_daily*` functions), use an unseeded random source, emit a
//! message about an order that is not live, or sit on a hot path: it is a
//! producer of test and benchmark input, not part of the trading engine.
//!
//! [`itch::Message`]: quotewire_protocol::itch::Message

mod book;
mod config;
mod generator;
mod output;

pub use config::{MessageMix, SynthConfig, SynthError, MARKET_OPEN_NS, SYSTEM_EVENTS};
pub use generator::Generator;
pub use output::{generate_daily, packetize, write_daily, write_daily_to, Packets};
