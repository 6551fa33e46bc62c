//! The one place that decides how text fields are analysed.
//!
//! Every text field uses one analyzer, [`ANALYZER_EN`]: English stemming and stop words
//! for Latin-script words (the collections Quarry targets are mostly English), while
//! words of other scripts pass through the same chain unharmed — the stemmer and the stop
//! list only touch Latin-script English words — so Cyrillic, Greek or Korean text is
//! searchable by its words. Chinese and Japanese are written without spaces: runs of Han,
//! Hiragana and Katakana characters are split into overlapping bigrams (as Lucene's CJK
//! analyzer does), so any two-or-more-character word in such a run is found, and a query
//! for a longer word matches its bigrams at consecutive positions.

use std::collections::HashMap;

use tantivy::Index;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// Name of the analyzer of every text field: split into words (and CJK runs into
/// bigrams), drop tokens over [`MAX_TOKEN_BYTES`], lower-case, fold accents to ASCII, drop
/// English stop words, stem English.
pub const ANALYZER_EN: &str = "quarry_en";

/// Whether `c` belongs to a script written without spaces between words (Han, Hiragana,
/// Katakana, and their punctuation-free extensions).
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'   // Hiragana, Katakana
        | '\u{31f0}'..='\u{31ff}' // Katakana phonetic extensions
        | '\u{3400}'..='\u{4dbf}' // CJK extension A
        | '\u{4e00}'..='\u{9fff}' // CJK unified ideographs
        | '\u{f900}'..='\u{faff}' // CJK compatibility ideographs
        | '\u{ff66}'..='\u{ff9f}' // half-width Katakana
        | '\u{20000}'..='\u{2fa1f}') // CJK extensions B–F, compatibility supplement
}

/// Whether `c` is part of a word of a spaced script: [`EnglishTokenizer`] splits such text
/// into maximal runs of these characters.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_unspaced_script(c)
}

/// Tokens this long or longer (in bytes, before lower-casing) are dropped: they are almost
/// always junk (base64, hashes).
const MAX_TOKEN_BYTES: usize = 40;

/// Words whose stems an analyzer remembers, at most (then it starts over).
const STEM_CACHE: usize = 50_000;

/// Lucene's English stop words (tantivy's `StopWordFilter` for English has the same list).
fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "but"
            | "by"
            | "for"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "no"
            | "not"
            | "of"
            | "on"
            | "or"
            | "such"
            | "that"
            | "the"
            | "their"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "to"
            | "was"
            | "will"
            | "with"
    )
}

/// The whole of [`ANALYZER_EN`] in one pass over the text: split into alphanumeric words
/// (runs of [`is_unspaced_script`] characters into overlapping bigrams, a lone character
/// staying a unigram), drop tokens of [`MAX_TOKEN_BYTES`] or more, lower-case, fold
/// accents to ASCII, drop English stop words, stem English (remembering the stems of the
/// words seen). Dropped tokens keep their positions, as tantivy's filters do.
///
/// It gives exactly the tokens of tantivy's chain of `RemoveLongFilter`, `LowerCaser`,
/// `AsciiFoldingFilter`, `StopWordFilter` and `Stemmer` over the same split (a test
/// compares them on real text), for less work: a token is not handed through five
/// layers, and an ASCII word (most of them) is lower-cased by byte, never folded, and
/// checked against the stop words by a `match` (indexing the Rust docs' extracted text
/// went from 3.4–4.0 to 2.6–2.9 s). Word frequencies follow Zipf's law, so most words are
/// stemmed from the cache.
#[derive(Clone)]
pub struct EnglishTokenizer<F> {
    /// Lower-cases and folds a non-ASCII word (tantivy's own filters, so the result is
    /// theirs).
    fold: F,
    cache: HashMap<String, String, foldhash::fast::RandomState>,
    /// The characters of the current unspaced run, and the next bigram of it to give.
    run: Vec<(usize, char)>,
    run_next: usize,
    token: Token,
}

