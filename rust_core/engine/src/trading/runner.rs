//! The live engine: the fast-path thread (pinned, busy-polling the feed
//! (a kernel UDP socket or, with the `dpdk` feature, a DPDK queue), the order
//! session (OUCH or FIX, [`SessionGateway`]) and the control ring) and its
//! side threads.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quotewire_core::clock::Clock;
use quotewire_core::order::ClOrdId;
use quotewire_core::InstrumentId;
use quotewire_feed::Line;
use quotewire_gateway::{FixClient, FixClientConfig, OuchClient, OuchClientConfig, SessionGateway};
use quotewire_journal::format::unix_now_ns;
use quotewire_journal::{
    list_segments, spawn_writer, IntentLog, JournalConfig, JournalHandle, JournalStats, RingConfig,
    DEFAULT_INTENT_SLOTS, INTENT_FILE_NAME,
};
#[cfg(feature = "dpdk")]
use quotewire_transport::dpdk::{DpdkConfig, DpdkTransport, Eal, EalConfig};
use quotewire_transport::{
    Received, Transport, TransportError, UdpConfig, UdpTransport, MAX_UDP_PAYLOAD,
};

#[cfg(feature = "dpdk")]
use super::config::DpdkFeedSection;
use super::config::{FeedTransport, FixSection, OuchSection, TraderConfig};
use super::telemetry::{EventWriter, Latencies, LogLevel, LogSink, Stamped};
use super::trader::{Ack, Control, ControlEnds, ControlMsg, SnapshotRecord, Trader};
use crate::EngineError;

/// Datagrams taken from one socket per pass.
const BURST: usize = 32;
/// How long a stopping engine waits for the venue to acknowledge its cancels
/// (it stops waiting as soon as none is left, or the session ends). A fill that
/// races a cancel arrives before that cancel's acknowledgement, so the stop
/// summary's positions are exact when every cancel is acknowledged; on a loaded
/// host 500 ms was seen to cut that short (the venue then cancels on
/// disconnect, and the fill is found by the next start's reconciliation).
const DRAIN: Duration = Duration::from_secs(5);
/// A recovering engine's refused first login is retried this often, in
/// nanoseconds (for up to `ouch.timeout_ms`): its predecessor likely still holds
/// the account.
const REFUSED_LOGIN_RETRY_NS: u64 = 10_000_000;

/// The CPUs the kernel isolated (`/sys/devices/system/cpu/isolated`), parsed.
#[must_use]
pub fn isolated_cpus() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/cpu/isolated")
        .map(|s| parse_cpu_list(s.trim()))
        .unwrap_or_default()
}

/// Parses a kernel CPU list such as `2-5,8`.
#[must_use]
pub fn parse_cpu_list(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut ends = part.splitn(2, '-').map(|x| x.trim().parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => out.push(a),
            (Some(Ok(a)), Some(Ok(b))) if a <= b => out.extend(a..=b),
            _ => {}
        }
    }
    out
}

/// Pins the calling thread to `core`; with `strict`, refuses a core the
/// kernel has not isolated.
pub fn pin_current_thread(core: usize, strict: bool) -> Result<(), EngineError> {
    if strict && !isolated_cpus().contains(&core) {
        return Err(EngineError::InvalidArgument(format!(
            "engine.core = {core} is not an isolated CPU (isolated: {:?}); \
             refusing to pin the fast path to a core shared with the OS",
            isolated_cpus()
        )));
    }
    pin(core)
}

#[cfg(target_os = "linux")]
fn pin(core: usize) -> Result<(), EngineError> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(EngineError::InvalidArgument(format!(
            "engine.core = {core} is beyond CPU_SETSIZE"
        )));
    }
    // SAFETY: cpu_set_t is a plain bit array for which all-zeroes is the empty
    // set; CPU_SET writes one bit inside it (core < CPU_SETSIZE checked above);
    // sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of the set we own.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(EngineError::InvalidArgument(format!(
            "cannot pin the engine thread to core {core}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin(_core: usize) -> Result<(), EngineError> {
    Ok(())
}

type EngineThread = JoinHandle<Result<Trader<SessionGateway>, EngineError>>;

/// A running engine: the fast-path thread, the event writer and the control plane's ring ends.
#[derive(Debug)]
pub struct LiveEngine {
    stop: Arc<AtomicBool>,
    thread: Option<EngineThread>,
    ends: ControlEnds,
    writer: EventWriter,
    seq: u64,
    clock: Clock,
    journal: Option<JournalHandle>,
    journal_stats: Option<JournalStats>,
}

