//! DPDK kernel-bypass packet I/O behind the [`Transport`] trait.
//!
//! Owns: the process's DPDK EAL ([`Eal`], initialised once from an
//! [`EalConfig`]), one ethdev port per [`DpdkConfig`] with its mbuf pool, and
//! one [`DpdkTransport`] per RX/TX queue pair (one per fast-path thread).
//! Receive is a burst of mbufs whose Ethernet/IPv4/UDP headers are parsed in
//! place and filtered by destination; send builds an Ethernet/IPv4/UDP frame
//! (MoldUDP64 re-requests) in a pre-allocated buffer and transmits it.
//! DPDK's inline burst and mbuf functions are reached through a small C shim
//! (`csrc/dpdk_shim.c`), one call per burst.
//! Must never: allocate, lock or make a system call in `recv`/`send` after
//! construction, call into the shim once per packet, or pin threads (that is
//! the engine's; the EAL's own pinning of the calling thread is undone).
//!
//! Built without libdpdk, the same API exists and [`Eal::init`] fails with
//! [`TransportError::DpdkUnavailable`].

mod sys;

use std::ffi::{c_char, c_int, CStr, CString};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use quotewire_core::clock::Clock;

use crate::net::{multicast_mac, parse_udp, write_udp_frame, Link};
use crate::{PcapFilter, Received, Transport, TransportError};

/// Most packets one receive burst takes (the shim's array size).
pub const MAX_BURST: usize = 64;

/// Largest frame `send` builds (a standard 1500-byte MTU plus the Ethernet header).
const MAX_FRAME: usize = 1514;

/// True when this build links DPDK (the `dpdk` feature found libdpdk).
#[must_use]
pub const fn available() -> bool {
    cfg!(qw_dpdk)
}

/// The DPDK version linked, e.g. `DPDK 22.11.11`, or why there is none.
#[must_use]
pub fn version() -> String {
    // SAFETY: qw_dpdk_version returns a pointer to a static NUL-terminated
    // string (DPDK's rte_version() buffer, or a literal in the stub).
    unsafe { CStr::from_ptr(sys::qw_dpdk_version()) }
        .to_string_lossy()
        .into_owned()
}

/// DPDK's message for a positive errno value.
fn strerror(code: c_int) -> String {
    // SAFETY: qw_strerror returns a pointer to a NUL-terminated string owned by
    // DPDK (a static table or a thread-local buffer), valid until the next call
    // on this thread; it is copied out at once.
    unsafe { CStr::from_ptr(sys::qw_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

fn dpdk_error(op: &'static str, rc: c_int) -> TransportError {
    let code = rc.saturating_abs();
    TransportError::Dpdk {
        op,
        code,
        message: strerror(code),
    }
}

/// How the EAL is started: the command line DPDK parses, built from fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EalConfig {
    /// Logical cores (`-l`), e.g. `"0"` or `"2-3"`. The EAL binds its lcore
    /// numbering to these; the fast-path thread is pinned by the engine.
    pub cores: String,
    /// Memory to reserve in MiB (`-m`).
    pub memory_mb: u32,
    /// Use plain (4 KiB) pages instead of hugepages (`--no-huge`): for tests
    /// and containers; real NICs need hugepages.
    pub no_huge: bool,
    /// Where hugetlbfs is mounted (`--huge-dir`), when not the default.
    pub huge_dir: Option<String>,
    /// Virtual devices (`--vdev`), e.g. `net_pcap0,rx_pcap=feed.pcap`.
    pub vdevs: Vec<String>,
    /// PCI devices to use (`-a`), e.g. `0000:3b:00.0`; empty probes all bound ones.
    pub pci: Vec<String>,
    /// Skip the PCI bus entirely (`--no-pci`).
    pub no_pci: bool,
    /// Keep no shared configuration files (`--no-shconf`): no secondary processes.
    pub no_shconf: bool,
    /// Prefix of this process's runtime files (`--file-prefix`), to run several
    /// primaries on one host.
    pub file_prefix: Option<String>,
    /// EAL log level (`--log-level`), e.g. `warning`.
    pub log_level: Option<String>,
    /// More arguments, passed as given.
    pub extra: Vec<String>,
}

impl Default for EalConfig {
    /// Hugepages, core 0, 1 GiB, PCI devices probed, warnings logged.
    fn default() -> Self {
        Self {
            cores: "0".into(),
            memory_mb: 1024,
            no_huge: false,
            huge_dir: None,
            vdevs: Vec::new(),
            pci: Vec::new(),
            no_pci: false,
            no_shconf: false,
            file_prefix: None,
            log_level: Some("warning".into()),
            extra: Vec::new(),
        }
    }
}

impl EalConfig {
    /// Settings that work without hugepages, NICs or root's runtime
    /// directory (containers, CI): `--no-huge -m 256 --no-pci -l 0 --no-shconf
    /// --no-telemetry`.
    /// Add virtual devices with [`EalConfig::with_vdev`].
    #[must_use]
    pub fn virtual_only() -> Self {
        Self {
            memory_mb: 256,
            no_huge: true,
            no_pci: true,
            no_shconf: true,
            extra: vec!["--no-telemetry".into()],
            ..Self::default()
        }
    }

    /// Adds a virtual device (`--vdev`).
    #[must_use]
    pub fn with_vdev(mut self, vdev: impl Into<String>) -> Self {
        self.vdevs.push(vdev.into());
        self
    }

    /// The EAL arguments (without the program name).
    #[must_use]
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["-l".to_owned(), self.cores.clone()];
        a.extend(["-m".to_owned(), self.memory_mb.to_string()]);
        let flags = [
            (self.no_huge, "--no-huge"),
            (self.no_pci, "--no-pci"),
            (self.no_shconf, "--no-shconf"),
        ];
        a.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_owned()));
        if let Some(dir) = &self.huge_dir {
            a.push(format!("--huge-dir={dir}"));
        }
        if let Some(prefix) = &self.file_prefix {
            a.push(format!("--file-prefix={prefix}"));
        }
        if let Some(level) = &self.log_level {
            a.push(format!("--log-level={level}"));
        }
        a.extend(self.vdevs.iter().map(|v| format!("--vdev={v}")));
        a.extend(self.pci.iter().map(|p| format!("--allow={p}")));
        a.extend(self.extra.iter().cloned());
        a
    }
}

