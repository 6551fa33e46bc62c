//! `quarry import`: external WARC files into the page store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use quarry_crawler::{CanonicalUrl, DataLayout};
use quarry_pagestore::{PageStore, StoreError, WriterOptions, read_warc_file};

use crate::UsageError;
use crate::config::Config;
use crate::store::{StoreLocation, last_uploaded, upload_rest};

/// Import WARC files (from `wget --warc-file`, Common Crawl, warcio, …) into the page
/// store of DIR, as if crawled. Run `quarry index rebuild` afterwards to search them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Where the page store lives (see `quarry crawl --store`); with `s3://…` the
    /// imported segments are uploaded at the end [config: pagestore.store].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// WARC files, gzip-compressed (`.warc.gz`) or not.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What an import did.
#[derive(Debug, Default)]
struct Counts {
    imported: u64,
    not_http: u64,
    unreadable: u64,
}

/// `quarry import`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    for file in &args.files {
        if !file.is_file() {
            return Err(UsageError(format!("no such file: {}", file.display())).into());
        }
    }
    let location = StoreLocation::resolve(
        &args.data,
        Some(args.store.as_deref().unwrap_or(&config.pagestore.store)),
    )?;
    let (pages, remote) = match &location {
        StoreLocation::Local(dir) => (dir.clone(), None),
        StoreLocation::Remote(remote) => (DataLayout::new(&args.data).pages(), Some(remote)),
    };
    let last_uploaded = match remote {
        Some(remote) => Some(last_uploaded(remote).await?),
        None => None,
    };
    let store = PageStore::open(&pages)
        .with_context(|| format!("opening page store {}", pages.display()))?;
    let mut writer = match store.writer(WriterOptions {
        segment_max_bytes: config.crawl.segment_max_bytes,
    }) {
        Ok(writer) => writer,
        Err(StoreError::Locked { .. }) => {
            anyhow::bail!(
                "the page store {} is in use (is a crawl running?)",
                pages.display()
            )
        }
        Err(error) => return Err(error).context("opening the page store for writing"),
    };
    if let Some(after) = last_uploaded {
        writer
            .seal(after)
            .context("sealing the last local segment")?;
    }
    let mut counts = Counts::default();
    tokio::task::block_in_place(|| -> anyhow::Result<()> {
        for file in &args.files {
            let records =
                read_warc_file(file).with_context(|| format!("reading {}", file.display()))?;
            for record in records {
                let mut record = match record {
                    Ok(record) => record,
                    Err(error) => {
                        eprintln!("warning: {}: {error}", file.display());
                        counts.unreadable += 1;
                        continue;
                    }
                };
                let Some(url) = CanonicalUrl::parse(&record.url) else {
                    counts.not_http += 1;
                    continue;
                };
                record.url = url.to_string();
                writer
                    .append(&record)
                    .context("writing to the page store")?;
                counts.imported += 1;
            }
        }
        writer.sync().context("syncing the page store")?;
        Ok(())
    })?;
    drop(writer);
    if let Some(remote) = remote {
        upload_rest(&store, remote).await?;
    }
    println!(
        "imported {} responses from {} file(s) into {}; skipped {} not http(s), {} unreadable. \
         Run `quarry index rebuild --data {}` to search them.",
        counts.imported,
        args.files.len(),
        location.describe(),
        counts.not_http,
        counts.unreadable,
        args.data.display()
    );
    Ok(ExitCode::SUCCESS)
}
