//! `quarry serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use quarry_crawler::DataLayout;
use quarry_searcher::SearchEngine;
use quarry_searcher::federation::Federation;
use quarry_searcher::http::{AppState, ServerLimits};

use crate::UsageError;
use crate::config::{Config, ServeConfig};

/// Serve the search API and the search page over HTTP from the current index of DIR
/// (or of one shard of it), or from shard servers. A new generation built by `quarry
/// index rebuild` is picked up without a restart.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR", required_unless_present = "shards")]
    pub data: Option<PathBuf>,
    /// Serve shard I of N of DIR's index (built with `quarry index rebuild --shard I/N`).
    #[arg(long, value_name = "I/N", requires = "data")]
    pub shard: Option<String>,
    /// Answer searches from these shard servers (`quarry serve --shard I/N` of each
    /// shard, in shard order), comma-separated: http://HOST:PORT,http://HOST:PORT…
    #[arg(
        long,
        value_name = "URLS",
        value_delimiter = ',',
        conflicts_with_all = ["data", "shard"]
    )]
    pub shards: Vec<String>,
    /// Address to listen on [config default: 127.0.0.1:7700].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// Parses a listen address.
pub fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    text.parse().map_err(|_| {
        UsageError(format!(
            "invalid listen address `{text}`: expected IP:PORT, e.g. 127.0.0.1:7700"
        ))
        .into()
    })
}

/// Opens the search engine of `data`.
pub fn open_engine(data: &Path) -> anyhow::Result<Arc<SearchEngine>> {
    Ok(Arc::new(open_index(data)?))
}

fn open_index(data: &Path) -> anyhow::Result<SearchEngine> {
    open_index_dir(&DataLayout::new(data).index(), data)
}

fn open_index_dir(index_dir: &Path, data: &Path) -> anyhow::Result<SearchEngine> {
    SearchEngine::open(index_dir).with_context(|| {
        format!(
            "opening the index {} of {}",
            index_dir.display(),
            data.display()
        )
    })
}

/// Binds `addr` and serves `engine` until Ctrl-C / SIGTERM; `ready` is called with the
/// bound address once listening.
pub async fn serve_engine(
    engine: Arc<SearchEngine>,
    addr: SocketAddr,
    config: &ServeConfig,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let limits = limits(config);
    let state = AppState::new(engine, &limits);
    ready(local);
    quarry_searcher::http::serve(listener, state, super::shutdown_signal())
        .await
        .context("serving HTTP")
}

/// The limits of `config`.
fn limits(config: &ServeConfig) -> ServerLimits {
    let mut limits = ServerLimits::default();
    if config.max_running > 0 {
        limits.max_running = config.max_running;
    }
    limits.max_queued = config.max_queued;
    limits.request_timeout = Duration::from_millis(config.request_timeout_ms);
    limits
}

/// Serves searches from the shard servers at `urls` until Ctrl-C / SIGTERM.
async fn serve_shards(
    urls: &[String],
    addr: SocketAddr,
    config: &ServeConfig,
) -> anyhow::Result<()> {
    let limits = limits(config);
    // A shard that hangs is left out (a partial answer) well within the request timeout.
    let per_shard = (limits.request_timeout / 4).max(Duration::from_millis(50));
    let federation = Federation::new(urls, per_shard).map_err(UsageError)?;
    let federation = Arc::new(federation);
    federation.refresh().await;
    let status = federation.status();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let state = AppState::federated(federation, &limits);
    println!(
        "serving http://{local}/ from {} shard servers ({} answering, {} documents); Ctrl-C to stop",
        status.shards, status.up, status.documents
    );
    quarry_searcher::http::serve(listener, state, super::shutdown_signal())
        .await
        .context("serving HTTP")
}

/// `quarry serve`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let addr = parse_listen(args.listen.as_deref().unwrap_or(&config.serve.listen))?;
    let Some(data) = args.data else {
        serve_shards(&args.shards, addr, &config.serve).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let shard = super::index::parse_shard(args.shard.as_deref())?;
    let index_dir = super::index::index_dir(&data, shard);
    let engine =
        Arc::new(open_index_dir(&index_dir, &data)?.with_cache_entries(config.serve.cache_entries));
    let (generation, documents) = (engine.generation(), engine.documents());
    serve_engine(engine, addr, &config.serve, |local| {
        println!("serving http://{local}/ ({generation}, {documents} documents); Ctrl-C to stop");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
