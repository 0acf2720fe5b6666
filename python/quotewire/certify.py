"""`quotewire certify`: a latency certification of this host against the venue simulator.

A certification runs one documented standard load (`CertConfig`, a TOML file such as
`examples/cert.toml`) for a set duration: the venue simulator on loopback with a background
market on every instrument (the market-data rate), and the engine making markets in all of
them over real sockets (ITCH 5.0 over MoldUDP64 in, OUCH 5.0 over SoupBinTCP 4.0 out), its
order rate following the market and capped by its risk throttle. It then grades the
engine's own latency histograms against service-level objectives and writes a report
directory a person can open:

    report.html             self-contained: verdict, tables, the charts embedded as PNG
    percentiles.png         every stage's percentile distribution (x = 1/(1-q), log scale)
    <stage>.png             one stage's distribution with its SLOs marked
    over_time.png           per-interval percentiles and rates over the run
    <stage>.hlog            the engine's whole-run HDR histogram (HdrHistogram interval log)
    <series>.intervals.hlog one histogram per interval of the journal-derived series
    certification.json      every figure, the verdict, the load, the machine, the command
    machine.json            CPU, kernel, cores, load and the `quotewire doctor` report
    command.txt             the exact command line

Stages (what the engine measures on its fast path, in nanoseconds, whole run):

* `feed`: one datagram through sequencing, ITCH decoding and the order books;
* `quote`: one quoting decision: model, pre-trade risk, OMS and OUCH encoding;
* `tick_to_trade`: datagram received -> order bytes written to the socket (includes the
  write), for every datagram (or venue report) that caused orders;
* `round_trip`: order request sent -> the venue's answer read.

The engine keeps these only as whole-run histograms, so latency over time comes from the
engine's journal (on in production, `quotewire_journal` in ansible/), whose records carry
the same clock: per interval, `round_trip` (each request -> the first venue answer for its
order id, split by new/replace/cancel) and `tick_to_quote` (datagram received -> the
quoting decision it triggered starts; the part of tick-to-trade before `quote` and the
write). Finer splits (decode vs book, strategy vs risk vs OMS) are not visible outside
the core and are not guessed here.

An SLO is `<stage>_<p50|p90|p99|p999|p9999|max>_us = limit` in the `[slo]` table; it passes
when the stage's value at that percentile is at most the limit. A stage without samples
fails its SLOs; a percentile finer than the sample count resolves (fewer than 1/(1-q)
samples) is graded on the maximum, conservatively, and says so.
The run itself must be valid: a kill switch that fired fails the certification.
"""

from __future__ import annotations

import argparse
import base64
import html
import importlib
import io
import json
import math
import os
import re
import shlex
import struct
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from quotewire import bench, journal
from quotewire._machine import git_revision, machine_info
from quotewire.engine import (
    MODELS,
    Engine,
    EngineConfig,
    EngineThreads,
    FeedEndpoint,
    FirmLimits,
    OuchEndpoint,
    TradedInstrument,
)
from quotewire.errors import ConfigError
from quotewire.venue import (
    Background,
    BackgroundInstrument,
    Instrument,
    ItchConfig,
    OuchAccount,
    OuchConfig,
    Venue,
    VenueConfig,
    load_toml,
)

__all__ = [
    "PERCENTILES",
    "STAGES",
    "CertConfig",
    "Certification",
    "MarketLoad",
    "QuotingLoad",
    "Slo",
    "SloResult",
    "command",
    "evaluate_slos",
    "host_tuning_report",
    "percentile_curve",
    "run",
]

STAGES: Final[Mapping[str, str]] = {
    "tick_to_trade": "datagram received -> order bytes written (feed, quote, write)",
    "feed": "sequencing, ITCH decode and order books, per datagram",
    "quote": "strategy model, pre-trade risk, OMS and OUCH encode, per decision",
    "round_trip": "order request sent -> the venue's answer read",
}
"""The engine's latency histograms (whole run), with what each covers."""

SERIES: Final[Mapping[str, str]] = {
    "tick_to_quote": "datagram received -> the quoting decision it triggered starts (journal)",
    "round_trip": "order request -> the venue's first answer for its id (journal)",
}
"""The journal-derived series recorded per interval."""

PERCENTILES: Final[Mapping[str, float]] = {
    "p50": 50.0,
    "p90": 90.0,
    "p99": 99.0,
    "p999": 99.9,
    "p9999": 99.99,
    "max": 100.0,
}
"""SLO percentile names -> percent."""

_LABELS: Final[Mapping[str, str]] = {
    "p50": "p50",
    "p90": "p90",
    "p99": "p99",
    "p999": "p99.9",
    "p9999": "p99.99",
    "max": "max",
}
_SLO_KEY: Final = re.compile(r"^(?P<stage>[a-z_]+?)_(?P<pct>p50|p90|p99|p999|p9999|max)_us$")
_HIGHEST_NS: Final = 60_000_000_000  # the engine's histograms clamp here (60 s)
_LOT: Final = 100
_USER, _PASSWORD = "cert01", "cert0001"
_REPORT_FILES: Final = ("report.html", "certification.json", "machine.json", "command.txt")


# --------------------------------------------------------------------------- configuration


def _number(path: str, value: object, low: float, high: float) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: {value!r} is not a number"]
    if not math.isfinite(value) or not low <= value <= high:
        return [f"{path}: {value!r} is not in {low:g}..{high:g}"]
    return []


