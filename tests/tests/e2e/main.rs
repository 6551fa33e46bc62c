//! End-to-end tests: fixture sites on 127.0.0.1, crawl → page store → index → search,
//! through the library API and through the `quarry` binary.

mod binary;
mod crash;
mod disk_full;
mod distributed;
mod errors;
mod hostile;
mod index_crash;
mod object_store;
mod pipeline;
mod politeness;
mod server_load;
mod shards;
mod ssrf;
mod traps;
mod web_page;

/// The paths of the pages stored in `data`'s page store, in log order (a page stored twice
/// appears twice). Pages that asked not to be indexed leave a bodiless marker record: not
/// a page.
fn stored_paths(data: &std::path::Path) -> Vec<String> {
    let layout = quarry_crawler::DataLayout::new(data);
    let store = quarry_pagestore::PageStore::open(&layout.pages()).expect("open page store");
    store
        .records(None)
        .expect("read page store")
        .map(|item| item.expect("every stored record reads back").1)
        .filter(|record| {
            record.status == 200 && record.header(quarry_pagestore::NOINDEX_HEADER).is_none()
        })
        .map(|record| {
            url::Url::parse(&record.url)
                .expect("stored URL")
                .path()
                .to_string()
        })
        .collect()
}

/// Crawls `site` with `quarry crawl` (delay 0, loopback allowed) into `dir/data`, seeding
/// from `dir/seeds.txt`, at most `max_pages` pages; panics with its stderr if it fails.
fn crawl_fixture(
    site: &quarry_tests::fixture::FixtureSite,
    dir: &std::path::Path,
    max_pages: Option<usize>,
) {
    let seeds = dir.join("seeds.txt");
    std::fs::write(&seeds, site.url("/")).expect("seeds");
    let data = dir.join("data");
    let mut args = vec![
        "crawl".to_string(),
        "--seeds".into(),
        seeds.display().to_string(),
        "--data".into(),
        data.display().to_string(),
        "--delay-ms".into(),
        "0".into(),
        "--allow-private-addresses".into(),
    ];
    if let Some(max) = max_pages {
        args.extend(["--max-pages".to_string(), max.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = quarry_tests::binary::run_quarry(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
