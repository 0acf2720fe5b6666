//! Core value types shared by every quotewire crate.
//!
//! Owns: fixed-point [`Price`] and [`Qty`], [`Side`], identifiers, nanosecond
//! timestamps, the calibrated monotonic [`clock`] and huge-page backed
//! buffers for large hot tables ([`mem`]), and the order-entry vocabulary
//! ([`order`]) shared by the OMS, the gateways and the engine.
//! Must never: allocate on a hot path, perform I/O, or depend on another
//! quotewire crate. Money is integers here; `f64` appears only in explicit
//! conversion functions used at the configuration boundary.

pub mod clock;
mod error;
pub mod mem;
pub mod order;
mod types;

pub use error::CoreError;
pub use types::{InstrumentId, OrderId, Price, Qty, Side, Timestamp, PRICE_DECIMALS, PRICE_SCALE};
