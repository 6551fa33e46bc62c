//! A hostile site on 127.0.0.1: every way a web server can hurt a crawler, served over raw
//! TCP so it can misbehave in ways an HTTP framework would not allow (never answer, drip,
//! close mid-body, lie about lengths).
//!
//! Several origins (ports) share one runtime thread. The main origin serves the traps and
//! broken pages linked from its `/`; each other origin differs only in its robots.txt
//! (huge, failing, silent, redirected), with a `/` that links `/ok.html` and
//! `/private/secret.html`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How an origin answers `/robots.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Robots {
    /// The main origin: disallows `/private/`, announces a sitemap index that lists itself.
    Main,
    /// 2 MiB of rules: `Disallow: /private/` first, `Disallow: /` after the first 500 KiB
    /// (past what a crawler reads, so it must not apply).
    Huge,
    /// Always 503.
    ServerError,
    /// Accepts the connection, reads the request, never answers.
    Silent,
    /// 301 to `/robots-real.txt`, which disallows `/private/`.
    Redirect,
}

/// The origins the site starts, in order.
pub const ORIGINS: [Robots; 5] = [
    Robots::Main,
    Robots::Huge,
    Robots::ServerError,
    Robots::Silent,
    Robots::Redirect,
];

/// The `<a href>`s on the `/links` page (all to other, out-of-scope hosts).
pub const LINKS_ON_ONE_PAGE: usize = 100_000;
/// Elements nested in `/deep`.
pub const NESTING: usize = 100_000;
/// A word only on `/deep`, after all its nesting.
pub const DEEP_WORD: &str = "abyssalword";
/// A Cyrillic word on `/conflict-charset` (sent as UTF-8, declared windows-1251 in a meta).
pub const CYRILLIC_WORD: &str = "землетрясение";
/// A word on `/bad-charset`, whose Content-Type names a charset that does not exist.
pub const BAD_CHARSET_WORD: &str = "quokkaword";
/// What `/huge-body` would send in all: 1 GiB.
pub const HUGE_BODY_BYTES: u64 = 1 << 30;
/// Uncompressed size of `/gzip-bomb`'s body.
pub const BOMB_BYTES: usize = 64 << 20;

/// The pages of the main origin a crawler should store (HTML, 200, allowed).
pub const STORED_ON_MAIN: &[&str] = &[
    "/",
    "/no-type",
    "/bad-charset",
    "/conflict-charset",
    "/malformed",
    "/deep",
    "/links",
    "/from-sitemap.html",
];

/// A running hostile site. Stops when dropped.
pub struct HostileSite {
    origins: HashMap<Robots, SocketAddr>,
    log: Arc<Mutex<Vec<(Robots, String)>>>,
    huge_sent: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<(Robots, String)>>>,
    huge_sent: Arc<AtomicU64>,
    main: SocketAddr,
    bomb: Arc<Vec<u8>>,
}

impl HostileSite {
    /// Starts every origin of [`ORIGINS`] on 127.0.0.1 with ephemeral ports.
    pub fn start() -> HostileSite {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("hostile site runtime");
        let log: Arc<Mutex<Vec<(Robots, String)>>> = Arc::default();
        let huge_sent = Arc::new(AtomicU64::new(0));
        let mut listeners = Vec::new();
        let mut origins = HashMap::new();
        for robots in ORIGINS {
            let listener = runtime
                .block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
                .expect("bind hostile origin");
            origins.insert(robots, listener.local_addr().expect("address"));
            listeners.push((robots, listener));
        }
        let shared = Shared {
            log: log.clone(),
            huge_sent: huge_sent.clone(),
            main: origins[&Robots::Main],
            bomb: Arc::new(gzip_bomb()),
        };
        for (robots, listener) in listeners {
            let shared = shared.clone();
            runtime.spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, robots, &shared).await;
                    });
                }
            });
        }
        HostileSite {
            origins,
            log,
            huge_sent,
            runtime: Some(runtime),
        }
    }

    /// Absolute URL of `path` on the origin with `robots`.
    pub fn url(&self, robots: Robots, path: &str) -> String {
        format!("http://{}{path}", self.origins[&robots])
    }

    /// `/` of every origin.
    pub fn seeds(&self) -> Vec<String> {
        ORIGINS
            .iter()
            .map(|&robots| self.url(robots, "/"))
            .collect()
    }

    /// How many requests for `path` (with query) reached the origin with `robots`.
    pub fn requests_for(&self, robots: Robots, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|(r, p)| *r == robots && p == path)
            .count()
    }

    /// Every request so far: origin and path with query.
    pub fn requests(&self) -> Vec<(Robots, String)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Bytes of `/huge-body` written to sockets so far.
    pub fn huge_body_sent(&self) -> u64 {
        self.huge_sent.load(Ordering::Relaxed)
    }
}

