//! The SQLite store: one writer connection behind a mutex (every write is a
//! `BEGIN IMMEDIATE` transaction, so two writers never deadlock on upgrade;
//! writes that queue while it is busy are committed together, see `write`)
//! and a pool of read-only connections. All SQLite work runs on the blocking
//! thread pool, never on the async workers.
//!
//! Durability: WAL journal. `synchronous=FULL` (the default) fsyncs the WAL on
//! every commit, so an acknowledged write survives `kill -9` and power loss.
//! `synchronous=NORMAL` survives `kill -9` but may lose the newest commits on
//! power loss or an OS crash; it is offered for speed and documented in the
//! README.

pub mod files;
pub mod generation;
pub mod migrate;
pub mod tx;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::clock::Clock;
use crate::error::{ApiError, Result};

pub use tx::{ReadTx, Tx};

/// SQLite `synchronous` setting. See README "Durability".
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    /// fsync the WAL on every commit: survives process crash and power loss.
    Full,
    /// fsync only at checkpoints: survives a process crash (`kill -9`), may
    /// lose the last commits on power loss or an OS crash.
    Normal,
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a queued write hands back once its group has ended: called with
/// the group's failure, if it failed.
type Deliver = Box<dyn FnOnce(Option<&ApiError>) + Send>;
/// A queued write: runs in the batch's transaction; says whether it
/// succeeded (else its savepoint is rolled back) and how to deliver.
type Job = Box<dyn FnOnce(&Tx<'_>) -> (bool, Deliver) + Send>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    /// Writes waiting for the writer (see `write`).
    queued: Arc<Mutex<Vec<Job>>>,
    /// True while a blocking thread runs the queued writes (see `write`).
    leading: Arc<AtomicBool>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: Arc<Path>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    generation: Arc<generation::Generation>,
    /// Where a write's `now` comes from (see `write`).
    clock: Clock,
}

/// Why the database could not be opened.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

fn pragmas(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // secure_delete: deleted and overwritten content (an old session hash, a
    // secret replaced by its sealed form) is zeroed, not left in free space.
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY; \
         PRAGMA secure_delete = ON;"
    ))
}

/// fsyncs a newly created database file and the directory entry naming it.
fn sync_new_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

