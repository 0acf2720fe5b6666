//! Scenario tests: one per transition and race the venue can produce.

use std::sync::atomic::{AtomicU64, Ordering};

use quotewire_core::order::{
    CancelOrder, CancelReason, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder,
    TimeInForce,
};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};

use crate::{
    Applied, Oms, OmsConfig, OmsError, OmsReject, OrderState, ReportKind, Working, MAX_INSTRUMENTS,
};

const AAPL: InstrumentId = InstrumentId(2);
const MSFT: InstrumentId = InstrumentId(5);
const PX: Price = Price(1_000_000);

fn oms() -> Oms {
    Oms::new(&OmsConfig {
        capacity: 64,
        max_instruments: 8,
        max_in_flight: 32,
    })
    .expect("valid config")
}

/// Venue clock: every report gets a later timestamp unless a test pins one.
static CLOCK: AtomicU64 = AtomicU64::new(1_000);

fn tick() -> u64 {
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

fn venue_id(cl: ClOrdId) -> OrderId {
    OrderId(1_000 + u64::from(cl.0))
}

fn place(oms: &mut Oms, inst: InstrumentId, side: Side, price: Price, qty: u64) -> ClOrdId {
    oms.place(inst, side, price, Qty(qty), TimeInForce::Day, false, 0)
        .expect("room")
        .cl
}

fn accepted(cl: ClOrdId, price: Price, qty: u64) -> ExecReport {
    ExecReport::Accepted {
        cl,
        venue_id: venue_id(cl),
        price,
        qty: Qty(qty),
        ts_ns: tick(),
    }
}

/// A new order accepted by the venue.
fn live(oms: &mut Oms, side: Side, qty: u64) -> ClOrdId {
    let cl = place(oms, AAPL, side, PX, qty);
    assert!(matches!(
        oms.on_report(&accepted(cl, PX, qty)),
        Applied::Accepted { .. }
    ));
    cl
}

fn exec(cl: ClOrdId, qty: u64, match_number: u64) -> ExecReport {
    ExecReport::Executed {
        cl,
        qty: Qty(qty),
        price: PX,
        match_number,
        liquidity: b'A',
        ts_ns: tick(),
    }
}

fn canceled(cl: ClOrdId, qty: u64, reason: CancelReason) -> ExecReport {
    canceled_at(cl, qty, reason, tick())
}

fn canceled_at(cl: ClOrdId, qty: u64, reason: CancelReason, ts_ns: u64) -> ExecReport {
    ExecReport::Canceled {
        cl,
        qty: Qty(qty),
        reason,
        ts_ns,
    }
}

fn replaced(orig: ClOrdId, cl: ClOrdId, price: Price, qty: u64) -> ExecReport {
    ExecReport::Replaced {
        orig,
        cl,
        venue_id: venue_id(cl),
        price,
        qty: Qty(qty),
        ts_ns: tick(),
    }
}

fn rejected(cl: ClOrdId) -> ExecReport {
    ExecReport::Rejected {
        cl,
        reason: 7,
        ts_ns: tick(),
    }
}

fn cancel_rejected(cl: ClOrdId) -> ExecReport {
    ExecReport::CancelRejected { cl, ts_ns: tick() }
}

fn state(oms: &Oms, cl: ClOrdId) -> Option<OrderState> {
    oms.order(cl).map(crate::Order::state)
}

fn fill_of(a: Applied) -> crate::Fill {
    match a {
        Applied::Fill(f) => f,
        other => panic!("expected a fill, got {other:?}"),
    }
}

#[test]
fn cl_ids_start_at_one_increase_and_set_next_only_raises() {
    let mut oms = oms();
    assert_eq!(place(&mut oms, AAPL, Side::Buy, PX, 1), ClOrdId(1));
    assert_eq!(place(&mut oms, AAPL, Side::Buy, PX, 1), ClOrdId(2));
    oms.set_next_cl_id(ClOrdId(500));
    assert_eq!(place(&mut oms, AAPL, Side::Buy, PX, 1), ClOrdId(500));
    oms.set_next_cl_id(ClOrdId(10));
    assert_eq!(place(&mut oms, AAPL, Side::Buy, PX, 1), ClOrdId(501));
    assert_eq!(oms.next_cl_id(), ClOrdId(502));
}

#[test]
fn accepted_order_is_live_and_found_by_both_ids() {
    let mut oms = oms();
    let cl = place(&mut oms, AAPL, Side::Sell, PX, 100);
    assert_eq!(state(&oms, cl), Some(OrderState::PendingNew));
    assert_eq!(oms.order(cl).and_then(crate::Order::venue_id), None);
    assert_eq!(oms.in_flight(), 1);
    oms.on_report(&accepted(cl, Price(999_900), 100));
    let o = oms.by_venue_id(venue_id(cl)).expect("indexed by venue id");
    assert_eq!(o.cl(), cl);
    assert_eq!(o.state(), OrderState::Live);
    assert_eq!(o.price(), Price(999_900));
    assert_eq!(
        (o.leaves(), o.filled(), o.qty()),
        (Qty(100), Qty(0), Qty(100))
    );
    assert_eq!(oms.in_flight(), 0);
}

#[test]
fn fill_after_cancel_sent_is_counted() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    oms.cancel(cl, 0).expect("cancel");
    let f = fill_of(oms.on_report(&exec(cl, 30, 1)));
    assert_eq!((f.qty, f.leaves, f.done), (Qty(30), Qty(70), false));
    assert_eq!(state(&oms, cl), Some(OrderState::PendingCancel));
    assert_eq!(oms.position(AAPL), 30);
    let a = oms.on_report(&canceled(cl, 70, CancelReason::User));
    assert!(matches!(
        a,
        Applied::Cancelled {
            qty: Qty(70),
            done: true,
            ..
        }
    ));
    assert_eq!(oms.live_orders(), 0);
    assert_eq!(oms.in_flight(), 0);
    assert_eq!(oms.position(AAPL), 30);
}

