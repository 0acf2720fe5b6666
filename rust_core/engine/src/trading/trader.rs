//! The fast path: datagram in -> sequencer -> books -> quoting model ->
//! pre-trade risk -> OMS -> gateway bytes out, and venue reports back into
//! the OMS, positions and PnL. One thread owns a [`Trader`]; nothing in here
//! allocates, locks or blocks after construction.

use quotewire_book::{Bbo, BookConfig};
use quotewire_core::clock::Clock;
use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_feed::{FeedEvent, FeedSink, Line, Sequencer, SequencerConfig, StartPolicy};
use quotewire_gateway::{GatewaySink, OrderGateway, SessionEvent};
use quotewire_oms::{Applied as OmsApplied, Oms, OmsConfig, OmsReject, OrderState, Reconciled};
use quotewire_risk::{
    FirmLimits, InstrumentLimits, KillReason, OrderCheck, Pnl, Reject, Risk, RiskConfig, Totals,
    Working,
};
use quotewire_strategy::{
    decide, Action, Ladder, MarketState, ModelParams, ModelState, QuoteSide, Strategy, MAX_LEVELS,
};
use rtrb::{Consumer, Producer};

use super::config::TraderConfig;
use super::rules::{Metrics, Rules};
use super::telemetry::{
    interval_exchange, record, EngineEvent, EventTx, IntervalCollector, IntervalSwap, Latencies,
    OrderAction, RingLevel, SPARE_LATENCIES,
};
use crate::market_data::{Applied, MarketData, MAX_LOCATES};
use crate::EngineError;
use quotewire_journal::{Intent, JournalTx};
use std::path::Path;

use super::recovery::{
    intent_tail, parse_note, survives_restart, walk_journal, NoteFact, Recovered, Replayed,
};

/// A request from the control plane (Python), applied between two events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Control {
    /// Fire the kill switch by hand.
    Kill,
    /// Re-arm the kill switch.
    Rearm,
    /// Enter or leave reduce-only mode.
    ReduceOnly(bool),
    /// New quoting parameters for one instrument.
    SetParams {
        /// Instrument.
        instrument: InstrumentId,
        /// Parameters (validated again on the fast path).
        params: ModelParams,
    },
    /// New risk limits for one instrument.
    SetInstrumentLimits {
        /// Instrument.
        instrument: InstrumentId,
        /// Limits.
        limits: InstrumentLimits,
    },
    /// New firm-wide limits.
    SetFirmLimits(FirmLimits),
    /// Publish a snapshot into the snapshot ring.
    Snapshot,
    /// Drop the order session as a network failure would (operator tooling,
    /// failure drills): the engine reconnects, replays and reconciles.
    DropSession,
}

/// A control request with its sequence number (echoed in the [`Ack`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControlMsg {
    /// Caller's sequence number.
    pub seq: u64,
    /// The request.
    pub control: Control,
}

/// The fast path's answer to one control request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The request's sequence number.
    pub seq: u64,
    /// Whether it took effect.
    pub ok: bool,
    /// Engine clock when it was applied.
    pub ts_ns: u64,
}

/// One instrument's state in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstrumentSnapshot {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Position, shares.
    pub position: i64,
    /// Average entry price of the position.
    pub avg_price: Price,
    /// Realised PnL, raw units.
    pub realised: i64,
    /// Mark-to-mid unrealised PnL, raw units.
    pub unrealised: i64,
    /// Mid used as reference, if any.
    pub mid: Option<Price>,
    /// Our resting bid.
    pub bid: Option<QuoteSide>,
    /// Our resting ask.
    pub ask: Option<QuoteSide>,
    /// Our open orders on the instrument.
    pub open_orders: u32,
    /// Fills so far.
    pub fills: u64,
    /// Shares bought.
    pub bought: u64,
    /// Shares sold.
    pub sold: u64,
    /// The model's estimates and last quote (reservation, half spreads).
    pub model: ModelState,
    /// Bit `r` set while rule `r` holds.
    pub rules_active: u64,
    /// Every level of our resting bids (index 0 nearest the mid), as acknowledged.
    pub bids: [Option<QuoteSide>; MAX_LEVELS],
    /// Every level of our resting asks.
    pub asks: [Option<QuoteSide>; MAX_LEVELS],
}

/// One record of a snapshot: instruments, then `End` with the firm totals.
#[derive(Clone, Copy, Debug, PartialEq)]
// Records travel by value through a ring allocated once; boxing the large
// variant would allocate on the fast path for every snapshot.
#[allow(clippy::large_enum_variant)]
pub enum SnapshotRecord {
    /// One instrument.
    Instrument(InstrumentSnapshot),
    /// The end of a snapshot.
    End {
        /// Kill switch state.
        killed: Option<KillReason>,
        /// Reduce-only mode.
        reduce_only: bool,
        /// Firm-wide PnL and exposure.
        totals: Totals,
        /// Engine clock.
        ts_ns: u64,
        /// The fast path's counters at this instant.
        counters: TraderCounters,
        /// How full the fast path's rings were at this instant.
        rings: RingLevels,
    },
}

/// Occupancy of the rings between the fast path and the other threads, read
/// by the fast path when it publishes a snapshot (absent: the ring does not exist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingLevels {
    /// Events to the writer thread (log lines, batches for Python).
    pub events: RingLevel,
    /// Records to the journal writer, when journaling.
    pub journal: Option<RingLevel>,
    /// Control requests waiting for the fast path (behind the snapshot's own).
    pub control: Option<RingLevel>,
    /// Snapshot records not yet read, before this snapshot's were published.
    pub snapshots: Option<RingLevel>,
}

impl RingLevels {
    /// The rings with their names, in a fixed order.
    #[must_use]
    pub const fn named(&self) -> [(&'static str, Option<RingLevel>); 4] {
        [
            ("events", Some(self.events)),
            ("journal", self.journal),
            ("control", self.control),
            ("snapshots", self.snapshots),
        ]
    }
}

/// The fast path's counters. Nothing it refuses goes uncounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraderCounters {
    /// Datagrams handed to the sequencer.
    pub datagrams: u64,
    /// ITCH messages applied.
    pub messages: u64,
    /// Requotes evaluated.
    pub requotes: u64,
    /// New orders sent.
    pub orders_new: u64,
    /// Replaces sent.
    pub orders_replace: u64,
    /// Cancels sent.
    pub orders_cancel: u64,
    /// Venue reports processed.
    pub reports: u64,
    /// Fills applied.
    pub fills: u64,
    /// Venue rejects (new or replace).
    pub venue_rejects: u64,
    /// Requests the OMS refused.
    pub oms_rejects: u64,
    /// Requests the gateway could not take.
    pub send_errors: u64,
    /// Duplicate reports (replays) ignored by the OMS.
    pub duplicate_reports: u64,
    /// Reports about orders nobody knows.
    pub unknown_reports: u64,
    /// Feed events that did not fit the per-datagram buffer.
    pub feed_events_overflow: u64,
    /// Kill switch activations.
    pub kills: u64,
    /// Control requests applied.
    pub controls: u64,
    /// Snapshot records dropped (snapshot ring full).
    pub snapshot_dropped: u64,
    /// Trades the venue broke (alerts: positions need an operator's correction).
    pub broken_trades: u64,
    /// Reports about orders already closed that the venue replayed after a
    /// recovery (the login asks for the whole session): expected, changed nothing.
    pub replayed_reports: u64,
}

/// Our order on one side of one instrument, as the quoting loop tracks it.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Current id of our order on this side.
    cl: Option<ClOrdId>,
    /// What rests (price, leaves), as last acknowledged.
    resting: Option<QuoteSide>,
    /// A request awaiting the venue's answer: its id and when it was sent.
    inflight: Option<(ClOrdId, u64)>,
}

