//! MoldUDP64 1.00: the sequenced UDP framing Nasdaq uses for ITCH.
//!
//! Downstream packet: `Session(10, alpha) | Sequence Number(8, u64 BE) |
//! Message Count(2, u16 BE)` then `Message Count` blocks of
//! `Message Length(2, u16 BE) | Message Data`. The sequence number is that of
//! the first message in the packet. A heartbeat carries count 0 and the next
//! expected sequence number; end of session carries count `0xFFFF`.
//! Request (re-request) packet: `Session(10) | Sequence Number(8) | Requested
//! Message Count(2)`, sent to the retransmission server, which answers with
//! ordinary downstream packets.

use crate::{DecodeError, EncodeError};

/// Length of the session field.
pub const SESSION_LEN: usize = 10;
/// Length of the downstream header.
pub const HEADER_LEN: usize = SESSION_LEN + 8 + 2;
/// Length of a request packet.
pub const REQUEST_LEN: usize = HEADER_LEN;
/// Message count marking the end of a session.
pub const END_OF_SESSION: u16 = 0xFFFF;
/// Largest UDP payload we build by default (fits a standard Ethernet MTU).
pub const MAX_PAYLOAD: usize = 1400;

/// A MoldUDP64 session name: ten ASCII bytes, space padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Session(pub [u8; SESSION_LEN]);

impl Session {
    /// Builds a session from text, space padded or truncated to ten bytes.
    #[must_use]
    pub fn from_str_padded(text: &str) -> Self {
        let mut out = [b' '; SESSION_LEN];
        for (dst, src) in out.iter_mut().zip(text.bytes()) {
            *dst = src;
        }
        Self(out)
    }

    /// The session name with trailing spaces removed, lossily as UTF-8.
    #[must_use]
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.0).trim_end().to_owned()
    }
}

/// What kind of downstream packet this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// Carries `count` messages starting at the header's sequence number.
    Data,
    /// No messages; the sequence number is the next one expected.
    Heartbeat,
    /// No messages; the session is over. The sequence number is the next one.
    EndOfSession,
}

/// The fixed header of a downstream packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Session name.
    pub session: Session,
    /// Sequence number of the first message (or the next expected one).
    pub sequence: u64,
    /// Message count, `0` for heartbeat, `0xFFFF` for end of session.
    pub count: u16,
}

impl Header {
    /// The packet's kind from its count.
    #[inline]
    #[must_use]
    pub const fn kind(&self) -> PacketKind {
        match self.count {
            0 => PacketKind::Heartbeat,
            END_OF_SESSION => PacketKind::EndOfSession,
            _ => PacketKind::Data,
        }
    }

    /// Number of messages carried (0 for heartbeat and end of session).
    #[inline]
    #[must_use]
    pub const fn message_count(&self) -> u16 {
        match self.kind() {
            PacketKind::Data => self.count,
            _ => 0,
        }
    }

    /// Sequence number just after this packet's messages.
    #[inline]
    #[must_use]
    pub const fn next_sequence(&self) -> u64 {
        self.sequence.wrapping_add(self.message_count() as u64)
    }
}

/// A downstream packet decoded in place; messages are borrowed from the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header,
    datagram: &'a [u8],
    body: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Decodes and validates a whole packet: every message block must fit exactly.
    /// Trailing bytes after the declared messages are an error, as is a block
    /// whose length runs past the end of the datagram.
    #[inline]
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_each(buf, |_| {})
    }

    /// [`Self::decode`] that also hands each message to `visit` as the
    /// validating pass reaches it, so a caller that indexes the messages (e.g.
    /// for prefetching) reads the datagram once. On `Err` the messages already
    /// visited belong to a malformed datagram and must be discarded.
    #[inline]
    pub fn decode_each(
        buf: &'a [u8],
        mut visit: impl FnMut(&'a [u8]),
    ) -> Result<Self, DecodeError> {
        let header = decode_header(buf)?;
        let body = buf.get(HEADER_LEN..).unwrap_or_default();
        let mut rest = body;
        for _ in 0..header.message_count() {
            let (msg, tail) = split_block(rest)?;
            visit(msg);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(DecodeError::BadLength {
                tag: 0,
                len: buf.len(),
                expected: buf.len() - rest.len(),
            });
        }
        Ok(Self {
            header,
            datagram: buf,
            body,
        })
    }

    /// The whole datagram, header included.
    #[inline]
    #[must_use]
    pub const fn datagram(&self) -> &'a [u8] {
        self.datagram
    }

    /// Iterates over the message payloads with their sequence numbers.
    #[inline]
    #[must_use]
    pub fn messages(&self) -> Messages<'a> {
        Messages {
            rest: self.body,
            remaining: self.header.message_count(),
            sequence: self.header.sequence,
        }
    }
}

