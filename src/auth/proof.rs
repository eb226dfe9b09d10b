//! What proving an address does to an account whose address was never
//! proven (pre-registration hijack). Anyone can register someone else's
//! address and choose its password; until the mailbox owner proves the
//! address, nothing set up on the account is theirs.
//!
//! * A password-less proof (magic link, password reset) of such an account
//!   claims it for the mailbox owner (`claim`): the password, every session,
//!   API key, passkey and two-factor secret made before the proof, and every
//!   outstanding link, are removed; a security event records it, and the
//!   mail that carried the link said so.
//! * Where verification is required (the default), signing up again with a
//!   never-verified address restarts the registration for the new registrant
//!   (`restart`), and a registration left unverified for `UNPROVEN_TTL`
//!   expires and frees the address (`expire`, `sweep`). Where it is not
//!   required, unverified accounts are in use: they keep their address
//!   (sign-up answers 409) and do not expire.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde_json::json;

use super::{session, two_factor, verification};
use crate::audit::{self, ClientInfo, Event};
use crate::clock::iso;
use crate::db::Tx;
use crate::error::Result;
use crate::ids::UserId;
use crate::users::erase;
use crate::users::{store, User};

/// How long a registration may stay unverified (where verification is
/// required) before it is erased and its address is free again.
pub const UNPROVEN_TTL: Duration = Duration::days(7);

/// What a claim removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    pub password: bool,
    pub sessions: usize,
    pub api_keys: usize,
    pub passkeys: usize,
    pub two_factor: bool,
    pub links: usize,
}

/// Claims a never-verified account for the owner of its mailbox, who just
/// proved the address without its password; a verified account is left as
/// it is (`None`). The caller sets the address verified (and, for a reset,
/// the new password) in the same transaction.
pub fn claim(
    tx: &Tx,
    user: &User,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>> {
    if user.email_verified {
        return Ok(None);
    }
    let id = user.id.as_str();
    let at = iso(now);
    let claimed = Claimed {
        password: tx
            .prepare_cached("DELETE FROM password_credentials WHERE user_id = ?1")?
            .execute([id])?
            > 0,
        sessions: session::revoke_all(tx, &UserId::from(id), None)?,
        api_keys: tx
            .prepare_cached(
                "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![id, at])?,
        passkeys: tx
            .prepare_cached("DELETE FROM passkeys WHERE user_id = ?1")?
            .execute([id])?,
        two_factor: {
            let had = two_factor::store::delete_all(tx, id)? || user.two_factor_enabled;
            two_factor::store::set_enabled(tx, id, false, &at)?;
            had
        },
        links: verification::void_all(tx, id)?,
    };
    let meta = json!({
        "passwordRemoved": claimed.password,
        "revokedSessions": claimed.sessions,
        "revokedApiKeys": claimed.api_keys,
        "removedPasskeys": claimed.passkeys,
        "twoFactorRemoved": claimed.two_factor,
        "voidedLinks": claimed.links,
    });
    audit::record(
        tx,
        Some(id),
        Event::UnverifiedAccountClaimed,
        client,
        meta,
        &at,
    )?;
    Ok(Some(claimed))
}

/// Whether a registration has expired: never verified, older than
/// `UNPROVEN_TTL`, and never signed in (an account used while unverified,
/// from a time when verification was not required, is not a stale
/// registration).
fn stale(tx: &Tx, user: &User, now: DateTime<Utc>) -> Result<bool> {
    if user.email_verified || user.kind != "human" || user.created_at > iso(now - UNPROVEN_TTL) {
        return Ok(false);
    }
    let used: Option<i64> = tx
        .prepare_cached(
            "SELECT 1 FROM sessions WHERE user_id = ?1 \
             UNION ALL SELECT 1 FROM security_events WHERE user_id = ?1 AND event_type = 'LOGIN_SUCCESS' \
             LIMIT 1",
        )?
        .query_row([&user.id], |r| r.get(0))
        .optional()?;
    Ok(used.is_none())
}

/// Where verification is required: erases the never-verified account of
/// this address if it has expired, so the address is free; answers the
/// account that remains, if any.
pub fn expire(
    tx: &Tx,
    required: bool,
    found: Option<User>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    match found {
        Some(user) if required && stale(tx, &user, now)? => {
            erase::erase_unproven(tx, &user.id, "unverified_expired", client, now)?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// Where verification is required: a sign-up for an address whose account
/// was never verified erases that registration (the mailbox owner decides
/// by proving the address, not whoever registered first). Answers whether
/// it did; a verified account stays (sign-up then answers 409).
pub fn restart(
    tx: &Tx,
    required: bool,
    email: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<bool> {
    if !required {
        return Ok(false);
    }
    match store::with_password_by_email(tx, email)? {
        Some((user, _)) if !user.email_verified && user.kind == "human" => {
            erase::erase_unproven(tx, &user.id, "unverified_restarted", client, now)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Where verification is required: erases every expired registration
/// (`expire` for all); answers how many.
pub fn sweep(tx: &Tx, required: bool, now: DateTime<Utc>) -> Result<usize> {
    if !required {
        return Ok(0);
    }
    let ids: Vec<String> = tx
        .prepare_cached(
            "SELECT id FROM users WHERE email_verified = 0 AND kind = 'human' AND deleted_at IS NULL \
             AND created_at <= ?1 LIMIT 500",
        )?
        .query_map([iso(now - UNPROVEN_TTL)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut erased = 0;
    let system = ClientInfo::default();
    for id in ids {
        if let Some(user) = store::by_id(tx, &id)? {
            if expire(tx, true, Some(user), &system, now)?.is_none() {
                erased += 1;
            }
        }
    }
    Ok(erased)
}

/// Runs `sweep` every `every` until the task is dropped.
pub async fn sweep_every(db: crate::db::Db, required: bool, every: std::time::Duration) {
    if !required {
        return;
    }
    loop {
        match db.write(move |tx, now| sweep(tx, true, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(erased = n, "expired unverified registrations erased"),
            Err(e) => tracing::warn!(error = %e, "cannot erase expired registrations"),
        }
        tokio::time::sleep(every).await;
    }
}
