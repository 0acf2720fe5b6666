//! One test per pre-trade check: it rejects exactly what it must, with its own
//! reason, and accepts the boundary.

mod common;

use common::*;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_risk::{
    FirmLimits, InstrumentLimits, KillReason, OrderCheck, Reject, RiskConfig, RiskError, Working,
};

fn replace(side: Side, price: i64, qty: u64, old_qty: u64) -> OrderCheck {
    OrderCheck {
        replaces: Some((Price(REF), Qty(old_qty))),
        ..order(INST, side, price, qty)
    }
}

#[test]
fn killed_risk_rejects_every_order_with_kill_switch_until_rearmed() {
    let mut risk = risk();
    assert!(risk.kill(KillReason::Manual));
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::KillSwitch)
    );
    assert_eq!(
        risk.check(0, &order(InstrumentId(999), Side::Buy, 0, 0), &none(), 0),
        Err(Reject::KillSwitch),
        "the kill switch is checked before anything else"
    );
    assert_eq!(risk.rearm(), Ok(()));
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
}

#[test]
fn order_for_id_at_instrument_count_is_rejected_with_unknown_instrument() {
    let mut risk = risk();
    let last = InstrumentId(u16::try_from(INSTRUMENTS - 1).unwrap());
    let beyond = InstrumentId(u16::try_from(INSTRUMENTS).unwrap());
    assert_eq!(
        risk.check(0, &order(last, Side::Buy, REF, 1), &none(), 0),
        Ok(())
    );
    assert_eq!(
        risk.check(0, &order(beyond, Side::Buy, REF, 1), &none(), 0),
        Err(Reject::UnknownInstrument)
    );
}

#[test]
fn zero_qty_or_non_positive_price_is_rejected_with_invalid_order() {
    let mut risk = risk();
    assert_eq!(
        risk.check(0, &buy(REF, 0), &none(), 0),
        Err(Reject::InvalidOrder)
    );
    assert_eq!(
        risk.check(0, &sell(0, 1), &none(), 0),
        Err(Reject::InvalidOrder)
    );
    assert_eq!(
        risk.check(0, &sell(-1, 1), &none(), 0),
        Err(Reject::InvalidOrder)
    );
    assert_eq!(risk.check(0, &sell(REF, 1), &none(), 0), Ok(()));
}

#[test]
fn replace_releasing_more_than_working_on_its_side_is_rejected_with_invalid_order() {
    let mut risk = risk();
    // 50 shares working on the buy side, but the replace claims to release 51.
    let working = open(50, 1_000);
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 10, 51), &working, 0),
        Err(Reject::InvalidOrder)
    );
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 10, 50), &working, 0),
        Ok(())
    );
}

#[test]
fn order_one_share_over_max_qty_is_rejected_with_max_order_qty() {
    let mut risk = risk();
    let max = instrument().max_order_qty;
    assert_eq!(risk.check(0, &buy(REF, max), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, max + 1), &none(), 0),
        Err(Reject::MaxOrderQty)
    );
    assert_eq!(
        risk.check(0, &sell(REF, max + 1), &none(), 0),
        Err(Reject::MaxOrderQty)
    );
}

#[test]
fn order_one_raw_unit_over_max_notional_is_rejected_with_max_order_notional() {
    let mut cfg = config();
    cfg.default_instrument.max_order_notional = REF * 100;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.check(0, &buy(REF, 100), &none(), 0), Ok(()));
    // 100 shares one tick (raw unit) higher: 100 raw over the limit.
    assert_eq!(
        risk.check(0, &sell(REF + 1, 100), &none(), 0),
        Err(Reject::MaxOrderNotional)
    );
    // At 80.0000 the limit is 125 shares.
    let lower = REF * 8 / 10;
    assert_eq!(risk.check(0, &buy(lower, 125), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(lower, 126), &none(), 0),
        Err(Reject::MaxOrderNotional)
    );
}

#[test]
fn order_before_any_reference_is_rejected_with_no_reference() {
    let mut risk = quotewire_risk::Risk::new(&config()).unwrap();
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::NoReference)
    );
    assert_eq!(risk.on_reference(INST, Price(0)), None);
    assert_eq!(risk.ignored_events(), 1);
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::NoReference),
        "a non-positive reference is ignored"
    );
    assert_eq!(risk.on_reference(INST, Price(REF)), None);
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
}

