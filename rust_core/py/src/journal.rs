//! `journal_*` functions: reading (and, as a utility, writing) quotewire journals.
//!
//! The MoldUDP64 gap counting of `journal_inspect` lives here rather than in the
//! journal crate, which knows bytes and the order vocabulary only.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quotewire_journal::{
    decode_request, inspect, JournalConfig, JournalError, JournalReader, JournalWriter, ReadEvent,
    RecordKind, ReportFields, DEFAULT_SEGMENT_BYTES, LINE_RETRANSMIT,
};
use quotewire_protocol::moldudp64::{decode_header, PacketKind, Session};
use quotewire_transport::PcapWriter;

use crate::{ConfigError, DataError};

fn to_py(error: JournalError) -> PyErr {
    match error {
        JournalError::Config(_) | JournalError::RecordTooLarge { .. } => {
            ConfigError::new_err(error.to_string())
        }
        _ => DataError::new_err(error.to_string()),
    }
}

fn segment_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Counts MoldUDP64 sequence gaps the way the feed sequencer does: one gap per
/// hole opened between the next expected sequence number and the highest one
/// known to exist, closed once the hole is filled (by the other line or a
/// retransmission). Delivery starts at the first packet's sequence number;
/// packets of another session than the first are ignored. `messages` counts
/// each distinct message sequence number seen once.
#[derive(Debug, Default)]
struct GapCounter {
    session: Option<Session>,
    expected: u64,
    high_water: u64,
    /// Out-of-order packets: first sequence -> next sequence.
    pending: BTreeMap<u64, u64>,
    gap_to: Option<u64>,
    gaps: u64,
    messages: u64,
}

impl GapCounter {
    fn on_packet(&mut self, payload: &[u8]) {
        let Ok(h) = decode_header(payload) else {
            return;
        };
        match self.session {
            None => {
                self.session = Some(h.session);
                self.expected = h.sequence;
                self.high_water = h.sequence;
            }
            Some(s) if s != h.session => return,
            Some(_) => {}
        }
        let (first, next) = (h.sequence, h.next_sequence());
        self.high_water = self.high_water.max(next);
        if h.kind() == PacketKind::Data && next > self.expected {
            if first <= self.expected {
                self.messages += next - self.expected;
                self.expected = next;
                self.drain_pending();
            } else {
                let e = self.pending.entry(first).or_insert(next);
                *e = (*e).max(next);
            }
        }
        self.update_gap();
    }

    /// Messages received but still waiting behind an unfilled hole: counted
    /// once each at the end, so `messages` is every distinct message seen.
    fn finish(&mut self) {
        let mut cursor = self.expected;
        for (&first, &next) in &self.pending {
            let start = first.max(cursor);
            if next > start {
                self.messages += next - start;
                cursor = next;
            }
        }
        self.pending.clear();
    }

    fn drain_pending(&mut self) {
        while let Some((&first, &next)) = self.pending.first_key_value() {
            if first > self.expected {
                break;
            }
            self.pending.remove(&first);
            if next > self.expected {
                self.messages += next - self.expected;
                self.expected = next;
            }
        }
    }

    fn hole_end(&self) -> u64 {
        let min_first = self.pending.keys().next().copied().unwrap_or(u64::MAX);
        min_first.min(self.high_water).saturating_sub(1)
    }

    fn update_gap(&mut self) {
        if let Some(to) = self.gap_to {
            if self.expected <= to {
                self.gap_to = Some(to.max(self.hole_end()));
                return;
            }
            self.gap_to = None;
        }
        if self.expected < self.high_water {
            self.gap_to = Some(self.hole_end());
            self.gaps += 1;
        }
    }
}

/// Summarises a journal directory or segment file.
#[pyfunction]
pub(crate) fn journal_inspect(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let (s, gaps) = py
        .detach(|| {
            let mut counter = GapCounter::default();
            let s = inspect(&path, |line, _, payload| {
                if line <= LINE_RETRANSMIT {
                    counter.on_packet(payload);
                }
            })?;
            counter.finish();
            Ok::<_, JournalError>((s, counter))
        })
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("segments", s.segments)?;
    out.set_item("records", s.records)?;
    out.set_item("bytes", s.bytes)?;
    let by_kind = PyDict::new(py);
    for kind in RecordKind::ALL {
        by_kind.set_item(kind.name(), s.count(kind))?;
    }
    out.set_item("by_kind", by_kind)?;
    out.set_item("first_ts_unix_ns", s.first_ts_unix_ns)?;
    out.set_item("last_ts_unix_ns", s.last_ts_unix_ns)?;
    let errors = PyList::empty(py);
    for c in &s.checksum_errors {
        let d = PyDict::new(py);
        d.set_item("segment", segment_name(&c.segment))?;
        d.set_item("offset", c.offset)?;
        d.set_item("reason", c.reason.to_string())?;
        errors.append(d)?;
    }
    out.set_item("checksum_errors", errors)?;
    match &s.torn_tail {
        Some(t) => {
            let d = PyDict::new(py);
            d.set_item("segment", segment_name(&t.segment))?;
            d.set_item("offset", t.offset)?;
            out.set_item("torn_tail", d)?;
        }
        None => out.set_item("torn_tail", py.None())?,
    }
    out.set_item("feed_gaps", gaps.gaps)?;
    out.set_item("feed_messages", gaps.messages)?;
    Ok(out)
}

