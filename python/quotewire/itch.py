"""NASDAQ TotalView-ITCH 5.0 sessions as NumPy arrays, summaries and books.

All per-message work happens in the compiled core (`quotewire._core`) or in NumPy; this
module only orchestrates whole files and shapes the results.

Conventions:

* **Message keys.** `read` returns one structured array per message type keyed by the
  snake_case message name (`"add_order"`, `"order_executed"`, ...). `TAGS` maps each name
  to its one-character ITCH tag (`TAGS["add_order"] == "A"`) and `NAMES` maps back.
* **Prices** stay exact integers: ITCH `price4` fields have four implied decimals
  (`PRICE_SCALE == 10_000`, so `1_234_500` is 123.45); `price8` fields (MWCB levels) have
  eight (`PRICE8_SCALE`). Convert with `price_to_float`, `price_to_decimal` or
  `format_price` only for display.
* **Timestamps** are integer nanoseconds since midnight; `parse_hms` and `format_hms`
  convert to and from `HH:MM:SS.nnnnnnnnn`.
* **Alpha fields** (symbols, MPIDs) are fixed-width `S{n}` bytes with ITCH's right space
  padding kept; strip them when displaying.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt

from quotewire import _core
from quotewire._values import (
    get_int,
    get_int_map,
    get_opt_int,
    get_str,
    get_str_list,
)
from quotewire.errors import ConfigError, DataError, ProtocolError, QuotewireError

__all__ = [
    "NAMES",
    "PRICE8_SCALE",
    "PRICE_SCALE",
    "TAGS",
    "Book",
    "Field",
    "Layout",
    "Level",
    "Summary",
    "book",
    "format_hms",
    "format_price",
    "from_raw",
    "layouts",
    "most_active",
    "parse_hms",
    "price_to_decimal",
    "price_to_float",
    "read",
    "replay_bbo",
    "replay_l2",
    "summary",
]

PRICE_SCALE: Final = 10_000
"""Raw units per 1.0 of an ITCH `price4` field (and of every quotewire price)."""
PRICE8_SCALE: Final = 100_000_000
"""Raw units per 1.0 of an ITCH `price8` field."""

NS_PER_SECOND: Final = 1_000_000_000

Array = npt.NDArray[Any]

# Wire (big-endian) and native NumPy formats per field kind; `u48` is special-cased.
_WIRE_FORMAT: Final[Mapping[str, tuple[str, int]]] = {
    "u16": (">u2", 2),
    "u32": (">u4", 4),
    "u64": (">u8", 8),
    "price4": (">u4", 4),
    "price8": (">u8", 8),
}
_NATIVE_FORMAT: Final[Mapping[str, str]] = {
    "u16": "u2",
    "u32": "u4",
    "u48": "u8",
    "u64": "u8",
    # Prices widen to int64 so arithmetic (spreads, differences) cannot wrap, matching the
    # int64 prices of `replay_bbo`/`replay_l2` and the core's `Price`.
    "price4": "i8",
    "price8": "i8",
}


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an ITCH message: name, byte offset, byte length and kind."""

    name: str
    offset: int
    length: int
    kind: str


@dataclass(frozen=True, slots=True)
class Layout:
    """The fixed wire layout of one ITCH message type."""

    tag: str
    name: str
    length: int
    fields: tuple[Field, ...]

    @property
    def raw_dtype(self) -> np.dtype[np.void]:
        """Packed big-endian dtype viewing the wire bytes; `itemsize == length`.

        A 6-byte `u48` field `x` (the timestamp) appears as `x_hi` (big-endian u16) and
        `x_lo` (big-endian u32), so `x == x_hi << 32 | x_lo`.
        """
        return _raw_dtype(self)

    @property
    def dtype(self) -> np.dtype[np.void]:
        """Aligned native-endian dtype of the arrays returned by `read(raw=False)`."""
        return _native_dtype(self)


