//! A page as a WARC request/response exchange: turning a [`PageRecord`] into the two records
//! we write, and a response record (with its request, when found) back into a page.

use std::time::SystemTime;

use crate::error::StoreError;
use crate::http;
use crate::record::PageRecord;
use crate::warc::{self, MAX_RECORD_BYTES, WarcRecord};

/// `Content-Type` of response records.
const RESPONSE_CONTENT_TYPE: &str = "application/http;msgtype=response";
/// `Content-Type` of request records.
const REQUEST_CONTENT_TYPE: &str = "application/http;msgtype=request";
/// The `software` line of our warcinfo records.
pub(crate) const SOFTWARE: &str = "quarry/0.1";

/// A validated page, ready to be serialised as a response record followed by its request
/// record (the order warcio's `write_request_response_pair` uses, so the request is found by
/// reading forward from the response's offset).
#[derive(Debug)]
pub(crate) struct Exchange {
    response_id: String,
    request_id: String,
    date: String,
    url: String,
    ip: Option<String>,
    response_block: Vec<u8>,
    payload_offset: usize,
    request_block: Vec<u8>,
}

impl Exchange {
    /// Validates `page` and builds both HTTP blocks.
    ///
    /// # Errors
    /// [`StoreError::BadRecord`] for a page that cannot be written faithfully: an empty URL or
    /// one with whitespace or control characters, a status outside `100..=999`, a header that is
    /// not a token or has a line break, a fetch time outside the years 0000–9999, or a record
    /// over the size limit.
    pub fn new(page: &PageRecord) -> Result<Exchange, StoreError> {
        if page.url.is_empty() {
            return Err(StoreError::bad_record("url is empty"));
        }
        if page
            .url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(StoreError::bad_record(format!(
                "url {:?} contains whitespace or control characters",
                page.url
            )));
        }
        let date = warc::format_warc_date(page.fetched_at).map_err(StoreError::bad_record)?;
        let (response_block, payload_offset) =
            http::response_block(page.status, &page.headers, &page.body)
                .map_err(StoreError::bad_record)?;
        let request_block = http::request_block(&page.url, &page.request_headers)
            .map_err(StoreError::bad_record)?;
        // Room for the WARC header, so the record reads back under the reader's limit.
        let header_room = 64 * 1024 + page.url.len() as u64;
        if response_block.len() as u64 + header_room > MAX_RECORD_BYTES {
            return Err(StoreError::bad_record(format!(
                "page of {} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit",
                response_block.len()
            )));
        }
        Ok(Exchange {
            response_id: warc::new_record_id(),
            request_id: warc::new_record_id(),
            date,
            url: page.url.clone(),
            ip: page.ip.map(|ip| ip.to_string()),
            response_block,
            payload_offset,
            request_block,
        })
    }

    /// The response record, linked to the request record and to `warcinfo_id` when known.
    pub fn response_record(&self, warcinfo_id: Option<&str>) -> WarcRecord {
        let payload = &self.response_block[self.payload_offset..];
        self.record(
            "response",
            &self.response_id,
            &self.request_id,
            warcinfo_id,
            RESPONSE_CONTENT_TYPE,
            self.response_block.clone(),
            payload,
        )
    }

    /// The request record, linked to the response record.
    pub fn request_record(&self, warcinfo_id: Option<&str>) -> WarcRecord {
        self.record(
            "request",
            &self.request_id,
            &self.response_id,
            warcinfo_id,
            REQUEST_CONTENT_TYPE,
            self.request_block.clone(),
            b"",
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "private builder shared by both record kinds"
    )]
    fn record(
        &self,
        kind: &str,
        id: &str,
        concurrent_to: &str,
        warcinfo_id: Option<&str>,
        content_type: &str,
        block: Vec<u8>,
        payload: &[u8],
    ) -> WarcRecord {
        let mut fields = vec![
            ("WARC-Type".to_owned(), kind.to_owned()),
            ("WARC-Record-ID".to_owned(), id.to_owned()),
        ];
        if let Some(warcinfo_id) = warcinfo_id {
            fields.push(("WARC-Warcinfo-ID".to_owned(), warcinfo_id.to_owned()));
        }
        fields.push(("WARC-Date".to_owned(), self.date.clone()));
        fields.push(("WARC-Target-URI".to_owned(), self.url.clone()));
        fields.push(("WARC-Concurrent-To".to_owned(), concurrent_to.to_owned()));
        if let Some(ip) = &self.ip {
            fields.push(("WARC-IP-Address".to_owned(), ip.clone()));
        }
        fields.push(("WARC-Block-Digest".to_owned(), warc::sha1_digest(&block)));
        fields.push(("WARC-Payload-Digest".to_owned(), warc::sha1_digest(payload)));
        fields.push(("Content-Type".to_owned(), content_type.to_owned()));
        WarcRecord { fields, block }
    }
}

