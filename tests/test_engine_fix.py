"""End-to-end: the trading engine entering orders over FIX 4.4 against the venue simulator.

The same demo market as tests/test_engine.py (matching, ITCH over MoldUDP64, a background
market), but the engine's order session is the venue's FIX acceptor instead of OUCH; what
the engine believes is checked against the venue's own ledger (`Venue.firm_state`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import demo
from quotewire.engine import Engine, EngineConfig, EngineThreads, FixEndpoint
from quotewire.errors import ConfigError
from quotewire.venue import FixConfig, FixSession, Venue

FIX_FIRM = 2  # the demo's OUCH account is firm 1
OUR_COMP_ID = "QWMM"
VENUE_COMP_ID = "QWVENUE"
THREADS = EngineThreads(log_level="error", idle_sleep_us=20)


def fix_plan() -> demo.Scenario:
    """The demo scenario with a FIX acceptor for our session added to the venue."""
    plan = demo.scenario(threads=THREADS)
    venue = replace(
        plan.venue,
        fix=FixConfig(
            sessions=[FixSession(OUR_COMP_ID, VENUE_COMP_ID, firm=FIX_FIRM)],
            heartbeat_secs=1,
        ),
    )
    return demo.Scenario(venue=venue, engine=plan.engine)


def fix_engine_config(plan: demo.Scenario, venue: Venue, **fix: Any) -> EngineConfig:
    """The demo engine, its orders sent over FIX instead of OUCH."""
    ep = venue.endpoints.fix
    assert ep is not None
    endpoint = FixEndpoint(
        addr=f"{ep[0]}:{ep[1]}",
        sender_comp_id=OUR_COMP_ID,
        target_comp_id=VENUE_COMP_ID,
        heartbeat_interval_secs=1,
        logon_timeout_ms=3_000,
        **fix,
    )
    return replace(plan.engine(venue), ouch=None, fix=endpoint).validate()


@contextmanager
def trading_over_fix(**fix: Any) -> Iterator[tuple[Venue, Engine]]:
    plan = fix_plan()
    with Venue(plan.venue) as venue:
        engine = Engine(fix_engine_config(plan, venue, **fix)).start()
        try:
            yield venue, engine
        finally:
            engine.stop()


def test_engine_quotes_over_fix_and_its_positions_equal_the_venue_ledger() -> None:
    with trading_over_fix() as (venue, engine):
        assert wait_for(lambda: venue.firm_state(FIX_FIRM)["open_orders"] > 0, 10)
        # Let the background market trade against the quotes.
        assert wait_for(lambda: venue.firm_state(FIX_FIRM)["executions"] > 0, 20)
        time.sleep(1)
        snap = engine.snapshot()
        assert snap["killed"] is None
        summary = engine.stop()
        c = summary["counters"]
        assert c["orders_new"] > 0
        assert c["orders_cancel"] > 0  # the stop cancels what rests
        assert c["send_errors"] == 0
        assert summary["oms"]["unknown_fills"] == 0
        assert summary["oms"]["overfills"] == 0
        state = venue.firm_state(FIX_FIRM)
        assert state["open_orders"] == 0
        assert summary["counters"]["open_orders"] == 0, (summary["oms"], summary["counters"])
        ids = {i.symbol: i.id for i in engine.config.instruments}
        ours = {
            ids[symbol]: rec["position"]
            for symbol, rec in summary["instruments"].items()
            if rec["position"]
        }
        theirs = {int(k): int(v) for k, v in state["positions"].items() if v}
        assert ours == theirs
        bought = sum(rec["bought"] for rec in summary["instruments"].values())
        sold = sum(rec["sold"] for rec in summary["instruments"].values())
        assert (bought, sold) == (state["bought"], state["sold"])
        assert bought + sold > 0


def test_fix_config_round_trips_through_toml(tmp_path: Path) -> None:
    plan = fix_plan()
    with Venue(plan.venue) as venue:
        config = fix_engine_config(plan, venue, account="ACC1", state_file="fix.state")
    assert config.order_entry == "fix"
    path = config.save(tmp_path / "engine.toml")
    text = path.read_text(encoding="utf-8")
    assert "[fix]" in text
    assert "[ouch]" not in text
    assert EngineConfig.load(path) == config
    core = config.to_core()
    assert "ouch" not in core
    assert core["fix"] == {
        "addr": config.fix.addr if config.fix else None,
        "sender_comp_id": OUR_COMP_ID,
        "target_comp_id": VENUE_COMP_ID,
        "account": "ACC1",
        "state_file": "fix.state",
        "heartbeat_interval_secs": 1,
        "logon_timeout_ms": 3_000,
        "reconnect": True,
        "reset_seq_num_on_logon": False,
    }


def test_config_needs_exactly_one_order_entry_and_names_bad_fix_fields() -> None:
    plan = fix_plan()
    with Venue(plan.venue) as venue:
        fix_config = fix_engine_config(plan, venue)
        ouch_config = plan.engine(venue)
    with pytest.raises(ConfigError, match="exactly one order-entry section"):
        replace(fix_config, ouch=ouch_config.ouch).validate()
    with pytest.raises(ConfigError, match="exactly one order-entry section"):
        replace(fix_config, fix=None).validate()
    assert fix_config.fix is not None
    bad = replace(
        fix_config,
        fix=replace(fix_config.fix, sender_comp_id="", heartbeat_interval_secs=0),
    )
    problems = "\n".join(bad.problems())
    assert "fix.sender_comp_id" in problems
    assert "fix.heartbeat_interval_secs" in problems
