//! Property test: the OMS against a model venue.
//!
//! Random actions drive both sides. Our side places, replaces and cancels
//! through the OMS (requests it refuses are dropped). The model venue takes
//! requests from a FIFO queue one command at a time (accepting, refusing in
//! every form a venue uses, filling IOC orders and cancelling their rest) and,
//! between commands, fills, decrements and cancels live orders on its own:
//! so fills race cancels and replaces, and replace refusals race fills. Its
//! report stream is delivered to the OMS in order, in random chunks, with
//! replays of already delivered reports (duplicates), and reconnects that lose
//! queued requests, optionally cancel everything (cancel on disconnect),
//! replay, then reconcile.
//!
//! After every report: positions equal the sum of distinct delivered fills;
//! a first delivery of a fill is applied and a repeat never is; every open
//! order's filled quantity equals its delivered fills; states, in-flight
//! count, working quantities and best prices agree with the open orders. At
//! quiet points (queue drained, stream delivered) the OMS matches the venue
//! order for order, and at the end everything is terminal and no slot leaks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;
use quotewire_core::order::{CancelReason, ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_oms::{Applied, Oms, OmsConfig, OmsReject, Order, OrderState, ReportKind};

const INSTRUMENTS: usize = 3;
const CAPACITY: usize = 24;
const MAX_IN_FLIGHT: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Action {
    Place {
        inst: u16,
        sell: bool,
        qty: u64,
        tick: i64,
        ioc: bool,
    },
    Replace {
        pick: usize,
        qty: u64,
        tick: i64,
    },
    Cancel {
        pick: usize,
    },
    CancelAll,
    CancelInstrument {
        inst: u16,
    },
    VenueStep {
        refuse: bool,
        form: u8,
    },
    VenueFill {
        pick: usize,
        qty: u64,
    },
    VenueDecrement {
        pick: usize,
        qty: u64,
    },
    VenueCancel {
        pick: usize,
        reason: u8,
    },
    Deliver {
        n: usize,
    },
    Replay {
        k: usize,
    },
    Reconnect {
        cancel_on_disconnect: bool,
        replay: usize,
    },
    Settle,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => (0..INSTRUMENTS as u16, any::<bool>(), 1..50_u64, 0..5_i64, prop::bool::weighted(0.1))
            .prop_map(|(inst, sell, qty, tick, ioc)| Action::Place { inst, sell, qty, tick, ioc }),
        6 => (any::<usize>(), 1..60_u64, 0..5_i64)
            .prop_map(|(pick, qty, tick)| Action::Replace { pick, qty, tick }),
        3 => any::<usize>().prop_map(|pick| Action::Cancel { pick }),
        1 => Just(Action::CancelAll),
        1 => (0..INSTRUMENTS as u16).prop_map(|inst| Action::CancelInstrument { inst }),
        8 => (prop::bool::weighted(0.2), any::<u8>())
            .prop_map(|(refuse, form)| Action::VenueStep { refuse, form }),
        5 => (any::<usize>(), 1..40_u64).prop_map(|(pick, qty)| Action::VenueFill { pick, qty }),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(pick, qty)| Action::VenueDecrement { pick, qty }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(pick, reason)| Action::VenueCancel { pick, reason }),
        6 => (1..6_usize).prop_map(|n| Action::Deliver { n }),
        2 => (1..8_usize).prop_map(|k| Action::Replay { k }),
        1 => (any::<bool>(), 0..12_usize)
            .prop_map(|(cancel_on_disconnect, replay)| Action::Reconnect { cancel_on_disconnect, replay }),
        1 => Just(Action::Settle),
    ]
}

#[derive(Clone, Copy, Debug)]
struct VenueOrder {
    cl: ClOrdId,
    vid: u64,
    inst: InstrumentId,
    side: Side,
    price: Price,
    open: u64,
}

/// The venue: a FIFO of requests, its live orders, and its report stream.
#[derive(Default)]
struct Venue {
    alive: Vec<VenueOrder>,
    queue: VecDeque<OrderRequest>,
    stream: Vec<ExecReport>,
    delivered: usize,
    next_vid: u64,
    next_match: u64,
    clock: u64,
    /// Match number -> (instrument, signed shares).
    fills: BTreeMap<u64, (usize, i64)>,
}

