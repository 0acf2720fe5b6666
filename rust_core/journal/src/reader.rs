//! [`JournalReader`]: every record of a journal, in order, with damage reported.

use std::path::{Path, PathBuf};

use crate::format::{RecordKind, SegmentHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::scan::{step, CorruptReason, Step};
use crate::writer::list_segments;
use crate::JournalError;

/// One intact record, borrowed from the reader's copy of its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Index of the segment (from its header).
    pub segment: u32,
    /// Byte offset of the record header within the segment file.
    pub offset: u64,
    /// What the payload is.
    pub kind: RecordKind,
    /// Feed line of an inbound packet, else 0.
    pub line: u8,
    /// Record number within the segment.
    pub seq: u32,
    /// Engine-clock nanoseconds.
    pub ts_ns: u64,
    /// The segment's `clock_epoch_unix_ns`.
    pub clock_epoch_unix_ns: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// The record's time as Unix nanoseconds (`ts_ns + clock_epoch_unix_ns`).
    #[must_use]
    pub const fn unix_ns(&self) -> u64 {
        self.ts_ns.saturating_add(self.clock_epoch_unix_ns)
    }
}

/// Damaged bytes that were skipped, with where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset within the segment file.
    pub offset: u64,
    /// What was wrong.
    pub reason: CorruptReason,
}

/// A partial record at the end of a segment (a write cut short by a crash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the partial record.
    pub offset: u64,
    /// What was wrong.
    pub reason: CorruptReason,
}

/// What [`JournalReader::next_event`] found next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadEvent<'a> {
    /// An intact record.
    Record(Record<'a>),
    /// Damaged bytes, skipped up to the next record that verifies.
    Corrupt(Corruption),
    /// A partial record ending a segment; the rest of that segment is skipped.
    TornTail(TornTail),
}

/// Reads a journal directory (every segment, in index order) or one segment file.
///
/// Each segment is read into memory whole when reached. Damage never stops the
/// walk: a record whose checksum fails is reported and skipped by scanning
/// forward 8 bytes at a time to the next header that verifies; a partial
/// record at the end of a segment is reported as a [`TornTail`].
#[derive(Debug)]
pub struct JournalReader {
    segments: Vec<PathBuf>,
    next_segment: usize,
    current: Option<usize>,
    header: Option<SegmentHeader>,
    data: Vec<u8>,
    pos: usize,
}

impl JournalReader {
    /// Opens a journal directory or a single segment file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| JournalError::io(path, e))?;
        let segments = if meta.is_dir() {
            list_segments(path)?
        } else if meta.is_file() {
            vec![path.to_path_buf()]
        } else {
            return Err(JournalError::NotAJournal(path.to_path_buf()));
        };
        Ok(Self {
            segments,
            next_segment: 0,
            current: None,
            header: None,
            data: Vec::new(),
            pos: 0,
        })
    }

    /// The segment files, in reading order.
    #[must_use]
    pub fn segments(&self) -> &[PathBuf] {
        &self.segments
    }

    fn segment_path(&self) -> PathBuf {
        self.current
            .map(|i| self.segments[i].clone())
            .unwrap_or_default()
    }

    /// Loads the next segment; `Ok(Some(corruption))` when its header is bad.
    fn load_next(&mut self) -> Result<Option<Corruption>, JournalError> {
        let i = self.next_segment;
        self.next_segment += 1;
        self.current = Some(i);
        let path = &self.segments[i];
        self.data = std::fs::read(path).map_err(|e| JournalError::io(path, e))?;
        self.pos = SEGMENT_HEADER_LEN;
        self.header = SegmentHeader::decode(&self.data);
        if self.header.is_none() && !self.data.is_empty() {
            return Ok(Some(Corruption {
                segment: path.clone(),
                offset: 0,
                reason: CorruptReason::BadSegmentHeader,
            }));
        }
        Ok(None)
    }

    /// The next record or damage report; `Ok(None)` after the last segment.
    /// Errors are I/O failures only.
    pub fn next_event(&mut self) -> Result<Option<ReadEvent<'_>>, JournalError> {
        loop {
            let Some(header) = self.header else {
                if self.next_segment >= self.segments.len() {
                    return Ok(None);
                }
                if let Some(bad) = self.load_next()? {
                    return Ok(Some(ReadEvent::Corrupt(bad)));
                }
                continue;
            };
            match step(&self.data, self.pos) {
                Step::Record {
                    offset,
                    header: h,
                    kind,
                    next,
                } => {
                    self.pos = next;
                    let body = offset + RECORD_HEADER_LEN;
                    return Ok(Some(ReadEvent::Record(Record {
                        segment: header.index,
                        offset: offset as u64,
                        kind,
                        line: h.line,
                        seq: h.seq,
                        ts_ns: h.ts_ns,
                        clock_epoch_unix_ns: header.clock_epoch_unix_ns,
                        payload: &self.data[body..body + h.len as usize],
                    })));
                }
                Step::Corrupt {
                    offset,
                    reason,
                    resume,
                } => {
                    self.pos = resume;
                    return Ok(Some(ReadEvent::Corrupt(Corruption {
                        segment: self.segment_path(),
                        offset: offset as u64,
                        reason,
                    })));
                }
                Step::Torn { offset, reason } => {
                    self.header = None;
                    return Ok(Some(ReadEvent::TornTail(TornTail {
                        segment: self.segment_path(),
                        offset: offset as u64,
                        reason,
                    })));
                }
                Step::End => self.header = None,
            }
        }
    }

    /// Visits every event in order (a convenience over [`Self::next_event`]).
    pub fn for_each(mut self, mut visit: impl FnMut(ReadEvent<'_>)) -> Result<(), JournalError> {
        while let Some(event) = self.next_event()? {
            visit(event);
        }
        Ok(())
    }
}

