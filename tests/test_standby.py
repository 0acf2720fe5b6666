"""Hot standby: two `quotewire standby` processes on one configuration, journal and OUCH
state file, fenced by a lease on the NATS bus (docs/standby.md). The primary is killed
(SIGKILL), the standby takes over; the new primary is paused (SIGSTOP), a third instance
takes over; the paused one is resumed and must stand down. The venue runs in this process
and its ledger is the truth. Each takeover, from the signal to the new primary's first order
resting at the venue, must take under a second (the issue's target)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import _core, demo, scale
from quotewire.engine import Engine, EngineThreads
from quotewire.standby import EXIT_FENCED, Lease, StandbyConfig
from quotewire.venue import Venue

QUOTEWIRE = Path(sys.executable).with_name("quotewire")
OUR_FIRM = 1
TTL_S = 0.4
# The target: signal to the new primary's first resting order (docs/standby.md).
TAKEOVER_BOUND_S = 1.0
# Bounds on every wait (2 cores shared with the venue and the NATS server).
TAKEOVER_TIMEOUT = 10.0
START_TIMEOUT = 15.0


class Instance:
    """One `quotewire standby` child and the status lines it printed."""

    def __init__(self, config: Path, url: str, log: Path) -> None:
        self.lines: list[dict[str, Any]] = []
        self._err = log.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [
                str(QUOTEWIRE),
                "standby",
                "--config",
                str(config),
                "--bus",
                url,
                "--group",
                "pair",
                "--ttl",
                str(TTL_S),
            ],
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def said(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.lines if m["event"] == event]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self._err.close()


# The venue's Python handle is not for concurrent use: the sampler and the test's own
# checks take turns.
_VENUE_LOCK = threading.Lock()


def _open_orders(venue: Venue) -> int:
    with _VENUE_LOCK:
        return int(venue.firm_state(OUR_FIRM)["open_orders"])


def _take_over(
    old: Instance, new: Instance, sig: signal.Signals, samples: list[tuple[int, int]]
) -> float:
    """Sends `sig` to the primary `old` and waits for `new` to trade and quote; checks the
    old quotes were gone (cancel on disconnect) before the new primary's first, and the
    epoch moved by one. Returns the takeover time in seconds, from the signal to the first
    sample with an order of the new primary resting at the venue."""
    signalled_at = time.time_ns()
    old.proc.send_signal(sig)
    assert wait_for(lambda: bool(new.said("trading")), TAKEOVER_TIMEOUT, 0.005)
    assert wait_for(
        lambda: any(t > new.said("trading")[0]["ts_ns"] and n > 0 for t, n in samples),
        TAKEOVER_TIMEOUT,
        0.005,
    )
    quoting_at = next(t for t, n in samples if t > new.said("trading")[0]["ts_ns"] and n)
    assert any(n == 0 for t, n in samples if signalled_at < t < quoting_at)
    assert new.said("leader")[0]["epoch"] == old.said("leader")[0]["epoch"] + 1
    return (quoting_at - signalled_at) / 1e9


def test_standby_takes_over_after_sigkill_and_sigstop_and_old_primary_stands_down(
    tmp_path: Path,
) -> None:
    if not QUOTEWIRE.exists():
        pytest.skip(f"{QUOTEWIRE} is not installed")
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed")
    threads = EngineThreads(
        log_level="warn", idle_sleep_us=20, journal_dir=str(tmp_path / "journal")
    )
    symbols = [s for s, *_ in demo.DEMO_INSTRUMENTS]
    # A multicast feed: a paused instance keeps its socket, the next one must bind too.
    venue_config, engine_config = scale.sharded_scenario([symbols], threads=threads)
    # The venue ends a silent session after 400 ms (a paused instance's), then cancels.
    venue_config = replace(venue_config, ouch=replace(venue_config.ouch, client_timeout_ms=400))
    log = tmp_path / "standby.log"
    instances: list[Instance] = []
    with scale.NatsServer() as nats, Venue(venue_config) as venue:
        config = engine_config(venue, 0)
        config = replace(
            config,
            ouch=replace(config.ouch, heartbeat_ms=50, state_file=str(tmp_path / "ouch.state")),
            feed=replace(config.feed, recovery_timeout_ms=10_000),
        )
        path = config.save(tmp_path / "engine.toml")
        samples: list[tuple[int, int]] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                samples.append((time.time_ns(), _open_orders(venue)))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            a = Instance(path, nats.url, log)
            instances.append(a)
            assert wait_for(lambda: bool(a.said("trading")), START_TIMEOUT, 0.02), log.read_text()
            b = Instance(path, nats.url, log)
            instances.append(b)
            assert wait_for(lambda: bool(b.said("standby")), START_TIMEOUT, 0.02), log.read_text()
            assert wait_for(lambda: _open_orders(venue) > 0, START_TIMEOUT, 0.01)
            time.sleep(0.5)

            # (1) SIGKILL: b takes over, recovering from a's journal.
            takeover_kill = _take_over(a, b, signal.SIGKILL, samples)

            c = Instance(path, nats.url, log)
            instances.append(c)
            assert wait_for(lambda: bool(c.said("standby")), START_TIMEOUT, 0.02), log.read_text()
            time.sleep(0.5)

            # (2) SIGSTOP: c takes over once the lease expires and the venue ended b's
            # silent session (cancelling its quotes).
            takeover_stop = _take_over(b, c, signal.SIGSTOP, samples)

            # b wakes up: it finds its lease expired and exits without trading again.
            b.proc.send_signal(signal.SIGCONT)
            b.proc.wait(timeout=TAKEOVER_TIMEOUT)
            assert b.proc.returncode == EXIT_FENCED
            assert [m["reason"] for m in b.said("fenced")] == ["expired"]
            assert len(b.said("trading")) == 1
            # c still holds the session and quotes.
            time.sleep(0.5)
            assert c.proc.poll() is None and _open_orders(venue) > 0
            print(f"takeover: after SIGKILL {takeover_kill:.3f} s, SIGSTOP {takeover_stop:.3f} s")
            assert takeover_kill < TAKEOVER_BOUND_S, f"after SIGKILL: {takeover_kill:.3f} s"
            assert takeover_stop < TAKEOVER_BOUND_S, f"after SIGSTOP: {takeover_stop:.3f} s"

            c.proc.send_signal(signal.SIGTERM)
            c.proc.wait(timeout=30)
            assert c.proc.returncode == 0, log.read_text()
            assert wait_for(lambda: _open_orders(venue) == 0, 5.0, 0.02)
        finally:
            sampling.set()
            sampler.join(timeout=5)
            for inst in instances:
                inst.close()
        with _VENUE_LOCK:
            state = venue.firm_state(OUR_FIRM)

    # The last primary's positions, rebuilt through two takeovers, equal the venue's.
    final = c.said("stopped")[0]
    ids = {i.symbol: i.id for i in config.instruments}
    ours = {ids[s]: p for s, p in final["positions"].items() if p}
    theirs = {int(k): int(v) for k, v in state["positions"].items() if v}
    assert ours == theirs
    assert final["fills"] == state["executions"]


def test_lease_take_is_exclusive_and_a_superseded_holder_cannot_renew() -> None:
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed")
    with scale.NatsServer() as nats:
        config = StandbyConfig(nats.url, "unit", ttl_s=0.4, guard_s=0.1, name="test")
        one = Lease(_core.Bus(nats.url, "one"), config)
        two = Lease(_core.Bus(nats.url, "two"), config)
        assert one.read() is None
        assert one.take(None)
        assert not two.take(None)  # created already: compare-and-set refuses
        seen = two.read()
        assert seen is not None and seen.epoch == 1 and seen.holder == one.token
        assert one.renew()
        assert not two.take(seen)  # a stale revision: refused
        seen = two.read()
        assert seen is not None and two.take(seen)
        assert two.held is not None and two.held.epoch == 2
        assert not one.renew()  # the fence: the old holder finds a newer write
        assert one.held is None
        one._bus.close()
        two._bus.close()


def _ready_within(engine: Engine, timeout: float) -> bool:
    """Whether `engine` reports its order session ready within `timeout` seconds."""
    return wait_for(
        lambda: any(e["event"] == "session_ready" for e in engine.events()), timeout, 0.005
    )


def test_a_recovering_engine_retries_a_refused_login_until_the_account_is_free(
    tmp_path: Path,
) -> None:
    """The venue takes one session per account. An engine started with recovery (a
    standby taking over) whose login is refused retries it in its gateway and logs in as
    soon as the holder is gone, without a restart; an engine without recovery takes the
    refusal as final (wrong credentials look the same)."""
    symbols = [s for s, *_ in demo.DEMO_INSTRUMENTS]
    threads = EngineThreads(log_level="error", idle_sleep_us=20)
    venue_config, engine_config = scale.sharded_scenario([symbols], threads=threads)

    def config(venue: Venue, name: str, *, recover: bool) -> Any:
        base = engine_config(venue, 0)
        journal = tmp_path / name
        journal.mkdir()
        return replace(
            base,
            # Own journals: the taker's replay shows it the holder's fills as unknown
            # ones, logged as errors into the file, not the test output.
            engine=replace(
                base.engine,
                journal_dir=str(journal),
                recover=recover,
                log_file=str(tmp_path / f"{name}.log"),
            ),
            ouch=replace(base.ouch, state_file=str(tmp_path / f"{name}.state")),
        )

    with Venue(venue_config) as venue:
        holder = Engine(config(venue, "holder", recover=False)).start()
        taker = plain = None
        try:
            assert _ready_within(holder, START_TIMEOUT)
            taker = Engine(config(venue, "taker", recover=True)).start()
            plain = Engine(config(venue, "plain", recover=False)).start()
            # Both are refused while the holder is logged in.
            assert not _ready_within(taker, 0.3)
            assert not _ready_within(plain, 0.01)
            holder.stop()  # logs out: the account is free
            assert _ready_within(taker, 2.0)
            assert taker.running
            # The refused engine without recovery never tried again.
            assert not _ready_within(plain, 0.3)
        finally:
            for engine in (taker, plain, holder):
                if engine is not None:
                    engine.stop()