const EAL_NONE: u8 = 0;
const EAL_STARTING: u8 = 1;
const EAL_READY: u8 = 2;
static EAL_STATE: AtomicU8 = AtomicU8::new(EAL_NONE);

/// Proof that the process's EAL is up; every DPDK object needs one.
#[derive(Clone, Copy, Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL with `config`. Once per process: a second call
    /// (or a call after another library initialised DPDK) fails with
    /// [`TransportError::EalAlreadyInitialized`]; use [`Eal::get`] then.
    /// Restores the calling thread's CPU affinity, which the EAL changes.
    pub fn init(config: &EalConfig) -> Result<Self, TransportError> {
        if !available() {
            return Err(TransportError::DpdkUnavailable(
                "quotewire-transport was compiled without libdpdk (install libdpdk-dev and rebuild \
                 with the dpdk feature)",
            ));
        }
        if EAL_STATE
            .compare_exchange(EAL_NONE, EAL_STARTING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(TransportError::EalAlreadyInitialized);
        }
        let result = Self::start(config);
        let state = if result.is_ok() { EAL_READY } else { EAL_NONE };
        EAL_STATE.store(state, Ordering::Release);
        result
    }

    /// The EAL, when [`Eal::init`] has succeeded in this process.
    #[must_use]
    pub fn get() -> Option<Self> {
        (EAL_STATE.load(Ordering::Acquire) == EAL_READY).then_some(Self { _private: () })
    }

    /// The EAL if it is up, else initialised with `config`.
    pub fn get_or_init(config: &EalConfig) -> Result<Self, TransportError> {
        match Self::init(config) {
            Err(TransportError::EalAlreadyInitialized) => {
                Self::get().ok_or(TransportError::EalAlreadyInitialized)
            }
            other => other,
        }
    }

    fn start(config: &EalConfig) -> Result<Self, TransportError> {
        if !config.no_huge {
            check_hugepages()?;
        }
        let args = std::iter::once("quotewire".to_owned()).chain(config.args());
        let args: Vec<CString> = args
            .map(CString::new)
            .collect::<Result<_, _>>()
            .map_err(|_| TransportError::Config("an EAL argument contains a NUL byte"))?;
        // The EAL may keep pointers into argv (it permutes and stores some
        // options): the strings live for the rest of the process, once.
        let argv: &mut [*mut c_char] = Vec::leak(
            args.into_iter()
                .map(CString::into_raw)
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = c_int::try_from(argv.len() - 1)
            .map_err(|_| TransportError::Config("too many EAL arguments"))?;
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all leaked so they outlive the EAL; EAL_STATE guarantees this
        // is the only rte_eal_init call made through this crate.
        let rc = unsafe { sys::qw_eal_init(argc, argv.as_mut_ptr()) };
        if rc >= 0 {
            return Ok(Self { _private: () });
        }
        const EALREADY: c_int = 114;
        const ENOMEM: c_int = 12;
        const EACCES: c_int = 13;
        Err(match -rc {
            EALREADY => TransportError::EalAlreadyInitialized,
            ENOMEM | EACCES if !config.no_huge => TransportError::NoHugepages(format!(
                "the EAL could not map hugepage memory ({})",
                strerror(-rc)
            )),
            _ => dpdk_error(
                "rte_eal_init (check the EAL arguments and the log above)",
                rc,
            ),
        })
    }

    /// Hot-plugs a device after start-up, e.g. `net_ring3` or
    /// `net_pcap1,rx_pcap=feed.pcap`; open it with its name in a [`DpdkConfig`].
    pub fn probe(self, devargs: &str) -> Result<(), TransportError> {
        let c = CString::new(devargs)
            .map_err(|_| TransportError::Config("device arguments contain a NUL byte"))?;
        // SAFETY: c is a valid NUL-terminated string for the call's duration; the EAL is up.
        let rc = unsafe { sys::qw_dev_probe(c.as_ptr()) };
        if rc < 0 {
            return Err(dpdk_error("rte_dev_probe", rc));
        }
        Ok(())
    }

    /// Ethdev ports DPDK can use.
    #[must_use]
    pub fn port_count(self) -> u16 {
        // SAFETY: reads the ethdev table; the EAL is up.
        unsafe { sys::qw_port_count() }
    }
}

