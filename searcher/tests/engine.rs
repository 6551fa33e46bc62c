//! The search engine over a small real index: query semantics, paging and hot reload.

use std::time::SystemTime;

use quarry_indexer::{RebuildOptions, rebuild};
use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
use quarry_searcher::{SearchEngine, SearchError, SearchRequest};

fn page(path: &str, title: &str, body: &str) -> PageRecord {
    PageRecord {
        url: format!("http://docs.test{path}"),
        fetched_at: SystemTime::now(),
        status: 200,
        headers: vec![("Content-Type".to_string(), "text/html".to_string())],
        body: format!("<html><head><title>{title}</title></head><body><p>{body}</p></body></html>")
            .into_bytes(),
        ip: None,
        request_headers: Vec::new(),
    }
}

fn build(dir: &std::path::Path, pages: &[PageRecord]) {
    let store = PageStore::open(&dir.join("pages")).expect("open store");
    let mut writer = store.writer(WriterOptions::default()).expect("writer");
    for page in pages {
        writer.append(page).expect("append");
    }
    writer.sync().expect("sync");
    drop(writer);
    rebuild(&store, &dir.join("index"), &RebuildOptions::default()).expect("rebuild");
}

fn urls(engine: &SearchEngine, q: &str) -> Vec<String> {
    let request = SearchRequest::new(q, 100, None).expect("request");
    let response = engine.search(&request).expect("search");
    response
        .hits
        .into_iter()
        .map(|hit| hit.url.trim_start_matches("http://docs.test").to_string())
        .collect()
}

#[test]
fn ranking_paging_and_hot_reload() {
    let dir = tempfile::tempdir().unwrap();
    let mut pages: Vec<PageRecord> = (0..25)
        .map(|i| {
            page(
                &format!("/p{i}"),
                &format!("Page {i}"),
                &format!("common words and item{i} text"),
            )
        })
        .collect();
    pages.push(page(
        "/iter",
        "Iterators",
        "An iterator yields items; iterators are lazy.",
    ));
    pages.push(page(
        "/vec",
        "Vectors",
        "A vector stores items; use an iterator to visit them.",
    ));
    build(dir.path(), &pages);
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();

    // Title matches outrank body matches; stemming joins iterator/iterators.
    assert_eq!(urls(&engine, "iterators"), vec!["/iter", "/vec"]);
    assert_eq!(urls(&engine, "iterator -vector"), vec!["/iter"]);
    assert_eq!(urls(&engine, "\"stores items\""), vec!["/vec"]);
    assert!(urls(&engine, "nonexistentword").is_empty());
    // Stop words alone match nothing rather than everything.
    assert!(urls(&engine, "the and").is_empty());
    assert!(matches!(
        engine.search(&SearchRequest::new("-iterator", 10, None).unwrap()),
        Err(SearchError::Query(_))
    ));

    // Paging by cursor visits all 25 matches once, in score order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_score = f32::INFINITY;
    loop {
        let response = engine
            .search(&SearchRequest::new("common words", 7, cursor.as_deref()).unwrap())
            .unwrap();
        assert_eq!(response.total, 25);
        for hit in &response.hits {
            assert!(hit.score <= last_score);
            last_score = hit.score;
            seen.push(hit.url.clone());
        }
        match response.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (25, 25));

    // A new generation is picked up; cursors of the old one are refused, not misread.
    let first_page = engine
        .search(&SearchRequest::new("common", 5, None).unwrap())
        .unwrap();
    let old_cursor = first_page.next_cursor.unwrap();
    pages.push(page("/new", "Fresh page", "common words, freshly crawled"));
    build(dir.path(), &pages);
    assert!(engine.reload_if_changed().unwrap());
    assert!(!engine.reload_if_changed().unwrap());
    assert_eq!(urls(&engine, "freshly"), vec!["/new"]);
    assert!(matches!(
        engine.search(&SearchRequest::new("common", 5, Some(&old_cursor)).unwrap()),
        Err(SearchError::StaleCursor)
    ));
}

