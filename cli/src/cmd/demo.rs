//! `quarry demo`: the whole pipeline on a real site served on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use quarry_crawler::{CanonicalUrl, CrawlConfig, Crawler};

use crate::config::Config;
use crate::site::{self, SiteSource};

/// Pages crawled by default: enough to be a real search, quick enough to start in seconds.
const DEFAULT_DEMO_PAGES: u64 = 5000;

/// Serve a real site on loopback (the Rust documentation installed with the toolchain,
/// else a small bundled site), crawl it, index it, and serve search over it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address for the search server.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    pub listen: String,
    /// Data directory for the demo (emptied first) [default: a `quarry-demo` directory in
    /// the system temporary directory].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Pages to crawl.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEMO_PAGES)]
    pub max_pages: u64,
    /// Serve and crawl this directory instead of the Rust documentation.
    #[arg(long, value_name = "DIR", conflicts_with = "bundled")]
    pub site: Option<PathBuf>,
    /// Use the small bundled site even when the Rust documentation is installed.
    #[arg(long)]
    pub bundled: bool,
    /// Stop after indexing instead of serving (prints the summary and exits).
    #[arg(long)]
    pub no_serve: bool,
}

/// The Rust documentation of the toolchain, if installed.
fn rust_docs() -> Option<PathBuf> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let sysroot = String::from_utf8(output.stdout).ok()?;
    let docs = Path::new(sysroot.trim()).join("share/doc/rust/html");
    docs.join("index.html").is_file().then_some(docs)
}

/// Empties `dir` if it is a previous demo's data directory (or empty); refuses otherwise.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        let ours = ["frontier.redb", "pages", "index"];
        if entries.iter().any(|name| !ours.contains(&name.as_str())) {
            bail!(
                "{} is not empty and not a Quarry demo directory; pass another --data",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// `quarry demo`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let listen: SocketAddr = super::serve::parse_listen(&args.listen)?;
    let source = match (&args.site, args.bundled) {
        (Some(dir), _) => SiteSource::Dir(dir.clone()),
        (None, true) => SiteSource::Bundled,
        (None, false) => rust_docs().map_or(SiteSource::Bundled, SiteSource::Dir),
    };
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("quarry-demo"));
    prepare_data_dir(&data)?;

    let site_addr = site::start(source.clone()).await?;
    println!("sample site: {} on http://{site_addr}/", source.describe());

    let started = Instant::now();
    let crawl_config = CrawlConfig {
        max_pages: Some(args.max_pages),
        // Our own loopback server: no politeness delay, a few connections.
        min_host_delay_ms: 0,
        response_time_factor: 0.0,
        max_connections_per_host: 4,
        allow_private_addresses: true,
        ..config.crawl.clone()
    };
    let crawler = Crawler::open(&data, crawl_config)?;
    let seed = CanonicalUrl::parse(&format!("http://{site_addr}/index.html"))
        .context("building the seed URL")?;
    crawler.add_seeds(&[seed])?;
    let stats = super::crawl::crawl_with_progress(crawler).await?;
    println!("crawl: {}", super::crawl::summary(&stats));

    let rebuild = super::index::build_with_progress(
        &data,
        super::index::BuildKind::Rebuild,
        None,
        &config.index,
        &config.pagestore,
        // The demo's page store is its own, whatever `pagestore.store` says.
        Some(""),
    )
    .await?;
    println!("index: {}", super::index::summary(&rebuild));
    println!("data directory: {}", data.display());
    if args.no_serve {
        println!("ready in {:.1} s", started.elapsed().as_secs_f64());
        return Ok(ExitCode::SUCCESS);
    }
    let engine = super::serve::open_engine(&data)?;
    let elapsed = started.elapsed();
    super::serve::serve_engine(engine, listen, &config.serve, |local| {
        println!(
            "serving: open http://{local}/ to search (ready in {:.1} s; API: http://{local}/search?q=iterator); Ctrl-C to stop",
            elapsed.as_secs_f64()
        );
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
