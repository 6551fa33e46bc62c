//! Quarry's crawler: fills the page store from a set of seed URLs, politely.
//!
//! - [`frontier`]: the durable seen-set and per-host queues (redb);
//! - [`politeness`]: per-host connection limits and delays;
//! - [`robots`]: robots.txt parsing and matching (Google's rules, RFC 9309);
//! - [`canonical`]: one spelling per URL;
//! - [`address`]: the guard against fetching private addresses;
//! - [`fetch`]: one HTTP fetch with limits; [`extract`]: links from HTML;
//! - [`crawl`]: the loop tying them together, [`stats`]: its counters.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use quarry_crawler::{CanonicalUrl, CrawlConfig, Crawler};
//!
//! let crawler = Crawler::open("data".as_ref(), CrawlConfig::default())?;
//! let seed = CanonicalUrl::parse("https://example.com/").ok_or("bad seed")?;
//! crawler.add_seeds(&[seed])?;
//! let stats = crawler.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! println!("{} pages stored", stats.stored);
//! # Ok(())
//! # }
//! ```

pub mod address;
pub mod canonical;
pub mod config;
pub mod crawl;
pub mod distributed;
pub mod extract;
pub mod fetch;
pub mod frontier;
pub mod politeness;
pub mod robots;
pub mod sitemap;
pub mod stats;
mod store_thread;

pub use canonical::{CanonicalUrl, UrlPolicy};
pub use config::{CrawlConfig, Scope};
pub use crawl::{CrawlError, Crawler, DataLayout};
pub use stats::{CrawlCounters, CrawlStats};
