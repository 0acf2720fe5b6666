//! `quotewire._core.Engine`: the trading engine started in-process, and the
//! trading benchmarks.
//!
//! Python validates its typed configuration and serialises it to JSON once;
//! the engine crate parses it, starts the pinned fast-path thread and answers
//! control requests through its rings. Nothing here runs per event: events,
//! snapshots and summaries reach Python in batches as plain objects.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use quotewire_core::{InstrumentId, Price, Side};
use quotewire_engine::trading::bench::{
    run_orders_bench, run_tick_to_trade, OrdersBenchConfig, TickToTradeConfig,
};
use quotewire_engine::trading::config::InstrumentConfig;
use quotewire_engine::trading::runner::LiveEngine;
use quotewire_engine::trading::telemetry::{EngineEvent, Latencies, Stamped};
use quotewire_engine::trading::trader::{InstrumentSnapshot, SnapshotRecord};
use quotewire_engine::trading::{Control, TraderConfig, TraderCounters};
use quotewire_engine::EngineError;
use quotewire_risk::{FirmLimits, InstrumentLimits, Reject};
use serde::Deserialize;

use crate::{put_histogram, put_latency, to_py, ConfigError, QuotewireError};

const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

fn config_error(e: impl std::fmt::Display) -> PyErr {
    ConfigError::new_err(e.to_string())
}

fn engine_error(e: EngineError) -> PyErr {
    match e {
        EngineError::InvalidArgument(m) => QuotewireError::new_err(m),
        other => to_py(other),
    }
}

const fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    max_order_qty: u64,
    max_order_notional: i64,
    price_band_bps: u32,
    max_position: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FirmSpec {
    max_gross_exposure: i64,
    max_net_exposure: i64,
    max_open_orders: u32,
    orders_per_sec: u32,
    burst: u32,
    max_drawdown: i64,
}

fn instrument_dict<'py>(py: Python<'py>, s: &InstrumentSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("instrument", s.instrument.0)?;
    d.set_item("position", s.position)?;
    d.set_item("avg_price", s.avg_price.raw())?;
    d.set_item("realised", s.realised)?;
    d.set_item("unrealised", s.unrealised)?;
    d.set_item("mid", s.mid.map(Price::raw))?;
    d.set_item("bid_price", s.bid.map(|q| q.price.raw()))?;
    d.set_item("bid_qty", s.bid.map(|q| q.qty.raw()))?;
    d.set_item("ask_price", s.ask.map(|q| q.price.raw()))?;
    d.set_item("ask_qty", s.ask.map(|q| q.qty.raw()))?;
    d.set_item("open_orders", s.open_orders)?;
    d.set_item("fills", s.fills)?;
    d.set_item("bought", s.bought)?;
    d.set_item("sold", s.sold)?;
    let m = &s.model;
    let model = PyDict::new(py);
    model.set_item("sigma", m.estimates.sigma)?;
    model.set_item("a", m.estimates.a)?;
    model.set_item("k", m.estimates.k)?;
    model.set_item("spread_ticks", m.estimates.spread_ticks)?;
    model.set_item("imbalance", m.estimates.imbalance)?;
    model.set_item("mid_samples", m.estimates.mid_samples)?;
    model.set_item("trades", m.estimates.trades)?;
    model.set_item("reservation_ticks", m.reservation)?;
    model.set_item("bid_half_spread_ticks", m.bid_half_spread)?;
    model.set_item("ask_half_spread_ticks", m.ask_half_spread)?;
    model.set_item("sigma_used", m.sigma_used)?;
    model.set_item("a_used", m.a_used)?;
    model.set_item("k_used", m.k_used)?;
    d.set_item("model", model)?;
    d.set_item("rules_active", s.rules_active)?;
    for (key, levels) in [("bids", &s.bids), ("asks", &s.asks)] {
        let list = PyList::empty(py);
        for q in levels.iter().flatten() {
            list.append((q.price.raw(), q.qty.raw()))?;
        }
        d.set_item(key, list)?;
    }
    Ok(d)
}

