//! Many accounts in a database file, fast, for the figures at scale (login
//! latency, admin stats and start-up with 1 M accounts). Not part of the
//! server: the bench opens the SQLite file itself.
//!
//! The first account is written by the server's own sign-up function
//! (`signup::insert_account`: user, password, personal space, owner
//! membership, `kontextDoc`, `userContext`, REGISTER event), marked
//! verified, with an argon2id hash of the shipped parameters. Every other
//! account is a copy of the rows that sign-up wrote, made in SQL (see
//! `clone`): fresh ids, its own address, name and slug, the same hash
//! (verifying it costs what a real one does).
//!
//! Speed: one connection without its mutex, one transaction, the journal,
//! fsync and the foreign-key checks off (every copied row refers to rows
//! copied with it) and a large page cache — a crash while seeding can ruin
//! the file, so it only touches a file whose accounts are all
//! `@bench.test` (a new one, or one it seeded before); the server never
//! runs like that.

use std::path::Path;
use std::time::Instant;

mod clone;

use mana_auth::auth::password::Hasher;
use mana_auth::auth::signup;
use mana_auth::clock::{iso, Clock};

use clone::last_rowids;
use mana_auth::db::migrate;

/// What a seeding did.
pub struct Seeded {
    pub accounts: u64,
    pub seconds: f64,
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Adds `count` verified accounts `{prefix}{i}@bench.test`, i = start..,
/// all with `password`, to the file at `db` (created and migrated as the
/// server would when it does not exist).
pub fn seed(
    db: &Path,
    count: u64,
    start: u64,
    prefix: &str,
    password: &str,
) -> Result<Seeded, String> {
    // The server's hashing with its defaults (a server started by the
    // bench uses the same): verifying this hash costs what a real one does.
    let hash = Hasher::new(19_456, 2, 1, 1)
        .and_then(|h| h.hash_blocking(password))
        .map_err(|e| e.message)?;
    // One connection, opened first: with the server's `Db` opened and
    // dropped before, a reader it had just opened could still hold the
    // file, and leaving WAL failed with "database is locked".
    mana_auth::db::files::prepare_database_file(db).map_err(fail)?;
    // No per-call mutex: the connection is this thread's alone.
    let mut conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(fail)?;
    conn.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))
        .map_err(fail)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; \
         PRAGMA cache_size = -4194304;",
    )
    .map_err(fail)?;
    // The server's migrations, as it runs them on a new file.
    migrate::migrate(&mut conn)?;
    let others: i64 = conn
        .query_row(
            "SELECT count(*) FROM users WHERE email NOT LIKE '%@bench.test'",
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    if others > 0 {
        return Err(format!(
            "{} has {others} accounts the bench did not make; it only seeds bench files",
            db.display()
        ));
    }
    let client = mana_auth::admin::ops::cli_client();
    let started = Instant::now();
    if count == 0 {
        return Ok(Seeded {
            accounts: 0,
            seconds: 0.0,
        });
    }
    // The first account is written by the server's own sign-up function.
    let before = last_rowids(&conn)?;
    {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let write = mana_auth::db::Tx::from(&tx);
        let now = Clock::system().now();
        let user = signup::insert_account(
            &write,
            format!("{prefix}{start}@bench.test"),
            String::new(),
            &hash,
            &client,
            now,
        )
        .map_err(|e| e.message)?;
        mana_auth::users::store::set_verified(&write, &user.id, &iso(now))
            .map_err(|e| e.message)?;
        tx.commit().map_err(fail)?;
    }
    if count > 1 {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        clone::accounts(&tx, &before, prefix, start, count)?;
        tx.commit().map_err(fail)?;
    }
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .map_err(fail)?;
    Ok(Seeded {
        accounts: count,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::seed;
    use mana_auth::auth::password::Hasher;
    use rusqlite::Connection;

    const PASSWORD: &str = "seed-test-password-1";

    fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str, arg: &str) -> T {
        conn.query_row(sql, [arg], |r| r.get(0)).unwrap()
    }

    /// What one account owns: its rows in every table that refers to users.
    fn owned(conn: &Connection, user_id: &str) -> Vec<(String, i64)> {
        let tables: Vec<String> = conn
            .prepare(
                "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS \
                 (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'user_id') ORDER BY m.name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables
            .into_iter()
            .map(|t| {
                let n = one(
                    conn,
                    &format!("SELECT count(*) FROM \"{t}\" WHERE user_id = ?1"),
                    user_id,
                );
                (t, n)
            })
            .collect()
    }

    #[test]
    fn every_copy_owns_what_the_signed_up_account_owns_and_signs_in_with_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("seeded.db");
        let seeded = seed(&db, 40, 0, "acct", PASSWORD).unwrap();
        assert_eq!(seeded.accounts, 40);
        let conn = Connection::open(&db).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let dangling: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(dangling, 0);
        let signed_up: String = one(
            &conn,
            "SELECT id FROM users WHERE email = ?1",
            "acct0@bench.test",
        );
        let copy: String = one(
            &conn,
            "SELECT id FROM users WHERE email = ?1",
            "acct39@bench.test",
        );
        assert_ne!(signed_up, copy);
        let template = owned(&conn, &signed_up);
        assert!(
            template.iter().filter(|(_, n)| *n > 0).count() >= 4,
            "{template:?}"
        );
        assert_eq!(owned(&conn, &copy), template);
        // Forty of everything, every id its own.
        let users: i64 = one(
            &conn,
            "SELECT count(DISTINCT id) FROM users WHERE email LIKE ?1",
            "acct%",
        );
        assert_eq!(users, 40);
        let changes: i64 = one(
            &conn,
            "SELECT count(DISTINCT id) FROM sync_changes WHERE ?1 = ?1",
            "",
        );
        let per_account: i64 = one(
            &conn,
            "SELECT count(*) FROM sync_changes WHERE user_id = ?1",
            &signed_up,
        );
        assert_eq!(changes, 40 * per_account);
        // The copy's personal space is its own, named after its address, with
        // its owner membership and its kontextDoc; its userContext names it.
        let (space, slug): (String, String) = conn
            .query_row(
                "SELECT id, slug FROM spaces WHERE personal_of = ?1",
                [&copy],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(slug, "acct39");
        let role: String = conn
            .query_row(
                "SELECT role FROM space_members WHERE space_id = ?1 AND user_id = ?2",
                [&space, &copy],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(role, "owner");
        let doc: i64 = one(
            &conn,
            "SELECT count(*) FROM sync_changes WHERE space_id = ?1 AND table_name = 'kontextDoc' \
             AND json_extract(data, '$.id') = record_id",
            &space,
        );
        assert_eq!(doc, 1);
        let context_of: String = one(
            &conn,
            "SELECT json_extract(data, '$.userId') FROM sync_changes WHERE user_id = ?1 \
             AND table_name = 'userContext'",
            &copy,
        );
        assert_eq!(context_of, copy);
        let counted: i64 = one(
            &conn,
            "SELECT sum(humans) FROM user_counts WHERE ?1 = ?1",
            "",
        );
        assert_eq!(counted, 40);
        // Verified, and the password is the one given.
        let verified: i64 = one(
            &conn,
            "SELECT email_verified FROM users WHERE id = ?1",
            &copy,
        );
        assert_eq!(verified, 1);
        let hash: String = one(
            &conn,
            "SELECT password_hash FROM password_credentials WHERE user_id = ?1",
            &copy,
        );
        let hasher = Hasher::new(19_456, 2, 1, 1).unwrap();
        assert!(hasher.verify_blocking(PASSWORD, Some(&hash)).unwrap());
        assert!(!hasher
            .verify_blocking("another-password-1", Some(&hash))
            .unwrap());
    }
}
