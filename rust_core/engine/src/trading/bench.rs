//! End-to-end benchmark harnesses of the trading path, run from memory:
//! tick-to-trade (ITCH datagram in, OUCH bytes out) and order actions
//! (risk + OMS + encoder). The loopback tick-to-trade runs in Python against
//! the venue simulator (`quotewire bench tick-to-trade --mode loopback`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use hdrhistogram::Histogram;
use quotewire_core::clock::Clock;
use quotewire_core::order::{ClOrdId, ExecReport, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_feed::Line;
use quotewire_gateway::{MemoryGateway, MemoryGatewayConfig, OrderGateway};
use quotewire_oms::{Oms, OmsConfig};
use quotewire_protocol::moldudp64::{decode_header, Session, MAX_PAYLOAD};
use quotewire_risk::{FirmLimits, InstrumentLimits, OrderCheck, Risk, RiskConfig, Working};
use quotewire_synth::{packetize, Generator};

use super::config::{
    EngineSection, FeedSection, FeedTransport, FirmConfig, InstrumentConfig, OmsSection,
    OuchSection, TraderConfig,
};
use super::telemetry::{EventWriter, LogLevel, LogSink};
use super::trader::Trader;
use crate::bench::{histogram_from_samples, FeedBenchConfig};
use crate::EngineError;

/// Parameters of the in-process tick-to-trade benchmark.
#[derive(Clone, Copy, Debug)]
pub struct TickToTradeConfig {
    /// Market-data messages replayed after the warm-up.
    pub messages: u64,
    /// Instruments in the session (all of them are quoted).
    pub instruments: u16,
    /// Live orders in the books when measurement starts.
    pub live_orders: usize,
    /// Generator seed.
    pub seed: u64,
    /// Largest MoldUDP64 datagram (bytes, header included): about 20 + 40 per
    /// message, so 100 carries 1-2 messages as a venue's feed does at normal
    /// rates, 1400 packs ~40 as in a burst.
    pub max_payload: usize,
}

/// Figures of one in-process tick-to-trade run.
#[derive(Debug)]
pub struct TickToTradeResult {
    /// Datagrams replayed in the measured phase.
    pub datagrams: u64,
    /// ITCH messages in them.
    pub messages: u64,
    /// Datagrams that caused at least one order (the tick-to-trade samples).
    pub count: u64,
    /// Wall time of the measured phase.
    pub elapsed_ns: u64,
    /// Datagrams processed per second (whole path, acknowledgements included).
    pub datagrams_per_sec: f64,
    /// Tick-to-trade: datagram handed to the engine to order bytes written.
    pub tick_to_trade: Histogram<u64>,
    /// Sequencing + decoding + books, per datagram.
    pub feed: Histogram<u64>,
    /// Quoting decision (model, risk, OMS, encoding) per datagram that sent orders.
    pub quote: Histogram<u64>,
    /// Order requests written.
    pub orders: u64,
    /// Fills (none: the in-memory venue only acknowledges).
    pub risk_rejects: u64,
}

fn wide_firm() -> FirmConfig {
    FirmConfig {
        max_gross_exposure: i64::MAX / 4,
        max_net_exposure: i64::MAX / 4,
        max_open_orders: u32::MAX / 2,
        orders_per_sec: 1_000_000_000,
        burst: 1_000_000_000,
        max_drawdown: 0,
    }
}

/// A trader configuration quoting every instrument `1..=instruments` with
/// one-cent ticks and limits wide enough that the model, not risk, decides.
#[must_use]
pub fn bench_trader_config(instruments: u16, capacity: usize) -> TraderConfig {
    let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9));
    TraderConfig {
        instruments: (1..=instruments)
            .map(|id| InstrumentConfig {
                id,
                symbol: format!("S{id}"),
                tick: 100,
                half_spread_ticks: 1,
                size: 100,
                skew_ticks: 1,
                quote_max_position: 1_000_000,
                requote_ticks: 1,
                max_order_qty: 1_000_000,
                max_order_notional: i64::MAX / 8,
                price_band_bps: 10_000,
                max_position: 1_000_000_000,
                model: "skew".into(),
                gamma: 0.1,
                horizon_s: None,
                sigma: None,
                a: None,
                k: None,
                min_half_spread_ticks: 1,
                levels: 1,
                level_spacing_ticks: 1,
                level_size_step_pct: 0,
                vol_half_life_s: 30.0,
                intensity_half_life_s: 60.0,
            })
            .collect(),
        firm: wide_firm(),
        oms: OmsSection {
            capacity,
            max_in_flight: capacity,
        },
        feed: FeedSection {
            bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            multicast_group: None,
            multicast_interface: None,
            retransmit: None,
            stale_after_ms: 0,
            recovery_timeout_ms: 1_000,
            reorder_slots: 256,
            transport: FeedTransport::Udp,
            dpdk: None,
        },
        ouch: Some(OuchSection {
            addr: any,
            username: "BENCH".into(),
            password: "x".into(),
            session: String::new(),
            state_file: None,
            heartbeat_ms: 1_000,
            timeout_ms: 5_000,
            reconnect: false,
        }),
        fix: None,
        engine: EngineSection {
            kill_on_stale: false,
            ..EngineSection::default()
        },
        rules: Vec::new(),
    }
}

