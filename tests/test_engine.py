"""End-to-end: the trading engine against the venue simulator on loopback.

Every test starts a real venue (matching, OUCH over SoupBinTCP, ITCH over MoldUDP64, a
background market) and a real engine (its pinned-loop thread, UDP feed, TCP order
session), and checks what the engine believes against what the venue knows
(`Venue.firm_state`: the venue's own ledger of our firm's fills and resting orders).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import demo
from quotewire.cli import main
from quotewire.engine import (
    Engine,
    EngineConfig,
    EngineThreads,
    FeedEndpoint,
    FirmLimits,
    OuchEndpoint,
    TradedInstrument,
    write_latency_logs,
)
from quotewire.errors import ConfigError
from quotewire.venue import Venue

OUR_FIRM = 1
# The tests share 2 cores with the venue and pytest: the engine yields when idle.
THREADS = EngineThreads(log_level="error", idle_sleep_us=20)


@contextmanager
def trading(setup: demo.Scenario | None = None, **changes: Any) -> Iterator[tuple[Venue, Engine]]:
    plan = setup or demo.scenario(threads=THREADS)
    with Venue(plan.venue) as venue:
        config = plan.engine(venue)
        if changes:
            config = replace(config, **changes)
        engine = Engine(config).start()
        try:
            yield venue, engine
        finally:
            engine.stop()


def venue_positions(venue: Venue) -> dict[int, int]:
    state = venue.firm_state(OUR_FIRM)
    positions = state["positions"]
    assert isinstance(positions, dict)
    return {int(k): int(v) for k, v in positions.items() if v}


def engine_positions(summary: dict[str, Any], config: EngineConfig) -> dict[int, int]:
    ids = {i.symbol: i.id for i in config.instruments}
    return {
        ids[symbol]: rec["position"]
        for symbol, rec in summary["instruments"].items()
        if rec["position"]
    }


def assert_books_agree(venue: Venue, engine: Engine, summary: dict[str, Any]) -> None:
    """Positions and traded shares per instrument equal the venue's, to the share."""
    state = venue.firm_state(OUR_FIRM)
    assert engine_positions(summary, engine.config) == venue_positions(venue)
    bought = sum(rec["bought"] for rec in summary["instruments"].values())
    sold = sum(rec["sold"] for rec in summary["instruments"].values())
    assert (bought, sold) == (state["bought"], state["sold"])
    assert state["open_orders"] == 0
    assert summary["counters"]["open_orders"] == 0


def test_engine_places_replaces_and_cancels_quotes_and_agrees_with_the_venue() -> None:
    with trading() as (venue, engine):
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] > 0, 10)
        time.sleep(3)
        snap = engine.snapshot()
        assert snap["killed"] is None
        assert any(r["bid_price"] is not None for r in snap["instruments"].values())
        summary = engine.stop()
        c = summary["counters"]
        assert c["orders_new"] > 0
        assert c["orders_replace"] > 0
        assert c["orders_cancel"] > 0  # the stop cancels what rests
        # Answers about orders already gone (a replace refused because the order had
        # just filled) are harmless; a fill for an order we do not know never is.
        assert summary["oms"]["unknown_fills"] == 0
        assert summary["oms"]["overfills"] == 0
        assert_books_agree(venue, engine, summary)
        # Our quotes never crossed each other: no self-cross reached the venue.
        assert summary["counters"]["send_errors"] == 0


LIMIT_CASES = [
    pytest.param({"max_order_qty": 50}, None, "max_order_qty", id="max_order_qty"),
    pytest.param(
        {"max_order_notional": "1000"}, None, "max_order_notional", id="max_order_notional"
    ),
    pytest.param(
        {"price_band_bps": 5, "half_spread_ticks": 40}, None, "price_band", id="price_band"
    ),
    pytest.param({"max_position": 50}, None, "position_limit", id="position_limit"),
    pytest.param(
        None,
        {"max_gross_exposure": "1000", "max_net_exposure": "1000000"},
        "gross_exposure",
        id="gross_exposure",
    ),
    pytest.param(
        None,
        {"max_net_exposure": "1000", "max_gross_exposure": "1000000"},
        "net_exposure",
        id="net_exposure",
    ),
    pytest.param(None, {"max_open_orders": 1}, "max_open_orders", id="max_open_orders"),
    pytest.param(None, {"orders_per_sec": 1, "burst": 1}, "throttle", id="throttle"),
]