impl Slot {
    fn clear(&mut self) {
        *self = Self::default();
    }

    fn owns(&self, cl: ClOrdId) -> bool {
        self.cl == Some(cl) || self.inflight.map(|(c, _)| c) == Some(cl)
    }
}

#[derive(Debug)]
struct Instrument {
    id: InstrumentId,
    strategy: Strategy,
    /// Our orders per side and ladder level.
    slots: [[Slot; MAX_LEVELS]; 2],
    /// Bit `r` set while rule `r` holds for this instrument.
    rules_active: u64,
    mid: Option<Price>,
    /// The top of book the last requote saw: a book change that leaves it
    /// as it was (a deeper level) needs no requote.
    quoted_top: Top,
    /// Whether the touch sizes are part of `quoted_top`: only when a rule
    /// reads them (imbalance); the quoting models read prices.
    watch_sizes: bool,
    /// Set when an inconsistent feed changed this book under a message
    /// naming another instrument: the next message for it compares the top
    /// with `quoted_top` even without a touch report.
    top_unsure: bool,
    dirty: bool,
    fills: u64,
    bought: u64,
    sold: u64,
}

/// Best bid and ask price and (when `sizes`) quantity: what the quoting
/// decision reads of the book.
type Top = [(i64, u64); 2];

fn top_of(bbo: &Bbo, sizes: bool) -> Top {
    let side = |l: Option<quotewire_book::Level>| {
        l.map_or((0, 0), |l| {
            (l.price.raw(), if sizes { l.qty.raw() } else { 1 })
        })
    };
    [side(bbo.bid), side(bbo.ask)]
}

/// Most feed events kept per datagram before the overflow counter counts them.
const FEED_EVENTS: usize = 16;

/// The market-data half, borrowed as the sequencer's sink.
struct MdSink<'a> {
    md: &'a mut MarketData,
    index: &'a [u16],
    instruments: &'a mut [Instrument],
    dirty: &'a mut Vec<u16>,
    events: &'a mut [Option<FeedEvent>; FEED_EVENTS],
    n_events: &'a mut usize,
    overflow: &'a mut u64,
    messages: &'a mut u64,
    now_ns: u64,
}

impl MdSink<'_> {
    /// An inconsistent feed changed a book under a message naming another
    /// instrument: that instrument's top may now differ from its quoted one
    /// without a touch report, so its next message compares them whatever it
    /// moves (what reading the BBO after every message did).
    #[cold]
    fn note_other_book(&mut self) {
        if let Some(other) = self.md.take_other_book() {
            let slot = self.index[usize::from(other.0)];
            if slot != 0 {
                self.instruments[usize::from(slot - 1)].top_unsure = true;
            }
        }
    }
}

impl FeedSink for MdSink<'_> {
    #[inline]
    fn message(&mut self, _seq: u64, payload: &[u8]) {
        *self.messages += 1;
        if let Applied::Book(id) = self.md.on_message(payload) {
            if self.md.other_book().is_some() {
                self.note_other_book();
            }
            let slot = self.index[usize::from(id.0)];
            if slot != 0 {
                let inst = &mut self.instruments[usize::from(slot - 1)];
                if let Some(t) = self.md.take_trade() {
                    let mid = self.md.bbo(id).mid();
                    inst.strategy.on_trade(self.now_ns, t.price, t.qty, mid);
                }
                // While an instrument is not dirty its top is the quoted one
                // (every requote records it), so only a message the book says
                // moved its touch can make them differ: the BBO is read then.
                let touch = self.md.last_touch();
                let moved = inst.top_unsure
                    || if inst.watch_sizes {
                        touch.any()
                    } else {
                        touch.price()
                    };
                debug_assert!(
                    inst.dirty
                        || moved
                        || top_of(&self.md.bbo(id), inst.watch_sizes) == inst.quoted_top,
                    "the top moved without a touch report"
                );
                if !inst.dirty && moved {
                    inst.top_unsure = false;
                    if top_of(&self.md.bbo(id), inst.watch_sizes) != inst.quoted_top {
                        inst.dirty = true;
                        self.dirty.push(slot - 1);
                    }
                }
            } else {
                let _ = self.md.take_trade();
            }
        }
    }

    fn event(&mut self, event: FeedEvent) {
        if *self.n_events < FEED_EVENTS {
            self.events[*self.n_events] = Some(event);
            *self.n_events += 1;
        } else {
            *self.overflow += 1;
        }
    }
}

/// The fast path, generic over the order gateway (OUCH client, in-memory, backtest).
#[derive(Debug)]
pub struct Trader<G: OrderGateway> {
    clock: Clock,
    md: MarketData,
    sequencer: Sequencer,
    oms: Oms,
    risk: Risk,
    gateway: G,
    instruments: Vec<Instrument>,
    /// Locate -> instrument index + 1 (0: not traded).
    index: Vec<u16>,
    dirty: Vec<u16>,
    feed_events: [Option<FeedEvent>; FEED_EVENTS],
    latencies: Latencies,
    events: EventTx,
    control: Option<Consumer<ControlMsg>>,
    acks: Option<Producer<Ack>>,
    snapshots: Option<Producer<SnapshotRecord>>,
    /// Hands the latency histograms to the control plane on a snapshot request.
    intervals: Option<IntervalSwap>,
    counters: TraderCounters,
    /// A feed gap is being recovered: quotes are pulled.
    feed_gap: bool,
    /// The order session is logged in and reconciled.
    session_ready: bool,
    kill_on_stale: bool,
    rearm_after_reconnect: bool,
    /// A clean stop is under way: no new quotes.
    stopping: bool,
    /// The feed is stale (no packet or heartbeat for the configured interval).
    feed_stale: bool,
    /// Automatic adjustment rules.
    rules: Rules,
    /// The journal's producer end, when journaling.
    journal: Option<JournalTx>,
    /// Simulated time (backtests): internal timestamps are the entry points'
    /// `now`, never a clock read.
    simulated: bool,
    /// The latest `now` an entry point was given.
    sim_now: u64,
    /// What [`Self::recover`] rebuilt, if it ran.
    recovered: Option<Recovered>,
    /// Requests taken from the intent log by [`Self::recover`], to journal again.
    restored_intents: Vec<OrderRequest>,
    /// Until the first session is ready after a recovery: reports naming an
    /// id below this are the venue's replay of orders already closed.
    replayed_below: u32,
}

/// The control-plane ends of a trader's rings.
#[derive(Debug)]
pub struct ControlEnds {
    /// Requests to the fast path.
    pub control: Producer<ControlMsg>,
    /// Its acknowledgements.
    pub acks: Consumer<Ack>,
    /// Snapshot records.
    pub snapshots: Consumer<SnapshotRecord>,
    /// The latency histograms handed over with each snapshot, merged.
    pub latencies: IntervalCollector,
}

/// Capacity of the control and acknowledgement rings.
pub const CONTROL_RING: usize = 1024;

