"""Bring your own data: market-by-order files into TotalView-ITCH 5.0 daily captures.

The captures written here are read by everything that reads a daily ITCH file
(`quotewire.itch`, `quotewire itch summary|book`, the venue simulator's capture replay).

Sources:

* `from_csv` / `from_parquet`: the generic layout, one order event per row, columns
  ``timestamp`` (ISO 8601, UTC unless an offset is given, or integer ns since the Unix
  epoch), ``order_id`` (integer), ``side`` (B/S, buy/sell, bid/ask), ``price`` (decimal
  text or number), ``size`` (integer shares), ``action`` (add/cancel/delete/fill/modify
  or A/C/D/F/M), ``symbol`` and optionally ``new_order_id`` (modify only). ``cancel``
  takes ``size`` shares off the order (all of them: an ITCH Order Delete); ``delete``
  removes what is left; ``fill`` is an execution of the resting order; ``modify`` sets a
  new price and size (ITCH Order Replace). Price and side are needed on add and modify
  only.
* `from_dbn`: Databento MBO (`.dbn`, `.dbn.zst`) through the `databento_dbn` package.

Rules, the same for every source:

* Prices become ITCH `Price(4)` exactly (through `Decimal`); a price with more than four
  decimals, or not a multiple of `tick`, is refused.
* One session per file: timestamps become ns since UTC midnight of the first row's date;
  a row on another date is refused. Rows must not go back in time.
* Symbols get locates 1..N in order of appearance (after `symbols` renames them); an
  ITCH symbol is 1-8 printable ASCII characters.
* ITCH order references are assigned by the writer (1, 2, 3... per add and replace), so
  they are day-unique whatever the source's ids.
* A refused row never stops the import: it is listed in `ImportSummary.rejected` with
  its line (1-based, the header is line 1; Parquet rows are numbered as if written as
  CSV; DBN records count from 1) and the reason.
"""

from __future__ import annotations

import calendar
import csv
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

import numpy as np
import numpy.typing as npt

from quotewire import _core
from quotewire.errors import ConfigError, DataError

__all__ = [
    "ROW_DTYPE",
    "ImportSummary",
    "Rejected",
    "from_csv",
    "from_dbn",
    "from_parquet",
]

ROW_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "<u8"),
        ("locate", "<u2"),
        ("order_ref", "<u8"),
        ("side", "S1"),
        ("price", "<i8"),
        ("shares", "<u4"),
        ("action", "S1"),
        ("new_order_ref", "<u8"),
    ]
)
"""The normalised rows `_core.itch_write_daily` encodes (packed, little-endian)."""

REQUIRED_COLUMNS: Final = ("timestamp", "order_id", "side", "price", "size", "action", "symbol")
"""Columns of the generic layout; ``new_order_id`` is optional."""

