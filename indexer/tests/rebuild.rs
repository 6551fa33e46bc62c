//! Rebuilding generations from a page store.

use std::time::{Duration, SystemTime};

use quarry_indexer::{GenerationId, IndexLayout, RebuildOptions, rebuild};
use quarry_pagestore::{PageRecord, PageStore, WriterOptions};

fn page(url: &str, status: u16, content_type: &str, body: &str, age_secs: u64) -> PageRecord {
    PageRecord {
        url: url.to_string(),
        fetched_at: SystemTime::now() - Duration::from_secs(age_secs),
        status,
        headers: vec![("Content-Type".to_string(), content_type.to_string())],
        body: body.as_bytes().to_vec(),
        ip: None,
        request_headers: Vec::new(),
    }
}

#[test]
fn generations_switch_atomically_and_old_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    {
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        let html = "text/html; charset=utf-8";
        writer
            .append(&page(
                "http://a.test/",
                200,
                html,
                "<title>Old title</title><p>first version</p>",
                60,
            ))
            .unwrap();
        writer
            .append(&page(
                "http://a.test/b",
                200,
                html,
                "<title>B</title><p>bravo</p>",
                50,
            ))
            .unwrap();
        writer
            .append(&page("http://a.test/gone", 404, html, "<p>missing</p>", 40))
            .unwrap();
        writer
            .append(&page(
                "http://a.test/file",
                200,
                "application/pdf",
                "%PDF",
                30,
            ))
            .unwrap();
        // A later fetch of the same URL wins.
        writer
            .append(&page(
                "http://a.test/",
                200,
                html,
                "<title>New title</title><p>second version</p>",
                10,
            ))
            .unwrap();
        writer.sync().unwrap();
    }
    let index_dir = dir.path().join("index");
    let layout = IndexLayout::new(&index_dir);

    let first = rebuild(&store, &index_dir, &RebuildOptions::default()).unwrap();
    assert_eq!(first.generation, GenerationId(1));
    assert_eq!(first.records_read, 5);
    assert_eq!(first.documents, 2);
    assert_eq!(first.skipped_status, 1);
    assert_eq!(first.skipped_not_html, 1);
    assert_eq!(layout.current().unwrap(), Some(GenerationId(1)));
    let stats = layout.stats().unwrap();
    assert_eq!(stats.documents, 2);
    assert!(stats.index_bytes > 0);

    let second = rebuild(&store, &index_dir, &RebuildOptions::default()).unwrap();
    assert_eq!(second.generation, GenerationId(2));
    assert_eq!(
        layout.generations().unwrap(),
        vec![GenerationId(1), GenerationId(2)]
    );

    // A half-built generation left by a crash is never current and is cleaned up.
    std::fs::create_dir_all(index_dir.join("gen-000005")).unwrap();
    let third = rebuild(&store, &index_dir, &RebuildOptions::default()).unwrap();
    assert_eq!(third.generation, GenerationId(6));
    assert_eq!(layout.current().unwrap(), Some(GenerationId(6)));
    assert_eq!(
        layout.generations().unwrap(),
        vec![GenerationId(2), GenerationId(6)]
    );
    assert!(third.removed_generations.contains(&GenerationId(1)));
    assert!(third.removed_generations.contains(&GenerationId(5)));

    let generation = quarry_indexer::Generation::open_current(&layout).unwrap();
    let reader = generation.index.reader().unwrap();
    let searcher = reader.searcher();
    assert_eq!(searcher.num_docs(), 2);
    let parser =
        tantivy::query::QueryParser::for_index(&generation.index, vec![generation.fields.title]);
    let hits = searcher
        .search(
            &parser.parse_query("new").unwrap(),
            &tantivy::collector::Count,
        )
        .unwrap();
    assert_eq!(hits, 1, "the latest fetch of http://a.test/ is indexed");
    let old = searcher
        .search(
            &parser.parse_query("old").unwrap(),
            &tantivy::collector::Count,
        )
        .unwrap();
    assert_eq!(old, 0, "the earlier fetch is gone");
}

#[test]
fn an_empty_page_store_builds_an_empty_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    let stats = rebuild(
        &store,
        &dir.path().join("index"),
        &RebuildOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.documents, 0);
}

