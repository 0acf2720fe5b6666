use thiserror::Error;

/// Errors raised when converting values into core types.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// A decimal price string could not be parsed exactly.
    #[error("invalid price {text:?}: {reason}")]
    InvalidPrice {
        /// The text that was refused.
        text: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A floating-point value is not finite or does not fit the fixed-point range.
    #[error("value {value} cannot be represented as a fixed-point {what}")]
    OutOfRange {
        /// The value that was refused.
        value: f64,
        /// The target type.
        what: &'static str,
    },
    /// A side byte other than `B` or `S`.
    #[error("invalid side byte {0:#04x}")]
    InvalidSide(u8),
}
