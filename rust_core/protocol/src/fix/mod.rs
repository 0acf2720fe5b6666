//! FIX 4.4 tag=value: stream framing, zero-copy field access, typed session
//! and order messages, and encoding into caller buffers. No I/O.
//!
//! Used by the venue simulator's acceptor (which must interoperate with
//! QuickFIX initiators, so QuickFIX's `FIX44.xml` is the reference for
//! required fields and enum values) and by quotewire's FIX order gateway.
//!
//! Reading: a [`Framer`] (or [`StreamBuffer`] around it) finds complete
//! messages in a TCP byte stream, checking BodyLength(9) and CheckSum(10);
//! [`MessageView::parse`] checks the field structure and borrows values;
//! [`Header`] and the typed messages ([`Message::decode`]) read it in one
//! pass each. Errors are small `Copy` values: framing problems are
//! [`FrameError`]s (FIX says to drop such bytes silently), field problems are
//! [`FieldError`]s carrying the tag and [`SessionRejectReason`] for a
//! `Reject(3)` (see [`Reject::for_error`]).
//!
//! Writing: each typed message's `encode(header, buf)` or a
//! [`MessageBuilder`] writes into `buf` and returns the length; BodyLength
//! and CheckSum are patched in at the end.
//!
//! Values: prices are parsed exactly into [`Price`](quotewire_core::Price)
//! (never through `f64`; more than four significant decimals is an error),
//! quantities into whole [`Qty`](quotewire_core::Qty), timestamps into
//! nanoseconds since the Unix epoch (written as `YYYYMMDD-HH:MM:SS.sss`),
//! identifiers stay borrowed `&[u8]` and can be kept in a [`FixId`].
//!
//! Not modelled: repeating groups (their fields are skipped), encryption,
//! session state (sequence numbers, heartbeats, resend logic) which belongs
//! to the acceptor and the gateway.

mod encode;
mod error;
mod frame;
mod messages;
pub mod tag;
mod value;
mod view;

#[cfg(test)]
mod tests;

pub use encode::MessageBuilder;
pub use error::{FieldError, FrameError, InlineStrError, SessionRejectReason};
pub use frame::{
    checksum, max_frame_len, Framer, Frames, Scan, StreamBuffer, BEGIN_STRING, DEFAULT_MAX_BODY,
    TRAILER_LEN,
};
pub use messages::{
    ExecutionReport, Heartbeat, Logon, Logout, Message, NewOrderSingle, OrderCancelReject,
    OrderCancelReplaceRequest, OrderCancelRequest, Reject, ResendRequest, SequenceReset,
    TestRequest,
};
pub use value::{
    fmt_price, fmt_timestamp, parse_price, parse_qty, parse_timestamp, side_byte, CxlRejResponseTo,
    ExecInst, ExecType, FixId, InlineStr, OrdStatus, OrdType, TimeInForce, SOH, TIMESTAMP_LEN,
};
pub use view::{FieldIter, Header, MessageView};

/// Parses a framed message and decodes its header and body.
pub fn decode(frame: &[u8]) -> Result<(Header<'_>, Message<'_>), FieldError> {
    let view = MessageView::parse(frame)?;
    Ok((view.header()?, Message::decode(&view)?))
}
