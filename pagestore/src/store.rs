//! The store: a directory of segments, with listing, the writer, sequential and random reads,
//! and consumer checkpoints.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::error::StoreError;
use crate::exchange;
use crate::record::{PageRecord, RecordPosition, SegmentId};
use crate::retention::{self, Retired};
use crate::segment::{self, SegmentInfo, Unit, UnitReader};
use crate::writer::{SegmentWriter, WriterOptions};

/// A page store directory: `segment-NNNNNN.warc.gz` files, `LOCK`, and `checkpoints/`.
///
/// Any number of `PageStore` values (in any number of processes) may read the same directory
/// while one [`SegmentWriter`] appends to it.
#[derive(Debug, Clone)]
pub struct PageStore {
    dir: PathBuf,
}

impl PageStore {
    /// Opens the store in `dir`, creating the directory if it does not exist. Nothing else is
    /// created or changed: no lock is taken and no recovery is done (see [`PageStore::writer`]).
    pub fn open(dir: &Path) -> Result<PageStore, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(PageStore {
            dir: dir.to_owned(),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the single writer.
    ///
    /// Takes an exclusive lock on `dir/LOCK` for the writer's lifetime; checks the last segment
    /// and, if it ends in a torn tail (a partial gzip member, a member that is not one complete
    /// WARC record, or a response whose request record is missing), truncates it to the end of
    /// the last complete page and reports that in [`SegmentWriter::recovery`]. Appends go to the
    /// last segment until it reaches [`WriterOptions::segment_max_bytes`], then to a new one.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another writer (in this or another process) holds the lock;
    /// [`StoreError::Io`] if the directory cannot be read or the tail cannot be cut.
    pub fn writer(&self, options: WriterOptions) -> Result<SegmentWriter, StoreError> {
        SegmentWriter::open(&self.dir, options)
    }

    /// The segments in order, with their sizes.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>, StoreError> {
        segment::list_segments(&self.dir)
    }

    /// The total size of all segments in bytes.
    pub fn total_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.segments()?.iter().map(|s| s.bytes).sum())
    }

    /// Iterates the response records of all segments in log order, starting with the record at
    /// `from` (`None`: the beginning; a position from [`Records::resume_position`] continues
    /// right after what an earlier iteration read).
    ///
    /// A torn tail at the end of the last segment (a writer is appending, or crashed) ends the
    /// iteration without an error. Damage anywhere else yields one [`StoreError::Corrupt`] item,
    /// and iteration goes on with the next complete record after the damage in the same segment
    /// or, if there is none, with the next segment. A `from` that is not the start of a record
    /// reads as damage. Segments created while iterating are picked up.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be listed (checked once up front; the items
    /// report later failures).
    pub fn records(&self, from: Option<RecordPosition>) -> Result<Records, StoreError> {
        segment::list_segments(&self.dir)?;
        Ok(Records {
            dir: self.dir.clone(),
            cursor: from,
            current: None,
            retried: None,
            done: false,
        })
    }

    /// Reads the response record at `pos` (with its request headers).
    ///
    /// # Errors
    /// [`StoreError::NoSuchSegment`], [`StoreError::NotAResponse`] if another kind of record is
    /// there, [`StoreError::Corrupt`] if no complete page starts at `pos`.
    pub fn read_at(&self, pos: RecordPosition) -> Result<PageRecord, StoreError> {
        let path = self.dir.join(pos.segment.file_name());
        let mut units = match UnitReader::open(&path, pos.offset) {
            Ok(units) => units,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchSegment {
                    segment: pos.segment,
                });
            }
            Err(e) => return Err(StoreError::io(path, e)),
        };
        let corrupt = |offset, reason| StoreError::Corrupt {
            segment: pos.segment,
            offset,
            reason,
        };
        match units.next_unit().map_err(|e| StoreError::io(&path, e))? {
            Unit::Page {
                response, request, ..
            } => exchange::decode_page(&response, request.as_ref())
                .map_err(|reason| corrupt(pos.offset, reason)),
            Unit::Other { record, .. } => Err(StoreError::NotAResponse {
                position: pos,
                found: record.record_type().unwrap_or("untyped").to_owned(),
            }),
            Unit::End => Err(corrupt(pos.offset, "no record at this offset".into())),
            Unit::Broken { at, reason, .. } => Err(corrupt(at, reason)),
        }
    }

    /// The checkpoint `consumer` saved last, if any.
    ///
    /// # Errors
    /// [`StoreError::InvalidConsumer`] for a name that is not 1–64 ASCII letters, digits, `-`,
    /// `_` or `.` (not starting with `.`); [`StoreError::Checkpoint`] for an unreadable file.
    pub fn load_checkpoint(&self, consumer: &str) -> Result<Option<RecordPosition>, StoreError> {
        checkpoint::load(&self.dir, consumer)
    }

    /// Saves `pos` as `consumer`'s checkpoint in `dir/checkpoints/NAME.json`, atomically and
    /// durably (temp file, fsync, rename, fsync of the directory): after a crash the file holds
    /// either the old or the new position.
    ///
    /// # Errors
    /// As [`PageStore::load_checkpoint`], and [`StoreError::Io`].
    pub fn save_checkpoint(&self, consumer: &str, pos: RecordPosition) -> Result<(), StoreError> {
        checkpoint::save(&self.dir, consumer, pos)
    }

    /// The consumers with a checkpoint in this store, sorted.
    ///
    /// # Errors
    /// [`StoreError::Io`] if `checkpoints/` cannot be read.
    pub fn checkpoint_consumers(&self) -> Result<Vec<String>, StoreError> {
        checkpoint::consumers(&self.dir)
    }

    /// Retention: deletes the segments that lie wholly before `consumed` (what a consumer
    /// such as the indexer has read and keeps elsewhere) and were last written more than
    /// `older_than` ago; returns them. The last segment is never deleted. Deleted segments
    /// are listed in `retired.json` (see [`PageStore::retired`]).
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be read or a file not deleted.
    pub fn retire_consumed(
        &self,
        consumed: RecordPosition,
        older_than: std::time::Duration,
    ) -> Result<Vec<SegmentId>, StoreError> {
        retention::retire(&self.dir, consumed, older_than)
    }

    /// The segments retention has deleted so far: a read from the beginning no longer sees
    /// their pages.
    ///
    /// # Errors
    /// [`StoreError::Io`], [`StoreError::Checkpoint`] for an unreadable `retired.json`.
    pub fn retired(&self) -> Result<Retired, StoreError> {
        retention::load(&self.dir)
    }
}

