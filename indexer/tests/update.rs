//! `update` applies only what was stored since the last build, and its result equals a
//! full `rebuild` of the same page store: same documents and stored fields, same static
//! ranks, same scores for the same queries, same aliases, byte-identical dictionary.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use quarry_indexer::{
    Dictionary, Generation, IndexLayout, RebuildOptions, RebuildStats, Shard, rebuild, update,
};
use quarry_pagestore::{NOINDEX_HEADER, PageRecord, PageStore, WriterOptions};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::Value;
use tantivy::{Document, TantivyDocument, Term};

const HTML: &str = "text/html; charset=utf-8";

fn record(url: &str, status: u16, content_type: &str, body: &str, at: u64) -> PageRecord {
    PageRecord {
        url: url.to_string(),
        fetched_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + at),
        status,
        headers: vec![("Content-Type".to_string(), content_type.to_string())],
        body: body.as_bytes().to_vec(),
        ip: None,
        request_headers: Vec::new(),
    }
}

/// Words the generated pages are made of (so queries hit several pages with different
/// frequencies).
const WORDS: &[&str] = &[
    "volcano", "glacier", "river", "basalt", "magma", "delta", "canyon", "erosion", "sediment",
    "tectonic", "plate", "crater", "summit", "lava", "granite",
];

/// A page of site `host` number `n`, version `version`, linking to a few other pages.
fn page(host: usize, n: usize, version: usize) -> PageRecord {
    // A template block on every page of a site: boilerplate the index leaves out.
    let mut body = format!(
        "<title>Page {n} of site {host} v{version}</title><div>Site {host} chrome banner</div>\
         <h1>Heading {n}</h1><p>"
    );
    // A small LCG seeded by the page: different pages share words but not word order.
    let mut seed = (host * 1_000 + n * 10 + version) as u64;
    for _ in 0..(20 + n % 7) {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        body.push_str(WORDS[(seed >> 33) as usize % WORDS.len()]);
        body.push(' ');
    }
    body.push_str("</p>");
    for target in [(n + 1) % 12, (n * 5 + 3) % 12, 0] {
        body.push_str(&format!(
            "<a href=\"http://site{}.test/p{target}.html\">about {} {target}</a>",
            (host + target) % 3,
            WORDS[target % WORDS.len()]
        ));
    }
    record(
        &format!("http://site{host}.test/p{n}.html"),
        200,
        HTML,
        &body,
        (version * 1000 + n) as u64,
    )
}

fn append(store: &PageStore, records: &[PageRecord]) {
    let mut writer = store
        .writer(WriterOptions {
            segment_max_bytes: 4 << 10,
        })
        .unwrap();
    for record in records {
        writer.append(record).unwrap();
    }
    writer.sync().unwrap();
}

fn options() -> RebuildOptions {
    RebuildOptions {
        threads: 2,
        ..RebuildOptions::default()
    }
}

/// Everything observable about the current generation of `index_dir`.
#[derive(Debug, PartialEq)]
struct Snapshot {
    documents: BTreeMap<String, String>,
    scores: BTreeMap<String, Vec<(String, String)>>,
    aliases: String,
    words: Vec<u8>,
    titles: Vec<u8>,
}

fn snapshot(index_dir: &Path) -> Snapshot {
    let layout = IndexLayout::new(index_dir);
    let generation = Generation::open_current(&layout).unwrap();
    let dir = layout.generation_dir(generation.id);
    let reader = generation.index.reader().unwrap();
    let searcher = reader.searcher();
    let fields = generation.fields;
    let mut documents = BTreeMap::new();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(16).unwrap();
        for doc in segment.doc_ids_alive() {
            let document: TantivyDocument = store.get(doc).unwrap();
            let url = document
                .get_first(fields.url)
                .and_then(|v| v.as_str())
                .unwrap()
                .to_string();
            documents.insert(url, document.to_json(&generation.index.schema()));
        }
    }
    let parser = QueryParser::for_index(
        &generation.index,
        vec![fields.title, fields.headings, fields.body, fields.anchors],
    );
    let mut scores = BTreeMap::new();
    let queries = WORDS
        .iter()
        .map(|w| w.to_string())
        .chain(["\"volcano glacier\"".to_string(), "about".to_string()]);
    for text in queries {
        let query = parser.parse_query(&text).unwrap();
        let top = searcher
            .search(&query, &TopDocs::with_limit(200).order_by_score())
            .unwrap();
        let mut hits: Vec<(String, String)> = top
            .into_iter()
            .map(|(score, address)| {
                let document: TantivyDocument = searcher.doc(address).unwrap();
                let url = document.get_first(fields.url).unwrap().as_str().unwrap();
                (url.to_string(), format!("{score:.5}"))
            })
            .collect();
        hits.sort();
        scores.insert(text, hits);
    }
    let count = searcher
        .search(
            &tantivy::query::TermQuery::new(
                Term::from_field_text(fields.url, "http://site0.test/p0.html"),
                tantivy::schema::IndexRecordOption::Basic,
            ),
            &tantivy::collector::Count,
        )
        .unwrap();
    assert!(count <= 1, "one document per URL");
    Snapshot {
        documents,
        scores,
        aliases: std::fs::read_to_string(dir.join("aliases.tsv")).unwrap(),
        words: std::fs::read(dir.join("words.fst")).unwrap(),
        titles: std::fs::read(dir.join("titles.fst")).unwrap(),
    }
}

