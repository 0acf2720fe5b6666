//! Scenario tests of the matching rules.

use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side, Timestamp};

use super::*;
use crate::VenueError;

const AAPL: InstrumentId = InstrumentId(1);
const MSFT: InstrumentId = InstrumentId(3);
const TICK: i64 = 100;
/// 100.0000
const PX: i64 = 1_000_000;

fn config(mode: SelfMatchMode, max_orders: usize) -> VenueConfig {
    VenueConfig {
        max_orders,
        max_band_levels: 4096,
        self_match: mode,
        instruments: vec![
            InstrumentConfig {
                id: AAPL,
                tick: Price(TICK),
                band: PriceBand::Around {
                    reference: Price(PX),
                    width: Price(100_000),
                },
                max_order_qty: Qty(10_000),
            },
            InstrumentConfig {
                id: MSFT,
                tick: Price(TICK),
                band: PriceBand::Range {
                    min: Price(PX - 1000),
                    max: Price(PX + 1000),
                },
                max_order_qty: Qty(10_000),
            },
        ],
    }
}

struct Venue {
    engine: MatchingEngine,
    events: Vec<Event>,
    ts: u64,
}

impl Venue {
    fn new() -> Self {
        Self::with(SelfMatchMode::CancelOldest, 64)
    }

    fn with(mode: SelfMatchMode, max_orders: usize) -> Self {
        Self {
            engine: MatchingEngine::new(&config(mode, max_orders)).unwrap(),
            events: Vec::with_capacity(64),
            ts: 0,
        }
    }

    fn run(&mut self, command: Command) -> Vec<Event> {
        self.events.clear();
        self.engine.process(&command, &mut self.events);
        self.events.clone()
    }

    fn next_ts(&mut self) -> Timestamp {
        self.ts += 1;
        Timestamp(self.ts)
    }

    fn order(
        &mut self,
        firm: u32,
        id: u64,
        side: Side,
        ticks: i64,
        qty: u64,
        order_type: OrderType,
    ) -> Vec<Event> {
        let ts = self.next_ts();
        self.run(Command::New(NewOrder {
            ts,
            firm: FirmId(firm),
            client_id: ClientOrderId(id),
            instrument: AAPL,
            side,
            price: Price(PX + ticks * TICK),
            qty: Qty(qty),
            order_type,
        }))
    }

    fn limit(&mut self, firm: u32, id: u64, side: Side, ticks: i64, qty: u64) -> Vec<Event> {
        self.order(firm, id, side, ticks, qty, OrderType::Limit)
    }

    fn cancel(&mut self, firm: u32, id: u64, leave: u64) -> Vec<Event> {
        let ts = self.next_ts();
        self.run(Command::Cancel(CancelOrder {
            ts,
            firm: FirmId(firm),
            client_id: ClientOrderId(id),
            leave_qty: Qty(leave),
        }))
    }

    fn replace(&mut self, firm: u32, orig: u64, id: u64, ticks: i64, qty: u64) -> Vec<Event> {
        let ts = self.next_ts();
        self.run(Command::Replace(ReplaceOrder {
            ts,
            firm: FirmId(firm),
            orig_client_id: ClientOrderId(orig),
            client_id: ClientOrderId(id),
            price: Price(PX + ticks * TICK),
            qty: Qty(qty),
        }))
    }

    /// (order ref, qty) at a level, head first.
    fn queue(&self, side: Side, ticks: i64) -> Vec<(u64, u64)> {
        self.engine
            .queue(AAPL, side, Price(PX + ticks * TICK))
            .map(|o| (o.order_ref.0, o.qty.0))
            .collect()
    }
}

fn rejected(events: &[Event]) -> Option<RejectReason> {
    match events {
        [Event::Rejected(r)] => Some(r.reason),
        _ => None,
    }
}

fn fills(events: &[Event]) -> Vec<(u64, i64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Executed(x) => Some((x.resting_ref.0, (x.price.0 - PX) / TICK, x.qty.0)),
            _ => None,
        })
        .collect()
}