impl<G: OrderGateway> Trader<G> {
    /// Builds every part, pre-sized from `config`. `events` is the producer end
    /// of the writer thread's ring.
    pub fn new(
        config: &TraderConfig,
        gateway: G,
        clock: Clock,
        events: EventTx,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let bad = |e: &dyn std::fmt::Display| EngineError::InvalidArgument(e.to_string());
        let max_id = config.instruments.iter().map(|i| i.id).max().unwrap_or(0);
        let oms = Oms::new(&OmsConfig {
            capacity: config.oms.capacity,
            max_instruments: usize::from(max_id) + 1,
            max_in_flight: config.oms.max_in_flight,
        })
        .map_err(|e| bad(&e))?;
        let default = config.instruments[0].limits();
        let mut risk = Risk::new(&RiskConfig {
            instruments: usize::from(max_id) + 1,
            firm: config.firm.limits(),
            default_instrument: default,
        })
        .map_err(|e| bad(&e))?;
        let mut index = vec![0u16; MAX_LOCATES];
        let rules = Rules::compile(&config.rules)?;
        let mut instruments = Vec::with_capacity(config.instruments.len());
        for (i, c) in config.instruments.iter().enumerate() {
            risk.set_instrument_limits(c.instrument(), c.limits())
                .map_err(|e| bad(&format!("instruments[{i}]: {e}")))?;
            index[usize::from(c.id)] = u16::try_from(i + 1).map_err(|e| bad(&e))?;
            instruments.push(Instrument {
                id: c.instrument(),
                strategy: Strategy::new(c.model_params()?).map_err(|e| bad(&e))?,
                slots: [[Slot::default(); MAX_LEVELS]; 2],
                rules_active: 0,
                mid: None,
                quoted_top: [(0, 0); 2],
                watch_sizes: rules.reads_touch_sizes(c.id),
                top_unsure: false,
                dirty: false,
                fills: 0,
                bought: 0,
                sold: 0,
            });
        }
        let sequencer = Sequencer::new(SequencerConfig {
            session: None,
            start: StartPolicy::FromOne,
            stale_after_ns: config.feed.stale_after_ms.saturating_mul(1_000_000),
            recovery_timeout_ns: config.feed.recovery_timeout_ms.saturating_mul(1_000_000),
            reorder_slots: config.feed.reorder_slots,
            ..SequencerConfig::default()
        })?;
        let md = MarketData::new(BookConfig {
            max_orders: 1 << 20,
            ..BookConfig::default()
        });
        Ok(Self {
            clock,
            md,
            sequencer,
            oms,
            risk,
            gateway,
            dirty: Vec::with_capacity(instruments.len()),
            instruments,
            index,
            feed_events: [None; FEED_EVENTS],
            latencies: Latencies::new(),
            events,
            control: None,
            acks: None,
            snapshots: None,
            intervals: None,
            counters: TraderCounters::default(),
            feed_gap: false,
            session_ready: false,
            kill_on_stale: config.engine.kill_on_stale,
            rearm_after_reconnect: config.engine.rearm_after_reconnect,
            stopping: false,
            feed_stale: false,
            rules,
            journal: None,
            simulated: false,
            sim_now: 0,
            recovered: None,
            restored_intents: Vec::new(),
            replayed_below: 0,
        })
    }

    /// Rebuilds the state of an earlier life of this engine from its journal
    /// at `dir` and the requests of `intents` (the intent log, oldest first)
    /// the journal lost; call once, before [`Self::set_journal`] and before
    /// the first poll. Requests are re-applied to the OMS as sent, reports
    /// through the live path (OMS, positions, PnL, fill counts), `ready`
    /// notes re-run the reconciliation, and kill-switch and reduce-only notes
    /// restore those (a kill only for a reason that
    /// [`survives_restart`]). Strategy
    /// parameters, limits and rules set at run time are not restored: the
    /// configuration's apply. Until the session is ready, reports about
    /// closed orders are counted as replayed; once it is, every order still
    /// open is cancelled (the quoting slots start empty). See `docs/recovery.md`.
    pub fn recover(&mut self, dir: &Path, intents: &[Intent]) -> Result<Recovered, EngineError> {
        if self.journal.is_some() || self.recovered.is_some() {
            return Err(EngineError::InvalidArgument(
                "recover runs once, before the journal is attached".into(),
            ));
        }
        let mut rec = Recovered::default();
        let mut killed = None;
        let mut reduce_only = self.risk.reduce_only();
        let walk = walk_journal(dir, |at, item| match item {
            Replayed::Request(req) => {
                rec.requests += 1;
                if self.oms.restore(&req, at).is_err() {
                    rec.refused += 1;
                }
            }
            Replayed::Report(r) => {
                rec.reports += 1;
                match self.apply_recovered_report(at, &r) {
                    OmsApplied::Fill(_) => rec.fills += 1,
                    OmsApplied::Duplicate { .. } => rec.duplicates += 1,
                    _ => {}
                }
            }
            Replayed::Note(text) => match parse_note(text) {
                Some(NoteFact::Ready { next_cl }) => {
                    rec.reconciles += 1;
                    self.oms.set_next_cl_id(next_cl);
                    self.oms.reconcile(at, &mut |_| {});
                }
                Some(NoteFact::Kill(reason)) => killed = killed.or(Some(reason)),
                Some(NoteFact::Rearm) => killed = None,
                Some(NoteFact::ReduceOnly(on)) => reduce_only = on,
                None => {}
            },
        })?;
        for i in intent_tail(intents, walk.last_request) {
            rec.intents += 1;
            if self.oms.restore(&i.request, i.unix_ns).is_ok() {
                self.restored_intents.push(i.request);
            } else {
                rec.refused += 1;
            }
        }
        rec.segments = walk.segments;
        rec.records = walk.records;
        rec.damaged = walk.corrupt + walk.torn_tails;
        rec.killed = killed.filter(|r| survives_restart(*r));
        if let Some(reason) = rec.killed {
            self.risk.kill(reason);
            let _ = self.risk.take_kill_event();
        }
        self.risk.set_reduce_only(reduce_only);
        rec.reduce_only = reduce_only;
        rec.open_orders = self.oms.live_orders();
        rec.next_cl = self.oms.next_cl_id();
        self.replayed_below = rec.next_cl.0;
        self.recovered = Some(rec);
        Ok(rec)
    }

    /// One journaled report through the live report path, without journaling
    /// it again or reacting to session events (none are journaled as reports).
    fn apply_recovered_report(&mut self, at: u64, r: &ExecReport) -> OmsApplied {
        let mut sink = ReportSink {
            oms: &mut self.oms,
            risk: &mut self.risk,
            instruments: &mut self.instruments,
            index: &self.index,
            dirty: &mut self.dirty,
            latencies: &mut self.latencies,
            events: None,
            counters: &mut self.counters,
            clock: None,
            sim_now: at,
            journal: None,
            sessions: [None; 4],
            n_sessions: 0,
            kill: None,
            // What the earlier life could not place it counted then; replays it
            // journaled are not news.
            replayed_below: u32::MAX,
            applied: None,
        };
        sink.report(r);
        // A kill the report set off (drawdown) was journaled as a note when it
        // first fired: it is restored from there, not from `sink.kill`.
        sink.applied.unwrap_or(OmsApplied::Unknown {
            cl: r.cl(),
            kind: quotewire_oms::ReportKind::of(r),
        })
    }

    /// Journals what [`Self::recover`] did (a note) and the requests it took
    /// from the intent log (so the journal holds them from now on); call
    /// right after [`Self::set_journal`].
    pub fn journal_recovery(&mut self, now_ns: u64) {
        let Some(rec) = self.recovered else { return };
        self.note(
            now_ns,
            format_args!(
                "recovered segments={} records={} requests={} reports={} fills={} \
                 intents={} refused={} damaged={} open={} next_cl={} killed={} reduce_only={}",
                rec.segments,
                rec.records,
                rec.requests,
                rec.reports,
                rec.fills,
                rec.intents,
                rec.refused,
                rec.damaged,
                rec.open_orders,
                rec.next_cl.0,
                rec.killed.map_or("none", KillReason::as_str),
                rec.reduce_only
            ),
        );
        for req in std::mem::take(&mut self.restored_intents) {
            if let Some(j) = self.journal.as_mut() {
                j.try_request(now_ns, &req);
            }
        }
    }

    /// What [`Self::recover`] rebuilt, if it ran.
    #[must_use]
    pub const fn recovered(&self) -> Option<&Recovered> {
        self.recovered.as_ref()
    }

