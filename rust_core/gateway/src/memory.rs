//! [`MemoryGateway`]: the order gateway without sockets, for the in-process
//! tick-to-trade benchmark and engine tests.

use quotewire_core::mem::HugeSlice;
use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Qty};

use crate::codec::{OuchEncoder, MAX_REQUEST_PACKET_LEN};
use crate::event::{GatewaySink, OrderGateway, SessionStatus};
use crate::{GatewayConfigError, GatewayError, GatewayStats};

/// Configuration of a [`MemoryGateway`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryGatewayConfig {
    /// Instrument to OUCH symbol, as for [`crate::OuchClient`].
    pub symbols: Vec<(InstrumentId, String)>,
    /// Firm appendage added to every Enter Order.
    pub firm: Option<String>,
    /// Bytes of the buffer the packets are encoded into (kept until [`MemoryGateway::clear`]).
    pub buffer: usize,
    /// Answer every request on the next poll like a venue that accepts everything.
    pub auto_ack: bool,
    /// Requests (and injected reports) waiting for the next poll; rounded up
    /// to a power of two.
    pub ack_capacity: usize,
    /// Orders whose open quantity is remembered for full-leaves cancels;
    /// rounded up to a power of two (slots are indexed by `cl`, so only the
    /// most recent ids of a wrapped table are known).
    pub max_orders: usize,
}

impl Default for MemoryGatewayConfig {
    fn default() -> Self {
        Self {
            symbols: Vec::new(),
            firm: None,
            buffer: 1 << 20,
            auto_ack: false,
            ack_capacity: 4096,
            max_orders: 1 << 16,
        }
    }
}

/// Something to report on the next poll.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Ack(OrderRequest),
    Report(ExecReport),
}

/// Same trait as [`crate::OuchClient`], no sockets: encodes exactly the same
/// SoupBinTCP/OUCH bytes into a pre-allocated buffer and, with `auto_ack`,
/// answers each request on the next poll (Accepted with a venue id and the
/// whole quantity open, then for IOC a cancel of all of it; Replaced;
/// Canceled for the full leaves, Cancel Reject for an unknown order).
/// Always [`SessionStatus::Ready`]; the first poll reports `LoggedIn` and
/// `Ready { next_cl: 1 }`. Nothing allocates after construction.
#[derive(Debug)]
pub struct MemoryGateway {
    encoder: OuchEncoder,
    /// Pre-touched (a zeroed `Vec` would be untouched calloc memory, and the
    /// first write to each page would fault inside the measured path).
    buf: HugeSlice<u8>,
    len: usize,
    sent: u64,
    auto_ack: bool,
    ring: Box<[Option<Pending>]>,
    head: usize,
    tail: usize,
    leaves: HugeSlice<(u32, u64)>,
    next_venue_id: u64,
    announced: bool,
    stats: GatewayStats,
}

impl MemoryGateway {
    /// Validates the symbols and sizes every buffer.
    pub fn new(config: &MemoryGatewayConfig) -> Result<Self, GatewayConfigError> {
        if config.buffer < MAX_REQUEST_PACKET_LEN {
            return Err(GatewayConfigError::BufferTooSmall {
                what: "buffer",
                min: MAX_REQUEST_PACKET_LEN,
                got: config.buffer,
            });
        }
        if config.ack_capacity == 0 {
            return Err(GatewayConfigError::ZeroCapacity("ack_capacity"));
        }
        if config.max_orders == 0 {
            return Err(GatewayConfigError::ZeroCapacity("max_orders"));
        }
        Ok(Self {
            encoder: OuchEncoder::new(&config.symbols, config.firm.as_deref())?,
            buf: HugeSlice::filled(config.buffer, 0),
            len: 0,
            sent: 0,
            auto_ack: config.auto_ack,
            ring: vec![None; config.ack_capacity.next_power_of_two()].into_boxed_slice(),
            head: 0,
            tail: 0,
            leaves: HugeSlice::filled(config.max_orders.next_power_of_two(), (0, 0)),
            next_venue_id: 1,
            announced: false,
            stats: GatewayStats::default(),
        })
    }

