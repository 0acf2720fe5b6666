//! The producer's `try_*` calls never allocate, whether the record fits, the
//! ring is full or the payload is oversize. Counted per thread with a wrapping
//! global allocator, so the writer thread's own work does not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use quotewire_core::order::{CancelOrder, CancelReason, ClOrdId, ExecReport, OrderRequest};
use quotewire_core::{InstrumentId, Qty, Side};
use quotewire_journal::{spawn_writer, JournalConfig, RingConfig, MAX_RING_PAYLOAD};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// thread-local counter is const-initialised and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn try_calls_never_allocate_even_when_the_ring_is_full_or_the_payload_oversize() {
    let dir = tempfile::tempdir().unwrap();
    let (mut tx, handle, _) = spawn_writer(
        dir.path(),
        JournalConfig {
            segment_bytes: 1 << 20,
            clock_epoch_unix_ns: 0,
        },
        RingConfig {
            slots: 16,
            ..RingConfig::default()
        },
    )
    .unwrap();
    let req = OrderRequest::Cancel(CancelOrder {
        cl: ClOrdId(3),
        instrument: InstrumentId(1),
        side: Side::Buy,
    });
    let rep = ExecReport::Canceled {
        cl: ClOrdId(3),
        qty: Qty(10),
        reason: CancelReason::User,
        ts_ns: 9,
    };
    let packet = [1u8; 1200];
    let oversize = vec![0u8; MAX_RING_PAYLOAD + 1];
    let before = allocations();
    let mut results = [0u32; 2];
    for i in 0..1_000u64 {
        let ok = [
            tx.try_packet(0, i, &packet),
            tx.try_request(i, &req),
            tx.try_report(i, &rep),
            tx.try_note(i, "param change: spread 2 -> 3"),
            tx.try_packet(1, i, &oversize),
        ];
        for ok in ok {
            results[usize::from(ok)] += 1;
        }
    }
    let after = allocations();
    assert_eq!(after - before, 0, "try_* allocated");
    drop(tx);
    let stats = handle.stop().unwrap();
    assert_eq!(stats.oversize, 1_000);
    assert_eq!(u64::from(results[1]), stats.written);
    assert_eq!(u64::from(results[0]), stats.dropped + stats.oversize);
}
