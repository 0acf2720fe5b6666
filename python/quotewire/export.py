"""A journal's history as Parquet files: market data, our orders and our fills.

`export(journal, out_dir)` reads a journal directory (or one segment) through the core:
`_core.journal_to_pcap` turns its intact inbound packets into a pcap that the `quotewire.itch`
readers replay (sequenced, duplicates of lines A/B and retransmissions dropped), and
`_core.journal_orders` gives our order requests and the venue's reports. Every per-message
loop runs in the core or in NumPy; nothing here is called per message.

Layout: one directory per table under `out_dir`, Hive-partitioned by UTC date and symbol::

    out_dir/bbo/date=2026-11-25/symbol=AAPL/j<journal start>-0.parquet

Tables (the partition columns `date` and `symbol` live in the paths, not in the files; the
full schema with types is `SCHEMAS` and docs/history.md):

* `itch`: one row per add (`A`, `F`), execution (`E`, `C`), cancel (`X`), delete (`D`),
  replace (`U`), trade (`P`) and cross (`Q`) message: `ts`, `type`, `locate`, `order_ref`
  (`U`: the original), `new_order_ref`, `side`, `shares`, `price_raw`/`price`,
  `match_number`, each null where the message has no such field. System events, the stock
  directory and other administrative messages are not rows.
* `bbo`: a row per top-of-book change; an empty side is null.
* `l2`: the best `depth` levels after every change of them, a row per non-empty level, with
  `snapshot` numbering the symbol's snapshots (a number without rows is an empty book).
* `trades`: `E`, `C`, `P` and `Q` with the price traded (for `E` the resting order's, found
  through its add and replaces) and the resting order's side.
* `orders`: our requests; `fills`: our executions (`E`) and broken trades (`B`), with the
  instrument and side of the request that created their client order id.

Besides the tables, `out_dir/capture/feed.pcap` keeps the feed as received (the MoldUDP64
packets with their receive times; the latest export's): `quotewire backtest --data
out_dir` replays it.

Conventions:

* **Prices** are stored twice, both exact: `*_raw` int64 with four implied decimals (as
  everywhere in quotewire) and `decimal128(18, 4)` (stored as a Parquet INT64 decimal), since
  DuckDB's `.df()`/`.fetchnumpy()` turn decimals into floats.
* **Time.** `ts` is a naive `timestamp[ns]` holding UTC (DuckDB reads it as `TIMESTAMP_NS`,
  keeping nanoseconds). ITCH timestamps are wall-clock nanoseconds since midnight in `itch_tz`
  (UTC for the simulator; `America/New_York` for Nasdaq's own feed); `ts` places each on
  the first day that puts it at or after one hour before the journal's first record, which
  is right for any session shorter than 23 hours. (`ts` mod one day is the wire timestamp
  when `itch_tz` is UTC.)
* **Symbols** come from the feed's stock directory (instrument id = stock locate) or, for a
  journal that joined the feed after it, from `symbols` (see `feed_pcap`); a locate or
  instrument nobody named is filed under `#<id>` and has no `l2` rows.
* **Files** are named after the journal's first timestamp, so re-exporting a journal
  replaces its own files, and exports of several journals (days) into one directory add up.
* **Order.** Rows are written in time order: `bbo` and `l2` in the feed's order, `itch`
  and `trades` by `ts` and then adds before replaces, executions, cancels and deletes (the
  feed's order among messages of one nanosecond is not kept).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from quotewire import _core, itch
from quotewire._values import get_opt_int
from quotewire.errors import ConfigError, ProtocolError

__all__ = [
    "MARKET_DATA_TABLES",
    "SCHEMAS",
    "TABLES",
    "ExportSummary",
    "export",
    "feed_pcap",
    "unix_ns",
]

Array = npt.NDArray[Any]

NS_PER_DAY: Final = 86_400 * 1_000_000_000
_NS_PER_HOUR: Final = 3_600 * 1_000_000_000
_HOURS: Final = 24
_SLACK_NS: Final = 3_600 * 1_000_000_000
"""How far before the journal's first record an ITCH timestamp may lie and stay on its day."""

PRICE: Final = pa.decimal128(18, 4)
TS: Final = pa.timestamp("ns")