#[test]
fn fill_after_cancel_sent_that_completes_the_order_fills_it() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 100);
    oms.cancel(cl, 0).expect("cancel");
    let f = fill_of(oms.on_report(&exec(cl, 100, 1)));
    assert!(f.done);
    assert_eq!(oms.position(AAPL), -100);
    assert_eq!(oms.live_orders(), 0);
    assert_eq!(
        oms.in_flight(),
        0,
        "the cancel is moot once the order is filled"
    );
    // The venue's too-late answer to the cancel is harmless.
    assert_eq!(
        oms.on_report(&cancel_rejected(cl)),
        Applied::Unknown {
            cl,
            kind: ReportKind::CancelRejected
        }
    );
    assert_eq!(oms.counters().filled_orders, 1);
}

#[test]
fn replace_rejected_after_partial_fill_keeps_filled_qty() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    let req = oms
        .replace(cl, Price(1_000_100), Qty(80), 0)
        .expect("replace");
    assert_eq!((req.orig, req.cl), (cl, ClOrdId(cl.0 + 1)));
    assert_eq!(state(&oms, cl), Some(OrderState::PendingReplace));
    fill_of(oms.on_report(&exec(cl, 40, 1)));
    let a = oms.on_report(&rejected(req.cl));
    assert_eq!(
        a,
        Applied::ReplaceRejected {
            cl,
            rejected: req.cl,
            instrument: AAPL,
            side: Side::Buy,
            price: PX,
            leaves: Qty(60),
            cancel_lost: false,
        }
    );
    let o = oms.order(cl).expect("still open");
    assert_eq!(o.state(), OrderState::PartiallyFilled);
    assert_eq!((o.filled(), o.leaves(), o.price()), (Qty(40), Qty(60), PX));
    assert!(o.pending_replace().is_none());
    assert!(oms.order(req.cl).is_none(), "the refused id is unindexed");
    assert_eq!(oms.in_flight(), 0);
    assert_eq!(oms.position(AAPL), 40);
}

#[test]
fn replace_acknowledged_moves_the_order_to_the_new_ids() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 100);
    let req = oms
        .replace(cl, Price(999_000), Qty(50), 0)
        .expect("replace");
    let p = oms.order(req.cl).and_then(crate::Order::pending_replace);
    assert_eq!(
        p.map(|p| (p.cl, p.price, p.qty)),
        Some((req.cl, Price(999_000), Qty(50)))
    );
    let a = oms.on_report(&replaced(cl, req.cl, Price(999_000), 50));
    assert!(
        matches!(a, Applied::Replaced { orig, cl: new, leaves: Qty(50), done: false, .. }
        if orig == cl && new == req.cl)
    );
    assert!(oms.order(cl).is_none(), "orig id unindexed");
    assert!(
        oms.by_venue_id(venue_id(cl)).is_none(),
        "old venue id unindexed"
    );
    let o = oms.by_venue_id(venue_id(req.cl)).expect("new venue id");
    assert_eq!(
        (o.cl(), o.price(), o.leaves()),
        (req.cl, Price(999_000), Qty(50))
    );
    assert_eq!(o.state(), OrderState::Live);
    assert_eq!(oms.live_orders(), 1);
    assert_eq!(oms.in_flight(), 0);
    // Fills now arrive on the new id.
    let f = fill_of(oms.on_report(&exec(req.cl, 50, 1)));
    assert!(f.done);
    assert_eq!(oms.position(AAPL), -50);
}

#[test]
fn replace_keeping_the_venue_reference_stays_findable_by_it() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    let req = oms.replace(cl, PX, Qty(60), 0).expect("replace");
    oms.on_report(&ExecReport::Replaced {
        orig: cl,
        cl: req.cl,
        venue_id: venue_id(cl),
        price: PX,
        qty: Qty(60),
        ts_ns: tick(),
    });
    assert_eq!(
        oms.by_venue_id(venue_id(cl)).map(crate::Order::cl),
        Some(req.cl)
    );
}

#[test]
fn executions_on_orig_id_before_replaced_are_counted() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    let req = oms
        .replace(cl, Price(1_000_100), Qty(100), 0)
        .expect("replace");
    let f = fill_of(oms.on_report(&exec(cl, 25, 1)));
    assert_eq!((f.cl, f.leaves), (cl, Qty(75)));
    fill_of(oms.on_report(&exec(cl, 5, 2)));
    assert_eq!(state(&oms, cl), Some(OrderState::PendingReplace));
    // Worst case while pending: the larger of old leaves (70) and new qty (100).
    assert_eq!(oms.working(AAPL).open_buy_qty, 100);
    oms.on_report(&replaced(cl, req.cl, Price(1_000_100), 70));
    let o = oms.order(req.cl).expect("open");
    assert_eq!(
        (o.filled(), o.leaves(), o.qty()),
        (Qty(30), Qty(70), Qty(100))
    );
    assert_eq!(o.state(), OrderState::PartiallyFilled);
    assert_eq!(o.last_match(), 2);
    assert_eq!(oms.position(AAPL), 30);
    assert_eq!(oms.working(AAPL).open_buy_qty, 70);
}

#[test]
fn fill_on_orig_that_completes_a_pending_replace_fills_the_order() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 10);
    let req = oms.replace(cl, PX, Qty(20), 0).expect("replace");
    assert!(fill_of(oms.on_report(&exec(cl, 10, 1))).done);
    assert_eq!(oms.in_flight(), 0);
    assert!(matches!(
        oms.on_report(&rejected(req.cl)),
        Applied::Unknown { .. }
    ));
    assert_eq!(oms.live_orders(), 0);
}

