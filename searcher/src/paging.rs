//! Paging with opaque search-after cursors.
//!
//! Hits are ordered by score (descending), then by document address (ascending), which is
//! a total order within one index generation. A cursor records the generation and the
//! sort key of the last hit of a page; the next page is every hit strictly after it, so
//! any depth is reachable at the cost of one top-k pass, with no offset cap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use data_encoding::BASE64URL_NOPAD;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::error::SearchError;
use crate::rank::{SegmentStaticRank, StaticRank};

const CURSOR_VERSION: u8 = 1;
const CURSOR_BYTES: usize = 1 + 8 + 4 + 4 + 4 + 2;

/// The sort key of a hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortKey {
    /// Final score: the text score times the static-rank factor, exactly as collected, so
    /// that a cursor compares equal to the hit it was made from.
    pub score: Score,
    /// Where the document is in this generation.
    pub address: DocAddress,
}

impl SortKey {
    /// Appends the key's 12 bytes (score bits, segment, document; big-endian) to a
    /// cursor's bytes.
    pub(crate) fn write_to(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&self.score.to_bits().to_be_bytes());
        bytes.extend_from_slice(&self.address.segment_ord.to_be_bytes());
        bytes.extend_from_slice(&self.address.doc_id.to_be_bytes());
    }

    /// `Greater` means `self` ranks before `other`.
    fn rank_cmp(&self, other: &SortKey) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.address.cmp(&self.address))
    }
}

/// Wrapper ordering keys so that the heap's top is the worst-ranked kept hit.
#[derive(Debug, Clone, Copy)]
struct Worst(SortKey);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.rank_cmp(&self.0)
    }
}

/// A decoded cursor: the generation it belongs to and the last hit already shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    /// Generation number the cursor was issued for.
    pub generation: u64,
    /// Sort key of the last hit shown.
    pub last: SortKey,
}

/// The opaque form of a cursor's bytes: its checksum appended, base64url.
pub(crate) fn seal(mut bytes: Vec<u8>) -> String {
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_be_bytes());
    BASE64URL_NOPAD.encode(&bytes)
}

pub(crate) fn checksum(bytes: &[u8]) -> u16 {
    // Fletcher-16: catches truncated or hand-edited cursors, not malice.
    let (mut a, mut b) = (0u16, 0u16);
    for &byte in bytes {
        a = (a + u16::from(byte)) % 255;
        b = (b + a) % 255;
    }
    (b << 8) | a
}

impl Cursor {
    /// The opaque string form.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_BYTES);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.generation.to_be_bytes());
        self.last.write_to(&mut bytes);
        seal(bytes)
    }

    /// Parses a cursor string.
    ///
    /// # Errors
    /// [`SearchError::BadCursor`] for anything that is not a cursor this version issued.
    pub fn decode(text: &str) -> Result<Cursor, SearchError> {
        let bad = |reason| SearchError::BadCursor { reason };
        if text.len() > 64 {
            return Err(bad("too long"));
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| bad("not base64url"))?;
        let [version, rest @ ..] = bytes.as_slice() else {
            return Err(bad("empty"));
        };
        if *version != CURSOR_VERSION || bytes.len() != CURSOR_BYTES {
            return Err(bad("unknown format"));
        }
        let (body, sum) = bytes.split_at(CURSOR_BYTES - 2);
        if checksum(body).to_be_bytes() != sum {
            return Err(bad("checksum mismatch"));
        }
        let take = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut out = [0u8; 8];
            let slice = &rest[range];
            out[8 - slice.len()..].copy_from_slice(slice);
            out
        };
        let generation = u64::from_be_bytes(take(0..8));
        let score = f32::from_bits(u64::from_be_bytes(take(8..12)) as u32);
        let segment_ord = u64::from_be_bytes(take(12..16)) as u32;
        let doc_id = u64::from_be_bytes(take(16..20)) as u32;
        if !score.is_finite() {
            return Err(bad("invalid score"));
        }
        Ok(Cursor {
            generation,
            last: SortKey {
                score,
                address: DocAddress::new(segment_ord, doc_id),
            },
        })
    }
}

/// Collects the best `limit` hits that rank strictly after `after` (all hits if `None`).
#[derive(Debug, Clone)]
pub struct TopAfter {
    limit: usize,
    after: Option<SortKey>,
    static_rank: Option<StaticRank>,
}

impl TopAfter {
    /// Top `limit` hits after `after`, by the query's score.
    pub fn new(limit: usize, after: Option<SortKey>) -> TopAfter {
        TopAfter {
            limit,
            after,
            static_rank: None,
        }
    }

    /// The same, with every score multiplied by the page's static-rank factor before it is
    /// compared or kept.
    pub fn with_static_rank(mut self, static_rank: StaticRank) -> TopAfter {
        self.static_rank = Some(static_rank);
        self
    }
}

/// Per-segment part of [`TopAfter`].
pub struct TopAfterSegment {
    segment: SegmentOrdinal,
    limit: usize,
    after: Option<SortKey>,
    static_rank: Option<SegmentStaticRank>,
    heap: BinaryHeap<Worst>,
}

