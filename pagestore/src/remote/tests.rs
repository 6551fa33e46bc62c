use std::fs;

use object_store::memory::InMemory;

use super::*;
use crate::record::PageRecord;
use crate::writer::WriterOptions;

fn page(i: usize) -> PageRecord {
    PageRecord {
        url: format!("https://example.com/page/{i}"),
        fetched_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64),
        status: 200,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: format!("<title>page {i}</title>{}", "body text ".repeat(40)).into_bytes(),
        ip: None,
        request_headers: vec![("Host".into(), "example.com".into())],
    }
}

/// A local store with pages `0..n` in segments of about 1.5 kB (one or two pages each).
fn local_with_pages(n: usize) -> (tempfile::TempDir, PageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = PageStore::open(dir.path()).unwrap();
    let mut writer = store
        .writer(WriterOptions {
            segment_max_bytes: 1_500,
        })
        .unwrap();
    for i in 0..n {
        writer.append(&page(i)).unwrap();
    }
    writer.sync().unwrap();
    (dir, store)
}

fn remote() -> (Arc<InMemory>, RemoteStore) {
    let memory = Arc::new(InMemory::new());
    let store = RemoteStore::new(
        memory.clone(),
        ObjectPath::from("crawl/pages"),
        "s3://bucket/crawl/pages",
    );
    (memory, store)
}

fn urls(store: &PageStore) -> Vec<String> {
    store
        .records(None)
        .unwrap()
        .map(|item| item.unwrap().1.url)
        .collect()
}

fn ids(segments: &[RemoteSegment]) -> Vec<u32> {
    segments.iter().map(|s| s.id.0).collect()
}

#[tokio::test]
async fn sealed_segments_move_up_and_the_open_one_stays() {
    let (_dir, local) = local_with_pages(6);
    let local_ids: Vec<u32> = local.segments().unwrap().iter().map(|s| s.id.0).collect();
    assert!(local_ids.len() >= 3, "{local_ids:?}");
    let written = urls(&local);
    let (memory, remote) = remote();

    let first = remote.upload_sealed(&local, true).await.unwrap();
    assert_eq!(first.segments.len(), local_ids.len() - 1);
    assert_eq!(local.segments().unwrap().len(), 1, "the open segment stays");
    let again = remote.upload_sealed(&local, true).await.unwrap();
    assert_eq!(again, Transfer::default(), "nothing left to upload");

    let last = remote.upload_sealed(&local, false).await.unwrap();
    assert_eq!(last.segments.len(), 1);
    assert!(local.segments().unwrap().is_empty());
    let segments = remote.segments().await.unwrap();
    assert_eq!(ids(&segments), local_ids);
    assert_eq!(
        first.bytes + last.bytes,
        segments.iter().map(|s| s.bytes).sum::<u64>()
    );
    // The objects sit under the prefix, named as the local files are.
    let object = memory
        .head(&ObjectPath::from("crawl/pages/segment-000001.warc.gz"))
        .await
        .unwrap();
    assert_eq!(object.size, segments[0].bytes);

    // A reader elsewhere mirrors them and reads the same pages.
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache_dir.path()).unwrap();
    let down = remote.download(&cache, None).await.unwrap();
    assert_eq!(down.segments.len(), local_ids.len());
    assert_eq!(urls(&cache), written);
    assert_eq!(
        remote.download(&cache, None).await.unwrap(),
        Transfer::default(),
        "a second download finds the cache current"
    );
}

#[tokio::test]
async fn a_segment_uploaded_before_a_crash_is_not_uploaded_twice() {
    let (_dir, local) = local_with_pages(3);
    let (memory, remote) = remote();
    let first = local.segments().unwrap().remove(0);
    // A crash after the upload under the claimed number 7, before the local copy went.
    let bytes = fs::read(&first.path).unwrap();
    memory
        .put(
            &ObjectPath::from("crawl/pages/segment-000007.warc.gz"),
            PutPayload::from(bytes),
        )
        .await
        .unwrap();
    let claim = local.dir().join(claim_file_name(first.id));
    fs::write(&claim, "7").unwrap();
    let transfer = remote.upload_sealed(&local, true).await.unwrap();
    assert_eq!(transfer.segments[0], SegmentId(7));
    assert_eq!(transfer.removed[0], first.id);
    // The rest follow it, and nothing is in the store twice.
    let stored = ids(&remote.segments().await.unwrap());
    assert_eq!(stored[0], 7);
    assert_eq!(stored.len(), transfer.segments.len(), "{stored:?}");
    assert!(!claim.exists(), "the claim goes with the local copy");

    // A claim whose put never happened (or was another writer's number) is no upload.
    let (_dir, local) = local_with_pages(3);
    let (memory, remote) = self::remote();
    let first = local.segments().unwrap().remove(0);
    memory
        .put(
            &ObjectPath::from("crawl/pages/segment-000001.warc.gz"),
            PutPayload::from(b"another writer's".to_vec()),
        )
        .await
        .unwrap();
    fs::write(local.dir().join(claim_file_name(first.id)), "1").unwrap();
    let transfer = remote.upload_sealed(&local, false).await.unwrap();
    assert_eq!(transfer.segments[0], SegmentId(2));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache_dir.path()).unwrap();
    // Segment 1 is the other writer's; this one's pages start at 2.
    remote.download(&cache, Some(SegmentId(2))).await.unwrap();
    assert_eq!(urls(&cache).len(), 3);
}

