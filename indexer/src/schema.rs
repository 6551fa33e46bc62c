//! The tantivy schema of a Quarry index.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::analyzer::ANALYZER_EN;
use crate::error::IndexError;

/// The fields of a Quarry document.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Canonical URL of the page; untokenized, stored. One document per URL.
    pub url: Field,
    /// Host name of the URL (lower case); untokenized, stored, fast.
    pub host: Field,
    /// The host and each of its parent domains (`docs.example.org`, `example.org`, `org`),
    /// one raw token each; indexed only. A `site:example.org` query is one term lookup
    /// that also finds subdomains.
    pub site: Field,
    /// The words of the URL, analyzed like text but without positions; indexed only, for
    /// `url:` queries.
    pub url_terms: Field,
    /// `<title>` text (or the first heading); analyzed with positions, stored.
    pub title: Field,
    /// `h1`–`h3` text; analyzed with positions.
    pub headings: Field,
    /// Visible body text without boilerplate; analyzed with positions, stored (compressed)
    /// for snippets.
    pub body: Field,
    /// When the page was fetched; stored, fast.
    pub fetched_at: Field,
    /// Hash of the indexed title and body (exact-duplicate detection); fast, stored.
    pub content_hash: Field,
    /// The text of every in-scope link pointing at the page, one distinct anchor per line;
    /// analyzed with frequencies (no positions: phrase queries do not need it).
    pub anchors: Field,
    /// Language: the page's `<html lang>` primary subtag, else detected (`en`, `ru`, …);
    /// untokenized, stored, fast.
    pub lang: Field,
    /// Static rank of the page: PageRank over the page graph, average 1; fast, stored.
    pub page_rank: Field,
    /// Static rank of its host: PageRank over the host graph, average 1; fast, stored.
    pub host_rank: Field,
}

fn text(stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER_EN)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

/// The values of the [`Fields::site`] field for `host`: the host itself and every parent
/// domain, longest first (`a.b.c` → `a.b.c`, `b.c`, `c`). Empty for an empty host.
pub fn host_suffixes(host: &str) -> impl Iterator<Item = &str> {
    let host = host.trim_end_matches('.');
    let starts = std::iter::once(0).chain(host.match_indices('.').map(|(dot, _)| dot + 1));
    starts
        .map(move |start| &host[start..])
        .filter(|suffix| !suffix.is_empty() && !suffix.starts_with('.'))
}

/// Builds the schema and returns it with its fields.
pub fn build_schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        url: builder.add_text_field("url", STRING | STORED),
        host: builder.add_text_field("host", STRING | STORED | FAST),
        site: builder.add_text_field("site", STRING),
        url_terms: builder.add_text_field(
            "url_terms",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER_EN)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
        title: builder.add_text_field("title", text(true)),
        headings: builder.add_text_field("headings", text(false)),
        body: builder.add_text_field("body", text(true)),
        fetched_at: builder.add_date_field("fetched_at", INDEXED | STORED | FAST),
        content_hash: builder.add_u64_field("content_hash", INDEXED | STORED | FAST),
        anchors: builder.add_text_field(
            "anchors",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER_EN)
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        ),
        lang: builder.add_text_field("lang", STRING | STORED | FAST),
        page_rank: builder.add_f64_field("page_rank", STORED | FAST),
        host_rank: builder.add_f64_field("host_rank", STORED | FAST),
    };
    (builder.build(), fields)
}

impl Fields {
    /// Looks the fields up by name in the schema of an existing index.
    ///
    /// # Errors
    /// [`IndexError::SchemaMismatch`] when a field is missing: the index was built by an
    /// incompatible version and must be rebuilt.
    pub fn from_schema(schema: &Schema) -> Result<Fields, IndexError> {
        let get = |name: &'static str| {
            schema
                .get_field(name)
                .map_err(|_| IndexError::SchemaMismatch { field: name })
        };
        Ok(Fields {
            url: get("url")?,
            host: get("host")?,
            site: get("site")?,
            url_terms: get("url_terms")?,
            title: get("title")?,
            headings: get("headings")?,
            body: get("body")?,
            fetched_at: get("fetched_at")?,
            content_hash: get("content_hash")?,
            anchors: get("anchors")?,
            lang: get("lang")?,
            page_rank: get("page_rank")?,
            host_rank: get("host_rank")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_suffixes_are_the_host_and_its_parents() {
        let all: Vec<&str> = host_suffixes("docs.example.org").collect();
        assert_eq!(all, vec!["docs.example.org", "example.org", "org"]);
        assert_eq!(
            host_suffixes("localhost").collect::<Vec<_>>(),
            vec!["localhost"]
        );
        assert_eq!(host_suffixes("").count(), 0);
        assert_eq!(
            host_suffixes("a..b.").collect::<Vec<_>>(),
            vec!["a..b", "b"]
        );
    }
}
