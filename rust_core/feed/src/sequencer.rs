//! The per-session MoldUDP64 sequencer: exactly-once, in-order delivery with
//! bounded reordering and re-request driven recovery.

use quotewire_protocol::moldudp64::{
    sequence_and_count, Packet, PacketKind, Request, Session, END_OF_SESSION, HEADER_LEN,
    SESSION_LEN,
};
use quotewire_protocol::DecodeError;

use crate::{FeedError, FeedEvent, FeedSink, FeedStats, Line, LossReason};

/// Where delivery starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPolicy {
    /// Expect sequence 1: a first packet later than that is a gap to recover
    /// from 1 (a full-day replay through the retransmission server).
    FromOne,
    /// Start at whatever sequence the first packet (data or heartbeat) carries
    /// (a late join; earlier messages come from a snapshot, not from here).
    FromFirstPacket,
}

/// Configuration of a [`Sequencer`]. Sizes are fixed at construction.
#[derive(Clone, Copy, Debug)]
pub struct SequencerConfig {
    /// The session to accept; `None` adopts the first packet's session.
    pub session: Option<Session>,
    /// Where delivery starts.
    pub start: StartPolicy,
    /// Number of out-of-order packets the reorder store holds.
    pub reorder_slots: usize,
    /// Bytes per reorder slot: the largest out-of-order datagram kept.
    pub slot_bytes: usize,
    /// Wait this long after detecting a gap before the first re-request, so a
    /// mere reorder (or the other line) can fill it first. 0 asks at once.
    pub request_delay_ns: u64,
    /// Re-send an unanswered re-request after this long.
    pub retry_interval_ns: u64,
    /// Give a gap up when it has made no progress for this long.
    pub recovery_timeout_ns: u64,
    /// Largest message count asked in one re-request.
    pub max_request: u16,
    /// Report [`FeedEvent::Stale`] after this long without a packet; 0 disables.
    pub stale_after_ns: u64,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            session: None,
            start: StartPolicy::FromFirstPacket,
            reorder_slots: 256,
            slot_bytes: 2048,
            request_delay_ns: 0,
            retry_interval_ns: 20_000_000,
            recovery_timeout_ns: 1_000_000_000,
            max_request: 1000,
            stale_after_ns: 2_000_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    used: bool,
    first: u64,
    next: u64,
    len: usize,
}

#[derive(Clone, Copy, Debug)]
struct Gap {
    from: u64,
    to: u64,
    detected_ns: u64,
    /// Last time `expected` moved while in this gap (or detection).
    progress_ns: u64,
    cursor: u64,
    last_request_ns: Option<u64>,
    requested_until: u64,
}

/// Sequences one MoldUDP64 session fed from any number of lines.
///
/// Feed every datagram to [`Sequencer::on_packet`] and call
/// [`Sequencer::poll`] on every busy-poll iteration: it runs the timers (retry,
/// recovery timeout, stale) and returns the re-request to send, if one is due.
/// Messages reach the sink exactly once and in order. Out-of-order packets
/// wait in a fixed store of `reorder_slots` slots of `slot_bytes` each; when it
/// is full, the oldest gap is declared lost ([`LossReason::Overflow`]).
/// Feeding lines A and B into one sequencer is the A/B arbitration: the first
/// copy of each sequence number wins, later copies count as duplicates.
///
/// Nothing here allocates after [`Sequencer::new`], and no input panics.
#[derive(Debug)]
pub struct Sequencer {
    cfg: SequencerConfig,
    session: Option<Session>,
    started: bool,
    /// Next sequence number to deliver.
    expected: u64,
    /// One past the highest sequence number known to exist.
    high_water: u64,
    slots: Vec<Slot>,
    slot_data: Box<[u8]>,
    used: usize,
    /// Smallest `first` among used slots (`u64::MAX` when empty).
    min_first: u64,
    gap: Option<Gap>,
    last_rx_ns: Option<u64>,
    stale: bool,
    ended: bool,
    stats: FeedStats,
}

impl Sequencer {
    /// Builds a sequencer, allocating its reorder store.
    pub fn new(cfg: SequencerConfig) -> Result<Self, FeedError> {
        if cfg.reorder_slots == 0 {
            return Err(FeedError::Config("reorder_slots must be at least 1"));
        }
        if cfg.slot_bytes < quotewire_protocol::moldudp64::HEADER_LEN {
            return Err(FeedError::Config("slot_bytes must hold a MoldUDP64 header"));
        }
        if cfg.max_request == 0 || cfg.max_request == quotewire_protocol::moldudp64::END_OF_SESSION
        {
            return Err(FeedError::Config("max_request must be in 1..=65534"));
        }
        let bytes = cfg
            .reorder_slots
            .checked_mul(cfg.slot_bytes)
            .ok_or(FeedError::Config("reorder store too large"))?;
        let mut me = Self {
            cfg,
            session: cfg.session,
            started: false,
            expected: 1,
            high_water: 1,
            slots: vec![Slot::default(); cfg.reorder_slots],
            slot_data: vec![0u8; bytes].into_boxed_slice(),
            used: 0,
            min_first: u64::MAX,
            gap: None,
            last_rx_ns: None,
            stale: false,
            ended: false,
            stats: FeedStats::default(),
        };
        me.started = cfg.start == StartPolicy::FromOne;
        Ok(me)
    }

    /// Forgets all sequencing state (not the counters) for a new session;
    /// `session: None` adopts the next packet's session.
    pub fn reset(&mut self, session: Option<Session>) {
        self.session = session;
        self.started = self.cfg.start == StartPolicy::FromOne;
        self.expected = 1;
        self.high_water = 1;
        self.slots.iter_mut().for_each(|s| s.used = false);
        self.used = 0;
        self.min_first = u64::MAX;
        self.gap = None;
        self.stale = false;
        self.ended = false;
    }