impl Db {
    /// Opens (creating if needed) the file, applies pragmas and migrations.
    pub fn open(path: &Path, sync: Synchronous) -> std::result::Result<Self, OpenError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::create_private_dir(dir)
                .map_err(|e| OpenError(format!("cannot create {}: {e}", dir.display())))?;
        }
        files::prepare_database_file(path)
            .map_err(|e| OpenError(format!("{}: {e}", path.display())))?;
        let fail = |e: rusqlite::Error| OpenError(format!("{}: {e}", path.display()));
        // A new file is created without SQLite's per-step fsyncs (the WAL
        // switch alone is a rollback-journal commit with four of them, the
        // schema another): the header is made durable by one fsync of the
        // file and its directory below, the schema by the WAL fsync of the
        // first commit at the configured level (the signing key, written
        // right after start-up). A crash before that leaves a file without
        // a schema version, which the next start completes. ≈40 ms of
        // exec → healthy on a fresh data dir.
        let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
        let mut writer = Connection::open(path).map_err(fail)?;
        if fresh {
            writer
                .execute_batch("PRAGMA synchronous = OFF;")
                .map_err(fail)?;
        }
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError(format!(
                "{}: cannot switch to WAL journal (got {mode})",
                path.display()
            )));
        }
        if fresh {
            sync_new_file(path)
                .map_err(|e| OpenError(format!("{}: cannot sync: {e}", path.display())))?;
            writer.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
            migrate::migrate(&mut writer)
                .map_err(|e| OpenError(format!("{}: {e}", path.display())))?;
            pragmas(&writer, sync).map_err(fail)?;
        } else {
            pragmas(&writer, sync).map_err(fail)?;
            migrate::migrate(&mut writer)
                .map_err(|e| OpenError(format!("{}: {e}", path.display())))?;
        }

        let generation = Arc::new(generation::Generation::default());
        generation.install(&writer).map_err(fail)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(move |c| {
                pragmas(c, sync)?;
                c.execute_batch("PRAGMA query_only = ON;")
            });
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let readers = r2d2::Pool::builder()
            .max_size((cores * 4).clamp(4, 32) as u32)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)
            .map_err(|e| OpenError(format!("{}: {e}", path.display())))?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            queued: Arc::default(),
            leading: Arc::default(),
            readers,
            path: path.into(),
            metrics: None,
            generation,
            clock: Clock::system(),
        })
    }

    /// Reports waits for the writer and for pooled connections to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reads each write's `now` from `clock` (the server's; tests pass
    /// their settable one) instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn waited(&self, started: std::time::Instant) {
        if let Some(m) = &self.metrics {
            m.observe_db_wait(started.elapsed());
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer connection,
    /// off the async workers. Commits on `Ok`, rolls back on `Err`; returns
    /// once the commit is durable (at the configured `synchronous` level).
    ///
    /// `f` gets the transaction and `now`: the request's time, read from
    /// the server's clock once, when the write is queued (not when the
    /// leader thread gets to it), so a write never reads the clock itself.
    ///
    /// Group commit: writes that arrive while the writer is busy queue up,
    /// and the next thread to get the writer runs every queued write in one
    /// transaction, each inside its own savepoint (a write that fails is
    /// rolled back to its savepoint alone, as if it had been its own
    /// transaction), then commits once: one fsync for the whole group
    /// instead of one each. Nobody hears of a write before the COMMIT that
    /// made it durable; should that COMMIT fail, every write of the group
    /// gets the error.
    ///
    /// The waiting is done by the callers' tasks, not by threads: a write
    /// queues itself and awaits its answer, and one blocking thread (the
    /// leader, started by the write that found none running) runs groups
    /// until the queue is empty. Queued writes cost no thread and no
    /// thread switch of their own.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>, DateTime<Utc>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T>>();
        self.queue(f, move |answer| {
            let _ = tx.send(answer);
        });
        if !self.leading.swap(true, Ordering::SeqCst) {
            let db = self.clone();
            tokio::task::spawn_blocking(move || db.lead());
        }
        rx.await
            .unwrap_or_else(|_| Err(ApiError::internal("write was dropped")))
    }

    /// Runs groups of queued writes until none is left (see `write`).
    fn lead(&self) {
        /// Lets the next write start a leader, even should this one unwind.
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        loop {
            {
                let _done = Done(&self.leading);
                let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                let jobs =
                    std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner()));
                if !jobs.is_empty() {
                    self.run_group(&mut conn, jobs);
                }
            }
            // A write queued after the take above may have seen a leader
            // still running and started none: lead again for it, unless
            // another leader has been started meanwhile.
            let more = !self
                .queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
            if !more || self.leading.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Queues `f`; `deliver` hears its outcome once its group has ended.
    fn queue<T, F>(&self, f: F, deliver: impl FnOnce(Result<T>) + Send + 'static)
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>, DateTime<Utc>) -> Result<T> + Send + 'static,
    {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let metrics = self.metrics.clone();
        let job: Job = Box::new(move |t: &Tx<'_>| {
            if let Some(m) = &metrics {
                m.observe_db_wait(started.elapsed());
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t, now)))
                .unwrap_or_else(|_| Err(ApiError::internal("write panicked")));
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |failed: Option<&ApiError>| {
                let answer = match (result, failed) {
                    (Ok(_), Some(e)) => {
                        let mut copy = ApiError::new(e.code, e.message.clone());
                        copy.retry_after = e.retry_after;
                        Err(copy)
                    }
                    (result, _) => result,
                };
                deliver(answer);
            });
            (ok, deliver)
        });
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job);
    }

    /// Runs `jobs` in one transaction on the writer (held), each in its
    /// own savepoint, commits, and delivers every outcome. Jobs that never
    /// ran (the group failed before them) are dropped: their callers hear
    /// an internal error.
    fn run_group(&self, conn: &mut Connection, jobs: Vec<Job>) {
        self.generation.before_write(conn);
        let mut delivers = Vec::with_capacity(jobs.len());
        let commit = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for job in jobs {
                // Prepared once per connection (not parsed for every
                // write: ≈3 % of the writer's time in a refresh run).
                tx.prepare_cached("SAVEPOINT w")?.execute([])?;
                let (ok, deliver) = job(&Tx::new(&tx));
                delivers.push(deliver);
                if !ok {
                    tx.prepare_cached("ROLLBACK TO w")?.execute([])?;
                }
                tx.prepare_cached("RELEASE w")?.execute([])?;
            }
            tx.commit()
        })();
        // Before the writer is released and before anyone hears of it.
        self.generation.after_write();
        let failed = commit.err().map(ApiError::from);
        for deliver in delivers {
            deliver(failed.as_ref());
        }
    }

    /// Same as `write`, for callers already on a blocking thread (CLI);
    /// `now` is read when it is called.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Tx<'_>, DateTime<Utc>) -> Result<T>,
    {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.before_write(&conn);
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            self.waited(started);
            let value = f(&Tx::new(&tx), now)?;
            tx.commit()?;
            Ok(value)
        })();
        // Before the writer is released and before the caller hears of it.
        self.generation.after_write();
        result
    }

    /// The generation of sessions, users and admin locks: it moves with
    /// every change to them (see `generation`).
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// Notices commits that another process made to the file (the CLI),
    /// off the async workers; run on a short timer.
    pub async fn poll_external(&self) {
        let db = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let conn = db.writer.lock().unwrap_or_else(|p| p.into_inner());
            db.generation.check_external(&conn);
        })
        .await;
    }

    /// Runs `f` in one read transaction (a snapshot: see `ReadTx`) on a
    /// pooled read-only connection, off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTx<'_>) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let conn = db.readers.get()?;
            db.waited(started);
            in_snapshot(&conn, f)
        })
        .await?
    }

    /// Same as `read`, for callers on a blocking thread.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&ReadTx<'_>) -> Result<T>,
    {
        let conn = self.readers.get()?;
        in_snapshot(&conn, f)
    }

    /// Copies the WAL into the main file and truncates it to zero bytes.
    pub fn checkpoint(&self) -> Result<()> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(ApiError::from)
    }

    /// The WAL on a clean stop. Without a replicator: a TRUNCATE checkpoint
    /// that waits at most `STOP_CHECKPOINT_WAIT` for other readers (ours
    /// are done by then), so the file is whole and the `-wal` empty. When
    /// Litestream replicates the file (its metadata directory lies beside
    /// it), nothing: Litestream holds a read transaction between its own
    /// checkpoints, so a TRUNCATE would only wait out the busy timeout, and
    /// its guidance is to leave checkpointing to it; it syncs the last
    /// frames after we exit. Never fails the stop: a busy file stays as it
    /// is and is replayed on the next open.
    pub fn close(&self) -> Result<StopCheckpoint> {
        if let Some(dir) = litestream_meta_dir(&self.path) {
            return Ok(StopCheckpoint::LeftToReplicator(dir));
        }
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.busy_timeout(STOP_CHECKPOINT_WAIT)?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(if busy == 0 {
            StopCheckpoint::Truncated
        } else {
            StopCheckpoint::Busy
        })
    }
}

