"""History in open formats: a real trading session's journal exported to Parquet
(`quotewire.export`) and queried with DuckDB (`quotewire.history`).

The journal comes from a short demo session: the venue simulator with its background
market, and the engine quoting against it with `journal_dir` set. Every check compares the
export with an independent reading of the same journal: the `quotewire.itch` replays of the
feed it recorded (`_core.journal_to_pcap`) and `_core.journal_orders`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import RunCli, last_json_line, wait_for

pytest.importorskip("quotewire._core")
pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

from quotewire import _core, demo, export, history, itch
from quotewire.engine import Engine, EngineThreads
from quotewire.errors import ConfigError
from quotewire.venue import Venue

SYMBOLS = [symbol for symbol, *_ in demo.DEMO_INSTRUMENTS]
# Instrument id = stock locate. The engine joins the venue's feed after its stock directory
# went out, so the journal alone cannot name them: the export is told, as from a config.
IDS = {ident: symbol for symbol, ident, *_ in demo.DEMO_INSTRUMENTS}
NS_PER_DAY = 86_400 * 1_000_000_000
DEPTH = 3
OUR_FIRM = 1


@dataclass(frozen=True)
class Exported:
    journal: Path
    pcap: Path
    """The journal's packets as `_core.journal_to_pcap` writes them (no stock directory)."""
    named_pcap: Path
    """The same with the directory put in front (`export.feed_pcap`), for replays by name."""
    out: Path
    summary: export.ExportSummary


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal of a few seconds of the demo: our quotes, fills and the whole feed."""
    directory = tmp_path_factory.mktemp("journal") / "journal"
    threads = EngineThreads(log_level="error", idle_sleep_us=20, journal_dir=str(directory))
    plan = demo.scenario(threads=threads)
    with Venue(plan.venue) as venue:
        engine = Engine(plan.engine(venue)).start()
        try:
            # Trade until we have fills (the background market takes our quotes).
            assert wait_for(lambda: int(venue.firm_state(OUR_FIRM)["executions"]) >= 2, 30)
            time.sleep(1.0)
        finally:
            engine.stop()
    return directory


@pytest.fixture(scope="module")
def exported(journal: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    work = tmp_path_factory.mktemp("export")
    pcap = work / "feed.pcap"
    _core.journal_to_pcap(str(journal), str(pcap))
    named = work / "named.pcap"
    export.feed_pcap(journal, named, IDS)
    summary = export.export(journal, work / "history", depth=DEPTH, symbols=IDS)
    return Exported(
        journal=journal, pcap=pcap, named_pcap=named, out=work / "history", summary=summary
    )


def _filled(values: np.ndarray) -> np.ndarray:
    """A nullable DuckDB column (a masked array) with nulls as 0, as the replays read."""
    return np.ma.filled(values, 0) if isinstance(values, np.ma.MaskedArray) else values


# --------------------------------------------------------------------------- market data


def test_bbo_rows_of_each_symbol_equal_the_replay_of_the_journaled_feed(
    exported: Exported,
) -> None:
    h = history.open(exported.out)
    every = itch.replay_bbo(exported.pcap)  # the bare journal feed, by locate
    for ident, symbol in IDS.items():
        got = h.bbo(symbol).fetchnumpy()
        mine = every["locate"] == ident
        want = {k: v[mine] for k, v in every.items()}
        assert len(got["ts"]) == len(want["timestamp_ns"]) > 0, symbol
        # The venue stamps ITCH with nanoseconds since midnight UTC.
        since_midnight = got["ts"].astype("datetime64[ns]").astype(np.int64) % NS_PER_DAY
        assert np.array_equal(since_midnight, want["timestamp_ns"].astype(np.int64))
        for side in ("bid", "ask"):
            assert np.array_equal(_filled(got[f"{side}_price_raw"]), want[f"{side}_px"])
            assert np.array_equal(_filled(got[f"{side}_qty"]), want[f"{side}_qty"])
        assert set(got["symbol"].tolist()) == {symbol}
        assert set(got["locate"].tolist()) == {ident}


def test_bbo_query_returns_one_symbols_rows_in_time_order_with_exact_prices(
    exported: Exported,
) -> None:
    df = history.open(exported.out).bbo("AAPL").df()
    assert len(df) > 0
    assert df["ts"].is_monotonic_increasing
    assert (df["symbol"] == "AAPL").all()
    quoted = df.dropna(subset=["bid_price_raw"])
    # The decimal column is the raw integer with four implied decimals, exactly.
    assert (quoted["bid_price"] * 10_000).round().astype("int64").tolist() == quoted[
        "bid_price_raw"
    ].astype("int64").tolist()
    one_day = history.open(exported.out).bbo("AAPL", date=df["date"].iloc[0].date()).df()
    assert 0 < len(one_day) <= len(df)
    total = history.open(exported.out).sql("SELECT count(*) FROM bbo").fetchall()[0]
    assert total == (exported.summary.rows["bbo"],)


def test_itch_rows_count_every_order_book_message_of_the_feed_by_type(
    exported: Exported,
) -> None:
    h = history.open(exported.out)
    messages = itch.read(exported.pcap)
    counts = dict(h.sql("SELECT type, count(*) FROM itch GROUP BY type").fetchall())
    for tag in "AFECXDUPQ":
        assert counts.get(tag, 0) == messages[itch.NAMES[tag]].size, tag
    adds = h.itch("AAPL", types=["add_order", "E"]).fetchnumpy()
    assert set(adds["type"].tolist()) == {"A", "E"}
    aapl = messages["add_order"]["stock_locate"] == 1
    assert (adds["type"] == "A").sum() == aapl.sum()
    assert np.all(np.diff(adds["ts"].astype("datetime64[ns]").astype(np.int64)) >= 0)


def test_trades_carry_the_resting_orders_price_and_our_fills_appear_in_them(
    exported: Exported,
) -> None:
    h = history.open(exported.out)
    unpriced = h.sql(
        "SELECT count(*) FROM trades t WHERE t.type = 'E' AND t.price IS NULL AND "
        "t.order_ref IN (SELECT order_ref FROM itch WHERE type IN ('A', 'F') "
        "UNION SELECT new_order_ref FROM itch WHERE type = 'U')"
    ).fetchall()[0]
    assert unpriced == (0,)
    # An E's price is the price of the add or replace that created its order reference.
    mismatched = h.sql(
        "WITH placed AS (SELECT coalesce(new_order_ref, order_ref) AS ref, price_raw "
        "FROM itch WHERE type IN ('A', 'F', 'U')) "
        "SELECT count(*) FROM trades t JOIN placed p ON t.order_ref = p.ref "
        "WHERE t.type = 'E' AND t.price_raw <> p.price_raw"
    ).fetchall()[0]
    assert mismatched == (0,)
    # Each of our executions was printed by the feed at the same price and size.
    joined = h.sql(
        "SELECT f.price_raw, t.price_raw, f.qty, t.shares, f.symbol, t.symbol "
        "FROM fills f JOIN trades t USING (match_number) WHERE f.kind = 'E'"
    ).fetchall()
    fills = h.fills().fetchnumpy()
    assert len(joined) == int((fills["kind"] == "E").sum()) > 0
    for f_px, t_px, f_qty, t_shares, f_sym, t_sym in joined:
        assert (f_px, f_qty, f_sym) == (t_px, t_shares, t_sym)


def test_l2_last_snapshot_equals_the_book_at_the_end_of_the_feed(exported: Exported) -> None:
    h = history.open(exported.out)
    for symbol in SYMBOLS:
        book = itch.book(exported.named_pcap, symbol, depth=DEPTH)
        rows = h.sql(
            "SELECT side, level, price_raw, qty, orders FROM l2 WHERE symbol = ? AND "
            "snapshot = (SELECT max(snapshot) FROM l2 WHERE symbol = ?) ORDER BY side, level",
            [symbol, symbol],
        ).fetchall()
        want = [("B", i + 1, lv.price_raw, lv.qty, lv.count) for i, lv in enumerate(book.bids)] + [
            ("S", i + 1, lv.price_raw, lv.qty, lv.count) for i, lv in enumerate(book.asks)
        ]
        assert rows == want, symbol
    levels = h.l2("AAPL").fetchnumpy()
    assert levels["level"].max() <= DEPTH
    assert np.all(np.diff(levels["snapshot"]) >= 0)


# --------------------------------------------------------------------------- orders, layout


def test_orders_and_fills_equal_the_journals_requests_and_executions(
    exported: Exported,
) -> None:
    h = history.open(exported.out)
    recorded = _core.journal_orders(str(exported.journal))
    requests, reports = recorded["requests"], recorded["reports"]
    executions = np.isin(reports["kind"], [b"E", b"B"])
    assert exported.summary.rows["orders"] == len(requests) > 0
    assert exported.summary.rows["fills"] == int(executions.sum()) > 0
    orders = h.orders().fetchnumpy()
    assert len(orders["ts"]) == len(requests)
    assert set(orders["symbol"].tolist()) <= set(SYMBOLS)
    assert sorted(orders["cl"].tolist()) == sorted(requests["cl"].tolist())
    fills = h.fills().fetchnumpy()
    assert sorted(fills["match_number"].tolist()) == sorted(
        reports["match_number"][executions].tolist()
    )
    assert set(fills["side"].tolist()) <= {"B", "S"}
    assert np.all(np.diff(fills["ts"].astype("datetime64[ns]").astype(np.int64)) >= 0)


def test_tables_are_partitioned_by_utc_date_and_symbol(exported: Exported) -> None:
    s = exported.summary
    info = _core.journal_inspect(str(exported.journal))
    day = dt.datetime.fromtimestamp(info["first_ts_unix_ns"] / 1e9, dt.UTC).date()
    assert str(day) in s.dates
    h = history.open(exported.out)
    for table in export.TABLES:
        assert s.rows[table] > 0, table
        assert s.bytes[table] > 0, table
        symbols = [r[0] for r in h.sql(f"SELECT DISTINCT symbol FROM {table}").fetchall()]
        if table in export.MARKET_DATA_TABLES:
            assert sorted(symbols) == sorted(SYMBOLS), table
        for symbol in symbols:
            files = list((exported.out / table / f"date={day}" / f"symbol={symbol}").iterdir())
            assert [f.suffix for f in files] == [".parquet"], (table, symbol)
    assert set(SYMBOLS) <= set(s.symbols)
    assert s.market_data_messages > 0
    assert s.bytes_per_million_messages == pytest.approx(
        s.total_bytes * 1e6 / s.market_data_messages
    )
    assert s.skipped_records == []


# --------------------------------------------------------------------------- damage, CLI


def _records(segment: Path) -> list[tuple[int, int, int]]:
    """(offset, kind, payload length) of every record of a segment, per the format."""
    data = segment.read_bytes()
    out, offset = [], 64
    while offset + 24 <= len(data) and data[offset : offset + 24] != bytes(24):
        length, _crc, kind = struct.unpack_from("<IIB", data, offset)
        out.append((offset, kind, length))
        offset += 24 + (length + 7) // 8 * 8
    return out


def test_export_of_a_journal_with_a_corrupt_record_skips_it_and_reports_it(
    exported: Exported, tmp_path: Path
) -> None:
    damaged = tmp_path / "journal"
    shutil.copytree(exported.journal, damaged)
    segment = sorted(damaged.glob("journal-*.qwj"))[0]
    offset, _, _ = next(r for r in _records(segment) if r[1] == 2)  # an order request
    data = bytearray(segment.read_bytes())
    data[offset + 24 + 24] ^= 0xFF  # a byte of its quantity
    segment.write_bytes(bytes(data))

    s = export.export(damaged, tmp_path / "history", depth=0, symbols=IDS)
    assert len(s.skipped_records) == 1
    assert s.skipped_records[0]["offset"] == offset
    assert s.rows["orders"] == exported.summary.rows["orders"] - 1
    assert s.rows["orders"] == len(_core.journal_orders(str(damaged))["requests"])
    assert s.rows["l2"] == 0
    h = history.open(tmp_path / "history")
    assert h.tables["l2"] is False
    empty = h.l2("AAPL").df()
    assert len(empty) == 0 and "price_raw" in empty.columns
    assert h.sql("SELECT count(*) FROM orders").fetchall()[0] == (s.rows["orders"],)


def test_export_command_prints_rows_bytes_and_skipped_records(
    exported: Exported, tmp_path: Path, run_cli: RunCli
) -> None:
    ids = ",".join(f"{k}={v}" for k, v in IDS.items())
    code, out, err = run_cli(
        "export",
        exported.journal,
        "--to",
        tmp_path / "h",
        "--symbols",
        ids,
        "--depth",
        "3",
        "--json",
    )
    assert (code, err) == (0, "")
    summary = last_json_line(out)
    assert summary["rows"] == exported.summary.rows
    assert summary["bytes_per_million_messages"] is not None
    code, out, _ = run_cli(
        "export", exported.journal, "--to", tmp_path / "h", "--symbols", ids, "--depth", "1"
    )
    assert code == 0
    assert "bytes per million" in out and "fills" in out
    # Re-exporting the same journal replaces its files instead of adding to them.
    again = history.open(tmp_path / "h").sql("SELECT count(*) FROM bbo").fetchall()[0]
    assert again == (exported.summary.rows["bbo"],)
    code, _, err = run_cli("export", tmp_path / "missing", "--to", tmp_path / "h")
    assert code == 1 and "no such journal" in err
    code, _, err = run_cli("export", exported.journal, "--to", tmp_path / "h", "--symbols", "AAPL")
    assert code == 2 and "ID=SYMBOL" in err


def test_the_engine_journals_its_instrument_map_so_export_needs_no_symbols(
    exported: Exported, tmp_path: Path
) -> None:
    # The engine joined the feed after its stock directory went out; the journal's own
    # note `instruments 1=AAPL,...` names the symbols.
    assert export.journal_instruments(exported.journal) == {
        ident: symbol for symbol, ident, *_ in demo.DEMO_INSTRUMENTS
    }
    s = export.export(exported.journal, tmp_path / "h", depth=1)
    assert set(s.symbols) == {symbol for symbol, *_ in demo.DEMO_INSTRUMENTS}
    assert s.rows["bbo"] == exported.summary.rows["bbo"]
    assert s.rows["orders"] == exported.summary.rows["orders"]


# --------------------------------------------------------------------------- units


def test_itch_times_after_midnight_land_on_the_next_day() -> None:
    start = int(dt.datetime(2026, 3, 6, 23, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    since_midnight = np.array([(23 * 3600 + 59 * 60) * 10**9, 60 * 10**9])
    got = export.unix_ns(since_midnight, start - 3600 * 10**9)
    day = int(dt.datetime(2026, 3, 6, tzinfo=dt.UTC).timestamp()) * 10**9
    assert got.tolist() == [day + since_midnight[0], day + NS_PER_DAY + since_midnight[1]]


def test_itch_times_count_from_the_feeds_own_midnight_across_a_dst_change() -> None:
    # 2026-03-08 is 23 hours long in New York: 09:30 EDT is 13:30 UTC.
    start = int(dt.datetime(2026, 3, 8, 5, tzinfo=dt.UTC).timestamp()) * 10**9
    open_ns = np.array([(9 * 3600 + 30 * 60) * 10**9])
    got = export.unix_ns(open_ns, start, "America/New_York")
    want = dt.datetime(2026, 3, 8, 13, 30, tzinfo=dt.UTC).timestamp()
    assert got.tolist() == [int(want) * 10**9]


def test_history_refuses_bad_dates_and_unknown_message_types(exported: Exported) -> None:
    h = history.open(exported.out)
    with pytest.raises(ConfigError, match="bad date"):
        h.bbo("AAPL", date="yesterday")
    with pytest.raises(ConfigError, match="not an order-book message type"):
        h.itch(types=["stock_directory"])
    with pytest.raises(FileNotFoundError):
        history.open(exported.out / "nowhere")
    with pytest.raises(ConfigError, match="depth"):
        export.export(exported.journal, exported.out, depth=-1)
