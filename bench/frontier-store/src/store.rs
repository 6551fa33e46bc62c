//! The frontier operations, implemented once per embedded engine.
//!
//! Every store holds two collections in one database:
//! - the seen-set: URL -> (nothing)
//! - the ready queue: (due_ms, seq) -> URL, popped in key order
//!
//! Each method is one transaction, so a batch of 1,000 operations is one commit.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::workload::QueueItem;

pub trait FrontierStore {
    /// Insert-if-absent of every URL in one write transaction; returns how many were new.
    fn insert_seen(&mut self, urls: &[String]) -> Result<usize>;

    /// Looks up every URL in one read transaction; returns how many are present.
    fn count_seen(&self, urls: &[String]) -> Result<usize>;

    /// Pushes every entry onto the queue in one write transaction.
    fn push(&mut self, items: &[QueueItem]) -> Result<()>;

    /// In one write transaction, pops up to `n` minimum entries (read the first entry, delete
    /// it, repeat) and appends them to `out`. Fewer than `n` means the queue is now empty.
    fn pop_min(&mut self, n: usize, out: &mut Vec<QueueItem>) -> Result<()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// redb, `Durability::Immediate`: fsync on every commit.
    Redb,
    /// SQLite, WAL, `synchronous=NORMAL`: no fsync per commit (only at checkpoints).
    Sqlite,
    /// SQLite, WAL, `synchronous=FULL`: fsync of the WAL on every commit, like redb Immediate.
    SqliteFull,
    /// fjall, default durability (`PersistMode::Buffer`: each commit written to the OS, no
    /// fsync); pop-min reads the first key, as specified.
    Fjall,
    /// The same, but pop-min resumes scanning after the last popped key instead of walking
    /// over every tombstone from the start of the keyspace.
    FjallCursor,
}

