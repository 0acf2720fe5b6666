//! The simulated venue driven by hand-built ITCH events.

use quotewire_backtest::{reject, BacktestConfig, BacktestVenue, InstrumentSpec, Latency};
use quotewire_core::order::{
    CancelOrder, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder, TimeInForce,
};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_gateway::{OrderGateway, RecordingSink, SessionEvent};
use quotewire_protocol::itch::{
    AddOrder, Message, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice,
};
use quotewire_protocol::moldudp64::{PacketBuilder, Session, MAX_PAYLOAD};

const INST: InstrumentId = InstrumentId(1);
const ORDER_NS: u64 = 1_000;
const ACK_NS: u64 = 500;
const BID: i64 = 1_000_000;

fn venue(latency: Latency) -> BacktestVenue {
    BacktestVenue::new(BacktestConfig {
        latency,
        seed: 42,
        instruments: vec![InstrumentSpec {
            id: INST,
            tick: Price(100),
        }],
    })
    .unwrap()
}

fn constant() -> BacktestVenue {
    venue(Latency::Constant {
        order_ns: ORDER_NS,
        ack_ns: ACK_NS,
    })
}

fn add(order_ref: u64, side: Side, price: i64, shares: u32) -> Message {
    Message::AddOrder(AddOrder {
        stock_locate: INST.0,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
        side,
        shares,
        stock: *b"TEST    ",
        price: u32::try_from(price).unwrap(),
    })
}

fn exec(order_ref: u64, shares: u32) -> Message {
    Message::OrderExecuted(OrderExecuted {
        stock_locate: INST.0,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
        executed_shares: shares,
        match_number: 0,
    })
}

fn exec_at(order_ref: u64, shares: u32, price: i64) -> Message {
    Message::OrderExecutedWithPrice(OrderExecutedWithPrice {
        stock_locate: INST.0,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
        executed_shares: shares,
        match_number: 0,
        printable: b'Y',
        execution_price: u32::try_from(price).unwrap(),
    })
}

fn cancel(order_ref: u64, shares: u32) -> Message {
    Message::OrderCancel(OrderCancel {
        stock_locate: INST.0,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
        cancelled_shares: shares,
    })
}

fn new(cl: u32, side: Side, price: i64, qty: u64, post_only: bool) -> OrderRequest {
    OrderRequest::New(NewOrder {
        cl: ClOrdId(cl),
        instrument: INST,
        side,
        price: Price(price),
        qty: Qty(qty),
        tif: TimeInForce::Day,
        post_only,
    })
}

fn replace(orig: u32, cl: u32, price: i64, qty: u64) -> OrderRequest {
    OrderRequest::Replace(ReplaceOrder {
        orig: ClOrdId(orig),
        cl: ClOrdId(cl),
        instrument: INST,
        side: Side::Buy,
        price: Price(price),
        qty: Qty(qty),
        post_only: true,
    })
}

fn filled(sink: &RecordingSink) -> u64 {
    sink.reports
        .iter()
        .map(|r| match r {
            ExecReport::Executed { qty, .. } => qty.0,
            _ => 0,
        })
        .sum()
}

/// Public 300 at our bid, then our bid of 100 rests behind it (at t = 1000).
fn bid_behind_300(v: &mut BacktestVenue, sink: &mut RecordingSink) {
    v.on_market(0, &add(1, Side::Buy, BID, 300));
    v.send(0, &new(1, Side::Buy, BID, 100, true)).unwrap();
    v.poll(ORDER_NS + ACK_NS, sink);
    assert!(matches!(
        sink.reports.as_slice(),
        [ExecReport::Accepted { .. }]
    ));
}

#[test]
fn first_poll_reports_logged_in_then_ready_at_one() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    assert_eq!(v.poll(0, &mut sink), 0);
    v.poll(1, &mut sink);
    assert_eq!(
        sink.events,
        vec![
            SessionEvent::LoggedIn { next_seq: 1 },
            SessionEvent::Ready {
                next_cl: ClOrdId(1)
            }
        ]
    );
}

