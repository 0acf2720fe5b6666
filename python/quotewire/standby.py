"""Hot standby: two instances of one engine configuration, one trading, one waiting to
take over, fenced by a lease in the firm bus's JetStream KV bucket. See docs/standby.md.

Both instances run the same `quotewire standby --config engine.toml --bus URL --group G`;
the first to take the lease trades. The lease is the KV entry `budget.lease-<group>`
(written through `Bus.put_budget`, the bus's compare-and-set primitive: `epoch`,
`holder` and the TTL in milliseconds in its three fields). Expiry is judged by each side
on its own monotonic clock, never by comparing clocks:

* the holder renews every `ttl/4` with compare-and-set on the revision it wrote last; a
  renewal sent at `t` keeps it entitled until `t + ttl - guard`. When it cannot renew by
  then, or finds a higher epoch (the fence), it stands down at once: `Engine.kill()` and
  a hard exit (`EXIT_FENCED`), so the venue's cancel-on-disconnect removes anything left;
* a follower reads the lease every `ttl/20`; when its revision has not changed for `ttl`
  (measured from the follower's first sight of that revision, later than its write), it
  takes it with compare-and-set (epoch + 1), gives the files an old holder may still have
  mapped new inodes (`fence_files`), and starts its engine from the shared journal and
  OUCH state file with recovery on: the engine rebuilds, the venue replays the session,
  the engine reconciles and only then quotes.

A process paused (SIGSTOP) cannot fence itself: there the venue fences, because an OUCH
account takes one logged-in connection at a time and the paused process's session ends
after the venue's `client_timeout` (cancel-on-disconnect). The new holder's engine retries
a refused first login every 10 ms (its gateway, not a restart), and a holder that wakes up
finds its lease expired on its own clock and exits before touching anything.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from quotewire import _core
from quotewire.engine import Engine, EngineConfig
from quotewire.errors import ConfigError, QuotewireError

__all__ = ["EXIT_FENCED", "Lease", "LeaseState", "StandbyConfig", "fence_files", "run"]

EXIT_FENCED: Final = 3
"""Exit status of an instance that lost its lease and stood down."""

FOLLOW_READS_PER_TTL: Final = 20
"""A follower reads the lease every `ttl / FOLLOW_READS_PER_TTL` (a read is one bus round
trip, about 0.1 ms on loopback): it notices a write, and the lease's expiry, that late."""


@dataclass(frozen=True)
class StandbyConfig:
    """`group`: 1-10 letters, digits, '-' or '_' (one lease per group); `ttl_s`: the lease's
    time to live (takeover = ttl + the engine's recovery); `guard_s`: how long before
    expiry the holder stops on its own; `name`: this instance in the lease (default: host
    and pid)."""

    url: str
    group: str
    ttl_s: float = 0.4
    guard_s: float = 0.1
    name: str = ""

    def __post_init__(self) -> None:
        problems = []
        ok = all(c.isalnum() or c in "-_" for c in self.group)
        if not 1 <= len(self.group) <= 10 or not ok or not self.group.isascii():
            problems.append(f"group: {self.group!r} is not 1-10 letters, digits, '-' or '_'")
        if not 0.05 <= self.ttl_s <= 60:
            problems.append(f"ttl_s: {self.ttl_s} is not in 0.05..60 seconds")
        if not 0 <= self.guard_s < self.ttl_s / 2:
            problems.append(f"guard_s: {self.guard_s} is not in 0..ttl_s/2")
        if problems:
            raise ConfigError("invalid standby configuration: " + "; ".join(problems))
        if not self.name:
            object.__setattr__(self, "name", f"{os.uname().nodename}:{os.getpid()}")


@dataclass(frozen=True)
class LeaseState:
    """One read of the lease: its KV revision, epoch and holder token."""

    revision: int
    epoch: int
    holder: int


