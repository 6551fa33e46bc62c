//! The link graph of a generation, computed offline over every page like a MapReduce pass:
//! anchor text gathered per target page, and static rank — PageRank over pages and over
//! hosts — stored as fast fields and combined with BM25 by the searcher.

use std::collections::HashMap;

/// Anchor text kept per target page, in bytes: enough for every distinct way a site names
/// a page, bounded against link farms.
pub const MAX_ANCHOR_TEXT_BYTES: usize = 4096;

/// PageRank damping factor (the probability of following a link).
const DAMPING: f64 = 0.85;
/// Power iterations (converges well below 1e-6 on site-sized graphs).
const ITERATIONS: usize = 30;

/// Builds the graph of documents `0..n` incrementally.
#[derive(Debug, Default)]
pub struct LinkGraph {
    edges: Vec<(u32, u32)>,
    anchors: HashMap<u32, String>,
}

impl LinkGraph {
    /// An empty graph.
    pub fn new() -> LinkGraph {
        LinkGraph::default()
    }

    /// Records a link `from` → `to` with its anchor text. Self-links count for neither
    /// rank nor anchors; the same anchor text is kept once per target.
    pub fn add(&mut self, from: u32, to: u32, text: &str) {
        if from == to {
            return;
        }
        self.edges.push((from, to));
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let anchors = self.anchors.entry(to).or_default();
        if anchors.len() + text.len() < MAX_ANCHOR_TEXT_BYTES
            && !anchors
                .split('\n')
                .any(|known| known.eq_ignore_ascii_case(text))
        {
            anchors.push_str(text);
            anchors.push('\n');
        }
    }

    /// The anchor text of `doc` (one distinct anchor per line).
    pub fn take_anchors(&mut self, doc: u32) -> String {
        self.anchors.remove(&doc).unwrap_or_default()
    }

    /// PageRank of documents `0..n`, scaled so the average is 1 (a page nobody links to
    /// gets `1 - d`). Duplicate edges from one page count once.
    pub fn page_rank(&mut self, n: usize) -> Vec<f64> {
        self.edges.sort_unstable();
        self.edges.dedup();
        pagerank(n, &self.edges)
    }

    /// PageRank of the hosts of documents (`host_of[doc]` = host number), over the links
    /// between different hosts, given per document (its host's rank), average 1.
    pub fn host_rank(&self, host_of: &[u32]) -> Vec<f64> {
        let hosts = host_of.iter().map(|h| *h as usize + 1).max().unwrap_or(0);
        let mut edges: Vec<(u32, u32)> = self
            .edges
            .iter()
            .filter_map(|(from, to)| {
                let (a, b) = (host_of[*from as usize], host_of[*to as usize]);
                (a != b).then_some((a, b))
            })
            .collect();
        edges.sort_unstable();
        edges.dedup();
        let ranks = pagerank(hosts, &edges);
        host_of.iter().map(|h| ranks[*h as usize]).collect()
    }
}

/// PageRank by power iteration over sorted, de-duplicated `edges`; dangling nodes spread
/// their rank evenly. Scaled to an average of 1.
fn pagerank(n: usize, edges: &[(u32, u32)]) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let mut out_degree = vec![0u32; n];
    for (from, _) in edges {
        out_degree[*from as usize] += 1;
    }
    let uniform = 1.0 / n as f64;
    let mut rank = vec![uniform; n];
    let mut next = vec![0.0; n];
    for _ in 0..ITERATIONS {
        let dangling: f64 = rank
            .iter()
            .zip(&out_degree)
            .filter(|(_, d)| **d == 0)
            .map(|(r, _)| r)
            .sum();
        let base = (1.0 - DAMPING) * uniform + DAMPING * dangling * uniform;
        next.iter_mut().for_each(|r| *r = base);
        for (from, to) in edges {
            let from = *from as usize;
            next[*to as usize] += DAMPING * rank[from] / f64::from(out_degree[from]);
        }
        std::mem::swap(&mut rank, &mut next);
    }
    rank.iter().map(|r| r * n as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_pages_rank_higher_and_ranks_average_one() {
        // 0 is linked from everyone (a home page); 3 from nobody.
        let mut graph = LinkGraph::new();
        for (from, to) in [(1, 0), (2, 0), (3, 0), (0, 1), (0, 2), (1, 2), (1, 2)] {
            graph.add(from, to, "x");
        }
        let ranks = graph.page_rank(4);
        let mean = ranks.iter().sum::<f64>() / 4.0;
        assert!((mean - 1.0).abs() < 1e-9, "{ranks:?}");
        assert!(
            ranks[0] > ranks[2] && ranks[2] > ranks[1] && ranks[1] > ranks[3],
            "{ranks:?}"
        );
        assert!((ranks[3] - (1.0 - DAMPING)).abs() < 0.05, "{ranks:?}");
    }

    #[test]
    fn anchors_are_distinct_and_bounded() {
        let mut graph = LinkGraph::new();
        graph.add(1, 0, "Home");
        graph.add(2, 0, "home");
        graph.add(3, 0, " Start page ");
        graph.add(0, 0, "self");
        for i in 0..1000 {
            graph.add(4, 0, &format!("spam anchor number {i}"));
        }
        let anchors = graph.take_anchors(0);
        assert!(anchors.starts_with("Home\nStart page\nspam anchor number 0\n"));
        assert!(anchors.len() <= MAX_ANCHOR_TEXT_BYTES);
        assert!(!anchors.contains("self"));
        assert_eq!(graph.take_anchors(0), "");
    }

    #[test]
    fn host_rank_counts_only_links_between_hosts() {
        // Docs 0,1 on host 0; docs 2,3 on host 1; host 1 links to host 0 twice.
        let mut graph = LinkGraph::new();
        graph.add(2, 0, "");
        graph.add(3, 1, "");
        graph.add(0, 1, "");
        let ranks = graph.host_rank(&[0, 0, 1, 1]);
        assert_eq!(ranks[0], ranks[1]);
        assert!(ranks[0] > ranks[2], "{ranks:?}");
    }
}
