//! [`run`]: replays a [`Tape`] through the live engine's own fast path
//! ([`Trader`]: feed sequencer, books, strategy, risk, OMS) against a
//! [`BacktestVenue`], in simulated time, one thread, no clock.
//!
//! # The event loop
//!
//! Three sources of events, taken in time order:
//! 1. the next datagram of the tape reaches the venue at its tape time `t`
//!    (its messages update the venue's book and our queues);
//! 2. the venue's own next event (a request arriving, a report due): the
//!    trader polls its gateway at that time;
//! 3. a datagram reaches the trader `md_latency_ns` after the venue saw it.
//!
//! Ties go in that order: the venue sees the market before the trader, and
//! the trader reads its reports before the market data of the same instant.
//! The trader's compute time counts as zero (its clock is simulated).

use std::time::Instant;

use hdrhistogram::Histogram;
use quotewire_core::clock::Clock;
use quotewire_core::{Price, Side};
use quotewire_engine::trading::telemetry::{EngineEvent, EventTx, OrderAction, Stamped};
use quotewire_engine::trading::{Trader, TraderConfig, TraderCounters};
use quotewire_feed::Line;

use crate::tape::{Tape, TapePacket};
use crate::{BacktestConfig, BacktestError, BacktestVenue, InstrumentSpec, Latency};

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The strategy, risk and OMS configuration (as live).
    pub trader: TraderConfig,
    /// Order entry and acknowledgement delays.
    pub latency: Latency,
    /// Market data delay: venue to engine, ns.
    pub md_latency_ns: u64,
    /// Seed of the latency draws.
    pub seed: u64,
    /// Position and PnL are sampled at the first event at least this many ns
    /// of tape time after the previous sample (0: only at fills and the end).
    pub sample_every_ns: u64,
    /// Venue ids of a recorded session's own orders (see [`BacktestVenue::stand_in_for`]).
    pub own_refs: Vec<u64>,
    /// Time every step of the loop (wall clock) into [`RunResult::per_packet`].
    pub time_packets: bool,
}

/// An order request the strategy sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRow {
    /// Tape time.
    pub ts_ns: u64,
    /// `N`ew, `R`eplace or `C`ancel.
    pub action: u8,
    /// Our order id.
    pub cl: u32,
    /// Instrument.
    pub instrument: u16,
    /// Side.
    pub side: Side,
    /// Limit price, raw (0 for cancels).
    pub price: i64,
    /// Quantity (0 for cancels).
    pub qty: u64,
}

/// One of our fills, with the state right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillRow {
    /// Tape time the engine learned of it.
    pub ts_ns: u64,
    /// Our order id.
    pub cl: u32,
    /// Instrument.
    pub instrument: u16,
    /// Side.
    pub side: Side,
    /// Trade price, raw.
    pub price: i64,
    /// Shares.
    pub qty: u64,
    /// Position after the fill.
    pub position: i64,
    /// The engine's mid when it learned of the fill, raw (0: none).
    pub mid: i64,
}

/// Position and PnL of one instrument at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Tape time.
    pub ts_ns: u64,
    /// Instrument.
    pub instrument: u16,
    /// Position, shares.
    pub position: i64,
    /// Mid, raw (0: none).
    pub mid: i64,
    /// Realised PnL, raw price units x shares.
    pub realised: i64,
    /// Unrealised PnL marked to the mid, raw price units x shares.
    pub unrealised: i64,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// Order requests, in order.
    pub orders: Vec<OrderRow>,
    /// Fills, in order.
    pub fills: Vec<FillRow>,
    /// Position/PnL samples, in time order.
    pub samples: Vec<Sample>,
    /// The fast path's counters.
    pub counters: TraderCounters,
    /// ITCH messages the venue applied (the run's events).
    pub messages: u64,
    /// Datagrams replayed.
    pub datagrams: u64,
    /// Events the fast path could not publish (ring full; the loop drains it
    /// after every step, so a non-zero count means rows are missing).
    pub events_dropped: u64,
    /// Shares of the recorded own orders executed in the data.
    pub recorded_own_executed: u64,
    /// Wall time of the replay, ns.
    pub elapsed_ns: u64,
    /// Wall ns per step of the loop (a datagram into the venue, a venue event
    /// polled by the engine, a datagram into the engine), when timed.
    pub per_packet: Option<Histogram<u64>>,
}

impl RunResult {
    /// ITCH messages per wall second.
    #[must_use]
    pub fn messages_per_sec(&self) -> f64 {
        if self.elapsed_ns == 0 {
            return 0.0;
        }
        self.messages as f64 * 1e9 / self.elapsed_ns as f64
    }
}

/// The venue's order lookups and the engine book's id-map lines are
/// prefetched this many datagrams ahead of the one the venue applies (1 to 4
/// measured the same on the benchmark session). Only the first line of each
/// is hinted: also loading the engine's order node a datagram later, through
/// the id map, or the venue's levels, measured slower (more instructions than
/// the misses they hide), and so did the engine's full four-stage pipeline.
const PREFETCH_AHEAD: usize = 2;

