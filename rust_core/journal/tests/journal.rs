//! Writer, reader and ring against real segment directories.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use quotewire_core::order::{ClOrdId, ExecReport, NewOrder, OrderRequest, TimeInForce};
use quotewire_core::{InstrumentId, OrderId, Price, Qty, Side};
use quotewire_journal::{
    decode_report, decode_request, inspect, list_segments, spawn, spawn_writer, CorruptReason,
    JournalConfig, JournalError, JournalReader, JournalWriter, ReadEvent, RecordKind, RecordSink,
    RingConfig, MAX_RING_PAYLOAD,
};

type Owned = (RecordKind, u8, u64, Vec<u8>);
type Damage = (String, u64, CorruptReason);
type Events = (Vec<Owned>, Vec<Damage>, Vec<(String, u64)>);

fn cfg(segment_bytes: u64) -> JournalConfig {
    JournalConfig {
        segment_bytes,
        clock_epoch_unix_ns: 1_700_000_000_000_000_000,
    }
}

fn sample(n: usize) -> Vec<Owned> {
    (0..n)
        .map(|i| {
            let kind = RecordKind::ALL[i % 4];
            let len = (i * 37) % 300;
            let payload = (0..len).map(|j| (i + j) as u8).collect();
            (kind, (i % 3) as u8, 1_000 + i as u64 * 10, payload)
        })
        .collect()
}

fn write_all(dir: &Path, records: &[Owned], segment_bytes: u64) {
    let mut w = JournalWriter::open(dir, cfg(segment_bytes)).unwrap();
    for (kind, line, ts, p) in records {
        w.append(*kind, *line, *ts, p).unwrap();
    }
    w.close().unwrap();
}

/// Every event of the journal: records as owned tuples, damage as (segment name, offset, reason).
fn read_all(path: &Path) -> Events {
    let mut records = Vec::new();
    let mut corrupt = Vec::new();
    let mut torn = Vec::new();
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    JournalReader::open(path)
        .unwrap()
        .for_each(|e| match e {
            ReadEvent::Record(r) => records.push((r.kind, r.line, r.ts_ns, r.payload.to_vec())),
            ReadEvent::Corrupt(c) => corrupt.push((name(&c.segment), c.offset, c.reason)),
            ReadEvent::TornTail(t) => torn.push((name(&t.segment), t.offset)),
        })
        .unwrap();
    (records, corrupt, torn)
}

#[test]
fn records_written_across_rotated_segments_read_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(200);
    write_all(dir.path(), &records, 4096);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() >= 5, "{} segments", segments.len());
    for s in &segments {
        assert!(std::fs::metadata(s).unwrap().len() <= 4096);
    }
    let (got, corrupt, torn) = read_all(dir.path());
    assert_eq!(got, records);
    assert!(corrupt.is_empty() && torn.is_empty());
}

#[test]
fn record_numbers_restart_in_each_segment_and_times_carry_the_epoch() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &sample(100), 2048);
    let mut last: Option<(u32, u32)> = None;
    let mut reader = JournalReader::open(dir.path()).unwrap();
    while let Some(ReadEvent::Record(r)) = reader.next_event().unwrap() {
        let expected_seq = match last {
            Some((seg, seq)) if seg == r.segment => seq + 1,
            _ => 0,
        };
        assert_eq!(r.seq, expected_seq);
        assert_eq!(r.unix_ns(), r.ts_ns + 1_700_000_000_000_000_000);
        last = Some((r.segment, r.seq));
    }
    assert!(last.unwrap().0 > 1);
}

#[test]
fn torn_final_record_is_reported_by_the_reader_and_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(10);
    write_all(dir.path(), &records, 1 << 20);
    let seg = list_segments(dir.path()).unwrap().remove(0);
    let whole = std::fs::metadata(&seg).unwrap().len();
    // Simulate a crash mid-write: a record header promising 500 bytes, 40 present.
    let mut extra = vec![0u8; 24 + 40];
    extra[0..4].copy_from_slice(&500u32.to_le_bytes());
    extra[4..8].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
    extra[8] = 1;
    extra[24..].fill(0xAB);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&extra);
    std::fs::write(&seg, &bytes).unwrap();

    let (got, corrupt, torn) = read_all(dir.path());
    assert_eq!(got, records);
    assert!(corrupt.is_empty());
    assert_eq!(torn, vec![("journal-000001.qwj".to_owned(), whole)]);

    let w = JournalWriter::open(dir.path(), cfg(1 << 20)).unwrap();
    let rec = w.recovery().unwrap();
    assert_eq!((rec.offset, rec.discarded_bytes), (whole, 64));
    assert_eq!(rec.reason, CorruptReason::LengthPastEnd);
    assert_eq!(w.segment_index(), Some(2));
    w.close().unwrap();
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole);
    let (again, _, torn) = read_all(dir.path());
    assert_eq!(again, records);
    assert!(torn.is_empty());
}

