//! Zero-copy reading of a framed FIX message: a field iterator and a view
//! with typed getters. Nothing here allocates.

use core::iter::FusedIterator;

use quotewire_core::{Price, Qty, Side};

use super::error::{FieldError, SessionRejectReason};
use super::tag;
use super::value::{
    parse_bool, parse_price, parse_qty, parse_side, parse_timestamp, parse_u32, parse_u64,
    CxlRejResponseTo, ExecInst, ExecType, OrdStatus, OrdType, TimeInForce, SOH,
};

/// Most digits in a tag number (FIX tags are at most 9999 in 4.4, user
/// defined ones up to 5 digits in practice; 9 keeps `u32` safe).
const MAX_TAG_DIGITS: usize = 9;

/// Iterates `(tag, value)` pairs of `tag=value<SOH>` fields, borrowing the
/// values. `DATA` fields preceded by their `LENGTH` field (RawData(96) after
/// RawDataLength(95), ...) take exactly that many bytes, SOH included.
/// The first malformed field ends the iteration with an error.
#[derive(Clone, Debug)]
pub struct FieldIter<'a> {
    buf: &'a [u8],
    pos: usize,
    prev: Option<(u32, &'a [u8])>,
    done: bool,
}

impl<'a> FieldIter<'a> {
    /// Iterates the fields of `buf`, which should end with SOH.
    #[must_use]
    pub const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            prev: None,
            done: false,
        }
    }

    /// Offset in the buffer of the next field.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }

    fn field(&mut self) -> Result<(u32, &'a [u8]), FieldError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let bad_tag = FieldError::new(
            0,
            SessionRejectReason::InvalidTagNumber,
            "tag is not a number",
        );
        let Some(eq) = rest
            .iter()
            .take(MAX_TAG_DIGITS + 1)
            .position(|&b| b == b'=')
        else {
            return Err(bad_tag);
        };
        let digits = rest.get(..eq).unwrap_or_default();
        let mut tag = 0u32;
        for &b in digits {
            if !b.is_ascii_digit() {
                return Err(bad_tag);
            }
            tag = tag * 10 + u32::from(b - b'0');
        }
        if digits.first().is_none_or(|&b| b == b'0') {
            return Err(bad_tag);
        }
        let value_from = eq + 1;
        let data_len = match (tag::data_length_tag(tag), self.prev) {
            (Some(len_tag), Some((prev_tag, prev_value))) if len_tag == prev_tag => Some(
                parse_u64(prev_tag, prev_value)
                    .ok()
                    .and_then(|n| usize::try_from(n).ok()),
            ),
            (Some(_), _) => {
                return Err(FieldError::new(
                    tag,
                    SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
                    "data field not preceded by its length field",
                ))
            }
            (None, _) => None,
        };
        let value_end = match data_len {
            Some(Some(n)) => {
                let end = value_from.saturating_add(n);
                if rest.get(end) != Some(&SOH) {
                    return Err(FieldError::format(tag, "data field length does not match"));
                }
                end
            }
            Some(None) => return Err(FieldError::format(tag, "bad data field length")),
            None => match rest
                .get(value_from..)
                .and_then(|v| v.iter().position(|&b| b == SOH))
            {
                Some(n) => value_from + n,
                None => return Err(FieldError::format(tag, "field not terminated by SOH")),
            },
        };
        let value = rest.get(value_from..value_end).unwrap_or_default();
        if value.is_empty() {
            return Err(FieldError::new(
                tag,
                SessionRejectReason::TagSpecifiedWithoutValue,
                "empty value",
            ));
        }
        self.pos += value_end + 1;
        self.prev = Some((tag, value));
        Ok((tag, value))
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = Result<(u32, &'a [u8]), FieldError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let field = self.field();
        self.done = field.is_err();
        Some(field)
    }
}

impl FusedIterator for FieldIter<'_> {}

