//! Shards: one index split into `N` partitions by a hash of the document URL, each built
//! by its own `quarry index rebuild --shard i/N` and served by its own `quarry serve`.
//!
//! Every shard build still reads the whole page store: anchor text, PageRank, host rank,
//! duplicate collapse and boilerplate are properties of the whole crawl, so each shard
//! computes them over all pages (the same way, so the shards agree) and indexes only the
//! kept documents whose URL falls in its partition. A query's scores are then comparable
//! across shards once the coordinator gives every shard the summed term statistics.

use std::fmt;

use crate::dedup::fnv;

/// Most shards an index may be split into.
pub const MAX_SHARDS: u32 = 1024;

/// Partition `index` of `count` (`0 <= index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This partition, from 0.
    pub index: u32,
    /// How many partitions there are.
    pub count: u32,
}

/// A shard spec that is not `i/N` with `0 <= i < N <= MAX_SHARDS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard `{spec}`: expected i/N with 0 <= i < N <= {MAX_SHARDS}, e.g. 0/2")]
pub struct BadShard {
    spec: String,
}

impl Shard {
    /// Parses `i/N`.
    ///
    /// # Errors
    /// [`BadShard`] for anything else.
    pub fn parse(spec: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard {
            spec: spec.to_string(),
        };
        let (index, count) = spec.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the document of `url` belongs to this shard.
    pub fn contains(&self, url: &str) -> bool {
        shard_of(url, self.count) == self.index
    }

    /// The name under which this shard's build keeps its page-store checkpoint.
    pub fn consumer(&self) -> String {
        format!("indexer-shard-{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The partition of `count` that the document of `url` belongs to.
pub fn shard_of(url: &str, count: u32) -> u32 {
    // FNV-1a is stable across versions and platforms: a shard set built by one version can
    // be updated by the next.
    (fnv(url.bytes()) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_refused() {
        assert_eq!(Shard::parse("0/2"), Ok(Shard { index: 0, count: 2 }));
        assert_eq!(Shard::parse(" 3 / 4 "), Ok(Shard { index: 3, count: 4 }));
        for bad in [
            "", "1", "2/2", "0/0", "-1/2", "a/b", "1/2/3", "0/1025", "1/",
        ] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "1/3");
    }

    #[test]
    fn every_url_is_in_exactly_one_shard_and_shards_are_balanced() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0usize; 3];
        for n in 0..3000 {
            let url = format!("http://example.com/page/{n}.html");
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.contains(&url)).collect();
            assert_eq!(owners.len(), 1, "{url}");
            sizes[owners[0].index as usize] += 1;
        }
        assert!(sizes.iter().all(|&size| size > 850), "{sizes:?}");
    }
}