impl Venue {
    /// A new command's timestamp: every report of one command shares it.
    fn command(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn fill(&mut self, idx: usize, qty: u64, ts_ns: u64) {
        let o = &mut self.alive[idx];
        let q = qty.min(o.open);
        o.open -= q;
        self.next_match += 1;
        let signed = match o.side {
            Side::Buy => q as i64,
            Side::Sell => -(q as i64),
        };
        self.fills
            .insert(self.next_match, (usize::from(o.inst.0), signed));
        self.stream.push(ExecReport::Executed {
            cl: o.cl,
            qty: Qty(q),
            price: o.price,
            match_number: self.next_match,
            liquidity: b'A',
            ts_ns,
        });
        if o.open == 0 {
            self.alive.remove(idx);
        }
    }

    fn cancel_rest(&mut self, idx: usize, reason: CancelReason, ts_ns: u64) {
        let o = self.alive.remove(idx);
        self.stream.push(ExecReport::Canceled {
            cl: o.cl,
            qty: Qty(o.open),
            reason,
            ts_ns,
        });
    }

    /// Processes the next request, refusing it when `refuse`.
    fn step(&mut self, refuse: bool, form: u8) {
        let Some(req) = self.queue.pop_front() else {
            return;
        };
        let ts_ns = self.command();
        match req {
            OrderRequest::New(n) => {
                if refuse {
                    self.stream.push(ExecReport::Rejected {
                        cl: n.cl,
                        reason: 1,
                        ts_ns,
                    });
                    return;
                }
                self.next_vid += 1;
                self.stream.push(ExecReport::Accepted {
                    cl: n.cl,
                    venue_id: quotewire_core::OrderId(self.next_vid),
                    price: n.price,
                    qty: n.qty,
                    ts_ns,
                });
                self.alive.push(VenueOrder {
                    cl: n.cl,
                    vid: self.next_vid,
                    inst: n.instrument,
                    side: n.side,
                    price: n.price,
                    open: n.qty.0,
                });
                if n.tif == TimeInForce::Ioc {
                    let idx = self.alive.len() - 1;
                    if n.qty.0 / 2 > 0 {
                        self.fill(idx, n.qty.0 / 2, ts_ns);
                    }
                    if self.alive.last().is_some_and(|o| o.cl == n.cl) {
                        self.cancel_rest(self.alive.len() - 1, CancelReason::Ioc, ts_ns);
                    }
                }
            }
            OrderRequest::Replace(r) => match self.alive.iter().position(|o| o.cl == r.orig) {
                Some(i) if !refuse => {
                    let o = &mut self.alive[i];
                    if r.price != o.price || r.qty.0 > o.open {
                        self.next_vid += 1;
                        o.vid = self.next_vid;
                    }
                    o.cl = r.cl;
                    o.price = r.price;
                    o.open = r.qty.0;
                    self.stream.push(ExecReport::Replaced {
                        orig: r.orig,
                        cl: r.cl,
                        venue_id: quotewire_core::OrderId(o.vid),
                        price: r.price,
                        qty: r.qty,
                        ts_ns,
                    });
                }
                _ => self.stream.push(match form % 3 {
                    0 => ExecReport::Rejected {
                        cl: r.cl,
                        reason: 2,
                        ts_ns,
                    },
                    1 => ExecReport::CancelRejected { cl: r.cl, ts_ns },
                    _ => ExecReport::CancelRejected { cl: r.orig, ts_ns },
                }),
            },
            OrderRequest::Cancel(c) => match self.alive.iter().position(|o| o.cl == c.cl) {
                Some(i) if !refuse => self.cancel_rest(i, CancelReason::User, ts_ns),
                _ => self
                    .stream
                    .push(ExecReport::CancelRejected { cl: c.cl, ts_ns }),
            },
        }
    }
}

/// What the OMS must agree with, from what was delivered.
#[derive(Default)]
struct Expect {
    seen_matches: BTreeSet<u64>,
    positions: [i64; INSTRUMENTS],
    /// Order chain (its first id) -> shares filled.
    filled: BTreeMap<u32, u64>,
    /// Every id -> its order chain.
    chain: BTreeMap<u32, u32>,
    last_cl: u32,
}

struct World {
    oms: Oms,
    venue: Venue,
    expect: Expect,
}

impl World {
    fn new() -> Self {
        Self {
            oms: Oms::new(&OmsConfig {
                capacity: CAPACITY,
                max_instruments: INSTRUMENTS,
                max_in_flight: MAX_IN_FLIGHT,
            })
            .expect("valid config"),
            venue: Venue::default(),
            expect: Expect::default(),
        }
    }

