//! [`JournalWriter`]: appends records to memory-mapped, pre-sized segments.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use crate::format::{
    encode_record_header, parse_segment_file_name, record_size, segment_file_name, unix_now_ns,
    RecordKind, SegmentHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::scan::{step, CorruptReason, Step};
use crate::JournalError;

/// Default size of a segment file: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Smallest accepted segment size.
pub const MIN_SEGMENT_BYTES: u64 = 1024;

/// How a [`JournalWriter`] lays out its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Bytes each segment is pre-sized to (a multiple of 8, at least [`MIN_SEGMENT_BYTES`]).
    pub segment_bytes: u64,
    /// Unix ns at engine-clock 0, written into every segment header.
    pub clock_epoch_unix_ns: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            clock_epoch_unix_ns: 0,
        }
    }
}

/// What reopening a directory found at the end of its last segment and cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The segment that was truncated.
    pub segment: PathBuf,
    /// Offset of the torn record (the segment's new length).
    pub offset: u64,
    /// Why the bytes there were not a record.
    pub reason: CorruptReason,
    /// Bytes removed from the file (torn record and unused pre-sized space).
    pub discarded_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: File,
    map: MmapMut,
    index: u32,
    pos: usize,
    seq: u32,
}

/// Appends records to a journal directory.
///
/// Opening finds the last segment, truncates a torn final record (see
/// [`Self::recovery`]) and continues in a new segment, so a segment is never
/// appended to by two writers' lifetimes. Segments are pre-sized, zero-filled
/// and memory-mapped; a record that does not fit the current one rotates to
/// the next. Rotation and [`Self::close`] truncate the file to its used
/// length. One writer per directory: nothing locks it against a second one.
#[derive(Debug)]
pub struct JournalWriter {
    dir: PathBuf,
    cfg: JournalConfig,
    seg: Option<Segment>,
    next_index: u32,
    records: u64,
    bytes: u64,
    recovery: Option<Recovery>,
}

