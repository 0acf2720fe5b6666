//! FIX error types: small `Copy` values, returned on hot paths.

use core::fmt;

use thiserror::Error;

/// FIX 4.4 `SessionRejectReason` (tag 373): why a message is refused at the
/// session level. An acceptor answers a [`FieldError`] with a `Reject(3)`
/// carrying this code, `RefTagID(371)` and `RefSeqNum(45)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SessionRejectReason {
    /// 0: the tag is not a number (or is zero, signed, too long).
    InvalidTagNumber = 0,
    /// 1: a required tag is missing.
    RequiredTagMissing = 1,
    /// 2: the tag is not defined for this message type.
    TagNotDefinedForMessageType = 2,
    /// 3: the tag is not defined at all.
    UndefinedTag = 3,
    /// 4: `tag=` with an empty value.
    TagSpecifiedWithoutValue = 4,
    /// 5: the value is well formed but not allowed (unknown enum, out of range).
    ValueIsIncorrect = 5,
    /// 6: the value does not parse as its FIX data type.
    IncorrectDataFormat = 6,
    /// 7: decryption problem.
    DecryptionProblem = 7,
    /// 8: signature problem.
    SignatureProblem = 8,
    /// 9: CompID problem.
    CompIdProblem = 9,
    /// 10: SendingTime accuracy problem.
    SendingTimeAccuracyProblem = 10,
    /// 11: the MsgType is invalid (or not supported by this codec).
    InvalidMsgType = 11,
    /// 12: XML validation error.
    XmlValidationError = 12,
    /// 13: the tag appears more than once.
    TagAppearsMoreThanOnce = 13,
    /// 14: the tag is out of its required order (header/body/trailer).
    TagSpecifiedOutOfRequiredOrder = 14,
    /// 15: repeating group fields out of order.
    RepeatingGroupFieldsOutOfOrder = 15,
    /// 16: incorrect NumInGroup count.
    IncorrectNumInGroupCount = 16,
    /// 17: a non-data value includes the field delimiter.
    NonDataValueIncludesFieldDelimiter = 17,
    /// 99: other.
    Other = 99,
}

impl SessionRejectReason {
    /// The code sent in tag 373.
    #[inline]
    #[must_use]
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The reason for a code, `None` for codes FIX 4.4 does not define.
    #[must_use]
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::InvalidTagNumber,
            1 => Self::RequiredTagMissing,
            2 => Self::TagNotDefinedForMessageType,
            3 => Self::UndefinedTag,
            4 => Self::TagSpecifiedWithoutValue,
            5 => Self::ValueIsIncorrect,
            6 => Self::IncorrectDataFormat,
            7 => Self::DecryptionProblem,
            8 => Self::SignatureProblem,
            9 => Self::CompIdProblem,
            10 => Self::SendingTimeAccuracyProblem,
            11 => Self::InvalidMsgType,
            12 => Self::XmlValidationError,
            13 => Self::TagAppearsMoreThanOnce,
            14 => Self::TagSpecifiedOutOfRequiredOrder,
            15 => Self::RepeatingGroupFieldsOutOfOrder,
            16 => Self::IncorrectNumInGroupCount,
            17 => Self::NonDataValueIncludesFieldDelimiter,
            99 => Self::Other,
            _ => return None,
        })
    }

    /// The FIX specification's name of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidTagNumber => "invalid tag number",
            Self::RequiredTagMissing => "required tag missing",
            Self::TagNotDefinedForMessageType => "tag not defined for this message type",
            Self::UndefinedTag => "undefined tag",
            Self::TagSpecifiedWithoutValue => "tag specified without a value",
            Self::ValueIsIncorrect => "value is incorrect (out of range) for this tag",
            Self::IncorrectDataFormat => "incorrect data format for value",
            Self::DecryptionProblem => "decryption problem",
            Self::SignatureProblem => "signature problem",
            Self::CompIdProblem => "CompID problem",
            Self::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            Self::InvalidMsgType => "invalid MsgType",
            Self::XmlValidationError => "XML validation error",
            Self::TagAppearsMoreThanOnce => "tag appears more than once",
            Self::TagSpecifiedOutOfRequiredOrder => "tag specified out of required order",
            Self::RepeatingGroupFieldsOutOfOrder => "repeating group fields out of order",
            Self::IncorrectNumInGroupCount => "incorrect NumInGroup count for repeating group",
            Self::NonDataValueIncludesFieldDelimiter => "non-data value includes field delimiter",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for SessionRejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.code())
    }
}

