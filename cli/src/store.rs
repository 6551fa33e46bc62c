//! Where the page store lives (`--store` or `[pagestore] store`): the local directory
//! `DATA/pages` by default, another directory (`file:///DIR`), or object storage
//! (`s3://BUCKET/PREFIX`), whose segments the indexer mirrors into `DATA/store-cache`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use quarry_crawler::DataLayout;
use quarry_pagestore::{PageStore, RecordPosition, RemoteStore, Retired, SegmentId, StoreError};

use crate::UsageError;

/// The page store a command works on.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A local directory in today's layout.
    Local(PathBuf),
    /// Object storage.
    Remote(RemoteStore),
}

impl StoreLocation {
    /// Resolves `--store URL` (or the config's `pagestore.store`; empty: `DATA/pages`).
    pub fn resolve(data: &Path, url: Option<&str>) -> anyhow::Result<StoreLocation> {
        let url = url.map(str::trim).unwrap_or_default();
        if url.is_empty() {
            return Ok(StoreLocation::Local(DataLayout::new(data).pages()));
        }
        if let Some(path) = url.strip_prefix("file://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(UsageError(format!(
                    "invalid page store URL {url:?}: a file URL needs an absolute path, e.g. file:///srv/quarry/pages"
                ))
                .into());
            }
            return Ok(StoreLocation::Local(path));
        }
        match RemoteStore::open(url) {
            Ok(remote) => Ok(StoreLocation::Remote(remote)),
            Err(error @ StoreError::InvalidStoreUrl { .. }) => {
                Err(UsageError(error.to_string()).into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// How to name the store in messages.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Local(dir) => dir.display().to_string(),
            StoreLocation::Remote(remote) => remote.url().to_owned(),
        }
    }
}

/// A page store to read from: a local one, or the local mirror of one in object storage
/// together with the store itself (which keeps the checkpoints and the retention list).
#[derive(Debug, Clone)]
pub struct Pages {
    /// What the indexer reads.
    pub local: PageStore,
    remote: Option<RemoteStore>,
}

impl Pages {
    /// Opens the page store of `location` for reading. A local one must exist; for one in
    /// object storage the mirror `DATA/store-cache` is created (and filled by
    /// [`Pages::mirror`]).
    pub fn open(data: &Path, location: StoreLocation) -> anyhow::Result<Pages> {
        match location {
            StoreLocation::Local(dir) => {
                if !dir.is_dir() {
                    anyhow::bail!(
                        "no page store in {}: run `quarry crawl --data {}` first",
                        dir.display(),
                        data.display()
                    );
                }
                let local = PageStore::open(&dir)
                    .with_context(|| format!("opening page store {}", dir.display()))?;
                Ok(Pages {
                    local,
                    remote: None,
                })
            }
            StoreLocation::Remote(remote) => {
                let cache = DataLayout::new(data).store_cache();
                let local = PageStore::open(&cache)
                    .with_context(|| format!("opening the page-store cache {}", cache.display()))?;
                Ok(Pages {
                    local,
                    remote: Some(remote),
                })
            }
        }
    }

