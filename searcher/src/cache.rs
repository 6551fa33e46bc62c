//! A bounded cache of recent search responses, least recently used evicted first.
//!
//! Invariant: a key names the index generation that produced the response, so an entry can
//! never answer for another generation; the engine also clears the cache when it switches
//! generations, so stale entries do not hold memory. Only successful responses are cached.
//!
//! Memory: at most `capacity` responses of at most [`MAX_LIMIT`](crate::MAX_LIMIT) hits
//! each; with the default 1,024 entries of 10 hits that is a few megabytes.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::engine::{SearchRequest, SearchResponse};

/// Entries kept by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// What identifies a cached response: the generation that answered and every field of
/// the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    generation: String,
    request: String,
}

impl CacheKey {
    /// The key of `request` answered by `generation` (its display name, `gen-000001`).
    pub(crate) fn new(generation: &str, request: &SearchRequest) -> CacheKey {
        // The derived `Debug` lists every field, including options added later, so a new
        // request option can never be forgotten in the key (a derived `Hash` would need
        // every field hashable, which scores are not).
        CacheKey {
            generation: generation.to_string(),
            request: format!("{request:?}"),
        }
    }
}

/// A response the result cache holds, with its JSON written once.
///
/// A cache hit differs from the response it repeats only in `took_ms` and
/// `index_bytes_read`, the first two fields of the JSON; the rest is kept as bytes, so a
/// hit costs a copy instead of a clone and a serialization of every hit (a third of the
/// CPU of a cached answer before).
#[derive(Debug)]
pub(crate) struct CachedAnswer {
    response: SearchResponse,
    /// The response's JSON after `{"took_ms":…,"index_bytes_read":…`, or `None` if it
    /// did not start so (then a hit serializes the response itself).
    json_tail: Option<Vec<u8>>,
}

/// What the JSON of a response with `took_ms` 0 and `index_bytes_read` 0 starts with.
const JSON_HEAD: &[u8] = br#"{"took_ms":0.0,"index_bytes_read":0"#;

impl CachedAnswer {
    /// Keeps `response`, writing its JSON. Its `took_ms` and `index_bytes_read` are not
    /// kept: every hit sets its own.
    pub(crate) fn new(mut response: SearchResponse) -> CachedAnswer {
        response.took_ms = 0.0;
        response.index_bytes_read = 0;
        let json_tail = serde_json::to_vec(&response)
            .ok()
            .and_then(|json| json.strip_prefix(JSON_HEAD).map(<[u8]>::to_vec));
        CachedAnswer {
            response,
            json_tail,
        }
    }
}

/// A search answered from the result cache: the response kept, as of this lookup.
#[derive(Debug, Clone)]
pub struct CacheHit {
    answer: Arc<CachedAnswer>,
    took_ms: f64,
}

impl CacheHit {
    pub(crate) fn new(answer: Arc<CachedAnswer>, took_ms: f64) -> CacheHit {
        CacheHit { answer, took_ms }
    }

    /// The response: the one kept, with this lookup's `took_ms` and `index_bytes_read` 0.
    pub fn response(&self) -> SearchResponse {
        SearchResponse {
            took_ms: self.took_ms,
            index_bytes_read: 0,
            ..self.answer.response.clone()
        }
    }

