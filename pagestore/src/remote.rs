//! The page store on object storage: S3 or any S3-compatible server, through the
//! `object_store` crate.
//!
//! Under the store's prefix the layout is the local one: `segment-NNNNNN.warc.gz`,
//! `checkpoints/NAME.json` and `retired.json`. The writer still appends to a local directory;
//! a segment is uploaded once it is sealed and never changes afterwards. Several writers can
//! share one store (the workers of a crawl on a shared frontier): each upload claims the next
//! free segment number with a put-if-absent, so no writer overwrites another's segment and
//! the store stays one sequence in upload order. A segment already there under the number
//! its upload claimed counts as uploaded (a crash between the upload and the removal of the
//! local copy). Readers mirror the sealed segments into a local cache
//! directory and read them there with [`PageStore::records`]: the indexer reads every record
//! of the segments it needs anyway, so a whole-object download is the cheapest way to read
//! them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::checkpoint::{self, CHECKPOINT_DIR};
use crate::error::StoreError;
use crate::record::{RecordPosition, SegmentId};
use crate::retention::{self, Aged, RETIRED_FILE, Retired};
use crate::segment::list_segments;
use crate::store::PageStore;

/// A page store on object storage.
#[derive(Clone)]
pub struct RemoteStore {
    objects: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
}

impl fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A segment in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSegment {
    /// Its number.
    pub id: SegmentId,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was uploaded.
    pub modified: SystemTime,
}

/// What an upload or a download moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfer {
    /// The segments copied, ascending.
    pub segments: Vec<SegmentId>,
    /// Their total size.
    pub bytes: u64,
    /// Local copies removed: uploaded ones, or cached ones the store no longer holds.
    pub removed: Vec<SegmentId>,
}

