//! `rebuild`: a new generation from the whole page store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use quarry_pagestore::{NOINDEX_HEADER, PageRecord, PageStore, RecordPosition, charset};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument, Term};
use tracing::{info, warn};

use crate::analyzer::register_analyzers;
use crate::boilerplate::{BlockCounts, block_hashes, strip};
use crate::dedup::{Candidate, content_hash, duplicates, fnv, simhash};
use crate::dictionary::{Dictionary, WordCounts, title_key};
use crate::document::{extract_document, is_html};
use crate::error::IndexError;
use crate::generation::{GenerationId, GenerationMeta, IndexLayout, unix_seconds};
use crate::graph::LinkGraph;
use crate::schema::{Fields, build_schema, host_suffixes};
use crate::shard::Shard;
use crate::state::{
    Indexed, META_SPILL, PageMeta, PageState, PageText, RankStep, Spill, State, TEXT_SPILL,
};

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
    /// Build only this partition of the documents (see [`Shard`]); `None` builds all.
    /// The link signals and duplicates are still computed over the whole page store.
    pub shard: Option<Shard>,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            threads: 0,
            writer_memory_bytes: 256 << 20,
            progress: None,
            near_duplicate_bits: 3,
            shard: None,
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
    /// `true` for an update that continued the previous generation, `false` for a build
    /// from the whole page store.
    pub incremental: bool,
    /// Response records read from the page store (by an update: the new ones).
    pub records_read: u64,
    /// Documents in the new generation (one per URL).
    pub documents: u64,
    /// Documents (re-)indexed by this build; an update re-indexes only pages whose text,
    /// anchor text, static rank or duplicate status changed.
    pub documents_indexed: u64,
    /// Documents of the previous generation removed or replaced by this build.
    pub documents_removed: u64,
    /// Records that are not HTML (they remove an earlier HTML version of the URL).
    pub skipped_not_html: u64,
    /// Records whose HTTP status was not 200 (404, 410 and redirects remove the URL;
    /// 5xx and 429 change nothing).
    pub skipped_status: u64,
    /// Records of pages that asked not to be indexed (they remove the URL).
    pub skipped_noindex: u64,
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

/// The latest record seen for a URL during a scan: a page, or `None` when the URL is gone
/// (404/410, redirected, no longer HTML, now `noindex`).
struct Latest {
    seq: u64,
    page: Option<PageState>,
}

type LatestMap = HashMap<String, Latest>;

/// The generation a build continues from (an update) or `None` (a rebuild).
struct Previous {
    dir: PathBuf,
    state: State,
}

/// A generation being built: its lock, directory, tantivy index and writer.
///
/// Fields drop in declaration order: the writer and index close first, then an
/// unfinished generation directory is removed, and the lock is released last.
struct Build {
    started: Instant,
    layout: IndexLayout,
    id: GenerationId,
    dir: PathBuf,
    index: Index,
    writer: IndexWriter<TantivyDocument>,
    fields: Fields,
    threads: usize,
    unfinished: Unfinished,
    _lock: std::fs::File,
}

/// Removes a generation directory that never became `CURRENT`, so a build that fails
/// (a full disk, a bad record, a crash of the writer) does not leave gigabytes behind —
/// on a full disk, the partial generation would otherwise keep it full.
struct Unfinished {
    dir: Option<PathBuf>,
}

impl Unfinished {
    /// `CURRENT` points at the directory now: keep it.
    fn keep(&mut self) {
        self.dir = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => info!(dir = %dir.display(), "removed the unfinished generation"),
                Err(error) => {
                    warn!(dir = %dir.display(), %error, "could not remove the unfinished generation")
                }
            }
        }
    }
}

/// Files of a generation directory that are Quarry's, not tantivy's.
const QUARRY_FILES: &[&str] = &[
    "generation.json",
    "aliases.tsv",
    "state.json",
    "words.fst",
    "titles.fst",
    META_SPILL,
    TEXT_SPILL,
];

