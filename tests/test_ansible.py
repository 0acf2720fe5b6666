"""The Ansible roles applied for real: to a throwaway Debian root, twice.

ansible-lint (production profile) and a syntax check first; then `debootstrap
--variant=minbase bookworm` from this machine's own apt mirror into a temporary directory
(the downloaded packages are kept as a tarball under .cache/ansible-test/, so a second run
only unpacks), `site.yml` applied to it through the `community.general.chroot` connection
with `quotewire_live_host: false` (files only, as for an image), applied again with zero
changes, and the resulting files checked: the GRUB drop-in, the sysctl drop-in, masked
units, the rendered engine config (loaded by quotewire's own loader), the systemd units
(`systemd-analyze --root verify`) and the installed wheel running inside the root.

The wheel is the real one, built by `maturin build --release` (cheap after
scripts/setup.sh's `maturin develop --release`: the same compiled crates, repackaged), and
numpy comes from a local wheelhouse (`pip download`, cached), so the role's offline
install (`--no-index --find-links`) is what runs.

Needs root (chroot) and debootstrap; scripts/setup.sh installs debootstrap and Debian's
ansible (with community.general) and ansible-lint.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANSIBLE = REPO / "ansible"
CACHE = REPO / ".cache" / "ansible-test"
SUITE = "bookworm"
# Installed by debootstrap beside minbase: Ansible's own needs (python3; python3-apt for
# the apt module, which would otherwise try to install it from the network) and what the
# roles install, so the playbook runs without reaching the mirror.
INCLUDE = ("python3", "python3-apt", "python3-venv", "systemd")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chroot into a debootstrap root"),
    pytest.mark.skipif(
        shutil.which("debootstrap") is None,
        reason="debootstrap is not installed (scripts/setup.sh installs it)",
    ),
]

# The image host: a small 2-core appliance (core 0 housekeeping, core 1 isolated), one
# kernel NIC and one vfio-pci NIC, one instrument and one rule.
HOST_VARS = """\
ansible_connection: community.general.chroot
ansible_python_interpreter: /usr/bin/python3
ansible_become: false
quotewire_live_host: false
quotewire_hugepages_1g: 2
quotewire_housekeeping_cores: [0]
quotewire_isolated_cores: [1]
quotewire_fastpath_core: 1
quotewire_service_cores: [0]
quotewire_nics:
  - name: eth0
    numa_node: 0
    purpose: ITCH feed and OUCH order entry
    driver: kernel
    irq_cores: [0]
  - name: dpdk0
    pci: "0000:00:1f.0"
    numa_node: 0
    purpose: DPDK feed line B
    driver: vfio-pci
quotewire_ouch_username: mm01
quotewire_ouch_password: secret01
quotewire_instruments:
  - symbol: AAPL
    id: 1
    tick: "0.01"
    half_spread_ticks: 1
    size: 100
    skew_ticks: 1
    quote_max_position: 1000
    requote_ticks: 1
    max_order_qty: 1000
    max_order_notional: "1000000"
    price_band_bps: 500
    max_position: 2000
quotewire_rules:
  - name: widen-on-volatility
    metric: volatility
    threshold: 2.5
    widen_ticks: 2
    pull: false
"""


def _run(cmd: list[str], *, cwd: Path = REPO, timeout: float = 600) -> str:
    """Run `cmd`; its combined output, or a test failure that shows it."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {done.returncode}:\n{output[-6000:]}")
    return output


def apt_mirror(suite: str = SUITE) -> str:
    """This machine's Debian mirror for `suite`, from /etc/apt/sources.list(.d)."""
    found: list[tuple[str, list[str]]] = []
    files = [Path("/etc/apt/sources.list")]
    files += sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        if f.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                    suites = fields.get("suites", "").split()
                    found += [(uri, suites) for uri in fields.get("uris", "").split()]
        elif f.name == "sources.list" or f.suffix == ".list":
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    found.append((m.group(1), [m.group(2)]))
    for uri, suites in found:
        if suite in suites:
            return uri
    pytest.fail(f"no apt source for {suite} in /etc/apt/sources.list(.d): {found}")


def _debootstrap(root: Path, mirror: str) -> None:
    """A minbase root at `root`, its packages cached as a tarball under CACHE."""
    key = hashlib.sha256(f"{SUITE} {mirror} {','.join(INCLUDE)}".encode()).hexdigest()[:12]
    tarball = CACHE / f"debootstrap-{SUITE}-minbase-{key}.tgz"
    base = ["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}"]
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tgz")
        scratch = root.parent / "make-tarball"
        _run([*base, f"--make-tarball={partial}", SUITE, str(scratch), mirror])
        shutil.rmtree(scratch, ignore_errors=True)
        partial.rename(tarball)
    _run([*base, f"--unpack-tarball={tarball}", SUITE, str(root), mirror])