SCHEMAS: Final[Mapping[str, pa.Schema]] = {
    "itch": pa.schema(
        [
            ("ts", TS),
            ("type", pa.string()),
            ("locate", pa.uint16()),
            ("order_ref", pa.uint64()),
            ("new_order_ref", pa.uint64()),
            ("side", pa.string()),
            ("shares", pa.uint64()),
            ("price_raw", pa.int64()),
            ("price", PRICE),
            ("match_number", pa.uint64()),
        ]
    ),
    "bbo": pa.schema(
        [
            ("ts", TS),
            ("locate", pa.uint16()),
            ("bid_price_raw", pa.int64()),
            ("bid_price", PRICE),
            ("bid_qty", pa.uint64()),
            ("ask_price_raw", pa.int64()),
            ("ask_price", PRICE),
            ("ask_qty", pa.uint64()),
        ]
    ),
    "l2": pa.schema(
        [
            ("ts", TS),
            ("snapshot", pa.int64()),
            ("side", pa.string()),
            ("level", pa.uint16()),
            ("price_raw", pa.int64()),
            ("price", PRICE),
            ("qty", pa.uint64()),
            ("orders", pa.uint32()),
        ]
    ),
    "trades": pa.schema(
        [
            ("ts", TS),
            ("type", pa.string()),
            ("order_ref", pa.uint64()),
            ("side", pa.string()),
            ("shares", pa.uint64()),
            ("price_raw", pa.int64()),
            ("price", PRICE),
            ("match_number", pa.uint64()),
            ("printable", pa.bool_()),
        ]
    ),
    "orders": pa.schema(
        [
            ("ts", TS),
            ("action", pa.string()),
            ("side", pa.string()),
            ("cl", pa.uint32()),
            ("orig", pa.uint32()),
            ("instrument", pa.uint16()),
            ("price_raw", pa.int64()),
            ("price", PRICE),
            ("qty", pa.uint64()),
            ("post_only", pa.bool_()),
            ("tif", pa.string()),
        ]
    ),
    "fills": pa.schema(
        [
            ("ts", TS),
            ("kind", pa.string()),
            ("cl", pa.uint32()),
            ("side", pa.string()),
            ("instrument", pa.uint16()),
            ("venue_id", pa.uint64()),
            ("price_raw", pa.int64()),
            ("price", PRICE),
            ("qty", pa.uint64()),
            ("match_number", pa.uint64()),
            ("liquidity", pa.string()),
        ]
    ),
}
"""Column schema of each table as stored in its files (without `date` and `symbol`)."""

TABLES: Final = tuple(SCHEMAS)
"""Every table `export` writes, in order."""
MARKET_DATA_TABLES: Final = ("itch", "bbo", "l2", "trades")
"""The tables built from the feed."""

PARTITIONING: Final = pa.schema([("date", pa.date32()), ("symbol", pa.string())])
"""Hive partition columns of every table: `date=YYYY-MM-DD/symbol=SYM`."""

