//! The page record and the identifiers of where it lives.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The response header the crawler adds to the bodiless record it stores for a page that
/// asked not to be indexed (`noindex`): the indexer then removes an earlier version of it.
pub const NOINDEX_HEADER: &str = "X-Crawler-Noindex";

/// A fetched page as the crawler hands it over and the indexer reads it back.
///
/// Writing a page and reading it back yields [`PageRecord::stored_form`] of it, which differs
/// from the original only in two documented normalisations: `fetched_at` is truncated to whole
/// seconds (WARC-Date is written as `YYYY-MM-DDThh:mm:ssZ`) and header values lose leading and
/// trailing spaces and tabs (HTTP parsers drop them anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    /// The final URL fetched; stored as `WARC-Target-URI`. Must not be empty or contain
    /// whitespace or control characters; non-ASCII characters are kept as UTF-8.
    pub url: String,
    /// When the page was fetched; stored as `WARC-Date` in whole seconds (truncated toward the
    /// past), between years 0000 and 9999.
    pub fetched_at: SystemTime,
    /// HTTP status code, `100..=999`.
    pub status: u16,
    /// Response headers in order, as received. Names must be HTTP tokens; values must not
    /// contain CR, LF or NUL.
    pub headers: Vec<(String, String)>,
    /// Response payload, already content-decoded (and de-chunked) by the crawler.
    pub body: Vec<u8>,
    /// The server's address; stored as `WARC-IP-Address`.
    pub ip: Option<IpAddr>,
    /// Request headers sent, in order; stored in the `request` record.
    pub request_headers: Vec<(String, String)>,
}

impl PageRecord {
    /// The value of the first response header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Type` response header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// This page as it reads back from the store after being written: `fetched_at` truncated
    /// to whole seconds and header values trimmed of spaces and tabs.
    pub fn stored_form(&self) -> PageRecord {
        let trim = |headers: &[(String, String)]| {
            headers
                .iter()
                .map(|(n, v)| (n.clone(), v.trim_matches([' ', '\t']).to_owned()))
                .collect()
        };
        PageRecord {
            url: self.url.clone(),
            fetched_at: truncate_to_seconds(self.fetched_at),
            status: self.status,
            headers: trim(&self.headers),
            body: self.body.clone(),
            ip: self.ip,
            request_headers: trim(&self.request_headers),
        }
    }
}

/// `t` rounded down to a whole second (toward the past, also before 1970).
pub(crate) fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after.as_secs()),
        Err(before) => {
            let before = before.duration();
            let whole = if before.subsec_nanos() > 0 {
                before.as_secs().saturating_add(1)
            } else {
                before.as_secs()
            };
            UNIX_EPOCH - Duration::from_secs(whole)
        }
    }
}

/// The number of a segment file: `SegmentId(7)` is `segment-000007.warc.gz`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SegmentId(pub u32);

impl SegmentId {
    /// The segment's file name inside the store directory, e.g. `segment-000001.warc.gz`.
    pub fn file_name(self) -> String {
        format!("segment-{:06}.warc.gz", self.0)
    }

    /// Parses a name written by [`SegmentId::file_name`]; any other name gives `None`.
    pub fn from_file_name(name: &str) -> Option<SegmentId> {
        let digits = name.strip_prefix("segment-")?.strip_suffix(".warc.gz")?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id = SegmentId(digits.parse().ok()?);
        // Only the canonical spelling, so two names never map to one id.
        (id.file_name() == name).then_some(id)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// Where a record starts: segment and byte offset of its gzip member.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RecordPosition {
    /// The segment file.
    pub segment: SegmentId,
    /// Byte offset of the record's gzip member in the segment file.
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_is_case_insensitive_and_first_wins() {
        let page = PageRecord {
            url: "http://example.com/".into(),
            fetched_at: UNIX_EPOCH,
            status: 200,
            headers: vec![
                ("content-type".into(), "text/html".into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            body: vec![],
            ip: None,
            request_headers: vec![],
        };
        assert_eq!(page.header("CONTENT-TYPE"), Some("text/html"));
        assert_eq!(page.content_type(), Some("text/html"));
        assert_eq!(page.header("missing"), None);
    }

    #[test]
    fn truncation_rounds_toward_the_past() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(truncate_to_seconds(t), UNIX_EPOCH + Duration::from_secs(1));
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(truncate_to_seconds(t), UNIX_EPOCH - Duration::from_secs(2));
        let t = UNIX_EPOCH - Duration::from_secs(3);
        assert_eq!(truncate_to_seconds(t), t);
    }

    #[test]
    fn segment_file_names_round_trip() {
        assert_eq!(SegmentId(1).file_name(), "segment-000001.warc.gz");
        assert_eq!(SegmentId(1_234_567).file_name(), "segment-1234567.warc.gz");
        for id in [0, 1, 999_999, 1_000_000, u32::MAX] {
            let name = SegmentId(id).file_name();
            assert_eq!(SegmentId::from_file_name(&name), Some(SegmentId(id)));
        }
        for bad in [
            "segment-1.warc.gz",
            "segment-00000a.warc.gz",
            "segment-000001.warc",
            "segment-+00001.warc.gz",
            "LOCK",
        ] {
            assert_eq!(SegmentId::from_file_name(bad), None, "{bad}");
        }
        assert!(SegmentId::from_file_name("segment-000001.warc.gz").unwrap() < SegmentId(2));
    }
}
