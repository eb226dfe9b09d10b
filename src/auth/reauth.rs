//! Re-authentication of a signed-in user.
//!
//! * `check_password`: every password check outside login (change-password,
//!   two-factor enable / disable / get-totp-uri / generate-backup-codes,
//!   account deletion, step-up) on every door. It is limited like login:
//!   the per-IP limit of the sign-in routes, the lockout of the address
//!   (refused while locked), and every wrong password is a credential
//!   failure of the address, counted with login's.
//! * `step_up`: creating an API key, changing the email address, enabling
//!   2FA and adding a passkey need a *fresh* session — opened by a sign-in
//!   within `FRESH_SESSION_SECS` (Better Auth's `freshAge`; 0 turns the
//!   rule off) — or the password in the same request. Otherwise 403
//!   `SESSION_NOT_FRESH`.

use chrono::{DateTime, Duration, Utc};

use super::caller::Caller;
use super::lockout;
use crate::audit::ClientInfo;
use crate::auth::Services;
use crate::error::{ApiError, ErrorCode, Result};
use crate::ratelimit::Bucket;
use crate::users::store;

/// Checks the password of user `user_id`; INVALID_CREDENTIALS when wrong,
/// ACCOUNT_LOCKED while the address is locked, VALIDATION when the account
/// has no password.
pub async fn check_password(
    state: &Services,
    user_id: &str,
    password: String,
    client: &ClientInfo,
) -> Result<()> {
    state.limit(Bucket::Auth, client)?;
    let uid = user_id.to_owned();
    let clock = state.clock.clone();
    let who = client.clone();
    let (email, hash, refused) = state
        .db
        .read(move |c| {
            let user = store::by_id(c, &uid)?.ok_or_else(super::caller::session_gone)?;
            let refused = lockout::check(c, &user.email, &who, clock.now())?;
            Ok((user.email.clone(), store::password_hash(c, &uid)?, refused))
        })
        .await?;
    if let Some(refusal) = refused {
        return Err(refusal.error());
    }
    if hash.is_none() {
        return Err(ApiError::validation("this account has no password"));
    }
    // Infrastructure errors propagate and are never counted as failures.
    if state.hasher.verify(password, hash).await? {
        return Ok(());
    }
    let refusal = super::record_failure(state, email, client.clone()).await;
    Err(if refusal.code == ErrorCode::InvalidCredentials {
        ApiError::new(ErrorCode::InvalidCredentials, "password is wrong")
    } else {
        refusal
    })
}

/// Whether a session opened at `signed_in_at` is fresh at `now`.
pub fn is_fresh(fresh_secs: u64, signed_in_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    if fresh_secs == 0 {
        return true;
    }
    let max = Duration::seconds(i64::try_from(fresh_secs).unwrap_or(i64::MAX / 1000));
    signed_in_at.is_some_and(|t| now - t < max)
}

/// 403 SESSION_NOT_FRESH.
pub fn not_fresh() -> ApiError {
    ApiError::new(
        ErrorCode::SessionNotFresh,
        "sign in again or send your password with this request",
    )
}

/// The step-up rule: a fresh session, or the right password in `password`.
pub async fn step_up(
    state: &Services,
    caller: &Caller,
    password: Option<String>,
    client: &ClientInfo,
) -> Result<()> {
    match password {
        Some(password) => check_password(state, &caller.user.id, password, client).await,
        None if is_fresh(
            state.config.fresh_session_secs,
            caller.signed_in_at(),
            state.now(),
        ) =>
        {
            Ok(())
        }
        None => Err(not_fresh()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_counts_from_the_sign_in() {
        let t0 = crate::clock::Clock::system().now();
        let day = 86_400;
        assert!(is_fresh(day, Some(t0), t0 + Duration::hours(23)));
        assert!(!is_fresh(day, Some(t0), t0 + Duration::hours(24)));
        assert!(!is_fresh(day, None, t0), "an unreadable time is not fresh");
        assert!(is_fresh(0, Some(t0), t0 + Duration::days(400)), "0 = off");
        assert!(is_fresh(u64::MAX, Some(t0), t0 + Duration::days(4000)));
    }
}
