//! Relevance metrics for judged collections (`quarry eval`): nDCG@k, Recall@k and MRR@k
//! with binary relevance, as BEIR and trec_eval compute them.

use std::collections::HashMap;

/// Relevance judgments of one query: document id → grade (> 0 means relevant).
pub type Judgments = HashMap<String, i32>;

fn relevant(judgments: &Judgments, id: &str) -> bool {
    judgments.get(id).is_some_and(|grade| *grade > 0)
}

/// nDCG at `k` with binary gains: DCG of the ranking over the ideal DCG.
/// 0 when the query has no relevant document.
pub fn ndcg_at(ranked: &[String], judgments: &Judgments, k: usize) -> f64 {
    let discount = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, id)| relevant(judgments, id))
        .map(|(rank, _)| discount(rank))
        .sum();
    let relevant_count = judgments.values().filter(|grade| **grade > 0).count();
    let ideal: f64 = (0..relevant_count.min(k)).map(discount).sum();
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

/// Share of the relevant documents found in the first `k`.
pub fn recall_at(ranked: &[String], judgments: &Judgments, k: usize) -> f64 {
    let relevant_count = judgments.values().filter(|grade| **grade > 0).count();
    if relevant_count == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|id| relevant(judgments, id))
        .count();
    found as f64 / relevant_count as f64
}

/// Reciprocal rank of the first relevant document within `k` (0 if none).
pub fn mrr_at(ranked: &[String], judgments: &Judgments, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|id| relevant(judgments, id))
        .map_or(0.0, |rank| 1.0 / (rank + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn judged(list: &[(&str, i32)]) -> Judgments {
        list.iter()
            .map(|(id, grade)| (id.to_string(), *grade))
            .collect()
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let judgments = judged(&[("a", 1), ("b", 1), ("x", -1)]);
        assert!((ndcg_at(&ids(&["a", "b", "c"]), &judgments, 10) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at(&ids(&["c", "x"]), &judgments, 10), 0.0);
        assert_eq!(recall_at(&ids(&["a", "c"]), &judgments, 100), 0.5);
        assert_eq!(mrr_at(&ids(&["c", "x", "b"]), &judgments, 10), 1.0 / 3.0);
        assert_eq!(ndcg_at(&ids(&["a"]), &Judgments::new(), 10), 0.0);
    }

    #[test]
    fn ndcg_matches_a_hand_computation() {
        // Relevant at ranks 2 and 3 of 2 relevant: (1/log2 3 + 1/log2 4) / (1 + 1/log2 3).
        let judgments = judged(&[("a", 1), ("b", 2)]);
        let got = ndcg_at(&ids(&["z", "a", "b"]), &judgments, 10);
        let want = (1.0 / 3f64.log2() + 0.5) / (1.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        // Cut at k = 2: only rank 2 counts.
        let got = ndcg_at(&ids(&["z", "a", "b"]), &judgments, 2);
        assert!((got - (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
    }
}
