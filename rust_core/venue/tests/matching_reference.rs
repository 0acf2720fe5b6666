//! Drives `MatchingEngine` and an obviously-correct reference matcher (a flat
//! `Vec` of orders, best order found by a linear scan) with the same random
//! command streams, and checks after every command that both emitted the same
//! events in the same order and hold the same books, plus invariants that do
//! not depend on the reference: the book is never crossed, every incoming
//! order's quantity is accounted for, and resting quantity is conserved.

use proptest::prelude::*;
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};
use quotewire_venue::matching::{
    Accepted, Booked, CancelOrder, CancelReason, Canceled, ClientOrderId, Command, Event, Executed,
    FirmId, InstrumentConfig, Level, MatchNumber, MatchingEngine, NewOrder, OrderType, PriceBand,
    RejectReason, Rejected, ReplaceEffect, ReplaceOrder, Replaced, RequestKind, SelfMatchMode,
    VenueConfig,
};

const PX: i64 = 1_000_000;
const TICK: i64 = 100;
/// Band `PX ± 5 ticks`: eleven levels, so orders cross all the time.
const BAND: i64 = 5 * TICK;
const MAX_QTY: u64 = 30;
const MAX_ORDERS: usize = 12;
/// Traded instruments; id 1 is not traded.
const INSTRUMENTS: [u16; 2] = [0, 2];

fn config(mode: SelfMatchMode) -> VenueConfig {
    VenueConfig {
        max_orders: MAX_ORDERS,
        max_band_levels: 64,
        self_match: mode,
        instruments: INSTRUMENTS
            .iter()
            .map(|&id| InstrumentConfig {
                id: InstrumentId(id),
                tick: Price(TICK),
                band: PriceBand::Range {
                    min: Price(PX - BAND),
                    max: Price(PX + BAND),
                },
                max_order_qty: Qty(MAX_QTY),
            })
            .collect(),
    }
}

#[derive(Clone, Copy, Debug)]
struct RefOrder {
    order_ref: u64,
    firm: FirmId,
    client_id: ClientOrderId,
    instrument: InstrumentId,
    side: Side,
    price: i64,
    qty: u64,
    order_type: OrderType,
    /// Time priority: smaller is earlier.
    seq: u64,
}

struct Reference {
    orders: Vec<RefOrder>,
    mode: SelfMatchMode,
    seq: u64,
    last_ref: u64,
    last_match: u64,
}

struct Incoming {
    ts: Timestamp,
    order_ref: u64,
    firm: FirmId,
    client_id: ClientOrderId,
    instrument: InstrumentId,
    side: Side,
    price: i64,
    qty: u64,
    order_type: OrderType,
}

fn crosses(side: Side, price: i64, resting_price: i64) -> bool {
    match side {
        Side::Buy => resting_price <= price,
        Side::Sell => resting_price >= price,
    }
}

impl Reference {
    fn new(mode: SelfMatchMode) -> Self {
        Self {
            orders: Vec::new(),
            mode,
            seq: 0,
            last_ref: 0,
            last_match: 0,
        }
    }

    fn validate(instrument: InstrumentId, price: Price, qty: Qty) -> Result<(), RejectReason> {
        if !INSTRUMENTS.contains(&instrument.0) {
            Err(RejectReason::UnknownInstrument)
        } else if qty.0 == 0 {
            Err(RejectReason::ZeroQty)
        } else if qty.0 > MAX_QTY {
            Err(RejectReason::QtyAboveMax)
        } else if price.0 % TICK != 0 {
            Err(RejectReason::OffTick)
        } else if price.0 < PX - BAND || price.0 > PX + BAND {
            Err(RejectReason::OutsideBand)
        } else {
            Ok(())
        }
    }