#[test]
fn cancel_rejected_returns_to_the_previous_state() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    oms.cancel(cl, 0).expect("cancel");
    let a = oms.on_report(&cancel_rejected(cl));
    assert!(matches!(
        a,
        Applied::CancelRejected {
            state: OrderState::Live,
            ..
        }
    ));
    assert_eq!(state(&oms, cl), Some(OrderState::Live));

    fill_of(oms.on_report(&exec(cl, 1, 1)));
    oms.cancel(cl, 0).expect("cancel");
    oms.on_report(&cancel_rejected(cl));
    assert_eq!(state(&oms, cl), Some(OrderState::PartiallyFilled));

    let pending = place(&mut oms, AAPL, Side::Sell, PX, 5);
    oms.cancel(pending, 0).expect("cancel of a pending new");
    assert_eq!(state(&oms, pending), Some(OrderState::PendingCancel));
    oms.on_report(&cancel_rejected(pending));
    assert_eq!(state(&oms, pending), Some(OrderState::PendingNew));
    assert_eq!(oms.in_flight(), 1);
    assert_eq!(oms.counters().cancel_rejects, 3);
}

#[test]
fn partial_cancel_reduces_leaves_and_keeps_the_order_open() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 100);
    let a = oms.on_report(&canceled(cl, 30, CancelReason::SelfMatch));
    assert!(matches!(
        a,
        Applied::Cancelled {
            qty: Qty(30),
            leaves: Qty(70),
            done: false,
            ..
        }
    ));
    let o = oms.order(cl).expect("open");
    assert_eq!(
        (o.leaves(), o.qty(), o.state()),
        (Qty(70), Qty(70), OrderState::Live)
    );
    assert_eq!(oms.working(AAPL).open_sell_qty, 70);
    let a = oms.on_report(&canceled(cl, 70, CancelReason::User));
    assert!(matches!(a, Applied::Cancelled { done: true, .. }));
    assert_eq!(oms.live_orders(), 0);
    assert_eq!(oms.working(AAPL), Working::default());
}

#[test]
fn ioc_remainder_self_match_and_venue_cancels_end_the_order() {
    for reason in [
        CancelReason::Ioc,
        CancelReason::SelfMatch,
        CancelReason::Venue,
    ] {
        let mut oms = oms();
        let cl = oms
            .place(AAPL, Side::Buy, PX, Qty(100), TimeInForce::Ioc, false, 0)
            .expect("room")
            .cl;
        oms.on_report(&accepted(cl, PX, 100));
        fill_of(oms.on_report(&exec(cl, 40, 1)));
        let a = oms.on_report(&canceled(cl, 60, reason));
        assert!(
            matches!(a, Applied::Cancelled { qty: Qty(60), done: true, reason: r, .. } if r == reason)
        );
        assert_eq!(oms.live_orders(), 0);
        assert_eq!(oms.position(AAPL), 40);
    }
}

#[test]
fn venue_cancel_while_a_cancel_is_pending_releases_the_request() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 10);
    oms.cancel(cl, 0).expect("cancel");
    oms.on_report(&canceled(cl, 10, CancelReason::Venue));
    assert_eq!((oms.live_orders(), oms.in_flight()), (0, 0));
}

#[test]
fn rejected_new_order_is_rejected_and_frees_its_slot() {
    let mut oms = oms();
    let cl = place(&mut oms, AAPL, Side::Buy, PX, 10);
    let a = oms.on_report(&rejected(cl));
    assert_eq!(
        a,
        Applied::Rejected {
            cl,
            instrument: AAPL,
            side: Side::Buy,
            reason: 7
        }
    );
    assert!(oms.order(cl).is_none());
    assert_eq!((oms.live_orders(), oms.in_flight()), (0, 0));
    assert_eq!(oms.working(AAPL), Working::default());
}

#[test]
fn duplicate_execution_from_replay_is_not_counted() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    fill_of(oms.on_report(&exec(cl, 10, 7)));
    fill_of(oms.on_report(&exec(cl, 10, 9)));
    for m in [7, 9] {
        assert_eq!(
            oms.on_report(&exec(cl, 10, m)),
            Applied::Duplicate {
                cl,
                kind: ReportKind::Executed
            }
        );
    }
    assert_eq!(oms.position(AAPL), 20);
    assert_eq!(oms.order(cl).map(crate::Order::filled), Some(Qty(20)));
    assert_eq!(oms.counters().fills, 2);
    assert_eq!(oms.counters().duplicates, 2);
}

#[test]
fn duplicate_accepted_replaced_and_canceled_change_nothing() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    assert!(matches!(
        oms.on_report(&accepted(cl, PX, 100)),
        Applied::Duplicate { .. }
    ));
    let req = oms.replace(cl, PX, Qty(90), 0).expect("replace");
    oms.on_report(&replaced(cl, req.cl, PX, 90));
    assert!(matches!(
        oms.on_report(&replaced(cl, req.cl, PX, 90)),
        Applied::Duplicate {
            kind: ReportKind::Replaced,
            ..
        }
    ));
    let t = tick();
    oms.on_report(&canceled_at(req.cl, 20, CancelReason::SelfMatch, t));
    let snapshot = *oms.order(req.cl).expect("open");
    assert!(matches!(
        oms.on_report(&canceled_at(req.cl, 20, CancelReason::SelfMatch, t)),
        Applied::Duplicate {
            kind: ReportKind::Canceled,
            ..
        }
    ));
    let after = oms.order(req.cl).expect("open");
    assert_eq!(
        (after.leaves(), after.state()),
        (snapshot.leaves(), snapshot.state())
    );
    assert_eq!(oms.working(AAPL).open_buy_qty, 70);
    assert_eq!(oms.counters().duplicates, 3);
}

