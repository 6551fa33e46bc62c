//! Retention: segments a consumer has read completely are deleted once they are older than
//! the configured retention, and remembered in `retired.json` so a later full read can say
//! that it no longer sees everything.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::record::{RecordPosition, SegmentId};
use crate::segment::list_segments;

pub(crate) const RETIRED_FILE: &str = "retired.json";

/// Segments deleted by retention so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retired {
    /// The deleted segments, ascending.
    pub segments: Vec<SegmentId>,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Reads `retired.json` (empty when nothing was ever retired).
pub(crate) fn load(dir: &Path) -> Result<Retired, StoreError> {
    let path = dir.join(RETIRED_FILE);
    match fs::read(&path) {
        Ok(bytes) => decode(&bytes, path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Retired::default()),
        Err(error) => Err(StoreError::io(path, error)),
    }
}

/// A segment as retention sees it.
#[derive(Debug, Clone)]
pub(crate) struct Aged {
    pub(crate) id: SegmentId,
    pub(crate) bytes: u64,
    /// When it was last written.
    pub(crate) modified: SystemTime,
}

/// The segments (ascending) that retention deletes: wholly before `consumed`, not the last
/// one, and last written more than `older_than` ago.
pub(crate) fn doomed(
    segments: &[Aged],
    consumed: RecordPosition,
    older_than: Duration,
) -> Vec<Aged> {
    let last = segments.last().map(|s| s.id);
    let now = SystemTime::now();
    segments
        .iter()
        .take_while(|s| s.id < consumed.segment && Some(s.id) != last)
        .filter(|s| now.duration_since(s.modified).unwrap_or_default() >= older_than)
        .cloned()
        .collect()
}

/// `retired` with `doomed` added.
pub(crate) fn with_retired(mut retired: Retired, doomed: &[Aged]) -> Retired {
    for segment in doomed {
        if !retired.segments.contains(&segment.id) {
            retired.segments.push(segment.id);
            retired.bytes += segment.bytes;
        }
    }
    retired.segments.sort();
    retired
}

/// The JSON of `retired.json`.
pub(crate) fn encode(retired: &Retired) -> Vec<u8> {
    // A list of integers and an integer always serialize.
    serde_json::to_vec_pretty(retired).unwrap_or_default()
}

/// Parses `retired.json` read from `path` (a file or an object URL, for the error).
pub(crate) fn decode(
    bytes: &[u8],
    path: impl Into<std::path::PathBuf>,
) -> Result<Retired, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Checkpoint {
        path: path.into(),
        source,
    })
}

/// Deletes every segment that lies wholly before `consumed` and was last modified more
/// than `older_than` ago. The segment holding `consumed` and the last segment are never
/// deleted. `retired.json` is written before a file is removed, so a crash in between
/// only leaves a segment that is listed but still present (it is deleted next time).
pub(crate) fn retire(
    dir: &Path,
    consumed: RecordPosition,
    older_than: Duration,
) -> Result<Vec<SegmentId>, StoreError> {
    let mut aged = Vec::new();
    for segment in list_segments(dir)? {
        let modified = fs::metadata(&segment.path)
            .and_then(|m| m.modified())
            .map_err(|e| StoreError::io(&segment.path, e))?;
        aged.push(Aged {
            id: segment.id,
            bytes: segment.bytes,
            modified,
        });
    }
    let doomed = doomed(&aged, consumed, older_than);
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    let retired = with_retired(load(dir)?, &doomed);
    crate::checkpoint::write_atomically(dir, RETIRED_FILE, &encode(&retired))?;
    for segment in &doomed {
        let path = dir.join(segment.id.file_name());
        fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(doomed.into_iter().map(|s| s.id).collect())
}
