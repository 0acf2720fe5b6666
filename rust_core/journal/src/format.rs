//! The on-disk layout: segment header, record header, checksum, file names.
//!
//! Segment header (64 bytes, little-endian):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | magic `b"QWJRNL01"` |
//! | 8 | 4 | version `u32` = 1 |
//! | 12 | 4 | segment index `u32` (from 1) |
//! | 16 | 8 | `clock_epoch_unix_ns` `u64`: Unix ns at engine-clock 0 |
//! | 24 | 8 | `created_unix_ns` `u64` |
//! | 32 | 32 | zero |
//!
//! Record (8-byte aligned; header 24 bytes, then the payload zero-padded to 8):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 4 | `len` `u32`: payload bytes |
//! | 4 | 4 | `crc` `u32`: CRC-32/ISO-HDLC (`crc32fast`) of bytes 8..24 then the payload |
//! | 8 | 1 | kind ([`RecordKind`]) |
//! | 9 | 1 | line (feed line of an inbound packet: 0 = A, 1 = B, 2 = retransmit; else 0) |
//! | 10 | 2 | reserved, 0 |
//! | 12 | 4 | `seq` `u32`: record number within the segment, from 0 |
//! | 16 | 8 | `ts_ns` `u64`: engine-clock nanoseconds |
//!
//! A record header of 24 zero bytes marks the end of the written data.

/// Segment file magic.
pub const MAGIC: [u8; 8] = *b"QWJRNL01";
/// Format version written in every segment header.
pub const VERSION: u32 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 24;
/// Alignment of every record.
pub const RECORD_ALIGN: usize = 8;

/// What a record holds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A datagram as received from a feed line (MoldUDP64 bytes).
    InboundPacket = 1,
    /// An [`quotewire_core::order::OrderRequest`] sent to a venue (32-byte payload).
    OrderRequest = 2,
    /// An [`quotewire_core::order::ExecReport`] received (56-byte payload).
    ExecReport = 3,
    /// UTF-8 text for the audit trail: parameter or rule changes, kill switch, session events.
    Note = 4,
}

impl RecordKind {
    /// Every kind, in code order.
    pub const ALL: [Self; 4] = [
        Self::InboundPacket,
        Self::OrderRequest,
        Self::ExecReport,
        Self::Note,
    ];

    /// Decodes the kind byte.
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::InboundPacket),
            2 => Some(Self::OrderRequest),
            3 => Some(Self::ExecReport),
            4 => Some(Self::Note),
            _ => None,
        }
    }

    /// The kind byte.
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        self as u8
    }

    /// Index into per-kind arrays (0..4).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize - 1
    }

    /// snake_case name (`inbound_packet`, `order_request`, `exec_report`, `note`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::InboundPacket => "inbound_packet",
            Self::OrderRequest => "order_request",
            Self::ExecReport => "exec_report",
            Self::Note => "note",
        }
    }
}

/// Feed line A (for [`RecordKind::InboundPacket`]).
pub const LINE_A: u8 = 0;
/// Feed line B.
pub const LINE_B: u8 = 1;
/// The retransmission server.
pub const LINE_RETRANSMIT: u8 = 2;

/// The fixed fields of a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number, from 1.
    pub index: u32,
    /// Unix ns at engine-clock 0: `ts_ns + clock_epoch_unix_ns` is Unix time.
    pub clock_epoch_unix_ns: u64,
    /// When the segment was created (Unix ns).
    pub created_unix_ns: u64,
}

impl SegmentHeader {
    /// Encodes the 64-byte header.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.index.to_le_bytes());
        out[16..24].copy_from_slice(&self.clock_epoch_unix_ns.to_le_bytes());
        out[24..32].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        out
    }

    /// Decodes a header; `None` when the magic or version is wrong or `buf` is short.
    #[must_use]
    pub fn decode(buf: &[u8]) -> Option<Self> {
        let h = buf.first_chunk::<SEGMENT_HEADER_LEN>()?;
        if h[0..8] != MAGIC || le_u32(&h[8..12]) != VERSION {
            return None;
        }
        Some(Self {
            index: le_u32(&h[12..16]),
            clock_epoch_unix_ns: le_u64(&h[16..24]),
            created_unix_ns: le_u64(&h[24..32]),
        })
    }
}

