//! WARC record encoding and decoding (the format, not the files): version line, named fields,
//! block, digests and dates.
//!
//! Writing follows WARC 1.1 exactly (`WARC/1.1`, CRLF line ends, `Content-Length`, the block and
//! a CRLF CRLF trailer). Reading is lenient where other writers are known to differ: any
//! `WARC/x.y` version, bare-LF line ends, folded field lines, blank lines between records, and a
//! missing trailer (reported, so strict callers can reject it).

use std::io::{self, BufRead, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// The largest record (header and block, uncompressed) that is written or read.
pub(crate) const MAX_RECORD_BYTES: u64 = 512 * 1024 * 1024;

/// The longest single header line read before giving up on a record.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The most header lines read before giving up on a record.
const MAX_HEADER_LINES: usize = 1024;

/// The WARC version this crate writes.
const WARC_VERSION_LINE: &[u8] = b"WARC/1.1\r\n";

/// One WARC record: its named fields in file order and its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WarcRecord {
    /// Named fields, in order, including `Content-Length` when parsed.
    pub fields: Vec<(String, String)>,
    /// The record block (`Content-Length` bytes).
    pub block: Vec<u8>,
}

impl WarcRecord {
    /// The first field named `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All fields named `name` (case-insensitive), in order.
    pub fn fields_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, if present.
    pub fn record_type(&self) -> Option<&str> {
        self.field("WARC-Type")
    }

    /// Whether `WARC-Type` equals `kind` (case-insensitive).
    pub fn is_type(&self, kind: &str) -> bool {
        self.record_type()
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    }

    /// `WARC-Record-ID`, if present.
    pub fn record_id(&self) -> Option<&str> {
        self.field("WARC-Record-ID")
    }

