//! What the fast path tells the rest of the process: typed events through a
//! lock-free SPSC ring to a writer thread (structured log lines, and batches
//! for Python), the latency histograms of each stage, and how those reach the
//! control plane while the engine runs ([`IntervalSwap`], [`IntervalCollector`]:
//! whole histogram sets handed over by pointer through SPSC rings, never read,
//! merged or allocated on the fast path), and ring occupancy ([`RingLevel`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hdrhistogram::Histogram;
use quotewire_core::order::ClOrdId;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_oms::OmsReject;
use quotewire_risk::{KillReason, Reject};
use rtrb::{Consumer, Producer};

/// Severity of an event's log line.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Every order and acknowledgement.
    Debug = 0,
    /// Fills, parameter and limit changes, session and feed state.
    Info = 1,
    /// Rejections, gaps, kill switch.
    Warn = 2,
    /// Lost fills, lost gaps, protocol failures.
    Error = 3,
}

impl LogLevel {
    /// Parses `debug`, `info`, `warn` or `error`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// Lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Which order action an event is about.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderAction {
    /// A new order.
    New,
    /// A cancel/replace.
    Replace,
    /// A cancel.
    Cancel,
}

impl OrderAction {
    /// Lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Replace => "replace",
            Self::Cancel => "cancel",
        }
    }
}

/// One thing that happened on the fast path. Small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// An order request left for the venue.
    Sent {
        /// What kind.
        action: OrderAction,
        /// Its id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Price (zero for cancels).
        price: Price,
        /// Quantity (zero for cancels).
        qty: Qty,
    },
    /// A trade of ours.
    Fill {
        /// Order id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Trade price.
        price: Price,
        /// Shares.
        qty: Qty,
        /// Position after the fill.
        position: i64,
    },
    /// Pre-trade risk refused an order.
    RiskReject {
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Why.
        reason: Reject,
    },
    /// The OMS refused a request (capacity, in-flight limit, state).
    OmsReject {
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Why.
        reason: OmsReject,
    },
    /// The venue refused an order.
    VenueReject {
        /// Order id.
        cl: ClOrdId,
        /// Instrument.
        instrument: InstrumentId,
        /// Venue reason code.
        reason: u16,
    },
    /// The kill switch fired; `cancels` cancel requests were sent.
    Killed {
        /// Why.
        reason: KillReason,
        /// Cancels sent.
        cancels: u32,
    },
    /// The kill switch was re-armed.
    Rearmed,
    /// A re-arm was refused (the condition still holds).
    RearmRefused,
    /// Quotes pulled while a feed gap is recovered.
    FeedGap {
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// The feed gap filled; quoting resumes.
    FeedRecovered,
    /// The order session went down.
    SessionLost,
    /// The order session is up and reconciled; `expired` orders were unknown to the venue.
    SessionReady {
        /// Next order id.
        next_cl: u32,
        /// Orders expired by reconciliation.
        expired: u32,
    },
    /// New quoting parameters took effect for an instrument.
    ParamsChanged {
        /// Instrument.
        instrument: InstrumentId,
    },
    /// New risk limits took effect (`instrument` None: firm-wide).
    LimitsChanged {
        /// Instrument, if per-instrument.
        instrument: Option<InstrumentId>,
    },
    /// A control command was refused (bad value).
    ControlRefused {
        /// Control sequence number.
        seq: u64,
    },
    /// Reduce-only mode changed.
    ReduceOnly {
        /// The new mode.
        on: bool,
    },
    /// An automatic-adjustment rule started or stopped holding for an instrument
    /// (the source of the adjustment, for the audit trail).
    RuleChanged {
        /// Instrument.
        instrument: InstrumentId,
        /// Rule index in the configuration.
        rule: u8,
        /// Holds from now on (true) or no longer (false).
        on: bool,
    },
    /// A fill for an order the OMS does not know (never expected; logged loudly).
    UnknownFill {
        /// The id the venue used.
        cl: ClOrdId,
        /// Shares.
        qty: Qty,
    },
}

