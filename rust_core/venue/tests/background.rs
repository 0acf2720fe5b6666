//! The background flow: deterministic from its seed, arrivals at the configured
//! rates, prices always valid, a mid with the configured variance, and a venue
//! it keeps two-sided and trading, with its view of its live orders matching
//! the engine's exactly.

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_venue::background::{
    BackgroundConfig, BackgroundError, BackgroundFlow, BackgroundInstrument, SizeDistribution,
};
use quotewire_venue::matching::{
    Command, Event, FirmId, InstrumentConfig, MatchingEngine, OrderType, PriceBand, RejectReason,
    RequestKind, VenueConfig,
};
use quotewire_venue::runtime::Venue;

const TICK: i64 = 100;
const REFERENCE: i64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const START: u64 = 34_200 * SECOND;

fn venue_config(ids: &[u16]) -> VenueConfig {
    VenueConfig {
        max_orders: 1 << 16,
        max_band_levels: 4096,
        instruments: ids
            .iter()
            .map(|&id| InstrumentConfig {
                id: InstrumentId(id),
                tick: Price(TICK),
                band: PriceBand::Around {
                    reference: Price(REFERENCE),
                    width: Price(500 * TICK),
                },
                max_order_qty: Qty(100_000),
            })
            .collect(),
        ..VenueConfig::default()
    }
}

fn engine(ids: &[u16]) -> MatchingEngine {
    MatchingEngine::new(&venue_config(ids)).expect("valid venue config")
}

fn flow_config(seed: u64, ids: &[u16]) -> BackgroundConfig {
    BackgroundConfig {
        seed,
        firm: FirmId(1_000),
        firms: 16,
        start_ns: Some(START),
        instruments: ids
            .iter()
            .map(|&id| BackgroundInstrument::new(InstrumentId(id), Price(REFERENCE + TICK / 2)))
            .collect(),
    }
}

/// Runs a flow alone (no events fed back) to `end`, polling every `step`.
fn standalone(flow: &mut BackgroundFlow, step: u64, end: u64) -> Vec<Command> {
    let mut out = Vec::new();
    let mut now = START;
    while now < end {
        now = (now + step).min(end);
        flow.due(now, &mut out);
    }
    out
}

#[test]
fn same_seed_gives_the_same_commands_at_any_polling_step() {
    let ids = [1, 2, 7];
    let engine = engine(&ids);
    let end = START + 60 * SECOND;
    let run = |seed, step| {
        let mut flow = BackgroundFlow::new(&flow_config(seed, &ids), &engine).expect("valid");
        standalone(&mut flow, step, end)
    };
    let fine = run(42, MS);
    assert!(fine.len() > 5_000, "{} commands", fine.len());
    assert_eq!(fine, run(42, MS));
    assert_eq!(fine, run(42, 37 * MS), "the polling step must not matter");
    assert_eq!(fine, run(42, 60 * SECOND));
    assert_ne!(fine, run(43, MS));
    assert!(
        fine.windows(2).all(|w| w[0].ts() <= w[1].ts()),
        "time order"
    );
    assert!(fine.iter().all(|c| (START..=end).contains(&c.ts().0)));
}

#[test]
fn the_start_defaults_to_the_first_poll() {
    let ids = [1];
    let engine = engine(&ids);
    let mut cfg = flow_config(5, &ids);
    cfg.start_ns = None;
    let mut late = BackgroundFlow::new(&cfg, &engine).expect("valid");
    let mut out = Vec::new();
    late.due(START + 500 * SECOND, &mut out);
    assert!(out.is_empty(), "nothing is due at the first poll");
    late.due(START + 501 * SECOND, &mut out);
    assert!(!out.is_empty());
    assert!(out.iter().all(|c| c.ts().0 > START + 500 * SECOND));
    assert!(late
        .next_arrival_ns()
        .is_some_and(|t| t > START + 501 * SECOND));
}

/// `|n - expected| <= 5 sqrt(expected)`: a Poisson count within five standard deviations.
fn assert_poisson(what: &str, n: u64, expected: f64) {
    let dev = (n as f64 - expected).abs() / expected.sqrt();
    assert!(
        dev <= 5.0,
        "{what}: {n} vs expected {expected:.0} ({dev:.1} sd)"
    );
}