/// Whether to recover from the journal at `dir`: as configured, or (none)
/// when it holds segments.
fn should_recover(recover: Option<bool>, dir: &str) -> Result<bool, EngineError> {
    if recover == Some(false) {
        return Ok(false);
    }
    let segments = match list_segments(dir) {
        Ok(s) => s,
        Err(_) if recover.is_none() => return Ok(false),
        Err(e) => return Err(EngineError::InvalidArgument(format!("journal {dir}: {e}"))),
    };
    Ok(!segments.is_empty())
}

/// The live feed's port: a kernel socket or a DPDK queue, dispatched by a
/// `match` per burst (no trait object, no allocation).
// One per engine, owned by the fast-path thread: inline beats a pointer chase per burst.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum FeedPort {
    Udp(UdpTransport),
    #[cfg(feature = "dpdk")]
    Dpdk(DpdkTransport),
}

impl Transport for FeedPort {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        match self {
            Self::Udp(t) => t.recv(buf),
            #[cfg(feature = "dpdk")]
            Self::Dpdk(t) => t.recv(buf),
        }
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        match self {
            Self::Udp(t) => t.send(payload),
            #[cfg(feature = "dpdk")]
            Self::Dpdk(t) => t.send(payload),
        }
    }

    #[inline]
    fn recv_burst<F>(
        &mut self,
        scratch: &mut [u8],
        max: usize,
        visit: F,
    ) -> Result<usize, TransportError>
    where
        F: FnMut(&[u8], u64),
    {
        match self {
            Self::Udp(t) => t.recv_burst(scratch, max, visit),
            #[cfg(feature = "dpdk")]
            Self::Dpdk(t) => t.recv_burst(scratch, max, visit),
        }
    }
}

/// Opens the live feed's port as configured (`feed.transport`).
fn open_feed(config: &TraderConfig, clock: Clock) -> Result<FeedPort, EngineError> {
    let feed = &config.feed;
    match (feed.transport, &feed.dpdk) {
        (FeedTransport::Udp, _) => Ok(FeedPort::Udp(UdpTransport::open_with_clock(
            &UdpConfig {
                bind: feed.bind,
                multicast: feed
                    .multicast_group
                    .map(|g| (g, feed.multicast_interface.unwrap_or(Ipv4Addr::UNSPECIFIED))),
                destination: None,
                recv_buffer: Some(8 << 20),
                reuse_address: feed.multicast_group.is_some(),
            },
            clock,
        )?)),
        #[cfg(feature = "dpdk")]
        (FeedTransport::Dpdk, Some(d)) => open_dpdk(config, d, clock).map(FeedPort::Dpdk),
        (FeedTransport::Dpdk, _) => Err(EngineError::InvalidArgument(
            "feed.transport = \"dpdk\": no [feed.dpdk] section, or built without the dpdk feature"
                .into(),
        )),
    }
}

/// Starts the EAL (or reuses the process's) and opens one queue of the feed's port.
#[cfg(feature = "dpdk")]
fn open_dpdk(
    config: &TraderConfig,
    d: &DpdkFeedSection,
    clock: Clock,
) -> Result<DpdkTransport, EngineError> {
    let feed = &config.feed;
    let eal = Eal::get_or_init(&EalConfig {
        cores: d.cores.clone(),
        memory_mb: d.memory_mb,
        no_huge: d.no_huge,
        huge_dir: None,
        vdevs: d.vdevs.clone(),
        pci: d.pci.clone(),
        no_pci: d.no_pci,
        no_shconf: d.no_shconf,
        file_prefix: d.file_prefix.clone(),
        log_level: Some("warning".into()),
        extra: d.eal_args.clone(),
    })
    .map_err(|e| EngineError::InvalidArgument(format!("feed.dpdk: EAL: {e}")))?;
    let mut port = DpdkConfig::new(d.device.clone());
    port.rx_desc = d.rx_desc;
    port.tx_desc = d.tx_desc;
    port.mbufs = d.mbufs;
    port.burst = d.burst;
    let addr = feed.multicast_group.or_else(|| {
        let ip = *feed.bind.ip();
        (!ip.is_unspecified()).then_some(ip)
    });
    port.filter = quotewire_transport::PcapFilter {
        dst_port: (feed.bind.port() != 0).then_some(feed.bind.port()),
        dst_addr: addr,
    };
    port.join = feed.multicast_group.into_iter().collect();
    let mut queues = DpdkTransport::open_queues(eal, &port, clock)
        .map_err(|e| EngineError::InvalidArgument(format!("feed.dpdk.device {}: {e}", d.device)))?;
    queues.pop().ok_or_else(|| {
        EngineError::InvalidArgument(format!("feed.dpdk.device {}: no queue opened", d.device))
    })
}

