//! The FIX 4.4 session and application messages quotewire speaks, each
//! decoded from a [`MessageView`] (values borrowed from the frame) and
//! encoded through a [`MessageBuilder`].
//!
//! Decoding is one pass over the fields. A required field that is absent, a
//! value that does not parse, an unknown enum value or a repeated tag is a
//! [`FieldError`] naming the tag and the `SessionRejectReason`. Fields the
//! codec does not model are skipped, so counterparties may send more.
//! Encoding writes fields in FIX44.xml order and omits absent optionals.

use quotewire_core::{Price, Qty, Side};

use super::encode::MessageBuilder;
use super::error::{FieldError, SessionRejectReason};
use super::tag;
use super::value::{
    parse_bool, parse_price, parse_qty, parse_side, parse_timestamp, parse_u32, parse_u64,
    CxlRejResponseTo, ExecInst, ExecType, OrdStatus, OrdType, TimeInForce,
};
use super::view::{need, put, Header, MessageView};
use crate::EncodeError;

fn expect_type(view: &MessageView<'_>, msg_type: &[u8]) -> Result<(), FieldError> {
    if view.msg_type() == msg_type {
        Ok(())
    } else {
        Err(FieldError::value(
            tag::MSG_TYPE,
            "MsgType does not match the message",
        ))
    }
}

/// `Logon(A)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logon {
    /// EncryptMethod(98); 0 (none) in practice.
    pub encrypt_method: u32,
    /// HeartBtInt(108), seconds.
    pub heart_bt_int: u32,
    /// ResetSeqNumFlag(141); `false` when absent.
    pub reset_seq_num_flag: bool,
}

impl Logon {
    /// MsgType `A`.
    pub const MSG_TYPE: &'static [u8] = b"A";

    /// Decodes from a view of MsgType `A`.
    pub fn decode(view: &MessageView<'_>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut encrypt, mut hb, mut reset) = (None, None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::ENCRYPT_METHOD => put(&mut encrypt, t, parse_u32(t, v))?,
                tag::HEART_BT_INT => put(&mut hb, t, parse_u32(t, v))?,
                tag::RESET_SEQ_NUM_FLAG => put(&mut reset, t, parse_bool(t, v))?,
                _ => {}
            }
        }
        Ok(Self {
            encrypt_method: need(encrypt, tag::ENCRYPT_METHOD)?,
            heart_bt_int: need(hb, tag::HEART_BT_INT)?,
            reset_seq_num_flag: reset.unwrap_or(false),
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.uint(tag::ENCRYPT_METHOD, u64::from(self.encrypt_method))
            .uint(tag::HEART_BT_INT, u64::from(self.heart_bt_int));
        if self.reset_seq_num_flag {
            b.bool(tag::RESET_SEQ_NUM_FLAG, true);
        }
        b.finish()
    }
}

/// `Heartbeat(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Heartbeat<'a> {
    /// TestReqID(112), present when answering a TestRequest.
    pub test_req_id: Option<&'a [u8]>,
}

impl<'a> Heartbeat<'a> {
    /// MsgType `0`.
    pub const MSG_TYPE: &'static [u8] = b"0";

    /// Decodes from a view of MsgType `0`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let mut id = None;
        for field in view.fields() {
            let (t, v) = field?;
            if t == tag::TEST_REQ_ID {
                put(&mut id, t, Ok(v))?;
            }
        }
        Ok(Self { test_req_id: id })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.opt_str(tag::TEST_REQ_ID, self.test_req_id);
        b.finish()
    }
}

/// `TestRequest(1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRequest<'a> {
    /// TestReqID(112), echoed in the answering Heartbeat.
    pub test_req_id: &'a [u8],
}

impl<'a> TestRequest<'a> {
    /// MsgType `1`.
    pub const MSG_TYPE: &'static [u8] = b"1";

    /// Decodes from a view of MsgType `1`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let mut id = None;
        for field in view.fields() {
            let (t, v) = field?;
            if t == tag::TEST_REQ_ID {
                put(&mut id, t, Ok(v))?;
            }
        }
        Ok(Self {
            test_req_id: need(id, tag::TEST_REQ_ID)?,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.str(tag::TEST_REQ_ID, self.test_req_id);
        b.finish()
    }
}

/// `ResendRequest(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResendRequest {
    /// BeginSeqNo(7).
    pub begin_seq_no: u64,
    /// EndSeqNo(16); 0 means "through the latest".
    pub end_seq_no: u64,
}