    fn find(&self, firm: FirmId, client_id: ClientOrderId) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.firm == firm && o.client_id == client_id)
    }

    /// Index of the best order an incoming order could trade with, if any.
    fn best_opposite(&self, instrument: InstrumentId, side: Side, price: i64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, o) in self.orders.iter().enumerate() {
            if o.instrument != instrument || o.side == side || !crosses(side, price, o.price) {
                continue;
            }
            let better = match best.map(|b| self.orders[b]) {
                None => true,
                Some(b) => {
                    let price_better = match side {
                        Side::Buy => o.price < b.price,
                        Side::Sell => o.price > b.price,
                    };
                    price_better || (o.price == b.price && o.seq < b.seq)
                }
            };
            if better {
                best = Some(i);
            }
        }
        best
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn process(&mut self, command: &Command, out: &mut Vec<Event>) {
        match *command {
            Command::New(c) => {
                let reject = |reason| {
                    Event::Rejected(Rejected {
                        ts: c.ts,
                        firm: c.firm,
                        client_id: c.client_id,
                        orig_client_id: c.client_id,
                        request: RequestKind::New,
                        reason,
                    })
                };
                let reason = Self::validate(c.instrument, c.price, c.qty)
                    .err()
                    .or_else(|| {
                        if self.find(c.firm, c.client_id).is_some() {
                            Some(RejectReason::DuplicateClientId)
                        } else if c.order_type == OrderType::PostOnly
                            && self
                                .best_opposite(c.instrument, c.side, c.price.0)
                                .is_some()
                        {
                            Some(RejectReason::PostOnlyWouldTake)
                        } else if c.order_type != OrderType::Ioc && self.orders.len() >= MAX_ORDERS
                        {
                            Some(RejectReason::CapacityExceeded)
                        } else {
                            None
                        }
                    });
                if let Some(reason) = reason {
                    out.push(reject(reason));
                    return;
                }
                self.last_ref += 1;
                out.push(Event::Accepted(Accepted {
                    ts: c.ts,
                    order_ref: OrderId(self.last_ref),
                    instrument: c.instrument,
                    firm: c.firm,
                    client_id: c.client_id,
                    side: c.side,
                    price: c.price,
                    qty: c.qty,
                    order_type: c.order_type,
                }));
                self.match_and_rest(
                    Incoming {
                        ts: c.ts,
                        order_ref: self.last_ref,
                        firm: c.firm,
                        client_id: c.client_id,
                        instrument: c.instrument,
                        side: c.side,
                        price: c.price.0,
                        qty: c.qty.0,
                        order_type: c.order_type,
                    },
                    out,
                );
            }
            Command::Cancel(c) => {
                let reject = |reason| {
                    Event::Rejected(Rejected {
                        ts: c.ts,
                        firm: c.firm,
                        client_id: c.client_id,
                        orig_client_id: c.client_id,
                        request: RequestKind::Cancel,
                        reason,
                    })
                };
                let Some(i) = self.find(c.firm, c.client_id) else {
                    out.push(reject(RejectReason::UnknownOrder));
                    return;
                };
                let o = self.orders[i];
                if c.leave_qty.0 >= o.qty {
                    out.push(reject(RejectReason::NotReduced));
                    return;
                }
                if c.leave_qty.0 == 0 {
                    self.orders.remove(i);
                } else {
                    self.orders[i].qty = c.leave_qty.0;
                }
                out.push(Event::Canceled(Canceled {
                    ts: c.ts,
                    order_ref: OrderId(o.order_ref),
                    instrument: o.instrument,
                    firm: o.firm,
                    client_id: o.client_id,
                    side: o.side,
                    price: Price(o.price),
                    qty: Qty(o.qty - c.leave_qty.0),
                    remaining: c.leave_qty,
                    reason: CancelReason::User,
                    on_book: true,
                }));
            }
            Command::Replace(c) => {
                let reject = |reason| {
                    Event::Rejected(Rejected {
                        ts: c.ts,
                        firm: c.firm,
                        client_id: c.client_id,
                        orig_client_id: c.orig_client_id,
                        request: RequestKind::Replace,
                        reason,
                    })
                };
                let Some(i) = self.find(c.firm, c.orig_client_id) else {
                    out.push(reject(RejectReason::UnknownOrder));
                    return;
                };
                if c.client_id != c.orig_client_id && self.find(c.firm, c.client_id).is_some() {
                    out.push(reject(RejectReason::DuplicateClientId));
                    return;
                }
                let o = self.orders[i];
                if let Err(reason) = Self::validate(o.instrument, c.price, c.qty) {
                    out.push(reject(reason));
                    return;
                }
                let in_place = c.price.0 == o.price && c.qty.0 <= o.qty;
                let would_cross = !in_place
                    && self
                        .best_opposite(o.instrument, o.side, c.price.0)
                        .is_some();
                if would_cross && o.order_type == OrderType::PostOnly {
                    out.push(reject(RejectReason::PostOnlyWouldTake));
                    return;
                }
                let effect = if in_place {
                    ReplaceEffect::InPlace
                } else if would_cross {
                    ReplaceEffect::Reentered
                } else {
                    ReplaceEffect::Requeued
                };
                let new_ref = if in_place {
                    o.order_ref
                } else {
                    self.last_ref += 1;
                    self.last_ref
                };
                out.push(Event::Replaced(Replaced {
                    ts: c.ts,
                    instrument: o.instrument,
                    old_ref: OrderId(o.order_ref),
                    new_ref: OrderId(new_ref),
                    firm: c.firm,
                    orig_client_id: c.orig_client_id,
                    client_id: c.client_id,
                    side: o.side,
                    old_price: Price(o.price),
                    old_qty: Qty(o.qty),
                    price: c.price,
                    qty: c.qty,
                    effect,
                }));
                match effect {
                    ReplaceEffect::InPlace => {
                        self.orders[i].qty = c.qty.0;
                        self.orders[i].client_id = c.client_id;
                    }
                    ReplaceEffect::Requeued => {
                        let seq = self.next_seq();
                        let r = &mut self.orders[i];
                        r.order_ref = new_ref;
                        r.client_id = c.client_id;
                        r.price = c.price.0;
                        r.qty = c.qty.0;
                        r.seq = seq;
                    }
                    ReplaceEffect::Reentered => {
                        self.orders.remove(i);
                        self.match_and_rest(
                            Incoming {
                                ts: c.ts,
                                order_ref: new_ref,
                                firm: c.firm,
                                client_id: c.client_id,
                                instrument: o.instrument,
                                side: o.side,
                                price: c.price.0,
                                qty: c.qty.0,
                                order_type: o.order_type,
                            },
                            out,
                        );
                    }
                }
            }
        }
    }

    fn match_and_rest(&mut self, mut t: Incoming, out: &mut Vec<Event>) {
        while t.qty > 0 {
            let Some(i) = self.best_opposite(t.instrument, t.side, t.price) else {
                break;
            };
            let r = self.orders[i];
            if r.firm == t.firm {
                let (resting_cut, taker_cut) = match self.mode {
                    SelfMatchMode::CancelOldest => (r.qty, 0),
                    SelfMatchMode::CancelNewest => (0, t.qty),
                    SelfMatchMode::CancelBoth => (r.qty, t.qty),
                    SelfMatchMode::Decrement => (r.qty.min(t.qty), r.qty.min(t.qty)),
                };
                if resting_cut > 0 {
                    self.orders[i].qty -= resting_cut;
                    out.push(Event::Canceled(Canceled {
                        ts: t.ts,
                        order_ref: OrderId(r.order_ref),
                        instrument: r.instrument,
                        firm: r.firm,
                        client_id: r.client_id,
                        side: r.side,
                        price: Price(r.price),
                        qty: Qty(resting_cut),
                        remaining: Qty(r.qty - resting_cut),
                        reason: CancelReason::SelfMatch,
                        on_book: true,
                    }));
                    if self.orders[i].qty == 0 {
                        self.orders.remove(i);
                    }
                }
                if taker_cut > 0 {
                    t.qty -= taker_cut;
                    out.push(Event::Canceled(Canceled {
                        ts: t.ts,
                        order_ref: OrderId(t.order_ref),
                        instrument: t.instrument,
                        firm: t.firm,
                        client_id: t.client_id,
                        side: t.side,
                        price: Price(t.price),
                        qty: Qty(taker_cut),
                        remaining: Qty(t.qty),
                        reason: CancelReason::SelfMatch,
                        on_book: false,
                    }));
                }
                continue;
            }
            let fill = r.qty.min(t.qty);
            t.qty -= fill;
            self.orders[i].qty -= fill;
            self.last_match += 1;
            out.push(Event::Executed(Executed {
                ts: t.ts,
                instrument: t.instrument,
                match_number: MatchNumber(self.last_match),
                price: Price(r.price),
                qty: Qty(fill),
                aggressor_side: t.side,
                resting_ref: OrderId(r.order_ref),
                resting_firm: r.firm,
                resting_client_id: r.client_id,
                resting_remaining: Qty(r.qty - fill),
                aggressor_ref: OrderId(t.order_ref),
                aggressor_firm: t.firm,
                aggressor_client_id: t.client_id,
                aggressor_remaining: Qty(t.qty),
            }));
            if self.orders[i].qty == 0 {
                self.orders.remove(i);
            }
        }
        if t.qty == 0 {
            return;
        }
        if t.order_type == OrderType::Ioc {
            out.push(Event::Canceled(Canceled {
                ts: t.ts,
                order_ref: OrderId(t.order_ref),
                instrument: t.instrument,
                firm: t.firm,
                client_id: t.client_id,
                side: t.side,
                price: Price(t.price),
                qty: Qty(t.qty),
                remaining: Qty::ZERO,
                reason: CancelReason::ImmediateOrCancel,
                on_book: false,
            }));
            return;
        }
        let seq = self.next_seq();
        self.orders.push(RefOrder {
            order_ref: t.order_ref,
            firm: t.firm,
            client_id: t.client_id,
            instrument: t.instrument,
            side: t.side,
            price: t.price,
            qty: t.qty,
            order_type: t.order_type,
            seq,
        });
        out.push(Event::Booked(Booked {
            ts: t.ts,
            order_ref: OrderId(t.order_ref),
            instrument: t.instrument,
            firm: t.firm,
            side: t.side,
            price: Price(t.price),
            qty: Qty(t.qty),
        }));
    }

    /// Levels best first, and each level's queue as (ref, firm, client, qty, type).
    fn book(&self, instrument: InstrumentId, side: Side) -> Vec<(Level, Vec<Queued>)> {
        let mut mine: Vec<RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.instrument == instrument && o.side == side)
            .copied()
            .collect();
        mine.sort_by_key(|o| {
            let key = if side == Side::Buy { -o.price } else { o.price };
            (key, o.seq)
        });
        let mut out: Vec<(Level, Vec<Queued>)> = Vec::new();
        for o in mine {
            let q = (o.order_ref, o.firm.0, o.client_id.0, o.qty, o.order_type);
            match out.last_mut() {
                Some((level, queue)) if level.price.0 == o.price => {
                    level.qty.0 += o.qty;
                    level.count += 1;
                    queue.push(q);
                }
                _ => out.push((
                    Level {
                        price: Price(o.price),
                        qty: Qty(o.qty),
                        count: 1,
                    },
                    vec![q],
                )),
            }
        }
        out
    }
}

