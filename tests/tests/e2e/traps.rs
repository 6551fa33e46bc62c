//! Crawler policies against a live fixture: trap limits, `rel=canonical`, the 429
//! back-off, conditional recrawls, and per-IP politeness across host names.

use std::time::{Duration, Instant};

use quarry_crawler::{CanonicalUrl, CrawlConfig, CrawlStats, Crawler, DataLayout};
use quarry_pagestore::{PageRecord, PageStore};
use quarry_tests::fixture::{FixtureOptions, FixtureSite};

fn crawl(data: &std::path::Path, config: CrawlConfig, seeds: &[String]) -> CrawlStats {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let crawler = Crawler::open(data, config).expect("open crawler");
        let seeds: Vec<CanonicalUrl> = seeds
            .iter()
            .map(|s| CanonicalUrl::parse(s).expect("seed"))
            .collect();
        crawler.add_seeds(&seeds).expect("seeds");
        crawler.queue_recrawl().expect("recrawl");
        crawler.run(std::future::pending()).await.expect("crawl")
    })
}

fn records(data: &std::path::Path) -> Vec<PageRecord> {
    let store = PageStore::open(&DataLayout::new(data).pages()).expect("page store");
    store
        .records(None)
        .expect("records")
        .map(|item| item.expect("record").1)
        .collect()
}

fn fast_config() -> CrawlConfig {
    CrawlConfig {
        min_host_delay_ms: 0,
        allow_private_addresses: true,
        retry_backoff_ms: vec![0],
        ..CrawlConfig::default()
    }
}

#[test]
fn traps_are_cut_canonical_pages_stored_under_their_canonical_url() {
    let site = FixtureSite::start(FixtureOptions {
        traps: true,
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        max_query_variants_per_path: 5,
        ..fast_config()
    };
    let started = Instant::now();
    let stats = crawl(dir.path(), config, &[site.url("/")]);
    assert!(started.elapsed() < Duration::from_secs(30), "{stats:?}");

    let requests = site.requests();
    let calendar = requests
        .iter()
        .filter(|p| p.starts_with("/calendar"))
        .count();
    assert_eq!(calendar, 5, "query variants per path are capped");
    let mut loops: Vec<&String> = requests
        .iter()
        .filter(|p| p.starts_with("/loop/"))
        .collect();
    loops.sort();
    assert_eq!(
        loops,
        ["/loop/", "/loop/again/", "/loop/again/again/"],
        "a segment repeated three times is a trap"
    );
    assert!(stats.trap_limited >= 2, "{stats:?}");

    // robots.txt lists a sitemap index (which lists itself, too): the page only the
    // sitemap names is stored; the tracking parameter of the other is stripped.
    assert_eq!(stats.sitemap_urls, 2, "{stats:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|p| *p == "/sitemaps/index.xml")
            .count(),
        1
    );
    assert!(requests.iter().any(|p| p == "/hidden.html"), "{requests:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|p| p.starts_with("/topics/tides.html"))
            .count(),
        1
    );

    // The print page names /topics/volcanoes.html as canonical: stored under that URL.
    assert_eq!(stats.canonicalized, 1, "{stats:?}");
    let stored = records(dir.path());
    let print = site.url("/print/volcanoes.html");
    assert!(stored.iter().all(|r| r.url != print));
    let canonical = site.url("/topics/volcanoes.html");
    assert!(stored.iter().any(|r| {
        r.url == canonical
            && r.headers
                .iter()
                .any(|(k, v)| k == "X-Crawler-Fetched-Url" && *v == print)
    }));

    // 429 without Retry-After: the host's next request waits at least a second.
    let timed = site.timed_requests();
    let busy = timed
        .iter()
        .position(|(_, p)| p == "/busy.html")
        .expect("busy page requested");
    let gap = timed[busy + 1].0.duration_since(timed[busy].0);
    assert!(gap >= Duration::from_millis(990), "{gap:?}");
    assert_eq!(requests.iter().filter(|p| *p == "/busy.html").count(), 2);
}

#[test]
fn recrawl_asks_conditionally_and_keeps_unchanged_pages() {
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        recrawl_after_secs: 1,
        ..fast_config()
    };
    let first = crawl(dir.path(), config.clone(), &[site.url("/")]);
    assert!(first.stored > 20, "{first:?}");
    let records_before = records(dir.path()).len();

    std::thread::sleep(Duration::from_millis(1100));
    site.change("/about.html");
    let second = crawl(dir.path(), config, &[]);
    assert_eq!(second.not_modified, first.stored - 1, "{second:?}");
    assert_eq!(second.stored, 1, "only the changed page is stored again");
    let after = records(dir.path());
    assert_eq!(after.len(), records_before + 1);
    let last = after.last().unwrap();
    assert_eq!(last.url, site.url("/about.html"));
    assert!(
        last.request_headers
            .iter()
            .any(|(k, _)| k == "If-None-Match"),
        "{:?}",
        last.request_headers
    );
}

#[test]
fn host_names_on_one_address_share_its_delay() {
    // Three sites on 127.0.0.1: three hosts (ports) on one IP address. Each host may be
    // asked every 300 ms, but the address only every 100 ms.
    let sites: Vec<FixtureSite> = (0..3)
        .map(|_| FixtureSite::start(FixtureOptions::default()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        min_host_delay_ms: 300,
        min_ip_delay_ms: 100,
        max_pages: Some(15),
        allow_private_addresses: true,
        ..CrawlConfig::default()
    };
    let seeds: Vec<String> = sites.iter().map(|s| s.url("/")).collect();
    let stats = crawl(dir.path(), config, &seeds);
    assert_eq!(stats.stored, 15, "{stats:?}");
    let mut log: Vec<(Instant, String)> = sites
        .iter()
        .flat_map(|s| {
            let port = s.addr().port();
            s.timed_requests()
                .into_iter()
                .map(move |(at, path)| (at, format!("{port}{path}")))
        })
        .collect();
    log.sort();
    let start = log[0].0;
    let min_gap = log.windows(2).map(|w| w[1].0 - w[0].0).min().unwrap();
    if min_gap < Duration::from_millis(90) {
        for (at, what) in &log {
            println!("{:>6} ms {what}", (*at - start).as_millis());
        }
    }
    assert!(
        min_gap + Duration::from_millis(10) >= Duration::from_millis(100),
        "{min_gap:?}"
    );
    for site in &sites {
        let times: Vec<Instant> = site
            .timed_requests()
            .into_iter()
            .map(|(at, _)| at)
            .collect();
        let gap = times.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(
            gap + Duration::from_millis(10) >= Duration::from_millis(300),
            "{gap:?}"
        );
    }
}