/// Builds [`EnglishTokenizer`]; its folding chain's type is tantivy's to name.
fn english_tokenizer() -> EnglishTokenizer<impl Tokenizer> {
    EnglishTokenizer {
        fold: AsciiFoldingFilter.transform(LowerCaser.transform(WholeText)),
        cache: HashMap::default(),
        run: Vec::new(),
        run_next: 0,
        token: Token::default(),
    }
}

/// The tokens of one text, made one by one.
pub struct EnglishTokenStream<'a, F> {
    text: &'a str,
    /// Where the split goes on.
    at: usize,
    /// The position of the next token split off (dropped tokens count too).
    position: usize,
    state: &'a mut EnglishTokenizer<F>,
}

impl<F: Tokenizer> Tokenizer for EnglishTokenizer<F> {
    type TokenStream<'a> = EnglishTokenStream<'a, F>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> EnglishTokenStream<'a, F> {
        self.run.clear();
        self.run_next = 0;
        EnglishTokenStream {
            text,
            at: 0,
            position: 0,
            state: self,
        }
    }
}

impl<F: Tokenizer> EnglishTokenStream<'_, F> {
    /// The next split-off token as a byte range, before any filter.
    fn next_piece(&mut self) -> Option<(usize, usize)> {
        let state = &mut *self.state;
        if state.run_next + 1 < state.run.len() {
            let (from, _) = state.run[state.run_next];
            let (last, c) = state.run[state.run_next + 1];
            state.run_next += 1;
            return Some((from, last + c.len_utf8()));
        }
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            let byte = bytes[self.at];
            if byte.is_ascii() {
                if !byte.is_ascii_alphanumeric() {
                    self.at += 1;
                    continue;
                }
                let start = self.at;
                self.at = self.word_end(start + 1);
                return Some((start, self.at));
            }
            let start = self.at;
            let c = self.text[start..]
                .chars()
                .next()
                .expect("a char starts here");
            self.at += c.len_utf8();
            if is_unspaced_script(c) {
                state.run.clear();
                state.run.push((start, c));
                for (i, next) in self.text[self.at..].char_indices() {
                    if !is_unspaced_script(next) {
                        break;
                    }
                    state.run.push((self.at + i, next));
                }
                let (last, c) = *state.run.last().expect("the run has a char");
                self.at = last + c.len_utf8();
                if state.run.len() == 1 {
                    state.run.clear();
                    return Some((start, self.at));
                }
                state.run_next = 0;
                return self.next_piece();
            }
            if c.is_alphanumeric() {
                self.at = self.word_end(self.at);
                return Some((start, self.at));
            }
        }
        None
    }

    /// Where the word going on at `from` ends.
    fn word_end(&self, mut from: usize) -> usize {
        let bytes = self.text.as_bytes();
        while from < bytes.len() {
            let byte = bytes[from];
            if byte.is_ascii() {
                if !byte.is_ascii_alphanumeric() {
                    break;
                }
                from += 1;
            } else {
                let c = self.text[from..]
                    .chars()
                    .next()
                    .expect("a char starts here");
                if !is_word_char(c) {
                    break;
                }
                from += c.len_utf8();
            }
        }
        from
    }
}

impl<F: Tokenizer> TokenStream for EnglishTokenStream<'_, F> {
    fn advance(&mut self) -> bool {
        while let Some((from, to)) = self.next_piece() {
            let position = self.position;
            self.position += 1;
            if to - from >= MAX_TOKEN_BYTES {
                continue;
            }
            let word = &self.text[from..to];
            let state = &mut *self.state;
            let token = &mut state.token;
            token.text.clear();
            if word.is_ascii() {
                token.text.push_str(word);
                token.text.make_ascii_lowercase();
            } else {
                let mut folded = state.fold.token_stream(word);
                if folded.advance() {
                    token.text.push_str(&folded.token().text);
                }
            }
            if is_stop_word(&token.text) {
                continue;
            }
            match state.cache.get(&token.text) {
                Some(stem) => {
                    token.text.clear();
                    token.text.push_str(stem);
                }
                None => {
                    let stem = frostem::Stemmer::new(frostem::Algorithm::English)
                        .stem(&token.text)
                        .into_owned();
                    if state.cache.len() >= STEM_CACHE {
                        state.cache.clear();
                    }
                    let word = std::mem::replace(&mut token.text, stem.clone());
                    state.cache.insert(word, stem);
                }
            }
            token.offset_from = from;
            token.offset_to = to;
            token.position = position;
            token.position_length = 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.state.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.state.token
    }
}

