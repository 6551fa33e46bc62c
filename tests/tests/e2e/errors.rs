//! Failed fetches: retried with backoff, then dead-lettered; `quarry errors` lists and
//! requeues them.

use quarry_crawler::{CanonicalUrl, CrawlConfig, Crawler, DataLayout};
use quarry_tests::binary::run_quarry;
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages};

#[test]
fn failures_are_retried_then_dead_lettered_and_can_be_requeued() {
    let site = FixtureSite::start(FixtureOptions {
        failing_pages: true,
        ..FixtureOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = CrawlConfig {
        min_host_delay_ms: 0,
        allow_private_addresses: true,
        retry_backoff_ms: vec![20, 40, 80],
        ..CrawlConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stats = runtime.block_on(async {
        let crawler = Crawler::open(dir.path(), config).unwrap();
        crawler
            .add_seeds(&[CanonicalUrl::parse(&site.url("/")).unwrap()])
            .unwrap();
        crawler.run(std::future::pending()).await.unwrap()
    });
    // flaky: 503, 503, 200 (2 retries); broken: 500 × 4 (3 retries, then given up).
    assert_eq!(stats.stored, expected_pages().len() as u64 + 1, "{stats:?}");
    assert_eq!(stats.retries, 5, "{stats:?}");
    assert_eq!(stats.dead_letters, 1, "{stats:?}");
    assert_eq!(stats.queued, 0);
    let requests = site.requests();
    assert_eq!(requests.iter().filter(|p| *p == "/flaky.html").count(), 3);
    assert_eq!(requests.iter().filter(|p| *p == "/broken.html").count(), 4);

    let data = dir.path().to_str().unwrap();
    let list = run_quarry(&["errors", "list", "--data", data, "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(json["total"], 1);
    assert_eq!(json["groups"][0]["kind"], "http_500");
    assert_eq!(
        json["groups"][0]["urls"][0]["url"],
        site.url("/broken.html")
    );
    assert_eq!(json["groups"][0]["urls"][0]["attempts"], 4);

    let retry = run_quarry(&["errors", "retry", "--data", data]);
    assert!(retry.status.success());
    assert!(String::from_utf8_lossy(&retry.stdout).starts_with("requeued 1 URLs"));
    let frontier =
        quarry_crawler::frontier::Frontier::open(&DataLayout::new(dir.path()).frontier()).unwrap();
    assert_eq!(frontier.stats().unwrap().queued, 1);
    assert!(frontier.dead_letters().unwrap().is_empty());
}
