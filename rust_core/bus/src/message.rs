//! The messages crossing the rings: small `Copy` values, no heap.

use std::fmt;

use quotewire_core::order::ClOrdId;
use quotewire_core::{InstrumentId, Price, Qty, Side};

use crate::BusError;

/// Longest instance name, in bytes.
const NAME_MAX: usize = 16;

/// An instance's name: 1 to 16 ASCII letters, digits, `-` or `_` (a NATS subject token
/// and part of a KV key), stored inline so messages stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceName {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl InstanceName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, BusError> {
        let ok = (1..=NAME_MAX).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(BusError::Config(format!(
                "instance {name:?} is not 1-{NAME_MAX} ASCII letters, digits, '-' or '_'"
            )));
        }
        let mut bytes = [0; NAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(Self {
            bytes,
            len: name.len() as u8,
        })
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceName({:?})", self.as_str())
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fill as the engine reported it (drop copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// The publisher's fill number (1, 2, ... per bus session), to spot gaps.
    pub seq: u64,
    /// When the engine saw it (engine clock, ns).
    pub ts_ns: u64,
    /// Our order id.
    pub cl: ClOrdId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Our side.
    pub side: Side,
    /// Trade price.
    pub price: Price,
    /// Shares.
    pub qty: Qty,
    /// The instance's position in the instrument after the fill.
    pub position: i64,
}

/// One instrument's position and working orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// When it was read (ns).
    pub ts_ns: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Signed shares.
    pub position: i64,
    /// Shares on resting buy orders.
    pub open_buy: u64,
    /// Shares on resting sell orders.
    pub open_sell: u64,
    /// The price exposure is marked at (0 before the first).
    pub mark: Price,
    /// Realised PnL, raw notional.
    pub realised: i64,
    /// Unrealised PnL, raw notional.
    pub unrealised: i64,
}

/// An instance's exposure (raw notional: raw price x shares) and the budget it runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// When it was read (ns).
    pub ts_ns: u64,
    /// Sum of |position x mark|.
    pub gross: i64,
    /// Sum of position x mark.
    pub net: i64,
    /// Gross if every resting order filled on its worse side, per instrument.
    pub worst_gross: i64,
    /// |net| if every resting buy (or every resting sell) filled, the larger.
    pub worst_net: i64,
    /// Orders resting at the venue.
    pub open_orders: u32,
    /// KV revision of the budget applied (0: the configured limits).
    pub budget_revision: u64,
    /// The kill switch is engaged.
    pub killed: bool,
}

/// A liveness beat from the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// When it was sent (ns).
    pub ts_ns: u64,
    /// Counts up from 1.
    pub seq: u64,
}

/// What the control plane hands the bus thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// To the drop copy.
    Fill(Fill),
    /// To the state stream.
    Position(Position),
    /// To the state stream.
    Exposure(Exposure),
    /// Core NATS, not stored.
    Heartbeat(Heartbeat),
}

/// An instance's share of the firm limits (raw notional), applied as its own firm limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Gross exposure limit.
    pub max_gross_exposure: i64,
    /// Net exposure limit.
    pub max_net_exposure: i64,
    /// Open orders limit.
    pub max_open_orders: u32,
}

/// What the bus thread hands the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// The firm-wide kill switch: `active` engages it, inactive clears it. `revision`
    /// is the KV revision, 0 for a `qw.kill` message (which may also arrive via KV:
    /// applying it twice is harmless).
    Kill {
        /// Engage (true) or clear (false).
        active: bool,
        /// KV revision, 0 from core NATS.
        revision: u64,
    },
    /// This instance's budget changed (or was read at start).
    Budget {
        /// KV revision: report it back in [`Exposure::budget_revision`] once applied.
        revision: u64,
        /// The limits.
        budget: Budget,
    },
    /// A peer's exposure (only with [`BusConfig::watch_peers`](crate::BusConfig)).
    Peer {
        /// Who.
        instance: InstanceName,
        /// What it reported.
        exposure: Exposure,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_name_keeps_valid_text_and_refuses_subject_tokens() {
        let name = InstanceName::new("mm-01_a").unwrap();
        assert_eq!(name.as_str(), "mm-01_a");
        assert_eq!(name.to_string(), "mm-01_a");
        for bad in ["", "a.b", "a*", ">", "with space", "seventeen-chars-x"] {
            assert!(InstanceName::new(bad).is_err(), "{bad:?}");
        }
        assert!(InstanceName::new("sixteen-chars-xx").is_ok());
    }

    #[test]
    fn messages_are_small_copy_values() {
        const fn is_copy<T: Copy>() {}
        is_copy::<Outbound>();
        is_copy::<Inbound>();
        assert!(std::mem::size_of::<Outbound>() <= 80);
        assert!(std::mem::size_of::<Inbound>() <= 96);
    }
}
