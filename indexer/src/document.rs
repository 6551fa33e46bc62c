//! Text extraction: from an HTML page to the title, headings and visible body text that
//! are indexed.
//!
//! Boilerplate that is structurally marked as such (`script`, `style`, `nav`, `footer`,
//! hidden elements, …) stays out of the body. Block-level elements separate words, so
//! `<p>one</p><p>two</p>` never becomes `onetwo`.

use url::Url;

use crate::html::{self, Sink, StartTag};

/// The body text is cut at this many characters: beyond it a page is almost certainly
/// generated junk, and the index should not grow without bound on one document.
pub const MAX_BODY_CHARS: usize = 500_000;

/// What the indexer keeps of one HTML page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedPage {
    /// The `<title>`, else the first `h1`, whitespace-collapsed; may be empty.
    pub title: String,
    /// The text of `h1`–`h3` elements, one heading per line.
    pub headings: String,
    /// The visible body text, whitespace-collapsed, at most [`MAX_BODY_CHARS`] characters;
    /// block-level elements (paragraphs, list items, table cells, …) end with a `\n`.
    pub body: String,
}

/// Links taken from one page at most (the rest are ignored: link farms).
pub const MAX_LINKS: usize = 2_000;
/// Anchor text kept per link, in bytes.
const MAX_ANCHOR_BYTES: usize = 200;

/// A link of a page: its resolved target (fragment dropped) and its anchor text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// The absolute target URL, without fragment.
    pub target: String,
    /// The link's text (or its image's `alt`), whitespace-collapsed; may be empty.
    pub text: String,
}

/// Everything the indexer takes from one HTML page in one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedDocument {
    /// Title, headings and body text.
    pub page: ExtractedPage,
    /// Its http(s) links, `rel=nofollow` ones excluded.
    pub links: Vec<Link>,
    /// The `lang` attribute of `<html>`, lower-cased primary subtag (`en` of `en-US`).
    pub lang: Option<String>,
}

/// Elements whose whole subtree is never indexed as body text.
fn is_skipped(name: &str) -> bool {
    matches!(
        name,
        "head"
            | "script"
            | "style"
            | "noscript"
            | "template"
            | "nav"
            | "footer"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "select"
            | "button"
            | "canvas"
            | "audio"
            | "video"
    )
}

/// Elements that separate words.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "br"
            | "dd"
            | "details"
            | "dialog"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hr"
            | "li"
            | "main"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "td"
            | "th"
            | "tr"
            | "ul"
            | "option"
            | "caption"
            | "tbody"
            | "thead"
            | "tfoot"
            | "img"
            | "input"
            | "label"
    )
}

/// Whether a response with this `Content-Type` (and body) is an HTML page. Without a
/// content type, the first bytes are sniffed for an HTML start.
pub fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type {
        Some(value) => {
            let mime = value.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("text/html")
                || mime.eq_ignore_ascii_case("application/xhtml+xml")
        }
        None => {
            let head = &body[..body.len().min(512)];
            let head = String::from_utf8_lossy(head).to_ascii_lowercase();
            let head = head.trim_start_matches('\u{feff}').trim_start();
            head.starts_with("<!doctype html") || head.starts_with("<html")
        }
    }
}

fn is_hidden(tag: &StartTag<'_>) -> bool {
    tag.attr("hidden").is_some()
        || tag
            .attr("aria-hidden")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || tag
            .attr("role")
            .is_some_and(|v| v.eq_ignore_ascii_case("navigation"))
}

/// Appends `text` to `out` with runs of whitespace collapsed to one space.
fn push_collapsed(out: &mut String, text: &str, limit: usize) {
    for word in text.split_whitespace() {
        if out.len() >= limit {
            return;
        }
        if !out.is_empty() && !out.ends_with(' ') && !out.ends_with('\n') {
            out.push(' ');
        }
        out.push_str(word);
    }
    // Keep the separation that trailing whitespace implied for the next text node.
    if text.ends_with(char::is_whitespace)
        && !out.is_empty()
        && !out.ends_with(' ')
        && !out.ends_with('\n')
    {
        out.push(' ');
    }
}

/// Ends the current block of the body: blocks are separated by one `\n` (the indexer
/// removes blocks repeated across a host's pages; see `boilerplate`).
fn end_block(body: &mut String) {
    while body.ends_with(' ') {
        body.pop();
    }
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
}

