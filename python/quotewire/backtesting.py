"""Backtests: history replayed through the live strategy, risk and OMS code.

    import quotewire
    result = quotewire.backtest("journal/", "strategy.toml", latency=quotewire.Latency(order_us=20))
    result.summary["pnl"], result.fills.to_pandas()
    result.write("bt-out")          # Parquet + report.html + report.png

The core (`quotewire._core.backtest`) runs the whole replay in Rust with the GIL released:
the engine's own fast path (feed sequencer, books, strategy, risk, OMS) in simulated time
against a simulated venue that keeps exact L3 queue positions from the ITCH order ids (see
the `quotewire-backtest` crate docs for every rule). Python only prepares and reports.

Data (`data`):

* a journal (a directory of `journal-*.qwj` segments, or one segment): the packets as the
  engine received them, at their receive times. The recorded session's own orders are in
  that feed; with `stand_in=True` (the default for journals) they are kept out of the
  simulated venue's public book and the simulated orders take their place, so a backtest of
  a session reproduces it rather than trading against itself;
* a capture file: a MoldUDP64 pcap (datagrams and capture times kept) or a Nasdaq daily
  ITCH file, plain or gzip (messages packed into datagrams by timestamp);
* an exported history directory (`quotewire export`): its `capture/feed.pcap`.

Latency: `Latency(order_us, ack_us, md_us)` constant delays, or drawn from recorded round
trips (`Latency.from_round_trips`, `Latency.from_hdr_log` for an HdrHistogram log such as
`write_latency_logs` writes, `Latency.of_journal` for the session's own). Same inputs and
seed give the same output to the byte.

Output tables (pyarrow): `orders` (every request), `fills` (with position and the engine's
mid at the fill), `pnl` (position, mid, realised and unrealised PnL per instrument over
time, sampled every `sample_every_s` of data time and at each fill). Money is exact in the
`*_raw` int64 columns (4 implied decimals; PnL in raw price units x shares); float columns
are for plots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from quotewire import _core
from quotewire.engine import EngineConfig
from quotewire.errors import ConfigError, DataError

__all__ = [
    "Latency",
    "Result",
    "backtest",
    "load_strategy",
    "resolve_data",
    "strategy_config",
]

PRICE_SCALE: Final = 10_000
_SIDES: Final = {ord("B"): "B", ord("S"): "S"}
_ACTIONS: Final = {ord("N"): "new", ord("R"): "replace", ord("C"): "cancel"}


@dataclass(frozen=True, slots=True)
class Latency:
    """Delays between the engine and the simulated venue.

    Constant: `order_us` engine -> venue per request, `ack_us` venue -> engine per report.
    `round_trips_ns` (pairs `(ns, count)`), when set, replaces both: each request draws a
    round trip and splits it in half. `md_us` delays market data from venue to engine."""

    order_us: float = 10.0
    ack_us: float = 10.0
    md_us: float = 0.0
    round_trips_ns: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        for name in ("order_us", "ack_us", "md_us"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e9:
                raise ConfigError(f"latency.{name}: {v!r} is not a delay in 0..1e9 us")
        if self.round_trips_ns is not None:
            buckets = tuple((int(v), int(c)) for v, c in self.round_trips_ns)
            if (
                not buckets
                or any(v < 0 or c < 0 for v, c in buckets)
                or not any(c for _, c in buckets)
            ):
                raise ConfigError("latency.round_trips_ns: needs a positive count")
            object.__setattr__(self, "round_trips_ns", buckets)

    @classmethod
    def from_round_trips(cls, values_ns: Iterable[int], *, md_us: float = 0.0) -> Latency:
        """Round trips drawn from these samples (each weighted by how often it occurs)."""
        arr = np.asarray(list(values_ns) if not isinstance(values_ns, np.ndarray) else values_ns)
        if arr.size == 0:
            raise ConfigError("latency: no round trips to draw from")
        vals, counts = np.unique(arr.astype(np.int64), return_counts=True)
        pairs = tuple(zip(vals.tolist(), counts.tolist(), strict=True))
        return cls(md_us=md_us, round_trips_ns=pairs)

    @classmethod
    def from_hdr_log(cls, path: str | os.PathLike[str], *, md_us: float = 0.0) -> Latency:
        """Round trips drawn from an HdrHistogram interval log (all intervals added)."""
        import importlib

        try:
            hist: Any = importlib.import_module("hdrh.histogram")
            log: Any = importlib.import_module("hdrh.log")
        except ImportError:
            raise ConfigError("HDR logs need the hdrhistogram package") from None
        reader = log.HistogramLogReader(os.fspath(path), hist.HdrHistogram(1, 60_000_000_000, 3))
        total = hist.HdrHistogram(1, 60_000_000_000, 3)
        while (h := reader.get_next_interval_histogram()) is not None:
            total.add(h)
        buckets = [
            (int(item.value_iterated_to), int(item.count_at_value_iterated_to))
            for item in total.get_recorded_iterator()
        ]
        if not buckets:
            raise DataError(f"{os.fspath(path)}: the histogram log holds no samples")
        return cls(md_us=md_us, round_trips_ns=tuple(buckets))

    @classmethod
    def of_journal(cls, journal: str | os.PathLike[str], *, md_us: float = 0.0) -> Latency:
        """The recorded session's own order round trips (request -> first answer)."""
        rtt = np.asarray(_core.backtest_recorded(os.fspath(journal))["round_trips_ns"])
        if rtt.size == 0:
            raise DataError(f"{os.fspath(journal)}: the journal has no answered order request")
        return cls.from_round_trips(rtt, md_us=md_us)

    def to_core(self) -> dict[str, Any]:
        """Keyword arguments of `_core.backtest`."""
        return {
            "order_ns": round(self.order_us * 1000),
            "ack_ns": round(self.ack_us * 1000),
            "md_latency_ns": round(self.md_us * 1000),
            "latency_hist": list(self.round_trips_ns) if self.round_trips_ns else None,
        }

    def describe(self) -> str:
        """One line for reports."""
        md = f", market data {self.md_us:g} us"
        if self.round_trips_ns:
            vals = np.repeat(
                [v for v, _ in self.round_trips_ns], [c for _, c in self.round_trips_ns]
            )
            p50, p99 = np.percentile(vals, [50, 99]) / 1000
            return f"recorded round trips (p50 {p50:.1f} us, p99 {p99:.1f} us){md}"
        return f"order {self.order_us:g} us, ack {self.ack_us:g} us{md}"


