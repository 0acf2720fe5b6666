//! SoupBinTCP 4.0: Nasdaq's framed, sequenced TCP session layer (carries OUCH).
//!
//! Followed: Nasdaq "SoupBinTCP 4.0" specification (nasdaqtrader.com,
//! `soupbintcp4.0.pdf`), cross-checked against the Open Markets Initiative
//! `Nasdaq.Common.SoupBinTcp.Ouch.v3.0` C structs and the packet layer of their
//! `Nasdaq.Equities.Orders.Ouch.v5.0` Wireshark dissector.
//!
//! Every packet is `Packet Length (2, u16 big-endian, counts the type byte and
//! the payload but not itself) | Packet Type (1 ASCII byte) | payload`.
//!
//! | type | name               | direction | payload                                                  |
//! |------|--------------------|-----------|----------------------------------------------------------|
//! | `+`  | Debug              | both      | free text                                                |
//! | `A`  | Login Accepted     | server    | Session (10 alpha), Sequence Number (20 numeric)         |
//! | `J`  | Login Rejected     | server    | Reject Reason Code (1: `A` not authorized, `S` no session)|
//! | `S`  | Sequenced Data     | server    | one higher-level (OUCH) message                          |
//! | `H`  | Server Heartbeat   | server    | none                                                     |
//! | `Z`  | End of Session     | server    | none                                                     |
//! | `L`  | Login Request      | client    | Username (6), Password (10), Requested Session (10), Requested Sequence Number (20) |
//! | `U`  | Unsequenced Data   | client    | one higher-level (OUCH) message                          |
//! | `R`  | Client Heartbeat   | client    | none                                                     |
//! | `O`  | Logout Request     | client    | none                                                     |
//!
//! Alpha fields are left justified and padded on the right with spaces; numeric
//! fields are ASCII digits right justified and padded on the left with spaces
//! (see [`parse_numeric`] and [`write_numeric`] for exactly what is accepted).
//!
//! The type letters of the two directions do not overlap, so one [`Packet`]
//! enum covers both; [`Packet::direction`] says who may send it.
//!
//! Framing: [`split_frame`] (stateless, over any caller buffer), [`frames`]
//! (iterator over a byte slice) and [`StreamFramer`] (owns one buffer sized at
//! construction, fed with arbitrary TCP segments). A Packet Length of zero or
//! above the configured maximum is a framing error: the byte stream cannot be
//! resynchronised, so the framer reports it on every later call too.

use core::iter::FusedIterator;

use crate::wire::{put, rd};
use crate::{DecodeError, EncodeError};

/// Length of the Packet Length prefix.
pub const LENGTH_PREFIX_LEN: usize = 2;
/// Length prefix plus packet type byte.
pub const HEADER_LEN: usize = LENGTH_PREFIX_LEN + 1;
/// Largest payload a packet can carry (the Packet Length field also counts the type byte).
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - 1;
/// Length of the Username field of a Login Request.
pub const USERNAME_LEN: usize = 6;
/// Length of the Password field of a Login Request.
pub const PASSWORD_LEN: usize = 10;
/// Length of a session name.
pub const SESSION_LEN: usize = 10;
/// Length of a numeric sequence number field.
pub const SEQUENCE_LEN: usize = 20;
/// Payload length of a Login Request (`L`).
pub const LOGIN_REQUEST_PAYLOAD_LEN: usize =
    USERNAME_LEN + PASSWORD_LEN + SESSION_LEN + SEQUENCE_LEN;
/// Payload length of a Login Accepted (`A`).
pub const LOGIN_ACCEPTED_PAYLOAD_LEN: usize = SESSION_LEN + SEQUENCE_LEN;

/// The packet type bytes.
pub mod packet_type {
    /// `+` Debug (either direction).
    pub const DEBUG: u8 = b'+';
    /// `A` Login Accepted (server).
    pub const LOGIN_ACCEPTED: u8 = b'A';
    /// `J` Login Rejected (server).
    pub const LOGIN_REJECTED: u8 = b'J';
    /// `S` Sequenced Data (server).
    pub const SEQUENCED_DATA: u8 = b'S';
    /// `H` Server Heartbeat (server).
    pub const SERVER_HEARTBEAT: u8 = b'H';
    /// `Z` End of Session (server).
    pub const END_OF_SESSION: u8 = b'Z';
    /// `L` Login Request (client).
    pub const LOGIN_REQUEST: u8 = b'L';
    /// `U` Unsequenced Data (client).
    pub const UNSEQUENCED_DATA: u8 = b'U';
    /// `R` Client Heartbeat (client).
    pub const CLIENT_HEARTBEAT: u8 = b'R';
    /// `O` Logout Request (client).
    pub const LOGOUT_REQUEST: u8 = b'O';
}

