//! The durable frontier: seen-set, per-host queues and crawl counters in one redb file.
//!
//! Invariants:
//! - a URL enters the seen-set exactly once; it is queued at most once in its life;
//! - a queue entry is removed only by [`Frontier::complete`], in the same transaction that
//!   records its outcome and queues the links it yielded. A crawl killed at any moment
//!   therefore restarts with every URL whose completion was not committed still queued:
//!   nothing is lost, and only those URLs are fetched again;
//! - commits use redb's default `Durability::Immediate` (fsync before `commit` returns),
//!   which kept every committed batch under kill -9 in our measurements.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::canonical::CanonicalUrl;

/// url → [`UrlState`] code.
const SEEN: TableDefinition<&str, u8> = TableDefinition::new("seen");
/// (host key, sequence) → encoded [`QueuedUrl`] payload.
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
/// host key → number of queued URLs.
const HOSTS: TableDefinition<&str, u64> = TableDefinition::new("hosts");
/// Host names in scope (those of the seeds).
const SCOPE: TableDefinition<&str, ()> = TableDefinition::new("scope");
/// Counters.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// url → JSON [`DeadLetter`]: URLs whose fetch kept failing.
const DEAD: TableDefinition<&str, &[u8]> = TableDefinition::new("dead");
/// url → encoded [`FetchRecord`] of a stored page: when, at what depth, and the validators
/// for a conditional refetch.
const FETCHED: TableDefinition<&str, &[u8]> = TableDefinition::new("fetched");
/// host key → URLs ever queued for it (for [`UrlLimits::max_per_host`]).
const HOST_URLS: TableDefinition<&str, u64> = TableDefinition::new("host_urls");
/// `host key + path` → URLs with a query string ever queued for it (for
/// [`UrlLimits::max_query_variants`]).
const QUERY_VARIANTS: TableDefinition<&str, u64> = TableDefinition::new("query_variants");

const NEXT_SEQ: &str = "next_seq";
/// redb's page cache (its default is 1 GiB): the frontier lives on disk, memory holds a
/// bounded working set.
const CACHE_BYTES: usize = 64 << 20;
const STORED_PAGES: &str = "stored_pages";

/// Errors of the frontier store.
#[derive(Debug, thiserror::Error)]
pub enum FrontierError {
    /// The database file could not be opened or written.
    #[error("frontier database {path}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// An entry of the queue does not decode.
    #[error("frontier queue entry for {host} #{seq} is corrupt")]
    CorruptEntry {
        /// Its host key.
        host: String,
        /// Its sequence number.
        seq: u64,
    },
}

/// The life of a URL in the seen-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum UrlState {
    /// Waiting to be fetched.
    Queued = 0,
    /// Fetched and stored in the page store.
    Stored = 1,
    /// Answered with a redirect, whose target was queued.
    Redirected = 2,
    /// Not fetched or not stored by policy (robots.txt, not HTML, noindex, too large …).
    Skipped = 3,
    /// The fetch failed.
    Failed = 4,
}

/// A URL waiting in a host queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedUrl {
    /// Politeness key of its host.
    pub host_key: String,
    /// Position in the host's queue.
    pub seq: u64,
    /// The URL.
    pub url: CanonicalUrl,
    /// Links followed from a seed to get here.
    pub depth: u32,
    /// Redirect hops followed to get here.
    pub redirects: u32,
    /// Failed fetches so far.
    pub attempts: u32,
    /// Not to be fetched before this time (Unix ms); 0 for new URLs.
    pub not_before_ms: u64,
}

/// What the frontier holds next for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextUrl {
    /// A URL that may be fetched now.
    Ready(QueuedUrl),
    /// Only retries that are not due yet; the first is due at this time (Unix ms).
    Later {
        /// When the first one is due.
        at_ms: u64,
    },
    /// Nothing (besides entries already taken).
    Empty,
}

/// A URL whose fetch kept failing, kept for `quarry errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// The URL.
    pub url: String,
    /// Politeness key of its host.
    pub host_key: String,
    /// Kind of the last error (`timeout`, `connect`, `http_503`, …).
    pub kind: String,
    /// The last error, for people.
    pub message: String,
    /// Fetches tried.
    pub attempts: u32,
    /// When it was given up (Unix seconds).
    pub at_unix: u64,
    /// Its depth.
    pub depth: u32,
}