#[test]
fn replayed_decrement_larger_than_the_leaves_left_by_later_fills_is_a_duplicate() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 100);
    let t = tick();
    oms.on_report(&canceled_at(cl, 30, CancelReason::SelfMatch, t));
    fill_of(oms.on_report(&exec(cl, 50, 1)));
    // Replay: the 30-share decrement again, now more than the 20 left.
    assert!(matches!(
        oms.on_report(&canceled_at(cl, 30, CancelReason::SelfMatch, t)),
        Applied::Duplicate { .. }
    ));
    assert_eq!(oms.order(cl).map(crate::Order::leaves), Some(Qty(20)));
}

#[test]
fn ioc_remainder_after_a_self_match_decrement_at_the_same_timestamp_is_applied() {
    let mut oms = oms();
    let cl = oms
        .place(AAPL, Side::Buy, PX, Qty(100), TimeInForce::Ioc, false, 0)
        .expect("room")
        .cl;
    oms.on_report(&accepted(cl, PX, 100));
    let t = tick();
    oms.on_report(&canceled_at(cl, 30, CancelReason::SelfMatch, t));
    let a = oms.on_report(&canceled_at(cl, 70, CancelReason::Ioc, t));
    assert!(matches!(a, Applied::Cancelled { done: true, .. }));
    assert_eq!(oms.live_orders(), 0);
}

#[test]
fn reports_for_unknown_ids_are_counted_and_returned() {
    let mut oms = oms();
    let ghost = ClOrdId(77);
    assert_eq!(
        oms.on_report(&exec(ghost, 10, 1)),
        Applied::Unknown {
            cl: ghost,
            kind: ReportKind::Executed
        }
    );
    for r in [
        accepted(ghost, PX, 1),
        canceled(ghost, 1, CancelReason::User),
        rejected(ghost),
        cancel_rejected(ghost),
        replaced(ClOrdId(76), ghost, PX, 1),
    ] {
        assert!(matches!(oms.on_report(&r), Applied::Unknown { cl, .. } if cl == ghost));
    }
    let c = oms.counters();
    assert_eq!(
        (c.unknown_fills, c.unknown_fill_qty, c.unknown_reports),
        (1, 10, 5)
    );
    assert_eq!(oms.position(AAPL), 0);
}

#[test]
fn broken_trade_is_counted_and_leaves_the_position_unchanged() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    fill_of(oms.on_report(&exec(cl, 10, 3)));
    let a = oms.on_report(&ExecReport::BrokenTrade {
        cl,
        match_number: 3,
        reason: b'E',
        ts_ns: tick(),
    });
    assert_eq!(
        a,
        Applied::BrokenTrade {
            cl,
            match_number: 3,
            instrument: Some(AAPL)
        }
    );
    assert_eq!(oms.position(AAPL), 10);
    assert_eq!(oms.counters().broken_trades, 1);
}

#[test]
fn cancel_during_pending_replace_names_the_replacement_and_is_dropped_if_the_replace_is_rejected() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    let req = oms.replace(cl, PX, Qty(50), 0).expect("replace");
    let c = oms.cancel(cl, 0).expect("cancel");
    assert_eq!(c.cl, req.cl);
    assert_eq!(state(&oms, cl), Some(OrderState::PendingCancel));
    assert_eq!(oms.in_flight(), 2);
    let a = oms.on_report(&rejected(req.cl));
    assert!(matches!(
        a,
        Applied::ReplaceRejected {
            cancel_lost: true,
            ..
        }
    ));
    assert_eq!(state(&oms, cl), Some(OrderState::Live));
    assert_eq!(oms.in_flight(), 0);
    // The venue's answer to the doomed cancel.
    assert!(matches!(
        oms.on_report(&cancel_rejected(req.cl)),
        Applied::Unknown { .. }
    ));
    assert_eq!(oms.counters().cancels_lost, 1);
}

#[test]
fn cancel_during_pending_replace_applies_to_the_replacement_once_replaced() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 100);
    let req = oms.replace(cl, PX, Qty(50), 0).expect("replace");
    let c = oms.cancel(req.cl, 0).expect("cancel by the replacement id");
    assert_eq!(c.cl, req.cl);
    oms.on_report(&replaced(cl, req.cl, PX, 50));
    assert_eq!(state(&oms, req.cl), Some(OrderState::PendingCancel));
    assert_eq!(oms.in_flight(), 1);
    oms.on_report(&canceled(req.cl, 50, CancelReason::User));
    assert_eq!((oms.live_orders(), oms.in_flight()), (0, 0));
}

#[test]
fn replace_refusal_reported_as_cancel_reject_naming_either_id_is_understood() {
    for name_orig in [true, false] {
        let mut oms = oms();
        let cl = live(&mut oms, Side::Buy, 100);
        let req = oms.replace(cl, Price(1), Qty(5), 0).expect("replace");
        let named = if name_orig { cl } else { req.cl };
        let a = oms.on_report(&cancel_rejected(named));
        assert!(matches!(a, Applied::ReplaceRejected { rejected, .. } if rejected == req.cl));
        assert_eq!(state(&oms, cl), Some(OrderState::Live));
        assert_eq!(oms.best_working(AAPL, Side::Buy), Some(PX));
    }
}

