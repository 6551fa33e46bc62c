//! Snippets: the passage of the body that best matches the query, with matches wrapped in
//! `<mark>` and everything else HTML-escaped.
//!
//! Cutting a snippet with tantivy's [`SnippetGenerator`] runs the field's analyzer
//! (tokenizer, lower-casing, folding, stemming) over all the text it is given, which costs
//! milliseconds on the large pages documentation sites have (a 486 KB page took 40–60 ms),
//! and even on a short passage it was a third of an uncached search. So snippets are cut
//! without analyzing the text. The postings tell which query terms the body holds: none
//! (only the title or anchors matched) gives the page's leading passage. Otherwise the
//! indexed terms of the query (stems, which prefix the words they came from) are looked
//! for case-insensitively at word starts with one Aho-Corasick pass; each candidate word
//! is analyzed alone (once per distinct word and query) to confirm it stems to a query
//! term, so `position` does not count for `pos`. The pass stops at the first window of
//! [`SNIPPET_CHARS`] holding every term the body has, or past [`LOCATE_BYTES`] at the
//! first window found (else the window with the most weight of distinct terms wins), and
//! the confirmed words of that passage are marked.
//! Only when no word is confirmed (a match only analysis finds, such as an accented word
//! folded to the query's) does the generator analyze the first [`SNIPPET_SOURCE_BYTES`].

use std::collections::{BTreeMap, HashMap};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use quarry_indexer::{is_unspaced_script, is_word_char};
use tantivy::query::Query;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, DocSet, Score, Searcher, Term};

/// Target snippet length in bytes of text (before escaping and marks).
pub const SNIPPET_CHARS: usize = 220;

/// When only analysis can find a body's match, only this much of the start of the body
/// is analyzed, in bytes; a match further in gets the leading passage instead.
pub const SNIPPET_SOURCE_BYTES: usize = 200_000;

/// At most this many confirmed term occurrences of one body are weighed when locating its
/// passage.
const MAX_OCCURRENCES: usize = 20_000;

/// Past this many bytes of a body, the scan for a window holding every term the body has
/// ends with the first window it finds, and the best window seen so far is shown.
///
/// On the Rust docs, bodies average 39 KB and a few reach 500 KB; with the scan running to
/// the end of every body whose terms never meet in one window, 60% of the bytes scanned
/// for snippets lay past 64 KiB. Elasticsearch bounds its highlighters the same way
/// (`index.highlight.max_analyzed_offset`), far less tightly.
const LOCATE_BYTES: usize = 64 * 1024;

/// At most this many distinct words are remembered as confirmed or not per query.
const MAX_REMEMBERED_WORDS: usize = 50_000;

/// Bytes of context kept before the first match of a passage, when the passage has room.
const LEAD_BYTES: usize = 60;

/// Escapes text for inclusion in HTML element content or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` to `out` escaped for HTML.
fn escape_into(out: &mut String, text: &str) {
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
}

/// Appends `text` to `out` escaped, on one line: bodies separate blocks with newlines.
fn escape_line_into(out: &mut String, text: &str) {
    let start = out.len();
    escape_into(out, text);
    if out[start..].contains(['\n', '\r', '\t']) {
        let line = out[start..].replace(['\n', '\r', '\t'], " ");
        out.truncate(start);
        out.push_str(&line);
    }
}

/// Cuts snippets for the hits of one query.
pub struct Snippets<'a> {
    searcher: &'a Searcher,
    generator: Option<SnippetGenerator>,
    locator: Option<Locator>,
    confirmer: Option<Confirmer>,
    /// The query's body terms that occur in the index, sorted by text: a term's index
    /// here is its index in `weights` and in [`Occurrence::term`].
    terms: Vec<Term>,
    weights: Vec<Score>,
    body: Field,
}

