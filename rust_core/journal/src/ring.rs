//! The fast-path side: [`JournalTx`] copies records into a lock-free SPSC ring
//! of fixed-size slots; a writer thread drains it into a [`RecordSink`]
//! (normally a [`JournalWriter`]).

use std::mem::MaybeUninit;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use quotewire_core::order::{ExecReport, OrderRequest};
use rtrb::{Consumer, Producer, RingBuffer};

use crate::codec::{encode_report, encode_request};
use crate::format::{record_size, RecordKind};
use crate::intent::IntentLog;
use crate::{JournalError, JournalWriter};

/// Bytes of one ring slot.
pub const SLOT_BYTES: usize = 2048;
const SLOT_HEADER_BYTES: usize = 16;
/// Largest payload a ring slot carries; longer ones are counted as oversize and dropped.
pub const MAX_RING_PAYLOAD: usize = SLOT_BYTES - SLOT_HEADER_BYTES;

/// One ring slot: the record's header fields and up to [`MAX_RING_PAYLOAD`] bytes.
/// Only the first `len` payload bytes are ever written or read.
#[repr(C, align(64))]
struct Slot {
    ts_ns: u64,
    len: u16,
    kind: u8,
    line: u8,
    _pad: [u8; 4],
    payload: [MaybeUninit<u8>; MAX_RING_PAYLOAD],
}

const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);
const _: () = assert!(MAX_RING_PAYLOAD <= u16::MAX as usize);

impl Slot {
    fn payload(&self) -> &[u8] {
        let len = usize::from(self.len).min(MAX_RING_PAYLOAD);
        // SAFETY: the producer wrote `len` (<= MAX_RING_PAYLOAD) payload bytes before
        // committing the slot, and `MaybeUninit<u8>` has the layout of `u8`.
        unsafe { std::slice::from_raw_parts(self.payload.as_ptr().cast::<u8>(), len) }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("ts_ns", &self.ts_ns)
            .field("len", &self.len)
            .field("kind", &self.kind)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Where the writer thread puts records: a [`JournalWriter`], or anything that
/// behaves like one (tests use a deliberately slow sink).
pub trait RecordSink: Send + 'static {
    /// Appends one record.
    fn append(
        &mut self,
        kind: RecordKind,
        line: u8,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<(), JournalError>;
    /// Called when the ring is idle after writes (start writing pages back).
    fn flush(&mut self) -> Result<(), JournalError>;
    /// Called once when the thread stops, after the ring is drained.
    fn finish(&mut self) -> Result<(), JournalError>;
}

impl RecordSink for JournalWriter {
    fn append(
        &mut self,
        kind: RecordKind,
        line: u8,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        Self::append(self, kind, line, ts_ns, payload)
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        Self::flush(self)
    }

    fn finish(&mut self) -> Result<(), JournalError> {
        Self::finish(self)
    }
}

/// Sizes and pacing of the ring and its writer thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Slots in the ring ([`SLOT_BYTES`] each).
    pub slots: usize,
    /// How long the writer thread sleeps when the ring is empty.
    pub idle_sleep: Duration,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            slots: 4096,
            idle_sleep: Duration::from_micros(100),
        }
    }
}

/// Counters written by the producer, on their own cache line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct ProducerSide {
    dropped: AtomicU64,
    oversize: AtomicU64,
    alarm: AtomicBool,
}

/// Counters written by the writer thread, on their own cache line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct ConsumerSide {
    written: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug, Default)]
struct Shared {
    producer: ProducerSide,
    consumer: ConsumerSide,
    stop: AtomicBool,
}

/// A snapshot of the journal ring's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records written to the sink.
    pub written: u64,
    /// Records dropped because the ring was full.
    pub dropped: u64,
    /// Records dropped because the payload exceeded [`MAX_RING_PAYLOAD`].
    pub oversize: u64,
    /// Bytes written to the journal (record headers and padding included).
    pub bytes: u64,
    /// Records the sink refused (I/O errors); the first error is returned by stop.
    pub failed: u64,
}

impl Shared {
    fn stats(&self) -> JournalStats {
        JournalStats {
            written: self.consumer.written.load(Ordering::Relaxed),
            dropped: self.producer.dropped.load(Ordering::Relaxed),
            oversize: self.producer.oversize.load(Ordering::Relaxed),
            bytes: self.consumer.bytes.load(Ordering::Relaxed),
            failed: self.consumer.failed.load(Ordering::Relaxed),
        }
    }
}

