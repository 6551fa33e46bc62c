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
