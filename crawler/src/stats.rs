//! Crawl counters: one per fetch outcome, readable while the crawl runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Live counters of a crawl (shared with progress output).
#[derive(Debug, Default)]
pub struct CrawlCounters {
    /// HTML pages stored.
    pub stored: AtomicU64,
    /// Bytes of bodies stored.
    pub stored_bytes: AtomicU64,
    /// Pages refetched conditionally that had not changed (304); the stored copy stays.
    pub not_modified: AtomicU64,
    /// Pages stored under the URL their `<link rel=canonical>` names.
    pub canonicalized: AtomicU64,
    /// Redirects recorded (their targets are queued when in scope).
    pub redirected: AtomicU64,
    /// Links and redirect targets not followed because they are out of scope.
    pub out_of_scope: AtomicU64,
    /// Discovered URLs dropped by the trap limits (URL length, path repetition, URLs per
    /// host, query variants per path, depth).
    pub trap_limited: AtomicU64,
    /// Sitemap files fetched.
    pub sitemaps_fetched: AtomicU64,
    /// Page URLs found in sitemaps (before de-duplication by the frontier).
    pub sitemap_urls: AtomicU64,
    /// URLs not fetched because robots.txt disallows them.
    pub robots_denied: AtomicU64,
    /// Responses skipped because they are not HTML.
    pub not_html: AtomicU64,
    /// Pages not stored because of `noindex`.
    pub noindex: AtomicU64,
    /// Bodies over the size cap.
    pub too_large: AtomicU64,
    /// Redirect chains longer than allowed.
    pub too_many_redirects: AtomicU64,
    /// Responses with a status other than 2xx/3xx (recorded in the page store).
    pub http_errors: AtomicU64,
    /// Fetches that failed without a response (DNS, connect, timeout, broken body).
    pub network_errors: AtomicU64,
    /// Fetches refused by the address guard.
    pub refused_addresses: AtomicU64,
    /// Failed fetches scheduled again after a backoff.
    pub retries: AtomicU64,
    /// URLs given up after their last retry (listed by `quarry errors list`).
    pub dead_letters: AtomicU64,
    /// Fetches running now.
    pub in_flight: AtomicU64,
    /// URLs waiting in the frontier (updated at each commit).
    pub queued: AtomicU64,
}

/// A snapshot of [`CrawlCounters`], plus the run's duration.
/// It reads back from the JSON that `quarry crawl --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlStats {
    /// HTML pages stored in this run.
    pub stored: u64,
    /// Bytes of bodies stored in this run.
    pub stored_bytes: u64,
    /// Conditional refetches answered 304 Not Modified.
    pub not_modified: u64,
    /// Pages stored under their `rel=canonical` URL.
    pub canonicalized: u64,
    /// Redirects recorded.
    pub redirected: u64,
    /// Links not followed because they are out of scope.
    pub out_of_scope: u64,
    /// Discovered URLs dropped by the trap limits.
    pub trap_limited: u64,
    /// Sitemap files fetched.
    pub sitemaps_fetched: u64,
    /// Page URLs found in sitemaps.
    pub sitemap_urls: u64,
    /// URLs disallowed by robots.txt.
    pub robots_denied: u64,
    /// Non-HTML responses skipped.
    pub not_html: u64,
    /// `noindex` pages not stored.
    pub noindex: u64,
    /// Bodies over the size cap.
    pub too_large: u64,
    /// Redirect chains cut.
    pub too_many_redirects: u64,
    /// HTTP error statuses.
    pub http_errors: u64,
    /// Network failures.
    pub network_errors: u64,
    /// Refused addresses.
    pub refused_addresses: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// URLs moved to the dead-letter list.
    pub dead_letters: u64,
    /// URLs still queued when the run ended.
    pub queued: u64,
    /// Wall time of the run, in seconds.
    pub elapsed_secs: f64,
    /// Whether the run ended because it was asked to stop (Ctrl-C) with work left.
    pub interrupted: bool,
}

impl CrawlStats {
    /// Stored pages per second of wall time.
    pub fn pages_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.stored as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
}

impl CrawlCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn snapshot(&self, elapsed: Duration) -> CrawlStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CrawlStats {
            stored: get(&self.stored),
            stored_bytes: get(&self.stored_bytes),
            not_modified: get(&self.not_modified),
            canonicalized: get(&self.canonicalized),
            redirected: get(&self.redirected),
            out_of_scope: get(&self.out_of_scope),
            trap_limited: get(&self.trap_limited),
            sitemaps_fetched: get(&self.sitemaps_fetched),
            sitemap_urls: get(&self.sitemap_urls),
            robots_denied: get(&self.robots_denied),
            not_html: get(&self.not_html),
            noindex: get(&self.noindex),
            too_large: get(&self.too_large),
            too_many_redirects: get(&self.too_many_redirects),
            http_errors: get(&self.http_errors),
            network_errors: get(&self.network_errors),
            refused_addresses: get(&self.refused_addresses),
            retries: get(&self.retries),
            dead_letters: get(&self.dead_letters),
            queued: get(&self.queued),
            elapsed_secs: elapsed.as_secs_f64(),
            interrupted: false,
        }
    }

    /// Failures of any kind (for progress lines).
    pub fn errors(&self) -> u64 {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        get(&self.http_errors)
            + get(&self.network_errors)
            + get(&self.too_large)
            + get(&self.refused_addresses)
    }
}
