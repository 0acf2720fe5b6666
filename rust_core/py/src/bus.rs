//! `quotewire._core.Bus`: the firm bus (NATS JetStream) for the scaling control plane.
//!
//! A thin wrapper over `quotewire_bus::Bus`: the control plane hands it batches (the
//! engine's event list, one snapshot's positions) and polls what came back. Calls
//! release the GIL; none of this is on the engine's fast path.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quotewire_bus::{
    Budget, Bus as CoreBus, BusConfig, BusError, Exposure, Fill, Heartbeat, Inbound, InstanceName,
    Outbound, Position,
};
use quotewire_core::order::ClOrdId;
use quotewire_core::{InstrumentId, Price, Qty, Side};

use crate::{ConfigError, QuotewireError};

fn bus_error(e: BusError) -> PyErr {
    match e {
        BusError::Config(_) => ConfigError::new_err(e.to_string()),
        other => QuotewireError::new_err(other.to_string()),
    }
}

fn name(instance: &str) -> PyResult<InstanceName> {
    InstanceName::new(instance).map_err(bus_error)
}

fn seconds(field: &str, s: f64) -> PyResult<Duration> {
    if s.is_finite() && s > 0.0 && s <= 3_600.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(ConfigError::new_err(format!(
            "{field}: {s} is not in (0, 3600] seconds"
        )))
    }
}

struct State {
    bus: CoreBus,
    /// Fills numbered so far (the drop copy's `seq`).
    fills: u64,
    heartbeats: u64,
}

/// A connection to the firm bus (see `quotewire.scale`).
#[pyclass(module = "quotewire._core")]
pub(crate) struct Bus {
    inner: Mutex<Option<State>>,
    instance: String,
    session: u64,
}

impl Bus {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut State) -> Result<T, BusError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let state = guard.as_mut().ok_or(BusError::Closed)?;
            f(state)
        })
        .map_err(bus_error)
    }
}

fn get<'py, T>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
{
    d.get_item(key)?
        .ok_or_else(|| ConfigError::new_err(format!("fill event without {key:?}")))?
        .extract()
        .map_err(|_| ConfigError::new_err(format!("fill event {key:?} has the wrong type")))
}

fn fill_of(d: &Bound<'_, PyDict>) -> PyResult<Option<Fill>> {
    let kind: Option<String> = d.get_item("event")?.map(|v| v.extract()).transpose()?;
    if kind.as_deref() != Some("fill") {
        return Ok(None);
    }
    let side: String = get(d, "side")?;
    let side = match side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => {
            return Err(ConfigError::new_err(format!(
                "fill event side {other:?} is not 'buy' or 'sell'"
            )))
        }
    };
    Ok(Some(Fill {
        seq: 0,
        ts_ns: get(d, "ts_ns")?,
        cl: ClOrdId(get(d, "cl")?),
        instrument: InstrumentId(get(d, "instrument")?),
        side,
        price: Price(get(d, "price")?),
        qty: Qty(get(d, "qty")?),
        position: get(d, "position")?,
    }))
}

fn inbound_dict<'py>(py: Python<'py>, m: &Inbound) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match *m {
        Inbound::Kill { active, revision } => {
            d.set_item("kind", "kill")?;
            d.set_item("active", active)?;
            d.set_item("revision", revision)?;
        }
        Inbound::Budget { revision, budget } => {
            d.set_item("kind", "budget")?;
            d.set_item("revision", revision)?;
            d.set_item("max_gross_exposure", budget.max_gross_exposure)?;
            d.set_item("max_net_exposure", budget.max_net_exposure)?;
            d.set_item("max_open_orders", budget.max_open_orders)?;
        }
        Inbound::Peer { instance, exposure } => {
            d.set_item("kind", "peer")?;
            d.set_item("instance", instance.as_str())?;
            d.set_item("ts_ns", exposure.ts_ns)?;
            d.set_item("gross", exposure.gross)?;
            d.set_item("net", exposure.net)?;
            d.set_item("worst_gross", exposure.worst_gross)?;
            d.set_item("worst_net", exposure.worst_net)?;
            d.set_item("open_orders", exposure.open_orders)?;
            d.set_item("budget_revision", exposure.budget_revision)?;
            d.set_item("killed", exposure.killed)?;
        }
    }
    Ok(d)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[pymethods]
