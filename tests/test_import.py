"""Bring-your-own-data import: market-by-order CSV / Parquet / DBN into daily ITCH captures."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("quotewire._core")

from quotewire import imports, itch
from quotewire.cli import main

HEADER = "timestamp,order_id,side,price,size,action,symbol,new_order_id"

# Epoch ns of 2024-03-15T09:30:01.5Z, written as an integer timestamp on the last row.
_LAST_NS = int(dt.datetime(2024, 3, 15, 9, 30, 1, tzinfo=dt.UTC).timestamp()) * 10**9 + 500_000_000
T = "2024-03-15T09:30:00.0000000"

GOOD_ROWS = [
    f"{T}01Z,1,B,100.00,100,add,AAPL,",  # line 2
    f"{T}02Z,2,B,100.00,200,add,AAPL,",
    f"{T}03Z,3,S,100.05,300,add,AAPL,",
    f"{T}04Z,4,S,100.10,400,add,AAPL,",
    f"{T}05Z,10,buy,250.50,50,A,MSFT,",
    f"{T}06Z,11,sell,250.6,70,A,MSFT,",
    f"{T}07Z,2,B,,50,cancel,AAPL,",  # AAPL 2: 200 -> 150 (Order Cancel)
    f"{T}08Z,3,S,,100,fill,AAPL,",  # AAPL 3: 300 -> 200 (Order Executed)
    f"{T}09Z,1,B,,,delete,AAPL,",  # AAPL 1 gone
    f"{T}10Z,4,S,100.08,350,modify,AAPL,",  # AAPL 4 -> 100.08 x 350 (Order Replace)
    f"{T}11Z,12,bid,250.49,80,add,MSFT,",
    f"{T}12Z,11,,,70,cancel,MSFT,",  # the whole of MSFT 11: Order Delete
    f"{T}13Z,13,ask,250.55,25,add,MSFT,",
    f"{T}14Z,10,B,,20,F,MSFT,",  # MSFT 10: 50 -> 30
    f"{T}15Z,5,B,99.99,100,add,AAPL,",
    f"{T}16Z,6,S,100.08,100,add,AAPL,",
    f"{T}17Z,12,B,250.50,80,modify,MSFT,14",  # MSFT 12 becomes 14 at 250.50 x 80
    f"{T}18Z,14,B,,30,cancel,MSFT,",  # MSFT 14: 80 -> 50
    f"{T}19Z,3,S,,200,fill,AAPL,",  # AAPL 3 fully executed
    f"{_LAST_NS},7,S,100.20,10,add,AAPL,",  # line 21
]

# Raw Price(4), total shares, order count; best first.
EXPECTED = {
    "AAPL": {
        "bids": [(1_000_000, 150, 1), (999_900, 100, 1)],
        "asks": [(1_000_800, 450, 2), (1_002_000, 10, 1)],
    },
    "MSFT": {
        "bids": [(2_505_000, 80, 2)],
        "asks": [(2_505_500, 25, 1)],
    },
}

# Inserted after GOOD_ROWS[9] (so at lines 12..16), each with the reason it must get.
BAD_ROWS = [
    (f"{T}10Z,20,B,100.005,10,add,AAPL,", "not a multiple of the tick 0.01"),
    (f"{T}10Z,999,B,,10,cancel,AAPL,", "unknown order"),
    (f"{T}10Z,21,X,100.00,10,add,AAPL,", "side 'x' is not B/S"),
    ("2024-03-16T09:30:00.000000010Z,22,B,100.00,10,add,AAPL,", "the session is 2024-03-15"),
    (f"{T}10Z,2,B,100.00,10,add,AAPL,", "duplicate add"),
]


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _levels(levels: tuple[itch.Level, ...]) -> list[tuple[int, int, int]]:
    return [(lv.price_raw, lv.qty, lv.count) for lv in levels]


def _assert_expected_books(capture: Path) -> None:
    for symbol, want in EXPECTED.items():
        book = itch.book(capture, symbol)
        assert _levels(book.bids) == want["bids"], symbol
        assert _levels(book.asks) == want["asks"], symbol


def test_csv_of_two_symbols_imports_into_a_capture_with_the_expected_books(
    tmp_path: Path,
) -> None:
    out = tmp_path / "day.itch"
    s = imports.from_csv(_write_csv(tmp_path / "mbo.csv", GOOD_ROWS), out, tick="0.01")

    assert s.rejected == ()
    assert (s.rows, s.messages) == (20, 20 + 4)
    assert s.instruments == {"AAPL": 1, "MSFT": 2}
    assert s.session_date == "2024-03-15"
    assert s.first_ns == (9 * 3600 + 30 * 60) * 10**9 + 1
    assert s.last_ns == (9 * 3600 + 30 * 60 + 1) * 10**9 + 500_000_000
    assert s.open_orders == 8  # AAPL 2, 4, 5, 6, 7; MSFT 10, 13, 14

    summary = itch.summary(out)
    assert summary.errors == {}
    assert summary.symbols == ("AAPL", "MSFT")
    assert summary.by_type == {"S": 2, "R": 2, "A": 11, "X": 2, "E": 3, "D": 2, "U": 2}
    _assert_expected_books(out)


def test_bad_rows_are_reported_with_line_and_reason_and_do_not_stop_the_import(
    tmp_path: Path,
) -> None:
    rows = GOOD_ROWS[:10] + [r for r, _ in BAD_ROWS] + GOOD_ROWS[10:]
    out = tmp_path / "day.itch"
    s = imports.from_csv(_write_csv(tmp_path / "mbo.csv", rows), out, tick=Decimal("0.01"))

    assert [r.line for r in s.rejected] == [12, 13, 14, 15, 16]
    for got, (_, reason) in zip(s.rejected, BAD_ROWS, strict=True):
        assert reason in got.reason, (got, reason)
    assert s.rows == 25
    _assert_expected_books(out)


def test_a_price_past_four_decimals_and_a_cancel_over_the_open_size_are_refused(
    tmp_path: Path,
) -> None:
    rows = [
        f"{T}01Z,1,B,100.00001,100,add,AAPL,",
        f"{T}02Z,2,S,100.01,100,add,AAPL,",
        f"{T}03Z,2,S,,101,cancel,AAPL,",
    ]
    s = imports.from_csv(_write_csv(tmp_path / "m.csv", rows), tmp_path / "o.itch", tick="0.0001")
    assert [(r.line, r.reason) for r in s.rejected] == [
        (2, "price 100.00001 has more than 4 decimals"),
        (4, "shares exceed the order's open quantity"),
    ]


def test_parquet_with_the_same_rows_gives_a_byte_identical_capture(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = _write_csv(tmp_path / "mbo.csv", GOOD_ROWS)
    with src.open(newline="") as f:
        recs = list(csv.DictReader(f))

    def ns(text: str) -> int:
        if text.isdigit():
            return int(text)
        return int(np.datetime64(text.removesuffix("Z"), "ns").astype(np.int64))

    def opt_int(text: str) -> int | None:
        return int(text) if text else None

    table = pa.table(
        {
            "timestamp": pa.array([ns(r["timestamp"]) for r in recs], pa.timestamp("ns", "UTC")),
            "order_id": pa.array([int(r["order_id"]) for r in recs], pa.uint64()),
            "side": [r["side"] for r in recs],
            "price": pa.array(
                [Decimal(r["price"]) if r["price"] else None for r in recs], pa.decimal128(12, 4)
            ),
            "size": pa.array([opt_int(r["size"]) for r in recs], pa.int64()),
            "action": [r["action"] for r in recs],
            "symbol": [r["symbol"] for r in recs],
            "new_order_id": pa.array([opt_int(r["new_order_id"]) for r in recs], pa.uint64()),
        }
    )
    pq.write_table(table, tmp_path / "mbo.parquet")

    from_csv = imports.from_csv(src, tmp_path / "csv.itch", tick="0.01")
    from_pq = imports.from_parquet(tmp_path / "mbo.parquet", tmp_path / "pq.itch", tick="0.01")

    assert from_pq.rejected == () and from_pq.messages == from_csv.messages
    assert (tmp_path / "pq.itch").read_bytes() == (tmp_path / "csv.itch").read_bytes()


def test_cli_import_prints_the_summary_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write_csv(tmp_path / "mbo.csv", [*GOOD_ROWS[:10], BAD_ROWS[0][0]])
    out = tmp_path / "day.itch"

    assert main(["import", "csv", str(src), "--out", str(out), "--tick", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "11 rows" in text and "AAPL=1, MSFT=2" in text
    assert "line 12: price 100.005 is not a multiple of the tick 0.01" in text

    args = ["import", "csv", str(src), "--out", str(out), "--symbol-map", "AAPL=AAPL.O", "--json"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["instruments"] == {"AAPL.O": 1, "MSFT": 2}
    assert record["rejected"] == [[12, "price 100.005 is not a multiple of the tick 0.01"]]
    assert itch.summary(out).symbols == ("AAPL.O", "MSFT")


def _dbn_file(path: Path) -> Path:
    dbn = pytest.importorskip("databento_dbn")
    day = dt.date(2024, 3, 15)
    meta = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=_LAST_NS - 10**9,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.MBO,
        symbols=["AAPL"],
        mappings=[
            SimpleNamespace(
                raw_symbol="AAPL",
                intervals=[
                    SimpleNamespace(
                        start_date=day, end_date=day + dt.timedelta(days=1), symbol="42"
                    )
                ],
            )
        ],
    )
    t0 = _LAST_NS - 10**9
    add, cancel, modify = dbn.Action.ADD, dbn.Action.CANCEL, dbn.Action.MODIFY
    trade, fill, clear = dbn.Action.TRADE, dbn.Action.FILL, dbn.Action.CLEAR
    bid, ask, none = dbn.Side.BID, dbn.Side.ASK, dbn.Side.NONE
    events = [
        (1, add, bid, 100_000_000_000, 300),  # record 1: 100.00 bid x 300
        (2, add, ask, 100_050_000_000, 200),
        (3, add, ask, 100_070_000_000, 100),
        (1, cancel, bid, 100_000_000_000, 100),  # partial cancel: 300 -> 200
        (3, cancel, ask, 100_070_000_000, 100),  # full cancel: delete
        (0, trade, ask, 100_050_000_000, 50),  # trade: skipped
        (2, fill, ask, 100_050_000_000, 50),  # 200 -> 150
        (2, modify, ask, 100_060_000_000, 120),  # modify: 100.06 x 120
        (4, add, bid, 99_990_000_000, 10),
        (5, add, bid, 99_990_050_000, 10),  # record 10: 99.99005, more than 4 decimals
        (0, clear, none, dbn.UNDEF_PRICE, 0),  # record 11: clear book, refused
    ]
    body = b"".join(
        bytes(
            dbn.MBOMsg(
                publisher_id=2,
                instrument_id=42,
                ts_event=t0 + i,
                order_id=oid,
                price=px,
                size=size,
                action=action,
                side=side,
                ts_recv=t0 + i + 1,
            )
        )
        for i, (oid, action, side, px, size) in enumerate(events)
    )
    path.write_bytes(meta.encode() + body)
    return path


def test_dbn_mbo_imports_cancels_fills_and_modifies_and_refuses_clear_book(
    tmp_path: Path,
) -> None:
    src = _dbn_file(tmp_path / "aapl.mbo.dbn")
    out = tmp_path / "aapl.itch"
    s = imports.from_dbn(src, out, tick="0.01")

    assert s.instruments == {"AAPL": 1}
    assert s.skipped == {"trade": 1}
    assert [r.line for r in s.rejected] == [10, 11]
    assert "more than 4 decimals" in s.rejected[0].reason
    assert "clear book" in s.rejected[1].reason
    assert itch.summary(out).by_type == {"S": 2, "R": 1, "A": 4, "X": 1, "D": 1, "E": 1, "U": 1}
    book = itch.book(out, "AAPL")
    assert _levels(book.bids) == [(1_000_000, 200, 1), (999_900, 10, 1)]
    assert _levels(book.asks) == [(1_000_600, 120, 1)]


def test_venue_capture_replay_reads_every_message_of_an_imported_capture(tmp_path: Path) -> None:
    import socket
    import time

    from quotewire.venue import Instrument, ItchConfig, Replay, Venue, VenueConfig

    out = tmp_path / "day.itch"
    s = imports.from_csv(_write_csv(tmp_path / "mbo.csv", GOOD_ROWS), out, tick="0.01")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        host, port = sink.getsockname()
        config = VenueConfig(
            instruments=[
                Instrument(symbol, n, "0.01", "0.01", "655.35")
                for n, symbol in enumerate(("AAPL", "MSFT"), start=1)
            ],
            itch=ItchConfig(f"{host}:{port}"),
            replay=Replay(out, speed=0),
        )
        with Venue(config) as venue:
            deadline = time.monotonic() + 10.0
            while (stats := venue.stats())["replay_finished"] != 1:
                assert time.monotonic() < deadline, stats
                time.sleep(0.01)
    assert stats["replay_messages"] == s.messages
    assert stats["replay_rejected"] == 0
    assert stats["replay_commands"] > 0


def test_rows_of_another_dtype_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    from quotewire import _core
    from quotewire.errors import ConfigError

    aligned = np.dtype(imports.ROW_DTYPE.descr, align=True)
    with pytest.raises(ConfigError, match="1-D array of dtype"):
        _core.itch_write_daily(str(tmp_path / "x.itch"), np.zeros(1, aligned), {1: "AAPL"})
    with pytest.raises(ConfigError, match="locate >= 1"):
        _core.itch_write_daily(
            str(tmp_path / "x.itch"), np.zeros(0, imports.ROW_DTYPE), {0: "AAPL"}
        )
    assert not (tmp_path / "x.itch").exists()