def _integer(path: str, value: object, low: int, high: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: {value!r} is not an integer"]
    if not low <= value <= high:
        return [f"{path}: {value} is not in {low}..{high}"]
    return []


@dataclass(frozen=True)
class MarketLoad:
    """The background market on every instrument (other participants' flow at the venue):
    `limit_rate` limit orders and `market_rate` marketable IOC orders per second,
    `cancel_rate` per resting flow order per second, a mid random-walking with
    `volatility_ticks_per_sqrt_s`, orders of `mean_size` shares on average (whole lots)."""

    limit_rate: float = 400.0
    market_rate: float = 50.0
    cancel_rate: float = 4.0
    volatility_ticks_per_sqrt_s: float = 2.0
    mean_size: int = 200

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        return [
            *_number(f"{path}.limit_rate", self.limit_rate, 0.0, 1e6),
            *_number(f"{path}.market_rate", self.market_rate, 0.0, 1e6),
            *_number(f"{path}.cancel_rate", self.cancel_rate, 0.0, 1e6),
            *_number(
                f"{path}.volatility_ticks_per_sqrt_s", self.volatility_ticks_per_sqrt_s, 0.0, 1e4
            ),
            *_integer(f"{path}.mean_size", self.mean_size, _LOT, 1_000_000),
        ]


@dataclass(frozen=True)
class QuotingLoad:
    """What the engine does: the quoting `model` ("skew" by default), `levels` quotes per
    side of `size` shares at `half_spread_ticks` from the skewed mid, moved when their
    target moves `requote_ticks`; the order rate follows the market and is capped by the
    risk throttle (`orders_per_sec` sustained, `burst` at once)."""

    model: str = "skew"
    half_spread_ticks: int = 1
    size: int = 100
    levels: int = 1
    requote_ticks: int = 1
    skew_ticks: int = 1
    quote_max_position: int = 1_000
    max_position: int = 2_000
    orders_per_sec: int = 2_000
    burst: int = 200

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out = [] if self.model in MODELS else [f"{path}.model: {self.model!r} not in {MODELS}"]
        return [
            *out,
            *_integer(f"{path}.half_spread_ticks", self.half_spread_ticks, 1, 10_000),
            *_integer(f"{path}.size", self.size, 1, 1_000_000),
            *_integer(f"{path}.levels", self.levels, 1, 4),
            *_integer(f"{path}.requote_ticks", self.requote_ticks, 1, 10_000),
            *_integer(f"{path}.skew_ticks", self.skew_ticks, 0, 10_000),
            *_integer(f"{path}.quote_max_position", self.quote_max_position, 1, 10**9),
            *_integer(f"{path}.max_position", self.max_position, 1, 10**9),
            *_integer(f"{path}.orders_per_sec", self.orders_per_sec, 1, 10**9),
            *_integer(f"{path}.burst", self.burst, 1, 10**9),
        ]


@dataclass(frozen=True)
class Slo:
    """One objective: `stage`'s latency at `percentile` (a key of `PERCENTILES`) is at
    most `limit_us` microseconds."""

    stage: str
    percentile: str
    limit_us: float

    @property
    def key(self) -> str:
        """The name in the `[slo]` table, e.g. "tick_to_trade_p99_us"."""
        return f"{self.stage}_{self.percentile}_us"

    @property
    def label(self) -> str:
        """Human form, e.g. "tick_to_trade p99.9 <= 1,000 us"."""
        return f"{self.stage} {_LABELS[self.percentile]} <= {_us_text(self.limit_us)} us"

    @classmethod
    def parse(cls, key: str, value: object) -> Slo:
        """From one `[slo]` entry; ConfigError naming the key otherwise."""
        m = _SLO_KEY.match(key)
        if m is None or m["stage"] not in STAGES:
            raise ConfigError(
                f"slo.{key}: not <stage>_<percentile>_us with stage one of "
                f"{', '.join(STAGES)} and percentile one of {', '.join(PERCENTILES)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"slo.{key}: {value!r} is not a number of microseconds")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"slo.{key}: {value!r} is not a positive number of microseconds")
        return cls(m["stage"], m["pct"], float(value))


@dataclass(frozen=True)
class CertConfig:
    """The standard load and the objectives of a certification (see `examples/cert.toml`).

    `duration_s` of trading on `instruments` instruments (ids 1.., symbols QW01..);
    latency over time in intervals of `interval_s`; `seed` fixes the market's random
    flow. `engine_core` pins the engine's fast path (None: unpinned), `idle_sleep_us` is
    its idle policy (0: busy-poll), `journal` records the run (needed for latency over
    time; the journal is deleted after the analysis)."""

    duration_s: float = 60.0
    instruments: int = 3
    interval_s: float = 1.0
    seed: int = 7
    market: MarketLoad = field(default_factory=MarketLoad)
    quoting: QuotingLoad = field(default_factory=QuotingLoad)
    engine_core: int | None = None
    idle_sleep_us: int = 0
    journal: bool = True
    slos: tuple[Slo, ...] = ()

    def problems(self) -> list[str]:
        """Every refused field, with its path."""
        out = [
            *_number("duration_s", self.duration_s, 0.5, 86_400.0),
            *_integer("instruments", self.instruments, 1, 64),
            *_number("interval_s", self.interval_s, 0.01, 3_600.0),
            *_integer("seed", self.seed, 0, 2**63 - 1),
            *self.market.problems("market"),
            *self.quoting.problems("quoting"),
            *_integer("engine.idle_sleep_us", self.idle_sleep_us, 0, 1_000_000),
        ]
        if self.engine_core is not None:
            out += _integer("engine.core", self.engine_core, 0, (os.cpu_count() or 1) - 1)
        if not isinstance(self.journal, bool):
            out.append(f"engine.journal: {self.journal!r} is not true or false")
        if not self.slos:
            out.append("slo: no objective given (e.g. tick_to_trade_p99_us = 50)")
        return out

    def validate(self) -> CertConfig:
        """Self, or ConfigError listing every problem."""
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertConfig:
        """From a parsed TOML table; unknown keys are refused by name."""
        top = {"duration_s", "instruments", "interval_s", "seed", "market", "quoting"}
        known = top | {"engine", "slo"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)}")

        def table(name: str) -> Mapping[str, Any]:
            value = data.get(name, {})
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name}: {value!r} is not a table")
            return value

        def build(kind: type[Any], name: str) -> Any:
            t = table(name)
            extra = sorted(set(t) - {f.name for f in fields(kind)})
            if extra:
                raise ConfigError(f"{name}: unknown key(s) {', '.join(extra)}")
            return kind(**t)

        engine = table("engine")
        extra = sorted(set(engine) - {"core", "idle_sleep_us", "journal"})
        if extra:
            raise ConfigError(f"engine: unknown key(s) {', '.join(extra)}")
        slos = tuple(Slo.parse(k, v) for k, v in table("slo").items())
        plain = {
            k: data[k] for k in ("duration_s", "instruments", "interval_s", "seed") if k in data
        }
        config = cls(
            **plain,
            market=build(MarketLoad, "market"),
            quoting=build(QuotingLoad, "quoting"),
            engine_core=engine.get("core"),
            idle_sleep_us=engine.get("idle_sleep_us", 0),
            journal=engine.get("journal", True),
            slos=slos,
        )
        return config.validate()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CertConfig:
        """Read and validate a TOML file."""
        return load_toml(path, cls.from_dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, in the TOML file's shape."""
        engine: dict[str, object] = {"idle_sleep_us": self.idle_sleep_us, "journal": self.journal}
        if self.engine_core is not None:
            engine["core"] = self.engine_core
        return {
            "duration_s": self.duration_s,
            "instruments": self.instruments,
            "interval_s": self.interval_s,
            "seed": self.seed,
            "market": asdict(self.market),
            "quoting": asdict(self.quoting),
            "engine": engine,
            "slo": {s.key: s.limit_us for s in self.slos},
        }


# --------------------------------------------------------------------------- the load


def _symbols(config: CertConfig) -> list[tuple[str, int, int]]:
    """(symbol, id, start mid in cents) per instrument: QW01 at 100.00, QW02 at 125.00..."""
    return [(f"QW{i:02d}", i, 10_000 + 2_500 * (i - 1)) for i in range(1, config.instruments + 1)]


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _venue_config(config: CertConfig, itch_port: int) -> VenueConfig:
    m = config.market
    symbols = _symbols(config)
    return VenueConfig(
        instruments=[
            Instrument(sym, ident, "0.01", _cents(mid - 5_000), _cents(mid + 5_000), 1_000_000)
            for sym, ident, mid in symbols
        ],
        ouch=OuchConfig(
            accounts=[OuchAccount(_USER, _PASSWORD, firm=1, cancel_on_disconnect=True)],
            listen="127.0.0.1:0",
            session="CERT",
            heartbeat_ms=500,
            client_timeout_ms=5_000,
        ),
        itch=ItchConfig(
            destination=f"127.0.0.1:{itch_port}",
            session="CERTITCH",
            retransmit_bind="127.0.0.1:0",
            history=1 << 20,
            heartbeat_ms=200,
        ),
        background=Background(
            instruments=[
                BackgroundInstrument(
                    sym,
                    _cents(mid),
                    volatility_ticks_per_sqrt_s=m.volatility_ticks_per_sqrt_s,
                    limit_rate=m.limit_rate,
                    market_rate=m.market_rate,
                    cancel_rate=m.cancel_rate,
                    mean_size=m.mean_size,
                )
                for sym, _ident, mid in symbols
            ],
            seed=config.seed,
            first_firm=1_000,
            firms=4,
        ),
    )


def _engine_config(
    config: CertConfig, venue: Venue, itch_port: int, journal_dir: str | None
) -> EngineConfig:
    q = config.quoting
    ep = venue.endpoints
    if ep.ouch is None or ep.itch_retransmit is None:
        raise ConfigError("the venue started without OUCH or ITCH retransmission")
    return EngineConfig(
        instruments=[
            TradedInstrument(
                sym,
                ident,
                tick="0.01",
                model=q.model,
                half_spread_ticks=q.half_spread_ticks,
                size=q.size,
                levels=q.levels,
                skew_ticks=q.skew_ticks,
                quote_max_position=q.quote_max_position,
                requote_ticks=q.requote_ticks,
                max_order_qty=max(q.size * 4, 1_000),
                max_order_notional="10000000",
                price_band_bps=500,
                max_position=q.max_position,
            )
            for sym, ident, _mid in _symbols(config)
        ],
        feed=FeedEndpoint(
            bind=f"127.0.0.1:{itch_port}",
            retransmit=f"{ep.itch_retransmit[0]}:{ep.itch_retransmit[1]}",
            stale_after_ms=0,
            recovery_timeout_ms=2_000,
        ),
        ouch=OuchEndpoint(
            addr=f"{ep.ouch[0]}:{ep.ouch[1]}",
            username=_USER,
            password=_PASSWORD,
            heartbeat_ms=200,
            timeout_ms=3_000,
        ),
        firm=FirmLimits(
            max_gross_exposure="100000000",
            max_net_exposure="50000000",
            max_open_orders=16 * q.levels * config.instruments + 64,
            orders_per_sec=q.orders_per_sec,
            burst=q.burst,
            max_drawdown="0",
        ),
        engine=EngineThreads(
            core=config.engine_core,
            log_level="error",
            idle_sleep_us=config.idle_sleep_us,
            journal_dir=journal_dir,
        ),
    )


# --------------------------------------------------------------------------- histograms


def _hdrh() -> Any:
    return importlib.import_module("hdrh.histogram")


def _new_histogram() -> Any:
    return _hdrh().HdrHistogram(1, _HIGHEST_NS, 3)


def _figures(hist: Any) -> dict[str, float]:
    """count, min, mean, the PERCENTILES and max of an hdrh histogram, in ns."""
    n = int(hist.get_total_count())
    out: dict[str, float] = {"count": n}
    if n == 0:
        return out
    out["min_ns"] = int(hist.get_min_value())
    out["mean_ns"] = round(float(hist.get_mean_value()), 1)
    for name, pct in PERCENTILES.items():
        value = hist.get_max_value() if name == "max" else hist.get_value_at_percentile(pct)
        out[f"{name}_ns"] = int(value)
    return out


def percentile_curve(hist: Any, points: int = 240) -> tuple[list[float], list[float]]:
    """The HdrHistogram percentile plot's data: x = 1/(1-q) from 1 (q = 0) to the run's
    resolution (the sample count, at most 10^7) on a log grid, y = the latency (ns) at q."""
    n = int(hist.get_total_count())
    if n == 0:
        return [], []
    top = math.log10(min(max(n, 10), 10_000_000))
    xs = [float(x) for x in np.logspace(0.0, top, points)]
    ys = [float(hist.get_value_at_percentile(100.0 * (1.0 - 1.0 / x))) for x in xs]
    return xs, ys


@dataclass(frozen=True)
class SloResult:
    """One graded objective."""

    slo: Slo
    value_us: float | None
    samples: int
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "key": self.slo.key,
            "stage": self.slo.stage,
            "percentile": self.slo.percentile,
            "limit_us": self.slo.limit_us,
            "value_us": self.value_us,
            "samples": self.samples,
            "pass": self.passed,
            "note": self.note,
        }