/// What to do with a completed queue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Finished in this state.
    Done(UrlState),
    /// Failed; fetch it again after `not_before_ms` (Unix ms).
    Retry {
        /// When the retry is due.
        not_before_ms: u64,
    },
    /// Failed for the last time: move it to the dead-letter list.
    Dead {
        /// Error kind.
        kind: String,
        /// Error message.
        message: String,
    },
}

/// A URL to add to the frontier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUrl {
    /// The URL.
    pub url: CanonicalUrl,
    /// Its depth.
    pub depth: u32,
    /// Redirect hops that led to it.
    pub redirects: u32,
}

/// The outcome of one queued URL, to commit.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The entry as it was taken from the queue.
    pub entry: QueuedUrl,
    /// What happens to it.
    pub disposition: Disposition,
    /// URLs it led to (links, redirect target).
    pub discovered: Vec<NewUrl>,
    /// For a stored (or revalidated) page: its fetch record, kept for recrawling.
    pub fetch_record: Option<FetchRecord>,
    /// The `<link rel=canonical>` URL the page was stored under: marked as stored so it is
    /// not fetched again.
    pub stored_as: Option<CanonicalUrl>,
}

impl Completion {
    /// An outcome with nothing discovered and nothing else to record.
    pub fn new(entry: QueuedUrl, disposition: Disposition) -> Completion {
        Completion {
            entry,
            disposition,
            discovered: Vec::new(),
            fetch_record: None,
            stored_as: None,
        }
    }
}

/// When a stored page was fetched, and how to ask whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchRecord {
    /// Fetch time (Unix ms).
    pub fetched_ms: u64,
    /// Its depth (kept so a refetch follows links with the same budget).
    pub depth: u32,
    /// The `ETag` header, if any.
    pub etag: Option<String>,
    /// The `Last-Modified` header, if any.
    pub last_modified: Option<String>,
}

impl FetchRecord {
    fn encode(&self) -> Vec<u8> {
        let etag = self.etag.as_deref().unwrap_or("");
        let modified = self.last_modified.as_deref().unwrap_or("");
        let mut bytes = Vec::with_capacity(20 + etag.len() + modified.len());
        bytes.extend_from_slice(&self.fetched_ms.to_le_bytes());
        bytes.extend_from_slice(&self.depth.to_le_bytes());
        bytes.extend_from_slice(&(etag.len() as u32).to_le_bytes());
        bytes.extend_from_slice(etag.as_bytes());
        bytes.extend_from_slice(modified.as_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<FetchRecord> {
        let (fetched_ms, rest) = bytes.split_first_chunk::<8>()?;
        let (depth, rest) = rest.split_first_chunk::<4>()?;
        let (etag_len, rest) = rest.split_first_chunk::<4>()?;
        let etag_len = u32::from_le_bytes(*etag_len) as usize;
        let etag = std::str::from_utf8(rest.get(..etag_len)?).ok()?;
        let modified = std::str::from_utf8(rest.get(etag_len..)?).ok()?;
        let some = |text: &str| (!text.is_empty()).then(|| text.to_string());
        Some(FetchRecord {
            fetched_ms: u64::from_le_bytes(*fetched_ms),
            depth: u32::from_le_bytes(*depth),
            etag: some(etag),
            last_modified: some(modified),
        })
    }
}

/// Limits on what enters the frontier, against crawler traps. Checked when a URL is first
/// seen; counts are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlLimits {
    /// URLs queued per host key over the life of the crawl.
    pub max_per_host: u64,
    /// URLs with a query string queued per host key and path.
    pub max_query_variants: u64,
}

impl Default for UrlLimits {
    fn default() -> Self {
        UrlLimits {
            max_per_host: u64::MAX,
            max_query_variants: u64::MAX,
        }
    }
}

/// What a commit did to the frontier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Host keys that got new work.
    pub hosts: Vec<String>,
    /// Discovered URLs dropped by [`UrlLimits`].
    pub limited: u64,
}

