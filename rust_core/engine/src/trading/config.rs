//! The trading engine's configuration, as Python (or a JSON file) gives it.
//! Validated once, before anything starts; every refusal names the field.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use quotewire_core::{InstrumentId, Price, Qty};
use quotewire_risk::{FirmLimits, InstrumentLimits};
use quotewire_strategy::{Horizon, ModelKind, ModelParams, SkewParams};
use serde::{Deserialize, Serialize};

use super::rules::{RuleConfig, Rules};
use crate::EngineError;

/// One traded instrument: its identity, quoting parameters and limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Instrument id: the ITCH stock locate of the feed.
    pub id: u16,
    /// Venue symbol (OUCH), 1 to 8 characters.
    pub symbol: String,
    /// Tick size, raw price units (4 implied decimals).
    pub tick: i64,
    /// Quote distance from the skewed mid, ticks.
    pub half_spread_ticks: u32,
    /// Shares per quote.
    pub size: u64,
    /// Skew, ticks per `size` shares of inventory.
    pub skew_ticks: u32,
    /// Largest position the quoter builds, shares.
    pub quote_max_position: u64,
    /// Least price move, in ticks, that re-quotes a resting order.
    pub requote_ticks: u32,
    /// Largest order, shares.
    pub max_order_qty: u64,
    /// Largest order notional, raw price units times shares.
    pub max_order_notional: i64,
    /// Price band around the reference (mid), basis points.
    pub price_band_bps: u32,
    /// Largest position counting open orders (risk limit), shares.
    pub max_position: u64,
    /// Quoting model: `skew`, `avellaneda_stoikov` or `glft`.
    #[serde(default = "default_model")]
    pub model: String,
    /// Risk aversion (AS, GLFT), per tick.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// AS horizon, seconds (rolling); none: the infinite-horizon form.
    #[serde(default)]
    pub horizon_s: Option<f64>,
    /// Fixed volatility, ticks per sqrt(s); none: estimated online.
    #[serde(default)]
    pub sigma: Option<f64>,
    /// Fixed order-arrival intensity scale A, per second; none: estimated.
    #[serde(default)]
    pub a: Option<f64>,
    /// Fixed intensity decay k, per tick; none: estimated.
    #[serde(default)]
    pub k: Option<f64>,
    /// Floor on every model's half spread, ticks.
    #[serde(default = "default_one")]
    pub min_half_spread_ticks: u32,
    /// Quote levels per side.
    #[serde(default = "default_levels")]
    pub levels: u8,
    /// Ticks between levels.
    #[serde(default = "default_one")]
    pub level_spacing_ticks: u32,
    /// Each further level's size grows by this percentage.
    #[serde(default)]
    pub level_size_step_pct: u32,
    /// Volatility estimator half-life, seconds.
    #[serde(default = "default_vol_half_life")]
    pub vol_half_life_s: f64,
    /// Intensity estimator half-life, seconds.
    #[serde(default = "default_intensity_half_life")]
    pub intensity_half_life_s: f64,
}

fn default_model() -> String {
    "skew".into()
}
const fn default_gamma() -> f64 {
    0.1
}
const fn default_one() -> u32 {
    1
}
const fn default_levels() -> u8 {
    1
}
const fn default_vol_half_life() -> f64 {
    30.0
}
const fn default_intensity_half_life() -> f64 {
    60.0
}

