//! The running venue's firm ledger: with a background market trading on its
//! own thread, every snapshot is balanced (each fill has a buyer and a seller),
//! and after the stop it agrees firm by firm with a fresh matching engine fed
//! the very commands the venue matched, down to where each order rests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_venue::background::{BackgroundConfig, BackgroundFlow, BackgroundInstrument};
use quotewire_venue::ledger::{FirmState, OpenOrder};
use quotewire_venue::matching::{
    Command, Event, FirmId, InstrumentConfig, MatchingEngine, PriceBand, VenueConfig,
};
use quotewire_venue::runtime::OrderEntry;
use quotewire_venue::server::{BoxedGatewayFactory, RunningVenue, ServerConfig};

const TICK: i64 = 100;
const REFERENCE: i64 = 1_000_000;
const IDS: [u16; 2] = [1, 4];
const FIRST_FIRM: u32 = 500;
const FIRMS: u32 = 4;

fn matching() -> VenueConfig {
    VenueConfig {
        max_orders: 1 << 16,
        max_band_levels: 4096,
        instruments: IDS
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

/// The background flow, plus a copy of every command it hands the venue.
struct Recorded {
    flow: BackgroundFlow,
    log: Arc<Mutex<Vec<Command>>>,
}

impl OrderEntry for Recorded {
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>) {
        let from = commands.len();
        self.flow.poll(now_ns, commands);
        self.log
            .lock()
            .expect("log lock")
            .extend_from_slice(&commands[from..]);
    }

    fn on_events(&mut self, now_ns: u64, events: &[Event]) {
        OrderEntry::on_events(&mut self.flow, now_ns, events);
    }
}

fn start(log: &Arc<Mutex<Vec<Command>>>) -> RunningVenue {
    let background = BackgroundConfig {
        seed: 11,
        firm: FirmId(FIRST_FIRM),
        firms: FIRMS,
        start_ns: None,
        instruments: IDS
            .iter()
            .map(|&id| BackgroundInstrument {
                limit_rate: 2_000.0,
                market_rate: 400.0,
                cancel_rate: 2.0,
                ..BackgroundInstrument::new(InstrumentId(id), Price(REFERENCE + TICK / 2))
            })
            .collect(),
    };
    let log = Arc::clone(log);
    let factory: BoxedGatewayFactory = Arc::new(move |engine: &MatchingEngine| {
        let flow = BackgroundFlow::new(&background, engine).map_err(|e| e.to_string())?;
        Ok(Box::new(Recorded {
            flow,
            log: Arc::clone(&log),
        }) as Box<dyn OrderEntry>)
    });
    RunningVenue::start(ServerConfig {
        matching: matching(),
        symbols: IDS
            .iter()
            .map(|&id| (InstrumentId(id), format!("S{id}")))
            .collect(),
        ouch: None,
        fix: None,
        itch: None,
        extra: vec![factory],
    })
    .expect("venue starts")
}

/// Every fill has two sides: per instrument the positions of all firms sum to
/// zero, and shares and notional bought equal shares and notional sold.
fn assert_balanced(states: &[(FirmId, FirmState)]) {
    let mut net: HashMap<InstrumentId, i64> = HashMap::new();
    let (mut bought, mut sold, mut buy_notional, mut sell_notional) = (0, 0, 0, 0);
    for (firm, s) in states {
        assert!(
            (FIRST_FIRM..FIRST_FIRM + FIRMS).contains(&firm.0),
            "only the background firms trade: {firm:?}"
        );
        for &(instrument, position) in &s.positions {
            *net.entry(instrument).or_default() += position;
        }
        assert_eq!(
            s.positions.iter().map(|p| p.1).sum::<i64>(),
            s.bought as i64 - s.sold as i64,
            "{firm:?}: positions add up to bought - sold"
        );
        bought += s.bought;
        sold += s.sold;
        buy_notional += s.buy_notional;
        sell_notional += s.sell_notional;
    }
    assert!(net.values().all(|&n| n == 0), "net positions {net:?}");
    assert_eq!(bought, sold);
    assert_eq!(buy_notional, sell_notional);
}

#[test]
fn firm_states_of_a_running_venue_balance_and_match_a_replay_of_its_commands() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut venue = start(&log);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut snapshots = 0;
    while venue.commands() < 3_000 && Instant::now() < deadline {
        assert_balanced(&venue.firm_states());
        snapshots += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    venue.stop();
    assert!(snapshots > 0);
    let states = venue.firm_states();
    assert_balanced(&states);

    // The same commands through a fresh engine: the venue's ledger must hold
    // exactly that engine's resting orders and fills, firm by firm.
    let commands = log.lock().expect("log lock").clone();
    assert_eq!(
        commands.len() as u64,
        venue.commands(),
        "every command was recorded"
    );
    assert!(commands.len() >= 3_000, "{} commands", commands.len());
    let mut engine = MatchingEngine::new(&matching()).expect("valid config");
    let mut events = Vec::with_capacity(256);
    let mut refs: Vec<OrderId> = Vec::new();
    let mut fills: HashMap<FirmId, (u64, u64, u64)> = HashMap::new();
    for c in &commands {
        events.clear();
        engine.process(c, &mut events);
        for e in &events {
            match e {
                Event::Accepted(a) => refs.push(a.order_ref),
                Event::Replaced(r) => refs.push(r.new_ref),
                Event::Executed(x) => {
                    for (firm, side) in [
                        (x.resting_firm, x.aggressor_side.opposite()),
                        (x.aggressor_firm, x.aggressor_side),
                    ] {
                        let f = fills.entry(firm).or_default();
                        match side {
                            Side::Buy => f.0 += x.qty.0,
                            Side::Sell => f.1 += x.qty.0,
                        }
                        f.2 += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let mut open: HashMap<FirmId, Vec<OpenOrder>> = HashMap::new();
    refs.sort_unstable();
    refs.dedup();
    for r in refs {
        if let Some(o) = engine.order(r) {
            open.entry(o.firm).or_default().push(OpenOrder {
                order_ref: o.order_ref,
                instrument: o.instrument,
                side: o.side,
                price: o.price,
                qty: o.qty,
            });
        }
    }
    assert!(
        engine.live_orders() > 0,
        "the background keeps orders resting"
    );
    assert!(
        fills.values().map(|f| f.2).sum::<u64>() > 0,
        "the background trades"
    );
    assert_eq!(
        states.iter().map(|s| s.1.open_orders).sum::<usize>(),
        engine.live_orders()
    );
    for firm in (FIRST_FIRM..FIRST_FIRM + FIRMS).map(FirmId) {
        let s = venue.firm_state(firm);
        let (bought, sold, executions) = fills.get(&firm).copied().unwrap_or_default();
        let mut want = open.remove(&firm).unwrap_or_default();
        want.sort_unstable_by_key(|o| (o.instrument.0, o.side.as_byte(), o.price.0, o.order_ref.0));
        assert_eq!(s.open_orders, want.len(), "{firm:?}");
        assert_eq!(s.orders, want, "{firm:?}: where each order rests");
        assert_eq!(
            (s.bought, s.sold, s.executions),
            (bought, sold, executions),
            "{firm:?}"
        );
        assert_eq!(Some(&s), states.iter().find(|x| x.0 == firm).map(|x| &x.1));
    }
    assert_eq!(
        venue.firm_state(FirmId(1)),
        FirmState::default(),
        "an unseen firm"
    );
}
