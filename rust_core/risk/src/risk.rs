//! The pre-trade check, live positions and PnL, and the kill switch.

use quotewire_core::order::{NewOrder, ReplaceOrder};
use quotewire_core::{InstrumentId, Price, Qty, Side};

use crate::bucket::TokenBucket;
use crate::limits::{FirmLimits, InstrumentLimits, RiskConfig, RiskError};
use crate::reason::{KillReason, RearmRefused, Reject};

/// An order about to be sent (new or cancel/replace), as risk sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCheck {
    /// What to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (must be positive).
    pub price: Price,
    /// Shares; for a replace, the new open quantity (must be positive).
    pub qty: Qty,
    /// For a cancel/replace: the old price and the open quantity the replace releases.
    /// Risk uses the quantity (subtracted from [`Working`]); the price is carried for
    /// the caller's records. `None` for a new order.
    pub replaces: Option<(Price, Qty)>,
}

impl OrderCheck {
    /// The check for a new order.
    #[must_use]
    pub const fn new_order(order: &NewOrder) -> Self {
        Self {
            instrument: order.instrument,
            side: order.side,
            price: order.price,
            qty: order.qty,
            replaces: None,
        }
    }

    /// The check for a cancel/replace of a live order now at `old_price` with
    /// `old_open_qty` shares open.
    #[must_use]
    pub const fn replace(order: &ReplaceOrder, old_price: Price, old_open_qty: Qty) -> Self {
        Self {
            instrument: order.instrument,
            side: order.side,
            price: order.price,
            qty: order.qty,
            replaces: Some((old_price, old_open_qty)),
        }
    }
}

/// Our own working orders on the checked order's instrument, as the OMS knows them.
///
/// The totals **include** the order being replaced: [`Risk::check`] subtracts
/// [`OrderCheck::replaces`] itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Working {
    /// Open shares of all our buy orders on the instrument.
    pub open_buy_qty: u64,
    /// Open shares of all our sell orders on the instrument.
    pub open_sell_qty: u64,
    /// Our highest resting buy price, if any.
    pub best_bid: Option<Price>,
    /// Our lowest resting sell price, if any.
    pub best_ask: Option<Price>,
}

/// Position and PnL of one instrument; money in raw notional (price raw x shares).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pnl {
    /// Signed position in shares (positive = long).
    pub position: i64,
    /// Average cost of the open position (rounded to the nearest raw unit); zero when flat.
    pub avg_price: Price,
    /// Realised PnL (average-cost accounting).
    pub realised: i64,
    /// Unrealised PnL: `position * reference - cost basis`; zero without a reference.
    pub unrealised: i64,
    /// The latest reference price, if one was set.
    pub reference: Option<Price>,
}

/// Firm-wide PnL and exposure; raw notional, saturated to `i64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of realised PnL.
    pub realised: i64,
    /// Sum of unrealised PnL.
    pub unrealised: i64,
    /// `realised + unrealised`.
    pub total: i64,
    /// Sum over instruments of |market value|.
    pub gross_exposure: i64,
    /// Sum over instruments of signed market value.
    pub net_exposure: i64,
}

/// One instrument's limits and state: exactly one cache line, so a check touches
/// one line per instrument plus the `Risk` header.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
struct Slot {
    limits: InstrumentLimits,
    /// Signed shares.
    position: i64,
    /// Signed cost basis of the open position: the sum of `side * price * qty` of
    /// the fills that opened it, less what closing fills released. Zero when flat.
    cost: i64,
    realised: i64,
    /// Raw reference price; 0 = none (references are always positive).
    reference: i64,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);

impl Slot {
    /// Market value: `position * reference`, or the cost basis without a reference
    /// (marked at cost, so unrealised is zero until a reference arrives).
    #[inline]
    fn value(&self) -> i128 {
        if self.reference > 0 {
            i128::from(self.position) * i128::from(self.reference)
        } else {
            i128::from(self.cost)
        }
    }

    #[inline]
    fn contribution(&self) -> Contribution {
        let value = self.value();
        Contribution {
            realised: i128::from(self.realised),
            unrealised: value - i128::from(self.cost),
            value,
        }
    }

