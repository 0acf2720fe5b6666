"""Horizontal scaling: several engine instances, each owning a shard of instruments and
trading against the same venue, with firm-wide risk shared through NATS JetStream.

Nothing here runs on the fast path, and nothing here starts unless asked: a single engine
needs no bus, no server and no allocator.

* `Instance` is one engine's control-plane side thread on the firm bus
  (`quotewire._core.Bus`, the `quotewire-bus` crate: the NATS client on its own thread).
  Every `interval_s` it takes the engine's event batch (`Engine.events()`) and publishes
  its fills to the drop-copy stream, publishes each instrument's position and the
  instance's exposure from `Engine.snapshot()`, beats a heartbeat, and applies what came
  in: a firm-wide kill (`Engine.kill()`) and its budget (`Engine.set_limits(None, ...)`).
* `Allocator` splits the firm limits into one budget per instance and rebalances them
  from the exposures the instances publish, writing each budget to the JetStream KV
  bucket with compare-and-set.
* `kill_firm` (CLI: `quotewire kill --bus URL`) engages the kill switch of every instance.
* `NatsServer` starts Debian's `nats-server -js` on a free port (tests, benchmarks).

Budget allocation (why no order waits on the network)
------------------------------------------------------
Each instance enforces its budget as its own firm limits, inside its pre-trade check, so
no order waits for the bus. The sum of the budgets never exceeds the firm limits less a
reserve, so the firm's worst-case exposure stays within them as long as each instance
stays within its own. All amounts are raw notional (price with four implied decimals x
shares), integers.

1. Allocatable: `A = limit x (10_000 - reserve_bps) / 10_000` for gross and net exposure
   (the reserve absorbs the marks moving after an order was checked: an exposure is
   position x mark, and no pre-trade check stops a price); open orders are not reserved.
2. Start: every instance runs on an equal share `A / n` from its first order (its engine
   configuration, `shard_config`); the allocator writes the same as revision 1.
3. Every `rebalance_s` the allocator sets targets: `floor_pct` percent of `A` split
   equally, the rest in proportion to what each instance uses (its published worst-case
   gross exposure, worst-case net exposure, open orders; equally while nobody uses any).
4. Safety: an instance `i` may hold `claim_i = max(granted_i, confirmed_i, used_i)`, where
   `confirmed_i` is the budget of the last revision it reported as applied (a lowered
   budget counts at its old value until confirmed; a position above a lowered budget
   counts as it is: the engine lets it shrink, never grow). Decreases are written first;
   an increase is granted only from the headroom `A - sum(claim_j)`, so `sum(claim) <= A`
   at every instant. Changes smaller than `min_step_pct` percent of an equal share are not
   written (no churn).
5. Every write is a KV compare-and-set on the revision the allocator last saw; a conflict
   (another writer) is counted and the budget re-read. Run one allocator per firm.

An instance that loses the bus keeps its last budget (it never grows without the
allocator) and keeps trading within it, unless `reclaim_after_s` is set:

Silent instances (`reclaim_after_s`)
------------------------------------
An instance's heartbeat, for the allocator, is its exposure message (one every
`interval_s`). With `reclaim_after_s` set:

* the instance confirms every round that its messages were stored (`Bus.flush`); when none
  was for `reclaim_after_s / 2`, it fires its engine's kill switch (cancel everything, no
  new orders), so that it holds nothing but its position. When its messages are stored
  again it applies its budget as the bucket holds it now, then re-arms (not while a
  firm-wide kill holds);
* the allocator takes an instance it has heard from and then not for `reclaim_after_s` as
  gone: its claim becomes the position exposure it last reported (no open orders), its
  budget is lowered to that, and the rest is shared among the others by the usual rules.
  When it is heard from again it counts as before (its old budget included until it
  confirms the lowered one). An instance never heard from keeps its equal share: it may be
  starting on it.

Both sides time the silence on their own monotonic clock from their own side of the same
messages: the instance from a round whose messages were stored, the allocator from their
arrival, which is later, so the instance has stopped half a `reclaim_after_s` before its
budget is reclaimed. This relies on the instance's side thread running within that half
(as the standby lease relies on its renewal thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

from quotewire import _core
from quotewire.engine import Engine, EngineConfig, EngineThreads, FirmLimits, TradedInstrument
from quotewire.errors import ConfigError, QuotewireError
from quotewire.venue import OuchAccount, Venue, VenueConfig, price_to_raw, raw_to_price

__all__ = [
    "MULTICAST_GROUP",
    "Allocator",
    "Budget",
    "Instance",
    "NatsServer",
    "ScaleConfig",
    "drop_copy",
    "equal_split",
    "exposure_of",
    "kill_firm",
    "plan",
    "shard_config",
    "sharded_scenario",
    "targets",
]

_BPS: Final = 10_000


class Budget(NamedTuple):
    """Limits in raw notional (gross, net) and orders: a budget, a usage or a claim."""

    gross: int
    net: int
    open_orders: int

    @classmethod
    def of_firm(cls, firm: FirmLimits) -> Budget:
        """The firm limits as raw integers."""
        return cls(
            price_to_raw(firm.max_gross_exposure, "max_gross_exposure"),
            price_to_raw(firm.max_net_exposure, "max_net_exposure"),
            firm.max_open_orders,
        )

    def limits(self) -> dict[str, Any]:
        """Keyword arguments of `Engine.set_limits(None, ...)` (currency units)."""
        return {
            "max_gross_exposure": raw_to_price(self.gross),
            "max_net_exposure": raw_to_price(self.net),
            "max_open_orders": self.open_orders,
        }


@dataclass(frozen=True)
class ScaleConfig:
    """The firm bus and its limits.

    `url`: the NATS server (comma-separated for a cluster); `instances`: every instance
    name of the firm (1-16 letters, digits, '-' or '_'); `firm`: the firm-wide limits
    (gross and net exposure, open orders; the other fields are each instance's own).
    `reserve_bps`, `floor_pct`, `min_step_pct`, `rebalance_s`: the allocation above;
    `interval_s`: how often an instance publishes and applies; `reclaim_after_s`: after
    how long without a heartbeat the allocator reclaims an instance's budget (None:
    never; see "Silent instances" above); `replicas`: JetStream replicas (3 on a
    cluster)."""

    url: str
    instances: Sequence[str]
    firm: FirmLimits
    reserve_bps: int = 500
    floor_pct: int = 50
    min_step_pct: int = 2
    rebalance_s: float = 0.25
    interval_s: float = 0.05
    reclaim_after_s: float | None = None
    replicas: int = 1
    prefix: str = "qw"
    stream: str = "QW_DROPCOPY"
    state_stream: str = "QW_STATE"
    bucket: str = "QW_RISK"

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", tuple(self.instances))
        problems = []
        if not self.instances:
            problems.append("instances: at least one")
        if len(set(self.instances)) != len(self.instances):
            problems.append(f"instances: {list(self.instances)} repeats a name")
        if not 0 <= self.reserve_bps < _BPS:
            problems.append(f"reserve_bps: {self.reserve_bps} is not in 0..9999")
        if not 0 <= self.floor_pct <= 100:
            problems.append(f"floor_pct: {self.floor_pct} is not in 0..100")
        if not 0 <= self.min_step_pct <= 100:
            problems.append(f"min_step_pct: {self.min_step_pct} is not in 0..100")
        for name in ("rebalance_s", "interval_s"):
            value = getattr(self, name)
            if not 0.001 <= value <= 60:
                problems.append(f"{name}: {value} is not in 0.001..60 seconds")
        reclaim = self.reclaim_after_s
        if reclaim is not None and not 4 * self.interval_s <= reclaim <= 3_600:
            problems.append(
                f"reclaim_after_s: {reclaim} is not in 4 x interval_s "
                f"({4 * self.interval_s})..3600 seconds"
            )
        if self.firm.max_open_orders < len(self.instances):
            problems.append(
                f"firm.max_open_orders: {self.firm.max_open_orders} is fewer than the "
                f"{len(self.instances)} instances"
            )
        if problems:
            raise ConfigError("invalid scale configuration: " + "; ".join(problems))

    @property
    def allocatable(self) -> Budget:
        """The firm limits less the reserve: what the budgets add up to at most."""
        f = Budget.of_firm(self.firm)
        keep = _BPS - self.reserve_bps
        return Budget(f.gross * keep // _BPS, f.net * keep // _BPS, f.open_orders)

    def initial_budget(self, instance: str) -> Budget:
        """`instance`'s equal share, on which it starts."""
        if instance not in self.instances:
            raise ConfigError(f"instance {instance!r} is not one of {list(self.instances)}")
        return equal_split(self.allocatable, self.instances)[instance]

    def bus(self, instance: str, *, watch_peers: bool = False) -> _core.Bus:
        """A connection to the bus as `instance` (QuotewireError when unreachable)."""
        return _core.Bus(
            self.url,
            instance,
            prefix=self.prefix,
            stream=self.stream,
            state_stream=self.state_stream,
            bucket=self.bucket,
            replicas=self.replicas,
            watch_peers=watch_peers,
        )


