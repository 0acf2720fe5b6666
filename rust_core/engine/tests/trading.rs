//! The trading fast path end to end: hand-made ITCH books in MoldUDP64
//! datagrams go in, OUCH requests come out of an in-memory venue whose
//! answers (acks, fills, session events) are scripted; quotes, risk, the
//! kill switch, feed gaps, control requests and reconnects are checked from
//! the bytes written, the events published and the trader's state.

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::*;
use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest};
use quotewire_core::Side;
use quotewire_engine::trading::config::TraderConfig;
use quotewire_engine::trading::telemetry::{EngineEvent, OrderAction};
use quotewire_engine::trading::trader::{Control, SnapshotRecord};
use quotewire_feed::Line;
use quotewire_gateway::{
    GatewayError, GatewaySink, LostReason, MemoryGateway, OrderGateway, SessionEvent, SessionStatus,
};
use quotewire_risk::{InstrumentLimits, KillReason, Reject};

const BUY: Side = Side::Buy;
const SELL: Side = Side::Sell;

/// Instrument `locate` quoting around a 100.00 bid (300 shares) and a 100.10
/// ask (200 shares); returns the order references of both.
fn two_sided(h: &mut Harness<impl Recorded>, locate: u16) -> (u64, u64) {
    let (b, a) = (h.feed.order_ref(), h.feed.order_ref());
    h.deliver(&[
        directory(locate, &format!("S{locate}")),
        add(locate, b, BUY, 300, px(100, 0)),
        add(locate, a, SELL, 200, px(100, 10)),
    ]);
    (b, a)
}

/// The ids of our open orders on instrument `id`, as the OMS knows them.
fn resting_ids(h: &Harness<impl Recorded>, id: u16) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    h.trader.oms().for_each_open(|o| {
        if o.instrument() == inst(id) {
            ids.insert(o.cl().0);
        }
    });
    ids
}

/// The News of `reqs` for instrument `id` (told apart by symbol).
fn for_instrument(reqs: &[Req], id: u16) -> Vec<Req> {
    reqs.iter()
        .filter(|r| matches!(r, Req::New { symbol: s, .. } if *s == symbol(id)))
        .copied()
        .collect()
}

/// Price and size of the one New on `side` of `reqs`.
fn new_of(reqs: &[Req], side: Side) -> (i64, u64) {
    let (_, p, q) = only_new(reqs, side);
    (p, q)
}

#[test]
fn two_sided_book_gets_a_bid_and_an_ask_at_the_skewed_prices() {
    let mut cfg = config(1);
    cfg.instruments[0].half_spread_ticks = 2;
    let mut h = Harness::new(cfg);
    assert!(h.trader.session_ready());

    // One side only: no mid, no quote.
    let bid_ref = h.feed.order_ref();
    assert!(!h.deliver(&[directory(1, "S1"), add(1, bid_ref, BUY, 300, px(100, 0))]));
    assert!(h.requests().is_empty());

    let ask_ref = h.feed.order_ref();
    assert!(h.deliver(&[add(1, ask_ref, SELL, 200, px(100, 10))]));
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let (want_bid, want_ask) = expected_quote(px(100, 0), px(100, 10), 0, h.params(0));
    let (bid_cl, bid_px, bid_qty) = only_new(&reqs, BUY);
    let (ask_cl, ask_px, ask_qty) = only_new(&reqs, SELL);
    assert_eq!(Some((bid_px, bid_qty)), want_bid);
    assert_eq!(Some((ask_px, ask_qty)), want_ask);
    // Two ticks either side of the 100.05 mid.
    assert_eq!(bid_px, px(100, 5) - 2 * TICK);
    assert_eq!(ask_px, px(100, 5) + 2 * TICK);
    assert_ne!(bid_cl, ask_cl);
    for r in &reqs {
        let Req::New { symbol: s, .. } = *r else {
            panic!("{r:?}")
        };
        assert_eq!(s, symbol(1));
    }
    assert_eq!(h.trader.counters().orders_new, 2);

    // Sent, not yet acknowledged: open at the OMS, nothing resting yet.
    let snap = h.trader.instrument_snapshot(0);
    assert_eq!((snap.bid, snap.ask, snap.open_orders), (None, None, 2));

    assert_eq!(h.poll(), 2);
    assert!(h.requests().is_empty(), "acks alone change nothing");
    let snap = h.trader.instrument_snapshot(0);
    assert_eq!(rest(snap.bid), want_bid);
    assert_eq!(rest(snap.ask), want_ask);
    assert_eq!(snap.open_orders, 2);
    assert_eq!(snap.mid, Some(price(px(100, 5))));
    assert_eq!((snap.position, snap.fills), (0, 0));
    assert_eq!(h.trader.oms().live_orders(), 2);

    // The same through the snapshot ring.
    assert!(h.control(Control::Snapshot).ok);
    assert_eq!(
        h.ends.snapshots.pop().unwrap(),
        SnapshotRecord::Instrument(snap)
    );
    let SnapshotRecord::End {
        killed,
        reduce_only,
        ..
    } = h.ends.snapshots.pop().unwrap()
    else {
        panic!("no end record")
    };
    assert_eq!((killed, reduce_only), (None, false));
    assert!(h.ends.snapshots.pop().is_err());

    let sent: Vec<_> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Sent {
                action, side, cl, ..
            } => Some((action, side, cl.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (OrderAction::New, BUY, bid_cl),
            (OrderAction::New, SELL, ask_cl)
        ]
    );
}

