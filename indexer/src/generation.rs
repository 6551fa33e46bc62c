//! Index generations: `index/gen-NNNNNN/` directories and the atomic `index/CURRENT` pointer.
//!
//! Invariant: `CURRENT` only ever names a generation whose build completed (its tantivy
//! commit and its `generation.json` are durable before the pointer is switched). A crash
//! at any point therefore leaves the previous generation serving; half-built generations
//! newer than `CURRENT` are removed by the next build.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tantivy::Index;

use crate::analyzer::register_analyzers;
use crate::error::IndexError;
use crate::schema::Fields;

const CURRENT: &str = "CURRENT";
const META_FILE: &str = "generation.json";
const LOCK_FILE: &str = "LOCK";
const ALIASES_FILE: &str = "aliases.tsv";
const PREFIX: &str = "gen-";

/// Number of a generation; generations are numbered upwards from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GenerationId(pub u64);

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{:06}", self.0)
    }
}

impl GenerationId {
    fn parse(name: &str) -> Option<GenerationId> {
        let digits = name.strip_prefix(PREFIX)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(GenerationId)
    }
}

/// Summary written next to each generation's tantivy files when its build completes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationMeta {
    /// The generation.
    pub id: GenerationId,
    /// When the build finished (seconds since the Unix epoch).
    pub built_at_unix: u64,
    /// Documents in the index.
    pub documents: u64,
    /// Page-store response records read to build it.
    pub records_read: u64,
    /// Bytes of raw HTML behind the indexed documents (the latest fetch of each URL).
    pub raw_html_bytes: u64,
    /// Size of the page store when the build read it.
    pub page_store_bytes: u64,
    /// Pages collapsed into an identical page (see `aliases.tsv`).
    #[serde(default)]
    pub duplicates_collapsed: u64,
    /// Distinct hosts of the indexed documents.
    #[serde(default)]
    pub hosts: u64,
    /// Where the next update reads the page store from (records before it are in this
    /// generation).
    #[serde(default)]
    pub checkpoint: Option<quarry_pagestore::RecordPosition>,
    /// The partition of the documents this generation holds (`quarry index rebuild
    /// --shard i/N`); `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::Shard>,
}

/// Size figures of the current index, for `quarry index stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexStats {
    /// The current generation.
    pub generation: GenerationId,
    /// Documents in the index.
    pub documents: u64,
    /// Bytes of all files of the current generation.
    pub index_bytes: u64,
    /// Raw HTML bytes behind the indexed documents.
    pub raw_html_bytes: u64,
    /// Pages collapsed into an identical or near-identical page.
    pub duplicates_collapsed: u64,
    /// Distinct hosts of the indexed documents.
    pub hosts: u64,
    /// Bytes of the stored-fields files (`*.store`: url, title, body for snippets …), part
    /// of `index_bytes`.
    pub docstore_bytes: u64,
    /// Bytes of the update state kept beside the index (parsed pages and `state.json`,
    /// what `quarry index update` continues from); not read by searches, not part of
    /// `index_bytes`.
    pub state_bytes: u64,
    /// Index bytes per document.
    pub bytes_per_document: f64,
    /// Index bytes / raw HTML bytes.
    pub index_to_raw_ratio: f64,
    /// When the generation was built (seconds since the Unix epoch).
    pub built_at_unix: u64,
}

/// The layout of an index directory.
#[derive(Debug, Clone)]
pub struct IndexLayout {
    dir: PathBuf,
}