    /// Raises the next client order id to at least `next` (never lowers it):
    /// the gateway's persisted highest id + 1 after a restart.
    pub fn raise_next_cl(&mut self, next: ClOrdId) {
        self.oms.set_next_cl_id(next);
    }

    /// Records every inbound packet, order request, venue report and control
    /// change from now on through `journal` (never blocking: a full ring is
    /// counted by the journal and raises its alarm).
    pub fn set_journal(&mut self, journal: JournalTx) {
        self.journal = Some(journal);
    }

    /// Journals a note (startup facts such as the instrument map; not for the fast path).
    pub fn journal_note(&mut self, now_ns: u64, text: &str) -> bool {
        self.journal
            .as_mut()
            .is_some_and(|j| j.try_note(now_ns, text))
    }

    /// The journal's producer end, if journaling.
    #[must_use]
    pub const fn journal(&self) -> Option<&JournalTx> {
        self.journal.as_ref()
    }

    /// Journals a short text note (audit trail) formatted on the stack: no allocation.
    fn note(&mut self, now_ns: u64, args: std::fmt::Arguments<'_>) {
        if let Some(j) = self.journal.as_mut() {
            let mut buf = NoteBuf::new();
            let _ = std::fmt::Write::write_fmt(&mut buf, args);
            j.try_note(now_ns, buf.as_str());
        }
    }

    /// Creates the control, acknowledgement, snapshot and latency-interval
    /// rings and returns the control plane's ends. From now on each snapshot
    /// request also hands the latency histograms recorded since the previous
    /// one to [`ControlEnds::latencies`]; [`Self::latencies`] then holds only
    /// the current interval until [`IntervalCollector::finish`] folds the
    /// whole run back in.
    pub fn control_ends(&mut self) -> ControlEnds {
        let (ctx, crx) = rtrb::RingBuffer::new(CONTROL_RING);
        let (atx, arx) = rtrb::RingBuffer::new(CONTROL_RING);
        let (stx, srx) = rtrb::RingBuffer::new(self.instruments.len() * 4 + 16);
        let (swap, collector) = interval_exchange(SPARE_LATENCIES);
        self.control = Some(crx);
        self.acks = Some(atx);
        self.snapshots = Some(stx);
        self.intervals = Some(swap);
        ControlEnds {
            control: ctx,
            acks: arx,
            snapshots: srx,
            latencies: collector,
        }
    }

