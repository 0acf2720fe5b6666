//! A whole venue, assembled from one configuration and run on its own thread:
//! the matching engine, the OUCH and FIX gateways and the ITCH publisher.
//!
//! This is what `quotewire venue` and `quotewire.venue.Venue` start. The loop
//! busy-polls while there is work, yields the core after a run of idle
//! passes and then sleeps 50 us between polls, so a simulator on a shared test
//! machine does not starve its peers.
//!
//! Every running venue keeps a [`FirmLedger`]: [`RunningVenue::firm_state`]
//! tells what the venue knows about a firm's fills and resting orders.
//!
//! A background market among the extra order sources stays adjustable while
//! the venue runs: [`RunningVenue::set_background`] changes an instrument's
//! volatility and rates through the flow's lock-free [`BackgroundControl`].

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use quotewire_core::InstrumentId;
use thiserror::Error;

use crate::background::{BackgroundChange, BackgroundControl, BackgroundError, BackgroundParams};
use crate::fix_gateway::{FixGateway, FixGatewayConfig, FixGatewayError, FixInstrument};
use crate::ledger::{FirmLedger, FirmState};
use crate::matching::{FirmId, MatchingEngine, VenueConfig};
use crate::ouch_gateway::{OuchGateway, OuchGatewayConfig, OuchGatewayError, OuchSymbol};
use crate::publisher::{ItchPublisher, PublisherConfig, PublisherError, PublisherHandle};
use crate::runtime::{OrderEntry, Venue};
use crate::VenueError;

/// Nanoseconds since midnight UTC: the timestamp ITCH and OUCH messages carry.
#[must_use]
pub fn now_ns() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() % 86_400_000_000_000) as u64
}

/// Everything a venue is built from.
#[derive(Clone)]
pub struct ServerConfig {
    /// The matching engine: instruments, ticks, bands, capacity.
    pub matching: VenueConfig,
    /// `(instrument, symbol)` for every instrument, shared by the gateways and the feed.
    pub symbols: Vec<(InstrumentId, String)>,
    /// OUCH 5.0 over SoupBinTCP 4.0 order entry, if enabled (its `symbols` are filled in).
    pub ouch: Option<OuchGatewayConfig>,
    /// FIX 4.4 order entry, if enabled (its `instruments` are filled in).
    pub fix: Option<FixGatewayConfig>,
    /// ITCH 5.0 over MoldUDP64, if enabled (its `instruments` are filled in).
    pub itch: Option<PublisherConfig>,
    /// Extra order sources (the background market), added as gateways.
    pub extra: Vec<BoxedGatewayFactory>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("matching", &self.matching)
            .field("symbols", &self.symbols)
            .field("ouch", &self.ouch)
            .field("fix", &self.fix)
            .field("itch", &self.itch)
            .field("extra", &self.extra.len())
            .finish()
    }
}

/// Builds an extra gateway once the matching engine exists (it may read its rules).
pub type BoxedGatewayFactory =
    Arc<dyn Fn(&MatchingEngine) -> Result<Box<dyn OrderEntry>, String> + Send + Sync>;

