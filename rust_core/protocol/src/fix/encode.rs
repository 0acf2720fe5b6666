//! Writing FIX 4.4 messages into caller-provided buffers, without allocation.

use quotewire_core::{Price, Qty, Side};

use super::frame::{checksum, BEGIN_STRING, TRAILER_LEN};
use super::tag;
use super::value::{fmt_price, fmt_timestamp, fmt_u64, side_byte, ExecInst, SOH};
use super::view::Header;
use crate::EncodeError;

/// Builds one message in place: `8=FIX.4.4`, a BodyLength placeholder,
/// `35=`, the header, body fields in call order, then BodyLength and
/// CheckSum patched in by [`MessageBuilder::finish`].
///
/// Field methods never fail on the spot: the first error (buffer too small,
/// a value FIX cannot carry) is kept and returned by `finish`, so a message
/// is written as one chain of calls.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    pos: usize,
    /// Where the BodyLength digits go.
    len_at: usize,
    /// Digits reserved for BodyLength.
    len_width: usize,
    error: Option<EncodeError>,
}

/// Number of decimal digits of `n`.
const fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

impl<'b> MessageBuilder<'b> {
    /// Starts a message of type `msg_type` with the standard header fields
    /// 49, 56, 34, (43, 122 if set), 52, in that order.
    pub fn new(buf: &'b mut [u8], msg_type: &[u8], header: &Header<'_>) -> Self {
        let mut b = Self::begin(buf, msg_type);
        b.str(tag::SENDER_COMP_ID, header.sender_comp_id)
            .str(tag::TARGET_COMP_ID, header.target_comp_id)
            .uint(tag::MSG_SEQ_NUM, header.msg_seq_num);
        if header.poss_dup {
            b.bool(tag::POSS_DUP_FLAG, true);
        }
        b.timestamp(tag::SENDING_TIME, header.sending_time);
        if let Some(t) = header.orig_sending_time {
            b.timestamp(tag::ORIG_SENDING_TIME, t);
        }
        b
    }

    /// Starts a message with only BeginString, BodyLength and MsgType
    /// written; the caller writes every other header field.
    pub fn begin(buf: &'b mut [u8], msg_type: &[u8]) -> Self {
        // The body cannot be longer than the buffer, so this many digits always suffice.
        let len_width = digits(buf.len());
        let mut b = Self {
            buf,
            pos: 0,
            len_at: 0,
            len_width,
            error: None,
        };
        b.raw(BEGIN_STRING);
        b.raw(b"9=");
        b.len_at = b.pos;
        b.pos += len_width;
        b.raw(&[SOH]);
        b.str(tag::MSG_TYPE, msg_type);
        b
    }

