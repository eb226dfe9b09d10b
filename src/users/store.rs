//! SQL for users and their password credentials.

use rusqlite::{params, Connection, OptionalExtension};

use super::model::{User, COLUMNS};
use crate::db::Tx;
use crate::error::{on_constraint, ApiError, ErrorCode, Result};

/// A user by id (deleted users are not found).
pub fn by_id(conn: &Connection, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], User::from_row)
        .optional()?)
}

/// A user and their password hash by email, any letter case.
pub fn with_password_by_email(
    conn: &Connection,
    email: &str,
) -> Result<Option<(User, Option<String>)>> {
    let sql = format!(
        "SELECT {COLUMNS}, (SELECT password_hash FROM password_credentials p WHERE p.user_id = users.id) \
         FROM users WHERE email = ?1 AND deleted_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([email], |r| Ok((User::from_row(r)?, r.get(12)?)))
        .optional()?)
}

/// `with_password_by_email` with the user's credential epoch, read in the
/// same statement (one snapshot): a sign-in carries the epoch to the write
/// that opens its session.
pub fn with_password_and_epoch_by_email(
    conn: &Connection,
    email: &str,
) -> Result<Option<(User, Option<String>, i64)>> {
    let sql = format!(
        "SELECT {COLUMNS}, (SELECT password_hash FROM password_credentials p WHERE p.user_id = users.id), \
         credential_epoch FROM users WHERE email = ?1 AND deleted_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([email], |r| {
            Ok((User::from_row(r)?, r.get(12)?, r.get(13)?))
        })
        .optional()?)
}

/// The password hash of a user.
pub fn password_hash(conn: &Connection, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM password_credentials WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// When the user's password was last set, if the user has one.
pub fn password_set_at(conn: &Connection, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT updated_at FROM password_credentials WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// Inserts a user; a taken email becomes `EMAIL_ALREADY_REGISTERED`.
pub fn insert(tx: &Tx, user: &User) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO users (id, name, email, email_verified, image, role, access_tier, kind, \
         two_factor_enabled, created_at, updated_at, onboarding_completed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        user.id,
        user.name,
        user.email,
        user.email_verified,
        user.image,
        user.role,
        user.access_tier,
        user.kind,
        user.two_factor_enabled,
        user.created_at,
        user.updated_at,
        user.onboarding_completed_at
    ])
    .map_err(|e| {
        on_constraint(e, |msg| {
            msg.contains("users.email").then(|| {
                ApiError::new(
                    ErrorCode::EmailAlreadyRegistered,
                    "this email is already registered",
                )
            })
        })
    })?;
    Ok(())
}

/// Sets (or replaces) the password hash.
pub fn set_password(tx: &Tx, user_id: &str, hash: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO password_credentials (user_id, password_hash, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
    )?
    .execute(params![user_id, hash, now])?;
    Ok(())
}

/// Replaces the password hash `old` of a user by `new` (a rehash of the same
/// password); false when the stored hash is no longer `old` (the password
/// was changed meanwhile, which wins).
pub fn replace_password_hash(
    tx: &Tx,
    user_id: &str,
    old: &str,
    new: &str,
    now: &str,
) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE password_credentials SET password_hash = ?3, updated_at = ?4 \
             WHERE user_id = ?1 AND password_hash = ?2",
        )?
        .execute(params![user_id, old, new, now])?
        == 1)
}

/// Whether any stored password hash is not a PHC string (a Better Auth
/// scrypt hash from an import); one lookup in a partial index.
pub fn has_scrypt_password(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM password_credentials WHERE password_hash NOT LIKE '$%')",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Updates name and image.
pub fn update_profile(
    tx: &Tx,
    user_id: &str,
    name: &str,
    image: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.prepare_cached("UPDATE users SET name = ?2, image = ?3, updated_at = ?4 WHERE id = ?1")?
        .execute(params![user_id, name, image, now])?;
    Ok(())
}

/// People (not personas or system users) signed up at or after `since`.
pub fn count_created_since(conn: &Connection, since: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM users WHERE created_at >= ?1 AND kind = 'human'")?
        .query_row([since], |r| r.get(0))?)
}

/// Marks the email address verified.
pub fn set_verified(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1 AND email_verified = 0",
    )?
    .execute(params![user_id, now])?;
    Ok(())
}

/// Changes the email address; a taken address becomes `EMAIL_ALREADY_REGISTERED`.
pub fn set_email(tx: &Tx, user_id: &str, email: &str, now: &str) -> Result<()> {
    tx.prepare_cached("UPDATE users SET email = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![user_id, email, now])
        .map_err(|e| {
            on_constraint(e, |msg| {
                msg.contains("users.email").then(|| {
                    ApiError::new(
                        ErrorCode::EmailAlreadyRegistered,
                        "this email is already registered",
                    )
                })
            })
        })?;
    Ok(())
}