type Queued = (u64, u32, u64, u64, OrderType);

fn engine_book(
    e: &MatchingEngine,
    instrument: InstrumentId,
    side: Side,
) -> Vec<(Level, Vec<Queued>)> {
    e.levels(instrument, side)
        .map(|level| {
            let queue = e
                .queue(instrument, side, level.price)
                .map(|o| {
                    (
                        o.order_ref.0,
                        o.firm.0,
                        o.client_id.0,
                        o.qty.0,
                        o.order_type,
                    )
                })
                .collect();
            (level, queue)
        })
        .collect()
}

fn resting_total(e: &MatchingEngine) -> u64 {
    INSTRUMENTS
        .iter()
        .flat_map(|&i| [Side::Buy, Side::Sell].map(|s| (i, s)))
        .map(|(i, s)| e.levels(InstrumentId(i), s).map(|l| l.qty.0).sum::<u64>())
        .sum()
}

/// Invariants that hold whatever the reference says.
fn check_invariants(
    e: &MatchingEngine,
    before: u64,
    events: &[Event],
) -> Result<(), TestCaseError> {
    for &i in &INSTRUMENTS {
        let bbo = e.bbo(InstrumentId(i));
        if let (Some(bid), Some(ask)) = (bbo.bid, bbo.ask) {
            prop_assert!(bid.price < ask.price, "crossed book {bbo:?}");
        }
    }
    // Resting quantity is conserved: what entered minus what left.
    let mut delta: i128 = 0;
    for ev in events {
        match ev {
            Event::Booked(b) => delta += i128::from(b.qty.0),
            Event::Executed(x) => delta -= i128::from(x.qty.0),
            Event::Canceled(c) if c.on_book => delta -= i128::from(c.qty.0),
            Event::Replaced(r) => match r.effect {
                ReplaceEffect::Reentered => delta -= i128::from(r.old_qty.0),
                _ => delta += i128::from(r.qty.0) - i128::from(r.old_qty.0),
            },
            _ => {}
        }
    }
    prop_assert_eq!(i128::from(resting_total(e)) - i128::from(before), delta);
    // Every incoming order's quantity is filled, cancelled or booked, exactly.
    let incoming: Vec<(OrderId, u64)> = events
        .iter()
        .filter_map(|ev| match ev {
            Event::Accepted(a) => Some((a.order_ref, a.qty.0)),
            Event::Replaced(r) if r.effect == ReplaceEffect::Reentered => {
                Some((r.new_ref, r.qty.0))
            }
            _ => None,
        })
        .collect();
    for (order_ref, qty) in incoming {
        let mut filled = 0;
        let mut left = qty;
        let mut accounted = 0;
        for ev in events {
            match ev {
                Event::Executed(x) if x.aggressor_ref == order_ref => {
                    filled += x.qty.0;
                    left -= x.qty.0;
                    prop_assert_eq!(x.aggressor_remaining.0, left);
                }
                Event::Canceled(c) if c.order_ref == order_ref && !c.on_book => {
                    accounted += c.qty.0;
                    left -= c.qty.0;
                    prop_assert_eq!(c.remaining.0, left);
                }
                Event::Booked(b) if b.order_ref == order_ref => accounted += b.qty.0,
                _ => {}
            }
        }
        prop_assert_eq!(
            filled + accounted,
            qty,
            "order {:?} not accounted for",
            order_ref
        );
    }
    Ok(())
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        // Mostly on tick inside the band (PX ± 5 ticks).
        8 => (-5_i64..=5).prop_map(|t| Price(PX + t * TICK)),
        1 => (-7_i64..=7).prop_map(|t| Price(PX + t * TICK)),
        1 => (-700_i64..=700).prop_map(|d| Price(PX + d)),
    ]
}

