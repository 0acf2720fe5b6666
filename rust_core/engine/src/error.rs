use thiserror::Error;

/// Errors of the engine's orchestration (never raised per message).
#[derive(Debug, Error)]
pub enum EngineError {
    /// A capture or output file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The transport refused (bad capture, socket failure).
    #[error(transparent)]
    Transport(#[from] quotewire_transport::TransportError),
    /// The feed handler refused its configuration or input.
    #[error(transparent)]
    Feed(#[from] quotewire_feed::FeedError),
    /// The synthetic session could not be generated.
    #[error(transparent)]
    Synth(#[from] quotewire_synth::SynthError),
    /// A histogram could not be built or serialised.
    #[error("histogram: {0}")]
    Histogram(String),
    /// The requested symbol is not in the capture's stock directory.
    #[error("symbol {0:?} not found in the capture's stock directory")]
    UnknownSymbol(String),
    /// The file is neither a Nasdaq daily ITCH file nor a pcap/pcapng capture.
    #[error("{0}: not a TotalView-ITCH daily file or a pcap/pcapng capture")]
    UnknownFormat(String),
    /// A bad argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