    /// The packets encoded since the last [`clear`](Self::clear), back to back.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Forgets the encoded bytes (the answers still pending are kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Requests sent since construction.
    #[must_use]
    pub const fn sent_count(&self) -> u64 {
        self.sent
    }

    /// Answers and injected reports waiting for the next poll.
    #[must_use]
    pub const fn pending(&self) -> usize {
        self.tail - self.head
    }

    /// Counters (requests, reports, bytes).
    #[must_use]
    pub const fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// The encoder this gateway uses.
    #[must_use]
    pub const fn encoder(&self) -> &OuchEncoder {
        &self.encoder
    }

    /// Queues a report (e.g. a fill) to be delivered, in order with the
    /// answers, on the next poll. [`GatewayError::BufferFull`] if the ring is full.
    pub fn inject(&mut self, report: ExecReport) -> Result<(), GatewayError> {
        self.push(Pending::Report(report))
    }

    fn push(&mut self, p: Pending) -> Result<(), GatewayError> {
        if self.tail - self.head >= self.ring.len() {
            return Err(GatewayError::BufferFull);
        }
        let mask = self.ring.len() - 1;
        if let Some(slot) = self.ring.get_mut(self.tail & mask) {
            *slot = Some(p);
        }
        self.tail += 1;
        Ok(())
    }

    fn leaves_slot(&mut self, cl: ClOrdId) -> Option<&mut (u32, u64)> {
        let mask = self.leaves.len() - 1;
        self.leaves.get_mut(cl.0 as usize & mask)
    }

    fn set_leaves(&mut self, cl: ClOrdId, qty: u64) {
        if let Some(slot) = self.leaves_slot(cl) {
            *slot = (cl.0, qty);
        }
    }

    fn take_leaves(&mut self, cl: ClOrdId) -> Option<u64> {
        let slot = self.leaves_slot(cl)?;
        if slot.0 != cl.0 || slot.1 == 0 {
            return None;
        }
        let qty = slot.1;
        slot.1 = 0;
        Some(qty)
    }

    fn venue_id(&mut self) -> OrderId {
        let id = OrderId(self.next_venue_id);
        self.next_venue_id += 1;
        id
    }

    fn deliver<S: GatewaySink>(&mut self, sink: &mut S, r: &ExecReport) {
        self.stats.reports += 1;
        sink.report(r);
    }

    /// Answers one request as an accept-everything venue; returns the reports made.
    fn answer<S: GatewaySink>(&mut self, now_ns: u64, req: &OrderRequest, sink: &mut S) -> usize {
        match req {
            OrderRequest::New(o) => {
                let venue_id = self.venue_id();
                let accepted = ExecReport::Accepted {
                    cl: o.cl,
                    venue_id,
                    price: o.price,
                    qty: o.qty,
                    ts_ns: now_ns,
                };
                self.deliver(sink, &accepted);
                if o.tif == TimeInForce::Ioc {
                    let canceled = ExecReport::Canceled {
                        cl: o.cl,
                        qty: o.qty,
                        reason: CancelReason::Ioc,
                        ts_ns: now_ns,
                    };
                    self.deliver(sink, &canceled);
                    return 2;
                }
                self.set_leaves(o.cl, o.qty.0);
                1
            }
            OrderRequest::Replace(r) => {
                let _ = self.take_leaves(r.orig);
                self.set_leaves(r.cl, r.qty.0);
                let venue_id = self.venue_id();
                let replaced = ExecReport::Replaced {
                    orig: r.orig,
                    cl: r.cl,
                    venue_id,
                    price: r.price,
                    qty: r.qty,
                    ts_ns: now_ns,
                };
                self.deliver(sink, &replaced);
                1
            }
            OrderRequest::Cancel(c) => {
                let report = match self.take_leaves(c.cl) {
                    Some(qty) => ExecReport::Canceled {
                        cl: c.cl,
                        qty: Qty(qty),
                        reason: CancelReason::User,
                        ts_ns: now_ns,
                    },
                    None => ExecReport::CancelRejected {
                        cl: c.cl,
                        ts_ns: now_ns,
                    },
                };
                self.deliver(sink, &report);
                1
            }
        }
    }
}

