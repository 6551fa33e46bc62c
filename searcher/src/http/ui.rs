//! The HTML search page: server-rendered, no JavaScript needed. With JavaScript, the
//! search box offers completions from `/suggest` (a `<datalist>` filled as the user types);
//! without it, the form works the same minus the completions.

use super::ApiError;
use crate::SearchResponse;
use crate::snippet::escape_html;

/// What the page shows.
pub enum Page<'a> {
    /// Just the search form.
    Empty,
    /// Results for a query.
    Results {
        /// The query.
        q: &'a str,
        /// The answer.
        response: &'a SearchResponse,
    },
    /// An error for a query.
    Error {
        /// The query.
        q: &'a str,
        /// What went wrong.
        error: &'a ApiError,
    },
}

impl<'a> Page<'a> {
    /// The form alone.
    pub fn empty() -> Page<'a> {
        Page::Empty
    }
    /// Results.
    pub fn results(q: &'a str, response: &'a SearchResponse) -> Page<'a> {
        Page::Results { q, response }
    }
    /// An error.
    pub fn error(q: &'a str, error: &'a ApiError) -> Page<'a> {
        Page::Error { q, error }
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}\
form{display:flex;gap:.5rem;margin-bottom:1.5rem}input[type=search]{flex:1;font-size:1.1rem;padding:.4rem}\
button{font-size:1rem;padding:.4rem .9rem}.meta{color:#666;font-size:.9rem}.hit{margin:1.2rem 0}\
.hit a.title{font-size:1.15rem;text-decoration:none}.hit a.title:hover{text-decoration:underline}\
.url{color:#1a7f37;font-size:.85rem;word-break:break-all}.snippet{margin:.25rem 0;line-height:1.4}\
mark{background:#fff3a3}.error{color:#b00020}.dym{font-size:1.05rem}.more{font-size:.85rem}.next{display:inline-block;margin:1rem 0}\
@media (max-width:30rem){body{margin:1rem auto}h1{font-size:1.4rem}form{flex-wrap:wrap}}";

/// Fills the search box's `<datalist>` from `/suggest` as the user types (debounced; stale
/// answers dropped). The page works without it.
const AUTOCOMPLETE: &str = "(()=>{const i=document.querySelector('input[name=q]'),l=document.getElementById('suggestions');\
if(!i||!l||!window.fetch)return;let t=0,n=0;i.addEventListener('input',()=>{clearTimeout(t);const q=i.value;\
if(!q.trim()){l.replaceChildren();return}t=setTimeout(async()=>{const m=++n;try{\
const r=await fetch('/suggest?limit=8&q='+encodeURIComponent(q));if(!r.ok||m!==n)return;const j=await r.json();\
l.replaceChildren(...j.suggestions.map(s=>{const o=document.createElement('option');o.value=s.text;return o}))}catch(e){}},120)})})();";

/// Encodes a query-string component.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A result URL for an `href`: escaped, and only `http(s)` (a stored `javascript:` URL
/// is never made clickable).
fn safe_href(url: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        escape_html(url)
    } else {
        "#".to_string()
    }
}

/// `1.2 KB`, `3.4 MB`, `512 bytes`.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Renders the whole page.
pub fn render(page: &Page<'_>) -> String {
    let q = match page {
        Page::Empty => "",
        Page::Results { q, .. } | Page::Error { q, .. } => q,
    };
    let mut html = String::with_capacity(8 * 1024);
    html.push_str("<!doctype html><html lang=en><head><meta charset=utf-8>");
    html.push_str("<meta name=viewport content=\"width=device-width,initial-scale=1\">");
    if q.is_empty() {
        html.push_str("<title>Quarry search</title>");
    } else {
        html.push_str(&format!(
            "<title>{} — Quarry search</title>",
            escape_html(q)
        ));
    }
    html.push_str(&format!("<style>{STYLE}</style></head><body>"));
    html.push_str("<h1><a href=\"/\" style=\"color:inherit;text-decoration:none\">Quarry</a></h1>");
    html.push_str(&format!(
        "<form action=\"/\" method=get role=search><input type=search name=q value=\"{}\" \
         aria-label=\"Search\" list=suggestions autocomplete=off autofocus>\
         <datalist id=suggestions></datalist><button type=submit>Search</button></form>",
        escape_html(q)
    ));
    match page {
        Page::Empty => {}
        Page::Error { error, .. } => {
            html.push_str(&format!(
                "<p class=error>{} <span class=meta>({})</span></p>",
                escape_html(error.message()),
                error.code().as_str()
            ));
        }
        Page::Results { q, response } => {
            html.push_str(&format!(
                "<p class=meta>{}{} result{} · {:.1} ms · {} read from the index</p>",
                if response.total_relation == "gte" {
                    "at least "
                } else {
                    ""
                },
                response.total,
                if response.total == 1 { "" } else { "s" },
                response.took_ms,
                human_bytes(response.index_bytes_read)
            ));
            if response.partial {
                html.push_str(
                    "<p class=dym>Part of the index did not answer: these results may be \
                     incomplete.</p>",
                );
            }
            if let Some(corrected) = &response.did_you_mean {
                html.push_str(&format!(
                    "<p class=dym>Did you mean <a href=\"/?q={}\">{}</a>?</p>",
                    encode_component(corrected),
                    escape_html(corrected)
                ));
            }
            if response.hits.is_empty() {
                html.push_str("<p>No pages match all of these words.</p>");
            }
            for hit in &response.hits {
                let fetched = hit
                    .fetched_at
                    .as_deref()
                    .and_then(|time| time.get(..10))
                    .map(|date| format!(" · fetched {}", escape_html(date)))
                    .unwrap_or_default();
                html.push_str(&format!(
                    "<div class=hit><a class=title href=\"{href}\">{title}</a>\
                     <div class=url>{url}<span class=meta>{fetched}</span></div>\
                     <p class=snippet>{snippet}</p>",
                    href = safe_href(&hit.url),
                    url = escape_html(&hit.url),
                    title = escape_html(&hit.title),
                    snippet = hit.snippet,
                ));
                if let Some(more) = &hit.more_from_host {
                    html.push_str(&format!(
                        "<a class=more href=\"/?q={}\">More from {}</a>",
                        encode_component(more),
                        escape_html(&hit.host)
                    ));
                }
                html.push_str("</div>");
            }
            if let Some(cursor) = &response.next_cursor {
                html.push_str(&format!(
                    "<a class=next href=\"/?q={}&amp;cursor={}\">Next page →</a>",
                    encode_component(q),
                    encode_component(cursor)
                ));
            }
        }
    }
    html.push_str(&format!("<script>{AUTOCOMPLETE}</script></body></html>"));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_encoded() {
        assert_eq!(encode_component("a b&c=\"d\"é"), "a+b%26c%3D%22d%22%C3%A9");
    }

    #[test]
    fn hostile_titles_and_urls_never_reach_the_page_raw() {
        let hit = |url: &str, title: &str| crate::Hit {
            url: url.to_string(),
            title: title.to_string(),
            snippet: "plain &amp; <mark>safe</mark>".to_string(),
            score: 1.0,
            host: "h.test".to_string(),
            fetched_at: Some("2026-11-25T10:00:00Z".to_string()),
            more_from_host: Some("site:h.test x".to_string()),
            explain: None,
        };
        let response = SearchResponse {
            query: "x".to_string(),
            total: 2,
            total_relation: "eq".to_string(),
            took_ms: 1.0,
            hits: vec![
                hit("javascript:alert(1)", "<img src=x onerror=alert(1)>"),
                hit("http://h.test/\"><script>x</script>", "ok"),
            ],
            next_cursor: None,
            generation: "gen-000001".to_string(),
            index_bytes_read: 10,
            did_you_mean: Some("<b>x</b>".to_string()),
            partial: false,
        };
        let html = render(&Page::results("x", &response));
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("<b>x</b>"), "{html}");
        assert!(
            html.contains("Did you mean <a href=\"/?q=%3Cb%3Ex%3C%2Fb%3E\">"),
            "{html}"
        );
        assert!(html.contains("More from h.test"), "{html}");
        assert!(html.contains("fetched 2026-11-25"), "{html}");
    }

    #[test]
    fn the_query_is_escaped_in_the_page() {
        let html = render(&Page::Error {
            q: "<script>alert(1)</script>",
            error: &ApiError::overloaded(),
        });
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
