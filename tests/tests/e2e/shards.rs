//! Sharded search through the binary: `quarry index rebuild --shard i/2` twice, a `quarry
//! serve --shard i/2` per shard and a coordinator `quarry serve --shards …` answer every
//! query with the same hits and scores as one `quarry serve` of the whole index, page
//! through to the same complete list, go partial when a shard dies and refuse cursors of
//! a generation that is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use quarry_indexer::Shard;
use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
use quarry_tests::binary::{run_quarry, start_serve};

const WORDS: &[&str] = &[
    "volcano", "glacier", "river", "basalt", "magma", "delta", "canyon", "erosion", "sediment",
    "tectonic", "plate", "crater", "summit", "lava", "granite", "fjord", "moraine", "dune",
];

/// Page `n` of host `host`: words from a small generator (pages share words, not their
/// frequencies), a title, links to other pages of several hosts.
fn page(host: usize, n: usize) -> PageRecord {
    let mut seed = (host * 7_919 + n * 104_729 + 1) as u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let title = format!(
        "{} {} notes {n}",
        WORDS[next() % WORDS.len()],
        WORDS[next() % 5]
    );
    let mut body = format!("<title>{title}</title><h1>{title}</h1><p>");
    for _ in 0..(30 + next() % 120) {
        body.push_str(WORDS[next() % WORDS.len()]);
        body.push(' ');
    }
    body.push_str("</p>");
    for _ in 0..4 {
        let (to_host, to) = (next() % 4, next() % 40);
        body.push_str(&format!(
            "<a href=\"http://site{to_host}.test/p{to}.html\">{} page</a>",
            WORDS[to % WORDS.len()]
        ));
    }
    PageRecord {
        url: format!("http://site{host}.test/p{n}.html"),
        fetched_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n as u64),
        status: 200,
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
        body: body.into_bytes(),
        ip: None,
        request_headers: Vec::new(),
    }
}

fn build(data: &str, shard: Option<&str>) {
    let mut args = vec!["index", "rebuild", "--data", data];
    if let Some(shard) = shard {
        args.extend(["--shard", shard]);
    }
    let output = run_quarry(&args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn get(base: &str, path: &str) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body)));
        (status, json)
    })
}

