"""Observability of a running engine: Prometheus metrics and a health endpoint, the
operator's `quotewire status`, and size-based rotation of the engine's log file.

Everything here runs on side threads of the control plane and never on the fast path:

* `MetricsServer` serves `GET /metrics` (Prometheus text exposition format 0.0.4) and
  `GET /health` (JSON; HTTP 200 when healthy, 503 otherwise) from a daemon thread
  (`qw-metrics`). A scrape reads the core through the ordinary control calls, once per
  scrape: a snapshot (positions, PnL, open orders, fills, kill switch, the fast path's
  counters and ring occupancy; the fast path also hands over the latency histograms it
  recorded since the previous snapshot, merged by the core off the fast path), the merged
  latency figures, and the batch of events published since the last read, which
  `EventTap` folds into counters and keeps for the next `Engine.events()` call, so a
  scrape takes nothing away from the caller.
* `status` reads both endpoints of a running engine for `quotewire status`.
* `LogRelay` rotates the engine's log file by size: the core's event writer thread writes
  its structured lines into a pipe, and a side thread (`qw-log`) appends them to the file,
  renaming it to `FILE.1` (`FILE.2`, ... up to `keep`) before a line would take it past
  the size limit. Lines are never split across two files.

Nothing here knows the fast path's internals; the metric names are listed in
docs/operations.md and drawn by docs/grafana/quotewire.json.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import socket
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from quotewire.errors import ConfigError

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_ADDR",
    "EventTap",
    "Family",
    "LogRelay",
    "MetricsServer",
    "Observation",
    "Status",
    "Tally",
    "families",
    "format_status",
    "health",
    "parse_exposition",
    "render",
    "split_addr",
    "status",
]

DEFAULT_ADDR: Final = "127.0.0.1:9464"
"""Where `quotewire status` looks when not told (9464, the port OpenTelemetry's
Prometheus exporter uses by default)."""

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition format served on /metrics."""

BACKLOG_LIMIT: Final = 1 << 20
"""Most events an `EventTap` keeps for `Engine.events()` (as the core's own backlog)."""


def split_addr(text: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) as (host, port); ConfigError when malformed."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ConfigError(f"{text!r} is not host:port")
    return host, int(port)


# --------------------------------------------------------------------------- events


@dataclass
class Tally:
    """Counters and state folded from the engine's events, oldest first."""

    orders: dict[tuple[str, str], int] = field(default_factory=dict)
    rejects: dict[tuple[str, str, str], int] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    gaps: int = 0
    gap_messages: int = 0
    session_losses: int = 0
    controls_refused: int = 0
    session: str = "connecting"
    feed: str = "ok"
    last_event_ns: int | None = None


_CHANGES: Final = {
    "params_changed": "params",
    "limits_changed": "limits",
    "reduce_only": "reduce_only",
    "rule_changed": "rule",
}


def _bump(d: dict[Any, int], key: Any, by: int = 1) -> None:
    d[key] = d.get(key, 0) + by