/// The producer handle, owned by the fast-path thread. Its `try_*` calls copy
/// the record into the ring and return at once: they never block, allocate or
/// make a system call. A full ring drops the record, counts it and raises the
/// alarm; nothing is lost silently.
#[derive(Debug)]
pub struct JournalTx {
    ring: Producer<Slot>,
    shared: Arc<Shared>,
    /// Every request is also stored here at once (see [`IntentLog`]).
    intents: Option<IntentLog>,
}

impl JournalTx {
    fn push(&mut self, kind: RecordKind, line: u8, ts_ns: u64, payload: &[u8]) -> bool {
        if payload.len() > MAX_RING_PAYLOAD {
            self.shared
                .producer
                .oversize
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let Ok(mut chunk) = self.ring.write_chunk_uninit(1) else {
            self.shared.producer.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.producer.alarm.store(true, Ordering::Relaxed);
            return false;
        };
        let (first, _) = chunk.as_mut_slices();
        let slot = first[0].as_mut_ptr();
        // SAFETY: `slot` points to one writable, properly aligned slot owned by this
        // chunk. Every field but `payload` is written here, and `payload` is
        // `MaybeUninit` so leaving its tail unwritten keeps the slot valid; the
        // copy writes `payload.len() <= MAX_RING_PAYLOAD` bytes within it from a
        // slice that cannot overlap the ring's memory.
        unsafe {
            addr_of_mut!((*slot).ts_ns).write(ts_ns);
            addr_of_mut!((*slot).len).write(payload.len() as u16);
            addr_of_mut!((*slot).kind).write(kind.as_byte());
            addr_of_mut!((*slot).line).write(line);
            addr_of_mut!((*slot)._pad).write([0; 4]);
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                addr_of_mut!((*slot).payload).cast::<u8>(),
                payload.len(),
            );
        }
        // SAFETY: the one slot of the chunk was fully initialised just above.
        unsafe { chunk.commit_all() };
        true
    }

    /// Records an inbound datagram from feed `line` (0 = A, 1 = B, 2 = retransmit).
    #[inline]
    pub fn try_packet(&mut self, line: u8, ts_ns: u64, bytes: &[u8]) -> bool {
        self.push(RecordKind::InboundPacket, line, ts_ns, bytes)
    }

    /// Records an order request sent to the venue (and stores it in the
    /// intent log at once, if one is attached).
    #[inline]
    pub fn try_request(&mut self, ts_ns: u64, req: &OrderRequest) -> bool {
        if let Some(log) = self.intents.as_mut() {
            log.record(ts_ns, req);
        }
        self.push(RecordKind::OrderRequest, 0, ts_ns, &encode_request(req))
    }

    /// From now on every request is also stored in `log` before
    /// [`Self::try_request`] returns: a request survives a killed process
    /// even when the ring's copy does not.
    pub fn set_intent_log(&mut self, log: IntentLog) {
        self.intents = Some(log);
    }

    /// Records an execution report received from the venue.
    #[inline]
    pub fn try_report(&mut self, ts_ns: u64, report: &ExecReport) -> bool {
        self.push(RecordKind::ExecReport, 0, ts_ns, &encode_report(report))
    }

    /// Records a note for the audit trail (UTF-8 text).
    #[inline]
    pub fn try_note(&mut self, ts_ns: u64, text: &str) -> bool {
        self.push(RecordKind::Note, 0, ts_ns, text.as_bytes())
    }

    /// True once a record has been dropped because the ring was full.
    #[must_use]
    pub fn alarm(&self) -> bool {
        self.shared.producer.alarm.load(Ordering::Relaxed)
    }

    /// Records dropped because the ring was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.producer.dropped.load(Ordering::Relaxed)
    }

    /// Records dropped because their payload was longer than [`MAX_RING_PAYLOAD`].
    #[must_use]
    pub fn oversize(&self) -> u64 {
        self.shared.producer.oversize.load(Ordering::Relaxed)
    }

    /// How full the ring is now: (slots the writer has not drained, slots).
    #[must_use]
    pub fn occupancy(&self) -> (usize, usize) {
        let capacity = self.ring.buffer().capacity();
        (capacity.saturating_sub(self.ring.slots()), capacity)
    }
}

/// The owner's handle on the writer thread: counters, alarm, stop.
#[derive(Debug)]
pub struct JournalHandle {
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    shared: Arc<Shared>,
}

impl JournalHandle {
    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> JournalStats {
        self.shared.stats()
    }

    /// True once a record has been dropped because the ring was full.
    #[must_use]
    pub fn alarm(&self) -> bool {
        self.shared.producer.alarm.load(Ordering::Relaxed)
    }

    /// Lowers the alarm (an operator acknowledged it); returns whether it was raised.
    pub fn clear_alarm(&self) -> bool {
        self.shared.producer.alarm.swap(false, Ordering::Relaxed)
    }

