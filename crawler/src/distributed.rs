//! The shared frontier of a crawl spread over several `quarry crawl` processes, on NATS
//! JetStream (`quarry crawl --frontier nats://HOST:4222[/NAME]`).
//!
//! - **Work queue.** A URL is a message on `NAME.frontier.P` in the work-queue stream
//!   `NAME_FRONTIER`, where `P` is a hash of its host key modulo [`PARTITIONS`]. Each
//!   partition has one durable pull consumer, `part-P`, with explicit acks, `BackOff` 1 s,
//!   5 s, 30 s and `MaxDeliver` 5.
//! - **Ownership.** A worker pulls only from partitions it holds a lease on: a key in the
//!   KV bucket `NAME_owners` whose entries expire after [`LEASE_TTL`] unless renewed. So one
//!   worker crawls a host at a time, and politeness stays the local scheduler's job. Workers
//!   announce themselves in `NAME_workers`. Each takes its fair share,
//!   ⌈partitions / workers⌉. A worker above its share stops pulling from the extra
//!   partitions and hands them over once their messages are done. A worker that dies loses
//!   its leases when they expire, and its unacknowledged messages are delivered again to
//!   the next owner.
//! - **Seen-set.** The KV bucket `NAME_seen` is keyed by the SHA-1 of the URL. A URL is
//!   published only by whoever creates its key (create-if-absent), so no URL is enqueued
//!   twice. The key's value names the page that found the URL: if that page is processed
//!   again (it was redelivered after a crash), its links are published again. Publishing
//!   with the key as `Nats-Msg-Id` lets the server drop the copy.
//! - **Acks.** A message is acknowledged after its outcome is committed locally, which
//!   happens after the page is durable in the page store, and after the links it yielded
//!   are published. Messages held longer get in-progress acks, so a slow host never
//!   triggers a redelivery.
//! - **Dead letters.** A URL whose fetch kept failing goes to the stream `NAME_DEAD`, which
//!   `quarry errors list --frontier …` reads. So does a message delivered `MaxDeliver` times
//!   without an ack (a worker kept dying on it), found through the server's advisory.
//!
//! Each worker keeps a working set in its own local frontier, rebuilt empty at every
//! start: what was in flight when a worker died is redelivered, not remembered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer, kv, stream};
use futures_util::StreamExt;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::canonical::CanonicalUrl;
use crate::frontier::{DeadLetter, NewUrl};

/// Partitions of the work queue: the unit of ownership (and of parallelism). Many, so that
/// a partition holds few hosts: a worker reads each partition in order, and a partition
/// whose next URLs all belong to one host would hold its other hosts back.
pub const PARTITIONS: u32 = 128;
/// URLs a worker holds per partition at least; more when fewer partitions have work (the
/// window is shared among those that do).
const PER_PARTITION: usize = 4;
/// The longest pause before looking again at a partition found empty.
const EMPTY_BACKOFF_MAX: Duration = Duration::from_millis(800);
/// How long a partition lease (and a worker's announcement) lives without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(6);
/// How often leases are renewed and shares recomputed.
const TICK: Duration = Duration::from_secs(1);
/// Redelivery delays of a message not acknowledged in time (JetStream `BackOff`).
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];
/// Deliveries of one message before it is given up (JetStream `MaxDeliver`).
pub const MAX_DELIVER: i64 = 5;
/// In-progress acks for held messages, well inside the shortest `BackOff` step.
const PROGRESS_EVERY: Duration = Duration::from_millis(400);

/// Errors of the shared frontier.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    /// The `--frontier` URL is not `nats://HOST:PORT[/NAME]`.
    #[error("invalid frontier URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached or refused a request.
    #[error("NATS {url}: {action} failed: {message}")]
    Nats {
        /// The server.
        url: String,
        /// What was being done.
        action: String,
        /// What the client said.
        message: String,
    },
}

