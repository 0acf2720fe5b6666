"""The venue simulator: a typed configuration and the running venue.

The simulator itself (price-time matching, OUCH 5.0 over SoupBinTCP 4.0, FIX 4.4, ITCH 5.0
over MoldUDP64) runs in the compiled core on its own thread; this module describes it,
checks the description once and starts it::

    from quotewire.venue import Venue, VenueConfig

    config = VenueConfig.load("examples/venue.toml")
    with Venue(config) as venue:
        print(venue.endpoints.ouch)       # ("127.0.0.1", 15000)
        ...
        print(venue.stats())              # {"commands": ..., "itch_messages": ...}

An optional **background market** (`Background`) keeps the books alive: other participants'
limit, marketable and cancel orders as Poisson processes per instrument around a
random-walking mid, under firm ids of their own. Alternatively (or as well), a **capture
replay** (`Replay`) rebuilds the books from a recorded TotalView-ITCH 5.0 capture: its order
messages become orders of one replay firm, paced by the capture's timestamps.

Conventions:

* **Prices** are given in currency units as `Decimal`, `str` or `int` (`"0.01"`, `"100.00"`,
  `5`) and converted exactly to the core's raw integers with four implied decimals
  (`1.00 == 10_000`); more than four decimals, or a `float`, is refused. They are stored as
  `Decimal` and written to TOML as strings, so nothing is ever rounded.
* **Validation** happens in Python before anything reaches the core: `VenueConfig.validate`
  raises `ConfigError` naming the field path, the value and what is allowed, e.g.
  ``instruments[0].tick: 0 is not > 0``.
* **Files** are TOML (`VenueConfig.load` / `VenueConfig.save`, a lossless round trip); the
  core receives JSON (`VenueConfig.to_json`) with raw integer prices.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

from quotewire import _core
from quotewire._values import get_int
from quotewire.errors import ConfigError, ProtocolError

__all__ = [
    "BACKGROUND_LOT",
    "PRICE_SCALE",
    "SELF_MATCH_MODES",
    "Background",
    "BackgroundInstrument",
    "Endpoints",
    "Faults",
    "FixConfig",
    "FixSession",
    "Instrument",
    "ItchConfig",
    "OuchAccount",
    "OuchConfig",
    "PriceLike",
    "Replay",
    "Venue",
    "VenueConfig",
    "price_to_raw",
    "raw_to_price",
]

PRICE_SCALE: Final = 10_000
"""Raw units per 1.0 currency unit (four implied decimals)."""
_DECIMALS: Final = 4

SELF_MATCH_MODES: Final = ("cancel_oldest", "cancel_newest", "cancel_both", "decrement")
"""What the matching engine does when an order would trade against its own firm."""

SelfMatch = Literal["cancel_oldest", "cancel_newest", "cancel_both", "decrement"]
PriceLike = Decimal | str | int
"""A price in currency units: `Decimal("0.01")`, `"0.01"` or `100` (never a float)."""

_U16: Final = 2**16 - 1
_U32: Final = 2**32 - 1
_U64: Final = 2**64 - 1
_PPM: Final = 1_000_000
_MAX_BAND_PRICES: Final = 65_536
_MAX_PRICE_RAW: Final = _U32  # ITCH and OUCH price fields are 32 bits
_FIRM_IDS: Final = 2**32  # firm ids are u32

BACKGROUND_LOT: Final = 100
"""Shares per lot of the background flow: its sizes are whole lots, so its `mean_size` is
at least one lot and each of its instruments must accept orders of one lot."""


# --------------------------------------------------------------------------- prices


def price_to_raw(value: PriceLike, name: str = "price") -> int:
    """Exact conversion of a price in currency units to raw units (`"1.5"` -> `15_000`).

    Raises `ConfigError` naming `name` for floats, non-numbers and more than 4 decimals.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ConfigError(
            f"{name}: {value!r} is a {type(value).__name__}; give prices as Decimal, str "
            'or int (e.g. "0.01") so they stay exact'
        )
    try:
        d = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ConfigError(f"{name}: {value!r} is not a decimal number") from None
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):
        raise ConfigError(f"{name}: {value!r} is not a finite number")
    # Integer arithmetic on the exact digits: Decimal operations would round to 28 digits.
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent + _DECIMALS
    factor: int = 10 ** abs(shift)
    if shift < 0 and coefficient % factor:
        raise ConfigError(f"{name}: {value!r} has more than {_DECIMALS} decimals")
    raw = coefficient * factor if shift >= 0 else coefficient // factor
    return -raw if sign else raw


def raw_to_price(raw: int) -> Decimal:
    """Raw units to an exact `Decimal` with at least two decimals (`100` -> `0.01`);
    zero stays `0` so that messages read `tick: 0 is not > 0`."""
    if raw == 0:
        return Decimal(0)
    whole, frac = divmod(abs(raw), PRICE_SCALE)
    decimals = f"{frac:0{_DECIMALS}d}".rstrip("0").ljust(2, "0")
    return Decimal(f"{'-' if raw < 0 else ''}{whole}.{decimals}")


def _open_order(raw: object) -> dict[str, Any]:
    """One entry of the core's `firm_state()["orders"]`, checked, its price in currency units."""
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"quotewire._core: an entry of 'orders' is {raw!r}, not a dict")
    side = raw.get("side")
    if side not in ("buy", "sell"):
        raise ProtocolError(f"quotewire._core: order side is {side!r}, not 'buy' or 'sell'")
    return {
        "ref": get_int(raw, "ref"),
        "instrument": get_int(raw, "instrument"),
        "side": side,
        "price": raw_to_price(get_int(raw, "price")),
        "qty": get_int(raw, "qty"),
    }