/// Runs `f` in a read transaction on `conn` (a pooled reader) and ends it,
/// also when `f` fails or panics: a connection goes back to the pool
/// outside any transaction, so the next read never inherits an old
/// snapshot. The two statements are cached, so a one-statement read pays
/// two steps, no parsing.
fn in_snapshot<T>(conn: &Connection, f: impl FnOnce(&ReadTx<'_>) -> Result<T>) -> Result<T> {
    /// Ends a read transaction left open (by an error or a panic).
    struct End<'a>(&'a Connection);
    impl Drop for End<'_> {
        fn drop(&mut self) {
            if !self.0.is_autocommit() {
                let _ = self.0.execute_batch("ROLLBACK");
            }
        }
    }
    conn.prepare_cached("BEGIN")?.execute([])?;
    let end = End(conn);
    let value = f(&ReadTx::new(conn))?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    drop(end);
    Ok(value)
}

/// How long the stop checkpoint waits for readers of other processes.
const STOP_CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

/// What the stop did with the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCheckpoint {
    /// Checkpointed into the main file; the `-wal` is empty.
    Truncated,
    /// Another process held a read transaction; the WAL stays for it.
    Busy,
    /// Litestream's metadata directory is beside the file; the WAL is
    /// left to Litestream.
    LeftToReplicator(PathBuf),
}

impl StopCheckpoint {
    /// One word for the stop log line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::Busy => "busy",
            Self::LeftToReplicator(_) => "left-to-litestream",
        }
    }
}

