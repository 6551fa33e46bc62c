//! The page-store writer on a thread of its own.
//!
//! Appending a page gzips its WARC records, the largest single cost of storing it. On the
//! crawl's scheduler task that cost sat between every two dispatches; here the scheduler
//! hands the record over and goes on, and only waits for the writer at a
//! [`StoreThread::sync`], which is where durability is decided anyway.
//!
//! Errors keep their meaning: an append that fails is reported by the next `sync`, and
//! every later `sync` fails too, so nothing appended after a failure is ever reported
//! durable (the scheduler commits a batch to the frontier only after its `sync` succeeded).

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use quarry_pagestore::{PageRecord, SegmentWriter, StoreError};

/// How many records may wait for the writer before `append` blocks (each holds a body of
/// at most `max_body_bytes`).
const QUEUE: usize = 64;

enum Command {
    Append(Box<PageRecord>),
    Sync(mpsc::Sender<Result<(), StoreError>>),
}

/// A [`SegmentWriter`] running on a thread of its own. Dropping it waits for the records
/// already handed over to be written (not synced) and releases the store's lock.
pub(crate) struct StoreThread {
    commands: Option<mpsc::SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
    /// The store's directory, for the error reported when the thread is gone.
    dir: PathBuf,
}

impl StoreThread {
    /// Moves `writer` to a new thread.
    pub(crate) fn start(writer: SegmentWriter, dir: PathBuf) -> Result<StoreThread, StoreError> {
        let (commands, received) = mpsc::sync_channel(QUEUE);
        let thread_dir = dir.clone();
        let thread = std::thread::Builder::new()
            .name("quarry-store".to_string())
            .spawn(move || write_loop(writer, thread_dir, &received))
            .map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(StoreThread {
            commands: Some(commands),
            thread: Some(thread),
            dir,
        })
    }

    /// Hands `page` to the writer. It is not durable until a later [`StoreThread::sync`]
    /// succeeds; an error in writing it is returned by that `sync`.
    ///
    /// # Errors
    /// [`StoreError::WriterFailed`] if the writer thread is gone.
    pub(crate) fn append(&self, page: PageRecord) -> Result<(), StoreError> {
        self.send(Command::Append(Box::new(page)))
    }

    /// Waits until everything appended so far is written and fsynced.
    ///
    /// # Errors
    /// The error of the first append or sync that failed since the writer started (then
    /// [`StoreError::WriterFailed`] on every later call).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::channel();
        self.send(Command::Sync(reply))?;
        answer.recv().map_err(|_| self.gone())?
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        let sent = self
            .commands
            .as_ref()
            .map(|commands| commands.send(command));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.gone()),
        }
    }

    fn gone(&self) -> StoreError {
        StoreError::WriterFailed {
            path: self.dir.clone(),
        }
    }
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(mut writer: SegmentWriter, dir: PathBuf, commands: &mpsc::Receiver<Command>) {
    // The first failure, until a sync has reported it; after that, `failed` stays set.
    let mut error: Option<StoreError> = None;
    let mut failed = false;
    for command in commands {
        match command {
            Command::Append(page) => {
                if !failed && let Err(e) = writer.append(&page) {
                    error = Some(e);
                    failed = true;
                }
            }
            Command::Sync(reply) => {
                let result = if let Some(e) = error.take() {
                    Err(e)
                } else if failed {
                    Err(StoreError::WriterFailed { path: dir.clone() })
                } else {
                    writer.sync().inspect_err(|_| failed = true)
                };
                let _ = reply.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_pagestore::{PageStore, WriterOptions};

    fn page(url: &str) -> PageRecord {
        PageRecord {
            url: url.to_string(),
            status: 200,
            headers: vec![("Content-Type".to_string(), "text/html".to_string())],
            body: format!("<title>{url}</title>").into_bytes(),
            fetched_at: std::time::SystemTime::now(),
            ip: None,
            request_headers: Vec::new(),
        }
    }

    fn urls(store: &PageStore) -> Vec<String> {
        store
            .records(None)
            .expect("records")
            .map(|record| record.expect("record").1.url)
            .collect()
    }

    /// A page store in a temporary directory, with its writer on a [`StoreThread`].
    fn store_with_thread() -> (tempfile::TempDir, PageStore, StoreThread) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = PageStore::open(dir.path()).expect("store");
        let writer = store.writer(WriterOptions::default()).expect("writer");
        let thread = StoreThread::start(writer, dir.path().to_owned()).expect("thread");
        (dir, store, thread)
    }

    #[test]
    fn appended_pages_are_in_the_store_after_a_sync_in_order() {
        let (_dir, store, thread) = store_with_thread();
        let sent: Vec<String> = (0..200).map(|i| format!("http://a.test/{i}")).collect();
        for url in &sent {
            thread.append(page(url)).expect("append");
        }
        thread.sync().expect("sync");
        assert_eq!(urls(&store), sent);
        // Dropping the thread releases the lock: a new writer opens.
        drop(thread);
        store
            .writer(WriterOptions::default())
            .expect("writer after drop");
    }

    #[test]
    fn a_failed_append_fails_this_and_every_later_sync() {
        let (_dir, store, thread) = store_with_thread();
        thread.append(page("http://a.test/good")).expect("append");
        let mut bad = page("http://a.test/bad");
        bad.headers
            .push(("X-Broken".to_string(), "a\r\nb".to_string()));
        thread.append(bad).expect("handed over");
        thread
            .append(page("http://a.test/after"))
            .expect("handed over");
        assert!(matches!(thread.sync(), Err(StoreError::BadRecord { .. })));
        thread
            .append(page("http://a.test/later"))
            .expect("handed over");
        assert!(matches!(
            thread.sync(),
            Err(StoreError::WriterFailed { .. })
        ));
        drop(thread);
        // Only what came before the failure was written.
        assert_eq!(urls(&store), ["http://a.test/good"]);
    }
}