/// Iterator over `(sequence, message bytes)` of a validated packet.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
    remaining: u16,
    sequence: u64,
}

impl<'a> Iterator for Messages<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (msg, tail) = split_block(self.rest).ok()?;
        self.rest = tail;
        self.remaining -= 1;
        let seq = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        Some((seq, msg))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

#[inline]
fn split_block(buf: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let Some((len, rest)) = buf.split_first_chunk::<2>() else {
        return Err(DecodeError::Truncated {
            needed: 2,
            have: buf.len(),
        });
    };
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(DecodeError::Truncated {
            needed: len,
            have: rest.len(),
        });
    }
    Ok(rest.split_at(len))
}

/// Decodes only the downstream header.
#[inline]
pub fn decode_header(buf: &[u8]) -> Result<Header, DecodeError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::Truncated {
            needed: HEADER_LEN,
            have: buf.len(),
        });
    };
    let mut session = [0u8; SESSION_LEN];
    session.copy_from_slice(&head[..SESSION_LEN]);
    let (sequence, count) = sequence_and_count(head);
    Ok(Header {
        session: Session(session),
        sequence,
        count,
    })
}

/// The sequence number and raw message count of a downstream header (what
/// [`decode_header`] reads besides the session, for a caller that compares
/// the session in place or not at all).
#[inline(always)]
#[must_use]
pub fn sequence_and_count(head: &[u8; HEADER_LEN]) -> (u64, u16) {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&head[SESSION_LEN..SESSION_LEN + 8]);
    let count = u16::from_be_bytes([head[HEADER_LEN - 2], head[HEADER_LEN - 1]]);
    (u64::from_be_bytes(seq), count)
}

/// Writes a downstream header into `out[..HEADER_LEN]`.
pub fn encode_header(header: &Header, out: &mut [u8]) -> Result<usize, EncodeError> {
    let have = out.len();
    let Some(dst) = out.first_chunk_mut::<HEADER_LEN>() else {
        return Err(EncodeError::BufferTooSmall {
            needed: HEADER_LEN,
            have,
        });
    };
    dst[..SESSION_LEN].copy_from_slice(&header.session.0);
    dst[SESSION_LEN..SESSION_LEN + 8].copy_from_slice(&header.sequence.to_be_bytes());
    dst[18..20].copy_from_slice(&header.count.to_be_bytes());
    Ok(HEADER_LEN)
}

/// A re-request sent to the retransmission server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Session name.
    pub session: Session,
    /// First sequence number wanted.
    pub sequence: u64,
    /// How many messages are wanted.
    pub count: u16,
}

impl Request {
    /// Decodes a request packet; it must be exactly [`REQUEST_LEN`] bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() != REQUEST_LEN {
            return Err(DecodeError::BadLength {
                tag: 0,
                len: buf.len(),
                expected: REQUEST_LEN,
            });
        }
        let h = decode_header(buf)?;
        Ok(Self {
            session: h.session,
            sequence: h.sequence,
            count: h.count,
        })
    }

    /// Encodes into `out`, returning the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_header(
            &Header {
                session: self.session,
                sequence: self.sequence,
                count: self.count,
            },
            out,
        )
    }
}

/// Builds downstream packets in a caller-owned buffer without allocating.
#[derive(Debug)]
pub struct PacketBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u16,
    session: Session,
    sequence: u64,
}

impl<'a> PacketBuilder<'a> {
    /// Starts a data packet whose first message has sequence `sequence`.
    pub fn new(buf: &'a mut [u8], session: Session, sequence: u64) -> Result<Self, EncodeError> {
        if buf.len() < HEADER_LEN {
            return Err(EncodeError::BufferTooSmall {
                needed: HEADER_LEN,
                have: buf.len(),
            });
        }
        Ok(Self {
            buf,
            len: HEADER_LEN,
            count: 0,
            session,
            sequence,
        })
    }

    /// Appends one message; fails without changing the packet when it does not fit.
    pub fn push(&mut self, message: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(message.len()).map_err(|_| EncodeError::Overflow("length"))?;
        if self.count == END_OF_SESSION - 1 {
            return Err(EncodeError::Overflow("message count"));
        }
        let needed = self.len + 2 + message.len();
        if needed > self.buf.len() {
            return Err(EncodeError::BufferTooSmall {
                needed,
                have: self.buf.len(),
            });
        }
        self.buf[self.len..self.len + 2].copy_from_slice(&len.to_be_bytes());
        self.buf[self.len + 2..needed].copy_from_slice(message);
        self.len = needed;
        self.count += 1;
        Ok(())
    }

