//! Pre-trade risk: the limits checked before every order leaves, live positions,
//! exposure and PnL, and the kill switch.
//!
//! Owns: per-instrument and firm-wide limits (changeable while running, validated),
//! the order-rate throttle, each instrument's position, cost basis, realised PnL
//! and reference price, the firm's PnL and gross/net exposure, the kill switch and
//! reduce-only mode, and counters of every decision.
//! Must never: allocate, lock, block or use floating point after [`Risk::new`];
//! send, cancel or track orders (the OMS owns working orders and passes their
//! totals in [`Working`]; the engine acts on a kill via [`Risk::take_kill_event`]);
//! know about sockets, threads or Python.
//!
//! # Units
//!
//! Money is "raw notional": [`Price`](quotewire_core::Price) raw (4 implied
//! decimals) x shares, as `i64`. PnL and exposure are in the same units.
//! Intermediates are `i128`; results narrowed to `i64` saturate.
//!
//! # The check
//!
//! [`Risk::check`] runs the checks in [`Reject`] order and returns the first
//! failure (each counted per reason; `Ok` consumes a throttle token):
//!
//! 1. `KillSwitch`: the kill switch is engaged.
//! 2. `UnknownInstrument`: id `>=` configured instruments.
//! 3. `InvalidOrder`: zero quantity, non-positive price, or a replace releasing
//!    more shares than [`Working`] shows on that side.
//! 4. `ReduceOnly`: in reduce-only mode only the side that shrinks the position
//!    may trade, and the side's working orders plus this one may not take the
//!    position past flat: a buy needs `position + open_buy + qty <= 0`, a sell
//!    `position - open_sell - qty >= 0` (everything is refused while flat).
//! 5. `MaxOrderQty`: `qty > max_order_qty`.
//! 6. `MaxOrderNotional`: `price x qty > max_order_notional`.
//! 7. `NoReference`: no reference price yet (band and exposure need one).
//! 8. `PriceBand`: `|price - ref| x 10_000 > price_band_bps x ref`.
//! 9. `PositionLimit`: worst case `|w| > max_position`, where
//!    `w = position + open_buy + qty` (buy) or `position - open_sell - qty` (sell).
//! 10. `GrossExposure`: `G - |position x ref| + |w x ref| > max_gross_exposure`.
//! 11. `NetExposure`: `|N - position x ref + w x ref| > max_net_exposure`.
//! 12. `MaxOpenOrders`: new orders only, `open_orders + 1 > max_open_orders`.
//! 13. `SelfCross`: a buy at or above our best ask, a sell at or below our best bid.
//! 14. `Throttle`: token bucket empty (`orders_per_sec` refill, `burst` capacity).
//!
//! `open_buy`/`open_sell` are [`Working`] totals *including* the order being
//! replaced, less [`OrderCheck::replaces`]' quantity. `G` and `N` are the firm's
//! gross (sum of |market value|) and net (sum of market value) exposure, kept
//! incrementally per instrument, where market value is `position x reference`
//! (or the cost basis before the first reference). Other instruments count at
//! their current position only: their working orders were checked when sent.
//! Checks 9 to 11 never reject an order that only moves its measure toward zero
//! without crossing it (the worst case `w` compared with the same worst case
//! without the order), so a position or exposure left over a lowered limit can
//! always be reduced; crossing zero is checked like any other order.
//!
//! # PnL
//!
//! Average-cost accounting on the signed cost basis `C` (sum of
//! `side x price x qty` over the fills that opened the position, less what closes
//! released): a close of `q` of `|position|` shares releases `C x q / |position|`,
//! a flip closes the whole position and opens the rest at the fill price.
//! Unrealised is `position x reference - C`. Rounding only moves PnL between
//! realised and unrealised: their sum is always exactly the cash-flow PnL
//! `-sum(side x price x qty) + position x reference`.
//!
//! # Kill switch
//!
//! [`Risk::kill`] engages it (first reason sticks); a fill, reference or limit
//! change that puts total PnL at or below `-max_drawdown` engages it with
//! [`KillReason::Drawdown`]. Every newly engaged kill leaves one event for
//! [`Risk::take_kill_event`]; [`Risk::on_fill`] and [`Risk::on_reference`] also
//! return it. [`Risk::rearm`] is refused while the drawdown condition holds.
//!
//! # Example
//!
//! ```
//! use quotewire_core::{InstrumentId, Price, Qty, Side};
//! use quotewire_risk::{
//!     FirmLimits, InstrumentLimits, OrderCheck, Reject, Risk, RiskConfig, Working,
//! };
//!
//! let mut risk = Risk::new(&RiskConfig {
//!     instruments: 16,
//!     firm: FirmLimits {
//!         max_gross_exposure: 10_000_000_000,
//!         max_net_exposure: 5_000_000_000,
//!         max_open_orders: 100,
//!         orders_per_sec: 1_000,
//!         burst: 50,
//!         max_drawdown: 100_000_000,
//!     },
//!     default_instrument: InstrumentLimits {
//!         max_order_qty: 1_000,
//!         max_order_notional: 1_000_000_000,
//!         price_band_bps: 500,
//!         max_position: 5_000,
//!     },
//! })?;
//! let aapl = InstrumentId(3);
//! let order = OrderCheck {
//!     instrument: aapl,
//!     side: Side::Buy,
//!     price: Price(1_000_000),
//!     qty: Qty(100),
//!     replaces: None,
//! };
//! assert_eq!(risk.check(1, &order, &Working::default(), 0), Err(Reject::NoReference));
//! let _ = risk.on_reference(aapl, Price(1_000_100));
//! assert_eq!(risk.check(2, &order, &Working::default(), 0), Ok(()));
//! let _ = risk.on_fill(aapl, Side::Buy, Price(1_000_000), Qty(100));
//! assert_eq!(risk.position(aapl), 100);
//! assert_eq!(risk.totals().unrealised, 100 * 100);
//! # Ok::<(), quotewire_risk::RiskError>(())
//! ```

mod bucket;
mod limits;
mod reason;
mod risk;

pub use limits::{
    FirmLimits, InstrumentLimits, RiskConfig, RiskError, MAX_INSTRUMENTS, MAX_PRICE_BAND_BPS,
};
pub use reason::{KillReason, RearmRefused, Reject};
pub use risk::{OrderCheck, Pnl, Risk, Totals, Working};
