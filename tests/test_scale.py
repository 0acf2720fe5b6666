"""Horizontal scaling: three engine instances, one instrument each, trading against one
venue simulator under a firm-wide exposure limit shared through NATS JetStream.

The allocation rules are checked as pure functions first; then one run of the whole
system (nats-server -js, the venue, three in-process engines, their `scale.Instance`
side threads and the `scale.Allocator`) is read from the outside: the venue's ledger per
firm (each instance logs in as its own OUCH user and firm), the drop-copy stream on
JetStream, and the engines' kill switches after one firm-wide kill.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import demo, scale
from quotewire.engine import Engine, EngineConfig, EngineThreads, FirmLimits, TradedInstrument
from quotewire.errors import ConfigError, QuotewireError
from quotewire.scale import Budget, ScaleConfig
from quotewire.venue import Venue, price_to_raw

NAMES = ("mm1", "mm2", "mm3")
SHARDS = (("AAPL",), ("MSFT",), ("SPY",))
IDS = {symbol: ident for symbol, ident, *_ in demo.DEMO_INSTRUMENTS}
FIRM_GROSS = Decimal("60000")  # binds: SPY quotes 20 x 550 = 11000 a lot
TRADE_S = 8.0


def _config(url: str = "nats://127.0.0.1:1", **changes: Any) -> ScaleConfig:
    firm = FirmLimits(
        max_gross_exposure=str(FIRM_GROSS),
        max_net_exposure=str(FIRM_GROSS),
        max_open_orders=30,
        orders_per_sec=2_000,
        burst=200,
        max_drawdown="50000",
    )
    return ScaleConfig(url=url, instances=NAMES, firm=firm, rebalance_s=0.2, **changes)


# --------------------------------------------------------------------------- allocation


def test_equal_split_never_adds_up_past_the_allocatable_less_the_reserve() -> None:
    config = _config()
    total = config.allocatable
    assert total.gross == price_to_raw("57000", "x")  # 60000 less 5 %
    parts = scale.equal_split(total, NAMES)
    assert sum(b.gross for b in parts.values()) <= total.gross
    assert sum(b.open_orders for b in parts.values()) == total.open_orders
    assert parts["mm1"] == config.initial_budget("mm1")


def test_targets_keep_an_equal_floor_and_give_the_rest_to_who_uses_it() -> None:
    total = Budget(900, 900, 9)
    used = {"a": Budget(300, 0, 0), "b": Budget(100, 0, 0), "c": Budget(0, 0, 0)}
    want = scale.targets(total, used, floor_pct=50)
    # 450 split equally (150 each), 450 in proportion 3:1:0.
    assert [want[k].gross for k in "abc"] == [150 + 337, 150 + 112, 150]
    # Nobody uses net exposure: equal shares.
    assert [want[k].net for k in "abc"] == [300, 300, 300]
    assert all(b.open_orders >= 1 for b in want.values())


def test_a_lowered_budget_frees_headroom_only_once_the_instance_confirms_it() -> None:
    total = Budget(900, 900, 9)
    granted = dict.fromkeys("abc", Budget(300, 300, 3))
    used = {"a": Budget(300, 0, 0), "b": Budget(0, 0, 0), "c": Budget(0, 0, 0)}
    want = {"a": Budget(600, 300, 3), "b": Budget(150, 300, 3), "c": Budget(150, 300, 3)}
    step = Budget(1, 1, 1)
    first = scale.plan(total, granted, granted, used, want, step)
    # b and c are lowered, but still run on 300 each: a may not grow yet.
    assert first == {"b": Budget(150, 300, 3), "c": Budget(150, 300, 3)}
    granted = {**granted, **first}
    second = scale.plan(total, granted, granted, used, want, step)
    assert second == {"a": Budget(600, 300, 3)}


budgets = st.builds(
    Budget,
    st.integers(0, 1_000),
    st.integers(0, 1_000),
    st.integers(1, 20),
)


@settings(max_examples=300, deadline=None)
@given(
    granted=st.lists(budgets, min_size=1, max_size=4),
    extra=st.lists(budgets, min_size=4, max_size=4),
    used=st.lists(budgets, min_size=4, max_size=4),
    want=st.lists(budgets, min_size=4, max_size=4),
)
def test_planned_budgets_never_let_the_claims_exceed_the_total(
    granted: list[Budget], extra: list[Budget], used: list[Budget], want: list[Budget]
) -> None:
    names = [f"i{k}" for k in range(len(granted))]
    g = dict(zip(names, granted, strict=False))
    # in force: at least the granted budget (an unconfirmed older one may be larger).
    f = {k: Budget(*map(max, g[k], extra[i])) for i, k in enumerate(names)}
    u = dict(zip(names, used, strict=False))
    w = dict(zip(names, want, strict=False))
    total = Budget(3_000, 3_000, 60)

    def claims(b: dict[str, Budget]) -> list[int]:
        return [sum(max(b[k][d], f[k][d], u[k][d]) for k in names) for d in range(3)]

    before = claims(g)
    after = claims({**g, **scale.plan(total, g, f, u, w, Budget(1, 1, 1))})
    for d in range(3):
        # Never past the total, and never up at all when already past it.
        assert after[d] <= max(total[d], before[d])
        if before[d] >= total[d]:
            assert after[d] <= before[d]


def test_scale_config_names_every_refused_value() -> None:
    with pytest.raises(ConfigError) as e:
        ScaleConfig(
            url="nats://x",
            instances=("a", "a"),
            firm=FirmLimits(max_open_orders=1),
            reserve_bps=10_000,
            floor_pct=101,
        )
    for name in ("instances", "reserve_bps", "floor_pct", "max_open_orders"):
        assert name in str(e.value)


def test_a_shard_config_quotes_only_its_symbols_on_an_equal_share() -> None:
    venue_config, engine_config = scale.sharded_scenario(SHARDS)
    config = _config()
    with Venue(venue_config) as venue:
        shard = scale.shard_config(engine_config(venue, 1), ["MSFT"], config, "mm2")
    assert [i.symbol for i in shard.instruments] == ["MSFT"]
    assert Budget.of_firm(shard.firm) == config.initial_budget("mm2")
    assert shard.ouch.username == "mm2"
    assert shard.feed.multicast_group == scale.MULTICAST_GROUP


def test_an_unreachable_bus_is_a_clear_error() -> None:
    with pytest.raises(QuotewireError, match="unreachable"):
        _config().bus("mm1")


# --------------------------------------------------------------------------- silence


def _needs_nats() -> None:
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed")


def _kv_budget(bus: Any, name: str) -> Budget:
    got = bus.budget(name)
    assert got is not None
    _rev, b = got
    return Budget(b["max_gross_exposure"], b["max_net_exposure"], b["max_open_orders"])


def test_the_allocator_reclaims_the_budget_of_an_instance_gone_silent() -> None:
    """Three peers publish exposures (mm1 uses all of its share, mm2 and mm3 hold a small
    position and never confirm a budget). Nothing frees headroom for mm1 until mm3 falls
    silent: after `reclaim_after_s` its budget is lowered to the position it holds and
    mm1 gets more than its share; heard again, mm3 is no longer taken as gone."""
    _needs_nats()
    with scale.NatsServer() as nats:
        config = _config(nats.url, reclaim_after_s=0.5)
        share = config.initial_budget("mm1")
        held = share.gross // 10
        peers = {n: config.bus(n) for n in NAMES}
        reader = config.bus("reader")
        quiet = threading.Event()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(0.05):
                for name, bus in peers.items():
                    if name == "mm3" and quiet.is_set():
                        continue
                    worst = share.gross if name == "mm1" else held
                    bus.publish_exposure(held, held, worst, worst, 1, 0, False)

        beater = threading.Thread(target=beat, daemon=True)
        try:
            with scale.Allocator(config) as allocator:
                beater.start()
                assert wait_for(
                    lambda: all(s.heard_at is not None for s in allocator.seen.values()), 5.0
                )
                time.sleep(3 * config.rebalance_s)
                assert _kv_budget(reader, "mm1").gross <= share.gross
                assert allocator.reclaims == 0

                quiet.set()
                assert wait_for(
                    lambda: _kv_budget(reader, "mm3") == Budget(held, held, 1), 5.0, 0.02
                )
                assert allocator.reclaims == 1 and allocator.seen["mm3"].gone
                assert wait_for(lambda: _kv_budget(reader, "mm1").gross > share.gross, 5.0)
                budgets = [_kv_budget(reader, n) for n in NAMES]
                assert sum(b.gross for b in budgets) <= config.allocatable.gross

                quiet.clear()
                assert wait_for(lambda: not allocator.seen["mm3"].gone, 5.0)
                assert allocator.reclaims == 1
        finally:
            done.set()
            if beater.is_alive():
                beater.join(timeout=5)
            for bus in (*peers.values(), reader):
                bus.close()


class _FakeEngine:
    """What `scale.Instance` uses of an engine, recording kills, re-arms and limits."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.running = True
        self.killed = False
        self.rearms = 0
        self.limits: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"instruments": {}, "killed": "bus" if self.killed else None}

    def kill(self) -> bool:
        self.killed = True
        return True

    def rearm(self) -> bool:
        self.killed = False
        self.rearms += 1
        return True

    def set_limits(self, symbol: str | None = None, **limits: Any) -> bool:
        assert symbol is None
        self.limits.append(limits)
        return True


