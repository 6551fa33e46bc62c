//! A tantivy [`Directory`] that counts the index bytes each search reads.
//!
//! [`CountingDirectory`] wraps [`MmapDirectory`] and hands tantivy file handles whose
//! `read_bytes` adds the length of every range it returns to a per-thread counter.
//! [`measure`] zeroes that counter around a closure and reports what the closure read.
//!
//! Invariant the attribution relies on: one search runs on one thread. tantivy runs a
//! search on the calling thread unless the index was given a multithreaded executor, and
//! Quarry never sets one; snippets and stored documents are read on the same thread too.
//!
//! What counts as "read": the byte ranges tantivy asks the directory for — posting lists,
//! positions, doc-store blocks — whether the pages were already in the OS cache or not. It
//! is the query's I/O demand, not disk traffic. Term dictionaries, field norms and fast
//! fields are read once when a generation is opened (tantivy keeps them as slices of the
//! mapping), so they count towards opening, not towards any query; a doc-store block served
//! from tantivy's block cache is not read again.

use std::cell::Cell;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use tantivy::HasLen;
use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    Advice, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback,
    WatchHandle, WritePtr,
};

thread_local! {
    static BYTES_READ: Cell<u64> = const { Cell::new(0) };
}

fn add_bytes_read(bytes: usize) {
    BYTES_READ.with(|count| count.set(count.get().saturating_add(bytes as u64)));
}

/// Runs `work` and returns what it returned with the index bytes it read on this thread.
///
/// Nested calls are fine: the outer measurement includes the inner one's bytes.
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = BYTES_READ.with(|count| count.replace(0));
    let output = work();
    let read = BYTES_READ.with(|count| count.replace(before.saturating_add(count.get())));
    (output, read)
}

/// [`MmapDirectory`] with byte counting on every read (see the module docs).
#[derive(Debug, Clone)]
pub struct CountingDirectory {
    inner: MmapDirectory,
}

impl CountingDirectory {
    /// Opens the directory at `path` with memory-mapped reads, advised as random access
    /// (`MADV_RANDOM`): a page fault reads that page alone instead of the default
    /// read-around window. On the Rust-docs index a cold query read a median 12.8 MB from
    /// disk with the default advice, for some 0.8 MB of index data it actually used
    /// (`bench/lib/cold_reads.py`, bench/RESULTS.md).
    ///
    /// # Errors
    /// When `path` does not exist or is not a directory.
    pub fn open(path: &Path) -> Result<CountingDirectory, OpenDirectoryError> {
        Ok(CountingDirectory {
            inner: MmapDirectory::open_with_madvice(path, Advice::Random)?,
        })
    }
}

/// A file handle that counts the bytes read through it.
#[derive(Debug)]
struct CountingHandle {
    inner: Arc<dyn FileHandle>,
}

impl HasLen for CountingHandle {
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl FileHandle for CountingHandle {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        let bytes = self.inner.read_bytes(range)?;
        add_bytes_read(bytes.len());
        Ok(bytes)
    }
}

impl Directory for CountingDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let inner = self.inner.get_file_handle(path)?;
        Ok(Arc::new(CountingHandle { inner }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let bytes = self.inner.atomic_read(path)?;
        add_bytes_read(bytes.len());
        Ok(bytes)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_counted_on_the_reading_thread_only() {
        let dir = tempfile::tempdir().unwrap();
        let directory = CountingDirectory::open(dir.path()).unwrap();
        directory
            .atomic_write(Path::new("small"), b"0123456789")
            .unwrap();
        let mut writer = directory.open_write(Path::new("data")).unwrap();
        std::io::Write::write_all(&mut writer, &[7u8; 4096]).unwrap();
        tantivy::directory::TerminatingWrite::terminate(writer).unwrap();

        let file = directory.open_read(Path::new("data")).unwrap();
        let (bytes, read) = measure(|| file.read_bytes_slice(100..1124).unwrap());
        assert_eq!((bytes.len(), read), (1024, 1024));
        // Slicing the returned bytes is free: they are already in memory.
        let (_, read) = measure(|| bytes.slice(0..10).len());
        assert_eq!(read, 0);

        let (inner, outer) = measure(|| {
            let (_, inner) = measure(|| file.slice(0..10).read_bytes().unwrap());
            file.slice(10..30).read_bytes().unwrap();
            inner
        });
        assert_eq!((inner, outer), (10, 30));

        let other = std::thread::spawn(move || file.read_bytes().unwrap().len());
        let (len, read) = measure(|| other.join().unwrap());
        assert_eq!(
            (len, read),
            (4096, 0),
            "another thread's reads are not ours"
        );

        let (_, read) = measure(|| directory.atomic_read(Path::new("small")).unwrap());
        assert_eq!(read, 10);
    }
}
