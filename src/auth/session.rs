//! Sessions: 7 days, extended at most once a day on use. A session hands
//! out tokens (only their SHA-256 is stored, in `session_tokens`), each of
//! one kind:
//!
//! * `cookie`: the session cookie, also the `token` of the Better Auth door.
//!   It does not rotate, as in Better Auth: browsers and every app sharing
//!   the cookie hold the same value.
//! * `refresh`: a refresh token of `/api/v1` clients, held by one client.
//!   Each `/refresh` supersedes it with a new one (`auth::refresh`).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::ClientInfo;
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::Result;
use crate::ids::{SessionId, SpaceId, UserId};

/// Lifetime of a session.
pub const SESSION_TTL: Duration = Duration::days(7);
/// A session is extended on use at most this often.
pub const EXTEND_EVERY: Duration = Duration::days(1);
/// Sessions one user may have; opening another ends the oldest (deleted
/// here, so the live-session check refuses its tokens at once).
pub const MAX_SESSIONS: u32 = 50;

/// A stored session as sent to its owner.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The active space of this session (Better Auth's name for it).
    pub active_organization_id: Option<String>,
}

const COLUMNS: &str =
    "id, user_id, created_at, updated_at, expires_at, ip, user_agent, active_space_id";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        user_id: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        expires_at: r.get(4)?,
        ip_address: r.get(5)?,
        user_agent: r.get(6)?,
        active_organization_id: r.get(7)?,
    })
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes, base64url.
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What a token is for (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Cookie,
    Refresh,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Cookie => "cookie",
            Kind::Refresh => "refresh",
        }
    }
}

/// A new session with its two first tokens (each shown once).
pub struct Opened {
    pub session: Session,
    /// For the session cookie (and the Better Auth door's `token`).
    pub cookie_token: String,
    /// For the body of `/api/v1` sign-in answers.
    pub refresh_token: String,
}

/// Stores a new token of `kind` for a session; returns it.
pub fn add_token(tx: &Tx, session_id: &str, kind: Kind, now: DateTime<Utc>) -> Result<String> {
    let token = new_token();
    tx.prepare_cached(
        "INSERT INTO session_tokens (token_hash, session_id, kind, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash_token(&token), session_id, kind.as_str(), iso(now)])?;
    Ok(token)
}

/// Creates a session and its cookie and refresh tokens. The user's
/// personal space starts as the session's active space.
pub fn create(tx: &Tx, user_id: &str, client: &ClientInfo, now: DateTime<Utc>) -> Result<Opened> {
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        created_at: iso(now),
        updated_at: iso(now),
        expires_at: iso(now + SESSION_TTL),
        ip_address: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        active_organization_id: tx
            .prepare_cached("SELECT id FROM spaces WHERE personal_of = ?1")?
            .query_row([user_id], |r| r.get(0))
            .optional()?,
    };
    tx.prepare_cached(
        "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at, ip, user_agent, active_space_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        session.id,
        session.user_id,
        session.created_at,
        session.updated_at,
        session.expires_at,
        session.ip_address,
        session.user_agent,
        session.active_organization_id
    ])?;
    let cookie_token = add_token(tx, &session.id, Kind::Cookie, now)?;
    let refresh_token = add_token(tx, &session.id, Kind::Refresh, now)?;
    end_oldest_beyond(tx, user_id, MAX_SESSIONS, client, now)?;
    Ok(Opened {
        session,
        cookie_token,
        refresh_token,
    })
}

/// Ends the user's expired sessions and, beyond the newest `keep` live
/// ones, the oldest; returns how many ended. A DELETE on the writer, so the
/// live-session check refuses their access tokens at once. Live sessions
/// ended by the cap are recorded as a `SESSIONS_ENDED_BY_LIMIT` security
/// event (with the client that opened the new one), so the owner sees it
/// when someone signing in again and again pushes their sessions out.
pub fn end_oldest_beyond(
    tx: &Tx,
    user_id: &str,
    keep: u32,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<usize> {
    let expired = tx
        .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2")?
        .execute(params![user_id, iso(now)])?;
    let oldest = tx
        .prepare_cached(
            "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE user_id = ?1 \
             ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?2)",
        )?
        .execute(params![user_id, keep])?;
    if oldest > 0 {
        crate::audit::record(
            tx,
            Some(user_id),
            crate::audit::Event::SessionsEndedByLimit,
            client,
            serde_json::json!({ "ended": oldest, "limit": keep }),
            &iso(now),
        )?;
    }
    Ok(expired + oldest)
}

/// A presented token as stored.
pub struct Presented {
    pub session: Session,
    pub kind: Kind,
    /// When a newer refresh token replaced it.
    pub superseded_at: Option<DateTime<Utc>>,
}

/// The session of a token, with the token's state (sessions that expired
/// are not found).
pub fn by_token(conn: &Connection, token: &str, now: DateTime<Utc>) -> Result<Option<Presented>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols}, t.kind, t.superseded_at FROM session_tokens t \
         JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?1 AND s.expires_at > ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![hash_token(token), iso(now)], |r| {
            let kind: String = r.get(8)?;
            let superseded: Option<String> = r.get(9)?;
            Ok(Presented {
                session: from_row(r)?,
                kind: if kind == "refresh" {
                    Kind::Refresh
                } else {
                    Kind::Cookie
                },
                // An unreadable time counts as long ago (never as live).
                superseded_at: superseded
                    .as_deref()
                    .map(|t| parse_iso(t).unwrap_or(DateTime::<Utc>::MIN_UTC)),
            })
        })
        .optional()?)
}

