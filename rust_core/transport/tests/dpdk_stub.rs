//! Built with the `dpdk` feature but without libdpdk, the DPDK backend exists
//! and refuses at run time with a clear "built without DPDK" error.
#![cfg(all(feature = "dpdk", not(qw_dpdk)))]

use quotewire_transport::dpdk::{self, Eal, EalConfig};
use quotewire_transport::TransportError;

#[test]
fn eal_init_without_libdpdk_says_it_was_built_without_dpdk() {
    assert!(!dpdk::available());
    let e = Eal::init(&EalConfig::virtual_only().with_vdev("net_null0")).unwrap_err();
    assert!(matches!(e, TransportError::DpdkUnavailable(_)), "{e}");
    assert!(e.to_string().starts_with("built without DPDK"), "{e}");
    assert!(Eal::get().is_none());
}
