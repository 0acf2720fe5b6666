"""Reading quotewire journals: the engine's append-only record of inbound packets, order
requests, execution reports and notes (`rust_core/journal`).

A journal is a directory of segments `journal-000001.qwj`, `journal-000002.qwj`, ...;
every function here also takes a single segment file. Damage never raises: a record whose
checksum fails is skipped and reported with its segment and byte offset, and a partial
record at the end of a segment (a crash mid-write) is reported as the torn tail.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from quotewire import _core

__all__ = [
    "KIND_EXEC_REPORT",
    "KIND_INBOUND_PACKET",
    "KIND_NOTE",
    "KIND_ORDER_REQUEST",
    "Inspection",
    "format_inspect",
    "inspect",
    "notes",
    "orders",
    "to_pcap",
    "write",
]

KIND_INBOUND_PACKET = 1
KIND_ORDER_REQUEST = 2
KIND_EXEC_REPORT = 3
KIND_NOTE = 4


class ChecksumError(TypedDict):
    """One damaged record: where it is and why it was refused."""

    segment: str
    offset: int
    reason: str


class TornTail(TypedDict):
    """A partial record ending a segment."""

    segment: str
    offset: int


class Inspection(TypedDict):
    """What `inspect` returns (the keys of `_core.journal_inspect`)."""

    segments: int
    records: int
    bytes: int
    by_kind: dict[str, int]
    first_ts_unix_ns: int | None
    last_ts_unix_ns: int | None
    checksum_errors: list[ChecksumError]
    torn_tail: TornTail | None
    feed_gaps: int
    feed_messages: int


def _existing(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if not os.path.exists(text):
        raise FileNotFoundError(f"no such journal: {text}")
    return text


def inspect(path: str | os.PathLike[str]) -> Inspection:
    """Summary of a journal: records by kind, time span, feed gaps, damage."""
    raw: dict[str, Any] = _core.journal_inspect(_existing(path))
    return Inspection(
        segments=int(raw["segments"]),
        records=int(raw["records"]),
        bytes=int(raw["bytes"]),
        by_kind={str(k): int(v) for k, v in raw["by_kind"].items()},
        first_ts_unix_ns=raw["first_ts_unix_ns"],
        last_ts_unix_ns=raw["last_ts_unix_ns"],
        checksum_errors=[
            ChecksumError(
                segment=str(e["segment"]), offset=int(e["offset"]), reason=str(e["reason"])
            )
            for e in raw["checksum_errors"]
        ],
        torn_tail=(
            None
            if raw["torn_tail"] is None
            else TornTail(
                segment=str(raw["torn_tail"]["segment"]), offset=int(raw["torn_tail"]["offset"])
            )
        ),
        feed_gaps=int(raw["feed_gaps"]),
        feed_messages=int(raw["feed_messages"]),
    )


def orders(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[np.void]]:
    """Order requests and execution reports as structured arrays ("requests", "reports")."""
    return _core.journal_orders(_existing(path))


def notes(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """Every note as (ts_unix_ns, text)."""
    return _core.journal_notes(_existing(path))


def to_pcap(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Write the journal's inbound packets into a pcap; returns the packets written."""
    return _core.journal_to_pcap(_existing(path), os.fspath(out))


def write(
    directory: str | os.PathLike[str],
    records: list[tuple[int, int, int, bytes]],
    *,
    segment_bytes: int = 64 << 20,
    clock_epoch_unix_ns: int = 0,
) -> int:
    """Append (kind, line, ts_ns, payload) records to a journal directory (a new segment)."""
    return _core.journal_write(
        os.fspath(directory),
        records,
        segment_bytes=segment_bytes,
        clock_epoch_unix_ns=clock_epoch_unix_ns,
    )


def _utc(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    return f"{t:%Y-%m-%d %H:%M:%S}.{ns % 1_000_000_000:09d} UTC"


def format_inspect(path: str, s: Inspection) -> str:
    """A readable summary: records by kind, time span (UTC), gaps, damage with offsets."""
    lines = [
        f"{path}: {s['segments']:,} segment(s), {s['bytes']:,} bytes, {s['records']:,} records"
    ]
    first, last = s["first_ts_unix_ns"], s["last_ts_unix_ns"]
    if first is not None and last is not None:
        lines.append(f"  time      {_utc(first)} .. {_utc(last)} ({(last - first) / 1e9:,.3f} s)")
    else:
        lines.append("  time      -")
    lines.append("  by kind")
    width = max(len(k) for k in s["by_kind"]) if s["by_kind"] else 0
    for kind, n in s["by_kind"].items():
        lines.append(f"    {kind:<{width}}  {n:>12,}")
    lines.append(f"  feed      {s['feed_messages']:,} messages, {s['feed_gaps']:,} sequence gap(s)")
    errors = s["checksum_errors"]
    lines.append(f"  checksum  {len(errors):,} error(s)")
    for e in errors:
        lines.append(f"    {e['segment']} offset {e['offset']:,} ({e['offset']:#x}): {e['reason']}")
    torn = s["torn_tail"]
    if torn is None:
        lines.append("  torn tail none")
    else:
        lines.append(
            f"  torn tail {torn['segment']} offset {torn['offset']:,} ({torn['offset']:#x})"
        )
    return "\n".join(lines)
