//! `rebuild`: a new generation from the whole page store.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use quarry_pagestore::{PageRecord, PageStore, charset};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument};
use tracing::{info, warn};

use crate::analyzer::register_analyzers;
use crate::dedup::{Candidate, content_hash, duplicates, simhash};
use crate::document::{Link, extract_document, is_html};
use crate::error::IndexError;
use crate::generation::{GenerationId, GenerationMeta, IndexLayout, unix_seconds};
use crate::graph::LinkGraph;
use crate::schema::{Fields, build_schema, host_suffixes};

/// How to build a generation.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Extraction and indexing threads; 0 means one per available core. Default 0.
    pub threads: usize,
    /// Memory budget of the tantivy writer, shared by its threads. Default 256 MiB.
    pub writer_memory_bytes: usize,
    /// Counters the caller may watch while the build runs (for progress output).
    pub progress: Option<Arc<RebuildProgress>>,
    /// Pages whose simhashes are at most this many bits apart are near-duplicates and
    /// collapse into one document; 0 keeps only exact-duplicate collapse. Default 3.
    pub near_duplicate_bits: u32,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            threads: 0,
            writer_memory_bytes: 256 << 20,
            progress: None,
            near_duplicate_bits: 3,
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

/// What the first pass keeps of one page, spilled to disk until the link graph is known.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Extracted {
    url: String,
    fetched_at: i64,
    title: String,
    headings: String,
    body: String,
    lang: String,
    links: Vec<Link>,
    /// Exact-duplicate hash of title and body (see [`content_hash`]).
    hash: Option<u64>,
    /// Near-duplicate fingerprint of the body (see [`simhash`]), computed here, on the
    /// parallel workers, rather than in the single-threaded graph pass.
    simhash: Option<u64>,
}

/// Where the latest fetch of a URL is: log sequence number, spill offset and length, raw
/// HTML size.
#[derive(Debug, Clone, Copy)]
struct Spilled {
    seq: u64,
    offset: u64,
    len: u64,
    raw_bytes: u64,
}

/// Latest fetch per URL.
type Latest = HashMap<String, Spilled>;

/// The spill file: extracted pages, appended by the workers, read back by offset.
struct Spill {
    path: PathBuf,
    writer: Mutex<(BufWriter<std::fs::File>, u64)>,
}

impl Spill {
    fn create(path: PathBuf) -> Result<Spill, IndexError> {
        let file = std::fs::File::create(&path).map_err(IndexError::io(&path))?;
        Ok(Spill {
            writer: Mutex::new((BufWriter::with_capacity(1 << 20, file), 0)),
            path,
        })
    }

    /// Appends one encoded page; returns its offset.
    fn append(&self, bytes: &[u8]) -> Result<u64, IndexError> {
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let (writer, end) = &mut *guard;
        writer
            .write_all(bytes)
            .map_err(IndexError::io(&self.path))?;
        let offset = *end;
        *end += bytes.len() as u64;
        Ok(offset)
    }

