//! Live latency figures: each snapshot request makes the fast path hand its
//! latency histograms over to the control plane (swapped with an empty spare,
//! no allocation) and the control plane merges them. No sample is lost or
//! counted twice across the swaps, a request that finds no spare leaves the
//! samples where they are, and the stop summary's histograms (the trader's,
//! after `IntervalCollector::finish`) equal the merged ones: the whole run.
//! The snapshot's end record carries the counters and ring occupancy
//! (the journal's too, when journaling).

mod common;

use common::*;
use quotewire_core::Side;
use quotewire_engine::trading::telemetry::{Latencies, SPARE_LATENCIES};
use quotewire_engine::trading::trader::{Control, SnapshotRecord};
use quotewire_feed::Line;
use quotewire_journal::{spawn_writer, JournalConfig, RingConfig};
use quotewire_testkit::{allocations, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const INSTRUMENTS: u16 = 2;

/// A harness quoting both instruments around a two-sided book.
fn quoting() -> Harness {
    Harness::quoting(INSTRUMENTS)
}

/// `n` datagrams that each move a touch (so most of them requote), with the
/// venue's acknowledgements polled after each.
fn trade(h: &mut Harness, n: usize) {
    for k in 0..n {
        let locate = (k % usize::from(INSTRUMENTS)) as u16 + 1;
        let r = h.feed.order_ref();
        let price = px(100, 0) + (k % 4) as i64 * TICK + TICK;
        h.deliver(&[add(locate, r, Side::Buy, 100, price)]);
        h.poll();
    }
}

/// A snapshot request through the control ring; returns its end record.
fn snapshot(h: &mut Harness) -> SnapshotRecord {
    assert!(h.control(Control::Snapshot).ok);
    let mut end = None;
    while let Ok(r) = h.ends.snapshots.pop() {
        if matches!(r, SnapshotRecord::End { .. }) {
            end = Some(r);
        }
    }
    end.expect("an end record")
}

fn feed_count(l: &Latencies) -> u64 {
    l.feed.len()
}

#[test]
fn interval_swaps_lose_no_sample_and_the_stop_summary_equals_the_merged_histograms() {
    let mut h = quoting();
    // The histograms since the start, before the first handover.
    let warm_up = h.trader.latencies().counts();
    let before = *h.trader.counters();
    let rounds = [37, 1, 250, 0, 64];
    let mut per_interval = Vec::new();
    for (i, &n) in rounds.iter().enumerate() {
        trade(&mut h, n);
        let live = h.trader.latencies().counts();
        snapshot(&mut h);
        assert_eq!(
            h.trader.latencies().counts(),
            [0; 4],
            "round {i}: the live set is empty after the handover"
        );
        let got = h.ends.latencies.collect();
        // The first interval also holds the warm-up's samples.
        assert_eq!(got, live, "round {i}: the interval as the fast path had it");
        per_interval.push(got);
    }
    assert_eq!(h.ends.latencies.intervals(), rounds.len() as u64);
    // One feed sample per datagram, in exactly one interval.
    let sent: u64 = rounds.iter().sum::<usize>() as u64;
    let feed_total: u64 = per_interval.iter().map(|c| c[0]).sum();
    assert_eq!(feed_total, warm_up[0] + sent);
    assert_eq!(h.trader.counters().datagrams - before.datagrams, sent);
    for stage in 0..4 {
        let sum: u64 = per_interval.iter().map(|c| c[stage]).sum();
        assert_eq!(
            h.ends.latencies.cumulative().counts()[stage],
            sum,
            "stage {stage}"
        );
    }
    assert!(!h.ends.latencies.cumulative().tick_to_trade.is_empty());
    assert!(!h.ends.latencies.cumulative().round_trip.is_empty());

    // A last interval never handed over, then the stop.
    trade(&mut h, 19);
    let last = h.trader.latencies().counts();
    let merged = h.ends.latencies.cumulative().counts();
    h.ends.latencies.finish(h.trader.latencies_mut());
    let total = h.trader.latencies();
    for stage in 0..4 {
        assert_eq!(total.counts()[stage], merged[stage] + last[stage]);
    }
    assert_eq!(feed_count(total), warm_up[0] + sent + 19);
    for ((name, ours), (_, theirs)) in total
        .named()
        .into_iter()
        .zip(h.ends.latencies.cumulative().named())
    {
        assert_eq!(ours, theirs, "{name}: stop summary == cumulative");
        assert!(ours.max() >= ours.value_at_quantile(0.999), "{name}");
    }
}

#[test]
fn a_snapshot_with_no_spare_back_keeps_the_samples_for_the_next_handover() {
    let mut h = quoting();
    // Every spare handed out, none merged (and returned) yet.
    for _ in 0..SPARE_LATENCIES {
        trade(&mut h, 5);
        snapshot(&mut h);
    }
    trade(&mut h, 7);
    let held = h.trader.latencies().counts();
    assert!(held[0] >= 7);
    snapshot(&mut h);
    assert_eq!(
        h.trader.latencies().counts(),
        held,
        "no spare: nothing swapped, nothing lost"
    );
    let merged = h.ends.latencies.collect();
    assert_eq!(h.ends.latencies.intervals(), SPARE_LATENCIES as u64);
    // The spares are back: the next request hands the held samples over.
    snapshot(&mut h);
    assert_eq!(h.ends.latencies.collect(), held);
    let c = h.ends.latencies.cumulative().counts();
    for stage in 0..4 {
        assert_eq!(c[stage], merged[stage] + held[stage]);
    }
}

#[test]
fn publishing_a_snapshot_and_handing_the_histograms_over_does_not_allocate() {
    let mut h = quoting();
    trade(&mut h, 50);
    snapshot(&mut h);
    h.ends.latencies.collect();
    // Datagrams built before anything is measured.
    let datagrams: Vec<Vec<u8>> = (0..60)
        .map(|k| {
            let r = h.feed.order_ref();
            h.feed
                .datagram(&[add(1, r, Side::Buy, 100, px(100, 0) + (k % 3) * TICK)])
        })
        .collect();
    let mut fast_path = 0;
    for chunk in datagrams.chunks(3) {
        let before = allocations();
        assert!(h.control(Control::Snapshot).ok);
        for d in chunk {
            h.on(Line::A, d);
            h.poll();
        }
        fast_path += allocations() - before;
        // The control plane's side (also allocation-free, not required).
        while h.ends.snapshots.pop().is_ok() {}
        h.ends.latencies.collect();
    }
    assert_eq!(fast_path, 0, "the fast path allocated {fast_path} times");
    assert_eq!(h.ends.latencies.intervals(), 21);
}

#[test]
fn the_end_record_carries_the_counters_and_ring_levels() {
    let mut h = quoting();
    trade(&mut h, 20);
    let SnapshotRecord::End {
        counters, rings, ..
    } = snapshot(&mut h)
    else {
        unreachable!()
    };
    // The counters as they were when the snapshot was taken (the snapshot's
    // own control request counted).
    assert_eq!(counters, *h.trader.counters());
    assert_eq!(counters.datagrams, u64::from(INSTRUMENTS) + 20);
    assert!(counters.messages >= counters.datagrams);
    assert!(counters.reports > 0 && counters.controls == 1);
    // Events: the harness's writer drains them; control: only the request
    // being answered was taken; snapshots: drained before.
    assert_eq!(rings.events.capacity, 1 << 14);
    assert!(rings.events.used <= rings.events.capacity);
    let control = rings.control.expect("a control ring");
    assert_eq!((control.used, control.capacity), (0, 1024));
    let snaps = rings.snapshots.expect("a snapshot ring");
    assert_eq!(snaps.used, 0);
    assert!(snaps.capacity > usize::from(INSTRUMENTS));
    assert_eq!(rings.journal, None, "no journal configured");
    let names: Vec<_> = rings.named().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["events", "journal", "control", "snapshots"]);
}

#[test]
fn a_journaling_trader_reports_its_journal_ring_level() {
    let dir = tempfile::tempdir().unwrap();
    let ring = RingConfig::default();
    let (tx, handle, _) = spawn_writer(dir.path(), JournalConfig::default(), ring).unwrap();
    let mut h = quoting();
    h.trader.set_journal(tx);
    trade(&mut h, 30);
    let SnapshotRecord::End { rings, .. } = snapshot(&mut h) else {
        unreachable!()
    };
    let journal = rings.journal.expect("the journal ring");
    assert_eq!(journal.capacity, ring.slots);
    assert!(journal.used <= journal.capacity);
    drop(h);
    let stats = handle.stop().unwrap();
    // Every datagram and request went through the ring the level describes.
    assert!(stats.written >= 30 && stats.dropped == 0, "{stats:?}");
}
