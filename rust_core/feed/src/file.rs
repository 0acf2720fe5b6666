//! TotalView-ITCH daily files: every message prefixed by its 2-byte big-endian
//! length, plain or gzip-compressed (told by the magic bytes, not the name).
//!
//! Loading reads (and inflates) the whole file into memory once; iterating is
//! then zero-copy over borrowed slices, split by
//! [`quotewire_protocol::itch::length_prefixed`].

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use quotewire_protocol::itch::{length_prefixed, LengthPrefixed};
use quotewire_protocol::DecodeError;

use crate::FeedError;

const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// A file that ends in the middle of a message (or of its length prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    /// Offset of the incomplete record's length prefix in the (inflated) image.
    pub offset: usize,
    /// Bytes the record needs after the point reached.
    pub needed: usize,
    /// Bytes present.
    pub have: usize,
}

/// A daily ITCH file loaded into memory.
#[derive(Debug)]
pub struct ItchFile {
    image: Vec<u8>,
    compressed: bool,
}

impl ItchFile {
    /// Loads the file at `path`, inflating it if it is gzip.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, FeedError> {
        Self::from_bytes(std::fs::read(path)?)
    }

    /// Takes a file image already in memory, inflating it if it is gzip.
    pub fn from_bytes(raw: Vec<u8>) -> Result<Self, FeedError> {
        if raw.starts_with(&GZIP_MAGIC) {
            let mut image = Vec::with_capacity(raw.len().saturating_mul(4));
            MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut image)?;
            Ok(Self {
                image,
                compressed: true,
            })
        } else {
            Ok(Self {
                image: raw,
                compressed: false,
            })
        }
    }

    /// True when the file was gzip-compressed.
    #[must_use]
    pub const fn was_compressed(&self) -> bool {
        self.compressed
    }

    /// The (inflated) file image.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.image
    }

    /// Iterates over the message payloads (without their length prefixes).
    #[must_use]
    pub fn messages(&self) -> FileMessages<'_> {
        FileMessages {
            inner: length_prefixed(&self.image),
            tail: None,
        }
    }

    /// Counts the whole messages and reports a truncated tail, if any.
    #[must_use]
    pub fn scan(&self) -> (u64, Option<TruncatedTail>) {
        let mut it = self.messages();
        let n = it.by_ref().count() as u64;
        (n, it.truncated())
    }
}

/// Iterator over the messages of an [`ItchFile`]; stops at a truncated tail,
/// which [`FileMessages::truncated`] then reports.
#[derive(Clone, Debug)]
pub struct FileMessages<'a> {
    inner: LengthPrefixed<'a>,
    tail: Option<TruncatedTail>,
}

impl FileMessages<'_> {
    /// The truncated tail met so far, if any.
    #[must_use]
    pub const fn truncated(&self) -> Option<TruncatedTail> {
        self.tail
    }
}

impl<'a> Iterator for FileMessages<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        match self.inner.next()? {
            Ok(msg) => Some(msg),
            Err(e) => {
                let (needed, have) = match e {
                    DecodeError::Truncated { needed, have } => (needed, have),
                    _ => (0, 0),
                };
                self.tail = Some(TruncatedTail {
                    offset: self.inner.offset(),
                    needed,
                    have,
                });
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn image(msgs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(&(m.len() as u16).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn plain_file_yields_each_message() {
        let f = ItchFile::from_bytes(image(&[b"S....", b"Aorder", b""])).unwrap();
        assert!(!f.was_compressed());
        assert_eq!(
            f.messages().collect::<Vec<_>>(),
            vec![&b"S...."[..], b"Aorder", b""]
        );
        assert_eq!(f.scan(), (3, None));
    }

    #[test]
    fn gzip_is_detected_by_magic_not_name() {
        let plain = image(&[b"first", b"second"]);
        let path = std::env::temp_dir().join(format!("qw-itch-{}.bin", std::process::id()));
        std::fs::write(&path, gzip(&plain)).unwrap();
        let f = ItchFile::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(f.was_compressed());
        assert_eq!(f.bytes(), &plain[..]);
        assert_eq!(
            f.messages().collect::<Vec<_>>(),
            vec![&b"first"[..], b"second"]
        );
    }

    #[test]
    fn truncated_tail_is_reported_not_a_panic() {
        let full = image(&[b"abc", b"defgh"]);
        let f = ItchFile::from_bytes(full[..full.len() - 2].to_vec()).unwrap();
        let mut it = f.messages();
        assert_eq!(it.next(), Some(&b"abc"[..]));
        assert_eq!(it.next(), None);
        assert_eq!(
            it.truncated(),
            Some(TruncatedTail {
                offset: 5,
                needed: 5,
                have: 3
            })
        );
        let f = ItchFile::from_bytes(full[..6].to_vec()).unwrap();
        assert_eq!(
            f.scan(),
            (
                1,
                Some(TruncatedTail {
                    offset: 5,
                    needed: 2,
                    have: 1
                })
            )
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut bad = gzip(&image(&[b"x"]));
        let n = bad.len();
        bad.truncate(n / 2);
        assert!(ItchFile::from_bytes(bad).is_err());
    }
}