fn kinds(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| match e {
            Event::Accepted(_) => 'A',
            Event::Booked(_) => 'B',
            Event::Rejected(_) => 'J',
            Event::Executed(_) => 'E',
            Event::Canceled(_) => 'C',
            Event::Replaced(_) => 'U',
        })
        .collect()
}

#[test]
fn resting_order_is_accepted_then_booked() {
    let mut v = Venue::new();
    let ev = v.limit(1, 7, Side::Buy, 0, 100);
    assert_eq!(
        ev,
        vec![
            Event::Accepted(Accepted {
                ts: Timestamp(1),
                order_ref: OrderId(1),
                instrument: AAPL,
                firm: FirmId(1),
                client_id: ClientOrderId(7),
                side: Side::Buy,
                price: Price(PX),
                qty: Qty(100),
                order_type: OrderType::Limit,
            }),
            Event::Booked(Booked {
                ts: Timestamp(1),
                order_ref: OrderId(1),
                instrument: AAPL,
                firm: FirmId(1),
                side: Side::Buy,
                price: Price(PX),
                qty: Qty(100),
            }),
        ]
    );
    let bid = v.engine.bbo(AAPL).bid.unwrap();
    assert_eq!((bid.price, bid.qty, bid.count), (Price(PX), Qty(100), 1));
    assert_eq!(
        v.engine.order(OrderId(1)).unwrap().client_id,
        ClientOrderId(7)
    );
}

#[test]
fn aggressor_walks_several_levels_in_price_time_order() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 2, 10); // ref 1
    v.limit(2, 1, Side::Sell, 1, 10); // ref 2
    v.limit(3, 1, Side::Sell, 1, 20); // ref 3
    v.limit(4, 1, Side::Sell, 3, 50); // ref 4
    let ev = v.limit(5, 1, Side::Buy, 2, 45); // ref 5
    assert_eq!(kinds(&ev), "AEEEB");
    assert_eq!(fills(&ev), vec![(2, 1, 10), (3, 1, 20), (1, 2, 10)]);
    let Event::Executed(last) = ev[3] else {
        panic!()
    };
    assert_eq!(last.match_number, MatchNumber(3));
    assert_eq!(last.aggressor_remaining, Qty(5));
    assert_eq!(last.resting_remaining, Qty::ZERO);
    let Event::Booked(b) = ev[4] else { panic!() };
    assert_eq!(
        (b.order_ref, b.qty, b.price),
        (OrderId(5), Qty(5), Price(PX + 200))
    );
    let bbo = v.engine.bbo(AAPL);
    assert_eq!(bbo.bid.unwrap().price, Price(PX + 200));
    assert_eq!(bbo.ask.unwrap().price, Price(PX + 300));
}

#[test]
fn partial_fill_leaves_resting_order_at_head() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 100);
    v.limit(2, 1, Side::Sell, 0, 100);
    let ev = v.limit(3, 1, Side::Buy, 0, 30);
    assert_eq!(kinds(&ev), "AE");
    let Event::Executed(x) = ev[1] else { panic!() };
    assert_eq!(
        (x.resting_remaining, x.aggressor_remaining),
        (Qty(70), Qty::ZERO)
    );
    assert_eq!(x.aggressor_side, Side::Buy);
    assert_eq!(v.queue(Side::Sell, 0), vec![(1, 70), (2, 100)]);
}

#[test]
fn ioc_remainder_is_cancelled() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 10);
    let ev = v.order(2, 1, Side::Buy, 1, 25, OrderType::Ioc);
    assert_eq!(kinds(&ev), "AEC");
    let Event::Canceled(c) = ev[2] else { panic!() };
    assert_eq!(c.reason, CancelReason::ImmediateOrCancel);
    assert_eq!((c.qty, c.remaining, c.on_book), (Qty(15), Qty::ZERO, false));
    assert_eq!(v.engine.bbo(AAPL), Bbo::default());
    // An IOC that cannot trade at all is cancelled in full, and never rests.
    let ev = v.order(2, 2, Side::Buy, 0, 5, OrderType::Ioc);
    assert_eq!(kinds(&ev), "AC");
    assert_eq!(v.engine.live_orders(), 0);
}

