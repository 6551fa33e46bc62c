//! Ranking: how a parsed query becomes a scored tantivy query, and how the static rank of
//! a page scales its score.
//!
//! Every word or phrase is looked for in the title, the headings, the body and the anchor
//! text; BM25 scores of the fields add up, weighted by [`FIELD_WEIGHTS`]. Required clauses
//! are `Must`, excluded ones `MustNot`, alternatives of an `OR` are `Should`. `title:`
//! looks in the title alone; `site:`, `url:` and `lang:` filter without scoring. When the
//! query has several plain words, each consecutive pair found close together, in query
//! order, adds [`PROXIMITY_WEIGHT`] of its phrase score.
//!
//! The final score of a page is its text score × [`StaticRank::factor`], a gentle prior
//! from the link graph that is exactly 1 when the index has no link data (judged
//! collections), so relevance figures measure the text score alone.

use quarry_indexer::Fields;
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, SegmentOrdinal, Term};

use crate::query::{Atom, ParsedQuery};

/// Weight of each field's BM25 score; the scores add up.
///
/// Measured with `quarry eval` (bench/RESULTS.md): a title weight of 3 cost 0.1 nDCG@10 on
/// SciFact against 0.6 (0.578 vs 0.684), and 0.5–0.7 is best on Cranfield too. Summing
/// per-field BM25 already rewards a term found in both title and body, so the title only
/// adds a fraction on top. Headings are part of the body text as well, so they get a
/// similar fraction.
///
/// Anchor text (what other pages call this page) gets 0.4: strong evidence when present,
/// but it repeats words across many pages of a site (navigation links), so it must not
/// outweigh the page's own text. Judged collections have no links, so it does not move
/// `quarry eval` figures.
pub const FIELD_WEIGHTS: [(FieldRole, f32); 4] = [
    (FieldRole::Title, 0.6),
    (FieldRole::Headings, 0.5),
    (FieldRole::Body, 1.0),
    (FieldRole::Anchors, 0.4),
];

/// The searchable text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRole {
    /// Page title.
    Title,
    /// `h1`–`h3` headings.
    Headings,
    /// Visible body text.
    Body,
    /// Text of the links pointing at the page (indexed without positions).
    Anchors,
}

impl FieldRole {
    /// The role's name in `explain` output.
    pub fn name(self) -> &'static str {
        match self {
            FieldRole::Title => "title",
            FieldRole::Headings => "headings",
            FieldRole::Body => "body",
            FieldRole::Anchors => "anchors",
        }
    }

    fn field(self, fields: &Fields) -> Field {
        match self {
            FieldRole::Title => fields.title,
            FieldRole::Headings => fields.headings,
            FieldRole::Body => fields.body,
            FieldRole::Anchors => fields.anchors,
        }
    }
}

/// Weight of each pair of consecutive plain query words found close together, in order,
/// in the title or the body (a sequential-dependence boost). Measured with `quarry eval`
/// on SciFact: nDCG@10 0.6835 without, 0.6871 at 0.1 (slop 3), 0.6858 at 0.1 (slop 1),
/// 0.6841 at 0.05, 0.6831 at 0.15 and 0.6818 at 0.3: more weight lets pairs outvote rare
/// terms. A whole-query sloppy phrase instead changed nothing (long queries never match).
pub const PROXIMITY_WEIGHT: f32 = 0.1;
/// How far out of place the second word of a pair may be, in positions.
pub const PROXIMITY_SLOP: u32 = 3;

/// Analyzes `text` with the index's analyzer into the terms that were indexed.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    analyze_with_positions(analyzer, text)
        .into_iter()
        .map(|(_, term)| term)
        .collect()
}

/// Analyzes `text` into `(position, term)` pairs. Positions keep the gaps of removed stop
/// words, as in the index, so a phrase with a stop word (`"king of france"`) still
/// matches.
pub fn analyze_with_positions(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push((token.position, token.text.clone()));
    }
    if let Some(&(first, _)) = out.first() {
        for (position, _) in &mut out {
            *position -= first;
        }
    }
    out
}

fn term_query(field: Field, term: &str, option: IndexRecordOption) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, term), option))
}

