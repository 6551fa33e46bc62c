//! Ranking: how a parsed query becomes a scored tantivy query.
//!
//! Every word or phrase is looked for in the title, the headings and the body; BM25
//! scores of the fields add up, weighted by [`FIELD_WEIGHTS`]. Required clauses are
//! `Must`, excluded ones `MustNot`, alternatives of an `OR` are `Should`.

use quarry_indexer::Fields;
use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

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
    fn field(self, fields: &Fields) -> Field {
        match self {
            FieldRole::Title => fields.title,
            FieldRole::Headings => fields.headings,
            FieldRole::Body => fields.body,
            FieldRole::Anchors => fields.anchors,
        }
    }
}

/// Analyzes `text` with the index's analyzer into the terms that were indexed.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The query for one atom across all fields, or `None` if it has no searchable term
/// (e.g. only stop words).
fn atom_query(atom: &Atom, fields: &Fields, analyzer: &mut TextAnalyzer) -> Option<Box<dyn Query>> {
    let terms = analyze(analyzer, atom.text());
    if terms.is_empty() {
        return None;
    }
    let per_field = FIELD_WEIGHTS
        .iter()
        .map(|&(role, weight)| {
            let field = role.field(fields);
            let term_query = |term: &String| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                ))
            };
            let query: Box<dyn Query> = if terms.len() == 1 {
                term_query(&terms[0])
            } else if role == FieldRole::Anchors {
                // No positions in the anchors field: all the words, in any order.
                Box::new(BooleanQuery::new(
                    terms.iter().map(|t| (Occur::Must, term_query(t))).collect(),
                ))
            } else {
                // Several terms (a phrase, or a word the analyzer splits like `foo-bar`)
                // must appear in order.
                Box::new(PhraseQuery::new(
                    terms
                        .iter()
                        .map(|term| Term::from_field_text(field, term))
                        .collect(),
                ))
            };
            let boosted: Box<dyn Query> = Box::new(BoostQuery::new(query, weight));
            (Occur::Should, boosted)
        })
        .collect();
    Some(Box::new(BooleanQuery::new(per_field)))
}

/// How the clauses of a query combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatchMode {
    /// Every clause must match (web-search default).
    #[default]
    All,
    /// Any clause may match; more matching clauses score higher (BM25 disjunction, as
    /// IR evaluations such as BEIR run natural-language queries).
    Any,
}

/// Builds the scored query. Returns `None` when no clause has a searchable term, so the
/// query matches nothing.
pub fn build_query(
    parsed: &ParsedQuery,
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
    mode: MatchMode,
) -> Option<Box<dyn Query>> {
    let required = match mode {
        MatchMode::All => Occur::Must,
        MatchMode::Any => Occur::Should,
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut positive = 0;
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
            clauses.push((Occur::MustNot, query));
        } else {
            positive += 1;
            clauses.push((required, query));
        }
    }
    (positive > 0).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}