/// How often (tape time) the feed's timers run.
const TIMER_PERIOD_NS: u64 = 1_000_000;

/// Which source's event is next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Market,
    Venue,
    Engine,
}

fn line_of(index: u8) -> Line {
    match index {
        1 => Line::B,
        2 => Line::Retransmit,
        _ => Line::A,
    }
}

/// Replays `tape` through the configured strategy against a simulated venue.
pub fn run(config: &RunConfig, tape: &Tape) -> Result<RunResult, BacktestError> {
    let instruments = config
        .trader
        .instruments
        .iter()
        .map(|i| InstrumentSpec {
            id: i.instrument(),
            tick: Price(i.tick),
        })
        .collect();
    let mut venue = BacktestVenue::new(BacktestConfig {
        latency: config.latency.clone(),
        seed: config.seed,
        instruments,
    })?;
    venue.stand_in_for(config.own_refs.iter().copied());
    let (events, rx) = EventTx::local(1 << 16);
    let mut trader = Trader::new(&config.trader, venue, Clock::monotonic(), events)
        .map_err(|e| BacktestError::Config(e.to_string()))?;
    trader.set_simulated_time(true);
    let mut index = vec![usize::MAX; usize::from(u16::MAX) + 1];
    for (i, c) in config.trader.instruments.iter().enumerate() {
        index[usize::from(c.id)] = i;
    }
    let mut out = Collector {
        rx,
        index,
        orders: Vec::new(),
        fills: Vec::new(),
        samples: Vec::new(),
    };
    let md = config.md_latency_ns;
    let mut per_packet = if config.time_packets {
        Some(
            Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
                .map_err(|e| BacktestError::Config(format!("histogram: {e}")))?,
        )
    } else {
        None
    };
    // Calibrating the TSC clock spins for a while: only when timing steps.
    let clock = if config.time_packets {
        Clock::default()
    } else {
        Clock::monotonic()
    };
    let started = Instant::now();

    let first_ts = tape.get(0).map_or(0, |(p, _)| p.ts_ns);
    trader.poll_gateway(first_ts);
    out.drain(&trader);
    let mut next_sample = if config.sample_every_ns > 0 {
        first_ts
    } else {
        u64::MAX
    };
    // Datagrams `engine_next..venue_next` have reached the venue and not yet
    // the engine: one delay for all, so they reach it in tape order.
    let packets = tape.packets();
    let mut next_timers = first_ts;
    let (mut venue_next, mut engine_next) = (0_usize, 0_usize);
    let (mut venue_next_seq, mut messages, mut now) = (0_u64, 0_u64, first_ts);
    loop {
        let t_market = packets.get(venue_next).map(|p| p.ts_ns);
        let t_venue = trader.gateway_mut().next_event_ns();
        let t_engine = if engine_next < venue_next {
            packets.get(engine_next).map(|p| p.ts_ns.saturating_add(md))
        } else {
            None
        };
        // The earliest; ties in the order market, venue, engine.
        let (t, which) = match (t_market, t_venue, t_engine) {
            (Some(m), v, e) if v.is_none_or(|v| m <= v) && e.is_none_or(|e| m <= e) => {
                (m, Next::Market)
            }
            (_, Some(v), e) if e.is_none_or(|e| v <= e) => (v, Next::Venue),
            (_, _, Some(e)) => (e, Next::Engine),
            _ => break,
        };
        now = now.max(t);
        if now >= next_sample {
            // One sample per interval that saw an event (quiet hours add none).
            out.sample(&trader, now);
            next_sample = now.saturating_add(config.sample_every_ns);
        }
        let t0 = per_packet.as_ref().map(|_| clock.now_ns());
        match which {
            Next::Market => loop {
                let p = &packets[venue_next];
                let venue = trader.gateway_mut();
                messages += venue.on_datagram(now, tape.bytes(p), &mut venue_next_seq);
                venue_next += 1;
                if let Some(n) = packets.get(venue_next + PREFETCH_AHEAD - 1) {
                    trader
                        .gateway()
                        .prefetch_orders(tape.bytes(n), |r| trader.prefetch_order_ref(r));
                }
                // Without a market data delay the engine's step for this datagram
                // comes next unless the next datagram or a venue event ties with it
                // (they go first) or a sample is due: take it now, without another
                // round of choosing (same order, same results).
                let engine_next_up = md == 0
                    && per_packet.is_none()
                    && next_sample > now
                    && engine_next + 1 == venue_next
                    && packets.get(venue_next).is_none_or(|n| n.ts_ns > now)
                    && trader.gateway_mut().next_event_ns().is_none_or(|v| v > now);
                if !engine_next_up {
                    break;
                }
                engine_step(&mut trader, p, tape, now, &mut next_timers);
                engine_next += 1;
                out.drain(&trader);
                // And the choice after it, when it is the next datagram again
                // (no venue event before it, no sample due): the same, inline.
                let Some(n) = packets.get(venue_next) else {
                    break;
                };
                if trader
                    .gateway_mut()
                    .next_event_ns()
                    .is_some_and(|v| v < n.ts_ns)
                    || now.max(n.ts_ns) >= next_sample
                {
                    break;
                }
                now = now.max(n.ts_ns);
            },
            Next::Venue => {
                trader.poll_gateway(now);
                out.drain(&trader);
            }
            Next::Engine => {
                let p = &packets[engine_next];
                engine_next += 1;
                engine_step(&mut trader, p, tape, now, &mut next_timers);
                out.drain(&trader);
            }
        }
        if let (Some(h), Some(t0)) = (per_packet.as_mut(), t0) {
            let _ = h.record(clock.now_ns().saturating_sub(t0).max(1));
        }
    }
    // The end of the data: cancel everything, let the venue answer.
    trader.shutdown(now);
    out.drain(&trader);
    while let Some(t) = trader.gateway_mut().next_event_ns() {
        now = now.max(t);
        trader.poll_gateway(now);
        out.drain(&trader);
    }
    out.sample(&trader, now);
    let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let recorded_own_executed = trader.gateway_mut().recorded_own_executed();
    Ok(RunResult {
        orders: out.orders,
        fills: out.fills,
        samples: out.samples,
        counters: *trader.counters(),
        messages,
        datagrams: tape.len() as u64,
        events_dropped: trader.events_mut().dropped(),
        recorded_own_executed,
        elapsed_ns,
        per_packet,
    })
}

