//! The mailed account flows: email verification, password reset, magic
//! link, email change. Each writes its token and its outbox row in one
//! transaction and then wakes the mail worker. Flows that take an email
//! address answer the same whether or not an account exists, and do one
//! write either way so the timing does not tell.

use serde_json::json;

use super::verification::{self, Purpose};
use super::{lockout, proof, session, SignedIn};
use crate::audit::{self, ClientInfo, Event};
use crate::auth::Services;
use crate::clock::iso;
use crate::db::Tx;
use crate::email::{self, templates, with_param, Lang};
use crate::error::{ApiError, ErrorCode, Result};
use crate::ids::UserId;
use crate::users::{self, store, User};

/// Link that verifies an address (sign-up or email change).
fn verify_link(state: &Services, token: &str, callback: Option<&str>) -> String {
    let url = with_param(
        &format!("{}/api/v1/auth/verify-email", state.config.base_url()),
        "token",
        token,
    );
    match callback {
        Some(cb) => with_param(&url, "callbackURL", cb),
        None => url,
    }
}

fn lang(tx: &rusqlite::Connection, user: &User, client: &ClientInfo) -> Result<Lang> {
    email::lang_for(tx, Some(&user.id), client.accept_language.as_deref())
}

/// Queues the verification mail for `user` in the caller's transaction
/// (nothing when the address's hourly mail cap is reached).
pub fn queue_verification(
    tx: &Tx,
    state: &Services,
    user: &User,
    callback: Option<&str>,
    client: &ClientInfo,
) -> Result<()> {
    let now = state.clock.now();
    if !email::take_quota(tx, &user.email, now)? {
        return Ok(());
    }
    let token = verification::issue(
        tx,
        Purpose::EmailVerify,
        &user.id,
        &user.email,
        callback,
        now,
    )?;
    let link = verify_link(state, &token, callback);
    let mail = templates::verification(
        lang(tx, user, client)?,
        &state.config.mail_product_name,
        &user.name,
        &link,
    );
    email::enqueue(
        tx,
        &state.config,
        "verification",
        Some(&user.id),
        &user.email,
        mail,
        now,
    )?;
    Ok(())
}

/// Validates an optional callback URL against the allowed origins.
pub fn check_callback(state: &Services, url: Option<&str>) -> Result<Option<String>> {
    url.filter(|u| !u.trim().is_empty())
        .map(|u| email::allowed_redirect(&state.config, u))
        .transpose()
}

/// Sends a new verification mail if the account exists and is unverified.
pub async fn resend_verification(
    state: &Services,
    email_addr: &str,
    callback: Option<String>,
    client: ClientInfo,
) -> Result<()> {
    let Ok(email_addr) = users::normalize_email(email_addr) else {
        return Ok(());
    };
    let callback = check_callback(state, callback.as_deref())?;
    let st = state.clone();
    state
        .db
        .write(move |tx, now| {
            let found = store::with_password_by_email(tx, &email_addr)?.map(|(u, _)| u);
            let required = st.config.require_email_verification;
            match proof::expire(tx, required, found, &client, now)? {
                Some(user) if !user.email_verified => {
                    queue_verification(tx, &st, &user, callback.as_deref(), &client)
                }
                // Same work either way: nothing to send.
                _ => Ok(()),
            }
        })
        .await?;
    state.mail.wake();
    Ok(())
}

/// Outcome of a verification link.
pub struct Verified {
    pub user: User,
    pub callback: Option<String>,
}

