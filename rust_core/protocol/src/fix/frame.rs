//! Finding complete FIX 4.4 messages in a TCP byte stream.
//!
//! A message is `8=FIX.4.4<SOH>9=<len><SOH><body>10=<ccc><SOH>` where `<len>`
//! counts the bytes from just after the `9=` field's SOH through the SOH
//! before `10=`, and `<ccc>` is the sum of every byte before `10=`, mod 256,
//! as three digits. [`Framer::scan`] works over whatever bytes the caller has
//! buffered; [`StreamBuffer`] adds a fixed buffer that handles partial reads.

use super::error::FrameError;
use super::value::SOH;

/// `8=FIX.4.4<SOH>`: every FIX 4.4 message starts with these bytes.
pub const BEGIN_STRING: &[u8] = b"8=FIX.4.4\x01";
/// Length of the trailer `10=ccc<SOH>`.
pub const TRAILER_LEN: usize = 7;
/// Most digits accepted in BodyLength; more is refused as too long.
const MAX_LEN_DIGITS: usize = 9;
/// Default maximum body length.
pub const DEFAULT_MAX_BODY: usize = 8 * 1024;

/// Sum of the bytes mod 256: the FIX CheckSum.
#[inline]
#[must_use]
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

/// The most bytes a frame with body length `max_body` can occupy.
#[must_use]
pub const fn max_frame_len(max_body: usize) -> usize {
    BEGIN_STRING.len() + 2 + MAX_LEN_DIGITS + 1 + max_body + TRAILER_LEN
}

/// Outcome of one [`Framer::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A verified message is `buf[start..end]`; bytes before `start` were
    /// garbage. Consume `end` bytes.
    Message {
        /// First byte of the message (`8`).
        start: usize,
        /// One past its last byte (the final SOH).
        end: usize,
    },
    /// No complete message yet. `buf[..discard]` is garbage that can be
    /// dropped; keep the rest and read more.
    Incomplete {
        /// Bytes to drop from the front.
        discard: usize,
    },
    /// A message started but its framing is broken. Drop `buf[..discard]`
    /// (leading garbage plus the broken start) and scan again.
    Invalid {
        /// What is wrong.
        error: FrameError,
        /// Bytes to drop from the front.
        discard: usize,
    },
}

/// Stateless framing rules plus counters of what was thrown away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framer {
    max_body: usize,
    garbage_bytes: u64,
    invalid_frames: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BODY)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Length of the longest suffix of `buf` that is a proper prefix of `BEGIN_STRING`.
fn partial_begin_suffix(buf: &[u8]) -> usize {
    (1..BEGIN_STRING.len())
        .rev()
        .find(|&n| buf.ends_with(BEGIN_STRING.get(..n).unwrap_or_default()))
        .unwrap_or(0)
}

impl Framer {
    /// A framer refusing bodies longer than `max_body` bytes.
    #[must_use]
    pub const fn new(max_body: usize) -> Self {
        Self {
            max_body,
            garbage_bytes: 0,
            invalid_frames: 0,
        }
    }

    /// The configured maximum body length.
    #[must_use]
    pub const fn max_body(&self) -> usize {
        self.max_body
    }

    /// Bytes skipped so far because they preceded any `8=FIX.4.4<SOH>`.
    #[must_use]
    pub const fn garbage_bytes(&self) -> u64 {
        self.garbage_bytes
    }

    /// Broken frames dropped so far.
    #[must_use]
    pub const fn invalid_frames(&self) -> u64 {
        self.invalid_frames
    }

