//! Application messages of the FIX client: [`OrderRequest`]s encoded as
//! NewOrderSingle(D), OrderCancelRequest(F) and OrderCancelReplaceRequest(G),
//! and ExecutionReport(8) / OrderCancelReject(9) decoded into [`ExecReport`]s.
//!
//! Identifiers: a [`ClOrdId`] travels as its decimal digits (`ClOrdID=42`).
//! An OrderCancelRequest needs its own ClOrdID; it is the order's id, `C` and
//! the request's MsgSeqNum (`42C118`), unique as long as sequence numbers are
//! not reset within the day. Reading an id back takes its leading digits, so
//! reports naming a cancel request map to the order it cancelled.
//!
//! FIX's OrderQty on a replace is the new *total* quantity (executed shares
//! included), where [`ReplaceOrder::qty`](quotewire_core::order::ReplaceOrder)
//! is the new *open* quantity: the encoder adds the CumQty it last saw for
//! the order, kept in a direct-mapped table indexed by ClOrdId (no hashing,
//! no allocation; an id evicted by a newer one with the same index counts as
//! unfilled). The same table keeps LeavesQty, to turn a venue's in-place
//! reduction (ExecType Replaced without a new ClOrdID) into a `Canceled` of
//! the shares it took off.

use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty};
use quotewire_protocol::fix::{
    tag, ExecInst, ExecType, ExecutionReport, FieldError, FixId, Header, MessageView,
    NewOrderSingle, OrdType, OrderCancelReject, OrderCancelReplaceRequest, OrderCancelRequest,
    TimeInForce as FixTif,
};

use crate::{GatewayConfigError, GatewayError};

/// LastLiquidityInd(851).
const LAST_LIQUIDITY_IND: u32 = 851;
/// ExecRefID(19): the ExecID a TradeCancel breaks.
const EXEC_REF_ID: u32 = 19;

