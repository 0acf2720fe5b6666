#!/usr/bin/env python3
"""Backtest throughput of quotewire against hftbacktest on the same ITCH 5.0 session.

Run it with the project's interpreter from the repository root:

    .venv/bin/python benchmarks/compare_hftbacktest.py [--data FILE] [--json]

What it does, in one process tree:

1. Takes `--data FILE` (an ITCH 5.0 daily file, gzip if it ends in `.gz`) or generates
   one with `quotewire itch generate` (1M messages, 1 instrument, seed 1 by default).
2. Reads it with `quotewire.itch` (project `.venv`) and writes the book-changing messages
   of the busiest instrument, in file order, to an intermediate `.npz` (L3 rows).
3. In a separate venv (`benchmarks/.venv-hft`, created on first use, `pip install
   hftbacktest` there; never in the project's `.venv` nor in CI) a worker (this same file,
   `--hft-worker`) converts the L3 rows with a numba loop into hftbacktest's L2
   market-by-price events (one `DEPTH_EVENT` per price-level change carrying the level's
   new total quantity, one `TRADE_EVENT` per execution), saves them as the `.npz`
   hftbacktest reads, JIT-warms a requoting market maker on a small slice and then times
   the full replay (wall time of the replay loop only).
4. Runs `quotewire bench backtest --data FILE --json` (same file) and reads its JSON line.
5. Prints both counts and rates, and the headline ratio: quotewire's ITCH messages per
   second over hftbacktest's ITCH messages per second (same input file, per input message);
   `--json` prints one JSON line instead.

The two sides run one after the other, never at the same time (the machine has 2 cores);
`--cpu N` pins the whole tree to one core. See benchmarks/README.md for the method.

This file must import neither `quotewire` nor `hftbacktest`/`numba` at module level: the
orchestrator runs in the project's `.venv` (no numba) and the worker in the hftbacktest
venv (no quotewire).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

ROOT: Final = Path(__file__).resolve().parent.parent
BENCH_DIR: Final = ROOT / "benchmarks"
DEFAULT_HFT_VENV: Final = BENCH_DIR / ".venv-hft"
DEFAULT_WORK_DIR: Final = BENCH_DIR / ".cache"
QUOTEWIRE: Final = ROOT / ".venv" / "bin" / "quotewire"
HFTBACKTEST_VERSION: Final = "2.4.4"

# L3 row kinds written by the orchestrator and read by the worker (ITCH tags as bytes).
L3_TAGS: Final = b"AFECXDUP"

# Levels per side compared between the converted L2 stream and quotewire's own book.
BOOK_CHECK_DEPTH: Final = 5

# ITCH prices carry 4 implied decimals.
PRICE_SCALE: Final = 10_000

Array = npt.NDArray[Any]


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class HftParams:
    """Everything the hftbacktest worker needs; passed to it as one JSON argument."""

    l3_path: str
    events_path: str
    tick_raw: int
    half_spread_ticks: int
    skew_ticks: int
    size: int
    max_position: int
    requote_ticks: int
    feed_latency_ns: int
    order_latency_ns: int
    ack_latency_ns: int
    queue_model: str
    depth: str
    warmup_events: int
    repeat: int


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Replay the same ITCH session through quotewire's backtest and "
        "hftbacktest with an equivalent requoting market maker; report events/s and the "
        "ratio quotewire / hftbacktest.",
    )
    p.add_argument("--data", metavar="FILE", help="ITCH 5.0 daily file (default: generate)")
    p.add_argument("--messages", type=_positive, default=1_000_000, help="when generating")
    p.add_argument("--instruments", type=_positive, default=1, help="when generating")
    p.add_argument("--seed", type=_non_negative, default=1, help="when generating")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--repeat", type=_positive, default=3, help="timed runs per side (best)")
    p.add_argument("--cpu", type=_non_negative, help="pin the whole process tree to this CPU")
    g = p.add_argument_group("strategy (quotewire's skew model defaults)")
    g.add_argument("--tick", default="0.01", help="tick size (decimal), default 0.01")
    g.add_argument("--half-spread-ticks", type=_positive, default=1)
    g.add_argument("--skew-ticks", type=_non_negative, default=1)
    g.add_argument("--size", type=_positive, default=100, help="shares per quote")
    g.add_argument("--max-position", type=_positive, default=1_000_000, help="quote limit")
    g.add_argument("--requote-ticks", type=_positive, default=1)
    h = p.add_argument_group("hftbacktest")
    h.add_argument("--feed-latency-ns", type=_non_negative, default=0)
    h.add_argument("--order-latency-ns", type=_non_negative, default=10_000)
    h.add_argument("--ack-latency-ns", type=_non_negative, default=10_000)
    h.add_argument(
        "--queue-model",
        choices=("power3", "risk_adverse"),
        default="power3",
        help="L2 queue-position model: power_prob_queue_model(3.0) (default) or "
        "risk_adverse_queue_model",
    )
    h.add_argument(
        "--depth",
        choices=("roivec", "hashmap"),
        default="roivec",
        help="ROIVectorMarketDepthBacktest (default, hftbacktest's fastest) or "
        "HashMapMarketDepthBacktest",
    )
    h.add_argument("--warmup-events", type=_positive, default=20_000, help="JIT warm-up slice")
    h.add_argument("--hft-venv", type=Path, default=DEFAULT_HFT_VENV)
    h.add_argument("--hft-version", default=HFTBACKTEST_VERSION, help="pip version pin")
    h.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    q = p.add_argument_group("quotewire")
    q.add_argument("--quotewire", type=Path, default=QUOTEWIRE, help="quotewire executable")
    q.add_argument(
        "--quotewire-args",
        default="",
        help="extra arguments for `quotewire bench backtest` (one shell-quoted string)",
    )
    q.add_argument("--skip-quotewire", action="store_true")
    # Internal: run the hftbacktest side (inside the hftbacktest venv).
    p.add_argument("--hft-worker", metavar="PARAMS_JSON", help=argparse.SUPPRESS)
    return p


def _tick_raw(text: str) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        raw = Decimal(text) * PRICE_SCALE
    except InvalidOperation:
        raise SystemExit(f"--tick {text!r} is not a decimal number") from None
    if raw <= 0 or raw != raw.to_integral_value():
        raise SystemExit(f"--tick {text} must be a positive multiple of 0.0001")
    return int(raw)


# --------------------------------------------------------------------------- ITCH -> L3


def _daily_bytes(path: Path) -> bytes:
    """The raw bytes of a daily ITCH file (gunzipped when it ends in `.gz`)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    data = path.read_bytes()
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1"):
        raise SystemExit(f"{path} is a pcap; this benchmark takes an ITCH daily file")
    return data