def _snake(name: str) -> str:
    """`"Add Order (MPID)"`, `"AddOrderMpid"` and `"add_order_mpid"` -> `"add_order_mpid"`."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _check_field(tag: str, f: Field, length: int) -> None:
    expected = {"char": 1, "u48": 6} | {k: v[1] for k, v in _WIRE_FORMAT.items()}
    if f.kind != "alpha" and f.kind not in expected:
        raise ProtocolError(f"ITCH layout {tag!r}: field {f.name!r} has unknown kind {f.kind!r}")
    if f.kind in expected and f.length != expected[f.kind]:
        raise ProtocolError(
            f"ITCH layout {tag!r}: field {f.name!r} of kind {f.kind} has length {f.length}"
        )
    if f.offset < 0 or f.length <= 0 or f.offset + f.length > length:
        raise ProtocolError(f"ITCH layout {tag!r}: field {f.name!r} overruns the message")


@cache
def layouts() -> Mapping[str, Layout]:
    """Every ITCH message layout the core decodes, keyed by one-character tag."""
    out: dict[str, Layout] = {}
    for tag, (name, length, raw_fields) in sorted(_core.itch_layouts().items()):
        fields = tuple(Field(_snake(n), off, ln, kind) for n, off, ln, kind in raw_fields)
        for f in fields:
            _check_field(tag, f, length)
        out[tag] = Layout(tag=tag, name=_snake(name), length=length, fields=fields)
    return MappingProxyType(out)


@cache
def _raw_dtype(layout: Layout) -> np.dtype[np.void]:
    names: list[str] = []
    formats: list[str] = []
    offsets: list[int] = []
    for f in layout.fields:
        if f.kind == "u48":
            names += [f"{f.name}_hi", f"{f.name}_lo"]
            formats += [">u2", ">u4"]
            offsets += [f.offset, f.offset + 2]
        else:
            names.append(f.name)
            formats.append(_WIRE_FORMAT[f.kind][0] if f.kind in _WIRE_FORMAT else f"S{f.length}")
            offsets.append(f.offset)
    spec = {"names": names, "formats": formats, "offsets": offsets, "itemsize": layout.length}
    return np.dtype(spec)  # type: ignore[call-overload, no-any-return]


@cache
def _native_dtype(layout: Layout) -> np.dtype[np.void]:
    spec = [(f.name, _NATIVE_FORMAT.get(f.kind, f"S{f.length}")) for f in layout.fields]
    return np.dtype(spec, align=True)


class _LayoutIndex(Mapping[str, str]):
    """A read-only mapping built from `layouts()` on first use, so importing this module
    never calls into the core."""

    __slots__ = ("_by_name",)

    def __init__(self, by_name: bool) -> None:
        self._by_name = by_name

    def _data(self) -> Mapping[str, str]:
        return _tags() if self._by_name else _names()

    def __getitem__(self, key: str) -> str:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(dict(self._data()))


@cache
def _tags() -> Mapping[str, str]:
    return MappingProxyType({lo.name: t for t, lo in layouts().items()})


@cache
def _names() -> Mapping[str, str]:
    return MappingProxyType({t: lo.name for t, lo in layouts().items()})


TAGS: Final[Mapping[str, str]] = _LayoutIndex(by_name=True)
"""Message name -> one-character ITCH tag, e.g. `TAGS["add_order"] == "A"`."""
NAMES: Final[Mapping[str, str]] = _LayoutIndex(by_name=False)
"""One-character ITCH tag -> message name, e.g. `NAMES["A"] == "add_order"`."""


# --------------------------------------------------------------------------- arrays


def _to_tags(types: Collection[str] | None) -> set[str]:
    if types is None:
        return set(NAMES)
    tags: set[str] = set()
    for t in types:
        if t in NAMES:
            tags.add(t)
        elif t in TAGS:
            tags.add(TAGS[t])
        else:
            raise ConfigError(f"unknown ITCH message type {t!r} (names: {', '.join(TAGS)})")
    return tags


def _native(raw: Array, layout: Layout) -> Array:
    out = np.empty(raw.shape[0], dtype=layout.dtype)
    for f in layout.fields:
        if f.kind == "u48":
            hi = raw[f"{f.name}_hi"].astype(np.uint64)
            out[f.name] = (hi << np.uint64(32)) | raw[f"{f.name}_lo"]
        else:
            out[f.name] = raw[f.name]
    return out


def from_raw(
    data: Mapping[str, bytes], *, raw: bool = False, types: Collection[str] | None = None
) -> dict[str, Array]:
    """Turn `_core.itch_read_raw` output (tag -> concatenated wire bytes) into arrays.

    With `raw=True` each array is a zero-copy, read-only view of the bytes with a packed
    big-endian dtype (`Layout.raw_dtype`); otherwise a native-endian copy with readable
    fields (`Layout.dtype`). Keys are message names; `types` (names or tags) selects a
    subset, and every selected type is present, empty when the session has none.
    """
    all_layouts = layouts()
    unknown = set(data) - set(all_layouts)
    if unknown:
        raise ProtocolError(f"no ITCH layout for message tag(s) {sorted(unknown)}")
    out: dict[str, Array] = {}
    for tag in sorted(_to_tags(types)):
        layout = all_layouts[tag]
        buf = data.get(tag, b"")
        if len(buf) % layout.length:
            raise ProtocolError(
                f"{layout.name}: {len(buf)} bytes is not a multiple of the "
                f"{layout.length}-byte message length"
            )
        view: Array = np.frombuffer(buf, dtype=layout.raw_dtype)
        out[layout.name] = view if raw else _native(view, layout)
    return out


def read(
    path: str | os.PathLike[str], *, raw: bool = False, types: Collection[str] | None = None
) -> dict[str, Array]:
    """Read every message of a session into one structured array per message type.

    Keys are snake_case message names (see `TAGS`). With `raw=False` (default) arrays are
    native-endian with the 6-byte timestamp as one `uint64` `timestamp` field, alpha and
    char fields as `S{n}`/`S1`, integers native and prices as raw `int64` (scale
    `PRICE_SCALE`). With `raw=True` they are zero-copy big-endian views of the wire bytes.
    `types` (names or tags) limits which types are returned.
    """
    return from_raw(_core.itch_read_raw(_existing(path)), raw=raw, types=types)


# --------------------------------------------------------------------------- prices, times


@overload
def price_to_float(raw: int, scale: int = PRICE_SCALE) -> float: ...
@overload
def price_to_float(raw: Array, scale: int = PRICE_SCALE) -> npt.NDArray[np.float64]: ...
def price_to_float(raw: int | Array, scale: int = PRICE_SCALE) -> float | npt.NDArray[np.float64]:
    """Raw fixed-point price(s) to float: `raw / scale` (scale 10_000 for ITCH `price4`).

    Floats are for display and models only; keep the raw integers for anything exact.
    """
    if isinstance(raw, np.ndarray):
        return raw.astype(np.float64) / scale
    return raw / scale


def price_to_decimal(raw: int, scale: int = PRICE_SCALE) -> Decimal:
    """Raw fixed-point price to an exact `Decimal` (`12345` -> `Decimal("1.2345")`)."""
    places = len(str(scale)) - 1
    if scale != 10**places:
        raise ConfigError(f"price scale must be a power of ten, not {scale}")
    return Decimal(raw).scaleb(-places)


def format_price(raw: int, scale: int = PRICE_SCALE) -> str:
    """Raw fixed-point price as an exact decimal string with all its places: `"1.2345"`."""
    places = len(str(scale)) - 1
    return f"{price_to_decimal(raw, scale):.{places}f}"


_HMS = re.compile(r"(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?")


def parse_hms(text: str) -> int:
    """`HH:MM:SS[.fraction]` (up to 9 fraction digits) -> nanoseconds since midnight.

    Raises `ConfigError` on anything else, e.g. minutes or seconds above 59.
    """
    m = _HMS.fullmatch(text.strip())
    if m is None:
        raise ConfigError(f"bad time {text!r}: expected HH:MM:SS.nnnnnnnnn")
    hours, minutes, seconds = int(m[1]), int(m[2]), int(m[3])
    if minutes > 59 or seconds > 59:
        raise ConfigError(f"bad time {text!r}: minutes and seconds must be below 60")
    frac = int((m[4] or "").ljust(9, "0"))
    return ((hours * 60 + minutes) * 60 + seconds) * NS_PER_SECOND + frac


def format_hms(ns: int) -> str:
    """Nanoseconds since midnight -> `HH:MM:SS.nnnnnnnnn` (hours may exceed 23)."""
    if ns < 0:
        raise ConfigError(f"cannot format a negative time ({ns} ns)")
    secs, frac = divmod(int(ns), NS_PER_SECOND)
    minutes, seconds = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{frac:09d}"


@contextmanager
def _about_symbol(symbol: str, path: str) -> Iterator[None]:
    """Re-raise the core's lookup errors as `DataError` naming the symbol and file."""
    try:
        yield
    except QuotewireError:
        raise
    except (LookupError, ValueError) as e:
        detail = " ".join(str(e.args[0] if e.args else e).split())
        if symbol in detail:
            raise DataError(f"{detail} (in {path})") from e
        raise DataError(f"symbol {symbol!r} in {path}: {detail}") from e


