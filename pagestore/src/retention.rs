//! Retention: segments a consumer has read completely are deleted once they are older than
//! the configured retention, and remembered in `retired.json` so a later full read can say
//! that it no longer sees everything.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::record::{RecordPosition, SegmentId};
use crate::segment::list_segments;

const RETIRED_FILE: &str = "retired.json";

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
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Checkpoint { path, source })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Retired::default()),
        Err(error) => Err(StoreError::io(path, error)),
    }
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
    let segments = list_segments(dir)?;
    let last = segments.last().map(|s| s.id);
    let now = SystemTime::now();
    let mut doomed = Vec::new();
    for segment in &segments {
        if segment.id >= consumed.segment || Some(segment.id) == last {
            break;
        }
        let modified = fs::metadata(&segment.path)
            .and_then(|m| m.modified())
            .map_err(|e| StoreError::io(&segment.path, e))?;
        let age = now.duration_since(modified).unwrap_or_default();
        if age >= older_than {
            doomed.push(segment.clone());
        }
    }
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    let mut retired = load(dir)?;
    for segment in &doomed {
        if !retired.segments.contains(&segment.id) {
            retired.segments.push(segment.id);
            retired.bytes += segment.bytes;
        }
    }
    retired.segments.sort();
    let json = serde_json::to_vec_pretty(&retired).map_err(|source| StoreError::Checkpoint {
        path: dir.join(RETIRED_FILE),
        source,
    })?;
    crate::checkpoint::write_atomically(dir, RETIRED_FILE, &json)?;
    for segment in &doomed {
        fs::remove_file(&segment.path).map_err(|e| StoreError::io(&segment.path, e))?;
    }
    Ok(doomed.into_iter().map(|s| s.id).collect())
}