#[test]
fn crash_without_close_leaves_a_presized_segment_that_reopen_trims_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(20);
    let mut w = JournalWriter::open(dir.path(), cfg(1 << 16)).unwrap();
    for (kind, line, ts, p) in &records {
        w.append(*kind, *line, *ts, p).unwrap();
    }
    w.flush().unwrap();
    // A crash: the writer never closes (no truncation, no Drop).
    std::mem::forget(w);
    let seg = list_segments(dir.path()).unwrap().remove(0);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), 1 << 16);
    assert_eq!(read_all(dir.path()).0, records);
    let w = JournalWriter::open(dir.path(), cfg(1 << 16)).unwrap();
    assert!(w.recovery().is_none());
    w.close().unwrap();
    assert!(std::fs::metadata(&seg).unwrap().len() < 1 << 16);
    assert_eq!(read_all(dir.path()).0, records);
}

#[test]
fn flipped_byte_mid_record_is_reported_at_its_offset_and_later_records_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(60);
    write_all(dir.path(), &records, 8192);
    // Find record 3 of segment 2 and flip a byte in the middle of its payload.
    let mut target = None;
    let mut reader = JournalReader::open(dir.path()).unwrap();
    let mut index = 0;
    while let Some(ReadEvent::Record(r)) = reader.next_event().unwrap() {
        if r.segment == 2 && r.seq == 3 {
            target = Some((r.offset, r.payload.len(), index));
        }
        index += 1;
    }
    let (offset, len, index) = target.unwrap();
    assert!(len > 2);
    let seg = dir.path().join("journal-000002.qwj");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[offset as usize + 24 + len / 2] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let (got, corrupt, torn) = read_all(dir.path());
    assert_eq!(
        corrupt,
        vec![(
            "journal-000002.qwj".to_owned(),
            offset,
            CorruptReason::ChecksumMismatch
        )]
    );
    assert!(torn.is_empty());
    let mut expected = records;
    expected.remove(index);
    assert_eq!(got, expected);

    let summary = inspect(dir.path(), |_, _, _| {}).unwrap();
    assert_eq!(summary.records, 59);
    assert_eq!(summary.checksum_errors.len(), 1);
    assert_eq!(summary.checksum_errors[0].offset, offset);
}

#[test]
fn flipped_length_field_resynchronises_on_the_next_header() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(8);
    write_all(dir.path(), &records, 1 << 20);
    let seg = list_segments(dir.path()).unwrap().remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 2] ^= 0x10; // first record's length: now far past the end
    std::fs::write(&seg, &bytes).unwrap();
    let (got, corrupt, _) = read_all(dir.path());
    assert_eq!(corrupt.len(), 1);
    assert_eq!(corrupt[0].1, 64);
    assert_eq!(got, records[1..].to_vec());
}

#[test]
fn single_segment_file_reads_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(30);
    write_all(dir.path(), &records, 2048);
    let first = list_segments(dir.path()).unwrap().remove(0);
    let (got, _, _) = read_all(&first);
    assert!(!got.is_empty() && got.len() < records.len());
    assert_eq!(got, records[..got.len()].to_vec());
}

#[test]
fn inspect_counts_kinds_time_span_and_hands_over_packets() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(41);
    write_all(dir.path(), &records, 4096);
    let mut packets = Vec::new();
    let s = inspect(dir.path(), |line, t, p| packets.push((line, t, p.len()))).unwrap();
    assert_eq!(s.records, 41);
    assert_eq!(s.count(RecordKind::InboundPacket), 11);
    assert_eq!(s.count(RecordKind::Note), 10);
    assert_eq!(s.first_ts_unix_ns, Some(1_700_000_000_000_001_000));
    assert_eq!(s.last_ts_unix_ns, Some(1_700_000_000_000_001_400));
    assert_eq!(packets.len(), 11);
    assert_eq!(s.segments, list_segments(dir.path()).unwrap().len());
    assert!(s.checksum_errors.is_empty() && s.torn_tail.is_none());
}

