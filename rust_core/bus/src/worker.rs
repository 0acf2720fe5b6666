//! The bus thread: a tokio current-thread runtime driving the NATS client.
//!
//! One select loop moves the outbound ring into JetStream (up to `max_in_flight`
//! publishes awaiting acknowledgement; a failed one is queued again with the same
//! `Nats-Msg-Id`), turns subscriptions and KV watches into [`Inbound`] messages, and
//! answers the handle's requests. Lost subscriptions and watches are re-created.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, push};
use async_nats::jetstream::context::{PublishAckFuture, PublishError};
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::{Event, HeaderMap, ServerAddr, Subscriber};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};
use rtrb::{Consumer, Producer};
use tokio::sync::mpsc as tmpsc;

use crate::bus::{Answer, Shared, StoredMessage};
use crate::{wire, Budget, BusConfig, BusError, Inbound, InstanceName, Outbound};

/// Where a request's answer goes.
pub(crate) type Reply = mpsc::SyncSender<Result<Answer, BusError>>;

/// A request from the handle.
pub(crate) enum Command {
    PutBudget {
        instance: InstanceName,
        budget: Budget,
        expected: Option<u64>,
        reply: Reply,
    },
    GetBudget {
        instance: InstanceName,
        reply: Reply,
    },
    Kill {
        active: bool,
        reason: String,
        reply: Reply,
    },
    Flush {
        deadline: Instant,
        reply: Reply,
    },
    ReadStream {
        stream: String,
        filter: String,
        reply: Reply,
    },
    Stop,
}

/// A JetStream message on its way: kept until acknowledged, resent on failure.
struct Pending {
    subject: String,
    id: String,
    payload: Bytes,
}

type AckFuture = Pin<Box<dyn Future<Output = (Pending, Result<PublishAck, PublishError>)>>>;

/// How often lost subscriptions and watches are re-created.
const REWATCH: Duration = Duration::from_millis(250);

