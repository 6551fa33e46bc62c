//! URL canonicalisation: one spelling per page, so the frontier's seen-set and the index
//! hold each page once.
//!
//! Policy (deliberately conservative; it never changes which resource a URL names):
//! - only `http` and `https` URLs are crawlable;
//! - parsing with the WHATWG URL parser already lower-cases the scheme and host, drops
//!   the default port, resolves `.` and `..` segments, and percent-encodes what must be;
//! - the fragment is dropped (it never reaches the server);
//! - an empty query (`?` with nothing after it) is dropped;
//! - a trailing dot of the host (`example.com.`) is dropped.

use std::fmt;

use url::Url;

/// A URL in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalUrl(Url);

impl CanonicalUrl {
    /// The canonical form of `url`, or `None` when it is not crawlable (not http/https,
    /// or without a host).
    pub fn new(url: &Url) -> Option<CanonicalUrl> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return None;
        }
        let mut url = url.clone();
        url.set_fragment(None);
        if url.query() == Some("") {
            url.set_query(None);
        }
        if let Some(host) = url.host_str().filter(|h| h.len() > 1 && h.ends_with('.')) {
            let trimmed = host.trim_end_matches('.').to_string();
            if url.set_host(Some(&trimmed)).is_err() {
                return None;
            }
        }
        Some(CanonicalUrl(url))
    }

    /// Parses and canonicalises an absolute URL.
    pub fn parse(text: &str) -> Option<CanonicalUrl> {
        Url::parse(text.trim())
            .ok()
            .as_ref()
            .and_then(CanonicalUrl::new)
    }

    /// Resolves `href` against `base` (as a browser would) and canonicalises the result.
    pub fn resolve(base: &Url, href: &str) -> Option<CanonicalUrl> {
        base.join(href.trim())
            .ok()
            .as_ref()
            .and_then(CanonicalUrl::new)
    }

    /// The URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host, lower case.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or("")
    }

    /// The politeness key: host and port (`example.com:443`). Requests to one key share
    /// the per-host connection limit and delay.
    pub fn host_key(&self) -> String {
        format!(
            "{}:{}",
            self.host(),
            self.0.port_or_known_default().unwrap_or(0)
        )
    }
}

impl fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
