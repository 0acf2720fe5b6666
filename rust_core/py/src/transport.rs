//! `bench_transport`: the transport benchmark behind `quotewire bench transport`.
//!
//! Owns: running `quotewire_transport::bench::run_loop` on the backend asked
//! for (a loopback UDP socket, or a DPDK `net_ring` port when built with the
//! `dpdk` feature) with the GIL released, and turning its latencies into the
//! figures and histogram every `bench_*` result carries.
//! Must never: initialise the DPDK EAL with other arguments than the
//! container-safe ones when the process has none yet (it reuses a running EAL).

use hdrhistogram::Histogram;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quotewire_core::clock::Clock;
use quotewire_transport::bench::{run_loop, udp_loopback, LoopBenchConfig, LoopBenchResult};
use quotewire_transport::TransportError;

use crate::{put_histogram, put_latency, ConfigError, QuotewireError};

fn transport_error(e: TransportError) -> PyErr {
    match e {
        TransportError::Config(_)
        | TransportError::DpdkUnavailable(_)
        | TransportError::NoHugepages(_)
        | TransportError::NoDevice { .. }
        | TransportError::EalAlreadyInitialized => ConfigError::new_err(e.to_string()),
        other => QuotewireError::new_err(other.to_string()),
    }
}

/// Runs `config` on `backend`; returns the result and a description of the path measured.
fn run(backend: &str, config: &LoopBenchConfig) -> PyResult<(LoopBenchResult, String)> {
    let clock = Clock::monotonic();
    match backend {
        "udp" => {
            let mut t = udp_loopback().map_err(transport_error)?;
            let r = run_loop(&mut t, &clock, config).map_err(transport_error)?;
            Ok((
                r,
                "kernel UDP socket on 127.0.0.1, sending to itself".to_owned(),
            ))
        }
        "dpdk" => run_dpdk(config, &clock),
        other => Err(ConfigError::new_err(format!(
            "backend {other:?} is not one of 'udp', 'dpdk'"
        ))),
    }
}

#[cfg(feature = "dpdk")]
fn run_dpdk(config: &LoopBenchConfig, clock: &Clock) -> PyResult<(LoopBenchResult, String)> {
    use quotewire_transport::bench::dpdk_ring_loopback;
    use quotewire_transport::dpdk::{self, Eal, EalConfig};
    let eal = Eal::get_or_init(&EalConfig::virtual_only()).map_err(transport_error)?;
    let mut t = dpdk_ring_loopback(eal).map_err(transport_error)?;
    let r = run_loop(&mut t, clock, config).map_err(transport_error)?;
    let what = format!("{} net_ring port looped back (no wire)", dpdk::version());
    Ok((r, what))
}

#[cfg(not(feature = "dpdk"))]
fn run_dpdk(_config: &LoopBenchConfig, _clock: &Clock) -> PyResult<(LoopBenchResult, String)> {
    Err(ConfigError::new_err(
        "built without DPDK: quotewire._core was compiled without the dpdk feature \
         (install libdpdk-dev, then maturin develop --release --features dpdk)",
    ))
}

/// Sends `count` datagrams (after `warmup` untimed ones) through `backend`
/// ("udp" or "dpdk"), `window` in flight, and times each from send to receive.
#[pyfunction]
#[pyo3(signature = (backend, count, *, warmup = 10_000, payload = 64, window = 1))]
pub(crate) fn bench_transport<'py>(
    py: Python<'py>,
    backend: &str,
    count: u64,
    warmup: u64,
    payload: usize,
    window: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let config = LoopBenchConfig {
        count,
        warmup,
        payload,
        window,
        ..LoopBenchConfig::default()
    };
    let (result, path) = py.detach(|| run(backend, &config))?;
    let mut h: Histogram<u64> = Histogram::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| QuotewireError::new_err(format!("histogram: {e}")))?;
    for &ns in &result.latencies_ns {
        h.saturating_record(ns.max(1));
    }
    let out = PyDict::new(py);
    out.set_item("backend", backend)?;
    out.set_item("path", path)?;
    out.set_item("count", result.count)?;
    out.set_item("lost", result.lost)?;
    out.set_item("elapsed_ns", result.elapsed_ns)?;
    out.set_item("per_sec", result.per_sec)?;
    put_latency(&out, &h)?;
    put_histogram(&out, &h)?;
    Ok(out)
}
