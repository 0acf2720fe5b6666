//! Limits, configuration and their validation.

use quotewire_core::InstrumentId;

/// Largest number of instruments: one per `InstrumentId` (`u16`).
pub const MAX_INSTRUMENTS: usize = 1 << 16;

/// Largest allowed price band: 100% of the reference price.
pub const MAX_PRICE_BAND_BPS: u32 = 10_000;

/// A configuration error: a limit outside its allowed range, or an unknown instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    /// A limit is outside its allowed range (`field` names it as `struct.field`).
    #[error("{field} = {value} is out of range (allowed {min}..={max})")]
    OutOfRange {
        /// The offending field, e.g. `"firm.max_open_orders"`.
        field: &'static str,
        /// The value given.
        value: i128,
        /// Smallest allowed value.
        min: i128,
        /// Largest allowed value.
        max: i128,
    },
    /// An instrument id at or beyond the configured number of instruments.
    #[error("unknown instrument {id} (configured instruments: 0..{instruments})")]
    UnknownInstrument {
        /// The id given.
        id: u16,
        /// The configured number of instruments.
        instruments: usize,
    },
}

/// Per-instrument limits, checked on every order for that instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentLimits {
    /// Largest quantity of one order in shares (`1..=i64::MAX`).
    pub max_order_qty: u64,
    /// Largest notional of one order: price raw x shares (`1..=i64::MAX`).
    pub max_order_notional: i64,
    /// Allowed distance of an order's price from the reference price, in basis
    /// points of the reference (`1..=10_000`).
    pub price_band_bps: u32,
    /// Largest absolute position in shares, worst case counting our open orders on
    /// the order's side (`0..=i64::MAX`; 0 allows only orders that shrink a position).
    pub max_position: u64,
}

/// Firm-wide limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmLimits {
    /// Largest sum over instruments of |market value|, raw notional (`1..=i64::MAX`).
    pub max_gross_exposure: i64,
    /// Largest |sum over instruments of signed market value|, raw notional (`1..=i64::MAX`).
    pub max_net_exposure: i64,
    /// Largest number of our open orders firm-wide, counting a new order (`1..=u32::MAX`).
    pub max_open_orders: u32,
    /// Token-bucket refill rate: orders (new or replace) per second (`1..=u32::MAX`).
    pub orders_per_sec: u32,
    /// Token-bucket capacity: orders that may be sent back to back (`1..=u32::MAX`).
    pub burst: u32,
    /// Kill when total PnL (realised + unrealised) `<= -max_drawdown`, raw
    /// notional; 0 disables (`0..=i64::MAX`).
    pub max_drawdown: i64,
}

/// Everything [`Risk::new`](crate::Risk::new) needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskConfig {
    /// Number of instruments; ids `0..instruments` are known (`1..=65_536`).
    pub instruments: usize,
    /// Firm-wide limits.
    pub firm: FirmLimits,
    /// Limits every instrument starts with.
    pub default_instrument: InstrumentLimits,
}

fn in_range(field: &'static str, value: i128, min: i128, max: i128) -> Result<(), RiskError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

const I64_MAX: i128 = i64::MAX as i128;

impl InstrumentLimits {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), RiskError> {
        in_range(
            "instrument.max_order_qty",
            i128::from(self.max_order_qty),
            1,
            I64_MAX,
        )?;
        in_range(
            "instrument.max_order_notional",
            i128::from(self.max_order_notional),
            1,
            I64_MAX,
        )?;
        in_range(
            "instrument.price_band_bps",
            i128::from(self.price_band_bps),
            1,
            i128::from(MAX_PRICE_BAND_BPS),
        )?;
        in_range(
            "instrument.max_position",
            i128::from(self.max_position),
            0,
            I64_MAX,
        )
    }
}

