"""`quotewire doctor` graded against fake /proc and /sys trees, and run on this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quotewire import doctor
from quotewire.doctor import Status, diagnose, format_cpus, parse_cpus

TUNED_CMDLINE = (
    "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet isolcpus=managed_irq,domain,2-3 "
    "nohz_full=2-3 rcu_nocbs=2-3 irqaffinity=0-1 default_hugepagesz=1G hugepagesz=1G "
    "hugepages=4 transparent_hugepage=madvise processor.max_cstate=1"
)


def tuned_tree() -> dict[str, str]:
    """A 4-CPU, one-node host tuned the way ansible/ tunes it: cores 2-3 isolated, an
    Intel NIC ens1f0 on node 0 whose two queue IRQs sit on housekeeping cores 0-1."""
    files = {
        "proc/cmdline": TUNED_CMDLINE,
        "proc/sys/kernel/osrelease": "6.1.0-quotewire",
        "proc/cpuinfo": "processor\t: 0\nmodel name\t: Test CPU @ 3.5GHz\n",
        "proc/sys/kernel/timer_migration": "0",
        "proc/sys/kernel/nmi_watchdog": "0",
        "proc/sys/kernel/numa_balancing": "0",
        "proc/sys/vm/stat_interval": "10",
        "proc/sys/net/core/busy_poll": "50",
        "proc/sys/net/core/busy_read": "50",
        "sys/devices/system/cpu/online": "0-3",
        "sys/devices/system/cpu/isolated": "2-3",
        "sys/devices/system/cpu/nohz_full": "2-3",
        "sys/devices/system/cpu/smt/active": "0",
        "sys/devices/system/cpu/cpuidle/current_driver": "intel_idle",
        "sys/devices/system/node/node0/cpulist": "0-3",
        "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages": "4",
        "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "4",
        "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages": "4",
        "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
        "sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise [madvise] never",
        "proc/interrupts": (
            "           CPU0       CPU1       CPU2       CPU3\n"
            " 40:   10   0   0   0  IR-PCI-MSIX-0000:3b:00.0  0-edge  ens1f0-TxRx-0\n"
            " 41:    0  12   0   0  IR-PCI-MSIX-0000:3b:00.0  1-edge  ens1f0-TxRx-1\n"
            " 50:    3   0   0   0  IR-IO-APIC  9-fasteoi  acpi\n"
        ),
        "sys/class/net/ens1f0/device/msi_irqs/40": "msix",
        "sys/class/net/ens1f0/device/msi_irqs/41": "msix",
        "sys/class/net/ens1f0/device/numa_node": "0",
        "sys/class/net/ens1f0/speed": "25000",
        "sys/class/net/ens1f0/mtu": "1500",
        "sys/class/net/ens1f0/queues/rx-0/rps_cpus": "0",
        "sys/class/net/ens1f0/queues/rx-1/rps_cpus": "0",
        "sys/class/net/ens1f0/queues/tx-0/xps_cpus": "0",
        "sys/class/net/ens1f0/gro_flush_timeout": "0",
        "sys/class/net/ens1f0/napi_defer_hard_irqs": "0",
        "proc/1/comm": "systemd",
    }
    for irq, aff in (("40", "0-1"), ("41", "0-1"), ("50", "0-1")):
        files[f"proc/irq/{irq}/smp_affinity_list"] = aff
        files[f"proc/irq/{irq}/effective_affinity_list"] = aff[0]
    for cpu in range(4):
        base = f"sys/devices/system/cpu/cpu{cpu}"
        files[f"{base}/cpufreq/scaling_governor"] = "performance"
        files[f"{base}/topology/thread_siblings_list"] = str(cpu)
        for i, (name, latency, disabled) in enumerate(
            (("POLL", 0, 0), ("C1", 2, 0), ("C1E", 10, 1), ("C6", 133, 1))
        ):
            files[f"{base}/cpuidle/state{i}/name"] = name
            files[f"{base}/cpuidle/state{i}/latency"] = str(latency)
            files[f"{base}/cpuidle/state{i}/disable"] = str(disabled)
    return files


def write_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Write `files` (relative path -> contents; None: leave out) under `root`, with the
    driver and the masked irqbalance as symlinks, as on a real host."""
    for rel, text in files.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    drivers = root / "sys/bus/pci/drivers/ice"
    drivers.mkdir(parents=True, exist_ok=True)
    if (root / "sys/class/net/ens1f0/device").is_dir():
        (root / "sys/class/net/ens1f0/device/driver").symlink_to(drivers)
    return root