fn snapshot_dict<'py>(py: Python<'py>, records: &[SnapshotRecord]) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let list = PyList::empty(py);
    for r in records {
        match r {
            SnapshotRecord::Instrument(s) => list.append(instrument_dict(py, s)?)?,
            SnapshotRecord::End {
                killed,
                ts_ns,
                totals,
                reduce_only,
                counters,
                rings,
            } => {
                out.set_item("killed", killed.map(|k| k.as_str()))?;
                out.set_item("reduce_only", *reduce_only)?;
                out.set_item("ts_ns", *ts_ns)?;
                out.set_item("realised", totals.realised)?;
                out.set_item("unrealised", totals.unrealised)?;
                out.set_item("total_pnl", totals.total)?;
                out.set_item("gross_exposure", totals.gross_exposure)?;
                out.set_item("net_exposure", totals.net_exposure)?;
                out.set_item("counters", counters_dict(py, counters)?)?;
                let levels = PyDict::new(py);
                for (name, level) in rings.named() {
                    if let Some(l) = level {
                        let d = PyDict::new(py);
                        d.set_item("used", l.used)?;
                        d.set_item("capacity", l.capacity)?;
                        levels.set_item(name, d)?;
                    }
                }
                out.set_item("rings", levels)?;
            }
        }
    }
    out.set_item("instruments", list)?;
    Ok(out)
}

fn event_dict<'py>(py: Python<'py>, e: &Stamped) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ts_ns", e.ts_ns)?;
    d.set_item("event", e.event.kind())?;
    d.set_item("level", e.event.level().as_str())?;
    match e.event {
        EngineEvent::Sent {
            action,
            cl,
            instrument,
            side,
            price,
            qty,
        } => {
            d.set_item("action", action.as_str())?;
            d.set_item("cl", cl.0)?;
            d.set_item("instrument", instrument.0)?;
            d.set_item("side", side_name(side))?;
            d.set_item("price", price.raw())?;
            d.set_item("qty", qty.raw())?;
        }
        EngineEvent::Fill {
            cl,
            instrument,
            side,
            price,
            qty,
            position,
        } => {
            d.set_item("cl", cl.0)?;
            d.set_item("instrument", instrument.0)?;
            d.set_item("side", side_name(side))?;
            d.set_item("price", price.raw())?;
            d.set_item("qty", qty.raw())?;
            d.set_item("position", position)?;
        }
        EngineEvent::RiskReject {
            instrument,
            side,
            reason,
        } => {
            d.set_item("instrument", instrument.0)?;
            d.set_item("side", side_name(side))?;
            d.set_item("reason", reason.as_str())?;
        }
        EngineEvent::OmsReject {
            instrument,
            side,
            reason,
        } => {
            d.set_item("instrument", instrument.0)?;
            d.set_item("side", side_name(side))?;
            d.set_item("reason", format!("{reason:?}"))?;
        }
        EngineEvent::VenueReject {
            cl,
            instrument,
            reason,
        } => {
            d.set_item("cl", cl.0)?;
            d.set_item("instrument", instrument.0)?;
            d.set_item("reason", reason)?;
        }
        EngineEvent::Killed { reason, cancels } => {
            d.set_item("reason", reason.as_str())?;
            d.set_item("cancels", cancels)?;
        }
        EngineEvent::FeedGap { from, to } => {
            d.set_item("from", from)?;
            d.set_item("to", to)?;
        }
        EngineEvent::SessionReady { next_cl, expired } => {
            d.set_item("next_cl", next_cl)?;
            d.set_item("expired", expired)?;
        }
        EngineEvent::ParamsChanged { instrument } => d.set_item("instrument", instrument.0)?,
        EngineEvent::LimitsChanged { instrument } => {
            d.set_item("instrument", instrument.map(|i| i.0))?;
        }
        EngineEvent::ControlRefused { seq } => d.set_item("seq", seq)?,
        EngineEvent::ReduceOnly { on } => d.set_item("on", on)?,
        EngineEvent::RuleChanged {
            instrument,
            rule,
            on,
        } => {
            d.set_item("instrument", instrument.0)?;
            d.set_item("rule", rule)?;
            d.set_item("on", on)?;
        }
        EngineEvent::UnknownFill { cl, qty } => {
            d.set_item("cl", cl.0)?;
            d.set_item("qty", qty.raw())?;
        }
        EngineEvent::Rearmed
        | EngineEvent::RearmRefused
        | EngineEvent::FeedRecovered
        | EngineEvent::SessionLost => {}
    }
    Ok(d)
}