    /// Reads the pages at `places` (in file order for sequential I/O) and hands each to
    /// `each` with its index in `places`.
    fn read_each(
        &self,
        places: &[Spilled],
        mut each: impl FnMut(usize, Extracted) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .flush()
            .map_err(IndexError::io(&self.path))?;
        let file = std::fs::File::open(&self.path).map_err(IndexError::io(&self.path))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut order: Vec<usize> = (0..places.len()).collect();
        order.sort_by_key(|i| places[*i].offset);
        let mut buffer = Vec::new();
        for i in order {
            let place = places[i];
            reader
                .seek(SeekFrom::Start(place.offset))
                .map_err(IndexError::io(&self.path))?;
            buffer.resize(place.len as usize, 0);
            reader
                .read_exact(&mut buffer)
                .map_err(IndexError::io(&self.path))?;
            let page: Extracted = serde_json::from_slice(&buffer).map_err(|e| {
                IndexError::io(&self.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?;
            each(i, page)?;
        }
        Ok(())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

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
        aliases: &[(String, String)],
    ) -> Result<RebuildStats, IndexError> {
        self.writer.commit()?;
        meta.duplicates_collapsed = aliases.len() as u64;
        self.layout.write_aliases(self.id, aliases)?;
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
/// log wins. Non-200 and non-HTML records are skipped and counted. Three passes, like a
/// small MapReduce job:
/// 1. every record is decoded and parsed once, in parallel; the extracted text and links
///    are spilled to a temporary file in the generation directory;
/// 2. the link graph of the winning pages gives each page its anchor text (from links of
///    other pages) and its static rank (PageRank of the page and of its host); exact and
///    near-duplicates are grouped and the best URL of each group kept;
/// 3. the kept pages are read back from the spill and indexed.
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
    let spill = Spill::create(build.layout.generation_dir(build.id).join("extract.spill"))?;
    let (sender, receiver) = sync_channel::<Job>(build.threads * 64);
    let receiver = Mutex::new(receiver);

    // Pass 1: parse every record once, in parallel.
    let scan = std::thread::scope(|scope| -> Result<ScanCounts, IndexError> {
        let workers: Vec<_> = (0..build.threads)
            .map(|_| scope.spawn(|| extract_jobs(&receiver, &spill, &latest)))
            .collect();
        let scan = scan_store(store, &sender, &progress);
        drop(sender);
        for worker in workers {
            worker.join().map_err(|_| IndexError::WorkerPanicked)??;
        }
        scan
    })?;

    // Pass 2: the link graph, static rank, duplicates.
    let latest = latest.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut pages: Vec<(String, Spilled)> = latest.into_iter().collect();
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    let ids: HashMap<&str, u32> = pages
        .iter()
        .enumerate()
        .map(|(i, (url, _))| (url.as_str(), i as u32))
        .collect();
    let places: Vec<Spilled> = pages.iter().map(|(_, place)| *place).collect();
    let mut graph = LinkGraph::new();
    let mut candidates: Vec<Option<Candidate>> = vec![None; pages.len()];
    let mut hosts: HashMap<String, u32> = HashMap::new();
    let mut host_of = vec![0u32; pages.len()];
    spill.read_each(&places, |i, page| {
        let host = host_of_url(&page.url);
        let next = hosts.len() as u32;
        host_of[i] = *hosts.entry(host).or_insert(next);
        for link in &page.links {
            if let Some(&target) = ids.get(link.target.as_str()) {
                graph.add(i as u32, target, &link.text);
            }
        }
        candidates[i] = Some(Candidate {
            url: page.url,
            hash: page.hash,
            simhash: page.simhash,
            rank: 0.0,
        });
        Ok(())
    })?;
    let mut candidates: Vec<Candidate> = candidates.into_iter().flatten().collect();
    let page_rank = graph.page_rank(pages.len());
    let host_rank = graph.host_rank(&host_of);
    for (candidate, rank) in candidates.iter_mut().zip(&page_rank) {
        candidate.rank = *rank;
    }
    let keep = duplicates(&candidates, options.near_duplicate_bits);
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut anchors: HashMap<usize, String> = HashMap::new();
    for (i, kept) in keep.iter().enumerate() {
        let text = graph.take_anchors(i as u32);
        if *kept != i {
            aliases.push((pages[i].0.clone(), pages[*kept].0.clone()));
        }
        if !text.is_empty() {
            anchors.entry(*kept).or_default().push_str(&text);
        }
    }
    aliases.sort();

    // Pass 3: index the kept pages.
    let mut documents = 0u64;
    let mut raw_html_bytes = 0u64;
    let kept_hosts: std::collections::HashSet<u32> = keep
        .iter()
        .enumerate()
        .filter(|(i, kept)| *i == **kept)
        .map(|(i, _)| host_of[i])
        .collect();
    spill.read_each(&places, |i, page| {
        if keep[i] != i {
            return Ok(());
        }
        let signals = Signals {
            anchors: anchors.remove(&i).unwrap_or_default(),
            page_rank: page_rank[i],
            host_rank: host_rank[i],
        };
        build
            .writer
            .add_document(build_document(page, &signals, build.fields))?;
        progress.documents_added.fetch_add(1, Ordering::Relaxed);
        documents += 1;
        raw_html_bytes += places[i].raw_bytes;
        Ok(())
    })?;
    drop(spill);

    let meta = GenerationMeta {
        id: build.id,
        built_at_unix: unix_seconds(SystemTime::now()),
        documents,
        records_read: scan.records_read,
        raw_html_bytes,
        page_store_bytes,
        duplicates_collapsed: 0,
        hosts: kept_hosts.len() as u64,
    };
    build.finish(meta, scan, &aliases)
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
        hosts: 0,
    };
    // Judged collections are scored by id: identical documents must stay distinct.
    build.finish(meta, ScanCounts::default(), &[])
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

/// A worker of pass 1: decodes and parses each record, spills what the index needs, and
/// remembers where the latest fetch of every URL is.
fn extract_jobs(
    receiver: &Mutex<Receiver<Job>>,
    spill: &Spill,
    latest: &Mutex<Latest>,
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
        let url = job.record.url.clone();
        let encoded = serde_json::to_vec(&extract_record(&job.record)).map_err(|e| {
            IndexError::io(&spill.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        {
            let latest = latest.lock().unwrap_or_else(PoisonError::into_inner);
            if latest.get(&url).is_some_and(|known| known.seq > job.seq) {
                continue;
            }
        }
        let offset = spill.append(&encoded)?;
        let mut latest = latest.lock().unwrap_or_else(PoisonError::into_inner);
        if latest.get(&url).is_none_or(|known| known.seq < job.seq) {
            latest.insert(
                url,
                Spilled {
                    seq: job.seq,
                    offset,
                    len: encoded.len() as u64,
                    raw_bytes,
                },
            );
        }
    }
}

/// The host of a URL, lower case ("" when it has none).
fn host_of_url(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// Decodes and parses one HTML page record.
fn extract_record(record: &PageRecord) -> Extracted {
    let decoded = charset::decode_html(&record.body, record.content_type());
    let (page, links, declared) = match url::Url::parse(&record.url) {
        Ok(url) => {
            let doc = extract_document(&decoded.text, &url);
            (doc.page, doc.links, doc.lang)
        }
        Err(_) => (
            crate::document::extract_page(&decoded.text),
            Vec::new(),
            None,
        ),
    };
    let lang = declared.unwrap_or_else(|| detect_language(&page.title, &page.body));
    Extracted {
        url: record.url.clone(),
        fetched_at: i64::try_from(unix_seconds(record.fetched_at)).unwrap_or(i64::MAX),
        hash: content_hash(&page.title, &page.body),
        simhash: simhash(&page.body),
        title: page.title,
        headings: page.headings,
        body: page.body,
        lang,
        links,
    }
}

/// The language of a page without a `lang` attribute, detected from its text (ISO 639-1
/// where there is one, else 639-3); "" when the text is too short or ambiguous.
fn detect_language(title: &str, body: &str) -> String {
    let mut sample: String = body.chars().take(2000).collect();
    sample.push(' ');
    sample.push_str(title);
    match whatlang::detect(&sample) {
        Some(info) if info.is_reliable() => iso_639_1(info.lang().code()).to_string(),
        _ => String::new(),
    }
}

/// ISO 639-1 for the ISO 639-3 codes whatlang reports, where one exists.
fn iso_639_1(code: &str) -> &str {
    const PAIRS: &[(&str, &str)] = &[
        ("eng", "en"),
        ("rus", "ru"),
        ("cmn", "zh"),
        ("spa", "es"),
        ("por", "pt"),
        ("ita", "it"),
        ("ben", "bn"),
        ("fra", "fr"),
        ("deu", "de"),
        ("ukr", "uk"),
        ("kat", "ka"),
        ("ara", "ar"),
        ("hin", "hi"),
        ("jpn", "ja"),
        ("heb", "he"),
        ("yid", "yi"),
        ("pol", "pl"),
        ("amh", "am"),
        ("jav", "jv"),
        ("kor", "ko"),
        ("nob", "nb"),
        ("dan", "da"),
        ("swe", "sv"),
        ("fin", "fi"),
        ("tur", "tr"),
        ("nld", "nl"),
        ("hun", "hu"),
        ("ces", "cs"),
        ("ell", "el"),
        ("bul", "bg"),
        ("bel", "be"),
        ("mar", "mr"),
        ("kan", "kn"),
        ("ron", "ro"),
        ("slv", "sl"),
        ("hrv", "hr"),
        ("srp", "sr"),
        ("mkd", "mk"),
        ("lit", "lt"),
        ("lav", "lv"),
        ("est", "et"),
        ("tam", "ta"),
        ("vie", "vi"),
        ("urd", "ur"),
        ("tha", "th"),
        ("guj", "gu"),
        ("uzb", "uz"),
        ("pan", "pa"),
        ("aze", "az"),
        ("ind", "id"),
        ("tel", "te"),
        ("pes", "fa"),
        ("mal", "ml"),
        ("ori", "or"),
        ("mya", "my"),
        ("nep", "ne"),
        ("sin", "si"),
        ("khm", "km"),
        ("tuk", "tk"),
        ("aka", "ak"),
        ("zul", "zu"),
        ("sna", "sn"),
        ("afr", "af"),
        ("lat", "la"),
        ("slk", "sk"),
        ("cat", "ca"),
        ("tgl", "tl"),
        ("hye", "hy"),
        ("epo", "eo"),
        ("cym", "cy"),
    ];
    PAIRS
        .iter()
        .find(|(three, _)| *three == code)
        .map_or(code, |(_, two)| two)
}

/// The link-graph signals of one document.
struct Signals {
    anchors: String,
    page_rank: f64,
    host_rank: f64,
}

/// Builds the tantivy document of one extracted page.
fn build_document(page: Extracted, signals: &Signals, fields: Fields) -> TantivyDocument {
    let host = host_of_url(&page.url);
    let mut document = TantivyDocument::default();
    document.add_text(fields.url, &page.url);
    document.add_text(fields.host, &host);
    for suffix in host_suffixes(&host) {
        document.add_text(fields.site, suffix);
    }
    document.add_text(fields.url_terms, &page.url);
    document.add_text(fields.title, &page.title);
    document.add_text(fields.headings, &page.headings);
    document.add_text(fields.body, &page.body);
    document.add_text(fields.anchors, &signals.anchors);
    document.add_text(fields.lang, &page.lang);
    document.add_f64(fields.page_rank, signals.page_rank);
    document.add_f64(fields.host_rank, signals.host_rank);
    document.add_date(
        fields.fetched_at,
        DateTime::from_timestamp_secs(page.fetched_at),
    );
    if let Some(hash) = page.hash {
        document.add_u64(fields.content_hash, hash);
    }
    document
}
