//! The search engine: one open generation at a time, reloaded when `CURRENT` changes.
//!
//! Index files are read through a [`CountingDirectory`], so every response reports the
//! index bytes its search read (`index_bytes_read`); recent responses are kept in a bounded
//! [`ResultCache`] keyed by generation and request, answered with `index_bytes_read: 0`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use quarry_indexer::{ANALYZER_EN, Generation, GenerationId, IndexLayout};
use tantivy::collector::Count;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{Field, OwnedValue};
use tantivy::{IndexReader, ReloadPolicy};
use tracing::info;

use crate::cache::{
    CacheHit, CacheKey, CacheStats, CachedAnswer, DEFAULT_CACHE_ENTRIES, ResultCache,
};
use crate::crowding::{
    self, CANDIDATES_PER_HIT, DEFAULT_MAX_PER_HOST, HostLookup, HostSpread, Spread,
};
use crate::directory::{CountingDirectory, measure};
use crate::error::SearchError;
use crate::explain::{Explanation, explain};
use crate::federation::FederatedCursor;
use crate::paging::{Cursor, SortKey, TopAfter};
use crate::query;
use crate::rank::{MatchMode, StaticRank, build_query, score_parts};
use crate::shards::{
    Candidate, CandidatesRequest, CandidatesResponse, Correction, HitsRequest, HitsResponse,
    MAX_CANDIDATES, StatsRequest, StatsResponse, TermStats, WireSpread, check_generation,
};
use crate::snippet::Snippets;

/// Largest number of hits per page.
pub const MAX_LIMIT: usize = 100;

/// A validated search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    query: String,
    limit: usize,
    cursor: Option<RequestCursor>,
    mode: MatchMode,
    explain: bool,
    max_per_host: usize,
}

impl SearchRequest {
    /// Validates a request: `limit` in `1..=MAX_LIMIT`, a well-formed cursor.
    ///
    /// # Errors
    /// [`SearchError::BadLimit`], [`SearchError::BadCursor`].
    pub fn new(
        query: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<SearchRequest, SearchError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(SearchError::BadLimit {
                max: MAX_LIMIT,
                got: limit.to_string(),
            });
        }
        let cursor = cursor
            .filter(|text| !text.is_empty())
            .map(RequestCursor::decode)
            .transpose()?;
        Ok(SearchRequest {
            query: query.to_string(),
            limit,
            cursor,
            mode: MatchMode::All,
            explain: false,
            max_per_host: DEFAULT_MAX_PER_HOST,
        })
    }

    /// The same request with clauses combined as `mode` says (default: all required).
    pub fn with_mode(mut self, mode: MatchMode) -> SearchRequest {
        self.mode = mode;
        self
    }

    /// The same request with (or without) an [`Explanation`] on every hit (default:
    /// without; explaining costs a few extra lookups per hit).
    pub fn with_explain(mut self, explain: bool) -> SearchRequest {
        self.explain = explain;
        self
    }

    /// The same request showing at most `max` hits of one host per page when the matches
    /// span several hosts; 0 shows any number (default: [`DEFAULT_MAX_PER_HOST`]).
    pub fn with_max_per_host(mut self, max: usize) -> SearchRequest {
        self.max_per_host = max;
        self
    }
}

/// A cursor as received: one index's, or a sharded server's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestCursor {
    /// Issued by a server of one index.
    Local(Cursor),
    /// Issued by a coordinator of shards.
    Federated(FederatedCursor),
}

impl RequestCursor {
    fn decode(text: &str) -> Result<RequestCursor, SearchError> {
        match Cursor::decode(text) {
            Ok(cursor) => Ok(RequestCursor::Local(cursor)),
            Err(error) => match FederatedCursor::decode(text) {
                Some(cursor) => Ok(RequestCursor::Federated(cursor)),
                None => Err(error),
            },
        }
    }
}

impl SearchRequest {
    /// The query text.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Hits per page.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How clauses combine.
    pub fn mode(&self) -> MatchMode {
        self.mode
    }