#[test]
fn post_only_that_would_take_is_rejected() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 10);
    let ev = v.order(2, 1, Side::Buy, 0, 10, OrderType::PostOnly);
    assert_eq!(rejected(&ev), Some(RejectReason::PostOnlyWouldTake));
    let Event::Rejected(r) = ev[0] else { panic!() };
    assert_eq!(r.request, RequestKind::New);
    // One tick lower it posts.
    let ev = v.order(2, 1, Side::Buy, -1, 10, OrderType::PostOnly);
    assert_eq!(kinds(&ev), "AB");
    // No reference was consumed by the rejection.
    let Event::Accepted(a) = ev[0] else { panic!() };
    assert_eq!(a.order_ref, OrderId(2));
}

#[test]
fn post_only_replace_that_would_cross_is_rejected_and_order_untouched() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 1, 10);
    v.order(2, 1, Side::Buy, -1, 10, OrderType::PostOnly);
    let ev = v.replace(2, 1, 2, 1, 10);
    assert_eq!(rejected(&ev), Some(RejectReason::PostOnlyWouldTake));
    assert_eq!(v.queue(Side::Buy, -1), vec![(2, 10)]);
    assert!(v
        .engine
        .order_by_client(FirmId(2), ClientOrderId(1))
        .is_some());
}

#[test]
fn cancel_removes_order_and_partial_cancel_keeps_priority() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Buy, 0, 100);
    v.limit(1, 2, Side::Buy, 0, 100);
    let ev = v.cancel(1, 1, 40);
    let Event::Canceled(c) = ev[0] else { panic!() };
    assert_eq!(
        (c.qty, c.remaining, c.reason, c.on_book),
        (Qty(60), Qty(40), CancelReason::User, true)
    );
    assert_eq!(v.queue(Side::Buy, 0), vec![(1, 40), (2, 100)]);
    assert_eq!(v.cancel(1, 1, 40).len(), 1);
    assert_eq!(
        rejected(&v.cancel(1, 1, 40)),
        Some(RejectReason::NotReduced)
    );
    let ev = v.cancel(1, 2, 0);
    let Event::Canceled(c) = ev[0] else { panic!() };
    assert_eq!((c.qty, c.remaining), (Qty(100), Qty::ZERO));
    assert_eq!(v.queue(Side::Buy, 0), vec![(1, 40)]);
    assert_eq!(
        rejected(&v.cancel(1, 2, 0)),
        Some(RejectReason::UnknownOrder)
    );
    // Another firm cannot cancel it by the same client id.
    assert_eq!(
        rejected(&v.cancel(9, 1, 0)),
        Some(RejectReason::UnknownOrder)
    );
    let bid = v.engine.bbo(AAPL).bid.unwrap();
    assert_eq!((bid.qty, bid.count), (Qty(40), 1));
}

#[test]
fn replace_quantity_down_keeps_priority() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 100);
    v.limit(2, 1, Side::Sell, 0, 100);
    let ev = v.replace(1, 1, 11, 0, 60);
    let Event::Replaced(r) = ev[0] else { panic!() };
    assert_eq!(ev.len(), 1);
    assert_eq!(r.effect, ReplaceEffect::InPlace);
    assert_eq!((r.old_ref, r.new_ref), (OrderId(1), OrderId(1)));
    assert_eq!((r.old_qty, r.qty), (Qty(100), Qty(60)));
    assert_eq!(v.queue(Side::Sell, 0), vec![(1, 60), (2, 100)]);
    // The order now answers to its new client id only.
    assert!(v
        .engine
        .order_by_client(FirmId(1), ClientOrderId(1))
        .is_none());
    assert_eq!(
        v.engine
            .order_by_client(FirmId(1), ClientOrderId(11))
            .unwrap()
            .qty,
        Qty(60)
    );
    assert_eq!(v.engine.last_order_ref(), OrderId(2));
}