#[test]
fn requests_are_refused_with_a_reason_and_change_nothing() {
    let mut oms = oms();
    let pending = place(&mut oms, AAPL, Side::Buy, PX, 10);
    assert_eq!(
        oms.replace(pending, PX, Qty(5), 0),
        Err(OmsReject::NotAcked)
    );
    let cl = live(&mut oms, Side::Buy, 10);
    assert_eq!(oms.replace(cl, PX, Qty(0), 0), Err(OmsReject::ZeroQty));
    assert_eq!(
        oms.replace(cl, PX, Qty(1 << 40), 0),
        Err(OmsReject::QtyTooLarge)
    );
    let req = oms.replace(cl, PX, Qty(5), 0).expect("replace");
    assert_eq!(
        oms.replace(cl, PX, Qty(6), 0),
        Err(OmsReject::AlreadyPending)
    );
    assert_eq!(
        oms.replace(req.cl, PX, Qty(6), 0),
        Err(OmsReject::AlreadyPending)
    );
    oms.cancel(cl, 0).expect("cancel");
    assert_eq!(oms.cancel(cl, 0), Err(OmsReject::AlreadyPending));
    assert_eq!(oms.cancel(ClOrdId(999), 0), Err(OmsReject::UnknownOrder));
    assert_eq!(
        oms.place(
            InstrumentId(8),
            Side::Buy,
            PX,
            Qty(1),
            TimeInForce::Day,
            false,
            0
        ),
        Err(OmsReject::UnknownInstrument)
    );
    assert_eq!(
        oms.place(AAPL, Side::Buy, PX, Qty(0), TimeInForce::Day, false, 0),
        Err(OmsReject::ZeroQty)
    );
    assert_eq!(oms.counters().refused, 9);
    assert_eq!(
        oms.next_cl_id(),
        ClOrdId(req.cl.0 + 1),
        "refusals use no id"
    );
}

#[test]
fn in_flight_limit_refuses_requests_until_answers_arrive() {
    let mut oms = Oms::new(&OmsConfig {
        capacity: 8,
        max_instruments: 1,
        max_in_flight: 2,
    })
    .expect("valid");
    let a = place(&mut oms, InstrumentId(0), Side::Buy, PX, 1);
    place(&mut oms, InstrumentId(0), Side::Buy, PX, 1);
    assert_eq!(
        oms.place(
            InstrumentId(0),
            Side::Buy,
            PX,
            Qty(1),
            TimeInForce::Day,
            false,
            0
        ),
        Err(OmsReject::InFlightLimit)
    );
    assert_eq!(oms.cancel(a, 0), Err(OmsReject::InFlightLimit));
    oms.on_report(&accepted(a, PX, 1));
    assert_eq!(oms.in_flight(), 1);
    assert!(oms.cancel(a, 0).is_ok());
}

#[test]
fn a_full_slab_refuses_new_orders_and_terminal_orders_free_their_slot() {
    let mut oms = Oms::new(&OmsConfig {
        capacity: 2,
        max_instruments: 1,
        max_in_flight: 4,
    })
    .expect("valid");
    let inst = InstrumentId(0);
    let a = place(&mut oms, inst, Side::Buy, PX, 1);
    place(&mut oms, inst, Side::Buy, PX, 1);
    assert_eq!(
        oms.place(inst, Side::Buy, PX, Qty(1), TimeInForce::Day, false, 0),
        Err(OmsReject::Full)
    );
    oms.on_report(&rejected(a));
    assert!(oms
        .place(inst, Side::Buy, PX, Qty(1), TimeInForce::Day, false, 0)
        .is_ok());
}

#[test]
fn cancel_all_covers_pending_new_and_pending_replace_but_not_pending_cancel() {
    let mut oms = oms();
    let pending_new = place(&mut oms, AAPL, Side::Buy, PX, 10);
    let replacing = live(&mut oms, Side::Sell, 10);
    let req = oms.replace(replacing, PX, Qty(5), 0).expect("replace");
    let cancelling = live(&mut oms, Side::Buy, 10);
    oms.cancel(cancelling, 0).expect("cancel");
    let other = place(&mut oms, MSFT, Side::Buy, PX, 10);
    let mut sent = Vec::new();
    let n = oms.cancel_all(1, &mut |c| sent.push(c.cl));
    assert_eq!(n, 3);
    sent.sort();
    let mut want = vec![pending_new, req.cl, other];
    want.sort();
    assert_eq!(sent, want);
    assert_eq!(oms.cancel_all(2, &mut |_| {}), 0, "nothing left to cancel");
    for cl in [pending_new, replacing, cancelling, other] {
        assert_eq!(state(&oms, cl), Some(OrderState::PendingCancel));
    }
}

#[test]
fn cancel_instrument_only_touches_that_instrument() {
    let mut oms = oms();
    let a = place(&mut oms, AAPL, Side::Buy, PX, 10);
    let m = place(&mut oms, MSFT, Side::Sell, PX, 10);
    let mut sent = Vec::new();
    assert_eq!(oms.cancel_instrument(MSFT, 0, &mut |c| sent.push(c.cl)), 1);
    assert_eq!(sent, [m]);
    assert_eq!(state(&oms, a), Some(OrderState::PendingNew));
    assert_eq!(oms.cancel_instrument(InstrumentId(999), 0, &mut |_| {}), 0);
}

#[test]
fn cancel_all_stops_at_the_in_flight_limit_and_resumes() {
    let mut oms = Oms::new(&OmsConfig {
        capacity: 8,
        max_instruments: 1,
        max_in_flight: 3,
    })
    .expect("valid");
    let inst = InstrumentId(0);
    let ids: Vec<_> = (0..3)
        .map(|_| place(&mut oms, inst, Side::Buy, PX, 1))
        .collect();
    for &cl in &ids {
        oms.on_report(&accepted(cl, PX, 1));
    }
    assert_eq!(oms.cancel_all(0, &mut |_| {}), 3);
    oms.on_report(&cancel_rejected(ids[0]));
    assert_eq!(oms.cancel_all(0, &mut |_| {}), 1);
}