    /// Whether hits carry explanations.
    pub fn explain(&self) -> bool {
        self.explain
    }

    /// Most hits per host on a page when several hosts match (0: any number).
    pub fn max_per_host(&self) -> usize {
        self.max_per_host
    }

    pub(crate) fn cursor(&self) -> Option<&RequestCursor> {
        self.cursor.as_ref()
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Hit {
    /// The page's URL.
    pub url: String,
    /// The page's title (its URL when it has none).
    pub title: String,
    /// HTML: the best matching passage, escaped, matches in `<mark>`.
    pub snippet: String,
    /// Relevance score (higher is better); comparable within one generation.
    pub score: f32,
    /// Host of the URL.
    pub host: String,
    /// When the page was fetched, RFC 3339 in UTC; absent for documents without a fetch
    /// time (judged collections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<String>,
    /// Set on the last hit of a host whose further hits were held back on this page (host
    /// crowding): the query that lists them, `site:host <query>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_from_host: Option<String>,
    /// The parts of the score, when the request asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SearchResponse {
    /// Time spent answering, in milliseconds.
    ///
    /// This field and `index_bytes_read` come first in the JSON: they are all a cache hit
    /// changes, so the result cache keeps the rest of the JSON written once.
    pub took_ms: f64,
    /// Bytes this search read from index files (0 when answered from the result cache).
    pub index_bytes_read: u64,
    /// The query as received.
    pub query: String,
    /// Number of matching documents. Hits held back by host crowding count too, so pages
    /// may show fewer.
    pub total: u64,
    /// `"eq"`: `total` is exact.
    pub total_relation: String,
    /// The hits of this page, best first.
    pub hits: Vec<Hit>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// The index generation that answered.
    pub generation: String,
    /// A spelling correction of the query (from the index's dictionary) that matches more
    /// pages; offered on the first page when the query matches fewer than
    /// [`DID_YOU_MEAN_BELOW`] pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    /// Set by a server of several shards when a shard did not answer: the hits are those
    /// of the shards that did, and `total` is a lower bound (`total_relation` `"gte"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// Queries matching fewer pages than this get a did-you-mean suggestion when a corrected
/// query matches more.
pub const DID_YOU_MEAN_BELOW: u64 = 3;

struct Loaded {
    generation: Generation,
    reader: IndexReader,
    /// The static-rank and host fast fields of the generation's segments, opened once.
    static_rank: StaticRank,
    hosts: HostLookup,
}

/// Answers searches from the current generation of an index directory.
pub struct SearchEngine {
    layout: IndexLayout,
    loaded: RwLock<Arc<Loaded>>,
    cache: ResultCache,
    bytes_read: BytesRead,
}

/// Index bytes read, by what read them.
#[derive(Debug, Default)]
struct BytesRead {
    searching: AtomicU64,
    opening: AtomicU64,
}

/// Counters of a [`SearchEngine`] since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// The result cache.
    pub cache: CacheStats,
    /// Index bytes read by searches (the sum of their `index_bytes_read`).
    pub index_bytes_read_searching: u64,
    /// Index bytes read opening generations (term dictionaries, field norms, fast fields).
    pub index_bytes_read_opening: u64,
}

impl std::fmt::Debug for SearchEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchEngine")
            .field("dir", &self.layout.dir())
            .field("generation", &self.generation())
            .finish()
    }
}

fn load(layout: &IndexLayout, id: Option<GenerationId>) -> Result<Loaded, SearchError> {
    let id = match id {
        Some(id) => id,
        None => layout
            .current()?
            .ok_or_else(|| quarry_indexer::IndexError::NoGeneration {
                dir: layout.dir().to_path_buf(),
            })?,
    };
    let directory =
        CountingDirectory::open(&layout.generation_dir(id)).map_err(tantivy::TantivyError::from)?;
    let generation = Generation::open_in(layout, id, directory)?;
    let reader = generation
        .index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
        .try_into()?;
    let searcher = reader.searcher();
    let static_rank = StaticRank::open(&searcher, &generation.fields)?;
    let hosts = HostLookup::new(&searcher, generation.fields.host)?;
    Ok(Loaded {
        generation,
        reader,
        static_rank,
        hosts,
    })
}