impl FirmLimits {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), RiskError> {
        in_range(
            "firm.max_gross_exposure",
            i128::from(self.max_gross_exposure),
            1,
            I64_MAX,
        )?;
        in_range(
            "firm.max_net_exposure",
            i128::from(self.max_net_exposure),
            1,
            I64_MAX,
        )?;
        let u32_max = i128::from(u32::MAX);
        in_range(
            "firm.max_open_orders",
            i128::from(self.max_open_orders),
            1,
            u32_max,
        )?;
        in_range(
            "firm.orders_per_sec",
            i128::from(self.orders_per_sec),
            1,
            u32_max,
        )?;
        in_range("firm.burst", i128::from(self.burst), 1, u32_max)?;
        in_range(
            "firm.max_drawdown",
            i128::from(self.max_drawdown),
            0,
            I64_MAX,
        )
    }
}

impl RiskConfig {
    /// Checks the instrument count, the firm limits and the default instrument limits.
    pub fn validate(&self) -> Result<(), RiskError> {
        in_range(
            "config.instruments",
            self.instruments as i128,
            1,
            MAX_INSTRUMENTS as i128,
        )?;
        self.firm.validate()?;
        self.default_instrument.validate()
    }

    /// Index of `id`, or the error naming it.
    pub(crate) fn index(instruments: usize, id: InstrumentId) -> Result<usize, RiskError> {
        let idx = usize::from(id.0);
        if idx < instruments {
            Ok(idx)
        } else {
            Err(RiskError::UnknownInstrument {
                id: id.0,
                instruments,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firm() -> FirmLimits {
        FirmLimits {
            max_gross_exposure: 1,
            max_net_exposure: 1,
            max_open_orders: 1,
            orders_per_sec: 1,
            burst: 1,
            max_drawdown: 0,
        }
    }

    #[test]
    fn zero_burst_is_refused_naming_field_value_and_range() {
        let err = FirmLimits { burst: 0, ..firm() }.validate().unwrap_err();
        assert_eq!(
            err,
            RiskError::OutOfRange {
                field: "firm.burst",
                value: 0,
                min: 1,
                max: i128::from(u32::MAX)
            }
        );
        assert_eq!(
            err.to_string(),
            "firm.burst = 0 is out of range (allowed 1..=4294967295)"
        );
    }

    #[test]
    fn smallest_allowed_limits_validate() {
        assert_eq!(firm().validate(), Ok(()));
        let inst = InstrumentLimits {
            max_order_qty: 1,
            max_order_notional: 1,
            price_band_bps: 1,
            max_position: 0,
        };
        assert_eq!(inst.validate(), Ok(()));
    }

    #[test]
    fn price_band_over_one_hundred_percent_is_refused() {
        let inst = InstrumentLimits {
            max_order_qty: 1,
            max_order_notional: 1,
            price_band_bps: MAX_PRICE_BAND_BPS + 1,
            max_position: 0,
        };
        assert!(matches!(
            inst.validate(),
            Err(RiskError::OutOfRange {
                field: "instrument.price_band_bps",
                value: 10_001,
                ..
            })
        ));
    }

    #[test]
    fn negative_drawdown_and_position_over_i64_are_refused() {
        let err = FirmLimits {
            max_drawdown: -1,
            ..firm()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(
            err,
            RiskError::OutOfRange {
                field: "firm.max_drawdown",
                ..
            }
        ));
        let inst = InstrumentLimits {
            max_order_qty: 1,
            max_order_notional: 1,
            price_band_bps: 1,
            max_position: u64::MAX,
        };
        assert!(matches!(
            inst.validate(),
            Err(RiskError::OutOfRange {
                field: "instrument.max_position",
                ..
            })
        ));
    }

    #[test]
    fn instrument_count_must_fit_u16_ids() {
        let cfg = |instruments| RiskConfig {
            instruments,
            firm: firm(),
            default_instrument: InstrumentLimits {
                max_order_qty: 1,
                max_order_notional: 1,
                price_band_bps: 1,
                max_position: 0,
            },
        };
        assert!(cfg(0).validate().is_err());
        assert!(cfg(MAX_INSTRUMENTS).validate().is_ok());
        assert!(cfg(MAX_INSTRUMENTS + 1).validate().is_err());
    }
}