impl InstrumentConfig {
    /// The model parameters.
    pub fn model_params(&self) -> Result<ModelParams, EngineError> {
        let kind = match self.model.as_str() {
            "skew" => ModelKind::Skew,
            "avellaneda_stoikov" => ModelKind::AvellanedaStoikov,
            "glft" => ModelKind::Glft,
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "model = {other:?}: one of skew, avellaneda_stoikov, glft"
                )))
            }
        };
        let params = ModelParams {
            kind,
            tick: Price::from_raw(self.tick),
            size: Qty(self.size),
            levels: self.levels,
            level_spacing_ticks: self.level_spacing_ticks,
            level_size_step_pct: self.level_size_step_pct,
            max_position: self.quote_max_position,
            requote_ticks: self.requote_ticks,
            half_spread_ticks: self.half_spread_ticks,
            skew_ticks: self.skew_ticks,
            gamma: self.gamma,
            horizon: self
                .horizon_s
                .map_or(Horizon::Infinite, |seconds| Horizon::Rolling { seconds }),
            sigma: self.sigma,
            a: self.a,
            k: self.k,
            min_half_spread_ticks: self.min_half_spread_ticks,
            vol_half_life_s: self.vol_half_life_s,
            intensity_half_life_s: self.intensity_half_life_s,
        };
        params
            .validate()
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        Ok(params)
    }

    /// The quoting parameters of the skew model.
    #[must_use]
    pub fn skew_params(&self) -> SkewParams {
        SkewParams {
            tick: Price::from_raw(self.tick),
            half_spread_ticks: self.half_spread_ticks,
            size: Qty(self.size),
            skew_ticks: self.skew_ticks,
            max_position: self.quote_max_position,
            requote_ticks: self.requote_ticks,
        }
    }

    /// The risk limits.
    #[must_use]
    pub fn limits(&self) -> InstrumentLimits {
        InstrumentLimits {
            max_order_qty: self.max_order_qty,
            max_order_notional: self.max_order_notional,
            price_band_bps: self.price_band_bps,
            max_position: self.max_position,
        }
    }

    /// The instrument id.
    #[must_use]
    pub const fn instrument(&self) -> InstrumentId {
        InstrumentId(self.id)
    }
}

/// Firm-wide limits.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirmConfig {
    /// Largest gross exposure, raw notional.
    pub max_gross_exposure: i64,
    /// Largest absolute net exposure, raw notional.
    pub max_net_exposure: i64,
    /// Most open orders.
    pub max_open_orders: u32,
    /// Order-rate throttle: sustained orders per second.
    pub orders_per_sec: u32,
    /// Order-rate throttle: burst.
    pub burst: u32,
    /// Kill when total PnL falls to minus this (raw units); 0 disables.
    pub max_drawdown: i64,
}

impl FirmConfig {
    /// As risk limits.
    #[must_use]
    pub const fn limits(&self) -> FirmLimits {
        FirmLimits {
            max_gross_exposure: self.max_gross_exposure,
            max_net_exposure: self.max_net_exposure,
            max_open_orders: self.max_open_orders,
            orders_per_sec: self.orders_per_sec,
            burst: self.burst,
            max_drawdown: self.max_drawdown,
        }
    }
}

/// Order management sizing.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OmsSection {
    /// Live orders the slab holds.
    pub capacity: usize,
    /// Requests awaiting the venue's answer.
    pub max_in_flight: usize,
}

impl Default for OmsSection {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            max_in_flight: 4_096,
        }
    }
}

/// Where market data arrives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeedSection {
    /// Local address the ITCH/MoldUDP64 datagrams arrive at.
    pub bind: SocketAddrV4,
    /// Multicast group to join, if the feed is multicast.
    #[serde(default)]
    pub multicast_group: Option<Ipv4Addr>,
    /// Interface address for the multicast join.
    #[serde(default)]
    pub multicast_interface: Option<Ipv4Addr>,
    /// MoldUDP64 retransmission server, for gap recovery.
    #[serde(default)]
    pub retransmit: Option<SocketAddr>,
    /// Stale-feed interval, milliseconds (0 = off).
    #[serde(default)]
    pub stale_after_ms: u64,
    /// Give a gap up after this long, milliseconds.
    #[serde(default = "default_recovery_ms")]
    pub recovery_timeout_ms: u64,
    /// Live datagrams buffered while a gap is recovered (2 KiB each). A
    /// restarted engine rebuilds its books from the retransmission of the
    /// whole session while the live feed keeps coming: too few slots and the
    /// gap is given up (a feed-gap kill).
    #[serde(default = "default_reorder_slots")]
    pub reorder_slots: usize,
    /// How the live feed is read: a kernel UDP socket or a DPDK port.
    #[serde(default)]
    pub transport: FeedTransport,
    /// The DPDK port, when `transport` is `dpdk`.
    #[serde(default)]
    pub dpdk: Option<DpdkFeedSection>,
}