def _price_text(d: Decimal) -> str:
    return f"{d:f}"


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, init=False)
class Instrument:
    """One tradable instrument: its symbol, id, tick, price band and largest order.

    `tick`, `band_low` and `band_high` are prices in currency units (see `PriceLike`),
    stored as exact `Decimal`; `*_raw` give the core's integers.
    """

    symbol: str
    id: int
    tick: Decimal
    band_low: Decimal
    band_high: Decimal
    max_order_qty: int = 1_000_000

    def __init__(
        self,
        symbol: str,
        id: int,
        tick: PriceLike,
        band_low: PriceLike,
        band_high: PriceLike,
        max_order_qty: int = 1_000_000,
    ) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "id", id)
        for name, value in (("tick", tick), ("band_low", band_low), ("band_high", band_high)):
            object.__setattr__(self, name, raw_to_price(price_to_raw(value, name)))
        object.__setattr__(self, "max_order_qty", max_order_qty)

    @property
    def tick_raw(self) -> int:
        """The tick in raw units."""
        return price_to_raw(self.tick)

    @property
    def band_low_raw(self) -> int:
        """The lowest accepted price in raw units."""
        return price_to_raw(self.band_low)

    @property
    def band_high_raw(self) -> int:
        """The highest accepted price in raw units."""
        return price_to_raw(self.band_high)

    def _problems(self, path: str) -> list[str]:
        out = [
            *_ascii_text(f"{path}.symbol", self.symbol, 1, 8),
            *_int_in(f"{path}.id", self.id, 1, _U16),
            *_int_in(f"{path}.max_order_qty", self.max_order_qty, 1, _U32),
        ]
        tick, low, high = self.tick_raw, self.band_low_raw, self.band_high_raw
        if tick <= 0:
            return [*out, f"{path}.tick: {_price_text(self.tick)} is not > 0"]
        for name, raw, value in (
            ("band_low", low, self.band_low),
            ("band_high", high, self.band_high),
        ):
            if raw % tick:
                out.append(
                    f"{path}.{name}: {_price_text(value)} is not a multiple of the tick "
                    f"{_price_text(self.tick)}"
                )
        if low <= 0:
            out.append(f"{path}.band_low: {_price_text(self.band_low)} is not > 0")
        if high <= low:
            out.append(
                f"{path}.band_high: {_price_text(self.band_high)} is not > band_low "
                f"{_price_text(self.band_low)}"
            )
        elif (high - low) // tick + 1 > _MAX_BAND_PRICES:
            out.append(
                f"{path}.band_high: the band {_price_text(self.band_low)}.."
                f"{_price_text(self.band_high)} holds {(high - low) // tick + 1:,} prices of "
                f"tick {_price_text(self.tick)}, not <= {_MAX_BAND_PRICES:,}"
            )
        if high > _MAX_PRICE_RAW:
            out.append(
                f"{path}.band_high: {_price_text(self.band_high)} is not <= "
                f"{_price_text(raw_to_price(_MAX_PRICE_RAW))} (ITCH and OUCH prices are 32-bit)"
            )
        return out

    def _to_core(self) -> dict[str, object]:
        return {
            "id": self.id,
            "symbol": self.symbol,
            "tick": self.tick_raw,
            "band_low": self.band_low_raw,
            "band_high": self.band_high_raw,
            "max_order_qty": self.max_order_qty,
        }


@dataclass(frozen=True)
class OuchAccount:
    """An OUCH login: SoupBinTCP username (1-6 chars) and password (up to 10), its firm."""

    username: str
    password: str
    firm: int
    cancel_on_disconnect: bool = True

    def _problems(self, path: str) -> list[str]:
        return [
            *_ascii_text(f"{path}.username", self.username, 1, 6),
            *_ascii_text(f"{path}.password", self.password, 0, 10),
            *_int_in(f"{path}.firm", self.firm, 0, _U32),
            *_is_bool(f"{path}.cancel_on_disconnect", self.cancel_on_disconnect),
        ]


@dataclass(frozen=True)
class OuchConfig:
    """OUCH 5.0 over SoupBinTCP 4.0 order entry."""

    accounts: Sequence[OuchAccount]
    listen: str = "127.0.0.1:0"
    session: str = "S1"
    heartbeat_ms: int = 1_000
    client_timeout_ms: int = 15_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", tuple(self.accounts))

    def _problems(self, path: str) -> list[str]:
        out = [
            *_address(f"{path}.listen", self.listen, ipv4_only=False, port_zero=True),
            *_ascii_text(f"{path}.session", self.session, 1, 10),
            *_int_in(f"{path}.heartbeat_ms", self.heartbeat_ms, 1, _U32),
            *_int_in(f"{path}.client_timeout_ms", self.client_timeout_ms, 1, _U32),
        ]
        if not self.accounts:
            out.append(f"{path}.accounts: empty; an OUCH gateway needs at least one account")
        for i, account in enumerate(self.accounts):
            out += account._problems(f"{path}.accounts[{i}]")
        out += _unique(f"{path}.accounts", "username", [a.username for a in self.accounts])
        out += _unique(f"{path}.accounts", "firm", [a.firm for a in self.accounts])
        return out

    def _to_core(self) -> dict[str, object]:
        return {
            "listen": self.listen,
            "session": self.session,
            "accounts": [
                {
                    "username": a.username,
                    "password": a.password,
                    "firm": a.firm,
                    "cancel_on_disconnect": a.cancel_on_disconnect,
                }
                for a in self.accounts
            ],
            "heartbeat_ms": self.heartbeat_ms,
            "client_timeout_ms": self.client_timeout_ms,
        }


@dataclass(frozen=True)
class FixSession:
    """A FIX 4.4 session, named by the client's CompIDs (SenderCompID 49 as the client
    sends it, TargetCompID 56 naming the venue), and its firm."""

    sender_comp_id: str
    target_comp_id: str
    firm: int
    cancel_on_disconnect: bool = True

    def _problems(self, path: str) -> list[str]:
        return [
            *_ascii_text(f"{path}.sender_comp_id", self.sender_comp_id, 1, 32),
            *_ascii_text(f"{path}.target_comp_id", self.target_comp_id, 1, 32),
            *_int_in(f"{path}.firm", self.firm, 0, _U32),
            *_is_bool(f"{path}.cancel_on_disconnect", self.cancel_on_disconnect),
        ]


@dataclass(frozen=True)
class FixConfig:
    """FIX 4.4 order entry."""

    sessions: Sequence[FixSession]
    listen: str = "127.0.0.1:0"
    heartbeat_secs: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", tuple(self.sessions))

    def _problems(self, path: str) -> list[str]:
        out = [
            *_address(f"{path}.listen", self.listen, ipv4_only=False, port_zero=True),
            *_int_in(f"{path}.heartbeat_secs", self.heartbeat_secs, 1, _U32),
        ]
        if not self.sessions:
            out.append(f"{path}.sessions: empty; a FIX gateway needs at least one session")
        for i, session in enumerate(self.sessions):
            out += session._problems(f"{path}.sessions[{i}]")
        pairs = [f"{s.sender_comp_id}->{s.target_comp_id}" for s in self.sessions]
        out += _unique(f"{path}.sessions", "CompID pair", pairs)
        out += _unique(f"{path}.sessions", "firm", [s.firm for s in self.sessions])
        return out

    def _to_core(self) -> dict[str, object]:
        return {
            "listen": self.listen,
            "sessions": [
                {
                    "sender_comp_id": s.sender_comp_id,
                    "target_comp_id": s.target_comp_id,
                    "firm": s.firm,
                    "cancel_on_disconnect": s.cancel_on_disconnect,
                }
                for s in self.sessions
            ],
            "heartbeat_secs": self.heartbeat_secs,
        }


