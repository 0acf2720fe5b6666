/// Which input a datagram came from.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Line {
    /// The primary multicast line.
    A = 0,
    /// The redundant multicast line.
    B = 1,
    /// Replies from the retransmission (re-request) server.
    Retransmit = 2,
}

impl Line {
    /// Every line, in index order.
    pub const ALL: [Self; 3] = [Self::A, Self::B, Self::Retransmit];

    /// Index into per-line arrays.
    #[inline(always)]
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a gap was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The recovery timeout passed without the gap being filled.
    Timeout,
    /// The reorder store was full and the oldest gap had to be skipped.
    Overflow,
}

/// Something the feed wants its owner to know. Small and `Copy`: no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// Messages `from..=to` are missing (detected from a later packet or heartbeat).
    GapDetected {
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number known at detection.
        to: u64,
    },
    /// A re-request for `count` messages from `from` is being sent.
    RecoveryRequested {
        /// First sequence number requested.
        from: u64,
        /// Messages requested.
        count: u16,
    },
    /// The gap `from..=to` has been filled; delivery continued in order.
    GapRecovered {
        /// First sequence number of the gap.
        from: u64,
        /// Last sequence number of the gap.
        to: u64,
    },
    /// Messages `from..=to` are given up: never delivered. A hard failure for
    /// anything keeping state (books must resynchronise).
    GapLost {
        /// First lost sequence number.
        from: u64,
        /// Last lost sequence number.
        to: u64,
        /// Why it was given up.
        reason: LossReason,
    },
    /// No packet or heartbeat for the configured interval.
    Stale,
    /// Data or heartbeats arrive again after [`FeedEvent::Stale`].
    Resumed,
    /// The session ended; `next` is the sequence number after the last message.
    EndOfSession {
        /// Sequence number after the session's last message.
        next: u64,
    },
    /// A packet of another session arrived on `line` and was dropped.
    SessionMismatch {
        /// Where it came from.
        line: Line,
    },
    /// An undecodable datagram arrived on `line` and was dropped.
    Malformed {
        /// Where it came from.
        line: Line,
    },
    /// Receiving from or sending to `line` failed at the transport.
    TransportFault {
        /// Which transport.
        line: Line,
    },
}

/// Where sequenced messages and events go.
///
/// Any `FnMut(u64, &[u8])` closure is a sink that ignores events (the counters
/// in [`crate::FeedStats`] still record them).
pub trait FeedSink {
    /// Receives message `seq` (its ITCH payload), exactly once, in order.
    fn message(&mut self, seq: u64, payload: &[u8]);

    /// Receives a feed event.
    #[inline]
    fn event(&mut self, _event: FeedEvent) {}
}

impl<F: FnMut(u64, &[u8])> FeedSink for F {
    #[inline]
    fn message(&mut self, seq: u64, payload: &[u8]) {
        self(seq, payload);
    }
}
