//! Host crowding: at most a few hits of one host per page, so one site cannot fill a page.
//!
//! A page is picked greedily from a window of candidates in rank order: a candidate is
//! shown unless its host already has the maximum on this page, in which case it is held
//! back. The page's cursor is the last candidate *examined*, so held-back hits ranked
//! before it are not shown on later pages (the last shown hit of their host offers a
//! `site:` query for them instead), and nothing is ever shown twice: every page shows only
//! hits strictly after the previous cursor. Crowding is off when the matching documents
//! all share one host (a single-site index pages through every hit) and under a `site:`
//! restriction; the engine decides that with [`HostSpread`].

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::schema::Field;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

/// Hits of one host shown per page by default.
pub const DEFAULT_MAX_PER_HOST: usize = 2;
/// A crowded page examines at most this many candidates per hit asked for; when they run
/// out before the page is full, the page is shorter (and the next page starts after them).
pub const CANDIDATES_PER_HIT: usize = 5;

/// The outcome of picking one page from candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indices of the candidates to show, in rank order.
    pub shown: Vec<usize>,
    /// Indices (into the candidates) of the last shown hit of each host that had hits held
    /// back, in rank order.
    pub crowded: Vec<usize>,
    /// The last candidate examined: the next page starts after it. `None` when there are
    /// no candidates.
    pub last_examined: Option<usize>,
    /// Whether candidates remain after `last_examined`.
    pub more: bool,
}

/// Picks a page of at most `limit` hits from `hosts`, the hosts of the candidates in rank
/// order, examining at most `window` of them; with `max_per_host` of `None`, no host is
/// held back. An empty host (a document without URL) is never held back.
///
/// Invariant the caller must keep: `hosts` holds every candidate up to `window + 1` (one
/// more than may be examined), so that `more` is exact.
pub fn select(
    hosts: &[&str],
    limit: usize,
    window: usize,
    max_per_host: Option<usize>,
) -> Selection {
    let mut shown = Vec::new();
    let mut per_host: HashMap<&str, usize> = HashMap::new();
    let mut held_back: Vec<&str> = Vec::new();
    let mut last_examined = None;
    for (index, host) in hosts.iter().enumerate().take(window) {
        if shown.len() == limit {
            break;
        }
        last_examined = Some(index);
        let count = per_host.entry(host).or_default();
        match max_per_host {
            Some(max) if !host.is_empty() && *count >= max => {
                if !held_back.contains(host) {
                    held_back.push(host);
                }
            }
            _ => {
                *count += 1;
                shown.push(index);
            }
        }
    }
    let mut crowded: Vec<usize> = held_back
        .iter()
        .filter_map(|host| shown.iter().rev().find(|&&i| hosts[i] == *host).copied())
        .collect();
    crowded.sort_unstable();
    Selection {
        more: last_examined.map_or(!hosts.is_empty(), |last| last + 1 < hosts.len()),
        shown,
        crowded,
        last_examined,
    }
}

/// Reads the host of documents from the `host` fast field.
#[derive(Clone)]
pub struct HostLookup {
    columns: std::sync::Arc<[Option<StrColumn>]>,
}

impl HostLookup {
    /// Opens the `host` column of every segment of `searcher`.
    ///
    /// # Errors
    /// When a column cannot be opened.
    pub fn new(searcher: &Searcher, host: Field) -> tantivy::Result<HostLookup> {
        let name = searcher.schema().get_field_name(host);
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|reader| reader.fast_fields().str(name))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(HostLookup {
            columns: columns.into(),
        })
    }

    /// The host of `address`; empty when it has none.
    pub fn host(&self, address: DocAddress) -> String {
        let mut out = String::new();
        if let Some(Some(column)) = self.columns.get(address.segment_ord as usize)
            && let Some(ord) = column.ords().first(address.doc_id)
            && column.ord_to_str(ord, &mut out).is_err()
        {
            out.clear();
        }
        out
    }
}

/// How many distinct hosts the matching documents have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spread {
    /// No matching document has a host.
    None,
    /// All matching documents with a host have this one.
    One(String),
    /// At least two hosts.
    Many,
}

impl Spread {
    /// The spread of two sets of matches together.
    pub fn merge(self, other: Spread) -> Spread {
        match (self, other) {
            (Spread::None, other) | (other, Spread::None) => other,
            (Spread::One(a), Spread::One(b)) if a == b => Spread::One(a),
            _ => Spread::Many,
        }
    }
}