/// The warcinfo record that opens each segment, and its id.
pub(crate) fn warcinfo_record(file_name: &str, now: SystemTime) -> (String, WarcRecord) {
    let id = warc::new_record_id();
    let block = format!(
        "software: {SOFTWARE}\r\nformat: WARC File Format 1.1\r\n\
         conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
    )
    .into_bytes();
    let mut fields = vec![
        ("WARC-Type".to_owned(), "warcinfo".to_owned()),
        ("WARC-Record-ID".to_owned(), id.clone()),
    ];
    // The clock cannot be outside 0000-9999 in practice; the field is optional, so skip it then.
    if let Ok(date) = warc::format_warc_date(now) {
        fields.push(("WARC-Date".to_owned(), date));
    }
    fields.push(("WARC-Filename".to_owned(), file_name.to_owned()));
    fields.push(("WARC-Block-Digest".to_owned(), warc::sha1_digest(&block)));
    fields.push((
        "Content-Type".to_owned(),
        "application/warc-fields".to_owned(),
    ));
    (id, WarcRecord { fields, block })
}

/// Whether `record` is a response holding an HTTP message (not e.g. Heritrix's `dns:` responses).
pub(crate) fn is_http_response(record: &WarcRecord) -> bool {
    if !record.is_type("response") {
        return false;
    }
    match record.field("Content-Type") {
        Some(ct) => ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/http"),
        None => record.block.starts_with(b"HTTP/"),
    }
}

/// Whether `request` is the request record of `response`: linked by `WARC-Concurrent-To` in
/// either direction.
pub(crate) fn is_request_of(request: &WarcRecord, response: &WarcRecord) -> bool {
    if !request.is_type("request") {
        return false;
    }
    let (Some(request_id), Some(response_id)) = (request.record_id(), response.record_id()) else {
        return false;
    };
    request
        .fields_named("WARC-Concurrent-To")
        .any(|id| id.trim() == response_id.trim())
        || response
            .fields_named("WARC-Concurrent-To")
            .any(|id| id.trim() == request_id.trim())
}

/// Whether two records name the same target URI (the fallback pairing for files that do not
/// link request and response).
pub(crate) fn same_target(a: &WarcRecord, b: &WarcRecord) -> bool {
    match (a.field("WARC-Target-URI"), b.field("WARC-Target-URI")) {
        (Some(a), Some(b)) => warc::strip_angle_brackets(a) == warc::strip_angle_brackets(b),
        _ => false,
    }
}

