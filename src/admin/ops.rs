//! Operations of the admin CLI: create a user, set a role, reset a password
//! (domain functions over a transaction), and the file-level online backup
//! and integrity check. Every account change writes a security event naming
//! the CLI as the actor.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags};
use serde_json::json;

use crate::audit::{self, ClientInfo, Event};
use crate::auth::{lockout, session, signup};
use crate::clock::iso;
use crate::db::files;
use crate::db::migrate::LATEST;
use crate::db::Tx;
use crate::error::{ApiError, Result};
use crate::ids::UserId;
use crate::users::model::ROLES;
use crate::users::{self, store, User};

/// How CLI actions appear in security events.
pub fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some("mana-auth cli".into()),
        accept_language: None,
        network: None,
    }
}

fn by_email(conn: &Connection, email: &str) -> Result<User> {
    let email = users::normalize_email(email)?;
    store::with_password_by_email(conn, &email)?
        .map(|(u, _)| u)
        .ok_or_else(|| ApiError::not_found("user with this email"))
}

/// Creates a user exactly as sign-up does (personal space, sync bootstrap),
/// with the address marked verified, optionally as admin.
pub fn create_user(
    tx: &Tx,
    email: &str,
    name: Option<&str>,
    password_hash: &str,
    admin: bool,
    now: DateTime<Utc>,
) -> Result<User> {
    let email = users::normalize_email(email)?;
    let name = users::check_name(name.unwrap_or(""))?;
    let client = cli_client();
    let user = signup::insert_account(tx, email, name, password_hash, &client, now)?;
    store::set_verified(tx, &user.id, &iso(now))?;
    if admin {
        tx.execute(
            "UPDATE users SET role = 'admin' WHERE id = ?1",
            params![user.id],
        )?;
    }
    let meta = json!({ "admin": "cli", "role": if admin { "admin" } else { "user" } });
    audit::record(
        tx,
        Some(&user.id),
        Event::AdminUserCreated,
        &client,
        meta,
        &iso(now),
    )?;
    crate::admin::target(tx, &user.id)
}

/// Sets the role of the user with this email.
pub fn set_role(tx: &Tx, email: &str, role: &str, now: DateTime<Utc>) -> Result<User> {
    if !ROLES.contains(&role) {
        return Err(ApiError::validation(format!(
            "role must be one of {}",
            ROLES.join(", ")
        )));
    }
    let user = by_email(tx, email)?;
    tx.execute(
        "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
        params![user.id, role, iso(now)],
    )?;
    let meta = json!({ "admin": "cli", "from": user.role, "to": role });
    audit::record(
        tx,
        Some(&user.id),
        Event::AdminRoleChanged,
        &cli_client(),
        meta,
        &iso(now),
    )?;
    crate::admin::target(tx, &user.id)
}

/// Sets a new password (hash made by the caller) and revokes every session;
/// returns how many were revoked.
pub fn reset_password(
    tx: &Tx,
    email: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    let user = by_email(tx, email)?;
    store::set_password(tx, &user.id, password_hash, &iso(now))?;
    let revoked = session::revoke_all(tx, &UserId::from(&user.id), None)?;
    lockout::clear(tx, &user.email)?;
    let meta = json!({ "admin": "cli", "revokedSessions": revoked });
    audit::record(
        tx,
        Some(&user.id),
        Event::AdminPasswordReset,
        &cli_client(),
        meta,
        &iso(now),
    )?;
    Ok(revoked)
}

/// True when at least one admin exists.
pub fn has_admin(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND deleted_at IS NULL)",
        [],
        |r| r.get(0),
    )?)
}

/// What `check` found.
#[derive(Debug)]
pub struct CheckReport {
    /// `ok`, or the problems `PRAGMA integrity_check` listed.
    pub integrity: Vec<String>,
    pub schema_version: i64,
    pub latest_version: i64,
}

impl CheckReport {
    /// Integrity ok and schema version known.
    pub fn healthy(&self) -> bool {
        self.integrity == ["ok"] && self.schema_version <= self.latest_version
    }
}

fn open_existing(path: &Path) -> std::result::Result<Connection, String> {
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Runs `PRAGMA integrity_check` and reads the schema version.
pub fn check(path: &Path) -> std::result::Result<CheckReport, String> {
    let conn = open_existing(path)?;
    check_conn(&conn)
}

fn check_conn(conn: &Connection) -> std::result::Result<CheckReport, String> {
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| e.to_string())?;
    let integrity = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| e.to_string())?;
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    Ok(CheckReport {
        integrity,
        schema_version,
        latest_version: LATEST,
    })
}

/// Copies the live database to `dest` with SQLite's online backup API: one
/// consistent snapshot (a read transaction, so writers keep going in WAL
/// mode), written as a self-contained file (rollback journal, no `-wal`),
/// then checked. The copy holds key material: it is written 0600 under a
/// temporary name opened without following symlinks, and published under
/// `dest` only if that name does not exist in any form (a file or a
/// symlink, dangling or not); nothing is ever overwritten.
///
/// The backup is recorded in the source as a `BACKUP_CREATED` security event
/// (file and size; the admin system panel shows the newest), after the copy,
/// so the copy does not contain its own record.
pub fn backup(
    src: &Path,
    dest: &Path,
    now: DateTime<Utc>,
) -> std::result::Result<CheckReport, String> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(format!(
            "{} already exists (as a file or a link); refusing to overwrite",
            dest.display()
        ));
    }
    let source = open_existing(src)?;
    let tmp = files::temp_beside(dest);
    files::create_new_private(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let copied = copy_into(&source, &tmp).and_then(|report| {
        files::publish(&tmp, dest)
            .map(|()| report)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "{} appeared while the backup ran; refusing to overwrite",
                    dest.display()
                ),
                _ => format!("{}: {e}", dest.display()),
            })
    });
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let report = copied?;
    record_backup(source, dest, now)?;
    Ok(report)
}

/// The `BACKUP_CREATED` event of a finished backup, in the source.
fn record_backup(
    mut source: Connection,
    dest: &Path,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    let bytes = std::fs::metadata(dest).map_or(0, |m| m.len());
    let tx = source
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| format!("recording the backup: {e}"))?;
    audit::record(
        &crate::db::Tx::from(&tx),
        None,
        Event::BackupCreated,
        &cli_client(),
        json!({ "file": dest.display().to_string(), "bytes": bytes, "admin": "cli" }),
        &iso(now),
    )
    .map_err(|e| format!("recording the backup: {}", e.message))?;
    tx.commit()
        .map_err(|e| format!("recording the backup: {e}"))
}

/// The backup proper, into the empty private file `tmp`.
fn copy_into(source: &Connection, tmp: &Path) -> std::result::Result<CheckReport, String> {
    let mut target = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", tmp.display()))?;
    {
        let copy = rusqlite::backup::Backup::new(source, &mut target)
            .map_err(|e| format!("backup: {e}"))?;
        // -1: all pages in one step, so the copy is one snapshot (a step
        // that must restart because of a concurrent write starts over).
        use rusqlite::backup::StepResult;
        let mut waits = 0;
        loop {
            match copy.step(-1).map_err(|e| format!("backup: {e}"))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if waits < 200 => {
                    waits += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return Err("backup: the database stayed busy".into()),
            }
        }
    }
    let _mode: String = target
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| format!("backup: {e}"))?;
    let report = check_conn(&target)?;
    if !report.healthy() {
        return Err(format!(
            "backup failed its integrity check: {}",
            report.integrity.join("; ")
        ));
    }
    Ok(report)
}
