//! The `quotewire._core` Python extension module.
//!
//! Owns: the Python-facing functions over the Rust crates and the mapping of
//! Rust errors into the `quotewire.errors` exception hierarchy. Python sits on
//! the control plane only: every function here runs a whole job (generate,
//! replay, benchmark) in Rust with the GIL released, and hands results back as
//! plain Python objects or NumPy arrays. Nothing here is called per event.

// pyo3 extracts `#[pyfunction]` arguments by value (`PathBuf`, ...); taking them by
// reference is not an option there.
#![allow(clippy::needless_pass_by_value)]

mod backtest;
mod bus;
mod engine;
mod import;
mod journal;
mod transport;
mod venue;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use quotewire_engine::bench::{run_feed_bench, FeedBenchConfig};
use quotewire_engine::capture::{self, CaptureStats};
use quotewire_engine::EngineError;
use quotewire_protocol::itch::{self, FieldKind};
use quotewire_protocol::moldudp64::{Session, MAX_PAYLOAD};
use quotewire_synth::{packetize, write_daily, Generator, SynthConfig};
use quotewire_transport::PcapWriter;

create_exception!(
    quotewire,
    QuotewireError,
    PyException,
    "Base of every quotewire error."
);
create_exception!(
    quotewire,
    ConfigError,
    QuotewireError,
    "A configuration value was refused."
);
create_exception!(
    quotewire,
    ProtocolError,
    QuotewireError,
    "Bytes did not follow the protocol."
);
create_exception!(
    quotewire,
    DataError,
    QuotewireError,
    "A data file could not be used."
);

pub(crate) fn to_py(error: EngineError) -> PyErr {
    match error {
        EngineError::Io { .. } | EngineError::UnknownFormat(_) | EngineError::UnknownSymbol(_) => {
            DataError::new_err(error.to_string())
        }
        EngineError::Transport(_) | EngineError::Feed(_) => {
            ProtocolError::new_err(error.to_string())
        }
        EngineError::Synth(_) | EngineError::InvalidArgument(_) => {
            ConfigError::new_err(error.to_string())
        }
        EngineError::Histogram(_) => QuotewireError::new_err(error.to_string()),
    }
}

/// Version of the compiled core.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn synth_config(messages: u64, instruments: u16, max_live_orders: usize, seed: u64) -> SynthConfig {
    SynthConfig {
        messages,
        instruments,
        max_live_orders,
        seed,
        ..SynthConfig::default()
    }
}

/// Writes a synthetic Nasdaq-shaped ITCH session to `path`.
#[pyfunction]
#[pyo3(signature = (path, *, messages, instruments = 8000, max_live_orders = 1_500_000, seed = 1, format = "daily"))]
fn generate_session<'py>(
    py: Python<'py>,
    path: PathBuf,
    messages: u64,
    instruments: u16,
    max_live_orders: usize,
    seed: u64,
    format: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = synth_config(messages, instruments, max_live_orders, seed);
    let (count, bytes, packets) = match format {
        "daily" => py.detach(|| -> Result<_, EngineError> {
            let bytes = write_daily(&path, &cfg)?;
            Ok((cfg.messages, bytes, 0u64))
        }),
        "pcap" => py.detach(|| write_pcap(&path, &cfg)),
        other => {
            return Err(ConfigError::new_err(format!(
                "format {other:?} is not one of 'daily', 'pcap'"
            )))
        }
    }
    .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("messages", count)?;
    out.set_item("bytes", bytes)?;
    out.set_item("packets", packets)?;
    Ok(out)
}

fn write_pcap(path: &Path, cfg: &SynthConfig) -> Result<(u64, u64, u64), EngineError> {
    let io = |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    };
    let generator = Generator::new(cfg.clone())?;
    let datagrams = packetize(
        generator,
        Session::from_str_padded("QWSYNTH"),
        1,
        MAX_PAYLOAD,
    )?;
    let mut writer = PcapWriter::create(path)?;
    let src = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 26400);
    let dst = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 26477);
    let start_ns = cfg.start_ns;
    for (i, datagram) in datagrams.iter().enumerate() {
        writer.write_datagram(start_ns + i as u64 * 1_000, src, dst, datagram)?;
    }
    writer.into_inner()?;
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    Ok((cfg.messages, bytes, datagrams.len() as u64))
}