impl SegmentCollector for TopAfterSegment {
    type Fruit = Vec<SortKey>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let score = match &self.static_rank {
            Some(rank) => score * rank.factor(doc),
            None => score,
        };
        let key = SortKey {
            score,
            address: DocAddress::new(self.segment, doc),
        };
        if self
            .after
            .is_some_and(|after| key.rank_cmp(&after) != Ordering::Less)
        {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Worst(key));
        } else if self
            .heap
            .peek()
            .is_some_and(|worst| key.rank_cmp(&worst.0) == Ordering::Greater)
        {
            self.heap.pop();
            self.heap.push(Worst(key));
        }
    }

    fn harvest(self) -> Vec<SortKey> {
        self.heap.into_iter().map(|worst| worst.0).collect()
    }
}

impl Collector for TopAfter {
    type Fruit = Vec<SortKey>;
    type Child = TopAfterSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _reader: &SegmentReader,
    ) -> tantivy::Result<TopAfterSegment> {
        Ok(TopAfterSegment {
            segment,
            limit: self.limit,
            after: self.after,
            static_rank: self
                .static_rank
                .as_ref()
                .and_then(|rank| rank.segment(segment))
                .cloned(),
            heap: BinaryHeap::with_capacity(self.limit.min(1024) + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<SortKey>>) -> tantivy::Result<Vec<SortKey>> {
        let mut all: Vec<SortKey> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.rank_cmp(a));
        all.truncate(self.limit);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            generation: 7,
            last: SortKey {
                score: 3.25,
                address: DocAddress::new(2, 99),
            },
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn bad_cursors_are_rejected() {
        let good = Cursor {
            generation: 1,
            last: SortKey {
                score: 1.0,
                address: DocAddress::new(0, 1),
            },
        }
        .encode();
        let mut tampered = good.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in [
            "",
            "!!!",
            "AAAA",
            &tampered,
            &"A".repeat(100),
            &good[..good.len() - 2],
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(SearchError::BadCursor { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rank_order_is_score_then_address() {
        let key = |score, doc| SortKey {
            score,
            address: DocAddress::new(0, doc),
        };
        assert_eq!(key(2.0, 5).rank_cmp(&key(1.0, 1)), Ordering::Greater);
        assert_eq!(key(1.0, 1).rank_cmp(&key(1.0, 5)), Ordering::Greater);
        assert_eq!(key(1.0, 5).rank_cmp(&key(1.0, 5)), Ordering::Equal);
    }

    #[test]
    fn segment_collector_keeps_best_after_cursor() {
        let after = SortKey {
            score: 5.0,
            address: DocAddress::new(0, 3),
        };
        let mut segment = TopAfter::new(2, Some(after)).for_segment_for_test(0);
        for (doc, score) in [(1, 9.0), (2, 5.0), (3, 5.0), (4, 5.0), (5, 4.0), (6, 1.0)] {
            segment.collect(doc, score);
        }
        let mut kept = segment.harvest();
        kept.sort_by(|a, b| b.rank_cmp(a));
        let docs: Vec<_> = kept.iter().map(|k| k.address.doc_id).collect();
        assert_eq!(docs, vec![4, 5]);
    }

    impl TopAfter {
        fn for_segment_for_test(&self, segment: SegmentOrdinal) -> TopAfterSegment {
            TopAfterSegment {
                segment,
                limit: self.limit,
                after: self.after,
                static_rank: None,
                heap: BinaryHeap::new(),
            }
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Whatever `text` is, decoding it does not panic, and what it accepts is exactly
    /// what encoding that cursor gives back (no two strings name one position).
    fn check_decode(text: &str) -> Result<(), TestCaseError> {
        if let Ok(cursor) = Cursor::decode(text) {
            prop_assert_eq!(cursor.encode(), text);
        }
        Ok(())
    }

    proptest! {
        // 100,000 cases each in CI (issue: fuzz cursor decoding); `long_` runs a million.
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn decode_never_panics(text in "\\PC{0,80}") {
            check_decode(&text)?;
        }

        #[test]
        fn base64_like_text_never_decodes_to_a_stray_cursor(text in "[A-Za-z0-9_=-]{0,40}") {
            check_decode(&text)?;
        }

        #[test]
        fn a_damaged_cursor_is_refused_or_exact(generation: u64, score in -1e6f32..1e6, doc: u32, at: usize, with in "[A-Za-z0-9_-]") {
            let cursor = Cursor { generation, last: SortKey { score, address: DocAddress::new(0, doc) } };
            let mut text = cursor.encode().into_bytes();
            let at = at % text.len();
            text[at] = with.as_bytes()[0];
            check_decode(std::str::from_utf8(&text).expect("ASCII"))?;
        }

        #[test]
        fn any_cursor_round_trips(generation: u64, score in -1e6f32..1e6, segment: u32, doc: u32) {
            let cursor = Cursor { generation, last: SortKey { score, address: DocAddress::new(segment, doc) } };
            prop_assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        /// The long run: `cargo test -p quarry-searcher --lib long_ -- --ignored`.
        #[test]
        #[ignore = "long fuzz run (a million cases)"]
        fn long_decode_never_panics(text in "[A-Za-z0-9_-]{0,36}|\\PC{0,80}") {
            check_decode(&text)?;
        }
    }
}
