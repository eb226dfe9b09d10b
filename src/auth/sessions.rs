//! A user managing their own sessions: revoke one (by its id or its
//! token), revoke all others, revoke all. Each change is audited in the
//! same transaction; the caller resolver notices it at the next request.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::json;

use super::session;
use crate::audit::{self, ClientInfo, Event};
use crate::auth::Services;
use crate::clock::iso;
use crate::error::Result;
use crate::ids::{SessionId, UserId};

/// The id of a live session of `user_id` named by its id or by one of its
/// tokens; another user's session is never found.
fn own_session(
    conn: &Connection,
    user_id: &str,
    handle: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let by_id = session::by_id(conn, handle, now)?;
    let found = match by_id {
        Some(s) => Some(s),
        None => session::by_token(conn, handle, now)?.map(|p| p.session),
    };
    Ok(found.filter(|s| s.user_id == user_id).map(|s| s.id))
}

/// Revokes one session of the user, named by its id or its token; false
/// when the user has no such live session (nothing changes).
pub async fn revoke(
    state: &Services,
    user_id: String,
    handle: String,
    client: ClientInfo,
) -> Result<bool> {
    state
        .db
        .write(move |tx, at| {
            let now = iso(at);
            let Some(id) = own_session(tx, &user_id, &handle, at)? else {
                return Ok(false);
            };
            session::revoke(tx, &UserId::from(&user_id), &SessionId::from(&id))?;
            let meta = json!({ "sessionId": id });
            audit::record(
                tx,
                Some(&user_id),
                Event::SessionRevoked,
                &client,
                meta,
                &now,
            )?;
            Ok(true)
        })
        .await
}

/// Revokes every session of the user but `keep` (all of them when `keep`
/// is `None`); returns how many ended.
pub async fn revoke_all(
    state: &Services,
    user_id: String,
    keep: Option<String>,
    client: ClientInfo,
) -> Result<usize> {
    state
        .db
        .write(move |tx, now| {
            let now = iso(now);
            let revoked = session::revoke_all(
                tx,
                &UserId::from(&user_id),
                keep.as_deref().map(SessionId::from).as_ref(),
            )?;
            if revoked > 0 {
                let meta = json!({ "revokedSessions": revoked, "keptCurrent": keep.is_some() });
                audit::record(
                    tx,
                    Some(&user_id),
                    Event::SessionRevoked,
                    &client,
                    meta,
                    &now,
                )?;
            }
            Ok(revoked)
        })
        .await
}
