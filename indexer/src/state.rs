//! What a generation keeps besides its tantivy files so that `update` can continue from it:
//! the extracted pages (two append-only spill files) and `state.json` (page-store
//! checkpoint, where every URL's latest extraction lives, and what each indexed document
//! was built from).
//!
//! The spills hold parsed pages, not HTML: `pages.meta` has what the link-graph pass needs
//! (URL, title, links, duplicate hashes), `pages.text` what a document is built from. An
//! update appends the pages it parses and re-reads old ones by offset, so it never needs
//! the raw pages again — page-store segments the indexer consumed can be retired.
//!
//! A new generation hard-links the previous one's spills and appends to them. Appending is
//! safe for the older generation: its `state.json` only names offsets below the length the
//! file had when it was finished.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use quarry_pagestore::RecordPosition;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::document::Link;
use crate::error::IndexError;

/// The spill of per-page link-graph inputs.
pub(crate) const META_SPILL: &str = "pages.meta";
/// The spill of per-page document text.
pub(crate) const TEXT_SPILL: &str = "pages.text";
/// The state file.
const STATE_FILE: &str = "state.json";
/// The files of the update state (not part of what a search reads).
pub(crate) const STATE_FILES: &[&str] = &[META_SPILL, TEXT_SPILL, STATE_FILE];
/// Bumped when the layout of the state or the spills changes: an update then refuses the
/// old generation and a rebuild is needed.
const STATE_VERSION: u32 = 2;

/// What the link-graph pass reads of a page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PageMeta {
    pub url: String,
    pub title: String,
    pub links: Vec<Link>,
    /// Exact-duplicate hash of title and body.
    pub hash: Option<u64>,
    /// Near-duplicate fingerprint of the body.
    pub simhash: Option<u64>,
    /// Hashes of the body's edge blocks (boilerplate candidates), sorted.
    #[serde(default)]
    pub blocks: Vec<u64>,
}

/// What a document is built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PageText {
    pub url: String,
    pub fetched_at: i64,
    pub title: String,
    pub headings: String,
    pub body: String,
    pub lang: String,
    pub hash: Option<u64>,
}

/// Where one encoded page is in a spill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Place {
    pub offset: u64,
    pub len: u64,
}

/// What the indexed document of a URL was built from. A page whose inputs are unchanged
/// is not re-indexed by an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Indexed {
    /// The text version.
    pub text: Place,
    /// FNV hash of the anchor text.
    pub anchors: u64,
    /// Static ranks as grid steps (see [`RankStep`]); integers, so they survive the JSON
    /// round trip exactly.
    pub page_rank: RankStep,
    pub host_rank: RankStep,
    /// Body blocks left out as boilerplate of the host (hashes, sorted).
    pub boilerplate: Vec<u64>,
}

/// The latest extraction of one URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PageState {
    /// Log order of the record it came from (larger is later).
    pub seq: u64,
    pub meta: Place,
    pub text: Place,
    /// Raw HTML bytes of the record.
    pub raw_bytes: u64,
    /// Set when the page is a document of the generation.
    pub indexed: Option<Indexed>,
}

/// `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    /// Where the page store is read from next.
    pub checkpoint: Option<RecordPosition>,
    /// Log sequence number of the next record.
    pub next_seq: u64,
    /// Every URL whose latest record is an indexable page, by URL.
    pub pages: BTreeMap<String, PageState>,
}

impl State {
    /// An empty state (a rebuild starts from it).
    pub fn new() -> State {
        State {
            version: STATE_VERSION,
            ..State::default()
        }
    }