/// Refuses early, with a clear message, when hugepages are wanted and none are free.
fn check_hugepages() -> Result<(), TransportError> {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return Ok(()); // Not Linux's procfs: let the EAL decide.
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    match (field("HugePages_Total:"), field("HugePages_Free:")) {
        (Some(0), _) => Err(TransportError::NoHugepages(
            "none reserved (HugePages_Total is 0)".into(),
        )),
        (Some(_), Some(0)) => Err(TransportError::NoHugepages(
            "all reserved hugepages are in use (HugePages_Free is 0)".into(),
        )),
        _ => Ok(()),
    }
}

/// How a port's multicast MAC filter was set for [`DpdkConfig::join`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McFilter {
    /// No groups to join.
    NotNeeded,
    /// Exact list (`rte_eth_dev_set_mc_addr_list`).
    Exact,
    /// Each group's MAC added as a secondary address (`rte_eth_dev_mac_addr_add`).
    SecondaryMac,
    /// All multicast frames accepted (`rte_eth_allmulticast_enable`).
    AllMulticast,
    /// All frames accepted (`rte_eth_promiscuous_enable`).
    Promiscuous,
    /// The device has no filter to set (virtual devices that see every frame).
    Unsupported,
}

/// One DPDK port and how its queues receive and send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkConfig {
    /// The device's name: a vdev name (`net_pcap0`) or a PCI address.
    pub device: String,
    /// RX/TX queue pairs: one [`DpdkTransport`] each, one per fast-path thread.
    pub queues: u16,
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Mbufs in the port's pool (more than queues x (rx_desc + burst) + tx_desc).
    pub mbufs: u32,
    /// Per-lcore mbuf cache.
    pub mbuf_cache: u32,
    /// Bytes of packet data per mbuf, headroom included (2176 holds a 1500-byte MTU frame).
    pub data_room: u16,
    /// Packets taken per receive burst (1..=[`MAX_BURST`]).
    pub burst: u16,
    /// Datagrams kept on receive (destination port and address).
    pub filter: PcapFilter,
    /// Multicast groups whose MACs the port's filter lets through.
    pub join: Vec<Ipv4Addr>,
    /// Source address of sent datagrams.
    pub local: SocketAddrV4,
    /// Where `send` goes (the retransmission server).
    pub destination: Option<SocketAddrV4>,
    /// The next hop's MAC for a unicast destination (there is no ARP on the fast path).
    pub destination_mac: Option<[u8; 6]>,
}

