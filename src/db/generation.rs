//! The generation of the rows a caller is resolved from (sessions, users,
//! admin locks), so that a cache of live sessions can never outlive a
//! change to them.
//!
//! An update hook on the single writer connection notes every change to
//! those tables — whichever code path makes it, foreign-key cascades and
//! triggers included — and the writer bumps the generation right after
//! the transaction ends, before `write` returns to its caller. Changes by
//! another process on the same file (the CLI, an operator's `sqlite3`) are
//! seen through the writer's `PRAGMA data_version`, which moves only for
//! other connections' commits: it is checked before every write
//! transaction and by a short timer (`poll_external`).
//!
//! A cache entry remembers the generation read *before* its rows were
//! read; it is good only while the generation has not moved.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::hooks::Action;
use rusqlite::Connection;

/// Tables whose changes end cached callers. Inserting a session or a user
/// cannot end anything; every other change to these does (a lock row of
/// any kind, to be safe).
fn ends_callers(action: Action, table: &str) -> bool {
    match table {
        "sessions" | "users" => matches!(action, Action::SQLITE_UPDATE | Action::SQLITE_DELETE),
        "user_locks" => true,
        _ => false,
    }
}

/// Shared between the writer's hook, the writer and the readers.
#[derive(Default)]
pub struct Generation {
    current: AtomicU64,
    /// Set by the hook during a transaction, consumed when it ends.
    touched: AtomicBool,
    /// The writer's last `PRAGMA data_version`.
    data_version: AtomicI64,
}

impl Generation {
    /// Installs the hook on the writer connection.
    pub fn install(self: &Arc<Self>, writer: &Connection) -> rusqlite::Result<()> {
        let this = self.clone();
        writer.update_hook(Some(move |action: Action, _db: &str, table: &str, _row| {
            if ends_callers(action, table) {
                this.touched.store(true, Ordering::SeqCst);
            }
        }));
        self.data_version
            .store(data_version(writer)?, Ordering::SeqCst);
        Ok(())
    }

    /// The current generation.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.current.fetch_add(1, Ordering::SeqCst);
    }

    /// Called by the writer (holding it) before a transaction: notices
    /// commits of other processes and forgets a stale mark.
    pub fn before_write(&self, writer: &Connection) {
        self.touched.store(false, Ordering::SeqCst);
        self.check_external(writer);
    }

    /// Called by the writer (still holding it) when a transaction ended,
    /// committed or not: a transaction that touched the watched tables
    /// bumps the generation. (A rolled-back one bumps it too; that costs a
    /// cache miss, never a stale answer.)
    pub fn after_write(&self) {
        if self.touched.swap(false, Ordering::SeqCst) {
            self.bump();
        }
    }

    /// Bumps the generation when another process committed since the last
    /// look (the writer must be held).
    pub fn check_external(&self, writer: &Connection) {
        match data_version(writer) {
            Ok(v) => {
                if self.data_version.swap(v, Ordering::SeqCst) != v {
                    self.bump();
                }
            }
            // Unknown: assume the worst.
            Err(_) => self.bump(),
        }
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Connection, Arc<Generation>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .unwrap();
        crate::db::migrate::migrate(&mut c).unwrap();
        let g = Arc::new(Generation::default());
        g.install(&c).unwrap();
        (dir, c, g)
    }

    fn write(c: &Connection, g: &Generation, sql: &str) {
        g.before_write(c);
        c.execute_batch(sql).unwrap();
        g.after_write();
    }

    const USER: &str = "INSERT INTO users (id, name, email, created_at, updated_at) \
         VALUES ('u1', 'U', 'u@x.de', 't', 't');";
    const SESSION: &str = "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at) \
         VALUES ('s1', 'u1', 't', 't', 't');";

    #[test]
    fn inserts_do_not_bump_updates_deletes_and_cascades_do() {
        let (_d, c, g) = setup();
        write(&c, &g, USER);
        write(&c, &g, SESSION);
        assert_eq!(g.current(), 0, "inserting users and sessions ends nothing");
        write(&c, &g, "INSERT INTO security_events (id, user_id, event_type, metadata, created_at) VALUES ('e', 'u1', 'X', '{}', 't')");
        assert_eq!(g.current(), 0, "other tables are not watched");
        write(&c, &g, "DELETE FROM sessions");
        assert_eq!(g.current(), 1, "a delete without WHERE still runs the hook");
        write(&c, &g, SESSION);
        // Deleting the user removes the session by cascade; both count.
        g.before_write(&c);
        c.execute_batch("DELETE FROM users WHERE id = 'u1'")
            .unwrap();
        g.after_write();
        assert_eq!(g.current(), 2);
        let left: i64 = c
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_trigger_on_another_table_that_updates_sessions_bumps() {
        let (_d, c, g) = setup();
        write(&c, &g, USER);
        write(&c, &g, "INSERT INTO spaces (id, name, slug, metadata, created_at, updated_at) VALUES ('sp', 'S', 's', '{\"type\":\"team\"}', 't', 't'); \
             INSERT INTO space_members (id, space_id, user_id, role, created_at) VALUES ('m', 'sp', 'u1', 'owner', 't');");
        write(
            &c,
            &g,
            "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at, active_space_id) \
             VALUES ('s1', 'u1', 't', 't', 't', 'sp');",
        );
        let before = g.current();
        write(&c, &g, "DELETE FROM space_members WHERE id = 'm'");
        assert_eq!(g.current(), before + 1);
    }

    #[test]
    fn another_connections_commit_is_noticed() {
        let (d, c, g) = setup();
        g.check_external(&c);
        let before = g.current();
        g.check_external(&c);
        assert_eq!(g.current(), before, "nothing happened");
        let other = Connection::open(d.path().join("g.db")).unwrap();
        other.execute_batch(USER).unwrap();
        g.check_external(&c);
        assert_eq!(g.current(), before + 1);
        // The writer's own commits do not move its data_version.
        write(&c, &g, "INSERT INTO security_events (id, event_type, metadata, created_at) VALUES ('e', 'X', '{}', 't')");
        g.check_external(&c);
        assert_eq!(g.current(), before + 1);
    }
}