def evaluate_slos(histograms: Mapping[str, Any], slos: Sequence[Slo]) -> list[SloResult]:
    """Grade every SLO against the stage histograms (hdrh, ns): pass when the value at the
    percentile is at most the limit; no samples (or no such stage) fails."""
    out = []
    for slo in slos:
        hist = histograms.get(slo.stage)
        n = 0 if hist is None else int(hist.get_total_count())
        if hist is None or n == 0:
            out.append(SloResult(slo, None, 0, False, "no samples: the stage never ran"))
            continue
        pct = PERCENTILES[slo.percentile]
        resolved = pct >= 100.0 or n >= 1.0 / (1.0 - pct / 100.0)
        ns = hist.get_value_at_percentile(pct) if resolved else hist.get_max_value()
        value_us = int(ns) / 1_000.0
        note = ""
        if not resolved:
            note = (
                f"{n:,} samples do not resolve {_LABELS[slo.percentile]} "
                f"(needs {math.ceil(1.0 / (1.0 - pct / 100.0)):,}): graded on the maximum"
            )
        out.append(SloResult(slo, value_us, n, value_us <= slo.limit_us, note))
    return out


# --------------------------------------------------------------------------- journal series


def _pcap_times(path: Path) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Packet timestamps (Unix ns) of a classic pcap (microsecond or nanosecond)."""
    data = path.read_bytes()
    if len(data) < 24:
        return np.zeros(0, np.int64)
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B23C4D, 0xA1B2C3D4):
        endian = "<"
    else:
        endian = ">"
        magic = struct.unpack_from(">I", data, 0)[0]
    scale = 1 if magic == 0xA1B23C4D else 1_000
    out = []
    off = 24
    header = struct.Struct(endian + "IIII")
    while off + 16 <= len(data):
        sec, frac, incl, _orig = header.unpack_from(data, off)
        out.append(sec * 1_000_000_000 + frac * scale)
        off += 16 + incl
    return np.sort(np.asarray(out, dtype=np.int64))


@dataclass
class _Series:
    """The journal's per-interval histograms and counts."""

    start_unix_ns: int
    interval_s: float
    intervals: int
    hist: dict[str, list[Any]]
    by_action: dict[str, Any]
    counts: dict[str, list[int]]

    def rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for i in range(self.intervals):
            row: dict[str, object] = {"t_s": round(i * self.interval_s, 6)}
            for name, values in self.counts.items():
                row[name] = values[i]
            for name, hists in self.hist.items():
                h = hists[i]
                row[f"{name}_count"] = int(h.get_total_count())
                for key in ("p50", "p99", "max"):
                    pct = PERCENTILES[key]
                    if h.get_total_count() == 0:
                        row[f"{name}_{key}_ns"] = None
                    elif key == "max":
                        row[f"{name}_{key}_ns"] = int(h.get_max_value())
                    else:
                        row[f"{name}_{key}_ns"] = int(h.get_value_at_percentile(pct))
            rows.append(row)
        return rows


