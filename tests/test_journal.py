"""Journals read from Python: inspect, orders, notes, pcap export and the CLI, on journals
written through `_core.journal_write` (the same Rust writer the engine uses)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import RunCli, last_json_line

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

from quotewire import _core, itch, journal

EPOCH = 1_700_000_000_000_000_000
SESSION = b"QWTEST    "


def mold(seq: int, messages: list[bytes]) -> bytes:
    body = b"".join(struct.pack(">H", len(m)) + m for m in messages)
    return SESSION + struct.pack(">QH", seq, len(messages)) + body


def request(action: bytes, side: bytes, tif: bytes, cl: int, orig: int, px: int, qty: int) -> bytes:
    """The 32-byte order request payload at its documented offsets."""
    return struct.pack("<ccc?IIHHqQ", action, side, tif, True, cl, orig, 7, 0, px, qty)


def report(kind: bytes, aux: int, reason: int, cl: int, venue_id: int, px: int, qty: int) -> bytes:
    """The 56-byte execution report payload at its documented offsets."""
    return struct.pack("<cBHIIIQqQQQ", kind, aux, reason, cl, 0, 0, venue_id, px, qty, 55, 99)


def sample_records() -> list[tuple[int, int, int, bytes]]:
    recs: list[tuple[int, int, int, bytes]] = []
    seq = 1
    for i in range(40):
        pkt = mold(seq, [b"x" * 10, b"y" * 12])
        recs.append((journal.KIND_INBOUND_PACKET, 0, 1_000 + i * 100, pkt))
        if i != 17:  # line B lost one packet: A covers it, no gap
            recs.append((journal.KIND_INBOUND_PACKET, 1, 1_001 + i * 100, pkt))
        seq += 2
    # Line A and B both miss sequences 81..82: one gap the sequencer would see.
    seq += 2
    recs.append((journal.KIND_INBOUND_PACKET, 0, 9_000, mold(seq, [b"z"])))
    recs.append(
        (journal.KIND_ORDER_REQUEST, 0, 9_100, request(b"N", b"B", b"0", 1, 0, 1_000_000, 100))
    )
    recs.append((journal.KIND_EXEC_REPORT, 0, 9_200, report(b"A", 0, 0, 1, 42, 1_000_000, 100)))
    recs.append(
        (journal.KIND_EXEC_REPORT, 0, 9_300, report(b"E", ord("A"), 0, 1, 0, 1_000_000, 40))
    )
    recs.append((journal.KIND_NOTE, 0, 9_400, b"spread 2 -> 3 ticks"))
    recs.append((journal.KIND_NOTE, 0, 9_500, b"kill switch: armed"))
    return recs


@pytest.fixture
def jdir(tmp_path: Path) -> Path:
    d = tmp_path / "journal"
    n = journal.write(d, sample_records(), segment_bytes=2048, clock_epoch_unix_ns=EPOCH)
    assert n == len(sample_records())
    return d


def test_inspect_counts_kinds_span_and_feed_gaps_across_segments(jdir: Path):
    s = journal.inspect(jdir)
    assert s["segments"] > 1
    assert s["records"] == len(sample_records())
    assert s["by_kind"] == {"inbound_packet": 80, "order_request": 1, "exec_report": 2, "note": 2}
    assert s["first_ts_unix_ns"] == EPOCH + 1_000
    assert s["last_ts_unix_ns"] == EPOCH + 9_500
    assert s["feed_gaps"] == 1
    assert s["feed_messages"] == 81
    assert s["checksum_errors"] == [] and s["torn_tail"] is None


def test_orders_come_back_as_structured_arrays(jdir: Path):
    o = journal.orders(jdir)
    req, rep = o["requests"], o["reports"]
    assert req.dtype.names is not None and "post_only" in req.dtype.names
    assert len(req) == 1
    assert (req["ts_unix_ns"][0], req["action"][0], req["side"][0]) == (EPOCH + 9_100, b"N", b"B")
    assert (req["cl"][0], req["instrument"][0], req["price"][0], req["qty"][0]) == (
        1,
        7,
        1_000_000,
        100,
    )
    assert bool(req["post_only"][0]) and req["tif"][0] == b"0"
    assert list(rep["kind"]) == [b"A", b"E"]
    assert rep["venue_id"][0] == 42 and rep["qty"][1] == 40
    assert rep["liquidity"][1] == b"A" and rep["venue_ts_ns"][1] == 99
    assert rep["match_number"].dtype == np.dtype("<u8")


def test_notes_keep_text_and_unix_time(jdir: Path):
    assert journal.notes(jdir) == [
        (EPOCH + 9_400, "spread 2 -> 3 ticks"),
        (EPOCH + 9_500, "kill switch: armed"),
    ]


def _corrupt_middle_of_first_request(jdir: Path) -> tuple[str, int]:
    """Flip a payload byte of the first order-request record; returns (segment, offset)."""
    for seg in sorted(jdir.glob("journal-*.qwj")):
        data = bytearray(seg.read_bytes())
        off = 64
        while off + 24 <= len(data):
            length, _crc, kind = struct.unpack_from("<IIB", data, off)
            if length == 0 and kind == 0:
                break
            if kind == journal.KIND_ORDER_REQUEST:
                data[off + 24 + 16] ^= 0xFF
                seg.write_bytes(bytes(data))
                return seg.name, off
            off += 24 + (length + 7) // 8 * 8
    raise AssertionError("no order request found")


def test_corrupted_byte_is_reported_with_segment_and_offset_and_the_rest_still_read(jdir: Path):
    seg, off = _corrupt_middle_of_first_request(jdir)
    s = journal.inspect(jdir)
    assert s["checksum_errors"] == [{"segment": seg, "offset": off, "reason": "checksum mismatch"}]
    assert s["records"] == len(sample_records()) - 1
    assert s["by_kind"]["order_request"] == 0
    assert len(journal.orders(jdir)["reports"]) == 2
    assert len(journal.notes(jdir)) == 2


def test_torn_tail_is_reported_not_raised(jdir: Path):
    last = sorted(jdir.glob("journal-*.qwj"))[-1]
    size = last.stat().st_size
    with last.open("ab") as f:
        f.write(struct.pack("<IIB", 400, 1, 1) + b"\0" * 15 + b"partial")
    s = journal.inspect(jdir)
    assert s["torn_tail"] == {"segment": last.name, "offset": size}
    assert s["checksum_errors"] == []
    # A writer reopening the directory cuts it off and continues in a new segment.
    journal.write(jdir, [(journal.KIND_NOTE, 0, 1, b"restart")], clock_epoch_unix_ns=EPOCH)
    assert last.stat().st_size == size
    assert journal.inspect(jdir)["torn_tail"] is None


def test_to_pcap_round_trips_a_captured_session(tmp_path: Path, pcap_session: Path):
    datagrams = _pcap_udp_payloads(pcap_session.read_bytes())
    d = tmp_path / "j"
    recs = [(journal.KIND_INBOUND_PACKET, 0, i * 1_000, p) for i, p in enumerate(datagrams)]
    journal.write(d, recs, clock_epoch_unix_ns=EPOCH)
    out = tmp_path / "out.pcap"
    assert journal.to_pcap(d, out) == len(datagrams)
    assert _pcap_udp_payloads(out.read_bytes()) == datagrams
    assert itch.summary(out).messages == itch.summary(pcap_session).messages
    assert journal.inspect(d)["feed_gaps"] == 0


def _pcap_udp_payloads(data: bytes) -> list[bytes]:
    """UDP payloads of a classic Ethernet/IPv4 pcap (what PcapWriter writes)."""
    out = []
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        ihl = (frame[14] & 0x0F) * 4
        udp = 14 + ihl
        length = struct.unpack_from(">H", frame, udp + 4)[0]
        out.append(frame[udp + 8 : udp + length])
        off += 16 + incl
    return out


def test_cli_inspect_prints_summary_and_corruption_offset(jdir: Path, run_cli: RunCli):
    seg, off = _corrupt_middle_of_first_request(jdir)
    code, out, _ = run_cli("journal", "inspect", str(jdir))
    assert code == 0
    assert "inbound_packet" in out and "80" in out
    assert "1 sequence gap(s)" in out
    assert f"{seg} offset {off:,}" in out
    assert "2023-11-14 22:13:20" in out  # the epoch, in UTC
    code, out, _ = run_cli("journal", "inspect", str(jdir), "--json")
    assert code == 0
    s = last_json_line(out)
    assert s["checksum_errors"] == [{"segment": seg, "offset": off, "reason": "checksum mismatch"}]
    json.dumps(s)


def test_missing_journal_is_a_one_line_error(tmp_path: Path, run_cli: RunCli):
    code, _, err = run_cli("journal", "inspect", str(tmp_path / "nope"))
    assert code != 0 and "nope" in err


def test_bad_record_kind_is_refused_by_the_writer(tmp_path: Path):
    with pytest.raises(_core.ConfigError):
        journal.write(tmp_path / "j", [(9, 0, 0, b"")])
