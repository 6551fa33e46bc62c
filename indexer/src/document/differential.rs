//! Differential test of text extraction: [`extract_document`] reads the page as a stream
//! (`crate::html`); the reference is the extraction the indexer did before, over the DOM
//! html5ever's tree builder makes (through scraper), with one fix: the `title` of an
//! inline `svg` is not the page's title. On real documentation pages (a spread of the Rust
//! docs shipped with the toolchain, and the PostgreSQL docs when `postgresql-doc-15` is
//! installed) both must give the same title, headings, body text, links with their anchor
//! text, and language.

use std::path::{Path, PathBuf};

use scraper::{Html, Node};

use super::*;

fn is_hidden_element(element: &scraper::node::Element) -> bool {
    element.attr("hidden").is_some()
        || element
            .attr("aria-hidden")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || element
            .attr("role")
            .is_some_and(|v| v.eq_ignore_ascii_case("navigation"))
}

fn is_html(element: &scraper::node::Element) -> bool {
    &*element.name.ns == "http://www.w3.org/1999/xhtml"
}

/// What the indexer extracted over the DOM, kept as the reference.
fn reference(html: &str, page_url: Option<&Url>) -> ExtractedDocument {
    let document = Html::parse_document(html);
    let mut base = page_url.cloned();
    let mut lang = None;
    let mut links: Vec<Link> = Vec::new();
    // The link being read: its target and the text so far.
    let mut open_link: Option<(String, String)> = None;
    let mut link_depth = 0usize;
    let mut title = String::new();
    let mut first_h1 = String::new();
    let mut headings = String::new();
    let mut body = String::new();
    // Byte budget for the body; characters are cut exactly at the end.
    let body_limit = MAX_BODY_CHARS * 4;

    let mut skip_depth = 0usize;
    let mut title_depth = 0usize;
    let mut heading_depth = 0usize;
    let mut heading = String::new();
    let mut h1_open = false;

    for edge in document.tree.root().traverse() {
        match edge {
            ego_tree::iter::Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if name == "title" && is_html(element) {
                        title_depth += 1;
                    }
                    if name == "html" && lang.is_none() {
                        lang = element.attr("lang").and_then(primary_language);
                    }
                    if name == "base"
                        && let (Some(current), Some(href)) = (&base, element.attr("href"))
                    {
                        base = current.join(href.trim()).ok().or(base.clone());
                    }
                    if open_link.is_some() {
                        if name == "a" {
                            link_depth += 1;
                        }
                        if name == "img"
                            && let (Some((_, text)), Some(alt)) =
                                (&mut open_link, element.attr("alt"))
                        {
                            push_collapsed(text, alt, MAX_ANCHOR_BYTES);
                        }
                    } else if name == "a"
                        && links.len() < MAX_LINKS
                        && !element.attr("rel").is_some_and(|rel| {
                            rel.split_ascii_whitespace()
                                .any(|r| r.eq_ignore_ascii_case("nofollow"))
                        })
                        && let (Some(current), Some(href)) = (&base, element.attr("href"))
                        && let Some(target) = resolve_link(current, href)
                    {
                        open_link = Some((target, String::new()));
                        link_depth = 1;
                    }
                    if skip_depth > 0 || is_skipped(name) || is_hidden_element(element) {
                        skip_depth += 1;
                        continue;
                    }
                    if matches!(name, "h1" | "h2" | "h3") {
                        heading_depth += 1;
                        h1_open = h1_open || name == "h1";
                    }
                    if is_block(name) {
                        end_block(&mut body);
                    }
                }
                Node::Text(text) => {
                    if title_depth > 0 && title.len() < 1024 {
                        push_collapsed(&mut title, text, 1024);
                    }
                    if let Some((_, anchor)) = &mut open_link {
                        push_collapsed(anchor, text, MAX_ANCHOR_BYTES);
                    }
                    if skip_depth == 0 {
                        push_collapsed(&mut body, text, body_limit);
                        if heading_depth > 0 {
                            push_collapsed(&mut heading, text, 4096);
                        }
                    }
                }
                _ => {}
            },
            ego_tree::iter::Edge::Close(node) => {
                if let Node::Element(element) = node.value() {
                    let name = element.name();
                    if name == "title" && is_html(element) {
                        title_depth = title_depth.saturating_sub(1);
                    }
                    if name == "a" && open_link.is_some() {
                        link_depth = link_depth.saturating_sub(1);
                        if link_depth == 0
                            && let Some((target, text)) = open_link.take()
                        {
                            links.push(Link {
                                target,
                                text: text.trim().to_string(),
                            });
                        }
                    }
                    if skip_depth > 0 {
                        skip_depth -= 1;
                        continue;
                    }
                    if matches!(name, "h1" | "h2" | "h3") {
                        heading_depth = heading_depth.saturating_sub(1);
                        if heading_depth == 0 {
                            let text = heading.trim();
                            if h1_open && first_h1.is_empty() {
                                first_h1 = text.to_string();
                            }
                            if !text.is_empty() && headings.len() < 64 * 1024 {
                                headings.push_str(text);
                                headings.push('\n');
                            }
                            heading.clear();
                            h1_open = false;
                        }
                    }
                    if is_block(name) {
                        end_block(&mut body);
                    }
                }
            }
        }
    }

    let mut title = title.trim().to_string();
    if title.is_empty() {
        title = first_h1;
    }
    let mut body = body.trim().to_string();
    cut_at_char_boundary(&mut body, MAX_BODY_CHARS);
    ExtractedDocument {
        page: ExtractedPage {
            title,
            headings: headings.trim_end().to_string(),
            body,
        },
        links,
        lang,
    }
}

