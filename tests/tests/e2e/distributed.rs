//! A crawl shared by several `quarry crawl --frontier nats://…` workers over a real NATS
//! server with JetStream on loopback (Debian's `nats-server`): the workers split the hosts
//! between them and store every page of a many-host site exactly once. With a worker
//! killed mid-crawl, the others finish it with no page lost, and only the URLs that
//! worker held are fetched twice. Given-up URLs land in the dead-letter stream that
//! `quarry errors list --frontier` reads. Three workers sharing one page store on S3
//! (moto on loopback), one killed mid-crawl, fill it with every page; two shards built
//! from it answer like one index of it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quarry_pagestore::PageStore;
use quarry_tests::binary::{KillOnDrop, quarry_bin, run_quarry, start_serve};
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages, generated_pages};
use quarry_tests::nats::NatsServer;
use quarry_tests::s3::MotoServer;

use crate::shards::{hits, search};

/// Hosts of the many-host site, on 127.0.0.10 and up (one address each).
const HOSTS: u8 = 6;
/// Generated pages per host (besides the fixture's own).
const PAGES: usize = 30;
/// `max_concurrent_fetches` of each worker.
const FETCHES: usize = 4;
/// The most URLs a worker holds at once (`quarry crawl`: 8 × its fetches, at least 64).
const WINDOW: usize = 64;

struct Crawl {
    dir: tempfile::TempDir,
    sites: Vec<FixtureSite>,
    seeds: PathBuf,
    config: PathBuf,
}