# Sort rank of each message type among messages of the same nanosecond: an order's add
# comes before what happens to it.
_TYPE_RANK: Final = {"A": 0, "F": 0, "U": 1, "E": 2, "C": 2, "X": 3, "D": 4, "P": 5, "Q": 5}


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What `export` wrote and what it had to skip."""

    journal: str
    out_dir: str
    rows: dict[str, int]
    """Rows written per table."""
    bytes: dict[str, int]
    """Bytes on disk per table (files written by this export)."""
    files: int
    market_data_messages: int
    """ITCH messages replayed from the journal's packets (every type, after sequencing)."""
    packets: int
    """Inbound packets the journal held intact (`journal_to_pcap`)."""
    dates: tuple[str, ...]
    symbols: tuple[str, ...]
    skipped_records: list[dict[str, object]] = field(default_factory=list)
    """The journal's corrupt records (`segment`, `offset`, `reason`), skipped."""
    torn_tail: dict[str, object] | None = None
    """The torn final record (`segment`, `offset`) ignored on read, if any."""

    @property
    def total_bytes(self) -> int:
        """Bytes on disk of every table."""
        return sum(self.bytes.values())

    @property
    def bytes_per_million_messages(self) -> float | None:
        """Bytes on disk of every table per million market-data messages (None without
        any message)."""
        if not self.market_data_messages:
            return None
        return self.total_bytes * 1e6 / self.market_data_messages

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict of every field plus `total_bytes` and
        `bytes_per_million_messages`."""
        return {
            "journal": self.journal,
            "out_dir": self.out_dir,
            "rows": dict(self.rows),
            "bytes": dict(self.bytes),
            "total_bytes": self.total_bytes,
            "files": self.files,
            "market_data_messages": self.market_data_messages,
            "bytes_per_million_messages": self.bytes_per_million_messages,
            "packets": self.packets,
            "dates": list(self.dates),
            "symbols": list(self.symbols),
            "skipped_records": list(self.skipped_records),
            "torn_tail": self.torn_tail,
        }


# --------------------------------------------------------------------------- time


def _utc_offsets_ns(day: dt.date, tz: dt.tzinfo) -> npt.NDArray[np.int64]:
    """UTC offset of each wall-clock hour of `day` in `tz` (DST changes fall on an hour)."""
    out = np.empty(_HOURS, dtype=np.int64)
    midnight = dt.datetime(day.year, day.month, day.day)
    for hour in range(_HOURS):
        offset = tz.utcoffset(midnight + dt.timedelta(hours=hour)) or dt.timedelta(0)
        out[hour] = (offset.days * 86_400 + offset.seconds) * 1_000_000_000
    return out


def unix_ns(itch_ns: Array, after_unix_ns: int, itch_tz: str = "UTC") -> npt.NDArray[np.int64]:
    """ITCH timestamps (wall-clock nanoseconds since midnight in `itch_tz`) as Unix ns, each
    on the earliest day that puts it at or after `after_unix_ns`."""
    tz: dt.tzinfo = dt.UTC if itch_tz == "UTC" else ZoneInfo(itch_tz)
    ts = np.asarray(itch_ns, dtype=np.int64)
    hour = np.clip(ts // _NS_PER_HOUR, 0, _HOURS - 1)
    unset = np.iinfo(np.int64).max
    out = np.full(ts.shape, unset, dtype=np.int64)
    first = dt.datetime.fromtimestamp(after_unix_ns / 1e9, tz).date()
    for days in (-1, 0, 1, 2):
        day = first + dt.timedelta(days=days)
        local_midnight = (day - dt.date(1970, 1, 1)).days * NS_PER_DAY
        candidate = local_midnight + ts - _utc_offsets_ns(day, tz)[hour]
        better = (candidate >= after_unix_ns) & (candidate < out)
        out[better] = candidate[better]
    if (out == unset).any():
        raise ProtocolError(f"{int((out == unset).sum())} ITCH timestamps are not within a day")
    return out


def _ts(unix: Array) -> pa.Array:
    return pa.array(np.asarray(unix, dtype=np.int64), pa.int64()).cast(TS)


def _dates(unix: Array) -> pa.Array:
    days = np.floor_divide(np.asarray(unix, dtype=np.int64), NS_PER_DAY).astype(np.int32)
    return pa.array(days, pa.int32()).cast(pa.date32())


# --------------------------------------------------------------------------- columns


def _price(raw: Array, valid: Array | None = None) -> tuple[pa.Array, pa.Array]:
    """(int64 raw, decimal128(18, 4)) columns of raw prices; null where not `valid`."""
    raw = np.ascontiguousarray(raw, dtype=np.int64)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    as_int = pa.array(raw, pa.int64(), mask=mask)
    # A decimal128(18, 4) value is its raw price as a 128-bit integer (little-endian two's
    # complement): build the buffer directly, exact and without arithmetic.
    wide = np.empty((raw.size, 2), dtype=np.int64)
    wide[:, 0] = raw
    wide[:, 1] = raw >> 63
    validity = as_int.buffers()[0]
    as_dec = pa.Array.from_buffers(
        PRICE, raw.size, [validity, pa.py_buffer(wide.tobytes())], null_count=as_int.null_count
    )
    return as_int, as_dec


def _chars(values: Array) -> pa.Array:
    """An `S1` (or bytes) array as a string column; b"" stays ""."""
    return pa.array(np.char.decode(np.asarray(values, dtype="S1"), "ascii"), pa.string())


def _opt_chars(values: Array) -> pa.Array:
    """An `S1` array as a string column, null where empty."""
    chars = np.asarray(values, dtype="S1")
    return _opt(np.char.decode(chars, "ascii"), chars != b"", pa.string())


def _opt(values: Array, valid: Array, kind: pa.DataType) -> pa.Array:
    return pa.array(np.asarray(values), kind, mask=~np.asarray(valid, dtype=bool))


class _Symbols:
    """Stock locate -> symbol, from the feed's stock directory."""

    def __init__(self, directory: Array, given: Mapping[int, str] | None = None) -> None:
        names = np.array([f"#{i}" for i in range(1 << 16)], dtype=object)
        self.named = np.zeros(1 << 16, dtype=bool)
        for locate, symbol in (given or {}).items():
            names[locate], self.named[locate] = symbol, True
        if directory.size:
            stocks = np.char.strip(np.char.decode(directory["stock"], "ascii", "replace"))
            names[directory["stock_locate"]] = stocks
            self.named[directory["stock_locate"]] = True
        self.names = names

    def of(self, locates: Array) -> pa.Array:
        return pa.array(self.names[np.asarray(locates, dtype=np.intp)], pa.string())

    def known(self) -> dict[int, str]:
        return {int(i): str(self.names[i]) for i in np.flatnonzero(self.named)}


# --------------------------------------------------------------------------- feed


_PCAP_HEADER: Final = 24
_RECORD_HEADER: Final = 16
_ETHERNET: Final = 14
_MOLD_HEADER: Final = 20  # session (10), sequence (8), message count (2)


def _ipv4_checksum(header: bytes) -> int:
    words = np.frombuffer(header, dtype=">u2").astype(np.uint32)
    total = int(words.sum())
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def journal_instruments(journal: str | os.PathLike[str]) -> dict[int, str]:
    """The instrument map the engine journals when it starts (a note
    `instruments 1=AAPL,2=MSFT`); empty when the journal has none."""
    found: dict[int, str] = {}
    for _ts, text in _core.journal_notes(os.fspath(journal)):
        if not text.startswith("instruments "):
            continue
        for item in text.removeprefix("instruments ").split(","):
            ident, sep, symbol = item.partition("=")
            if sep and ident.strip().isdigit() and symbol.strip():
                found[int(ident)] = symbol.strip()
    return found