impl IndexLayout {
    /// The index directory `dir` (usually `DATA/index`). Nothing is touched.
    pub fn new(dir: &Path) -> IndexLayout {
        IndexLayout {
            dir: dir.to_path_buf(),
        }
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of generation `id`.
    pub fn generation_dir(&self, id: GenerationId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Path of the `CURRENT` pointer file.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// The generation `CURRENT` points at, if any.
    ///
    /// # Errors
    /// [`IndexError::CorruptMeta`] if the pointer does not name a generation.
    pub fn current(&self) -> Result<Option<GenerationId>, IndexError> {
        let path = self.current_path();
        match fs::read_to_string(&path) {
            Ok(text) => {
                GenerationId::parse(text.trim())
                    .map(Some)
                    .ok_or_else(|| IndexError::CorruptMeta {
                        path,
                        reason: format!("`{}` is not a generation name", text.trim()),
                    })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(IndexError::io(path)(error)),
        }
    }

    /// All generation directories present, in ascending order.
    pub fn generations(&self) -> Result<Vec<GenerationId>, IndexError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(IndexError::io(&self.dir)(error)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(IndexError::io(&self.dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(GenerationId::parse) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Takes the builder lock: one build at a time per index directory. The lock is held
    /// until the returned file is dropped.
    pub(crate) fn lock(&self) -> Result<fs::File, IndexError> {
        fs::create_dir_all(&self.dir).map_err(IndexError::io(&self.dir))?;
        let path = self.dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(IndexError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(IndexError::Locked { path }),
            Err(fs::TryLockError::Error(error)) => Err(IndexError::io(path)(error)),
        }
    }

    /// The id the next build should use.
    pub(crate) fn next_id(&self) -> Result<GenerationId, IndexError> {
        let last = self.generations()?.last().copied();
        let current = self.current()?;
        let top = last.max(current).map_or(0, |id| id.0);
        Ok(GenerationId(top + 1))
    }

    /// Writes the meta file of a finished generation (durably).
    pub(crate) fn write_meta(&self, meta: &GenerationMeta) -> Result<(), IndexError> {
        let path = self.generation_dir(meta.id).join(META_FILE);
        let json = serde_json::to_vec_pretty(meta).map_err(|error| IndexError::CorruptMeta {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        write_durably(&path, &json)
    }

    /// Writes `aliases.tsv` (alias URL, tab, URL kept) into generation `id`.
    pub(crate) fn write_aliases(
        &self,
        id: GenerationId,
        aliases: &[(String, String)],
    ) -> Result<(), IndexError> {
        let mut text = String::new();
        for (alias, kept) in aliases {
            text.push_str(alias);
            text.push('\t');
            text.push_str(kept);
            text.push('\n');
        }
        write_durably(&self.generation_dir(id).join(ALIASES_FILE), text.as_bytes())
    }

    /// Reads the meta file of generation `id`.
    pub fn read_meta(&self, id: GenerationId) -> Result<GenerationMeta, IndexError> {
        let path = self.generation_dir(id).join(META_FILE);
        let bytes = fs::read(&path).map_err(IndexError::io(&path))?;
        serde_json::from_slice(&bytes).map_err(|error| IndexError::CorruptMeta {
            path,
            reason: error.to_string(),
        })
    }

    /// Atomically points `CURRENT` at `id`: temp file, fsync, rename, fsync directory.
    pub(crate) fn switch_current(&self, id: GenerationId) -> Result<(), IndexError> {
        write_durably(&self.current_path(), format!("{id}\n").as_bytes())
    }

    /// Removes generations other than the current one and the one before it (a server may
    /// still be answering from it until it notices the switch), and any unfinished build.
    pub(crate) fn remove_old(
        &self,
        current: GenerationId,
    ) -> Result<Vec<GenerationId>, IndexError> {
        let keep_previous = self
            .generations()?
            .into_iter()
            .filter(|id| *id < current && self.read_meta(*id).is_ok())
            .max();
        let mut removed = Vec::new();
        for id in self.generations()? {
            if id == current || Some(id) == keep_previous {
                continue;
            }
            let dir = self.generation_dir(id);
            fs::remove_dir_all(&dir).map_err(IndexError::io(&dir))?;
            removed.push(id);
        }
        Ok(removed)
    }

    /// Size figures of the current generation.
    ///
    /// # Errors
    /// [`IndexError::NoGeneration`] when nothing was built yet.
    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        let id = self.current()?.ok_or_else(|| IndexError::NoGeneration {
            dir: self.dir.clone(),
        })?;
        let meta = self.read_meta(id)?;
        let dir = self.generation_dir(id);
        let mut index_bytes = 0;
        let mut docstore_bytes = 0;
        let mut state_bytes = 0;
        for entry in fs::read_dir(&dir).map_err(IndexError::io(&dir))? {
            let entry = entry.map_err(IndexError::io(&dir))?;
            let len = entry
                .metadata()
                .map_err(IndexError::io(entry.path()))?
                .len();
            let name = entry.file_name();
            if crate::state::STATE_FILES.iter().any(|f| name == *f) {
                state_bytes += len;
                continue;
            }
            index_bytes += len;
            if entry.path().extension().is_some_and(|e| e == "store") {
                docstore_bytes += len;
            }
        }
        Ok(IndexStats {
            generation: id,
            documents: meta.documents,
            index_bytes,
            raw_html_bytes: meta.raw_html_bytes,
            duplicates_collapsed: meta.duplicates_collapsed,
            hosts: meta.hosts,
            docstore_bytes,
            state_bytes,
            bytes_per_document: if meta.documents == 0 {
                0.0
            } else {
                index_bytes as f64 / meta.documents as f64
            },
            index_to_raw_ratio: if meta.raw_html_bytes == 0 {
                0.0
            } else {
                index_bytes as f64 / meta.raw_html_bytes as f64
            },
            built_at_unix: meta.built_at_unix,
        })
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(IndexError::io(&tmp))?;
    file.write_all(bytes).map_err(IndexError::io(&tmp))?;
    file.sync_all().map_err(IndexError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(IndexError::io(path))?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(IndexError::io(parent))?;
    }
    Ok(())
}

/// An opened, complete generation: the tantivy index with Quarry's analyzers registered.
#[derive(Clone)]
pub struct Generation {
    /// The generation.
    pub id: GenerationId,
    /// Its summary.
    pub meta: GenerationMeta,
    /// The tantivy index.
    pub index: Index,
    /// The schema fields.
    pub fields: Fields,
    /// Its dictionary (autocomplete, did-you-mean); `None` for generations built before
    /// dictionaries existed.
    pub dictionary: Option<std::sync::Arc<crate::dictionary::Dictionary>>,
}

impl fmt::Debug for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Generation {
    /// Opens the generation `CURRENT` points at.
    ///
    /// # Errors
    /// [`IndexError::NoGeneration`] when nothing was built yet; tantivy or I/O errors.
    pub fn open_current(layout: &IndexLayout) -> Result<Generation, IndexError> {
        let id = layout.current()?.ok_or_else(|| IndexError::NoGeneration {
            dir: layout.dir().to_path_buf(),
        })?;
        Generation::open(layout, id)
    }

    /// Opens generation `id`.
    pub fn open(layout: &IndexLayout, id: GenerationId) -> Result<Generation, IndexError> {
        let directory = tantivy::directory::MmapDirectory::open(layout.generation_dir(id))
            .map_err(tantivy::TantivyError::from)?;
        Generation::open_in(layout, id, directory)
    }

    /// Opens generation `id` through `directory`, which must read the files of
    /// `layout.generation_dir(id)` (e.g. a wrapper that instruments reads).
    pub fn open_in(
        layout: &IndexLayout,
        id: GenerationId,
        directory: impl tantivy::Directory,
    ) -> Result<Generation, IndexError> {
        let meta = layout.read_meta(id)?;
        let index = Index::open(directory)?;
        register_analyzers(&index);
        let fields = Fields::from_schema(&index.schema())?;
        let dictionary = crate::dictionary::Dictionary::open(&layout.generation_dir(id))?
            .map(std::sync::Arc::new);
        Ok(Generation {
            id,
            meta,
            index,
            fields,
            dictionary,
        })
    }
}

/// Seconds since the Unix epoch, 0 for times before it.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_names_round_trip() {
        let id = GenerationId(42);
        assert_eq!(id.to_string(), "gen-000042");
        assert_eq!(GenerationId::parse("gen-000042"), Some(id));
        assert_eq!(GenerationId::parse("gen-"), None);
        assert_eq!(GenerationId::parse("gen-12a"), None);
        assert_eq!(GenerationId::parse("other"), None);
    }

    #[test]
    fn current_pointer_switches_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let layout = IndexLayout::new(dir.path());
        assert_eq!(layout.current().unwrap(), None);
        fs::create_dir_all(dir.path()).unwrap();
        layout.switch_current(GenerationId(3)).unwrap();
        assert_eq!(layout.current().unwrap(), Some(GenerationId(3)));
        assert!(!dir.path().join("CURRENT.tmp").exists());
        fs::write(layout.current_path(), "garbage").unwrap();
        assert!(matches!(
            layout.current(),
            Err(IndexError::CorruptMeta { .. })
        ));
    }

    #[test]
    fn second_builder_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let layout = IndexLayout::new(dir.path());
        let _held = layout.lock().unwrap();
        assert!(matches!(layout.lock(), Err(IndexError::Locked { .. })));
    }
}
