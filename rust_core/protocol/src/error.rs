use thiserror::Error;

/// Why a buffer could not be decoded. Small and `Copy`: it is returned on hot paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The buffer is shorter than the layout requires.
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the layout requires.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The message type byte is not part of the protocol.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A message's declared length does not match its type's fixed layout.
    #[error("message type {tag:#04x} has length {len}, expected {expected}")]
    BadLength {
        /// The message type byte.
        tag: u8,
        /// The declared or available length.
        len: usize,
        /// The layout's fixed length.
        expected: usize,
    },
    /// A field holds a value outside its domain.
    #[error("invalid value {value:#04x} in field {field}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// The offending byte.
        value: u8,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The output buffer is too small.
    #[error("output buffer too small: need {needed} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A value does not fit its wire field.
    #[error("value does not fit field {0}")]
    Overflow(&'static str),
    /// A value the wire format cannot carry (empty, or holding a delimiter).
    #[error("value not allowed in field {0}")]
    InvalidValue(&'static str),
}
