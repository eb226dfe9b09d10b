//! Single-use tokens sent by mail: email verification (24 h), password reset
//! (1 h), magic link (10 min), email change (24 h). Random 32 bytes, stored
//! as SHA-256, consumed with a conditional UPDATE so that two concurrent
//! uses cannot both succeed.
//!
//! A few links per purpose may be outstanding at once (`MAX_OUTSTANDING`):
//! asking for a new one does not void the earlier ones (else a stranger who
//! asks every few seconds keeps the owner's link dead); using one voids the
//! others of its purpose. Verification, email-change and reset tokens are
//! bound to the password credential they were issued for: a later password
//! change, reset, re-registration or removal of the password voids them.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::session::{hash_token, new_token};
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};

pub use crate::email::link::Purpose;

/// Unused tokens one user may hold per purpose; issuing one more drops the
/// oldest.
pub const MAX_OUTSTANDING: usize = 5;

impl Purpose {
    /// Whether a token of this purpose is bound to the credential it was
    /// issued for.
    fn bound(self) -> bool {
        !matches!(self, Purpose::MagicLink)
    }
}

/// A fingerprint of the user's password credential at this moment: the
/// SHA-256 of the stored hash (whose salt makes every setting of a password
/// unique), or `none` without a password.
fn credential_of(tx: &Connection, user_id: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    Ok(match crate::users::store::password_hash(tx, user_id)? {
        Some(hash) => hex::encode(Sha256::digest(hash.as_bytes())),
        None => "none".to_owned(),
    })
}

/// A stored token (without its secret).
#[derive(Clone, Debug)]
pub struct Token {
    pub id: String,
    pub purpose: Purpose,
    pub user_id: String,
    pub email: String,
    pub callback_url: Option<String>,
}

/// Issues a token and returns the secret to put in the link. Earlier unused
/// tokens of the purpose stay valid, up to `MAX_OUTSTANDING` (the oldest
/// beyond go); used and expired ones are dropped.
pub fn issue(
    tx: &Tx,
    purpose: Purpose,
    user_id: &str,
    email: &str,
    callback_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String> {
    tx.prepare_cached(
        "DELETE FROM verification_tokens WHERE user_id = ?1 AND purpose = ?2 \
         AND (used_at IS NOT NULL OR expires_at <= ?3)",
    )?
    .execute(params![user_id, purpose.as_str(), iso(now)])?;
    tx.prepare_cached(
        "DELETE FROM verification_tokens WHERE id IN (SELECT id FROM verification_tokens \
         WHERE user_id = ?1 AND purpose = ?2 ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?3)",
    )?
    .execute(params![
        user_id,
        purpose.as_str(),
        (MAX_OUTSTANDING - 1) as i64
    ])?;
    let credential = if purpose.bound() {
        Some(credential_of(tx, user_id)?)
    } else {
        None
    };
    let secret = new_token();
    tx.prepare_cached(
        "INSERT INTO verification_tokens (id, purpose, token_hash, user_id, email, callback_url, expires_at, created_at, credential) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        purpose.as_str(),
        hash_token(&secret),
        user_id,
        email,
        callback_url,
        iso(now + purpose.ttl()),
        iso(now),
        credential
    ])?;
    Ok(secret)
}

/// Voids every unused token of a user (all purposes): the address changed,
/// or it was proven by someone who now owns the account.
pub fn void_all(tx: &Tx, user_id: &str) -> Result<usize> {
    Ok(tx
        .prepare_cached("DELETE FROM verification_tokens WHERE user_id = ?1 AND used_at IS NULL")?
        .execute([user_id])?)
}

/// Consumes a token of one of `purposes`: unknown or used → TOKEN_INVALID
/// (400), expired → TOKEN_EXPIRED (401). Single use even under races.
pub fn consume(tx: &Tx, secret: &str, purposes: &[Purpose], now: DateTime<Utc>) -> Result<Token> {
    let token = check(tx, secret, purposes, now)?;
    let claimed = tx
        .prepare_cached(
            "UPDATE verification_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
        )?
        .execute(params![token.id, iso(now)])?;
    if claimed != 1 {
        return Err(invalid());
    }
    // Using one link voids the others of its purpose.
    tx.prepare_cached(
        "DELETE FROM verification_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
    )?
    .execute(params![token.user_id, token.purpose.as_str()])?;
    Ok(token)
}

fn invalid() -> ApiError {
    ApiError::new(
        ErrorCode::TokenInvalid,
        "this link is invalid or was already used",
    )
}

/// What `consume` would answer, without using the token (a flow that must
/// do expensive work before its write checks the token first).
pub fn check(
    tx: &Connection,
    secret: &str,
    purposes: &[Purpose],
    now: DateTime<Utc>,
) -> Result<Token> {
    struct Stored {
        id: String,
        purpose: String,
        user_id: String,
        email: String,
        callback_url: Option<String>,
        expires_at: String,
        used_at: Option<String>,
        credential: Option<String>,
    }
    let row: Option<Stored> = tx
        .prepare_cached(
            "SELECT id, purpose, user_id, email, callback_url, expires_at, used_at, credential \
             FROM verification_tokens WHERE token_hash = ?1",
        )?
        .query_row([hash_token(secret)], |r| {
            Ok(Stored {
                id: r.get(0)?,
                purpose: r.get(1)?,
                user_id: r.get(2)?,
                email: r.get(3)?,
                callback_url: r.get(4)?,
                expires_at: r.get(5)?,
                used_at: r.get(6)?,
                credential: r.get(7)?,
            })
        })
        .optional()?;
    let Stored {
        id,
        purpose,
        user_id,
        email,
        callback_url,
        expires_at,
        used_at,
        credential,
    } = row.ok_or_else(invalid)?;
    let purpose = Purpose::parse(&purpose)
        .filter(|p| purposes.contains(p))
        .ok_or_else(invalid)?;
    if used_at.is_some() {
        return Err(invalid());
    }
    if parse_iso(&expires_at).is_none_or(|t| t <= now) {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "this link has expired",
        ));
    }
    // Issued for another credential (the password changed, was reset or
    // removed, or the address was registered again since).
    if let Some(bound_to) = credential.filter(|_| purpose.bound()) {
        if bound_to != credential_of(tx, &user_id)? {
            return Err(ApiError::new(
                ErrorCode::TokenInvalid,
                "this link was issued for an earlier password; ask for a new one",
            ));
        }
    }
    Ok(Token {
        id,
        purpose,
        user_id,
        email,
        callback_url,
    })
}
