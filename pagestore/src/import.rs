//! Reading any WARC file — ours, wget's, Common Crawl's, gzip multi-member or plain — as pages
//! (for `quarry import`).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::error::StoreError;
use crate::exchange;
use crate::record::PageRecord;
use crate::segment::Counting;
use crate::warc::{self, ParseError, WarcRecord};

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a WARC file and iterates its HTTP response records as pages.
///
/// `.warc.gz` files (one member per record, or one member for everything) and plain `.warc`
/// files are told apart by their first bytes, not their names. Other record types (warcinfo,
/// metadata, resource, revisit, request, and responses that are not HTTP, like `dns:`) are
/// skipped; a request record linked to a response (before or after it, by `WARC-Concurrent-To`
/// or, failing that, the same target URI right before it) supplies the page's request headers.
/// Bodies still transfer- or content-encoded in the file (`Transfer-Encoding: chunked`,
/// `Content-Encoding: gzip`/`deflate`) are decoded, as [`PageRecord::body`] promises.
///
/// The iterator yields [`StoreError::InvalidWarc`] for a response that is not a readable page
/// and goes on; after damage that breaks the record framing it yields one error and ends.
///
/// # Errors
/// [`StoreError::Io`] if the file cannot be opened or read.
pub fn read_warc_file(path: &Path) -> Result<WarcFileRecords, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut buffered = BufReader::with_capacity(64 * 1024, file);
    let head = buffered.fill_buf().map_err(|e| StoreError::io(path, e))?;
    let input: Box<dyn BufRead + Send> = if head.starts_with(&GZIP_MAGIC) {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok(WarcFileRecords {
        path: path.to_owned(),
        input: Counting::new(input),
        peeked: None,
        last_request: None,
        failed: None,
        done: false,
    })
}

/// Iterator over the pages of a WARC file, from [`read_warc_file`].
pub struct WarcFileRecords {
    path: PathBuf,
    /// The uncompressed WARC stream, counting offsets for error messages.
    input: Counting<Box<dyn BufRead + Send>>,
    /// A record read ahead (looking for a response's request) that belongs to the next page.
    peeked: Option<(u64, WarcRecord)>,
    /// The last request record seen, for files that write the request first.
    last_request: Option<WarcRecord>,
    /// An error met while reading ahead, reported after the page it followed.
    failed: Option<StoreError>,
    done: bool,
}

impl std::fmt::Debug for WarcFileRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarcFileRecords")
            .field("path", &self.path)
            .field("offset", &self.input.count())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl WarcFileRecords {
    /// The next record and its offset in the uncompressed stream.
    fn next_record(&mut self) -> Result<Option<(u64, WarcRecord)>, StoreError> {
        if let Some(peeked) = self.peeked.take() {
            return Ok(Some(peeked));
        }
        let offset = self.input.count();
        match warc::read_record(&mut self.input) {
            Ok(Some(parsed)) => Ok(Some((offset, parsed.record))),
            Ok(None) => Ok(None),
            Err(ParseError::Io(e)) if !is_data_error(&e) => Err(StoreError::io(&self.path, e)),
            Err(e) => Err(StoreError::InvalidWarc {
                path: self.path.clone(),
                offset,
                reason: e.reason(),
            }),
        }
    }
}

/// Whether an I/O error comes from undecodable data (gzip) rather than from the file.
fn is_data_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

impl Iterator for WarcFileRecords {
    type Item = Result<PageRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        loop {
            let (offset, record) = match self.next_record() {
                Ok(Some(found)) => found,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if record.is_type("request") {
                self.last_request = Some(record);
                continue;
            }
            if !exchange::is_http_response(&record) {
                continue;
            }
            let mut request = self.last_request.take().filter(|q| {
                exchange::is_request_of(q, &record) || exchange::same_target(q, &record)
            });
            if request.is_none() {
                // warcio (and we) write the request after its response.
                match self.next_record() {
                    Ok(Some((_, next))) if exchange::is_request_of(&next, &record) => {
                        request = Some(next);
                    }
                    Ok(Some(other)) => self.peeked = Some(other),
                    Ok(None) => {}
                    Err(e) => self.failed = Some(e),
                }
            }
            return Some(
                exchange::decode_page(&record, request.as_ref()).map_err(|reason| {
                    StoreError::InvalidWarc {
                        path: self.path.clone(),
                        offset,
                        reason,
                    }
                }),
            );
        }
    }
}