    /// Brings the local mirror up to date with the object store, from segment `from` on
    /// (everything when `None`), and says what moved. Nothing to do for a local store.
    pub async fn mirror(&self, from: Option<SegmentId>) -> anyhow::Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let transfer = remote
            .download(&self.local, from)
            .await
            .with_context(|| format!("mirroring the page store {}", remote.url()))?;
        if !transfer.segments.is_empty() || !transfer.removed.is_empty() {
            eprintln!(
                "page store {}: downloaded {} segment(s) ({:.1} MiB) into {}, dropped {} from the cache",
                remote.url(),
                transfer.segments.len(),
                transfer.bytes as f64 / (1024.0 * 1024.0),
                self.local.dir().display(),
                transfer.removed.len()
            );
        }
        Ok(())
    }

    /// The checkpoint `consumer` saved last.
    pub async fn load_checkpoint(
        &self,
        consumer: &str,
    ) -> Result<Option<RecordPosition>, StoreError> {
        match &self.remote {
            Some(remote) => remote.load_checkpoint(consumer).await,
            None => self.local.load_checkpoint(consumer),
        }
    }

    /// Saves `consumer`'s checkpoint where the store keeps them.
    pub async fn save_checkpoint(
        &self,
        consumer: &str,
        position: RecordPosition,
    ) -> Result<(), StoreError> {
        match &self.remote {
            Some(remote) => remote.save_checkpoint(consumer, position).await,
            None => self.local.save_checkpoint(consumer, position),
        }
    }

    /// The consumers with a checkpoint.
    pub async fn checkpoint_consumers(&self) -> Result<Vec<String>, StoreError> {
        match &self.remote {
            Some(remote) => remote.checkpoint_consumers().await,
            None => self.local.checkpoint_consumers(),
        }
    }

    /// The segments retention has deleted.
    pub async fn retired(&self) -> Result<Retired, StoreError> {
        match &self.remote {
            Some(remote) => remote.retired().await,
            None => self.local.retired(),
        }
    }

    /// Retention: deletes the consumed segments older than `older_than` (from the object
    /// store and the mirror).
    pub async fn retire_consumed(
        &self,
        consumed: RecordPosition,
        older_than: Duration,
    ) -> Result<Vec<SegmentId>, StoreError> {
        match &self.remote {
            Some(remote) => {
                let removed = remote.retire_consumed(consumed, older_than).await?;
                for id in &removed {
                    let path = self.local.dir().join(id.file_name());
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(StoreError::Io { path, source: e });
                        }
                    }
                }
                Ok(removed)
            }
            None => self.local.retire_consumed(consumed, older_than),
        }
    }

    /// The size of the store's segments and their number.
    pub async fn size(&self) -> Result<(u64, usize), StoreError> {
        match &self.remote {
            Some(remote) => {
                let segments = remote.segments().await?;
                Ok((segments.iter().map(|s| s.bytes).sum(), segments.len()))
            }
            None => Ok((self.local.total_bytes()?, self.local.segments()?.len())),
        }
    }
}

/// The highest segment number in `remote`: a writer numbers its new segments after it.
pub async fn last_uploaded(remote: &RemoteStore) -> anyhow::Result<Option<SegmentId>> {
    Ok(remote
        .segments()
        .await
        .with_context(|| format!("listing the page store {}", remote.url()))?
        .last()
        .map(|s| s.id))
}

/// Uploads every segment of `local` (its writer has finished) to `remote`; returns how
/// many segments and bytes went up.
pub async fn upload_rest(local: &PageStore, remote: &RemoteStore) -> anyhow::Result<(u64, u64)> {
    let transfer = remote.upload_sealed(local, false).await.with_context(|| {
        format!(
            "uploading the page store to {}: the segments not uploaded stay in {} and go up with the next `quarry crawl` or `quarry import` with this --store",
            remote.url(),
            local.dir().display()
        )
    })?;
    Ok((transfer.segments.len() as u64, transfer.bytes))
}

/// While a writer appends to `local`, uploads its sealed segments to `remote` every
/// `every`; when `done` resolves, uploads the rest (the writer has finished) and returns
/// what went up. An upload that fails mid-way is retried on the next tick; the segments
/// stay local until they are in the store.
pub async fn upload_while(
    local: &PageStore,
    remote: &RemoteStore,
    every: Duration,
    done: impl std::future::Future<Output = ()>,
) -> anyhow::Result<(u64, u64)> {
    tokio::pin!(done);
    let (mut segments, mut bytes) = (0u64, 0u64);
    let mut warned = false;
    loop {
        tokio::select! {
            () = &mut done => break,
            () = tokio::time::sleep(every) => {
                match remote.upload_sealed(local, true).await {
                    Ok(transfer) => {
                        segments += transfer.segments.len() as u64;
                        bytes += transfer.bytes;
                    }
                    Err(error) if !warned => {
                        warned = true;
                        eprintln!("warning: uploading to {} failed, will retry: {error}", remote.url());
                    }
                    Err(_) => {}
                }
            }
        }
    }
    let (rest, rest_bytes) = upload_rest(local, remote).await?;
    Ok((segments + rest, bytes + rest_bytes))
}
