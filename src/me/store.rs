//! SQL for self-service: onboarding, and the raw reads of the export.

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::db::Tx;
use crate::error::Result;

/// Sets the onboarding timestamp unless one is set.
pub fn complete_onboarding(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE users SET onboarding_completed_at = ?2, updated_at = ?2 \
         WHERE id = ?1 AND onboarding_completed_at IS NULL",
    )?
    .execute(params![user_id, now])?;
    Ok(())
}

/// Clears the onboarding timestamp.
pub fn reset_onboarding(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE users SET onboarding_completed_at = NULL, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![user_id, now])?;
    Ok(())
}

fn json_col(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Every session of the user, expired ones included, without token hashes.
pub fn sessions(conn: &Connection, user_id: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_at, updated_at, expires_at, ip, user_agent FROM sessions \
         WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "createdAt": r.get::<_, String>(1)?,
                "updatedAt": r.get::<_, String>(2)?,
                "expiresAt": r.get::<_, String>(3)?,
                "ipAddress": r.get::<_, Option<String>>(4)?,
                "userAgent": r.get::<_, Option<String>>(5)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every sync_changes row the user wrote, all columns, oldest first.
pub fn sync_changes(conn: &Connection, user_id: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, app_id, table_name, record_id, space_id, op, data, field_meta, client_id, \
         created_at, schema_version, actor, origin FROM sync_changes WHERE user_id = ?1 \
         ORDER BY created_at, rowid",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "appId": r.get::<_, String>(1)?,
                "tableName": r.get::<_, String>(2)?,
                "recordId": r.get::<_, String>(3)?,
                "spaceId": r.get::<_, Option<String>>(4)?,
                "op": r.get::<_, String>(5)?,
                "data": json_col(r.get(6)?),
                "fieldMeta": json_col(r.get(7)?),
                "clientId": r.get::<_, String>(8)?,
                "createdAt": r.get::<_, String>(9)?,
                "schemaVersion": r.get::<_, i64>(10)?,
                "actor": json_col(r.get(11)?),
                "origin": r.get::<_, Option<String>>(12)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Number of sync_changes rows per app written by the user.
pub fn sync_counts(conn: &Connection, user_id: &str) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT app_id, count(*) FROM sync_changes WHERE user_id = ?1 GROUP BY app_id ORDER BY app_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Invitations sent by the user, and those addressed to their email once
/// the address is proven (`verified`): whoever registers an address first
/// must not learn the invitations waiting for its owner.
pub fn invitations(
    conn: &Connection,
    user_id: &str,
    email: &str,
    verified: bool,
) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, space_id, email, role, status, inviter_id = ?1, expires_at, created_at \
         FROM space_invitations WHERE inviter_id = ?1 OR (?3 AND email = ?2) ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map(params![user_id, email, verified], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "organizationId": r.get::<_, String>(1)?,
                "email": r.get::<_, String>(2)?,
                "role": r.get::<_, String>(3)?,
                "status": r.get::<_, String>(4)?,
                "sentByMe": r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                "expiresAt": r.get::<_, String>(6)?,
                "createdAt": r.get::<_, String>(7)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The vault audit trail of the user.
pub fn vault_audit(conn: &Connection, user_id: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT action, status, reason, ip, user_agent, created_at FROM vault_audit \
         WHERE user_id = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(json!({
                "action": r.get::<_, String>(0)?,
                "status": r.get::<_, String>(1)?,
                "reason": r.get::<_, Option<String>>(2)?,
                "ipAddress": r.get::<_, Option<String>>(3)?,
                "userAgent": r.get::<_, Option<String>>(4)?,
                "createdAt": r.get::<_, String>(5)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Failed sign-in attempts recorded for the user's email.
pub fn login_failures(conn: &Connection, email: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ip, created_at FROM login_failures WHERE email = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([email], |r| {
            Ok(json!({
                "ipAddress": r.get::<_, Option<String>>(0)?,
                "createdAt": r.get::<_, String>(1)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// `SELECT count(*) FROM {table} WHERE {column} = ?1` for a fixed table name.
pub fn count_where(conn: &Connection, table: &str, column: &str, value: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(&format!("SELECT count(*) FROM {table} WHERE {column} = ?1"))?
        .query_row([value], |r| r.get(0))?)
}