#[test]
fn book_move_replaces_and_unchanged_target_sends_nothing() {
    let mut h = Harness::new(config(1));
    let (_, ask_ref) = two_sided(&mut h, 1);
    let first = h.requests();
    let mut cl = [only_new(&first, BUY).0, only_new(&first, SELL).0];
    let mut quoted = expected_quote(px(100, 0), px(100, 10), 0, h.params(0));
    h.poll();

    // The bid touch moves up one tick, then the ask touch does: each time
    // exactly the sides whose target moved are replaced, at the new target.
    let mut replaced_sides = BTreeSet::new();
    let (bid_up, ask_up) = (h.feed.order_ref(), h.feed.order_ref());
    let moves = [
        (
            vec![add(1, bid_up, BUY, 100, px(100, 1))],
            px(100, 1),
            px(100, 10),
        ),
        (
            vec![delete(1, ask_ref), add(1, ask_up, SELL, 200, px(100, 11))],
            px(100, 1),
            px(100, 11),
        ),
    ];
    for (messages, best_bid, best_ask) in moves {
        assert!(h.deliver(&messages));
        let target = expected_quote(best_bid, best_ask, 0, h.params(0));
        let reqs = h.requests();
        let mut want = Vec::new();
        for (k, (old, new)) in [(quoted.0, target.0), (quoted.1, target.1)]
            .into_iter()
            .enumerate()
        {
            if old != new {
                let (price, qty) = new.unwrap();
                want.push((k, price, qty));
            }
        }
        assert!(!want.is_empty(), "a one-tick touch move changes a target");
        assert_eq!(reqs.len(), want.len(), "{reqs:?}");
        for (k, price, qty) in want {
            let found = reqs.iter().find_map(|r| match *r {
                Req::Replace {
                    orig,
                    cl: new_cl,
                    price: p,
                    qty: q,
                } if orig == cl[k] => Some((new_cl, p, q)),
                _ => None,
            });
            let (new_cl, p, q) = found.unwrap_or_else(|| panic!("side {k} not replaced: {reqs:?}"));
            assert_eq!((p, q), (price, qty));
            assert!(new_cl > cl[k]);
            cl[k] = new_cl;
            replaced_sides.insert(k);
        }
        assert_eq!(h.poll(), reqs.len());
        quoted = target;
        let snap = h.trader.instrument_snapshot(0);
        assert_eq!((rest(snap.bid), rest(snap.ask)), quoted);
    }
    assert_eq!(replaced_sides.len(), 2, "both sides moved at some point");
    assert_eq!(h.trader.counters().orders_replace, 2);
    assert_eq!(resting_ids(&h, 1), cl.into_iter().collect());

    // Away from the touch, or more size at the touch: same target, no churn.
    let before = *h.trader.counters();
    let (deep_bid, deep_ask) = (h.feed.order_ref(), h.feed.order_ref());
    assert!(!h.deliver(&[add(1, deep_bid, BUY, 500, px(99, 90))]));
    assert!(!h.deliver(&[add(1, deep_ask, SELL, 500, px(100, 30))]));
    let at_touch = h.feed.order_ref();
    assert!(!h.deliver(&[add(1, at_touch, BUY, 900, px(100, 1))]));
    assert!(!h.deliver(&[delete(1, deep_bid)]));
    h.poll();
    assert!(h.requests().is_empty());
    let after = *h.trader.counters();
    assert_eq!(
        after.requotes, before.requotes,
        "deeper levels and more size at the touch leave the quote's inputs as they were"
    );
    assert_eq!(
        (after.orders_new, after.orders_replace, after.orders_cancel),
        (
            before.orders_new,
            before.orders_replace,
            before.orders_cancel
        )
    );
}

