//! The HTTP API and the HTML search page (the only module that uses axum).
//!
//! Routes:
//! - `GET /search` (JSON [`SearchResponse`](crate::SearchResponse), including the index
//!   bytes the search read; repeated requests are answered from the engine's result cache);
//! - `GET /suggest` (JSON [`SuggestResponse`](crate::suggest::SuggestResponse)):
//!   completions from the generation's `fst` dictionary, whole page titles first, then the
//!   last word completed; in memory, no index file read;
//! - `GET /` (HTML page that works without JavaScript);
//! - `GET /healthz`: liveness. 200 whenever the process answers HTTP; it does not pass
//!   through the admission gate, so a busy server is not mistaken for a dead one;
//! - `GET /readyz`: readiness. 200 while a generation is loaded and a search would be
//!   admitted now; 503 with code `overloaded` (and `Retry-After`) while the admission gate
//!   is full or the server is draining for shutdown, so a load balancer sends traffic
//!   elsewhere. (A generation is always loaded: the engine cannot be opened without one.)
//! - `GET /metrics`: Prometheus text exposition (see [`metrics`](self::metrics));
//! - `GET /openapi.json`: the OpenAPI 3.1 description of all of these, generated from the
//!   handlers and types;
//! - `POST /shard/stats`, `/shard/candidates`, `/shard/hits`: what a coordinator of
//!   shards (`quarry serve --shards`) asks this server (see [`shards`](crate::shards)).
//!
//! A coordinator ([`AppState::federated`]) serves the same `/search`, `/suggest` and page
//! from its shard servers (see [`federation`](crate::federation)).
//!
//! Every error is JSON `{"error":{"code","message"}}` with one of five codes (see
//! [`ErrorCode`](crate::ErrorCode)); 5xx details are logged, never sent. Searches run on
//! tokio's blocking pool behind a bounded admission gate: beyond `max_running + max_queued`
//! concurrent searches the server answers `503` with `Retry-After` and code `overloaded`;
//! a search that does not finish within `request_timeout`, queueing included, gets `504`
//! with code `timeout`.

mod error;
pub mod metrics;
mod openapi;
mod routes;
#[cfg(test)]
mod tests;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{MethodRouter, get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use metrics::Metrics;
pub use openapi::ApiDoc;

use crate::SearchEngine;
use crate::federation::Federation;

/// Limits of the search server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Searches running at once on the blocking pool. Default: 2 × cores.
    pub max_running: usize,
    /// Searches waiting for a slot; beyond this the server answers 503. Default 64.
    pub max_queued: usize,
    /// Longest a search may take, queueing included. Default 10 s.
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerLimits {
            max_running: cores * 2,
            max_queued: 64,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What answers the searches: one index, or a coordinator of shard servers.
#[derive(Clone)]
enum Backend {
    Local(Arc<SearchEngine>),
    Shards(Arc<Federation>),
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    backend: Backend,
    admitted: Arc<Semaphore>,
    admitted_max: usize,
    running: Arc<Semaphore>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// State serving `engine` within `limits`.
    pub fn new(engine: Arc<SearchEngine>, limits: &ServerLimits) -> AppState {
        AppState::with_backend(Backend::Local(engine), limits)
    }

    /// State answering searches from the shard servers of `federation` within `limits`
    /// (`quarry serve --shards`). The `/shard/*` endpoints answer `not_found` here.
    pub fn federated(federation: Arc<Federation>, limits: &ServerLimits) -> AppState {
        AppState::with_backend(Backend::Shards(federation), limits)
    }

    fn with_backend(backend: Backend, limits: &ServerLimits) -> AppState {
        let running = limits.max_running.max(1);
        let admitted_max = running + limits.max_queued;
        AppState {
            backend,
            admitted: Arc::new(Semaphore::new(admitted_max)),
            admitted_max,
            running: Arc::new(Semaphore::new(running)),
            timeout: limits.request_timeout,
            metrics: Arc::new(Metrics::default()),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the server as draining for shutdown: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn metrics_snapshot(&self) -> metrics::Snapshot {
        let (engine, generation, documents, shards) = match &self.backend {
            Backend::Local(engine) => (
                engine.stats(),
                engine.generation().0,
                engine.documents(),
                None,
            ),
            Backend::Shards(federation) => {
                let status = federation.status();
                (
                    crate::EngineStats {
                        cache: crate::CacheStats::default(),
                        index_bytes_read_searching: 0,
                        index_bytes_read_opening: 0,
                    },
                    0,
                    status.documents,
                    Some((status.up, status.shards)),
                )
            }
        };
        metrics::Snapshot {
            engine,
            generation,
            documents,
            admitted: self.admitted_max - self.admitted.available_permits(),
            admitted_max: self.admitted_max,
            shards,
        }
    }

    /// The generation served (a coordinator: every shard's) and its documents.
    fn served(&self) -> (String, u64) {
        match &self.backend {
            Backend::Local(engine) => (engine.generation().to_string(), engine.documents()),
            Backend::Shards(federation) => {
                let status = federation.status();
                (status.generation, status.documents)
            }
        }
    }

    /// Whether searches can be answered now (a coordinator: some shard answered its last
    /// health poll).
    fn can_search(&self) -> bool {
        match &self.backend {
            Backend::Local(_) => true,
            Backend::Shards(federation) => federation.status().up > 0,
        }
    }

    /// Runs `work` (network I/O, not CPU) within the admission limits and the timeout.
    async fn run_async<T>(&self, work: impl Future<Output = T>) -> Result<T, ApiError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ApiError::timeout())
    }

    /// Runs `work` on the blocking pool within the admission limits; a coordinator has no
    /// index of its own, so it answers `not_found`.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&SearchEngine) -> T + Send + 'static,
        T: Send + 'static,
    {
        let Backend::Local(engine) = &self.backend else {
            return Err(ApiError::new(
                crate::ErrorCode::NotFound,
                "this server coordinates shards and has no index of its own",
            ));
        };
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        let engine = engine.clone();
        let running = self.running.clone();
        let task = async move {
            let permit = running
                .acquire_owned()
                .await
                .map_err(|_| ApiError::overloaded())?;
            tokio::task::spawn_blocking(move || {
                let _permits = (permit, admitted);
                work(&engine)
            })
            .await
            .map_err(|error| ApiError::internal(&error))
        };
        tokio::time::timeout(self.timeout, task)
            .await
            .map_err(|_| ApiError::timeout())?
    }
}

/// Every routed path with its handlers; [`ApiDoc`] must describe each (a test checks).
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/", get(routes::page)),
        ("/search", get(routes::search)),
        ("/suggest", get(routes::suggest)),
        ("/healthz", get(routes::healthz)),
        ("/readyz", get(routes::readyz)),
        ("/metrics", get(routes::metrics)),
        ("/openapi.json", get(routes::openapi)),
        ("/shard/stats", post(routes::shard_stats)),
        ("/shard/candidates", post(routes::shard_candidates)),
        ("/shard/hits", post(routes::shard_hits)),
    ]
}