/// How the engine reads the live feed.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FeedTransport {
    /// A kernel UDP socket bound to `feed.bind` (joining `feed.multicast_group`).
    #[default]
    Udp,
    /// A DPDK port (`feed.dpdk`; the engine must be built with the `dpdk`
    /// feature), keeping datagrams to `feed.bind`'s port and
    /// `feed.multicast_group` (or `feed.bind`'s address when not unspecified).
    /// Gap recovery still uses a kernel socket towards `feed.retransmit`.
    Dpdk,
}

/// The DPDK port the feed arrives on and how the EAL is started (once per process).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DpdkFeedSection {
    /// The port: a vdev name (`net_af_packet0`) or a PCI address.
    pub device: String,
    /// EAL logical cores (`-l`).
    #[serde(default = "default_eal_cores")]
    pub cores: String,
    /// EAL memory, MiB (`-m`).
    #[serde(default = "default_eal_memory_mb")]
    pub memory_mb: u32,
    /// Plain pages instead of hugepages (`--no-huge`): tests and containers.
    #[serde(default)]
    pub no_huge: bool,
    /// Skip the PCI bus (`--no-pci`).
    #[serde(default)]
    pub no_pci: bool,
    /// Keep no shared runtime files (`--no-shconf`).
    #[serde(default)]
    pub no_shconf: bool,
    /// Virtual devices (`--vdev`), e.g. `net_af_packet0,iface=eth1`.
    #[serde(default)]
    pub vdevs: Vec<String>,
    /// PCI devices to use (`-a`).
    #[serde(default)]
    pub pci: Vec<String>,
    /// Runtime file prefix (`--file-prefix`).
    #[serde(default)]
    pub file_prefix: Option<String>,
    /// More EAL arguments, passed as given.
    #[serde(default)]
    pub eal_args: Vec<String>,
    /// RX descriptors of the queue.
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    /// TX descriptors of the queue.
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// Mbufs in the port's pool (at least rx_desc + tx_desc + 64).
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// Packets taken per receive burst, 1 to 64.
    #[serde(default = "default_dpdk_burst")]
    pub burst: u16,
}

fn default_eal_cores() -> String {
    "0".into()
}
const fn default_eal_memory_mb() -> u32 {
    1024
}
const fn default_desc() -> u16 {
    1024
}
const fn default_mbufs() -> u32 {
    8191
}
const fn default_dpdk_burst() -> u16 {
    32
}

impl DpdkFeedSection {
    fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::InvalidArgument(m));
        if self.device.is_empty() {
            return bad("feed.dpdk.device: empty; name the port (vdev name or PCI address)".into());
        }
        if self.burst == 0 || self.burst > 64 {
            return bad(format!("feed.dpdk.burst = {}: 1 to 64", self.burst));
        }
        if self.rx_desc == 0 || self.tx_desc == 0 {
            return bad("feed.dpdk.rx_desc, tx_desc: at least 1".into());
        }
        let need = u32::from(self.rx_desc) + u32::from(self.tx_desc) + 64;
        if self.mbufs < need {
            return bad(format!(
                "feed.dpdk.mbufs = {}: at least rx_desc + tx_desc + 64 = {need}",
                self.mbufs
            ));
        }
        Ok(())
    }
}

const fn default_recovery_ms() -> u64 {
    1_000
}
const fn default_reorder_slots() -> usize {
    4_096
}

