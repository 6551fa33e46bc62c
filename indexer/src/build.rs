//! `rebuild`: a new generation from the whole page store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use quarry_pagestore::{PageRecord, PageStore, charset};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument, Term};
use tracing::{info, warn};

use crate::analyzer::register_analyzers;
use crate::dedup::{collapse_duplicates, content_hash};
use crate::document::{extract_page, is_html};
use crate::error::IndexError;
use crate::generation::{GenerationId, GenerationMeta, IndexLayout, unix_seconds};
use crate::schema::{Fields, build_schema};

/// How to build a generation.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Extraction and indexing threads; 0 means one per available core. Default 0.
    pub threads: usize,
    /// Memory budget of the tantivy writer, shared by its threads. Default 256 MiB.
    pub writer_memory_bytes: usize,
    /// Counters the caller may watch while the build runs (for progress output).
    pub progress: Option<Arc<RebuildProgress>>,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            threads: 0,
            writer_memory_bytes: 256 << 20,
            progress: None,
        }
    }
}

/// Live counters of a running build.
#[derive(Debug, Default)]
pub struct RebuildProgress {
    /// Response records read from the page store so far.
    pub records_read: AtomicU64,
    /// Documents added so far (before the latest-fetch-wins collapse).
    pub documents_added: AtomicU64,
}

/// What a build did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildStats {
    /// The generation built and made current.
    pub generation: GenerationId,
    /// Response records read from the page store.
    pub records_read: u64,
    /// Documents in the new generation (one per URL).
    pub documents: u64,
    /// Records skipped because they are not HTML.
    pub skipped_not_html: u64,
    /// Records skipped because the HTTP status was not 200.
    pub skipped_status: u64,
    /// Records that could not be read (corrupt in the middle of a segment).
    pub unreadable_records: u64,
    /// Pages collapsed into another page with identical text (recorded as its aliases).
    pub duplicates_collapsed: u64,
    /// Raw HTML bytes behind the indexed documents.
    pub raw_html_bytes: u64,
    /// Bytes of the new generation on disk.
    pub index_bytes: u64,
    /// Older generations removed.
    pub removed_generations: Vec<GenerationId>,
    /// Wall time of the build.
    #[serde(serialize_with = "serialize_secs")]
    pub elapsed: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A record selected for indexing, numbered in log order.
struct Job {
    seq: u64,
    record: PageRecord,
}

/// Latest fetch per URL: log sequence number and raw HTML size.
type Latest = HashMap<String, (u64, u64)>;

/// A generation being built: its lock, directory, tantivy index and writer.
struct Build {
    started: Instant,
    layout: IndexLayout,
    _lock: std::fs::File,
    id: GenerationId,
    index: Index,
    writer: IndexWriter<TantivyDocument>,
    fields: Fields,
    threads: usize,
}

impl Build {
    /// Locks `index_dir` and creates the next generation's empty index.
    fn begin(index_dir: &std::path::Path, options: &RebuildOptions) -> Result<Build, IndexError> {
        let started = Instant::now();
        let layout = IndexLayout::new(index_dir);
        let lock = layout.lock()?;
        let id = layout.next_id()?;
        let dir = layout.generation_dir(id);
        std::fs::create_dir_all(&dir).map_err(IndexError::io(&dir))?;
        let (schema, fields) = build_schema();
        let index = Index::create_in_dir(&dir, schema)?;
        register_analyzers(&index);
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let writer = index.writer_with_num_threads(
            threads,
            options.writer_memory_bytes.max(threads * (16 << 20)),
        )?;
        Ok(Build {
            started,
            layout,
            _lock: lock,
            id,
            index,
            writer,
            fields,
            threads,
        })
    }

