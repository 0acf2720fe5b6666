"""The `quotewire` command line.

    quotewire bench feed --messages N [--instruments N] [--max-live-orders N] [--seed N]
                         [--json] [--hdr-out FILE] [--report [FILE]]
    quotewire bench venue [--actions N] [--instruments N] [--seed N]
                          [--json] [--hdr-out FILE] [--report [FILE]]
    quotewire venue --config FILE [--stats-every SECONDS] [--json]
    quotewire itch summary FILE [--json]
    quotewire journal inspect PATH [--json]
    quotewire itch book FILE --symbol SYM [--at HH:MM:SS.nnnnnnnnn] [--depth N] [--json]
    quotewire itch generate --out FILE [--format daily|pcap] [--messages N]
                            [--instruments N] [--max-live-orders N] [--seed N] [--json]
    quotewire bench tick-to-trade [--mode inproc|loopback] [--messages N] [--seconds S]
                                  [--json] [--hdr-out FILE] [--report [FILE]]
    quotewire bench orders [--actions N] [--live-orders N] [--instruments N] [--seed N]
                           [--json] [--hdr-out FILE] [--report [FILE]]
    quotewire run CONFIG.toml [--seconds S] [--stats-every SECONDS] [--json]
    quotewire demo [--seconds S] [--json]
    quotewire export JOURNAL --to DIR [--depth N] [--l2-symbols SYM,...] [--itch-tz TZ]
                     [--config ENGINE.toml | --symbols ID=SYM,...] [--json]
    quotewire import csv|parquet|dbn FILE --out CAPTURE.itch [--tick 0.01]
                     [--symbol-map SRC=SYM,...] [--json]
    quotewire status [--addr HOST:PORT] [--json]

Errors print one line on stderr and exit non-zero (2 for bad usage, 1 otherwise); set
QUOTEWIRE_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Final, NoReturn

from quotewire import _core, bench, itch
from quotewire.errors import QuotewireError
from quotewire.venue import Endpoints, Venue, VenueConfig

__all__ = ["format_book", "format_summary", "main"]

Handler = Callable[[argparse.Namespace], int]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE


class _UsageError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and do not exit the process."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("quotewire").strip()
        prefix = f"{where}: " if where else ""
        raise _UsageError(f"{prefix}{message} (see {self.prog} --help)")


# --------------------------------------------------------------------------- arg types


def _count(text: str) -> int:
    """A positive integer; accepts `1_000_000`, `200k` and `1M`."""
    t = text.strip().lower().replace(",", "_")
    mult = 1
    if t.endswith(("k", "m")):
        mult = 1_000 if t.endswith("k") else 1_000_000
        t = t[:-1]
    try:
        value = int(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text!r}")
    return value


def _time(text: str) -> int:
    try:
        return itch.parse_hms(text)
    except QuotewireError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# --------------------------------------------------------------------------- formatting


def _table(rows: Sequence[Sequence[str]], right: Sequence[bool], sep: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(right))]
    return [
        sep.join(
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in rows
    ]


def format_book(book: itch.Book) -> str:
    """The book as an aligned table: bid count, qty, price | ask price, qty, count."""
    when = "start" if book.timestamp_ns is None else itch.format_hms(book.timestamp_ns)
    head = (
        f"{book.symbol} (locate {book.locate}) at {when}, "
        f"{book.messages_applied:,} messages applied"
    )
    if book.is_empty:
        return f"{head}\n  (empty book)"
    rows: list[list[str]] = [["count", "qty", "bid", "|", "ask", "qty", "count"]]
    for i in range(max(len(book.bids), len(book.asks))):
        row = ["", "", "", "|", "", "", ""]
        if i < len(book.bids):
            b = book.bids[i]
            row[0:3] = [f"{b.count:,}", f"{b.qty:,}", itch.format_price(b.price_raw)]
        if i < len(book.asks):
            a = book.asks[i]
            row[4:7] = [itch.format_price(a.price_raw), f"{a.qty:,}", f"{a.count:,}"]
        rows.append(row)
    right = [True, True, True, False, True, True, True]
    return "\n".join([head, *("  " + line for line in _table(rows, right))])


def format_summary(s: itch.Summary) -> str:
    """A session summary: size, span, per-type counts and errors."""
    span = "-"
    if s.first_ns is not None and s.last_ns is not None:
        span = f"{itch.format_hms(s.first_ns)} .. {itch.format_hms(s.last_ns)}"
    lines = [
        f"{s.path}: {s.format}, {s.nbytes:,} bytes, {s.messages:,} messages, "
        f"{s.instruments:,} instruments",
        f"  time    {span}",
    ]
    rows = [
        [tag, itch.NAMES.get(tag, "?"), f"{n:,}", f"{100 * n / max(s.messages, 1):.1f}%"]
        for tag, n in sorted(s.by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if rows:
        lines.append("  by type")
        lines += ["    " + line for line in _table(rows, [False, False, True, True])]
    errors = ", ".join(f"{k} {v:,}" for k, v in sorted(s.errors.items())) or "none"
    lines.append(f"  errors  {errors}")
    return "\n".join(lines)


def _print_json(obj: object, *, flush: bool = False) -> None:
    print(json.dumps(obj, separators=(",", ":"), default=str), flush=flush)


# --------------------------------------------------------------------------- commands


def _cmd_bench_feed(args: argparse.Namespace, argv: Sequence[str]) -> int:
    record = bench.run_feed(
        args.messages,
        instruments=args.instruments,
        max_live_orders=args.max_live_orders,
        seed=args.seed,
        argv=argv,
    )
    return _emit_bench(record, args)


def _cmd_bench_venue(args: argparse.Namespace, argv: Sequence[str]) -> int:
    record = bench.run_venue(args.actions, instruments=args.instruments, seed=args.seed, argv=argv)
    return _emit_bench(record, args)


def _emit_bench(record: dict[str, object], args: argparse.Namespace) -> int:
    """Write the histogram log and report entry asked for, then print the record."""
    if args.hdr_out is not None:
        bench.write_hdr_log(record, args.hdr_out)
    if args.report is not None:
        bench.append_report(record, args.report, hdr_log=args.hdr_out)
    if args.json:
        print(bench.to_json_line(record))
    else:
        print(bench.format_text(record))
        if args.hdr_out is not None:
            print(f"  histogram log {args.hdr_out}")
        if args.report is not None:
            print(f"  report        appended to {args.report}")
    return 0


def _cmd_itch_summary(args: argparse.Namespace) -> int:
    s = itch.summary(args.file)
    if args.json:
        _print_json(s.to_dict())
    else:
        print(format_summary(s))
    return 0


def _cmd_journal_inspect(args: argparse.Namespace) -> int:
    from quotewire import journal

    s = journal.inspect(args.path)
    if args.json:
        _print_json(s)
    else:
        print(journal.format_inspect(args.path, s))
    return 0


def _cmd_itch_book(args: argparse.Namespace) -> int:
    b = itch.book(args.file, args.symbol, at=args.at, depth=args.depth)
    if args.json:
        _print_json(b.to_dict())
    else:
        print(format_book(b))
    return 0


def _generate(
    out: str, *, fmt: str, messages: int, instruments: int, max_live_orders: int, seed: int
) -> dict[str, int]:
    parent = Path(out).parent
    if not parent.is_dir():
        raise FileNotFoundError(f"no such directory: {parent}")
    return _core.generate_session(
        out,
        messages=messages,
        instruments=instruments,
        max_live_orders=max_live_orders,
        seed=seed,
        format=fmt,
    )


def _cmd_itch_generate(args: argparse.Namespace) -> int:
    fmt = args.format or ("pcap" if args.out.lower().endswith((".pcap", ".cap")) else "daily")
    result = _generate(
        args.out,
        fmt=fmt,
        messages=args.messages,
        instruments=args.instruments,
        max_live_orders=args.max_live_orders,
        seed=args.seed,
    )
    if args.json:
        _print_json({"path": args.out, "format": fmt, **result})
    else:
        print(
            f"wrote {args.out} ({fmt}): {result.get('messages', 0):,} messages, "
            f"{result.get('bytes', 0):,} bytes, {result.get('packets', 0):,} packets"
        )
    return 0


_VENUE_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_VENUE_POLL_S: Final = 0.1


def _format_endpoints(e: Endpoints) -> str:
    d = e.to_dict()
    parts = [f"OUCH {d['ouch']}" if d["ouch"] else "OUCH off"]
    parts.append(f"FIX {d['fix']}" if d["fix"] else "FIX off")
    if d["itch"]:
        parts.append(f"ITCH -> {d['itch']} (retransmit {d['itch_retransmit']})")
    else:
        parts.append("ITCH off")
    return ", ".join(parts)


def _format_stats(stats: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in stats.items()) or "no counters"


def _cmd_venue(args: argparse.Namespace) -> int:
    config = VenueConfig.load(args.config)
    stop = threading.Event()
    caught: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)
        stop.set()

    # Handlers go in before the venue starts, so a signal can never leave it running.
    previous = {sig: signal.signal(sig, on_signal) for sig in _VENUE_SIGNALS}
    try:
        with Venue(config) as venue:
            started = time.monotonic()
            symbols = [i.symbol for i in config.instruments]
            if args.json:
                line = {"event": "started", "config": args.config, "symbols": symbols}
                _print_json({**line, "endpoints": venue.endpoints.to_dict()}, flush=True)
            else:
                print(
                    f"venue running with {len(symbols)} instruments ({', '.join(symbols)}): "
                    f"{_format_endpoints(venue.endpoints)}; stop with Ctrl-C or SIGTERM",
                    flush=True,
                )
            _wait_for_stop(venue, stop, started, every=args.stats_every, as_json=args.json)
            venue.stop()
            final = venue.stats()
            uptime = round(time.monotonic() - started, 3)
        name = signal.Signals(caught[0]).name if caught else None
        if args.json:
            line = {"event": "stopped", "signal": name, "uptime_s": uptime, "stats": final}
            _print_json(line, flush=True)
        else:
            print(f"venue stopped ({name}) after {uptime:,.1f} s: {_format_stats(final)}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _wait_for_stop(
    venue: Venue, stop: threading.Event, started: float, *, every: float | None, as_json: bool
) -> None:
    """Sleep in short slices until `stop` is set, printing the counters every `every` s.

    The signal handler runs on this thread, so this never blocks inside `stop.wait()`:
    `Event.set()` from a handler that interrupted `Event.wait()` on the same thread can
    deadlock on the event's lock. `is_set()` takes no lock.
    """
    next_at = started + every if every else math.inf
    while not stop.is_set():
        time.sleep(max(0.0, min(_VENUE_POLL_S, next_at - time.monotonic())))
        now = time.monotonic()
        if now >= next_at and not stop.is_set():
            uptime = round(now - started, 3)
            if as_json:
                _print_json(
                    {"event": "stats", "uptime_s": uptime, "stats": venue.stats()}, flush=True
                )
            else:
                print(f"[{uptime:,.1f} s] {_format_stats(venue.stats())}", flush=True)
            next_at += every or math.inf


def _cmd_demo(args: argparse.Namespace) -> int:
    from quotewire import demo

    print(
        f"== quotewire demo: venue simulator on loopback, engine trading for {args.seconds:g} s",
        flush=True,
    )
    summary = demo.run(args.seconds, progress_every=0 if args.json else 5.0)
    if args.json:
        _print_json(summary)
    else:
        print(demo.format_summary(summary))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from quotewire import export  # pyarrow loads only for this command
    from quotewire.engine import EngineConfig

    l2 = None if args.l2_symbols is None else [s for s in args.l2_symbols.split(",") if s]
    names: dict[int, str] | None = None
    if args.config is not None:
        names = {i.id: i.symbol for i in EngineConfig.load(args.config).instruments}
    elif args.symbols is not None:
        names = {}
        for item in filter(None, args.symbols.split(",")):
            ident, sep, symbol = item.partition("=")
            if not sep or not ident.strip().isdigit() or not symbol.strip():
                raise _UsageError(f"export: --symbols: {item!r} is not ID=SYMBOL")
            names[int(ident)] = symbol.strip()
    s = export.export(
        args.journal, args.to, depth=args.depth, l2_symbols=l2, symbols=names, itch_tz=args.itch_tz
    )
    if args.json:
        _print_json(s.to_dict())
        return 0
    print(f"== {s.journal} -> {s.out_dir}")
    rows = [["table", "rows", "bytes"]] + [
        [name, f"{s.rows[name]:,}", f"{s.bytes[name]:,}"] for name in s.rows
    ]
    rows.append(["total", "", f"{s.total_bytes:,}"])
    print("\n".join("  " + line for line in _table(rows, [False, True, True])))
    per_million = s.bytes_per_million_messages
    print(
        f"  {s.market_data_messages:,} market-data messages from {s.packets:,} packets"
        + ("" if per_million is None else f", {per_million:,.0f} bytes per million")
    )
    print(f"  dates {', '.join(s.dates) or 'none'}; {len(s.symbols)} symbols; {s.files} files")
    for rec in s.skipped_records:
        print(
            f"  skipped corrupt record: {rec.get('segment')} @ {rec.get('offset')}: "
            f"{rec.get('reason')}"
        )
    if s.torn_tail is not None:
        print(f"  ignored torn tail: {s.torn_tail.get('segment')} @ {s.torn_tail.get('offset')}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from quotewire import imports

    renames: dict[str, str] = {}
    for item in filter(None, (args.symbol_map or "").split(",")):
        src, sep, sym = item.partition("=")
        if not sep or not src.strip() or not sym.strip():
            raise _UsageError(f"import: --symbol-map: {item!r} is not SOURCE=SYMBOL")
        renames[src.strip()] = sym.strip()
    reader = {"csv": imports.from_csv, "parquet": imports.from_parquet, "dbn": imports.from_dbn}
    s = reader[args.kind](args.file, args.out, tick=args.tick, symbols=renames)
    if args.json:
        _print_json(s.to_dict())
        return 0
    span = "-"
    if s.first_ns is not None and s.last_ns is not None:
        span = f"{itch.format_hms(s.first_ns)} .. {itch.format_hms(s.last_ns)}"
    print(f"{s.source} -> {s.out}: {s.rows:,} rows, {s.messages:,} ITCH messages")
    print(f"  session {s.session_date or '-'} {span}; {s.open_orders:,} orders left open")
    names = ", ".join(f"{sym}={loc}" for sym, loc in s.instruments.items())
    print(f"  instruments {names or 'none'}")
    if s.skipped:
        print("  skipped     " + ", ".join(f"{k} {v:,}" for k, v in sorted(s.skipped.items())))
    print(f"  rejected    {len(s.rejected):,}")
    for r in s.rejected:
        print(f"    line {r.line}: {r.reason}")
    return 0


def _stop_on_signals() -> threading.Event:
    """An event that SIGINT and SIGTERM set (handlers installed for the process)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop


def _cmd_run(args: argparse.Namespace) -> int:
    from quotewire import demo
    from quotewire.engine import Engine, EngineConfig

    config = EngineConfig.load(args.config)
    stop = _stop_on_signals()
    engine = Engine(config).start()
    entry = (
        f"FIX {config.fix.addr}"
        if config.fix is not None
        else f"OUCH {config.ouch.addr if config.ouch is not None else '?'}"
    )
    print(
        f"== engine running: {len(config.instruments)} instruments, {entry}, "
        f"ITCH at {config.feed.bind}",
        flush=True,
    )
    started = time.monotonic()
    next_stats = started + (args.stats_every or math.inf)
    try:
        while not stop.is_set():
            if args.seconds is not None and time.monotonic() - started >= args.seconds:
                break
            if not engine.running:
                print("quotewire: the engine thread ended", file=sys.stderr)
                break
            stop.wait(0.2)
            if time.monotonic() >= next_stats:
                next_stats += args.stats_every
                snap = engine.snapshot()
                if args.json:
                    _print_json(snap, flush=True)
                else:
                    print(demo._progress_line(time.monotonic() - started, snap), flush=True)
    finally:
        summary = engine.stop()
    summary["seconds"] = round(time.monotonic() - started, 3)
    if args.json:
        _print_json(summary)
    else:
        print(demo.format_summary(summary))
    return 0


