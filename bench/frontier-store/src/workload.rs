//! Deterministic workload: URL keys and queue entries derived from a fixed seed.

/// Seed for every random choice in the bench (URLs, lookup mix, due times, kill moments).
pub const SEED: u64 = 0x5155_4152_5259_2026; // "QUARRY" + year

const WORDS: &[&str] = &[
    "about",
    "archive",
    "article",
    "blog",
    "catalog",
    "category",
    "contact",
    "docs",
    "download",
    "events",
    "faq",
    "forum",
    "gallery",
    "guide",
    "help",
    "history",
    "index",
    "jobs",
    "legal",
    "library",
    "login",
    "media",
    "members",
    "news",
    "photos",
    "policy",
    "press",
    "products",
    "profile",
    "projects",
    "recipes",
    "reports",
    "research",
    "reviews",
    "search",
    "services",
    "shop",
    "sitemap",
    "sports",
    "store",
    "support",
    "tags",
    "team",
    "topics",
    "travel",
    "tutorials",
    "updates",
    "videos",
    "weather",
    "wiki",
];

/// Number of distinct hosts the URLs are spread over.
pub const HOSTS: u64 = 5000;

/// SplitMix64: tiny, fast, seedable, and good enough for workload generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform-ish value in `0..bound` (modulo bias is irrelevant here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th URL of the workload. Pure function of `i` (and [`SEED`]), so any key can be
/// regenerated without keeping a million strings in memory. Distinct `i` give distinct URLs.
///
/// Shape: `https://host{h}.example/path/{word}/{word}[/{word}]/{i}?q={i}`, about 60–90 bytes.
pub fn url(i: u64) -> String {
    let h = mix(SEED ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let host = h % HOSTS;
    let word = |shift: u32| WORDS[((h >> shift) % WORDS.len() as u64) as usize];
    let mut url = format!("https://host{host}.example/path/{}/{}", word(16), word(24));
    if (h >> 40) & 1 == 1 {
        url.push('/');
        url.push_str(word(32));
    }
    url.push_str(&format!("/{i}?q={i}"));
    url
}

/// URLs `first..first + count`.
pub fn url_batch(first: u64, count: u64) -> Vec<String> {
    (first..first + count).map(url).collect()
}

/// One entry of the per-host ready queue, ordered by `(due_ms, seq)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub due_ms: u64,
    pub seq: u64,
    pub url: String,
}

/// Base of the simulated clock for queue due times (2026-01-01T00:00:00Z in ms).
const EPOCH_MS: u64 = 1_767_225_600_000;

/// Queue entries `first..first + count`: due within one hour of [`EPOCH_MS`], in random order.
pub fn queue_batch(rng: &mut Rng, first: u64, count: u64) -> Vec<QueueItem> {
    (first..first + count)
        .map(|seq| QueueItem {
            due_ms: EPOCH_MS + rng.below(3_600_000),
            seq,
            url: url(seq),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_deterministic_distinct_and_sized() {
        assert_eq!(url(42), url(42));
        assert_ne!(url(1), url(2));
        let lens: Vec<usize> = (0..100_000).map(|i| url(i).len()).collect();
        let avg = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        assert!((55.0..95.0).contains(&avg), "average length {avg}");
    }
}
