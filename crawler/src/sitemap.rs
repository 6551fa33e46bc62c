//! Sitemaps: XML `<urlset>` and `<sitemapindex>` (sitemaps.org), RSS 2.0 and Atom feeds,
//! plain-text lists, gzipped or not. The parser is lenient like the crawlers site owners
//! test against (a truncated or malformed file yields what was read before the damage) and
//! bounded (decompressed size, URLs per file, files per host). [`SitemapWalker`] is a
//! state machine without I/O: the crawl loop fetches what it asks for, politely, and feeds
//! the answers back.

use std::collections::{HashSet, VecDeque};
use std::io::Read;

use url::Url;

/// Bounds on what sitemaps can make the crawler read and queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SitemapLimits {
    /// Largest sitemap body after decompression, in bytes (sitemaps.org: 50 MiB). A gzip
    /// bomb stops here.
    pub max_bytes: u64,
    /// URLs taken from one sitemap file (sitemaps.org: 50,000).
    pub max_urls_per_file: usize,
    /// Sitemap files fetched per walk (one host).
    pub max_files: usize,
    /// Page URLs collected per walk.
    pub max_pages: usize,
    /// Redirect hops followed for one sitemap URL.
    pub max_redirects: u32,
}

impl Default for SitemapLimits {
    fn default() -> Self {
        SitemapLimits {
            max_bytes: 50 << 20,
            max_urls_per_file: 50_000,
            max_files: 1000,
            max_pages: 1_000_000,
            max_redirects: 5,
        }
    }
}

/// A page listed in a sitemap.
#[derive(Debug, Clone, PartialEq)]
pub struct SitemapPage {
    /// Its URL.
    pub url: Url,
    /// `<lastmod>` (or the feed's date), as written.
    pub lastmod: Option<String>,
    /// `<changefreq>`, as written.
    pub changefreq: Option<String>,
    /// `<priority>`, if it parses.
    pub priority: Option<f32>,
}

/// What one sitemap file contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedSitemap {
    /// Pages (from `<urlset>`, a feed or a text list).
    pub pages: Vec<SitemapPage>,
    /// Child sitemaps (from `<sitemapindex>`).
    pub sitemaps: Vec<Url>,
}

/// Decompresses a gzip body (detected by its magic bytes, whatever the headers say), up
/// to `max` bytes; other bodies are cut at `max`.
fn decompress(body: &[u8], max: u64) -> Vec<u8> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let decoder = flate2::read::MultiGzDecoder::new(body);
        // A truncated or corrupt stream keeps what decoded before the damage.
        let _ = decoder.take(max).read_to_end(&mut out);
        out
    } else {
        body[..body.len().min(max as usize)].to_vec()
    }
}

/// Decodes the five XML entities and numeric character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The local name of a tag (`image:loc` → `loc`), lower-cased.
fn local_name(tag: &str) -> String {
    let name = tag
        .trim_start_matches('/')
        .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .next()
        .unwrap_or("");
    name.rsplit(':').next().unwrap_or(name).to_ascii_lowercase()
}

/// The value of attribute `name` in the inside of a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let after = rest[at + name.len()..].trim_start();
        let before_ok = at == 0 || rest.as_bytes()[at - 1].is_ascii_whitespace();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let end = value[1..].find(quote)?;
                return Some(unescape(&value[1..1 + end]));
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// One entry being read: the element that opened it and its fields.
#[derive(Default)]
struct Entry {
    loc: Option<String>,
    lastmod: Option<String>,
    changefreq: Option<String>,
    priority: Option<String>,
}

