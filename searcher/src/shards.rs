//! Sharded search, the shard's side: what a coordinator (`quarry serve --shards …`, see
//! [`federation`](crate::federation)) asks each shard server, and the wire types.
//!
//! A search over `N` shards takes three requests per shard:
//! 1. `POST /shard/stats`: the shard's BM25 statistics for the query's terms (documents,
//!    tokens per field, document frequency per term). The coordinator sums them, so every
//!    shard scores with the statistics of the whole collection and scores are comparable
//!    across shards: a sharded index ranks exactly like one combined index.
//! 2. `POST /shard/candidates`: the shard's best candidates after a sort key, scored with
//!    the summed statistics (score, document address, host), its match count and host
//!    spread. The coordinator merges them in global order (score, then shard, then
//!    address) and applies host crowding.
//! 3. `POST /shard/hits`: the hits the coordinator picked, rendered (title, snippet,
//!    explanation) by the shard that holds them.

use std::collections::BTreeMap;

use tantivy::query::{Bm25StatisticsProvider, Query};
use tantivy::schema::Field;
use tantivy::{DocAddress, Searcher, Term};

use crate::crowding::Spread;
use crate::engine::Hit;
use crate::error::SearchError;
use crate::paging::SortKey;
use crate::rank::MatchMode;

/// BM25 statistics of one shard (or, summed, of all) for the terms of one query.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct TermStats {
    /// Documents in the index.
    pub documents: u64,
    /// Tokens in each text field the query scores, by field number.
    pub fields: Vec<FieldTokens>,
    /// Documents holding each query term.
    pub terms: Vec<TermFrequency>,
}

/// Tokens in one field across all documents.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldTokens {
    /// Field number in the schema.
    pub field: u32,
    /// Total tokens.
    pub tokens: u64,
}

/// Documents holding one term of a text field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TermFrequency {
    /// Field number in the schema.
    pub field: u32,
    /// The term, as indexed (analyzed).
    pub text: String,
    /// Document frequency.
    pub documents: u64,
}

impl TermStats {
    /// The statistics `searcher` has for the terms `query` scores.
    ///
    /// # Errors
    /// When a term dictionary cannot be read.
    pub fn of(searcher: &Searcher, query: &dyn Query) -> tantivy::Result<TermStats> {
        let mut terms: Vec<Term> = Vec::new();
        query.query_terms(&mut |term, _| {
            if !terms.contains(term) {
                terms.push(term.clone());
            }
        });
        let mut fields: Vec<Field> = terms.iter().map(Term::field).collect();
        fields.sort_unstable_by_key(|field| field.field_id());
        fields.dedup();
        Ok(TermStats {
            documents: searcher.total_num_docs()?,
            fields: fields
                .into_iter()
                .map(|field| {
                    Ok(FieldTokens {
                        field: field.field_id(),
                        tokens: searcher.total_num_tokens(field)?,
                    })
                })
                .collect::<tantivy::Result<_>>()?,
            terms: terms
                .iter()
                .filter_map(|term| {
                    let text = term.value().as_str()?.to_string();
                    Some(searcher.doc_freq(term).map(|documents| TermFrequency {
                        field: term.field().field_id(),
                        text,
                        documents,
                    }))
                })
                .collect::<tantivy::Result<_>>()?,
        })
    }

    /// The statistics of `self` and `other` together (two disjoint document sets).
    pub fn add(&mut self, other: &TermStats) {
        self.documents += other.documents;
        let mut fields: BTreeMap<u32, u64> =
            self.fields.iter().map(|f| (f.field, f.tokens)).collect();
        for field in &other.fields {
            *fields.entry(field.field).or_default() += field.tokens;
        }
        self.fields = fields
            .into_iter()
            .map(|(field, tokens)| FieldTokens { field, tokens })
            .collect();
        let mut terms: BTreeMap<(u32, String), u64> = self
            .terms
            .iter()
            .map(|t| ((t.field, t.text.clone()), t.documents))
            .collect();
        for term in &other.terms {
            *terms.entry((term.field, term.text.clone())).or_default() += term.documents;
        }
        self.terms = terms
            .into_iter()
            .map(|((field, text), documents)| TermFrequency {
                field,
                text,
                documents,
            })
            .collect();
    }