/// Every `.html` file under `root`, sorted.
fn html_files(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "html") {
            out.push(path);
        }
    }
}

/// Compares both extractions on every `step`-th page under `root`; returns the pages
/// compared and the body bytes they hold.
fn compare(root: &Path, step: usize) -> (usize, usize) {
    let mut files = Vec::new();
    html_files(root, &mut files);
    files.sort();
    let mut compared = 0;
    let mut bytes = 0;
    for path in files.iter().step_by(step) {
        let Ok(raw) = std::fs::read(path) else {
            continue;
        };
        let html = String::from_utf8_lossy(&raw);
        let relative = path.strip_prefix(root).expect("under root");
        let url = Url::parse("http://docs.test/")
            .and_then(|base| base.join(&relative.to_string_lossy()))
            .expect("page URL");
        let expected = reference(&html, Some(&url));
        let found = extract_document(&html, &url);
        assert_eq!(found.page.title, expected.page.title, "{}", path.display());
        assert_eq!(
            found.page.headings,
            expected.page.headings,
            "{}",
            path.display()
        );
        assert_eq!(found.lang, expected.lang, "{}", path.display());
        assert_eq!(found.links, expected.links, "{}", path.display());
        assert_eq!(found.page.body, expected.page.body, "{}", path.display());
        compared += 1;
        bytes += found.page.body.len();
    }
    (compared, bytes)
}

#[test]
fn streaming_extraction_equals_the_dom_on_the_rust_docs() {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    let root =
        PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim()).join("share/doc/rust/html");
    if !root.is_dir() {
        eprintln!(
            "skipped: {} is absent (no rust-docs component)",
            root.display()
        );
        return;
    }
    // Every 40th of ~48k files: the std API pages, the books, the source pages.
    let (compared, bytes) = compare(&root, 40);
    assert!(compared > 500, "only {compared} pages compared");
    assert!(
        bytes > 1000 * compared,
        "only {bytes} bytes of text on {compared} pages"
    );
}

#[test]
fn streaming_extraction_equals_the_dom_on_the_postgresql_docs() {
    let root = Path::new("/usr/share/doc/postgresql-doc-15/html");
    if !root.is_dir() {
        eprintln!(
            "skipped: {} is absent (apt-get install postgresql-doc-15)",
            root.display()
        );
        return;
    }
    let (compared, _) = compare(root, 1);
    assert!(compared > 1000, "only {compared} pages compared");
}

/// Hand-written cases of the tree construction rules the stream reader follows.
#[test]
fn streaming_extraction_equals_the_dom_on_tricky_markup() {
    let url = Url::parse("http://example.test/dir/").unwrap();
    let mut failures = Vec::new();
    for html in [
        "<title>T</title><p>one<p>two<div>three</div>four",
        "<ul><li>a<li>b<ul><li>c</ul><li>d</ul>",
        "<dl><dt>term<dd>def<dt>t2</dl>",
        "<table><tr><td>a<td>b<tr><td>c</table>after",
        "<h1>one<h2>two</h2>three</h1>four",
        "<h1>x</h2>y",
        "<a href=a>first<a href=b>second</a>",
        "<p>x</p></p>y</br>z",
        "<span>a</span> <span>b</span>c<!-- note -->d",
        "a</span>b</div>c",
        "<nav>menu<p>inside</nav>out",
        "<div hidden>secret<p>still</div>shown",
        "<p hidden>gone<p>kept",
        "<head><title>T</title></head><meta name=x><body>text",
        "<html lang=de-AT><head><style>p{}</style><script>if (a < b) {}</script></head>x",
        "<title>A &amp; B &lt;c&gt;</title>&copy; &#169; &#xa9; &notit; &amp x &#0; &#x80;",
        "<a href=\"?a=1&copy=2\">q</a><a href='x&amp;y'>r</a>",
        "<svg><title>icon</title><path/></svg>after svg",
        "<svg/>x<math><mi>y</mi></math>z",
        "<noscript><p>no</p></noscript>yes",
        "<textarea>&lt;b&gt;</textarea><xmp><b>raw</b></xmp>",
        "<select><option>o1<option>o2</select>s",
        "<p>before<table><tr><td>cell</table>after</p>",
        "<button>b1<button>b2</button>",
        "<body><p>x</body>after body</html>after html",
        "<!DOCTYPE html><html><head></head><body>plain",
        "text before<html><body>in body",
        "<base href=/b/><a href=c>c</a>",
        "<a href=x><img alt=\"Pic\"> text</a>",
        "<plaintext><b>all</b> text",
        "<p>a<br>b<hr>c<img>d</p>",
        "<div><span>a<div>b</span>c</div>d",
        "<em><p>x</em>y</p>",
        "<ol><li>one<div><li>two</div></ol>",
        "<table><caption>cap</caption><thead><tr><th>h<tbody><tr><td>d</table>",
        "<DIV CLASS=x>Upper</DIV><P>case",
        "unterminated <a href=\"x",
        "<p>tag at end <",
        "<p>x<!-- unterminated comment",
        "<p>a</p><!--->b<!-->c",
        "<body>a</body><!-- after -->b</html><!-- end -->c",
        "<body>a</body>x<!-- in body -->y",
        "<svg><g><p>breaks out</p></g></svg>after",
        "<svg><g>in svg</p>out</g></svg>",
        "<math><mi>x<div>block</div></mi></math>",
        "<td>no table<tr>row</tr>text",
        "<body hidden>hidden page",
    ] {
        let expected = reference(html, Some(&url));
        let found = extract_document(html, &url);
        if found != expected {
            failures.push(format!(
                "{html}\n  found:    {found:?}\n  expected: {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