/// Sizes of the frontier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrontierStats {
    /// URLs ever seen.
    pub seen: u64,
    /// URLs waiting.
    pub queued: u64,
    /// Hosts with waiting URLs.
    pub hosts: u64,
    /// Pages stored so far (all runs).
    pub stored_pages: u64,
}

fn encode(depth: u32, redirects: u32, attempts: u32, not_before_ms: u64, url: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(20 + url.len());
    bytes.extend_from_slice(&depth.to_le_bytes());
    bytes.extend_from_slice(&redirects.to_le_bytes());
    bytes.extend_from_slice(&attempts.to_le_bytes());
    bytes.extend_from_slice(&not_before_ms.to_le_bytes());
    bytes.extend_from_slice(url.as_bytes());
    bytes
}

fn decode(host: &str, seq: u64, bytes: &[u8]) -> Result<QueuedUrl, FrontierError> {
    let corrupt = || FrontierError::CorruptEntry {
        host: host.to_string(),
        seq,
    };
    let (depth, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (redirects, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (attempts, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (not_before, url) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let url = std::str::from_utf8(url)
        .ok()
        .and_then(CanonicalUrl::from_stored)
        .ok_or_else(corrupt)?;
    Ok(QueuedUrl {
        host_key: host.to_string(),
        seq,
        url,
        depth: u32::from_le_bytes(*depth),
        redirects: u32::from_le_bytes(*redirects),
        attempts: u32::from_le_bytes(*attempts),
        not_before_ms: u64::from_le_bytes(*not_before),
    })
}

/// Takes the next sequence number.
fn next_seq(meta: &mut redb::Table<&str, u64>) -> Result<u64, redb::Error> {
    let seq = meta.get(NEXT_SEQ)?.map_or(0, |v| v.value());
    meta.insert(NEXT_SEQ, seq + 1)?;
    Ok(seq)
}

/// The tables a queue entry touches.
struct QueueTables<'t> {
    queue: redb::Table<'t, (&'static str, u64), &'static [u8]>,
    counts: redb::Table<'t, &'static str, u64>,
    meta: redb::Table<'t, &'static str, u64>,
}

impl<'t> QueueTables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<QueueTables<'t>, redb::Error> {
        Ok(QueueTables {
            queue: txn.open_table(QUEUE)?,
            counts: txn.open_table(HOSTS)?,
            meta: txn.open_table(META)?,
        })
    }

    /// Appends an encoded entry (see [`encode`]) to the queue of `host_key`, counted.
    fn push(&mut self, host_key: &str, entry: &[u8]) -> Result<(), redb::Error> {
        let seq = next_seq(&mut self.meta)?;
        self.queue.insert((host_key, seq), entry)?;
        count_up(&mut self.counts, host_key)
    }
}

/// Adds one to the queued count of `host_key`.
fn count_up(counts: &mut redb::Table<&str, u64>, host_key: &str) -> Result<(), redb::Error> {
    let count = counts.get(host_key)?.map_or(0, |v| v.value());
    counts.insert(host_key, count + 1)?;
    Ok(())
}

/// Removes one from the queued count of `host_key`.
fn count_down(counts: &mut redb::Table<&str, u64>, host_key: &str) -> Result<(), redb::Error> {
    let left = counts
        .get(host_key)?
        .map_or(0, |v| v.value())
        .saturating_sub(1);
    if left == 0 {
        counts.remove(host_key)?;
    } else {
        counts.insert(host_key, left)?;
    }
    Ok(())
}

/// The frontier of one crawl.
pub struct Frontier {
    db: Database,
    path: PathBuf,
    limits: UrlLimits,
}

impl std::fmt::Debug for Frontier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontier")
            .field("path", &self.path)
            .finish()
    }
}