    /// Average-cost booking of one fill; handles closes, partial closes and flips.
    #[inline]
    fn apply_fill(&mut self, side: Side, price: Price, qty: Qty) {
        let sign: i128 = match side {
            Side::Buy => 1,
            Side::Sell => -1,
        };
        let price = i128::from(price.0);
        let qty = i128::from(qty.0);
        let mut pos = i128::from(self.position);
        let mut cost = i128::from(self.cost);
        let mut realised = i128::from(self.realised);
        let mut opening = qty;
        if pos != 0 && pos.signum() != sign {
            let held = pos.abs();
            let closing = qty.min(held);
            // Truncation only moves PnL between realised and unrealised; their sum
            // stays exactly the cash-flow PnL. A full close releases all of `cost`.
            let released = if closing == held {
                cost
            } else {
                cost * closing / held
            };
            realised += -sign * price * closing - released;
            cost -= released;
            pos += sign * closing;
            opening = qty - closing;
        }
        pos += sign * opening;
        cost += sign * price * opening;
        self.position = saturate(pos);
        self.cost = saturate(cost);
        self.realised = saturate(realised);
    }

    fn pnl(&self) -> Pnl {
        let c = self.contribution();
        Pnl {
            position: self.position,
            avg_price: Price(avg_price(self.cost, self.position)),
            realised: self.realised,
            unrealised: saturate(c.unrealised),
            reference: (self.reference > 0).then_some(Price(self.reference)),
        }
    }
}

/// `cost / position` rounded half away from zero; 0 when flat.
fn avg_price(cost: i64, position: i64) -> i64 {
    if position == 0 {
        return 0;
    }
    let (c, p) = (i128::from(cost), i128::from(position));
    let q = (c.abs() + p.abs() / 2) / p.abs();
    saturate(if (c < 0) != (p < 0) { -q } else { q })
}

#[inline]
fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// What one instrument adds to the firm sums.
#[derive(Clone, Copy, Debug)]
struct Contribution {
    realised: i128,
    unrealised: i128,
    value: i128,
}

/// Firm sums, kept incrementally (O(1) per fill or reference) in `i128`.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    realised: i128,
    unrealised: i128,
    gross: i128,
    net: i128,
}

impl Sums {
    #[inline]
    fn replace(&mut self, before: Contribution, after: Contribution) {
        self.realised += after.realised - before.realised;
        self.unrealised += after.unrealised - before.unrealised;
        self.gross += after.value.abs() - before.value.abs();
        self.net += after.value - before.value;
    }
}

/// Pre-trade risk: limits, live positions and PnL, and the kill switch.
///
/// Single-threaded: owned by the engine loop. Everything is pre-sized in
/// [`Risk::new`]; no method allocates afterwards.
#[derive(Debug)]
pub struct Risk {
    slots: Box<[Slot]>,
    firm: FirmLimits,
    bucket: TokenBucket,
    sums: Sums,
    killed: Option<KillReason>,
    kill_event: Option<KillReason>,
    reduce_only: bool,
    checks: u64,
    accepted: u64,
    rejects: [u64; Reject::COUNT],
    ignored_events: u64,
}

impl Risk {
    /// Validates `config` and builds the engine: every instrument flat, no reference,
    /// default limits, the throttle bucket full, not killed, not reduce-only.
    pub fn new(config: &RiskConfig) -> Result<Self, RiskError> {
        config.validate()?;
        let slot = Slot {
            limits: config.default_instrument,
            position: 0,
            cost: 0,
            realised: 0,
            reference: 0,
        };
        Ok(Self {
            slots: vec![slot; config.instruments].into_boxed_slice(),
            firm: config.firm,
            bucket: TokenBucket::new(config.firm.orders_per_sec, config.firm.burst),
            sums: Sums::default(),
            killed: None,
            kill_event: None,
            reduce_only: false,
            checks: 0,
            accepted: 0,
            rejects: [0; Reject::COUNT],
            ignored_events: 0,
        })
    }

    /// Number of configured instruments (ids `0..instruments()`).
    #[must_use]
    pub fn instruments(&self) -> usize {
        self.slots.len()
    }

    /// Current firm limits.
    #[must_use]
    pub fn firm_limits(&self) -> FirmLimits {
        self.firm
    }