def _tag_sequence(data: bytes) -> Array:
    """The message tag of every message in file order (daily framing: u16 BE length)."""
    tags = bytearray()
    off, n = 0, len(data)
    while off + 2 < n:
        length = (data[off] << 8) | data[off + 1]
        tags.append(data[off + 2])
        off += 2 + length
    return np.frombuffer(bytes(tags), dtype=np.uint8)


def write_l3(path: Path, out: Path) -> dict[str, Any]:
    """Write the book messages of the busiest instrument of `path`, in file order.

    The `.npz` holds equal-length arrays: `kind` (ITCH tag byte), `ts` (ns since
    midnight), `ref`, `new_ref` (U only), `side` (+1 buy, -1 sell, 0 when the message
    does not carry it), `shares`, `price` (raw, 4 decimals; 0 when not carried).
    """
    try:
        from quotewire import itch
    except ImportError:
        raise SystemExit(
            "quotewire is not importable: run this script with the project's .venv/bin/python"
        ) from None

    arrays = itch.read(path)
    tags = _tag_sequence(_daily_bytes(path))
    names = {t: itch.layouts()[t].name for t in L3_TAGS.decode()}

    n = tags.size
    kind = tags.copy()
    ts = np.zeros(n, dtype=np.int64)
    locate = np.zeros(n, dtype=np.int64)
    ref = np.zeros(n, dtype=np.int64)
    new_ref = np.zeros(n, dtype=np.int64)
    side = np.zeros(n, dtype=np.int8)
    shares = np.zeros(n, dtype=np.int64)
    price = np.zeros(n, dtype=np.int64)
    keep = np.zeros(n, dtype=bool)
    for tag, name in names.items():
        rows = np.flatnonzero(tags == ord(tag))
        arr = arrays[name]
        if rows.size != arr.size:
            raise SystemExit(
                f"{path}: framing scan found {rows.size} {name!r} messages but "
                f"quotewire.itch.read returned {arr.size}"
            )
        if rows.size == 0:
            continue
        keep[rows] = True
        ts[rows] = arr["timestamp"].astype(np.int64)
        locate[rows] = arr["stock_locate"]
        if tag == "U":
            ref[rows] = arr["original_order_ref"].astype(np.int64)
            new_ref[rows] = arr["new_order_ref"].astype(np.int64)
        else:
            ref[rows] = arr["order_ref"].astype(np.int64)
        if tag in "AFP":
            side[rows] = np.where(arr["side"] == b"B", 1, -1)
        if tag in "AFUP":
            shares[rows] = arr["shares"]
            price[rows] = arr["price"]
        elif tag in "EC":
            shares[rows] = arr["executed_shares"]
            if tag == "C":
                price[rows] = arr["execution_price"]
        elif tag == "X":
            shares[rows] = arr["cancelled_shares"]

    counts = np.bincount(locate[keep], minlength=1)
    busiest = int(np.argmax(counts)) if counts.size else 0
    sel = keep & (locate == busiest)
    directory = arrays["stock_directory"]
    named = directory["stock"][directory["stock_locate"] == busiest]
    symbol = bytes(named[0]).decode("ascii").strip() if named.size else ""
    np.savez(
        out,
        kind=kind[sel],
        ts=ts[sel],
        ref=ref[sel],
        new_ref=new_ref[sel],
        side=side[sel],
        shares=shares[sel],
        price=price[sel],
    )
    return {
        "itch_messages": int(n),
        "locate": busiest,
        "symbol": symbol,
        "book_messages": int(sel.sum()),
        # Every message but other instruments' book messages: what the L2 stream covers.
        "covered_messages": int(n - keep.sum() + sel.sum()),
        "instruments": int(np.count_nonzero(counts)),
    }