@dataclass(frozen=True)
class Faults:
    """Faults injected into the ITCH feed, in parts per million of datagrams (for testing
    a feed handler's recovery); all zero is a clean feed."""

    drop_ppm: int = 0
    duplicate_ppm: int = 0
    reorder_ppm: int = 0
    seed: int = 1

    def _problems(self, path: str) -> list[str]:
        return [
            *_int_in(f"{path}.drop_ppm", self.drop_ppm, 0, _PPM),
            *_int_in(f"{path}.duplicate_ppm", self.duplicate_ppm, 0, _PPM),
            *_int_in(f"{path}.reorder_ppm", self.reorder_ppm, 0, _PPM),
            *_int_in(f"{path}.seed", self.seed, 0, _U64),
        ]


@dataclass(frozen=True)
class ItchConfig:
    """ITCH 5.0 over MoldUDP64: where datagrams go, the retransmission server, history."""

    destination: str
    session: str = "ITCH1"
    retransmit_bind: str = "127.0.0.1:0"
    history: int = 65_536
    heartbeat_ms: int = 1_000
    faults: Faults = field(default_factory=Faults)

    def _problems(self, path: str) -> list[str]:
        out = [
            *_ascii_text(f"{path}.session", self.session, 1, 10),
            *_address(f"{path}.destination", self.destination, ipv4_only=True, port_zero=False),
            *_address(
                f"{path}.retransmit_bind", self.retransmit_bind, ipv4_only=True, port_zero=True
            ),
            *_int_in(f"{path}.history", self.history, 1, _U32),
            *_int_in(f"{path}.heartbeat_ms", self.heartbeat_ms, 1, _U32),
        ]
        if not isinstance(self.faults, Faults):
            return [*out, f"{path}.faults: {self.faults!r} is not a Faults"]
        return out + self.faults._problems(f"{path}.faults")

    def _to_core(self) -> dict[str, object]:
        return {
            "session": self.session,
            "destination": self.destination,
            "retransmit_bind": self.retransmit_bind,
            "history": self.history,
            "heartbeat_ms": self.heartbeat_ms,
            "faults": {
                "drop_ppm": self.faults.drop_ppm,
                "duplicate_ppm": self.faults.duplicate_ppm,
                "reorder_ppm": self.faults.reorder_ppm,
                "seed": self.faults.seed,
            },
        }


@dataclass(frozen=True, init=False)
class BackgroundInstrument:
    """The background flow of one instrument, named by its `symbol` (a configured
    `Instrument`; the core receives its id).

    * `start_mid`: the mid the flow starts from, a price in currency units (`PriceLike`),
      on the instrument's tick and strictly inside its band; the mid then random-walks with
      `volatility_ticks_per_sqrt_s` (ticks per square root of a second).
    * `limit_rate`: limit (day) orders per second near the mid, either side;
      `market_rate`: marketable IOC orders per second; `cancel_rate`: the rate per second at
      which each resting flow order is cancelled (about `limit_rate / cancel_rate` rest).
    * `mean_size`: mean order size in shares; sizes are whole lots of `BACKGROUND_LOT`.

    Rates and the volatility are stored as `float` (an `int` is converted).
    """

    symbol: str
    start_mid: Decimal
    volatility_ticks_per_sqrt_s: float = 1.0
    limit_rate: float = 50.0
    market_rate: float = 5.0
    cancel_rate: float = 0.5
    mean_size: int = 100

    def __init__(
        self,
        symbol: str,
        start_mid: PriceLike,
        volatility_ticks_per_sqrt_s: float = 1.0,
        limit_rate: float = 50.0,
        market_rate: float = 5.0,
        cancel_rate: float = 0.5,
        mean_size: int = 100,
    ) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "start_mid", raw_to_price(price_to_raw(start_mid, "start_mid")))
        for name, value in (
            ("volatility_ticks_per_sqrt_s", volatility_ticks_per_sqrt_s),
            ("limit_rate", limit_rate),
            ("market_rate", market_rate),
            ("cancel_rate", cancel_rate),
        ):
            object.__setattr__(self, name, _as_float(value))
        object.__setattr__(self, "mean_size", mean_size)

    @property
    def start_mid_raw(self) -> int:
        """The start mid in raw units."""
        return price_to_raw(self.start_mid)

    def _problems(self, path: str, instruments: Mapping[str, Instrument]) -> list[str]:
        out = [*_ascii_text(f"{path}.symbol", self.symbol, 1, 8)]
        for name in ("volatility_ticks_per_sqrt_s", "limit_rate", "market_rate", "cancel_rate"):
            out += _finite_non_negative(f"{path}.{name}", getattr(self, name))
        out += _int_in(f"{path}.mean_size", self.mean_size, BACKGROUND_LOT, _U64)
        if not isinstance(self.symbol, str):
            return out
        inst = instruments.get(self.symbol)
        if inst is None:
            known = ", ".join(repr(s) for s in instruments) or "none"
            return [
                *out,
                f"{path}.symbol: {self.symbol!r} is not a configured instrument "
                f"(configured: {known})",
            ]
        if inst._problems(""):
            return out  # the instrument's own problems are reported under instruments[...]
        if inst.max_order_qty < BACKGROUND_LOT:
            out.append(
                f"{path}.symbol: {self.symbol!r} has max_order_qty {inst.max_order_qty}, not "
                f">= the background flow's lot of {BACKGROUND_LOT} shares"
            )
        tick, low, high = inst.tick_raw, inst.band_low_raw, inst.band_high_raw
        mid = self.start_mid_raw
        text = _price_text(self.start_mid)
        if mid % tick:
            out.append(
                f"{path}.start_mid: {text} is not a multiple of {self.symbol}'s tick "
                f"{_price_text(inst.tick)}"
            )
        if not low < mid < high:
            out.append(
                f"{path}.start_mid: {text} is not strictly inside {self.symbol}'s band "
                f"{_price_text(inst.band_low)}..{_price_text(inst.band_high)}"
            )
        return out

    def _to_core(self, instrument_id: int | None) -> dict[str, object]:
        return {
            "id": instrument_id,
            "start_mid": self.start_mid_raw,
            "volatility_ticks_per_sqrt_s": self.volatility_ticks_per_sqrt_s,
            "limit_rate": self.limit_rate,
            "market_rate": self.market_rate,
            "cancel_rate": self.cancel_rate,
            "mean_size": self.mean_size,
        }

    def _to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "start_mid": _price_text(self.start_mid),
            "volatility_ticks_per_sqrt_s": self.volatility_ticks_per_sqrt_s,
            "limit_rate": self.limit_rate,
            "market_rate": self.market_rate,
            "cancel_rate": self.cancel_rate,
            "mean_size": self.mean_size,
        }