/// The standard header fields quotewire uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// SenderCompID(49).
    pub sender_comp_id: &'a [u8],
    /// TargetCompID(56).
    pub target_comp_id: &'a [u8],
    /// MsgSeqNum(34).
    pub msg_seq_num: u64,
    /// SendingTime(52), nanoseconds since the Unix epoch.
    pub sending_time: u64,
    /// PossDupFlag(43); `false` when absent.
    pub poss_dup: bool,
    /// OrigSendingTime(122), nanoseconds since the Unix epoch.
    pub orig_sending_time: Option<u64>,
}

/// One framed FIX 4.4 message, structure-checked, read in place.
///
/// [`MessageView::parse`] checks that the message starts `8=FIX.4.4`,
/// `9=<BodyLength>` (and that the length is right), `35=<MsgType>`, that
/// every field is well formed, that header fields precede the body and
/// trailer fields follow it, and that `10=ccc` ends it. The CheckSum value
/// itself is verified by the [`Framer`](super::Framer), which delimits frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageView<'a> {
    frame: &'a [u8],
    msg_type: &'a [u8],
    fields: &'a [u8],
}

macro_rules! getters {
    ($($(#[$m:meta])* $name:ident: $tag:ident -> $ty:ty = $parse:expr;)+) => {
        $(
            $(#[$m])*
            #[inline]
            pub fn $name(&self) -> Result<Option<$ty>, FieldError> {
                match self.get(tag::$tag) {
                    None => Ok(None),
                    Some(v) => ($parse)(tag::$tag, v).map(Some),
                }
            }
        )+
    };
}

macro_rules! str_getters {
    ($($(#[$m:meta])* $name:ident: $tag:ident;)+) => {
        $(
            $(#[$m])*
            #[inline]
            #[must_use]
            pub fn $name(&self) -> Option<&'a [u8]> {
                self.get(tag::$tag)
            }
        )+
    };
}

impl<'a> MessageView<'a> {
    /// Checks the structure of one complete message (as delimited by the
    /// framer) and returns a view of it.
    pub fn parse(frame: &'a [u8]) -> Result<Self, FieldError> {
        let mut it = FieldIter::new(frame);
        let (t, v) = it
            .next()
            .transpose()?
            .ok_or(FieldError::missing(tag::BEGIN_STRING))?;
        if t != tag::BEGIN_STRING {
            return Err(FieldError::missing(tag::BEGIN_STRING));
        }
        if v != b"FIX.4.4" {
            return Err(FieldError::value(
                tag::BEGIN_STRING,
                "BeginString is not FIX.4.4",
            ));
        }
        let (t, v) = it
            .next()
            .transpose()?
            .ok_or(FieldError::missing(tag::BODY_LENGTH))?;
        if t != tag::BODY_LENGTH {
            return Err(FieldError::missing(tag::BODY_LENGTH));
        }
        let declared = parse_u64(tag::BODY_LENGTH, v)?;
        let body_from = it.position();
        let (t, msg_type) = it
            .next()
            .transpose()?
            .ok_or(FieldError::missing(tag::MSG_TYPE))?;
        if t != tag::MSG_TYPE {
            return Err(FieldError::new(
                tag::MSG_TYPE,
                SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
                "MsgType must be the third field",
            ));
        }
        let fields_from = it.position();
        let mut in_body = false;
        let mut trailer_from = None;
        loop {
            let at = it.position();
            let Some(field) = it.next() else {
                return Err(FieldError::missing(tag::CHECK_SUM));
            };
            let (t, v) = field?;
            let out_of_order = |detail| {
                Err(FieldError::new(
                    t,
                    SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
                    detail,
                ))
            };
            if tag::is_trailer(t) {
                let trailer_at = *trailer_from.get_or_insert(at);
                if t != tag::CHECK_SUM {
                    continue;
                }
                if it.position() != frame.len() {
                    return out_of_order("CheckSum must be the last field");
                }
                if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) {
                    return Err(FieldError::format(t, "CheckSum is not three digits"));
                }
                if declared != (at - body_from) as u64 {
                    return Err(FieldError::value(
                        tag::BODY_LENGTH,
                        "BodyLength does not match",
                    ));
                }
                return Ok(Self {
                    frame,
                    msg_type,
                    fields: frame.get(fields_from..trailer_at).unwrap_or_default(),
                });
            }
            if trailer_from.is_some() {
                return out_of_order("field after the trailer");
            }
            if tag::is_header(t) {
                if in_body {
                    return out_of_order("header field after the body");
                }
                if matches!(t, tag::BEGIN_STRING | tag::BODY_LENGTH | tag::MSG_TYPE) {
                    return Err(FieldError::new(
                        t,
                        SessionRejectReason::TagAppearsMoreThanOnce,
                        "header field repeated",
                    ));
                }
            } else {
                in_body = true;
            }
        }
    }

    /// The whole message, `8=` through the trailing SOH.
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.frame
    }

    /// MsgType(35).
    #[must_use]
    pub const fn msg_type(&self) -> &'a [u8] {
        self.msg_type
    }

    /// The fields after MsgType and before the trailer: the rest of the
    /// header, then the body.
    #[must_use]
    pub const fn fields(&self) -> FieldIter<'a> {
        FieldIter::new(self.fields)
    }

    /// The value of the first occurrence of `tag` after MsgType.
    #[must_use]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields()
            .map_while(Result::ok)
            .find_map(|(t, v)| (t == tag).then_some(v))
    }

    /// Decodes the standard header fields: SenderCompID(49),
    /// TargetCompID(56), MsgSeqNum(34), SendingTime(52) required,
    /// PossDupFlag(43), OrigSendingTime(122) optional.
    pub fn header(&self) -> Result<Header<'a>, FieldError> {
        let mut sender = None;
        let mut target = None;
        let mut seq = None;
        let mut sending_time = None;
        let mut poss_dup = None;
        let mut orig_sending_time = None;
        for field in self.fields() {
            let (t, v) = field?;
            match t {
                tag::SENDER_COMP_ID => put(&mut sender, t, Ok(v))?,
                tag::TARGET_COMP_ID => put(&mut target, t, Ok(v))?,
                tag::MSG_SEQ_NUM => put(&mut seq, t, parse_u64(t, v))?,
                tag::SENDING_TIME => put(&mut sending_time, t, parse_timestamp(t, v))?,
                tag::POSS_DUP_FLAG => put(&mut poss_dup, t, parse_bool(t, v))?,
                tag::ORIG_SENDING_TIME => put(&mut orig_sending_time, t, parse_timestamp(t, v))?,
                _ if tag::is_header(t) => {}
                _ => break,
            }
        }
        Ok(Header {
            sender_comp_id: need(sender, tag::SENDER_COMP_ID)?,
            target_comp_id: need(target, tag::TARGET_COMP_ID)?,
            msg_seq_num: need(seq, tag::MSG_SEQ_NUM)?,
            sending_time: need(sending_time, tag::SENDING_TIME)?,
            poss_dup: poss_dup.unwrap_or(false),
            orig_sending_time,
        })
    }

    str_getters! {
        /// SenderCompID(49).
        sender_comp_id: SENDER_COMP_ID;
        /// TargetCompID(56).
        target_comp_id: TARGET_COMP_ID;
        /// ClOrdID(11).
        cl_ord_id: CL_ORD_ID;
        /// OrigClOrdID(41).
        orig_cl_ord_id: ORIG_CL_ORD_ID;
        /// OrderID(37).
        order_id: ORDER_ID;
        /// ExecID(17).
        exec_id: EXEC_ID;
        /// Symbol(55).
        symbol: SYMBOL;
        /// Text(58).
        text: TEXT;
        /// TestReqID(112).
        test_req_id: TEST_REQ_ID;
        /// RefMsgType(372).
        ref_msg_type: REF_MSG_TYPE;
        /// Account(1).
        account: ACCOUNT;
    }

    getters! {
        /// MsgSeqNum(34).
        msg_seq_num: MSG_SEQ_NUM -> u64 = parse_u64;
        /// SendingTime(52), ns since the Unix epoch.
        sending_time: SENDING_TIME -> u64 = parse_timestamp;
        /// PossDupFlag(43).
        poss_dup_flag: POSS_DUP_FLAG -> bool = parse_bool;
        /// OrigSendingTime(122), ns since the Unix epoch.
        orig_sending_time: ORIG_SENDING_TIME -> u64 = parse_timestamp;
        /// ExecType(150).
        exec_type: EXEC_TYPE -> ExecType = ExecType::parse;
        /// OrdStatus(39).
        ord_status: ORD_STATUS -> OrdStatus = OrdStatus::parse;
        /// Side(54): `1` buy, `2` sell.
        side: SIDE -> Side = parse_side;
        /// OrderQty(38).
        order_qty: ORDER_QTY -> Qty = parse_qty;
        /// OrdType(40).
        ord_type: ORD_TYPE -> OrdType = OrdType::parse;
        /// Price(44).
        price: PRICE -> Price = parse_price;
        /// TimeInForce(59).
        time_in_force: TIME_IN_FORCE -> TimeInForce = TimeInForce::parse;
        /// ExecInst(18).
        exec_inst: EXEC_INST -> ExecInst = ExecInst::parse;
        /// LastQty(32).
        last_qty: LAST_QTY -> Qty = parse_qty;
        /// LastPx(31).
        last_px: LAST_PX -> Price = parse_price;
        /// LeavesQty(151).
        leaves_qty: LEAVES_QTY -> Qty = parse_qty;
        /// CumQty(14).
        cum_qty: CUM_QTY -> Qty = parse_qty;
        /// AvgPx(6).
        avg_px: AVG_PX -> Price = parse_price;
        /// OrdRejReason(103).
        ord_rej_reason: ORD_REJ_REASON -> u32 = parse_u32;
        /// CxlRejReason(102).
        cxl_rej_reason: CXL_REJ_REASON -> u32 = parse_u32;
        /// CxlRejResponseTo(434).
        cxl_rej_response_to: CXL_REJ_RESPONSE_TO -> CxlRejResponseTo = CxlRejResponseTo::parse;
        /// TransactTime(60), ns since the Unix epoch.
        transact_time: TRANSACT_TIME -> u64 = parse_timestamp;
        /// HeartBtInt(108), seconds.
        heart_bt_int: HEART_BT_INT -> u32 = parse_u32;
        /// EncryptMethod(98).
        encrypt_method: ENCRYPT_METHOD -> u32 = parse_u32;
        /// ResetSeqNumFlag(141).
        reset_seq_num_flag: RESET_SEQ_NUM_FLAG -> bool = parse_bool;
        /// BeginSeqNo(7).
        begin_seq_no: BEGIN_SEQ_NO -> u64 = parse_u64;
        /// EndSeqNo(16); 0 means infinity.
        end_seq_no: END_SEQ_NO -> u64 = parse_u64;
        /// NewSeqNo(36).
        new_seq_no: NEW_SEQ_NO -> u64 = parse_u64;
        /// GapFillFlag(123).
        gap_fill_flag: GAP_FILL_FLAG -> bool = parse_bool;
        /// RefSeqNum(45).
        ref_seq_num: REF_SEQ_NUM -> u64 = parse_u64;
        /// RefTagID(371).
        ref_tag_id: REF_TAG_ID -> u32 = parse_u32;
        /// SessionRejectReason(373).
        session_reject_reason: SESSION_REJECT_REASON -> u32 = parse_u32;
    }
}

/// Stores a field's parsed value, refusing a second occurrence.
#[inline]
pub(crate) fn put<T>(
    slot: &mut Option<T>,
    tag: u32,
    value: Result<T, FieldError>,
) -> Result<(), FieldError> {
    if slot.is_some() {
        return Err(FieldError::new(
            tag,
            SessionRejectReason::TagAppearsMoreThanOnce,
            "tag appears more than once",
        ));
    }
    *slot = Some(value?);
    Ok(())
}

/// A required field's value, or `RequiredTagMissing`.
#[inline]
pub(crate) fn need<T>(slot: Option<T>, tag: u32) -> Result<T, FieldError> {
    slot.ok_or(FieldError::missing(tag))
}