impl Frontier {
    /// Opens (or creates) the frontier database at `path`.
    ///
    /// # Errors
    /// [`FrontierError::Db`], e.g. when another crawl has it open.
    pub fn open(path: &Path) -> Result<Frontier, FrontierError> {
        let err = |e: redb::Error| FrontierError::Db {
            path: path.to_path_buf(),
            source: e,
        };
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| err(e.into()))?;
        let frontier = Frontier {
            db,
            path: path.to_path_buf(),
            limits: UrlLimits::default(),
        };
        // Create every table so read transactions never meet a missing one.
        frontier.write(|txn| {
            txn.open_table(SEEN)?;
            txn.open_table(QUEUE)?;
            txn.open_table(HOSTS)?;
            txn.open_table(SCOPE)?;
            txn.open_table(META)?;
            txn.open_table(DEAD)?;
            txn.open_table(FETCHED)?;
            txn.open_table(HOST_URLS)?;
            txn.open_table(QUERY_VARIANTS)?;
            Ok(())
        })?;
        Ok(frontier)
    }

    /// Sets the limits applied to URLs entering the frontier from now on.
    pub fn set_limits(&mut self, limits: UrlLimits) {
        self.limits = limits;
    }

    fn db_error(&self, source: impl Into<redb::Error>) -> FrontierError {
        FrontierError::Db {
            path: self.path.clone(),
            source: source.into(),
        }
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, FrontierError> {
        let txn = self.db.begin_write().map_err(|e| self.db_error(e))?;
        let value = f(&txn).map_err(|e| self.db_error(e))?;
        txn.commit().map_err(|e| self.db_error(e))?;
        Ok(value)
    }

    /// Adds URLs not seen before to their host queues, durably. Returns the host keys that
    /// got new work.
    ///
    /// # Errors
    /// [`FrontierError::Db`].
    pub fn enqueue(&self, urls: &[NewUrl]) -> Result<Vec<String>, FrontierError> {
        self.write(|txn| {
            let mut hosts = HashSet::new();
            enqueue_in(txn, urls, &mut hosts, &self.limits)?;
            Ok(hosts.into_iter().collect())
        })
    }

    /// Whether `url` was seen, and its state's code ([`UrlState`] as `u8`); `None` if never
    /// seen (or dropped by the [`UrlLimits`] when it was).
    pub fn url_state(&self, url: &str) -> Result<Option<u8>, FrontierError> {
        let read = || -> Result<Option<u8>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(SEEN)?;
            Ok(table.get(url)?.map(|value| value.value()))
        };
        read().map_err(|e| self.db_error(e))
    }

    /// The fetch record of a stored page, if it has one.
    pub fn fetch_record(&self, url: &str) -> Result<Option<FetchRecord>, FrontierError> {
        let read = || -> Result<Option<FetchRecord>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(FETCHED)?;
            Ok(table
                .get(url)?
                .and_then(|value| FetchRecord::decode(value.value())))
        };
        read().map_err(|e| self.db_error(e))
    }

    /// Queues again every stored page fetched before `cutoff_ms` (Unix ms), for a
    /// conditional refetch. Returns how many were queued.
    ///
    /// # Errors
    /// [`FrontierError::Db`].
    pub fn requeue_stale(&self, cutoff_ms: u64) -> Result<u64, FrontierError> {
        self.write(|txn| {
            let fetched = txn.open_table(FETCHED)?;
            let mut seen = txn.open_table(SEEN)?;
            let mut tables = QueueTables::open(txn)?;
            let mut requeued = 0;
            for entry in fetched.iter()? {
                let (key, value) = entry?;
                let Some(record) = FetchRecord::decode(value.value()) else {
                    continue;
                };
                let url = key.value();
                let stored = seen
                    .get(url)?
                    .is_some_and(|state| state.value() == UrlState::Stored as u8);
                if record.fetched_ms >= cutoff_ms || !stored {
                    continue;
                }
                let Some(canonical) = CanonicalUrl::from_stored(url) else {
                    continue;
                };
                seen.insert(url, UrlState::Queued as u8)?;
                tables.push(&canonical.host_key(), &encode(record.depth, 0, 0, 0, url))?;
                requeued += 1;
            }
            Ok(requeued)
        })
    }

    /// Records host names as in scope.
    pub fn add_scope_hosts<'a>(
        &self,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), FrontierError> {
        self.write(|txn| {
            let mut table = txn.open_table(SCOPE)?;
            for host in hosts {
                table.insert(host, ())?;
            }
            Ok(())
        })
    }

    /// Every key of a table whose keys are strings.
    fn string_keys<V: redb::Value + 'static, C: FromIterator<String>>(
        &self,
        table: TableDefinition<&str, V>,
    ) -> Result<C, FrontierError> {
        let read = || -> Result<C, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(table)?;
            table
                .iter()?
                .map(|entry| Ok(entry?.0.value().to_string()))
                .collect()
        };
        read().map_err(|e| self.db_error(e))
    }

    /// Host names in scope.
    pub fn scope_hosts(&self) -> Result<HashSet<String>, FrontierError> {
        self.string_keys(SCOPE)
    }

    /// Host keys that have queued URLs.
    pub fn hosts_with_work(&self) -> Result<Vec<String>, FrontierError> {
        self.string_keys(HOSTS)
    }

    /// The first queued URL of `host_key` that is due at `now_ms` and whose sequence
    /// number is not in `taken` (entries being fetched or awaiting commit).
    pub fn next_for_host(
        &self,
        host_key: &str,
        taken: &HashSet<u64>,
        now_ms: u64,
    ) -> Result<NextUrl, FrontierError> {
        let read = || -> Result<Result<NextUrl, FrontierError>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(QUEUE)?;
            let mut later: Option<u64> = None;
            for entry in table.range((host_key, 0u64)..=(host_key, u64::MAX))? {
                let (key, value) = entry?;
                let (_, seq) = key.value();
                if taken.contains(&seq) {
                    continue;
                }
                let queued = match decode(host_key, seq, value.value()) {
                    Ok(queued) => queued,
                    Err(error) => return Ok(Err(error)),
                };
                if queued.not_before_ms <= now_ms {
                    return Ok(Ok(NextUrl::Ready(queued)));
                }
                later = Some(later.map_or(queued.not_before_ms, |at| at.min(queued.not_before_ms)));
            }
            Ok(Ok(
                later.map_or(NextUrl::Empty, |at_ms| NextUrl::Later { at_ms })
            ))
        };
        read().map_err(|e| self.db_error(e))?
    }

    /// Commits a batch of outcomes in one durable transaction: removes their queue
    /// entries, records their state, puts retries back in their host queue, moves dead
    /// ones to the dead-letter list, queues the URLs they led to that were never seen,
    /// and counts stored pages. Returns the host keys that got new work.
    ///
    /// # Errors
    /// [`FrontierError::Db`]; on error nothing of the batch is applied.
    pub fn complete(&self, batch: &[Completion]) -> Result<Committed, FrontierError> {
        self.write(|txn| {
            let mut hosts = HashSet::new();
            let mut stored = 0;
            {
                let mut tables = QueueTables::open(txn)?;
                let mut seen = txn.open_table(SEEN)?;
                let mut dead = txn.open_table(DEAD)?;
                let mut fetched = txn.open_table(FETCHED)?;
                for done in batch {
                    let entry = &done.entry;
                    let host = entry.host_key.as_str();
                    if tables.queue.remove((host, entry.seq))?.is_some() {
                        count_down(&mut tables.counts, host)?;
                    }
                    let url = entry.url.as_str();
                    if let Some(alias) = &done.stored_as
                        && seen.get(alias.as_str())?.is_none()
                    {
                        seen.insert(alias.as_str(), UrlState::Stored as u8)?;
                    }
                    match &done.disposition {
                        Disposition::Done(state) => {
                            seen.insert(url, *state as u8)?;
                            // A refetch of a page stored before is not a new page.
                            let new_page = fetched.get(url)?.is_none();
                            stored += u64::from(*state == UrlState::Stored && new_page);
                            if let Some(record) = &done.fetch_record {
                                fetched.insert(url, record.encode().as_slice())?;
                            }
                        }
                        Disposition::Retry { not_before_ms } => {
                            let bytes = encode(
                                entry.depth,
                                entry.redirects,
                                entry.attempts + 1,
                                *not_before_ms,
                                url,
                            );
                            tables.push(host, &bytes)?;
                            hosts.insert(entry.host_key.clone());
                        }
                        Disposition::Dead { kind, message } => {
                            seen.insert(url, UrlState::Failed as u8)?;
                            let letter = DeadLetter {
                                url: url.to_string(),
                                host_key: entry.host_key.clone(),
                                kind: kind.clone(),
                                message: message.clone(),
                                attempts: entry.attempts + 1,
                                at_unix: now_ms() / 1000,
                                depth: entry.depth,
                            };
                            let json = serde_json::to_vec(&letter).unwrap_or_default();
                            dead.insert(url, json.as_slice())?;
                        }
                    }
                }
            }
            let discovered: Vec<NewUrl> = batch
                .iter()
                .flat_map(|done| done.discovered.iter().cloned())
                .collect();
            let limited = enqueue_in(txn, &discovered, &mut hosts, &self.limits)?;
            if stored > 0 {
                let mut meta = txn.open_table(META)?;
                let total = meta.get(STORED_PAGES)?.map_or(0, |v| v.value()) + stored;
                meta.insert(STORED_PAGES, total)?;
            }
            Ok(Committed {
                hosts: hosts.into_iter().collect(),
                limited,
            })
        })
    }

    /// The dead-letter list.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, FrontierError> {
        let read = || -> Result<Vec<DeadLetter>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(DEAD)?;
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (_, value) = entry?;
                // An entry that does not decode was written by another version: skip it
                // rather than refuse to list the rest.
                if let Ok(letter) = serde_json::from_slice(value.value()) {
                    out.push(letter);
                }
            }
            Ok(out)
        };
        read().map_err(|e| self.db_error(e))
    }

    /// Moves dead letters back into their host queues (all, or those whose host name is
    /// `host`), with their attempt counts reset. Returns how many were requeued.
    pub fn requeue_dead(&self, host: Option<&str>) -> Result<u64, FrontierError> {
        let letters = self.dead_letters()?;
        self.write(|txn| {
            let mut dead = txn.open_table(DEAD)?;
            let mut tables = QueueTables::open(txn)?;
            let mut seen = txn.open_table(SEEN)?;
            let mut requeued = 0;
            for letter in letters {
                let Some(url) = CanonicalUrl::from_stored(&letter.url) else {
                    continue;
                };
                if host.is_some_and(|h| !url.host().eq_ignore_ascii_case(h)) {
                    continue;
                }
                dead.remove(letter.url.as_str())?;
                tables.push(
                    &letter.host_key,
                    &encode(letter.depth, 0, 0, 0, url.as_str()),
                )?;
                seen.insert(url.as_str(), UrlState::Queued as u8)?;
                requeued += 1;
            }
            Ok(requeued)
        })
    }

    /// Current sizes.
    pub fn stats(&self) -> Result<FrontierStats, FrontierError> {
        let read = || -> Result<FrontierStats, redb::Error> {
            // Table lengths are kept in redb's B-tree headers: O(1), cheap at every commit.
            let txn = self.db.begin_read()?;
            Ok(FrontierStats {
                seen: txn.open_table(SEEN)?.len()?,
                queued: txn.open_table(QUEUE)?.len()?,
                hosts: txn.open_table(HOSTS)?.len()?,
                stored_pages: txn
                    .open_table(META)?
                    .get(STORED_PAGES)?
                    .map_or(0, |v| v.value()),
            })
        };
        read().map_err(|e| self.db_error(e))
    }
}