fn cut_at_char_boundary(text: &mut String, max_chars: usize) {
    if let Some((index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(index);
    }
}

/// Extracts title, headings and body text from an HTML document. Never panics: any input
/// is parsed the way a browser would.
pub fn extract_page(html: &str) -> ExtractedPage {
    extract(html, None).page
}

/// Extracts text, links (resolved against `url` and `<base href>`) and the declared
/// language of a page fetched from `url`, parsing it once. Never panics.
pub fn extract_document(html: &str, url: &Url) -> ExtractedDocument {
    extract(html, Some(url))
}

fn resolve_link(base: &Url, href: &str) -> Option<String> {
    let mut target = base.join(href.trim()).ok()?;
    if !matches!(target.scheme(), "http" | "https") {
        return None;
    }
    target.set_fragment(None);
    Some(target.to_string())
}

fn extract(html: &str, page_url: Option<&Url>) -> ExtractedDocument {
    let mut extractor = Extractor {
        base: page_url.cloned(),
        ..Extractor::default()
    };
    html::parse(html, &mut extractor);
    extractor.finish()
}

/// Text, links and language, gathered from the elements and text of a page in document
/// order.
#[derive(Default)]
struct Extractor {
    base: Option<Url>,
    lang: Option<String>,
    links: Vec<Link>,
    /// The link being read: its target and the text so far.
    open_link: Option<(String, String)>,
    link_depth: usize,
    title: String,
    first_h1: String,
    headings: String,
    body: String,
    /// Elements open inside a skipped one (or the skipped one itself).
    skip_depth: usize,
    title_depth: usize,
    heading_depth: usize,
    heading: String,
    h1_open: bool,
}

/// Byte budget for the body; characters are cut exactly at the end.
const BODY_LIMIT: usize = MAX_BODY_CHARS * 4;

impl Sink for Extractor {
    fn open(&mut self, name: &str, tag: &StartTag<'_>, foreign: bool) {
        if name == "title" && !foreign {
            self.title_depth += 1;
        }
        if name == "html" && self.lang.is_none() {
            self.lang = tag.attr("lang").and_then(|tag| primary_language(&tag));
        }
        if name == "base"
            && let (Some(current), Some(href)) = (&self.base, tag.attr("href"))
        {
            self.base = current.join(href.trim()).ok().or(self.base.clone());
        }
        if self.open_link.is_some() {
            if name == "a" {
                self.link_depth += 1;
            }
            if name == "img"
                && let (Some((_, text)), Some(alt)) = (&mut self.open_link, tag.attr("alt"))
            {
                push_collapsed(text, &alt, MAX_ANCHOR_BYTES);
            }
        } else if name == "a"
            && self.links.len() < MAX_LINKS
            && !tag.attr("rel").is_some_and(|rel| {
                rel.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("nofollow"))
            })
            && let (Some(current), Some(href)) = (&self.base, tag.attr("href"))
            && let Some(target) = resolve_link(current, &href)
        {
            self.open_link = Some((target, String::new()));
            self.link_depth = 1;
        }
        if self.skip_depth > 0 || is_skipped(name) || is_hidden(tag) {
            self.skip_depth += 1;
            return;
        }
        if matches!(name, "h1" | "h2" | "h3") {
            self.heading_depth += 1;
            self.h1_open = self.h1_open || name == "h1";
        }
        if is_block(name) {
            end_block(&mut self.body);
        }
    }

    fn close(&mut self, name: &str, foreign: bool) {
        if name == "title" && !foreign {
            self.title_depth = self.title_depth.saturating_sub(1);
        }
        if name == "a" && self.open_link.is_some() {
            self.link_depth = self.link_depth.saturating_sub(1);
            if self.link_depth == 0
                && let Some((target, text)) = self.open_link.take()
            {
                self.links.push(Link {
                    target,
                    text: text.trim().to_string(),
                });
            }
        }
        if self.skip_depth > 0 {
            self.skip_depth -= 1;
            return;
        }
        if matches!(name, "h1" | "h2" | "h3") {
            self.heading_depth = self.heading_depth.saturating_sub(1);
            if self.heading_depth == 0 {
                let text = self.heading.trim();
                if self.h1_open && self.first_h1.is_empty() {
                    self.first_h1 = text.to_string();
                }
                if !text.is_empty() && self.headings.len() < 64 * 1024 {
                    self.headings.push_str(text);
                    self.headings.push('\n');
                }
                self.heading.clear();
                self.h1_open = false;
            }
        }
        if is_block(name) {
            end_block(&mut self.body);
        }
    }

    fn text(&mut self, text: &str) {
        if self.title_depth > 0 && self.title.len() < 1024 {
            push_collapsed(&mut self.title, text, 1024);
        }
        if let Some((_, anchor)) = &mut self.open_link {
            push_collapsed(anchor, text, MAX_ANCHOR_BYTES);
        }
        if self.skip_depth == 0 {
            push_collapsed(&mut self.body, text, BODY_LIMIT);
            if self.heading_depth > 0 {
                push_collapsed(&mut self.heading, text, 4096);
            }
        }
    }
}