/// The fast path's counters as a dict (the stop summary's and a backtest's `counters`).
pub(crate) fn counters_dict<'py>(
    py: Python<'py>,
    c: &TraderCounters,
) -> PyResult<Bound<'py, PyDict>> {
    let counters = PyDict::new(py);
    for (k, v) in [
        ("datagrams", c.datagrams),
        ("messages", c.messages),
        ("requotes", c.requotes),
        ("orders_new", c.orders_new),
        ("orders_replace", c.orders_replace),
        ("orders_cancel", c.orders_cancel),
        ("reports", c.reports),
        ("fills", c.fills),
        ("venue_rejects", c.venue_rejects),
        ("oms_rejects", c.oms_rejects),
        ("send_errors", c.send_errors),
        ("duplicate_reports", c.duplicate_reports),
        ("unknown_reports", c.unknown_reports),
        ("replayed_reports", c.replayed_reports),
        ("feed_events_overflow", c.feed_events_overflow),
        ("kills", c.kills),
        ("controls", c.controls),
        ("snapshot_dropped", c.snapshot_dropped),
        ("broken_trades", c.broken_trades),
    ] {
        counters.set_item(k, v)?;
    }
    Ok(counters)
}

fn latency_dict<'py>(py: Python<'py>, lat: &Latencies) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, h) in lat.named() {
        let d = PyDict::new(py);
        d.set_item("count", h.len())?;
        if h.is_empty() {
            for key in [
                "min_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns",
            ] {
                d.set_item(key, 0)?;
            }
            let empty: Histogram<u64> = Histogram::new(3).map_err(config_error)?;
            put_histogram(&d, &empty)?;
        } else {
            put_latency(&d, h)?;
            put_histogram(&d, h)?;
        }
        out.set_item(name, d)?;
    }
    Ok(out)
}

/// Quantiles of the live latency figures (`Engine.latency`).
const LIVE_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Upper bounds of the live latency buckets, nanoseconds (1 us to 10 s, 1-2-5 steps).
const LIVE_BUCKETS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// One stage's live latency figures, nanoseconds.
struct StageFigures {
    name: &'static str,
    count: u64,
    sum: f64,
    max: u64,
    quantiles: [(f64, u64); LIVE_QUANTILES.len()],
    /// Samples at or below each bound of [`LIVE_BUCKETS_NS`].
    buckets: [u64; LIVE_BUCKETS_NS.len()],
}

/// Each stage's count, sum, max, quantiles and cumulative bucket counts,
/// computed on the control plane from the merged histograms.
fn stage_figures(lat: &Latencies) -> Vec<StageFigures> {
    lat.named()
        .into_iter()
        .map(|(name, h)| {
            let count = h.len();
            let mut buckets = [0; LIVE_BUCKETS_NS.len()];
            for v in h.iter_recorded() {
                // A bucket of equivalent values counts at its highest value.
                let at = v.value_iterated_to();
                let first = LIVE_BUCKETS_NS.partition_point(|&le| le < at);
                if let Some(b) = buckets.get_mut(first) {
                    *b += v.count_at_value();
                }
            }
            let mut below = 0;
            for b in &mut buckets {
                below += *b;
                *b = below;
            }
            StageFigures {
                name,
                count,
                // HdrHistogram keeps no sum: the mean of its buckets (3
                // significant digits) times the count.
                sum: if count == 0 {
                    0.0
                } else {
                    h.mean() * count as f64
                },
                max: if count == 0 { 0 } else { h.max() },
                quantiles: LIVE_QUANTILES.map(|q| {
                    (
                        q,
                        if count == 0 {
                            0
                        } else {
                            h.value_at_quantile(q)
                        },
                    )
                }),
                buckets,
            }
        })
        .collect()
}

fn live_latency_dict<'py>(
    py: Python<'py>,
    stages: &[StageFigures],
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for s in stages {
        let d = PyDict::new(py);
        d.set_item("count", s.count)?;
        d.set_item("sum_ns", s.sum)?;
        d.set_item("max_ns", s.max)?;
        d.set_item("quantiles", s.quantiles.to_vec())?;
        let buckets: Vec<(u64, u64)> = LIVE_BUCKETS_NS.into_iter().zip(s.buckets).collect();
        d.set_item("buckets", buckets)?;
        out.set_item(s.name, d)?;
    }
    Ok(out)
}