fn symbols_of(config: &TraderConfig) -> Vec<(InstrumentId, String)> {
    config
        .instruments
        .iter()
        .map(|i| (i.instrument(), i.symbol.clone()))
        .collect()
}

/// Replays a generated session from memory through the whole fast path
/// (sequencer, books, quoting, risk, OMS, OUCH encoding into a buffer) with
/// an in-memory venue that acknowledges every request on the next poll.
pub fn run_tick_to_trade(config: &TickToTradeConfig) -> Result<TickToTradeResult, EngineError> {
    let feed = FeedBenchConfig {
        messages: config.messages,
        live_orders: config.live_orders,
        instruments: config.instruments,
        seed: config.seed,
    };
    let synth = feed.synth();
    let datagrams = packetize(
        Generator::new(synth.clone())?,
        Session::from_str_padded("QWT2T"),
        1,
        config.max_payload.clamp(64, MAX_PAYLOAD),
    )?;
    let warm_end = synth.framing_messages() - 3 + feed.warmup_messages();
    let split = datagrams
        .iter()
        .position(|d| decode_header(d).is_ok_and(|h| h.sequence > warm_end))
        .unwrap_or(datagrams.len());
    let clock = Clock::default();
    let (events, mut writer) = EventWriter::spawn(1 << 16, LogLevel::Error, LogSink::Null)
        .map_err(|source| EngineError::Io {
            path: "event writer".into(),
            source,
        })?;
    let capacity = usize::from(config.instruments) * 4 + 1024;
    let trader_config = bench_trader_config(config.instruments, capacity);
    let gateway = MemoryGateway::new(&MemoryGatewayConfig {
        symbols: symbols_of(&trader_config),
        auto_ack: true,
        ack_capacity: 1 << 16,
        max_orders: 1 << 20,
        ..MemoryGatewayConfig::default()
    })
    .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let mut trader = Trader::new(&trader_config, gateway, clock, events)?;
    trader.poll_gateway(clock.now_ns());
    let replay = |trader: &mut Trader<MemoryGateway>, d: &[u8]| {
        let rx = clock.now_ns();
        trader.on_datagram(Line::A, rx, d);
        trader.poll_gateway(clock.now_ns());
        if trader.gateway().bytes().len() > (1 << 19) {
            trader.gateway_mut().clear();
        }
    };
    for d in datagrams.iter().take(split) {
        replay(&mut trader, d);
    }
    trader.reset_latencies();
    let before = *trader.counters();
    let started = Instant::now();
    let mut n = 0u64;
    for d in datagrams.iter().skip(split) {
        replay(&mut trader, d);
        n += 1;
    }
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    let after = *trader.counters();
    writer.stop();
    let lat = trader.latencies();
    Ok(TickToTradeResult {
        datagrams: n,
        messages: after.messages - before.messages,
        count: lat.tick_to_trade.len(),
        elapsed_ns,
        datagrams_per_sec: n as f64 * 1e9 / elapsed_ns.max(1) as f64,
        tick_to_trade: lat.tick_to_trade.clone(),
        feed: lat.feed.clone(),
        quote: lat.quote.clone(),
        orders: (after.orders_new + after.orders_replace + after.orders_cancel)
            - (before.orders_new + before.orders_replace + before.orders_cancel),
        risk_rejects: trader.risk().checks() - trader.risk().accepted(),
    })
}