def _existing(path: str | os.PathLike[str]) -> str:
    """The path as `str`, or `FileNotFoundError` with a plain message if it is no file."""
    text = os.fspath(path)
    if not os.path.isfile(text):
        raise FileNotFoundError(f"no such file: {text}")
    return text


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts over a whole session file (see `summary`)."""

    path: str
    format: str
    nbytes: int
    messages: int
    by_type: dict[str, int]
    """Message count per one-character tag."""
    instruments: int
    symbols: tuple[str, ...]
    first_ns: int | None
    last_ns: int | None
    errors: dict[str, int]
    """Count per error reason (truncated, unknown_type, bad_length, gaps...); 0s omitted."""
    extra: dict[str, object] = field(default_factory=dict)
    """Any further figures the core reports (e.g. instruments_traded, packets)."""

    @property
    def by_name(self) -> dict[str, int]:
        """Message count per message name (tags without a layout keep their tag)."""
        return {NAMES.get(tag, tag): n for tag, n in self.by_type.items()}

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict with the core's keys (`bytes`, not `nbytes`) plus `path`."""
        return {
            "path": self.path,
            "format": self.format,
            "bytes": self.nbytes,
            "messages": self.messages,
            "by_type": dict(self.by_type),
            "instruments": self.instruments,
            "symbols": list(self.symbols),
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "errors": dict(self.errors),
            **self.extra,
        }