/// A running trading engine (see `quotewire.engine.Engine`).
#[pyclass(module = "quotewire._core")]
pub(crate) struct Engine {
    /// The control plane's ring ends are single-producer: one caller at a time.
    inner: Mutex<Option<LiveEngine>>,
}

impl Engine {
    fn with_live<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut LiveEngine) -> Result<T, EngineError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let live = guard
                .as_mut()
                .ok_or_else(|| EngineError::InvalidArgument("the engine is stopped".into()))?;
            f(live)
        })
        .map_err(engine_error)
    }

    fn control(&self, py: Python<'_>, control: Control) -> PyResult<bool> {
        let ack = self.with_live(py, |live| live.control(control, CONTROL_TIMEOUT))?;
        Ok(ack.ok)
    }
}

#[pymethods]
impl Engine {
    /// Parses, validates and starts the engine from its JSON configuration.
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config = TraderConfig::from_json(config_json).map_err(config_error)?;
        config.validate().map_err(config_error)?;
        let live = py
            .detach(|| LiveEngine::start(&config))
            .map_err(|e| match e {
                EngineError::InvalidArgument(m) => ConfigError::new_err(m),
                other => to_py(other),
            })?;
        Ok(Self {
            inner: Mutex::new(Some(live)),
        })
    }

    /// Whether the fast-path thread runs.
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(LiveEngine::is_running)
    }

    /// Fires the kill switch.
    fn kill(&self, py: Python<'_>) -> PyResult<bool> {
        self.control(py, Control::Kill)
    }

    /// Re-arms the kill switch.
    fn rearm(&self, py: Python<'_>) -> PyResult<bool> {
        self.control(py, Control::Rearm)
    }

    /// Drops the order session as a network failure would (failure drills).
    fn drop_session(&self, py: Python<'_>) -> PyResult<bool> {
        self.control(py, Control::DropSession)
    }

    /// Enters or leaves reduce-only mode.
    fn reduce_only(&self, py: Python<'_>, on: bool) -> PyResult<bool> {
        self.control(py, Control::ReduceOnly(on))
    }

    /// New quoting parameters for one instrument: the instrument's whole
    /// configuration as JSON (raw values); only its model parameters are used.
    fn set_params(&self, py: Python<'_>, instrument: u16, instrument_json: &str) -> PyResult<bool> {
        let c: InstrumentConfig = serde_json::from_str(instrument_json).map_err(config_error)?;
        let params = c.model_params().map_err(config_error)?;
        self.control(
            py,
            Control::SetParams {
                instrument: InstrumentId(instrument),
                params,
            },
        )
    }

    /// New risk limits for one instrument (JSON of raw values).
    // `&self`: a metrics scrape may hold a shared borrow (in `snapshot`) meanwhile;
    // the control ring's single producer is guarded by `inner`'s mutex.
    fn set_instrument_limits(
        &self,
        py: Python<'_>,
        instrument: u16,
        limits_json: &str,
    ) -> PyResult<bool> {
        let l: LimitsSpec = serde_json::from_str(limits_json).map_err(config_error)?;
        let limits = InstrumentLimits {
            max_order_qty: l.max_order_qty,
            max_order_notional: l.max_order_notional,
            price_band_bps: l.price_band_bps,
            max_position: l.max_position,
        };
        limits.validate().map_err(config_error)?;
        self.control(
            py,
            Control::SetInstrumentLimits {
                instrument: InstrumentId(instrument),
                limits,
            },
        )
    }

    /// New firm-wide limits (JSON of raw values).
    fn set_firm_limits(&self, py: Python<'_>, limits_json: &str) -> PyResult<bool> {
        let f: FirmSpec = serde_json::from_str(limits_json).map_err(config_error)?;
        let limits = FirmLimits {
            max_gross_exposure: f.max_gross_exposure,
            max_net_exposure: f.max_net_exposure,
            max_open_orders: f.max_open_orders,
            orders_per_sec: f.orders_per_sec,
            burst: f.burst,
            max_drawdown: f.max_drawdown,
        };
        limits.validate().map_err(config_error)?;
        self.control(py, Control::SetFirmLimits(limits))
    }

    /// Positions, PnL, quotes and the kill switch at one instant (raw units).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let records = self.with_live(py, |live| live.snapshot(CONTROL_TIMEOUT))?;
        snapshot_dict(py, &records)
    }

    /// The latency histograms since the start as of the last `snapshot()`
    /// (which merges the interval the fast path handed over): per stage,
    /// `count`, `sum_ns`, `max_ns`, `quantiles` [(q, ns)] and cumulative
    /// `buckets` [(le_ns, count)]. Sends nothing to the fast path.
    fn latency<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stages = self.with_live(py, |live| Ok(stage_figures(live.latencies())))?;
        live_latency_dict(py, &stages)
    }

    /// Events since the last call, oldest first.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let events = self.with_live(py, |live| Ok(live.events()))?;
        let list = PyList::empty(py);
        for e in &events {
            list.append(event_dict(py, e)?)?;
        }
        Ok(list)
    }

    /// Events lost so far: (event ring full on the fast path, backlog full
    /// because nobody drained it). Read-only; for metrics scrapes.
    fn events_dropped(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        self.with_live(py, |live| Ok(live.events_dropped()))
    }

    /// Stops the engine (cancelling every open order) and returns the final summary.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let taken = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut live =
            taken.ok_or_else(|| QuotewireError::new_err("the engine was already stopped"))?;
        let trader = py.detach(|| live.stop()).map_err(engine_error)?;
        let events = live.events();
        let (ring_dropped, backlog_dropped) = live.events_dropped();
        let journal = live.journal_stats();
        drop(live);
        let mut records: Vec<SnapshotRecord> = (0..trader.instrument_count())
            .map(|i| SnapshotRecord::Instrument(trader.instrument_snapshot(i)))
            .collect();
        records.push(trader.snapshot_end(0));
        let out = snapshot_dict(py, &records)?;
        let counters = counters_dict(py, trader.counters())?;
        for (k, v) in [
            ("events_dropped", ring_dropped + backlog_dropped),
            ("open_orders", trader.oms().live_orders() as u64),
        ] {
            counters.set_item(k, v)?;
        }
        let oms = trader.oms().counters();
        let oms_dict = PyDict::new(py);
        for (k, v) in [
            ("placed", oms.placed),
            ("replaces_sent", oms.replaces_sent),
            ("cancels_sent", oms.cancels_sent),
            ("accepted", oms.accepted),
            ("replaced", oms.replaced),
            ("fills", oms.fills),
            ("filled_qty", oms.filled_qty),
            ("overfills", oms.overfills),
            ("rejects", oms.rejects),
            ("replace_rejects", oms.replace_rejects),
            ("cancel_rejects", oms.cancel_rejects),
            ("cancels_lost", oms.cancels_lost),
            ("duplicates", oms.duplicates),
            ("unknown_reports", oms.unknown_reports),
            ("unknown_fills", oms.unknown_fills),
        ] {
            oms_dict.set_item(k, v)?;
        }
        out.set_item("oms", oms_dict)?;
        let feed = trader.sequencer().stats();
        counters.set_item("feed_gaps", feed.gaps)?;
        counters.set_item("feed_packets", feed.packets)?;
        if let Some(j) = journal {
            let d = PyDict::new(py);
            d.set_item("written", j.written)?;
            d.set_item("dropped", j.dropped)?;
            d.set_item("oversize", j.oversize)?;
            d.set_item("bytes", j.bytes)?;
            d.set_item("failed", j.failed)?;
            out.set_item("journal", d)?;
        }
        out.set_item("counters", counters)?;
        if let Some(r) = trader.recovered() {
            let d = PyDict::new(py);
            for (k, v) in [
                ("segments", r.segments as u64),
                ("records", r.records),
                ("damaged", r.damaged),
                ("requests", r.requests),
                ("refused", r.refused),
                ("reports", r.reports),
                ("fills", r.fills),
                ("duplicates", r.duplicates),
                ("reconciles", r.reconciles),
                ("intents", r.intents),
                ("open_orders", r.open_orders as u64),
                ("next_cl", u64::from(r.next_cl.0)),
            ] {
                d.set_item(k, v)?;
            }
            d.set_item("killed", r.killed.map(|k| k.as_str()))?;
            d.set_item("reduce_only", r.reduce_only)?;
            out.set_item("recovery", d)?;
        }
        let rejects = PyDict::new(py);
        let counts = trader.risk().reject_counts();
        for r in Reject::ALL {
            rejects.set_item(r.as_str(), counts[r as usize])?;
        }
        out.set_item("risk_rejects", rejects)?;
        out.set_item("latency", latency_dict(py, trader.latencies())?)?;
        let list = PyList::empty(py);
        for e in &events {
            list.append(event_dict(py, e)?)?;
        }
        out.set_item("events", list)?;
        Ok(out)
    }
}