class EventTap:
    """The engine's events, read in batches by whoever comes first (a scrape or the
    caller's `Engine.events()`): each batch is counted once, then kept until the caller
    takes it. At most `limit` events wait; older ones are dropped and counted."""

    __slots__ = ("_limit", "_pending", "dropped", "lock", "tally")

    def __init__(self, limit: int = BACKLOG_LIMIT) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        self.tally = Tally()
        self.dropped = 0
        self.lock = threading.Lock()
        """Held around reading the core's events into `add`, and around `take`: scrapes
        run on other threads than the caller's."""
        self._limit = limit

    def add(self, events: Iterable[dict[str, Any]]) -> None:
        """Count a batch (oldest first) and keep it for `take`."""
        t = self.tally
        for e in events:
            kind = str(e.get("event"))
            symbol = str(e.get("symbol", e.get("instrument", "")))
            _bump(t.events, (kind, str(e.get("level", ""))))
            ts = e.get("ts_ns")
            if isinstance(ts, int):
                t.last_event_ns = ts
            if kind == "sent":
                _bump(t.orders, (symbol, str(e.get("action"))))
            elif kind in ("risk_reject", "oms_reject", "venue_reject"):
                _bump(t.rejects, (kind.removesuffix("_reject"), str(e.get("reason")), symbol))
            elif kind == "killed":
                _bump(t.kills, str(e.get("reason")))
            elif kind == "feed_gap":
                t.gaps += 1
                t.gap_messages += int(e.get("to", 0)) - int(e.get("from", 0)) + 1
                t.feed = "recovering"
            elif kind == "feed_recovered":
                t.feed = "ok"
            elif kind == "session_ready":
                t.session = "ready"
            elif kind == "session_lost":
                t.session = "lost"
                t.session_losses += 1
            elif kind == "control_refused":
                t.controls_refused += 1
            elif kind in _CHANGES:
                _bump(t.changes, (_CHANGES[kind], str(e.get("source", "user"))))
            self._pending.append(e)
        excess = len(self._pending) - self._limit
        for _ in range(max(excess, 0)):
            self._pending.popleft()
            self.dropped += 1

    def take(self) -> list[dict[str, Any]]:
        """Every kept event, oldest first; the tap is empty afterwards."""
        out = list(self._pending)
        self._pending.clear()
        return out

    @property
    def waiting(self) -> int:
        """Events kept for the caller."""
        return len(self._pending)


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Observation:
    """What one scrape read from the engine."""

    running: bool
    uptime_s: float
    snapshot: Mapping[str, Any] | None
    """`Engine.snapshot()` (symbols as keys, money as Decimal); None when unreadable."""
    tally: Tally
    dropped: Mapping[str, int]
    """Events lost: "ring" (fast path), "backlog" (core), "tap" (Python)."""
    waiting: int
    error: str | None = None
    latency: Mapping[str, Mapping[str, Any]] | None = None
    """`_core.Engine.latency()`: per stage, count, sum_ns, max_ns, quantiles [(q, ns)],
    cumulative buckets [(le_ns, count)], since the start; None when unreadable."""


_Sample = tuple[dict[str, str], float]


@dataclass(frozen=True)
class Family:
    """One metric family: name, type ("counter", "gauge", "summary", "histogram"), help
    and its samples (labels, value); `suffixed` samples carry a suffix to the name
    (`_sum`, `_count`, `_bucket`). Counter names end in `_total`, as the exposition format
    expects."""

    name: str
    kind: str
    help: str
    samples: list[_Sample]
    suffixed: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def health(o: Observation) -> tuple[bool, dict[str, Any]]:
    """Healthy when the fast path runs, the order session is up, the kill switch is
    armed and the feed is not recovering a gap; with the state that decided it."""
    snap = o.snapshot or {}
    killed = snap.get("killed")
    age = None
    if o.tally.last_event_ns is not None and "ts_ns" in snap:
        age = round(max(int(snap["ts_ns"]) - o.tally.last_event_ns, 0) / 1e9, 3)
    has_data = any(r.get("mid") is not None for r in snap.get("instruments", {}).values())
    feed = o.tally.feed if o.tally.feed != "ok" or has_data else "no_data"
    problems = []
    if not o.running:
        problems.append("the engine is not running")
    if o.error is not None:
        problems.append(o.error)
    if o.tally.session != "ready":
        problems.append(f"order session {o.tally.session}")
    if killed is not None:
        problems.append(f"kill switch fired ({killed})")
    if feed == "recovering":
        problems.append("feed recovering a gap")
    ok = not problems
    return ok, {
        "status": "ok" if ok else "unhealthy",
        "running": o.running,
        "session": o.tally.session,
        "feed": feed,
        "kill_switch": killed,
        "reduce_only": bool(snap.get("reduce_only", False)),
        "last_event_age_s": age,
        "uptime_s": round(o.uptime_s, 3),
        "problems": problems,
    }


