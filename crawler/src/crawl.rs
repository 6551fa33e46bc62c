//! The crawl loop: one scheduler task owns the frontier and hands pages to the page-store
//! writer, which runs on a thread of its own (`store_thread`); fetches run as
//! tasks, at most `max_concurrent_fetches` at once and within per-host politeness.
//!
//! A page's connection slot is given back as soon as its response is in: link extraction
//! runs afterwards as a job of its own, so with one connection per host the next fetch of
//! the host overlaps the parsing of the last one instead of waiting for it.
//!
//! Outcomes are committed in batches (group commit): the page store is synced first, then
//! the frontier transaction that removes the completed URLs from their queues. A crash
//! between the two only means those URLs are fetched again on restart; a crash before the
//! sync loses nothing that was acknowledged.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use quarry_pagestore::{PageRecord, PageStore, SegmentId, StoreError, WriterOptions, charset};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::canonical::{CanonicalUrl, UrlPolicy};
use crate::config::{CrawlConfig, Scope};
use crate::distributed::{Outcome, SharedFrontier};
use crate::extract::{PageLinks, extract_links, x_robots_tag};
use crate::fetch::{FetchError, Fetched, Fetcher, PageResponse, RobotsResponse, build_fetcher};
use crate::frontier::{
    Completion, DeadLetter, Disposition, FetchRecord, Frontier, FrontierError, NewUrl, NextUrl,
    QueuedUrl, UrlLimits, UrlState, now_ms,
};
use crate::politeness::{Hosts, RobotsState};
use crate::robots::Robots;
use crate::sitemap::{SitemapLimits, SitemapWalker};
use crate::stats::{CrawlCounters, CrawlStats};
use crate::store_thread::StoreThread;

/// Commit at least this often while work completes.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// Commit when this many outcomes are pending.
const COMMIT_BATCH: usize = 256;
/// After a failed robots.txt fetch (5xx, network), wait this long before trying again.
const ROBOTS_RETRY_DELAY: Duration = Duration::from_secs(10);
/// After this many failed robots.txt fetches in a row, the host is treated as disallowed
/// (RFC 9309 §2.3.1.4) until the next retry.
const ROBOTS_MAX_FAILURES: u32 = 2;
/// How long a host stays fully disallowed after robots.txt kept failing.
const ROBOTS_UNAVAILABLE_TTL: Duration = Duration::from_secs(600);
/// Robots-denied URLs skipped in one go before yielding to other hosts.
const MAX_DENIED_PER_DISPATCH: usize = 256;