# --------------------------------------------------------------------------- hftbacktest


def _hft_kernels() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The numba L3 -> L2 converter and the requoting market maker (worker side only)."""
    from hftbacktest import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        BUY_EVENT,
        DEPTH_EVENT,
        EXCH_EVENT,
        GTX,
        LIMIT,
        LOCAL_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
    )
    from numba import njit  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from numba import types as nbt  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from numba.typed import Dict  # type: ignore[import-not-found, import-untyped, unused-ignore]

    jit: Callable[[Callable[..., Any]], Callable[..., Any]] = njit(cache=False)

    flags = EXCH_EVENT | LOCAL_EVENT
    depth_bid = flags | DEPTH_EVENT | BUY_EVENT
    depth_ask = flags | DEPTH_EVENT | SELL_EVENT
    trade_buy = flags | TRADE_EVENT | BUY_EVENT  # buyer-initiated: hit a resting ask
    trade_sell = flags | TRADE_EVENT | SELL_EVENT
    scale = float(PRICE_SCALE)

    @jit
    def _level(level: Any, key: int) -> int:
        # Not `level.get(key, 0)`: numba types that as Optional[int64].
        return level[key] if key in level else 0  # noqa: SIM401

    @jit
    def convert(
        kind: Array,
        ts: Array,
        ref: Array,
        new_ref: Array,
        side: Array,
        shares: Array,
        price: Array,
        feed_latency: int,
        out: Array,
    ) -> tuple[int, int, int]:
        """Fill `out` with L2 events; returns (events, trades, unknown-order messages)."""
        slot_of = Dict.empty(key_type=nbt.int64, value_type=nbt.int64)
        level = Dict.empty(key_type=nbt.int64, value_type=nbt.int64)
        n = kind.size
        o_side = np.zeros(n, np.int64)
        o_px = np.zeros(n, np.int64)
        o_qty = np.zeros(n, np.int64)
        next_slot = 0
        k = 0
        trades = 0
        unknown = 0

        for i in range(n):
            t = kind[i]
            exch = ts[i]
            local = exch + feed_latency
            if t == 65 or t == 70:  # A, F
                s = next_slot
                next_slot += 1
                slot_of[ref[i]] = s
                o_side[s] = side[i]
                o_px[s] = price[i]
                o_qty[s] = shares[i]
                key = price[i] * 2 + (1 if side[i] > 0 else 0)
                q = _level(level, key) + shares[i]
                level[key] = q
                out[k].ev = depth_bid if side[i] > 0 else depth_ask
                out[k].exch_ts = exch
                out[k].local_ts = local
                out[k].px = price[i] / scale
                out[k].qty = float(q)
                k += 1
                continue
            if t == 80:  # P: a non-displayed trade, no book change
                out[k].ev = trade_sell if side[i] > 0 else trade_buy
                out[k].exch_ts = exch
                out[k].local_ts = local
                out[k].px = price[i] / scale
                out[k].qty = float(shares[i])
                k += 1
                trades += 1
                continue
            if ref[i] not in slot_of:
                unknown += 1  # not added in this file (or another instrument's)
                continue
            s = slot_of[ref[i]]
            bid = o_side[s] > 0
            key = o_px[s] * 2 + (1 if bid else 0)
            if t == 69 or t == 67:  # E, C: trade, then the level shrinks
                dq = min(shares[i], o_qty[s])
                px = price[i] if t == 67 else o_px[s]
                out[k].ev = trade_sell if bid else trade_buy
                out[k].exch_ts = exch
                out[k].local_ts = local
                out[k].px = px / scale
                out[k].qty = float(dq)
                k += 1
                trades += 1
            elif t == 88:  # X
                dq = min(shares[i], o_qty[s])
            else:  # D, U: the whole remainder leaves the old level
                dq = o_qty[s]
            o_qty[s] -= dq
            q = max(_level(level, key) - dq, 0)
            if q > 0:
                level[key] = q
            elif key in level:
                del level[key]
            if o_qty[s] == 0 or t == 68 or t == 85:
                del slot_of[ref[i]]
            if t == 85:  # U: the new order joins its (possibly same) level
                s2 = next_slot
                next_slot += 1
                slot_of[new_ref[i]] = s2
                o_side[s2] = o_side[s]
                o_px[s2] = price[i]
                o_qty[s2] = shares[i]
                key2 = price[i] * 2 + (1 if bid else 0)
                q2 = _level(level, key2) + shares[i]
                level[key2] = q2
                if key2 != key:
                    out[k].ev = depth_bid if bid else depth_ask
                    out[k].exch_ts = exch
                    out[k].local_ts = local
                    out[k].px = o_px[s] / scale
                    out[k].qty = float(q)
                    k += 1
                    q = q2
                else:
                    q = q2
                out[k].ev = depth_bid if bid else depth_ask
                out[k].exch_ts = exch
                out[k].local_ts = local
                out[k].px = price[i] / scale
                out[k].qty = float(q)
                k += 1
                continue
            out[k].ev = depth_bid if bid else depth_ask
            out[k].exch_ts = exch
            out[k].local_ts = local
            out[k].px = o_px[s] / scale
            out[k].qty = float(q)
            k += 1
        return k, trades, unknown

    @jit
    def _trunc_div(a: int, b: int) -> int:
        return a // b if a >= 0 else -((-a) // b)

    @jit
    def market_maker(
        hbt: Any,
        tick_raw: int,
        half_spread_ticks: int,
        skew_ticks: int,
        size: int,
        max_position: int,
        requote_ticks: int,
    ) -> Array:
        """quotewire's skew quoter, requoted (cancel + new) on every feed event.

        Returns [feed steps, orders submitted, cancels sent, final position, error code].
        """
        stats = np.zeros(5, np.int64)
        tick_size = hbt.depth(0).tick_size
        big = 1 << 62
        next_id = 1
        bid_id = 0
        ask_id = 0
        bid_tick = 0
        ask_tick = 0
        bid_qty = 0
        ask_qty = 0
        while True:
            rc = hbt.wait_next_feed(False, 3_600_000_000_000)
            if rc == 1:
                break
            if rc != 2 and rc != 0:
                stats[4] = rc
                break
            stats[0] += 1
            hbt.clear_inactive_orders(0)
            orders = hbt.orders(0)
            if bid_id != 0 and not orders.__contains__(bid_id):
                bid_id = 0  # filled, or expired (post-only would have crossed)
            if ask_id != 0 and not orders.__contains__(ask_id):
                ask_id = 0
            depth = hbt.depth(0)
            bb = depth.best_bid_tick
            ba = depth.best_ask_tick
            want_bid = 0
            want_ask = 0
            tb = 0
            ta = 0
            if bb > -big and ba < big:
                q = round(hbt.position(0))
                # Same integer arithmetic as quotewire's SkewQuoter, in raw price units.
                r2 = (bb + ba) * tick_raw - _trunc_div(2 * q * skew_ticks * tick_raw, size)
                half2 = 2 * half_spread_ticks * tick_raw
                tb = ((r2 - half2) // 2) // tick_raw
                ta = -((-((r2 + half2 + 1) // 2)) // tick_raw)
                tb = min(tb, ba - 1)
                ta = max(ta, bb + 1)
                want_bid = max(min(size, max_position - q), 0) if tb > 0 else 0
                want_ask = max(min(size, max_position + q), 0) if ta > 0 else 0
            if want_bid > 0:
                if bid_id == 0 or abs(tb - bid_tick) >= requote_ticks or want_bid != bid_qty:
                    if bid_id != 0:
                        hbt.cancel(0, bid_id, False)
                        stats[2] += 1
                    bid_id = next_id
                    next_id += 1
                    bid_tick = tb
                    bid_qty = want_bid
                    hbt.submit_buy_order(
                        0, bid_id, tb * tick_size, float(want_bid), GTX, LIMIT, False
                    )
                    stats[1] += 1
            elif bid_id != 0:
                hbt.cancel(0, bid_id, False)
                stats[2] += 1
                bid_id = 0
            if want_ask > 0:
                if ask_id == 0 or abs(ta - ask_tick) >= requote_ticks or want_ask != ask_qty:
                    if ask_id != 0:
                        hbt.cancel(0, ask_id, False)
                        stats[2] += 1
                    ask_id = next_id
                    next_id += 1
                    ask_tick = ta
                    ask_qty = want_ask
                    hbt.submit_sell_order(
                        0, ask_id, ta * tick_size, float(want_ask), GTX, LIMIT, False
                    )
                    stats[1] += 1
            elif ask_id != 0:
                hbt.cancel(0, ask_id, False)
                stats[2] += 1
                ask_id = 0
        stats[3] = round(hbt.position(0))
        return stats

    return convert, market_maker


def _hft_backtest(events: Array, p: HftParams) -> Any:
    from hftbacktest import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        BacktestAsset,
        HashMapMarketDepthBacktest,
        ROIVectorMarketDepthBacktest,
    )

    tick = p.tick_raw / PRICE_SCALE
    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(p.order_latency_ns, p.ack_latency_ns)
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(tick)
        .lot_size(1.0)
    )
    if p.queue_model == "power3":
        asset = asset.power_prob_queue_model(3.0)
    else:
        asset = asset.risk_adverse_queue_model()
    if p.depth == "roivec":
        asset = asset.roi_lb(float(events["px"].min()) - 100 * tick)
        asset = asset.roi_ub(float(events["px"].max()) + 100 * tick)
        return ROIVectorMarketDepthBacktest([asset])
    return HashMapMarketDepthBacktest([asset])


def _final_levels(events: Array, depth: int) -> dict[str, list[list[int]]]:
    """The best `depth` levels per side at the end of an L2 event stream, as
    `[price_raw, qty]` (the last depth event of each price is its final quantity)."""
    from hftbacktest import BUY_EVENT, DEPTH_EVENT  # type: ignore[import-not-found, import-untyped, unused-ignore]

    d = events[(events["ev"] & 0xFF) == DEPTH_EVENT]
    bid = (d["ev"] & BUY_EVENT) != 0
    px = np.rint(d["px"] * PRICE_SCALE).astype(np.int64)
    _, first_in_reversed = np.unique((px * 2 + bid)[::-1], return_index=True)
    last = d.size - 1 - first_in_reversed
    qty = d["qty"][last].astype(np.int64)
    px, bid = px[last], bid[last]
    live = qty > 0
    bids = sorted(zip(px[live & bid].tolist(), qty[live & bid].tolist(), strict=True))
    asks = sorted(zip(px[live & ~bid].tolist(), qty[live & ~bid].tolist(), strict=True))
    return {
        "bids": [list(lv) for lv in bids[::-1][:depth]],
        "asks": [list(lv) for lv in asks[:depth]],
    }


def hft_worker(p: HftParams) -> dict[str, Any]:
    """Convert, warm up, and time hftbacktest (runs inside the hftbacktest venv)."""
    import hftbacktest  # type: ignore[import-not-found, import-untyped, unused-ignore]
    import numba  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from hftbacktest.types import event_dtype  # type: ignore[import-not-found, import-untyped, unused-ignore]

    convert, market_maker = _hft_kernels()
    l3 = np.load(p.l3_path)
    cols = [l3[c] for c in ("kind", "ts", "ref", "new_ref", "side", "shares", "price")]
    # At most two events per message (U across levels; E/C trade + depth).
    out = np.zeros(2 * cols[0].size + 1, dtype=event_dtype)
    t0 = time.perf_counter()
    n_events, n_trades, unknown = convert(*cols, p.feed_latency_ns, out)
    convert_s = time.perf_counter() - t0
    events = np.ascontiguousarray(out[:n_events])
    np.savez(p.events_path, data=events)
    events = np.load(p.events_path)["data"]  # exactly what hftbacktest reads from the file

    args = (
        p.tick_raw,
        p.half_spread_ticks,
        p.skew_ticks,
        p.size,
        p.max_position,
        p.requote_ticks,
    )
    warm = np.ascontiguousarray(events[: min(p.warmup_events, events.size)])
    hbt = _hft_backtest(warm, p)
    t0 = time.perf_counter()
    market_maker(hbt, *args)  # JIT compile + warm-up, not timed
    jit_s = time.perf_counter() - t0
    hbt.close()

    runs: list[float] = []
    stats: Array = np.zeros(5, np.int64)
    num_trades = 0
    for _ in range(p.repeat):
        hbt = _hft_backtest(events, p)
        t0 = time.perf_counter_ns()
        stats = market_maker(hbt, *args)
        elapsed = time.perf_counter_ns() - t0
        num_trades = int(hbt.state_values(0).num_trades)
        hbt.close()
        if stats[4] != 0:
            raise SystemExit(f"hftbacktest returned error code {int(stats[4])}")
        runs.append(elapsed / 1e9)
    best = min(runs)
    return {
        "version": hftbacktest.__version__,
        "numba": numba.__version__,
        "events": int(n_events),
        "depth_events": int(n_events - n_trades),
        "trade_events": int(n_trades),
        "unknown_order_messages": int(unknown),
        "feed_steps": int(stats[0]),
        "orders_submitted": int(stats[1]),
        "cancels": int(stats[2]),
        "fills": num_trades,
        "final_position": int(stats[3]),
        "seconds": best,
        "runs_s": runs,
        "median_s": statistics.median(runs),
        "per_sec": n_events / best,
        "ns_per_event": best * 1e9 / n_events,
        "convert_s": convert_s,
        "final_book": _final_levels(events, BOOK_CHECK_DEPTH),
        "jit_s": jit_s,
        "queue_model": p.queue_model,
        "depth": p.depth,
    }


def ensure_hft_venv(venv: Path, version: str, quiet: bool) -> Path:
    """The hftbacktest venv's python; created and `pip install`ed on first use."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import hftbacktest, numba; print(hftbacktest.__version__)"]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return python
    out = subprocess.DEVNULL if quiet else sys.stderr
    if not python.exists():
        _note(f"creating {venv}", quiet)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, stdout=out)
    _note(f"pip install hftbacktest=={version} into {venv}", quiet)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"hftbacktest=={version}"],
        check=True,
        stdout=out,
    )
    subprocess.run(check, check=True, capture_output=True)
    return python