_SUMMARY_KEYS: Final = frozenset(
    [
        "format",
        "bytes",
        "messages",
        "by_type",
        "instruments",
        "symbols",
        "first_ns",
        "last_ns",
        "errors",
    ]
)


def summary(path: str | os.PathLike[str]) -> Summary:
    """Count a session's messages by type, its instruments and its decode errors."""
    text = _existing(path)
    data = _core.itch_summary(text)
    return Summary(
        path=text,
        format=get_str(data, "format"),
        nbytes=get_int(data, "bytes"),
        messages=get_int(data, "messages"),
        by_type=get_int_map(data, "by_type"),
        instruments=get_int(data, "instruments"),
        symbols=tuple(sym.strip() for sym in get_str_list(data, "symbols")),
        first_ns=get_opt_int(data, "first_ns"),
        last_ns=get_opt_int(data, "last_ns"),
        errors={k: v for k, v in get_int_map(data, "errors").items() if v},
        extra={k: v for k, v in data.items() if k not in _SUMMARY_KEYS},
    )


# --------------------------------------------------------------------------- book


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: raw price (4 decimals), total quantity, number of orders."""

    price_raw: int
    qty: int
    count: int

    @property
    def price(self) -> Decimal:
        """The exact price, e.g. `Decimal("123.4500")`."""
        return price_to_decimal(self.price_raw)

    @property
    def price_float(self) -> float:
        """The price as a float, for display and models."""
        return price_to_float(self.price_raw)


@dataclass(frozen=True, slots=True)
class Book:
    """The visible depth of one instrument after replaying a session up to a time."""

    symbol: str
    locate: int
    timestamp_ns: int | None
    """Time of the last message applied to the book; None when none was applied."""
    messages_applied: int
    bids: tuple[Level, ...] = field(default=())
    """Best (highest) first."""
    asks: tuple[Level, ...] = field(default=())
    """Best (lowest) first."""

    @property
    def is_empty(self) -> bool:
        """True when neither side has a level."""
        return not self.bids and not self.asks

    @property
    def best_bid(self) -> Level | None:
        """Top bid level, or None when the bid side is empty."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        """Top ask level, or None when the ask side is empty."""
        return self.asks[0] if self.asks else None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict; levels as `[price_raw, qty, count]` plus a `price` string."""

        def side(levels: tuple[Level, ...]) -> list[dict[str, object]]:
            return [
                {
                    "price_raw": lv.price_raw,
                    "price": format_price(lv.price_raw),
                    "qty": lv.qty,
                    "count": lv.count,
                }
                for lv in levels
            ]

        return {
            "symbol": self.symbol,
            "locate": self.locate,
            "timestamp_ns": self.timestamp_ns,
            "time": None if self.timestamp_ns is None else format_hms(self.timestamp_ns),
            "messages_applied": self.messages_applied,
            "bids": side(self.bids),
            "asks": side(self.asks),
        }