/// The whole text as one token: what [`EnglishTokenizer`] hands tantivy's lower-casing
/// and folding filters.
#[derive(Clone, Default)]
struct WholeText;

/// The stream of [`WholeText`].
struct WholeTextStream {
    token: Token,
    given: bool,
}

impl Tokenizer for WholeText {
    type TokenStream<'a> = WholeTextStream;

    fn token_stream(&mut self, text: &str) -> WholeTextStream {
        WholeTextStream {
            token: Token {
                text: text.to_string(),
                ..Token::default()
            },
            given: false,
        }
    }
}

impl TokenStream for WholeTextStream {
    fn advance(&mut self) -> bool {
        !std::mem::replace(&mut self.given, true)
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Builds the English analyzer (see [`ANALYZER_EN`]).
fn english() -> TextAnalyzer {
    TextAnalyzer::from(english_tokenizer())
}

/// Registers Quarry's analyzers on `index`. Must be called on every opened index before
/// indexing or searching, because tantivy does not persist custom analyzers.
pub fn register_analyzers(index: &Index) {
    index.tokenizers().register(ANALYZER_EN, english());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TokenStream;

    fn tokens(text: &str) -> Vec<String> {
        let mut analyzer = english();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// The split [`EnglishTokenizer`] makes, as its own tokenizer, so tantivy's filters can
    /// run over it: the reference the fused analyzer is compared with.
    #[derive(Clone, Default)]
    struct ReferenceSplit;

    struct ReferenceStream {
        tokens: Vec<Token>,
        next: usize,
    }

    impl Tokenizer for ReferenceSplit {
        type TokenStream<'a> = ReferenceStream;

        fn token_stream(&mut self, text: &str) -> ReferenceStream {
            let mut pieces = Vec::new();
            let mut chars = text.char_indices().peekable();
            while let Some((start, c)) = chars.next() {
                if is_unspaced_script(c) {
                    let mut run = vec![(start, c)];
                    while let Some(&(i, next)) = chars.peek() {
                        if !is_unspaced_script(next) {
                            break;
                        }
                        run.push((i, next));
                        chars.next();
                    }
                    if let [(_, only)] = run.as_slice() {
                        pieces.push((start, start + only.len_utf8()));
                    } else {
                        for pair in run.windows(2) {
                            pieces.push((pair[0].0, pair[1].0 + pair[1].1.len_utf8()));
                        }
                    }
                } else if c.is_alphanumeric() {
                    let mut end = start + c.len_utf8();
                    while let Some(&(i, next)) = chars.peek() {
                        if !is_word_char(next) {
                            break;
                        }
                        end = i + next.len_utf8();
                        chars.next();
                    }
                    pieces.push((start, end));
                }
            }
            let tokens = pieces
                .into_iter()
                .enumerate()
                .map(|(position, (from, to))| Token {
                    offset_from: from,
                    offset_to: to,
                    position,
                    text: text[from..to].to_string(),
                    position_length: 1,
                })
                .collect();
            ReferenceStream { tokens, next: 0 }
        }
    }

    impl TokenStream for ReferenceStream {
        fn advance(&mut self) -> bool {
            self.next += 1;
            self.next <= self.tokens.len()
        }

        fn token(&self) -> &Token {
            &self.tokens[self.next - 1]
        }

        fn token_mut(&mut self) -> &mut Token {
            &mut self.tokens[self.next - 1]
        }
    }

    /// tantivy's own filters over the same split.
    fn reference() -> TextAnalyzer {
        use tantivy::tokenizer::{Language, RemoveLongFilter, Stemmer, StopWordFilter};
        TextAnalyzer::builder(ReferenceSplit)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(StopWordFilter::new(Language::English).expect("English stop words"))
            .filter(Stemmer::new(Language::English))
            .build()
    }

    fn all_tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().clone());
        }
        out
    }

