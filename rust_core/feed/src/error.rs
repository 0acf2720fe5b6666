use thiserror::Error;

/// Errors of the feed crate (construction and file loading; the per-packet
/// path reports through [`crate::FeedEvent`] and counters instead).
#[derive(Debug, Error)]
pub enum FeedError {
    /// The configuration is inconsistent.
    #[error("invalid feed configuration: {0}")]
    Config(&'static str),
    /// Reading or decompressing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A transport failed while being set up.
    #[error(transparent)]
    Transport(#[from] quotewire_transport::TransportError),
}