/// A FIX identifier from configuration: 1 to 32 printable ASCII, no spaces.
pub(crate) fn fix_id(what: &'static str, value: &str) -> Result<FixId, GatewayConfigError> {
    let bad = || GatewayConfigError::InvalidFixValue {
        what,
        value: value.to_owned(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    FixId::from_str(value).map_err(|_| bad())
}

/// Decimal digits of `n` into `out`; returns how many.
#[inline]
fn digits(mut n: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(d) = tmp.get_mut(i) {
            // `n % 10 < 10`.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    let src = tmp.get(i..).unwrap_or_default();
    let n = src.len().min(out.len());
    if let (Some(d), Some(s)) = (out.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

/// A value made only of decimal digits (at most 19), or `None`.
#[inline]
pub(crate) fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')))
}

/// The [`ClOrdId`] a ClOrdID names: its leading decimal digits (ours are
/// `<id>` or `<id>C<seq>`); `None` for ids that are not ours.
#[inline]
#[must_use]
pub fn parse_cl_ord_id(v: &[u8]) -> Option<ClOrdId> {
    let end = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    if end == 0 || end > 10 {
        return None;
    }
    let n = v
        .get(..end)?
        .iter()
        .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    u32::try_from(n).ok().map(ClOrdId)
}

/// One order's quantities as last reported.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    cl: u32,
    cum: u64,
    leaves: u64,
}

/// What one application message from the acceptor means to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppIn {
    /// A report for the sink.
    Report(ExecReport),
    /// A valid message without a report (pending states, restatements, ...).
    Other,
    /// A report about a ClOrdID that is not ours.
    Foreign,
}

/// Symbol table, Account and the per-order quantity table.
#[derive(Debug)]
pub(crate) struct FixOrders {
    symbols: Box<[Option<FixId>]>,
    account: Option<FixId>,
    table: Box<[Slot]>,
    mask: usize,
}

impl FixOrders {
    /// Validates the symbols (1 to 32 printable ASCII, each instrument and
    /// symbol once) and sizes the quantity table (rounded up to a power of two).
    pub(crate) fn new(
        symbols: &[(InstrumentId, String)],
        account: Option<&str>,
        max_orders: usize,
    ) -> Result<Self, GatewayConfigError> {
        if max_orders == 0 {
            return Err(GatewayConfigError::ZeroCapacity("max_orders"));
        }
        let len = symbols.iter().map(|(id, _)| usize::from(id.0) + 1).max();
        let mut table = vec![None; len.unwrap_or(0)].into_boxed_slice();
        for (id, s) in symbols {
            let sym = fix_id("symbol", s)?;
            let duplicate = || GatewayConfigError::DuplicateSymbol {
                symbol: s.clone(),
                instrument: id.0,
            };
            if table.iter().flatten().any(|p| *p == sym) {
                return Err(duplicate());
            }
            match table.get_mut(usize::from(id.0)) {
                Some(slot @ None) => *slot = Some(sym),
                _ => return Err(duplicate()),
            }
        }
        let account = account.map(|a| fix_id("account", a)).transpose()?;
        let cap = max_orders.next_power_of_two();
        Ok(Self {
            symbols: table,
            account,
            table: vec![Slot::default(); cap].into_boxed_slice(),
            mask: cap - 1,
        })
    }

    /// The Symbol(55) of an instrument.
    #[inline]
    pub(crate) fn symbol(&self, instrument: InstrumentId) -> Option<&FixId> {
        self.symbols.get(usize::from(instrument.0))?.as_ref()
    }

    #[inline]
    fn slot(&self, cl: ClOrdId) -> Option<Slot> {
        let s = *self.table.get(cl.0 as usize & self.mask)?;
        (s.cl == cl.0 && cl.0 != 0).then_some(s)
    }

    #[inline]
    fn set_slot(&mut self, cl: ClOrdId, cum: Qty, leaves: Qty) {
        if let Some(s) = self.table.get_mut(cl.0 as usize & self.mask) {
            *s = Slot {
                cl: cl.0,
                cum: cum.0,
                leaves: leaves.0,
            };
        }
    }

    /// Encodes `req` as one message with `header` into `out`; returns its
    /// length. `header.sending_time` is also the TransactTime. Never allocates.
    pub(crate) fn encode(
        &mut self,
        req: &OrderRequest,
        header: &Header<'_>,
        out: &mut [u8],
    ) -> Result<usize, GatewayError> {
        let symbol = *self
            .symbol(req.instrument())
            .ok_or(GatewayError::UnknownInstrument)?;
        let account = self.account;
        let account = account.as_ref().map(FixId::as_bytes);
        let now = header.sending_time;
        let mut id = [0u8; 20];
        let mut orig = [0u8; 20];
        let n = match req {
            OrderRequest::New(o) => {
                let len = digits(u64::from(o.cl.0), &mut id);
                let n = NewOrderSingle {
                    cl_ord_id: id.get(..len).unwrap_or_default(),
                    account,
                    exec_inst: exec_inst(o.post_only),
                    symbol: symbol.as_bytes(),
                    side: o.side,
                    transact_time: now,
                    order_qty: o.qty,
                    ord_type: OrdType::Limit,
                    price: Some(o.price),
                    time_in_force: Some(match o.tif {
                        TimeInForce::Day => FixTif::Day,
                        TimeInForce::Ioc => FixTif::ImmediateOrCancel,
                    }),
                    text: None,
                }
                .encode(header, out);
                if n.is_ok() {
                    self.set_slot(o.cl, Qty(0), o.qty);
                }
                n
            }
            OrderRequest::Replace(r) => {
                let cum = self.slot(r.orig).map_or(0, |s| s.cum);
                let len = digits(u64::from(r.cl.0), &mut id);
                let orig_len = digits(u64::from(r.orig.0), &mut orig);
                OrderCancelReplaceRequest {
                    order_id: None,
                    orig_cl_ord_id: orig.get(..orig_len).unwrap_or_default(),
                    cl_ord_id: id.get(..len).unwrap_or_default(),
                    account,
                    exec_inst: exec_inst(r.post_only),
                    symbol: symbol.as_bytes(),
                    side: r.side,
                    transact_time: now,
                    order_qty: Qty(r.qty.0.saturating_add(cum)),
                    ord_type: OrdType::Limit,
                    price: Some(r.price),
                    time_in_force: Some(FixTif::Day),
                    text: None,
                }
                .encode(header, out)
            }
            OrderRequest::Cancel(c) => {
                let orig_len = digits(u64::from(c.cl.0), &mut orig);
                let mut len = digits(u64::from(c.cl.0), &mut id);
                if let Some(b) = id.get_mut(len) {
                    *b = b'C';
                    len += 1;
                }
                len += digits(header.msg_seq_num, id.get_mut(len..).unwrap_or_default());
                OrderCancelRequest {
                    orig_cl_ord_id: orig.get(..orig_len).unwrap_or_default(),
                    order_id: None,
                    cl_ord_id: id.get(..len).unwrap_or_default(),
                    account,
                    symbol: symbol.as_bytes(),
                    side: c.side,
                    transact_time: now,
                    order_qty: None,
                    text: None,
                }
                .encode(header, out)
            }
        };
        n.map_err(|e| match e {
            quotewire_protocol::EncodeError::BufferTooSmall { .. } => GatewayError::BufferFull,
            _ => GatewayError::Encode,
        })
    }

    /// Maps an ExecutionReport. `ts_ns` is the report's venue time (see the
    /// client docs). `view` gives the fields the codec does not model
    /// (LastLiquidityInd(851), ExecRefID(19)).
    pub(crate) fn execution_report(
        &mut self,
        er: &ExecutionReport<'_>,
        view: &MessageView<'_>,
        ts_ns: u64,
    ) -> Result<AppIn, FieldError> {
        let Some(cl) = er.cl_ord_id.and_then(parse_cl_ord_id) else {
            return Ok(AppIn::Foreign);
        };
        let orig = er.orig_cl_ord_id.and_then(parse_cl_ord_id);
        let venue_id = OrderId(decimal(er.order_id).unwrap_or(0));
        let known = self.slot(cl);
        let report = match er.exec_type {
            ExecType::New => {
                self.set_slot(cl, er.cum_qty, er.leaves_qty);
                ExecReport::Accepted {
                    cl,
                    venue_id,
                    price: er.price.unwrap_or(Price(0)),
                    qty: er.leaves_qty,
                    ts_ns,
                }
            }
            ExecType::Trade => {
                let qty = er.last_qty.ok_or(FieldError::missing(tag::LAST_QTY))?;
                let price = er.last_px.ok_or(FieldError::missing(tag::LAST_PX))?;
                self.set_slot(cl, er.cum_qty, er.leaves_qty);
                ExecReport::Executed {
                    cl,
                    qty,
                    price,
                    match_number: decimal(er.exec_id).unwrap_or(0),
                    liquidity: match view.get(LAST_LIQUIDITY_IND) {
                        Some(b"1") => b'A',
                        Some(b"2") => b'R',
                        Some(b"3") => b'X',
                        _ => 0,
                    },
                    ts_ns,
                }
            }
            ExecType::Canceled | ExecType::Expired | ExecType::DoneForDay => {
                let target = orig.unwrap_or(cl);
                let prev = self.slot(target).map(|s| s.leaves);
                let qty = match (er.order_qty, prev) {
                    (Some(q), _) => {
                        q.0.saturating_sub(er.cum_qty.0)
                            .saturating_sub(er.leaves_qty.0)
                    }
                    (None, Some(prev)) => prev.saturating_sub(er.leaves_qty.0),
                    // Unknown order size: a done order loses whatever it had open.
                    (None, None) if er.leaves_qty.0 == 0 => u64::from(u32::MAX),
                    (None, None) => 0,
                };
                self.set_slot(target, er.cum_qty, er.leaves_qty);
                let reason = if er.exec_type != ExecType::Canceled {
                    CancelReason::Venue
                } else if orig.is_some() {
                    CancelReason::User
                } else if er.time_in_force == Some(FixTif::ImmediateOrCancel) {
                    CancelReason::Ioc
                } else {
                    CancelReason::Venue
                };
                ExecReport::Canceled {
                    cl: target,
                    qty: Qty(qty),
                    reason,
                    ts_ns,
                }
            }
            ExecType::Replaced => match orig.filter(|o| *o != cl) {
                Some(orig) => {
                    self.set_slot(cl, er.cum_qty, er.leaves_qty);
                    ExecReport::Replaced {
                        orig,
                        cl,
                        venue_id,
                        price: er.price.unwrap_or(Price(0)),
                        qty: er.leaves_qty,
                        ts_ns,
                    }
                }
                // Reduced in place, same id: a decrement of the open shares.
                None => {
                    let Some(prev) = known else {
                        return Ok(AppIn::Other);
                    };
                    self.set_slot(cl, er.cum_qty, er.leaves_qty);
                    ExecReport::Canceled {
                        cl,
                        qty: Qty(prev.leaves.saturating_sub(er.leaves_qty.0)),
                        reason: CancelReason::Venue,
                        ts_ns,
                    }
                }
            },
            ExecType::Rejected => ExecReport::Rejected {
                cl,
                reason: er
                    .ord_rej_reason
                    .map_or(99, |r| u16::try_from(r).unwrap_or(u16::MAX)),
                ts_ns,
            },
            ExecType::TradeCancel => ExecReport::BrokenTrade {
                cl,
                match_number: view.get(EXEC_REF_ID).and_then(decimal).unwrap_or(0),
                reason: b'H',
                ts_ns,
            },
            _ => return Ok(AppIn::Other),
        };
        Ok(AppIn::Report(report))
    }

    /// Maps an OrderCancelReject: the order named by OrigClOrdID is unchanged.
    pub(crate) fn cancel_reject(r: &OrderCancelReject<'_>, ts_ns: u64) -> AppIn {
        match parse_cl_ord_id(r.orig_cl_ord_id).or_else(|| parse_cl_ord_id(r.cl_ord_id)) {
            Some(cl) => AppIn::Report(ExecReport::CancelRejected { cl, ts_ns }),
            None => AppIn::Foreign,
        }
    }
}

#[inline(always)]
const fn exec_inst(post_only: bool) -> ExecInst {
    if post_only {
        ExecInst::post_only()
    } else {
        ExecInst::EMPTY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_core::order::{CancelOrder, NewOrder, ReplaceOrder};
    use quotewire_core::Side;
    use quotewire_protocol::fix::{self, Message, OrdStatus};

    const AAPL: InstrumentId = InstrumentId(3);

    fn orders() -> FixOrders {
        FixOrders::new(&[(AAPL, "AAPL".into())], Some("ACC1"), 1024).unwrap()
    }

    fn header(seq: u64) -> Header<'static> {
        Header {
            sender_comp_id: b"CLIENT",
            target_comp_id: b"VENUE",
            msg_seq_num: seq,
            sending_time: 1_700_000_000_123_000_000,
            poss_dup: false,
            orig_sending_time: None,
        }
    }

    fn encode(o: &mut FixOrders, req: &OrderRequest, seq: u64) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let n = o.encode(req, &header(seq), &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn report(exec_type: ExecType, cl: &'static [u8]) -> ExecutionReport<'static> {
        ExecutionReport {
            order_id: b"77",
            cl_ord_id: Some(cl),
            orig_cl_ord_id: None,
            exec_id: b"1001",
            exec_type,
            ord_status: OrdStatus::New,
            ord_rej_reason: None,
            account: None,
            symbol: b"AAPL",
            side: Side::Buy,
            order_qty: Some(Qty(100)),
            ord_type: Some(OrdType::Limit),
            price: Some(Price(1_002_500)),
            time_in_force: None,
            exec_inst: ExecInst::EMPTY,
            last_qty: None,
            last_px: None,
            leaves_qty: Qty(100),
            cum_qty: Qty(0),
            avg_px: Price(0),
            transact_time: Some(5),
            text: None,
        }
    }

    /// Encodes `er` and maps it back, as the client does.
    fn map(o: &mut FixOrders, er: &ExecutionReport<'_>) -> AppIn {
        let mut buf = [0u8; 512];
        let n = er.encode(&header(1), &mut buf).unwrap();
        let view = MessageView::parse(&buf[..n]).unwrap();
        let Ok(Message::ExecutionReport(er)) = Message::decode(&view) else {
            panic!("not an execution report");
        };
        o.execution_report(&er, &view, 9).unwrap()
    }

    #[test]
    fn new_order_single_carries_every_field_the_venue_needs() {
        let mut o = orders();
        let req = OrderRequest::New(NewOrder {
            cl: ClOrdId(42),
            instrument: AAPL,
            side: Side::Sell,
            price: Price(1_002_500),
            qty: Qty(300),
            tif: TimeInForce::Ioc,
            post_only: false,
        });
        let bytes = encode(&mut o, &req, 7);
        let (h, m) = fix::decode(&bytes).unwrap();
        assert_eq!(h.msg_seq_num, 7);
        let Message::NewOrderSingle(m) = m else {
            panic!("{m:?}");
        };
        assert_eq!(m.cl_ord_id, b"42");
        assert_eq!(m.account, Some(&b"ACC1"[..]));
        assert_eq!(m.symbol, b"AAPL");
        assert_eq!(m.side, Side::Sell);
        assert_eq!(m.price, Some(Price(1_002_500)));
        assert_eq!(m.order_qty, Qty(300));
        assert_eq!(m.ord_type, OrdType::Limit);
        assert_eq!(m.time_in_force, Some(FixTif::ImmediateOrCancel));
        assert_eq!(m.transact_time, h.sending_time);
    }

    #[test]
    fn replace_sends_open_quantity_plus_what_was_filled() {
        let mut o = orders();
        let new = OrderRequest::New(NewOrder {
            cl: ClOrdId(5),
            instrument: AAPL,
            side: Side::Buy,
            price: Price(1_000_000),
            qty: Qty(100),
            tif: TimeInForce::Day,
            post_only: true,
        });
        let bytes = encode(&mut o, &new, 1);
        assert!(
            bytes.windows(5).any(|w| w == b"\x0118=6"),
            "post-only is ExecInst 6"
        );
        let mut fill = report(ExecType::Trade, b"5");
        fill.last_qty = Some(Qty(30));
        fill.last_px = Some(Price(1_000_000));
        fill.cum_qty = Qty(30);
        fill.leaves_qty = Qty(70);
        let AppIn::Report(ExecReport::Executed {
            qty, match_number, ..
        }) = map(&mut o, &fill)
        else {
            panic!("expected a fill");
        };
        assert_eq!((qty, match_number), (Qty(30), 1001));
        let replace = OrderRequest::Replace(ReplaceOrder {
            orig: ClOrdId(5),
            cl: ClOrdId(6),
            instrument: AAPL,
            side: Side::Buy,
            price: Price(1_000_100),
            qty: Qty(50),
            post_only: false,
        });
        let bytes = encode(&mut o, &replace, 2);
        let (_, m) = fix::decode(&bytes).unwrap();
        let Message::OrderCancelReplaceRequest(m) = m else {
            panic!("{m:?}");
        };
        assert_eq!((m.orig_cl_ord_id, m.cl_ord_id), (&b"5"[..], &b"6"[..]));
        assert_eq!(m.order_qty, Qty(80), "50 open + 30 filled");
    }

    #[test]
    fn cancel_request_ids_are_unique_and_map_back_to_the_order() {
        let mut o = orders();
        let cancel = OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(12),
            instrument: AAPL,
            side: Side::Buy,
        });
        let bytes = encode(&mut o, &cancel, 118);
        let (_, m) = fix::decode(&bytes).unwrap();
        let Message::OrderCancelRequest(m) = m else {
            panic!("{m:?}");
        };
        assert_eq!(
            (m.orig_cl_ord_id, m.cl_ord_id),
            (&b"12"[..], &b"12C118"[..])
        );
        assert_eq!(parse_cl_ord_id(m.cl_ord_id), Some(ClOrdId(12)));
        let mut er = report(ExecType::Canceled, b"12C118");
        er.orig_cl_ord_id = Some(b"12");
        er.leaves_qty = Qty(0);
        er.cum_qty = Qty(40);
        assert_eq!(
            map(&mut o, &er),
            AppIn::Report(ExecReport::Canceled {
                cl: ClOrdId(12),
                qty: Qty(60),
                reason: CancelReason::User,
                ts_ns: 9
            })
        );
    }

    #[test]
    fn unknown_instruments_and_foreign_ids_are_refused() {
        let mut o = orders();
        let req = OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(1),
            instrument: InstrumentId(9),
            side: Side::Buy,
        });
        let mut buf = [0u8; 512];
        assert_eq!(
            o.encode(&req, &header(1), &mut buf),
            Err(GatewayError::UnknownInstrument)
        );
        assert_eq!(map(&mut o, &report(ExecType::New, b"O1")), AppIn::Foreign);
        assert_eq!(parse_cl_ord_id(b"12345678901"), None);
    }

    #[test]
    fn each_exec_type_maps_to_its_report() {
        let mut o = orders();
        assert_eq!(
            map(&mut o, &report(ExecType::New, b"8")),
            AppIn::Report(ExecReport::Accepted {
                cl: ClOrdId(8),
                venue_id: OrderId(77),
                price: Price(1_002_500),
                qty: Qty(100),
                ts_ns: 9
            })
        );
        let mut rep = report(ExecType::Replaced, b"9");
        rep.orig_cl_ord_id = Some(b"8");
        rep.leaves_qty = Qty(60);
        rep.order_id = b"78";
        assert_eq!(
            map(&mut o, &rep),
            AppIn::Report(ExecReport::Replaced {
                orig: ClOrdId(8),
                cl: ClOrdId(9),
                venue_id: OrderId(78),
                price: Price(1_002_500),
                qty: Qty(60),
                ts_ns: 9
            })
        );
        // The venue reduced order 9 in place: 60 -> 45 open.
        let mut reduce = report(ExecType::Replaced, b"9");
        reduce.leaves_qty = Qty(45);
        assert_eq!(
            map(&mut o, &reduce),
            AppIn::Report(ExecReport::Canceled {
                cl: ClOrdId(9),
                qty: Qty(15),
                reason: CancelReason::Venue,
                ts_ns: 9
            })
        );
        let mut rej = report(ExecType::Rejected, b"10");
        rej.ord_rej_reason = Some(3);
        assert_eq!(
            map(&mut o, &rej),
            AppIn::Report(ExecReport::Rejected {
                cl: ClOrdId(10),
                reason: 3,
                ts_ns: 9
            })
        );
        let mut ioc = report(ExecType::Canceled, b"11");
        ioc.time_in_force = Some(FixTif::ImmediateOrCancel);
        ioc.leaves_qty = Qty(0);
        assert!(matches!(
            map(&mut o, &ioc),
            AppIn::Report(ExecReport::Canceled {
                reason: CancelReason::Ioc,
                qty: Qty(100),
                ..
            })
        ));
        assert_eq!(
            map(&mut o, &report(ExecType::PendingNew, b"12")),
            AppIn::Other
        );
        let mut fill = report(ExecType::Trade, b"8");
        fill.last_qty = None;
        let mut buf = [0u8; 512];
        let n = fill.encode(&header(1), &mut buf).unwrap();
        let view = MessageView::parse(&buf[..n]).unwrap();
        let Ok(Message::ExecutionReport(er)) = Message::decode(&view) else {
            panic!();
        };
        assert_eq!(
            o.execution_report(&er, &view, 1),
            Err(FieldError::missing(tag::LAST_QTY))
        );
    }

    #[test]
    fn configuration_refuses_bad_symbols_and_accounts() {
        let bad = FixOrders::new(&[(AAPL, "A B".into())], None, 8).unwrap_err();
        assert!(matches!(
            bad,
            GatewayConfigError::InvalidFixValue { what: "symbol", .. }
        ));
        let dup = FixOrders::new(
            &[(AAPL, "X".into()), (InstrumentId(4), "X".into())],
            None,
            8,
        );
        assert!(matches!(
            dup,
            Err(GatewayConfigError::DuplicateSymbol { .. })
        ));
        assert!(FixOrders::new(&[], Some(""), 8).is_err());
        assert!(FixOrders::new(&[], None, 0).is_err());
    }
}