def _directory_messages(symbols: Mapping[int, str], timestamp: int) -> list[bytes]:
    """ITCH Stock Directory messages naming `symbols` (locate -> symbol)."""
    layout = itch.layouts()["R"]
    rows = np.zeros(len(symbols), dtype=layout.raw_dtype)
    rows["message_type"] = b"R"
    rows["timestamp_hi"] = timestamp >> 32
    rows["timestamp_lo"] = timestamp & 0xFFFF_FFFF
    rows["stock_locate"] = list(symbols)
    rows["stock"] = [s.encode("ascii").ljust(8)[:8] for s in symbols.values()]
    for name, value in {
        "market_category": b" ",
        "financial_status_indicator": b" ",
        "round_lot_size": 100,
        "round_lots_only": b"N",
        "issue_classification": b" ",
        "issue_sub_type": b"  ",
        "authenticity": b"P",
        "short_sale_threshold_indicator": b" ",
        "ipo_flag": b" ",
        "luld_reference_price_tier": b" ",
        "etp_flag": b" ",
        "inverse_indicator": b" ",
    }.items():
        rows[name] = value
    return [row.tobytes() for row in rows]


def _prepend_directory(pcap: str, symbols: Mapping[int, str]) -> int:
    """Put a packet naming `symbols` in front of the pcap's first MoldUDP64 packet, with
    the sequence numbers just before it, so replays by symbol work on a journal that
    joined the feed after its stock directory; returns the messages added (0 when the
    capture is not a classic Ethernet pcap or has no room before its first sequence)."""
    data = Path(pcap).read_bytes()
    if not symbols or len(data) < _PCAP_HEADER + _RECORD_HEADER:
        return 0
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return 0  # a big-endian or pcapng capture: the core never writes those
    link = int.from_bytes(data[20:24], "little")
    sec, frac, incl, _orig = struct.unpack_from("<IIII", data, _PCAP_HEADER)
    frame = _PCAP_HEADER + _RECORD_HEADER
    ihl = (data[frame + _ETHERNET] & 0x0F) * 4
    mold = frame + _ETHERNET + ihl + 8
    if link != 1 or incl < mold - frame + _MOLD_HEADER:
        return 0
    first_seq = int.from_bytes(data[mold + 10 : mold + 18], "big")
    count = int.from_bytes(data[mold + 18 : mold + 20], "big")
    first_msg = mold + _MOLD_HEADER + 2
    stamp = data[first_msg + 5 : first_msg + 11] if count else b""
    # Stamped like the first message, so the directory does not stretch the session.
    messages = _directory_messages(symbols, int.from_bytes(stamp, "big") if stamp else 0)
    if first_seq <= len(messages):
        return 0
    body = b"".join(len(m).to_bytes(2, "big") + m for m in messages)
    mold_header = (
        data[mold : mold + 10]
        + (first_seq - len(messages)).to_bytes(8, "big")
        + len(messages).to_bytes(2, "big")
    )
    udp_len = 8 + len(mold_header) + len(body)
    ip = bytearray(data[frame + _ETHERNET : frame + _ETHERNET + ihl])
    ip[2:4] = (ihl + udp_len).to_bytes(2, "big")
    ip[10:12] = b"\0\0"
    ip[10:12] = _ipv4_checksum(bytes(ip)).to_bytes(2, "big")
    udp = bytearray(data[frame + _ETHERNET + ihl : mold])
    udp[4:6] = udp_len.to_bytes(2, "big")
    udp[6:8] = b"\0\0"  # no UDP checksum (allowed over IPv4)
    packet = data[frame : frame + _ETHERNET] + bytes(ip) + bytes(udp) + mold_header + body
    record = struct.pack("<IIII", sec, frac, len(packet), len(packet)) + packet
    Path(pcap).write_bytes(data[:_PCAP_HEADER] + record + data[_PCAP_HEADER:])
    return len(messages)


def feed_pcap(
    journal: str | os.PathLike[str],
    out: str | os.PathLike[str],
    symbols: Mapping[int, str] | None = None,
) -> tuple[int, int]:
    """Write the journal's inbound packets as a pcap (`_core.journal_to_pcap`) that the
    `quotewire.itch` readers replay by symbol: when the journal joined the feed after its
    stock directory, a packet naming `symbols` (instrument id -> symbol) is put just
    before the first one. Returns (packets journaled, directory messages added)."""
    packets = int(_core.journal_to_pcap(os.fspath(journal), os.fspath(out)))
    if not packets or not symbols:
        return packets, 0
    named = itch.read(out, types=["stock_directory"])["stock_directory"]["stock_locate"]
    missing = {int(k): v for k, v in symbols.items() if int(k) not in set(named.tolist())}
    return packets, _prepend_directory(os.fspath(out), missing)


# --------------------------------------------------------------------------- tables


