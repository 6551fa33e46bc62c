//! kill -9 in the middle of a crawl, then a restart: every page ends up stored, and only
//! the pages in flight (fetched but not yet committed) are fetched twice.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quarry_crawler::DataLayout;
use quarry_pagestore::PageStore;
use quarry_tests::binary::{quarry_bin, run_quarry};
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages};

fn stored_paths(data: &std::path::Path) -> Vec<String> {
    let store = PageStore::open(&DataLayout::new(data).pages()).expect("open page store");
    store
        .records(None)
        .expect("read page store")
        .map(|item| item.expect("record").1)
        .filter(|record| record.status == 200)
        .map(|record| {
            url::Url::parse(&record.url)
                .expect("stored URL")
                .path()
                .to_string()
        })
        .collect()
}

/// A crawl of the fixture site slow enough (40 ms per page) to be interrupted midway.
struct SlowCrawl {
    site: FixtureSite,
    _dir: tempfile::TempDir,
    data: PathBuf,
    args: Vec<String>,
}

impl SlowCrawl {
    fn new() -> SlowCrawl {
        let site = FixtureSite::start(FixtureOptions {
            page_latency: Duration::from_millis(40),
            ..FixtureOptions::default()
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let seeds = dir.path().join("seeds.txt");
        std::fs::write(&seeds, site.url("/")).expect("write seeds");
        let args = [
            "crawl",
            "--seeds",
            &seeds.to_string_lossy(),
            "--data",
            &data.to_string_lossy(),
        ]
        .into_iter()
        .chain(["--delay-ms", "0", "--allow-private-addresses"])
        .map(str::to_string)
        .collect();
        SlowCrawl {
            site,
            _dir: dir,
            data,
            args,
        }
    }

    fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    /// Starts `quarry crawl` with its output piped.
    fn spawn(&self) -> Child {
        Command::new(quarry_bin())
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start quarry crawl")
    }
}

#[test]
fn crawl_killed_with_sigkill_resumes_without_losing_pages() {
    // 40 ms per page: the crawl takes over a second, and is killed in the middle.
    let crawl = SlowCrawl::new();
    let (site, data, args) = (&crawl.site, &crawl.data, crawl.args());

    let mut child = crawl.spawn();
    // Kill once some pages are committed but well before the end.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let served = site
            .requests()
            .iter()
            .filter(|p| p.ends_with(".html") || p.as_str() == "/")
            .count();
        if served >= 10 || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = stored_paths(data).len();
    assert!(
        before < expected_pages().len(),
        "the kill came too late to test anything"
    );

    let resumed = run_quarry(&args);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resuming"));

    let stored: HashSet<String> = stored_paths(data).into_iter().collect();
    let expected: HashSet<String> = expected_pages().into_iter().collect();
    assert_eq!(
        stored, expected,
        "every page stored exactly as in an uninterrupted crawl"
    );

    // Fetched twice: at most the pages in flight or awaiting the group commit when killed.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for path in site.requests() {
        if path != "/robots.txt" {
            *counts.entry(path).or_default() += 1;
        }
    }
    let refetched: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(refetched.iter().all(|(_, n)| **n == 2), "{refetched:?}");
    assert!(refetched.len() <= 8, "refetched {refetched:?}");
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_run_resumes() {
    let crawl = SlowCrawl::new();
    let (site, data, args) = (&crawl.site, &crawl.data, crawl.args());
    let child = crawl.spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while site.requests().len() < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("run the same command again to resume"),
        "{stdout}"
    );
    let stopped_with = stored_paths(data).len();
    assert!(stopped_with < expected_pages().len());

    let resumed = run_quarry(&args);
    assert!(resumed.status.success());
    let stored: HashSet<String> = stored_paths(data).into_iter().collect();
    let expected: HashSet<String> = expected_pages().into_iter().collect();
    assert_eq!(stored, expected);
}
