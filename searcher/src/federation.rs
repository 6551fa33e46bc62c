//! Sharded search, the coordinator's side: `quarry serve --shards URL,URL…` answers
//! `/search`, `/suggest` and the search page by fanning each query out to shard servers
//! (plain `quarry serve` of shard indexes built with `quarry index rebuild --shard i/N`).
//!
//! A search takes three round trips per shard (see [`shards`](crate::shards)): the
//! shards' term statistics are summed so every shard scores with the statistics of the
//! whole collection, the shards' candidates are merged in one global order (score, then
//! shard, then document address), host crowding is applied to the merged list, and the
//! shards that hold the hits shown render them. The result is the same page, with the same
//! scores, that one index holding every document gives (tested).
//!
//! A shard that does not answer is left out: the response says `partial: true` and its
//! `total` is a lower bound (`total_relation: "gte"`). Only when no shard answers is the
//! search refused (503 `overloaded`).
//!
//! Cursors name the generation of every shard; when any shard switched to a new
//! generation, the cursor is stale (as with one index) and the search starts over.

use std::cmp::Ordering;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;
use futures_util::future::join_all;
use quarry_indexer::GenerationId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tantivy::DocAddress;

use crate::crowding::{self, CANDIDATES_PER_HIT, Spread};
use crate::engine::{DID_YOU_MEAN_BELOW, Hit, RequestCursor, SearchRequest, SearchResponse};
use crate::error::SearchError;
use crate::paging::{SortKey, checksum, seal};
use crate::query;
use crate::shards::{
    CandidatesRequest, CandidatesResponse, HitRequest, HitsRequest, HitsResponse, StatsRequest,
    StatsResponse, TermStats, WireKey,
};
use crate::suggest::{SuggestResponse, Suggestion};

const CURSOR_VERSION: u8 = 2;
/// Most shards a coordinator fans out to.
pub const MAX_SHARD_SERVERS: usize = 256;

/// A coordinator's cursor: every shard's generation and the last hit shown.
#[derive(Debug, Clone, PartialEq)]
pub struct FederatedCursor {
    /// Generation of each shard when the page was made (0 for a shard that was down).
    pub generations: Vec<u64>,
    /// The shard of the last hit shown.
    pub shard: u16,
    /// Its sort key in that shard.
    pub last: SortKey,
}

impl FederatedCursor {
    /// The opaque string form.
    pub fn encode(&self) -> String {
        let mut bytes = vec![CURSOR_VERSION];
        bytes.extend_from_slice(&(self.generations.len() as u16).to_be_bytes());
        for generation in &self.generations {
            bytes.extend_from_slice(&generation.to_be_bytes());
        }
        bytes.extend_from_slice(&self.shard.to_be_bytes());
        self.last.write_to(&mut bytes);
        seal(bytes)
    }

    /// Parses the string form; `None` for anything else.
    pub fn decode(text: &str) -> Option<FederatedCursor> {
        if text.len() > 4 * (3 + 8 * MAX_SHARD_SERVERS + 16) / 3 + 4 {
            return None;
        }
        let bytes = BASE64URL_NOPAD.decode(text.as_bytes()).ok()?;
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(2)?)?;
        if checksum(body).to_be_bytes() != sum {
            return None;
        }
        let [CURSOR_VERSION, n0, n1, rest @ ..] = body else {
            return None;
        };
        let count = usize::from(u16::from_be_bytes([*n0, *n1]));
        if count == 0 || count > MAX_SHARD_SERVERS || rest.len() != count * 8 + 14 {
            return None;
        }
        let (generations, tail) = rest.split_at(count * 8);
        let generations = generations
            .chunks_exact(8)
            .map(|chunk| u64::from_be_bytes(chunk.try_into().unwrap_or_default()))
            .collect();
        let u32_at =
            |at: usize| u32::from_be_bytes(tail[at..at + 4].try_into().unwrap_or_default());
        let shard = u16::from_be_bytes([tail[0], tail[1]]);
        let score = f32::from_bits(u32_at(2));
        if !score.is_finite() || usize::from(shard) >= count {
            return None;
        }
        Some(FederatedCursor {
            generations,
            shard,
            last: SortKey {
                score,
                address: DocAddress::new(u32_at(6), u32_at(10)),
            },
        })
    }

    /// Where shard `shard` continues: the hits of the merged order after the cursor, which
    /// is by score, then shard, then address.
    fn after_for(&self, shard: usize) -> WireKey {
        let end = DocAddress::new(u32::MAX, u32::MAX);
        let key = match shard.cmp(&usize::from(self.shard)) {
            // Ties with the last hit shown come before it: only lower scores are left.
            Ordering::Less => SortKey {
                score: self.last.score,
                address: end,
            },
            Ordering::Equal => self.last,
            // Ties come after it: every hit with the same score or lower is left.
            Ordering::Greater => SortKey {
                score: self.last.score.next_up(),
                address: end,
            },
        };
        key.into()
    }
}