    /// The engine clock.
    #[must_use]
    pub const fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Backtests: from now on every internal timestamp (requote time, report
    /// receipt, latency samples) is the `now_ns`/`rx_ns` last passed to an
    /// entry point instead of a clock read, so a run is a pure function of
    /// its inputs (compute time counts as zero). The feed stage histogram,
    /// which would only collect those zeros, is not recorded; the order
    /// round trips are, in simulated time.
    pub fn set_simulated_time(&mut self, on: bool) {
        self.simulated = on;
    }

    /// The time now: the clock, or the simulated time.
    #[inline(always)]
    fn now(&self) -> u64 {
        if self.simulated {
            self.sim_now
        } else {
            self.clock.now_ns()
        }
    }

    /// One datagram of market data received on `line` at `rx_ns` (engine
    /// clock): sequenced, applied to the books, then every instrument it
    /// changed is re-quoted. Returns whether any order bytes were written.
    #[inline]
    pub fn on_datagram(&mut self, line: Line, rx_ns: u64, datagram: &[u8]) -> bool {
        self.counters.datagrams += 1;
        self.sim_now = rx_ns;
        if let Some(j) = self.journal.as_mut() {
            j.try_packet(line.index() as u8, rx_ns, datagram);
        }
        let n_events = self
            .with_feed(rx_ns, |seq, sink| {
                seq.on_packet(rx_ns, line, datagram, sink);
            })
            .1;
        let t_books = self.now();
        if !self.simulated {
            record(&mut self.latencies.feed, t_books.saturating_sub(rx_ns));
        }
        // Most datagrams raise no feed event and change no quoted top: both
        // steps are skipped then (no call, no clock read).
        let pulled = if n_events == 0 {
            0
        } else {
            self.handle_feed_events(n_events, t_books)
        };
        let sent = !self.dirty.is_empty() && self.requote_dirty(rx_ns);
        sent || pulled > 0
    }

    /// Runs `f` with the sequencer and the market-data sink (books, dirty
    /// instruments, trades into the models); returns its result and the number
    /// of feed events it buffered.
    #[inline]
    fn with_feed<R>(
        &mut self,
        now_ns: u64,
        f: impl FnOnce(&mut Sequencer, &mut MdSink<'_>) -> R,
    ) -> (R, usize) {
        let mut n_events = 0;
        let mut sink = MdSink {
            md: &mut self.md,
            index: &self.index,
            instruments: &mut self.instruments,
            dirty: &mut self.dirty,
            events: &mut self.feed_events,
            n_events: &mut n_events,
            overflow: &mut self.counters.feed_events_overflow,
            messages: &mut self.counters.messages,
            now_ns,
        };
        let r = f(&mut self.sequencer, &mut sink);
        (r, n_events)
    }

    /// Runs the feed timers; returns a MoldUDP64 re-request to send, if due.
    pub fn poll_feed_timers(
        &mut self,
        now_ns: u64,
    ) -> Option<quotewire_protocol::moldudp64::Request> {
        self.sim_now = now_ns;
        let (request, n_events) = self.with_feed(now_ns, |seq, sink| seq.poll(now_ns, sink));
        if n_events > 0 {
            self.handle_feed_events(n_events, now_ns);
        }
        if !self.dirty.is_empty() {
            self.requote_dirty(now_ns);
        }
        request
    }

    /// Polls the order gateway: venue reports into the OMS, risk and quote
    /// slots; session events into the kill switch and reconciliation.
    /// Returns the number of reports.
    pub fn poll_gateway(&mut self, now_ns: u64) -> usize {
        self.sim_now = now_ns;
        let mut sink = ReportSink {
            oms: &mut self.oms,
            risk: &mut self.risk,
            instruments: &mut self.instruments,
            index: &self.index,
            dirty: &mut self.dirty,
            latencies: &mut self.latencies,
            events: Some(&mut self.events),
            counters: &mut self.counters,
            clock: (!self.simulated).then_some(&self.clock),
            sim_now: now_ns,
            journal: self.journal.as_mut(),
            sessions: [None; 4],
            n_sessions: 0,
            kill: None,
            replayed_below: self.replayed_below,
            applied: None,
        };
        let n = self.gateway.poll(now_ns, &mut sink);
        let kill = sink.kill;
        // Session events are rare: their buffer is copied out only when used.
        if sink.n_sessions > 0 {
            let (sessions, n_sessions) = (sink.sessions, sink.n_sessions);
            for e in sessions.into_iter().take(n_sessions).flatten() {
                self.on_session(now_ns, e);
            }
        }
        if let Some(reason) = kill {
            self.fire_kill(now_ns, reason);
        }
        if !self.dirty.is_empty() {
            self.requote_dirty(now_ns);
        }
        n
    }

    /// Applies every pending control request.
    pub fn poll_control(&mut self, now_ns: u64) -> usize {
        self.sim_now = now_ns;
        let mut n = 0;
        while let Some(msg) = self.control.as_mut().and_then(|c| c.pop().ok()) {
            n += 1;
            self.counters.controls += 1;
            let ok = self.apply_control(now_ns, msg);
            if !ok {
                self.events
                    .push(now_ns, EngineEvent::ControlRefused { seq: msg.seq });
            }
            if let Some(a) = self.acks.as_mut() {
                let _ = a.push(Ack {
                    seq: msg.seq,
                    ok,
                    ts_ns: now_ns,
                });
            }
        }
        if !self.dirty.is_empty() {
            self.requote_dirty(now_ns);
        }
        n
    }

    fn apply_control(&mut self, now_ns: u64, msg: ControlMsg) -> bool {
        let ok = self.apply_control_inner(now_ns, msg);
        self.note(
            now_ns,
            format_args!(
                "control seq={} source=user ok={ok} {:?}",
                msg.seq, msg.control
            ),
        );
        ok
    }

    fn apply_control_inner(&mut self, now_ns: u64, msg: ControlMsg) -> bool {
        match msg.control {
            Control::Kill => {
                self.fire_kill(now_ns, KillReason::Manual);
                true
            }
            Control::Rearm => self.rearm(now_ns),
            Control::ReduceOnly(on) => {
                self.risk.set_reduce_only(on);
                self.events.push(now_ns, EngineEvent::ReduceOnly { on });
                self.mark_all_dirty();
                true
            }
            Control::SetParams { instrument, params } => {
                let Some(i) = self.instrument_index(instrument) else {
                    return false;
                };
                if self.instruments[i].strategy.set_params(params).is_err() {
                    return false;
                }
                self.events
                    .push(now_ns, EngineEvent::ParamsChanged { instrument });
                self.mark_all_dirty();
                true
            }
            Control::SetInstrumentLimits { instrument, limits } => {
                let ok = self.risk.set_instrument_limits(instrument, limits).is_ok();
                if ok {
                    self.events.push(
                        now_ns,
                        EngineEvent::LimitsChanged {
                            instrument: Some(instrument),
                        },
                    );
                    // A quote the old limits refused is tried again now, not
                    // at the next book change (a quiet market may have none).
                    self.mark_all_dirty();
                }
                ok
            }
            Control::SetFirmLimits(limits) => {
                let ok = self.risk.set_firm_limits(limits).is_ok();
                if ok {
                    self.events
                        .push(now_ns, EngineEvent::LimitsChanged { instrument: None });
                    self.mark_all_dirty();
                }
                ok
            }
            Control::Snapshot => {
                self.publish_snapshot(now_ns);
                true
            }
            Control::DropSession => {
                self.gateway.drop_session();
                true
            }
        }
    }

    fn instrument_index(&self, id: InstrumentId) -> Option<usize> {
        match self.index[usize::from(id.0)] {
            0 => None,
            i => Some(usize::from(i - 1)),
        }
    }

    fn mark_all_dirty(&mut self) {
        for (i, inst) in self.instruments.iter_mut().enumerate() {
            if !inst.dirty {
                inst.dirty = true;
                self.dirty.push(i as u16);
            }
        }
    }

    /// Snapshot of one instrument.
    #[must_use]
    pub fn instrument_snapshot(&self, i: usize) -> InstrumentSnapshot {
        let inst = &self.instruments[i];
        let pnl = self.risk.pnl(inst.id).unwrap_or(Pnl {
            position: 0,
            avg_price: Price::ZERO,
            realised: 0,
            unrealised: 0,
            reference: None,
        });
        InstrumentSnapshot {
            instrument: inst.id,
            position: pnl.position,
            avg_price: pnl.avg_price,
            realised: pnl.realised,
            unrealised: pnl.unrealised,
            mid: inst.mid,
            bid: inst.slots[0][0].resting,
            ask: inst.slots[1][0].resting,
            open_orders: self.oms.working(inst.id).open_orders,
            fills: inst.fills,
            bought: inst.bought,
            sold: inst.sold,
            model: inst.strategy.state(),
            rules_active: inst.rules_active,
            bids: inst.slots[0].map(|s| s.resting),
            asks: inst.slots[1].map(|s| s.resting),
        }
    }

    /// The closing record of a snapshot: kill switch, mode, firm totals,
    /// counters and ring occupancy.
    #[must_use]
    pub fn snapshot_end(&self, ts_ns: u64) -> SnapshotRecord {
        self.end_record(ts_ns, self.ring_levels())
    }

    fn end_record(&self, ts_ns: u64, rings: RingLevels) -> SnapshotRecord {
        SnapshotRecord::End {
            killed: self.risk.killed(),
            reduce_only: self.risk.reduce_only(),
            totals: self.risk.totals(),
            ts_ns,
            counters: self.counters,
            rings,
        }
    }

    /// How full the fast path's rings are now.
    #[must_use]
    pub fn ring_levels(&self) -> RingLevels {
        RingLevels {
            events: self.events.level(),
            journal: self.journal.as_ref().map(|j| {
                let (used, capacity) = j.occupancy();
                RingLevel { used, capacity }
            }),
            control: self.control.as_ref().map(RingLevel::of_consumer),
            snapshots: self.snapshots.as_ref().map(RingLevel::of_producer),
        }
    }

    fn publish_snapshot(&mut self, now_ns: u64) {
        // The histograms first: once the end record is out, the control plane
        // finds this interval in its ring.
        if let Some(x) = self.intervals.as_mut() {
            x.swap(&mut self.latencies);
        }
        let rings = self.ring_levels();
        for i in 0..self.instruments.len() {
            let snap = self.instrument_snapshot(i);
            if let Some(tx) = self.snapshots.as_mut() {
                if tx.push(SnapshotRecord::Instrument(snap)).is_err() {
                    self.counters.snapshot_dropped += 1;
                }
            }
        }
        let end = self.end_record(now_ns, rings);
        if let Some(tx) = self.snapshots.as_mut() {
            if tx.push(end).is_err() {
                self.counters.snapshot_dropped += 1;
            }
        }
    }

    /// Acts on the feed events of one pass; returns the cancels it sent.
    #[cold]
    #[inline(never)]
    fn handle_feed_events(&mut self, n: usize, now_ns: u64) -> u32 {
        let mut cancels = 0;
        for i in 0..n {
            let Some(e) = self.feed_events[i].take() else {
                continue;
            };
            match e {
                FeedEvent::GapDetected { from, to } if !self.feed_gap => {
                    self.feed_gap = true;
                    self.events.push(now_ns, EngineEvent::FeedGap { from, to });
                    cancels += self.pull_quotes(now_ns);
                }
                FeedEvent::GapRecovered { .. }
                    if self.feed_gap && self.sequencer.current_gap().is_none() =>
                {
                    self.feed_gap = false;
                    self.events.push(now_ns, EngineEvent::FeedRecovered);
                    self.mark_all_dirty();
                }
                FeedEvent::GapLost { .. } => {
                    self.feed_gap = false;
                    cancels += self.fire_kill(now_ns, KillReason::FeedGap);
                }
                FeedEvent::Stale => {
                    self.feed_stale = true;
                    self.mark_all_dirty();
                    if self.kill_on_stale {
                        cancels += self.fire_kill(now_ns, KillReason::StaleFeed);
                    }
                }
                FeedEvent::Resumed => {
                    self.feed_stale = false;
                    self.mark_all_dirty();
                }
                _ => {}
            }
        }
        cancels
    }

    fn on_session(&mut self, now_ns: u64, e: SessionEvent) {
        match e {
            SessionEvent::Ready { next_cl } => {
                // Recovery re-runs the reconciliation at this point of the journal.
                self.note(now_ns, format_args!("ready next_cl={}", next_cl.0));
                self.oms.set_next_cl_id(next_cl);
                let mut expired = 0u32;
                let instruments = &mut self.instruments;
                let index = &self.index;
                self.oms.reconcile(now_ns, &mut |r: Reconciled| {
                    let gone = r.state == OrderState::Expired;
                    expired += u32::from(gone);
                    let i = index[usize::from(r.instrument.0)];
                    if i == 0 {
                        return;
                    }
                    let levels = &mut instruments[usize::from(i - 1)].slots[r.side.index()];
                    let Some(slot) = levels
                        .iter_mut()
                        .find(|s| s.owns(r.cl) || r.replace_lost.is_some_and(|c| s.owns(c)))
                    else {
                        return;
                    };
                    {
                        if gone {
                            slot.clear();
                        } else {
                            slot.inflight = None;
                            slot.cl = Some(r.cl);
                            slot.resting =
                                resting(slot.resting.map_or(Price::ZERO, |q| q.price), r.leaves);
                        }
                    }
                });
                self.session_ready = true;
                self.events.push(
                    now_ns,
                    EngineEvent::SessionReady {
                        next_cl: next_cl.0,
                        expired,
                    },
                );
                if self.risk.killed() == Some(KillReason::SessionLost) {
                    // Whatever the venue still holds of ours goes first.
                    self.cancel_everything(now_ns);
                    if self.rearm_after_reconnect {
                        self.rearm(now_ns);
                    }
                }
                if std::mem::take(&mut self.replayed_below) != 0 {
                    // After a recovery the quoting slots start empty: orders
                    // still open are ones we cannot account for. Pull them first.
                    let open = self.oms.live_orders();
                    let cancels = self.cancel_everything(now_ns);
                    self.note(
                        now_ns,
                        format_args!("recovery cancel open={open} cancels={cancels}"),
                    );
                }
                self.mark_all_dirty();
            }
            SessionEvent::Lost { .. } | SessionEvent::EndOfSession if self.session_ready => {
                self.session_ready = false;
                self.events.push(now_ns, EngineEvent::SessionLost);
                self.fire_kill(now_ns, KillReason::SessionLost);
            }
            _ => {}
        }
    }

    /// Fires the kill switch: blocks new orders and cancels every open order.
    /// Returns the cancels sent.
    pub fn fire_kill(&mut self, now_ns: u64, reason: KillReason) -> u32 {
        let first = self.risk.killed().is_none();
        self.risk.kill(reason);
        let cancels = self.cancel_everything(now_ns);
        if first {
            self.note(now_ns, format_args!("kill reason={}", reason.as_str()));
            self.counters.kills += 1;
            self.events
                .push(now_ns, EngineEvent::Killed { reason, cancels });
        }
        cancels
    }

    /// Stops quoting for good and cancels every open order (a clean stop,
    /// not a kill: the kill switch state is left as it was).
    pub fn shutdown(&mut self, now_ns: u64) -> u32 {
        self.stopping = true;
        self.cancel_everything(now_ns)
    }

    fn rearm(&mut self, now_ns: u64) -> bool {
        if self.risk.rearm().is_ok() {
            self.note(now_ns, format_args!("rearm"));
            self.events.push(now_ns, EngineEvent::Rearmed);
            self.mark_all_dirty();
            true
        } else {
            self.events.push(now_ns, EngineEvent::RearmRefused);
            false
        }
    }

    /// Cancels our quotes without firing the kill switch (feed gap).
    fn pull_quotes(&mut self, now_ns: u64) -> u32 {
        self.cancel_everything(now_ns)
    }

    fn cancel_everything(&mut self, now_ns: u64) -> u32 {
        if !self.session_ready {
            return 0;
        }
        let mut sent = 0u32;
        let Self {
            oms,
            gateway,
            instruments,
            index,
            events,
            counters,
            journal,
            ..
        } = self;
        oms.cancel_all(now_ns, &mut |c| {
            if gateway.send(now_ns, &OrderRequest::Cancel(c)).is_ok() {
                if let Some(j) = journal.as_mut() {
                    j.try_request(now_ns, &OrderRequest::Cancel(c));
                }
                sent += 1;
                counters.orders_cancel += 1;
                events.push(
                    now_ns,
                    EngineEvent::Sent {
                        action: OrderAction::Cancel,
                        cl: c.cl,
                        instrument: c.instrument,
                        side: c.side,
                        price: Price::ZERO,
                        qty: Qty::ZERO,
                    },
                );
                let i = index[usize::from(c.instrument.0)];
                if i != 0 {
                    let levels = &mut instruments[usize::from(i - 1)].slots[c.side.index()];
                    if let Some(slot) = levels.iter_mut().find(|s| s.cl == Some(c.cl)) {
                        slot.inflight = Some((c.cl, now_ns));
                    }
                }
            } else {
                counters.send_errors += 1;
            }
        });
        if sent > 0 && self.gateway.flush(now_ns).is_err() {
            self.counters.send_errors += 1;
        }
        sent
    }

    /// Re-quotes every instrument marked dirty; flushes once. Returns whether
    /// order bytes were written, recording tick-to-trade from `origin_ns`.
    fn requote_dirty(&mut self, origin_ns: u64) -> bool {
        let mut sent = 0;
        let t0 = self.now();
        while let Some(i) = self.dirty.pop() {
            let i = usize::from(i);
            self.instruments[i].dirty = false;
            sent += self.requote(i, t0);
        }
        if sent == 0 {
            return false;
        }
        let encoded = self.now();
        record(&mut self.latencies.quote, encoded.saturating_sub(t0));
        if self.gateway.flush(encoded).is_err() {
            self.counters.send_errors += 1;
        }
        let written = self.now();
        record(
            &mut self.latencies.tick_to_trade,
            written.saturating_sub(origin_ns),
        );
        true
    }

    fn requote(&mut self, i: usize, now_ns: u64) -> u32 {
        self.counters.requotes += 1;
        let id = self.instruments[i].id;
        let bbo: Bbo = self.md.bbo(id);
        let mid = bbo.mid();
        self.instruments[i].mid = mid;
        self.instruments[i].quoted_top = top_of(&bbo, self.instruments[i].watch_sizes);
        if let Some(m) = mid {
            if let Some(reason) = self.risk.on_reference(id, m) {
                self.fire_kill(now_ns, reason);
            }
        }
        if self.risk.killed().is_some() || self.feed_gap || !self.session_ready || self.stopping {
            return 0;
        }
        let position = self.oms.position(id);
        let inst = &mut self.instruments[i];
        inst.strategy.on_book(now_ns, &bbo);
        let est = inst.strategy.estimates();
        let metrics = Metrics {
            volatility: est.sigma,
            spread_ticks: est.spread_ticks,
            imbalance: est.imbalance,
            abs_position: position.unsigned_abs() as f64,
            feed_stale: if self.feed_stale { 1.0 } else { 0.0 },
        };
        let (adjust, active) = self.rules.evaluate(id.0, &metrics);
        let changed = inst.rules_active ^ active;
        inst.rules_active = active;
        if changed != 0 {
            self.rule_events(now_ns, id, changed, active);
        }
        let market = MarketState {
            bbo,
            position,
            reduce_only: self.risk.reduce_only(),
            now_ns,
        };
        let inst = &mut self.instruments[i];
        let ladder: Ladder = inst.strategy.quote(&market, adjust);
        let (tick, requote_ticks) = {
            let p = inst.strategy.params();
            (p.tick, p.requote_ticks)
        };
        let mut sent = 0;
        // Asks first when the quotes move up, bids first when they move down,
        // so a level never crosses one of ours that has not moved yet.
        let up = ladder.bids[0]
            .zip(self.instruments[i].slots[0][0].resting)
            .is_some_and(|(t, r)| t.price > r.price);
        let sides = if up {
            [Side::Sell, Side::Buy]
        } else {
            [Side::Buy, Side::Sell]
        };
        for side in sides {
            let targets = match side {
                Side::Buy => ladder.bids,
                Side::Sell => ladder.asks,
            };
            for (level, target) in targets.into_iter().enumerate() {
                let slot = self.instruments[i].slots[side.index()][level];
                if slot.inflight.is_some() {
                    continue;
                }
                let action = decide(slot.resting, target, tick, requote_ticks);
                sent += self.act(i, side, level, slot, action, now_ns);
            }
        }
        sent
    }

    fn rule_events(&mut self, now_ns: u64, instrument: InstrumentId, changed: u64, active: u64) {
        let mut bits = changed;
        while bits != 0 {
            let r = bits.trailing_zeros();
            bits &= bits - 1;
            let on = active & (1 << r) != 0;
            self.events.push(
                now_ns,
                EngineEvent::RuleChanged {
                    instrument,
                    rule: r as u8,
                    on,
                },
            );
            self.note(
                now_ns,
                format_args!(
                    "rule source=rule rule={r} instrument={} on={on}",
                    instrument.0
                ),
            );
        }
    }

    fn act(
        &mut self,
        i: usize,
        side: Side,
        level: usize,
        slot: Slot,
        action: Action,
        now_ns: u64,
    ) -> u32 {
        let id = self.instruments[i].id;
        let (request, kind, price, qty) = match action {
            Action::Keep => return 0,
            Action::New(q) | Action::Replace(q) => {
                let replaces = match action {
                    Action::Replace(_) => slot.resting.map(|r| (r.price, r.qty)),
                    _ => None,
                };
                if let Err(reason) = self.check(id, side, q, replaces, now_ns) {
                    self.events.push(
                        now_ns,
                        EngineEvent::RiskReject {
                            instrument: id,
                            side,
                            reason,
                        },
                    );
                    return 0;
                }
                let r = match (action, slot.cl) {
                    (Action::Replace(_), Some(cl)) => self
                        .oms
                        .replace(cl, q.price, q.qty, now_ns)
                        .map(OrderRequest::Replace),
                    _ => self
                        .oms
                        .place(id, side, q.price, q.qty, TimeInForce::Day, true, now_ns)
                        .map(OrderRequest::New),
                };
                let kind = if matches!(r, Ok(OrderRequest::Replace(_))) {
                    OrderAction::Replace
                } else {
                    OrderAction::New
                };
                (r, kind, q.price, q.qty)
            }
            Action::Cancel => {
                let Some(cl) = slot.cl else { return 0 };
                (
                    self.oms.cancel(cl, now_ns).map(OrderRequest::Cancel),
                    OrderAction::Cancel,
                    Price::ZERO,
                    Qty::ZERO,
                )
            }
        };
        let request = match request {
            Ok(r) => r,
            Err(reason) => {
                self.oms_reject(now_ns, id, side, reason);
                return 0;
            }
        };
        if self.gateway.send(now_ns, &request).is_err() {
            self.counters.send_errors += 1;
            return 0;
        }
        if let Some(j) = self.journal.as_mut() {
            j.try_request(now_ns, &request);
        }
        let cl = request.cl();
        let s = &mut self.instruments[i].slots[side.index()][level];
        s.inflight = Some((cl, now_ns));
        match request {
            OrderRequest::New(_) => {
                s.cl = Some(cl);
                self.counters.orders_new += 1;
            }
            OrderRequest::Replace(_) => self.counters.orders_replace += 1,
            OrderRequest::Cancel(_) => self.counters.orders_cancel += 1,
        }
        self.events.push(
            now_ns,
            EngineEvent::Sent {
                action: kind,
                cl,
                instrument: id,
                side,
                price,
                qty,
            },
        );
        1
    }

    fn check(
        &mut self,
        id: InstrumentId,
        side: Side,
        q: QuoteSide,
        replaces: Option<(Price, Qty)>,
        now_ns: u64,
    ) -> Result<(), Reject> {
        let w = self.oms.working(id);
        let working = Working {
            open_buy_qty: w.open_buy_qty,
            open_sell_qty: w.open_sell_qty,
            best_bid: self.oms.best_working(id, Side::Buy),
            best_ask: self.oms.best_working(id, Side::Sell),
        };
        let mut working = working;
        // Our own order being replaced never crosses itself.
        if replaces.is_some() {
            match side {
                Side::Buy => working.best_bid = None,
                Side::Sell => working.best_ask = None,
            }
        }
        let order = OrderCheck {
            instrument: id,
            side,
            price: q.price,
            qty: q.qty,
            replaces,
        };
        let open = u32::try_from(self.oms.live_orders()).unwrap_or(u32::MAX);
        self.risk.check(now_ns, &order, &working, open)
    }

    fn oms_reject(&mut self, now_ns: u64, instrument: InstrumentId, side: Side, reason: OmsReject) {
        self.counters.oms_rejects += 1;
        self.events.push(
            now_ns,
            EngineEvent::OmsReject {
                instrument,
                side,
                reason,
            },
        );
    }

    /// Counters of the fast path.
    #[must_use]
    pub const fn counters(&self) -> &TraderCounters {
        &self.counters
    }

    /// Latency histograms: since the start, or, once [`Self::control_ends`]
    /// was called, since the last snapshot request (see [`IntervalCollector`]).
    #[must_use]
    pub const fn latencies(&self) -> &Latencies {
        &self.latencies
    }

    /// The latency histograms, for the control plane once the fast path
    /// stopped ([`IntervalCollector::finish`]).
    pub fn latencies_mut(&mut self) -> &mut Latencies {
        &mut self.latencies
    }

    /// Clears the latency histograms (after warm-up).
    pub fn reset_latencies(&mut self) {
        self.latencies = Latencies::new();
    }

    /// The OMS.
    #[must_use]
    pub const fn oms(&self) -> &Oms {
        &self.oms
    }

    /// Pre-trade risk.
    #[must_use]
    pub const fn risk(&self) -> &Risk {
        &self.risk
    }

    /// The market data.
    #[must_use]
    pub const fn market_data(&self) -> &MarketData {
        &self.md
    }

    /// The sequencer.
    #[must_use]
    pub const fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    /// The gateway.
    #[must_use]
    pub const fn gateway(&self) -> &G {
        &self.gateway
    }

    /// The gateway, mutably (tests, benches).
    pub fn gateway_mut(&mut self) -> &mut G {
        &mut self.gateway
    }

    /// The event producer (the runner reports its own events through it).
    pub fn events_mut(&mut self) -> &mut EventTx {
        &mut self.events
    }

    /// Starts loading the book's id-map line of order reference `id`, which a
    /// datagram soon to reach [`Self::on_datagram`] names (a hint only: a
    /// caller that knows its next datagrams, a backtest, overlaps the miss).
    #[inline(always)]
    pub fn prefetch_order_ref(&self, id: u64) {
        self.md.books().prefetch_id(quotewire_core::OrderId(id));
    }

    /// Number of traded instruments.
    #[must_use]
    pub fn instrument_count(&self) -> usize {
        self.instruments.len()
    }

    /// Whether the order session is ready.
    #[must_use]
    pub const fn session_ready(&self) -> bool {
        self.session_ready
    }

    /// Whether quotes are pulled for a feed gap.
    #[must_use]
    pub const fn feed_gap(&self) -> bool {
        self.feed_gap
    }
}

fn resting(price: Price, leaves: Qty) -> Option<QuoteSide> {
    (leaves.raw() > 0).then_some(QuoteSide { price, qty: leaves })
}

/// The venue-report half, borrowed as the gateway's sink.
struct ReportSink<'a> {
    oms: &'a mut Oms,
    risk: &'a mut Risk,
    instruments: &'a mut [Instrument],
    index: &'a [u16],
    dirty: &'a mut Vec<u16>,
    latencies: &'a mut Latencies,
    /// Where events go; `None` while recovering (history is not news).
    events: Option<&'a mut EventTx>,
    counters: &'a mut TraderCounters,
    /// The clock; `None` in simulated time.
    clock: Option<&'a Clock>,
    /// The poll's `now` (simulated time).
    sim_now: u64,
    journal: Option<&'a mut JournalTx>,
    sessions: [Option<SessionEvent>; 4],
    n_sessions: usize,
    kill: Option<KillReason>,
    /// Unknown reports naming an id below this are a post-recovery replay.
    replayed_below: u32,
    /// What the OMS did with the last report.
    applied: Option<OmsApplied>,
}

impl ReportSink<'_> {
    #[inline(always)]
    fn now(&self) -> u64 {
        self.clock.map_or(self.sim_now, Clock::now_ns)
    }