#[tokio::test]
async fn writers_sharing_a_store_take_the_next_free_numbers() {
    let (_a, first) = local_with_pages(4);
    let (_b, second) = local_with_pages(4);
    let (a_urls, b_urls) = (urls(&first), urls(&second));
    let (a_ids, b_ids) = (first.segments().unwrap(), second.segments().unwrap());
    assert_eq!(a_ids[0].id, b_ids[0].id, "both number from 1");
    let (_memory, remote) = remote();
    // Interleaved: A's sealed ones, then B's, then the rest of each.
    let a1 = remote.upload_sealed(&first, true).await.unwrap();
    let b1 = remote.upload_sealed(&second, true).await.unwrap();
    let a2 = remote.upload_sealed(&first, false).await.unwrap();
    let b2 = remote.upload_sealed(&second, false).await.unwrap();
    let mut claimed: Vec<u32> = [&a1, &b1, &a2, &b2]
        .iter()
        .flat_map(|t| t.segments.iter().map(|id| id.0))
        .collect();
    // One gap-free sequence, in upload order.
    let total = a_ids.len() + b_ids.len();
    assert_eq!(claimed, (1..=total as u32).collect::<Vec<_>>());
    claimed.sort_unstable();
    assert_eq!(ids(&remote.segments().await.unwrap()), claimed);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache_dir.path()).unwrap();
    remote.download(&cache, None).await.unwrap();
    let read = urls(&cache);
    assert_eq!(read.len(), a_urls.len() + b_urls.len());
    for url in a_urls.iter().chain(&b_urls) {
        assert_eq!(
            read.iter().filter(|u| *u == url).count(),
            2,
            "both wrote the same pages: {url}"
        );
    }
}

#[tokio::test]
async fn checkpoints_and_retention_live_in_the_store() {
    let (_dir, local) = local_with_pages(10);
    let (_memory, remote) = remote();
    remote.upload_sealed(&local, false).await.unwrap();
    let segments = remote.segments().await.unwrap();
    assert!(segments.len() >= 4, "{:?}", ids(&segments));

    assert_eq!(remote.load_checkpoint("indexer").await.unwrap(), None);
    let consumed = RecordPosition {
        segment: segments[2].id,
        offset: 0,
    };
    remote.save_checkpoint("indexer", consumed).await.unwrap();
    remote
        .save_checkpoint("indexer-shard-0-of-2", consumed)
        .await
        .unwrap();
    assert_eq!(
        remote.load_checkpoint("indexer").await.unwrap(),
        Some(consumed)
    );
    assert_eq!(
        remote.checkpoint_consumers().await.unwrap(),
        ["indexer", "indexer-shard-0-of-2"]
    );
    assert!(matches!(
        remote.save_checkpoint("../x", consumed).await,
        Err(StoreError::InvalidConsumer { .. })
    ));

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache_dir.path()).unwrap();
    remote.download(&cache, None).await.unwrap();

    // Too young: nothing goes.
    assert!(
        remote
            .retire_consumed(consumed, Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    let retired = remote
        .retire_consumed(consumed, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(retired, [segments[0].id, segments[1].id]);
    assert_eq!(ids(&remote.segments().await.unwrap()), ids(&segments[2..]));
    let listed = remote.retired().await.unwrap();
    assert_eq!(listed.segments, retired);
    assert_eq!(listed.bytes, segments[0].bytes + segments[1].bytes);

    // The mirror follows: retired copies go, the retention list comes along.
    let down = remote.download(&cache, None).await.unwrap();
    assert_eq!(down.removed, retired);
    assert_eq!(cache.retired().unwrap(), listed);
    // A download from a later segment drops the cached ones before it.
    let down = remote.download(&cache, Some(segments[3].id)).await.unwrap();
    assert_eq!(down.removed, [segments[2].id]);
    assert_eq!(cache.segments().unwrap()[0].id, segments[3].id);
}

#[tokio::test]
async fn a_cached_segment_that_differs_is_fetched_again() {
    let (_dir, local) = local_with_pages(4);
    let written = urls(&local);
    let (_memory, remote) = remote();
    remote.upload_sealed(&local, false).await.unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = PageStore::open(cache_dir.path()).unwrap();
    remote.download(&cache, None).await.unwrap();
    let first = cache.segments().unwrap().remove(0);
    fs::write(&first.path, b"truncated").unwrap();
    let down = remote.download(&cache, None).await.unwrap();
    assert_eq!(down.segments, [first.id]);
    assert_eq!(urls(&cache), written);
    let leftovers: Vec<_> = fs::read_dir(cache_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn store_urls_are_checked() {
    for bad in [
        "http://bucket/prefix",
        "s3://",
        "s3:///prefix",
        "s3://bucket/prefix?x=1",
        "not a url",
    ] {
        assert!(
            matches!(
                RemoteStore::open(bad),
                Err(StoreError::InvalidStoreUrl { .. })
            ),
            "{bad}"
        );
    }
    let store = RemoteStore::open("s3://bucket/crawl/pages/").unwrap();
    assert_eq!(store.url(), "s3://bucket/crawl/pages");
    assert_eq!(store.prefix.as_ref(), "crawl/pages");
}
