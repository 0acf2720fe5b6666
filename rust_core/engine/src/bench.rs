//! The `quotewire bench feed` harness: a generated Nasdaq-shaped session replayed
//! from memory through MoldUDP64 decode, sequencing, ITCH decode and the books.
//!
//! Datagrams are replayed as a busy receive loop sees them: the prefetch
//! [`Pipeline`] of [`MarketData`] runs across each datagram and on into the
//! next, and the bytes of the datagram after that are prefetched (see `Ring`).
//! [`run_feed_bench_with`] takes the pipeline (`distance: 0` is the
//! one-message-at-a-time baseline).
//!
//! Two passes over the same datagrams, each with fresh state:
//! 1. throughput: no timer inside the loop; messages / wall time;
//! 2. latency: one clock read after every message (liquibook style: raw samples
//!    go to a pre-allocated buffer, the histogram is built after the run). A
//!    message's latency is the time from the previous message's completion (or
//!    the packet's arrival, for the first message of a packet) to its own, so
//!    it includes its share of datagram validation and sequencing, and the
//!    samples add up to the whole processing time. The clock's own cost is
//!    measured and reported alongside.

use std::ops::Range;
use std::time::Instant;

use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use quotewire_book::BookConfig;
use quotewire_core::clock::Clock;
use quotewire_core::mem::prefetch_bytes;
use quotewire_feed::{Line, Sequencer, SequencerConfig};
use quotewire_protocol::moldudp64::{decode_header, Session, MAX_PAYLOAD};
use quotewire_synth::{packetize, Generator, SynthConfig, SYSTEM_EVENTS};

use crate::market_data::{Lookahead, Pipeline};
use crate::{Applied, EngineError, MarketData, MarketDataCounters};

/// More than the messages one MoldUDP64 datagram of [`MAX_PAYLOAD`] bytes can carry.
const DATAGRAM_SLACK: u64 = (MAX_PAYLOAD / 14) as u64;

/// What to replay.
#[derive(Clone, Debug)]
pub struct FeedBenchConfig {
    /// Messages measured.
    pub messages: u64,
    /// Live orders resting in the books when measurement starts: a warm-up
    /// phase (replayed, not measured) builds the books up to this population,
    /// as at mid-day on a real venue. 0 measures from a cold start.
    pub live_orders: usize,
    /// Instruments in the session.
    pub instruments: u16,
    /// Seed of the generator.
    pub seed: u64,
}

impl FeedBenchConfig {
    /// Messages of the warm-up phase: twice the target population, so the
    /// ramp adds about one order net per two messages.
    #[must_use]
    pub const fn warmup_messages(&self) -> u64 {
        2 * self.live_orders as u64
    }

    /// The generator's configuration: a ramp over the warm-up, then a balanced day mix.
    #[must_use]
    pub fn synth(&self) -> SynthConfig {
        let defaults = SynthConfig::default();
        let warmup = self.warmup_messages();
        let framing = SYSTEM_EVENTS + u64::from(self.instruments);
        // The first measured datagram may straddle the warm-up boundary: a datagram of
        // slack keeps the measured count at or above `messages`.
        let total = framing + warmup + self.messages + DATAGRAM_SLACK;
        let order_messages = (total - framing).max(1) as f64;
        SynthConfig {
            messages: total,
            instruments: self.instruments,
            max_live_orders: self.live_orders.max(1024),
            seed: self.seed,
            growth_fraction: (self.live_orders as f64 / order_messages)
                .max(defaults.growth_fraction),
            ramp_fraction: if warmup == 0 {
                defaults.ramp_fraction
            } else {
                warmup as f64 / order_messages
            },
            ..defaults
        }
    }

    /// Book sizing: room for the peak plus headroom.
    #[must_use]
    pub fn book(&self) -> BookConfig {
        let synth = self.synth();
        BookConfig {
            max_orders: synth.peak_live_orders() + synth.peak_live_orders() / 4 + 4096,
            max_instruments: usize::from(self.instruments) + 1,
            levels_per_side: 64,
        }
    }
}

