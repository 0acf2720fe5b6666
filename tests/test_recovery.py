"""Crash recovery under fire: the engine, a separate process (`quotewire run`), is killed
with SIGKILL at random points of heavy trading against the venue simulator, restarted each
time from its journal, and in the end what it believes equals what the venue knows.

The venue runs in this process (its ledger, `Venue.firm_state`, is the truth) with a busy
background market that takes our quotes; the engine journals into one directory and keeps
its OUCH sequence numbers in a state file. After the last restart it is stopped cleanly
(SIGTERM): its summary's positions, fills and traded shares must equal the venue's to the
share, every venue execution must appear in the journal under its match number, and nothing
of ours may be left open at the venue. See docs/recovery.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import _core, demo
from quotewire.engine import EngineConfig, EngineThreads
from quotewire.venue import Venue

OUR_FIRM = 1
KILLS = 20
SEED = 20_240_610
# Seconds: bounds on every wait (the machine has 2 cores shared with the venue).
START_TIMEOUT = 20.0
CANCEL_TIMEOUT = 5.0
STOP_TIMEOUT = 30.0
QUOTEWIRE = Path(sys.executable).with_name("quotewire")


def _executions(venue: Venue) -> int:
    return int(venue.firm_state(OUR_FIRM)["executions"])


def _open_orders(venue: Venue) -> int:
    return int(venue.firm_state(OUR_FIRM)["open_orders"])


@contextmanager
def _engine(config: Path, log: Path) -> Iterator[subprocess.Popen[str]]:
    """`quotewire run CONFIG --json` as a child process; killed if still running at exit."""
    with log.open("a", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [str(QUOTEWIRE), "run", str(config), "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
            if proc.stdout is not None:
                proc.stdout.close()


def _quoting(venue: Venue, proc: subprocess.Popen[str]) -> bool:
    """Wait until the engine has orders resting at the venue (it logged in, replayed,
    reconciled and quotes again)."""
    return wait_for(
        lambda: _open_orders(venue) > 0 or proc.poll() is not None, START_TIMEOUT, 0.02
    ) and (proc.poll() is None)


def _tail(log: Path) -> str:
    return "engine log: " + "".join(log.read_text(encoding="utf-8").splitlines(True)[-20:])


def _summary(stdout: str) -> dict[str, Any]:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON summary in {stdout!r}"
    out = json.loads(lines[-1])
    assert isinstance(out, dict)
    return out


def test_engine_killed_twenty_times_mid_trading_recovers_with_no_fill_lost_or_doubled(
    tmp_path: Path,
) -> None:
    if not QUOTEWIRE.exists():
        pytest.skip(f"{QUOTEWIRE} is not installed")
    rng = random.Random(SEED)
    journal = tmp_path / "journal"
    log = tmp_path / "engine.log"
    threads = EngineThreads(log_level="warn", idle_sleep_us=20, journal_dir=str(journal))
    # A busy market: 400 limit and 50 marketable orders a second per instrument.
    plan = demo.scenario(
        threads=threads, flow_rate=400.0, state_file=str(tmp_path / "ouch.state"), seed=SEED
    )
    with Venue(plan.venue) as venue:
        config: EngineConfig = plan.engine(venue)
        # Each restart rebuilds its books from the venue's retransmission of the whole
        # feed session: on a loaded 2-core machine that takes more than the demo's 2 s.
        config = replace(config, feed=replace(config.feed, recovery_timeout_ms=15_000))
        path = config.save(tmp_path / "engine.toml")
        windows_with_fills = 0
        for kill in range(KILLS):
            with _engine(path, log) as proc:
                assert _quoting(venue, proc), f"run {kill}: not quoting; {_tail(log)}"
                before = _executions(venue)
                time.sleep(rng.uniform(0.3, 1.5))
                windows_with_fills += _executions(venue) > before
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
                assert proc.returncode == -signal.SIGKILL
            # The venue cancels on disconnect: our quotes are gone before the restart.
            assert wait_for(lambda: _open_orders(venue) == 0, CANCEL_TIMEOUT, 0.02)
        # The background market took our quotes in most windows: heavy trading.
        assert windows_with_fills >= KILLS // 2, windows_with_fills
        assert _executions(venue) >= KILLS

        with _engine(path, log) as proc:
            assert _quoting(venue, proc), f"final run: not quoting; {_tail(log)}"
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=STOP_TIMEOUT)
            assert proc.returncode == 0, _tail(log)
        summary = _summary(out)
        # The stop cancels what rests and logs out (the venue cancels on disconnect
        # whatever answer the engine did not wait for).
        assert wait_for(lambda: _open_orders(venue) == 0, CANCEL_TIMEOUT, 0.02)
        state = venue.firm_state(OUR_FIRM)

    # Positions to the share, per instrument.
    ids = {i.symbol: i.id for i in config.instruments}
    ours = {ids[s]: rec["position"] for s, rec in summary["instruments"].items() if rec["position"]}
    theirs = {int(k): int(v) for k, v in state["positions"].items() if v}
    assert ours == theirs
    # Every fill counted once: as many fills and shares as the venue executed.
    records = summary["instruments"].values()
    assert sum(r["fills"] for r in records) == state["executions"]
    assert sum(r["bought"] for r in records) == state["bought"]
    assert sum(r["sold"] for r in records) == state["sold"]
    # Nothing of ours left open at the venue.
    assert state["open_orders"] == 0
    # The last start recovered every earlier life, and no fill was about an order the
    # engine could not place (the replay of orders already closed is counted apart).
    recovery = summary["recovery"]
    assert recovery["segments"] >= KILLS
    assert recovery["requests"] > 0 and recovery["fills"] > 0
    assert summary["counters"]["events_dropped"] == 0
    assert not [e for e in summary["events"] if e["event"] == "unknown_fill"]
    assert summary["counters"]["replayed_reports"] > 0

    # The journal holds every venue execution, under its own match number.
    reports = _core.journal_orders(str(journal))["reports"]
    matches = set(reports["match_number"][reports["kind"] == b"E"].tolist())
    assert len(matches) == state["executions"]
