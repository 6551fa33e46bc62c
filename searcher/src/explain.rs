//! `explain`: the parts a hit's score is made of.

use std::collections::BTreeMap;

use tantivy::query::{Bm25StatisticsProvider, EnableScoring, Query};
use tantivy::{DocAddress, DocSet, Searcher, TERMINATED};

use crate::rank::{ScorePart, StaticRank};

/// How one hit's score came about: `score = text_score × static_factor`, and `text_score`
/// is the sum of `text` (up to float rounding).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// Weighted BM25 of each field that matched (`title`, `headings`, `body`, `anchors`)
    /// and the `proximity` boost, when they scored.
    pub text: BTreeMap<String, f32>,
    /// The text score of the whole query.
    pub text_score: f32,
    /// The page's link-graph rank (average 1), when the index has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_rank: Option<f64>,
    /// Its host's rank (average 1), when the index has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rank: Option<f64>,
    /// The multiplier from the static ranks (see [`StaticRank::factor`]).
    pub static_factor: f32,
    /// The final score, as in the hit.
    pub score: f32,
}

/// Explains the hit at `address` whose final score is `score`, scored with `statistics`
/// (the searcher's own, or those of all shards).
///
/// # Errors
/// When the static-rank fast fields cannot be read.
pub fn explain(
    searcher: &Searcher,
    statistics: &dyn Bm25StatisticsProvider,
    query: &dyn Query,
    parts: &[ScorePart],
    static_rank: &StaticRank,
    address: DocAddress,
    score: f32,
) -> tantivy::Result<Explanation> {
    let (page_rank, host_rank) = static_rank.ranks(address);
    let static_factor = StaticRank::factor(page_rank, host_rank);
    let mut text = BTreeMap::new();
    for part in parts {
        if let Some(value) = score_of(searcher, statistics, part.query.as_ref(), address)?
            && value != 0.0
        {
            text.insert(part.name.to_string(), value);
        }
    }
    let text_score =
        score_of(searcher, statistics, query, address)?.unwrap_or(score / static_factor);
    Ok(Explanation {
        text,
        text_score,
        page_rank,
        host_rank,
        static_factor,
        score,
    })
}

/// The score `query` gives the document at `address`, `None` if it does not match.
///
/// Not `Query::explain`: that seeks a fresh scorer, which tantivy forbids (a debug
/// assertion) when the scorer's first document lies past the target.
fn score_of(
    searcher: &Searcher,
    statistics: &dyn Bm25StatisticsProvider,
    query: &dyn Query,
    address: DocAddress,
) -> tantivy::Result<Option<f32>> {
    let weight = query.weight(EnableScoring::enabled_from_statistics_provider(
        statistics, searcher,
    ))?;
    let mut scorer = weight.scorer(searcher.segment_reader(address.segment_ord), 1.0)?;
    let doc = scorer.doc();
    if doc == TERMINATED || doc > address.doc_id {
        return Ok(None);
    }
    Ok((scorer.seek(address.doc_id) == address.doc_id).then(|| scorer.score()))
}
