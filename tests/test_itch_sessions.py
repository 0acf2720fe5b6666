"""ITCH sessions end to end: generate, summarise, read as NumPy, books and replays."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import SESSION_MESSAGES, RunCli, last_json_line

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

from quotewire import _core, itch
from quotewire.errors import ConfigError, QuotewireError

# ITCH 5.0 add order ("A"), 36 bytes: type, locate, tracking, timestamp (6 bytes),
# order reference, side, shares, stock (8), price (4 implied decimals).
ADD_ORDER = struct.Struct(">cHH6sQcI8sI")


def _name_at(layout: itch.Layout, offset: int) -> str:
    """Field name at a spec offset, so the tests do not depend on the core's naming."""
    (name,) = [f.name for f in layout.fields if f.offset == offset]
    return name


# --------------------------------------------------------------------------- generate/summary


def test_generate_then_summary_json_counts_are_consistent(run_cli: RunCli, tmp_path: Path):
    out = tmp_path / "gen.itch"
    code, stdout, err = run_cli(
        "itch", "generate", "--out", out, "--messages", "20000", "--instruments", "30", "--json"
    )
    assert code == 0, err
    generated = last_json_line(stdout)
    assert generated["format"] == "daily"
    assert out.stat().st_size == generated["bytes"]

    code, stdout, err = run_cli("itch", "summary", out, "--json")
    assert code == 0, err
    s = last_json_line(stdout)
    by_type = s["by_type"]
    assert isinstance(by_type, dict)
    assert s["messages"] == sum(by_type.values()) == generated["messages"]
    assert s["messages"] >= 20_000
    assert s["format"] == "daily"
    assert s["bytes"] == out.stat().st_size
    assert s["errors"] == {}
    assert s["instruments"] == len(s["symbols"]) == 30
    assert s["first_ns"] <= s["last_ns"]
    assert set(by_type) <= set(itch.NAMES)
    assert by_type.get("A", 0) > 0


def test_summary_text_lists_types_and_no_errors(run_cli: RunCli, daily_session: Path):
    code, stdout, err = run_cli("itch", "summary", daily_session)
    assert code == 0, err
    assert "add_order" in stdout
    assert "errors  none" in stdout


def test_generate_is_deterministic_for_a_seed(tmp_path: Path):
    a, b = tmp_path / "a.itch", tmp_path / "b.itch"
    for p in (a, b):
        _core.generate_session(str(p), messages=5_000, instruments=10, seed=3)
    assert a.read_bytes() == b.read_bytes()


def test_gzip_daily_session_reads_the_same_as_plain(daily_session: Path, gzip_session: Path):
    plain, gz = itch.summary(daily_session), itch.summary(gzip_session)
    assert gz.nbytes < plain.nbytes
    assert (gz.messages, gz.by_type, gz.symbols) == (plain.messages, plain.by_type, plain.symbols)
    assert (gz.first_ns, gz.last_ns, gz.errors) == (plain.first_ns, plain.last_ns, plain.errors)
    assert _core.itch_read_raw(str(gzip_session)) == _core.itch_read_raw(str(daily_session))


def test_pcap_session_holds_the_same_messages_as_daily(daily_session: Path, pcap_session: Path):
    daily, pcap = itch.summary(daily_session), itch.summary(pcap_session)
    assert pcap.format == "pcap"
    assert daily.format == "daily"
    assert pcap.errors == {}
    assert pcap.by_type == daily.by_type
    assert _core.itch_read_raw(str(pcap_session)) == _core.itch_read_raw(str(daily_session))


# --------------------------------------------------------------------------- read


def test_layout_dtypes_match_message_lengths():
    layouts = itch.layouts()
    assert layouts["A"].name == "add_order"
    assert itch.TAGS["add_order"] == "A"
    assert itch.NAMES["A"] == "add_order"
    assert layouts["A"].length == ADD_ORDER.size == 36
    for tag, layout in layouts.items():
        assert len(tag) == 1
        assert layout.raw_dtype.itemsize == layout.length, layout.name
        assert set(layout.dtype.names or ()) == {f.name for f in layout.fields}
        assert layout.fields[0].offset == 0
        assert layout.fields[0].kind == "char"
        timestamp = [f for f in layout.fields if f.kind == "u48"]
        assert [(f.offset, f.length) for f in timestamp] == [(5, 6)], layout.name