    /// Looks for the first complete message in `buf` and verifies its
    /// BodyLength and CheckSum. Never panics, whatever `buf` holds.
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        let Some(start) = find(buf, BEGIN_STRING) else {
            let discard = buf.len() - partial_begin_suffix(buf);
            self.garbage_bytes += discard as u64;
            return Scan::Incomplete { discard };
        };
        self.garbage_bytes += start as u64;
        let scan = Self::frame_at(buf.get(start..).unwrap_or_default(), self.max_body);
        match scan {
            Ok(Some(len)) => Scan::Message {
                start,
                end: start + len,
            },
            Ok(None) => Scan::Incomplete { discard: start },
            Err(error) => {
                self.invalid_frames += 1;
                // Drop the begin string so the next scan resynchronises on
                // whatever follows; a real message may start inside the body.
                Scan::Invalid {
                    error,
                    discard: start + BEGIN_STRING.len(),
                }
            }
        }
    }

    /// Checks that `msg` (starting with `BEGIN_STRING`) holds one complete
    /// message: `Ok(Some(len))`, `Ok(None)` if more bytes are needed.
    fn frame_at(msg: &[u8], max_body: usize) -> Result<Option<usize>, FrameError> {
        let after_begin = msg.get(BEGIN_STRING.len()..).unwrap_or_default();
        // "9=" then digits then SOH.
        for (i, want) in b"9=".iter().enumerate() {
            match after_begin.get(i) {
                None => return Ok(None),
                Some(b) if b != want => return Err(FrameError::BadBodyLength),
                Some(_) => {}
            }
        }
        let digits_from = BEGIN_STRING.len() + 2;
        let mut body_len = 0usize;
        let mut n_digits = 0usize;
        let body_start = loop {
            let Some(&b) = msg.get(digits_from + n_digits) else {
                return Ok(None);
            };
            match b {
                b'0'..=b'9' if n_digits < MAX_LEN_DIGITS => {
                    body_len = body_len * 10 + usize::from(b - b'0');
                    n_digits += 1;
                }
                b'0'..=b'9' => {
                    return Err(FrameError::BodyTooLong {
                        len: usize::MAX,
                        max: max_body,
                    })
                }
                SOH if n_digits > 0 => break digits_from + n_digits + 1,
                _ => return Err(FrameError::BadBodyLength),
            }
        };
        if body_len > max_body {
            return Err(FrameError::BodyTooLong {
                len: body_len,
                max: max_body,
            });
        }
        let trailer_at = body_start + body_len;
        let total = trailer_at + TRAILER_LEN;
        let Some(trailer) = msg.get(trailer_at..total) else {
            return Ok(None);
        };
        let body_ends_with_soh = body_len == 0 || msg.get(trailer_at - 1) == Some(&SOH);
        let Some((b"10=", rest)) = trailer.split_first_chunk::<3>() else {
            return Err(FrameError::BodyLengthMismatch { declared: body_len });
        };
        if !body_ends_with_soh {
            return Err(FrameError::BodyLengthMismatch { declared: body_len });
        }
        let [d1, d2, d3, SOH] = *rest else {
            return Err(FrameError::BadCheckSumField);
        };
        if ![d1, d2, d3].iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadCheckSumField);
        }
        let declared =
            u16::from(d1 - b'0') * 100 + u16::from(d2 - b'0') * 10 + u16::from(d3 - b'0');
        let computed = checksum(msg.get(..trailer_at).unwrap_or_default());
        if declared != u16::from(computed) {
            return Err(FrameError::CheckSumMismatch { declared, computed });
        }
        Ok(Some(total))
    }
}

/// Iterates over the messages in a complete byte slice (a capture, a test
/// vector), skipping garbage; yields framing errors and carries on.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
    framer: Framer,
}

impl<'a> Frames<'a> {
    /// Frames `buf` with bodies up to `max_body` bytes.
    #[must_use]
    pub const fn new(buf: &'a [u8], max_body: usize) -> Self {
        Self {
            rest: buf,
            framer: Framer::new(max_body),
        }
    }

    /// The framer, for its counters.
    #[must_use]
    pub const fn framer(&self) -> &Framer {
        &self.framer
    }

    /// Bytes not yet consumed (an incomplete tail once iteration ends).
    #[must_use]
    pub const fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.framer.scan(self.rest) {
            Scan::Message { start, end } => {
                let msg = self.rest.get(start..end).unwrap_or_default();
                self.rest = self.rest.get(end..).unwrap_or_default();
                Some(Ok(msg))
            }
            Scan::Incomplete { discard } => {
                self.rest = self.rest.get(discard..).unwrap_or_default();
                None
            }
            Scan::Invalid { error, discard } => {
                self.rest = self.rest.get(discard..).unwrap_or_default();
                Some(Err(error))
            }
        }
    }
}

/// A fixed receive buffer for one FIX connection: read into [`spare`],
/// [`commit`] the bytes read, then take messages with [`next_message`].
/// Allocates once, at construction, room for one maximal frame plus slack.
///
/// [`spare`]: StreamBuffer::spare
/// [`commit`]: StreamBuffer::commit
/// [`next_message`]: StreamBuffer::next_message
#[derive(Debug)]
pub struct StreamBuffer {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    framer: Framer,
}

impl StreamBuffer {
    /// A buffer for messages with bodies up to `max_body`, with `read_size`
    /// bytes of room for reads beyond one maximal frame.
    #[must_use]
    pub fn new(max_body: usize, read_size: usize) -> Self {
        Self {
            buf: vec![0; max_frame_len(max_body) + read_size.max(1)].into_boxed_slice(),
            start: 0,
            end: 0,
            framer: Framer::new(max_body),
        }
    }

    /// The framer, for its counters.
    #[must_use]
    pub const fn framer(&self) -> &Framer {
        &self.framer
    }

    /// Bytes buffered but not yet consumed.
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Free space to read into; never empty (the framer discards garbage and
    /// refuses oversize bodies, so buffered bytes never fill the buffer).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Drops everything buffered (a new connection starts clean); the
    /// framer's counters are kept.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Records that `n` bytes were written at the front of [`StreamBuffer::spare`].
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Copies `bytes` in (a convenience for tests and simulators); returns
    /// how many fitted.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare();
        let n = bytes.len().min(spare.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.commit(n);
        n
    }

    /// The next complete message, a framing error (the broken bytes are
    /// dropped), or `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Option<Result<&[u8], FrameError>> {
        let data = self.buf.get(self.start..self.end).unwrap_or_default();
        match self.framer.scan(data) {
            Scan::Message { start, end } => {
                let (from, to) = (self.start + start, self.start + end);
                self.start = to;
                Some(Ok(self.buf.get(from..to).unwrap_or_default()))
            }
            Scan::Incomplete { discard } => {
                self.start += discard;
                None
            }
            Scan::Invalid { error, discard } => {
                self.start += discard;
                Some(Err(error))
            }
        }
    }
}