/// Errors that stop a crawl. Fetch failures never do: they are outcomes.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// The frontier database failed.
    #[error("frontier failed")]
    Frontier(#[from] FrontierError),
    /// The page store failed.
    #[error("page store failed")]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("building the HTTP client failed")]
    Client(#[source] FetchError),
    /// The data directory could not be created.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A fetch task panicked.
    #[error("a fetch task panicked")]
    TaskPanicked,
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataLayout {
    /// The data directory.
    pub root: PathBuf,
}

impl DataLayout {
    /// The layout of `root`.
    pub fn new(root: &Path) -> DataLayout {
        DataLayout {
            root: root.to_path_buf(),
        }
    }
    /// `DATA/frontier.redb`: the frontier database.
    pub fn frontier(&self) -> PathBuf {
        self.root.join("frontier.redb")
    }
    /// `DATA/worker-frontier.redb`: the working set of a worker of a shared crawl.
    pub fn worker_frontier(&self) -> PathBuf {
        self.root.join("worker-frontier.redb")
    }
    /// `DATA/pages/`: the page store.
    pub fn pages(&self) -> PathBuf {
        self.root.join("pages")
    }
    /// `DATA/store-cache/`: the local mirror of a page store kept in object storage
    /// (`--store s3://…`), which the indexer reads.
    pub fn store_cache(&self) -> PathBuf {
        self.root.join("store-cache")
    }
    /// `DATA/index/`: index generations.
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    /// `DATA/index-shard-I-of-N/`: index generations of shard `index` of `count`
    /// (`quarry index rebuild --shard I/N`).
    pub fn shard_index(&self, index: u32, count: u32) -> PathBuf {
        self.root.join(format!("index-shard-{index}-of-{count}"))
    }
}

/// How often a worker of a shared crawl with nothing to do looks whether the crawl is over.
const SHARED_POLL: Duration = Duration::from_millis(200);

/// The next batch of URLs from the shared frontier (pending forever without one).
async fn next_shared(shared: &mut Option<SharedFrontier>) -> Option<Vec<NewUrl>> {
    match shared {
        Some(shared) => shared.incoming.recv().await,
        None => std::future::pending().await,
    }
}

/// What a fetch task hands back to the scheduler (one per finished fetch: its size does
/// not matter).
#[allow(clippy::large_enum_variant)]
enum JobOutput {
    Robots {
        host: String,
        response: RobotsResponse,
        /// The address robots.txt was fetched from.
        ip: Option<std::net::IpAddr>,
        /// The IP address the fetch was counted against.
        counted_ip: Option<std::net::IpAddr>,
        /// The site's root URL (where sitemaps are looked for).
        origin: url::Url,
    },
    Sitemap {
        host: String,
        url: url::Url,
        result: Result<(u16, Option<String>, Vec<u8>), FetchError>,
        counted_ip: Option<std::net::IpAddr>,
    },
    /// A page's response is in (its links not yet extracted).
    Fetched {
        entry: QueuedUrl,
        result: Box<Result<PageResponse, FetchError>>,
        /// The IP address the fetch was counted against (see [`Hosts::fetch_started`]).
        counted_ip: Option<std::net::IpAddr>,
        /// The record of the earlier fetch when this was a conditional refetch.
        previous: Option<Box<FetchRecord>>,
    },
    /// A fetched HTML page's links are extracted.
    Extracted {
        entry: QueuedUrl,
        result: Box<Result<PageResponse, FetchError>>,
        links: PageLinks,
        previous: Option<Box<FetchRecord>>,
    },
}

/// A crawl over one data directory.
pub struct Crawler {
    config: CrawlConfig,
    frontier: Frontier,
    store: PageStore,
    fetcher: Arc<Fetcher>,
    counters: Arc<CrawlCounters>,
    policy: Arc<UrlPolicy>,
    /// `Some` when sealed segments move to object storage: start a new segment numbered
    /// after this one (and every local one) instead of appending to the last local one.
    seal_after: Option<Option<SegmentId>>,
    /// The shared frontier of a crawl spread over several processes, if this is a worker.
    shared: Option<SharedFrontier>,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler")
            .field("frontier", &self.frontier)
            .finish_non_exhaustive()
    }
}

impl Crawler {
    /// Opens the crawl state in `data_dir` (created if missing). A crawl that was stopped
    /// or killed resumes where its last commit left it.
    ///
    /// # Errors
    /// When the directory, frontier or page store cannot be opened.
    pub fn open(data_dir: &Path, config: CrawlConfig) -> Result<Crawler, CrawlError> {
        Crawler::open_at(data_dir, &DataLayout::new(data_dir).pages(), config)
    }

    /// [`Crawler::open`] with the page store in `pages` instead of `DATA/pages`.
    ///
    /// # Errors
    /// As [`Crawler::open`].
    pub fn open_at(
        data_dir: &Path,
        pages: &Path,
        config: CrawlConfig,
    ) -> Result<Crawler, CrawlError> {
        Crawler::open_inner(
            data_dir,
            &DataLayout::new(data_dir).frontier(),
            pages,
            config,
        )
    }

    fn open_inner(
        data_dir: &Path,
        frontier: &Path,
        pages: &Path,
        config: CrawlConfig,
    ) -> Result<Crawler, CrawlError> {
        std::fs::create_dir_all(data_dir).map_err(|source| CrawlError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let mut frontier = Frontier::open(frontier)?;
        frontier.set_limits(UrlLimits {
            max_per_host: config.max_urls_per_host,
            max_query_variants: config.max_query_variants_per_path,
        });
        let store = PageStore::open(pages)?;
        let fetcher = build_fetcher(&config).map_err(CrawlError::Client)?;
        Ok(Crawler {
            policy: Arc::new(config.url_policy.clone()),
            config,
            frontier,
            store,
            fetcher,
            counters: Arc::new(CrawlCounters::default()),
            seal_after: None,
            shared: None,
        })
    }

    /// Opens a worker of a crawl whose frontier is shared on NATS: its local frontier
    /// (`DATA/worker-frontier.redb`) is only this run's working set and starts empty, since
    /// whatever a previous run held unfinished is delivered again by the shared frontier.
    ///
    /// # Errors
    /// As [`Crawler::open`].
    pub fn open_worker(
        data_dir: &Path,
        pages: &Path,
        config: CrawlConfig,
        shared: SharedFrontier,
    ) -> Result<Crawler, CrawlError> {
        let path = DataLayout::new(data_dir).worker_frontier();
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CrawlError::DataDir { path, source });
            }
        }
        let mut crawler = Crawler::open_inner(data_dir, &path, pages, config)?;
        crawler.shared = Some(shared);
        Ok(crawler)
    }

    /// For a page store whose sealed segments are uploaded to object storage (and then
    /// removed locally): the run seals the last local segment, which may already have been
    /// uploaded, and numbers new segments after `last_uploaded` (the highest number in the
    /// object store) so they never collide with uploaded ones.
    pub fn seal_segments_after(&mut self, last_uploaded: Option<SegmentId>) {
        self.seal_after = Some(last_uploaded);
    }

    /// The page store the crawl writes to.
    pub fn page_store(&self) -> &PageStore {
        &self.store
    }

    /// Adds the hosts of `seeds` to the crawl's scope (without queueing them: a worker of
    /// a shared crawl publishes its seeds to the shared frontier). Returns the seeds
    /// canonicalised with the configured URL policy.
    ///
    /// # Errors
    /// [`CrawlError::Frontier`].
    pub fn add_scope(&self, seeds: &[CanonicalUrl]) -> Result<Vec<CanonicalUrl>, CrawlError> {
        // Seeds were parsed with the default policy; apply the configured one.
        let seeds: Vec<CanonicalUrl> = seeds
            .iter()
            .filter_map(|seed| self.policy.canonicalize(seed.as_url()))
            .collect();
        self.frontier
            .add_scope_hosts(seeds.iter().map(CanonicalUrl::host))?;
        Ok(seeds)
    }

    /// Queues seed URLs (depth 0) and adds their hosts to the scope. Seeds seen before
    /// are not queued again. Returns how many were new.
    ///
    /// # Errors
    /// [`CrawlError::Frontier`].
    pub fn add_seeds(&self, seeds: &[CanonicalUrl]) -> Result<u64, CrawlError> {
        let seeds = self.add_scope(seeds)?;
        let before = self.frontier.stats()?.seen;
        let urls: Vec<NewUrl> = seeds
            .iter()
            .map(|url| NewUrl {
                url: url.clone(),
                depth: 0,
                redirects: 0,
            })
            .collect();
        self.frontier.enqueue(&urls)?;
        Ok(self.frontier.stats()?.seen - before)
    }

    /// Queues again the pages stored more than `recrawl_after_secs` ago, for a conditional
    /// refetch by the next [`Crawler::run`]. Returns how many were queued (0 when
    /// recrawling is off).
    ///
    /// # Errors
    /// [`CrawlError::Frontier`].
    pub fn queue_recrawl(&self) -> Result<u64, CrawlError> {
        let after_ms = self.config.recrawl_after_secs.saturating_mul(1000);
        if after_ms == 0 {
            return Ok(0);
        }
        Ok(self
            .frontier
            .requeue_stale(now_ms().saturating_sub(after_ms))?)
    }

    /// Live counters, for progress output.
    pub fn counters(&self) -> Arc<CrawlCounters> {
        self.counters.clone()
    }

    /// The frontier (read-only use: statistics).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Crawls until the frontier is empty, the page limit is reached, or `shutdown`
    /// completes (then in-flight fetches are abandoned and stay queued for the next run).
    ///
    /// # Errors
    /// Frontier or page-store failures; fetch failures are counted, not returned.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<CrawlStats, CrawlError> {
        let started = Instant::now();
        let shared = self.shared.take();
        let mut writer = self.store.writer(WriterOptions {
            segment_max_bytes: self.config.segment_max_bytes,
        })?;
        if let Some(recovery) = writer.recovery() {
            warn!(
                ?recovery,
                "page store had a torn tail after a crash; it was cut"
            );
        }
        if let Some(after) = self.seal_after {
            writer.seal(after)?;
        }
        let writer = StoreThread::start(writer, self.store.dir().to_owned())?;
        let frontier_stats = self.frontier.stats()?;
        self.counters
            .queued
            .store(frontier_stats.queued, Ordering::Relaxed);
        let mut run = Run {
            crawler: &self,
            writer,
            hosts: Hosts::new(),
            jobs: JoinSet::new(),
            pending: Vec::new(),
            scope: self.frontier.scope_hosts()?,
            stored_total: frontier_stats.stored_pages,
            pages_in_flight: 0,
            extracting: 0,
            last_commit: Instant::now(),
            sitemaps: std::collections::HashMap::new(),
            sitemaps_started: HashSet::new(),
            shared,
        };
        for host in self.frontier.hosts_with_work()? {
            run.hosts.schedule(&host, run.base_delay());
        }
        info!(
            queued = frontier_stats.queued,
            stored = frontier_stats.stored_pages,
            "crawl started"
        );
        let driven = run.drive(shutdown).await;
        if let Some(shared) = run.shared.take() {
            shared.close().await;
        }
        let interrupted = driven?;
        let mut stats = self.counters.snapshot(started.elapsed());
        stats.queued = self.frontier.stats()?.queued;
        stats.interrupted = interrupted && stats.queued > 0;
        info!(
            stored = stats.stored,
            queued = stats.queued,
            "crawl finished"
        );
        Ok(stats)
    }
}