#[test]
fn requests_are_validated() {
    assert!(matches!(
        SearchRequest::new("x", 0, None),
        Err(SearchError::BadLimit { .. })
    ));
    assert!(matches!(
        SearchRequest::new("x", 101, None),
        Err(SearchError::BadLimit { .. })
    ));
    assert!(matches!(
        SearchRequest::new("x", 10, Some("nope")),
        Err(SearchError::BadCursor { .. })
    ));
    assert!(SearchRequest::new("x", 10, Some("")).is_ok());
}

fn html_page(url: &str, lang: &str, title: &str, body: &str) -> PageRecord {
    PageRecord {
        url: url.to_string(),
        fetched_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_714_564_800),
        status: 200,
        headers: vec![("Content-Type".to_string(), "text/html".to_string())],
        body: format!(
            "<html lang={lang}><head><title>{title}</title></head><body><p>{body}</p></body></html>"
        )
        .into_bytes(),
        ip: None,
        request_headers: Vec::new(),
    }
}

fn all_urls(engine: &SearchEngine, q: &str) -> Vec<String> {
    let mut request = SearchRequest::new(q, 100, None).expect("request");
    request = request.with_max_per_host(0);
    let mut urls: Vec<String> = engine
        .search(&request)
        .expect("search")
        .hits
        .into_iter()
        .map(|hit| hit.url)
        .collect();
    urls.sort();
    urls
}

#[test]
fn site_title_url_and_lang_operators() {
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        &[
            html_page(
                "http://example.org/guide/start",
                "en",
                "Getting started",
                "rust tools overview",
            ),
            html_page(
                "http://docs.example.org/intro",
                "en",
                "Rust intro",
                "an overview of tools",
            ),
            html_page(
                "http://notexample.org/x",
                "en",
                "Other",
                "rust tools elsewhere",
            ),
            html_page(
                "http://beispiel.test/anfang",
                "de",
                "Anfang",
                "rust werkzeuge overview",
            ),
        ],
    );
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();
    assert_eq!(
        all_urls(&engine, "site:example.org overview"),
        vec![
            "http://docs.example.org/intro",
            "http://example.org/guide/start"
        ]
    );
    assert_eq!(
        all_urls(&engine, "site:docs.example.org"),
        vec!["http://docs.example.org/intro"]
    );
    assert_eq!(
        all_urls(&engine, "rust -site:example.org"),
        vec!["http://beispiel.test/anfang", "http://notexample.org/x"]
    );
    assert_eq!(
        all_urls(&engine, "title:rust"),
        vec!["http://docs.example.org/intro"]
    );
    assert_eq!(
        all_urls(&engine, "title:\"getting started\" OR title:anfang"),
        vec![
            "http://beispiel.test/anfang",
            "http://example.org/guide/start"
        ]
    );
    assert_eq!(
        all_urls(&engine, "url:guide"),
        vec!["http://example.org/guide/start"]
    );
    assert_eq!(
        all_urls(&engine, "overview lang:de"),
        vec!["http://beispiel.test/anfang"]
    );
    assert_eq!(
        all_urls(&engine, "overview -lang:en"),
        all_urls(&engine, "overview lang:de")
    );
    // A malformed operator is a word: `site:` alone searches for "site".
    assert!(all_urls(&engine, "site:").is_empty());
    // Filters do not change the score of the words.
    let score = |q: &str| {
        engine
            .search(&SearchRequest::new(q, 10, None).unwrap())
            .unwrap()
            .hits[0]
            .score
    };
    assert_eq!(score("werkzeuge"), score("werkzeuge lang:de"));
}

fn crowded_pages() -> Vec<PageRecord> {
    let mut pages = Vec::new();
    for i in 0..10 {
        pages.push(html_page(
            &format!("http://big.test/p{i}"),
            "en",
            &format!("Big {i}"),
            "common words",
        ));
    }
    for i in 0..3 {
        pages.push(html_page(
            &format!("http://mid.test/p{i}"),
            "en",
            &format!("Mid {i}"),
            "common words",
        ));
    }
    pages.push(html_page(
        "http://small.test/only",
        "en",
        "Small",
        "common words",
    ));
    pages
}

