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
    /// `[pagestore]`.
    pub pagestore: PageStoreConfig,
}

/// `[pagestore]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageStoreConfig {
    /// How long page-store segments are kept after the indexer has consumed them
    /// completely: a number and a unit (`s`, `m`, `h`, `d`), or `"forever"`. `quarry index
    /// update` keeps every page it consumed; `quarry index rebuild` only sees what is
    /// retained. Default `"30d"`.
    pub retention: String,
    /// Where the page store lives: empty for `DATA/pages`, `file:///DIR` for another
    /// directory, `s3://BUCKET/PREFIX` for S3 or an S3-compatible server (credentials and
    /// endpoint from the `AWS_*` environment variables). `--store` overrides it. Default
    /// empty.
    pub store: String,
}

impl Default for PageStoreConfig {
    fn default() -> Self {
        PageStoreConfig {
            retention: "30d".to_string(),
            store: String::new(),
        }
    }
}

impl PageStoreConfig {
    /// The retention as a duration; `None` for `"forever"`.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn retention(&self) -> anyhow::Result<Option<std::time::Duration>> {
        let text = self.retention.trim();
        if text.eq_ignore_ascii_case("forever") {
            return Ok(None);
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let seconds = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => 0,
        };
        match number.parse::<u64>() {
            Ok(n) if seconds > 0 => Ok(Some(std::time::Duration::from_secs(
                n.saturating_mul(seconds),
            ))),
            _ => anyhow::bail!(
                "[pagestore] retention = {:?}: expected a number with a unit (s, m, h, d), e.g. \"30d\", or \"forever\"",
                self.retention
            ),
        }
    }
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
        let config = Config::parse(&text)
            .map_err(|error| UsageError(format!("invalid config file {}: {error}", path.display())))
            .context("loading configuration")?;
        if let Err(error) = config.pagestore.retention() {
            return Err(
                UsageError(format!("invalid config file {}: {error}", path.display())).into(),
            );
        }
        Ok(config)
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
    fn retention_parses_units_and_forever() {
        let with = |text: &str| PageStoreConfig {
            retention: text.to_string(),
            ..PageStoreConfig::default()
        };
        let hours = |h: u64| Some(std::time::Duration::from_secs(h * 3600));
        assert_eq!(with("30d").retention().unwrap(), hours(720));
        assert_eq!(with("12h").retention().unwrap(), hours(12));
        assert_eq!(
            with("90 m").retention().unwrap(),
            hours(1).map(|d| d * 3 / 2)
        );
        assert_eq!(with("0s").retention().unwrap(), hours(0));
        assert_eq!(with("forever").retention().unwrap(), None);
        for bad in ["", "30", "d", "-1d", "30w", "1.5h"] {
            assert!(with(bad).retention().is_err(), "{bad:?}");
        }
    }

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
