//! The `quarry` binary against a hostile site (`quarry_tests::hostile`): every trap and
//! broken server behaviour at once. The crawl must end on its own, in bounded time and
//! memory, store the good pages, count each failure where it belongs, and the index built
//! from what it stored must find the words of the broken-but-readable pages.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quarry_crawler::{CrawlStats, DataLayout};
use quarry_pagestore::PageStore;
use quarry_tests::binary::{peak_rss_kib, quarry_bin, run_quarry};
use quarry_tests::hostile::{
    BAD_CHARSET_WORD, CYRILLIC_WORD, DEEP_WORD, HostileSite, Robots, STORED_ON_MAIN,
};

/// Wall time after which the crawl is considered hung.
const CRAWL_LIMIT: Duration = Duration::from_secs(120);
/// Peak resident memory the crawl may reach (the 1 GiB body, the 64 MiB bomb and the
/// 100k-link page must all be cut or streamed, never held whole).
const PEAK_RSS_LIMIT_KB: u64 = 400 << 10;

fn search_urls(data: &str, query: &str) -> Vec<String> {
    let output = run_quarry(&["search", "--data", data, "--json", query]);
    assert!(
        output.status.success(),
        "search {query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("search --json prints JSON");
    response["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["url"].as_str().expect("url").to_string())
        .collect()
}

#[test]
fn a_hostile_site_is_crawled_in_bounded_time_and_memory_and_its_readable_pages_found() {
    let site = HostileSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, site.seeds().join("\n")).unwrap();
    let config = dir.path().join("quarry.toml");
    std::fs::write(
        &config,
        "[crawl]\nmin_host_delay_ms = 0\nmin_ip_delay_ms = 0\nrequest_timeout_ms = 2000\n\
         retry_backoff_ms = [50, 100]\n",
    )
    .unwrap();
    let stdout_path = dir.path().join("crawl.out");
    let stderr_path = dir.path().join("crawl.err");

    let started = Instant::now();
    let mut child = Command::new(quarry_bin())
        .args(["--config", config.to_str().unwrap(), "crawl", "--seeds"])
        .arg(&seeds)
        .arg("--data")
        .arg(&data)
        .args(["--allow-private-addresses", "--json"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn quarry crawl");
    let mut peak_kb = 0;
    let status = loop {
        if let Some(kb) = peak_rss_kib(child.id()) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > CRAWL_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "crawl still running after {CRAWL_LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    assert!(status.success(), "crawl failed ({status}):\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stats: CrawlStats = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!("crawl --json printed no stats ({error}):\n{stdout}");
    });
    eprintln!("hostile crawl: {elapsed:?}, peak RSS {peak_kb} kB, {stats:#?}");
    assert!(
        peak_kb < PEAK_RSS_LIMIT_KB,
        "peak RSS {peak_kb} kB, limit {PEAK_RSS_LIMIT_KB} kB"
    );

    // What was requested.
    let requests = site.requests();
    let main_paths: Vec<&str> = requests
        .iter()
        .filter(|(robots, _)| *robots == Robots::Main)
        .map(|(_, path)| path.as_str())
        .collect();
    assert!(
        requests
            .iter()
            .all(|(_, path)| !path.starts_with("/private/")),
        "a robots.txt-disallowed page was fetched: {requests:?}"
    );
    let count = |prefix: &str| main_paths.iter().filter(|p| p.starts_with(prefix)).count();
    assert!(
        count("/calendar") <= 31,
        "calendar trap: {}",
        count("/calendar")
    );
    assert!(
        count("/self/") <= 16,
        "self-nesting trap: {}",
        count("/self/")
    );
    assert!(
        count("/grow") <= 8,
        "growing-query trap: {}",
        count("/grow")
    );
    assert!(
        count("/redirect/chain/") <= 12,
        "endless redirect chain followed: {}",
        count("/redirect/chain/")
    );
    assert!(
        count("/redirect/loop-") <= 12,
        "redirect loop: {}",
        count("/redirect/loop-")
    );
    // The 1 GiB body is cut at the body cap (10 MiB by default), plus what the kernel
    // buffers had accepted.
    assert!(
        site.huge_body_sent() < 64 << 20,
        "{} bytes of the 1 GiB body were read",
        site.huge_body_sent()
    );
    // A robots.txt that fails (503) or never answers is asked again after the retry delay,
    // not once per page.
    for robots in [Robots::ServerError, Robots::Silent] {
        let asked = site.requests_for(robots, "/robots.txt");
        assert!(
            (1..=3).contains(&asked),
            "{robots:?}: robots.txt asked {asked} times"
        );
    }

    // What was stored.
    let store = PageStore::open(&DataLayout::new(&data).pages()).expect("page store");
    let stored: BTreeSet<String> = store
        .records(None)
        .expect("records")
        .map(|item| item.expect("record").1.url.to_string())
        .collect();
    for path in STORED_ON_MAIN {
        let url = site.url(Robots::Main, path);
        assert!(
            stored.contains(&url),
            "{url} not stored; stored: {stored:#?}"
        );
    }
    // robots.txt over the size cap: the rules in its first 500 KiB apply, the rest is cut.
    let huge_ok = site.url(Robots::Huge, "/ok.html");
    assert!(
        stored.contains(&huge_ok),
        "{huge_ok} not stored: {stored:#?}"
    );
    // A robots.txt behind a redirect is followed.
    assert!(stored.contains(&site.url(Robots::Redirect, "/ok.html")));
    for bad in [
        "/huge-body",
        "/huge-declared",
        "/gzip-bomb",
        "/drip",
        "/silent",
        "/cut",
    ] {
        let url = site.url(Robots::Main, bad);
        assert!(!stored.contains(&url), "{url} stored");
    }

    // Counters: each failure where it belongs. Bodies over the cap: /huge-body,
    // /huge-declared, /gzip-bomb. Network failures, each retried twice and then
    // dead-lettered: /drip, /silent, /cut.
    assert_eq!(stats.too_large, 3, "{stats:?}");
    assert_eq!(stats.network_errors, 3, "{stats:?}");
    assert_eq!(stats.retries, 6, "{stats:?}");
    assert_eq!(stats.dead_letters, 3, "{stats:?}");
    assert!(stats.too_many_redirects >= 1, "{stats:?}");
    assert!(stats.robots_denied >= 5, "{stats:?}");
    assert!(stats.not_html >= 1, "{stats:?}");
    assert!(stats.sitemaps_fetched >= 2, "{stats:?}");
    assert!(stats.out_of_scope >= 1000, "{stats:?}");
    assert_eq!(stats.refused_addresses, 0, "{stats:?}");
    assert_eq!(stats.queued, 0, "the crawl ended with work left: {stats:?}");

    // The index built from what was stored finds the readable broken pages.
    let data = data.to_str().unwrap();
    let rebuild = run_quarry(&["index", "rebuild", "--data", data]);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    for (word, path) in [
        (DEEP_WORD, "/deep"),
        (CYRILLIC_WORD, "/conflict-charset"),
        (BAD_CHARSET_WORD, "/bad-charset"),
    ] {
        let urls = search_urls(data, word);
        assert_eq!(urls, vec![site.url(Robots::Main, path)], "{word}");
    }
}