/// The thread's body: connect, report readiness, then serve until stopped.
#[allow(clippy::needless_pass_by_value)] // moved into the thread
pub(crate) fn run(
    config: BusConfig,
    session: u64,
    shared: Arc<Shared>,
    outbound: Consumer<Outbound>,
    inbound: Producer<Inbound>,
    commands: tmpsc::UnboundedReceiver<Command>,
    ready: mpsc::SyncSender<Result<(), BusError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(BusError::Thread(e)));
            return;
        }
    };
    runtime.block_on(async move {
        let opened = tokio::time::timeout(config.connect_timeout, open(&config, &shared)).await;
        let (client, js, kv) = match opened {
            Ok(Ok(link)) => link,
            Ok(Err(e)) => {
                let _ = ready.send(Err(e));
                return;
            }
            Err(_) => {
                let _ = ready.send(Err(BusError::Unreachable {
                    url: config.url.clone(),
                    reason: format!("no answer within {:?}", config.connect_timeout),
                }));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let mut worker = Worker {
            subjects: Subjects::new(&config),
            config,
            session,
            shared,
            client,
            js,
            kv,
            outbound,
            inbound,
            commands,
            retry: VecDeque::new(),
            acks: FuturesUnordered::new(),
            next_id: 0,
            flushes: Vec::new(),
            stopping: None,
            kill_sub: None,
            kill_watch: None,
            budget_watch: None,
            peers: None,
            rewatch_at: Instant::now(),
        };
        worker.serve().await;
    });
}

fn servers(url: &str) -> Result<Vec<ServerAddr>, BusError> {
    url.split(',')
        .map(|u| {
            u.trim().parse::<ServerAddr>().map_err(|e| {
                BusError::Config(format!("url: {u:?} is not a NATS server address: {e}"))
            })
        })
        .collect()
}

fn js_error(what: impl Into<String>, e: impl std::fmt::Display) -> BusError {
    BusError::JetStream {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// Connects and makes sure both streams and the bucket exist.
async fn open(
    config: &BusConfig,
    shared: &Arc<Shared>,
) -> Result<
    (
        async_nats::Client,
        async_nats::jetstream::Context,
        kv::Store,
    ),
    BusError,
> {
    let events = Arc::clone(shared);
    let client = async_nats::ConnectOptions::new()
        .name(format!("quotewire-{}", config.instance))
        .connection_timeout(config.connect_timeout)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((25_u64 << attempts.min(6)).min(2_000))
        })
        .event_callback(move |event| {
            let s = Arc::clone(&events);
            async move {
                match event {
                    Event::Connected => {
                        s.connects.fetch_add(1, Ordering::Relaxed);
                        s.connected.store(true, Ordering::Relaxed);
                    }
                    Event::Disconnected => {
                        s.disconnects.fetch_add(1, Ordering::Relaxed);
                        s.connected.store(false, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
        .connect(servers(&config.url)?)
        .await
        .map_err(|e| BusError::Unreachable {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
    shared.connected.store(true, Ordering::Relaxed);
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(config.ack_timeout);
    let p = &config.prefix;
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        description: Some("quotewire drop copy: every fill of every instance, once".to_owned()),
        subjects: vec![format!("{p}.fill.*")],
        storage: StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| js_error(format!("stream {}", config.stream), e))?;
    js.get_or_create_stream(stream::Config {
        name: config.state_stream.clone(),
        description: Some("quotewire positions and exposures, latest per subject".to_owned()),
        subjects: vec![format!("{p}.position.*.*"), format!("{p}.exposure.*")],
        storage: StorageType::File,
        num_replicas: config.replicas,
        max_messages_per_subject: config.state_history,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| js_error(format!("stream {}", config.state_stream), e))?;
    // The bucket's stream as `create_key_value` would make it, created directly: that
    // call first queries the account, whose answer from a 2.9 server fails to parse.
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{}", config.bucket),
        description: Some("quotewire risk budgets and the firm kill switch".to_owned()),
        subjects: vec![format!("$KV.{}.>", config.bucket)],
        max_messages_per_subject: 16,
        storage: StorageType::File,
        num_replicas: config.replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(|e| js_error(format!("bucket {}", config.bucket), e))?;
    let kv = js
        .get_key_value(config.bucket.as_str())
        .await
        .map_err(|e| js_error(format!("bucket {}", config.bucket), e))?;
    Ok((client, js, kv))
}

/// The subjects and keys of one bus.
struct Subjects {
    fill: String,
    exposure: String,
    heartbeat: String,
    position_prefix: String,
    kill: String,
    peers: String,
    budget_key: String,
}

impl Subjects {
    fn new(c: &BusConfig) -> Self {
        let (p, i) = (&c.prefix, c.instance);
        Self {
            fill: format!("{p}.fill.{i}"),
            exposure: format!("{p}.exposure.{i}"),
            heartbeat: format!("{p}.heartbeat.{i}"),
            position_prefix: format!("{p}.position.{i}."),
            kill: format!("{p}.kill"),
            peers: format!("{p}.exposure.*"),
            budget_key: budget_key(i),
        }
    }
}

fn budget_key(instance: InstanceName) -> String {
    format!("budget.{instance}")
}

const KILL_KEY: &str = "kill";

/// The next item of an optional stream; pending forever when there is none.
/// `Some(None)`: the stream ended.
async fn next_of<S: Stream + Unpin>(s: &mut Option<S>) -> Option<S::Item> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

struct Worker {
    config: BusConfig,
    subjects: Subjects,
    session: u64,
    shared: Arc<Shared>,
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    kv: kv::Store,
    outbound: Consumer<Outbound>,
    inbound: Producer<Inbound>,
    commands: tmpsc::UnboundedReceiver<Command>,
    retry: VecDeque<Pending>,
    acks: FuturesUnordered<AckFuture>,
    next_id: u64,
    flushes: Vec<(Instant, Reply)>,
    stopping: Option<Instant>,
    kill_sub: Option<Subscriber>,
    kill_watch: Option<kv::Watch>,
    budget_watch: Option<kv::Watch>,
    peers: Option<push::Ordered>,
    rewatch_at: Instant,
}

impl Worker {
    async fn serve(&mut self) {
        self.rewatch().await;
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Stop) | None => self.begin_stop(),
                    Some(cmd) => self.command(cmd).await,
                },
                Some((pending, result)) = self.acks.next(), if !self.acks.is_empty() => {
                    self.acked(pending, result);
                }
                m = next_of(&mut self.kill_sub) => match m {
                    Some(m) => self.kill_message(&m.payload),
                    None => self.kill_sub = None,
                },
                e = next_of(&mut self.kill_watch) => match e {
                    Some(Ok(entry)) => self.kill_entry(&entry),
                    _ => self.kill_watch = None,
                },
                e = next_of(&mut self.budget_watch) => match e {
                    Some(Ok(entry)) => self.budget_entry(&entry),
                    _ => self.budget_watch = None,
                },
                m = next_of(&mut self.peers) => match m {
                    Some(Ok(m)) => self.peer(&m.payload),
                    _ => self.peers = None,
                },
                _ = ticker.tick() => {}
            }
            self.pump().await;
            self.answer_flushes();
            if let Some(deadline) = self.stopping {
                if self.drained() || Instant::now() >= deadline {
                    break;
                }
            }
            if Instant::now() >= self.rewatch_at {
                self.rewatch().await;
            }
        }
        for (_, reply) in self.flushes.drain(..) {
            let _ = reply.send(Err(BusError::Closed));
        }
    }

    fn begin_stop(&mut self) {
        if self.stopping.is_none() {
            self.stopping = Some(Instant::now() + self.config.flush_timeout);
        }
    }

    fn drained(&self) -> bool {
        self.outbound.is_empty() && self.retry.is_empty() && self.acks.is_empty()
    }

    fn deliver(&mut self, message: Inbound) {
        if self.inbound.push(message).is_ok() {
            self.shared.inbound.fetch_add(1, Ordering::Relaxed);
        } else {
            self.shared.inbound_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Re-creates whatever subscription or watch was lost (all of them at start).
    async fn rewatch(&mut self) {
        self.rewatch_at = Instant::now() + REWATCH;
        if !self.shared.connected.load(Ordering::Relaxed) {
            return;
        }
        if self.kill_sub.is_none() {
            self.kill_sub = self.client.subscribe(self.subjects.kill.clone()).await.ok();
        }
        if self.kill_watch.is_none() {
            self.kill_watch = self.kv.watch_with_history(KILL_KEY).await.ok();
        }
        if self.budget_watch.is_none() {
            let key = self.subjects.budget_key.clone();
            self.budget_watch = self.kv.watch_with_history(key).await.ok();
        }
        if self.config.watch_peers && self.peers.is_none() {
            self.peers = self.watch_peers().await.ok();
        }
    }

    async fn watch_peers(&self) -> Result<push::Ordered, BusError> {
        let what = || format!("peers of stream {}", self.config.state_stream);
        let stream = self
            .js
            .get_stream(self.config.state_stream.as_str())
            .await
            .map_err(|e| js_error(what(), e))?;
        let consumer: consumer::OrderedPushConsumer = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: self.subjects.peers.clone(),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| js_error(what(), e))?;
        consumer.messages().await.map_err(|e| js_error(what(), e))
    }

    fn kill_message(&mut self, payload: &[u8]) {
        // A malformed kill still engages: stopping is the safe reading.
        let active = wire::decode_kill(payload).unwrap_or(true);
        self.deliver(Inbound::Kill {
            active,
            revision: 0,
        });
    }

    fn kill_entry(&mut self, entry: &kv::Entry) {
        let active = match entry.operation {
            Operation::Put => wire::decode_kill(&entry.value).unwrap_or(true),
            Operation::Delete | Operation::Purge => false,
        };
        self.deliver(Inbound::Kill {
            active,
            revision: entry.revision,
        });
    }

    fn budget_entry(&mut self, entry: &kv::Entry) {
        if entry.operation != Operation::Put {
            return;
        }
        // A budget that does not decode is ignored: the instance keeps its last one.
        if let Ok(budget) = wire::decode_budget(&entry.value) {
            self.deliver(Inbound::Budget {
                revision: entry.revision,
                budget,
            });
        }
    }

    fn peer(&mut self, payload: &[u8]) {
        if let Ok((instance, exposure)) = wire::decode_exposure(payload) {
            self.deliver(Inbound::Peer { instance, exposure });
        }
    }

    /// Moves the outbound ring (after earlier failures) into JetStream, up to
    /// `max_in_flight` unacknowledged; nothing while disconnected.
    async fn pump(&mut self) {
        if !self.shared.connected.load(Ordering::Relaxed) {
            return;
        }
        while self.acks.len() < self.config.max_in_flight {
            let pending = if let Some(p) = self.retry.pop_front() {
                p
            } else {
                let Ok(message) = self.outbound.pop() else {
                    break;
                };
                match self.encode(message) {
                    Some(p) => p,
                    None => {
                        self.heartbeat(message).await;
                        continue;
                    }
                }
            };
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", pending.id.as_str());
            let sent = self
                .js
                .publish_with_headers(pending.subject.clone(), headers, pending.payload.clone())
                .await;
            match sent {
                Ok(ack) => self.acks.push(await_ack(pending, ack)),
                Err(_) => {
                    self.shared.failed.fetch_add(1, Ordering::Relaxed);
                    self.retry.push_front(pending);
                    break;
                }
            }
        }
    }

    /// A JetStream message for `message`; None for a heartbeat (core NATS).
    fn encode(&mut self, message: Outbound) -> Option<Pending> {
        let instance = self.config.instance;
        let (subject, payload) = match message {
            Outbound::Fill(f) => (
                self.subjects.fill.clone(),
                wire::encode_fill(instance, self.session, &f),
            ),
            Outbound::Position(p) => (
                format!("{}{}", self.subjects.position_prefix, p.instrument.0),
                wire::encode_position(instance, &p),
            ),
            Outbound::Exposure(e) => (
                self.subjects.exposure.clone(),
                wire::encode_exposure(instance, &e),
            ),
            Outbound::Heartbeat(_) => return None,
        };
        self.next_id += 1;
        Some(Pending {
            subject,
            id: format!("{instance}.{}.{}", self.session, self.next_id),
            payload: Bytes::from(payload),
        })
    }

    async fn heartbeat(&mut self, message: Outbound) {
        if let Outbound::Heartbeat(h) = message {
            let payload = wire::encode_heartbeat(self.config.instance, self.session, &h);
            let sent = self
                .client
                .publish(self.subjects.heartbeat.clone(), Bytes::from(payload))
                .await;
            let counter = if sent.is_ok() {
                &self.shared.published
            } else {
                &self.shared.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn acked(&mut self, pending: Pending, result: Result<PublishAck, PublishError>) {
        match result {
            Ok(ack) => {
                self.shared.published.fetch_add(1, Ordering::Relaxed);
                if ack.duplicate {
                    self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                self.retry.push_back(pending);
            }
        }
    }

    fn answer_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let drained = self.drained();
        let now = Instant::now();
        self.flushes.retain(|(deadline, reply)| {
            if drained {
                let _ = reply.send(Ok(Answer::Done));
                false
            } else if now >= *deadline {
                let _ = reply.send(Err(BusError::Timeout("flush")));
                false
            } else {
                true
            }
        });
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::PutBudget {
                instance,
                budget,
                expected,
                reply,
            } => {
                let result = self.put_budget(instance, budget, expected).await;
                let _ = reply.send(result.map(Answer::Revision));
            }
            Command::GetBudget { instance, reply } => {
                let key = budget_key(instance);
                let result = match self.kv.entry(key.clone()).await {
                    Ok(Some(e)) if e.operation == Operation::Put => {
                        wire::decode_budget(&e.value).map(|b| Some((e.revision, b)))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => Err(js_error(format!("read {key}"), e)),
                };
                let _ = reply.send(result.map(Answer::Budget));
            }
            Command::Kill {
                active,
                reason,
                reply,
            } => {
                let payload = Bytes::from(wire::encode_kill(active, &reason));
                let result = async {
                    if active {
                        // Core NATS first: it reaches every listener at once.
                        self.client
                            .publish(self.subjects.kill.clone(), payload.clone())
                            .await
                            .map_err(|e| js_error("publish kill", e))?;
                        self.client
                            .flush()
                            .await
                            .map_err(|e| js_error("publish kill", e))?;
                    }
                    self.kv
                        .put(KILL_KEY, payload)
                        .await
                        .map_err(|e| js_error("store kill", e))
                }
                .await;
                let _ = reply.send(result.map(Answer::Revision));
            }
            Command::Flush { deadline, reply } => self.flushes.push((deadline, reply)),
            Command::ReadStream {
                stream,
                filter,
                reply,
            } => {
                let result = self.read_stream(&stream, &filter).await;
                let _ = reply.send(result.map(Answer::Messages));
            }
            Command::Stop => self.begin_stop(),
        }
    }

    async fn put_budget(
        &self,
        instance: InstanceName,
        budget: Budget,
        expected: Option<u64>,
    ) -> Result<u64, BusError> {
        let key = budget_key(instance);
        let value = Bytes::from(wire::encode_budget(&budget));
        let conflict = || BusError::Conflict {
            key: key.clone(),
            expected: expected.unwrap_or(0),
        };
        match expected {
            None => self
                .kv
                .put(&key, value)
                .await
                .map_err(|e| js_error(format!("write {key}"), e)),
            Some(0) => self
                .kv
                .create(&key, value)
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => conflict(),
                    _ => js_error(format!("create {key}"), e),
                }),
            Some(revision) => {
                self.kv
                    .update(&key, value, revision)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => conflict(),
                        _ => js_error(format!("update {key}"), e),
                    })
            }
        }
    }

    /// Every message of `stream` matching `filter`, through an ephemeral consumer.
    async fn read_stream(&self, name: &str, filter: &str) -> Result<Vec<StoredMessage>, BusError> {
        let what = || format!("read stream {name}");
        let stream = self
            .js
            .get_stream(name)
            .await
            .map_err(|e| js_error(what(), e))?;
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: filter.to_owned(),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| js_error(what(), e))?;
        let total = consumer.cached_info().num_pending;
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let deadline = Instant::now() + self.config.request_timeout;
        while (out.len() as u64) < total {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BusError::Timeout("read_stream"));
            }
            let batch = consumer
                .fetch()
                .max_messages(
                    usize::try_from(total - out.len() as u64)
                        .unwrap_or(1)
                        .min(4_096),
                )
                .expires(left.min(Duration::from_secs(1)))
                .messages()
                .await
                .map_err(|e| js_error(what(), e))?;
            let messages: Vec<_> = batch.collect().await;
            for m in messages {
                let m = m.map_err(|e| js_error(what(), e))?;
                let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                out.push(StoredMessage {
                    subject: m.subject.to_string(),
                    sequence,
                    payload: m.payload.to_vec(),
                });
            }
        }
        let _ = stream.delete_consumer(&consumer.cached_info().name).await;
        Ok(out)
    }
}

fn await_ack(pending: Pending, ack: PublishAckFuture) -> AckFuture {
    Box::pin(async move {
        let result = ack.await;
        (pending, result)
    })
}