#[test]
fn arrival_counts_match_the_configured_rates() {
    let ids = [1, 2, 3];
    let engine = engine(&ids);
    let mut cfg = flow_config(9, &ids);
    for (i, inst) in cfg.instruments.iter_mut().enumerate() {
        inst.limit_rate = 200.0 * (i + 1) as f64;
        inst.market_rate = 20.0 * (i + 1) as f64;
        inst.cancel_rate = 0.5;
    }
    let mut flow = BackgroundFlow::new(&cfg, &engine).expect("valid");
    let seconds = 60.0;
    let end = START + 60 * SECOND;
    let commands = standalone(&mut flow, 10 * MS, end);

    // Per instrument: limit and IOC counts, and the cancel compensator
    // `cancel_rate * integral of live(t) dt`, rebuilt from the stream itself
    // (standalone, only the flow's own cancels remove orders).
    let lane = |id: InstrumentId| ids.iter().position(|&x| x == id.0).expect("configured");
    let mut limits = [0_u64; 3];
    let mut markets = [0_u64; 3];
    let mut cancels = [0_u64; 3];
    let mut live = [0_u64; 3];
    let mut integral = [0.0_f64; 3];
    let mut last = [START; 3];
    let mut owner: HashMap<u64, usize> = HashMap::new();
    let mut advance = |l: usize, t: u64, live: &[u64; 3]| {
        integral[l] += live[l] as f64 * (t - last[l]) as f64 / SECOND as f64;
        last[l] = t;
    };
    for c in &commands {
        match c {
            Command::New(n) => {
                let l = lane(n.instrument);
                if n.order_type == OrderType::Ioc {
                    markets[l] += 1;
                } else {
                    advance(l, n.ts.0, &live);
                    limits[l] += 1;
                    live[l] += 1;
                    owner.insert(n.client_id.0, l);
                }
            }
            Command::Cancel(x) => {
                assert_eq!(x.leave_qty, Qty(0));
                let l = owner.remove(&x.client_id.0).expect("cancels a live order");
                advance(l, x.ts.0, &live);
                cancels[l] += 1;
                live[l] -= 1;
            }
            Command::Replace(_) => panic!("the flow never replaces"),
        }
    }
    for l in 0..3 {
        advance(l, end, &live);
    }
    for (l, inst) in cfg.instruments.iter().enumerate() {
        assert_poisson("limit", limits[l], inst.limit_rate * seconds);
        assert_poisson("market", markets[l], inst.market_rate * seconds);
        assert_poisson("cancel", cancels[l], inst.cancel_rate * integral[l]);
        // The live count is near its stationary Poisson(limit_rate / cancel_rate).
        let target = inst.limit_rate / inst.cancel_rate;
        assert!(
            (live[l] as f64 - target).abs() < 0.2 * target,
            "live {} vs {target}",
            live[l]
        );
    }
    let stats = flow.stats();
    assert_eq!(stats.limit_orders, limits.iter().sum::<u64>());
    assert_eq!(stats.market_orders, markets.iter().sum::<u64>());
    assert_eq!(stats.cancels, cancels.iter().sum::<u64>());
    assert_eq!(stats.dropped, 0);
    assert_eq!(flow.live_orders() as u64, live.iter().sum::<u64>());
}

#[test]
fn prices_are_always_on_tick_and_inside_the_band() {
    // A narrow band, a fast mid, deep orders and far-reaching IOCs: the clamps
    // and the reflection of the mid are exercised constantly.
    let tick = 25;
    let config = VenueConfig {
        max_orders: 1 << 14,
        instruments: vec![InstrumentConfig {
            id: InstrumentId(3),
            tick: Price(tick),
            band: PriceBand::Range {
                min: Price(REFERENCE - 10 * tick - 7),
                max: Price(REFERENCE + 10 * tick + 7),
            },
            max_order_qty: Qty(1_000),
        }],
        ..VenueConfig::default()
    };
    let mut engine = MatchingEngine::new(&config).expect("valid");
    let rules = engine.rules(InstrumentId(3)).expect("traded");
    let cfg = BackgroundConfig {
        seed: 3,
        firm: FirmId(50),
        firms: 4,
        start_ns: Some(START),
        instruments: vec![BackgroundInstrument {
            volatility_ticks_per_sqrt_s: 20.0,
            mean_depth_ticks: 6.0,
            market_reach_ticks: 8,
            mean_size: Qty(2_000),
            size_distribution: SizeDistribution::Uniform,
            ..BackgroundInstrument::new(InstrumentId(3), Price(REFERENCE + 3))
        }],
    };
    let mut flow = BackgroundFlow::new(&cfg, &engine).expect("valid");
    let (mut commands, mut events) = (Vec::new(), Vec::new());
    let (mut at_low, mut at_high) = (0, 0);
    let mut now = START;
    for _ in 0..60_000 {
        now += MS;
        commands.clear();
        flow.due(now, &mut commands);
        for c in &commands {
            if let Command::New(n) = c {
                assert_eq!(n.price.0 % tick, 0, "off tick: {n:?}");
                assert!(
                    (rules.low..=rules.high).contains(&n.price),
                    "outside the band: {n:?}"
                );
                assert!(n.qty.0 % 100 == 0 && n.qty.0 > 0 && n.qty <= rules.max_order_qty);
                at_low += usize::from(n.price == rules.low);
                at_high += usize::from(n.price == rules.high);
            }
            events.clear();
            engine.process(c, &mut events);
            for e in &events {
                if let Event::Rejected(r) = e {
                    assert!(
                        !matches!(
                            r.reason,
                            RejectReason::OffTick
                                | RejectReason::OutsideBand
                                | RejectReason::QtyAboveMax
                        ),
                        "{r:?}"
                    );
                }
            }
            flow.on_events(&events);
        }
        let mid = flow.mid(InstrumentId(3)).expect("configured");
        assert!((rules.low.0 as f64..=rules.high.0 as f64).contains(&mid));
    }
    assert!(
        at_low > 0 && at_high > 0,
        "both band edges reached: {at_low} {at_high}"
    );
    assert!(flow.stats().executions > 0);
}

