//! [`Tape`]: the market data of a backtest, as MoldUDP64 datagrams in memory
//! with the time each was seen; and [`Recorded`]: what a journaled live
//! session did, for comparing a backtest of it with the session itself.

use std::path::Path;

use hashbrown::HashMap;
use quotewire_core::order::{ExecReport, OrderRequest};
use quotewire_journal::{JournalReader, ReadEvent, RecordKind};
use quotewire_protocol::moldudp64::{
    decode_header, PacketBuilder, Session, HEADER_LEN, MAX_PAYLOAD,
};

use quotewire_engine::capture;
use quotewire_transport::{PcapFilter, PcapReplay, Transport, MAX_UDP_PAYLOAD};

use crate::BacktestError;

/// One datagram of a [`Tape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapePacket {
    /// When it was seen: the receive time of a journaled packet, the ITCH
    /// timestamp (ns since midnight) of a packetized capture.
    pub ts_ns: u64,
    /// Feed line index (0: A, 1: B, 2: retransmission).
    pub line: u8,
    start: usize,
    len: u32,
}

/// MoldUDP64 datagrams in time order, in one buffer.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    data: Vec<u8>,
    packets: Vec<TapePacket>,
    messages: u64,
}

/// The first length-prefixed message block of a MoldUDP64 body and the rest.
#[inline]
pub(crate) fn block(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = body.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// `body` is exactly `count` message blocks (what `Packet::decode` checks).
#[inline]
pub(crate) fn framed(mut body: &[u8], count: u16) -> bool {
    for _ in 0..count {
        let Some((_, tail)) = block(body) else {
            return false;
        };
        body = tail;
    }
    body.is_empty()
}

/// Calls `f` on each of the first `n` messages of a MoldUDP64 datagram (no
/// validation: for hints only).
#[inline]
pub(crate) fn first_messages(datagram: &[u8], n: usize, mut f: impl FnMut(&[u8])) {
    let mut rest = datagram.get(HEADER_LEN..).unwrap_or_default();
    for _ in 0..n {
        let Some((msg, tail)) = block(rest) else {
            return;
        };
        f(msg);
        rest = tail;
    }
}

/// The ITCH timestamp (bytes 5..11, big-endian) of an encoded message.
fn itch_timestamp(msg: &[u8]) -> Option<u64> {
    let b = msg.get(5..11)?;
    Some(b.iter().fold(0_u64, |acc, &x| (acc << 8) | u64::from(x)))
}

impl Tape {
    /// An empty tape.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a datagram seen at `ts_ns` on `line` (times never go back: an
    /// earlier time is raised to the previous packet's).
    pub fn push(&mut self, ts_ns: u64, line: u8, datagram: &[u8]) {
        let ts_ns = self.packets.last().map_or(ts_ns, |p| p.ts_ns.max(ts_ns));
        if let Ok(h) = decode_header(datagram) {
            self.messages += u64::from(h.message_count());
        }
        self.packets.push(TapePacket {
            ts_ns,
            line,
            start: self.data.len(),
            len: u32::try_from(datagram.len()).unwrap_or(u32::MAX),
        });
        self.data.extend_from_slice(datagram);
    }

    /// Packs encoded ITCH messages into MoldUDP64 datagrams (sequence from 1):
    /// consecutive messages with the same timestamp share a datagram (up to
    /// the feed's usual payload size), each stamped with that timestamp.
    pub fn from_messages<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut tape = Self::new();
        let mut group: Vec<&'a [u8]> = Vec::new();
        let (mut group_ts, mut group_bytes, mut seq) = (0_u64, HEADER_LEN, 1_u64);
        let mut buf = vec![0_u8; MAX_PAYLOAD];
        for msg in messages {
            let ts = itch_timestamp(msg).unwrap_or(group_ts);
            let fits = group_bytes + 2 + msg.len() <= MAX_PAYLOAD;
            if !group.is_empty() && (ts != group_ts || !fits) {
                seq += tape.push_group(&mut buf, seq, group_ts, &group);
                group.clear();
                group_bytes = HEADER_LEN;
            }
            if group.is_empty() {
                group_ts = ts;
            }
            group.push(msg);
            group_bytes += 2 + msg.len();
        }
        tape.push_group(&mut buf, seq, group_ts, &group);
        tape
    }

    /// Encodes `group` as one datagram starting at `seq`; returns the messages it holds.
    fn push_group(&mut self, buf: &mut [u8], seq: u64, ts_ns: u64, group: &[&[u8]]) -> u64 {
        if group.is_empty() {
            return 0;
        }
        let Ok(mut b) = PacketBuilder::new(buf, Session::from_str_padded("BACKTEST"), seq) else {
            return 0;
        };
        let n = group.iter().filter(|m| b.push(m).is_ok()).count() as u64;
        let len = b.finish();
        self.push(ts_ns, 0, &buf[..len]);
        n
    }

    /// Reads a capture: a pcap of MoldUDP64 datagrams keeps its datagrams
    /// and their capture times (a recorded feed, as received); a Nasdaq daily
    /// ITCH file (plain or gzip) is packed with [`Self::from_messages`].
    pub fn load_capture(path: &Path) -> Result<Self, BacktestError> {
        let bad =
            |e: &dyn std::fmt::Display| BacktestError::Data(format!("{}: {e}", path.display()));
        let raw = std::fs::read(path).map_err(|e| bad(&e))?;
        if capture::detect(&raw) == capture::CaptureFormat::Pcap {
            let mut replay = PcapReplay::from_bytes(raw, PcapFilter::ALL).map_err(|e| bad(&e))?;
            let mut buf = vec![0_u8; MAX_UDP_PAYLOAD];
            let mut tape = Self::new();
            while let Some(got) = replay.recv(&mut buf).map_err(|e| bad(&e))? {
                tape.push(got.ts_ns, 0, &buf[..got.len]);
            }
            return Ok(tape);
        }
        let mut all: Vec<u8> = Vec::new();
        let mut bounds: Vec<(usize, usize)> = Vec::new();
        capture::replay(path, |msg| {
            bounds.push((all.len(), all.len() + msg.len()));
            all.extend_from_slice(msg);
            true
        })
        .map_err(|e| bad(&e))?;
        Ok(Self::from_messages(bounds.iter().map(|&(s, e)| &all[s..e])))
    }

    /// Datagrams on the tape.
    #[must_use]
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// No datagram at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// ITCH messages in the datagrams (as their headers count them).
    #[must_use]
    pub const fn messages(&self) -> u64 {
        self.messages
    }

    /// Every datagram, in order (their bytes by [`Self::bytes`]).
    pub(crate) fn packets(&self) -> &[TapePacket] {
        &self.packets
    }

    /// The bytes of a datagram of this tape.
    #[inline]
    pub(crate) fn bytes(&self, p: &TapePacket) -> &[u8] {
        self.data
            .get(p.start..p.start + p.len as usize)
            .unwrap_or_default()
    }

    /// Datagram `i` and its bytes.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<(TapePacket, &[u8])> {
        let p = *self.packets.get(i)?;
        let bytes = self.data.get(p.start..p.start + p.len as usize)?;
        Some((p, bytes))
    }
}

