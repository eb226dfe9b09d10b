//! Erasing an account on the user's (or an admin's) request: the account
//! deletion notice is queued in the erase transaction, then
//! `users::erase` removes the account and everything it owns.

use chrono::{DateTime, Utc};

use super::require_user;
use crate::audit::ClientInfo;
use crate::config::Config;
use crate::db::Tx;
use crate::email;
use crate::error::Result;
use crate::users::erase::erase_rows;
pub use crate::users::erase::{erase_unproven, Erased, Promotion};
use crate::users::User;

/// Seam for the account-deletion notice (SPEC §8). The mail module replaces
/// this body with a queued outbox row in this same transaction; it must copy
/// what it needs from `user` now, as the user row is about to go. Until mail
/// exists nothing is sent.
/// Removes the user's queued and past mail (it carries their address and
/// links) and queues the deletion notice, addressed but no longer linked to
/// the user. Returns how many outbox rows were removed.
fn queue_deletion_notice(
    tx: &Tx,
    config: &Config,
    user: &User,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<usize> {
    let removed = tx.execute(
        "DELETE FROM mail_outbox WHERE user_id = ?1 OR to_address = ?2",
        rusqlite::params![user.id, user.email],
    )?;
    // A persona's address is a test address nobody reads.
    if user.kind == crate::personas::KIND {
        return Ok(removed);
    }
    let lang = email::lang_for(tx, Some(&user.id), client.accept_language.as_deref())?;
    let mail = email::templates::account_deleted(lang, &config.mail_product_name, &user.name);
    email::enqueue(tx, config, "account_deleted", None, &user.email, mail, now)?;
    Ok(removed)
}

/// Erases the user and everything they own; see the module docs.
pub fn erase(
    tx: &Tx,
    config: &Config,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Erased> {
    let user = require_user(tx, user_id)?;
    // The deletion notice is queued inside the erase transaction: it goes out
    // exactly when the erasure commits.
    let mail_removed = queue_deletion_notice(tx, config, &user, client, now)?;
    erase_rows(tx, &user, client, now, mail_removed, None)
}

/// `DELETE /auth/account`: checks the password (off the async workers, before
/// the write lock), then erases.
pub async fn erase_confirmed(
    state: &crate::auth::Services,
    user_id: String,
    password: String,
    client: ClientInfo,
) -> Result<Erased> {
    let uid = user_id.clone();
    state.db.read(move |c| require_user(c, &uid)).await?;
    crate::auth::reauth::check_password(state, &user_id, password, &client)
        .await
        .map_err(|e| match e.code {
            crate::error::ErrorCode::Validation => crate::error::ApiError::validation(
                "this account has no password; use DELETE /api/v1/me/data",
            ),
            _ => e,
        })?;
    let st = state.clone();
    let erased = state
        .db
        .write(move |tx, now| erase(tx, &st.config, &user_id, &client, now))
        .await?;
    state.mail.wake();
    Ok(erased)
}

/// The Better Auth door's `delete-user`: the step-up rule (a fresh session,
/// or the password when one is sent; `auth::reauth::step_up`), then the
/// same erase.
pub async fn erase_stepped_up(
    state: &crate::auth::Services,
    caller: &crate::auth::caller::Caller,
    password: Option<String>,
    client: ClientInfo,
) -> Result<Erased> {
    crate::auth::reauth::step_up(state, caller, password, &client).await?;
    let user_id = caller.user.id.clone();
    let st = state.clone();
    let erased = state
        .db
        .write(move |tx, now| erase(tx, &st.config, &user_id, &client, now))
        .await?;
    state.mail.wake();
    Ok(erased)
}