def test_an_instance_whose_messages_are_not_stored_kills_its_engine_and_resumes_after() -> None:
    """The bus stops storing (the NATS server is paused): within `reclaim_after_s / 2`
    the instance kills its engine, before the allocator could reclaim its budget. Once
    the server answers again it applies the budget the bucket holds and re-arms."""
    _needs_nats()
    venue_config, engine_config = scale.sharded_scenario(SHARDS)
    with scale.NatsServer() as nats:
        config = _config(nats.url, reclaim_after_s=0.6)
        with Venue(venue_config) as venue:
            base = scale.shard_config(engine_config(venue, 0), ["AAPL"], config, "mm1")
        engine = _FakeEngine(base)
        writer = config.bus("writer")
        lowered = Budget(1_000_000, 1_000_000, 2)
        assert writer.put_budget("mm1", *lowered, expected_revision=0) is not None
        instance = scale.Instance(cast(Engine, engine), config, "mm1").start()
        try:
            time.sleep(0.3)
            assert not instance.silenced and not engine.killed
            server = nats._proc  # the test pauses the server
            server.send_signal(signal.SIGSTOP)
            try:
                assert wait_for(lambda: engine.killed, 5.0, 0.01)
                assert instance.silenced
            finally:
                server.send_signal(signal.SIGCONT)
            assert wait_for(lambda: not instance.silenced, 10.0, 0.02)
            assert not engine.killed and engine.rearms == 1
            assert engine.limits[-1] == lowered.limits()
            assert instance.tally.silenced == 1
        finally:
            instance.close()
            writer.close()


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    firm_limit: Decimal
    max_exposure: Decimal = Decimal(0)
    samples: int = 0
    traded: dict[int, set[int]] = field(default_factory=dict)
    ledgers: dict[int, dict[str, Any]] = field(default_factory=dict)
    drop_copy: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    bus_counters: list[dict[str, Any]] = field(default_factory=list)
    killed: list[str | None] = field(default_factory=list)
    open_after_kill: list[int] = field(default_factory=list)
    kill_reached_all: bool = False
    bus_kills: list[int] = field(default_factory=list)
    allocator_writes: int = 0