impl ResendRequest {
    /// MsgType `2`.
    pub const MSG_TYPE: &'static [u8] = b"2";

    /// Decodes from a view of MsgType `2`.
    pub fn decode(view: &MessageView<'_>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut begin, mut end) = (None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::BEGIN_SEQ_NO => put(&mut begin, t, parse_u64(t, v))?,
                tag::END_SEQ_NO => put(&mut end, t, parse_u64(t, v))?,
                _ => {}
            }
        }
        Ok(Self {
            begin_seq_no: need(begin, tag::BEGIN_SEQ_NO)?,
            end_seq_no: need(end, tag::END_SEQ_NO)?,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.uint(tag::BEGIN_SEQ_NO, self.begin_seq_no)
            .uint(tag::END_SEQ_NO, self.end_seq_no);
        b.finish()
    }
}

/// `Reject(3)`: a session-level refusal of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject<'a> {
    /// RefSeqNum(45): MsgSeqNum of the refused message.
    pub ref_seq_num: u64,
    /// RefTagID(371): the offending tag.
    pub ref_tag_id: Option<u32>,
    /// RefMsgType(372): MsgType of the refused message.
    pub ref_msg_type: Option<&'a [u8]>,
    /// SessionRejectReason(373), a code (see [`SessionRejectReason`]).
    pub session_reject_reason: Option<u32>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> Reject<'a> {
    /// MsgType `3`.
    pub const MSG_TYPE: &'static [u8] = b"3";

    /// The Reject answering a message refused with `error`.
    #[must_use]
    pub fn for_error(ref_seq_num: u64, ref_msg_type: Option<&'a [u8]>, error: &FieldError) -> Self {
        Self {
            ref_seq_num,
            ref_tag_id: (error.tag != 0).then_some(error.tag),
            ref_msg_type,
            session_reject_reason: Some(error.reason.code()),
            text: Some(error.detail.as_bytes()),
        }
    }

    /// The reason as an enum, if it is a FIX 4.4 code.
    #[must_use]
    pub fn reason(&self) -> Option<SessionRejectReason> {
        self.session_reject_reason
            .and_then(SessionRejectReason::from_code)
    }

    /// Decodes from a view of MsgType `3`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut seq, mut ref_tag, mut ref_type, mut reason, mut text) =
            (None, None, None, None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::REF_SEQ_NUM => put(&mut seq, t, parse_u64(t, v))?,
                tag::REF_TAG_ID => put(&mut ref_tag, t, parse_u32(t, v))?,
                tag::REF_MSG_TYPE => put(&mut ref_type, t, Ok(v))?,
                tag::SESSION_REJECT_REASON => put(&mut reason, t, parse_u32(t, v))?,
                tag::TEXT => put(&mut text, t, Ok(v))?,
                _ => {}
            }
        }
        Ok(Self {
            ref_seq_num: need(seq, tag::REF_SEQ_NUM)?,
            ref_tag_id: ref_tag,
            ref_msg_type: ref_type,
            session_reject_reason: reason,
            text,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.uint(tag::REF_SEQ_NUM, self.ref_seq_num)
            .opt_uint(tag::REF_TAG_ID, self.ref_tag_id.map(u64::from))
            .opt_str(tag::REF_MSG_TYPE, self.ref_msg_type)
            .opt_uint(
                tag::SESSION_REJECT_REASON,
                self.session_reject_reason.map(u64::from),
            )
            .opt_str(tag::TEXT, self.text);
        b.finish()
    }
}

/// `SequenceReset(4)`: GapFill (`gap_fill = true`) or Reset mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceReset {
    /// GapFillFlag(123); `false` (reset mode) when absent.
    pub gap_fill: bool,
    /// NewSeqNo(36).
    pub new_seq_no: u64,
}

impl SequenceReset {
    /// MsgType `4`.
    pub const MSG_TYPE: &'static [u8] = b"4";