impl Extractor {
    fn finish(self) -> ExtractedDocument {
        let mut title = self.title.trim().to_string();
        if title.is_empty() {
            title = self.first_h1;
        }
        let mut body = self.body.trim().to_string();
        cut_at_char_boundary(&mut body, MAX_BODY_CHARS);
        ExtractedDocument {
            page: ExtractedPage {
                title,
                headings: self.headings.trim_end().to_string(),
                body,
            },
            links: self.links,
            lang: self.lang,
        }
    }
}

/// The primary subtag of a language tag, lower-cased (`en-US` → `en`), if it looks valid.
fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_title_headings_and_visible_text() {
        let page = extract_page(
            "<html><head><title> The  Title </title><style>p{}</style></head>\
             <body><nav><a href=/>Home</a></nav><h1>Main <em>heading</em></h1>\
             <p>First paragraph.</p><p>Second</p><script>var x = 1;</script>\
             <div hidden>secret</div><h2>Sub</h2><footer>Copyright</footer></body></html>",
        );
        assert_eq!(page.title, "The Title");
        assert_eq!(page.headings, "Main heading\nSub");
        assert_eq!(page.body, "Main heading\nFirst paragraph.\nSecond\nSub");
    }

    #[test]
    fn links_anchor_texts_and_language_in_one_parse() {
        let url = Url::parse("http://example.com/dir/page.html").unwrap();
        let doc = extract_document(
            "<html lang=en-GB><head><base href=\"/base/\"></head><body>\
             <a href=\"a.html#frag\">First <b>link</b></a>\
             <a href=\"http://other.test/\"><img alt=\"Other site\"></a>\
             <a href=\"/x\" rel=\"nofollow\">skip</a><a href=\"mailto:x@y\">mail</a>\
             <a href=\"/empty\"></a><p>After</p></body></html>",
            &url,
        );
        assert_eq!(doc.lang.as_deref(), Some("en"));
        let links: Vec<(&str, &str)> = doc
            .links
            .iter()
            .map(|l| (l.target.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(
            links,
            vec![
                ("http://example.com/base/a.html", "First link"),
                ("http://other.test/", "Other site"),
                ("http://example.com/empty", ""),
            ]
        );
        assert_eq!(doc.page.body, "First link\nskip mail\nAfter");
    }

    #[test]
    fn title_falls_back_to_first_h1() {
        let page = extract_page("<body><h2>Two</h2><h1>One</h1></body>");
        assert_eq!(page.title, "One");
    }

    #[test]
    fn block_elements_separate_words() {
        let page = extract_page("<p>one</p><p>two</p><ul><li>a</li><li>b</li></ul>x<br>y");
        assert_eq!(page.body.replace('\n', " "), "one two a b x y");
    }

    #[test]
    fn hostile_nesting_parses_quickly_and_keeps_its_words() {
        let page = format!(
            "<html><title>Abyss</title><body>{}abyssal plain{}</body></html>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let document = extract_page(&page);
        // 16 s before the nesting cap; the bound leaves room for a loaded debug build.
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        assert_eq!(document.title, "Abyss");
        assert!(document.body.contains("abyssal plain"), "{}", document.body);
    }

    #[test]
    fn body_is_capped_on_a_char_boundary() {
        let html = format!("<p>{}</p>", "é ".repeat(MAX_BODY_CHARS));
        let page = extract_page(&html);
        assert!(page.body.chars().count() <= MAX_BODY_CHARS);
    }

    #[test]
    fn html_detection() {
        assert!(is_html(Some("text/html; charset=utf-8"), b""));
        assert!(is_html(Some("Application/XHTML+XML"), b""));
        assert!(!is_html(Some("application/pdf"), b"<html>"));
        assert!(is_html(None, b"  <!DOCTYPE html><html>"));
        assert!(!is_html(None, b"%PDF-1.4"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const TAG_SOUP: &str = "(<(p|div|nav|h1|h2|title|script|br|table|td|li)( hidden)?>|</(p|div|nav|h1|h2|title|script|table|td|li)>|<!--|-->|&[a-z#0-9]{0,5};?|[a-z ]{0,6}){0,60}";

    fn check_extraction(html: &str) -> Result<(), TestCaseError> {
        let page = extract_page(html);
        prop_assert!(page.body.chars().count() <= MAX_BODY_CHARS);
        prop_assert!(!page.body.contains("  "));
        prop_assert!(!page.title.contains('\n'));
        Ok(())
    }

    proptest! {
        // 100,000 cases each in CI (issue: fuzz HTML extraction); `long_` runs a million.
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn extraction_never_panics(html in "\\PC{0,400}") {
            check_extraction(&html)?;
        }

        #[test]
        fn tag_soup_never_panics(html in TAG_SOUP) {
            check_extraction(&html)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        /// The long run: `cargo test -p quarry-indexer --lib long_ -- --ignored`.
        #[test]
        #[ignore = "long fuzz run (a million cases)"]
        fn long_tag_soup_never_panics(html in TAG_SOUP) {
            check_extraction(&html)?;
        }
    }
}