    fn new_id(&mut self, cl: ClOrdId, chain: u32) {
        assert!(cl.0 > self.expect.last_cl, "ids strictly increase");
        self.expect.last_cl = cl.0;
        self.expect.chain.insert(cl.0, chain);
    }

    fn refused(&self, e: OmsReject) {
        match e {
            OmsReject::Full => assert_eq!(self.oms.live_orders(), CAPACITY),
            OmsReject::InFlightLimit => assert_eq!(self.oms.in_flight(), MAX_IN_FLIGHT),
            OmsReject::AlreadyPending | OmsReject::NotAcked => {}
            other => panic!("unexpected refusal {other:?}"),
        }
    }

    fn open_ids(&self) -> Vec<ClOrdId> {
        let mut ids = Vec::new();
        self.oms.for_each_open(|o| ids.push(o.cl()));
        ids.sort();
        ids
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Place {
                inst,
                sell,
                qty,
                tick,
                ioc,
            } => {
                let side = if sell { Side::Sell } else { Side::Buy };
                let tif = if ioc {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Day
                };
                let price = Price(1_000_000 + tick * 100);
                match self
                    .oms
                    .place(InstrumentId(inst), side, price, Qty(qty), tif, false, 0)
                {
                    Ok(n) => {
                        self.new_id(n.cl, n.cl.0);
                        self.venue.queue.push_back(OrderRequest::New(n));
                    }
                    Err(e) => self.refused(e),
                }
            }
            Action::Replace { pick, qty, tick } => {
                let ids = self.open_ids();
                if ids.is_empty() {
                    return;
                }
                let cl = ids[pick % ids.len()];
                match self
                    .oms
                    .replace(cl, Price(1_000_000 + tick * 100), Qty(qty), 0)
                {
                    Ok(r) => {
                        let chain = self.expect.chain[&cl.0];
                        self.new_id(r.cl, chain);
                        self.venue.queue.push_back(OrderRequest::Replace(r));
                    }
                    Err(e) => self.refused(e),
                }
            }
            Action::Cancel { pick } => {
                let ids = self.open_ids();
                if ids.is_empty() {
                    return;
                }
                match self.oms.cancel(ids[pick % ids.len()], 0) {
                    Ok(c) => self.venue.queue.push_back(OrderRequest::Cancel(c)),
                    Err(e) => self.refused(e),
                }
            }
            Action::CancelAll => {
                let q = &mut self.venue.queue;
                self.oms
                    .cancel_all(0, &mut |c| q.push_back(OrderRequest::Cancel(c)));
            }
            Action::CancelInstrument { inst } => {
                let q = &mut self.venue.queue;
                self.oms.cancel_instrument(InstrumentId(inst), 0, &mut |c| {
                    q.push_back(OrderRequest::Cancel(c));
                });
            }
            Action::VenueStep { refuse, form } => self.venue.step(refuse, form),
            Action::VenueFill { pick, qty } => {
                if !self.venue.alive.is_empty() {
                    let idx = pick % self.venue.alive.len();
                    let ts = self.venue.command();
                    self.venue.fill(idx, qty, ts);
                }
            }
            Action::VenueDecrement { pick, qty } => {
                if self.venue.alive.is_empty() {
                    return;
                }
                let idx = pick % self.venue.alive.len();
                let open = self.venue.alive[idx].open;
                if open >= 2 {
                    let q = 1 + qty % (open - 1);
                    let ts_ns = self.venue.command();
                    let o = &mut self.venue.alive[idx];
                    o.open -= q;
                    let cl = o.cl;
                    self.venue.stream.push(ExecReport::Canceled {
                        cl,
                        qty: Qty(q),
                        reason: CancelReason::SelfMatch,
                        ts_ns,
                    });
                }
            }
            Action::VenueCancel { pick, reason } => {
                if !self.venue.alive.is_empty() {
                    let idx = pick % self.venue.alive.len();
                    let reason = [
                        CancelReason::Venue,
                        CancelReason::SelfMatch,
                        CancelReason::Ioc,
                    ][usize::from(reason % 3)];
                    let ts = self.venue.command();
                    self.venue.cancel_rest(idx, reason, ts);
                }
            }
            Action::Deliver { n } => self.deliver(n),
            Action::Replay { k } => self.replay(k),
            Action::Reconnect {
                cancel_on_disconnect,
                replay,
            } => self.reconnect(cancel_on_disconnect, replay),
            Action::Settle => self.settle(),
        }
    }