fn instrument() -> impl Strategy<Value = InstrumentId> {
    prop_oneof![6 => Just(InstrumentId(0)), 3 => Just(InstrumentId(2)), 1 => Just(InstrumentId(1))]
}

fn qty() -> impl Strategy<Value = Qty> {
    prop_oneof![10 => (1_u64..=20).prop_map(Qty), 1 => (0_u64..=40).prop_map(Qty)]
}

fn order_type() -> impl Strategy<Value = OrderType> {
    prop_oneof![5 => Just(OrderType::Limit), 2 => Just(OrderType::Ioc), 2 => Just(OrderType::PostOnly)]
}

fn command() -> impl Strategy<Value = Command> {
    let firm = (0_u32..3).prop_map(FirmId);
    let client = (0_u64..8).prop_map(ClientOrderId);
    prop_oneof![
        5 => (firm.clone(), client.clone(), instrument(), side(), price(), qty(), order_type()).prop_map(
            |(firm, client_id, instrument, side, price, qty, order_type)| Command::New(NewOrder {
                ts: Timestamp(0), firm, client_id, instrument, side, price, qty, order_type,
            })
        ),
        2 => (firm.clone(), client.clone(), 0_u64..12).prop_map(|(firm, client_id, leave)| {
            Command::Cancel(CancelOrder { ts: Timestamp(0), firm, client_id, leave_qty: Qty(leave) })
        }),
        3 => (firm, client.clone(), client, price(), qty()).prop_map(
            |(firm, orig_client_id, client_id, price, qty)| Command::Replace(ReplaceOrder {
                ts: Timestamp(0), firm, orig_client_id, client_id, price, qty,
            })
        ),
    ]
}