/// Builds the OUCH client configuration from the engine's.
fn ouch_config(config: &TraderConfig, o: &OuchSection) -> OuchClientConfig {
    let mut c = OuchClientConfig::new(o.addr, &o.username, &o.password);
    c.session.clone_from(&o.session);
    c.state_file = o.state_file.as_ref().map(PathBuf::from);
    c.symbols = symbols(config);
    c.heartbeat_interval_ns = o.heartbeat_ms.saturating_mul(1_000_000);
    c.server_timeout_ns = o.timeout_ms.saturating_mul(1_000_000);
    c.reconnect = o.reconnect;
    if config.engine.recover == Some(true) {
        // Taking over (a standby, a restart after a crash): the venue may still
        // hold the predecessor's session, and refuses our login until it ends it.
        c.refused_login_retry_ns = REFUSED_LOGIN_RETRY_NS;
    }
    c
}

/// Builds the FIX client configuration from the engine's.
fn fix_config(config: &TraderConfig, f: &FixSection) -> FixClientConfig {
    let mut c = FixClientConfig::new(f.addr, &f.sender_comp_id, &f.target_comp_id);
    c.account.clone_from(&f.account);
    c.state_file = f.state_file.as_ref().map(PathBuf::from);
    c.symbols = symbols(config);
    c.heartbeat_interval_secs = f.heartbeat_interval_secs;
    c.logon_timeout_ns = f.logon_timeout_ms.saturating_mul(1_000_000);
    c.reconnect = f.reconnect;
    c.reset_seq_num_on_logon = f.reset_seq_num_on_logon;
    c
}

fn symbols(config: &TraderConfig) -> Vec<(InstrumentId, String)> {
    config
        .instruments
        .iter()
        .map(|i| (InstrumentId(i.id), i.symbol.clone()))
        .collect()
}

/// Opens the configured order session (validated: exactly one of OUCH and FIX).
fn open_gateway(config: &TraderConfig) -> Result<SessionGateway, EngineError> {
    match (&config.ouch, &config.fix) {
        (Some(o), None) => OuchClient::new(ouch_config(config, o))
            .map(SessionGateway::Ouch)
            .map_err(|e| EngineError::InvalidArgument(format!("ouch: {e}"))),
        (None, Some(f)) => FixClient::new(fix_config(config, f))
            .map(SessionGateway::Fix)
            .map_err(|e| EngineError::InvalidArgument(format!("fix: {e}"))),
        _ => Err(EngineError::InvalidArgument(
            "order entry: exactly one of ouch and fix".into(),
        )),
    }
}