@dataclass(slots=True)
class _Orders:
    """Order references of the session: price and side of each, sorted by reference."""

    refs: npt.NDArray[np.uint64]
    price: npt.NDArray[np.int64]
    side: npt.NDArray[np.bytes_]

    @classmethod
    def build(cls, msgs: Mapping[str, Array]) -> _Orders:
        adds = [msgs["add_order"], msgs["add_order_mpid"]]
        rep = msgs["order_replace"]
        refs = np.concatenate([a["order_ref"] for a in adds] + [rep["new_order_ref"]])
        price = np.concatenate([a["price"] for a in adds] + [rep["price"]]).astype(np.int64)
        side = np.concatenate([a["side"] for a in adds] + [np.full(rep.size, b"", "S1")])
        parent_ref = np.concatenate(
            [np.zeros(a.size, np.uint64) for a in adds] + [rep["original_order_ref"]]
        )
        # References are unique within a day; should one repeat, its last use wins.
        order = np.argsort(refs, kind="stable")
        refs, price, side, parent_ref = refs[order], price[order], side[order], parent_ref[order]
        last = np.ones(refs.size, dtype=bool)
        last[:-1] = refs[1:] != refs[:-1]
        refs, price, side, parent_ref = refs[last], price[last], side[last], parent_ref[last]
        # A replacement keeps its original's side: follow each chain of replaces to its add
        # by pointer doubling (log2 of the longest chain passes, no per-order loop).
        found, parent = cls._find(refs, parent_ref)
        root = np.where((side == b"") & found, parent, np.arange(refs.size))
        for _ in range(64):
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        return cls(refs=refs, price=price, side=side[root])

    @staticmethod
    def _find(refs: Array, wanted: Array) -> tuple[Array, Array]:
        """(found, index) of each wanted reference in the sorted `refs`."""
        idx = np.searchsorted(refs, wanted)
        idx = np.minimum(idx, max(refs.size - 1, 0))
        found = (refs[idx] == wanted) if refs.size else np.zeros(len(wanted), dtype=bool)
        return found, idx

    def lookup(self, wanted: Array) -> tuple[Array, Array, Array]:
        """(found, price, side) of each wanted reference."""
        found, idx = self._find(self.refs, wanted)
        if not self.refs.size:
            return found, np.zeros(len(wanted), np.int64), np.full(len(wanted), b"", "S1")
        return found, self.price[idx], self.side[idx]


def _columns(parts: list[dict[str, Array]], name: str, dtype: Any, fill: Any = 0) -> Array:
    """Concatenate column `name` of every part, filling parts without it."""
    return np.concatenate(
        [p[name].astype(dtype) if name in p else np.full(p["n"], fill, dtype) for p in parts]
    )


def _itch_and_trades(
    msgs: Mapping[str, Array], symbols: _Symbols, start_unix_ns: int, itch_tz: str
) -> tuple[pa.Table, pa.Table]:
    book_orders = _Orders.build(msgs)
    parts: list[dict[str, Array]] = []
    for name in (
        "add_order",
        "add_order_mpid",
        "order_executed",
        "order_executed_with_price",
        "order_cancel",
        "order_delete",
        "order_replace",
        "trade",
        "cross_trade",
    ):
        m = msgs[name]
        code = itch.TAGS[name]
        part: dict[str, Array] = {
            "n": np.array(m.size),
            "tag": np.full(m.size, code.encode(), "S1"),
            "rank": np.full(m.size, _TYPE_RANK[code], np.int8),
            "itch_ns": m["timestamp"],
            "locate": m["stock_locate"],
        }
        names = m.dtype.names or ()
        if "order_ref" in names:
            part["order_ref"] = m["order_ref"]
        if code == "U":
            part["order_ref"] = m["original_order_ref"]
            part["new_order_ref"] = m["new_order_ref"]
        if "side" in names:
            part["side"] = m["side"]
        for shares in ("shares", "executed_shares", "cancelled_shares"):
            if shares in names:
                part["shares"] = m[shares]
        for price in ("price", "execution_price", "cross_price"):
            if price in names:
                part["price"] = m[price]
        if "match_number" in names:
            part["match_number"] = m["match_number"]
        if code == "E":
            found, px, side = book_orders.lookup(m["order_ref"])
            part["trade_price"], part["trade_side"], part["trade_priced"] = px, side, found
        if code == "C":
            _, _, side = book_orders.lookup(m["order_ref"])
            part["trade_side"] = side
            part["printable"] = m["printable"] != b"N"
        parts.append(part)

    n = sum(int(p["n"]) for p in parts)
    tag = _columns(parts, "tag", "S1", b"")
    itch_ns = _columns(parts, "itch_ns", np.int64)
    unix = unix_ns(itch_ns, start_unix_ns - _SLACK_NS, itch_tz)
    order = np.lexsort((np.arange(n), _columns(parts, "rank", np.int8), unix))
    tag, unix = tag[order], unix[order]
    locate = _columns(parts, "locate", np.uint16)[order]

    def col(name: str, dtype: Any, fill: Any = 0) -> Array:
        return _columns(parts, name, dtype, fill)[order]

    has = {t: np.isin(tag, [x.encode() for x in ts]) for t, ts in _HAS.items()}
    price_raw, price = _price(col("price", np.int64), has["price"])
    itch_table = pa.table(
        {
            "ts": _ts(unix),
            "type": _chars(tag),
            "locate": pa.array(locate, pa.uint16()),
            "order_ref": _opt(col("order_ref", np.uint64), has["order_ref"], pa.uint64()),
            "new_order_ref": _opt(col("new_order_ref", np.uint64), tag == b"U", pa.uint64()),
            "side": _opt(np.char.decode(col("side", "S1", b""), "ascii"), has["side"], pa.string()),
            "shares": pa.array(col("shares", np.uint64), pa.uint64()),
            "price_raw": price_raw,
            "price": price,
            "match_number": _opt(col("match_number", np.uint64), has["match"], pa.uint64()),
            "date": _dates(unix),
            "symbol": symbols.of(locate),
        }
    )

    # Trades: the feed's executions and prints, with the price each traded at.
    is_trade = has["match"]
    t_tag = tag[is_trade]
    wire_price = col("price", np.int64)[is_trade]
    book_price = col("trade_price", np.int64)[is_trade]
    t_price = np.where(t_tag == b"E", book_price, wire_price)
    t_priced = np.where(t_tag == b"E", col("trade_priced", bool, False)[is_trade], True)
    side = np.where(
        np.isin(t_tag, [b"E", b"C"]),
        col("trade_side", "S1", b"")[is_trade],
        col("side", "S1", b"")[is_trade],
    )
    t_price_raw, t_price_dec = _price(t_price, t_priced)
    t_unix = unix[is_trade]
    trades_table = pa.table(
        {
            "ts": _ts(t_unix),
            "type": _chars(t_tag),
            "order_ref": _opt(
                col("order_ref", np.uint64)[is_trade], has["order_ref"][is_trade], pa.uint64()
            ),
            "side": _opt(np.char.decode(side, "ascii"), side != b"", pa.string()),
            "shares": pa.array(col("shares", np.uint64)[is_trade], pa.uint64()),
            "price_raw": t_price_raw,
            "price": t_price_dec,
            "match_number": pa.array(col("match_number", np.uint64)[is_trade], pa.uint64()),
            "printable": pa.array(col("printable", bool, True)[is_trade], pa.bool_()),
            "date": _dates(t_unix),
            "symbol": symbols.of(locate[is_trade]),
        }
    )
    return itch_table, trades_table