#[test]
fn the_mid_random_walk_has_the_configured_variance() {
    let ids: Vec<u16> = (1..=32).collect();
    let engine = engine(&ids);
    let sigma = 2.0;
    let mut cfg = flow_config(77, &ids);
    for inst in &mut cfg.instruments {
        inst.volatility_ticks_per_sqrt_s = sigma;
        inst.limit_rate = 500.0;
    }
    let mut flow = BackgroundFlow::new(&cfg, &engine).expect("valid");
    let mut out = Vec::new();
    let mid = |flow: &BackgroundFlow, id: u16| {
        flow.mid(InstrumentId(id)).expect("configured") / TICK as f64
    };
    let mut prev: Vec<f64> = ids.iter().map(|&id| mid(&flow, id)).collect();
    let (mut sum, mut sum_sq, mut n) = (0.0, 0.0, 0.0);
    for s in 1..=60 {
        out.clear();
        flow.due(START + s * SECOND, &mut out);
        for (i, &id) in ids.iter().enumerate() {
            let m = mid(&flow, id);
            let d = m - prev[i];
            prev[i] = m;
            sum += d;
            sum_sq += d * d;
            n += 1.0;
        }
    }
    let var = sum_sq / n - (sum / n) * (sum / n);
    let ratio = var / (sigma * sigma);
    // 1,920 one-second increments: the sample variance is within ~3% (1 sd).
    assert!((0.85..1.15).contains(&ratio), "variance ratio {ratio:.3}");
}

#[test]
fn through_the_venue_the_book_stays_two_sided_and_trades() {
    let ids = [1, 2];
    let mut venue = Venue::new(engine(&ids));
    let flow = BackgroundFlow::new(&flow_config(11, &ids), venue.engine()).expect("valid");
    venue.add_gateway(Box::new(flow));
    let mut now = START;
    let (mut samples, mut two_sided, mut crossed) = (0_u32, 0_u32, 0_u32);
    for i in 0..60_000 {
        now += MS;
        venue.poll_once(now);
        if i % 10 == 0 && i >= 2_000 {
            for &id in &ids {
                let bbo = venue.engine().bbo(InstrumentId(id));
                samples += 1;
                if let (Some(bid), Some(ask)) = (bbo.bid, bbo.ask) {
                    two_sided += 1;
                    crossed += u32::from(bid.price >= ask.price);
                }
            }
        }
    }
    let share = f64::from(two_sided) / f64::from(samples);
    assert!(share > 0.95, "two-sided {share:.3} of the time");
    assert_eq!(crossed, 0);
    let fills = venue.engine().last_match_number().0;
    assert!(fills > 1_000, "{fills} executions");
    let live = venue.engine().live_orders();
    assert!((50..1_000).contains(&live), "{live} resting orders");
}

#[test]
fn the_flow_tracks_exactly_the_orders_the_engine_holds() {
    let ids = [4, 9];
    let mut venue = Venue::new(engine(&ids));
    let mut cfg = flow_config(21, &ids);
    cfg.firms = 3; // frequent self-matches too
    for inst in &mut cfg.instruments {
        inst.market_rate = 40.0;
        inst.volatility_ticks_per_sqrt_s = 4.0;
    }
    let mut flow = BackgroundFlow::new(&cfg, venue.engine()).expect("valid");
    let mut commands = Vec::new();
    let mut now = START;
    for _ in 0..600 {
        // 100 ms batches: cancels sometimes race fills inside a batch.
        now += 100 * MS;
        commands.clear();
        flow.due(now, &mut commands);
        for c in &commands {
            let events = venue.submit(now, c);
            for e in events {
                if let Event::Rejected(r) = e {
                    // The only refusal: a cancel of an order a fill removed earlier in the batch.
                    assert_eq!(
                        (r.request, r.reason),
                        (RequestKind::Cancel, RejectReason::UnknownOrder)
                    );
                }
            }
            flow.on_events(events);
        }
        assert_eq!(flow.live_orders(), venue.engine().live_orders());
    }
    let stats = flow.stats();
    assert!(stats.executions > 1_000, "{stats:?}");
    assert!(stats.rejects * 5 < stats.cancels, "{stats:?}");
    assert_eq!(stats.dropped, 0);
}