    /// Commits, merges into one segment, writes the summary, switches `CURRENT` and
    /// removes old generations.
    fn finish(
        mut self,
        mut meta: GenerationMeta,
        scan: ScanCounts,
        dedup: bool,
    ) -> Result<RebuildStats, IndexError> {
        self.writer.commit()?;
        if dedup {
            let collapsed = collapse_duplicates(&self.index, &self.writer, self.fields)?;
            self.writer.commit()?;
            meta.duplicates_collapsed = collapsed.aliases.len() as u64;
            meta.documents = meta.documents.saturating_sub(meta.duplicates_collapsed);
            self.layout.write_aliases(self.id, &collapsed.aliases)?;
        }
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            // One segment answers queries fastest and smallest; the whole index is
            // rewritten anyway on every rebuild.
            self.writer.merge(&segments).wait()?;
        }
        self.writer.wait_merging_threads()?;
        self.layout.write_meta(&meta)?;
        self.layout.switch_current(self.id)?;
        let removed_generations = self.layout.remove_old(self.id)?;
        let index_bytes = self.layout.stats()?.index_bytes;
        info!(generation = %self.id, documents = meta.documents, records = meta.records_read, "index generation built");
        Ok(RebuildStats {
            generation: self.id,
            records_read: meta.records_read,
            documents: meta.documents,
            skipped_not_html: scan.skipped_not_html,
            skipped_status: scan.skipped_status,
            unreadable_records: scan.unreadable,
            duplicates_collapsed: meta.duplicates_collapsed,
            raw_html_bytes: meta.raw_html_bytes,
            index_bytes,
            removed_generations,
            elapsed: self.started.elapsed(),
        })
    }
}

/// Builds a new generation from every record in `store`, switches `CURRENT` to it, and
/// removes old generations (keeping the previous one for servers still reading it).
///
/// One document per URL: when a URL was fetched several times, the record latest in the
/// log wins. Non-200 and non-HTML records are skipped and counted.
///
/// # Errors
/// [`IndexError::Locked`] if another build runs on `index_dir`; store, tantivy and I/O
/// errors. On any error `CURRENT` is unchanged.
pub fn rebuild(
    store: &PageStore,
    index_dir: &std::path::Path,
    options: &RebuildOptions,
) -> Result<RebuildStats, IndexError> {
    let build = Build::begin(index_dir, options)?;
    let page_store_bytes = store.total_bytes()?;
    let progress = options.progress.clone().unwrap_or_default();
    let latest: Mutex<Latest> = Mutex::new(HashMap::new());
    let (sender, receiver) = sync_channel::<Job>(build.threads * 64);
    let receiver = Mutex::new(receiver);

    let scan = std::thread::scope(|scope| -> Result<ScanCounts, IndexError> {
        let workers: Vec<_> = (0..build.threads)
            .map(|_| {
                scope.spawn(|| {
                    index_jobs(&receiver, &build.writer, build.fields, &latest, &progress)
                })
            })
            .collect();
        let scan = scan_store(store, &sender, &progress);
        drop(sender);
        for worker in workers {
            worker.join().map_err(|_| IndexError::WorkerPanicked)??;
        }
        scan
    })?;

    let latest = latest.into_inner().unwrap_or_else(PoisonError::into_inner);
    let meta = GenerationMeta {
        id: build.id,
        built_at_unix: unix_seconds(SystemTime::now()),
        documents: latest.len() as u64,
        records_read: scan.records_read,
        raw_html_bytes: latest.values().map(|(_, bytes)| bytes).sum(),
        page_store_bytes,
        duplicates_collapsed: 0,
    };
    build.finish(meta, scan, true)
}

/// A document given directly (not crawled): an evaluation collection's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainDocument {
    /// Identifier, stored in the `url` field.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
}