    /// Replaces the firm limits; they apply from the next check.
    ///
    /// The throttle keeps its credit (clamped to the new `burst`); credit accrued
    /// since the last check is counted at the new rate. A lower `max_drawdown`
    /// already breached engages the kill switch now ([`Risk::take_kill_event`]).
    pub fn set_firm_limits(&mut self, limits: FirmLimits) -> Result<(), RiskError> {
        limits.validate()?;
        self.firm = limits;
        self.bucket.reconfigure(limits.orders_per_sec, limits.burst);
        let _ = self.check_drawdown();
        Ok(())
    }

    /// Limits of one instrument, or `None` for an unknown id.
    #[must_use]
    pub fn instrument_limits(&self, id: InstrumentId) -> Option<InstrumentLimits> {
        self.slots.get(usize::from(id.0)).map(|s| s.limits)
    }

    /// Replaces one instrument's limits; they apply from the next check.
    pub fn set_instrument_limits(
        &mut self,
        id: InstrumentId,
        limits: InstrumentLimits,
    ) -> Result<(), RiskError> {
        let idx = RiskConfig::index(self.slots.len(), id)?;
        limits.validate()?;
        self.slots[idx].limits = limits;
        Ok(())
    }

    /// Checks one outgoing new order or replace; `Ok` consumes a throttle token.
    ///
    /// `working` are our own working orders on `order.instrument`, **including** the
    /// order being replaced (its released quantity `order.replaces` is subtracted
    /// here); `open_orders` is our open-order count firm-wide. Cancels are never
    /// checked. Checks run in [`Reject`] order; the first failure is returned and
    /// counted. Worst case below means "every working order on the order's side and
    /// this order fill": `worst = position + open_buy + qty` for a buy,
    /// `position - open_sell - qty` for a sell (`open_*` net of the replaced qty).
    /// Position, gross and net limits never reject an order that only moves its
    /// measure toward zero without crossing it, so a position or exposure left over
    /// a lowered limit can still be reduced.
    #[inline]
    pub fn check(
        &mut self,
        now_ns: u64,
        order: &OrderCheck,
        working: &Working,
        open_orders: u32,
    ) -> Result<(), Reject> {
        self.checks += 1;
        let verdict = self.evaluate(now_ns, order, working, open_orders);
        match verdict {
            Ok(()) => self.accepted += 1,
            Err(reason) => self.rejects[reason as usize] += 1,
        }
        verdict
    }

    #[inline]
    fn evaluate(
        &mut self,
        now_ns: u64,
        order: &OrderCheck,
        working: &Working,
        open_orders: u32,
    ) -> Result<(), Reject> {
        if self.killed.is_some() {
            return Err(Reject::KillSwitch);
        }
        let slot = self
            .slots
            .get(usize::from(order.instrument.0))
            .ok_or(Reject::UnknownInstrument)?;
        let (price, qty) = (order.price.0, order.qty.0);
        if qty == 0 || price <= 0 {
            return Err(Reject::InvalidOrder);
        }
        let side_open = match order.side {
            Side::Buy => working.open_buy_qty,
            Side::Sell => working.open_sell_qty,
        };
        let others = match order.replaces {
            None => side_open,
            Some((_, released)) => side_open
                .checked_sub(released.0)
                .ok_or(Reject::InvalidOrder)?,
        };
        let position = i128::from(slot.position);
        let (before, worst) = match order.side {
            Side::Buy => {
                let before = position + i128::from(others);
                (before, before + i128::from(qty))
            }
            Side::Sell => {
                let before = position - i128::from(others);
                (before, before - i128::from(qty))
            }
        };
        // Reduce-only: only the side that shrinks the position may quote, and all of
        // that side's orders together may not take it past flat. With qty >= 1 this
        // also refuses everything while flat.
        if self.reduce_only {
            let shrinks = match order.side {
                Side::Buy => worst <= 0,
                Side::Sell => worst >= 0,
            };
            if !shrinks {
                return Err(Reject::ReduceOnly);
            }
        }
        let limits = &slot.limits;
        if qty > limits.max_order_qty {
            return Err(Reject::MaxOrderQty);
        }
        if i128::from(price) * i128::from(qty) > i128::from(limits.max_order_notional) {
            return Err(Reject::MaxOrderNotional);
        }
        if slot.reference <= 0 {
            return Err(Reject::NoReference);
        }
        let reference = i128::from(slot.reference);
        if (i128::from(price) - reference).abs() * 10_000
            > i128::from(limits.price_band_bps) * reference
        {
            return Err(Reject::PriceBand);
        }
        // An order that only moves the worst case toward flat, without crossing it,
        // is never refused by a position or exposure limit.
        let reduces = match order.side {
            Side::Buy => before < 0 && worst <= 0,
            Side::Sell => before > 0 && worst >= 0,
        };
        if !reduces && worst.unsigned_abs() > u128::from(limits.max_position) {
            return Err(Reject::PositionLimit);
        }
        // Exposure: this instrument's market value replaced by its worst case at the
        // reference; every other instrument at its current position and mark.
        let current = slot.value();
        let (value_before, value_after) = (before * reference, worst * reference);
        let gross_after = self.sums.gross - current.abs() + value_after.abs();
        if !reduces && gross_after > i128::from(self.firm.max_gross_exposure) {
            return Err(Reject::GrossExposure);
        }
        let net_before = self.sums.net - current + value_before;
        let net_after = self.sums.net - current + value_after;
        let reduces_net = match order.side {
            Side::Buy => net_before < 0 && net_after <= 0,
            Side::Sell => net_before > 0 && net_after >= 0,
        };
        if !reduces_net && net_after.abs() > i128::from(self.firm.max_net_exposure) {
            return Err(Reject::NetExposure);
        }
        if order.replaces.is_none() && open_orders >= self.firm.max_open_orders {
            return Err(Reject::MaxOpenOrders);
        }
        let crosses = match order.side {
            Side::Buy => working.best_ask.is_some_and(|ask| order.price >= ask),
            Side::Sell => working.best_bid.is_some_and(|bid| order.price <= bid),
        };
        if crosses {
            return Err(Reject::SelfCross);
        }
        if !self.bucket.try_take(now_ns) {
            return Err(Reject::Throttle);
        }
        Ok(())
    }