fn assert_equal_to_rebuild(store: &PageStore, updated: &Path, scratch: &Path) {
    let rebuilt = scratch.join(format!(
        "rebuilt-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    rebuild(store, &rebuilt, &options()).unwrap();
    let (a, b) = (snapshot(updated), snapshot(&rebuilt));
    assert_eq!(a.documents.len(), b.documents.len());
    for (url, document) in &b.documents {
        assert_eq!(a.documents.get(url), Some(document), "document {url}");
    }
    for (query, hits) in &b.scores {
        assert_eq!(a.scores.get(query), Some(hits), "query {query}");
    }
    assert_eq!(a.aliases, b.aliases);
    assert!(a.words == b.words, "words.fst differs");
    assert!(a.titles == b.titles, "titles.fst differs");
}

#[test]
fn updates_equal_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    let index = dir.path().join("index");

    // Round 1: three sites of twelve pages; the first update has nothing to continue.
    let first: Vec<PageRecord> = (0..3)
        .flat_map(|host| (0..12).map(move |n| page(host, n, 0)))
        .collect();
    append(&store, &first);
    let stats = update(&store, &index, &options()).unwrap();
    assert!(!stats.incremental);
    assert_eq!(stats.documents, 36);
    assert_equal_to_rebuild(&store, &index, dir.path());
    // Nothing new: nothing re-indexed (the state's ranks survive their JSON round trip).
    let idle = update(&store, &index, &options()).unwrap();
    assert_eq!((idle.records_read, idle.documents_indexed), (0, 0));

    // Round 2: changed, new, gone, redirected, noindex, not-HTML, transient error and
    // duplicate pages.
    let mut noindex = record("http://site1.test/p4.html", 200, HTML, "", 5000);
    noindex
        .headers
        .push((NOINDEX_HEADER.to_string(), "1".to_string()));
    let duplicate_body = String::from_utf8(page(2, 7, 0).body).unwrap();
    let second = vec![
        page(0, 3, 1),
        page(1, 5, 1),
        page(0, 12, 1),
        page(2, 13, 1),
        record("http://site0.test/p6.html", 404, HTML, "gone", 5001),
        record("http://site2.test/p2.html", 301, HTML, "", 5002),
        noindex,
        record(
            "http://site1.test/p8.html",
            200,
            "application/pdf",
            "%PDF",
            5003,
        ),
        record("http://site2.test/p9.html", 503, HTML, "busy", 5004),
        record(
            "http://site2.test/copy.html?x=1",
            200,
            HTML,
            &duplicate_body,
            5005,
        ),
    ];
    append(&store, &second);
    let stats: RebuildStats = update(&store, &index, &options()).unwrap();
    assert!(stats.incremental);
    assert_eq!(stats.records_read, second.len() as u64);
    assert_eq!(stats.documents, 36 + 2 - 4);
    assert_eq!(stats.duplicates_collapsed, 1);
    // On a graph this small, four removed pages move many ranks across a grid step; still
    // not everything is re-indexed.
    assert!(
        stats.documents_indexed < stats.documents,
        "only changed pages are re-indexed: {stats:?}"
    );
    assert_equal_to_rebuild(&store, &index, dir.path());

    // Round 3: a gone page comes back, a page changes twice in one batch; and an update
    // with nothing new re-indexes nothing.
    let third = vec![page(0, 6, 2), page(1, 1, 2), page(1, 1, 3)];
    append(&store, &third);
    update(&store, &index, &options()).unwrap();
    assert_equal_to_rebuild(&store, &index, dir.path());
    let idle = update(&store, &index, &options()).unwrap();
    assert_eq!((idle.records_read, idle.documents_indexed), (0, 0));
    assert_equal_to_rebuild(&store, &index, dir.path());

    let layout = IndexLayout::new(&index);
    let generation = Generation::open_current(&layout).unwrap();
    let reader = generation.index.reader().unwrap();
    let parser = QueryParser::for_index(&generation.index, vec![generation.fields.body]);
    let banner = parser.parse_query("banner").unwrap();
    assert_eq!(
        reader
            .searcher()
            .search(&banner, &tantivy::collector::Count)
            .unwrap(),
        0,
        "the template block is left out of every body"
    );
    let dictionary = Dictionary::open(&layout.generation_dir(generation.id))
        .unwrap()
        .unwrap();
    assert!(dictionary.document_frequency("volcano") > 0);
    assert_eq!(dictionary.correct("volcamo").as_deref(), Some("volcano"));
}

#[test]
fn an_update_leaves_the_previous_generation_intact_and_outlives_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    let index = dir.path().join("index");
    let layout = IndexLayout::new(&index);
    let first: Vec<PageRecord> = (0..12).map(|n| page(0, n, 0)).collect();
    append(&store, &first);
    let built = rebuild(&store, &index, &options()).unwrap();
    let before = snapshot(&index);

    append(&store, &[page(0, 3, 1), page(0, 20, 1)]);
    let updated = update(&store, &index, &options()).unwrap();
    assert_eq!(updated.documents, 13);
    // The previous generation still opens and answers exactly as before.
    std::fs::write(layout.current_path(), format!("{}\n", built.generation)).unwrap();
    assert_eq!(snapshot(&index), before);
    std::fs::write(layout.current_path(), format!("{}\n", updated.generation)).unwrap();

    // Retention deletes the consumed segments; an update still has every page, a
    // rebuild only what is retained.
    let checkpoint = Generation::open_current(&layout)
        .unwrap()
        .meta
        .checkpoint
        .unwrap();
    let retired = store.retire_consumed(checkpoint, Duration::ZERO).unwrap();
    assert!(!retired.is_empty(), "small segments were consumed");
    assert_eq!(store.retired().unwrap().segments, retired);
    append(&store, &[page(0, 21, 1)]);
    let after_retention = update(&store, &index, &options()).unwrap();
    assert_eq!(after_retention.documents, 14);
    let rebuilt = rebuild(&store, &dir.path().join("rebuilt"), &options()).unwrap();
    assert!(rebuilt.documents < 14, "{rebuilt:?}");
}

