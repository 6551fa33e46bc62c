//! Python's warcio must read every record we write, with its payload, and pass its digest
//! checks. Skipped (with a message) when warcio is not installed, except under `CI`, where
//! that is a failure.

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use quarry_pagestore::{PageRecord, PageStore, RecordPosition, WriterOptions};
use sha1::{Digest, Sha1};

/// Reads each WARC file named on the command line with warcio, checking digests as it goes, and
/// prints one JSON line per file: a list of records, then warcio's own `check` verdict.
const WARCIO_SCRIPT: &str = r#"
import hashlib, json, sys
from warcio.archiveiterator import ArchiveIterator
from warcio.checker import Checker

class Args:
    def __init__(self, inputs):
        self.inputs = inputs
        self.verbose = False

for path in sys.argv[1:]:
    records = []
    with open(path, 'rb') as f:
        it = ArchiveIterator(f, check_digests='raise')
        for rec in it:
            payload = rec.content_stream().read()
            http = rec.http_headers
            records.append({
                'type': rec.rec_type,
                'uri': rec.rec_headers.get_header('WARC-Target-URI'),
                'status': int(http.get_statuscode()) if http is not None and rec.rec_type == 'response' else None,
                'sha1': hashlib.sha1(payload).hexdigest(),
                'length': len(payload),
                'digests_passed': rec.digest_checker.passed,
                'offset': it.get_record_offset(),
                'user_agent': http.get_header('User-Agent') if http is not None and rec.rec_type == 'request' else None,
            })
    print(json.dumps({'records': records, 'check': Checker(Args([path])).process_all()}))
"#;

fn warcio_available() -> bool {
    Command::new("python3")
        .args(["-c", "import warcio"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pages() -> Vec<PageRecord> {
    let base = PageRecord {
        url: "http://127.0.0.1:8080/".into(),
        fetched_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        status: 200,
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
        body: b"<html><title>home</title></html>".to_vec(),
        ip: Some(IpAddr::from([127, 0, 0, 1])),
        request_headers: vec![
            ("Host".into(), "127.0.0.1:8080".into()),
            ("User-Agent".into(), "quarry-test/0.1".into()),
        ],
    };
    vec![
        base.clone(),
        PageRecord {
            url: "http://127.0.0.1:8080/ünïcödé?q=☃".into(),
            body: "<p>Grüße, 世界! ☃</p>".as_bytes().to_vec(),
            ..base.clone()
        },
        PageRecord {
            url: "http://127.0.0.1:8080/missing".into(),
            status: 404,
            body: b"not found".to_vec(),
            ..base.clone()
        },
        PageRecord {
            url: "http://127.0.0.1:8080/image.bin".into(),
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body: (0..=255u8).cycle().take(70_000).collect(),
            ip: Some("::1".parse().unwrap_or(IpAddr::from([0u8; 16]))),
            ..base.clone()
        },
        PageRecord {
            url: "http://127.0.0.1:8080/empty".into(),
            status: 204,
            headers: vec![],
            body: vec![],
            ip: None,
            ..base.clone()
        },
        // The crawler decoded this body: warcio must not try to gunzip or de-chunk it.
        PageRecord {
            url: "http://127.0.0.1:8080/compressed".into(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Content-Encoding".into(), "gzip".into()),
                ("Transfer-Encoding".into(), "chunked".into()),
                ("Content-Length".into(), "12".into()),
            ],
            body: b"decoded text, longer than twelve bytes".to_vec(),
            ..base
        },
    ]
}

#[test]
fn warcio_reads_our_segments_and_checks_their_digests() {
    if !warcio_available() {
        if std::env::var_os("CI").is_some() {
            panic!("python3 cannot import warcio: it must be installed in CI (pip install warcio)");
        }
        eprintln!("skipping: warcio not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(dir.path()).unwrap();
    let mut writer = store
        .writer(WriterOptions {
            segment_max_bytes: 1_500,
        })
        .unwrap();
    let pages = pages();
    let positions: Vec<RecordPosition> = pages.iter().map(|p| writer.append(p).unwrap()).collect();
    writer.sync().unwrap();
    drop(writer);
    let segments = store.segments().unwrap();
    assert!(segments.len() >= 2, "the test covers more than one segment");

    let output = Command::new("python3")
        .arg("-c")
        .arg(WARCIO_SCRIPT)
        .args(segments.iter().map(|s| &s.path))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "warcio failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let files: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(files.len(), segments.len());

    let mut seen_pages = 0;
    for (segment, file) in segments.iter().zip(&files) {
        assert_eq!(
            file["check"], 0,
            "warcio check failed for {segment:?}: {file}"
        );
        let records = file["records"].as_array().unwrap();
        assert_eq!(records[0]["type"], "warcinfo");
        assert_eq!(records[0]["offset"], 0);
        // Then response + request pairs.
        assert_eq!((records.len() - 1) % 2, 0, "{records:?}");
        for pair in records[1..].chunks(2) {
            let (response, request) = (&pair[0], &pair[1]);
            let page = &pages[seen_pages];
            let position = positions[seen_pages];
            assert_eq!(position.segment, segment.id);
            assert_eq!(response["type"], "response");
            assert_eq!(response["uri"], page.url.as_str());
            assert_eq!(response["status"], page.status);
            assert_eq!(
                response["sha1"],
                sha1_hex(&page.body).as_str(),
                "{}",
                page.url
            );
            assert_eq!(response["length"], page.body.len());
            assert_eq!(
                response["offset"], position.offset,
                "one gzip member per record"
            );
            assert_eq!(request["type"], "request");
            assert_eq!(request["uri"], page.url.as_str());
            assert_eq!(request["length"], 0);
            assert_eq!(request["user_agent"], "quarry-test/0.1");
            seen_pages += 1;
        }
        for record in records {
            assert_eq!(record["digests_passed"], true, "{record}");
        }
    }
    assert_eq!(seen_pages, pages.len());
}
