//! Behaviour of the FIX 4.4 codec as a whole: framing, views, typed
//! messages, encoding.

use proptest::prelude::*;
use quotewire_core::{Price, Qty, Side};

use super::*;

/// `|` stands for SOH in test vectors.
fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
}

fn header(seq: u64) -> Header<'static> {
    Header {
        sender_comp_id: b"QUOTEWIRE",
        target_comp_id: b"VENUE",
        msg_seq_num: seq,
        sending_time: 1_709_214_306_789_000_000,
        poss_dup: false,
        orig_sending_time: None,
    }
}

fn encoded(msg: &Message<'_>, h: &Header<'_>) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let n = msg.encode(h, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// 2024-02-29 13:45:06.789 UTC.
const T: u64 = 1_709_214_306_789_000_000;

fn samples() -> Vec<Message<'static>> {
    vec![
        Message::Logon(Logon {
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: true,
        }),
        Message::Heartbeat(Heartbeat { test_req_id: None }),
        Message::Heartbeat(Heartbeat {
            test_req_id: Some(b"TEST-1"),
        }),
        Message::TestRequest(TestRequest {
            test_req_id: b"TEST-1",
        }),
        Message::ResendRequest(ResendRequest {
            begin_seq_no: 5,
            end_seq_no: 0,
        }),
        Message::Reject(Reject {
            ref_seq_num: 7,
            ref_tag_id: Some(44),
            ref_msg_type: Some(b"D"),
            session_reject_reason: Some(6),
            text: Some(b"bad price"),
        }),
        Message::SequenceReset(SequenceReset {
            gap_fill: true,
            new_seq_no: 12,
        }),
        Message::SequenceReset(SequenceReset {
            gap_fill: false,
            new_seq_no: 1,
        }),
        Message::Logout(Logout { text: Some(b"bye") }),
        Message::NewOrderSingle(NewOrderSingle {
            cl_ord_id: b"C1",
            account: Some(b"ACC"),
            exec_inst: ExecInst::post_only(),
            symbol: b"AAPL",
            side: Side::Buy,
            transact_time: T,
            order_qty: Qty(100),
            ord_type: OrdType::Limit,
            price: Some(Price(1_805_000)),
            time_in_force: Some(TimeInForce::Day),
            text: None,
        }),
        Message::OrderCancelRequest(OrderCancelRequest {
            orig_cl_ord_id: b"C1",
            order_id: Some(b"V-9"),
            cl_ord_id: b"C2",
            account: None,
            symbol: b"AAPL",
            side: Side::Buy,
            transact_time: T,
            order_qty: Some(Qty(100)),
            text: None,
        }),
        Message::OrderCancelReplaceRequest(OrderCancelReplaceRequest {
            order_id: None,
            orig_cl_ord_id: b"C2",
            cl_ord_id: b"C3",
            account: None,
            exec_inst: ExecInst::EMPTY,
            symbol: b"AAPL",
            side: Side::Sell,
            transact_time: T,
            order_qty: Qty(300),
            ord_type: OrdType::Limit,
            price: Some(Price(-12_500)),
            time_in_force: Some(TimeInForce::ImmediateOrCancel),
            text: Some(b"replace"),
        }),
        Message::ExecutionReport(ExecutionReport {
            order_id: b"V-9",
            cl_ord_id: Some(b"C1"),
            orig_cl_ord_id: None,
            exec_id: b"E-1",
            exec_type: ExecType::Trade,
            ord_status: OrdStatus::PartiallyFilled,
            ord_rej_reason: None,
            account: Some(b"ACC"),
            symbol: b"AAPL",
            side: Side::Buy,
            order_qty: Some(Qty(100)),
            ord_type: Some(OrdType::Limit),
            price: Some(Price(1_805_000)),
            time_in_force: Some(TimeInForce::Day),
            exec_inst: ExecInst::post_only(),
            last_qty: Some(Qty(40)),
            last_px: Some(Price(1_805_000)),
            leaves_qty: Qty(60),
            cum_qty: Qty(40),
            avg_px: Price(1_805_000),
            transact_time: Some(T),
            text: None,
        }),
        Message::ExecutionReport(ExecutionReport {
            order_id: b"NONE",
            cl_ord_id: Some(b"C9"),
            orig_cl_ord_id: None,
            exec_id: b"E-2",
            exec_type: ExecType::Rejected,
            ord_status: OrdStatus::Rejected,
            ord_rej_reason: Some(1),
            account: None,
            symbol: b"ZZZZ",
            side: Side::Sell,
            order_qty: None,
            ord_type: None,
            price: None,
            time_in_force: None,
            exec_inst: ExecInst::EMPTY,
            last_qty: None,
            last_px: None,
            leaves_qty: Qty(0),
            cum_qty: Qty(0),
            avg_px: Price(0),
            transact_time: None,
            text: Some(b"unknown symbol"),
        }),
        Message::OrderCancelReject(OrderCancelReject {
            order_id: b"NONE",
            cl_ord_id: b"C2",
            orig_cl_ord_id: b"C1",
            ord_status: OrdStatus::Rejected,
            account: None,
            transact_time: Some(T),
            cxl_rej_response_to: CxlRejResponseTo::OrderCancelRequest,
            cxl_rej_reason: Some(1),
            text: Some(b"unknown order"),
        }),
    ]
}

