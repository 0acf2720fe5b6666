//! The bus's one error type.

/// Why a bus could not be configured, connected or asked something.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A configuration value was refused (field and reason).
    #[error("bus configuration: {0}")]
    Config(String),
    /// The NATS server did not answer (the URL and what the client said).
    #[error("NATS server at {url} is unreachable: {reason}")]
    Unreachable {
        /// The server URL tried.
        url: String,
        /// The client's error.
        reason: String,
    },
    /// A JetStream stream, bucket or consumer could not be created or read.
    #[error("JetStream {what}: {reason}")]
    JetStream {
        /// What was being done.
        what: String,
        /// The server's or client's error.
        reason: String,
    },
    /// A compare-and-set write found another revision than the one expected.
    #[error("KV key {key}: expected revision {expected}, another writer changed it")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the writer expected (0: the key must not exist).
        expected: u64,
    },
    /// A request to the bus thread did not finish in time.
    #[error("bus request {0} timed out")]
    Timeout(&'static str),
    /// The bus thread has stopped.
    #[error("the bus thread has stopped")]
    Closed,
    /// A message could not be decoded (what and why).
    #[error("bad {what} message: {reason}")]
    Decode {
        /// The message kind.
        what: &'static str,
        /// The decoder's error.
        reason: String,
    },
    /// The bus thread could not be started.
    #[error("cannot start the bus thread: {0}")]
    Thread(#[from] std::io::Error),
}
