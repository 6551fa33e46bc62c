//! HTTP messages inside WARC blocks: building the request and response blocks we write, and
//! parsing the blocks any writer produced.
//!
//! The crawler hands over a body that is already de-chunked and content-decoded, with the
//! headers as received. Writing such a body under `Transfer-Encoding: chunked` or
//! `Content-Encoding: gzip` would make every WARC reader decode it a second time, so — as Common
//! Crawl does — those headers are stored renamed with an `X-Crawler-` prefix, and so is a
//! `Content-Length` that does not match the stored body. Reading reverses the renaming, which is
//! made unambiguous by giving a header that already carries the prefix one more.

use std::borrow::Cow;
use std::io::Read;

use crate::warc::{MAX_RECORD_BYTES, decode_text, trim_eol, trim_ows};

/// The prefix of headers whose meaning no longer matches the stored body.
const RENAME_PREFIX: &str = "X-Crawler-";

/// Headers that describe the transfer rather than the stored body.
const TRANSFER_HEADERS: [&str; 3] = ["Content-Encoding", "Transfer-Encoding", "Content-Length"];

/// An HTTP message parsed from a WARC block.
#[derive(Debug)]
pub(crate) struct HttpMessage<'a> {
    /// The request or status line.
    pub start_line: String,
    /// Header fields in order, values trimmed, folded lines joined.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the header.
    pub body: &'a [u8],
}

impl HttpMessage<'_> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a block into start line, headers and body. Never fails: a block without a blank line
/// is all header and has an empty body; lines without a colon are dropped.
pub(crate) fn parse_message(block: &[u8]) -> HttpMessage<'_> {
    let mut start_line = None;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    let mut body: &[u8] = &[];
    while pos < block.len() {
        let (line, next) = match block[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&block[pos..pos + i + 1], pos + i + 1),
            None => (&block[pos..], block.len()),
        };
        pos = next;
        let line = trim_eol(line);
        if line.is_empty() {
            if start_line.is_none() {
                // Blank lines before the start line are tolerated, as HTTP parsers do.
                continue;
            }
            body = &block[pos..];
            break;
        }
        if start_line.is_none() {
            start_line = Some(decode_text(trim_ows(line)));
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, value)) = headers.last_mut() {
                let more = decode_text(trim_ows(line));
                if !more.is_empty() {
                    value.push(' ');
                    value.push_str(&more);
                }
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = decode_text(trim_ows(&line[..colon]));
        if !name.is_empty() {
            headers.push((name, decode_text(trim_ows(&line[colon + 1..]))));
        }
    }
    HttpMessage {
        start_line: start_line.unwrap_or_default(),
        headers,
        body,
    }
}

/// The status code of a status line such as `HTTP/1.1 404 Not Found`.
pub(crate) fn parse_status(start_line: &str) -> Result<u16, String> {
    let mut parts = start_line.split_ascii_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.to_ascii_uppercase().starts_with("HTTP/") {
        return Err(format!("not an http status line: {start_line:?}"));
    }
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad http status code in {start_line:?}"));
    }
    code.parse()
        .map_err(|_| format!("bad http status code in {start_line:?}"))
}

/// Checks a header name (an HTTP token) and value (no CR, LF or NUL) before writing.
pub(crate) fn validate_header(name: &str, value: &str) -> Result<(), String> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("header name {name:?} is not an http token"));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        return Err(format!("value of header {name} contains CR, LF or NUL"));
    }
    Ok(())
}

/// `name` with its `X-Crawler-` prefixes (any case) removed.
fn without_prefixes(mut name: &str) -> &str {
    while name.len() > RENAME_PREFIX.len()
        && name.is_char_boundary(RENAME_PREFIX.len())
        && name[..RENAME_PREFIX.len()].eq_ignore_ascii_case(RENAME_PREFIX)
    {
        name = &name[RENAME_PREFIX.len()..];
    }
    name
}

fn is_transfer_header(name: &str) -> bool {
    TRANSFER_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// The name a response header is stored under (see the module docs).
fn stored_name<'a>(name: &'a str, value: &str, body_len: usize) -> Cow<'a, str> {
    let base = without_prefixes(name);
    if !is_transfer_header(base) {
        return Cow::Borrowed(name);
    }
    let plain_matching_length = base.len() == name.len()
        && name.eq_ignore_ascii_case("Content-Length")
        && value.trim() == body_len.to_string();
    if plain_matching_length {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{RENAME_PREFIX}{name}"))
    }
}