/// Parameters of the order-action benchmark.
#[derive(Clone, Copy, Debug)]
pub struct OrdersBenchConfig {
    /// Actions measured (a third each of new, replace and cancel).
    pub actions: u64,
    /// Live orders held by the OMS throughout (the slab is sized for them).
    pub live_orders: usize,
    /// Instruments the orders spread over.
    pub instruments: u16,
    /// Seed of the action mix.
    pub seed: u64,
    /// Replaces and cancels pick among the most recent this many live orders
    /// (a quoting strategy's hot set over a deep resting book); 0 picks
    /// uniformly among all live orders (every action a cache miss).
    pub working_set: usize,
}

/// Figures of one order-action run.
#[derive(Debug)]
pub struct OrdersBenchResult {
    /// Actions measured.
    pub count: u64,
    /// Wall time, acknowledgements included.
    pub elapsed_ns: u64,
    /// Actions per second, acknowledgements included.
    pub per_sec: f64,
    /// Per action: risk check + OMS + OUCH encoding (acknowledgement excluded).
    pub histogram: Histogram<u64>,
    /// OMS memory (slab + indexes) divided by its capacity.
    pub bytes_per_order: f64,
    /// OMS memory, bytes.
    pub oms_bytes: usize,
    /// Live orders at the end.
    pub live_orders: usize,
    /// Actions by kind: new, replace, cancel.
    pub by_kind: [u64; 3],
    /// Risk rejections (should be none with the benchmark's limits).
    pub risk_rejects: u64,
}