/// Where the shared frontier lives: `nats://HOST:PORT` and the crawl's name (the URL's
/// path, default `quarry`), which prefixes every stream, subject and bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontierUrl {
    /// `nats://HOST:PORT`.
    pub server: String,
    /// The crawl's name.
    pub name: String,
}

impl FrontierUrl {
    /// Parses `nats://HOST[:PORT][/NAME]`.
    ///
    /// # Errors
    /// [`DistributedError::InvalidUrl`].
    pub fn parse(text: &str) -> Result<FrontierUrl, DistributedError> {
        let invalid = |reason: &str| DistributedError::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "nats" {
            return Err(invalid("use nats://HOST:PORT[/NAME]"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?;
        let name = url.path().trim_matches('/');
        let name = if name.is_empty() { "quarry" } else { name };
        let valid = name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(invalid(
                "the crawl name (the path) must be 1-32 ASCII letters, digits, '-' or '_'",
            ));
        }
        Ok(FrontierUrl {
            server: format!("nats://{host}:{}", url.port().unwrap_or(4222)),
            name: name.to_owned(),
        })
    }
}

/// A message of the work queue.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct WorkItem {
    url: String,
    depth: u32,
    redirects: u32,
}

/// What the local scheduler reports back for a finished URL.
#[derive(Debug)]
pub enum Outcome {
    /// Finished (stored, skipped, redirected …): publish what it led to, then ack it.
    Done {
        /// The URL.
        url: String,
        /// Links and redirect targets it yielded.
        discovered: Vec<NewUrl>,
    },
    /// Given up after its retries: to the dead-letter stream, then ack.
    Dead(DeadLetter),
    /// URLs found outside a page (sitemaps): publish them.
    Discovered(Vec<NewUrl>),
}

/// Counters of the shared frontier, for progress output and tests.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Messages pulled from the work queue.
    pub pulled: AtomicU64,
    /// URLs published (new to the seen-set).
    pub published: AtomicU64,
    /// Discovered URLs another worker (or an earlier page) had already enqueued.
    pub already_seen: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Partitions held now.
    pub partitions: AtomicU64,
    /// Dead letters published.
    pub dead: AtomicU64,
}

/// The scheduler's side of the shared frontier: a channel of URLs to crawl, one for
/// outcomes, and whether the whole crawl (all workers) has run out of work.
#[derive(Debug)]
pub struct SharedFrontier {
    /// URLs pulled for this worker, acknowledged through their [`Outcome`] (by URL).
    pub incoming: mpsc::Receiver<Vec<NewUrl>>,
    /// Outcomes back to the agent.
    pub outcomes: mpsc::UnboundedSender<Outcome>,
    /// Set while no partition has anything queued or in flight, anywhere.
    pub drained: Arc<AtomicBool>,
    /// Counters.
    pub counters: Arc<SharedCounters>,
    agent: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
}

impl SharedFrontier {
    /// Stops the agent: leases are given back and held messages handed back for
    /// redelivery at once.
    pub async fn close(self) {
        self.stop.notify_one();
        drop(self.outcomes);
        let _ = self.agent.await;
    }
}

/// The shared frontier's connection: streams, consumers and buckets.
#[derive(Clone)]
pub struct Nats {
    url: FrontierUrl,
    js: jetstream::Context,
    seen: kv::Store,
    owners: kv::Store,
    workers: kv::Store,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats").field("url", &self.url).finish()
    }
}

/// The stream of `config`, created if missing. Workers starting together race to create
/// it, and the loser's create fails (as a subject overlap): then it is there to open.
async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, String> {
    let name = config.name.clone();
    match js.get_or_create_stream(config).await {
        Ok(stream) => Ok(stream),
        Err(error) => {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Ok(stream) = js.get_stream(&name).await {
                    return Ok(stream);
                }
            }
            Err(error.to_string())
        }
    }
}

/// The partition of a host key.
pub fn partition_of(host_key: &str) -> u32 {
    let digest = Sha1::digest(host_key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % PARTITIONS
}

fn url_key(url: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha1::digest(url.as_bytes()))
}

