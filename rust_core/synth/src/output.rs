//! Encoded forms of a session: the Nasdaq daily-file image and MoldUDP64 datagrams.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use quotewire_protocol::itch::Message;
use quotewire_protocol::moldudp64::{encode_end_of_session, PacketBuilder, Session, HEADER_LEN};
use quotewire_protocol::EncodeError;

use crate::config::{SynthConfig, SynthError};
use crate::generator::Generator;

/// Longest ITCH 5.0 message (NOII, 50 bytes), rounded up.
const MAX_MESSAGE_LEN: usize = 64;

/// Encodes one message as `len(u16 BE) | message` at the end of `out`.
fn push_length_prefixed(out: &mut Vec<u8>, msg: &Message) -> Result<(), EncodeError> {
    let len = msg.encoded_len();
    let start = out.len();
    out.resize(start + 2 + len, 0);
    out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
    msg.encode(&mut out[start + 2..])?;
    Ok(())
}

/// The whole session as a Nasdaq daily ITCH file image: every message preceded
/// by its 2-byte big-endian length. Same config, same bytes.
pub fn generate_daily(cfg: &SynthConfig) -> Result<Vec<u8>, SynthError> {
    let generator = Generator::new(cfg.clone())?;
    // Order messages average ~27 bytes on the wire; framing is a rounding error.
    let mut out = Vec::with_capacity(
        usize::try_from(cfg.messages)
            .unwrap_or(0)
            .saturating_mul(29),
    );
    for msg in generator {
        push_length_prefixed(&mut out, &msg)?;
    }
    Ok(out)
}

/// Writes the daily-file image of the session to `out`, streaming (the session
/// is never held in memory). Returns the bytes written.
pub fn write_daily_to<W: Write>(out: W, cfg: &SynthConfig) -> Result<u64, SynthError> {
    let generator = Generator::new(cfg.clone())?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut chunk = Vec::with_capacity(1 << 16);
    let mut written = 0u64;
    for msg in generator {
        push_length_prefixed(&mut chunk, &msg)?;
        if chunk.len() >= (1 << 16) - 2 * MAX_MESSAGE_LEN {
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
            chunk.clear();
        }
    }
    out.write_all(&chunk)?;
    written += chunk.len() as u64;
    out.flush()?;
    Ok(written)
}

/// Writes the daily-file image to `path`, gzip-compressed when the path ends in
/// `.gz` (as Nasdaq publishes them). Returns the uncompressed bytes written.
pub fn write_daily(path: impl AsRef<Path>, cfg: &SynthConfig) -> Result<u64, SynthError> {
    let path = path.as_ref();
    let file = File::create(path)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut gz = GzEncoder::new(file, Compression::fast());
        let n = write_daily_to(&mut gz, cfg)?;
        gz.finish()?.sync_all()?;
        Ok(n)
    } else {
        let mut file = file;
        let n = write_daily_to(&mut file, cfg)?;
        file.sync_all()?;
        Ok(n)
    }
}

/// MoldUDP64 datagrams laid end to end in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packets {
    data: Vec<u8>,
    bounds: Vec<Range<usize>>,
}

impl Packets {
    /// Number of datagrams, the end-of-session packet included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// True when there are no datagrams.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Datagram `i`, if any.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.bounds.get(i).map(|r| &self.data[r.clone()])
    }

    /// The datagrams in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.bounds.iter().map(|r| &self.data[r.clone()])
    }

    /// All datagram bytes back to back.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Byte range of each datagram within [`Packets::data`].
    #[must_use]
    pub fn bounds(&self) -> &[Range<usize>] {
        &self.bounds
    }

    fn push(&mut self, datagram: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(datagram);
        self.bounds.push(start..self.data.len());
    }
}

/// Frames `messages` as MoldUDP64 downstream packets of at most `max_payload`
/// bytes (use [`quotewire_protocol::moldudp64::MAX_PAYLOAD`] for Ethernet),
/// filling each packet greedily; the first message has sequence `first_seq`,
/// the rest follow consecutively, and an end-of-session packet carrying the
/// next sequence number closes the stream.
pub fn packetize(
    messages: impl IntoIterator<Item = Message>,
    session: Session,
    first_seq: u64,
    max_payload: usize,
) -> Result<Packets, SynthError> {
    let messages = messages.into_iter();
    // ~28 bytes per message with its length prefix, plus a header per ~45 messages.
    let hint = messages.size_hint().0;
    let mut out = Packets {
        data: Vec::with_capacity(hint.saturating_mul(29)),
        bounds: Vec::with_capacity(hint / 32 + 2),
    };
    let mut buf = vec![0u8; max_payload];
    let mut msg_buf = [0u8; MAX_MESSAGE_LEN];
    let mut seq = first_seq;
    let mut builder = PacketBuilder::new(&mut buf, session, seq)?;
    for msg in messages {
        let n = msg.encode(&mut msg_buf)?;
        let body = &msg_buf[..n];
        if builder.push(body).is_err() {
            if builder.count() == 0 {
                return Err(EncodeError::BufferTooSmall {
                    needed: HEADER_LEN + 2 + n,
                    have: max_payload,
                }
                .into());
            }
            let len = builder.finish();
            out.push(&buf[..len]);
            builder = PacketBuilder::new(&mut buf, session, seq)?;
            builder.push(body)?;
        }
        seq += 1;
    }
    if builder.count() > 0 {
        let len = builder.finish();
        out.push(&buf[..len]);
    }
    let mut eos = [0u8; HEADER_LEN];
    let len = encode_end_of_session(session, seq, &mut eos)?;
    out.push(&eos[..len]);
    Ok(out)
}
