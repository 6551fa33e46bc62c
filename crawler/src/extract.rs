//! Link extraction from fetched HTML: what the crawler follows next.

use scraper::{Html, Selector};
use url::Url;

use crate::canonical::CanonicalUrl;

/// The links and crawl directives of one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLinks {
    /// Canonical, crawlable (http/https) link targets in document order, without
    /// duplicates and without links marked `rel=nofollow`.
    pub follow: Vec<CanonicalUrl>,
    /// Links marked `rel=nofollow` (recorded, not followed).
    pub nofollow: usize,
    /// `<meta name=robots content=nofollow>` (or `none`): no link of the page is followed.
    pub meta_nofollow: bool,
    /// `<meta name=robots content=noindex>` (or `none`).
    pub meta_noindex: bool,
}

/// Most links taken from one page; the rest are ignored (link farms, generated traps).
pub const MAX_LINKS_PER_PAGE: usize = 5_000;

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// Extracts the links of `html` fetched from `page_url`. `<base href>` is honoured.
/// Never panics on any input.
pub fn extract_links(html: &str, page_url: &Url) -> PageLinks {
    let document = Html::parse_document(html);
    let mut out = PageLinks::default();

    if let Some(meta) = selector("meta[name]") {
        for element in document.select(&meta) {
            let name = element.value().attr("name").unwrap_or("");
            if !(name.eq_ignore_ascii_case("robots") || name.eq_ignore_ascii_case("quarrybot")) {
                continue;
            }
            let content = element
                .value()
                .attr("content")
                .unwrap_or("")
                .to_ascii_lowercase();
            for directive in content.split([',', ' ']).map(str::trim) {
                match directive {
                    "nofollow" => out.meta_nofollow = true,
                    "noindex" => out.meta_noindex = true,
                    "none" => {
                        out.meta_nofollow = true;
                        out.meta_noindex = true;
                    }
                    _ => {}
                }
            }
        }
    }

    let base = selector("base[href]")
        .and_then(|s| document.select(&s).next())
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .unwrap_or_else(|| page_url.clone());

    let Some(anchors) = selector("a[href], area[href]") else {
        return out;
    };
    let mut seen = std::collections::HashSet::new();
    for element in document.select(&anchors) {
        if out.follow.len() >= MAX_LINKS_PER_PAGE {
            break;
        }
        let Some(href) = element.value().attr("href") else {
            continue;
        };
        let nofollow = element.value().attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("nofollow"))
        });
        if nofollow {
            out.nofollow += 1;
            continue;
        }
        if let Some(url) = CanonicalUrl::resolve(&base, href)
            && seen.insert(url.clone())
        {
            out.follow.push(url);
        }
    }
    if out.meta_nofollow {
        out.follow.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(links: &PageLinks) -> Vec<&str> {
        links.follow.iter().map(CanonicalUrl::as_str).collect()
    }

    #[test]
    fn resolves_canonicalises_and_dedupes() {
        let page = Url::parse("http://example.com/dir/page.html").unwrap();
        let links = extract_links(
            r#"<a href="other.html#x">a</a><a href="/top">b</a><a href="other.html">dup</a>
               <a href="mailto:x@y.z">m</a><a href="HTTP://EXAMPLE.com:80/c">c</a>
               <a href="/skip" rel="nofollow">n</a><area href="map.html">"#,
            &page,
        );
        assert_eq!(
            urls(&links),
            vec![
                "http://example.com/dir/other.html",
                "http://example.com/top",
                "http://example.com/c",
                "http://example.com/dir/map.html",
            ]
        );
        assert_eq!(links.nofollow, 1);
    }

    #[test]
    fn honours_base_href_and_meta_robots() {
        let page = Url::parse("http://example.com/a/b").unwrap();
        let links = extract_links(
            r#"<base href="http://example.com/x/"><a href="y">y</a>"#,
            &page,
        );
        assert_eq!(urls(&links), vec!["http://example.com/x/y"]);

        let links = extract_links(
            r#"<meta name="robots" content="NOINDEX, nofollow"><a href="/z">z</a>"#,
            &page,
        );
        assert!(links.meta_noindex && links.meta_nofollow);
        assert!(links.follow.is_empty());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn links_are_always_canonical_http(html in "(<a href=\"[a-zA-Z0-9:/?#.%@ -]{0,30}\"( rel=nofollow)?>x</a>|<base href=\"[a-z:/.]{0,20}\">|[a-z ]{0,5}){0,20}") {
            let base = Url::parse("http://example.com/dir/page").unwrap();
            let links = extract_links(&html, &base);
            for url in &links.follow {
                prop_assert!(matches!(url.as_url().scheme(), "http" | "https"));
                prop_assert!(url.as_url().fragment().is_none());
                let again = CanonicalUrl::parse(url.as_str());
                prop_assert_eq!(again.as_ref(), Some(url));
            }
        }
    }
}
