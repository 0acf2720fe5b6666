//! Backtests from Python: one call replays a journal or a capture through the
//! live strategy, risk and OMS code against the simulated venue, with the GIL
//! released, and hands back NumPy columns.

use std::path::PathBuf;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quotewire_backtest::{
    load_journal, load_recorded, run, BacktestError, Latency, Recorded, RunConfig, RunResult, Tape,
};
use quotewire_core::Side;
use quotewire_engine::trading::TraderConfig;

use crate::engine::counters_dict;
use crate::{put_histogram, put_latency, ConfigError, DataError};

fn to_py(e: BacktestError) -> PyErr {
    match e {
        BacktestError::Data(_) => DataError::new_err(e.to_string()),
        _ => ConfigError::new_err(e.to_string()),
    }
}

fn side_code(side: Side) -> u8 {
    match side {
        Side::Buy => b'B',
        Side::Sell => b'S',
    }
}

/// A named column getter of a row type.
type Column<'a, T> = (&'a str, &'a dyn Fn(&T) -> i64);

fn columns<'py, T, const N: usize>(
    py: Python<'py>,
    rows: &[T],
    cols: [Column<'_, T>; N],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, get) in cols {
        let v: Vec<i64> = rows.iter().map(get).collect();
        d.set_item(name, v.into_pyarray(py))?;
    }
    Ok(d)
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn result_dict<'py>(py: Python<'py>, r: &RunResult) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item(
        "orders",
        columns(
            py,
            &r.orders,
            [
                ("ts_ns", &|o| as_i64(o.ts_ns)),
                ("action", &|o| i64::from(o.action)),
                ("cl", &|o| i64::from(o.cl)),
                ("instrument", &|o| i64::from(o.instrument)),
                ("side", &|o| i64::from(side_code(o.side))),
                ("price", &|o| o.price),
                ("qty", &|o| as_i64(o.qty)),
            ],
        )?,
    )?;
    out.set_item(
        "fills",
        columns(
            py,
            &r.fills,
            [
                ("ts_ns", &|f| as_i64(f.ts_ns)),
                ("cl", &|f| i64::from(f.cl)),
                ("instrument", &|f| i64::from(f.instrument)),
                ("side", &|f| i64::from(side_code(f.side))),
                ("price", &|f| f.price),
                ("qty", &|f| as_i64(f.qty)),
                ("position", &|f| f.position),
                ("mid", &|f| f.mid),
            ],
        )?,
    )?;
    out.set_item(
        "samples",
        columns(
            py,
            &r.samples,
            [
                ("ts_ns", &|s| as_i64(s.ts_ns)),
                ("instrument", &|s| i64::from(s.instrument)),
                ("position", &|s| s.position),
                ("mid", &|s| s.mid),
                ("realised", &|s| s.realised),
                ("unrealised", &|s| s.unrealised),
            ],
        )?,
    )?;
    let counters = counters_dict(py, &r.counters)?;
    out.set_item("counters", counters)?;
    out.set_item("messages", r.messages)?;
    out.set_item("datagrams", r.datagrams)?;
    out.set_item("elapsed_ns", r.elapsed_ns)?;
    out.set_item("messages_per_sec", r.messages_per_sec())?;
    out.set_item("recorded_own_executed", r.recorded_own_executed)?;
    out.set_item("events_dropped", r.events_dropped)?;
    if let Some(h) = &r.per_packet {
        let lat = PyDict::new(py);
        lat.set_item("count", h.len())?;
        put_latency(&lat, h)?;
        put_histogram(&lat, h)?;
        out.set_item("per_packet", lat)?;
    }
    Ok(out)
}

fn recorded_dict<'py>(py: Python<'py>, rec: &Recorded) -> PyResult<Bound<'py, PyDict>> {
    let d = columns(
        py,
        &rec.fills,
        [
            ("ts_ns", &|f| as_i64(f.ts_ns)),
            ("cl", &|f| i64::from(f.cl)),
            ("instrument", &|f| i64::from(f.instrument)),
            ("side", &|f| i64::from(side_code(f.side))),
            ("price", &|f| f.price),
            ("qty", &|f| as_i64(f.qty)),
        ],
    )?;
    let out = PyDict::new(py);
    out.set_item("fills", d)?;
    let rtt: Vec<i64> = rec.round_trips_ns.iter().map(|&v| as_i64(v)).collect();
    out.set_item("round_trips_ns", rtt.into_pyarray(py))?;
    out.set_item("own_orders", rec.own_refs.len())?;
    out.set_item("requests", rec.requests)?;
    out.set_item("damaged", rec.damaged)?;
    out.set_item("instruments", rec.instruments.clone())?;
    Ok(out)
}

/// Replays `data` (a journal directory or segment when `journal`, else a
/// daily ITCH file or a MoldUDP64 pcap) through the strategy of
/// `config_json` against the simulated venue. Latency: `latency_hist`
/// (round trips `(ns, count)`) when given, else `order_ns`/`ack_ns`.
/// `stand_in` (journals only) replaces the recorded session's own orders by
/// the simulated ones.
#[pyfunction]
#[pyo3(signature = (config_json, data, *, journal, order_ns = 0, ack_ns = 0,
    latency_hist = None, md_latency_ns = 0, seed = 1, sample_every_ns = 1_000_000_000,
    stand_in = false, time_packets = false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn backtest<'py>(
    py: Python<'py>,
    config_json: &str,
    data: PathBuf,
    journal: bool,
    order_ns: u64,
    ack_ns: u64,
    latency_hist: Option<Vec<(u64, u64)>>,
    md_latency_ns: u64,
    seed: u64,
    sample_every_ns: u64,
    stand_in: bool,
    time_packets: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let trader =
        TraderConfig::from_json(config_json).map_err(|e| ConfigError::new_err(e.to_string()))?;
    let latency = match latency_hist {
        Some(h) => Latency::Histogram(h),
        None => Latency::Constant { order_ns, ack_ns },
    };
    let (tape, recorded): (Tape, Option<Recorded>) = py
        .detach(|| {
            if journal {
                load_journal(&data).map(|(t, r)| (t, Some(r)))
            } else {
                Tape::load_capture(&data).map(|t| (t, None))
            }
        })
        .map_err(to_py)?;
    let own_refs = match (&recorded, stand_in) {
        (Some(r), true) => r.own_refs.clone(),
        _ => Vec::new(),
    };
    let config = RunConfig {
        trader,
        latency,
        md_latency_ns,
        seed,
        sample_every_ns,
        own_refs,
        time_packets,
    };
    let result = py.detach(|| run(&config, &tape)).map_err(to_py)?;
    let out = result_dict(py, &result)?;
    out.set_item("tape_messages", tape.messages())?;
    if let Some(r) = &recorded {
        out.set_item("recorded", recorded_dict(py, r)?)?;
    }
    Ok(out)
}

/// What a journaled session did, without replaying it: its fills, order
/// round trips (request to first answer), own order count, requests, damaged
/// records and instrument map (the `"recorded"` entry of [`backtest`]).
#[pyfunction]
pub(crate) fn backtest_recorded(py: Python<'_>, journal: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let rec = py.detach(|| load_recorded(&journal)).map_err(to_py)?;
    recorded_dict(py, &rec)
}