/// Collects the [`Spread`] of the matching documents' hosts from the `host` fast field;
/// a disabled one collects nothing and yields [`Spread::None`].
#[derive(Clone)]
pub struct HostSpread {
    hosts: Option<HostLookup>,
}

impl HostSpread {
    /// Collects the spread of the hosts in `hosts`; with `None`, does nothing.
    pub fn new(hosts: Option<HostLookup>) -> HostSpread {
        HostSpread { hosts }
    }
}

/// Per-segment part of [`HostSpread`].
pub struct HostSpreadSegment {
    column: Option<StrColumn>,
    first: Option<u64>,
    many: bool,
}

impl SegmentCollector for HostSpreadSegment {
    type Fruit = Spread;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.many {
            return;
        }
        let Some(ord) = self
            .column
            .as_ref()
            .and_then(|column| column.ords().first(doc))
        else {
            return;
        };
        match self.first {
            None => self.first = Some(ord),
            Some(first) if first != ord => self.many = true,
            Some(_) => {}
        }
    }

    fn harvest(self) -> Spread {
        if self.many {
            return Spread::Many;
        }
        let mut host = String::new();
        match (self.first, &self.column) {
            (Some(ord), Some(column)) if column.ord_to_str(ord, &mut host).unwrap_or(false) => {
                if host.is_empty() {
                    Spread::None
                } else {
                    Spread::One(host)
                }
            }
            _ => Spread::None,
        }
    }
}

impl Collector for HostSpread {
    type Fruit = Spread;
    type Child = HostSpreadSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _reader: &SegmentReader,
    ) -> tantivy::Result<HostSpreadSegment> {
        let column = self
            .hosts
            .as_ref()
            .and_then(|hosts| hosts.columns.get(segment as usize).cloned().flatten());
        Ok(HostSpreadSegment {
            column,
            first: None,
            many: false,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Spread>) -> tantivy::Result<Spread> {
        Ok(fruits.into_iter().fold(Spread::None, Spread::merge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_two_per_host_and_the_last_shown_is_marked() {
        let hosts = ["a", "a", "a", "b", "a", "c", "b", "b", "d"];
        let page = select(&hosts, 5, 25, Some(2));
        assert_eq!(page.shown, vec![0, 1, 3, 5, 6]);
        assert_eq!(page.crowded, vec![1]);
        assert_eq!(page.last_examined, Some(6));
        assert!(page.more);
    }

    #[test]
    fn without_a_maximum_it_is_plain_top_k() {
        let hosts = ["a", "a", "a", "a"];
        let page = select(&hosts, 3, 3, None);
        assert_eq!(page.shown, vec![0, 1, 2]);
        assert!(page.crowded.is_empty());
        assert_eq!(page.last_examined, Some(2));
        assert!(page.more);
        let last = select(&hosts[..3], 3, 3, None);
        assert!(!last.more);
    }

    #[test]
    fn a_window_that_runs_out_ends_the_page_early() {
        let hosts = ["a", "a", "a", "a", "a", "b"];
        let page = select(&hosts, 3, 5, Some(2));
        assert_eq!(page.shown, vec![0, 1]);
        assert_eq!(page.crowded, vec![1]);
        assert_eq!(page.last_examined, Some(4));
        assert!(page.more, "b is still to come on the next page");
    }

    #[test]
    fn empty_hosts_are_never_held_back_and_nothing_is_empty() {
        let page = select(&["", "", ""], 3, 15, Some(2));
        assert_eq!(page.shown, vec![0, 1, 2]);
        assert!(page.crowded.is_empty());
        let none = select(&[], 3, 15, Some(2));
        assert_eq!(
            (none.shown.len(), none.last_examined, none.more),
            (0, None, false)
        );
    }

    #[test]
    fn spread_merges() {
        let one = |h: &str| Spread::One(h.to_string());
        assert_eq!(Spread::None.merge(one("a")), one("a"));
        assert_eq!(one("a").merge(one("a")), one("a"));
        assert_eq!(one("a").merge(one("b")), Spread::Many);
        assert_eq!(Spread::Many.merge(Spread::None), Spread::Many);
    }
}