impl Crawl {
    fn new(latency: Duration, failing: bool) -> Crawl {
        let dir = tempfile::tempdir().expect("temp dir");
        let sites: Vec<FixtureSite> = (0..HOSTS)
            .map(|i| {
                FixtureSite::start(FixtureOptions {
                    generated_pages: PAGES,
                    page_latency: latency,
                    failing_pages: failing && i == 0,
                    bind_ip: Some(Ipv4Addr::new(127, 0, 0, 10 + i)),
                    ..FixtureOptions::default()
                })
            })
            .collect();
        let seeds = dir.path().join("seeds.txt");
        let lines: Vec<String> = sites.iter().map(|site| site.url("/")).collect();
        std::fs::write(&seeds, lines.join("\n")).expect("seeds");
        let config = dir.path().join("quarry.toml");
        std::fs::write(
            &config,
            format!("[crawl]\nmax_concurrent_fetches = {FETCHES}\nretry_backoff_ms = [100, 200]\n"),
        )
        .expect("config");
        Crawl {
            dir,
            sites,
            seeds,
            config,
        }
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn worker(&self, frontier: &str, name: &str) -> KillOnDrop {
        self.worker_storing(frontier, name, None)
    }

    /// A worker whose page store is `store` (`--store URL` with the environment it needs).
    fn worker_storing(
        &self,
        frontier: &str,
        name: &str,
        store: Option<(&str, &MotoServer)>,
    ) -> KillOnDrop {
        let mut command = Command::new(quarry_bin());
        command.args(["crawl", "--seeds"]).arg(&self.seeds);
        if let Some((url, moto)) = store {
            command.args(["--store", url]).envs(moto.env());
        }
        let child = command
            .arg("--data")
            .arg(self.data(name))
            .args([
                "--delay-ms",
                "0",
                "--allow-private-addresses",
                "--frontier",
                frontier,
            ])
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker");
        KillOnDrop(child)
    }

    /// Every page the sites should yield, as URLs.
    fn expected(&self) -> BTreeSet<String> {
        let mut paths = expected_pages();
        paths.extend(generated_pages(PAGES));
        self.sites
            .iter()
            .flat_map(|site| paths.iter().map(|path| site.url(path)))
            .collect()
    }

    /// How often each page (not robots.txt or sitemaps, which every worker owning a host
    /// reads) was requested, over all sites.
    fn page_requests(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for site in &self.sites {
            for path in site.requests() {
                if path == "/robots.txt" || path.contains("sitemap") {
                    continue;
                }
                *counts.entry(site.url(&path)).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Waits for a worker to exit; its stderr if it failed.
fn finish(mut worker: KillOnDrop, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = worker.0.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut pipe) = worker.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return if status.success() {
                Ok(stderr)
            } else {
                Err(format!("{status}: {stderr}"))
            };
        }
        assert!(
            Instant::now() < deadline,
            "a worker did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The URLs of the 200 pages stored in the page store of `data` (HTML pages; not the
/// redirect, error and noindex records).
fn stored(data: &Path) -> Vec<String> {
    let dir = data.join("pages");
    if !dir.is_dir() {
        return Vec::new();
    }
    PageStore::open(&dir)
        .expect("open")
        .records(None)
        .expect("records")
        .filter_map(|item| item.ok())
        .map(|(_, record)| record.url)
        .collect()
}

fn stored_count(data: &Path) -> usize {
    std::panic::catch_unwind(|| stored(data).len()).unwrap_or(0)
}

/// Kills a worker with SIGKILL once it has stored a few pages in `data`, well before the
/// crawl ends.
fn kill_after_a_few_pages(mut victim: KillOnDrop, data: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_count(data) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    victim.0.kill().expect("kill -9");
    let _ = victim.0.wait();
}

#[test]
fn workers_share_a_crawl_and_each_page_is_fetched_once() {
    let Some(nats) = NatsServer::start("workers_share_a_crawl_and_each_page_is_fetched_once")
    else {
        return;
    };
    // Slow enough pages that the second worker joins long before the crawl ends, even on
    // a loaded machine.
    let crawl = Crawl::new(Duration::from_millis(20), true);
    let frontier = nats.frontier("shared");
    let workers: Vec<KillOnDrop> = ["w1", "w2"]
        .iter()
        .map(|name| crawl.worker(&frontier, name))
        .collect();
    for worker in workers {
        finish(worker, Duration::from_secs(120)).unwrap();
    }
    let (first, second) = (stored(&crawl.data("w1")), stored(&crawl.data("w2")));
    assert!(
        !first.is_empty() && !second.is_empty(),
        "both workers crawled: {} and {}",
        first.len(),
        second.len()
    );
    let all: BTreeSet<String> = first.iter().chain(&second).cloned().collect();
    let expected = crawl.expected();
    let missing: Vec<_> = expected.difference(&all).collect();
    assert!(missing.is_empty(), "never stored: {missing:?}");
    // No URL was stored by both, and no page was requested twice.
    let both: Vec<_> = first
        .iter()
        .collect::<BTreeSet<_>>()
        .intersection(&second.iter().collect())
        .cloned()
        .collect();
    assert!(both.is_empty(), "stored twice: {both:?}");
    let twice: Vec<_> = crawl
        .page_requests()
        .into_iter()
        // /flaky.html and /broken.html are retried by design.
        .filter(|(url, n)| *n > 1 && !url.contains("flaky") && !url.contains("broken"))
        .collect();
    assert!(twice.is_empty(), "fetched more than once: {twice:?}");

    // The page that always fails is a dead letter of the shared crawl.
    let output = run_quarry(&["errors", "list", "--frontier", &frontier, "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let urls: Vec<&str> = listing["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["urls"].as_array().unwrap())
        .map(|letter| letter["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [crawl.sites[0].url("/broken.html")], "{listing}");
}

#[test]
fn a_worker_killed_mid_crawl_loses_no_page() {
    let Some(nats) = NatsServer::start("a_worker_killed_mid_crawl_loses_no_page") else {
        return;
    };
    let crawl = Crawl::new(Duration::from_millis(30), false);
    let frontier = nats.frontier("killed");
    let victim = crawl.worker(&frontier, "w1");
    let others: Vec<KillOnDrop> = ["w2", "w3"]
        .iter()
        .map(|name| crawl.worker(&frontier, name))
        .collect();
    kill_after_a_few_pages(victim, &crawl.data("w1"));
    let killed_at = stored_count(&crawl.data("w1"));
    for worker in others {
        finish(worker, Duration::from_secs(120)).unwrap();
    }
    let all: BTreeSet<String> = ["w1", "w2", "w3"]
        .iter()
        .flat_map(|name| stored(&crawl.data(name)))
        .collect();
    let expected = crawl.expected();
    assert!(
        all.len() > killed_at,
        "the others crawled on after the kill"
    );
    let missing: Vec<_> = expected.difference(&all).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    // Only what the killed worker held (at most its window) came twice, none thrice.
    let requests = crawl.page_requests();
    let twice: Vec<_> = requests.iter().filter(|(_, n)| **n == 2).collect();
    let more: Vec<_> = requests.iter().filter(|(_, n)| **n > 2).collect();
    assert!(more.is_empty(), "{more:?}");
    assert!(
        twice.len() <= WINDOW,
        "{} refetched: {twice:?}",
        twice.len()
    );
}

#[test]
fn bad_frontier_urls_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, "http://127.0.0.1:9/\n").unwrap();
    for url in [
        "http://127.0.0.1:4222",
        "nats://",
        "nats://127.0.0.1:4222/bad name!",
    ] {
        let output = run_quarry(&[
            "crawl",
            "--seeds",
            &seeds.display().to_string(),
            "--data",
            &dir.path().join("data").display().to_string(),
            "--frontier",
            url,
        ]);
        assert_eq!(output.status.code(), Some(2), "{url}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("invalid frontier URL"),
            "{url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn workers_sharing_a_bucket_feed_shards_that_answer_like_one_index() {
    let test = "workers_sharing_a_bucket_feed_shards_that_answer_like_one_index";
    let Some(nats) = NatsServer::start(test) else {
        return;
    };
    let Some(moto) = MotoServer::start(test) else {
        return;
    };
    moto.create_bucket("quarry");
    let store = "s3://quarry/crawl";
    let crawl = Crawl::new(Duration::from_millis(30), false);
    // Small segments: each worker uploads a few while it crawls.
    let mut config = std::fs::read_to_string(&crawl.config).unwrap();
    config = config.replace("[crawl]\n", "[crawl]\nsegment_max_bytes = 32768\n");
    std::fs::write(&crawl.config, config).unwrap();
    let frontier = nats.frontier("bucket");
    let shared = Some((store, &moto));
    let victim = crawl.worker_storing(&frontier, "w1", shared);
    let others: Vec<KillOnDrop> = ["w2", "w3"]
        .iter()
        .map(|name| crawl.worker_storing(&frontier, name, shared))
        .collect();
    kill_after_a_few_pages(victim, &crawl.data("w1"));
    for worker in others {
        finish(worker, Duration::from_secs(120)).unwrap();
    }
    // The killed worker's pages wait in its data directory (acked, so nobody else fetches
    // them); restarted, it uploads them, finds the shared crawl done and exits.
    if stored_count(&crawl.data("w1")) == 0 {
        // Rare: killed just after it sealed a segment and uploaded it.
        eprintln!("note: the killed worker had uploaded every page it stored");
    }
    let restarted = crawl.worker_storing(&frontier, "w1", shared);
    finish(restarted, Duration::from_secs(60)).unwrap();
    for name in ["w1", "w2", "w3"] {
        assert!(
            stored(&crawl.data(name)).is_empty(),
            "{name} kept pages locally"
        );
    }
    let remote = moto.store("quarry", "crawl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let segments = runtime.block_on(remote.segments()).unwrap();
    let numbers: Vec<u32> = segments.iter().map(|s| s.id.0).collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as u32).collect::<Vec<_>>(),
        "one gap-free sequence of segments from three writers"
    );
    assert!(numbers.len() >= 3, "{numbers:?}");
    let cache = crawl.data("bucket-copy");
    std::fs::create_dir_all(&cache).unwrap();
    let cache = PageStore::open(&cache).unwrap();
    runtime.block_on(remote.download(&cache, None)).unwrap();
    let in_bucket: BTreeSet<String> = cache
        .records(None)
        .unwrap()
        .map(|item| item.unwrap().1.url)
        .collect();
    let missing: Vec<_> = crawl.expected().difference(&in_bucket).cloned().collect();
    assert!(missing.is_empty(), "not in the bucket: {missing:?}");

    // One index of the bucket and two shards of it, on another data directory.
    let search_data = crawl.data("search");
    let data = search_data.to_str().unwrap();
    let env = moto.env();
    for shard in [None, Some("0/2"), Some("1/2")] {
        let mut args = vec!["index", "rebuild", "--data", data, "--store", store];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let output = quarry_tests::binary::run_quarry_env(&args, &env);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (_whole, whole) = start_serve(&["--data", data]);
    let (_shard0, shard0) = start_serve(&["--data", data, "--shard", "0/2"]);
    let (_shard1, shard1) = start_serve(&["--data", data, "--shard", "1/2"]);
    let (_coordinator, coordinator) = start_serve(&["--shards", &format!("{shard0},{shard1}")]);
    for query in [
        "volcano",
        "glaciers valleys",
        "\"coral reefs\"",
        "entry number",
        "deserts OR rainforests",
        "generated -volcano",
        "title:generated page",
    ] {
        let one = search(&whole, query, None);
        let sharded = search(&coordinator, query, None);
        assert!(
            !one["hits"].as_array().unwrap().is_empty(),
            "{query}: no hits"
        );
        assert_eq!(sharded["total"], one["total"], "{query}");
        assert!(sharded.get("partial").is_none(), "{query}: {sharded}");
        // The same scores; the same URLs, except that among hits tied with the tenth score
        // each side cuts the tie by its own document numbers.
        let (ours, theirs) = (hits(&sharded), hits(&one));
        let scores = |hits: &[(String, String)]| -> Vec<String> {
            hits.iter().map(|(_, score)| score.clone()).collect()
        };
        assert_eq!(scores(&ours), scores(&theirs), "{query}: top 10 scores");
        let last = theirs.last().map(|(_, score)| score.clone());
        let above = |hits: &[(String, String)]| -> Vec<String> {
            hits.iter()
                .filter(|(_, score)| Some(score) != last.as_ref())
                .map(|(url, _)| url.clone())
                .collect()
        };
        assert_eq!(above(&ours), above(&theirs), "{query}: top 10");
    }
}