/// Parses one sitemap file fetched from `url`. Never fails: what cannot be read is skipped.
pub fn parse_sitemap(url: &Url, body: &[u8], limits: &SitemapLimits) -> ParsedSitemap {
    let bytes = decompress(body, limits.max_bytes);
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let mut parsed = ParsedSitemap::default();
    let absolute = |loc: &str| -> Option<Url> {
        let target = url.join(loc.trim()).ok()?;
        matches!(target.scheme(), "http" | "https").then_some(target)
    };
    if !text.starts_with('<') {
        // Plain text: one URL per line.
        for line in text.lines() {
            if parsed.pages.len() >= limits.max_urls_per_file {
                break;
            }
            let line = line.trim();
            if let Some(target) = Url::parse(line)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
            {
                parsed.pages.push(SitemapPage {
                    url: target,
                    lastmod: None,
                    changefreq: None,
                    priority: None,
                });
            }
        }
        return parsed;
    }

    // XML, read leniently: a flat scan of tags, with the text between them.
    let mut kind: Option<String> = None; // urlset, sitemapindex, rss, feed
    let mut entry: Option<(String, Entry)> = None; // (entry element, fields)
    let mut field: Option<String> = None;
    let mut buffer = String::new();
    let mut rest = text;
    let total = |p: &ParsedSitemap| p.pages.len() + p.sitemaps.len();
    while let Some(open) = rest.find('<') {
        if total(&parsed) >= limits.max_urls_per_file {
            break;
        }
        buffer.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(cdata) = tail.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            buffer.push_str(&cdata[..end]);
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        if tail.starts_with("<!--") {
            rest = tail.find("-->").map_or("", |e| &tail[e + 3..]);
            continue;
        }
        let Some(close) = tail.find('>') else { break };
        let inside = &tail[1..close];
        rest = &tail[close + 1..];
        if inside.starts_with('?') || inside.starts_with('!') {
            continue;
        }
        let name = local_name(inside);
        let closing = inside.starts_with('/');
        let self_closing = inside.ends_with('/');
        if kind.is_none() && !closing {
            kind = Some(name.clone());
            continue;
        }
        let entry_element = match kind.as_deref() {
            Some("urlset") => "url",
            Some("sitemapindex") => "sitemap",
            Some("rss") | Some("rdf") => "item",
            Some("feed") => "entry",
            _ => "url",
        };
        if !closing && name == entry_element {
            entry = Some((name, Entry::default()));
            continue;
        }
        let Some((_, current)) = entry.as_mut() else {
            continue;
        };
        if !closing {
            // Atom: <link href="…" rel="alternate"/>; the first alternate (or plain) one.
            if name == "link" && kind.as_deref() == Some("feed") {
                let rel = attribute(inside, "rel");
                if current.loc.is_none() && rel.as_deref().is_none_or(|r| r == "alternate") {
                    current.loc = attribute(inside, "href");
                }
                continue;
            }
            if !self_closing {
                field = Some(name);
                buffer.clear();
            }
            continue;
        }
        if name == entry_element {
            if let Some((_, done)) = entry.take()
                && let Some(target) = done.loc.as_deref().and_then(absolute)
            {
                if kind.as_deref() == Some("sitemapindex") {
                    parsed.sitemaps.push(target);
                } else {
                    parsed.pages.push(SitemapPage {
                        url: target,
                        lastmod: done.lastmod,
                        changefreq: done.changefreq,
                        priority: done.priority.and_then(|p| p.trim().parse().ok()),
                    });
                }
            }
            continue;
        }
        if field.as_deref() == Some(name.as_str()) {
            let value = unescape(buffer.trim());
            match name.as_str() {
                // Only the entry's own <loc>/<link>, not an image:loc or news element's.
                "loc" | "link" if current.loc.is_none() && !inside.contains(':') => {
                    current.loc = Some(value);
                }
                "lastmod" | "pubdate" | "updated" | "modified" | "issued"
                    if current.lastmod.is_none() =>
                {
                    current.lastmod = Some(value);
                }
                "changefreq" => current.changefreq = Some(value),
                "priority" => current.priority = Some(value),
                _ => {}
            }
            field = None;
            buffer.clear();
        }
    }
    parsed
}