impl DpdkConfig {
    /// One queue on `device`, default sizes, every UDP datagram kept, no destination.
    #[must_use]
    pub fn new(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mbufs: 8191,
            mbuf_cache: 256,
            data_room: 2176,
            burst: 32,
            filter: PcapFilter::ALL,
            join: Vec::new(),
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            destination: None,
            destination_mac: None,
        }
    }

    fn check(&self) -> Result<(), TransportError> {
        if self.queues == 0 {
            return Err(TransportError::Config("DPDK queues must be at least 1"));
        }
        if self.burst == 0 || usize::from(self.burst) > MAX_BURST {
            return Err(TransportError::Config("DPDK burst must be in 1..=64"));
        }
        let need = u64::from(self.queues)
            * (u64::from(self.rx_desc) + u64::from(self.tx_desc) + MAX_BURST as u64);
        if u64::from(self.mbufs) < need {
            return Err(TransportError::Config(
                "DPDK mbufs must cover queues x (rx_desc + tx_desc + 64)",
            ));
        }
        if usize::from(self.data_room) < 128 + 64 {
            return Err(TransportError::Config(
                "DPDK data_room is below headroom + 64 bytes",
            ));
        }
        if self.join.len() > 64 || self.join.iter().any(|g| !g.is_multicast()) {
            return Err(TransportError::Config(
                "DPDK join takes at most 64 IPv4 multicast groups",
            ));
        }
        if let Some(d) = self.destination {
            if !d.ip().is_multicast() && self.destination_mac.is_none() {
                return Err(TransportError::Config(
                    "a unicast DPDK destination needs destination_mac (no ARP on the fast path)",
                ));
            }
        }
        Ok(())
    }
}

/// What one port shares between its queues; stops the port when the last goes.
#[derive(Debug)]
struct Port {
    id: u16,
    pool: *mut sys::Pool,
    mac: [u8; 6],
    mc_filter: McFilter,
}

// SAFETY: `pool` points to a DPDK mempool, whose get/put operations are
// thread-safe (multi-producer, multi-consumer ring); the port id is a plain
// number and the rest is immutable after construction.
unsafe impl Send for Port {}
// SAFETY: as above; `&Port` only reads immutable fields.
unsafe impl Sync for Port {}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: every queue's transport has returned its mbufs (DpdkTransport's
        // drop runs before its Arc<Port> is released), so the port can stop and
        // the pool be freed; neither is used afterwards.
        unsafe {
            sys::qw_port_stop(self.id);
            sys::qw_pool_free(self.pool);
        }
    }
}

/// Counters of one [`DpdkTransport`], plain integers (read them between polls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpdkStats {
    /// Frames taken from the RX queue.
    pub rx_frames: u64,
    /// Datagrams handed to the caller.
    pub rx_datagrams: u64,
    /// Frames dropped: not IPv4/UDP, or refused by the filter.
    pub rx_filtered: u64,
    /// Frames dropped because they spanned several mbufs (raise `data_room`).
    pub rx_multi_segment: u64,
    /// Datagrams queued for transmission.
    pub tx_datagrams: u64,
    /// Sends refused: TX ring full or mbuf pool empty.
    pub tx_busy: u64,
}

/// One RX/TX queue pair of a DPDK port as a [`Transport`].
///
/// `recv` and `recv_burst` take a burst of up to [`DpdkConfig::burst`] frames
/// in one shim call (which also frees the previous burst's mbufs), then parse
/// each frame's headers in place. `recv_burst` visits payloads inside the
/// mbufs, zero-copy; `recv` copies one into the caller's buffer. Timestamps
/// are software ones from the transport's [`Clock`], one per burst.
#[derive(Debug)]
pub struct DpdkTransport {
    port: Arc<Port>,
    queue: u16,
    burst: u16,
    filter: PcapFilter,
    held: u16,
    next: u16,
    burst_ts: u64,
    mbufs: [*mut sys::Mbuf; MAX_BURST],
    data: [*const u8; MAX_BURST],
    lens: [u16; MAX_BURST],
    clock: Clock,
    local: SocketAddrV4,
    destination: Option<(SocketAddrV4, [u8; 6])>,
    ip_id: u16,
    frame: Box<[u8; MAX_FRAME]>,
    stats: DpdkStats,
}

