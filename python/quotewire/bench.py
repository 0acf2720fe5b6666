"""End-to-end benchmarks through the compiled core, with their provenance.

The core runs and times the whole loop and builds the HDR histogram after the run; this
module adds what makes a figure publishable (STYLE.md, habit 9): the bench name, the
command line, the machine, the revision and the UTC date. It renders the result as text,
as one JSON line, as an HdrHistogram interval log and as an entry of the append-only
`latency_reports/PERFORMANCE.md`.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from quotewire import _core
from quotewire._machine import git_revision, machine_info
from quotewire._values import get_float, get_int, get_number, get_str
from quotewire.errors import ConfigError

__all__ = [
    "DEFAULT_REPORT",
    "REQUIRED_KEYS",
    "append_report",
    "decode_histogram",
    "format_text",
    "run_feed",
    "run_venue",
    "to_json_line",
    "write_hdr_log",
]

DEFAULT_REPORT: Final = Path("latency_reports") / "PERFORMANCE.md"
"""Where `--report` appends, relative to the working directory (the repo root in `make`)."""

REQUIRED_KEYS: Final = (
    "bench",
    "count",
    "per_sec",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "machine",
    "git_rev",
)
"""Keys every benchmark record (and so its JSON line) carries."""

_PERCENTILES: Final = (
    ("min", "min_ns"),
    ("p50", "p50_ns"),
    ("p90", "p90_ns"),
    ("p99", "p99_ns"),
    ("p99.9", "p999_ns"),
    ("p99.99", "p9999_ns"),
    ("max", "max_ns"),
    ("mean", "mean_ns"),
)
"""(label, key) of the latency figures shown; keys the core does not report are skipped."""

_UNITS: Final[Mapping[str, tuple[str, str]]] = {
    "feed": ("messages", "msgs"),
    "venue": ("actions", "actions"),
    "orders": ("order actions", "actions"),
    "tick-to-trade": ("tick-to-trade samples", "datagrams"),
}
"""Bench name -> (what `count` counts, its short form in rates); others count messages."""

_EXTRAS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "feed": (
        ("clock overhead ns", "clock_overhead_ns"),
        ("live orders peak", "live_orders_peak"),
        ("book bytes", "book_bytes"),
        ("unknown orders", "unknown_orders"),
        ("packets", "packets"),
        ("gaps", "gaps"),
        ("decode errors", "decode_errors"),
    ),
    "orders": (
        ("bytes per order", "bytes_per_order"),
        ("OMS bytes", "oms_bytes"),
        ("live orders", "live_orders"),
        ("new", "new"),
        ("replace", "replace"),
        ("cancel", "cancel"),
        ("risk rejects", "risk_rejects"),
    ),
    "tick-to-trade": (
        ("datagrams", "datagrams"),
        ("messages", "messages"),
        ("orders", "orders"),
        ("feed p50 ns", "feed_p50_ns"),
        ("feed p99 ns", "feed_p99_ns"),
        ("quote p50 ns", "quote_p50_ns"),
        ("quote p99 ns", "quote_p99_ns"),
        ("feed p99.9 ns", "feed_p999_ns"),
        ("quote p99.9 ns", "quote_p999_ns"),
        ("round trips", "round_trips"),
        ("round trip p50 ns", "round_trip_p50_ns"),
        ("round trip p99 ns", "round_trip_p99_ns"),
        ("fills", "fills"),
        ("risk rejects", "risk_rejects"),
    ),
    "venue": (
        ("clock overhead ns", "clock_overhead_ns"),
        ("executions", "executions"),
        ("ITCH messages", "itch_messages"),
        ("ITCH datagrams", "itch_datagrams"),
    ),
}
"""Bench name -> (label, key) of its integer counters shown after the latencies."""

_REPORT_HEADER: Final = """\
# quotewire performance log