@dataclass(frozen=True)
class Background:
    """The background market: other participants' order flow on some instruments.

    Its orders are spread over the `firms` consecutive firm ids `first_firm ..
    first_firm + firms - 1`, which must not be OUCH account or FIX session firms. Orders
    of different flow firms trade with each other; two of one firm meet self-match
    prevention, so `firms >= 2` is recommended. Everything random is drawn from `seed`.
    """

    instruments: Sequence[BackgroundInstrument]
    seed: int = 1
    first_firm: int = 1_000
    firms: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", tuple(self.instruments))

    @property
    def firm_range(self) -> range:
        """The firm ids of the flow."""
        return range(self.first_firm, self.first_firm + self.firms)

    def _problems(
        self, path: str, instruments: Mapping[str, Instrument], firms: Mapping[int, str]
    ) -> list[str]:
        """`instruments` by symbol; `firms`: the gateways' firm ids, each with its path."""
        out = _int_in(f"{path}.seed", self.seed, 0, _U64)
        firm_problems = [
            *_int_in(f"{path}.first_firm", self.first_firm, 0, _U32),
            *_int_in(f"{path}.firms", self.firms, 1, _U32),
        ]
        out += firm_problems
        if firm_problems:
            pass  # the range cannot be checked
        elif self.first_firm + self.firms > _FIRM_IDS:
            out.append(
                f"{path}.firms: first_firm {self.first_firm} + firms {self.firms} = "
                f"{self.first_firm + self.firms:,} is not <= {_FIRM_IDS:,} (firm ids are 32-bit)"
            )
        else:
            last = self.first_firm + self.firms - 1
            for firm, where in sorted(firms.items()):
                if self.first_firm <= firm <= last:
                    out.append(
                        f"{path}.first_firm: the flow's firms {self.first_firm}..{last} "
                        f"include {where} {firm}; give the flow firms of its own"
                    )
        if not self.instruments:
            out.append(f"{path}.instruments: empty; the background flow needs an instrument")
        for i, inst in enumerate(self.instruments):
            out += (
                inst._problems(f"{path}.instruments[{i}]", instruments)
                if isinstance(inst, BackgroundInstrument)
                else [f"{path}.instruments[{i}]: {inst!r} is not a BackgroundInstrument"]
            )
        out += _unique(
            f"{path}.instruments",
            "symbol",
            [i.symbol for i in self.instruments if isinstance(i, BackgroundInstrument)],
        )
        return out

    def _to_core(self, ids: Mapping[str, int]) -> dict[str, object]:
        return {
            "seed": self.seed,
            "first_firm": self.first_firm,
            "firms": self.firms,
            # an unknown symbol (None) is refused by validation before the core sees it
            "instruments": [i._to_core(ids.get(i.symbol)) for i in self.instruments],
        }


@dataclass(frozen=True)
class Replay:
    """A recorded TotalView-ITCH 5.0 capture (plain or gzip, as written by
    `quotewire._core.generate_session` or a Nasdaq daily file) replayed as the background
    book: its Add Orders become limit orders of `firm`, its executions, cancels and deletes
    cancel them and its replaces replace them. Who trades with whom is decided by the
    venue's matching; the capture's own executions only remove liquidity.

    * `path`: the capture file; a relative path is relative to the current directory.
      Stored as a `Path`.
    * `firm`: the firm id of every replayed order; not an OUCH account, FIX session or
      background flow firm.
    * `speed`: capture seconds per venue second (1.0 real time, 10.0 ten times faster,
      0.0 the whole capture at once). Stored as a `float` (an `int` is converted).
    * `symbols`: the configured instruments to replay, by symbol (the capture's symbol is
      the venue's); `None` replays every configured instrument. Capture orders off an
      instrument's tick, outside its band or above its largest order are counted and
      skipped, as are other symbols.
    """

    path: str | Path
    firm: int = 900
    speed: float = 1.0
    symbols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.path, str | os.PathLike):
            object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "speed", _as_float(self.speed))
        if isinstance(self.symbols, list | tuple):
            object.__setattr__(self, "symbols", tuple(self.symbols))

    def replayed(self, instruments: Iterable[Instrument]) -> tuple[str, ...]:
        """The symbols replayed: `symbols`, or every symbol of `instruments`."""
        if self.symbols is not None:
            return self.symbols
        return tuple(i.symbol for i in instruments)

    def _problems(
        self, path: str, instruments: Mapping[str, Instrument], firms: Mapping[int, str]
    ) -> list[str]:
        """`instruments` by symbol; `firms`: the other order sources' firm ids, each with
        its path."""
        out = _readable_file(f"{path}.path", self.path)
        firm = _int_in(f"{path}.firm", self.firm, 0, _U32)
        out += firm
        if not firm and self.firm in firms:
            out.append(
                f"{path}.firm: {self.firm} is also {firms[self.firm]}; give the replay a firm "
                "of its own"
            )
        out += _finite_non_negative(f"{path}.speed", self.speed)
        if self.symbols is None:
            return out
        if not isinstance(self.symbols, tuple):
            return [*out, f"{path}.symbols: {self.symbols!r} is not a list of symbols or None"]
        if not self.symbols:
            out.append(f"{path}.symbols: empty; give None to replay every instrument")
        for n, symbol in enumerate(self.symbols):
            if not isinstance(symbol, str):
                out.append(f"{path}.symbols[{n}]: {symbol!r} is not a string")
            elif symbol not in instruments:
                known = ", ".join(repr(s) for s in instruments) or "none"
                out.append(
                    f"{path}.symbols[{n}]: {symbol!r} is not a configured instrument "
                    f"(configured: {known})"
                )
        out += _unique(f"{path}.symbols", "symbol", self.symbols)
        return out

    def _to_core(self, instruments: Sequence[Instrument]) -> dict[str, object]:
        ids = {i.symbol: i.id for i in instruments}
        return {
            "path": os.fspath(self.path),
            "firm": self.firm,
            "speed": self.speed,
            # an unknown symbol is refused by validation before the core sees it
            "symbols": [[s, ids.get(s)] for s in self.replayed(instruments)],
        }

    def _to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": os.fspath(self.path),
            "firm": self.firm,
            "speed": self.speed,
        }
        if self.symbols is not None:
            out["symbols"] = list(self.symbols)
        return out