def host(tmp_path: Path, paths: dict[str, str | None] | None = None, **changes: str | None) -> Path:
    """The tuned tree with `paths` (relative path -> contents, None removes) and `changes`
    (the same, "/" written as "__") applied."""
    files: dict[str, str | None] = dict(tuned_tree())
    files.update(paths or {})
    for key, value in changes.items():
        files[key.replace("__", "/")] = value
    root = write_tree(tmp_path / "root", files)
    unit = root / "etc/systemd/system/irqbalance.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.symlink_to("/dev/null")
    return root


def test_tuned_host_passes_every_check(tmp_path: Path) -> None:
    report = diagnose(host(tmp_path), cores=[2, 3])
    failing = [c for c in report.checks if c.status is not Status.PASS]
    assert failing == []
    assert report.exit_code == doctor.EXIT_PASS == 0
    assert report.by_name("nic ens1f0").detail.startswith("driver ice; numa node 0")
    assert report.facts["cpu_model"] == "Test CPU @ 3.5GHz"


def test_untuned_host_fails_isolation_and_exits_4(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        proc__cmdline="BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
        sys__devices__system__cpu__isolated="",
        sys__devices__system__cpu__nohz_full=None,
    )
    report = diagnose(root, cores=[2])
    assert report.by_name("cmdline isolcpus").status is Status.FAIL
    assert report.by_name("cpu isolated").status is Status.FAIL
    assert report.by_name("cpu nohz_full").status is Status.FAIL
    assert "CONFIG_NO_HZ_FULL" in report.by_name("cpu nohz_full").detail
    assert report.by_name("cmdline rcu_nocbs").status is Status.WARN
    assert report.by_name("cmdline irqaffinity").status is Status.WARN
    assert report.exit_code == doctor.EXIT_FAIL == 4


def test_without_any_core_to_grade_the_report_fails(tmp_path: Path) -> None:
    root = host(tmp_path, sys__devices__system__cpu__isolated="")
    report = diagnose(root)
    assert report.cores == ()
    assert report.by_name("cores").status is Status.FAIL
    assert report.by_name("irq others").status is Status.WARN


def test_cores_default_to_the_kernels_isolated_cpus(tmp_path: Path) -> None:
    report = diagnose(host(tmp_path))
    assert report.cores == (2, 3)
    assert report.exit_code == 0


def test_isolcpus_without_managed_irq_warns_and_not_covering_the_core_fails(
    tmp_path: Path,
) -> None:
    plain = TUNED_CMDLINE.replace("isolcpus=managed_irq,domain,2-3", "isolcpus=2-3")
    report = diagnose(host(tmp_path / "a", proc__cmdline=plain), cores=[2, 3])
    assert report.by_name("cmdline isolcpus").status is Status.WARN
    narrow = TUNED_CMDLINE.replace("domain,2-3", "domain,3")
    report = diagnose(host(tmp_path / "b", proc__cmdline=narrow), cores=[2, 3])
    assert report.by_name("cmdline isolcpus").status is Status.FAIL


def test_irqaffinity_including_an_engine_core_fails(tmp_path: Path) -> None:
    bad = TUNED_CMDLINE.replace("irqaffinity=0-1", "irqaffinity=0-2")
    report = diagnose(host(tmp_path, proc__cmdline=bad), cores=[2, 3])
    check = report.by_name("cmdline irqaffinity")
    assert check.status is Status.FAIL and "includes 2" in check.detail


