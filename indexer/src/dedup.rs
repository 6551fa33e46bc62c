//! Duplicate collapse: pages whose text is identical (content hash) or nearly so (simhash
//! over word shingles within a Hamming distance) become one document, kept under the best
//! URL; the others are recorded as its aliases.
//!
//! It runs before indexing, on the latest fetch of every URL, so it sees exactly the pages
//! the index would otherwise serve, and aliases never take space in the index.

use std::collections::HashMap;

/// FNV-1a 64 of the indexed text: stable across builds and Rust versions. `None` for a
/// page without text (empty pages are not duplicates of each other in any useful sense).
pub fn content_hash(title: &str, body: &str) -> Option<u64> {
    if body.trim().is_empty() {
        return None;
    }
    Some(fnv(title.bytes().chain([0u8]).chain(body.bytes())))
}

pub(crate) fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(FNV_OFFSET, fnv_step)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Words per shingle.
const SHINGLE: usize = 3;

/// Charikar's simhash of the body: every 3-word shingle (lower-cased) votes on each of 64
/// bits. Pages that differ in a few words are a few bits apart. `None` for bodies too
/// short to compare (fewer than 8 words: navigation stubs would all look alike).
pub fn simhash(body: &str) -> Option<u64> {
    // The lower-cased words one after another, and where each ends: one buffer for the
    // page, not a string per word and per shingle.
    let mut text = String::with_capacity(body.len());
    let mut ends = Vec::new();
    for word in body.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        if word.is_ascii() {
            let start = text.len();
            text.push_str(word);
            text[start..].make_ascii_lowercase();
        } else {
            text.push_str(&word.to_lowercase());
        }
        ends.push(text.len());
    }
    if ends.len() < 8 {
        return None;
    }
    let bytes = text.as_bytes();
    let start = |word: usize| if word == 0 { 0 } else { ends[word - 1] };
    let mut votes = [0i32; 64];
    for first in 0..=ends.len() - SHINGLE {
        // The FNV-1a hash of the shingle's words joined by spaces.
        let mut hash = FNV_OFFSET;
        for word in first..first + SHINGLE {
            if word > first {
                hash = fnv_step(hash, b' ');
            }
            for &byte in &bytes[start(word)..ends[word]] {
                hash = fnv_step(hash, byte);
            }
        }
        for (bit, vote) in votes.iter_mut().enumerate() {
            *vote += ((hash >> bit) & 1) as i32 * 2 - 1;
        }
    }
    Some(fingerprint(&votes))
}

/// The bits whose shingles voted more for 1 than for 0.
fn fingerprint(votes: &[i32; 64]) -> u64 {
    votes
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .fold(0u64, |acc, (bit, _)| acc | 1 << bit)
}

/// Orders candidates so the best one to keep comes first: highest static rank, then no
/// query string, then shorter, then lexicographically smaller (a stable tie-break).
fn keep_order(candidate: &Candidate) -> (std::cmp::Reverse<u64>, bool, usize, &str) {
    let url = candidate.url.as_str();
    // Ranks are compared on a coarse grid so float noise never decides.
    let rank = (candidate.rank * 1000.0).round().max(0.0) as u64;
    (std::cmp::Reverse(rank), url.contains('?'), url.len(), url)
}

/// One page that may be a duplicate.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Its URL.
    pub url: String,
    /// Exact content hash.
    pub hash: Option<u64>,
    /// Near-duplicate fingerprint.
    pub simhash: Option<u64>,
    /// Static rank (higher is better).
    pub rank: f64,
}