impl Nats {
    /// Connects and creates the streams, consumers and buckets if they do not exist.
    ///
    /// # Errors
    /// [`DistributedError::Nats`].
    pub async fn connect(url: &FrontierUrl) -> Result<Nats, DistributedError> {
        let fail = |action: &str, e: &dyn std::fmt::Display| DistributedError::Nats {
            url: url.server.clone(),
            action: action.to_owned(),
            message: e.to_string(),
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .max_reconnects(Some(3))
            .connect(&url.server);
        let client = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .map_err(|e| fail("connecting", &e))?
            .map_err(|e| fail("connecting", &e))?;
        let js = jetstream::new(client);
        let name = &url.name;
        let frontier = ensure_stream(
            &js,
            stream::Config {
                name: format!("{}_FRONTIER", name.to_uppercase()),
                subjects: vec![format!("{name}.frontier.*")],
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail("creating the frontier stream", &e))?;
        ensure_stream(
            &js,
            stream::Config {
                name: format!("{}_DEAD", name.to_uppercase()),
                subjects: vec![format!("{name}.dead")],
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail("creating the dead-letter stream", &e))?;
        for partition in 0..PARTITIONS {
            let durable = format!("part-{partition}");
            let config = consumer::pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: format!("{name}.frontier.{partition}"),
                ack_policy: consumer::AckPolicy::Explicit,
                backoff: BACKOFF.to_vec(),
                max_deliver: MAX_DELIVER,
                ..Default::default()
            };
            if let Err(error) = frontier.get_or_create_consumer(&durable, config).await {
                // Another worker starting at the same moment may have made it first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                frontier
                    .get_consumer::<consumer::pull::Config>(&durable)
                    .await
                    .map_err(|_| fail("creating the partition consumers", &error))?;
            }
        }
        // The buckets' streams are made here, shaped as the KV API makes them: the
        // client's own bucket creation asks for account details that servers before 2.10
        // (Debian's 2.9) answer in a form it does not read.
        let open = |suffix: &str, max_age: Duration| {
            let js = js.clone();
            let bucket = format!("{name}_{suffix}");
            async move {
                ensure_stream(
                    &js,
                    stream::Config {
                        name: format!("KV_{bucket}"),
                        subjects: vec![format!("$KV.{bucket}.>")],
                        max_messages_per_subject: 1,
                        max_age,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        discard: stream::DiscardPolicy::New,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
                js.get_key_value(bucket).await.map_err(|e| e.to_string())
            }
        };
        let seen = open("seen", Duration::ZERO)
            .await
            .map_err(|e| fail("opening the seen-set bucket", &e))?;
        let owners = open("owners", LEASE_TTL)
            .await
            .map_err(|e| fail("opening the lease bucket", &e))?;
        let workers = open("workers", LEASE_TTL)
            .await
            .map_err(|e| fail("opening the worker bucket", &e))?;
        Ok(Nats {
            url: url.clone(),
            js,
            seen,
            owners,
            workers,
        })
    }

    fn error(&self, action: &str, e: impl std::fmt::Display) -> DistributedError {
        DistributedError::Nats {
            url: self.url.server.clone(),
            action: action.to_owned(),
            message: e.to_string(),
        }
    }

    fn stream_name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.url.name.to_uppercase())
    }

    /// Enqueues `urls` that no one has enqueued before; `parent` names the page they were
    /// found on (`None` for seeds). Returns how many were new.
    ///
    /// # Errors
    /// [`DistributedError::Nats`].
    pub async fn publish(
        &self,
        urls: &[NewUrl],
        parent: Option<&str>,
    ) -> Result<u64, DistributedError> {
        let parent = parent.map_or_else(|| "seed".to_string(), url_key);
        let claims = urls.iter().map(|new| {
            let parent = parent.clone();
            async move {
                let key = url_key(new.url.as_str());
                let owned = match self.seen.create(&key, parent.clone().into()).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        // Ours if this page enqueued it before (and is processed again).
                        let value = self
                            .seen
                            .get(&key)
                            .await
                            .map_err(|e| self.error("reading the seen-set", e))?;
                        value.is_some_and(|v| v.as_ref() == parent.as_bytes())
                    }
                    Err(e) => return Err(self.error("updating the seen-set", e)),
                };
                Ok::<_, DistributedError>(owned.then_some((key, new)))
            }
        });
        let claimed = futures_util::future::join_all(claims).await;
        let mut acks = Vec::new();
        for claim in claimed {
            let Some((key, new)) = claim? else {
                continue;
            };
            let item = WorkItem {
                url: new.url.as_str().to_owned(),
                depth: new.depth,
                redirects: new.redirects,
            };
            let subject = format!(
                "{}.frontier.{}",
                self.url.name,
                partition_of(&new.url.host_key())
            );
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", key.as_str());
            let payload = serde_json::to_vec(&item).unwrap_or_default();
            let ack = self
                .js
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| self.error("publishing a URL", e))?;
            acks.push(ack);
        }
        let published = acks.len() as u64;
        for ack in acks {
            ack.await.map_err(|e| self.error("publishing a URL", e))?;
        }
        Ok(published)
    }

    /// The dead letters of the crawl, oldest first.
    ///
    /// # Errors
    /// [`DistributedError::Nats`].
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, DistributedError> {
        let mut dead = self
            .js
            .get_stream(self.stream_name("DEAD"))
            .await
            .map_err(|e| self.error("opening the dead-letter stream", e))?;
        let last = dead
            .info()
            .await
            .map_err(|e| self.error("reading the dead-letter stream", e))?
            .state
            .last_sequence;
        let mut letters = Vec::new();
        let mut sequence = 1;
        while sequence <= last {
            match dead.get_raw_message(sequence).await {
                Ok(message) => {
                    if let Ok(letter) = serde_json::from_slice::<DeadLetter>(&message.payload) {
                        letters.push(letter);
                    }
                }
                Err(e) => debug!(sequence, %e, "dead letter gone"),
            }
            sequence += 1;
        }
        Ok(letters)
    }

    async fn publish_dead(&self, letter: &DeadLetter) -> Result<(), DistributedError> {
        let payload = serde_json::to_vec(letter).unwrap_or_default();
        self.js
            .publish(format!("{}.dead", self.url.name), payload.into())
            .await
            .map_err(|e| self.error("publishing a dead letter", e))?
            .await
            .map_err(|e| self.error("publishing a dead letter", e))?;
        Ok(())
    }

    /// Whether nothing is queued or unacknowledged in any partition.
    async fn drained(&self, consumers: &[consumer::PullConsumer]) -> bool {
        for consumer in consumers {
            match consumer.get_info().await {
                Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
                _ => return false,
            }
        }
        true
    }

    /// Starts this worker's agent: leases, pulling, acks. `window` bounds the messages held
    /// at once (queued locally or being fetched).
    ///
    /// # Errors
    /// [`DistributedError::Nats`].
    pub async fn start(&self, window: usize) -> Result<SharedFrontier, DistributedError> {
        let stream = self
            .js
            .get_stream(self.stream_name("FRONTIER"))
            .await
            .map_err(|e| self.error("opening the frontier stream", e))?;
        let mut consumers = Vec::new();
        for partition in 0..PARTITIONS {
            consumers.push(
                stream
                    .get_consumer::<consumer::pull::Config>(&format!("part-{partition}"))
                    .await
                    .map_err(|e| self.error("opening a partition consumer", e))?,
            );
        }
        let (incoming_tx, incoming) = mpsc::channel(16);
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
        let drained = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(SharedCounters::default());
        let stop = Arc::new(tokio::sync::Notify::new());
        let worker_id = uuid_like();
        // One worker (a queue group) turns each message given up after MaxDeliver into a
        // dead letter.
        let advisories = self
            .js
            .client()
            .queue_subscribe(
                format!(
                    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
                    self.stream_name("FRONTIER")
                ),
                format!("{}-dead-letters", self.url.name),
            )
            .await
            .map_err(|e| self.error("subscribing to advisories", e))?;
        let agent = Agent {
            stream,
            clean_scans: 0,
            nats: self.clone(),
            consumers,
            worker_id,
            owned: HashMap::new(),
            held: HashMap::new(),
            window: window.max(1),
            idle: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            incoming: incoming_tx,
            drained: drained.clone(),
            counters: counters.clone(),
        };
        let handle = tokio::spawn(agent.run(outcomes_rx, advisories, stop.clone()));
        Ok(SharedFrontier {
            incoming,
            outcomes,
            drained,
            counters,
            agent: handle,
            stop,
        })
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let digest = Sha1::digest(format!("{nanos}-{}", std::process::id()).as_bytes());
    data_encoding::HEXLOWER.encode(&digest[..8])
}