@pytest.mark.parametrize(("instrument", "firm", "reason"), LIMIT_CASES)
def test_each_risk_limit_rejects_with_its_reason(
    instrument: dict[str, Any] | None, firm: dict[str, Any] | None, reason: str
) -> None:
    base = demo.scenario(threads=THREADS)

    def engine_config(v: Venue) -> EngineConfig:
        config = base.engine(v)
        if instrument:
            config = replace(
                config, instruments=[replace(i, **instrument) for i in config.instruments]
            )
        if firm:
            config = replace(config, firm=replace(config.firm, **firm))
        return config

    with trading(demo.Scenario(venue=base.venue, engine=engine_config)) as (venue, engine):
        assert wait_for(
            lambda: any(
                e["event"] == "risk_reject" and e["reason"] == reason for e in engine.events()
            ),
            10,
        ), f"no {reason} rejection"
        summary = engine.stop()
    assert summary["risk_rejects"][reason] > 0
    others = {k: v for k, v in summary["risk_rejects"].items() if v and k != reason}
    # Only the limit under test (and, for one-sided cases, self-cross) may reject.
    assert set(others) <= {"self_cross", "throttle"} - {reason}
    state = venue.firm_state(OUR_FIRM)
    assert state["open_orders"] == 0


def test_kill_switch_leaves_no_open_order_at_the_venue_within_a_round_trip() -> None:
    with trading() as (venue, engine):
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] >= 2, 10)
        time.sleep(0.5)
        before = venue.firm_state(OUR_FIRM)["open_orders"]
        t0 = time.monotonic()
        assert engine.kill()
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] == 0, 2, 0.0005)
        elapsed = time.monotonic() - t0
        # One round trip here is tens of microseconds; allow for the shared machine
        # and the polling of this test.
        assert elapsed < 0.25, f"{before} orders took {elapsed * 1e3:.1f} ms to cancel"
        snap = engine.snapshot()
        assert snap["killed"] == "manual"
        assert all(r["open_orders"] == 0 for r in snap["instruments"].values())
        # Blocked: nothing new reaches the venue while killed.
        time.sleep(0.5)
        assert venue.firm_state(OUR_FIRM)["open_orders"] == 0
        events = engine.events()
        killed_at = next(e["ts_ns"] for e in events if e["event"] == "killed")
        assert not [
            e
            for e in events
            if e["event"] == "sent" and e["action"] != "cancel" and e["ts_ns"] > killed_at
        ]
        assert engine.rearm()
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] > 0, 5)
        summary = engine.stop()
    assert_books_agree(venue, engine, summary)


@pytest.mark.parametrize("cancel_on_disconnect", [True, False], ids=["cod", "no-cod"])
def test_dropped_order_session_reconnects_and_reconciles_with_no_lost_fill(
    cancel_on_disconnect: bool,
) -> None:
    setup = demo.scenario(
        threads=THREADS, cancel_on_disconnect=cancel_on_disconnect, flow_rate=400.0
    )
    with trading(setup) as (venue, engine):
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] > 0, 10)
        for _ in range(2):
            time.sleep(1.0)
            engine.events()  # discard what came before the drop
            assert engine.drop_session()
            seen: list[dict[str, Any]] = []

            def ready(seen: list[dict[str, Any]] = seen) -> bool:
                seen.extend(engine.events())
                return any(e["event"] == "session_ready" for e in seen)

            assert wait_for(ready, 10), [e["event"] for e in seen]
            assert any(e["event"] == "session_lost" for e in seen)
        time.sleep(1.0)
        summary = engine.stop()
        events = summary["events"]
    assert summary["counters"]["kills"] >= 2
    assert summary["killed"] is None  # re-armed after each reconciliation
    assert summary["oms"]["unknown_fills"] == 0
    assert_books_agree(venue, engine, summary)
    assert any(e["event"] == "session_ready" for e in events) or summary["counters"]["kills"]