impl Engine {
    pub const ALL: [Engine; 5] = [
        Engine::Redb,
        Engine::Sqlite,
        Engine::SqliteFull,
        Engine::Fjall,
        Engine::FjallCursor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Redb => "redb",
            Engine::Sqlite => "sqlite",
            Engine::SqliteFull => "sqlite-full",
            Engine::Fjall => "fjall",
            Engine::FjallCursor => "fjall-cursor",
        }
    }

    /// Engine and durability setting, as shown in the results table.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Redb => "redb 4.6, Immediate",
            Engine::Sqlite => "SQLite 3, WAL, sync=NORMAL",
            Engine::SqliteFull => "SQLite 3, WAL, sync=FULL",
            Engine::Fjall => "fjall 3.1, Buffer",
            Engine::FjallCursor => "fjall 3.1, Buffer, cursor pop",
        }
    }

    pub fn parse(name: &str) -> Result<Engine> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.name() == name)
            .with_context(|| {
                let names: Vec<&str> = Engine::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "unknown engine {name:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }

    /// Opens (creating if needed) this engine's store inside the directory `dir`.
    pub fn open(self, dir: &Path) -> Result<Box<dyn FrontierStore>> {
        std::fs::create_dir_all(dir)?;
        Ok(match self {
            Engine::Redb => Box::new(RedbStore::open(dir)?),
            Engine::Sqlite => Box::new(SqliteStore::open(dir, "NORMAL")?),
            Engine::SqliteFull => Box::new(SqliteStore::open(dir, "FULL")?),
            Engine::Fjall => Box::new(FjallStore::open(dir, false)?),
            Engine::FjallCursor => Box::new(FjallStore::open(dir, true)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// redb: copy-on-write B+tree, one file, fsync on every commit (Durability::Immediate).

mod redb_store {
    use super::*;
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    const SEEN: TableDefinition<&str, ()> = TableDefinition::new("seen");
    const QUEUE: TableDefinition<(u64, u64), &str> = TableDefinition::new("queue");

    pub struct RedbStore {
        db: Database,
    }

    impl RedbStore {
        pub fn open(dir: &Path) -> Result<Self> {
            let db = Database::create(dir.join("frontier.redb"))?;
            // Create both tables up front so read transactions never see them missing.
            let txn = db.begin_write()?;
            txn.open_table(SEEN)?;
            txn.open_table(QUEUE)?;
            txn.commit()?;
            Ok(Self { db })
        }

        fn begin_write(&self) -> Result<redb::WriteTransaction> {
            let mut txn = self.db.begin_write()?;
            // The default; spelled out because it is the setting under test.
            txn.set_durability(Durability::Immediate)?;
            Ok(txn)
        }
    }

    impl FrontierStore for RedbStore {
        fn insert_seen(&mut self, urls: &[String]) -> Result<usize> {
            let txn = self.begin_write()?;
            let mut new = 0;
            {
                let mut seen = txn.open_table(SEEN)?;
                for url in urls {
                    // `insert` returns the previous value: None means the URL was absent.
                    if seen.insert(url.as_str(), ())?.is_none() {
                        new += 1;
                    }
                }
            }
            txn.commit()?;
            Ok(new)
        }

        fn count_seen(&self, urls: &[String]) -> Result<usize> {
            let txn = self.db.begin_read()?;
            let seen = txn.open_table(SEEN)?;
            let mut present = 0;
            for url in urls {
                if seen.get(url.as_str())?.is_some() {
                    present += 1;
                }
            }
            Ok(present)
        }

        fn push(&mut self, items: &[QueueItem]) -> Result<()> {
            let txn = self.begin_write()?;
            {
                let mut queue = txn.open_table(QUEUE)?;
                for item in items {
                    queue.insert((item.due_ms, item.seq), item.url.as_str())?;
                }
            }
            txn.commit()?;
            Ok(())
        }

        fn pop_min(&mut self, n: usize, out: &mut Vec<QueueItem>) -> Result<()> {
            let txn = self.begin_write()?;
            {
                let mut queue = txn.open_table(QUEUE)?;
                for _ in 0..n {
                    let Some((key, url)) = queue.pop_first()? else {
                        break;
                    };
                    let (due_ms, seq) = key.value();
                    out.push(QueueItem {
                        due_ms,
                        seq,
                        url: url.value().to_owned(),
                    });
                }
            }
            txn.commit()?;
            Ok(())
        }
    }
}
use redb_store::RedbStore;

// ---------------------------------------------------------------------------------------------
// SQLite: B-tree tables (WITHOUT ROWID), WAL journal. synchronous=NORMAL: no fsync per commit
// (the WAL is fsynced at checkpoints); synchronous=FULL: the WAL is fsynced on every commit.

mod sqlite_store {
    use super::*;
    use rusqlite::{Connection, OptionalExtension};

    pub struct SqliteStore {
        conn: Connection,
    }

    impl SqliteStore {
        pub fn open(dir: &Path, synchronous: &str) -> Result<Self> {
            let conn = Connection::open(dir.join("frontier.sqlite3"))?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                bail!("SQLite refused WAL mode (got {mode})");
            }
            conn.pragma_update(None, "synchronous", synchronous)?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS seen (url TEXT PRIMARY KEY) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS queue (
                     due_ms INTEGER NOT NULL,
                     seq INTEGER NOT NULL,
                     url TEXT NOT NULL,
                     PRIMARY KEY (due_ms, seq)
                 ) WITHOUT ROWID;",
            )?;
            Ok(Self { conn })
        }
    }

    /// SQLite integers are i64; every bench value is far below 2^63.
    fn to_sql(value: u64) -> i64 {
        i64::try_from(value).expect("value fits in i64")
    }

    impl FrontierStore for SqliteStore {
        fn insert_seen(&mut self, urls: &[String]) -> Result<usize> {
            let tx = self.conn.transaction()?;
            let mut new = 0;
            {
                let mut insert =
                    tx.prepare_cached("INSERT OR IGNORE INTO seen (url) VALUES (?1)")?;
                for url in urls {
                    new += insert.execute([url])?;
                }
            }
            tx.commit()?;
            Ok(new)
        }

        fn count_seen(&self, urls: &[String]) -> Result<usize> {
            let tx = self.conn.unchecked_transaction()?;
            let mut present = 0;
            {
                let mut lookup = tx.prepare_cached("SELECT 1 FROM seen WHERE url = ?1")?;
                for url in urls {
                    if lookup.exists([url])? {
                        present += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(present)
        }

        fn push(&mut self, items: &[QueueItem]) -> Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO queue (due_ms, seq, url) VALUES (?1, ?2, ?3)")?;
                for item in items {
                    insert.execute((to_sql(item.due_ms), to_sql(item.seq), &item.url))?;
                }
            }
            tx.commit()?;
            Ok(())
        }

        fn pop_min(&mut self, n: usize, out: &mut Vec<QueueItem>) -> Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut first = tx.prepare_cached(
                    "SELECT due_ms, seq, url FROM queue ORDER BY due_ms, seq LIMIT 1",
                )?;
                let mut delete =
                    tx.prepare_cached("DELETE FROM queue WHERE due_ms = ?1 AND seq = ?2")?;
                for _ in 0..n {
                    let row = first
                        .query_row([], |row| {
                            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get(2)?))
                        })
                        .optional()?;
                    let Some((due_ms, seq, url)) = row else {
                        break;
                    };
                    delete.execute((due_ms, seq))?;
                    out.push(QueueItem {
                        due_ms: due_ms as u64,
                        seq: seq as u64,
                        url,
                    });
                }
            }
            tx.commit()?;
            Ok(())
        }
    }
}
use sqlite_store::SqliteStore;

// ---------------------------------------------------------------------------------------------
// fjall: LSM tree with a write-ahead journal. Default durability: each commit is written to the
// OS (PersistMode::Buffer), not fsynced. The single-writer transactional flavour is used so that
// a pop transaction reads its own deletes.

mod fjall_store {
    use super::*;
    use fjall::{KeyspaceCreateOptions, Readable, SingleWriterTxDatabase, SingleWriterTxKeyspace};
    use std::ops::Bound;

    pub struct FjallStore {
        db: SingleWriterTxDatabase,
        seen: SingleWriterTxKeyspace,
        queue: SingleWriterTxKeyspace,
        /// `Some` when pop-min resumes after the last popped key.
        cursor: Option<Cursor>,
    }

    /// Every queue key at or below `popped_up_to` is known to be popped (deleted), so a scan
    /// for the minimum may start just after it. `None` means "scan from the beginning".
    #[derive(Default)]
    struct Cursor {
        popped_up_to: Option<[u8; 16]>,
    }

    impl FjallStore {
        pub fn open(dir: &Path, cursor_pop: bool) -> Result<Self> {
            let db = SingleWriterTxDatabase::builder(dir.join("fjall")).open()?;
            let seen = db.keyspace("seen", KeyspaceCreateOptions::default)?;
            let queue = db.keyspace("queue", KeyspaceCreateOptions::default)?;
            let cursor = cursor_pop.then(Cursor::default);
            Ok(Self {
                db,
                seen,
                queue,
                cursor,
            })
        }
    }

    /// Big-endian so that byte order is (due_ms, seq) order.
    fn queue_key(due_ms: u64, seq: u64) -> [u8; 16] {
        let mut key = [0; 16];
        key[..8].copy_from_slice(&due_ms.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        key
    }

    fn decode_queue_key(key: &[u8]) -> Result<(u64, u64)> {
        let (due, seq) = key.split_at_checked(8).context("short queue key")?;
        Ok((
            u64::from_be_bytes(due.try_into()?),
            u64::from_be_bytes(seq.try_into()?),
        ))
    }

    impl FrontierStore for FjallStore {
        fn insert_seen(&mut self, urls: &[String]) -> Result<usize> {
            let mut tx = self.db.write_tx();
            let mut new = 0;
            for url in urls {
                // An LSM insert is blind, so insert-if-absent needs the read first.
                if !tx.contains_key(&self.seen, url)? {
                    tx.insert(&self.seen, url.as_str(), b"");
                    new += 1;
                }
            }
            tx.commit()?;
            Ok(new)
        }

        fn count_seen(&self, urls: &[String]) -> Result<usize> {
            let snapshot = self.db.read_tx();
            let mut present = 0;
            for url in urls {
                if snapshot.contains_key(&self.seen, url)? {
                    present += 1;
                }
            }
            Ok(present)
        }

        fn push(&mut self, items: &[QueueItem]) -> Result<()> {
            let mut tx = self.db.write_tx();
            let mut lowest: Option<[u8; 16]> = None;
            for item in items {
                let key = queue_key(item.due_ms, item.seq);
                lowest = Some(lowest.map_or(key, |low| low.min(key)));
                tx.insert(&self.queue, key, item.url.as_str());
            }
            tx.commit()?;
            // A key pushed behind the cursor would be skipped: rescan from the start next time.
            if let Some(cursor) = &mut self.cursor
                && lowest.is_some()
                && lowest <= cursor.popped_up_to
            {
                cursor.popped_up_to = None;
            }
            Ok(())
        }

        fn pop_min(&mut self, n: usize, out: &mut Vec<QueueItem>) -> Result<()> {
            let mut tx = self.db.write_tx();
            let mut popped_up_to = self.cursor.as_ref().and_then(|c| c.popped_up_to);
            for _ in 0..n {
                let first = match (&self.cursor, popped_up_to) {
                    (Some(_), Some(after)) => tx
                        .range(&self.queue, (Bound::Excluded(after), Bound::Unbounded))
                        .next(),
                    _ => tx.first_key_value(&self.queue),
                };
                let Some(first) = first else {
                    break;
                };
                let (key, url) = first.into_inner()?;
                let (due_ms, seq) = decode_queue_key(&key)?;
                tx.remove(&self.queue, key);
                popped_up_to = Some(queue_key(due_ms, seq));
                out.push(QueueItem {
                    due_ms,
                    seq,
                    url: String::from_utf8(url.to_vec())?,
                });
            }
            tx.commit()?;
            if let Some(cursor) = &mut self.cursor {
                cursor.popped_up_to = popped_up_to;
            }
            Ok(())
        }
    }
}
use fjall_store::FjallStore;