impl Build {
    /// Locks `index_dir` and creates the next generation: an empty index, or, continuing
    /// `previous`, hard links to its (immutable) segment files and a copy of its tantivy
    /// metadata, so the previous generation is never modified.
    fn begin(
        index_dir: &std::path::Path,
        options: &RebuildOptions,
        lock: Option<std::fs::File>,
        previous: Option<&std::path::Path>,
    ) -> Result<Build, IndexError> {
        let started = Instant::now();
        let layout = IndexLayout::new(index_dir);
        let lock = match lock {
            Some(lock) => lock,
            None => layout.lock()?,
        };
        let id = layout.next_id()?;
        let dir = layout.generation_dir(id);
        std::fs::create_dir_all(&dir).map_err(IndexError::io(&dir))?;
        let unfinished = Unfinished {
            dir: Some(dir.clone()),
        };
        let index = match previous {
            None => {
                let (schema, _) = build_schema();
                Index::create_in_dir(&dir, schema)?
            }
            Some(previous) => {
                link_tantivy_files(previous, &dir)?;
                Index::open_in_dir(&dir)?
            }
        };
        register_analyzers(&index);
        let fields = Fields::from_schema(&index.schema())?;
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
            id,
            dir,
            index,
            writer,
            fields,
            threads,
            unfinished,
            _lock: lock,
        })
    }

    /// Commits, merges into one segment (which also drops deleted documents, so an
    /// updated index scores exactly like a rebuilt one), writes the summary, switches
    /// `CURRENT` and removes old generations.
    fn finish(
        mut self,
        mut meta: GenerationMeta,
        scan: &ScanCounts,
        aliases: &[(String, String)],
        changes: Changes,
    ) -> Result<RebuildStats, IndexError> {
        self.writer.commit()?;
        info!(
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "committed"
        );
        meta.duplicates_collapsed = aliases.len() as u64;
        self.layout.write_aliases(self.id, aliases)?;
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            self.writer.merge(&segments).wait()?;
        }
        self.writer.wait_merging_threads()?;
        self.layout.write_meta(&meta)?;
        if let Err(error) = self.layout.switch_current(self.id) {
            // The rename may have landed before the error (say, the directory sync
            // failed): keep the generation unless `CURRENT` surely names another.
            if !matches!(self.layout.current(), Ok(current) if current != Some(self.id)) {
                self.unfinished.keep();
            }
            return Err(error);
        }
        self.unfinished.keep();
        let removed_generations = self.layout.remove_old(self.id)?;
        let index_bytes = self.layout.stats()?.index_bytes;
        info!(generation = %self.id, documents = meta.documents, records = meta.records_read, "index generation built");
        Ok(RebuildStats {
            generation: self.id,
            incremental: changes.incremental,
            records_read: meta.records_read,
            documents: meta.documents,
            documents_indexed: changes.indexed,
            documents_removed: changes.removed,
            skipped_not_html: scan.skipped_not_html,
            skipped_status: scan.skipped_status,
            skipped_noindex: scan.skipped_noindex,
            unreadable_records: scan.unreadable,
            duplicates_collapsed: meta.duplicates_collapsed,
            raw_html_bytes: meta.raw_html_bytes,
            index_bytes,
            removed_generations,
            elapsed: self.started.elapsed(),
        })
    }
}

/// Hard-links the tantivy segment files of generation directory `from` into `to` and
/// copies its tantivy metadata (rewritten by the next commit).
fn link_tantivy_files(from: &std::path::Path, to: &std::path::Path) -> Result<(), IndexError> {
    for entry in std::fs::read_dir(from).map_err(IndexError::io(from))? {
        let entry = entry.map_err(IndexError::io(from))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let lock_or_temp = name.ends_with(".lock") || name.ends_with(".tmp");
        if QUARRY_FILES.contains(&name) || lock_or_temp || !entry.path().is_file() {
            continue;
        }
        let target = to.join(name);
        if name == "meta.json" || name == ".managed.json" {
            std::fs::copy(entry.path(), &target).map_err(IndexError::io(&target))?;
        } else {
            std::fs::hard_link(entry.path(), &target).map_err(IndexError::io(&target))?;
        }
    }
    Ok(())
}

/// How many documents a build (re-)indexed and removed.
struct Changes {
    incremental: bool,
    indexed: u64,
    removed: u64,
}