#[test]
fn hand_written_heartbeat_has_the_hand_computed_length_and_checksum() {
    // Body (after "9=45|", through the SOH before "10="):
    //   "35=0|" 5 + "49=A|" 5 + "56=B|" 5 + "34=1|" 5
    //   + "52=20240102-03:04:05.678|" (3 + 21 + 1) 25          = 45 bytes.
    // Byte sums: "8=FIX.4.4|" = 56+61+70+73+88+46+52+46+52+1 = 545,
    //   "9=45|" = 57+61+52+53+1 = 224, "35=0|" = 214, "49=A|" = 236,
    //   "56=B|" = 235, "34=1|" = 214, "52=...678|" = 1232;
    //   total 545+224+214+236+235+214+1232 = 2900; 2900 mod 256 = 84.
    let msg = soh("8=FIX.4.4|9=45|35=0|49=A|56=B|34=1|52=20240102-03:04:05.678|10=084|");
    let mut framer = Framer::default();
    assert_eq!(
        framer.scan(&msg),
        Scan::Message {
            start: 0,
            end: msg.len()
        }
    );
    assert_eq!(checksum(&msg[..msg.len() - 7]), 84);
    let (h, m) = decode(&msg).unwrap();
    assert_eq!(h.sender_comp_id, b"A");
    assert_eq!(h.target_comp_id, b"B");
    assert_eq!(h.msg_seq_num, 1);
    assert_eq!(&fmt_timestamp(h.sending_time), b"20240102-03:04:05.678");
    assert_eq!(m, Message::Heartbeat(Heartbeat { test_req_id: None }));

    // The encoder writes exactly the same bytes.
    let h2 = Header {
        sender_comp_id: b"A",
        target_comp_id: b"B",
        ..h
    };
    assert_eq!(encoded(&m, &h2), msg);
}

#[test]
fn every_typed_message_round_trips() {
    for (i, msg) in samples().into_iter().enumerate() {
        let h = header(i as u64 + 1);
        let bytes = encoded(&msg, &h);
        let mut framer = Framer::default();
        assert_eq!(
            framer.scan(&bytes),
            Scan::Message {
                start: 0,
                end: bytes.len()
            },
            "{msg:?}"
        );
        let (h2, m2) = decode(&bytes).unwrap_or_else(|e| panic!("{msg:?}: {e}"));
        assert_eq!(h2, h);
        assert_eq!(m2, msg);
        assert_eq!(
            m2.msg_type(),
            MessageView::parse(&bytes).unwrap().msg_type()
        );
    }
}

#[test]
fn new_order_single_encodes_fields_in_dictionary_order() {
    let msg = &samples()[9];
    let bytes = encoded(msg, &header(2));
    let text = String::from_utf8(
        bytes
            .iter()
            .map(|&b| if b == SOH { b'|' } else { b })
            .collect(),
    )
    .unwrap();
    assert!(text.starts_with("8=FIX.4.4|9="), "{text}");
    assert!(
        text.contains(
            "|35=D|49=QUOTEWIRE|56=VENUE|34=2|52=20240229-13:45:06.789|11=C1|1=ACC|18=6|55=AAPL|54=1|60=20240229-13:45:06.789|38=100|40=2|44=180.5|59=0|10="
        ),
        "{text}"
    );
}