impl Drop for HostileSite {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(b"<html><body><p>").expect("compress");
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..BOMB_BYTES >> 20 {
        encoder.write_all(&zeros).expect("compress");
    }
    encoder.finish().expect("compress")
}

fn page(title: &str, body: &str) -> String {
    format!("<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>")
}

/// Reads a request head (up to 16 KiB); returns its path.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 << 10 {
            return None;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace().nth(1).map(str::to_string)
}

async fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

async fn html(stream: &mut TcpStream, body: &str) {
    respond(
        stream,
        "200 OK",
        &[("Content-Type", "text/html; charset=utf-8")],
        body.as_bytes(),
    )
    .await;
}

async fn redirect(stream: &mut TcpStream, location: &str) {
    respond(stream, "302 Found", &[("Location", location)], b"").await;
}

/// Holds the connection open without answering, for longer than any crawler waits.
async fn hang() {
    tokio::time::sleep(Duration::from_secs(120)).await;
}

async fn serve(mut stream: TcpStream, robots: Robots, shared: &Shared) -> std::io::Result<()> {
    let Some(path) = read_request(&mut stream).await else {
        return Ok(());
    };
    shared
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((robots, path.clone()));
    if path == "/robots.txt" || path == "/robots-real.txt" {
        return serve_robots(stream, robots, &path, shared).await;
    }
    if robots != Robots::Main {
        return match path.as_str() {
            "/" => {
                html(
                    &mut stream,
                    &page(
                        "Side origin",
                        "<a href=/ok.html>ok</a> <a href=/private/secret.html>secret</a>",
                    ),
                )
                .await;
                Ok(())
            }
            "/ok.html" => {
                html(&mut stream, &page("Side page", "<p>an ordinary page</p>")).await;
                Ok(())
            }
            _ => {
                respond(&mut stream, "404 Not Found", &[], b"").await;
                Ok(())
            }
        };
    }
    let (route, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
    match route {
        "/" => {
            let links = [
                "/redirect/loop-a",
                "/redirect/chain/0",
                "/calendar?day=0",
                "/grow?q=a",
                "/self/",
                "/huge-body",
                "/huge-declared",
                "/gzip-bomb",
                "/drip",
                "/silent",
                "/cut",
                "/octet",
                "/no-type",
                "/bad-charset",
                "/conflict-charset",
                "/malformed",
                "/deep",
                "/links",
                "/private/secret.html",
            ]
            .iter()
            .map(|l| format!("<a href=\"{l}\">{l}</a>"))
            .collect::<String>();
            html(&mut stream, &page("Hostile site", &links)).await;
        }
        "/redirect/loop-a" => redirect(&mut stream, "/redirect/loop-b").await,
        "/redirect/loop-b" => redirect(&mut stream, "/redirect/loop-a").await,
        _ if route.starts_with("/redirect/chain/") => {
            let n: u64 = route["/redirect/chain/".len()..].parse().unwrap_or(0);
            redirect(&mut stream, &format!("/redirect/chain/{}", n + 1)).await;
        }
        "/calendar" => {
            let day: i64 = query
                .strip_prefix("day=")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let body = format!(
                "<a href=\"?day={}\">previous</a> <a href=\"?day={}\">next</a>",
                day - 1,
                day + 1
            );
            html(&mut stream, &page(&format!("Day {day}"), &body)).await;
        }
        "/grow" => {
            // Each page links to a URL 300 characters longer.
            let longer = format!("{}{}", query.trim_start_matches("q="), "a".repeat(300));
            let body = format!("<a href=\"/grow?q={longer}\">more</a>");
            html(&mut stream, &page("Growing", &body)).await;
        }
        _ if route.starts_with("/self/") => {
            html(&mut stream, &page("Again", "<a href=\"again/\">again</a>")).await;
        }
        "/huge-body" => {
            // Chunked, no length: 1 GiB streamed until the client hangs up.
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            let chunk = "<p>filler</p>".repeat(5041); // 65,533 bytes
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            let mut sent = 0u64;
            while sent < HUGE_BODY_BYTES {
                stream.write_all(framed.as_bytes()).await?;
                sent += chunk.len() as u64;
                shared
                    .huge_sent
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
        "/huge-declared" => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {HUGE_BODY_BYTES}\r\n\
                 Connection: close\r\n\r\n<p>"
            );
            stream.write_all(head.as_bytes()).await?;
            hang().await;
        }
        "/gzip-bomb" => {
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                &shared.bomb,
            )
            .await;
        }
        "/drip" => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                        Content-Length: 100000\r\nConnection: close\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            for _ in 0..100_000 {
                stream.write_all(b"x").await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        "/silent" => hang().await,
        "/cut" => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                        Content-Length: 50000\r\nConnection: close\r\n\r\n<html><body><p>cut";
            stream.write_all(head.as_bytes()).await?;
            // Hang up after a few bytes of the promised 50,000.
        }
        "/octet" => {
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "application/octet-stream")],
                page("Octets", "<p>not declared as HTML</p>").as_bytes(),
            )
            .await;
        }
        "/no-type" => {
            respond(
                &mut stream,
                "200 OK",
                &[],
                page("No type", "<p>no content type at all</p>").as_bytes(),
            )
            .await;
        }
        "/bad-charset" => {
            let body = page(
                "Bad charset",
                &format!("<p>{BAD_CHARSET_WORD} café déjà vu</p>"),
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/html; charset=x-no-such-charset")],
                body.as_bytes(),
            )
            .await;
        }
        "/conflict-charset" => {
            let body = format!(
                "<html><head><meta charset=windows-1251><title>Conflict</title></head>\
                 <body><p>{CYRILLIC_WORD}</p></body></html>"
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/html; charset=utf-8")],
                body.as_bytes(),
            )
            .await;
        }
        "/malformed" => {
            let mut body = b"<html><head><title>Malformed</title><body><p>tag soup <b><i>x</b></i>\
                <table><td>cell<div>in</table></div><a href=\"javascript:alert(1)\">js</a>\
                <a href=\"http://[::1\">bad</a><a href=\"\x00nul\">nul</a><!-- unclosed"
                .to_vec();
            body.extend_from_slice(b"\xff\xfe\xc3\x28 invalid utf-8 <script>never closed");
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/html; charset=utf-8")],
                &body,
            )
            .await;
        }
        "/deep" => {
            let body = format!(
                "<html><head><title>Deep</title></head><body>{}{DEEP_WORD}{}</body></html>",
                "<div>".repeat(NESTING),
                "</div>".repeat(NESTING)
            );
            html(&mut stream, &body).await;
        }
        "/links" => {
            let mut body = String::with_capacity(LINKS_ON_ONE_PAGE * 40);
            body.push_str("<html><head><title>Links</title></head><body>");
            for i in 0..LINKS_ON_ONE_PAGE {
                body.push_str(&format!("<a href=\"http://h{i}.invalid/\">{i}</a>"));
            }
            html(&mut stream, &body).await;
        }
        "/sitemap.xml" => {
            let main = shared.main;
            let body = format!(
                "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <sitemap><loc>http://{main}/sitemap.xml</loc></sitemap>\
                 <sitemap><loc>http://{main}/sitemap-pages.xml</loc></sitemap></sitemapindex>"
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "application/xml")],
                body.as_bytes(),
            )
            .await;
        }
        "/sitemap-pages.xml" => {
            let main = shared.main;
            let body = format!(
                "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <url><loc>http://{main}/from-sitemap.html</loc></url>\
                 <url><loc>http://{main}/sitemap-pages.xml</loc></url></urlset>"
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "application/xml")],
                body.as_bytes(),
            )
            .await;
        }
        "/from-sitemap.html" => {
            html(&mut stream, &page("From the sitemap", "<p>only listed</p>")).await;
        }
        _ => respond(&mut stream, "404 Not Found", &[], b"").await,
    }
    Ok(())
}