def _venue_exposure(venue: Venue, firms: range) -> Decimal:
    """The firms' gross exposure from the venue's ledger, marked at the venue's mid."""
    mids = {IDS[s]: Decimal(str(venue.background(s)["mid"])) for s in IDS}
    total = Decimal(0)
    for firm in firms:
        for instrument, position in venue.firm_state(firm)["positions"].items():
            total += abs(position) * mids[instrument]
    return total


@pytest.fixture(scope="module")
def run() -> Run:
    threads = EngineThreads(log_level="error", idle_sleep_us=50)
    venue_config, engine_config = scale.sharded_scenario(
        SHARDS, threads=threads, instruments=_small_quotes()
    )
    firms = range(1, len(NAMES) + 1)
    out = Run(firm_limit=FIRM_GROSS)
    with scale.NatsServer() as nats, Venue(venue_config) as venue:
        config = _config(nats.url)
        allocator = scale.Allocator(config).start()
        engines: list[Engine] = []
        instances: list[scale.Instance] = []
        try:
            for i, (name, shard) in enumerate(zip(NAMES, SHARDS, strict=True)):
                cfg = scale.shard_config(engine_config(venue, i), shard, config, name)
                engine = Engine(cfg).start()
                engines.append(engine)
                instances.append(scale.Instance(engine, config, name).start())
            start = time.monotonic()
            while time.monotonic() - start < TRADE_S:
                out.max_exposure = max(out.max_exposure, _venue_exposure(venue, firms))
                out.samples += 1
                time.sleep(0.05)
            # The firm-wide kill, published once.
            scale.kill_firm(nats.url)
            out.kill_reached_all = wait_for(
                lambda: (
                    all(i.tally.kills >= 1 for i in instances)
                    and all(e.snapshot()["killed"] is not None for e in engines)
                    and all(venue.firm_state(f)["open_orders"] == 0 for f in firms)
                ),
                10,
            )
            out.killed = [e.snapshot()["killed"] for e in engines]
            out.bus_kills = [i.tally.kills for i in instances]
            out.open_after_kill = [venue.firm_state(f)["open_orders"] for f in firms]
            out.max_exposure = max(out.max_exposure, _venue_exposure(venue, firms))
        finally:
            for engine, instance in zip(engines, instances, strict=False):
                summary = engine.stop()
                out.summaries.append(summary)
                out.bus_counters.append(instance.close(summary))
            for engine in engines[len(instances) :]:
                engine.stop()
            allocator.stop()
        out.allocator_writes = allocator.writes
        for f in firms:
            state = venue.firm_state(f)
            out.ledgers[f] = state
            out.traded[f] = set(state["positions"]) | {o["instrument"] for o in state["orders"]}
        reader = config.bus("reader")
        try:
            out.drop_copy = scale.drop_copy(reader)
        finally:
            reader.close()
    return out