/// The fields of a record header (without `len` and `crc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) len: u32,
    pub(crate) crc: u32,
    pub(crate) kind: u8,
    pub(crate) line: u8,
    pub(crate) seq: u32,
    pub(crate) ts_ns: u64,
}

impl RecordHeader {
    pub(crate) fn decode(h: &[u8; RECORD_HEADER_LEN]) -> Self {
        Self {
            len: le_u32(&h[0..4]),
            crc: le_u32(&h[4..8]),
            kind: h[8],
            line: h[9],
            seq: le_u32(&h[12..16]),
            ts_ns: le_u64(&h[16..24]),
        }
    }
}

/// Writes a record header for `payload` (computing its checksum) into `out`.
pub(crate) fn encode_record_header(
    out: &mut [u8; RECORD_HEADER_LEN],
    kind: u8,
    line: u8,
    seq: u32,
    ts_ns: u64,
    payload: &[u8],
) {
    out[8] = kind;
    out[9] = line;
    out[10..12].fill(0);
    out[12..16].copy_from_slice(&seq.to_le_bytes());
    out[16..24].copy_from_slice(&ts_ns.to_le_bytes());
    let crc = checksum(&out[8..24], payload);
    out[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32/ISO-HDLC of the 16 header bytes from `kind` to the end of `ts_ns`, then the payload.
#[must_use]
pub fn checksum(header_tail: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header_tail);
    h.update(payload);
    h.finalize()
}

/// Bytes a record with a `len`-byte payload takes on disk (header and padding included).
#[must_use]
pub const fn record_size(len: usize) -> usize {
    RECORD_HEADER_LEN + len.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// File name of segment `index`: `journal-000001.qwj`.
#[must_use]
pub fn segment_file_name(index: u32) -> String {
    format!("journal-{index:06}.qwj")
}

/// The index of a segment file name, `None` for any other name.
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("journal-")?.strip_suffix(".qwj")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Current wall-clock time in Unix nanoseconds (0 if the clock is before 1970).
#[must_use]
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_refuses_bad_magic() {
        let h = SegmentHeader {
            index: 7,
            clock_epoch_unix_ns: 1_700_000_000_000_000_000,
            created_unix_ns: 42,
        };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Some(h));
        assert!(bytes[32..].iter().all(|&b| b == 0));
        bytes[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bytes), None);
    }

    #[test]
    fn record_size_pads_payload_to_eight_bytes() {
        assert_eq!(record_size(0), 24);
        assert_eq!(record_size(1), 32);
        assert_eq!(record_size(8), 32);
        assert_eq!(record_size(9), 40);
    }

    #[test]
    fn segment_names_round_trip_and_other_names_are_ignored() {
        assert_eq!(segment_file_name(12), "journal-000012.qwj");
        assert_eq!(parse_segment_file_name("journal-000012.qwj"), Some(12));
        assert_eq!(parse_segment_file_name("journal-.qwj"), None);
        assert_eq!(parse_segment_file_name("journal-00001x.qwj"), None);
        assert_eq!(parse_segment_file_name("notes.txt"), None);
    }

    #[test]
    fn header_checksum_covers_kind_line_seq_and_timestamp() {
        let mut a = [0u8; RECORD_HEADER_LEN];
        encode_record_header(&mut a, 1, 0, 5, 99, b"abc");
        let mut b = [0u8; RECORD_HEADER_LEN];
        encode_record_header(&mut b, 1, 1, 5, 99, b"abc");
        assert_ne!(le_u32(&a[4..8]), le_u32(&b[4..8]));
        let h = RecordHeader::decode(&a);
        assert_eq!((h.len, h.kind, h.line, h.seq, h.ts_ns), (3, 1, 0, 5, 99));
        assert_eq!(h.crc, checksum(&a[8..24], b"abc"));
    }
}