Append-only. Each entry is written by `quotewire bench ... --report` and names the command,
the machine, the revision and the UTC date; add notes under an entry, never edit figures.
"""


def _command_line(argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["quotewire", *args])


def _package_version() -> str:
    return _core.version()


def run_feed(
    messages: int,
    *,
    instruments: int = 8000,
    max_live_orders: int = 1_500_000,
    seed: int = 1,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Run the feed -> book benchmark on a synthetic session of `messages` messages.

    Returns the core's figures (count, elapsed_ns, per_sec, p50_ns, p99_ns, p999_ns,
    max_ns, min_ns, mean_ns, histogram, live_orders_peak, book_bytes, unknown_orders,
    packets, gaps) plus `bench`, `params`, `machine`, `git_rev`, `version`, `date` (UTC ISO
    8601) and `command` (from `argv`, default `sys.argv[1:]`).
    """
    for name, value, low in (
        ("messages", messages, 1),
        ("instruments", instruments, 1),
        ("max_live_orders", max_live_orders, 1),
        ("seed", seed, 0),
    ):
        if value < low:
            raise ConfigError(f"{name} must be at least {low}, not {value}")
    date = _utc_now()
    figures = _core.bench_feed(
        messages, instruments=instruments, max_live_orders=max_live_orders, seed=seed
    )
    params = {
        "messages": messages,
        "instruments": instruments,
        "max_live_orders": max_live_orders,
        "seed": seed,
    }
    return _record("feed", params, figures, date=date, argv=argv)