/// Replays a generated session through MoldUDP64, sequencing, ITCH decode and books.
///
/// The books are first built up, unmeasured, to `max_live_orders` resting orders;
/// then `messages` messages of a balanced day mix are measured.
#[pyfunction]
#[pyo3(signature = (messages, *, instruments = 8000, max_live_orders = 1_500_000, seed = 1))]
fn bench_feed(
    py: Python<'_>,
    messages: u64,
    instruments: u16,
    max_live_orders: usize,
    seed: u64,
) -> PyResult<Bound<'_, PyDict>> {
    let config = FeedBenchConfig {
        messages,
        live_orders: max_live_orders,
        instruments,
        seed,
    };
    let result = py.detach(|| run_feed_bench(&config)).map_err(to_py)?;
    let h = &result.histogram;
    let out = PyDict::new(py);
    out.set_item("count", result.count)?;
    out.set_item("packets", result.packets)?;
    out.set_item("elapsed_ns", result.elapsed_ns)?;
    out.set_item("per_sec", result.per_sec)?;
    put_latency(&out, h)?;
    out.set_item("clock_overhead_ns", result.clock_overhead_ns)?;
    out.set_item("live_orders_start", result.live_orders_start)?;
    out.set_item("live_orders_peak", result.live_orders_peak)?;
    out.set_item("warmup_messages", result.warmup_messages)?;
    out.set_item("book_bytes", result.book_bytes)?;
    out.set_item("unknown_orders", result.counters.unknown_order)?;
    out.set_item("decode_errors", {
        let c = result.counters;
        c.truncated + c.unknown_type + c.bad_length + c.invalid_field
    })?;
    out.set_item("gaps", result.gaps)?;
    put_histogram(&out, h)?;
    Ok(out)
}

/// The latency figures every `bench_*` result carries, from its histogram.
pub(crate) fn put_latency(out: &Bound<'_, PyDict>, h: &Histogram<u64>) -> PyResult<()> {
    out.set_item("min_ns", h.min())?;
    out.set_item("mean_ns", h.mean())?;
    for (key, q) in [
        ("p50_ns", 0.50),
        ("p90_ns", 0.90),
        ("p99_ns", 0.99),
        ("p999_ns", 0.999),
        ("p9999_ns", 0.9999),
    ] {
        out.set_item(key, h.value_at_quantile(q))?;
    }
    out.set_item("max_ns", h.max())
}

/// The histogram itself, HdrHistogram V2 + DEFLATE in base64 (the `hdrhistogram`
/// Python package's `decode` reads it).
pub(crate) fn put_histogram(out: &Bound<'_, PyDict>, h: &Histogram<u64>) -> PyResult<()> {
    let encoded = quotewire_engine::bench::v2_deflate(h).map_err(to_py)?;
    out.set_item(
        "histogram",
        base64::engine::general_purpose::STANDARD.encode(encoded),
    )
}

/// Runs order actions through the venue simulator (matching, event routing, ITCH publishing).
#[pyfunction]
#[pyo3(signature = (actions, *, instruments = 8, seed = 1))]
fn bench_venue(
    py: Python<'_>,
    actions: usize,
    instruments: u16,
    seed: u64,
) -> PyResult<Bound<'_, PyDict>> {
    if actions == 0 || instruments == 0 {
        return Err(ConfigError::new_err(
            "actions and instruments must be at least 1",
        ));
    }
    let clock = quotewire_core::clock::Clock::default();
    let run = py
        .detach(|| {
            quotewire_venue::workload::run_bench(instruments, actions, seed, &|| clock.now_ns())
        })
        .map_err(|e| QuotewireError::new_err(e.to_string()))?;
    let h = quotewire_engine::bench::histogram_from_samples(&run.samples_ns).map_err(to_py)?;
    let secs = run.elapsed_ns.max(1) as f64 / 1e9;
    let out = PyDict::new(py);
    out.set_item("count", run.count)?;
    out.set_item("elapsed_ns", run.elapsed_ns)?;
    out.set_item("per_sec", run.count as f64 / secs)?;
    put_latency(&out, &h)?;
    out.set_item(
        "clock_overhead_ns",
        quotewire_engine::bench::clock_overhead(&clock),
    )?;
    out.set_item("executions", run.executions)?;
    out.set_item("itch_messages", run.itch_messages)?;
    out.set_item("itch_datagrams", run.itch_datagrams)?;
    out.set_item("itch_per_sec", run.itch_messages as f64 / secs)?;
    out.set_item(
        "matching_only_per_sec",
        run.count as f64 * 1e9 / run.matching_only_ns.max(1) as f64,
    )?;
    put_histogram(&out, &h)?;
    Ok(out)
}

