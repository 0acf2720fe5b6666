"""The command line: help for every subcommand, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RunCli

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

HELP_COMMANDS = [
    [],
    ["bench"],
    ["bench", "feed"],
    ["itch"],
    ["itch", "summary"],
    ["itch", "book"],
    ["itch", "generate"],
    ["demo"],
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "quotewire")
def test_help_of_each_subcommand_prints_usage_and_exits_zero(run_cli: RunCli, command):
    code, out, err = run_cli(*command, "--help")
    assert code == 0
    assert out.startswith("usage: quotewire")
    assert err == ""


def test_version_flag_prints_the_core_version(run_cli: RunCli):
    from quotewire import __version__

    code, out, _ = run_cli("--version")
    assert code == 0
    assert __version__ in out


def test_console_module_runs_as_a_real_process():
    done = subprocess.run(
        [sys.executable, "-m", "quotewire.cli", "itch", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "summary" in done.stdout


def _assert_one_line_error(code: int, err: str, *, expected_code: int, needle: str) -> None:
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("quotewire: error:")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_no_subcommand_is_a_one_line_usage_error(run_cli: RunCli):
    code, _, err = run_cli()
    _assert_one_line_error(code, err, expected_code=2, needle="required")


def test_unknown_subcommand_is_a_one_line_usage_error(run_cli: RunCli):
    code, _, err = run_cli("frobnicate")
    _assert_one_line_error(code, err, expected_code=2, needle="frobnicate")


def test_bench_feed_without_messages_is_a_usage_error(run_cli: RunCli):
    code, _, err = run_cli("bench", "feed")
    _assert_one_line_error(code, err, expected_code=2, needle="--messages")


def test_bench_feed_with_zero_messages_is_a_usage_error(run_cli: RunCli):
    code, _, err = run_cli("bench", "feed", "--messages", "0")
    _assert_one_line_error(code, err, expected_code=2, needle="--messages")


def test_summary_of_missing_file_is_a_one_line_error(run_cli: RunCli, tmp_path: Path):
    missing = tmp_path / "nope.itch"
    code, out, err = run_cli("itch", "summary", str(missing))
    _assert_one_line_error(code, err, expected_code=1, needle=str(missing))
    assert out == ""


def test_book_of_missing_file_is_a_one_line_error(run_cli: RunCli, tmp_path: Path):
    missing = tmp_path / "nope.itch"
    code, _, err = run_cli("itch", "book", str(missing), "--symbol", "AAPL")
    _assert_one_line_error(code, err, expected_code=1, needle=str(missing))


@pytest.mark.parametrize("at", ["9:30", "09:61:00", "09:30:00.1234567891", "noon", "-1:00:00"])
def test_book_with_bad_at_is_a_one_line_usage_error(run_cli: RunCli, daily_session: Path, at):
    code, _, err = run_cli("itch", "book", str(daily_session), "--symbol", "X", f"--at={at}")
    _assert_one_line_error(code, err, expected_code=2, needle="--at")


def test_book_of_unknown_symbol_is_a_one_line_error(run_cli: RunCli, daily_session: Path):
    code, _, err = run_cli("itch", "book", str(daily_session), "--symbol", "NOSUCHSYM")
    _assert_one_line_error(code, err, expected_code=1, needle="NOSUCHSYM")


def test_generate_into_missing_directory_is_a_one_line_error(run_cli: RunCli, tmp_path: Path):
    out = tmp_path / "no" / "such" / "dir" / "s.itch"
    code, _, err = run_cli("itch", "generate", "--out", str(out), "--messages", "1000")
    _assert_one_line_error(code, err, expected_code=1, needle="no such directory")


def test_summary_of_a_file_that_is_not_itch_reports_errors_not_a_traceback(
    run_cli: RunCli, tmp_path: Path
):
    junk = tmp_path / "junk.itch"
    junk.write_bytes(b"\x00\x05hello-this-is-not-itch" * 10)
    code, out, err = run_cli("itch", "summary", str(junk), "--json")
    assert "Traceback" not in err
    if code == 0:  # the core may count the garbage as decode errors instead of failing
        assert out.strip()
    else:
        _assert_one_line_error(code, err, expected_code=1, needle="")


def test_demo_json_summary_reports_orders_fills_and_latency(run_cli: RunCli):
    code, out, err = run_cli("demo", "--seconds", "2", "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["counters"]["orders_new"] > 0
    assert set(summary["instruments"]) == {"AAPL", "MSFT", "SPY"}
    for stage in ("tick_to_trade", "round_trip"):
        assert summary["latency"][stage]["count"] > 0
        assert summary["latency"][stage]["p999_ns"] >= summary["latency"][stage]["p50_ns"]
    assert summary["counters"]["open_orders"] == 0