    /// Drains the ring, closes the sink and joins the thread. Records pushed
    /// after this call starts may be lost: stop the producer first.
    pub fn stop(mut self) -> Result<JournalStats, JournalError> {
        self.join()?;
        Ok(self.shared.stats())
    }

    fn join(&mut self) -> Result<(), JournalError> {
        self.shared.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| JournalError::WriterPanicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for JournalHandle {
    fn drop(&mut self) {
        // Errors are reported by `stop`; a drop can only drain and close.
        let _ = self.join();
    }
}

/// Builds the ring (touching every slot once so the fast path never page-faults
/// on it) and starts the writer thread `quotewire-journal` draining it into `sink`.
pub fn spawn<S: RecordSink>(
    sink: S,
    cfg: RingConfig,
) -> Result<(JournalTx, JournalHandle), JournalError> {
    if cfg.slots == 0 {
        return Err(JournalError::Config("ring slots must be at least 1"));
    }
    let (mut producer, mut consumer) = RingBuffer::<Slot>::new(cfg.slots);
    prefault(&mut producer, &mut consumer, cfg.slots)?;
    let shared = Arc::new(Shared::default());
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("quotewire-journal".into())
        .spawn(move || drain(sink, consumer, &thread_shared, cfg.idle_sleep))
        .map_err(|e| JournalError::io("<journal thread>", e))?;
    Ok((
        JournalTx {
            ring: producer,
            shared: Arc::clone(&shared),
            intents: None,
        },
        JournalHandle {
            thread: Some(thread),
            shared,
        },
    ))
}

/// Opens `dir` with a [`JournalWriter`] and [`spawn`]s a writer thread on it.
/// The writer's [`crate::Recovery`], if any, is returned alongside.
pub fn spawn_writer(
    dir: impl AsRef<std::path::Path>,
    journal: crate::JournalConfig,
    ring: RingConfig,
) -> Result<(JournalTx, JournalHandle, Option<crate::Recovery>), JournalError> {
    let writer = JournalWriter::open(dir, journal)?;
    let recovery = writer.recovery().cloned();
    let (tx, handle) = spawn(writer, ring)?;
    Ok((tx, handle, recovery))
}

fn prefault(
    producer: &mut Producer<Slot>,
    consumer: &mut Consumer<Slot>,
    slots: usize,
) -> Result<(), JournalError> {
    let mut chunk = producer
        .write_chunk_uninit(slots)
        .map_err(|_| JournalError::Config("ring could not be pre-faulted"))?;
    let (a, b) = chunk.as_mut_slices();
    for slot in a.iter_mut().chain(b.iter_mut()) {
        // SAFETY: writing zero bytes over a whole slot is in bounds, and all-zero
        // is a valid `Slot` (integers, a zero length and `MaybeUninit` bytes).
        unsafe { std::ptr::write_bytes(slot.as_mut_ptr(), 0, 1) };
    }
    // SAFETY: every slot of the chunk was initialised just above.
    unsafe { chunk.commit_all() };
    consumer
        .read_chunk(slots)
        .map_err(|_| JournalError::Config("ring could not be pre-faulted"))?
        .commit_all();
    Ok(())
}

fn drain<S: RecordSink>(
    mut sink: S,
    mut ring: Consumer<Slot>,
    shared: &Shared,
    idle_sleep: Duration,
) -> Result<(), JournalError> {
    let mut first_error: Option<JournalError> = None;
    let mut dirty = false;
    loop {
        let n = ring.slots();
        if n == 0 {
            if shared.stop.load(Ordering::Acquire) || ring.is_abandoned() {
                if ring.slots() == 0 {
                    break;
                }
                continue;
            }
            if dirty {
                dirty = false;
                if let Err(e) = sink.flush() {
                    first_error.get_or_insert(e);
                }
            }
            std::thread::sleep(idle_sleep);
            continue;
        }
        let Ok(chunk) = ring.read_chunk(n) else {
            continue;
        };
        let (a, b) = chunk.as_slices();
        for slot in a.iter().chain(b) {
            let Some(kind) = RecordKind::from_byte(slot.kind) else {
                continue;
            };
            let payload = slot.payload();
            match sink.append(kind, slot.line, slot.ts_ns, payload) {
                Ok(()) => {
                    shared.consumer.written.fetch_add(1, Ordering::Relaxed);
                    shared
                        .consumer
                        .bytes
                        .fetch_add(record_size(payload.len()) as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.consumer.failed.fetch_add(1, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
        chunk.commit_all();
        dirty = true;
    }
    let finished = sink.finish();
    match first_error {
        Some(e) => Err(e),
        None => finished,
    }
}