#[test]
fn price_one_unit_outside_the_band_is_rejected_with_price_band() {
    let mut cfg = config();
    cfg.default_instrument.price_band_bps = 100; // 1% of 100.0000 = 1.0000 = 10_000 raw
    let mut risk = risk_with(&cfg);
    for (price, expect) in [
        (REF + 10_000, Ok(())),
        (REF + 10_001, Err(Reject::PriceBand)),
        (REF - 10_000, Ok(())),
        (REF - 10_001, Err(Reject::PriceBand)),
    ] {
        assert_eq!(
            risk.check(0, &buy(price, 1), &none(), 0),
            expect,
            "buy at {price}"
        );
        assert_eq!(
            risk.check(0, &sell(price, 1), &none(), 0),
            expect,
            "sell at {price}"
        );
    }
}

#[test]
fn price_band_follows_the_latest_reference() {
    let mut cfg = config();
    cfg.default_instrument.price_band_bps = 100;
    let mut risk = risk_with(&cfg);
    assert_eq!(
        risk.check(0, &buy(REF + 20_000, 1), &none(), 0),
        Err(Reject::PriceBand)
    );
    assert_eq!(risk.on_reference(INST, Price(REF + 20_000)), None);
    assert_eq!(risk.check(0, &buy(REF + 20_000, 1), &none(), 0), Ok(()));
}

#[test]
fn worst_case_position_one_share_over_max_is_rejected_with_position_limit() {
    let mut cfg = config();
    cfg.default_instrument.max_position = 1_000;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.on_fill(INST, Side::Buy, Price(REF), Qty(500)), None);
    // Buy: 500 held + 300 working + 200 = 1_000.
    assert_eq!(risk.check(0, &buy(REF, 200), &open(300, 0), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 201), &open(300, 0), 0),
        Err(Reject::PositionLimit)
    );
    // Sell: 500 held - 1_200 working - 300 = -1_000.
    assert_eq!(risk.check(0, &sell(REF, 300), &open(0, 1_200), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 301), &open(0, 1_200), 0),
        Err(Reject::PositionLimit)
    );
}

#[test]
fn replace_counts_its_new_qty_instead_of_the_released_qty_for_position_limit() {
    let mut cfg = config();
    cfg.default_instrument.max_position = 1_000;
    let mut risk = risk_with(&cfg);
    // 1_000 working on the buy side, of which the replaced order holds 400.
    let working = open(1_000, 0);
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 400, 400), &working, 0),
        Ok(())
    );
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 401, 400), &working, 0),
        Err(Reject::PositionLimit)
    );
}

#[test]
fn position_left_over_a_lowered_limit_can_still_be_reduced_but_not_grown() {
    let mut risk = risk();
    assert_eq!(risk.on_fill(INST, Side::Buy, Price(REF), Qty(2_000)), None);
    let lowered = InstrumentLimits {
        max_position: 1_000,
        ..instrument()
    };
    risk.set_instrument_limits(INST, lowered).unwrap();
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::PositionLimit)
    );
    assert_eq!(risk.check(0, &sell(REF, 100), &none(), 0), Ok(()));
    assert_eq!(risk.check(0, &sell(REF, 2_000), &none(), 0), Ok(()));
    // Crossing flat is checked as usual: -1_000 is within the limit, -1_001 is not.
    assert_eq!(risk.check(0, &sell(REF, 3_000), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 3_001), &none(), 0),
        Err(Reject::PositionLimit)
    );
}