#[test]
fn fill_updates_position_and_pnl_and_skews_next_quote() {
    let mut h = Harness::new(config(1));
    two_sided(&mut h, 1);
    let reqs = h.requests();
    let (bid_cl, bid_px, _) = only_new(&reqs, BUY);
    let (ask_cl, ask_px, _) = only_new(&reqs, SELL);
    h.poll();

    h.trader
        .gateway_mut()
        .inject(ExecReport::Executed {
            cl: ClOrdId(bid_cl),
            qty: qty(100),
            price: price(bid_px),
            match_number: 1,
            liquidity: b'A',
            ts_ns: 5,
        })
        .unwrap();
    assert_eq!(h.poll(), 1);

    assert_eq!(h.trader.oms().position(inst(1)), 100);
    let pnl = h.trader.risk().pnl(inst(1)).unwrap();
    let mid = px(100, 5);
    assert_eq!(pnl.position, 100);
    assert_eq!(pnl.avg_price, price(bid_px));
    assert_eq!(pnl.realised, 0);
    assert_eq!(pnl.unrealised, 100 * (mid - bid_px));
    assert_eq!(pnl.reference, Some(price(mid)));
    assert_eq!(h.trader.risk().totals().total, 100 * (mid - bid_px));
    assert_eq!(h.trader.counters().fills, 1);

    let events = h.events();
    assert!(
        events.contains(&EngineEvent::Fill {
            cl: ClOrdId(bid_cl),
            instrument: inst(1),
            side: BUY,
            price: price(bid_px),
            qty: qty(100),
            position: 100,
        }),
        "{events:?}"
    );

    // Long 100: the filled bid comes back and the ask moves, both skewed down.
    let (want_bid, want_ask) = expected_quote(px(100, 0), px(100, 10), 100, h.params(0));
    let (want_bid, want_ask) = (want_bid.unwrap(), want_ask.unwrap());
    assert!(want_bid.0 < bid_px && want_ask.0 < ask_px);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let (new_bid, p, q) = only_new(&reqs, BUY);
    assert_eq!((p, q), want_bid);
    assert!(new_bid > ask_cl);
    assert!(
        reqs.iter().any(|r| matches!(*r,
            Req::Replace { orig, cl, price, qty }
                if orig == ask_cl && cl > ask_cl && (price, qty) == want_ask)),
        "{reqs:?}"
    );
    h.poll();
    let snap = h.trader.instrument_snapshot(0);
    assert_eq!(
        (rest(snap.bid), rest(snap.ask)),
        (Some(want_bid), Some(want_ask))
    );
    assert_eq!(
        (snap.position, snap.fills, snap.bought, snap.sold),
        (100, 1, 100, 0)
    );
}