    /// The next sequence number to deliver (`None` before the first packet
    /// under [`StartPolicy::FromFirstPacket`]).
    #[must_use]
    pub const fn expected(&self) -> Option<u64> {
        if self.started {
            Some(self.expected)
        } else {
            None
        }
    }

    /// The session being sequenced, once known.
    #[must_use]
    pub const fn session(&self) -> Option<Session> {
        self.session
    }

    /// The missing range `(from, to)` currently being recovered, if any.
    #[must_use]
    pub fn current_gap(&self) -> Option<(u64, u64)> {
        self.gap.map(|_| (self.expected, self.hole_end()))
    }

    /// Out-of-order packets waiting in the reorder store.
    #[must_use]
    pub const fn buffered(&self) -> usize {
        self.used
    }

    /// True between [`FeedEvent::Stale`] and [`FeedEvent::Resumed`].
    #[must_use]
    pub const fn is_stale(&self) -> bool {
        self.stale
    }

    /// True once an end-of-session packet has been seen.
    #[must_use]
    pub const fn is_ended(&self) -> bool {
        self.ended
    }

    /// True when the session has ended and every message was delivered or given up.
    #[must_use]
    pub const fn is_complete(&self) -> bool {
        self.ended && self.started && self.expected >= self.high_water
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &FeedStats {
        &self.stats
    }

    pub(crate) fn stats_mut(&mut self) -> &mut FeedStats {
        &mut self.stats
    }

    /// Processes one datagram received on `line` at `now_ns`.
    ///
    /// The common case (the next data packet of the session, in order, with
    /// nothing buffered and no gap open) is validated and delivered in one
    /// pass over the datagram; anything else takes the general path
    /// ([`Packet::decode`] then [`Self::on_decoded`]), with the same effect.
    #[inline]
    pub fn on_packet<S: FeedSink>(
        &mut self,
        now_ns: u64,
        line: Line,
        datagram: &[u8],
        sink: &mut S,
    ) {
        if !self.on_next_in_order(now_ns, line, datagram, sink) {
            self.on_decoded(now_ns, line, datagram, Packet::decode(datagram), sink);
        }
    }

    /// [`Self::on_packet`] for a data packet of the adopted session whose
    /// first message is exactly the next expected one, while the feed is
    /// started, not stale, with nothing buffered and no gap open. The
    /// framing is validated as [`Packet::decode`] does while the first
    /// [`NOTED`] messages are noted, then the messages are delivered from the
    /// notes (a longer packet walks on from the last note, already
    /// validated). Returns `false`, having changed nothing, for any other
    /// datagram; statistics, events and deliveries are those of the general path.
    #[inline(always)]
    fn on_next_in_order<S: FeedSink>(
        &mut self,
        now_ns: u64,
        line: Line,
        datagram: &[u8],
        sink: &mut S,
    ) -> bool {
        let Some((head, body)) = datagram.split_first_chunk::<HEADER_LEN>() else {
            return false;
        };
        let (sequence, count) = sequence_and_count(head);
        if count == 0
            || count == END_OF_SESSION
            || sequence != self.expected
            || sequence == 0
            || !self.started
            || self.stale
            || self.used != 0
            || self.gap.is_some()
        {
            return false;
        }
        match &self.session {
            Some(s) if s.0[..] == head[..SESSION_LEN] => {}
            _ => return false,
        }
        let Some(next) = sequence.checked_add(u64::from(count)) else {
            return false;
        };
        let mut noted: [&[u8]; NOTED] = [&[]; NOTED];
        let mut after_noted: &[u8] = &[];
        let mut rest = body;
        for i in 0..usize::from(count) {
            let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                return false;
            };
            let Some((msg, tail)) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len)))
            else {
                return false;
            };
            if let Some(slot) = noted.get_mut(i) {
                *slot = msg;
            }
            rest = tail;
            if i + 1 == NOTED {
                after_noted = tail;
            }
        }
        if !rest.is_empty() {
            return false;
        }
        // Valid: from here on as `on_decoded` does for this case.
        let li = line.index();
        let bytes = datagram.len() as u64;
        self.stats.packets += 1;
        self.stats.bytes += bytes;
        self.stats.lines[li].packets += 1;
        self.stats.lines[li].bytes += bytes;
        self.last_rx_ns = Some(now_ns);
        self.high_water = self.high_water.max(next);
        self.stats.lines[li].wins += 1;
        let mut seq = sequence;
        for &msg in &noted[..usize::from(count).min(NOTED)] {
            sink.message(seq, msg);
            seq += 1;
        }
        let mut rest = after_noted;
        while seq < next {
            let Some((msg, tail)) = rest.split_first_chunk::<2>().and_then(|(len, tail)| {
                tail.split_at_checked(usize::from(u16::from_be_bytes(*len)))
            }) else {
                debug_assert!(false, "validated framing failed to split");
                break;
            };
            sink.message(seq, msg);
            seq += 1;
            rest = tail;
        }
        self.expected = seq;
        self.stats.messages += seq - sequence;
        // With no gap open, `update_gap` only opens one behind a known higher sequence.
        if self.expected < self.high_water {
            self.update_gap(now_ns, sink);
        }
        true
    }

    /// [`Self::on_packet`] for a datagram the caller has already decoded with
    /// [`Packet::decode`] or [`Packet::decode_each`] (to index its messages in
    /// the same validating pass): `decoded` must be the result of decoding
    /// `datagram`. A malformed datagram delivers nothing.
    pub fn on_decoded<S: FeedSink>(
        &mut self,
        now_ns: u64,
        line: Line,
        datagram: &[u8],
        decoded: Result<Packet<'_>, DecodeError>,
        sink: &mut S,
    ) {
        let li = line.index();
        self.stats.packets += 1;
        self.stats.bytes += datagram.len() as u64;
        self.stats.lines[li].packets += 1;
        self.stats.lines[li].bytes += datagram.len() as u64;

        let Ok(packet) = decoded else {
            return self.malformed(line, sink);
        };
        debug_assert!(
            std::ptr::eq(packet.datagram(), datagram),
            "decoded is not this datagram's packet"
        );
        let h = packet.header;
        let kind = h.kind();
        let count = u64::from(h.message_count());
        let Some(next) = h.sequence.checked_add(count) else {
            return self.malformed(line, sink);
        };
        if kind == PacketKind::Data && h.sequence == 0 {
            return self.malformed(line, sink);
        }
        match self.session {
            None => self.session = Some(h.session),
            Some(s) if s != h.session => {
                self.stats.session_mismatch += 1;
                self.stats.lines[li].session_mismatch += 1;
                sink.event(FeedEvent::SessionMismatch { line });
                return;
            }
            Some(_) => {}
        }
        self.last_rx_ns = Some(now_ns);
        if self.stale {
            self.stale = false;
            sink.event(FeedEvent::Resumed);
        }
        if !self.started {
            self.started = true;
            self.expected = h.sequence.max(1);
            self.high_water = self.expected;
        }

        match kind {
            PacketKind::Heartbeat => {
                self.stats.heartbeats += 1;
                self.high_water = self.high_water.max(h.sequence);
            }
            PacketKind::EndOfSession => {
                self.high_water = self.high_water.max(h.sequence);
                if !self.ended {
                    self.ended = true;
                    sink.event(FeedEvent::EndOfSession { next: h.sequence });
                }
            }
            PacketKind::Data => {
                self.high_water = self.high_water.max(next);
                if next <= self.expected {
                    self.stats.duplicates += 1;
                    self.stats.duplicate_messages += count;
                    self.stats.lines[li].duplicates += 1;
                } else if h.sequence <= self.expected {
                    self.stats.lines[li].wins += 1;
                    self.stats.duplicate_messages += self.expected - h.sequence;
                    deliver(&packet, &mut self.expected, &mut self.stats, sink);
                    if self.used > 0 {
                        self.drain(sink);
                    }
                } else {
                    self.store(line, packet.datagram(), h.sequence, next, sink);
                }
            }
        }
        self.update_gap(now_ns, sink);
    }

    /// Runs the timers at `now_ns` and returns a re-request to send, if due.
    pub fn poll<S: FeedSink>(&mut self, now_ns: u64, sink: &mut S) -> Option<Request> {
        if self.cfg.stale_after_ns > 0 && !self.ended {
            match self.last_rx_ns {
                None => self.last_rx_ns = Some(now_ns),
                Some(t) if !self.stale && now_ns.saturating_sub(t) >= self.cfg.stale_after_ns => {
                    self.stale = true;
                    self.stats.stale += 1;
                    sink.event(FeedEvent::Stale);
                }
                Some(_) => {}
            }
        }
        let g = self.gap?;
        if now_ns.saturating_sub(g.progress_ns) >= self.cfg.recovery_timeout_ns {
            let to = self.hole_end();
            self.declare_lost(self.expected, to, LossReason::Timeout, sink);
            self.update_gap(now_ns, sink);
        }
        self.request_if_due(now_ns, sink)
    }

    fn request_if_due<S: FeedSink>(&mut self, now_ns: u64, sink: &mut S) -> Option<Request> {
        let session = self.session?;
        let hole_end = self.hole_end();
        let g = self.gap.as_mut()?;
        let due = match g.last_request_ns {
            None => now_ns.saturating_sub(g.detected_ns) >= self.cfg.request_delay_ns,
            Some(t) => {
                self.expected >= g.requested_until
                    || now_ns.saturating_sub(t) >= self.cfg.retry_interval_ns
            }
        };
        if !due || hole_end < self.expected {
            return None;
        }
        let missing = hole_end - self.expected + 1;
        let count = missing.min(u64::from(self.cfg.max_request)) as u16;
        g.last_request_ns = Some(now_ns);
        g.requested_until = self.expected + u64::from(count);
        self.stats.requests += 1;
        sink.event(FeedEvent::RecoveryRequested {
            from: self.expected,
            count,
        });
        Some(Request {
            session,
            sequence: self.expected,
            count,
        })
    }

    fn malformed<S: FeedSink>(&mut self, line: Line, sink: &mut S) {
        self.stats.malformed += 1;
        self.stats.lines[line.index()].malformed += 1;
        sink.event(FeedEvent::Malformed { line });
    }

    /// Last sequence number of the contiguous missing run at `expected`.
    fn hole_end(&self) -> u64 {
        self.min_first.min(self.high_water).saturating_sub(1)
    }

    fn store<S: FeedSink>(
        &mut self,
        line: Line,
        datagram: &[u8],
        first: u64,
        next: u64,
        sink: &mut S,
    ) {
        let li = line.index();
        if datagram.len() > self.cfg.slot_bytes {
            self.stats.oversize += 1;
            return;
        }
        if self
            .slots
            .iter()
            .any(|s| s.used && s.first <= first && s.next >= next)
        {
            self.stats.duplicates += 1;
            self.stats.duplicate_messages += next - first;
            self.stats.lines[li].duplicates += 1;
            return;
        }
        loop {
            if next <= self.expected {
                self.stats.duplicates += 1;
                self.stats.duplicate_messages += next - first;
                self.stats.lines[li].duplicates += 1;
                return;
            }
            if first <= self.expected {
                // A loss just moved delivery up to this packet: deliver it now.
                self.stats.lines[li].wins += 1;
                self.stats.duplicate_messages += self.expected - first;
                if let Ok(packet) = Packet::decode(datagram) {
                    deliver(&packet, &mut self.expected, &mut self.stats, sink);
                }
                self.drain(sink);
                return;
            }
            if let Some(i) = self.slots.iter().position(|s| !s.used) {
                let at = i * self.cfg.slot_bytes;
                self.slot_data[at..at + datagram.len()].copy_from_slice(datagram);
                self.slots[i] = Slot {
                    used: true,
                    first,
                    next,
                    len: datagram.len(),
                };
                self.used += 1;
                self.min_first = self.min_first.min(first);
                self.stats.buffered += 1;
                self.stats.lines[li].wins += 1;
                return;
            }
            // Full: give up the oldest gap so delivery moves on and frees slots
            // (the slot starting at `min_first` drains, or this packet delivers).
            self.stats.overflows += 1;
            let skip_to = first.min(self.min_first);
            self.declare_lost(self.expected, skip_to - 1, LossReason::Overflow, sink);
        }
    }

    /// Gives up `from..=to`, moves past it and delivers what was waiting.
    fn declare_lost<S: FeedSink>(&mut self, from: u64, to: u64, reason: LossReason, sink: &mut S) {
        if to >= from {
            self.stats.lost += 1;
            self.stats.lost_messages += to - from + 1;
            sink.event(FeedEvent::GapLost { from, to, reason });
            self.expected = to + 1;
        }
        self.gap = None;
        self.drain(sink);
    }

    /// Delivers stored packets that became in order; frees superseded ones.
    fn drain<S: FeedSink>(&mut self, sink: &mut S) {
        while self.used > 0 {
            let mut progressed = false;
            let mut min_first = u64::MAX;
            for i in 0..self.slots.len() {
                let s = self.slots[i];
                if !s.used {
                    continue;
                }
                if s.next <= self.expected {
                    self.stats.duplicate_messages += s.next - s.first;
                } else if s.first <= self.expected {
                    let at = i * self.cfg.slot_bytes;
                    if let Ok(packet) = Packet::decode(&self.slot_data[at..at + s.len]) {
                        self.stats.duplicate_messages += self.expected - s.first;
                        deliver(&packet, &mut self.expected, &mut self.stats, sink);
                    }
                    progressed = true;
                } else {
                    min_first = min_first.min(s.first);
                    continue;
                }
                self.slots[i].used = false;
                self.used -= 1;
            }
            self.min_first = min_first;
            if !progressed {
                break;
            }
        }
        if self.used == 0 {
            self.min_first = u64::MAX;
        }
    }

    fn update_gap<S: FeedSink>(&mut self, now_ns: u64, sink: &mut S) {
        if !self.started {
            return;
        }
        if let Some(g) = self.gap.as_mut() {
            if self.expected > g.to {
                sink.event(FeedEvent::GapRecovered {
                    from: g.from,
                    to: g.to,
                });
                self.stats.recovered += 1;
                self.gap = None;
            } else {
                if self.expected > g.cursor {
                    g.cursor = self.expected;
                    g.progress_ns = now_ns;
                }
                g.to =
                    g.to.max(self.min_first.min(self.high_water).saturating_sub(1));
                return;
            }
        }
        if self.expected < self.high_water {
            let to = self.hole_end();
            self.gap = Some(Gap {
                from: self.expected,
                to,
                detected_ns: now_ns,
                progress_ns: now_ns,
                cursor: self.expected,
                last_request_ns: None,
                requested_until: self.expected,
            });
            self.stats.gaps += 1;
            sink.event(FeedEvent::GapDetected {
                from: self.expected,
                to,
            });
        }
    }
}