def check_book(data: Path, symbol: str, converted: dict[str, list[list[int]]]) -> None:
    """Fail unless the converted stream ends with the book quotewire replays from ITCH."""
    from quotewire import itch

    book = itch.book(data, symbol, depth=BOOK_CHECK_DEPTH)
    expected = {
        "bids": [[lv.price_raw, lv.qty] for lv in book.bids],
        "asks": [[lv.price_raw, lv.qty] for lv in book.asks],
    }
    if expected != converted:
        raise SystemExit(
            f"L2 conversion disagrees with quotewire.itch.book({symbol!r}) at the end of the "
            f"session:\n  quotewire   {expected}\n  converted   {converted}"
        )


# --------------------------------------------------------------------------- quotewire


def run_quotewire(exe: Path, data: Path, extra: Sequence[str], repeat: int) -> dict[str, Any]:
    """Best of `repeat` runs of `quotewire bench backtest --data FILE --json`.

    Returns `{"available": False, "reason": ...}` while the command does not exist.
    """
    if not exe.exists():
        return {"available": False, "reason": f"{exe} not found (build the project .venv)"}
    probe = subprocess.run(
        [str(exe), "bench", "backtest", "--help"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return {
            "available": False,
            "reason": "`quotewire bench backtest` does not exist in this build yet",
        }
    results: list[dict[str, Any]] = []
    cmd = [str(exe), "bench", "backtest", "--data", str(data), "--json", *extra]
    for _ in range(repeat):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return {
                "available": False,
                "reason": f"`{shlex.join(cmd)}` exited {done.returncode}: "
                f"{done.stderr.strip()[-500:]}",
            }
        line = _last_json_line(done.stdout)
        if line is None or "per_sec" not in line or "count" not in line:
            return {
                "available": False,
                "reason": "`quotewire bench backtest --json` printed no JSON line with "
                "`count` and `per_sec`",
            }
        results.append(line)
    best = max(results, key=lambda r: float(r["per_sec"]))
    return {
        "available": True,
        "command": shlex.join(cmd),
        "count": int(best["count"]),
        "per_sec": float(best["per_sec"]),
        "runs_per_sec": [float(r["per_sec"]) for r in results],
        "result": best,
    }


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


# --------------------------------------------------------------------------- orchestration


def _note(text: str, quiet: bool) -> None:
    if not quiet:
        print(f"[compare_hftbacktest] {text}", file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the orchestrator, or (`--hft-worker`) the hftbacktest side."""
    args = _parser().parse_args(argv)
    if args.hft_worker is not None:
        params = HftParams(**json.loads(args.hft_worker))
        print(json.dumps(hft_worker(params)))
        return 0

    quiet = args.json
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # inherited by both children
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)

    if args.data is not None:
        data = Path(args.data).resolve()
        if not data.is_file():
            raise SystemExit(f"no such file: {data}")
        generate_cmd = None
    else:
        data = work / f"itch_{args.messages}m_{args.instruments}i_s{args.seed}.itch"
        generate_cmd = [
            str(args.quotewire),
            "itch",
            "generate",
            "--out",
            str(data),
            "--format",
            "daily",
            "--messages",
            str(args.messages),
            "--instruments",
            str(args.instruments),
            "--seed",
            str(args.seed),
        ]
        if not data.is_file():
            _note(shlex.join(generate_cmd), quiet)
            subprocess.run(generate_cmd, check=True, stdout=subprocess.DEVNULL)

    _note(f"reading {data} with quotewire.itch", quiet)
    l3_path = work / f"{data.name}.l3.npz"
    itch_info = write_l3(data, l3_path)

    hft_python = ensure_hft_venv(args.hft_venv, args.hft_version, quiet)
    params = HftParams(
        l3_path=str(l3_path),
        events_path=str(work / f"{data.name}.hftbacktest.npz"),
        tick_raw=_tick_raw(args.tick),
        half_spread_ticks=args.half_spread_ticks,
        skew_ticks=args.skew_ticks,
        size=args.size,
        max_position=args.max_position,
        requote_ticks=args.requote_ticks,
        feed_latency_ns=args.feed_latency_ns,
        order_latency_ns=args.order_latency_ns,
        ack_latency_ns=args.ack_latency_ns,
        queue_model=args.queue_model,
        depth=args.depth,
        warmup_events=args.warmup_events,
        repeat=args.repeat,
    )
    _note(f"hftbacktest: convert, JIT, {args.repeat} timed run(s)", quiet)
    worker = subprocess.run(
        [
            str(hft_python),
            str(Path(__file__).resolve()),
            "--hft-worker",
            json.dumps(asdict(params)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if worker.returncode != 0:
        sys.stderr.write(worker.stderr)
        raise SystemExit(f"hftbacktest worker failed (exit {worker.returncode})")
    hft = _last_json_line(worker.stdout)
    if hft is None:
        raise SystemExit("hftbacktest worker printed no JSON line")
    check_book(data, itch_info["symbol"], hft.pop("final_book"))
    hft["itch_messages"] = itch_info["covered_messages"]
    hft["itch_per_sec"] = itch_info["covered_messages"] / hft["seconds"]
    like_for_like = itch_info["instruments"] == 1
    if not like_for_like:
        _note(
            f"{data} has {itch_info['instruments']} instruments; hftbacktest replays only "
            f"locate {itch_info['locate']}, so the ratio is not like for like",
            quiet=False,
        )

    if args.skip_quotewire:
        qw: dict[str, Any] = {"available": False, "reason": "--skip-quotewire"}
    else:
        _note(f"quotewire: bench backtest, {args.repeat} run(s)", quiet)
        qw = run_quotewire(args.quotewire, data, shlex.split(args.quotewire_args), args.repeat)

    ratio = qw["per_sec"] / hft["itch_per_sec"] if qw.get("available") else None
    report: dict[str, Any] = {
        "bench": "compare_hftbacktest",
        "data": str(data),
        "generate": None if generate_cmd is None else shlex.join(generate_cmd),
        "itch": itch_info,
        "strategy": {
            "model": "skew",
            "tick": args.tick,
            "half_spread_ticks": args.half_spread_ticks,
            "skew_ticks": args.skew_ticks,
            "size": args.size,
            "max_position": args.max_position,
            "requote_ticks": args.requote_ticks,
        },
        "latency_ns": {
            "feed": args.feed_latency_ns,
            "order": args.order_latency_ns,
            "ack": args.ack_latency_ns,
        },
        "hftbacktest": hft,
        "quotewire": qw,
        "ratio": ratio,
        "ratio_basis": "ITCH messages/s of quotewire over ITCH messages/s of hftbacktest",
        "like_for_like": like_for_like,
        "machine": _machine(),
        "cpu_pinned": args.cpu,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(_render(report))
    return 0


def _render(r: dict[str, Any]) -> str:
    h, q, it = r["hftbacktest"], r["quotewire"], r["itch"]
    lines = [
        f"data          {r['data']}",
        f"              {it['itch_messages']:,} ITCH messages, instrument locate "
        f"{it['locate']}: {it['book_messages']:,} book messages",
        f"machine       {r['machine']['cpu']} ({r['machine']['cores']} cores), "
        f"pinned to CPU {r['cpu_pinned']}"
        if r["cpu_pinned"] is not None
        else f"machine       {r['machine']['cpu']} ({r['machine']['cores']} cores)",
        f"hftbacktest   {h['version']} (numba {h['numba']}), {h['depth']} depth, "
        f"{h['queue_model']} queue model",
        f"  L2 events   {h['events']:,} ({h['depth_events']:,} depth, "
        f"{h['trade_events']:,} trade); {h['feed_steps']:,} strategy steps",
        f"  orders      {h['orders_submitted']:,} submitted, {h['cancels']:,} cancels, "
        f"{h['fills']:,} fills, final position {h['final_position']}",
        f"  replay      {h['seconds'] * 1e3:.1f} ms (best of {len(h['runs_s'])}): "
        f"{h['per_sec'] / 1e6:.2f} M L2 events/s ({h['ns_per_event']:.0f} ns/event), "
        f"{h['itch_per_sec'] / 1e6:.2f} M ITCH messages/s "
        f"({h['itch_messages']:,} messages covered)",
    ]
    if q.get("available"):
        lines += [
            f"quotewire     {q['count']:,} ITCH messages: {q['per_sec'] / 1e6:.2f} M messages/s "
            f"({1e9 / q['per_sec']:.0f} ns/message)",
            f"ratio         {r['ratio']:.2f}x  (quotewire / hftbacktest, ITCH messages/s "
            "on the same file)"
            + ("" if r["like_for_like"] else "  NOT like for like: several instruments"),
        ]
    else:
        lines += [
            f"quotewire     not measured: {q['reason']}",
            "ratio         n/a",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