#[test]
fn header_with_poss_dup_and_orig_sending_time_round_trips() {
    let h = Header {
        poss_dup: true,
        orig_sending_time: Some(T - 5_000_000_000),
        ..header(9)
    };
    let msg = Message::SequenceReset(SequenceReset {
        gap_fill: true,
        new_seq_no: 20,
    });
    let bytes = encoded(&msg, &h);
    assert_eq!(decode(&bytes).unwrap(), (h, msg));
    let view = MessageView::parse(&bytes).unwrap();
    assert_eq!(view.poss_dup_flag(), Ok(Some(true)));
    assert_eq!(view.orig_sending_time(), Ok(Some(T - 5_000_000_000)));
}

#[test]
fn view_getters_read_every_field_we_use() {
    let bytes = encoded(&samples()[12], &header(3));
    let v = MessageView::parse(&bytes).unwrap();
    assert_eq!(v.msg_type(), b"8");
    assert_eq!(v.msg_seq_num(), Ok(Some(3)));
    assert_eq!(v.sender_comp_id(), Some(&b"QUOTEWIRE"[..]));
    assert_eq!(v.order_id(), Some(&b"V-9"[..]));
    assert_eq!(v.exec_id(), Some(&b"E-1"[..]));
    assert_eq!(v.exec_type(), Ok(Some(ExecType::Trade)));
    assert_eq!(v.ord_status(), Ok(Some(OrdStatus::PartiallyFilled)));
    assert_eq!(v.side(), Ok(Some(Side::Buy)));
    assert_eq!(v.last_qty(), Ok(Some(Qty(40))));
    assert_eq!(v.last_px(), Ok(Some(Price(1_805_000))));
    assert_eq!(v.leaves_qty(), Ok(Some(Qty(60))));
    assert_eq!(v.cum_qty(), Ok(Some(Qty(40))));
    assert_eq!(v.avg_px(), Ok(Some(Price(1_805_000))));
    assert!(v.exec_inst().unwrap().unwrap().is_post_only());
    assert_eq!(v.transact_time(), Ok(Some(T)));
    assert_eq!(v.account(), Some(&b"ACC"[..]));
    assert_eq!(v.text(), None);
    assert_eq!(v.price(), Ok(Some(Price(1_805_000))));
    assert_eq!(v.cl_ord_id(), Some(&b"C1"[..]));
    let fields: Vec<u32> = v.fields().map(|f| f.unwrap().0).collect();
    assert_eq!(&fields[..4], &[49, 56, 34, 52]);
}

