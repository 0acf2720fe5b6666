/// Counters of a gateway. Plain integers, copied out for reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// SoupBinTCP packets received (any type).
    pub packets_in: u64,
    /// SoupBinTCP packets queued for sending (any type).
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes written to the socket.
    pub bytes_out: u64,
    /// Requests encoded by `send`.
    pub requests: u64,
    /// Sequenced Data messages received (live and replayed).
    pub sequenced_in: u64,
    /// Execution reports delivered to the sink.
    pub reports: u64,
    /// Server Heartbeats received.
    pub heartbeats_in: u64,
    /// Client Heartbeats sent.
    pub heartbeats_out: u64,
    /// TCP connections established.
    pub connects: u64,
    /// Connection attempts after the first one.
    pub reconnects: u64,
    /// Login Accepted received.
    pub logins: u64,
    /// Connections lost (any [`crate::LostReason`]).
    pub lost: u64,
    /// Messages that did not decode (counted and skipped).
    pub decode_errors: u64,
    /// Decoded venue messages that carry no execution report (System Event,
    /// Restated, Priority Update, Modified, Cancel Pending, stale Account
    /// Query Responses): counted and skipped.
    pub other_messages: u64,
    /// Debug packets received.
    pub debug_in: u64,
    /// Unsent bytes dropped when a connection was lost (requests that never
    /// reached the venue).
    pub discarded_bytes: u64,
    /// Logins where the venue started at another sequence number than requested.
    pub sequence_adjustments: u64,
    /// State resets (torn state file, or a new venue session).
    pub state_resets: u64,
}