/// The original name of a stored response header: the inverse of [`stored_name`].
pub(crate) fn original_name(stored: String) -> String {
    let base = without_prefixes(&stored);
    if base.len() < stored.len() && is_transfer_header(base) {
        stored[RENAME_PREFIX.len()..].to_owned()
    } else {
        stored
    }
}

/// Builds a response block: status line, headers (renamed where needed), blank line, body.
/// Returns the block and the offset of the body in it.
pub(crate) fn response_block(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(Vec<u8>, usize), String> {
    if !(100..=999).contains(&status) {
        return Err(format!("http status {status} is not a three-digit code"));
    }
    let mut out = Vec::with_capacity(body.len() + 64 * (headers.len() + 1));
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    for (name, value) in headers {
        validate_header(name, value)?;
        let value = value.trim_matches([' ', '\t']);
        push_header(&mut out, &stored_name(name, value, body.len()), value);
    }
    out.extend_from_slice(b"\r\n");
    let body_offset = out.len();
    out.extend_from_slice(body);
    Ok((out, body_offset))
}

/// Builds a request block: `GET <target> HTTP/1.1`, the headers as given, blank line.
pub(crate) fn request_block(url: &str, headers: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 * (headers.len() + 1));
    out.extend_from_slice(format!("GET {} HTTP/1.1\r\n", request_target(url)).as_bytes());
    for (name, value) in headers {
        validate_header(name, value)?;
        push_header(&mut out, name, value.trim_matches([' ', '\t']));
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The origin-form request target of an absolute URL (path and query, no fragment), with bytes
/// that may not appear on a request line percent-encoded. A URL without `://` is used whole.
fn request_target(url: &str) -> String {
    let target = match url.split_once("://") {
        Some((_, rest)) => {
            let rest = rest.split('#').next().unwrap_or_default();
            match rest.find(['/', '?']) {
                Some(i) if rest[i..].starts_with('?') => format!("/{}", &rest[i..]),
                Some(i) => rest[i..].to_owned(),
                None => "/".to_owned(),
            }
        }
        None => url.to_owned(),
    };
    let mut out = String::with_capacity(target.len());
    for b in target.bytes() {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The standard reason phrase of `status`, or empty (allowed by RFC 9112) for others.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The body of a response as a page body: de-chunked and content-decoded according to the
/// headers actually present in the block (other tools store raw transfer bytes; our own records
/// never carry these headers un-renamed, so their bodies pass through untouched).
pub(crate) fn decoded_body(message: &HttpMessage<'_>) -> Vec<u8> {
    let chunked = message
        .header("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(message.body).unwrap_or_else(|| message.body.to_vec())
    } else {
        message.body.to_vec()
    };
    match message.header("Content-Encoding") {
        Some(coding) => content_decode(coding, &body).unwrap_or(body),
        None => body,
    }
}

/// Decodes `Transfer-Encoding: chunked` data. Chunk extensions and trailers are ignored; data
/// that ends early yields what was complete so far. `None` when the data is not chunked at all,
/// so the caller can keep the raw bytes (as warcio does).
pub(crate) fn dechunk(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut pos = 0;
    loop {
        if pos >= data.len() {
            return Some(out);
        }
        let line_end = match data[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => pos + i,
            // No complete size line at all: not chunked.
            None if pos == 0 => return None,
            None => return Some(out),
        };
        let line = trim_eol(&data[pos..=line_end]);
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(trim_ows(size_text)).ok()?;
        if size_text.is_empty() || size_text.len() > 15 {
            return None;
        }
        let size = usize::from_str_radix(size_text, 16).ok()?;
        pos = line_end + 1;
        if size == 0 {
            return Some(out);
        }
        let end = pos.saturating_add(size).min(data.len());
        out.extend_from_slice(&data[pos..end]);
        pos = end;
        // The CRLF after the chunk data; tolerate a bare LF or none.
        if data[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if data[pos..].starts_with(b"\n") {
            pos += 1;
        }
    }
}

/// Decodes `gzip`, `x-gzip` and `deflate` (zlib or raw) content; `None` for other codings or
/// data that does not decode.
fn content_decode(coding: &str, data: &[u8]) -> Option<Vec<u8>> {
    let coding = coding.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let limit = MAX_RECORD_BYTES + 1;
    let ok = match coding.as_str() {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .is_ok(),
        "deflate" => {
            let zlib = flate2::read::ZlibDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .is_ok();
            zlib || {
                out.clear();
                flate2::read::DeflateDecoder::new(data)
                    .take(limit)
                    .read_to_end(&mut out)
                    .is_ok()
            }
        }
        _ => false,
    };
    (ok && (out.len() as u64) < limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn response_block_parses_back() {
        let headers = pairs(&[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Unicode", "ünï ☃"),
            ("X-Empty", ""),
        ]);
        let (block, offset) = response_block(404, &headers, b"<p>gone</p>").unwrap();
        assert!(block.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert_eq!(&block[offset..], b"<p>gone</p>");
        let message = parse_message(&block);
        assert_eq!(parse_status(&message.start_line).unwrap(), 404);
        assert_eq!(message.headers, headers);
        assert_eq!(message.body, b"<p>gone</p>");
    }

    #[test]
    fn transfer_headers_are_renamed_and_restored() {
        let headers = pairs(&[
            ("Content-Encoding", "gzip"),
            ("transfer-encoding", "chunked"),
            ("Content-Length", "999"),
            ("Content-Length", "4"),
            ("X-Crawler-Content-Length", "7"),
            ("x-crawler-X-CRAWLER-content-encoding", "br"),
            ("X-Crawler-Other", "kept"),
        ]);
        let (block, _) = response_block(200, &headers, b"body").unwrap();
        let message = parse_message(&block);
        let stored: Vec<&str> = message.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            stored,
            [
                "X-Crawler-Content-Encoding",
                "X-Crawler-transfer-encoding",
                "X-Crawler-Content-Length",
                "Content-Length",
                "X-Crawler-X-Crawler-Content-Length",
                "X-Crawler-x-crawler-X-CRAWLER-content-encoding",
                "X-Crawler-Other",
            ]
        );
        // Nothing that would make a reader decode the stored body again.
        assert_eq!(decoded_body(&message), b"body");
        let restored: Vec<(String, String)> = message
            .headers
            .into_iter()
            .map(|(n, v)| (original_name(n), v))
            .collect();
        assert_eq!(restored, headers);
    }

    #[test]
    fn invalid_headers_and_statuses_are_rejected() {
        assert!(response_block(99, &[], b"").is_err());
        assert!(response_block(1000, &[], b"").is_err());
        for (name, value) in [
            ("Bad Name", "v"),
            ("", "v"),
            ("Ok", "a\r\nb"),
            ("Ok", "nul\0"),
        ] {
            assert!(
                response_block(200, &pairs(&[(name, value)]), b"").is_err(),
                "{name:?}"
            );
            assert!(
                request_block("http://a/", &pairs(&[(name, value)])).is_err(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn request_line_uses_origin_form_and_percent_encodes() {
        let block = request_block(
            "https://example.com/ä b?q=1#frag",
            &pairs(&[("Host", "example.com")]),
        )
        .unwrap();
        assert_eq!(
            block,
            b"GET /%C3%A4%20b?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
        );
        assert!(request_target("http://example.com").eq("/"));
        assert!(request_target("http://example.com?x").eq("/?x"));
    }

    #[test]
    fn chunked_bodies_are_dechunked() {
        let raw =
            b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(dechunk(raw).unwrap(), b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(dechunk(b"3\nabc\n0\n\n").unwrap(), b"abc");
        assert_eq!(dechunk(b"5\r\nab").unwrap(), b"ab");
        assert_eq!(dechunk(b"<html>not chunked"), None);
        let block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(decoded_body(&parse_message(block)), b"abc");
        let block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot chunked";
        assert_eq!(decoded_body(&parse_message(block)), b"not chunked");
    }

    #[test]
    fn gzip_content_is_decoded_and_bad_gzip_kept() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello gzip").unwrap();
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        block.extend_from_slice(&gz.finish().unwrap());
        assert_eq!(decoded_body(&parse_message(&block)), b"hello gzip");
        let block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nplain";
        assert_eq!(decoded_body(&parse_message(block)), b"plain");
    }

    #[test]
    fn lenient_parsing_of_odd_blocks() {
        let message = parse_message(b"HTTP/1.0 200\nA: 1\n folded\nnocolon\n\nbody");
        assert_eq!(parse_status(&message.start_line).unwrap(), 200);
        assert_eq!(message.headers, pairs(&[("A", "1 folded")]));
        assert_eq!(message.body, b"body");
        let message = parse_message(b"HTTP/1.1 301 Moved\r\nLocation: /x");
        assert_eq!(message.header("location"), Some("/x"));
        assert!(message.body.is_empty());
        assert!(parse_status("ICY 200 OK").is_err());
        assert!(parse_status("HTTP/1.1 2000 OK").is_err());
        assert!(parse_status("").is_err());
    }
}