/// What [`inspect`] found in a journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Segment files.
    pub segments: usize,
    /// Intact records.
    pub records: u64,
    /// Bytes of the segment files on disk.
    pub bytes: u64,
    /// Intact records by kind, indexed by [`RecordKind::index`].
    pub by_kind: [u64; 4],
    /// Earliest record time (Unix ns).
    pub first_ts_unix_ns: Option<u64>,
    /// Latest record time (Unix ns).
    pub last_ts_unix_ns: Option<u64>,
    /// Damaged records skipped (torn tails of segments other than the last included).
    pub checksum_errors: Vec<Corruption>,
    /// A partial record ending the last damaged segment.
    pub torn_tail: Option<TornTail>,
}

impl Summary {
    /// Records of `kind`.
    #[must_use]
    pub const fn count(&self, kind: RecordKind) -> u64 {
        self.by_kind[kind.index()]
    }
}

/// Summarises a journal in one pass; `on_packet(line, unix_ns, payload)` sees
/// every intact inbound packet in order (for sequence-gap counting by a caller
/// that knows the feed protocol).
pub fn inspect(
    path: impl AsRef<Path>,
    mut on_packet: impl FnMut(u8, u64, &[u8]),
) -> Result<Summary, JournalError> {
    let reader = JournalReader::open(path)?;
    let mut s = Summary {
        segments: reader.segments().len(),
        ..Summary::default()
    };
    for seg in reader.segments() {
        s.bytes += std::fs::metadata(seg)
            .map_err(|e| JournalError::io(seg, e))?
            .len();
    }
    reader.for_each(|event| match event {
        ReadEvent::Record(r) => {
            s.records += 1;
            s.by_kind[r.kind.index()] += 1;
            let t = r.unix_ns();
            s.first_ts_unix_ns = Some(s.first_ts_unix_ns.map_or(t, |f| f.min(t)));
            s.last_ts_unix_ns = Some(s.last_ts_unix_ns.map_or(t, |l| l.max(t)));
            if r.kind == RecordKind::InboundPacket {
                on_packet(r.line, t, r.payload);
            }
        }
        ReadEvent::Corrupt(c) => s.checksum_errors.push(c),
        ReadEvent::TornTail(t) => {
            if let Some(earlier) = s.torn_tail.replace(t) {
                s.checksum_errors.push(Corruption {
                    segment: earlier.segment,
                    offset: earlier.offset,
                    reason: earlier.reason,
                });
            }
        }
    })?;
    Ok(s)
}