/// Why a venue could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The matching configuration was refused.
    #[error("matching: {0}")]
    Matching(#[from] VenueError),
    /// The OUCH gateway could not start.
    #[error("OUCH gateway: {0}")]
    Ouch(#[from] OuchGatewayError),
    /// The FIX gateway could not start.
    #[error("FIX gateway: {0}")]
    Fix(#[from] FixGatewayError),
    /// The ITCH publisher could not start.
    #[error("ITCH publisher: {0}")]
    Publisher(#[from] PublisherError),
    /// An extra order source could not start.
    #[error("order source: {0}")]
    Extra(String),
    /// The venue thread could not be spawned.
    #[error("cannot spawn the venue thread: {0}")]
    Thread(std::io::Error),
}

/// Where a running venue listens.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    /// OUCH/SoupBinTCP listening address.
    pub ouch: Option<SocketAddr>,
    /// FIX listening address.
    pub fix: Option<SocketAddr>,
    /// Where the ITCH feed is sent.
    pub itch: Option<SocketAddrV4>,
    /// The MoldUDP64 retransmission server.
    pub itch_retransmit: Option<SocketAddr>,
}

/// A venue running on its own thread; stopping it ends the ITCH session.
#[derive(Debug)]
pub struct RunningVenue {
    endpoints: Endpoints,
    stop: Arc<AtomicBool>,
    commands: Arc<AtomicU64>,
    publisher: Option<PublisherHandle>,
    ledger: Arc<Mutex<FirmLedger>>,
    /// Controls of the background flows among the extra sources.
    background: Vec<BackgroundControl>,
    thread: Option<JoinHandle<()>>,
}

impl RunningVenue {
    /// Builds every component on the calling thread (so errors are returned
    /// here), then moves the loop to a new thread.
    pub fn start(config: ServerConfig) -> Result<Self, ServerError> {
        let engine = MatchingEngine::new(&config.matching)?;
        let extras = config
            .extra
            .iter()
            .map(|make| make(&engine).map_err(ServerError::Extra))
            .collect::<Result<Vec<_>, _>>()?;
        let background = extras
            .iter()
            .filter_map(|e| e.background_control())
            .collect();
        let ledger = Arc::new(Mutex::new(FirmLedger::new()));
        let mut venue = Venue::new(engine).with_ledger(Arc::clone(&ledger));
        let mut endpoints = Endpoints {
            ouch: None,
            fix: None,
            itch: None,
            itch_retransmit: None,
        };
        if let Some(mut ouch) = config.ouch {
            ouch.symbols = config
                .symbols
                .iter()
                .map(|(id, s)| OuchSymbol {
                    symbol: s.clone(),
                    instrument: *id,
                })
                .collect();
            let gateway = OuchGateway::bind(&ouch)?;
            endpoints.ouch = Some(gateway.local_addr());
            venue.add_gateway(Box::new(gateway));
        }
        if let Some(mut fix) = config.fix {
            fix.instruments = config
                .symbols
                .iter()
                .map(|(id, s)| FixInstrument {
                    symbol: s.clone(),
                    instrument: *id,
                })
                .collect();
            let gateway = FixGateway::bind(&fix)?;
            endpoints.fix = Some(gateway.local_addr());
            venue.add_gateway(Box::new(gateway));
        }
        for extra in extras {
            venue.add_gateway(extra);
        }
        let mut publisher = None;
        if let Some(mut itch) = config.itch {
            for (id, symbol) in &config.symbols {
                itch = itch.with_instrument(*id, symbol);
            }
            let mut p = ItchPublisher::new(&itch)?;
            p.start_session(now_ns());
            endpoints.itch = Some(p.destination());
            endpoints.itch_retransmit = Some(p.retransmit_addr());
            publisher = Some(p.handle());
            venue.add_market_data(Box::new(p));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let commands = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let commands = Arc::clone(&commands);
            let publisher = publisher.clone();
            std::thread::Builder::new()
                .name("qw-venue".into())
                .spawn(move || run(&mut venue, &stop, &commands, publisher.as_ref()))
                .map_err(ServerError::Thread)?
        };
        Ok(Self {
            endpoints,
            stop,
            commands,
            publisher,
            ledger,
            background,
            thread: Some(thread),
        })
    }

    /// Where the venue listens.
    #[must_use]
    pub const fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// Commands matched so far.
    #[must_use]
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// The ITCH publisher's counters, when it runs.
    #[must_use]
    pub fn publisher(&self) -> Option<&PublisherHandle> {
        self.publisher.as_ref()
    }

    /// What the venue knows about `firm` (fills, positions, resting orders);
    /// all zero for a firm it has not seen. Locks the ledger briefly; still
    /// readable after [`RunningVenue::stop`].
    #[must_use]
    pub fn firm_state(&self, firm: FirmId) -> FirmState {
        self.lock_ledger().firm(firm)
    }

    /// Every firm seen and its state, taken under one lock (so consistent
    /// across firms), ascending by firm.
    #[must_use]
    pub fn firm_states(&self) -> Vec<(FirmId, FirmState)> {
        self.lock_ledger().snapshot()
    }

    fn lock_ledger(&self) -> std::sync::MutexGuard<'_, FirmLedger> {
        // A poisoned ledger is still a valid record of the events applied so far.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn background_control(
        &self,
        instrument: InstrumentId,
    ) -> Result<&BackgroundControl, BackgroundError> {
        self.background
            .iter()
            .find(|c| c.drives(instrument))
            .ok_or(BackgroundError::NoFlow(instrument))
    }

    /// Changes `instrument`'s background flow (volatility, limit, marketable
    /// and cancel rates) from the flow's next step, without locking the venue
    /// loop. Refuses an instrument no background flow drives and any value
    /// that is not finite and non-negative (then nothing changes).
    pub fn set_background(
        &self,
        instrument: InstrumentId,
        change: BackgroundChange,
    ) -> Result<(), BackgroundError> {
        self.background_control(instrument)?.set(instrument, change)
    }

    /// The current (configured or last set) background parameters of
    /// `instrument`; `None` when no background flow drives it.
    #[must_use]
    pub fn background(&self, instrument: InstrumentId) -> Option<BackgroundParams> {
        self.background_control(instrument).ok()?.params(instrument)
    }

    /// The background flow's modelled mid of `instrument` (raw price units,
    /// fractional) as of its last arrival; `None` when no flow drives it.
    #[must_use]
    pub fn background_mid(&self, instrument: InstrumentId) -> Option<f64> {
        self.background_control(instrument).ok()?.mid(instrument)
    }

    /// True until [`RunningVenue::stop`].
    #[must_use]
    pub const fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Ends the ITCH session, stops the loop and joins the thread. Idempotent;
    /// endpoints and counters stay readable afterwards.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningVenue {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Idle passes before the loop starts sleeping between polls.
const IDLE_SPINS: u32 = 10_000;
/// Sleep between polls while idle; bounds the added latency of the first order after a lull.
const IDLE_SLEEP: std::time::Duration = std::time::Duration::from_micros(50);

fn run(
    venue: &mut Venue,
    stop: &AtomicBool,
    commands: &AtomicU64,
    publisher: Option<&PublisherHandle>,
) {
    let mut idle: u32 = 0;
    while !stop.load(Ordering::Acquire) {
        let n = venue.poll_once(now_ns());
        if n == 0 {
            idle = idle.saturating_add(1);
            if idle > IDLE_SPINS {
                // Long idle: give the core back for a moment (a dedicated,
                // isolated core would spin instead; this simulator shares one).
                std::thread::sleep(IDLE_SLEEP);
            } else if idle > IDLE_SPINS / 10 {
                std::thread::yield_now();
            }
        } else {
            idle = 0;
            commands.store(venue.processed(), Ordering::Relaxed);
        }
    }
    if let Some(p) = publisher {
        p.request_end_session();
        // Let the publisher send the end of session before the sockets close.
        for _ in 0..10 {
            venue.poll_once(now_ns());
        }
    }
    commands.store(venue.processed(), Ordering::Relaxed);
}