def run_venue(
    actions: int,
    *,
    instruments: int = 8,
    seed: int = 1,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Run the venue benchmark: `actions` synthetic order actions through matching, event
    routing and ITCH publishing, each one timed, inside the core.

    Returns the core's figures (count, elapsed_ns, per_sec, min_ns, mean_ns, p50_ns..
    p9999_ns, max_ns, histogram, executions, itch_messages, itch_per_sec) plus `bench`
    ("venue"), `params`, `machine`, `git_rev`, `version`, `date` and `command`.
    """
    for name, value, low, high in (
        ("actions", actions, 1, None),
        ("instruments", instruments, 1, 65_535),
        ("seed", seed, 0, 2**64 - 1),
    ):
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f">= {low}"
            raise ConfigError(f"{name}: {value} is not {allowed}")
    try:
        bench_venue = _core.bench_venue
    except AttributeError:
        raise ConfigError(
            "this build of quotewire._core has no bench_venue; rebuild it with `make build`"
        ) from None
    date = _utc_now()
    figures = bench_venue(actions, instruments=instruments, seed=seed)
    params = {"actions": actions, "instruments": instruments, "seed": seed}
    return _record("venue", params, figures, date=date, argv=argv)


def run_orders(
    actions: int,
    *,
    live_orders: int = 1_000_000,
    instruments: int = 1_000,
    seed: int = 1,
    working_set: int = 0,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Order actions (a third each new, replace, cancel) through pre-trade risk, the OMS and
    the OUCH encoder, on an OMS holding `live_orders` live orders; each request is then
    acknowledged as a venue would before the next.

    `per_sec` counts whole actions including their acknowledgement; the histogram times
    risk + OMS + encoding of each request. `bytes_per_order` is the OMS's memory (slab and
    indexes) over its capacity. Replaces and cancels pick among the `working_set` most
    recent live orders (a strategy's hot quotes over a deep resting book), or uniformly
    among all of them with 0 (the cold, cache-missing worst case).
    """
    for name, value, low, high in (
        ("actions", actions, 1, 2**40),
        ("live_orders", live_orders, 0, 1 << 26),
        ("instruments", instruments, 1, 65_535),
        ("seed", seed, 0, 2**64 - 1),
        ("working_set", working_set, 0, 1 << 26),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is not in {low}..{high}")
    date = _utc_now()
    figures = _core.bench_orders(
        actions,
        live_orders=live_orders,
        instruments=instruments,
        seed=seed,
        working_set=working_set,
    )
    params = {
        "actions": actions,
        "live_orders": live_orders,
        "instruments": instruments,
        "seed": seed,
        "working_set": working_set,
    }
    return _record("orders", params, figures, date=date, argv=argv)


def run_tick_to_trade_inproc(
    messages: int,
    *,
    instruments: int = 100,
    live_orders: int = 200_000,
    seed: int = 1,
    max_payload: int = 100,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Tick-to-trade inside one process: generated ITCH datagrams from memory through the
    sequencer, books, quoting model, risk, OMS and OUCH encoder into a buffer, with an
    in-memory venue acknowledging every request. `count` is the datagrams that caused at
    least one order; each sample is datagram handed in -> order bytes written. Datagrams
    are at most `max_payload` bytes (100: one or two messages, as a feed at normal rates;
    1400: a burst of about forty)."""
    for name, value, low, high in (
        ("messages", messages, 1, 2**40),
        ("instruments", instruments, 1, 65_535),
        ("live_orders", live_orders, 0, 1 << 26),
        ("seed", seed, 0, 2**64 - 1),
        ("max_payload", max_payload, 64, 1400),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is not in {low}..{high}")
    date = _utc_now()
    figures = _core.bench_tick_to_trade(
        messages,
        instruments=instruments,
        live_orders=live_orders,
        seed=seed,
        max_payload=max_payload,
    )
    params = {
        "mode": "inproc",
        "max_payload": max_payload,
        "messages": messages,
        "instruments": instruments,
        "live_orders": live_orders,
        "seed": seed,
    }
    record = _record("tick-to-trade", params, figures, date=date, argv=argv)
    record["mode"] = "inproc"
    return record


def run_tick_to_trade_loopback(
    seconds: float,
    *,
    flow_rate: float = 400.0,
    seed: int = 7,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Tick-to-trade over loopback sockets: the venue simulator publishes ITCH over UDP
    and the engine answers over its OUCH TCP session, for `seconds`. Each sample is a
    datagram's receive timestamp -> the order bytes written to the socket; the round trip
    (request sent -> the venue's answer read) is reported beside it."""
    from quotewire import demo

    if not 0.5 <= seconds <= 3_600:
        raise ConfigError(f"seconds: {seconds} is not in 0.5..3600")
    date = _utc_now()
    plan = demo.scenario(seed=seed, flow_rate=flow_rate)
    summary = demo.run(seconds, out=io.StringIO(), progress_every=0, setup=plan)
    lat = summary["latency"]
    t2t = lat["tick_to_trade"]
    rt = lat["round_trip"]
    counters = summary["counters"]
    elapsed_ns = int(seconds * 1e9)
    figures: dict[str, object] = {
        "count": t2t["count"],
        "elapsed_ns": elapsed_ns,
        "per_sec": counters["datagrams"] / seconds,
        "datagrams": counters["datagrams"],
        "messages": counters["messages"],
        "orders": counters["orders_new"] + counters["orders_replace"] + counters["orders_cancel"],
        "fills": counters["fills"],
        "round_trips": rt["count"],
        "round_trip_p50_ns": rt["p50_ns"],
        "round_trip_p99_ns": rt["p99_ns"],
        "round_trip_p999_ns": rt["p999_ns"],
        "risk_rejects": sum(summary["risk_rejects"].values()),
    }
    for key in (
        "min_ns",
        "mean_ns",
        "p50_ns",
        "p90_ns",
        "p99_ns",
        "p999_ns",
        "p9999_ns",
        "max_ns",
        "histogram",
    ):
        figures[key] = t2t[key]
    params = {"mode": "loopback", "seconds": seconds, "flow_rate": flow_rate, "seed": seed}
    record = _record("tick-to-trade", params, figures, date=date, argv=argv)
    record["mode"] = "loopback"
    return record


def backtest_config(data: str | os.PathLike[str]) -> Any:
    """An engine configuration quoting every instrument of `data`'s stock directory (one
    post-only bid and ask, "skew" model, one-cent ticks, limits wide enough that the model
    decides): the market maker of `quotewire bench backtest`."""
    from quotewire import itch
    from quotewire.backtesting import strategy_config

    directory = itch.read(data, types=["stock_directory"])["stock_directory"]
    instruments = [
        {
            "id": int(loc),
            "symbol": bytes(sym).decode("ascii", "replace").strip() or f"S{int(loc)}",
            "half_spread_ticks": 1,
            "size": 100,
            "quote_max_position": 1_000_000,
            "max_order_qty": 1_000_000,
            "max_order_notional": "100000000",
            "price_band_bps": 10_000,
            "max_position": 100_000_000,
        }
        for loc, sym in zip(directory["stock_locate"], directory["stock"], strict=True)
    ]
    if not instruments:
        raise ConfigError(f"{os.fspath(data)}: no stock directory message names an instrument")
    capacity = max(4_096, 16 * len(instruments))
    return strategy_config(
        {
            "instruments": instruments,
            "firm": {
                "max_gross_exposure": "1000000000000",
                "max_net_exposure": "1000000000000",
                "max_open_orders": 1_000_000,
                "orders_per_sec": 1_000_000_000,
                "burst": 1_000_000_000,
                "max_drawdown": "0",
            },
            "oms_capacity": capacity,
            "max_in_flight": capacity,
        }
    )


def run_backtest(
    data: str | os.PathLike[str] | None = None,
    *,
    messages: int = 1_000_000,
    instruments: int = 1,
    seed: int = 1,
    config: str | os.PathLike[str] | None = None,
    argv: Sequence[str] | None = None,
) -> dict[str, object]:
    """Backtest throughput: `data` (a capture or journal; default: a synthetic daily file
    of `messages` messages over `instruments` instruments) replayed through the market
    maker of `config` (default: `backtest_config`) against the simulated venue, with 10 us
    order and ack latency. `count` and `per_sec` are ITCH messages and messages per wall
    second of an untimed run; the percentiles are wall ns per datagram (venue + engine) of
    a second, timed run of the same data."""
    import tempfile

    from quotewire.backtesting import Latency, backtest, load_strategy

    for name, value in (("messages", messages), ("instruments", instruments)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, not {value}")
    date = _utc_now()
    with tempfile.TemporaryDirectory(prefix="quotewire-bench-bt-") as tmp:
        path = data
        if path is None:
            path = os.path.join(tmp, "session.itch")
            _core.generate_session(
                path, messages=messages, instruments=instruments, seed=seed, format="daily"
            )
        cfg = load_strategy(config) if config is not None else backtest_config(path)
        latency = Latency(order_us=10, ack_us=10)
        plain = backtest(path, cfg, latency=latency, seed=seed, stand_in=False, sample_every_s=0)
        timed = backtest(
            path,
            cfg,
            latency=latency,
            seed=seed,
            stand_in=False,
            sample_every_s=0,
            time_packets=True,
        )
    s = plain.summary
    per_packet = dict(timed.per_packet or {})
    figures: dict[str, object] = {
        "count": s["messages"],
        "per_sec": s["messages_per_sec"],
        "elapsed_ns": round(s["elapsed_s"] * 1e9),
        "datagrams": s["datagrams"],
        "orders": s["orders_new"] + s["orders_replace"] + s["orders_cancel"],
        "fills": s["fills"],
        "timed_per_sec": timed.summary["messages_per_sec"],
    }
    for k in (
        "p50_ns",
        "p90_ns",
        "p99_ns",
        "p999_ns",
        "p9999_ns",
        "max_ns",
        "min_ns",
        "mean_ns",
        "histogram",
    ):
        if k in per_packet:
            figures[k] = per_packet[k]
    params = {
        "data": os.fspath(data) if data is not None else None,
        "messages": messages if data is None else None,
        "instruments": instruments if data is None else None,
        "seed": seed,
        "config": os.fspath(config) if config is not None else None,
    }
    return _record("backtest", params, figures, date=date, argv=argv)


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return _utc_now()


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _record(
    name: str,
    params: Mapping[str, object],
    figures: Mapping[str, object],
    *,
    date: str,
    argv: Sequence[str] | None,
) -> dict[str, object]:
    version = _package_version()
    record: dict[str, object] = {"bench": name, "params": dict(params)}
    record.update(figures)
    record.update(
        {
            "machine": machine_info(),
            "git_rev": git_revision(fallback=f"v{version}"),
            "version": version,
            "date": date,
            "command": _command_line(argv),
        }
    )
    return record


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: such floats (e.g. per_sec of a 0 ns run) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    return value


def to_json_line(record: Mapping[str, object]) -> str:
    """The record as one line of strict JSON (no newline inside, no NaN)."""
    clean = _finite(record)
    return json.dumps(clean, separators=(",", ":"), allow_nan=False, default=str)


def _count_text(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _ns(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _machine_line(machine: object) -> str:
    if not isinstance(machine, Mapping):
        return str(machine)
    parts = [str(machine.get("cpu", "?"))]
    parts.append(f"{machine.get('cores', '?')} cores ({machine.get('usable_cores', '?')} usable)")
    parts.append(f"{machine.get('os', '?')} {machine.get('kernel', '?')} {machine.get('arch', '')}")
    parts.append(f"Python {machine.get('python', '?')}")
    if machine.get("governor"):
        parts.append(f"governor {machine['governor']}")
    if machine.get("isolated_cpus"):
        parts.append(f"isolated cpus {machine['isolated_cpus']}")
    return ", ".join(p.strip() for p in parts)


def format_text(record: Mapping[str, object]) -> str:
    """Human-readable multi-line summary of a benchmark record."""
    count = get_int(record, "count")
    elapsed_ns = get_int(record, "elapsed_ns")
    per_sec = get_float(record, "per_sec")
    lat = "  ".join(
        f"{label} {_ns(get_number(record, key))}" for label, key in _PERCENTILES if key in record
    )
    name = get_str(record, "bench")
    what, short = _UNITS.get(name, ("messages", "msgs"))
    lines = [
        f"bench {name}: {count:,} {what} in {elapsed_ns / 1e6:,.3f} ms",
        f"  throughput    {per_sec / 1e6:,.2f} M {short}/s ({per_sec:,.0f} {short}/s)",
    ]
    if "itch_per_sec" in record:
        itch_rate = get_float(record, "itch_per_sec")
        lines.append(f"  ITCH out      {itch_rate / 1e6:,.2f} M msgs/s ({itch_rate:,.0f} msgs/s)")
    if "matching_only_per_sec" in record:
        base = get_float(record, "matching_only_per_sec")
        lines.append(
            f"  baseline      matching engine alone {base / 1e6:,.2f} M actions/s "
            f"(same actions, same run)"
        )
    lines.append(f"  latency (ns)  {lat}")
    extras = _EXTRAS.get(name, _EXTRAS["feed"])
    shown = [
        f"{label} {_count_text(get_number(record, key))}" for label, key in extras if key in record
    ]
    if shown:
        lines.append(f"  {name:<13} " + ", ".join(shown))
    lines.append(f"  machine       {_machine_line(record.get('machine'))}")
    lines.append(
        f"  revision      {record.get('git_rev', '?')} (quotewire {record.get('version', '?')})"
        f", {record.get('date', '?')}"
    )
    return "\n".join(lines)


def _hdrh() -> Any:
    """The `hdrh.histogram` module of the optional `hdrhistogram` package."""
    try:
        return importlib.import_module("hdrh.histogram")
    except ImportError:
        raise ConfigError(
            "the hdrhistogram package is needed for HDR logs: pip install hdrhistogram"
        ) from None


def decode_histogram(encoded: str) -> Any:
    """Decode the core's V2-compressed base64 histogram into an `hdrh` `HdrHistogram`."""
    return _hdrh().HdrHistogram.decode(encoded)


def write_hdr_log(record: Mapping[str, object], path: str | os.PathLike[str]) -> Path:
    """Write the record's histogram as an HdrHistogram interval log (one interval).

    Readable by `hdrh.log.HistogramLogReader`, HdrHistogram's `HistogramLogProcessor` and
    the online plotters. Values are nanoseconds; the interval spans the run.
    """
    hist = decode_histogram(get_str(record, "histogram"))
    log_mod = importlib.import_module("hdrh.log")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    elapsed_s = get_int(record, "elapsed_ns") / 1e9
    buf = io.StringIO()
    writer = log_mod.HistogramLogWriter(buf)
    writer.output_log_format_version()
    writer.output_comment(f"[quotewire bench {record.get('bench')}: {record.get('command')}]")
    writer.output_comment(f"[machine: {_machine_line(record.get('machine'))}]")
    writer.output_comment(f"[revision {record.get('git_rev')}, date {record.get('date')}]")
    writer.output_comment("[values in nanoseconds]")
    # Written by hand: hdrh's own output_start_time() is broken in 0.10 (calls iso_format).
    start = datetime.now(UTC).timestamp()
    buf.write(f"#[StartTime: {start:.3f} (seconds since epoch)]\n")
    writer.output_legend()
    writer.output_interval_histogram(hist, start_time_stamp_sec=0.0, end_time_stamp_sec=elapsed_s)
    out.write_text(buf.getvalue(), encoding="utf-8")
    return out


def append_report(
    record: Mapping[str, object],
    path: str | os.PathLike[str] = DEFAULT_REPORT,
    *,
    hdr_log: str | os.PathLike[str] | None = None,
) -> Path:
    """Append a dated markdown entry for `record` to the performance log at `path`."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists() or out.stat().st_size == 0
    shown = [(label, key) for label, key in _PERCENTILES if key in record]
    row = [
        f"{get_int(record, 'count'):,}",
        f"{get_int(record, 'elapsed_ns') / 1e6:,.3f}",
        f"{get_float(record, 'per_sec') / 1e6:,.2f}",
        *(_ns(get_number(record, key)) for _, key in shown),
    ]
    lines = [
        "",
        f"## {record.get('date')}: bench {record.get('bench')} @ {record.get('git_rev')}",
        "",
        f"- command: `{record.get('command')}`",
        f"- machine: {_machine_line(record.get('machine'))}",
        f"- revision: {record.get('git_rev')} (quotewire {record.get('version')})",
    ]
    if hdr_log is not None:
        lines.append(f"- histogram log: `{os.fspath(hdr_log)}`")
    what, short = _UNITS.get(str(record.get("bench")), ("messages", "msgs"))
    lines += [
        "",
        f"| {what} | elapsed ms | M {short}/s | "
        + " | ".join(f"{label} ns" for label, _ in shown)
        + " |",
        "|" + "---:|" * len(row),
        "| " + " | ".join(row) + " |",
        "",
    ]
    with out.open("a", encoding="utf-8") as fh:
        if new:
            fh.write(_REPORT_HEADER)
        fh.write("\n".join(lines))
    return out


TRANSPORT_BACKENDS: Final = ("udp", "dpdk")
"""Backends `run_transport` measures; "both" runs them in this order."""


def run_transport(
    backend: str,
    count: int,
    *,
    warmup: int = 10_000,
    payload: int = 64,
    window: int = 1,
    argv: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """Time datagrams through the packet transports, one record per backend.

    `backend` is "udp" (a kernel UDP socket on 127.0.0.1 sending to itself), "dpdk" (a
    DPDK net_ring port whose TX ring is its RX ring: the DPDK software path, no wire) or
    "both" (udp then dpdk, in this run). Each of the `warmup` + `count` datagrams of
    `payload` bytes is timed from the start of its send to its receipt; `window` datagrams
    are in flight at once (1: ping-pong). Each record has the core's figures (count, lost,
    elapsed_ns, per_sec, latency percentiles, histogram, path) plus `bench` ("transport-udp"
    or "transport-dpdk"),
    `backend`, `params`, `machine`, `git_rev`, `version`, `date` and `command`.
    """
    if backend == "both":
        backends: tuple[str, ...] = TRANSPORT_BACKENDS
    elif backend in TRANSPORT_BACKENDS:
        backends = (backend,)
    else:
        raise ConfigError(f"backend {backend!r} is not one of udp, dpdk, both")
    for name, value, low, high in (
        ("count", count, 1, 2**40),
        ("warmup", warmup, 0, 2**40),
        ("payload", payload, 8, 1472),
        ("window", window, 1, 4096),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{name}: {value} is not in {low}..{high}")
    records = []
    for name in backends:
        date = _utc_now()
        figures = _core.bench_transport(name, count, warmup=warmup, payload=payload, window=window)
        params = {
            "backend": name,
            "count": count,
            "warmup": warmup,
            "payload": payload,
            "window": window,
        }
        records.append(_record(f"transport-{name}", params, figures, date=date, argv=argv))
    return records


SCALE_SYMBOLS: Final = ("AAPL", "MSFT", "SPY")
"""The demo's instruments, dealt out to the instances of `run_scale`."""


def _shards(n: int) -> list[list[str]]:
    """`SCALE_SYMBOLS` dealt into `n` contiguous shards (1: all; 3: one each)."""
    size, extra = divmod(len(SCALE_SYMBOLS), n)
    out, at = [], 0
    for i in range(n):
        take = size + (i < extra)
        out.append(list(SCALE_SYMBOLS[at : at + take]))
        at += take
    return out


def run_scale(
    instances: Sequence[int],
    *,
    seconds: float = 5.0,
    flow_rate: float = 400.0,
    seed: int = 7,
    idle_sleep_us: int = 0,
    argv: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """Horizontal scaling, measured: for each N of `instances` (1..3), the demo's venue and
    market with N engine instances sharing its three instruments (N=1: one instance quotes
    all three; N=3: one each), all on the firm bus (a fresh `nats-server -js`, the budget
    allocator and each instance's side thread, as in production), for `seconds`.

    One record per N: `count` and `per_sec` are the orders (new, replace, cancel) of all
    instances and their rate; `md_messages_per_sec` the ITCH messages every instance
    decoded, summed (each instance reads the whole feed); `p50_ns`..`max_ns` the worst
    instance's tick-to-trade percentiles; `per_instance` each one's symbols, orders/s,
    messages/s, fills and tick-to-trade and round-trip percentiles; plus `bus`, the bus
    counters summed, and `rearmed_after_feed_gap` (kill switches fired by a start-up feed
    gap recovery that timed out, re-armed once after a warm-up second). The engines
    busy-poll unless `idle_sleep_us` > 0: on a machine with
    fewer free cores than instances + 1 (the venue), they share cores."""
    import time

    from quotewire import scale
    from quotewire.engine import Engine, EngineThreads, FirmLimits
    from quotewire.venue import Venue

    counts = list(instances)
    if not counts or any(not 1 <= n <= len(SCALE_SYMBOLS) for n in counts):
        raise ConfigError(f"instances: {counts} are not each in 1..{len(SCALE_SYMBOLS)}")
    if not 0.5 <= seconds <= 3_600:
        raise ConfigError(f"seconds: {seconds} is not in 0.5..3600")
    if not 0 <= idle_sleep_us <= 100_000:
        raise ConfigError(f"idle_sleep_us: {idle_sleep_us} is not in 0..100000")
    records: list[dict[str, object]] = []
    for n in counts:
        date = _utc_now()
        shards = _shards(n)
        names = [f"mm{i + 1}" for i in range(n)]
        threads = EngineThreads(log_level="error", idle_sleep_us=idle_sleep_us)
        venue_config, engine_config = scale.sharded_scenario(
            shards, seed=seed, flow_rate=flow_rate, threads=threads
        )
        firm = FirmLimits(
            max_gross_exposure="5000000",
            max_net_exposure="2000000",
            max_open_orders=300,
            orders_per_sec=2_000,
            burst=200,
            max_drawdown="50000",
        )
        summaries: list[dict[str, Any]] = []
        bus_totals: dict[str, int] = {}
        rearmed = 0
        with scale.NatsServer() as nats, Venue(venue_config) as venue:
            config = scale.ScaleConfig(url=nats.url, instances=names, firm=firm)
            allocator = scale.Allocator(config).start()
            engines: list[Engine] = []
            members: list[scale.Instance] = []
            try:
                for i, name in enumerate(names):
                    cfg = scale.shard_config(engine_config(venue, i), shards[i], config, name)
                    engines.append(Engine(cfg).start())
                    members.append(scale.Instance(engines[-1], config, name).start())
                started = time.monotonic()
                # An instance joins the feed mid-session and recovers the gap from the
                # retransmission server; on a loaded machine that can time out and fire
                # its kill switch ("feed_gap"): re-arm it once after a warm-up second.
                time.sleep(min(1.0, seconds / 2))
                for engine in engines:
                    if engine.snapshot().get("killed") == "feed_gap" and engine.rearm():
                        rearmed += 1
                time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            finally:
                for engine, member in zip(engines, members, strict=False):
                    summary = engine.stop()
                    summaries.append(summary)
                    for k, v in member.close(summary).items():
                        if isinstance(v, int) and not isinstance(v, bool):
                            bus_totals[k] = bus_totals.get(k, 0) + v
                for engine in engines[len(members) :]:
                    engine.stop()
                allocator.stop()
        per_instance = []
        orders_total = 0
        messages_total = 0
        for name, shard, s in zip(names, shards, summaries, strict=True):
            c = s["counters"]
            orders = c["orders_new"] + c["orders_replace"] + c["orders_cancel"]
            orders_total += orders
            messages_total += c["messages"]
            t2t = s["latency"]["tick_to_trade"]
            rt = s["latency"]["round_trip"]
            per_instance.append(
                {
                    "instance": name,
                    "symbols": shard,
                    "orders": orders,
                    "orders_per_sec": orders / seconds,
                    "messages": c["messages"],
                    "md_messages_per_sec": c["messages"] / seconds,
                    "fills": c["fills"],
                    "feed_gaps": c["feed_gaps"],
                    "killed": s.get("killed"),
                    "risk_rejects": sum(s["risk_rejects"].values()),
                    "tick_to_trade": {
                        k: t2t[k] for k in ("count", "p50_ns", "p99_ns", "p999_ns", "max_ns")
                    },
                    "round_trip": {k: rt[k] for k in ("count", "p50_ns", "p99_ns", "p999_ns")},
                }
            )
        worst = {
            key: max(int(p["tick_to_trade"][key]) for p in per_instance)
            for key in ("p50_ns", "p99_ns", "p999_ns", "max_ns")
        }
        figures: dict[str, object] = {
            "count": orders_total,
            "elapsed_ns": int(seconds * 1e9),
            "per_sec": orders_total / seconds,
            "orders_per_sec": orders_total / seconds,
            "md_messages_per_sec": messages_total / seconds,
            "fills": sum(int(p["fills"]) for p in per_instance),
            **worst,
            "per_instance": per_instance,
            "bus": bus_totals,
            "rearmed_after_feed_gap": rearmed,
        }
        params = {
            "instances": n,
            "seconds": seconds,
            "flow_rate": flow_rate,
            "seed": seed,
            "idle_sleep_us": idle_sleep_us,
        }
        records.append(_record("scale", params, figures, date=date, argv=argv))
    return records