    /// Decodes from a view of MsgType `4`.
    pub fn decode(view: &MessageView<'_>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut gap_fill, mut new_seq) = (None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::GAP_FILL_FLAG => put(&mut gap_fill, t, parse_bool(t, v))?,
                tag::NEW_SEQ_NO => put(&mut new_seq, t, parse_u64(t, v))?,
                _ => {}
            }
        }
        Ok(Self {
            gap_fill: gap_fill.unwrap_or(false),
            new_seq_no: need(new_seq, tag::NEW_SEQ_NO)?,
        })
    }

    /// Encodes into `buf`; returns the message length. A GapFill is
    /// normally sent with `PossDupFlag=Y` and the sequence number of the
    /// first skipped message (the caller's `header`).
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        if self.gap_fill {
            b.bool(tag::GAP_FILL_FLAG, true);
        }
        b.uint(tag::NEW_SEQ_NO, self.new_seq_no);
        b.finish()
    }
}

/// `Logout(5)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Logout<'a> {
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> Logout<'a> {
    /// MsgType `5`.
    pub const MSG_TYPE: &'static [u8] = b"5";

    /// Decodes from a view of MsgType `5`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let mut text = None;
        for field in view.fields() {
            let (t, v) = field?;
            if t == tag::TEXT {
                put(&mut text, t, Ok(v))?;
            }
        }
        Ok(Self { text })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.opt_str(tag::TEXT, self.text);
        b.finish()
    }
}

/// Refuses a missing Price(44) for order types that require one.
fn check_price(ord_type: OrdType, price: Option<Price>) -> Result<(), FieldError> {
    if ord_type.requires_price() && price.is_none() {
        return Err(FieldError::new(
            tag::PRICE,
            SessionRejectReason::RequiredTagMissing,
            "Price required for this OrdType",
        ));
    }
    Ok(())
}

/// The order fields `NewOrderSingle(D)` and `OrderCancelReplaceRequest(G)` share,
/// collected from a view in one pass (each message adds its own identifiers).
#[derive(Default)]
struct OrderFields<'a> {
    cl: Option<&'a [u8]>,
    account: Option<&'a [u8]>,
    inst: Option<ExecInst>,
    symbol: Option<&'a [u8]>,
    side: Option<Side>,
    time: Option<u64>,
    qty: Option<Qty>,
    ord_type: Option<OrdType>,
    price: Option<Price>,
    tif: Option<TimeInForce>,
    text: Option<&'a [u8]>,
}

impl<'a> OrderFields<'a> {
    /// Takes field `t` when it is one of the shared ones; `Ok(false)` otherwise.
    fn take(&mut self, t: u32, v: &'a [u8]) -> Result<bool, FieldError> {
        match t {
            tag::CL_ORD_ID => put(&mut self.cl, t, Ok(v))?,
            tag::ACCOUNT => put(&mut self.account, t, Ok(v))?,
            tag::EXEC_INST => put(&mut self.inst, t, ExecInst::parse(t, v))?,
            tag::SYMBOL => put(&mut self.symbol, t, Ok(v))?,
            tag::SIDE => put(&mut self.side, t, parse_side(t, v))?,
            tag::TRANSACT_TIME => put(&mut self.time, t, parse_timestamp(t, v))?,
            tag::ORDER_QTY => put(&mut self.qty, t, parse_qty(t, v))?,
            tag::ORD_TYPE => put(&mut self.ord_type, t, OrdType::parse(t, v))?,
            tag::PRICE => put(&mut self.price, t, parse_price(t, v))?,
            tag::TIME_IN_FORCE => put(&mut self.tif, t, TimeInForce::parse(t, v))?,
            tag::TEXT => put(&mut self.text, t, Ok(v))?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// OrdType(40), required; checked first.
    fn ord_type(&self) -> Result<OrdType, FieldError> {
        need(self.ord_type, tag::ORD_TYPE)
    }

    /// Checks the required fields, in tag order of the message, and the price rule.
    fn finish(self) -> Result<NewOrderSingle<'a>, FieldError> {
        let ord_type = self.ord_type()?;
        let order = NewOrderSingle {
            cl_ord_id: need(self.cl, tag::CL_ORD_ID)?,
            account: self.account,
            exec_inst: self.inst.unwrap_or_default(),
            symbol: need(self.symbol, tag::SYMBOL)?,
            side: need(self.side, tag::SIDE)?,
            transact_time: need(self.time, tag::TRANSACT_TIME)?,
            order_qty: need(self.qty, tag::ORDER_QTY)?,
            ord_type,
            price: self.price,
            time_in_force: self.tif,
            text: self.text,
        };
        check_price(ord_type, order.price)?;
        Ok(order)
    }
}

/// Writes the shared order fields, from ClOrdID(11) on, in the order both messages send them.
fn write_order_fields(b: &mut MessageBuilder<'_>, o: &NewOrderSingle<'_>) {
    b.str(tag::CL_ORD_ID, o.cl_ord_id)
        .opt_str(tag::ACCOUNT, o.account)
        .exec_inst(tag::EXEC_INST, o.exec_inst)
        .str(tag::SYMBOL, o.symbol)
        .side(tag::SIDE, o.side)
        .timestamp(tag::TRANSACT_TIME, o.transact_time)
        .qty(tag::ORDER_QTY, o.order_qty)
        .char(tag::ORD_TYPE, o.ord_type.as_byte())
        .opt_price(tag::PRICE, o.price);
    if let Some(tif) = o.time_in_force {
        b.char(tag::TIME_IN_FORCE, tif.as_byte());
    }
    b.opt_str(tag::TEXT, o.text);
}

/// `NewOrderSingle(D)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrderSingle<'a> {
    /// ClOrdID(11).
    pub cl_ord_id: &'a [u8],
    /// Account(1).
    pub account: Option<&'a [u8]>,
    /// ExecInst(18); [`ExecInst::post_only`] for post-only.
    pub exec_inst: ExecInst,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// TransactTime(60), ns since the Unix epoch.
    pub transact_time: u64,
    /// OrderQty(38).
    pub order_qty: Qty,
    /// OrdType(40).
    pub ord_type: OrdType,
    /// Price(44); required for limit types.
    pub price: Option<Price>,
    /// TimeInForce(59); absent means Day.
    pub time_in_force: Option<TimeInForce>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> NewOrderSingle<'a> {
    /// MsgType `D`.
    pub const MSG_TYPE: &'static [u8] = b"D";

