//! The handle the control plane holds: two rings, counters and requests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtrb::{Consumer, Producer, RingBuffer};
use tokio::sync::mpsc as tmpsc;

use crate::worker::{self, Command, Reply};
use crate::{Budget, BusConfig, BusError, Inbound, InstanceName, Outbound};

/// Counters shared by the handle and the bus thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) published: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) inbound: AtomicU64,
    pub(crate) inbound_dropped: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) connected: AtomicBool,
}

/// The bus's counters at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusCounters {
    /// Messages stored (JetStream acknowledged) or sent (core NATS).
    pub published: u64,
    /// Acknowledged as duplicates: a resend JetStream had already stored.
    pub duplicates: u64,
    /// Messages refused because the outbound ring was full (lost).
    pub dropped: u64,
    /// Publish attempts that failed or timed out (each was sent again).
    pub failed: u64,
    /// Messages waiting in the outbound ring.
    pub queued: u64,
    /// Inbound messages delivered to the ring.
    pub inbound: u64,
    /// Inbound messages lost because the control plane did not poll (ring full).
    pub inbound_dropped: u64,
    /// Connections re-established after a loss.
    pub reconnects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Connected now.
    pub connected: bool,
}

/// One message read back from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its subject.
    pub subject: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A connection to the firm bus: a side thread running the NATS client, fed and read
/// through lock-free rings. Dropping it flushes (up to `flush_timeout`) and stops.
#[derive(Debug)]
pub struct Bus {
    outbound: Producer<Outbound>,
    inbound: Consumer<Inbound>,
    shared: Arc<Shared>,
    commands: tmpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    instance: InstanceName,
    session: u64,
    dropped: u64,
    capacity: usize,
    request_timeout: Duration,
}