/// Decompressed doc-store blocks kept per segment (tantivy's default is 100): snippets
/// need the stored body of every hit shown, and decompressing the large bodies of
/// documentation pages again on every query was a tenth of a search's CPU.
const DOC_STORE_CACHE_BLOCKS: usize = 400;

impl SearchEngine {
    /// Opens the current generation of the index in `index_dir`.
    ///
    /// # Errors
    /// [`SearchError::Index`] (with `NoGeneration` if nothing was built yet).
    pub fn open(index_dir: &Path) -> Result<SearchEngine, SearchError> {
        let layout = IndexLayout::new(index_dir);
        let (loaded, read) = measure(|| load(&layout, None));
        let engine = SearchEngine {
            layout,
            loaded: RwLock::new(Arc::new(loaded?)),
            cache: ResultCache::new(DEFAULT_CACHE_ENTRIES),
            bytes_read: BytesRead::default(),
        };
        engine.bytes_read.opening.fetch_add(read, Ordering::Relaxed);
        Ok(engine)
    }

    /// The same engine keeping at most `entries` responses in its result cache (default
    /// 1,024; 0 turns the cache off).
    pub fn with_cache_entries(mut self, entries: usize) -> SearchEngine {
        self.cache = ResultCache::new(entries);
        self
    }

