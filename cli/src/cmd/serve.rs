//! `quarry serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use quarry_crawler::DataLayout;
use quarry_searcher::SearchEngine;
use quarry_searcher::http::{AppState, ServerLimits};

use crate::UsageError;
use crate::config::{Config, ServeConfig};

/// Serve the search API and the search page over HTTP from the current index of DIR.
/// A new generation built by `quarry index rebuild` is picked up without a restart.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
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
    let index_dir = DataLayout::new(data).index();
    SearchEngine::open(&index_dir)
        .with_context(|| format!("opening the index of {}", data.display()))
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
    let mut limits = ServerLimits::default();
    if config.max_running > 0 {
        limits.max_running = config.max_running;
    }
    limits.max_queued = config.max_queued;
    limits.request_timeout = Duration::from_millis(config.request_timeout_ms);
    let state = AppState::new(engine, &limits);
    ready(local);
    quarry_searcher::http::serve(listener, state, super::shutdown_signal())
        .await
        .context("serving HTTP")
}

/// `quarry serve`.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let addr = parse_listen(args.listen.as_deref().unwrap_or(&config.serve.listen))?;
    let engine = Arc::new(open_index(&args.data)?.with_cache_entries(config.serve.cache_entries));
    let (generation, documents) = (engine.generation(), engine.documents());
    serve_engine(engine, addr, &config.serve, |local| {
        println!("serving http://{local}/ ({generation}, {documents} documents); Ctrl-C to stop");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