fn stats_dict<'py>(
    py: Python<'py>,
    stats: &CaptureStats,
    out: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    out.set_item("format", stats.format.name())?;
    out.set_item("bytes", stats.bytes)?;
    let errors = PyDict::new(py);
    errors.set_item("framing", stats.framing_errors)?;
    if let Some(feed) = stats.feed {
        out.set_item("packets", feed.packets)?;
        errors.set_item("malformed_packet", feed.malformed)?;
        errors.set_item("duplicate_packets", feed.duplicates)?;
        errors.set_item("gaps", feed.gaps)?;
        errors.set_item("lost_messages", feed.lost_messages)?;
        errors.set_item("session_mismatch", feed.session_mismatch)?;
    }
    out.set_item("errors", &errors)?;
    Ok(errors)
}

/// Summarises a capture: counts by type, instruments, time span, errors.
#[pyfunction]
fn itch_summary(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let s = py.detach(|| capture::summarize(&path)).map_err(to_py)?;
    let out = PyDict::new(py);
    let errors = stats_dict(py, &s.stats, &out)?;
    out.set_item("messages", s.stats.messages)?;
    let by_type = PyDict::new(py);
    for (tag, &n) in s.by_type.iter().enumerate() {
        if n > 0 {
            by_type.set_item(char::from(tag as u8).to_string(), n)?;
        }
    }
    out.set_item("by_type", by_type)?;
    out.set_item("instruments", s.symbols.len())?;
    out.set_item("instruments_traded", s.instruments_traded)?;
    let symbols: Vec<&str> = s.symbols.iter().map(|(_, sym)| sym.as_str()).collect();
    out.set_item("symbols", PyList::new(py, symbols)?)?;
    out.set_item("first_ns", s.first_ns)?;
    out.set_item("last_ns", s.last_ns)?;
    let c = s.counters;
    errors.set_item("truncated", c.truncated)?;
    errors.set_item("unknown_type", c.unknown_type)?;
    errors.set_item("bad_length", c.bad_length)?;
    errors.set_item("invalid_field", c.invalid_field)?;
    errors.set_item("unknown_order", c.unknown_order)?;
    errors.set_item("duplicate_order", c.duplicate_order)?;
    errors.set_item("capacity_exceeded", c.capacity_exceeded)?;
    Ok(out)
}

/// `symbol`'s book at `at_ns` (ns since midnight; end of file when `None`).
#[pyfunction]
#[pyo3(signature = (path, symbol, *, at_ns = None, depth = 10))]
fn itch_book<'py>(
    py: Python<'py>,
    path: PathBuf,
    symbol: &str,
    at_ns: Option<u64>,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let b = py
        .detach(|| capture::book_at(&path, symbol, at_ns, depth))
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("symbol", symbol)?;
    out.set_item("locate", b.locate)?;
    out.set_item("timestamp_ns", b.timestamp_ns)?;
    out.set_item("messages_applied", b.messages_applied)?;
    let side = |levels: &[quotewire_book::Level]| -> Vec<(i64, u64, u32)> {
        levels
            .iter()
            .map(|l| (l.price.0, l.qty.0, l.count))
            .collect()
    };
    out.set_item("bids", side(&b.bids))?;
    out.set_item("asks", side(&b.asks))?;
    Ok(out)
}

/// Every decodable message grouped by type tag, as wire bytes.
#[pyfunction]
fn itch_read_raw(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let (raw, _) = py.detach(|| capture::read_raw(&path)).map_err(to_py)?;
    let out = PyDict::new(py);
    for (tag, bytes) in raw.iter().enumerate() {
        if !bytes.is_empty() {
            out.set_item(
                char::from(tag as u8).to_string(),
                pyo3::types::PyBytes::new(py, bytes),
            )?;
        }
    }
    Ok(out)
}

const fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Char | FieldKind::Side => "char",
        FieldKind::U16 => "u16",
        FieldKind::U32 => "u32",
        FieldKind::U48 => "u48",
        FieldKind::U64 => "u64",
        FieldKind::Price4 => "price4",
        FieldKind::Price8 => "price8",
        FieldKind::Alpha => "alpha",
    }
}