/// A partition this worker holds.
struct Lease {
    revision: u64,
    /// Above the fair share: no more pulls, handed over once its messages are done.
    releasing: bool,
}

/// A message held by this worker.
struct Held {
    partition: u32,
    messages: Vec<jetstream::Message>,
}

/// Acknowledges the messages of a finished URL.
/// Runs `work` (publishing what a held URL yielded) while telling the server every
/// [`PROGRESS_EVERY`] that `messages` are still being worked on, so a slow publish never
/// gets them redelivered (the agent's own progress acks only cover the URLs it holds).
async fn in_progress<F: std::future::Future>(
    messages: &[jetstream::Message],
    work: F,
) -> F::Output {
    tokio::pin!(work);
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    // The first tick is immediate; the agent acked these moments ago.
    progress.tick().await;
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = progress.tick() => {
                for message in messages {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}

async fn acknowledge(counters: &SharedCounters, url: &str, messages: Vec<jetstream::Message>) {
    for message in messages {
        match message.double_ack().await {
            Ok(()) => {
                counters.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => warn!(%error, url, "ack failed; the URL will be redelivered"),
        }
    }
}

/// Outcomes being published and acknowledged at once, per worker.
const MAX_ACKING: usize = 64;

/// The background task of one worker.
struct Agent {
    nats: Nats,
    stream: stream::Stream,
    /// Consecutive scans that found every partition empty.
    clean_scans: u32,
    consumers: Vec<consumer::PullConsumer>,
    worker_id: String,
    owned: HashMap<u32, Lease>,
    /// Messages held, by URL.
    held: HashMap<String, Held>,
    window: usize,
    /// Outcomes being published and acknowledged.
    tasks: tokio::task::JoinSet<()>,
    /// Partitions found empty: when to look again, and the pause used.
    idle: HashMap<u32, (Instant, Duration)>,
    incoming: mpsc::Sender<Vec<NewUrl>>,
    drained: Arc<AtomicBool>,
    counters: Arc<SharedCounters>,
}

impl Agent {
    async fn run(
        mut self,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        mut advisories: async_nats::Subscriber,
        stop: Arc<tokio::sync::Notify>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        let mut pull = tokio::time::interval(Duration::from_millis(50));
        let mut last_drain_check = Instant::now() - TICK;
        loop {
            tokio::select! {
                () = stop.notified() => break,
                outcome = outcomes.recv() => match outcome {
                    Some(outcome) => {
                        if let Err(error) = self.apply(outcome).await {
                            warn!(%error, "shared frontier");
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if let Err(error) = self.leases().await {
                        warn!(%error, "shared frontier leases");
                    }
                }
                _ = progress.tick() => self.keep_alive().await,
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                Some(advisory) = advisories.next() => {
                    if let Err(error) = self.max_delivered(&advisory.payload).await {
                        warn!(%error, "turning a message given up into a dead letter");
                    }
                }
                _ = pull.tick() => {
                    if let Err(error) = self.pull().await {
                        warn!(%error, "shared frontier pull");
                    }
                    if last_drain_check.elapsed() >= Duration::from_millis(500) {
                        last_drain_check = Instant::now();
                        // Partitions are scanned one after the other, so work can move
                        // behind the scan; two clean scans in a row make it certain enough.
                        let clean = self.held.is_empty()
                            && self.nats.drained(&self.consumers).await;
                        self.clean_scans = if clean { self.clean_scans + 1 } else { 0 };
                        self.drained.store(self.clean_scans >= 2, Ordering::Relaxed);
                    }
                }
            }
        }
        self.shut_down().await;
    }

    /// Applies an outcome. Publishing links and acknowledging run as tasks (at most
    /// [`MAX_ACKING`] at once), so one slow round trip never holds up the pulls.
    async fn apply(&mut self, outcome: Outcome) -> Result<(), DistributedError> {
        while self.tasks.len() >= MAX_ACKING {
            let _ = self.tasks.join_next().await;
        }
        let nats = self.nats.clone();
        let counters = self.counters.clone();
        match outcome {
            Outcome::Done { url, discovered } => {
                let messages = self
                    .held
                    .remove(&url)
                    .map(|h| h.messages)
                    .unwrap_or_default();
                self.tasks.spawn(async move {
                    if !discovered.is_empty() {
                        match in_progress(&messages, nats.publish(&discovered, Some(&url))).await {
                            Ok(new) => {
                                counters.published.fetch_add(new, Ordering::Relaxed);
                                counters
                                    .already_seen
                                    .fetch_add(discovered.len() as u64 - new, Ordering::Relaxed);
                            }
                            // Not acknowledged: the page comes again and its links with it.
                            Err(error) => return warn!(%error, url, "publishing links failed"),
                        }
                    }
                    acknowledge(&counters, &url, messages).await;
                });
            }
            Outcome::Dead(letter) => {
                let messages = self
                    .held
                    .remove(&letter.url)
                    .map(|h| h.messages)
                    .unwrap_or_default();
                self.tasks.spawn(async move {
                    if let Err(error) = in_progress(&messages, nats.publish_dead(&letter)).await {
                        return warn!(%error, url = letter.url, "publishing a dead letter failed");
                    }
                    counters.dead.fetch_add(1, Ordering::Relaxed);
                    acknowledge(&counters, &letter.url, messages).await;
                });
            }
            Outcome::Discovered(urls) => {
                self.tasks.spawn(async move {
                    match nats.publish(&urls, None).await {
                        Ok(new) => {
                            counters.published.fetch_add(new, Ordering::Relaxed);
                        }
                        Err(error) => warn!(%error, "publishing sitemap URLs failed"),
                    }
                });
            }
        }
        Ok(())
    }

    /// A message delivered `MaxDeliver` times without an ack: a dead letter, and out of the
    /// work queue.
    async fn max_delivered(&self, advisory: &[u8]) -> Result<(), DistributedError> {
        #[derive(serde::Deserialize)]
        struct Advisory {
            stream_seq: u64,
            deliveries: Option<u64>,
        }
        let Ok(advisory) = serde_json::from_slice::<Advisory>(advisory) else {
            return Ok(());
        };
        let message = self
            .stream
            .get_raw_message(advisory.stream_seq)
            .await
            .map_err(|e| self.nats.error("reading a message given up", e))?;
        if let Ok(item) = serde_json::from_slice::<WorkItem>(&message.payload) {
            let host_key = CanonicalUrl::parse(&item.url)
                .map(|url| url.host_key())
                .unwrap_or_default();
            let deliveries = advisory.deliveries.unwrap_or(MAX_DELIVER as u64);
            let letter = DeadLetter {
                url: item.url,
                host_key,
                kind: "max_deliver".into(),
                message: format!(
                    "delivered {deliveries} times without an ack: the workers holding it stopped or stalled"
                ),
                attempts: u32::try_from(deliveries).unwrap_or(u32::MAX),
                at_unix: crate::frontier::now_ms() / 1000,
                depth: item.depth,
            };
            self.nats.publish_dead(&letter).await?;
            self.counters.dead.fetch_add(1, Ordering::Relaxed);
        }
        self.stream
            .delete_message(advisory.stream_seq)
            .await
            .map_err(|e| self.nats.error("removing a message given up", e))?;
        Ok(())
    }

    async fn keep_alive(&self) {
        for held in self.held.values() {
            for message in &held.messages {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }

    /// Pulls messages of the partitions held (not releasing): `window` in all, shared by the
    /// partitions with work (at least [`PER_PARTITION`] each). A partition found empty is looked at again after a pause
    /// that doubles up to [`EMPTY_BACKOFF_MAX`].
    async fn pull(&mut self) -> Result<(), DistributedError> {
        let partitions = self.active_partitions();
        let mut per_partition: HashMap<u32, usize> = HashMap::new();
        for held in self.held.values() {
            *per_partition.entry(held.partition).or_default() += 1;
        }
        let now = Instant::now();
        let idle = |partition: &u32| self.idle.get(partition).is_some_and(|(at, _)| *at > now);
        // The window is shared by the partitions with work: the fewer they are, the more
        // URLs each may hold, so that a partition's hosts behind a run of one host's links
        // are reached (a partition is read in order).
        let busy = partitions
            .iter()
            .filter(|p| !idle(p) || per_partition.contains_key(p))
            .count();
        let cap = PER_PARTITION.max(self.window / busy.max(1));
        // Which partitions to ask, and for how many: within the window in all.
        let mut budget = self.window.saturating_sub(self.held.len());
        let mut asks = Vec::new();
        for partition in partitions {
            let room =
                budget.min(cap.saturating_sub(per_partition.get(&partition).copied().unwrap_or(0)));
            if room == 0 || self.idle.get(&partition).is_some_and(|(at, _)| *at > now) {
                continue;
            }
            budget -= room;
            asks.push((partition, room));
        }
        // One round trip for all of them.
        let fetches = asks.iter().map(|&(partition, room)| {
            let consumer = self.consumers.get(partition as usize);
            async move {
                let mut got = Vec::new();
                let Some(consumer) = consumer else {
                    return Ok((partition, got));
                };
                let mut messages = consumer.fetch().max_messages(room).messages().await?;
                while let Some(message) = messages.next().await {
                    got.push(message?);
                }
                Ok::<_, async_nats::Error>((partition, got))
            }
        });
        let fetched = futures_util::future::join_all(fetches).await;
        let mut batch = Vec::new();
        for result in fetched {
            let (partition, messages) = result.map_err(|e| self.nats.error("pulling", e))?;
            let got = messages.len();
            for message in messages {
                self.counters.pulled.fetch_add(1, Ordering::Relaxed);
                let Some(item) = serde_json::from_slice::<WorkItem>(&message.payload)
                    .ok()
                    .and_then(|item| Some((CanonicalUrl::parse(&item.url)?, item)))
                else {
                    warn!("dropping an unreadable frontier message");
                    let _ = message.ack_with(AckKind::Term).await;
                    continue;
                };
                let (url, item) = item;
                match self.held.get_mut(url.as_str()) {
                    // Delivered again while we hold it: keep the handle, crawl it once.
                    Some(held) => held.messages.push(message),
                    None => {
                        self.held.insert(
                            url.as_str().to_owned(),
                            Held {
                                partition,
                                messages: vec![message],
                            },
                        );
                        batch.push(NewUrl {
                            url,
                            depth: item.depth,
                            redirects: item.redirects,
                        });
                    }
                }
            }
            if got == 0 {
                let pause = self
                    .idle
                    .get(&partition)
                    .map_or(Duration::from_millis(50), |(_, p)| {
                        (*p * 2).min(EMPTY_BACKOFF_MAX)
                    });
                self.idle.insert(partition, (now + pause, pause));
            } else {
                self.idle.remove(&partition);
            }
        }
        if !batch.is_empty() && self.incoming.send(batch).await.is_err() {
            debug!("scheduler gone");
        }
        Ok(())
    }

    /// The partitions held and not being handed over, ascending.
    fn active_partitions(&self) -> Vec<u32> {
        let mut partitions: Vec<u32> = self
            .owned
            .iter()
            .filter(|(_, lease)| !lease.releasing)
            .map(|(&p, _)| p)
            .collect();
        partitions.sort_unstable();
        partitions
    }

    /// Announces this worker, renews its leases, hands over partitions above its share
    /// once their messages are done, and claims free ones below it.
    async fn leases(&mut self) -> Result<(), DistributedError> {
        let nats = self.nats.clone();
        nats.workers
            .put(&self.worker_id, "alive".into())
            .await
            .map_err(|e| nats.error("announcing the worker", e))?;
        let mut keys = nats
            .workers
            .keys()
            .await
            .map_err(|e| nats.error("listing workers", e))?;
        let mut workers = HashSet::new();
        while let Some(key) = keys.next().await {
            if let Ok(key) = key {
                workers.insert(key);
            }
        }
        workers.insert(self.worker_id.clone());
        let share = (PARTITIONS as usize).div_ceil(workers.len());
        // Renew.
        let mut lost = Vec::new();
        for (&partition, lease) in &mut self.owned {
            match nats
                .owners
                .update(
                    partition.to_string(),
                    self.worker_id.clone().into(),
                    lease.revision,
                )
                .await
            {
                Ok(revision) => lease.revision = revision,
                Err(error) => {
                    warn!(partition, %error, "lost a partition lease");
                    lost.push(partition);
                }
            }
        }
        for partition in lost {
            self.owned.remove(&partition);
        }
        // Above the share: stop pulling from the extra partitions (the highest numbers);
        // hand over those done.
        let active = self.active_partitions();
        if active.len() > share {
            for &partition in active.iter().rev().take(active.len() - share) {
                if let Some(lease) = self.owned.get_mut(&partition) {
                    lease.releasing = true;
                }
            }
        }
        let busy: HashSet<u32> = self.held.values().map(|h| h.partition).collect();
        let done: Vec<u32> = self
            .owned
            .iter()
            .filter(|(p, l)| l.releasing && !busy.contains(p))
            .map(|(&p, _)| p)
            .collect();
        for partition in done {
            self.owned.remove(&partition);
            let _ = nats.owners.delete(partition.to_string()).await;
            info!(partition, "handed a partition over");
        }
        // Below the share: claim free partitions, starting at a place of our own.
        let start = u32::from_str_radix(&self.worker_id[..4], 16).unwrap_or(0) % PARTITIONS;
        for step in 0..PARTITIONS {
            if self.active_partitions().len() >= share {
                break;
            }
            let partition = (start + step) % PARTITIONS;
            if self.owned.contains_key(&partition) {
                continue;
            }
            if let Ok(revision) = nats
                .owners
                .create(partition.to_string(), self.worker_id.clone().into())
                .await
            {
                info!(partition, "took a partition");
                self.owned.insert(
                    partition,
                    Lease {
                        revision,
                        releasing: false,
                    },
                );
            }
        }
        self.counters
            .partitions
            .store(self.owned.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Hands everything back: held messages for immediate redelivery, leases to others.
    async fn shut_down(&mut self) {
        while self.tasks.join_next().await.is_some() {}
        for (_, held) in self.held.drain() {
            for message in held.messages {
                let _ = message.ack_with(AckKind::Nak(None)).await;
            }
        }
        for partition in self.owned.keys() {
            let _ = self.nats.owners.delete(partition.to_string()).await;
        }
        let _ = self.nats.workers.delete(&self.worker_id).await;
    }
}
