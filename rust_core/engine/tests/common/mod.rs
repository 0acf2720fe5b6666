//! Shared fixtures of the trading integration tests: hand-made ITCH books in
//! MoldUDP64 datagrams, a trader on an in-memory venue, the OUCH requests it
//! wrote, the events it published, and the quoting formula as documented.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use quotewire_core::clock::Clock;
use quotewire_core::{InstrumentId, Price, Qty, Side};
use quotewire_engine::trading::bench::bench_trader_config;
use quotewire_engine::trading::config::TraderConfig;
use quotewire_engine::trading::telemetry::{EngineEvent, EventWriter, LogLevel, LogSink};
use quotewire_engine::trading::trader::{Ack, Control, ControlEnds, ControlMsg, Trader};
use quotewire_feed::Line;
use quotewire_gateway::{MemoryGateway, MemoryGatewayConfig, OrderGateway};
use quotewire_protocol::itch::{AddOrder, Message, OrderDelete, StockDirectory};
use quotewire_protocol::moldudp64::{PacketBuilder, Session, MAX_PAYLOAD};
use quotewire_protocol::ouch::{decode_inbound, Inbound};
use quotewire_protocol::soupbintcp::{frames, Packet};

/// The MoldUDP64 session of every test feed.
pub const SESSION: &str = "QWTRADE";

/// One cent, the tick of every instrument of [`bench_trader_config`].
pub const TICK: i64 = 100;

/// `dollars` and `cents` as a raw price (4 implied decimals).
pub const fn px(dollars: i64, cents: i64) -> i64 {
    dollars * 10_000 + cents * 100
}

/// Builds ITCH messages and packs them into MoldUDP64 datagrams numbered from 1.
#[derive(Debug)]
pub struct Feed {
    session: Session,
    next_seq: u64,
    next_ref: u64,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            session: Session::from_str_padded(SESSION),
            next_seq: 1,
            next_ref: 1,
        }
    }
}

impl Feed {
    /// The sequence number the next datagram starts at.
    pub const fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// A fresh order reference number.
    pub fn order_ref(&mut self) -> u64 {
        let r = self.next_ref;
        self.next_ref += 1;
        r
    }

    /// The datagram carrying `messages`, numbered from the next sequence number.
    pub fn datagram(&mut self, messages: &[Message]) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, self.session, self.next_seq).unwrap();
        let mut scratch = [0u8; 64];
        for m in messages {
            let n = m.encode(&mut scratch).unwrap();
            b.push(&scratch[..n]).unwrap();
        }
        self.next_seq += u64::from(b.count());
        let n = b.finish();
        buf.truncate(n);
        buf
    }
}

/// The `R` message naming instrument `locate`.
pub fn directory(locate: u16, symbol: &str) -> Message {
    let mut stock = [b' '; 8];
    stock[..symbol.len()].copy_from_slice(symbol.as_bytes());
    Message::StockDirectory(StockDirectory {
        luld_reference_price_tier: b'1',
        ..StockDirectory::common_stock(0, locate, stock)
    })
}

/// An `A` message: order `order_ref` of `shares` at `price` (raw) on `locate`.
pub fn add(locate: u16, order_ref: u64, side: Side, shares: u32, price: i64) -> Message {
    Message::AddOrder(AddOrder {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
        side,
        shares,
        stock: *b"        ",
        price: u32::try_from(price).unwrap(),
    })
}

/// A `D` message removing order `order_ref` of `locate`.
pub fn delete(locate: u16, order_ref: u64) -> Message {
    Message::OrderDelete(OrderDelete {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: 0,
        order_ref,
    })
}

