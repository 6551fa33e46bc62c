use std::fs;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::writer::Recovery;

fn page(i: usize) -> PageRecord {
    PageRecord {
        url: format!("https://example.com/page/{i}?q=ü"),
        fetched_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + 1_337 * i as u64),
        status: if i % 5 == 4 { 404 } else { 200 },
        headers: vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("X-Index".into(), i.to_string()),
        ],
        body: format!("<html><body>page {i} {}</body></html>", "x".repeat(i * 7)).into_bytes(),
        ip: Some(IpAddr::from([127, 0, 0, (i % 250) as u8 + 1])),
        request_headers: vec![
            ("Host".into(), "example.com".into()),
            ("User-Agent".into(), "quarry-test/1".into()),
        ],
    }
}

fn store() -> (tempfile::TempDir, PageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(dir.path()).unwrap();
    (dir, store)
}

fn small_segments() -> WriterOptions {
    WriterOptions {
        segment_max_bytes: 2_000,
    }
}

/// Appends pages `0..n`, syncs, and returns their positions.
fn fill(store: &PageStore, options: WriterOptions, n: usize) -> Vec<RecordPosition> {
    let mut writer = store.writer(options).unwrap();
    let positions = (0..n).map(|i| writer.append(&page(i)).unwrap()).collect();
    writer.sync().unwrap();
    positions
}

fn read_all(store: &PageStore, from: Option<RecordPosition>) -> Vec<(RecordPosition, PageRecord)> {
    store
        .records(from)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn pages_round_trip_through_records_and_read_at() {
    let (_dir, store) = store();
    let mut pages: Vec<PageRecord> = (0..6).map(page).collect();
    pages[1].body = Vec::new();
    pages[2].body = (0..=255u8).cycle().take(100_000).collect();
    pages[3].body = vec![0x5a; 3 * 1024 * 1024];
    pages[4].url = "http://例え.jp/パス?クエリ=値".into();
    pages[4]
        .headers
        .push(("Content-Encoding".into(), "gzip".into()));
    pages[4]
        .headers
        .push(("Transfer-Encoding".into(), "chunked".into()));
    pages[5].ip = None;
    pages[5].headers.clear();
    pages[5].request_headers.clear();
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    let positions: Vec<_> = pages.iter().map(|p| writer.append(p).unwrap()).collect();
    writer.sync().unwrap();
    let read = read_all(&store, None);
    let expected: Vec<_> = positions
        .iter()
        .copied()
        .zip(pages.iter().map(PageRecord::stored_form))
        .collect();
    assert_eq!(read, expected);
    for (position, page) in &expected {
        assert_eq!(&store.read_at(*position).unwrap(), page);
    }
    assert_eq!(read[4].1.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn segments_roll_at_the_size_limit() {
    let (_dir, store) = store();
    let positions = fill(&store, small_segments(), 20);
    let segments = store.segments().unwrap();
    assert!(segments.len() > 3, "{segments:?}");
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s.id, SegmentId(i as u32 + 1));
        assert_eq!(s.path, store.dir().join(s.id.file_name()));
        // A segment exceeds the limit by at most one page.
        assert!(s.bytes < 2_000 + 2_000, "{s:?}");
    }
    assert_eq!(
        store.total_bytes().unwrap(),
        segments.iter().map(|s| s.bytes).sum::<u64>()
    );
    let read = read_all(&store, None);
    assert_eq!(read.len(), 20);
    assert_eq!(read.iter().map(|r| r.0).collect::<Vec<_>>(), positions);
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    // Every segment starts with a warcinfo record.
    for s in &segments {
        let err = store
            .read_at(RecordPosition {
                segment: s.id,
                offset: 0,
            })
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotAResponse { ref found, .. } if found == "warcinfo"),
            "{err}"
        );
    }
}