#[test]
fn the_same_seed_through_the_venue_gives_the_same_books() {
    let ids = [1, 2, 3];
    let run = |seed| {
        let mut venue = Venue::new(engine(&ids));
        let flow = BackgroundFlow::new(&flow_config(seed, &ids), venue.engine()).expect("valid");
        venue.add_gateway(Box::new(flow));
        for i in 1..=20_000 {
            venue.poll_once(START + i * MS);
        }
        let e = venue.engine();
        let depth: Vec<_> = ids
            .iter()
            .flat_map(|&id| {
                [Side::Buy, Side::Sell].map(|s| e.levels(InstrumentId(id), s).collect::<Vec<_>>())
            })
            .collect();
        (
            venue.processed(),
            e.last_order_ref(),
            e.last_match_number(),
            depth,
        )
    };
    assert_eq!(run(8), run(8));
    assert_ne!(run(8), run(9));
}

#[test]
fn invalid_configs_are_refused_with_clear_errors() {
    let ids = [1, 2];
    let engine = engine(&ids);
    let base = flow_config(1, &ids);
    let with = |f: &dyn Fn(&mut BackgroundInstrument)| {
        let mut cfg = base.clone();
        f(&mut cfg.instruments[1]);
        BackgroundFlow::new(&cfg, &engine).expect_err("must be refused")
    };
    let err = with(&|i| i.limit_rate = f64::NAN);
    assert!(
        matches!(err, BackgroundError::InvalidParameter { instrument: InstrumentId(2), name: "limit_rate", value } if value.is_nan()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("limit_rate must be finite and non-negative"),
        "{err}"
    );
    assert!(matches!(
        with(&|i| i.cancel_rate = -0.1),
        BackgroundError::InvalidParameter {
            name: "cancel_rate",
            ..
        }
    ));
    assert!(matches!(
        with(&|i| i.market_rate = f64::INFINITY),
        BackgroundError::InvalidParameter {
            name: "market_rate",
            ..
        }
    ));
    assert!(matches!(
        with(&|i| i.volatility_ticks_per_sqrt_s = -1.0),
        BackgroundError::InvalidParameter {
            name: "volatility_ticks_per_sqrt_s",
            ..
        }
    ));
    assert!(matches!(
        with(&|i| i.mean_depth_ticks = f64::NAN),
        BackgroundError::InvalidParameter {
            name: "mean_depth_ticks",
            ..
        }
    ));
    let err = with(&|i| i.start_mid = Price(REFERENCE + 501 * TICK));
    assert!(
        matches!(err, BackgroundError::MidOutsideBand { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("outside the band"), "{err}");
    assert!(matches!(
        with(&|i| i.instrument = InstrumentId(3)),
        BackgroundError::UnknownInstrument(InstrumentId(3))
    ));
    assert!(matches!(
        with(&|i| i.instrument = InstrumentId(1)),
        BackgroundError::DuplicateInstrument(InstrumentId(1))
    ));
    assert!(matches!(
        with(&|i| i.lot = Qty(0)),
        BackgroundError::InvalidSize { .. }
    ));
    assert!(matches!(
        with(&|i| i.mean_size = Qty(50)),
        BackgroundError::InvalidSize { .. }
    ));
    assert!(matches!(
        with(&|i| i.lot = Qty(200_000)),
        BackgroundError::InvalidSize { .. }
    ));
    assert!(matches!(
        with(&|i| i.max_live_orders = 0),
        BackgroundError::InvalidCapacity { .. }
    ));
    let mut cfg = base.clone();
    cfg.firms = 0;
    assert!(matches!(
        BackgroundFlow::new(&cfg, &engine),
        Err(BackgroundError::InvalidFirms { .. })
    ));
    cfg.firms = 2;
    cfg.firm = FirmId(u32::MAX);
    assert!(matches!(
        BackgroundFlow::new(&cfg, &engine),
        Err(BackgroundError::InvalidFirms { .. })
    ));
    cfg.instruments.clear();
    assert!(matches!(
        BackgroundFlow::new(&cfg, &engine),
        Err(BackgroundError::NoInstruments)
    ));
    // Zero rates are valid: a quiet instrument.
    let mut quiet = base;
    quiet.instruments[0].limit_rate = 0.0;
    quiet.instruments[0].market_rate = 0.0;
    quiet.instruments[0].cancel_rate = 0.0;
    let mut flow = BackgroundFlow::new(&quiet, &engine).expect("valid");
    let commands = standalone(&mut flow, SECOND, START + 10 * SECOND);
    assert!(commands.iter().all(|c| match c {
        Command::New(n) => n.instrument == InstrumentId(2),
        _ => true,
    }));
}