/// The state of one run of the loop.
struct Run<'a> {
    crawler: &'a Crawler,
    /// The page-store writer, on its own thread (gzip runs beside the scheduler).
    writer: StoreThread,
    hosts: Hosts,
    jobs: JoinSet<JobOutput>,
    pending: Vec<Completion>,
    scope: HashSet<String>,
    stored_total: u64,
    pages_in_flight: u64,
    /// Jobs in `jobs` that extract links rather than fetch (they hold no connection).
    extracting: usize,
    last_commit: Instant,
    /// Sitemap walks in progress, per host key.
    sitemaps: std::collections::HashMap<String, SitemapWalker>,
    /// Hosts whose sitemaps were walked (or are being walked) in this run.
    sitemaps_started: HashSet<String>,
    /// The shared frontier, when this run is one worker of a crawl on NATS.
    shared: Option<SharedFrontier>,
}

impl Run<'_> {
    fn config(&self) -> &CrawlConfig {
        &self.crawler.config
    }

    fn base_delay(&self) -> Duration {
        Duration::from_millis(self.config().min_host_delay_ms)
    }

    fn max_connections(&self) -> usize {
        self.config().max_connections_per_host.max(1)
    }

    /// The delay between requests to one IP address: never more than the host delay.
    fn ip_delay(&self) -> Duration {
        Duration::from_millis(
            self.config()
                .min_ip_delay_ms
                .min(self.config().min_host_delay_ms),
        )
    }

    fn max_ip_connections(&self) -> usize {
        self.config()
            .max_connections_per_ip
            .max(self.max_connections())
    }

    /// Whether a discovered URL looks like a crawler trap: too long, too deep a path, or a
    /// path whose segments repeat (`/a/b/a/b/a/b`).
    fn is_trap(&self, url: &CanonicalUrl) -> bool {
        let config = self.config();
        url.as_str().len() > config.max_url_length
            || path_is_trap(url.as_url().path(), config.max_path_segments)
    }

    /// Jobs holding a connection (fetches of pages, robots.txt and sitemaps).
    fn fetching(&self) -> usize {
        self.jobs.len() - self.extracting
    }

    fn limit_reached(&self) -> bool {
        self.config()
            .max_pages
            .is_some_and(|max| self.stored_total + self.pages_in_flight >= max)
    }

    fn in_scope(&self, url: &CanonicalUrl) -> bool {
        match self.config().scope {
            Scope::Any => true,
            Scope::SeedHosts => self.scope.contains(url.host()),
        }
    }

    /// The loop. Returns whether it stopped because of `shutdown`.
    async fn drive(&mut self, shutdown: impl Future<Output = ()>) -> Result<bool, CrawlError> {
        tokio::pin!(shutdown);
        let mut stopping = false;
        let max_jobs = self.config().max_concurrent_fetches.max(1);
        loop {
            if !stopping {
                let now = Instant::now();
                while self.fetching() < max_jobs && !self.limit_reached() {
                    let Some(host) = self.hosts.pop_ready(now) else {
                        break;
                    };
                    self.dispatch(&host, now)?;
                }
            }
            let commit_due = !self.pending.is_empty()
                && (stopping
                    || self.jobs.is_empty()
                    || self.pending.len() >= COMMIT_BATCH
                    || self.last_commit.elapsed() >= COMMIT_INTERVAL);
            if commit_due {
                self.commit()?;
                continue;
            }
            let dispatching = !stopping && !self.limit_reached();
            // A worker of a shared crawl waits for work until the whole crawl has none.
            let shared_busy = dispatching
                && self
                    .shared
                    .as_ref()
                    .is_some_and(|shared| !shared.drained.load(Ordering::Relaxed));
            if self.jobs.is_empty() && (!dispatching || self.hosts.is_idle()) && !shared_busy {
                break;
            }
            let mut wake = if dispatching && self.fetching() < max_jobs {
                self.hosts.next_wakeup()
            } else {
                None
            };
            if !self.pending.is_empty() {
                let due = self.last_commit + COMMIT_INTERVAL;
                wake = Some(wake.map_or(due, |w| w.min(due)));
            }
            if shared_busy {
                // Look again at whether the shared crawl has run dry.
                let due = Instant::now() + SHARED_POLL;
                wake = Some(wake.map_or(due, |w| w.min(due)));
            }
            let sleep_until = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    info!(in_flight = self.jobs.len(), "stopping: in-flight fetches stay queued for the next run");
                    stopping = true;
                    self.jobs.abort_all();
                    self.extracting = 0;
                }
                Some(joined) = self.jobs.join_next(), if !self.jobs.is_empty() => match joined {
                    Ok(output) => self.on_output(output)?,
                    Err(error) if error.is_cancelled() => {}
                    Err(_) => return Err(CrawlError::TaskPanicked),
                },
                Some(batch) = next_shared(&mut self.shared), if dispatching && self.shared.is_some() => {
                    self.admit(batch)?;
                }
                () = tokio::time::sleep_until(sleep_until.into()), if wake.is_some() => {}
            }
        }
        self.commit()?;
        self.writer.sync()?;
        Ok(stopping)
    }

    /// Takes URLs pulled from the shared frontier into the local working set. One already
    /// finished here (a redelivery), or refused by the URL limits, is acknowledged at once.
    fn admit(&mut self, urls: Vec<NewUrl>) -> Result<(), CrawlError> {
        let delay = self.base_delay();
        let mut fresh = Vec::new();
        for new in urls {
            match self.crawler.frontier.url_state(new.url.as_str())? {
                None => fresh.push(new),
                Some(state) if state == UrlState::Queued as u8 => {}
                Some(_) => self.acknowledge_unfetched(&new),
            }
        }
        for host_key in self.crawler.frontier.enqueue(&fresh)? {
            self.hosts.schedule(&host_key, delay);
        }
        for new in &fresh {
            if self.crawler.frontier.url_state(new.url.as_str())?.is_none() {
                CrawlCounters::bump(&self.crawler.counters.trap_limited);
                self.acknowledge_unfetched(new);
            }
        }
        let queued = self.crawler.frontier.stats()?.queued;
        self.crawler
            .counters
            .queued
            .store(queued, Ordering::Relaxed);
        Ok(())
    }

    fn acknowledge_unfetched(&self, new: &NewUrl) {
        if let Some(shared) = &self.shared {
            let _ = shared.outcomes.send(Outcome::Done {
                url: new.url.as_str().to_owned(),
                discovered: Vec::new(),
            });
        }
    }

    /// Makes pending outcomes durable: page store first, then the frontier.
    fn commit(&mut self) -> Result<(), CrawlError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.writer.sync()?;
        // A worker of a shared crawl publishes what it found instead of queueing it.
        let discovered: Vec<Vec<NewUrl>> = match &self.shared {
            Some(_) => self
                .pending
                .iter_mut()
                .map(|done| std::mem::take(&mut done.discovered))
                .collect(),
            None => Vec::new(),
        };
        let committed = self.crawler.frontier.complete(&self.pending)?;
        CrawlCounters::add(&self.crawler.counters.trap_limited, committed.limited);
        if let Some(shared) = &self.shared {
            for (done, discovered) in self.pending.iter().zip(discovered) {
                let url = done.entry.url.as_str().to_owned();
                let outcome = match &done.disposition {
                    Disposition::Done(_) => Outcome::Done { url, discovered },
                    Disposition::Retry { .. } => continue,
                    Disposition::Dead { kind, message } => Outcome::Dead(DeadLetter {
                        url,
                        host_key: done.entry.host_key.clone(),
                        kind: kind.clone(),
                        message: message.clone(),
                        attempts: done.entry.attempts + 1,
                        at_unix: now_ms() / 1000,
                        depth: done.entry.depth,
                    }),
                };
                let _ = shared.outcomes.send(outcome);
            }
        }
        for done in self.pending.drain(..) {
            self.hosts.release(&done.entry.host_key, done.entry.seq);
        }
        let delay = self.base_delay();
        for host in committed.hosts {
            self.hosts.schedule(&host, delay);
        }
        let queued = self.crawler.frontier.stats()?.queued;
        self.crawler
            .counters
            .queued
            .store(queued, Ordering::Relaxed);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The next URL of `host` that may be fetched now. When only retries that are not due
    /// remain, the host is rescheduled for the first of them and `None` is returned.
    fn next_due(&mut self, host: &str, delay: Duration) -> Result<Option<QueuedUrl>, CrawlError> {
        let state = self.hosts.state(host, delay);
        match self
            .crawler
            .frontier
            .next_for_host(host, &state.taken, now_ms())?
        {
            NextUrl::Ready(entry) => Ok(Some(entry)),
            NextUrl::Later { at_ms } => {
                state.next_allowed = state.next_allowed.max(instant_at(at_ms));
                self.hosts.schedule(host, delay);
                Ok(None)
            }
            NextUrl::Empty => Ok(None),
        }
    }

    /// Whether `host`'s IP address is at its connection limit or within its delay; if so,
    /// the host is put back on the schedule for when it may be free.
    fn ip_busy(&mut self, host: &str, now: Instant, delay: Duration) -> bool {
        let max = self.max_ip_connections();
        let Some(until) = self.hosts.ip_busy_until(host, now, max, self.ip_delay()) else {
            return false;
        };
        let state = self.hosts.state(host, delay);
        state.next_allowed = state.next_allowed.max(until);
        self.hosts.schedule(host, delay);
        true
    }

    /// Starts the next fetch for `host`, if its robots.txt and connection limit allow.
    fn dispatch(&mut self, host: &str, now: Instant) -> Result<(), CrawlError> {
        let delay = self.base_delay();
        let max_connections = self.max_connections();
        let state = self.hosts.state(host, delay);
        if state.in_flight >= max_connections {
            return Ok(()); // rescheduled when a fetch of this host completes
        }
        let robots = match &state.robots {
            RobotsState::Ready { robots, expires } if *expires > now => robots.clone(),
            RobotsState::Fetching => return Ok(()),
            RobotsState::Unavailable { retry_at } if *retry_at > now => {
                state.next_allowed = state.next_allowed.max(*retry_at);
                self.hosts.schedule(host, delay);
                return Ok(());
            }
            _ => {
                let Some(entry) = self.next_due(host, delay)? else {
                    return Ok(());
                };
                let state = self.hosts.state(host, delay);
                if state.ip.is_none() {
                    state.ip = literal_ip(entry.url.as_url());
                }
                if self.ip_busy(host, now, delay) {
                    return Ok(());
                }
                self.hosts.state(host, delay).robots = RobotsState::Fetching;
                let counted_ip = self.hosts.fetch_started(host, now, delay, self.ip_delay());
                let fetcher = self.crawler.fetcher.clone();
                let host = host.to_string();
                let mut origin = entry.url.as_url().clone();
                origin.set_path("/");
                origin.set_query(None);
                self.jobs.spawn(async move {
                    let (response, ip) = fetcher.fetch_robots(entry.url.as_url()).await;
                    JobOutput::Robots {
                        host,
                        response,
                        ip,
                        counted_ip,
                        origin,
                    }
                });
                return Ok(());
            }
        };
        if self.ip_busy(host, now, delay) {
            return Ok(());
        }
        let ip_delay = self.ip_delay();
        let token = self.crawler.config.user_agent_token.clone();
        if let Some(url) = self
            .sitemaps
            .get_mut(host)
            .and_then(SitemapWalker::next_fetch)
        {
            if !robots.is_allowed(&token, url.as_str()) {
                if let Some(walker) = self.sitemaps.get_mut(host) {
                    walker.on_response(&url, 403, None, b"");
                }
                self.hosts.schedule(host, delay);
                return Ok(());
            }
            let counted_ip = self.hosts.fetch_started(host, now, delay, ip_delay);
            let fetcher = self.crawler.fetcher.clone();
            let host = host.to_string();
            let max_bytes = SitemapLimits::default().max_bytes;
            self.jobs.spawn(async move {
                let result = fetcher.fetch_sitemap(&url, max_bytes).await;
                JobOutput::Sitemap {
                    host,
                    url,
                    result,
                    counted_ip,
                }
            });
            return Ok(());
        }
        for _ in 0..MAX_DENIED_PER_DISPATCH {
            let Some(entry) = self.next_due(host, delay)? else {
                return Ok(());
            };
            let state = self.hosts.state(host, delay);
            state.taken.insert(entry.seq);
            if !robots.is_allowed(&token, entry.url.as_str()) {
                debug!(url = %entry.url, "disallowed by robots.txt");
                CrawlCounters::bump(&self.crawler.counters.robots_denied);
                self.pending
                    .push(Completion::new(entry, Disposition::Done(UrlState::Skipped)));
                continue;
            }
            let previous = self
                .crawler
                .frontier
                .fetch_record(entry.url.as_str())?
                .map(Box::new);
            let counted_ip = self.hosts.fetch_started(host, now, delay, ip_delay);
            let more_connections = self.hosts.state(host, delay).in_flight < max_connections;
            self.pages_in_flight += 1;
            self.crawler
                .counters
                .in_flight
                .fetch_add(1, Ordering::Relaxed);
            let fetcher = self.crawler.fetcher.clone();
            self.jobs
                .spawn(fetch_page_job(fetcher, entry, counted_ip, previous));
            if more_connections {
                self.hosts.schedule(host, delay);
            }
            return Ok(());
        }
        self.hosts.schedule(host, delay);
        Ok(())
    }

    fn on_output(&mut self, output: JobOutput) -> Result<(), CrawlError> {
        match output {
            JobOutput::Robots {
                host,
                response,
                ip,
                counted_ip,
                origin,
            } => {
                self.on_robots(&host, response, counted_ip, ip);
                self.start_sitemaps(&host, &origin);
                Ok(())
            }
            JobOutput::Sitemap {
                host,
                url,
                result,
                counted_ip,
            } => self.on_sitemap(&host, &url, result, counted_ip),
            JobOutput::Fetched {
                entry,
                result,
                counted_ip,
                previous,
            } => self.on_fetched(entry, result, counted_ip, previous),
            JobOutput::Extracted {
                entry,
                result,
                links,
                previous,
            } => {
                self.extracting -= 1;
                self.on_page(entry, *result, links, previous.map(|p| *p))
            }
        }
    }

    /// Starts the sitemap walk of `host` (once per run) when its robots.txt is known.
    fn start_sitemaps(&mut self, host: &str, origin: &url::Url) {
        if !self.config().sitemaps || !self.sitemaps_started.insert(host.to_string()) {
            return;
        }
        let state = self.hosts.state(host, self.base_delay());
        let RobotsState::Ready { robots, .. } = &state.robots else {
            self.sitemaps_started.remove(host);
            return;
        };
        let listed: Vec<String> = robots.sitemaps().to_vec();
        let limits = SitemapLimits {
            max_files: self.config().max_sitemaps_per_host,
            max_pages: usize::try_from(self.config().max_urls_per_host).unwrap_or(usize::MAX),
            ..SitemapLimits::default()
        };
        self.sitemaps.insert(
            host.to_string(),
            SitemapWalker::new(origin, &listed, limits),
        );
    }

    /// A sitemap answered: its pages are queued (in scope, not traps) at depth 1.
    fn on_sitemap(
        &mut self,
        host: &str,
        url: &url::Url,
        result: Result<(u16, Option<String>, Vec<u8>), FetchError>,
        counted_ip: Option<std::net::IpAddr>,
    ) -> Result<(), CrawlError> {
        let delay = self.base_delay();
        let ip_delay = self.ip_delay();
        self.hosts
            .fetch_finished(host, counted_ip, None, delay, ip_delay);
        let counters = self.crawler.counters.clone();
        CrawlCounters::bump(&counters.sitemaps_fetched);
        let Some(walker) = self.sitemaps.get_mut(host) else {
            return Ok(());
        };
        match &result {
            Ok((status, location, body)) => {
                walker.on_response(url, *status, location.as_deref(), body);
            }
            Err(error) => {
                debug!(%url, %error, "sitemap fetch failed");
                walker.on_response(url, 599, None, b"");
            }
        }
        let pages = walker.take_pages();
        if walker.next_fetch().is_none() {
            self.sitemaps.remove(host);
        }
        CrawlCounters::add(&counters.sitemap_urls, pages.len() as u64);
        let policy = self.crawler.policy.clone();
        let urls: Vec<CanonicalUrl> = pages
            .iter()
            .filter_map(|page| policy.canonicalize(&page.url))
            .collect();
        let discovered = self.follow(urls, 1, 0);
        if let Some(shared) = &self.shared {
            if !discovered.is_empty() {
                let _ = shared.outcomes.send(Outcome::Discovered(discovered));
            }
        } else if !discovered.is_empty() {
            for host_key in self.crawler.frontier.enqueue(&discovered)? {
                self.hosts.schedule(&host_key, delay);
            }
        }
        self.hosts.schedule(host, delay);
        Ok(())
    }

    fn on_robots(
        &mut self,
        host: &str,
        response: RobotsResponse,
        counted_ip: Option<std::net::IpAddr>,
        reached_ip: Option<std::net::IpAddr>,
    ) {
        let now = Instant::now();
        let base = self.base_delay();
        let ip_delay = self.ip_delay();
        let ttl = Duration::from_secs(self.config().robots_ttl_secs);
        let max_crawl_delay = Duration::from_millis(self.config().max_crawl_delay_ms);
        let token = self.config().user_agent_token.clone();
        let state = self.hosts.state(host, base);
        let ready = |robots: Robots, expires| RobotsState::Ready {
            robots: Arc::new(robots),
            expires,
        };
        state.robots = match response {
            RobotsResponse::Found(body) => {
                state.robots_failures = 0;
                ready(Robots::parse(&body), now + ttl)
            }
            // A refused host's page fetches are refused (and counted) by the same guard.
            RobotsResponse::Missing | RobotsResponse::Refused => {
                state.robots_failures = 0;
                ready(Robots::allow_all(), now + ttl)
            }
            RobotsResponse::Unavailable(reason) => {
                state.robots_failures += 1;
                warn!(host, %reason, failures = state.robots_failures, "robots.txt unavailable");
                if state.robots_failures >= ROBOTS_MAX_FAILURES {
                    ready(Robots::disallow_all(), now + ROBOTS_UNAVAILABLE_TTL)
                } else {
                    let retry_at = now + ROBOTS_RETRY_DELAY;
                    state.next_allowed = state.next_allowed.max(retry_at);
                    RobotsState::Unavailable { retry_at }
                }
            }
        };
        if let RobotsState::Ready { robots, .. } = &state.robots {
            let crawl_delay = robots
                .crawl_delay(&token)
                .unwrap_or_default()
                .min(max_crawl_delay);
            state.min_delay = base.max(crawl_delay);
            state.delay = state.delay.max(state.min_delay);
        }
        self.hosts
            .fetch_finished(host, counted_ip, reached_ip, base, ip_delay);
        self.hosts.schedule(host, base);
    }

    /// A page's response is in: the host's connection is free for its next fetch, and an
    /// HTML page goes on to link extraction.
    fn on_fetched(
        &mut self,
        entry: QueuedUrl,
        result: Box<Result<PageResponse, FetchError>>,
        counted_ip: Option<std::net::IpAddr>,
        previous: Option<Box<FetchRecord>>,
    ) -> Result<(), CrawlError> {
        self.page_fetch_finished(&entry.host_key, &result, counted_ip);
        let Ok(PageResponse::Html(fetched)) = &*result else {
            return self.on_page(entry, *result, PageLinks::default(), previous.map(|p| *p));
        };
        let body = fetched.body.clone();
        let content_type = fetched.header("content-type").map(str::to_string);
        let base = entry.url.as_url().clone();
        let robot_name = self.crawler.config.user_agent_token.clone();
        let policy = self.crawler.policy.clone();
        self.extracting += 1;
        self.jobs.spawn(async move {
            let links = tokio::task::spawn_blocking(move || {
                let decoded = charset::decode_html(&body, content_type.as_deref());
                extract_links(&decoded.text, &base, &robot_name, &policy)
            })
            .await
            .unwrap_or_default();
            JobOutput::Extracted {
                entry,
                result,
                links,
                previous,
            }
        });
        Ok(())
    }

    /// The politeness bookkeeping of a finished page fetch: the host's delay adapts to the
    /// response (or backs off after 429/503), its connection and IP slot are released, and
    /// it is put back on the schedule.
    fn page_fetch_finished(
        &mut self,
        host_key: &str,
        result: &Result<PageResponse, FetchError>,
        counted_ip: Option<std::net::IpAddr>,
    ) {
        let (response_time, ip) = match result {
            Ok(
                PageResponse::Html(fetched)
                | PageResponse::Status(fetched)
                | PageResponse::NotModified(fetched)
                | PageResponse::Redirect { fetched, .. }
                | PageResponse::NotHtml { fetched, .. },
            ) => (Some(fetched.elapsed), fetched.ip),
            Err(_) => (None, None),
        };
        let (retry_after, slow_down) = match result {
            Ok(PageResponse::Status(fetched)) => {
                let retry_after = fetched.header("retry-after").and_then(parse_retry_after);
                let overloaded = fetched.status == 429 || fetched.status == 503;
                (retry_after, overloaded && retry_after.is_none())
            }
            _ => (None, false),
        };
        let now = Instant::now();
        let delay = self.base_delay();
        let factor = self.config().response_time_factor;
        let max_backoff = Duration::from_millis(self.config().max_backoff_delay_ms);
        let ip_delay = self.ip_delay();
        let host_state = self.hosts.state(host_key, delay);
        if slow_down {
            // 429/503 without Retry-After: the host's delay doubles, up to a cap.
            host_state.back_off(max_backoff);
        } else if let Some(elapsed) = response_time {
            host_state.adapt(elapsed, factor);
        }
        self.hosts
            .fetch_finished(host_key, counted_ip, ip, delay, ip_delay);
        if let Some(pause) = retry_after {
            // 429/503 with Retry-After: the whole host waits, not just this URL.
            let host_state = self.hosts.state(host_key, delay);
            host_state.next_allowed = host_state.next_allowed.max(now + pause);
        }
        self.hosts.schedule(host_key, delay);
    }

    /// Stores a fetched page and records its outcome (committed with the next batch).
    fn on_page(
        &mut self,
        entry: QueuedUrl,
        result: Result<PageResponse, FetchError>,
        links: PageLinks,
        previous: Option<FetchRecord>,
    ) -> Result<(), CrawlError> {
        let counters = self.crawler.counters.clone();
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.pages_in_flight = self.pages_in_flight.saturating_sub(1);
        let mut completion = Completion::new(entry.clone(), Disposition::Done(UrlState::Skipped));
        completion.disposition = match result {
            Ok(PageResponse::Html(fetched)) => {
                let directives = x_robots_tag(&fetched.headers, &self.config().user_agent_token);
                let noindex = directives.noindex || links.meta_noindex;
                let nofollow = directives.nofollow || links.meta_nofollow;
                if !nofollow && entry.depth < self.config().max_depth {
                    completion.discovered = self.follow(links.follow, entry.depth + 1, 0);
                }
                if noindex {
                    CrawlCounters::bump(&counters.noindex);
                    // A bodiless record, so the indexer drops an earlier version.
                    let mut record = page_record(fetched);
                    record.body.clear();
                    record.headers.push((
                        quarry_pagestore::NOINDEX_HEADER.to_string(),
                        "1".to_string(),
                    ));
                    self.writer.append(record)?;
                    Disposition::Done(UrlState::Skipped)
                } else {
                    completion.fetch_record = Some(fetch_record(&fetched, entry.depth));
                    let mut record = page_record(fetched);
                    if let Some(canonical) = links.canonical.filter(|canonical| {
                        self.config().follow_canonical
                            && *canonical != entry.url
                            && self.in_scope(canonical)
                    }) {
                        debug!(url = %entry.url, %canonical, "stored under its canonical URL");
                        record
                            .headers
                            .push(("X-Crawler-Fetched-Url".to_string(), record.url.clone()));
                        record.url = canonical.to_string();
                        completion.stored_as = Some(canonical);
                        CrawlCounters::bump(&counters.canonicalized);
                    }
                    let bytes = record.body.len() as u64;
                    self.writer.append(record)?;
                    counters.stored_bytes.fetch_add(bytes, Ordering::Relaxed);
                    CrawlCounters::bump(&counters.stored);
                    if previous.is_none() {
                        self.stored_total += 1;
                    }
                    Disposition::Done(UrlState::Stored)
                }
            }
            Ok(PageResponse::NotModified(fetched)) => {
                // The stored copy is still current; only the fetch time moves.
                let mut record = previous.clone().unwrap_or_default();
                record.fetched_ms = now_ms();
                if let Some(etag) = fetched.header("etag") {
                    record.etag = Some(etag.to_string());
                }
                completion.fetch_record = Some(record);
                CrawlCounters::bump(&counters.not_modified);
                Disposition::Done(UrlState::Stored)
            }
            Ok(PageResponse::Redirect { fetched, location }) => {
                self.writer.append(page_record(fetched))?;
                CrawlCounters::bump(&counters.redirected);
                let target = location
                    .and_then(|loc| self.config().url_policy.resolve(entry.url.as_url(), &loc));
                if let Some(target) = target {
                    if entry.redirects + 1 > self.config().max_redirects {
                        CrawlCounters::bump(&counters.too_many_redirects);
                    } else {
                        completion.discovered =
                            self.follow(vec![target], entry.depth, entry.redirects + 1);
                    }
                }
                Disposition::Done(UrlState::Redirected)
            }
            Ok(PageResponse::NotHtml { content_type, .. }) => {
                debug!(url = %entry.url, content_type, "not HTML; skipped");
                CrawlCounters::bump(&counters.not_html);
                Disposition::Done(UrlState::Skipped)
            }
            Ok(PageResponse::Status(fetched)) => {
                debug!(url = %entry.url, status = fetched.status, "HTTP error status");
                let status = fetched.status;
                let retry_after = fetched.header("retry-after").and_then(parse_retry_after);
                self.writer.append(page_record(fetched))?;
                if status == 429 || (500..600).contains(&status) {
                    self.fail(
                        &entry,
                        format!("http_{status}"),
                        format!("HTTP {status}"),
                        retry_after,
                    )
                } else {
                    // Other statuses (404, 410, 403 …) are final answers, not failures.
                    CrawlCounters::bump(&counters.http_errors);
                    Disposition::Done(UrlState::Failed)
                }
            }
            Err(FetchError::TooLarge { limit_bytes }) => {
                debug!(url = %entry.url, limit_bytes, "body too large; skipped");
                CrawlCounters::bump(&counters.too_large);
                Disposition::Done(UrlState::Skipped)
            }
            Err(FetchError::AddressRefused { address }) => {
                warn!(url = %entry.url, %address, "refused non-public address");
                CrawlCounters::bump(&counters.refused_addresses);
                Disposition::Done(UrlState::Skipped)
            }
            Err(error) => {
                warn!(url = %entry.url, %error, attempts = entry.attempts + 1, "fetch failed");
                self.fail(&entry, error.kind().to_string(), error.to_string(), None)
            }
        };
        self.pending.push(completion);
        Ok(())
    }

    /// The discovered URLs worth queueing: in scope and not traps (the others are counted).
    fn follow(&self, urls: Vec<CanonicalUrl>, depth: u32, redirects: u32) -> Vec<NewUrl> {
        let counters = &self.crawler.counters;
        urls.into_iter()
            .filter(|url| {
                if !self.in_scope(url) {
                    CrawlCounters::bump(&counters.out_of_scope);
                    false
                } else if self.is_trap(url) {
                    CrawlCounters::bump(&counters.trap_limited);
                    false
                } else {
                    true
                }
            })
            .map(|url| NewUrl {
                url,
                depth,
                redirects,
            })
            .collect()
    }
    /// A failed fetch: retried after the next backoff step, or dead-lettered when the
    /// steps are used up.
    fn fail(
        &self,
        entry: &QueuedUrl,
        kind: String,
        message: String,
        retry_after: Option<Duration>,
    ) -> Disposition {
        let counters = &self.crawler.counters;
        match self.config().retry_backoff_ms.get(entry.attempts as usize) {
            Some(backoff_ms) => {
                CrawlCounters::bump(&counters.retries);
                let wait = Duration::from_millis(*backoff_ms).max(retry_after.unwrap_or_default());
                Disposition::Retry {
                    not_before_ms: now_ms() + wait.as_millis() as u64,
                }
            }
            None => {
                if kind.starts_with("http_") {
                    CrawlCounters::bump(&counters.http_errors);
                } else {
                    CrawlCounters::bump(&counters.network_errors);
                }
                CrawlCounters::bump(&counters.dead_letters);
                Disposition::Dead { kind, message }
            }
        }
    }
}