#[test]
fn replace_quantity_up_loses_priority_and_gets_new_ref() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 100);
    v.limit(2, 1, Side::Sell, 0, 100);
    let ev = v.replace(1, 1, 2, 0, 150);
    let Event::Replaced(r) = ev[0] else { panic!() };
    assert_eq!(r.effect, ReplaceEffect::Requeued);
    assert_eq!((r.old_ref, r.new_ref), (OrderId(1), OrderId(3)));
    assert_eq!(v.queue(Side::Sell, 0), vec![(2, 100), (3, 150)]);
    assert!(v.engine.order(OrderId(1)).is_none());
}

#[test]
fn replace_price_change_loses_priority_and_gets_new_ref() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Buy, 0, 100);
    v.limit(2, 1, Side::Buy, -1, 100);
    v.limit(3, 1, Side::Buy, 0, 100);
    let ev = v.replace(1, 1, 2, -1, 80);
    assert_eq!(kinds(&ev), "U");
    let Event::Replaced(r) = ev[0] else { panic!() };
    assert_eq!(r.effect, ReplaceEffect::Requeued);
    assert_eq!(
        (r.new_ref, r.old_price, r.price),
        (OrderId(4), Price(PX), Price(PX - TICK))
    );
    assert_eq!(v.queue(Side::Buy, -1), vec![(2, 100), (4, 80)]);
    assert_eq!(v.queue(Side::Buy, 0), vec![(3, 100)]);
    let view = v.engine.order(OrderId(4)).unwrap();
    assert_eq!((view.client_id, view.qty), (ClientOrderId(2), Qty(80)));
}

#[test]
fn replace_that_crosses_matches_as_new_aggressive_order() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 1, 30); // ref 1
    v.limit(2, 1, Side::Buy, 0, 50); // ref 2
    let ev = v.replace(2, 1, 2, 1, 50);
    assert_eq!(kinds(&ev), "UEB");
    let Event::Replaced(r) = ev[0] else { panic!() };
    assert_eq!(
        (r.effect, r.new_ref),
        (ReplaceEffect::Reentered, OrderId(3))
    );
    let Event::Executed(x) = ev[1] else { panic!() };
    assert_eq!(
        (x.aggressor_ref, x.aggressor_client_id, x.qty),
        (OrderId(3), ClientOrderId(2), Qty(30))
    );
    let Event::Booked(b) = ev[2] else { panic!() };
    assert_eq!(
        (b.order_ref, b.qty, b.price),
        (OrderId(3), Qty(20), Price(PX + TICK))
    );
    assert_eq!(v.queue(Side::Buy, 1), vec![(3, 20)]);
    assert_eq!(v.queue(Side::Buy, 0), vec![]);
    assert_eq!(v.engine.live_orders(), 1);
}

#[test]
fn replace_validates_like_a_new_order() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Buy, 0, 10);
    v.limit(1, 2, Side::Buy, 0, 10);
    assert_eq!(
        rejected(&v.replace(1, 9, 10, 0, 5)),
        Some(RejectReason::UnknownOrder)
    );
    assert_eq!(
        rejected(&v.replace(1, 1, 2, 0, 5)),
        Some(RejectReason::DuplicateClientId)
    );
    assert_eq!(
        rejected(&v.replace(1, 1, 3, 0, 0)),
        Some(RejectReason::ZeroQty)
    );
    assert_eq!(
        rejected(&v.replace(1, 1, 3, 0, 10_001)),
        Some(RejectReason::QtyAboveMax)
    );
    assert_eq!(
        rejected(&v.replace(1, 1, 3, 1001, 5)),
        Some(RejectReason::OutsideBand)
    );
    let Event::Rejected(r) = v.replace(1, 1, 3, 0, 0)[0] else {
        panic!()
    };
    assert_eq!(
        (r.request, r.client_id, r.orig_client_id),
        (RequestKind::Replace, ClientOrderId(3), ClientOrderId(1))
    );
    assert_eq!(v.queue(Side::Buy, 0), vec![(1, 10), (2, 10)]);
}