_HAS: Final = {
    "price": "AFUPCQ",
    "order_ref": "AFEXCDUP",
    "side": "AFP",
    "match": "ECPQ",
}
"""Which message types carry each optional column."""


def _bbo(pcap: str, symbols: _Symbols, start_unix_ns: int, itch_tz: str) -> pa.Table:
    b = itch.replay_bbo(pcap)
    itch_ns = b["timestamp_ns"].astype(np.int64)
    unix = unix_ns(itch_ns, start_unix_ns - _SLACK_NS, itch_tz)
    bid_raw, bid = _price(b["bid_px"], b["bid_qty"] > 0)
    ask_raw, ask = _price(b["ask_px"], b["ask_qty"] > 0)
    return pa.table(
        {
            "ts": _ts(unix),
            "locate": pa.array(b["locate"], pa.uint16()),
            "bid_price_raw": bid_raw,
            "bid_price": bid,
            "bid_qty": _opt(b["bid_qty"], b["bid_qty"] > 0, pa.uint64()),
            "ask_price_raw": ask_raw,
            "ask_price": ask,
            "ask_qty": _opt(b["ask_qty"], b["ask_qty"] > 0, pa.uint64()),
            "date": _dates(unix),
            "symbol": symbols.of(b["locate"]),
        }
    )