def _num(value: object) -> float:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def families(o: Observation) -> list[Family]:
    """Every metric family of one observation."""
    t = o.tally
    snap = o.snapshot or {}
    instruments: Mapping[str, Mapping[str, Any]] = snap.get("instruments", {})
    ok, state = health(o)
    out: list[Family] = []

    def fam(name: str, kind: str, text: str, samples: Iterable[_Sample]) -> None:
        out.append(Family(name, kind, text, list(samples)))

    def per_symbol(key: str) -> list[_Sample]:
        return [({"symbol": s}, _num(r.get(key))) for s, r in instruments.items()]

    fam("quotewire_up", "gauge", "1 while the fast-path thread runs.", [({}, float(o.running))])
    fam("quotewire_healthy", "gauge", "1 when /health answers 200.", [({}, float(ok))])
    fam(
        "quotewire_uptime_seconds", "gauge", "Seconds since the engine started.", [({}, o.uptime_s)]
    )
    fam(
        "quotewire_session_ready",
        "gauge",
        "1 while the order session is up and reconciled.",
        [({}, float(t.session == "ready"))],
    )
    fam(
        "quotewire_feed_recovering",
        "gauge",
        "1 while quotes are pulled for a feed gap.",
        [({}, float(t.feed == "recovering"))],
    )
    killed = snap.get("killed")
    fam(
        "quotewire_kill_switch",
        "gauge",
        "1 while the kill switch is fired.",
        [({}, float(killed is not None))],
    )
    fam(
        "quotewire_kill_switch_reason",
        "gauge",
        "1 for the reason of a fired kill switch.",
        [({"reason": str(killed)}, 1.0)] if killed is not None else [],
    )
    fam(
        "quotewire_reduce_only",
        "gauge",
        "1 while quoting only reduces positions.",
        [({}, float(bool(snap.get("reduce_only"))))],
    )
    age = state["last_event_age_s"]
    fam(
        "quotewire_last_event_age_seconds",
        "gauge",
        "Engine-clock seconds since the last event (order, fill, change).",
        [({}, float(age))] if age is not None else [],
    )
    if snap:
        fam(
            "quotewire_position_shares",
            "gauge",
            "Position, shares (negative: short).",
            per_symbol("position"),
        )
        fam(
            "quotewire_avg_price",
            "gauge",
            "Average entry price of the position.",
            per_symbol("avg_price"),
        )
        fam(
            "quotewire_pnl_realised",
            "gauge",
            "Realised PnL, currency units.",
            per_symbol("realised"),
        )
        fam(
            "quotewire_pnl_unrealised",
            "gauge",
            "Unrealised PnL marked to the mid.",
            per_symbol("unrealised"),
        )
        fam(
            "quotewire_firm_pnl",
            "gauge",
            "Firm-wide PnL by kind, currency units.",
            [
                ({"kind": k}, _num(snap.get(key)))
                for k, key in (
                    ("realised", "realised"),
                    ("unrealised", "unrealised"),
                    ("total", "total_pnl"),
                )
            ],
        )
        fam(
            "quotewire_firm_exposure",
            "gauge",
            "Firm-wide exposure by kind, currency units.",
            [({"kind": k}, _num(snap.get(f"{k}_exposure"))) for k in ("gross", "net")],
        )
        fam(
            "quotewire_open_orders",
            "gauge",
            "Our open orders at the venue.",
            per_symbol("open_orders"),
        )
        fam(
            "quotewire_mid_price",
            "gauge",
            "The book's mid (absent without a two-sided book).",
            [(lbl, v) for lbl, v in per_symbol("mid") if not math.isnan(v)],
        )
        quotes = []
        for s, r in instruments.items():
            for side in ("bid", "ask"):
                if r.get(f"{side}_price") is not None:
                    quotes.append(({"symbol": s, "side": side}, _num(r[f"{side}_price"])))
        fam("quotewire_quote_price", "gauge", "Our resting quote nearest the mid.", quotes)
        spreads = []
        for s, r in instruments.items():
            model = r.get("model", {})
            for side in ("bid", "ask"):
                spreads.append(
                    ({"symbol": s, "side": side}, _num(model.get(f"{side}_half_spread_ticks")))
                )
        fam("quotewire_model_half_spread_ticks", "gauge", "The model's last half spread.", spreads)
        fam(
            "quotewire_rules_active",
            "gauge",
            "Automatic-adjustment rules holding now.",
            [
                ({"symbol": s}, float(bin(int(r.get("rules_active", 0))).count("1")))
                for s, r in instruments.items()
            ],
        )
        fam("quotewire_fills_total", "counter", "Fills of our orders.", per_symbol("fills"))
        fam(
            "quotewire_filled_shares_total",
            "counter",
            "Shares traded by side.",
            [
                ({"symbol": s, "side": side}, _num(r.get(key)))
                for s, r in instruments.items()
                for side, key in (("buy", "bought"), ("sell", "sold"))
            ],
        )
    fam(
        "quotewire_orders_sent_total",
        "counter",
        "Order requests sent, by action.",
        [({"symbol": s, "action": a}, float(n)) for (s, a), n in sorted(t.orders.items())],
    )
    fam(
        "quotewire_rejects_total",
        "counter",
        "Refused orders by source (risk: pre-trade checks, oms, venue) and reason.",
        [
            ({"source": src, "reason": why, "symbol": s}, float(n))
            for (src, why, s), n in sorted(t.rejects.items())
        ],
    )
    fam(
        "quotewire_kills_total",
        "counter",
        "Kill switch activations by reason.",
        [({"reason": r}, float(n)) for r, n in sorted(t.kills.items())],
    )
    fam(
        "quotewire_feed_gaps_total",
        "counter",
        "Sequence gaps detected on the feed.",
        [({}, float(t.gaps))],
    )
    fam(
        "quotewire_feed_gap_messages_total",
        "counter",
        "Messages missing in those gaps.",
        [({}, float(t.gap_messages))],
    )
    fam(
        "quotewire_session_losses_total",
        "counter",
        "Order sessions lost.",
        [({}, float(t.session_losses))],
    )
    fam(
        "quotewire_changes_total",
        "counter",
        "Applied changes (params, limits, reduce_only, rule) by source (user, rule).",
        [({"kind": k, "source": s}, float(n)) for (k, s), n in sorted(t.changes.items())],
    )
    fam(
        "quotewire_controls_refused_total",
        "counter",
        "Control requests the engine refused.",
        [({}, float(t.controls_refused))],
    )
    fam(
        "quotewire_events_total",
        "counter",
        "Engine events by kind and log level.",
        [({"event": e, "level": lv}, float(n)) for (e, lv), n in sorted(t.events.items())],
    )
    fam(
        "quotewire_events_dropped_total",
        "counter",
        "Events lost: ring (fast path ahead of the writer), backlog, tap (nobody read them).",
        [({"stage": k}, float(v)) for k, v in o.dropped.items()],
    )
    fam(
        "quotewire_events_waiting",
        "gauge",
        "Events kept for the next Engine.events().",
        [({}, float(o.waiting))],
    )
    out += _fast_path_families(snap)
    if o.latency is not None:
        out += _latency_families(o.latency)
    return out


