//! SQL of two-factor authentication: secrets, backup codes, tickets.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::auth::session::hash_token;
use crate::clock::iso;
use crate::db::Tx;
use crate::error::Result;
use crate::vault::{at_rest, Kek};

/// A user's TOTP secret (as stored: sealed when `kek_id` is set) and its
/// state.
pub struct SecretRow {
    user_id: String,
    stored: Vec<u8>,
    kek_id: Option<String>,
    pub last_step: Option<i64>,
    pub created_at: String,
    pub confirmed_at: Option<String>,
}

impl SecretRow {
    /// The secret in clear, opened with `kek` when it is sealed.
    pub fn reveal(&self, kek: Option<&Kek>) -> Result<Vec<u8>> {
        at_rest::open(
            kek,
            &at_rest::aad("two_factor_secrets", &self.user_id),
            &self.stored,
            self.kek_id.as_deref(),
        )
    }
}

/// The user's secret, pending or confirmed.
pub fn secret(conn: &Connection, user_id: &str) -> Result<Option<SecretRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT secret, kek_id, last_step, created_at, confirmed_at FROM two_factor_secrets \
             WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(SecretRow {
                user_id: user_id.to_owned(),
                stored: r.get(0)?,
                kek_id: r.get(1)?,
                last_step: r.get(2)?,
                created_at: r.get(3)?,
                confirmed_at: r.get(4)?,
            })
        })
        .optional()?)
}

/// Stores a new pending secret (sealed under `kek` when there is one),
/// replacing any earlier one.
pub fn put_pending_secret(
    tx: &Tx,
    user_id: &str,
    secret: &[u8],
    kek: Option<&Kek>,
    now: &str,
) -> Result<()> {
    let (stored, kek_id) =
        at_rest::seal(kek, &at_rest::aad("two_factor_secrets", user_id), secret)?;
    tx.prepare_cached(
        "INSERT INTO two_factor_secrets (user_id, secret, kek_id, last_step, created_at, confirmed_at) \
         VALUES (?1, ?2, ?3, NULL, ?4, NULL) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, kek_id = excluded.kek_id, \
         last_step = NULL, created_at = excluded.created_at, confirmed_at = NULL",
    )?
    .execute(params![user_id, stored, kek_id, now])?;
    Ok(())
}

/// Marks the user's secret confirmed (an imported one, in use already).
pub fn confirm(tx: &Tx, user_id: &str, at: &str) -> Result<()> {
    tx.prepare_cached("UPDATE two_factor_secrets SET confirmed_at = ?2 WHERE user_id = ?1")?
        .execute(params![user_id, at])?;
    Ok(())
}

/// Records the newest accepted time step (and confirms a pending secret).
pub fn accept_step(tx: &Tx, user_id: &str, step: i64, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE two_factor_secrets SET last_step = ?2, confirmed_at = coalesce(confirmed_at, ?3) \
         WHERE user_id = ?1",
    )?
    .execute(params![user_id, step, now])?;
    Ok(())
}

/// Turns the `two_factor_enabled` flag of the user on or off.
pub fn set_enabled(tx: &Tx, user_id: &str, on: bool, now: &str) -> Result<()> {
    tx.prepare_cached("UPDATE users SET two_factor_enabled = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![user_id, on, now])?;
    Ok(())
}

/// Replaces all backup codes of the user with these hashes.
pub fn replace_backup_codes(tx: &Tx, user_id: &str, hashes: &[String], now: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM two_factor_backup_codes WHERE user_id = ?1")?
        .execute([user_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO two_factor_backup_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
    )?;
    for hash in hashes {
        insert.execute(params![user_id, hash, now])?;
    }
    Ok(())
}

/// Marks an unused backup code used; false when there is none with this hash.
pub fn use_backup_code(tx: &Tx, user_id: &str, hash: &str, now: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE two_factor_backup_codes SET used_at = ?3 \
             WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        )?
        .execute(params![user_id, hash, now])?
        == 1)
}

/// (unused, used) backup codes of the user.
pub fn backup_code_counts(conn: &Connection, user_id: &str) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE used_at IS NULL), count(*) FILTER (WHERE used_at IS NOT NULL) \
             FROM two_factor_backup_codes WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Deletes the secret, backup codes and tickets of the user; returns whether
/// a secret existed.
pub fn delete_all(tx: &Tx, user_id: &str) -> Result<bool> {
    tx.prepare_cached("DELETE FROM two_factor_backup_codes WHERE user_id = ?1")?
        .execute([user_id])?;
    tx.prepare_cached("DELETE FROM two_factor_tickets WHERE user_id = ?1")?
        .execute([user_id])?;
    Ok(tx
        .prepare_cached("DELETE FROM two_factor_secrets WHERE user_id = ?1")?
        .execute([user_id])?
        > 0)
}

/// Stores a ticket (by its hash); drops expired tickets on the way.
pub fn insert_ticket(
    tx: &Tx,
    ticket: &str,
    user_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached("DELETE FROM two_factor_tickets WHERE expires_at <= ?1")?
        .execute([iso(now)])?;
    tx.prepare_cached(
        "INSERT INTO two_factor_tickets (ticket_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash_token(ticket), user_id, iso(now), iso(expires)])?;
    Ok(())
}

/// (user id, expires_at) of a ticket.
pub fn ticket(conn: &Connection, ticket: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, expires_at FROM two_factor_tickets WHERE ticket_hash = ?1",
        )?
        .query_row([hash_token(ticket)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Consumes a ticket.
pub fn delete_ticket(tx: &Tx, ticket: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM two_factor_tickets WHERE ticket_hash = ?1")?
        .execute([hash_token(ticket)])?;
    Ok(())
}
