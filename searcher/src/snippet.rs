//! Snippets: the passage of the body that best matches the query, with matches wrapped in
//! `<mark>` and everything else HTML-escaped.
//!
//! Cutting a snippet with tantivy's [`SnippetGenerator`] runs the field's analyzer
//! (tokenizer, lower-casing, folding, stemming) over all the text it is given, which costs
//! milliseconds on the large pages documentation sites have (a 486 KB page took 40–60 ms).
//! So on a body longer than [`DIRECT_BYTES`] the passage is first located without
//! analysis. The postings tell which query terms the body holds: none (only the title or
//! anchors matched) gives the page's leading passage. Otherwise the indexed terms of the
//! query (stems, which prefix the words they came from) are looked for
//! case-insensitively at word starts with one Aho-Corasick pass, which stops at the first
//! window of [`SNIPPET_CHARS`] holding every term the body has (else the window with the
//! most weight of distinct terms wins), and only that neighbourhood is analyzed to place
//! the marks. When that finds nothing (a match only analysis finds, such as an accented
//! word folded to the query's), the first [`SNIPPET_SOURCE_BYTES`] are analyzed.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use tantivy::query::Query;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, DocSet, Score, Searcher, TantivyDocument, Term};

/// Target snippet length in characters.
pub const SNIPPET_CHARS: usize = 220;

/// Bodies up to this many bytes are analyzed whole; longer ones are searched for the best
/// passage first.
pub const DIRECT_BYTES: usize = 1_024;

/// When only analysis can find a body's match, only this much of the start of the body
/// is analyzed, in bytes; a match further in gets the leading passage instead.
pub const SNIPPET_SOURCE_BYTES: usize = 200_000;

/// At most this many term occurrences of one body are weighed when locating its passage.
const MAX_OCCURRENCES: usize = 20_000;

/// Escapes text for inclusion in HTML element content or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Cuts snippets for the hits of one query.
pub struct Snippets<'a> {
    searcher: &'a Searcher,
    generator: Option<SnippetGenerator>,
    locator: Option<Locator>,
    terms: Vec<Term>,
    body: Field,
}

