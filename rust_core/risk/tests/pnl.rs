//! Positions, average-cost PnL and firm exposure.

mod common;

use common::*;
use proptest::prelude::*;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_risk::{Pnl, Risk};

fn fill(risk: &mut Risk, id: InstrumentId, side: Side, price: i64, qty: u64) {
    assert_eq!(risk.on_fill(id, side, Price(price), Qty(qty)), None);
}

fn pnl(risk: &Risk) -> Pnl {
    risk.pnl(INST).unwrap()
}

#[test]
fn long_round_trip_realises_the_price_difference() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Buy, 100_000, 100);
    fill(&mut risk, INST, Side::Sell, 105_000, 100);
    let p = pnl(&risk);
    assert_eq!(p.position, 0);
    assert_eq!(p.avg_price, Price(0));
    assert_eq!(p.realised, 100 * 5_000);
    assert_eq!(p.unrealised, 0);
}

#[test]
fn short_round_trip_at_a_higher_price_realises_a_loss() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Sell, 100_000, 40);
    fill(&mut risk, INST, Side::Buy, 101_000, 40);
    assert_eq!(pnl(&risk).realised, -40 * 1_000);
    assert_eq!(risk.position(INST), 0);
}

#[test]
fn adding_to_a_position_averages_its_cost() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Buy, 100_000, 100);
    fill(&mut risk, INST, Side::Buy, 120_000, 300);
    let p = pnl(&risk);
    assert_eq!(p.position, 400);
    assert_eq!(p.avg_price, Price(115_000));
    assert_eq!(p.realised, 0);
}

#[test]
fn partial_close_realises_against_average_cost_and_keeps_it() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Buy, 100_000, 100);
    fill(&mut risk, INST, Side::Buy, 120_000, 100);
    fill(&mut risk, INST, Side::Sell, 130_000, 50);
    assert_eq!(risk.on_reference(INST, Price(125_000)), None);
    let p = pnl(&risk);
    assert_eq!(p.position, 150);
    assert_eq!(p.avg_price, Price(110_000));
    assert_eq!(p.realised, 50 * 20_000);
    assert_eq!(p.unrealised, 150 * 15_000);
    assert_eq!(p.reference, Some(Price(125_000)));
}

#[test]
fn sell_through_zero_closes_the_long_and_opens_a_short_at_the_fill_price() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Buy, 100_000, 100);
    fill(&mut risk, INST, Side::Sell, 110_000, 150);
    assert_eq!(risk.on_reference(INST, Price(108_000)), None);
    let p = pnl(&risk);
    assert_eq!(p.position, -50);
    assert_eq!(p.avg_price, Price(110_000));
    assert_eq!(p.realised, 100 * 10_000);
    assert_eq!(p.unrealised, 50 * 2_000);
}

#[test]
fn buy_through_zero_closes_the_short_and_opens_a_long() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Sell, 100_000, 30);
    fill(&mut risk, INST, Side::Buy, 90_000, 100);
    let p = pnl(&risk);
    assert_eq!(p.position, 70);
    assert_eq!(p.avg_price, Price(90_000));
    assert_eq!(p.realised, 30 * 10_000);
}

#[test]
fn position_without_a_reference_is_marked_at_cost() {
    let mut risk = Risk::new(&config()).unwrap();
    fill(&mut risk, INST, Side::Buy, 100_000, 10);
    let p = pnl(&risk);
    assert_eq!((p.unrealised, p.reference), (0, None));
    assert_eq!(risk.totals().gross_exposure, 10 * 100_000);
    assert_eq!(risk.on_reference(INST, Price(100_500)), None);
    assert_eq!(pnl(&risk).unrealised, 10 * 500);
    assert_eq!(risk.totals().gross_exposure, 10 * 100_500);
}

#[test]
fn totals_sum_instruments_and_net_offsets_long_against_short() {
    let mut risk = risk();
    fill(&mut risk, INST, Side::Buy, REF, 100);
    fill(&mut risk, OTHER, Side::Sell, REF, 60);
    fill(&mut risk, OTHER, Side::Buy, REF - 1_000, 20);
    assert_eq!(risk.on_reference(INST, Price(REF + 500)), None);
    assert_eq!(risk.on_reference(OTHER, Price(REF - 2_000)), None);
    let t = risk.totals();
    assert_eq!(t.realised, 20 * 1_000);
    assert_eq!(t.unrealised, 100 * 500 + 40 * 2_000);
    assert_eq!(t.total, t.realised + t.unrealised);
    assert_eq!(t.gross_exposure, 100 * (REF + 500) + 40 * (REF - 2_000));
    assert_eq!(t.net_exposure, 100 * (REF + 500) - 40 * (REF - 2_000));
}

