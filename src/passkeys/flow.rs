//! The passkey flows over state: each ceremony step, its storage write and
//! its security event.

use serde_json::{json, Value};
use webauthn_rs::prelude::*;

use super::store::{self, encode_id, PasskeyInfo};
use super::Expected;
use crate::audit::{self, ClientInfo, Event};
use crate::auth::{self, SignedIn};
use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};
use crate::state::AppState;
use crate::users::{self, store as user_store};

/// Longest passkey name.
pub const MAX_NAME: usize = 80;

fn check_name(name: Option<&str>) -> Result<Option<String>> {
    name.map(|n| {
        let n = users::check_name(n)?;
        if n.is_empty() || n.chars().count() > MAX_NAME {
            return Err(ApiError::validation("name must be 1..80 characters"));
        }
        Ok(n)
    })
    .transpose()
}

/// Options for registering a passkey (signed-in user).
pub async fn register_options(
    state: &AppState,
    caller: &crate::auth::caller::Caller,
    password: Option<String>,
    client: &ClientInfo,
) -> Result<(String, CreationChallengeResponse)> {
    // Adding a sign-in credential is a step-up action.
    crate::auth::reauth::step_up(state, caller, password, client).await?;
    let uid = caller.user.id.clone();
    let (user, existing) = state
        .db
        .read(move |c| {
            let user = user_store::by_id(c, &uid)?.ok_or_else(ApiError::unauthorized)?;
            Ok((user, store::credentials_of(c, &uid)?))
        })
        .await?;
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
    state
        .passkeys
        .register_options(&user.id, &user.email, &user.name, exclude, state.now())
}

/// Verifies and stores a new passkey.
pub async fn register_verify(
    state: &AppState,
    user_id: String,
    challenge_id: &str,
    credential: RegisterPublicKeyCredential,
    name: Option<String>,
    client: ClientInfo,
) -> Result<PasskeyInfo> {
    let name = check_name(name.as_deref())?.unwrap_or_else(|| "Passkey".to_owned());
    let passkey =
        state
            .passkeys
            .register_finish(challenge_id, &user_id, &credential, state.now())?;
    let transports: Option<Value> = credential
        .response
        .transports
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok());
    let clock = state.clock.clone();
    state
        .db
        .write(move |tx| {
            let now = iso(clock.now());
            let id = uuid::Uuid::new_v4().to_string();
            store::insert(tx, &id, &user_id, &passkey, &name, transports, &now)?;
            let meta = json!({ "passkeyId": id, "name": name });
            audit::record(
                tx,
                Some(&user_id),
                Event::PasskeyRegistered,
                &client,
                meta,
                &now,
            )?;
            store::list(tx, &user_id)?
                .into_iter()
                .find(|p| p.id == id)
                .ok_or_else(|| ApiError::internal("passkey vanished"))
        })
        .await
}

/// Options for signing in; with an email, limited to that account's
/// passkeys (unknown accounts get discoverable options, so the answer does
/// not tell whether the account exists).
pub async fn auth_options(
    state: &AppState,
    email: Option<String>,
    client: &ClientInfo,
) -> Result<(String, RequestChallengeResponse)> {
    state.limit(crate::http::ratelimit::Bucket::PasskeyOptions, client)?;
    let for_user = match email
        .as_deref()
        .map(users::normalize_email)
        .transpose()
        .ok()
        .flatten()
    {
        Some(email) => {
            state
                .db
                .read(
                    move |c| match user_store::with_password_by_email(c, &email)? {
                        Some((user, _)) => {
                            Ok(Some((user.id.clone(), store::credentials_of(c, &user.id)?)))
                        }
                        None => Ok(None),
                    },
                )
                .await?
        }
        None => None,
    };
    state.passkeys.auth_options(for_user, state.now())
}