    /// Decodes from a view of MsgType `D`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let mut fields = OrderFields::default();
        for field in view.fields() {
            let (t, v) = field?;
            fields.take(t, v)?;
        }
        fields.finish()
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        write_order_fields(&mut b, self);
        b.finish()
    }
}

/// `OrderCancelRequest(F)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelRequest<'a> {
    /// OrigClOrdID(41): the order to cancel.
    pub orig_cl_ord_id: &'a [u8],
    /// OrderID(37).
    pub order_id: Option<&'a [u8]>,
    /// ClOrdID(11) of this request.
    pub cl_ord_id: &'a [u8],
    /// Account(1).
    pub account: Option<&'a [u8]>,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// TransactTime(60), ns since the Unix epoch.
    pub transact_time: u64,
    /// OrderQty(38).
    pub order_qty: Option<Qty>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> OrderCancelRequest<'a> {
    /// MsgType `F`.
    pub const MSG_TYPE: &'static [u8] = b"F";

    /// Decodes from a view of MsgType `F`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut orig, mut order_id, mut cl, mut account, mut symbol) =
            (None, None, None, None, None);
        let (mut side, mut time, mut qty, mut text) = (None, None, None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::ORIG_CL_ORD_ID => put(&mut orig, t, Ok(v))?,
                tag::ORDER_ID => put(&mut order_id, t, Ok(v))?,
                tag::CL_ORD_ID => put(&mut cl, t, Ok(v))?,
                tag::ACCOUNT => put(&mut account, t, Ok(v))?,
                tag::SYMBOL => put(&mut symbol, t, Ok(v))?,
                tag::SIDE => put(&mut side, t, parse_side(t, v))?,
                tag::TRANSACT_TIME => put(&mut time, t, parse_timestamp(t, v))?,
                tag::ORDER_QTY => put(&mut qty, t, parse_qty(t, v))?,
                tag::TEXT => put(&mut text, t, Ok(v))?,
                _ => {}
            }
        }
        Ok(Self {
            orig_cl_ord_id: need(orig, tag::ORIG_CL_ORD_ID)?,
            order_id,
            cl_ord_id: need(cl, tag::CL_ORD_ID)?,
            account,
            symbol: need(symbol, tag::SYMBOL)?,
            side: need(side, tag::SIDE)?,
            transact_time: need(time, tag::TRANSACT_TIME)?,
            order_qty: qty,
            text,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id)
            .opt_str(tag::ORDER_ID, self.order_id)
            .str(tag::CL_ORD_ID, self.cl_ord_id)
            .opt_str(tag::ACCOUNT, self.account)
            .str(tag::SYMBOL, self.symbol)
            .side(tag::SIDE, self.side)
            .timestamp(tag::TRANSACT_TIME, self.transact_time)
            .opt_qty(tag::ORDER_QTY, self.order_qty)
            .opt_str(tag::TEXT, self.text);
        b.finish()
    }
}

