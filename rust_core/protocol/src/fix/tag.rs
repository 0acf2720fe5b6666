//! FIX 4.4 tag numbers used by quotewire, named as in the specification.

/// Account(1)
pub const ACCOUNT: u32 = 1;
/// AvgPx(6)
pub const AVG_PX: u32 = 6;
/// BeginSeqNo(7)
pub const BEGIN_SEQ_NO: u32 = 7;
/// BeginString(8)
pub const BEGIN_STRING: u32 = 8;
/// BodyLength(9)
pub const BODY_LENGTH: u32 = 9;
/// CheckSum(10)
pub const CHECK_SUM: u32 = 10;
/// ClOrdID(11)
pub const CL_ORD_ID: u32 = 11;
/// CumQty(14)
pub const CUM_QTY: u32 = 14;
/// EndSeqNo(16)
pub const END_SEQ_NO: u32 = 16;
/// ExecID(17)
pub const EXEC_ID: u32 = 17;
/// ExecInst(18)
pub const EXEC_INST: u32 = 18;
/// LastPx(31)
pub const LAST_PX: u32 = 31;
/// LastQty(32)
pub const LAST_QTY: u32 = 32;
/// MsgSeqNum(34)
pub const MSG_SEQ_NUM: u32 = 34;
/// MsgType(35)
pub const MSG_TYPE: u32 = 35;
/// NewSeqNo(36)
pub const NEW_SEQ_NO: u32 = 36;
/// OrderID(37)
pub const ORDER_ID: u32 = 37;
/// OrderQty(38)
pub const ORDER_QTY: u32 = 38;
/// OrdStatus(39)
pub const ORD_STATUS: u32 = 39;
/// OrdType(40)
pub const ORD_TYPE: u32 = 40;
/// OrigClOrdID(41)
pub const ORIG_CL_ORD_ID: u32 = 41;
/// PossDupFlag(43)
pub const POSS_DUP_FLAG: u32 = 43;
/// Price(44)
pub const PRICE: u32 = 44;
/// RefSeqNum(45)
pub const REF_SEQ_NUM: u32 = 45;
/// SenderCompID(49)
pub const SENDER_COMP_ID: u32 = 49;
/// SendingTime(52)
pub const SENDING_TIME: u32 = 52;
/// Side(54)
pub const SIDE: u32 = 54;
/// Symbol(55)
pub const SYMBOL: u32 = 55;
/// TargetCompID(56)
pub const TARGET_COMP_ID: u32 = 56;
/// Text(58)
pub const TEXT: u32 = 58;
/// TimeInForce(59)
pub const TIME_IN_FORCE: u32 = 59;
/// TransactTime(60)
pub const TRANSACT_TIME: u32 = 60;
/// EncryptMethod(98)
pub const ENCRYPT_METHOD: u32 = 98;
/// CxlRejReason(102)
pub const CXL_REJ_REASON: u32 = 102;
/// OrdRejReason(103)
pub const ORD_REJ_REASON: u32 = 103;
/// HeartBtInt(108)
pub const HEART_BT_INT: u32 = 108;
/// TestReqID(112)
pub const TEST_REQ_ID: u32 = 112;
/// OrigSendingTime(122)
pub const ORIG_SENDING_TIME: u32 = 122;
/// GapFillFlag(123)
pub const GAP_FILL_FLAG: u32 = 123;
/// ResetSeqNumFlag(141)
pub const RESET_SEQ_NUM_FLAG: u32 = 141;
/// ExecType(150)
pub const EXEC_TYPE: u32 = 150;
/// LeavesQty(151)
pub const LEAVES_QTY: u32 = 151;
/// RefTagID(371)
pub const REF_TAG_ID: u32 = 371;
/// RefMsgType(372)
pub const REF_MSG_TYPE: u32 = 372;
/// SessionRejectReason(373)
pub const SESSION_REJECT_REASON: u32 = 373;
/// CxlRejResponseTo(434)
pub const CXL_REJ_RESPONSE_TO: u32 = 434;

