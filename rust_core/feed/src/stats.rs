use crate::Line;

/// Per-line counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Datagrams received.
    pub packets: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Data packets that brought at least one message first (A/B arbitration wins).
    pub wins: u64,
    /// Data packets that brought nothing new.
    pub duplicates: u64,
    /// Datagrams that failed to decode.
    pub malformed: u64,
    /// Datagrams of another session.
    pub session_mismatch: u64,
    /// Receive errors reported by the transport.
    pub recv_errors: u64,
}

/// Counters of a feed. Plain integers, copied out for reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Datagrams received on all lines.
    pub packets: u64,
    /// Bytes received on all lines.
    pub bytes: u64,
    /// Messages delivered to the sink.
    pub messages: u64,
    /// Heartbeat packets.
    pub heartbeats: u64,
    /// Data packets that brought nothing new.
    pub duplicates: u64,
    /// Messages received again after delivery (or while already buffered).
    pub duplicate_messages: u64,
    /// Gaps detected.
    pub gaps: u64,
    /// Gaps filled.
    pub recovered: u64,
    /// Gaps given up.
    pub lost: u64,
    /// Messages given up.
    pub lost_messages: u64,
    /// Undecodable datagrams.
    pub malformed: u64,
    /// Datagrams of another session.
    pub session_mismatch: u64,
    /// Out-of-order packets stored to await a gap fill.
    pub buffered: u64,
    /// Times the reorder store was full.
    pub overflows: u64,
    /// Out-of-order packets too large for a reorder slot (dropped; recovery refetches).
    pub oversize: u64,
    /// Re-requests issued by the sequencer.
    pub requests: u64,
    /// Re-requests handed to the retransmission transport successfully.
    pub requests_sent: u64,
    /// Re-requests the transport failed to send (retried on the next interval).
    pub send_errors: u64,
    /// Times the feed went stale.
    pub stale: u64,
    /// Per-line counters, indexed by [`Line::index`].
    pub lines: [LineStats; 3],
}

impl FeedStats {
    /// Counters of one line.
    #[must_use]
    pub const fn line(&self, line: Line) -> &LineStats {
        &self.lines[line.index()]
    }
}