/// One OUCH request decoded from the bytes a gateway wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    /// Enter Order.
    New {
        /// UserRefNum.
        cl: u32,
        /// Symbol, space padded.
        symbol: [u8; 8],
        /// Book side.
        side: Side,
        /// Raw price.
        price: i64,
        /// Shares.
        qty: u64,
    },
    /// Replace Order.
    Replace {
        /// The order replaced.
        orig: u32,
        /// The replacement.
        cl: u32,
        /// Raw price.
        price: i64,
        /// Shares.
        qty: u64,
    },
    /// Cancel Order (to `qty` shares left open).
    Cancel {
        /// UserRefNum.
        cl: u32,
        /// Shares left open after the cancel.
        qty: u64,
    },
}

impl Req {
    /// The id the request is sent under (the replacement for a replace).
    pub const fn cl(&self) -> u32 {
        match *self {
            Self::New { cl, .. } | Self::Replace { cl, .. } | Self::Cancel { cl, .. } => cl,
        }
    }
}

/// Decodes every SoupBinTCP packet of `bytes` as an OUCH request.
pub fn decode_requests(bytes: &[u8]) -> Vec<Req> {
    frames(bytes, 1024)
        .map(|p| {
            let Packet::UnsequencedData(m) = p.unwrap() else {
                panic!("not an unsequenced data packet")
            };
            match decode_inbound(m).unwrap() {
                Inbound::EnterOrder(e) => Req::New {
                    cl: e.user_ref_num,
                    symbol: e.symbol,
                    side: e.side.book_side(),
                    price: i64::try_from(e.price).unwrap(),
                    qty: u64::from(e.quantity),
                },
                Inbound::ReplaceOrder(r) => Req::Replace {
                    orig: r.orig_user_ref_num,
                    cl: r.user_ref_num,
                    price: i64::try_from(r.price).unwrap(),
                    qty: u64::from(r.quantity),
                },
                Inbound::CancelOrder(c) => Req::Cancel {
                    cl: c.user_ref_num,
                    qty: u64::from(c.quantity),
                },
                other => panic!("unexpected request {other:?}"),
            }
        })
        .collect()
}

/// A gateway whose written bytes a test can read and forget.
pub trait Recorded: OrderGateway {
    /// The bytes written since the last [`Recorded::forget`].
    fn written(&self) -> &[u8];
    /// Forgets the written bytes.
    fn forget(&mut self);
}

impl Recorded for MemoryGateway {
    fn written(&self) -> &[u8] {
        self.bytes()
    }
    fn forget(&mut self) {
        self.clear();
    }
}

/// The in-memory venue for `config`'s instruments.
pub fn memory_gateway(config: &TraderConfig, auto_ack: bool) -> MemoryGateway {
    MemoryGateway::new(&MemoryGatewayConfig {
        symbols: config
            .instruments
            .iter()
            .map(|i| (i.instrument(), i.symbol.clone()))
            .collect(),
        auto_ack,
        ..MemoryGatewayConfig::default()
    })
    .unwrap()
}

/// A config of `instruments` instruments (ids 1..) quoting one tick either
/// side of the mid, 100 shares, one tick of skew per 100 shares.
pub fn config(instruments: u16) -> TraderConfig {
    bench_trader_config(instruments, 1024)
}

/// A trader with its event writer, control ends, feed and clock.
#[derive(Debug)]
pub struct Harness<G: Recorded = MemoryGateway> {
    /// The trader under test.
    pub trader: Trader<G>,
    /// Its event writer (kept alive; drained by [`Harness::events`]).
    pub writer: EventWriter,
    /// The control plane's ends of its rings.
    pub ends: ControlEnds,
    /// The market-data feed.
    pub feed: Feed,
    /// Its configuration.
    pub config: TraderConfig,
    /// Test time, nanoseconds (advanced by every step).
    pub now: u64,
    control_seq: u64,
    marker: u64,
}

impl Harness<MemoryGateway> {
    /// A trader on `config` with an auto-acknowledging in-memory venue,
    /// logged in (first gateway poll done).
    pub fn new(config: TraderConfig) -> Self {
        let gw = memory_gateway(&config, true);
        Self::with_gateway(config, gw)
    }