// SAFETY: a DpdkTransport exclusively owns its queue pair and the mbufs it
// holds (DPDK queues are single-threaded, and `&mut self` serialises use);
// moving it to another thread moves that ownership whole. The shared Port is
// Send + Sync.
unsafe impl Send for DpdkTransport {}

static POOLS: AtomicU32 = AtomicU32::new(0);

impl DpdkTransport {
    /// Opens `config.device` with one queue pair (`config.queues` must be 1).
    pub fn open(eal: Eal, config: &DpdkConfig) -> Result<Self, TransportError> {
        if config.queues != 1 {
            return Err(TransportError::Config(
                "DpdkTransport::open takes one queue; use open_queues",
            ));
        }
        let mut all = Self::open_queues(eal, config, Clock::monotonic())?;
        all.pop()
            .ok_or(TransportError::Config("DPDK port opened with no queue"))
    }

    /// Configures and starts `config.device` with `config.queues` queue pairs
    /// and returns one transport per queue, stamping with `clock`.
    pub fn open_queues(
        _eal: Eal,
        config: &DpdkConfig,
        clock: Clock,
    ) -> Result<Vec<Self>, TransportError> {
        config.check()?;
        let name = CString::new(config.device.as_str())
            .map_err(|_| TransportError::Config("device name contains a NUL byte"))?;
        let mut id = 0u16;
        // SAFETY: name is NUL-terminated and id a valid out-pointer; the EAL is up (`_eal`).
        if unsafe { sys::qw_port_by_name(name.as_ptr(), &mut id) } < 0 {
            return Err(TransportError::NoDevice {
                name: config.device.clone(),
                // SAFETY: reads the ethdev table; the EAL is up.
                ports: unsafe { sys::qw_port_count() },
            });
        }
        let pool_name = format!("qw_pool{}", POOLS.fetch_add(1, Ordering::Relaxed));
        let pool_name = CString::new(pool_name).map_err(|_| TransportError::Config("pool name"))?;
        // SAFETY: pool_name is NUL-terminated (DPDK copies it); sizes are checked.
        let pool = unsafe {
            sys::qw_pool_create(
                pool_name.as_ptr(),
                config.mbufs,
                config.mbuf_cache,
                config.data_room,
                id,
            )
        };
        if pool.is_null() {
            // SAFETY: reads this thread's rte_errno.
            let code = unsafe { sys::qw_last_errno() };
            let mut e = dpdk_error("rte_pktmbuf_pool_create", -code);
            if let TransportError::Dpdk { message, .. } = &mut e {
                message.push_str(" (raise the EAL's -m, or lower mbufs)");
            }
            return Err(e);
        }
        let (mut rx_desc, mut tx_desc) = (config.rx_desc, config.tx_desc);
        // SAFETY: id is a valid port, the descriptor counts are valid in/out
        // pointers and pool a live mempool that outlives the port (Port frees it last).
        let rc = unsafe { sys::qw_port_start(id, config.queues, &mut rx_desc, &mut tx_desc, pool) };
        if rc < 0 {
            // SAFETY: the port failed to start and holds no mbuf of the pool.
            unsafe {
                sys::qw_port_stop(id);
                sys::qw_pool_free(pool);
            }
            return Err(dpdk_error("port configure/start", rc));
        }
        let mut mac = [0u8; 6];
        // SAFETY: mac is 6 writable bytes; id is a started port.
        if unsafe { sys::qw_port_mac(id, mac.as_mut_ptr()) } < 0 {
            mac = [0x02, 0, 0, 0, 0, 0];
        }
        let mut port = Port {
            id,
            pool,
            mac,
            mc_filter: McFilter::NotNeeded,
        };
        port.mc_filter = set_mc_filter(id, &config.join);
        let port = Arc::new(port);
        let destination = config.destination.map(|d| {
            let dmac = if d.ip().is_multicast() {
                multicast_mac(*d.ip())
            } else {
                config.destination_mac.unwrap_or([0xFF; 6])
            };
            (d, dmac)
        });
        Ok((0..config.queues)
            .map(|queue| Self {
                port: Arc::clone(&port),
                queue,
                burst: config.burst,
                filter: config.filter,
                held: 0,
                next: 0,
                burst_ts: 0,
                mbufs: [std::ptr::null_mut(); MAX_BURST],
                data: [std::ptr::null(); MAX_BURST],
                lens: [0; MAX_BURST],
                clock,
                local: config.local,
                destination,
                ip_id: 0,
                frame: Box::new([0u8; MAX_FRAME]),
                stats: DpdkStats::default(),
            })
            .collect())
    }