# A backtest connects to nothing: these only satisfy the shared config schema.
_NO_FEED: Final = {"bind": "127.0.0.1:0"}
_NO_OUCH: Final = {"addr": "127.0.0.1:9", "username": "BTEST", "password": ""}


def strategy_config(data: Mapping[str, Any]) -> EngineConfig:
    """An engine configuration from a parsed table in which `feed` and `ouch` are
    optional (a backtest uses neither): a live engine's TOML works as is, and so does one
    with only instruments, firm limits and rules."""
    table = dict(data)
    table.setdefault("feed", dict(_NO_FEED))
    table.setdefault("ouch", dict(_NO_OUCH))
    return EngineConfig.from_dict(table)


def load_strategy(path: str | os.PathLike[str]) -> EngineConfig:
    """`strategy_config` of a TOML file."""
    from quotewire.venue import load_toml

    return load_toml(path, strategy_config)


def _is_journal(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("journal-*.qwj"))
    return path.suffix == ".qwj"


def resolve_data(data: str | os.PathLike[str]) -> tuple[Path, bool]:
    """(path to replay, whether it is a journal) for a journal, capture or export dir."""
    path = Path(data)
    if not path.exists():
        raise DataError(f"no such data: {path}")
    if _is_journal(path):
        return path, True
    if path.is_dir():
        capture = path / "capture" / "feed.pcap"
        if capture.is_file():
            return capture, False
        raise DataError(
            f"{path}: neither a journal (journal-*.qwj) nor an export with capture/feed.pcap"
        )
    return path, False


def _table(cols: Mapping[str, npt.NDArray[np.int64]], symbols: Mapping[int, str]) -> pa.Table:
    out: dict[str, pa.Array] = {}
    for name, arr in cols.items():
        a = np.asarray(arr)
        if name == "ts_ns":
            out["ts_ns"] = pa.array(a, pa.int64())
        elif name == "instrument":
            out["instrument"] = pa.array(a.astype(np.uint16))
            out["symbol"] = pa.array([symbols.get(int(x), str(int(x))) for x in a], pa.string())
        elif name == "side":
            out["side"] = pa.array([_SIDES.get(int(x), "?") for x in a], pa.string())
        elif name == "action":
            out["action"] = pa.array([_ACTIONS.get(int(x), "?") for x in a], pa.string())
        elif name in ("price", "mid", "realised", "unrealised"):
            out[f"{name}_raw"] = pa.array(a, pa.int64())
            out[name] = pa.array(a / PRICE_SCALE, pa.float64())
        else:
            out[name] = pa.array(a)
    return pa.table(out)