fn mode() -> impl Strategy<Value = SelfMatchMode> {
    prop_oneof![
        Just(SelfMatchMode::CancelOldest),
        Just(SelfMatchMode::CancelNewest),
        Just(SelfMatchMode::CancelBoth),
        Just(SelfMatchMode::Decrement),
    ]
}

fn with_ts(mut c: Command, ts: u64) -> Command {
    let t = Timestamp(ts);
    match &mut c {
        Command::New(x) => x.ts = t,
        Command::Cancel(x) => x.ts = t,
        Command::Replace(x) => x.ts = t,
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference_on_random_streams(
        mode in mode(),
        commands in prop::collection::vec(command(), 1..200),
    ) {
        let mut engine = MatchingEngine::new(&config(mode)).unwrap();
        let mut reference = Reference::new(mode);
        let mut got = Vec::with_capacity(64);
        let mut want = Vec::with_capacity(64);
        for (step, command) in commands.iter().enumerate() {
            let command = with_ts(*command, 1_000 + step as u64);
            got.clear();
            want.clear();
            let before = resting_total(&engine);
            engine.process(&command, &mut got);
            reference.process(&command, &mut want);
            prop_assert_eq!(&got, &want, "step {} {:?}", step, command);
            for &i in &INSTRUMENTS {
                for s in [Side::Buy, Side::Sell] {
                    prop_assert_eq!(
                        engine_book(&engine, InstrumentId(i), s),
                        reference.book(InstrumentId(i), s),
                        "step {} instrument {} {:?}", step, i, s
                    );
                }
            }
            prop_assert_eq!(engine.live_orders(), reference.orders.len());
            check_invariants(&engine, before, &got)?;
        }
    }
}