/// The application's routes, ready to serve or to test with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, handlers) in routes() {
        router = router.route(path, handlers);
    }
    router
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state)
}

/// Watches `CURRENT` every `every` and switches the engine to a new generation.
pub fn spawn_reloader(engine: Arc<SearchEngine>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let engine = engine.clone();
            match tokio::task::spawn_blocking(move || engine.reload_if_changed()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not open the new index generation; keeping the old one");
                }
                Err(error) => tracing::warn!(%error, "index reload task failed"),
            }
        }
    })
}

/// Polls the shards of `federation` every `every` (generation and documents for
/// `/healthz`, `/readyz` and `/metrics`).
pub fn spawn_health_poller(
    federation: Arc<Federation>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            federation.refresh().await;
        }
    })
}

/// A client must send a request's whole head within this time, or the connection is
/// closed (slowloris defence; it also closes keep-alive connections idle that long).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; further ones are accepted and closed at once, so a flood of
/// idle connections cannot exhaust the process's file descriptors.
pub const MAX_CONNECTIONS: usize = 4096;
/// Largest request head (request line and headers) read; beyond it the answer is 431
/// (or 414 for a long request line).
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight
/// requests (`/readyz` answers 503 meanwhile). Also reloads the index when `CURRENT`
/// changes.
///
/// Connections are HTTP/1.1 within the limits above: a request head must arrive within
/// [`HEADER_READ_TIMEOUT`] and fit in [`MAX_HEAD_BYTES`], and at most
/// [`MAX_CONNECTIONS`] are open at once. (`axum::serve` sets no header timeout: a client
/// that sent half a request line held its connection forever.)
///
/// # Errors
/// None today: accept errors (say, out of file descriptors) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let reloader = match &state.backend {
        Backend::Local(engine) => spawn_reloader(engine.clone(), Duration::from_secs(1)),
        Backend::Shards(federation) => {
            spawn_health_poller(federation.clone(), Duration::from_secs(1))
        }
    };
    let app = router(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of file descriptors or memory: wait instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                max = MAX_CONNECTIONS,
                "too many open connections; closing a new one"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone().map_request(
            |request: axum::http::Request<hyper::body::Incoming>| {
                request.map(axum::body::Body::new)
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's: a reset, a malformed or late request head.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    state.start_draining();
    graceful.shutdown().await;
    reloader.abort();
    Ok(())
}

/// Errors of one connection that `accept` reports, not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}
