//! One OUCH account: its sequenced message log, its UserRefNum watermark, the
//! orders it has open, and the translation between matching [`Event`]s and
//! OUCH 5.0 outbound messages (and OUCH inbound messages and [`Command`]s).
//!
//! No sockets here: the connection layer only copies bytes out of [`SeqLog`].

use super::since_midnight;
use hashbrown::{HashMap, HashSet};
use quotewire_core::{InstrumentId, Price, Qty, Timestamp};
use quotewire_protocol::ouch::{self, tag, Appendage, Outbound};

use crate::matching::{
    self, CancelReason, ClientOrderId, Command, Event, FirmId, OrderType, RejectReason, RequestKind,
};

/// OUCH 5.0 `Rejected` (`J`) reason codes used by the gateway (2-byte
/// integers; names as in the specification's table).
pub(super) mod reject_code {
    /// 0x000A Processing Error.
    pub(crate) const PROCESSING_ERROR: u16 = 0x000A;
    /// 0x000F Other. Also used for a non-increasing UserRefNum: the code table
    /// (0x0001-0x0033) has no dedicated entry for it.
    pub(crate) const OTHER: u16 = 0x000F;
    /// 0x0012 Crossed Market (a post-only order that would take).
    pub(crate) const CROSSED_MARKET: u16 = 0x0012;
    /// 0x0013 Invalid Quantity.
    pub(crate) const INVALID_QUANTITY: u16 = 0x0013;
    /// 0x0017 Invalid Symbol.
    pub(crate) const INVALID_SYMBOL: u16 = 0x0017;
    /// 0x001D Invalid Price.
    pub(crate) const INVALID_PRICE: u16 = 0x001D;
}

/// OUCH 5.0 Time In Force `3`: immediate or cancel. Every other value
/// (`0` day, `5` GTX, `6` GTT, `E` after hours) is a day order here: the
/// simulator has no trading sessions or expiry times.
pub(super) const TIF_IOC: u8 = b'3';

/// The `J` reason code for a matching refusal.
pub(super) const fn ouch_reject_code(reason: RejectReason) -> u16 {
    match reason {
        RejectReason::UnknownInstrument => reject_code::INVALID_SYMBOL,
        RejectReason::ZeroQty | RejectReason::QtyAboveMax => reject_code::INVALID_QUANTITY,
        RejectReason::OffTick | RejectReason::OutsideBand => reject_code::INVALID_PRICE,
        RejectReason::PostOnlyWouldTake => reject_code::CROSSED_MARKET,
        RejectReason::CapacityExceeded => reject_code::PROCESSING_ERROR,
        RejectReason::DuplicateClientId | RejectReason::UnknownOrder | RejectReason::NotReduced => {
            reject_code::OTHER
        }
    }
}

/// The `C` reason byte for a matching cancel reason.
pub(super) const fn ouch_cancel_reason(reason: CancelReason) -> u8 {
    match reason {
        CancelReason::User => b'U',
        CancelReason::ImmediateOrCancel => b'I',
        CancelReason::SelfMatch => b'Q',
    }
}

/// Echoed on Order Accepted for a post-only order: TagValue `POST_ONLY = 'P'`.
const POST_ONLY_APPENDAGE: [u8; 3] = [2, tag::POST_ONLY, b'P'];

/// Every sequenced OUCH message of one account's session, in order, kept for
/// the whole session so that any login can replay from any sequence number.
#[derive(Debug, Default)]
pub(super) struct SeqLog {
    bytes: Vec<u8>,
    /// `ends[i]` is the end offset of message `i + 1` in `bytes`.
    ends: Vec<usize>,
}

impl SeqLog {
    /// Messages logged so far (the sequence number of the last one).
    pub(super) fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    /// Sequence number the next message will get.
    pub(super) fn next_seq(&self) -> u64 {
        self.len() + 1
    }

    /// Message `seq` (1-based).
    pub(super) fn get(&self, seq: u64) -> Option<&[u8]> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
            None => 0,
        };
        self.bytes.get(start..end)
    }

    /// Appends one message, encoded in place.
    pub(super) fn push(&mut self, m: &Outbound<'_>) {
        let start = self.bytes.len();
        self.bytes.resize(start + m.encoded_len(), 0);
        let out = self.bytes.get_mut(start..).unwrap_or_default();
        match m.encode(out) {
            Ok(n) => {
                self.bytes.truncate(start + n);
                self.ends.push(start + n);
            }
            // Cannot happen (the buffer is sized from `encoded_len`); never log half a message.
            Err(_) => self.bytes.truncate(start),
        }
    }
}

