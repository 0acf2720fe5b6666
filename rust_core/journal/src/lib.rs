//! The quotewire journal: an append-only, checksummed record of what the
//! engine saw and did, for audit, replay and post-mortems.
//!
//! Owns: the on-disk format ([`format`](mod@format): segments `journal-NNNNNN.qwj` of
//! 8-byte-aligned records with a CRC-32 each), the fixed payloads of order
//! requests and execution reports ([`codec`]), the [`JournalWriter`]
//! (memory-mapped, pre-sized segments rotated by size, torn-tail recovery on
//! reopen), the fast-path producer [`JournalTx`] and its writer thread
//! ([`spawn`]), the [`JournalReader`] that walks a journal reporting damage
//! instead of failing on it ([`inspect`]), and the [`IntentLog`]: the last
//! order requests, stored at once in a memory-mapped file so that a killed
//! process's requests survive what its ring still held.
//!
//! Must never: block, allocate or make a system call in [`JournalTx`]'s
//! `try_*` calls (a full ring is counted and raises an alarm), depend on
//! anything but `core` (it records bytes and the order vocabulary, and knows
//! nothing of feeds, engines or Python), or treat damage found while reading
//! as fatal.
//!
//! The checksum is CRC-32/ISO-HDLC (the zlib/Ethernet CRC, crate `crc32fast`),
//! not CRC-32C. The execution report payload is 56 bytes, 8 more than the
//! shared spec's 48, to keep the venue's own timestamp ([`codec`]).

pub mod codec;
mod error;
pub mod format;
mod intent;
mod reader;
mod ring;
mod scan;
mod writer;

pub use codec::{
    decode_report, decode_request, encode_report, encode_request, PayloadError, ReportFields,
    EXEC_REPORT_LEN, ORDER_REQUEST_LEN,
};
pub use error::JournalError;
pub use format::{RecordKind, SegmentHeader, LINE_A, LINE_B, LINE_RETRANSMIT};
pub use intent::{Intent, IntentLog, DEFAULT_INTENT_SLOTS, INTENT_FILE_NAME};
pub use reader::{inspect, Corruption, JournalReader, ReadEvent, Record, Summary, TornTail};
pub use ring::{
    spawn, spawn_writer, JournalHandle, JournalStats, JournalTx, RecordSink, RingConfig,
    MAX_RING_PAYLOAD, SLOT_BYTES,
};
pub use scan::CorruptReason;
pub use writer::{
    list_segments, JournalConfig, JournalWriter, Recovery, DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES,
};
