//! Refresh-token rotation.
//!
//! `/api/v1/auth/refresh` answers with a new refresh token each time:
//!
//! * a live `refresh` token is marked replaced and a new one is issued;
//! * a `refresh` token replaced less than `caller::REFRESH_GRACE` ago still
//!   works (two requests that refresh at once): it gets a new token of its
//!   own, a sibling in the same session;
//! * a `refresh` token replaced longer ago is a reuse: one of its holders is
//!   not the owner, so the session ends for both (token family revocation)
//!   and `REFRESH_TOKEN_REUSED` is recorded;
//! * a `cookie` token (the session cookie, which never rotates because a
//!   browser and every app sharing the cookie hold it) starts a chain of
//!   refresh tokens of its own and stays as it is.
//!
//! `exchange` (session-to-token) turns the cookie into an access token and a
//! new refresh token of the same session, so that the client's refresh
//! token is never the cookie's value.

use chrono::{DateTime, Utc};

use super::caller::{self, Caller, TokenUse};
use super::extend_if_due;
use super::session::{self, Kind, SESSION_TTL};
use crate::audit::ClientInfo;
use crate::auth::Services;
use crate::db::Tx;
use crate::error::Result;
use crate::users::User;

/// What a refresh hands out.
#[derive(Debug)]
pub struct Refreshed {
    pub user: User,
    pub session: session::Session,
    pub access_token: String,
    pub refresh_token: String,
}

/// A refusal the transaction must still commit (the revocation of a reuse).
type Verdict<T> = std::result::Result<T, crate::error::ApiError>;

/// The write of one refresh: a new refresh token for the presented one.
fn rotate(
    tx: &Tx,
    token: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Verdict<(Caller, String)>> {
    match caller::classify(tx, token, now)? {
        TokenUse::Gone => Ok(Err(caller::session_gone())),
        TokenUse::Reused {
            session_id,
            user_id,
        } => {
            caller::revoke_reused(tx, &session_id, &user_id, client, now)?;
            Ok(Err(caller::session_gone()))
        }
        TokenUse::Live { caller, kind, .. } => {
            if kind == Kind::Refresh {
                session::supersede(tx, token, now)?;
                session::prune_superseded(tx, &caller.session.id, now - SESSION_TTL)?;
            }
            let next = session::add_token(tx, &caller.session.id, Kind::Refresh, now)?;
            Ok(Ok((*caller, next)))
        }
    }
}

/// Exchanges a refresh token (or the cookie token) for an access token and
/// the next refresh token; extends the session at most once a day. The
/// user is re-read, so role and tier are current.
pub async fn refresh(state: &Services, token: String, client: ClientInfo) -> Result<Refreshed> {
    let (caller, next) = state
        .db
        .write(move |tx, now| rotate(tx, &token, &client, now))
        .await??;
    signed_in(state, caller, next).await
}

/// `session-to-token`: the session of a cookie token, an access token and a
/// new refresh token of that session; the cookie stays as it is.
pub async fn exchange(state: &Services, cookie: String, client: ClientInfo) -> Result<Refreshed> {
    let caller = caller::by_session_token(state, cookie, &client).await?;
    let sid = caller.session.id.clone();
    let next = state
        .db
        .write(move |tx, now| session::add_token(tx, &sid, Kind::Refresh, now))
        .await?;
    signed_in(state, caller, next).await
}

async fn signed_in(state: &Services, caller: Caller, refresh_token: String) -> Result<Refreshed> {
    let Caller { mut session, user } = caller;
    let now = state.now();
    extend_if_due(state, &mut session, now).await?;
    let access_token = state.tokens.issue(&user, &session.id, now)?;
    Ok(Refreshed {
        user,
        session,
        access_token,
        refresh_token,
    })
}
