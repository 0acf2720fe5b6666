"""A quant's day with quotewire, against the built-in venue simulator on loopback.

    .venv/bin/python examples/quant_day.py [--seconds-per-phase 5]

1. Configure: three instruments quoted by the GLFT model (volatility and order-arrival
   intensity estimated online), a two-level ladder, pre-trade limits, and two automatic
   rules compiled into the fast path: widen and halve size when volatility runs hot, pull
   quotes when the feed goes stale.
2. Start the venue and the engine; watch positions, PnL and the model's estimates.
3. Tune live: widen AAPL, tighten the position limit; each change is acknowledged by the
   fast path and journaled with its source.
4. The market heats up (the simulator's volatility is raised): the rule widens the quotes.
5. Kill switch drill, re-arm, stop; the summary, the audit trail and HDR latency logs.

Everything here is the public Python API: `quotewire.engine` and `quotewire.venue`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from quotewire import demo
from quotewire.engine import (
    Engine,
    EngineThreads,
    Rule,
    TradedInstrument,
    write_latency_logs,
)
from quotewire.venue import Venue


def watch(engine: Engine, label: str) -> None:
    snap = engine.snapshot()
    print(f"-- {label}: PnL {snap['total_pnl']:,.2f}, kill switch {snap['killed'] or 'armed'}")
    for symbol, r in snap["instruments"].items():
        m = r["model"]
        quotes = f"{r['bid_price']} / {r['ask_price']}" if r["bid_price"] else "no quotes"
        print(
            f"   {symbol:<5} pos {r['position']:+6,}  {quotes:<17} "
            f"sigma {m['sigma']:5.2f} t/sqrt(s)  A {m['a']:6.1f}/s  k {m['k']:4.2f}/t  "
            f"half spreads {m['bid_half_spread_ticks']:.2f}/{m['ask_half_spread_ticks']:.2f} t"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-phase", type=float, default=5.0)
    args = parser.parse_args()
    phase = args.seconds_per_phase

    # 1. Configure.
    instruments = [
        TradedInstrument(
            symbol,
            ident,
            model="glft",
            gamma=0.05,
            size=100,
            levels=2,
            level_spacing_ticks=1,
            quote_max_position=1_000,
            max_position=2_000,
            max_order_qty=1_000,
            vol_half_life_s=2.0,
        )
        for symbol, ident, *_ in demo.DEMO_INSTRUMENTS
    ]
    rules = [
        Rule("hot-market", metric="volatility", threshold=8.0, widen_ticks=3, size_pct=50),
        Rule("stale-feed", metric="feed_stale", threshold=0.5, pull=True),
    ]
    plan = demo.scenario(
        instruments=instruments, threads=EngineThreads(log_level="error", idle_sleep_us=20)
    )
    with Venue(plan.venue) as venue:
        config = plan.engine(venue)
        from dataclasses import replace

        config = replace(config, rules=rules)
        print(config.to_toml())

        # 2. Start and watch.
        with Engine(config) as engine:
            time.sleep(phase)
            watch(engine, "after warm-up")

            # 3. Tune live.
            assert engine.set_params("AAPL", min_half_spread_ticks=3)
            assert engine.set_limits("AAPL", max_position=500)
            time.sleep(phase)
            watch(engine, "AAPL widened, its position limit lowered")

            # 4. The market heats up.
            venue.set_background("SPY", volatility_ticks_per_sqrt_s=30.0)
            time.sleep(phase)
            watch(engine, "SPY volatility raised 15x")

            # 5. Kill switch drill.
            engine.kill()
            time.sleep(0.2)
            print(f"-- killed: our open orders at the venue: {venue.firm_state(1)['open_orders']}")
            engine.rearm()
            time.sleep(phase / 2)
            events: list[dict[str, Any]] = engine.events()
        summary = engine.summary
        assert summary is not None

    print(demo.format_summary(summary))
    print("\n-- audit trail (changes and their source)")
    for e in events + summary["events"]:
        if e["event"] in ("params_changed", "limits_changed", "rule_changed", "killed", "rearmed"):
            who = e.get("rule_name") or e.get("source", "")
            print(f"   {e['ts_ns'] / 1e9:10.3f}s  {e['event']:<15} {e.get('symbol', ''):<5} {who}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_latency_logs(summary, tmp)
        print(f"\n-- HDR latency logs written: {', '.join(p.name for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