def _cmd_standby(args: argparse.Namespace) -> int:
    from quotewire import standby
    from quotewire.engine import EngineConfig

    config = EngineConfig.load(args.config)
    stop = _stop_on_signals()
    guard = min(0.1, args.ttl / 4)
    sb = standby.StandbyConfig(args.bus, args.group, ttl_s=args.ttl, guard_s=guard)
    return standby.run(config, sb, stop)


def _cmd_kill(args: argparse.Namespace) -> int:
    from quotewire import scale

    revision = scale.kill_firm(args.bus, clear=args.clear, reason=args.reason)
    state = "cleared" if args.clear else "engaged"
    print(f"firm-wide kill {state} on {args.bus} (revision {revision})")
    return 0


def _instance_counts(text: str) -> list[int]:
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= 3 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of 1..3")
    return counts


def _cmd_status(args: argparse.Namespace) -> int:
    from quotewire import metrics

    try:
        metrics.split_addr(args.addr)
    except QuotewireError as e:
        raise _UsageError(f"status: --addr: {e}") from None
    s = metrics.status(args.addr, timeout=args.timeout)
    if args.json:
        _print_json(s.to_dict())
    else:
        print(metrics.format_status(s))
    return s.exit_code


def _cmd_bench_orders(args: argparse.Namespace, argv: Sequence[str]) -> int:
    record = bench.run_orders(
        args.actions,
        live_orders=args.live_orders,
        instruments=args.instruments,
        seed=args.seed,
        working_set=args.working_set,
        argv=argv,
    )
    return _emit_bench(record, args)