/// `OrderCancelReplaceRequest(G)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReplaceRequest<'a> {
    /// OrderID(37).
    pub order_id: Option<&'a [u8]>,
    /// OrigClOrdID(41): the order to replace.
    pub orig_cl_ord_id: &'a [u8],
    /// ClOrdID(11) of the replacement.
    pub cl_ord_id: &'a [u8],
    /// Account(1).
    pub account: Option<&'a [u8]>,
    /// ExecInst(18).
    pub exec_inst: ExecInst,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// TransactTime(60), ns since the Unix epoch.
    pub transact_time: u64,
    /// OrderQty(38): the new total quantity (filled included).
    pub order_qty: Qty,
    /// OrdType(40).
    pub ord_type: OrdType,
    /// Price(44).
    pub price: Option<Price>,
    /// TimeInForce(59).
    pub time_in_force: Option<TimeInForce>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> OrderCancelReplaceRequest<'a> {
    /// MsgType `G`.
    pub const MSG_TYPE: &'static [u8] = b"G";

    /// Decodes from a view of MsgType `G`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut order_id, mut orig) = (None, None);
        let mut fields = OrderFields::default();
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::ORDER_ID => put(&mut order_id, t, Ok(v))?,
                tag::ORIG_CL_ORD_ID => put(&mut orig, t, Ok(v))?,
                _ => {
                    fields.take(t, v)?;
                }
            }
        }
        fields.ord_type()?;
        let orig_cl_ord_id = need(orig, tag::ORIG_CL_ORD_ID)?;
        let o = fields.finish()?;
        Ok(Self {
            order_id,
            orig_cl_ord_id,
            cl_ord_id: o.cl_ord_id,
            account: o.account,
            exec_inst: o.exec_inst,
            symbol: o.symbol,
            side: o.side,
            transact_time: o.transact_time,
            order_qty: o.order_qty,
            ord_type: o.ord_type,
            price: o.price,
            time_in_force: o.time_in_force,
            text: o.text,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.opt_str(tag::ORDER_ID, self.order_id)
            .str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        write_order_fields(&mut b, &self.order_fields());
        b.finish()
    }

    /// The fields shared with `NewOrderSingle`, as one.
    fn order_fields(&self) -> NewOrderSingle<'a> {
        NewOrderSingle {
            cl_ord_id: self.cl_ord_id,
            account: self.account,
            exec_inst: self.exec_inst,
            symbol: self.symbol,
            side: self.side,
            transact_time: self.transact_time,
            order_qty: self.order_qty,
            ord_type: self.ord_type,
            price: self.price,
            time_in_force: self.time_in_force,
            text: self.text,
        }
    }
}

