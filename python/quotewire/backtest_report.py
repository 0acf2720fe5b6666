"""The backtest report: one PNG (PnL, inventory, spread captured, orders and fills) and an
HTML page that embeds it with the summary. Uses matplotlib's Agg backend (no display)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from quotewire.backtesting import Result

__all__ = ["render_png", "write_report"]


def _seconds(ts: np.ndarray[Any, Any], t0: int) -> np.ndarray[Any, Any]:
    return (ts.astype(np.int64) - t0) / 1e9


def render_png(result: Result) -> bytes:
    """The four charts as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pnl, fills = result.pnl, result.fills
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), constrained_layout=True)
    ts = np.asarray(pnl.column("ts_ns")) if pnl.num_rows else np.zeros(0, np.int64)
    t0 = int(ts.min()) if ts.size else 0
    symbols = pnl.column("symbol").to_pylist() if pnl.num_rows else []
    ax = axes[0][0]
    if pnl.num_rows:
        total = np.asarray(pnl.column("realised")) + np.asarray(pnl.column("unrealised"))
        # Firm PnL over time: the latest value of each instrument, summed at each sample.
        latest: dict[str, float] = {}
        xs, ys = [], []
        for t, sym, v in zip(_seconds(ts, t0), symbols, total, strict=True):
            latest[sym] = float(v)
            xs.append(t)
            ys.append(sum(latest.values()))
        ax.plot(xs, ys, color="tab:green", lw=1.2)
    ax.set_title("PnL (realised + marked to mid)")
    ax.set_xlabel("seconds of data")
    ax.grid(alpha=0.3)
    ax = axes[0][1]
    for sym in sorted(set(symbols)):
        mask = np.asarray([s == sym for s in symbols])
        ax.step(
            _seconds(ts[mask], t0),
            np.asarray(pnl.column("position"))[mask],
            where="post",
            label=sym,
            lw=1,
        )
    if symbols:
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Inventory (shares)")
    ax.set_xlabel("seconds of data")
    ax.grid(alpha=0.3)
    ax = axes[1][0]
    if fills.num_rows:
        fts = np.asarray(fills.column("ts_ns"))
        sign = np.where(np.asarray(fills.column("side").to_pylist()) == "B", 1.0, -1.0)
        mid = np.asarray(fills.column("mid"))
        edge = np.where(mid > 0, sign * (mid - np.asarray(fills.column("price"))), 0.0)
        ax.plot(
            _seconds(fts, t0),
            np.cumsum(edge * np.asarray(fills.column("qty"))),
            color="tab:blue",
            lw=1.2,
        )
    ax.set_title("Spread captured (cumulative, vs mid at fill)")
    ax.set_xlabel("seconds of data")
    ax.grid(alpha=0.3)
    ax = axes[1][1]
    s = result.summary
    labels = ["new", "replace", "cancel", "fills"]
    values = [s["orders_new"], s["orders_replace"], s["orders_cancel"], s["fills"]]
    ax.bar(labels, values, color=["tab:gray", "tab:gray", "tab:gray", "tab:orange"])
    ax.set_title(f"Orders and fills (fill ratio {s['fill_ratio']:.1%})")
    ax.grid(alpha=0.3, axis="y")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_report(result: Result, out_dir: Path) -> list[Path]:
    """Write `report.png` and `report.html` (PNG embedded, summary table) into `out_dir`."""
    png = render_png(result)
    png_path = out_dir / "report.png"
    png_path.write_bytes(png)
    rows = []
    for k, v in sorted(result.summary.items()):
        text = f"{v:,.6g}" if isinstance(v, float) else str(v)
        rows.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(text)}</td></tr>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quotewire backtest</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:2em}}
td{{font-family:monospace}}</style></head>
<body><h1>quotewire backtest</h1>
<img id="charts" alt="PnL, inventory, spread captured, orders and fills"
 src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Summary</h2><table id="summary">{"".join(rows)}</table>
<p>Tables: orders.parquet, fills.parquet, pnl.parquet (raw int64 prices with 4 implied
decimals in *_raw columns).</p></body></html>
"""
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return [png_path, html_path]