pub(crate) fn search(base: &str, query: &str, cursor: Option<&str>) -> serde_json::Value {
    let mut path = format!("/search?limit=10&q={}", encode(query));
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={cursor}"));
    }
    let (status, body) = get(base, &path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The (url, score) hits of a page, ties in score put in URL order (the two sides break
/// ties between equal scores by different document numbers).
pub(crate) fn hits(page: &serde_json::Value) -> Vec<(String, String)> {
    let mut hits: Vec<(f64, String)> = page["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| {
            (
                hit["score"].as_f64().expect("score"),
                hit["url"].as_str().expect("url").to_string(),
            )
        })
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    hits.into_iter()
        .map(|(score, url)| (url, format!("{score:.4}")))
        .collect()
}

/// Every hit of `query`, paging with cursors to the end.
fn all_hits(base: &str, query: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page = search(base, query, cursor.as_deref());
        for (url, score) in hits(&page) {
            assert!(
                all.insert(url.clone(), score).is_none(),
                "{url} shown twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
    panic!("{query}: more than 100 pages");
}

#[test]
fn two_shards_answer_like_one_index() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let store = PageStore::open(&quarry_crawler::DataLayout::new(&data_dir).pages()).unwrap();
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    for host in 0..4 {
        for n in 0..40 {
            writer.append(&page(host, n)).unwrap();
        }
    }
    writer.sync().unwrap();
    drop(writer);
    let data = data_dir.to_str().unwrap();
    build(data, None);
    build(data, Some("0/2"));
    build(data, Some("1/2"));

    let (_whole, whole) = start_serve(&["--data", data]);
    let (_shard0, shard0) = start_serve(&["--data", data, "--shard", "0/2"]);
    let (shard1_server, shard1) = start_serve(&["--data", data, "--shard", "1/2"]);
    let (_coordinator, coordinator) = start_serve(&["--shards", &format!("{shard0},{shard1}")]);

    let (_, health) = get(&coordinator, "/healthz");
    assert_eq!(health["documents"], 160, "{health}");
    let queries = [
        "volcano",
        "glacier river",
        "\"lava dune\"",
        "magma OR fjord",
        "basalt -crater",
        "site:site2.test granite",
        "site:test volcano",
        "site:test glacier OR river",
        "title:notes summit",
    ];
    for query in queries {
        let one = search(&whole, query, None);
        let sharded = search(&coordinator, query, None);
        assert_eq!(sharded["total"], one["total"], "{query}");
        assert_eq!(sharded["total_relation"], "eq", "{query}");
        assert!(sharded.get("partial").is_none(), "{query}: {sharded}");
        assert!(
            !one["hits"].as_array().unwrap().is_empty(),
            "{query}: no hits"
        );
        assert_eq!(hits(&sharded), hits(&one), "{query}: first page");
        // The same hits, snippets and crowding links.
        let by_url = |page: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
            page["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|hit| (hit["url"].as_str().unwrap().to_string(), hit.clone()))
                .collect()
        };
        assert_eq!(by_url(&sharded), by_url(&one), "{query}: hit details");
        // Paging through to the end shows the same hits. Host crowding skips a host's
        // extra hits on each page, and which of two hits with equal scores it skips
        // depends on the tie order, which differs (document numbers); under `site:` there
        // is no crowding and the lists must be identical.
        let (a, b) = (all_hits(&coordinator, query), all_hits(&whole, query));
        if query.starts_with("site:") {
            assert_eq!(a, b, "{query}: every page");
        } else {
            let scores = |all: &BTreeMap<String, String>| {
                let mut scores: Vec<String> = all.values().cloned().collect();
                scores.sort();
                scores
            };
            assert_eq!(scores(&a), scores(&b), "{query}: every page");
        }
    }
    // Scores with explanations agree too; completions come from both shards.
    let one = search(&whole, "glacier", None);
    let (_, explained) = get(&coordinator, "/search?q=glacier&explain=true");
    assert_eq!(hits(&explained), hits(&one));
    assert!(
        explained["hits"][0]["explain"]["text"]["body"].is_number(),
        "{explained}"
    );
    let (status, suggest) = get(&coordinator, "/suggest?q=vol");
    assert_eq!(status, 200, "{suggest}");
    assert!(
        !suggest["suggestions"].as_array().unwrap().is_empty(),
        "{suggest}"
    );
    let corrected = search(&coordinator, "volcamo", None);
    assert_eq!(corrected["did_you_mean"], "volcano", "{corrected}");
    assert_eq!(
        corrected["did_you_mean"],
        search(&whole, "volcamo", None)["did_you_mean"]
    );
    let (status, error) = get(&coordinator, "/search?q=x&cursor=garbage");
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    // A cursor of a generation that is gone is refused, as by one index.
    let first = search(&coordinator, "volcano", None);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    build(data, Some("0/2"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(
            &coordinator,
            &format!("/search?q=volcano&limit=10&cursor={cursor}"),
        );
        if status == 400 {
            assert_eq!(body["error"]["code"], "bad_request", "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "the shard never reloaded");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A shard goes down: the other one still answers, flagged partial.
    drop(shard1_server);
    let page = search(&coordinator, "volcano", None);
    assert_eq!(page["partial"], true, "{page}");
    assert_eq!(page["total_relation"], "gte");
    let shard = Shard { index: 0, count: 2 };
    for hit in page["hits"].as_array().unwrap() {
        assert!(shard.contains(hit["url"].as_str().unwrap()), "{hit}");
    }
    assert!(page["total"].as_u64().unwrap() < one_total(&whole, "volcano"));
    let (status, _) = get(&coordinator, "/readyz");
    assert_eq!(status, 200, "one shard answers: still ready");
}

fn one_total(base: &str, query: &str) -> u64 {
    search(base, query, None)["total"].as_u64().expect("total")
}

#[test]
fn bad_shard_options_are_usage_errors() {
    for args in [
        &[
            "index",
            "rebuild",
            "--data",
            "/nonexistent",
            "--shard",
            "2/2",
        ][..],
        &["index", "update", "--data", "/nonexistent", "--shard", "x"][..],
        &["serve", "--data", "/nonexistent", "--shard", "0/0"][..],
        &["serve", "--shards", "ftp://127.0.0.1:1"][..],
        &[
            "serve",
            "--shards",
            "http://127.0.0.1:1",
            "--data",
            "/nonexistent",
        ][..],
    ] {
        let output = run_quarry(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.is_empty() && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn retention_waits_for_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let store = PageStore::open(&quarry_crawler::DataLayout::new(&data_dir).pages()).unwrap();
    let mut writer = store
        .writer(WriterOptions {
            segment_max_bytes: 4 << 10,
        })
        .unwrap();
    for n in 0..40 {
        writer.append(&page(0, n)).unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    let segments = store.segments().unwrap().len();
    assert!(segments > 3, "{segments} segments");
    let config = dir.path().join("quarry.toml");
    std::fs::write(&config, "[pagestore]\nretention = \"0s\"\n").unwrap();
    let (data, config) = (data_dir.to_str().unwrap(), config.to_str().unwrap());
    let rebuild = |shard: &str| {
        let output = run_quarry(&[
            "--config", config, "index", "rebuild", "--data", data, "--shard", shard,
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    rebuild("0/2");
    assert!(
        store.retired().unwrap().segments.is_empty(),
        "shard 1 has not read the store yet"
    );
    assert_eq!(store.segments().unwrap().len(), segments);
    rebuild("1/2");
    let retired = store.retired().unwrap().segments;
    assert_eq!(retired.len(), segments - 1, "all but the last segment");
}
