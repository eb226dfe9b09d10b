//! The SQLite file an import writes: new, or with this server's schema and
//! no accounts yet. It is opened with SQLite's exclusive locking mode, so a
//! running server (whose connections hold a shared lock on the file in WAL
//! mode) makes the import stop before reading anything, and a server
//! started during the import cannot open the file until it is done.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

use crate::config::Synchronous;
use crate::db::{migrate, Db};

/// Why the target cannot be written.
#[derive(Debug)]
pub struct TargetError(pub String);

/// Opens `path` for an import. A dry run on a file that does not exist
/// works on an empty in-memory database and creates nothing.
pub fn open(path: &Path, sync: Synchronous, dry_run: bool) -> Result<Connection, TargetError> {
    let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    let fail = |e: rusqlite::Error| TargetError(format!("{}: {e}", path.display()));
    if !exists && dry_run {
        let mut conn = Connection::open_in_memory().map_err(fail)?;
        migrate::migrate(&mut conn).map_err(TargetError)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(fail)?;
        return Ok(conn);
    }
    if !exists {
        // A new file is made the way the server makes one (private
        // permissions, WAL, the schema), then closed.
        drop(Db::open(path, sync).map_err(|e| TargetError(e.to_string()))?);
    }
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; PRAGMA foreign_keys = ON;")
        .map_err(fail)?;
    // Take the lock now, without waiting: another process that has the file
    // open holds a shared lock on it.
    match conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
            return Err(TargetError(format!(
                "{} is in use by another process (a running mana-auth server?): \
                 stop it, then import",
                path.display()
            )));
        }
        Err(e) => return Err(fail(e)),
    }
    migrate::migrate(&mut conn).map_err(TargetError)?;
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // One big transaction: a large page cache keeps it from spilling pages
    // to the WAL before the commit (a one-off command can afford 256 MiB).
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA cache_size = -262144;"
    ))
    .map_err(fail)?;
    Ok(conn)
}

/// Refuses a file that already holds accounts: an import fills a new or
/// empty file, so running it twice changes nothing.
pub fn ensure_empty(conn: &Connection) -> Result<(), TargetError> {
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(|e| TargetError(e.to_string()))?;
    if users > 0 {
        return Err(TargetError(format!(
            "the target already holds {users} account(s): import only into a new or empty \
             database (nothing was changed)"
        )));
    }
    Ok(())
}