#[test]
fn reopening_the_writer_appends_to_the_last_segment() {
    let (_dir, store) = store();
    let first = fill(&store, WriterOptions::default(), 3);
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    assert_eq!(writer.recovery(), None);
    let next = writer.append(&page(3)).unwrap();
    writer.sync().unwrap();
    assert_eq!(next.segment, first[0].segment);
    assert_eq!(store.segments().unwrap().len(), 1);
    assert_eq!(read_all(&store, None).len(), 4);
}

#[test]
fn records_resume_exactly_at_any_position() {
    let (_dir, store) = store();
    let positions = fill(&store, small_segments(), 12);
    for (k, &position) in positions.iter().enumerate() {
        let read = read_all(&store, Some(position));
        let got: Vec<_> = read.iter().map(|r| r.0).collect();
        assert_eq!(got, positions[k..], "from {position:?}");
        assert_eq!(read[0].1, page(k).stored_form());
    }
    // resume_position continues right after what was consumed, across segments.
    let mut records = store.records(None).unwrap();
    for _ in 0..5 {
        records.next().unwrap().unwrap();
    }
    let resume = records.resume_position().unwrap();
    let rest: Vec<_> = read_all(&store, Some(resume)).iter().map(|r| r.0).collect();
    assert_eq!(rest, positions[5..]);
    // At the end, the resume position picks up later appends.
    let mut records = store.records(None).unwrap();
    assert_eq!(records.by_ref().count(), 12);
    let end = records.resume_position().unwrap();
    assert!(read_all(&store, Some(end)).is_empty());
    let mut writer = store.writer(small_segments()).unwrap();
    let later = writer.append(&page(99)).unwrap();
    assert_eq!(
        read_all(&store, Some(end)),
        vec![(later, page(99).stored_form())]
    );
}