    /// Delivers the next `n` undelivered reports.
    fn deliver(&mut self, n: usize) {
        for _ in 0..n {
            let Some(&r) = self.venue.stream.get(self.venue.delivered) else {
                return;
            };
            self.venue.delivered += 1;
            self.apply(&r, false);
        }
    }

    /// Delivers again the last `k` delivered reports (SoupBinTCP replay).
    fn replay(&mut self, k: usize) {
        let end = self.venue.delivered;
        for i in end.saturating_sub(k)..end {
            let r = self.venue.stream[i];
            self.apply(&r, true);
        }
    }

    fn reconnect(&mut self, cancel_on_disconnect: bool, replay: usize) {
        // Requests not yet processed never reach the venue.
        self.venue.queue.clear();
        if cancel_on_disconnect && !self.venue.alive.is_empty() {
            let ts = self.venue.command();
            while !self.venue.alive.is_empty() {
                self.venue.cancel_rest(0, CancelReason::Venue, ts);
            }
        }
        self.deliver(usize::MAX);
        self.replay(replay);
        let venue = &self.venue;
        let mut expired = 0;
        self.oms.reconcile(0, &mut |r| {
            if r.state == OrderState::Expired {
                expired += 1;
                assert!(
                    venue.alive.iter().all(|o| o.cl != r.cl),
                    "expired an order the venue has"
                );
            } else {
                assert!(r.cancel_lost || r.replace_lost.is_some());
            }
        });
        assert_eq!(self.oms.in_flight(), 0);
        self.check();
    }

    /// Drains the request queue and delivers everything, then compares the
    /// OMS with the venue order for order.
    fn settle(&mut self) {
        while !self.venue.queue.is_empty() {
            self.venue.step(false, 0);
        }
        self.deliver(usize::MAX);
        assert_eq!(self.oms.in_flight(), 0, "every request answered");
        assert_eq!(self.oms.live_orders(), self.venue.alive.len());
        for v in &self.venue.alive {
            let o = self.oms.order(v.cl).expect("venue order known to the OMS");
            assert_eq!(o.cl(), v.cl);
            assert_eq!(o.leaves(), Qty(v.open));
            assert_eq!(o.price(), v.price);
            assert_eq!(o.venue_id(), Some(quotewire_core::OrderId(v.vid)));
            assert!(matches!(
                o.state(),
                OrderState::Live | OrderState::PartiallyFilled
            ));
        }
    }

    fn apply(&mut self, r: &ExecReport, replayed: bool) {
        let applied = self.oms.on_report(r);
        if let ExecReport::Executed {
            cl,
            qty,
            match_number,
            ..
        } = *r
        {
            if self.expect.seen_matches.insert(match_number) {
                let Applied::Fill(f) = applied else {
                    panic!("first delivery of fill {match_number} not applied: {applied:?}");
                };
                assert_eq!((f.qty, f.match_number), (qty, match_number));
                let (inst, signed) = self.venue.fills[&match_number];
                self.expect.positions[inst] += signed;
                *self
                    .expect
                    .filled
                    .entry(self.expect.chain[&cl.0])
                    .or_default() += qty.0;
            } else {
                assert!(
                    matches!(
                        applied,
                        Applied::Duplicate {
                            kind: ReportKind::Executed,
                            ..
                        } | Applied::Unknown {
                            kind: ReportKind::Executed,
                            ..
                        }
                    ),
                    "repeated fill {match_number} counted: {applied:?}"
                );
            }
        } else if replayed {
            assert!(
                matches!(applied, Applied::Duplicate { .. } | Applied::Unknown { .. }),
                "replayed {r:?} changed something: {applied:?}"
            );
        } else {
            let ok = match r {
                ExecReport::Accepted { .. } => matches!(applied, Applied::Accepted { .. }),
                ExecReport::Replaced { .. } => matches!(applied, Applied::Replaced { .. }),
                ExecReport::Canceled { .. } => matches!(applied, Applied::Cancelled { .. }),
                _ => !matches!(applied, Applied::Duplicate { .. }),
            };
            assert!(ok, "first delivery of {r:?} gave {applied:?}");
        }
        self.check();
    }

