//! Property tests: any page round-trips; no input, however damaged, makes a reader or the
//! writer's recovery panic; a truncated segment always recovers to its complete pages.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use quarry_pagestore::{
    PageRecord, PageStore, RecordPosition, SegmentId, WriterOptions, read_warc_file,
};

/// Seconds from 1970 to 0000-01-01 and to 9999-12-31T23:59:59, the range WARC-Date can hold.
const FIRST_SECOND: i64 = -62_167_219_200;
const LAST_SECOND: i64 = 253_402_300_799;

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,20}",
        1 => prop::sample::select(vec![
            "Content-Length",
            "content-encoding",
            "Transfer-Encoding",
            "X-Crawler-Content-Length",
            "x-crawler-X-Crawler-transfer-encoding",
            "X-Crawler-",
            "X-Crawler-Other",
            "Content-Type",
        ])
        .prop_map(String::from),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((header_name(), "[^\r\n\0]{0,40}"), 0..8)
}

fn page() -> impl Strategy<Value = PageRecord> {
    (
        "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?(/[\\x21-\\x7eé☃日本]{0,30})?",
        (FIRST_SECOND..=LAST_SECOND, 0u32..1_000_000_000),
        100u16..=999,
        headers(),
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::option::of(any::<IpAddr>()),
        headers(),
    )
        .prop_map(
            |(url, (seconds, nanos), status, headers, body, ip, request_headers)| {
                let whole = Duration::from_secs(seconds.unsigned_abs());
                let at = if seconds < 0 {
                    UNIX_EPOCH - whole
                } else {
                    UNIX_EPOCH + whole
                };
                PageRecord {
                    url,
                    fetched_at: at + Duration::from_nanos(u64::from(nanos)),
                    status,
                    headers,
                    body,
                    ip,
                    request_headers,
                }
            },
        )
}

fn fixed_page(i: usize) -> PageRecord {
    PageRecord {
        url: format!("http://example.com/{i}"),
        fetched_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64),
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: format!("page number {i} ").repeat(i + 1).into_bytes(),
        ip: None,
        request_headers: vec![("User-Agent".into(), "quarry".into())],
    }
}

/// A valid one-segment store's file bytes, its pages' positions, and the end of each page.
struct ValidSegment {
    bytes: Vec<u8>,
    positions: Vec<RecordPosition>,
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed unwrap is a failed test"
)]
fn valid_segment() -> &'static ValidSegment {
    static SEGMENT: OnceLock<ValidSegment> = OnceLock::new();
    SEGMENT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open(dir.path()).unwrap();
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        let positions = (0..4)
            .map(|i| writer.append(&fixed_page(i)).unwrap())
            .collect();
        writer.sync().unwrap();
        let bytes = fs::read(&store.segments().unwrap()[0].path).unwrap();
        ValidSegment { bytes, positions }
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip(at, xor)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    match damage {
        Damage::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
        Damage::Flip(at, xor) => {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] ^= xor;
            }
        }
        Damage::Insert(at, more) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, more.iter().copied());
        }
    }
}