#[test]
fn worst_case_gross_exposure_one_unit_over_max_is_rejected_with_gross_exposure() {
    let mut cfg = config();
    // Room for 300 shares at 100.0000 firm-wide.
    cfg.firm.max_gross_exposure = 300 * REF;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.on_fill(OTHER, Side::Sell, Price(REF), Qty(100)), None);
    assert_eq!(risk.totals().gross_exposure, 100 * REF);
    // 100 short elsewhere + 150 long here (50 working + 100) = 250; one more share each way.
    assert_eq!(risk.check(0, &buy(REF, 150), &open(50, 0), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 151), &open(50, 0), 0),
        Err(Reject::GrossExposure)
    );
    assert_eq!(risk.check(0, &sell(REF, 200), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 201), &none(), 0),
        Err(Reject::GrossExposure)
    );
    // Exposure is at the reference price, not the order price.
    assert_eq!(risk.check(0, &buy(REF - 50_000, 200), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF - 50_000, 201), &none(), 0),
        Err(Reject::GrossExposure)
    );
}

#[test]
fn gross_exposure_uses_the_latest_reference_prices() {
    let mut cfg = config();
    cfg.firm.max_gross_exposure = 300 * REF;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.on_fill(OTHER, Side::Buy, Price(REF), Qty(100)), None);
    assert_eq!(risk.check(0, &buy(REF, 200), &none(), 0), Ok(()));
    // OTHER doubles: 100 shares now count as 200 * REF.
    assert_eq!(risk.on_reference(OTHER, Price(2 * REF)), None);
    assert_eq!(risk.totals().gross_exposure, 200 * REF);
    assert_eq!(
        risk.check(0, &buy(REF, 101), &none(), 0),
        Err(Reject::GrossExposure)
    );
    assert_eq!(risk.check(0, &buy(REF, 100), &none(), 0), Ok(()));
}

#[test]
fn worst_case_net_exposure_one_unit_over_max_is_rejected_with_net_exposure() {
    let mut cfg = config();
    cfg.firm.max_net_exposure = 300 * REF;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.on_fill(OTHER, Side::Buy, Price(REF), Qty(100)), None);
    assert_eq!(risk.check(0, &buy(REF, 200), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 201), &none(), 0),
        Err(Reject::NetExposure)
    );
    // Short here offsets the long elsewhere: net -300 is the boundary.
    assert_eq!(risk.check(0, &sell(REF, 400), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF, 401), &none(), 0),
        Err(Reject::NetExposure)
    );
}

#[test]
fn order_that_shrinks_net_exposure_over_the_limit_is_accepted() {
    let mut risk = risk();
    assert_eq!(risk.on_fill(OTHER, Side::Buy, Price(REF), Qty(500)), None);
    let tighter = FirmLimits {
        max_net_exposure: 100 * REF,
        ..firm()
    };
    risk.set_firm_limits(tighter).unwrap();
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 0),
        Err(Reject::NetExposure)
    );
    assert_eq!(risk.check(0, &sell(REF, 100), &none(), 0), Ok(()));
}

#[test]
fn new_order_at_max_open_orders_is_rejected_but_a_replace_is_not() {
    let mut cfg = config();
    cfg.firm.max_open_orders = 10;
    let mut risk = risk_with(&cfg);
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 9), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 10),
        Err(Reject::MaxOpenOrders)
    );
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 5, 5), &open(5, 0), 10),
        Ok(())
    );
}

#[test]
fn order_at_or_through_our_own_opposite_quote_is_rejected_with_self_cross() {
    let mut risk = risk();
    let ours = Working {
        best_bid: Some(Price(REF - 100)),
        best_ask: Some(Price(REF + 100)),
        ..open(10, 10)
    };
    assert_eq!(risk.check(0, &buy(REF + 99, 1), &ours, 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF + 100, 1), &ours, 0),
        Err(Reject::SelfCross)
    );
    assert_eq!(
        risk.check(0, &buy(REF + 200, 1), &ours, 0),
        Err(Reject::SelfCross)
    );
    assert_eq!(risk.check(0, &sell(REF - 99, 1), &ours, 0), Ok(()));
    assert_eq!(
        risk.check(0, &sell(REF - 100, 1), &ours, 0),
        Err(Reject::SelfCross)
    );
    // Our own quote on the same side never blocks.
    let bids_only = Working {
        best_bid: Some(Price(REF)),
        ..open(10, 0)
    };
    assert_eq!(risk.check(0, &buy(REF + 500, 1), &bids_only, 0), Ok(()));
}

