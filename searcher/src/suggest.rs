//! Autocomplete and did-you-mean from the generation's `fst` dictionary (see
//! `quarry_indexer::Dictionary`).

use quarry_indexer::Dictionary;

/// The longest prefix `/suggest` completes, in characters (longer input is cut).
pub const MAX_PREFIX_CHARS: usize = 100;
/// Most completions one `/suggest` call returns.
pub const MAX_SUGGESTIONS: usize = 20;

/// One completion offered by `/suggest`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The completed query text (lower case).
    pub text: String,
    /// `"title"`: the title of an indexed page; `"word"`: the input with its last word
    /// completed by a frequent word of the index.
    pub kind: String,
}

/// The answer of `/suggest`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SuggestResponse {
    /// The prefix as received.
    pub query: String,
    /// Completions, best first.
    pub suggestions: Vec<Suggestion>,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
    /// The index generation that answered.
    pub generation: String,
}

/// Up to `limit` completions of `prefix` (cut to [`MAX_PREFIX_CHARS`]).
pub fn complete(dictionary: Option<&Dictionary>, prefix: &str, limit: usize) -> Vec<Suggestion> {
    let Some(dictionary) = dictionary else {
        return Vec::new();
    };
    let prefix: String = prefix.chars().take(MAX_PREFIX_CHARS).collect();
    dictionary
        .complete(&prefix, limit.min(MAX_SUGGESTIONS))
        .into_iter()
        .map(|completion| Suggestion {
            text: completion.text,
            kind: completion.kind.to_string(),
        })
        .collect()
}

/// Rewrites `query` with each plain word the dictionary can correct replaced by its
/// correction; `None` when nothing changes. Operators (`-`, quotes, `OR`, `field:`) and
/// their words are kept as typed.
pub fn corrected_query(dictionary: &Dictionary, query: &str) -> Option<String> {
    let mut changed = false;
    let mut in_phrase = false;
    let words: Vec<String> = query
        .split_whitespace()
        .map(|token| {
            let quotes = token.matches('"').count();
            let plain = !in_phrase
                && quotes == 0
                && token != "OR"
                && !token.starts_with('-')
                && !token.contains(':')
                && token.chars().all(char::is_alphanumeric);
            if quotes % 2 == 1 {
                in_phrase = !in_phrase;
            }
            if plain && let Some(fixed) = dictionary.correct(token) {
                changed = true;
                return fixed;
            }
            token.to_string()
        })
        .collect();
    changed.then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
    use std::time::SystemTime;

    fn dictionary() -> (tempfile::TempDir, Dictionary) {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open(&dir.path().join("pages")).unwrap();
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        for i in 0..5 {
            writer
                .append(&PageRecord {
                    url: format!("http://a.test/{i}"),
                    fetched_at: SystemTime::now(),
                    status: 200,
                    headers: vec![("Content-Type".into(), "text/html".into())],
                    body: format!(
                        "<title>Replication {i}</title><p>streaming replication slots \
                         and logical decoding page {i}</p>"
                    )
                    .into_bytes(),
                    ip: None,
                    request_headers: Vec::new(),
                })
                .unwrap();
        }
        writer.sync().unwrap();
        let index = dir.path().join("index");
        let stats = quarry_indexer::rebuild(&store, &index, &Default::default()).unwrap();
        let layout = quarry_indexer::IndexLayout::new(&index);
        let dictionary = Dictionary::open(&layout.generation_dir(stats.generation))
            .unwrap()
            .unwrap();
        (dir, dictionary)
    }

    #[test]
    fn plain_words_are_corrected_operators_kept() {
        let (_dir, dictionary) = dictionary();
        assert_eq!(
            corrected_query(&dictionary, "streamng replicaton").as_deref(),
            Some("streaming replication")
        );
        assert_eq!(
            corrected_query(
                &dictionary,
                "-replicaton \"logicl decoding\" site:a.test slotz"
            )
            .as_deref(),
            Some("-replicaton \"logicl decoding\" site:a.test slots")
        );
        assert_eq!(corrected_query(&dictionary, "replication slots"), None);
    }
}