impl Bus {
    /// Validates `config`, starts the bus thread and waits until it is connected and
    /// its streams and bucket exist (created when missing). `BusError::Unreachable`
    /// when the server does not answer within `connect_timeout`.
    pub fn connect(config: BusConfig) -> Result<Self, BusError> {
        config.validate()?;
        let session = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let (outbound, out_rx) = RingBuffer::new(config.outbound_capacity);
        let (in_tx, inbound) = RingBuffer::new(config.inbound_capacity);
        let (commands, cmd_rx) = tmpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let instance = config.instance;
        let wait = config.connect_timeout + Duration::from_secs(2);
        let capacity = config.outbound_capacity;
        let request_timeout = config.request_timeout;
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("qw-bus-{instance}"))
            .spawn(move || {
                worker::run(
                    config,
                    session,
                    thread_shared,
                    out_rx,
                    in_tx,
                    cmd_rx,
                    ready_tx,
                );
            })?;
        let ready = ready_rx
            .recv_timeout(wait)
            .unwrap_or(Err(BusError::Timeout("connect")));
        if let Err(e) = ready {
            let _ = commands.send(Command::Stop);
            let _ = thread.join();
            return Err(e);
        }
        Ok(Self {
            outbound,
            inbound,
            shared,
            commands,
            thread: Some(thread),
            instance,
            session,
            dropped: 0,
            capacity,
            request_timeout,
        })
    }

    /// Queues `message` for the bus thread: lock-free, never blocks, never allocates.
    /// False (and counted in `dropped`) when the ring is full.
    pub fn publish(&mut self, message: Outbound) -> bool {
        if self.outbound.push(message).is_ok() {
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// The next inbound message, if any (lock-free).
    pub fn poll(&mut self) -> Option<Inbound> {
        self.inbound.pop().ok()
    }

    /// This bus's instance name.
    #[must_use]
    pub const fn instance(&self) -> InstanceName {
        self.instance
    }

    /// This bus's session number (its start, ns since the Unix epoch).
    #[must_use]
    pub const fn session(&self) -> u64 {
        self.session
    }

    /// The counters now.
    #[must_use]
    pub fn counters(&self) -> BusCounters {
        let s = &self.shared;
        let connects = s.connects.load(Ordering::Relaxed);
        BusCounters {
            published: s.published.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            dropped: self.dropped,
            failed: s.failed.load(Ordering::Relaxed),
            queued: (self.capacity - self.outbound.slots()) as u64,
            inbound: s.inbound.load(Ordering::Relaxed),
            inbound_dropped: s.inbound_dropped.load(Ordering::Relaxed),
            reconnects: connects.saturating_sub(1),
            disconnects: s.disconnects.load(Ordering::Relaxed),
            connected: s.connected.load(Ordering::Relaxed),
        }
    }

    fn request(
        &self,
        what: &'static str,
        make: impl FnOnce(Reply) -> Command,
    ) -> Result<Answer, BusError> {
        self.request_for(what, self.request_timeout, make)
    }

    fn request_for(
        &self,
        what: &'static str,
        timeout: Duration,
        make: impl FnOnce(Reply) -> Command,
    ) -> Result<Answer, BusError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.commands.send(make(tx)).map_err(|_| BusError::Closed)?;
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(BusError::Timeout(what)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(BusError::Closed),
        }
    }

    /// Writes `instance`'s budget. `expected`: `None` writes unconditionally, `Some(0)`
    /// only if the key does not exist, `Some(r)` only if its last revision is `r`
    /// (compare-and-set; `BusError::Conflict` otherwise). Returns the new revision.
    pub fn put_budget(
        &self,
        instance: InstanceName,
        budget: Budget,
        expected: Option<u64>,
    ) -> Result<u64, BusError> {
        match self.request("put_budget", |reply| Command::PutBudget {
            instance,
            budget,
            expected,
            reply,
        })? {
            Answer::Revision(r) => Ok(r),
            _ => Err(BusError::Closed),
        }
    }

    /// `instance`'s current budget and its revision, if one was ever written.
    pub fn budget(&self, instance: InstanceName) -> Result<Option<(u64, Budget)>, BusError> {
        match self.request("budget", |reply| Command::GetBudget { instance, reply })? {
            Answer::Budget(b) => Ok(b),
            _ => Err(BusError::Closed),
        }
    }

    /// Engages (or, with `active` false, clears) the firm-wide kill switch: publishes
    /// `<prefix>.kill` for everyone listening now and stores the state in the bucket
    /// for instances that connect later. Returns the KV revision.
    pub fn firm_kill(&self, active: bool, reason: &str) -> Result<u64, BusError> {
        let reason = reason.to_owned();
        match self.request("firm_kill", |reply| Command::Kill {
            active,
            reason,
            reply,
        })? {
            Answer::Revision(r) => Ok(r),
            _ => Err(BusError::Closed),
        }
    }

    /// Waits until every queued message is stored (or `timeout`).
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        match self.request_for("flush", timeout + Duration::from_millis(100), |reply| {
            Command::Flush {
                deadline: std::time::Instant::now() + timeout,
                reply,
            }
        })? {
            Answer::Done => Ok(()),
            _ => Err(BusError::Closed),
        }
    }

    /// Every message of `stream` whose subject matches `filter` (NATS wildcards;
    /// empty: all), oldest first.
    pub fn read_stream(&self, stream: &str, filter: &str) -> Result<Vec<StoredMessage>, BusError> {
        let (stream, filter) = (stream.to_owned(), filter.to_owned());
        match self.request("read_stream", |reply| Command::ReadStream {
            stream,
            filter,
            reply,
        })? {
            Answer::Messages(m) => Ok(m),
            _ => Err(BusError::Closed),
        }
    }

    /// Stops the thread after flushing (up to `flush_timeout`); the final counters.
    pub fn close(mut self) -> BusCounters {
        self.stop();
        self.counters()
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Command::Stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a request answers.
#[derive(Debug)]
pub(crate) enum Answer {
    Revision(u64),
    Budget(Option<(u64, Budget)>),
    Messages(Vec<StoredMessage>),
    Done,
}
