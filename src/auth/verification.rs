//! Single-use tokens sent by mail: email verification (24 h), password reset
//! (1 h), magic link (10 min), email change (24 h). Random 32 bytes, stored
//! as SHA-256, consumed with a conditional UPDATE so that two concurrent
//! uses cannot both succeed.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::session::{hash_token, new_token};
use crate::clock::{iso, parse_iso};
use crate::error::{ApiError, ErrorCode, Result};

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    EmailVerify,
    PasswordReset,
    MagicLink,
    EmailChange,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::EmailVerify => "email_verify",
            Purpose::PasswordReset => "password_reset",
            Purpose::MagicLink => "magic_link",
            Purpose::EmailChange => "email_change",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email_verify" => Purpose::EmailVerify,
            "password_reset" => Purpose::PasswordReset,
            "magic_link" => Purpose::MagicLink,
            "email_change" => Purpose::EmailChange,
            _ => return None,
        })
    }

    /// How long a token of this purpose lives.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::EmailVerify | Purpose::EmailChange => Duration::hours(24),
            Purpose::PasswordReset => Duration::hours(1),
            Purpose::MagicLink => Duration::minutes(10),
        }
    }
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

/// Issues a token, replacing unused ones of the same purpose for the user;
/// returns the secret to put in the link.
pub fn issue(
    tx: &Connection,
    purpose: Purpose,
    user_id: &str,
    email: &str,
    callback_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String> {
    tx.prepare_cached(
        "DELETE FROM verification_tokens WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
    )?
    .execute(params![user_id, purpose.as_str()])?;
    let secret = new_token();
    tx.prepare_cached(
        "INSERT INTO verification_tokens (id, purpose, token_hash, user_id, email, callback_url, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        purpose.as_str(),
        hash_token(&secret),
        user_id,
        email,
        callback_url,
        iso(now + purpose.ttl()),
        iso(now)
    ])?;
    Ok(secret)
}

/// Consumes a token of one of `purposes`: unknown or used → TOKEN_INVALID
/// (400), expired → TOKEN_EXPIRED (401). Single use even under races.
pub fn consume(
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
    }
    let row: Option<Stored> = tx
        .prepare_cached(
            "SELECT id, purpose, user_id, email, callback_url, expires_at, used_at \
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
            })
        })
        .optional()?;
    let invalid = || {
        ApiError::new(
            ErrorCode::TokenInvalid,
            "this link is invalid or was already used",
        )
    };
    let Stored {
        id,
        purpose,
        user_id,
        email,
        callback_url,
        expires_at,
        used_at,
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
    let claimed = tx
        .prepare_cached(
            "UPDATE verification_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
        )?
        .execute(params![id, iso(now)])?;
    if claimed != 1 {
        return Err(invalid());
    }
    Ok(Token {
        id,
        purpose,
        user_id,
        email,
        callback_url,
    })
}
