use std::path::PathBuf;

use thiserror::Error;

/// Errors of the journal crate: configuration, I/O and records that cannot be
/// written. Damage found while reading is not an error: the reader reports it
/// as a [`crate::Corruption`] or [`crate::TornTail`] and goes on.
#[derive(Debug, Error)]
pub enum JournalError {
    /// The configuration is inconsistent.
    #[error("invalid journal configuration: {0}")]
    Config(&'static str),
    /// A file or directory operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The payload does not fit in one segment (or in a `u32` length).
    #[error("record of {len} bytes does not fit a segment of {segment_bytes} bytes")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// Configured segment size.
        segment_bytes: u64,
    },
    /// The path is neither a journal directory nor a segment file.
    #[error("{0} is not a journal directory or segment")]
    NotAJournal(PathBuf),
    /// The writer has been closed.
    #[error("the journal writer is closed")]
    Closed,
    /// The writer thread panicked.
    #[error("the journal writer thread panicked")]
    WriterPanicked,
}

impl JournalError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
