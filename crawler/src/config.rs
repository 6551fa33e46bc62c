//! Crawl settings. Every default is documented on its field and comes from `Default`.

use serde::{Deserialize, Serialize};

use crate::address::Network;
use crate::canonical::UrlPolicy;

/// Which discovered URLs the crawl follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Only URLs on the hosts of the seeds (any scheme or port). The default.
    #[default]
    SeedHosts,
    /// Any host.
    Any,
}

/// Settings of a crawl (`[crawl]` in `quarry.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlConfig {
    /// Stop after this many pages are stored (across restarts). Default: no limit.
    pub max_pages: Option<u64>,
    /// Links further than this many hops from a seed are not followed. Default 16.
    pub max_depth: u32,
    /// URLs queued per host over the life of the crawl; later ones are dropped. Default
    /// 100000.
    pub max_urls_per_host: u64,
    /// Discovered URLs longer than this (in bytes) are dropped. Default 2048.
    pub max_url_length: usize,
    /// URLs that differ only in their query string, per host and path; later variants are
    /// dropped (infinite calendars, faceted search, session parameters). Default 1000.
    pub max_query_variants_per_path: u64,
    /// Paths with more segments than this, or with a run of segments repeated three times
    /// (`/a/b/a/b/a/b`), are dropped as crawler traps. Default 32.
    pub max_path_segments: usize,
    /// Pages stored longer ago than this many seconds are fetched again (conditionally,
    /// with `If-None-Match`/`If-Modified-Since`) when `quarry crawl` runs on the same data
    /// directory. Default 604800 (7 days); 0 turns recrawling off.
    pub recrawl_after_secs: u64,
    /// Follow `<link rel=canonical>`: a page naming another in-scope URL as canonical is
    /// stored under that URL. Default true.
    pub follow_canonical: bool,
    /// Read each host's sitemaps (robots.txt `Sitemap:` lines, `/sitemap.xml`,
    /// `/sitemap_index.xml`, and the indexes they list) and queue the pages they name, at
    /// depth 1. Default true.
    pub sitemaps: bool,
    /// Sitemap files fetched per host per run. Default 1000.
    pub max_sitemaps_per_host: usize,
    /// Minimum delay between two requests to the same host, in ms. robots.txt
    /// `Crawl-delay` can raise it. Default 1000.
    pub min_host_delay_ms: u64,
    /// Largest `Crawl-delay` honoured, in ms (longer ones are capped). Default 30000.
    pub max_crawl_delay_ms: u64,
    /// The delay between requests to a host is at least this many times its last
    /// response time, so slow servers are asked less often. 0 turns it off. Default 1.0.
    pub response_time_factor: f64,
    /// Concurrent connections per host. Default 1.
    pub max_connections_per_host: usize,
    /// Minimum delay between two requests to the same IP address, in ms, over all the
    /// host names served from it (a hundred virtual hosts on one server share it). Never
    /// more than `min_host_delay_ms`. Default 250.
    pub min_ip_delay_ms: u64,
    /// Concurrent connections per IP address, over all its host names (never fewer than
    /// `max_connections_per_host`). Default 4.
    pub max_connections_per_ip: usize,
    /// Longest delay between requests to a host that 429/503 answers without
    /// `Retry-After` can push it to (each one doubles the delay), in ms. Default 60000.
    pub max_backoff_delay_ms: u64,
    /// Concurrent fetches over all hosts. Default 64.
    pub max_concurrent_fetches: usize,
    /// Time limit of one fetch (connect, headers and body), in ms. Default 30000.
    pub request_timeout_ms: u64,
    /// Time limit for establishing a connection, in ms. Default 10000.
    pub connect_timeout_ms: u64,
    /// Bodies larger than this are not stored (the fetch is cut off). Default 10 MiB.
    pub max_body_bytes: u64,
    /// robots.txt bodies are read up to this size. Default 500 KiB.
    pub max_robots_bytes: u64,
    /// Redirect hops followed from one URL. Default 5.
    pub max_redirects: u32,
    /// Waits before retrying a failed fetch (timeout, connection error, 5xx, 429), one per
    /// retry, in ms; after the last one the URL goes to the dead-letter list. A
    /// `Retry-After` header lengthens the wait. Default `[1000, 5000, 30000]`.
    pub retry_backoff_ms: Vec<u64>,
    /// How long a fetched robots.txt is trusted, in seconds. Default 86400 (24 h).
    pub robots_ttl_secs: u64,
    /// The User-Agent product token, also matched against robots.txt groups. Default
    /// `QuarryBot`.
    pub user_agent_token: String,
    /// A URL or e-mail where site owners can reach the crawl's operator; sent in the
    /// User-Agent. Default empty (set it for any crawl of sites you do not own).
    pub contact: String,
    /// Fetch from private, loopback and link-local addresses. Off by default: a crawler
    /// on the open web must not be steered into the operator's own network.
    pub allow_private_addresses: bool,
    /// Private networks that may be fetched while other private addresses stay refused,
    /// in CIDR notation (`["10.20.0.0/16"]` for an intranet). Default none.
    pub allowed_private_networks: Vec<Network>,
    /// Which discovered links are followed. Default `seed_hosts`.
    pub scope: Scope,
    /// Page-store segments roll over at this size, in bytes. Default 128 MiB.
    pub segment_max_bytes: u64,
    /// How URLs are canonicalised (`[crawl.url_policy]`): tracking parameters stripped,
    /// query sorted. See [`UrlPolicy`].
    pub url_policy: UrlPolicy,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            max_pages: None,
            max_depth: 16,
            max_urls_per_host: 100_000,
            max_url_length: 2048,
            max_query_variants_per_path: 1000,
            max_path_segments: 32,
            recrawl_after_secs: 604_800,
            follow_canonical: true,
            sitemaps: true,
            max_sitemaps_per_host: 1000,
            min_host_delay_ms: 1000,
            max_crawl_delay_ms: 30_000,
            response_time_factor: 1.0,
            max_connections_per_host: 1,
            min_ip_delay_ms: 250,
            max_connections_per_ip: 4,
            max_backoff_delay_ms: 60_000,
            max_concurrent_fetches: 64,
            request_timeout_ms: 30_000,
            connect_timeout_ms: 10_000,
            max_body_bytes: 10 << 20,
            max_robots_bytes: 500 << 10,
            max_redirects: 5,
            retry_backoff_ms: vec![1000, 5000, 30_000],
            robots_ttl_secs: 86_400,
            user_agent_token: "QuarryBot".to_string(),
            contact: String::new(),
            allow_private_addresses: false,
            allowed_private_networks: Vec::new(),
            scope: Scope::SeedHosts,
            segment_max_bytes: 128 << 20,
            url_policy: UrlPolicy::default(),
        }
    }
}

impl CrawlConfig {
    /// The full User-Agent header value.
    pub fn user_agent(&self) -> String {
        let version = env!("CARGO_PKG_VERSION");
        if self.contact.is_empty() {
            format!("{}/{version}", self.user_agent_token)
        } else {
            format!("{}/{version} (+{})", self.user_agent_token, self.contact)
        }
    }
}