/// A confirmed occurrence of a query term in a text: its byte span and the term's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Occurrence {
    start: usize,
    end: usize,
    term: usize,
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
        let mut weighted: BTreeMap<String, Score> = BTreeMap::new();
        let mut terms = Vec::new();
        for term in wanted {
            let Some(text) = term.value().as_str().map(str::to_string) else {
                continue;
            };
            match searcher.doc_freq(&term) {
                Ok(doc_freq) if doc_freq > 0 => {
                    weighted.insert(text, 1.0 / (1.0 + doc_freq as Score));
                    terms.push(term);
                }
                _ => {}
            }
        }
        // In the order of `weighted`.
        terms.sort_by(|a: &Term, b: &Term| a.value().as_str().cmp(&b.value().as_str()));
        let analyzer = searcher.index().tokenizer_for_field(body).ok();
        let generator = analyzer
            .clone()
            .map(|analyzer| SnippetGenerator::new(weighted.clone(), analyzer, body, SNIPPET_CHARS));
        let confirmer = analyzer.map(|analyzer| Confirmer {
            analyzer,
            term_of_text: weighted
                .keys()
                .enumerate()
                .map(|(index, text)| (text.clone(), index))
                .collect(),
            remembered: HashMap::new(),
        });
        Snippets {
            searcher,
            generator,
            locator: Locator::new(weighted.keys().map(String::as_str)),
            confirmer,
            terms,
            weights: weighted.into_values().collect(),
            body,
        }
    }

    /// The highlighted snippet for the document at `address`, whose stored body is
    /// `body`; when the body has no match (e.g. only the title matched) the start of the
    /// body, escaped.
    pub fn for_document(&mut self, address: DocAddress, body: &str) -> String {
        let (Some(locator), Some(confirmer), Some(generator)) =
            (&self.locator, &mut self.confirmer, &self.generator)
        else {
            return leading_passage(body);
        };
        let in_body = body_terms(self.searcher, self.body, &self.terms, address);
        if !in_body.contains(&true) {
            // Only the title, headings or anchors matched.
            return leading_passage(body);
        }
        let occurrences = locate(locator, confirmer, body, &in_body);
        match best_window(&occurrences, &self.weights) {
            Some(first) => {
                let (from, to) = fragment(body, &occurrences[first..]);
                let mut marks = Vec::new();
                locator.scan(&body[from..to], confirmer, |found| {
                    marks.push(found);
                    true
                });
                render(body, from, to, &marks)
            }
            None => highlighted(generator, prefix(body, SNIPPET_SOURCE_BYTES))
                .unwrap_or_else(|| leading_passage(body)),
        }
    }
}