/// The address of an IP-literal URL (`http://127.0.0.2:8080/`).
fn literal_ip(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

/// The `Instant` of a Unix time in ms (now, if it is in the past).
fn instant_at(unix_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now_ms()))
}

/// Longest `Retry-After` honoured: a server cannot park a host for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as delay-seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate_to_unix(value)?;
            Duration::from_secs(at.saturating_sub(now_ms() / 1000))
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn httpdate_to_unix(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// Fetches one page and, for HTML, extracts its links off the async workers.
async fn fetch_page_job(
    fetcher: Arc<Fetcher>,
    entry: QueuedUrl,
    counted_ip: Option<std::net::IpAddr>,
    previous: Option<Box<FetchRecord>>,
) -> JobOutput {
    let result = fetcher.fetch_page(&entry.url, previous.as_deref()).await;
    JobOutput::Fetched {
        entry,
        result: Box::new(result),
        counted_ip,
        previous,
    }
}

/// The fetch record kept for a stored page: now, its depth, and its validators.
fn fetch_record(fetched: &Fetched, depth: u32) -> FetchRecord {
    FetchRecord {
        fetched_ms: now_ms(),
        depth,
        etag: fetched.header("etag").map(str::to_string),
        last_modified: fetched.header("last-modified").map(str::to_string),
    }
}

/// Whether a URL path is a likely crawler trap: more than `max_segments` segments, or a
/// run of one to four segments repeated three times in a row (`/a/b/a/b/a/b`,
/// `/x/x/x`), which is how relative links on misconfigured servers grow forever.
fn path_is_trap(path: &str, max_segments: usize) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() > max_segments {
        return true;
    }
    (1..=4).any(|run| {
        segments.len() >= run * 3
            && (0..=segments.len() - run * 3).any(|start| {
                let first = &segments[start..start + run];
                first == &segments[start + run..start + 2 * run]
                    && first == &segments[start + 2 * run..start + 3 * run]
            })
    })
}

/// The page-store record of a response. The body was content-decoded and de-chunked by
/// the client; the page store renames the headers that no longer describe it.
fn page_record(fetched: Fetched) -> PageRecord {
    PageRecord {
        url: fetched.url.to_string(),
        fetched_at: SystemTime::now(),
        status: fetched.status,
        headers: fetched.headers,
        body: fetched.body,
        ip: fetched.ip,
        request_headers: fetched.request_headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn repeated_path_segments_are_traps() {
        for trap in ["/a/b/a/b/a/b", "/x/x/x", "/p/a/b/c/a/b/c/a/b/c/q"] {
            assert!(path_is_trap(trap, 32), "{trap}");
        }
        for fine in ["/", "/a/b/a/b", "/docs/2024/01/02", "/a/a/b/b/c/c", "/x/x/"] {
            assert!(!path_is_trap(fine, 32), "{fine}");
        }
        let deep: String = (0..10).map(|i| format!("/d{i}")).collect();
        assert!(path_is_trap(&deep, 8));
        assert!(!path_is_trap(&deep, 32));
    }
}