impl EngineEvent {
    /// The log level of this event.
    #[must_use]
    pub const fn level(&self) -> LogLevel {
        match self {
            Self::Sent { .. } => LogLevel::Debug,
            Self::Fill { .. }
            | Self::Rearmed
            | Self::FeedRecovered
            | Self::SessionReady { .. }
            | Self::ParamsChanged { .. }
            | Self::LimitsChanged { .. }
            | Self::ReduceOnly { .. }
            | Self::RuleChanged { .. } => LogLevel::Info,
            Self::RiskReject { .. }
            | Self::OmsReject { .. }
            | Self::VenueReject { .. }
            | Self::Killed { .. }
            | Self::RearmRefused
            | Self::FeedGap { .. }
            | Self::SessionLost
            | Self::ControlRefused { .. } => LogLevel::Warn,
            Self::UnknownFill { .. } => LogLevel::Error,
        }
    }

    /// Short kind name (the `event=` field of the log line).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Fill { .. } => "fill",
            Self::RiskReject { .. } => "risk_reject",
            Self::OmsReject { .. } => "oms_reject",
            Self::VenueReject { .. } => "venue_reject",
            Self::Killed { .. } => "killed",
            Self::Rearmed => "rearmed",
            Self::RearmRefused => "rearm_refused",
            Self::FeedGap { .. } => "feed_gap",
            Self::FeedRecovered => "feed_recovered",
            Self::SessionLost => "session_lost",
            Self::SessionReady { .. } => "session_ready",
            Self::ParamsChanged { .. } => "params_changed",
            Self::LimitsChanged { .. } => "limits_changed",
            Self::ControlRefused { .. } => "control_refused",
            Self::ReduceOnly { .. } => "reduce_only",
            Self::UnknownFill { .. } => "unknown_fill",
            Self::RuleChanged { .. } => "rule_changed",
        }
    }

    /// Writes the event's fields as `key=value` pairs.
    pub fn write_fields(&self, out: &mut String) {
        let side = |s: Side| match s {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        let _ = match *self {
            Self::Sent {
                action,
                cl,
                instrument,
                side: s,
                price,
                qty,
            } => write!(
                out,
                " action={} cl={} instrument={} side={} price={} qty={}",
                action.as_str(),
                cl.0,
                instrument.0,
                side(s),
                price.raw(),
                qty.raw()
            ),
            Self::Fill {
                cl,
                instrument,
                side: s,
                price,
                qty,
                position,
            } => write!(
                out,
                " cl={} instrument={} side={} price={} qty={} position={position}",
                cl.0,
                instrument.0,
                side(s),
                price.raw(),
                qty.raw()
            ),
            Self::RiskReject {
                instrument,
                side: s,
                reason,
            } => write!(
                out,
                " instrument={} side={} reason={}",
                instrument.0,
                side(s),
                reason.as_str()
            ),
            Self::OmsReject {
                instrument,
                side: s,
                reason,
            } => write!(
                out,
                " instrument={} side={} reason={reason:?}",
                instrument.0,
                side(s)
            ),
            Self::VenueReject {
                cl,
                instrument,
                reason,
            } => write!(
                out,
                " cl={} instrument={} reason=0x{reason:04X}",
                cl.0, instrument.0
            ),
            Self::Killed { reason, cancels } => {
                write!(out, " reason={reason:?} cancels={cancels}")
            }
            Self::FeedGap { from, to } => write!(out, " from={from} to={to}"),
            Self::SessionReady { next_cl, expired } => {
                write!(out, " next_cl={next_cl} expired={expired}")
            }
            Self::ParamsChanged { instrument } => write!(out, " instrument={}", instrument.0),
            Self::LimitsChanged { instrument } => match instrument {
                Some(i) => write!(out, " instrument={}", i.0),
                None => write!(out, " scope=firm"),
            },
            Self::ControlRefused { seq } => write!(out, " seq={seq}"),
            Self::ReduceOnly { on } => write!(out, " on={on}"),
            Self::UnknownFill { cl, qty } => write!(out, " cl={} qty={}", cl.0, qty.raw()),
            Self::RuleChanged {
                instrument,
                rule,
                on,
            } => write!(out, " instrument={} rule={rule} on={on}", instrument.0),
            Self::Rearmed | Self::RearmRefused | Self::FeedRecovered | Self::SessionLost => Ok(()),
        };
    }
}

