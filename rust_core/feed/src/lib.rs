//! MoldUDP64 feed handling: sequencing, A/B arbitration, gap recovery, stale
//! detection, and loading of TotalView-ITCH daily files.
//!
//! Owns: turning datagrams from one or two redundant lines (plus a
//! retransmission server) into each message exactly once, in sequence order
//! ([`Sequencer`], [`FeedHandler`]), and reporting every gap, recovery, loss
//! and stall as a small `Copy` [`FeedEvent`].
//! Must never: allocate, lock or panic per packet after construction (the
//! reorder store is a fixed set of pre-allocated slots), interpret ITCH
//! message bodies (that is `protocol` and `book`), or open sockets itself
//! (that is `transport`).

mod error;
mod event;
pub mod file;
mod handler;
mod sequencer;
mod stats;

pub use error::FeedError;
pub use event::{FeedEvent, FeedSink, Line, LossReason};
pub use handler::FeedHandler;
pub use sequencer::{Sequencer, SequencerConfig, StartPolicy};
pub use stats::{FeedStats, LineStats};