/// The ITCH 5.0 layouts: tag -> (name, length, [(field, offset, length, kind)]).
#[pyfunction]
fn itch_layouts(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for spec in itch::MESSAGE_SPECS {
        let fields: Vec<(&str, usize, usize, &str)> = spec
            .fields
            .iter()
            .map(|f| (f.name, f.offset, f.len, kind_name(f.kind)))
            .collect();
        out.set_item(
            char::from(spec.tag).to_string(),
            (spec.name, spec.len, fields),
        )?;
    }
    Ok(out)
}

/// Every BBO change of the capture (of `symbol` only, when given), as NumPy columns.
#[pyfunction]
#[pyo3(signature = (path, symbol = None))]
fn replay_bbo<'py>(
    py: Python<'py>,
    path: PathBuf,
    symbol: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = py
        .detach(|| capture::replay_bbo(&path, symbol))
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("timestamp_ns", s.timestamp_ns.into_pyarray(py))?;
    out.set_item("locate", s.locate.into_pyarray(py))?;
    out.set_item("bid_px", s.bid_px.into_pyarray(py))?;
    out.set_item("bid_qty", s.bid_qty.into_pyarray(py))?;
    out.set_item("ask_px", s.ask_px.into_pyarray(py))?;
    out.set_item("ask_qty", s.ask_qty.into_pyarray(py))?;
    Ok(out)
}

fn matrix<'py, T: numpy::Element>(
    py: Python<'py>,
    data: Vec<T>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let rows = data.len() / depth.max(1);
    let flat: Bound<'py, PyArray1<T>> = data.into_pyarray(py);
    Ok(flat.reshape([rows, depth])?.into_any())
}

/// `symbol`'s top `depth` levels after each change of its book, as NumPy arrays.
#[pyfunction]
#[pyo3(signature = (path, symbol, depth = 5))]
fn replay_l2<'py>(
    py: Python<'py>,
    path: PathBuf,
    symbol: &str,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let s = py
        .detach(|| capture::replay_l2(&path, symbol, depth))
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("timestamp_ns", s.timestamp_ns.into_pyarray(py))?;
    out.set_item("bid_px", matrix(py, s.bid_px, depth)?)?;
    out.set_item("bid_qty", matrix(py, s.bid_qty, depth)?)?;
    out.set_item("bid_count", matrix(py, s.bid_count, depth)?)?;
    out.set_item("ask_px", matrix(py, s.ask_px, depth)?)?;
    out.set_item("ask_qty", matrix(py, s.ask_qty, depth)?)?;
    out.set_item("ask_count", matrix(py, s.ask_count, depth)?)?;
    Ok(out)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("QuotewireError", py.get_type::<QuotewireError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add_class::<venue::Venue>()?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<bus::Bus>()?;
    m.add_function(wrap_pyfunction!(engine::bench_tick_to_trade, m)?)?;
    m.add_function(wrap_pyfunction!(engine::bench_orders, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(generate_session, m)?)?;
    m.add_function(wrap_pyfunction!(bench_feed, m)?)?;
    m.add_function(wrap_pyfunction!(bench_venue, m)?)?;
    m.add_function(wrap_pyfunction!(itch_summary, m)?)?;
    m.add_function(wrap_pyfunction!(itch_book, m)?)?;
    m.add_function(wrap_pyfunction!(itch_read_raw, m)?)?;
    m.add_function(wrap_pyfunction!(itch_layouts, m)?)?;
    m.add_function(wrap_pyfunction!(replay_bbo, m)?)?;
    m.add_function(wrap_pyfunction!(replay_l2, m)?)?;
    m.add_function(wrap_pyfunction!(journal::journal_inspect, m)?)?;
    m.add_function(wrap_pyfunction!(journal::journal_to_pcap, m)?)?;
    m.add_function(wrap_pyfunction!(journal::journal_orders, m)?)?;
    m.add_function(wrap_pyfunction!(journal::journal_notes, m)?)?;
    m.add_function(wrap_pyfunction!(journal::journal_write, m)?)?;
    m.add_function(wrap_pyfunction!(import::itch_write_daily, m)?)?;
    m.add_function(wrap_pyfunction!(backtest::backtest, m)?)?;
    m.add_function(wrap_pyfunction!(backtest::backtest_recorded, m)?)?;
    m.add_function(wrap_pyfunction!(transport::bench_transport, m)?)?;
    Ok(())
}