/// Builds a new generation from every record in `store`, switches `CURRENT` to it, and
/// removes old generations (keeping the previous one for servers still reading it).
///
/// One document per URL: the record latest in the log decides. A 200 HTML page is
/// indexed; a 404/410, a redirect, a non-HTML answer or a page marked `noindex` by the
/// crawler removes the URL; 5xx and 429 answers are transient and change nothing. Three
/// passes, like a small MapReduce job:
/// 1. every record is decoded and parsed once, in parallel; the extracted links and text
///    are spilled to two files in the generation directory (kept for `update`);
/// 2. the link graph of the latest pages gives each page its anchor text (from links of
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
    let build = Build::begin(index_dir, options, None, None)?;
    run(build, store, options, None)
}

/// Applies the page-store records written since the current generation was built: new and
/// changed pages are added or replace their URL's document, gone pages are removed, and
/// the link signals (anchor text, static rank, duplicates) are recomputed over all pages.
/// Only documents whose inputs changed are re-indexed; the result equals a [`rebuild`] of
/// the same page store (tested), and keeps pages whose page-store segments were retired.
///
/// Falls back to a full rebuild (`incremental: false` in the stats) when there is no
/// current generation or it was built by a version without update state.
///
/// # Errors
/// As [`rebuild`].
pub fn update(
    store: &PageStore,
    index_dir: &std::path::Path,
    options: &RebuildOptions,
) -> Result<RebuildStats, IndexError> {
    let layout = IndexLayout::new(index_dir);
    let lock = layout.lock()?;
    let previous = continuable(&layout, options)?;
    if previous.is_none() {
        info!("no generation this version can continue: building from the whole page store");
    }
    let build = Build::begin(
        index_dir,
        options,
        Some(lock),
        previous.as_ref().map(|p| p.dir.as_path()),
    )?;
    run(build, store, options, previous)
}

/// Where an [`update`] of `index_dir` with `options` would start reading the page store:
/// the checkpoint of the generation it continues, or `None` when it would read the whole
/// store (no generation it can continue, or one that has read nothing yet). A reader that
/// fetches the page store from elsewhere needs the segments from there on.
///
/// # Errors
/// As [`update`].
pub fn update_start(
    index_dir: &std::path::Path,
    options: &RebuildOptions,
) -> Result<Option<RecordPosition>, IndexError> {
    let layout = IndexLayout::new(index_dir);
    Ok(continuable(&layout, options)?.and_then(|previous| previous.state.checkpoint))
}

/// The current generation of `layout`, if an update with `options` can continue it.
fn continuable(
    layout: &IndexLayout,
    options: &RebuildOptions,
) -> Result<Option<Previous>, IndexError> {
    let Some(id) = layout.current()? else {
        return Ok(None);
    };
    let dir = layout.generation_dir(id);
    // A generation of another schema (an older version) cannot be continued.
    let same_schema = Index::open_in_dir(&dir)
        .map(|index| index.schema() == build_schema().0)
        .unwrap_or(false);
    // A generation of another partition cannot be continued as this one.
    let same_shard = layout
        .read_meta(id)
        .is_ok_and(|meta| meta.shard == options.shard);
    Ok(match State::load(&dir)? {
        Some(state) if same_schema && same_shard => Some(Previous { dir, state }),
        _ => None,
    })
}

