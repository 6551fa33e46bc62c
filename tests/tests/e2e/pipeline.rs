//! The whole pipeline through the library API.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use quarry_crawler::{CanonicalUrl, CrawlConfig, Crawler, DataLayout};
use quarry_indexer::{RebuildOptions, rebuild};
use quarry_pagestore::PageStore;
use quarry_searcher::http::{AppState, ServerLimits, router};
use quarry_searcher::{SearchEngine, SearchRequest};
use quarry_tests::fixture::{
    FixtureOptions, FixtureSite, MOVED_TITLE, SECRET_WORD, expected_pages,
};
use tower::ServiceExt;

fn test_config() -> CrawlConfig {
    CrawlConfig {
        min_host_delay_ms: 0,
        allow_private_addresses: true,
        ..CrawlConfig::default()
    }
}

/// Crawls the fixture into `data` and returns the crawl stats.
fn crawl(site: &FixtureSite, data: &std::path::Path) -> quarry_crawler::CrawlStats {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let crawler = Crawler::open(data, test_config()).expect("open crawler");
        crawler
            .add_seeds(&[CanonicalUrl::parse(&site.url("/")).expect("seed")])
            .expect("add seeds");
        crawler.run(std::future::pending()).await.expect("crawl")
    })
}

/// Latest status per URL path in the page store.
fn stored_statuses(data: &std::path::Path) -> HashMap<String, u16> {
    let store = PageStore::open(&DataLayout::new(data).pages()).expect("open page store");
    store
        .records(None)
        .expect("read page store")
        .map(|item| {
            let (_, record) = item.expect("record");
            let path = url::Url::parse(&record.url)
                .expect("stored URL")
                .path()
                .to_string();
            (path, record.status)
        })
        .collect()
}

