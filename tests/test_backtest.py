"""Backtests with the live code (`quotewire.backtest`, `quotewire backtest`).

The main data is a journal of a real session: the demo's engine quoting against the venue
simulator's background market until it has fills. Replaying that journal with the
session's own recorded round trips and letting the simulated orders stand in for the
recorded ones must give back the session's fills (tolerance below); the same inputs must
give byte-identical results; the report must be written and readable.
"""

from __future__ import annotations

import filecmp
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import RunCli, last_json_line, wait_for

pytest.importorskip("quotewire._core")

import quotewire
from quotewire import _core, bench, demo, export
from quotewire.backtesting import Latency, backtest, resolve_data, strategy_config
from quotewire.engine import Engine, EngineConfig, EngineThreads
from quotewire.errors import ConfigError, DataError
from quotewire.venue import Venue

OUR_FIRM = 1
LIVE_FILLS = 6
# Share of the live session's filled shares the backtest must reproduce, matched by
# instrument, side and price. Why not exactly 1.0: the backtest draws each request's
# latency from the session's recorded round trips (not the same draw per request as
# live), counts the engine's compute time as zero and lets the venue see market data at
# the engine's receive time, so a quote can reach the venue slightly earlier or later
# than live and a marginal fill can land on the other side of a queue change.
REPRODUCTION_TOLERANCE = 0.8


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EngineConfig, int]:
    """(journal, the engine's config, the venue's count of our executions)."""
    directory = tmp_path_factory.mktemp("bt") / "journal"
    threads = EngineThreads(log_level="error", idle_sleep_us=20, journal_dir=str(directory))
    plan = demo.scenario(threads=threads)
    with Venue(plan.venue) as venue:
        config = plan.engine(venue)
        engine = Engine(config).start()
        try:
            assert wait_for(lambda: int(venue.firm_state(OUR_FIRM)["executions"]) >= LIVE_FILLS, 60)
            time.sleep(0.5)
        finally:
            engine.stop()
        executions = int(venue.firm_state(OUR_FIRM)["executions"])
    return directory, config, executions


def test_a_backtest_of_a_recorded_session_reproduces_its_fills_with_its_latencies(
    session: tuple[Path, EngineConfig, int],
) -> None:
    journal, config, executions = session
    result = backtest(journal, config, latency=Latency.of_journal(journal))
    s = result.summary
    assert result.recorded_fills is not None
    # The journal holds every fill the venue reported to us.
    assert result.recorded_fills.num_rows == executions
    rep = s["reproduction"]
    assert rep["live_shares"] > 0
    assert rep["score"] >= REPRODUCTION_TOLERANCE, rep
    # Every backtest fill is at a price the strategy quoted, positions follow the fills.
    signed = np.where(np.asarray(result.fills.column("side").to_pylist()) == "B", 1, -1)
    pos = np.cumsum(signed * np.asarray(result.fills.column("qty")))
    one_instrument = len(set(result.fills.column("instrument").to_pylist())) == 1
    if one_instrument:
        assert pos.tolist() == result.fills.column("position").to_pylist()
    assert s["stand_in"] is True and s["journal"] is True


def test_without_standing_in_the_backtest_trades_beside_its_own_recorded_orders(
    session: tuple[Path, EngineConfig, int],
) -> None:
    """Kept in the public book, the recorded orders queue ahead of the simulated ones: the
    replay no longer is the session (the reason stand-in is the journal default)."""
    journal, config, _ = session
    latency = Latency.of_journal(journal)
    stood = backtest(journal, config, latency=latency)
    beside = backtest(journal, config, latency=latency, stand_in=False)
    assert beside.summary["stand_in"] is False
    assert stood.summary["recorded_own_shares_executed"] > 0
    assert beside.summary["recorded_own_shares_executed"] == 0
    assert beside.summary["reproduction"]["score"] <= stood.summary["reproduction"]["score"]


def test_two_runs_of_the_same_inputs_write_identical_files(
    session: tuple[Path, EngineConfig, int], tmp_path: Path
) -> None:
    journal, config, _ = session
    hist = Latency(round_trips_ns=((20_000, 5), (80_000, 3), (400_000, 1)))
    outs = []
    for run in ("a", "b"):
        result = backtest(journal, config, latency=hist, seed=7)
        out = tmp_path / run
        result.write(out, report=False)
        outs.append(out)
    for name in ("orders.parquet", "fills.parquet", "pnl.parquet", "recorded_fills.parquet"):
        assert filecmp.cmp(outs[0] / name, outs[1] / name, shallow=False), name
    a = json.loads((outs[0] / "summary.json").read_text())
    b = json.loads((outs[1] / "summary.json").read_text())
    for timing in ("elapsed_s", "messages_per_sec"):
        a.pop(timing)
        b.pop(timing)
    assert a == b
    assert pq.read_table(outs[0] / "orders.parquet").num_rows > 0