    /// Serialises the record as WARC 1.1. `Content-Length` is computed from the block; any
    /// `Content-Length` among `fields` is skipped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.block.len() + 512);
        out.extend_from_slice(WARC_VERSION_LINE);
        for (name, value) in &self.fields {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            push_field(&mut out, name, value);
        }
        push_field(&mut out, "Content-Length", &self.block.len().to_string());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A record as read, with whether its CRLF CRLF trailer was complete.
#[derive(Debug)]
pub(crate) struct ParsedRecord {
    /// The record.
    pub record: WarcRecord,
    /// `true` when the block was followed by exactly `\r\n\r\n`.
    pub trailer_complete: bool,
}

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// The input ended inside the record.
    Truncated(&'static str),
    /// The bytes are not a WARC record.
    Invalid(String),
    /// Reading the input failed.
    Io(io::Error),
}

impl ParseError {
    /// A one-line description for error messages.
    pub fn reason(&self) -> String {
        match self {
            ParseError::Truncated(what) => format!("truncated record: {what}"),
            ParseError::Invalid(why) => why.clone(),
            ParseError::Io(e) => format!("read failed: {e}"),
        }
    }
}

/// Reads one record from `input`.
///
/// Blank lines before the record are skipped. Returns `Ok(None)` at a clean end of input (only
/// blank lines or nothing left). After the block, up to four CR/LF bytes are consumed as the
/// trailer.
pub(crate) fn read_record<R: BufRead>(input: &mut R) -> Result<Option<ParsedRecord>, ParseError> {
    let version = loop {
        let line = read_line(input)?;
        match line {
            None => return Ok(None),
            Some(line) if trim_eol(&line).is_empty() => continue,
            Some(line) => break line,
        }
    };
    if !version.starts_with(b"WARC/") {
        if version.last() != Some(&b'\n') && b"WARC/".starts_with(&version) {
            return Err(ParseError::Truncated("inside the version line"));
        }
        return Err(ParseError::Invalid("missing WARC/ version line".into()));
    }
    if version.last() != Some(&b'\n') {
        return Err(ParseError::Truncated("inside the version line"));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let Some(line) = read_line(input)? else {
            return Err(ParseError::Truncated("inside the header"));
        };
        if line.last() != Some(&b'\n') {
            return Err(ParseError::Truncated("inside the header"));
        }
        let line = trim_eol(&line);
        if line.is_empty() {
            break;
        }
        if fields.len() >= MAX_HEADER_LINES {
            return Err(ParseError::Invalid("too many header fields".into()));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // A folded continuation of the previous field.
            let Some((_, value)) = fields.last_mut() else {
                return Err(ParseError::Invalid(
                    "header starts with a continuation".into(),
                ));
            };
            let more = decode_text(trim_ows(line));
            if !more.is_empty() {
                value.push(' ');
                value.push_str(&more);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(ParseError::Invalid("header line without a colon".into()));
        };
        let name = decode_text(trim_ows(&line[..colon]));
        if name.is_empty() {
            return Err(ParseError::Invalid(
                "header field with an empty name".into(),
            ));
        }
        fields.push((name, decode_text(trim_ows(&line[colon + 1..]))));
    }
    let length = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .ok_or_else(|| ParseError::Invalid("missing Content-Length".into()))?
        .1
        .parse::<u64>()
        .map_err(|_| ParseError::Invalid("Content-Length is not a number".into()))?;
    if length > MAX_RECORD_BYTES {
        return Err(ParseError::Invalid(format!(
            "record block of {length} bytes exceeds the {MAX_RECORD_BYTES}-byte limit"
        )));
    }
    let mut block = Vec::new();
    (&mut *input)
        .take(length)
        .read_to_end(&mut block)
        .map_err(ParseError::Io)?;
    if (block.len() as u64) < length {
        return Err(ParseError::Truncated("inside the block"));
    }
    let mut trailer = Vec::with_capacity(4);
    while trailer.len() < 4 {
        let next = match input.fill_buf() {
            Ok(buf) => buf.first().copied(),
            Err(e) => return Err(ParseError::Io(e)),
        };
        match next {
            Some(b @ (b'\r' | b'\n')) => {
                trailer.push(b);
                input.consume(1);
            }
            _ => break,
        }
    }
    Ok(Some(ParsedRecord {
        record: WarcRecord { fields, block },
        trailer_complete: trailer == b"\r\n\r\n",
    }))
}

/// Reads a line including its `\n`; `None` at end of input. A line longer than
/// [`MAX_LINE_BYTES`] is an error.
fn read_line<R: BufRead>(input: &mut R) -> Result<Option<Vec<u8>>, ParseError> {
    let mut line = Vec::new();
    (&mut *input)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(ParseError::Io)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_LINE_BYTES {
        return Err(ParseError::Invalid("header line too long".into()));
    }
    Ok(Some(line))
}

/// `line` without its trailing `\n` or `\r\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `bytes` without leading and trailing spaces and tabs.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Header bytes as text: UTF-8 when valid, otherwise ISO-8859-1 (every byte one char), so no
/// byte is ever lost or replaced.
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `sha1:` + base32 of the SHA-1 of `bytes`, as in `WARC-Block-Digest` and
/// `WARC-Payload-Digest` (the spelling of Common Crawl, wget and warcio).
pub(crate) fn sha1_digest(bytes: &[u8]) -> String {
    let hash = Sha1::digest(bytes);
    format!("sha1:{}", data_encoding::BASE32.encode(&hash))
}

/// A fresh `<urn:uuid:…>` record id.
pub(crate) fn new_record_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
}

/// `t` as a WARC-Date in whole seconds, `YYYY-MM-DDThh:mm:ssZ`, truncated toward the past.
///
/// # Errors
/// A time outside the years 0000–9999, which the format cannot express.
pub(crate) fn format_warc_date(t: SystemTime) -> Result<String, String> {
    let out_of_range = || "fetch time is outside the years 0000-9999".to_owned();
    let seconds = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).map_err(|_| out_of_range())?,
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).map_err(|_| out_of_range())?;
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    };
    let dt = OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| out_of_range())?;
    if !(0..=9999).contains(&dt.year()) {
        return Err(out_of_range());
    }
    dt.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .map_err(|e| format!("cannot format fetch time: {e}"))
}