#[test]
fn empty_and_missing_positions() {
    let (_dir, store) = store();
    assert!(read_all(&store, None).is_empty());
    assert_eq!(store.records(None).unwrap().resume_position(), None);
    assert_eq!(store.total_bytes().unwrap(), 0);
    let nowhere = RecordPosition {
        segment: SegmentId(7),
        offset: 0,
    };
    assert!(matches!(
        store.read_at(nowhere),
        Err(StoreError::NoSuchSegment {
            segment: SegmentId(7)
        })
    ));
    let positions = fill(&store, WriterOptions::default(), 2);
    let past_end = RecordPosition {
        segment: positions[0].segment,
        offset: 1 << 40,
    };
    assert!(matches!(
        store.read_at(past_end),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(read_all(&store, Some(past_end)).is_empty());
    let inside = RecordPosition {
        segment: positions[0].segment,
        offset: positions[0].offset + 3,
    };
    assert!(matches!(
        store.read_at(inside),
        Err(StoreError::Corrupt { .. })
    ));
    // A start inside a record reads as damage, then resyncs on the next record.
    let items: Vec<_> = store.records(Some(inside)).unwrap().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(items[0], Err(StoreError::Corrupt { .. })));
    assert_eq!(items[1].as_ref().unwrap().0, positions[1]);
    // A from before the first segment starts at the first one.
    assert_eq!(
        read_all(
            &store,
            Some(RecordPosition {
                segment: SegmentId(0),
                offset: 99
            })
        )
        .len(),
        2
    );
}

#[test]
fn checkpoints_round_trip_through_the_store() {
    let (dir, store) = store();
    assert_eq!(store.load_checkpoint("indexer").unwrap(), None);
    let position = RecordPosition {
        segment: SegmentId(2),
        offset: 4096,
    };
    store.save_checkpoint("indexer", position).unwrap();
    assert_eq!(store.load_checkpoint("indexer").unwrap(), Some(position));
    assert!(dir.path().join("checkpoints/indexer.json").is_file());
    assert!(matches!(
        store.save_checkpoint("../escape", position),
        Err(StoreError::InvalidConsumer { .. })
    ));
}

#[test]
fn a_second_writer_is_locked_out() {
    let (dir, store) = store();
    let writer = store.writer(WriterOptions::default()).unwrap();
    let other = PageStore::open(dir.path()).unwrap();
    match other.writer(WriterOptions::default()) {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.path().join("LOCK")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(writer);
    other.writer(WriterOptions::default()).unwrap();
}

/// The last segment's bytes, the offset where its last page starts, and the pages.
fn one_segment_with(n: usize) -> (tempfile::TempDir, PageStore, PathBuf, Vec<u8>, u64) {
    let (dir, store) = store();
    let positions = fill(&store, WriterOptions::default(), n);
    let path = store.segments().unwrap()[0].path.clone();
    let bytes = fs::read(&path).unwrap();
    let last_start = positions[n - 1].offset;
    (dir, store, path, bytes, last_start)
}

#[test]
fn torn_tail_is_cut_at_every_byte_of_the_last_page() {
    const N: usize = 4;
    let (_dir, store, path, bytes, last_start) = one_segment_with(N);
    for cut in last_start..=bytes.len() as u64 {
        fs::write(&path, &bytes[..cut as usize]).unwrap();
        let complete = if cut == bytes.len() as u64 { N } else { N - 1 };
        // Readers see only complete pages, without an error.
        let read = read_all(&store, None);
        assert_eq!(read.len(), complete, "cut at {cut}");
        // The writer cuts back to the end of the last complete page.
        let mut writer = store.writer(WriterOptions::default()).unwrap();
        let expected = (cut > last_start && cut < bytes.len() as u64).then(|| Recovery {
            segment: SegmentId(1),
            cut_bytes: cut - last_start,
        });
        assert_eq!(writer.recovery(), expected.as_ref(), "cut at {cut}");
        let kept = if complete == N {
            bytes.len() as u64
        } else {
            last_start
        };
        assert_eq!(fs::metadata(&path).unwrap().len(), kept, "cut at {cut}");
        // Appending afterwards works and lands right after the complete pages.
        let position = writer.append(&page(100)).unwrap();
        drop(writer);
        assert_eq!(position.offset, kept);
        let read = read_all(&store, None);
        assert_eq!(read.len(), complete + 1, "cut at {cut}");
        assert_eq!(read[complete], (position, page(100).stored_form()));
        assert_eq!(read[complete - 1].1, page(complete - 1).stored_form());
    }
}

#[test]
fn garbage_after_the_last_page_is_cut() {
    let (_dir, store, path, bytes, _) = one_segment_with(3);
    let garbage: [&[u8]; 4] = [
        b"\0\0\0\0\0\0\0\0",
        b"\x1f\x8b\x08\0\0\0\0\0\0\xff garbage",
        b"WARC/1.1\r\nContent-Length: 5\r\n\r\nabcde\r\n\r\n",
        &[0xff; 10_000],
    ];
    for tail in garbage {
        let mut torn = bytes.clone();
        torn.extend_from_slice(tail);
        fs::write(&path, &torn).unwrap();
        assert_eq!(read_all(&store, None).len(), 3);
        let writer = store.writer(WriterOptions::default()).unwrap();
        assert_eq!(
            writer.recovery(),
            Some(&Recovery {
                segment: SegmentId(1),
                cut_bytes: tail.len() as u64
            })
        );
        drop(writer);
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_segment_cut_to_nothing_gets_a_new_warcinfo() {
    let (_dir, store, path, bytes, _) = one_segment_with(1);
    fs::write(&path, &bytes[..10]).unwrap();
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    assert_eq!(writer.recovery().map(|r| r.cut_bytes), Some(10));
    let position = writer.append(&page(0)).unwrap();
    assert!(position.offset > 0, "warcinfo comes first");
    drop(writer);
    assert!(matches!(
        store.read_at(RecordPosition {
            segment: SegmentId(1),
            offset: 0
        }),
        Err(StoreError::NotAResponse { .. })
    ));
    assert_eq!(read_all(&store, None).len(), 1);
}

#[test]
fn damage_in_the_middle_is_reported_and_skipped() {
    let (_dir, store) = store();
    let positions = fill(&store, WriterOptions::default(), 5);
    let path = store.segments().unwrap()[0].path.clone();
    let original = fs::read(&path).unwrap();
    let mut damaged = original.clone();
    // Flip bytes inside the third page's compressed data.
    let at = positions[2].offset as usize + 30;
    for b in &mut damaged[at..at + 8] {
        *b ^= 0x55;
    }
    fs::write(&path, &damaged).unwrap();
    let items: Vec<_> = store.records(None).unwrap().collect();
    assert_eq!(items.len(), 5, "{items:?}");
    assert!(
        matches!(items[2], Err(StoreError::Corrupt { segment: SegmentId(1), offset, .. }) if offset == positions[2].offset)
    );
    let good: Vec<_> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|r| r.0)
        .collect();
    assert_eq!(
        good,
        [positions[0], positions[1], positions[3], positions[4]]
    );
    // The writer does not cut readable records: it leaves the segment and starts a new one.
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    assert_eq!(writer.recovery(), None);
    let next = writer.append(&page(9)).unwrap();
    drop(writer);
    assert_eq!(next.segment, SegmentId(2));
    assert_eq!(fs::read(&path).unwrap(), damaged);
    assert_eq!(store.records(None).unwrap().count(), 6);
}

#[test]
fn a_torn_segment_before_the_last_is_an_error_then_reading_goes_on() {
    let (_dir, store) = store();
    let positions = fill(&store, small_segments(), 8);
    let first = store.segments().unwrap()[0].clone();
    let in_first = positions.iter().filter(|p| p.segment == first.id).count();
    assert!(in_first < positions.len());
    fs::write(
        &first.path,
        &fs::read(&first.path).unwrap()[..first.bytes as usize - 5],
    )
    .unwrap();
    let items: Vec<_> = store.records(None).unwrap().collect();
    let good: Vec<_> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|r| r.0)
        .collect();
    let mut expected = positions.clone();
    expected.remove(in_first - 1);
    assert_eq!(good, expected);
    assert_eq!(
        items.len(),
        positions.len(),
        "one error in place of the torn page"
    );
    assert!(
        matches!(items[in_first - 1], Err(StoreError::Corrupt { segment, .. }) if segment == first.id),
        "{items:?}"
    );
}

#[test]
fn a_failed_page_writes_nothing() {
    let (_dir, store) = store();
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    let mut bad = page(0);
    bad.headers
        .push(("X-Injected".into(), "a\r\n\r\nHTTP/1.1 200 OK".into()));
    assert!(matches!(
        writer.append(&bad),
        Err(StoreError::BadRecord { .. })
    ));
    assert!(
        store.segments().unwrap().is_empty(),
        "no segment for a rejected page"
    );
    writer.append(&page(1)).unwrap();
    assert_eq!(read_all(&store, None).len(), 1);
}

#[test]
fn handles_can_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<PageStore>();
    sync::<PageStore>();
    send::<Records>();
    send::<SegmentWriter>();
    send::<crate::WarcFileRecords>();
    send::<StoreError>();
    sync::<StoreError>();
}

#[test]
fn a_sealed_writer_starts_a_new_segment_after_the_given_one() {
    let (_dir, store) = store();
    fill(&store, WriterOptions::default(), 2);
    let mut writer = store.writer(WriterOptions::default()).unwrap();
    writer.seal(None).unwrap();
    assert_eq!(writer.append(&page(2)).unwrap().segment, SegmentId(2));
    // The store below moved segments 1–9 away (object storage): numbering goes on after 9.
    writer.seal(Some(SegmentId(9))).unwrap();
    assert_eq!(writer.current_segment(), None);
    let at = writer.append(&page(3)).unwrap();
    assert_eq!(at.segment, SegmentId(10));
    writer.sync().unwrap();
    let segments: Vec<u32> = store.segments().unwrap().iter().map(|s| s.id.0).collect();
    assert_eq!(segments, [1, 2, 10]);
    assert_eq!(read_all(&store, None).len(), 4);
}
