"""`quotewire doctor`: is this host really tuned for the engine?

Reads what the kernel reports (never what a tuning tool meant to do) and grades each knob
pass / warn / fail against the cores the engine will use: the engine config's pinned
`engine.core`, or the cores given with `--isolated`, or else whatever the kernel isolated.

    /proc/cmdline                         isolcpus (managed_irq, domain), nohz_full,
                                          rcu_nocbs, irqaffinity
    /sys/devices/system/cpu/isolated      the CPUs the scheduler really isolated
    /sys/devices/system/cpu/nohz_full     the CPUs really running tickless
    /sys/kernel/mm/hugepages, meminfo     1 GiB pages for the DPDK backend
    /sys/kernel/mm/transparent_hugepage   THP mode (madvise: only regions that ask)
    cpuN/cpufreq/scaling_governor         performance on the engine's cores
    cpuN/cpuidle/stateK                   no deep C-state on the engine's cores
    /proc/sys                             jitter and busy-poll sysctls
    /proc/*/comm, irqbalance.service      irqbalance neither running nor startable
    /proc/irq/N/*affinity_list            NIC queue interrupts away from the engine's
                                          cores, on the NIC's NUMA node
    /sys/class/net/IF                     NIC driver, NUMA node, queues, busy-poll knobs

The checks are the counterpart of ansible/ (roles host_tuning and dpdk): what the roles
write, the doctor verifies after the reboot. Every reader takes a root directory, so the
same checks run against a fake tree in tests.

Exit status of `quotewire doctor`: 0 every check passed, 3 warnings but no failure,
4 at least one failure (1 and 2 keep their CLI meaning: error, bad usage).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

__all__ = [
    "EXIT_FAIL",
    "EXIT_PASS",
    "EXIT_WARN",
    "Check",
    "Host",
    "Report",
    "Status",
    "diagnose",
    "format_cpus",
    "format_report",
    "parse_cpus",
]

EXIT_PASS: Final = 0
EXIT_WARN: Final = 3
EXIT_FAIL: Final = 4

# Exit latency (us) above which an enabled idle state is a C-state deeper than C1.
C1_EXIT_US: Final = 2
# An enabled idle state this slow to leave costs a tick-to-trade budget outright.
DEEP_EXIT_US: Final = 10
HUGE_1G: Final = "kernel/mm/hugepages/hugepages-1048576kB"


class Status(StrEnum):
    """The grade of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_RANK: Final = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One graded knob: what was found (`detail`) against what was wanted (`expected`)."""

    name: str
    status: Status
    detail: str
    expected: str = ""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dictionary."""
        return {
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "expected": self.expected,
        }


@dataclass(frozen=True)
class Report:
    """Every check, the cores they were graded against and facts about the host."""

    root: str
    cores: tuple[int, ...]
    cores_from: str
    checks: tuple[Check, ...]
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def worst(self) -> Status:
        """The worst status of any check (pass when there are none)."""
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=Status.PASS)

    @property
    def exit_code(self) -> int:
        """0 all passed, 3 warnings only, 4 at least one failure."""
        return {Status.PASS: EXIT_PASS, Status.WARN: EXIT_WARN, Status.FAIL: EXIT_FAIL}[self.worst]

    def counts(self) -> dict[str, int]:
        """Checks per status."""
        return {s.value: sum(c.status is s for c in self.checks) for s in Status}

    def by_name(self, name: str) -> Check:
        """The check called `name`."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "root": self.root,
            "cores": list(self.cores),
            "cores_from": self.cores_from,
            "status": str(self.worst),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
            "facts": dict(self.facts),
        }


# --------------------------------------------------------------------------- CPU lists


def parse_cpus(text: str) -> set[int]:
    """A kernel CPU list ("0-3,8,10-11") as a set; empty for "", "(null)" or "none"."""
    cpus: set[int] = set()
    t = text.strip()
    if t in ("", "(null)", "none"):
        return cpus
    for part in t.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        stride = 1
        if ":" in hi:  # "0-15:2/4" style groups are rare; keep the range, honour the stride
            hi, _, rest = hi.partition(":")
            stride = int(rest.split("/")[0] or 1)
        if sep:
            cpus.update(range(int(lo), int(hi) + 1, stride))
        else:
            cpus.add(int(lo))
    return cpus


def format_cpus(cpus: Iterable[int]) -> str:
    """A set of CPUs as a compact kernel CPU list ("0-3,8")."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs) or "none"