    /// A trader on [`config`]`(instruments)` quoting every instrument around a
    /// two-sided book (one bid at 100.00, one ask at 100.10, 300 shares each),
    /// with the venue's acknowledgements read.
    #[allow(dead_code)] // not every test binary uses it
    pub fn quoting(instruments: u16) -> Self {
        let mut h = Self::new(config(instruments));
        for locate in 1..=instruments {
            let (b, a) = (h.feed.order_ref(), h.feed.order_ref());
            h.deliver(&[
                directory(locate, &format!("S{locate}")),
                add(locate, b, Side::Buy, 300, px(100, 0)),
                add(locate, a, Side::Sell, 300, px(100, 10)),
            ]);
        }
        h.poll();
        h
    }
}

impl<G: Recorded> Harness<G> {
    /// A trader on `config` and `gateway`, after its first gateway poll.
    pub fn with_gateway(config: TraderConfig, gateway: G) -> Self {
        let (events, writer) = EventWriter::spawn(1 << 14, LogLevel::Error, LogSink::Null).unwrap();
        let mut trader = Trader::new(&config, gateway, Clock::default(), events).unwrap();
        let ends = trader.control_ends();
        let mut h = Self {
            trader,
            writer,
            ends,
            feed: Feed::default(),
            config,
            now: 1_000,
            control_seq: 0,
            marker: u64::MAX,
        };
        h.poll();
        h
    }

    fn tick(&mut self) -> u64 {
        self.now += 1_000;
        self.now
    }

    /// Delivers `messages` as the next datagram on line A; whether orders were written.
    pub fn deliver(&mut self, messages: &[Message]) -> bool {
        let d = self.feed.datagram(messages);
        self.on(Line::A, &d)
    }

    /// Hands `datagram` to the trader as received on `line`.
    pub fn on(&mut self, line: Line, datagram: &[u8]) -> bool {
        let now = self.tick();
        self.trader.on_datagram(line, now, datagram)
    }

    /// One gateway poll: the venue's answers; returns the reports.
    pub fn poll(&mut self) -> usize {
        let now = self.tick();
        self.trader.poll_gateway(now)
    }

    /// The feed timers (the runner's first call of each loop iteration).
    pub fn timers(&mut self) {
        let now = self.tick();
        let _ = self.trader.poll_feed_timers(now);
    }

    /// Sends `control` through the control ring, applies it and returns its ack.
    pub fn control(&mut self, control: Control) -> Ack {
        self.control_seq += 1;
        let seq = self.control_seq;
        self.ends.control.push(ControlMsg { seq, control }).unwrap();
        let now = self.tick();
        assert_eq!(self.trader.poll_control(now), 1);
        let ack = self.ends.acks.pop().unwrap();
        assert_eq!(ack.seq, seq);
        ack
    }

    /// The requests written since the last call (forgotten afterwards).
    pub fn requests(&mut self) -> Vec<Req> {
        let reqs = decode_requests(self.trader.gateway().written());
        self.trader.gateway_mut().forget();
        reqs
    }