def test_powersave_governor_on_an_engine_core_fails_but_not_on_housekeeping(
    tmp_path: Path,
) -> None:
    report = diagnose(
        host(
            tmp_path / "a", sys__devices__system__cpu__cpu0__cpufreq__scaling_governor="powersave"
        ),
        cores=[2, 3],
    )
    assert report.by_name("cpu governor").status is Status.PASS
    report = diagnose(
        host(
            tmp_path / "b", sys__devices__system__cpu__cpu3__cpufreq__scaling_governor="powersave"
        ),
        cores=[2, 3],
    )
    check = report.by_name("cpu governor")
    assert check.status is Status.FAIL and "cpu3 powersave" in check.detail


def test_no_cpufreq_driver_warns(tmp_path: Path) -> None:
    gone = {f"sys__devices__system__cpu__cpu{c}__cpufreq__scaling_governor": None for c in range(4)}
    report = diagnose(host(tmp_path, **gone), cores=[2])
    assert report.by_name("cpu governor").status is Status.WARN


def test_an_enabled_deep_cstate_fails_and_c1e_warns(tmp_path: Path) -> None:
    report = diagnose(
        host(tmp_path / "a", sys__devices__system__cpu__cpu2__cpuidle__state3__disable="0"),
        cores=[2, 3],
    )
    check = report.by_name("cpu cstates")
    assert check.status is Status.FAIL and "C6 (133 us exit) on cpu2" in check.detail
    report = diagnose(
        host(tmp_path / "b", sys__devices__system__cpu__cpu3__cpuidle__state2__disable="0"),
        cores=[2, 3],
    )
    assert report.by_name("cpu cstates").status is Status.WARN


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("[always] madvise never", Status.FAIL),
        ("always madvise [never]", Status.WARN),
        ("always [madvise] never", Status.PASS),
    ],
)
def test_thp_mode_is_graded(tmp_path: Path, mode: str, status: Status) -> None:
    root = host(tmp_path, sys__kernel__mm__transparent_hugepage__enabled=mode)
    assert diagnose(root, cores=[2]).by_name("thp").status is status


def test_too_few_1g_pages_warn_by_default_and_fail_when_required(tmp_path: Path) -> None:
    root = host(tmp_path, {"sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0"})
    assert diagnose(root, cores=[2]).by_name("hugepages 1G").status is Status.WARN
    assert diagnose(root, cores=[2], hugepages_1g=4).by_name("hugepages 1G").status is Status.FAIL
    (root / "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages").write_text("4\n")
    assert diagnose(root, cores=[2], hugepages_1g=4).by_name("hugepages 1G").status is Status.PASS


def test_jitter_sysctls_that_differ_warn_and_absent_ones_pass(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        proc__sys__kernel__timer_migration="1",
        proc__sys__vm__stat_interval="1",
        proc__sys__kernel__numa_balancing=None,
    )
    report = diagnose(root, cores=[2])
    assert report.by_name("sysctl kernel.timer_migration").status is Status.WARN
    assert report.by_name("sysctl vm.stat_interval").status is Status.WARN
    assert report.by_name("sysctl kernel.numa_balancing").status is Status.PASS
    assert report.exit_code == doctor.EXIT_WARN == 3


def test_running_irqbalance_fails_and_an_unmasked_install_warns(tmp_path: Path) -> None:
    root = host(tmp_path / "a", proc__4242__comm="irqbalance")
    check = diagnose(root, cores=[2]).by_name("irqbalance")
    assert check.status is Status.FAIL and "4242" in check.detail
    root = host(tmp_path / "b", {"lib/systemd/system/irqbalance.service": "[Unit]"})
    (root / "etc/systemd/system/irqbalance.service").unlink()  # installed, not masked
    assert diagnose(root, cores=[2]).by_name("irqbalance").status is Status.WARN


def test_nic_queue_irq_on_an_engine_core_fails(tmp_path: Path) -> None:
    root = host(tmp_path, proc__irq__41__effective_affinity_list="3")
    check = diagnose(root, cores=[2, 3]).by_name("irq ens1f0")
    assert check.status is Status.FAIL
    assert "41(ens1f0-TxRx-1)->3" in check.detail


