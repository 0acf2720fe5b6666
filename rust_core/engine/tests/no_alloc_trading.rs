//! The trading fast path never allocates after warm-up: a counting global
//! allocator watches thousands of datagrams that move the touch of three
//! instruments (new quotes, replaces, acknowledgements through the in-memory
//! venue, feed timers and the control ring polled as the live loop does).

mod common;

use quotewire_testkit::{allocations, CountingAllocator};

use common::*;
use quotewire_core::Side;
use quotewire_engine::trading::Trader;
use quotewire_feed::Line;
use quotewire_gateway::MemoryGateway;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const INSTRUMENTS: u16 = 3;
const WARMUP: usize = 1_500;
const MEASURED: usize = 6_000;

/// Datagrams that walk each instrument's best bid and best ask over a few
/// ticks inside a fixed two-sided book: every one moves a touch, most move a
/// quote. Built before anything is measured.
fn script(feed: &mut Feed, n: usize) -> Vec<Vec<u8>> {
    // The order each instrument currently has at the touch, per side.
    let mut touch: Vec<[Option<u64>; 2]> = vec![[None, None]; usize::from(INSTRUMENTS)];
    (0..n)
        .map(|k| {
            let locate = (k % usize::from(INSTRUMENTS)) as u16 + 1;
            let round = k / usize::from(INSTRUMENTS);
            let (side, s) = if round % 2 == 0 {
                (Side::Buy, 0)
            } else {
                (Side::Sell, 1)
            };
            // Bids walk 100.01..=100.04, asks 100.09 down to 100.06.
            let step = ((round / 2) % 4) as i64 + 1;
            let price = match side {
                Side::Buy => px(100, 0) + step * TICK,
                Side::Sell => px(100, 10) - step * TICK,
            };
            let r = feed.order_ref();
            let mut messages = vec![add(locate, r, side, 100 + (k % 7) as u32 * 10, price)];
            let slot = &mut touch[usize::from(locate - 1)][s];
            if let Some(old) = slot.replace(r) {
                messages.push(delete(locate, old));
            }
            feed.datagram(&messages)
        })
        .collect()
}

#[test]
fn datagrams_that_move_the_book_and_their_acks_do_not_allocate() {
    let mut h = Harness::quoting(INSTRUMENTS);
    let datagrams = script(&mut h.feed, WARMUP + MEASURED);
    let clock = *h.trader.clock();
    let step = |trader: &mut Trader<MemoryGateway>, d: &[u8]| {
        let now = clock.now_ns();
        let _ = trader.poll_feed_timers(now);
        trader.on_datagram(Line::A, now, d);
        trader.poll_gateway(clock.now_ns());
        trader.poll_control(clock.now_ns());
        if trader.gateway().bytes().len() > 1 << 19 {
            trader.gateway_mut().clear();
        }
    };
    let trader = &mut h.trader;
    for d in &datagrams[..WARMUP] {
        step(trader, d);
    }
    let before = *trader.counters();
    let probe = allocations();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(16)));
    assert_eq!(allocations(), probe + 1, "the counter counts");
    let allocs = allocations();
    for d in &datagrams[WARMUP..] {
        step(trader, d);
    }
    let allocated = allocations() - allocs;
    let after = *trader.counters();
    assert_eq!(allocated, 0, "the fast path allocated {allocated} times");

    // The window did real work: every datagram re-quoted, most moved a quote.
    assert_eq!(after.datagrams - before.datagrams, MEASURED as u64);
    assert!(after.requotes - before.requotes >= MEASURED as u64);
    let orders = after.orders_new + after.orders_replace + after.orders_cancel
        - (before.orders_new + before.orders_replace + before.orders_cancel);
    assert!(orders > MEASURED as u64 / 2, "only {orders} orders");
    assert_eq!(
        after.reports - before.reports,
        orders,
        "every request answered"
    );
    assert_eq!(trader.oms().live_orders(), 2 * usize::from(INSTRUMENTS));
    assert_eq!(
        (after.send_errors, after.oms_rejects, after.venue_rejects),
        (0, 0, 0)
    );
    assert_eq!(trader.risk().checks(), trader.risk().accepted());
}