/// In-process tick-to-trade: generated ITCH datagrams from memory through the
/// whole fast path to OUCH bytes in a buffer.
#[pyfunction]
#[pyo3(signature = (messages, *, instruments = 100, live_orders = 200_000, seed = 1, max_payload = 100))]
pub(crate) fn bench_tick_to_trade(
    py: Python<'_>,
    messages: u64,
    instruments: u16,
    live_orders: usize,
    seed: u64,
    max_payload: usize,
) -> PyResult<Bound<'_, PyDict>> {
    if messages == 0 || instruments == 0 {
        return Err(ConfigError::new_err(
            "messages and instruments must be at least 1",
        ));
    }
    let config = TickToTradeConfig {
        messages,
        instruments,
        live_orders,
        seed,
        max_payload,
    };
    let r = py
        .detach(|| run_tick_to_trade(&config))
        .map_err(engine_error)?;
    let out = PyDict::new(py);
    out.set_item("count", r.count)?;
    out.set_item("datagrams", r.datagrams)?;
    out.set_item("messages", r.messages)?;
    out.set_item("orders", r.orders)?;
    out.set_item("elapsed_ns", r.elapsed_ns)?;
    out.set_item("per_sec", r.datagrams_per_sec)?;
    out.set_item("risk_rejects", r.risk_rejects)?;
    out.set_item("feed_p50_ns", r.feed.value_at_quantile(0.5))?;
    out.set_item("feed_p99_ns", r.feed.value_at_quantile(0.99))?;
    out.set_item("quote_p50_ns", r.quote.value_at_quantile(0.5))?;
    out.set_item("quote_p99_ns", r.quote.value_at_quantile(0.99))?;
    out.set_item("feed_p999_ns", r.feed.value_at_quantile(0.999))?;
    out.set_item("quote_p999_ns", r.quote.value_at_quantile(0.999))?;
    put_latency(&out, &r.tick_to_trade)?;
    put_histogram(&out, &r.tick_to_trade)?;
    Ok(out)
}