/// The words in `field`: one term, or several in order (a phrase, or a word the analyzer
/// splits like `foo-bar`), or all of them in any order when `field` has no positions.
fn text_query(field: Field, terms: &[(usize, String)], positions: bool) -> Box<dyn Query> {
    match terms {
        [(_, only)] => term_query(field, only, IndexRecordOption::WithFreqs),
        _ if positions => Box::new(PhraseQuery::new_with_offset(
            terms
                .iter()
                .map(|(position, term)| (*position, Term::from_field_text(field, term)))
                .collect(),
        )),
        _ => Box::new(BooleanQuery::new(
            terms
                .iter()
                .map(|(_, term)| {
                    (
                        Occur::Must,
                        term_query(field, term, IndexRecordOption::WithFreqs),
                    )
                })
                .collect(),
        )),
    }
}

/// The scoring parts of one text atom: `(role, weighted query)` per field it is looked for
/// in. Empty when the atom has no searchable term (e.g. only stop words).
fn text_parts(
    atom: &Atom,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
) -> Vec<(FieldRole, Box<dyn Query>)> {
    let terms = analyze_with_positions(analyzer, atom.text());
    if terms.is_empty() {
        return Vec::new();
    }
    FIELD_WEIGHTS
        .iter()
        .filter(|(role, _)| !matches!(atom, Atom::Title(_)) || *role == FieldRole::Title)
        .map(|&(role, weight)| {
            let query = text_query(role.field(fields), &terms, role != FieldRole::Anchors);
            let boosted: Box<dyn Query> = Box::new(BoostQuery::new(query, weight));
            (role, boosted)
        })
        .collect()
}

/// The unscored query of a filter atom, or `None` if it has nothing to look up.
fn filter_query(
    atom: &Atom,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
) -> Option<Box<dyn Query>> {
    let query = match atom {
        Atom::Site(host) => term_query(fields.site, host, IndexRecordOption::Basic),
        Atom::Lang(code) => term_query(fields.lang, code, IndexRecordOption::Basic),
        Atom::Url(text) => {
            let terms = analyze(analyzer, text);
            match terms.as_slice() {
                [] => return None,
                [only] => term_query(fields.url_terms, only, IndexRecordOption::Basic),
                _ => Box::new(BooleanQuery::new(
                    terms
                        .iter()
                        .map(|term| {
                            (
                                Occur::Must,
                                term_query(fields.url_terms, term, IndexRecordOption::Basic),
                            )
                        })
                        .collect(),
                )),
            }
        }
        Atom::Word(_) | Atom::Phrase(_) | Atom::Title(_) => return None,
    };
    Some(Box::new(ConstScoreQuery::new(query, 0.0)))
}

/// The query of one atom, or `None` if it has no searchable term.
fn atom_query(atom: &Atom, fields: &Fields, analyzer: &mut TextAnalyzer) -> Option<Box<dyn Query>> {
    if atom.is_filter() {
        return filter_query(atom, fields, analyzer);
    }
    let parts = text_parts(atom, fields, analyzer);
    if parts.is_empty() {
        return None;
    }
    Some(Box::new(BooleanQuery::new(
        parts
            .into_iter()
            .map(|(_, query)| (Occur::Should, query))
            .collect(),
    )))
}

/// The proximity boost: each pair of consecutive plain words of the query, in order and
/// within [`PROXIMITY_SLOP`], in the title or the body. `None` for fewer than two words.
fn proximity_query(
    parsed: &ParsedQuery,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
) -> Option<Box<dyn Query>> {
    let mut terms: Vec<(usize, String)> = Vec::new();
    for clause in parsed.clauses.iter().filter(|clause| !clause.negated) {
        if let [Atom::Word(word)] = clause.alternatives.as_slice() {
            let next = terms.last().map_or(0, |(position, _)| position + 1);
            terms.extend(
                analyze_with_positions(analyzer, word)
                    .into_iter()
                    .map(|(position, term)| (next + position, term)),
            );
        }
    }
    if terms.len() < 2 {
        return None;
    }
    let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for field in [fields.title, fields.body] {
        for pair in terms.windows(2) {
            let [(first, a), (second, b)] = pair else {
                continue;
            };
            let phrase = PhraseQuery::new_with_offset_and_slop(
                vec![
                    (0, Term::from_field_text(field, a)),
                    (second - first, Term::from_field_text(field, b)),
                ],
                PROXIMITY_SLOP,
            );
            let boosted = BoostQuery::new(Box::new(phrase), PROXIMITY_WEIGHT);
            parts.push((Occur::Should, Box::new(boosted)));
        }
    }
    Some(Box::new(BooleanQuery::new(parts)))
}

