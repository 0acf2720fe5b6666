//! The trading engine: the fast path from market data to orders
//! ([`trader`]), its configuration ([`config`]), the rings and histograms
//! that report on it ([`telemetry`]), the live pinned thread ([`runner`]),
//! the in-process benchmark harnesses ([`bench`](mod@bench)) and crash
//! recovery from the journal ([`recovery`]).

pub mod bench;
pub mod config;
pub mod recovery;
pub mod rules;
pub mod runner;
pub mod telemetry;
pub mod trader;

pub use config::TraderConfig;
pub use runner::LiveEngine;
pub use trader::{Ack, Control, SnapshotRecord, Trader, TraderCounters};
