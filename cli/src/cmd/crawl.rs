//! `quarry crawl`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context;
use quarry_crawler::address::Network;
use quarry_crawler::distributed::{FrontierUrl, Nats};
use quarry_crawler::frontier::NewUrl;
use quarry_crawler::{CanonicalUrl, CrawlConfig, CrawlStats, Crawler, DataLayout};

use crate::UsageError;
use crate::config::Config;
use crate::progress::Progress;
use crate::store::{StoreLocation, last_uploaded, upload_while};

/// How often a crawl into object storage uploads the segments sealed since.
const UPLOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Allow fetching from this private network (CIDR, e.g. 10.20.0.0/16) while other
    /// private addresses stay refused; repeatable, added to `crawl.allowed_private_networks`.
    #[arg(long = "allow-private-network", value_name = "CIDR")]
    pub allow_private_networks: Vec<Network>,
    /// Where the page store lives: `s3://BUCKET/PREFIX` (each segment is uploaded once
    /// sealed, then removed locally) or `file:///DIR` [config: pagestore.store; default
    /// DIR/pages].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Share the crawl's frontier on NATS JetStream (`nats://HOST:PORT[/NAME]`): every
    /// `quarry crawl` given the same URL is one worker of one crawl. Give each worker its
    /// own --data and the same seeds; workers may share one --store in object storage.
    #[arg(long, value_name = "URL")]
    pub frontier: Option<String>,
    /// Print the final summary as JSON (one object on stdout) instead of a table.
    #[arg(long)]
    pub json: bool,
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
        .allowed_private_networks
        .extend(args.allow_private_networks.iter().copied());
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