/// What [`Records`] yields.
type RecordItem = Result<(RecordPosition, PageRecord), StoreError>;

/// The segment a [`Records`] iterator is reading.
struct OpenSegment {
    id: SegmentId,
    path: PathBuf,
    units: UnitReader,
}

/// Iterator over `(position, page)` for the response records of a store, from
/// [`PageStore::records`].
pub struct Records {
    dir: PathBuf,
    /// Where the next unit starts; `None` before the first segment.
    cursor: Option<RecordPosition>,
    current: Option<OpenSegment>,
    /// A damaged unit already re-read once.
    retried: Option<RecordPosition>,
    done: bool,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("dir", &self.dir)
            .field("cursor", &self.cursor)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Records {
    /// Where reading would continue: just past everything this iterator has consumed. Pass it
    /// to [`PageStore::records`] (or save it as a checkpoint) to resume exactly there. `None`
    /// only if nothing has been read and no start was given.
    pub fn resume_position(&self) -> Option<RecordPosition> {
        self.cursor
    }

    /// One step: an item, or `None` at the end.
    fn step(&mut self) -> Result<Option<RecordItem>, StoreError> {
        loop {
            let Some(open) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(None);
                }
                continue;
            };
            let (id, path) = (open.id, open.path.clone());
            let io_err = |e| StoreError::io(&path, e);
            match open.units.next_unit().map_err(io_err)? {
                Unit::Page {
                    start,
                    end,
                    response,
                    request,
                } => {
                    self.cursor = Some(RecordPosition {
                        segment: id,
                        offset: end,
                    });
                    let position = RecordPosition {
                        segment: id,
                        offset: start,
                    };
                    let item = exchange::decode_page(&response, request.as_ref())
                        .map(|page| (position, page))
                        .map_err(|reason| StoreError::Corrupt {
                            segment: id,
                            offset: start,
                            reason,
                        });
                    return Ok(Some(item));
                }
                Unit::Other { end, .. } => {
                    self.cursor = Some(RecordPosition {
                        segment: id,
                        offset: end,
                    });
                }
                Unit::End => match self.later_segment(id)? {
                    Some(next) => {
                        self.current = None;
                        self.cursor = Some(RecordPosition {
                            segment: next,
                            offset: 0,
                        });
                    }
                    None => return Ok(None),
                },
                Unit::Broken { start, at, reason } => {
                    let resync = segment::next_record_after(&path, at).map_err(io_err)?;
                    let later = self.later_segment(id)?;
                    let unit = RecordPosition {
                        segment: id,
                        offset: start,
                    };
                    if resync.is_none() && later.is_none() {
                        // The torn tail of the log: a writer is appending or crashed.
                        self.cursor = Some(unit);
                        return Ok(None);
                    }
                    if self.retried != Some(unit) {
                        // A writer may have completed the unit (and rolled) since we read it.
                        self.retried = Some(unit);
                        if let Some(open) = self.current.as_mut() {
                            open.units.seek(start).map_err(io_err)?;
                        }
                        continue;
                    }
                    self.retried = None;
                    match (resync, later) {
                        (Some(offset), _) => {
                            if let Some(open) = self.current.as_mut() {
                                open.units.seek(offset).map_err(io_err)?;
                            }
                            self.cursor = Some(RecordPosition {
                                segment: id,
                                offset,
                            });
                        }
                        (None, next) => {
                            self.current = None;
                            self.cursor = next.map(|segment| RecordPosition { segment, offset: 0 });
                        }
                    }
                    return Ok(Some(Err(StoreError::Corrupt {
                        segment: id,
                        offset: at,
                        reason,
                    })));
                }
            }
        }
    }

    /// Opens the segment the cursor points into (or the first one at or after it). `false` when
    /// there is none.
    fn open_next(&mut self) -> Result<bool, StoreError> {
        loop {
            let segments = segment::list_segments(&self.dir)?;
            let found = match self.cursor {
                None => segments.first(),
                Some(cursor) => segments.iter().find(|s| s.id >= cursor.segment),
            };
            let Some(info) = found else {
                return Ok(false);
            };
            let offset = match self.cursor {
                Some(cursor) if cursor.segment == info.id => cursor.offset,
                _ => 0,
            };
            match UnitReader::open(&info.path, offset) {
                Ok(units) => {
                    self.cursor = Some(RecordPosition {
                        segment: info.id,
                        offset,
                    });
                    self.current = Some(OpenSegment {
                        id: info.id,
                        path: info.path.clone(),
                        units,
                    });
                    return Ok(true);
                }
                // Deleted since the listing (retention): look again past it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let Some(next) = info.id.0.checked_add(1) else {
                        return Ok(false);
                    };
                    self.cursor = Some(RecordPosition {
                        segment: SegmentId(next),
                        offset: 0,
                    });
                }
                Err(e) => return Err(StoreError::io(&info.path, e)),
            }
        }
    }

    /// The first segment after `id`, listed afresh.
    fn later_segment(&self, id: SegmentId) -> Result<Option<SegmentId>, StoreError> {
        Ok(segment::list_segments(&self.dir)?
            .iter()
            .map(|s| s.id)
            .find(|&s| s > id))
    }
}

impl Iterator for Records {
    type Item = RecordItem;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(item),
            Ok(None) => {
                self.done = true;
                None
            }
            // An I/O failure (not bad data): report it and stop.
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests;