def _cmd_bench_t2t(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.mode == "inproc":
        record = bench.run_tick_to_trade_inproc(
            args.messages,
            instruments=args.instruments,
            live_orders=args.live_orders,
            seed=args.seed,
            max_payload=args.max_payload,
            argv=argv,
        )
    else:
        record = bench.run_tick_to_trade_loopback(args.seconds, seed=args.seed, argv=argv)
    return _emit_bench(record, args)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from quotewire import doctor

    cores = None
    if args.isolated is not None:
        try:
            cores = doctor.parse_cpus(args.isolated)
        except ValueError:
            cores = set()
        if not cores:
            raise _UsageError(f"doctor: --isolated {args.isolated!r} names no CPU")
    report = doctor.diagnose(
        args.root, cores=cores, config=args.config, nics=args.nic, hugepages_1g=args.hugepages_1g
    )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(doctor.format_report(report))
    return report.exit_code


# --------------------------------------------------------------------------- parser


def _cmd_bench_backtest(args: argparse.Namespace, argv: Sequence[str]) -> int:
    record = bench.run_backtest(
        args.data,
        messages=args.messages,
        instruments=args.instruments,
        seed=args.seed,
        config=args.config,
        argv=argv,
    )
    return _emit_bench(record, args)


def _cmd_backtest(args: argparse.Namespace) -> int:
    from quotewire import backtesting

    if args.latency_log is not None:
        latency = backtesting.Latency.from_hdr_log(args.latency_log, md_us=args.md_us)
    elif args.order_us is None and args.ack_us is None:
        latency = None  # a journal's own round trips, else 10 us each way
    else:
        latency = backtesting.Latency(
            order_us=10.0 if args.order_us is None else args.order_us,
            ack_us=10.0 if args.ack_us is None else args.ack_us,
            md_us=args.md_us,
        )
    if latency is None and args.md_us:
        path, is_journal = backtesting.resolve_data(args.data)
        latency = (
            backtesting.Latency.of_journal(path, md_us=args.md_us)
            if is_journal
            else backtesting.Latency(md_us=args.md_us)
        )
    result = backtesting.backtest(
        args.data,
        args.config,
        latency=latency,
        seed=args.seed,
        sample_every_s=args.sample_every,
        stand_in=False if args.no_stand_in else None,
    )
    if args.out is not None:
        result.write(args.out, report=not args.no_report)
    if args.json:
        _print_json(result.summary)
    else:
        print(backtesting.format_summary(result.summary))
        if args.out is not None:
            print(
                f"results      {args.out}/ (orders, fills, pnl .parquet, summary.json"
                f"{'' if args.no_report else ', report.html, report.png'})"
            )
    return 0


def _add_bench_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON line instead")
    p.add_argument(
        "--hdr-out", metavar="FILE", help="write the latency histogram as an HdrHistogram log"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        nargs="?",
        const=str(bench.DEFAULT_REPORT),
        help=f"append a dated entry to a markdown log (default: {bench.DEFAULT_REPORT})",
    )


def _build_parser(argv: Sequence[str]) -> _Parser:
    parser = _Parser(
        prog="quotewire",
        description="quotewire: a low-latency market-making engine (Rust core, Python control).",
    )
    parser.add_argument("--version", action="version", version=f"quotewire {_core.version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # bench
    p_bench = sub.add_parser("bench", help="run end-to-end benchmarks", description=bench.__doc__)
    bench_sub = p_bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    p_feed = bench_sub.add_parser(
        "feed",
        help="ITCH feed -> order book throughput and per-message latency",
        description="Decode a synthetic ITCH session into order books inside the core and "
        "report messages/s and per-message latency percentiles (ns).",
    )
    p_feed.add_argument("--messages", type=_count, required=True, help="messages to replay")
    p_feed.add_argument("--instruments", type=_count, default=8000, help="default: 8000")
    p_feed.add_argument(
        "--max-live-orders", type=_count, default=1_500_000, help="default: 1500000"
    )
    p_feed.add_argument("--seed", type=_seed, default=1, help="generator seed, default: 1")
    _add_bench_outputs(p_feed)
    p_feed.set_defaults(func=lambda a: _cmd_bench_feed(a, argv))

    p_bv = bench_sub.add_parser(
        "venue",
        help="venue simulator: matching, event routing and ITCH publishing per order action",
        description="Drive synthetic order actions (adds, cancels, replaces, crossing orders) "
        "through the venue simulator's matching engine, event routing and ITCH publisher "
        "inside the core, and report actions/s, ITCH messages/s and per-action latency "
        "percentiles (ns).",
    )
    p_bv.add_argument("--actions", type=_count, default=1_000_000, help="default: 1000000")
    p_bv.add_argument("--instruments", type=_count, default=8, help="default: 8")
    p_bv.add_argument("--seed", type=_seed, default=1, help="generator seed, default: 1")
    _add_bench_outputs(p_bv)
    p_bv.set_defaults(func=lambda a: _cmd_bench_venue(a, argv))

    p_t2t = bench_sub.add_parser(
        "tick-to-trade",
        help="market data in -> order bytes out, in process or over loopback sockets",
        description="inproc: replay generated ITCH datagrams from memory through the whole "
        "fast path (sequencer, books, quoting, risk, OMS, OUCH encoding) against an "
        "in-memory venue. loopback: run the venue simulator and the engine over real "
        "UDP/TCP sockets for --seconds. Reports tick-to-trade percentiles (ns).",
    )
    p_t2t.add_argument("--mode", choices=("inproc", "loopback"), default="inproc")
    p_t2t.add_argument(
        "--messages", type=_count, default=1_000_000, help="inproc, default: 1000000"
    )
    p_t2t.add_argument("--instruments", type=_count, default=100, help="inproc, default: 100")
    p_t2t.add_argument(
        "--live-orders", type=_count, default=200_000, help="inproc, default: 200000"
    )
    p_t2t.add_argument(
        "--max-payload",
        type=int,
        default=100,
        help="inproc: largest datagram in bytes, 64..1400 (default 100: 1-2 messages)",
    )
    p_t2t.add_argument("--seconds", type=_seconds, default=10.0, help="loopback, default: 10")
    p_t2t.add_argument("--seed", type=_seed, default=1, help="seed, default: 1")
    _add_bench_outputs(p_t2t)
    p_t2t.set_defaults(func=lambda a: _cmd_bench_t2t(a, argv))

    p_ord = bench_sub.add_parser(
        "orders",
        help="place/replace/cancel through risk + OMS + OUCH encoder on a full slab",
        description="Order actions (a third each new, replace, cancel) through pre-trade "
        "risk, the OMS and the OUCH encoder on an OMS holding --live-orders live orders; "
        "reports actions/s, per-action latency (ns) and the OMS's bytes per order.",
    )
    p_ord.add_argument("--actions", type=_count, default=3_000_000, help="default: 3000000")
    p_ord.add_argument("--live-orders", type=_count, default=1_000_000, help="default: 1000000")
    p_ord.add_argument("--instruments", type=_count, default=1_000, help="default: 1000")
    p_ord.add_argument("--seed", type=_seed, default=1, help="seed, default: 1")
    p_ord.add_argument(
        "--working-set",
        type=int,
        default=0,
        help="replaces and cancels pick among the N most recent live orders; "
        "0 (default): uniformly among all of them",
    )
    _add_bench_outputs(p_ord)
    p_ord.set_defaults(func=lambda a: _cmd_bench_orders(a, argv))

    p_bbt = bench_sub.add_parser(
        "backtest",
        help="backtest throughput: ITCH replayed through strategy, risk, OMS and the "
        "simulated venue",
        description=bench.run_backtest.__doc__,
    )
    p_bbt.add_argument("--data", help="capture or journal (default: a synthetic session)")
    p_bbt.add_argument("--messages", type=_count, default=1_000_000, help="default: 1000000")
    p_bbt.add_argument("--instruments", type=_count, default=1, help="default: 1")
    p_bbt.add_argument("--config", help="engine TOML (default: quote every instrument)")
    p_bbt.add_argument("--seed", type=_seed, default=1, help="seed, default: 1")
    _add_bench_outputs(p_bbt)
    p_bbt.set_defaults(func=lambda a: _cmd_bench_backtest(a, argv))

    p_btr = bench_sub.add_parser(
        "transport",
        help="datagrams/s and per-datagram latency through the UDP and DPDK transports",
        description=bench.run_transport.__doc__,
    )
    p_btr.add_argument("--backend", choices=("udp", "dpdk", "both"), default="udp")
    p_btr.add_argument("--count", type=_count, default=100_000, help="default: 100000")
    p_btr.add_argument("--warmup", type=int, default=10_000, help="untimed, default: 10000")
    p_btr.add_argument("--payload", type=_count, default=64, help="bytes, 8..1472, default: 64")
    p_btr.add_argument("--window", type=_count, default=1, help="in flight, default: 1")
    p_btr.add_argument("--json", action="store_true", help="print one JSON line per backend")
    p_btr.set_defaults(
        hdr_out=None,
        report=None,
        func=lambda a: max(
            _emit_bench(record, a)
            for record in bench.run_transport(
                a.backend, a.count, warmup=a.warmup, payload=a.payload, window=a.window, argv=argv
            )
        ),
    )

    p_bsc = bench_sub.add_parser(
        "scale",
        help="orders/s and market-data messages/s for 1, 2 and 3 instances on the firm bus",
        description=bench.run_scale.__doc__,
    )
    p_bsc.add_argument(
        "--instances",
        type=_instance_counts,
        default=[1, 2, 3],
        help="instance counts, comma-separated, each 1..3 (default: 1,2,3)",
    )
    p_bsc.add_argument("--seconds", type=_seconds, default=5.0, help="per count, default: 5")
    p_bsc.add_argument("--flow-rate", type=float, default=400.0, help="default: 400")
    p_bsc.add_argument("--idle-sleep-us", type=int, default=0, help="default: 0 (busy poll)")
    p_bsc.add_argument("--seed", type=_seed, default=7, help="default: 7")
    p_bsc.add_argument("--json", action="store_true", help="print one JSON line per count")
    p_bsc.set_defaults(
        hdr_out=None,
        report=None,
        func=lambda a: max(
            _emit_bench(record, a)
            for record in bench.run_scale(
                a.instances,
                seconds=a.seconds,
                flow_rate=a.flow_rate,
                seed=a.seed,
                idle_sleep_us=a.idle_sleep_us,
                argv=argv,
            )
        ),
    )

    p_bt = sub.add_parser(
        "backtest",
        help="replay history through a strategy against the simulated venue",
        description="Replay a journal, a capture (pcap or daily ITCH) or an exported "
        "history directory through the strategies, risk and OMS of --config, exactly the "
        "live code, against a simulated venue with exact L3 queue positions and a latency "
        "model. Prints a summary; --out writes Parquet results and an HTML/PNG report.",
    )
    p_bt.add_argument("--data", required=True, help="journal dir, capture file or export dir")
    p_bt.add_argument("--config", required=True, help="engine configuration (TOML)")
    p_bt.add_argument("--out", help="directory for orders/fills/pnl Parquet and the report")
    p_bt.add_argument("--order-us", type=float, help="engine -> venue delay (default 10)")
    p_bt.add_argument("--ack-us", type=float, help="venue -> engine delay (default 10)")
    p_bt.add_argument("--md-us", type=float, default=0.0, help="market data delay, default 0")
    p_bt.add_argument("--latency-log", help="draw round trips from this HdrHistogram log instead")
    p_bt.add_argument("--seed", type=_seed, default=1, help="latency draws seed, default: 1")
    p_bt.add_argument(
        "--sample-every", type=float, default=1.0, help="PnL sample interval, s (default 1)"
    )
    p_bt.add_argument(
        "--no-stand-in",
        action="store_true",
        help="journals: keep the recorded own orders in the public book",
    )
    p_bt.add_argument("--no-report", action="store_true", help="with --out: Parquet only")
    p_bt.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p_bt.set_defaults(func=_cmd_backtest)

    # venue
    p_venue = sub.add_parser(
        "venue",
        help="run the venue simulator (OUCH, FIX, ITCH) until Ctrl-C or SIGTERM",
        description="Start the venue simulator described by a TOML file (see "
        "examples/venue.toml), print where it listens, and run until SIGINT or SIGTERM; "
        "then end the ITCH session, stop, print the final counters and exit 0.",
    )
    p_venue.add_argument("--config", metavar="FILE", required=True, help="venue TOML file")
    p_venue.add_argument(
        "--stats-every",
        type=_seconds,
        metavar="SECONDS",
        help="print the counters every SECONDS (default: only when stopping)",
    )
    p_venue.add_argument("--json", action="store_true", help="print JSON lines instead")
    p_venue.set_defaults(func=_cmd_venue)

    # itch
    p_itch = sub.add_parser(
        "itch", help="inspect and generate ITCH 5.0 sessions", description=itch.__doc__
    )
    p_itch.formatter_class = argparse.RawDescriptionHelpFormatter
    itch_sub = p_itch.add_subparsers(dest="itch", metavar="ACTION", required=True)

    p_sum = itch_sub.add_parser(
        "summary",
        help="count messages by type, instruments and errors",
        description="Count a session's messages by type, its instruments and decode errors.",
    )
    p_sum.add_argument("file", metavar="FILE", help="daily (.itch, .gz) or pcap session")
    p_sum.add_argument("--json", action="store_true", help="print one JSON line instead")
    p_sum.set_defaults(func=_cmd_itch_summary)

    p_book = itch_sub.add_parser(
        "book",
        help="the order book of one symbol at a time",
        description="Replay a session into the book of one symbol and print its depth.",
    )
    p_book.add_argument("file", metavar="FILE", help="daily (.itch, .gz) or pcap session")
    p_book.add_argument("--symbol", required=True, help="instrument symbol, e.g. AAPL")
    p_book.add_argument(
        "--at",
        type=_time,
        metavar="HH:MM:SS.nnnnnnnnn",
        help="replay up to and including this time since midnight (default: whole session)",
    )
    p_book.add_argument("--depth", type=_count, default=10, help="levels per side, default: 10")
    p_book.add_argument("--json", action="store_true", help="print one JSON line instead")
    p_book.set_defaults(func=_cmd_itch_book)

    p_gen = itch_sub.add_parser(
        "generate",
        help="write a synthetic ITCH 5.0 session",
        description="Write a synthetic, deterministic ITCH 5.0 session (daily framing, "
        "gzip if FILE ends in .gz, or MoldUDP64 pcap).",
    )
    p_gen.add_argument("--out", metavar="FILE", required=True, help="file to write")
    p_gen.add_argument(
        "--format",
        choices=("daily", "pcap"),
        help="default: pcap when FILE ends in .pcap, else daily",
    )
    p_gen.add_argument("--messages", type=_count, default=1_000_000, help="default: 1000000")
    p_gen.add_argument("--instruments", type=_count, default=8000, help="default: 8000")
    p_gen.add_argument("--max-live-orders", type=_count, default=1_500_000, help="default: 1500000")
    p_gen.add_argument("--seed", type=_seed, default=1, help="generator seed, default: 1")
    p_gen.add_argument("--json", action="store_true", help="print one JSON line instead")
    p_gen.set_defaults(func=_cmd_itch_generate)

    # run
    p_run = sub.add_parser(
        "run",
        help="run the trading engine from a TOML configuration until Ctrl-C",
        description="Start the engine described by CONFIG (see examples/engine.toml) against "
        "the venue it names, print progress, and on SIGINT/SIGTERM (or after --seconds) "
        "cancel every open order, stop and print the summary.",
    )
    p_run.add_argument("config", metavar="CONFIG", help="engine TOML file")
    p_run.add_argument("--seconds", type=_seconds, help="stop after this long")
    p_run.add_argument(
        "--stats-every", type=_seconds, metavar="SECONDS", help="print a snapshot every SECONDS"
    )
    p_run.add_argument("--json", action="store_true", help="print JSON lines instead")
    p_run.set_defaults(func=_cmd_run)

    # standby (hot standby, fenced by a lease on the bus)
    p_sb = sub.add_parser(
        "standby",
        help="run the engine as one of a hot-standby pair, fenced by a lease on the bus",
        description="Follow the lease of --group on the NATS bus; the first instance to "
        "take it trades, the other takes over (recovering from the shared journal and OUCH "
        "state) when the lease is not renewed for --ttl. An instance that loses the lease "
        "stands down (kill switch, exit status 3). See docs/standby.md.",
    )
    p_sb.add_argument("--config", required=True, metavar="CONFIG", help="engine TOML file")
    p_sb.add_argument("--bus", required=True, metavar="URL", help="nats://host:port")
    p_sb.add_argument("--group", required=True, help="the pair's name (1-10 characters)")
    p_sb.add_argument("--role", choices=["auto"], default="auto", help="default: auto")
    p_sb.add_argument("--ttl", type=_seconds, default=0.4, help="lease TTL, default: 0.4 s")
    p_sb.set_defaults(func=_cmd_standby)

    # kill (firm-wide, over the bus)
    p_kill = sub.add_parser(
        "kill",
        help="engage the firm-wide kill switch of every instance on the NATS bus",
        description="Publish the firm-wide kill on the bus at --bus (core NATS, now) and "
        "store it in the JetStream bucket (for instances that connect later): every "
        "instance's control plane fires its engine's kill switch. --clear clears it (each "
        "instance re-arms what the firm kill engaged).",
    )
    p_kill.add_argument("--bus", required=True, metavar="URL", help="nats://host:port")
    p_kill.add_argument("--clear", action="store_true", help="clear the firm kill")
    p_kill.add_argument("--reason", default="operator", help="recorded with the kill")
    p_kill.set_defaults(func=_cmd_kill)

    # status
    p_status = sub.add_parser(
        "status",
        help="health and a summary of a running engine (its metrics endpoint)",
        description="Read /health and /metrics of the engine serving metrics at --addr "
        "(engine.metrics_addr) and print session, feed and kill-switch state, positions, "
        "PnL, open orders, fills, orders and rejects. Exit status: 0 healthy, 1 unhealthy, "
        "2 unreachable.",
    )
    p_status.add_argument(
        "--addr", default="127.0.0.1:9464", metavar="HOST:PORT", help="default: 127.0.0.1:9464"
    )
    p_status.add_argument(
        "--timeout", type=_seconds, default=3.0, metavar="SECONDS", help="default: 3"
    )
    p_status.add_argument("--json", action="store_true", help="print JSON")
    p_status.set_defaults(func=_cmd_status)

    # demo
    p_demo = sub.add_parser(
        "demo",
        help="start the venue simulator on loopback and make markets against it",
        description="Start the venue simulator (three instruments, a background market, "
        "OUCH and ITCH on loopback), run the engine against it for --seconds, and print "
        "orders, fills, positions and PnL, risk rejections and latency percentiles.",
    )
    p_demo.add_argument("--seconds", type=_seconds, default=20.0, help="default: 20")
    p_demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_demo.set_defaults(func=_cmd_demo)

    # journal
    p_journal = sub.add_parser(
        "journal", help="read engine journals", description="Read quotewire journals."
    )
    journal_sub = p_journal.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    p_jinspect = journal_sub.add_parser(
        "inspect",
        help="summarise a journal",
        description="Records by kind, time span (UTC), MoldUDP64 feed gaps, checksum errors "
        "with their segment and byte offset, and a torn tail.",
    )
    p_jinspect.add_argument("path", metavar="PATH", help="journal directory or segment file")
    p_jinspect.add_argument("--json", action="store_true", help="print JSON")
    p_jinspect.set_defaults(func=_cmd_journal_inspect)

    # export
    p_export = sub.add_parser(
        "export",
        help="write a journal's market data, orders and fills as Parquet",
        description="Export JOURNAL (a journal directory or segment) as Parquet tables itch, "
        "bbo, l2, trades, orders and fills under DIR, partitioned by date and symbol; query "
        "them with quotewire.history.open(DIR). Corrupt records are skipped and reported.",
    )
    p_export.add_argument("journal", metavar="JOURNAL", help="journal directory or segment")
    p_export.add_argument("--to", required=True, metavar="DIR", help="output directory")
    p_export.add_argument(
        "--depth", type=int, default=5, help="book levels per side in l2 (0: no l2), default: 5"
    )
    p_export.add_argument(
        "--l2-symbols", metavar="SYM,...", help="l2 only for these (default: every symbol)"
    )
    p_export.add_argument(
        "--itch-tz", default="UTC", metavar="TZ", help="ITCH timestamps' midnight, default: UTC"
    )
    names = p_export.add_mutually_exclusive_group()
    names.add_argument(
        "--config", metavar="ENGINE.toml", help="name instrument ids after this engine config"
    )
    names.add_argument(
        "--symbols", metavar="ID=SYM,...", help="name instrument ids (the feed's stock locates)"
    )
    p_export.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_export.set_defaults(func=_cmd_export)

    # import
    p_import = sub.add_parser(
        "import",
        help="turn market-by-order data into an ITCH 5.0 daily capture",
        description="Import a market-by-order file (the generic CSV/Parquet layout, or "
        "Databento MBO DBN) into a TotalView-ITCH 5.0 daily file that `quotewire itch` "
        "and the venue's capture replay read. Refused rows are listed with their line.",
    )
    p_import.add_argument("kind", choices=["csv", "parquet", "dbn"], help="source format")
    p_import.add_argument("file", metavar="FILE", help="source file")
    p_import.add_argument("--out", required=True, metavar="CAPTURE.itch", help="output file")
    p_import.add_argument("--tick", default="0.01", help="price increment, default: 0.01")
    p_import.add_argument(
        "--symbol-map", metavar="SRC=SYM,...", help="rename source symbols to ITCH ones"
    )
    p_import.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_import.set_defaults(func=_cmd_import)

    # certify
    p_cert = sub.add_parser(
        "certify",
        help="certify this host's latency against the venue simulator (report + verdict)",
        description="Run the standard load of --config (see examples/cert.toml) against the "
        "venue simulator on loopback for its duration, record every stage's HDR histogram and "
        "latency over time, and write a report directory (report.html, PNG charts, "
        "HdrHistogram logs, machine description, the command) with a pass/fail verdict per "
        "SLO. Exit status: 0 every SLO passed, 1 otherwise.",
    )
    p_cert.add_argument("--config", required=True, metavar="CERT.toml", help="load and SLOs")
    p_cert.add_argument(
        "--out", metavar="DIR", help="report directory (default: latency_reports/cert-DATE)"
    )
    p_cert.add_argument("--json", action="store_true", help="print the result as JSON")

    def _cmd_certify(a: argparse.Namespace) -> int:
        from quotewire import certify

        return certify.command(a, argv)

    p_cert.set_defaults(func=_cmd_certify)

    # doctor
    p_doctor = sub.add_parser(
        "doctor",
        help="check this host's low-latency tuning (pass/warn/fail per knob)",
        description="Read /proc and /sys (kernel command line, isolated and nohz_full CPUs, "
        "huge pages, THP, governors, C-states, sysctls, irqbalance, NIC IRQ affinities) and "
        "grade each against the engine's cores: engine.core of --config, or --isolated, or "
        "else the kernel's isolated CPUs. Exit status: 0 all pass, 3 warnings, 4 failures.",
    )
    doctor_cores = p_doctor.add_mutually_exclusive_group()
    doctor_cores.add_argument("--config", metavar="ENGINE.toml", help="grade engine.core")
    doctor_cores.add_argument("--isolated", metavar="CPUS", help="grade these cores (e.g. 2,3)")
    p_doctor.add_argument(
        "--nic", action="append", metavar="IFACE", help="inspect this NIC (repeat; default: all)"
    )
    p_doctor.add_argument(
        "--hugepages-1g", type=int, metavar="N", help="fail with fewer 1 GiB pages (default: warn)"
    )
    p_doctor.add_argument("--root", default="/", help=argparse.SUPPRESS)
    p_doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    p_doctor.set_defaults(func=_cmd_doctor)
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    elif isinstance(e, OSError) and e.strerror and e.filename:
        text = f"{e.strerror}: {e.filename}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("QUOTEWIRE_DEBUG") == "1"
    try:
        parser = _build_parser(args_list)
        args = parser.parse_args(args_list)
        handler: Handler = args.func
        return handler(args)
    except SystemExit as e:  # --help and --version
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        return EXIT_USAGE
    except _UsageError as e:
        print(f"quotewire: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("quotewire: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (QuotewireError, OSError, ValueError, KeyError) as e:
        if debug:
            raise
        print(f"quotewire: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except BaseException as e:  # includes pyo3's PanicException: a bug, still one line
        if debug:
            raise
        print(
            f"quotewire: internal error: {type(e).__name__}: {_one_line(e)} "
            "(set QUOTEWIRE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
