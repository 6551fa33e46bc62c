//! The HTTP layer over real indexes: `oneshot` for single requests, in-process servers on
//! `127.0.0.1:0` for load, reload and shutdown. A "slow search" is simulated by holding the
//! admission and running permits a search would hold, which is deterministic where real
//! slow queries are not.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::http::Request;
use quarry_indexer::{RebuildOptions, rebuild};
use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tower::ServiceExt;
use utoipa::OpenApi;

use super::*;

fn page(path: &str, title: &str, body: &str) -> PageRecord {
    PageRecord {
        url: format!("http://docs.test{path}"),
        fetched_at: SystemTime::now(),
        status: 200,
        headers: vec![("Content-Type".to_string(), "text/html".to_string())],
        body: format!("<html><head><title>{title}</title></head><body><p>{body}</p></body></html>")
            .into_bytes(),
        ip: None,
        request_headers: Vec::new(),
    }
}

fn corpus() -> Vec<PageRecord> {
    (0..20)
        .map(|i| {
            page(
                &format!("/p{i}"),
                &format!("Page {i}"),
                &format!("common words and item{i} text"),
            )
        })
        .collect()
}

/// Builds (or rebuilds: a new generation) the index of `pages` under `dir/index`.
fn build(dir: &Path, pages: &[PageRecord]) {
    let store = PageStore::open(&dir.join("pages")).expect("open store");
    let mut writer = store.writer(WriterOptions::default()).expect("writer");
    for page in pages {
        writer.append(page).expect("append");
    }
    writer.sync().expect("sync");
    drop(writer);
    rebuild(&store, &dir.join("index"), &RebuildOptions::default()).expect("rebuild");
}

fn engine(dir: &Path) -> Arc<SearchEngine> {
    build(dir, &corpus());
    Arc::new(SearchEngine::open(&dir.join("index")).expect("open engine"))
}

fn limits(max_running: usize, max_queued: usize, timeout_ms: u64) -> ServerLimits {
    ServerLimits {
        max_running,
        max_queued,
        request_timeout: Duration::from_millis(timeout_ms),
    }
}

/// An answer, read off a socket or out of the router.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

async fn call(state: &AppState, uri: &str) -> Reply {
    send(
        state,
        Request::builder().uri(uri).body(Body::empty()).unwrap(),
    )
    .await
}

async fn post(state: &AppState, uri: &str, body: &str) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(state, request).await
}

async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// An HTTP/1.1 request without body, `Connection: close`, with `extra_headers` (each
/// ending in CRLF).
fn request(method: &str, target: &str, extra_headers: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// `GET path` over a fresh connection (HTTP/1.1, `Connection: close`).
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&request("GET", path, "")).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(parse_reply(&raw).unwrap_or(Reply {
        status: 0,
        headers: Vec::new(),
        body: String::from_utf8_lossy(&raw).into_owned(),
    }))
}

/// An HTTP/1.1 answer read off a socket; `None` if it has no complete head.
fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

struct Server {
    addr: std::net::SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(state: AppState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel();
    let task = tokio::spawn(serve(listener, state, async move {
        let _ = stop.await;
    }));
    Server {
        addr,
        shutdown,
        task,
    }
}

/// Waits until `condition` holds, at most `limit`.
async fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

#[tokio::test]
async fn every_routed_path_is_described_in_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &ServerLimits::default());
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let routed: Vec<&str> = routes().iter().map(|(path, _)| *path).collect();
    for path in &routed {
        let method = if path.starts_with("/shard/") {
            "post"
        } else {
            "get"
        };
        assert!(
            document["paths"][path][method].is_object(),
            "{path} is routed but not in the OpenAPI document"
        );
        assert_ne!(call(&state, path).await.status, 404, "{path}");
    }
    let described = document["paths"].as_object().unwrap();
    assert_eq!(described.len(), routed.len(), "{:?}", described.keys());

    let schemas = &document["components"]["schemas"];
    assert!(schemas["SearchResponse"]["properties"]["index_bytes_read"].is_object());
    assert!(schemas["Hit"]["properties"]["snippet"].is_object());
    let codes = &schemas["ErrorCode"]["enum"];
    assert_eq!(
        codes,
        &serde_json::json!([
            "bad_request",
            "not_found",
            "overloaded",
            "timeout",
            "internal"
        ])
    );
    let params = document["paths"]["/search"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["q", "limit", "cursor", "explain"]);

    let served = call(&state, "/openapi.json").await;
    assert_eq!(served.json(), document);
}

