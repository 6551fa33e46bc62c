//! The dictionary built with each generation: two `fst` maps the searcher uses for
//! autocomplete and did-you-mean.
//!
//! - `words.fst`: every word of the indexed documents (title, headings, body; lower-cased,
//!   not stemmed, so completions are real words) → the number of documents containing it.
//! - `titles.fst`: every document title, lower-cased → a weight from the page's static
//!   rank, so `/suggest` offers whole titles of important pages first.
//!
//! Both are rebuilt from exact counts: an update applies the word counts of the documents
//! it removes and adds, so its dictionary equals a full rebuild's.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use fst::automaton::Str;
use fst::{Automaton, IntoStreamer, Map, MapBuilder, Streamer};
use levenshtein_automata::LevenshteinAutomatonBuilder;

use crate::error::IndexError;

const WORDS_FILE: &str = "words.fst";
const TITLES_FILE: &str = "titles.fst";

/// Words shorter or longer than this (in characters) are not in the dictionary.
const WORD_CHARS: std::ops::RangeInclusive<usize> = 2..=40;
/// Titles are cut to this many bytes (at a character boundary) as keys.
const MAX_TITLE_BYTES: usize = 200;
/// Entries of one prefix range looked at when ranking completions: bounds the time of a
/// one-letter prefix on a large dictionary (its completions are then the best of the first
/// entries in key order rather than of all).
const MAX_SCANNED: usize = 50_000;

/// The distinct dictionary words of `text`, lower-cased: runs of letters and digits of
/// 2 to 40 characters that are not all digits.
pub fn dictionary_words(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| {
            WORD_CHARS.contains(&word.chars().count()) && !word.bytes().all(|b| b.is_ascii_digit())
        })
        .map(|word| {
            if word
                .bytes()
                .any(|b| !b.is_ascii() || b.is_ascii_uppercase())
            {
                Cow::Owned(word.to_lowercase())
            } else {
                Cow::Borrowed(word)
            }
        })
}

/// Word document frequencies being counted for a generation (in no order; the
/// dictionary file sorts them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WordCounts(HashMap<String, u64, foldhash::fast::RandomState>);

impl WordCounts {
    /// Counts one document's words (each word once) with `sign` +1 (added) or -1 (removed).
    pub fn apply(&mut self, texts: &[&str], added: bool) {
        let mut seen: HashSet<Cow<'_, str>, foldhash::fast::RandomState> = HashSet::default();
        for text in texts {
            seen.extend(dictionary_words(text));
        }
        for word in seen {
            if added {
                match self.0.get_mut(&*word) {
                    Some(count) => *count += 1,
                    None => {
                        self.0.insert(word.into_owned(), 1);
                    }
                }
            } else if let Some(count) = self.0.get_mut(&*word) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.0.remove(&*word);
                }
            }
        }
    }
}

/// A generation's dictionary, loaded in memory.
pub struct Dictionary {
    words: Map<Vec<u8>>,
    titles: Map<Vec<u8>>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("words", &self.words.len())
            .field("titles", &self.titles.len())
            .finish()
    }
}

/// A completion offered for a prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Completion {
    /// The completed text.
    pub text: String,
    /// `"title"` for a document title, `"word"` for a completed word.
    pub kind: &'static str,
}

impl Dictionary {
    /// Writes the dictionary files of a generation into `dir`.
    pub(crate) fn write(
        dir: &Path,
        words: &WordCounts,
        titles: &BTreeMap<String, u64>,
    ) -> Result<(), IndexError> {
        let mut sorted: Vec<(&String, u64)> = words.0.iter().map(|(k, v)| (k, *v)).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        write_map(&dir.join(WORDS_FILE), sorted.into_iter())?;
        write_map(&dir.join(TITLES_FILE), titles.iter().map(|(k, v)| (k, *v)))
    }

    /// Reads the word counts of the generation in `dir` back (an update continues them).
    pub(crate) fn read_counts(dir: &Path) -> Result<WordCounts, IndexError> {
        let words = read_map(&dir.join(WORDS_FILE))?;
        let mut counts = HashMap::default();
        let mut stream = words.stream();
        while let Some((key, value)) = stream.next() {
            counts.insert(String::from_utf8_lossy(key).into_owned(), value);
        }
        Ok(WordCounts(counts))
    }

