//! Walking the records of one segment held in memory, shared by the reader and
//! by the writer's recovery on reopen.

use crate::format::{
    checksum, record_size, RecordHeader, RecordKind, RECORD_ALIGN, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};

/// Why bytes of a segment were not accepted as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The stored CRC does not match the header and payload.
    ChecksumMismatch,
    /// The header's length runs past the end of the segment.
    LengthPastEnd,
    /// The checksum verifies but the kind byte is unknown.
    UnknownKind(u8),
    /// Fewer bytes than a record header remain, and they are not all zero.
    PartialHeader,
    /// The 64-byte segment header is missing or has a wrong magic or version.
    BadSegmentHeader,
}

impl std::fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ChecksumMismatch => f.write_str("checksum mismatch"),
            Self::LengthPastEnd => f.write_str("length runs past the end of the segment"),
            Self::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            Self::PartialHeader => f.write_str("partial record header"),
            Self::BadSegmentHeader => f.write_str("bad segment header"),
        }
    }
}

/// One step of a segment walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A valid record at `offset`; the next record starts at `next`.
    Record {
        offset: usize,
        header: RecordHeader,
        kind: RecordKind,
        next: usize,
    },
    /// Damaged bytes at `offset`; a valid record resumes at `resume`.
    Corrupt {
        offset: usize,
        reason: CorruptReason,
        resume: usize,
    },
    /// Damaged bytes at `offset` with no valid record after them: a torn tail.
    Torn {
        offset: usize,
        reason: CorruptReason,
    },
    /// The end of the written data (zero header or end of file).
    End,
}

/// Checks the record at `pos`: `Ok((header, kind))` when it is whole and verifies.
fn check(data: &[u8], pos: usize) -> Result<(RecordHeader, RecordKind), CorruptReason> {
    let Some(h) = data
        .get(pos..)
        .and_then(|rest| rest.first_chunk::<RECORD_HEADER_LEN>())
    else {
        return Err(CorruptReason::PartialHeader);
    };
    let header = RecordHeader::decode(h);
    let end = pos
        .checked_add(RECORD_HEADER_LEN)
        .and_then(|p| p.checked_add(header.len as usize));
    let Some(payload) = end.and_then(|end| data.get(pos + RECORD_HEADER_LEN..end)) else {
        return Err(CorruptReason::LengthPastEnd);
    };
    if checksum(&h[8..24], payload) != header.crc {
        return Err(CorruptReason::ChecksumMismatch);
    }
    match RecordKind::from_byte(header.kind) {
        Some(kind) => Ok((header, kind)),
        None => Err(CorruptReason::UnknownKind(header.kind)),
    }
}

fn is_zero_header(data: &[u8], pos: usize) -> bool {
    data.get(pos..pos + RECORD_HEADER_LEN)
        .is_some_and(|h| h.iter().all(|&b| b == 0))
}

/// The step at `pos` (8-byte aligned, at or after the segment header).
pub(crate) fn step(data: &[u8], pos: usize) -> Step {
    debug_assert!(pos >= SEGMENT_HEADER_LEN && pos % RECORD_ALIGN == 0);
    let rest = data.get(pos..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) {
            Step::End
        } else {
            Step::Torn {
                offset: pos,
                reason: CorruptReason::PartialHeader,
            }
        };
    }
    if is_zero_header(data, pos) {
        return Step::End;
    }
    match check(data, pos) {
        Ok((header, kind)) => Step::Record {
            offset: pos,
            header,
            kind,
            next: pos + record_size(header.len as usize),
        },
        Err(reason) => {
            // Resynchronise: the next 8-byte boundary holding a header that verifies.
            let mut q = pos + RECORD_ALIGN;
            while q + RECORD_HEADER_LEN <= data.len() {
                if !is_zero_header(data, q) && check(data, q).is_ok() {
                    return Step::Corrupt {
                        offset: pos,
                        reason,
                        resume: q,
                    };
                }
                q += RECORD_ALIGN;
            }
            Step::Torn {
                offset: pos,
                reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_record_header;

    fn segment(records: &[&[u8]]) -> Vec<u8> {
        let mut data = vec![0u8; SEGMENT_HEADER_LEN];
        for (i, p) in records.iter().enumerate() {
            let mut h = [0u8; RECORD_HEADER_LEN];
            encode_record_header(&mut h, 4, 0, i as u32, 10 + i as u64, p);
            data.extend_from_slice(&h);
            data.extend_from_slice(p);
            data.resize(data.len().next_multiple_of(8), 0);
        }
        data
    }

    #[test]
    fn walk_visits_every_record_then_ends_on_zero_fill() {
        let mut data = segment(&[b"one", b"twelve bytes"]);
        data.extend_from_slice(&[0u8; 100]);
        let Step::Record { next, .. } = step(&data, 64) else {
            panic!("first record");
        };
        assert_eq!(next, 64 + 32);
        let Step::Record { next, header, .. } = step(&data, next) else {
            panic!("second record");
        };
        assert_eq!((header.seq, header.ts_ns, header.len), (1, 11, 12));
        assert_eq!(step(&data, next), Step::End);
    }

    #[test]
    fn damaged_record_resumes_at_the_next_valid_header() {
        let mut data = segment(&[b"aaaaaaaaaaaaaaaa", b"bb"]);
        data[64 + 24 + 3] ^= 0x40;
        assert_eq!(
            step(&data, 64),
            Step::Corrupt {
                offset: 64,
                reason: CorruptReason::ChecksumMismatch,
                resume: 64 + 40
            }
        );
    }

    #[test]
    fn record_cut_short_at_the_end_is_a_torn_tail() {
        let data = segment(&[b"whole", b"cut in the middle"]);
        let cut = &data[..data.len() - 12];
        let Step::Record { next, .. } = step(cut, 64) else {
            panic!("first record");
        };
        assert_eq!(
            step(cut, next),
            Step::Torn {
                offset: next,
                reason: CorruptReason::LengthPastEnd
            }
        );
        assert_eq!(
            step(&data[..next + 7], next),
            Step::Torn {
                offset: next,
                reason: CorruptReason::PartialHeader
            }
        );
    }
}