#[test]
fn kill_switch_cancels_every_open_order_and_blocks_new_ones() {
    let mut h = Harness::new(config(2));
    two_sided(&mut h, 1);
    two_sided(&mut h, 2);
    assert_eq!(h.requests().len(), 4);
    h.poll();
    let open: BTreeSet<u32> = resting_ids(&h, 1)
        .union(&resting_ids(&h, 2))
        .copied()
        .collect();
    assert_eq!(open.len(), 4);
    h.events();

    assert!(h.control(Control::Kill).ok);
    assert_eq!(h.trader.risk().killed(), Some(KillReason::Manual));
    let cancels: BTreeSet<u32> = h
        .requests()
        .into_iter()
        .map(|r| match r {
            Req::Cancel { cl, qty: 0 } => cl,
            other => panic!("not a full cancel: {other:?}"),
        })
        .collect();
    assert_eq!(cancels, open);
    let events = h.events();
    assert!(events.contains(&EngineEvent::Killed {
        reason: KillReason::Manual,
        cancels: 4
    }));

    assert_eq!(h.poll(), 4);
    assert_eq!(h.trader.oms().live_orders(), 0);
    for i in 0..2 {
        let snap = h.trader.instrument_snapshot(i);
        assert_eq!((snap.bid, snap.ask, snap.open_orders), (None, None, 0));
    }
    assert!(h.requests().is_empty(), "nothing re-quoted while killed");

    // The market moves: still nothing.
    let r = h.feed.order_ref();
    assert!(!h.deliver(&[add(1, r, BUY, 100, px(100, 3))]));
    h.timers();
    h.poll();
    assert!(h.requests().is_empty());
    assert_eq!(h.trader.counters().orders_new, 4);

    // Re-armed: the next loop iteration quotes both instruments again.
    assert!(h.control(Control::Rearm).ok);
    assert_eq!(h.trader.risk().killed(), None);
    h.timers();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    // Instrument 1 at its new touch, instrument 2 where it was.
    for (id, best_bid) in [(1, px(100, 3)), (2, px(100, 0))] {
        let (bid, ask) = expected_quote(best_bid, px(100, 10), 0, h.params(0));
        let mine = for_instrument(&reqs, id);
        assert_eq!(Some(new_of(&mine, BUY)), bid);
        assert_eq!(Some(new_of(&mine, SELL)), ask);
    }
    assert!(h.events().contains(&EngineEvent::Rearmed));
}

#[test]
fn feed_gap_pulls_quotes_until_recovered() {
    let mut h = Harness::new(config(1));
    two_sided(&mut h, 1);
    assert_eq!(h.requests().len(), 2);
    h.poll();
    let open = resting_ids(&h, 1);
    h.events();

    // Three more datagrams are built; the first is lost on the multicast lines.
    let (deep, touch, ask) = (h.feed.order_ref(), h.feed.order_ref(), h.feed.order_ref());
    let gap = h.feed.next_seq();
    let missing = h.feed.datagram(&[add(1, deep, BUY, 100, px(99, 95))]);
    let third = h.feed.datagram(&[add(1, touch, BUY, 100, px(100, 2))]);
    let fourth = h.feed.datagram(&[add(1, ask, SELL, 100, px(100, 8))]);

    // The quotes are pulled at once. (`on_datagram` reports only what the
    // requote wrote, so its result says nothing about these cancels.)
    h.on(Line::A, &third);
    assert!(h.trader.feed_gap());
    let cancels: BTreeSet<u32> = h
        .requests()
        .into_iter()
        .map(|r| match r {
            Req::Cancel { cl, qty: 0 } => cl,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(cancels, open);
    assert_eq!(h.trader.risk().killed(), None, "a gap is not a kill");
    let events = h.events();
    assert!(
        events.contains(&EngineEvent::FeedGap { from: gap, to: gap }),
        "{events:?}"
    );

    // Cancels acknowledged, more data while the gap is open: nothing quoted.
    assert_eq!(h.poll(), 2);
    assert_eq!(h.trader.oms().live_orders(), 0);
    assert!(!h.on(Line::A, &fourth));
    h.poll();
    assert!(h.requests().is_empty());
    let now = h.now + 1;
    let request = h.trader.poll_feed_timers(now).expect("a re-request is due");
    assert_eq!((request.sequence, request.count), (gap, 1));
    assert!(h.requests().is_empty());
    assert_eq!(h.trader.counters().orders_new, 2);

    // The retransmission fills the gap: quoting resumes on the book with
    // all three applied (bid 100.02, ask 100.08).
    assert!(h.on(Line::Retransmit, &missing));
    assert!(!h.trader.feed_gap());
    assert!(h.events().contains(&EngineEvent::FeedRecovered));
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let (bid, ask) = expected_quote(px(100, 2), px(100, 8), 0, h.params(0));
    assert_eq!(Some(new_of(&reqs, BUY)), bid);
    assert_eq!(Some(new_of(&reqs, SELL)), ask);
    let stats = h.trader.sequencer().stats();
    assert_eq!((stats.lost, stats.requests), (0, 1));
}

#[test]
fn risk_reject_is_counted_with_its_reason() {
    let mut h = Harness::new(config(1));
    let limits = InstrumentLimits {
        max_order_qty: 50,
        ..h.config.instruments[0].limits()
    };
    assert!(
        h.control(Control::SetInstrumentLimits {
            instrument: inst(1),
            limits,
        })
        .ok
    );

    two_sided(&mut h, 1);
    assert!(h.trader.gateway().bytes().is_empty(), "no bytes written");
    let risk = h.trader.risk();
    let mut want = [0u64; Reject::COUNT];
    want[Reject::MaxOrderQty as usize] = 2;
    assert_eq!(risk.reject_counts(), want);
    assert_eq!(risk.rejects(Reject::MaxOrderQty), 2);
    assert_eq!(h.trader.counters().orders_new, 0);
    assert_eq!(h.trader.oms().live_orders(), 0);
    let rejects: Vec<_> = h
        .events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                EngineEvent::RiskReject { .. } | EngineEvent::LimitsChanged { .. }
            )
        })
        .collect();
    assert_eq!(
        rejects,
        vec![
            EngineEvent::LimitsChanged {
                instrument: Some(inst(1))
            },
            EngineEvent::RiskReject {
                instrument: inst(1),
                side: BUY,
                reason: Reject::MaxOrderQty
            },
            EngineEvent::RiskReject {
                instrument: inst(1),
                side: SELL,
                reason: Reject::MaxOrderQty
            },
        ]
    );
}