#[test]
fn off_tick_and_out_of_band_are_rejected() {
    let mut v = Venue::new();
    let mut new = |price: i64, qty: u64, inst: InstrumentId| {
        let order = NewOrder {
            ts: Timestamp(1),
            firm: FirmId(1),
            client_id: ClientOrderId(price as u64 ^ qty),
            instrument: inst,
            side: Side::Buy,
            price: Price(price),
            qty: Qty(qty),
            order_type: OrderType::Limit,
        };
        rejected(&v.run(Command::New(order)))
    };
    assert_eq!(new(PX + 1, 1, AAPL), Some(RejectReason::OffTick));
    assert_eq!(new(PX + 100_100, 1, AAPL), Some(RejectReason::OutsideBand));
    assert_eq!(new(PX - 100_100, 1, AAPL), Some(RejectReason::OutsideBand));
    assert_eq!(new(PX + 1100, 1, MSFT), Some(RejectReason::OutsideBand));
    assert_eq!(new(PX, 0, AAPL), Some(RejectReason::ZeroQty));
    assert_eq!(new(PX, 10_001, AAPL), Some(RejectReason::QtyAboveMax));
    assert_eq!(
        new(PX, 1, InstrumentId(2)),
        Some(RejectReason::UnknownInstrument)
    );
    assert_eq!(
        new(PX, 1, InstrumentId(999)),
        Some(RejectReason::UnknownInstrument)
    );
    // Band edges are inclusive.
    assert_eq!(new(PX + 100_000, 1, AAPL), None);
    assert_eq!(new(PX + 1000, 1, MSFT), None);
    assert_eq!(v.engine.last_order_ref(), OrderId(2));
}

#[test]
fn duplicate_client_id_per_firm_is_rejected() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Buy, 0, 10);
    assert_eq!(
        rejected(&v.limit(1, 1, Side::Buy, -1, 10)),
        Some(RejectReason::DuplicateClientId)
    );
    // Same id at another firm is fine; so is reuse once the order is gone.
    assert_eq!(kinds(&v.limit(2, 1, Side::Buy, -1, 10)), "AB");
    v.cancel(1, 1, 0);
    assert_eq!(kinds(&v.limit(1, 1, Side::Buy, -1, 10)), "AB");
}

#[test]
fn capacity_exceeded_rejects_resting_orders_but_not_ioc() {
    let mut v = Venue::with(SelfMatchMode::CancelOldest, 2);
    v.limit(1, 1, Side::Sell, 0, 10);
    v.limit(1, 2, Side::Sell, 1, 10);
    assert_eq!(
        rejected(&v.limit(2, 1, Side::Buy, -1, 10)),
        Some(RejectReason::CapacityExceeded)
    );
    assert_eq!(
        kinds(&v.order(2, 1, Side::Buy, 0, 10, OrderType::Ioc)),
        "AE"
    );
    assert_eq!(kinds(&v.limit(2, 2, Side::Buy, -1, 10)), "AB");
}

#[test]
fn self_match_cancels_resting_order() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 10); // ref 1, firm 1
    v.limit(2, 1, Side::Sell, 0, 10); // ref 2, firm 2
    let ev = v.limit(1, 2, Side::Buy, 0, 15); // ref 3, firm 1
    assert_eq!(kinds(&ev), "ACEB");
    let Event::Canceled(c) = ev[1] else { panic!() };
    assert_eq!(
        (c.order_ref, c.qty, c.remaining),
        (OrderId(1), Qty(10), Qty::ZERO)
    );
    assert_eq!((c.reason, c.on_book), (CancelReason::SelfMatch, true));
    assert_eq!(fills(&ev), vec![(2, 0, 10)]);
    assert_eq!(v.queue(Side::Buy, 0), vec![(3, 5)]);
}

#[test]
fn self_match_cancel_newest_keeps_resting_order() {
    let mut v = Venue::with(SelfMatchMode::CancelNewest, 16);
    v.limit(2, 1, Side::Sell, 0, 5);
    v.limit(1, 1, Side::Sell, 0, 10);
    let ev = v.limit(1, 2, Side::Buy, 0, 15);
    assert_eq!(kinds(&ev), "AEC");
    let Event::Canceled(c) = ev[2] else { panic!() };
    assert_eq!(
        (c.order_ref, c.qty, c.remaining, c.on_book),
        (OrderId(3), Qty(10), Qty::ZERO, false)
    );
    assert_eq!(v.queue(Side::Sell, 0), vec![(2, 10)]);
    assert_eq!(v.engine.bbo(AAPL).bid, None);
}