#[test]
fn bid_joins_behind_300_and_executions_of_200_do_not_fill_it() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(300)));
    v.on_market(2_000, &exec(1, 120));
    v.on_market(2_100, &exec(1, 80));
    v.poll(10_000, &mut sink);
    assert_eq!(filled(&sink), 0);
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(100)));
}

#[test]
fn cancel_of_100_ahead_then_execution_of_50_fills_50_of_ours() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Buy, BID, 400)); // behind us
    v.on_market(2_100, &exec(1, 200));
    v.on_market(2_200, &cancel(1, 100));
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(0)));
    v.on_market(2_300, &exec(2, 50));
    v.poll(10_000, &mut sink);
    assert_eq!(filled(&sink), 50);
    assert_eq!(v.leaves(ClOrdId(1)), Some(Qty(50)));
    let Some(ExecReport::Executed {
        price,
        liquidity,
        ts_ns,
        match_number,
        ..
    }) = sink.reports.last()
    else {
        panic!("no fill: {:?}", sink.reports);
    };
    assert_eq!(
        (*price, *liquidity, *ts_ns, *match_number),
        (Price(BID), b'A', 2_300, 1)
    );
}

#[test]
fn execution_at_a_worse_price_trades_through_and_fills_fully() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Buy, BID - 100, 500));
    v.on_market(2_100, &exec_at(2, 250, BID - 100));
    v.poll(10_000, &mut sink);
    assert_eq!(filled(&sink), 100);
    assert_eq!(v.leaves(ClOrdId(1)), None);
    assert_eq!(v.queue_ahead(ClOrdId(1)), None);
}

#[test]
fn ask_added_through_our_bid_fills_it() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Sell, BID - 200, 60));
    assert_eq!(v.leaves(ClOrdId(1)), Some(Qty(40)));
    v.on_market(2_100, &add(3, Side::Sell, BID, 1_000));
    v.poll(10_000, &mut sink);
    assert_eq!(filled(&sink), 100);
    assert_eq!(sink.executed(), vec![(ClOrdId(1), 1), (ClOrdId(1), 2)]);
}

#[test]
fn reports_arrive_exactly_order_plus_ack_later() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    v.on_market(0, &add(1, Side::Sell, BID + 100, 10));
    v.send(5_000, &new(1, Side::Buy, BID, 100, true)).unwrap();
    let due = 5_000 + ORDER_NS + ACK_NS;
    assert_eq!(v.poll(due - 1, &mut sink), 0);
    assert_eq!(v.poll(due, &mut sink), 1);
    let Some(ExecReport::Accepted { ts_ns, .. }) = sink.reports.first() else {
        panic!("not accepted: {:?}", sink.reports);
    };
    assert_eq!(*ts_ns, 5_000 + ORDER_NS);
    // A fill made by a market event is delivered ack_ns after it.
    v.on_market(20_000, &add(2, Side::Sell, BID, 30));
    assert_eq!(v.poll(20_000 + ACK_NS - 1, &mut sink), 0);
    assert_eq!(v.poll(20_000 + ACK_NS, &mut sink), 1);
}

#[test]
fn post_only_bid_at_the_best_ask_is_rejected() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    v.on_market(0, &add(1, Side::Sell, BID, 10));
    v.send(0, &new(1, Side::Buy, BID, 100, true)).unwrap();
    v.poll(ORDER_NS + ACK_NS, &mut sink);
    assert!(matches!(
        sink.reports.as_slice(),
        [ExecReport::Rejected {
            cl: ClOrdId(1),
            reason: reject::POST_ONLY_WOULD_CROSS,
            ..
        }]
    ));
    assert_eq!(v.leaves(ClOrdId(1)), None);
}