    /// The JSON of [`CacheHit::response`], without serializing the hits again.
    pub fn json(&self) -> Vec<u8> {
        let (Some(tail), Ok(took)) = (&self.answer.json_tail, serde_json::to_vec(&self.took_ms))
        else {
            return serde_json::to_vec(&self.response()).unwrap_or_default();
        };
        let mut json = Vec::with_capacity(JSON_HEAD.len() + tail.len() + took.len());
        json.extend_from_slice(br#"{"took_ms":"#);
        json.extend_from_slice(&took);
        json.extend_from_slice(br#","index_bytes_read":0"#);
        json.extend_from_slice(tail);
        json
    }
}

/// Counters of a [`ResultCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to search.
    pub misses: u64,
    /// Responses held now.
    pub entries: u64,
    /// Most responses held.
    pub capacity: u64,
}

/// The bounded response cache; cheap to share between threads.
#[derive(Debug)]
pub(crate) struct ResultCache<V = Arc<CachedAnswer>> {
    lru: Mutex<Lru<CacheKey, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone> ResultCache<V> {
    /// A cache of at most `capacity` responses; 0 disables caching.
    pub(crate) fn new(capacity: usize) -> ResultCache<V> {
        ResultCache {
            lru: Mutex::new(Lru::new(capacity)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru<CacheKey, V>> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached response for `key`, counted as a hit or a miss.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<V> {
        let found = self.lru().get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps the response `make` builds under `key`, evicting the least recently used
    /// entry when full; a disabled cache does not build it.
    pub(crate) fn insert_with(&self, key: CacheKey, make: impl FnOnce() -> V) {
        if self.lru().capacity == 0 {
            return;
        }
        // Built outside the lock: a response is serialized when it is kept.
        let response = make();
        self.lru().insert(key, response);
    }

    /// Drops every entry (the counters stay).
    pub(crate) fn clear(&self) {
        self.lru().clear();
    }

    /// The counters.
    pub(crate) fn stats(&self) -> CacheStats {
        let lru = self.lru();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: lru.entries.len() as u64,
            capacity: lru.capacity as u64,
        }
    }
}

/// Least-recently-used map: each entry carries the tick of its last use, and `order` maps
/// ticks back to keys so the oldest is found in O(log n).
#[derive(Debug)]
struct Lru<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            capacity,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn get(&mut self, key: &K) -> Option<&V> {
        let tick = self.next_tick();
        let (value, used) = self.entries.get_mut(key)?;
        if let Some(key) = self.order.remove(used) {
            self.order.insert(tick, key);
        }
        *used = tick;
        Some(value)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let tick = self.next_tick();
        if let Some((_, used)) = self.entries.insert(key.clone(), (value, tick)) {
            self.order.remove(&used);
        }
        self.order.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get(&"a"), Some(&1));
        lru.insert("c", 3);
        assert_eq!(lru.get(&"b"), None, "b was least recently used");
        assert_eq!(lru.get(&"a"), Some(&1));
        assert_eq!(lru.get(&"c"), Some(&3));
        lru.insert("a", 10);
        assert_eq!(lru.entries.len(), 2);
        assert_eq!(lru.order.len(), 2);
        assert_eq!(lru.get(&"a"), Some(&10));
        lru.clear();
        assert_eq!(lru.get(&"a"), None);

        let mut off = Lru::new(0);
        off.insert("a", 1);
        assert_eq!(off.get(&"a"), None);
    }

    #[test]
    fn keys_tell_generations_and_every_request_field_apart() {
        let request = |q: &str, limit| SearchRequest::new(q, limit, None).unwrap();
        let key = CacheKey::new("gen-000001", &request("rust", 10));
        assert_eq!(key, CacheKey::new("gen-000001", &request("rust", 10)));
        assert_ne!(key, CacheKey::new("gen-000002", &request("rust", 10)));
        assert_ne!(key, CacheKey::new("gen-000001", &request("rust", 11)));
        assert_ne!(key, CacheKey::new("gen-000001", &request("Rust", 10)));
        assert_ne!(
            key,
            CacheKey::new(
                "gen-000001",
                &request("rust", 10).with_mode(crate::MatchMode::Any)
            )
        );
    }

    fn response(did_you_mean: Option<&str>) -> SearchResponse {
        let hit = |n: u32| crate::Hit {
            url: format!("http://example.test/{n}?a=1&b=\"2\""),
            title: format!("Title {n} <é> \u{1F600}"),
            snippet: format!("…a <mark>match</mark> {n}\\ \t…"),
            score: 1.0 / (n as f32 + 3.0),
            host: "example.test".to_string(),
            fetched_at: n
                .is_multiple_of(2)
                .then(|| "2024-05-01T12:00:00Z".to_string()),
            more_from_host: (n == 1).then(|| "site:example.test match".to_string()),
            explain: None,
        };
        SearchResponse {
            took_ms: 3.25,
            index_bytes_read: 123_456,
            query: "match \"exact\"".to_string(),
            total: 42,
            total_relation: "eq".to_string(),
            hits: (0..3).map(hit).collect(),
            next_cursor: Some("abc".to_string()),
            generation: "gen-000007".to_string(),
            did_you_mean: did_you_mean.map(str::to_string),
            partial: false,
        }
    }

    #[test]
    fn a_hit_writes_the_json_serde_would() {
        for kept in [
            response(None),
            response(Some("mach")),
            SearchResponse {
                hits: Vec::new(),
                next_cursor: None,
                ..response(None)
            },
        ] {
            let answer = Arc::new(CachedAnswer::new(kept.clone()));
            assert!(answer.json_tail.is_some(), "the JSON starts with took_ms");
            for took_ms in [0.0, 0.001, 0.123, 1.0, 12.5, 1234.567] {
                let hit = CacheHit::new(answer.clone(), took_ms);
                let expected = SearchResponse {
                    took_ms,
                    index_bytes_read: 0,
                    ..kept.clone()
                };
                assert_eq!(hit.response(), expected);
                assert_eq!(
                    String::from_utf8(hit.json()).unwrap(),
                    serde_json::to_string(&expected).unwrap()
                );
            }
        }
    }

    #[test]
    fn hits_and_misses_are_counted() {
        let cache = ResultCache::<u32>::new(4);
        let key = CacheKey::new("gen-000001", &SearchRequest::new("x", 1, None).unwrap());
        assert!(cache.get(&key).is_none());
        cache.insert_with(key.clone(), || 7);
        assert_eq!(cache.get(&key), Some(7));
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
        cache.clear();
        assert_eq!(cache.stats().entries, 0);
    }
}
