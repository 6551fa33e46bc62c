//! The page store's error type.

use std::io;
use std::path::PathBuf;

use crate::record::{RecordPosition, SegmentId};

/// Everything that can go wrong in the page store.
///
/// Messages describe only this layer; the underlying cause, where there is one, hangs off
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation on `path` failed.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another writer holds the store's lock file.
    #[error("page store is locked by another writer ({})", path.display())]
    Locked {
        /// The lock file, `DIR/LOCK`.
        path: PathBuf,
    },
    /// A segment holds bytes that do not decode to a usable WARC record.
    #[error("corrupt record in segment {segment} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment holding the bad bytes.
        segment: SegmentId,
        /// Byte offset of the gzip member (or unit) that failed to decode.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A page cannot be stored as given (e.g. a header value with a line break).
    #[error("bad record: {reason}")]
    BadRecord {
        /// What was wrong with the page.
        reason: String,
    },
    /// [`PageStore::read_at`](crate::PageStore::read_at) found a record that is not a response.
    #[error("no response record at segment {} offset {}: found a {found} record", position.segment, position.offset)]
    NotAResponse {
        /// Where the lookup pointed.
        position: RecordPosition,
        /// The `WARC-Type` found there.
        found: String,
    },
    /// The segment named by a position does not exist.
    #[error("segment {segment} does not exist")]
    NoSuchSegment {
        /// The missing segment.
        segment: SegmentId,
    },
    /// An external WARC file could not be parsed.
    #[error("invalid warc data in {} at offset {offset}: {reason}", path.display())]
    InvalidWarc {
        /// The file being read.
        path: PathBuf,
        /// Offset in the uncompressed WARC stream where the bad record starts.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A checkpoint consumer name that cannot be used as a file name.
    #[error(
        "invalid consumer name {name:?}: use 1 to 64 ascii letters, digits, '-', '_' or '.', not starting with '.'"
    )]
    InvalidConsumer {
        /// The rejected name.
        name: String,
    },
    /// A checkpoint file exists but does not hold a checkpoint.
    #[error("unreadable checkpoint {}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// All `u32` segment ids are used.
    #[error("no segment id left after segment {last}")]
    SegmentIdsExhausted {
        /// The last segment.
        last: SegmentId,
    },
    /// A request to the object store at `url` failed.
    #[error("object store {url}: {action} failed")]
    Remote {
        /// The object's or store's URL.
        url: String,
        /// What was being done (`listing`, `uploading segment 000003`, …).
        action: String,
        /// What the store said.
        #[source]
        source: object_store::Error,
    },
    /// A `--store` URL that names no supported store.
    #[error("invalid page store URL {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Other writers took every segment number an upload tried to claim in the object
    /// store (many writers racing on one store).
    #[error(
        "could not claim a number for segment {segment} in {url}: other writers took each one first; the local copy is kept and goes up on the next upload"
    )]
    SegmentConflict {
        /// The segment.
        segment: SegmentId,
        /// The store.
        url: String,
    },
    /// An earlier write failed and could not be undone, so the segment's tail is unknown.
    #[error("writer is unusable after a failed write to {}; open a new writer", path.display())]
    WriterFailed {
        /// The segment whose tail is in doubt.
        path: PathBuf,
    },
}

impl StoreError {
    /// Wraps an `io::Error` with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`StoreError::BadRecord`] with the given reason.
    pub(crate) fn bad_record(reason: impl Into<String>) -> StoreError {
        StoreError::BadRecord {
            reason: reason.into(),
        }
    }
}
