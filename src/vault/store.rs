//! SQL for vaults and their audit trail.

use rusqlite::{params, Connection, OptionalExtension};

use crate::audit::ClientInfo;
use crate::db::Tx;
use crate::error::Result;

/// A stored vault row.
pub struct VaultRow {
    pub wrapped_mk: Option<Vec<u8>>,
    pub wrap_iv: Option<Vec<u8>>,
    pub kek_id: Option<String>,
    pub recovery_wrapped_mk: Option<Vec<u8>>,
    pub recovery_iv: Option<Vec<u8>>,
    pub zero_knowledge: bool,
    pub format_version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub rotated_at: Option<String>,
    pub recovery_set_at: Option<String>,
}

/// The vault of a user.
pub fn get(conn: &Connection, user_id: &str) -> Result<Option<VaultRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT wrapped_mk, wrap_iv, kek_id, recovery_wrapped_mk, recovery_iv, zero_knowledge, \
             format_version, created_at, updated_at, rotated_at, recovery_set_at \
             FROM encryption_vaults WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(VaultRow {
                wrapped_mk: r.get(0)?,
                wrap_iv: r.get(1)?,
                kek_id: r.get(2)?,
                recovery_wrapped_mk: r.get(3)?,
                recovery_iv: r.get(4)?,
                zero_knowledge: r.get(5)?,
                format_version: r.get(6)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
                rotated_at: r.get(9)?,
                recovery_set_at: r.get(10)?,
            })
        })
        .optional()?)
}

/// Creates a vault with its server wrap.
pub fn insert(
    tx: &Tx,
    user_id: &str,
    sealed: &[u8],
    iv: &[u8],
    kek_id: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO encryption_vaults (user_id, wrapped_mk, wrap_iv, kek_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![user_id, sealed, iv, kek_id, now])?;
    Ok(())
}

/// Replaces the server wrap after a rotation; the recovery wrap (of the old
/// key) goes.
pub fn rotate(
    tx: &Tx,
    user_id: &str,
    sealed: &[u8],
    iv: &[u8],
    kek_id: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE encryption_vaults SET wrapped_mk = ?2, wrap_iv = ?3, kek_id = ?4, \
         recovery_wrapped_mk = NULL, recovery_iv = NULL, recovery_set_at = NULL, updated_at = ?5, rotated_at = ?5 \
         WHERE user_id = ?1",
    )?
    .execute(params![user_id, sealed, iv, kek_id, now])?;
    Ok(())
}

/// Stores a whole vault brought over by `mana-auth import` (server wrap
/// already made under this server's KEK, or none in zero-knowledge mode).
pub fn insert_imported(tx: &Tx, user_id: &str, v: &VaultRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO encryption_vaults (user_id, wrapped_mk, wrap_iv, kek_id, recovery_wrapped_mk, recovery_iv, \
         zero_knowledge, format_version, created_at, updated_at, rotated_at, recovery_set_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        user_id,
        v.wrapped_mk,
        v.wrap_iv,
        v.kek_id,
        v.recovery_wrapped_mk,
        v.recovery_iv,
        v.zero_knowledge,
        v.format_version,
        v.created_at,
        v.updated_at,
        v.rotated_at,
        v.recovery_set_at
    ])?;
    Ok(())
}

/// Sets or clears the recovery wrap.
pub fn set_recovery(tx: &Tx, user_id: &str, wrap: Option<(&[u8], &[u8])>, now: &str) -> Result<()> {
    let (sealed, iv) = wrap.unzip();
    tx.prepare_cached(
        "UPDATE encryption_vaults SET recovery_wrapped_mk = ?2, recovery_iv = ?3, \
         recovery_set_at = CASE WHEN ?2 IS NULL THEN NULL ELSE ?4 END, updated_at = ?4 WHERE user_id = ?1",
    )?
    .execute(params![user_id, sealed, iv, now])?;
    Ok(())
}

/// Zero-knowledge on: the server wrap is dropped.
pub fn zk_on(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE encryption_vaults SET zero_knowledge = 1, wrapped_mk = NULL, wrap_iv = NULL, kek_id = NULL, \
         updated_at = ?2 WHERE user_id = ?1",
    )?
    .execute(params![user_id, now])?;
    Ok(())
}

/// Zero-knowledge off: a fresh server wrap of the key the client handed back.
pub fn zk_off(
    tx: &Tx,
    user_id: &str,
    sealed: &[u8],
    iv: &[u8],
    kek_id: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE encryption_vaults SET zero_knowledge = 0, wrapped_mk = ?2, wrap_iv = ?3, kek_id = ?4, \
         updated_at = ?5 WHERE user_id = ?1",
    )?
    .execute(params![user_id, sealed, iv, kek_id, now])?;
    Ok(())
}

/// Writes an audit row, unless the user no longer exists.
pub fn audit(
    tx: &Tx,
    user_id: &str,
    action: &str,
    status: &str,
    reason: Option<&str>,
    client: &ClientInfo,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO vault_audit (user_id, action, status, reason, ip, user_agent, created_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1)",
    )?
    .execute(params![
        user_id,
        action,
        status,
        reason,
        client.ip,
        client.user_agent,
        now
    ])?;
    Ok(())
}
