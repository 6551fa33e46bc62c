//! The `quarry` binary: the CLI contract, exit codes, and serving over a real socket.

use std::process::{Command, Stdio};
use std::time::Duration;

use quarry_tests::binary::{run_quarry, start_serve};
use quarry_tests::fixture::{FixtureOptions, FixtureSite, expected_pages};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn crawl_index_search_and_serve_through_the_binary() {
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(
        &seeds,
        format!("# fixture\n\n{}\nnot-a-url\n", site.url("/")),
    )
    .unwrap();

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
    assert!(crawl.status.success(), "{}", stderr(&crawl));
    assert!(
        stderr(&crawl).contains("seeds.txt:4: not an absolute http(s) URL"),
        "{}",
        stderr(&crawl)
    );
    assert!(
        stdout(&crawl).contains(&format!("stored {} pages", expected_pages().len())),
        "{}",
        stdout(&crawl)
    );
    // One row per outcome: the fixture has one page of each special kind.
    let row = |name: &str| -> u64 {
        stdout(&crawl)
            .lines()
            .find_map(|line| {
                let rest = line.trim_start().strip_prefix(name)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("no row {name}: {}", stdout(&crawl)))
    };
    assert_eq!(row("robots-denied"), 1);
    assert_eq!(row("noindex"), 1);
    assert_eq!(row("not-html"), 1);
    assert_eq!(row("http-error"), 1);
    assert_eq!(row("out-of-scope"), 0);

    // Run again: nothing left to do; the summary as JSON for scripts.
    let again = run_quarry(&[
        "crawl",
        "--seeds",
        seeds.to_str().unwrap(),
        "--data",
        data,
        "--allow-private-addresses",
        "--json",
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["stored"], 0);
    assert_eq!(summary["queued"], 0);

    let rebuild = run_quarry(&["index", "rebuild", "--data", data]);
    assert!(rebuild.status.success(), "{}", stderr(&rebuild));
    assert!(stdout(&rebuild).contains(&format!("{} documents", expected_pages().len())));

    let stats = run_quarry(&["index", "stats", "--data", data, "--json"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["documents"], expected_pages().len());
    assert!(stats["index_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["hosts"], 1);
    let docstore = stats["docstore_bytes"].as_u64().unwrap();
    assert!(docstore > 0 && docstore < stats["index_bytes"].as_u64().unwrap());
    assert!(stats["bytes_per_document"].as_f64().unwrap() > 0.0);
    assert!(stats["page_store_bytes"].as_u64().unwrap() > 0);

    let search = run_quarry(&[
        "search", "--data", data, "--json", "--limit", "3", "coral", "reef",
    ]);
    assert!(search.status.success(), "{}", stderr(&search));
    let cli: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert_eq!(cli["hits"][0]["url"], site.url("/topics/coral-reefs.html"));

    // serve on an ephemeral port; the first stdout line names the address.
    let (server, base) = start_serve(&["--data", data]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let get = |path: String| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move {
                let response = client.get(url).send().await.unwrap();
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                (status, body)
            }
        };
        let (status, body) = get("/search?q=coral+reef&limit=3".into()).await;
        assert_eq!(status, 200, "{body}");
        let api: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(api["hits"], cli["hits"], "CLI and API agree");

        for (path, code) in [
            ("/search".to_string(), "bad_request"),
            ("/search?q=".to_string(), "bad_request"),
            ("/search?q=%20%20".to_string(), "bad_request"),
            (format!("/search?q={}", "a".repeat(1001)), "bad_request"),
            ("/search?q=x&limit=0".to_string(), "bad_request"),
            ("/search?q=x&limit=101".to_string(), "bad_request"),
            ("/search?q=x&limit=ten".to_string(), "bad_request"),
            ("/search?q=x&cursor=garbage".to_string(), "bad_request"),
            ("/search?q=%FF".to_string(), "bad_request"),
        ] {
            let (status, body) = get(path.clone()).await;
            assert_eq!(status, 400, "{path}: {body}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["error"]["code"], code, "{path}: {body}");
            assert!(error["error"]["message"].is_string());
        }
        let (status, body) = get("/no/such/thing".into()).await;
        assert_eq!(status, 404);
        assert!(body.contains("not_found"));

        let (status, page) = get("/?q=coral".into()).await;
        assert_eq!(status, 200);
        assert!(page.contains("<form") && page.contains("Coral reefs"));
        let (status, _) = get("/healthz".into()).await;
        assert_eq!(status, 200);
    });
    drop(server);
}

#[test]
fn exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    // Usage errors: 2.
    assert_eq!(run_quarry(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(
        run_quarry(&["crawl", "--data", data]).status.code(),
        Some(2)
    );
    let missing = run_quarry(&["crawl", "--seeds", "/nonexistent/seeds.txt", "--data", data]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("error: cannot read seeds file"),
        "{}",
        stderr(&missing)
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nothing\n").unwrap();
    let no_seeds = run_quarry(&["crawl", "--seeds", empty.to_str().unwrap(), "--data", data]);
    assert_eq!(no_seeds.status.code(), Some(2), "{}", stderr(&no_seeds));
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[crawl]\nmax_pagez = 1\n").unwrap();
    let bad_config = run_quarry(&[
        "index",
        "stats",
        "--data",
        data,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(bad_config.status.code(), Some(2));
    assert!(
        stderr(&bad_config).contains("max_pagez"),
        "{}",
        stderr(&bad_config)
    );
    assert_eq!(
        run_quarry(&["serve", "--data", data, "--listen", "nowhere"])
            .status
            .code(),
        Some(2)
    );

    // Runtime failures: 1, one line on stderr.
    let no_index = run_quarry(&["search", "--data", data, "anything"]);
    assert_eq!(no_index.status.code(), Some(1));
    assert_eq!(
        stderr(&no_index).trim().lines().count(),
        1,
        "{}",
        stderr(&no_index)
    );
    assert!(
        stderr(&no_index).contains("quarry index rebuild"),
        "{}",
        stderr(&no_index)
    );
    assert_eq!(
        run_quarry(&["index", "rebuild", "--data", data])
            .status
            .code(),
        Some(1)
    );

    // A corrupt data directory: garbage in `CURRENT`, and a "directory" that is a file.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(corrupt.join("index")).unwrap();
    std::fs::write(corrupt.join("index").join("CURRENT"), "not a generation\n").unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    for args in [
        vec!["search", "--data", corrupt.to_str().unwrap(), "anything"],
        vec!["index", "stats", "--data", corrupt.to_str().unwrap()],
        vec!["index", "stats", "--data", file.to_str().unwrap()],
        vec!["search", "--data", file.to_str().unwrap(), "anything"],
    ] {
        let out = run_quarry(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }

    // Help is not an error.
    assert_eq!(run_quarry(&["--help"]).status.code(), Some(0));
}

#[test]
fn wget_warc_files_import_and_become_searchable() {
    let wget_present = Command::new("wget")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !wget_present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install wget (see .ci/run)"
        );
        eprintln!("skipping: wget not installed");
        return;
    }
    let site = FixtureSite::start(FixtureOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let warc = dir.path().join("mirror");
    let status = Command::new("wget")
        .args([
            "--recursive",
            "--level=1",
            "--no-verbose",
            "--tries=2",
            "--no-proxy",
        ])
        .arg(format!("--warc-file={}", warc.display()))
        .arg("--directory-prefix")
        .arg(dir.path().join("files"))
        .arg(site.url("/"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // wget exits 8 because of the fixture's 404; the WARC is what matters.
    assert!(
        status.code().is_some_and(|code| code == 0 || code == 8),
        "{status:?}"
    );
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let warc_file = format!("{}.warc.gz", warc.display());

    let import = run_quarry(&["import", "--data", data, &warc_file]);
    assert!(import.status.success(), "{}", stderr(&import));
    assert!(
        stdout(&import).starts_with("imported "),
        "{}",
        stdout(&import)
    );
    let rebuild = run_quarry(&["index", "rebuild", "--data", data]);
    assert!(rebuild.status.success(), "{}", stderr(&rebuild));
    let search = run_quarry(&["search", "--data", data, "--json", "volcano", "lava"]);
    let json: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert_eq!(json["hits"][0]["url"], site.url("/topics/volcanoes.html"));
    // wget obeyed robots.txt as well: the private page is in neither store nor index.
    let secret = run_quarry(&[
        "search",
        "--data",
        data,
        "--json",
        quarry_tests::fixture::SECRET_WORD,
    ]);
    let json: serde_json::Value = serde_json::from_slice(&secret.stdout).unwrap();
    assert_eq!(json["total"], 0);

    let missing = run_quarry(&["import", "--data", data, "/nonexistent.warc.gz"]);
    assert_eq!(missing.status.code(), Some(2));
}
