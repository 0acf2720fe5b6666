//! The one way both clients keep a session state file: a small fixed-size
//! file opening with an 8-byte magic and a 4-byte little-endian version,
//! created when absent or empty, memory-mapped and updated with plain stores
//! (no syscall per message), msynced on demand.
//!
//! Owns: creating and sizing a new file, refusing one of another size, magic
//! or version ([`GatewayConfigError::StateFileForeign`] with the format's
//! `kind`), mapping it, the stores and the msync. The fields after the
//! header, their check word and what a torn file resets to belong to each
//! client's state module.
//!
//! Must never: overwrite or resize a file that is not ours, or make a
//! syscall on a store.

use std::fs::OpenOptions;
use std::path::Path;

use memmap2::{MmapMut, MmapOptions};

use crate::GatewayConfigError;

/// Offset of the version, right after the magic.
const OFF_VERSION: usize = 8;

/// What a state file of one kind looks like.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileFormat {
    /// The kind named in a refusal (`"an OUCH"`, `"a FIX"`).
    pub(crate) kind: &'static str,
    /// The first 8 bytes.
    pub(crate) magic: [u8; 8],
    /// The version at `8..12`.
    pub(crate) version: u32,
    /// The exact size of the file.
    pub(crate) len: usize,
}

/// A mapped state file, or nothing (an in-memory state: stores are dropped).
#[derive(Debug)]
pub(crate) struct SessionFile {
    map: Option<MmapMut>,
    format: FileFormat,
}

impl SessionFile {
    /// No file: every store is a no-op, reads see nothing.
    pub(crate) const fn memory(format: FileFormat) -> Self {
        Self { map: None, format }
    }

    /// Opens (creating if absent, sizing if empty) and maps the file at
    /// `path`. Returns whether it was new (all zero: the caller writes a
    /// fresh state); an existing file has been checked for size, magic and
    /// version, and its fields are the caller's to read and validate.
    pub(crate) fn open(
        path: &Path,
        format: FileFormat,
    ) -> Result<(Self, bool), GatewayConfigError> {
        let io_err = |source| GatewayConfigError::StateFileIo {
            path: path.to_owned(),
            source,
        };
        let foreign = |reason| GatewayConfigError::StateFileForeign {
            path: path.to_owned(),
            kind: format.kind,
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
            file.set_len(format.len as u64).map_err(io_err)?;
        } else if len != format.len as u64 {
            return Err(foreign("wrong size"));
        }
        // SAFETY: the mapping covers the bytes the file was just checked (or
        // sized) to hold, and the crate documents that one client at a time
        // may use a state file. Another process truncating it would fault on
        // access, which no safe code can prevent for a shared mapping; we only
        // ever read and write within `format.len`.
        let map = unsafe { MmapOptions::new().len(format.len).map_mut(&file) }.map_err(io_err)?;
        let s = Self {
            map: Some(map),
            format,
        };
        if !fresh {
            if s.bytes8(0) != format.magic {
                return Err(foreign("bad magic"));
            }
            if s.u32_at(OFF_VERSION) != format.version {
                return Err(foreign("unsupported version"));
            }
        }
        Ok((s, fresh))
    }

    /// The mapped bytes (empty without a file).
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }

    /// The 8 bytes at `off` (zero if out of range).
    #[inline]
    fn bytes8(&self, off: usize) -> [u8; 8] {
        self.bytes()
            .get(off..off + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .unwrap_or_default()
    }

    /// The little-endian `u64` at `off` (0 if out of range).
    #[inline]
    pub(crate) fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes8(off))
    }

    /// The little-endian `u32` at `off` (0 if out of range).
    #[inline]
    pub(crate) fn u32_at(&self, off: usize) -> u32 {
        let b = self
            .bytes()
            .get(off..off + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .unwrap_or_default();
        u32::from_le_bytes(b)
    }

    /// Copies `bytes` to `off` (a plain store; a no-op without a file).
    #[inline(always)]
    pub(crate) fn store(&mut self, off: usize, bytes: &[u8]) {
        if let Some(dst) = self
            .map
            .as_mut()
            .and_then(|m| m.get_mut(off..off + bytes.len()))
        {
            dst.copy_from_slice(bytes);
        }
    }

    /// Stores the magic and version.
    pub(crate) fn store_header(&mut self) {
        let (magic, version) = (self.format.magic, self.format.version);
        self.store(0, &magic);
        self.store(OFF_VERSION, &version.to_le_bytes());
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

    const FORMAT: FileFormat = FileFormat {
        kind: "a test",
        magic: *b"QWTESTF1",
        version: 3,
        len: 32,
    };

    #[test]
    fn a_new_file_is_sized_and_its_stores_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.state");
        {
            let (mut f, fresh) = SessionFile::open(&path, FORMAT).unwrap();
            assert!(fresh);
            assert_eq!(f.bytes(), &[0u8; 32]);
            f.store_header();
            f.store(16, &42u64.to_le_bytes());
            f.store(30, &[1, 2, 3]); // out of range: dropped
            f.sync().unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 32);
        let (f, fresh) = SessionFile::open(&path, FORMAT).unwrap();
        assert!(!fresh);
        assert_eq!(f.u64_at(16), 42);
        assert_eq!(f.u32_at(8), 3);
        assert_eq!(f.u64_at(28), 0);
    }

    #[test]
    fn another_version_is_refused_with_the_formats_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.state");
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(b"QWTESTF1");
        bytes[8] = 2;
        std::fs::write(&path, bytes).unwrap();
        let err = SessionFile::open(&path, FORMAT).unwrap_err();
        assert!(matches!(
            err,
            GatewayConfigError::StateFileForeign {
                kind: "a test",
                reason: "unsupported version",
                ..
            }
        ));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn without_a_file_stores_are_dropped() {
        let mut f = SessionFile::memory(FORMAT);
        f.store_header();
        assert!(f.bytes().is_empty());
        assert_eq!(f.u64_at(0), 0);
        f.sync().unwrap();
    }
}