/// The OUCH order session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OuchSection {
    /// Venue's SoupBinTCP address.
    pub addr: SocketAddr,
    /// Login username.
    pub username: String,
    /// Login password.
    pub password: String,
    /// Requested session (blank: the current one).
    #[serde(default)]
    pub session: String,
    /// Where sequence numbers persist across restarts.
    #[serde(default)]
    pub state_file: Option<String>,
    /// Client heartbeat interval, milliseconds.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Server silence that counts as a lost session, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Reconnect after a lost session.
    #[serde(default = "default_true")]
    pub reconnect: bool,
}

/// The FIX 4.4 order session (used instead of [`OuchSection`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FixSection {
    /// The venue's FIX acceptor address.
    pub addr: SocketAddr,
    /// Our SenderCompID(49).
    pub sender_comp_id: String,
    /// The venue's CompID, our TargetCompID(56).
    pub target_comp_id: String,
    /// Account(1) on every order, if set.
    #[serde(default)]
    pub account: Option<String>,
    /// Where MsgSeqNums persist across restarts.
    #[serde(default)]
    pub state_file: Option<String>,
    /// HeartBtInt(108), whole seconds.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_interval_secs: u32,
    /// A connect, Logon or Logout answer that takes longer fails, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub logon_timeout_ms: u64,
    /// Reconnect after a lost session.
    #[serde(default = "default_true")]
    pub reconnect: bool,
    /// Send `ResetSeqNumFlag=Y` on every Logon (both sequences restart at 1).
    #[serde(default)]
    pub reset_seq_num_on_logon: bool,
}

const fn default_heartbeat_secs() -> u32 {
    30
}

fn fix_comp_id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'|')
}

impl FixSection {
    fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::InvalidArgument(m));
        for (name, v) in [
            ("sender_comp_id", &self.sender_comp_id),
            ("target_comp_id", &self.target_comp_id),
        ] {
            if !fix_comp_id_ok(v) {
                return bad(format!(
                    "fix.{name} = {v:?}: 1 to 32 printable ASCII characters"
                ));
            }
        }
        if let Some(a) = &self.account {
            if !fix_comp_id_ok(a) {
                return bad(format!(
                    "fix.account = {a:?}: 1 to 32 printable ASCII characters"
                ));
            }
        }
        if self.heartbeat_interval_secs == 0 || self.heartbeat_interval_secs > 3_600 {
            return bad(format!(
                "fix.heartbeat_interval_secs = {}: 1 to 3600",
                self.heartbeat_interval_secs
            ));
        }
        if self.logon_timeout_ms == 0 {
            return bad("fix.logon_timeout_ms = 0: at least 1".into());
        }
        Ok(())
    }
}

const fn default_heartbeat_ms() -> u64 {
    1_000
}
const fn default_timeout_ms() -> u64 {
    5_000
}
const fn default_true() -> bool {
    true
}

/// The engine thread and its side threads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Core the fast-path thread is pinned to (none: not pinned).
    #[serde(default)]
    pub core: Option<usize>,
    /// Refuse to pin to a core the kernel has not isolated (`isolcpus`).
    #[serde(default)]
    pub strict_isolation: bool,
    /// Lowest level written to the log: debug, info, warn or error.
    #[serde(default = "default_level")]
    pub log_level: String,
    /// Log file (none: standard error).
    #[serde(default)]
    pub log_file: Option<String>,
    /// Capacity of the event ring to the writer thread.
    #[serde(default = "default_ring")]
    pub event_ring: usize,
    /// Fire the kill switch when the feed goes stale.
    #[serde(default = "default_true")]
    pub kill_on_stale: bool,
    /// Re-arm by itself once a lost order session is back and reconciled.
    #[serde(default = "default_true")]
    pub rearm_after_reconnect: bool,
    /// Sleep this long (microseconds) when idle instead of spinning; 0 = pure busy-poll.
    #[serde(default)]
    pub idle_sleep_us: u64,
    /// Journal directory (none: no journal).
    #[serde(default)]
    pub journal_dir: Option<String>,
    /// Journal segment size, MiB.
    #[serde(default = "default_segment_mb")]
    pub journal_segment_mb: u64,
    /// Rebuild state from the journal on start (`docs/recovery.md`); none:
    /// when `journal_dir` holds segments.
    #[serde(default)]
    pub recover: Option<bool>,
}