    /// Books a fill (average-cost accounting) and updates the firm sums; returns
    /// `Some(KillReason::Drawdown)` if this fill newly engaged the kill switch.
    ///
    /// A fill for an unknown instrument or of zero shares is ignored and counted in
    /// [`Risk::ignored_events`].
    #[inline]
    pub fn on_fill(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Option<KillReason> {
        let Some(slot) = self.slots.get_mut(usize::from(instrument.0)) else {
            self.ignored_events += 1;
            return None;
        };
        if qty.0 == 0 {
            self.ignored_events += 1;
            return None;
        }
        let before = slot.contribution();
        slot.apply_fill(side, price, qty);
        self.sums.replace(before, slot.contribution());
        self.check_drawdown()
    }

    /// Sets the reference (mid or last) price, re-marks the instrument and the firm
    /// exposure; returns `Some(KillReason::Drawdown)` if this newly engaged the kill
    /// switch.
    ///
    /// A non-positive price or an unknown instrument is ignored and counted in
    /// [`Risk::ignored_events`].
    #[inline]
    pub fn on_reference(&mut self, instrument: InstrumentId, price: Price) -> Option<KillReason> {
        let slot = match self.slots.get_mut(usize::from(instrument.0)) {
            Some(slot) if price.0 > 0 => slot,
            _ => {
                self.ignored_events += 1;
                return None;
            }
        };
        let before = slot.contribution();
        slot.reference = price.0;
        self.sums.replace(before, slot.contribution());
        self.check_drawdown()
    }

    fn drawdown_breached(&self) -> bool {
        let limit = self.firm.max_drawdown;
        limit > 0 && self.sums.realised + self.sums.unrealised <= -i128::from(limit)
    }

    #[inline]
    fn check_drawdown(&mut self) -> Option<KillReason> {
        (self.drawdown_breached() && self.kill(KillReason::Drawdown))
            .then_some(KillReason::Drawdown)
    }

    /// Signed position of an instrument in shares (0 for an unknown id).
    #[must_use]
    pub fn position(&self, id: InstrumentId) -> i64 {
        self.slots.get(usize::from(id.0)).map_or(0, |s| s.position)
    }

    /// Position and PnL of one instrument, or `None` for an unknown id.
    #[must_use]
    pub fn pnl(&self, id: InstrumentId) -> Option<Pnl> {
        self.slots.get(usize::from(id.0)).map(Slot::pnl)
    }

    /// Firm-wide PnL and exposure, kept incrementally (O(1)).
    #[must_use]
    pub fn totals(&self) -> Totals {
        let s = &self.sums;
        Totals {
            realised: saturate(s.realised),
            unrealised: saturate(s.unrealised),
            total: saturate(s.realised + s.unrealised),
            gross_exposure: saturate(s.gross),
            net_exposure: saturate(s.net),
        }
    }

    /// Engages the kill switch; returns `true` if it was not already engaged. The
    /// first reason sticks until [`Risk::rearm`].
    pub fn kill(&mut self, reason: KillReason) -> bool {
        if self.killed.is_some() {
            return false;
        }
        self.killed = Some(reason);
        self.kill_event = Some(reason);
        true
    }

    /// Why the kill switch is engaged, if it is.
    #[must_use]
    pub fn killed(&self) -> Option<KillReason> {
        self.killed
    }

    /// Takes the pending "kill switch newly engaged" event, from any source
    /// (manual, drawdown on a fill or reference, a lowered limit); the engine polls
    /// this to cancel everything once.
    pub fn take_kill_event(&mut self) -> Option<KillReason> {
        self.kill_event.take()
    }

    /// Clears the kill switch (and any pending kill event), unless the drawdown
    /// condition still holds, whatever the original reason.
    pub fn rearm(&mut self) -> Result<(), RearmRefused> {
        if self.drawdown_breached() {
            return Err(RearmRefused::Drawdown {
                total: saturate(self.sums.realised + self.sums.unrealised),
                max_drawdown: self.firm.max_drawdown,
            });
        }
        self.killed = None;
        self.kill_event = None;
        Ok(())
    }

    /// Enters or leaves reduce-only mode.
    pub fn set_reduce_only(&mut self, on: bool) {
        self.reduce_only = on;
    }

    /// True in reduce-only mode.
    #[must_use]
    pub fn reduce_only(&self) -> bool {
        self.reduce_only
    }

    /// Number of checks run.
    #[must_use]
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Number of checks accepted.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Rejections per reason (index = `reason as usize`).
    #[must_use]
    pub fn reject_counts(&self) -> [u64; Reject::COUNT] {
        self.rejects
    }

    /// Rejections for one reason.
    #[must_use]
    pub fn rejects(&self, reason: Reject) -> u64 {
        self.rejects[reason as usize]
    }

    /// Fills and references ignored (unknown instrument, zero qty, non-positive reference).
    #[must_use]
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    /// Whole throttle tokens left as of the last check.
    #[must_use]
    pub fn throttle_tokens(&self) -> u64 {
        self.bucket.tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        Slot {
            limits: InstrumentLimits {
                max_order_qty: 1,
                max_order_notional: 1,
                price_band_bps: 1,
                max_position: 0,
            },
            position: 0,
            cost: 0,
            realised: 0,
            reference: 0,
        }
    }

    #[test]
    fn avg_price_rounds_half_away_from_zero() {
        assert_eq!(avg_price(0, 0), 0);
        assert_eq!(avg_price(10, 4), 3); // 2.5 -> 3
        assert_eq!(avg_price(-10, -4), 3);
        assert_eq!(avg_price(9, 4), 2); // 2.25 -> 2
        assert_eq!(avg_price(-10, 4), -3);
    }

    #[test]
    fn uneven_partial_close_keeps_realised_plus_cost_exact() {
        // Buy 1 @ 10 and 2 @ 11: cost 32 over 3 shares; sell 1 @ 12.
        let mut s = slot();
        s.apply_fill(Side::Buy, Price(10), Qty(1));
        s.apply_fill(Side::Buy, Price(11), Qty(2));
        s.apply_fill(Side::Sell, Price(12), Qty(1));
        // released = 32 * 1 / 3 = 10 (truncated); realised = 12 - 10.
        assert_eq!((s.position, s.cost, s.realised), (2, 22, 2));
        // Cash flow: -10 - 22 + 12 = -20; realised - cost must equal it.
        assert_eq!(s.realised - s.cost, -20);
        s.apply_fill(Side::Sell, Price(12), Qty(2));
        assert_eq!((s.position, s.cost, s.realised), (0, 0, 4));
    }

    #[test]
    fn saturate_clamps_both_ways() {
        assert_eq!(saturate(i128::MAX), i64::MAX);
        assert_eq!(saturate(i128::MIN), i64::MIN);
        assert_eq!(saturate(-5), -5);
    }
}