    /// The ethdev port id.
    #[must_use]
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue pair this transport owns.
    #[must_use]
    pub const fn queue(&self) -> u16 {
        self.queue
    }

    /// The port's MAC address (the source of sent frames).
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        self.port.mac
    }

    /// How the multicast MAC filter was set.
    #[must_use]
    pub fn mc_filter(&self) -> McFilter {
        self.port.mc_filter
    }

    /// Changes where `send` goes: `destination` through the next hop `mac`
    /// (for a multicast group, its mapped MAC is used instead).
    pub fn set_destination(&mut self, destination: SocketAddrV4, mac: [u8; 6]) {
        let mac = if destination.ip().is_multicast() {
            multicast_mac(*destination.ip())
        } else {
            mac
        };
        self.destination = Some((destination, mac));
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> DpdkStats {
        self.stats
    }

    /// Mbufs of the port's pool not in use (all but those in rings and bursts).
    #[must_use]
    pub fn pool_available(&self) -> u32 {
        // SAFETY: the pool lives as long as the Port this transport holds.
        unsafe { sys::qw_pool_avail(self.port.pool) }
    }

    /// Frees the held burst and takes a new one; returns its size.
    #[inline]
    fn refill(&mut self) -> u16 {
        // SAFETY: the arrays hold MAX_BURST >= burst entries; the first `held`
        // mbufs are ours from the previous burst and no slice into them
        // survives (`&mut self`); port/queue are a started pair this transport
        // owns exclusively.
        let n = unsafe {
            sys::qw_rx_burst(
                self.port.id,
                self.queue,
                self.mbufs.as_mut_ptr(),
                self.held,
                self.data.as_mut_ptr(),
                self.lens.as_mut_ptr(),
                self.burst,
            )
        };
        self.held = n;
        self.next = 0;
        if n > 0 {
            self.burst_ts = self.clock.now_ns();
            self.stats.rx_frames += u64::from(n);
        }
        n
    }

    /// The next held frame that carries a wanted datagram: its index in the
    /// burst and the payload's offset and length in the frame.
    #[inline]
    fn next_datagram(&mut self) -> Option<(usize, usize, usize)> {
        while self.next < self.held {
            let i = usize::from(self.next);
            self.next += 1;
            let len = usize::from(self.lens[i]);
            if len == 0 {
                self.stats.rx_multi_segment += 1;
                continue;
            }
            let frame = self.frame_at(i);
            match parse_udp(Link::Ethernet, frame) {
                Some(v) if self.filter.accepts(v.dst) => {
                    self.stats.rx_datagrams += 1;
                    return Some((i, v.offset, v.len));
                }
                _ => self.stats.rx_filtered += 1,
            }
        }
        None
    }

    /// The bytes of held frame `i`.
    #[inline]
    fn frame_at(&self, i: usize) -> &[u8] {
        // SAFETY: i < held: data[i] points to lens[i] bytes of a single-segment
        // mbuf this transport holds until the next refill or drop, both of
        // which need `&mut self`, so the slice cannot outlive the mbuf.
        unsafe { std::slice::from_raw_parts(self.data[i], usize::from(self.lens[i])) }
    }
}

/// Opens the port's multicast filter for `groups`.
fn set_mc_filter(port: u16, groups: &[Ipv4Addr]) -> McFilter {
    if groups.is_empty() {
        return McFilter::NotNeeded;
    }
    let mut macs = [0u8; 6 * 64];
    for (chunk, g) in macs.chunks_exact_mut(6).zip(groups) {
        chunk.copy_from_slice(&multicast_mac(*g));
    }
    // SAFETY: macs holds 6 x groups.len() initialised bytes (groups.len() <= 64,
    // checked by DpdkConfig::check); port is started.
    let rc = unsafe { sys::qw_mc_filter(port, macs.as_ptr(), groups.len() as u32) };
    match rc {
        0 => McFilter::Exact,
        1 => McFilter::SecondaryMac,
        2 => McFilter::AllMulticast,
        3 => McFilter::Promiscuous,
        _ => McFilter::Unsupported,
    }
}

