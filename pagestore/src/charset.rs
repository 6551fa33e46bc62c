//! Decoding HTML response bodies to UTF-8.
//!
//! The encoding is chosen in the order of the HTML Standard's *encoding
//! sniffing algorithm* (§ 13.2.3.2), minus the steps that need a browsing
//! context:
//!
//! 1. **BOM**: a UTF-8, UTF-16LE or UTF-16BE byte order mark wins over
//!    everything else ([`CharsetSource::Bom`]); the BOM is not part of the text.
//! 2. **HTTP header**: the `charset` parameter of the `Content-Type` header
//!    ([`CharsetSource::HttpHeader`]), see [`charset_from_content_type`].
//! 3. **Meta prescan**: the standard's *prescan a byte stream to determine its
//!    encoding* over the first 1024 bytes ([`CharsetSource::MetaPrescan`]), see
//!    [`prescan_meta`]. It also reads an `<?xml … encoding="…"?>` declaration
//!    when no `<meta>` answers, as the standard says.
//! 4. **Detection** ([`CharsetSource::Detected`]): a body without a single
//!    non-ASCII byte gets windows-1252, the standard's default for unlabelled
//!    documents in most locales (the text is the same in any ASCII-compatible
//!    encoding, and it is what a browser would use to encode the query of a
//!    link on that page); otherwise [`chardetng`] guesses from the bytes, and
//!    its guess takes the place of the standard's locale-dependent default.
//!
//! Policy:
//!
//! * Labels are resolved with [`Encoding::for_label`], i.e. the WHATWG Encoding
//!   Standard's label table: `latin1`, `ascii` and `iso-8859-1` mean
//!   windows-1252, `gb2312` means GBK, and so on. An unknown label (such as
//!   `utf-7`, `utf-32` or `none`) is ignored and the next step runs.
//! * A `<meta>` (or XML declaration) that names UTF-16 means UTF-8, and a
//!   `<meta>` naming `x-user-defined` means windows-1252, as the standard says.
//!   The HTTP header is taken as it is.
//! * Labels the standard maps to the *replacement* encoding (`iso-2022-kr`,
//!   `hz-gb-2312`, …) are honoured: the text becomes a single U+FFFD, as in a
//!   browser, and `had_errors` is set.
//! * Detection never guesses ISO-2022-JP (browsers deny it for security),
//!   may guess UTF-8 (this is a crawler, not a browser), assumes a generic
//!   top-level domain, and reads at most 1 MiB from the first non-ASCII
//!   byte on.
//! * Everything is decoded in one go; the standard's tokenizer-level "change
//!   the encoding" step (a `<meta>` found after the first 1024 bytes, or one
//!   written by a script) is not performed.
//! * Malformed sequences become U+FFFD; nothing here panics on any input.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many leading bytes the meta prescan looks at (the standard's advice).
const PRESCAN_LIMIT: usize = 1024;

/// How many leading bytes are fed to the statistical detector.
const DETECTION_LIMIT: usize = 1 << 20;

/// Where the decoding's encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte order mark at the start of the body.
    Bom,
    /// The `charset` parameter of the HTTP `Content-Type` header.
    HttpHeader,
    /// A `<meta>` (or XML declaration) found by the prescan of the first 1024 bytes.
    MetaPrescan,
    /// A statistical guess by chardetng (there was no declaration to go by).
    Detected,
}

/// Result of decoding.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The body as UTF-8, without a BOM; malformed input became U+FFFD.
    pub text: String,
    /// The encoding the body was decoded with.
    pub encoding: &'static Encoding,
    /// Which sniffing step chose `encoding`.
    pub source: CharsetSource,
    /// Whether any malformed sequence was replaced with U+FFFD.
    pub had_errors: bool,
}

/// Sniffs the encoding of `body` (`content_type` = the raw Content-Type header value, if any) and decodes to UTF-8 (malformed sequences become U+FFFD). Never panics.
pub fn decode_html(body: &[u8], content_type: Option<&str>) -> Decoded {
    let (encoding, source) = sniff_encoding(body, content_type);
    let (text, had_errors) = if source == CharsetSource::Bom {
        encoding.decode_with_bom_removal(body)
    } else {
        encoding.decode_without_bom_handling(body)
    };
    Decoded {
        text: text.into_owned(),
        encoding,
        source,
        had_errors,
    }
}

