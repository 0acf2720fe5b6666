//! The one OUCH 5.0 encoder of [`OrderRequest`]s (shared by [`crate::OuchClient`]
//! and [`crate::MemoryGateway`]) and the decoder of venue messages into
//! [`ExecReport`]s.

use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty};
use quotewire_protocol::ouch::{self, tag, Appendage, Outbound};
use quotewire_protocol::soupbintcp::{packet_type, HEADER_LEN};
use quotewire_protocol::DecodeError;

use crate::{GatewayConfigError, GatewayError};

/// OUCH Display: visible.
const DISPLAY_VISIBLE: u8 = b'Y';
/// OUCH Capacity: agency.
const CAPACITY_AGENCY: u8 = b'A';
/// OUCH Intermarket Sweep Eligibility: eligible.
const ISE_ELIGIBLE: u8 = b'Y';
/// OUCH Cross Type: continuous market.
const CROSS_CONTINUOUS: u8 = b'N';
/// Largest appendage we write: Post Only (3 bytes) and Firm (6 bytes).
const MAX_OWN_APPENDAGE: usize = 3 + 6;

/// Largest SoupBinTCP packet [`OuchEncoder::encode`] writes (an Enter Order
/// with both appendages), length prefix included.
pub const MAX_REQUEST_PACKET_LEN: usize = HEADER_LEN + ouch::EnterOrder::LEN + MAX_OWN_APPENDAGE;

pub(crate) fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Encodes [`OrderRequest`]s as OUCH 5.0 messages inside SoupBinTCP
/// Unsequenced Data packets. Symbols are looked up in a direct array indexed
/// by [`InstrumentId`]: no hashing per request.
#[derive(Clone, Debug)]
pub struct OuchEncoder {
    symbols: Box<[Option<[u8; 8]>]>,
    firm: Option<[u8; 4]>,
}

impl OuchEncoder {
    /// Validates the symbols (1 to 8 printable ASCII, each instrument and
    /// symbol once) and the optional Firm appendage (1 to 4 printable ASCII).
    pub fn new(
        symbols: &[(InstrumentId, String)],
        firm: Option<&str>,
    ) -> Result<Self, GatewayConfigError> {
        let len = symbols.iter().map(|(id, _)| usize::from(id.0) + 1).max();
        let mut table = vec![None; len.unwrap_or(0)].into_boxed_slice();
        for (id, s) in symbols {
            if !printable(s, 8) {
                return Err(GatewayConfigError::InvalidSymbol(s.clone()));
            }
            let mut padded = [b' '; 8];
            for (d, b) in padded.iter_mut().zip(s.bytes()) {
                *d = b;
            }
            let duplicate = || GatewayConfigError::DuplicateSymbol {
                symbol: s.clone(),
                instrument: id.0,
            };
            if table.iter().flatten().any(|p| *p == padded) {
                return Err(duplicate());
            }
            match table.get_mut(usize::from(id.0)) {
                Some(slot @ None) => *slot = Some(padded),
                _ => return Err(duplicate()),
            }
        }
        let firm = match firm {
            None => None,
            Some(f) if printable(f, 4) => {
                let mut padded = [b' '; 4];
                for (d, b) in padded.iter_mut().zip(f.bytes()) {
                    *d = b;
                }
                Some(padded)
            }
            Some(f) => return Err(GatewayConfigError::InvalidFirm(f.to_owned())),
        };
        Ok(Self {
            symbols: table,
            firm,
        })
    }

    /// The space-padded OUCH symbol of an instrument.
    #[inline]
    #[must_use]
    pub fn symbol(&self, instrument: InstrumentId) -> Option<&[u8; 8]> {
        self.symbols.get(usize::from(instrument.0))?.as_ref()
    }