const fn default_segment_mb() -> u64 {
    64
}

fn default_level() -> String {
    "info".into()
}
const fn default_ring() -> usize {
    1 << 16
}

impl Default for EngineSection {
    fn default() -> Self {
        Self {
            core: None,
            strict_isolation: false,
            log_level: default_level(),
            log_file: None,
            event_ring: default_ring(),
            kill_on_stale: true,
            rearm_after_reconnect: true,
            idle_sleep_us: 0,
            journal_dir: None,
            journal_segment_mb: default_segment_mb(),
            recover: None,
        }
    }
}

/// Everything the engine is built from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraderConfig {
    /// Traded instruments.
    pub instruments: Vec<InstrumentConfig>,
    /// Firm-wide limits.
    pub firm: FirmConfig,
    /// Order management sizing.
    #[serde(default)]
    pub oms: OmsSection,
    /// Market data.
    pub feed: FeedSection,
    /// Order entry over OUCH (exactly one of `ouch` and `fix`).
    #[serde(default)]
    pub ouch: Option<OuchSection>,
    /// Order entry over FIX 4.4 (exactly one of `ouch` and `fix`).
    #[serde(default)]
    pub fix: Option<FixSection>,
    /// Threads, logging, policies.
    #[serde(default)]
    pub engine: EngineSection,
    /// Automatic adjustment rules, compiled into the fast path.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

impl TraderConfig {
    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, EngineError> {
        serde_json::from_str(text).map_err(|e| EngineError::InvalidArgument(format!("config: {e}")))
    }