/// Turns a response record (and its request record, if found) into a page.
///
/// The body is de-chunked and content-decoded when the stored HTTP headers say it is still
/// encoded (other tools' files); header names renamed by our writer are restored.
///
/// # Errors
/// A reason string when the record lacks a target URI or a readable date, or its block is not
/// an HTTP response.
pub(crate) fn decode_page(
    response: &WarcRecord,
    request: Option<&WarcRecord>,
) -> Result<PageRecord, String> {
    let url = response
        .field("WARC-Target-URI")
        .map(warc::strip_angle_brackets)
        .ok_or("response record without WARC-Target-URI")?
        .to_owned();
    let date = response
        .field("WARC-Date")
        .ok_or("response record without WARC-Date")?;
    let fetched_at =
        warc::parse_warc_date(date).ok_or_else(|| format!("unreadable WARC-Date {date:?}"))?;
    let ip = response
        .field("WARC-IP-Address")
        .and_then(|ip| ip.trim().parse().ok());
    let message = http::parse_message(&response.block);
    let status = http::parse_status(&message.start_line)?;
    let body = http::decoded_body(&message);
    let headers = message
        .headers
        .into_iter()
        .map(|(name, value)| (http::original_name(name), value))
        .collect();
    let request_headers = request
        .map(|r| http::parse_message(&r.block).headers)
        .unwrap_or_default();
    Ok(PageRecord {
        url,
        fetched_at,
        status,
        headers,
        body,
        ip,
        request_headers,
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn page() -> PageRecord {
        PageRecord {
            url: "https://example.com/a?b=c".into(),
            fetched_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            status: 200,
            headers: vec![
                ("Content-Type".into(), " text/html ".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: b"<html>hi</html>".to_vec(),
            ip: Some("2001:db8::1".parse::<IpAddr>().unwrap()),
            request_headers: vec![("User-Agent".into(), "quarry".into())],
        }
    }

    #[test]
    fn exchange_round_trips_to_the_stored_form() {
        let page = page();
        let exchange = Exchange::new(&page).unwrap();
        let response = exchange.response_record(Some("<urn:uuid:x>"));
        let request = exchange.request_record(None);
        assert!(is_http_response(&response));
        assert!(is_request_of(&request, &response));
        assert_eq!(response.field("WARC-Warcinfo-ID"), Some("<urn:uuid:x>"));
        assert_eq!(response.field("WARC-IP-Address"), Some("2001:db8::1"));
        assert_eq!(response.field("WARC-Date"), Some("2023-11-14T22:13:20Z"));
        assert_eq!(
            response.field("WARC-Payload-Digest").unwrap(),
            warc::sha1_digest(&page.body)
        );
        assert_eq!(
            response.field("WARC-Block-Digest").unwrap(),
            warc::sha1_digest(&response.block)
        );
        assert_eq!(
            request.field("WARC-Payload-Digest"),
            Some("sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ")
        );
        let back = decode_page(&response, Some(&request)).unwrap();
        assert_eq!(back, page.stored_form());
        assert_ne!(back, page, "time and header whitespace are normalised");
    }

    #[test]
    fn unrelated_records_are_not_paired() {
        let a = Exchange::new(&page()).unwrap();
        let b = Exchange::new(&page()).unwrap();
        assert!(!is_request_of(
            &b.request_record(None),
            &a.response_record(None)
        ));
        assert!(!is_request_of(
            &a.response_record(None),
            &a.response_record(None)
        ));
        assert!(same_target(
            &b.request_record(None),
            &a.response_record(None)
        ));
    }

    #[test]
    fn invalid_pages_are_rejected() {
        let cases: [fn(&mut PageRecord); 7] = [
            |p| p.url = String::new(),
            |p| p.url = "http://a/b c".into(),
            |p| p.url = "http://a/\r\nWARC-Type: x".into(),
            |p| p.status = 42,
            |p| p.headers.push(("X".into(), "a\nb".into())),
            |p| p.request_headers.push(("Bad Name".into(), "v".into())),
            |p| p.fetched_at = UNIX_EPOCH + Duration::from_secs(400_000_000_000),
        ];
        for (i, change) in cases.iter().enumerate() {
            let mut p = page();
            change(&mut p);
            assert!(
                matches!(Exchange::new(&p), Err(StoreError::BadRecord { .. })),
                "case {i}"
            );
        }
    }

    #[test]
    fn warcinfo_names_the_software_and_format() {
        let (id, record) = warcinfo_record("segment-000001.warc.gz", SystemTime::now());
        assert_eq!(record.record_id(), Some(id.as_str()));
        let text = String::from_utf8(record.block).unwrap();
        assert!(text.contains("software: quarry/0.1\r\n"));
        assert!(text.contains("format: WARC File Format 1.1\r\n"));
        assert_eq!(record.fields[3].1, "segment-000001.warc.gz");
    }

    #[test]
    fn non_http_responses_are_recognised() {
        let dns = WarcRecord {
            fields: vec![
                ("WARC-Type".into(), "response".into()),
                ("Content-Type".into(), "text/dns".into()),
            ],
            block: b"20240101 example.com. 300 IN A 1.2.3.4".to_vec(),
        };
        assert!(!is_http_response(&dns));
        let untyped = WarcRecord {
            fields: vec![("WARC-Type".into(), "response".into())],
            block: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        };
        assert!(is_http_response(&untyped));
    }
}
