//! Many accounts in a database file, fast, for the figures at scale (login
//! latency, admin stats and start-up with 1 M accounts). Not part of the
//! server: the bench opens the SQLite file itself and writes every account
//! through the server's own sign-up function (`signup::insert_account`:
//! user, password, personal space, owner membership, `kontextDoc`,
//! `userContext`, REGISTER event), marked verified, with one argon2id hash
//! (the shipped parameters) shared by all of them.
//!
//! Speed: one connection without its mutex, big transactions, the journal,
//! fsync and the foreign-key checks off (every row refers to rows the same
//! sign-up wrote just before) and a large page cache — a crash while seeding can ruin the file, so it only
//! touches a file whose accounts are all `@bench.test` (a new one, or one
//! it seeded before); the server never runs like that.

use std::path::Path;
use std::time::Instant;

use mana_auth::auth::password::Hasher;
use mana_auth::auth::signup;
use mana_auth::clock::{iso, Clock};
use mana_auth::db::migrate;

/// Accounts per transaction.
const BATCH: u64 = 50_000;

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
    let clock = Clock::system();
    let started = Instant::now();
    let mut next = start;
    let end = start.saturating_add(count);
    while next < end {
        let upto = end.min(next.saturating_add(BATCH));
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let write = mana_auth::db::Tx::from(&tx);
        for i in next..upto {
            let now = clock.now();
            let user = signup::insert_account(
                &write,
                format!("{prefix}{i}@bench.test"),
                String::new(),
                &hash,
                &client,
                now,
            )
            .map_err(|e| e.message)?;
            mana_auth::users::store::set_verified(&write, &user.id, &iso(now))
                .map_err(|e| e.message)?;
        }
        tx.commit().map_err(fail)?;
        next = upto;
    }
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .map_err(fail)?;
    Ok(Seeded {
        accounts: count,
        seconds: started.elapsed().as_secs_f64(),
    })
}
