//! The C shim's functions (`csrc/dpdk_shim.c`), or stand-ins when the crate
//! was built without libdpdk.
//!
//! Every function follows the shim's convention: a count or 0 on success, a
//! negative errno value on failure. The stand-ins fail with `-ENOTSUP`; they
//! are never reached in practice because [`super::Eal::init`] refuses first.

use std::ffi::{c_char, c_int, c_uint};

/// DPDK's `struct rte_mempool`, opaque.
#[repr(C)]
pub(crate) struct Pool {
    _opaque: [u8; 0],
}

/// DPDK's `struct rte_mbuf`, opaque.
#[repr(C)]
pub(crate) struct Mbuf {
    _opaque: [u8; 0],
}

#[cfg(qw_dpdk)]
pub(crate) use linked::*;

#[cfg(qw_dpdk)]
mod linked {
    use super::{c_char, c_int, c_uint, Mbuf, Pool};

    extern "C" {
        pub(crate) fn qw_dpdk_version() -> *const c_char;
        pub(crate) fn qw_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
        pub(crate) fn qw_strerror(err: c_int) -> *const c_char;
        pub(crate) fn qw_dev_probe(devargs: *const c_char) -> c_int;
        pub(crate) fn qw_port_by_name(name: *const c_char, port: *mut u16) -> c_int;
        pub(crate) fn qw_port_count() -> u16;
        pub(crate) fn qw_pool_create(
            name: *const c_char,
            n: c_uint,
            cache: c_uint,
            data_room: u16,
            port: u16,
        ) -> *mut Pool;
        pub(crate) fn qw_pool_free(pool: *mut Pool);
        pub(crate) fn qw_pool_avail(pool: *const Pool) -> c_uint;
        pub(crate) fn qw_last_errno() -> c_int;
        pub(crate) fn qw_port_start(
            port: u16,
            queues: u16,
            rx_desc: *mut u16,
            tx_desc: *mut u16,
            pool: *mut Pool,
        ) -> c_int;
        pub(crate) fn qw_port_stop(port: u16);
        pub(crate) fn qw_port_mac(port: u16, out: *mut u8) -> c_int;
        pub(crate) fn qw_mc_filter(port: u16, macs: *const u8, n: u32) -> c_int;
        pub(crate) fn qw_rx_burst(
            port: u16,
            queue: u16,
            mbufs: *mut *mut Mbuf,
            prev: u16,
            data: *mut *const u8,
            len: *mut u16,
            max: u16,
        ) -> u16;
        pub(crate) fn qw_free_bulk(mbufs: *mut *mut Mbuf, n: u16);
        pub(crate) fn qw_tx_frames(
            pool: *mut Pool,
            port: u16,
            queue: u16,
            frames: *const u8,
            lens: *const u16,
            n: u16,
        ) -> c_int;
    }
}

#[cfg(not(qw_dpdk))]
pub(crate) use stub::*;

/// Stand-ins with the shim's signatures, for builds without libdpdk.
#[cfg(not(qw_dpdk))]
#[allow(clippy::missing_const_for_fn, clippy::unnecessary_wraps)]
mod stub {
    use super::{c_char, c_int, c_uint, Mbuf, Pool};

    const ENOTSUP: c_int = 95;

    pub(crate) unsafe fn qw_dpdk_version() -> *const c_char {
        c"built without DPDK".as_ptr()
    }
    pub(crate) unsafe fn qw_eal_init(_argc: c_int, _argv: *mut *mut c_char) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_strerror(_err: c_int) -> *const c_char {
        c"built without DPDK".as_ptr()
    }
    pub(crate) unsafe fn qw_dev_probe(_devargs: *const c_char) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_port_by_name(_name: *const c_char, _port: *mut u16) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_port_count() -> u16 {
        0
    }
    pub(crate) unsafe fn qw_pool_create(
        _name: *const c_char,
        _n: c_uint,
        _cache: c_uint,
        _data_room: u16,
        _port: u16,
    ) -> *mut Pool {
        std::ptr::null_mut()
    }
    pub(crate) unsafe fn qw_pool_free(_pool: *mut Pool) {}
    pub(crate) unsafe fn qw_pool_avail(_pool: *const Pool) -> c_uint {
        0
    }
    pub(crate) unsafe fn qw_last_errno() -> c_int {
        ENOTSUP
    }
    pub(crate) unsafe fn qw_port_start(
        _port: u16,
        _queues: u16,
        _rx_desc: *mut u16,
        _tx_desc: *mut u16,
        _pool: *mut Pool,
    ) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_port_stop(_port: u16) {}
    pub(crate) unsafe fn qw_port_mac(_port: u16, _out: *mut u8) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_mc_filter(_port: u16, _macs: *const u8, _n: u32) -> c_int {
        -ENOTSUP
    }
    pub(crate) unsafe fn qw_rx_burst(
        _port: u16,
        _queue: u16,
        _mbufs: *mut *mut Mbuf,
        _prev: u16,
        _data: *mut *const u8,
        _len: *mut u16,
        _max: u16,
    ) -> u16 {
        0
    }
    pub(crate) unsafe fn qw_free_bulk(_mbufs: *mut *mut Mbuf, _n: u16) {}
    pub(crate) unsafe fn qw_tx_frames(
        _pool: *mut Pool,
        _port: u16,
        _queue: u16,
        _frames: *const u8,
        _lens: *const u16,
        _n: u16,
    ) -> c_int {
        -ENOTSUP
    }
}
