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

use tantivy::Index;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter,
    TextAnalyzer, Token, TokenStream, Tokenizer,
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
    tokens: Vec<Token>,
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
        let position = self.tokens.len();
        self.tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: text[from..to].to_string(),
            position_length: 1,
        });
    }

    fn tokenize(&mut self, text: &str) {
        self.tokens.clear();
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
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// Tokens longer than this (in bytes) are dropped: they are almost always junk (base64, hashes).
const MAX_TOKEN_BYTES: usize = 40;

/// Builds the English analyzer (see [`ANALYZER_EN`]).
fn english() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(ScriptTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder
            .filter(stop_words)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
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