// ---------------------------------------------------------------------------
// Field helpers.

/// Parses a SoupBinTCP numeric field: ASCII digits, right justified, padded on
/// the left with spaces.
///
/// Accepted, to interoperate with lenient peers: leading zeros, trailing
/// spaces (a left-justified number) and an all-blank field (read as 0). Refused
/// with [`DecodeError::InvalidField`] (carrying the offending byte): any other
/// byte, spaces between digits, and a value above `u64::MAX`.
pub fn parse_numeric(field: &[u8], name: &'static str) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    // 0: leading blanks, 1: digits, 2: trailing blanks.
    let mut state = 0u8;
    for &b in field {
        match (state, b) {
            (0 | 2, b' ') => {}
            (1, b' ') => state = 2,
            (0 | 1, b'0'..=b'9') => {
                state = 1;
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or(DecodeError::InvalidField {
                        field: name,
                        value: b,
                    })?;
            }
            _ => {
                return Err(DecodeError::InvalidField {
                    field: name,
                    value: b,
                })
            }
        }
    }
    Ok(value)
}

/// Writes `value` as a SoupBinTCP numeric field filling all of `out`: digits
/// right justified, spaces on the left. [`EncodeError::Overflow`] if the
/// digits do not fit (a 20-byte field holds any `u64`).
pub fn write_numeric(value: u64, out: &mut [u8], name: &'static str) -> Result<(), EncodeError> {
    let mut v = value;
    let mut i = out.len();
    loop {
        if i == 0 {
            return Err(EncodeError::Overflow(name));
        }
        i -= 1;
        if let Some(d) = out.get_mut(i) {
            // `v % 10 < 10`, so the cast cannot truncate.
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for b in out.iter_mut().take(i) {
        *b = b' ';
    }
    Ok(())
}

/// Builds a fixed alpha field from text: left justified, space padded on the
/// right. [`EncodeError::Overflow`] if the text is longer than the field.
pub fn alpha<const N: usize>(text: &[u8], name: &'static str) -> Result<[u8; N], EncodeError> {
    if text.len() > N {
        return Err(EncodeError::Overflow(name));
    }
    let mut out = [b' '; N];
    for (dst, src) in out.iter_mut().zip(text) {
        *dst = *src;
    }
    Ok(out)
}

/// An alpha field without its right padding.
#[must_use]
pub fn trim_alpha(field: &[u8]) -> &[u8] {
    let end = field.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    field.get(..end).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Packets.

/// Who may send a packet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Server to client.
    ServerToClient,
    /// Client to server.
    ClientToServer,
    /// Either side (Debug packets).
    Both,
}

/// Reject Reason Code of a Login Rejected packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `A`: not authorized (bad username or password).
    NotAuthorized,
    /// `S`: the requested session is not available.
    SessionNotAvailable,
    /// Any other byte, kept so that the packet re-encodes unchanged.
    Other(u8),
}

impl RejectReason {
    /// Decodes the reason byte (never fails: unknown codes are kept).
    #[must_use]
    pub const fn from_byte(b: u8) -> Self {
        match b {
            b'A' => Self::NotAuthorized,
            b'S' => Self::SessionNotAvailable,
            other => Self::Other(other),
        }
    }

    /// The wire byte.
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        match self {
            Self::NotAuthorized => b'A',
            Self::SessionNotAvailable => b'S',
            Self::Other(b) => b,
        }
    }
}

/// `L` Login Request payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginRequest {
    /// Username, alpha, space padded on the right (case insensitive per spec).
    pub username: [u8; USERNAME_LEN],
    /// Password, alpha, space padded on the right (case insensitive per spec).
    pub password: [u8; PASSWORD_LEN],
    /// Session to log into, or all blanks for the currently active session.
    pub requested_session: [u8; SESSION_LEN],
    /// Next sequence number wanted, 0 to start with the most recent message.
    pub requested_sequence_number: u64,
}

impl LoginRequest {
    /// Builds a request from unpadded text; [`EncodeError::Overflow`] if a field is too long.
    pub fn new(
        username: &[u8],
        password: &[u8],
        requested_session: &[u8],
        requested_sequence_number: u64,
    ) -> Result<Self, EncodeError> {
        Ok(Self {
            username: alpha(username, "username")?,
            password: alpha(password, "password")?,
            requested_session: alpha(requested_session, "requested_session")?,
            requested_sequence_number,
        })
    }