/// The three passes shared by [`rebuild`] and [`update`].
fn run(
    build: Build,
    store: &PageStore,
    options: &RebuildOptions,
    previous: Option<Previous>,
) -> Result<RebuildStats, IndexError> {
    let page_store_bytes = store.total_bytes()?;
    let progress = options.progress.clone().unwrap_or_default();
    let incremental = previous.is_some();
    let previous_dir = previous.as_ref().map(|p| p.dir.clone());
    let (mut state, words) = match previous {
        Some(previous) => {
            let words = Dictionary::read_counts(&previous.dir)?;
            (previous.state, words)
        }
        None => (State::new(), WordCounts::default()),
    };
    let metas = Spill::continue_from(previous_dir.as_deref(), &build.dir, META_SPILL)?;
    let texts = Spill::continue_from(previous_dir.as_deref(), &build.dir, TEXT_SPILL)?;
    let old_indexed: HashMap<String, Indexed> = state
        .pages
        .iter()
        .filter_map(|(url, page)| page.indexed.clone().map(|indexed| (url.clone(), indexed)))
        .collect();

    // Pass 1: parse every new record once, in parallel.
    let latest: Mutex<LatestMap> = Mutex::new(HashMap::new());
    let (sender, receiver) = sync_channel::<Job>(build.threads * 64);
    let receiver = Mutex::new(receiver);
    let (scan, checkpoint) = std::thread::scope(
        |scope| -> Result<(ScanCounts, Option<RecordPosition>), IndexError> {
            let workers: Vec<_> = (0..build.threads)
                .map(|_| scope.spawn(|| extract_jobs(&receiver, &metas, &texts, &latest)))
                .collect();
            let scanned = scan_store(store, &state, &sender, &latest, &progress);
            drop(sender);
            for worker in workers {
                worker.join().map_err(|_| IndexError::WorkerPanicked)??;
            }
            scanned
        },
    )?;
    if let Some(checkpoint) = checkpoint {
        state.checkpoint = Some(checkpoint);
    }
    state.next_seq += scan.records_read + scan.unreadable;
    for (url, latest) in latest.into_inner().unwrap_or_else(PoisonError::into_inner) {
        match latest.page {
            Some(page) => {
                state.pages.insert(url, page);
            }
            None => {
                state.pages.remove(&url);
            }
        }
    }

    info!(
        records = scan.records_read,
        elapsed_ms = build.started.elapsed().as_millis() as u64,
        "pass 1 (parse) done"
    );
    // Pass 2: the link graph, static rank, duplicates, over every page in URL order.
    let urls: Vec<String> = state.pages.keys().cloned().collect();
    let places: Vec<PageState> = state.pages.values().cloned().collect();
    let ids: HashMap<&str, u32> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| (url.as_str(), i as u32))
        .collect();
    let mut graph = LinkGraph::new();
    let mut candidates = Vec::with_capacity(urls.len());
    let mut hosts: HashMap<String, u32> = HashMap::new();
    let mut host_of = vec![0u32; urls.len()];
    let mut title_keys = Vec::with_capacity(urls.len());
    let mut blocks = BlockCounts::default();
    let mut page_blocks: Vec<Vec<u64>> = Vec::with_capacity(urls.len());
    {
        let mut reader = metas.reader()?;
        for (i, place) in places.iter().enumerate() {
            let page: PageMeta = reader.read(place.meta)?;
            let next = hosts.len() as u32;
            host_of[i] = *hosts.entry(host_of_url(&page.url)).or_insert(next);
            for link in &page.links {
                if let Some(&target) = ids.get(link.target.as_str()) {
                    graph.add(i as u32, target, &link.text);
                }
            }
            title_keys.push(title_key(&page.title));
            blocks.add(host_of[i], &page.blocks);
            page_blocks.push(page.blocks);
            candidates.push(Candidate {
                url: page.url,
                hash: page.hash,
                simhash: page.simhash,
                rank: 0.0,
            });
        }
    }
    let page_rank = graph.page_rank(urls.len());
    let host_rank = graph.host_rank(&host_of);
    for (candidate, rank) in candidates.iter_mut().zip(&page_rank) {
        candidate.rank = *rank;
    }
    let keep = duplicates(&candidates, options.near_duplicate_bits);
    drop(candidates);
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut anchors: HashMap<usize, String> = HashMap::new();
    for (i, kept) in keep.iter().enumerate() {
        let text = graph.take_anchors(i as u32);
        // A shard records the aliases of its own documents.
        if *kept != i
            && options
                .shard
                .is_none_or(|shard| shard.contains(&urls[*kept]))
        {
            aliases.push((urls[i].clone(), urls[*kept].clone()));
        }
        if !text.is_empty() {
            anchors.entry(*kept).or_default().push_str(&text);
        }
    }
    aliases.sort();
    drop(graph);
    let indexed: Vec<Option<Indexed>> = (0..urls.len())
        .map(|i| {
            let in_shard = options.shard.is_none_or(|shard| shard.contains(&urls[i]));
            (keep[i] == i && in_shard).then(|| Indexed {
                text: places[i].text,
                anchors: anchors.get(&i).map_or(0, |text| fnv(text.bytes())),
                page_rank: RankStep::of(page_rank[i]),
                host_rank: RankStep::of(host_rank[i]),
                boilerplate: blocks.boilerplate(host_of[i], &page_blocks[i]),
            })
        })
        .collect();
    drop((blocks, page_blocks));

    info!(
        pages = urls.len(),
        elapsed_ms = build.started.elapsed().as_millis() as u64,
        "pass 2 (link graph) done"
    );
    // Pass 3: remove documents whose inputs changed or that are gone; index the new ones.
    // The dictionary's word counts are kept on their own thread, beside tantivy's.
    let mut gone: Vec<(&String, &Indexed)> = old_indexed
        .iter()
        .filter(|(url, old)| {
            ids.get(url.as_str())
                .is_none_or(|&i| indexed[i as usize].as_ref() != Some(*old))
        })
        .collect();
    gone.sort_by_key(|(_, old)| old.text.offset);
    let removed = gone.len() as u64;
    let mut added: Vec<usize> = (0..urls.len())
        .filter(|&i| indexed[i].is_some() && old_indexed.get(&urls[i]) != indexed[i].as_ref())
        .collect();
    added.sort_by_key(|&i| places[i].text.offset);
    let (count_words, counted) = sync_channel::<(String, bool)>(256);
    let words = std::thread::scope(|scope| -> Result<WordCounts, IndexError> {
        let counter = scope.spawn(move || {
            let mut words = words;
            for (text, added) in counted {
                words.apply(&[&text], added);
            }
            words
        });
        let mut reader = texts.reader()?;
        for (url, old) in gone {
            build
                .writer
                .delete_term(Term::from_field_text(build.fields.url, url));
            let mut page: PageText = reader.read(old.text)?;
            page.body = strip(&page.body, &old.boilerplate);
            let _ = count_words.send((dictionary_text(&page), false));
        }
        for &i in &added {
            let mut page: PageText = reader.read(places[i].text)?;
            if let Some(indexed) = &indexed[i] {
                page.body = strip(&page.body, &indexed.boilerplate);
            }
            let _ = count_words.send((dictionary_text(&page), true));
            let signals = Signals {
                anchors: anchors.remove(&i).unwrap_or_default(),
                page_rank: RankStep::of(page_rank[i]).rank(),
                host_rank: RankStep::of(host_rank[i]).rank(),
            };
            build
                .writer
                .add_document(build_document(page, &signals, build.fields))?;
            progress.documents_added.fetch_add(1, Ordering::Relaxed);
        }
        drop(count_words);
        counter.join().map_err(|_| IndexError::WorkerPanicked)
    })?;

    info!(
        indexed = added.len(),
        removed,
        elapsed_ms = build.started.elapsed().as_millis() as u64,
        "pass 3 (index) done"
    );
    // The generation's dictionary and state.
    let mut titles: BTreeMap<String, u64> = BTreeMap::new();
    let mut documents = 0u64;
    let mut raw_html_bytes = 0u64;
    let mut kept_hosts = HashSet::new();
    for (i, signature) in indexed.iter().enumerate() {
        let Some(signature) = signature else { continue };
        documents += 1;
        raw_html_bytes += places[i].raw_bytes;
        kept_hosts.insert(host_of[i]);
        if !title_keys[i].is_empty() {
            let weight = (signature.page_rank.rank() * 1000.0) as u64 + 1;
            let entry = titles
                .entry(std::mem::take(&mut title_keys[i]))
                .or_default();
            *entry = (*entry).max(weight);
        }
    }
    for (page, signature) in state.pages.values_mut().zip(indexed) {
        page.indexed = signature;
    }
    Dictionary::write(&build.dir, &words, &titles)?;
    metas.sync()?;
    texts.sync()?;
    state.save(&build.dir)?;

    let meta = GenerationMeta {
        id: build.id,
        built_at_unix: unix_seconds(SystemTime::now()),
        documents,
        records_read: scan.records_read,
        raw_html_bytes,
        page_store_bytes,
        duplicates_collapsed: 0,
        hosts: kept_hosts.len() as u64,
        checkpoint: state.checkpoint,
        shard: options.shard,
    };
    let changes = Changes {
        incremental,
        indexed: added.len() as u64,
        removed,
    };
    build.finish(meta, &scan, &aliases, changes)
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
    let build = Build::begin(index_dir, options, None, None)?;
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
        checkpoint: None,
        shard: None,
    };
    let changes = Changes {
        incremental: false,
        indexed: count,
        removed: 0,
    };
    // Judged collections are scored by id: identical documents must stay distinct.
    build.finish(meta, &ScanCounts::default(), &[], changes)
}