#[test]
fn self_match_cancel_both_removes_both() {
    let mut v = Venue::with(SelfMatchMode::CancelBoth, 16);
    v.limit(1, 1, Side::Sell, 0, 10);
    v.limit(2, 1, Side::Sell, 0, 10);
    let ev = v.limit(1, 2, Side::Buy, 0, 15);
    assert_eq!(kinds(&ev), "ACC");
    assert_eq!(v.queue(Side::Sell, 0), vec![(2, 10)]);
    assert_eq!(v.engine.live_orders(), 1);
}

#[test]
fn self_match_decrement_reduces_both_and_keeps_matching() {
    let mut v = Venue::with(SelfMatchMode::Decrement, 16);
    v.limit(1, 1, Side::Sell, 0, 4); // ref 1
    v.limit(2, 1, Side::Sell, 0, 10); // ref 2
    let ev = v.limit(1, 2, Side::Buy, 0, 10); // ref 3
    assert_eq!(kinds(&ev), "ACCE");
    let (Event::Canceled(resting), Event::Canceled(taker)) = (ev[1], ev[2]) else {
        panic!()
    };
    assert_eq!(
        (resting.order_ref, resting.qty, resting.remaining),
        (OrderId(1), Qty(4), Qty::ZERO)
    );
    assert_eq!(
        (taker.order_ref, taker.qty, taker.remaining, taker.on_book),
        (OrderId(3), Qty(4), Qty(6), false)
    );
    assert_eq!(fills(&ev), vec![(2, 0, 6)]);
    assert_eq!(v.queue(Side::Sell, 0), vec![(2, 4)]);
    // Larger resting order: it is reduced in place and the incoming one is gone.
    v.limit(1, 3, Side::Sell, 0, 10); // ref 4, behind ref 2
    v.limit(9, 1, Side::Buy, 0, 4); // takes ref 2
    let ev = v.limit(1, 4, Side::Buy, 0, 3);
    assert_eq!(kinds(&ev), "ACC");
    assert_eq!(v.queue(Side::Sell, 0), vec![(4, 7)]);
}

#[test]
fn instruments_are_independent() {
    let mut v = Venue::new();
    v.limit(1, 1, Side::Sell, 0, 10);
    let ev = v.run(Command::New(NewOrder {
        ts: Timestamp(9),
        firm: FirmId(2),
        client_id: ClientOrderId(1),
        instrument: MSFT,
        side: Side::Buy,
        price: Price(PX),
        qty: Qty(10),
        order_type: OrderType::Limit,
    }));
    assert_eq!(kinds(&ev), "AB");
    assert_eq!(v.engine.bbo(MSFT).bid.unwrap().qty, Qty(10));
    assert_eq!(v.engine.bbo(AAPL).ask.unwrap().qty, Qty(10));
}

#[test]
fn depth_lists_levels_best_first_across_bitmap_words() {
    let mut v = Venue::new();
    for (i, ticks) in [0, -1, -70, -200, -3].into_iter().enumerate() {
        v.limit(1, i as u64, Side::Buy, ticks, 10 + i as u64);
    }
    let mut out = [Level {
        price: Price(0),
        qty: Qty(0),
        count: 0,
    }; 3];
    assert_eq!(v.engine.depth(AAPL, Side::Buy, &mut out), 3);
    let prices: Vec<i64> = out.iter().map(|l| (l.price.0 - PX) / TICK).collect();
    assert_eq!(prices, vec![0, -1, -3]);
    let all: Vec<i64> = v
        .engine
        .levels(AAPL, Side::Buy)
        .map(|l| (l.price.0 - PX) / TICK)
        .collect();
    assert_eq!(all, vec![0, -1, -3, -70, -200]);
    assert_eq!(v.engine.levels(AAPL, Side::Sell).count(), 0);
    assert_eq!(v.engine.queue(AAPL, Side::Buy, Price(PX + 1)).count(), 0);
}

