//! Per-host politeness: hosts are crawled in parallel, each one request at a time with the
//! configured delay, raised by robots.txt `Crawl-delay`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use quarry_crawler::{CanonicalUrl, CrawlConfig, Crawler};
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages};

/// Smallest gap between two consecutive page requests to `site` (robots.txt excluded).
fn min_gap(site: &FixtureSite) -> Duration {
    let times: Vec<Instant> = site
        .timed_requests()
        .into_iter()
        .filter(|(_, path)| path != "/robots.txt")
        .map(|(at, _)| at)
        .collect();
    times
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .min()
        .unwrap_or(Duration::MAX)
}

#[test]
fn hosts_are_crawled_in_parallel_each_at_its_own_pace() {
    // Two hosts on two addresses: one obeys the configured 100 ms delay, the other asks
    // for 0.25 s in robots.txt.
    let fast = FixtureSite::start(FixtureOptions {
        bind_ip: Some(Ipv4Addr::new(127, 0, 0, 2)),
        ..FixtureOptions::default()
    });
    let slow = FixtureSite::start(FixtureOptions {
        crawl_delay: Some(0.25),
        bind_ip: Some(Ipv4Addr::new(127, 0, 0, 3)),
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        min_host_delay_ms: 100,
        max_pages: Some(14),
        max_depth: 1,
        allow_private_addresses: true,
        ..CrawlConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let stats = runtime.block_on(async {
        let crawler = Crawler::open(dir.path(), config).unwrap();
        let seeds = [fast.url("/"), slow.url("/")].map(|u| CanonicalUrl::parse(&u).unwrap());
        crawler.add_seeds(&seeds).unwrap();
        crawler.run(std::future::pending()).await.unwrap()
    });
    let elapsed = started.elapsed();
    assert_eq!(stats.stored, 14, "{stats:?}");

    // Never two requests to one host closer than its delay (with a little timer slack).
    let slack = Duration::from_millis(10);
    assert!(
        min_gap(&fast) + slack >= Duration::from_millis(100),
        "{:?}",
        min_gap(&fast)
    );
    assert!(
        min_gap(&slow) + slack >= Duration::from_millis(250),
        "{:?}",
        min_gap(&slow)
    );

    // Parallel: the fast host did not wait for the slow one. In the time the slow host
    // served its pages, the fast one served more.
    let fast_pages = fast
        .requests()
        .iter()
        .filter(|p| *p != "/robots.txt")
        .count();
    let slow_pages = slow
        .requests()
        .iter()
        .filter(|p| *p != "/robots.txt")
        .count();
    assert!(
        fast_pages > slow_pages,
        "fast {fast_pages}, slow {slow_pages}"
    );
    // Sequential crawling of 14 pages at >= 100 ms each would take 1.4 s or more.
    assert!(
        elapsed < Duration::from_millis(1400) + Duration::from_millis(600),
        "{elapsed:?}"
    );
}

#[test]
fn politeness_bound_crawl_of_several_addresses_stays_near_the_ideal() {
    // Four hosts on 127.0.0.2 … 127.0.0.5, 200 ms apart each. The ideal crawl asks each
    // host exactly every 200 ms, all hosts at once: (requests of the busiest host - 1) ×
    // 200 ms. Quarry must stay within 1.2× of that, and never ask one host sooner.
    let delay = Duration::from_millis(200);
    let sites: Vec<FixtureSite> = (2..6)
        .map(|last| {
            FixtureSite::start(FixtureOptions {
                bind_ip: Some(Ipv4Addr::new(127, 0, 0, last)),
                ..FixtureOptions::default()
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        min_host_delay_ms: delay.as_millis() as u64,
        allow_private_addresses: true,
        ..CrawlConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seeds: Vec<CanonicalUrl> = sites
        .iter()
        .map(|s| CanonicalUrl::parse(&s.url("/")).unwrap())
        .collect();
    let crawler = Crawler::open(dir.path(), config).unwrap();
    crawler.add_seeds(&seeds).unwrap();
    let started = Instant::now();
    let stats = runtime
        .block_on(crawler.run(std::future::pending()))
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        stats.stored as usize,
        4 * expected_pages().len(),
        "{stats:?}"
    );

    let slack = Duration::from_millis(10);
    let mut busiest = 0;
    for site in &sites {
        let times: Vec<Instant> = site
            .timed_requests()
            .into_iter()
            .map(|(at, _)| at)
            .collect();
        let gap = times.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(gap + slack >= delay, "{gap:?}");
        busiest = busiest.max(times.len());
    }
    let ideal = delay * (busiest as u32 - 1);
    println!(
        "politeness: {} requests per host, {elapsed:?} for an ideal of {ideal:?} ({:.2}x)",
        busiest,
        elapsed.as_secs_f64() / ideal.as_secs_f64()
    );
    assert!(
        elapsed.as_secs_f64() <= 1.2 * ideal.as_secs_f64(),
        "{elapsed:?} vs ideal {ideal:?}"
    );
}

/// Crawls a 60-page site whose pages take 15 ms to answer, with no delay between requests
/// and `connections` connections per host; returns the site once the crawl is done.
fn crawl_with_connections(connections: usize) -> FixtureSite {
    let site = FixtureSite::start(FixtureOptions {
        page_latency: Duration::from_millis(15),
        generated_pages: 60,
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CrawlConfig {
        min_host_delay_ms: 0,
        response_time_factor: 0.0,
        max_connections_per_host: connections,
        max_connections_per_ip: connections,
        allow_private_addresses: true,
        ..CrawlConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let crawler = Crawler::open(dir.path(), config).expect("open crawler");
    crawler
        .add_seeds(&[CanonicalUrl::parse(&site.url("/")).expect("seed URL")])
        .expect("add seed");
    let stats = runtime
        .block_on(crawler.run(std::future::pending()))
        .expect("crawl");
    assert_eq!(
        stats.stored as usize,
        expected_pages().len() + 60,
        "{stats:?}"
    );
    site
}

#[test]
fn a_host_never_gets_more_requests_at_once_than_its_connection_limit() {
    // The connection slot of a page is given back when its response is in, before its
    // links are extracted: that must never let a second request to the host start early.
    let one = crawl_with_connections(1);
    assert_eq!(one.max_concurrent_requests(), 1);

    // The limit is the only thing holding the crawl back: with 3 it uses 3.
    let three = crawl_with_connections(3);
    assert_eq!(three.max_concurrent_requests(), 3);
}
