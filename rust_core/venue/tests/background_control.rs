//! Adjusting the background market while it runs: a volatility raised tenfold
//! widens the mid's walk (in the model and in the prices the venue trades at),
//! rate changes take effect from the next step (a rate raised from zero starts
//! firing, one set to zero stops), bad values are refused without changing
//! anything, and a flow whose values are not changed stays deterministic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_venue::background::{
    BackgroundChange, BackgroundConfig, BackgroundError, BackgroundFlow, BackgroundInstrument,
    BackgroundParams,
};
use quotewire_venue::matching::{
    Command, FirmId, InstrumentConfig, MatchingEngine, OrderType, PriceBand, VenueConfig,
};
use quotewire_venue::runtime::OrderEntry;
use quotewire_venue::server::{BoxedGatewayFactory, RunningVenue, ServerConfig};

const TICK: i64 = 100;
const REFERENCE: i64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const START: u64 = 34_200 * SECOND;
const ID: InstrumentId = InstrumentId(1);
/// Traded by the venue, without background flow.
const QUIET: InstrumentId = InstrumentId(4);
const FIRST_FIRM: u32 = 700;
const FIRMS: u32 = 4;

fn venue_config() -> VenueConfig {
    VenueConfig {
        max_orders: 1 << 16,
        max_band_levels: 4096,
        instruments: [ID, QUIET]
            .iter()
            .map(|&id| InstrumentConfig {
                id,
                tick: Price(TICK),
                band: PriceBand::Around {
                    reference: Price(REFERENCE),
                    width: Price(1_000 * TICK),
                },
                max_order_qty: Qty(100_000),
            })
            .collect(),
        ..VenueConfig::default()
    }
}

fn engine() -> MatchingEngine {
    MatchingEngine::new(&venue_config()).expect("valid venue config")
}

fn flow_config(seed: u64, instrument: BackgroundInstrument) -> BackgroundConfig {
    BackgroundConfig {
        seed,
        firm: FirmId(FIRST_FIRM),
        firms: FIRMS,
        start_ns: Some(START),
        instruments: vec![instrument],
    }
}

fn instrument() -> BackgroundInstrument {
    BackgroundInstrument::new(ID, Price(REFERENCE + TICK / 2))
}

/// Polls `flow` every `step` from `from` to `to` (no events fed back); returns the commands.
fn run(flow: &mut BackgroundFlow, from: u64, to: u64, step: u64) -> Vec<Command> {
    let mut out = Vec::new();
    let mut now = from;
    while now < to {
        now = (now + step).min(to);
        flow.due(now, &mut out);
    }
    out
}

/// Realised variance per second, in ticks squared, of mids sampled every `step_ns`.
fn variance_per_second(mids: &[f64], step_ns: u64) -> f64 {
    let sum: f64 = mids
        .windows(2)
        .map(|w| ((w[1] - w[0]) / TICK as f64).powi(2))
        .sum();
    sum / ((mids.len() - 1) as f64 * step_ns as f64 / SECOND as f64)
}

fn count(commands: &[Command], kind: OrderType) -> usize {
    commands
        .iter()
        .filter(|c| matches!(c, Command::New(n) if n.order_type == kind))
        .count()
}

fn cancels(commands: &[Command]) -> usize {
    commands
        .iter()
        .filter(|c| matches!(c, Command::Cancel(_)))
        .count()
}