impl Bus {
    /// Connects (creating the streams and bucket when missing); raises QuotewireError
    /// when the server is unreachable within `connect_timeout_s`.
    #[new]
    #[pyo3(signature = (url, instance, *, prefix = "qw", stream = "QW_DROPCOPY",
        state_stream = "QW_STATE", bucket = "QW_RISK", replicas = 1, watch_peers = false,
        connect_timeout_s = 3.0, ack_timeout_s = 2.0, outbound_capacity = 65_536,
        inbound_capacity = 4_096))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &str,
        instance: &str,
        prefix: &str,
        stream: &str,
        state_stream: &str,
        bucket: &str,
        replicas: usize,
        watch_peers: bool,
        connect_timeout_s: f64,
        ack_timeout_s: f64,
        outbound_capacity: usize,
        inbound_capacity: usize,
    ) -> PyResult<Self> {
        let mut config = BusConfig::new(url, name(instance)?);
        config.prefix = prefix.to_owned();
        config.stream = stream.to_owned();
        config.state_stream = state_stream.to_owned();
        config.bucket = bucket.to_owned();
        config.replicas = replicas;
        config.watch_peers = watch_peers;
        config.connect_timeout = seconds("connect_timeout_s", connect_timeout_s)?;
        config.ack_timeout = seconds("ack_timeout_s", ack_timeout_s)?;
        config.outbound_capacity = outbound_capacity;
        config.inbound_capacity = inbound_capacity;
        let bus = py.detach(|| CoreBus::connect(config)).map_err(bus_error)?;
        let session = bus.session();
        Ok(Self {
            inner: Mutex::new(Some(State {
                bus,
                fills: 0,
                heartbeats: 0,
            })),
            instance: instance.to_owned(),
            session,
        })
    }

    /// This instance's name.
    #[getter]
    fn instance(&self) -> &str {
        &self.instance
    }

    /// This connection's session number (its start, ns since the Unix epoch).
    #[getter]
    fn session(&self) -> u64 {
        self.session
    }

    /// Queues every `"fill"` of an `Engine.events()` batch for the drop copy, numbered
    /// 1, 2, ... per session; other events are skipped. Returns how many were queued
    /// (the rest were dropped: the ring was full).
    fn publish_fills(&self, py: Python<'_>, events: &Bound<'_, PyList>) -> PyResult<usize> {
        let mut fills = Vec::new();
        for item in events.iter() {
            let d = item
                .cast::<PyDict>()
                .map_err(|_| ConfigError::new_err("publish_fills: an event is not a dict"))?;
            if let Some(fill) = fill_of(d)? {
                fills.push(fill);
            }
        }
        self.with(py, move |s| {
            let mut queued = 0;
            for mut fill in fills {
                s.fills += 1;
                fill.seq = s.fills;
                queued += usize::from(s.bus.publish(Outbound::Fill(fill)));
            }
            Ok(queued)
        })
    }

    /// Queues one instrument's position (prices and PnL raw, four implied decimals).
    #[pyo3(signature = (instrument, position, open_buy, open_sell, mark, realised, unrealised, ts_ns = None))]
    #[allow(clippy::too_many_arguments)]
    fn publish_position(
        &self,
        py: Python<'_>,
        instrument: u16,
        position: i64,
        open_buy: u64,
        open_sell: u64,
        mark: i64,
        realised: i64,
        unrealised: i64,
        ts_ns: Option<u64>,
    ) -> PyResult<bool> {
        let p = Position {
            ts_ns: ts_ns.unwrap_or_else(now_ns),
            instrument: InstrumentId(instrument),
            position,
            open_buy,
            open_sell,
            mark: Price(mark),
            realised,
            unrealised,
        };
        self.with(py, move |s| Ok(s.bus.publish(Outbound::Position(p))))
    }

    /// Queues the instance's exposure (raw notional) and the budget revision applied.
    #[pyo3(signature = (gross, net, worst_gross, worst_net, open_orders, budget_revision, killed, ts_ns = None))]
    #[allow(clippy::too_many_arguments)]
    fn publish_exposure(
        &self,
        py: Python<'_>,
        gross: i64,
        net: i64,
        worst_gross: i64,
        worst_net: i64,
        open_orders: u32,
        budget_revision: u64,
        killed: bool,
        ts_ns: Option<u64>,
    ) -> PyResult<bool> {
        let e = Exposure {
            ts_ns: ts_ns.unwrap_or_else(now_ns),
            gross,
            net,
            worst_gross,
            worst_net,
            open_orders,
            budget_revision,
            killed,
        };
        self.with(py, move |s| Ok(s.bus.publish(Outbound::Exposure(e))))
    }

    /// Queues a heartbeat (`<prefix>.heartbeat.<instance>`, core NATS).
    fn heartbeat(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| {
            s.heartbeats += 1;
            let h = Heartbeat {
                ts_ns: now_ns(),
                seq: s.heartbeats,
            };
            Ok(s.bus.publish(Outbound::Heartbeat(h)))
        })
    }

    /// Up to `max` inbound messages, oldest first, as dicts with `kind` "kill",
    /// "budget" or "peer".
    #[pyo3(signature = (max = 1_024))]
    fn poll<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let got = self.with(py, move |s| {
            let mut out = Vec::new();
            while out.len() < max {
                match s.bus.poll() {
                    Some(m) => out.push(m),
                    None => break,
                }
            }
            Ok(out)
        })?;
        let list = PyList::empty(py);
        for m in &got {
            list.append(inbound_dict(py, m)?)?;
        }
        Ok(list)
    }

    /// The counters: published, duplicates, dropped, failed, queued, inbound,
    /// inbound_dropped, reconnects, disconnects, connected.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.with(py, |s| Ok(s.bus.counters()))?;
        let d = PyDict::new(py);
        d.set_item("published", c.published)?;
        d.set_item("duplicates", c.duplicates)?;
        d.set_item("dropped", c.dropped)?;
        d.set_item("failed", c.failed)?;
        d.set_item("queued", c.queued)?;
        d.set_item("inbound", c.inbound)?;
        d.set_item("inbound_dropped", c.inbound_dropped)?;
        d.set_item("reconnects", c.reconnects)?;
        d.set_item("disconnects", c.disconnects)?;
        d.set_item("connected", c.connected)?;
        Ok(d)
    }

    /// Writes `instance`'s budget (raw notional). `expected_revision`: None writes
    /// unconditionally, 0 only when absent, r only when the last revision is r.
    /// Returns the new revision, or None when another writer got there first.
    #[pyo3(signature = (instance, max_gross_exposure, max_net_exposure, max_open_orders, expected_revision = None))]
    fn put_budget(
        &self,
        py: Python<'_>,
        instance: &str,
        max_gross_exposure: i64,
        max_net_exposure: i64,
        max_open_orders: u32,
        expected_revision: Option<u64>,
    ) -> PyResult<Option<u64>> {
        let instance = name(instance)?;
        if max_gross_exposure <= 0 || max_net_exposure <= 0 || max_open_orders == 0 {
            return Err(ConfigError::new_err("put_budget: every limit must be > 0"));
        }
        let budget = Budget {
            max_gross_exposure,
            max_net_exposure,
            max_open_orders,
        };
        self.with(py, move |s| {
            match s.bus.put_budget(instance, budget, expected_revision) {
                Ok(r) => Ok(Some(r)),
                Err(BusError::Conflict { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// `(revision, {max_gross_exposure, max_net_exposure, max_open_orders})` of
    /// `instance`'s budget, or None when none was written.
    fn budget<'py>(
        &self,
        py: Python<'py>,
        instance: &str,
    ) -> PyResult<Option<(u64, Bound<'py, PyDict>)>> {
        let instance = name(instance)?;
        let got = self.with(py, move |s| s.bus.budget(instance))?;
        got.map(|(revision, b)| {
            let d = PyDict::new(py);
            d.set_item("max_gross_exposure", b.max_gross_exposure)?;
            d.set_item("max_net_exposure", b.max_net_exposure)?;
            d.set_item("max_open_orders", b.max_open_orders)?;
            Ok((revision, d))
        })
        .transpose()
    }

    /// Engages (or clears) the firm-wide kill switch; returns the KV revision.
    #[pyo3(signature = (active = true, reason = ""))]
    fn firm_kill(&self, py: Python<'_>, active: bool, reason: &str) -> PyResult<u64> {
        let reason = reason.to_owned();
        self.with(py, move |s| s.bus.firm_kill(active, &reason))
    }

    /// Waits until every queued message is stored (QuotewireError after `timeout_s`).
    #[pyo3(signature = (timeout_s = 5.0))]
    fn flush(&self, py: Python<'_>, timeout_s: f64) -> PyResult<()> {
        let timeout = seconds("timeout_s", timeout_s)?;
        self.with(py, move |s| s.bus.flush(timeout))
    }

    /// Every message of `stream` matching `filter` as `(subject, sequence, payload)`.
    #[pyo3(signature = (stream, filter = ""))]
    fn read_stream<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        filter: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let (stream, filter) = (stream.to_owned(), filter.to_owned());
        let got = self.with(py, move |s| s.bus.read_stream(&stream, &filter))?;
        let list = PyList::empty(py);
        for m in got {
            list.append((m.subject, m.sequence, PyBytes::new(py, &m.payload)))?;
        }
        Ok(list)
    }

    /// Flushes (up to 3 s), stops the bus thread and returns the final counters as
    /// `counters()` does. Idempotent (later calls return an empty dict).
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        let d = PyDict::new(py);
        if let Some(state) = state {
            let c = py.detach(|| state.bus.close());
            d.set_item("published", c.published)?;
            d.set_item("duplicates", c.duplicates)?;
            d.set_item("dropped", c.dropped)?;
            d.set_item("failed", c.failed)?;
            d.set_item("queued", c.queued)?;
            d.set_item("inbound", c.inbound)?;
            d.set_item("inbound_dropped", c.inbound_dropped)?;
            d.set_item("reconnects", c.reconnects)?;
            d.set_item("disconnects", c.disconnects)?;
            d.set_item("connected", c.connected)?;
        }
        Ok(d)
    }
}