#[test]
fn lifting_the_limit_that_refused_the_quotes_quotes_without_waiting_for_the_book() {
    let mut h = Harness::new(config(1));
    let limits = h.config.instruments[0].limits();
    let tight = InstrumentLimits {
        max_order_qty: 50,
        ..limits
    };
    assert!(
        h.control(Control::SetInstrumentLimits {
            instrument: inst(1),
            limits: tight,
        })
        .ok
    );
    two_sided(&mut h, 1);
    assert!(h.requests().is_empty());

    // A quiet market: no book change after the limit is lifted.
    assert!(
        h.control(Control::SetInstrumentLimits {
            instrument: inst(1),
            limits,
        })
        .ok
    );
    h.timers();
    let reqs = h.requests();
    let (bid, ask) = expected_quote(px(100, 0), px(100, 10), 0, h.params(0));
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(Some(new_of(&reqs, BUY)), bid);
    assert_eq!(Some(new_of(&reqs, SELL)), ask);
}

#[test]
fn set_params_applies_within_one_event_and_is_acknowledged() {
    let mut h = Harness::new(config(1));
    two_sided(&mut h, 1);
    let reqs = h.requests();
    let cl = [only_new(&reqs, BUY).0, only_new(&reqs, SELL).0];
    h.poll();
    h.events();

    let base = h.config.instruments[0].skew_params();
    let wide = quotewire_strategy::SkewParams {
        half_spread_ticks: 3,
        ..base
    };
    let ack = h.control(Control::SetParams {
        instrument: inst(1),
        params: wide.into(),
    });
    assert!(ack.ok);
    assert_eq!(ack.ts_ns, h.now);
    // The next loop iteration re-quotes, with no market data in between.
    h.timers();
    h.config.instruments[0].half_spread_ticks = 3;
    let (bid, ask) = expected_quote(px(100, 0), px(100, 10), 0, h.params(0));
    let (bid, ask) = (bid.unwrap(), ask.unwrap());
    assert_eq!(
        (bid.0, ask.0),
        (px(100, 5) - 3 * TICK, px(100, 5) + 3 * TICK)
    );
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for (k, want) in [bid, ask].into_iter().enumerate() {
        assert!(
            reqs.iter().any(|r| matches!(*r,
                Req::Replace { orig, price, qty, .. }
                    if orig == cl[k] && (price, qty) == want)),
            "{reqs:?}"
        );
    }
    h.poll();
    assert!(h.events().contains(&EngineEvent::ParamsChanged {
        instrument: inst(1)
    }));

    // A bad value is refused and changes nothing.
    let bad = quotewire_strategy::SkewParams {
        half_spread_ticks: 0,
        ..base
    };
    let ack = h.control(Control::SetParams {
        instrument: inst(1),
        params: bad.into(),
    });
    assert!(!ack.ok);
    // So is an instrument that is not traded.
    let unknown = h.control(Control::SetParams {
        instrument: inst(9),
        params: base.into(),
    });
    assert!(!unknown.ok);
    let events = h.events();
    assert!(events.contains(&EngineEvent::ControlRefused { seq: ack.seq }));
    assert!(events.contains(&EngineEvent::ControlRefused { seq: unknown.seq }));
    h.timers();
    assert!(h.requests().is_empty());
    let snap = h.trader.instrument_snapshot(0);
    assert_eq!((rest(snap.bid), rest(snap.ask)), (Some(bid), Some(ask)));

    // The next book move still quotes three ticks out.
    let r = h.feed.order_ref();
    assert!(h.deliver(&[add(1, r, SELL, 100, px(100, 8))]));
    let (bid2, ask2) = expected_quote(px(100, 0), px(100, 8), 0, h.params(0));
    let reqs = h.requests();
    for want in [bid2, ask2].into_iter().flatten() {
        assert!(
            reqs.iter()
                .any(|r| matches!(*r, Req::Replace { price, qty, .. } if (price, qty) == want)),
            "{reqs:?}"
        );
    }
}