_NS_PER_DAY: Final = 86_400 * 1_000_000_000
_PRICE_SCALE: Final = Decimal(10_000)
_U32_MAX: Final = 2**32 - 1
_U64_MAX: Final = 2**64 - 1
_ACTIONS: Final = {
    "a": b"A",
    "add": b"A",
    "c": b"C",
    "cancel": b"C",
    "d": b"D",
    "delete": b"D",
    "f": b"F",
    "fill": b"F",
    "m": b"M",
    "modify": b"M",
}
_SIDES: Final = {"b": b"B", "buy": b"B", "bid": b"B", "s": b"S", "sell": b"S", "ask": b"S"}
_ISO: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused row: its line (1-based, header = line 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import wrote."""

    source: str
    out: str
    rows: int
    """Data rows (records) read from the source."""
    messages: int
    """ITCH messages written, system events and directory included."""
    rejected: tuple[Rejected, ...]
    instruments: dict[str, int]
    """ITCH symbol -> locate."""
    first_ns: int | None
    """First written order event, ns since midnight (None when none was written)."""
    last_ns: int | None
    session_date: str | None
    """The session's UTC date, ISO format."""
    open_orders: int
    """Orders still resting at the end of the file."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Source records with no book effect, by kind (e.g. DBN trades)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict; rejections as ``[line, reason]`` pairs."""
        return {
            "source": self.source,
            "out": self.out,
            "rows": self.rows,
            "messages": self.messages,
            "rejected": [[r.line, r.reason] for r in self.rejected],
            "instruments": dict(self.instruments),
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "session_date": self.session_date,
            "open_orders": self.open_orders,
            "skipped": dict(self.skipped),
        }


class _RowError(Exception):
    """A field was refused; the message is the reason reported."""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _epoch_ns(value: object) -> int:
    """Nanoseconds since the Unix epoch, from integer ns or ISO 8601 text."""
    if isinstance(value, bool):
        raise _RowError(f"timestamp {value!r} is not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        value = value.isoformat()
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    m = _ISO.fullmatch(text)
    if m is None:
        raise _RowError(f"timestamp {text!r} is neither ISO 8601 nor integer ns")
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac, offset = m.group(7) or "", m.group(8)
    try:
        dt = datetime(year, month, day, hh, mm, ss, tzinfo=UTC)
    except ValueError as e:
        raise _RowError(f"timestamp {text!r}: {e}") from None
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    secs = calendar.timegm(dt.utctimetuple())
    return secs * 1_000_000_000 + int(frac.ljust(9, "0") or 0)


def _uint(value: object, what: str, limit: int) -> int:
    if isinstance(value, bool):
        raise _RowError(f"{what} {value!r} is not an integer")
    try:
        n = value if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise _RowError(f"{what} {value!r} is not an integer") from None
    if not 0 <= n <= limit:
        raise _RowError(f"{what} {n} is out of range 0..{limit}")
    return n


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise _RowError(f"price {value!r} is not a number")
    try:
        # str() of a float is its shortest round-trip text, e.g. 100.01 -> "100.01".
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise _RowError(f"price {value!r} is not a number") from None
    if not d.is_finite():
        raise _RowError(f"price {value!r} is not a number")
    return d


def _tick(tick: Decimal | str | float) -> Decimal:
    try:
        t = tick if isinstance(tick, Decimal) else Decimal(str(tick))
    except InvalidOperation:
        raise ConfigError(f"tick {tick!r} is not a number") from None
    if not t.is_finite() or t <= 0 or (t * _PRICE_SCALE) % 1 != 0:
        raise ConfigError(f"tick {tick!r} must be positive with at most 4 decimals")
    return t


def _symbol(text: str) -> str:
    if not 1 <= len(text) <= 8 or not all("!" <= c <= "~" for c in text):
        raise _RowError(f"symbol {text!r} is not 1-8 printable ASCII characters")
    return text


class _Builder:
    """Normalises generic records into `ROW_DTYPE` rows and writes the capture."""

    def __init__(
        self, source: str, tick: Decimal | str | float, symbols: Mapping[str, str] | None
    ) -> None:
        self.source = source
        self.tick = _tick(tick)
        self.renames = dict(symbols or {})
        self.locates: dict[str, int] = {}
        self.midnight: int | None = None
        self.session: date | None = None
        self.rows = 0
        self.lines: list[int] = []
        self.cols: dict[str, list[object]] = {name: [] for name in ROW_DTYPE.names or ()}
        self.rejected: list[Rejected] = []
        self.skipped: dict[str, int] = {}

    def skip(self, kind: str) -> None:
        self.rows += 1
        self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def reject(self, line: int, reason: str) -> None:
        self.rows += 1
        self.rejected.append(Rejected(line, reason))

    def add(self, line: int, rec: Mapping[str, object]) -> None:
        """Takes one record of the generic layout; refuses it with a reason if bad."""
        self.rows += 1
        try:
            row = self._row(rec)
        except _RowError as e:
            self.rejected.append(Rejected(line, str(e)))
            return
        self.lines.append(line)
        for name, value in row.items():
            self.cols[name].append(value)

    def _ts(self, value: object) -> int:
        ns = _epoch_ns(value)
        if ns < 0:
            raise _RowError(f"timestamp {value!r} is before 1970")
        day = ns // _NS_PER_DAY
        if self.midnight is None:
            self.midnight = day * _NS_PER_DAY
            self.session = date(1970, 1, 1) + timedelta(days=day)
        if day * _NS_PER_DAY != self.midnight:
            other = date(1970, 1, 1) + timedelta(days=day)
            raise _RowError(
                f"timestamp on {other}, the session is {self.session} (one day per file)"
            )
        return ns - self.midnight

    def _price(self, value: object) -> int:
        if _blank(value):
            raise _RowError("price missing")
        p = _decimal(value)
        if p <= 0:
            raise _RowError(f"price {p} is not positive")
        raw = p * _PRICE_SCALE
        if raw != raw.to_integral_value():
            raise _RowError(f"price {p} has more than 4 decimals")
        if p % self.tick != 0:
            raise _RowError(f"price {p} is not a multiple of the tick {self.tick}")
        if raw > _U32_MAX:
            raise _RowError(f"price {p} is above the ITCH Price(4) range")
        return int(raw)

    def _row(self, rec: Mapping[str, object]) -> dict[str, object]:
        text = str(rec.get("action") or "").strip().lower()
        action = _ACTIONS.get(text)
        if action is None:
            raise _RowError(f"action {text!r} is not add/cancel/delete/fill/modify (A/C/D/F/M)")
        side = b" "
        side_text = str(rec.get("side") or "").strip().lower()
        if side_text or action == b"A":
            found = _SIDES.get(side_text)
            if found is None:
                raise _RowError(f"side {side_text!r} is not B/S, buy/sell or bid/ask")
            side = found
        sym_text = str(rec.get("symbol") or "").strip()
        symbol = _symbol(self.renames.get(sym_text, sym_text))
        order_ref = _uint(rec.get("order_id"), "order_id", _U64_MAX)
        price = self._price(rec.get("price")) if action in (b"A", b"M") else 0
        size = rec.get("size")
        shares = 0 if _blank(size) and action == b"D" else _uint(size, "size", _U32_MAX)
        new = rec.get("new_order_id")
        new_ref = 0 if _blank(new) or action != b"M" else _uint(new, "new_order_id", _U64_MAX)
        ts_ns = self._ts(rec.get("timestamp"))
        locate = self.locates.setdefault(symbol, len(self.locates) + 1)
        if locate > 0xFFFF:
            raise _RowError("more than 65535 instruments")
        return {
            "ts_ns": ts_ns,
            "locate": locate,
            "order_ref": order_ref,
            "side": side,
            "price": price,
            "shares": shares,
            "action": action,
            "new_order_ref": new_ref,
        }

    def write(self, out: str | os.PathLike[str]) -> ImportSummary:
        """Encodes the accepted rows into `out`."""
        rows = np.zeros(len(self.lines), dtype=ROW_DTYPE)
        for name, values in self.cols.items():
            rows[name] = values
        result = _core.itch_write_daily(
            os.fspath(out), rows, {loc: sym for sym, loc in self.locates.items()}
        )
        refused = {int(i): str(reason) for i, reason in result["rejected"]}
        rejected = self.rejected + [Rejected(self.lines[i], r) for i, r in refused.items()]
        kept: npt.NDArray[np.uint64] = np.delete(rows["ts_ns"], list(refused))
        return ImportSummary(
            source=self.source,
            out=os.fspath(out),
            rows=self.rows,
            messages=int(result["messages"]),
            rejected=tuple(sorted(rejected, key=lambda r: r.line)),
            instruments=dict(self.locates),
            first_ns=int(kept[0]) if kept.size else None,
            last_ns=int(kept[-1]) if kept.size else None,
            session_date=self.session.isoformat() if self.session else None,
            open_orders=int(result["open_orders"]),
            skipped=dict(self.skipped),
        )


def _check_columns(names: Iterable[str], source: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in set(names)]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")


def from_csv(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tick: Decimal | str | float,
    symbols: Mapping[str, str] | None = None,
) -> ImportSummary:
    """Import a CSV file of the generic layout into the daily ITCH file `out`.

    `symbols` renames source symbols to ITCH ones (1-8 characters).
    """
    source = os.fspath(path)
    builder = _Builder(source, tick, symbols)
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or (), source)
        for rec in reader:
            builder.add(reader.line_num, rec)
    return builder.write(out)


def _parquet_records(path: str) -> Iterator[dict[str, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    _check_columns(table.column_names, path)
    columns: dict[str, list[object]] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[col.type.unit]
            raw = col.cast(pa.int64()).to_pylist()
            columns[name] = [None if v is None else int(v) * per_unit for v in raw]
        else:
            columns[name] = col.to_pylist()
    for i in range(table.num_rows):
        yield {name: values[i] for name, values in columns.items()}


def from_parquet(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tick: Decimal | str | float,
    symbols: Mapping[str, str] | None = None,
) -> ImportSummary:
    """Import a Parquet file of the generic layout (same columns as `from_csv`; a
    timestamp column may also be an Arrow timestamp)."""
    source = os.fspath(path)
    builder = _Builder(source, tick, symbols)
    for i, rec in enumerate(_parquet_records(source)):
        builder.add(i + 2, rec)
    return builder.write(out)


_DBN_NANO: Final = Decimal("1e-9")


def from_dbn(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tick: Decimal | str | float,
    symbols: Mapping[str, str] | None = None,
) -> ImportSummary:
    """Import a Databento MBO file (plain or zstd DBN) into the daily ITCH file `out`.

    Timestamps are `ts_recv` (the order DBN files are sorted in). Symbols come from the
    file's symbology (instrument id -> raw symbol), else the instrument id as text; then
    `symbols` renames them. Actions: A add, C cancel of `size` shares, M modify, F fill;
    T (trade, no book effect) and N are skipped and counted; R (clear book) is refused.
    """
    import databento_dbn as dbn

    source = os.fspath(path)
    builder = _Builder(source, tick, symbols)
    with open(source, "rb") as f:
        head = f.read(4)
        f.seek(0)
        zstd = head == b"\x28\xb5\x2f\xfd"
        decoder = (
            dbn.DBNDecoder(compression=dbn.Compression.from_str("zstd"))
            if zstd
            else dbn.DBNDecoder()
        )
        names: dict[int, str] = {}
        number = 0
        while chunk := f.read(1 << 20):
            decoder.write(chunk)
            for rec in decoder.decode():
                if isinstance(rec, dbn.Metadata):
                    for raw_symbol, intervals in rec.mappings.items():
                        for iv in intervals:
                            if str(iv["symbol"]).isdigit():
                                names[int(iv["symbol"])] = raw_symbol
                    continue
                if isinstance(rec, dbn.SymbolMappingMsg):
                    names[rec.instrument_id] = str(rec.stype_in_symbol)
                    continue
                if not isinstance(rec, dbn.MBOMsg):
                    continue
                number += 1
                _dbn_record(builder, number, rec, names)
    if number == 0 and builder.rows == 0:
        raise DataError(f"{source}: no MBO records")
    return builder.write(out)


def _dbn_record(builder: _Builder, number: int, rec: object, names: Mapping[int, str]) -> None:
    import databento_dbn as dbn

    assert isinstance(rec, dbn.MBOMsg)
    action = str(rec.action)
    if action in ("T", "N"):
        builder.skip("trade" if action == "T" else "none")
        return
    if action == "R":
        builder.reject(number, "clear book (R) has no ITCH equivalent; skipped")
        return
    price: object = None
    if rec.price != dbn.UNDEF_PRICE:
        price = Decimal(rec.price) * _DBN_NANO
    side = {"B": "B", "A": "S"}.get(str(rec.side), "")
    builder.add(
        number,
        {
            "timestamp": rec.ts_recv,
            "order_id": rec.order_id,
            "side": side,
            "price": price,
            "size": rec.size,
            "action": action,
            "symbol": names.get(rec.instrument_id, str(rec.instrument_id)),
        },
    )