def _journal_series(directory: Path, duration_s: float, interval_s: float) -> _Series:
    """Per-interval round trips and tick-to-quote from a run's journal (see module doc)."""
    info = journal.inspect(directory)
    start = info["first_ts_unix_ns"] or 0
    intervals = max(1, math.ceil(duration_s / interval_s - 1e-9))
    width_ns = interval_s * 1e9
    hist: dict[str, list[Any]] = {s: [_new_histogram() for _ in range(intervals)] for s in SERIES}
    by_action = {a: _new_histogram() for a in ("new", "replace", "cancel")}
    counts: dict[str, list[int]] = {
        k: [0] * intervals for k in ("datagrams", "orders", "reports", "fills")
    }

    def slot(ts: int) -> int | None:
        i = int((ts - start) // width_ns)
        return i if 0 <= i < intervals else None

    pcap = directory / "packets.pcap"
    journal.to_pcap(directory, pcap)
    packets = _pcap_times(pcap)
    pcap.unlink()
    for ts in packets:
        if (i := slot(int(ts))) is not None:
            counts["datagrams"][i] += 1
    o = journal.orders(directory)
    req, rep = o["requests"], o["reports"]
    answers: dict[int, list[int]] = {}
    for ts, kind, cl in zip(rep["ts_unix_ns"], rep["kind"], rep["cl"], strict=True):
        answers.setdefault(int(cl), []).append(int(ts))
        if (i := slot(int(ts))) is not None:
            counts["reports"][i] += 1
            counts["fills"][i] += int(kind == b"E")
    actions = {b"N": "new", b"R": "replace", b"C": "cancel"}
    for ts_raw, action, cl in zip(req["ts_unix_ns"], req["action"], req["cl"], strict=True):
        ts = int(ts_raw)
        i = slot(ts)
        if i is not None:
            counts["orders"][i] += 1
        seen = answers.get(int(cl), [])
        k = bisect_left(seen, ts)
        if k < len(seen) and i is not None:
            rt = min(max(seen[k] - ts, 1), _HIGHEST_NS)
            hist["round_trip"][i].record_value(rt)
            by_action[actions.get(bytes(action), "new")].record_value(rt)
    # A quoting batch shares one timestamp; it was triggered by a datagram when the latest
    # input before it was a datagram rather than a venue report.
    report_ts = np.sort(rep["ts_unix_ns"].astype(np.int64))
    for t in np.unique(req["ts_unix_ns"].astype(np.int64)):
        i = slot(int(t))
        p = int(np.searchsorted(packets, t, side="right")) - 1
        if i is None or p < 0:
            continue
        r = int(np.searchsorted(report_ts, t, side="right")) - 1
        if r >= 0 and report_ts[r] > packets[p]:
            continue
        hist["tick_to_quote"][i].record_value(min(max(int(t - packets[p]), 1), _HIGHEST_NS))
    return _Series(start, interval_s, intervals, hist, by_action, counts)


# --------------------------------------------------------------------------- machine


def host_tuning_report(cores: Sequence[int] | None = None) -> dict[str, object]:
    """The host's tuning state: `quotewire doctor`'s report (graded against `cores`, else
    the kernel's isolated CPUs) when the doctor module is there; otherwise the raw facts
    (kernel command line, isolated CPUs, cpu0's governor) with `"doctor": None`."""
    try:
        doctor = importlib.import_module("quotewire.doctor")
    except ImportError:
        doctor = None
    if doctor is not None and hasattr(doctor, "diagnose"):
        report = doctor.diagnose(cores=cores)
        out: dict[str, object] = dict(report.to_dict())
        out["doctor"] = "quotewire doctor"
        return out

    def read(path: str) -> str:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return "?"

    return {
        "doctor": None,
        "facts": {
            "cmdline": read("/proc/cmdline"),
            "isolated": read("/sys/devices/system/cpu/isolated"),
            "governor": read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        },
        "checks": [],
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _machine(config: CertConfig) -> dict[str, object]:
    info = machine_info()
    info["load_average"] = _load_average()
    cores = None if config.engine_core is None else [config.engine_core]
    info["tuning"] = host_tuning_report(cores)
    return info


# --------------------------------------------------------------------------- the run


@dataclass
class Certification:
    """A finished certification: its verdict, figures and where the report went."""

    verdict: str
    slos: list[SloResult]
    record: dict[str, Any]
    out_dir: Path
    histograms: dict[str, Any] = field(repr=False)

    @property
    def passed(self) -> bool:
        """True when every SLO passed and the run was valid."""
        return self.verdict == "pass"


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def default_out_dir(root: str | os.PathLike[str] = "latency_reports") -> Path:
    """`root/cert-YYYYMMDD` (UTC), or with -2, -3... when that already holds a report."""
    base = Path(root) / f"cert-{datetime.now(UTC):%Y%m%d}"
    candidate, n = base, 1
    while (candidate / "certification.json").exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run(
    config: CertConfig,
    out_dir: str | os.PathLike[str],
    *,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Certification:
    """Run the standard load of `config`, grade it and write the report into `out_dir`."""
    from quotewire.demo import free_udp_port

    config.validate()
    say = progress or (lambda _line: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command_line = shlex.join(["quotewire", *(sys.argv[1:] if argv is None else argv)])
    date = _utc_now()
    machine = _machine(config)
    with tempfile.TemporaryDirectory(prefix="quotewire-cert-") as tmp:
        journal_dir = str(Path(tmp) / "journal") if config.journal else None
        itch_port = free_udp_port()
        with Venue(_venue_config(config, itch_port)) as venue:
            engine = Engine(_engine_config(config, venue, itch_port, journal_dir)).start()
            say(f"certify: trading {config.instruments} instrument(s) for {config.duration_s:g} s")
            try:
                start = time.monotonic()
                while (left := start + config.duration_s - time.monotonic()) > 0:
                    time.sleep(min(0.25, left))
            finally:
                summary = engine.stop()
            venue_stats = venue.stats()
        # The other load on the host during the run (a shared machine drifts).
        machine["load_average_end"] = _load_average()
        series = (
            _journal_series(Path(journal_dir), config.duration_s, config.interval_s)
            if journal_dir is not None
            else None
        )
    histograms = {s: bench.decode_histogram(summary["latency"][s]["histogram"]) for s in STAGES}
    results = evaluate_slos(histograms, config.slos)
    problems = []
    if summary.get("killed"):
        problems.append(f"the kill switch fired during the run ({summary['killed']})")
    if histograms["tick_to_trade"].get_total_count() == 0:
        problems.append("the engine sent no order in response to market data")
    verdict = "pass" if all(r.passed for r in results) and not problems else "fail"
    counters = dict(summary["counters"])
    seconds = config.duration_s
    version = str(importlib.import_module("quotewire._core").version())
    record: dict[str, Any] = {
        "verdict": verdict,
        "run_problems": problems,
        "slos": [r.to_dict() for r in results],
        "stages": {s: _figures(h) for s, h in histograms.items()},
        "stage_descriptions": dict(STAGES),
        "rates": {
            "datagrams_per_s": round(counters["datagrams"] / seconds, 1),
            "messages_per_s": round(counters["messages"] / seconds, 1),
            "orders_per_s": round(
                (counters["orders_new"] + counters["orders_replace"] + counters["orders_cancel"])
                / seconds,
                1,
            ),
            "fills_per_s": round(counters["fills"] / seconds, 2),
        },
        "counters": counters,
        "risk_rejects": {k: v for k, v in summary["risk_rejects"].items() if v},
        "venue": venue_stats,
        "load": config.to_dict(),
        "machine": machine,
        "command": command_line,
        "date": date,
        "git_rev": git_revision(fallback=f"v{version}"),
        "version": version,
    }
    if series is not None:
        record["over_time"] = {
            "interval_s": config.interval_s,
            "series": dict(SERIES),
            "rows": series.rows(),
        }
        record["round_trip_by_action"] = {a: _figures(h) for a, h in series.by_action.items()}
    files = _write_report(out, record, histograms, series)
    record["files"] = files
    (out / "certification.json").write_text(
        json.dumps(record, indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8"
    )
    return Certification(verdict, results, record, out, histograms)


# --------------------------------------------------------------------------- the report


def _write_log(
    path: Path, record: Mapping[str, Any], what: str, intervals: Sequence[tuple[float, float, Any]]
) -> None:
    log_mod = importlib.import_module("hdrh.log")
    buf = io.StringIO()
    writer = log_mod.HistogramLogWriter(buf)
    writer.output_log_format_version()
    writer.output_comment(f"[quotewire certify: {what}]")
    writer.output_comment(f"[command: {record['command']}]")
    writer.output_comment(f"[revision {record['git_rev']}, date {record['date']}]")
    writer.output_comment("[values in nanoseconds]")
    # By hand: hdrh 0.10's output_start_time() is broken (see bench.write_hdr_log).
    buf.write(f"#[StartTime: {time.time():.3f} (seconds since epoch)]\n")
    writer.output_legend()
    for start, end, hist in intervals:
        hist.set_start_time_stamp(int(start * 1000))
        hist.set_end_time_stamp(int(end * 1000))
        writer.output_interval_histogram(hist, start_time_stamp_sec=start, end_time_stamp_sec=end)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _figure(width: float, height: float, rows: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return fig, axes


def _percentile_axes(ax: Any, top_x: float) -> None:
    ticks = [10.0**k for k in range(int(math.log10(max(top_x, 10))) + 1)]
    labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels[: len(ticks)])
    ax.set_xlabel("percentile (x = 1/(1-q), log scale)")
    ax.set_ylabel("latency (us, log scale)")
    ax.grid(which="both", alpha=0.3)


def _chart_percentiles(histograms: Mapping[str, Any]) -> bytes:
    fig, (ax,) = _figure(9, 5)
    top = 10.0
    for stage, hist in histograms.items():
        xs, ys = percentile_curve(hist)
        if xs:
            top = max(top, xs[-1])
            n = hist.get_total_count()
            ax.step(xs, [y / 1e3 for y in ys], where="post", label=f"{stage} (n={n:,})")
    _percentile_axes(ax, top)
    ax.set_title("Latency by percentile, every stage (whole run)")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _chart_stage(stage: str, hist: Any, results: Sequence[SloResult]) -> bytes:
    fig, (ax,) = _figure(9, 4.2)
    xs, ys = percentile_curve(hist)
    top = xs[-1] if xs else 10.0
    if xs:
        ax.step(xs, [y / 1e3 for y in ys], where="post", color="tab:blue", label=stage)
    for r in results:
        if r.slo.stage != stage:
            continue
        pct = PERCENTILES[r.slo.percentile]
        x = top if pct >= 100.0 else 1.0 / (1.0 - pct / 100.0)
        color = "tab:green" if r.passed else "tab:red"
        verdict = "pass" if r.passed else "FAIL"
        label = f"SLO {_LABELS[r.slo.percentile]} <= {_us_text(r.slo.limit_us)} us: {verdict}"
        ax.plot([x], [r.slo.limit_us], marker="v", ms=10, color=color, ls="none", label=label)
        top = max(top, x)
    _percentile_axes(ax, top)
    ax.legend(loc="upper left", fontsize=8)
    if not xs:
        ax.text(0.5, 0.5, "no samples", transform=ax.transAxes, ha="center")
    ax.set_title(f"{stage}: {STAGES[stage]} (n={hist.get_total_count():,})")
    return _png(fig)


def _chart_over_time(rows: Sequence[Mapping[str, Any]]) -> bytes:
    fig, axes = _figure(9, 8.5, rows=3)
    ts = [float(r["t_s"]) for r in rows]
    for ax, name in zip(axes[:2], SERIES, strict=True):
        for key, style in (("p50", "-"), ("p99", "--"), ("max", ":")):
            ys = [
                float(v) / 1e3 if (v := r.get(f"{name}_{key}_ns")) is not None else math.nan
                for r in rows
            ]
            ax.plot(ts, ys, style, marker=".", label=key)
        ax.set_yscale("log")
        ax.set_ylabel("us (log)")
        ax.set_title(f"{name}: {SERIES[name]}")
        ax.grid(which="both", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    width = float(rows[1]["t_s"]) - float(rows[0]["t_s"]) if len(rows) > 1 else 1.0
    for key in ("datagrams", "orders", "fills"):
        ax.plot(ts, [int(r[key]) / width for r in rows], marker=".", label=f"{key}/s")
    ax.set_title("Rates per interval")
    ax.set_xlabel("seconds since the engine started")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)


def _us_text(us: float) -> str:
    if us >= 100:
        return f"{us:,.0f}"
    if us >= 1:
        return f"{us:,.1f}"
    return f"{us:,.3f}"


def _ns_us(value: object) -> str:
    return "-" if not isinstance(value, int | float) else _us_text(float(value) / 1e3)


def _write_report(
    out: Path, record: dict[str, Any], histograms: Mapping[str, Any], series: _Series | None
) -> list[str]:
    files: list[str] = []
    run_s = float(record["load"]["duration_s"])
    for stage, hist in histograms.items():
        _write_log(out / f"{stage}.hlog", record, f"engine {stage}, whole run", [(0, run_s, hist)])
        files.append(f"{stage}.hlog")
    if series is not None:
        for name, hists in series.hist.items():
            w = series.interval_s
            spans = [(i * w, (i + 1) * w, h) for i, h in enumerate(hists)]
            _write_log(
                out / f"{name}.intervals.hlog", record, f"journal {name} per interval", spans
            )
            files.append(f"{name}.intervals.hlog")
    results = [
        SloResult(
            Slo(s["stage"], s["percentile"], s["limit_us"]),
            s["value_us"],
            s["samples"],
            s["pass"],
            s["note"],
        )
        for s in record["slos"]
    ]
    charts: list[tuple[str, str, bytes]] = [
        ("percentiles.png", "Latency by percentile, every stage", _chart_percentiles(histograms))
    ]
    for stage, hist in histograms.items():
        charts.append(
            (f"{stage}.png", f"{stage} by percentile", _chart_stage(stage, hist, results))
        )
    if series is not None:
        charts.append(("over_time.png", "Latency over time", _chart_over_time(series.rows())))
    for name, _title, data in charts:
        (out / name).write_bytes(data)
        files.append(name)
    (out / "machine.json").write_text(
        json.dumps(record["machine"], indent=2, default=str) + "\n", encoding="utf-8"
    )
    (out / "command.txt").write_text(record["command"] + "\n", encoding="utf-8")
    files += list(_REPORT_FILES)
    (out / "report.html").write_text(_html(record, charts), encoding="utf-8")
    return sorted(set(files))


_CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-size:2em;font-weight:bold;padding:.4em .8em;display:inline-block;border-radius:6px}
.verdict.pass{background:#d9f2d9;color:#145214} .verdict.fail{background:#f8d7d7;color:#7a1010}
tr.pass td.r{color:#145214;font-weight:bold} tr.fail td.r{color:#7a1010;font-weight:bold}
.pass-status{color:#145214} .warn-status{color:#8a5a00} .fail-status{color:#7a1010}
img.chart{max-width:100%;border:1px solid #ddd;margin:.5em 0;display:block}
code,pre{background:#f6f6f6;padding:2px 4px} .muted{color:#666;font-size:.9em}
"""

# Marks each chart with its decoded size once the page has loaded, so a headless browser's
# DOM dump shows whether the embedded PNGs really decoded.
_SCRIPT: Final = """
window.addEventListener('load', function () {
  var ok = 0, imgs = document.querySelectorAll('img.chart');
  imgs.forEach(function (img) {
    img.setAttribute('data-natural-width', img.naturalWidth);
    img.setAttribute('data-natural-height', img.naturalHeight);
    if (img.complete && img.naturalWidth > 0) { ok += 1; }
  });
  document.body.setAttribute('data-charts-decoded', ok + '/' + imgs.length);
});
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    id_: str = "",
    classes: Sequence[str] | None = None,
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    marks = [f' class="{c}"' for c in classes] if classes is not None else [""] * len(rows)
    body = "".join(
        f"<tr{mark}>" + "".join(row) + "</tr>" for mark, row in zip(marks, rows, strict=True)
    )
    ident = f' id="{id_}"' if id_ else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: object, numeric: bool = False) -> str:
    return f'<td class="n">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _html(record: Mapping[str, Any], charts: Sequence[tuple[str, str, bytes]]) -> str:
    verdict = str(record["verdict"])
    machine = record["machine"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>quotewire latency certification {_e(record['date'])}: {verdict.upper()}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>quotewire latency certification</h1>",
        f'<p class="muted">{_e(record["date"])} &middot; revision {_e(record["git_rev"])} '
        f"(quotewire {_e(record['version'])}) &middot; {_e(machine.get('cpu'))}, "
        f"{_e(machine.get('cores'))} cores, {_e(machine.get('os'))} "
        f"{_e(machine.get('kernel'))}</p>",
        f'<div id="verdict" class="verdict {verdict}" data-verdict="{verdict}">'
        f"{'PASS' if verdict == 'pass' else 'FAIL'}</div>",
        "<h2>Service-level objectives</h2>",
    ]
    rows = []
    for s in record["slos"]:
        status = "pass" if s["pass"] else "fail"
        rows.append(
            [
                _td(s["key"]),
                _td(f"{_LABELS[s['percentile']]} of {s['stage']}"),
                _td(_us_text(float(s["limit_us"])), True),
                _td("-" if s["value_us"] is None else _us_text(float(s["value_us"])), True),
                _td(f"{s['samples']:,}", True),
                f'<td class="r">{status.upper()}</td>',
                _td(s["note"]),
            ]
        )
    parts.append(
        _table(
            ["SLO", "what", "limit us", "measured us", "samples", "result", "note"],
            rows,
            id_="slos",
            classes=["pass" if s["pass"] else "fail" for s in record["slos"]],
        )
    )
    for p in record["run_problems"]:
        parts.append(f'<p class="fail-status">Run invalid: {_e(p)}</p>')
    parts.append("<h2>Latency by stage (engine histograms, whole run, microseconds)</h2>")
    keys = ("min", "p50", "p90", "p99", "p999", "p9999", "max", "mean")
    rows = []
    for stage, fig in record["stages"].items():
        rows.append(
            [
                _td(stage),
                _td(STAGES[stage]),
                _td(f"{int(fig['count']):,}", True),
                *(_td(_ns_us(fig.get(f"{k}_ns")), True) for k in keys),
            ]
        )
    header = ["stage", "covers", "samples", *(_LABELS.get(k, k) for k in keys)]
    parts.append(_table(header, rows, id_="stages"))
    if "round_trip_by_action" in record:
        rows = [
            [_td(a), _td(f"{int(f['count']):,}", True)]
            + [_td(_ns_us(f.get(f"{k}_ns")), True) for k in ("p50", "p99", "max")]
            for a, f in record["round_trip_by_action"].items()
        ]
        parts.append("<p>Round trip by request type (journal, us):</p>")
        parts.append(_table(["request", "samples", "p50", "p99", "max"], rows))
    parts.append("<h2>Charts</h2>")
    for name, title, data in charts:
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(
            f'<img class="chart" id="chart-{_e(name[:-4])}" alt="{_e(title)}" src="{src}">'
        )
    over = record.get("over_time")
    if over:
        parts.append("<h2>Over time (per interval)</h2>")
        cols = ["t_s", "datagrams", "orders", "fills"]
        lat_cols = [f"{n}_{k}_ns" for n in SERIES for k in ("p50", "p99", "max")]
        rows = [
            [_td(r[c], True) for c in cols] + [_td(_ns_us(r[c]), True) for c in lat_cols]
            for r in over["rows"]
        ]
        header = [*cols, *(c.removesuffix("_ns") + " us" for c in lat_cols)]
        parts.append(
            f"<details><summary>{len(rows)} intervals of {over['interval_s']:g} s</summary>"
            + _table(header, rows, id_="over-time")
            + "</details>"
        )
    else:
        parts.append("<p>No latency over time: the run had no journal (engine.journal).</p>")
    parts.append("<h2>Load</h2>")
    load = record["load"]
    flat: list[tuple[str, object]] = []
    for k, v in load.items():
        if isinstance(v, Mapping):
            flat += [(f"{k}.{kk}", vv) for kk, vv in v.items()]
        else:
            flat.append((k, v))
    parts.append(_table(["setting", "value"], [[_td(k), _td(v)] for k, v in flat], id_="load"))
    rates = record["rates"]
    parts.append(
        "<p>Measured: "
        + ", ".join(f"{_e(k.replace('_', ' '))} {_e(v)}" for k, v in rates.items())
        + f"; venue {_e(record['venue'])}.</p>"
    )
    c = record["counters"]
    parts.append(
        "<p>Engine counters: "
        + ", ".join(f"{_e(k)} {_e(v)}" for k, v in c.items())
        + (f"; risk rejects {_e(record['risk_rejects'])}" if record["risk_rejects"] else "")
        + "</p>"
    )
    parts.append("<h2>Machine</h2>")
    plain = [(k, v) for k, v in machine.items() if k != "tuning"]
    parts.append(_table(["fact", "value"], [[_td(k), _td(v)] for k, v in plain], id_="machine"))
    tuning = machine.get("tuning", {})
    facts = tuning.get("facts", {})
    if facts:
        parts.append(_table(["host fact", "value"], [[_td(k), _td(v)] for k, v in facts.items()]))
    checks = tuning.get("checks", [])
    if tuning.get("doctor"):
        parts.append(
            f"<p>Tuning state from <code>quotewire doctor</code>: {_e(tuning.get('status'))} "
            f"({_e(tuning.get('counts'))}), graded against cores {_e(tuning.get('cores'))} "
            f"({_e(tuning.get('cores_from'))}).</p>"
        )
    else:
        parts.append("<p>quotewire doctor was not available: raw facts only.</p>")
    if checks:
        rows = [
            [
                _td(ch["name"]),
                f'<td class="{_e(ch["status"])}-status">{_e(ch["status"])}</td>',
                _td(ch["detail"]),
                _td(ch["expected"]),
            ]
            for ch in checks
        ]
        parts.append(_table(["check", "status", "found", "wanted"], rows, id_="doctor"))
    parts.append("<h2>Reproduce</h2>")
    parts.append(f'<pre id="command">{_e(record["command"])}</pre>')
    links = ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in record.get("files", []))
    parts.append(
        "<p>HdrHistogram logs (values in ns; <code>hdrh.log.HistogramLogReader</code>, "
        f"HistogramLogProcessor, the online plotter) and charts in this directory: {links}</p>"
    )
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- CLI


def format_text(cert: Certification) -> str:
    """A short readable summary: per-SLO results, stage percentiles, verdict, report path."""
    rec = cert.record
    lines = [f"quotewire certify: {rec['command']}"]
    lines.append(f"  {'stage':<14}{'count':>9}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>11}  us")
    for stage, f in rec["stages"].items():
        lines.append(
            f"  {stage:<14}{int(f['count']):>9,}{_ns_us(f.get('p50_ns')):>10}"
            f"{_ns_us(f.get('p99_ns')):>10}{_ns_us(f.get('p999_ns')):>10}"
            f"{_ns_us(f.get('max_ns')):>11}"
        )
    for r in cert.slos:
        value = "-" if r.value_us is None else _us_text(r.value_us)
        lines.append(
            f"  {'PASS' if r.passed else 'FAIL'}  {r.slo.label}: measured {value} us"
            + (f" ({r.note})" if r.note else "")
        )
    for p in rec["run_problems"]:
        lines.append(f"  FAIL  run: {p}")
    lines.append(f"verdict: {cert.verdict.upper()}; report: {cert.out_dir / 'report.html'}")
    return "\n".join(lines)


def command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`quotewire certify --config FILE [--out DIR] [--json]`: 0 on pass, 1 on fail."""
    config = CertConfig.load(args.config)
    out = Path(args.out) if args.out else default_out_dir()
    progress = None if args.json else (lambda line: print(line, file=sys.stderr))
    cert = run(config, out, argv=argv, progress=progress)
    if args.json:
        print(json.dumps(cert.record, default=str, allow_nan=False))
    else:
        print(format_text(cert))
    return 0 if cert.passed else 1