/// `ExecutionReport(8)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    /// OrderID(37).
    pub order_id: &'a [u8],
    /// ClOrdID(11).
    pub cl_ord_id: Option<&'a [u8]>,
    /// OrigClOrdID(41), on replace and cancel reports.
    pub orig_cl_ord_id: Option<&'a [u8]>,
    /// ExecID(17).
    pub exec_id: &'a [u8],
    /// ExecType(150).
    pub exec_type: ExecType,
    /// OrdStatus(39).
    pub ord_status: OrdStatus,
    /// OrdRejReason(103), on rejects.
    pub ord_rej_reason: Option<u32>,
    /// Account(1).
    pub account: Option<&'a [u8]>,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// OrderQty(38).
    pub order_qty: Option<Qty>,
    /// OrdType(40).
    pub ord_type: Option<OrdType>,
    /// Price(44).
    pub price: Option<Price>,
    /// TimeInForce(59).
    pub time_in_force: Option<TimeInForce>,
    /// ExecInst(18).
    pub exec_inst: ExecInst,
    /// LastQty(32), on fills.
    pub last_qty: Option<Qty>,
    /// LastPx(31), on fills.
    pub last_px: Option<Price>,
    /// LeavesQty(151).
    pub leaves_qty: Qty,
    /// CumQty(14).
    pub cum_qty: Qty,
    /// AvgPx(6).
    pub avg_px: Price,
    /// TransactTime(60), ns since the Unix epoch.
    pub transact_time: Option<u64>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> ExecutionReport<'a> {
    /// MsgType `8`.
    pub const MSG_TYPE: &'static [u8] = b"8";

    /// Decodes from a view of MsgType `8`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut order_id, mut cl, mut orig, mut exec_id, mut exec_type, mut status) =
            (None, None, None, None, None, None);
        let (mut rej, mut account, mut symbol, mut side, mut qty, mut ord_type) =
            (None, None, None, None, None, None);
        let (mut price, mut tif, mut inst, mut last_qty, mut last_px, mut leaves) =
            (None, None, None, None, None, None);
        let (mut cum, mut avg, mut time, mut text) = (None, None, None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::ORDER_ID => put(&mut order_id, t, Ok(v))?,
                tag::CL_ORD_ID => put(&mut cl, t, Ok(v))?,
                tag::ORIG_CL_ORD_ID => put(&mut orig, t, Ok(v))?,
                tag::EXEC_ID => put(&mut exec_id, t, Ok(v))?,
                tag::EXEC_TYPE => put(&mut exec_type, t, ExecType::parse(t, v))?,
                tag::ORD_STATUS => put(&mut status, t, OrdStatus::parse(t, v))?,
                tag::ORD_REJ_REASON => put(&mut rej, t, parse_u32(t, v))?,
                tag::ACCOUNT => put(&mut account, t, Ok(v))?,
                tag::SYMBOL => put(&mut symbol, t, Ok(v))?,
                tag::SIDE => put(&mut side, t, parse_side(t, v))?,
                tag::ORDER_QTY => put(&mut qty, t, parse_qty(t, v))?,
                tag::ORD_TYPE => put(&mut ord_type, t, OrdType::parse(t, v))?,
                tag::PRICE => put(&mut price, t, parse_price(t, v))?,
                tag::TIME_IN_FORCE => put(&mut tif, t, TimeInForce::parse(t, v))?,
                tag::EXEC_INST => put(&mut inst, t, ExecInst::parse(t, v))?,
                tag::LAST_QTY => put(&mut last_qty, t, parse_qty(t, v))?,
                tag::LAST_PX => put(&mut last_px, t, parse_price(t, v))?,
                tag::LEAVES_QTY => put(&mut leaves, t, parse_qty(t, v))?,
                tag::CUM_QTY => put(&mut cum, t, parse_qty(t, v))?,
                tag::AVG_PX => put(&mut avg, t, parse_price(t, v))?,
                tag::TRANSACT_TIME => put(&mut time, t, parse_timestamp(t, v))?,
                tag::TEXT => put(&mut text, t, Ok(v))?,
                _ => {}
            }
        }
        Ok(Self {
            order_id: need(order_id, tag::ORDER_ID)?,
            cl_ord_id: cl,
            orig_cl_ord_id: orig,
            exec_id: need(exec_id, tag::EXEC_ID)?,
            exec_type: need(exec_type, tag::EXEC_TYPE)?,
            ord_status: need(status, tag::ORD_STATUS)?,
            ord_rej_reason: rej,
            account,
            symbol: need(symbol, tag::SYMBOL)?,
            side: need(side, tag::SIDE)?,
            order_qty: qty,
            ord_type,
            price,
            time_in_force: tif,
            exec_inst: inst.unwrap_or_default(),
            last_qty,
            last_px,
            leaves_qty: need(leaves, tag::LEAVES_QTY)?,
            cum_qty: need(cum, tag::CUM_QTY)?,
            avg_px: need(avg, tag::AVG_PX)?,
            transact_time: time,
            text,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.str(tag::ORDER_ID, self.order_id)
            .opt_str(tag::CL_ORD_ID, self.cl_ord_id)
            .opt_str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id)
            .str(tag::EXEC_ID, self.exec_id)
            .char(tag::EXEC_TYPE, self.exec_type.as_byte())
            .char(tag::ORD_STATUS, self.ord_status.as_byte())
            .opt_uint(tag::ORD_REJ_REASON, self.ord_rej_reason.map(u64::from))
            .opt_str(tag::ACCOUNT, self.account)
            .str(tag::SYMBOL, self.symbol)
            .side(tag::SIDE, self.side)
            .opt_qty(tag::ORDER_QTY, self.order_qty);
        if let Some(t) = self.ord_type {
            b.char(tag::ORD_TYPE, t.as_byte());
        }
        b.opt_price(tag::PRICE, self.price);
        if let Some(tif) = self.time_in_force {
            b.char(tag::TIME_IN_FORCE, tif.as_byte());
        }
        b.exec_inst(tag::EXEC_INST, self.exec_inst)
            .opt_qty(tag::LAST_QTY, self.last_qty)
            .opt_price(tag::LAST_PX, self.last_px)
            .qty(tag::LEAVES_QTY, self.leaves_qty)
            .qty(tag::CUM_QTY, self.cum_qty)
            .price(tag::AVG_PX, self.avg_px)
            .opt_timestamp(tag::TRANSACT_TIME, self.transact_time)
            .opt_str(tag::TEXT, self.text);
        b.finish()
    }
}

