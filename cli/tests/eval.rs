//! `quarry eval` on the judged collections in ../shared/testdata/ir: relevance must not
//! regress below the published BM25 baselines.

use std::path::PathBuf;
use std::process::Command;

fn collection(parts: &[&str]) -> Option<Vec<PathBuf>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/ir");
    if !root.is_dir() {
        eprintln!(
            "skipping: {} not found (../shared/testdata is absent)",
            root.display()
        );
        return None;
    }
    Some(parts.iter().map(|part| root.join(part)).collect())
}

fn eval(files: &[PathBuf]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("eval")
        .arg("--corpus")
        .arg(&files[0])
        .arg("--queries")
        .arg(&files[1])
        .arg("--qrels")
        .arg(&files[2])
        .arg("--json")
        .output()
        .expect("run quarry eval");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

#[test]
fn scifact_beats_the_published_bm25_baselines() {
    let Some(files) = collection(&[
        "beir-scifact/corpus.jsonl",
        "beir-scifact/queries.test.jsonl",
        "beir-scifact/qrels.test.tsv",
    ]) else {
        return;
    };
    let report = eval(&files);
    assert_eq!(report["queries"], 300);
    assert_eq!(report["documents"], 5183);
    let ndcg = report["ndcg@10"].as_f64().unwrap();
    // BEIR BM25 0.665, Anserini flat 0.6789.
    assert!(ndcg >= 0.68, "nDCG@10 {ndcg}");
    assert!(report["recall@100"].as_f64().unwrap() >= 0.9, "{report}");
}

#[test]
fn cranfield_stays_in_the_bm25_range() {
    let Some(files) = collection(&[
        "cranfield/converted/corpus.jsonl",
        "cranfield/converted/queries.jsonl",
        "cranfield/converted/qrels.tsv",
    ]) else {
        return;
    };
    let report = eval(&files);
    assert_eq!(report["queries"], 225);
    // No published BM25 figure; a plain Python BM25 scores 0.367 binary nDCG@10.
    let ndcg = report["ndcg@10"].as_f64().unwrap();
    assert!(ndcg >= 0.37, "nDCG@10 {ndcg}");
}

#[test]
fn malformed_inputs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let queries = dir.path().join("queries.jsonl");
    let qrels = dir.path().join("qrels.tsv");
    std::fs::write(
        &corpus,
        "{\"_id\": \"d1\", \"title\": \"t\", \"text\": \"x\"}\nnot json\n",
    )
    .unwrap();
    std::fs::write(&queries, "{\"_id\": \"q1\", \"text\": \"x\"}\n").unwrap();
    std::fs::write(&qrels, "query-id\tcorpus-id\tscore\nq1\td1\t1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["eval", "--corpus"])
        .arg(&corpus)
        .arg("--queries")
        .arg(&queries)
        .arg("--qrels")
        .arg(&qrels)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corpus.jsonl:2:"), "{stderr}");
}
