//! `quarry eval`: relevance on a judged collection in BEIR format.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use quarry_indexer::{PlainDocument, RebuildOptions, index_documents};
use quarry_searcher::eval::{Judgments, mrr_at, ndcg_at, recall_at};
use quarry_searcher::{MatchMode, SearchEngine, SearchRequest};
use serde::{Deserialize, Serialize};

use crate::UsageError;
use crate::config::Config;

/// Index a BEIR-format collection into a temporary index with the same analyzers and
/// ranking as crawled pages, run every judged query, and print nDCG@10, Recall@100 and
/// MRR@10. Queries run in "any word" mode (BM25 disjunction), as BEIR's baselines do.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Documents: JSON lines `{"_id", "title", "text"}`.
    #[arg(long, value_name = "FILE")]
    pub corpus: PathBuf,
    /// Queries: JSON lines `{"_id", "text"}`.
    #[arg(long, value_name = "FILE")]
    pub queries: PathBuf,
    /// Judgments: TSV `query-id corpus-id score` with a header line; score > 0 is relevant.
    #[arg(long, value_name = "FILE")]
    pub qrels: PathBuf,
    /// Print JSON (`ndcg@10`, `recall@100`, `mrr@10`, …) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

#[derive(Serialize)]
struct Report {
    #[serde(rename = "ndcg@10")]
    ndcg_10: f64,
    #[serde(rename = "recall@100")]
    recall_100: f64,
    #[serde(rename = "mrr@10")]
    mrr_10: f64,
    queries: usize,
    documents: u64,
    index_seconds: f64,
    /// Bytes on disk of the index built (the whole generation directory).
    index_bytes: u64,
    search_ms_per_query: f64,
}

/// The bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn open_lines(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = (usize, std::io::Result<String>)>> {
    let file = std::fs::File::open(path)
        .map_err(|error| UsageError(format!("cannot read {}: {error}", path.display())))?;
    Ok(BufReader::new(file).lines().enumerate())
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for (index, line) in open_lines(path)? {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line)
            .map_err(|error| UsageError(format!("{}:{}: {error}", path.display(), index + 1)))?;
        out.push(value);
    }
    Ok(out)
}

fn read_qrels(path: &Path) -> anyhow::Result<HashMap<String, Judgments>> {
    let mut qrels: HashMap<String, Judgments> = HashMap::new();
    for (index, line) in open_lines(path)? {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if index == 0
            && fields
                .first()
                .is_some_and(|f| f.parse::<i64>().is_err() && f.contains("id"))
        {
            continue; // header
        }
        let [query, document, score] = fields.as_slice() else {
            if fields.is_empty() {
                continue;
            }
            return Err(UsageError(format!(
                "{}:{}: expected `query-id corpus-id score`",
                path.display(),
                index + 1
            ))
            .into());
        };
        let score: i32 = score.parse().map_err(|_| {
            UsageError(format!(
                "{}:{}: score `{score}` is not an integer",
                path.display(),
                index + 1
            ))
        })?;
        qrels
            .entry((*query).to_string())
            .or_default()
            .insert((*document).to_string(), score);
    }
    Ok(qrels)
}

/// Natural-language text as a query: quotes, leading `-`/`+` and `name:` operators would
/// be syntax (the analyzer splits words at `:` anyway).
fn as_plain_query(text: &str) -> String {
    text.replace(['"', ':'], " ")
        .split_whitespace()
        .map(|word| word.trim_start_matches(['-', '+']))
        .filter(|word| !word.is_empty() && *word != "OR")
        .collect::<Vec<_>>()
        .join(" ")
}

/// `quarry eval`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let corpus: Vec<CorpusLine> = read_jsonl(&args.corpus)?;
    let queries: Vec<QueryLine> = read_jsonl(&args.queries)?;
    let qrels = read_qrels(&args.qrels)?;
    let judged: Vec<&QueryLine> = queries
        .iter()
        .filter(|q| qrels.contains_key(&q.id))
        .collect();
    if judged.is_empty() {
        bail!(UsageError(
            "no query in the queries file has judgments in the qrels file".into()
        ));
    }

    let dir = tempfile_dir()?;
    let options = RebuildOptions {
        threads: config.index.threads,
        writer_memory_bytes: config.index.writer_memory_mib << 20,
        progress: None,
        near_duplicate_bits: 0,
        shard: None,
    };
    let documents = corpus.into_iter().map(|line| PlainDocument {
        id: line.id,
        title: line.title,
        body: line.text,
    });
    let index_dir = dir.path().join("index");
    let built = tokio::task::block_in_place(|| index_documents(documents, &index_dir, &options))?;
    let engine = SearchEngine::open(&index_dir)?;

    let started = std::time::Instant::now();
    let (mut ndcg, mut recall, mut mrr) = (0.0, 0.0, 0.0);
    let mut per_query = BTreeMap::new();
    for query in &judged {
        let judgments = &qrels[&query.id];
        let text = as_plain_query(&query.text);
        let ranked: Vec<String> = match SearchRequest::new(&text, 100, None)
            .map(|request| request.with_mode(MatchMode::Any))
            .and_then(|request| engine.search(&request))
        {
            Ok(response) => response.hits.into_iter().map(|hit| hit.url).collect(),
            Err(error) => {
                tracing::warn!(query = %query.id, %error, "query could not run; scored as empty");
                Vec::new()
            }
        };
        let q_ndcg = ndcg_at(&ranked, judgments, 10);
        ndcg += q_ndcg;
        recall += recall_at(&ranked, judgments, 100);
        mrr += mrr_at(&ranked, judgments, 10);
        per_query.insert(query.id.clone(), q_ndcg);
    }
    let n = judged.len() as f64;
    let report = Report {
        ndcg_10: ndcg / n,
        recall_100: recall / n,
        mrr_10: mrr / n,
        queries: judged.len(),
        documents: built.documents,
        index_seconds: built.elapsed.as_secs_f64(),
        index_bytes: dir_bytes(&index_dir),
        search_ms_per_query: started.elapsed().as_secs_f64() * 1000.0 / n,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "nDCG@10 {:.4} · Recall@100 {:.4} · MRR@10 {:.4} over {} queries; {} documents indexed in {:.1} s, {:.2} ms per query",
            report.ndcg_10,
            report.recall_100,
            report.mrr_10,
            report.queries,
            report.documents,
            report.index_seconds,
            report.search_ms_per_query
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("quarry-eval-")
        .tempdir()
        .context("creating a temporary index directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_language_is_not_syntax() {
        assert_eq!(
            as_plain_query(r#"-1 "dose" OR +more x-ray"#),
            "1 dose more x-ray"
        );
        assert_eq!(as_plain_query("title:cells lang:en"), "title cells lang en");
    }
}