fn frame(body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

fn decode_err(body: &str) -> (u32, SessionRejectReason, &'static str) {
    let bytes = frame(body);
    let e = decode(&bytes).unwrap_err();
    (e.tag, e.reason, e.detail)
}

const HDR: &str = "49=C|56=V|34=2|52=20240229-13:45:06.789|";

#[test]
fn field_errors_name_the_tag_and_session_reject_reason() {
    use SessionRejectReason as R;
    let nos = |rest: &str| format!("35=D|{HDR}{rest}");
    let ok = "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1.5|";
    assert!(decode(&frame(&nos(ok))).is_ok());
    assert_eq!(
        decode_err(&nos(
            "55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1.5|"
        ))
        .0,
        11
    );
    let (t, r, d) = decode_err(&nos("11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|"));
    assert_eq!(
        (t, r, d),
        (44, R::RequiredTagMissing, "Price required for this OrdType")
    );
    let cases: &[(&str, u32, R)] = &[
        (
            "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1.23456|",
            44,
            R::ValueIsIncorrect,
        ),
        (
            "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1e5|",
            44,
            R::IncorrectDataFormat,
        ),
        (
            "11=C1|55=AAPL|54=5|60=20240229-13:45:06|38=100|40=2|44=1|",
            54,
            R::ValueIsIncorrect,
        ),
        (
            "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=Z|44=1|",
            40,
            R::ValueIsIncorrect,
        ),
        (
            "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=1.5|40=2|44=1|",
            38,
            R::ValueIsIncorrect,
        ),
        (
            "11=C1|55=AAPL|54=1|60=2024-02-29|38=100|40=2|44=1|",
            60,
            R::IncorrectDataFormat,
        ),
        (
            "11=C1|11=C2|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1|",
            11,
            R::TagAppearsMoreThanOnce,
        ),
        (
            "11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1|34=3|",
            34,
            R::TagSpecifiedOutOfRequiredOrder,
        ),
        ("11=|55=AAPL|", 11, R::TagSpecifiedWithoutValue),
        ("011=C1|", 0, R::InvalidTagNumber),
        ("x=C1|", 0, R::InvalidTagNumber),
        ("11=C1|18=6 !|", 18, R::ValueIsIncorrect),
        ("11=C1|18=6 Q!|", 18, R::IncorrectDataFormat),
    ];
    for (rest, tag, reason) in cases {
        let (t, r, d) = decode_err(&nos(rest));
        assert_eq!((t, r), (*tag, *reason), "{rest}: {d}");
    }
    // Header problems.
    assert_eq!(decode_err("35=0|49=C|56=V|52=20240229-13:45:06|").0, 34);
    let (t, r, _) = decode_err("35=0|49=C|56=V|34=x|52=20240229-13:45:06|");
    assert_eq!((t, r), (34, R::IncorrectDataFormat));
    assert_eq!(decode_err(&format!("35=Q|{HDR}")).1, R::InvalidMsgType);
    assert_eq!(
        decode_err(&format!("49=C|35=0|{HDR}")).1,
        R::TagSpecifiedOutOfRequiredOrder
    );
    assert_eq!(decode_err(&format!("35=1|{HDR}")).0, 112);
    assert_eq!(decode_err(&format!("35=A|{HDR}108=30|")).0, 98);
}

#[test]
fn market_order_needs_no_price() {
    let bytes = frame(&format!(
        "35=D|{HDR}11=C1|55=AAPL|54=2|60=20240229-13:45:06|38=100|40=1|21=1|"
    ));
    let (_, m) = decode(&bytes).unwrap();
    let Message::NewOrderSingle(o) = m else {
        panic!("{m:?}")
    };
    assert_eq!(
        (o.ord_type, o.price, o.side),
        (OrdType::Market, None, Side::Sell)
    );
}

#[test]
fn reject_for_error_carries_tag_reason_and_text() {
    let bytes = frame(&format!(
        "35=D|{HDR}11=C1|55=AAPL|54=1|60=20240229-13:45:06|38=100|40=2|44=1.23456|"
    ));
    let view = MessageView::parse(&bytes).unwrap();
    let err = Message::decode(&view).unwrap_err();
    let h = view.header().unwrap();
    let rej = Reject::for_error(h.msg_seq_num, Some(view.msg_type()), &err);
    assert_eq!(rej.ref_seq_num, 2);
    assert_eq!(rej.ref_tag_id, Some(44));
    assert_eq!(rej.reason(), Some(SessionRejectReason::ValueIsIncorrect));
    let out = encoded(&Message::Reject(rej), &header(1));
    assert_eq!(decode(&out).unwrap().1, Message::Reject(rej));
    assert_eq!(
        err.to_string(),
        "FIX tag 44: value is incorrect (out of range) for this tag (5): price has more than 4 significant decimals"
    );
}

#[test]
fn data_field_may_contain_soh_when_preceded_by_its_length() {
    let bytes = frame(&format!("35=A|{HDR}98=0|108=30|95=5|96=a|b=c|141=Y|"));
    let (_, m) = decode(&bytes).unwrap();
    assert_eq!(
        m,
        Message::Logon(Logon {
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: true
        })
    );
    let view = MessageView::parse(&bytes).unwrap();
    assert_eq!(view.get(96), Some(&soh("a|b=c")[..]));
    // Wrong length, or no length field at all.
    assert!(MessageView::parse(&frame(&format!("35=A|{HDR}98=0|108=30|95=4|96=a|b=c|"))).is_err());
    assert_eq!(
        MessageView::parse(&frame(&format!("35=A|{HDR}98=0|108=30|96=abc|")))
            .unwrap_err()
            .tag,
        96
    );
}

#[test]
fn framer_reports_each_kind_of_broken_frame_and_resynchronises() {
    let good = frame(&format!("35=0|{HDR}"));
    let mut bad_sum = good.clone();
    let n = bad_sum.len();
    bad_sum[n - 2] = if bad_sum[n - 2] == b'9' { b'0' } else { b'9' };
    let mut bad_len = good.clone();
    // "9=45" -> "9=46": one more than the body, so 10= is not where it says.
    let body_len = good.len() - 7 - b"8=FIX.4.4|9=45|".len();
    assert_eq!(&good[10..15], format!("9={body_len}\x01").as_bytes());
    bad_len[13] += 1;
    let cases: Vec<(Vec<u8>, FrameError)> = vec![
        (
            bad_len,
            FrameError::BodyLengthMismatch {
                declared: body_len + 1,
            },
        ),
        (soh("8=FIX.4.4|9=x|35=0|"), FrameError::BadBodyLength),
        (soh("8=FIX.4.4|35=0|"), FrameError::BadBodyLength),
        (soh("8=FIX.4.4|9=|35=0|"), FrameError::BadBodyLength),
        (
            soh("8=FIX.4.4|9=99999|35=0|"),
            FrameError::BodyTooLong {
                len: 99_999,
                max: 8192,
            },
        ),
        (
            soh("8=FIX.4.4|9=1234567890|"),
            FrameError::BodyTooLong {
                len: usize::MAX,
                max: 8192,
            },
        ),
        (
            soh("8=FIX.4.4|9=5|35=0|10=12x|"),
            FrameError::BadCheckSumField,
        ),
        (
            soh("8=FIX.4.4|9=5|35=0|10=1234|"),
            FrameError::BadCheckSumField,
        ),
        (
            soh("8=FIX.4.4|9=4|35=0|10=123|"),
            FrameError::BodyLengthMismatch { declared: 4 },
        ),
    ];
    for (bytes, want) in cases {
        let mut stream = bytes.clone();
        stream.extend_from_slice(&good);
        let got: Vec<_> = Frames::new(&stream, DEFAULT_MAX_BODY).collect();
        assert_eq!(got.first(), Some(&Err(want)), "{}", bytes.escape_ascii());
        assert_eq!(got.last(), Some(&Ok(&good[..])), "{}", bytes.escape_ascii());
    }
    let got: Vec<_> = Frames::new(&bad_sum, DEFAULT_MAX_BODY).collect();
    assert!(
        matches!(got[..], [Err(FrameError::CheckSumMismatch { .. })]),
        "{got:?}"
    );
}

#[test]
fn garbage_before_a_message_is_skipped_and_counted() {
    let good = frame(&format!("35=0|{HDR}"));
    let mut stream = b"noise 8=FIX.4.2\x01 8=FIX".to_vec();
    let garbage = stream.len();
    stream.extend_from_slice(&good);
    let mut frames = Frames::new(&stream, DEFAULT_MAX_BODY);
    assert_eq!(frames.next(), Some(Ok(&good[..])));
    assert_eq!(frames.next(), None);
    assert_eq!(frames.framer().garbage_bytes(), garbage as u64);
    assert!(frames.remainder().is_empty());

    // Garbage alone is discarded except a possible start of "8=FIX.4.4|".
    let mut framer = Framer::default();
    assert_eq!(framer.scan(b"xxxx8=FIX."), Scan::Incomplete { discard: 4 });
    assert_eq!(framer.scan(b"xxxx"), Scan::Incomplete { discard: 4 });
    assert_eq!(framer.scan(b""), Scan::Incomplete { discard: 0 });
    assert_eq!(framer.garbage_bytes(), 8);
}

#[test]
fn stream_buffer_handles_one_byte_reads_and_many_messages() {
    let msgs: Vec<Vec<u8>> = samples()
        .iter()
        .enumerate()
        .map(|(i, m)| encoded(m, &header(i as u64)))
        .collect();
    let stream: Vec<u8> = msgs.concat();
    let mut sb = StreamBuffer::new(512, 64);
    let mut got = Vec::new();
    for b in &stream {
        assert_eq!(sb.push(&[*b]), 1);
        while let Some(m) = sb.next_message() {
            got.push(m.unwrap().to_vec());
        }
    }
    assert_eq!(got, msgs);
    assert_eq!(sb.buffered(), 0);
    assert_eq!(sb.framer().garbage_bytes(), 0);
}

#[test]
fn oversize_body_is_refused_before_it_arrives() {
    let mut sb = StreamBuffer::new(64, 16);
    sb.push(&soh("8=FIX.4.4|9=65|35=0|"));
    assert_eq!(
        sb.next_message(),
        Some(Err(FrameError::BodyTooLong { len: 65, max: 64 }))
    );
    assert_eq!(sb.framer().invalid_frames(), 1);
}

#[test]
fn builder_refuses_small_buffers_and_unencodable_values() {
    let msg = samples()[9];
    let full = encoded(&msg, &header(1));
    for size in 0..full.len() {
        let mut buf = vec![0u8; size];
        assert!(
            matches!(
                msg.encode(&header(1), &mut buf),
                Err(crate::EncodeError::BufferTooSmall { .. })
            ),
            "size {size}"
        );
    }
    // Exactly enough room, and far more room (BodyLength placeholder widths
    // 3, 4, 5, 6 digits) all produce identical bytes.
    for size in [full.len(), 999, 1000, 10_000, 100_000] {
        let mut buf = vec![0u8; size];
        let n = msg.encode(&header(1), &mut buf).unwrap();
        assert_eq!(&buf[..n], &full[..], "size {size}");
    }
    let mut buf = [0u8; 512];
    let bad = Message::Logout(Logout {
        text: Some(b"a\x01b"),
    });
    assert_eq!(
        bad.encode(&header(1), &mut buf),
        Err(crate::EncodeError::InvalidValue("Text(58)"))
    );
    let bad = Message::TestRequest(TestRequest { test_req_id: b"" });
    assert_eq!(
        bad.encode(&header(1), &mut buf),
        Err(crate::EncodeError::InvalidValue("TestReqID(112)"))
    );
}

#[test]
fn builder_writes_custom_fields() {
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, b"j", &header(4));
    b.uint(45, 3)
        .str(372, b"D")
        .uint(380, 3)
        .str(58, b"unsupported");
    let n = b.finish().unwrap();
    let view = MessageView::parse(&buf[..n]).unwrap();
    assert_eq!(view.msg_type(), b"j");
    assert_eq!(view.get(380), Some(&b"3"[..]));
    assert_eq!(view.header().unwrap(), header(4));
    assert_eq!(
        Message::decode(&view).unwrap_err().reason,
        SessionRejectReason::InvalidMsgType
    );
}

