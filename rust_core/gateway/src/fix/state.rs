//! The persisted FIX session state: a 64-byte memory-mapped file updated with
//! plain stores (no syscall per message), msynced on demand.
//!
//! Layout (little endian): `0..8` magic `QWFIXST1`, `8..12` version (1),
//! `16..24` next outgoing MsgSeqNum, `24..32` next expected incoming
//! MsgSeqNum, `32..36` highest ClOrdId sent, `40..48` check word over the
//! three fields, the rest zero.
//!
//! A file of another size, magic or version is refused (it is not ours:
//! never overwritten). A file with our magic but a bad check word (torn by a
//! crash between two stores, or corrupted) is reset to sequence 1 both ways
//! and counted: the next Logon then starts from 1, which an acceptor that
//! kept its numbers refuses until the operator resets the session or the
//! client is configured with `reset_seq_num_on_logon`.

use std::fs::OpenOptions;
use std::path::Path;

use memmap2::{MmapMut, MmapOptions};

use crate::state::{rd4, rd8, store};
use crate::GatewayConfigError;

/// Size of the FIX state file.
pub const FIX_STATE_FILE_LEN: usize = 64;
const MAGIC: [u8; 8] = *b"QWFIXST1";
const VERSION: u32 = 1;
const OFF_VERSION: usize = 8;
const OFF_NEXT_OUT: usize = 16;
const OFF_NEXT_IN: usize = 24;
const OFF_HIGHEST_CL: usize = 32;
const OFF_CHECK: usize = 40;
const SALT: u64 = 0x5157_4649_5853_5431;

/// What survives a restart of a [`crate::FixClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixSessionState {
    /// MsgSeqNum of the next message we send.
    pub next_out: u64,
    /// MsgSeqNum we expect on the next message from the acceptor.
    pub next_in: u64,
    /// Highest ClOrdId ever sent (0: none).
    pub highest_cl: u32,
}

impl FixSessionState {
    /// A new session: both sequences at 1, no order sent.
    pub const FRESH: Self = Self {
        next_out: 1,
        next_in: 1,
        highest_cl: 0,
    };
}

#[inline(always)]
fn check_word(s: &FixSessionState) -> u64 {
    SALT ^ s.next_out.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ s.next_in
            .wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            .rotate_left(17)
        ^ u64::from(s.highest_cl).rotate_left(41)
}

/// The state, with an optional mapping of the file it is persisted in.
#[derive(Debug)]
pub(crate) struct FixStateStore {
    map: Option<MmapMut>,
    state: FixSessionState,
}

impl FixStateStore {
    /// In memory only (no state file).
    pub(crate) const fn memory() -> Self {
        Self {
            map: None,
            state: FixSessionState::FRESH,
        }
    }