def _levels(data: Mapping[str, object], key: str) -> tuple[Level, ...]:
    value = data.get(key)
    if not isinstance(value, list | tuple):
        raise ProtocolError(f"quotewire._core: book {key!r} is not a list")
    out: list[Level] = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 3
            or not all(isinstance(x, int) for x in item)
        ):
            raise ProtocolError(f"quotewire._core: book {key!r} level {item!r} is malformed")
        out.append(Level(int(item[0]), int(item[1]), int(item[2])))
    return tuple(out)


def book(
    path: str | os.PathLike[str],
    symbol: str,
    at: int | str | None = None,
    depth: int = 10,
) -> Book:
    """Replay `path` into the book of `symbol` up to and including time `at`.

    `at` is nanoseconds since midnight or an `HH:MM:SS.nnnnnnnnn` string; None replays the
    whole session. Returns the best `depth` levels of each side.
    """
    if depth < 1:
        raise ConfigError(f"depth must be at least 1, not {depth}")
    at_ns = parse_hms(at) if isinstance(at, str) else at
    if at_ns is not None and at_ns < 0:
        raise ConfigError(f"time must not be negative, not {at_ns}")
    text, symbol = _existing(path), symbol.strip()
    with _about_symbol(symbol, text):
        data = _core.itch_book(text, symbol, at_ns=at_ns, depth=depth)
    return Book(
        symbol=get_str(data, "symbol").strip(),
        locate=get_int(data, "locate"),
        timestamp_ns=get_opt_int(data, "timestamp_ns"),
        messages_applied=get_int(data, "messages_applied"),
        bids=_levels(data, "bids"),
        asks=_levels(data, "asks"),
    )


def _field_at(layout: Layout, offset: int, kind: str, length: int | None = None) -> str | None:
    for f in layout.fields:
        if f.offset == offset and f.kind == kind and (length is None or f.length == length):
            return f.name
    return None


def most_active(path: str | os.PathLike[str], n: int = 3) -> list[tuple[str, int]]:
    """The `n` symbols with the most messages, as (symbol, message count), busiest first.

    Counts every message carrying a stock locate (ITCH offset 1) and names locates from
    the session's stock directory messages; the counting is NumPy over the whole file.
    """
    arrays = read(path, raw=True)
    all_layouts = layouts()
    counts = np.zeros(1 << 16, dtype=np.int64)
    symbols: dict[int, str] = {}
    for tag, layout in all_layouts.items():
        arr = arrays[layout.name]
        locate = _field_at(layout, 1, "u16")
        if locate is None or arr.size == 0:
            continue
        locates = arr[locate].astype(np.intp)
        counts += np.bincount(locates, minlength=counts.size)
        stock = _field_at(layout, 11, "alpha", 8)
        if tag == "R" and stock is not None:
            for loc, sym in zip(locates.tolist(), arr[stock].tolist(), strict=True):
                symbols[int(loc)] = bytes(sym).decode("ascii", "replace").strip()
    counts[0] = 0  # locate 0 is "no instrument" (system events)
    busiest = np.argsort(counts, kind="stable")[::-1][:n]
    return [(symbols.get(int(i), f"#{int(i)}"), int(counts[i])) for i in busiest if counts[i]]


# --------------------------------------------------------------------------- replay


def replay_bbo(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, Array]:
    """Top of book after every change, for one symbol or (None) all of them.

    Equal-length arrays: `timestamp_ns` u64, `locate` u16, `bid_px` i64, `bid_qty` u64,
    `ask_px` i64, `ask_qty` u64; an empty side reads 0/0. Prices are raw (`PRICE_SCALE`).
    """
    text = _existing(path)
    if symbol is None:
        return _core.replay_bbo(text, None)
    with _about_symbol(symbol.strip(), text):
        return _core.replay_bbo(text, symbol.strip())


def replay_l2(path: str | os.PathLike[str], symbol: str, depth: int = 5) -> dict[str, Array]:
    """The best `depth` levels of `symbol` after every change of its book.

    `timestamp_ns` has shape (n,); `bid_px`, `bid_qty`, `bid_count`, `ask_px`, `ask_qty`,
    `ask_count` have shape (n, depth), best level first, zero-filled past the last level.
    """
    if depth < 1:
        raise ConfigError(f"depth must be at least 1, not {depth}")
    text, symbol = _existing(path), symbol.strip()
    with _about_symbol(symbol, text):
        return _core.replay_l2(text, symbol, depth)