    /// Encodes `req` into `out` as one SoupBinTCP Unsequenced Data packet
    /// carrying an OUCH Enter Order `O`, Replace Order `U` or Cancel Order `X`
    /// (quantity 0); returns the bytes written. Never allocates.
    ///
    /// Enter Order: UserRefNum = `cl`, Display `Y`, Capacity `A`, ISE `Y`,
    /// Cross Type `N`, ClOrdID = `cl` in decimal (left justified, space
    /// padded), appendage Post Only (tag 12 = `P`) when `post_only` and Firm
    /// (tag 2) when configured. Replace Order: day TIF, Display `Y`, ISE `Y`,
    /// Post Only appendage when `post_only`.
    #[inline]
    pub fn encode(&self, req: &OrderRequest, out: &mut [u8]) -> Result<usize, GatewayError> {
        let Some((header, body)) = out.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(GatewayError::BufferFull);
        };
        let mut app_buf = [0u8; MAX_OWN_APPENDAGE];
        let n = match req {
            OrderRequest::New(o) => {
                let symbol = *self
                    .symbol(o.instrument)
                    .ok_or(GatewayError::UnknownInstrument)?;
                let mut app_len = 0;
                if o.post_only {
                    put_option(&mut app_buf, &mut app_len, tag::POST_ONLY, b"P");
                }
                if let Some(firm) = &self.firm {
                    put_option(&mut app_buf, &mut app_len, tag::FIRM, firm);
                }
                ouch::EnterOrder {
                    user_ref_num: o.cl.0,
                    side: wire_side(o.side),
                    quantity: wire_qty(o.qty)?,
                    symbol,
                    price: wire_price(o.price)?,
                    time_in_force: tif_byte(o.tif),
                    display: DISPLAY_VISIBLE,
                    capacity: CAPACITY_AGENCY,
                    intermarket_sweep_eligibility: ISE_ELIGIBLE,
                    cross_type: CROSS_CONTINUOUS,
                    cl_ord_id: cl_ord_id_text(o.cl),
                    appendage: appendage(&app_buf, app_len)?,
                }
                .encode(body)
            }
            OrderRequest::Replace(r) => {
                let mut app_len = 0;
                if r.post_only {
                    put_option(&mut app_buf, &mut app_len, tag::POST_ONLY, b"P");
                }
                ouch::ReplaceOrder {
                    orig_user_ref_num: r.orig.0,
                    user_ref_num: r.cl.0,
                    quantity: wire_qty(r.qty)?,
                    price: wire_price(r.price)?,
                    time_in_force: tif_byte(TimeInForce::Day),
                    display: DISPLAY_VISIBLE,
                    intermarket_sweep_eligibility: ISE_ELIGIBLE,
                    cl_ord_id: cl_ord_id_text(r.cl),
                    appendage: appendage(&app_buf, app_len)?,
                }
                .encode(body)
            }
            OrderRequest::Cancel(c) => ouch::CancelOrder {
                user_ref_num: c.cl.0,
                quantity: 0,
            }
            .encode(body),
        }
        .map_err(|_| GatewayError::BufferFull)?;
        // `n <= MAX_REQUEST_PACKET_LEN`, far below `u16::MAX`.
        let len = u16::try_from(n + 1).map_err(|_| GatewayError::Encode)?;
        let [hi, lo] = len.to_be_bytes();
        *header = [hi, lo, packet_type::UNSEQUENCED_DATA];
        Ok(HEADER_LEN + n)
    }
}

#[inline(always)]
fn put_option(buf: &mut [u8; MAX_OWN_APPENDAGE], at: &mut usize, t: u8, value: &[u8]) {
    let start = *at;
    let end = start + 2 + value.len();
    if let Some(dst) = buf.get_mut(start..end) {
        // Values are at most 4 bytes: the Length byte cannot overflow.
        dst[0] = (value.len() + 1) as u8;
        dst[1] = t;
        dst[2..].copy_from_slice(value);
        *at = end;
    }
}

#[inline(always)]
fn appendage(buf: &[u8], len: usize) -> Result<Appendage<'_>, GatewayError> {
    Appendage::parse(buf.get(..len).unwrap_or_default()).map_err(|_| GatewayError::Encode)
}

#[inline(always)]
const fn wire_side(side: quotewire_core::Side) -> ouch::Side {
    match side {
        quotewire_core::Side::Buy => ouch::Side::Buy,
        quotewire_core::Side::Sell => ouch::Side::Sell,
    }
}

