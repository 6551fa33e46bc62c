//! kill -9 in the middle of a crawl, again and again, then a restart: every page ends up
//! stored, only the pages in flight (fetched but not yet committed) are fetched twice, and
//! the dead-letter list is intact. Ctrl-C stops cleanly and the next run resumes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quarry_tests::binary::{kill_moments, quarry_bin, run_quarry};

use crate::stored_paths;
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages, generated_pages};

/// A crawl of a fixture site slow enough to be interrupted midway.
struct SlowCrawl {
    site: FixtureSite,
    _dir: tempfile::TempDir,
    data: PathBuf,
    args: Vec<String>,
}

impl SlowCrawl {
    /// The fixture site with 40 ms per page.
    fn new() -> SlowCrawl {
        SlowCrawl::with(
            FixtureOptions {
                page_latency: Duration::from_millis(40),
                ..FixtureOptions::default()
            },
            "",
        )
    }

    /// A crawl of a site with `options`, with `config` as its `quarry.toml`.
    fn with(options: FixtureOptions, config: &str) -> SlowCrawl {
        let site = FixtureSite::start(options);
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let seeds = dir.path().join("seeds.txt");
        std::fs::write(&seeds, site.url("/")).expect("write seeds");
        let config_path = dir.path().join("quarry.toml");
        std::fs::write(&config_path, config).expect("write config");
        let args = [
            "crawl",
            "--seeds",
            &seeds.to_string_lossy(),
            "--data",
            &data.to_string_lossy(),
            "--config",
            &config_path.to_string_lossy(),
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

/// Kills of the crawler in `crawl_killed_with_sigkill_twenty_times_loses_nothing`.
const KILLS: usize = 20;
/// Generated pages of that crawl: enough that twenty short runs do not finish it.
const KILLED_CRAWL_PAGES: usize = 1500;

#[test]
fn crawl_killed_with_sigkill_twenty_times_loses_nothing() {
    // 1,500 generated pages plus the fixture's own, 5 ms each: a crawl of several
    // seconds, killed with SIGKILL at twenty seeded random moments and restarted each time.
    let crawl = SlowCrawl::with(
        FixtureOptions {
            page_latency: Duration::from_millis(5),
            generated_pages: KILLED_CRAWL_PAGES,
            failing_pages: true,
            ..FixtureOptions::default()
        },
        "[crawl]\nretry_backoff_ms = [20, 40]\n",
    );
    let (site, data, args) = (&crawl.site, &crawl.data, crawl.args());
    let moments = kill_moments(0x5eed_cafe, KILLS, 300..900);
    for (round, after) in moments.iter().enumerate() {
        let mut child = crawl.spawn();
        std::thread::sleep(*after);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let stored = stored_paths(data).len();
        println!("kill {}: after {after:?}, {stored} pages stored", round + 1);
    }
    let stored_before_last = stored_paths(data).len();
    let expected: HashSet<String> = expected_pages()
        .into_iter()
        .chain(generated_pages(KILLED_CRAWL_PAGES))
        .chain(["/flaky.html".to_string()])
        .collect();
    assert!(
        stored_before_last < expected.len(),
        "the kills came too late to test anything"
    );

    let resumed = run_quarry(&args);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );

    let stored: HashSet<String> = stored_paths(data).into_iter().collect();
    assert_eq!(
        stored, expected,
        "every page stored exactly as in an uninterrupted crawl"
    );

    // Fetched at most twice: a page is fetched again only when a kill caught it between
    // its fetch and the group commit.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for path in site.requests() {
        // robots.txt and sitemaps are read again by every run.
        let per_run = path == "/robots.txt" || path.starts_with("/sitemap");
        if !per_run && !matches!(path.as_str(), "/flaky.html" | "/broken.html") {
            *counts.entry(path).or_default() += 1;
        }
    }
    let refetched: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(refetched.iter().all(|(_, n)| **n == 2), "{refetched:?}");
    println!(
        "{} pages fetched twice after {KILLS} kills",
        refetched.len()
    );

    // The dead-letter list survived: /broken.html is in it once, with its last error.
    let data_arg = data.to_string_lossy();
    let errors = run_quarry(&["errors", "list", "--data", &data_arg, "--json"]);
    assert!(errors.status.success());
    let listed: serde_json::Value =
        serde_json::from_slice(&errors.stdout).expect("errors list --json");
    let text = listed.to_string();
    assert_eq!(text.matches("/broken.html").count(), 1, "{text}");
    assert!(text.contains("http_500"), "{text}");
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