/// The summary of a crawl: one line, then a table with one row per outcome.
pub fn summary(stats: &CrawlStats) -> String {
    let mut text = format!(
        "stored {} pages ({:.1} MiB) in {:.1} s: {:.1} pages/s\n",
        stats.stored,
        stats.stored_bytes as f64 / (1024.0 * 1024.0),
        stats.elapsed_secs,
        stats.pages_per_sec()
    );
    let rows = [
        (
            "stored",
            stats.stored,
            "HTML pages written to the page store",
        ),
        (
            "  under rel=canonical",
            stats.canonicalized,
            "stored under the URL they name as canonical",
        ),
        (
            "not modified",
            stats.not_modified,
            "refetched, unchanged (304); stored copy kept",
        ),
        (
            "redirected",
            stats.redirected,
            "redirects recorded, targets queued",
        ),
        (
            "robots-denied",
            stats.robots_denied,
            "disallowed by robots.txt",
        ),
        (
            "out-of-scope",
            stats.out_of_scope,
            "links to hosts outside the crawl's scope",
        ),
        (
            "trap-limited",
            stats.trap_limited,
            "links dropped by URL length/path/per-host/query limits",
        ),
        ("noindex", stats.noindex, "pages asking not to be indexed"),
        ("too-large", stats.too_large, "bodies over max_body_bytes"),
        (
            "too many redirects",
            stats.too_many_redirects,
            "redirect chains cut",
        ),
        ("not-html", stats.not_html, "responses that are not HTML"),
        (
            "http-error",
            stats.http_errors,
            "final 4xx/5xx answers (see `quarry errors list`)",
        ),
        (
            "network-error",
            stats.network_errors,
            "given up after retries (see `quarry errors list`)",
        ),
        (
            "refused address",
            stats.refused_addresses,
            "hosts resolving to private addresses",
        ),
        ("retries", stats.retries, "failed fetches scheduled again"),
        (
            "dead letters",
            stats.dead_letters,
            "URLs given up (`quarry errors retry` requeues)",
        ),
    ];
    for (name, count, meaning) in rows {
        text.push_str(&format!("  {name:<22} {count:>9}  {meaning}\n"));
    }
    if stats.queued > 0 {
        text.push_str(&format!(
            "  {} URLs still queued{}\n",
            stats.queued,
            if stats.interrupted {
                " (run the same command again to resume)"
            } else {
                ""
            }
        ));
    }
    text.trim_end().to_string()
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
    let shared = match &args.frontier {
        Some(url) => Some(FrontierUrl::parse(url).map_err(|e| UsageError(e.to_string()))?),
        None => None,
    };
    // Without seeds, only an existing crawl can resume; never create state for nothing.
    if seeds.is_empty() && shared.is_none() && !DataLayout::new(&args.data).frontier().is_file() {
        return Err(no_seeds().into());
    }
    let location = StoreLocation::resolve(
        &args.data,
        Some(args.store.as_deref().unwrap_or(&config.pagestore.store)),
    )?;
    let staging = match &location {
        StoreLocation::Local(dir) => dir.clone(),
        StoreLocation::Remote(_) => DataLayout::new(&args.data).pages(),
    };
    if shared.is_some() && seeds.is_empty() {
        return Err(UsageError(format!(
            "no valid seed URL in {}: every worker of a shared crawl needs the crawl's seeds (they set its scope)",
            args.seeds.display()
        ))
        .into());
    }
    let mut worker = None;
    let mut crawler = match &shared {
        None => Crawler::open_at(&args.data, &staging, crawl_config),
        Some(url) => {
            let nats = Nats::connect(url).await?;
            let window = (crawl_config.max_concurrent_fetches * 8).max(64);
            let frontier = nats.start(window).await?;
            worker = Some((nats, frontier.counters.clone()));
            Crawler::open_worker(&args.data, &staging, crawl_config, frontier)
        }
    }
    .with_context(|| format!("opening crawl state in {}", args.data.display()))?;
    if let Some((nats, _)) = &worker {
        let seeds = crawler.add_scope(&seeds)?;
        let urls: Vec<NewUrl> = seeds
            .into_iter()
            .map(|url| NewUrl {
                url,
                depth: 0,
                redirects: 0,
            })
            .collect();
        let new = nats.publish(&urls, None).await?;
        eprintln!(
            "shared frontier {}: {new} new seeds of {}",
            args.frontier.as_deref().unwrap_or_default(),
            urls.len()
        );
    }
    if worker.is_none() {
        let queued_before = crawler.frontier().stats()?.queued;
        let recrawl = crawler.queue_recrawl()?;
        if seeds.is_empty() && queued_before == 0 && recrawl == 0 {
            return Err(no_seeds().into());
        }
        let new = crawler.add_seeds(&seeds)?;
        if queued_before > 0 {
            eprintln!(
                "resuming: {queued_before} URLs queued from the previous run, {new} new seeds"
            );
        }
        if recrawl > 0 {
            eprintln!("recrawl: {recrawl} stored pages are due for a conditional refetch");
        }
    }
    let stats = match location {
        StoreLocation::Local(_) => crawl_with_progress(crawler).await?,
        StoreLocation::Remote(remote) => {
            crawler.seal_segments_after(last_uploaded(&remote).await?);
            let local = crawler.page_store().clone();
            let (finished, done) = tokio::sync::oneshot::channel::<()>();
            let crawl = async {
                let stats = crawl_with_progress(crawler).await;
                let _ = finished.send(());
                stats
            };
            let upload = upload_while(&local, &remote, UPLOAD_EVERY, async {
                let _ = done.await;
            });
            let (stats, uploaded) = tokio::join!(crawl, upload);
            let stats = stats?;
            let (segments, bytes) = uploaded?;
            eprintln!(
                "page store {}: uploaded {segments} segment(s), {:.1} MiB",
                remote.url(),
                bytes as f64 / (1024.0 * 1024.0)
            );
            stats
        }
    };
    if let Some((_, counters)) = &worker {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        eprintln!(
            "shared frontier: pulled {} · published {} new URLs ({} already seen) · acked {} · {} dead letters",
            load(&counters.pulled),
            load(&counters.published),
            load(&counters.already_seen),
            load(&counters.acked),
            load(&counters.dead),
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        println!("{}", summary(&stats));
    }
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