/// A shard server did not give a usable answer.
#[derive(Debug)]
enum ShardFailure {
    /// Unreachable, too slow, or a server error: left out of this search.
    Down(String),
    /// It refused the request (4xx): a generation switch between two round trips, most
    /// likely.
    Refused(String),
}

/// What the coordinator last heard from a shard's `/healthz`.
#[derive(Debug, Clone, Default)]
struct ShardHealth {
    generation: Option<String>,
    documents: u64,
}

#[derive(Debug, serde::Deserialize)]
struct HealthBody {
    generation: String,
    documents: u64,
}

/// The coordinator of a set of shard servers.
pub struct Federation {
    shards: Vec<String>,
    client: reqwest::Client,
    health: RwLock<Vec<ShardHealth>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("shards", &self.shards)
            .finish()
    }
}

/// What a coordinator knows of its shards (from their `/healthz`, polled every second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationStatus {
    /// The shards' generations, in shard order, `-` for a shard that is down.
    pub generation: String,
    /// Documents of the shards that answered.
    pub documents: u64,
    /// Shards that answered.
    pub up: usize,
    /// Shards configured.
    pub shards: usize,
}

impl Federation {
    /// A coordinator of the shard servers at `urls` (`http://host:port`, in shard order),
    /// giving each request to a shard at most `timeout`.
    ///
    /// # Errors
    /// A message for an empty list, more than [`MAX_SHARD_SERVERS`], or a URL that is not
    /// `http://` or `https://`.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Federation, String> {
        if urls.is_empty() || urls.len() > MAX_SHARD_SERVERS {
            return Err(format!(
                "expected 1 to {MAX_SHARD_SERVERS} shard URLs, got {}",
                urls.len()
            ));
        }
        let mut shards = Vec::with_capacity(urls.len());
        for url in urls {
            let parsed = url::Url::parse(url.trim())
                .map_err(|error| format!("invalid shard URL `{url}`: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "invalid shard URL `{url}`: expected http://HOST:PORT"
                ));
            }
            shards.push(parsed.as_str().trim_end_matches('/').to_string());
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .map_err(|error| format!("building the HTTP client: {error}"))?;
        Ok(Federation {
            health: RwLock::new(vec![ShardHealth::default(); shards.len()]),
            shards,
            client,
        })
    }

    /// The shard servers, in shard order.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// What the last poll of the shards found.
    pub fn status(&self) -> FederationStatus {
        let health = self.health.read().unwrap_or_else(PoisonError::into_inner);
        FederationStatus {
            generation: health
                .iter()
                .map(|shard| shard.generation.as_deref().unwrap_or("-"))
                .collect::<Vec<_>>()
                .join(","),
            documents: health.iter().map(|shard| shard.documents).sum(),
            up: health.iter().filter(|s| s.generation.is_some()).count(),
            shards: health.len(),
        }
    }

    /// Polls every shard's `/healthz` once.
    pub async fn refresh(&self) {
        let polls = (0..self.shards.len()).map(|shard| async move {
            let url = format!("{}/healthz", self.shards[shard]);
            let response = self.client.get(url).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body: HealthBody = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
            Some(ShardHealth {
                generation: Some(body.generation),
                documents: body.documents,
            })
        });
        let polled: Vec<ShardHealth> = join_all(polls)
            .await
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        *self.health.write().unwrap_or_else(PoisonError::into_inner) = polled;
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        shard: usize,
        path: &str,
        body: &Req,
    ) -> Result<Resp, ShardFailure> {
        let url = format!("{}{path}", self.shards[shard]);
        let body = serde_json::to_vec(body).map_err(|e| ShardFailure::Down(e.to_string()))?;
        let response = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|error| ShardFailure::Down(format!("{url}: {error}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ShardFailure::Down(format!("{url}: {error}")))?;
        if status.is_client_error() {
            return Err(ShardFailure::Refused(format!(
                "{url}: {status} {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        if !status.is_success() {
            return Err(ShardFailure::Down(format!("{url}: {status}")));
        }
        serde_json::from_slice(&bytes)
            .map_err(|error| ShardFailure::Down(format!("{url}: {error}")))
    }

    /// Answers a search from all shards that answer.
    ///
    /// # Errors
    /// [`SearchError::Query`] for unusable queries, [`SearchError::BadCursor`] and
    /// [`SearchError::StaleCursor`] for cursors of another shard set or generation,
    /// [`SearchError::ShardsUnavailable`] when no shard answers.
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        // A shard switching generation between two round trips refuses the second; the
        // search then starts over once, with fresh statistics.
        match self.search_once(request).await {
            Err(SearchError::ShardRefused) if request.cursor().is_none() => {
                match self.search_once(request).await {
                    Err(SearchError::ShardRefused) => Err(SearchError::ShardsUnavailable),
                    other => other,
                }
            }
            Err(SearchError::ShardRefused) => Err(SearchError::StaleCursor),
            other => other,
        }
    }

    async fn search_once(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let parsed = query::parse(request.query())?;
        let cursor = match request.cursor() {
            None => None,
            Some(RequestCursor::Federated(cursor))
                if cursor.generations.len() == self.shards.len() =>
            {
                Some(cursor)
            }
            Some(RequestCursor::Federated(_)) => {
                return Err(SearchError::BadCursor {
                    reason: "issued for another set of shards",
                });
            }
            Some(RequestCursor::Local(_)) => {
                return Err(SearchError::BadCursor {
                    reason: "issued by a server of one index, not of these shards",
                });
            }
        };
        let mode = request.mode().into();
        let mut bytes_read = 0u64;
        let mut partial = false;

        // 1. Statistics.
        let stats_request = StatsRequest {
            query: request.query().to_string(),
            mode,
        };
        let answers: Vec<Result<StatsResponse, ShardFailure>> = join_all(
            (0..self.shards.len()).map(|shard| self.post(shard, "/shard/stats", &stats_request)),
        )
        .await;
        let mut generations = vec![0u64; self.shards.len()];
        let mut live = Vec::new();
        let mut stats = TermStats::default();
        for (shard, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(answer) => {
                    if let Some(cursor) = cursor
                        && cursor.generations[shard] != answer.generation
                    {
                        return Err(SearchError::StaleCursor);
                    }
                    generations[shard] = answer.generation;
                    bytes_read += answer.index_bytes_read;
                    stats.add(&answer.stats);
                    live.push(shard);
                }
                Err(ShardFailure::Refused(message)) => {
                    // The same query is refused by every shard alike (it parsed here).
                    tracing::warn!(%message, "a shard refused a statistics request");
                    partial = true;
                }
                Err(ShardFailure::Down(message)) => {
                    tracing::warn!(%message, "a shard did not answer; searching the others");
                    partial = true;
                }
            }
        }
        if live.is_empty() {
            return Err(SearchError::ShardsUnavailable);
        }

        // 2. Candidates, merged in global order.
        let crowding = (request.max_per_host() > 0 && !parsed.restricts_site())
            .then_some(request.max_per_host());
        let limit = request.limit();
        let window = match crowding {
            Some(_) => limit * CANDIDATES_PER_HIT,
            None => limit,
        };
        let answers = join_all(live.iter().map(|&shard| {
            let candidates = CandidatesRequest {
                query: request.query().to_string(),
                mode,
                generation: generations[shard],
                stats: stats.clone(),
                limit: window + 1,
                after: cursor.map(|cursor| cursor.after_for(shard)),
                spread: crowding.is_some(),
                correct: cursor.is_none(),
            };
            async move {
                let answer: Result<CandidatesResponse, ShardFailure> =
                    self.post(shard, "/shard/candidates", &candidates).await;
                (shard, answer)
            }
        }))
        .await;
        let mut total = 0u64;
        let mut spread = Spread::None;
        let mut merged: Vec<(usize, WireKey, String)> = Vec::new();
        let mut corrections: Vec<(String, u64)> = Vec::new();
        let mut answered = Vec::new();
        for (shard, answer) in answers {
            match answer {
                Ok(answer) => {
                    total += answer.total;
                    bytes_read += answer.index_bytes_read;
                    spread = spread.merge(answer.spread.into());
                    if let Some(correction) = answer.correction {
                        match corrections.iter_mut().find(|(q, _)| *q == correction.query) {
                            Some((_, matches)) => *matches += correction.matches,
                            None => corrections.push((correction.query, correction.matches)),
                        }
                    }
                    merged.extend(
                        answer
                            .candidates
                            .into_iter()
                            .map(|candidate| (shard, candidate.key, candidate.host)),
                    );
                    answered.push(shard);
                }
                Err(ShardFailure::Refused(message)) => {
                    tracing::info!(%message, "a shard refused candidates");
                    return Err(SearchError::ShardRefused);
                }
                Err(ShardFailure::Down(message)) => {
                    tracing::warn!(%message, "a shard did not answer; searching the others");
                    partial = true;
                }
            }
        }
        if answered.is_empty() {
            return Err(SearchError::ShardsUnavailable);
        }
        merged.sort_by(|a, b| {
            b.1.score
                .total_cmp(&a.1.score)
                .then(a.0.cmp(&b.0))
                .then((a.1.segment, a.1.doc).cmp(&(b.1.segment, b.1.doc)))
        });
        merged.truncate(window + 1);
        let hosts: Vec<&str> = merged.iter().map(|(_, _, host)| host.as_str()).collect();
        let max_per_host = crowding.filter(|_| spread == Spread::Many);
        let page = crowding::select(&hosts, limit, window, max_per_host);

        // 3. The hits shown, rendered by their shards.
        let mut by_shard: Vec<(usize, Vec<usize>)> = Vec::new();
        for &index in &page.shown {
            let shard = merged[index].0;
            match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, indexes)) => indexes.push(index),
                None => by_shard.push((shard, vec![index])),
            }
        }
        let answers = join_all(by_shard.iter().map(|(shard, indexes)| {
            let hits = HitsRequest {
                query: request.query().to_string(),
                mode,
                generation: generations[*shard],
                stats: stats.clone(),
                explain: request.explain(),
                hits: indexes
                    .iter()
                    .map(|&index| HitRequest {
                        key: merged[index].1,
                        more_from_host: page.crowded.contains(&index).then(|| {
                            format!("site:{} {}", merged[index].2, request.query().trim())
                        }),
                    })
                    .collect(),
            };
            async move {
                let answer: Result<HitsResponse, ShardFailure> =
                    self.post(*shard, "/shard/hits", &hits).await;
                answer
            }
        }))
        .await;
        let mut rendered: Vec<Option<Hit>> = vec![None; merged.len()];
        for ((shard, indexes), answer) in by_shard.iter().zip(answers) {
            match answer {
                Ok(answer) if answer.hits.len() == indexes.len() => {
                    bytes_read += answer.index_bytes_read;
                    for (&index, hit) in indexes.iter().zip(answer.hits) {
                        rendered[index] = Some(hit);
                    }
                }
                Ok(_) => {
                    tracing::warn!(shard, "a shard rendered another number of hits than asked");
                    partial = true;
                }
                Err(ShardFailure::Refused(message)) => {
                    tracing::info!(%message, "a shard refused to render hits");
                    return Err(SearchError::ShardRefused);
                }
                Err(ShardFailure::Down(message)) => {
                    tracing::warn!(%message, "a shard did not render its hits");
                    partial = true;
                }
            }
        }
        let hits: Vec<Hit> = page
            .shown
            .iter()
            .filter_map(|&index| rendered[index].take())
            .collect();
        let next_cursor = page
            .last_examined
            .filter(|_| page.more)
            .and_then(|index| merged.get(index))
            .map(|(shard, key, _)| {
                FederatedCursor {
                    generations: generations.clone(),
                    shard: *shard as u16,
                    last: (*key).into(),
                }
                .encode()
            });
        let did_you_mean = (cursor.is_none() && total < DID_YOU_MEAN_BELOW)
            .then(|| {
                corrections
                    .into_iter()
                    .filter(|(_, matches)| *matches > total)
                    .max_by_key(|(_, matches)| *matches)
                    .map(|(query, _)| query)
            })
            .flatten();
        Ok(SearchResponse {
            query: request.query().to_string(),
            total,
            total_relation: if partial { "gte" } else { "eq" }.to_string(),
            took_ms: elapsed_ms(started),
            hits,
            next_cursor,
            generation: generation_names(&generations),
            index_bytes_read: bytes_read,
            did_you_mean,
            partial,
        })
    }

    /// Completions of `prefix` from every shard's dictionary: page titles first, then
    /// completed words, each once, in shard order.
    pub async fn suggest(&self, prefix: &str, limit: usize) -> SuggestResponse {
        let started = Instant::now();
        let answers = join_all((0..self.shards.len()).map(|shard| async move {
            let url = format!("{}/suggest", self.shards[shard]);
            let response = self
                .client
                .get(url)
                .query(&[("q", prefix), ("limit", &limit.to_string())])
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            serde_json::from_slice::<SuggestResponse>(&response.bytes().await.ok()?).ok()
        }))
        .await;
        let mut generations = Vec::new();
        let mut titles: Vec<Suggestion> = Vec::new();
        let mut words: Vec<Suggestion> = Vec::new();
        for answer in answers {
            let Some(answer) = answer else {
                generations.push("-".to_string());
                continue;
            };
            generations.push(answer.generation);
            for suggestion in answer.suggestions {
                let list = if suggestion.kind == "title" {
                    &mut titles
                } else {
                    &mut words
                };
                if !list.iter().any(|s| s.text == suggestion.text) {
                    list.push(suggestion);
                }
            }
        }
        // Interleave nothing: a shard's best titles are as good as another's, and the
        // shards' lists are each ordered best first, so taking them in turn keeps that.
        let mut suggestions: Vec<Suggestion> = Vec::new();
        for suggestion in titles.into_iter().chain(words) {
            if suggestions.len() == limit {
                break;
            }
            if !suggestions.iter().any(|s| s.text == suggestion.text) {
                suggestions.push(suggestion);
            }
        }
        SuggestResponse {
            query: prefix.to_string(),
            suggestions,
            took_ms: elapsed_ms(started),
            generation: generations.join(","),
        }
    }
}