/// Only the sniffing step.
///
/// Returns the encoding [`decode_html`] would use and the step that chose it
/// (see the module documentation for the order).
pub fn sniff_encoding(
    body: &[u8],
    content_type: Option<&str>,
) -> (&'static Encoding, CharsetSource) {
    if let Some((encoding, _bom_len)) = Encoding::for_bom(body) {
        return (encoding, CharsetSource::Bom);
    }
    if let Some(encoding) = content_type.and_then(charset_from_content_type) {
        return (encoding, CharsetSource::HttpHeader);
    }
    if let Some(encoding) = prescan_meta(body) {
        return (encoding, CharsetSource::MetaPrescan);
    }
    (detect(body), CharsetSource::Detected)
}

/// windows-1252 for pure ASCII, otherwise chardetng's guess from the bytes
/// up to `DETECTION_LIMIT` past the first non-ASCII byte.
fn detect(body: &[u8]) -> &'static Encoding {
    let first_non_ascii = Encoding::ascii_valid_up_to(body);
    if first_non_ascii == body.len() {
        return WINDOWS_1252;
    }
    let end = body
        .len()
        .min(first_non_ascii.saturating_add(DETECTION_LIMIT));
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(&body[..end], end == body.len());
    detector.guess(None, Utf8Detection::Allow)
}

/// HTTP whitespace (Fetch): tab, LF, CR, space.
fn is_http_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' ')
}

/// Charset parameter of a Content-Type header value, resolved to an encoding (WHATWG labels).
///
/// Follows Fetch's *extract a MIME type* and the MIME Sniffing Standard's
/// parameter parsing: the value is split on commas outside quoted strings
/// (a combined header), the last usable MIME type wins and inherits the
/// charset of an earlier one with the same essence; parameter names are
/// case-insensitive, the first `charset` parameter of a MIME type counts,
/// quoted values are unescaped, `charset = x` (spaces around `=`) is no
/// parameter. Unlike the MIME parser the type/subtype is not validated, so a
/// sloppy value such as `Content-Type: text/html; charset=utf-8` still
/// yields its charset. `None` when there is no charset or the label is not
/// a WHATWG label.
pub fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    let mut essence: Option<String> = None;
    let mut inherited: Option<String> = None;
    let mut result: Option<String> = None;
    for value in split_header_value(content_type) {
        let Some((this_essence, charset)) = parse_mime_type(value) else {
            continue;
        };
        if this_essence == "*/*" {
            continue;
        }
        if essence.as_deref() == Some(this_essence.as_str()) {
            result = charset.or_else(|| inherited.clone());
        } else {
            inherited.clone_from(&charset);
            result = charset;
            essence = Some(this_essence);
        }
    }
    Encoding::for_label(result?.as_bytes())
}

/// Fetch's "split" of a header value: on commas outside quoted strings,
/// each part stripped of tabs and spaces.
fn split_header_value(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == ',' {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
        .into_iter()
        .map(|p| p.trim_matches(|c| c == '\t' || c == ' '))
        .collect()
}

/// A lenient "parse a MIME type": the lower-cased essence (everything before
/// the first `;`, unvalidated) and the raw value of the first `charset`
/// parameter. `None` for an empty value.
fn parse_mime_type(value: &str) -> Option<(String, Option<String>)> {
    let value = value.trim_matches(is_http_ws);
    if value.is_empty() {
        return None;
    }
    let (essence, mut rest) = value.split_once(';').unwrap_or((value, ""));
    let essence = essence.trim_end_matches(is_http_ws).to_ascii_lowercase();
    let mut charset = None;
    // Each turn starts just after a ';'.
    while !rest.is_empty() {
        rest = rest.trim_start_matches(is_http_ws);
        let name_end = rest.find([';', '=']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
            continue;
        }
        let Some(after_eq) = rest.strip_prefix('=') else {
            break; // end of input
        };
        rest = after_eq;
        let param_value = if rest.starts_with('"') {
            let (unquoted, after) = collect_quoted_string(rest);
            rest = after.split_once(';').map_or("", |(_, r)| r);
            unquoted
        } else {
            let (raw, after) = rest.split_once(';').unwrap_or((rest, ""));
            rest = after;
            let raw = raw.trim_end_matches(is_http_ws);
            if raw.is_empty() {
                continue;
            }
            raw.to_owned()
        };
        let valid_value = param_value
            .chars()
            .all(|c| matches!(c, '\t' | ' '..='~' | '\u{80}'..='\u{ff}'));
        if charset.is_none() && name.eq_ignore_ascii_case("charset") && valid_value {
            charset = Some(param_value);
        }
    }
    Some((essence, charset))
}

/// Fetch's "collect an HTTP quoted string" with extract-value set; `input`
/// starts with `"`. Returns the unescaped value and the input after it.
fn collect_quoted_string(input: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = input.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &input[i + 1..]),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => {
                    value.push('\\');
                    break;
                }
            },
            _ => value.push(c),
        }
    }
    (value, "")
}