    fn emit(&mut self, ts: u64, e: EngineEvent) {
        if let Some(events) = self.events.as_mut() {
            events.push(ts, e);
        }
    }

    fn instrument(&mut self, id: InstrumentId) -> Option<(u16, &mut Instrument)> {
        match self.index[usize::from(id.0)] {
            0 => None,
            i => Some((i - 1, &mut self.instruments[usize::from(i - 1)])),
        }
    }

    fn touch(&mut self, i: u16) {
        let inst = &mut self.instruments[usize::from(i)];
        if !inst.dirty {
            inst.dirty = true;
            self.dirty.push(i);
        }
    }

    /// The instrument index whose `side` slot owns `cl`; records the round
    /// trip if `cl` was the request in flight.
    fn round_trip(&mut self, id: InstrumentId, side: Side, cl: ClOrdId) -> Option<(u16, usize)> {
        let now = self.now();
        let (i, inst) = self.instrument(id)?;
        let level = inst.slots[side.index()].iter().position(|s| s.owns(cl))?;
        let slot = &inst.slots[side.index()][level];
        if let Some((c, sent)) = slot.inflight {
            if c == cl {
                record(&mut self.latencies.round_trip, now.saturating_sub(sent));
            }
        }
        Some((i, level))
    }

    fn resting_of(&self, cl: ClOrdId) -> Option<QuoteSide> {
        let o = self.oms.order(cl)?;
        resting(o.price(), o.leaves())
    }
}