/// Collects what a gateway reports (the venue's answers kept for a replay).
#[derive(Debug, Default)]
struct Answers(Vec<ExecReport>);

impl GatewaySink for Answers {
    fn report(&mut self, r: &ExecReport) {
        self.0.push(*r);
    }
    fn session(&mut self, _e: SessionEvent) {}
}

/// The in-memory venue behind a connection that can be lost. Requests go on
/// the wire (`wire`: the bytes written) and reach the accept-everything
/// venue (`venue`) on the next poll; scripted session events and replayed
/// reports go out first.
#[derive(Debug)]
struct ScriptedVenue {
    wire: MemoryGateway,
    venue: MemoryGateway,
    in_transit: VecDeque<OrderRequest>,
    script: VecDeque<Step>,
}

/// One scripted message from the venue.
#[derive(Clone, Copy, Debug)]
enum Step {
    Session(SessionEvent),
    Report(ExecReport),
}

impl ScriptedVenue {
    fn new(config: &TraderConfig) -> Self {
        Self {
            wire: memory_gateway(config, false),
            venue: memory_gateway(config, true),
            in_transit: VecDeque::new(),
            script: VecDeque::new(),
        }
    }

    /// The connection drops before the requests in transit reach the venue.
    fn lose_in_transit(&mut self) {
        self.in_transit.clear();
        self.script.push_back(Step::Session(SessionEvent::Lost {
            reason: LostReason::PeerClosed,
        }));
    }

    /// The venue processes the requests in transit but the connection drops
    /// before its answers arrive; they are replayed after the next login.
    fn lose_answers(&mut self) -> Vec<ExecReport> {
        let mut answers = Answers::default();
        self.deliver(0, &mut answers);
        self.script.push_back(Step::Session(SessionEvent::Lost {
            reason: LostReason::PeerClosed,
        }));
        answers.0
    }

    /// Logged in again: `replay` comes first, then the venue expects `next_cl`.
    fn reconnect(&mut self, replay: &[ExecReport], next_cl: u32) {
        self.script
            .push_back(Step::Session(SessionEvent::LoggedIn { next_seq: 1 }));
        self.script.extend(replay.iter().map(|r| Step::Report(*r)));
        self.script.push_back(Step::Session(SessionEvent::Ready {
            next_cl: ClOrdId(next_cl),
        }));
    }

    /// Hands the requests in transit to the venue and reports its answers.
    fn deliver<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        while let Some(req) = self.in_transit.pop_front() {
            self.venue.send(now_ns, &req).unwrap();
        }
        self.venue.clear();
        self.venue.poll(now_ns, sink)
    }
}

impl OrderGateway for ScriptedVenue {
    fn send(&mut self, now_ns: u64, req: &OrderRequest) -> Result<(), GatewayError> {
        self.wire.send(now_ns, req)?;
        self.in_transit.push_back(*req);
        Ok(())
    }

    fn flush(&mut self, now_ns: u64) -> Result<(), GatewayError> {
        self.wire.flush(now_ns)
    }

    fn poll<S: GatewaySink>(&mut self, now_ns: u64, sink: &mut S) -> usize {
        let mut n = 0;
        while let Some(step) = self.script.pop_front() {
            match step {
                Step::Session(e) => sink.session(e),
                Step::Report(r) => {
                    sink.report(&r);
                    n += 1;
                }
            }
        }
        n + self.deliver(now_ns, sink)
    }

