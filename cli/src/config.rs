//! `quarry.toml`: one file for every stage. Unknown keys are rejected; every default is
//! documented on its field (and in `quarry.example.toml`, which a test keeps in sync).

use std::path::Path;

use anyhow::Context;
use quarry_crawler::CrawlConfig;
use serde::{Deserialize, Serialize};

use crate::UsageError;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[crawl]`: see [`CrawlConfig`].
    pub crawl: CrawlConfig,
    /// `[index]`.
    pub index: IndexConfig,
    /// `[serve]`.
    pub serve: ServeConfig,
}

/// `[index]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Indexing threads; 0 = one per core. Default 0.
    pub threads: usize,
    /// Memory budget of the index writer in MiB. Default 256.
    pub writer_memory_mib: usize,
    /// Pages whose simhashes differ in at most this many bits are near-duplicates and
    /// collapse into one document (0 = exact duplicates only). Default 3.
    pub near_duplicate_bits: u32,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            threads: 0,
            writer_memory_mib: 256,
            near_duplicate_bits: 3,
        }
    }
}

/// `[serve]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on. Default `127.0.0.1:7700`.
    pub listen: String,
    /// Searches running at once; 0 = two per core. Default 0.
    pub max_running: usize,
    /// Searches waiting for a slot before the server answers 503. Default 64.
    pub max_queued: usize,
    /// Time limit of one search, in ms. Default 10000.
    pub request_timeout_ms: u64,
    /// Recent search responses kept to answer repeated queries; 0 = no cache. Default 1024.
    pub cache_entries: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:7700".to_string(),
            max_running: 0,
            max_queued: 64,
            request_timeout_ms: 10_000,
            cache_entries: quarry_searcher::DEFAULT_CACHE_ENTRIES,
        }
    }
}

impl Config {
    /// Loads `path`, or the defaults when `None`.
    ///
    /// # Errors
    /// A [`UsageError`] when the file is missing or invalid (unknown keys included).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            UsageError(format!(
                "cannot read config file {}: {error}",
                path.display()
            ))
        })?;
        Config::parse(&text)
            .map_err(|error| UsageError(format!("invalid config file {}: {error}", path.display())))
            .context("loading configuration")
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Installs the tracing subscriber: warnings by default, `-v` for info, `-vv` for debug;
/// `RUST_LOG` overrides.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_matches_the_defaults() {
        let text = include_str!("../../quarry.example.toml");
        let parsed = Config::parse(text).expect("quarry.example.toml parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::parse("[crawl]\nmax_page = 3\n").is_err());
        assert!(Config::parse("[crawler]\n").is_err());
        let config = Config::parse("[crawl]\nmax_pages = 3\nmin_host_delay_ms = 0\n").unwrap();
        assert_eq!(config.crawl.max_pages, Some(3));
        assert_eq!(config.crawl.min_host_delay_ms, 0);
    }
}
