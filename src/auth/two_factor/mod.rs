//! Two-factor authentication with TOTP and backup codes (SPEC §4).
//!
//! * `enable` (password) stores a *pending* secret and 10 backup codes;
//!   2FA is on only once a first valid code confirms it (`verify_signed_in`).
//! * With 2FA on, a right password at `/login` yields a ticket instead of a
//!   session (`issue_ticket`); `finish_login` trades ticket + TOTP or backup
//!   code for a session. Tickets last 5 minutes, are stored hashed and are
//!   consumed by the success; a wrong code leaves the ticket usable, but
//!   every wrong code is a credential failure of the account's email, so 5
//!   lock it (ACCOUNT_LOCKED), and a locked account cannot finish either.
//!   Unknown, used and expired tickets all answer TWO_FACTOR_FAILED (the
//!   client restarts at `/login`); they are not counted, as they name no
//!   account.
//! * Replay: the newest accepted time step is stored; a code of that step or
//!   an earlier one is refused.
//! * Signed in, a TOTP code (`verify_signed_in`) or a backup code
//!   (`verify_backup_signed_in`) can be checked again (step-up); wrong codes
//!   count as failures there too.
//!
//! Domain functions are synchronous over the write transaction; a refusal
//! that must still commit (the failure record) comes back as the inner
//! `Err` of `Result<Verdict<T>>`, so the transaction commits it.

pub mod store;
pub mod totp;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit::{self, ClientInfo, Event};
use crate::auth::reauth::check_password;
use crate::auth::Services;
use crate::auth::{lockout, session, start_session_at, SignedIn};
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Refusal, Result};
use crate::ids::{SessionId, UserId};
use crate::users::{store as users, User};
use crate::vault::Kek;

/// How long a two-factor ticket lasts.
pub const TICKET_TTL: Duration = Duration::minutes(5);

/// A refusal that the surrounding transaction must still commit.
pub type Verdict<T> = std::result::Result<T, ApiError>;

/// What `enable` hands out, once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    #[serde(rename = "totpURI")]
    pub totp_uri: String,
    pub backup_codes: Vec<String>,
}

/// The second factor offered to finish a sign-in.
pub enum Proof {
    /// A 6-digit TOTP code (already parsed).
    Totp(String),
    /// A backup code in canonical form.
    Backup(String),
}

fn failed(message: &str) -> ApiError {
    ApiError::new(ErrorCode::TwoFactorFailed, message)
}

/// The refusals of `finish` that concern the ticket, not the code.
const TICKET_UNKNOWN: &str = "unknown or used ticket; sign in again";
const TICKET_EXPIRED: &str = "ticket expired; sign in again";
const TICKET_NOT_ENABLED: &str = "two-factor authentication is not enabled";

/// Whether a `finish_login` refusal is about the ticket (unknown, used,
/// expired, or 2FA off meanwhile) rather than a wrong code: adapters that
/// carry the ticket in a cookie answer these differently.
pub fn is_ticket_refusal(e: &ApiError) -> bool {
    e.code == ErrorCode::TwoFactorFailed && e.refusal == Some(Refusal::TwoFactorTicket)
}

fn ticket_refused(message: &str) -> ApiError {
    failed(message).with_refusal(Refusal::TwoFactorTicket)
}

fn not_enabled() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "two-factor authentication is not enabled",
    )
}

/// Records a wrong code as a credential failure of the account's email (and
/// its lock, if this one locked it); returns the answer to send.
fn refuse(
    tx: &Tx,
    user: &User,
    client: &ClientInfo,
    now: DateTime<Utc>,
    message: &str,
) -> Result<ApiError> {
    let locked = lockout::record_failure(tx, &user.email, client, now)?;
    let meta = json!({ "reason": "two_factor_failed" });
    audit::record(
        tx,
        Some(&user.id),
        Event::LoginFailure,
        client,
        meta,
        &iso(now),
    )?;
    if let Some(refusal) = locked {
        let empty = json!({});
        audit::record(
            tx,
            Some(&user.id),
            Event::AccountLocked,
            client,
            empty,
            &iso(now),
        )?;
        return Ok(refusal.error());
    }
    Ok(failed(message))
}

