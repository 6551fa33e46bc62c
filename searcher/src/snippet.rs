//! Snippets: the passage of the body that best matches the query, with matches wrapped in
//! `<mark>` and everything else HTML-escaped.

use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::{Searcher, TantivyDocument};

/// Target snippet length in characters.
pub const SNIPPET_CHARS: usize = 220;

/// Only this much of the start of a body is searched for the best passage, in bytes.
/// Cutting a snippet analyzes the whole text it is given: a search whose one hit is a
/// 486 KB page took 100–120 ms with the whole body and 40–60 ms with this cap
/// (`snippets_of_huge_pages_are_short_and_fast` in `tests/engine.rs`, dev profile). A
/// match further in than this gets the leading passage instead.
pub const SNIPPET_SOURCE_BYTES: usize = 200_000;

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
pub struct Snippets {
    generator: Option<SnippetGenerator>,
    body: Field,
}

impl Snippets {
    /// Prepares snippets for `query` over the `body` field.
    pub fn new(searcher: &Searcher, query: &dyn Query, body: Field) -> Snippets {
        let generator =
            SnippetGenerator::create(searcher, query, body)
                .ok()
                .map(|mut generator| {
                    generator.set_max_num_chars(SNIPPET_CHARS);
                    generator
                });
        Snippets { generator, body }
    }

    /// The highlighted snippet for `document`; when the body has no match (e.g. only the
    /// title matched) the start of the body, escaped.
    pub fn for_document(&self, document: &TantivyDocument) -> String {
        let body = document
            .get_first(self.body)
            .and_then(|value| tantivy::schema::Value::as_str(&value))
            .unwrap_or("");
        if let Some(generator) = &self.generator {
            let mut snippet = generator.snippet(prefix(body, SNIPPET_SOURCE_BYTES));
            if !snippet.fragment().trim().is_empty() && !snippet.highlighted().is_empty() {
                snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
                // Bodies separate blocks with newlines; a snippet is one line.
                return snippet.to_html().trim().replace('\n', " ");
            }
        }
        leading_passage(body)
    }
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary.
fn prefix(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
}