/// Pages through `q` with `limit` hits a page; returns every page's hits.
fn pages_of(engine: &SearchEngine, q: &str, limit: usize) -> Vec<Vec<quarry_searcher::Hit>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let response = engine
            .search(&SearchRequest::new(q, limit, cursor.as_deref()).expect("request"))
            .expect("search");
        assert!(
            !response.hits.is_empty() || out.is_empty(),
            "an empty page after a cursor"
        );
        out.push(response.hits);
        match response.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
        assert!(out.len() < 100, "paging does not end");
    }
}

#[test]
fn host_crowding_pages_consistently() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &crowded_pages());
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();

    for limit in [1, 3, 4, 10] {
        let pages = pages_of(&engine, "common", limit);
        let mut seen = std::collections::HashSet::new();
        let mut last_score = f32::INFINITY;
        for hits in &pages {
            assert!(hits.len() <= limit);
            let mut per_host = std::collections::HashMap::<&str, usize>::new();
            for hit in hits {
                assert!(seen.insert(hit.url.clone()), "{} shown twice", hit.url);
                assert!(hit.score <= last_score, "scores go up across pages");
                last_score = hit.score;
                *per_host.entry(&hit.host).or_default() += 1;
            }
            assert!(per_host.values().all(|&n| n <= 2), "{per_host:?}");
            // `more_from_host` marks the last shown hit of a host whose hits were held back.
            for (index, hit) in hits.iter().enumerate() {
                if let Some(more) = &hit.more_from_host {
                    assert_eq!(more, &format!("site:{} common", hit.host));
                    assert!(hits[index + 1..].iter().all(|later| later.host != hit.host));
                }
            }
        }
        // Every host is reached.
        for host in ["http://small.test/", "http://mid.test/", "http://big.test/"] {
            assert!(
                seen.iter().any(|url| url.starts_with(host)),
                "limit {limit}: {host} never shown"
            );
        }
    }
    let first = &pages_of(&engine, "common", 10)[0];
    assert_eq!(
        first.iter().filter(|hit| hit.host == "big.test").count(),
        2,
        "the big host is crowded to two on a page"
    );
    assert!(
        first
            .iter()
            .any(|hit| hit.more_from_host.as_deref() == Some("site:big.test common"))
    );

    // Under site: every hit of the host is reachable, three at a time, none marked.
    let pages = pages_of(&engine, "site:big.test common", 3);
    let hits: Vec<_> = pages.iter().flatten().collect();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|hit| hit.more_from_host.is_none()));
    let unique: std::collections::HashSet<_> = hits.iter().map(|hit| &hit.url).collect();
    assert_eq!(unique.len(), 10);
    // Crowding can be switched off.
    let response = engine
        .search(
            &SearchRequest::new("common", 10, None)
                .unwrap()
                .with_max_per_host(0),
        )
        .unwrap();
    assert_eq!(response.hits.len(), 10);
    assert_eq!(response.total, 14);
}

#[test]
fn single_host_index_is_never_crowded() {
    let dir = tempfile::tempdir().unwrap();
    let pages: Vec<PageRecord> = (0..9)
        .map(|i| page(&format!("/p{i}"), &format!("Page {i}"), "common words"))
        .collect();
    build(dir.path(), &pages);
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();
    let pages = pages_of(&engine, "common", 4);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4, 4, 1]
    );
    assert!(
        pages
            .iter()
            .flatten()
            .all(|hit| hit.more_from_host.is_none())
    );
}

