//! The kill switch: drawdown, manual kills, rearm, reduce-only mode.

mod common;

use common::*;
use quotewire_core::{Price, Qty, Side};
use quotewire_risk::{FirmLimits, KillReason, RearmRefused, Reject, Risk};

/// Long 100 shares at `REF` with the given drawdown limit.
fn long_100(max_drawdown: i64) -> Risk {
    let mut cfg = config();
    cfg.firm.max_drawdown = max_drawdown;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.on_fill(INST, Side::Buy, Price(REF), Qty(100)), None);
    risk
}

#[test]
fn reference_drop_to_exactly_max_drawdown_kills_once() {
    let mut risk = long_100(100 * 500);
    // 100 shares down 499 raw: -49_900 > -50_000, still trading.
    assert_eq!(risk.on_reference(INST, Price(REF - 499)), None);
    assert_eq!(risk.killed(), None);
    assert_eq!(
        risk.on_reference(INST, Price(REF - 500)),
        Some(KillReason::Drawdown)
    );
    assert_eq!(risk.killed(), Some(KillReason::Drawdown));
    assert_eq!(risk.take_kill_event(), Some(KillReason::Drawdown));
    assert_eq!(risk.take_kill_event(), None, "the event is reported once");
    assert_eq!(
        risk.on_reference(INST, Price(REF - 600)),
        None,
        "already killed: no new event"
    );
    assert_eq!(risk.take_kill_event(), None);
    assert_eq!(
        risk.check(0, &sell(REF, 1), &none(), 0),
        Err(Reject::KillSwitch)
    );
}

#[test]
fn realised_loss_on_a_fill_kills() {
    let mut risk = long_100(100 * 500);
    assert_eq!(
        risk.on_fill(INST, Side::Sell, Price(REF - 500), Qty(100)),
        Some(KillReason::Drawdown)
    );
    assert_eq!(risk.totals().realised, -100 * 500);
}

#[test]
fn rearm_is_refused_while_the_drawdown_holds_and_allowed_after_recovery() {
    let mut risk = long_100(100 * 500);
    assert_eq!(
        risk.on_reference(INST, Price(REF - 1_000)),
        Some(KillReason::Drawdown)
    );
    assert_eq!(
        risk.rearm(),
        Err(RearmRefused::Drawdown {
            total: -100 * 1_000,
            max_drawdown: 100 * 500
        })
    );
    assert_eq!(risk.killed(), Some(KillReason::Drawdown));
    assert_eq!(risk.on_reference(INST, Price(REF - 400)), None);
    assert_eq!(risk.rearm(), Ok(()));
    assert_eq!(risk.killed(), None);
    assert_eq!(risk.take_kill_event(), None, "rearm clears a pending event");
    assert_eq!(risk.check(0, &sell(REF, 1), &none(), 0), Ok(()));
}

#[test]
fn raising_max_drawdown_lets_rearm_succeed() {
    let mut risk = long_100(100 * 500);
    assert!(risk.on_reference(INST, Price(REF - 1_000)).is_some());
    assert!(risk.rearm().is_err());
    let looser = FirmLimits {
        max_drawdown: 100 * 1_001,
        ..firm()
    };
    risk.set_firm_limits(looser).unwrap();
    assert_eq!(risk.rearm(), Ok(()));
}

#[test]
fn lowering_max_drawdown_below_the_current_loss_kills_immediately() {
    let mut risk = long_100(0);
    assert_eq!(risk.on_reference(INST, Price(REF - 1_000)), None);
    let tighter = FirmLimits {
        max_drawdown: 100 * 1_000,
        ..firm()
    };
    risk.set_firm_limits(tighter).unwrap();
    assert_eq!(risk.killed(), Some(KillReason::Drawdown));
    assert_eq!(risk.take_kill_event(), Some(KillReason::Drawdown));
}

#[test]
fn zero_max_drawdown_never_kills() {
    let mut risk = long_100(0);
    assert_eq!(risk.on_reference(INST, Price(1)), None);
    assert!(risk.totals().total < -90 * REF);
    assert_eq!(risk.killed(), None);
}

#[test]
fn first_kill_reason_sticks_and_rearm_still_checks_drawdown() {
    let mut risk = long_100(100 * 500);
    assert!(risk.kill(KillReason::StaleFeed));
    assert!(!risk.kill(KillReason::Manual));
    assert_eq!(risk.take_kill_event(), Some(KillReason::StaleFeed));
    assert_eq!(risk.on_reference(INST, Price(REF - 1_000)), None);
    assert_eq!(risk.killed(), Some(KillReason::StaleFeed));
    assert!(matches!(risk.rearm(), Err(RearmRefused::Drawdown { .. })));
    assert_eq!(risk.on_reference(INST, Price(REF)), None);
    assert_eq!(risk.rearm(), Ok(()));
}

#[test]
fn every_kill_reason_blocks_orders_and_rearms() {
    let mut risk = risk();
    for reason in KillReason::ALL {
        assert!(risk.kill(reason));
        assert_eq!(risk.killed(), Some(reason));
        assert_eq!(risk.take_kill_event(), Some(reason));
        assert_eq!(
            risk.check(0, &buy(REF, 1), &none(), 0),
            Err(Reject::KillSwitch)
        );
        assert_eq!(risk.rearm(), Ok(()));
        assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
    }
    assert_eq!(
        risk.rejects(Reject::KillSwitch),
        KillReason::ALL.len() as u64
    );
}

#[test]
fn reduce_only_while_flat_rejects_both_sides() {
    let mut risk = risk();
    risk.set_reduce_only(true);
    assert!(risk.reduce_only());
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::ReduceOnly)
    );
    assert_eq!(
        risk.check(0, &sell(REF, 1), &none(), 0),
        Err(Reject::ReduceOnly)
    );
    risk.set_reduce_only(false);
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
}

#[test]
fn reduce_only_when_long_allows_sells_down_to_flat_counting_working_sells() {
    let mut risk = long_100(0);
    risk.set_reduce_only(true);
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::ReduceOnly)
    );
    assert_eq!(risk.check(0, &sell(REF, 100), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 101), &none(), 0),
        Err(Reject::ReduceOnly)
    );
    assert_eq!(risk.check(0, &sell(REF, 60), &open(0, 40), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 61), &open(0, 40), 0),
        Err(Reject::ReduceOnly)
    );
}

#[test]
fn reduce_only_when_short_allows_buys_up_to_flat() {
    let mut risk = risk();
    assert_eq!(risk.on_fill(INST, Side::Sell, Price(REF), Qty(50)), None);
    risk.set_reduce_only(true);
    assert_eq!(
        risk.check(0, &sell(REF, 1), &none(), 0),
        Err(Reject::ReduceOnly)
    );
    assert_eq!(risk.check(0, &buy(REF, 30), &open(20, 0), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 31), &open(20, 0), 0),
        Err(Reject::ReduceOnly)
    );
}

#[test]
fn reduce_only_passes_a_reducing_position_through_a_lowered_position_limit() {
    let mut risk = long_100(0);
    let flatten_only = quotewire_risk::InstrumentLimits {
        max_position: 0,
        ..instrument()
    };
    risk.set_instrument_limits(INST, flatten_only).unwrap();
    risk.set_reduce_only(true);
    assert_eq!(risk.check(0, &sell(REF, 100), &none(), 0), Ok(()));
}
