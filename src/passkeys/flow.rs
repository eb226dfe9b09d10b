//! The passkey flows over state: each ceremony step, its storage write and
//! its security event.

use serde_json::{json, Value};
use webauthn_rs::prelude::*;

use super::store::{self, encode_id, PasskeyInfo};
use super::{Expected, OptionsFor};
use crate::audit::{self, ClientInfo, Event};
use crate::auth::Services;
use crate::auth::{self, SignedIn};
use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};
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
    state: &Services,
    passkeys: &super::Passkeys,
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
    passkeys.register_options(&user.id, &user.email, &user.name, exclude, state.now())
}

/// Verifies and stores a new passkey.
pub async fn register_verify(
    state: &Services,
    passkeys: &super::Passkeys,
    user_id: String,
    challenge_id: &str,
    credential: RegisterPublicKeyCredential,
    name: Option<String>,
    client: ClientInfo,
) -> Result<PasskeyInfo> {
    let name = check_name(name.as_deref())?.unwrap_or_else(|| "Passkey".to_owned());
    let passkey = passkeys.register_finish(challenge_id, &user_id, &credential, state.now())?;
    let transports: Option<Value> = credential
        .response
        .transports
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok());
    state
        .db
        .write(move |tx, now| {
            let now = iso(now);
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

/// Who sign-in options are asked for.
pub enum Scope {
    /// Nobody named: discoverable.
    Anyone,
    /// An address typed at sign-in (unauthenticated).
    Email(String),
    /// The signed-in user (the Better Auth door).
    SignedIn(String),
}

/// Options for signing in. For an address, the account's passkeys — or,
/// when there is no such account or it has none, a stable decoy list of the
/// same shape (`decoy`), so the answer tells nothing about the address.
pub async fn auth_options(
    state: &Services,
    passkeys: &super::Passkeys,
    scope: Scope,
) -> Result<(String, RequestChallengeResponse)> {
    let request = match scope {
        Scope::Anyone => OptionsFor::Anyone,
        Scope::SignedIn(user_id) => {
            let uid = user_id.clone();
            let keys = state
                .db
                .read(move |c| store::credentials_of(c, &uid))
                .await?;
            OptionsFor::SignedIn { user_id, keys }
        }
        Scope::Email(email) => match users::normalize_email(&email) {
            // Not an address (or empty): no account can have it, so the
            // discoverable options tell nothing.
            Err(_) => OptionsFor::Anyone,
            Ok(address) => {
                let a = address.clone();
                let account = state
                    .db
                    .read(move |c| match user_store::with_password_by_email(c, &a)? {
                        Some((user, _)) => {
                            Ok(Some((user.id.clone(), store::credentials_of(c, &user.id)?)))
                        }
                        None => Ok(None),
                    })
                    .await?;
                OptionsFor::Address { address, account }
            }
        },
    };
    passkeys.auth_options(request, state.now())
}

/// At most this much of a credential id goes into a security event.
const EVENT_ID_PREFIX: usize = 12;

/// Records PASSKEY_LOGIN_FAILURE for the owner of a stored credential, with a
/// short prefix of its id (enough for the owner to tell their passkeys
/// apart, never the whole id).
async fn failure_event(state: &Services, owner: String, credential_id: &str, client: ClientInfo) {
    let prefix: String = credential_id.chars().take(EVENT_ID_PREFIX).collect();
    let logged = state
        .db
        .write(move |tx, now| {
            let meta = json!({ "credentialIdPrefix": prefix });
            audit::record(
                tx,
                Some(&owner),
                Event::PasskeyLoginFailure,
                &client,
                meta,
                &iso(now),
            )
        })
        .await;
    if let Err(log_err) = logged {
        tracing::warn!(error = %log_err, "could not record a passkey failure");
    }
}

fn not_verified() -> ApiError {
    ApiError::new(
        ErrorCode::PasskeyVerificationFailed,
        super::refusal::NOT_VERIFIED,
    )
}

/// Verifies a sign-in assertion and opens a session. A credential id longer
/// than WebAuthn allows is refused before anything; an id nobody
/// registered is refused without a trace (no row, no counter); failures of
/// a stored credential are recorded for its owner, and count towards its
/// block only when the signature verified.
pub async fn auth_verify(
    state: &Services,
    passkeys: &super::Passkeys,
    challenge_id: &str,
    credential: PublicKeyCredential,
    client: ClientInfo,
) -> Result<SignedIn> {
    if credential.raw_id.as_ref().len() > super::MAX_CREDENTIAL_ID {
        return Err(ApiError::validation(format!(
            "a credential id is at most {} bytes",
            super::MAX_CREDENTIAL_ID
        )));
    }
    let now = state.now();
    let credential_id = encode_id(credential.raw_id.as_ref());
    if let Some(secs) = passkeys.blocked_for(&credential_id, now) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "this passkey is temporarily blocked after failed attempts",
        )
        .with_retry_after(secs));
    }
    let ceremony = passkeys.auth_take(challenge_id, now)?;
    let cid = credential_id.clone();
    let stored = state
        .db
        .read(move |c| store::by_credential_id(c, &cid))
        .await?;
    let Some((row_id, user_id, passkey)) = stored else {
        tracing::info!(
            credential = %credential_id.chars().take(EVENT_ID_PREFIX).collect::<String>(),
            "passkey sign-in with an unregistered credential"
        );
        return Err(ApiError::new(
            ErrorCode::PasskeyVerificationFailed,
            super::refusal::NOT_REGISTERED,
        )
        .with_refusal(crate::error::Refusal::PasskeyNotRegistered));
    };
    let wrong_user = match &ceremony.expected {
        Expected::Anyone => false,
        Expected::User(u) => *u != user_id,
        Expected::Nobody => true,
    };
    if wrong_user {
        failure_event(state, user_id, &credential_id, client).await;
        return Err(ApiError::new(
            ErrorCode::PasskeyVerificationFailed,
            super::refusal::OTHER_ACCOUNT,
        ));
    }
    let updated = match passkeys.auth_finish(ceremony, &credential, passkey) {
        Ok(updated) => updated,
        Err(refused) => {
            if refused.signed {
                passkeys.record_failure(&credential_id, now);
            }
            failure_event(state, user_id, &credential_id, client).await;
            return Err(not_verified());
        }
    };
    let (uid, c2) = (user_id.clone(), client.clone());
    let user = state
        .db
        .write(move |tx, now| {
            let now = iso(now);
            if !store::update_after_use(tx, &row_id, &updated, &now)? {
                // A parallel sign-in with this counter value won.
                return Ok(None);
            }
            let meta = json!({ "passkeyId": row_id });
            audit::record(tx, Some(&uid), Event::PasskeyLoginSuccess, &c2, meta, &now)?;
            user_store::by_id(tx, &uid)?
                .ok_or_else(ApiError::unauthorized)
                .map(Some)
        })
        .await?;
    let Some(user) = user else {
        passkeys.record_failure(&credential_id, now);
        failure_event(state, user_id, &credential_id, client).await;
        return Err(not_verified());
    };
    auth::start_session(state, user, client, None).await
}

/// Renames one of the caller's passkeys.
pub async fn rename(
    state: &Services,
    user_id: String,
    id: String,
    name: Option<String>,
) -> Result<PasskeyInfo> {
    let name =
        check_name(name.as_deref())?.ok_or_else(|| ApiError::validation("name is required"))?;
    state
        .db
        .write(move |tx, _| {
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
    state: &Services,
    user_id: String,
    id: String,
    client: ClientInfo,
) -> Result<()> {
    state
        .db
        .write(move |tx, now| {
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
                &iso(now),
            )
        })
        .await
}