impl RemoteStore {
    /// Opens the store named by `url`: `s3://BUCKET/PREFIX` (or `s3a://`). Credentials,
    /// region and endpoint come from the usual `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT`
    /// for an S3-compatible server, `AWS_ALLOW_HTTP=true` for one without TLS). Nothing is
    /// contacted until the first request.
    ///
    /// # Errors
    /// [`StoreError::InvalidStoreUrl`] for another scheme, a missing bucket or a bad
    /// setting.
    pub fn open(url: &str) -> Result<RemoteStore, StoreError> {
        let invalid = |reason: String| StoreError::InvalidStoreUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "s3" | "s3a") {
            return Err(invalid(format!(
                "unsupported scheme {:?}: use s3://BUCKET/PREFIX or file:///DIR",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no bucket: use s3://BUCKET/PREFIX".into()));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a query or fragment has no meaning here".into()));
        }
        let prefix =
            ObjectPath::from_url_path(parsed.path()).map_err(|e| invalid(e.to_string()))?;
        let objects = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(RemoteStore::new(Arc::new(objects), prefix, url))
    }

    /// A store over any `object_store` implementation (tests use the in-memory one), with
    /// `prefix` as its root and `url` as its name in messages.
    pub fn new(objects: Arc<dyn ObjectStore>, prefix: ObjectPath, url: &str) -> RemoteStore {
        RemoteStore {
            objects,
            prefix,
            url: url.trim_end_matches('/').to_owned(),
        }
    }

    /// The store's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn object(&self, name: &str) -> ObjectPath {
        self.prefix.child(name)
    }

    fn checkpoint_object(&self, name: &str) -> ObjectPath {
        self.prefix.child(CHECKPOINT_DIR).child(name)
    }

    fn object_url(&self, path: &ObjectPath) -> String {
        let relative = path
            .prefix_match(&self.prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
            .unwrap_or_default();
        format!("{}/{}", self.url, relative.join("/"))
    }

    fn error(&self, action: impl Into<String>, source: object_store::Error) -> StoreError {
        StoreError::Remote {
            url: self.url.clone(),
            action: action.into(),
            source,
        }
    }

    /// Lists the objects directly under `dir` (the prefix itself when `None`).
    async fn list(&self, dir: Option<&str>) -> Result<Vec<object_store::ObjectMeta>, StoreError> {
        let path = match dir {
            Some(dir) => self.prefix.child(dir),
            None => self.prefix.clone(),
        };
        let root = (path.as_ref() != "").then_some(&path);
        self.objects
            .list_with_delimiter(root)
            .await
            .map(|listing| listing.objects)
            .map_err(|e| self.error("listing", e))
    }

    /// The segments in the store, ascending.
    ///
    /// # Errors
    /// [`StoreError::Remote`].
    pub async fn segments(&self) -> Result<Vec<RemoteSegment>, StoreError> {
        let mut segments: Vec<RemoteSegment> = self
            .list(None)
            .await?
            .into_iter()
            .filter_map(|meta| {
                let id = SegmentId::from_file_name(meta.location.filename()?)?;
                Some(RemoteSegment {
                    id,
                    bytes: meta.size,
                    modified: SystemTime::UNIX_EPOCH
                        + Duration::from_millis(
                            u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0),
                        ),
                })
            })
            .collect();
        segments.sort_by_key(|s| s.id);
        Ok(segments)
    }

    /// Uploads the sealed segments of the local store `local` in order (all of them, or all
    /// but the last when `keep_last`: the one a running writer appends to) and removes each
    /// local copy once the store holds it. Stops at the first failure; what was not
    /// uploaded stays local and goes up on the next call.
    ///
    /// Several writers may upload to one store (the workers of a shared crawl): each
    /// segment goes up under the next number free in the store, claimed with a put-if-absent,
    /// so the store's segments stay one gap-free sequence in upload order, which is the
    /// order readers consume them in. The number is noted next to the local copy
    /// (`.segment-NNNNNN.warc.gz.claim`) before the put, so after a crash between the upload
    /// and the removal of the local copy the segment is found there and not uploaded twice.
    ///
    /// # Errors
    /// [`StoreError::SegmentConflict`] when other writers took every number tried;
    /// [`StoreError::Remote`], [`StoreError::Io`].
    pub async fn upload_sealed(
        &self,
        local: &PageStore,
        keep_last: bool,
    ) -> Result<Transfer, StoreError> {
        let mut segments = list_segments(local.dir())?;
        if keep_last {
            segments.pop();
        }
        let mut transfer = Transfer::default();
        let mut next = None;
        for segment in segments {
            let bytes = tokio::fs::read(&segment.path)
                .await
                .map_err(|e| StoreError::io(&segment.path, e))?;
            let claim = local.dir().join(claim_file_name(segment.id));
            if !bytes.is_empty() {
                let content = Content::new(bytes);
                let id = match self.claimed_before(&claim, &content).await? {
                    Some(id) => id,
                    None => self.claim(segment.id, &claim, &content, &mut next).await?,
                };
                transfer.segments.push(id);
                transfer.bytes += segment.bytes;
            }
            tokio::fs::remove_file(&segment.path)
                .await
                .map_err(|e| StoreError::io(&segment.path, e))?;
            match tokio::fs::remove_file(&claim).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&claim, e)),
            }
            transfer.removed.push(segment.id);
        }
        Ok(transfer)
    }

    /// The number an earlier upload of this content claimed, if the store holds it there.
    async fn claimed_before(
        &self,
        claim: &Path,
        content: &Content,
    ) -> Result<Option<SegmentId>, StoreError> {
        let text = match tokio::fs::read_to_string(claim).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(claim, e)),
        };
        // A claim that does not parse was torn by a crash before its put: ignore it.
        let Some(id) = text.trim().parse().ok().map(SegmentId) else {
            return Ok(None);
        };
        Ok(self.holds(id, content).await?.then_some(id))
    }

    /// Puts `content` (local segment `local_id`) under the next free number: the one after
    /// the highest in the store, or `next` when this call already knows it. A number another
    /// writer took first is skipped.
    async fn claim(
        &self,
        local_id: SegmentId,
        claim: &Path,
        content: &Content,
        next: &mut Option<SegmentId>,
    ) -> Result<SegmentId, StoreError> {
        let dir = claim.parent().unwrap_or(Path::new("."));
        let name = claim
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for _ in 0..CLAIM_ATTEMPTS {
            let id = match *next {
                Some(id) => id,
                None => self.next_free(local_id).await?,
            };
            checkpoint::write_atomically(dir, name, id.0.to_string().as_bytes())?;
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let path = self.object(&id.file_name());
            match self
                .objects
                .put_opts(&path, PutPayload::from(content.bytes.clone()), options)
                .await
            {
                Ok(_) => {
                    *next = following(id);
                    return Ok(id);
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    if self.holds(id, content).await? {
                        *next = following(id);
                        return Ok(id);
                    }
                    // Another writer took it: look again for the highest number.
                    *next = None;
                }
                Err(e) => return Err(self.error(format!("uploading segment {id}"), e)),
            }
        }
        Err(StoreError::SegmentConflict {
            segment: local_id,
            url: self.url.clone(),
        })
    }

    /// The number after the highest segment in the store (`local_id` in an empty one).
    async fn next_free(&self, local_id: SegmentId) -> Result<SegmentId, StoreError> {
        match self.segments().await?.last() {
            Some(last) => {
                following(last.id).ok_or(StoreError::SegmentIdsExhausted { last: last.id })
            }
            None => Ok(local_id),
        }
    }

    /// Whether the store's segment `id` has exactly `content`.
    async fn holds(&self, id: SegmentId, content: &Content) -> Result<bool, StoreError> {
        let path = self.object(&id.file_name());
        let existing = match self.objects.head(&path).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.error(format!("checking segment {id}"), e)),
        };
        if existing.size != content.bytes.len() as u64 {
            return Ok(false);
        }
        // S3 gives a single-part object's MD5 as its ETag. Other stores (and S3 with
        // KMS encryption) give another tag: then compare the bytes themselves.
        let tag = existing.e_tag.as_deref().map(|tag| tag.trim_matches('"'));
        if tag.is_some_and(|tag| tag.eq_ignore_ascii_case(&content.md5)) {
            return Ok(true);
        }
        let stored = self.read_small(&path).await?;
        Ok(stored.is_some_and(|stored| stored == content.bytes.as_ref()))
    }

    /// Makes the local directory `cache` a mirror of the store's segments numbered `from` and
    /// later (all when `None`), and of its retention list: downloads what is missing or
    /// differs in size, removes cached segments the store no longer holds or that lie before
    /// `from`. Each download goes to a temporary file renamed into place, so an interrupted
    /// one leaves no partial segment.
    ///
    /// # Errors
    /// [`StoreError::Remote`], [`StoreError::Io`].
    pub async fn download(
        &self,
        cache: &PageStore,
        from: Option<SegmentId>,
    ) -> Result<Transfer, StoreError> {
        let remote = self.segments().await?;
        let wanted = |id: SegmentId| from.is_none_or(|from| id >= from);
        let mut transfer = Transfer::default();
        for segment in list_segments(cache.dir())? {
            let keep = wanted(segment.id)
                && remote
                    .iter()
                    .any(|r| r.id == segment.id && r.bytes == segment.bytes);
            if !keep {
                tokio::fs::remove_file(&segment.path)
                    .await
                    .map_err(|e| StoreError::io(&segment.path, e))?;
                transfer.removed.push(segment.id);
            }
        }
        let cached = list_segments(cache.dir())?;
        for segment in remote.iter().filter(|s| wanted(s.id)) {
            if cached.iter().any(|c| c.id == segment.id) {
                continue;
            }
            let name = segment.id.file_name();
            self.fetch_to(&self.object(&name), cache.dir(), &name)
                .await?;
            transfer.segments.push(segment.id);
            transfer.bytes += segment.bytes;
        }
        let retired = self.retired().await?;
        let local_retired = cache.dir().join(RETIRED_FILE);
        if retired == Retired::default() {
            match tokio::fs::remove_file(&local_retired).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(local_retired, e)),
            }
        } else {
            checkpoint::write_atomically(cache.dir(), RETIRED_FILE, &retention::encode(&retired))?;
        }
        Ok(transfer)
    }

    /// Streams the object at `path` into `dir/name` through a temporary file.
    async fn fetch_to(&self, path: &ObjectPath, dir: &Path, name: &str) -> Result<(), StoreError> {
        let temp: PathBuf = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = async {
            let got = self
                .objects
                .get(path)
                .await
                .map_err(|e| self.error(format!("downloading {name}"), e))?;
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| StoreError::io(&temp, e))?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.error(format!("downloading {name}"), e))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| StoreError::io(&temp, e))?;
            }
            file.sync_all()
                .await
                .map_err(|e| StoreError::io(&temp, e))?;
            let target = dir.join(name);
            tokio::fs::rename(&temp, &target)
                .await
                .map_err(|e| StoreError::io(&target, e))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    /// Reads a small object; `None` if it does not exist.
    async fn read_small(&self, path: &ObjectPath) -> Result<Option<Vec<u8>>, StoreError> {
        let action = || format!("reading {}", self.object_url(path));
        match self.objects.get(path).await {
            Ok(got) => got
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| self.error(action(), e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(action(), e)),
        }
    }

    async fn write_small(&self, path: &ObjectPath, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.objects
            .put(path, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| self.error(format!("writing {}", self.object_url(path)), e))
    }

    /// The checkpoint `consumer` saved last in the store, if any.
    ///
    /// # Errors
    /// [`StoreError::InvalidConsumer`], [`StoreError::Checkpoint`], [`StoreError::Remote`].
    pub async fn load_checkpoint(
        &self,
        consumer: &str,
    ) -> Result<Option<RecordPosition>, StoreError> {
        let path = self.checkpoint_object(&checkpoint::file_name(consumer)?);
        match self.read_small(&path).await? {
            Some(bytes) => checkpoint::decode(&bytes, self.object_url(&path)).map(Some),
            None => Ok(None),
        }
    }

    /// Saves `position` as `consumer`'s checkpoint in the store (`checkpoints/NAME.json`,
    /// replaced in one put: a reader sees the old or the new one).
    ///
    /// # Errors
    /// [`StoreError::InvalidConsumer`], [`StoreError::Remote`].
    pub async fn save_checkpoint(
        &self,
        consumer: &str,
        position: RecordPosition,
    ) -> Result<(), StoreError> {
        let path = self.checkpoint_object(&checkpoint::file_name(consumer)?);
        self.write_small(&path, checkpoint::encode(consumer, position))
            .await
    }

    /// The consumers with a checkpoint in the store, sorted.
    ///
    /// # Errors
    /// [`StoreError::Remote`].
    pub async fn checkpoint_consumers(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .list(Some(CHECKPOINT_DIR))
            .await?
            .iter()
            .filter_map(|meta| checkpoint::consumer_of(meta.location.filename()?))
            .map(str::to_owned)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The segments retention has deleted from the store so far.
    ///
    /// # Errors
    /// [`StoreError::Checkpoint`] for an unreadable `retired.json`, [`StoreError::Remote`].
    pub async fn retired(&self) -> Result<Retired, StoreError> {
        let path = self.object(RETIRED_FILE);
        match self.read_small(&path).await? {
            Some(bytes) => retention::decode(&bytes, self.object_url(&path)),
            None => Ok(Retired::default()),
        }
    }

    /// Retention in the store, as [`PageStore::retire_consumed`] does locally: deletes the
    /// segments wholly before `consumed` that were uploaded more than `older_than` ago (never
    /// the last), after recording them in `retired.json`; returns them.
    ///
    /// # Errors
    /// [`StoreError::Remote`], [`StoreError::Checkpoint`].
    pub async fn retire_consumed(
        &self,
        consumed: RecordPosition,
        older_than: Duration,
    ) -> Result<Vec<SegmentId>, StoreError> {
        let aged: Vec<Aged> = self
            .segments()
            .await?
            .into_iter()
            .map(|s| Aged {
                id: s.id,
                bytes: s.bytes,
                modified: s.modified,
            })
            .collect();
        let doomed = retention::doomed(&aged, consumed, older_than);
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let retired = retention::with_retired(self.retired().await?, &doomed);
        self.write_small(&self.object(RETIRED_FILE), retention::encode(&retired))
            .await?;
        for segment in &doomed {
            let path = self.object(&segment.id.file_name());
            match self.objects.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(format!("deleting segment {}", segment.id), e)),
            }
        }
        Ok(doomed.into_iter().map(|s| s.id).collect())
    }
}

/// How many segment numbers an upload tries before it gives up (other writers taking each
/// one first).
const CLAIM_ATTEMPTS: usize = 64;

/// The file next to local segment `id` that names the number its upload claimed.
fn claim_file_name(id: SegmentId) -> String {
    format!(".{}.claim", id.file_name())
}

fn following(id: SegmentId) -> Option<SegmentId> {
    id.0.checked_add(1).map(SegmentId)
}

/// A segment's bytes and their MD5 (hex), as S3 reports it for a single-part upload.
struct Content {
    bytes: bytes::Bytes,
    md5: String,
}

impl Content {
    fn new(bytes: Vec<u8>) -> Content {
        let md5 = data_encoding::HEXLOWER.encode(&Md5::digest(&bytes));
        Content {
            bytes: bytes.into(),
            md5,
        }
    }
}

#[cfg(test)]
mod tests;
