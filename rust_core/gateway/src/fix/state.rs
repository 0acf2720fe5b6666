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

use std::path::Path;

use crate::session_file::{FileFormat, SessionFile};
use crate::GatewayConfigError;

/// Size of the FIX state file.
pub const FIX_STATE_FILE_LEN: usize = 64;
const FORMAT: FileFormat = FileFormat {
    kind: "a FIX",
    magic: *b"QWFIXST1",
    version: 1,
    len: FIX_STATE_FILE_LEN,
};
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
    file: SessionFile,
    state: FixSessionState,
}

impl FixStateStore {
    /// In memory only (no state file).
    pub(crate) const fn memory() -> Self {
        Self {
            file: SessionFile::memory(FORMAT),
            state: FixSessionState::FRESH,
        }
    }

    /// Opens (creating if absent or empty) and maps the state file. Returns
    /// whether a torn or corrupted state had to be reset.
    pub(crate) fn open(path: &Path) -> Result<(Self, bool), GatewayConfigError> {
        let (file, fresh) = SessionFile::open(path, FORMAT)?;
        let mut s = Self {
            file,
            state: FixSessionState::FRESH,
        };
        if fresh {
            s.write_all();
            return Ok((s, false));
        }
        let read = FixSessionState {
            next_out: s.file.u64_at(OFF_NEXT_OUT),
            next_in: s.file.u64_at(OFF_NEXT_IN),
            highest_cl: s.file.u32_at(OFF_HIGHEST_CL),
        };
        let check = s.file.u64_at(OFF_CHECK);
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
        self.file.store_header();
        self.file.store(OFF_NEXT_OUT, &st.next_out.to_le_bytes());
        self.file.store(OFF_NEXT_IN, &st.next_in.to_le_bytes());
        self.file
            .store(OFF_HIGHEST_CL, &st.highest_cl.to_le_bytes());
        self.store_check();
    }

    #[inline(always)]
    fn store_check(&mut self) {
        let c = check_word(&self.state);
        self.file.store(OFF_CHECK, &c.to_le_bytes());
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
        self.file.store(OFF_NEXT_OUT, &next_out.to_le_bytes());
        self.store_check();
    }

    /// Records the next expected incoming MsgSeqNum (plain stores).
    #[inline]
    pub(crate) fn set_next_in(&mut self, next_in: u64) {
        self.state.next_in = next_in;
        self.file.store(OFF_NEXT_IN, &next_in.to_le_bytes());
        self.store_check();
    }

    /// Records a ClOrdId sent, if above every earlier one (plain stores).
    #[inline]
    pub(crate) fn note_cl(&mut self, cl: u32) {
        if cl > self.state.highest_cl {
            self.state.highest_cl = cl;
            self.file.store(OFF_HIGHEST_CL, &cl.to_le_bytes());
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
        self.file.sync()
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