impl LiveEngine {
    /// Validates `config`, opens the feed sockets and the order session, and
    /// starts the fast-path thread. Errors are returned here, before any thread runs.
    pub fn start(config: &TraderConfig) -> Result<Self, EngineError> {
        config.validate()?;
        let clock = Clock::default();
        let level = LogLevel::parse(&config.engine.log_level).unwrap_or(LogLevel::Info);
        let sink = match &config.engine.log_file {
            Some(path) => LogSink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| EngineError::Io {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => LogSink::Stderr,
        };
        let (events, writer) =
            EventWriter::spawn(config.engine.event_ring, level, sink).map_err(|source| {
                EngineError::Io {
                    path: "event writer thread".into(),
                    source,
                }
            })?;
        let gateway = open_gateway(config)?;
        let mut trader = Trader::new(config, gateway, clock, events)?;
        let ends = trader.control_ends();
        // Unix time at engine-clock zero, so records carry wall-clock time.
        let epoch = unix_now_ns().saturating_sub(clock.now_ns());
        let intents = match &config.engine.journal_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = std::path::Path::new(dir).join(INTENT_FILE_NAME);
                Some(
                    IntentLog::open(&path, DEFAULT_INTENT_SLOTS, epoch).map_err(|e| {
                        EngineError::InvalidArgument(format!("intent log {dir}: {e}"))
                    })?,
                )
            }
            None => None,
        };
        if let (Some(dir), Some((_, found))) = (&config.engine.journal_dir, &intents) {
            if should_recover(config.engine.recover, dir)? {
                trader.recover(std::path::Path::new(dir), found)?;
                // The journal may lack reports the state file counts as
                // received: ask the venue for the whole session again.
                trader.gateway_mut().replay_from_start();
            }
        }
        // Ids never repeat: above every id the state file says was sent (after
        // the recovery, which restores journaled requests under their own ids).
        let highest = trader.gateway().highest_cl();
        trader.raise_next_cl(ClOrdId(highest.saturating_add(1)));
        let journal = match &config.engine.journal_dir {
            Some(dir) => {
                let (tx, handle, _recovered) = spawn_writer(
                    dir,
                    JournalConfig {
                        segment_bytes: config.engine.journal_segment_mb.max(1) << 20,
                        clock_epoch_unix_ns: epoch,
                    },
                    RingConfig {
                        slots: 16_384,
                        ..RingConfig::default()
                    },
                )
                .map_err(|e| EngineError::InvalidArgument(format!("journal {dir}: {e}")))?;
                let mut tx = tx;
                if let Some((log, _)) = intents {
                    tx.set_intent_log(log);
                }
                trader.set_journal(tx);
                trader.journal_recovery(clock.now_ns());
                // The instrument map, so a journal names its symbols even when the
                // feed's stock directory went out before the engine joined.
                let map: Vec<String> = config
                    .instruments
                    .iter()
                    .map(|i| format!("{}={}", i.id, i.symbol))
                    .collect();
                trader.journal_note(clock.now_ns(), &format!("instruments {}", map.join(",")));
                Some(handle)
            }
            None => None,
        };
        let feed = &config.feed;
        let line_a = open_feed(config, clock)?;
        let retransmit = match feed.retransmit {
            Some(dest) => Some(UdpTransport::open_with_clock(
                &UdpConfig {
                    bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                    multicast: None,
                    destination: Some(dest),
                    recv_buffer: Some(4 << 20),
                    reuse_address: false,
                },
                clock,
            )?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let core = config.engine.core;
        let strict = config.engine.strict_isolation;
        if let Some(c) = core {
            if strict && !isolated_cpus().contains(&c) {
                return Err(EngineError::InvalidArgument(format!(
                    "engine.core = {c} is not an isolated CPU (isolated: {:?})",
                    isolated_cpus()
                )));
            }
        }
        let idle = Duration::from_micros(config.engine.idle_sleep_us);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("qw-engine".into())
                .spawn(move || {
                    if let Some(c) = core {
                        pin_current_thread(c, strict)?;
                    }
                    run(&mut trader, line_a, retransmit, &stop, idle);
                    Ok(trader)
                })
                .map_err(|source| EngineError::Io {
                    path: "engine thread".into(),
                    source,
                })?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
            ends,
            writer,
            seq: 0,
            clock,
            journal,
            journal_stats: None,
        })
    }

    /// Sends a control request and waits (up to `timeout`) for the fast path's acknowledgement.
    pub fn control(&mut self, control: Control, timeout: Duration) -> Result<Ack, EngineError> {
        self.seq += 1;
        let seq = self.seq;
        self.ends
            .control
            .push(ControlMsg { seq, control })
            .map_err(|_| EngineError::InvalidArgument("control ring full".into()))?;
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(ack) = self.ends.acks.pop() {
                if ack.seq == seq {
                    return Ok(ack);
                }
            }
            if self.thread.as_ref().is_none_or(JoinHandle::is_finished) {
                return Err(EngineError::InvalidArgument(
                    "the engine is not running".into(),
                ));
            }
            if Instant::now() >= deadline {
                return Err(EngineError::InvalidArgument(format!(
                    "no acknowledgement from the engine within {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// A consistent snapshot of every instrument, the kill switch, the fast
    /// path's counters and ring occupancy. The fast path also hands over the
    /// latency histograms it recorded since the previous snapshot, which are
    /// merged here into [`Self::latencies`] (off the fast path).
    pub fn snapshot(&mut self, timeout: Duration) -> Result<Vec<SnapshotRecord>, EngineError> {
        while self.ends.snapshots.pop().is_ok() {}
        let acked = self.control(Control::Snapshot, timeout);
        // Also after a timeout: a late swap is merged now or by the next call.
        self.ends.latencies.collect();
        acked?;
        let mut out = Vec::new();
        while let Ok(r) = self.ends.snapshots.pop() {
            let end = matches!(r, SnapshotRecord::End { .. });
            out.push(r);
            if end {
                break;
            }
        }
        Ok(out)
    }

    /// The latency histograms since the start, as of the last [`Self::snapshot`]
    /// (the fast path's current interval is not in them yet).
    #[must_use]
    pub const fn latencies(&self) -> &Latencies {
        self.ends.latencies.cumulative()
    }

    /// Events published since the last call, oldest first.
    #[must_use]
    pub fn events(&self) -> Vec<Stamped> {
        self.writer.drain()
    }

    /// Events lost: (ring full on the fast path, backlog full for Python).
    #[must_use]
    pub fn events_dropped(&self) -> (u64, u64) {
        self.writer.dropped()
    }

    /// The engine clock (timestamps of events and histograms).
    #[must_use]
    pub const fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The journal's final counters, once stopped (when journaling).
    #[must_use]
    pub const fn journal_stats(&self) -> Option<JournalStats> {
        self.journal_stats
    }

    /// Whether the fast-path thread is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the fast path: cancels every open order, waits briefly for the
    /// venue's answers, logs out, and hands the final state back.
    pub fn stop(&mut self) -> Result<Trader<SessionGateway>, EngineError> {
        self.stop.store(true, Ordering::Release);
        let thread = self
            .thread
            .take()
            .ok_or_else(|| EngineError::InvalidArgument("the engine was already stopped".into()))?;
        let mut result = thread
            .join()
            .map_err(|_| EngineError::InvalidArgument("the engine thread panicked".into()))?;
        // The summary's histograms cover the whole run: every interval handed
        // over to snapshots plus the last one.
        if let Ok(trader) = result.as_mut() {
            self.ends.latencies.finish(trader.latencies_mut());
        }
        // Give the writer a moment to drain what the last passes published.
        std::thread::sleep(Duration::from_millis(5));
        if let Some(handle) = self.journal.take() {
            self.journal_stats = Some(
                handle
                    .stop()
                    .map_err(|e| EngineError::InvalidArgument(format!("journal: {e}")))?,
            );
        }
        result
    }
}

impl Drop for LiveEngine {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
        self.writer.stop();
    }
}

/// The fast-path loop. Busy-polls until `stop`, then drains.
fn run(
    trader: &mut Trader<SessionGateway>,
    mut line_a: FeedPort,
    mut retransmit: Option<UdpTransport>,
    stop: &AtomicBool,
    idle: Duration,
) {
    let mut scratch = vec![0u8; MAX_UDP_PAYLOAD];
    let mut request = [0u8; 64];
    let clock = *trader.clock();
    while !stop.load(Ordering::Relaxed) {
        let mut work = poll_feed(trader, &mut line_a, Line::A, &mut scratch);
        if let Some(r) = retransmit.as_mut() {
            work += poll_feed(trader, r, Line::Retransmit, &mut scratch);
        }
        let now = clock.now_ns();
        if let Some(req) = trader.poll_feed_timers(now) {
            if let (Some(r), Ok(n)) = (retransmit.as_mut(), req.encode(&mut request)) {
                let _ = r.send(&request[..n]);
            }
            work += 1;
        }
        work += trader.poll_gateway(now);
        work += trader.poll_control(now);
        if work == 0 && !idle.is_zero() {
            std::thread::sleep(idle);
        }
    }
    // Shutdown: nothing of ours may stay at the venue.
    let now = clock.now_ns();
    trader.shutdown(now);
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline && trader.oms().live_orders() > 0 && trader.session_ready() {
        trader.poll_gateway(clock.now_ns());
        // The in-flight limit may have held some cancels back: send them now.
        trader.shutdown(clock.now_ns());
        std::thread::sleep(Duration::from_micros(100));
    }
    let _ = trader.gateway_mut().close(clock.now_ns());
}

fn poll_feed<T: Transport>(
    trader: &mut Trader<SessionGateway>,
    transport: &mut T,
    line: Line,
    scratch: &mut [u8],
) -> usize {
    transport
        .recv_burst(scratch, BURST, |bytes, ts| {
            trader.on_datagram(line, ts, bytes);
        })
        .unwrap_or(0)
}
