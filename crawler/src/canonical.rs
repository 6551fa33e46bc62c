//! URL canonicalisation: one spelling per page, so the frontier's seen-set and the index
//! hold each page once.
//!
//! The policy ([`UrlPolicy`], configurable under `[crawl.url_policy]`):
//! - only `http` and `https` URLs are crawlable;
//! - the WHATWG URL parser lower-cases the scheme and host, IDNA-encodes the host, drops
//!   the default port, resolves `.` and `..` segments (also `%2E`), and percent-encodes
//!   what must be (spaces, controls, non-ASCII as UTF-8);
//! - the fragment is dropped (it never reaches the server); so is a trailing dot of the
//!   host (`example.com.`);
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded in the
//!   path and query (`%7Ejane` → `~jane`), the hex digits of all other escapes are
//!   upper-cased (`%c3%a9` → `%C3%A9`); reserved characters are never decoded, so
//!   `a%2Fb` stays one path segment; a `%` that starts no escape becomes `%25`;
//! - tracking and session parameters are removed from the query ([`UrlPolicy::strip_params`],
//!   case-insensitive, `utm_*` style prefixes), and `;jsessionid=…` path parameters from
//!   the path;
//! - empty query pairs (`?&a=1`) are dropped, then the remaining pairs are sorted by name
//!   (a stable sort: repeated names keep their order) unless `sort_query` is off; each
//!   pair keeps its bytes otherwise (`+` stays `+`, `%20` stays `%20`, `?flag` gets no `=`);
//! - an empty query (`?` alone, or nothing left after stripping) is dropped.
//!
//! What it never changes: the case of the path and query, trailing slashes, repeated
//! slashes, and the order of values of a repeated parameter: a server may treat any of
//! them as a different resource.

use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use url::Url;

/// How URLs are canonicalised (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlPolicy {
    /// Query parameters removed from every URL: names compared case-insensitively; a name
    /// ending in `*` is a prefix (`utm_*`). Default: the common tracking and session
    /// parameters (utm_*, fbclid, gclid, msclkid, jsessionid, phpsessid, …). `sid` is not
    /// in the list: too many sites use it for content ids.
    pub strip_params: Vec<String>,
    /// Sort query parameters by name (stable). Default true, as Scrapy/w3lib do.
    pub sort_query: bool,
}

/// The default tracking and session parameters.
const DEFAULT_STRIP: &[&str] = &[
    "utm_*",
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "_ga",
    "_gl",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wickedid",
    "zanpid",
    "jsessionid",
    "phpsessid",
    "aspsessionid*",
    "sessionid",
    "session_id",
    "cfid",
    "cftoken",
];

impl Default for UrlPolicy {
    fn default() -> Self {
        UrlPolicy {
            strip_params: DEFAULT_STRIP.iter().map(|s| s.to_string()).collect(),
            sort_query: true,
        }
    }
}

static DEFAULT_POLICY: LazyLock<UrlPolicy> = LazyLock::new(UrlPolicy::default);

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// The byte a `%XX` escape starting at `bytes[i]` stands for, if there is one.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
    let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
    Some(hi * 16 + lo)
}

/// Decodes escapes of unreserved characters, upper-cases the others' hex digits, and
/// encodes a `%` that starts no escape as `%25` (so decoding can never create a new
/// escape: `%%30a` must not become `%0a`).
fn normalize_escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(value) = escape_at(bytes, i) {
            if is_unreserved(value) {
                out.push(value as char);
            } else {
                out.push('%');
                out.push_str(&format!("{value:02X}"));
            }
            i += 3;
            continue;
        }
        if bytes[i] == b'%' {
            out.push_str("%25");
            i += 1;
            continue;
        }
        // Not an escape: copy one whole character.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

/// The name of a query pair, decoded enough to compare with the strip list.
fn param_name(pair: &str) -> String {
    let name = pair.split('=').next().unwrap_or("");
    let name = name.replace('+', " ");
    percent_decode_lossy(&name).to_ascii_lowercase()
}

fn percent_decode_lossy(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(value) = escape_at(bytes, i) {
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes `;jsessionid=…` (any case) path parameters.
fn strip_session_path_params(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let mut out = String::with_capacity(path.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(";jsessionid=") {
        let start = search + found;
        let end = path[start + 1..]
            .find(['/', ';'])
            .map_or(path.len(), |e| start + 1 + e);
        out.push_str(&path[rest..start]);
        rest = end;
        search = end;
    }
    out.push_str(&path[rest..]);
    out
}

impl UrlPolicy {
    fn strips(&self, name: &str) -> bool {
        self.strip_params.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            }
        })
    }

    /// The canonical form of `url`, or `None` when it is not crawlable (not http/https,
    /// or without a host).
    pub fn canonicalize(&self, url: &Url) -> Option<CanonicalUrl> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return None;
        }
        let mut url = url.clone();
        url.set_fragment(None);
        if let Some(host) = url.host_str().filter(|h| h.len() > 1 && h.ends_with('.')) {
            let trimmed = host.trim_end_matches('.').to_string();
            if url.set_host(Some(&trimmed)).is_err() {
                return None;
            }
        }
        let path = normalize_escapes(&strip_session_path_params(url.path()));
        if path != url.path() {
            url.set_path(&path);
        }
        if let Some(query) = url.query() {
            let mut pairs: Vec<String> = query
                .split('&')
                .filter(|pair| !pair.is_empty() && !self.strips(&param_name(pair)))
                .map(normalize_escapes)
                .collect();
            if self.sort_query {
                pairs.sort_by(|a, b| {
                    let name = |p: &str| p.split('=').next().unwrap_or("").to_string();
                    name(a).cmp(&name(b))
                });
            }
            if pairs.is_empty() {
                url.set_query(None);
            } else {
                let joined = pairs.join("&");
                if joined != query {
                    url.set_query(Some(&joined));
                }
            }
        }
        Some(CanonicalUrl(url))
    }

    /// Parses and canonicalises an absolute URL.
    pub fn parse(&self, text: &str) -> Option<CanonicalUrl> {
        Url::parse(text.trim())
            .ok()
            .and_then(|url| self.canonicalize(&url))
    }

    /// Resolves `href` against `base` (as a browser would) and canonicalises the result.
    pub fn resolve(&self, base: &Url, href: &str) -> Option<CanonicalUrl> {
        base.join(href.trim())
            .ok()
            .and_then(|url| self.canonicalize(&url))
    }
}

/// A URL in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalUrl(Url);

impl CanonicalUrl {
    /// The canonical form of `url` under the default policy (see [`UrlPolicy`]).
    pub fn new(url: &Url) -> Option<CanonicalUrl> {
        DEFAULT_POLICY.canonicalize(url)
    }

    /// Parses and canonicalises an absolute URL under the default policy.
    pub fn parse(text: &str) -> Option<CanonicalUrl> {
        DEFAULT_POLICY.parse(text)
    }

    /// Resolves `href` against `base` and canonicalises the result (default policy).
    pub fn resolve(base: &Url, href: &str) -> Option<CanonicalUrl> {
        DEFAULT_POLICY.resolve(base, href)
    }

    /// A URL that was canonicalised before (read back from the frontier): parsed, checked
    /// to be crawlable, and otherwise taken as it is, whatever the current policy says.
    pub fn from_stored(text: &str) -> Option<CanonicalUrl> {
        let url = Url::parse(text).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()))
            .then_some(CanonicalUrl(url))
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
