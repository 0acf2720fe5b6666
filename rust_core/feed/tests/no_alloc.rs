//! The sequencer's per-packet path must not allocate after construction:
//! in order, duplicates, gaps, reorder, recovery, overflow, timeouts, stale.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use quotewire_feed::{FeedEvent, FeedSink, Line, Sequencer, SequencerConfig, StartPolicy};
use quotewire_protocol::moldudp64::{encode_heartbeat, PacketBuilder, Session, HEADER_LEN};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's: `layout` has non-zero size.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` and `layout` come from `System` and the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Tally {
    messages: u64,
    events: u64,
}

impl FeedSink for Tally {
    fn message(&mut self, _seq: u64, payload: &[u8]) {
        self.messages += u64::from(!payload.is_empty());
    }
    fn event(&mut self, _event: FeedEvent) {
        self.events += 1;
    }
}

fn pkt(session: Session, first: u64, count: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 1400];
    let mut b = PacketBuilder::new(&mut buf, session, first).unwrap();
    for seq in first..first + count {
        b.push(&seq.to_be_bytes()).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn sequencer_hot_path_does_not_allocate() {
    let session = Session::from_str_padded("NOALLOC");
    let mut s = Sequencer::new(SequencerConfig {
        session: Some(session),
        start: StartPolicy::FromOne,
        reorder_slots: 4,
        slot_bytes: 1400,
        request_delay_ns: 0,
        retry_interval_ns: 10,
        recovery_timeout_ns: 1_000,
        max_request: 10,
        stale_after_ns: 500,
    })
    .unwrap();
    // Everything fed below is built before the measured window.
    let mut script: Vec<(Line, Vec<u8>)> = Vec::new();
    for first in (1..2_000).step_by(4) {
        let p = pkt(session, first, 4);
        if first % 40 == 1 {
            script.push((Line::B, p.clone())); // B wins, A's copy is a duplicate
        }
        // One packet in ten is lost: the 4-slot store overflows while waiting.
        if first % 40 != 9 {
            script.push((Line::A, p));
        }
    }
    let mut hb = vec![0u8; HEADER_LEN];
    encode_heartbeat(session, 2_001, &mut hb).unwrap();
    script.push((Line::A, hb));
    script.push((Line::Retransmit, pkt(session, 1, 3)));
    script.push((Line::A, vec![1, 2, 3]));
    script.push((Line::A, pkt(Session::from_str_padded("OTHER"), 1, 1)));

    let mut sink = Tally {
        messages: 0,
        events: 0,
    };
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut now = 0;
    for (line, p) in &script {
        now += 7;
        s.on_packet(now, *line, p, &mut sink);
        let _ = s.poll(now, &mut sink);
    }
    for _ in 0..100 {
        now += 100;
        let _ = s.poll(now, &mut sink);
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the sequencer path");
    let st = s.stats();
    assert!(
        st.gaps > 0 && st.lost > 0 && st.overflows > 0 && st.duplicates > 0,
        "{st:?}"
    );
    assert!(
        st.malformed == 1 && st.session_mismatch == 1 && st.stale == 1,
        "{st:?}"
    );
    assert!(sink.messages > 0 && sink.events > 0);
}
