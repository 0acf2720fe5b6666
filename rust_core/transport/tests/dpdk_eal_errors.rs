//! Each way EAL start-up and port opening can fail gives its own error.
//!
//! One test per file: the EAL can be initialised once per process.
// Compiled when the `dpdk` feature found libdpdk (`qw_dpdk`, set by build.rs).
#![cfg(all(feature = "dpdk", qw_dpdk))]

use quotewire_transport::dpdk::{DpdkConfig, DpdkTransport, Eal, EalConfig};
use quotewire_transport::{Transport, TransportError};

fn hugepages_reserved() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("HugePages_Free:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .is_some_and(|n| n > 0)
}

#[test]
fn eal_reports_missing_hugepages_double_init_and_unknown_devices() {
    assert!(Eal::get().is_none());
    if !hugepages_reserved() {
        // The default configuration wants hugepages: refused before DPDK runs.
        let e = Eal::init(&EalConfig::default()).unwrap_err();
        assert!(matches!(e, TransportError::NoHugepages(_)), "{e}");
        assert!(e.to_string().contains("--no-huge"));
    }
    let eal = Eal::init(&EalConfig::virtual_only().with_vdev("net_null0")).unwrap();
    assert_eq!(eal.port_count(), 1);

    let again = Eal::init(&EalConfig::virtual_only()).unwrap_err();
    assert!(
        matches!(again, TransportError::EalAlreadyInitialized),
        "{again}"
    );
    assert!(Eal::get().is_some());
    assert!(Eal::get_or_init(&EalConfig::virtual_only()).is_ok());

    let missing = DpdkTransport::open(eal, &DpdkConfig::new("net_pcap7")).unwrap_err();
    assert!(
        matches!(&missing, TransportError::NoDevice { name, ports: 1 } if name == "net_pcap7"),
        "{missing}"
    );
    let bad = eal.probe("net_no_such_driver0").unwrap_err();
    assert!(matches!(bad, TransportError::Dpdk { .. }), "{bad}");

    let mut null = DpdkTransport::open(eal, &DpdkConfig::new("net_null0")).unwrap();
    assert_eq!(
        null.send(b"x").unwrap_err().to_string(),
        "no destination configured for send"
    );
}