/// What the venue knows of an order beyond the matching engine: the OUCH
/// fields it echoes and the shares executed (Cancel's Quantity is the new
/// intended order size, executed shares included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OrderInfo {
    pub(super) symbol: [u8; 8],
    pub(super) side: ouch::Side,
    pub(super) price: u64,
    pub(super) open: u32,
    pub(super) executed: u32,
    pub(super) time_in_force: u8,
    pub(super) display: u8,
    pub(super) capacity: u8,
    pub(super) intermarket_sweep_eligibility: u8,
    pub(super) cross_type: u8,
    pub(super) cl_ord_id: [u8; 14],
    pub(super) order_ref: u64,
    pub(super) post_only: bool,
}

/// A request sent to matching and not yet answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    /// An Enter Order; becomes open on `Accepted`.
    New(OrderInfo),
    /// A Replace Order's new fields; applied on `Replaced`.
    Replace {
        time_in_force: u8,
        display: u8,
        intermarket_sweep_eligibility: u8,
        cl_ord_id: [u8; 14],
    },
}

/// Static configuration plus the session state of one account.
#[derive(Debug)]
pub(super) struct Account {
    pub(super) username: Box<[u8]>,
    pub(super) password: Box<[u8]>,
    pub(super) firm: FirmId,
    pub(super) cancel_on_disconnect: bool,
    pub(super) log: SeqLog,
    /// Connection slot of the logged-in session, if any.
    pub(super) conn: Option<usize>,
    /// Highest UserRefNum used in this session (0: none yet).
    pub(super) last_user_ref_num: u32,
    /// Open (live) orders by UserRefNum.
    pub(super) orders: HashMap<u32, OrderInfo>,
    /// Requests in flight by (new) UserRefNum.
    pub(super) pending: HashMap<u32, Pending>,
    /// Cancel-on-disconnect: UserRefNums to cancel at the start of the next poll.
    pub(super) cod_targets: Vec<u32>,
    /// Cancel-on-disconnect cancels sent; their refusals are not reported.
    pub(super) cod_inflight: HashSet<u32>,
}

/// Why an inbound OUCH message was refused by the gateway itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GatewayReject {
    pub(super) user_ref_num: u32,
    pub(super) code: u16,
    pub(super) cl_ord_id: [u8; 14],
}

/// Symbol and instrument tables shared by every account.
#[derive(Debug, Default)]
pub(super) struct Symbols {
    pub(super) by_symbol: HashMap<[u8; 8], InstrumentId>,
    pub(super) by_instrument: HashMap<InstrumentId, [u8; 8]>,
}