def test_the_backtest_command_writes_parquet_results_and_a_report(
    session: tuple[Path, EngineConfig, int], tmp_path: Path, run_cli: RunCli
) -> None:
    journal, config, _ = session
    cfg = tmp_path / "strategy.toml"
    config.save(cfg)
    out = tmp_path / "bt"
    code, stdout, stderr = run_cli(
        "backtest", "--data", str(journal), "--config", str(cfg), "--out", str(out)
    )
    assert code == 0, stderr
    assert "vs live" in stdout and "fill ratio" in stdout
    for name in ("orders", "fills", "pnl"):
        table = pq.read_table(out / f"{name}.parquet")
        assert "ts_ns" in table.column_names
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert 'id="charts"' in page and "data:image/png;base64," in page
    assert "fill_ratio" in page and "spread_captured" in page
    pnl = pq.read_table(out / "pnl.parquet")
    assert {"position", "realised_raw", "unrealised_raw", "mid_raw", "symbol"} <= set(
        pnl.column_names
    )
    code, stdout, _ = run_cli("backtest", "--data", str(journal), "--config", str(cfg), "--json")
    summary = last_json_line(stdout)
    assert summary["fills"] == pq.read_table(out / "fills.parquet").num_rows


def test_a_capture_replays_with_a_strategy_only_config(tmp_path: Path) -> None:
    data = tmp_path / "session.itch"
    _core.generate_session(str(data), messages=60_000, instruments=3, seed=5, format="daily")
    config = bench.backtest_config(data)
    assert len(config.instruments) == 3
    result = quotewire.backtest(data, config, latency=Latency(order_us=5, ack_us=5, md_us=2))
    s = result.summary
    assert s["messages"] == 60_000
    assert s["journal"] is False and "recorded" not in s
    assert s["orders_new"] > 0
    # A strategy-only TOML (no feed or order-entry section) is enough for a backtest.
    toml = tmp_path / "strategy.toml"
    toml.write_text('[[instruments]]\nid = 1\nsymbol = "SYM00001"\nhalf_spread_ticks = 1\n')
    only = backtest(data, toml)
    assert only.summary["orders_new"] > 0


def test_latency_from_an_hdr_log_draws_the_logged_round_trips(tmp_path: Path) -> None:
    hdrh = pytest.importorskip("hdrh.histogram")
    log = pytest.importorskip("hdrh.log")
    h = hdrh.HdrHistogram(1, 60_000_000_000, 3)
    for v, n in ((15_000, 40), (90_000, 10)):
        h.record_value(v, n)
    path = tmp_path / "rtt.hlog"
    with path.open("w") as fh:
        writer = log.HistogramLogWriter(fh)
        writer.output_interval_histogram(h)
    lat = Latency.from_hdr_log(path)
    assert lat.round_trips_ns is not None
    assert sum(c for _, c in lat.round_trips_ns) == 50
    assert {round(v, -3) for v, _ in lat.round_trips_ns} == {15_000, 90_000}


def test_bad_backtest_inputs_are_refused_with_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data"):
        resolve_data(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a journal"):
        resolve_data(tmp_path / "empty")
    with pytest.raises(ConfigError, match="order_us"):
        Latency(order_us=-1)
    with pytest.raises(ConfigError, match="positive count"):
        Latency(round_trips_ns=((1_000, 0),))
    data = tmp_path / "s.itch"
    _core.generate_session(str(data), messages=2_000, instruments=1, seed=1, format="daily")
    cfg = strategy_config({"instruments": [{"id": 1, "symbol": "SYM00001"}]})
    with pytest.raises(ConfigError, match="stand_in needs a journal"):
        backtest(data, cfg, stand_in=True)


def test_bench_backtest_prints_one_json_line_with_the_standard_fields(run_cli: RunCli) -> None:
    code, stdout, stderr = run_cli(
        "bench", "backtest", "--messages", "30000", "--instruments", "2", "--json"
    )
    assert code == 0, stderr
    record = last_json_line(stdout)
    for key in bench.REQUIRED_KEYS:
        assert key in record, key
    assert record["bench"] == "backtest"
    assert record["count"] == 30_000
    assert isinstance(record["per_sec"], float) and record["per_sec"] > 0


def test_an_exported_history_directory_replays_its_recorded_feed(
    session: tuple[Path, EngineConfig, int], tmp_path: Path
) -> None:
    """`quotewire export` keeps the feed as received; a backtest of the export directory
    trades on the same packets as one of the journal (the recorded own orders stay in the
    public book: an export has no stand-in list, so compare with stand_in=False)."""
    journal, config, _ = session
    out = tmp_path / "history"
    export.export(journal, out, depth=0)
    assert resolve_data(out) == (out / "capture" / "feed.pcap", False)
    latency = Latency(order_us=40, ack_us=40)
    from_export = backtest(out, config, latency=latency)
    from_journal = backtest(journal, config, latency=latency, stand_in=False)
    # The export puts the stock directory the engine joined too late for in front of the
    # feed (one message per instrument): nothing else differs.
    added = from_export.summary["messages"] - from_journal.summary["messages"]
    assert added in (0, len(config.instruments))
    assert (
        from_export.fills.column("price_raw").to_pylist()
        == from_journal.fills.column("price_raw").to_pylist()
    )