    /// Texts the fused analyzer is checked on: tricky cases, then real text (SciFact's
    /// abstracts, the PostgreSQL docs' HTML as it is) where present.
    fn texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            "The Running Crème brûlée ÉCOLE Straße ﬁnance Ǆ İstanbul ΣΊΣΥΦΟΣ",
            "thé The THE été with wİth",
            "北京大学 東京タワー is 高い。猫 ｶﾀｶﾅ 한국의 수도 Москва — столица",
            "x1 2x __init__ foo_bar a-b a.b 3.14 1e10 don't l'été",
            "ŉ ǰ ΐ ẞ ﬀ Ⅻ ⅻ ① ½ ²³ ٣ ४ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 e\u{301}",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ééééééééééééééééééé éééééééééééééééééééé ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ",
            "",
            "   ...   ",
            "猫",
            "猫犬",
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/ir/beir-scifact/corpus.jsonl");
        match std::fs::read_to_string(&shared) {
            Ok(corpus) => texts.extend(corpus.lines().map(str::to_string)),
            Err(_) => eprintln!("skipped SciFact: {} is absent", shared.display()),
        }
        let pg = std::path::Path::new("/usr/share/doc/postgresql-doc-15/html");
        match std::fs::read_dir(pg) {
            Ok(entries) => {
                for entry in entries.flatten().step_by(4) {
                    if let Ok(bytes) = std::fs::read(entry.path()) {
                        texts.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
            Err(_) => eprintln!("skipped the PostgreSQL docs: {} is absent", pg.display()),
        }
        texts
    }

    #[test]
    fn fused_analyzer_gives_tantivys_tokens() {
        let mut ours = english();
        let mut theirs = reference();
        let texts = texts();
        let mut compared = 0;
        // Twice: the second pass is served from the stem cache.
        for _ in 0..2 {
            for text in &texts {
                let expected = all_tokens(&mut theirs, text);
                let got = all_tokens(&mut ours, text);
                assert_eq!(got.len(), expected.len(), "token count of {text:.200}");
                for (got, expected) in got.iter().zip(&expected) {
                    assert_eq!(
                        (&got.text, got.position, got.offset_from, got.offset_to),
                        (
                            &expected.text,
                            expected.position,
                            expected.offset_from,
                            expected.offset_to
                        ),
                        "in {text:.200}"
                    );
                }
                compared += got.len();
            }
        }
        assert!(compared > 0);
    }

    #[test]
    fn english_stems_folds_and_drops_stop_words() {
        assert_eq!(tokens("The Running Crème"), vec!["run", "creme"]);
        assert_eq!(tokens("iterators"), tokens("iterator"));
        assert!(tokens(&"x".repeat(41)).is_empty());
        assert_eq!(
            tokens("don't stop-words, 42x"),
            vec!["don", "t", "stop", "word", "42x"]
        );
    }

    #[test]
    fn other_scripts_are_searchable() {
        // Cyrillic and Korean: words, lower-cased, not stemmed as English.
        assert_eq!(tokens("Москва — столица"), vec!["москва", "столица"]);
        assert_eq!(
            tokens("서울은 한국의 수도"),
            vec!["서울은", "한국의", "수도"]
        );
        // Chinese: overlapping bigrams, so the word 大学 inside 北京大学 is found.
        assert_eq!(tokens("北京大学"), vec!["北京", "京大", "大学"]);
        // Japanese mixing kana, kanji and Latin; a lone ideograph stays a unigram.
        assert_eq!(
            tokens("東京タワー is 高い。猫"),
            vec!["東京", "京タ", "タワ", "ワー", "高い", "猫"]
        );
    }

    #[test]
    fn offsets_point_into_the_text() {
        let text = "Héllo 世界地図 the ok";
        let seen: Vec<(String, usize, &str)> = all_tokens(&mut english(), text)
            .into_iter()
            .map(|token| {
                (
                    token.text,
                    token.position,
                    &text[token.offset_from..token.offset_to],
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("hello".to_string(), 0, "Héllo"),
                ("世界".to_string(), 1, "世界"),
                ("界地".to_string(), 2, "界地"),
                ("地図".to_string(), 3, "地図"),
                // "the" is dropped but keeps its position.
                ("ok".to_string(), 5, "ok")
            ]
        );
    }
}
