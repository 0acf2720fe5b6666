"""The main job: the venue simulator on loopback with a lively background market, and the
trading engine making markets against it over real sockets (ITCH 5.0 over MoldUDP64 in,
OUCH 5.0 over SoupBinTCP 4.0 out), then a summary of what happened.

`quotewire demo --seconds N` runs it; `scenario()` gives the two configurations so tests and
the loopback benchmark run exactly the same thing.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TextIO

from quotewire.engine import (
    Engine,
    EngineConfig,
    EngineThreads,
    FeedEndpoint,
    FirmLimits,
    OuchEndpoint,
    TradedInstrument,
)
from quotewire.venue import (
    Background,
    BackgroundInstrument,
    Faults,
    Instrument,
    ItchConfig,
    OuchAccount,
    OuchConfig,
    Venue,
    VenueConfig,
)

__all__ = ["DEMO_INSTRUMENTS", "Scenario", "demo_traded", "format_summary", "run", "scenario"]

DEMO_INSTRUMENTS: tuple[tuple[str, int, str, str, str], ...] = (
    # symbol, id, start mid, band low, band high
    ("AAPL", 1, "230.00", "150.00", "350.00"),
    ("MSFT", 2, "420.00", "300.00", "600.00"),
    ("SPY", 3, "550.00", "400.00", "700.00"),
)
_USER, _PASSWORD = "mm01", "demo01"


def demo_traded(symbol: str, ident: int, **changes: Any) -> TradedInstrument:
    """How the demo trades one instrument (one tick either side of the skewed mid, 100
    shares, limits for a 2,000-share position), with `changes` to any field."""
    fields: dict[str, Any] = {
        "tick": "0.01",
        "half_spread_ticks": 1,
        "size": 100,
        "skew_ticks": 1,
        "quote_max_position": 1_000,
        "requote_ticks": 1,
        "max_order_qty": 1_000,
        "max_order_notional": "1000000",
        "price_band_bps": 500,
        "max_position": 2_000,
    }
    fields.update(changes)
    return TradedInstrument(symbol, ident, **fields)


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Scenario:
    """The venue's configuration and a function giving the engine's once the venue is up
    (the engine needs the venue's OUCH and retransmission ports)."""

    venue: VenueConfig
    engine: Callable[[Venue], EngineConfig]


def scenario(
    *,
    seed: int = 7,
    flow_rate: float = 200.0,
    drop_ppm: int = 0,
    cancel_on_disconnect: bool = True,
    firm: FirmLimits | None = None,
    instruments: Sequence[TradedInstrument] | None = None,
    threads: EngineThreads | None = None,
    state_file: str | None = None,
) -> Scenario:
    """The demo's venue (three instruments, a background market of `flow_rate` limit
    orders per second each, OUCH for our account, ITCH to a free local port with
    `drop_ppm` injected drops) and engine (quoting all three)."""
    itch_port = free_udp_port()
    venue = VenueConfig(
        instruments=[
            Instrument(symbol, ident, "0.01", low, high, max_order_qty=1_000_000)
            for symbol, ident, _mid, low, high in DEMO_INSTRUMENTS
        ],
        ouch=OuchConfig(
            accounts=[
                OuchAccount(_USER, _PASSWORD, firm=1, cancel_on_disconnect=cancel_on_disconnect)
            ],
            listen="127.0.0.1:0",
            session="DEMO",
            heartbeat_ms=500,
            client_timeout_ms=5_000,
        ),
        itch=ItchConfig(
            destination=f"127.0.0.1:{itch_port}",
            session="DEMOITCH",
            retransmit_bind="127.0.0.1:0",
            history=1 << 20,
            heartbeat_ms=200,
            faults=Faults(drop_ppm=drop_ppm, seed=seed),
        ),
        background=Background(
            instruments=[
                BackgroundInstrument(
                    symbol,
                    mid,
                    volatility_ticks_per_sqrt_s=2.0,
                    limit_rate=flow_rate,
                    market_rate=flow_rate / 8,
                    cancel_rate=flow_rate / 100,
                    mean_size=200,
                )
                for symbol, _ident, mid, _low, _high in DEMO_INSTRUMENTS
            ],
            seed=seed,
            first_firm=1_000,
            firms=4,
        ),
    )
    traded = tuple(
        instruments
        if instruments is not None
        else (demo_traded(symbol, ident) for symbol, ident, *_ in DEMO_INSTRUMENTS)
    )

    def engine(running: Venue) -> EngineConfig:
        ep = running.endpoints
        assert ep.ouch is not None and ep.itch_retransmit is not None
        return EngineConfig(
            instruments=traded,
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
                state_file=state_file,
            ),
            firm=firm
            or FirmLimits(
                max_gross_exposure="5000000",
                max_net_exposure="2000000",
                max_open_orders=100,
                orders_per_sec=2_000,
                burst=200,
                max_drawdown="50000",
            ),
            engine=threads or EngineThreads(log_level="error", idle_sleep_us=0),
        )

    return Scenario(venue=venue, engine=engine)