/// Exercises every reader and the writer on a store whose only segment holds `bytes`; returns
/// the complete pages read before the writer was opened.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed unwrap is a failed test"
)]
fn exercise(dir: &Path, bytes: &[u8]) -> Vec<Result<(RecordPosition, PageRecord), String>> {
    let path = dir.join(SegmentId(1).file_name());
    fs::write(&path, bytes).unwrap();
    let store = PageStore::open(dir).unwrap();
    let before: Vec<_> = store
        .records(None)
        .unwrap()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect();
    for offset in [0, 1, bytes.len() as u64 / 2, bytes.len() as u64] {
        let _ = store.read_at(RecordPosition {
            segment: SegmentId(1),
            offset,
        });
    }
    for position in &valid_segment().positions {
        let _ = store.read_at(*position);
    }
    let _ = read_warc_file(&path).unwrap().count();
    // Whatever the damage, the writer opens and a new page reads back as the last one.
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    let new_page = fixed_page(99);
    let position = writer.append(&new_page).unwrap();
    writer.sync().unwrap();
    drop(writer);
    assert_eq!(store.read_at(position).unwrap(), new_page);
    let after: Vec<_> = store.records(None).unwrap().collect();
    assert_eq!(
        after.last().unwrap().as_ref().unwrap(),
        &(position, new_page)
    );
    before
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_pages_round_trip(pages in prop::collection::vec(page(), 1..4), max in 1u64..6_000) {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open(dir.path()).unwrap();
        let mut writer = store.writer(WriterOptions { segment_max_bytes: max }).unwrap();
        let positions: Vec<_> = pages.iter().map(|p| writer.append(p).unwrap()).collect();
        writer.sync().unwrap();
        let read: Vec<_> = store.records(None).unwrap().map(Result::unwrap).collect();
        let expected: Vec<_> = positions
            .iter()
            .copied()
            .zip(pages.iter().map(PageRecord::stored_form))
            .collect();
        prop_assert_eq!(&read, &expected);
        for (position, page) in &expected {
            prop_assert_eq!(&store.read_at(*position).unwrap(), page);
        }
        // Our segments are ordinary WARC files too.
        let imported: Vec<_> = store
            .segments()
            .unwrap()
            .iter()
            .flat_map(|s| read_warc_file(&s.path).unwrap().map(Result::unwrap))
            .collect();
        prop_assert_eq!(imported, pages.iter().map(PageRecord::stored_form).collect::<Vec<_>>());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        let dir = tempfile::tempdir().unwrap();
        exercise(dir.path(), &bytes);
    }

    #[test]
    fn random_bytes_after_a_gzip_header_never_panic(tail in prop::collection::vec(any::<u8>(), 0..500)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
        bytes.extend(tail);
        exercise(dir.path(), &bytes);
    }

    #[test]
    fn damaged_segments_never_panic(damages in prop::collection::vec(damage(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = valid_segment().bytes.clone();
        for d in &damages {
            apply(&mut bytes, d);
        }
        exercise(dir.path(), &bytes);
    }

    #[test]
    fn truncated_segments_read_and_recover_their_complete_pages(cut in any::<usize>()) {
        let valid = valid_segment();
        let cut = cut % (valid.bytes.len() + 1);
        let dir = tempfile::tempdir().unwrap();
        let before = exercise(dir.path(), &valid.bytes[..cut]);
        // Only complete pages, in order, without errors: exactly those that end by `cut`.
        let mut ends: Vec<u64> = valid.positions[1..].iter().map(|p| p.offset).collect();
        ends.push(valid.bytes.len() as u64);
        let complete = ends.iter().filter(|&&end| end <= cut as u64).count();
        let expected: Vec<_> = (0..complete)
            .map(|i| Ok((valid.positions[i], fixed_page(i))))
            .collect();
        prop_assert_eq!(before, expected);
    }

    #[test]
    fn random_warc_blocks_never_panic(
        head in prop::sample::select(vec![
            "",
            "HTTP/1.1 200 OK\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\u{8b}\x08",
            "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
        ]),
        tail in prop::collection::vec(any::<u8>(), 0..300),
        declared_extra in 0usize..4,
    ) {
        let mut block = head.as_bytes().to_vec();
        block.extend(tail);
        let mut warc = format!(
            "WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: http://x/\r\n\
             WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http\r\n\
             Content-Length: {}\r\n\r\n",
            block.len() + declared_extra
        )
        .into_bytes();
        warc.extend(block);
        warc.extend_from_slice(b"\r\n\r\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.warc");
        fs::write(&path, &warc).unwrap();
        let _ = read_warc_file(&path).unwrap().count();
    }
}

/// Reads `bytes` as a page-store segment and as a foreign WARC file without writing:
/// no panic, and every record read in order is what `read_at` finds at its position.
fn read_only(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    static DIRS: OnceLock<tempfile::TempDir> = OnceLock::new();
    let root = DIRS
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path();
    let dir = root.join(name);
    fs::create_dir_all(&dir).expect("case dir");
    let path = dir.join(SegmentId(1).file_name());
    fs::write(&path, bytes).expect("write case");
    let store = PageStore::open(&dir).expect("open store");
    for record in store.records(None).expect("records") {
        match record {
            Ok((position, page)) => {
                prop_assert_eq!(store.read_at(position).ok(), Some(page));
            }
            Err(_) => break,
        }
    }
    let _ = read_warc_file(&path)
        .expect("read as WARC")
        .take(64)
        .count();
    Ok(())
}

proptest! {
    // 100,000 cases each (issue: fuzz WARC reading of random and truncated bytes in
    // CI-sized form); the writer-recovery properties above run fewer, slower cases.
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    fn reading_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1_000)) {
        read_only("random", &bytes)?;
    }

    #[test]
    fn reading_damaged_segments_never_panics(damages in prop::collection::vec(damage(), 1..4)) {
        let mut bytes = valid_segment().bytes.clone();
        for d in &damages {
            apply(&mut bytes, d);
        }
        read_only("damaged", &bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000_000))]

    /// The long run: `cargo test -p quarry-pagestore --test properties long_ -- --ignored`.
    #[test]
    #[ignore = "long fuzz run (a million cases)"]
    fn long_reading_damaged_segments_never_panics(damages in prop::collection::vec(damage(), 1..4)) {
        let mut bytes = valid_segment().bytes.clone();
        for d in &damages {
            apply(&mut bytes, d);
        }
        read_only("long-damaged", &bytes)?;
    }
}