/// The shards' generations as one name: `gen-000004,gen-000002` (`-` for a shard down).
fn generation_names(generations: &[u64]) -> String {
    generations
        .iter()
        .map(|&id| match id {
            0 => "-".to_string(),
            id => GenerationId(id).to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_damage_is_refused() {
        let cursor = FederatedCursor {
            generations: vec![3, 0, 7],
            shard: 2,
            last: SortKey {
                score: 1.25,
                address: DocAddress::new(1, 99),
            },
        };
        let text = cursor.encode();
        assert_eq!(FederatedCursor::decode(&text), Some(cursor));
        assert_eq!(FederatedCursor::decode(""), None);
        assert_eq!(FederatedCursor::decode(&text[1..]), None);
        let mut damaged = text.clone().into_bytes();
        damaged[5] = if damaged[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            FederatedCursor::decode(&String::from_utf8(damaged).unwrap()),
            None
        );
        // A one-index cursor is not a federated one.
        let local = crate::paging::Cursor {
            generation: 3,
            last: cursor_key(),
        };
        assert_eq!(FederatedCursor::decode(&local.encode()), None);
    }

    fn cursor_key() -> SortKey {
        SortKey {
            score: 2.0,
            address: DocAddress::new(0, 5),
        }
    }

    #[test]
    fn each_shard_continues_where_the_merged_order_left_off() {
        let cursor = FederatedCursor {
            generations: vec![1, 1, 1],
            shard: 1,
            last: cursor_key(),
        };
        // Shard 0 ranks before shard 1 at equal scores: its ties were already shown.
        let before = cursor.after_for(0);
        assert_eq!(
            (before.score, before.segment, before.doc),
            (2.0, u32::MAX, u32::MAX)
        );
        assert_eq!(cursor.after_for(1), WireKey::from(cursor_key()));
        // Shard 2 ranks after: its ties with the last hit are still to come.
        let after = cursor.after_for(2);
        assert!(after.score > 2.0 && after.score == 2.0f32.next_up());
    }

    #[test]
    fn shard_urls_are_checked() {
        let timeout = Duration::from_secs(1);
        assert!(Federation::new(&[], timeout).is_err());
        assert!(Federation::new(&["ftp://x".to_string()], timeout).is_err());
        assert!(Federation::new(&["not a url".to_string()], timeout).is_err());
        let ok = Federation::new(
            &[
                "http://127.0.0.1:1/".to_string(),
                "http://127.0.0.1:2".to_string(),
            ],
            timeout,
        )
        .unwrap();
        assert_eq!(ok.shards(), ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    }
}
