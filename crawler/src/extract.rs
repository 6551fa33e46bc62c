//! Link extraction from fetched HTML: what the crawler follows next.

use quarry_pagestore::nesting::cap_nesting;
use scraper::{Html, Selector};
use url::Url;

use crate::canonical::{CanonicalUrl, UrlPolicy};

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
    /// The first `<link rel=canonical href>`, resolved and canonicalised.
    pub canonical: Option<CanonicalUrl>,
}

/// Robots directives for one page, from `<meta name=robots>` or `X-Robots-Tag`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// Do not index the page.
    pub noindex: bool,
    /// Do not follow its links.
    pub nofollow: bool,
}

impl Directives {
    /// Adds the directives of a comma- or space-separated list (`noindex, nofollow`,
    /// `none`); unknown ones are ignored.
    pub fn add(&mut self, list: &str) {
        for directive in list.split([',', ' ']).map(str::trim) {
            if directive.eq_ignore_ascii_case("noindex") {
                self.noindex = true;
            } else if directive.eq_ignore_ascii_case("nofollow") {
                self.nofollow = true;
            } else if directive.eq_ignore_ascii_case("none") {
                self.noindex = true;
                self.nofollow = true;
            }
        }
    }
}

/// Most links taken from one page; the rest are ignored (link farms, generated traps).
pub const MAX_LINKS_PER_PAGE: usize = 5_000;

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// The directives of `X-Robots-Tag` headers addressed to every robot or to `robot_name`
/// (`X-Robots-Tag: QuarryBot: noindex`); those for other robots are ignored.
pub fn x_robots_tag<'a>(
    headers: impl IntoIterator<Item = &'a (String, String)>,
    robot_name: &str,
) -> Directives {
    let mut directives = Directives::default();
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("x-robots-tag") {
            continue;
        }
        let mut list = value.as_str();
        if let Some((agent, rest)) = value.split_once(':') {
            let agent = agent.trim();
            // `unavailable_after: <date>` has a colon too, but its name is a directive.
            if !agent.contains([',', ' ']) && !agent.eq_ignore_ascii_case("unavailable_after") {
                if !agent.eq_ignore_ascii_case(robot_name) && agent != "*" {
                    continue;
                }
                list = rest;
            }
        }
        directives.add(list);
    }
    directives
}

/// Extracts the links of `html` fetched from `page_url`, canonicalised by `policy`.
/// `<base href>` is honoured; `<meta name=robots>` and `<meta name=ROBOT_NAME>` directives
/// are read. Never panics on any input.
pub fn extract_links(
    html: &str,
    page_url: &Url,
    robot_name: &str,
    policy: &UrlPolicy,
) -> PageLinks {
    let document = Html::parse_document(&cap_nesting(html));
    let mut out = PageLinks::default();

    if let Some(meta) = selector("meta[name]") {
        for element in document.select(&meta) {
            let name = element.value().attr("name").unwrap_or("");
            if !(name.eq_ignore_ascii_case("robots") || name.eq_ignore_ascii_case(robot_name)) {
                continue;
            }
            let mut directives = Directives::default();
            directives.add(element.value().attr("content").unwrap_or(""));
            out.meta_noindex |= directives.noindex;
            out.meta_nofollow |= directives.nofollow;
        }
    }

    let base = selector("base[href]")
        .and_then(|s| document.select(&s).next())
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .unwrap_or_else(|| page_url.clone());

    out.canonical = selector("link[rel][href]").and_then(|s| {
        document
            .select(&s)
            .find(|link| {
                link.value().attr("rel").is_some_and(|rel| {
                    rel.split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("canonical"))
                })
            })
            .and_then(|link| link.value().attr("href"))
            .and_then(|href| policy.resolve(&base, href))
    });

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
        if let Some(url) = policy.resolve(&base, href)
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
            "QuarryBot",
            &UrlPolicy::default(),
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
            "QuarryBot",
            &UrlPolicy::default(),
        );
        assert_eq!(urls(&links), vec!["http://example.com/x/y"]);

        let links = extract_links(
            r#"<meta name="robots" content="NOINDEX, nofollow"><a href="/z">z</a>"#,
            &page,
            "QuarryBot",
            &UrlPolicy::default(),
        );
        assert!(links.meta_noindex && links.meta_nofollow);
        assert!(links.follow.is_empty());
    }

    #[test]
    fn reads_the_first_canonical_link() {
        let page = Url::parse("http://example.com/a/b?session=1").unwrap();
        let links = extract_links(
            r#"<link rel="stylesheet" href="s.css"><link rel="Canonical" href="/a/b#top">
               <link rel="canonical" href="/other">"#,
            &page,
            "QuarryBot",
            &UrlPolicy::default(),
        );
        assert_eq!(
            links.canonical.as_ref().map(CanonicalUrl::as_str),
            Some("http://example.com/a/b")
        );
        let none = extract_links(
            "<link rel=canonical>",
            &page,
            "QuarryBot",
            &UrlPolicy::default(),
        );
        assert_eq!(none.canonical, None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const LINK_SOUP: &str = "(<a href=\"[a-zA-Z0-9:/?#.%@ -]{0,30}\"( rel=nofollow)?>x</a>|<base href=\"[a-z:/.]{0,20}\">|<meta name=robots content=\"[a-z, ]{0,12}\">|<(div|p|a)>|[a-z ]{0,5}){0,20}";

    /// Every link extraction follows is a canonical http(s) URL without fragment.
    fn check_links(html: &str) -> Result<(), TestCaseError> {
        let base = Url::parse("http://example.com/dir/page").unwrap();
        let links = extract_links(html, &base, "QuarryBot", &UrlPolicy::default());
        for url in &links.follow {
            prop_assert!(matches!(url.as_url().scheme(), "http" | "https"));
            prop_assert!(url.as_url().fragment().is_none());
            let again = CanonicalUrl::parse(url.as_str());
            prop_assert_eq!(again.as_ref(), Some(url));
        }
        Ok(())
    }

    proptest! {
        // 100,000 cases each in CI (issue: fuzz HTML extraction); `long_` runs a million.
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn links_are_always_canonical_http(html in LINK_SOUP) {
            check_links(&html)?;
        }

        #[test]
        fn any_text_extracts_without_panic(html in "\\PC{0,300}") {
            check_links(&html)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000_000))]

        /// The long run: `cargo test -p quarry-crawler --lib long_ -- --ignored`.
        #[test]
        #[ignore = "long fuzz run (a million cases)"]
        fn long_links_are_always_canonical_http(html in LINK_SOUP) {
            check_links(&html)?;
        }
    }
}

#[cfg(test)]
mod directive_tests {
    use super::*;

    fn headers(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| ("X-Robots-Tag".to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn x_robots_tag_for_us_or_everyone() {
        let d = x_robots_tag(&headers(&["noindex, NoFollow"]), "QuarryBot");
        assert_eq!(
            d,
            Directives {
                noindex: true,
                nofollow: true
            }
        );
        let d = x_robots_tag(
            &headers(&["otherbot: noindex", "quarrybot: nofollow"]),
            "QuarryBot",
        );
        assert_eq!(
            d,
            Directives {
                noindex: false,
                nofollow: true
            }
        );
        let d = x_robots_tag(
            &headers(&["unavailable_after: 25 Jun 2010 15:00:00 PST"]),
            "QuarryBot",
        );
        assert_eq!(d, Directives::default());
        assert_eq!(
            x_robots_tag(&headers(&["none"]), "QuarryBot"),
            Directives {
                noindex: true,
                nofollow: true
            }
        );
    }
}
