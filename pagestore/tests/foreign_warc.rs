//! Reading WARC files written by other tools: a hand-built file with the shapes wget, Common
//! Crawl and warcio produce (chunked payloads, renamed encodings, skipped record types, both
//! request orders) in plain, multi-member and single-member gzip form, and real wget output
//! when wget is installed (served from 127.0.0.1 only).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use quarry_pagestore::{PageRecord, StoreError, read_warc_file};

/// One WARC record with the given version line, fields and block.
fn record(version: &str, fields: &[(&str, &str)], block: &[u8]) -> Vec<u8> {
    let mut out = format!("{version}\r\n").into_bytes();
    for (name, value) in fields {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", block.len()).as_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed unwrap is a failed test"
)]
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

const DATE: &str = "2024-01-02T03:04:05Z";

/// The records of the hand-built file, and the pages it must read as.
fn foreign_records() -> (Vec<Vec<u8>>, Vec<PageRecord>) {
    let v10 = "WARC/1.0";
    let when = UNIX_EPOCH + Duration::from_secs(1_704_164_645);
    let http_response = ("Content-Type", "application/http; msgtype=response");
    let http_request = ("Content-Type", "application/http; msgtype=request");
    let gzipped = gzip(b"zipped body");
    let mut gzip_block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
    gzip_block.extend_from_slice(&gzipped);
    let records =
        vec![
        record(
            v10,
            &[("WARC-Type", "warcinfo"), ("WARC-Record-ID", "<urn:uuid:info>")],
            b"software: Wget/1.21.3\r\n",
        ),
        // wget: the request first, the response pointing back at it.
        record(
            v10,
            &[
                ("WARC-Type", "request"),
                ("WARC-Record-ID", "<urn:uuid:req1>"),
                ("WARC-Target-URI", "<http://example.org/chunked>"),
                ("WARC-Date", DATE),
                http_request,
            ],
            b"GET /chunked HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Wget/1.21.3\r\n\r\n",
        ),
        record(
            v10,
            &[
                ("WARC-Type", "response"),
                ("WARC-Record-ID", "<urn:uuid:resp1>"),
                ("WARC-Concurrent-To", "<urn:uuid:req1>"),
                ("WARC-Target-URI", "<http://example.org/chunked>"),
                ("WARC-Date", "2024-01-02T03:04:05.250Z"),
                ("WARC-IP-Address", "192.0.2.7"),
                http_response,
            ],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n\
              7\r\nHello, \r\n7;ext=x\r\nchunked\r\n7\r\n world!\r\n0\r\n\r\n",
        ),
        record(
            v10,
            &[
                ("WARC-Type", "metadata"),
                ("WARC-Record-ID", "<urn:uuid:meta>"),
                ("WARC-Concurrent-To", "<urn:uuid:resp1>"),
                ("Content-Type", "application/warc-fields"),
            ],
            b"fetchTimeMs: 12\r\n",
        ),
        record(
            v10,
            &[
                ("WARC-Type", "response"),
                ("WARC-Record-ID", "<urn:uuid:dns>"),
                ("WARC-Target-URI", "dns:example.org"),
                ("WARC-Date", DATE),
                ("Content-Type", "text/dns"),
            ],
            b"20240102030405\nexample.org. 300 IN A 192.0.2.7\n",
        ),
        record(
            v10,
            &[
                ("WARC-Type", "resource"),
                ("WARC-Record-ID", "<urn:uuid:log>"),
                ("WARC-Target-URI", "urn:X-wget:log"),
                ("Content-Type", "text/plain"),
            ],
            b"wget log",
        ),
        record(
            v10,
            &[
                ("WARC-Type", "revisit"),
                ("WARC-Record-ID", "<urn:uuid:rev>"),
                ("WARC-Target-URI", "http://example.org/chunked"),
                ("WARC-Date", DATE),
                http_response,
            ],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n",
        ),
        // Common Crawl: decoded payload, transfer headers renamed, request unlinked.
        record(
            "WARC/1.1",
            &[
                ("WARC-Type", "request"),
                ("WARC-Record-ID", "<urn:uuid:req2>"),
                ("WARC-Target-URI", "https://example.org/cc"),
                ("WARC-Date", DATE),
                http_request,
            ],
            b"GET /cc HTTP/1.1\r\nHost: example.org\r\nAccept-Encoding: gzip\r\n\r\n",
        ),
        record(
            "WARC/1.1",
            &[
                ("WARC-Type", "response"),
                ("WARC-Record-ID", "<urn:uuid:resp2>"),
                ("WARC-Target-URI", "https://example.org/cc"),
                ("WARC-Date", DATE),
                http_response,
            ],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Crawler-Content-Encoding: gzip\r\n\
              X-Crawler-Content-Length: 31\r\nContent-Length: 11\r\n\r\ndecoded CC!",
        ),
        // warcio: the response first, the request after it pointing back.
        record(
            "WARC/1.1",
            &[
                ("WARC-Type", "response"),
                ("WARC-Record-ID", "<urn:uuid:resp3>"),
                ("WARC-Target-URI", "http://example.org/gz"),
                ("WARC-Date", DATE),
                http_response,
            ],
            &gzip_block,
        ),
        record(
            "WARC/1.1",
            &[
                ("WARC-Type", "request"),
                ("WARC-Record-ID", "<urn:uuid:req3>"),
                ("WARC-Concurrent-To", "<urn:uuid:resp3>"),
                ("WARC-Target-URI", "http://example.org/gz"),
                ("WARC-Date", DATE),
                http_request,
            ],
            b"GET /gz HTTP/1.1\r\nHost: example.org\r\n\r\n",
        ),
    ];
    let pages = vec![
        PageRecord {
            url: "http://example.org/chunked".into(),
            fetched_at: UNIX_EPOCH + Duration::from_millis(1_704_164_645_250),
            status: 200,
            headers: pairs(&[
                ("Content-Type", "text/html"),
                ("Transfer-Encoding", "chunked"),
            ]),
            body: b"Hello, chunked world!".to_vec(),
            ip: Some(IpAddr::from([192, 0, 2, 7])),
            request_headers: pairs(&[("Host", "example.org"), ("User-Agent", "Wget/1.21.3")]),
        },
        PageRecord {
            url: "https://example.org/cc".into(),
            fetched_at: when,
            status: 200,
            headers: pairs(&[
                ("Content-Type", "text/html"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", "31"),
                ("Content-Length", "11"),
            ]),
            body: b"decoded CC!".to_vec(),
            ip: None,
            request_headers: pairs(&[("Host", "example.org"), ("Accept-Encoding", "gzip")]),
        },
        PageRecord {
            url: "http://example.org/gz".into(),
            fetched_at: when,
            status: 200,
            headers: pairs(&[("Content-Encoding", "gzip")]),
            body: b"zipped body".to_vec(),
            ip: None,
            request_headers: pairs(&[("Host", "example.org")]),
        },
    ];
    (records, pages)
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed unwrap is a failed test"
)]
fn read_pages(path: &Path) -> Vec<PageRecord> {
    read_warc_file(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn foreign_shapes_read_the_same_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let (records, expected) = foreign_records();
    let plain: Vec<u8> = records.concat();
    let multi_member: Vec<u8> = records.iter().flat_map(|r| gzip(r)).collect();
    let single_member = gzip(&plain);
    for (name, bytes) in [
        ("plain.warc", &plain),
        ("multi.warc.gz", &multi_member),
        ("single.warc.gz", &single_member),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_pages(&path), expected, "{name}");
    }
}