#[inline(always)]
fn wire_qty(q: Qty) -> Result<u32, GatewayError> {
    u32::try_from(q.0).map_err(|_| GatewayError::InvalidQty)
}

#[inline(always)]
fn wire_price(p: Price) -> Result<u64, GatewayError> {
    u64::try_from(p.0).map_err(|_| GatewayError::InvalidPrice)
}

#[inline(always)]
const fn tif_byte(tif: TimeInForce) -> u8 {
    tif as u8
}

/// The ClOrdID text of an id: its decimal digits, left justified, space padded.
#[inline]
#[must_use]
pub fn cl_ord_id_text(cl: ClOrdId) -> [u8; 14] {
    let mut digits = [0u8; 10];
    let mut v = cl.0;
    let mut n = 0;
    loop {
        if let Some(d) = digits.get_mut(n) {
            // `v % 10 < 10`.
            *d = b'0' + (v % 10) as u8;
        }
        n += 1;
        v /= 10;
        if v == 0 || n == digits.len() {
            break;
        }
    }
    let mut out = [b' '; 14];
    for (dst, src) in out.iter_mut().zip(digits.iter().take(n).rev()) {
        *dst = *src;
    }
    out
}

/// What one venue (outbound OUCH) message means to a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decoded {
    /// An execution report for the OMS.
    Report(ExecReport),
    /// Account Query Response: the venue's next expected UserRefNum.
    AccountQuery {
        /// Next UserRefNum the venue accepts.
        next_cl: ClOrdId,
    },
    /// A valid message with no report (System Event, Restated, Priority
    /// Update, Modified, Cancel Pending); carries its type byte.
    Other(u8),
}

fn venue_price(raw: u64) -> Result<Price, DecodeError> {
    i64::try_from(raw)
        .map(Price)
        .map_err(|_| DecodeError::InvalidField {
            field: "price",
            value: 0xFF,
        })
}

