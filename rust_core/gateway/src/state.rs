//! The persisted session state: a 64-byte memory-mapped file updated with
//! plain stores (no syscall per message), msynced on demand.
//!
//! Layout (little endian): `0..8` magic `QWOUCHST`, `8..12` version (1),
//! `12..22` session name (alpha, blank before the first login), `24..32`
//! next expected sequenced-message number, `32..36` highest UserRefNum sent,
//! `40..48` check word over the three fields, the rest zero.
//!
//! A file of another size, magic or version is refused (it is not ours:
//! never overwritten). A file with our magic but a bad check word or a
//! non-printable session name (torn by a crash between two stores, or
//! corrupted) is reset to a fresh state and counted: a fresh state logs in at
//! sequence 1 and replays the whole session, which the OMS deduplicates, so a
//! reset can never lose a report.

use std::path::Path;

use crate::session_file::{FileFormat, SessionFile};
use crate::GatewayConfigError;

/// Size of the state file.
pub const STATE_FILE_LEN: usize = 64;
const FORMAT: FileFormat = FileFormat {
    kind: "an OUCH",
    magic: *b"QWOUCHST",
    version: 1,
    len: STATE_FILE_LEN,
};
const OFF_SESSION: usize = 12;
const OFF_NEXT_SEQ: usize = 24;
const OFF_HIGHEST_CL: usize = 32;
const OFF_CHECK: usize = 40;
const SALT: u64 = 0x5157_4f55_4348_5354;

/// What survives a restart of the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionState {
    /// The venue session the numbers belong to (alpha, all blanks before the first login).
    pub session: [u8; 10],
    /// Sequence number of the next sequenced message expected (1 = from the start).
    pub next_seq: u64,
    /// Highest UserRefNum ever sent in this session (0: none).
    pub highest_cl: u32,
}

impl SessionState {
    /// Before the first login: no session, everything from sequence 1.
    pub const FRESH: Self = Self {
        session: [b' '; 10],
        next_seq: 1,
        highest_cl: 0,
    };
}

fn session_mix(session: &[u8; 10]) -> u64 {
    session.iter().fold(SALT, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[inline(always)]
fn check_word(mix: u64, next_seq: u64, highest_cl: u32) -> u64 {
    mix ^ next_seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(highest_cl).rotate_left(29)
}

/// The state, with an optional mapping of the file it is persisted in.
#[derive(Debug)]
pub(crate) struct StateStore {
    file: SessionFile,
    state: SessionState,
    mix: u64,
}

impl StateStore {
    /// In memory only (no state file).
    pub(crate) fn memory() -> Self {
        Self {
            file: SessionFile::memory(FORMAT),
            state: SessionState::FRESH,
            mix: session_mix(&SessionState::FRESH.session),
        }
    }

    /// Opens (creating if absent or empty) and maps the state file. Returns
    /// whether a torn or corrupted state had to be reset.
    pub(crate) fn open(path: &Path) -> Result<(Self, bool), GatewayConfigError> {
        let (file, fresh) = SessionFile::open(path, FORMAT)?;
        let mut s = Self {
            file,
            state: SessionState::FRESH,
            mix: session_mix(&SessionState::FRESH.session),
        };
        if fresh {
            s.write_all();
            return Ok((s, false));
        }
        let mut session = [b' '; 10];
        if let Some(src) = s.file.bytes().get(OFF_SESSION..OFF_SESSION + 10) {
            session.copy_from_slice(src);
        }
        let next_seq = s.file.u64_at(OFF_NEXT_SEQ);
        let highest_cl = s.file.u32_at(OFF_HIGHEST_CL);
        let check = s.file.u64_at(OFF_CHECK);
        let mix = session_mix(&session);
        let valid = session.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
            && next_seq >= 1
            && check == check_word(mix, next_seq, highest_cl);
        if valid {
            s.state = SessionState {
                session,
                next_seq,
                highest_cl,
            };
            s.mix = mix;
            Ok((s, false))
        } else {
            s.write_all();
            Ok((s, true))
        }
    }

    fn write_all(&mut self) {
        let st = self.state;
        self.file.store_header();
        self.file.store(OFF_SESSION, &st.session);
        self.file.store(OFF_NEXT_SEQ, &st.next_seq.to_le_bytes());
        self.file
            .store(OFF_HIGHEST_CL, &st.highest_cl.to_le_bytes());
        self.store_check();
    }

    #[inline(always)]
    fn store_check(&mut self) {
        let c = check_word(self.mix, self.state.next_seq, self.state.highest_cl);
        self.file.store(OFF_CHECK, &c.to_le_bytes());
    }

    /// The current state.
    #[inline]
    pub(crate) const fn get(&self) -> SessionState {
        self.state
    }

    /// Records the next expected sequence number (plain stores).
    #[inline]
    pub(crate) fn set_next_seq(&mut self, next_seq: u64) {
        self.state.next_seq = next_seq;
        self.file.store(OFF_NEXT_SEQ, &next_seq.to_le_bytes());
        self.store_check();
    }

    /// Records a UserRefNum sent, if above every earlier one (plain stores).
    #[inline]
    pub(crate) fn note_cl(&mut self, cl: u32) {
        if cl > self.state.highest_cl {
            self.state.highest_cl = cl;
            self.file.store(OFF_HIGHEST_CL, &cl.to_le_bytes());
            self.store_check();
        }
    }

    /// Starts over for `session`: sequence 1, no UserRefNum used.
    pub(crate) fn reset(&mut self, session: [u8; 10]) {
        self.state = SessionState {
            session,
            ..SessionState::FRESH
        };
        self.mix = session_mix(&session);
        self.write_all();
    }

    /// Names the session the numbers belong to (first login).
    pub(crate) fn set_session(&mut self, session: [u8; 10]) {
        self.state.session = session;
        self.mix = session_mix(&session);
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
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        {
            let (mut s, reset) = StateStore::open(&path).unwrap();
            assert!(!reset);
            assert_eq!(s.get(), SessionState::FRESH);
            s.set_session(*b"SESSION001");
            s.set_next_seq(42);
            s.note_cl(7);
            s.note_cl(3);
            s.sync().unwrap();
        }
        let (s, reset) = StateStore::open(&path).unwrap();
        assert!(!reset);
        assert_eq!(
            s.get(),
            SessionState {
                session: *b"SESSION001",
                next_seq: 42,
                highest_cl: 7
            }
        );
    }

    #[test]
    fn torn_state_is_reset_to_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        {
            let (mut s, _) = StateStore::open(&path).unwrap();
            s.set_next_seq(42);
            s.sync().unwrap();
        }
        // Change the sequence number without its check word (a torn update).
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[OFF_NEXT_SEQ] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let (s, reset) = StateStore::open(&path).unwrap();
        assert!(reset);
        assert_eq!(s.get(), SessionState::FRESH);
        // And the reset is itself persisted.
        let (_, reset_again) = StateStore::open(&path).unwrap();
        assert!(!reset_again);
    }

    #[test]
    fn foreign_files_are_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"hello").unwrap();
        let err = StateStore::open(&path).unwrap_err();
        assert!(matches!(
            err,
            GatewayConfigError::StateFileForeign {
                reason: "wrong size",
                ..
            }
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        let other = [0x41u8; STATE_FILE_LEN];
        std::fs::write(&path, other).unwrap();
        assert!(matches!(
            StateStore::open(&path).unwrap_err(),
            GatewayConfigError::StateFileForeign {
                reason: "bad magic",
                ..
            }
        ));
        assert_eq!(std::fs::read(&path).unwrap(), other);
    }
}