#[test]
fn same_inputs_same_outputs() {
    let script = |v: &mut Venue| {
        let mut all = Vec::new();
        for i in 0..200_u64 {
            let side = if i % 3 == 0 { Side::Sell } else { Side::Buy };
            let ticks = (i % 7) as i64 - 3;
            let firm = (i % 4) as u32;
            all.extend(match i % 5 {
                0 => v.order(firm, i, side, ticks, 10 + i % 13, OrderType::Ioc),
                1 => v.cancel(firm, i - 1, 0),
                2 => v.replace(firm, i - 2, i + 10_000, ticks, 5 + i % 11),
                _ => v.limit(firm, i, side, ticks, 10 + i % 17),
            });
        }
        all
    };
    let a = script(&mut Venue::new());
    let b = script(&mut Venue::new());
    assert!(a.iter().any(|e| matches!(e, Event::Executed(_))));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    // Order references and match numbers strictly increase.
    let refs: Vec<u64> = a
        .iter()
        .filter_map(|e| match e {
            Event::Accepted(x) => Some(x.order_ref.0),
            _ => None,
        })
        .collect();
    assert!(refs.windows(2).all(|w| w[0] < w[1]));
    let matches: Vec<u64> = a
        .iter()
        .filter_map(|e| match e {
            Event::Executed(x) => Some(x.match_number.0),
            _ => None,
        })
        .collect();
    assert!(matches.windows(2).all(|w| w[0] + 1 == w[1]));
}

#[test]
fn bad_configs_are_refused() {
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[1].id = AAPL;
    assert_eq!(
        MatchingEngine::new(&c).unwrap_err(),
        VenueError::DuplicateInstrument(AAPL)
    );
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].tick = Price(0);
    assert!(matches!(
        MatchingEngine::new(&c),
        Err(VenueError::InvalidTick { .. })
    ));
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].band = PriceBand::Range {
        min: Price(150),
        max: Price(199),
    };
    assert_eq!(
        MatchingEngine::new(&c).unwrap_err(),
        VenueError::EmptyBand(AAPL)
    );
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].band = PriceBand::Range {
        min: Price(100),
        max: Price(1_000_000_000),
    };
    assert!(matches!(
        MatchingEngine::new(&c),
        Err(VenueError::BandTooWide { .. })
    ));
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].band = PriceBand::Around {
        reference: Price(i64::from(u32::MAX)),
        width: Price(1000),
    };
    assert_eq!(
        MatchingEngine::new(&c).unwrap_err(),
        VenueError::BandOutOfRange(AAPL)
    );
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].max_order_qty = Qty(u64::from(u32::MAX) + 1);
    assert_eq!(
        MatchingEngine::new(&c).unwrap_err(),
        VenueError::InvalidMaxQty(AAPL)
    );
    // A band reaching below zero is clipped to one tick.
    let mut c = config(SelfMatchMode::CancelOldest, 8);
    c.instruments[0].band = PriceBand::Around {
        reference: Price(150),
        width: Price(1000),
    };
    let e = MatchingEngine::new(&c).unwrap();
    let r = e.rules(AAPL).unwrap();
    assert_eq!((r.low, r.high), (Price(100), Price(1100)));
}

#[test]
fn no_allocation_growth_over_a_long_run() {
    // One slot more than the resting buys: a day order needs a free slot on entry.
    let mut v = Venue::with(SelfMatchMode::CancelOldest, 9);
    for round in 0..2_000_u64 {
        for k in 0..8 {
            v.limit(1, round * 8 + k, Side::Buy, -(k as i64), 1);
        }
        v.limit(2, round, Side::Sell, -10, 8);
        assert_eq!(v.engine.live_orders(), 0);
    }
    assert_eq!(v.engine.last_match_number(), MatchNumber(16_000));
    assert_eq!(v.events.capacity(), 64);
}
