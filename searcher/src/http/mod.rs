//! The HTTP API and the HTML search page (the only module that uses axum).
//!
//! Routes: `GET /search` (JSON), `GET /` (HTML page that works without JavaScript),
//! `GET /healthz`. Every error is JSON `{"error":{"code","message"}}` with a stable code
//! (see [`ErrorCode`](crate::ErrorCode)). Searches run on tokio's blocking pool behind a
//! bounded admission gate: beyond `max_running + max_queued` concurrent searches the
//! server answers `503` with `Retry-After` and code `overloaded`.

mod error;
mod routes;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use error::ApiError;

use crate::SearchEngine;

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

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<SearchEngine>,
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    timeout: Duration,
}

impl AppState {
    /// State serving `engine` within `limits`.
    pub fn new(engine: Arc<SearchEngine>, limits: &ServerLimits) -> AppState {
        let running = limits.max_running.max(1);
        AppState {
            engine,
            admitted: Arc::new(Semaphore::new(running + limits.max_queued)),
            running: Arc::new(Semaphore::new(running)),
            timeout: limits.request_timeout,
        }
    }

    /// Runs `work` on the blocking pool within the admission limits.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&SearchEngine) -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        let engine = self.engine.clone();
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

/// The application's routes, ready to serve or to test with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::page))
        .route("/search", get(routes::search))
        .route("/healthz", get(routes::healthz))
        .fallback(routes::not_found)
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

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight
/// requests. Also reloads the index when `CURRENT` changes.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reloader = spawn_reloader(state.engine.clone(), Duration::from_secs(1));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    reloader.abort();
    result
}