    /// Opens (creating if absent or empty) and maps the state file. Returns
    /// whether a torn or corrupted state had to be reset.
    pub(crate) fn open(path: &Path) -> Result<(Self, bool), GatewayConfigError> {
        let io_err = |source| GatewayConfigError::StateFileIo {
            path: path.to_owned(),
            source,
        };
        let foreign = |reason| GatewayConfigError::StateFileForeign {
            path: path.to_owned(),
            kind: "a FIX",
            reason,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let fresh = len == 0;
        if fresh {
            file.set_len(FIX_STATE_FILE_LEN as u64).map_err(io_err)?;
        } else if len != FIX_STATE_FILE_LEN as u64 {
            return Err(foreign("wrong size"));
        }
        // SAFETY: as for the OUCH state file: the mapping covers the 64 bytes
        // the file was just checked (or sized) to hold, and the crate
        // documents that one client at a time may use a state file. Another
        // process truncating it would fault on access, which no safe code can
        // prevent for a shared mapping.
        let map =
            unsafe { MmapOptions::new().len(FIX_STATE_FILE_LEN).map_mut(&file) }.map_err(io_err)?;
        let mut s = Self {
            map: Some(map),
            state: FixSessionState::FRESH,
        };
        if fresh {
            s.write_all();
            return Ok((s, false));
        }
        let bytes: &[u8] = s.map.as_deref().unwrap_or_default();
        if rd8(bytes, 0) != MAGIC {
            return Err(foreign("bad magic"));
        }
        if u32::from_le_bytes(rd4(bytes, OFF_VERSION)) != VERSION {
            return Err(foreign("unsupported version"));
        }
        let read = FixSessionState {
            next_out: u64::from_le_bytes(rd8(bytes, OFF_NEXT_OUT)),
            next_in: u64::from_le_bytes(rd8(bytes, OFF_NEXT_IN)),
            highest_cl: u32::from_le_bytes(rd4(bytes, OFF_HIGHEST_CL)),
        };
        let check = u64::from_le_bytes(rd8(bytes, OFF_CHECK));
        if read.next_out >= 1 && read.next_in >= 1 && check == check_word(&read) {
            s.state = read;
            Ok((s, false))
        } else {
            s.write_all();
            Ok((s, true))
        }
    }

    fn write_all(&mut self) {
        let st = self.state;
        store(&mut self.map, 0, &MAGIC);
        store(&mut self.map, OFF_VERSION, &VERSION.to_le_bytes());
        store(&mut self.map, OFF_NEXT_OUT, &st.next_out.to_le_bytes());
        store(&mut self.map, OFF_NEXT_IN, &st.next_in.to_le_bytes());
        store(&mut self.map, OFF_HIGHEST_CL, &st.highest_cl.to_le_bytes());
        self.store_check();
    }

    #[inline(always)]
    fn store_check(&mut self) {
        let c = check_word(&self.state);
        store(&mut self.map, OFF_CHECK, &c.to_le_bytes());
    }

    /// The current state.
    #[inline]
    pub(crate) const fn get(&self) -> FixSessionState {
        self.state
    }

    /// Records the next outgoing MsgSeqNum (plain stores).
    #[inline]
    pub(crate) fn set_next_out(&mut self, next_out: u64) {
        self.state.next_out = next_out;
        store(&mut self.map, OFF_NEXT_OUT, &next_out.to_le_bytes());
        self.store_check();
    }

    /// Records the next expected incoming MsgSeqNum (plain stores).
    #[inline]
    pub(crate) fn set_next_in(&mut self, next_in: u64) {
        self.state.next_in = next_in;
        store(&mut self.map, OFF_NEXT_IN, &next_in.to_le_bytes());
        self.store_check();
    }

    /// Records a ClOrdId sent, if above every earlier one (plain stores).
    #[inline]
    pub(crate) fn note_cl(&mut self, cl: u32) {
        if cl > self.state.highest_cl {
            self.state.highest_cl = cl;
            store(&mut self.map, OFF_HIGHEST_CL, &cl.to_le_bytes());
            self.store_check();
        }
    }

    /// Both sequences back to 1 (a Logon with ResetSeqNumFlag); ids are kept.
    pub(crate) fn reset_sequences(&mut self) {
        self.state.next_out = 1;
        self.state.next_in = 1;
        self.write_all();
    }

    /// Flushes the mapping to the file (msync); a no-op without a file.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        match &self.map {
            Some(m) => m.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fix.state");
        {
            let (mut s, reset) = FixStateStore::open(&path).unwrap();
            assert!(!reset);
            assert_eq!(s.get(), FixSessionState::FRESH);
            s.set_next_out(17);
            s.set_next_in(9);
            s.note_cl(12);
            s.note_cl(4);
            s.sync().unwrap();
        }
        let (s, reset) = FixStateStore::open(&path).unwrap();
        assert!(!reset);
        assert_eq!(
            s.get(),
            FixSessionState {
                next_out: 17,
                next_in: 9,
                highest_cl: 12
            }
        );
    }

    #[test]
    fn torn_state_is_reset_to_sequence_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fix.state");
        {
            let (mut s, _) = FixStateStore::open(&path).unwrap();
            s.set_next_out(40);
            s.sync().unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[OFF_NEXT_IN] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        let (s, reset) = FixStateStore::open(&path).unwrap();
        assert!(reset);
        assert_eq!(s.get(), FixSessionState::FRESH);
        let (_, reset_again) = FixStateStore::open(&path).unwrap();
        assert!(!reset_again);
    }

    #[test]
    fn an_ouch_state_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ouch.state");
        drop(crate::state::StateStore::open(&path).unwrap());
        let before = std::fs::read(&path).unwrap();
        let err = FixStateStore::open(&path).unwrap_err();
        assert!(matches!(
            err,
            GatewayConfigError::StateFileForeign {
                reason: "bad magic",
                ..
            }
        ));
        assert!(err.to_string().contains("is not a FIX session state file"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