/// Figures of one `bench feed` run.
#[derive(Debug)]
pub struct FeedBenchResult {
    /// ITCH messages replayed (per pass).
    pub count: u64,
    /// MoldUDP64 datagrams replayed.
    pub packets: u64,
    /// Wall time of the throughput pass.
    pub elapsed_ns: u64,
    /// Messages per second in the throughput pass.
    pub per_sec: f64,
    /// CPU time the replaying thread spent in the throughput pass (excludes
    /// time it was descheduled: on a shared machine, `count / cpu_ns` is the
    /// steadier figure to compare builds with).
    pub cpu_ns: u64,
    /// Per-message latency histogram (nanoseconds) of the latency pass.
    pub histogram: Histogram<u64>,
    /// Cost of one clock read, median of back-to-back reads (ns).
    pub clock_overhead_ns: u64,
    /// Live orders resting in the books when measurement started.
    pub live_orders_start: usize,
    /// Messages replayed, unmeasured, to build the books first.
    pub warmup_messages: u64,
    /// Largest number of live orders seen in the books.
    pub live_orders_peak: usize,
    /// Bytes reserved by the books (slab, id map, levels).
    pub book_bytes: usize,
    /// Pipeline counters of the latency pass.
    pub counters: MarketDataCounters,
    /// Sequence gaps detected (must be zero for an in-memory replay).
    pub gaps: u64,
}

/// Encodes a histogram as HdrHistogram V2 + DEFLATE bytes.
pub fn v2_deflate(histogram: &Histogram<u64>) -> Result<Vec<u8>, EngineError> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut out)
        .map_err(|e| EngineError::Histogram(format!("{e:?}")))?;
    Ok(out)
}

/// Builds the latency histogram (1 ns to 60 s, 3 significant digits) of raw
/// nanosecond samples recorded into a pre-allocated buffer during a run.
pub fn histogram_from_samples(samples: &[u32]) -> Result<Histogram<u64>, EngineError> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| EngineError::Histogram(e.to_string()))?;
    for &s in samples {
        histogram.saturating_record(u64::from(s.max(1)));
    }
    Ok(histogram)
}

/// Generates the session, then runs the throughput and latency passes with
/// the default prefetch [`Pipeline`].
pub fn run_feed_bench(config: &FeedBenchConfig) -> Result<FeedBenchResult, EngineError> {
    run_feed_bench_with(config, Pipeline::default())
}

/// [`run_feed_bench`] with an explicit prefetch pipeline (`distance: 0` is the
/// one-message-at-a-time baseline).
pub fn run_feed_bench_with(
    config: &FeedBenchConfig,
    pipeline: Pipeline,
) -> Result<FeedBenchResult, EngineError> {
    let synth = config.synth();
    let book = config.book();
    let generator = Generator::new(synth.clone())?;
    let session = Session::from_str_padded("QWBENCH");
    let datagrams = packetize(generator, session, 1, MAX_PAYLOAD)?;
    // Measurement starts at the first datagram whose messages all lie past the warm-up.
    let warm_end = synth.framing_messages() - 3 + config.warmup_messages();
    let split = datagrams
        .iter()
        .position(|d| decode_header(d).is_ok_and(|h| h.sequence > warm_end))
        .unwrap_or(datagrams.len());
    let (warm, measured) = (&datagrams.bounds()[..split], &datagrams.bounds()[split..]);
    let data = datagrams.data();
    let clock = Clock::default();

    // Pass 1: throughput.
    let mut md = MarketData::new(book);
    let mut sequencer = Sequencer::new(SequencerConfig::default())?;
    let mut ring = Ring::new(data, warm, pipeline);
    for i in 0..warm.len() {
        ring.replay(i, 0, &mut sequencer, &mut md, |_| {});
    }
    let before = md.counters().messages;
    let mut ring = Ring::new(data, measured, pipeline);
    let cpu_started = thread_cpu_ns();
    let started = Instant::now();
    for i in 0..measured.len() {
        ring.replay(i, 0, &mut sequencer, &mut md, |_| {});
    }
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu_started);
    let count = md.counters().messages - before;
    let live_orders_start = md.books().live_orders();
    drop(md);

    // Pass 2: latency, with pre-allocated sample storage.
    let mut md = MarketData::new(book);
    let mut sequencer = Sequencer::new(SequencerConfig::default())?;
    let mut ring = Ring::new(data, warm, pipeline);
    for i in 0..warm.len() {
        ring.replay(i, 0, &mut sequencer, &mut md, |_| {});
    }
    // Pre-faulted, not just reserved: `with_capacity` leaves the pages
    // unmapped, and the first sample on each 4 KiB page (one in 1,024) would
    // pay a page fault (~2.5 us on this VM), which is what the p99.9 measured.
    // A non-zero fill is written (a zero fill may come from `calloc`, untouched).
    let mut samples: Vec<u32> = vec![u32::MAX; count as usize + 16];
    let mut recorded = 0usize;
    let mut live_orders_peak = 0;
    let mut ring = Ring::new(data, measured, pipeline);
    for i in 0..measured.len() {
        let mut last = clock.now_ns();
        ring.replay(i, last, &mut sequencer, &mut md, |_| {
            let now = clock.now_ns();
            if let Some(slot) = samples.get_mut(recorded) {
                *slot = u32::try_from(now - last).unwrap_or(u32::MAX);
                recorded += 1;
            }
            last = now;
        });
        live_orders_peak = live_orders_peak.max(md.books().live_orders());
    }
    samples.truncate(recorded);
    let gaps = sequencer.stats().gaps;

    let histogram = histogram_from_samples(&samples)?;

    Ok(FeedBenchResult {
        count,
        packets: datagrams.len() as u64,
        elapsed_ns,
        per_sec: count as f64 * 1e9 / elapsed_ns.max(1) as f64,
        cpu_ns,
        histogram,
        clock_overhead_ns: clock_overhead(&clock),
        live_orders_start,
        live_orders_peak,
        warmup_messages: config.warmup_messages(),
        book_bytes: md.books().memory_bytes(),
        counters: md.counters(),
        gaps,
    })
}