    /// Counters since the engine was opened.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            cache: self.cache.stats(),
            index_bytes_read_searching: self.bytes_read.searching.load(Ordering::Relaxed),
            index_bytes_read_opening: self.bytes_read.opening.load(Ordering::Relaxed),
        }
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The generation being served.
    pub fn generation(&self) -> GenerationId {
        self.current().generation.id
    }

    /// Number of documents in the served generation.
    pub fn documents(&self) -> u64 {
        self.current().reader.searcher().num_docs()
    }

    /// Completions of `prefix` from the served generation's dictionary (none when the
    /// generation has no dictionary). In memory: no index file is read.
    pub fn suggest(&self, prefix: &str, limit: usize) -> crate::suggest::SuggestResponse {
        let started = Instant::now();
        let loaded = self.current();
        let suggestions =
            crate::suggest::complete(loaded.generation.dictionary.as_deref(), prefix, limit);
        crate::suggest::SuggestResponse {
            query: prefix.to_string(),
            suggestions,
            took_ms: elapsed_ms(started),
            generation: loaded.generation.id.to_string(),
        }
    }

    /// Switches to the generation `CURRENT` names if it changed. Searches already running
    /// finish on the generation they started with.
    ///
    /// # Errors
    /// When the new generation cannot be opened; the old one keeps serving.
    pub fn reload_if_changed(&self) -> Result<bool, SearchError> {
        let Some(id) = self.layout.current()? else {
            return Ok(false);
        };
        if id == self.generation() {
            return Ok(false);
        }
        let (loaded, read) = measure(|| load(&self.layout, Some(id)));
        self.bytes_read.opening.fetch_add(read, Ordering::Relaxed);
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded?);
        self.cache.clear();
        info!(generation = %id, "switched to new index generation");
        Ok(true)
    }

    /// The served generation's cached response to `request`, if it answered it recently
    /// (`index_bytes_read` 0, `took_ms` the lookup's). Does not block beyond a short
    /// lock, so async code may call it before sending a search to the blocking pool.
    pub fn cached(&self, request: &SearchRequest) -> Option<CacheHit> {
        let started = Instant::now();
        let key = CacheKey::new(&self.generation().to_string(), request);
        let answer = self.cache.get(&key)?;
        Some(CacheHit::new(answer, elapsed_ms(started)))
    }

    /// Runs a search, or answers from the result cache when the served generation answered
    /// the same request recently (then `index_bytes_read` is 0 and `took_ms` is the
    /// lookup's). Blocking: call it from a blocking thread pool in async code.
    ///
    /// # Errors
    /// [`SearchError::Query`] for unusable queries, [`SearchError::StaleCursor`] for a
    /// cursor of another generation, index errors.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        match self.cached(request) {
            Some(hit) => Ok(hit.response()),
            None => self.search_fresh(request),
        }
    }

    /// Runs a search without looking in the result cache first (the caller just did, with
    /// [`SearchEngine::cached`]) and keeps the response there. Blocking.
    ///
    /// # Errors
    /// As [`SearchEngine::search`].
    pub fn search_fresh(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        // One search runs on this thread (no tantivy executor), so the thread's reads are
        // exactly this search's.
        let (mut response, read) = self.searching(|| self.search_uncached(request))?;
        response.index_bytes_read = read;
        // Keyed by the generation that answered: a reload may have happened meanwhile.
        let key = CacheKey::new(&response.generation, request);
        self.cache
            .insert_with(key, || Arc::new(CachedAnswer::new(response.clone())));
        Ok(response)
    }

    /// Runs `work` (one search, on this thread) and counts the index bytes it read, for
    /// [`EngineStats`] and for the caller's response; the bytes count even when it fails.
    fn searching<T>(
        &self,
        work: impl FnOnce() -> Result<T, SearchError>,
    ) -> Result<(T, u64), SearchError> {
        let (result, read) = measure(work);
        self.bytes_read.searching.fetch_add(read, Ordering::Relaxed);
        Ok((result?, read))
    }

    /// A shard's BM25 statistics for the terms of a query (`POST /shard/stats`; see
    /// [`shards`](crate::shards)). Blocking.
    ///
    /// # Errors
    /// [`SearchError::Query`] for unusable queries, index errors.
    pub fn shard_stats(&self, request: &StatsRequest) -> Result<StatsResponse, SearchError> {
        let (mut response, read) = self.searching(|| -> Result<StatsResponse, SearchError> {
            let loaded = self.current();
            let parsed = query::parse(&request.query)?;
            let mut analyzer = query_analyzer(&loaded.generation)?;
            let searcher = loaded.reader.searcher();
            let fields = loaded.generation.fields;
            let stats = match build_query(&parsed, &fields, &mut analyzer, request.mode.into()) {
                Some(query) => TermStats::of(&searcher, query.as_ref())?,
                None => TermStats {
                    documents: searcher.num_docs(),
                    ..TermStats::default()
                },
            };
            Ok(StatsResponse {
                generation: loaded.generation.id.0,
                stats,
                index_bytes_read: 0,
            })
        })?;
        response.index_bytes_read = read;
        Ok(response)
    }

    /// A shard's best candidates for a query scored with the statistics of all shards
    /// (`POST /shard/candidates`). Blocking.
    ///
    /// # Errors
    /// [`SearchError::StaleCursor`] when the shard serves another generation than the
    /// request names, [`SearchError::BadLimit`], query and index errors.
    pub fn shard_candidates(
        &self,
        request: &CandidatesRequest,
    ) -> Result<CandidatesResponse, SearchError> {
        if !(1..=MAX_CANDIDATES).contains(&request.limit) {
            return Err(SearchError::BadLimit {
                max: MAX_CANDIDATES,
                got: request.limit.to_string(),
            });
        }
        let (mut response, read) =
            self.searching(|| -> Result<CandidatesResponse, SearchError> {
                let loaded = self.current();
                check_generation(request.generation, loaded.generation.id.0)?;
                let parsed = query::parse(&request.query)?;
                let mut analyzer = query_analyzer(&loaded.generation)?;
                let searcher = loaded.reader.searcher();
                let fields = loaded.generation.fields;
                let mode = request.mode.into();
                let mut response = CandidatesResponse {
                    total: 0,
                    candidates: Vec::new(),
                    spread: WireSpread::None,
                    correction: None,
                    index_bytes_read: 0,
                };
                if let Some(tantivy_query) = build_query(&parsed, &fields, &mut analyzer, mode) {
                    let statistics = request.stats.provider(&searcher);
                    let collector = (
                        TopAfter::new(request.limit, request.after.map(SortKey::from))
                            .with_static_rank(loaded.static_rank.clone()),
                        Count,
                        HostSpread::new(request.spread.then(|| loaded.hosts.clone())),
                    );
                    let (keys, total, spread) = searcher.search_with_statistics_provider(
                        tantivy_query.as_ref(),
                        &collector,
                        &statistics,
                    )?;
                    response.total = total as u64;
                    response.spread = spread.into();
                    response.candidates = keys
                        .into_iter()
                        .map(|key| Candidate {
                            host: loaded.hosts.host(key.address),
                            key: key.into(),
                        })
                        .collect();
                }
                if request.correct && response.total < DID_YOU_MEAN_BELOW {
                    response.correction =
                        correction(&loaded, &searcher, &request.query, mode, &mut analyzer)?
                            .map(|(query, matches)| Correction { query, matches });
                }
                Ok(response)
            })?;
        response.index_bytes_read = read;
        Ok(response)
    }

    /// Renders the hits a coordinator picked from this shard (`POST /shard/hits`), in the
    /// order asked. Blocking.
    ///
    /// # Errors
    /// [`SearchError::StaleCursor`] for another generation, [`SearchError::BadCursor`]
    /// for a document the generation does not have, [`SearchError::BadLimit`] for more
    /// than [`MAX_LIMIT`] hits, query and index errors.
    pub fn shard_hits(&self, request: &HitsRequest) -> Result<HitsResponse, SearchError> {
        if request.hits.len() > MAX_LIMIT {
            return Err(SearchError::BadLimit {
                max: MAX_LIMIT,
                got: request.hits.len().to_string(),
            });
        }
        let (mut response, read) = self.searching(|| -> Result<HitsResponse, SearchError> {
            let loaded = self.current();
            check_generation(request.generation, loaded.generation.id.0)?;
            let searcher = loaded.reader.searcher();
            for hit in &request.hits {
                let exists = searcher
                    .segment_readers()
                    .get(hit.key.segment as usize)
                    .is_some_and(|segment| hit.key.doc < segment.max_doc());
                if !exists {
                    return Err(SearchError::BadCursor {
                        reason: "no such document",
                    });
                }
            }
            let parsed = query::parse(&request.query)?;
            let mut analyzer = query_analyzer(&loaded.generation)?;
            let fields = loaded.generation.fields;
            let Some(tantivy_query) =
                build_query(&parsed, &fields, &mut analyzer, request.mode.into())
            else {
                return Ok(HitsResponse {
                    hits: Vec::new(),
                    index_bytes_read: 0,
                });
            };
            let statistics = request.stats.provider(&searcher);
            let mut renderer = HitRenderer::new(
                &loaded,
                &searcher,
                tantivy_query.as_ref(),
                &parsed,
                &mut analyzer,
                request.explain,
                &statistics,
            );
            let hits = request
                .hits
                .iter()
                .map(|hit| renderer.render(hit.key.into(), hit.more_from_host.clone()))
                .collect::<Result<_, _>>()?;
            Ok(HitsResponse {
                hits,
                index_bytes_read: 0,
            })
        })?;
        response.index_bytes_read = read;
        Ok(response)
    }

    fn search_uncached(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let loaded = self.current();
        let generation = &loaded.generation;
        let parsed = query::parse(&request.query)?;
        let after = match &request.cursor {
            Some(RequestCursor::Local(cursor)) if cursor.generation != generation.id.0 => {
                return Err(SearchError::StaleCursor);
            }
            Some(RequestCursor::Local(cursor)) => Some(cursor.last),
            Some(RequestCursor::Federated(_)) => {
                return Err(SearchError::BadCursor {
                    reason: "issued by a server of several shards",
                });
            }
            None => None,
        };
        let mut analyzer = query_analyzer(generation)?;
        let fields = generation.fields;
        let mut response = SearchResponse {
            query: request.query.clone(),
            total: 0,
            total_relation: "eq".to_string(),
            took_ms: 0.0,
            hits: Vec::new(),
            next_cursor: None,
            generation: generation.id.to_string(),
            index_bytes_read: 0,
            did_you_mean: None,
            partial: false,
        };
        let searcher = loaded.reader.searcher();
        let Some(tantivy_query) = build_query(&parsed, &fields, &mut analyzer, request.mode) else {
            response.did_you_mean = did_you_mean(&loaded, &searcher, request, 0, &mut analyzer)?;
            response.took_ms = elapsed_ms(started);
            return Ok(response);
        };
        let static_rank = &loaded.static_rank;
        let crowding =
            (request.max_per_host > 0 && !parsed.restricts_site()).then_some(request.max_per_host);
        // A crowded page may hold hits back, so it looks further than `limit`; one more
        // candidate than it may examine tells whether a next page exists.
        let window = match crowding {
            Some(_) => request.limit * CANDIDATES_PER_HIT,
            None => request.limit,
        };
        let collector = (
            TopAfter::new(window + 1, after).with_static_rank(static_rank.clone()),
            Count,
            HostSpread::new(crowding.map(|_| loaded.hosts.clone())),
        );
        let (keys, total, spread) = searcher.search(tantivy_query.as_ref(), &collector)?;
        let hosts = &loaded.hosts;
        let candidate_hosts: Vec<String> = keys.iter().map(|key| hosts.host(key.address)).collect();
        let host_refs: Vec<&str> = candidate_hosts.iter().map(String::as_str).collect();
        let max_per_host = crowding.filter(|_| spread == Spread::Many);
        let page = crowding::select(&host_refs, request.limit, window, max_per_host);
        let mut renderer = HitRenderer::new(
            &loaded,
            &searcher,
            tantivy_query.as_ref(),
            &parsed,
            &mut analyzer,
            request.explain,
            &searcher,
        );
        for &index in &page.shown {
            let more_from_host = page
                .crowded
                .contains(&index)
                .then(|| format!("site:{} {}", candidate_hosts[index], request.query.trim()));
            response
                .hits
                .push(renderer.render(keys[index], more_from_host)?);
        }
        if page.more
            && let Some(last) = page.last_examined.and_then(|index| keys.get(index))
        {
            let cursor = Cursor {
                generation: generation.id.0,
                last: *last,
            };
            response.next_cursor = Some(cursor.encode());
        }
        response.total = total as u64;
        response.did_you_mean =
            did_you_mean(&loaded, &searcher, request, response.total, &mut analyzer)?;
        response.took_ms = elapsed_ms(started);
        Ok(response)
    }
}