#[test]
fn a_truncated_foreign_file_yields_its_pages_then_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let (records, mut expected) = foreign_records();
    let mut bytes: Vec<u8> = records.iter().flat_map(|r| gzip(r)).collect();
    bytes.truncate(bytes.len() - 10);
    // The cut falls in the last record, the request that follows the last response.
    if let Some(last) = expected.last_mut() {
        last.request_headers.clear();
    }
    let path = dir.path().join("torn.warc.gz");
    fs::write(&path, &bytes).unwrap();
    let items: Vec<_> = read_warc_file(&path).unwrap().collect();
    assert_eq!(items.len(), expected.len() + 1, "{items:?}");
    for (item, page) in items.iter().zip(&expected) {
        assert_eq!(item.as_ref().unwrap(), page);
    }
    assert!(matches!(
        items.last(),
        Some(Err(StoreError::InvalidWarc { .. }))
    ));
    assert!(matches!(
        read_warc_file(&dir.path().join("missing.warc")),
        Err(StoreError::Io { .. })
    ));
}

#[test]
fn a_bad_response_is_an_error_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (records, expected) = foreign_records();
    let bad = record(
        "WARC/1.1",
        &[
            ("WARC-Type", "response"),
            ("WARC-Target-URI", "http://example.org/bad"),
            ("WARC-Date", "not a date"),
            ("Content-Type", "application/http; msgtype=response"),
        ],
        b"HTTP/1.1 200 OK\r\n\r\n",
    );
    let mut bytes = bad;
    bytes.extend(records.concat());
    let path = dir.path().join("bad.warc");
    fs::write(&path, &bytes).unwrap();
    let items: Vec<_> = read_warc_file(&path).unwrap().collect();
    assert!(
        matches!(&items[0], Err(StoreError::InvalidWarc { offset: 0, reason, .. }) if reason.contains("WARC-Date"))
    );
    let rest: Vec<PageRecord> = items.into_iter().skip(1).map(Result::unwrap).collect();
    assert_eq!(rest, expected);
}

