//! `quarry import`: external WARC files into the page store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use quarry_crawler::{CanonicalUrl, DataLayout};
use quarry_pagestore::{PageStore, StoreError, WriterOptions, read_warc_file};

use crate::UsageError;
use crate::config::Config;

/// Import WARC files (from `wget --warc-file`, Common Crawl, warcio, …) into the page
/// store of DIR, as if crawled. Run `quarry index rebuild` afterwards to search them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
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
    let pages = DataLayout::new(&args.data).pages();
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
    println!(
        "imported {} responses from {} file(s) into {}; skipped {} not http(s), {} unreadable. \
         Run `quarry index rebuild --data {}` to search them.",
        counts.imported,
        args.files.len(),
        pages.display(),
        counts.not_http,
        counts.unreadable,
        args.data.display()
    );
    Ok(ExitCode::SUCCESS)
}
