use std::io;

use thiserror::Error;

/// Errors of the transport layer.
#[derive(Debug, Error)]
pub enum TransportError {
    /// An operating-system I/O error (socket or file).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// `send` was called on a transport with no destination configured.
    #[error("no destination configured for send")]
    NoDestination,
    /// The kernel send buffer is full; the datagram was not sent.
    #[error("send would block")]
    WouldBlock,
    /// A datagram did not fit the caller's buffer and was dropped.
    #[error("datagram of {len} bytes does not fit a {cap}-byte buffer")]
    Truncated {
        /// Datagram length.
        len: usize,
        /// Buffer capacity.
        cap: usize,
    },
    /// A payload is too large for one UDP datagram.
    #[error("payload of {0} bytes exceeds the UDP maximum")]
    PayloadTooLarge(usize),
    /// The capture file could not be parsed.
    #[error("capture file: {0}")]
    Capture(String),
    /// The capture's link type is not one we decode.
    #[error("unsupported capture link type {0}")]
    UnsupportedLinkType(u32),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The DPDK backend was asked for, but this build has none.
    #[error("built without DPDK: {0}")]
    DpdkUnavailable(&'static str),
    /// DPDK's EAL was already initialised in this process (it cannot be twice).
    #[error("the DPDK EAL is already initialised in this process (it can be only once)")]
    EalAlreadyInitialized,
    /// Hugepages were asked for but none are reserved or free.
    #[error(
        "no hugepages: {0}; reserve some (echo 1024 > /proc/sys/vm/nr_hugepages) \
         or run the EAL with --no-huge"
    )]
    NoHugepages(String),
    /// The named DPDK device (vdev or PCI address) has no ethdev port.
    #[error("no DPDK device {name:?} ({ports} ports available); probe it with --vdev/-a or check its driver binding")]
    NoDevice {
        /// The device name asked for.
        name: String,
        /// Ports DPDK does have.
        ports: u16,
    },
    /// A DPDK call failed.
    #[error("DPDK {op} failed: {message} (errno {code})")]
    Dpdk {
        /// What was being done.
        op: &'static str,
        /// The positive errno value.
        code: i32,
        /// DPDK's message for it.
        message: String,
    },
}

impl From<pcap_file::PcapError> for TransportError {
    fn from(e: pcap_file::PcapError) -> Self {
        match e {
            pcap_file::PcapError::IoError(io) => Self::Io(io),
            other => Self::Capture(other.to_string()),
        }
    }
}
