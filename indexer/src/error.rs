//! Errors of the indexer.

use std::io;
use std::path::PathBuf;

/// What can go wrong while building or opening an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the page store failed.
    #[error("reading the page store")]
    Store(#[from] quarry_pagestore::StoreError),
    /// tantivy reported an error.
    #[error("tantivy index operation failed")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A file or directory of the index could not be read or written.
    #[error("index file {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// There is no current generation yet.
    #[error("no index in {dir}: run `quarry index rebuild` first")]
    NoGeneration {
        /// The index directory.
        dir: PathBuf,
    },
    /// The `CURRENT` pointer or a generation summary is unreadable.
    #[error("index metadata {path} is corrupt: {reason}")]
    CorruptMeta {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The index was built with another schema.
    #[error("index lacks field `{field}`: it was built by an incompatible version, rebuild it")]
    SchemaMismatch {
        /// The missing field.
        field: &'static str,
    },
    /// Another process is building an index in the same directory.
    #[error("another index build holds the lock {path}")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A worker thread panicked.
    #[error("an indexing worker thread panicked")]
    WorkerPanicked,
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> IndexError {
        let path = path.into();
        move |source| IndexError::Io { path, source }
    }
}
