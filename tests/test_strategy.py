"""End-to-end: quoting models, live tuning and automatic rules, driven from Python against
the venue simulator on loopback; what the engine believes is checked against the venue's
own view of our orders (`Venue.firm_state(...)["orders"]`)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import demo
from quotewire.engine import (
    Engine,
    EngineConfig,
    EngineThreads,
    FeedEndpoint,
    OuchEndpoint,
    Rule,
    TradedInstrument,
)
from quotewire.errors import ConfigError, QuotewireError
from quotewire.venue import Venue

OUR_FIRM = 1
TICK = Decimal("0.01")
THREADS = EngineThreads(log_level="error", idle_sleep_us=20)


def instruments(**params: Any) -> list[TradedInstrument]:
    base: dict[str, Any] = {
        "size": 100,
        "quote_max_position": 1_000,
        "max_position": 2_000,
        "max_order_qty": 1_000,
    }
    base.update(params)
    return [TradedInstrument(symbol, ident, **base) for symbol, ident, *_ in demo.DEMO_INSTRUMENTS]


def venue_quotes(venue: Venue, instrument: int) -> tuple[list[Decimal], list[Decimal]]:
    """Prices of our resting bids (best first) and asks at the venue."""
    orders = venue.firm_state(OUR_FIRM)["orders"]
    assert isinstance(orders, list)
    bids = sorted(
        (o["price"] for o in orders if o["instrument"] == instrument and o["side"] == "buy"),
        reverse=True,
    )
    asks = sorted(
        o["price"] for o in orders if o["instrument"] == instrument and o["side"] == "sell"
    )
    return bids, asks


def venue_width(venue: Venue, instrument: int) -> Decimal | None:
    bids, asks = venue_quotes(venue, instrument)
    if not bids or not asks:
        return None
    return (asks[0] - bids[0]) / TICK


def start(setup: demo.Scenario, **changes: Any) -> tuple[Venue, Engine]:
    venue = Venue(setup.venue)
    config = setup.engine(venue)
    if changes:
        config = replace(config, **changes)
    return venue, Engine(config).start()


def test_changing_the_spread_moves_the_live_quotes_at_the_venue_at_once() -> None:
    setup = demo.scenario(
        threads=THREADS, instruments=instruments(skew_ticks=0, half_spread_ticks=1)
    )
    venue, engine = start(setup)
    try:
        assert wait_for(lambda: (venue_width(venue, 1) or 99) <= 3, 10)
        t0 = time.monotonic()
        assert engine.set_params("AAPL", half_spread_ticks=6)
        # The acknowledgement means the fast path applied it and sent the replaces: the
        # venue holds the wide quotes one round trip later, no market-data event needed.
        assert wait_for(lambda: (venue_width(venue, 1) or 0) >= 12, 1.0, 0.001)
        assert time.monotonic() - t0 < 1.0
        # The other instruments are untouched.
        # (a fill may take a side away for a moment: wait for both sides)
        assert wait_for(lambda: (venue_width(venue, 2) or 99) <= 3, 3)
        # Events reach Python through the writer thread: collect until the change is there.
        change: list[dict[str, Any]] = []

        def changed() -> bool:
            change.extend(e for e in engine.events() if e["event"] == "params_changed")
            return bool(change)

        assert wait_for(changed, 5)
        assert change[0]["source"] == "user" and change[0]["symbol"] == "AAPL"
        # And back: the skew moves the quotes too once inventory builds (skew is tested in Rust
        # against the formula); here only the spread change reaches the venue.
        assert engine.set_params("AAPL", half_spread_ticks=1)
        assert wait_for(lambda: (venue_width(venue, 1) or 99) <= 3, 1.0, 0.001)
    finally:
        engine.stop()
        venue.stop()


def test_volatility_rule_widens_quotes_when_the_simulators_volatility_is_raised() -> None:
    setup = demo.scenario(
        threads=THREADS,
        instruments=instruments(skew_ticks=0, half_spread_ticks=1, vol_half_life_s=1.0),
    )
    rule = Rule("hot", metric="volatility", threshold=10.0, widen_ticks=5, instrument="AAPL")
    venue, engine = start(setup, rules=[rule])
    try:
        assert wait_for(lambda: (venue_width(venue, 1) or 99) <= 3, 10)
        time.sleep(1.0)
        calm = engine.snapshot()["instruments"]["AAPL"]["model"]["sigma"]
        assert calm < 10.0, calm
        assert not [e for e in engine.events() if e["event"] == "rule_changed"]
        venue.set_background("AAPL", volatility_ticks_per_sqrt_s=60.0)
        events: list[dict[str, Any]] = []

        def fired() -> bool:
            events.extend(engine.events())
            return any(e["event"] == "rule_changed" and e["on"] for e in events)

        assert wait_for(fired, 15), engine.snapshot()["instruments"]["AAPL"]["model"]
        on = next(e for e in events if e["event"] == "rule_changed")
        assert (on["rule_name"], on["symbol"], on["source"]) == ("hot", "AAPL", "rule")
        # Widened by 5 ticks a side while the rule holds (unless a fill took a level away).
        assert wait_for(lambda: (venue_width(venue, 1) or 0) >= 12, 2, 0.002)
        snap = engine.snapshot()["instruments"]["AAPL"]
        assert snap["rules_active"] == 1
        assert snap["model"]["sigma"] > 10.0
        # MSFT has no such rule and its market is calm: its quotes stay tight.
        # (a fill may take a side away for a moment: wait for both sides)
        assert wait_for(lambda: (venue_width(venue, 2) or 99) <= 3, 3)
    finally:
        engine.stop()
        venue.stop()


@pytest.mark.parametrize("model", ["glft", "avellaneda_stoikov"])
def test_models_quote_and_the_snapshot_agrees_with_the_venues_view_of_our_orders(
    model: str,
) -> None:
    setup = demo.scenario(
        threads=THREADS,
        instruments=instruments(
            model=model,
            gamma=0.05,
            levels=2,
            horizon_s=60.0 if model == "avellaneda_stoikov" else None,
        ),
    )
    venue, engine = start(setup)
    try:
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] >= 6, 10)
        time.sleep(2.0)
        # Freeze the market so the two views can be compared at rest.
        for symbol, *_ in demo.DEMO_INSTRUMENTS:
            venue.set_background(symbol, limit_rate=0.0, market_rate=0.0, cancel_rate=0.0)

        def agree() -> bool:
            snap = engine.snapshot()
            ours = {
                (rec["instrument"], side, price, qty)
                for rec in snap["instruments"].values()
                for side, key in (("buy", "bids"), ("sell", "asks"))
                for price, qty in rec[key]
            }
            state = venue.firm_state(OUR_FIRM)
            theirs = {(o["instrument"], o["side"], o["price"], o["qty"]) for o in state["orders"]}
            return bool(ours) and ours == theirs and state["open_orders"] == len(theirs)

        assert wait_for(agree, 5, 0.05)
        snap = engine.snapshot()
        for rec in snap["instruments"].values():
            m = rec["model"]
            assert m["sigma"] > 0 and m["a"] > 0 and m["k"] > 0
            assert len(rec["bids"]) == 2 and len(rec["asks"]) == 2
            assert rec["bids"][0][0] > rec["bids"][1][0]
        summary = engine.stop()
        state = venue.firm_state(OUR_FIRM)
        assert state["open_orders"] == 0
        positions = {int(k): int(v) for k, v in state["positions"].items() if v}
        ids = {i.symbol: i.id for i in engine.config.instruments}
        assert positions == {
            ids[s]: r["position"] for s, r in summary["instruments"].items() if r["position"]
        }
    finally:
        engine.stop()
        venue.stop()


def test_model_and_rule_configs_are_refused_naming_field_value_and_range() -> None:
    bad = TradedInstrument(
        "AAPL", 1, model="black_scholes", gamma=-1.0, levels=5, sigma=float("nan")
    )
    feed = FeedEndpoint(bind="127.0.0.1:5000")
    ouch = OuchEndpoint(addr="127.0.0.1:1", username="u", password="p")
    with pytest.raises(ConfigError) as err:
        EngineConfig(
            instruments=[bad],
            feed=feed,
            ouch=ouch,
            rules=[
                Rule("r", metric="moon_phase", threshold=1.0),
                Rule("r", metric="volatility", threshold=1.0, instrument="MSFT", size_pct=5_000),
            ],
        ).validate()
    text = str(err.value)
    for needle in (
        "instruments[0].model: 'black_scholes' is not one of skew, avellaneda_stoikov, glft",
        "instruments[0].gamma: -1.0 is not in",
        "instruments[0].levels: 5 is not in 1..4",
        "instruments[0].sigma: nan",
        "rules[0].metric: 'moon_phase'",
        "rules[1].instrument: 'MSFT' is not a configured symbol",
        "rules[1].size_pct: 5000 is not in 0..1000",
        "rules[1].name: 'r' appears more than once",
    ):
        assert needle in text, needle


def test_engine_config_with_models_and_rules_round_trips_through_toml(tmp_path: Path) -> None:
    with Venue(demo.scenario().venue) as venue:
        base = demo.scenario(instruments=instruments(model="glft", sigma=2.5, levels=3)).engine(
            venue
        )
    config = replace(base, rules=[Rule("hot", metric="volatility", threshold=8.0, widen_ticks=2)])
    path = config.save(tmp_path / "engine.toml")
    again = EngineConfig.load(path)
    assert again.to_core() == config.to_core()
    assert again.rules[0].widen_ticks == 2 and again.instruments[0].sigma == 2.5


def test_engine_must_be_started_before_it_is_driven() -> None:
    with Venue(demo.scenario().venue) as venue:
        config = demo.scenario().engine(venue)
    engine = Engine(config)
    assert not engine.running
    with pytest.raises(QuotewireError, match="not started"):
        engine.kill()


def test_quant_day_example_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, str(root / "examples" / "quant_day.py"), "--seconds-per-phase", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for needle in (
        "after warm-up",
        "audit trail",
        "params_changed",
        "hot-market",
        "HDR latency logs",
    ):
        assert needle in out, needle
