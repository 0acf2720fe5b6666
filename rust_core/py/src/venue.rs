//! `quotewire._core.Venue`: the venue simulator started in-process on its own thread.
//!
//! Python validates and serialises its typed configuration to JSON once; this
//! module parses it with serde into the venue crate's configuration, starts the
//! venue and hands back its endpoints and counters. Nothing here runs per order.

use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_venue::background::{
    BackgroundChange, BackgroundConfig, BackgroundFlow, BackgroundInstrument,
};
use quotewire_venue::fix_gateway::{FixGatewayConfig, FixSessionConfig};
use quotewire_venue::matching::MatchingEngine;
use quotewire_venue::matching::{FirmId, InstrumentConfig, PriceBand, SelfMatchMode, VenueConfig};
use quotewire_venue::ouch_gateway::{OuchAccount, OuchGatewayConfig};
use quotewire_venue::publisher::{FaultConfig, PublisherConfig};
use quotewire_venue::replay::{CaptureReplay, ReplayConfig, ReplayHandle};
use quotewire_venue::runtime::OrderEntry;
use quotewire_venue::server::{BoxedGatewayFactory, RunningVenue, ServerConfig};
use serde::Deserialize;

use crate::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentSpec {
    id: u16,
    symbol: String,
    tick: i64,
    band_low: i64,
    band_high: i64,
    max_order_qty: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OuchAccountSpec {
    username: String,
    password: String,
    firm: u32,
    cancel_on_disconnect: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OuchSpec {
    listen: SocketAddr,
    session: String,
    accounts: Vec<OuchAccountSpec>,
    heartbeat_ms: u64,
    client_timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixSessionSpec {
    sender_comp_id: String,
    target_comp_id: String,
    firm: u32,
    cancel_on_disconnect: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixSpec {
    listen: SocketAddr,
    sessions: Vec<FixSessionSpec>,
    heartbeat_secs: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    drop_ppm: u32,
    duplicate_ppm: u32,
    reorder_ppm: u32,
    seed: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItchSpec {
    session: String,
    destination: SocketAddrV4,
    retransmit_bind: SocketAddrV4,
    history: usize,
    heartbeat_ms: u64,
    faults: FaultSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackgroundInstrumentSpec {
    id: u16,
    start_mid: i64,
    volatility_ticks_per_sqrt_s: f64,
    limit_rate: f64,
    market_rate: f64,
    cancel_rate: f64,
    mean_size: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackgroundSpec {
    seed: u64,
    first_firm: u32,
    firms: u32,
    instruments: Vec<BackgroundInstrumentSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaySpec {
    path: PathBuf,
    firm: u32,
    speed: f64,
    /// `(capture symbol, venue instrument id)`.
    symbols: Vec<(String, u16)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueSpec {
    max_orders: usize,
    self_match: String,
    instruments: Vec<InstrumentSpec>,
    ouch: Option<OuchSpec>,
    fix: Option<FixSpec>,
    itch: Option<ItchSpec>,
    #[serde(default)]
    background: Option<BackgroundSpec>,
    #[serde(default)]
    replay: Option<ReplaySpec>,
}

/// Where the capture replay's counters appear once the venue built it (empty
/// without a replay, or before `RunningVenue::start` ran its factory).
type ReplaySlot = Arc<OnceLock<ReplayHandle>>;

/// The factory of the capture replay: loads the capture once the engine exists
/// (its instrument rules are read) and leaves the replay's handle in `slot`.
fn replay_factory(spec: ReplaySpec, slot: &ReplaySlot) -> BoxedGatewayFactory {
    let config = ReplayConfig {
        speed: spec.speed,
        ..ReplayConfig::new(
            FirmId(spec.firm),
            spec.symbols
                .into_iter()
                .map(|(symbol, id)| (symbol, InstrumentId(id)))
                .collect(),
        )
    };
    let path = spec.path;
    let slot = Arc::clone(slot);
    Arc::new(move |engine: &MatchingEngine| {
        let replay = CaptureReplay::load(&path, &config, engine)
            .map_err(|e| format!("{} ({})", e, path.display()))?;
        // Set once: a venue runs its factories once.
        slot.get_or_init(|| replay.handle());
        Ok(Box::new(replay) as Box<dyn OrderEntry>)
    })
}

fn self_match(name: &str) -> PyResult<SelfMatchMode> {
    Ok(match name {
        "cancel_oldest" => SelfMatchMode::CancelOldest,
        "cancel_newest" => SelfMatchMode::CancelNewest,
        "cancel_both" => SelfMatchMode::CancelBoth,
        "decrement" => SelfMatchMode::Decrement,
        other => {
            return Err(ConfigError::new_err(format!(
                "self_match {other:?} is not one of cancel_oldest, cancel_newest, cancel_both, decrement"
            )))
        }
    })
}

fn server_config(spec: VenueSpec, replay_slot: &ReplaySlot) -> PyResult<ServerConfig> {
    let instruments = spec
        .instruments
        .iter()
        .map(|i| InstrumentConfig {
            id: InstrumentId(i.id),
            tick: Price(i.tick),
            band: PriceBand::Range {
                min: Price(i.band_low),
                max: Price(i.band_high),
            },
            max_order_qty: Qty(i.max_order_qty),
        })
        .collect();
    let matching = VenueConfig {
        max_orders: spec.max_orders,
        self_match: self_match(&spec.self_match)?,
        instruments,
        ..VenueConfig::default()
    };
    let ouch = spec.ouch.map(|o| OuchGatewayConfig {
        listen: o.listen,
        session: o.session,
        accounts: o
            .accounts
            .into_iter()
            .map(|a| OuchAccount {
                username: a.username,
                password: a.password,
                firm: FirmId(a.firm),
                cancel_on_disconnect: a.cancel_on_disconnect,
            })
            .collect(),
        heartbeat_interval: Duration::from_millis(o.heartbeat_ms),
        client_timeout: Duration::from_millis(o.client_timeout_ms),
        ..OuchGatewayConfig::default()
    });
    let fix = spec.fix.map(|f| {
        let mut c = FixGatewayConfig::new(f.listen);
        c.heartbeat_secs = f.heartbeat_secs;
        c.sessions = f
            .sessions
            .into_iter()
            .map(|s| FixSessionConfig {
                sender_comp_id: s.sender_comp_id,
                target_comp_id: s.target_comp_id,
                firm: FirmId(s.firm),
                cancel_on_disconnect: s.cancel_on_disconnect,
            })
            .collect();
        c
    });
    let itch = spec.itch.map(|i| {
        let mut c = PublisherConfig::new(&i.session, i.destination);
        c.retransmit_bind = i.retransmit_bind;
        c.history = i.history;
        c.heartbeat_interval_ns = i.heartbeat_ms.saturating_mul(1_000_000);
        c.faults = FaultConfig {
            drop_ppm: i.faults.drop_ppm,
            duplicate_ppm: i.faults.duplicate_ppm,
            reorder_ppm: i.faults.reorder_ppm,
            seed: i.faults.seed,
        };
        c
    });
    let mut extra: Vec<BoxedGatewayFactory> = spec
        .background
        .map(|b| {
            let config = BackgroundConfig {
                seed: b.seed,
                firm: FirmId(b.first_firm),
                firms: b.firms,
                start_ns: None,
                instruments: b
                    .instruments
                    .iter()
                    .map(|i| BackgroundInstrument {
                        volatility_ticks_per_sqrt_s: i.volatility_ticks_per_sqrt_s,
                        limit_rate: i.limit_rate,
                        market_rate: i.market_rate,
                        cancel_rate: i.cancel_rate,
                        mean_size: Qty(i.mean_size),
                        ..BackgroundInstrument::new(InstrumentId(i.id), Price(i.start_mid))
                    })
                    .collect(),
            };
            let factory: BoxedGatewayFactory = Arc::new(move |engine: &MatchingEngine| {
                BackgroundFlow::new(&config, engine)
                    .map(|flow| Box::new(flow) as Box<dyn OrderEntry>)
                    .map_err(|e| e.to_string())
            });
            factory
        })
        .into_iter()
        .collect();
    extra.extend(spec.replay.map(|r| replay_factory(r, replay_slot)));
    Ok(ServerConfig {
        matching,
        symbols: spec
            .instruments
            .into_iter()
            .map(|i| (InstrumentId(i.id), i.symbol))
            .collect(),
        ouch,
        fix,
        itch,
        extra,
    })
}

/// A running venue simulator (matching, OUCH, FIX, ITCH) on a background thread.
#[pyclass(module = "quotewire._core")]
pub(crate) struct Venue {
    inner: RunningVenue,
    replay: ReplaySlot,
}

#[pymethods]
impl Venue {
    /// Starts a venue from its configuration serialised as JSON.
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let spec: VenueSpec = serde_json::from_str(config_json)
            .map_err(|e| ConfigError::new_err(format!("venue configuration: {e}")))?;
        let replay = ReplaySlot::default();
        let config = server_config(spec, &replay)?;
        // Starting may read a whole capture: without the GIL.
        let running = py
            .detach(|| RunningVenue::start(config))
            .map_err(|e| ConfigError::new_err(e.to_string()))?;
        Ok(Self {
            inner: running,
            replay,
        })
    }

    /// Listening and destination addresses as `host:port` strings (absent when disabled).
    fn endpoints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let e = self.inner.endpoints();
        out.set_item("ouch", e.ouch.map(|a| a.to_string()))?;
        out.set_item("fix", e.fix.map(|a| a.to_string()))?;
        out.set_item("itch", e.itch.map(|a| a.to_string()))?;
        out.set_item("itch_retransmit", e.itch_retransmit.map(|a| a.to_string()))?;
        Ok(out)
    }

    /// Counters: commands matched, the ITCH publisher's statistics and the
    /// capture replay's (`replay_finished` is 0 or 1, so every value is an int).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        out.set_item("commands", self.inner.commands())?;
        if let Some(p) = self.inner.publisher() {
            let s = p.stats();
            out.set_item("itch_messages", s.messages)?;
            out.set_item("itch_datagrams", s.datagrams)?;
            out.set_item("itch_heartbeats", s.heartbeats)?;
            out.set_item("itch_dropped", s.dropped)?;
            out.set_item("itch_requests_served", s.requests_served)?;
            out.set_item("itch_next_sequence", p.next_sequence())?;
        }
        if let Some(r) = self.replay.get() {
            let s = r.stats();
            out.set_item("replay_messages", s.messages)?;
            out.set_item("replay_commands", s.commands())?;
            out.set_item("replay_rejected", s.rejected_total())?;
            out.set_item("replay_finished", u64::from(s.finished))?;
        }
        Ok(out)
    }

    /// What the venue knows about one firm: open_orders (orders resting on the
    /// book), bought, sold, executions (fills it took part in), buy_notional and
    /// sell_notional (raw price with 4 implied decimals x shares), positions
    /// (instrument id -> bought - sold, every instrument it traded) and orders
    /// (one dict per resting order: ref, instrument, side "buy"/"sell", price raw
    /// with 4 implied decimals, qty open; sorted by instrument, side with buys
    /// first, price ascending, then ref). All zero or empty for a firm the venue
    /// has not seen; readable after `stop`.
    fn firm_state<'py>(&self, py: Python<'py>, firm: u32) -> PyResult<Bound<'py, PyDict>> {
        let state = self.inner.firm_state(FirmId(firm));
        let out = PyDict::new(py);
        out.set_item("open_orders", state.open_orders)?;
        out.set_item("bought", state.bought)?;
        out.set_item("sold", state.sold)?;
        out.set_item("executions", state.executions)?;
        out.set_item("buy_notional", state.buy_notional)?;
        out.set_item("sell_notional", state.sell_notional)?;
        let positions = PyDict::new(py);
        for (instrument, shares) in state.positions {
            positions.set_item(instrument.0, shares)?;
        }
        out.set_item("positions", positions)?;
        let orders = PyList::empty(py);
        for o in state.orders {
            let order = PyDict::new(py);
            order.set_item("ref", o.order_ref.0)?;
            order.set_item("instrument", o.instrument.0)?;
            order.set_item(
                "side",
                match o.side {
                    Side::Buy => "buy",
                    Side::Sell => "sell",
                },
            )?;
            order.set_item("price", o.price.0)?;
            order.set_item("qty", o.qty.0)?;
            orders.append(order)?;
        }
        out.set_item("orders", orders)?;
        Ok(out)
    }

    /// Changes the background flow of `instrument_id` while the venue runs:
    /// each given value (volatility in ticks per sqrt second, rates per second)
    /// replaces the current one from the flow's next step. ConfigError naming
    /// the field for a value that is not finite and non-negative, or when no
    /// background flow drives the instrument; then nothing changes.
    #[pyo3(signature = (instrument_id, volatility=None, limit_rate=None, market_rate=None, cancel_rate=None))]
    fn set_background(
        &self,
        instrument_id: u16,
        volatility: Option<f64>,
        limit_rate: Option<f64>,
        market_rate: Option<f64>,
        cancel_rate: Option<f64>,
    ) -> PyResult<()> {
        let change = BackgroundChange {
            volatility_ticks_per_sqrt_s: volatility,
            limit_rate,
            market_rate,
            cancel_rate,
        };
        self.inner
            .set_background(InstrumentId(instrument_id), change)
            .map_err(|e| ConfigError::new_err(e.to_string()))
    }

    /// The background flow of `instrument_id` as last set: keys
    /// volatility_ticks_per_sqrt_s, limit_rate, market_rate, cancel_rate and mid
    /// (the modelled mid, raw price units, fractional) -> float; None when no
    /// background flow drives the instrument.
    fn background<'py>(
        &self,
        py: Python<'py>,
        instrument_id: u16,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let id = InstrumentId(instrument_id);
        let (Some(p), Some(mid)) = (self.inner.background(id), self.inner.background_mid(id))
        else {
            return Ok(None);
        };
        let out = PyDict::new(py);
        out.set_item("volatility_ticks_per_sqrt_s", p.volatility_ticks_per_sqrt_s)?;
        out.set_item("limit_rate", p.limit_rate)?;
        out.set_item("market_rate", p.market_rate)?;
        out.set_item("cancel_rate", p.cancel_rate)?;
        out.set_item("mid", mid)?;
        Ok(Some(out))
    }

    /// True until `stop` is called.
    fn running(&self) -> bool {
        self.inner.is_running()
    }

    /// Ends the ITCH session, stops the loop and joins the thread. Idempotent;
    /// `endpoints` and `stats` stay readable afterwards.
    fn stop(&mut self, py: Python<'_>) {
        let inner = &mut self.inner;
        py.detach(|| inner.stop());
    }
}