    /// A statistics provider answering from `self`, and from `local` for what `self` does
    /// not list (filter terms, which do not score).
    pub fn provider<'a>(&'a self, local: &'a Searcher) -> GlobalStatistics<'a> {
        GlobalStatistics {
            fields: self.fields.iter().map(|f| (f.field, f.tokens)).collect(),
            terms: self
                .terms
                .iter()
                .map(|t| ((t.field, t.text.clone()), t.documents))
                .collect(),
            documents: self.documents,
            local,
        }
    }
}

/// [`TermStats`] as tantivy's BM25 statistics.
pub struct GlobalStatistics<'a> {
    fields: BTreeMap<u32, u64>,
    terms: BTreeMap<(u32, String), u64>,
    documents: u64,
    local: &'a Searcher,
}

impl Bm25StatisticsProvider for GlobalStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.fields.get(&field.field_id()) {
            Some(&tokens) => Ok(tokens),
            None => self.local.total_num_tokens(field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.documents)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let known = term.value().as_str().and_then(|text| {
            self.terms
                .get(&(term.field().field_id(), text.to_string()))
                .copied()
        });
        match known {
            Some(documents) => Ok(documents),
            None => self.local.doc_freq(term),
        }
    }
}

/// How a shard request names the match mode.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WireMode {
    /// Every word must match.
    #[default]
    All,
    /// Any word may match.
    Any,
}

impl From<WireMode> for MatchMode {
    fn from(mode: WireMode) -> MatchMode {
        match mode {
            WireMode::All => MatchMode::All,
            WireMode::Any => MatchMode::Any,
        }
    }
}

impl From<MatchMode> for WireMode {
    fn from(mode: MatchMode) -> WireMode {
        match mode {
            MatchMode::All => WireMode::All,
            MatchMode::Any => WireMode::Any,
        }
    }
}

/// `POST /shard/stats`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StatsRequest {
    /// The query.
    pub query: String,
    /// How its words combine.
    #[serde(default)]
    pub mode: WireMode,
}

/// The answer to `POST /shard/stats`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StatsResponse {
    /// The shard's generation number (later requests must name it).
    pub generation: u64,
    /// Its statistics for the query.
    pub stats: TermStats,
    /// Index bytes this request read.
    #[serde(default)]
    pub index_bytes_read: u64,
}

/// A document of one shard's generation with its final score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WireKey {
    /// Final score.
    pub score: f32,
    /// Segment ordinal.
    pub segment: u32,
    /// Document within the segment.
    pub doc: u32,
}

impl From<SortKey> for WireKey {
    fn from(key: SortKey) -> WireKey {
        WireKey {
            score: key.score,
            segment: key.address.segment_ord,
            doc: key.address.doc_id,
        }
    }
}

impl From<WireKey> for SortKey {
    fn from(key: WireKey) -> SortKey {
        SortKey {
            score: key.score,
            address: DocAddress::new(key.segment, key.doc),
        }
    }
}

/// `POST /shard/candidates`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CandidatesRequest {
    /// The query.
    pub query: String,
    /// How its words combine.
    #[serde(default)]
    pub mode: WireMode,
    /// The generation the statistics were read from; another one answers `bad_request`
    /// (stale cursor).
    pub generation: u64,
    /// The summed statistics of all shards.
    pub stats: TermStats,
    /// Candidates wanted, at most 1,000.
    pub limit: usize,
    /// Only candidates ranked strictly after this key.
    #[serde(default)]
    pub after: Option<WireKey>,
    /// Whether to report the host spread of the matches (for host crowding).
    #[serde(default)]
    pub spread: bool,
    /// Whether to propose a spelling correction when the shard matches few pages.
    #[serde(default)]
    pub correct: bool,
}

/// Most candidates one `/shard/candidates` request returns.
pub const MAX_CANDIDATES: usize = 1000;