    /// Reads the state of the generation in `dir`; `None` when it has none (built by a
    /// version without updates) or an incompatible one.
    pub fn load(dir: &Path) -> Result<Option<State>, IndexError> {
        let path = dir.join(STATE_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(IndexError::io(path)(error)),
        };
        let state: State = serde_json::from_reader(BufReader::with_capacity(1 << 20, file))
            .map_err(|error| IndexError::CorruptMeta {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        let complete = [META_SPILL, TEXT_SPILL]
            .iter()
            .all(|name| dir.join(name).is_file());
        Ok((state.version == STATE_VERSION && complete).then_some(state))
    }

    /// Writes the state into `dir` durably.
    pub fn save(&self, dir: &Path) -> Result<(), IndexError> {
        let path = dir.join(STATE_FILE);
        let bytes = serde_json::to_vec(self).map_err(|error| IndexError::CorruptMeta {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        crate::generation::write_durably(&path, &bytes)
    }
}

/// An append-only file of JSON-encoded pages, read back by [`Place`].
pub(crate) struct Spill {
    path: PathBuf,
    writer: Mutex<(BufWriter<File>, u64)>,
}

impl Spill {
    /// Opens (creating if needed) the spill at `path` for appending.
    pub fn open(path: PathBuf) -> Result<Spill, IndexError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(IndexError::io(&path))?;
        let end = file.metadata().map_err(IndexError::io(&path))?.len();
        Ok(Spill {
            writer: Mutex::new((BufWriter::with_capacity(1 << 20, file), end)),
            path,
        })
    }

    /// Opens the spill `name` of a new generation in `dir`, continuing the previous
    /// generation's file (a hard link) when there is one.
    pub fn continue_from(
        previous: Option<&Path>,
        dir: &Path,
        name: &str,
    ) -> Result<Spill, IndexError> {
        let path = dir.join(name);
        if let Some(previous) = previous {
            let source = previous.join(name);
            fs::hard_link(&source, &path).map_err(IndexError::io(&path))?;
        }
        Spill::open(path)
    }

    /// Encodes and appends one page; returns where it is.
    pub fn append<T: Serialize>(&self, page: &T) -> Result<Place, IndexError> {
        let bytes = serde_json::to_vec(page).map_err(|e| self.invalid(e))?;
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let (writer, end) = &mut *guard;
        writer
            .write_all(&bytes)
            .map_err(IndexError::io(&self.path))?;
        let place = Place {
            offset: *end,
            len: bytes.len() as u64,
        };
        *end += place.len;
        Ok(place)
    }

    /// Flushes appended pages to the file and syncs it.
    pub fn sync(&self) -> Result<(), IndexError> {
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.flush().map_err(IndexError::io(&self.path))?;
        guard
            .0
            .get_ref()
            .sync_all()
            .map_err(IndexError::io(&self.path))
    }

    /// A reader over the pages written so far.
    pub fn reader(&self) -> Result<SpillReader<'_>, IndexError> {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .flush()
            .map_err(IndexError::io(&self.path))?;
        let file = File::open(&self.path).map_err(IndexError::io(&self.path))?;
        Ok(SpillReader {
            spill: self,
            reader: BufReader::with_capacity(1 << 16, file),
            buffer: Vec::new(),
        })
    }

    fn invalid(&self, error: impl std::error::Error + Send + Sync + 'static) -> IndexError {
        IndexError::io(&self.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    }
}

/// Reads pages of a [`Spill`] by place.
pub(crate) struct SpillReader<'a> {
    spill: &'a Spill,
    reader: BufReader<File>,
    buffer: Vec<u8>,
}

impl SpillReader<'_> {
    /// Decodes the page at `place`.
    pub fn read<T: DeserializeOwned>(&mut self, place: Place) -> Result<T, IndexError> {
        let path = &self.spill.path;
        self.reader
            .seek(SeekFrom::Start(place.offset))
            .map_err(IndexError::io(path))?;
        let len = usize::try_from(place.len).map_err(|e| self.spill.invalid(e))?;
        self.buffer.resize(len, 0);
        self.reader
            .read_exact(&mut self.buffer)
            .map_err(IndexError::io(path))?;
        serde_json::from_slice(&self.buffer).map_err(|e| self.spill.invalid(e))
    }
}

/// A static rank on a grid of quarter octaves (steps of about 19%): step `k` is rank
/// `2^(k/4)`. A new link moves every page's PageRank a little; on the grid almost none of
/// them move, so an update re-indexes only the pages whose rank really changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RankStep(pub i32);

impl RankStep {
    /// The step nearest to `rank`; ranks of 0 (and NaN) get the lowest step.
    pub fn of(rank: f64) -> RankStep {
        if rank.is_nan() || rank <= 0.0 {
            return RankStep(i32::MIN);
        }
        RankStep((rank.log2() * 4.0).round().clamp(-1e6, 1e6) as i32)
    }

    /// The rank this step stands for (what the index stores).
    pub fn rank(self) -> f64 {
        if self.0 == i32::MIN {
            0.0
        } else {
            (f64::from(self.0) / 4.0).exp2()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_snap_to_quarter_octaves() {
        let rank = |r: f64| RankStep::of(r).rank();
        assert_eq!(rank(1.0), 1.0);
        assert_eq!(rank(1.01), 1.0);
        assert_eq!(rank(0.0), 0.0);
        assert_eq!(rank(f64::NAN), 0.0);
        assert!((rank(2.0) - 2.0).abs() < 1e-12);
        assert!((rank(1.2) - 2f64.powf(0.25)).abs() < 1e-12);
        let step = RankStep::of(0.37);
        let json = serde_json::to_string(&step).unwrap();
        assert_eq!(serde_json::from_str::<RankStep>(&json).unwrap(), step);
    }

    #[test]
    fn spills_append_and_read_back_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::open(dir.path().join("s")).unwrap();
        let a = spill.append(&"alpha".to_string()).unwrap();
        let b = spill.append(&"bravo".to_string()).unwrap();
        let mut reader = spill.reader().unwrap();
        assert_eq!(reader.read::<String>(b).unwrap(), "bravo");
        assert_eq!(reader.read::<String>(a).unwrap(), "alpha");
        drop(reader);
        drop(spill);
        // A later generation continues the file; the old places stay valid.
        let next = dir.path().join("next");
        fs::create_dir(&next).unwrap();
        let spill = Spill::continue_from(Some(dir.path()), &next, "s").unwrap();
        let c = spill.append(&"charlie".to_string()).unwrap();
        assert!(c.offset >= b.offset + b.len);
        let mut reader = spill.reader().unwrap();
        assert_eq!(reader.read::<String>(a).unwrap(), "alpha");
        assert_eq!(reader.read::<String>(c).unwrap(), "charlie");
    }
}
