//! SQL for API keys.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{ApiKey, RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW};
use crate::db::Tx;
use crate::error::Result;

const COLUMNS: &str = "id, name, key_prefix, scopes, created_at, last_used_at, revoked_at, user_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: String = r.get(3)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        key_prefix: r.get(2)?,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
        rate_limit_requests: RATE_LIMIT_REQUESTS,
        rate_limit_window: RATE_LIMIT_WINDOW,
    })
}

/// A key with its owner.
pub struct Found {
    pub key: ApiKey,
    pub user_id: String,
}

/// Stores a key by its hash.
pub fn insert(tx: &Tx, user_id: &str, k: &ApiKey, key_hash: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, scopes, created_at, \
         last_used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        k.id,
        user_id,
        k.name,
        k.key_prefix,
        key_hash,
        serde_json::to_string(&k.scopes)?,
        k.created_at,
        k.last_used_at,
        k.revoked_at
    ])?;
    Ok(())
}

/// The user's keys, revoked ones included (with `revokedAt`, as the
/// upstream listed them), newest first.
pub fn list(conn: &Connection, user_id: &str) -> Result<Vec<ApiKey>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY created_at DESC, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([user_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every key of the user, revoked ones included (export).
pub fn all(conn: &Connection, user_id: &str) -> Result<Vec<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([user_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Number of live keys of a user.
pub fn active_count(conn: &Connection, user_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL")?
        .query_row([user_id], |r| r.get(0))?)
}

/// A key by the hash of its secret.
pub fn by_hash(conn: &Connection, key_hash: &str) -> Result<Option<Found>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([key_hash], |r| {
            Ok(Found {
                key: from_row(r)?,
                user_id: r.get(7)?,
            })
        })
        .optional()?)
}

/// Revokes a live key of the user; true when one was revoked.
pub fn revoke(tx: &Tx, user_id: &str, key_id: &str, now: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![user_id, key_id, now])?
        > 0)
}

/// Moves `last_used_at` forward (never back).
pub fn touch(tx: &Tx, key_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
    )?
    .execute(params![key_id, now])?;
    Ok(())
}

/// Deletes the user's revoked keys beyond the newest `keep`.
pub fn prune_revoked(tx: &Tx, user_id: &str, keep: u32) -> Result<usize> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM api_keys WHERE rowid IN (SELECT rowid FROM api_keys \
             WHERE user_id = ?1 AND revoked_at IS NOT NULL \
             ORDER BY revoked_at DESC, rowid DESC LIMIT -1 OFFSET ?2)",
        )?
        .execute(params![user_id, keep])?)
}