/// The bytes the standard calls whitespace in the prescan (tab, LF, FF, CR, space).
fn is_ws(b: u8) -> bool {
    matches!(b, 0x09 | 0x0A | 0x0C | 0x0D | 0x20)
}

/// The HTML Standard's meta prescan over (at most) the first 1024 bytes.
///
/// Implements *prescan a byte stream to determine its encoding* step for
/// step: the UTF-16 `<?x` check, comments (`<!-->` closes one), `<meta`
/// followed by whitespace or `/` with its attributes read by *get an
/// attribute* (`charset`, or `http-equiv="content-type"` plus `content` with
/// a `charset=`; the first of duplicate attributes counts), other start and
/// end tags with their attributes skipped, and `<!`, `</`, `<?` skipped to
/// the next `>`. Running out of bytes (including inside a `<meta>` without
/// its closing `>`) ends the scan, and then *get an XML encoding* is tried.
/// A `<meta>` naming UTF-16 yields UTF-8, one naming `x-user-defined` yields
/// windows-1252; an unknown label makes that `<meta>` count for nothing.
pub fn prescan_meta(body: &[u8]) -> Option<&'static Encoding> {
    let bytes = &body[..body.len().min(PRESCAN_LIMIT)];
    if bytes.starts_with(&[0x3C, 0x00, 0x3F, 0x00, 0x78, 0x00]) {
        return Some(UTF_16LE);
    }
    if bytes.starts_with(&[0x00, 0x3C, 0x00, 0x3F, 0x00, 0x78]) {
        return Some(UTF_16BE);
    }
    prescan_loop(bytes).or_else(|| xml_encoding(bytes))
}

/// The prescan's main loop. It only ends with an answer from a `<meta>` or
/// by running out of bytes (`None`).
fn prescan_loop(bytes: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    loop {
        let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
        if rest.starts_with(b"<!--") {
            // To the '>' of the first "-->" after the '<' ("<!-->" counts).
            pos += find(rest, b"-->")? + 2;
        } else if rest.len() >= 6
            && rest[..5].eq_ignore_ascii_case(b"<meta")
            && (is_ws(rest[5]) || rest[5] == b'/')
        {
            pos += 5;
            if let Some(encoding) = meta_tag(bytes, &mut pos)? {
                return Some(encoding);
            }
        } else if is_tag_start(rest) {
            pos += rest.iter().position(|&b| is_ws(b) || b == b'>')?;
            while get_attribute(bytes, &mut pos)?.is_some() {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            pos += rest.iter().position(|&b| b == b'>')?;
        }
        pos += 1;
    }
}

/// `<`, optionally `/`, then an ASCII letter.
fn is_tag_start(rest: &[u8]) -> bool {
    match rest {
        [b'<', b'/', c, ..] | [b'<', c, ..] => c.is_ascii_alphabetic(),
        _ => false,
    }
}

/// The charset a `<meta>` declares so far: the standard's null / failure / encoding.
enum MetaCharset {
    Null,
    Failure,
    Found(&'static Encoding),
}

/// The `<meta` branch of the prescan, from the byte after `<meta`.
/// Outer `None`: ran out of bytes; inner `None`: this tag declares nothing.
fn meta_tag(bytes: &[u8], pos: &mut usize) -> Option<Option<&'static Encoding>> {
    let (mut seen_http_equiv, mut seen_content, mut seen_charset) = (false, false, false);
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset = MetaCharset::Null;
    while let Some(attr) = get_attribute(bytes, pos)? {
        match attr.name.as_slice() {
            b"http-equiv" if !seen_http_equiv => {
                seen_http_equiv = true;
                got_pragma = attr.value == b"content-type";
            }
            b"content" if !seen_content => {
                seen_content = true;
                if let MetaCharset::Null = charset
                    && let Some(encoding) = charset_from_meta_content(&attr.value)
                {
                    charset = MetaCharset::Found(encoding);
                    need_pragma = Some(true);
                }
            }
            b"charset" if !seen_charset => {
                seen_charset = true;
                charset = Encoding::for_label(&attr.value)
                    .map_or(MetaCharset::Failure, MetaCharset::Found);
                need_pragma = Some(false);
            }
            _ => {}
        }
    }
    let declared = match (need_pragma, charset) {
        (None, _) => None,
        (Some(true), _) if !got_pragma => None,
        (_, MetaCharset::Found(encoding)) => Some(encoding),
        (_, MetaCharset::Null | MetaCharset::Failure) => None,
    };
    Some(declared.map(|encoding| {
        if encoding == UTF_16BE || encoding == UTF_16LE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        }
    }))
}