/// A `python3 -m http.server` on 127.0.0.1 and an ephemeral port; killed on drop.
struct FixtureServer {
    child: Child,
    port: u16,
}

impl FixtureServer {
    #[expect(
        clippy::unwrap_used,
        reason = "test helper: a failed unwrap is a failed test"
    )]
    fn start(root: &Path) -> FixtureServer {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        // Built before checking the port, so the server is killed if the check fails.
        let mut server = FixtureServer { child, port: 0 };
        server.port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
        server
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program --version` runs.
fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs wget against the fixture server, writing `warc_base` + `.warc.gz` (or `.warc`).
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed unwrap is a failed test"
)]
fn wget_warc(port: u16, warc_base: &Path, compress: bool) -> PathBuf {
    let urls =
        ["index.html", "data.bin", "missing.html"].map(|p| format!("http://127.0.0.1:{port}/{p}"));
    let mut command = Command::new("wget");
    command
        .arg(format!("--warc-file={}", warc_base.display()))
        .args([
            "--no-proxy",
            "--tries=3",
            "--timeout=10",
            "--quiet",
            "-O",
            "/dev/null",
        ])
        .args(&urls);
    if !compress {
        command.arg("--no-warc-compression");
    }
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
    ] {
        command.env_remove(var);
    }
    // wget exits non-zero because of the 404; the WARC is what matters.
    let _ = command.status().unwrap();
    let ext = if compress { "warc.gz" } else { "warc" };
    PathBuf::from(format!("{}.{ext}", warc_base.display()))
}

#[test]
fn wget_warc_files_are_readable() {
    if !available("wget") || !available("python3") {
        eprintln!(
            "skipping: wget or python3 not installed (the hand-built tests cover chunked payloads)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    fs::create_dir(&site).unwrap();
    let html = "<html><head><title>Grüße</title></head><body>hello from wget</body></html>";
    let binary: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
    fs::write(site.join("index.html"), html).unwrap();
    fs::write(site.join("data.bin"), &binary).unwrap();
    let server = FixtureServer::start(&site);
    for compress in [true, false] {
        let path = wget_warc(
            server.port,
            &dir.path().join(format!("out-{compress}")),
            compress,
        );
        let pages = read_pages(&path);
        assert_eq!(pages.len(), 3, "{path:?}: {pages:?}");
        let base = format!("http://127.0.0.1:{}/", server.port);
        assert_eq!(pages[0].url, format!("{base}index.html"));
        assert_eq!(pages[0].status, 200);
        assert_eq!(pages[0].body, html.as_bytes());
        assert_eq!(pages[0].content_type(), Some("text/html"));
        assert_eq!(pages[0].ip, Some(IpAddr::from([127, 0, 0, 1])));
        let user_agent = pages[0]
            .request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("User-Agent"))
            .map(|(_, v)| v.as_str());
        assert!(
            user_agent.is_some_and(|ua| ua.starts_with("Wget/")),
            "{:?}",
            pages[0]
        );
        assert_eq!(pages[1].url, format!("{base}data.bin"));
        assert_eq!(pages[1].body, binary);
        assert_eq!(pages[2].url, format!("{base}missing.html"));
        assert_eq!(pages[2].status, 404);
    }
}
