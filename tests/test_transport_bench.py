"""`quotewire bench transport`: packets/s and per-datagram latency of the UDP and DPDK
transports, as JSON lines with the usual bench keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import RunCli, last_json_line

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

from quotewire import bench
from quotewire.errors import ConfigError

COUNT = 2_000


@pytest.fixture(autouse=True)
def _fixed_revision(monkeypatch):
    monkeypatch.setenv("QUOTEWIRE_GIT_REV", "test123")


def _check_record(record: dict[str, object], backend: str) -> None:
    for key in bench.REQUIRED_KEYS:
        assert key in record, key
    assert record["bench"] == f"transport-{backend}"
    assert record["git_rev"] == "test123"
    assert record["count"] == COUNT
    assert record["lost"] == 0
    assert isinstance(record["per_sec"], float) and record["per_sec"] > 0
    p50, p99, p999, top = (record[k] for k in ("p50_ns", "p99_ns", "p999_ns", "max_ns"))
    assert isinstance(p50, int) and isinstance(p99, int) and isinstance(p999, int)
    assert isinstance(top, int) and 0 < p50 <= p99 <= p999 <= top
    params = record["params"]
    assert isinstance(params, dict) and params["backend"] == backend


def test_udp_backend_prints_one_json_line_with_the_bench_keys(run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "bench", "transport", "--backend", "udp", "--count", COUNT, "--warmup", 100, "--json"
    )
    assert code == 0
    _check_record(last_json_line(out), "udp")


def test_udp_backend_text_names_the_backend(run_cli: RunCli) -> None:
    code, out, _ = run_cli("bench", "transport", "--count", 500, "--warmup", 0, "--window", 8)
    assert code == 0
    assert "bench transport-udp: 500" in out


def test_both_backends_run_side_by_side_or_dpdk_absence_is_explained() -> None:
    # A subprocess: the DPDK EAL lives once per process and stays out of pytest's.
    cmd = [
        sys.executable,
        "-c",
        "import sys; from quotewire.cli import main; sys.exit(main(sys.argv[1:]))",
        *("bench", "transport", "--backend", "both", "--count", str(COUNT)),
        *("--warmup", "100", "--window", "4", "--json"),
    ]
    env = dict(os.environ, QUOTEWIRE_GIT_REV="test123")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    # scripts/setup.sh builds the core with the dpdk feature wherever libdpdk is installed
    # (as in CI): there both backends must run.
    with_dpdk = (
        shutil.which("pkg-config") is not None
        and subprocess.run(["pkg-config", "--exists", "libdpdk"], check=False).returncode == 0
    )
    if with_dpdk:
        assert proc.returncode == 0, proc.stderr
    if proc.returncode == 0:
        assert [r["bench"] for r in lines] == ["transport-udp", "transport-dpdk"]
        for record, backend in zip(lines, ("udp", "dpdk"), strict=True):
            _check_record(record, backend)
        assert "net_ring" in str(lines[1]["path"])
    else:
        # A core built without the dpdk feature: the UDP figures, then a clear error.
        assert "built without DPDK" in proc.stderr, proc.stderr
        assert lines == []


@pytest.mark.parametrize(
    ("backend", "kwargs"),
    [("tcp", {}), ("udp", {"payload": 4}), ("udp", {"window": 0}), ("udp", {"count": 0})],
)
def test_bad_arguments_are_config_errors(backend: str, kwargs: dict[str, int]) -> None:
    count = kwargs.pop("count", 10)
    with pytest.raises(ConfigError):
        bench.run_transport(backend, count, **kwargs)
