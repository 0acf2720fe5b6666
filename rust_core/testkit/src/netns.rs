//! Network namespaces and veth pairs for tests that need a second host on
//! this machine (kernel-bypass transports, venues behind a real link). Root
//! and iproute2 (`ip`) are required; callers skip with the error's text
//! otherwise.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Runs `ip ARGS...`; the error carries the command and its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this process runs as root (veth pairs and namespaces need it).
#[must_use]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A veth pair whose peer end sits in its own network namespace (address
/// `.2` of a /24, multicast routed out of it); the host end is up, and
/// addressed `.1` when asked. Both are removed on drop.
#[derive(Debug)]
pub struct Veth {
    /// The host end's interface name.
    pub host: String,
    /// The peer end's interface name (inside `ns`).
    pub peer: String,
    /// The namespace's name (`/run/netns/<ns>`).
    pub ns: String,
}

impl Veth {
    /// Builds the pair. `tag` (a few letters) keeps concurrent tests' names
    /// apart; `net` is the /24 (its last octet ignored); `peer_mac` fixes the
    /// peer end's MAC address (for senders that do no ARP).
    pub fn create(
        tag: &str,
        net: Ipv4Addr,
        peer_mac: Option<[u8; 6]>,
        host_address: bool,
    ) -> Result<Self, String> {
        let id = std::process::id() % 100_000;
        let [a, b, c, _] = net.octets();
        let me = Self {
            host: format!("{tag}{id}a"),
            peer: format!("{tag}{id}b"),
            ns: format!("{tag}ns{id}"),
        };
        ip(&["netns", "add", &me.ns])?;
        let mut link = vec![
            "link", "add", &me.host, "type", "veth", "peer", "name", &me.peer,
        ];
        let mac = peer_mac.map(|m| m.map(|x| format!("{x:02x}")).join(":"));
        if let Some(mac) = mac.as_deref() {
            link.extend(["address", mac]);
        }
        ip(&link)?;
        ip(&["link", "set", &me.peer, "netns", &me.ns])?;
        let peer_addr = format!("{a}.{b}.{c}.2/24");
        ip(&["-n", &me.ns, "addr", "add", &peer_addr, "dev", &me.peer])?;
        ip(&["-n", &me.ns, "link", "set", &me.peer, "up"])?;
        ip(&["-n", &me.ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &me.ns, "route", "add", "224.0.0.0/4", "dev", &me.peer])?;
        if host_address {
            ip(&["addr", "add", &format!("{a}.{b}.{c}.1/24"), "dev", &me.host])?;
        }
        ip(&["link", "set", &me.host, "up"])?;
        Ok(me)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

/// Moves the calling thread (and the threads it spawns afterwards) into
/// network namespace `ns`.
pub fn enter_netns(ns: &str) -> Result<(), String> {
    let f = File::open(format!("/run/netns/{ns}")).map_err(|e| e.to_string())?;
    // SAFETY: `f` is an open namespace file for the whole call; setns with
    // CLONE_NEWNET changes only this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("setns: {}", std::io::Error::last_os_error()))
    }
}