/// xorshift64*: the action mix, without a dependency on the hot path.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Place/replace/cancel through pre-trade risk, the OMS and the OUCH encoder,
/// on an OMS holding `live_orders` live orders; each request is then
/// acknowledged as the venue would (Accepted/Replaced/Canceled) before the next.
pub fn run_orders_bench(config: &OrdersBenchConfig) -> Result<OrdersBenchResult, EngineError> {
    let bad = |e: &dyn std::fmt::Display| EngineError::InvalidArgument(e.to_string());
    let instruments = usize::from(config.instruments.max(1));
    let capacity = config.live_orders + 1024;
    let mut oms = Oms::new(&OmsConfig {
        capacity,
        max_instruments: instruments + 1,
        max_in_flight: 4_096,
    })
    .map_err(|e| bad(&e))?;
    let mut risk = Risk::new(&RiskConfig {
        instruments: instruments + 1,
        firm: wide_firm().limits(),
        default_instrument: InstrumentLimits {
            max_order_qty: 1_000_000,
            max_order_notional: i64::MAX / 8,
            price_band_bps: 10_000,
            max_position: u64::MAX / 8,
        },
    })
    .map_err(|e| bad(&e))?;
    let _: FirmLimits = risk.firm_limits();
    for i in 1..=instruments {
        let _ = risk.on_reference(InstrumentId(i as u16), Price::from_raw(1_000_000));
    }
    let mut gateway = MemoryGateway::new(&MemoryGatewayConfig {
        symbols: (1..=instruments as u16)
            .map(|id| (InstrumentId(id), format!("S{id}")))
            .collect(),
        ..MemoryGatewayConfig::default()
    })
    .map_err(|e| bad(&e))?;
    let mut live: Vec<ClOrdId> = Vec::with_capacity(capacity);
    let mut next_venue = 1u64;
    let mut mix = Mix(config.seed | 1);
    // Bids below 100.00, asks above: our own orders never cross.
    let price_of = |side: Side, r: u64| match side {
        Side::Buy => Price::from_raw(990_000 - (r % 500) as i64 * 100),
        Side::Sell => Price::from_raw(1_010_000 + (r % 500) as i64 * 100),
    };
    let ack = |oms: &mut Oms, req: &OrderRequest, venue: &mut u64| {
        let report = match *req {
            OrderRequest::New(o) => {
                *venue += 1;
                ExecReport::Accepted {
                    cl: o.cl,
                    venue_id: OrderId(*venue),
                    price: o.price,
                    qty: o.qty,
                    ts_ns: 0,
                }
            }
            OrderRequest::Replace(o) => {
                *venue += 1;
                ExecReport::Replaced {
                    orig: o.orig,
                    cl: o.cl,
                    venue_id: OrderId(*venue),
                    price: o.price,
                    qty: o.qty,
                    ts_ns: 0,
                }
            }
            OrderRequest::Cancel(o) => {
                let qty = oms.order(o.cl).map_or(Qty::ZERO, |x| x.leaves());
                ExecReport::Canceled {
                    cl: o.cl,
                    qty,
                    reason: quotewire_core::order::CancelReason::User,
                    ts_ns: 0,
                }
            }
        };
        oms.on_report(&report);
    };
    // Fill the slab.
    for n in 0..config.live_orders {
        let r = mix.next();
        let side = if r & 1 == 0 { Side::Buy } else { Side::Sell };
        let inst = InstrumentId((n % instruments) as u16 + 1);
        let o = oms
            .place(
                inst,
                side,
                price_of(side, r >> 8),
                Qty(100),
                TimeInForce::Day,
                true,
                0,
            )
            .map_err(|e| bad(&format!("prefill: {e:?}")))?;
        ack(&mut oms, &OrderRequest::New(o), &mut next_venue);
        live.push(o.cl);
    }
    let clock = Clock::default();
    let mut samples = vec![u32::MAX; config.actions as usize];
    let mut by_kind = [0u64; 3];
    let started = Instant::now();
    for sample in &mut samples {
        let r = mix.next();
        let kind = (r % 3) as usize;
        let span = match config.working_set {
            0 => live.len(),
            n => n.min(live.len()),
        }
        .max(1);
        let pick = live.len().saturating_sub(1 + ((r >> 16) as usize) % span);
        let t0 = clock.now_ns();
        let request = if kind == 0 || live.is_empty() {
            let side = if r & 8 == 0 { Side::Buy } else { Side::Sell };
            let inst = InstrumentId(((r >> 40) as usize % instruments) as u16 + 1);
            let price = price_of(side, r >> 20);
            let w = oms.working(inst);
            let check = OrderCheck {
                instrument: inst,
                side,
                price,
                qty: Qty(100),
                replaces: None,
            };
            let working = Working {
                open_buy_qty: w.open_buy_qty,
                open_sell_qty: w.open_sell_qty,
                best_bid: None,
                best_ask: None,
            };
            if risk.check(t0, &check, &working, w.open_orders).is_err() {
                continue;
            }
            oms.place(inst, side, price, Qty(100), TimeInForce::Day, true, t0)
                .map(OrderRequest::New)
        } else if kind == 1 {
            let cl = live[pick];
            let Some(o) = oms.order(cl) else { continue };
            let (inst, side, old_price, leaves) = (o.instrument(), o.side(), o.price(), o.leaves());
            let price = price_of(side, r >> 20);
            let w = oms.working(inst);
            let check = OrderCheck {
                instrument: inst,
                side,
                price,
                qty: Qty(100),
                replaces: Some((old_price, leaves)),
            };
            let working = Working {
                open_buy_qty: w.open_buy_qty,
                open_sell_qty: w.open_sell_qty,
                best_bid: None,
                best_ask: None,
            };
            if risk.check(t0, &check, &working, w.open_orders).is_err() {
                continue;
            }
            oms.replace(cl, price, Qty(100), t0)
                .map(OrderRequest::Replace)
        } else {
            oms.cancel(live[pick], t0).map(OrderRequest::Cancel)
        };
        let Ok(request) = request else { continue };
        if gateway.send(t0, &request).is_err() {
            gateway.clear();
            let _ = gateway.send(t0, &request);
        }
        let t1 = clock.now_ns();
        *sample = u32::try_from(t1 - t0).unwrap_or(u32::MAX);
        by_kind[kind.min(2)] += 1;
        ack(&mut oms, &request, &mut next_venue);
        match request {
            OrderRequest::New(o) => live.push(o.cl),
            OrderRequest::Replace(o) => live[pick] = o.cl,
            OrderRequest::Cancel(_) => {
                live.swap_remove(pick);
            }
        }
        if gateway.bytes().len() > (1 << 19) {
            gateway.clear();
        }
    }
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    samples.retain(|&s| s != u32::MAX);
    let count = samples.len() as u64;
    let histogram = histogram_from_samples(&samples)?;
    Ok(OrdersBenchResult {
        count,
        elapsed_ns,
        per_sec: count as f64 * 1e9 / elapsed_ns.max(1) as f64,
        histogram,
        bytes_per_order: oms.bytes_per_order(),
        oms_bytes: oms.memory_bytes(),
        live_orders: oms.live_orders(),
        by_kind,
        risk_rejects: risk.checks() - risk.accepted(),
    })
}