/// Union-find over candidate indexes.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// For every candidate, the index of the candidate it collapses into (itself when kept).
/// Exact duplicates share a content hash; near-duplicates have simhashes at most
/// `max_distance` bits apart (0 turns near-duplicate detection off). Candidates are
/// bucketed by `max_distance + 1` bit blocks (two hashes within the distance share at
/// least one block exactly, by pigeonhole), so only bucket mates are compared.
pub(crate) fn duplicates(candidates: &[Candidate], max_distance: u32) -> Vec<usize> {
    let mut groups = Groups((0..candidates.len()).collect());
    let mut exact: HashMap<u64, usize> = HashMap::new();
    for (i, candidate) in candidates.iter().enumerate() {
        if let Some(hash) = candidate.hash {
            match exact.get(&hash) {
                Some(&first) => groups.union(first, i),
                None => {
                    exact.insert(hash, i);
                }
            }
        }
    }
    if max_distance > 0 {
        let blocks = (max_distance + 1).min(64);
        let width = 64 / blocks;
        let mut buckets: HashMap<(u32, u64), Vec<usize>> = HashMap::new();
        for (i, candidate) in candidates.iter().enumerate() {
            let Some(sim) = candidate.simhash else {
                continue;
            };
            for block in 0..blocks {
                let shift = block * width;
                let bits = if block == blocks - 1 {
                    64 - shift
                } else {
                    width
                };
                let mask = if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                buckets
                    .entry((block, sim >> shift & mask))
                    .or_default()
                    .push(i);
            }
        }
        for members in buckets.values() {
            // A bucket holding thousands of pages is a template, not a duplicate set:
            // compare within a window to stay linear.
            for (k, &a) in members.iter().enumerate() {
                for &b in members.iter().skip(k + 1).take(64) {
                    let (Some(x), Some(y)) = (candidates[a].simhash, candidates[b].simhash) else {
                        continue;
                    };
                    if (x ^ y).count_ones() <= max_distance {
                        groups.union(a, b);
                    }
                }
            }
        }
    }
    // Pick the best member of each group as its representative.
    let mut best: HashMap<usize, usize> = HashMap::new();
    for i in 0..candidates.len() {
        let root = groups.find(i);
        let entry = best.entry(root).or_insert(i);
        if keep_order(&candidates[i]) < keep_order(&candidates[*entry]) {
            *entry = i;
        }
    }
    (0..candidates.len())
        .map(|i| best[&groups.find(i)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(url: &str, body: &str, rank: f64) -> Candidate {
        Candidate {
            url: url.to_string(),
            hash: content_hash("", body),
            simhash: simhash(body),
            rank,
        }
    }

    #[test]
    fn hash_is_stable_and_separates_title_from_body() {
        assert_eq!(content_hash("t", "body"), content_hash("t", "body"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
        assert_eq!(content_hash("title", "  "), None);
        // Pinned value (FNV-1a 64 of the bytes 0x00 0x61, checked with Python): it must not change.
        assert_eq!(content_hash("", "a"), Some(0x0832_6707_b4eb_37da));
    }

    /// The first, allocating simhash: the fingerprints are kept in the indexer's state, so
    /// the faster one must give exactly the same.
    fn reference_simhash(body: &str) -> Option<u64> {
        let words: Vec<String> = body
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.len() < 8 {
            return None;
        }
        let mut votes = [0i32; 64];
        for shingle in words.windows(SHINGLE) {
            let hash = fnv(shingle.join(" ").into_bytes());
            for (bit, vote) in votes.iter_mut().enumerate() {
                *vote += if hash >> bit & 1 == 1 { 1 } else { -1 };
            }
        }
        Some(fingerprint(&votes))
    }

    #[test]
    fn simhash_is_the_reference_fingerprint() {
        let mut texts = vec![
            TEXT.to_string(),
            "ΣΊΣΥΦΟΣ Straße İstanbul ǅ ﬁnance 北京大学 Москва столица one two three four".into(),
            "a b c d e f g".into(),
            "a b c d e f g h".into(),
        ];
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/ir/beir-scifact/corpus.jsonl");
        match std::fs::read_to_string(&shared) {
            Ok(corpus) => texts.extend(corpus.lines().take(2_000).map(str::to_string)),
            Err(_) => eprintln!("skipped SciFact: {} is absent", shared.display()),
        }
        for text in &texts {
            assert_eq!(simhash(text), reference_simhash(text), "{text:.200}");
        }
        assert_eq!(simhash("a b c d e f g"), None);
        assert!(simhash("a b c d e f g h").is_some());
    }

    const TEXT: &str = "Glaciers are slow rivers of ice that carve valleys, leave moraines \
        behind and store most of the fresh water on Earth. They advance in cold years and \
        retreat when summers are warm, and their layers keep a record of past climates.";

    #[test]
    fn near_duplicates_are_few_bits_apart_and_different_pages_are_not() {
        let a = simhash(TEXT).unwrap();
        let b = simhash(&TEXT.replace("cold years", "cold winters")).unwrap();
        let c = simhash("Sourdough bread rises because wild yeast and lactic bacteria ferment the dough; a hot oven gives the crust its colour and the crumb its holes.").unwrap();
        assert!((a ^ b).count_ones() <= 12, "{}", (a ^ b).count_ones());
        assert!((a ^ c).count_ones() > 20, "{}", (a ^ c).count_ones());
        assert_eq!(simhash("too short"), None);
    }

    #[test]
    fn duplicates_collapse_into_the_best_url() {
        let edited = TEXT.replace("cold years", "cold winters");
        let distance = (simhash(TEXT).unwrap() ^ simhash(&edited).unwrap()).count_ones();
        let candidates = vec![
            candidate("http://a.test/glaciers?print=1", TEXT, 1.0),
            candidate("http://a.test/glaciers", TEXT, 1.0),
            candidate("http://a.test/g", &edited, 0.5),
            candidate(
                "http://a.test/bread",
                "Sourdough bread rises because wild yeast and lactic bacteria ferment the dough well.",
                1.0,
            ),
            candidate("http://a.test/home", TEXT, 3.0),
        ];
        // Exact only: the three identical texts collapse into the highest-ranked URL.
        let exact = duplicates(&candidates, 0);
        assert_eq!(exact, vec![4, 4, 2, 3, 4]);
        // With near-duplicates: the edited copy joins them.
        let near = duplicates(&candidates, distance);
        assert_eq!(near, vec![4, 4, 4, 3, 4]);
    }
}
