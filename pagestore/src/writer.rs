//! The single writer of a store: locking, torn-tail recovery, appending and rolling segments.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::StoreError;
use crate::exchange::{self, Exchange};
use crate::record::{PageRecord, RecordPosition, SegmentId};
use crate::segment::{self, Unit, UnitReader};

/// The default [`WriterOptions::segment_max_bytes`]: 128 MiB.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 128 * 1024 * 1024;

/// How a [`SegmentWriter`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Once a segment has reached this size, the next append starts a new segment (so a
    /// segment exceeds it by at most one page). Default: [`DEFAULT_SEGMENT_MAX_BYTES`] (128 MiB).
    pub segment_max_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
        }
    }
}

/// What opening the writer cut from the end of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The segment that had a torn tail.
    pub segment: SegmentId,
    /// How many bytes were removed from its end.
    pub cut_bytes: u64,
}

/// The segment being appended to.
#[derive(Debug)]
struct OpenSegment {
    id: SegmentId,
    path: PathBuf,
    file: File,
    len: u64,
    warcinfo_id: Option<String>,
    /// Appended to since the last fsync.
    dirty: bool,
}

/// The store's only writer: appends pages to the last segment and rolls to new ones.
///
/// # Durability
/// After [`SegmentWriter::sync`] returns, every page appended before it survives a kill -9 or
/// a power loss. Pages appended after the last `sync` may be lost; a partly written one is cut
/// the next time a writer is opened ([`SegmentWriter::recovery`] reports it). Dropping the
/// writer does not sync; it releases the lock.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    /// Held for the writer's lifetime; closing it releases the lock.
    _lock: File,
    options: WriterOptions,
    current: Option<OpenSegment>,
    /// The id the next new segment gets.
    next_id: Option<SegmentId>,
    recovery: Option<Recovery>,
    /// A segment file was created since the directory was last fsynced.
    dir_dirty: bool,
    /// A failed write could not be undone; the path of that segment.
    failed: Option<PathBuf>,
}