/// Order actions through risk, the OMS and the OUCH encoder on a full slab.
#[pyfunction]
#[pyo3(signature = (actions, *, live_orders = 1_000_000, instruments = 1_000, seed = 1, working_set = 0))]
pub(crate) fn bench_orders(
    py: Python<'_>,
    actions: u64,
    live_orders: usize,
    instruments: u16,
    seed: u64,
    working_set: usize,
) -> PyResult<Bound<'_, PyDict>> {
    if actions == 0 || instruments == 0 {
        return Err(ConfigError::new_err(
            "actions and instruments must be at least 1",
        ));
    }
    let config = OrdersBenchConfig {
        actions,
        live_orders,
        instruments,
        seed,
        working_set,
    };
    let r = py
        .detach(|| run_orders_bench(&config))
        .map_err(engine_error)?;
    let out = PyDict::new(py);
    out.set_item("count", r.count)?;
    out.set_item("elapsed_ns", r.elapsed_ns)?;
    out.set_item("per_sec", r.per_sec)?;
    out.set_item("bytes_per_order", r.bytes_per_order)?;
    out.set_item("oms_bytes", r.oms_bytes)?;
    out.set_item("live_orders", r.live_orders)?;
    out.set_item("new", r.by_kind[0])?;
    out.set_item("replace", r.by_kind[1])?;
    out.set_item("cancel", r.by_kind[2])?;
    out.set_item("risk_rejects", r.risk_rejects)?;
    put_latency(&out, &r.histogram)?;
    put_histogram(&out, &r.histogram)?;
    Ok(out)
}