fn pcap_error(out: &Path, e: quotewire_transport::TransportError) -> PyErr {
    DataError::new_err(format!("{}: {e}", out.display()))
}

/// Writes every intact inbound packet as a UDP datagram into a classic pcap.
#[pyfunction]
pub(crate) fn journal_to_pcap(py: Python<'_>, path: PathBuf, out: PathBuf) -> PyResult<u64> {
    py.detach(|| {
        let mut reader = JournalReader::open(&path).map_err(to_py)?;
        let mut pcap = PcapWriter::create(&out).map_err(|e| pcap_error(&out, e))?;
        let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 26400);
        let mut written = 0u64;
        while let Some(event) = reader.next_event().map_err(to_py)? {
            let ReadEvent::Record(r) = event else {
                continue;
            };
            if r.kind != RecordKind::InboundPacket {
                continue;
            }
            // One destination port per line: 26477 (A), 26478 (B), 26479 (retransmit).
            let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 26477 + u16::from(r.line));
            pcap.write_datagram(r.unix_ns(), src, dst, r.payload)
                .map_err(|e| pcap_error(&out, e))?;
            written += 1;
        }
        pcap.into_inner().map_err(|e| pcap_error(&out, e))?;
        Ok(written)
    })
}

const REQUEST_DTYPE: &[(&str, &str)] = &[
    ("ts_unix_ns", "<u8"),
    ("action", "S1"),
    ("side", "S1"),
    ("cl", "<u4"),
    ("orig", "<u4"),
    ("instrument", "<u2"),
    ("price", "<i8"),
    ("qty", "<u8"),
    ("post_only", "?"),
    ("tif", "S1"),
];

const REPORT_DTYPE: &[(&str, &str)] = &[
    ("ts_unix_ns", "<u8"),
    ("kind", "S1"),
    ("cl", "<u4"),
    ("orig", "<u4"),
    ("venue_id", "<u8"),
    ("price", "<i8"),
    ("qty", "<u8"),
    ("match_number", "<u8"),
    ("reason", "<u2"),
    ("liquidity", "S1"),
    ("venue_ts_ns", "<u8"),
];

/// Builds a packed NumPy structured array from little-endian row bytes.
fn structured<'py>(
    py: Python<'py>,
    fields: &[(&str, &str)],
    rows: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    let dtype = np.call_method1("dtype", (fields.to_vec(),))?;
    np.call_method1("frombuffer", (PyBytes::new(py, rows), dtype))?
        .call_method0("copy")
}

#[derive(Default)]
struct Orders {
    requests: Vec<u8>,
    reports: Vec<u8>,
}

fn collect_orders(path: &Path) -> Result<Orders, JournalError> {
    let mut o = Orders::default();
    let mut reader = JournalReader::open(path)?;
    while let Some(event) = reader.next_event()? {
        let ReadEvent::Record(r) = event else {
            continue;
        };
        let ts = r.unix_ns().to_le_bytes();
        match r.kind {
            RecordKind::OrderRequest => {
                // Fields from the payload's documented offsets; an undecodable one is skipped.
                let (Ok(_), p) = (decode_request(r.payload), r.payload) else {
                    continue;
                };
                let row = &mut o.requests;
                row.extend_from_slice(&ts);
                row.extend_from_slice(&[p[0], p[1]]);
                row.extend_from_slice(&p[4..8]);
                row.extend_from_slice(&p[8..12]);
                row.extend_from_slice(&p[12..14]);
                row.extend_from_slice(&p[16..24]);
                row.extend_from_slice(&p[24..32]);
                row.extend_from_slice(&[u8::from(p[3] != 0), p[2]]);
            }
            RecordKind::ExecReport => {
                let Ok(f) = ReportFields::decode(r.payload) else {
                    continue;
                };
                if f.to_report().is_err() {
                    continue;
                }
                let (reason, liquidity) = match f.kind {
                    b'J' => (f.reason, 0),
                    b'C' | b'B' => (u16::from(f.aux), 0),
                    b'E' => (0, f.aux),
                    _ => (0, 0),
                };
                let row = &mut o.reports;
                row.extend_from_slice(&ts);
                row.push(f.kind);
                row.extend_from_slice(&f.cl.to_le_bytes());
                row.extend_from_slice(&f.orig.to_le_bytes());
                row.extend_from_slice(&f.venue_id.to_le_bytes());
                row.extend_from_slice(&f.price.to_le_bytes());
                row.extend_from_slice(&f.qty.to_le_bytes());
                row.extend_from_slice(&f.match_number.to_le_bytes());
                row.extend_from_slice(&reason.to_le_bytes());
                row.push(liquidity);
                row.extend_from_slice(&f.venue_ts_ns.to_le_bytes());
            }
            RecordKind::InboundPacket | RecordKind::Note => {}
        }
    }
    Ok(o)
}

