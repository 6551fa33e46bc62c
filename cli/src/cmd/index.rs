//! `quarry index rebuild|update|stats`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use quarry_crawler::DataLayout;
use quarry_indexer::{
    Generation, IndexLayout, RebuildOptions, RebuildProgress, RebuildStats, Shard, rebuild, update,
    update_start,
};
use serde::Serialize;

use crate::UsageError;
use crate::config::{Config, IndexConfig, PageStoreConfig};
use crate::progress::Progress;
use crate::store::{Pages, StoreLocation};

/// Build and inspect index generations.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Build a new index generation from the whole page store of DIR and switch to it
    /// atomically. Servers pick it up without restarting.
    Rebuild {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Build only shard I of N (documents partitioned by URL hash) into
        /// DIR/index-shard-I-of-N; serve it with `quarry serve --shard I/N`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Read the page store from here: `s3://BUCKET/PREFIX` (mirrored into
        /// DIR/store-cache) or `file:///DIR` [config: pagestore.store; default DIR/pages].
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
    /// Apply the pages stored since the current generation was built (new, changed,
    /// gone) as a new generation, re-indexing only what changed, and switch to it.
    /// Builds from scratch when there is no generation yet.
    Update {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Update shard I of N (see `rebuild --shard`).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Read the page store from here (see `rebuild --store`); only the segments past
        /// the index's checkpoint are downloaded.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
    /// Show the size of the current index and of the page store.
    Stats {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The page store to report on (see `rebuild --store`).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
}

/// Opens the page store `store` (or the configured one) of `data` for reading.
fn open_pages(data: &Path, store: Option<&str>, config: &PageStoreConfig) -> anyhow::Result<Pages> {
    let location = StoreLocation::resolve(data, Some(store.unwrap_or(&config.store)))?;
    Pages::open(data, location)
}

/// Parses a `--shard I/N` option.
pub fn parse_shard(spec: Option<&str>) -> anyhow::Result<Option<Shard>> {
    spec.map(|spec| Shard::parse(spec).map_err(|error| UsageError(error.to_string()).into()))
        .transpose()
}

/// The index directory of `data`: the whole index, or one shard's.
pub fn index_dir(data: &Path, shard: Option<Shard>) -> PathBuf {
    let layout = DataLayout::new(data);
    match shard {
        None => layout.index(),
        Some(shard) => layout.shard_index(shard.index, shard.count),
    }
}

/// Which build to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildKind {
    /// A new generation from the whole page store.
    Rebuild,
    /// Continue the current generation with the records stored since.
    Update,
}

/// Builds a generation of the index of `data` with a progress line, then records the
/// indexer's checkpoint in the page store and applies retention.
pub async fn build_with_progress(
    data: &Path,
    kind: BuildKind,
    shard: Option<Shard>,
    config: &IndexConfig,
    pagestore: &PageStoreConfig,
    store: Option<&str>,
) -> anyhow::Result<RebuildStats> {
    let pages = open_pages(data, store, pagestore)?;
    let retention = pagestore.retention()?;
    let retired = pages
        .retired()
        .await
        .context("reading the page store's retention list")?;
    if kind == BuildKind::Rebuild && !retired.segments.is_empty() {
        eprintln!(
            "note: retention removed {} page-store segment(s) ({:.1} MiB) after they were indexed; \
             this rebuild sees only the retained segments, so pages fetched only in those \
             drop out of the index. `quarry index update` keeps them.",
            retired.segments.len(),
            mib(retired.bytes)
        );
    }
    let progress_counters = Arc::new(RebuildProgress::default());
    let options = RebuildOptions {
        threads: config.threads,
        writer_memory_bytes: config.writer_memory_mib << 20,
        progress: Some(progress_counters.clone()),
        near_duplicate_bits: config.near_duplicate_bits,
        shard,
    };
    let index_dir = index_dir(data, shard);
    let from = match kind {
        BuildKind::Rebuild => None,
        BuildKind::Update => update_start(&index_dir, &options)?.map(|position| position.segment),
    };
    pages.mirror(from).await?;
    let watched = progress_counters.clone();
    let progress = Progress::start(move |elapsed| {
        let records = watched.records_read.load(Ordering::Relaxed);
        format!(
            "index: {records} records read · {} documents · {:.0} records/s",
            watched.documents_added.load(Ordering::Relaxed),
            records as f64 / elapsed.as_secs_f64().max(0.001)
        )
    });
    let build_store = pages.local.clone();
    let result = tokio::task::spawn_blocking(move || match kind {
        BuildKind::Rebuild => rebuild(&build_store, &index_dir, &options),
        BuildKind::Update => update(&build_store, &index_dir, &options),
    })
    .await;
    progress.finish().await;
    let stats = result.context("index build task failed")??;
    let layout = IndexLayout::new(&self::index_dir(data, shard));
    if let Some(checkpoint) = Generation::open(&layout, stats.generation)?.meta.checkpoint {
        let consumer = shard.map_or_else(|| "indexer".to_string(), |shard| shard.consumer());
        pages
            .save_checkpoint(&consumer, checkpoint)
            .await
            .context("saving the indexer's page-store checkpoint")?;
        if let Some(older_than) = retention
            && let Some(checkpoint) = consumed_by_all(&pages, data, shard).await?
        {
            let removed = pages
                .retire_consumed(checkpoint, older_than)
                .await
                .context("applying page-store retention")?;
            if !removed.is_empty() {
                eprintln!(
                    "retention: removed {} page-store segment(s) the index has consumed",
                    removed.len()
                );
            }
        }
    }
    Ok(stats)
}

/// How far every index built from the page store has read it: the earliest checkpoint
/// of the whole index (if there is one) and of every shard of every shard set (known from
/// `DATA/index-shard-I-of-N` directories and from the checkpoints in the store, which
/// indexers on other machines save there too, and the set `shard` belongs to). `None`
/// while a shard of a set has never been built: retention must not delete what it has yet
/// to read.
async fn consumed_by_all(
    pages: &Pages,
    data: &Path,
    shard: Option<Shard>,
) -> anyhow::Result<Option<quarry_pagestore::RecordPosition>> {
    let mut consumers = std::collections::BTreeSet::new();
    let saved = pages
        .checkpoint_consumers()
        .await
        .context("listing the page-store checkpoints")?;
    if shard.is_none()
        || DataLayout::new(data).index().is_dir()
        || saved.iter().any(|name| name == "indexer")
    {
        consumers.insert("indexer".to_string());
    }
    let mut counts: std::collections::BTreeSet<u32> = shard.map(|s| s.count).into_iter().collect();
    let entries = std::fs::read_dir(data).with_context(|| format!("listing {}", data.display()))?;
    let names = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .chain(
            saved
                .iter()
                .map(|name| format!("index-{}", name.trim_start_matches("indexer-"))),
        );
    for name in names {
        let Some((_, count)) = name
            .strip_prefix("index-shard-")
            .and_then(|rest| rest.split_once("-of-"))
        else {
            continue;
        };
        if let Ok(count) = count.parse::<u32>()
            && count <= quarry_indexer::MAX_SHARDS
        {
            counts.insert(count);
        }
    }
    for count in counts {
        consumers.extend((0..count).map(|index| Shard { index, count }.consumer()));
    }
    let mut earliest: Option<quarry_pagestore::RecordPosition> = None;
    for consumer in consumers {
        let Some(position) = pages
            .load_checkpoint(&consumer)
            .await
            .context("reading the page-store checkpoints")?
        else {
            return Ok(None);
        };
        earliest = Some(earliest.map_or(position, |e| e.min(position)));
    }
    Ok(earliest)
}

/// Text summary of a rebuild.
pub fn summary(stats: &RebuildStats) -> String {
    let changed = if stats.incremental {
        format!(
            " ({} re-indexed, {} removed or replaced)",
            stats.documents_indexed, stats.documents_removed
        )
    } else {
        String::new()
    };
    format!(
        "{} {} in {:.1} s: {} documents{changed} from {} records ({:.0} records/s, {} duplicates collapsed); \
         index {:.1} MiB for {:.1} MiB of HTML ({:.0}%)",
        if stats.incremental {
            "updated to"
        } else {
            "built"
        },
        stats.generation,
        stats.elapsed.as_secs_f64(),
        stats.documents,
        stats.records_read,
        stats.records_read as f64 / stats.elapsed.as_secs_f64().max(0.001),
        stats.duplicates_collapsed,
        mib(stats.index_bytes),
        mib(stats.raw_html_bytes),
        percent(stats.index_bytes, stats.raw_html_bytes),
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

#[derive(Serialize)]
struct StatsOutput {
    generation: String,
    documents: u64,
    index_bytes: u64,
    raw_html_bytes: u64,
    duplicates_collapsed: u64,
    hosts: u64,
    docstore_bytes: u64,
    update_state_bytes: u64,
    bytes_per_document: f64,
    index_to_raw_ratio: f64,
    page_store_bytes: u64,
    page_store_segments: usize,
    built_at_unix: u64,
}

/// `quarry index rebuild|update [--shard I/N]`: builds and prints the summary.
async fn build_and_report(
    data: &Path,
    kind: BuildKind,
    shard: Option<&str>,
    store: Option<&str>,
    config: &Config,
) -> anyhow::Result<()> {
    let shard = parse_shard(shard)?;
    let stats =
        build_with_progress(data, kind, shard, &config.index, &config.pagestore, store).await?;
    println!("{}", summary(&stats));
    Ok(())
}

/// `quarry index …`.
pub async fn run(command: IndexCommand, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        IndexCommand::Rebuild { data, shard, store } => {
            let (shard, store) = (shard.as_deref(), store.as_deref());
            build_and_report(&data, BuildKind::Rebuild, shard, store, &config).await?;
        }
        IndexCommand::Update { data, shard, store } => {
            let (shard, store) = (shard.as_deref(), store.as_deref());
            build_and_report(&data, BuildKind::Update, shard, store, &config).await?;
        }
        IndexCommand::Stats { data, json, store } => {
            let layout = IndexLayout::new(&DataLayout::new(&data).index());
            let index = layout
                .stats()
                .with_context(|| format!("reading the index of {}", data.display()))?;
            let pages = open_pages(&data, store.as_deref(), &config.pagestore)?;
            let (page_store_bytes, page_store_segments) = pages.size().await?;
            let output = StatsOutput {
                generation: index.generation.to_string(),
                documents: index.documents,
                index_bytes: index.index_bytes,
                raw_html_bytes: index.raw_html_bytes,
                duplicates_collapsed: index.duplicates_collapsed,
                hosts: index.hosts,
                docstore_bytes: index.docstore_bytes,
                update_state_bytes: index.state_bytes,
                bytes_per_document: index.bytes_per_document,
                index_to_raw_ratio: index.index_to_raw_ratio,
                page_store_bytes,
                page_store_segments,
                built_at_unix: index.built_at_unix,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&output)?);
            } else {
                println!("generation        {}", output.generation);
                println!("documents         {}", output.documents);
                println!("hosts             {}", output.hosts);
                println!(
                    "duplicates        {} collapsed into identical or near-identical pages",
                    output.duplicates_collapsed
                );
                println!(
                    "index bytes       {} ({:.1} MiB, {:.0} bytes per document)",
                    output.index_bytes,
                    mib(output.index_bytes),
                    output.bytes_per_document
                );
                println!(
                    "  docstore bytes  {} ({:.1} MiB: stored url, title, body for snippets)",
                    output.docstore_bytes,
                    mib(output.docstore_bytes)
                );
                println!(
                    "update state      {} ({:.1} MiB of parsed pages `index update` continues from; not searched)",
                    output.update_state_bytes,
                    mib(output.update_state_bytes)
                );
                println!(
                    "raw HTML bytes    {} ({:.1} MiB)",
                    output.raw_html_bytes,
                    mib(output.raw_html_bytes)
                );
                println!(
                    "index / raw HTML  {:.1}%",
                    100.0 * output.index_to_raw_ratio
                );
                println!(
                    "page store bytes  {} ({:.1} MiB in {} segments)",
                    output.page_store_bytes,
                    mib(output.page_store_bytes),
                    output.page_store_segments
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
