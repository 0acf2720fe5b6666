//! [`IntentLog`]: the last order requests sent, in a memory-mapped file
//! written with plain stores on the fast path.
//!
//! Why: the journal is fed through a ring drained by a side thread, so a
//! process killed outright (SIGKILL, a crash) loses whatever the ring still
//! held. For reports that is harmless (the venue replays its session), but a
//! request that reached the venue and not the journal would leave orders,
//! and their fills, that a restarted engine cannot place (a venue's answers
//! name only our id). [`JournalTx::try_request`](crate::JournalTx::try_request)
//! therefore also stores every request here, before the gateway flushes it to
//! the socket: the stores land in the page cache and survive the process.
//! A machine crash is not covered (nothing is msynced on the fast path).
//!
//! Layout (little endian): a 64-byte header (`0..8` magic `QWINTENT`, `8..12`
//! version 1, `12..16` slot count), then slots of 64 bytes: `0..8` sequence
//! number (from 1; 0 = empty), `8..16` Unix nanoseconds of the request (the
//! journal record's [`Record::unix_ns`](crate::Record::unix_ns)), `16..48` the
//! request payload ([`encode_request`]), `48..56` a check word over the
//! three. A slot whose check word does not verify (a store cut short by the
//! crash) is ignored: that request never left the process.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};
use quotewire_core::order::OrderRequest;

use crate::codec::{decode_request, encode_request, ORDER_REQUEST_LEN};
use crate::JournalError;

const MAGIC: [u8; 8] = *b"QWINTENT";
const VERSION: u32 = 1;
const HEADER: usize = 64;
const SLOT: usize = 64;
/// Slots of an intent log built with [`IntentLog::open`]'s default (4 MiB file).
pub const DEFAULT_INTENT_SLOTS: usize = 1 << 16;
/// File name of the intent log inside a journal directory.
pub const INTENT_FILE_NAME: &str = "intents.qwi";

/// One request read back from an intent log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Its sequence number (order of sending, from 1).
    pub seq: u64,
    /// When it was sent, Unix nanoseconds (as the journal record would say).
    pub unix_ns: u64,
    /// The request.
    pub request: OrderRequest,
}

/// A ring of the last order requests sent, in a memory-mapped file; see the module docs.
#[derive(Debug)]
pub struct IntentLog {
    path: PathBuf,
    map: MmapMut,
    slots: usize,
    next_seq: u64,
    epoch_unix_ns: u64,
}

#[inline(always)]
fn check_word(seq: u64, unix_ns: u64, payload: &[u8]) -> u64 {
    let mut h = 0x5157_494e_5445_4e54u64 ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h = (h ^ unix_ns).wrapping_mul(0x0000_0100_0000_01B3);
    for chunk in payload.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01B3);
        h ^= h >> 29;
    }
    h
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