    fn decode(p: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            username: rd(p, 0),
            password: rd(p, 6),
            requested_session: rd(p, 16),
            requested_sequence_number: parse_numeric(
                p.get(26..46).unwrap_or_default(),
                "requested_sequence_number",
            )?,
        })
    }

    fn encode(&self, p: &mut [u8]) -> Result<(), EncodeError> {
        put(p, 0, &self.username);
        put(p, 6, &self.password);
        put(p, 16, &self.requested_session);
        match p.get_mut(26..46) {
            Some(f) => write_numeric(
                self.requested_sequence_number,
                f,
                "requested_sequence_number",
            ),
            None => Err(EncodeError::BufferTooSmall {
                needed: 46,
                have: p.len(),
            }),
        }
    }
}

/// `A` Login Accepted payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginAccepted {
    /// The session now logged into, alpha, space padded on the right.
    pub session: [u8; SESSION_LEN],
    /// Sequence number of the next Sequenced Data packet the server will send.
    pub sequence_number: u64,
}

impl LoginAccepted {
    fn decode(p: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            session: rd(p, 0),
            sequence_number: parse_numeric(p.get(10..30).unwrap_or_default(), "sequence_number")?,
        })
    }

    fn encode(&self, p: &mut [u8]) -> Result<(), EncodeError> {
        put(p, 0, &self.session);
        match p.get_mut(10..30) {
            Some(f) => write_numeric(self.sequence_number, f, "sequence_number"),
            None => Err(EncodeError::BufferTooSmall {
                needed: 30,
                have: p.len(),
            }),
        }
    }
}