impl OrderGateway for MemoryGateway {
    #[inline]
    fn send(&mut self, _now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        if self.auto_ack && self.tail - self.head >= self.ring.len() {
            return Err(GatewayError::BufferFull);
        }
        let dst = self.buf.get_mut(self.len..).unwrap_or_default();
        let n = self.encoder.encode(req, dst)?;
        self.len += n;
        self.sent += 1;
        self.stats.requests += 1;
        self.stats.packets_out += 1;
        self.stats.bytes_out += n as u64;
        if self.auto_ack {
            self.push(Pending::Ack(*req))?;
        }
        Ok(())
    }

    /// Nothing to write: the bytes stay in the buffer until [`MemoryGateway::clear`].
    fn flush(&mut self, _now_ns: u64) -> Result<(), GatewayError> {
        Ok(())
    }

    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        if !self.announced {
            self.announced = true;
            crate::announce_ready(sink);
        }
        let mut reports = 0;
        let mask = self.ring.len() - 1;
        while self.head < self.tail {
            let p = self.ring.get_mut(self.head & mask).and_then(Option::take);
            self.head += 1;
            match p {
                Some(Pending::Ack(req)) => reports += self.answer(now_ns, &req, sink),
                Some(Pending::Report(r)) => {
                    self.deliver(sink, &r);
                    reports += 1;
                }
                None => {}
            }
        }
        reports
    }

    fn status(&self) -> SessionStatus {
        SessionStatus::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SessionEvent;
    use quotewire_core::order::{CancelOrder, NewOrder, ReplaceOrder};
    use quotewire_core::{Price, Side};
    use quotewire_protocol::ouch::{decode_inbound, Inbound};
    use quotewire_protocol::soupbintcp::{frames, Packet};

    const AAPL: InstrumentId = InstrumentId(1);

    type Rec = crate::RecordingSink;

    fn gateway(auto_ack: bool) -> MemoryGateway {
        MemoryGateway::new(&MemoryGatewayConfig {
            symbols: vec![(AAPL, "AAPL".into())],
            buffer: 4096,
            auto_ack,
            ack_capacity: 4,
            max_orders: 64,
            ..MemoryGatewayConfig::default()
        })
        .unwrap()
    }

    fn new(cl: u32, tif: TimeInForce) -> OrderRequest {
        OrderRequest::New(NewOrder {
            cl: ClOrdId(cl),
            instrument: AAPL,
            side: Side::Buy,
            price: Price(1_000_000),
            qty: Qty(100),
            tif,
            post_only: false,
        })
    }

    fn cancel(cl: u32) -> OrderRequest {
        OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(cl),
            instrument: AAPL,
            side: Side::Buy,
        })
    }

    #[test]
    fn bytes_are_the_same_packets_the_encoder_writes() {
        let mut gw = gateway(false);
        let reqs = [new(1, TimeInForce::Day), cancel(1)];
        for r in &reqs {
            gw.send(0, r).unwrap();
        }
        assert_eq!(gw.sent_count(), 2);
        let mut want = Vec::new();
        for r in &reqs {
            let mut b = [0u8; MAX_REQUEST_PACKET_LEN];
            let n = gw.encoder().encode(r, &mut b).unwrap();
            want.extend_from_slice(&b[..n]);
        }
        assert_eq!(gw.bytes(), want.as_slice());
        let tags: Vec<u8> = frames(gw.bytes(), 1024)
            .map(|p| match p.unwrap() {
                Packet::UnsequencedData(m) => decode_inbound(m).unwrap().tag(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tags, vec![b'O', b'X']);
        gw.clear();
        assert!(gw.bytes().is_empty());
        assert_eq!(gw.sent_count(), 2);
        // Without auto_ack nothing is answered.
        let mut rec = Rec::default();
        assert_eq!(gw.poll(1, &mut rec), 0);
        assert!(rec.reports.is_empty());
    }

    #[test]
    fn auto_ack_accepts_replaces_and_cancels_the_full_leaves() {
        let mut gw = gateway(true);
        let mut rec = Rec::default();
        gw.send(0, &new(1, TimeInForce::Day)).unwrap();
        gw.send(
            0,
            &OrderRequest::Replace(ReplaceOrder {
                orig: ClOrdId(1),
                cl: ClOrdId(2),
                instrument: AAPL,
                side: Side::Buy,
                price: Price(1_000_100),
                qty: Qty(60),
                post_only: false,
            }),
        )
        .unwrap();
        gw.send(0, &cancel(2)).unwrap();
        gw.send(0, &cancel(1)).unwrap();
        assert_eq!(gw.poll(9, &mut rec), 4);
        assert_eq!(
            rec.events,
            vec![
                SessionEvent::LoggedIn { next_seq: 1 },
                SessionEvent::Ready {
                    next_cl: ClOrdId(1)
                }
            ]
        );
        assert_eq!(
            rec.reports,
            vec![
                ExecReport::Accepted {
                    cl: ClOrdId(1),
                    venue_id: OrderId(1),
                    price: Price(1_000_000),
                    qty: Qty(100),
                    ts_ns: 9
                },
                ExecReport::Replaced {
                    orig: ClOrdId(1),
                    cl: ClOrdId(2),
                    venue_id: OrderId(2),
                    price: Price(1_000_100),
                    qty: Qty(60),
                    ts_ns: 9
                },
                ExecReport::Canceled {
                    cl: ClOrdId(2),
                    qty: Qty(60),
                    reason: CancelReason::User,
                    ts_ns: 9
                },
                // The replaced order is gone.
                ExecReport::CancelRejected {
                    cl: ClOrdId(1),
                    ts_ns: 9
                },
            ]
        );
        assert_eq!(gw.pending(), 0);
    }

    #[test]
    fn ioc_orders_are_accepted_then_canceled() {
        let mut gw = gateway(true);
        let mut rec = Rec::default();
        gw.send(0, &new(3, TimeInForce::Ioc)).unwrap();
        assert_eq!(gw.poll(1, &mut rec), 2);
        assert!(matches!(
            rec.reports[1],
            ExecReport::Canceled {
                reason: CancelReason::Ioc,
                qty: Qty(100),
                ..
            }
        ));
    }

    #[test]
    fn a_full_ring_refuses_without_encoding() {
        let mut gw = gateway(true);
        for cl in 1..=4 {
            gw.send(0, &new(cl, TimeInForce::Day)).unwrap();
        }
        let len = gw.bytes().len();
        assert_eq!(
            gw.send(0, &new(5, TimeInForce::Day)),
            Err(GatewayError::BufferFull)
        );
        assert_eq!(gw.bytes().len(), len);
        assert_eq!(gw.sent_count(), 4);
        let mut rec = Rec::default();
        assert_eq!(gw.poll(1, &mut rec), 4);
        gw.send(0, &new(5, TimeInForce::Day)).unwrap();
    }

    #[test]
    fn injected_reports_arrive_in_order_with_answers() {
        let mut gw = gateway(true);
        let mut rec = Rec::default();
        gw.send(0, &new(1, TimeInForce::Day)).unwrap();
        let fill = ExecReport::Executed {
            cl: ClOrdId(1),
            qty: Qty(40),
            price: Price(1_000_000),
            match_number: 7,
            liquidity: b'A',
            ts_ns: 3,
        };
        gw.inject(fill).unwrap();
        assert_eq!(gw.poll(5, &mut rec), 2);
        assert_eq!(rec.reports[1], fill);
    }

    #[test]
    fn the_send_buffer_fills_and_clear_makes_room() {
        let mut gw = MemoryGateway::new(&MemoryGatewayConfig {
            symbols: vec![(AAPL, "AAPL".into())],
            buffer: 60,
            ..MemoryGatewayConfig::default()
        })
        .unwrap();
        gw.send(0, &new(1, TimeInForce::Day)).unwrap();
        assert_eq!(
            gw.send(0, &new(2, TimeInForce::Day)),
            Err(GatewayError::BufferFull)
        );
        gw.clear();
        gw.send(0, &new(2, TimeInForce::Day)).unwrap();
        let Some(Ok(Packet::UnsequencedData(m))) = frames(gw.bytes(), 1024).next() else {
            panic!("no packet")
        };
        assert!(matches!(decode_inbound(m), Ok(Inbound::EnterOrder(e)) if e.user_ref_num == 2));
    }
}