def run(
    seconds: float = 20.0,
    *,
    out: TextIO = sys.stdout,
    progress_every: float = 5.0,
    setup: Scenario | None = None,
) -> dict[str, Any]:
    """Start the venue, trade against it for `seconds`, stop everything; returns the
    engine's final summary (printing progress to `out`)."""
    plan = setup or scenario()
    with Venue(plan.venue) as venue:
        config = plan.engine(venue)
        print(
            f"== venue up: OUCH {venue.endpoints.ouch}, ITCH to {config.feed.bind}, "
            f"retransmission {venue.endpoints.itch_retransmit}",
            file=out,
        )
        engine = Engine(config).start()
        try:
            start = time.monotonic()
            next_report = start + progress_every
            while (now := time.monotonic()) < start + seconds:
                time.sleep(min(0.2, max(0.0, start + seconds - now)))
                if progress_every > 0 and time.monotonic() >= next_report:
                    next_report += progress_every
                    snap = engine.snapshot()
                    print(_progress_line(time.monotonic() - start, snap), file=out)
        finally:
            summary = engine.stop()
        summary["venue"] = venue.stats()
    summary["seconds"] = seconds
    return summary


def _progress_line(elapsed: float, snap: Mapping[str, Any]) -> str:
    parts = []
    for symbol, rec in snap["instruments"].items():
        parts.append(f"{symbol} pos {rec['position']:+,} fills {rec['fills']:,}")
    kill = f"  KILLED ({snap['killed']})" if snap.get("killed") else ""
    return f"  t+{elapsed:5.1f}s  pnl {snap['total_pnl']:,.2f}  " + "  ".join(parts) + kill


def _money(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def _us(ns: object) -> str:
    return f"{float(ns) / 1000:,.1f}" if isinstance(ns, int | float) else "-"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The demo's closing report: orders, fills, positions and PnL, risk rejections by
    reason, and latency percentiles."""
    c = summary["counters"]
    lines = [
        f"== quotewire traded for {summary.get('seconds', 0):g} s",
        f"  market data   {c['datagrams']:,} datagrams, {c['messages']:,} ITCH messages, "
        f"{c['feed_gaps']:,} gaps",
        f"  orders sent   {c['orders_new'] + c['orders_replace'] + c['orders_cancel']:,} "
        f"(new {c['orders_new']:,}, replace {c['orders_replace']:,}, "
        f"cancel {c['orders_cancel']:,}); open at the end {c['open_orders']:,}",
        f"  fills         {c['fills']:,}; venue rejects {c['venue_rejects']:,}; "
        f"duplicates ignored {c['duplicate_reports']:,}",
        "",
        f"  {'symbol':<8}{'position':>10}{'bought':>10}{'sold':>10}{'fills':>8}"
        f"{'realised':>14}{'unrealised':>14}{'mid':>10}",
    ]
    for symbol, rec in summary["instruments"].items():
        lines.append(
            f"  {symbol:<8}{rec['position']:>+10,}{rec['bought']:>10,}{rec['sold']:>10,}"
            f"{rec['fills']:>8,}{_money(rec['realised']):>14}{_money(rec['unrealised']):>14}"
            f"{_money(rec['mid']) if rec['mid'] is not None else '-':>10}"
        )
    lines.append(
        f"  {'total':<46}{_money(summary['realised']):>14}{_money(summary['unrealised']):>14}"
        f"   PnL {_money(summary['total_pnl'])}"
    )
    rejects = {k: v for k, v in summary["risk_rejects"].items() if v}
    lines.append("")
    lines.append(
        "  risk rejects  "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(rejects.items())) if rejects else "none")
    )
    if summary.get("killed"):
        lines.append(f"  kill switch   engaged ({summary['killed']})")
    lines.append("")
    lines.append(f"  {'latency (us)':<16}{'count':>10}{'p50':>9}{'p99':>9}{'p99.9':>9}{'max':>10}")
    for name, label in (
        ("tick_to_trade", "tick-to-trade"),
        ("round_trip", "order round trip"),
        ("feed", "feed + books"),
        ("quote", "quote decision"),
    ):
        h = summary["latency"][name]
        lines.append(
            f"  {label:<16}{h['count']:>10,}{_us(h['p50_ns']):>9}{_us(h['p99_ns']):>9}"
            f"{_us(h['p999_ns']):>9}{_us(h['max_ns']):>10}"
        )
    return "\n".join(lines)


def with_threads(setup: Scenario, **changes: Any) -> Scenario:
    """`setup` with engine thread settings changed (for tests)."""

    def engine(v: Venue) -> EngineConfig:
        base = setup.engine(v)
        return replace(base, engine=replace(base.engine, **changes))

    return Scenario(venue=setup.venue, engine=engine)