/// One SoupBinTCP packet; variable payloads are borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Packet<'a> {
    /// `+` free-form text, ignored by the protocol.
    Debug(&'a [u8]),
    /// `A` successful login.
    LoginAccepted(LoginAccepted),
    /// `J` failed login; the server closes the connection.
    LoginRejected(RejectReason),
    /// `S` one sequenced application message (sequence numbers are implicit).
    SequencedData(&'a [u8]),
    /// `H` server heartbeat.
    ServerHeartbeat,
    /// `Z` the session has ended; the server closes the connection.
    EndOfSession,
    /// `L` login request.
    LoginRequest(LoginRequest),
    /// `U` one unsequenced application message.
    UnsequencedData(&'a [u8]),
    /// `R` client heartbeat.
    ClientHeartbeat,
    /// `O` logout request.
    LogoutRequest,
}

impl<'a> Packet<'a> {
    /// The packet type byte.
    #[must_use]
    pub const fn packet_type(&self) -> u8 {
        use packet_type as t;
        match self {
            Self::Debug(_) => t::DEBUG,
            Self::LoginAccepted(_) => t::LOGIN_ACCEPTED,
            Self::LoginRejected(_) => t::LOGIN_REJECTED,
            Self::SequencedData(_) => t::SEQUENCED_DATA,
            Self::ServerHeartbeat => t::SERVER_HEARTBEAT,
            Self::EndOfSession => t::END_OF_SESSION,
            Self::LoginRequest(_) => t::LOGIN_REQUEST,
            Self::UnsequencedData(_) => t::UNSEQUENCED_DATA,
            Self::ClientHeartbeat => t::CLIENT_HEARTBEAT,
            Self::LogoutRequest => t::LOGOUT_REQUEST,
        }
    }

    /// Who may send this packet.
    #[must_use]
    pub const fn direction(&self) -> Direction {
        match self {
            Self::Debug(_) => Direction::Both,
            Self::LoginAccepted(_)
            | Self::LoginRejected(_)
            | Self::SequencedData(_)
            | Self::ServerHeartbeat
            | Self::EndOfSession => Direction::ServerToClient,
            Self::LoginRequest(_)
            | Self::UnsequencedData(_)
            | Self::ClientHeartbeat
            | Self::LogoutRequest => Direction::ClientToServer,
        }
    }

    /// Payload length (excluding the length prefix and the type byte).
    #[must_use]
    pub const fn payload_len(&self) -> usize {
        match self {
            Self::Debug(p) | Self::SequencedData(p) | Self::UnsequencedData(p) => p.len(),
            Self::LoginAccepted(_) => LOGIN_ACCEPTED_PAYLOAD_LEN,
            Self::LoginRejected(_) => 1,
            Self::LoginRequest(_) => LOGIN_REQUEST_PAYLOAD_LEN,
            Self::ServerHeartbeat
            | Self::EndOfSession
            | Self::ClientHeartbeat
            | Self::LogoutRequest => 0,
        }
    }

    /// Bytes on the wire, length prefix included.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// The application message of a Sequenced or Unsequenced Data packet.
    #[must_use]
    pub const fn data(&self) -> Option<&'a [u8]> {
        match self {
            Self::SequencedData(p) | Self::UnsequencedData(p) => Some(p),
            _ => None,
        }
    }

    /// Encodes the whole packet (length prefix first) into `out`, returning
    /// the bytes written. Never allocates; on error `out` is unspecified.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let payload_len = self.payload_len();
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(EncodeError::Overflow("packet_length"));
        }
        let n = HEADER_LEN + payload_len;
        let have = out.len();
        let Some(o) = out.get_mut(..n) else {
            return Err(EncodeError::BufferTooSmall { needed: n, have });
        };
        // `payload_len <= MAX_PAYLOAD_LEN`, so the cast cannot truncate.
        put(o, 0, &((payload_len + 1) as u16).to_be_bytes());
        put(o, 2, &[self.packet_type()]);
        let p = o.get_mut(HEADER_LEN..).unwrap_or_default();
        match self {
            Self::Debug(d) | Self::SequencedData(d) | Self::UnsequencedData(d) => put(p, 0, d),
            Self::LoginAccepted(a) => a.encode(p)?,
            Self::LoginRejected(r) => put(p, 0, &[r.as_byte()]),
            Self::LoginRequest(l) => l.encode(p)?,
            Self::ServerHeartbeat
            | Self::EndOfSession
            | Self::ClientHeartbeat
            | Self::LogoutRequest => {}
        }
        Ok(n)
    }

    /// Decodes one whole packet: length prefix, type, payload, exactly.
    ///
    /// Errors: shorter than the prefix says -> [`DecodeError::Truncated`];
    /// longer, or a fixed-size packet whose length is wrong ->
    /// [`DecodeError::BadLength`] (lengths are Packet Length values, i.e. type
    /// byte plus payload); Packet Length 0 -> [`DecodeError::InvalidField`]
    /// on `packet_length`; unknown type -> [`DecodeError::UnknownType`]; bad
    /// numeric field -> [`DecodeError::InvalidField`].
    pub fn decode(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let Some((len, body)) = frame.split_first_chunk::<2>() else {
            return Err(DecodeError::Truncated {
                needed: LENGTH_PREFIX_LEN,
                have: frame.len(),
            });
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if len == 0 {
            return Err(ZERO_LENGTH);
        }
        if body.len() < len {
            return Err(DecodeError::Truncated {
                needed: LENGTH_PREFIX_LEN + len,
                have: frame.len(),
            });
        }
        let Some((&ty, payload)) = body.split_first() else {
            return Err(ZERO_LENGTH);
        };
        if body.len() > len {
            return Err(DecodeError::BadLength {
                tag: ty,
                len: body.len(),
                expected: len,
            });
        }
        Self::decode_body(ty, payload)
    }

    /// Decodes a packet from its type byte and payload (no length prefix).
    pub fn decode_body(ty: u8, payload: &'a [u8]) -> Result<Self, DecodeError> {
        use packet_type as t;
        let fixed = |expected: usize| {
            if payload.len() == expected {
                Ok(())
            } else {
                Err(DecodeError::BadLength {
                    tag: ty,
                    len: payload.len() + 1,
                    expected: expected + 1,
                })
            }
        };
        Ok(match ty {
            t::DEBUG => Self::Debug(payload),
            t::SEQUENCED_DATA => Self::SequencedData(payload),
            t::UNSEQUENCED_DATA => Self::UnsequencedData(payload),
            t::LOGIN_ACCEPTED => {
                fixed(LOGIN_ACCEPTED_PAYLOAD_LEN)?;
                Self::LoginAccepted(LoginAccepted::decode(payload)?)
            }
            t::LOGIN_REJECTED => {
                fixed(1)?;
                Self::LoginRejected(RejectReason::from_byte(rd::<1>(payload, 0)[0]))
            }
            t::LOGIN_REQUEST => {
                fixed(LOGIN_REQUEST_PAYLOAD_LEN)?;
                Self::LoginRequest(LoginRequest::decode(payload)?)
            }
            t::SERVER_HEARTBEAT => {
                fixed(0)?;
                Self::ServerHeartbeat
            }
            t::END_OF_SESSION => {
                fixed(0)?;
                Self::EndOfSession
            }
            t::CLIENT_HEARTBEAT => {
                fixed(0)?;
                Self::ClientHeartbeat
            }
            t::LOGOUT_REQUEST => {
                fixed(0)?;
                Self::LogoutRequest
            }
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

// ---------------------------------------------------------------------------
// Framing.

/// Reported for a Packet Length of 0 (a packet must at least carry its type).
const ZERO_LENGTH: DecodeError = DecodeError::InvalidField {
    field: "packet_length (zero: a packet must carry its type byte)",
    value: 0,
};

/// Finds the first complete packet at the start of `buf`.
///
/// Returns `Ok(Some((frame, consumed)))` with the whole packet (length prefix
/// included, `consumed == frame.len()`), `Ok(None)` if more bytes are needed,
/// or a framing error as soon as the length prefix is readable:
/// - Packet Length 0 -> [`DecodeError::InvalidField`] on `packet_length`;
/// - Packet Length above `max_packet_len` -> [`DecodeError::BadLength`] with
///   `len` the announced Packet Length, `expected` the maximum and `tag` the
///   type byte (0 if not yet received).
///
/// `max_packet_len` bounds the Packet Length field (type byte + payload).
pub fn split_frame(
    buf: &[u8],
    max_packet_len: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let Some(len) = buf.first_chunk::<2>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes(*len));
    if len == 0 {
        return Err(ZERO_LENGTH);
    }
    if len > max_packet_len {
        return Err(DecodeError::BadLength {
            tag: buf.get(2).copied().unwrap_or(0),
            len,
            expected: max_packet_len,
        });
    }
    let total = LENGTH_PREFIX_LEN + len;
    Ok(buf.get(..total).map(|frame| (frame, total)))
}

/// Iterates over the packets of a byte slice (e.g. a capture of one direction
/// of a session). Stops at the first framing error (yielded once) or at a
/// partial trailing packet; [`Frames::consumed`] then tells where it stopped.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    max_packet_len: usize,
    done: bool,
}

/// Iterates over the packets in `buf`, rejecting Packet Lengths above `max_packet_len`.
#[must_use]
pub fn frames(buf: &[u8], max_packet_len: usize) -> Frames<'_> {
    Frames {
        buf,
        pos: 0,
        max_packet_len,
        done: false,
    }
}

impl Frames<'_> {
    /// Bytes of the whole packets yielded so far (a partial tail starts here).
    #[must_use]
    pub const fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Packet<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match split_frame(rest, self.max_packet_len) {
            Ok(Some((frame, n))) => {
                self.pos += n;
                Some(Packet::decode(frame))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Frames<'_> {}

/// Splits a TCP byte stream into packets, whatever its segmentation.
///
/// Owns one buffer, allocated once by [`StreamFramer::new`]; reading never
/// allocates. Typical loop: `let n = socket.read(framer.spare())?;
/// framer.commit(n); while let Some(p) = framer.next_packet()? { ... }`.
///
/// A framing error (zero or over-long Packet Length) is sticky: the stream
/// cannot be resynchronised, every later call returns it until [`reset`].
/// A packet that frames correctly but does not decode (unknown type, bad
/// field) is consumed and reported once; the next call continues after it.
///
/// [`reset`]: StreamFramer::reset
pub struct StreamFramer {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    max_packet_len: usize,
    error: Option<DecodeError>,
}

impl core::fmt::Debug for StreamFramer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamFramer")
            .field("capacity", &self.buf.len())
            .field("buffered", &self.buffered())
            .field("max_packet_len", &self.max_packet_len)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl StreamFramer {
    /// A framer accepting Packet Lengths up to `max_packet_len` (clamped to
    /// `1..=65535`). Allocates a buffer of twice the largest frame.
    #[must_use]
    pub fn new(max_packet_len: usize) -> Self {
        let max_packet_len = max_packet_len.clamp(1, usize::from(u16::MAX));
        Self {
            buf: vec![0; 2 * (LENGTH_PREFIX_LEN + max_packet_len)].into_boxed_slice(),
            head: 0,
            tail: 0,
            max_packet_len,
            error: None,
        }
    }

    /// The configured maximum Packet Length.
    #[must_use]
    pub const fn max_packet_len(&self) -> usize {
        self.max_packet_len
    }

    /// The sticky framing error, if the stream has failed.
    #[must_use]
    pub const fn failed(&self) -> Option<DecodeError> {
        self.error
    }

    /// Bytes received but not yet returned as packets.
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.tail - self.head
    }

    /// Free space to read into; always at least one largest frame once the
    /// complete packets have been taken with [`next_packet`](Self::next_packet).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        } else if self.buf.len() - self.tail < LENGTH_PREFIX_LEN + self.max_packet_len {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        self.buf.get_mut(self.tail..).unwrap_or_default()
    }

    /// Marks `n` bytes of [`spare`](Self::spare) as received (clamped to the spare space).
    pub fn commit(&mut self, n: usize) {
        self.tail = (self.tail + n).min(self.buf.len());
    }

    /// Copies as much of `data` as fits, returning the count copied.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let spare = self.spare();
        let n = data.len().min(spare.len());
        put(spare, 0, data.get(..n).unwrap_or_default());
        self.commit(n);
        n
    }

    /// The next complete packet, `Ok(None)` if more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, DecodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let pending = self.buf.get(self.head..self.tail).unwrap_or_default();
        let n = match split_frame(pending, self.max_packet_len) {
            Ok(Some((_, n))) => n,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.error = Some(e);
                return Err(e);
            }
        };
        let start = self.head;
        self.head += n;
        let frame = self.buf.get(start..start + n).unwrap_or_default();
        Packet::decode(frame).map(Some)
    }

    /// Drops buffered bytes and any sticky error (e.g. for a new connection).
    pub fn reset(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.error = None;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(p: &Packet<'_>) -> Vec<u8> {
        let mut out = vec![0u8; p.encoded_len()];
        assert_eq!(p.encode(&mut out), Ok(p.encoded_len()));
        out
    }

    #[test]
    fn login_request_decodes_field_by_field_at_spec_offsets() {
        let mut b = vec![0x00, 0x2F]; // 0 packet length 47 = 1 + 46
        b.push(b'L'); // 2 packet type
        b.extend_from_slice(b"ABC   "); // 3 username (6)
        b.extend_from_slice(b"SECRET    "); // 9 password (10)
        b.extend_from_slice(b"          "); // 19 requested session (10), blank = current
        b.extend_from_slice(b"               12345"); // 29 requested sequence number (20)
        assert_eq!(b.len(), 49);
        let Ok(Packet::LoginRequest(l)) = Packet::decode(&b) else {
            panic!("not a login request")
        };
        assert_eq!(&l.username, b"ABC   ");
        assert_eq!(&l.password, b"SECRET    ");
        assert_eq!(&l.requested_session, b"          ");
        assert_eq!(l.requested_sequence_number, 12_345);
        assert_eq!(trim_alpha(&l.username), b"ABC");
        assert_eq!(LoginRequest::new(b"ABC", b"SECRET", b"", 12_345), Ok(l));
        assert_eq!(encoded(&Packet::LoginRequest(l)), b);
    }

    #[test]
    fn login_accepted_and_rejected_match_spec_layout() {
        let mut b = vec![0x00, 0x1F, b'A'];
        b.extend_from_slice(b"SESSION1  ");
        b.extend_from_slice(b"                   1");
        let p = Packet::decode(&b).unwrap();
        assert_eq!(
            p,
            Packet::LoginAccepted(LoginAccepted {
                session: *b"SESSION1  ",
                sequence_number: 1
            })
        );
        assert_eq!(p.direction(), Direction::ServerToClient);
        assert_eq!(encoded(&p), b);
        assert_eq!(
            Packet::decode(&[0, 2, b'J', b'A']),
            Ok(Packet::LoginRejected(RejectReason::NotAuthorized))
        );
        assert_eq!(
            Packet::decode(&[0, 2, b'J', b'S']),
            Ok(Packet::LoginRejected(RejectReason::SessionNotAvailable))
        );
        for (ty, p) in [
            (b'H', Packet::ServerHeartbeat),
            (b'Z', Packet::EndOfSession),
            (b'R', Packet::ClientHeartbeat),
            (b'O', Packet::LogoutRequest),
        ] {
            assert_eq!(Packet::decode(&[0, 1, ty]), Ok(p));
            assert_eq!(encoded(&p), [0, 1, ty]);
        }
    }

    #[test]
    fn numeric_fields_are_right_justified_and_lenient_on_input() {
        let mut f = [0u8; 20];
        write_numeric(0, &mut f, "n").unwrap();
        assert_eq!(&f, b"                   0");
        write_numeric(u64::MAX, &mut f, "n").unwrap();
        assert_eq!(&f, b"18446744073709551615");
        let mut small = [0u8; 3];
        assert_eq!(
            write_numeric(1000, &mut small, "n"),
            Err(EncodeError::Overflow("n"))
        );
        assert_eq!(parse_numeric(b"  42", "n"), Ok(42));
        assert_eq!(parse_numeric(b"0042", "n"), Ok(42));
        assert_eq!(parse_numeric(b"42  ", "n"), Ok(42));
        assert_eq!(parse_numeric(b"    ", "n"), Ok(0));
        assert_eq!(
            parse_numeric(b" 4 2", "n"),
            Err(DecodeError::InvalidField {
                field: "n",
                value: b'2'
            })
        );
        assert_eq!(
            parse_numeric(b"  -1", "n"),
            Err(DecodeError::InvalidField {
                field: "n",
                value: b'-'
            })
        );
        assert!(parse_numeric(b"18446744073709551616", "n").is_err());
        assert_eq!(alpha::<4>(b"ABCDE", "f"), Err(EncodeError::Overflow("f")));
    }

    #[test]
    fn fixed_packets_with_wrong_length_are_bad_length() {
        assert_eq!(
            Packet::decode(&[0, 2, b'H', 0]),
            Err(DecodeError::BadLength {
                tag: b'H',
                len: 2,
                expected: 1
            })
        );
        assert_eq!(
            Packet::decode(&[0, 1, b'J']),
            Err(DecodeError::BadLength {
                tag: b'J',
                len: 1,
                expected: 2
            })
        );
        assert_eq!(
            Packet::decode(&[0, 1, b'?']),
            Err(DecodeError::UnknownType(b'?'))
        );
        assert_eq!(Packet::decode(&[0, 0]), Err(ZERO_LENGTH));
        assert_eq!(
            Packet::decode(&[0, 3, b'S', 1]),
            Err(DecodeError::Truncated { needed: 5, have: 4 })
        );
        assert_eq!(
            Packet::decode(&[0, 1, b'S', 1]),
            Err(DecodeError::BadLength {
                tag: b'S',
                len: 2,
                expected: 1
            })
        );
    }

    #[test]
    fn framer_rejects_zero_and_over_max_lengths_and_stays_failed() {
        let mut f = StreamFramer::new(16);
        f.push(&[0, 1, b'H', 0, 0]);
        assert_eq!(f.next_packet(), Ok(Some(Packet::ServerHeartbeat)));
        assert_eq!(f.next_packet(), Err(ZERO_LENGTH));
        assert_eq!(f.next_packet(), Err(ZERO_LENGTH));
        assert_eq!(f.failed(), Some(ZERO_LENGTH));
        f.reset();
        assert_eq!(f.failed(), None);
        f.push(&[0, 17]);
        let too_long = DecodeError::BadLength {
            tag: 0,
            len: 17,
            expected: 16,
        };
        assert_eq!(f.next_packet(), Err(too_long));
        f.push(b"S");
        assert_eq!(f.next_packet(), Err(too_long));
        assert_eq!(
            split_frame(&[0, 17, b'S'], 16),
            Err(DecodeError::BadLength {
                tag: b'S',
                len: 17,
                expected: 16
            })
        );
        assert_eq!(split_frame(&[0], 16), Ok(None));
        assert_eq!(split_frame(&[0, 2, b'S'], 16), Ok(None));
    }

    #[test]
    fn framer_skips_an_undecodable_packet_and_continues() {
        let mut f = StreamFramer::new(64);
        f.push(&[0, 1, b'?', 0, 1, b'R']);
        assert_eq!(f.next_packet(), Err(DecodeError::UnknownType(b'?')));
        assert_eq!(f.next_packet(), Ok(Some(Packet::ClientHeartbeat)));
        assert_eq!(f.next_packet(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn framer_always_offers_room_for_a_largest_frame_after_draining() {
        let mut f = StreamFramer::new(100);
        let big = Packet::SequencedData(&[7u8; 99]);
        let bytes = encoded(&big);
        for _ in 0..50 {
            // Leave a partial packet behind each time.
            let n = f.push(&bytes);
            assert_eq!(n, bytes.len());
            f.push(&bytes[..5]);
            assert_eq!(f.next_packet(), Ok(Some(big)));
            assert_eq!(f.next_packet(), Ok(None));
            assert!(f.spare().len() >= 102);
            f.push(&bytes[5..]);
            assert_eq!(f.next_packet(), Ok(Some(big)));
        }
    }

    fn arb_packet() -> impl Strategy<Value = (u8, Vec<u8>, [u8; 32], u64)> {
        (
            0u8..10,
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<[u8; 32]>(),
            any::<u64>(),
        )
    }

    fn build(kind: u8, data: &[u8], a: [u8; 32], n: u64) -> Packet<'_> {
        let arr = |o: usize| -> [u8; 10] { core::array::from_fn(|i| a[(i + o) % 32]) };
        match kind {
            0 => Packet::Debug(data),
            1 => Packet::LoginAccepted(LoginAccepted {
                session: arr(0),
                sequence_number: n,
            }),
            2 => Packet::LoginRejected(RejectReason::from_byte(a[0])),
            3 => Packet::SequencedData(data),
            4 => Packet::ServerHeartbeat,
            5 => Packet::EndOfSession,
            6 => Packet::LoginRequest(LoginRequest {
                username: core::array::from_fn(|i| a[i]),
                password: arr(6),
                requested_session: arr(16),
                requested_sequence_number: n,
            }),
            7 => Packet::UnsequencedData(data),
            8 => Packet::ClientHeartbeat,
            _ => Packet::LogoutRequest,
        }
    }

    /// Regenerates the SoupBinTCP part of the committed fuzz seeds (see `ouch`).
    pub(crate) fn session_bytes() -> Vec<u8> {
        let mut out = Vec::new();
        let login = LoginRequest::new(b"QWIRE", b"PASSWORD", b"", 1).unwrap();
        for p in [
            Packet::LoginRequest(login),
            Packet::LoginAccepted(LoginAccepted {
                session: alpha(b"0000012345", "s").unwrap(),
                sequence_number: 1,
            }),
            Packet::ServerHeartbeat,
            Packet::ClientHeartbeat,
            Packet::Debug(b"hello"),
            Packet::LoginRejected(RejectReason::NotAuthorized),
            Packet::EndOfSession,
            Packet::LogoutRequest,
        ] {
            out.extend_from_slice(&encoded(&p));
        }
        out
    }

    proptest! {
        #[test]
        fn every_packet_type_round_trips(packets in proptest::collection::vec(arb_packet(), 10)) {
            for (i, (_, data, a, n)) in packets.iter().enumerate() {
                let kind = u8::try_from(i).unwrap();
                let p = build(kind, data, *a, *n);
                let bytes = encoded(&p);
                prop_assert_eq!(Packet::decode(&bytes), Ok(p));
                prop_assert_eq!(bytes[2], p.packet_type());
                prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])), bytes.len() - 2);
            }
        }

        #[test]
        fn any_segmentation_yields_the_same_packets(
            packets in proptest::collection::vec(arb_packet(), 1..30),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let want: Vec<Packet<'_>> = packets.iter().map(|(k, d, a, n)| build(*k, d, *a, *n)).collect();
            let stream: Vec<u8> = want.iter().flat_map(|p| encoded(p)).collect();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut framer = StreamFramer::new(128);
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                let mut seg = &stream[w[0]..w[1]];
                while !seg.is_empty() {
                    let n = framer.push(seg);
                    seg = &seg[n..];
                    while let Some(p) = framer.next_packet().unwrap() {
                        got.push(encoded(&p));
                    }
                }
            }
            let want_bytes: Vec<Vec<u8>> = want.iter().map(|p| encoded(p)).collect();
            prop_assert_eq!(&got, &want_bytes);
            prop_assert_eq!(framer.buffered(), 0);
            let via_iter: Vec<Vec<u8>> = frames(&stream, 128).map(|p| encoded(&p.unwrap())).collect();
            prop_assert_eq!(via_iter, want_bytes);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300),
            chunk in 1usize..40, max in 0usize..300) {
            if let Ok(p) = Packet::decode(&bytes) {
                let again = encoded(&p);
                prop_assert_eq!(Packet::decode(&again), Ok(p));
            }
            for p in frames(&bytes, max).flatten() {
                let _ = p.encoded_len();
            }
            let mut f = StreamFramer::new(max);
            for c in bytes.chunks(chunk) {
                f.push(c);
                while let Ok(Some(_)) = f.next_packet() {}
            }
            let _ = split_frame(&bytes, max);
        }

        #[test]
        fn truncated_packets_are_errors(p in arb_packet(), cut in any::<prop::sample::Index>()) {
            let p = build(p.0, &p.1, p.2, p.3);
            let bytes = encoded(&p);
            let cut = cut.index(bytes.len());
            let is_truncated = matches!(Packet::decode(&bytes[..cut]), Err(DecodeError::Truncated { .. }));
            prop_assert!(is_truncated);
        }
    }
}