/// An attribute read by the prescan; name and value are ASCII-lower-cased.
struct Attribute {
    name: Vec<u8>,
    value: Vec<u8>,
}

/// The standard's *get an attribute*. Outer `None`: ran out of bytes;
/// inner `None`: there is no further attribute (`pos` is at a `>`).
fn get_attribute(bytes: &[u8], pos: &mut usize) -> Option<Option<Attribute>> {
    let at = |p: usize| bytes.get(p).copied();
    *pos = skip_while(bytes, *pos, |b| is_ws(b) || b == b'/')?;
    if at(*pos)? == b'>' {
        return Some(None);
    }
    let mut attr = Attribute {
        name: Vec::new(),
        value: Vec::new(),
    };
    // Name.
    loop {
        match at(*pos)? {
            b'=' if !attr.name.is_empty() => {
                *pos += 1;
                break;
            }
            b if is_ws(b) => {
                // Spaces, then maybe '='.
                *pos = skip_while(bytes, *pos, is_ws)?;
                if at(*pos)? != b'=' {
                    return Some(Some(attr));
                }
                *pos += 1;
                break;
            }
            b'/' | b'>' => return Some(Some(attr)),
            b => attr.name.push(b.to_ascii_lowercase()),
        }
        *pos += 1;
    }
    // Value.
    *pos = skip_while(bytes, *pos, is_ws)?;
    match at(*pos)? {
        quote @ (b'"' | b'\'') => loop {
            *pos += 1;
            let b = at(*pos)?;
            if b == quote {
                *pos += 1;
                return Some(Some(attr));
            }
            attr.value.push(b.to_ascii_lowercase());
        },
        b'>' => return Some(Some(attr)),
        b => {
            attr.value.push(b.to_ascii_lowercase());
            *pos += 1;
        }
    }
    loop {
        match at(*pos)? {
            b if is_ws(b) || b == b'>' => return Some(Some(attr)),
            b => attr.value.push(b.to_ascii_lowercase()),
        }
        *pos += 1;
    }
}

/// The standard's *algorithm for extracting a character encoding from a
/// meta element* (the `content` attribute of `<meta http-equiv>`).
fn charset_from_meta_content(s: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    loop {
        pos += s
            .get(pos..)?
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?
            + 7;
        pos = skip_while(s, pos, is_ws)?;
        if s[pos] == b'=' {
            break;
        }
    }
    let rest = &s[skip_while(s, pos + 1, is_ws)?..];
    match rest[0] {
        quote @ (b'"' | b'\'') => {
            let inner = &rest[1..];
            let end = inner.iter().position(|&b| b == quote)?;
            Encoding::for_label(&inner[..end])
        }
        _ => {
            let end = rest
                .iter()
                .position(|&b| is_ws(b) || b == b';')
                .unwrap_or(rest.len());
            Encoding::for_label(&rest[..end])
        }
    }
}

/// The standard's *get an XML encoding* (an `<?xml … encoding="…"?>` at the very start).
fn xml_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let decl = &bytes[..bytes.iter().position(|&b| b == b'>')?];
    let mut pos = skip_while(decl, find(decl, b"encoding")? + 8, |b| b <= 0x20)?;
    if decl[pos] != b'=' {
        return None;
    }
    pos = skip_while(decl, pos + 1, |b| b <= 0x20)?;
    let quote = decl[pos];
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let label = &decl[pos + 1..];
    let label = &label[..label.iter().position(|&b| b == quote)?];
    if label.iter().any(|&b| b <= 0x20) {
        return None;
    }
    let encoding = Encoding::for_label(label)?;
    Some(if encoding == UTF_16BE || encoding == UTF_16LE {
        UTF_8
    } else {
        encoding
    })
}

/// The first position at or after `pos` whose byte is not skipped; `None`
/// when the bytes run out first.
fn skip_while(bytes: &[u8], pos: usize, skip: impl Fn(u8) -> bool) -> Option<usize> {
    Some(pos + bytes.get(pos..)?.iter().position(|&b| !skip(b))?)
}

/// Offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{GBK, ISO_8859_2, REPLACEMENT, SHIFT_JIS, WINDOWS_1251};

    fn page(head: &str, body: &[u8]) -> Vec<u8> {
        let mut out =
            format!("<!DOCTYPE html>\n<html><head>{head}<title>t</title></head><body><p>")
                .into_bytes();
        out.extend_from_slice(body);
        out.extend_from_slice(b"</p></body></html>\n");
        out
    }

    const RUSSIAN: &str = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
        Широкая электрификация южных губерний даст мощный толчок подъёму сельского хозяйства.";

    const JAPANESE: &str = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\
        何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\
        吾輩はここで始めて人間というものを見た。しかもあとで聞くとそれは書生という\
        人間中で一番獰悪な種族であったそうだ。";

    #[test]
    fn windows_1251_page_with_meta_charset() {
        let (cyrillic, _, unmappable) = WINDOWS_1251.encode(RUSSIAN);
        assert!(!unmappable);
        for head in [
            r#"<meta charset="windows-1251">"#,
            r#"<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=cp1251">"#,
        ] {
            let decoded = decode_html(&page(head, &cyrillic), Some("text/html"));
            assert_eq!(decoded.encoding, WINDOWS_1251, "{head}");
            assert_eq!(decoded.source, CharsetSource::MetaPrescan);
            assert!(!decoded.had_errors);
            assert!(decoded.text.contains(RUSSIAN));
        }
    }

    #[test]
    fn shift_jis_page_without_declaration_is_detected() {
        let (sjis, _, unmappable) = SHIFT_JIS.encode(JAPANESE);
        assert!(!unmappable);
        let decoded = decode_html(&page("", &sjis), None);
        assert_eq!(decoded.encoding, SHIFT_JIS);
        assert_eq!(decoded.source, CharsetSource::Detected);
        assert!(decoded.text.contains(JAPANESE));
        // An unknown label in the header changes nothing.
        let decoded = decode_html(&page("", &sjis), Some("text/html; charset=utf-7"));
        assert_eq!(
            (decoded.encoding, decoded.source),
            (SHIFT_JIS, CharsetSource::Detected)
        );
    }

    #[test]
    fn undeclared_utf8_and_ascii() {
        let decoded = decode_html(&page("", RUSSIAN.as_bytes()), None);
        assert_eq!(
            (decoded.encoding, decoded.source),
            (UTF_8, CharsetSource::Detected)
        );
        assert!(decoded.text.contains(RUSSIAN));
        let decoded = decode_html(b"<p>plain ASCII</p>", None);
        assert_eq!(
            (decoded.encoding, decoded.source),
            (WINDOWS_1252, CharsetSource::Detected)
        );
        assert_eq!(decode_html(b"", None).text, "");
    }

    #[test]
    fn bom_beats_header_and_meta() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(&page(r#"<meta charset="iso-8859-2">"#, "café".as_bytes()));
        let decoded = decode_html(&body, Some("text/html; charset=windows-1251"));
        assert_eq!(
            (decoded.encoding, decoded.source),
            (UTF_8, CharsetSource::Bom)
        );
        assert!(decoded.text.starts_with("<!DOCTYPE"), "BOM is stripped");
        assert!(decoded.text.contains("café"));

        let mut utf16: Vec<u8> = vec![0xFF, 0xFE];
        utf16.extend("<p>héllo</p>".encode_utf16().flat_map(u16::to_le_bytes));
        let decoded = decode_html(&utf16, Some("text/html; charset=utf-8"));
        assert_eq!(
            (decoded.encoding, decoded.source),
            (UTF_16LE, CharsetSource::Bom)
        );
        assert_eq!(decoded.text, "<p>héllo</p>");
    }

    #[test]
    fn header_beats_meta() {
        let body = page(r#"<meta charset="windows-1251">"#, "naïve".as_bytes());
        let decoded = decode_html(&body, Some("text/html; charset=UTF-8"));
        assert_eq!(
            (decoded.encoding, decoded.source),
            (UTF_8, CharsetSource::HttpHeader)
        );
        assert!(decoded.text.contains("naïve"));
        // Without a usable header the meta decides.
        for ct in [None, Some("text/html"), Some("text/html; charset=bogus")] {
            assert_eq!(
                sniff_encoding(&body, ct),
                (WINDOWS_1251, CharsetSource::MetaPrescan)
            );
        }
    }

    #[test]
    fn content_type_parameters() {
        let cases: &[(&str, Option<&'static Encoding>)] = &[
            ("text/html; charset=ISO-8859-2", Some(ISO_8859_2)),
            ("text/html;charset=\"latin1\"", Some(WINDOWS_1252)),
            ("text/html; format=x; CharSet=gb2312", Some(GBK)),
            ("text/html; charset=\"utf\\-8\"", Some(UTF_8)),
            ("text/html; charset=utf-16", Some(UTF_16LE)),
            ("text/html; charset=x-user-defined", Some(X_USER_DEFINED)),
            ("text/html; charset=iso-2022-kr", Some(REPLACEMENT)),
            ("text/html; charset = utf-8", None),
            ("text/html; charset=", None),
            ("text/html; x=\"a;charset=utf-8\"", None),
            ("text/html; charset=shift_jis, text/html", Some(SHIFT_JIS)),
            ("text/html; charset=shift_jis, */*", Some(SHIFT_JIS)),
            ("text/html; charset=shift_jis, text/plain", None),
            ("text/html", None),
            ("", None),
            (";;;=;\"", None),
        ];
        for &(ct, want) in cases {
            assert_eq!(charset_from_content_type(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn prescan_details() {
        let cases: &[(&[u8], Option<&'static Encoding>)] = &[
            (b"<meta charset=utf-16le>", Some(UTF_8)),
            (b"<meta charset=x-user-defined>", Some(WINDOWS_1252)),
            (b"<meta charset=iso-2022-kr>", Some(REPLACEMENT)),
            (
                b"<meta charset=bogus><meta charset=shift_jis>",
                Some(SHIFT_JIS),
            ),
            (b"<meta charset=shift_jis charset=utf-8>", Some(SHIFT_JIS)),
            (b"<meta content='text/html;charset=shift_jis'>", None),
            (
                b"<meta content='charset=shift_jis' http-equiv=CONTENT-TYPE>",
                Some(SHIFT_JIS),
            ),
            (
                b"<meta content=\"charset='shift_jis\" http-equiv=content-type>",
                None,
            ),
            (
                b"<meta charset=bogus content='charset=shift_jis' http-equiv=content-type>",
                None,
            ),
            (b"<meta/charset=shift_jis>", Some(SHIFT_JIS)),
            (b"<!--><meta charset=shift_jis>", Some(SHIFT_JIS)),
            (b"<!-- --!><meta charset=utf-8> -->", None),
            (b"<a title='<meta charset=utf-8>'>", None),
            (b"</a title='<meta charset=utf-8>'>", None),
            (b"<? <meta charset=utf-8> ?>", None),
            (
                b"<?xml version='1.0' encoding='shift_jis'?><p>",
                Some(SHIFT_JIS),
            ),
            (
                b"<?xml version=\"1.0\" encoding = \"UTF-16\"?>",
                Some(UTF_8),
            ),
            (
                b"<?xml version='1.0'?><meta charset=euc-kr>",
                Some(encoding_rs::EUC_KR),
            ),
            (b" <?xml version='1.0' encoding='shift_jis'?>", None),
            (b"<\0?\0x\0m\0l\0", Some(UTF_16LE)),
            (b"\0<\0?\0x\0m\0l", Some(UTF_16BE)),
            (b"<meta charset=utf-8", None),
            (b"", None),
        ];
        for &(bytes, want) in cases {
            assert_eq!(
                prescan_meta(bytes),
                want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn prescan_stops_after_1024_bytes() {
        for (pad, found) in [(1000, true), (1001, false), (5000, false)] {
            let mut body = vec![b' '; pad];
            body.extend_from_slice(b"<meta charset=shift_jis>");
            assert_eq!(body.len() <= PRESCAN_LIMIT, found);
            assert_eq!(prescan_meta(&body).is_some(), found, "pad {pad}");
        }
    }

    #[test]
    fn replacement_and_malformed_input() {
        let decoded = decode_html(b"<p>hi</p>", Some("text/html; charset=hz-gb-2312"));
        assert_eq!(
            (decoded.text.as_str(), decoded.had_errors),
            ("\u{FFFD}", true)
        );
        let decoded = decode_html(b"<meta charset=utf-8><p>a\xFFb</p>", None);
        assert_eq!(decoded.text, "<meta charset=utf-8><p>a\u{FFFD}b</p>");
        assert!(decoded.had_errors);
    }
}