#[test]
fn raising_volatility_tenfold_mid_run_widens_the_modelled_mid_walk() {
    let cfg = flow_config(
        3,
        BackgroundInstrument {
            limit_rate: 500.0,
            ..instrument()
        },
    );
    let mut flow = BackgroundFlow::new(&cfg, &engine()).expect("valid");
    let control = flow.control();
    let step = 20 * MS;
    let phase = 100 * SECOND;
    let sample = |flow: &mut BackgroundFlow, from: u64| {
        let mut mids = Vec::new();
        let mut now = from;
        let mut sink = Vec::new();
        while now < from + phase {
            now += step;
            flow.due(now, &mut sink);
            let mid = control.mid(ID).expect("driven");
            assert_eq!(
                Some(mid),
                flow.mid(ID),
                "the control publishes the flow's mid"
            );
            mids.push(mid);
        }
        mids
    };
    let calm = variance_per_second(&sample(&mut flow, START), step);
    flow.control()
        .set(
            ID,
            BackgroundChange {
                volatility_ticks_per_sqrt_s: Some(10.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid change");
    let stormy = variance_per_second(&sample(&mut flow, START + phase), step);
    assert!(
        (0.6..1.6).contains(&calm),
        "1 tick/sqrt(s) gives about 1 tick^2/s, got {calm}"
    );
    assert!(
        stormy > 30.0 * calm,
        "10x the volatility is ~100x the variance: {calm} -> {stormy}"
    );
}

#[test]
fn rate_changes_take_effect_from_the_next_step() {
    let cfg = flow_config(
        5,
        BackgroundInstrument {
            limit_rate: 50.0,
            market_rate: 0.0,
            cancel_rate: 0.5,
            ..instrument()
        },
    );
    let mut flow = BackgroundFlow::new(&cfg, &engine()).expect("valid");
    let control = flow.control();
    let phase = 20 * SECOND;
    let before = run(&mut flow, START, START + phase, MS);
    assert_eq!(
        count(&before, OrderType::Ioc),
        0,
        "market_rate 0 sends no IOC"
    );
    control
        .set(
            ID,
            BackgroundChange {
                limit_rate: Some(200.0),
                market_rate: Some(20.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid change");
    let after = run(&mut flow, START + phase, START + 2 * phase, MS);
    let (limits_before, limits_after) = (
        count(&before, OrderType::Limit),
        count(&after, OrderType::Limit),
    );
    assert!(
        (800..1_200).contains(&limits_before) && (3_400..4_600).contains(&limits_after),
        "50/s then 200/s over 20 s: {limits_before}, {limits_after}"
    );
    let iocs = count(&after, OrderType::Ioc);
    assert!(
        (300..500).contains(&iocs),
        "a market rate raised from zero fires at 20/s: {iocs}"
    );
    assert!(cancels(&after) > 0, "resting orders are cancelled at 0.5/s");
    control
        .set(
            ID,
            BackgroundChange {
                cancel_rate: Some(0.0),
                market_rate: Some(0.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid change");
    let quiet = run(&mut flow, START + 2 * phase, START + 3 * phase, MS);
    assert_eq!(cancels(&quiet), 0, "cancel_rate 0 stops cancellations");
    assert_eq!(count(&quiet, OrderType::Ioc), 0, "market_rate 0 stops IOCs");
    assert!(
        count(&quiet, OrderType::Limit) > 0,
        "limit orders still arrive"
    );
    assert_eq!(
        control.params(ID),
        Some(BackgroundParams {
            volatility_ticks_per_sqrt_s: 1.0,
            limit_rate: 200.0,
            market_rate: 0.0,
            cancel_rate: 0.0,
        })
    );
}

#[test]
fn bad_values_are_refused_naming_the_field_and_change_nothing() {
    let flow = BackgroundFlow::new(&flow_config(1, instrument()), &engine()).expect("valid");
    let control = flow.control();
    let configured = control.params(ID).expect("driven");
    let bad = [f64::NAN, -0.5, f64::INFINITY, f64::NEG_INFINITY];
    for value in bad {
        let changes = [
            (
                "volatility_ticks_per_sqrt_s",
                BackgroundChange {
                    volatility_ticks_per_sqrt_s: Some(value),
                    ..BackgroundChange::default()
                },
            ),
            (
                "limit_rate",
                BackgroundChange {
                    limit_rate: Some(value),
                    ..BackgroundChange::default()
                },
            ),
            (
                "market_rate",
                BackgroundChange {
                    market_rate: Some(value),
                    ..BackgroundChange::default()
                },
            ),
            (
                "cancel_rate",
                BackgroundChange {
                    cancel_rate: Some(value),
                    // A valid field alongside is not applied either.
                    limit_rate: Some(7.0),
                    ..BackgroundChange::default()
                },
            ),
        ];
        for (field, change) in changes {
            match control.set(ID, change) {
                Err(BackgroundError::InvalidParameter {
                    instrument, name, ..
                }) => {
                    assert_eq!((instrument, name), (ID, field));
                }
                other => panic!("{field} = {value}: expected InvalidParameter, got {other:?}"),
            }
            assert_eq!(control.params(ID), Some(configured), "nothing changed");
        }
    }
    assert_eq!(
        control.set(QUIET, BackgroundChange::default()),
        Err(BackgroundError::NoFlow(QUIET))
    );
    assert_eq!(control.params(QUIET), None);
    let msg = control
        .set(
            ID,
            BackgroundChange {
                market_rate: Some(-1.0),
                ..BackgroundChange::default()
            },
        )
        .expect_err("negative")
        .to_string();
    assert!(msg.contains("market_rate"), "{msg}");
}

#[test]
fn same_seed_and_same_changes_give_the_same_commands() {
    let engine = engine();
    let change = BackgroundChange {
        volatility_ticks_per_sqrt_s: Some(4.0),
        limit_rate: Some(120.0),
        market_rate: Some(15.0),
        cancel_rate: Some(1.5),
    };
    let go = |changed: bool| {
        let mut flow = BackgroundFlow::new(&flow_config(9, instrument()), &engine).expect("ok");
        let mut out = run(&mut flow, START, START + 10 * SECOND, MS);
        if changed {
            flow.control().set(ID, change).expect("valid");
        }
        out.extend(run(&mut flow, START + 10 * SECOND, START + 20 * SECOND, MS));
        out
    };
    assert_eq!(go(true), go(true));
    assert_ne!(go(true), go(false), "the change altered the flow");
}

#[test]
fn setting_the_current_values_leaves_the_flow_untouched() {
    let engine = engine();
    let go = |touch: bool| {
        let mut flow = BackgroundFlow::new(&flow_config(21, instrument()), &engine).expect("ok");
        let mut out = run(&mut flow, START, START + 10 * SECOND, MS);
        if touch {
            let p = flow.control().params(ID).expect("driven");
            let same = BackgroundChange {
                volatility_ticks_per_sqrt_s: Some(p.volatility_ticks_per_sqrt_s),
                limit_rate: Some(p.limit_rate),
                market_rate: Some(p.market_rate),
                cancel_rate: Some(p.cancel_rate),
            };
            flow.control().set(ID, same).expect("valid");
        }
        out.extend(run(&mut flow, START + 10 * SECOND, START + 20 * SECOND, MS));
        (out, flow.mid(ID))
    };
    assert_eq!(go(true), go(false));
}

#[test]
fn a_change_before_the_first_step_replaces_the_configuration() {
    let engine = engine();
    let cfg = BackgroundConfig {
        start_ns: None,
        ..flow_config(2, instrument())
    };
    let configured = BackgroundConfig {
        instruments: vec![BackgroundInstrument {
            limit_rate: 80.0,
            market_rate: 0.0,
            ..instrument()
        }],
        ..cfg
    };
    let mut changed = BackgroundFlow::new(&cfg, &engine).expect("valid");
    changed
        .control()
        .set(
            ID,
            BackgroundChange {
                limit_rate: Some(80.0),
                market_rate: Some(0.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid");
    let mut direct = BackgroundFlow::new(&configured, &engine).expect("valid");
    assert_eq!(
        run(&mut changed, START, START + 5 * SECOND, MS),
        run(&mut direct, START, START + 5 * SECOND, MS)
    );
}

// ------------------------------------------------------------------ running venue

fn start_venue() -> RunningVenue {
    let background = BackgroundConfig {
        start_ns: None,
        ..flow_config(
            17,
            BackgroundInstrument {
                volatility_ticks_per_sqrt_s: 5.0,
                limit_rate: 1_000.0,
                market_rate: 200.0,
                cancel_rate: 5.0,
                ..instrument()
            },
        )
    };
    let factory: BoxedGatewayFactory = Arc::new(move |engine: &MatchingEngine| {
        BackgroundFlow::new(&background, engine)
            .map(|flow| Box::new(flow) as Box<dyn OrderEntry>)
            .map_err(|e| e.to_string())
    });
    RunningVenue::start(ServerConfig {
        matching: venue_config(),
        symbols: vec![(ID, "BUSY".into()), (QUIET, "QUIET".into())],
        ouch: None,
        fix: None,
        itch: None,
        extra: vec![factory],
    })
    .expect("venue starts")
}

/// Shares and notional the background firms bought so far (each fill once).
fn bought(venue: &RunningVenue) -> (u64, i128) {
    (FIRST_FIRM..FIRST_FIRM + FIRMS)
        .map(|f| venue.firm_state(FirmId(f)))
        .fold((0, 0), |(q, n), s| (q + s.bought, n + s.buy_notional))
}

/// Per-interval volume-weighted traded prices (ticks), read from the firm
/// ledger every `every` for `duration`; intervals without a fill are skipped.
fn traded_prices(venue: &RunningVenue, every: Duration, duration: Duration) -> Vec<f64> {
    let mut prices = Vec::new();
    let mut last = bought(venue);
    let end = Instant::now() + duration;
    while Instant::now() < end {
        std::thread::sleep(every);
        let now = bought(venue);
        if now.0 > last.0 {
            let vwap = (now.1 - last.1) as f64 / (now.0 - last.0) as f64;
            prices.push(vwap / TICK as f64);
        }
        last = now;
    }
    prices
}

fn mean_square_increment(prices: &[f64]) -> f64 {
    let sum: f64 = prices.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    sum / (prices.len() - 1) as f64
}

#[test]
fn running_venue_with_volatility_raised_tenfold_trades_at_much_more_dispersed_prices() {
    let mut venue = start_venue();
    let every = Duration::from_millis(50);
    let phase = Duration::from_millis(1_500);
    // Let the book fill up first.
    std::thread::sleep(Duration::from_millis(300));
    let calm = traded_prices(&venue, every, phase);
    venue
        .set_background(
            ID,
            BackgroundChange {
                volatility_ticks_per_sqrt_s: Some(50.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid change");
    assert_eq!(
        venue.background(ID).map(|p| p.volatility_ticks_per_sqrt_s),
        Some(50.0)
    );
    let stormy = traded_prices(&venue, every, phase);
    venue.stop();
    assert!(
        calm.len() > 10 && stormy.len() > 10,
        "the flow trades: {} and {} intervals with fills",
        calm.len(),
        stormy.len()
    );
    let (before, after) = (mean_square_increment(&calm), mean_square_increment(&stormy));
    assert!(
        after > 3.0 * before,
        "traded-price variance per 50 ms: {before} ticks^2 before, {after} after"
    );
}

#[test]
fn running_venue_refuses_bad_changes_and_instruments_without_flow() {
    let mut venue = start_venue();
    assert_eq!(
        venue.set_background(
            QUIET,
            BackgroundChange {
                limit_rate: Some(10.0),
                ..BackgroundChange::default()
            }
        ),
        Err(BackgroundError::NoFlow(QUIET))
    );
    assert_eq!(
        venue.set_background(InstrumentId(999), BackgroundChange::default()),
        Err(BackgroundError::NoFlow(InstrumentId(999)))
    );
    assert!(matches!(
        venue.set_background(
            ID,
            BackgroundChange {
                cancel_rate: Some(f64::NAN),
                ..BackgroundChange::default()
            }
        ),
        Err(BackgroundError::InvalidParameter {
            name: "cancel_rate",
            ..
        })
    ));
    assert_eq!(venue.background(QUIET), None);
    assert_eq!(venue.background_mid(QUIET), None);
    let configured = venue.background(ID).expect("driven");
    assert_eq!(configured.limit_rate, 1_000.0);
    venue
        .set_background(
            ID,
            BackgroundChange {
                market_rate: Some(0.0),
                ..BackgroundChange::default()
            },
        )
        .expect("valid");
    assert_eq!(
        venue.background(ID),
        Some(BackgroundParams {
            market_rate: 0.0,
            ..configured
        })
    );
    let mid = venue.background_mid(ID).expect("driven");
    assert!((mid - (REFERENCE + TICK / 2) as f64).abs() < 1_000.0 * TICK as f64);
    venue.stop();
}
