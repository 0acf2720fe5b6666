"""Observability of a running engine: the Prometheus endpoint read with the Prometheus
client's own parser, the health endpoint, `quotewire status`, and the rotated log.

One short demo session (the venue simulator with its background market, the engine
quoting against it with `metrics_addr`, a debug-level log rotated every few kilobytes) is
scripted once: scrape while trading (twice, the venue publishing more market data in
between), change parameters and limits, fire the kill switch, let the cancels settle,
scrape again, stop. Each test checks one part of what it recorded against an independent
reading: the engine's own snapshot, its events, the log files, the venue's counters, the
stop summary.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_for

pytest.importorskip("quotewire._core")

from quotewire import demo, metrics
from quotewire.engine import (
    Engine,
    EngineConfig,
    EngineThreads,
    FeedEndpoint,
    OuchEndpoint,
    TradedInstrument,
)
from quotewire.errors import ConfigError
from quotewire.venue import Venue

SYMBOLS = [symbol for symbol, *_ in demo.DEMO_INSTRUMENTS]
OUR_FIRM = 1
LOG_MAX_BYTES = 2 * 1024
LOG_MAX_MB = LOG_MAX_BYTES / (1 << 20)

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def scrape(addr: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode()


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """Family types and samples, as the Prometheus client's parser reads them."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return types, samples


def per_symbol(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["symbol"]: v for labels, v in samples[name].items()}


