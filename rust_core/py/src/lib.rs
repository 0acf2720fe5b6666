//! The `quotewire._core` Python extension module.
//!
//! Owns: the Python-facing wrappers of the Rust crates. Python sits on the
//! control plane only: calls here build objects or run whole loops in Rust;
//! nothing here is called per market-data event.

use pyo3::prelude::*;

/// Version of the compiled core.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