#[tokio::test]
async fn searches_report_index_bytes_and_repeats_come_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &ServerLimits::default());

    let first = call(&state, "/search?q=common+words&limit=5").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    let bytes = first["index_bytes_read"].as_u64().unwrap();
    let index_size: u64 = std::fs::read_dir(dir.path().join("index/gen-000001"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    // Postings, positions and doc-store blocks: more than nothing, far less than the index.
    assert!(bytes > 0 && bytes < index_size, "{bytes} of {index_size}");

    let again = call(&state, "/search?q=common+words&limit=5").await.json();
    assert_eq!(again["index_bytes_read"], 0, "a cache hit reads nothing");
    assert_eq!(again["hits"], first["hits"]);
    assert!(again["took_ms"].is_number());
    let other = call(&state, "/search?q=common+words&limit=6").await.json();
    let other_bytes = other["index_bytes_read"].as_u64().unwrap();
    assert!(other_bytes > 0, "another limit is another cache key");
    assert_eq!(call(&state, "/nope").await.status, 404);

    let metrics = call(&state, "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    for line in [
        "quarry_http_requests_total{route=\"/search\",status=\"200\"} 3".to_string(),
        "quarry_http_requests_total{route=\"other\",status=\"404\"} 1".to_string(),
        "quarry_http_request_duration_seconds_bucket{route=\"/search\",le=\"+Inf\"} 3".into(),
        "quarry_http_request_duration_seconds_count{route=\"/search\"} 3".into(),
        "quarry_search_cache_hits_total 1".into(),
        "quarry_search_cache_misses_total 2".into(),
        "quarry_search_cache_entries 2".into(),
        "quarry_index_generation 1".into(),
        "quarry_index_documents 20".into(),
        format!(
            "quarry_index_bytes_read_total{{phase=\"search\"}} {}",
            bytes + other_bytes
        ),
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "missing `{line}` in\n{}",
            metrics.body
        );
    }
    assert!(metrics.body.contains("quarry_search_cache_hit_ratio 0.333"));
    assert!(
        metrics
            .body
            .contains("# TYPE quarry_http_request_duration_seconds histogram")
    );
}

#[tokio::test]
async fn readiness_follows_admission_and_shutdown_but_liveness_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &limits(1, 1, 5_000));
    let ready = call(&state, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.json()["generation"], "gen-000001");

    let full = state.admitted.clone().try_acquire_many_owned(2).unwrap();
    let busy = call(&state, "/readyz").await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.json()["error"]["code"], "overloaded");
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(call(&state, "/healthz").await.status, 200);
    drop(full);
    assert_eq!(call(&state, "/readyz").await.status, 200);

    state.start_draining();
    let draining = call(&state, "/readyz").await;
    assert_eq!(draining.status, 503);
    assert_eq!(draining.json()["error"]["code"], "overloaded");
    assert_eq!(call(&state, "/healthz").await.json()["status"], "ok");
}