impl<'a> Snippets<'a> {
    /// Prepares snippets for `query` over the `body` field: the query's terms in that field
    /// that occur in the index, weighted as tantivy weighs them (`1 / (1 + doc_freq)`).
    pub fn new(searcher: &'a Searcher, query: &dyn Query, body: Field) -> Snippets<'a> {
        let mut wanted = Vec::new();
        query.query_terms(&mut |term, _| {
            if term.field() == body && !wanted.contains(term) {
                wanted.push(term.clone());
            }
        });
        let mut weights: BTreeMap<String, Score> = BTreeMap::new();
        let mut terms = Vec::new();
        for term in wanted {
            let Some(text) = term.value().as_str().map(str::to_string) else {
                continue;
            };
            match searcher.doc_freq(&term) {
                Ok(doc_freq) if doc_freq > 0 => {
                    weights.insert(text, 1.0 / (1.0 + doc_freq as Score));
                    terms.push(term);
                }
                _ => {}
            }
        }
        // In the order of `weights`, which is the locator's order of terms.
        terms.sort_by(|a: &Term, b: &Term| a.value().as_str().cmp(&b.value().as_str()));
        let generator = searcher
            .index()
            .tokenizer_for_field(body)
            .ok()
            .map(|tokenizer| {
                SnippetGenerator::new(weights.clone(), tokenizer, body, SNIPPET_CHARS)
            });
        Snippets {
            searcher,
            generator,
            locator: Locator::new(&weights),
            terms,
            body,
        }
    }

    /// The highlighted snippet for the document at `address`; when its body has no match
    /// (e.g. only the title matched) the start of the body, escaped.
    pub fn for_document(&self, address: DocAddress, document: &TantivyDocument) -> String {
        let body = document
            .get_first(self.body)
            .and_then(|value| tantivy::schema::Value::as_str(&value))
            .unwrap_or("");
        let Some(generator) = &self.generator else {
            return leading_passage(body);
        };
        if body.len() <= DIRECT_BYTES {
            return highlighted(generator, body).unwrap_or_else(|| leading_passage(body));
        }
        let in_body = self.body_terms(address);
        if !in_body.contains(&true) {
            // Only the title or anchors matched.
            return leading_passage(body);
        }
        if let Some(locator) = &self.locator {
            for window in locator.windows(body, &in_body) {
                if let Some(snippet) = highlighted(generator, window) {
                    return snippet;
                }
            }
        }
        highlighted(generator, prefix(body, SNIPPET_SOURCE_BYTES))
            .unwrap_or_else(|| leading_passage(body))
    }

    /// For each query term (in the order of `terms`), whether it occurs in the body of the
    /// document at `address` according to the postings (true when they cannot be read, so
    /// the caller looks harder rather than less).
    fn body_terms(&self, address: DocAddress) -> Vec<bool> {
        let reader = self.searcher.segment_reader(address.segment_ord);
        let Ok(index) = reader.inverted_index(self.body) else {
            return vec![true; self.terms.len()];
        };
        self.terms
            .iter()
            .map(
                |term| match index.read_postings(term, IndexRecordOption::Basic) {
                    Ok(Some(mut postings)) => {
                        // `seek` may only move forward: the postings start at their
                        // first document, which can already be past this one.
                        let first = postings.doc();
                        first == address.doc_id
                            || (first < address.doc_id
                                && postings.seek(address.doc_id) == address.doc_id)
                    }
                    Ok(None) => false,
                    Err(_) => true,
                },
            )
            .collect()
    }
}

/// The generator's best fragment of `text` as one line of HTML, if it highlights anything.
fn highlighted(generator: &SnippetGenerator, text: &str) -> Option<String> {
    let mut snippet = generator.snippet(text);
    if snippet.fragment().trim().is_empty() || snippet.highlighted().is_empty() {
        return None;
    }
    snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
    // Bodies separate blocks with newlines; a snippet is one line.
    Some(snippet.to_html().trim().replace('\n', " "))
}

/// Finds where a query's terms cluster in a text without analyzing it.
///
/// Indexed terms are lower-cased, ASCII-folded English stems. A stem is a prefix of the
/// words it came from, except that Porter's `y → i` (`happy → happi`) is undone by also
/// looking for the stem without its final `i`. Occurrences count only at the start of a
/// word, case-insensitively for ASCII letters.
struct Locator {
    automaton: AhoCorasick,
    /// For each pattern, the index in `weights` of the term it stands for.
    term_of_pattern: Vec<usize>,
    /// The distinct terms the patterns stand for.
    distinct_terms: Vec<usize>,
    weights: Vec<Score>,
}

/// The number of candidate passages tried before falling back to analysis.
const CANDIDATE_WINDOWS: usize = 4;

impl Locator {
    fn new(terms: &BTreeMap<String, Score>) -> Option<Locator> {
        let mut patterns: Vec<&str> = Vec::new();
        let mut term_of_pattern = Vec::new();
        let mut weights = Vec::new();
        for (index, (text, weight)) in terms.iter().enumerate() {
            weights.push(*weight);
            if text.is_empty() {
                continue;
            }
            patterns.push(text);
            term_of_pattern.push(index);
            if let Some(stem) = text.strip_suffix('i').filter(|stem| stem.len() >= 2) {
                patterns.push(stem);
                term_of_pattern.push(index);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        let mut distinct = term_of_pattern.clone();
        distinct.dedup();
        Some(Locator {
            automaton,
            distinct_terms: distinct,
            term_of_pattern,
            weights,
        })
    }

    /// Up to [`CANDIDATE_WINDOWS`] disjoint passages of `text`, best first: each starts a
    /// few words before a window of [`SNIPPET_CHARS`] bytes holding the most weight of
    /// distinct terms, and is long enough for a snippet.
    ///
    /// The earliest window holding every term of the body (`in_body[term]`, from the
    /// postings) is the best there is, so when one turns up the scan stops there and it is
    /// the only passage returned: on long bodies most of the text is then never looked at.
    fn windows<'t>(&self, text: &'t str, in_body: &[bool]) -> Vec<&'t str> {
        let wanted = self
            .distinct_terms
            .iter()
            .filter(|&&term| in_body.get(term).copied().unwrap_or(true))
            .count();
        let mut occurrences: Vec<(usize, usize)> = Vec::new();
        // Online: the occurrences within SNIPPET_CHARS before the newest, and how many
        // distinct terms they hold.
        let mut live = vec![0u32; self.weights.len()];
        let mut present = 0;
        let mut front = 0;
        for found in self.automaton.find_iter(text) {
            let start = found.start();
            let at_word_start = text.get(..start).is_some_and(|before| {
                !before
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
            });
            if !at_word_start {
                continue;
            }
            let term = self.term_of_pattern[found.pattern().as_usize()];
            occurrences.push((start, term));
            live[term] += 1;
            if live[term] == 1 && in_body.get(term).copied().unwrap_or(true) {
                present += 1;
            }
            while occurrences[front].0 + SNIPPET_CHARS <= start {
                let gone = occurrences[front].1;
                live[gone] -= 1;
                if live[gone] == 0 && in_body.get(gone).copied().unwrap_or(true) {
                    present -= 1;
                }
                front += 1;
            }
            if wanted > 0 && present == wanted {
                return vec![passage(text, occurrences[front].0)];
            }
            if occurrences.len() >= MAX_OCCURRENCES {
                break;
            }
        }
        // Sliding window over the occurrences: the weight of the distinct terms in
        // [occurrence, occurrence + SNIPPET_CHARS).
        let mut counts = vec![0u32; self.weights.len()];
        let mut weight: Score = 0.0;
        let mut end = 0;
        let mut scored: Vec<(Score, usize)> = Vec::with_capacity(occurrences.len());
        for &(start, term) in &occurrences {
            while let Some(&(offset, next)) = occurrences.get(end) {
                if offset >= start + SNIPPET_CHARS {
                    break;
                }
                if counts[next] == 0 {
                    weight += self.weights[next];
                }
                counts[next] += 1;
                end += 1;
            }
            scored.push((weight, start));
            counts[term] -= 1;
            if counts[term] == 0 {
                weight -= self.weights[term];
            }
        }
        // Best weight first, earliest first among equals.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut chosen: Vec<usize> = Vec::new();
        for (_, start) in scored {
            if chosen.len() == CANDIDATE_WINDOWS {
                break;
            }
            if chosen
                .iter()
                .all(|&other| start.abs_diff(other) >= SNIPPET_CHARS)
            {
                chosen.push(start);
            }
        }
        chosen
            .into_iter()
            .map(|start| passage(text, start))
            .collect()
    }
}

/// The passage of `text` around the occurrence at byte `start`: from a word boundary up
/// to [`LEAD_BYTES`] before it to a word boundary about three snippets later.
fn passage(text: &str, start: usize) -> &str {
    let mut from = floor_boundary(text, start.saturating_sub(LEAD_BYTES));
    if from > 0 {
        // Begin after the first space at or after `from`, but never past the occurrence.
        from = text[from..start]
            .find(char::is_whitespace)
            .map_or(start, |space| from + space + 1);
    }
    let mut to = floor_boundary(text, start + 3 * SNIPPET_CHARS);
    if to < text.len() {
        to = text[start..to]
            .rfind(char::is_whitespace)
            .map_or(to, |space| start + space);
    }
    &text[from..to]
}

/// Bytes of context kept before the best occurrence.
const LEAD_BYTES: usize = 60;

/// The largest char boundary of `text` at or below `index` (clamped to its length).
fn floor_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary.
fn prefix(text: &str, max_bytes: usize) -> &str {
    &text[..floor_boundary(text, max_bytes)]
}

/// The first [`SNIPPET_CHARS`] characters of `text`, cut at a word boundary, escaped.
fn leading_passage(text: &str) -> String {
    let mut end = text.len();
    if let Some((index, _)) = text.char_indices().nth(SNIPPET_CHARS) {
        end = text[..index].rfind(' ').unwrap_or(index);
    }
    let mut out = escape_html(text[..end].trim()).replace('\n', " ");
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn prefix_ends_on_a_char_boundary() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("héllo", 100), "héllo");
    }

    #[test]
    fn leading_passage_cuts_at_word_boundary() {
        let text = "word ".repeat(100);
        let passage = leading_passage(&text);
        assert!(passage.ends_with('…'));
        assert!(passage.chars().count() <= SNIPPET_CHARS + 1);
        assert!(!passage.contains("wor…"));
        assert_eq!(leading_passage("<b>short</b>"), "&lt;b&gt;short&lt;/b&gt;");
    }

    /// Over one segment of long bodies where the earlier documents lack the query's
    /// terms, so the postings start past them and must not be sought backwards.
    #[test]
    fn postings_decide_which_long_bodies_hold_a_term() {
        use tantivy::collector::TopDocs;
        use tantivy::query::QueryParser;
        use tantivy::schema::{STORED, Schema, TEXT};
        use tantivy::{Index, doc};

        let mut builder = Schema::builder();
        let title = builder.add_text_field("title", TEXT | STORED);
        let body = builder.add_text_field("body", TEXT | STORED);
        let index = Index::create_in_ram(builder.build());
        let mut writer = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("a writer");
        let filler = "lorem ipsum dolor sit amet ".repeat(60);
        writer
            .add_document(doc!(title => "walrus", body => filler.clone()))
            .expect("added");
        writer
            .add_document(doc!(title => "other", body => format!("{filler} walrus {filler}")))
            .expect("added");
        writer.commit().expect("committed");
        let searcher = index.reader().expect("a reader").searcher();
        let query = QueryParser::for_index(&index, vec![title, body])
            .parse_query("walrus")
            .expect("a query");
        let snippets = Snippets::new(&searcher, query.as_ref(), body);
        let hits = searcher
            .search(query.as_ref(), &TopDocs::with_limit(10).order_by_score())
            .expect("hits");
        assert_eq!(hits.len(), 2);
        for (_, address) in hits {
            let document: TantivyDocument = searcher.doc(address).expect("stored");
            let snippet = snippets.for_document(address, &document);
            if address.doc_id == 0 {
                assert!(snippet.starts_with("lorem ipsum"), "{snippet}");
                assert!(!snippet.contains("<mark>"), "{snippet}");
            } else {
                assert!(snippet.contains("<mark>walrus</mark>"), "{snippet}");
            }
        }
    }

    fn locator(terms: &[(&str, Score)]) -> Locator {
        let terms = terms
            .iter()
            .map(|(text, weight)| (text.to_string(), *weight))
            .collect();
        Locator::new(&terms).expect("a locator")
    }

    #[test]
    fn locator_finds_the_densest_window_at_word_starts() {
        let filler = "lorem ipsum dolor sit amet ".repeat(200);
        let text = format!(
            "{filler} Borrowing alone here. {filler} the borrow checker checks borrows {filler}"
        );
        // "zebra" is nowhere, so no window holds every term: the whole text is ranked.
        let three = locator(&[("borrow", 0.1), ("checker", 0.2), ("zebra", 0.3)]);
        let found = three.windows(&text, &[true; 3]);
        assert!(found[0].contains("borrow checker"), "{:?}", found[0]);
        assert!(found[1].contains("Borrowing alone"), "{:?}", found[1]);
        // When the postings say "zebra" is not in the body, the first window holding the
        // other two is complete.
        let found = three.windows(&text, &[true, true, false]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("borrow checker"), "{:?}", found[0]);
        // Inside a word is not a word start.
        assert!(
            locator(&[("ipsum", 1.0)])
                .windows("loremipsum dolor", &[true])
                .is_empty()
        );
    }

    #[test]
    fn locator_stops_at_the_earliest_window_holding_every_term() {
        let filler = "lorem ipsum dolor sit amet ".repeat(200);
        let text = format!(
            "{filler} checker alone {filler} the borrow checker {filler} borrow checker borrow checker"
        );
        let found = locator(&[("borrow", 0.1), ("checker", 0.2)]).windows(&text, &[true; 2]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("the borrow checker"), "{:?}", found[0]);
        assert!(!found[0].contains("checker alone"), "{:?}", found[0]);
    }

    #[test]
    fn locator_undoes_the_y_to_i_stem() {
        let text = format!("{} happy days", "x ".repeat(3000));
        let found = locator(&[("happi", 1.0)]).windows(&text, &[true]);
        assert!(found[0].contains("happy days"), "{found:?}");
    }

    #[test]
    fn passages_start_and_end_at_word_boundaries_on_char_boundaries() {
        let text = format!("{}needle {}", "é word ".repeat(40), "ü word ".repeat(400));
        let start = text.find("needle").expect("needle");
        let passage = passage(&text, start);
        assert!(passage.contains("needle"));
        assert!(
            passage.starts_with("é ") || passage.starts_with("word "),
            "{passage:?}"
        );
        assert!(
            passage.ends_with("word") || passage.ends_with('ü'),
            "{passage:?}"
        );
        assert!(passage.len() <= LEAD_BYTES + 3 * SNIPPET_CHARS);
    }
}
