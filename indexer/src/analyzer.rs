//! The one place that decides how text fields are analysed.

use tantivy::Index;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

/// Name of the English analyzer: split on non-alphanumerics, drop tokens over
/// [`MAX_TOKEN_BYTES`], lower-case, fold accents to ASCII, drop English stop words, stem.
pub const ANALYZER_EN: &str = "quarry_en";

/// Tokens longer than this (in bytes) are dropped: they are almost always junk (base64, hashes).
const MAX_TOKEN_BYTES: usize = 40;

/// Builds the English analyzer (see [`ANALYZER_EN`]).
fn english() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
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
    }
}
