//! Account flows that combine password hashing with storage: register, login,
//! refresh, logout, change password. Hashing happens before the write
//! transaction opens (never while holding the write lock); each flow then
//! makes one transactional write.

pub mod caller;
pub mod lifecycle;
pub mod lockout;
pub mod password;
pub mod proof;
pub mod reauth;
pub mod refresh;
pub mod scrypt_hash;
pub mod services;
pub mod session;
pub mod sessions;
pub mod signup;
pub mod token;
pub mod two_factor;
pub mod verification;

use serde::Serialize;
use serde_json::json;

use crate::audit::{self, ClientInfo, Event};
use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};
use crate::ids::{SessionId, UserId};
use crate::users::{self, store, User};

pub use services::Services;
pub use session::Session;

/// What a successful sign-in hands out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    pub user: User,
    pub access_token: String,
    /// The `/api/v1` refresh token (rotates on each refresh).
    pub refresh_token: String,
    /// The session cookie's token (also the Better Auth door's `token`).
    #[serde(skip)]
    pub session_token: String,
    #[serde(skip)]
    pub session: Session,
}

/// Input of `register`.
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    /// Profile image URL.
    pub image: Option<String>,
    /// Where the verification link leads after verifying (allowed origins only).
    pub source_app_url: Option<String>,
}

/// Creates an account. Where verification is required, an address whose
/// account was never verified is taken over by this registration
/// (`proof::restart`); a verified address answers 409 (the one place that
/// tells whether an address has an account, bounded by the per-IP limit).
pub async fn register(state: &Services, reg: Registration, client: ClientInfo) -> Result<User> {
    let email = users::normalize_email(&reg.email)?;
    password::check_strength(&reg.password)?;
    let name = users::check_name(reg.name.as_deref().unwrap_or(""))?;
    let image = reg.image.as_deref().map(users::check_image).transpose()?;
    let callback = lifecycle::check_callback(state, reg.source_app_url.as_deref())?;
    let hash = state.hasher.hash_anonymous(reg.password).await?;
    let limit = state.config.max_daily_signups;
    let st = state.clone();
    let user = state
        .db
        .write(move |tx, now| {
            // A never-verified registration of this address is restarted
            // for this registrant (where verification is required); a
            // verified account stays and the insert answers 409.
            let required = st.config.require_email_verification;
            proof::restart(tx, required, &email, &client, now)?;
            users::enforce_signup_limit(tx, limit, now)?;
            let mut user = signup::insert_account(tx, email, name, &hash, &client, now)?;
            if let Some(image) = image {
                store::update_profile(tx, &user.id, &user.name, Some(&image), &iso(now))?;
                user.image = Some(image);
            }
            lifecycle::queue_verification(tx, &st, &user, callback.as_deref(), &client)?;
            Ok(user)
        })
        .await?;
    state.mail.wake();
    Ok(user)
}

/// Signs in with email and password.
pub async fn login(
    state: &Services,
    email: &str,
    password: String,
    client: ClientInfo,
) -> Result<SignedIn> {
    let email = users::normalize_email(email)
        .map_err(|_| ApiError::new(ErrorCode::InvalidCredentials, "invalid email or password"))?;
    let lookup_email = email.clone();
    let clock = state.clock.clone();
    let who = client.clone();
    let (refused, found) = state
        .db
        .read(move |conn| {
            let refused = lockout::check(conn, &lookup_email, &who, clock.now())?;
            let found = store::with_password_and_epoch_by_email(conn, &lookup_email)?;
            Ok((refused, found))
        })
        .await?;
    if let Some(refusal) = refused {
        return Err(refusal.error());
    }
    // The epoch read with the hash: if every session ends while the hash is
    // checked (reset, change, 2FA turned on, lock), this sign-in opens none.
    let (user, hash, epoch) = match found {
        Some((user, hash, epoch)) => (Some(user), hash, Some(epoch)),
        None => (None, None, None),
    };
    // Infrastructure errors propagate here and are never counted as failures.
    let verified = state
        .hasher
        .verify_for_login(password, hash.clone())
        .await?;
    let Some(user) = user.filter(|_| verified.matches) else {
        return Err(record_failure(state, email, client).await);
    };
    if state.config.require_email_verification && !user.email_verified {
        return Err(ApiError::new(
            ErrorCode::EmailNotVerified,
            "verify your email address first",
        ));
    }
    // A Better Auth hash is replaced in the write that opens the session
    // (or, with 2FA on, issues the ticket): the password is proven there.
    let rehash = verified
        .rehashed
        .zip(hash)
        .map(|(new, old)| scrypt_hash::Rehash {
            user_id: user.id.clone(),
            old,
            new,
            client: client.clone(),
        });
    if user.two_factor_enabled {
        return Err(second_factor_required(state, &user, rehash, epoch).await?);
    }
    open_session(state, user, client, Some(email), rehash, epoch).await
}