@dataclass(slots=True)
class Result:
    """What a backtest produced (see the module docs for the tables)."""

    orders: pa.Table
    fills: pa.Table
    pnl: pa.Table
    summary: dict[str, Any]
    recorded_fills: pa.Table | None = None
    per_packet: dict[str, Any] | None = field(default=None, repr=False)

    def write(self, out_dir: str | os.PathLike[str], *, report: bool = True) -> list[Path]:
        """Write `orders`, `fills`, `pnl` (Parquet), `summary.json` and, with `report`,
        `report.png` and `report.html`; returns the paths."""
        base = Path(out_dir)
        base.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for name, table in (("orders", self.orders), ("fills", self.fills), ("pnl", self.pnl)):
            p = base / f"{name}.parquet"
            pq.write_table(table, p)
            paths.append(p)
        if self.recorded_fills is not None:
            p = base / "recorded_fills.parquet"
            pq.write_table(self.recorded_fills, p)
            paths.append(p)
        p = base / "summary.json"
        p.write_text(json.dumps(self.summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(p)
        if report:
            from quotewire.backtest_report import write_report

            paths += write_report(self, base)
        return paths


def _summary(res: Mapping[str, Any], fills: pa.Table, pnl: pa.Table) -> dict[str, Any]:
    counters = dict(res["counters"])
    quoted = int(counters["orders_new"] + counters["orders_replace"])
    filled_orders = len(set(fills.column("cl").to_pylist())) if fills.num_rows else 0
    qty = np.asarray(fills.column("qty")) if fills.num_rows else np.zeros(0, np.int64)
    price = np.asarray(fills.column("price_raw")) if fills.num_rows else np.zeros(0, np.int64)
    mid = np.asarray(fills.column("mid_raw")) if fills.num_rows else np.zeros(0, np.int64)
    sign = (
        np.where(np.asarray(fills.column("side").to_pylist()) == "B", 1, -1)
        if fills.num_rows
        else np.zeros(0, np.int64)
    )
    has_mid = mid > 0
    # Spread captured: what each fill earned against the mid the engine saw at the time.
    edge_raw = int(np.sum((sign * (mid - price) * qty)[has_mid]))
    shares = int(qty.sum())
    final: dict[int, tuple[int, int, int]] = {}
    if pnl.num_rows:
        inst = np.asarray(pnl.column("instrument"))
        pos = np.asarray(pnl.column("position"))
        real = np.asarray(pnl.column("realised_raw"))
        unreal = np.asarray(pnl.column("unrealised_raw"))
        for i in range(pnl.num_rows):
            final[int(inst[i])] = (int(pos[i]), int(real[i]), int(unreal[i]))
    realised = sum(v[1] for v in final.values())
    unrealised = sum(v[2] for v in final.values())
    positions = np.asarray(pnl.column("position")) if pnl.num_rows else np.zeros(1, np.int64)
    elapsed = int(res["elapsed_ns"])
    return {
        "messages": int(res["messages"]),
        "datagrams": int(res["datagrams"]),
        "elapsed_s": elapsed / 1e9,
        "messages_per_sec": float(res["messages_per_sec"]),
        "orders_new": int(counters["orders_new"]),
        "orders_replace": int(counters["orders_replace"]),
        "orders_cancel": int(counters["orders_cancel"]),
        "venue_rejects": int(counters["venue_rejects"]),
        "fills": int(fills.num_rows),
        "filled_shares": shares,
        "fill_ratio": (filled_orders / quoted) if quoted else 0.0,
        "spread_captured": edge_raw / PRICE_SCALE,
        "spread_captured_per_share": (edge_raw / PRICE_SCALE / shares) if shares else 0.0,
        "realised_pnl": realised / PRICE_SCALE,
        "unrealised_pnl": unrealised / PRICE_SCALE,
        "pnl": (realised + unrealised) / PRICE_SCALE,
        "max_abs_position": int(np.abs(positions).max()) if positions.size else 0,
        "recorded_own_shares_executed": int(res["recorded_own_executed"]),
        "events_dropped": int(res["events_dropped"]),
    }


def reproduction(bt: pa.Table, live: pa.Table) -> dict[str, Any]:
    """How closely backtest fills reproduce recorded live fills: shares matched by
    (instrument, side, price), over the larger of the two totals (1.0: the same fills)."""

    def totals(t: pa.Table) -> dict[tuple[int, str, int], int]:
        out: dict[tuple[int, str, int], int] = {}
        for inst, side, px, q in zip(
            t.column("instrument").to_pylist(),
            t.column("side").to_pylist(),
            t.column("price_raw").to_pylist(),
            t.column("qty").to_pylist(),
            strict=True,
        ):
            k = (int(inst), str(side), int(px))
            out[k] = out.get(k, 0) + int(q)
        return out

    a, b = totals(bt), totals(live)
    matched = sum(min(q, b.get(k, 0)) for k, q in a.items())
    total_bt, total_live = sum(a.values()), sum(b.values())
    denom = max(total_bt, total_live)
    return {
        "backtest_shares": total_bt,
        "live_shares": total_live,
        "matched_shares": matched,
        "score": matched / denom if denom else 1.0,
    }


def backtest(
    data: str | os.PathLike[str],
    config: EngineConfig | str | os.PathLike[str],
    *,
    latency: Latency | None = None,
    seed: int = 1,
    sample_every_s: float = 1.0,
    stand_in: bool | None = None,
    time_packets: bool = False,
) -> Result:
    """Replay `data` through `config`'s strategies (see the module docs).

    `latency` defaults to the recorded round trips for a journal and to 10 us each way
    otherwise. `stand_in` (journals; default True) lets the simulated orders replace the
    recorded session's own orders in the data."""
    path, is_journal = resolve_data(data)
    cfg = config if isinstance(config, EngineConfig) else load_strategy(config)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
        raise ConfigError(f"seed: {seed!r} is not an integer in 0..2**64")
    if not isinstance(sample_every_s, (int, float)) or not 0 <= sample_every_s < 1e6:
        raise ConfigError(f"sample_every_s: {sample_every_s!r} is not in 0..1e6")
    if latency is None:
        latency = Latency.of_journal(path) if is_journal else Latency()
    stand = is_journal if stand_in is None else bool(stand_in)
    if stand and not is_journal:
        raise ConfigError("stand_in needs a journal (it names the recorded own orders)")
    res = _core.backtest(
        cfg.to_json(),
        os.fspath(path),
        journal=is_journal,
        seed=seed,
        sample_every_ns=round(sample_every_s * 1e9),
        stand_in=stand,
        time_packets=time_packets,
        **latency.to_core(),
    )
    symbols = {i.id: i.symbol for i in cfg.instruments}
    recorded = res.get("recorded")
    if recorded:
        symbols = {**{int(k): str(v) for k, v in recorded["instruments"]}, **symbols}
    orders = _table(res["orders"], symbols)
    fills = _table(res["fills"], symbols)
    pnl = _table(res["samples"], symbols)
    summary = _summary(res, fills, pnl)
    summary["data"] = os.fspath(path)
    summary["journal"] = is_journal
    summary["latency"] = latency.describe()
    summary["seed"] = seed
    summary["stand_in"] = stand
    live = None
    if recorded:
        live = _table(recorded["fills"], symbols)
        summary["recorded"] = {
            "fills": live.num_rows,
            "requests": int(recorded["requests"]),
            "damaged_records": int(recorded["damaged"]),
        }
        summary["reproduction"] = reproduction(fills, live)
    return Result(orders, fills, pnl, summary, live, res.get("per_packet"))


def format_summary(s: Mapping[str, Any]) -> str:
    """The summary as a few readable lines."""
    lines = [
        f"data         {s['data']} ({'journal' if s['journal'] else 'capture'})",
        f"latency      {s['latency']}",
        f"replayed     {s['messages']:,} ITCH messages in {s['elapsed_s']:.3f} s "
        f"({s['messages_per_sec'] / 1e6:.2f} M msgs/s)",
        f"orders       {s['orders_new']:,} new, {s['orders_replace']:,} replace, "
        f"{s['orders_cancel']:,} cancel, {s['venue_rejects']:,} rejected",
        f"fills        {s['fills']:,} ({s['filled_shares']:,} shares), fill ratio "
        f"{s['fill_ratio']:.1%}",
        f"spread       {s['spread_captured']:,.2f} captured "
        f"({s['spread_captured_per_share']:.4f} per share)",
        f"pnl          {s['pnl']:,.2f} (realised {s['realised_pnl']:,.2f}, unrealised "
        f"{s['unrealised_pnl']:,.2f}); max |position| {s['max_abs_position']:,}",
    ]
    rep = s.get("reproduction")
    if isinstance(rep, Mapping):
        lines.append(
            f"vs live      {rep['matched_shares']:,} of {rep['live_shares']:,} live shares "
            f"matched by price and side (score {rep['score']:.1%}; backtest "
            f"{rep['backtest_shares']:,})"
        )
    return "\n".join(lines)