#[test]
fn shards_partition_the_documents_of_a_full_build() {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(&dir.path().join("pages")).unwrap();
    let mut records: Vec<PageRecord> = (0..3)
        .flat_map(|host| (0..12).map(move |n| page(host, n, 0)))
        .collect();
    let duplicate_body = String::from_utf8(page(2, 7, 0).body).unwrap();
    records.push(record(
        "http://site2.test/copy.html?x=1",
        200,
        HTML,
        &duplicate_body,
        900,
    ));
    append(&store, &records);
    let full = dir.path().join("full");
    rebuild(&store, &full, &options()).unwrap();
    let whole = snapshot(&full);

    let sharded = |index: u32| RebuildOptions {
        shard: Some(Shard { index, count: 2 }),
        ..options()
    };
    let mut union = BTreeMap::new();
    let mut aliases = 0;
    for index in 0..2 {
        let dir = dir.path().join(format!("shard-{index}"));
        let stats = rebuild(&store, &dir, &sharded(index)).unwrap();
        let part = snapshot(&dir);
        assert!(
            part.documents.len() >= 10,
            "shard {index} holds {}",
            part.documents.len()
        );
        assert_eq!(stats.documents, part.documents.len() as u64);
        aliases += stats.duplicates_collapsed;
        let meta = Generation::open_current(&IndexLayout::new(&dir))
            .unwrap()
            .meta;
        assert_eq!(meta.shard, Some(Shard { index, count: 2 }));
        for (url, document) in part.documents {
            assert!(Shard { index, count: 2 }.contains(&url), "{url}");
            // The stored fields, anchor text and static ranks are those of the full build:
            // the link graph and duplicates were computed over the whole store.
            assert_eq!(whole.documents.get(&url), Some(&document), "{url}");
            assert!(union.insert(url, document).is_none(), "in two shards");
        }
    }
    assert_eq!(union, whole.documents);
    assert_eq!(aliases, 1, "the duplicate is collapsed once, by its shard");

    // An update of a shard equals a rebuild of it; continuing with another shard spec
    // starts over instead of mixing partitions.
    let shard0 = dir.path().join("shard-0");
    append(&store, &[page(0, 3, 1), page(1, 20, 1), page(2, 21, 1)]);
    let updated = update(&store, &shard0, &sharded(0)).unwrap();
    assert!(updated.incremental);
    let rebuilt = dir.path().join("shard-0-rebuilt");
    rebuild(&store, &rebuilt, &sharded(0)).unwrap();
    assert_eq!(snapshot(&shard0).documents, snapshot(&rebuilt).documents);
    let respecified = update(&store, &shard0, &sharded(1)).unwrap();
    assert!(!respecified.incremental, "{respecified:?}");
    let unsharded = update(&store, &shard0, &options()).unwrap();
    assert!(!unsharded.incremental, "{unsharded:?}");
}