# --------------------------------------------------------------------------- the host


class Host:
    """Read-only view of a machine's /proc and /sys under `root` ("/" for this one)."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)

    def path(self, rel: str) -> Path:
        """`rel` (absolute or not) under the root."""
        return self.root / rel.lstrip("/")

    def text(self, rel: str) -> str | None:
        """The stripped contents of a file, None when absent or unreadable."""
        try:
            return self.path(rel).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None

    def listdir(self, rel: str) -> list[str]:
        """Sorted entries of a directory, empty when absent."""
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    def link_target(self, rel: str) -> str | None:
        """Where a symlink points, None when it is not one."""
        try:
            return os.readlink(self.path(rel))
        except OSError:
            return None

    def cmdline(self) -> dict[str, str]:
        """Kernel parameters (up to "--"); flags map to ""; the last value wins."""
        params: dict[str, str] = {}
        for word in (self.text("proc/cmdline") or "").split():
            if word == "--":
                break
            key, _, value = word.partition("=")
            params[key] = value
        return params

    def cpu_list(self, rel: str) -> set[int] | None:
        """A CPU-list file as a set; None when the file is absent."""
        text = self.text(rel)
        return None if text is None else parse_cpus(text)

    def online_cpus(self) -> set[int]:
        """The online CPUs (from cpu/online, else the cpuN directories)."""
        online = self.cpu_list("sys/devices/system/cpu/online")
        if online:
            return online
        names = self.listdir("sys/devices/system/cpu")
        return {int(n[3:]) for n in names if n.startswith("cpu") and n[3:].isdigit()}

    def node_cpus(self) -> dict[int, set[int]]:
        """NUMA node -> its CPUs."""
        nodes: dict[int, set[int]] = {}
        for name in self.listdir("sys/devices/system/node"):
            if name.startswith("node") and name[4:].isdigit():
                cpus = self.cpu_list(f"sys/devices/system/node/{name}/cpulist")
                nodes[int(name[4:])] = cpus or set()
        return nodes

    def sysctl(self, key: str) -> str | None:
        """A sysctl's value ("kernel.timer_migration"), None when the kernel lacks it."""
        return self.text("proc/sys/" + key.replace(".", "/"))

    def processes_named(self, comm: str) -> list[int]:
        """PIDs whose command name is `comm`."""
        pids: list[int] = []
        for name in self.listdir("proc"):
            if name.isdigit() and self.text(f"proc/{name}/comm") == comm:
                pids.append(int(name))
        return pids

    def nic_device(self, iface: str) -> str | None:
        """The PCI function directory (relative) behind a network interface, if any."""
        dev = f"sys/class/net/{iface}/device"
        if not self.path(dev).exists():
            return None
        if self.path(f"{dev}/msi_irqs").is_dir() or self.path(f"{dev}/numa_node").exists():
            return dev
        return f"{dev}/.."  # virtio: the PCI function is the parent

    def nic_irqs(self, iface: str) -> list[int]:
        """The MSI interrupts of an interface's PCI function (queues and control)."""
        dev = self.nic_device(iface)
        if dev is None:
            return []
        return sorted(int(n) for n in self.listdir(f"{dev}/msi_irqs") if n.isdigit())

    def physical_nics(self) -> list[str]:
        """Interfaces backed by a device (no lo, bridges, bonds, ifb or veth)."""
        return [n for n in self.listdir("sys/class/net") if self.nic_device(n) is not None]

    def irq_affinity(self, irq: int) -> set[int] | None:
        """CPUs that serve an interrupt: the effective affinity, else the requested one."""
        eff = self.cpu_list(f"proc/irq/{irq}/effective_affinity_list")
        if eff:
            return eff
        return self.cpu_list(f"proc/irq/{irq}/smp_affinity_list")

    def irq_names(self) -> dict[int, str]:
        """IRQ number -> its action names, from /proc/interrupts."""
        names: dict[int, str] = {}
        lines = (self.text("proc/interrupts") or "").splitlines()
        if not lines:
            return names
        ncpu = len(lines[0].split())
        for line in lines[1:]:
            head, _, rest = line.partition(":")
            if head.strip().isdigit():
                fields = rest.split()
                names[int(head)] = " ".join(fields[ncpu + 2 :]) or " ".join(fields[ncpu:])
        return names