def equal_split(total: Budget, instances: Sequence[str]) -> dict[str, Budget]:
    """`total` split equally (integer division; open orders' remainder to the first)."""
    n = len(instances)
    extra = total.open_orders % n
    return {
        name: Budget(total.gross // n, total.net // n, total.open_orders // n + (i < extra))
        for i, name in enumerate(instances)
    }


def _weighted(amount: int, floor_pct: int, usage: Mapping[str, int]) -> dict[str, int]:
    names = list(usage)
    n = len(names)
    floor = amount * floor_pct // 100
    rest = amount - floor
    used = sum(max(u, 0) for u in usage.values())
    out = {}
    for name in names:
        share = rest * max(usage[name], 0) // used if used > 0 else rest // n
        out[name] = floor // n + share
    return out


def targets(total: Budget, usage: Mapping[str, Budget], floor_pct: int) -> dict[str, Budget]:
    """Where the budgets should go: `floor_pct` percent of each limit split equally, the
    rest in proportion to each instance's usage (equally while nobody uses any). Open
    orders stay at least 1 each."""
    out = {}
    parts = [
        _weighted(total.gross, floor_pct, {k: u.gross for k, u in usage.items()}),
        _weighted(total.net, floor_pct, {k: u.net for k, u in usage.items()}),
        _weighted(total.open_orders, floor_pct, {k: u.open_orders for k, u in usage.items()}),
    ]
    for name in usage:
        out[name] = Budget(parts[0][name], parts[1][name], max(parts[2][name], 1))
    return out


def plan(
    total: Budget,
    granted: Mapping[str, Budget],
    in_force: Mapping[str, Budget],
    used: Mapping[str, Budget],
    want: Mapping[str, Budget],
    min_step: Budget,
) -> dict[str, Budget]:
    """The budgets to write now, the allocator's safety step (pure).

    `granted`: the latest budget written per instance; `in_force`: the largest budget
    each may be running on now (every revision since the last one it confirmed);
    `used`: what each reported using. An instance's claim is `max(budget, in_force,
    used)`. Every decrease toward `want` is planned; then each increase only from the
    headroom `total - sum(claims)`, limit by limit, so planned budgets never let the
    claims add up past `total` (a decrease frees headroom only once confirmed). Changes
    smaller than `min_step` are left out."""
    names = list(granted)
    new = {k: list(granted[k]) for k in names}
    for k in names:
        for d in range(3):
            if granted[k][d] - want[k][d] >= max(min_step[d], 1):
                new[k][d] = want[k][d]
    for d in range(3):
        claims = {k: max(new[k][d], in_force[k][d], used[k][d]) for k in names}
        headroom = total[d] - sum(claims.values())
        for k in names:
            rise = want[k][d] - new[k][d]
            if rise < max(min_step[d], 1) or headroom <= 0:
                continue
            before = claims[k]
            new[k][d] += min(rise, headroom)
            claims[k] = max(new[k][d], in_force[k][d], used[k][d])
            headroom -= claims[k] - before
    out = {}
    for k in names:
        b = Budget(new[k][0], new[k][1], max(new[k][2], 1))
        if b != granted[k]:
            out[k] = b
    return out


def exposure_of(snapshot: Mapping[str, Any]) -> dict[str, int]:
    """An engine snapshot's exposure in raw notional: gross and net (the engine's own),
    worst_gross (each instrument's position if all its resting buys, or all its resting
    sells, filled, the worse, at its mark), worst_net (the net if every resting buy, or
    every resting sell, filled, the larger in size) and open_orders."""
    worst_gross = 0
    net_if_buys = 0
    net_if_sells = 0
    open_orders = 0
    for rec in snapshot["instruments"].values():
        mark = rec.get("mid") or rec.get("avg_price") or Decimal(0)
        raw = price_to_raw(mark, "mark")
        pos = int(rec["position"])
        buys = sum(q for _p, q in rec.get("bids", []))
        sells = sum(q for _p, q in rec.get("asks", []))
        worst_gross += max(abs(pos + buys), abs(pos - sells)) * raw
        net_if_buys += (pos + buys) * raw
        net_if_sells += (pos - sells) * raw
        open_orders += int(rec.get("open_orders", 0))
    return {
        "gross": price_to_raw(snapshot.get("gross_exposure", 0), "gross"),
        "net": price_to_raw(snapshot.get("net_exposure", 0), "net"),
        "worst_gross": worst_gross,
        "worst_net": max(abs(net_if_buys), abs(net_if_sells)),
        "open_orders": open_orders,
    }


def shard_config(
    base: EngineConfig, symbols: Sequence[str], scale: ScaleConfig, instance: str
) -> EngineConfig:
    """`base` restricted to the instruments `symbols` (this instance's shard) and started
    on `instance`'s equal share of the firm limits (the other firm fields kept)."""
    chosen = [base.instrument(s) for s in symbols]
    share = scale.initial_budget(instance)
    firm = replace(base.firm, **share.limits())
    rules = [r for r in base.rules if getattr(r, "symbol", None) in (None, *symbols)]
    return replace(base, instruments=tuple(chosen), firm=firm, rules=tuple(rules)).validate()


MULTICAST_GROUP: Final = "239.255.77.1"
"""The feed's group in `sharded_scenario`: one ITCH feed, every instance joins it."""


def sharded_scenario(
    shards: Sequence[Sequence[str]],
    *,
    seed: int = 7,
    flow_rate: float = 200.0,
    instruments: Sequence[TradedInstrument] | None = None,
    threads: EngineThreads | None = None,
) -> tuple[VenueConfig, Callable[[Venue, int], EngineConfig]]:
    """The demo's venue and market (`quotewire.demo.scenario`) for several instances:
    the ITCH feed goes to a multicast group on loopback that every instance joins, and
    instance `i` (0-based) logs in as OUCH user `mm<i+1>` of firm `i + 1`. Returns the
    venue configuration and `engine(venue, i)`, instance `i`'s engine configuration
    quoting the symbols of `shards[i]` (limits as in the demo: pass it through
    `shard_config` for the firm share)."""
    from quotewire import demo

    plan = demo.scenario(seed=seed, flow_rate=flow_rate, instruments=instruments, threads=threads)
    port = demo.free_udp_port()
    ouch = plan.venue.ouch
    itch = plan.venue.itch
    if ouch is None or itch is None:  # the demo always has both
        raise ConfigError("the demo scenario has no OUCH or ITCH")
    accounts = [OuchAccount(f"mm{i + 1}", f"pw{i + 1}", firm=i + 1) for i in range(len(shards))]
    venue = replace(
        plan.venue,
        ouch=replace(ouch, accounts=accounts),
        itch=replace(itch, destination=f"{MULTICAST_GROUP}:{port}"),
    )

    def engine(running: Venue, i: int) -> EngineConfig:
        base = plan.engine(running)
        if base.ouch is None:  # the demo trades over OUCH
            raise ConfigError("the demo scenario's engine has no OUCH session")
        return replace(
            base,
            instruments=tuple(base.instrument(s) for s in shards[i]),
            feed=replace(
                base.feed,
                bind=f"{MULTICAST_GROUP}:{port}",
                multicast_group=MULTICAST_GROUP,
                multicast_interface="127.0.0.1",
            ),
            ouch=replace(base.ouch, username=f"mm{i + 1}", password=f"pw{i + 1}"),
        ).validate()

    return venue, engine


# --------------------------------------------------------------------------- instance


@dataclass
class _Tally:
    fills: int = 0
    kills: int = 0
    budgets: int = 0
    budget_revision: int = 0
    silenced: int = 0
    errors: list[str] = field(default_factory=list)


class Instance:
    """One engine on the firm bus (see the module docs). `start()` connects (raising
    QuotewireError when the server is unreachable) and starts the side thread `qw-scale`;
    `close(summary)` stops it, publishes the fills of the engine's final summary, flushes
    and returns the bus counters. The engine must already run, on at most this
    instance's equal share of the firm limits (`shard_config`)."""

    def __init__(self, engine: Engine, config: ScaleConfig, name: str) -> None:
        share = config.initial_budget(name)
        firm = Budget.of_firm(engine.config.firm)
        if any(f > s for f, s in zip(firm, share, strict=True)):
            raise ConfigError(
                f"instance {name!r}: the engine's firm limits {firm} exceed its share "
                f"{share} of the firm limits (build its config with scale.shard_config)"
            )
        self._engine = engine
        self._config = config
        self.name = name
        self._bus: _core.Bus | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque(maxlen=100_000)
        self._killed_by_bus = False
        self._stored_at = time.monotonic()
        """Monotonic time a round started whose messages were all stored."""
        self.silenced = False
        """True while the engine is killed because the bus stored nothing (`reclaim_after_s`)."""
        self.tally = _Tally()

    def start(self) -> Self:
        """Connect and start the side thread."""
        if self._bus is None:
            self._bus = self._config.bus(self.name)
            self._thread = threading.Thread(target=self._run, name="qw-scale", daemon=True)
            self._thread.start()
        return self

    @property
    def bus(self) -> _core.Bus:
        """The connection (after `start`)."""
        if self._bus is None:
            raise QuotewireError("the instance is not started")
        return self._bus

    def events(self) -> list[dict[str, Any]]:
        """The engine events the side thread took since the last call (it reads
        `Engine.events()` itself), oldest first; at most the last 100000 are kept."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
            return out

    def _run(self) -> None:
        while not self._stop.wait(self._config.interval_s):
            started = time.monotonic()
            try:
                self.step()
                self._confirm(started)
            except QuotewireError as e:  # the engine stopped or a call was refused
                self.tally.errors.append(str(e))
                if not self._engine.running:
                    return
            try:
                self._watch_silence()
            except QuotewireError as e:
                self.tally.errors.append(str(e))

    def _confirm(self, started: float) -> None:
        """With `reclaim_after_s`: wait (briefly) until this round's messages are stored;
        if they are, the bus hears this instance: note it, and resume if silenced."""
        reclaim = self._config.reclaim_after_s
        if reclaim is None:
            return
        try:
            self.bus.flush(min(0.25, reclaim / 8))
        except QuotewireError:
            return
        self._stored_at = started
        if self.silenced:
            self._resume()

    def _watch_silence(self) -> None:
        """Kill the engine once nothing was stored for half of `reclaim_after_s`: the
        allocator may hand its budget to the others after the whole of it."""
        reclaim = self._config.reclaim_after_s
        if reclaim is None or self.silenced:
            return
        if time.monotonic() - self._stored_at > reclaim / 2:
            self._engine.kill()
            self.silenced = True
            self.tally.silenced += 1

    def _resume(self) -> None:
        """Heard again after a silence: apply the budget the bucket holds now (the
        allocator may have lowered it), then re-arm unless a firm-wide kill holds."""
        got = self.bus.budget(self.name)
        if got is not None:
            rev, b = got
            budget = Budget(b["max_gross_exposure"], b["max_net_exposure"], b["max_open_orders"])
            if not self._engine.set_limits(None, **budget.limits()):
                return
            self.tally.budget_revision = max(self.tally.budget_revision, rev)
        if not self._killed_by_bus and not self._engine.rearm():
            return
        self.silenced = False

    def step(self) -> None:
        """One round: publish fills, positions and exposure; apply kill and budgets."""
        bus = self.bus
        events = self._engine.events()
        if events:
            self.tally.fills += bus.publish_fills(events)
            with self._lock:
                self._events.extend(events)
        self._apply(bus.poll())
        self._publish_state()
        bus.heartbeat()

    def _apply(self, inbound: list[dict[str, Any]]) -> None:
        changed = False
        for m in inbound:
            if m["kind"] == "kill" and m["active"]:
                if self._engine.kill():
                    self._killed_by_bus = True
                    self.tally.kills += 1
            elif m["kind"] == "kill" and self._killed_by_bus:
                # Cleared firm-wide: re-arm what the firm kill engaged (the engine refuses
                # while its own drawdown condition holds).
                if self._engine.rearm():
                    self._killed_by_bus = False
            elif m["kind"] == "budget" and m["revision"] > self.tally.budget_revision:
                budget = Budget(
                    m["max_gross_exposure"], m["max_net_exposure"], m["max_open_orders"]
                )
                if self._engine.set_limits(None, **budget.limits()):
                    self.tally.budget_revision = m["revision"]
                    self.tally.budgets += 1
                    changed = True
        if changed:
            self._publish_state()

    def _publish_state(self) -> None:
        bus = self.bus
        snap = self._engine.snapshot()
        by_symbol = {i.symbol: i.id for i in self._engine.config.instruments}
        for symbol, rec in snap["instruments"].items():
            mark = rec.get("mid") or rec.get("avg_price") or Decimal(0)
            bus.publish_position(
                by_symbol.get(symbol, rec["instrument"]),
                int(rec["position"]),
                sum(q for _p, q in rec.get("bids", [])),
                sum(q for _p, q in rec.get("asks", [])),
                price_to_raw(mark, "mark"),
                price_to_raw(rec.get("realised", 0), "realised"),
                price_to_raw(rec.get("unrealised", 0), "unrealised"),
            )
        e = exposure_of(snap)
        bus.publish_exposure(
            e["gross"],
            e["net"],
            e["worst_gross"],
            e["worst_net"],
            e["open_orders"],
            self.tally.budget_revision,
            snap.get("killed") is not None,
        )

    def close(self, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Stop the side thread; publish the fills of `summary["events"]` (the engine's
        final summary: the events it had not handed out yet); flush (up to 5 s) and
        disconnect. Returns the bus counters."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        bus = self._bus
        if bus is None:
            return {}
        if summary is not None:
            self.tally.fills += bus.publish_fills(list(summary.get("events", [])))
        with contextlib.suppress(QuotewireError):
            bus.flush(5.0)
        return dict(bus.close())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- allocator


@dataclass
class _Seen:
    used: Budget = field(default_factory=lambda: Budget(0, 0, 0))
    held: Budget = field(default_factory=lambda: Budget(0, 0, 0))
    """The position exposure alone (no open orders)."""
    confirmed_revision: int = 0
    killed: bool = False
    heard_at: float | None = None
    """Monotonic time of its last exposure message (None: never heard from)."""
    gone: bool = False
    """Silent for `reclaim_after_s`: its budget is reclaimed."""


class Allocator:
    """The budget allocator of one firm (see the module docs): `start()` writes the
    equal split (or adopts the budgets already in the bucket) and starts the side thread
    `qw-allocator`, which rebalances every `rebalance_s`; `stop()` ends it."""

    def __init__(self, config: ScaleConfig, name: str = "allocator") -> None:
        self._config = config
        self.name = name
        self._bus: _core.Bus | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        names = config.instances
        self.granted: dict[str, Budget] = equal_split(config.allocatable, names)
        self.revision: dict[str, int] = dict.fromkeys(names, 0)
        self._by_revision: dict[str, dict[int, Budget]] = {k: {} for k in names}
        self.seen: dict[str, _Seen] = {k: _Seen() for k in names}
        self.writes = 0
        self.conflicts = 0
        self.reclaims = 0
        """Instances taken as gone (each silence counted once)."""

    def start(self) -> Self:
        """Connect, write or adopt the budgets, start rebalancing."""
        if self._bus is not None:
            return self
        bus = self._config.bus(self.name, watch_peers=True)
        self._bus = bus
        for name, share in self.granted.items():
            rev = bus.put_budget(name, *share, expected_revision=0)
            if rev is None:  # a budget exists (a restarted allocator): adopt it
                got = bus.budget(name)
                if got is None:
                    raise QuotewireError(f"budget of {name!r} vanished while adopting it")
                rev, b = got
                share = Budget(b["max_gross_exposure"], b["max_net_exposure"], b["max_open_orders"])
                self.granted[name] = share
            self.revision[name] = rev
            self._by_revision[name][rev] = share
        self._thread = threading.Thread(target=self._run, name="qw-allocator", daemon=True)
        self._thread.start()
        return self

    def in_force(self, name: str) -> Budget:
        """The largest budget `name` may be running on: every revision written since the
        one it last reported applied (its equal share before any report), per limit."""
        rev = self.seen[name].confirmed_revision
        budgets = [b for r, b in self._by_revision[name].items() if r >= rev]
        budgets.append(self.granted[name])
        if rev == 0:
            budgets.append(self._config.initial_budget(name))
        return Budget(*(max(v) for v in zip(*budgets, strict=True)))

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(0.01):
            try:
                self._absorb()
                if time.monotonic() >= next_at:
                    next_at = time.monotonic() + self._config.rebalance_s
                    self.rebalance()
            except QuotewireError:
                continue

    def _absorb(self) -> None:
        assert self._bus is not None
        for m in self._bus.poll():
            if m["kind"] != "peer" or m["instance"] not in self.seen:
                continue
            s = self.seen[m["instance"]]
            s.used = Budget(abs(m["worst_gross"]), abs(m["worst_net"]), m["open_orders"])
            s.held = Budget(abs(m["gross"]), abs(m["net"]), 0)
            s.confirmed_revision = max(s.confirmed_revision, m["budget_revision"])
            s.killed = m["killed"]
            s.heard_at = time.monotonic()
            s.gone = False

    def _mark_gone(self) -> list[str]:
        """Instances heard from once and then not for `reclaim_after_s` (see "Silent
        instances" in the module docs)."""
        reclaim = self._config.reclaim_after_s
        if reclaim is None:
            return []
        now = time.monotonic()
        gone = []
        for name, s in self.seen.items():
            if s.heard_at is not None and now - s.heard_at > reclaim:
                if not s.gone:
                    s.gone = True
                    self.reclaims += 1
                gone.append(name)
        return gone

    def rebalance(self) -> dict[str, Budget]:
        """One round: targets from usage, the safe plan, compare-and-set writes.
        Returns what was written."""
        bus = self._bus
        if bus is None:
            raise QuotewireError("the allocator is not started")
        names = self._config.instances
        total = self._config.allocatable
        gone = self._mark_gone()
        # A gone instance killed its engine: it holds its position, nothing more.
        used = {k: self.seen[k].held if k in gone else self.seen[k].used for k in names}
        want = {k: Budget(used[k].gross, used[k].net, 1) for k in gone}
        live = [k for k in names if k not in gone]
        if live:
            rest = Budget(
                max(0, total.gross - sum(want[k].gross for k in gone)),
                max(0, total.net - sum(want[k].net for k in gone)),
                max(len(live), total.open_orders - len(gone)),
            )
            want |= targets(rest, {k: used[k] for k in live}, self._config.floor_pct)
        equal = equal_split(total, names)[names[0]]
        step = Budget(*(v * self._config.min_step_pct // 100 for v in equal))
        in_force = {k: used[k] if k in gone else self.in_force(k) for k in names}
        writes = plan(total, self.granted, in_force, used, want, step)
        done = {}
        for name, budget in writes.items():
            rev = bus.put_budget(name, *budget, expected_revision=self.revision[name])
            if rev is None:
                self.conflicts += 1
                got = bus.budget(name)
                if got is not None:
                    rev, b = got
                    self.granted[name] = Budget(
                        b["max_gross_exposure"], b["max_net_exposure"], b["max_open_orders"]
                    )
                    self.revision[name] = rev
                    self._by_revision[name][rev] = self.granted[name]
                continue
            self.writes += 1
            self.granted[name] = budget
            self.revision[name] = rev
            self._by_revision[name][rev] = budget
            done[name] = budget
        return done

    def stop(self) -> None:
        """End rebalancing and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._bus is not None:
            self._bus.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- operations


def kill_firm(url: str, *, clear: bool = False, reason: str = "operator") -> int:
    """Engage (or with `clear`, clear) the firm-wide kill switch of every instance on the
    bus at `url`, now and for instances that connect later. Returns the KV revision."""
    bus = _core.Bus(url, f"kill-{os.getpid() % 1_000_000}")
    try:
        return int(bus.firm_kill(not clear, reason))
    finally:
        bus.close()


def drop_copy(bus: _core.Bus, stream: str = "QW_DROPCOPY") -> list[dict[str, Any]]:
    """Every fill stored in the drop-copy stream, oldest first (the JSON objects of
    `quotewire_bus::wire`, with `sequence`, the stream's)."""
    out = []
    for _subject, seq, payload in bus.read_stream(stream, ""):
        fill = json.loads(payload)
        fill["sequence"] = seq
        out.append(fill)
    return out


class NatsServer:
    """Debian's `nats-server` with JetStream (`-js -sd DIR`) on 127.0.0.1 and a free
    port, for tests and benchmarks; a context manager that stops it. ConfigError when
    the binary is missing (scripts/setup.sh installs it)."""

    def __init__(self, store_dir: str | os.PathLike[str] | None = None) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise ConfigError("nats-server is not installed (apt-get install nats-server)")
        self._tmp = None if store_dir is not None else tempfile.TemporaryDirectory()
        self.store_dir = Path(store_dir if store_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self._proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise QuotewireError(f"nats-server did not start on port {self.port}") from None
                time.sleep(0.02)

    @property
    def url(self) -> str:
        """`nats://127.0.0.1:PORT`."""
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server (and remove its store when it made one). Idempotent."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
