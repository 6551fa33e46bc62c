//! The search page rendered by a real browser: headless Chromium (Debian's `chromium`)
//! loads `/?q=…` from `quarry serve`, the rendered DOM has the results, and a phone-width
//! screenshot is produced. CI installs Chromium and sets `QUARRY_REQUIRE_CHROMIUM=1`;
//! elsewhere the test skips with a message when there is no Chromium.
//! `QUARRY_UPDATE_SCREENSHOT=1` copies the screenshot to `docs/search-page.png`.

use std::path::{Path, PathBuf};
use std::process::Command;

use quarry_tests::binary::{run_quarry, start_serve};
use quarry_tests::fixture::{FixtureOptions, FixtureSite};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .map(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .find(|path| path.is_file())
}

/// Runs headless Chromium on `url` with `extra` arguments (at most 90 s).
fn run_chromium(browser: &Path, profile: &Path, url: &str, extra: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("90")
        .arg(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_search_page_renders_results_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("QUARRY_REQUIRE_CHROMIUM").is_none(),
            "QUARRY_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!("skipping: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, format!("{}\n", site.url("/"))).unwrap();
    let crawl = run_quarry(&[
        "crawl",
        "--seeds",
        seeds.to_str().unwrap(),
        "--data",
        data,
        "--delay-ms",
        "0",
        "--allow-private-addresses",
    ]);
    assert!(crawl.status.success());
    assert!(
        run_quarry(&["index", "rebuild", "--data", data])
            .status
            .success()
    );

    let (_server, base) = start_serve(&["--data", data]);

    let profile = dir.path().join("chromium-profile");
    let url = format!("{base}/?q=coral+reef");
    let dom = run_chromium(&browser, &profile, &url, &["--dump-dom"]);
    assert!(dom.contains("class=\"hit\""), "no results rendered: {dom}");
    assert!(
        dom.contains(&site.url("/topics/coral-reefs.html")),
        "the coral page is a result: {dom}"
    );
    assert!(dom.contains("<mark>"), "matches are highlighted: {dom}");
    assert!(dom.contains("results"), "{dom}");
    assert!(dom.contains("<datalist id=\"suggestions\">"), "{dom}");

    let shot = dir.path().join("search-page.png");
    run_chromium(
        &browser,
        &profile,
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=412,915",
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 5_000, "a real page, {} bytes", png.len());
    if std::env::var_os("QUARRY_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/search-page.png");
        std::fs::copy(&shot, &docs).expect("copy screenshot to docs/");
    }
}