#[test]
fn explain_fetched_at_and_static_rank() {
    let dir = tempfile::tempdir().unwrap();
    let mut pages: Vec<PageRecord> = (0..6)
        .map(|i| {
            html_page(
                &format!("http://links.test/from{i}"),
                "en",
                &format!("Linker {i}"),
                "see <a href=\"http://zoo.test/popular\">this page</a>",
            )
        })
        .collect();
    // Not identical: exact duplicates are collapsed into one document.
    pages.push(html_page(
        "http://zoo.test/popular",
        "en",
        "Zebra",
        "zebra stripes one",
    ));
    pages.push(html_page(
        "http://zoo.test/lonely",
        "en",
        "Zebra",
        "zebra stripes two",
    ));
    build(dir.path(), &pages);
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();

    let plain = engine
        .search(&SearchRequest::new("zebra stripes", 10, None).unwrap())
        .unwrap();
    assert!(plain.hits.iter().all(|hit| hit.explain.is_none()));
    let json = serde_json::to_value(&plain.hits[0]).unwrap();
    assert!(json.get("explain").is_none() && json.get("more_from_host").is_none());
    assert_eq!(json["fetched_at"], "2024-05-01T12:00:00Z");

    let explained = engine
        .search(
            &SearchRequest::new("zebra stripes", 10, None)
                .unwrap()
                .with_explain(true),
        )
        .unwrap();
    let urls: Vec<&str> = explained.hits.iter().map(|hit| hit.url.as_str()).collect();
    assert_eq!(
        urls,
        vec!["http://zoo.test/popular", "http://zoo.test/lonely"]
    );
    let [popular, lonely] = [&explained.hits[0], &explained.hits[1]];
    let (p, l) = (
        popular.explain.as_ref().unwrap(),
        lonely.explain.as_ref().unwrap(),
    );
    assert_eq!(p.text, l.text, "same text, same text score parts");
    assert!(p.page_rank.unwrap() > l.page_rank.unwrap());
    assert!(p.static_factor > l.static_factor);
    for (hit, explain) in [(popular, p), (lonely, l)] {
        assert_eq!(explain.score, hit.score);
        assert!((explain.text_score * explain.static_factor - hit.score).abs() < 1e-4);
        let parts: f32 = explain.text.values().sum();
        assert!((parts - explain.text_score).abs() < 1e-3, "{explain:?}");
        assert!(explain.text.contains_key("body") && explain.text.contains_key("proximity"));
    }
    // Scores are the same with and without explain, so cursors agree.
    assert_eq!(plain.hits[0].score, popular.score);
}

#[test]
fn snippets_of_huge_pages_are_short_and_fast() {
    let dir = tempfile::tempdir().unwrap();
    let filler = "lorem ipsum dolor sit amet ".repeat(18_000);
    build(
        dir.path(),
        &[page(
            "/huge",
            "Huge",
            &format!("needle &lt;b&gt; near the start {filler} needle"),
        )],
    );
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();
    let request = SearchRequest::new("needle", 10, None).unwrap();
    let started = std::time::Instant::now();
    let response = engine.search(&request).unwrap();
    let took = started.elapsed();
    let snippet = &response.hits[0].snippet;
    assert!(snippet.contains("<mark>needle</mark>"), "{snippet}");
    assert!(
        snippet.contains("&lt;b&gt;"),
        "markup stays escaped: {snippet}"
    );
    let visible = snippet.replace("<mark>", "").replace("</mark>", "");
    assert!(
        visible.chars().count() <= 300,
        "{}",
        visible.chars().count()
    );
    eprintln!("huge page search with snippet: {took:?}");
}

#[test]
fn did_you_mean_offers_a_correction_that_matches_more() {
    let dir = tempfile::tempdir().unwrap();
    let pages: Vec<PageRecord> = (0..6)
        .map(|i| {
            page(
                &format!("/r{i}"),
                &format!("Replication part {i}"),
                &format!("streaming replication slots, section {i}, with standby servers"),
            )
        })
        .collect();
    build(dir.path(), &pages);
    let engine = SearchEngine::open(&dir.path().join("index")).unwrap();
    let search = |q: &str| {
        engine
            .search(&SearchRequest::new(q, 10, None).unwrap())
            .unwrap()
    };
    let typo = search("streamng replicaton");
    assert_eq!(typo.total, 0);
    assert_eq!(typo.did_you_mean.as_deref(), Some("streaming replication"));
    let right = search("streaming replication");
    assert_eq!(right.total, 6);
    assert_eq!(right.did_you_mean, None, "enough hits: no suggestion");
    // A typo inside a phrase is left alone; an unknown word with no neighbour gets none.
    assert_eq!(search("\"replicaton slots\"").did_you_mean, None);
    assert_eq!(search("qwxzv").did_you_mean, None);
    let json = serde_json::to_value(&right).unwrap();
    assert!(
        json.get("did_you_mean").is_none(),
        "absent when not offered"
    );
}