@dataclass(frozen=True)
class VenueConfig:
    """Everything a venue is started from; `None` disables a gateway, the feed, the
    background flow or the capture replay."""

    instruments: Sequence[Instrument]
    max_orders: int = 1_000_000
    self_match: SelfMatch = "cancel_oldest"
    ouch: OuchConfig | None = None
    fix: FixConfig | None = None
    itch: ItchConfig | None = None
    background: Background | None = None
    replay: Replay | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", tuple(self.instruments))

    def problems(self) -> list[str]:
        """Every reason the core would refuse this configuration (empty when valid)."""
        out = [*_int_in("max_orders", self.max_orders, 1, _U32)]
        if self.self_match not in SELF_MATCH_MODES:
            out.append(
                f"self_match: {self.self_match!r} is not one of {', '.join(SELF_MATCH_MODES)}"
            )
        if not self.instruments:
            out.append("instruments: empty; a venue needs at least one instrument")
        for i, inst in enumerate(self.instruments):
            out += (
                inst._problems(f"instruments[{i}]")
                if isinstance(inst, Instrument)
                else [f"instruments[{i}]: {inst!r} is not an Instrument"]
            )
        out += _unique("instruments", "id", [i.id for i in self.instruments])
        out += _unique("instruments", "symbol", [i.symbol for i in self.instruments])
        for name, value, kind in (
            ("ouch", self.ouch, OuchConfig),
            ("fix", self.fix, FixConfig),
            ("itch", self.itch, ItchConfig),
        ):
            if value is None:
                continue
            if not isinstance(value, kind):
                out.append(f"{name}: {value!r} is not a {kind.__name__} or None")
            else:
                out += value._problems(name)
        if self.background is not None:
            if not isinstance(self.background, Background):
                out.append(f"background: {self.background!r} is not a Background or None")
            else:
                out += self.background._problems(
                    "background", self._instruments_by_symbol(), self._gateway_firms()
                )
        if self.replay is not None:
            if not isinstance(self.replay, Replay):
                out.append(f"replay: {self.replay!r} is not a Replay or None")
            else:
                firms = self._gateway_firms()
                bg, firm = self.background, self.replay.firm
                if (
                    isinstance(bg, Background)
                    and isinstance(firm, int)
                    and isinstance(bg.first_firm, int)
                    and isinstance(bg.firms, int)
                    and bg.first_firm <= firm < bg.first_firm + bg.firms
                ):
                    last = bg.first_firm + bg.firms - 1
                    firms.setdefault(
                        firm, f"one of the background flow's firms {bg.first_firm}..{last}"
                    )
                out += self.replay._problems("replay", self._instruments_by_symbol(), firms)
        return out

    def _instruments_by_symbol(self) -> dict[str, Instrument]:
        """The instruments by symbol (the first, if a symbol is repeated)."""
        out: dict[str, Instrument] = {}
        for i in self.instruments:
            if isinstance(i, Instrument) and isinstance(i.symbol, str):
                out.setdefault(i.symbol, i)
        return out

    def _gateway_firms(self) -> dict[int, str]:
        """Firm id -> the path of the first OUCH account or FIX session that uses it."""
        out: dict[int, str] = {}
        if isinstance(self.ouch, OuchConfig):
            for n, a in enumerate(self.ouch.accounts):
                if isinstance(a, OuchAccount) and isinstance(a.firm, int):
                    out.setdefault(a.firm, f"ouch.accounts[{n}].firm")
        if isinstance(self.fix, FixConfig):
            for n, s in enumerate(self.fix.sessions):
                if isinstance(s, FixSession) and isinstance(s.firm, int):
                    out.setdefault(s.firm, f"fix.sessions[{n}].firm")
        return out

    def validate(self) -> Self:
        """Raise `ConfigError` listing every problem (each names its field path); else
        return the configuration itself."""
        problems = self.problems()
        if problems:
            raise ConfigError("venue configuration: " + "; ".join(problems))
        return self

    def to_core_dict(self) -> dict[str, object]:
        """The structure the core parses: every key present, prices as raw integers."""
        return {
            "max_orders": self.max_orders,
            "self_match": self.self_match,
            "instruments": [i._to_core() for i in self.instruments],
            "ouch": None if self.ouch is None else self.ouch._to_core(),
            "fix": None if self.fix is None else self.fix._to_core(),
            "itch": None if self.itch is None else self.itch._to_core(),
            "background": (
                None
                if self.background is None
                else self.background._to_core({i.symbol: i.id for i in self.instruments})
            ),
            "replay": None if self.replay is None else self.replay._to_core(self.instruments),
        }

    def to_json(self) -> str:
        """The validated configuration as the JSON `quotewire._core.Venue` takes."""
        self.validate()
        return json.dumps(self.to_core_dict(), separators=(",", ":"))

    def to_dict(self) -> dict[str, object]:
        """The file structure (as in TOML): prices as exact decimal strings."""
        out: dict[str, object] = {
            "max_orders": self.max_orders,
            "self_match": self.self_match,
            "instruments": [
                {
                    "symbol": i.symbol,
                    "id": i.id,
                    "tick": _price_text(i.tick),
                    "band_low": _price_text(i.band_low),
                    "band_high": _price_text(i.band_high),
                    "max_order_qty": i.max_order_qty,
                }
                for i in self.instruments
            ],
        }
        if self.ouch is not None:
            out["ouch"] = {
                "listen": self.ouch.listen,
                "session": self.ouch.session,
                "heartbeat_ms": self.ouch.heartbeat_ms,
                "client_timeout_ms": self.ouch.client_timeout_ms,
                "accounts": [_fields(a) for a in self.ouch.accounts],
            }
        if self.fix is not None:
            out["fix"] = {
                "listen": self.fix.listen,
                "heartbeat_secs": self.fix.heartbeat_secs,
                "sessions": [_fields(s) for s in self.fix.sessions],
            }
        if self.itch is not None:
            out["itch"] = {
                "session": self.itch.session,
                "destination": self.itch.destination,
                "retransmit_bind": self.itch.retransmit_bind,
                "history": self.itch.history,
                "heartbeat_ms": self.itch.heartbeat_ms,
                "faults": _fields(self.itch.faults),
            }
        if self.background is not None:
            out["background"] = {
                "seed": self.background.seed,
                "first_firm": self.background.first_firm,
                "firms": self.background.firms,
                "instruments": [i._to_dict() for i in self.background.instruments],
            }
        if self.replay is not None:
            out["replay"] = self.replay._to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> VenueConfig:
        """Build and validate a configuration from the file structure (`to_dict`'s shape).

        Unknown keys, wrong types and invalid values raise `ConfigError` naming the path.
        Absent optional keys take the dataclass defaults; absent sections are disabled.
        """
        r = _Reader(data, "")
        instruments = r.tables(
            "instruments",
            lambda i: Instrument(
                symbol=i.str_("symbol"),
                id=i.int_("id"),
                tick=i.price("tick"),
                band_low=i.price("band_low"),
                band_high=i.price("band_high"),
                max_order_qty=i.int_("max_order_qty", 1_000_000),
            ),
        )
        ouch = r.table(
            "ouch",
            lambda o: OuchConfig(
                accounts=o.tables(
                    "accounts",
                    lambda a: OuchAccount(
                        username=a.str_("username"),
                        password=a.str_("password"),
                        firm=a.int_("firm"),
                        cancel_on_disconnect=a.bool_("cancel_on_disconnect", True),
                    ),
                ),
                listen=o.str_("listen", "127.0.0.1:0"),
                session=o.str_("session", "S1"),
                heartbeat_ms=o.int_("heartbeat_ms", 1_000),
                client_timeout_ms=o.int_("client_timeout_ms", 15_000),
            ),
        )
        fix = r.table(
            "fix",
            lambda f: FixConfig(
                sessions=f.tables(
                    "sessions",
                    lambda s: FixSession(
                        sender_comp_id=s.str_("sender_comp_id"),
                        target_comp_id=s.str_("target_comp_id"),
                        firm=s.int_("firm"),
                        cancel_on_disconnect=s.bool_("cancel_on_disconnect", True),
                    ),
                ),
                listen=f.str_("listen", "127.0.0.1:0"),
                heartbeat_secs=f.int_("heartbeat_secs", 30),
            ),
        )
        itch = r.table(
            "itch",
            lambda t: ItchConfig(
                destination=t.str_("destination"),
                session=t.str_("session", "ITCH1"),
                retransmit_bind=t.str_("retransmit_bind", "127.0.0.1:0"),
                history=t.int_("history", 65_536),
                heartbeat_ms=t.int_("heartbeat_ms", 1_000),
                faults=t.table(
                    "faults",
                    lambda x: Faults(
                        drop_ppm=x.int_("drop_ppm", 0),
                        duplicate_ppm=x.int_("duplicate_ppm", 0),
                        reorder_ppm=x.int_("reorder_ppm", 0),
                        seed=x.int_("seed", 1),
                    ),
                )
                or Faults(),
            ),
        )
        background = r.table(
            "background",
            lambda b: Background(
                instruments=b.tables(
                    "instruments",
                    lambda i: BackgroundInstrument(
                        symbol=i.str_("symbol"),
                        start_mid=i.price("start_mid"),
                        volatility_ticks_per_sqrt_s=i.float_("volatility_ticks_per_sqrt_s", 1.0),
                        limit_rate=i.float_("limit_rate", 50.0),
                        market_rate=i.float_("market_rate", 5.0),
                        cancel_rate=i.float_("cancel_rate", 0.5),
                        mean_size=i.int_("mean_size", 100),
                    ),
                ),
                seed=b.int_("seed", 1),
                first_firm=b.int_("first_firm", 1_000),
                firms=b.int_("firms", 4),
            ),
        )
        replay = r.table(
            "replay",
            lambda p: Replay(
                path=p.str_("path"),
                firm=p.int_("firm", 900),
                speed=p.float_("speed", 1.0),
                symbols=p.str_list("symbols"),
            ),
        )
        config = cls(
            instruments=instruments,
            max_orders=r.int_("max_orders", 1_000_000),
            self_match=r.str_("self_match", "cancel_oldest"),  # type: ignore[arg-type]
            ouch=ouch,
            fix=fix,
            itch=itch,
            background=background,
            replay=replay,
        )
        r.done()
        return config.validate()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VenueConfig:
        """Read and validate a TOML configuration file."""
        return load_toml(path, cls.from_dict)

    def to_toml(self) -> str:
        """The configuration as TOML text that `load` reads back equal."""
        d = self.to_dict()
        lines = ["# quotewire venue configuration; prices in currency units, as strings", ""]
        lines += _toml_table(None, d)
        for inst in _maps(d["instruments"]):
            lines += _toml_table("[instruments]", inst)
        for section, children in (
            ("ouch", "accounts"),
            ("fix", "sessions"),
            ("itch", None),
            ("background", "instruments"),
            ("replay", None),
        ):
            body = d.get(section)
            if not isinstance(body, Mapping):
                continue
            lines += _toml_table(section, body)
            for child in _maps(body.get(children)) if children else ():
                lines += _toml_table(f"[{section}.{children}]", child)
            if isinstance(faults := body.get("faults"), Mapping):
                lines += _toml_table(f"{section}.faults", faults)
        return "\n".join(lines).rstrip() + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Validate, then write the configuration as TOML; returns the path written."""
        self.validate()
        out = Path(path)
        out.write_text(self.to_toml(), encoding="utf-8")
        return out


# --------------------------------------------------------------------------- running venue


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a running venue listens (and sends ITCH), as `(host, port)`; None when off."""

    ouch: tuple[str, int] | None
    fix: tuple[str, int] | None
    itch: tuple[str, int] | None
    itch_retransmit: tuple[str, int] | None

    @classmethod
    def from_core(cls, raw: Mapping[str, object]) -> Endpoints:
        """Parse the core's `{"ouch": "host:port" | None, ...}`."""
        return cls(**{name: _endpoint(raw, name) for name in _ENDPOINT_NAMES})

    def to_dict(self) -> dict[str, str | None]:
        """`{"ouch": "host:port" | None, ...}` (IPv6 hosts in brackets)."""
        return {name: _join_hostport(getattr(self, name)) for name in _ENDPOINT_NAMES}