/// Order requests and execution reports as NumPy structured arrays.
#[pyfunction]
pub(crate) fn journal_orders(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let o = py.detach(|| collect_orders(&path)).map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("requests", structured(py, REQUEST_DTYPE, &o.requests)?)?;
    out.set_item("reports", structured(py, REPORT_DTYPE, &o.reports)?)?;
    Ok(out)
}

/// Every note as `(ts_unix_ns, text)`; invalid UTF-8 is replaced, not refused.
#[pyfunction]
pub(crate) fn journal_notes(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(u64, String)>> {
    py.detach(|| {
        let mut out = Vec::new();
        let mut reader = JournalReader::open(&path)?;
        while let Some(event) = reader.next_event()? {
            if let ReadEvent::Record(r) = event {
                if r.kind == RecordKind::Note {
                    out.push((r.unix_ns(), String::from_utf8_lossy(r.payload).into_owned()));
                }
            }
        }
        Ok(out)
    })
    .map_err(to_py)
}

/// Appends `(kind, line, ts_ns, payload)` records to the journal directory `dir`
/// (a new segment after any existing ones); returns the records written.
#[pyfunction]
#[pyo3(signature = (dir, records, *, segment_bytes = DEFAULT_SEGMENT_BYTES, clock_epoch_unix_ns = 0))]
pub(crate) fn journal_write(
    py: Python<'_>,
    dir: PathBuf,
    records: Vec<(u8, u8, u64, Vec<u8>)>,
    segment_bytes: u64,
    clock_epoch_unix_ns: u64,
) -> PyResult<u64> {
    for (i, (kind, ..)) in records.iter().enumerate() {
        if RecordKind::from_byte(*kind).is_none() {
            return Err(ConfigError::new_err(format!(
                "record {i}: kind {kind} is not 1 (inbound packet), 2 (order request), \
                 3 (exec report) or 4 (note)"
            )));
        }
    }
    py.detach(|| {
        let cfg = JournalConfig {
            segment_bytes,
            clock_epoch_unix_ns,
        };
        let mut w = JournalWriter::open(&dir, cfg)?;
        for (kind, line, ts_ns, payload) in &records {
            let kind = RecordKind::from_byte(*kind).ok_or(JournalError::Config("record kind"))?;
            w.append(kind, *line, *ts_ns, payload)?;
        }
        let n = w.records();
        w.close()?;
        Ok(n)
    })
    .map_err(to_py)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_protocol::moldudp64::{encode_header, Header, HEADER_LEN};

    fn packet(seq: u64, count: u16) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        let h = Header {
            session: Session::from_str_padded("S1"),
            sequence: seq,
            count,
        };
        encode_header(&h, &mut buf).unwrap();
        buf
    }

    fn count(packets: &[(u64, u16)]) -> (u64, u64) {
        let mut c = GapCounter::default();
        for &(s, n) in packets {
            c.on_packet(&packet(s, n));
        }
        c.finish();
        (c.gaps, c.messages)
    }

    #[test]
    fn a_and_b_copies_of_a_clean_feed_show_no_gap() {
        assert_eq!(count(&[(1, 2), (1, 2), (3, 1), (3, 1), (4, 5)]), (0, 8));
    }

    #[test]
    fn hole_filled_later_by_the_other_line_is_one_gap_and_no_lost_message() {
        // A lost 3..4; A's 5 arrives before B's copy of 3.
        assert_eq!(count(&[(1, 2), (1, 2), (5, 1), (3, 2), (5, 1)]), (1, 5));
    }

    #[test]
    fn hole_never_filled_is_one_gap_however_many_packets_follow() {
        assert_eq!(count(&[(1, 1), (4, 1), (5, 1), (6, 1), (5, 2)]), (1, 4));
    }

    #[test]
    fn heartbeat_announcing_a_later_sequence_opens_a_gap() {
        assert_eq!(count(&[(1, 1), (2, 0), (5, 0)]), (1, 1));
    }
}
