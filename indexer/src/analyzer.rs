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
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
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

/// Whether `c` is part of a word of a spaced script: [`ScriptTokenizer`] splits such text
/// into maximal runs of these characters.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_unspaced_script(c)
}

/// Splits text into alphanumeric words; runs of [`is_unspaced_script`] characters become
/// overlapping bigrams (a lone character stays a unigram).
#[derive(Debug, Clone, Default)]
pub struct ScriptTokenizer {
    /// The tokens of the last text (the first `len`); the rest keep their allocations for
    /// the next text, so tokenizing allocates only for texts longer than any before.
    tokens: Vec<Token>,
    len: usize,
}

/// The tokens of one text, handed out one by one.
#[derive(Debug)]
pub struct ScriptTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl TokenStream for ScriptTokenStream<'_> {
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

impl ScriptTokenizer {
    fn push(&mut self, text: &str, from: usize, to: usize) {
        let position = self.len;
        if let Some(token) = self.tokens.get_mut(position) {
            token.offset_from = from;
            token.offset_to = to;
            token.position = position;
            token.position_length = 1;
            token.text.clear();
            token.text.push_str(&text[from..to]);
        } else {
            self.tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: text[from..to].to_string(),
                position_length: 1,
            });
        }
        self.len += 1;
    }

    fn tokenize(&mut self, text: &str) {
        self.len = 0;
        // A huge text once should not pin its token buffers forever.
        self.tokens.truncate(1 << 16);
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
                    self.push(text, start, start + only.len_utf8());
                } else {
                    for pair in run.windows(2) {
                        let (from, _) = pair[0];
                        let (last, c) = pair[1];
                        self.push(text, from, last + c.len_utf8());
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
                self.push(text, start, end);
            }
        }
    }
}

impl Tokenizer for ScriptTokenizer {
    type TokenStream<'a> = ScriptTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ScriptTokenStream<'a> {
        self.tokenize(text);
        ScriptTokenStream {
            tokens: &mut self.tokens[..self.len],
            next: 0,
        }
    }
}

/// Tokens longer than this (in bytes) are dropped: they are almost always junk (base64, hashes).
const MAX_TOKEN_BYTES: usize = 40;

/// Words whose stems an analyzer remembers, at most (then it starts over).
const STEM_CACHE: usize = 50_000;

/// English stemming (tantivy's `Stemmer`: the same Snowball algorithm, through the same
/// `frostem` crate) that remembers the stems of the words it has seen. Word frequencies
/// follow Zipf's law, so most tokens of a corpus are words met before: the cache took
/// stemming from a quarter of the indexing time to a few per cent.
#[derive(Clone)]
struct CachedStemmer;

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            inner: tokenizer,
            cache: HashMap::default(),
        }
    }
}

#[derive(Clone)]
struct CachedStemmerFilter<T> {
    inner: T,
    cache: HashMap<String, String, foldhash::fast::RandomState>,
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
            cache: &mut self.cache,
        }
    }
}

struct CachedStemmerStream<'a, T> {
    tail: T,
    cache: &'a mut HashMap<String, String, foldhash::fast::RandomState>,
}

impl<T: TokenStream> TokenStream for CachedStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if let Some(stem) = self.cache.get(&token.text) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stem = frostem::Stemmer::new(frostem::Algorithm::English)
            .stem(&token.text)
            .into_owned();
        if self.cache.len() >= STEM_CACHE {
            self.cache.clear();
        }
        let word = std::mem::replace(&mut token.text, stem.clone());
        self.cache.insert(word, stem);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Builds the English analyzer (see [`ANALYZER_EN`]).
fn english() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(ScriptTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder.filter(stop_words).filter(CachedStemmer).build(),
        None => builder.filter(CachedStemmer).build(),
    }
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

    #[test]
    fn cached_stems_are_tantivys_stems() {
        let mut ours = english();
        let mut theirs = TextAnalyzer::builder(ScriptTokenizer::default())
            .filter(tantivy::tokenizer::Stemmer::new(Language::English))
            .build();
        let text = "running runs ran iterators iterator generalizations happily happily \
                    connection connections connected connecting caresses ponies ties";
        // Twice: the second pass is served from the cache.
        for _ in 0..2 {
            let mut a = ours.token_stream(text);
            let mut b = theirs.token_stream(text);
            while b.advance() {
                assert!(a.advance());
                assert_eq!(a.token().text, b.token().text);
            }
            assert!(!a.advance());
        }
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
        let text = "héllo 世界地図 ok";
        let mut tokenizer = ScriptTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let token = stream.token();
            assert_eq!(&text[token.offset_from..token.offset_to], token.text);
            seen.push((token.text.clone(), token.position));
        }
        assert_eq!(
            seen,
            vec![
                ("héllo".to_string(), 0),
                ("世界".to_string(), 1),
                ("界地".to_string(), 2),
                ("地図".to_string(), 3),
                ("ok".to_string(), 4)
            ]
        );
    }
}