/// The analyzer query text goes through (the one the text fields were indexed with).
fn query_analyzer(
    generation: &Generation,
) -> Result<tantivy::tokenizer::TextAnalyzer, SearchError> {
    generation
        .index
        .tokenizers()
        .get(ANALYZER_EN)
        .ok_or_else(|| {
            SearchError::Tantivy(tantivy::TantivyError::SchemaError(format!(
                "analyzer {ANALYZER_EN} is not registered"
            )))
        })
}

/// The corrected query to offer when `request` (a first page) matched only `total` pages
/// and the correction matches more.
fn did_you_mean(
    loaded: &Loaded,
    searcher: &tantivy::Searcher,
    request: &SearchRequest,
    total: u64,
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
) -> Result<Option<String>, SearchError> {
    if total >= DID_YOU_MEAN_BELOW || request.cursor.is_some() {
        return Ok(None);
    }
    let correction = correction(loaded, searcher, &request.query, request.mode, analyzer)?;
    Ok(correction
        .filter(|(_, matches)| *matches > total)
        .map(|(corrected, _)| corrected))
}

/// A spelling correction of `query` from the generation's dictionary, with the number of
/// pages it matches.
fn correction(
    loaded: &Loaded,
    searcher: &tantivy::Searcher,
    query: &str,
    mode: MatchMode,
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
) -> Result<Option<(String, u64)>, SearchError> {
    let Some(dictionary) = loaded.generation.dictionary.as_deref() else {
        return Ok(None);
    };
    let Some(corrected) = crate::suggest::corrected_query(dictionary, query) else {
        return Ok(None);
    };
    let Ok(parsed) = query::parse(&corrected) else {
        return Ok(None);
    };
    let fields = loaded.generation.fields;
    let Some(tantivy_query) = build_query(&parsed, &fields, analyzer, mode) else {
        return Ok(None);
    };
    let matches = searcher.search(tantivy_query.as_ref(), &Count)? as u64;
    Ok(Some((corrected, matches)))
}

