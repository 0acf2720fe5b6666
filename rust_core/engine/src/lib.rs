//! Where quotewire's crates meet.
//!
//! Owns (for now): the market-data pipeline that applies sequenced ITCH
//! messages to the books ([`market_data`]), replay of capture files through
//! the same pipeline ([`capture`]), and the end-to-end benchmark harness
//! ([`bench`](mod@bench)), and the trading engine ([`trading`]): the pinned
//! fast-path loop (feed -> books -> strategy -> risk -> OMS -> gateway), its
//! rings to the side threads and its latency histograms.
//! Must never: call Python, allocate or lock per message after warm-up, or
//! drop input silently: every refusal is counted.

pub mod bench;
pub mod capture;
mod error;
pub mod market_data;
pub mod trading;

pub use error::EngineError;
pub use market_data::{Applied, MarketData, MarketDataCounters, Trade};