#[test]
fn order_beyond_burst_is_rejected_with_throttle_until_a_token_refills() {
    let mut cfg = config();
    cfg.firm.orders_per_sec = 2; // one token per 500 ms
    cfg.firm.burst = 3;
    let mut risk = risk_with(&cfg);
    let t0 = 1_000_000_000;
    for _ in 0..3 {
        assert_eq!(risk.check(t0, &buy(REF, 1), &none(), 0), Ok(()));
    }
    assert_eq!(
        risk.check(t0, &buy(REF, 1), &none(), 0),
        Err(Reject::Throttle)
    );
    assert_eq!(
        risk.check(t0 + 499_999_999, &buy(REF, 1), &none(), 0),
        Err(Reject::Throttle)
    );
    assert_eq!(
        risk.check(t0 + 500_000_000, &buy(REF, 1), &none(), 0),
        Ok(())
    );
    assert_eq!(
        risk.check(t0 + 500_000_000, &buy(REF, 1), &none(), 0),
        Err(Reject::Throttle)
    );
}

#[test]
fn throttle_refills_at_most_burst_over_a_long_quiet_spell() {
    let mut cfg = config();
    cfg.firm.orders_per_sec = 10;
    cfg.firm.burst = 5;
    let mut risk = risk_with(&cfg);
    let mut t = 0;
    while risk.check(t, &buy(REF, 1), &none(), 0).is_ok() {}
    // An hour later the bucket holds exactly `burst` tokens.
    t += 3_600_000_000_000;
    let accepted = (0..20)
        .filter(|_| risk.check(t, &buy(REF, 1), &none(), 0).is_ok())
        .count();
    assert_eq!(accepted, 5);
}

#[test]
fn throttle_admits_orders_per_sec_over_simulated_time() {
    let mut cfg = config();
    cfg.firm.orders_per_sec = 100;
    cfg.firm.burst = 1;
    let mut risk = risk_with(&cfg);
    // Try every 100 us for 10 simulated seconds after draining the initial token.
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
    let accepted = (1..=100_000_u64)
        .filter(|i| risk.check(i * 100_000, &buy(REF, 1), &none(), 0).is_ok())
        .count();
    assert_eq!(accepted, 1_000);
    assert_eq!(risk.rejects(Reject::Throttle), 99_000);
}

#[test]
fn replaces_consume_tokens_and_rejected_orders_do_not() {
    let mut cfg = config();
    cfg.firm.orders_per_sec = 1;
    cfg.firm.burst = 2;
    let mut risk = risk_with(&cfg);
    let too_big = buy(REF, instrument().max_order_qty + 1);
    for _ in 0..10 {
        assert_eq!(
            risk.check(0, &too_big, &none(), 0),
            Err(Reject::MaxOrderQty)
        );
    }
    assert_eq!(risk.throttle_tokens(), 2);
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 1, 1), &open(1, 0), 0),
        Ok(())
    );
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &replace(Side::Buy, REF, 1, 1), &open(1, 0), 0),
        Err(Reject::Throttle)
    );
}

#[test]
fn first_failing_check_in_order_is_the_reason() {
    let mut cfg = config();
    cfg.default_instrument.price_band_bps = 100;
    let mut risk = risk_with(&cfg);
    let max = instrument().max_order_qty;
    // Too big and out of band: the quantity check runs first.
    assert_eq!(
        risk.check(0, &buy(2 * REF, max + 1), &none(), 0),
        Err(Reject::MaxOrderQty)
    );
    // Out of band and self-crossing: the band runs first.
    let ours = Working {
        best_ask: Some(Price(REF)),
        ..none()
    };
    assert_eq!(
        risk.check(0, &buy(2 * REF, 1), &ours, 0),
        Err(Reject::PriceBand)
    );
}