#[test]
fn marketable_bid_takes_the_asks_and_rests_the_rest() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    v.on_market(0, &add(1, Side::Sell, BID - 100, 30));
    v.on_market(0, &add(2, Side::Sell, BID, 20));
    v.on_market(0, &add(3, Side::Buy, BID, 70));
    v.send(0, &new(1, Side::Buy, BID, 100, false)).unwrap();
    v.poll(ORDER_NS + ACK_NS, &mut sink);
    let fills: Vec<_> = sink
        .reports
        .iter()
        .filter_map(|r| match r {
            ExecReport::Executed {
                qty,
                price,
                liquidity,
                ..
            } => Some((qty.0, price.0, *liquidity)),
            _ => None,
        })
        .collect();
    assert_eq!(fills, vec![(30, BID - 100, b'R'), (20, BID, b'R')]);
    assert_eq!(v.leaves(ClOrdId(1)), Some(Qty(50)));
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(70)));
    assert_eq!(v.best(INST, Side::Sell), Some(Price(BID - 100)));
}

#[test]
fn replace_down_in_size_at_the_same_price_keeps_priority() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Buy, BID, 400));
    v.send(2_000, &replace(1, 2, BID, 60)).unwrap();
    v.poll(10_000, &mut sink);
    assert!(matches!(
        sink.reports.last(),
        Some(ExecReport::Replaced { qty: Qty(60), .. })
    ));
    assert_eq!(v.queue_ahead(ClOrdId(2)), Some(Qty(300)));
}

#[test]
fn replace_up_in_size_goes_to_the_back_of_the_level() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Buy, BID, 400));
    v.send(2_000, &replace(1, 2, BID, 150)).unwrap();
    v.poll(10_000, &mut sink);
    assert_eq!(v.queue_ahead(ClOrdId(2)), Some(Qty(700)));
    // Order 2 is now ahead of us: its execution does not fill us.
    v.on_market(11_000, &exec(2, 100));
    v.poll(20_000, &mut sink);
    assert_eq!(filled(&sink), 0);
    assert_eq!(v.queue_ahead(ClOrdId(2)), Some(Qty(600)));
}

#[test]
fn replace_to_a_new_price_queues_behind_that_level() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    v.on_market(2_000, &add(2, Side::Buy, BID - 100, 250));
    v.send(2_000, &replace(1, 2, BID - 100, 100)).unwrap();
    v.poll(10_000, &mut sink);
    assert_eq!(v.queue_ahead(ClOrdId(2)), Some(Qty(250)));
    assert_eq!(v.leaves(ClOrdId(1)), None);
}

#[test]
fn cancel_reports_open_quantity_and_unknown_cancel_is_rejected() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    bid_behind_300(&mut v, &mut sink);
    let cancel_req = |cl| {
        OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(cl),
            instrument: INST,
            side: Side::Buy,
        })
    };
    v.send(2_000, &cancel_req(1)).unwrap();
    v.send(2_000, &cancel_req(9)).unwrap();
    v.poll(10_000, &mut sink);
    assert!(matches!(
        sink.reports.as_slice(),
        [
            ExecReport::Accepted { .. },
            ExecReport::Canceled {
                cl: ClOrdId(1),
                qty: Qty(100),
                ..
            },
            ExecReport::CancelRejected { cl: ClOrdId(9), .. }
        ]
    ));
}

fn histogram_run() -> (Vec<(u64, ExecReport)>, Vec<SessionEvent>) {
    let mut v = venue(Latency::Histogram(vec![
        (2_000, 5),
        (3_000, 3),
        (40_000, 1),
    ]));
    let mut sink = RecordingSink::default();
    let mut delivered = Vec::new();
    for step in 0..200_u32 {
        let t = u64::from(step) * 1_000;
        let next_ref = u64::from(step) + 1;
        let px = BID + i64::from(step % 3) * 100;
        v.on_market(t, &add(next_ref, Side::Buy, px, 100 + step));
        if step % 4 == 0 {
            v.send(t, &new(step + 1, Side::Buy, px, 50, true)).unwrap();
        }
        if step % 5 == 0 {
            v.on_market(t, &exec(next_ref, 40));
        }
        let before = sink.reports.len();
        v.poll(t, &mut sink);
        delivered.extend(sink.reports.iter().skip(before).map(|r| (t, *r)));
    }
    (delivered, sink.events)
}