_COUNTERS: Final = (
    ("quotewire_feed_datagrams_total", "datagrams", "Feed datagrams handed to the sequencer."),
    ("quotewire_feed_messages_total", "messages", "ITCH messages applied to the books."),
    ("quotewire_requotes_total", "requotes", "Quoting decisions evaluated."),
    ("quotewire_venue_reports_total", "reports", "Execution reports processed."),
    ("quotewire_send_errors_total", "send_errors", "Requests the order gateway could not take."),
    (
        "quotewire_feed_events_overflow_total",
        "feed_events_overflow",
        "Feed events beyond the per-datagram buffer (not acted on).",
    ),
    ("quotewire_controls_applied_total", "controls", "Control requests the fast path took."),
    (
        "quotewire_snapshot_records_dropped_total",
        "snapshot_dropped",
        "Snapshot records dropped (snapshot ring full).",
    ),
    ("quotewire_broken_trades_total", "broken_trades", "Trades the venue broke."),
)

_IGNORED_REPORTS: Final = (
    ("duplicate", "duplicate_reports"),
    ("replayed", "replayed_reports"),
    ("unknown", "unknown_reports"),
)


def _fast_path_families(snap: Mapping[str, Any]) -> list[Family]:
    """The fast path's own counters and its rings' occupancy, from the snapshot."""
    counters: Mapping[str, Any] = snap.get("counters", {})
    rings: Mapping[str, Mapping[str, int]] = snap.get("rings", {})
    out = []
    if counters:
        out += [
            Family(name, "counter", text, [({}, _num(counters.get(key)))])
            for name, key, text in _COUNTERS
        ]
        out.append(
            Family(
                "quotewire_reports_ignored_total",
                "counter",
                "Execution reports that changed nothing: duplicates, the venue's replay after a "
                "recovery, reports about orders nobody knows.",
                [({"kind": k}, _num(counters.get(key))) for k, key in _IGNORED_REPORTS],
            )
        )
    if rings:
        out.append(
            Family(
                "quotewire_ring_occupancy",
                "gauge",
                "Slots in use in a fast-path ring when the snapshot was taken.",
                [({"ring": r}, _num(v.get("used"))) for r, v in rings.items()],
            )
        )
        out.append(
            Family(
                "quotewire_ring_capacity",
                "gauge",
                "Slots in a fast-path ring.",
                [({"ring": r}, _num(v.get("capacity"))) for r, v in rings.items()],
            )
        )
    return out