def test_nic_on_another_numa_node_warns(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        sys__devices__system__node__node0__cpulist="0-1",
        sys__devices__system__node__node1__cpulist="2-3",
    )
    report = diagnose(root, cores=[2, 3])
    assert report.by_name("nic ens1f0").status is Status.WARN
    assert "another node" in report.by_name("nic ens1f0").detail


def test_other_interrupts_on_engine_cores_warn(tmp_path: Path) -> None:
    root = host(tmp_path, proc__irq__50__effective_affinity_list="2")
    check = diagnose(root, cores=[2, 3]).by_name("irq others")
    assert check.status is Status.WARN and "50(acpi)" in check.detail


def test_smt_sibling_left_to_the_kernel_warns(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        sys__devices__system__cpu__smt__active="1",
        sys__devices__system__cpu__cpu2__topology__thread_siblings_list="0,2",
    )
    check = diagnose(root, cores=[2]).by_name("cpu smt")
    assert check.status is Status.WARN and "2 shares a core with 0" in check.detail


def test_engine_config_core_is_the_graded_core(tmp_path: Path) -> None:
    pytest.importorskip("quotewire._core")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("engine.core = 1 needs two CPUs")
    example = Path(__file__).resolve().parents[1] / "examples" / "engine.toml"
    config = tmp_path / "engine.toml"
    text = example.read_text().replace("strict_isolation = false", "strict_isolation = true")
    config.write_text(text.replace("[engine]\n", "[engine]\ncore = 1\n"))
    root = host(tmp_path)
    report = diagnose(root, config=config)
    assert report.cores == (1,) and report.cores_from.startswith("engine.core in")
    assert report.by_name("config engine.core").status is Status.PASS
    assert report.by_name("cpu isolated").status is Status.FAIL, "core 1 is not isolated"
    unpinned = tmp_path / "unpinned.toml"
    unpinned.write_text(example.read_text())
    assert diagnose(root, config=unpinned).by_name("config engine.core").status is Status.FAIL


def test_cpu_lists_parse_and_format_round_trip() -> None:
    assert parse_cpus("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert parse_cpus("(null)") == set() == parse_cpus("")
    assert format_cpus({11, 0, 1, 2, 3, 8, 10}) == "0-3,8,10-11"
    assert format_cpus([]) == "none"


def test_cli_doctor_json_reports_and_exits_with_the_worst_status(run_cli, tmp_path: Path) -> None:
    root = host(tmp_path, proc__sys__vm__stat_interval="1")
    code, out, _ = run_cli("doctor", "--root", root, "--isolated", "2,3", "--json")
    report = json.loads(out)
    assert code == 3 == report["exit_code"]
    assert report["status"] == "warn" and report["cores"] == [2, 3]
    assert report["counts"]["warn"] == 1 and report["counts"]["fail"] == 0
    code, out, _ = run_cli("doctor", "--root", root, "--isolated", "2,3")
    assert code == 3
    assert "WARN  sysctl vm.stat_interval" in out
    passed = report["counts"]["pass"]
    assert out.rstrip().endswith(f"tuned with warnings: {passed} pass, 1 warn, 0 fail (exit 3)")


def test_cli_doctor_refuses_an_empty_core_list(run_cli) -> None:
    for bad in (",", "two"):
        code, _, err = run_cli("doctor", "--isolated", bad)
        assert code == 2 and "names no CPU" in err


def test_this_machine_gets_an_honest_structured_report(run_cli) -> None:
    report = diagnose("/")
    assert (
        report.checks
        and report.facts["kernel"] == Path("/proc/sys/kernel/osrelease").read_text().strip()
    )
    assert {c.status for c in report.checks} <= set(Status)
    isolated = parse_cpus(Path("/sys/devices/system/cpu/isolated").read_text())
    if not isolated:
        # An untuned machine (this VM, CI) must say so, not pass.
        assert report.by_name("cores").status is Status.FAIL
        assert report.exit_code == doctor.EXIT_FAIL
    code, out, _ = run_cli("doctor", "--json")
    data = json.loads(out)
    assert code == data["exit_code"] == report.exit_code
    assert [c["name"] for c in data["checks"]] == [c.name for c in report.checks]