def _wheel(out: Path) -> Path:
    """quotewire's wheel, built from this tree."""
    venv = REPO / ".venv"
    env = dict(os.environ, VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    done = subprocess.run(
        [str(venv / "bin" / "maturin"), "build", "--release", "--quiet", "-o", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("quotewire-*.whl")
    return wheel


def _wheelhouse() -> Path:
    """Dependency wheels (numpy, the version this tree is tested with), cached."""
    house = CACHE / "wheelhouse"
    numpy = f"numpy=={metadata.version('numpy')}"
    if not any(house.glob(f"numpy-{metadata.version('numpy')}-*.whl")):
        house.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps"]
        _run([*pip, "-d", str(house), numpy])
    return house


def _recap(output: str) -> dict[str, int]:
    m = re.search(
        r"^image\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
        output,
        re.MULTILINE,
    )
    assert m, f"no PLAY RECAP for the image host in:\n{output[-3000:]}"
    ok, changed, unreachable, failed = (int(g) for g in m.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


@dataclass(frozen=True)
class Applied:
    root: Path
    first: str
    second: str


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """site.yml applied twice to a fresh debootstrap root."""
    work = tmp_path_factory.mktemp("ansible")
    root = work / "root"
    try:
        _debootstrap(root, apt_mirror())
        wheel = _wheel(work / "dist")
        inventory = work / "inventory"
        (inventory / "host_vars").mkdir(parents=True)
        shutil.copytree(ANSIBLE / "inventory" / "example" / "group_vars", inventory / "group_vars")
        (inventory / "hosts.yml").write_text(
            "all:\n  children:\n    quotewire_hosts:\n      hosts:\n"
            f"        image:\n          ansible_host: {root}\n",
            encoding="utf-8",
        )
        (inventory / "host_vars" / "image.yml").write_text(
            HOST_VARS + f"quotewire_wheel: {wheel}\nquotewire_wheelhouse: {_wheelhouse()}\n",
            encoding="utf-8",
        )
        play = ["ansible-playbook", "-i", str(inventory / "hosts.yml"), "site.yml"]
        first = _run(play, cwd=ANSIBLE)
        second = _run(play, cwd=ANSIBLE)
        yield Applied(root, first, second)
    finally:
        # Nothing is mounted inside the root (the roles only write fstab offline).
        shutil.rmtree(root, ignore_errors=True)


def test_ansible_lint_production_profile_passes() -> None:
    out = _run(["ansible-lint", "--offline", "--profile", "production"], cwd=ANSIBLE)
    assert "Passed" in out, out


def test_playbook_syntax_check_passes() -> None:
    _run(
        ["ansible-playbook", "-i", "inventory/example/hosts.yml", "--syntax-check", "site.yml"],
        cwd=ANSIBLE,
    )


def test_first_apply_changes_the_root_and_second_apply_changes_nothing(applied: Applied) -> None:
    first, second = _recap(applied.first), _recap(applied.second)
    assert first["failed"] == 0 and first["unreachable"] == 0
    assert first["changed"] > 10, "the first run wrote the host's files"
    assert (second["changed"], second["failed"], second["unreachable"]) == (0, 0, 0), applied.second


def test_grub_dropin_isolates_the_fast_path_core_with_1g_pages(applied: Applied) -> None:
    text = (applied.root / "etc/default/grub.d/quotewire.cfg").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("GRUB_CMDLINE_LINUX_DEFAULT=")]
    params = line.split("=", 1)[1].strip('"').split()
    assert params[0] == "$GRUB_CMDLINE_LINUX_DEFAULT", "appends to the distribution's line"
    for expected in (
        "isolcpus=managed_irq,domain,1",
        "nohz_full=1",
        "rcu_nocbs=1",
        "irqaffinity=0",
        "default_hugepagesz=1G",
        "hugepagesz=1G",
        "hugepages=2",
        "transparent_hugepage=madvise",
        "processor.max_cstate=1",
    ):
        assert expected in params, (expected, params)


def test_sysctl_dropin_sets_jitter_and_busy_poll_keys(applied: Applied) -> None:
    text = (applied.root / "etc/sysctl.d/60-quotewire.conf").read_text()
    settings = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip().lstrip("-")] = value.strip()
    assert settings["kernel.timer_migration"] == "0"
    assert settings["kernel.nmi_watchdog"] == "0"
    assert settings["kernel.numa_balancing"] == "0"
    assert settings["vm.stat_interval"] == "10"
    assert int(settings["net.core.busy_poll"]) > 0
    assert int(settings["net.core.busy_read"]) > 0
    assert "-kernel.numa_balancing = 0" in text, "optional on non-NUMA kernels"


def test_irqbalance_and_tuned_are_masked(applied: Applied) -> None:
    for unit in ("irqbalance.service", "tuned.service"):
        link = applied.root / "etc/systemd/system" / unit
        assert link.is_symlink() and os.readlink(link) == "/dev/null", unit


def test_units_are_enabled_and_verify_cleanly(applied: Applied) -> None:
    wants = applied.root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("quotewire.service", "quotewire-tune.service", "quotewire-vfio-bind.service"):
        assert (wants / unit).is_symlink(), f"{unit} is enabled"
        out = _run(
            ["systemd-analyze", f"--root={applied.root}", "verify", f"/etc/systemd/system/{unit}"]
        )
        assert out.strip() == "", f"{unit}: {out}"


def test_service_unit_pins_the_service_cores_and_locks_memory(applied: Applied) -> None:
    unit = (applied.root / "etc/systemd/system/quotewire.service").read_text()
    directives = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert directives["CPUAffinity"] == "0"
    assert directives["LimitMEMLOCK"] == "infinity"
    assert directives["Restart"] == "on-failure"
    assert directives["StandardError"] == "journal"
    assert directives["User"] == "quotewire"
    assert directives["ExecStart"] == (
        "/opt/quotewire/venv/bin/quotewire run /etc/quotewire/engine.toml --stats-every 60"
    )
    assert "Environment=GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in unit.splitlines()


def test_rendered_config_loads_with_quotewires_loader(applied: Applied) -> None:
    pytest.importorskip("quotewire._core")
    from quotewire.engine import EngineConfig

    path = applied.root / "etc/quotewire/engine.toml"
    raw = tomllib.loads(path.read_text())
    config = EngineConfig.load(path)
    assert config.engine.core == 1 and config.engine.strict_isolation is True
    assert config.engine.journal_dir == "/var/lib/quotewire/journal"
    assert [i.symbol for i in config.instruments] == ["AAPL"]
    assert config.ouch.username == "mm01"
    assert config.ouch.state_file == "/var/lib/quotewire/ouch-session.state"
    assert config.feed.multicast_group == raw["feed"]["multicast_group"] == "233.54.12.111"
    assert config.oms_capacity == 1_048_576
    (rule,) = config.rules
    assert (rule.name, rule.threshold, rule.widen_ticks, rule.pull) == (
        "widen-on-volatility",
        2.5,
        2,
        False,
    )
    mode = path.stat().st_mode & 0o777
    assert mode == 0o640, "holds the OUCH password: not world-readable"


def test_installed_wheel_runs_inside_the_root(applied: Applied) -> None:
    out = _run(["chroot", str(applied.root), "/opt/quotewire/venv/bin/quotewire", "--version"])
    assert out.startswith("quotewire ")


def test_dpdk_role_mounts_1g_pages_and_binds_the_vfio_nic_at_boot(applied: Applied) -> None:
    fstab = (applied.root / "etc/fstab").read_text()
    assert "nodev /dev/hugepages-1G hugetlbfs pagesize=1G,mode=1770,gid=quotewire 0 0" in fstab
    script = (applied.root / "usr/local/sbin/quotewire-vfio-bind").read_text()
    assert "bind 0000:00:1f.0 dpdk0" in script
    assert "eth0" not in script, "kernel-driver NICs are left alone"
    assert (
        (applied.root / "etc/modules-load.d/quotewire-vfio.conf").read_text().endswith("vfio-pci\n")
    )


def test_tuning_script_moves_nic_irqs_to_housekeeping_cores(applied: Applied) -> None:
    script = (applied.root / "usr/local/sbin/quotewire-tune").read_text()
    assert "put /proc/irq/$irq/smp_affinity_list 0" in script
    assert "dpdk0" not in script, "a vfio-pci NIC has no kernel interrupts"
    _run(["sh", "-n", str(applied.root / "usr/local/sbin/quotewire-tune")])
    _run(["sh", "-n", str(applied.root / "usr/local/sbin/quotewire-vfio-bind")])
