//! Per-consumer checkpoints: `DIR/checkpoints/NAME.json`, replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::record::RecordPosition;

/// The directory holding checkpoint files, inside the store directory.
pub(crate) const CHECKPOINT_DIR: &str = "checkpoints";

/// The longest consumer name.
const MAX_CONSUMER_LEN: usize = 64;

/// What a checkpoint file holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    /// The consumer the checkpoint belongs to (for people reading the file).
    consumer: String,
    /// Where the consumer resumes.
    position: RecordPosition,
}

/// Checks that `consumer` can name a checkpoint file.
pub(crate) fn validate(consumer: &str) -> Result<(), StoreError> {
    let valid = !consumer.is_empty()
        && consumer.len() <= MAX_CONSUMER_LEN
        && !consumer.starts_with('.')
        && consumer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(StoreError::InvalidConsumer {
            name: consumer.to_owned(),
        });
    }
    Ok(())
}

/// The file name of `consumer`'s checkpoint inside [`CHECKPOINT_DIR`].
pub(crate) fn file_name(consumer: &str) -> Result<String, StoreError> {
    validate(consumer)?;
    Ok(format!("{consumer}.json"))
}

/// The consumer whose checkpoint file is called `name`, if it is one.
pub(crate) fn consumer_of(name: &str) -> Option<&str> {
    let consumer = name.strip_suffix(".json")?;
    validate(consumer).is_ok().then_some(consumer)
}

fn checkpoint_path(dir: &Path, consumer: &str) -> Result<PathBuf, StoreError> {
    Ok(dir.join(CHECKPOINT_DIR).join(file_name(consumer)?))
}

/// The JSON of a checkpoint file.
pub(crate) fn encode(consumer: &str, position: RecordPosition) -> Vec<u8> {
    let file = CheckpointFile {
        consumer: consumer.to_owned(),
        position,
    };
    // A struct of a string and two integers always serializes.
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// Parses a checkpoint file read from `path` (a file or an object URL, for the error).
pub(crate) fn decode(bytes: &[u8], path: impl Into<PathBuf>) -> Result<RecordPosition, StoreError> {
    serde_json::from_slice::<CheckpointFile>(bytes)
        .map(|file| file.position)
        .map_err(|source| StoreError::Checkpoint {
            path: path.into(),
            source,
        })
}

/// The consumers with a checkpoint in `dir`, sorted.
pub(crate) fn consumers(dir: &Path) -> Result<Vec<String>, StoreError> {
    let checkpoints = dir.join(CHECKPOINT_DIR);
    let entries = match fs::read_dir(&checkpoints) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(checkpoints, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&checkpoints, e))?;
        if let Some(consumer) = entry.file_name().to_str().and_then(consumer_of) {
            names.push(consumer.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The position `consumer` saved last, if any.
pub(crate) fn load(dir: &Path, consumer: &str) -> Result<Option<RecordPosition>, StoreError> {
    let path = checkpoint_path(dir, consumer)?;
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    decode(&text, path).map(Some)
}

/// Replaces `consumer`'s checkpoint with `position`: write a temp file, fsync it, rename it
/// over the old one, fsync the directory.
pub(crate) fn save(dir: &Path, consumer: &str, position: RecordPosition) -> Result<(), StoreError> {
    let name = file_name(consumer)?;
    let checkpoints = dir.join(CHECKPOINT_DIR);
    if !checkpoints.is_dir() {
        fs::create_dir_all(&checkpoints).map_err(|e| StoreError::io(&checkpoints, e))?;
        // The new directory's own entry must be durable too.
        sync_dir(dir)?;
    }
    write_atomically(&checkpoints, &name, &encode(consumer, position))
}

/// Replaces `dir/name` with `bytes`: a uniquely named temp file (so concurrent writers never
/// write into each other's file), fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(StoreError::io(temp, e));
    }
    if let Err(e) = fs::rename(&temp, &path) {
        let _ = fs::remove_file(&temp);
        return Err(StoreError::io(path, e));
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SegmentId;

    #[test]
    fn checkpoints_round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "indexer").unwrap(), None);
        let first = RecordPosition {
            segment: SegmentId(3),
            offset: 12_345,
        };
        save(dir.path(), "indexer", first).unwrap();
        assert_eq!(load(dir.path(), "indexer").unwrap(), Some(first));
        let second = RecordPosition {
            segment: SegmentId(4),
            offset: 0,
        };
        save(dir.path(), "indexer", second).unwrap();
        save(dir.path(), "other.v2", first).unwrap();
        assert_eq!(load(dir.path(), "indexer").unwrap(), Some(second));
        assert_eq!(load(dir.path(), "other.v2").unwrap(), Some(first));
        let names: Vec<String> = fs::read_dir(dir.path().join(CHECKPOINT_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temp files left: {names:?}");
        let text = fs::read_to_string(dir.path().join("checkpoints/indexer.json")).unwrap();
        assert!(text.contains("\"segment\": 4"), "{text}");
    }

    #[test]
    fn bad_names_and_bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let position = RecordPosition {
            segment: SegmentId(1),
            offset: 0,
        };
        for name in ["", "../x", "a/b", ".hidden", "sp ace", &"x".repeat(65)] {
            assert!(
                matches!(
                    save(dir.path(), name, position),
                    Err(StoreError::InvalidConsumer { .. })
                ),
                "{name:?}"
            );
        }
        fs::create_dir_all(dir.path().join(CHECKPOINT_DIR)).unwrap();
        fs::write(dir.path().join("checkpoints/broken.json"), b"{nope").unwrap();
        assert!(matches!(
            load(dir.path(), "broken"),
            Err(StoreError::Checkpoint { .. })
        ));
    }
}