/// The replay's receive loop over datagrams held in memory, as a busy receive
/// ring holds them: while datagram `i` is applied, the prefetch pipeline runs
/// on into datagram `i + 1` (so its first messages arrive warm) and the bytes
/// of datagram `i + 2` are prefetched (so indexing `i + 1` next time does not
/// wait for memory).
struct Ring<'a> {
    data: &'a [u8],
    bounds: &'a [Range<usize>],
    pipeline: Pipeline,
    /// The previous datagram's pipeline already issued this one's first hints.
    primed: bool,
    /// Refilled for every datagram.
    lookahead: Lookahead<'a>,
}

impl<'a> Ring<'a> {
    fn new(data: &'a [u8], bounds: &'a [Range<usize>], pipeline: Pipeline) -> Self {
        Self {
            data,
            bounds,
            pipeline,
            primed: false,
            lookahead: Lookahead::default(),
        }
    }

    fn datagram(&self, i: usize) -> Option<&'a [u8]> {
        self.bounds.get(i).and_then(|r| self.data.get(r.clone()))
    }

    /// Datagram `i` through the sequencer into the books; `after` runs after
    /// every message with the book effect.
    #[inline]
    fn replay(
        &mut self,
        i: usize,
        now_ns: u64,
        sequencer: &mut Sequencer,
        md: &mut MarketData,
        mut after: impl FnMut(Applied),
    ) {
        let Some(datagram) = self.datagram(i) else {
            return;
        };
        if let Some(later) = self.datagram(i + 2) {
            prefetch_bytes(later);
        }
        let pipeline = self.pipeline;
        // One validating pass indexes the datagram for the pipeline and hands
        // the decoded packet to the sequencer.
        let next = self.datagram(i + 1);
        let decoded = self.lookahead.refill(datagram, next, pipeline.reach());
        let lookahead = &self.lookahead;
        if !self.primed {
            md.prime(lookahead, pipeline);
        }
        self.primed = lookahead.runs_into_next();
        sequencer.on_decoded(
            now_ns,
            Line::A,
            datagram,
            decoded,
            &mut |seq: u64, msg: &[u8]| {
                after(md.on_message_pipelined(seq, msg, lookahead, pipeline));
            },
        );
    }
}

/// CPU time consumed by the calling thread so far (ns; 0 if the clock is unavailable).
#[must_use]
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which
    // points to a live, properly aligned local; the clock id is a constant
    // every Linux kernel supports (an error leaves `ts` zeroed, and is reported as 0).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Cost of one clock read: the median of back-to-back reads (ns).
#[must_use]
pub fn clock_overhead(clock: &Clock) -> u64 {
    let mut deltas = [0u64; 1001];
    for d in &mut deltas {
        let a = clock.now_ns();
        let b = clock.now_ns();
        *d = b - a;
    }
    deltas.sort_unstable();
    deltas[deltas.len() / 2]
}
