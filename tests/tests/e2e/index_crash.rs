//! kill -9 the indexer during `index rebuild` and `index update`, and the server while it
//! answers, at seeded random moments: the previous generation keeps serving after every
//! kill, a restarted build completes, and the final index equals an uninterrupted build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quarry_indexer::IndexLayout;
use quarry_tests::binary::{kill_moments, quarry_bin, run_quarry, served_base_url};
use quarry_tests::fixture::{FixtureOptions, FixtureSite};

use crate::crawl_fixture;

/// The JSON search response of `quarry search` for `q` (the current generation).
fn search(data: &Path, q: &str) -> serde_json::Value {
    let data = data.display().to_string();
    let output = run_quarry(&["search", "--data", &data, "--json", "--limit", "20", q]);
    assert!(
        output.status.success(),
        "search fails after a kill: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("search JSON")
}

/// What a search answer says, without timing and generation: the scores of the page in
/// order, and the hits scored above the page's lowest score. Documents tied on score are
/// ordered by their address, which a rebuild (parallel indexing) does not keep, so which
/// of the tied hits fill the end of the page may differ between equal generations.
type Ranked = (Vec<String>, Vec<(String, String)>);

fn ranked(answer: &serde_json::Value) -> Ranked {
    let hits: Vec<(String, String)> = answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| {
            (
                hit["url"].as_str().unwrap_or("").to_string(),
                format!("{:.4}", hit["score"].as_f64().unwrap_or(0.0)),
            )
        })
        .collect();
    let scores: Vec<String> = hits.iter().map(|(_, score)| score.clone()).collect();
    let lowest = scores.last().cloned();
    let mut above: Vec<(String, String)> = hits
        .into_iter()
        .filter(|(_, score)| Some(score) != lowest.as_ref())
        .collect();
    above.sort();
    (scores, above)
}

/// Runs `quarry index <verb>` and kills it with SIGKILL after `after` (if still running).
/// Returns whether it had finished by itself.
fn index_killed_after(data: &Path, verb: &str, after: Duration) -> bool {
    let mut child = Command::new(quarry_bin())
        .args(["index", verb, "--data", &data.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start quarry index");
    std::thread::sleep(after);
    let finished = child.try_wait().expect("poll").is_some();
    let _ = child.kill();
    child.wait().expect("reap");
    finished
}

fn timed(data: &Path, verb: &str) -> Duration {
    let started = Instant::now();
    let output = run_quarry(&["index", verb, "--data", &data.display().to_string()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

fn current(data: &Path) -> String {
    let layout = IndexLayout::new(&data.join("index"));
    layout
        .current()
        .expect("CURRENT readable")
        .expect("a generation")
        .to_string()
}

#[test]
fn indexer_killed_twenty_times_during_rebuild_and_update_keeps_serving() {
    let site = FixtureSite::start(FixtureOptions {
        generated_pages: 1200,
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = dir.path().join("data");

    // Part of the site, indexed: the generation every kill must leave serving.
    crawl_fixture(&site, dir.path(), Some(400));
    let rebuild_time = timed(&data, "rebuild");
    let before = search(&data, "generated page");
    assert!(!ranked(&before).0.is_empty());

    // Twenty kills of a rebuild at seeded moments within its usual duration.
    let span = (rebuild_time.as_millis() as u64).max(200);
    for (round, after) in kill_moments(0x1dea_5eed, 20, 20..span)
        .into_iter()
        .enumerate()
    {
        let generation = current(&data);
        let finished = index_killed_after(&data, "rebuild", after);
        let answer = search(&data, "generated page");
        if !finished && current(&data) == generation {
            assert_eq!(
                ranked(&answer),
                ranked(&before),
                "round {round}: old generation"
            );
        }
        // Whatever generation serves answers the same: the pages did not change.
        assert_eq!(ranked(&answer), ranked(&before), "round {round}");
    }

    // The rest of the site, then twenty kills of the update that applies it.
    crawl_fixture(&site, dir.path(), None);
    let served = current(&data);
    let mut finished_early = false;
    for (round, after) in kill_moments(0xfeed_beef, 20, 20..span)
        .into_iter()
        .enumerate()
    {
        finished_early |= index_killed_after(&data, "update", after);
        if !finished_early {
            assert_eq!(current(&data), served, "update round {round}");
            assert_eq!(ranked(&search(&data, "generated page")), ranked(&before));
        }
    }
    timed(&data, "update");
    let updated = search(&data, "generated page");
    let updated_total = updated["total"].clone();

    // The final state equals an uninterrupted rebuild of the same page store.
    timed(&data, "rebuild");
    let rebuilt = search(&data, "generated page");
    assert_eq!(updated_total, rebuilt["total"]);
    assert_eq!(ranked(&updated), ranked(&rebuilt));
    assert!(rebuilt["total"].as_u64().unwrap_or(0) > before["total"].as_u64().unwrap_or(0));

    // Half-built generations left by the kills are gone; at most two remain.
    let generations = IndexLayout::new(&data.join("index"))
        .generations()
        .expect("list generations");
    assert!(generations.len() <= 2, "{generations:?}");
}

#[test]
fn server_killed_twenty_times_comes_back_with_the_same_answers() {
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    crawl_fixture(&site, dir.path(), None);
    timed(&data, "rebuild");
    let expected = ranked(&search(&data, "coral reef"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for (round, after) in kill_moments(0x05e4_e4e4, 20, 1..150)
        .into_iter()
        .enumerate()
    {
        let mut child = Command::new(quarry_bin())
            .args([
                "serve",
                "--data",
                &data.display().to_string(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start quarry serve");
        let base = served_base_url(child.stdout.take().expect("stdout"));
        let answer: serde_json::Value = runtime.block_on(async {
            // Queries in flight when the kill lands are simply cut; the answer checked is
            // the one before it.
            let url = format!("{base}/search?q=coral+reef&limit=20");
            let first = client
                .get(&url)
                .send()
                .await
                .expect("request")
                .bytes()
                .await
                .expect("body");
            let _ = tokio::time::timeout(after, async {
                loop {
                    let _ = client.get(&url).send().await;
                }
            })
            .await;
            serde_json::from_slice(&first).expect("JSON answer")
        });
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert_eq!(ranked(&answer), expected, "round {round}");
    }
}
