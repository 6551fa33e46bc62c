//! The page store on S3 through the binary, against a real S3-compatible server on
//! loopback (`moto_server`): `quarry crawl --store s3://…` uploads every sealed segment
//! and keeps nothing locally; `quarry index rebuild|update --store s3://…` on another data
//! directory (another machine) mirrors the segments, indexes the same documents as a local
//! crawl, keeps its checkpoint in the bucket, downloads only what is new on update, and
//! applies retention to the objects. A crawl killed before its upload loses no page.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use quarry_pagestore::{PageStore, RemoteStore, SegmentId};
use quarry_tests::binary::{KillOnDrop, quarry_bin, run_quarry, run_quarry_env};
use quarry_tests::fixture::{FixtureOptions, FixtureSite};
use quarry_tests::s3::MotoServer;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        text(&output.stderr),
        text(&output.stdout)
    );
    text(&output.stdout)
}

/// `quarry crawl` of `site` into `data` (loopback allowed, no delay), with `extra` flags.
fn crawl_args(dir: &Path, site: &FixtureSite, data: &Path, extra: &[&str]) -> Vec<String> {
    let seeds = dir.join(format!("seeds-{}.txt", site.addr().port()));
    std::fs::write(&seeds, site.url("/")).expect("seeds");
    let mut args: Vec<String> = [
        "crawl",
        "--seeds",
        &seeds.display().to_string(),
        "--data",
        &data.display().to_string(),
        "--delay-ms",
        "0",
        "--allow-private-addresses",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `quarry index rebuild --data DATA` with `extra` flags.
fn rebuild_args(data: &Path, extra: &[&str]) -> Vec<String> {
    ["index", "rebuild", "--data", &data.display().to_string()]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

fn quarry(args: &[String], env: &[(&str, String)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_quarry_env(&args, env)
}

/// The document count in an `index rebuild|update` summary.
fn documents(summary: &str) -> u64 {
    summary
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no document count in {summary:?}"))
}

/// The URLs of the hits of `query` over the index of `data`.
fn hits(data: &Path, query: &str) -> Vec<String> {
    let output = run_quarry(&[
        "search",
        "--data",
        &data.display().to_string(),
        "--json",
        "--limit",
        "20",
        query,
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&succeeded(&output, "search")).expect("search JSON");
    json["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["url"].as_str().expect("url").to_string())
        .collect()
}

fn local_segments(pages: &Path) -> Vec<String> {
    match std::fs::read_dir(pages) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("segment-"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn remote_ids(remote: &RemoteStore) -> Vec<SegmentId> {
    block_on(remote.segments())
        .expect("list the bucket")
        .iter()
        .map(|s| s.id)
        .collect()
}

/// The URLs of the pages in a local page store directory.
fn stored_urls(dir: &Path) -> BTreeSet<String> {
    PageStore::open(dir)
        .expect("open")
        .records(None)
        .expect("records")
        .map(|item| item.expect("record").1.url)
        .collect()
}

#[test]
fn crawl_to_s3_then_index_elsewhere_update_and_retire() {
    let Some(moto) = MotoServer::start("crawl_to_s3_then_index_elsewhere_update_and_retire") else {
        return;
    };
    moto.create_bucket("quarry");
    let env = moto.env();
    let store = "s3://quarry/crawl";
    let remote = moto.store("quarry", "crawl");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarry.toml");
    // Small segments so the crawl seals (and uploads) several while it runs; retention
    // right after indexing.
    std::fs::write(
        &config,
        "[crawl]\nsegment_max_bytes = 16384\n[pagestore]\nretention = \"0s\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let with_store = ["--store", store, "--config", &config];
    let (crawler, indexer, reference) = (
        dir.path().join("crawler"),
        dir.path().join("indexer"),
        dir.path().join("reference"),
    );
    let site = FixtureSite::start(FixtureOptions {
        generated_pages: 40,
        ..FixtureOptions::default()
    });

    let output = quarry(&crawl_args(dir.path(), &site, &crawler, &with_store), &env);
    succeeded(&output, "crawl to s3");
    assert!(
        text(&output.stderr).contains("page store s3://quarry/crawl: uploaded"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        local_segments(&crawler.join("pages")).is_empty(),
        "every segment went up and left the crawler's disk"
    );
    let first_ids = remote_ids(&remote);
    assert!(first_ids.len() >= 3, "{first_ids:?}");

    // The same site crawled and indexed locally is the reference.
    succeeded(
        &quarry(&crawl_args(dir.path(), &site, &reference, &[]), &[]),
        "local crawl",
    );
    let reference_arg = reference.display().to_string();
    let local = succeeded(
        &run_quarry(&["index", "rebuild", "--data", &reference_arg]),
        "local rebuild",
    );

    // Another data directory, sharing nothing with the crawler but the bucket.
    let indexer_arg = indexer.display().to_string();
    let rebuild = rebuild_args(&indexer, &with_store);
    let output = quarry(&rebuild, &env);
    let built = succeeded(&output, "rebuild from s3");
    assert!(
        text(&output.stderr).contains("downloaded"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(documents(&built), documents(&local), "{built}\n{local}");
    for query in ["volcano", "glacier ice", "lava"] {
        assert_eq!(hits(&indexer, query), hits(&reference, query), "{query}");
    }
    let checkpoint = block_on(remote.load_checkpoint("indexer"))
        .unwrap()
        .expect("the indexer's checkpoint is in the bucket");
    assert_eq!(checkpoint.segment, *first_ids.last().unwrap());
    // Retention (0 s) deleted every consumed segment but the last, from the bucket and the
    // mirror.
    let retired = block_on(remote.retired()).unwrap();
    assert_eq!(retired.segments, first_ids[..first_ids.len() - 1]);
    assert_eq!(remote_ids(&remote), [*first_ids.last().unwrap()]);
    assert_eq!(local_segments(&indexer.join("store-cache")).len(), 1);

    // A second site crawled into the same bucket: new segments, numbered after the old.
    let second = FixtureSite::start(FixtureOptions {
        generated_pages: 8,
        bind_ip: Some(std::net::Ipv4Addr::new(127, 0, 0, 2)),
        ..FixtureOptions::default()
    });
    succeeded(
        &quarry(
            &crawl_args(dir.path(), &second, &crawler, &with_store),
            &env,
        ),
        "second crawl to s3",
    );
    let second_ids = remote_ids(&remote);
    assert!(
        second_ids[1..]
            .iter()
            .all(|id| id > first_ids.last().unwrap()),
        "{first_ids:?} then {second_ids:?}"
    );
    succeeded(
        &quarry(&crawl_args(dir.path(), &second, &reference, &[]), &[]),
        "second local crawl",
    );
    let local = succeeded(
        &run_quarry(&["index", "update", "--data", &reference_arg]),
        "local update",
    );

    let mut update = rebuild.clone();
    update[1] = "update".into();
    let output = quarry(&update, &env);
    let updated = succeeded(&output, "update from s3");
    assert!(updated.starts_with("updated to"), "{updated}");
    assert_eq!(documents(&updated), documents(&local), "{updated}\n{local}");
    assert!(
        text(&output.stderr).contains(&format!("downloaded {} segment(s)", second_ids.len() - 1)),
        "only the new segments come down: {}",
        text(&output.stderr)
    );
    for query in ["volcano", "glacier ice", "lava"] {
        assert_eq!(hits(&indexer, query), hits(&reference, query), "{query}");
    }

    // A rebuild now sees only what retention kept, and says so.
    let output = quarry(&rebuild, &env);
    succeeded(&output, "rebuild after retention");
    assert!(
        text(&output.stderr).contains("retention removed"),
        "{}",
        text(&output.stderr)
    );
    let (_, stats) = (
        (),
        quarry(
            &[
                "index".to_string(),
                "stats".into(),
                "--data".into(),
                indexer_arg.clone(),
                "--json".into(),
                "--store".into(),
                store.into(),
            ],
            &env,
        ),
    );
    let stats: serde_json::Value =
        serde_json::from_str(&succeeded(&stats, "stats")).expect("stats JSON");
    assert_eq!(
        stats["page_store_segments"].as_u64(),
        Some(remote_ids(&remote).len() as u64)
    );
}

#[test]
fn a_crawl_killed_before_its_upload_loses_no_page() {
    let Some(moto) = MotoServer::start("a_crawl_killed_before_its_upload_loses_no_page") else {
        return;
    };
    moto.create_bucket("kill");
    let env = moto.env();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarry.toml");
    std::fs::write(&config, "[crawl]\nsegment_max_bytes = 16384\n").unwrap();
    let config = config.display().to_string();
    let with_store = ["--store", "s3://kill/pages", "--config", &config];
    let site = FixtureSite::start(FixtureOptions {
        generated_pages: 60,
        page_latency: Duration::from_millis(25),
        ..FixtureOptions::default()
    });
    let crawler = dir.path().join("crawler");
    let args = crawl_args(dir.path(), &site, &crawler, &with_store);
    let child = Command::new(quarry_bin())
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crawl");
    let mut child = KillOnDrop(child);
    // Kill it once some pages are stored, well before the crawl (about 2 s) ends.
    let pages = crawler.join("pages");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stored_or_empty(&pages) < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    assert!(
        !local_segments(&pages).is_empty(),
        "the killed crawl left segments to upload"
    );

    // The next run uploads what the killed one left and finishes the crawl.
    succeeded(&quarry(&args, &env), "resumed crawl");
    assert!(local_segments(&pages).is_empty());

    let reference = dir.path().join("reference");
    succeeded(
        &quarry(&crawl_args(dir.path(), &site, &reference, &[]), &[]),
        "local crawl",
    );
    let indexer = dir.path().join("indexer");
    succeeded(
        &quarry(&rebuild_args(&indexer, &with_store), &env),
        "rebuild from s3",
    );
    let mirrored = stored_urls(&indexer.join("store-cache"));
    let expected = stored_urls(&reference.join("pages"));
    let lost: Vec<_> = expected.difference(&mirrored).collect();
    assert!(lost.is_empty(), "pages lost: {lost:?}");
}

/// Pages stored so far in a local page store (0 when there is none yet).
fn stored_or_empty(pages: &Path) -> usize {
    if local_segments(pages).is_empty() {
        return 0;
    }
    PageStore::open(pages)
        .and_then(|store| store.records(None))
        .map(|records| records.filter(Result::is_ok).count())
        .unwrap_or(0)
}

#[test]
fn bad_store_urls_and_missing_buckets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    for url in [
        "ftp://host/x",
        "s3://",
        "file://relative/path",
        "s3://b/p?x=1",
    ] {
        let output = run_quarry(&["index", "rebuild", "--data", &data_arg, "--store", url]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{url}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("page store URL"),
            "{url}: {}",
            text(&output.stderr)
        );
    }
    let Some(moto) = MotoServer::start("bad_store_urls_and_missing_buckets_are_clear_errors")
    else {
        return;
    };
    let site = FixtureSite::start(FixtureOptions::default());
    let output = quarry(
        &crawl_args(
            dir.path(),
            &site,
            &data,
            &["--store", "s3://no-such-bucket/x"],
        ),
        &moto.env(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("s3://no-such-bucket/x"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        site.requests().is_empty(),
        "nothing fetched before the store answered"
    );
    let output = run_quarry_env(
        &[
            "index",
            "rebuild",
            "--data",
            &data_arg,
            "--store",
            "s3://no-such-bucket/x",
        ],
        &moto.env(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
}

#[test]
fn two_writers_share_a_store_without_overwriting() {
    let Some(moto) = MotoServer::start("two_writers_share_a_store_without_overwriting") else {
        return;
    };
    moto.create_bucket("shared");
    let remote = moto.store("shared", "pages");
    let write = |title: &str| {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open(dir.path()).unwrap();
        let mut writer = store
            .writer(quarry_pagestore::WriterOptions::default())
            .unwrap();
        writer
            .append(&quarry_pagestore::PageRecord {
                url: format!("http://example.test/{title}"),
                fetched_at: std::time::SystemTime::now(),
                status: 200,
                headers: vec![("Content-Type".into(), "text/html".into())],
                body: format!("<title>{title}</title>").into_bytes(),
                ip: None,
                request_headers: Vec::new(),
            })
            .unwrap();
        writer.sync().unwrap();
        (dir, store)
    };
    let (_a, first) = write("first");
    let (_b, second) = write("second");
    let uploaded = block_on(remote.upload_sealed(&first, false)).unwrap();
    assert_eq!(uploaded.segments, [SegmentId(1)]);
    // The server honours put-if-absent: the second writer's segment 1 is refused, and it
    // goes up as segment 2 instead.
    let uploaded = block_on(remote.upload_sealed(&second, false)).unwrap();
    assert_eq!(uploaded.segments, [SegmentId(2)]);
    assert!(second.segments().unwrap().is_empty());
    let cache = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache.path()).unwrap();
    block_on(remote.download(&cache, None)).unwrap();
    assert_eq!(
        stored_urls(cache.dir()),
        BTreeSet::from([
            "http://example.test/first".to_string(),
            "http://example.test/second".to_string()
        ])
    );
}
