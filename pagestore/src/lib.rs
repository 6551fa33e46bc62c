//! Quarry's page store: the log between the crawler and the indexer.
//!
//! Pages are appended to rolling WARC 1.1 segment files, `DIR/segment-000001.warc.gz`,
//! `segment-000002.warc.gz`, …, with **one gzip member per WARC record**, so any record can be
//! read by its offset. Each segment opens with a `warcinfo` record; each page is a `response`
//! record followed by its `request` record, linked both ways by `WARC-Concurrent-To`, with
//! SHA-1 block and payload digests. The files are standard WARC: warcio, wget and Common Crawl
//! tools read ours, and [`read_warc_file`] reads theirs.
//!
//! One [`SegmentWriter`] appends (it holds `DIR/LOCK` and cuts a torn tail on open); any
//! number of readers iterate with [`PageStore::records`], resuming from a
//! [`RecordPosition`] kept as a per-consumer checkpoint.
//!
//! ```
//! use std::time::SystemTime;
//! use quarry_pagestore::{PageRecord, PageStore, WriterOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! let store = PageStore::open(tmp.path())?;
//! let mut writer = store.writer(WriterOptions::default())?;
//! let page = PageRecord {
//!     url: "https://example.com/".into(),
//!     fetched_at: SystemTime::now(),
//!     status: 200,
//!     headers: vec![("Content-Type".into(), "text/html".into())],
//!     body: b"<title>Example</title>".to_vec(),
//!     ip: None,
//!     request_headers: vec![("Host".into(), "example.com".into())],
//! };
//! let position = writer.append(&page)?;
//! writer.sync()?; // durable from here on
//!
//! let start = store.load_checkpoint("indexer")?;
//! let mut records = store.records(start)?;
//! for item in &mut records {
//!     let (at, read) = item?;
//!     assert_eq!((at, &read), (position, &page.stored_form()));
//! }
//! if let Some(next) = records.resume_position() {
//!     store.save_checkpoint("indexer", next)?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod charset;
mod checkpoint;
mod error;
mod exchange;
mod http;
mod import;
mod record;
mod remote;
mod retention;
mod segment;
mod store;
mod warc;
mod writer;

pub use error::StoreError;
pub use import::{WarcFileRecords, read_warc_file};
pub use record::{NOINDEX_HEADER, PageRecord, RecordPosition, SegmentId};
pub use remote::{RemoteSegment, RemoteStore, Transfer};
pub use retention::Retired;
pub use segment::SegmentInfo;
pub use store::{PageStore, Records};
pub use writer::{DEFAULT_SEGMENT_MAX_BYTES, Recovery, SegmentWriter, WriterOptions};
