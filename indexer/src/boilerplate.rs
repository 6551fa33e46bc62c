//! Cross-page boilerplate: blocks of body text (paragraphs, cells, list items; see
//! `document`) that recur on many pages of one host — navigation tables, version banners,
//! "Prev / Up / Next" bars that are not marked up as `<nav>` — stay out of the indexed
//! body. Structurally marked boilerplate (`nav`, `footer`, hidden elements) is already
//! dropped at extraction.
//!
//! Only the blocks at the edges of a page (the first and last [`EDGE_BLOCKS`]) are
//! candidates: that is where templates put their chrome, and it bounds the memory of the
//! count to a few hashes per page however long pages are. A block is boilerplate on a host
//! when at least [`MIN_PAGES`] pages and [`MIN_SHARE`] of the host's pages have it.

use std::collections::HashMap;

use crate::dedup::fnv;

/// Blocks at each end of a page's body that may be boilerplate.
pub(crate) const EDGE_BLOCKS: usize = 12;
/// Fewest pages a block must appear on to be boilerplate.
pub(crate) const MIN_PAGES: u32 = 5;
/// Smallest share of its host's pages a block must appear on to be boilerplate.
pub(crate) const MIN_SHARE: f64 = 0.3;

/// The edge blocks of `body` with their hashes: (block index, hash).
fn edge_blocks(body: &str) -> impl Iterator<Item = (usize, u64)> + '_ {
    let count = body.split('\n').count();
    body.split('\n')
        .enumerate()
        .filter(move |(i, _)| *i < EDGE_BLOCKS || *i + EDGE_BLOCKS >= count)
        .filter_map(|(i, block)| {
            let block = block.trim();
            (!block.is_empty()).then(|| (i, fnv(block.to_lowercase().bytes())))
        })
}

/// The distinct hashes of the edge blocks of a page body, sorted (stored per page).
pub(crate) fn block_hashes(body: &str) -> Vec<u64> {
    let mut hashes: Vec<u64> = edge_blocks(body).map(|(_, hash)| hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Counts, per host, the pages each edge block appears on.
#[derive(Debug, Default)]
pub(crate) struct BlockCounts {
    blocks: HashMap<(u32, u64), u32>,
    pages: HashMap<u32, u32>,
}

impl BlockCounts {
    /// Counts one page of `host` with the (distinct) block `hashes`.
    pub fn add(&mut self, host: u32, hashes: &[u64]) {
        *self.pages.entry(host).or_default() += 1;
        for hash in hashes {
            *self.blocks.entry((host, *hash)).or_default() += 1;
        }
    }

    /// The blocks of a page of `host` (its `hashes`) that are boilerplate, sorted.
    pub fn boilerplate(&self, host: u32, hashes: &[u64]) -> Vec<u64> {
        let pages = self.pages.get(&host).copied().unwrap_or(0);
        let needed = MIN_PAGES.max((f64::from(pages) * MIN_SHARE).ceil() as u32);
        hashes
            .iter()
            .copied()
            .filter(|hash| self.blocks.get(&(host, *hash)).copied().unwrap_or(0) >= needed)
            .collect()
    }
}

/// `body` without the edge blocks whose hashes are in `removed` (sorted). A page that would
/// be left without any text keeps its body.
pub(crate) fn strip(body: &str, removed: &[u64]) -> String {
    if removed.is_empty() {
        return body.to_string();
    }
    let dropped: Vec<usize> = edge_blocks(body)
        .filter(|(_, hash)| removed.binary_search(hash).is_ok())
        .map(|(i, _)| i)
        .collect();
    let kept: Vec<&str> = body
        .split('\n')
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, block)| block)
        .collect();
    let stripped = kept.join("\n");
    if stripped.trim().is_empty() {
        body.to_string()
    } else {
        stripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> String {
        format!(
            "PostgreSQL 15 Documentation\nPrev\nUp\nChapter {}\nHome\nNext\nThe text of page {n}, \
             all its own.\nPrev\nNext",
            n / 4
        )
    }

    #[test]
    fn blocks_repeated_across_a_host_are_removed() {
        let mut counts = BlockCounts::default();
        let hashes: Vec<Vec<u64>> = (0..10).map(|n| block_hashes(&page(n))).collect();
        for h in &hashes {
            counts.add(0, h);
        }
        // Another host with the same template but only two pages: not enough evidence.
        counts.add(1, &hashes[0]);
        counts.add(1, &hashes[1]);
        let removed = counts.boilerplate(0, &hashes[3]);
        assert_eq!(
            strip(&page(3), &removed),
            "Chapter 0\nThe text of page 3, all its own."
        );
        assert_eq!(strip(&page(3), &counts.boilerplate(1, &hashes[0])), page(3));
    }

    #[test]
    fn a_page_of_nothing_but_boilerplate_keeps_its_text() {
        let body = "Prev\nNext";
        let hashes = block_hashes(body);
        assert_eq!(strip(body, &hashes), body);
    }

    #[test]
    fn only_edge_blocks_are_candidates() {
        let middle: Vec<String> = (0..30).map(|i| format!("block {i}")).collect();
        let body = middle.join("\n");
        let hashes = block_hashes(&body);
        assert_eq!(hashes.len(), 2 * EDGE_BLOCKS);
        let all: Vec<u64> = hashes.clone();
        let stripped = strip(&body, &all);
        assert_eq!(stripped.split('\n').count(), 30 - 2 * EDGE_BLOCKS);
        assert!(stripped.starts_with("block 12\n"));
    }
}