impl SegmentWriter {
    /// Locks `dir/LOCK`, cuts a torn tail off the last segment and opens it for appending.
    ///
    /// A last segment that is damaged in the middle (a bad member followed by good ones) is left
    /// untouched and appending continues in a new segment, so no readable record is destroyed.
    pub(crate) fn open(dir: &Path, options: WriterOptions) -> Result<SegmentWriter, StoreError> {
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: lock_path });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
        let mut writer = SegmentWriter {
            dir: dir.to_owned(),
            _lock: lock,
            options,
            current: None,
            next_id: Some(SegmentId(1)),
            recovery: None,
            dir_dirty: false,
            failed: None,
        };
        if let Some(last) = segment::list_segments(dir)?.pop() {
            writer.next_id = last.id.0.checked_add(1).map(SegmentId);
            writer.reopen(last.id, &last.path)?;
        }
        Ok(writer)
    }

    /// Scans the last segment; cuts a torn tail, or leaves a segment damaged in the middle alone.
    fn reopen(&mut self, id: SegmentId, path: &Path) -> Result<(), StoreError> {
        let io_err = |e| StoreError::io(path, e);
        let mut units = UnitReader::open(path, 0).map_err(io_err)?;
        let mut good_end = 0;
        let mut warcinfo_id = None;
        let torn = loop {
            match units.next_unit().map_err(io_err)? {
                Unit::Page { end, .. } => good_end = end,
                Unit::Other { start, end, record } => {
                    if start == 0 && record.is_type("warcinfo") {
                        warcinfo_id = record.record_id().map(str::to_owned);
                    }
                    good_end = end;
                }
                Unit::End => break false,
                Unit::Broken { at, .. } => {
                    if segment::next_record_after(path, at)
                        .map_err(io_err)?
                        .is_some()
                    {
                        // Damaged in the middle: keep it as it is, write on in a new segment.
                        return Ok(());
                    }
                    break true;
                }
            }
        };
        let file = OpenOptions::new().append(true).open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if torn && len > good_end {
            file.set_len(good_end).map_err(io_err)?;
            // Make the cut durable before anything is appended after it.
            file.sync_data().map_err(io_err)?;
            self.recovery = Some(Recovery {
                segment: id,
                cut_bytes: len - good_end,
            });
        }
        self.current = Some(OpenSegment {
            id,
            path: path.to_owned(),
            file,
            len: good_end.min(len),
            warcinfo_id,
            dirty: false,
        });
        Ok(())
    }

    /// Appends the response record and the request record for `page`, in that order, and
    /// returns the position of the response record.
    ///
    /// The page is not durable until [`SegmentWriter::sync`].
    ///
    /// # Errors
    /// [`StoreError::BadRecord`] if the page cannot be stored faithfully (see [`PageRecord`]'s
    /// field docs; nothing is written then), [`StoreError::Io`] if writing fails (the partial
    /// write is cut again), [`StoreError::WriterFailed`] after a failed write that could not be
    /// cut.
    pub fn append(&mut self, page: &PageRecord) -> Result<RecordPosition, StoreError> {
        self.check_usable()?;
        let exchange = Exchange::new(page)?;
        let segment = self.segment_for_append()?;
        let warcinfo_id = segment.warcinfo_id.as_deref();
        let mut bytes = member(&exchange.response_record(warcinfo_id), &segment.path)?;
        bytes.extend_from_slice(&member(
            &exchange.request_record(warcinfo_id),
            &segment.path,
        )?);
        let position = RecordPosition {
            segment: segment.id,
            offset: segment.len,
        };
        self.write(&bytes)?;
        Ok(position)
    }

    /// Makes everything appended so far durable: fsyncs the segment file and, when a segment
    /// file was created since the last sync, the directory.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.check_usable()?;
        if let Some(segment) = &mut self.current
            && segment.dirty
        {
            segment
                .file
                .sync_data()
                .map_err(|e| StoreError::io(&segment.path, e))?;
            segment.dirty = false;
        }
        if self.dir_dirty {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(&self.dir, e))?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Seals the segment being appended to (fsyncing it): the next append starts a new
    /// segment, numbered after every existing one and after `after`. Used when sealed
    /// segments move to object storage, where a segment never changes once uploaded, and the
    /// local directory may no longer hold the segments with the highest numbers.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the fsync fails; [`StoreError::SegmentIdsExhausted`].
    pub fn seal(&mut self, after: Option<SegmentId>) -> Result<(), StoreError> {
        self.check_usable()?;
        self.close_current()?;
        if let Some(after) = after {
            let floor = after
                .0
                .checked_add(1)
                .map(SegmentId)
                .ok_or(StoreError::SegmentIdsExhausted { last: after })?;
            self.next_id = self.next_id.map(|next| next.max(floor));
        }
        Ok(())
    }

    /// What opening this writer cut from a torn tail, if anything.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The segment currently appended to, if one is open.
    pub fn current_segment(&self) -> Option<SegmentId> {
        self.current.as_ref().map(|s| s.id)
    }

    fn check_usable(&self) -> Result<(), StoreError> {
        match &self.failed {
            Some(path) => Err(StoreError::WriterFailed { path: path.clone() }),
            None => Ok(()),
        }
    }

    /// The segment the next page goes to: the current one unless it is full, otherwise a new
    /// one. A segment left empty by recovery gets its warcinfo record first.
    fn segment_for_append(&mut self) -> Result<&mut OpenSegment, StoreError> {
        let full = self
            .current
            .as_ref()
            .is_none_or(|s| s.len >= self.options.segment_max_bytes);
        if full {
            self.roll()?;
        } else if self.current.as_ref().is_some_and(|s| s.len == 0) {
            self.write_warcinfo()?;
        }
        self.current_mut()
    }

    fn current_mut(&mut self) -> Result<&mut OpenSegment, StoreError> {
        match &mut self.current {
            Some(segment) => Ok(segment),
            // `roll` always leaves a segment open on success.
            None => Err(StoreError::WriterFailed {
                path: self.dir.clone(),
            }),
        }
    }

    /// Closes the current segment, fsyncing what was appended to it (so a later `sync` covers
    /// it).
    fn close_current(&mut self) -> Result<(), StoreError> {
        if let Some(old) = self.current.take()
            && old.dirty
        {
            old.file
                .sync_data()
                .map_err(|e| StoreError::io(&old.path, e))?;
        }
        Ok(())
    }

    /// Closes the current segment and starts the next one with its warcinfo record.
    fn roll(&mut self) -> Result<(), StoreError> {
        self.close_current()?;
        let id = self.next_id.ok_or(StoreError::SegmentIdsExhausted {
            last: SegmentId(u32::MAX),
        })?;
        let path = self.dir.join(id.file_name());
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        self.dir_dirty = true;
        self.next_id = id.0.checked_add(1).map(SegmentId);
        self.current = Some(OpenSegment {
            id,
            path,
            file,
            len: 0,
            warcinfo_id: None,
            dirty: false,
        });
        self.write_warcinfo()
    }

    fn write_warcinfo(&mut self) -> Result<(), StoreError> {
        let segment = self.current_mut()?;
        let (id, record) = exchange::warcinfo_record(&segment.id.file_name(), SystemTime::now());
        let bytes = member(&record, &segment.path)?;
        segment.warcinfo_id = Some(id);
        self.write(&bytes)
    }

    /// Appends `bytes` to the current segment; on failure cuts the file back to where it was.
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let Some(segment) = &mut self.current else {
            return Err(StoreError::WriterFailed {
                path: self.dir.clone(),
            });
        };
        match segment.file.write_all(bytes) {
            Ok(()) => {
                segment.len += bytes.len() as u64;
                segment.dirty = true;
                Ok(())
            }
            Err(e) => {
                if segment.file.set_len(segment.len).is_err() {
                    self.failed = Some(segment.path.clone());
                }
                Err(StoreError::io(&segment.path, e))
            }
        }
    }
}

fn member(record: &crate::warc::WarcRecord, path: &Path) -> Result<Vec<u8>, StoreError> {
    segment::gzip_member(record).map_err(|e| StoreError::io(path, e))
}