#[test]
fn missing_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        JournalReader::open(dir.path().join("nope")),
        Err(JournalError::Io { .. })
    ));
}

#[test]
fn ring_records_requests_reports_packets_and_notes_into_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut tx, handle, recovery) =
        spawn_writer(dir.path(), cfg(4096), RingConfig::default()).unwrap();
    assert!(recovery.is_none());
    let req = OrderRequest::New(NewOrder {
        cl: ClOrdId(11),
        instrument: InstrumentId(2),
        side: Side::Sell,
        price: Price(1_010_000),
        qty: Qty(200),
        tif: TimeInForce::Ioc,
        post_only: false,
    });
    let rep = ExecReport::Accepted {
        cl: ClOrdId(11),
        venue_id: OrderId(99),
        price: Price(1_010_000),
        qty: Qty(200),
        ts_ns: 123,
    };
    assert!(tx.try_packet(1, 10, b"datagram"));
    assert!(tx.try_request(20, &req));
    assert!(tx.try_report(30, &rep));
    assert!(tx.try_note(40, "kill switch armed"));
    assert!(!tx.try_packet(0, 50, &vec![0u8; MAX_RING_PAYLOAD + 1]));
    assert!(tx.try_packet(0, 60, &vec![5u8; MAX_RING_PAYLOAD]));
    drop(tx);
    let stats = handle.stop().unwrap();
    assert_eq!((stats.written, stats.dropped, stats.oversize), (5, 0, 1));

    let (got, _, _) = read_all(dir.path());
    assert_eq!(got.len(), 5);
    assert_eq!(
        got[0],
        (RecordKind::InboundPacket, 1, 10, b"datagram".to_vec())
    );
    assert_eq!(decode_request(&got[1].3), Ok(req));
    assert_eq!(decode_report(&got[2].3), Ok(rep));
    assert_eq!(got[3].3, b"kill switch armed");
    assert_eq!(got[4].3.len(), MAX_RING_PAYLOAD);
    let on_disk: u64 = list_segments(dir.path())
        .unwrap()
        .iter()
        .map(|s| std::fs::metadata(s).unwrap().len() - 64)
        .sum();
    assert_eq!(stats.bytes, on_disk);
}

/// A sink that blocks on every append until the test lets it go.
struct GatedSink {
    gate: mpsc::Receiver<()>,
    seen: mpsc::Sender<u64>,
}

impl RecordSink for GatedSink {
    fn append(&mut self, _: RecordKind, _: u8, ts: u64, _: &[u8]) -> Result<(), JournalError> {
        let _ = self.gate.recv_timeout(Duration::from_secs(5));
        let _ = self.seen.send(ts);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
}

#[test]
fn slow_writer_makes_a_full_ring_count_drops_and_raise_the_alarm() {
    let (open, gate) = mpsc::channel();
    let (seen_tx, seen) = mpsc::channel();
    let (mut tx, handle) = spawn(
        GatedSink {
            gate,
            seen: seen_tx,
        },
        RingConfig {
            slots: 8,
            idle_sleep: Duration::from_micros(50),
        },
    )
    .unwrap();
    // The writer takes what is queued and blocks in the first append without
    // committing, so the ring holds exactly its 8 slots until the gate opens.
    let mut accepted = 0u64;
    while accepted < 100 && tx.try_packet(0, accepted, b"y") {
        accepted += 1;
    }
    assert_eq!(accepted, 8);
    let ts = accepted;
    // The push that found the ring full was dropped, counted and alarmed ...
    assert!(tx.alarm() && handle.alarm());
    assert_eq!(tx.dropped(), 1);
    // ... and so is every further one while the writer is stuck.
    for _ in 0..4 {
        assert!(!tx.try_note(ts, "lost"));
    }
    assert!(tx.alarm() && handle.alarm());
    assert_eq!(tx.dropped(), 5);
    for _ in 0..accepted {
        open.send(()).unwrap();
    }
    drop(tx);
    let stats = handle.stop().unwrap();
    assert_eq!((stats.written, stats.dropped), (accepted, 5));
    assert_eq!(seen.try_iter().count() as u64, accepted);
}
