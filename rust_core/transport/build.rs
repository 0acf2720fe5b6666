//! Builds the DPDK shim when the `dpdk` feature is on and libdpdk is found.
//!
//! The compile flags are the full `pkg-config --cflags libdpdk` output: the
//! `pkg-config` crate drops `-include rte_config.h` and `-march=...`, without
//! which DPDK's headers do not compile (or compile for the wrong CPU). When
//! libdpdk is missing the feature builds a stub that fails at run time with
//! "built without DPDK"; the build itself never fails for that reason.

#[cfg(feature = "dpdk")]
use std::env;
#[cfg(feature = "dpdk")]
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(qw_dpdk)");
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    build_shim();
}

/// Compiles and links the shim, or explains why the stub is built instead.
#[cfg(feature = "dpdk")]
fn build_shim() {
    println!("cargo::rerun-if-changed=csrc/dpdk_shim.c");
    println!("cargo::rerun-if-env-changed=QUOTEWIRE_DPDK_STUB");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG");
    if env::var_os("QUOTEWIRE_DPDK_STUB").is_some() {
        println!(
            "cargo::warning=QUOTEWIRE_DPDK_STUB is set: the dpdk feature builds the stub \
             (every DPDK call fails with 'built without DPDK')"
        );
        return;
    }
    let (Some(cflags), Some(libs)) = (pkg_config("--cflags"), pkg_config("--libs")) else {
        println!(
            "cargo::warning=libdpdk not found by pkg-config (install libdpdk-dev): the dpdk \
             feature builds a stub and the DPDK transport fails at run time with \
             'built without DPDK'"
        );
        return;
    };
    let mut build = cc::Build::new();
    // _GNU_SOURCE for pthread_{get,set}affinity_np; defined before `-include rte_config.h`.
    build
        .file("csrc/dpdk_shim.c")
        .warnings(true)
        .opt_level(3)
        .define("_GNU_SOURCE", None);
    for flag in cflags.split_whitespace() {
        build.flag(flag);
    }
    build.compile("qw_dpdk_shim");
    // Link DPDK's shared libraries (-L dirs and -l names; rustc adds --as-needed).
    for token in libs.split_whitespace() {
        if let Some(dir) = token.strip_prefix("-L") {
            println!("cargo::rustc-link-search=native={dir}");
        } else if let Some(lib) = token.strip_prefix("-l") {
            println!("cargo::rustc-link-lib=dylib={lib}");
        }
    }
    println!("cargo::rustc-cfg=qw_dpdk");
}

#[cfg(feature = "dpdk")]
/// `pkg-config <what> libdpdk`, or `None` when pkg-config or libdpdk is missing.
fn pkg_config(what: &str) -> Option<String> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args([what, "libdpdk"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
