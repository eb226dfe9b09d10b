//! The one caller resolver: every door (the `/api/v1` extractors, the
//! admin API, the Better Auth door, `/validate`) turns a credential into a
//! caller here, so a session that ends stops working everywhere at once.
//!
//! * An access token (JWT) is checked (signature, `exp`, issuer, audience),
//!   then its `sid` must name a live session of its `sub`, whose user exists
//!   and is not locked by an administrator.
//! * A session token (a refresh token, the session cookie) is looked up by
//!   its hash, with the same checks on session and user. A refresh token
//!   that a newer one replaced more than `REFRESH_GRACE` ago is a reuse:
//!   whoever holds it, the family is compromised, so the whole session is
//!   revoked and `REFRESH_TOKEN_REUSED` recorded (`auth::refresh`).
//!
//! Sessions resolved by `sid` are kept in a small cache (`LiveSessions`),
//! each entry stamped with the database generation read before its rows
//! were: any change to sessions, users or admin locks moves the generation
//! before the write that made it returns (`db::generation`), so a logout,
//! revocation, password change or reset, lock or erasure is seen by the
//! very next request. Entries also end with their session's expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde_json::json;

use super::session::{self, Kind, Session};
use super::token::{self, Claims};
use crate::audit::{self, ClientInfo, Event};
use crate::auth::Services;
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};
use crate::ids::{SessionId, UserId};
use crate::users::{store, User};

/// A caller with a live session.
#[derive(Clone, Debug)]
pub struct Caller {
    pub session: Session,
    pub user: User,
}

impl Caller {
    /// When the session was opened (a sign-in).
    pub fn signed_in_at(&self) -> Option<DateTime<Utc>> {
        parse_iso(&self.session.created_at)
    }
}

/// 401 TOKEN_EXPIRED: the session behind a credential is gone.
pub fn session_gone() -> ApiError {
    ApiError::new(
        ErrorCode::TokenExpired,
        "session expired or revoked; sign in again",
    )
}

/// Entries kept at most; beyond, stale ones go first, then all.
const MAX_ENTRIES: usize = 16_384;

struct Entry {
    caller: Arc<Caller>,
    generation: u64,
    expires_at: DateTime<Utc>,
}

/// Callers recently resolved by session id.
#[derive(Default)]
pub struct LiveSessions {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LiveSessions {
    fn get(&self, sid: &str, generation: u64, now: DateTime<Utc>) -> Option<Arc<Caller>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(sid)
            .filter(|e| e.generation == generation && e.expires_at > now)
            .map(|e| e.caller.clone())
    }

    fn put(&self, caller: Arc<Caller>, generation: u64, current: u64, now: DateTime<Utc>) {
        // Rows read under an older generation may already be stale.
        if generation != current {
            return;
        }
        let Some(expires_at) = parse_iso(&caller.session.expires_at) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.generation == current && e.expires_at > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            caller.session.id.clone(),
            Entry {
                caller,
                generation,
                expires_at,
            },
        );
    }
}

/// The caller of a live session, if its user exists and is not locked.
fn caller_of(conn: &Connection, session: Option<Session>) -> Result<Option<Caller>> {
    let Some(session) = session else {
        return Ok(None);
    };
    let Some(user) = store::by_id(conn, &session.user_id)? else {
        return Ok(None);
    };
    if crate::users::lock_of(conn, &user.id)?.is_some() {
        return Ok(None);
    }
    Ok(Some(Caller { session, user }))
}

/// The caller of a session id (from an access token), through the cache.
pub async fn by_sid(state: &Services, sid: &str) -> Result<Arc<Caller>> {
    let now = state.now();
    let generation = state.db.generation();
    if let Some(caller) = state.live.get(sid, generation, now) {
        return Ok(caller);
    }
    let id = sid.to_owned();
    let found = state
        .db
        .read(move |conn| caller_of(conn, session::by_id(conn, &id, now)?))
        .await?;
    let caller = Arc::new(found.ok_or_else(session_gone)?);
    state
        .live
        .put(caller.clone(), generation, state.db.generation(), now);
    Ok(caller)
}

/// The claims and caller of an access token.
pub async fn by_access_token(state: &Services, jwt: &str) -> Result<(Claims, Arc<Caller>)> {
    let claims = state
        .tokens
        .verify(jwt, state.now())
        .map_err(token::unauthorized)?;
    let caller = by_sid(state, &claims.sid).await?;
    if caller.user.id != claims.sub {
        return Err(session_gone());
    }
    Ok((claims, caller))
}

/// How long a replaced refresh token still works: two requests that
/// refresh at once (two tabs, a retry) both succeed.
pub const REFRESH_GRACE: Duration = Duration::seconds(30);

/// What a presented session token turned out to be.
pub enum TokenUse {
    /// A live session; `superseded` when the token was replaced within the
    /// grace window.
    Live {
        caller: Box<Caller>,
        kind: Kind,
        superseded: bool,
    },
    /// A refresh token replaced longer ago than the grace window.
    Reused { session_id: String, user_id: String },
    /// No live session (unknown, expired, revoked, user gone or locked).
    Gone,
}

/// Classifies a presented session token.
pub fn classify(conn: &Connection, token: &str, now: DateTime<Utc>) -> Result<TokenUse> {
    let Some(found) = session::by_token(conn, token, now)? else {
        return Ok(TokenUse::Gone);
    };
    if found
        .superseded_at
        .is_some_and(|at| now - at > REFRESH_GRACE)
    {
        return Ok(TokenUse::Reused {
            session_id: found.session.id,
            user_id: found.session.user_id,
        });
    }
    let (kind, superseded) = (found.kind, found.superseded_at.is_some());
    Ok(match caller_of(conn, Some(found.session))? {
        Some(caller) => TokenUse::Live {
            caller: Box::new(caller),
            kind,
            superseded,
        },
        None => TokenUse::Gone,
    })
}

/// Ends the session of a reused refresh token and records why (token
/// family revocation).
pub fn revoke_reused(
    tx: &Tx,
    session_id: &str,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<()> {
    if session::revoke(tx, &UserId::from(user_id), &SessionId::from(session_id))? {
        let meta = json!({ "sessionId": session_id });
        audit::record(
            tx,
            Some(user_id),
            Event::RefreshTokenReused,
            client,
            meta,
            &iso(now),
        )?;
    }
    Ok(())
}

/// The caller of a session token (refresh token or session cookie); a
/// reused refresh token revokes its session.
pub async fn by_session_token(
    state: &Services,
    token: String,
    client: &ClientInfo,
) -> Result<Caller> {
    let now = state.now();
    let found = state
        .db
        .read(move |conn| classify(conn, &token, now))
        .await?;
    match found {
        TokenUse::Live { caller, .. } => Ok(*caller),
        TokenUse::Gone => Err(session_gone()),
        TokenUse::Reused {
            session_id,
            user_id,
        } => {
            let client = client.clone();
            state
                .db
                .write(move |tx, now| revoke_reused(tx, &session_id, &user_id, &client, now))
                .await?;
            Err(session_gone())
        }
    }
}