# --------------------------------------------------------------------------- the checks


def _label(cores: set[int]) -> str:
    """The engine's cores as a CPU list, or a placeholder when none is known."""
    return format_cpus(cores) if cores else "<engine cores>"


def _covers(have: set[int] | None, want: set[int]) -> bool:
    return have is not None and bool(want) and want <= have


def _cmdline_checks(host: Host, cores: set[int]) -> list[Check]:
    params = host.cmdline()
    want = _label(cores)
    out: list[Check] = []

    iso = params.get("isolcpus")
    expected = f"isolcpus=managed_irq,domain,{want}"
    if iso is None:
        out.append(
            Check("cmdline isolcpus", Status.FAIL, "not on the kernel command line", expected)
        )
    else:
        words = iso.split(",")
        flags = {w for w in words if w and not w[0].isdigit()}
        cpus = parse_cpus(",".join(w for w in words if w and w[0].isdigit()))
        if not _covers(cpus, cores):
            status, detail = Status.FAIL, f"isolcpus={iso} does not cover {want}"
        elif not {"managed_irq", "domain"} <= flags:
            missing = " and ".join(sorted({"domain", "managed_irq"} - flags))
            status, detail = Status.WARN, f"isolcpus={iso}: without {missing}"
        else:
            status, detail = Status.PASS, f"isolcpus={iso}"
        out.append(Check("cmdline isolcpus", status, detail, expected))

    for key, severity in (("rcu_nocbs", Status.WARN),):
        value = params.get(key)
        if value is None:
            out.append(Check(f"cmdline {key}", severity, "not set", f"{key}={want}"))
        elif _covers(parse_cpus(value), cores):
            out.append(Check(f"cmdline {key}", Status.PASS, f"{key}={value}", f"{key}={want}"))
        else:
            detail = f"{key}={value} does not cover {want}"
            out.append(Check(f"cmdline {key}", severity, detail, f"{key}={want}"))

    aff = params.get("irqaffinity")
    expected = f"irqaffinity=<housekeeping cores, not {want}>"
    if aff is None:
        detail = "not set: new interrupts may land on any CPU"
        out.append(Check("cmdline irqaffinity", Status.WARN, detail, expected))
    elif parse_cpus(aff) & cores:
        detail = f"irqaffinity={aff} includes {format_cpus(parse_cpus(aff) & cores)}"
        out.append(Check("cmdline irqaffinity", Status.FAIL, detail, expected))
    else:
        out.append(Check("cmdline irqaffinity", Status.PASS, f"irqaffinity={aff}", expected))
    return out