/// A field (or the message around it) is missing, malformed or not allowed.
///
/// Everything an acceptor needs to answer with `Reject(3)`: the tag
/// (`RefTagID`, 0 when the tag itself could not be read), the
/// `SessionRejectReason` code and a fixed explanation usable as `Text(58)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
#[error("FIX tag {tag}: {reason}: {detail}")]
pub struct FieldError {
    /// The offending tag (`RefTagID`), 0 if no tag number could be read.
    pub tag: u32,
    /// The `SessionRejectReason` to report.
    pub reason: SessionRejectReason,
    /// A short fixed explanation.
    pub detail: &'static str,
}

impl FieldError {
    /// Builds an error.
    #[inline]
    #[must_use]
    pub const fn new(tag: u32, reason: SessionRejectReason, detail: &'static str) -> Self {
        Self {
            tag,
            reason,
            detail,
        }
    }

    /// A required tag is absent.
    #[inline]
    #[must_use]
    pub const fn missing(tag: u32) -> Self {
        Self::new(
            tag,
            SessionRejectReason::RequiredTagMissing,
            "required tag missing",
        )
    }

    /// The value does not parse as the field's data type.
    #[inline]
    #[must_use]
    pub const fn format(tag: u32, detail: &'static str) -> Self {
        Self::new(tag, SessionRejectReason::IncorrectDataFormat, detail)
    }

    /// The value parses but is not allowed.
    #[inline]
    #[must_use]
    pub const fn value(tag: u32, detail: &'static str) -> Self {
        Self::new(tag, SessionRejectReason::ValueIsIncorrect, detail)
    }
}

/// A byte stream does not hold a well-framed FIX 4.4 message where one starts.
///
/// FIX says a garbled message is ignored, not rejected: the framer drops the
/// bytes, counts them, and resynchronises on the next `8=FIX.4.4<SOH>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum FrameError {
    /// `9=<digits><SOH>` does not follow `8=FIX.4.4<SOH>`.
    #[error("BodyLength(9) missing or not a number after BeginString")]
    BadBodyLength,
    /// The declared BodyLength exceeds the configured maximum.
    #[error("BodyLength {len} exceeds the maximum of {max} bytes")]
    BodyTooLong {
        /// The declared body length (saturated at `usize::MAX`).
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// `10=` is not where BodyLength says the body ends.
    #[error("BodyLength {declared} does not end at the CheckSum(10) field")]
    BodyLengthMismatch {
        /// The declared body length.
        declared: usize,
    },
    /// The CheckSum field is not `10=` and three digits and SOH.
    #[error("CheckSum(10) is not three digits")]
    BadCheckSumField,
    /// The declared CheckSum differs from the sum of the bytes.
    #[error("CheckSum {declared:03} declared, {computed:03} computed")]
    CheckSumMismatch {
        /// The value in the message (0..=999).
        declared: u16,
        /// The sum of the bytes before `10=`, mod 256.
        computed: u8,
    },
}

/// A string does not fit an [`InlineStr`](super::InlineStr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum InlineStrError {
    /// Longer than the capacity.
    #[error("string of {len} bytes exceeds the capacity of {cap}")]
    TooLong {
        /// The string's length.
        len: usize,
        /// The capacity.
        cap: usize,
    },
    /// Contains SOH (0x01), which no FIX string value may carry.
    #[error("string contains the FIX field delimiter SOH")]
    ContainsSoh,
}