/// A datagram reaches the engine at `now`; the feed's timers run when due.
#[inline(always)]
fn engine_step(
    trader: &mut Trader<BacktestVenue>,
    p: &TapePacket,
    tape: &Tape,
    now: u64,
    next_timers: &mut u64,
) {
    trader.on_datagram(line_of(p.line), now, tape.bytes(p));
    if now >= *next_timers {
        // Gap recovery timeouts and staleness, as the live loop runs them
        // (a re-request it asks for is moot: the tape holds what came).
        let _ = trader.poll_feed_timers(now);
        *next_timers = now.saturating_add(TIMER_PERIOD_NS);
    }
}

/// Drains the trader's events into rows; samples positions.
struct Collector {
    rx: rtrb::Consumer<Stamped>,
    index: Vec<usize>,
    orders: Vec<OrderRow>,
    fills: Vec<FillRow>,
    samples: Vec<Sample>,
}

impl Collector {
    /// Takes every event the trader published (most steps publish none).
    #[inline]
    fn drain(&mut self, trader: &Trader<BacktestVenue>) {
        if !self.rx.is_empty() {
            self.drain_events(trader);
        }
    }

    #[inline(never)]
    fn drain_events(&mut self, trader: &Trader<BacktestVenue>) {
        while let Ok(Stamped { ts_ns, event }) = self.rx.pop() {
            match event {
                EngineEvent::Sent {
                    action,
                    cl,
                    instrument,
                    side,
                    price,
                    qty,
                } => self.orders.push(OrderRow {
                    ts_ns,
                    action: match action {
                        OrderAction::New => b'N',
                        OrderAction::Replace => b'R',
                        OrderAction::Cancel => b'C',
                    },
                    cl: cl.0,
                    instrument: instrument.0,
                    side,
                    price: price.0,
                    qty: qty.0,
                }),
                EngineEvent::Fill {
                    cl,
                    instrument,
                    side,
                    price,
                    qty,
                    position,
                } => {
                    let i = self.index[usize::from(instrument.0)];
                    let snap = (i != usize::MAX).then(|| trader.instrument_snapshot(i));
                    self.fills.push(FillRow {
                        ts_ns,
                        cl: cl.0,
                        instrument: instrument.0,
                        side,
                        price: price.0,
                        qty: qty.0,
                        position,
                        mid: snap.and_then(|s| s.mid).map_or(0, |m| m.0),
                    });
                    if let Some(s) = snap {
                        self.samples.push(Sample {
                            ts_ns,
                            instrument: instrument.0,
                            position: s.position,
                            mid: s.mid.map_or(0, |m| m.0),
                            realised: s.realised,
                            unrealised: s.unrealised,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn sample(&mut self, trader: &Trader<BacktestVenue>, ts_ns: u64) {
        for i in 0..trader.instrument_count() {
            let s = trader.instrument_snapshot(i);
            self.samples.push(Sample {
                ts_ns,
                instrument: s.instrument.0,
                position: s.position,
                mid: s.mid.map_or(0, |m| m.0),
                realised: s.realised,
                unrealised: s.unrealised,
            });
        }
    }
}