/// The specification name of a tag this codec knows, for error messages.
#[must_use]
pub const fn name(tag: u32) -> &'static str {
    match tag {
        ACCOUNT => "Account(1)",
        AVG_PX => "AvgPx(6)",
        BEGIN_SEQ_NO => "BeginSeqNo(7)",
        BEGIN_STRING => "BeginString(8)",
        BODY_LENGTH => "BodyLength(9)",
        CHECK_SUM => "CheckSum(10)",
        CL_ORD_ID => "ClOrdID(11)",
        CUM_QTY => "CumQty(14)",
        END_SEQ_NO => "EndSeqNo(16)",
        EXEC_ID => "ExecID(17)",
        EXEC_INST => "ExecInst(18)",
        LAST_PX => "LastPx(31)",
        LAST_QTY => "LastQty(32)",
        MSG_SEQ_NUM => "MsgSeqNum(34)",
        MSG_TYPE => "MsgType(35)",
        NEW_SEQ_NO => "NewSeqNo(36)",
        ORDER_ID => "OrderID(37)",
        ORDER_QTY => "OrderQty(38)",
        ORD_STATUS => "OrdStatus(39)",
        ORD_TYPE => "OrdType(40)",
        ORIG_CL_ORD_ID => "OrigClOrdID(41)",
        POSS_DUP_FLAG => "PossDupFlag(43)",
        PRICE => "Price(44)",
        REF_SEQ_NUM => "RefSeqNum(45)",
        SENDER_COMP_ID => "SenderCompID(49)",
        SENDING_TIME => "SendingTime(52)",
        SIDE => "Side(54)",
        SYMBOL => "Symbol(55)",
        TARGET_COMP_ID => "TargetCompID(56)",
        TEXT => "Text(58)",
        TIME_IN_FORCE => "TimeInForce(59)",
        TRANSACT_TIME => "TransactTime(60)",
        ENCRYPT_METHOD => "EncryptMethod(98)",
        CXL_REJ_REASON => "CxlRejReason(102)",
        ORD_REJ_REASON => "OrdRejReason(103)",
        HEART_BT_INT => "HeartBtInt(108)",
        TEST_REQ_ID => "TestReqID(112)",
        ORIG_SENDING_TIME => "OrigSendingTime(122)",
        GAP_FILL_FLAG => "GapFillFlag(123)",
        RESET_SEQ_NUM_FLAG => "ResetSeqNumFlag(141)",
        EXEC_TYPE => "ExecType(150)",
        LEAVES_QTY => "LeavesQty(151)",
        REF_TAG_ID => "RefTagID(371)",
        REF_MSG_TYPE => "RefMsgType(372)",
        SESSION_REJECT_REASON => "SessionRejectReason(373)",
        CXL_REJ_RESPONSE_TO => "CxlRejResponseTo(434)",
        _ => "FIX field",
    }
}

/// True for FIX 4.4 standard header tags (they must precede the body).
#[must_use]
pub const fn is_header(tag: u32) -> bool {
    matches!(
        tag,
        8 | 9
            | 35
            | 49
            | 56
            | 115
            | 128
            | 90
            | 91
            | 34
            | 50
            | 142
            | 57
            | 143
            | 116
            | 144
            | 129
            | 145
            | 43
            | 97
            | 52
            | 122
            | 212
            | 213
            | 347
            | 369
            | 627
            | 628
            | 629
            | 630
    )
}

/// True for FIX 4.4 standard trailer tags (they must follow the body).
#[must_use]
pub const fn is_trailer(tag: u32) -> bool {
    matches!(tag, 93 | 89 | 10)
}

/// For a `DATA` tag, the `LENGTH` tag that must precede it and gives its
/// byte count (its value may contain SOH).
#[must_use]
pub const fn data_length_tag(data_tag: u32) -> Option<u32> {
    Some(match data_tag {
        89 => 93,
        91 => 90,
        96 => 95,
        213 => 212,
        349 => 348,
        351 => 350,
        353 => 352,
        355 => 354,
        357 => 356,
        359 => 358,
        361 => 360,
        363 => 362,
        365 => 364,
        446 => 445,
        619 => 618,
        622 => 621,
        _ => return None,
    })
}