#[tokio::test]
async fn a_search_past_the_time_limit_gets_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &limits(1, 4, 100));
    // A slow search holds the only running slot, so this one waits past the limit.
    let slow = state.running.clone().try_acquire_owned().unwrap();
    let started = Instant::now();
    let reply = call(&state, "/search?q=common").await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(slow);
    assert_eq!(call(&state, "/search?q=common").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_sheds_excess_requests_quickly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &limits(1, 2, 10_000));
    let server = start(state.clone()).await;
    // One slow search running: it holds an admission and the only running slot, leaving
    // room for two queued searches.
    let slow = (
        state.admitted.clone().try_acquire_owned().unwrap(),
        state.running.clone().try_acquire_owned().unwrap(),
    );
    const REQUESTS: usize = 30;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let addr = server.addr;
        clients.spawn(async move {
            let started = Instant::now();
            let reply = get(addr, &format!("/search?q=common&limit={}", 1 + i % 5)).await;
            (reply.expect("request"), started.elapsed())
        });
    }
    let mut rejected = 0;
    while rejected < REQUESTS - 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), clients.join_next()).await;
        let (reply, took) = next.expect("rejections are prompt").unwrap().unwrap();
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "overloaded");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(took < Duration::from_millis(100), "rejection took {took:?}");
        rejected += 1;
    }
    assert_eq!(clients.len(), 2, "two requests wait in the queue");
    drop(slow);
    while let Some(done) = clients.join_next().await {
        let (reply, _) = done.unwrap();
        assert_eq!(
            reply.status, 200,
            "admitted requests succeed: {}",
            reply.body
        );
    }
    for _ in 0..5 {
        let reply = get(server.addr, "/search?q=common").await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let metrics = get(server.addr, "/metrics").await.unwrap().body;
    let line = format!("quarry_http_requests_total{{route=\"/search\",status=\"503\"}} {rejected}");
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
    server.shutdown.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &limits(2, 64, 10_000));
    let server = start(state.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let new_seen = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..3 {
        let (addr, stop, new_seen) = (server.addr, stop.clone(), new_seen.clone());
        clients.spawn(async move {
            let mut replies = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let q = if replies.len() % 2 == 0 {
                    "common"
                } else {
                    "freshly"
                };
                let reply = get(addr, &format!("/search?q={q}&limit={}", 1 + client))
                    .await
                    .expect("request");
                if reply.status == 200 && reply.json()["generation"] == "gen-000002" {
                    new_seen.fetch_add(1, Ordering::Relaxed);
                }
                replies.push(reply);
            }
            replies
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let root = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut pages = corpus();
        pages.push(page("/new", "Fresh page", "common words, freshly crawled"));
        build(&root, &pages);
    })
    .await
    .unwrap();
    let switched = eventually(Duration::from_secs(10), || {
        new_seen.load(Ordering::Relaxed) >= 6
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    while let Some(replies) = clients.join_next().await {
        for reply in replies.unwrap() {
            assert_eq!(reply.status, 200, "{}", reply.body);
            total += 1;
        }
    }
    assert!(switched, "clients never saw the new generation");
    assert!(total > 6, "{total} requests");
    let fresh = get(server.addr, "/search?q=freshly").await.unwrap().json();
    assert_eq!(fresh["generation"], "gen-000002");
    assert_eq!(fresh["hits"][0]["url"], "http://docs.test/new");
    server.shutdown.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &limits(1, 4, 10_000));
    let server = start(state.clone()).await;
    let slow = state.running.clone().try_acquire_owned().unwrap();
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { get(addr, "/search?q=common").await });
    let admitted = eventually(Duration::from_secs(5), || {
        state.admitted.available_permits() < state.admitted_max
    })
    .await;
    assert!(admitted, "the request never reached the server");
    server.shutdown.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished(), "shutdown waits for the request");
    assert!(state.is_draining());
    drop(slow);
    let reply = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the request completes")
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn suggest_completes_titles_and_words_from_the_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &ServerLimits::default());
    let reply = call(&state, "/suggest?q=Pag").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    let texts: Vec<&str> = json["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), routes::DEFAULT_SUGGESTIONS, "{json}");
    assert!(texts.iter().all(|t| t.starts_with("page")), "{texts:?}");
    assert_eq!(json["suggestions"][0]["kind"], "title");

    let words = call(&state, "/suggest?q=common+ite&limit=3").await.json();
    let first = &words["suggestions"][0];
    assert!(
        first["text"].as_str().unwrap().starts_with("common item"),
        "{words}"
    );
    assert_eq!(first["kind"], "word");
    assert!(words["took_ms"].as_f64().unwrap() < 50.0);

    for bad in ["/suggest", "/suggest?q=a&limit=0", "/suggest?q=a&limit=21"] {
        let reply = call(&state, bad).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.json()["error"]["code"], "bad_request", "{bad}");
    }
    let empty = call(&state, "/suggest?q=zzzz").await.json();
    assert_eq!(empty["suggestions"], serde_json::json!([]));
}