#[test]
fn fills_for_unknown_instruments_or_zero_qty_are_ignored_and_counted() {
    let mut risk = risk();
    fill(&mut risk, InstrumentId(500), Side::Buy, REF, 10);
    fill(&mut risk, INST, Side::Buy, REF, 0);
    assert_eq!(risk.ignored_events(), 2);
    assert_eq!(risk.position(INST), 0);
    assert_eq!(risk.position(InstrumentId(500)), 0);
    assert!(risk.pnl(InstrumentId(500)).is_none());
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Fill {
        inst: u16,
        buy: bool,
        price: i64,
        qty: u64,
    },
    Reference {
        inst: u16,
        price: i64,
    },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0..3_u16, any::<bool>(), 1..2_000_000_i64, 1..5_000_u64)
            .prop_map(|(inst, buy, price, qty)| Event::Fill { inst, buy, price, qty }),
        1 => (0..3_u16, 1..2_000_000_i64).prop_map(|(inst, price)| Event::Reference { inst, price }),
    ]
}

proptest! {
    /// Realised + unrealised equals the cash-flow PnL, per instrument and firm-wide,
    /// and the incremental exposure equals a from-scratch sum.
    #[test]
    fn realised_plus_unrealised_equals_cash_flow_pnl(
        events in prop::collection::vec(event(), 1..200),
        marks in prop::array::uniform3(1..2_000_000_i64),
    ) {
        let mut risk = Risk::new(&config()).unwrap();
        let mut cash = [0_i128; 3];
        let mut position = [0_i128; 3];
        for e in &events {
            match *e {
                Event::Fill { inst, buy, price, qty } => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let _ = risk.on_fill(InstrumentId(inst), side, Price(price), Qty(qty));
                    let s = if buy { 1 } else { -1 };
                    cash[usize::from(inst)] -= s * i128::from(price) * i128::from(qty);
                    position[usize::from(inst)] += s * i128::from(qty);
                }
                Event::Reference { inst, price } => {
                    let _ = risk.on_reference(InstrumentId(inst), Price(price));
                }
            }
        }
        for (i, mark) in marks.iter().enumerate() {
            let _ = risk.on_reference(InstrumentId(i as u16), Price(*mark));
        }
        let (mut total, mut gross, mut net) = (0_i128, 0_i128, 0_i128);
        for i in 0..3 {
            let p = risk.pnl(InstrumentId(i as u16)).unwrap();
            let value = position[i] * i128::from(marks[i]);
            prop_assert_eq!(i128::from(p.position), position[i]);
            prop_assert_eq!(
                i128::from(p.realised) + i128::from(p.unrealised),
                cash[i] + value
            );
            if p.position == 0 {
                prop_assert_eq!(p.unrealised, 0);
                prop_assert_eq!(p.avg_price, Price(0));
            }
            total += cash[i] + value;
            gross += value.abs();
            net += value;
        }
        let t = risk.totals();
        prop_assert_eq!(i128::from(t.total), total);
        prop_assert_eq!(i128::from(t.realised) + i128::from(t.unrealised), total);
        prop_assert_eq!(i128::from(t.gross_exposure), gross);
        prop_assert_eq!(i128::from(t.net_exposure), net);
    }

    /// Fills all at one price realise nothing and keep that price as the average.
    #[test]
    fn trading_at_a_single_price_realises_nothing(
        fills in prop::collection::vec((any::<bool>(), 1..10_000_u64), 1..100),
    ) {
        let mut risk = risk();
        for (buy, qty) in fills {
            let side = if buy { Side::Buy } else { Side::Sell };
            let _ = risk.on_fill(INST, side, Price(REF), Qty(qty));
        }
        let p = risk.pnl(INST).unwrap();
        prop_assert_eq!(p.realised, 0);
        prop_assert_eq!(p.unrealised, 0);
        if p.position != 0 {
            prop_assert_eq!(p.avg_price, Price(REF));
        }
    }
}