/// Checks a TOTP code against the user's secret, refusing replays; on
/// success stores the accepted step and returns whether this confirmed a
/// pending secret.
fn check_totp(
    tx: &Tx,
    user: &User,
    code: &str,
    client: &ClientInfo,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Verdict<bool>> {
    let row = store::secret(tx, &user.id)?.ok_or_else(not_enabled)?;
    let Some(step) = totp::matching_step(&row.reveal(kek)?, code, now)? else {
        return Ok(Err(refuse(tx, user, client, now, "wrong code")?));
    };
    if row.last_step.is_some_and(|last| step <= last) {
        let message = "this code was already used; wait for the next one";
        return Ok(Err(refuse(tx, user, client, now, message)?));
    }
    store::accept_step(tx, &user.id, step, &iso(now))?;
    Ok(Ok(row.confirmed_at.is_none()))
}

/// Stores a pending secret (sealed under `kek` when there is one) and fresh
/// backup codes (hashes); refuses when 2FA is already on.
pub fn begin(
    tx: &Tx,
    user_id: &str,
    secret: &[u8],
    code_hashes: &[String],
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<()> {
    let user = users::by_id(tx, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    if user.two_factor_enabled {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "two-factor authentication is already enabled",
        ));
    }
    store::put_pending_secret(tx, user_id, secret, kek, &iso(now))?;
    store::replace_backup_codes(tx, user_id, code_hashes, &iso(now))
}

/// Turns 2FA on with a secret and backup codes the user already uses (an
/// import from the PostgreSQL service): stored confirmed, as of `since`.
pub fn import_confirmed(
    tx: &Tx,
    user_id: &str,
    secret: &[u8],
    code_hashes: &[String],
    kek: Option<&Kek>,
    since: &str,
) -> Result<()> {
    store::put_pending_secret(tx, user_id, secret, kek, since)?;
    store::confirm(tx, user_id, since)?;
    store::replace_backup_codes(tx, user_id, code_hashes, since)?;
    store::set_enabled(tx, user_id, true, since)
}

/// A signed-in user's TOTP code: confirms a pending secret (turning 2FA on
/// and ending every other session of the user, which signed in with one
/// factor) or, with 2FA on, checks the code (step-up). Returns whether 2FA
/// was turned on by this call.
pub fn verify_signed_in(
    tx: &Tx,
    user_id: &str,
    current_session: &str,
    code: &str,
    client: &ClientInfo,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Verdict<bool>> {
    let user = users::by_id(tx, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    if let Some(refusal) = lockout::check(tx, &user.email, client, now)? {
        return Err(refusal.error());
    }
    let confirmed = match check_totp(tx, &user, code, client, kek, now)? {
        Ok(confirmed) => confirmed,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if confirmed {
        store::set_enabled(tx, user_id, true, &iso(now))?;
        let revoked = session::revoke_all(
            tx,
            &UserId::from(user_id),
            Some(&SessionId::from(current_session)),
        )?;
        let meta = json!({ "method": "totp", "revokedSessions": revoked });
        audit::record(
            tx,
            Some(user_id),
            Event::TwoFactorEnabled,
            client,
            meta,
            &iso(now),
        )?;
    }
    Ok(Ok(confirmed))
}

/// A signed-in user's backup code (step-up): with 2FA on, consumes the code;
/// a wrong or used one counts as a credential failure, like a wrong TOTP
/// code.
pub fn verify_backup_signed_in(
    tx: &Tx,
    user_id: &str,
    code: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Verdict<()>> {
    let user = users::by_id(tx, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    if !user.two_factor_enabled {
        return Err(not_enabled());
    }
    if let Some(refusal) = lockout::check(tx, &user.email, client, now)? {
        return Err(refusal.error());
    }
    let hash = totp::hash_backup_code(&user.id, code);
    if !store::use_backup_code(tx, &user.id, &hash, &iso(now))? {
        let message = "wrong or already used backup code";
        return Ok(Err(refuse(tx, &user, client, now, message)?));
    }
    Ok(Ok(()))
}

/// Stores a new ticket for a user whose password was right; returns it.
pub fn issue_ticket_tx(tx: &Tx, user_id: &str, now: DateTime<Utc>) -> Result<String> {
    let ticket = session::new_token();
    store::insert_ticket(tx, &ticket, user_id, now, now + TICKET_TTL)?;
    Ok(ticket)
}

/// Checks ticket and proof; on success consumes the ticket (and the backup
/// code, or the TOTP step) and returns the user to open a session for.
pub fn finish(
    tx: &Tx,
    ticket: &str,
    proof: &Proof,
    client: &ClientInfo,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Verdict<User>> {
    let Some((user_id, expires_at)) = store::ticket(tx, ticket)? else {
        return Ok(Err(ticket_refused(TICKET_UNKNOWN)));
    };
    if parse_iso(&expires_at).is_none_or(|t| t <= now) {
        store::delete_ticket(tx, ticket)?;
        return Ok(Err(ticket_refused(TICKET_EXPIRED)));
    }
    let user = match users::by_id(tx, &user_id)? {
        Some(user) if user.two_factor_enabled => user,
        _ => return Ok(Err(ticket_refused(TICKET_NOT_ENABLED))),
    };
    if let Some(refusal) = lockout::check(tx, &user.email, client, now)? {
        return Ok(Err(refusal.error()));
    }
    match proof {
        Proof::Totp(code) => {
            if let Err(refusal) = check_totp(tx, &user, code, client, kek, now)? {
                return Ok(Err(refusal));
            }
        }
        Proof::Backup(code) => {
            let hash = totp::hash_backup_code(&user.id, code);
            if !store::use_backup_code(tx, &user.id, &hash, &iso(now))? {
                let message = "wrong or already used backup code";
                return Ok(Err(refuse(tx, &user, client, now, message)?));
            }
        }
    }
    store::delete_ticket(tx, ticket)?;
    Ok(Ok(user))
}

/// Turns 2FA off and deletes secret, codes and tickets.
pub fn disable_tx(tx: &Tx, user_id: &str, client: &ClientInfo, now: DateTime<Utc>) -> Result<()> {
    let user = users::by_id(tx, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    let had_secret = store::delete_all(tx, user_id)?;
    if !had_secret && !user.two_factor_enabled {
        return Err(not_enabled());
    }
    if user.two_factor_enabled {
        store::set_enabled(tx, user_id, false, &iso(now))?;
        audit::record(
            tx,
            Some(user_id),
            Event::TwoFactorDisabled,
            client,
            json!({}),
            &iso(now),
        )?;
    }
    Ok(())
}

/// What the data export shows of 2FA: state and counts, never the secret
/// or a code hash.
pub fn export(conn: &Connection, user_id: &str) -> Result<Value> {
    let row = store::secret(conn, user_id)?;
    let (unused, used) = store::backup_code_counts(conn, user_id)?;
    Ok(json!({
        "enabled": row.as_ref().is_some_and(|r| r.confirmed_at.is_some()),
        "pending": row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
        "createdAt": row.as_ref().map(|r| r.created_at.clone()),
        "confirmedAt": row.and_then(|r| r.confirmed_at),
        "backupCodesRemaining": unused,
        "backupCodesUsed": used,
    }))
}

// ---- flows: password checks off the async workers, then one transaction ----

fn hash_codes(user_id: &str, codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .map(|c| totp::hash_backup_code(user_id, &c.replace('-', "")))
        .collect()
}

/// `POST /two-factor/enable`: a pending secret, its URI and backup codes.
pub async fn enable(
    state: &Services,
    user_id: String,
    password: String,
    client: &ClientInfo,
) -> Result<Enrollment> {
    enable_with_issuer(state, user_id, password, None, client).await
}

/// Longest issuer label a caller may choose for the otpauth URI.
pub const MAX_ISSUER: usize = 64;

/// The issuer label of the otpauth URI: the caller's, if it is a sensible
/// label, else the product name.
fn issuer_label(state: &Services, issuer: Option<&str>) -> Result<String> {
    match issuer.map(str::trim) {
        None => Ok(state.config.mail_product_name.clone()),
        Some(i)
            if !i.is_empty()
                && i.chars().count() <= MAX_ISSUER
                && !i.chars().any(char::is_control) =>
        {
            Ok(i.to_owned())
        }
        Some(_) => Err(ApiError::validation(format!(
            "issuer must be 1..{MAX_ISSUER} characters"
        ))),
    }
}

/// `enable` with the issuer label of the otpauth URI chosen by the caller
/// (the product name when None).
pub async fn enable_with_issuer(
    state: &Services,
    user_id: String,
    password: String,
    issuer: Option<&str>,
    client: &ClientInfo,
) -> Result<Enrollment> {
    let issuer = issuer_label(state, issuer)?;
    let uid = user_id.clone();
    let user = state
        .db
        .read(move |c| users::by_id(c, &uid))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if user.two_factor_enabled {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "two-factor authentication is already enabled",
        ));
    }
    // The password in the request is also the step-up of enabling 2FA.
    check_password(state, &user_id, password, client).await?;
    let secret = totp::new_secret();
    let codes = totp::new_backup_codes();
    let hashes = hash_codes(&user_id, &codes);
    let totp_uri = totp::otpauth_uri(&issuer, &user.email, &secret);
    let kek = Kek::from_config(&state.config);
    state
        .db
        .write(move |tx, now| begin(tx, &user_id, &secret, &hashes, kek.as_ref(), now))
        .await?;
    Ok(Enrollment {
        totp_uri,
        backup_codes: codes,
    })
}

/// `POST /two-factor/verify-totp` in `session`: confirm or step-up.
pub async fn verify_totp_signed_in(
    state: &Services,
    session: &session::Session,
    code: String,
    client: ClientInfo,
) -> Result<bool> {
    let code = totp::parse_code(&code)?;
    let kek = Kek::from_config(&state.config);
    let (user_id, sid) = (session.user_id.clone(), session.id.clone());
    state
        .db
        .write(move |tx, now| {
            verify_signed_in(tx, &user_id, &sid, &code, &client, kek.as_ref(), now)
        })
        .await?
}

/// A signed-in user's backup code (step-up), consumed.
pub async fn verify_backup_code_signed_in(
    state: &Services,
    user_id: String,
    code: String,
    client: ClientInfo,
) -> Result<()> {
    let code = totp::parse_backup_code(&code)?;
    state
        .db
        .write(move |tx, now| verify_backup_signed_in(tx, &user_id, &code, &client, now))
        .await?
}

/// The otpauth URI of the stored secret (pending or confirmed), after the
/// password; 409 when there is no secret.
pub async fn totp_uri(
    state: &Services,
    user_id: String,
    password: String,
    client: &ClientInfo,
) -> Result<String> {
    check_password(state, &user_id, password, client).await?;
    let (user, row) = state
        .db
        .read(move |c| Ok((users::by_id(c, &user_id)?, store::secret(c, &user_id)?)))
        .await?;
    let user = user.ok_or_else(|| ApiError::not_found("user"))?;
    let row = row.ok_or_else(not_enabled)?;
    Ok(totp::otpauth_uri(
        &state.config.mail_product_name,
        &user.email,
        &row.reveal(Kek::from_config(&state.config).as_ref())?,
    ))
}

/// A ticket for a user whose password was right (called by `auth::login`).
pub async fn issue_ticket(state: &Services, user_id: String) -> Result<String> {
    state
        .db
        .write(move |tx, now| issue_ticket_tx(tx, &user_id, now))
        .await
}

/// `verify-totp` / `verify-backup-code` with a ticket: the session.
pub async fn finish_login(
    state: &Services,
    ticket: String,
    proof: Proof,
    client: ClientInfo,
) -> Result<SignedIn> {
    let c = client.clone();
    let kek = Kek::from_config(&state.config);
    // The epoch is read where the ticket is used: a reset, change or lock
    // committing before the session opens ends this sign-in too.
    let (verdict, epoch) = state
        .db
        .write(move |tx, now| {
            let verdict = finish(tx, &ticket, &proof, &c, kek.as_ref(), now)?;
            let epoch = match &verdict {
                Ok(user) => session::credential_epoch(tx, &user.id)?,
                Err(_) => None,
            };
            Ok((verdict, epoch))
        })
        .await?;
    let user = verdict?;
    let epoch = epoch.ok_or_else(|| failed(TICKET_UNKNOWN))?;
    let email = user.email.clone();
    start_session_at(state, user, client, Some(email), epoch).await
}

/// `POST /two-factor/generate-backup-codes`: new codes, old ones void.
pub async fn regenerate_backup_codes(
    state: &Services,
    user_id: String,
    password: String,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    check_password(state, &user_id, password, client).await?;
    let codes = totp::new_backup_codes();
    let hashes = hash_codes(&user_id, &codes);
    state
        .db
        .write(move |tx, now| {
            let enabled = users::by_id(tx, &user_id)?.is_some_and(|u| u.two_factor_enabled);
            if !enabled {
                return Err(not_enabled());
            }
            store::replace_backup_codes(tx, &user_id, &hashes, &iso(now))
        })
        .await?;
    Ok(codes)
}

/// `POST /two-factor/disable`.
pub async fn disable(
    state: &Services,
    user_id: String,
    password: String,
    client: ClientInfo,
) -> Result<()> {
    check_password(state, &user_id, password, &client).await?;
    state
        .db
        .write(move |tx, now| disable_tx(tx, &user_id, &client, now))
        .await
}