/// Queues the URLs never seen before, within `limits`; returns how many were dropped by
/// the limits.
fn enqueue_in(
    txn: &redb::WriteTransaction,
    urls: &[NewUrl],
    hosts: &mut HashSet<String>,
    limits: &UrlLimits,
) -> Result<u64, redb::Error> {
    let mut seen = txn.open_table(SEEN)?;
    let mut tables = QueueTables::open(txn)?;
    let mut host_urls = txn.open_table(HOST_URLS)?;
    let mut variants = txn.open_table(QUERY_VARIANTS)?;
    let mut limited = 0;
    for new in urls {
        let url = new.url.as_str();
        if seen.get(url)?.is_some() {
            continue;
        }
        let host_key = new.url.host_key();
        let per_host = host_urls.get(host_key.as_str())?.map_or(0, |v| v.value());
        if per_host >= limits.max_per_host {
            limited += 1;
            continue;
        }
        if new.url.as_url().query().is_some() {
            let path_key = format!("{host_key}{}", new.url.as_url().path());
            let count = variants.get(path_key.as_str())?.map_or(0, |v| v.value());
            if count >= limits.max_query_variants {
                limited += 1;
                continue;
            }
            variants.insert(path_key.as_str(), count + 1)?;
        }
        host_urls.insert(host_key.as_str(), per_host + 1)?;
        seen.insert(url, UrlState::Queued as u8)?;
        tables.push(&host_key, &encode(new.depth, new.redirects, 0, 0, url))?;
        hosts.insert(host_key);
    }
    Ok(limited)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(url: &str, depth: u32) -> NewUrl {
        NewUrl {
            url: CanonicalUrl::parse(url).unwrap(),
            depth,
            redirects: 0,
        }
    }

    fn ready(frontier: &Frontier, host: &str, taken: &HashSet<u64>) -> QueuedUrl {
        match frontier.next_for_host(host, taken, now_ms()).unwrap() {
            NextUrl::Ready(entry) => entry,
            other => panic!("expected a ready entry, got {other:?}"),
        }
    }

    fn done(entry: QueuedUrl, disposition: Disposition, discovered: Vec<NewUrl>) -> Completion {
        Completion {
            discovered,
            ..Completion::new(entry, disposition)
        }
    }

    #[test]
    fn urls_are_queued_once_and_completed_durably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontier.redb");
        let frontier = Frontier::open(&path).unwrap();
        let hosts = frontier
            .enqueue(&[
                new("http://a.test/1", 0),
                new("http://a.test/1", 0),
                new("http://b.test/", 0),
            ])
            .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(frontier.stats().unwrap().queued, 2);

        let first = ready(&frontier, "a.test:80", &HashSet::new());
        assert_eq!(first.url.as_str(), "http://a.test/1");
        let taken: HashSet<u64> = [first.seq].into();
        assert_eq!(
            frontier
                .next_for_host("a.test:80", &taken, now_ms())
                .unwrap(),
            NextUrl::Empty
        );

        let discovered = vec![new("http://a.test/2", 1), new("http://a.test/1", 1)];
        frontier
            .complete(&[done(first, Disposition::Done(UrlState::Stored), discovered)])
            .unwrap();
        drop(frontier);

        let frontier = Frontier::open(&path).unwrap();
        let stats = frontier.stats().unwrap();
        assert_eq!(
            stats,
            FrontierStats {
                seen: 3,
                queued: 2,
                hosts: 2,
                stored_pages: 1
            }
        );
        let next = ready(&frontier, "a.test:80", &HashSet::new());
        assert_eq!((next.url.as_str(), next.depth), ("http://a.test/2", 1));
    }

    #[test]
    fn uncommitted_work_stays_queued_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontier.redb");
        let frontier = Frontier::open(&path).unwrap();
        frontier.enqueue(&[new("http://a.test/x", 0)]).unwrap();
        ready(&frontier, "a.test:80", &HashSet::new());
        drop(frontier); // "crash" before completing
        let frontier = Frontier::open(&path).unwrap();
        assert_eq!(
            frontier.hosts_with_work().unwrap(),
            vec!["a.test:80".to_string()]
        );
    }

    #[test]
    fn retries_wait_their_turn_and_dead_letters_can_be_requeued() {
        let dir = tempfile::tempdir().unwrap();
        let frontier = Frontier::open(&dir.path().join("frontier.redb")).unwrap();
        frontier.enqueue(&[new("http://a.test/flaky", 2)]).unwrap();
        let entry = ready(&frontier, "a.test:80", &HashSet::new());
        let due = now_ms() + 60_000;
        let hosts = frontier
            .complete(&[done(
                entry,
                Disposition::Retry { not_before_ms: due },
                Vec::new(),
            )])
            .unwrap()
            .hosts;
        assert_eq!(hosts, vec!["a.test:80".to_string()]);
        assert_eq!(frontier.stats().unwrap().queued, 1);
        assert_eq!(
            frontier
                .next_for_host("a.test:80", &HashSet::new(), now_ms())
                .unwrap(),
            NextUrl::Later { at_ms: due }
        );
        let retry = match frontier
            .next_for_host("a.test:80", &HashSet::new(), due)
            .unwrap()
        {
            NextUrl::Ready(entry) => entry,
            other => panic!("{other:?}"),
        };
        assert_eq!((retry.attempts, retry.depth), (1, 2));

        let dead = Disposition::Dead {
            kind: "http_503".into(),
            message: "HTTP 503".into(),
        };
        frontier.complete(&[done(retry, dead, Vec::new())]).unwrap();
        assert_eq!(frontier.stats().unwrap().queued, 0);
        let letters = frontier.dead_letters().unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(
            (
                letters[0].url.as_str(),
                letters[0].kind.as_str(),
                letters[0].attempts
            ),
            ("http://a.test/flaky", "http_503", 2)
        );

        assert_eq!(frontier.requeue_dead(Some("other.test")).unwrap(), 0);
        assert_eq!(frontier.requeue_dead(Some("A.test")).unwrap(), 1);
        assert!(frontier.dead_letters().unwrap().is_empty());
        let again = ready(&frontier, "a.test:80", &HashSet::new());
        assert_eq!(
            (again.url.as_str(), again.attempts, again.depth),
            ("http://a.test/flaky", 0, 2)
        );
    }

    #[test]
    fn limits_drop_urls_per_host_and_query_variants_durably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontier.redb");
        let mut frontier = Frontier::open(&path).unwrap();
        let limits = UrlLimits {
            max_per_host: 5,
            max_query_variants: 2,
        };
        frontier.set_limits(limits);
        frontier
            .enqueue(&[
                new("http://a.test/cal?d=1", 1),
                new("http://a.test/cal?d=2", 1),
                new("http://a.test/cal?d=3", 1),
                new("http://a.test/other?d=3", 1),
            ])
            .unwrap();
        assert_eq!(frontier.stats().unwrap().queued, 3);
        drop(frontier);
        let mut frontier = Frontier::open(&path).unwrap();
        frontier.set_limits(limits);
        let entry = ready(&frontier, "a.test:80", &HashSet::new());
        let discovered = ["/x", "/y", "/z", "/cal?d=9"]
            .iter()
            .map(|p| new(&format!("http://a.test{p}"), 2))
            .collect();
        let committed = frontier
            .complete(&[done(entry, Disposition::Done(UrlState::Stored), discovered)])
            .unwrap();
        // Five URLs per host: /x and /y fit, /z does not; /cal has its two variants.
        assert_eq!(committed.limited, 2);
        assert_eq!(frontier.stats().unwrap().seen, 5);
    }

    #[test]
    fn stale_pages_are_requeued_with_their_validators() {
        let dir = tempfile::tempdir().unwrap();
        let frontier = Frontier::open(&dir.path().join("frontier.redb")).unwrap();
        frontier
            .enqueue(&[new("http://a.test/old", 3), new("http://a.test/new", 0)])
            .unwrap();
        let old = ready(&frontier, "a.test:80", &HashSet::new());
        let new_entry = ready(&frontier, "a.test:80", &[old.seq].into());
        let record = |fetched_ms| FetchRecord {
            fetched_ms,
            depth: 3,
            etag: Some("\"v1\"".into()),
            last_modified: None,
        };
        let stored = |entry, fetched_ms| Completion {
            fetch_record: Some(record(fetched_ms)),
            ..Completion::new(entry, Disposition::Done(UrlState::Stored))
        };
        frontier
            .complete(&[stored(old, 1_000), stored(new_entry, 5_000)])
            .unwrap();
        assert_eq!(frontier.stats().unwrap().stored_pages, 2);
        assert_eq!(
            frontier.fetch_record("http://a.test/old").unwrap(),
            Some(record(1_000))
        );
        assert_eq!(frontier.requeue_stale(2_000).unwrap(), 1);
        // Already queued: not queued twice.
        assert_eq!(frontier.requeue_stale(2_000).unwrap(), 0);
        let again = ready(&frontier, "a.test:80", &HashSet::new());
        assert_eq!((again.url.as_str(), again.depth), ("http://a.test/old", 3));
        frontier.complete(&[stored(again, 9_000)]).unwrap();
        assert_eq!(
            frontier.stats().unwrap().stored_pages,
            2,
            "a refetch is no new page"
        );
    }
}