/// Decodes one outbound OUCH message (the payload of a Sequenced Data packet).
/// Never panics; an undecodable message is an error to count and skip.
///
/// Accepted `A`, Replaced `U`, Canceled `C` (and AIQ Canceled `D`, as a
/// cancel of the decremented shares), Executed `E`, Rejected `J`, Cancel
/// Reject `I` and Broken Trade `B` become reports; timestamps are the
/// venue's (nanoseconds since midnight).
#[inline]
pub fn decode_message(msg: &[u8]) -> Result<Decoded, DecodeError> {
    let report = match ouch::decode_outbound(msg)? {
        Outbound::OrderAccepted(m) => ExecReport::Accepted {
            cl: ClOrdId(m.user_ref_num),
            venue_id: OrderId(m.order_reference_number),
            price: venue_price(m.price)?,
            qty: Qty(u64::from(m.quantity)),
            ts_ns: m.timestamp,
        },
        Outbound::OrderReplaced(m) => ExecReport::Replaced {
            orig: ClOrdId(m.orig_user_ref_num),
            cl: ClOrdId(m.user_ref_num),
            venue_id: OrderId(m.order_reference_number),
            price: venue_price(m.price)?,
            qty: Qty(u64::from(m.quantity)),
            ts_ns: m.timestamp,
        },
        Outbound::OrderCanceled(m) => ExecReport::Canceled {
            cl: ClOrdId(m.user_ref_num),
            qty: Qty(u64::from(m.quantity)),
            reason: CancelReason::from_byte(m.reason),
            ts_ns: m.timestamp,
        },
        Outbound::AiqCanceled(m) => ExecReport::Canceled {
            cl: ClOrdId(m.user_ref_num),
            qty: Qty(u64::from(m.decrement_shares)),
            reason: CancelReason::from_byte(m.reason),
            ts_ns: m.timestamp,
        },
        Outbound::OrderExecuted(m) => ExecReport::Executed {
            cl: ClOrdId(m.user_ref_num),
            qty: Qty(u64::from(m.quantity)),
            price: venue_price(m.price)?,
            match_number: m.match_number,
            liquidity: m.liquidity_flag,
            ts_ns: m.timestamp,
        },
        Outbound::Rejected(m) => ExecReport::Rejected {
            cl: ClOrdId(m.user_ref_num),
            reason: m.reason,
            ts_ns: m.timestamp,
        },
        Outbound::CancelReject(m) => ExecReport::CancelRejected {
            cl: ClOrdId(m.user_ref_num),
            ts_ns: m.timestamp,
        },
        Outbound::BrokenTrade(m) => ExecReport::BrokenTrade {
            cl: ClOrdId(m.user_ref_num),
            match_number: m.match_number,
            reason: m.reason,
            ts_ns: m.timestamp,
        },
        Outbound::AccountQueryResponse(m) => {
            return Ok(Decoded::AccountQuery {
                next_cl: ClOrdId(m.next_user_ref_num),
            })
        }
        other @ (Outbound::SystemEvent(_)
        | Outbound::CancelPending(_)
        | Outbound::OrderPriorityUpdate(_)
        | Outbound::OrderModified(_)
        | Outbound::OrderRestated(_)) => return Ok(Decoded::Other(other.tag())),
    };
    Ok(Decoded::Report(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use quotewire_core::order::{CancelOrder, NewOrder, ReplaceOrder};
    use quotewire_core::Side;
    use quotewire_protocol::ouch::{decode_inbound, Inbound};
    use quotewire_protocol::soupbintcp::Packet;

    const AAPL: InstrumentId = InstrumentId(7);

    fn encoder(firm: Option<&str>) -> OuchEncoder {
        OuchEncoder::new(
            &[(InstrumentId(2), "MSFT".into()), (AAPL, "AAPL".into())],
            firm,
        )
        .unwrap()
    }

    /// Encodes `req` and returns the OUCH payload of the Unsequenced Data packet.
    fn encode_payload(enc: &OuchEncoder, req: &OrderRequest) -> Vec<u8> {
        let mut buf = [0u8; MAX_REQUEST_PACKET_LEN];
        let n = enc.encode(req, &mut buf).unwrap();
        match Packet::decode(&buf[..n]).unwrap() {
            Packet::UnsequencedData(m) => m.to_vec(),
            other => panic!("not unsequenced data: {other:?}"),
        }
    }

    fn new_order(cl: u32, post_only: bool, tif: TimeInForce) -> OrderRequest {
        OrderRequest::New(NewOrder {
            cl: ClOrdId(cl),
            instrument: AAPL,
            side: Side::Sell,
            price: Price(1_234_500),
            qty: Qty(300),
            tif,
            post_only,
        })
    }

    #[test]
    fn enter_order_decodes_back_with_every_field() {
        let enc = encoder(Some("QWIR"));
        let m = encode_payload(&enc, &new_order(4_000_000_123, true, TimeInForce::Ioc));
        let Ok(Inbound::EnterOrder(e)) = decode_inbound(&m) else {
            panic!("not an enter order")
        };
        assert_eq!(e.user_ref_num, 4_000_000_123);
        assert_eq!(e.side, ouch::Side::Sell);
        assert_eq!(e.quantity, 300);
        assert_eq!(&e.symbol, b"AAPL    ");
        assert_eq!(e.price, 1_234_500);
        assert_eq!(e.time_in_force, b'3');
        assert_eq!(e.display, b'Y');
        assert_eq!(e.capacity, b'A');
        assert_eq!(e.intermarket_sweep_eligibility, b'Y');
        assert_eq!(e.cross_type, b'N');
        assert_eq!(&e.cl_ord_id, b"4000000123    ");
        assert_eq!(e.appendage.get_u8(tag::POST_ONLY), Some(b'P'));
        assert_eq!(e.appendage.get_alpha4(tag::FIRM), Some(*b"QWIR"));
        assert_eq!(e.appendage.len(), 2);
    }

    #[test]
    fn enter_order_without_options_has_an_empty_appendage() {
        let m = encode_payload(&encoder(None), &new_order(9, false, TimeInForce::Day));
        let Ok(Inbound::EnterOrder(e)) = decode_inbound(&m) else {
            panic!("not an enter order")
        };
        assert_eq!(e.time_in_force, b'0');
        assert!(e.appendage.is_empty());
        assert_eq!(&e.cl_ord_id, b"9             ");
        assert_eq!(m.len(), ouch::EnterOrder::LEN);
    }

    #[test]
    fn replace_order_decodes_back_with_post_only_kept() {
        let req = OrderRequest::Replace(ReplaceOrder {
            orig: ClOrdId(10),
            cl: ClOrdId(11),
            instrument: AAPL,
            side: Side::Buy,
            price: Price(1_234_600),
            qty: Qty(150),
            post_only: true,
        });
        let m = encode_payload(&encoder(Some("QWIR")), &req);
        let Ok(Inbound::ReplaceOrder(r)) = decode_inbound(&m) else {
            panic!("not a replace")
        };
        assert_eq!(r.orig_user_ref_num, 10);
        assert_eq!(r.user_ref_num, 11);
        assert_eq!(r.quantity, 150);
        assert_eq!(r.price, 1_234_600);
        assert_eq!(r.time_in_force, b'0');
        assert_eq!(r.display, b'Y');
        assert_eq!(&r.cl_ord_id, b"11            ");
        assert_eq!(r.appendage.get_u8(tag::POST_ONLY), Some(b'P'));
        assert_eq!(r.appendage.get(tag::FIRM), None);
    }

    #[test]
    fn cancel_order_asks_for_zero_shares() {
        let req = OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(77),
            instrument: AAPL,
            side: Side::Buy,
        });
        let m = encode_payload(&encoder(None), &req);
        assert_eq!(
            decode_inbound(&m),
            Ok(Inbound::CancelOrder(ouch::CancelOrder {
                user_ref_num: 77,
                quantity: 0
            }))
        );
    }

    #[test]
    fn unencodable_requests_are_refused_without_writing_a_packet() {
        let enc = encoder(None);
        let mut buf = [0u8; MAX_REQUEST_PACKET_LEN];
        let mut unknown = new_order(1, false, TimeInForce::Day);
        if let OrderRequest::New(o) = &mut unknown {
            o.instrument = InstrumentId(3);
        }
        assert_eq!(
            enc.encode(&unknown, &mut buf),
            Err(GatewayError::UnknownInstrument)
        );
        let mut too_big = new_order(1, false, TimeInForce::Day);
        if let OrderRequest::New(o) = &mut too_big {
            o.qty = Qty(u64::from(u32::MAX) + 1);
        }
        assert_eq!(
            enc.encode(&too_big, &mut buf),
            Err(GatewayError::InvalidQty)
        );
        let mut negative = new_order(1, false, TimeInForce::Day);
        if let OrderRequest::New(o) = &mut negative {
            o.price = Price(-1);
        }
        assert_eq!(
            enc.encode(&negative, &mut buf),
            Err(GatewayError::InvalidPrice)
        );
        let ok = new_order(1, false, TimeInForce::Day);
        assert_eq!(
            enc.encode(&ok, &mut buf[..20]),
            Err(GatewayError::BufferFull)
        );
    }

    #[test]
    fn symbol_configuration_is_validated() {
        assert!(matches!(
            OuchEncoder::new(&[(AAPL, "TOOLONGSYM".into())], None),
            Err(GatewayConfigError::InvalidSymbol(_))
        ));
        assert!(matches!(
            OuchEncoder::new(&[(AAPL, "A B".into())], None),
            Err(GatewayConfigError::InvalidSymbol(_))
        ));
        assert!(matches!(
            OuchEncoder::new(
                &[(AAPL, "AAPL".into()), (InstrumentId(1), "AAPL".into())],
                None
            ),
            Err(GatewayConfigError::DuplicateSymbol { .. })
        ));
        assert!(matches!(
            OuchEncoder::new(&[(AAPL, "AAPL".into()), (AAPL, "MSFT".into())], None),
            Err(GatewayConfigError::DuplicateSymbol { .. })
        ));
        assert!(matches!(
            OuchEncoder::new(&[], Some("FIVES")),
            Err(GatewayConfigError::InvalidFirm(_))
        ));
        let enc = encoder(None);
        assert_eq!(enc.symbol(AAPL), Some(b"AAPL    "));
        assert_eq!(enc.symbol(InstrumentId(3)), None);
        assert_eq!(enc.symbol(InstrumentId(60_000)), None);
    }

    fn out<'a>(m: impl Into<Outbound<'a>>) -> Vec<u8> {
        let m: Outbound<'a> = m.into();
        let mut b = vec![0u8; m.encoded_len()];
        m.encode(&mut b).unwrap();
        b
    }

    #[test]
    fn venue_messages_decode_into_the_right_reports() {
        let accepted = out(ouch::OrderAccepted {
            timestamp: 5,
            user_ref_num: 3,
            side: ouch::Side::Buy,
            quantity: 100,
            symbol: *b"AAPL    ",
            price: 1_000_000,
            time_in_force: b'0',
            display: b'Y',
            order_reference_number: 99,
            capacity: b'A',
            intermarket_sweep_eligibility: b'Y',
            cross_type: b'N',
            order_state: b'L',
            cl_ord_id: cl_ord_id_text(ClOrdId(3)),
            appendage: Appendage::EMPTY,
        });
        assert_eq!(
            decode_message(&accepted),
            Ok(Decoded::Report(ExecReport::Accepted {
                cl: ClOrdId(3),
                venue_id: OrderId(99),
                price: Price(1_000_000),
                qty: Qty(100),
                ts_ns: 5
            }))
        );
        let replaced = out(ouch::OrderReplaced {
            timestamp: 6,
            orig_user_ref_num: 3,
            user_ref_num: 4,
            side: ouch::Side::Buy,
            quantity: 80,
            symbol: *b"AAPL    ",
            price: 1_000_100,
            time_in_force: b'0',
            display: b'Y',
            order_reference_number: 100,
            capacity: b'A',
            intermarket_sweep_eligibility: b'Y',
            cross_type: b'N',
            order_state: b'L',
            cl_ord_id: cl_ord_id_text(ClOrdId(4)),
            appendage: Appendage::EMPTY,
        });
        assert_eq!(
            decode_message(&replaced),
            Ok(Decoded::Report(ExecReport::Replaced {
                orig: ClOrdId(3),
                cl: ClOrdId(4),
                venue_id: OrderId(100),
                price: Price(1_000_100),
                qty: Qty(80),
                ts_ns: 6
            }))
        );
        let canceled = out(ouch::OrderCanceled {
            timestamp: 7,
            user_ref_num: 4,
            quantity: 80,
            reason: b'U',
        });
        assert_eq!(
            decode_message(&canceled),
            Ok(Decoded::Report(ExecReport::Canceled {
                cl: ClOrdId(4),
                qty: Qty(80),
                reason: CancelReason::User,
                ts_ns: 7
            }))
        );
        let aiq = out(ouch::AiqCanceled {
            timestamp: 8,
            user_ref_num: 5,
            decrement_shares: 20,
            reason: b'Q',
            quantity_prevented_from_trading: 20,
            execution_price: 1_000_000,
            liquidity_flag: b'A',
            aiq_strategy: b'O',
        });
        assert_eq!(
            decode_message(&aiq),
            Ok(Decoded::Report(ExecReport::Canceled {
                cl: ClOrdId(5),
                qty: Qty(20),
                reason: CancelReason::SelfMatch,
                ts_ns: 8
            }))
        );
        let executed = out(ouch::OrderExecuted {
            timestamp: 9,
            user_ref_num: 6,
            quantity: 40,
            price: 999_900,
            liquidity_flag: b'R',
            match_number: 1234,
            appendage: Appendage::EMPTY,
        });
        assert_eq!(
            decode_message(&executed),
            Ok(Decoded::Report(ExecReport::Executed {
                cl: ClOrdId(6),
                qty: Qty(40),
                price: Price(999_900),
                match_number: 1234,
                liquidity: b'R',
                ts_ns: 9
            }))
        );
        let rejected = out(ouch::Rejected {
            timestamp: 10,
            user_ref_num: 7,
            reason: 0x17,
            cl_ord_id: cl_ord_id_text(ClOrdId(7)),
        });
        assert_eq!(
            decode_message(&rejected),
            Ok(Decoded::Report(ExecReport::Rejected {
                cl: ClOrdId(7),
                reason: 0x17,
                ts_ns: 10
            }))
        );
        let cancel_reject = out(ouch::CancelReject {
            timestamp: 11,
            user_ref_num: 8,
        });
        assert_eq!(
            decode_message(&cancel_reject),
            Ok(Decoded::Report(ExecReport::CancelRejected {
                cl: ClOrdId(8),
                ts_ns: 11
            }))
        );
        let broken = out(ouch::BrokenTrade {
            timestamp: 12,
            user_ref_num: 6,
            match_number: 1234,
            reason: b'E',
            cl_ord_id: cl_ord_id_text(ClOrdId(6)),
        });
        assert_eq!(
            decode_message(&broken),
            Ok(Decoded::Report(ExecReport::BrokenTrade {
                cl: ClOrdId(6),
                match_number: 1234,
                reason: b'E',
                ts_ns: 12
            }))
        );
        let query = out(ouch::AccountQueryResponse {
            timestamp: 13,
            next_user_ref_num: 42,
        });
        assert_eq!(
            decode_message(&query),
            Ok(Decoded::AccountQuery {
                next_cl: ClOrdId(42)
            })
        );
        let event = out(ouch::SystemEvent {
            timestamp: 14,
            event_code: b'E',
        });
        assert_eq!(decode_message(&event), Ok(Decoded::Other(b'S')));
        let pending = out(ouch::CancelPending {
            timestamp: 15,
            user_ref_num: 6,
        });
        assert_eq!(decode_message(&pending), Ok(Decoded::Other(b'P')));
    }

    #[test]
    fn a_price_above_i64_is_a_decode_error_not_a_wrapped_price() {
        let executed = out(ouch::OrderExecuted {
            timestamp: 9,
            user_ref_num: 6,
            quantity: 40,
            price: u64::MAX,
            liquidity_flag: b'R',
            match_number: 1,
            appendage: Appendage::EMPTY,
        });
        assert!(decode_message(&executed).is_err());
    }

    #[test]
    fn cl_ord_id_text_is_left_justified_decimal() {
        assert_eq!(&cl_ord_id_text(ClOrdId(0)), b"0             ");
        assert_eq!(&cl_ord_id_text(ClOrdId(u32::MAX)), b"4294967295    ");
        assert_eq!(&cl_ord_id_text(ClOrdId(120)), b"120           ");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_message(&bytes);
        }

        #[test]
        fn garbage_with_a_valid_type_byte_never_panics(
            tag in proptest::sample::select(b"SAUCDEBJPITMRQ".to_vec()),
            rest in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut bytes = vec![tag];
            bytes.extend_from_slice(&rest);
            let _ = decode_message(&bytes);
        }

        #[test]
        fn every_new_order_round_trips(
            cl in any::<u32>(),
            price in 0i64..=i64::MAX,
            qty in 0u64..=u64::from(u32::MAX),
            buy in any::<bool>(),
            ioc in any::<bool>(),
            post_only in any::<bool>(),
        ) {
            let req = OrderRequest::New(NewOrder {
                cl: ClOrdId(cl),
                instrument: AAPL,
                side: if buy { Side::Buy } else { Side::Sell },
                price: Price(price),
                qty: Qty(qty),
                tif: if ioc { TimeInForce::Ioc } else { TimeInForce::Day },
                post_only,
            });
            let m = encode_payload(&encoder(None), &req);
            let Ok(Inbound::EnterOrder(e)) = decode_inbound(&m) else {
                return Err(TestCaseError::fail("not an enter order"));
            };
            prop_assert_eq!(e.user_ref_num, cl);
            prop_assert_eq!(e.side.book_side(), if buy { Side::Buy } else { Side::Sell });
            prop_assert_eq!(i64::try_from(e.price).unwrap(), price);
            prop_assert_eq!(u64::from(e.quantity), qty);
            prop_assert_eq!(e.time_in_force, if ioc { b'3' } else { b'0' });
            prop_assert_eq!(e.appendage.get_u8(tag::POST_ONLY) == Some(b'P'), post_only);
            let text = core::str::from_utf8(&e.cl_ord_id).unwrap().trim_end();
            prop_assert_eq!(text.parse::<u32>().unwrap(), cl);
        }
    }
}