#[test]
fn identical_pages_collapse_into_the_plainest_url() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    {
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        let html = "text/html";
        let same = "<title>Same</title><p>identical words here</p>";
        writer
            .append(&page(
                "http://a.test/docs/page.html?highlight=x",
                200,
                html,
                same,
                30,
            ))
            .unwrap();
        writer
            .append(&page("http://a.test/docs/page.html", 200, html, same, 20))
            .unwrap();
        writer
            .append(&page(
                "http://a.test/other",
                200,
                html,
                "<title>Other</title><p>different</p>",
                10,
            ))
            .unwrap();
        // An empty page is not a duplicate of another empty page.
        writer
            .append(&page(
                "http://a.test/empty1",
                200,
                html,
                "<title>E</title>",
                10,
            ))
            .unwrap();
        writer
            .append(&page(
                "http://a.test/empty2",
                200,
                html,
                "<title>E</title>",
                10,
            ))
            .unwrap();
        writer.sync().unwrap();
    }
    let index_dir = dir.path().join("index");
    let stats = rebuild(&store, &index_dir, &RebuildOptions::default()).unwrap();
    assert_eq!(stats.duplicates_collapsed, 1);
    assert_eq!(stats.documents, 4);
    let layout = IndexLayout::new(&index_dir);
    assert_eq!(layout.stats().unwrap().duplicates_collapsed, 1);
    let aliases =
        std::fs::read_to_string(layout.generation_dir(stats.generation).join("aliases.tsv"))
            .unwrap();
    assert_eq!(
        aliases,
        "http://a.test/docs/page.html?highlight=x\thttp://a.test/docs/page.html\n"
    );
    let generation = quarry_indexer::Generation::open_current(&layout).unwrap();
    assert_eq!(generation.index.reader().unwrap().searcher().num_docs(), 4);
}

#[test]
fn link_graph_gives_anchor_text_rank_language_and_collapses_near_duplicates() {
    use tantivy::collector::TopDocs;
    use tantivy::query::TermQuery;
    use tantivy::schema::{IndexRecordOption, Value};
    use tantivy::{Index, TantivyDocument, Term};

    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    let html = "text/html";
    // A long article: one changed word flips few simhash bits.
    let article: String = (0..40)
        .map(|i| format!("Glacier number {i} is a slow river of ice that carves valley {i}. "))
        .collect();
    {
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        let pages = [
            ("http://a.test/", "<html lang=en-US><title>Home</title><p>Welcome to the site.</p>\
              <a href=\"/ice\">Frozen water streams</a> <a href=\"/ru\">Russian page</a></html>".to_string()),
            ("http://a.test/ice", format!("<title>Ice</title><p>{article}</p><a href=\"/\">home</a>")),
            // The same article with one word changed: a near-duplicate.
            ("http://a.test/ice?print=1", format!("<title>Ice</title><p>{}</p>", article.replace("carves valley 7.", "carves the valley 7."))),
            ("http://a.test/ru", "<title>Москва</title><p>Москва — столица России, крупнейший по численности населения город страны и её политический, экономический и культурный центр.</p><a href=\"/\">домой</a>".to_string()),
        ];
        for (url, body) in &pages {
            writer.append(&page(url, 200, html, body, 10)).unwrap();
        }
        writer.sync().unwrap();
    }
    let index_dir = dir.path().join("index");
    let stats = rebuild(&store, &index_dir, &RebuildOptions::default()).unwrap();
    assert_eq!(stats.documents, 3);
    assert_eq!(stats.duplicates_collapsed, 1);

    let layout = IndexLayout::new(&index_dir);
    let generation = layout.current().unwrap().unwrap();
    let index = Index::open_in_dir(layout.generation_dir(generation)).unwrap();
    quarry_indexer::register_analyzers(&index);
    let fields = quarry_indexer::Fields::from_schema(&index.schema()).unwrap();
    let searcher = index.reader().unwrap().searcher();
    let find = |field, text: &str| -> Vec<TantivyDocument> {
        let query = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic);
        searcher
            .search(&query, &TopDocs::with_limit(10).order_by_score())
            .unwrap()
            .into_iter()
            .map(|(_, address)| searcher.doc(address).unwrap())
            .collect()
    };
    let url_of = |doc: &TantivyDocument| {
        doc.get_first(fields.url)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    // "frozen" only appears in the home page's link text: the linked page is found by it,
    // and it is the plain URL that was kept of the two near-duplicates.
    let frozen = find(fields.anchors, "frozen");
    assert_eq!(
        frozen.iter().map(url_of).collect::<Vec<_>>(),
        vec!["http://a.test/ice"]
    );
    // The home page is linked from both other pages: the highest page rank.
    let rank = |url: &str| {
        let docs = find(fields.url, url);
        docs[0]
            .get_first(fields.page_rank)
            .unwrap()
            .as_f64()
            .unwrap()
    };
    assert!(rank("http://a.test/") > rank("http://a.test/ru"));
    // Language: declared (en-US → en) or detected (Russian text → ru).
    let lang = |url: &str| {
        let docs = find(fields.url, url);
        docs[0]
            .get_first(fields.lang)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(lang("http://a.test/"), "en");
    assert_eq!(lang("http://a.test/ru"), "ru");
    let aliases =
        std::fs::read_to_string(layout.generation_dir(generation).join("aliases.tsv")).unwrap();
    assert_eq!(aliases, "http://a.test/ice?print=1\thttp://a.test/ice\n");
}