#[derive(Debug, Default)]
struct ScanCounts {
    records_read: u64,
    skipped_not_html: u64,
    skipped_status: u64,
    skipped_noindex: u64,
    unreadable: u64,
}

/// Reads the store in log order from the state's checkpoint, hands indexable records to
/// the workers and records gone URLs. Returns the counts and where reading stopped.
fn scan_store(
    store: &PageStore,
    state: &State,
    sender: &std::sync::mpsc::SyncSender<Job>,
    latest: &Mutex<LatestMap>,
    progress: &RebuildProgress,
) -> Result<(ScanCounts, Option<RecordPosition>), IndexError> {
    let mut counts = ScanCounts::default();
    let mut records = store.records(state.checkpoint)?;
    for (seq, item) in (state.next_seq + 1..).zip(records.by_ref()) {
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
        let gone = if record.header(NOINDEX_HEADER).is_some() {
            counts.skipped_noindex += 1;
            true
        } else if record.status == 200 {
            if is_html(record.content_type(), &record.body) {
                false
            } else {
                counts.skipped_not_html += 1;
                true
            }
        } else {
            counts.skipped_status += 1;
            let transient = record.status == 429 || record.status >= 500 || record.status < 200;
            if transient {
                continue;
            }
            true
        };
        if gone {
            let mut latest = latest.lock().unwrap_or_else(PoisonError::into_inner);
            if latest.get(&record.url).is_none_or(|known| known.seq < seq) {
                latest.insert(record.url, Latest { seq, page: None });
            }
            continue;
        }
        if sender.send(Job { seq, record }).is_err() {
            // Every worker is gone: one failed, and its error is reported by the caller.
            break;
        }
    }
    Ok((counts, records.resume_position()))
}