def test_feed_gap_pulls_quotes_until_recovered() -> None:
    setup = demo.scenario(threads=THREADS, drop_ppm=20_000)
    with trading(setup) as (venue, engine):
        events: list[dict[str, Any]] = []
        assert wait_for(
            lambda: (
                events.extend(engine.events()) is None
                and sum(e["event"] == "feed_recovered" for e in events) >= 3
            ),
            20,
        )
        summary = engine.stop()
        events.extend(summary["events"])
    in_gap = False
    gaps = 0
    for e in events:
        if e["event"] == "feed_gap":
            in_gap, gaps = True, gaps + 1
        elif e["event"] == "feed_recovered":
            in_gap = False
        elif e["event"] == "sent" and in_gap:
            assert e["action"] == "cancel", f"{e['action']} sent during a feed gap"
    assert gaps >= 3
    assert summary["counters"]["feed_gaps"] >= 3
    assert_books_agree(venue, engine, summary)


def test_live_parameter_and_limit_changes_are_acknowledged_and_validated() -> None:
    with trading() as (_venue, engine):
        assert engine.set_params("AAPL", half_spread_ticks=3, size=200)
        assert engine.set_limits("AAPL", max_order_qty=500)
        assert engine.set_limits(None, orders_per_sec=1_000)
        with pytest.raises(ConfigError, match="half_spread_ticks"):
            engine.set_params("AAPL", half_spread_ticks=0)
        with pytest.raises(ConfigError, match="unknown parameter"):
            engine.set_params("AAPL", spread=3)
        with pytest.raises(ConfigError, match="no instrument"):
            engine.set_params("NOPE", size=1)
        time.sleep(0.5)
        events = engine.events()
        kinds = [e["event"] for e in events]
        assert "params_changed" in kinds
        assert kinds.count("limits_changed") == 2
        # Events arrive in the order the fast path did things (their clock stamps come from
        # different reads within one loop turn, so compare positions, not timestamps).
        changed_at = kinds.index("params_changed")
        sizes = {
            e["qty"]
            for e in events[changed_at + 1 :]
            if e["event"] == "sent" and e["instrument"] == 1
        }
        assert sizes <= {0, 200}


def test_summary_histograms_decode_with_the_hdrhistogram_package(tmp_path: Path) -> None:
    hdrh = pytest.importorskip("hdrh.histogram")
    with trading() as (_venue, engine):
        time.sleep(2)
        summary = engine.stop()
    for name in ("tick_to_trade", "round_trip", "feed", "quote"):
        lat = summary["latency"][name]
        h = hdrh.HdrHistogram.decode(lat["histogram"])
        assert h.get_total_count() == lat["count"]
        if lat["count"]:
            # Percentiles of a few hundred samples differ by definition between the two
            # libraries (which sample a rank lands on); the recorded values are the same.
            assert abs(h.get_max_value() - lat["max_ns"]) <= lat["max_ns"] * 0.001 + 1
            assert abs(h.get_min_value() - lat["min_ns"]) <= lat["min_ns"] * 0.001 + 1
            assert abs(h.get_mean_value() - lat["mean_ns"]) <= lat["mean_ns"] * 0.01 + 1
    paths = write_latency_logs(summary, tmp_path)
    assert {p.name for p in paths} >= {"tick_to_trade.hlog", "round_trip.hlog"}
    reader = pytest.importorskip("hdrh.log").HistogramLogReader(
        str(tmp_path / "tick_to_trade.hlog"), hdrh.HdrHistogram(1, 60_000_000_000, 3)
    )
    h = reader.get_next_interval_histogram()
    assert h is not None and h.get_total_count() == summary["latency"]["tick_to_trade"]["count"]