/// Consumes a verification or email-change token.
pub async fn verify_email(state: &Services, token: String, client: ClientInfo) -> Result<Verified> {
    state
        .db
        .write(move |tx, now| {
            let t = verification::consume(
                tx,
                &token,
                &[Purpose::EmailVerify, Purpose::EmailChange],
                now,
            )?;
            let before = store::by_id(tx, &t.user_id)?.ok_or_else(|| {
                ApiError::new(ErrorCode::TokenInvalid, "account no longer exists")
            })?;
            let mut meta = json!({});
            if t.purpose == Purpose::EmailChange {
                store::set_email(tx, &t.user_id, &t.email, &iso(now))?;
                // Links mailed to the old address (reset, magic link, …) die.
                let voided = verification::void_all(tx, &t.user_id)?;
                meta = json!({ "changedFrom": before.email, "changedTo": t.email, "voidedLinks": voided });
            } else if !before.email.eq_ignore_ascii_case(&t.email) {
                return Err(ApiError::new(
                    ErrorCode::TokenInvalid,
                    "this link is for a previous address",
                ));
            }
            store::set_verified(tx, &t.user_id, &iso(now))?;
            audit::record(
                tx,
                Some(&t.user_id),
                Event::EmailVerified,
                &client,
                meta,
                &iso(now),
            )?;
            let user =
                store::by_id(tx, &t.user_id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
            Ok(Verified {
                user,
                callback: t.callback_url,
            })
        })
        .await
}

/// The shared write of the flows that take an address (password reset,
/// magic link): one transaction either way, so timing does not tell whether
/// the account exists. It records `event`, and for an existing account issues
/// a `purpose` token and queues the mail `render` makes from (user, token,
/// language).
async fn mail_if_known<F>(
    state: &Services,
    email_addr: &str,
    event: Event,
    purpose: Purpose,
    callback: Option<String>,
    client: ClientInfo,
    render: F,
) -> Result<()>
where
    F: FnOnce(&Services, &User, &str, Lang) -> (&'static str, templates::Rendered) + Send + 'static,
{
    let Ok(email_addr) = users::normalize_email(email_addr) else {
        return Ok(());
    };
    let st = state.clone();
    state
        .db
        .write(move |tx, now| {
            let found = store::with_password_by_email(tx, &email_addr)?.map(|(u, _)| u);
            let required = st.config.require_email_verification;
            let found = proof::expire(tx, required, found, &client, now)?;
            let meta = json!({ "known": found.is_some() });
            audit::record(
                tx,
                found.as_ref().map(|u| u.id.as_str()),
                event,
                &client,
                meta,
                &iso(now),
            )?;
            // Only the admin sets a persona's credentials: no link is
            // mailed for one (the answer is the same as for anyone); and
            // none beyond the address's hourly mail cap.
            let found = match found {
                Some(u)
                    if u.kind != crate::users::PERSONA_KIND
                        && email::take_quota(tx, &u.email, now)? =>
                {
                    Some(u)
                }
                _ => None,
            };
            if let Some(user) = found {
                let token = verification::issue(
                    tx,
                    purpose,
                    &user.id,
                    &user.email,
                    callback.as_deref(),
                    now,
                )?;
                let (kind, mail) = render(&st, &user, &token, lang(tx, &user, &client)?);
                email::enqueue(tx, &st.config, kind, Some(&user.id), &user.email, mail, now)?;
            }
            Ok(())
        })
        .await?;
    state.mail.wake();
    Ok(())
}

/// Mails a 1-hour reset link if the account exists; always succeeds.
pub async fn forgot_password(
    state: &Services,
    email_addr: &str,
    redirect_to: Option<String>,
    client: ClientInfo,
) -> Result<()> {
    let redirect = check_callback(state, redirect_to.as_deref())?;
    let target = redirect.clone();
    mail_if_known(
        state,
        email_addr,
        Event::PasswordResetRequested,
        Purpose::PasswordReset,
        redirect,
        client,
        move |st, user, token, lang| {
            let base = target.unwrap_or_else(|| format!("{}/reset-password", st.config.app_url()));
            let link = with_param(&base, "token", token);
            (
                "password_reset",
                templates::password_reset(
                    lang,
                    &st.config.mail_product_name,
                    &user.name,
                    &link,
                    !user.email_verified,
                ),
            )
        },
    )
    .await
}

/// Sets a new password with a reset token; revokes every session.
pub async fn reset_password(
    state: &Services,
    token: String,
    new_password: String,
    client: ClientInfo,
) -> Result<()> {
    super::password::check_strength(&new_password)?;
    // The token first: a dead link costs no hashing.
    let (secret, clock) = (token.clone(), state.clock.clone());
    state
        .db
        .read(move |c| verification::check(c, &secret, &[Purpose::PasswordReset], clock.now()))
        .await?;
    let hash = state.hasher.hash_anonymous(new_password).await?;
    state
        .db
        .write(move |tx, now| {
            let t = verification::consume(tx, &token, &[Purpose::PasswordReset], now)?;
            let user = mailbox_owner(tx, &t)?;
            // The mailbox owner proved control of the address: a
            // never-verified account becomes theirs alone.
            proof::claim(tx, &user, &client, now)?;
            store::set_password(tx, &t.user_id, &hash, &iso(now))?;
            store::set_verified(tx, &t.user_id, &iso(now))?;
            let revoked = session::revoke_all(tx, &UserId::from(&t.user_id), None)?;
            lockout::clear(tx, &t.email)?;
            let meta = json!({ "revokedSessions": revoked });
            audit::record(
                tx,
                Some(&t.user_id),
                Event::PasswordResetCompleted,
                &client,
                meta,
                &iso(now),
            )
        })
        .await
}

/// The account a reset or magic-link token was mailed for, if the token was
/// mailed to its current address (a link sent to an address the account no
/// longer has is TOKEN_INVALID).
fn mailbox_owner(tx: &rusqlite::Connection, t: &verification::Token) -> Result<User> {
    let user = store::by_id(tx, &t.user_id)?
        .ok_or_else(|| ApiError::new(ErrorCode::TokenInvalid, "account no longer exists"))?;
    if !user.email.eq_ignore_ascii_case(&t.email) {
        return Err(ApiError::new(
            ErrorCode::TokenInvalid,
            "this link was sent to an address the account no longer has",
        ));
    }
    Ok(user)
}

/// Mails a confirmation link to a new address; behind the step-up rule
/// (`reauth::step_up`: a fresh session or the password).
pub async fn change_email(
    state: &Services,
    caller: &super::caller::Caller,
    new_email: &str,
    callback: Option<String>,
    password: Option<String>,
    client: ClientInfo,
) -> Result<()> {
    let new_email = users::normalize_email(new_email)?;
    let callback = check_callback(state, callback.as_deref())?;
    super::reauth::step_up(state, caller, password, &client).await?;
    let user_id = caller.user.id.clone();
    let st = state.clone();
    state
        .db
        .write(move |tx, now| {
            let user = store::by_id(tx, &user_id)?.ok_or_else(ApiError::unauthorized)?;
            if user.email.eq_ignore_ascii_case(&new_email) {
                return Err(ApiError::validation("this is already your email address"));
            }
            if store::with_password_by_email(tx, &new_email)?.is_some() {
                return Err(ApiError::new(
                    ErrorCode::EmailAlreadyRegistered,
                    "this email is already registered",
                ));
            }
            let meta = json!({ "newEmail": new_email });
            audit::record(
                tx,
                Some(&user.id),
                Event::EmailChangeRequested,
                &client,
                meta,
                &iso(now),
            )?;
            if !email::take_quota(tx, &new_email, now)? {
                return Ok(());
            }
            let token = verification::issue(
                tx,
                Purpose::EmailChange,
                &user.id,
                &new_email,
                callback.as_deref(),
                now,
            )?;
            let link = verify_link(&st, &token, callback.as_deref());
            let mail = templates::email_change(
                lang(tx, &user, &client)?,
                &st.config.mail_product_name,
                &user.name,
                &new_email,
                &link,
            );
            email::enqueue(
                tx,
                &st.config,
                "email_change",
                Some(&user.id),
                &new_email,
                mail,
                now,
            )?;
            Ok(())
        })
        .await?;
    state.mail.wake();
    Ok(())
}

/// Mails a 10-minute sign-in link if the account exists; always succeeds.
pub async fn send_magic_link(
    state: &Services,
    email_addr: &str,
    callback: Option<String>,
    client: ClientInfo,
) -> Result<()> {
    let callback = check_callback(state, callback.as_deref())?;
    let params = callback
        .iter()
        .map(|cb| ("callbackURL", cb.clone()))
        .collect();
    send_magic_link_via(
        state,
        email_addr,
        callback,
        "/api/v1/auth/magic-link/verify",
        params,
        client,
    )
    .await
}

/// `send_magic_link` with the link pointing at `verify_path` (a route of
/// this server that verifies it) with `params` after the token; `callback`
/// (already checked) is stored with the token.
pub async fn send_magic_link_via(
    state: &Services,
    email_addr: &str,
    callback: Option<String>,
    verify_path: &'static str,
    params: Vec<(&'static str, String)>,
    client: ClientInfo,
) -> Result<()> {
    mail_if_known(
        state,
        email_addr,
        Event::MagicLinkRequested,
        Purpose::MagicLink,
        callback,
        client,
        move |st, user, token, lang| {
            let mut link = with_param(
                &format!("{}{verify_path}", st.config.base_url()),
                "token",
                token,
            );
            for (key, value) in &params {
                link = with_param(&link, key, value);
            }
            (
                "magic_link",
                templates::magic_link(
                    lang,
                    &st.config.mail_product_name,
                    &user.name,
                    &link,
                    !user.email_verified,
                ),
            )
        },
    )
    .await
}

/// Consumes a magic link and signs the user in.
pub async fn verify_magic_link(
    state: &Services,
    token: String,
    client: ClientInfo,
) -> Result<(SignedIn, Option<String>)> {
    let proving = client.clone();
    let (user, callback, epoch) = state
        .db
        .write(move |tx, now| {
            let client = proving;
            let t = verification::consume(tx, &token, &[Purpose::MagicLink], now)?;
            let before = mailbox_owner(tx, &t)?;
            // Proving the address without the password: a never-verified
            // account becomes the mailbox owner's alone.
            proof::claim(tx, &before, &client, now)?;
            store::set_verified(tx, &t.user_id, &iso(now))?;
            let user =
                store::by_id(tx, &t.user_id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
            let epoch = session::credential_epoch(tx, &t.user_id)?
                .ok_or_else(|| ApiError::internal("user vanished"))?;
            Ok((user, t.callback_url, epoch))
        })
        .await?;
    // A mailbox is one factor: an account with 2FA on still needs its code.
    if user.two_factor_enabled {
        let required = super::second_factor_required(state, &user, None, Some(epoch)).await?;
        return Err(required.with_field("callbackURL", serde_json::json!(callback)));
    }
    let email_addr = user.email.clone();
    let signed = super::start_session_at(state, user, client, Some(email_addr), epoch).await?;
    Ok((signed, callback))
}