/// Sends `request` raw over a fresh connection and reads the answer (or what came before
/// the server closed). `None`: the server closed without answering.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading all of a huge request.
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    parse_reply(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_requests_get_clean_4xx_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &ServerLimits::default());
    let server = start(state).await;
    let addr = server.addr;

    // Path traversal: no route serves files, and none of these reaches one.
    for target in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/search/../../etc/passwd",
        "http://t/../../etc/passwd",
        "/static/..%5c..%5cwindows%5cwin.ini",
    ] {
        let reply = raw(addr, &request("GET", target, "")).await.expect(target);
        assert_eq!(reply.status, 404, "{target}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "not_found", "{target}");
        assert!(!reply.body.contains("root:"), "{target}");
    }

    // Invalid UTF-8, raw and percent-encoded.
    let raw_bytes = b"GET /search?q=\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(addr, raw_bytes).await.expect("raw 0xff").status, 400);
    let encoded = raw(addr, &request("GET", "/search?q=%C3%28", ""))
        .await
        .expect("%C3%28");
    assert_eq!(encoded.status, 400);
    assert_eq!(encoded.json()["error"]["code"], "bad_request");

    // Oversized request line, query, headers: refused before any search runs.
    let long_query = format!("/search?q={}", "a".repeat(MAX_HEAD_BYTES * 2));
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(1 << 20));
    for (what, bytes, statuses) in [
        (
            "long request line",
            request("GET", &long_query, ""),
            &[414, 431][..],
        ),
        (
            "500 headers",
            request("GET", "/search?q=common", &many_headers),
            &[431][..],
        ),
        (
            "1 MiB header",
            request("GET", "/search?q=common", &huge_header),
            &[431][..],
        ),
    ] {
        let reply = raw(addr, &bytes).await.expect(what);
        assert!(statuses.contains(&reply.status), "{what}: {}", reply.status);
    }
    let just_too_long = format!("/search?q={}", "a".repeat(2000));
    let reply = raw(addr, &request("GET", &just_too_long, ""))
        .await
        .expect("2000 chars");
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000")
    );

    // Bodies: a POST is refused with JSON and `Allow`; a GET's body is never read.
    let mut post = request("POST", "/search?q=common", "Content-Length: 10000000\r\n");
    post.extend(std::iter::repeat_n(b'c', 100_000));
    let reply = raw(addr, &post).await.expect("POST");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    assert_eq!(reply.json()["error"]["code"], "bad_request");
    let mut get_with_body = request("GET", "/search?q=common", "Content-Length: 10000000\r\n");
    get_with_body.extend(std::iter::repeat_n(b'c', 100_000));
    assert_eq!(
        raw(addr, &get_with_body).await.expect("GET body").status,
        200
    );

    // Not HTTP at all.
    for garbage in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        let reply = raw(addr, garbage).await;
        assert!(
            reply.is_none_or(|r| r.status == 400 || r.status == 505),
            "{garbage:?}"
        );
    }

    let fine = get(addr, "/search?q=common").await.unwrap();
    assert_eq!(fine.status, 200, "{}", fine.body);
    server.shutdown.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_do_not_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path()), &ServerLimits::default());
    let server = start(state).await;
    let addr = server.addr;
    let started = Instant::now();
    // 200 clients that send half a request line and stall, and one that drips a byte
    // every 200 ms (slowloris): the timeout counts the whole head, not gaps.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /search?q=comm").await.unwrap();
        stalled.push(stream);
    }
    let drip = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for byte in b"GET /search?q=common".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        started.elapsed()
    });
    // Meanwhile others are answered at once.
    for _ in 0..20 {
        let asked = Instant::now();
        let reply = get(addr, "/search?q=common").await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
    }
    // Every stalled connection is closed by the server within the head timeout.
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(5);
    for mut stream in stalled {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(limit, stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "a stalled connection stayed open past {limit:?}"
        );
    }
    let dripped = tokio::time::timeout(limit, drip)
        .await
        .expect("drip cut off")
        .unwrap();
    assert!(dripped < limit, "{dripped:?}");
    assert!(started.elapsed() >= HEADER_READ_TIMEOUT - Duration::from_secs(1));
    server.shutdown.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shard_endpoints_check_their_input_and_generation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let generation = engine.generation().0;
    let state = AppState::new(engine, &ServerLimits::default());

    let stats = post(&state, "/shard/stats", r#"{"query":"common item3"}"#).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    assert_eq!(stats["generation"], generation);
    assert_eq!(stats["stats"]["documents"], 20);
    let frequencies: Vec<u64> = stats["stats"]["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|term| term["documents"].as_u64().unwrap())
        .collect();
    assert!(
        frequencies.contains(&20) && frequencies.contains(&1),
        "{stats}"
    );

    let candidates = format!(
        r#"{{"query":"common","generation":{generation},"stats":{},"limit":5,"spread":true}}"#,
        stats["stats"]
    );
    let reply = post(&state, "/shard/candidates", &candidates).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = reply.json();
    assert_eq!(reply["total"], 20);
    assert_eq!(reply["candidates"].as_array().unwrap().len(), 5);
    assert_eq!(reply["spread"], serde_json::json!({"one": "docs.test"}));
    let key = &reply["candidates"][0]["key"];
    let hits = format!(
        r#"{{"query":"common","generation":{generation},"stats":{},"hits":[{{"key":{key}}}]}}"#,
        stats["stats"]
    );
    let rendered = post(&state, "/shard/hits", &hits).await;
    assert_eq!(rendered.status, 200, "{}", rendered.body);
    assert!(
        rendered.json()["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>")
    );

    // Another generation, an unknown document, a malformed body, too many candidates, a
    // GET: all refused with the usual error body.
    for (path, body, status) in [
        (
            "/shard/candidates",
            candidates.replace(&format!(":{generation},"), ":999999,"),
            400,
        ),
        (
            "/shard/hits",
            hits.replace(r#""doc":"#, r#""doc":4000000"#),
            400,
        ),
        ("/shard/stats", "{not json".to_string(), 400),
        (
            "/shard/candidates",
            candidates.replace(r#""limit":5"#, r#""limit":100000"#),
            400,
        ),
    ] {
        let reply = post(&state, path, &body).await;
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.body);
        assert_eq!(
            reply.json()["error"]["code"],
            "bad_request",
            "{}",
            reply.body
        );
    }
    let reply = call(&state, "/shard/stats").await;
    assert_eq!((reply.status, reply.header("allow")), (405, Some("POST")));

    // A coordinator has no index of its own to answer shard requests from.
    let federation = crate::federation::Federation::new(
        &["http://127.0.0.1:9".to_string()],
        Duration::from_secs(1),
    )
    .unwrap();
    let coordinator = AppState::federated(Arc::new(federation), &ServerLimits::default());
    let reply = post(&coordinator, "/shard/stats", r#"{"query":"x"}"#).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // Its only shard is down: searches are refused as overloaded, not as internal errors.
    let reply = call(&coordinator, "/search?q=common").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "overloaded");
    assert_eq!(call(&coordinator, "/readyz").await.status, 503);
    let metrics = call(&coordinator, "/metrics").await.body;
    assert!(
        metrics.contains("quarry_shards 1\n") && metrics.contains("quarry_shards_up 0\n"),
        "{metrics}"
    );
}