    /// Room left for one more message body, after its length prefix.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len + 2)
    }

    /// Messages pushed so far.
    #[must_use]
    pub const fn count(&self) -> u16 {
        self.count
    }

    /// Writes the header and returns the finished datagram length.
    pub fn finish(self) -> usize {
        let header = Header {
            session: self.session,
            sequence: self.sequence,
            count: self.count,
        };
        // The constructor checked the buffer holds a header.
        let _ = encode_header(&header, self.buf);
        self.len
    }
}

/// Encodes a heartbeat (`count == 0`) carrying the next expected sequence number.
pub fn encode_heartbeat(session: Session, next: u64, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_header(
        &Header {
            session,
            sequence: next,
            count: 0,
        },
        out,
    )
}

/// Encodes an end-of-session packet carrying the next sequence number.
pub fn encode_end_of_session(
    session: Session,
    next: u64,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_header(
        &Header {
            session,
            sequence: next,
            count: END_OF_SESSION,
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session() -> Session {
        Session::from_str_padded("TEST01")
    }

    #[test]
    fn builder_and_decoder_agree_on_messages_and_sequences() {
        let mut buf = [0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, session(), 41).unwrap();
        b.push(b"hello").unwrap();
        b.push(b"").unwrap();
        b.push(b"xyz").unwrap();
        let n = b.finish();
        let p = Packet::decode(&buf[..n]).unwrap();
        assert_eq!(p.header.kind(), PacketKind::Data);
        assert_eq!(p.header.next_sequence(), 44);
        let got: Vec<_> = p.messages().collect();
        assert_eq!(
            got,
            vec![(41, &b"hello"[..]), (42, &b""[..]), (43, &b"xyz"[..])]
        );
    }

    #[test]
    fn decode_each_visits_every_message_in_order_in_the_validating_pass() {
        let mut buf = [0u8; MAX_PAYLOAD];
        let mut b = PacketBuilder::new(&mut buf, session(), 7).unwrap();
        b.push(b"ab").unwrap();
        b.push(b"").unwrap();
        b.push(b"cde").unwrap();
        let n = b.finish();
        let mut seen = Vec::new();
        let p = Packet::decode_each(&buf[..n], |m| seen.push(m.to_vec())).unwrap();
        assert_eq!(seen, vec![b"ab".to_vec(), vec![], b"cde".to_vec()]);
        assert_eq!(p.datagram(), &buf[..n]);
        let mut visits = 0;
        assert!(Packet::decode_each(&buf[..n - 1], |_| visits += 1).is_err());
        assert_eq!(visits, 2, "visited before the bad block, then refused");
    }

    #[test]
    fn heartbeat_and_end_of_session_carry_no_messages() {
        let mut buf = [0u8; HEADER_LEN];
        encode_heartbeat(session(), 7, &mut buf).unwrap();
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(p.header.kind(), PacketKind::Heartbeat);
        assert_eq!(p.header.next_sequence(), 7);
        assert_eq!(p.messages().count(), 0);
        encode_end_of_session(session(), 9, &mut buf).unwrap();
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(p.header.kind(), PacketKind::EndOfSession);
        assert_eq!(p.header.next_sequence(), 9);
    }

    #[test]
    fn block_running_past_the_datagram_is_truncated_not_a_panic() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, session(), 1).unwrap();
        b.push(b"abcdef").unwrap();
        let n = b.finish();
        assert!(matches!(
            Packet::decode(&buf[..n - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            Packet::decode(&buf[..5]),
            Err(DecodeError::Truncated { .. })
        ));
        // Trailing garbage after the declared blocks is refused too.
        assert!(matches!(
            Packet::decode(&buf[..n + 1]),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn request_round_trips_and_refuses_wrong_length() {
        let r = Request {
            session: session(),
            sequence: 1234,
            count: 17,
        };
        let mut buf = [0u8; REQUEST_LEN];
        r.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(&buf).unwrap(), r);
        assert!(Request::decode(&buf[..19]).is_err());
    }

    proptest! {
        #[test]
        fn packets_round_trip(seq in any::<u64>(), msgs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..60), 0..20)) {
            let mut buf = [0u8; 2048];
            let mut b = PacketBuilder::new(&mut buf, session(), seq).unwrap();
            for m in &msgs { b.push(m).unwrap(); }
            let n = b.finish();
            let p = Packet::decode(&buf[..n]).unwrap();
            let got: Vec<Vec<u8>> = p.messages().map(|(_, m)| m.to_vec()).collect();
            if msgs.is_empty() {
                prop_assert_eq!(p.header.kind(), PacketKind::Heartbeat);
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::decode(&bytes) {
                prop_assert_eq!(p.messages().count(), usize::from(p.header.message_count()));
            }
            let _ = Request::decode(&bytes);
        }
    }
}
