"""The trading engine: a typed configuration and the running engine.

The fast path (feed -> books -> quoting model -> pre-trade risk -> OMS -> OUCH gateway) runs
in the compiled core on its own busy-polling thread, optionally pinned to an isolated core;
this module describes it, checks the description once and drives it::

    from quotewire.engine import Engine, EngineConfig

    config = EngineConfig.load("examples/engine.toml")
    with Engine(config) as engine:          # started on entry; stopped (quotes cancelled) on exit
        engine.set_params("AAPL", half_spread_ticks=3)   # applied by the fast path, acked
        engine.set_limits("AAPL", max_position=2_000)
        print(engine.snapshot())            # positions, PnL, quotes, kill switch
        engine.kill()                       # cancels everything, blocks new orders
        engine.rearm()
    summary = engine.summary                # counters, latency percentiles, final state

Prices are in currency units (`Decimal`, `str` or `int`, never `float`) and reach the core
as integers with four implied decimals; notional and PnL limits likewise. Every refusal
names the field path, the value and what is allowed, before anything starts.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from quotewire import _core, metrics
from quotewire.errors import ConfigError, QuotewireError
from quotewire.venue import (
    PriceLike,
    _address,
    _ascii_text,
    _int_in,
    _is_bool,
    _toml_table,
    load_toml,
    price_to_raw,
    raw_to_price,
)

__all__ = [
    "FEED_TRANSPORTS",
    "LOG_LEVELS",
    "METRICS",
    "MODELS",
    "DpdkPort",
    "Engine",
    "EngineConfig",
    "EngineThreads",
    "FeedEndpoint",
    "FirmLimits",
    "FixEndpoint",
    "OuchEndpoint",
    "Rule",
    "TradedInstrument",
    "write_latency_logs",
]

LOG_LEVELS: Final = ("debug", "info", "warn", "error")
_U16: Final = 2**16 - 1
_U32: Final = 2**32 - 1
_I63: Final = 2**63 - 1
_TICKS: Final = 100_000


MODELS: Final = ("skew", "avellaneda_stoikov", "glft")
"""The quoting models: symmetric skew, Avellaneda-Stoikov (2008), GLFT (Gueant, Lehalle and
Fernandez-Tapia, 2013)."""

METRICS: Final = ("volatility", "spread_ticks", "imbalance", "abs_position", "feed_stale")
"""What a `Rule` can watch."""


def _float_in(path: str, value: object, low: float, high: float) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: {value!r} is not a number"]
    if not math.isfinite(value) or not low <= value <= high:
        return [f"{path}: {value!r} is not in {low:g}..{high:g}"]
    return []


def _price_field(path: str, value: object, *, positive: bool = True) -> list[str]:
    try:
        raw = price_to_raw(value, path)  # type: ignore[arg-type]
    except ConfigError as e:
        return [str(e)]
    if positive and raw <= 0:
        return [f"{path}: {value} is not > 0"]
    if raw < 0:
        return [f"{path}: {value} is not >= 0"]
    return []


@dataclass(frozen=True)
class TradedInstrument:
    """One quoted instrument: identity (the feed's stock locate `id` and the venue
    `symbol`), the quoting model's parameters and its pre-trade risk limits.

    * `half_spread_ticks`: quote distance from the inventory-skewed mid (1..100000);
      `size`: shares per quote; `skew_ticks`: ticks the quotes move per `size` shares of
      inventory; `quote_max_position`: the quoter stops adding beyond this position;
      `requote_ticks`: least price change (ticks) that moves a resting quote.
    * `model`: "skew" (the above), "avellaneda_stoikov" or "glft". AS and GLFT take
      `gamma` (risk aversion, per tick), `sigma` (volatility, ticks per sqrt second), `a`
      and `k` (order-arrival intensity A*exp(-k*delta), per second and per tick); a value
      left at None is estimated online from the feed (volatility: EWMA of mid returns with
      `vol_half_life_s`; intensity: fitted from trades at distance from the mid with
      `intensity_half_life_s`). AS's horizon: `horizon_s` seconds (a rolling finite
      horizon), or None for the infinite-horizon closed form. Every model's half spread is
      at least `min_half_spread_ticks`.
    * Ladder: `levels` per side (1..4), `level_spacing_ticks` apart, each further level's
      size `level_size_step_pct` percent larger. Quotes are post-only.
    * Limits: `max_order_qty` (shares), `max_order_notional` (currency), `price_band_bps`
      (distance from the mid, basis points), `max_position` (shares, worst case counting
      open orders).
    """

    symbol: str
    id: int
    tick: PriceLike = "0.01"
    half_spread_ticks: int = 2
    size: int = 100
    skew_ticks: int = 1
    quote_max_position: int = 1_000
    requote_ticks: int = 1
    max_order_qty: int = 10_000
    max_order_notional: PriceLike = "1000000"
    price_band_bps: int = 500
    max_position: int = 5_000
    model: str = "skew"
    gamma: float = 0.1
    horizon_s: float | None = None
    sigma: float | None = None
    a: float | None = None
    k: float | None = None
    min_half_spread_ticks: int = 1
    levels: int = 1
    level_spacing_ticks: int = 1
    level_size_step_pct: int = 0
    vol_half_life_s: float = 30.0
    intensity_half_life_s: float = 60.0

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out = []
        if self.model not in MODELS:
            out.append(f"{path}.model: {self.model!r} is not one of {', '.join(MODELS)}")
        out += _float_in(f"{path}.gamma", self.gamma, 1e-9, 1e6)
        for name in ("sigma", "a", "k"):
            value = getattr(self, name)
            if value is not None:
                out += _float_in(f"{path}.{name}", value, 1e-12, 1e9)
        if self.horizon_s is not None:
            out += _float_in(f"{path}.horizon_s", self.horizon_s, 1e-6, 1e7)
        out += _float_in(f"{path}.vol_half_life_s", self.vol_half_life_s, 1e-3, 1e6)
        out += _float_in(f"{path}.intensity_half_life_s", self.intensity_half_life_s, 1e-3, 1e6)
        return [
            *out,
            *_int_in(f"{path}.min_half_spread_ticks", self.min_half_spread_ticks, 0, _TICKS),
            *_int_in(f"{path}.levels", self.levels, 1, 4),
            *_int_in(f"{path}.level_spacing_ticks", self.level_spacing_ticks, 1, _TICKS),
            *_int_in(f"{path}.level_size_step_pct", self.level_size_step_pct, 0, 1_000),
            *_ascii_text(f"{path}.symbol", self.symbol, 1, 8),
            *_int_in(f"{path}.id", self.id, 1, _U16),
            *_price_field(f"{path}.tick", self.tick),
            *_int_in(f"{path}.half_spread_ticks", self.half_spread_ticks, 1, _TICKS),
            *_int_in(f"{path}.size", self.size, 1, _U32),
            *_int_in(f"{path}.skew_ticks", self.skew_ticks, 0, _TICKS),
            *_int_in(f"{path}.quote_max_position", self.quote_max_position, 1, 2**61),
            *_int_in(f"{path}.requote_ticks", self.requote_ticks, 1, _TICKS),
            *_int_in(f"{path}.max_order_qty", self.max_order_qty, 1, _U32),
            *_price_field(f"{path}.max_order_notional", self.max_order_notional),
            *_int_in(f"{path}.price_band_bps", self.price_band_bps, 1, 100_000),
            *_int_in(f"{path}.max_position", self.max_position, 1, 2**61),
        ]

    def _to_core(self) -> dict[str, object]:
        d: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["tick"] = price_to_raw(self.tick, "tick")
        # Notional limits are raw price units times shares.
        d["max_order_notional"] = price_to_raw(self.max_order_notional, "max_order_notional")
        return d


@dataclass(frozen=True)
class FirmLimits:
    """Firm-wide limits: exposures and drawdown in currency units, open orders, and the
    order-rate throttle (`orders_per_sec` sustained, `burst` at once). `max_drawdown` 0
    disables the drawdown kill."""

    max_gross_exposure: PriceLike = "10000000"
    max_net_exposure: PriceLike = "5000000"
    max_open_orders: int = 10_000
    orders_per_sec: int = 5_000
    burst: int = 500
    max_drawdown: PriceLike = "100000"

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        return [
            *_price_field(f"{path}.max_gross_exposure", self.max_gross_exposure),
            *_price_field(f"{path}.max_net_exposure", self.max_net_exposure),
            *_int_in(f"{path}.max_open_orders", self.max_open_orders, 1, _U32),
            *_int_in(f"{path}.orders_per_sec", self.orders_per_sec, 1, _U32),
            *_int_in(f"{path}.burst", self.burst, 1, _U32),
            *_price_field(f"{path}.max_drawdown", self.max_drawdown, positive=False),
        ]

    def _to_core(self) -> dict[str, object]:
        return {
            "max_gross_exposure": _notional(self.max_gross_exposure),
            "max_net_exposure": _notional(self.max_net_exposure),
            "max_open_orders": self.max_open_orders,
            "orders_per_sec": self.orders_per_sec,
            "burst": self.burst,
            "max_drawdown": _notional(self.max_drawdown),
        }


def _notional(value: PriceLike) -> int:
    return price_to_raw(value, "notional")


FEED_TRANSPORTS: Final = ("udp", "dpdk")
"""How the engine reads the live feed: a kernel UDP socket, or a DPDK port (`DpdkPort`)."""


@dataclass(frozen=True)
class DpdkPort:
    """The DPDK port the live feed arrives on (`FeedEndpoint.transport = "dpdk"`; the
    extension must be built with `--features dpdk`) and how the EAL starts, once per
    process (docs/dpdk.md): `device` is a vdev name (`net_af_packet0`) or a PCI address,
    `vdevs`/`pci` the EAL's devices, `no_huge`/`no_pci`/`no_shconf` the container-friendly
    switches, `eal_args` anything else. The queue takes `rx_desc`/`tx_desc` descriptors,
    `mbufs` buffers and `burst` packets per poll."""

    device: str
    cores: str = "0"
    memory_mb: int = 1024
    no_huge: bool = False
    no_pci: bool = False
    no_shconf: bool = False
    vdevs: Sequence[str] = ()
    pci: Sequence[str] = ()
    file_prefix: str | None = None
    eal_args: Sequence[str] = ()
    rx_desc: int = 1024
    tx_desc: int = 1024
    mbufs: int = 8191
    burst: int = 32

    def __post_init__(self) -> None:
        for name in ("vdevs", "pci", "eal_args"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out: list[str] = []
        if not isinstance(self.device, str) or not self.device:
            out.append(f"{path}.device: {self.device!r}; name the port (vdev name or PCI address)")
        if not isinstance(self.cores, str) or not self.cores:
            out.append(f"{path}.cores: {self.cores!r} is not an EAL core list such as '0' or '2-3'")
        out += _int_in(f"{path}.memory_mb", self.memory_mb, 1, _U32)
        for name in ("no_huge", "no_pci", "no_shconf"):
            out += _is_bool(f"{path}.{name}", getattr(self, name))
        for name in ("vdevs", "pci", "eal_args"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                out.append(f"{path}.{name}: {value!r} is not a list of non-empty strings")
        if self.file_prefix is not None and (
            not isinstance(self.file_prefix, str) or not self.file_prefix
        ):
            out.append(f"{path}.file_prefix: {self.file_prefix!r} is not a non-empty string")
        out += _int_in(f"{path}.rx_desc", self.rx_desc, 1, _U16)
        out += _int_in(f"{path}.tx_desc", self.tx_desc, 1, _U16)
        out += _int_in(f"{path}.burst", self.burst, 1, 64)
        out += _int_in(f"{path}.mbufs", self.mbufs, 1, _U32)
        if not out and self.mbufs < self.rx_desc + self.tx_desc + 64:
            out.append(
                f"{path}.mbufs: {self.mbufs}, at least rx_desc + tx_desc + 64 = "
                f"{self.rx_desc + self.tx_desc + 64}"
            )
        return out

    def _to_plain(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class FeedEndpoint:
    """Where ITCH 5.0 over MoldUDP64 arrives (`bind`, IPv4:port, optionally joining a
    `multicast_group`) and where gaps are re-requested (`retransmit`). `stale_after_ms` 0
    disables stale detection. `transport` is "udp" (a kernel socket) or "dpdk": the live
    feed is then read from the `dpdk` port, keeping datagrams to `bind`'s port and the
    multicast group (or `bind`'s address); gap recovery still uses a kernel socket."""

    bind: str
    retransmit: str | None = None
    multicast_group: str | None = None
    multicast_interface: str | None = None
    stale_after_ms: int = 0
    recovery_timeout_ms: int = 1_000
    transport: str = "udp"
    dpdk: DpdkPort | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dpdk, Mapping):
            table = self.dpdk
            unknown = sorted(set(table) - {f.name for f in fields(DpdkPort)})
            if unknown:
                raise ConfigError(f"feed.dpdk: unknown key(s) {', '.join(unknown)}")
            try:
                object.__setattr__(self, "dpdk", DpdkPort(**table))
            except TypeError as e:
                raise ConfigError(f"feed.dpdk: {e}") from None

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out = _address(f"{path}.bind", self.bind, ipv4_only=True, port_zero=True)
        if self.retransmit is not None:
            out += _address(f"{path}.retransmit", self.retransmit, ipv4_only=False, port_zero=False)
        out += _int_in(f"{path}.stale_after_ms", self.stale_after_ms, 0, 86_400_000)
        out += _int_in(f"{path}.recovery_timeout_ms", self.recovery_timeout_ms, 1, 86_400_000)
        if self.transport not in FEED_TRANSPORTS:
            out.append(f"{path}.transport: {self.transport!r}, one of {', '.join(FEED_TRANSPORTS)}")
        if self.dpdk is not None and not isinstance(self.dpdk, DpdkPort):
            out.append(f"{path}.dpdk: {self.dpdk!r} is not a DpdkPort")
        elif self.dpdk is not None:
            out += self.dpdk.problems(f"{path}.dpdk")
        elif self.transport == "dpdk":
            out.append(f'{path}.dpdk: transport = "dpdk" needs a [{path}.dpdk] table')
        return out

    def _to_plain(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value._to_plain() if isinstance(value, DpdkPort) else value
        return out


@dataclass(frozen=True)
class OuchEndpoint:
    """The venue's OUCH 5.0 / SoupBinTCP 4.0 order entry and our login. `state_file`
    persists the session's sequence numbers so a restarted engine re-logs in where it
    left off."""

    addr: str
    username: str
    password: str
    session: str = ""
    state_file: str | None = None
    heartbeat_ms: int = 1_000
    timeout_ms: int = 5_000
    reconnect: bool = True

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out = _address(f"{path}.addr", self.addr, ipv4_only=False, port_zero=False)
        out += _ascii_text(f"{path}.username", self.username, 1, 6)
        out += _ascii_text(f"{path}.password", self.password, 0, 10)
        if self.session:
            out += _ascii_text(f"{path}.session", self.session, 1, 10)
        out += _int_in(f"{path}.heartbeat_ms", self.heartbeat_ms, 1, 3_600_000)
        out += _int_in(f"{path}.timeout_ms", self.timeout_ms, 1, 3_600_000)
        out += _is_bool(f"{path}.reconnect", self.reconnect)
        return out


@dataclass(frozen=True)
class FixEndpoint:
    """The venue's FIX 4.4 acceptor and our session's CompIDs (used instead of `ouch`).
    `sender_comp_id` is ours (SenderCompID 49), `target_comp_id` the venue's; `account`
    goes on every order as Account(1) if set. `state_file` persists the MsgSeqNums so a
    restarted engine logs on where it left off; `reset_seq_num_on_logon` restarts both at 1
    on every Logon instead. `heartbeat_interval_secs` is HeartBtInt(108), whole seconds."""

    addr: str
    sender_comp_id: str
    target_comp_id: str
    account: str | None = None
    state_file: str | None = None
    heartbeat_interval_secs: int = 30
    logon_timeout_ms: int = 5_000
    reconnect: bool = True
    reset_seq_num_on_logon: bool = False

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out = _address(f"{path}.addr", self.addr, ipv4_only=False, port_zero=False)
        out += _ascii_text(f"{path}.sender_comp_id", self.sender_comp_id, 1, 32)
        out += _ascii_text(f"{path}.target_comp_id", self.target_comp_id, 1, 32)
        if self.account is not None:
            out += _ascii_text(f"{path}.account", self.account, 1, 32)
        out += _int_in(f"{path}.heartbeat_interval_secs", self.heartbeat_interval_secs, 1, 3_600)
        out += _int_in(f"{path}.logon_timeout_ms", self.logon_timeout_ms, 1, 3_600_000)
        out += _is_bool(f"{path}.reconnect", self.reconnect)
        out += _is_bool(f"{path}.reset_seq_num_on_logon", self.reset_seq_num_on_logon)
        return out


@dataclass(frozen=True)
class EngineThreads:
    """The fast-path thread and its policies: `core` pins it (with `strict_isolation`,
    only to a core the kernel isolated); `idle_sleep_us` > 0 trades latency for a free
    core on a shared machine; the kill switch fires on a stale feed when `kill_on_stale`,
    and re-arms after a reconnected, reconciled order session when
    `rearm_after_reconnect`. With `journal_dir`, every inbound packet, order request, venue
    report and control change is recorded there (segments of `journal_segment_mb`) by a
    side thread (`quotewire journal inspect`, `quotewire export`). `recover` rebuilds the
    state of an earlier run from that journal on start (orders, positions, PnL, kill switch,
    reduce-only; docs/recovery.md) and asks the venue to replay the whole order session;
    None (the default) recovers when `journal_dir` already holds segments.

    Observability (docs/operations.md): with `metrics_addr` ("IP:port"; port 0 picks a
    free one) a side thread serves Prometheus metrics on `/metrics` and a health check on
    `/health` (`quotewire status`). Log lines (`log_level` and up) go to stderr or
    `log_file`; with `log_max_mb` the file is rotated by size, keeping `log_keep` older
    files (`FILE.1` newest)."""

    core: int | None = None
    strict_isolation: bool = False
    log_level: str = "info"
    log_file: str | None = None
    event_ring: int = 65_536
    kill_on_stale: bool = True
    rearm_after_reconnect: bool = True
    idle_sleep_us: int = 0
    journal_dir: str | None = None
    journal_segment_mb: int = 64
    recover: bool | None = None
    metrics_addr: str | None = None
    log_max_mb: float | None = None
    log_keep: int = 5

    def problems(self, path: str) -> list[str]:
        """Every refused field, with its path."""
        out: list[str] = []
        if self.metrics_addr is not None:
            out += _address(
                f"{path}.metrics_addr", self.metrics_addr, ipv4_only=False, port_zero=True
            )
        if self.log_max_mb is not None:
            out += _float_in(f"{path}.log_max_mb", self.log_max_mb, 0.001, 1_048_576)
            if self.log_file is None:
                out.append(f"{path}.log_max_mb: rotation needs {path}.log_file")
        out += _int_in(f"{path}.log_keep", self.log_keep, 1, 1_000)
        if self.core is not None:
            out += _int_in(f"{path}.core", self.core, 0, (os.cpu_count() or 1) - 1)
        if self.log_level not in LOG_LEVELS:
            out.append(f"{path}.log_level: {self.log_level!r} is not one of {LOG_LEVELS}")
        out += _int_in(f"{path}.event_ring", self.event_ring, 16, 1 << 24)
        out += _int_in(f"{path}.idle_sleep_us", self.idle_sleep_us, 0, 1_000_000)
        out += _int_in(f"{path}.journal_segment_mb", self.journal_segment_mb, 1, 4_096)
        if self.journal_dir is not None and not isinstance(self.journal_dir, str):
            out.append(f"{path}.journal_dir: {self.journal_dir!r} is not a path string")
        for name in ("strict_isolation", "kill_on_stale", "rearm_after_reconnect"):
            out += _is_bool(f"{path}.{name}", getattr(self, name))
        if self.recover is not None:
            out += _is_bool(f"{path}.recover", self.recover)
            if self.recover and self.journal_dir is None:
                out.append(f"{path}.recover: true needs {path}.journal_dir")
        return out


@dataclass(frozen=True)
class Rule:
    """An automatic adjustment, compiled into the fast path (never evaluated in Python):
    while `metric` is above (`above=True`) or below `threshold`, for `instrument` (a
    symbol) or every instrument (None), widen both half spreads by `widen_ticks`, scale
    quote sizes to `size_pct` percent, `pull` every quote, or quote `reduce_only`.

    Metrics: "volatility" (ticks per sqrt second, the online estimate), "spread_ticks",
    "imbalance" (-1..1 at the touch), "abs_position" (shares), "feed_stale" (1 while the
    feed is stale). Rules that hold combine: widenings add, sizes multiply, flags or."""

    name: str
    metric: str
    threshold: float
    above: bool = True
    instrument: str | None = None
    widen_ticks: int = 0
    size_pct: int = 100
    pull: bool = False
    reduce_only: bool = False

    def problems(self, path: str, symbols: set[str]) -> list[str]:
        """Every refused field, with its path."""
        out: list[str] = []
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 64:
            out.append(f"{path}.name: {self.name!r} is not 1 to 64 characters")
        if self.metric not in METRICS:
            out.append(f"{path}.metric: {self.metric!r} is not one of {', '.join(METRICS)}")
        out += _float_in(f"{path}.threshold", self.threshold, -1e18, 1e18)
        if self.instrument is not None and self.instrument not in symbols:
            out.append(f"{path}.instrument: {self.instrument!r} is not a configured symbol")
        out += _int_in(f"{path}.widen_ticks", self.widen_ticks, 0, _TICKS)
        out += _int_in(f"{path}.size_pct", self.size_pct, 0, 1_000)
        for name in ("above", "pull", "reduce_only"):
            out += _is_bool(f"{path}.{name}", getattr(self, name))
        return out

    def _to_core(self, ids: Mapping[str, int]) -> dict[str, object]:
        return {
            "name": self.name,
            "instrument": None if self.instrument is None else ids[self.instrument],
            "metric": self.metric,
            "above": self.above,
            "threshold": float(self.threshold),
            "widen_ticks": self.widen_ticks,
            "size_pct": self.size_pct,
            "pull": self.pull,
            "reduce_only": self.reduce_only,
        }


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine is started from. Orders go over exactly one of `ouch` (OUCH
    5.0 / SoupBinTCP) and `fix` (FIX 4.4)."""

    instruments: Sequence[TradedInstrument]
    feed: FeedEndpoint
    ouch: OuchEndpoint | None = None
    firm: FirmLimits = field(default_factory=FirmLimits)
    engine: EngineThreads = field(default_factory=EngineThreads)
    oms_capacity: int = 65_536
    max_in_flight: int = 4_096
    rules: Sequence[Rule] = ()
    fix: FixEndpoint | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", tuple(self.instruments))
        object.__setattr__(self, "rules", tuple(self.rules))

    def problems(self) -> list[str]:
        """Every reason the core would refuse this configuration (empty when valid)."""
        out: list[str] = []
        if not self.instruments:
            out.append("instruments: at least one instrument is required")
        ids: set[int] = set()
        symbols: set[str] = set()
        for i, inst in enumerate(self.instruments):
            out += inst.problems(f"instruments[{i}]")
            if inst.id in ids:
                out.append(f"instruments[{i}].id: {inst.id} appears more than once")
            if inst.symbol in symbols:
                out.append(f"instruments[{i}].symbol: {inst.symbol!r} appears more than once")
            ids.add(inst.id)
            symbols.add(inst.symbol)
        out += self.firm.problems("firm")
        out += self.feed.problems("feed")
        if (self.ouch is None) == (self.fix is None):
            out.append("ouch, fix: exactly one order-entry section is required")
        if self.ouch is not None:
            out += self.ouch.problems("ouch")
        if self.fix is not None:
            out += self.fix.problems("fix")
        out += self.engine.problems("engine")
        rule_names: set[str] = set()
        for i, rule in enumerate(self.rules):
            out += rule.problems(f"rules[{i}]", symbols)
            if rule.name in rule_names:
                out.append(f"rules[{i}].name: {rule.name!r} appears more than once")
            rule_names.add(rule.name)
        if len(self.rules) > 64:
            out.append(f"rules: {len(self.rules)} rules, at most 64")
        out += _int_in("oms_capacity", self.oms_capacity, 1, 1 << 26)
        out += _int_in("max_in_flight", self.max_in_flight, 1, 1 << 26)
        return out

    def validate(self) -> Self:
        """Raise `ConfigError` listing every problem; returns self when valid."""
        problems = self.problems()
        if problems:
            raise ConfigError("invalid engine configuration:\n  " + "\n  ".join(problems))
        return self

    def instrument(self, symbol: str) -> TradedInstrument:
        """The instrument named `symbol`."""
        for inst in self.instruments:
            if inst.symbol == symbol:
                return inst
        raise ConfigError(f"no instrument {symbol!r} in the engine configuration")

    @property
    def order_entry(self) -> str:
        """The order-entry protocol: "ouch" or "fix"."""
        return "fix" if self.fix is not None else "ouch"

    def to_core(self) -> dict[str, object]:
        """The core's JSON shape (raw integer prices)."""
        engine = {k: v for k, v in asdict(self.engine).items() if k not in _CONTROL_PLANE_ONLY}
        ids = {i.symbol: i.id for i in self.instruments}
        out: dict[str, object] = {
            "instruments": [i._to_core() for i in self.instruments],
            "firm": self.firm._to_core(),
            "oms": {"capacity": self.oms_capacity, "max_in_flight": self.max_in_flight},
            "feed": self.feed._to_plain(),
            "engine": {k: v for k, v in engine.items() if v is not None},
            "rules": [r._to_core(ids) for r in self.rules],
        }
        for name, section in (("ouch", self.ouch), ("fix", self.fix)):
            if section is not None:
                out[name] = {k: v for k, v in asdict(section).items() if v is not None}
        return out

    def to_json(self) -> str:
        """Validated, as the core's JSON."""
        self.validate()
        return json.dumps(self.to_core())

    def to_dict(self) -> dict[str, object]:
        """A plain, TOML-ready dictionary (prices as strings)."""

        def clean(obj: object) -> dict[str, object]:
            out: dict[str, object] = {}
            for k, v in asdict(obj).items():  # type: ignore[call-overload]
                if v is None:
                    continue
                out[k] = str(v) if isinstance(v, Decimal) else v
            return out

        out: dict[str, object] = {
            "oms_capacity": self.oms_capacity,
            "max_in_flight": self.max_in_flight,
            "instruments": [clean(i) for i in self.instruments],
            "firm": clean(self.firm),
            "feed": self.feed._to_plain(),
        }
        if self.ouch is not None:
            out["ouch"] = clean(self.ouch)
        if self.fix is not None:
            out["fix"] = clean(self.fix)
        out["engine"] = clean(self.engine)
        out["rules"] = [clean(r) for r in self.rules]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineConfig:
        """Build from a parsed TOML/JSON table; unknown keys are refused by name."""

        def build(kind: type[Any], table: object, path: str) -> Any:
            if not isinstance(table, Mapping):
                raise ConfigError(f"{path}: {table!r} is not a table")
            known = {f.name for f in fields(kind)}
            unknown = sorted(set(table) - known)
            if unknown:
                raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
            try:
                return kind(**table)
            except TypeError as e:
                raise ConfigError(f"{path}: {e}") from None

        top = {
            "instruments",
            "feed",
            "ouch",
            "fix",
            "firm",
            "engine",
            "oms_capacity",
            "max_in_flight",
            "rules",
        }
        unknown = sorted(set(data) - top)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)}")
        raw_instruments = data.get("instruments", [])
        if not isinstance(raw_instruments, list):
            raise ConfigError("instruments: not an array of tables")
        config = cls(
            instruments=[
                build(TradedInstrument, t, f"instruments[{i}]")
                for i, t in enumerate(raw_instruments)
            ],
            feed=build(FeedEndpoint, data.get("feed"), "feed"),
            ouch=None if "ouch" not in data else build(OuchEndpoint, data["ouch"], "ouch"),
            fix=None if "fix" not in data else build(FixEndpoint, data["fix"], "fix"),
            firm=build(FirmLimits, data.get("firm", {}), "firm"),
            engine=build(EngineThreads, data.get("engine", {}), "engine"),
            oms_capacity=data.get("oms_capacity", 65_536),
            max_in_flight=data.get("max_in_flight", 4_096),
            rules=[build(Rule, t, f"rules[{i}]") for i, t in enumerate(data.get("rules", []))],
        )
        return config.validate()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EngineConfig:
        """Read and validate a TOML file."""
        return load_toml(path, cls.from_dict)

    def to_toml(self) -> str:
        """TOML text that `load` reads back equal."""
        d = self.to_dict()
        lines = ["# quotewire engine configuration; prices in currency units, as strings", ""]
        lines += _toml_table(None, {k: v for k, v in d.items() if not isinstance(v, (dict, list))})
        for inst in d["instruments"]:  # type: ignore[attr-defined]
            lines += _toml_table("[instruments]", inst)
        for section in ("firm", "feed", "ouch", "fix", "engine"):
            if section in d:
                lines += _toml_table(section, d[section])  # type: ignore[arg-type]
            if section == "feed" and self.feed.dpdk is not None:
                lines += _toml_table("feed.dpdk", self.feed.dpdk._to_plain())
        for rule in d["rules"]:  # type: ignore[attr-defined]
            lines += _toml_table("[rules]", rule)
        return "\n".join(lines).rstrip() + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Validate, then write as TOML."""
        self.validate()
        out = Path(path)
        out.write_text(self.to_toml(), encoding="utf-8")
        return out


_CONTROL_PLANE_ONLY: Final = frozenset({"metrics_addr", "log_max_mb", "log_keep"})
"""`EngineThreads` fields served by Python side threads, not sent to the core."""

_PARAM_NAMES: Final = (
    "tick",
    "half_spread_ticks",
    "size",
    "skew_ticks",
    "quote_max_position",
    "requote_ticks",
    "model",
    "gamma",
    "horizon_s",
    "sigma",
    "a",
    "k",
    "min_half_spread_ticks",
    "levels",
    "level_spacing_ticks",
    "level_size_step_pct",
    "vol_half_life_s",
    "intensity_half_life_s",
)
_LIMIT_NAMES: Final = ("max_order_qty", "max_order_notional", "price_band_bps", "max_position")


class Engine:
    """The trading engine; a context manager that starts and stops it.

    `Engine(config)` validates `config` (nothing runs yet); `start()` opens the feed
    socket and the order session and starts the fast-path thread (errors are raised
    before it runs). Control calls (`kill`, `rearm`, `set_params`, `set_limits`,
    `reduce_only`) travel through a lock-free ring, are applied by the fast path between
    two events and acknowledged; each returns True when it took effect. `stop()` cancels
    every open order, waits for the venue's answers, logs out and returns the final
    summary.
    """

    __slots__ = (
        "_config",
        "_handle",
        "_log",
        "_params",
        "_server",
        "_started",
        "_summary",
        "_tap",
    )

    def __init__(self, config: EngineConfig) -> None:
        self._config = config.validate()
        self._params = {i.symbol: i for i in config.instruments}
        self._summary: dict[str, Any] | None = None
        self._handle: _core.Engine | None = None
        self._started = 0.0
        self._tap = metrics.EventTap()
        self._server: metrics.MetricsServer | None = None
        self._log: metrics.LogRelay | None = None

    def start(self) -> Self:
        """Start the fast path (once), and the metrics server and log rotation when
        configured (a port that cannot be bound is refused before anything runs)."""
        if self._summary is not None:
            raise QuotewireError("this engine was stopped; build a new Engine to trade again")
        if self._handle is None:
            threads = self._config.engine
            core = self._config.to_core()
            log = None
            if threads.log_file is not None and threads.log_max_mb is not None:
                max_bytes = int(threads.log_max_mb * (1 << 20))
                try:
                    log = metrics.LogRelay(threads.log_file, max_bytes, threads.log_keep)
                except OSError as e:
                    raise ConfigError(f"engine.log_file = {threads.log_file!r}: {e}") from None
                core["engine"]["log_file"] = log.writer_path  # type: ignore[index]
            server = None
            try:
                if threads.metrics_addr is not None:
                    server = metrics.MetricsServer(threads.metrics_addr)
                self._handle = _core.Engine(json.dumps(core))
            except BaseException:
                if server is not None:
                    server.close()
                raise
            finally:
                if log is not None:
                    log.writer_opened()  # the core holds its own end now (or failed)
            self._started = time.monotonic()
            self._log = log
            if server is not None:
                server.serve(self._observe)
                self._server = server
        return self

    @property
    def metrics_address(self) -> str | None:
        """Where `/metrics` and `/health` are served (`host:port`), None when off."""
        return None if self._server is None else self._server.address

    def _pull(self) -> None:
        """Read the core's new events into the tap (caller holds the tap's lock)."""
        self._tap.add(_with_sources(self._live.events(), self._config))

    def _observe(self) -> metrics.Observation:
        """One scrape: the new events, a snapshot (which also merges the fast path's
        latency interval), the latency figures, the drop counters."""
        handle = self._handle
        running = handle is not None and handle.running()
        snap: dict[str, Any] | None = None
        latency: dict[str, dict[str, Any]] | None = None
        dropped = {"ring": 0, "backlog": 0}
        error = None
        try:
            with self._tap.lock:
                self._pull()
            snap = self.snapshot()
            latency = self._live.latency()
            ring, backlog = self._live.events_dropped()
            dropped = {"ring": ring, "backlog": backlog}
        except QuotewireError as e:
            error = str(e)
        with self._tap.lock:
            return metrics.Observation(
                running=running,
                uptime_s=time.monotonic() - self._started,
                snapshot=snap,
                tally=copy.deepcopy(self._tap.tally),
                dropped={**dropped, "tap": self._tap.dropped},
                waiting=self._tap.waiting,
                error=error,
                latency=latency,
            )

    @property
    def _live(self) -> _core.Engine:
        if self._handle is None:
            raise QuotewireError("the engine is not started: call start() first")
        return self._handle

    @property
    def config(self) -> EngineConfig:
        """The configuration the engine was started from."""
        return self._config

    @property
    def running(self) -> bool:
        """True between `start` and `stop` (while the fast-path thread runs)."""
        return self._handle is not None and self._handle.running()

    def kill(self) -> bool:
        """Fire the kill switch: cancel every open order and block new ones."""
        return bool(self._live.kill())

    def rearm(self) -> bool:
        """Re-arm the kill switch (refused while a drawdown is still beyond its limit)."""
        return bool(self._live.rearm())

    def reduce_only(self, on: bool = True) -> bool:
        """Quote only the side that shrinks each position."""
        return bool(self._live.reduce_only(on))

    def drop_session(self) -> bool:
        """Drop the order session as a network failure would (a failure drill): the kill
        switch fires (session lost), the venue's cancel-on-disconnect applies, and the
        engine reconnects, replays what it missed, reconciles and, with
        `rearm_after_reconnect`, quotes again."""
        return bool(self._live.drop_session())

    def set_params(self, symbol: str, **params: Any) -> bool:
        """Change quoting parameters of `symbol` live (names as in `TradedInstrument`)."""
        current = self._params.get(symbol)
        if current is None:
            raise ConfigError(f"set_params: no instrument {symbol!r}")
        unknown = sorted(set(params) - set(_PARAM_NAMES))
        if unknown:
            raise ConfigError(
                f"set_params: unknown parameter(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(_PARAM_NAMES)}"
            )
        updated = replace(current, **params)
        problems = updated.problems(symbol)
        if problems:
            raise ConfigError("set_params: " + "; ".join(problems))
        ok = self._live.set_params(current.id, json.dumps(updated._to_core()))
        if ok:
            self._params[symbol] = updated
        return ok

    def set_limits(self, symbol: str | None = None, **limits: Any) -> bool:
        """Change risk limits live: per instrument (`symbol`, names as in
        `TradedInstrument`) or firm-wide (`symbol=None`, names as in `FirmLimits`)."""
        if symbol is None:
            firm = replace(self._config.firm, **limits) if limits else self._config.firm
            problems = firm.problems("firm")
            if problems:
                raise ConfigError("set_limits: " + "; ".join(problems))
            ok = self._live.set_firm_limits(json.dumps(firm._to_core()))
            if ok:
                self._config = replace(self._config, firm=firm)
            return ok
        current = self._params.get(symbol)
        if current is None:
            raise ConfigError(f"set_limits: no instrument {symbol!r}")
        unknown = sorted(set(limits) - set(_LIMIT_NAMES))
        if unknown:
            raise ConfigError(
                f"set_limits: unknown limit(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(_LIMIT_NAMES)} (or symbol=None for firm limits)"
            )
        updated = replace(current, **limits)
        problems = updated.problems(symbol)
        if problems:
            raise ConfigError("set_limits: " + "; ".join(problems))
        core = updated._to_core()
        ok = self._live.set_instrument_limits(
            current.id, json.dumps({k: core[k] for k in _LIMIT_NAMES})
        )
        if ok:
            self._params[symbol] = updated
        return ok

    def snapshot(self) -> dict[str, Any]:
        """Positions, PnL (currency units), our resting quotes and open orders per symbol,
        the firm totals, the kill switch, the fast path's `counters` (as in the summary) and
        its `rings` (`{"events": {"used": n, "capacity": n}, ...}`), as the fast path saw
        them at one instant."""
        return _with_symbols(self._live.snapshot(), self._config)

    def latency(self) -> dict[str, dict[str, Any]]:
        """Latency of each stage (`LATENCY_STAGES`) since the start, read live: `count`,
        `sum_ns`, `max_ns`, `quantiles` [(q, ns) for 0.5, 0.9, 0.99, 0.999] and cumulative
        `buckets` [(le_ns, samples at or below)]. Takes a snapshot first: the fast path
        hands over the histograms it recorded since the previous one (a pointer swap, no
        allocation there) and the core merges them; percentiles are computed here, never
        on the fast path."""
        self._live.snapshot()
        return self._live.latency()

    def events(self) -> list[dict[str, Any]]:
        """Events since the last call (fills, rejects, kill switch, parameter changes,
        feed and session state), oldest first."""
        with self._tap.lock:
            self._pull()
            return self._tap.take()

    @property
    def summary(self) -> dict[str, Any] | None:
        """The final summary once stopped."""
        return self._summary

    def stop(self) -> dict[str, Any]:
        """Cancel everything, stop the fast path and return the final summary. Idempotent."""
        if self._summary is None:
            if self._handle is None:
                raise QuotewireError("the engine was never started")
            if self._server is not None:
                self._server.close()
            summary = _with_symbols(self._handle.stop(), self._config)
            with self._tap.lock:
                waiting = self._tap.take()
            summary["events"] = waiting + _with_sources(summary.get("events", []), self._config)
            if self._log is not None and not self._log.join():
                raise QuotewireError(f"the log relay to {self._log.path} did not finish")
            summary["seconds"] = round(time.monotonic() - self._started, 3)
            self._summary = summary
        return self._summary

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


LATENCY_STAGES: Final = ("tick_to_trade", "round_trip", "feed", "quote")
"""The histograms every summary carries: packet received -> order bytes written, order
sent -> venue answer read, datagram through sequencer and books, quoting decision (model,
risk, OMS, encoding)."""


def write_latency_logs(summary: Mapping[str, Any], directory: str | os.PathLike[str]) -> list[Path]:
    """Write each latency histogram of an engine summary as an HdrHistogram interval log
    (`<stage>.hlog`, values in nanoseconds), readable by the Python `hdrhistogram`
    package's `HistogramLogReader`, HdrHistogram's `HistogramLogProcessor` and the online
    plotters. Returns the paths written."""
    from quotewire import bench
    from quotewire._machine import git_revision, machine_info

    out = Path(directory)
    seconds = float(summary.get("seconds", 0) or 0)
    paths = []
    for stage in LATENCY_STAGES:
        lat = summary["latency"][stage]
        record = {
            "bench": f"engine {stage}",
            "command": "quotewire engine summary",
            "histogram": lat["histogram"],
            "elapsed_ns": int(seconds * 1e9),
            "machine": machine_info(),
            "git_rev": git_revision(fallback="unknown"),
            "date": bench.utc_now(),
        }
        paths.append(bench.write_hdr_log(record, out / f"{stage}.hlog"))
    return paths


def _with_sources(events: list[dict[str, Any]], config: EngineConfig) -> list[dict[str, Any]]:
    """Name who caused each change, for the audit trail: `source` is "user" for parameter,
    limit, mode and kill-switch calls from the control plane and "rule" for automatic
    adjustments (with `rule_name`); `symbol` names the instrument."""
    by_id = {i.id: i.symbol for i in config.instruments}
    for e in events:
        kind = e.get("event")
        if kind in ("params_changed", "limits_changed", "reduce_only"):
            e["source"] = "user"
        elif kind == "rule_changed":
            e["source"] = "rule"
            rule = e.get("rule")
            if isinstance(rule, int) and 0 <= rule < len(config.rules):
                e["rule_name"] = config.rules[rule].name
        instrument = e.get("instrument")
        if isinstance(instrument, int) and instrument in by_id:
            e["symbol"] = by_id[instrument]
    return events


def _with_symbols(raw: Mapping[str, Any], config: EngineConfig) -> dict[str, Any]:
    """Key per-instrument records by symbol and turn raw money into Decimal."""
    by_id = {i.id: i.symbol for i in config.instruments}
    out = dict(raw)
    instruments: dict[str, Any] = {}
    for rec in raw.get("instruments", []):
        rec = dict(rec)
        for key in ("avg_price", "mid", "bid_price", "ask_price"):
            if rec.get(key) is not None:
                rec[key] = raw_to_price(rec[key])
        for key in ("realised", "unrealised"):
            if key in rec:
                rec[key] = raw_to_price(rec[key])
        for key in ("bids", "asks"):
            if key in rec:
                rec[key] = [(raw_to_price(p), q) for p, q in rec[key]]
        instruments[by_id.get(rec["instrument"], str(rec["instrument"]))] = rec
    out["instruments"] = instruments
    for key in ("realised", "unrealised", "total_pnl", "gross_exposure", "net_exposure"):
        if key in out:
            out[key] = raw_to_price(out[key])
    return out
