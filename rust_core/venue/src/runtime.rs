//! The venue's event loop: order-entry gateways in, matching, events out.
//!
//! One thread runs [`Venue::poll_once`] in a loop. Each pass asks every
//! [`OrderEntry`] gateway (OUCH over SoupBinTCP, FIX 4.4) for the commands its
//! sessions received, runs each command through the [`MatchingEngine`] in
//! arrival order, and hands the resulting events to every gateway (an
//! execution may concern a resting order entered through another gateway) and
//! to the market-data publisher. Gateways keep their own sockets and session
//! state; nothing here blocks.
//!
//! A [`FirmLedger`] may be attached ([`Venue::with_ledger`]) so tests can read
//! what the venue knows about each firm; it is locked once per command, so the
//! benchmark path ([`crate::workload`]) runs without one.

use std::sync::{Arc, Mutex, PoisonError};

use crate::background::BackgroundControl;
use crate::ledger::FirmLedger;
use crate::matching::{Command, Event, MatchingEngine};

/// A source of order commands and a destination for their results.
pub trait OrderEntry: Send {
    /// Services sockets and session timers; appends the commands received, in order.
    fn poll(&mut self, now_ns: u64, commands: &mut Vec<Command>);
    /// Receives every event the matching engine produced for one command; a
    /// gateway answers the sessions whose firm the event concerns and ignores the rest.
    fn on_events(&mut self, now_ns: u64, events: &[Event]);
    /// The handle that adjusts this source while it runs, if it is a
    /// [`BackgroundFlow`](crate::background::BackgroundFlow) (or wraps one);
    /// [`RunningVenue`](crate::server::RunningVenue) collects them at start.
    fn background_control(&self) -> Option<BackgroundControl> {
        None
    }
}

/// A destination for the public consequences of events (the ITCH publisher).
pub trait MarketDataOut: Send {
    /// Receives every event the matching engine produced for one command.
    fn on_events(&mut self, now_ns: u64, events: &[Event]);
    /// Services timers (heartbeats, batching) and retransmission requests.
    fn poll(&mut self, now_ns: u64);
}

/// The venue: matching engine plus the gateways and publisher around it.
pub struct Venue {
    engine: MatchingEngine,
    gateways: Vec<Box<dyn OrderEntry>>,
    market_data: Vec<Box<dyn MarketDataOut>>,
    commands: Vec<Command>,
    events: Vec<Event>,
    processed: u64,
    ledger: Option<Arc<Mutex<FirmLedger>>>,
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Venue")
            .field("gateways", &self.gateways.len())
            .field("market_data", &self.market_data.len())
            .field("processed", &self.processed)
            .field("ledger", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

impl Venue {
    /// A venue around `engine` with no gateways yet.
    #[must_use]
    pub fn new(engine: MatchingEngine) -> Self {
        Self {
            engine,
            gateways: Vec::new(),
            market_data: Vec::new(),
            commands: Vec::with_capacity(1024),
            events: Vec::with_capacity(1024),
            processed: 0,
            ledger: None,
        }
    }

    /// Feeds the events of every command to `ledger` from now on (one lock per command).
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<Mutex<FirmLedger>>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The attached ledger, if any.
    #[must_use]
    pub const fn ledger(&self) -> Option<&Arc<Mutex<FirmLedger>>> {
        self.ledger.as_ref()
    }

    /// Adds an order-entry gateway.
    pub fn add_gateway(&mut self, gateway: Box<dyn OrderEntry>) {
        self.gateways.push(gateway);
    }

    /// Adds a market-data publisher.
    pub fn add_market_data(&mut self, out: Box<dyn MarketDataOut>) {
        self.market_data.push(out);
    }

    /// Runs one command from outside the gateways (background flow, tests)
    /// and distributes its events; returns them.
    pub fn submit(&mut self, now_ns: u64, command: &Command) -> &[Event] {
        self.events.clear();
        self.engine.process(command, &mut self.events);
        self.processed += 1;
        if let Some(ledger) = &self.ledger {
            // A panic elsewhere while holding the lock leaves a ledger that is
            // still a valid (if incomplete) record: keep feeding it.
            ledger
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .on_events(&self.events);
        }
        for g in &mut self.gateways {
            g.on_events(now_ns, &self.events);
        }
        for m in &mut self.market_data {
            m.on_events(now_ns, &self.events);
        }
        &self.events
    }

    /// One pass of the loop; returns the number of commands processed.
    pub fn poll_once(&mut self, now_ns: u64) -> usize {
        self.commands.clear();
        for g in &mut self.gateways {
            g.poll(now_ns, &mut self.commands);
        }
        let commands = std::mem::take(&mut self.commands);
        for command in &commands {
            self.submit(now_ns, command);
        }
        self.commands = commands;
        for m in &mut self.market_data {
            m.poll(now_ns);
        }
        self.commands.len()
    }

    /// The matching engine (books, orders).
    #[must_use]
    pub const fn engine(&self) -> &MatchingEngine {
        &self.engine
    }

    /// Commands processed so far.
    #[must_use]
    pub const fn processed(&self) -> u64 {
        self.processed
    }
}