/// Renders hits of one query: stored fields, snippet, explanation.
struct HitRenderer<'a> {
    loaded: &'a Loaded,
    searcher: &'a tantivy::Searcher,
    query: &'a dyn tantivy::query::Query,
    snippets: Snippets<'a>,
    parts: Vec<crate::rank::ScorePart>,
    explain: bool,
    statistics: &'a dyn Bm25StatisticsProvider,
}

impl<'a> HitRenderer<'a> {
    fn new(
        loaded: &'a Loaded,
        searcher: &'a tantivy::Searcher,
        query: &'a dyn tantivy::query::Query,
        parsed: &query::ParsedQuery,
        analyzer: &mut tantivy::tokenizer::TextAnalyzer,
        explain: bool,
        statistics: &'a dyn Bm25StatisticsProvider,
    ) -> HitRenderer<'a> {
        let fields = loaded.generation.fields;
        HitRenderer {
            loaded,
            searcher,
            query,
            snippets: Snippets::new(searcher, query, fields.body),
            parts: if explain {
                score_parts(parsed, &fields, analyzer)
            } else {
                Vec::new()
            },
            explain,
            statistics,
        }
    }

    fn render(&mut self, key: SortKey, more_from_host: Option<String>) -> Result<Hit, SearchError> {
        let fields = self.loaded.generation.fields;
        let document: StoredFields = self.searcher.doc(key.address)?;
        let text = |field| document.text(field).to_string();
        let url = text(fields.url);
        let title = match text(fields.title) {
            title if title.is_empty() => url.clone(),
            title => title,
        };
        let explanation = if self.explain {
            Some(explain(
                self.searcher,
                self.statistics,
                self.query,
                &self.parts,
                &self.loaded.static_rank,
                key.address,
                key.score,
            )?)
        } else {
            None
        };
        Ok(Hit {
            snippet: self
                .snippets
                .for_document(key.address, document.text(fields.body)),
            more_from_host,
            fetched_at: match document.first(fields.fetched_at) {
                Some(OwnedValue::Date(time)) => rfc3339(*time),
                _ => None,
            },
            explain: explanation,
            host: text(fields.host),
            score: key.score,
            title,
            url,
        })
    }
}

/// A hit's stored fields as the doc store holds them, first value first.
///
/// Read as a `TantivyDocument`, every value was copied twice, the body included (into an
/// `OwnedValue`, then into the document's arena): with bodies averaging 39 KB on the Rust
/// docs, that copy was about a tenth of an uncached search's CPU.
struct StoredFields(Vec<(Field, OwnedValue)>);

impl DocumentDeserialize for StoredFields {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<StoredFields, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some(entry) = deserializer.next_field::<OwnedValue>()? {
            values.push(entry);
        }
        Ok(StoredFields(values))
    }
}

impl StoredFields {
    /// The first value of `field`.
    fn first(&self, field: Field) -> Option<&OwnedValue> {
        self.0
            .iter()
            .find(|(stored, _)| *stored == field)
            .map(|(_, value)| value)
    }

    /// The first value of `field` if it is text, else "".
    fn text(&self, field: Field) -> &str {
        match self.first(field) {
            Some(OwnedValue::Str(text)) => text,
            _ => "",
        }
    }
}

/// A fetch time as RFC 3339 (`2024-05-01T12:00:00Z`); `None` if out of range.
fn rfc3339(time: tantivy::DateTime) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(time.into_timestamp_secs())
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}