/// The answer when a first factor succeeded for an account with 2FA on: no
/// session yet, a short-lived ticket for the second step instead. The
/// failure counter is not cleared: only the second step
/// (`two_factor::finish`) does that. `epoch`: the credential epoch the first
/// factor was checked at (no ticket when it moved since).
pub async fn second_factor_required(
    state: &Services,
    user: &User,
    rehash: Option<scrypt_hash::Rehash>,
    epoch: Option<i64>,
) -> Result<ApiError> {
    let user_id = user.id.clone();
    let ticket = state
        .db
        .write(move |tx, now| {
            session::ensure_epoch(tx, &user_id, epoch)?;
            if let Some(rehash) = &rehash {
                rehash.apply(tx, &iso(now))?;
            }
            two_factor::issue_ticket_tx(tx, &user_id, now)
        })
        .await?;
    Ok(ApiError::new(
        ErrorCode::TwoFactorRequired,
        "enter the code of your authenticator app or a backup code",
    )
    .with_field("twoFactorTicket", json!(ticket))
    .with_field("expiresInSec", json!(two_factor::TICKET_TTL.num_seconds())))
}

/// Records a credential failure of `email` (and the lock it may cause);
/// returns the answer: INVALID_CREDENTIALS or ACCOUNT_LOCKED.
pub(crate) async fn record_failure(
    state: &Services,
    email: String,
    client: ClientInfo,
) -> ApiError {
    let result = state
        .db
        .write(move |tx, now| {
            let user_id: Option<String> =
                store::with_password_by_email(tx, &email)?.map(|(u, _)| u.id);
            let locked = lockout::record_failure(tx, &email, &client, now)?;
            let meta = json!({ "reason": "invalid_credentials" });
            audit::record(
                tx,
                user_id.as_deref(),
                Event::LoginFailure,
                &client,
                meta,
                &iso(now),
            )?;
            if locked.is_some() {
                audit::record(
                    tx,
                    user_id.as_deref(),
                    Event::AccountLocked,
                    &client,
                    json!({}),
                    &iso(now),
                )?;
            }
            Ok(locked)
        })
        .await;
    match result {
        Ok(Some(refusal)) => refusal.error(),
        Ok(None) => ApiError::new(ErrorCode::InvalidCredentials, "invalid email or password"),
        Err(e) => e,
    }
}

/// 429 ACCOUNT_LOCKED with `Retry-After`.
pub(crate) fn locked_error(secs: u64) -> ApiError {
    ApiError::new(
        ErrorCode::AccountLocked,
        "too many failed sign-in attempts; try again later",
    )
    .with_retry_after(secs)
}

/// Opens a session for an authenticated user and issues tokens. `clear`
/// names the email whose failure counter a successful login resets.
pub async fn start_session(
    state: &Services,
    user: User,
    client: ClientInfo,
    clear: Option<String>,
) -> Result<SignedIn> {
    open_session(state, user, client, clear, None, None).await
}

