"""Shared fixtures: small synthetic ITCH sessions written once per test session.

Every test module starts with `pytest.importorskip("quotewire._core")`: tests skip only
when the extension is not built at all; a built core missing a function fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

SESSION_MESSAGES = 60_000
SESSION_INSTRUMENTS = 50
SESSION_SEED = 7


def _generate(path: Path, fmt: str = "daily") -> Path:
    from quotewire import _core

    _core.generate_session(
        str(path),
        messages=SESSION_MESSAGES,
        instruments=SESSION_INSTRUMENTS,
        max_live_orders=100_000,
        seed=SESSION_SEED,
        format=fmt,
    )
    return path


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sessions")


@pytest.fixture(scope="session")
def daily_session(session_dir: Path) -> Path:
    """A plain daily-framed session (2-byte length prefixes)."""
    return _generate(session_dir / "session.itch")


@pytest.fixture(scope="session")
def gzip_session(session_dir: Path) -> Path:
    """The same session as `daily_session`, gzip-compressed."""
    return _generate(session_dir / "session.itch.gz")


@pytest.fixture(scope="session")
def pcap_session(session_dir: Path) -> Path:
    """The same generator and seed, framed as MoldUDP64 in UDP in a pcap."""
    return _generate(session_dir / "session.pcap", fmt="pcap")


RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run `quotewire ARGS...` in-process; returns (exit status, stdout, stderr)."""

    from quotewire.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def last_json_line(stdout: str) -> dict[str, object]:
    """Parse the last non-empty line of `stdout` as a JSON object."""
    line = [ln for ln in stdout.splitlines() if ln.strip()][-1]
    obj = json.loads(line)
    assert isinstance(obj, dict)
    return obj


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; its last answer."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