/// `OrderCancelReject(9)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReject<'a> {
    /// OrderID(37); `NONE` when the order is unknown.
    pub order_id: &'a [u8],
    /// ClOrdID(11) of the refused request.
    pub cl_ord_id: &'a [u8],
    /// OrigClOrdID(41).
    pub orig_cl_ord_id: &'a [u8],
    /// OrdStatus(39) of the order after the refusal.
    pub ord_status: OrdStatus,
    /// Account(1).
    pub account: Option<&'a [u8]>,
    /// TransactTime(60), ns since the Unix epoch.
    pub transact_time: Option<u64>,
    /// CxlRejResponseTo(434).
    pub cxl_rej_response_to: CxlRejResponseTo,
    /// CxlRejReason(102).
    pub cxl_rej_reason: Option<u32>,
    /// Text(58).
    pub text: Option<&'a [u8]>,
}

impl<'a> OrderCancelReject<'a> {
    /// MsgType `9`.
    pub const MSG_TYPE: &'static [u8] = b"9";

    /// Decodes from a view of MsgType `9`.
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        expect_type(view, Self::MSG_TYPE)?;
        let (mut order_id, mut cl, mut orig, mut status, mut account) =
            (None, None, None, None, None);
        let (mut time, mut to, mut reason, mut text) = (None, None, None, None);
        for field in view.fields() {
            let (t, v) = field?;
            match t {
                tag::ORDER_ID => put(&mut order_id, t, Ok(v))?,
                tag::CL_ORD_ID => put(&mut cl, t, Ok(v))?,
                tag::ORIG_CL_ORD_ID => put(&mut orig, t, Ok(v))?,
                tag::ORD_STATUS => put(&mut status, t, OrdStatus::parse(t, v))?,
                tag::ACCOUNT => put(&mut account, t, Ok(v))?,
                tag::TRANSACT_TIME => put(&mut time, t, parse_timestamp(t, v))?,
                tag::CXL_REJ_RESPONSE_TO => put(&mut to, t, CxlRejResponseTo::parse(t, v))?,
                tag::CXL_REJ_REASON => put(&mut reason, t, parse_u32(t, v))?,
                tag::TEXT => put(&mut text, t, Ok(v))?,
                _ => {}
            }
        }
        Ok(Self {
            order_id: need(order_id, tag::ORDER_ID)?,
            cl_ord_id: need(cl, tag::CL_ORD_ID)?,
            orig_cl_ord_id: need(orig, tag::ORIG_CL_ORD_ID)?,
            ord_status: need(status, tag::ORD_STATUS)?,
            account,
            transact_time: time,
            cxl_rej_response_to: need(to, tag::CXL_REJ_RESPONSE_TO)?,
            cxl_rej_reason: reason,
            text,
        })
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::new(buf, Self::MSG_TYPE, header);
        b.str(tag::ORDER_ID, self.order_id)
            .str(tag::CL_ORD_ID, self.cl_ord_id)
            .str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id)
            .char(tag::ORD_STATUS, self.ord_status.as_byte())
            .opt_str(tag::ACCOUNT, self.account)
            .opt_timestamp(tag::TRANSACT_TIME, self.transact_time)
            .char(tag::CXL_REJ_RESPONSE_TO, self.cxl_rej_response_to.as_byte())
            .opt_uint(tag::CXL_REJ_REASON, self.cxl_rej_reason.map(u64::from))
            .opt_str(tag::TEXT, self.text);
        b.finish()
    }
}