/// Walks the sitemaps of one site: robots.txt `Sitemap:` URLs and `/sitemap.xml`, then
/// every child of the indexes found, each file once (loops and repeats are skipped).
#[derive(Debug)]
pub struct SitemapWalker {
    limits: SitemapLimits,
    queue: VecDeque<(Url, u32)>,
    seen: HashSet<String>,
    fetched: usize,
    pages: Vec<SitemapPage>,
    page_urls: HashSet<String>,
}

impl SitemapWalker {
    /// A walk of the site of `homepage`, starting from the sitemaps its robots.txt lists
    /// and the well-known `/sitemap.xml` and `/sitemap_index.xml`.
    pub fn new(homepage: &Url, robots_sitemaps: &[String], limits: SitemapLimits) -> Self {
        let mut walker = SitemapWalker {
            limits,
            queue: VecDeque::new(),
            seen: HashSet::new(),
            fetched: 0,
            pages: Vec::new(),
            page_urls: HashSet::new(),
        };
        for listed in robots_sitemaps {
            if let Ok(url) = homepage.join(listed.trim()) {
                walker.push(url, 0);
            }
        }
        for path in ["/sitemap.xml", "/sitemap_index.xml"] {
            if let Ok(url) = homepage.join(path) {
                walker.push(url, 0);
            }
        }
        walker
    }

    fn push(&mut self, mut url: Url, redirects: u32) {
        url.set_fragment(None);
        if matches!(url.scheme(), "http" | "https") && self.seen.insert(url.to_string()) {
            self.queue.push_back((url, redirects));
        }
    }

    /// The next sitemap to fetch, or `None` when the walk is over.
    pub fn next_fetch(&mut self) -> Option<Url> {
        if self.fetched >= self.limits.max_files {
            self.queue.clear();
            return None;
        }
        let (url, _) = self.queue.front()?;
        Some(url.clone())
    }

    /// Records the answer for the URL [`SitemapWalker::next_fetch`] gave: a 2xx body is
    /// parsed, a 3xx is followed (bounded), anything else is skipped.
    pub fn on_response(&mut self, url: &Url, status: u16, location: Option<&str>, body: &[u8]) {
        let Some(position) = self.queue.iter().position(|(queued, _)| queued == url) else {
            return;
        };
        let Some((url, redirects)) = self.queue.remove(position) else {
            return;
        };
        self.fetched += 1;
        match status {
            200..=299 => {
                let parsed = parse_sitemap(&url, body, &self.limits);
                for child in parsed.sitemaps {
                    self.push(child, 0);
                }
                for page in parsed.pages {
                    if self.pages.len() >= self.limits.max_pages {
                        break;
                    }
                    if self.page_urls.insert(page.url.to_string()) {
                        self.pages.push(page);
                    }
                }
            }
            300..=399 if redirects < self.limits.max_redirects => {
                if let Some(target) = location.and_then(|l| url.join(l).ok()) {
                    self.push(target, redirects + 1);
                }
            }
            _ => {}
        }
    }

    /// Takes the pages collected so far.
    pub fn take_pages(&mut self) -> Vec<SitemapPage> {
        std::mem::take(&mut self.pages)
    }

    /// Sitemap files fetched so far.
    pub fn files_fetched(&self) -> usize {
        self.fetched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://example.com/sitemap.xml").unwrap()
    }

    #[test]
    fn urlset_with_entities_namespaces_and_fields() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
              <url><loc> http://example.com/a?x=1&amp;y=2 </loc><lastmod>2005-01-01</lastmod>
                <changefreq>monthly</changefreq><priority>0.8</priority>
                <image:image><image:loc>http://example.com/img.png</image:loc></image:image></url>
              <url><loc><![CDATA[http://example.com/b]]></loc></url>
              <url><loc>ftp://example.com/no</loc></url>
            </urlset>"#;
        let parsed = parse_sitemap(&base(), xml.as_bytes(), &SitemapLimits::default());
        let urls: Vec<&str> = parsed.pages.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://example.com/a?x=1&y=2", "http://example.com/b"]
        );
        assert_eq!(parsed.pages[0].lastmod.as_deref(), Some("2005-01-01"));
        assert_eq!(parsed.pages[0].changefreq.as_deref(), Some("monthly"));
        assert_eq!(parsed.pages[0].priority, Some(0.8));
    }