impl Account {
    pub(super) fn new(
        username: &[u8],
        password: &[u8],
        firm: FirmId,
        cancel_on_disconnect: bool,
    ) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            firm,
            cancel_on_disconnect,
            log: SeqLog::default(),
            conn: None,
            last_user_ref_num: 0,
            orders: HashMap::with_capacity(1024),
            pending: HashMap::with_capacity(64),
            cod_targets: Vec::new(),
            cod_inflight: HashSet::new(),
        }
    }

    /// Checks a Login Request's credentials (SoupBinTCP: case insensitive).
    pub(super) fn authenticates(&self, username: &[u8], password: &[u8]) -> bool {
        self.username.eq_ignore_ascii_case(username) && self.password.eq_ignore_ascii_case(password)
    }

    /// Consumes `urn` if it is above every UserRefNum used so far.
    fn take_user_ref_num(&mut self, urn: u32) -> bool {
        if urn > self.last_user_ref_num {
            self.last_user_ref_num = urn;
            true
        } else {
            false
        }
    }

    /// Remembers what to cancel once the commands already handed to the venue
    /// have been processed: every open order and every order still in flight.
    pub(super) fn arm_cancel_on_disconnect(&mut self) {
        if !self.cancel_on_disconnect {
            return;
        }
        let targets = self.orders.keys().chain(self.pending.keys()).copied();
        self.cod_targets.extend(targets);
    }

    /// Emits the cancel-on-disconnect cancels armed earlier for orders still open.
    pub(super) fn sweep_cancel_on_disconnect(
        &mut self,
        ts: Timestamp,
        commands: &mut Vec<Command>,
    ) {
        let mut targets = std::mem::take(&mut self.cod_targets);
        targets.sort_unstable();
        targets.dedup();
        for urn in targets.drain(..) {
            if self.orders.contains_key(&urn) && self.cod_inflight.insert(urn) {
                commands.push(Command::Cancel(matching::CancelOrder {
                    ts,
                    firm: self.firm,
                    client_id: ClientOrderId(u64::from(urn)),
                    leave_qty: Qty(0),
                }));
            }
        }
        self.cod_targets = targets;
    }

    /// Translates one inbound OUCH message into a command (pushed onto
    /// `commands`) or an immediate outbound answer (logged).
    pub(super) fn on_inbound(
        &mut self,
        m: &ouch::Inbound<'_>,
        ts: Timestamp,
        symbols: &Symbols,
        commands: &mut Vec<Command>,
    ) {
        let result = match m {
            ouch::Inbound::EnterOrder(e) => self.enter(e, ts, symbols, commands),
            ouch::Inbound::ReplaceOrder(r) => self.replace(r, ts, commands),
            ouch::Inbound::CancelOrder(c) => {
                // Quantity is the new intended order size, executed shares
                // included; matching wants the open quantity to leave.
                let executed = self.orders.get(&c.user_ref_num).map_or(0, |o| o.executed);
                commands.push(Command::Cancel(matching::CancelOrder {
                    ts,
                    firm: self.firm,
                    client_id: ClientOrderId(u64::from(c.user_ref_num)),
                    leave_qty: Qty(u64::from(c.quantity.saturating_sub(executed))),
                }));
                Ok(())
            }
            ouch::Inbound::ModifyOrder(md) => {
                // Side changes and Modify reductions are not simulated: refuse.
                self.log.push(&Outbound::CancelReject(ouch::CancelReject {
                    timestamp: since_midnight(ts.0),
                    user_ref_num: md.user_ref_num,
                }));
                Ok(())
            }
            ouch::Inbound::AccountQuery(_) => {
                self.log.push(&Outbound::AccountQueryResponse(
                    ouch::AccountQueryResponse {
                        timestamp: since_midnight(ts.0),
                        next_user_ref_num: self.last_user_ref_num.saturating_add(1),
                    },
                ));
                Ok(())
            }
        };
        if let Err(r) = result {
            self.log.push(&Outbound::Rejected(ouch::Rejected {
                timestamp: since_midnight(ts.0),
                user_ref_num: r.user_ref_num,
                reason: r.code,
                cl_ord_id: r.cl_ord_id,
            }));
        }
    }

    fn enter(
        &mut self,
        e: &ouch::EnterOrder<'_>,
        ts: Timestamp,
        symbols: &Symbols,
        commands: &mut Vec<Command>,
    ) -> Result<(), GatewayReject> {
        let reject = |code| GatewayReject {
            user_ref_num: e.user_ref_num,
            code,
            cl_ord_id: e.cl_ord_id,
        };
        if !self.take_user_ref_num(e.user_ref_num) {
            return Err(reject(reject_code::OTHER));
        }
        let instrument = *symbols
            .by_symbol
            .get(&e.symbol)
            .ok_or(reject(reject_code::INVALID_SYMBOL))?;
        let price = i64::try_from(e.price).map_err(|_| reject(reject_code::INVALID_PRICE))?;
        let post_only = e.appendage.get_u8(tag::POST_ONLY) == Some(b'P');
        let order_type = if e.time_in_force == TIF_IOC {
            OrderType::Ioc
        } else if post_only {
            OrderType::PostOnly
        } else {
            OrderType::Limit
        };
        self.pending.insert(
            e.user_ref_num,
            Pending::New(OrderInfo {
                symbol: e.symbol,
                side: e.side,
                price: e.price,
                open: e.quantity,
                executed: 0,
                time_in_force: e.time_in_force,
                display: e.display,
                capacity: e.capacity,
                intermarket_sweep_eligibility: e.intermarket_sweep_eligibility,
                cross_type: e.cross_type,
                cl_ord_id: e.cl_ord_id,
                order_ref: 0,
                post_only: order_type == OrderType::PostOnly,
            }),
        );
        commands.push(Command::New(matching::NewOrder {
            ts,
            firm: self.firm,
            client_id: ClientOrderId(u64::from(e.user_ref_num)),
            instrument,
            side: e.side.book_side(),
            price: Price(price),
            qty: Qty(u64::from(e.quantity)),
            order_type,
        }));
        Ok(())
    }

    fn replace(
        &mut self,
        r: &ouch::ReplaceOrder<'_>,
        ts: Timestamp,
        commands: &mut Vec<Command>,
    ) -> Result<(), GatewayReject> {
        let reject = |code| GatewayReject {
            user_ref_num: r.user_ref_num,
            code,
            cl_ord_id: r.cl_ord_id,
        };
        if !self.take_user_ref_num(r.user_ref_num) {
            return Err(reject(reject_code::OTHER));
        }
        let price = i64::try_from(r.price).map_err(|_| reject(reject_code::INVALID_PRICE))?;
        self.pending.insert(
            r.user_ref_num,
            Pending::Replace {
                time_in_force: r.time_in_force,
                display: r.display,
                intermarket_sweep_eligibility: r.intermarket_sweep_eligibility,
                cl_ord_id: r.cl_ord_id,
            },
        );
        commands.push(Command::Replace(matching::ReplaceOrder {
            ts,
            firm: self.firm,
            orig_client_id: ClientOrderId(u64::from(r.orig_user_ref_num)),
            client_id: ClientOrderId(u64::from(r.user_ref_num)),
            price: Price(price),
            qty: Qty(u64::from(r.quantity)),
        }));
        Ok(())
    }

    /// Applies one matching event that concerns this account's firm and logs
    /// the OUCH messages it causes. Events about client ids that do not fit a
    /// UserRefNum are ignored (returns false).
    pub(super) fn on_event(&mut self, event: &Event, symbols: &Symbols) -> bool {
        match event {
            Event::Accepted(a) if a.firm == self.firm => {
                let Some(urn) = urn_of(a.client_id) else {
                    return false;
                };
                let mut info = match self.pending.remove(&urn) {
                    Some(Pending::New(info)) => info,
                    // Entered elsewhere (another gateway or `Venue::submit`) for this firm.
                    _ => OrderInfo {
                        symbol: symbols
                            .by_instrument
                            .get(&a.instrument)
                            .copied()
                            .unwrap_or([b' '; 8]),
                        side: match a.side {
                            quotewire_core::Side::Buy => ouch::Side::Buy,
                            quotewire_core::Side::Sell => ouch::Side::Sell,
                        },
                        price: 0,
                        open: 0,
                        executed: 0,
                        time_in_force: if a.order_type == OrderType::Ioc {
                            TIF_IOC
                        } else {
                            b'0'
                        },
                        display: b'Y',
                        capacity: b'A',
                        intermarket_sweep_eligibility: b'N',
                        cross_type: b'N',
                        cl_ord_id: [b' '; 14],
                        order_ref: 0,
                        post_only: a.order_type == OrderType::PostOnly,
                    },
                };
                info.price = ouch_price(a.price);
                info.open = ouch_qty(a.qty);
                info.executed = 0;
                info.order_ref = a.order_ref.0;
                self.orders.insert(urn, info);
                let appendage = if info.post_only {
                    Appendage::parse(&POST_ONLY_APPENDAGE).unwrap_or(Appendage::EMPTY)
                } else {
                    Appendage::EMPTY
                };
                self.log.push(&Outbound::OrderAccepted(ouch::OrderAccepted {
                    timestamp: since_midnight(a.ts.0),
                    user_ref_num: urn,
                    side: info.side,
                    quantity: info.open,
                    symbol: info.symbol,
                    price: info.price,
                    time_in_force: info.time_in_force,
                    display: info.display,
                    order_reference_number: info.order_ref,
                    capacity: info.capacity,
                    intermarket_sweep_eligibility: info.intermarket_sweep_eligibility,
                    cross_type: info.cross_type,
                    order_state: b'L',
                    cl_ord_id: info.cl_ord_id,
                    appendage,
                }));
                true
            }
            Event::Executed(x) => {
                let mut any = false;
                if x.resting_firm == self.firm {
                    any |= self.executed(x, x.resting_client_id, x.resting_remaining, b'A');
                }
                if x.aggressor_firm == self.firm {
                    any |= self.executed(x, x.aggressor_client_id, x.aggressor_remaining, b'R');
                }
                any
            }
            Event::Canceled(c) if c.firm == self.firm => {
                let Some(urn) = urn_of(c.client_id) else {
                    return false;
                };
                self.set_open(urn, c.remaining, 0);
                if c.remaining.is_zero() {
                    self.cod_inflight.remove(&urn);
                }
                self.log.push(&Outbound::OrderCanceled(ouch::OrderCanceled {
                    timestamp: since_midnight(c.ts.0),
                    user_ref_num: urn,
                    quantity: ouch_qty(c.qty),
                    reason: ouch_cancel_reason(c.reason),
                }));
                true
            }
            Event::Replaced(r) if r.firm == self.firm => {
                let (Some(orig), Some(urn)) = (urn_of(r.orig_client_id), urn_of(r.client_id))
                else {
                    return false;
                };
                let replacement = self.pending.remove(&urn);
                let Some(mut info) = self.orders.remove(&orig) else {
                    return false;
                };
                if let Some(Pending::Replace {
                    time_in_force,
                    display,
                    intermarket_sweep_eligibility,
                    cl_ord_id,
                }) = replacement
                {
                    info.time_in_force = time_in_force;
                    info.display = display;
                    info.intermarket_sweep_eligibility = intermarket_sweep_eligibility;
                    info.cl_ord_id = cl_ord_id;
                }
                // The replacement is a new OUCH order: its intended size is `qty`.
                info.price = ouch_price(r.price);
                info.open = ouch_qty(r.qty);
                info.executed = 0;
                info.order_ref = r.new_ref.0;
                if self.cod_inflight.remove(&orig) {
                    self.cod_inflight.insert(urn);
                }
                self.orders.insert(urn, info);
                self.log.push(&Outbound::OrderReplaced(ouch::OrderReplaced {
                    timestamp: since_midnight(r.ts.0),
                    orig_user_ref_num: orig,
                    user_ref_num: urn,
                    side: info.side,
                    quantity: info.open,
                    symbol: info.symbol,
                    price: info.price,
                    time_in_force: info.time_in_force,
                    display: info.display,
                    order_reference_number: info.order_ref,
                    capacity: info.capacity,
                    intermarket_sweep_eligibility: info.intermarket_sweep_eligibility,
                    cross_type: info.cross_type,
                    order_state: b'L',
                    cl_ord_id: info.cl_ord_id,
                    appendage: Appendage::EMPTY,
                }));
                true
            }
            Event::Rejected(j) if j.firm == self.firm => {
                let Some(urn) = urn_of(j.client_id) else {
                    return false;
                };
                match j.request {
                    RequestKind::Cancel => {
                        if self.cod_inflight.remove(&urn) {
                            return false;
                        }
                        self.log.push(&Outbound::CancelReject(ouch::CancelReject {
                            timestamp: since_midnight(j.ts.0),
                            user_ref_num: urn,
                        }));
                    }
                    RequestKind::New | RequestKind::Replace => {
                        let cl_ord_id = match self.pending.remove(&urn) {
                            Some(Pending::New(info)) => info.cl_ord_id,
                            Some(Pending::Replace { cl_ord_id, .. }) => cl_ord_id,
                            None => [b' '; 14],
                        };
                        self.log.push(&Outbound::Rejected(ouch::Rejected {
                            timestamp: since_midnight(j.ts.0),
                            user_ref_num: urn,
                            reason: ouch_reject_code(j.reason),
                            cl_ord_id,
                        }));
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn executed(
        &mut self,
        x: &matching::Executed,
        client_id: ClientOrderId,
        remaining: Qty,
        liquidity_flag: u8,
    ) -> bool {
        let Some(urn) = urn_of(client_id) else {
            return false;
        };
        self.set_open(urn, remaining, ouch_qty(x.qty));
        if remaining.is_zero() {
            self.cod_inflight.remove(&urn);
        }
        self.log.push(&Outbound::OrderExecuted(ouch::OrderExecuted {
            timestamp: since_midnight(x.ts.0),
            user_ref_num: urn,
            quantity: ouch_qty(x.qty),
            price: ouch_price(x.price),
            liquidity_flag,
            match_number: x.match_number.0,
            appendage: Appendage::EMPTY,
        }));
        true
    }

    /// Records an order's new open quantity (removing it at zero) and shares executed.
    fn set_open(&mut self, urn: u32, open: Qty, executed: u32) {
        if open.is_zero() {
            self.orders.remove(&urn);
        } else if let Some(o) = self.orders.get_mut(&urn) {
            o.open = ouch_qty(open);
            o.executed = o.executed.saturating_add(executed);
        }
    }
}

/// A client id as a UserRefNum (the OUCH field is 4 bytes).
fn urn_of(id: ClientOrderId) -> Option<u32> {
    u32::try_from(id.0).ok()
}

/// A quantity as an OUCH 4-byte share count (matching never exceeds `u32::MAX`).
fn ouch_qty(q: Qty) -> u32 {
    u32::try_from(q.0).unwrap_or(u32::MAX)
}

/// A price as an OUCH unsigned price (band prices are positive).
fn ouch_price(p: Price) -> u64 {
    u64::try_from(p.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_core::{OrderId, Side};

    fn account() -> Account {
        Account::new(b"ALICE", b"pw", FirmId(7), true)
    }

    fn symbols() -> Symbols {
        let mut s = Symbols::default();
        s.by_symbol.insert(*b"AAPL    ", InstrumentId(1));
        s.by_instrument.insert(InstrumentId(1), *b"AAPL    ");
        s
    }

    fn enter(urn: u32, qty: u32, tif: u8) -> ouch::EnterOrder<'static> {
        ouch::EnterOrder {
            user_ref_num: urn,
            side: ouch::Side::SellShort,
            quantity: qty,
            symbol: *b"AAPL    ",
            price: 1_000_000,
            time_in_force: tif,
            display: b'Y',
            capacity: b'P',
            intermarket_sweep_eligibility: b'N',
            cross_type: b'N',
            cl_ord_id: *b"CLIENT-1      ",
            appendage: Appendage::EMPTY,
        }
    }

    fn last(a: &Account) -> Outbound<'_> {
        let m = a.log.get(a.log.len()).unwrap();
        ouch::decode_outbound(m).unwrap()
    }

    #[test]
    fn seq_log_returns_messages_by_sequence_number() {
        let mut log = SeqLog::default();
        assert_eq!(log.next_seq(), 1);
        assert_eq!(log.get(0), None);
        assert_eq!(log.get(1), None);
        for i in 0..3u32 {
            log.push(&Outbound::CancelReject(ouch::CancelReject {
                timestamp: 9,
                user_ref_num: i,
            }));
        }
        assert_eq!(log.len(), 3);
        for seq in 1..=3u64 {
            let m = ouch::decode_outbound(log.get(seq).unwrap()).unwrap();
            assert_eq!(m.user_ref_num(), Some(u32::try_from(seq).unwrap() - 1));
        }
        assert_eq!(log.get(4), None);
    }

    #[test]
    fn enter_maps_ioc_post_only_and_short_sells() {
        let mut a = account();
        let mut cmds = Vec::new();
        a.on_inbound(
            &enter(5, 100, b'3').into(),
            Timestamp(1),
            &symbols(),
            &mut cmds,
        );
        let mut e = enter(6, 100, b'0');
        let mut buf = [0u8; 8];
        let mut w = ouch::AppendageWriter::new(&mut buf);
        w.push_u8(tag::POST_ONLY, b'P').unwrap();
        e.appendage = w.finish().unwrap();
        a.on_inbound(&e.into(), Timestamp(2), &symbols(), &mut cmds);
        a.on_inbound(
            &enter(7, 100, b'0').into(),
            Timestamp(3),
            &symbols(),
            &mut cmds,
        );
        let types: Vec<_> = cmds
            .iter()
            .map(|c| match c {
                Command::New(n) => (n.client_id.0, n.order_type, n.side),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            types,
            [
                (5, OrderType::Ioc, Side::Sell),
                (6, OrderType::PostOnly, Side::Sell),
                (7, OrderType::Limit, Side::Sell),
            ]
        );
        assert_eq!(a.log.len(), 0);
    }

    #[test]
    fn non_increasing_user_ref_num_and_unknown_symbol_are_rejected_without_a_command() {
        let mut a = account();
        let mut cmds = Vec::new();
        a.on_inbound(
            &enter(5, 100, b'0').into(),
            Timestamp(1),
            &symbols(),
            &mut cmds,
        );
        a.on_inbound(
            &enter(5, 100, b'0').into(),
            Timestamp(2),
            &symbols(),
            &mut cmds,
        );
        let Outbound::Rejected(j) = last(&a) else {
            panic!("expected J")
        };
        assert_eq!((j.user_ref_num, j.reason), (5, reject_code::OTHER));
        assert_eq!(&j.cl_ord_id, b"CLIENT-1      ");
        let mut e = enter(9, 100, b'0');
        e.symbol = *b"MSFT    ";
        a.on_inbound(&e.into(), Timestamp(3), &symbols(), &mut cmds);
        let Outbound::Rejected(j) = last(&a) else {
            panic!("expected J")
        };
        assert_eq!((j.user_ref_num, j.reason), (9, reject_code::INVALID_SYMBOL));
        assert_eq!(cmds.len(), 1);
        // 9 was consumed even though the order was refused.
        a.on_inbound(
            &enter(8, 100, b'0').into(),
            Timestamp(4),
            &symbols(),
            &mut cmds,
        );
        assert_eq!(cmds.len(), 1);
    }

    #[test]
    fn cancel_quantity_is_the_intended_size_including_executed_shares() {
        let mut a = account();
        let mut cmds = Vec::new();
        a.on_inbound(
            &enter(1, 100, b'0').into(),
            Timestamp(1),
            &symbols(),
            &mut cmds,
        );
        a.on_event(
            &Event::Accepted(matching::Accepted {
                ts: Timestamp(1),
                order_ref: OrderId(11),
                instrument: InstrumentId(1),
                firm: FirmId(7),
                client_id: ClientOrderId(1),
                side: Side::Sell,
                price: Price(1_000_000),
                qty: Qty(100),
                order_type: OrderType::Limit,
            }),
            &symbols(),
        );
        let Outbound::OrderAccepted(acc) = last(&a) else {
            panic!("expected A")
        };
        assert_eq!(acc.side, ouch::Side::SellShort);
        assert_eq!(acc.order_reference_number, 11);
        a.on_event(
            &Event::Executed(matching::Executed {
                ts: Timestamp(2),
                instrument: InstrumentId(1),
                match_number: matching::MatchNumber(1),
                price: Price(1_000_000),
                qty: Qty(30),
                aggressor_side: Side::Buy,
                resting_ref: OrderId(11),
                resting_firm: FirmId(7),
                resting_client_id: ClientOrderId(1),
                resting_remaining: Qty(70),
                aggressor_ref: OrderId(12),
                aggressor_firm: FirmId(8),
                aggressor_client_id: ClientOrderId(1),
                aggressor_remaining: Qty(0),
            }),
            &symbols(),
        );
        let Outbound::OrderExecuted(x) = last(&a) else {
            panic!("expected E")
        };
        assert_eq!((x.quantity, x.liquidity_flag), (30, b'A'));
        cmds.clear();
        let cancel = ouch::CancelOrder {
            user_ref_num: 1,
            quantity: 50,
        };
        a.on_inbound(&cancel.into(), Timestamp(3), &symbols(), &mut cmds);
        let [Command::Cancel(c)] = cmds[..] else {
            panic!("expected one cancel")
        };
        assert_eq!(c.leave_qty, Qty(20));
    }

    #[test]
    fn matching_refusals_map_to_j_or_cancel_reject() {
        let mut a = account();
        let reject = |request, reason| {
            Event::Rejected(matching::Rejected {
                ts: Timestamp(1),
                firm: FirmId(7),
                client_id: ClientOrderId(3),
                orig_client_id: ClientOrderId(3),
                request,
                reason,
            })
        };
        a.on_event(&reject(RequestKind::New, RejectReason::OffTick), &symbols());
        let Outbound::Rejected(j) = last(&a) else {
            panic!("expected J")
        };
        assert_eq!(j.reason, reject_code::INVALID_PRICE);
        a.on_event(
            &reject(RequestKind::Cancel, RejectReason::UnknownOrder),
            &symbols(),
        );
        assert!(matches!(last(&a), Outbound::CancelReject(_)));
        // Another firm's events are not ours.
        let mut other = account();
        other.firm = FirmId(99);
        assert!(!other.on_event(&reject(RequestKind::New, RejectReason::OffTick), &symbols()));
        assert_eq!(other.log.len(), 0);
    }
}