/// Builds a generation from plain documents with the same schema and analyzers as
/// crawled pages (used by `quarry eval` to measure ranking on judged collections).
///
/// # Errors
/// As [`rebuild`].
pub fn index_documents(
    documents: impl IntoIterator<Item = PlainDocument>,
    index_dir: &std::path::Path,
    options: &RebuildOptions,
) -> Result<RebuildStats, IndexError> {
    let build = Build::begin(index_dir, options)?;
    let fields = build.fields;
    let mut count = 0u64;
    let mut bytes = 0u64;
    for plain in documents {
        let mut document = TantivyDocument::default();
        document.add_text(fields.url, &plain.id);
        document.add_text(fields.title, &plain.title);
        document.add_text(fields.body, &plain.body);
        bytes += (plain.title.len() + plain.body.len()) as u64;
        build.writer.add_document(document)?;
        count += 1;
    }
    let meta = GenerationMeta {
        id: build.id,
        built_at_unix: unix_seconds(SystemTime::now()),
        documents: count,
        records_read: count,
        raw_html_bytes: bytes,
        page_store_bytes: 0,
        duplicates_collapsed: 0,
    };
    // Judged collections are scored by id: identical documents must stay distinct.
    build.finish(meta, ScanCounts::default(), false)
}

#[derive(Debug, Default)]
struct ScanCounts {
    records_read: u64,
    skipped_not_html: u64,
    skipped_status: u64,
    unreadable: u64,
}

/// Reads the store in log order and hands indexable records to the workers.
fn scan_store(
    store: &PageStore,
    sender: &std::sync::mpsc::SyncSender<Job>,
    progress: &RebuildProgress,
) -> Result<ScanCounts, IndexError> {
    let mut counts = ScanCounts::default();
    for (seq, item) in store.records(None)?.enumerate() {
        let record = match item {
            Ok((_, record)) => record,
            Err(error) => {
                warn!(%error, "skipping unreadable page-store record");
                counts.unreadable += 1;
                continue;
            }
        };
        counts.records_read += 1;
        progress.records_read.fetch_add(1, Ordering::Relaxed);
        if record.status != 200 {
            counts.skipped_status += 1;
            continue;
        }
        if !is_html(record.content_type(), &record.body) {
            counts.skipped_not_html += 1;
            continue;
        }
        if sender
            .send(Job {
                seq: seq as u64,
                record,
            })
            .is_err()
        {
            // Every worker is gone: one failed, and its error is reported by the caller.
            break;
        }
    }
    Ok(counts)
}

/// A worker: extracts text from each record and adds the document, keeping only the
/// latest fetch of every URL.
fn index_jobs(
    receiver: &Mutex<Receiver<Job>>,
    writer: &IndexWriter<TantivyDocument>,
    fields: Fields,
    latest: &Mutex<Latest>,
    progress: &RebuildProgress,
) -> Result<(), IndexError> {
    loop {
        let job = {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return Ok(()),
            }
        };
        let raw_bytes = job.record.body.len() as u64;
        let document = build_document(&job.record, fields);
        let mut latest = latest.lock().unwrap_or_else(PoisonError::into_inner);
        match latest.get(&job.record.url) {
            Some((seq, _)) if *seq > job.seq => continue,
            Some(_) => {
                writer.delete_term(Term::from_field_text(fields.url, &job.record.url));
            }
            None => {}
        }
        writer.add_document(document)?;
        latest.insert(job.record.url, (job.seq, raw_bytes));
        progress.documents_added.fetch_add(1, Ordering::Relaxed);
    }
}

/// Builds the tantivy document of one HTML page record.
fn build_document(record: &PageRecord, fields: Fields) -> TantivyDocument {
    let decoded = charset::decode_html(&record.body, record.content_type());
    let page = extract_page(&decoded.text);
    let host = url::Url::parse(&record.url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let fetched = i64::try_from(unix_seconds(record.fetched_at)).unwrap_or(i64::MAX);
    let mut document = TantivyDocument::default();
    document.add_text(fields.url, &record.url);
    document.add_text(fields.host, &host);
    document.add_text(fields.title, &page.title);
    document.add_text(fields.headings, &page.headings);
    document.add_text(fields.body, &page.body);
    document.add_date(fields.fetched_at, DateTime::from_timestamp_secs(fetched));
    if let Some(hash) = content_hash(&page.title, &page.body) {
        document.add_u64(fields.content_hash, hash);
    }
    document
}
