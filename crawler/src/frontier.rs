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
    /// Host key of the queue entry.
    pub host_key: String,
    /// Sequence number of the queue entry.
    pub seq: u64,
    /// The URL.
    pub url: String,
    /// What happened to it.
    pub state: UrlState,
    /// URLs it led to (links, redirect target).
    pub discovered: Vec<NewUrl>,
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

fn encode(depth: u32, redirects: u32, url: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + url.len());
    bytes.extend_from_slice(&depth.to_le_bytes());
    bytes.extend_from_slice(&redirects.to_le_bytes());
    bytes.extend_from_slice(url.as_bytes());
    bytes
}

fn decode(host: &str, seq: u64, bytes: &[u8]) -> Result<QueuedUrl, FrontierError> {
    let corrupt = || FrontierError::CorruptEntry {
        host: host.to_string(),
        seq,
    };
    let (depth, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (redirects, url) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let url = std::str::from_utf8(url)
        .ok()
        .and_then(CanonicalUrl::parse)
        .ok_or_else(corrupt)?;
    Ok(QueuedUrl {
        host_key: host.to_string(),
        seq,
        url,
        depth: u32::from_le_bytes(*depth),
        redirects: u32::from_le_bytes(*redirects),
    })
}

/// The frontier of one crawl.
pub struct Frontier {
    db: Database,
    path: PathBuf,
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
        };
        // Create every table so read transactions never meet a missing one.
        frontier.write(|txn| {
            txn.open_table(SEEN)?;
            txn.open_table(QUEUE)?;
            txn.open_table(HOSTS)?;
            txn.open_table(SCOPE)?;
            txn.open_table(META)?;
            Ok(())
        })?;
        Ok(frontier)
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
            enqueue_in(txn, urls, &mut hosts)?;
            Ok(hosts.into_iter().collect())
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

    /// The first queued URL of `host_key` whose sequence number is not in `taken`
    /// (entries being fetched or awaiting commit).
    pub fn next_for_host(
        &self,
        host_key: &str,
        taken: &HashSet<u64>,
    ) -> Result<Option<QueuedUrl>, FrontierError> {
        let read = || -> Result<Option<(u64, Vec<u8>)>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(QUEUE)?;
            for entry in table.range((host_key, 0u64)..=(host_key, u64::MAX))? {
                let (key, value) = entry?;
                let (_, seq) = key.value();
                if !taken.contains(&seq) {
                    return Ok(Some((seq, value.value().to_vec())));
                }
            }
            Ok(None)
        };
        match read().map_err(|e| self.db_error(e))? {
            Some((seq, bytes)) => decode(host_key, seq, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Commits a batch of outcomes in one durable transaction: removes their queue
    /// entries, records their state, queues the URLs they led to that were never seen, and
    /// counts stored pages. Returns the host keys that got new work.
    ///
    /// # Errors
    /// [`FrontierError::Db`]; on error nothing of the batch is applied.
    pub fn complete(&self, batch: &[Completion]) -> Result<Vec<String>, FrontierError> {
        self.write(|txn| {
            let mut hosts = HashSet::new();
            let mut stored = 0;
            {
                let mut queue = txn.open_table(QUEUE)?;
                let mut counts = txn.open_table(HOSTS)?;
                let mut seen = txn.open_table(SEEN)?;
                for done in batch {
                    if queue.remove((done.host_key.as_str(), done.seq))?.is_some() {
                        let left = counts
                            .get(done.host_key.as_str())?
                            .map_or(0, |v| v.value())
                            .saturating_sub(1);
                        if left == 0 {
                            counts.remove(done.host_key.as_str())?;
                        } else {
                            counts.insert(done.host_key.as_str(), left)?;
                        }
                    }
                    seen.insert(done.url.as_str(), done.state as u8)?;
                    if done.state == UrlState::Stored {
                        stored += 1;
                    }
                }
            }
            let discovered: Vec<NewUrl> = batch
                .iter()
                .flat_map(|done| done.discovered.iter().cloned())
                .collect();
            enqueue_in(txn, &discovered, &mut hosts)?;
            if stored > 0 {
                let mut meta = txn.open_table(META)?;
                let total = meta.get(STORED_PAGES)?.map_or(0, |v| v.value()) + stored;
                meta.insert(STORED_PAGES, total)?;
            }
            Ok(hosts.into_iter().collect())
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

fn enqueue_in(
    txn: &redb::WriteTransaction,
    urls: &[NewUrl],
    hosts: &mut HashSet<String>,
) -> Result<(), redb::Error> {
    let mut seen = txn.open_table(SEEN)?;
    let mut queue = txn.open_table(QUEUE)?;
    let mut counts = txn.open_table(HOSTS)?;
    let mut meta = txn.open_table(META)?;
    let mut next_seq = meta.get(NEXT_SEQ)?.map_or(0, |v| v.value());
    for new in urls {
        let url = new.url.as_str();
        if seen.get(url)?.is_some() {
            continue;
        }
        seen.insert(url, UrlState::Queued as u8)?;
        let host_key = new.url.host_key();
        queue.insert(
            (host_key.as_str(), next_seq),
            encode(new.depth, new.redirects, url).as_slice(),
        )?;
        next_seq += 1;
        let count = counts.get(host_key.as_str())?.map_or(0, |v| v.value());
        counts.insert(host_key.as_str(), count + 1)?;
        hosts.insert(host_key);
    }
    meta.insert(NEXT_SEQ, next_seq)?;
    Ok(())
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

        let first = frontier
            .next_for_host("a.test:80", &HashSet::new())
            .unwrap()
            .unwrap();
        assert_eq!(first.url.as_str(), "http://a.test/1");
        let taken: HashSet<u64> = [first.seq].into();
        assert_eq!(frontier.next_for_host("a.test:80", &taken).unwrap(), None);

        frontier
            .complete(&[Completion {
                host_key: first.host_key.clone(),
                seq: first.seq,
                url: first.url.to_string(),
                state: UrlState::Stored,
                discovered: vec![new("http://a.test/2", 1), new("http://a.test/1", 1)],
            }])
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
        let next = frontier
            .next_for_host("a.test:80", &HashSet::new())
            .unwrap()
            .unwrap();
        assert_eq!((next.url.as_str(), next.depth), ("http://a.test/2", 1));
    }

    #[test]
    fn uncommitted_work_stays_queued_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontier.redb");
        let frontier = Frontier::open(&path).unwrap();
        frontier.enqueue(&[new("http://a.test/x", 0)]).unwrap();
        let taken = frontier
            .next_for_host("a.test:80", &HashSet::new())
            .unwrap();
        assert!(taken.is_some());
        drop(frontier); // "crash" before completing
        let frontier = Frontier::open(&path).unwrap();
        assert_eq!(
            frontier.hosts_with_work().unwrap(),
            vec!["a.test:80".to_string()]
        );
    }
}