/// Parses a WARC-Date: RFC 3339 / W3C-ISO8601 with seconds, fractional seconds allowed.
pub(crate) fn parse_warc_date(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// The `<`, `>` that WARC 1.0 examples put around URIs, removed.
pub(crate) fn strip_angle_brackets(value: &str) -> &str {
    value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(fields: &[(&str, &str)], block: &[u8]) -> WarcRecord {
        WarcRecord {
            fields: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            block: block.to_vec(),
        }
    }

    fn parse_one(bytes: &[u8]) -> ParsedRecord {
        let mut input = bytes;
        let parsed = read_record(&mut input).unwrap().unwrap();
        assert!(input.is_empty(), "left over: {:?}", input);
        parsed
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let bodies: [&[u8]; 5] = [
            b"",
            b"hello",
            b"\0\xff\r\n\r\nWARC/1.1\r\n",
            "héllo wörld ☃".as_bytes(),
            &big,
        ];
        for body in bodies {
            let rec = record(
                &[
                    ("WARC-Type", "resource"),
                    ("WARC-Target-URI", "http://example.com/ünïcödé?q=1"),
                    ("WARC-Date", "2024-02-29T12:34:56Z"),
                    ("X-Empty", ""),
                ],
                body,
            );
            let parsed = parse_one(&rec.to_bytes());
            assert!(parsed.trailer_complete);
            assert_eq!(parsed.record.block, body);
            assert_eq!(parsed.record.field("warc-type"), Some("resource"));
            assert_eq!(
                parsed.record.field("WARC-Target-URI"),
                Some("http://example.com/ünïcödé?q=1")
            );
            assert_eq!(parsed.record.field("X-Empty"), Some(""));
            assert_eq!(
                parsed.record.field("Content-Length"),
                Some(body.len().to_string().as_str())
            );
        }
    }

    #[test]
    fn reading_is_lenient_about_line_ends_folding_and_blank_lines() {
        let text =
            b"\r\n\nWARC/1.0\nWARC-Type: response\nX-Folded: a\n  b\nContent-Length: 2\n\nhi\n";
        let mut input = &text[..];
        let parsed = read_record(&mut input).unwrap().unwrap();
        assert!(!parsed.trailer_complete);
        assert_eq!(parsed.record.field("X-Folded"), Some("a b"));
        assert_eq!(parsed.record.block, b"hi");
        assert!(read_record(&mut input).unwrap().is_none());
    }

    #[test]
    fn truncation_and_garbage_are_reported() {
        let full = record(&[("WARC-Type", "resource")], b"0123456789").to_bytes();
        for cut in 1..full.len() - 4 {
            let mut input = &full[..cut];
            match read_record(&mut input) {
                Err(ParseError::Truncated(_)) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let mut garbage = &b"GET / HTTP/1.1\r\n\r\n"[..];
        assert!(matches!(
            read_record(&mut garbage),
            Err(ParseError::Invalid(_))
        ));
        let mut no_length = &b"WARC/1.1\r\nWARC-Type: x\r\n\r\n"[..];
        assert!(matches!(
            read_record(&mut no_length),
            Err(ParseError::Invalid(_))
        ));
        let mut huge = &b"WARC/1.1\r\nContent-Length: 99999999999999\r\n\r\n"[..];
        assert!(matches!(
            read_record(&mut huge),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn non_utf8_header_bytes_are_latin1() {
        let text = b"WARC/1.1\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n\r\n\r\n";
        assert_eq!(parse_one(text).record.field("X-Name"), Some("café"));
    }

    #[test]
    fn sha1_digest_is_base32_of_sha1() {
        // Known values: SHA-1 of "" and of "abc", base32 (as in Common Crawl files).
        assert_eq!(sha1_digest(b""), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
        assert_eq!(sha1_digest(b"abc"), "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");
    }

    #[test]
    fn dates_format_in_whole_seconds_and_parse_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_999);
        let text = format_warc_date(t).unwrap();
        assert_eq!(text, "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_warc_date(&text),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(
            parse_warc_date("2023-11-14T22:13:20.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(
            format_warc_date(UNIX_EPOCH - Duration::from_millis(1)).unwrap(),
            "1969-12-31T23:59:59Z"
        );
        assert!(format_warc_date(UNIX_EPOCH + Duration::from_secs(300_000_000_000)).is_err());
        assert_eq!(parse_warc_date("yesterday"), None);
    }

    #[test]
    fn record_ids_are_urn_uuids() {
        let id = new_record_id();
        assert!(id.starts_with("<urn:uuid:") && id.ends_with('>'), "{id}");
        assert_ne!(id, new_record_id());
        assert_eq!(strip_angle_brackets("<http://a/>"), "http://a/");
        assert_eq!(strip_angle_brackets("http://a/"), "http://a/");
    }
}