/// Any message this codec models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `A`
    Logon(Logon),
    /// `0`
    Heartbeat(Heartbeat<'a>),
    /// `1`
    TestRequest(TestRequest<'a>),
    /// `2`
    ResendRequest(ResendRequest),
    /// `3`
    Reject(Reject<'a>),
    /// `4`
    SequenceReset(SequenceReset),
    /// `5`
    Logout(Logout<'a>),
    /// `D`
    NewOrderSingle(NewOrderSingle<'a>),
    /// `F`
    OrderCancelRequest(OrderCancelRequest<'a>),
    /// `G`
    OrderCancelReplaceRequest(OrderCancelReplaceRequest<'a>),
    /// `8`
    ExecutionReport(ExecutionReport<'a>),
    /// `9`
    OrderCancelReject(OrderCancelReject<'a>),
}

impl<'a> Message<'a> {
    /// Decodes the body by MsgType. Other MsgTypes are refused with
    /// `InvalidMsgType` (11) on tag 35; an acceptor may prefer to answer valid
    /// but unsupported application types with BusinessMessageReject(j).
    pub fn decode(view: &MessageView<'a>) -> Result<Self, FieldError> {
        Ok(match view.msg_type() {
            b"A" => Self::Logon(Logon::decode(view)?),
            b"0" => Self::Heartbeat(Heartbeat::decode(view)?),
            b"1" => Self::TestRequest(TestRequest::decode(view)?),
            b"2" => Self::ResendRequest(ResendRequest::decode(view)?),
            b"3" => Self::Reject(Reject::decode(view)?),
            b"4" => Self::SequenceReset(SequenceReset::decode(view)?),
            b"5" => Self::Logout(Logout::decode(view)?),
            b"D" => Self::NewOrderSingle(NewOrderSingle::decode(view)?),
            b"F" => Self::OrderCancelRequest(OrderCancelRequest::decode(view)?),
            b"G" => Self::OrderCancelReplaceRequest(OrderCancelReplaceRequest::decode(view)?),
            b"8" => Self::ExecutionReport(ExecutionReport::decode(view)?),
            b"9" => Self::OrderCancelReject(OrderCancelReject::decode(view)?),
            _ => {
                return Err(FieldError::new(
                    tag::MSG_TYPE,
                    SessionRejectReason::InvalidMsgType,
                    "unsupported MsgType",
                ))
            }
        })
    }

    /// The MsgType.
    #[must_use]
    pub const fn msg_type(&self) -> &'static [u8] {
        match self {
            Self::Logon(_) => Logon::MSG_TYPE,
            Self::Heartbeat(_) => Heartbeat::MSG_TYPE,
            Self::TestRequest(_) => TestRequest::MSG_TYPE,
            Self::ResendRequest(_) => ResendRequest::MSG_TYPE,
            Self::Reject(_) => Reject::MSG_TYPE,
            Self::SequenceReset(_) => SequenceReset::MSG_TYPE,
            Self::Logout(_) => Logout::MSG_TYPE,
            Self::NewOrderSingle(_) => NewOrderSingle::MSG_TYPE,
            Self::OrderCancelRequest(_) => OrderCancelRequest::MSG_TYPE,
            Self::OrderCancelReplaceRequest(_) => OrderCancelReplaceRequest::MSG_TYPE,
            Self::ExecutionReport(_) => ExecutionReport::MSG_TYPE,
            Self::OrderCancelReject(_) => OrderCancelReject::MSG_TYPE,
        }
    }

    /// True for the session-level (administrative) messages.
    #[must_use]
    pub const fn is_admin(&self) -> bool {
        matches!(
            self,
            Self::Logon(_)
                | Self::Heartbeat(_)
                | Self::TestRequest(_)
                | Self::ResendRequest(_)
                | Self::Reject(_)
                | Self::SequenceReset(_)
                | Self::Logout(_)
        )
    }

    /// Encodes into `buf`; returns the message length.
    pub fn encode(&self, header: &Header<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Self::Logon(m) => m.encode(header, buf),
            Self::Heartbeat(m) => m.encode(header, buf),
            Self::TestRequest(m) => m.encode(header, buf),
            Self::ResendRequest(m) => m.encode(header, buf),
            Self::Reject(m) => m.encode(header, buf),
            Self::SequenceReset(m) => m.encode(header, buf),
            Self::Logout(m) => m.encode(header, buf),
            Self::NewOrderSingle(m) => m.encode(header, buf),
            Self::OrderCancelRequest(m) => m.encode(header, buf),
            Self::OrderCancelReplaceRequest(m) => m.encode(header, buf),
            Self::ExecutionReport(m) => m.encode(header, buf),
            Self::OrderCancelReject(m) => m.encode(header, buf),
        }
    }
}