/// Verifies a sign-in assertion and opens a session.
pub async fn auth_verify(
    state: &AppState,
    challenge_id: &str,
    credential: PublicKeyCredential,
    client: ClientInfo,
) -> Result<SignedIn> {
    let now = state.now();
    let credential_id = encode_id(credential.raw_id.as_ref());
    if let Some(secs) = state.passkeys.blocked_for(&credential_id, now) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "this passkey is temporarily blocked after failed attempts",
        )
        .with_retry_after(secs));
    }
    let ceremony = state.passkeys.auth_take(challenge_id, now)?;
    let cid = credential_id.clone();
    let stored = state
        .db
        .read(move |c| store::by_credential_id(c, &cid))
        .await?;
    let outcome = match stored {
        None => Err(ApiError::new(
            ErrorCode::PasskeyVerificationFailed,
            super::refusal::NOT_REGISTERED,
        )),
        Some((row_id, user_id, passkey)) => {
            let wrong_user = matches!(&ceremony.expected, Expected::User(u) if *u != user_id);
            if wrong_user {
                Err(ApiError::new(
                    ErrorCode::PasskeyVerificationFailed,
                    super::refusal::OTHER_ACCOUNT,
                ))
            } else {
                state
                    .passkeys
                    .auth_finish(ceremony, &credential, passkey)
                    .map(|updated| (row_id, user_id, updated))
            }
        }
    };
    let clock = state.clock.clone();
    match outcome {
        Err(e) => {
            state.passkeys.record_failure(&credential_id, now);
            let cid = credential_id.clone();
            let logged = state
                .db
                .write(move |tx| {
                    let owner = store::by_credential_id(tx, &cid)?.map(|(_, u, _)| u);
                    let meta = json!({ "credentialId": cid });
                    audit::record(
                        tx,
                        owner.as_deref(),
                        Event::PasskeyLoginFailure,
                        &client,
                        meta,
                        &iso(clock.now()),
                    )
                })
                .await;
            if let Err(log_err) = logged {
                tracing::warn!(error = %log_err, "could not record a passkey failure");
            }
            Err(e)
        }
        Ok((row_id, user_id, updated)) => {
            let c2 = client.clone();
            let user = state
                .db
                .write(move |tx| {
                    let now = iso(clock.now());
                    store::update_after_use(tx, &row_id, &updated, &now)?;
                    let meta = json!({ "passkeyId": row_id });
                    audit::record(
                        tx,
                        Some(&user_id),
                        Event::PasskeyLoginSuccess,
                        &c2,
                        meta,
                        &now,
                    )?;
                    user_store::by_id(tx, &user_id)?.ok_or_else(ApiError::unauthorized)
                })
                .await?;
            auth::start_session(state, user, client, None).await
        }
    }
}

/// Renames one of the caller's passkeys.
pub async fn rename(
    state: &AppState,
    user_id: String,
    id: String,
    name: Option<String>,
) -> Result<PasskeyInfo> {
    let name =
        check_name(name.as_deref())?.ok_or_else(|| ApiError::validation("name is required"))?;
    state
        .db
        .write(move |tx| {
            if !store::rename(tx, &user_id, &id, &name)? {
                return Err(ApiError::not_found("passkey"));
            }
            store::list(tx, &user_id)?
                .into_iter()
                .find(|p| p.id == id)
                .ok_or_else(|| ApiError::not_found("passkey"))
        })
        .await
}

/// Deletes one of the caller's passkeys.
pub async fn delete(
    state: &AppState,
    user_id: String,
    id: String,
    client: ClientInfo,
) -> Result<()> {
    let clock = state.clock.clone();
    state
        .db
        .write(move |tx| {
            if !store::delete(tx, &user_id, &id)? {
                return Err(ApiError::not_found("passkey"));
            }
            let meta = json!({ "passkeyId": id });
            audit::record(
                tx,
                Some(&user_id),
                Event::PasskeyDeleted,
                &client,
                meta,
                &iso(clock.now()),
            )
        })
        .await
}
