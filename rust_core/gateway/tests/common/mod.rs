//! Shared scaffolding of the client integration tests: the one instrument and
//! the venue's matching configuration, a [`Driver`] that runs a client from a
//! monotonic clock with bounded waits, and the order requests the tests send.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use quotewire_core::order::{
    CancelOrder, ClOrdId, ExecReport, NewOrder, OrderRequest, ReplaceOrder, TimeInForce,
};
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_gateway::{OrderGateway, RecordingSink, SessionStatus};
use quotewire_venue::matching::{InstrumentConfig, PriceBand, VenueConfig};

/// The one instrument traded.
pub const AAPL: InstrumentId = InstrumentId(1);
/// 100.0000, inside the venue's band.
pub const PX: i64 = 1_000_000;
/// The instrument's tick.
pub const TICK: i64 = 100;
/// The bound of every wait.
pub const WAIT: Duration = Duration::from_secs(10);
/// One millisecond in nanoseconds.
pub const MS: u64 = 1_000_000;

/// What a client reported.
pub type Rec = RecordingSink;

/// The venue's matching engine: [`AAPL`] only, tick [`TICK`], band 90 to 110.
pub fn matching() -> VenueConfig {
    VenueConfig {
        max_orders: 1024,
        max_band_levels: 4096,
        instruments: vec![InstrumentConfig {
            id: AAPL,
            tick: Price(TICK),
            band: PriceBand::Range {
                min: Price(900_000),
                max: Price(1_100_000),
            },
            max_order_qty: Qty(1_000_000),
        }],
        ..VenueConfig::default()
    }
}

/// A client the [`Driver`] can build and describe.
pub trait TestClient: OrderGateway + Sized {
    /// Its configuration.
    type Config;
    /// Builds it (a valid configuration is a test's premise).
    fn build(config: Self::Config) -> Self;
    /// Counters printed when a wait times out.
    fn diag(&self) -> String;
}

/// A client, what it reported, and a monotonic clock.
#[derive(Debug)]
pub struct Driver<C> {
    pub client: C,
    pub rec: Rec,
    pub start: Instant,
}

impl<C: TestClient> Driver<C> {
    pub fn new(config: C::Config) -> Self {
        Self {
            client: C::build(config),
            rec: Rec::default(),
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the driver started, from 1.
    pub fn now(&self) -> u64 {
        1 + u64::try_from(self.start.elapsed().as_nanos()).unwrap()
    }

    /// One turn of the caller's loop: flush, poll, a short sleep.
    pub fn tick(&mut self) {
        let now = self.now();
        self.client.flush(now).ok();
        self.client.poll(now, &mut self.rec);
        std::thread::sleep(Duration::from_micros(200));
    }

    /// Ticks until `cond` holds; fails after [`WAIT`].
    pub fn until(&mut self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events {:?}, reports {:?}, {}",
                self.rec.events,
                self.rec.reports,
                self.client.diag()
            );
            self.tick();
        }
    }

    /// Ticks for `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.tick();
        }
    }

    pub fn ready(&mut self) {
        self.until("Ready", |d| d.client.status() == SessionStatus::Ready);
    }

    /// Sends and flushes `req`; both must succeed.
    pub fn send(&mut self, req: &OrderRequest) {
        let now = self.now();
        self.client.send(now, req).expect("send");
        self.client.flush(now).expect("flush");
    }

    /// Waits until `n` reports have arrived in total.
    pub fn reports(&mut self, n: usize) {
        self.until(&format!("{n} reports"), |d| d.rec.reports.len() >= n);
    }
}

pub fn order(cl: u32, side: Side, price: i64, qty: u64, tif: TimeInForce) -> OrderRequest {
    OrderRequest::New(NewOrder {
        cl: ClOrdId(cl),
        instrument: AAPL,
        side,
        price: Price(price),
        qty: Qty(qty),
        tif,
        post_only: false,
    })
}

/// A Day buy of [`AAPL`].
pub fn buy(cl: u32, price: i64, qty: u64) -> OrderRequest {
    order(cl, Side::Buy, price, qty, TimeInForce::Day)
}

/// A replace of buy `orig` by `cl`.
pub fn replace(orig: u32, cl: u32, price: i64, qty: u64) -> OrderRequest {
    OrderRequest::Replace(ReplaceOrder {
        orig: ClOrdId(orig),
        cl: ClOrdId(cl),
        instrument: AAPL,
        side: Side::Buy,
        price: Price(price),
        qty: Qty(qty),
        post_only: false,
    })
}

/// A cancel of buy `cl`.
pub fn cancel(cl: u32) -> OrderRequest {
    OrderRequest::Cancel(CancelOrder {
        cl: ClOrdId(cl),
        instrument: AAPL,
        side: Side::Buy,
    })
}

/// The report's timestamp.
pub fn ts_of(r: &ExecReport) -> u64 {
    match r {
        ExecReport::Accepted { ts_ns, .. }
        | ExecReport::Replaced { ts_ns, .. }
        | ExecReport::Canceled { ts_ns, .. }
        | ExecReport::Executed { ts_ns, .. }
        | ExecReport::Rejected { ts_ns, .. }
        | ExecReport::CancelRejected { ts_ns, .. }
        | ExecReport::BrokenTrade { ts_ns, .. } => *ts_ns,
    }
}