#[test]
fn reconcile_expires_unseen_new_orders_and_restores_lost_cancels_and_replaces() {
    let mut oms = oms();
    let unseen = place(&mut oms, AAPL, Side::Buy, PX, 10);
    let cancelling = live(&mut oms, Side::Buy, 10);
    oms.cancel(cancelling, 0).expect("cancel");
    let replacing = live(&mut oms, Side::Sell, 10);
    fill_of(oms.on_report(&exec(replacing, 4, 1)));
    let req = oms
        .replace(replacing, Price(900_000), Qty(20), 0)
        .expect("replace");
    let quiet = live(&mut oms, Side::Sell, 10);
    let mut got = Vec::new();
    let n = oms.reconcile(42, &mut |r| got.push(r));
    assert_eq!(n, 3);
    let find = |cl| got.iter().find(|r| r.cl == cl).copied().expect("reported");
    assert_eq!(find(unseen).state, OrderState::Expired);
    assert!(find(cancelling).cancel_lost);
    assert_eq!(find(cancelling).state, OrderState::Live);
    let r = find(replacing);
    assert_eq!(
        (r.state, r.replace_lost, r.leaves),
        (OrderState::PartiallyFilled, Some(req.cl), Qty(6))
    );
    assert!(got.iter().all(|r| r.cl != quiet));
    assert!(oms.order(unseen).is_none());
    assert!(oms.order(req.cl).is_none(), "lost replacement id unindexed");
    assert_eq!(oms.in_flight(), 0);
    assert_eq!(oms.live_orders(), 3);
    assert_eq!(oms.working(AAPL).open_sell_qty, 16);
    assert_eq!(oms.best_working(AAPL, Side::Sell), Some(PX));
    assert_eq!(oms.last_reconcile_ns(), 42);
    // The engine can re-issue.
    assert!(oms.replace(replacing, Price(900_000), Qty(20), 43).is_ok());
    assert!(oms.cancel(cancelling, 43).is_ok());
}

#[test]
fn expire_all_frees_every_slot() {
    let mut oms = oms();
    place(&mut oms, AAPL, Side::Buy, PX, 10);
    let cl = live(&mut oms, Side::Sell, 10);
    oms.replace(cl, PX, Qty(3), 0).expect("replace");
    place(&mut oms, MSFT, Side::Buy, PX, 10);
    let mut states = Vec::new();
    assert_eq!(oms.expire_all(&mut |r| states.push(r.state)), 3);
    assert!(states.iter().all(|&s| s == OrderState::Expired));
    assert_eq!((oms.live_orders(), oms.in_flight()), (0, 0));
    assert_eq!(oms.working(AAPL), Working::default());
    assert_eq!(oms.best_working(AAPL, Side::Buy), None);
    let mut n = 0;
    oms.for_each_open(|_| n += 1);
    assert_eq!(n, 0);
}

#[test]
fn working_counts_pending_new_orders_and_the_worst_case_of_a_replace() {
    let mut oms = oms();
    place(&mut oms, AAPL, Side::Buy, PX, 10);
    let s = live(&mut oms, Side::Sell, 40);
    assert_eq!(
        oms.working(AAPL),
        Working {
            open_buy_qty: 10,
            open_sell_qty: 40,
            open_orders: 2
        }
    );
    let down = oms.replace(s, PX, Qty(15), 0).expect("replace");
    assert_eq!(oms.working(AAPL).open_sell_qty, 40);
    oms.on_report(&replaced(s, down.cl, PX, 15));
    assert_eq!(oms.working(AAPL).open_sell_qty, 15);
    oms.replace(down.cl, PX, Qty(60), 0).expect("replace up");
    assert_eq!(oms.working(AAPL).open_sell_qty, 60);
    assert_eq!(oms.working(MSFT), Working::default());
}

#[test]
fn best_working_tracks_our_best_price_and_recomputes_when_it_leaves() {
    let mut oms = oms();
    let b1 = live(&mut oms, Side::Buy, 10);
    let b2 = place(&mut oms, AAPL, Side::Buy, Price(PX.0 + 100), 10);
    let b3 = place(&mut oms, AAPL, Side::Buy, Price(PX.0 + 50), 10);
    assert_eq!(oms.best_working(AAPL, Side::Buy), Some(Price(PX.0 + 100)));
    assert_eq!(oms.best_working(AAPL, Side::Sell), None);
    oms.on_report(&rejected(b2));
    assert_eq!(oms.best_working(AAPL, Side::Buy), Some(Price(PX.0 + 50)));
    // A pending replace counts at the better of its two prices.
    let req = oms
        .replace(b1, Price(PX.0 + 200), Qty(10), 0)
        .expect("replace");
    assert_eq!(oms.best_working(AAPL, Side::Buy), Some(Price(PX.0 + 200)));
    oms.on_report(&rejected(req.cl));
    assert_eq!(oms.best_working(AAPL, Side::Buy), Some(Price(PX.0 + 50)));
    oms.on_report(&rejected(b3));
    assert_eq!(oms.best_working(AAPL, Side::Buy), Some(PX));
    let s1 = live(&mut oms, Side::Sell, 10);
    let s2 = live(&mut oms, Side::Sell, 10);
    let r = oms
        .replace(s2, Price(PX.0 - 10), Qty(10), 0)
        .expect("replace");
    oms.on_report(&replaced(s2, r.cl, Price(PX.0 - 10), 10));
    assert_eq!(oms.best_working(AAPL, Side::Sell), Some(Price(PX.0 - 10)));
    fill_of(oms.on_report(&exec(r.cl, 10, 1)));
    assert_eq!(oms.best_working(AAPL, Side::Sell), Some(PX));
    fill_of(oms.on_report(&exec(s1, 10, 2)));
    assert_eq!(oms.best_working(AAPL, Side::Sell), None);
}