fn segments_in(dir: &Path) -> Result<Vec<(u32, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))? {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(index) = name.to_str().and_then(parse_segment_file_name) {
            out.push((index, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The segment files of a journal directory, in order.
pub fn list_segments(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, JournalError> {
    Ok(segments_in(dir.as_ref())?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// Finds where the written data of `data` ends, and a torn record if any.
fn used_length(data: &[u8]) -> (usize, Option<(usize, CorruptReason)>) {
    if SegmentHeader::decode(data).is_none() {
        return (
            0,
            (!data.is_empty()).then_some((0, CorruptReason::BadSegmentHeader)),
        );
    }
    let mut pos = SEGMENT_HEADER_LEN;
    let mut end = pos;
    loop {
        match step(data, pos) {
            Step::Record { next, .. } => {
                end = next;
                pos = next;
            }
            Step::Corrupt { resume, .. } => pos = resume,
            Step::Torn { offset, reason } => return (end, Some((offset, reason))),
            Step::End => return (end, None),
        }
    }
}

impl JournalWriter {
    /// Opens (creating it) the journal directory `dir` and starts a new segment.
    pub fn open(dir: impl AsRef<Path>, cfg: JournalConfig) -> Result<Self, JournalError> {
        if cfg.segment_bytes < MIN_SEGMENT_BYTES || cfg.segment_bytes % 8 != 0 {
            return Err(JournalError::Config(
                "segment_bytes must be a multiple of 8 and at least 1024",
            ));
        }
        if usize::try_from(cfg.segment_bytes).is_err() {
            return Err(JournalError::Config(
                "segment_bytes exceeds the address space",
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        let existing = segments_in(&dir)?;
        let mut recovery = None;
        let mut next_index = 1;
        if let Some((index, path)) = existing.last() {
            next_index = index
                .checked_add(1)
                .ok_or(JournalError::Config("segment index space exhausted"))?;
            let data = std::fs::read(path).map_err(|e| JournalError::io(path, e))?;
            let (end, torn) = used_length(&data);
            if end < data.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| JournalError::io(path, e))?;
                file.set_len(end as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| JournalError::io(path, e))?;
            }
            recovery = torn.map(|(offset, reason)| Recovery {
                segment: path.clone(),
                offset: offset as u64,
                reason,
                discarded_bytes: (data.len() - end) as u64,
            });
        }
        let mut me = Self {
            dir,
            cfg,
            seg: None,
            next_index,
            records: 0,
            bytes: 0,
            recovery,
        };
        me.start_segment()?;
        Ok(me)
    }

    fn start_segment(&mut self) -> Result<(), JournalError> {
        let index = self.next_index;
        self.next_index = index
            .checked_add(1)
            .ok_or(JournalError::Config("segment index space exhausted"))?;
        let path = self.dir.join(segment_file_name(index));
        let io = |e| JournalError::io(&path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        file.set_len(self.cfg.segment_bytes).map_err(io)?;
        // SAFETY: the file was created above by this writer (`create_new`) and the
        // directory has a single writer, so no one else truncates or maps it for
        // writing while the map lives; readers only read copies.
        let mut map = unsafe { MmapOptions::new().populate().map_mut(&file) }.map_err(io)?;
        let header = SegmentHeader {
            index,
            clock_epoch_unix_ns: self.cfg.clock_epoch_unix_ns,
            created_unix_ns: unix_now_ns(),
        };
        map[..SEGMENT_HEADER_LEN].copy_from_slice(&header.encode());
        self.seg = Some(Segment {
            path,
            file,
            map,
            index,
            pos: SEGMENT_HEADER_LEN,
            seq: 0,
        });
        Ok(())
    }

    fn finish_segment(&mut self) -> Result<(), JournalError> {
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        let io = |e| JournalError::io(&seg.path, e);
        seg.map.flush().map_err(io)?;
        drop(seg.map);
        seg.file.set_len(seg.pos as u64).map_err(io)?;
        seg.file.sync_data().map_err(io)
    }

    /// Appends one record. Rotates to a new segment when it does not fit the current one.
    pub fn append(
        &mut self,
        kind: RecordKind,
        line: u8,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        let size = record_size(payload.len());
        if u32::try_from(payload.len()).is_err()
            || size as u64 > self.cfg.segment_bytes - SEGMENT_HEADER_LEN as u64
        {
            return Err(JournalError::RecordTooLarge {
                len: payload.len(),
                segment_bytes: self.cfg.segment_bytes,
            });
        }
        let seg = self.seg.as_ref().ok_or(JournalError::Closed)?;
        if seg.pos + size > seg.map.len() {
            self.finish_segment()?;
            self.start_segment()?;
        }
        let seg = self.seg.as_mut().ok_or(JournalError::Closed)?;
        let body = seg.pos + RECORD_HEADER_LEN;
        seg.map[body..body + payload.len()].copy_from_slice(payload);
        seg.map[body + payload.len()..seg.pos + size].fill(0);
        // The header goes in last: a zero header is where a reader stops.
        let mut header = [0u8; RECORD_HEADER_LEN];
        encode_record_header(&mut header, kind.as_byte(), line, seg.seq, ts_ns, payload);
        seg.map[seg.pos..body].copy_from_slice(&header);
        seg.pos += size;
        seg.seq = seg.seq.wrapping_add(1);
        self.records += 1;
        self.bytes += size as u64;
        Ok(())
    }

    /// Starts writing dirty pages back (msync, asynchronous).
    pub fn flush(&mut self) -> Result<(), JournalError> {
        match &self.seg {
            Some(seg) => seg
                .map
                .flush_async()
                .map_err(|e| JournalError::io(&seg.path, e)),
            None => Ok(()),
        }
    }

    /// Flushes, truncates the current segment to its used length and closes it.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.finish_segment()
    }

    /// What reopening found and truncated at the end of the previous last segment.
    #[must_use]
    pub const fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The journal directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment being written.
    #[must_use]
    pub fn segment_path(&self) -> Option<&Path> {
        self.seg.as_ref().map(|s| s.path.as_path())
    }

    /// Index of the segment being written.
    #[must_use]
    pub fn segment_index(&self) -> Option<u32> {
        self.seg.as_ref().map(|s| s.index)
    }

    /// Records appended by this writer.
    #[must_use]
    pub const fn records(&self) -> u64 {
        self.records
    }

    /// Bytes appended by this writer (headers and padding included).
    #[must_use]
    pub const fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn finish(&mut self) -> Result<(), JournalError> {
        self.finish_segment()
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // Best effort: `close` reports errors; a drop can only try.
        let _ = self.finish_segment();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(segment_bytes: u64) -> JournalConfig {
        JournalConfig {
            segment_bytes,
            clock_epoch_unix_ns: 5,
        }
    }

    #[test]
    fn bad_segment_sizes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            JournalWriter::open(dir.path(), cfg(512)),
            Err(JournalError::Config(_))
        ));
        assert!(matches!(
            JournalWriter::open(dir.path(), cfg(4097)),
            Err(JournalError::Config(_))
        ));
    }

    #[test]
    fn close_truncates_the_segment_to_its_used_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), cfg(4096)).unwrap();
        let path = w.segment_path().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        w.append(RecordKind::Note, 0, 1, b"hello").unwrap();
        w.close().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 + 32);
    }

    #[test]
    fn record_larger_than_a_segment_is_refused_not_rotated_forever() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), cfg(1024)).unwrap();
        assert!(matches!(
            w.append(RecordKind::InboundPacket, 0, 1, &[0u8; 1000]),
            Err(JournalError::RecordTooLarge { len: 1000, .. })
        ));
        w.append(RecordKind::InboundPacket, 0, 1, &[0u8; 900])
            .unwrap();
        assert_eq!(w.segment_index(), Some(1));
    }

    #[test]
    fn reopening_starts_a_new_segment_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        JournalWriter::open(dir.path(), cfg(4096))
            .unwrap()
            .close()
            .unwrap();
        let w = JournalWriter::open(dir.path(), cfg(4096)).unwrap();
        assert_eq!(w.segment_index(), Some(2));
        assert!(w.recovery().is_none());
        assert_eq!(list_segments(dir.path()).unwrap().len(), 2);
    }
}