class Lease:
    """The lease of one group on the bus (see the module docs); not thread-safe."""

    def __init__(self, bus: _core.Bus, config: StandbyConfig) -> None:
        self._bus = bus
        self._key = f"lease-{config.group}"
        self._ttl_ms = max(1, round(config.ttl_s * 1000))
        # A positive 62-bit token naming this holder (pid and start time).
        self.token = ((os.getpid() << 40) ^ time.time_ns()) & ((1 << 62) - 1) or 1
        self.held: LeaseState | None = None
        self.taken_at = 0.0
        """Monotonic time the last `take` was sent."""

    def read(self) -> LeaseState | None:
        """The lease as stored now, None when never taken."""
        got = self._bus.budget(self._key)
        if got is None:
            return None
        rev, v = got
        return LeaseState(rev, int(v["max_gross_exposure"]), int(v["max_net_exposure"]))

    def take(self, seen: LeaseState | None) -> bool:
        """Take the lease over `seen` (None: it was never taken) with epoch + 1."""
        epoch = 1 if seen is None else seen.epoch + 1
        self.taken_at = time.monotonic()
        rev = self._bus.put_budget(
            self._key,
            epoch,
            self.token,
            self._ttl_ms,
            expected_revision=0 if seen is None else seen.revision,
        )
        self.held = None if rev is None else LeaseState(rev, epoch, self.token)
        return self.held is not None

    def renew(self) -> bool:
        """Renew the lease held (False: someone else wrote it: fenced)."""
        held = self.held
        if held is None:
            return False
        rev = self._bus.put_budget(
            self._key, held.epoch, self.token, self._ttl_ms, expected_revision=held.revision
        )
        self.held = None if rev is None else LeaseState(rev, held.epoch, self.token)
        return self.held is not None


def _say(event: str, **fields: Any) -> None:
    """One status line on stdout: JSON with the event and wall-clock time."""
    print(json.dumps({"event": event, "ts_ns": time.time_ns(), **fields}), flush=True)


def _wait_lease(lease: Lease, config: StandbyConfig, stop: threading.Event) -> bool:
    """Follow the lease until this instance holds it (False: asked to stop)."""
    seen: LeaseState | None = None
    seen_at = time.monotonic()
    announced = False
    while not stop.is_set():
        now = time.monotonic()
        try:
            current = lease.read()
        except QuotewireError:
            stop.wait(config.ttl_s / FOLLOW_READS_PER_TTL)
            continue
        if current is None:
            if lease.take(None):
                return True
            continue
        if seen is None or current.revision != seen.revision:
            # Timed from after the read: never before the holder sent that revision.
            seen, seen_at = current, time.monotonic()
        if not announced:
            _say("standby", epoch=current.epoch)
            announced = True
        if now - seen_at >= config.ttl_s and lease.take(seen):
            return True
        # The next read, or the moment the revision seen turns a TTL old if sooner.
        expiry = seen_at + config.ttl_s - time.monotonic()
        stop.wait(max(0.0, min(config.ttl_s / FOLLOW_READS_PER_TTL, expiry)))
    return False