/// One candidate of a shard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Its sort key in the shard.
    pub key: WireKey,
    /// Its host.
    pub host: String,
}

/// How many hosts the matches of a shard span.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WireSpread {
    /// No match has a host.
    None,
    /// All matches have this host.
    One(String),
    /// Several hosts.
    Many,
}

impl From<Spread> for WireSpread {
    fn from(spread: Spread) -> WireSpread {
        match spread {
            Spread::None => WireSpread::None,
            Spread::One(host) => WireSpread::One(host),
            Spread::Many => WireSpread::Many,
        }
    }
}

impl From<WireSpread> for Spread {
    fn from(spread: WireSpread) -> Spread {
        match spread {
            WireSpread::None => Spread::None,
            WireSpread::One(host) => Spread::One(host),
            WireSpread::Many => Spread::Many,
        }
    }
}

/// The answer to `POST /shard/candidates`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CandidatesResponse {
    /// Matching documents in the shard (exact).
    pub total: u64,
    /// The best candidates after the key, best first.
    pub candidates: Vec<Candidate>,
    /// Host spread of all matches (`none` unless asked for).
    pub spread: WireSpread,
    /// A corrected query from the shard's dictionary and how many pages of the shard it
    /// matches, when asked for and the query matches fewer than
    /// [`DID_YOU_MEAN_BELOW`](crate::DID_YOU_MEAN_BELOW) pages of the shard.
    #[serde(default)]
    pub correction: Option<Correction>,
    /// Index bytes this request read.
    #[serde(default)]
    pub index_bytes_read: u64,
}

/// A spelling correction with its matches in one shard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Correction {
    /// The corrected query.
    pub query: String,
    /// Pages of the shard it matches.
    pub matches: u64,
}

/// `POST /shard/hits`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HitsRequest {
    /// The query.
    pub query: String,
    /// How its words combine.
    #[serde(default)]
    pub mode: WireMode,
    /// The generation the keys belong to.
    pub generation: u64,
    /// The summed statistics (for explanations).
    pub stats: TermStats,
    /// Whether each hit carries its score parts.
    #[serde(default)]
    pub explain: bool,
    /// The documents to render, at most [`MAX_LIMIT`](crate::MAX_LIMIT).
    pub hits: Vec<HitRequest>,
}

/// One hit to render.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HitRequest {
    /// The document and its score.
    pub key: WireKey,
    /// The `more_from_host` query to set on it, if any.
    #[serde(default)]
    pub more_from_host: Option<String>,
}

/// The answer to `POST /shard/hits`: the hits in the order asked.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HitsResponse {
    /// Rendered hits.
    pub hits: Vec<Hit>,
    /// Index bytes this request read.
    #[serde(default)]
    pub index_bytes_read: u64,
}

/// Checks that a shard request names the generation being served.
pub(crate) fn check_generation(asked: u64, served: u64) -> Result<(), SearchError> {
    if asked == served {
        Ok(())
    } else {
        Err(SearchError::StaleCursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(documents: u64, tokens: &[(u32, u64)], terms: &[(&str, u64)]) -> TermStats {
        // Every term in field 1, in `terms`' order (sorted, as `add` leaves them).
        TermStats {
            documents,
            fields: tokens
                .iter()
                .map(|&(field, tokens)| FieldTokens { field, tokens })
                .collect(),
            terms: terms
                .iter()
                .map(|&(text, documents)| TermFrequency {
                    field: 1,
                    text: text.to_string(),
                    documents,
                })
                .collect(),
        }
    }

    #[test]
    fn statistics_add_up_field_by_field_and_term_by_term() {
        let mut sum = stats(10, &[(1, 100), (2, 5)], &[("a", 3), ("b", 1)]);
        sum.add(&stats(7, &[(2, 6), (3, 9)], &[("b", 2), ("c", 4)]));
        assert_eq!(
            sum,
            stats(
                17,
                &[(1, 100), (2, 11), (3, 9)],
                &[("a", 3), ("b", 3), ("c", 4)]
            )
        );
    }
}