    fn fail(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            None => {
                let have = self.buf.len();
                self.fail(EncodeError::BufferTooSmall {
                    needed: end + TRAILER_LEN,
                    have,
                });
                self.pos = end.min(have);
            }
        }
    }

    fn tag_eq(&mut self, tag: u32) {
        let mut d = [0u8; 20];
        self.raw(fmt_u64(u64::from(tag), &mut d));
        self.raw(b"=");
    }

    /// Writes `tag=value` verbatim. Empty values and values containing SOH
    /// are refused: FIX cannot carry them outside `DATA` fields.
    pub fn str(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        if value.is_empty() || value.contains(&SOH) {
            self.fail(EncodeError::InvalidValue(tag::name(tag)));
            return self;
        }
        self.tag_eq(tag);
        self.raw(value);
        self.raw(&[SOH]);
        self
    }

    /// Writes `tag=value` if `value` is `Some`.
    pub fn opt_str(&mut self, tag: u32, value: Option<&[u8]>) -> &mut Self {
        if let Some(v) = value {
            self.str(tag, v);
        }
        self
    }

    /// Writes an unsigned integer.
    pub fn uint(&mut self, tag: u32, value: u64) -> &mut Self {
        let mut d = [0u8; 20];
        self.str(tag, fmt_u64(value, &mut d))
    }

    /// Writes an unsigned integer if present.
    pub fn opt_uint(&mut self, tag: u32, value: Option<u64>) -> &mut Self {
        if let Some(v) = value {
            self.uint(tag, v);
        }
        self
    }

    /// Writes a single-character value.
    pub fn char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.str(tag, &[value])
    }

    /// Writes a boolean, `Y` or `N`.
    pub fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.char(tag, if value { b'Y' } else { b'N' })
    }

    /// Writes Side(54)-style `1`/`2`.
    pub fn side(&mut self, tag: u32, side: Side) -> &mut Self {
        self.char(tag, side_byte(side))
    }

    /// Writes a price in its shortest exact decimal form.
    pub fn price(&mut self, tag: u32, price: Price) -> &mut Self {
        let mut out = [0u8; 32];
        self.str(tag, fmt_price(price, &mut out))
    }

    /// Writes a price if present.
    pub fn opt_price(&mut self, tag: u32, price: Option<Price>) -> &mut Self {
        if let Some(p) = price {
            self.price(tag, p);
        }
        self
    }

    /// Writes a whole quantity.
    pub fn qty(&mut self, tag: u32, qty: Qty) -> &mut Self {
        self.uint(tag, qty.0)
    }

    /// Writes a quantity if present.
    pub fn opt_qty(&mut self, tag: u32, qty: Option<Qty>) -> &mut Self {
        if let Some(q) = qty {
            self.qty(tag, q);
        }
        self
    }

    /// Writes a UTC timestamp `YYYYMMDD-HH:MM:SS.sss` from ns since the epoch.
    pub fn timestamp(&mut self, tag: u32, ns_since_epoch: u64) -> &mut Self {
        self.str(tag, &fmt_timestamp(ns_since_epoch))
    }

    /// Writes a timestamp if present.
    pub fn opt_timestamp(&mut self, tag: u32, ns_since_epoch: Option<u64>) -> &mut Self {
        if let Some(t) = ns_since_epoch {
            self.timestamp(tag, t);
        }
        self
    }

    /// Writes ExecInst(18)-style instructions, nothing if the set is empty.
    pub fn exec_inst(&mut self, tag: u32, inst: ExecInst) -> &mut Self {
        if !inst.is_empty() {
            let mut out = [0u8; 128];
            self.str(tag, inst.fmt(&mut out));
        }
        self
    }

    /// Patches BodyLength, appends CheckSum and returns the message length;
    /// the message is `buf[..len]`.
    pub fn finish(mut self) -> Result<usize, EncodeError> {
        let trailer_needed = self.pos + TRAILER_LEN;
        if self.error.is_none() && trailer_needed > self.buf.len() {
            self.fail(EncodeError::BufferTooSmall {
                needed: trailer_needed,
                have: self.buf.len(),
            });
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let body_from = self.len_at + self.len_width + 1;
        let body_len = self.pos - body_from;
        let mut d = [0u8; 20];
        let len_digits = fmt_u64(body_len as u64, &mut d);
        // The placeholder is as wide as the buffer length's digits, the body
        // is shorter than the buffer: shift the body left over the spare digits.
        let spare = self.len_width.saturating_sub(len_digits.len());
        let Some(dst) = self
            .buf
            .get_mut(self.len_at..self.len_at + len_digits.len())
        else {
            return Err(EncodeError::Overflow("BodyLength(9)"));
        };
        dst.copy_from_slice(len_digits);
        let soh_at = self.len_at + len_digits.len();
        if let Some(s) = self.buf.get_mut(soh_at) {
            *s = SOH;
        }
        self.buf.copy_within(body_from..self.pos, soh_at + 1);
        self.pos -= spare;
        let sum = checksum(self.buf.get(..self.pos).unwrap_or_default());
        let trailer = [
            b'1',
            b'0',
            b'=',
            b'0' + sum / 100,
            b'0' + (sum / 10) % 10,
            b'0' + sum % 10,
            SOH,
        ];
        self.raw(&trailer);
        Ok(self.pos)
    }
}