/// A worker of pass 1: decodes and parses each record, spills what the index needs, and
/// remembers where the latest fetch of every URL is.
fn extract_jobs(
    receiver: &Mutex<Receiver<Job>>,
    metas: &Spill,
    texts: &Spill,
    latest: &Mutex<LatestMap>,
) -> Result<(), IndexError> {
    loop {
        let job = {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return Ok(()),
            }
        };
        let is_stale = |latest: &LatestMap| {
            latest
                .get(&job.record.url)
                .is_some_and(|known| known.seq > job.seq)
        };
        if is_stale(&latest.lock().unwrap_or_else(PoisonError::into_inner)) {
            continue;
        }
        let (meta, text) = extract_record(&job.record);
        let page = PageState {
            seq: job.seq,
            meta: metas.append(&meta)?,
            text: texts.append(&text)?,
            raw_bytes: job.record.body.len() as u64,
            indexed: None,
        };
        let mut latest = latest.lock().unwrap_or_else(PoisonError::into_inner);
        if !is_stale(&latest) {
            latest.insert(
                job.record.url,
                Latest {
                    seq: job.seq,
                    page: Some(page),
                },
            );
        }
    }
}

/// The text of a page the dictionary counts words of.
fn dictionary_text(page: &PageText) -> String {
    [page.title.as_str(), &page.headings, &page.body].join("\n")
}

/// The host of a URL, lower case ("" when it has none).
fn host_of_url(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// Decodes and parses one HTML page record into what the link-graph pass and the
/// document need.
fn extract_record(record: &PageRecord) -> (PageMeta, PageText) {
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
    let hash = content_hash(&page.title, &page.body);
    let meta = PageMeta {
        url: record.url.clone(),
        title: page.title.clone(),
        links,
        hash,
        simhash: simhash(&page.body),
        blocks: block_hashes(&page.body),
    };
    let text = PageText {
        url: record.url.clone(),
        fetched_at: i64::try_from(unix_seconds(record.fetched_at)).unwrap_or(i64::MAX),
        title: page.title,
        headings: page.headings,
        body: page.body,
        lang,
        hash,
    };
    (meta, text)
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
fn build_document(page: PageText, signals: &Signals, fields: Fields) -> TantivyDocument {
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