/// `start_session` for a sign-in whose proof was checked at credential
/// epoch `epoch`: refused (401, nothing opened) when every session of the
/// user ended since.
pub async fn start_session_at(
    state: &Services,
    user: User,
    client: ClientInfo,
    clear: Option<String>,
    epoch: i64,
) -> Result<SignedIn> {
    open_session(state, user, client, clear, None, Some(epoch)).await
}

/// `start_session`, also storing a password rehash in the same write, and
/// checking the credential epoch the sign-in read (when it read one).
async fn open_session(
    state: &Services,
    user: User,
    client: ClientInfo,
    clear: Option<String>,
    rehash: Option<scrypt_hash::Rehash>,
    epoch: Option<i64>,
) -> Result<SignedIn> {
    let user_id = user.id.clone();
    let opened = state
        .db
        .write(move |tx, now| {
            // An admin lock refuses every way in (password, magic link, …).
            crate::users::ensure_not_locked(tx, &user_id)?;
            // The password (or ticket, or link) was checked before a reset,
            // change, lock or 2FA switch that ended every session.
            session::ensure_epoch(tx, &user_id, epoch)?;
            if let Some(email) = clear {
                lockout::succeeded(tx, &email, &client)?;
            }
            if let Some(rehash) = &rehash {
                rehash.apply(tx, &iso(now))?;
            }
            let created = session::create(tx, &user_id, &client, now)?;
            audit::record(
                tx,
                Some(&user_id),
                Event::LoginSuccess,
                &client,
                json!({}),
                &iso(now),
            )?;
            Ok(created)
        })
        .await?;
    let access_token = state
        .tokens
        .issue(&user, &opened.session.id, state.clock.now())?;
    Ok(SignedIn {
        user,
        access_token,
        refresh_token: opened.refresh_token,
        session_token: opened.cookie_token,
        session: opened.session,
    })
}

/// The live session and user of a session token (see `caller`); a reused
/// refresh token revokes its session.
pub async fn resolve(
    state: &Services,
    token: String,
    client: &ClientInfo,
) -> Result<(Session, User)> {
    let caller = caller::by_session_token(state, token, client).await?;
    Ok((caller.session, caller.user))
}

/// Extends a session on use, at most once a day; returns whether it did.
pub async fn extend_if_due(
    state: &Services,
    session: &mut Session,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    if !session::due_for_extension(session, now) {
        return Ok(false);
    }
    let id = session.id.clone();
    state
        .db
        .write(move |tx, _| session::extend(tx, &id, now))
        .await?;
    session.updated_at = iso(now);
    session.expires_at = iso(now + session::SESSION_TTL);
    Ok(true)
}

/// Revokes a session.
pub async fn logout(state: &Services, session: Session, client: ClientInfo) -> Result<()> {
    state
        .db
        .write(move |tx, now| {
            session::revoke(
                tx,
                &UserId::from(&session.user_id),
                &SessionId::from(&session.id),
            )?;
            let meta = json!({ "sessionId": session.id });
            audit::record(
                tx,
                Some(&session.user_id),
                Event::Logout,
                &client,
                meta,
                &iso(now),
            )
        })
        .await
}

/// Changes the password after checking the current one; revokes every other
/// session of the user.
pub async fn change_password(
    state: &Services,
    user_id: String,
    current_session: String,
    current: String,
    new: String,
    client: ClientInfo,
) -> Result<usize> {
    password::check_strength(&new)?;
    reauth::check_password(state, &user_id, current, &client).await?;
    let hash = state.hasher.hash(new).await?;
    state
        .db
        .write(move |tx, now| {
            let now = iso(now);
            store::set_password(tx, &user_id, &hash, &now)?;
            let revoked = session::revoke_all(
                tx,
                &UserId::from(&user_id),
                Some(&SessionId::from(&current_session)),
            )?;
            let meta = json!({ "revokedSessions": revoked });
            audit::record(
                tx,
                Some(&user_id),
                Event::PasswordChanged,
                &client,
                meta,
                &now,
            )?;
            Ok(revoked)
        })
        .await
}