def _seconds(ns: object) -> float:
    return _num(ns) / 1e9


def _latency_families(latency: Mapping[str, Mapping[str, Any]]) -> list[Family]:
    """Each stage's histogram since the start as a summary (quantiles), a histogram
    (buckets, for windowed quantiles in PromQL) and its maximum, in seconds."""
    quantiles: list[_Sample] = []
    summary_rest: list[tuple[str, dict[str, str], float]] = []
    buckets: list[tuple[str, dict[str, str], float]] = []
    maxima: list[_Sample] = []
    for stage, h in latency.items():
        count = int(h.get("count", 0))
        for q, ns in h.get("quantiles", []):
            value = _seconds(ns) if count else math.nan
            quantiles.append(({"stage": stage, "quantile": repr(float(q))}, value))
        total = _seconds(h.get("sum_ns", 0))
        summary_rest += [
            ("_sum", {"stage": stage}, total),
            ("_count", {"stage": stage}, float(count)),
        ]
        for le, n in h.get("buckets", []):
            buckets.append(("_bucket", {"stage": stage, "le": repr(_seconds(le))}, float(n)))
        buckets += [
            ("_bucket", {"stage": stage, "le": "+Inf"}, float(count)),
            ("_sum", {"stage": stage}, total),
            ("_count", {"stage": stage}, float(count)),
        ]
        maxima.append(({"stage": stage}, _seconds(h.get("max_ns", 0)) if count else math.nan))
    return [
        Family(
            "quotewire_latency_seconds",
            "summary",
            "Fast-path latency by stage since the engine started (feed: datagram through "
            "sequencer and books; quote: model, risk, OMS, encoding; tick_to_trade: packet "
            "received to order bytes written; round_trip: order sent to venue answer).",
            quantiles,
            summary_rest,
        ),
        Family(
            "quotewire_latency_histogram_seconds",
            "histogram",
            "The same samples in fixed buckets (1 us to 10 s), for quantiles over a window.",
            [],
            buckets,
        ),
        Family(
            "quotewire_latency_max_seconds",
            "gauge",
            "Largest latency by stage since the engine started.",
            maxima,
        ),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def render(fams: Iterable[Family]) -> str:
    """Prometheus text exposition format 0.0.4."""
    lines = []
    for f in fams:
        help_text = f.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {f.name} {help_text}")
        lines.append(f"# TYPE {f.name} {f.kind}")
        named = [("", lbl, v) for lbl, v in f.samples] + f.suffixed
        for suffix, labels, v in named:
            name = f.name + suffix
            tags = ",".join(f'{k}="{_escape(val)}"' for k, val in labels.items())
            lines.append(f"{name}{{{tags}}} {_value(v)}" if tags else f"{name} {_value(v)}")
    return "\n".join(lines) + "\n"


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a text exposition by name (for `quotewire status`; tests read ours
    with the Prometheus client's own parser)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        labels: dict[str, str] = {}
        if "{" in line:
            name, rest = line.split("{", 1)
            i = 0
            while rest[i] != "}":
                eq = rest.index("=", i)
                key = rest[i:eq].strip().lstrip(",").strip()
                j, chars = eq + 2, []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        chars.append({"n": "\n"}.get(rest[j], rest[j]))
                    else:
                        chars.append(rest[j])
                    j += 1
                labels[key] = "".join(chars)
                i = j + 1
                while rest[i] in ", ":
                    i += 1
            value = rest[i + 1 :].split()[0]
        else:
            name, value = line.split()[:2]
        out.setdefault(name.strip(), []).append((labels, float(value)))
    return out


# --------------------------------------------------------------------------- server


class _Http6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """/metrics and /health over HTTP from a daemon thread. `bind` first (errors before
    the engine starts), then `serve(observe)`; `observe` is called once per request."""

    def __init__(self, addr: str) -> None:
        host, port = split_addr(addr)
        observe: list[Callable[[], Observation]] = []
        self._observe = observe

        class Handler(BaseHTTPRequestHandler):
            server_version = "quotewire"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in ("/metrics", "/health") or not observe:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")
                    return
                o = observe[0]()
                if path == "/metrics":
                    body = render(families(o)).encode()
                    self._send(200 if o.snapshot is not None else 503, CONTENT_TYPE, body)
                else:
                    ok, state = health(o)
                    body = (json.dumps(state) + "\n").encode()
                    self._send(200 if ok else 503, "application/json", body)

            def _send(self, code: int, kind: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds are not news

        server = _Http6 if ":" in host else ThreadingHTTPServer
        try:
            self._http = server((host, port), Handler)
        except OSError as e:
            raise ConfigError(f"engine.metrics_addr = {addr!r}: {e.strerror or e}") from None
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """The bound `host:port` (the real port when bound to port 0)."""
        host, port = self._http.server_address[:2]
        host = str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def serve(self, observe: Callable[[], Observation]) -> None:
        """Start answering, reading the engine with `observe`."""
        self._observe.append(observe)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.2}, name="qw-metrics"
        )
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Status:
    """What `quotewire status` read: HTTP code and JSON of /health, the metric samples."""

    addr: str
    code: int | None
    health: dict[str, Any]
    metrics: dict[str, list[tuple[dict[str, str], float]]]
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 unhealthy, 2 unreachable."""
        if self.code is None:
            return 2
        return 0 if self.code == 200 else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: addr, reachable, healthy, health, metrics (name -> samples)."""
        return {
            "addr": self.addr,
            "reachable": self.code is not None,
            "healthy": self.code == 200,
            "health": self.health,
            "metrics": {
                name: [{"labels": lbl, "value": v} for lbl, v in samples]
                for name, samples in self.metrics.items()
            },
            "error": self.error,
        }


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())


