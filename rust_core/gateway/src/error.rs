use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a gateway could not be built from its configuration (construction
/// only; the hot path reports [`GatewayError`] instead).
#[derive(Debug, Error)]
pub enum GatewayConfigError {
    /// The SoupBinTCP username is empty, longer than 6 or not printable ASCII.
    #[error("username {0:?} must be 1 to 6 printable ASCII characters without spaces")]
    InvalidUsername(String),
    /// The SoupBinTCP password is longer than 10 or not printable ASCII.
    #[error("the password must be at most 10 printable ASCII characters without spaces")]
    InvalidPassword,
    /// The requested session name is longer than 10 or not printable ASCII.
    #[error(
        "session {0:?} must be blank (current session) or up to 10 printable ASCII characters"
    )]
    InvalidSession(String),
    /// A symbol is empty, longer than 8 or not printable ASCII.
    #[error("symbol {0:?} must be 1 to 8 printable ASCII characters without spaces")]
    InvalidSymbol(String),
    /// Two symbols name the same instrument, or one symbol names two instruments.
    #[error("symbol {symbol:?} (instrument {instrument}) is configured twice")]
    DuplicateSymbol {
        /// The symbol.
        symbol: String,
        /// Its instrument id.
        instrument: u16,
    },
    /// The Firm appendage value is empty, longer than 4 or not printable ASCII.
    #[error("firm {0:?} must be 1 to 4 printable ASCII characters without spaces")]
    InvalidFirm(String),
    /// A timer is zero or the heartbeat is not shorter than the server timeout.
    #[error("invalid timers: {0}")]
    InvalidTimer(&'static str),
    /// A buffer is too small to be useful.
    #[error("{what} of {got} bytes is too small: at least {min} bytes are needed")]
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// The minimum accepted.
        min: usize,
        /// The configured size.
        got: usize,
    },
    /// A FIX identifier (CompID, Account, Symbol) is empty, longer than 32
    /// bytes or not printable ASCII.
    #[error("FIX {what} {value:?} must be 1 to 32 printable ASCII characters without spaces")]
    InvalidFixValue {
        /// Which setting.
        what: &'static str,
        /// The value refused.
        value: String,
    },
    /// A capacity is zero.
    #[error("{0} must be at least 1")]
    ZeroCapacity(&'static str),
    /// The state file could not be opened, sized or mapped.
    #[error("state file {path}: {source}")]
    StateFileIo {
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The state file exists but is not a quotewire session state file of
    /// the expected kind (wrong size, magic or version); it is left untouched.
    #[error(
        "state file {path} is not {kind} session state file ({reason}); refusing to overwrite it"
    )]
    StateFileForeign {
        /// The file.
        path: PathBuf,
        /// The kind expected (`"an OUCH"`, `"a FIX"`).
        kind: &'static str,
        /// What did not match.
        reason: &'static str,
    },
}

/// Why a request could not be sent or flushed. Small and `Copy`: returned on
/// the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum GatewayError {
    /// The session is not ready for orders (connecting, logging in,
    /// replaying, down or ended).
    #[error("session not ready")]
    NotReady,
    /// The request names an instrument without a configured symbol.
    #[error("unknown instrument")]
    UnknownInstrument,
    /// The send buffer (or the acknowledgement ring) has no room; flush first.
    #[error("send buffer full")]
    BufferFull,
    /// The quantity does not fit OUCH's 4-byte share field.
    #[error("quantity does not fit the wire field")]
    InvalidQty,
    /// The price is negative (OUCH prices are unsigned).
    #[error("price not representable on the wire")]
    InvalidPrice,
    /// The message could not be encoded (should not happen with a valid request).
    #[error("encoding failed")]
    Encode,
    /// The socket failed; the session is lost and reported on the next poll.
    #[error("i/o error: {0:?}")]
    Io(std::io::ErrorKind),
}