impl IntentLog {
    /// Opens (creating it with `slots` slots) the intent log at `path` and
    /// returns it with every intact request it holds, oldest first. Records
    /// made from now on carry Unix time `epoch_unix_ns + ts_ns`. A file of
    /// another size, magic or version is refused and left untouched.
    pub fn open(
        path: impl AsRef<Path>,
        slots: usize,
        epoch_unix_ns: u64,
    ) -> Result<(Self, Vec<Intent>), JournalError> {
        let path = path.as_ref().to_path_buf();
        if slots == 0 || slots > u32::MAX as usize {
            return Err(JournalError::Config("intent log slots must be 1 to 2^32-1"));
        }
        let len = HEADER + slots * SLOT;
        let io = |e| JournalError::io(&path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let have = file.metadata().map_err(io)?.len();
        let fresh = have == 0;
        if fresh {
            file.set_len(len as u64).map_err(io)?;
        } else if have != len as u64 {
            return Err(JournalError::NotAJournal(path));
        }
        // SAFETY: the file is the engine's own (one engine per journal
        // directory, as for the segments); its length was checked or set to
        // `len` above, and only those bytes are ever accessed.
        let mut map =
            unsafe { MmapOptions::new().len(len).populate().map_mut(&file) }.map_err(io)?;
        if fresh {
            map[..8].copy_from_slice(&MAGIC);
            map[8..12].copy_from_slice(&VERSION.to_le_bytes());
            map[12..16].copy_from_slice(&(slots as u32).to_le_bytes());
        } else if map[..8] != MAGIC
            || map[8..12] != VERSION.to_le_bytes()
            || map[12..16] != (slots as u32).to_le_bytes()
        {
            return Err(JournalError::NotAJournal(path));
        }
        let mut found = Vec::new();
        for i in 0..slots {
            let s = &map[HEADER + i * SLOT..HEADER + (i + 1) * SLOT];
            let seq = u64_at(s, 0);
            let unix_ns = u64_at(s, 8);
            let payload = &s[16..16 + ORDER_REQUEST_LEN];
            if seq == 0 || u64_at(s, 48) != check_word(seq, unix_ns, payload) {
                continue;
            }
            if let Ok(request) = decode_request(payload) {
                found.push(Intent {
                    seq,
                    unix_ns,
                    request,
                });
            }
        }
        found.sort_unstable_by_key(|i| i.seq);
        let next_seq = found.last().map_or(1, |i| i.seq + 1);
        Ok((
            Self {
                path,
                map,
                slots,
                next_seq,
                epoch_unix_ns,
            },
            found,
        ))
    }

    /// Records one request sent at engine time `ts_ns`: plain stores into the
    /// mapping, no allocation or system call.
    #[inline]
    pub fn record(&mut self, ts_ns: u64, request: &OrderRequest) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let unix_ns = self.epoch_unix_ns.saturating_add(ts_ns);
        let payload = encode_request(request);
        let at = HEADER + ((seq - 1) % self.slots as u64) as usize * SLOT;
        let s = &mut self.map[at..at + SLOT];
        // Invalidate first, so that a slot cut short by a crash never shows
        // the old request under a half-written one.
        s[48..56].fill(0);
        s[0..8].copy_from_slice(&seq.to_le_bytes());
        s[8..16].copy_from_slice(&unix_ns.to_le_bytes());
        s[16..16 + ORDER_REQUEST_LEN].copy_from_slice(&payload);
        s[48..56].copy_from_slice(&check_word(seq, unix_ns, &payload).to_le_bytes());
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Slots in the ring (the most requests it remembers).
    #[must_use]
    pub const fn slots(&self) -> usize {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_core::order::{CancelOrder, ClOrdId};
    use quotewire_core::{InstrumentId, Side};

    fn cancel(cl: u32) -> OrderRequest {
        OrderRequest::Cancel(CancelOrder {
            cl: ClOrdId(cl),
            instrument: InstrumentId(1),
            side: Side::Buy,
        })
    }

    #[test]
    fn requests_survive_reopen_oldest_first_and_the_ring_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INTENT_FILE_NAME);
        {
            let (mut log, found) = IntentLog::open(&path, 4, 1_000).unwrap();
            assert!(found.is_empty());
            for cl in 1..=6 {
                log.record(u64::from(cl), &cancel(cl));
            }
        }
        let (mut log, found) = IntentLog::open(&path, 4, 5_000).unwrap();
        let cls: Vec<u32> = found.iter().map(|i| i.request.cl().0).collect();
        assert_eq!(cls, vec![3, 4, 5, 6]);
        assert_eq!(found[0].unix_ns, 1_003);
        assert_eq!(found[3].seq, 6);
        log.record(1, &cancel(7));
        drop(log);
        let (_, found) = IntentLog::open(&path, 4, 0).unwrap();
        assert_eq!(found.last().map(|i| (i.seq, i.unix_ns)), Some((7, 5_001)));
    }

    #[test]
    fn a_torn_slot_is_ignored_and_a_foreign_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INTENT_FILE_NAME);
        {
            let (mut log, _) = IntentLog::open(&path, 4, 0).unwrap();
            log.record(1, &cancel(1));
            log.record(2, &cancel(2));
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + SLOT + 20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (_, found) = IntentLog::open(&path, 4, 0).unwrap();
        assert_eq!(found.len(), 1);
        assert!(matches!(
            IntentLog::open(&path, 8, 0),
            Err(JournalError::NotAJournal(_))
        ));
        let other = dir.path().join("other");
        std::fs::write(&other, vec![7u8; HEADER + 4 * SLOT]).unwrap();
        assert!(IntentLog::open(&other, 4, 0).is_err());
        assert_eq!(std::fs::read(&other).unwrap(), vec![7u8; HEADER + 4 * SLOT]);
    }
}