#[test]
fn overfill_is_applied_in_full_and_counted() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Sell, 10);
    let f = fill_of(oms.on_report(&exec(cl, 12, 1)));
    assert!(f.done);
    assert_eq!(oms.position(AAPL), -12);
    assert_eq!(oms.counters().overfills, 1);
}

#[test]
fn unnumbered_fills_are_applied_and_counted() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 10);
    fill_of(oms.on_report(&exec(cl, 2, 0)));
    fill_of(oms.on_report(&exec(cl, 2, 0)));
    assert_eq!(oms.position(AAPL), 4);
    assert_eq!(oms.counters().unnumbered_fills, 2);
}

#[test]
fn config_refuses_zero_and_too_large_values() {
    let ok = OmsConfig {
        capacity: 16,
        max_instruments: 4,
        max_in_flight: 8,
    };
    assert!(Oms::new(&ok).is_ok());
    let cases = [
        (OmsConfig { capacity: 0, ..ok }, OmsError::ZeroCapacity),
        (
            OmsConfig {
                capacity: (1 << 30) + 1,
                ..ok
            },
            OmsError::CapacityTooLarge((1 << 30) + 1),
        ),
        (
            OmsConfig {
                max_instruments: 0,
                ..ok
            },
            OmsError::ZeroInstruments,
        ),
        (
            OmsConfig {
                max_instruments: MAX_INSTRUMENTS + 1,
                ..ok
            },
            OmsError::TooManyInstruments(MAX_INSTRUMENTS + 1),
        ),
        (
            OmsConfig {
                max_in_flight: 0,
                ..ok
            },
            OmsError::ZeroInFlight,
        ),
        (
            OmsConfig {
                max_in_flight: 33,
                ..ok
            },
            OmsError::InFlightTooLarge {
                max_in_flight: 33,
                capacity: 16,
            },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(Oms::new(&cfg).err(), Some(want));
    }
    assert!(OmsError::CapacityTooLarge(5)
        .to_string()
        .contains("maximum"));
}

#[test]
fn memory_bytes_covers_slab_keys_and_both_indexes() {
    let oms = oms();
    // 64 slots: 4 KiB slab, 512 B keys, 2 x 256 B tables for 128 ids, 2 x 128 B... at least.
    assert!(oms.memory_bytes() >= 64 * 64 + 64 * 8 + 256 * 4 + 128 * 4);
    assert!(oms.bytes_per_order() >= 88.0);
}

#[test]
fn replayed_refusal_does_not_answer_a_newer_request() {
    let mut oms = oms();
    let cl = live(&mut oms, Side::Buy, 100);
    oms.cancel(cl, 0).expect("cancel");
    let old_reject = cancel_rejected(cl);
    oms.on_report(&old_reject);
    let req = oms.replace(cl, PX, Qty(50), 0).expect("replace");
    assert!(matches!(
        oms.on_report(&old_reject),
        Applied::Duplicate { .. }
    ));
    assert_eq!(state(&oms, cl), Some(OrderState::PendingReplace));
    assert!(matches!(
        oms.on_report(&replaced(cl, req.cl, PX, 50)),
        Applied::Replaced { .. }
    ));
    assert_eq!(oms.in_flight(), 0);
}

/// One line of a session as a journal records it.
#[derive(Clone, Copy, Debug)]
enum Line {
    Sent(OrderRequest),
    Got(ExecReport),
}

/// Open orders as (id, leaves, state).
type OpenOrders = Vec<(u32, u64, u8)>;

/// What an OMS holds that a restart must rebuild.
fn books(oms: &Oms) -> (Vec<i64>, OpenOrders, usize, ClOrdId) {
    let positions = (0..8).map(|i| oms.position(InstrumentId(i))).collect();
    let mut open = Vec::new();
    oms.for_each_open(|o| open.push((o.cl().0, o.leaves().0, o.state() as u8)));
    open.sort_unstable();
    (positions, open, oms.in_flight(), oms.next_cl_id())
}

/// A live session with fills, a partial fill before a replace, a decrement, a
/// rejected new order and a cancel; returns the live OMS and its journal.
fn session() -> (Oms, Vec<Line>) {
    let mut oms = oms();
    let mut log = Vec::new();
    fn sent(log: &mut Vec<Line>, r: Result<OrderRequest, OmsReject>) -> ClOrdId {
        let r = r.expect("request");
        log.push(Line::Sent(r));
        r.cl()
    }
    fn got(oms: &mut Oms, log: &mut Vec<Line>, r: ExecReport) {
        oms.on_report(&r);
        log.push(Line::Got(r));
    }
    fn new(
        oms: &mut Oms,
        inst: InstrumentId,
        side: Side,
        qty: u64,
    ) -> Result<OrderRequest, OmsReject> {
        oms.place(inst, side, PX, Qty(qty), TimeInForce::Day, true, 0)
            .map(OrderRequest::New)
    }
    let a = sent(&mut log, new(&mut oms, AAPL, Side::Buy, 100));
    let b = sent(&mut log, new(&mut oms, MSFT, Side::Sell, 300));
    let c = sent(&mut log, new(&mut oms, AAPL, Side::Sell, 50));
    got(&mut oms, &mut log, accepted(a, PX, 100));
    got(&mut oms, &mut log, accepted(b, PX, 300));
    got(&mut oms, &mut log, rejected(c));
    got(&mut oms, &mut log, exec(a, 40, 11));
    let r = oms.replace(a, Price(1_000_100), Qty(60), 0);
    let a2 = sent(&mut log, r.map(OrderRequest::Replace));
    got(&mut oms, &mut log, exec(a, 10, 12));
    got(&mut oms, &mut log, replaced(a, a2, Price(1_000_100), 50));
    got(&mut oms, &mut log, exec(a2, 20, 13));
    got(
        &mut oms,
        &mut log,
        canceled(b, 100, CancelReason::SelfMatch),
    );
    got(&mut oms, &mut log, exec(b, 200, 14));
    let d = sent(&mut log, new(&mut oms, MSFT, Side::Buy, 70));
    got(&mut oms, &mut log, accepted(d, PX, 70));
    let r = oms.cancel(d, 0);
    sent(&mut log, r.map(OrderRequest::Cancel));
    got(&mut oms, &mut log, canceled(d, 70, CancelReason::User));
    let e = sent(&mut log, new(&mut oms, AAPL, Side::Sell, 10));
    got(&mut oms, &mut log, accepted(e, PX, 10));
    let r = oms.cancel(e, 0);
    sent(&mut log, r.map(OrderRequest::Cancel));
    (oms, log)
}

fn rebuild(log: &[Line]) -> Oms {
    let mut oms = oms();
    for line in log {
        match line {
            Line::Sent(r) => oms.restore(r, 0).expect("restore"),
            Line::Got(r) => {
                oms.on_report(r);
            }
        }
    }
    oms
}

fn reports(log: &[Line]) -> impl Iterator<Item = &ExecReport> {
    log.iter().filter_map(|l| match l {
        Line::Got(r) => Some(r),
        Line::Sent(_) => None,
    })
}

#[test]
fn restoring_a_journal_rebuilds_positions_open_orders_and_ids() {
    let (live, log) = session();
    let rebuilt = rebuild(&log);
    assert_eq!(books(&rebuilt), books(&live));
    assert_eq!(rebuilt.position(AAPL), 70);
    assert_eq!(rebuilt.position(MSFT), -200);
    // The next id follows the highest restored one: no id is used twice.
    assert_eq!(rebuilt.next_cl_id(), live.next_cl_id());
}

#[test]
fn full_replay_after_a_restore_changes_nothing() {
    let (live, log) = session();
    let mut rebuilt = rebuild(&log);
    let fills = rebuilt.counters().fills;
    for r in reports(&log) {
        let a = rebuilt.on_report(r);
        assert!(
            matches!(a, Applied::Duplicate { .. } | Applied::Unknown { .. }),
            "{r:?} was applied again: {a:?}"
        );
    }
    assert_eq!(books(&rebuilt), books(&live));
    assert_eq!(rebuilt.counters().fills, fills);
}

#[test]
fn replay_after_a_journal_that_lost_its_tail_applies_exactly_the_lost_reports() {
    let (live, log) = session();
    for cut in 0..=log.len() {
        let mut rebuilt = rebuild(&log[..cut]);
        // The venue replays its whole session; the requests of the lost tail are
        // lost with it (the venue's answers to them are then unknown ids).
        for r in reports(&log) {
            rebuilt.on_report(r);
        }
        let known_tail = log[cut..].iter().all(|l| matches!(l, Line::Got(_)));
        if known_tail {
            assert_eq!(books(&rebuilt).0, books(&live).0, "cut at {cut}");
            assert_eq!(books(&rebuilt).1, books(&live).1, "cut at {cut}");
        }
        // Nothing is ever counted twice.
        assert!(rebuilt.counters().filled_qty <= live.counters().filled_qty);
    }
}

#[test]
fn restore_keeps_ids_and_refuses_an_id_already_used() {
    let mut oms = oms();
    let new = |cl: u32| {
        OrderRequest::New(NewOrder {
            cl: ClOrdId(cl),
            instrument: AAPL,
            side: Side::Buy,
            price: PX,
            qty: Qty(10),
            tif: TimeInForce::Day,
            post_only: true,
        })
    };
    oms.restore(&new(7), 0).expect("restore");
    assert_eq!(state(&oms, ClOrdId(7)), Some(OrderState::PendingNew));
    assert_eq!(oms.next_cl_id(), ClOrdId(8));
    assert_eq!(oms.restore(&new(7), 0), Err(OmsReject::IdUsed));
    assert_eq!(oms.restore(&new(3), 0), Err(OmsReject::IdUsed));
    assert_eq!(oms.live_orders(), 1);
    // A replace whose acceptance the journal lost is restored before it.
    let rep = OrderRequest::Replace(ReplaceOrder {
        orig: ClOrdId(7),
        cl: ClOrdId(9),
        instrument: AAPL,
        side: Side::Buy,
        price: PX,
        qty: Qty(5),
        post_only: true,
    });
    oms.restore(&rep, 0).expect("replace");
    assert!(matches!(
        oms.on_report(&accepted(ClOrdId(7), PX, 10)),
        Applied::Accepted { .. }
    ));
    assert!(matches!(
        oms.on_report(&replaced(ClOrdId(7), ClOrdId(9), PX, 5)),
        Applied::Replaced { .. }
    ));
    assert_eq!(oms.in_flight(), 0);
    assert_eq!(oms.next_cl_id(), ClOrdId(10));
    let cancel = OrderRequest::Cancel(CancelOrder {
        cl: ClOrdId(9),
        instrument: AAPL,
        side: Side::Buy,
    });
    oms.restore(&cancel, 0).expect("cancel");
    assert_eq!(oms.restore(&cancel, 0), Err(OmsReject::AlreadyPending));
    assert_eq!(state(&oms, ClOrdId(9)), Some(OrderState::PendingCancel));
}