    /// Checks what serde cannot: ranges, duplicates, model parameters.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::InvalidArgument(m));
        if self.instruments.is_empty() {
            return bad("instruments: at least one instrument is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, inst) in self.instruments.iter().enumerate() {
            if !seen.insert(inst.id) {
                return bad(format!("instruments[{i}].id = {} is listed twice", inst.id));
            }
            if inst.symbol.is_empty() || inst.symbol.len() > 8 || !inst.symbol.is_ascii() {
                return bad(format!(
                    "instruments[{i}].symbol = {:?}: 1 to 8 ASCII characters",
                    inst.symbol
                ));
            }
            if let Err(e) = inst.model_params() {
                return bad(format!("instruments[{i}]: {e}"));
            }
        }
        if self.oms.capacity == 0 || self.oms.capacity > 1 << 26 {
            return bad(format!(
                "oms.capacity = {}: 1 to 67108864",
                self.oms.capacity
            ));
        }
        if self.feed.reorder_slots == 0 || self.feed.reorder_slots > 1 << 20 {
            return bad(format!(
                "feed.reorder_slots = {}: 1 to 1048576",
                self.feed.reorder_slots
            ));
        }
        if self.oms.max_in_flight == 0 {
            return bad("oms.max_in_flight = 0: at least 1".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(id) = r.instrument {
                if !seen.contains(&id) {
                    return bad(format!(
                        "rules[{i}].instrument = {id} is not a configured instrument"
                    ));
                }
            }
        }
        Rules::compile(&self.rules)?;
        match (self.feed.transport, &self.feed.dpdk) {
            (FeedTransport::Udp, _) => {}
            (FeedTransport::Dpdk, None) => {
                return bad("feed.transport = \"dpdk\" needs a [feed.dpdk] section".into())
            }
            (FeedTransport::Dpdk, Some(d)) => {
                if !cfg!(feature = "dpdk") {
                    return bad(
                        "feed.transport = \"dpdk\": this engine was built without the dpdk feature"
                            .into(),
                    );
                }
                d.validate()?;
            }
        }
        match (&self.ouch, &self.fix) {
            (Some(_), None) => {}
            (None, Some(f)) => f.validate()?,
            (Some(_), Some(_)) => {
                return bad("ouch and fix are both set: choose one order-entry protocol".into())
            }
            (None, None) => return bad("order entry: an ouch or a fix section is required".into()),
        }
        if self.engine.recover == Some(true) && self.engine.journal_dir.is_none() {
            return bad("engine.recover = true needs engine.journal_dir".into());
        }
        if super::telemetry::LogLevel::parse(&self.engine.log_level).is_none() {
            return bad(format!(
                "engine.log_level = {:?}: one of debug, info, warn, error",
                self.engine.log_level
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::bench::bench_trader_config;

    fn fix_section() -> FixSection {
        FixSection {
            addr: "127.0.0.1:9878".parse().unwrap(),
            sender_comp_id: "QWMM".into(),
            target_comp_id: "VENUE".into(),
            account: None,
            state_file: None,
            heartbeat_interval_secs: 30,
            logon_timeout_ms: 5_000,
            reconnect: true,
            reset_seq_num_on_logon: false,
        }
    }

    fn refusal(config: &TraderConfig) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn fix_instead_of_ouch_validates_and_both_or_neither_are_refused() {
        let mut c = bench_trader_config(1, 64);
        c.fix = Some(fix_section());
        assert!(refusal(&c).contains("both set"));
        let ouch = c.ouch.take();
        c.validate().unwrap();
        c.fix = None;
        assert!(refusal(&c).contains("an ouch or a fix section is required"));
        c.ouch = ouch;
        c.validate().unwrap();
    }

    #[test]
    fn fix_section_fields_are_checked_by_name() {
        let mut c = bench_trader_config(1, 64);
        c.ouch = None;
        c.fix = Some(FixSection {
            sender_comp_id: String::new(),
            ..fix_section()
        });
        assert!(refusal(&c).contains("fix.sender_comp_id"));
        c.fix = Some(FixSection {
            heartbeat_interval_secs: 0,
            ..fix_section()
        });
        assert!(refusal(&c).contains("fix.heartbeat_interval_secs"));
    }

    #[test]
    fn fix_and_dpdk_sections_parse_from_json_with_defaults() {
        let mut v = serde_json::to_value(bench_trader_config(1, 64)).unwrap();
        v["ouch"] = serde_json::Value::Null;
        v["fix"] = serde_json::json!({
            "addr": "127.0.0.1:9878", "sender_comp_id": "QWMM", "target_comp_id": "VENUE"
        });
        v["feed"]["transport"] = "dpdk".into();
        v["feed"]["dpdk"] = serde_json::json!({
            "device": "net_af_packet0", "vdevs": ["net_af_packet0,iface=veth0"], "no_huge": true
        });
        let c = TraderConfig::from_json(&v.to_string()).unwrap();
        let fix = c.fix.as_ref().unwrap();
        assert_eq!(fix.heartbeat_interval_secs, 30);
        assert!(fix.reconnect);
        assert_eq!(c.feed.transport, FeedTransport::Dpdk);
        let d = c.feed.dpdk.as_ref().unwrap();
        assert_eq!((d.burst, d.rx_desc, d.mbufs), (32, 1024, 8191));
        assert_eq!(d.cores, "0");
        v["feed"]["transport"] = "rdma".into();
        assert!(TraderConfig::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn dpdk_transport_needs_its_section_and_sane_sizes() {
        let mut c = bench_trader_config(1, 64);
        c.feed.transport = FeedTransport::Dpdk;
        assert!(refusal(&c).contains("[feed.dpdk]"));
        let mut d: DpdkFeedSection =
            serde_json::from_str(r#"{"device": "net_null0", "burst": 65}"#).unwrap();
        c.feed.dpdk = Some(d.clone());
        let why = refusal(&c);
        if cfg!(feature = "dpdk") {
            assert!(why.contains("feed.dpdk.burst"), "{why}");
            d.burst = 32;
            d.mbufs = 100;
            c.feed.dpdk = Some(d);
            assert!(refusal(&c).contains("feed.dpdk.mbufs"));
        } else {
            assert!(why.contains("without the dpdk feature"), "{why}");
        }
    }
}
