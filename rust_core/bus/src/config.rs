//! What a bus is built from.

use std::time::Duration;

use crate::{BusError, InstanceName};

/// Everything a [`Bus`](crate::Bus) is built from; rings are sized here, once.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222` (a comma-separated list for a
    /// cluster: the client fails over between them).
    pub url: String,
    /// This instance's name (subjects and KV keys).
    pub instance: InstanceName,
    /// Subject prefix (one NATS token).
    pub prefix: String,
    /// The drop-copy stream (every fill).
    pub stream: String,
    /// The state stream (positions and exposures, the last `state_history` per subject).
    pub state_stream: String,
    /// The key-value bucket holding budgets and the kill state.
    pub bucket: String,
    /// Replicas of every stream and the bucket (1 on one server, 3 on a cluster).
    pub replicas: usize,
    /// Messages kept per subject in the state stream.
    pub state_history: i64,
    /// Outbound ring slots (control plane -> bus thread).
    pub outbound_capacity: usize,
    /// Inbound ring slots (bus thread -> control plane).
    pub inbound_capacity: usize,
    /// Most JetStream publishes awaiting their acknowledgement.
    pub max_in_flight: usize,
    /// Deliver every peer's exposure as [`Inbound::Peer`](crate::Inbound) (an allocator).
    pub watch_peers: bool,
    /// How long [`Bus::connect`](crate::Bus::connect) waits for the server and setup.
    pub connect_timeout: Duration,
    /// How long a publish waits for its JetStream acknowledgement before it is resent.
    pub ack_timeout: Duration,
    /// How often the bus thread looks at the outbound ring.
    pub poll_interval: Duration,
    /// How long closing waits for queued messages to be stored.
    pub flush_timeout: Duration,
    /// How long a request (budget write, read of a stream) may take.
    pub request_timeout: Duration,
}

impl BusConfig {
    /// Defaults around a server URL and an instance name: prefix `qw`, streams
    /// `QW_DROPCOPY` and `QW_STATE`, bucket `QW_RISK`, one replica, rings of 64Ki and
    /// 4Ki, 1 ms polling.
    #[must_use]
    pub fn new(url: &str, instance: InstanceName) -> Self {
        Self {
            url: url.to_owned(),
            instance,
            prefix: "qw".to_owned(),
            stream: "QW_DROPCOPY".to_owned(),
            state_stream: "QW_STATE".to_owned(),
            bucket: "QW_RISK".to_owned(),
            replicas: 1,
            state_history: 16,
            outbound_capacity: 1 << 16,
            inbound_capacity: 1 << 12,
            max_in_flight: 1_024,
            watch_peers: false,
            connect_timeout: Duration::from_secs(3),
            ack_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(1),
            flush_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// Every refused field, at once.
    pub fn validate(&self) -> Result<(), BusError> {
        let mut problems = Vec::new();
        if self.url.trim().is_empty() {
            problems.push("url: empty".to_owned());
        }
        for (field, name) in [
            ("prefix", &self.prefix),
            ("stream", &self.stream),
            ("state_stream", &self.state_stream),
            ("bucket", &self.bucket),
        ] {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                problems.push(format!(
                    "{field}: {name:?} is not 1-64 ASCII letters, digits, '-' or '_'"
                ));
            }
        }
        if self.stream == self.state_stream {
            problems.push("state_stream: must differ from stream".to_owned());
        }
        if !(1..=5).contains(&self.replicas) {
            problems.push(format!("replicas: {} is not in 1..5", self.replicas));
        }
        if self.state_history < 1 {
            problems.push(format!("state_history: {} is not >= 1", self.state_history));
        }
        for (field, n) in [
            ("outbound_capacity", self.outbound_capacity),
            ("inbound_capacity", self.inbound_capacity),
            ("max_in_flight", self.max_in_flight),
        ] {
            if !(1..=1 << 24).contains(&n) {
                problems.push(format!("{field}: {n} is not in 1..16777216"));
            }
        }
        for (field, d) in [
            ("connect_timeout", self.connect_timeout),
            ("ack_timeout", self.ack_timeout),
            ("poll_interval", self.poll_interval),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                problems.push(format!("{field}: must be > 0"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BusError::Config(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_bad_field_is_named() {
        let name = InstanceName::new("mm1").unwrap();
        BusConfig::new("nats://127.0.0.1:4222", name)
            .validate()
            .unwrap();
        let mut c = BusConfig::new("", name);
        c.stream = "A.B".to_owned();
        c.state_stream = "A.B".to_owned();
        c.outbound_capacity = 0;
        c.poll_interval = Duration::ZERO;
        let text = c.validate().unwrap_err().to_string();
        for field in [
            "url",
            "stream:",
            "state_stream",
            "outbound_capacity",
            "poll_interval",
        ] {
            assert!(text.contains(field), "{field} missing in {text}");
        }
    }
}