#[test]
fn limits_changed_while_running_apply_to_the_next_check() {
    let mut risk = risk();
    assert_eq!(risk.check(0, &buy(REF, 500), &none(), 0), Ok(()));
    let tighter = InstrumentLimits {
        max_order_qty: 499,
        ..instrument()
    };
    risk.set_instrument_limits(INST, tighter).unwrap();
    assert_eq!(risk.instrument_limits(INST), Some(tighter));
    assert_eq!(
        risk.check(0, &buy(REF, 500), &none(), 0),
        Err(Reject::MaxOrderQty)
    );
    assert_eq!(
        risk.check(0, &order(OTHER, Side::Buy, REF, 500), &none(), 0),
        Ok(()),
        "other instruments keep their limits"
    );

    let firm = FirmLimits {
        max_open_orders: 3,
        ..firm()
    };
    risk.set_firm_limits(firm).unwrap();
    assert_eq!(risk.firm_limits(), firm);
    assert_eq!(
        risk.check(0, &buy(REF, 1), &none(), 3),
        Err(Reject::MaxOpenOrders)
    );
}

#[test]
fn invalid_limit_change_is_refused_and_the_old_limits_stay() {
    let mut risk = risk();
    let bad = InstrumentLimits {
        max_order_qty: 0,
        ..instrument()
    };
    assert_eq!(
        risk.set_instrument_limits(INST, bad),
        Err(RiskError::OutOfRange {
            field: "instrument.max_order_qty",
            value: 0,
            min: 1,
            max: i128::from(i64::MAX),
        })
    );
    assert_eq!(risk.instrument_limits(INST), Some(instrument()));
    assert_eq!(
        risk.set_instrument_limits(InstrumentId(100), instrument()),
        Err(RiskError::UnknownInstrument {
            id: 100,
            instruments: INSTRUMENTS
        })
    );
    let bad_firm = FirmLimits {
        orders_per_sec: 0,
        ..firm()
    };
    let err = risk.set_firm_limits(bad_firm).unwrap_err();
    assert!(
        err.to_string().starts_with("firm.orders_per_sec = 0"),
        "{err}"
    );
    assert_eq!(risk.firm_limits(), firm());
}

#[test]
fn invalid_config_is_refused_at_construction() {
    let cfg = RiskConfig {
        instruments: 0,
        ..config()
    };
    assert!(matches!(
        quotewire_risk::Risk::new(&cfg),
        Err(RiskError::OutOfRange {
            field: "config.instruments",
            ..
        })
    ));
}

#[test]
fn every_check_is_counted_as_accepted_or_under_its_reason() {
    let mut risk = risk();
    assert_eq!(risk.check(0, &buy(REF, 1), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 0), &none(), 0),
        Err(Reject::InvalidOrder)
    );
    assert_eq!(
        risk.check(0, &buy(-5, 1), &none(), 0),
        Err(Reject::InvalidOrder)
    );
    let ours = Working {
        best_ask: Some(Price(REF)),
        ..none()
    };
    assert_eq!(
        risk.check(0, &buy(REF, 1), &ours, 0),
        Err(Reject::SelfCross)
    );
    assert_eq!(risk.checks(), 4);
    assert_eq!(risk.accepted(), 1);
    let counts = risk.reject_counts();
    for reason in Reject::ALL {
        let expect = match reason {
            Reject::InvalidOrder => 2,
            Reject::SelfCross => 1,
            _ => 0,
        };
        assert_eq!(counts[reason as usize], expect, "{reason}");
        assert_eq!(risk.rejects(reason), expect);
    }
    assert_eq!(risk.accepted() + counts.iter().sum::<u64>(), risk.checks());
}

#[test]
fn gross_exposure_over_a_lowered_limit_can_still_be_reduced() {
    let mut risk = risk();
    assert_eq!(risk.on_fill(INST, Side::Sell, Price(REF), Qty(500)), None);
    let tighter = FirmLimits {
        max_gross_exposure: 100 * REF,
        ..firm()
    };
    risk.set_firm_limits(tighter).unwrap();
    assert_eq!(
        risk.check(0, &sell(REF, 1), &none(), 0),
        Err(Reject::GrossExposure)
    );
    assert_eq!(risk.check(0, &buy(REF, 500), &none(), 0), Ok(()));
    assert_eq!(
        risk.check(0, &buy(REF, 600), &none(), 0),
        Ok(()),
        "ends 100 long"
    );
    assert_eq!(
        risk.check(0, &buy(REF, 601), &none(), 0),
        Err(Reject::GrossExposure)
    );
}