_ENDPOINT_NAMES: Final = ("ouch", "fix", "itch", "itch_retransmit")


class Venue:
    """A venue simulator running on a core thread; a context manager that stops it.

    `Venue(config)` validates `config` and starts the venue: sockets are bound (or a
    `ConfigError` says why not) before the constructor returns.
    """

    __slots__ = ("_config", "_core", "_endpoints")

    def __init__(self, config: VenueConfig) -> None:
        self._config = config.validate()
        self._core = _core.Venue(config.to_json())
        self._endpoints = Endpoints.from_core(self._core.endpoints())

    @property
    def config(self) -> VenueConfig:
        """The configuration the venue was started from."""
        return self._config

    @property
    def endpoints(self) -> Endpoints:
        """Where the venue listens; kept after `stop`."""
        return self._endpoints

    @property
    def running(self) -> bool:
        """True until `stop`."""
        return self._core.running()

    def stats(self) -> dict[str, int]:
        """Counters: commands matched and, with ITCH, the publisher's (itch_messages,
        itch_datagrams, itch_heartbeats, itch_dropped, itch_requests_served,
        itch_next_sequence); with a `Replay`, replay_messages (capture messages read),
        replay_commands (orders, cancels and replaces sent), replay_rejected (capture
        orders the instruments' rules or the venue refused) and replay_finished (1 once
        the whole capture was read, else 0). After `stop`, the final counters (End of
        Session included)."""
        raw = self._core.stats()
        return {k: get_int(raw, k) for k in raw}

    def firm_state(self, firm: int) -> dict[str, Any]:
        """What the venue knows about one firm (an OUCH account's or FIX session's `firm`, or
        a background firm), to compare with what a trading engine believes.

        Keys: open_orders (the firm's orders resting on the book), bought and sold (shares,
        all instruments), executions (fills the firm took part in), buy_notional and
        sell_notional (sum of raw price with four implied decimals times shares, exact
        ints), positions (`{instrument_id: bought - sold}` for every instrument the firm
        traded, flat ones included) and orders (one dict per resting order: `{"ref": venue
        order reference, "instrument": instrument_id, "side": "buy" or "sell", "price": limit
        price as an exact Decimal in currency units, not raw, "qty": open shares}`, sorted
        by instrument, side with buys first, price ascending, then ref).
        A firm the venue has not seen is all zero with no orders; after `stop`, the final
        state. Raises ConfigError when `firm` is not a u32.
        """
        errors = _int_in("firm", firm, 0, _U32)
        if errors:
            raise ConfigError(errors[0])
        raw = self._core.firm_state(firm)
        out: dict[str, Any] = {
            k: get_int(raw, k)
            for k in (
                "open_orders",
                "bought",
                "sold",
                "executions",
                "buy_notional",
                "sell_notional",
            )
        }
        positions = raw.get("positions")
        if not isinstance(positions, Mapping) or not all(
            isinstance(k, int) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in positions.items()
        ):
            raise ProtocolError(f"quotewire._core: 'positions' is {positions!r}, not int -> int")
        out["positions"] = dict(positions)
        orders = raw.get("orders")
        if not isinstance(orders, list | tuple):
            raise ProtocolError(f"quotewire._core: 'orders' is {orders!r}, not a list")
        out["orders"] = [_open_order(o) for o in orders]
        return out

    def set_background(
        self,
        symbol: str,
        *,
        volatility_ticks_per_sqrt_s: float | None = None,
        limit_rate: float | None = None,
        market_rate: float | None = None,
        cancel_rate: float | None = None,
    ) -> None:
        """Change `symbol`'s background flow while the venue runs, e.g. raise its
        volatility to watch a strategy react. Each given value (ticks per square root of
        a second, or per second for the rates; an `int` is taken as a `float`) replaces
        the current one from the flow's next step; `None` keeps it. Lock-free: the venue
        loop is not paused.

        Raises ConfigError naming the field for a value that is not a finite number >=
        0, for a symbol that is not a configured instrument, or one without a background
        flow; then nothing changes.
        """
        instrument_id = self._background_id(symbol)
        given = {
            "volatility_ticks_per_sqrt_s": volatility_ticks_per_sqrt_s,
            "limit_rate": limit_rate,
            "market_rate": market_rate,
            "cancel_rate": cancel_rate,
        }
        values: dict[str, float | None] = {}
        problems: list[str] = []
        for name, value in given.items():
            if value is None:
                values[name] = None
                continue
            v = _as_float(value)
            errors = _finite_non_negative(name, v)
            problems += errors
            values[name] = v if not errors and isinstance(v, float) else None
        if problems:
            raise ConfigError(f"set_background({symbol!r}): " + "; ".join(problems))
        self._core.set_background(
            instrument_id,
            volatility=values["volatility_ticks_per_sqrt_s"],
            limit_rate=values["limit_rate"],
            market_rate=values["market_rate"],
            cancel_rate=values["cancel_rate"],
        )

    def background(self, symbol: str) -> dict[str, float]:
        """`symbol`'s background flow now: volatility_ticks_per_sqrt_s, limit_rate,
        market_rate and cancel_rate as last set (or configured), and mid, the flow's
        modelled mid in currency units (a float: a model value, not a price on the tick).
        Raises ConfigError like `set_background` for a symbol without a flow."""
        instrument_id = self._background_id(symbol)
        raw = self._core.background(instrument_id)
        if raw is None:
            raise ConfigError(f"symbol {symbol!r} has no background flow in the running venue")
        keys = ("volatility_ticks_per_sqrt_s", "limit_rate", "market_rate", "cancel_rate", "mid")
        out: dict[str, float] = {}
        for k in keys:
            v = raw.get(k)
            if not isinstance(v, float):
                raise ProtocolError(f"quotewire._core: background {k!r} is {v!r}, not a float")
            out[k] = v
        out["mid"] /= 10**_DECIMALS
        return out

    def _background_id(self, symbol: str) -> int:
        """The instrument id of `symbol`, which must have a background flow."""
        instruments = self._config._instruments_by_symbol()
        if not isinstance(symbol, str) or symbol not in instruments:
            known = ", ".join(repr(s) for s in instruments) or "none"
            raise ConfigError(
                f"symbol: {symbol!r} is not a configured instrument (configured: {known})"
            )
        flows = () if self._config.background is None else self._config.background.instruments
        if all(f.symbol != symbol for f in flows):
            with_flow = ", ".join(repr(f.symbol) for f in flows) or "none"
            raise ConfigError(
                f"symbol: {symbol!r} has no background flow (background instruments: {with_flow})"
            )
        return instruments[symbol].id

    def stop(self) -> None:
        """End the ITCH session, stop the loop and join its thread. Idempotent."""
        self._core.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = ", ".join(f"{k} {v}" for k, v in self._endpoints.to_dict().items() if v)
        return f"<Venue {state}: {where}>"