/// An event with the engine clock's timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// Engine clock, nanoseconds.
    pub ts_ns: u64,
    /// The event.
    pub event: EngineEvent,
}

/// The fast path's end of the event ring: never blocks; a full ring counts a drop.
#[derive(Debug)]
pub struct EventTx {
    ring: Producer<Stamped>,
    dropped: Arc<AtomicU64>,
}

impl EventTx {
    /// A ring of `capacity` events whose consumer the caller drains itself
    /// (a backtest, on its own thread: no writer thread, nothing dropped if
    /// it drains at least every `capacity` events).
    #[must_use]
    pub fn local(capacity: usize) -> (Self, Consumer<Stamped>) {
        let (ring, rx) = rtrb::RingBuffer::new(capacity.max(16));
        (
            Self {
                ring,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Publishes one event; counts it as dropped if the writer is behind.
    #[inline]
    pub fn push(&mut self, ts_ns: u64, event: EngineEvent) {
        if self.ring.push(Stamped { ts_ns, event }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped because the ring was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How full the ring is now (events the writer has not taken yet).
    #[must_use]
    pub fn level(&self) -> RingLevel {
        RingLevel::of_producer(&self.ring)
    }
}

/// How full one SPSC ring is at one instant: slots in use and capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingLevel {
    /// Slots holding an item the consumer has not taken yet.
    pub used: usize,
    /// Slots in the ring.
    pub capacity: usize,
}

impl RingLevel {
    /// The level seen from the producer's end (two atomic loads, no write).
    #[must_use]
    pub fn of_producer<T>(ring: &Producer<T>) -> Self {
        let capacity = ring.buffer().capacity();
        Self {
            used: capacity.saturating_sub(ring.slots()),
            capacity,
        }
    }

    /// The level seen from the consumer's end.
    #[must_use]
    pub fn of_consumer<T>(ring: &Consumer<T>) -> Self {
        Self {
            used: ring.slots(),
            capacity: ring.buffer().capacity(),
        }
    }
}

/// Where the writer thread sends log lines.
#[derive(Debug)]
pub enum LogSink {
    /// Standard error.
    Stderr,
    /// Appended to a file.
    File(std::fs::File),
    /// Nowhere (events still reach Python).
    Null,
}

/// Events kept for Python, drained in batches by [`EventWriter::drain`].
#[derive(Debug, Default)]
struct Backlog {
    events: Vec<Stamped>,
    /// Events discarded because nobody drained the backlog.
    overflow: u64,
}

/// The writer thread: drains the ring, writes one structured line per event
/// at or above the configured level, and keeps a bounded backlog for Python.
#[derive(Debug)]
pub struct EventWriter {
    backlog: Arc<Mutex<Backlog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

/// Most events kept for Python between two drains.
pub const BACKLOG_LIMIT: usize = 1 << 20;

impl EventWriter {
    /// A ring of `capacity` events and the thread that drains it.
    pub fn spawn(
        capacity: usize,
        level: LogLevel,
        sink: LogSink,
    ) -> std::io::Result<(EventTx, Self)> {
        let (mut tx, mut rx) = rtrb::RingBuffer::new(capacity.max(16));
        // Touch every slot now: a fresh ring is untouched memory, and the first
        // pass of the fast path through it would take a page fault every few
        // dozen events (microseconds each, right in the latency tail).
        let blank = Stamped {
            ts_ns: 0,
            event: EngineEvent::Rearmed,
        };
        while tx.push(blank).is_ok() {}
        while rx.pop().is_ok() {}
        let dropped = Arc::new(AtomicU64::new(0));
        let backlog = Arc::new(Mutex::new(Backlog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let thread = {
            let (backlog, stop, written) = (backlog.clone(), stop.clone(), written.clone());
            std::thread::Builder::new()
                .name("qw-events".into())
                .spawn(move || writer_loop(rx, level, sink, &backlog, &stop, &written))?
        };
        Ok((
            EventTx {
                ring: tx,
                dropped: dropped.clone(),
            },
            Self {
                backlog,
                stop,
                thread: Some(thread),
                dropped,
                written,
            },
        ))
    }

    /// Takes every event received since the last drain, oldest first.
    #[must_use]
    pub fn drain(&self) -> Vec<Stamped> {
        let mut b = self
            .backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut b.events)
    }

    /// Events dropped by the fast path (ring full) and by the backlog (nobody drained).
    #[must_use]
    pub fn dropped(&self) -> (u64, u64) {
        let b = self
            .backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (self.dropped.load(Ordering::Relaxed), b.overflow)
    }

    /// Log lines written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Drains what is left and stops the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn writer_loop(
    mut rx: Consumer<Stamped>,
    level: LogLevel,
    mut sink: LogSink,
    backlog: &Mutex<Backlog>,
    stop: &AtomicBool,
    written: &AtomicU64,
) {
    let mut line = String::with_capacity(256);
    let mut batch = Vec::with_capacity(4096);
    loop {
        let stopping = stop.load(Ordering::Acquire);
        while let Ok(e) = rx.pop() {
            batch.push(e);
            if batch.len() == batch.capacity() {
                break;
            }
        }
        if !batch.is_empty() {
            for e in &batch {
                if e.event.level() >= level && !matches!(sink, LogSink::Null) {
                    line.clear();
                    let _ = write!(
                        line,
                        "ts_ns={} level={} event={}",
                        e.ts_ns,
                        e.event.level().as_str(),
                        e.event.kind()
                    );
                    e.event.write_fields(&mut line);
                    line.push('\n');
                    let _ = match &mut sink {
                        LogSink::Stderr => std::io::stderr().write_all(line.as_bytes()),
                        LogSink::File(f) => f.write_all(line.as_bytes()),
                        LogSink::Null => Ok(()),
                    };
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
            let mut b = backlog
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let room = BACKLOG_LIMIT.saturating_sub(b.events.len());
            let keep = batch.len().min(room);
            b.overflow += (batch.len() - keep) as u64;
            b.events.extend_from_slice(&batch[..keep]);
            drop(b);
            batch.clear();
            continue;
        }
        if stopping {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Latency histograms of the fast path, in nanoseconds, allocated once.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// One datagram through sequencing, decoding and the books.
    pub feed: Histogram<u64>,
    /// Quoting decision: model, risk checks, OMS and encoding, per requote.
    pub quote: Histogram<u64>,
    /// Packet received to order bytes written (for datagrams that caused orders).
    pub tick_to_trade: Histogram<u64>,
    /// Order request sent to the venue's acknowledgement received.
    pub round_trip: Histogram<u64>,
}

/// Highest latency a histogram records (larger values are clamped): 60 s.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

impl Latencies {
    /// Empty histograms with 3 significant digits from 1 ns to [`MAX_LATENCY_NS`].
    #[must_use]
    pub fn new() -> Self {
        let h = || {
            let mut h = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                .unwrap_or_else(|_| unreachable!("constant bounds are valid"));
            // The counts array is fresh (untouched) memory: without this, the
            // first sample landing on each of its pages takes a page fault,
            // and those are exactly the rare, slow samples of the tail.
            let mut v = 1u64;
            while v < MAX_LATENCY_NS {
                let _ = h.record(v);
                v += (v / 256).max(1);
            }
            h.reset();
            h
        };
        Self {
            feed: h(),
            quote: h(),
            tick_to_trade: h(),
            round_trip: h(),
        }
    }

    /// The histograms with their names, in a fixed order.
    #[must_use]
    pub fn named(&self) -> [(&'static str, &Histogram<u64>); 4] {
        [
            ("feed", &self.feed),
            ("quote", &self.quote),
            ("tick_to_trade", &self.tick_to_trade),
            ("round_trip", &self.round_trip),
        ]
    }

    fn each_mut(&mut self) -> [&mut Histogram<u64>; 4] {
        [
            &mut self.feed,
            &mut self.quote,
            &mut self.tick_to_trade,
            &mut self.round_trip,
        ]
    }

    /// Samples per histogram, in the order of [`Self::named`].
    #[must_use]
    pub fn counts(&self) -> [u64; 4] {
        self.named().map(|(_, h)| h.len())
    }

    /// Adds every sample of `other` (same bounds: never fails, never resizes).
    /// Control plane only: walks every bucket.
    pub fn add(&mut self, other: &Self) {
        for (mine, (_, theirs)) in self.each_mut().into_iter().zip(other.named()) {
            let _ = mine.add(theirs);
        }
    }

    /// Forgets every sample; the buckets stay allocated (and touched).
    pub fn reset(&mut self) {
        for h in self.each_mut() {
            h.reset();
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// Records `ns` (clamped to the histogram's range); never allocates.
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    let _ = h.record(ns.clamp(1, MAX_LATENCY_NS));
}

/// Histogram sets circulating between the control plane and the fast path:
/// one is filled by the fast path, the others wait as spares or are being merged.
pub const SPARE_LATENCIES: usize = 2;

/// Creates the interval exchange with `spares` pre-allocated, empty
/// histogram sets (at least one): the fast path's end and the control plane's.
#[must_use]
pub fn interval_exchange(spares: usize) -> (IntervalSwap, IntervalCollector) {
    let spares = spares.max(1);
    let (mut spare_tx, spare_rx) = rtrb::RingBuffer::new(spares);
    let (filled_tx, filled_rx) = rtrb::RingBuffer::new(spares);
    for _ in 0..spares {
        let _ = spare_tx.push(Box::new(Latencies::new()));
    }
    (
        IntervalSwap {
            spares: spare_rx,
            filled: filled_tx,
        },
        IntervalCollector {
            cumulative: Latencies::new(),
            spares: spare_tx,
            filled: filled_rx,
            intervals: 0,
        },
    )
}

/// The fast path's end of the interval exchange: on a snapshot request it
/// swaps its live histograms with an empty spare (a move of a few hundred
/// bytes of headers; the bucket arrays stay where they are) and sends the
/// filled set to the control plane. No allocation, no lock, no percentile.
#[derive(Debug)]
pub struct IntervalSwap {
    spares: Consumer<Box<Latencies>>,
    filled: Producer<Box<Latencies>>,
}

impl IntervalSwap {
    /// Hands the samples of `live` over and leaves it empty; returns false
    /// (and leaves `live` as it is, so no sample is lost) when no spare is
    /// back yet.
    #[inline]
    pub fn swap(&mut self, live: &mut Latencies) -> bool {
        // Room first: a set that could not be sent would have to be dropped
        // (a free on the fast path). Single producer: the room stays.
        if self.filled.is_full() {
            return false;
        }
        let Ok(mut spare) = self.spares.pop() else {
            return false;
        };
        std::mem::swap(live, &mut *spare);
        let sent = self.filled.push(spare);
        debug_assert!(sent.is_ok(), "room was checked");
        true
    }
}

/// The control plane's end of the interval exchange: merges the sets the
/// fast path handed over into histograms since the start, resets them and
/// returns them as spares.
#[derive(Debug)]
pub struct IntervalCollector {
    cumulative: Latencies,
    spares: Producer<Box<Latencies>>,
    filled: Consumer<Box<Latencies>>,
    intervals: u64,
}

impl IntervalCollector {
    /// Merges every interval handed over since the last call; returns their
    /// samples per histogram (order of [`Latencies::named`]).
    pub fn collect(&mut self) -> [u64; 4] {
        let mut samples = [0; 4];
        while let Ok(mut interval) = self.filled.pop() {
            for (n, c) in samples.iter_mut().zip(interval.counts()) {
                *n += c;
            }
            self.cumulative.add(&interval);
            interval.reset();
            self.intervals += 1;
            // Capacity = the sets in circulation: there is always room.
            let _ = self.spares.push(interval);
        }
        samples
    }

    /// Every sample the fast path handed over so far.
    #[must_use]
    pub const fn cumulative(&self) -> &Latencies {
        &self.cumulative
    }

    /// Intervals merged so far.
    #[must_use]
    pub const fn intervals(&self) -> u64 {
        self.intervals
    }

    /// After the fast path stopped: merges what is left and `live` (its last,
    /// never handed over interval), and leaves the whole run in both `live`
    /// and [`Self::cumulative`].
    pub fn finish(&mut self, live: &mut Latencies) {
        self.collect();
        self.cumulative.add(live);
        live.reset();
        live.add(&self.cumulative);
    }
}