def _isolation_checks(host: Host, cores: set[int]) -> list[Check]:
    want = _label(cores)
    out: list[Check] = []
    isolated = host.cpu_list("sys/devices/system/cpu/isolated")
    if _covers(isolated, cores):
        detail = f"isolated {format_cpus(isolated or set())}"
        out.append(Check("cpu isolated", Status.PASS, detail, want))
    else:
        got = "file absent" if isolated is None else f"isolated {format_cpus(isolated)}"
        out.append(
            Check("cpu isolated", Status.FAIL, f"{got}; the scheduler balances onto {want}", want)
        )

    nohz = host.cpu_list("sys/devices/system/cpu/nohz_full")
    if _covers(nohz, cores):
        out.append(
            Check("cpu nohz_full", Status.PASS, f"nohz_full {format_cpus(nohz or set())}", want)
        )
    else:
        got = (
            "file absent (kernel without CONFIG_NO_HZ_FULL?)"
            if nohz is None
            else f"nohz_full {format_cpus(nohz)}"
        )
        out.append(Check("cpu nohz_full", Status.FAIL, f"{got}: the tick interrupts {want}", want))

    if host.text("sys/devices/system/cpu/smt/active") == "1":
        shared: list[str] = []
        for cpu in sorted(cores):
            sib = host.cpu_list(f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
            others = (sib or set()) - {cpu}
            if others - (isolated or set()):
                shared.append(f"{cpu} shares a core with {format_cpus(others)}")
        if shared:
            detail = "SMT on; " + "; ".join(shared) + " (not isolated)"
            out.append(Check("cpu smt", Status.WARN, detail, "SMT off, or siblings isolated"))
        else:
            detail = "SMT on; the engine's cores' siblings are isolated too"
            out.append(Check("cpu smt", Status.PASS, detail, "SMT off, or siblings isolated"))
    else:
        out.append(
            Check("cpu smt", Status.PASS, "SMT off or absent", "SMT off, or siblings isolated")
        )
    return out


def _frequency_checks(host: Host, cores: set[int]) -> list[Check]:
    out: list[Check] = []
    govs = {
        cpu: host.text(f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
        for cpu in sorted(cores)
    }
    if not cores:
        pass
    elif all(g is None for g in govs.values()):
        driver = host.text("sys/devices/system/cpu/cpufreq/policy0/scaling_driver")
        detail = "no cpufreq driver: frequency set by the BIOS or hypervisor, unverifiable"
        if driver:
            detail = f"scaling driver {driver} but no governor for the engine's cores"
        out.append(Check("cpu governor", Status.WARN, detail, "performance"))
    else:
        slow = {c: g for c, g in govs.items() if g != "performance"}
        if slow:
            detail = ", ".join(f"cpu{c} {g or 'none'}" for c, g in slow.items())
            out.append(Check("cpu governor", Status.FAIL, detail, "performance"))
        else:
            detail = f"performance on {format_cpus(cores)}"
            out.append(Check("cpu governor", Status.PASS, detail, "performance"))

    deepest: dict[int, tuple[int, str]] = {}
    for cpu in sorted(cores):
        base = f"sys/devices/system/cpu/cpu{cpu}/cpuidle"
        for state in host.listdir(base):
            if not state.startswith("state"):
                continue
            if host.text(f"{base}/{state}/disable") == "1":
                continue
            latency = int(host.text(f"{base}/{state}/latency") or 0)
            name = host.text(f"{base}/{state}/name") or state
            if latency >= deepest.get(cpu, (-1, ""))[0]:
                deepest[cpu] = (latency, name)
    expected = f"no enabled idle state slower than {C1_EXIT_US} us to leave (C1)"
    if not deepest:
        driver = host.text("sys/devices/system/cpu/cpuidle/current_driver") or "none"
        detail = f"no cpuidle states readable (driver {driver})"
        out.append(Check("cpu cstates", Status.WARN if cores else Status.PASS, detail, expected))
    else:
        worst_cpu = max(deepest, key=lambda c: deepest[c][0])
        latency, name = deepest[worst_cpu]
        detail = f"deepest enabled: {name} ({latency} us exit) on cpu{worst_cpu}"
        status = (
            Status.FAIL
            if latency > DEEP_EXIT_US
            else Status.WARN
            if latency > C1_EXIT_US
            else Status.PASS
        )
        out.append(Check("cpu cstates", status, detail, expected))
    return out


def _memory_checks(host: Host, hugepages_1g: int | None) -> list[Check]:
    out: list[Check] = []
    total = host.text(f"sys/{HUGE_1G}/nr_hugepages")
    free = host.text(f"sys/{HUGE_1G}/free_hugepages")
    want = hugepages_1g if hugepages_1g is not None else 1
    expected = f">= {want} x 1 GiB pages"
    if total is None:
        detail = "no 1 GiB huge page support (pdpe1gb)"
        status = Status.FAIL if hugepages_1g else Status.WARN
        out.append(Check("hugepages 1G", status, detail, expected))
    else:
        n = int(total)
        per_node = []
        for node in sorted(host.node_cpus()):
            count = host.text(
                f"sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"
            )
            if count is not None:
                per_node.append(f"node{node} {count}")
        detail = f"{n} reserved, {free or '?'} free" + (
            f" ({', '.join(per_node)})" if per_node else ""
        )
        if n >= want:
            out.append(Check("hugepages 1G", Status.PASS, detail, expected))
        else:
            status = Status.FAIL if hugepages_1g else Status.WARN
            suffix = "" if hugepages_1g else ": the DPDK backend needs them"
            out.append(Check("hugepages 1G", status, detail + suffix, expected))

    thp_raw = host.text("sys/kernel/mm/transparent_hugepage/enabled")
    expected = "madvise (the engine's slabs ask with MADV_HUGEPAGE; nothing else gets THP)"
    if thp_raw is None:
        out.append(Check("thp", Status.PASS, "THP not built into this kernel", expected))
    else:
        mode = _bracketed(thp_raw)
        defrag = _bracketed(host.text("sys/kernel/mm/transparent_hugepage/defrag") or "")
        detail = f"enabled [{mode}], defrag [{defrag}]"
        if mode == "always":
            status, detail = Status.FAIL, detail + ": khugepaged collapses pages under everyone"
        elif mode == "never":
            status, detail = Status.WARN, detail + ": the book and OMS slabs get 4 KiB pages"
        elif defrag == "always":
            status, detail = Status.WARN, detail + ": faults may stall in direct compaction"
        else:
            status = Status.PASS
        out.append(Check("thp", status, detail, expected))
    return out


def _bracketed(text: str) -> str:
    """The selected word of a sysfs choice ("always [madvise] never" -> "madvise")."""
    if "[" in text:
        return text.split("[", 1)[1].split("]", 1)[0]
    return text.strip()


# (key, wanted, how it is compared, why)
_SYSCTLS: Final = (
    ("kernel.timer_migration", 0, "eq", "timers stay on the CPU that armed them"),
    ("kernel.nmi_watchdog", 0, "eq", "no periodic NMI on every CPU"),
    ("kernel.numa_balancing", 0, "eq", "no NUMA hinting faults on the fast path's pages"),
    ("vm.stat_interval", 10, "ge", "vmstat work every 10 s, not every second"),
    ("net.core.busy_poll", 1, "ge", "poll/select busy-poll the NIC queue"),
    ("net.core.busy_read", 1, "ge", "blocking reads busy-poll the NIC queue"),
)


def _sysctl_checks(host: Host) -> list[Check]:
    out: list[Check] = []
    for key, wanted, how, why in _SYSCTLS:
        value = host.sysctl(key)
        expected = f"{'=' if how == 'eq' else '>='} {wanted} ({why})"
        if value is None:
            out.append(Check(f"sysctl {key}", Status.PASS, "absent on this kernel", expected))
            continue
        try:
            number = int(value.split()[0])
        except (ValueError, IndexError):
            out.append(Check(f"sysctl {key}", Status.WARN, f"unreadable: {value!r}", expected))
            continue
        ok = number == wanted if how == "eq" else number >= wanted
        status = Status.PASS if ok else Status.WARN
        out.append(Check(f"sysctl {key}", status, f"{key} = {number}", expected))
    return out


def _irqbalance_check(host: Host) -> Check:
    expected = "masked and not running (IRQ affinity is owned by quotewire-tune)"
    running = host.processes_named("irqbalance")
    if running:
        detail = f"running (pid {', '.join(map(str, running))}): it rewrites IRQ affinities"
        return Check("irqbalance", Status.FAIL, detail, expected)
    if host.link_target("etc/systemd/system/irqbalance.service") == "/dev/null":
        return Check("irqbalance", Status.PASS, "masked, not running", expected)
    for unit_dir in ("lib/systemd/system", "usr/lib/systemd/system"):
        if host.path(f"{unit_dir}/irqbalance.service").exists():
            detail = "installed and not masked: starts at the next boot unless disabled"
            return Check("irqbalance", Status.WARN, detail, expected)
    return Check("irqbalance", Status.PASS, "not installed, not running", expected)


def _nic_checks(host: Host, cores: set[int], nics: Sequence[str]) -> list[Check]:
    out: list[Check] = []
    nodes = host.node_cpus()
    names = host.irq_names()
    nic_irqs: set[int] = set()
    for iface in nics:
        base = f"sys/class/net/{iface}"
        if not host.path(base).exists():
            out.append(Check(f"nic {iface}", Status.FAIL, "no such interface", "present"))
            continue
        dev = host.nic_device(iface)
        bound = host.link_target(f"{base}/device/driver")
        driver = os.path.basename(bound) if bound else "unbound"
        node_text = host.text(f"{dev}/numa_node") if dev else None
        node = int(node_text) if node_text and node_text.lstrip("-").isdigit() else -1
        rx = [q for q in host.listdir(f"{base}/queues") if q.startswith("rx-")]
        tx = [q for q in host.listdir(f"{base}/queues") if q.startswith("tx-")]
        facts = [
            f"driver {driver}",
            f"numa node {node if node >= 0 else 'n/a'}",
            f"speed {host.text(f'{base}/speed') or '?'} Mb/s",
            f"mtu {host.text(f'{base}/mtu') or '?'}",
            f"{len(rx)} rx / {len(tx)} tx queues",
            f"gro_flush_timeout {host.text(f'{base}/gro_flush_timeout') or '?'}",
            f"napi_defer_hard_irqs {host.text(f'{base}/napi_defer_hard_irqs') or '?'}",
        ]
        status = Status.PASS
        expected = "the engine's cores on the NIC's NUMA node"
        node_set = nodes.get(node)
        if node >= 0 and node_set and cores and not cores <= node_set:
            status = Status.WARN
            facts.append(f"engine cores {format_cpus(cores - node_set)} are on another node")
        out.append(Check(f"nic {iface}", status, "; ".join(facts), expected))

        irqs = host.nic_irqs(iface)
        nic_irqs.update(irqs)
        expected = f"queue IRQs off {_label(cores)}, on the NIC's node"
        if not cores:
            spread = format_cpus(set().union(*(host.irq_affinity(i) or set() for i in irqs)))
            detail = f"{len(irqs)} IRQs on CPUs {spread}; no engine cores to grade them against"
            out.append(Check(f"irq {iface}", Status.WARN, detail, expected))
            continue
        if not irqs:
            detail = "no MSI interrupts (unbound, vfio-pci or polled)"
            out.append(Check(f"irq {iface}", Status.PASS, detail, expected))
            continue
        on_engine: list[str] = []
        off_node: list[str] = []
        for irq in irqs:
            aff = host.irq_affinity(irq) or set()
            label = f"{irq}({names.get(irq, '?')})->{format_cpus(aff)}"
            if aff & cores:
                on_engine.append(label)
            elif node >= 0 and node_set and aff - node_set:
                off_node.append(label)
        if on_engine:
            detail = f"{len(on_engine)}/{len(irqs)} on the engine's cores: " + ", ".join(on_engine)
            out.append(Check(f"irq {iface}", Status.FAIL, detail, expected))
        elif off_node:
            detail = f"{len(off_node)}/{len(irqs)} off NUMA node {node}: " + ", ".join(off_node)
            out.append(Check(f"irq {iface}", Status.WARN, detail, expected))
        else:
            detail = f"{len(irqs)} IRQs, none on {format_cpus(cores)}"
            out.append(Check(f"irq {iface}", Status.PASS, detail, expected))

    others: list[str] = []
    for name in host.listdir("proc/irq"):
        if name.isdigit() and int(name) not in nic_irqs:
            served = host.irq_affinity(int(name))
            if served is not None and served & cores:
                others.append(f"{name}({names.get(int(name), '?')})")
    expected = f"no interrupt served on {_label(cores)}"
    if not cores:
        detail = "cannot grade interrupts without the engine's cores"
        out.append(Check("irq others", Status.WARN, detail, expected))
    elif others:
        detail = f"{len(others)} other IRQs may run on the engine's cores: " + ", ".join(others[:8])
        detail += " ..." if len(others) > 8 else ""
        out.append(Check("irq others", Status.WARN, detail, expected))
    else:
        out.append(Check("irq others", Status.PASS, "none on the engine's cores", expected))
    return out


def _facts(host: Host) -> dict[str, str]:
    model = "?"
    for line in (host.text("proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "kernel": host.text("proc/sys/kernel/osrelease") or "?",
        "cpu_model": model,
        "cpus_online": format_cpus(host.online_cpus()),
        "numa_nodes": str(len(host.node_cpus()) or 1),
        "smt_active": host.text("sys/devices/system/cpu/smt/active") or "?",
        "cpuidle_driver": host.text("sys/devices/system/cpu/cpuidle/current_driver") or "none",
        "cmdline": host.text("proc/cmdline") or "",
    }


def diagnose(
    root: str | os.PathLike[str] = "/",
    *,
    cores: Iterable[int] | None = None,
    config: str | os.PathLike[str] | None = None,
    nics: Sequence[str] | None = None,
    hugepages_1g: int | None = None,
) -> Report:
    """Grade the host under `root` against the engine's cores.

    The cores are `cores` when given, else the `engine.core` of the engine config file
    `config`, else whatever the kernel isolated. `nics` are the interfaces to inspect
    (default: every interface backed by a device). `hugepages_1g` makes too few 1 GiB
    pages a failure instead of a warning."""
    host = Host(root)
    checks: list[Check] = []
    if cores is not None:
        target, source = set(cores), "--isolated"
    elif config is not None:
        from quotewire.engine import EngineConfig

        cfg = EngineConfig.load(config)
        if cfg.engine.core is None:
            target, source = set(), f"{config}: engine.core not set"
            detail = "engine.core is not set: the fast path is not pinned to any core"
            checks.append(
                Check("config engine.core", Status.FAIL, detail, "a pinned, isolated core")
            )
        else:
            target, source = {cfg.engine.core}, f"engine.core in {config}"
            status = Status.PASS if cfg.engine.strict_isolation else Status.WARN
            detail = f"engine.core = {cfg.engine.core}, strict_isolation = " + (
                "true" if cfg.engine.strict_isolation else "false (starts on an unisolated core)"
            )
            checks.append(Check("config engine.core", status, detail, "a pinned, isolated core"))
    else:
        isolated = host.cpu_list("sys/devices/system/cpu/isolated") or set()
        target, source = isolated, "the kernel's isolated CPUs (no config or --isolated)"
    if not target:
        detail = "no core to grade: no pinned core given and the kernel isolates none"
        checks.append(
            Check("cores", Status.FAIL, detail, "--config with engine.core, or --isolated")
        )
    else:
        online = host.online_cpus()
        missing = target - online if online else set()
        if missing:
            detail = f"{format_cpus(missing)} not online (online {format_cpus(online)})"
            checks.append(Check("cores", Status.FAIL, detail, "online CPUs"))
    checks += _cmdline_checks(host, target)
    checks += _isolation_checks(host, target)
    # Without known engine cores, every online CPU's governor and idle states are graded.
    checks += _frequency_checks(host, target or host.online_cpus())
    checks += _memory_checks(host, hugepages_1g)
    checks += _sysctl_checks(host)
    checks.append(_irqbalance_check(host))
    checks += _nic_checks(host, target, host.physical_nics() if nics is None else nics)
    return Report(
        root=str(host.root),
        cores=tuple(sorted(target)),
        cores_from=source,
        checks=tuple(checks),
        facts=_facts(host),
    )


def format_report(report: Report) -> str:
    """The report as an aligned table with a one-line verdict."""
    facts = report.facts
    lines = [
        f"quotewire doctor: {facts.get('kernel', '?')} on {facts.get('cpu_model', '?')}, "
        f"CPUs {facts.get('cpus_online', '?')}",
        f"engine cores: {_label(set(report.cores))} ({report.cores_from})",
        "",
    ]
    width = max((len(c.name) for c in report.checks), default=0)
    for c in report.checks:
        lines.append(f"  {c.status.value.upper():4}  {c.name:<{width}}  {c.detail}")
        if c.status is not Status.PASS and c.expected:
            lines.append(f"  {'':4}  {'':<{width}}  wanted: {c.expected}")
    counts = report.counts()
    verdict = {
        Status.PASS: "tuned",
        Status.WARN: "tuned with warnings",
        Status.FAIL: "NOT tuned for low latency",
    }[report.worst]
    lines += [
        "",
        f"{verdict}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail "
        f"(exit {report.exit_code})",
    ]
    return "\n".join(lines)