# --------------------------------------------------------------------------- helpers


def load_toml(path: str | os.PathLike[str], build: Callable[[dict[str, Any]], T]) -> T:
    """Read a TOML file and `build` a configuration from it; every error is a
    `ConfigError` prefixed with the file's path."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: {e.strerror}") from None
    try:
        return build(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def _int_in(path: str, value: object, low: int, high: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: {value!r} is not an integer"]
    if not low <= value <= high:
        return [f"{path}: {value} is not in {low}..{high}"]
    return []


def _as_float(value: object) -> object:
    """An `int` as the equal `float` (so the JSON and TOML written do not depend on
    which was given); anything else unchanged, for validation to judge."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def _finite_non_negative(path: str, value: object) -> list[str]:
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return []
    if isinstance(value, float):
        return [f"{path}: {value!r} is not a finite number >= 0"]
    return [f"{path}: {value!r} is not a number (a finite float >= 0)"]


def _readable_file(path: str, value: object) -> list[str]:
    if not isinstance(value, Path):
        return [f"{path}: {value!r} is not a path (str or os.PathLike)"]
    if not value.is_file():
        what = "is not a file" if value.exists() else "does not exist"
        return [f"{path}: {os.fspath(value)!r} {what}"]
    if not os.access(value, os.R_OK):
        return [f"{path}: {os.fspath(value)!r} is not readable"]
    return []