/// Marks a refresh token replaced (unless it already is); returns whether
/// this call did.
pub fn supersede(tx: &Tx, token: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE session_tokens SET superseded_at = ?2 WHERE token_hash = ?1 AND superseded_at IS NULL",
        )?
        .execute(params![hash_token(token), iso(now)])?
        > 0)
}

/// Forgets replaced refresh tokens of a session replaced before `before`
/// (presenting one of them then finds nothing instead of a reuse).
pub fn prune_superseded(tx: &Tx, session_id: &str, before: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached("DELETE FROM session_tokens WHERE session_id = ?1 AND superseded_at < ?2")?
        .execute(params![session_id, iso(before)])?;
    Ok(())
}

/// The live session with this id.
pub fn by_id(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1 AND expires_at > ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, iso(now)], from_row)
        .optional()?)
}

/// Sets (or clears) the active space of a session. The caller checks
/// membership.
pub fn set_active_space(tx: &Tx, id: &SessionId, space_id: Option<&SpaceId>) -> Result<()> {
    tx.prepare_cached("UPDATE sessions SET active_space_id = ?2 WHERE id = ?1")?
        .execute(params![id, space_id])?;
    Ok(())
}

/// True when the session should be extended on this use.
pub fn due_for_extension(session: &Session, now: DateTime<Utc>) -> bool {
    parse_iso(&session.updated_at).is_none_or(|t| now - t >= EXTEND_EVERY)
}

/// Extends a session to `now + 7 days`.
pub fn extend(tx: &Tx, id: &str, now: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached("UPDATE sessions SET updated_at = ?2, expires_at = ?3 WHERE id = ?1")?
        .execute(params![id, iso(now), iso(now + SESSION_TTL)])?;
    Ok(())
}

/// Live sessions of a user, newest first.
pub fn list(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![user_id, iso(now)], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Revokes one session of a user; returns whether it existed.
pub fn revoke(tx: &Tx, user_id: &UserId, id: &SessionId) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM sessions WHERE id = ?1 AND user_id = ?2")?
        .execute(params![id, user_id])?
        > 0)
}

/// Revokes every session of a user except `keep`; returns how many. Sign-ins
/// in flight end too: the user's credential epoch moves on (a sign-in that
/// read the old one opens no session, see `auth::open_session`) and open
/// two-factor tickets are dropped.
pub fn revoke_all(tx: &Tx, user_id: &UserId, keep: Option<&SessionId>) -> Result<usize> {
    tx.prepare_cached("UPDATE users SET credential_epoch = credential_epoch + 1 WHERE id = ?1")?
        .execute([user_id])?;
    tx.prepare_cached("DELETE FROM two_factor_tickets WHERE user_id = ?1")?
        .execute([user_id])?;
    Ok(tx
        .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2")?
        .execute(params![user_id, keep])?)
}

/// The credential epoch of a live user (None: erased or unknown).
pub fn credential_epoch(conn: &Connection, user_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT credential_epoch FROM users WHERE id = ?1 AND deleted_at IS NULL")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// Refuses when the user's credential epoch is no longer `read` (every
/// session ended since the sign-in checked its credential): 401
/// INVALID_CREDENTIALS, nothing opened.
pub fn ensure_epoch(conn: &Connection, user_id: &str, read: Option<i64>) -> Result<()> {
    let Some(read) = read else {
        return Ok(());
    };
    if credential_epoch(conn, user_id)? != Some(read) {
        return Err(crate::error::ApiError::new(
            crate::error::ErrorCode::InvalidCredentials,
            "the account's credentials changed during sign-in; sign in again",
        ));
    }
    Ok(())
}

/// Removes expired sessions (housekeeping).
pub fn purge_expired(tx: &Tx, now: DateTime<Utc>) -> Result<usize> {
    Ok(tx
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([iso(now)])?)
}