    fn status(&self) -> SessionStatus {
        self.venue.status()
    }
}

impl Recorded for ScriptedVenue {
    fn written(&self) -> &[u8] {
        self.wire.bytes()
    }
    fn forget(&mut self) {
        self.wire.clear();
    }
}

/// Instrument 1 resting then a replace of it in flight, instrument 2's
/// first quotes in flight; returns what is in flight and what rests.
fn quotes_in_flight(h: &mut Harness<ScriptedVenue>) -> (Vec<Req>, BTreeSet<u32>) {
    two_sided(h, 1);
    h.poll();
    h.requests();
    let resting1 = resting_ids(h, 1);
    let r = h.feed.order_ref();
    assert!(h.deliver(&[add(1, r, BUY, 100, px(100, 2))]));
    two_sided(h, 2);
    let in_flight = h.requests();
    assert!(in_flight.iter().any(|r| matches!(r, Req::Replace { .. })));
    assert_eq!(for_instrument(&in_flight, 2).len(), 2);
    h.events();
    (in_flight, resting1)
}

/// The session is lost: the kill switch fires (nothing can be cancelled)
/// and nothing is sent until the session is back.
fn assert_lost_and_silent(h: &mut Harness<ScriptedVenue>) {
    h.poll();
    assert!(!h.trader.session_ready());
    assert_eq!(h.trader.risk().killed(), Some(KillReason::SessionLost));
    let events = h.events();
    let at_lost = events.iter().position(|e| *e == EngineEvent::SessionLost);
    let at_kill = events.iter().position(|e| {
        *e == EngineEvent::Killed {
            reason: KillReason::SessionLost,
            cancels: 0,
        }
    });
    assert!(at_lost.is_some() && at_lost < at_kill, "{events:?}");
    assert!(
        h.requests().is_empty(),
        "nothing can be sent without a session"
    );
    let r = h.feed.order_ref();
    assert!(!h.deliver(&[add(2, r, SELL, 100, px(100, 9))]));
    assert!(h.requests().is_empty());
}