/// For each of `terms`, whether it occurs in the `body` field of the document at
/// `address` according to the postings (true when they cannot be read, so the caller
/// looks harder rather than less).
fn body_terms(searcher: &Searcher, body: Field, terms: &[Term], address: DocAddress) -> Vec<bool> {
    let reader = searcher.segment_reader(address.segment_ord);
    let Ok(index) = reader.inverted_index(body) else {
        return vec![true; terms.len()];
    };
    terms
        .iter()
        .map(
            |term| match index.read_postings(term, IndexRecordOption::Basic) {
                Ok(Some(mut postings)) => {
                    // `seek` may only move forward: the postings start at their first
                    // document, which can already be past this one.
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

/// The confirmed occurrences of `text` in order, up to the end of the first window of
/// [`SNIPPET_CHARS`] bytes holding every term of the body (`in_body[term]`, from the
/// postings): that window is the best there is, so on long bodies most of the text is
/// then never looked at. Past [`LOCATE_BYTES`] the occurrences end with the window of the
/// first one found, holding every term or not.
fn locate(
    locator: &Locator,
    confirmer: &mut Confirmer,
    text: &str,
    in_body: &[bool],
) -> Vec<Occurrence> {
    let counts = |term: usize| in_body.get(term).copied().unwrap_or(true);
    let wanted = in_body.iter().filter(|&&present| present).count();
    let mut occurrences: Vec<Occurrence> = Vec::new();
    // The occurrences within SNIPPET_CHARS before the newest, and how many distinct
    // wanted terms they hold.
    let mut live = vec![0u32; in_body.len()];
    let mut present = 0;
    let mut front = 0;
    locator.scan(text, confirmer, |found| {
        let Some(slot) = live.get_mut(found.term) else {
            return true;
        };
        let past_limit =
            |first: &Occurrence| found.start >= first.start.max(LOCATE_BYTES) + SNIPPET_CHARS;
        if occurrences.first().is_some_and(past_limit) {
            return false;
        }
        occurrences.push(found);
        *slot += 1;
        if *slot == 1 && counts(found.term) {
            present += 1;
        }
        while occurrences[front].start + SNIPPET_CHARS <= found.start {
            let gone = occurrences[front].term;
            live[gone] -= 1;
            if live[gone] == 0 && counts(gone) {
                present -= 1;
            }
            front += 1;
        }
        if wanted > 0 && present == wanted {
            // Keep only the complete window.
            occurrences.drain(..front);
            return false;
        }
        occurrences.len() < MAX_OCCURRENCES
    });
    occurrences
}

/// The index of the occurrence that starts the window of [`SNIPPET_CHARS`] bytes with
/// the most weight of distinct terms, the earliest among equals; `None` without any.
fn best_window(occurrences: &[Occurrence], weights: &[Score]) -> Option<usize> {
    let mut counts = vec![0u32; weights.len()];
    let mut weight: Score = 0.0;
    let mut end = 0;
    let mut best: Option<(Score, usize)> = None;
    for (index, occurrence) in occurrences.iter().enumerate() {
        while let Some(next) = occurrences.get(end) {
            if next.start >= occurrence.start + SNIPPET_CHARS {
                break;
            }
            if counts[next.term] == 0 {
                weight += weights[next.term];
            }
            counts[next.term] += 1;
            end += 1;
        }
        if best.is_none_or(|(top, _)| weight > top) {
            best = Some((weight, index));
        }
        counts[occurrence.term] -= 1;
        if counts[occurrence.term] == 0 {
            weight -= weights[occurrence.term];
        }
    }
    best.map(|(_, index)| index)
}

/// The byte range of `text` to show for the window starting at `window[0]`: from a word
/// boundary a little before it (as much of [`LEAD_BYTES`] as leaves room for the
/// window's matches) to a word boundary about [`SNIPPET_CHARS`] later.
fn fragment(text: &str, window: &[Occurrence]) -> (usize, usize) {
    let start = window[0].start;
    let last_end = window
        .iter()
        .take_while(|occurrence| occurrence.start < start + SNIPPET_CHARS)
        .map(|occurrence| occurrence.end)
        .max()
        .unwrap_or(window[0].end);
    let lead = LEAD_BYTES.min(SNIPPET_CHARS.saturating_sub(last_end - start));
    let mut from = floor_boundary(text, start.saturating_sub(lead));
    if from > 0 {
        // Begin after the first space at or after `from`, but never past the occurrence.
        from = text[from..start]
            .find(char::is_whitespace)
            .map_or(start, |space| from + space + 1);
    }
    let mut to = floor_boundary(text, (from + SNIPPET_CHARS).max(last_end));
    if to < text.len() {
        to = text[last_end..to]
            .rfind(char::is_whitespace)
            .map_or(to, |space| last_end + space);
    }
    // Not starting or ending on blanks.
    let trimmed = text[from..to].trim_start();
    from = to - trimmed.len();
    to = from + trimmed.trim_end().len();
    (from, to)
}

/// `text[from..to]` as one line of HTML with `marks` (offsets relative to `from`) wrapped
/// in `<mark>`, with an ellipsis where it cuts the text.
fn render(text: &str, from: usize, to: usize, marks: &[Occurrence]) -> String {
    let shown = &text[from..to];
    let mut out = String::with_capacity(shown.len() + 16 * marks.len() + 8);
    if from > 0 {
        out.push('…');
    }
    let mut at = 0;
    for mark in marks {
        escape_line_into(&mut out, &shown[at..mark.start]);
        out.push_str("<mark>");
        escape_into(&mut out, &shown[mark.start..mark.end]);
        out.push_str("</mark>");
        at = mark.end;
    }
    escape_line_into(&mut out, &shown[at..]);
    if to < text.len() {
        out.push('…');
    }
    out
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

/// Tells which query term, if any, a word of the body is indexed as, by analyzing it
/// alone with the field's analyzer; remembers the answer per distinct word.
struct Confirmer {
    analyzer: TextAnalyzer,
    /// The index of each query term by its text.
    term_of_text: HashMap<String, usize>,
    remembered: HashMap<Box<str>, Option<usize>>,
}

impl Confirmer {
    fn term_of(&mut self, word: &str) -> Option<usize> {
        if let Some(&term) = self.remembered.get(word) {
            return term;
        }
        let mut stream = self.analyzer.token_stream(word);
        let term = if stream.advance() {
            self.term_of_text.get(&stream.token().text).copied()
        } else {
            // A stop word, or too long to be indexed.
            None
        };
        if self.remembered.len() < MAX_REMEMBERED_WORDS {
            self.remembered.insert(word.into(), term);
        }
        term
    }
}

/// Finds the words of a text that may be query terms without analyzing the text.
///
/// Indexed terms are lower-cased, ASCII-folded English stems. A stem is a prefix of the
/// words it came from, except that Porter's `y → i` (`happy → happi`) is undone by also
/// looking for the stem without its final `i`. A candidate counts only at the start of a
/// word (case-insensitively for ASCII letters, and for a non-ASCII first letter), and
/// only if the whole word analyzes to a query term. Terms of scripts written without
/// spaces (CJK bigrams) count wherever they occur, as they are.
struct Locator {
    automaton: AhoCorasick,
    /// For each pattern, the index of its term when the pattern is a CJK bigram, which
    /// is its own term; `None` for a stem, whose word decides.
    unspaced: Vec<Option<usize>>,
    /// The longest pattern's length less one: how far a match may reach past a chunk.
    overlap: usize,
}

impl Locator {
    /// A locator for `terms`, in the order of their indexes.
    fn new<'t>(terms: impl Iterator<Item = &'t str>) -> Option<Locator> {
        let mut patterns: Vec<String> = Vec::new();
        let mut unspaced = Vec::new();
        for (index, text) in terms.enumerate() {
            if text.is_empty() {
                continue;
            }
            if text.chars().next().is_some_and(is_unspaced_script) {
                patterns.push(text.to_string());
                unspaced.push(Some(index));
                continue;
            }
            let mut stems = vec![text];
            if let Some(stem) = text.strip_suffix('i').filter(|stem| stem.len() >= 2) {
                stems.push(stem);
            }
            for stem in stems {
                patterns.push(stem.to_string());
                unspaced.push(None);
                // The text is lower-cased for ASCII only: a capitalized non-ASCII first
                // letter (Cyrillic, Greek) needs its own pattern.
                let mut chars = stem.chars();
                if let Some(first) = chars.next().filter(|c| !c.is_ascii()) {
                    let capitalized: String = first.to_uppercase().chain(chars).collect();
                    if capitalized != stem {
                        patterns.push(capitalized);
                        unspaced.push(None);
                    }
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let overlap = patterns.iter().map(|pattern| pattern.len()).max()? - 1;
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Locator {
            automaton,
            unspaced,
            overlap,
        })
    }

    /// Calls `found` with each confirmed occurrence in `text`, in order, while it returns
    /// true.
    ///
    /// The text is searched a [`SCAN_CHUNK`] at a time, lower-cased into a buffer, so the
    /// automaton is case-sensitive: with ASCII case insensitivity aho-corasick has no
    /// vectorized prefilter and walked every byte (a fifth of an uncached search).
    /// Lower-casing ASCII keeps byte offsets, and a scan that stops early has lower-cased
    /// little more than it read.
    fn scan(
        &self,
        text: &str,
        confirmer: &mut Confirmer,
        mut found: impl FnMut(Occurrence) -> bool,
    ) {
        let bytes = text.as_bytes();
        let mut lowered = Vec::with_capacity(SCAN_CHUNK.min(bytes.len()) + self.overlap);
        let mut word_end = 0;
        let mut chunk_start = 0;
        while chunk_start < bytes.len() {
            let chunk_end = (chunk_start + SCAN_CHUNK).min(bytes.len());
            // Patterns starting in this chunk may end in the next.
            let search_end = (chunk_end + self.overlap).min(bytes.len());
            lowered.clear();
            lowered.extend_from_slice(&bytes[chunk_start..search_end]);
            lowered.make_ascii_lowercase();
            for candidate in self.automaton.find_iter(&lowered) {
                let start = chunk_start + candidate.start();
                if start >= chunk_end {
                    // The next chunk finds it.
                    break;
                }
                if start < word_end {
                    // Inside the word just confirmed or refused.
                    continue;
                }
                let occurrence = match self.unspaced[candidate.pattern().as_usize()] {
                    Some(term) => Occurrence {
                        start,
                        end: chunk_start + candidate.end(),
                        term,
                    },
                    None => {
                        // Patterns are whole characters and the text is valid UTF-8, so a
                        // match starts on a character boundary.
                        let at_word_start = !text
                            .get(..start)
                            .and_then(|before| before.chars().next_back())
                            .is_some_and(is_word_char);
                        if !at_word_start {
                            continue;
                        }
                        let end = text[start..]
                            .char_indices()
                            .find(|&(_, c)| !is_word_char(c))
                            .map_or(text.len(), |(offset, _)| start + offset);
                        word_end = end;
                        let Some(term) = confirmer.term_of(&text[start..end]) else {
                            continue;
                        };
                        Occurrence { start, end, term }
                    }
                };
                if !found(occurrence) {
                    return;
                }
            }
            chunk_start = chunk_end;
        }
    }
}

/// Bytes of text [`Locator::scan`] lower-cases and searches at a time.
const SCAN_CHUNK: usize = 16 * 1024;

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
        use tantivy::schema::{STORED, Schema, TEXT, Value};
        use tantivy::{Index, TantivyDocument, doc};

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
        let mut snippets = Snippets::new(&searcher, query.as_ref(), body);
        let hits = searcher
            .search(query.as_ref(), &TopDocs::with_limit(10).order_by_score())
            .expect("hits");
        assert_eq!(hits.len(), 2);
        for (_, address) in hits {
            let document: TantivyDocument = searcher.doc(address).expect("stored");
            let text = document.get_first(body).and_then(|value| value.as_str());
            let snippet = snippets.for_document(address, text.unwrap_or(""));
            if address.doc_id == 0 {
                assert!(snippet.starts_with("lorem ipsum"), "{snippet}");
                assert!(!snippet.contains("<mark>"), "{snippet}");
            } else {
                assert!(snippet.contains("<mark>walrus</mark>"), "{snippet}");
            }
        }
    }

    /// A locator and confirmer for `terms` (stems, in sorted order) with Quarry's analyzer.
    fn locator(terms: &[&str]) -> (Locator, Confirmer) {
        let (schema, _) = quarry_indexer::build_schema();
        let index = tantivy::Index::create_in_ram(schema);
        quarry_indexer::register_analyzers(&index);
        let analyzer = index
            .tokenizers()
            .get(quarry_indexer::ANALYZER_EN)
            .expect("registered");
        let confirmer = Confirmer {
            analyzer,
            term_of_text: terms
                .iter()
                .enumerate()
                .map(|(index, text)| (text.to_string(), index))
                .collect(),
            remembered: HashMap::new(),
        };
        let locator = Locator::new(terms.iter().copied()).expect("a locator");
        (locator, confirmer)
    }

    /// The text of the best window of `text` for `terms`.
    fn best<'t>(terms: &[&str], weights: &[Score], text: &'t str, in_body: &[bool]) -> &'t str {
        let (locator, mut confirmer) = locator(terms);
        let found = locate(&locator, &mut confirmer, text, in_body);
        let first = best_window(&found, weights).expect("a window");
        let (from, to) = fragment(text, &found[first..]);
        &text[from..to]
    }

    #[test]
    fn locator_finds_the_densest_window_at_word_starts() {
        let filler = "lorem ipsum dolor sit amet ".repeat(200);
        let text = format!(
            "{filler} Borrowing alone here. {filler} the borrow checker checks borrows {filler}"
        );
        // "zebra" is nowhere, so no window holds every term: the whole text is weighed.
        let terms = ["borrow", "checker", "zebra"];
        let weights = [0.1, 0.2, 0.3];
        let found = best(&terms, &weights, &text, &[true; 3]);
        assert!(found.contains("borrow checker"), "{found:?}");
        // When the postings say "zebra" is not in the body, the first window holding the
        // other two is complete and the scan stops there.
        let (locator, mut confirmer) = locator(&terms);
        let complete = locate(&locator, &mut confirmer, &text, &[true, true, false]);
        assert_eq!(complete.len(), 2, "{complete:?}");
        assert_eq!(&text[complete[0].start..complete[0].end], "borrow");
        assert_eq!(&text[complete[1].start..complete[1].end], "checker");
        // Inside a word is not a word start.
        let (locator, mut confirmer) = super::tests::locator(&["ipsum"]);
        assert!(locate(&locator, &mut confirmer, "loremipsum dolor", &[true]).is_empty());
    }

    #[test]
    fn locator_stops_at_the_earliest_window_holding_every_term() {
        let filler = "lorem ipsum dolor sit amet ".repeat(200);
        let text = format!(
            "{filler} checker alone {filler} the borrow checker {filler} borrow checker borrow checker"
        );
        let found = best(&["borrow", "checker"], &[0.1, 0.2], &text, &[true; 2]);
        assert!(found.contains("the borrow checker"), "{found:?}");
        assert!(!found.contains("checker alone"), "{found:?}");
    }

    #[test]
    fn locator_settles_for_a_partial_window_past_the_scan_limit() {
        let filler = "lorem ipsum dolor sit amet ".repeat(LOCATE_BYTES / 27 + 10);
        let terms = ["borrow", "checker"];
        let (locator, mut confirmer) = locator(&terms);
        // The terms meet only past the limit: the lone early "borrow" is shown.
        let text = format!("a borrow alone {filler} the borrow checker");
        let found = locate(&locator, &mut confirmer, &text, &[true; 2]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].start, 2);
        // Nothing before the limit: the scan goes on to the first window it finds.
        let text = format!("{filler} checker here {filler} the borrow checker");
        let found = locate(&locator, &mut confirmer, &text, &[true; 2]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(&text[found[0].start..found[0].end], "checker");
        assert_eq!(found[0].start, filler.len() + 1);
        // Within the limit the complete window is still found.
        let text = format!("a borrow alone {} the borrow checker", &filler[..20_000]);
        let found = locate(&locator, &mut confirmer, &text, &[true; 2]);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn locator_undoes_the_y_to_i_stem() {
        let text = format!("{} happy days", "x ".repeat(3000));
        let found = best(&["happi"], &[1.0], &text, &[true]);
        assert!(found.starts_with("x x"), "{found:?}");
        assert!(found.ends_with("happy days"), "{found:?}");
    }

    /// A word that merely starts with a stem is not an occurrence: `position` stems to
    /// `posit`, not `pos`; and the same word in any case is.
    #[test]
    fn locator_confirms_candidates_by_their_stem() {
        let text = "Position of the positive POS tag, then pos again";
        let all = |terms: &[&str]| {
            let (locator, mut confirmer) = locator(terms);
            let mut words = Vec::new();
            locator.scan(text, &mut confirmer, |found| {
                words.push(&text[found.start..found.end]);
                true
            });
            words
        };
        assert_eq!(all(&["pos"]), ["POS", "pos"]);
        assert_eq!(all(&["posit"]), ["Position", "positive"]);
        // Stop words are never indexed, so never marked.
        assert!(all(&["the"]).is_empty());
    }

    #[test]
    fn locator_finds_words_across_chunks_and_cases() {
        let filler = "lorem ipsum dolor sit amet ".repeat(2000);
        assert!(filler.len() > 2 * SCAN_CHUNK);
        // "Борщ" at the chunk boundary; "NEEDLES" far in.
        let mut text = "x".repeat(SCAN_CHUNK - 3);
        text.push_str(" Борщ and ");
        text.push_str(&filler);
        text.push_str(" NEEDLES");
        let (locator, mut confirmer) = locator(&["needl", "борщ"]);
        let mut words = Vec::new();
        locator.scan(&text, &mut confirmer, |found| {
            words.push(&text[found.start..found.end]);
            true
        });
        assert_eq!(words, ["Борщ", "NEEDLES"]);
    }

    #[test]
    fn locator_finds_cjk_bigrams_anywhere() {
        let text = "Rust 東京都の地図";
        let (locator, mut confirmer) = locator(&["東京"]);
        let found = locate(&locator, &mut confirmer, text, &[true]);
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].start..found[0].end], "東京");
    }

    #[test]
    fn fragments_start_and_end_at_word_boundaries_on_char_boundaries() {
        let text = format!("{}needle {}", "é word ".repeat(40), "ü word ".repeat(400));
        let start = text.find("needle").expect("needle");
        let window = [Occurrence {
            start,
            end: start + "needle".len(),
            term: 0,
        }];
        let (from, to) = fragment(&text, &window);
        let shown = &text[from..to];
        assert!(shown.contains("needle"));
        assert!(
            shown.starts_with("é ") || shown.starts_with("word "),
            "{shown:?}"
        );
        assert!(shown.ends_with("word") || shown.ends_with('ü'), "{shown:?}");
        assert!(shown.len() <= SNIPPET_CHARS, "{}", shown.len());
        assert!(start - from <= LEAD_BYTES);
    }

    #[test]
    fn rendering_escapes_marks_and_shows_cuts() {
        let text = "a <b> & needle\nthere, more";
        let start = text.find("needle").expect("needle");
        let marks = [Occurrence {
            start: start - 2,
            end: start - 2 + "needle".len(),
            term: 0,
        }];
        assert_eq!(
            render(text, 2, text.len() - 5, &marks),
            "…&lt;b&gt; &amp; <mark>needle</mark> there,…"
        );
        assert_eq!(render("plain", 0, 5, &[]), "plain");
    }
}