def status(addr: str = DEFAULT_ADDR, *, timeout: float = 3.0) -> Status:
    """Read /health and /metrics of the engine serving metrics at `addr`."""
    host, port = split_addr(addr)
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    try:
        code, body = _get(f"{base}/health", timeout)
        state = json.loads(body)
        _mcode, text = _get(f"{base}/metrics", timeout)
        samples = parse_exposition(text.decode())
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return Status(addr, None, {}, {}, error=f"cannot reach {base}: {reason}")
    return Status(addr, code, state if isinstance(state, dict) else {}, samples)


_MONEY: Final = ("realised", "unrealised")


def format_status(s: Status) -> str:
    """A readable summary for operators."""
    if s.code is None:
        return f"quotewire at {s.addr}: UNREACHABLE ({s.error})"
    h = s.health
    m = s.metrics

    def by(name: str, key: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for labels, v in m.get(name, []):
            out[labels.get(key, "")] = out.get(labels.get(key, ""), 0.0) + v
        return out

    def num(v: float) -> str:
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"

    def money(v: float) -> str:
        return f"{v:,.2f}"

    age = h.get("last_event_age_s")
    lines = [
        f"quotewire at {s.addr}: {'HEALTHY' if s.code == 200 else 'UNHEALTHY'}",
        f"  running {'yes' if h.get('running') else 'no'}   session {h.get('session')}   "
        f"feed {h.get('feed')}   kill switch {h.get('kill_switch') or 'armed'}   "
        f"reduce-only {'on' if h.get('reduce_only') else 'off'}",
        f"  uptime {h.get('uptime_s', 0):,.1f} s   last event "
        + (f"{age:,.3f} s ago" if age is not None else "none yet"),
    ]
    lines += [f"  problem: {p}" for p in h.get("problems", [])]
    cols = {
        "position": by("quotewire_position_shares", "symbol"),
        "realised": by("quotewire_pnl_realised", "symbol"),
        "unrealised": by("quotewire_pnl_unrealised", "symbol"),
        "open": by("quotewire_open_orders", "symbol"),
        "fills": by("quotewire_fills_total", "symbol"),
    }
    symbols = sorted(cols["position"])
    if symbols:
        rows = [["symbol", *cols]] + [
            [sym, *((money if k in _MONEY else num)(c.get(sym, 0.0)) for k, c in cols.items())]
            for sym in symbols
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
            ]
            lines.append("  " + "  ".join(cells))
    firm = by("quotewire_firm_pnl", "kind")
    if firm:
        lines.append(
            "  firm PnL "
            + "  ".join(
                f"{k} {money(firm.get(k, 0.0))}" for k in ("realised", "unrealised", "total")
            )
        )
    orders = by("quotewire_orders_sent_total", "action")
    lines.append(
        "  orders sent "
        + "  ".join(f"{a} {num(orders.get(a, 0.0))}" for a in ("new", "replace", "cancel"))
    )
    rejects = by("quotewire_rejects_total", "source")
    lines.append(
        "  rejects "
        + "  ".join(f"{src} {num(rejects.get(src, 0.0))}" for src in ("risk", "oms", "venue"))
    )
    dropped = sum(v for _, v in m.get("quotewire_events_dropped_total", []))
    lines.append(f"  events dropped {num(dropped)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- logs


class LogRelay:
    """Size-based rotation of the engine's log: `writer_path` is handed to the core as
    its log file (the write end of a pipe); a `qw-log` thread appends what arrives to
    `path`, and before a line would take the file beyond `max_bytes` renames `path` to
    `path.1` (older files shift to `.2` ... `.keep`; the oldest is deleted). Lines are
    never split; a single line longer than `max_bytes` gets a file of its own."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, keep: int) -> None:
        if max_bytes < 1 or keep < 1:
            raise ConfigError("log rotation needs max_bytes >= 1 and keep >= 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.rotations = 0
        self._file = self.path.open("ab")
        self._size = self._file.tell()
        self._r, self._w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe absorbs bursts
            fcntl.fcntl(self._w, fcntl.F_SETPIPE_SZ, 1 << 20)
        self._thread = threading.Thread(target=self._run, name="qw-log", daemon=True)
        self._thread.start()

    @property
    def writer_path(self) -> str:
        """A path the core opens for appending: the pipe's write end."""
        return f"/dev/fd/{self._w}"

    def writer_opened(self) -> None:
        """Close our copy of the write end once the core holds its own (or failed to
        start): the relay ends when the core closes its log."""
        if self._w >= 0:
            os.close(self._w)
            self._w = -1

    def join(self, timeout: float = 5.0) -> bool:
        """Wait for the core's last line to be written; True when the relay ended."""
        self.writer_opened()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def files(self) -> list[Path]:
        """The log files, oldest first (`path.keep` ... `path.1`, `path`)."""
        rotated = [self.path.with_name(f"{self.path.name}.{i}") for i in range(self.keep, 0, -1)]
        return [p for p in rotated if p.exists()] + [self.path]

    def _rotate(self) -> None:
        self._file.close()
        name = self.path.name
        oldest = self.path.with_name(f"{name}.{self.keep}")
        oldest.unlink(missing_ok=True)
        for i in range(self.keep - 1, 0, -1):
            src = self.path.with_name(f"{name}.{i}")
            if src.exists():
                src.rename(self.path.with_name(f"{name}.{i + 1}"))
        self.path.rename(self.path.with_name(f"{name}.1"))
        self._file = self.path.open("ab")
        self._size = 0
        self.rotations += 1

    def _write(self, lines: bytes) -> None:
        """Append whole lines, rotating between lines."""
        while lines:
            room = self.max_bytes - self._size
            if len(lines) <= room:
                cut = len(lines)
            else:
                cut = lines.rfind(b"\n", 0, room) + 1
                if cut == 0:  # not even one line fits
                    if self._size > 0:
                        self._rotate()
                        continue
                    cut = lines.index(b"\n") + 1  # one oversized line, alone
            self._file.write(lines[:cut])
            self._size += cut
            lines = lines[cut:]
            if lines or self._size >= self.max_bytes:
                self._file.flush()
                self._rotate()
        self._file.flush()

    def _run(self) -> None:
        partial = b""
        try:
            while True:
                try:
                    chunk = os.read(self._r, 1 << 16)
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise
                if not chunk:
                    break
                data = partial + chunk
                end = data.rfind(b"\n") + 1
                partial = data[end:]
                if end:
                    self._write(data[:end])
            if partial:
                self._write(partial + b"\n")
        finally:
            os.close(self._r)
            self._file.close()