#[test]
fn session_lost_fires_kill_and_ready_reconciles_and_rearms() {
    let cfg = config(2);
    let venue = ScriptedVenue::new(&cfg);
    let mut h = Harness::with_gateway(cfg, venue);
    assert!(h.trader.session_ready());
    let (in_flight, resting1) = quotes_in_flight(&mut h);
    let highest = in_flight.iter().map(Req::cl).max().unwrap();

    // The requests in flight never reach the venue.
    h.trader.gateway_mut().lose_in_transit();
    assert_lost_and_silent(&mut h);

    // Back: the lost requests are reconciled (instrument 2's news expire,
    // instrument 1's replaces are dropped), what still rests is cancelled,
    // the switch re-arms and instrument 2 is quoted at once.
    let next_cl = highest + 10;
    h.trader.gateway_mut().reconnect(&[], next_cl);
    h.poll();
    assert!(h.trader.session_ready());
    assert_eq!(h.trader.risk().killed(), None);
    let events = h.events();
    assert!(
        events.contains(&EngineEvent::SessionReady {
            next_cl,
            expired: 2
        }),
        "{events:?}"
    );
    assert!(events.contains(&EngineEvent::Rearmed));
    assert_eq!(h.trader.oms().counters().lost_requests, 2);
    let reqs = h.requests();
    let cancels: BTreeSet<u32> = reqs
        .iter()
        .filter_map(|r| match *r {
            Req::Cancel { cl, .. } => Some(cl),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, resting1, "{reqs:?}");
    let news2 = for_instrument(&reqs, 2);
    let (bid, ask) = expected_quote(px(100, 0), px(100, 9), 0, h.params(1));
    assert_eq!(Some(new_of(&news2, BUY)), bid);
    assert_eq!(Some(new_of(&news2, SELL)), ask);
    assert!(news2.iter().all(|r| r.cl() >= next_cl));
    assert!(
        for_instrument(&reqs, 1).is_empty(),
        "instrument 1 waits for its cancels"
    );

    // The cancels are answered: instrument 1 quotes its current book.
    h.poll();
    let news1 = for_instrument(&h.requests(), 1);
    let (bid, ask) = expected_quote(px(100, 2), px(100, 10), 0, h.params(0));
    assert_eq!(Some(new_of(&news1, BUY)), bid);
    assert_eq!(Some(new_of(&news1, SELL)), ask);
    assert!(news1.iter().all(|r| r.cl() >= next_cl));
    h.poll();
    assert_eq!(h.trader.oms().live_orders(), 4);
    assert_eq!(h.trader.counters().kills, 1);
}

#[test]
fn session_lost_after_the_venue_acted_applies_the_replay_then_cancels_and_requotes() {
    let cfg = config(2);
    let venue = ScriptedVenue::new(&cfg);
    let mut h = Harness::with_gateway(cfg, venue);
    let (in_flight, _) = quotes_in_flight(&mut h);

    // The venue acts on every request; its answers are lost with the line.
    let answers = h.trader.gateway_mut().lose_answers();
    assert_eq!(answers.len(), in_flight.len());
    assert_lost_and_silent(&mut h);
    let held: BTreeSet<u32> = answers.iter().map(|r| r.cl().0).collect();

    // The replay brings them back before Ready: nothing is left to expire,
    // and everything the venue holds is cancelled before quoting again.
    h.trader.gateway_mut().reconnect(&answers, 1);
    h.poll();
    let events = h.events();
    assert!(
        events.contains(&EngineEvent::SessionReady {
            next_cl: 1,
            expired: 0
        }),
        "{events:?}"
    );
    assert_eq!(h.trader.oms().counters().lost_requests, 0);
    assert_eq!(h.trader.risk().killed(), None);
    let reqs = h.requests();
    let cancels: BTreeSet<u32> = reqs.iter().map(Req::cl).collect();
    assert!(
        reqs.iter().all(|r| matches!(r, Req::Cancel { .. })),
        "{reqs:?}"
    );
    assert_eq!(cancels, held);

    h.poll();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    for (id, best_bid, best_ask) in [(1, px(100, 2), px(100, 10)), (2, px(100, 0), px(100, 9))] {
        let (bid, ask) = expected_quote(best_bid, best_ask, 0, h.params(0));
        let news = for_instrument(&reqs, id);
        assert_eq!(Some(new_of(&news, BUY)), bid);
        assert_eq!(Some(new_of(&news, SELL)), ask);
        assert!(news.iter().all(|r| r.cl() > *held.last().unwrap()));
    }
}

#[test]
fn shutdown_cancels_every_open_order_and_quotes_no_more() {
    let mut h = Harness::new(config(1));
    two_sided(&mut h, 1);
    h.requests();
    h.poll();
    let open = resting_ids(&h, 1);
    let now = h.now + 1;
    assert_eq!(h.trader.shutdown(now), 2);
    let cancels: BTreeSet<u32> = h.requests().iter().map(Req::cl).collect();
    assert_eq!(cancels, open);
    h.poll();
    assert_eq!(h.trader.oms().live_orders(), 0);
    let r = h.feed.order_ref();
    assert!(!h.deliver(&[add(1, r, BUY, 100, px(100, 4))]));
    h.poll();
    assert!(h.requests().is_empty());
    assert_eq!(h.trader.risk().killed(), None, "a clean stop is not a kill");
}

#[test]
fn a_rule_on_the_touch_imbalance_reevaluates_on_a_size_change_at_the_touch() {
    use quotewire_engine::trading::rules::{Metric, RuleConfig};
    let mut cfg = config(1);
    cfg.rules = vec![RuleConfig {
        name: "heavy-bid".into(),
        instrument: None,
        metric: Metric::Imbalance,
        above: true,
        threshold: 0.5,
        widen_ticks: 1,
        size_pct: 100,
        pull: false,
        reduce_only: false,
    }];
    let mut h = Harness::new(cfg);
    let _ = two_sided(&mut h, 1);
    let _ = h.requests();
    h.poll();
    let before = h.trader.counters().requotes;
    // More size at the best bid: the imbalance the rule reads changes.
    let at_touch = h.feed.order_ref();
    let _ = h.deliver(&[add(1, at_touch, BUY, 900, px(100, 0))]);
    assert_eq!(h.trader.counters().requotes, before + 1);
    // A deeper level still changes nothing the rule or the model reads.
    let deep = h.feed.order_ref();
    let _ = h.deliver(&[add(1, deep, BUY, 500, px(99, 90))]);
    assert_eq!(h.trader.counters().requotes, before + 1);
}