#[test]
fn histogram_latency_runs_are_identical() {
    let (a, ea) = histogram_run();
    let (b, eb) = histogram_run();
    assert!(a.len() > 20, "too few reports to compare: {}", a.len());
    assert!(a
        .iter()
        .any(|(_, r)| matches!(r, ExecReport::Executed { .. })));
    assert_eq!(a, b);
    assert_eq!(ea, eb);
}

fn delete(order_ref: u64) -> Message {
    Message::OrderDelete(OrderDelete {
        stock_locate: INST.0,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
    })
}

/// A MoldUDP64 datagram of `messages` from sequence `seq`.
fn datagram(seq: u64, messages: &[Message]) -> Vec<u8> {
    let mut buf = vec![0_u8; MAX_PAYLOAD];
    let mut b = PacketBuilder::new(&mut buf, Session::from_str_padded("TEST"), seq).unwrap();
    let mut m = [0_u8; 64];
    for msg in messages {
        let n = msg.encode(&mut m).unwrap();
        b.push(&m[..n]).unwrap();
    }
    let len = b.finish();
    buf.truncate(len);
    buf
}

#[test]
fn emptied_best_level_gives_way_to_the_next_for_post_only_checks() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    v.on_market(0, &add(1, Side::Buy, BID, 100));
    v.on_market(0, &add(2, Side::Buy, BID - 200, 100));
    v.on_market(0, &add(3, Side::Buy, BID - 100, 100));
    v.on_market(10, &delete(1));
    assert_eq!(v.best(INST, Side::Buy), Some(Price(BID - 100)));
    // A post-only ask at the old best no longer crosses; one at the new best does.
    v.send(10, &new(1, Side::Sell, BID, 100, true)).unwrap();
    v.send(10, &new(2, Side::Sell, BID - 100, 100, true))
        .unwrap();
    v.poll(10_000, &mut sink);
    assert!(matches!(
        sink.reports.as_slice(),
        [
            ExecReport::Accepted { .. },
            ExecReport::Rejected {
                reason: reject::POST_ONLY_WOULD_CROSS,
                ..
            }
        ]
    ));
    v.on_market(20_000, &delete(3));
    v.on_market(20_000, &delete(2));
    assert_eq!(v.best(INST, Side::Buy), None);
}

#[test]
fn a_datagram_seen_on_both_lines_moves_the_book_once() {
    let mut v = constant();
    let mut sink = RecordingSink::default();
    let first = datagram(
        1,
        &[add(1, Side::Buy, BID, 300), add(2, Side::Buy, BID, 200)],
    );
    let (mut next_seq, mut applied) = (0, 0);
    applied += v.on_datagram(0, &first, &mut next_seq); // line A
    applied += v.on_datagram(0, &first, &mut next_seq); // line B: already seen
                                                        // Overlapping the first: only its last message is new.
    let second = datagram(
        2,
        &[add(2, Side::Buy, BID, 200), add(3, Side::Buy, BID, 50)],
    );
    applied += v.on_datagram(0, &second, &mut next_seq);
    assert_eq!((applied, next_seq), (3, 4));
    v.send(0, &new(1, Side::Buy, BID, 100, true)).unwrap();
    v.poll(ORDER_NS + ACK_NS, &mut sink);
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(550)));
    // A malformed datagram is skipped whole.
    let mut torn = datagram(4, &[delete(1), delete(2)]);
    torn.pop();
    assert_eq!(v.on_datagram(3_000, &torn, &mut next_seq), 0);
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(550)));
}