def _copy_sparse(src: Path, dst: Path, *, trim: bool = False) -> None:
    """Copy `src` to `dst` keeping its holes (a journal segment is pre-sized, mostly hole);
    with `trim`, the copy ends where the last data block of `src` ends."""
    with src.open("rb") as fi, dst.open("wb") as fo:
        size = os.fstat(fi.fileno()).st_size
        fo.truncate(size)
        data_end = 0
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
            fi.seek(start)
            fo.seek(start)
            left = end - start
            while left > 0:
                chunk = fi.read(min(left, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                left -= len(chunk)
            pos = data_end = end
        if trim and 0 < data_end < size:
            fo.truncate(data_end)


def fence_files(config: EngineConfig) -> list[Path]:
    """Give the files an earlier holder may still have mapped or open for writing (the OUCH
    state file, the intent log, the newest journal segment) new inodes with the same
    content, so a paused holder that wakes up writes only into the old ones, now unlinked.
    The segment's copy ends with its last data block: its pre-sized, never written tail
    is dropped, as the journal's own recovery would, so the new holder's recovery does not
    read it (twice). The copies are not fsynced: the journal itself is flushed
    asynchronously (it survives a process crash, not a host crash), and an fsync here
    took up to 0.8 s of the takeover under disk load. Returns the paths replaced."""
    paths: list[tuple[Path, bool]] = []
    if config.ouch is not None and config.ouch.state_file is not None:
        paths.append((Path(config.ouch.state_file), False))
    if config.engine.journal_dir is not None:
        journal = Path(config.engine.journal_dir)
        paths.append((journal / "intents.qwi", False))
        segments = sorted(journal.glob("journal-*.qwj"))
        paths += [(p, True) for p in segments[-1:]]
    done = []
    for path, trim in paths:
        if not path.is_file():
            continue
        tmp = path.with_name(f".{path.name}.fence-{os.getpid()}")
        _copy_sparse(path, tmp, trim=trim)
        os.replace(tmp, path)
        done.append(path)
    return done


def _start_engine(config: EngineConfig, deadline: float) -> Engine:
    """Start the engine and wait until its order session is ready, or `deadline`
    (monotonic). While the venue still holds the old holder's session it refuses the
    login; the recovering engine's gateway retries it every 10 ms for `ouch.timeout_ms`
    (see rust_core/gateway: "Taking over an account"). Only an engine that stopped, or
    whose retries ran out, is started again."""
    assert config.ouch is not None
    patience = config.ouch.timeout_ms / 1000 + 0.5
    while True:
        engine = Engine(config).start()
        ready = time.monotonic() + patience
        while time.monotonic() < min(ready, deadline):
            if any(e.get("event") == "session_ready" for e in engine.events()):
                return engine
            if not engine.running:
                break
            time.sleep(0.002)
        if time.monotonic() >= deadline:
            return engine
        engine.stop()


def run(engine_config: EngineConfig, config: StandbyConfig, stop: threading.Event) -> int:
    """Follow, take over, trade while holding the lease; returns the exit status (0 when
    asked to stop). Standing down on a lost lease exits the process (`EXIT_FENCED`)."""
    ouch = engine_config.ouch
    if engine_config.engine.journal_dir is None or ouch is None or ouch.state_file is None:
        raise ConfigError("standby needs OUCH, engine.journal_dir and ouch.state_file (shared)")
    engine_config = replace(engine_config, engine=replace(engine_config.engine, recover=True))
    bus = _core.Bus(config.url, f"sb{os.getpid() % 10**8}")
    lease = Lease(bus, config)
    if not _wait_lease(lease, config, stop):
        bus.close()
        return 0
    held = lease.held
    assert held is not None
    # Entitled from before the take was sent: the follower timed the old revision from
    # when it saw it, so expiry on both sides is measured from the earliest instant.
    entitled = lease.taken_at + config.ttl_s - config.guard_s
    _say("leader", epoch=held.epoch, holder=config.name)
    box: dict[str, Engine] = {}
    done = threading.Event()

    def fence(why: str) -> None:
        """Stand down now: the kill switch (cancels what rests while the session lives),
        then a hard exit (the venue cancels on disconnect whatever is left)."""
        engine = box.get("engine")
        try:
            if engine is not None:
                engine.kill()
        finally:
            _say("fenced", reason=why, epoch=held.epoch)
            os._exit(EXIT_FENCED)

    def keep() -> None:
        nonlocal entitled
        while not done.is_set():
            if time.monotonic() > entitled:
                fence("expired")  # paused, or the bus is gone: stop before a takeover
            sent = time.monotonic()
            try:
                if not lease.renew():
                    fence("superseded")
                entitled = sent + config.ttl_s - config.guard_s
            except QuotewireError:
                pass  # the bus is unreachable: retry until entitled runs out
            done.wait(config.ttl_s / 4)

    keeper = threading.Thread(target=keep, name="qw-lease", daemon=True)
    keeper.start()
    fenced = fence_files(engine_config)
    _say("files", fenced=[str(p) for p in fenced])
    box["engine"] = engine = _start_engine(engine_config, time.monotonic() + 10.0)
    _say("trading", epoch=held.epoch, running=engine.running)
    try:
        while not stop.is_set() and engine.running:
            stop.wait(0.05)
    finally:
        # The lease is renewed until the engine has cancelled and logged out; the
        # follower takes over a TTL later.
        summary = engine.stop()
        done.set()
        keeper.join(timeout=2)
        records = summary.get("instruments", {})
        _say(
            "stopped",
            epoch=held.epoch,
            positions={s: int(r["position"]) for s, r in records.items()},
            fills=sum(int(r.get("fills", 0)) for r in records.values()),
            recovery=summary.get("recovery"),
        )
        bus.close()
    return 0