    /// Loads the dictionary of the generation in `dir`; `None` when it has none (built by
    /// an older version).
    ///
    /// # Errors
    /// I/O errors and corrupt files.
    pub fn open(dir: &Path) -> Result<Option<Dictionary>, IndexError> {
        if !dir.join(WORDS_FILE).is_file() || !dir.join(TITLES_FILE).is_file() {
            return Ok(None);
        }
        Ok(Some(Dictionary {
            words: read_map(&dir.join(WORDS_FILE))?,
            titles: read_map(&dir.join(TITLES_FILE))?,
        }))
    }

    /// Distinct words.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// Documents containing `word` (any case).
    pub fn document_frequency(&self, word: &str) -> u64 {
        self.words.get(word.to_lowercase()).unwrap_or(0)
    }

    /// Up to `limit` completions of `input`: whole titles starting with it (heaviest
    /// first), then the input with its last word completed by the most frequent words.
    pub fn complete(&self, input: &str, limit: usize) -> Vec<Completion> {
        let lowered = input.trim_start().to_lowercase();
        if lowered.trim().is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut out: Vec<Completion> = top_by_weight(&self.titles, &lowered, limit)
            .into_iter()
            .map(|text| Completion {
                text,
                kind: "title",
            })
            .collect();
        let (head, last) = match lowered.rfind(char::is_whitespace) {
            Some(at) => lowered.split_at(at + 1),
            None => ("", lowered.as_str()),
        };
        if !last.is_empty() {
            for word in top_by_weight(&self.words, last, limit) {
                if out.len() >= limit {
                    break;
                }
                let text = format!("{head}{word}");
                if !out.iter().any(|known| known.text == text) {
                    out.push(Completion { text, kind: "word" });
                }
            }
        }
        out.truncate(limit);
        out
    }

    /// The best spelling correction of `word`: the most frequent dictionary word within
    /// edit distance 1 (2 for words of 8 characters or more) that is clearly more common
    /// than `word` itself. `None` for short words, numbers and words that look right.
    pub fn correct(&self, word: &str) -> Option<String> {
        let word = word.to_lowercase();
        let chars = word.chars().count();
        if !(3..=30).contains(&chars) || word.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let own = self.words.get(&word).unwrap_or(0);
        // A word the index does not know may be two edits off; one it knows (but rarely)
        // only one: the distance-1 automaton is much cheaper to walk over a large
        // dictionary, and the rare real word is usually a single slip of a common one.
        let distance = if chars >= 8 && own == 0 { 2 } else { 1 };
        let automaton = levenshtein_builder(distance).build_dfa(&word);
        let mut stream = self.words.search(&automaton).into_stream();
        let mut best: Option<(u64, String)> = None;
        while let Some((key, frequency)) = stream.next() {
            if key == word.as_bytes() {
                continue;
            }
            if best.as_ref().is_none_or(|(f, _)| frequency > *f) {
                best = Some((frequency, String::from_utf8_lossy(key).into_owned()));
            }
        }
        // A word the index does not know takes any correction; a known word only a much
        // more frequent one.
        best.filter(|(frequency, _)| own == 0 || *frequency > own.saturating_mul(4))
            .map(|(_, text)| text)
    }
}

/// The Levenshtein automaton builder of `distance` (1 or 2; a transposition counts as one
/// edit). Building one takes milliseconds, so each is built once per process; the DFA for a
/// word is then built in microseconds, unlike `fst`'s own Levenshtein, whose construction
/// grew to several milliseconds for long words at distance 2.
fn levenshtein_builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; 2] =
        [OnceLock::new(), OnceLock::new()];
    let slot = usize::from(distance.clamp(1, 2) - 1);
    BUILDERS[slot].get_or_init(|| LevenshteinAutomatonBuilder::new(slot as u8 + 1, true))
}

/// The `limit` heaviest keys starting with `prefix` (ties: shorter, then smaller first).
fn top_by_weight(map: &Map<Vec<u8>>, prefix: &str, limit: usize) -> Vec<String> {
    let automaton = Str::new(prefix).starts_with();
    let mut stream = map.search(automaton).into_stream();
    let mut found: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut scanned = 0;
    while let Some((key, weight)) = stream.next() {
        found.push((weight, key.to_vec()));
        scanned += 1;
        if found.len() > limit * 8 {
            found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
            found.truncate(limit);
        }
        if scanned >= MAX_SCANNED {
            break;
        }
    }
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.len().cmp(&b.1.len()))
            .then(a.1.cmp(&b.1))
    });
    found
        .into_iter()
        .take(limit)
        .map(|(_, key)| String::from_utf8_lossy(&key).into_owned())
        .collect()
}