def test_engine_config_refuses_bad_values_naming_field_value_and_range() -> None:
    inst = TradedInstrument("AAPL", 1, half_spread_ticks=0, size=-5)
    with pytest.raises(ConfigError) as err:
        EngineConfig(
            instruments=[inst],
            feed=FeedEndpoint(bind="127.0.0.1:5000"),
            ouch=OuchEndpoint(addr="127.0.0.1:1", username="u", password="p"),
            firm=FirmLimits(burst=0),
            engine=EngineThreads(log_level="loud"),
        ).validate()
    text = str(err.value)
    for needle in (
        "instruments[0].half_spread_ticks: 0 is not in 1..100000",
        "instruments[0].size: -5",
        "firm.burst: 0",
        "engine.log_level: 'loud'",
    ):
        assert needle in text


def test_engine_config_toml_round_trip(tmp_path: Path) -> None:
    with Venue(demo.scenario().venue) as venue:
        config = demo.scenario().engine(venue)
    path = config.save(tmp_path / "engine.toml")
    again = EngineConfig.load(path)
    assert again.to_core() == config.to_core()
    text = path.read_text()
    path.write_text(text.replace("half_spread_ticks", "half_spread_tiks", 1))
    with pytest.raises(ConfigError, match="half_spread_tiks"):
        EngineConfig.load(path)


def test_demo_command_prints_fills_pnl_rejects_and_latency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--seconds", "3"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "orders sent",
        "fills",
        "realised",
        "PnL",
        "risk rejects",
        "tick-to-trade",
        "order round trip",
        "p99.9",
    ):
        assert needle in out, needle


def test_run_command_trades_from_a_toml_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = demo.scenario(threads=THREADS)
    with Venue(plan.venue) as venue:
        path = plan.engine(venue).save(tmp_path / "engine.toml")
        assert main(["run", str(path), "--seconds", "2", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["counters"]["orders_new"] > 0
        assert venue.firm_state(OUR_FIRM)["open_orders"] == 0
    Decimal(str(summary["total_pnl"]))  # money arrives as exact decimal text


def test_example_engine_config_loads_and_names_the_example_venue() -> None:
    root = Path(__file__).resolve().parent.parent
    from quotewire.venue import VenueConfig

    engine = EngineConfig.load(root / "examples" / "engine.toml")
    venue = VenueConfig.load(root / "examples" / "venue.toml")
    by_symbol = {i.symbol: i.id for i in venue.instruments}
    for inst in engine.instruments:
        assert by_symbol[inst.symbol] == inst.id
    assert venue.ouch is not None and venue.itch is not None
    assert engine.ouch.addr == venue.ouch.listen
    assert engine.feed.bind == venue.itch.destination
    assert engine.feed.retransmit == venue.itch.retransmit_bind
    assert any(
        a.username == engine.ouch.username and a.password == engine.ouch.password
        for a in venue.ouch.accounts
    )


def test_engine_journals_packets_orders_reports_and_changes(tmp_path: Path) -> None:
    from quotewire import _core

    journal = tmp_path / "journal"
    threads = replace(THREADS, journal_dir=str(journal), journal_segment_mb=1)
    with trading(demo.scenario(threads=threads)) as (venue, engine):
        assert wait_for(lambda: venue.firm_state(OUR_FIRM)["open_orders"] > 0, 10)
        assert engine.set_params("AAPL", half_spread_ticks=2)
        time.sleep(2)
        summary = engine.stop()
    j = summary["journal"]
    assert j["dropped"] == 0 and j["failed"] == 0 and j["written"] > 0
    info = _core.journal_inspect(str(journal))
    kinds = info["by_kind"]
    assert isinstance(kinds, dict)
    c = summary["counters"]
    assert kinds["inbound_packet"] == c["datagrams"]
    assert kinds["order_request"] == c["orders_new"] + c["orders_replace"] + c["orders_cancel"]
    assert kinds["exec_report"] == c["reports"]
    assert info["checksum_errors"] == [] and info["torn_tail"] is None
    orders = _core.journal_orders(str(journal))
    fills = orders["reports"][orders["reports"]["kind"] == b"E"]
    assert len(fills) == c["fills"]
    notes = [text for _ts, text in _core.journal_notes(str(journal))]
    assert any("source=user" in n and "SetParams" in n for n in notes)