impl Transport for DpdkTransport {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<Received>, TransportError> {
        let mut refilled = false;
        loop {
            if let Some((i, off, len)) = self.next_datagram() {
                let Some(dst) = buf.get_mut(..len) else {
                    return Err(TransportError::Truncated {
                        len,
                        cap: buf.len(),
                    });
                };
                dst.copy_from_slice(&self.frame_at(i)[off..off + len]);
                return Ok(Some(Received {
                    len,
                    ts_ns: self.burst_ts,
                }));
            }
            if refilled || self.refill() == 0 {
                return Ok(None);
            }
            refilled = true;
        }
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        let Some((dst, dst_mac)) = self.destination else {
            return Err(TransportError::NoDestination);
        };
        let Some(len) = write_udp_frame(
            &mut self.frame[..],
            (self.port.mac, dst_mac),
            self.local,
            dst,
            self.ip_id,
            payload,
        ) else {
            return Err(TransportError::PayloadTooLarge(payload.len()));
        };
        self.ip_id = self.ip_id.wrapping_add(1);
        let len16 = len as u16; // len <= MAX_FRAME
                                // SAFETY: frame holds `len` initialised bytes, len16 is one length; the
                                // pool and port/queue are live and this transport owns the TX queue.
        let rc = unsafe {
            sys::qw_tx_frames(
                self.port.pool,
                self.port.id,
                self.queue,
                self.frame.as_ptr(),
                &len16,
                1,
            )
        };
        const ENOMEM: c_int = 12;
        const EMSGSIZE: c_int = 90;
        match rc {
            1 => {
                self.stats.tx_datagrams += 1;
                Ok(())
            }
            // TX ring full, or no free mbuf: the caller retries later.
            r if r == 0 || r == -ENOMEM => {
                self.stats.tx_busy += 1;
                Err(TransportError::WouldBlock)
            }
            r if r == -EMSGSIZE => Err(TransportError::PayloadTooLarge(payload.len())),
            r => Err(dpdk_error("rte_eth_tx_burst", r)),
        }
    }

    fn recv_burst<F>(
        &mut self,
        _scratch: &mut [u8],
        max: usize,
        mut visit: F,
    ) -> Result<usize, TransportError>
    where
        F: FnMut(&[u8], u64),
    {
        let mut visited = 0;
        // Bounded work per call, even when every frame is filtered out.
        let mut refills = max.div_ceil(usize::from(self.burst)) + 1;
        while visited < max {
            if let Some((i, off, len)) = self.next_datagram() {
                visit(&self.frame_at(i)[off..off + len], self.burst_ts);
                visited += 1;
                continue;
            }
            if refills == 0 || self.refill() == 0 {
                break;
            }
            refills -= 1;
        }
        Ok(visited)
    }
}

impl Drop for DpdkTransport {
    fn drop(&mut self) {
        // SAFETY: the first `held` entries are mbufs this transport holds; no
        // slice into them survives `drop`.
        unsafe { sys::qw_free_bulk(self.mbufs.as_mut_ptr(), self.held) };
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_only_config_gives_the_container_eal_arguments() {
        let args = EalConfig::virtual_only()
            .with_vdev("net_null0")
            .args()
            .join(" ");
        assert_eq!(
            args,
            "-l 0 -m 256 --no-huge --no-pci --no-shconf --log-level=warning --vdev=net_null0 \
             --no-telemetry"
        );
    }

    #[test]
    fn port_config_refuses_unicast_destination_without_mac_and_small_pools() {
        let mut c = DpdkConfig::new("net_null0");
        assert!(c.check().is_ok());
        c.destination = Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9000));
        assert!(matches!(c.check(), Err(TransportError::Config(_))));
        c.destination_mac = Some([2, 0, 0, 0, 0, 1]);
        assert!(c.check().is_ok());
        c.mbufs = 100;
        assert!(matches!(c.check(), Err(TransportError::Config(_))));
        let mut c = DpdkConfig::new("x");
        c.join = vec![Ipv4Addr::new(10, 0, 0, 1)];
        assert!(c.check().is_err());
        c.burst = 65;
        assert!(c.check().is_err());
    }

    #[test]
    fn availability_matches_how_the_crate_was_built() {
        assert_eq!(available(), cfg!(qw_dpdk));
        assert!(!version().is_empty());
    }
}
