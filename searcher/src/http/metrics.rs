//! Request metrics and their Prometheus text exposition (format 0.0.4), written by hand:
//! a handful of counters and one histogram do not need a metrics library.
//!
//! Series (all prefixed `quarry_`):
//! - `http_requests_total{route,status}` counter; `route` is the matched route pattern
//!   (`/search`), or `other` for unrouted paths, so label values stay bounded.
//! - `http_request_duration_seconds{route}` histogram.
//! - `search_cache_hits_total`, `search_cache_misses_total` counters,
//!   `search_cache_hit_ratio` and `search_cache_entries` gauges.
//! - `index_bytes_read_total{phase="search"|"open"}` counter: bytes read by searches (the
//!   sum of their `index_bytes_read`) and by opening generations.
//! - `index_generation`, `index_documents` gauges of the served generation.
//! - `searches_admitted` gauge (running or queued now), `searches_admitted_max` gauge.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Route label of requests that matched no route.
const OTHER_ROUTE: &str = "other";

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at most each bound (not cumulative; summed when rendered).
    buckets: [u64; LATENCY_BUCKETS_SECONDS.len()],
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(bucket) = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
        {
            self.buckets[bucket] += 1;
        }
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Recorded {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Counters of the HTTP layer since the server started.
#[derive(Debug, Default)]
pub struct Metrics {
    recorded: Mutex<Recorded>,
}

/// Gauges read at scrape time from the engine and the admission gate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snapshot {
    pub(super) engine: crate::EngineStats,
    pub(super) generation: u64,
    pub(super) documents: u64,
    pub(super) admitted: usize,
    pub(super) admitted_max: usize,
    /// A coordinator's shards: (answering, configured).
    pub(super) shards: Option<(usize, usize)>,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        *recorded
            .requests
            .entry((route.to_string(), status))
            .or_default() += 1;
        recorded
            .latency
            .entry(route.to_string())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition of these counters and `snapshot`.
    pub(super) fn render(&self, snapshot: &Snapshot) -> String {
        let (requests, latency) = {
            let recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
            (recorded.requests.clone(), recorded.latency.clone())
        };
        let mut out = String::new();
        header(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for ((route, status), count) in &requests {
            let _ = writeln!(
                out,
                "quarry_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        header(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests, by route.",
        );
        for (route, histogram) in &latency {
            let name = "quarry_http_request_duration_seconds";
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = histogram.count;
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = histogram.sum_seconds;
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {count}");
        }

        let cache = snapshot.engine.cache;
        let lookups = cache.hits + cache.misses;
        let hit_ratio = if lookups == 0 {
            0.0
        } else {
            cache.hits as f64 / lookups as f64
        };
        let scalars: [(&str, &str, &str, String); 8] = [
            (
                "search_cache_hits_total",
                "counter",
                "Searches answered from the result cache.",
                cache.hits.to_string(),
            ),
            (
                "search_cache_misses_total",
                "counter",
                "Searches the result cache could not answer.",
                cache.misses.to_string(),
            ),
            (
                "search_cache_hit_ratio",
                "gauge",
                "Hits over lookups of the result cache since start (0 before any lookup).",
                hit_ratio.to_string(),
            ),
            (
                "search_cache_entries",
                "gauge",
                "Responses held by the result cache.",
                cache.entries.to_string(),
            ),
            (
                "index_generation",
                "gauge",
                "Number of the index generation being served.",
                snapshot.generation.to_string(),
            ),
            (
                "index_documents",
                "gauge",
                "Documents in the index generation being served.",
                snapshot.documents.to_string(),
            ),
            (
                "searches_admitted",
                "gauge",
                "Searches running or queued now.",
                snapshot.admitted.to_string(),
            ),
            (
                "searches_admitted_max",
                "gauge",
                "Searches that may run or queue at once; beyond this the server answers 503.",
                snapshot.admitted_max.to_string(),
            ),
        ];
        for (name, kind, help, value) in scalars {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "quarry_{name} {value}");
        }
        if let Some((up, configured)) = snapshot.shards {
            header(
                &mut out,
                "shards",
                "gauge",
                "Shard servers this coordinator fans out to.",
            );
            let _ = writeln!(out, "quarry_shards {configured}");
            header(
                &mut out,
                "shards_up",
                "gauge",
                "Shard servers that answered the last health poll.",
            );
            let _ = writeln!(out, "quarry_shards_up {up}");
        }
        header(
            &mut out,
            "index_bytes_read_total",
            "counter",
            "Bytes read from index files: by searches, and by opening generations.",
        );
        let engine = snapshot.engine;
        let _ = writeln!(
            out,
            "quarry_index_bytes_read_total{{phase=\"search\"}} {}",
            engine.index_bytes_read_searching
        );
        let _ = writeln!(
            out,
            "quarry_index_bytes_read_total{{phase=\"open\"}} {}",
            engine.index_bytes_read_opening
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP quarry_{name} {help}");
    let _ = writeln!(out, "# TYPE quarry_{name} {kind}");
}

/// Middleware: times each request and counts it by route and status.
pub(super) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(OTHER_ROUTE, MatchedPath::as_str)
        .to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(&route, response.status().as_u16(), started.elapsed());
    response
}