    /// Invariants that hold after every report.
    fn check(&self) {
        let oms = &self.oms;
        for (i, &p) in self.expect.positions.iter().enumerate() {
            assert_eq!(oms.position(InstrumentId(i as u16)), p, "position of {i}");
        }
        let mut count = 0;
        let mut in_flight = 0;
        let mut qty = [[0_u64; 2]; INSTRUMENTS];
        let mut orders = [0_u32; INSTRUMENTS];
        let mut best: [[Option<i64>; 2]; INSTRUMENTS] = [[None; 2]; INSTRUMENTS];
        oms.for_each_open(|o: &Order| {
            count += 1;
            let state = o.state();
            assert!(!state.is_terminal());
            assert!(o.leaves().0 > 0, "an open order has open shares");
            assert!(o.filled() <= o.qty());
            let chain = self.expect.chain[&o.cl().0];
            assert_eq!(
                o.filled().0,
                self.expect.filled.get(&chain).copied().unwrap_or(0),
                "filled of {:?}",
                o.cl()
            );
            assert_eq!(
                o.venue_id().is_none(),
                o.open_state() == OrderState::PendingNew
            );
            if o.cancel_pending() {
                assert_eq!(state, OrderState::PendingCancel);
            } else if o.pending_replace().is_some() {
                assert_eq!(state, OrderState::PendingReplace);
            }
            assert!(std::ptr::eq(oms.order(o.cl()).expect("indexed"), o));
            if let Some(vid) = o.venue_id() {
                assert!(std::ptr::eq(
                    oms.by_venue_id(vid).expect("venue indexed"),
                    o
                ));
            }
            let (mut worst, mut price) = (o.leaves().0, o.price().0);
            if let Some(p) = o.pending_replace() {
                assert!(std::ptr::eq(
                    oms.order(p.cl).expect("replacement indexed"),
                    o
                ));
                worst = worst.max(p.qty.0);
                price = match o.side() {
                    Side::Buy => price.max(p.price.0),
                    Side::Sell => price.min(p.price.0),
                };
            }
            in_flight += usize::from(o.venue_id().is_none())
                + usize::from(o.pending_replace().is_some())
                + usize::from(o.cancel_pending());
            let (i, s) = (usize::from(o.instrument().0), o.side().index());
            qty[i][s] += worst;
            orders[i] += 1;
            best[i][s] = Some(best[i][s].map_or(price, |b| match o.side() {
                Side::Buy => b.max(price),
                Side::Sell => b.min(price),
            }));
        });
        assert_eq!(oms.live_orders(), count);
        assert_eq!(oms.in_flight(), in_flight);
        assert!(oms.in_flight() <= MAX_IN_FLIGHT);
        for i in 0..INSTRUMENTS {
            let inst = InstrumentId(i as u16);
            let w = oms.working(inst);
            assert_eq!((w.open_buy_qty, w.open_sell_qty), (qty[i][0], qty[i][1]));
            assert_eq!(w.open_orders, orders[i]);
            for side in [Side::Buy, Side::Sell] {
                assert_eq!(
                    oms.best_working(inst, side).map(|p| p.0),
                    best[i][side.index()]
                );
            }
        }
    }

    /// Cancels everything until every order is terminal.
    fn wind_down(&mut self) {
        for _ in 0..64 {
            self.settle();
            if self.oms.live_orders() == 0 {
                break;
            }
            let q = &mut self.venue.queue;
            self.oms
                .cancel_all(0, &mut |c| q.push_back(OrderRequest::Cancel(c)));
        }
        assert_eq!(self.oms.live_orders(), 0, "no slot leaks");
        assert_eq!(self.oms.in_flight(), 0);
        assert!(self.venue.alive.is_empty());
        let total: i64 = self.venue.fills.values().map(|&(_, s)| s).sum();
        assert_eq!(self.expect.positions.iter().sum::<i64>(), total);
        assert_eq!(self.expect.seen_matches.len(), self.venue.fills.len());
        // The slab is whole again: it can take `CAPACITY` new orders.
        for _ in 0..CAPACITY {
            let n = self
                .oms
                .place(
                    InstrumentId(0),
                    Side::Buy,
                    Price(1),
                    Qty(1),
                    TimeInForce::Day,
                    false,
                    0,
                )
                .expect("free slot");
            self.oms.on_report(&ExecReport::Rejected {
                cl: n.cl,
                reason: 0,
                ts_ns: 0,
            });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn positions_equal_distinct_venue_fills_under_races_and_replays(
        actions in prop::collection::vec(action(), 1..300)
    ) {
        let mut w = World::new();
        for a in actions {
            w.act(a);
        }
        w.wind_down();
    }
}