impl GatewaySink for ReportSink<'_> {
    fn report(&mut self, r: &ExecReport) {
        self.counters.reports += 1;
        let ts = self.now();
        if let Some(j) = self.journal.as_mut() {
            j.try_report(ts, r);
        }
        let applied = self.oms.on_report(r);
        self.applied = Some(applied);
        match applied {
            OmsApplied::Fill(f) => {
                self.counters.fills += 1;
                if let Some(reason) = self.risk.on_fill(f.instrument, f.side, f.price, f.qty) {
                    self.kill = Some(reason);
                }
                let position = self.oms.position(f.instrument);
                self.emit(
                    ts,
                    EngineEvent::Fill {
                        cl: f.cl,
                        instrument: f.instrument,
                        side: f.side,
                        price: f.price,
                        qty: f.qty,
                        position,
                    },
                );
                if let Some((i, inst)) = self.instrument(f.instrument) {
                    inst.fills += 1;
                    match f.side {
                        Side::Buy => inst.bought += f.qty.raw(),
                        Side::Sell => inst.sold += f.qty.raw(),
                    }
                    if let Some(slot) = inst.slots[f.side.index()].iter_mut().find(|s| s.owns(f.cl))
                    {
                        if f.done {
                            slot.clear();
                        } else if let Some(rest) = slot.resting.as_mut() {
                            rest.qty = f.leaves;
                        }
                    }
                    self.touch(i);
                }
            }
            OmsApplied::Accepted {
                cl,
                instrument,
                side,
                price,
                leaves,
            } => {
                if let Some((i, level)) = self.round_trip(instrument, side, cl) {
                    let slot = &mut self.instruments[usize::from(i)].slots[side.index()][level];
                    slot.inflight = None;
                    slot.resting = resting(price, leaves);
                    self.touch(i);
                }
            }
            OmsApplied::Replaced {
                orig,
                cl,
                instrument,
                side,
                price,
                leaves,
                done,
            } => {
                let i = self
                    .round_trip(instrument, side, cl)
                    .or_else(|| self.round_trip(instrument, side, orig));
                if let Some((i, level)) = i {
                    let slot = &mut self.instruments[usize::from(i)].slots[side.index()][level];
                    if done {
                        slot.clear();
                    } else {
                        slot.inflight = None;
                        slot.cl = Some(cl);
                        slot.resting = resting(price, leaves);
                    }
                    self.touch(i);
                }
            }
            OmsApplied::Cancelled {
                cl,
                instrument,
                side,
                leaves,
                done,
                ..
            } => {
                if let Some((i, level)) = self.round_trip(instrument, side, cl) {
                    let slot = &mut self.instruments[usize::from(i)].slots[side.index()][level];
                    if done {
                        slot.clear();
                    } else if let Some(rest) = slot.resting.as_mut() {
                        rest.qty = leaves;
                    }
                    self.touch(i);
                }
            }
            OmsApplied::Rejected {
                cl,
                instrument,
                side,
                reason,
            } => {
                self.counters.venue_rejects += 1;
                self.emit(
                    ts,
                    EngineEvent::VenueReject {
                        cl,
                        instrument,
                        reason,
                    },
                );
                if let Some((i, level)) = self.round_trip(instrument, side, cl) {
                    self.instruments[usize::from(i)].slots[side.index()][level].clear();
                    self.touch(i);
                }
            }
            OmsApplied::ReplaceRejected {
                cl,
                rejected,
                instrument,
                side,
                price,
                leaves,
                cancel_lost: _,
            } => {
                self.counters.venue_rejects += 1;
                self.emit(
                    ts,
                    EngineEvent::VenueReject {
                        cl: rejected,
                        instrument,
                        reason: 0,
                    },
                );
                let i = self
                    .round_trip(instrument, side, rejected)
                    .or_else(|| self.round_trip(instrument, side, cl));
                if let Some((i, level)) = i {
                    let slot = &mut self.instruments[usize::from(i)].slots[side.index()][level];
                    slot.inflight = None;
                    slot.resting = resting(price, leaves);
                    slot.cl = slot.resting.map(|_| cl);
                    self.touch(i);
                }
            }
            OmsApplied::CancelRejected {
                cl,
                instrument,
                side,
                ..
            } => {
                if let Some((i, level)) = self.round_trip(instrument, side, cl) {
                    let rest = self.resting_of(cl);
                    let slot = &mut self.instruments[usize::from(i)].slots[side.index()][level];
                    slot.inflight = None;
                    slot.resting = rest;
                    if rest.is_none() {
                        slot.clear();
                    }
                    self.touch(i);
                }
            }
            OmsApplied::Duplicate { .. } => self.counters.duplicate_reports += 1,
            OmsApplied::Unknown { cl, .. } if cl.0 < self.replayed_below => {
                self.counters.replayed_reports += 1;
            }
            OmsApplied::Unknown { .. } => {
                self.counters.unknown_reports += 1;
                if let ExecReport::Executed { cl, qty, .. } = *r {
                    self.emit(ts, EngineEvent::UnknownFill { cl, qty });
                }
            }
            OmsApplied::BrokenTrade { .. } => {
                // The OMS keeps no per-fill history: a broken trade is an alert
                // for the operator, not something to guess at.
                self.counters.broken_trades += 1;
            }
        }
    }

    fn session(&mut self, e: SessionEvent) {
        if self.n_sessions < self.sessions.len() {
            self.sessions[self.n_sessions] = Some(e);
            self.n_sessions += 1;
        } else if let SessionEvent::Lost { .. } = e {
            // Never lose a loss: overwrite the last slot.
            self.sessions[self.sessions.len() - 1] = Some(e);
        }
    }
}

/// A note formatted on the stack (longer text is cut at a character boundary).
struct NoteBuf {
    buf: [u8; 240],
    len: usize,
}

impl NoteBuf {
    const fn new() -> Self {
        Self {
            buf: [0; 240],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str` pieces are ever copied in (see `write_str`).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for NoteBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