/// A fill the live session recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedFill {
    /// When the engine received it (engine clock, as the journal's packets).
    pub ts_ns: u64,
    /// Our order id.
    pub cl: u32,
    /// Instrument.
    pub instrument: u16,
    /// Buy or sell.
    pub side: quotewire_core::Side,
    /// Trade price, raw.
    pub price: i64,
    /// Shares.
    pub qty: u64,
}

/// What a journaled live session did, besides its market data.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// Venue ids of every order the session had accepted (Accepted and Replaced reports).
    pub own_refs: Vec<u64>,
    /// Its fills, in order.
    pub fills: Vec<RecordedFill>,
    /// Order round trips: each request to the venue's first answer about it (ns).
    pub round_trips_ns: Vec<u64>,
    /// Order requests sent.
    pub requests: u64,
    /// Corrupt records and torn tails skipped while reading.
    pub damaged: u64,
    /// The instrument map the engine journaled (`locate=SYMBOL`), if any.
    pub instruments: Vec<(u16, String)>,
}

/// Reads a journal: its inbound packets as a [`Tape`] (receive times, lines
/// as recorded) and what the session did as [`Recorded`].
pub fn load_journal(path: &Path) -> Result<(Tape, Recorded), BacktestError> {
    read_journal(path, true)
}

/// Reads only what a journaled session did ([`Recorded`]: its own orders,
/// fills and round trips), without keeping its market data.
pub fn load_recorded(path: &Path) -> Result<Recorded, BacktestError> {
    read_journal(path, false).map(|(_, rec)| rec)
}