async fn serve_robots(
    mut stream: TcpStream,
    robots: Robots,
    path: &str,
    shared: &Shared,
) -> std::io::Result<()> {
    match (robots, path) {
        (Robots::Main, "/robots.txt") => {
            let body = format!(
                "User-agent: *\nDisallow: /private/\nSitemap: http://{}/sitemap.xml\n",
                shared.main
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/plain")],
                body.as_bytes(),
            )
            .await;
        }
        (Robots::Huge, "/robots.txt") => {
            let mut body = String::from("User-agent: *\nDisallow: /private/\n");
            let mut n = 0;
            while body.len() < 2 << 20 {
                body.push_str(&format!("Disallow: /junk/{n:08}\n"));
                n += 1;
            }
            body.push_str("Disallow: /\n");
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/plain")],
                body.as_bytes(),
            )
            .await;
        }
        (Robots::ServerError, _) => {
            respond(&mut stream, "503 Service Unavailable", &[], b"").await;
        }
        (Robots::Silent, _) => hang().await,
        (Robots::Redirect, "/robots.txt") => {
            respond(
                &mut stream,
                "301 Moved Permanently",
                &[("Location", "/robots-real.txt")],
                b"",
            )
            .await;
        }
        (Robots::Redirect, _) => {
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "text/plain")],
                b"User-agent: *\nDisallow: /private/\n",
            )
            .await;
        }
        _ => respond(&mut stream, "404 Not Found", &[], b"").await,
    }
    Ok(())
}