    #[test]
    fn index_feeds_text_and_truncated_files() {
        let limits = SitemapLimits::default();
        let index = "<sitemapindex><sitemap><loc>/s1.xml</loc></sitemap><sitemap><loc>http://example.com/s2.xml.gz</loc></sitemap></sitemapindex>";
        let parsed = parse_sitemap(&base(), index.as_bytes(), &limits);
        assert_eq!(parsed.sitemaps.len(), 2);
        assert_eq!(parsed.sitemaps[0].as_str(), "http://example.com/s1.xml");

        let rss = "<rss><channel><link>http://example.com/</link><item><title>T</title><link>http://example.com/post</link><pubDate>Mon, 01 Jan 2024</pubDate></item></channel></rss>";
        let parsed = parse_sitemap(&base(), rss.as_bytes(), &limits);
        assert_eq!(parsed.pages.len(), 1);
        assert_eq!(parsed.pages[0].url.as_str(), "http://example.com/post");

        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" href="http://example.com/e1"/><updated>2024-01-01</updated></entry></feed>"#;
        let parsed = parse_sitemap(&base(), atom.as_bytes(), &limits);
        assert_eq!(parsed.pages[0].url.as_str(), "http://example.com/e1");

        let text = "http://example.com/1\n\nnot a url\nhttps://example.com/2\n";
        assert_eq!(
            parse_sitemap(&base(), text.as_bytes(), &limits).pages.len(),
            2
        );

        let cut = "<urlset><url><loc>http://example.com/ok</loc></url><url><loc>http://exa";
        assert_eq!(
            parse_sitemap(&base(), cut.as_bytes(), &limits).pages.len(),
            1
        );
    }

    #[test]
    fn gzip_is_detected_and_a_bomb_stops_at_the_cap() {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        use std::io::Write;
        let xml = "<urlset><url><loc>http://example.com/z</loc></url></urlset>";
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(xml.as_bytes()).unwrap();
        let gz = encoder.finish().unwrap();
        let parsed = parse_sitemap(&base(), &gz, &SitemapLimits::default());
        assert_eq!(parsed.pages.len(), 1);

        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert_eq!(decompress(&bomb, 4 << 20).len(), 4 << 20);
    }

    #[test]
    fn walker_follows_indexes_once_and_stops_at_loops_and_limits() {
        let home = Url::parse("http://example.com/").unwrap();
        let mut walker = SitemapWalker::new(
            &home,
            &["http://example.com/index.xml".to_string()],
            SitemapLimits::default(),
        );
        let mut fetched = Vec::new();
        while let Some(url) = walker.next_fetch() {
            fetched.push(url.path().to_string());
            let body: &[u8] = match url.path() {
                "/index.xml" => b"<sitemapindex><sitemap><loc>/a.xml</loc></sitemap><sitemap><loc>/index.xml</loc></sitemap></sitemapindex>",
                "/a.xml" => b"<urlset><url><loc>/p1</loc></url><url><loc>/p1</loc></url><url><loc>/p2</loc></url></urlset>",
                _ => b"",
            };
            let status = if body.is_empty() { 404 } else { 200 };
            walker.on_response(&url, status, None, body);
        }
        assert_eq!(
            fetched,
            ["/index.xml", "/sitemap.xml", "/sitemap_index.xml", "/a.xml"]
        );
        let pages: Vec<String> = walker
            .take_pages()
            .iter()
            .map(|p| p.url.path().to_string())
            .collect();
        assert_eq!(pages, ["/p1", "/p2"]);
    }
}
