//! Measures what counting index reads costs: the same queries over the same generation,
//! opened once through tantivy's `MmapDirectory` and once through `CountingDirectory`.
//!
//! `cargo run --release -p quarry-searcher --example directory_overhead [PAGES] [PASSES]`
//!
//! Builds a synthetic index of PAGES pages (default 5,000) whose words come from
//! `bench/queries.txt`, then runs those 1,000 queries top-10 with stored documents, PASSES
//! times (default 7) alternating the two directories, and prints the median pass of each.

use std::time::{Instant, SystemTime};

use quarry_indexer::{ANALYZER_EN, Generation, IndexLayout, RebuildOptions, rebuild};
use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
use quarry_searcher::directory::{CountingDirectory, measure};
use quarry_searcher::paging::TopAfter;
use quarry_searcher::rank::build_query;
use quarry_searcher::{MatchMode, query};
use tantivy::query::Query;
use tantivy::{Searcher, TantivyDocument};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let pages: usize = args.next().map_or(Ok(5_000), |a| a.parse())?;
    let passes: usize = args.next().map_or(Ok(7), |a| a.parse())?;
    let queries_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/queries.txt");
    let queries: Vec<String> = std::fs::read_to_string(queries_file)?
        .lines()
        .map(str::to_string)
        .collect();
    let words: Vec<&str> = queries.iter().flat_map(|q| q.split_whitespace()).collect();

    let dir = tempfile::tempdir()?;
    let store = PageStore::open(&dir.path().join("pages"))?;
    let mut writer = store.writer(WriterOptions::default())?;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next_word = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        words[(seed % words.len() as u64) as usize]
    };
    for i in 0..pages {
        let title: Vec<&str> = (0..4).map(|_| next_word()).collect();
        let body: Vec<&str> = (0..300).map(|_| next_word()).collect();
        writer.append(&PageRecord {
            url: format!("http://bench.test/p{i}"),
            fetched_at: SystemTime::now(),
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: format!(
                "<html><head><title>{}</title></head><body><p>{}</p></body></html>",
                title.join(" "),
                body.join(" ")
            )
            .into_bytes(),
            ip: None,
            request_headers: Vec::new(),
        })?;
    }
    writer.sync()?;
    drop(writer);
    let index_dir = dir.path().join("index");
    rebuild(&store, &index_dir, &RebuildOptions::default())?;

    let layout = IndexLayout::new(&index_dir);
    let id = layout.current()?.ok_or("no generation")?;
    let plain = Generation::open(&layout, id)?;
    let counted = Generation::open_in(
        &layout,
        id,
        CountingDirectory::open(&layout.generation_dir(id))?,
    )?;
    let mut analyzer = plain
        .index
        .tokenizers()
        .get(ANALYZER_EN)
        .ok_or("no analyzer")?;
    let built: Vec<Box<dyn Query>> = queries
        .iter()
        .filter_map(|q| query::parse(q).ok())
        .filter_map(|parsed| build_query(&parsed, &plain.fields, &mut analyzer, MatchMode::All))
        .collect();
    let searchers = [
        ("mmap", plain.index.reader()?.searcher()),
        ("counting", counted.index.reader()?.searcher()),
    ];

    let mut times = [Vec::new(), Vec::new()];
    let mut bytes = 0;
    for pass in 0..passes {
        for turn in 0..2 {
            // Alternate which goes first so neither always runs on a warmer cache.
            let which = (pass + turn) % 2;
            let started = Instant::now();
            let (result, read) = measure(|| run(&searchers[which].1, &built));
            result?;
            times[which].push(started.elapsed().as_secs_f64());
            if which == 1 {
                bytes = read;
            }
        }
    }
    println!(
        "{pages} pages, {} queries, top 10 + stored documents, median of {passes} passes:",
        built.len()
    );
    let mut medians = [0.0; 2];
    for (which, (name, _)) in searchers.iter().enumerate() {
        times[which].sort_by(f64::total_cmp);
        medians[which] = times[which][passes / 2];
        println!(
            "  {name:>8}: {:8.2} ms per pass, {:6.1} µs per query",
            medians[which] * 1e3,
            medians[which] * 1e6 / built.len() as f64
        );
    }
    println!(
        "  overhead: {:+.1} %; {} index bytes read per pass ({} per query)",
        (medians[1] / medians[0] - 1.0) * 100.0,
        bytes,
        bytes / built.len().max(1) as u64
    );
    Ok(())
}

fn run(searcher: &Searcher, queries: &[Box<dyn Query>]) -> Result<(), Error> {
    for query in queries {
        let (keys, _total) = searcher.search(
            query.as_ref(),
            &(TopAfter::new(10, None), tantivy::collector::Count),
        )?;
        for key in keys {
            let _document: TantivyDocument = searcher.doc(key.address)?;
        }
    }
    Ok(())
}
