"""`quotewire bench feed`: JSON line, text, HDR histogram interop and the markdown report."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from conftest import RunCli, last_json_line

pytest.importorskip("quotewire._core", reason="the compiled core is not built")
hdrh_histogram = pytest.importorskip("hdrh.histogram")
hdrh_log = pytest.importorskip("hdrh.log")

from quotewire import bench  # noqa: E402

MESSAGES = 200_000


@pytest.fixture(autouse=True)
def _fixed_revision(monkeypatch):
    # Keeps the tests from shelling out to git; the git path is covered separately.
    monkeypatch.setenv("QUOTEWIRE_GIT_REV", "test123")


@pytest.fixture(scope="module")
def feed_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path, Path]:
    """One `bench feed --json --hdr-out --report` run shared by the tests below."""
    from quotewire.cli import main

    tmp = tmp_path_factory.mktemp("bench")
    hdr, report = tmp / "reports" / "feed.hlog", tmp / "reports" / "PERFORMANCE.md"
    mp = pytest.MonkeyPatch()
    mp.setenv("QUOTEWIRE_GIT_REV", "test123")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(
                [
                    "bench",
                    "feed",
                    "--messages",
                    str(MESSAGES),
                    "--instruments",
                    "500",
                    "--json",
                    "--hdr-out",
                    str(hdr),
                    "--report",
                    str(report),
                ]
            )
    finally:
        mp.undo()
    assert code == 0
    return last_json_line(out.getvalue()), hdr, report


def test_feed_json_last_line_has_every_required_key(feed_json):
    record, _, _ = feed_json
    for key in bench.REQUIRED_KEYS:
        assert key in record, key
    assert record["bench"] == "feed"
    assert record["git_rev"] == "test123"
    assert isinstance(record["count"], int) and record["count"] >= MESSAGES
    assert isinstance(record["per_sec"], float | int) and record["per_sec"] > 0
    assert 0 < record["p50_ns"] <= record["p99_ns"] <= record["p999_ns"] <= record["max_ns"]
    machine = record["machine"]
    assert isinstance(machine, dict)
    assert {"cpu", "cores", "kernel", "python"} <= set(machine)
    assert record["date"].endswith("Z")
    assert "--messages" in record["command"]


def test_feed_histogram_decodes_and_agrees_with_reported_percentiles(feed_json):
    record, _, _ = feed_json
    hist = hdrh_histogram.HdrHistogram.decode(record["histogram"])
    assert hist.get_total_count() > 0
    for pct, key in ((50, "p50_ns"), (99, "p99_ns"), (99.9, "p999_ns")):
        value = hist.get_value_at_percentile(pct)
        reported = int(record[key])
        tolerance = hist.get_highest_equivalent_value(value) - hist.get_lowest_equivalent_value(
            value
        )
        assert abs(value - reported) <= max(tolerance, 1), (key, value, reported)
    assert hist.values_are_equivalent(hist.get_max_value(), int(record["max_ns"]))


def test_feed_hdr_log_is_readable_by_the_hdrhistogram_log_reader(feed_json):
    record, hdr, _ = feed_json
    assert hdr.exists()
    text = hdr.read_text()
    assert "Histogram log format version" in text
    reader = hdrh_log.HistogramLogReader(
        str(hdr), hdrh_histogram.HdrHistogram(1, 3_600_000_000_000, 3)
    )
    hist = reader.get_next_interval_histogram()
    assert hist is not None
    original = hdrh_histogram.HdrHistogram.decode(record["histogram"])
    assert hist.get_total_count() == original.get_total_count()
    assert hist.get_value_at_percentile(99) == original.get_value_at_percentile(99)


def test_feed_report_appends_a_dated_markdown_entry(feed_json, tmp_path: Path):
    record, _, report = feed_json
    text = report.read_text()
    assert text.startswith("# quotewire performance log")
    assert f"## {record['date']}: bench feed @ test123" in text
    assert "quotewire bench feed --messages 200000" in text
    assert "| messages |" in text
    # appending again keeps the first entry and the single header
    copy = tmp_path / "P.md"
    copy.write_text(text)
    bench.append_report(record, copy)
    again = copy.read_text()
    assert again.startswith(text)
    assert again.count("# quotewire performance log") == 1
    assert again.count("## ") == 2


def test_feed_text_output_shows_throughput_and_percentiles(run_cli: RunCli):
    code, out, err = run_cli("bench", "feed", "--messages", "20000", "--instruments", "100")
    assert code == 0, err
    assert "M msgs/s" in out
    for label in ("p50", "p99", "p99.9", "max"):
        assert f"{label} " in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[-1])


def test_git_revision_falls_back_to_the_override_then_version(monkeypatch):
    from quotewire import _machine

    monkeypatch.setenv("QUOTEWIRE_GIT_REV", "abc1234")
    assert _machine.git_revision("v0") == "abc1234"
    monkeypatch.delenv("QUOTEWIRE_GIT_REV")
    monkeypatch.setattr(_machine, "_repo_root", lambda: None)
    assert _machine.git_revision("v0") == "v0"


def test_machine_info_names_cpu_cores_kernel_and_python():
    from quotewire._machine import machine_info

    info = machine_info()
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert isinstance(info["cores"], int) and info["cores"] >= 1
    assert isinstance(info["kernel"], str) and isinstance(info["python"], str)


def _console_script() -> Path:
    import sys

    script = Path(sys.executable).parent / "quotewire"
    if not script.exists():
        pytest.skip("the quotewire console script is not installed beside this Python")
    return script


@pytest.mark.parametrize(("opt_out", "expected"), [(None, True), ("0", False)])
def test_console_script_runs_with_the_c_heap_on_huge_pages_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, opt_out: str | None, expected: bool
):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "QUOTEWIRE_HEAP_THP")}
    env["QUOTEWIRE_GIT_REV"] = "test123"
    if opt_out is not None:
        env["QUOTEWIRE_HEAP_THP"] = opt_out
    args = [str(_console_script()), "bench", "feed", "--messages", "2000"]
    args += ["--instruments", "10", "--max-live-orders", "1000", "--json"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    machine = last_json_line(done.stdout)["machine"]
    assert isinstance(machine, dict)
    # The script re-executed itself with glibc.malloc.hugetlb=1 (what the systemd unit sets).
    assert machine["heap_huge_pages"] is expected


def test_the_console_script_decides_on_re_executing_before_the_heavy_imports():
    # The launcher (the console script's entry point) imports neither the compiled core nor
    # NumPy, so a re-executed command pays for them once; the package's public names still
    # load on first use.
    import subprocess
    import sys

    code = (
        "import sys, quotewire._launch as l, quotewire as q\n"
        "heavy = ('numpy', 'quotewire._core', 'quotewire.cli')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(q.__version__ == q._core.version(), q.Engine.__name__, q.itch.__name__)\n"
        "from quotewire import ConfigError, Venue, bench\n"
        "print(ConfigError.__name__, Venue.__name__, bench.__name__, 'backtest' in dir(q))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[]",
        "True Engine quotewire.itch",
        "ConfigError Venue quotewire.bench True",
    ]