    /// Every event the trader published since the last call, in order.
    /// A marker pushed through the same ring tells when the writer caught up.
    pub fn events(&mut self) -> Vec<EngineEvent> {
        self.marker -= 1;
        let marker = EngineEvent::ControlRefused { seq: self.marker };
        self.trader.events_mut().push(0, marker);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        loop {
            out.extend(self.writer.drain().into_iter().map(|s| s.event));
            if let Some(at) = out.iter().position(|e| *e == marker) {
                assert_eq!(at + 1, out.len(), "events after the marker");
                out.truncate(at);
                return out;
            }
            assert!(Instant::now() < deadline, "event writer stalled");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The skew parameters configured for instrument index `i`.
    pub fn params(&self, i: usize) -> Params {
        let c = &self.config.instruments[i];
        Params {
            tick: c.tick,
            half_spread_ticks: i64::from(c.half_spread_ticks),
            size: i64::try_from(c.size).unwrap(),
            skew_ticks: i64::from(c.skew_ticks),
            max_position: i64::try_from(c.quote_max_position).unwrap(),
        }
    }
}

/// The quoting parameters the formula below needs.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Tick, raw.
    pub tick: i64,
    /// Half spread, ticks.
    pub half_spread_ticks: i64,
    /// Shares per quote.
    pub size: i64,
    /// Skew, ticks per `size` shares.
    pub skew_ticks: i64,
    /// Largest position quoted into.
    pub max_position: i64,
}

/// `n / d` rounded down (`d > 0`).
fn floor_div(n: i128, d: i128) -> i128 {
    n.div_euclid(d)
}

/// `n / d` rounded up (`d > 0`).
fn ceil_div(n: i128, d: i128) -> i128 {
    -(-n).div_euclid(d)
}

/// One side of a quote as `(raw price, shares)`, or none.
pub type Target = Option<(i64, u64)>;

/// The documented `SkewQuoter` formula, in exact rationals: reservation
/// `r = mid - q*k*t/s`, bid `r - h*t` down to the tick, ask `r + h*t` up to
/// the tick, kept off the other side of the market, sizes cut at the
/// position limit. Returns `(bid, ask)` as `(price, qty)`.
pub fn expected_quote(best_bid: i64, best_ask: i64, position: i64, p: Params) -> (Target, Target) {
    let (b, a, q) = (
        i128::from(best_bid),
        i128::from(best_ask),
        i128::from(position),
    );
    let (t, h, s, k) = (
        i128::from(p.tick),
        i128::from(p.half_spread_ticks),
        i128::from(p.size),
        i128::from(p.skew_ticks),
    );
    // r * 2s = (b + a) * s - 2 q k t; bid/ask in ticks over the denominator 2 s t.
    let r2s = (b + a) * s - 2 * q * k * t;
    let bid = (floor_div(r2s - 2 * h * t * s, 2 * s * t) * t).min(a - t);
    let ask = (ceil_div(r2s + 2 * h * t * s, 2 * s * t) * t).max(b + t);
    let max = i128::from(p.max_position);
    let bid_qty = s.min(max - q).max(0);
    let ask_qty = s.min(max + q).max(0);
    let side = |price: i128, qty: i128| {
        (qty > 0 && price > 0).then(|| (i64::try_from(price).unwrap(), qty as u64))
    };
    (side(bid, bid_qty), side(ask, ask_qty))
}

/// The symbol of instrument `id` in [`bench_trader_config`], space padded.
pub fn symbol(id: u16) -> [u8; 8] {
    let mut s = [b' '; 8];
    let name = format!("S{id}");
    s[..name.len()].copy_from_slice(name.as_bytes());
    s
}

/// The one New of `reqs` on `side`, as `(cl, price, qty)`; panics unless exactly one.
pub fn only_new(reqs: &[Req], side: Side) -> (u32, i64, u64) {
    let news: Vec<_> = reqs
        .iter()
        .filter_map(|r| match *r {
            Req::New {
                cl,
                side: s,
                price,
                qty,
                ..
            } if s == side => Some((cl, price, qty)),
            _ => None,
        })
        .collect();
    assert_eq!(news.len(), 1, "{side:?} news in {reqs:?}");
    news[0]
}

/// A resting quote side as `(price, qty)`.
pub fn rest(q: Option<quotewire_strategy::QuoteSide>) -> Option<(i64, u64)> {
    q.map(|q| (q.price.raw(), q.qty.raw()))
}

/// Instrument `id`.
pub const fn inst(id: u16) -> InstrumentId {
    InstrumentId(id)
}

/// `raw` as a price.
pub const fn price(raw: i64) -> Price {
    Price::from_raw(raw)
}

/// `n` shares.
pub const fn qty(n: u64) -> Qty {
    Qty(n)
}
