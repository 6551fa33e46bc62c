//! `quarry crawl`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context;
use quarry_crawler::{CanonicalUrl, CrawlConfig, CrawlStats, Crawler, DataLayout};

use crate::UsageError;
use crate::config::Config;
use crate::progress::Progress;

/// Crawl the seed URLs into the page store of DIR. Running it again on the same DIR
/// resumes: pages already stored are not fetched again. Ctrl-C stops cleanly.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File with one seed URL per line; blank lines and `#` comments are ignored.
    #[arg(long, value_name = "FILE")]
    pub seeds: PathBuf,
    /// Data directory (page store, frontier, index).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Stop after this many pages are stored (counting earlier runs).
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,
    /// Do not follow links more than N hops from a seed.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,
    /// Minimum delay between requests to one host, in ms [config default: 1000].
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// Allow fetching from private, loopback and link-local addresses.
    #[arg(long)]
    pub allow_private_addresses: bool,
}

/// Reads a seeds file: valid seeds, and warnings for invalid lines (with line numbers).
pub fn read_seeds(path: &Path) -> anyhow::Result<(Vec<CanonicalUrl>, Vec<String>)> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        UsageError(format!(
            "cannot read seeds file {}: {error}",
            path.display()
        ))
    })?;
    let mut seeds = Vec::new();
    let mut warnings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match CanonicalUrl::parse(line) {
            Some(url) => seeds.push(url),
            None => warnings.push(format!(
                "{}:{}: not an absolute http(s) URL, skipped: {line}",
                path.display(),
                index + 1
            )),
        }
    }
    Ok((seeds, warnings))
}

fn apply_flags(args: &Args, mut config: CrawlConfig) -> CrawlConfig {
    if let Some(max_pages) = args.max_pages {
        config.max_pages = Some(max_pages);
    }
    if let Some(max_depth) = args.max_depth {
        config.max_depth = max_depth;
    }
    if let Some(delay) = args.delay_ms {
        config.min_host_delay_ms = delay;
    }
    if args.allow_private_addresses {
        config.allow_private_addresses = true;
    }
    config
}

/// Runs a crawl with a progress line; returns its statistics.
pub async fn crawl_with_progress(crawler: Crawler) -> anyhow::Result<CrawlStats> {
    let counters = crawler.counters();
    let progress = Progress::start(move |elapsed| {
        let stored = counters.stored.load(Ordering::Relaxed);
        format!(
            "crawl: {stored} pages stored · {:.1} pages/s · {} queued · {} in flight · {} errors",
            stored as f64 / elapsed.as_secs_f64().max(0.001),
            counters.queued.load(Ordering::Relaxed),
            counters.in_flight.load(Ordering::Relaxed),
            counters.errors(),
        )
    });
    let result = crawler.run(super::shutdown_signal()).await;
    progress.finish().await;
    result.context("crawl failed")
}

/// One-paragraph summary of a crawl.
pub fn summary(stats: &CrawlStats) -> String {
    let mut text = format!(
        "stored {} pages ({:.1} MiB) in {:.1} s: {:.1} pages/s",
        stats.stored,
        stats.stored_bytes as f64 / (1024.0 * 1024.0),
        stats.elapsed_secs,
        stats.pages_per_sec()
    );
    text.push_str(&format!(
        "\n  redirects {} · robots.txt denied {} · not HTML {} · noindex {} · too large {} · \
         HTTP errors {} · network errors {} · refused addresses {} · retries {} · given up {}",
        stats.redirected,
        stats.robots_denied,
        stats.not_html,
        stats.noindex,
        stats.too_large,
        stats.http_errors,
        stats.network_errors,
        stats.refused_addresses,
        stats.retries,
        stats.dead_letters
    ));
    if stats.queued > 0 {
        text.push_str(&format!(
            "\n  {} URLs still queued{}",
            stats.queued,
            if stats.interrupted {
                " (run the same command again to resume)"
            } else {
                ""
            }
        ));
    }
    text
}

/// `quarry crawl`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let crawl_config = apply_flags(&args, config.crawl);
    let (seeds, warnings) = read_seeds(&args.seeds)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let no_seeds = || {
        UsageError(format!(
            "no valid seed URL in {} and nothing left to resume in {}",
            args.seeds.display(),
            args.data.display()
        ))
    };
    // Without seeds, only an existing crawl can resume; never create state for nothing.
    if seeds.is_empty() && !DataLayout::new(&args.data).frontier().is_file() {
        return Err(no_seeds().into());
    }
    let crawler = Crawler::open(&args.data, crawl_config)
        .with_context(|| format!("opening crawl state in {}", args.data.display()))?;
    let queued_before = crawler.frontier().stats()?.queued;
    if seeds.is_empty() && queued_before == 0 {
        return Err(no_seeds().into());
    }
    let new = crawler.add_seeds(&seeds)?;
    if queued_before > 0 {
        eprintln!("resuming: {queued_before} URLs queued from the previous run, {new} new seeds");
    }
    let stats = crawl_with_progress(crawler).await?;
    println!("{}", summary(&stats));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_file_skips_comments_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seeds.txt");
        std::fs::write(
            &path,
            "# a comment\n\nhttps://example.com/\nnot a url\n  http://Example.org/a#frag  \nftp://x/\n",
        )
        .unwrap();
        let (seeds, warnings) = read_seeds(&path).unwrap();
        let seeds: Vec<_> = seeds.iter().map(CanonicalUrl::as_str).collect();
        assert_eq!(seeds, vec!["https://example.com/", "http://example.org/a"]);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].ends_with(":4: not an absolute http(s) URL, skipped: not a url"));
        assert!(warnings[1].contains(":6:"));
    }
}