def _small_quotes() -> list[TradedInstrument]:
    """The demo's instruments quoting 20 shares a side (a lot of SPY is 11000) without
    inventory skew, so positions wander until the exposure limit stops them."""
    return [
        demo.demo_traded(symbol, ident, size=20, skew_ticks=0)
        for symbol, ident, *_ in demo.DEMO_INSTRUMENTS
    ]


def test_each_instance_trades_only_its_own_shard(run: Run) -> None:
    for firm, shard in zip(range(1, 4), SHARDS, strict=True):
        assert run.traded[firm] <= {IDS[shard[0]]}, (firm, run.traded[firm])
    for fill in run.drop_copy:
        name = fill["instance"]
        assert fill["instrument"] == IDS[SHARDS[NAMES.index(name)][0]], fill


def test_the_firm_gross_exposure_at_the_venue_never_exceeds_the_firm_limit(run: Run) -> None:
    assert run.samples >= 50
    assert sum(run.ledgers[f]["executions"] for f in run.ledgers) > 0, "nobody traded"
    assert run.max_exposure <= run.firm_limit, (run.max_exposure, run.firm_limit)
    # The limit binds: some quotes were refused for firm exposure (the instance's share).
    refused = sum(
        s["risk_rejects"].get("gross_exposure", 0) + s["risk_rejects"].get("net_exposure", 0)
        for s in run.summaries
    )
    assert refused > 0


def test_the_drop_copy_holds_every_fill_of_every_instance_exactly_once(run: Run) -> None:
    by_instance: dict[str, list[dict[str, Any]]] = {n: [] for n in NAMES}
    for fill in run.drop_copy:
        by_instance[fill["instance"]].append(fill)
    keys = Counter((f["instance"], f["session"], f["seq"]) for f in run.drop_copy)
    assert all(n == 1 for n in keys.values()), "a fill is stored twice"
    for firm, name in zip(range(1, 4), NAMES, strict=True):
        fills = by_instance[name]
        ledger = run.ledgers[firm]
        assert sorted(f["seq"] for f in fills) == list(range(1, len(fills) + 1))
        assert len(fills) == ledger["executions"], name
        for side in ("buy", "sell"):
            mine = [f for f in fills if f["side"] == side]
            assert sum(f["qty"] for f in mine) == ledger["bought" if side == "buy" else "sold"]
            assert sum(f["qty"] * f["price"] for f in mine) == ledger[f"{side}_notional"]
    for counters in run.bus_counters:
        assert counters["dropped"] == 0 and counters["queued"] == 0, counters


def test_one_firm_wide_kill_stops_all_three_instances(run: Run) -> None:
    assert run.kill_reached_all
    assert all(k is not None for k in run.killed), run.killed
    assert run.open_after_kill == [0, 0, 0]
    # Each instance's control plane applied the firm kill it received over the bus.
    assert all(k >= 1 for k in run.bus_kills), run.bus_kills
    for s in run.summaries:
        kills = [e for e in s["events"] if e.get("event") == "killed"]
        assert kills or s.get("killed"), "the kill switch did not fire"


def test_drop_copy_payloads_are_plain_json_with_raw_prices(run: Run) -> None:
    assert run.drop_copy
    fill = run.drop_copy[0]
    assert set(fill) >= {"instance", "session", "seq", "cl", "instrument", "side", "price", "qty"}
    json.dumps(fill)
    assert isinstance(fill["price"], int)