def _is_bool(path: str, value: object) -> list[str]:
    return [] if isinstance(value, bool) else [f"{path}: {value!r} is not true or false"]


def _ascii_text(path: str, value: object, low: int, high: int) -> list[str]:
    """Printable ASCII without spaces (fixed-width fields are space padded)."""
    if not isinstance(value, str):
        return [f"{path}: {value!r} is not a string"]
    what = f"{low}-{high}" if low else f"at most {high}"
    if not low <= len(value) <= high or not all("!" <= c <= "~" for c in value):
        return [f"{path}: {value!r} is not {what} printable ASCII characters without spaces"]
    return []


def _address(path: str, value: object, *, ipv4_only: bool, port_zero: bool) -> list[str]:
    """`ip:port` with an IP literal (the core does not resolve names); IPv6 in brackets."""
    kind = "IPv4" if ipv4_only else "IP"
    low = 0 if port_zero else 1
    shape = f"{kind}:port with port {low}..65535"
    if not isinstance(value, str):
        return [f"{path}: {value!r} is not a string ({shape})"]
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]") and not ipv4_only:
        host = host[1:-1]
        want: type[ipaddress.IPv4Address | ipaddress.IPv6Address] = ipaddress.IPv6Address
    else:
        want = ipaddress.IPv4Address
    try:
        want(host)
        number = int(port) if port.isdigit() else -1
    except ValueError:
        number = -1
    if not sep or not low <= number <= 65_535:
        return [f"{path}: {value!r} is not {shape}"]
    return []


def _unique(path: str, what: str, values: Iterable[object]) -> list[str]:
    seen: set[object] = set()
    out: list[str] = []
    for v in values:
        try:
            dup = v in seen
            seen.add(v)
        except TypeError:  # unhashable: its own type error is reported elsewhere
            continue
        if dup:
            out.append(f"{path}: {what} {v!r} appears more than once")
    return out


def _fields(obj: OuchAccount | FixSession | Faults) -> dict[str, object]:
    return dict(vars(obj))


def _endpoint(raw: Mapping[str, object], name: str) -> tuple[str, int] | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"quotewire._core: endpoint {name!r} is {value!r}, not host:port")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ProtocolError(f"quotewire._core: endpoint {name!r} is {value!r}, not host:port")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _join_hostport(hp: tuple[str, int] | None) -> str | None:
    if hp is None:
        return None
    host, port = hp
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back equal; TOML also spells inf and nan.
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes (\" \\ \uXXXX) are a subset of TOML basic strings'.
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list) and not any(isinstance(v, Mapping) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def _toml_table(header: str | None, table: Mapping[str, object]) -> list[str]:
    """`[header]` (`[[x]]` when `header` is `"[x]"`) then its `key = value` lines (scalars
    and non-empty arrays of scalars) and a blank line; sub-tables and arrays of tables are
    written by the caller."""
    lines = [] if header is None else [f"[{header}]"]
    lines += [
        f"{k} = {_toml_value(v)}"
        for k, v in table.items()
        if v is not None
        and not isinstance(v, Mapping)
        and not (isinstance(v, list) and (not v or any(isinstance(x, Mapping) for x in v)))
    ]
    return [*lines, ""]


def _maps(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


T = TypeVar("T")


class _Reader:
    """Typed reads from one table of a parsed file, each error naming the key's path;
    `done()` refuses keys nobody read (a typo must not silently fall back to a default)."""

    __slots__ = ("_data", "_path", "_read")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path or 'configuration'}: {data!r} is not a table")
        self._data: Mapping[str, object] = data
        self._path = path
        self._read: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _get(
        self, key: str, default: T | None, check: Callable[[object], bool], what: str
    ) -> object:
        self._read.add(key)
        if key not in self._data:
            if default is None:
                raise ConfigError(f"{self._key(key)}: missing")
            return default
        value = self._data[key]
        if not check(value):
            raise ConfigError(f"{self._key(key)}: {value!r} is not {what}")
        return value

    def str_(self, key: str, default: str | None = None) -> str:
        value = self._get(key, default, lambda v: isinstance(v, str), "a string")
        assert isinstance(value, str)
        return value

    def int_(self, key: str, default: int | None = None) -> int:
        value = self._get(
            key, default, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
        )
        assert isinstance(value, int)
        return value

    def bool_(self, key: str, default: bool | None = None) -> bool:
        value = self._get(key, default, lambda v: isinstance(v, bool), "true or false")
        assert isinstance(value, bool)
        return value

    def float_(self, key: str, default: float | None = None) -> float:
        """A float; TOML integers are accepted (`rate = 200`)."""
        value = self._get(
            key,
            default,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "a number",
        )
        assert isinstance(value, int | float)
        return float(value)

    def str_list(self, key: str) -> tuple[str, ...] | None:
        """An array of strings, or None when absent."""
        self._read.add(key)
        if key not in self._data:
            return None
        value = self._data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self._key(key)}: {value!r} is not an array of strings")
        return tuple(value)

    def price(self, key: str) -> PriceLike:
        value = self._get(
            key,
            None,
            lambda v: isinstance(v, str | int) and not isinstance(v, bool),
            'a price as a string or integer (e.g. "0.01"; floats are not exact)',
        )
        assert isinstance(value, str | int)
        price_to_raw(value, self._key(key))  # so a bad price names its full path
        return value

    def table(self, key: str, build: Callable[[_Reader], T]) -> T | None:
        """`build` applied to the sub-table `key`, or None when it is absent."""
        self._read.add(key)
        if key not in self._data:
            return None
        reader = _Reader(self._data[key], self._key(key))
        out = build(reader)
        reader.done()
        return out

    def tables(self, key: str, build: Callable[[_Reader], T]) -> list[T]:
        """`build` applied to each table of the array of tables `key` (absent: none)."""
        self._read.add(key)
        value = self._data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self._key(key)}: {value!r} is not an array of tables")
        out: list[T] = []
        for i, item in enumerate(value):
            reader = _Reader(item, f"{self._key(key)}[{i}]")
            out.append(build(reader))
            reader.done()
        return out

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key")
