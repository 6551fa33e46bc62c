//! A static site server on loopback, for `quarry demo`: serves a directory (the Rust
//! documentation of the toolchain) or the small site bundled in the binary.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The pages of the bundled sample site (path, HTML).
const BUNDLED: &[(&str, &str)] = &[
    ("/index.html", include_str!("../demo-site/index.html")),
    ("/crawling.html", include_str!("../demo-site/crawling.html")),
    (
        "/robots-txt.html",
        include_str!("../demo-site/robots-txt.html"),
    ),
    (
        "/page-store.html",
        include_str!("../demo-site/page-store.html"),
    ),
    ("/indexing.html", include_str!("../demo-site/indexing.html")),
    ("/ranking.html", include_str!("../demo-site/ranking.html")),
    (
        "/searching.html",
        include_str!("../demo-site/searching.html"),
    ),
    ("/cli.html", include_str!("../demo-site/cli.html")),
    ("/glossary.html", include_str!("../demo-site/glossary.html")),
];

/// What the server serves.
#[derive(Debug, Clone)]
pub enum SiteSource {
    /// Files under a directory.
    Dir(PathBuf),
    /// The bundled sample site.
    Bundled,
}

impl SiteSource {
    /// Human description.
    pub fn describe(&self) -> String {
        match self {
            SiteSource::Dir(dir) => dir.display().to_string(),
            SiteSource::Bundled => format!("the bundled sample site ({} pages)", BUNDLED.len()),
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file under `root`, refusing anything that escapes it.
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(uri_path)?;
    let mut path = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if path.is_dir() {
        path.push("index.html");
    }
    Some(path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn handle(State(source): State<Arc<SiteSource>>, uri: Uri) -> Response {
    match source.as_ref() {
        SiteSource::Bundled => {
            let path = match uri.path() {
                "/" => "/index.html",
                other => other,
            };
            if path == "/robots.txt" {
                return (
                    [(header::CONTENT_TYPE, "text/plain")],
                    "User-agent: *\nDisallow:\n",
                )
                    .into_response();
            }
            match BUNDLED.iter().find(|(p, _)| *p == path) {
                Some((_, html)) => {
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], *html).into_response()
                }
                None => not_found(),
            }
        }
        SiteSource::Dir(root) => {
            let Some(path) = resolve(root, uri.path()) else {
                return not_found();
            };
            match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(&path)),
                    );
                    response
                }
                Err(_) => not_found(),
            }
        }
    }
}

/// Starts serving `source` on 127.0.0.1 (ephemeral port); returns the address.
pub async fn start(source: SiteSource) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the sample site server")?;
    let addr = listener
        .local_addr()
        .context("reading the sample site address")?;
    let app = Router::new().fallback(handle).with_state(Arc::new(source));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "sample site server stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_root() {
        let root = Path::new("/srv/site");
        assert_eq!(
            resolve(root, "/a/b.html"),
            Some(PathBuf::from("/srv/site/a/b.html"))
        );
        assert_eq!(resolve(root, "/a/../../etc/passwd"), None);
        assert_eq!(resolve(root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(root, "/bad%zz"), None);
    }

    #[test]
    fn bundled_pages_link_to_each_other() {
        for (path, html) in BUNDLED {
            assert!(html.contains("<title>"), "{path} has a title");
        }
        let index = BUNDLED[0].1;
        for (path, _) in &BUNDLED[1..] {
            assert!(index.contains(&path[1..]), "index links to {path}");
        }
    }
}
