//! Exact-duplicate collapse: pages whose title and body text are identical become one
//! document, kept under the best URL; the others are recorded as its aliases.
//!
//! It runs on the committed generation, after the latest fetch of every URL has won, so
//! it sees exactly the pages the index would otherwise serve. Near-duplicates (simhash)
//! are not collapsed yet.

use std::collections::HashMap;

use tantivy::schema::Value;
use tantivy::{DocAddress, Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::IndexError;
use crate::schema::Fields;

/// FNV-1a 64 of the indexed text: stable across builds and Rust versions. `None` for a
/// page without text (empty pages are not duplicates of each other in any useful sense).
pub fn content_hash(title: &str, body: &str) -> Option<u64> {
    if body.trim().is_empty() {
        return None;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in title.bytes().chain([0u8]).chain(body.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Some(hash)
}

/// Orders URLs so the best one to keep comes first: no query string, then shorter, then
/// lexicographically smaller (a stable tie-break).
fn keep_order(url: &str) -> (bool, usize, &str) {
    (url.contains('?'), url.len(), url)
}

/// What collapsing did.
#[derive(Debug, Default)]
pub(crate) struct Collapsed {
    /// (alias URL, URL kept) for every removed duplicate.
    pub aliases: Vec<(String, String)>,
}

/// Deletes every document whose content hash equals that of a document with a better URL.
/// The caller commits.
pub(crate) fn collapse_duplicates(
    index: &Index,
    writer: &IndexWriter<TantivyDocument>,
    fields: Fields,
) -> Result<Collapsed, IndexError> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let searcher = reader.searcher();
    let mut groups: HashMap<u64, Vec<DocAddress>> = HashMap::new();
    for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
        let hashes = segment.fast_fields().u64("content_hash")?;
        for doc in segment.doc_ids_alive() {
            if let Some(hash) = hashes.first(doc) {
                groups
                    .entry(hash)
                    .or_default()
                    .push(DocAddress::new(ordinal as u32, doc));
            }
        }
    }
    let mut collapsed = Collapsed::default();
    for addresses in groups.into_values().filter(|group| group.len() > 1) {
        let mut urls = Vec::with_capacity(addresses.len());
        for address in addresses {
            let document: TantivyDocument = searcher.doc(address)?;
            if let Some(url) = document.get_first(fields.url).and_then(|v| v.as_str()) {
                urls.push(url.to_string());
            }
        }
        urls.sort_by(|a, b| keep_order(a).cmp(&keep_order(b)));
        let mut urls = urls.into_iter();
        let Some(kept) = urls.next() else { continue };
        for alias in urls {
            writer.delete_term(Term::from_field_text(fields.url, &alias));
            collapsed.aliases.push((alias, kept.clone()));
        }
    }
    collapsed.aliases.sort();
    Ok(collapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_title_from_body() {
        assert_eq!(content_hash("t", "body"), content_hash("t", "body"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
        assert_eq!(content_hash("title", "  "), None);
        // Pinned value (FNV-1a 64 of the bytes 0x00 0x61, checked with Python): it must not change.
        assert_eq!(content_hash("", "a"), Some(0x0832_6707_b4eb_37da));
    }

    #[test]
    fn the_plainest_url_is_kept() {
        let mut urls = [
            "http://a.test/page?highlight=x",
            "http://a.test/a/long/page.html",
            "http://a.test/page",
        ];
        urls.sort_by(|a, b| keep_order(a).cmp(&keep_order(b)));
        assert_eq!(urls[0], "http://a.test/page");
        assert_eq!(urls[2], "http://a.test/page?highlight=x");
    }
}
