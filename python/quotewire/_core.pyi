"""Type stub for the compiled extension `quotewire._core` (Rust, PyO3).

Hand-kept: every function exported by `rust_core/py` appears here with its exact signature.
Conventions shared by every function:

* Prices are raw integers with four implied decimals (`1.2345` is `12_345`); `price8` fields
  of ITCH carry eight.
* Timestamps are integer nanoseconds since midnight (ITCH).
* Paths are `str`; a session file is either "daily" (NASDAQ binary-file framing: 2-byte
  big-endian length before each message, gzip-compressed when the name ends in `.gz`) or
  "pcap" (MoldUDP64 in UDP in Ethernet), detected from the file's content.
* Errors are raised as the classes below, re-exported by `quotewire.errors`.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ConfigError",
    "DataError",
    "ProtocolError",
    "QuotewireError",
    "Venue",
    "bench_feed",
    "bench_venue",
    "generate_session",
    "itch_book",
    "itch_layouts",
    "itch_read_raw",
    "itch_summary",
    "journal_inspect",
    "journal_notes",
    "journal_orders",
    "journal_to_pcap",
    "journal_write",
    "replay_bbo",
    "replay_l2",
    "version",
]

class QuotewireError(Exception):
    """Base of every quotewire error (re-exported by `quotewire.errors`)."""

class ConfigError(QuotewireError):
    """A configuration value was refused."""

class ProtocolError(QuotewireError):
    """Bytes did not follow the protocol."""

class DataError(QuotewireError):
    """A data file could not be used (unreadable, unknown format, unknown symbol)."""

def version() -> str:
    """Version of the compiled core."""

def generate_session(
    path: str,
    *,
    messages: int,
    instruments: int = 8000,
    max_live_orders: int = 1_500_000,
    seed: int = 1,
    format: str = "daily",
) -> dict[str, int]:
    """Write a synthetic ITCH 5.0 session; returns {"messages", "bytes", "packets"}."""

def bench_feed(
    messages: int,
    *,
    instruments: int = 8000,
    max_live_orders: int = 1_500_000,
    seed: int = 1,
) -> dict[str, object]:
    """Run the feed -> book pipeline over a synthetic in-memory session and time it.

    Keys: count, elapsed_ns, per_sec, p50_ns, p99_ns, p999_ns, max_ns, min_ns, mean_ns,
    histogram (HDR V2 compressed, base64), live_orders_peak, book_bytes, unknown_orders,
    packets, gaps; the current core adds p90_ns, p9999_ns, clock_overhead_ns and
    decode_errors.
    """

def bench_venue(actions: int, *, instruments: int = 8, seed: int = 1) -> dict[str, object]:
    """Run order actions through the venue simulator (matching, event routing, ITCH
    publishing) and time each one.

    Keys: count, elapsed_ns, per_sec, min_ns, mean_ns, p50_ns, p90_ns, p99_ns, p999_ns,
    p9999_ns, max_ns, histogram (HDR V2 compressed, base64), executions, itch_messages,
    itch_per_sec; the current core adds clock_overhead_ns and itch_datagrams.
    """

def bench_tick_to_trade(
    messages: int,
    *,
    instruments: int = 100,
    live_orders: int = 200_000,
    seed: int = 1,
    max_payload: int = 100,
) -> dict[str, object]:
    """In-process tick-to-trade: generated ITCH datagrams from memory through sequencer,
    books, quoting, risk, OMS and OUCH encoding, against an in-memory venue.

    Keys: count (datagrams that caused orders), datagrams, messages, orders, elapsed_ns,
    per_sec (datagrams/s), risk_rejects, feed_p50_ns, feed_p99_ns, quote_p50_ns,
    quote_p99_ns, min_ns, mean_ns, p50_ns,
    p90_ns, p99_ns, p999_ns, p9999_ns, max_ns, histogram (HDR V2 compressed, base64).
    """

def bench_orders(
    actions: int,
    *,
    live_orders: int = 1_000_000,
    instruments: int = 1_000,
    seed: int = 1,
    working_set: int = 0,
) -> dict[str, object]:
    """Order actions through risk, the OMS and the OUCH encoder on a slab of `live_orders`.

    Keys: count, elapsed_ns, per_sec, bytes_per_order (float), oms_bytes, live_orders, new,
    replace, cancel, risk_rejects, latency keys as above, histogram.
    """

class Engine:
    """A running trading engine (fast-path thread, event writer, control rings)."""

    def __init__(self, config_json: str) -> None:
        """Start from the JSON of `quotewire.engine.EngineConfig.to_json`; ConfigError on a
        bad configuration or when a socket cannot be opened."""
    def running(self) -> bool:
        """True while the fast-path thread runs."""
    def kill(self) -> bool:
        """Fire the kill switch; True once the fast path applied it."""
    def rearm(self) -> bool:
        """Re-arm the kill switch; False when refused (drawdown still beyond its limit)."""
    def reduce_only(self, on: bool) -> bool:
        """Enter or leave reduce-only mode."""
    def drop_session(self) -> bool:
        """Drop the order session as a network failure would; it reconnects and reconciles."""
    def set_params(self, instrument: int, instrument_json: str) -> bool:
        """New model parameters for one instrument id, from its whole configuration as JSON
        (raw units; the model fields are used)."""
    def set_instrument_limits(self, instrument: int, limits_json: str) -> bool:
        """New risk limits (raw units) for one instrument id."""
    def set_firm_limits(self, limits_json: str) -> bool:
        """New firm-wide limits (raw units)."""
    def snapshot(self) -> dict[str, Any]:
        """instruments (list of dicts), killed, reduce_only, ts_ns, realised, unrealised,
        total_pnl, gross_exposure, net_exposure (raw units); counters (the fast path's, as in
        the stop summary) and rings ({"events" | "journal" | "control" | "snapshots":
        {"used": int, "capacity": int}}, a ring absent when it does not exist). Also merges
        the latency histograms the fast path handed over into those `latency` reads."""
    def latency(self) -> dict[str, dict[str, Any]]:
        """The latency histograms since the start as of the last `snapshot` (nothing is sent
        to the fast path): per stage ("feed", "quote", "tick_to_trade", "round_trip"),
        count (int), sum_ns (float), max_ns (int), quantiles (list of (q, ns) for 0.5, 0.9,
        0.99, 0.999) and buckets (list of (le_ns, samples at or below), cumulative)."""
    def events(self) -> list[dict[str, Any]]:
        """Events since the last call, oldest first."""
    def events_dropped(self) -> tuple[int, int]:
        """Events lost so far: (event ring full on the fast path, backlog full because
        nobody drained it)."""
    def stop(self) -> dict[str, Any]:
        """Cancel everything, stop; the final snapshot plus counters, risk_rejects,
        latency (per stage: count, percentiles, histogram), the last events and, when
        the start recovered from the journal, "recovery" (docs/recovery.md)."""

class Venue:
    """A running venue simulator (matching, OUCH, FIX, ITCH) on a background thread."""

    def __init__(self, config_json: str) -> None:
        """Start a venue from its JSON configuration (`quotewire.venue.VenueConfig.to_json`).

        Raises ConfigError with a message on a bad configuration or a bind failure.
        """
    def endpoints(self) -> dict[str, str | None]:
        """Keys ouch, fix, itch, itch_retransmit -> "host:port", or None when disabled;
        kept after `stop`."""
    def stats(self) -> dict[str, int]:
        """Keys commands and, with ITCH, itch_messages, itch_datagrams, itch_heartbeats,
        itch_dropped, itch_requests_served, itch_next_sequence; with a capture replay,
        replay_messages, replay_commands, replay_rejected, replay_finished (0 or 1); final
        values after `stop`."""
    def firm_state(self, firm: int) -> dict[str, object]:
        """Keys open_orders, bought, sold, executions, buy_notional, sell_notional (raw price
        with four implied decimals x shares) -> int, positions -> {instrument_id:
        bought - sold} for every instrument the firm traded, and orders -> a list of
        {"ref": int, "instrument": int, "side": "buy" | "sell", "price": int (raw, four
        implied decimals), "qty": int (open)}, one per resting order, sorted by instrument,
        side (buys first), price, ref; all zero or empty for an unseen firm; final values
        after `stop`. OverflowError when `firm` is not a u32."""
    def set_background(
        self,
        instrument_id: int,
        volatility: float | None = None,
        limit_rate: float | None = None,
        market_rate: float | None = None,
        cancel_rate: float | None = None,
    ) -> None:
        """Change the background flow of `instrument_id` from its next step: volatility in
        ticks per square root of a second, rates per second; None keeps a value. Lock-free.

        Raises ConfigError naming the field for a value that is not finite and >= 0, or
        when no background flow drives the instrument (then nothing changes);
        OverflowError when `instrument_id` is not a u16.
        """
    def background(self, instrument_id: int) -> dict[str, float] | None:
        """Keys volatility_ticks_per_sqrt_s, limit_rate, market_rate, cancel_rate (as last
        set) and mid (the flow's modelled mid, raw price units, fractional) -> float; None
        when no background flow drives the instrument."""
    def running(self) -> bool:
        """True until `stop` is called."""
    def stop(self) -> None:
        """End the ITCH session, stop the loop and join its thread. Idempotent."""

def itch_summary(path: str) -> dict[str, object]:
    """Count a session's messages.

    Keys: messages, by_type (tag -> count), instruments, symbols, first_ns, last_ns,
    errors (reason -> count), format ("daily" | "pcap"), bytes; the current core adds
    instruments_traded and, for pcap, packets.
    """

def itch_book(
    path: str, symbol: str, *, at_ns: int | None = None, depth: int = 10
) -> dict[str, object]:
    """Replay a session into the book of one symbol, up to and including `at_ns`.

    Keys: symbol, locate, timestamp_ns (None when no message was applied),
    messages_applied, bids, asks; each side a list of (price_raw_4dp, qty, order_count),
    best first. Raises DataError when the symbol is not in the stock directory by `at_ns`.
    """

def itch_read_raw(path: str) -> dict[str, bytes]:
    """One-char tag -> concatenated wire bytes of every message of that type."""

def itch_layouts() -> dict[str, tuple[str, int, list[tuple[str, int, int, str]]]]:
    """Tag -> (message name, length, [(field name, offset, length, kind)]).

    kind is one of "char", "u16", "u32", "u48", "u64", "price4", "price8", "alpha".
    """

def replay_bbo(path: str, symbol: str | None = None) -> dict[str, npt.NDArray[np.generic]]:
    """One row per top-of-book change.

    Keys: timestamp_ns (u64), locate (u16), bid_px (i64), bid_qty (u64), ask_px (i64),
    ask_qty (u64); an empty side is 0/0.
    """

def replay_l2(path: str, symbol: str, depth: int = 5) -> dict[str, npt.NDArray[np.generic]]:
    """One row per book change of `symbol`: timestamp_ns (n,); bid_px, bid_qty, bid_count,
    ask_px, ask_qty, ask_count each (n, depth)."""

# Journals. `path` is a journal directory (segments journal-000001.qwj, ...) or one
# segment file. Times are Unix ns (record ts_ns + the segment's clock epoch). Damaged
# records are skipped and reported, never raised; an unreadable path raises DataError.

def journal_inspect(path: str) -> dict[str, Any]:
    """Summary: segments, records, bytes (int); by_kind {"inbound_packet", "order_request",
    "exec_report", "note": int}; first_ts_unix_ns / last_ts_unix_ns (int | None);
    checksum_errors [{"segment": str, "offset": int, "reason": str}]; torn_tail
    ({"segment": str, "offset": int} | None); feed_gaps (MoldUDP64 sequence gaps among
    inbound packets, counted like the feed sequencer, A/B arbitrated, retransmissions
    filling holes); feed_messages (distinct MoldUDP64 messages seen)."""

def journal_to_pcap(path: str, out: str) -> int:
    """Write every intact inbound packet as a UDP datagram (127.0.0.1:26400 -> 127.0.0.1
    port 26477 line A, 26478 line B, 26479 retransmit) into a classic nanosecond pcap with
    Unix timestamps; returns the packets written."""

def journal_orders(path: str) -> dict[str, npt.NDArray[np.void]]:
    """Packed structured arrays. "requests": ts_unix_ns <u8, action S1 (N/R/C), side S1,
    cl <u4, orig <u4, instrument <u2, price <i8, qty <u8, post_only ?, tif S1 (b"0" day,
    b"3" IOC, b"" for replace/cancel). "reports": ts_unix_ns <u8, kind S1
    (A/U/C/E/J/I/B), cl <u4, orig <u4, venue_id <u8, price <i8, qty <u8, match_number <u8,
    reason <u2 (reject code for J, reason byte for C and B), liquidity S1 (E), venue_ts_ns
    <u8 (the venue's own timestamp)."""

def journal_notes(path: str) -> list[tuple[int, str]]:
    """Every note as (ts_unix_ns, text)."""

def journal_write(
    dir: str,
    records: list[tuple[int, int, int, bytes]],
    *,
    segment_bytes: int = 67_108_864,
    clock_epoch_unix_ns: int = 0,
) -> int:
    """Append (kind, line, ts_ns, payload) records to the journal directory `dir` in a new
    segment (kind 1 inbound packet, 2 order request (32-byte payload), 3 exec report
    (56-byte payload), 4 note; line 0 A, 1 B, 2 retransmit); returns the records written.
    A utility for importing and tests: the engine writes through the Rust ring."""

def itch_write_daily(
    path: str, rows: npt.NDArray[np.void], symbols: dict[int, str]
) -> dict[str, Any]:
    """Encode normalised market-by-order rows (packed 1-D structured array: ts_ns <u8 ns
    since midnight, locate <u2, order_ref <u8, side S1 B/S, price <i8 Price(4), shares
    <u4, action S1 A add / C cancel shares (all of them: delete) / D delete / F fill / M
    modify, new_order_ref <u8 modify only, 0 keeps the name) into a TotalView-ITCH 5.0
    daily file (gzip when `path` ends in .gz): System Event O, one Stock Directory per
    `symbols` entry (locate -> symbol), the order messages, System Event C. Wire order
    references are assigned 1, 2, 3... per add and replace. Returns {"messages": n,
    "rejected": [(row_index, reason), ...], "open_orders": n}; inconsistent rows are
    refused, never fatal."""

def backtest(
    config_json: str,
    data: str,
    *,
    journal: bool,
    order_ns: int = 0,
    ack_ns: int = 0,
    latency_hist: list[tuple[int, int]] | None = None,
    md_latency_ns: int = 0,
    seed: int = 1,
    sample_every_ns: int = 1_000_000_000,
    stand_in: bool = False,
    time_packets: bool = False,
) -> dict[str, Any]:
    """Replay `data` (a journal when `journal`, else a daily ITCH file or MoldUDP64 pcap)
    through the strategies of `config_json` against the simulated venue (GIL released).
    Latency: `latency_hist` round trips `(ns, count)` when given, else `order_ns`/`ack_ns`;
    `md_latency_ns` delays market data. `stand_in` (journals) lets the simulated orders
    replace the recorded own orders. Returns {"orders", "fills", "samples": dicts of int64
    NumPy columns, "counters": {...}, "messages", "datagrams", "elapsed_ns",
    "messages_per_sec", "recorded_own_executed", "tape_messages", "per_packet" (when
    `time_packets`: latency figures + "histogram"), "recorded" (journals: "fills" columns,
    "round_trips_ns", "own_orders", "requests", "damaged", "instruments")}."""

def backtest_recorded(journal: str) -> dict[str, Any]:
    """What the journaled session at `journal` (directory or segment) did, read without a
    replay: the "recorded" entry of `backtest` ("fills" columns, "round_trips_ns",
    "own_orders", "requests", "damaged", "instruments")."""

def bench_transport(
    backend: str,
    count: int,
    *,
    warmup: int = 10_000,
    payload: int = 64,
    window: int = 1,
) -> dict[str, object]:
    """Send `warmup` + `count` datagrams of `payload` bytes through `backend` and back
    ("udp": a kernel UDP socket on 127.0.0.1 sending to itself; "dpdk": a DPDK net_ring
    port looped back, needs a core built with the dpdk feature), `window` in flight, each
    timed from send to receive (GIL released). Keys: backend, path, count, lost, elapsed_ns,
    per_sec, min_ns, mean_ns, p50_ns..p9999_ns, max_ns, histogram. Raises ConfigError for
    an unknown backend or a core built without DPDK."""

class Bus:
    """A connection to the firm bus (NATS JetStream; the `quotewire-bus` crate): a side
    thread running the NATS client, fed and read through lock-free rings. Money is raw
    (four implied decimals; notional = raw price x shares)."""

    def __init__(
        self,
        url: str,
        instance: str,
        *,
        prefix: str = "qw",
        stream: str = "QW_DROPCOPY",
        state_stream: str = "QW_STATE",
        bucket: str = "QW_RISK",
        replicas: int = 1,
        watch_peers: bool = False,
        connect_timeout_s: float = 3.0,
        ack_timeout_s: float = 2.0,
        outbound_capacity: int = 65_536,
        inbound_capacity: int = 4_096,
    ) -> None:
        """Connect, creating the streams and bucket when missing; QuotewireError when the
        server is unreachable, ConfigError for a bad name or size."""
    @property
    def instance(self) -> str:
        """This instance's name."""
    @property
    def session(self) -> int:
        """This connection's session number (its start, ns since the Unix epoch)."""
    def publish_fills(self, events: list[dict[str, Any]]) -> int:
        """Queue every "fill" of an `Engine.events()` batch for the drop copy (numbered
        1, 2, ... per session); returns how many were queued."""
    def publish_position(
        self,
        instrument: int,
        position: int,
        open_buy: int,
        open_sell: int,
        mark: int,
        realised: int,
        unrealised: int,
        ts_ns: int | None = None,
    ) -> bool:
        """Queue one instrument's position; False when the ring is full."""
    def publish_exposure(
        self,
        gross: int,
        net: int,
        worst_gross: int,
        worst_net: int,
        open_orders: int,
        budget_revision: int,
        killed: bool,
        ts_ns: int | None = None,
    ) -> bool:
        """Queue the instance's exposure and the budget revision it applied."""
    def heartbeat(self) -> bool:
        """Queue a heartbeat (core NATS)."""
    def poll(self, max: int = 1_024) -> list[dict[str, Any]]:
        """Inbound messages, oldest first: {"kind": "kill", "active", "revision"},
        {"kind": "budget", "revision", "max_gross_exposure", "max_net_exposure",
        "max_open_orders"} or {"kind": "peer", "instance", "ts_ns", "gross", "net",
        "worst_gross", "worst_net", "open_orders", "budget_revision", "killed"}."""
    def counters(self) -> dict[str, Any]:
        """published, duplicates, dropped, failed, queued, inbound, inbound_dropped,
        reconnects, disconnects (ints) and connected (bool)."""
    def put_budget(
        self,
        instance: str,
        max_gross_exposure: int,
        max_net_exposure: int,
        max_open_orders: int,
        expected_revision: int | None = None,
    ) -> int | None:
        """Write a budget (None: unconditionally; 0: only when absent; r: only when the
        last revision is r). The new revision, or None on a compare-and-set conflict."""
    def budget(self, instance: str) -> tuple[int, dict[str, int]] | None:
        """(revision, limits) of `instance`'s budget, None when never written."""
    def firm_kill(self, active: bool = True, reason: str = "") -> int:
        """Engage (or clear) the firm-wide kill switch; the KV revision."""
    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until every queued message is stored (QuotewireError on timeout)."""
    def read_stream(self, stream: str, filter: str = "") -> list[tuple[str, int, bytes]]:
        """Every message of `stream` matching `filter`: (subject, sequence, payload)."""
    def close(self) -> dict[str, Any]:
        """Flush (up to 3 s), stop the thread; the final counters (empty when closed)."""