#[test]
fn one_message_datagrams_apply_once_and_torn_ones_not_at_all() {
    // One message a datagram, the shape of a daily file's tape (the venue's
    // one-comparison framing path): as the general path, each sequence once,
    // a duplicate moves nothing, a torn or padded datagram is skipped whole.
    let mut v = constant();
    let mut sink = RecordingSink::default();
    let (mut next_seq, mut applied) = (0, 0);
    let first = datagram(1, &[add(1, Side::Buy, BID, 300)]);
    applied += v.on_datagram(0, &first, &mut next_seq);
    applied += v.on_datagram(0, &first, &mut next_seq); // line B: already seen
    assert_eq!((applied, next_seq), (1, 2));
    let mut torn = datagram(2, &[add(2, Side::Buy, BID, 200)]);
    torn.pop();
    assert_eq!(v.on_datagram(0, &torn, &mut next_seq), 0);
    let mut padded = datagram(2, &[add(2, Side::Buy, BID, 200)]);
    padded.push(0);
    assert_eq!(v.on_datagram(0, &padded, &mut next_seq), 0);
    assert_eq!(next_seq, 2, "a malformed datagram moves nothing");
    applied += v.on_datagram(
        0,
        &datagram(2, &[add(3, Side::Buy, BID, 50)]),
        &mut next_seq,
    );
    assert_eq!((applied, next_seq), (2, 3));
    v.send(0, &new(1, Side::Buy, BID, 100, true)).unwrap();
    v.poll(ORDER_NS + ACK_NS, &mut sink);
    assert_eq!(v.queue_ahead(ClOrdId(1)), Some(Qty(350)));
}

#[test]
fn the_best_price_after_the_best_level_empties_is_exact_on_and_off_the_tick_grid() {
    const TICK: i64 = 100;
    let mut v = constant();
    let best = |v: &BacktestVenue, side| v.best(INST, side).map(|p| p.0);
    v.on_market(0, &add(1, Side::Buy, BID, 100));
    v.on_market(0, &add(2, Side::Buy, BID - 3 * TICK, 100));
    v.on_market(0, &add(3, Side::Buy, BID - 20 * TICK, 100));
    v.on_market(0, &delete(1));
    assert_eq!(
        best(&v, Side::Buy),
        Some(BID - 3 * TICK),
        "a few ticks behind"
    );
    v.on_market(0, &delete(2));
    assert_eq!(
        best(&v, Side::Buy),
        Some(BID - 20 * TICK),
        "many ticks behind"
    );
    // A level off the tick grid: the next best is no longer a whole number of ticks away.
    v.on_market(0, &add(4, Side::Buy, BID - 20 * TICK + 37, 100));
    v.on_market(0, &add(5, Side::Buy, BID, 100));
    v.on_market(0, &delete(5));
    assert_eq!(
        best(&v, Side::Buy),
        Some(BID - 20 * TICK + 37),
        "off the grid"
    );
    v.on_market(0, &delete(4));
    assert_eq!(best(&v, Side::Buy), Some(BID - 20 * TICK));
    v.on_market(0, &delete(3));
    assert_eq!(best(&v, Side::Buy), None, "no bids left");
    // Asks walk up.
    let ask = BID + 10 * TICK;
    v.on_market(0, &add(6, Side::Sell, ask, 100));
    v.on_market(0, &add(7, Side::Sell, ask + 2 * TICK, 100));
    v.on_market(0, &delete(6));
    assert_eq!(best(&v, Side::Sell), Some(ask + 2 * TICK));
    // Each answer matches what resting a marketable order sees: a post-only bid at the
    // best ask is refused, one a tick under it rests.
    let mut sink = RecordingSink::default();
    v.send(0, &new(1, Side::Buy, ask + 2 * TICK, 10, true))
        .unwrap();
    v.send(0, &new(2, Side::Buy, ask + TICK, 10, true)).unwrap();
    v.poll(ORDER_NS + ACK_NS, &mut sink);
    assert!(matches!(
        sink.reports.as_slice(),
        [
            ExecReport::Rejected {
                reason: reject::POST_ONLY_WOULD_CROSS,
                ..
            },
            ExecReport::Accepted { .. }
        ]
    ));
}