/// The title key of a document title: lower-cased, whitespace-collapsed, cut.
pub(crate) fn title_key(title: &str) -> String {
    let mut key = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if key.len() > MAX_TITLE_BYTES {
        let mut end = MAX_TITLE_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

fn write_map<'a>(
    path: &Path,
    entries: impl Iterator<Item = (&'a String, u64)>,
) -> Result<(), IndexError> {
    let mut builder = MapBuilder::memory();
    for (key, value) in entries {
        builder.insert(key, value).map_err(|e| fst_error(path, e))?;
    }
    let bytes = builder.into_inner().map_err(|e| fst_error(path, e))?;
    crate::generation::write_durably(path, &bytes)
}

fn read_map(path: &Path) -> Result<Map<Vec<u8>>, IndexError> {
    let bytes = std::fs::read(path).map_err(IndexError::io(path))?;
    Map::new(bytes).map_err(|e| fst_error(path, e))
}

fn fst_error(path: &Path, error: fst::Error) -> IndexError {
    IndexError::CorruptMeta {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dictionary(docs: &[&str], titles: &[(&str, u64)]) -> Dictionary {
        let dir = tempfile::tempdir().unwrap();
        let mut counts = WordCounts::default();
        for doc in docs {
            counts.apply(&[doc], true);
        }
        let titles = titles
            .iter()
            .map(|(t, w)| (title_key(t), *w))
            .collect::<BTreeMap<_, _>>();
        Dictionary::write(dir.path(), &counts, &titles).unwrap();
        Dictionary::open(dir.path()).unwrap().unwrap()
    }

    #[test]
    fn words_count_documents_not_occurrences() {
        let mut counts = WordCounts::default();
        counts.apply(&["Borrow the borrow checker", "borrow 2024 x"], true);
        counts.apply(&["checker"], true);
        assert_eq!(counts.0.get("borrow"), Some(&1));
        assert_eq!(counts.0.get("checker"), Some(&2));
        assert_eq!(counts.0.get("2024"), None, "numbers are left out");
        assert_eq!(counts.0.get("x"), None, "one-letter words are left out");
        counts.apply(&["checker"], false);
        assert_eq!(counts.0.get("checker"), Some(&1));
        counts.apply(&["checker"], false);
        assert_eq!(counts.0.get("checker"), None);
    }

    #[test]
    fn completions_offer_titles_then_frequent_words() {
        let dict = dictionary(
            &[
                "prepared statements",
                "prepared transactions",
                "prepare",
                "present",
                "prepared",
            ],
            &[("PREPARE TRANSACTION", 5), ("Prepared   Statements", 9)],
        );
        let got = dict.complete("Prep", 4);
        let texts: Vec<&str> = got.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "prepared statements",
                "prepare transaction",
                "prepared",
                "prepare"
            ]
        );
        assert_eq!(got[0].kind, "title");
        assert_eq!(got[2].kind, "word");
        let got = dict.complete("using pres", 3);
        assert_eq!(got[0].text, "using present");
        assert!(dict.complete("   ", 3).is_empty());
        assert!(dict.complete("zzz", 3).is_empty());
    }

    #[test]
    fn corrections_prefer_frequent_words_within_an_edit_or_two() {
        let mut docs = vec!["postgresql replication"; 10];
        docs.push("postgersql");
        docs.push("replicaton");
        let dict = dictionary(&docs, &[]);
        assert_eq!(dict.correct("postgersql").as_deref(), Some("postgresql"));
        assert_eq!(dict.correct("Replicaton").as_deref(), Some("replication"));
        // An unknown long word may be two edits off; a known rare one only one (here a
        // transposition, which counts as one edit).
        assert_eq!(dict.correct("rplicaton").as_deref(), Some("replication"));
        assert_eq!(dict.correct("postgesrql").as_deref(), Some("postgresql"));
        assert_eq!(dict.correct("replication"), None, "already right");
        assert_eq!(dict.correct("zq"), None, "too short");
        assert_eq!(dict.correct("unknownword"), None, "nothing close");
    }
}
