//! Differential test of link extraction: `extract_links` runs html5ever's tokenizer only;
//! a DOM built by html5ever's tree builder (through scraper) with CSS selectors is the
//! reference. On real documentation pages — a spread of the Rust docs shipped with the
//! toolchain, and the PostgreSQL docs when `postgresql-doc-15` is installed — both must
//! find the same links in the same order, the same canonical URL, base and robots
//! directives.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quarry_crawler::UrlPolicy;
use quarry_crawler::extract::{Directives, PageLinks, extract_links};
use scraper::{Html, Selector};
use url::Url;

/// What the crawler extracted before it dropped the tree builder, kept as the reference.
fn reference(html: &str, page_url: &Url, robot_name: &str, policy: &UrlPolicy) -> PageLinks {
    let selector = |css: &str| Selector::parse(css).expect("selector");
    let document = Html::parse_document(html);
    let mut out = PageLinks::default();
    for element in document.select(&selector("meta[name]")) {
        let name = element.value().attr("name").unwrap_or("");
        if !(name.eq_ignore_ascii_case("robots") || name.eq_ignore_ascii_case(robot_name)) {
            continue;
        }
        let mut directives = Directives::default();
        directives.add(element.value().attr("content").unwrap_or(""));
        out.meta_noindex |= directives.noindex;
        out.meta_nofollow |= directives.nofollow;
    }
    let base = document
        .select(&selector("base[href]"))
        .next()
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .unwrap_or_else(|| page_url.clone());
    let rel_has = |element: &scraper::ElementRef, wanted: &str| {
        element.value().attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case(wanted))
        })
    };
    out.canonical = document
        .select(&selector("link[rel][href]"))
        .find(|link| rel_has(link, "canonical"))
        .and_then(|link| link.value().attr("href"))
        .and_then(|href| policy.resolve(&base, href));
    let mut seen = HashSet::new();
    for element in document.select(&selector("a[href], area[href]")) {
        if out.follow.len() >= quarry_crawler::extract::MAX_LINKS_PER_PAGE {
            break;
        }
        let href = element.value().attr("href").unwrap_or("");
        if rel_has(&element, "nofollow") {
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
/// compared and the links they hold.
fn compare(root: &Path, step: usize) -> (usize, usize) {
    let mut files = Vec::new();
    html_files(root, &mut files);
    files.sort();
    let policy = UrlPolicy::default();
    let mut compared = 0;
    let mut links = 0;
    for path in files.iter().step_by(step) {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let html = String::from_utf8_lossy(&bytes);
        let relative = path.strip_prefix(root).expect("under root");
        let url = Url::parse("http://docs.test/")
            .and_then(|base| base.join(&relative.to_string_lossy()))
            .expect("page URL");
        let expected = reference(&html, &url, "QuarryBot", &policy);
        let found = extract_links(&html, &url, "QuarryBot", &policy);
        assert_eq!(found, expected, "{}", path.display());
        compared += 1;
        links += found.follow.len();
    }
    (compared, links)
}

#[test]
fn tokenizer_extraction_equals_the_dom_on_the_rust_docs() {
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
    let (compared, links) = compare(&root, 40);
    assert!(compared > 500, "only {compared} pages compared");
    assert!(
        links > 5 * compared,
        "only {links} links on {compared} pages"
    );
}

#[test]
fn tokenizer_extraction_equals_the_dom_on_the_postgresql_docs() {
    let root = Path::new("/usr/share/doc/postgresql-doc-15/html");
    if !root.is_dir() {
        eprintln!(
            "skipped: {} is absent (apt-get install postgresql-doc-15)",
            root.display()
        );
        return;
    }
    let (compared, links) = compare(root, 1);
    assert!(compared > 1_000, "only {compared} pages compared");
    assert!(
        links > 10 * compared,
        "only {links} links on {compared} pages"
    );
}