/// How the clauses of a query combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatchMode {
    /// Every clause must match (web-search default).
    #[default]
    All,
    /// Any clause may match; more matching clauses score higher (BM25 disjunction, as
    /// IR evaluations such as BEIR run natural-language queries). Filters (`site:`,
    /// `url:`, `lang:`) and exclusions still apply.
    Any,
}

/// Builds the scored query. Returns `None` when no clause has a searchable term, so the
/// query matches nothing.
///
/// A query of nothing but filters (`site:example.org`) scores every page 1, so pages come
/// in static-rank order.
pub fn build_query(
    parsed: &ParsedQuery,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
    mode: MatchMode,
) -> Option<Box<dyn Query>> {
    let mut text: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut other: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut positive_filters = 0;
    for clause in &parsed.clauses {
        let mut alternatives: Vec<Box<dyn Query>> = clause
            .alternatives
            .iter()
            .filter_map(|atom| atom_query(atom, fields, analyzer))
            .collect();
        let query = match alternatives.len() {
            0 => continue,
            1 => alternatives.remove(0),
            _ => Box::new(BooleanQuery::new(
                alternatives
                    .into_iter()
                    .map(|q| (Occur::Should, q))
                    .collect(),
            )),
        };
        if clause.negated {
            other.push((Occur::MustNot, query));
        } else if clause.alternatives.iter().all(Atom::is_filter) {
            positive_filters += 1;
            other.push((Occur::Must, query));
        } else {
            text.push((Occur::Must, query));
        }
    }
    if text.is_empty() {
        if positive_filters == 0 {
            return None;
        }
        let filters: Box<dyn Query> = Box::new(BooleanQuery::new(other));
        return Some(Box::new(ConstScoreQuery::new(filters, 1.0)));
    }
    let proximity = proximity_query(parsed, fields, analyzer);
    match mode {
        MatchMode::All => {
            other.extend(text);
            other.extend(proximity.map(|query| (Occur::Should, query)));
        }
        MatchMode::Any => {
            // A `Should` next to a `Must` only scores, it would not have to match: the
            // words go into one required group of their own.
            let mut any: Vec<(Occur, Box<dyn Query>)> = text
                .into_iter()
                .map(|(_, query)| (Occur::Should, query))
                .collect();
            any.extend(proximity.map(|query| (Occur::Should, query)));
            other.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
    }
    Some(Box::new(BooleanQuery::new(other)))
}

/// The clauses of a boolean query.
type Clauses = Vec<(Occur, Box<dyn Query>)>;

/// One named part of a hit's text score, for `explain`.
#[derive(Debug)]
pub struct ScorePart {
    /// `title`, `headings`, `body`, `anchors` or `proximity`.
    pub name: &'static str,
    /// Matches what this part scores in the full query: the sum of it over the positive
    /// clauses, with the same weights.
    pub query: Box<dyn Query>,
}

/// The queries whose scores, summed, make the text score of [`build_query`]: one per
/// field and one for proximity. For explaining a hit, not for matching.
pub fn score_parts(
    parsed: &ParsedQuery,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
) -> Vec<ScorePart> {
    let mut by_role: Vec<(FieldRole, Clauses)> = FIELD_WEIGHTS
        .iter()
        .map(|&(role, _)| (role, Vec::new()))
        .collect();
    for clause in parsed.clauses.iter().filter(|clause| !clause.negated) {
        for atom in clause.alternatives.iter().filter(|atom| !atom.is_filter()) {
            for (role, query) in text_parts(atom, fields, analyzer) {
                if let Some((_, queries)) = by_role.iter_mut().find(|(r, _)| *r == role) {
                    queries.push((Occur::Should, query));
                }
            }
        }
    }
    let mut parts: Vec<ScorePart> = by_role
        .into_iter()
        .filter(|(_, queries)| !queries.is_empty())
        .map(|(role, queries)| ScorePart {
            name: role.name(),
            query: Box::new(BooleanQuery::new(queries)),
        })
        .collect();
    if let Some(query) = proximity_query(parsed, fields, analyzer) {
        parts.push(ScorePart {
            name: "proximity",
            query,
        });
    }
    parts
}

/// Weight of the page's own link-graph rank in [`StaticRank::factor`].
pub const PAGE_RANK_WEIGHT: f32 = 0.06;
/// Weight of its host's rank in [`StaticRank::factor`].
pub const HOST_RANK_WEIGHT: f32 = 0.04;
/// Ranks above this count as this much: a runaway rank must not drown relevance.
const MAX_RANK: f64 = 1e6;

/// `log2(1 + rank)`: 0 for an unlinked page, 1 for the average page (rank 1), +1 for each
/// doubling beyond.
fn log_rank(rank: f64) -> f32 {
    let rank = if rank.is_finite() {
        rank.clamp(0.0, MAX_RANK)
    } else {
        0.0
    };
    (1.0 + rank).log2() as f32
}

/// The static rank prior: the indexer's `page_rank` and `host_rank` fast fields of every
/// segment of one searcher, opened once (a generation's segments never change, so the
/// engine opens them when it loads a generation rather than for every query).
#[derive(Clone)]
pub struct StaticRank {
    segments: std::sync::Arc<[SegmentStaticRank]>,
}

/// [`StaticRank`] of one segment.
#[derive(Clone)]
pub struct SegmentStaticRank {
    page_rank: Column<f64>,
    host_rank: Column<f64>,
    /// [`StaticRank::factor`] of every document, computed once: collecting asks for it
    /// for every match, and reading two columns and taking two logarithms each time was
    /// a twentieth of an uncached search. Four bytes per document.
    factors: std::sync::Arc<[f32]>,
}

impl std::fmt::Debug for StaticRank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRank")
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl StaticRank {
    /// Opens the prior's fast fields in every segment of `searcher`.
    ///
    /// # Errors
    /// When a segment lacks the fast fields (an index of another schema).
    pub fn open(searcher: &tantivy::Searcher, fields: &Fields) -> tantivy::Result<StaticRank> {
        let segments = searcher
            .segment_readers()
            .iter()
            .map(|reader| {
                let schema = reader.schema();
                let fast = reader.fast_fields();
                let page_rank = fast.f64(schema.get_field_name(fields.page_rank))?;
                let host_rank = fast.f64(schema.get_field_name(fields.host_rank))?;
                let factors = (0..reader.max_doc())
                    .map(|doc| StaticRank::factor(page_rank.first(doc), host_rank.first(doc)))
                    .collect();
                Ok(SegmentStaticRank {
                    page_rank,
                    host_rank,
                    factors,
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(StaticRank {
            segments: segments.into(),
        })
    }

    /// The multiplier of a page's text score:
    /// `(1 + wp·log2(1 + page_rank) + wh·log2(1 + host_rank)) / (1 + wp + wh)` with
    /// [`PAGE_RANK_WEIGHT`] and [`HOST_RANK_WEIGHT`]. The average page (both ranks 1)
    /// gets exactly 1, an unlinked page about 0.9, a page a thousand times the average
    /// about 1.5; a page without ranks (not from a crawl) gets exactly 1.
    pub fn factor(page_rank: Option<f64>, host_rank: Option<f64>) -> f32 {
        if page_rank.is_none() && host_rank.is_none() {
            return 1.0;
        }
        let page = page_rank.map_or(1.0, log_rank);
        let host = host_rank.map_or(1.0, log_rank);
        (1.0 + PAGE_RANK_WEIGHT * page + HOST_RANK_WEIGHT * host)
            / (1.0 + PAGE_RANK_WEIGHT + HOST_RANK_WEIGHT)
    }

    /// The prior of the segment with ordinal `segment` of the searcher it was opened on.
    pub fn segment(&self, segment: SegmentOrdinal) -> Option<&SegmentStaticRank> {
        self.segments.get(segment as usize)
    }

    /// The stored ranks of the document at `address`: `(page_rank, host_rank)`.
    pub fn ranks(&self, address: tantivy::DocAddress) -> (Option<f64>, Option<f64>) {
        self.segment(address.segment_ord)
            .map_or((None, None), |segment| segment.ranks(address.doc_id))
    }
}

impl SegmentStaticRank {
    /// The page's ranks as stored: `(page_rank, host_rank)`.
    pub fn ranks(&self, doc: DocId) -> (Option<f64>, Option<f64>) {
        (self.page_rank.first(doc), self.host_rank.first(doc))
    }

    /// [`StaticRank::factor`] of `doc`.
    pub fn factor(&self, doc: DocId) -> f32 {
        match self.factors.get(doc as usize) {
            Some(&factor) => factor,
            None => {
                let (page, host) = self.ranks(doc);
                StaticRank::factor(page, host)
            }
        }
    }
}