/// Litestream's metadata directory for `db`, if it exists: `.NAME-litestream`
/// beside the file (0.5), or `NAME-litestream` (0.3).
pub fn litestream_meta_dir(db: &Path) -> Option<PathBuf> {
    let name = db.file_name()?.to_string_lossy().into_owned();
    let dir = db.parent().unwrap_or(Path::new("."));
    [format!(".{name}-litestream"), format!("{name}-litestream")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_writes_commit_together_and_a_failing_one_alone_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("group.db"), Synchronous::Full).unwrap();
        db.write_blocking(|tx, _| Ok(tx.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .unwrap();
        // Hold the writer while six writes queue: they run as one group.
        let held = db.writer.lock().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let writes: Vec<_> = (0..6i64)
            .map(|i| {
                let db = db.clone();
                rt.spawn(async move {
                    db.write(move |tx, _| {
                        tx.execute("INSERT INTO t (n) VALUES (?1)", [i])?;
                        if i % 3 == 0 {
                            return Err(ApiError::validation("refused"));
                        }
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        while db.queued.lock().unwrap().len() < 6 {
            std::thread::yield_now();
        }
        drop(held);
        for (i, w) in writes.into_iter().enumerate() {
            match rt.block_on(w).unwrap() {
                Ok(n) => assert_eq!(n, i as i64),
                Err(e) => {
                    assert_eq!(i % 3, 0, "write {i} failed: {}", e.message);
                    assert_eq!(e.code, crate::error::ErrorCode::Validation);
                }
            }
        }
        // The failing writes left nothing; the others are committed.
        let rows: Vec<i64> = db
            .read_blocking(|c| {
                let mut stmt = c.prepare("SELECT n FROM t ORDER BY n")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(rows, vec![1, 2, 4, 5]);
        assert!(db.queued.lock().unwrap().is_empty());
    }

    fn count(c: &Connection) -> Result<i64> {
        Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    }

    #[test]
    fn a_read_is_one_snapshot_even_when_a_write_commits_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("snap.db"), Synchronous::Full).unwrap();
        let insert = |db: &Db| {
            db.write_blocking(|tx, _| Ok(tx.execute("INSERT INTO t DEFAULT VALUES", [])?))
                .unwrap()
        };
        db.write_blocking(|tx, _| Ok(tx.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .unwrap();
        insert(&db);
        // Between the read's two statements a write commits (the writer is
        // its own connection, so it does not wait for the reader): both
        // statements see the state before it.
        let (first, second, bare) = db
            .read_blocking(|r| {
                let first = count(r)?;
                insert(&db);
                // What a connection outside a transaction sees now.
                let bare = count(&db.readers.get().unwrap())?;
                Ok((first, count(r)?, bare))
            })
            .unwrap();
        assert_eq!((first, second), (1, 1));
        assert_eq!(bare, 2, "the write did commit meanwhile");
        // The next read sees it; the connection went back to the pool
        // outside any transaction.
        assert_eq!(db.read_blocking(|r| count(r)).unwrap(), 2);

        // The same through the async `read`, and after a failed read.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inner = db.clone();
        let seen = rt
            .block_on(db.read(move |r| {
                let first = count(r)?;
                insert(&inner);
                Ok((first, count(r)?))
            }))
            .unwrap();
        assert_eq!(seen, (2, 2));
        let failed: Result<()> =
            db.read_blocking(|r| Err(ApiError::validation(format!("{}", count(r)?))));
        assert!(failed.is_err());
        insert(&db);
        assert_eq!(db.read_blocking(|r| count(r)).unwrap(), 4);
        let open = db.readers.state().connections;
        let pooled: Vec<_> = (0..open).map(|_| db.readers.get().unwrap()).collect();
        assert!(pooled.iter().all(|c| c.is_autocommit()));
    }

    #[test]
    fn a_write_gets_the_time_it_was_queued_at_by_the_db_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::system();
        let db = Db::open(&dir.path().join("now.db"), Synchronous::Full)
            .unwrap()
            .with_clock(clock.clone());
        // Moving the clock moves the `now` writes see.
        let before = clock.now();
        clock.advance(chrono::Duration::days(30));
        let seen = db.write_blocking(|_, now| Ok(now)).unwrap();
        assert!(seen - before >= chrono::Duration::days(30));

        // A write queued while the writer is busy keeps the time it was
        // queued at, not the time the writer gets to it.
        let held = db.writer.lock().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let queued_at = clock.now();
        let w = {
            let db = db.clone();
            rt.spawn(async move { db.write(|_, now| Ok(now)).await })
        };
        while db.queued.lock().unwrap().is_empty() {
            std::thread::yield_now();
        }
        let queued_by = clock.now();
        clock.advance(chrono::Duration::hours(1));
        drop(held);
        let seen = rt.block_on(w).unwrap().unwrap();
        assert!(
            seen >= queued_at && seen <= queued_by,
            "{seen} not in [{queued_at}, {queued_by}]"
        );
    }
}