/// Regenerates the committed fuzz seeds:
/// `cargo test -p quotewire-protocol write_fix44_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand when the codec changes"]
fn write_fix44_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/fix44");
    std::fs::create_dir_all(&dir).unwrap();
    let mut session = Vec::new();
    for (i, m) in samples().iter().enumerate() {
        let bytes = encoded(m, &header(i as u64 + 1));
        let name = format!("{:02}_{}.fix", i, String::from_utf8_lossy(m.msg_type()));
        std::fs::write(dir.join(name), &bytes).unwrap();
        session.extend_from_slice(&bytes);
    }
    std::fs::write(dir.join("session_stream.fix"), &session).unwrap();
    let mut noisy = b"garbage".to_vec();
    noisy.extend_from_slice(&frame(&format!(
        "35=A|{HDR}98=0|108=30|95=5|96=a|b=c|141=Y|"
    )));
    noisy.extend_from_slice(&soh("8=FIX.4.4|9=4|35=0|10=123|"));
    std::fs::write(dir.join("noisy.fix"), &noisy).unwrap();
}

fn arb_id() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0x20u8..0x7f, 1..40)
}

proptest! {
    #[test]
    fn random_orders_round_trip(
        cl in arb_id(), sym in arb_id(), raw_px in any::<i64>(), qty in any::<u64>(),
        t in any::<u64>(), buy in any::<bool>(), post in any::<bool>(), seq in 1u64..u64::MAX,
    ) {
        let t = t - t % 1_000_000;
        let msg = Message::NewOrderSingle(NewOrderSingle {
            cl_ord_id: &cl,
            account: None,
            exec_inst: if post { ExecInst::post_only() } else { ExecInst::EMPTY },
            symbol: &sym,
            side: if buy { Side::Buy } else { Side::Sell },
            transact_time: t,
            order_qty: Qty(qty),
            ord_type: OrdType::Limit,
            price: Some(Price(raw_px)),
            time_in_force: None,
            text: Some(&cl),
        });
        let h = Header { sending_time: t, msg_seq_num: seq, ..header(1) };
        let bytes = encoded(&msg, &h);
        prop_assert_eq!(decode(&bytes), Ok((h, msg)));
    }

    #[test]
    fn framer_finds_every_message_under_random_segmentation(
        picks in proptest::collection::vec(0usize..15, 1..12),
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 12),
        cuts in proptest::collection::vec(1usize..300, 1..40),
    ) {
        let all = samples();
        let msgs: Vec<Vec<u8>> = picks.iter().enumerate()
            .map(|(i, &p)| encoded(&all[p % all.len()], &header(i as u64 + 1)))
            .collect();
        // Garbage between messages must not itself hold a frame start.
        let mut stream = Vec::new();
        let mut garbage_len = 0u64;
        for (m, g) in msgs.iter().zip(&garbage) {
            let g: Vec<u8> = g.iter().map(|&b| if b == b'8' { b'7' } else { b }).collect();
            garbage_len += g.len() as u64;
            stream.extend_from_slice(&g);
            stream.extend_from_slice(m);
        }
        let mut sb = StreamBuffer::new(1024, 128);
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let want = (*cut.next().unwrap()).min(rest.len());
            let n = sb.push(&rest[..want]);
            rest = &rest[n..];
            while let Some(m) = sb.next_message() {
                got.push(m.unwrap().to_vec());
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert_eq!(sb.framer().garbage_bytes(), garbage_len);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for m in Frames::new(&bytes, 256).flatten() {
            let _ = decode(m);
        }
        let _ = decode(&bytes);
        if let Ok(v) = MessageView::parse(&bytes) {
            let _ = v.header();
            let _ = Message::decode(&v);
        }
        let mut sb = StreamBuffer::new(128, 16);
        for chunk in bytes.chunks(7) {
            sb.push(chunk);
            while sb.next_message().is_some() {}
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(pick in 0usize..15, at in any::<usize>(), byte in any::<u8>()) {
        let all = samples();
        let mut bytes = encoded(&all[pick % all.len()], &header(1));
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = decode(&bytes);
        for m in Frames::new(&bytes, DEFAULT_MAX_BODY).flatten() {
            let _ = decode(m);
        }
    }

    #[test]
    fn fields_with_random_values_never_panic(
        tag in prop::sample::select(vec![1u32, 6, 7, 11, 14, 16, 17, 18, 31, 32, 34, 36, 37, 38, 39, 40, 41, 43, 44, 45, 52, 54, 55, 59, 60, 98, 102, 103, 108, 122, 123, 141, 150, 151, 371, 373, 434]),
        value in proptest::collection::vec(0x02u8..0xff, 1..30),
        ty in prop::sample::select(vec!["A", "0", "1", "2", "3", "4", "5", "D", "F", "G", "8", "9"]),
    ) {
        let mut body = soh(&format!("35={ty}|{HDR}"));
        body.extend_from_slice(format!("{tag}=").as_bytes());
        body.extend_from_slice(&value);
        body.push(SOH);
        let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        out.extend_from_slice(&body);
        let sum = checksum(&out);
        out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        if let Ok((h, m)) = decode(&out) {
            // Whatever decodes re-encodes to something that decodes the same.
            let again = encoded(&m, &h);
            prop_assert_eq!(decode(&again), Ok((h, m)));
        }
    }
}