/// Messages of an in-order datagram [`Sequencer::on_packet`] notes while it
/// validates the framing; later ones are split again from the validated
/// framing. Small on purpose: the notes are initialised for every datagram
/// (2 measured ~12 instructions a datagram cheaper than 8 on one-message
/// datagrams, the backtest case).
const NOTED: usize = 2;

/// Delivers the messages of `packet` from `*expected` on; the packet starts
/// at or before `*expected`. Old messages are skipped by position, so the
/// per-message loop carries no sequence comparison.
#[inline]
fn deliver<S: FeedSink>(
    packet: &Packet<'_>,
    expected: &mut u64,
    stats: &mut FeedStats,
    sink: &mut S,
) {
    let start = *expected;
    let mut messages = packet.messages();
    let skip = start.saturating_sub(packet.header.sequence);
    if skip > 0 {
        let Some(skip) = usize::try_from(skip - 1).ok() else {
            return;
        };
        if messages.nth(skip).is_none() {
            return;
        }
    }
    let mut delivered = 0u64;
    for (seq, msg) in messages {
        sink.message(seq, msg);
        delivered += 1;
    }
    *expected = start.max(packet.header.sequence) + delivered;
    stats.messages += delivered;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use quotewire_protocol::moldudp64::{
        encode_end_of_session, encode_heartbeat, PacketBuilder, HEADER_LEN,
    };

    const MS: u64 = 1_000_000;

    fn session() -> Session {
        Session::from_str_padded("S0001")
    }

    /// Message `seq` carries its own sequence number, so order and identity check themselves.
    fn body(seq: u64) -> [u8; 8] {
        seq.to_be_bytes()
    }

    fn pkt_in(s: Session, first: u64, count: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 1400];
        let mut b = PacketBuilder::new(&mut buf, s, first).unwrap();
        for i in 0..count {
            b.push(&body(first.wrapping_add(i))).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn pkt(first: u64, count: u64) -> Vec<u8> {
        pkt_in(session(), first, count)
    }

    fn heartbeat(next: u64) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        encode_heartbeat(session(), next, &mut buf).unwrap();
        buf
    }

    fn end_of_session(next: u64) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        encode_end_of_session(session(), next, &mut buf).unwrap();
        buf
    }

    #[derive(Default)]
    struct Rec {
        seqs: Vec<u64>,
        events: Vec<FeedEvent>,
    }

    impl FeedSink for Rec {
        fn message(&mut self, seq: u64, payload: &[u8]) {
            assert_eq!(payload, body(seq), "payload of {seq}");
            self.seqs.push(seq);
        }
        fn event(&mut self, event: FeedEvent) {
            self.events.push(event);
        }
    }

    impl Rec {
        fn take_events(&mut self) -> Vec<FeedEvent> {
            std::mem::take(&mut self.events)
        }
    }

    fn cfg() -> SequencerConfig {
        SequencerConfig {
            session: Some(session()),
            start: StartPolicy::FromOne,
            reorder_slots: 8,
            slot_bytes: 1400,
            request_delay_ns: 0,
            retry_interval_ns: 10 * MS,
            recovery_timeout_ns: 100 * MS,
            max_request: 100,
            stale_after_ns: 0,
        }
    }

    fn seq(c: SequencerConfig) -> Sequencer {
        Sequencer::new(c).unwrap()
    }

    #[test]
    fn in_order_packets_deliver_every_message_once() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 3), &mut r);
        s.on_packet(0, Line::A, &pkt(4, 2), &mut r);
        assert_eq!(s.poll(1, &mut r), None);
        assert_eq!(r.seqs, vec![1, 2, 3, 4, 5]);
        assert!(r.events.is_empty());
        assert_eq!(s.expected(), Some(6));
        assert_eq!(
            (s.stats().messages, s.stats().gaps, s.stats().packets),
            (5, 0, 2)
        );
    }

    #[test]
    fn duplicate_from_line_b_is_dropped_and_counted_per_line() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 3), &mut r);
        s.on_packet(0, Line::B, &pkt(1, 3), &mut r);
        s.on_packet(0, Line::B, &pkt(4, 1), &mut r);
        s.on_packet(0, Line::A, &pkt(4, 1), &mut r);
        assert_eq!(r.seqs, vec![1, 2, 3, 4]);
        let st = s.stats();
        assert_eq!((st.duplicates, st.duplicate_messages), (2, 4));
        assert_eq!((st.line(Line::A).wins, st.line(Line::A).duplicates), (1, 1));
        assert_eq!((st.line(Line::B).wins, st.line(Line::B).duplicates), (1, 1));
    }

    #[test]
    fn gap_then_fill_from_retransmission_recovers_in_order() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 2), &mut r);
        s.on_packet(0, Line::A, &pkt(6, 2), &mut r); // 3..=5 missing
        assert_eq!(r.seqs, vec![1, 2]);
        assert_eq!(
            r.take_events(),
            vec![FeedEvent::GapDetected { from: 3, to: 5 }]
        );
        let req = s.poll(1, &mut r).unwrap();
        assert_eq!((req.session, req.sequence, req.count), (session(), 3, 3));
        assert_eq!(
            r.take_events(),
            vec![FeedEvent::RecoveryRequested { from: 3, count: 3 }]
        );
        assert_eq!(
            s.poll(2, &mut r),
            None,
            "no resend before the retry interval"
        );
        s.on_packet(3, Line::Retransmit, &pkt(3, 3), &mut r);
        assert_eq!(r.seqs, vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            r.take_events(),
            vec![FeedEvent::GapRecovered { from: 3, to: 5 }]
        );
        assert_eq!(
            (s.stats().gaps, s.stats().recovered, s.stats().lost),
            (1, 1, 0)
        );
        assert_eq!(s.buffered(), 0);
        assert_eq!(s.poll(20 * MS, &mut r), None);
    }

    #[test]
    fn unanswered_request_is_resent_after_the_retry_interval() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(2, 1), &mut r);
        assert_eq!(
            s.poll(0, &mut r).map(|q| (q.sequence, q.count)),
            Some((1, 1))
        );
        assert_eq!(s.poll(9 * MS, &mut r), None);
        assert_eq!(s.poll(10 * MS, &mut r).map(|q| q.sequence), Some(1));
        assert_eq!(s.stats().requests, 2);
    }

    #[test]
    fn reorder_within_window_fills_before_any_request() {
        let mut s = seq(SequencerConfig {
            request_delay_ns: MS,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 1), &mut r);
        s.on_packet(10, Line::A, &pkt(3, 2), &mut r);
        assert_eq!(
            s.poll(20, &mut r),
            None,
            "request held back for the reorder delay"
        );
        s.on_packet(30, Line::A, &pkt(2, 1), &mut r);
        assert_eq!(s.poll(2 * MS, &mut r), None);
        assert_eq!(r.seqs, vec![1, 2, 3, 4]);
        assert_eq!(s.stats().requests, 0);
        assert_eq!(
            r.events,
            vec![
                FeedEvent::GapDetected { from: 2, to: 2 },
                FeedEvent::GapRecovered { from: 2, to: 2 }
            ]
        );
    }

    #[test]
    fn heartbeat_revealing_gap_requests_the_missing_tail() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 2), &mut r);
        s.on_packet(0, Line::A, &heartbeat(3), &mut r);
        assert!(
            r.events.is_empty(),
            "heartbeat at the expected sequence is no gap"
        );
        s.on_packet(1, Line::A, &heartbeat(6), &mut r);
        assert_eq!(
            r.take_events(),
            vec![FeedEvent::GapDetected { from: 3, to: 5 }]
        );
        let req = s.poll(1, &mut r).unwrap();
        assert_eq!((req.sequence, req.count), (3, 3));
        s.on_packet(2, Line::Retransmit, &pkt(3, 3), &mut r);
        assert_eq!(r.seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(s.stats().heartbeats, 2);
    }

    #[test]
    fn gap_lost_after_timeout_skips_ahead_and_continues_with_buffered_data() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 1), &mut r);
        s.on_packet(0, Line::A, &pkt(4, 2), &mut r); // 2..=3 missing
        assert!(s.poll(0, &mut r).is_some());
        assert!(s.poll(99 * MS, &mut r).is_some(), "retries while waiting");
        r.take_events();
        assert_eq!(s.poll(100 * MS, &mut r), None);
        assert_eq!(
            r.take_events(),
            vec![FeedEvent::GapLost {
                from: 2,
                to: 3,
                reason: LossReason::Timeout
            }]
        );
        assert_eq!(r.seqs, vec![1, 4, 5]);
        assert_eq!((s.stats().lost, s.stats().lost_messages), (1, 2));
        // A late copy of the lost range is just a duplicate now.
        s.on_packet(101 * MS, Line::Retransmit, &pkt(2, 2), &mut r);
        s.on_packet(101 * MS, Line::A, &pkt(6, 1), &mut r);
        assert_eq!(r.seqs, vec![1, 4, 5, 6]);
        assert_eq!(s.current_gap(), None);
    }

    #[test]
    fn progress_within_a_gap_restarts_the_recovery_timeout() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(10, 1), &mut r); // 1..=9 missing
        s.on_packet(90 * MS, Line::Retransmit, &pkt(1, 5), &mut r);
        assert_eq!(
            s.poll(150 * MS, &mut r).map(|q| (q.sequence, q.count)),
            Some((6, 4))
        );
        assert_eq!(s.stats().lost, 0);
        s.poll(190 * MS, &mut r);
        assert_eq!(s.stats().lost_messages, 4);
        assert_eq!(r.seqs, vec![1, 2, 3, 4, 5, 10]);
    }

    #[test]
    fn buffer_overflow_declares_the_oldest_gap_lost() {
        let mut s = seq(SequencerConfig {
            reorder_slots: 2,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 1), &mut r);
        // 2 missing; 3, 4 buffered (store full); 6 arrives (5 also missing).
        s.on_packet(0, Line::A, &pkt(3, 1), &mut r);
        s.on_packet(0, Line::A, &pkt(4, 1), &mut r);
        s.on_packet(0, Line::A, &pkt(6, 1), &mut r);
        assert_eq!(r.seqs, vec![1, 3, 4]);
        assert_eq!(s.stats().overflows, 1);
        assert!(r.events.contains(&FeedEvent::GapLost {
            from: 2,
            to: 2,
            reason: LossReason::Overflow
        }));
        assert_eq!(s.buffered(), 1);
        assert_eq!(s.current_gap(), Some((5, 5)));
        s.on_packet(1, Line::Retransmit, &pkt(5, 1), &mut r);
        assert_eq!(r.seqs, vec![1, 3, 4, 5, 6]);
    }

    #[test]
    fn overflow_with_the_newest_packet_closest_delivers_it_directly() {
        let mut s = seq(SequencerConfig {
            reorder_slots: 1,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(5, 1), &mut r); // 1..=4 missing, 5 buffered
        s.on_packet(0, Line::A, &pkt(3, 1), &mut r); // store full; 3 is older than 5
        assert_eq!(r.seqs, vec![3]);
        assert!(r.events.contains(&FeedEvent::GapLost {
            from: 1,
            to: 2,
            reason: LossReason::Overflow
        }));
        assert_eq!(s.current_gap(), Some((4, 4)));
    }

    #[test]
    fn session_mismatch_is_counted_and_dropped() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(
            0,
            Line::B,
            &pkt_in(Session::from_str_padded("OTHER"), 1, 2),
            &mut r,
        );
        assert!(r.seqs.is_empty());
        assert_eq!(r.events, vec![FeedEvent::SessionMismatch { line: Line::B }]);
        assert_eq!(s.stats().session_mismatch, 1);
        assert_eq!(s.stats().line(Line::B).session_mismatch, 1);
        s.on_packet(0, Line::A, &pkt(1, 2), &mut r);
        assert_eq!(r.seqs, vec![1, 2]);
    }

    #[test]
    fn first_session_is_adopted_when_none_is_configured() {
        let mut s = seq(SequencerConfig {
            session: None,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 1), &mut r);
        assert_eq!(s.session(), Some(session()));
        s.on_packet(
            0,
            Line::A,
            &pkt_in(Session::from_str_padded("OTHER"), 2, 1),
            &mut r,
        );
        assert_eq!(s.stats().session_mismatch, 1);
    }

    #[test]
    fn malformed_packets_are_counted_and_dropped() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        let good = pkt(1, 2);
        s.on_packet(0, Line::A, &good[..good.len() - 1], &mut r); // block runs past the end
        s.on_packet(0, Line::A, &good[..7], &mut r); // short header
        s.on_packet(0, Line::A, &pkt(0, 1), &mut r); // sequence 0
        s.on_packet(0, Line::A, &pkt(u64::MAX, 2), &mut r); // sequence overflow
        s.on_packet(0, Line::A, &[], &mut r);
        assert_eq!(s.stats().malformed, 5);
        assert_eq!(s.stats().line(Line::A).malformed, 5);
        assert!(r.seqs.is_empty());
        assert_eq!(s.current_gap(), None);
        s.on_packet(0, Line::A, &good, &mut r);
        assert_eq!(r.seqs, vec![1, 2]);
    }

    #[test]
    fn partially_overlapping_packets_deliver_from_the_right_offset() {
        let mut s = seq(cfg());
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 3), &mut r);
        s.on_packet(0, Line::B, &pkt(2, 4), &mut r); // 2, 3 old; 4, 5 new
        s.on_packet(0, Line::A, &pkt(9, 2), &mut r); // 6..=8 missing
        s.on_packet(0, Line::A, &pkt(8, 2), &mut r); // buffered, overlaps the slot at 9
                                                     // Retransmission packs differently from the original packets.
        s.on_packet(0, Line::Retransmit, &pkt(5, 4), &mut r);
        assert_eq!(r.seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn large_gap_is_requested_in_chunks_as_each_chunk_arrives() {
        let mut s = seq(SequencerConfig {
            max_request: 3,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(8, 1), &mut r); // 1..=7 missing
        assert_eq!(
            s.poll(0, &mut r).map(|q| (q.sequence, q.count)),
            Some((1, 3))
        );
        s.on_packet(1, Line::Retransmit, &pkt(1, 3), &mut r);
        assert_eq!(
            s.poll(1, &mut r).map(|q| (q.sequence, q.count)),
            Some((4, 3))
        );
        s.on_packet(2, Line::Retransmit, &pkt(4, 3), &mut r);
        assert_eq!(
            s.poll(2, &mut r).map(|q| (q.sequence, q.count)),
            Some((7, 1))
        );
        s.on_packet(3, Line::Retransmit, &pkt(7, 1), &mut r);
        assert_eq!(r.seqs, (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn start_from_first_packet_skips_history_but_from_one_recovers_it() {
        let mut late = seq(SequencerConfig {
            start: StartPolicy::FromFirstPacket,
            ..cfg()
        });
        let mut r = Rec::default();
        assert_eq!(late.expected(), None);
        late.on_packet(0, Line::A, &pkt(100, 2), &mut r);
        assert_eq!(r.seqs, vec![100, 101]);
        assert_eq!(late.poll(0, &mut r), None);

        let mut full = seq(cfg());
        let mut r = Rec::default();
        full.on_packet(0, Line::A, &pkt(100, 2), &mut r);
        assert!(r.seqs.is_empty());
        assert_eq!(r.events, vec![FeedEvent::GapDetected { from: 1, to: 99 }]);
        assert_eq!(
            full.poll(0, &mut r).map(|q| (q.sequence, q.count)),
            Some((1, 99))
        );
    }

    #[test]
    fn late_join_on_a_heartbeat_starts_at_its_sequence() {
        let mut s = seq(SequencerConfig {
            start: StartPolicy::FromFirstPacket,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &heartbeat(50), &mut r);
        s.on_packet(0, Line::A, &pkt(50, 1), &mut r);
        assert_eq!(r.seqs, vec![50]);
        assert!(r.events.is_empty());
    }

    #[test]
    fn stale_is_reported_once_then_resumed_when_data_returns() {
        let mut s = seq(SequencerConfig {
            stale_after_ns: 5 * MS,
            ..cfg()
        });
        let mut r = Rec::default();
        s.poll(0, &mut r);
        s.poll(4 * MS, &mut r);
        assert!(r.events.is_empty());
        s.poll(5 * MS, &mut r);
        s.poll(50 * MS, &mut r);
        assert_eq!(r.take_events(), vec![FeedEvent::Stale]);
        assert!(s.is_stale());
        s.on_packet(51 * MS, Line::B, &heartbeat(1), &mut r);
        assert_eq!(r.take_events(), vec![FeedEvent::Resumed]);
        s.poll(55 * MS, &mut r);
        assert!(r.events.is_empty());
        s.poll(56 * MS, &mut r);
        assert_eq!(r.take_events(), vec![FeedEvent::Stale]);
        assert_eq!(s.stats().stale, 2);
    }

    #[test]
    fn end_of_session_is_reported_once_and_reveals_a_tail_gap() {
        let mut s = seq(SequencerConfig {
            stale_after_ns: MS,
            ..cfg()
        });
        let mut r = Rec::default();
        s.on_packet(0, Line::A, &pkt(1, 2), &mut r);
        s.on_packet(0, Line::A, &end_of_session(4), &mut r);
        s.on_packet(0, Line::B, &end_of_session(4), &mut r);
        assert_eq!(
            r.take_events(),
            vec![
                FeedEvent::EndOfSession { next: 4 },
                FeedEvent::GapDetected { from: 3, to: 3 }
            ]
        );
        assert!(s.is_ended() && !s.is_complete());
        assert_eq!(s.poll(0, &mut r).map(|q| q.sequence), Some(3));
        s.on_packet(0, Line::Retransmit, &pkt(3, 1), &mut r);
        assert!(s.is_complete());
        s.poll(10 * MS, &mut r);
        assert!(
            !r.events.contains(&FeedEvent::Stale),
            "an ended session does not go stale"
        );
    }

    #[test]
    fn invalid_configuration_is_refused() {
        assert!(Sequencer::new(SequencerConfig {
            reorder_slots: 0,
            ..cfg()
        })
        .is_err());
        assert!(Sequencer::new(SequencerConfig {
            slot_bytes: 4,
            ..cfg()
        })
        .is_err());
        assert!(Sequencer::new(SequencerConfig {
            max_request: 0,
            ..cfg()
        })
        .is_err());
    }

    /// Packs messages `from..to` into packets of `sizes` (cycled) messages.
    fn packetize(from: u64, to: u64, sizes: &[u64]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut seq = from;
        let mut i = 0;
        while seq < to {
            let n = sizes[i % sizes.len()].clamp(1, to - seq);
            out.push(pkt(seq, n));
            seq += n;
            i += 1;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Random drops, duplicates and reorders on two lines, a perfect
        /// retransmitter answering (with a delay, in its own packet sizes):
        /// exactly messages 1..=N arrive, in order, with no loss.
        #[test]
        fn faulty_lines_and_a_perfect_retransmitter_deliver_one_to_n_in_order(
            n in 1u64..400,
            sizes in proptest::collection::vec(1u64..6, 1..8),
            retrans_sizes in proptest::collection::vec(1u64..9, 1..4),
            faults in proptest::collection::vec((0u8..100, 0u8..100), 0..400),
            reply_delay in 0u64..5,
        ) {
            let packets = packetize(1, n + 1, &sizes);
            // Build each line's stream with faults: ~15% drop, ~10% duplicate, ~15% swap.
            let mut streams: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
            for (line, stream) in streams.iter_mut().enumerate() {
                for (i, p) in packets.iter().enumerate() {
                    let f = faults.get((i * 2 + line) % faults.len().max(1)).copied().unwrap_or((99, 99));
                    if f.0 < 15 { continue; }
                    stream.push(p.clone());
                    if f.1 < 10 { stream.push(p.clone()); }
                    if f.1 >= 85 && stream.len() >= 2 {
                        let k = stream.len();
                        stream.swap(k - 1, k - 2);
                    }
                }
            }
            let mut s = seq(SequencerConfig {
                reorder_slots: 1024,
                recovery_timeout_ns: u64::MAX,
                retry_interval_ns: 50,
                max_request: 7,
                ..cfg()
            });
            let mut r = Rec::default();
            let mut replies: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut now = 0u64;
            let (mut ia, mut ib) = (0usize, 0usize);
            let mut ended = false;
            for _ in 0..100_000 {
                now += 1;
                if ia < streams[0].len() {
                    s.on_packet(now, Line::A, &streams[0][ia], &mut r);
                    ia += 1;
                }
                if ib < streams[1].len() && now % 2 == 0 {
                    s.on_packet(now, Line::B, &streams[1][ib], &mut r);
                    ib += 1;
                }
                if ia >= streams[0].len() && ib >= streams[1].len() && !ended {
                    s.on_packet(now, Line::A, &end_of_session(n + 1), &mut r);
                    ended = true;
                }
                let mut k = 0;
                while k < replies.len() {
                    if replies[k].0 <= now {
                        let (_, p) = replies.swap_remove(k);
                        s.on_packet(now, Line::Retransmit, &p, &mut r);
                    } else {
                        k += 1;
                    }
                }
                if let Some(q) = s.poll(now, &mut r) {
                    prop_assert_eq!(q.session, session());
                    let end = (q.sequence + u64::from(q.count)).min(n + 1);
                    for p in packetize(q.sequence, end, &retrans_sizes) {
                        replies.push((now + reply_delay, p));
                    }
                }
                if s.is_complete() { break; }
            }
            prop_assert!(s.is_complete());
            prop_assert_eq!(&r.seqs, &(1..=n).collect::<Vec<_>>());
            let st = s.stats();
            prop_assert_eq!((st.lost, st.messages, st.malformed), (0, n, 0));
            prop_assert_eq!(st.gaps, st.recovered);
            let any_lost = r.events.iter().any(|e| matches!(e, FeedEvent::GapLost { .. }));
            prop_assert!(!any_lost);
        }

        /// The one-pass in-order path of `on_packet` against the general path
        /// (`Packet::decode` then `on_decoded`) on random streams of in-order,
        /// late, early, overlapping, damaged, foreign-session, heartbeat and
        /// end-of-session packets on three lines with timers running: the
        /// same deliveries, events, statistics and state after every packet.
        #[test]
        fn one_pass_in_order_path_matches_the_general_path(
            packets in proptest::collection::vec(
                (0u64..60, 1u64..12, 0u8..12, 0usize..3, 0u64..3),
                1..120,
            ),
            stale in prop_oneof![Just(0u64), Just(3 * MS)],
            slots in 1usize..4,
        ) {
            let c = SequencerConfig {
                reorder_slots: slots,
                stale_after_ns: stale,
                ..cfg()
            };
            let (mut fast, mut general) = (seq(c), seq(c));
            let (mut rf, mut rg) = (Rec::default(), Rec::default());
            let mut now = 0;
            let mut next = 1;
            for (k, &(first, count, kind, line, dt)) in packets.iter().enumerate() {
                now += dt * MS;
                let line = [Line::A, Line::B, Line::Retransmit][line];
                // Mostly the next packet in order, so the one-pass path runs often.
                let first = if kind < 6 { next } else { first };
                let mut d = match kind {
                    9 => heartbeat(first),
                    10 => end_of_session(first),
                    11 => pkt_in(Session::from_str_padded("OTHER"), first, count),
                    _ => pkt(first, count),
                };
                match k % 13 {
                    3 => d.push(0),
                    5 => {
                        d.pop();
                    }
                    7 => d.truncate(HEADER_LEN - 1),
                    _ => {}
                }
                if kind < 6 {
                    next = first + count;
                }
                fast.on_packet(now, line, &d, &mut rf);
                general.on_decoded(now, line, &d, Packet::decode(&d), &mut rg);
                prop_assert_eq!(&rf.seqs, &rg.seqs);
                prop_assert_eq!(&rf.events, &rg.events);
                prop_assert_eq!(fast.stats(), general.stats());
                prop_assert_eq!(
                    (fast.expected(), fast.buffered(), fast.current_gap()),
                    (general.expected(), general.buffered(), general.current_gap())
                );
                prop_assert_eq!(fast.poll(now, &mut rf), general.poll(now, &mut rg));
            }
        }

        #[test]
        fn arbitrary_datagrams_never_panic(
            datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..50)
        ) {
            let mut s = seq(SequencerConfig { session: None, reorder_slots: 2, ..cfg() });
            let mut r = Rec { seqs: Vec::new(), events: Vec::new() };
            let mut count = 0u64;
            let mut sink = |_: u64, _: &[u8]| count += 1;
            for (i, d) in datagrams.iter().enumerate() {
                s.on_packet(i as u64 * MS, Line::A, d, &mut sink);
                let _ = s.poll(i as u64 * MS, &mut r);
            }
            prop_assert_eq!(s.stats().messages, count);
        }
    }
}