def status_cli(addr: str, *extra: str) -> tuple[int, str]:
    """`quotewire status` as an operator runs it: a separate process."""
    done = subprocess.run(
        [sys.executable, "-m", "quotewire", "status", "--addr", addr, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@dataclass
class Session:
    addr: str
    health_trading: tuple[int, str]
    live_before: str
    live_snapshot: dict[str, Any]
    live_after: str
    live_later: str
    published: tuple[int, int]
    """The venue's ITCH message count before and after the wait between the two."""
    live_latency: dict[str, Any]
    status_trading: tuple[int, str]
    status_trading_json: tuple[int, str]
    health_killed: tuple[int, str]
    quiet_metrics: str
    quiet_snapshot: dict[str, Any]
    events_until_quiet: list[dict[str, Any]]
    events_after_quiet_scrape: list[dict[str, Any]]
    status_killed: tuple[int, str]
    status_stopped: tuple[int, str]
    summary: dict[str, Any]
    events: list[dict[str, Any]]
    log_files: list[Path]
    log_path: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    log_path = tmp_path_factory.mktemp("logs") / "engine.log"
    threads = EngineThreads(
        log_level="debug",
        idle_sleep_us=20,
        metrics_addr="127.0.0.1:0",
        log_file=str(log_path),
        log_max_mb=LOG_MAX_MB,
        log_keep=1_000,  # keep every file: the test reads the whole session back
    )
    plan = demo.scenario(threads=threads)
    events: list[dict[str, Any]] = []
    with Venue(plan.venue) as venue:
        engine = Engine(plan.engine(venue)).start()
        try:
            addr = engine.metrics_address
            assert addr is not None
            assert wait_for(lambda: scrape(addr, "/health")[0] == 200, 30)
            health_trading = scrape(addr, "/health")
            # Trade until we have fills (the background market takes our quotes).
            assert wait_for(lambda: int(venue.firm_state(OUR_FIRM)["executions"]) >= 2, 30)
            # ... and until the log has been rotated a few times.
            assert wait_for(lambda: len(list(log_path.parent.glob("engine.log.*"))) >= 3, 30)
            live_before = scrape(addr, "/metrics")[1]
            live_snapshot = engine.snapshot()
            live_after = scrape(addr, "/metrics")[1]
            # The venue publishes more market data; the engine keeps trading on it.
            before = int(venue.stats()["itch_messages"])
            assert wait_for(lambda: int(venue.stats()["itch_messages"]) >= before + 50, 30)
            published = (before, int(venue.stats()["itch_messages"]))
            live_later = scrape(addr, "/metrics")[1]
            live_latency = engine.latency()
            status_trading = status_cli(addr)
            status_trading_json = status_cli(addr, "--json")
            assert engine.set_params(SYMBOLS[0], half_spread_ticks=2)
            assert engine.set_limits(SYMBOLS[1], max_position=1_500)
            assert engine.reduce_only(True)
            assert engine.reduce_only(False)
            events += engine.events()
            assert engine.kill()
            health_killed = scrape(addr, "/health")
            # Quiet: every cancel answered, nothing of ours rests, nothing more can fill.
            assert wait_for(
                lambda: all(
                    r["open_orders"] == 0 for r in engine.snapshot()["instruments"].values()
                ),
                10,
            )
            time.sleep(0.2)
            events += engine.events()
            events_until_quiet = list(events)
            quiet_metrics = scrape(addr, "/metrics")[1]
            quiet_snapshot = engine.snapshot()
            events_after = engine.events()
            events += events_after
            status_killed = status_cli(addr)
        finally:
            summary = engine.stop()
    events += summary["events"]
    status_stopped = status_cli(addr)
    files = sorted(
        log_path.parent.glob("engine.log*"),
        key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
    )
    return Session(
        addr=addr,
        health_trading=health_trading,
        live_before=live_before,
        live_snapshot=live_snapshot,
        live_after=live_after,
        live_later=live_later,
        published=published,
        live_latency=live_latency,
        status_trading=status_trading,
        status_trading_json=status_trading_json,
        health_killed=health_killed,
        quiet_metrics=quiet_metrics,
        quiet_snapshot=quiet_snapshot,
        events_until_quiet=events_until_quiet,
        events_after_quiet_scrape=events_after,
        status_killed=status_killed,
        status_stopped=status_stopped,
        summary=summary,
        events=events,
        log_files=files,
        log_path=log_path,
    )


# --------------------------------------------------------------------------- /metrics


def test_metrics_parse_with_the_prometheus_client_parser_with_declared_types(
    session: Session,
) -> None:
    types, samples = parse(session.live_before)
    # The parser names a counter family without its `_total` suffix.
    for family in (
        "quotewire_fills",
        "quotewire_filled_shares",
        "quotewire_orders_sent",
        "quotewire_rejects",
        "quotewire_kills",
        "quotewire_feed_gaps",
        "quotewire_changes",
        "quotewire_events",
        "quotewire_events_dropped",
    ):
        assert types[family] == "counter", family
    for family in (
        "quotewire_up",
        "quotewire_healthy",
        "quotewire_position_shares",
        "quotewire_pnl_realised",
        "quotewire_pnl_unrealised",
        "quotewire_firm_pnl",
        "quotewire_open_orders",
        "quotewire_kill_switch",
        "quotewire_session_ready",
        "quotewire_last_event_age_seconds",
    ):
        assert types[family] == "gauge", family
    assert samples["quotewire_up"] == {frozenset(): 1.0}
    assert samples["quotewire_healthy"] == {frozenset(): 1.0}
    assert set(per_symbol(samples, "quotewire_position_shares")) == set(SYMBOLS)
    sent = {dict(k)["action"] for k in samples["quotewire_orders_sent_total"]}
    assert "new" in sent


def test_fill_counters_are_monotonic_around_a_live_snapshot(session: Session) -> None:
    before = per_symbol(parse(session.live_before)[1], "quotewire_fills_total")
    after = per_symbol(parse(session.live_after)[1], "quotewire_fills_total")
    snap = {s: r["fills"] for s, r in session.live_snapshot["instruments"].items()}
    for symbol in SYMBOLS:
        assert before[symbol] <= snap[symbol] <= after[symbol], symbol
    assert sum(after.values()) >= 1


def test_quiet_engine_metrics_equal_its_snapshot(session: Session) -> None:
    _, samples = parse(session.quiet_metrics)
    snap = session.quiet_snapshot
    inst = snap["instruments"]
    assert sum(r["fills"] for r in inst.values()) >= 1
    for name, key in (
        ("quotewire_position_shares", "position"),
        ("quotewire_fills_total", "fills"),
        ("quotewire_open_orders", "open_orders"),
        ("quotewire_pnl_realised", "realised"),
        ("quotewire_pnl_unrealised", "unrealised"),
        ("quotewire_avg_price", "avg_price"),
    ):
        got = per_symbol(samples, name)
        assert got == pytest.approx({s: float(r[key]) for s, r in inst.items()}), name
    shares = {
        (dict(k)["symbol"], dict(k)["side"]): v
        for k, v in samples["quotewire_filled_shares_total"].items()
    }
    for s, r in inst.items():
        assert shares[(s, "buy")] == r["bought"] and shares[(s, "sell")] == r["sold"]
    firm = {dict(k)["kind"]: v for k, v in samples["quotewire_firm_pnl"].items()}
    assert firm == pytest.approx(
        {
            "realised": float(snap["realised"]),
            "unrealised": float(snap["unrealised"]),
            "total": float(snap["total_pnl"]),
        }
    )
    assert samples["quotewire_kill_switch"] == {frozenset(): 1.0}
    assert samples["quotewire_kill_switch_reason"] == {frozenset({("reason", "manual")}): 1.0}
    assert samples["quotewire_healthy"] == {frozenset(): 0.0}


def test_order_reject_kill_and_change_counters_equal_the_events_seen(session: Session) -> None:
    # Nothing happened between the quiet scrape and the events read right after it, so the
    # scrape counted exactly the events read before it.
    assert session.events_after_quiet_scrape == []
    _, samples = parse(session.quiet_metrics)
    events = session.events_until_quiet
    sent = Counter((e["symbol"], e["action"]) for e in events if e["event"] == "sent")
    got = {
        (dict(k)["symbol"], dict(k)["action"]): v
        for k, v in samples["quotewire_orders_sent_total"].items()
    }
    assert got == dict(sent) and sum(sent.values()) > 0
    rejects = Counter(
        (e["event"].removesuffix("_reject"), str(e["reason"]), e["symbol"])
        for e in events
        if e["event"].endswith("_reject")
    )
    got_rejects = {
        (dict(k)["source"], dict(k)["reason"], dict(k)["symbol"]): v
        for k, v in samples.get("quotewire_rejects_total", {}).items()
    }
    assert got_rejects == dict(rejects)
    assert samples["quotewire_kills_total"] == {frozenset({("reason", "manual")}): 1.0}
    changes = {
        (dict(k)["kind"], dict(k)["source"]): v
        for k, v in samples["quotewire_changes_total"].items()
    }
    assert changes == {("params", "user"): 1, ("limits", "user"): 1, ("reduce_only", "user"): 2}
    kinds = Counter(e["event"] for e in events)
    by_kind: Counter[str] = Counter()
    for k, v in samples["quotewire_events_total"].items():
        by_kind[dict(k)["event"]] += int(v)
    assert by_kind == kinds
    dropped = {dict(k)["stage"]: v for k, v in samples["quotewire_events_dropped_total"].items()}
    assert dropped == {"ring": 0, "backlog": 0, "tap": 0}


def test_scrapes_take_no_events_away_from_the_caller(session: Session) -> None:
    # Scrapes read the core's events before the caller does; the caller still gets every
    # one of them: as many orders as the fast path counted, each once.
    counters = session.summary["counters"]
    assert counters["events_dropped"] == 0
    sent = Counter(e["action"] for e in session.events if e["event"] == "sent")
    assert sent == {
        "new": counters["orders_new"],
        "replace": counters["orders_replace"],
        "cancel": counters["orders_cancel"],
    }
    fills = [e for e in session.events if e["event"] == "fill"]
    assert len(fills) == counters["fills"] > 0
    assert any(e["event"] == "session_ready" for e in session.events)


# --------------------------------------------------------------------------- fast path


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[name][frozenset(labels.items())]


STAGES = ("feed", "quote", "tick_to_trade", "round_trip")
QUANTILES = ("0.5", "0.9", "0.99", "0.999")


def test_fast_path_counters_latency_and_rings_are_served_with_their_types(
    session: Session,
) -> None:
    types, samples = parse(session.live_before)
    for family in (
        "quotewire_feed_datagrams",
        "quotewire_feed_messages",
        "quotewire_requotes",
        "quotewire_venue_reports",
        "quotewire_reports_ignored",
        "quotewire_send_errors",
        "quotewire_controls_applied",
    ):
        assert types[family] == "counter", family
    assert types["quotewire_latency_seconds"] == "summary"
    assert types["quotewire_latency_histogram_seconds"] == "histogram"
    for family in ("quotewire_latency_max_seconds", "quotewire_ring_occupancy"):
        assert types[family] == "gauge", family
    quantiles = {
        (dict(k)["stage"], dict(k)["quantile"]) for k in samples["quotewire_latency_seconds"]
    }
    assert quantiles == {(s, q) for s in STAGES for q in QUANTILES}
    # While trading: data in, orders out, answers back.
    assert one(samples, "quotewire_feed_datagrams_total") > 0
    assert one(samples, "quotewire_feed_messages_total") >= one(
        samples, "quotewire_feed_datagrams_total"
    )
    assert one(samples, "quotewire_venue_reports_total") > 0
    assert one(samples, "quotewire_send_errors_total") == 0


def test_fast_path_counters_and_latency_counts_grow_between_two_scrapes_while_trading(
    session: Session,
) -> None:
    _, a = parse(session.live_after)
    _, b = parse(session.live_later)
    before, after = session.published
    assert after - before >= 50  # the venue published more market data in between
    for name in ("quotewire_feed_datagrams_total", "quotewire_feed_messages_total"):
        assert one(b, name) > one(a, name), name
    for name in ("quotewire_requotes_total", "quotewire_venue_reports_total"):
        assert one(b, name) >= one(a, name), name
    for stage in STAGES:
        n_a = one(a, "quotewire_latency_seconds_count", stage=stage)
        n_b = one(b, "quotewire_latency_seconds_count", stage=stage)
        assert n_b >= n_a, stage
        assert one(b, "quotewire_latency_seconds_sum", stage=stage) >= one(
            a, "quotewire_latency_seconds_sum", stage=stage
        )
    assert one(b, "quotewire_latency_seconds_count", stage="feed") > one(
        a, "quotewire_latency_seconds_count", stage="feed"
    )


def test_every_datagram_is_one_feed_latency_sample_in_each_scrape_and_in_the_summary(
    session: Session,
) -> None:
    # A scrape's snapshot hands the fast path's interval over at the instant its counters
    # are read: the merged feed histogram holds exactly one sample per datagram so far.
    for text in (session.live_before, session.live_after, session.live_later):
        _, samples = parse(text)
        assert one(samples, "quotewire_latency_seconds_count", stage="feed") == one(
            samples, "quotewire_feed_datagrams_total"
        )
    # The stop summary: every interval handed over plus the last one, the whole run.
    summary = session.summary
    assert summary["latency"]["feed"]["count"] == summary["counters"]["datagrams"]
    _, quiet = parse(session.quiet_metrics)
    for stage in STAGES:
        assert summary["latency"][stage]["count"] >= one(
            quiet, "quotewire_latency_seconds_count", stage=stage
        ), stage
    assert summary["latency"]["tick_to_trade"]["count"] > 0
    assert summary["latency"]["round_trip"]["count"] > 0


def test_latency_quantiles_rise_with_q_up_to_the_max_and_buckets_are_cumulative(
    session: Session,
) -> None:
    for text in (session.live_before, session.live_later, session.quiet_metrics):
        _, samples = parse(text)
        for stage in STAGES:
            count = one(samples, "quotewire_latency_seconds_count", stage=stage)
            assert count > 0, stage
            values = [
                one(samples, "quotewire_latency_seconds", stage=stage, quantile=q)
                for q in QUANTILES
            ]
            top = one(samples, "quotewire_latency_max_seconds", stage=stage)
            assert values[0] > 0, stage
            assert values == sorted(values) and values[-1] <= top, (stage, values, top)
            # Round trips on loopback take well under a minute, and over a nanosecond.
            assert 1e-9 <= top < 60, stage
            mean = one(samples, "quotewire_latency_seconds_sum", stage=stage) / count
            assert 0 < mean <= top * 1.001, stage
            buckets = sorted(
                (float(dict(k)["le"]), v)
                for k, v in samples["quotewire_latency_histogram_seconds_bucket"].items()
                if dict(k)["stage"] == stage
            )
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), stage
            assert buckets[-1] == (float("inf"), count), stage
            assert one(samples, "quotewire_latency_histogram_seconds_count", stage=stage) == count


def test_ring_occupancy_is_between_zero_and_capacity(session: Session) -> None:
    for text in (session.live_before, session.live_later, session.quiet_metrics):
        _, samples = parse(text)
        used = {dict(k)["ring"]: v for k, v in samples["quotewire_ring_occupancy"].items()}
        capacity = {dict(k)["ring"]: v for k, v in samples["quotewire_ring_capacity"].items()}
        assert set(used) == set(capacity)
        assert {"events", "control", "snapshots"} <= set(used)
        for ring, n in used.items():
            assert 0 <= n <= capacity[ring], ring
            assert capacity[ring] >= 16, ring


def test_live_latency_and_snapshot_counters_from_python(session: Session) -> None:
    from quotewire.engine import LATENCY_STAGES

    live = session.live_latency
    assert set(live) == set(LATENCY_STAGES)
    _, scraped = parse(session.live_later)
    for stage, h in live.items():
        # Read after the scrape: at least what the scrape saw, at most the whole run.
        assert h["count"] >= one(scraped, "quotewire_latency_seconds_count", stage=stage)
        assert h["count"] <= session.summary["latency"][stage]["count"]
        assert [q for q, _ in h["quantiles"]] == [0.5, 0.9, 0.99, 0.999]
        values = [ns for _, ns in h["quantiles"]]
        assert values == sorted(values) and values[-1] <= h["max_ns"], stage
        assert h["buckets"][-1][1] <= h["count"]
    snap = session.live_snapshot
    assert {"events", "control", "snapshots"} <= set(snap["rings"])
    assert snap["counters"]["datagrams"] > 0
    assert set(snap["counters"]) == set(session.summary["counters"]) - {
        "events_dropped",
        "open_orders",
        "feed_gaps",
        "feed_packets",
    }


# --------------------------------------------------------------------------- /health, status


def test_health_is_200_while_trading_and_503_once_the_kill_switch_fires(
    session: Session,
) -> None:
    import json

    code, body = session.health_trading
    state = json.loads(body)
    assert code == 200
    assert state["status"] == "ok" and state["running"] and state["session"] == "ready"
    assert state["kill_switch"] is None and state["problems"] == []
    assert state["last_event_age_s"] is not None and state["last_event_age_s"] >= 0
    code, body = session.health_killed
    state = json.loads(body)
    assert code == 503
    assert state["status"] == "unhealthy" and state["kill_switch"] == "manual"
    assert state["running"] and any("kill switch" in p for p in state["problems"])


def test_status_command_exits_0_healthy_1_killed_2_stopped(session: Session) -> None:
    code, out = session.status_trading
    assert code == 0, out
    assert "HEALTHY" in out and "session ready" in out and "kill switch armed" in out
    for symbol in SYMBOLS:
        assert symbol in out
    code, out = session.status_killed
    assert code == 1, out
    assert "UNHEALTHY" in out and "kill switch manual" in out
    code, out = session.status_stopped
    assert code == 2, out
    assert "UNREACHABLE" in out


def test_status_json_carries_health_and_metric_samples(session: Session) -> None:
    import json

    code, out = session.status_trading_json
    assert code == 0, out
    doc = json.loads(out)
    assert doc["healthy"] and doc["reachable"] and doc["health"]["session"] == "ready"
    positions = {
        s["labels"]["symbol"]: s["value"] for s in doc["metrics"]["quotewire_position_shares"]
    }
    assert set(positions) == set(SYMBOLS)


def test_unused_status_address_is_unreachable(run_cli: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        code, out, _ = run_cli("status", "--addr", f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 2 and "UNREACHABLE" in out
    code, _, err = run_cli("status", "--addr", "nowhere")
    assert code == 2 and "not host:port" in err


def test_rendered_label_values_with_quotes_and_newlines_parse_back_in_both_parsers() -> None:
    odd = 'a "quoted" back\\slash\nnewline'
    fams = [
        metrics.Family("x_total", "counter", "odd labels", [({"reason": odd, "k": "v"}, 3.0)]),
        metrics.Family("y", "gauge", "values", [({}, -1.5), ({"s": "b"}, float("nan"))]),
    ]
    text = metrics.render(fams)
    _, samples = parse(text)
    assert samples["x_total"] == {frozenset({("reason", odd), ("k", "v")}): 3.0}
    ours = metrics.parse_exposition(text)
    assert ours["x_total"] == [({"reason": odd, "k": "v"}, 3.0)]
    assert ours["y"][0] == ({}, -1.5)


# --------------------------------------------------------------------------- docs


REPO = Path(__file__).resolve().parent.parent


def served_names(session: Session) -> set[str]:
    """Family names, and for summaries and histograms their `_sum`, `_count`, `_bucket`."""
    names: set[str] = set()
    for text in (session.live_before, session.quiet_metrics):
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                names.add(name)
                if kind in ("summary", "histogram"):
                    names |= {f"{name}_sum", f"{name}_count"}
                if kind == "histogram":
                    names.add(f"{name}_bucket")
    return names


def test_grafana_dashboard_queries_only_metrics_the_engine_serves(session: Session) -> None:
    import json
    import re

    dashboard = json.loads((REPO / "docs/grafana/quotewire.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"quotewire_[a-z_]+", e)}
    assert len(used) >= 15
    assert used <= served_names(session), used - served_names(session)
    for family in (
        "quotewire_latency_seconds",
        "quotewire_latency_histogram_seconds_bucket",
        "quotewire_ring_occupancy",
        "quotewire_feed_datagrams_total",
    ):
        assert family in used, family


def test_operations_doc_describes_every_metric_served(session: Session) -> None:
    doc = (REPO / "docs/operations.md").read_text()
    families = {n for n in served_names(session) if not n.endswith(("_sum", "_count", "_bucket"))}
    missing = {name for name in families if f"`{name}`" not in doc}
    assert not missing


# --------------------------------------------------------------------------- logs


def log_lines(files: list[Path]) -> list[dict[str, str]]:
    out = []
    for f in files:
        for line in f.read_text().splitlines():
            out.append(dict(field.split("=", 1) for field in line.split()))
    return out


def identity(e: dict[str, Any]) -> tuple[str, str, str]:
    """What names one event: its timestamp, kind and order id (or instrument)."""
    ident = e.get("cl", e.get("instrument", ""))
    return str(e["ts_ns"]), str(e["event"]), "" if ident is None else str(ident)


def test_every_event_is_logged_once_with_timestamp_level_and_ids(session: Session) -> None:
    counters = session.summary["counters"]
    assert counters["events_dropped"] == 0
    lines = log_lines(session.log_files)
    logged = [identity(line) for line in lines]
    # Across every rotated file, oldest first: each event once, in the engine's order.
    assert logged == [identity(e) for e in session.events]
    assert len(set(logged)) == len(logged)
    kinds = {line["event"] for line in lines}
    for kind in ("sent", "fill", "killed", "params_changed", "limits_changed", "reduce_only"):
        assert kind in kinds, kind
    for line in lines:
        assert line["level"] in ("debug", "info", "warn", "error")
        if line["event"] in ("sent", "fill"):
            assert {"cl", "instrument", "side", "price", "qty"} <= set(line)
    killed = [line for line in lines if line["event"] == "killed"]
    assert len(killed) == 1 and killed[0]["reason"] == "Manual"


def test_log_rotates_by_size_at_line_boundaries(session: Session) -> None:
    files = session.log_files
    assert files[-1] == session.log_path
    assert len(files) >= 3, [f.name for f in files]
    for f in files:
        data = f.read_bytes()
        assert len(data) <= LOG_MAX_BYTES, f.name
        assert data == b"" or data.endswith(b"\n"), f.name


def test_log_relay_keeps_log_keep_files_and_gives_a_long_line_its_own_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.log"
    relay = metrics.LogRelay(path, max_bytes=100, keep=2)
    lines = [f"line={i:03d} {'x' * 20}\n".encode() for i in range(30)]  # 30 bytes each
    long_line = b"long=" + b"y" * 200 + b"\n"
    with open(relay.writer_path, "ab") as w:  # as the core opens its log file
        relay.writer_opened()
        for line in lines:
            w.write(line)
        w.write(long_line)
        w.write(lines[0])
    assert relay.join()
    assert [p.name for p in relay.files()] == ["x.log.2", "x.log.1", "x.log"]
    assert not (tmp_path / "x.log.3").exists()
    assert relay.rotations == 11  # 10 files of 3 lines; before and after the long line
    assert (tmp_path / "x.log.2").read_bytes() == b"".join(lines[27:30])
    assert (tmp_path / "x.log.1").read_bytes() == long_line
    assert path.read_bytes() == lines[0]


# --------------------------------------------------------------------------- configuration


def offline_config(threads: EngineThreads) -> EngineConfig:
    """A valid configuration whose venue nobody runs (for refusals before start)."""
    return EngineConfig(
        instruments=[TradedInstrument("AAPL", 1)],
        feed=FeedEndpoint(bind="127.0.0.1:0"),
        ouch=OuchEndpoint(addr="127.0.0.1:9", username="u", password="p"),
        engine=threads,
    )


def test_metrics_port_in_use_is_refused_before_the_engine_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        engine = Engine(offline_config(EngineThreads(metrics_addr=addr)))
        with pytest.raises(ConfigError, match="metrics_addr"):
            engine.start()
        assert not engine.running


def test_config_refuses_a_bad_metrics_addr_and_rotation_without_a_log_file() -> None:
    with pytest.raises(ConfigError, match=r"engine\.metrics_addr: 'localhost:9464'"):
        offline_config(EngineThreads(metrics_addr="localhost:9464")).validate()
    with pytest.raises(ConfigError, match=r"engine\.log_max_mb: rotation needs engine\.log_file"):
        offline_config(EngineThreads(log_max_mb=10)).validate()
    with pytest.raises(ConfigError, match=r"engine\.log_keep"):
        offline_config(EngineThreads(log_file="x.log", log_max_mb=10, log_keep=0)).validate()


def test_observability_fields_round_trip_toml_and_stay_out_of_the_core_config(
    tmp_path: Path,
) -> None:
    threads = EngineThreads(
        metrics_addr="0.0.0.0:9464", log_file="/var/log/qw.log", log_max_mb=64, log_keep=7
    )
    cfg = offline_config(threads)
    assert EngineConfig.load(cfg.save(tmp_path / "e.toml")) == cfg
    core = cfg.to_core()["engine"]
    assert isinstance(core, dict)
    assert core["log_file"] == "/var/log/qw.log"
    assert not {"metrics_addr", "log_max_mb", "log_keep"} & set(core)