#[test]
fn crawl_index_and_search_the_fixture_site() {
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let stats = crawl(&site, data);
    let expected = expected_pages();
    assert_eq!(stats.stored, expected.len() as u64, "{stats:?}");
    assert_eq!(stats.robots_denied, 1, "/private/secret.html");
    assert_eq!(stats.not_html, 1, "/files/report.pdf");
    assert_eq!(stats.redirected, 2, "/old-page and /index.html");
    assert_eq!(stats.http_errors, 1, "/missing.html");
    assert_eq!(stats.noindex, 1, "/drafts.html has X-Robots-Tag: noindex");
    assert_eq!(stats.queued, 0);

    // The disallowed path was never requested; robots.txt was fetched once.
    let requests = site.requests();
    assert!(
        !requests.iter().any(|p| p.starts_with("/private/")),
        "{requests:?}"
    );
    assert_eq!(requests.iter().filter(|p| *p == "/robots.txt").count(), 1);
    // Nothing was fetched twice.
    let unique: BTreeSet<_> = requests.iter().collect();
    assert_eq!(unique.len(), requests.len(), "{requests:?}");

    let statuses = stored_statuses(data);
    for path in &expected {
        assert_eq!(statuses.get(path), Some(&200), "{path} stored");
    }
    assert_eq!(statuses.get("/old-page"), Some(&301));
    assert_eq!(statuses.get("/missing.html"), Some(&404));
    assert!(!statuses.contains_key("/files/report.pdf"));

    let built = rebuild(
        &PageStore::open(&DataLayout::new(data).pages()).unwrap(),
        &DataLayout::new(data).index(),
        &RebuildOptions::default(),
    )
    .unwrap();
    assert_eq!(built.documents, expected.len() as u64);

    let engine = SearchEngine::open(&DataLayout::new(data).index()).unwrap();
    let search = |q: &str| {
        engine
            .search(&SearchRequest::new(q, 10, None).unwrap())
            .unwrap()
    };

    let volcano = search("volcano lava");
    assert_eq!(volcano.total, 1);
    assert_eq!(volcano.hits[0].url, site.url("/topics/volcanoes.html"));
    assert_eq!(volcano.hits[0].title, "Volcanoes");
    assert!(
        volcano.hits[0].snippet.contains("<mark>"),
        "{}",
        volcano.hits[0].snippet
    );

    // Stemming: "tides" page says "Tides rise and fall".
    assert_eq!(
        search("rising tide").hits.first().map(|h| h.title.as_str()),
        Some("Tides")
    );
    // Legacy charsets were decoded; accents fold.
    assert_eq!(search("crème brûlée").hits[0].url, site.url("/latin1.html"));
    assert_eq!(search("creme brulee").hits[0].url, site.url("/latin1.html"));
    assert_eq!(search("Москва").hits[0].url, site.url("/cyrillic.html"));
    // The redirect target is indexed under its own URL.
    assert_eq!(search("relocated").hits[0].title, MOVED_TITLE);
    // The robots-denied page is nowhere; boilerplate (nav, footer, script) is not indexed.
    assert_eq!(search(SECRET_WORD).total, 0);
    assert_eq!(
        search("quasiunpublished").total,
        0,
        "noindex pages are not indexed"
    );
    assert_eq!(search("analytics").total, 0);
    assert_eq!(search("footer").total, 0);
    // Phrase, exclusion, OR.
    assert_eq!(search("\"black tea\"").hits[0].title, "Tea");
    assert_eq!(search("\"tea black\"").total, 0);
    let sun = search("sun");
    assert!(sun.total >= 3, "{sun:?}");
    assert_eq!(search("sun -comets").total, sun.total - 1);
    assert_eq!(search("suckers OR waggle").total, 2);

    // Paging one hit at a time visits exactly the ranked hits, in order.
    let all = search("earth");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = engine
            .search(&SearchRequest::new("earth", 1, cursor.as_deref()).unwrap())
            .unwrap();
        paged.extend(page.hits.iter().map(|h| h.url.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ranked: Vec<_> = all.hits.iter().map(|h| h.url.clone()).collect();
    assert_eq!(paged, ranked);
    assert_eq!(paged.len() as u64, all.total);

    // The HTTP API over the same engine.
    let app = router(AppState::new(Arc::new(engine), &ServerLimits::default()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let get = |uri: &str| {
            let app = app.clone();
            let request = Request::builder()
                .uri(uri.to_string())
                .body(Body::empty())
                .unwrap();
            async move {
                let response = app.oneshot(request).await.unwrap();
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (status, String::from_utf8(bytes.to_vec()).unwrap())
            }
        };
        // "glacier" is on its page, in the index's links and in two "see also" lists.
        let (status, body) = get("/search?q=glacier&limit=2").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["hits"][0]["title"], "Glaciers");
        assert_eq!(json["hits"].as_array().unwrap().len(), 2);
        assert_eq!(json["total"], 4);
        assert!(json["took_ms"].is_number());
        let cursor = json["next_cursor"].as_str().unwrap().to_string();
        let (status, body) = get(&format!("/search?q=glacier&limit=2&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["hits"].as_array().unwrap().len(), 2);
        assert!(json["next_cursor"].is_null());

        let (status, body) = get("/?q=glacier").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Glaciers") && body.contains("<mark>"));

        let (status, body) = get("/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(&format!("\"documents\":{}", expected.len())));
    });
}

#[test]
fn loopback_is_refused_without_allow_private_addresses() {
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stats = runtime.block_on(async {
        let config = CrawlConfig {
            min_host_delay_ms: 0,
            ..CrawlConfig::default()
        };
        let crawler = Crawler::open(dir.path(), config).unwrap();
        crawler
            .add_seeds(&[CanonicalUrl::parse(&site.url("/")).unwrap()])
            .unwrap();
        crawler.run(std::future::pending()).await.unwrap()
    });
    assert_eq!(stats.stored, 0);
    assert!(
        site.requests().is_empty(),
        "nothing reached the server: {:?}",
        site.requests()
    );
    assert_eq!(stats.refused_addresses, 1, "{stats:?}");
    assert_eq!(stats.robots_denied, 0, "{stats:?}");
}
