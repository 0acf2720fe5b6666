//! Shared fixtures for the integration tests: generous limits unless a test
//! tightens the one it is about.
#![allow(dead_code, unreachable_pub)]

use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_risk::{FirmLimits, InstrumentLimits, OrderCheck, Risk, RiskConfig, Working};

/// The instrument most tests trade.
pub const INST: InstrumentId = InstrumentId(1);
/// A second instrument for firm-wide tests.
pub const OTHER: InstrumentId = InstrumentId(2);
/// 100.0000 as a raw price.
pub const REF: i64 = 1_000_000;
/// Instruments configured.
pub const INSTRUMENTS: usize = 4;

pub fn firm() -> FirmLimits {
    FirmLimits {
        max_gross_exposure: i64::MAX,
        max_net_exposure: i64::MAX,
        max_open_orders: 1_000,
        orders_per_sec: 1_000_000,
        burst: 1_000_000,
        max_drawdown: 0,
    }
}

pub fn instrument() -> InstrumentLimits {
    InstrumentLimits {
        max_order_qty: 10_000,
        max_order_notional: i64::MAX,
        price_band_bps: 2_000,
        max_position: 1_000_000,
    }
}

pub fn config() -> RiskConfig {
    RiskConfig {
        instruments: INSTRUMENTS,
        firm: firm(),
        default_instrument: instrument(),
    }
}

/// A risk engine with `REF` as the reference of every instrument.
pub fn risk_with(config: &RiskConfig) -> Risk {
    let mut risk = Risk::new(config).expect("valid config");
    for id in 0..config.instruments {
        let id = InstrumentId(u16::try_from(id).unwrap());
        assert_eq!(risk.on_reference(id, Price(REF)), None);
    }
    risk
}

pub fn risk() -> Risk {
    risk_with(&config())
}

pub fn order(instrument: InstrumentId, side: Side, price: i64, qty: u64) -> OrderCheck {
    OrderCheck {
        instrument,
        side,
        price: Price(price),
        qty: Qty(qty),
        replaces: None,
    }
}

pub fn buy(price: i64, qty: u64) -> OrderCheck {
    order(INST, Side::Buy, price, qty)
}

pub fn sell(price: i64, qty: u64) -> OrderCheck {
    order(INST, Side::Sell, price, qty)
}

pub fn none() -> Working {
    Working::default()
}

pub fn open(open_buy_qty: u64, open_sell_qty: u64) -> Working {
    Working {
        open_buy_qty,
        open_sell_qty,
        ..Working::default()
    }
}