def _l2_one(pcap: str, symbol: str, depth: int, start_unix_ns: int, itch_tz: str) -> pa.Table:
    r = itch.replay_l2(pcap, symbol, depth)
    itch_ns = r["timestamp_ns"].astype(np.int64)
    sides = ("bid", "ask")
    grids = {f"{s}_{k}": r[f"{s}_{k}"] for s in sides for k in ("px", "qty", "count")}
    # Keep the rows where the top `depth` levels changed (the replay has one per book change).
    stacked = np.concatenate([g.astype(np.int64) for g in grids.values()], axis=1)
    changed = np.ones(itch_ns.size, dtype=bool)
    changed[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    itch_ns = itch_ns[changed]
    grids = {k: g[changed] for k, g in grids.items()}
    unix = unix_ns(itch_ns, start_unix_ns - _SLACK_NS, itch_tz)
    out: dict[str, list[Array]] = {k: [] for k in ("row", "side", "level", "px", "qty", "count")}
    for s in sides:
        qty, count = grids[f"{s}_qty"], grids[f"{s}_count"]
        row, level = np.nonzero((qty > 0) | (count > 0))
        out["row"].append(row)
        out["side"].append(np.full(row.size, b"B" if s == "bid" else b"S", "S1"))
        out["level"].append(level + 1)
        out["px"].append(grids[f"{s}_px"][row, level])
        out["qty"].append(qty[row, level])
        out["count"].append(count[row, level])
    cat = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((cat["level"], cat["side"] == b"S", cat["row"]))
    cat = {k: v[order] for k, v in cat.items()}
    row = cat["row"]
    price_raw, price = _price(cat["px"])
    return pa.table(
        {
            "ts": _ts(unix[row]),
            "snapshot": pa.array(row.astype(np.int64)),
            "side": _chars(cat["side"]),
            "level": pa.array(cat["level"], pa.uint16()),
            "price_raw": price_raw,
            "price": price,
            "qty": pa.array(cat["qty"], pa.uint64()),
            "orders": pa.array(cat["count"], pa.uint32()),
            "date": _dates(unix[row]),
            "symbol": pa.array(np.full(row.size, symbol, dtype=object), pa.string()),
        }
    )


def _orders_and_fills(journal: str, symbols: _Symbols) -> tuple[pa.Table, pa.Table]:
    data = _core.journal_orders(journal)
    req, rep = data["requests"], data["reports"]
    inst = req["instrument"].astype(np.uint16)
    price_raw, price = _price(req["price"])
    orders = pa.table(
        {
            "ts": _ts(req["ts_unix_ns"].astype(np.int64)),
            "action": _chars(req["action"]),
            "side": _chars(req["side"]),
            "cl": pa.array(req["cl"], pa.uint32()),
            "orig": pa.array(req["orig"], pa.uint32()),
            "instrument": pa.array(inst, pa.uint16()),
            "price_raw": price_raw,
            "price": price,
            "qty": pa.array(req["qty"], pa.uint64()),
            "post_only": pa.array(req["post_only"].astype(bool), pa.bool_()),
            "tif": _opt_chars(req["tif"]),
            "date": _dates(req["ts_unix_ns"].astype(np.int64)),
            "symbol": symbols.of(inst),
        }
    )
    # Which instrument and side each client order id belongs to: new orders and replaces
    # name a fresh id; the last request naming an id wins.
    creates = np.isin(req["action"], [b"N", b"R"])
    cls_ = req["cl"][creates]
    by_cl = np.argsort(cls_, kind="stable")
    sorted_cl = cls_[by_cl]
    keep = np.ones(sorted_cl.size, dtype=bool)
    keep[:-1] = sorted_cl[1:] != sorted_cl[:-1]
    sorted_cl = sorted_cl[keep]
    cl_inst = inst[creates][by_cl][keep]
    cl_side = req["side"][creates][by_cl][keep]

    fill = rep[np.isin(rep["kind"], [b"E", b"B"])]
    idx = np.minimum(np.searchsorted(sorted_cl, fill["cl"]), max(sorted_cl.size - 1, 0))
    known = sorted_cl[idx] == fill["cl"] if sorted_cl.size else np.zeros(fill.size, dtype=bool)
    f_inst = np.where(known, cl_inst[idx] if sorted_cl.size else 0, 0).astype(np.uint16)
    f_side = np.where(known, cl_side[idx] if sorted_cl.size else b"", b"")
    f_raw, f_price = _price(fill["price"])
    f_ts = fill["ts_unix_ns"].astype(np.int64)
    fills = pa.table(
        {
            "ts": _ts(f_ts),
            "kind": _chars(fill["kind"]),
            "cl": pa.array(fill["cl"], pa.uint32()),
            "side": _opt(np.char.decode(f_side.astype("S1"), "ascii"), known, pa.string()),
            "instrument": _opt(f_inst, known, pa.uint16()),
            "venue_id": pa.array(fill["venue_id"], pa.uint64()),
            "price_raw": f_raw,
            "price": f_price,
            "qty": pa.array(fill["qty"], pa.uint64()),
            "match_number": pa.array(fill["match_number"], pa.uint64()),
            "liquidity": _opt_chars(fill["liquidity"]),
            "date": _dates(f_ts),
            "symbol": pa.array(
                np.where(known, symbols.names[f_inst.astype(np.intp)], "#unknown"), pa.string()
            ),
        }
    )
    return orders, fills


# --------------------------------------------------------------------------- writing


def _with_partitions(schema: pa.Schema) -> pa.Schema:
    """A table's schema with the partition columns `date` and `symbol` appended."""
    return pa.schema(list(schema) + list(PARTITIONING))


_DELTA_COLUMNS: Final = frozenset(["ts", "snapshot", "order_ref", "new_order_ref", "match_number"])


def _empty(name: str) -> pa.Table:
    """Table `name` with no rows."""
    return _with_partitions(SCHEMAS[name]).empty_table()


def _write(table: pa.Table, base: Path, name: str, basename: str) -> tuple[int, int]:
    """Write `table` under `base/name`, Hive-partitioned; returns (files, bytes)."""
    expected = _with_partitions(SCHEMAS[name])
    if not table.schema.equals(expected):
        raise ProtocolError(f"export: table {name} has schema {table.schema}, not {expected}")
    if table.num_rows == 0:
        return 0, 0
    written: list[str] = []
    fmt = pads.ParquetFileFormat()
    # Rows are in time order within a partition: delta-encode the columns that mostly grow,
    # dictionary-encode the rest. This halves the files against plain zstd.
    delta = [c for c in SCHEMAS[name].names if c in _DELTA_COLUMNS]
    options = fmt.make_write_options(
        compression="zstd",
        store_decimal_as_integer=True,
        use_dictionary=[c for c in SCHEMAS[name].names if c not in delta],
        column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
    )
    pads.write_dataset(
        table,
        base / name,
        format=fmt,
        file_options=options,
        preserve_order=True,
        partitioning=pads.partitioning(PARTITIONING, flavor="hive"),
        basename_template=f"{basename}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_partitions=1 << 20,
        file_visitor=lambda f: written.append(f.path),
    )
    return len(written), sum(os.path.getsize(p) for p in written)


def export(
    journal: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    depth: int = 5,
    *,
    l2_symbols: Collection[str] | None = None,
    symbols: Mapping[int, str] | None = None,
    itch_tz: str = "UTC",
) -> ExportSummary:
    """Write the journal's market data, orders and fills as Parquet under `out_dir`.

    `depth` levels per side go into `l2` for `l2_symbols` (None: every symbol of the stock
    directory that had an order on its book; each symbol costs one replay of the feed, so
    name the few you need on a full-market feed); `depth=0` writes no `l2`. `itch_tz` is
    the time zone whose midnight ITCH timestamps count from. `symbols` (instrument id =
    stock locate -> symbol, e.g. from the engine's configuration) names what the journal's
    feed did not: an engine that joins a running feed misses its stock directory. Corrupt
    journal records are skipped and listed in the summary, never fatal. See the module docs
    for the tables.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= 1000:
        raise ConfigError(f"depth must be an integer in 0..=1000, not {depth!r}")
    if itch_tz != "UTC":
        try:
            ZoneInfo(itch_tz)
        except (ValueError, KeyError, OSError) as e:
            raise ConfigError(f"unknown time zone {itch_tz!r}") from e
    src = os.fspath(journal)
    if not os.path.exists(src):
        raise FileNotFoundError(f"no such journal: {src}")
    base = Path(out_dir)
    info = _core.journal_inspect(src)
    first = get_opt_int(info, "first_ts_unix_ns")
    start = first if first is not None else 0
    skipped = info.get("checksum_errors") or []
    torn = info.get("torn_tail")
    if not isinstance(skipped, list) or not (torn is None or isinstance(torn, dict)):
        raise ProtocolError("quotewire._core: journal_inspect gave malformed error lists")
    base.mkdir(parents=True, exist_ok=True)

    if symbols is None:
        symbols = journal_instruments(src) or None
    with tempfile.TemporaryDirectory(prefix="quotewire-export-") as tmp:
        pcap = str(Path(tmp) / "feed.pcap")
        packets, added = feed_pcap(src, pcap, symbols)
        feed = pcap if packets else None
        if feed is not None:
            # The feed as received (packets, receive times): what `quotewire backtest`
            # replays from an exported history directory.
            (base / "capture").mkdir(exist_ok=True)
            shutil.copyfile(pcap, base / "capture" / "feed.pcap")
        msgs = itch.read(pcap) if feed else itch.from_raw({})
        names = _Symbols(msgs["stock_directory"], symbols)
        messages = sum(int(a.size) for a in msgs.values()) - added
        active = {int(x) for n in ("add_order", "add_order_mpid") for x in msgs[n]["stock_locate"]}
        itch_table, trades_table = _itch_and_trades(msgs, names, start, itch_tz)
        del msgs
        if l2_symbols is None:
            wanted = sorted(sym for loc, sym in names.known().items() if loc in active)
        else:
            wanted = sorted({s.strip() for s in l2_symbols})
        l2 = (
            []
            if feed is None or depth == 0
            else [_l2_one(feed, sym, depth, start, itch_tz) for sym in wanted]
        )
        tables: list[tuple[str, pa.Table]] = [
            ("itch", itch_table),
            ("bbo", _empty("bbo") if feed is None else _bbo(feed, names, start, itch_tz)),
            ("l2", pa.concat_tables(l2) if l2 else _empty("l2")),
            ("trades", trades_table),
        ]
    tables += zip(("orders", "fills"), _orders_and_fills(src, names), strict=True)

    rows: dict[str, int] = {}
    nbytes: dict[str, int] = {}
    files = 0
    dates: set[str] = set()
    syms: set[str] = set()
    for name, table in tables:
        n_files, n_bytes = _write(table, base, name, f"j{start}")
        rows[name], nbytes[name] = table.num_rows, n_bytes
        files += n_files
        dates.update(str(d) for d in pc.unique(table["date"]).to_pylist())
        syms.update(str(s) for s in pc.unique(table["symbol"]).to_pylist())
    return ExportSummary(
        journal=src,
        out_dir=str(base),
        rows=rows,
        bytes=nbytes,
        files=files,
        market_data_messages=messages,
        packets=packets,
        dates=tuple(sorted(dates)),
        symbols=tuple(sorted(syms)),
        skipped_records=[dict(e) for e in skipped],
        torn_tail=None if torn is None else dict(torn),
    )