def test_read_returns_every_type_keyed_by_name_with_matching_counts(daily_session: Path):
    arrays = itch.read(daily_session)
    assert set(arrays) == set(itch.TAGS)
    counts = itch.summary(daily_session).by_type
    for tag, name in itch.NAMES.items():
        assert arrays[name].dtype == itch.layouts()[tag].dtype
        assert len(arrays[name]) == counts.get(tag, 0), name


def test_raw_read_is_a_zero_copy_view_of_the_core_bytes(daily_session: Path):
    data = _core.itch_read_raw(str(daily_session))
    arrays = itch.from_raw(data, raw=True)
    for tag, buf in data.items():
        layout = itch.layouts()[tag]
        arr = arrays[layout.name]
        assert arr.dtype == layout.raw_dtype
        assert arr.dtype.itemsize == layout.length
        assert len(arr) * layout.length == len(buf)
        assert np.shares_memory(arr, np.frombuffer(buf, dtype=np.uint8))
        assert not arr.flags.writeable


def test_add_order_fields_decode_like_the_wire_format(daily_session: Path):
    data = _core.itch_read_raw(str(daily_session))
    layout = itch.layouts()["A"]
    raw = itch.from_raw(data, raw=True, types=["A"])["add_order"]
    native = itch.from_raw(data, types=["add_order"])["add_order"]
    assert len(raw) == len(native) > 0

    ts, ref, side = _name_at(layout, 5), _name_at(layout, 11), _name_at(layout, 19)
    shares, stock, price = _name_at(layout, 20), _name_at(layout, 24), _name_at(layout, 32)
    locate = _name_at(layout, 1)
    assert native.dtype[ts] == np.uint64
    assert native.dtype[price] == np.int64
    assert native.dtype[stock] == np.dtype("S8")
    assert native.dtype[side] == np.dtype("S1")

    # timestamp == hi << 32 | lo, for every row
    hi = raw[f"{ts}_hi"].astype(np.uint64)
    assert np.array_equal(native[ts], (hi << np.uint64(32)) | raw[f"{ts}_lo"])
    for col in (ref, shares, price, locate, stock, side):
        assert np.array_equal(native[col], raw[col]), col

    # independent decode of a few messages straight from the bytes
    buf = data["A"]
    for i in (0, len(raw) // 2, len(raw) - 1):
        typ, loc, _trk, ts6, oref, sd, shr, stk, px = ADD_ORDER.unpack_from(buf, i * 36)
        assert typ == b"A"
        row = native[i]
        assert int(row[ts]) == int.from_bytes(ts6, "big")
        assert (int(row[locate]), int(row[ref]), int(row[shares])) == (loc, oref, shr)
        assert (bytes(row[side]), bytes(row[stock]).ljust(8)) == (sd, stk)
        assert int(row[price]) == px
        assert sd in (b"B", b"S")


def test_read_rejects_unknown_message_type(daily_session: Path):
    with pytest.raises(ConfigError):
        itch.read(daily_session, types=["no_such_message"])


def test_read_of_missing_file_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        itch.read(tmp_path / "missing.itch")


# --------------------------------------------------------------------------- book


@pytest.fixture(scope="module")
def busiest(daily_session: Path) -> str:
    (symbol, count), *_ = itch.most_active(daily_session, 1)
    assert count > 0
    return symbol


def _first_add_ns(session: Path, symbol: str) -> int:
    """Earliest add order (with or without MPID) for `symbol`, decoded via NumPy."""
    layouts = itch.layouts()
    arrays = itch.read(session, types=["R", "A", "F"])
    directory = arrays["stock_directory"]
    symbols = np.char.strip(directory[_name_at(layouts["R"], 11)].astype("S8"))
    (row,) = np.flatnonzero(symbols == symbol.encode())
    loc = directory[_name_at(layouts["R"], 1)][row]
    times = []
    for tag in ("A", "F"):
        adds = arrays[layouts[tag].name]
        mine = adds[_name_at(layouts[tag], 1)] == loc
        times.append(adds[_name_at(layouts[tag], 5)][mine])
    return int(np.concatenate(times).min())


def test_book_before_any_add_order_is_empty(daily_session: Path, busiest: str):
    first_add = _first_add_ns(daily_session, busiest)
    assert first_add > 0
    b = itch.book(daily_session, busiest, at=first_add - 1)
    assert b.is_empty
    assert b.best_bid is None and b.best_ask is None
    assert b.symbol == busiest


def test_book_at_end_of_session_is_sorted_best_first_and_uncrossed(
    daily_session: Path, busiest: str
):
    b = itch.book(daily_session, busiest, depth=5)
    assert b.bids and b.asks
    assert len(b.bids) <= 5 and len(b.asks) <= 5
    bid_px = [lv.price_raw for lv in b.bids]
    ask_px = [lv.price_raw for lv in b.asks]
    assert bid_px == sorted(bid_px, reverse=True) and len(set(bid_px)) == len(bid_px)
    assert ask_px == sorted(ask_px) and len(set(ask_px)) == len(ask_px)
    assert bid_px[0] < ask_px[0]
    assert all(lv.qty > 0 and lv.count > 0 for lv in (*b.bids, *b.asks))
    assert b.messages_applied > 0


def test_book_accepts_hms_and_nanoseconds_alike(daily_session: Path, busiest: str):
    s = itch.summary(daily_session)
    assert s.last_ns is not None and s.first_ns is not None
    mid = (s.first_ns + s.last_ns) // 2
    assert itch.book(daily_session, busiest, at=mid) == itch.book(
        daily_session, busiest, at=itch.format_hms(mid)
    )


def test_book_cli_prints_an_aligned_table_with_four_decimal_prices(
    run_cli: RunCli, daily_session: Path, busiest: str
):
    code, out, err = run_cli("itch", "book", daily_session, "--symbol", busiest, "--depth", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(busiest)
    header, *rows = lines[1:]
    assert header.split() == ["count", "qty", "bid", "|", "ask", "qty", "count"]
    bar = header.index("|")
    assert rows and all(row[bar] == "|" for row in rows)
    first = rows[0].split()
    assert "." in first[2] and len(first[2].split(".")[1]) == 4


def test_book_cli_json_matches_the_library(run_cli: RunCli, daily_session: Path, busiest: str):
    code, out, err = run_cli("itch", "book", daily_session, "--symbol", busiest, "--json")
    assert code == 0, err
    assert last_json_line(out) == itch.book(daily_session, busiest).to_dict()


def test_book_of_unknown_symbol_raises_a_quotewire_or_lookup_error(daily_session: Path):
    with pytest.raises((QuotewireError, LookupError, ValueError), match="NOSUCHSYM"):
        itch.book(daily_session, "NOSUCHSYM")


# --------------------------------------------------------------------------- replay


def test_replay_bbo_last_row_matches_the_final_book(daily_session: Path, busiest: str):
    bbo = itch.replay_bbo(daily_session, busiest)
    n = len(bbo["timestamp_ns"])
    assert n > 0
    assert {k: len(v) for k, v in bbo.items()} == dict.fromkeys(bbo, n)
    assert bbo["timestamp_ns"].dtype == np.uint64 and bbo["locate"].dtype == np.uint16
    assert bbo["bid_px"].dtype == np.int64 and bbo["ask_px"].dtype == np.int64
    assert np.all(np.diff(bbo["timestamp_ns"].astype(np.int64)) >= 0)
    final = itch.book(daily_session, busiest, depth=1)
    assert final.best_bid is not None and final.best_ask is not None
    assert (int(bbo["bid_px"][-1]), int(bbo["bid_qty"][-1])) == (
        final.best_bid.price_raw,
        final.best_bid.qty,
    )
    assert (int(bbo["ask_px"][-1]), int(bbo["ask_qty"][-1])) == (
        final.best_ask.price_raw,
        final.best_ask.qty,
    )


def test_replay_bbo_of_all_symbols_covers_the_single_symbol_rows(daily_session: Path, busiest: str):
    one = itch.replay_bbo(daily_session, busiest)
    every = itch.replay_bbo(daily_session)
    assert len(every["locate"]) >= len(one["locate"])
    loc = int(one["locate"][0])
    mask = every["locate"] == loc
    for key in ("timestamp_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"):
        assert np.array_equal(every[key][mask], one[key]), key


def test_replay_l2_shapes_and_top_level_agree_with_bbo(daily_session: Path, busiest: str):
    l2 = itch.replay_l2(daily_session, busiest, depth=4)
    n = len(l2["timestamp_ns"])
    assert n > 0
    for side in ("bid", "ask"):
        for col in ("px", "qty", "count"):
            assert l2[f"{side}_{col}"].shape == (n, 4)
    bbo = itch.replay_bbo(daily_session, busiest)
    assert np.array_equal(l2["bid_px"][-1, 0], bbo["bid_px"][-1])
    assert np.array_equal(l2["ask_px"][-1, 0], bbo["ask_px"][-1])


def test_session_fixture_has_the_requested_size(daily_session: Path):
    assert itch.summary(daily_session).messages >= SESSION_MESSAGES
