//! `quarry serve` under ten times the load it admits, over real sockets: every answer is
//! a 200 or a quick `503 overloaded`, memory stays bounded, and the server answers
//! normally once the load stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quarry_tests::binary::{peak_rss_kib, run_quarry, start_serve};
use quarry_tests::fixture::{FixtureOptions, FixtureSite};

use crate::crawl_fixture;

/// Concurrent clients: ten times the 2 running + 4 queued searches the server admits.
const CLIENTS: usize = 60;
/// How long the load lasts.
const LOAD: Duration = Duration::from_secs(4);
/// Peak memory the loaded server may reach.
const MAX_RSS_MIB: u64 = 256;

#[test]
fn ten_times_capacity_gets_quick_503s_bounded_memory_and_recovery() {
    let site = FixtureSite::start(FixtureOptions {
        generated_pages: 1500,
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    crawl_fixture(&site, dir.path(), None);
    let data = dir.path().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let rebuild = run_quarry(&["index", "rebuild", "--data", data]);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );

    // No result cache: every request is a real search.
    let config = dir.path().join("quarry.toml");
    std::fs::write(
        &config,
        "[serve]\nmax_running = 2\nmax_queued = 4\ncache_entries = 0\n",
    )
    .expect("config");
    let config = config.to_str().expect("UTF-8 path");
    let (server, base) = start_serve(&["--data", data, "--config", config]);
    let pid = server.0.id();
    let rss_before = peak_rss_kib(pid).expect("VmHWM of the server");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (ok, shed, slowest_shed_ms) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let ok = Arc::new(AtomicU64::new(0));
        let shed = Arc::new(AtomicU64::new(0));
        let slowest_shed_us = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + LOAD;
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..CLIENTS {
            let (client, base) = (client.clone(), base.clone());
            let (ok, shed, slowest) = (ok.clone(), shed.clone(), slowest_shed_us.clone());
            clients.spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    // Varied queries and limits: broad ones, phrase ones, deep pages.
                    let q = [
                        "generated page",
                        "entry number",
                        "\"page 1\"",
                        "volcano OR glacier",
                    ][(c + n) % 4];
                    let url = format!(
                        "{base}/search?q={}&limit={}",
                        q.replace(' ', "+"),
                        1 + (c * 7 + n) % 50
                    );
                    let started = Instant::now();
                    let response = client.get(&url).send().await.expect("request");
                    let status = response.status().as_u16();
                    let body = response.text().await.expect("body");
                    match status {
                        200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        503 => {
                            assert!(body.contains("\"overloaded\""), "{body}");
                            shed.fetch_add(1, Ordering::Relaxed);
                            slowest
                                .fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                        }
                        other => panic!("{url}: {other} {body}"),
                    }
                }
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.expect("client task");
        }
        (
            ok.load(Ordering::Relaxed),
            shed.load(Ordering::Relaxed),
            slowest_shed_us.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    });
    let rss_after = peak_rss_kib(pid).expect("VmHWM of the server");
    println!(
        "{CLIENTS} clients for {LOAD:?}: {ok} answered, {shed} shed (slowest 503 {slowest_shed_ms:.1} ms); peak RSS {} MiB before, {} MiB after",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(ok > 0, "admitted searches were answered");
    assert!(shed > 0, "ten times capacity was shed");
    assert!(slowest_shed_ms < 500.0, "a 503 took {slowest_shed_ms} ms");
    assert!(
        rss_after / 1024 < MAX_RSS_MIB,
        "peak RSS {} MiB",
        rss_after / 1024
    );

    // Load gone: every search is answered.
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..20 {
            let response = client
                .get(format!("{base}/search?q=generated+page"))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 200);
        }
    });
}