fn read_journal(path: &Path, keep_tape: bool) -> Result<(Tape, Recorded), BacktestError> {
    let mut reader = JournalReader::open(path).map_err(|e| BacktestError::Data(format!("{e}")))?;
    let mut tape = Tape::new();
    let mut rec = Recorded::default();
    // Request id -> (time, instrument, side) of requests not yet answered; id -> order.
    let mut open: HashMap<u32, u64> = HashMap::new();
    let mut sides: HashMap<u32, (u16, quotewire_core::Side)> = HashMap::new();
    loop {
        let event = reader
            .next_event()
            .map_err(|e| BacktestError::Data(format!("{e}")))?;
        let Some(event) = event else { break };
        let r = match event {
            ReadEvent::Record(r) => r,
            ReadEvent::Corrupt(_) | ReadEvent::TornTail(_) => {
                rec.damaged += 1;
                continue;
            }
        };
        match r.kind {
            RecordKind::InboundPacket if keep_tape => tape.push(r.ts_ns, r.line, r.payload),
            RecordKind::InboundPacket => {}
            RecordKind::OrderRequest => {
                let Ok(req) = quotewire_journal::codec::decode_request(r.payload) else {
                    rec.damaged += 1;
                    continue;
                };
                rec.requests += 1;
                let (cl, inst, side) = match req {
                    OrderRequest::New(n) => (n.cl, n.instrument, n.side),
                    OrderRequest::Replace(x) => (x.cl, x.instrument, x.side),
                    OrderRequest::Cancel(c) => (c.cl, c.instrument, c.side),
                };
                open.insert(cl.0, r.ts_ns);
                sides.insert(cl.0, (inst.0, side));
            }
            RecordKind::ExecReport => {
                let Ok(report) = quotewire_journal::codec::decode_report(r.payload) else {
                    rec.damaged += 1;
                    continue;
                };
                let cl = report.cl().0;
                match report {
                    ExecReport::Accepted { venue_id, .. }
                    | ExecReport::Replaced { venue_id, .. } => {
                        rec.own_refs.push(venue_id.0);
                    }
                    ExecReport::Executed { qty, price, .. } => {
                        if let Some(&(instrument, side)) = sides.get(&cl) {
                            rec.fills.push(RecordedFill {
                                ts_ns: r.ts_ns,
                                cl,
                                instrument,
                                side,
                                price: price.0,
                                qty: qty.0,
                            });
                        }
                        continue;
                    }
                    _ => {}
                }
                if let Some(sent) = open.remove(&cl) {
                    rec.round_trips_ns.push(r.ts_ns.saturating_sub(sent));
                }
            }
            RecordKind::Note => {
                let text = String::from_utf8_lossy(r.payload);
                if let Some(list) = text.strip_prefix("instruments ") {
                    rec.instruments = list
                        .split(',')
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            Some((k.trim().parse().ok()?, v.trim().to_string()))
                        })
                        .collect();
                }
            }
        }
    }
    Ok((tape, rec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotewire_protocol::moldudp64::Packet;

    fn msg(ts: u64, tag: u8) -> Vec<u8> {
        let mut m = vec![0_u8; 19];
        m[0] = tag;
        m[5..11].copy_from_slice(&ts.to_be_bytes()[2..]);
        m
    }

    #[test]
    fn messages_with_one_timestamp_share_a_datagram_and_sequences_continue() {
        let msgs = [msg(5, b'S'), msg(5, b'S'), msg(9, b'S')];
        let tape = Tape::from_messages(msgs.iter().map(Vec::as_slice));
        assert_eq!(tape.len(), 2);
        assert_eq!(tape.messages(), 3);
        let (p0, b0) = tape.get(0).unwrap();
        let (p1, b1) = tape.get(1).unwrap();
        assert_eq!((p0.ts_ns, p1.ts_ns), (5, 9));
        let (h0, h1) = (
            Packet::decode(b0).unwrap().header,
            Packet::decode(b1).unwrap().header,
        );
        assert_eq!((h0.sequence, h0.count), (1, 2));
        assert_eq!((h1.sequence, h1.count), (3, 1));
    }

    #[test]
    fn a_full_datagram_is_split_even_within_one_timestamp() {
        let msgs: Vec<Vec<u8>> = (0..200).map(|_| msg(7, b'S')).collect();
        let tape = Tape::from_messages(msgs.iter().map(Vec::as_slice));
        assert!(tape.len() > 1);
        assert_eq!(tape.messages(), 200);
        let mut next = 1;
        for i in 0..tape.len() {
            let (_, b) = tape.get(i).unwrap();
            let h = Packet::decode(b).unwrap().header;
            assert_eq!(h.sequence, next);
            assert!(b.len() <= MAX_PAYLOAD);
            next = h.next_sequence();
        }
    }

    #[test]
    fn time_never_goes_back_on_a_tape() {
        let mut tape = Tape::new();
        tape.push(10, 0, &[0; 20]);
        tape.push(4, 0, &[0; 20]);
        assert_eq!(tape.get(1).unwrap().0.ts_ns, 10);
    }
}
