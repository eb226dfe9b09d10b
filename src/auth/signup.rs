//! The write half of creating an account, shared by `POST /register`, the
//! `admin create` CLI and the admin's personas: the user, their password, the personal space with its
//! owner membership and `kontextDoc`, the `userContext` row and the REGISTER
//! event, all inside the caller's transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{self, ClientInfo, Event};
use crate::clock::iso;
use crate::db::Tx;
use crate::error::Result;
use crate::users::{self, store, User};
use crate::{spaces, sync};

/// Inserts a new account with an already computed password hash.
pub fn insert_account(
    tx: &Tx,
    email: String,
    name: String,
    password_hash: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<User> {
    let user = users::new_user(email, name, now);
    insert_user(tx, user, Some(password_hash), client, now)
}

/// Inserts a prepared user record (a persona, say) exactly as sign-up does,
/// with a password only when `password_hash` is given.
pub fn insert_user(
    tx: &Tx,
    user: User,
    password_hash: Option<&str>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<User> {
    store::insert(tx, &user)?;
    if let Some(hash) = password_hash {
        store::set_password(tx, &user.id, hash, &iso(now))?;
    }
    // The personal space, its owner membership, its kontextDoc and the
    // userContext row: same transaction, all or nothing.
    spaces::create_personal(tx, &user, now)?;
    sync::bootstrap_user_context(tx, &user.id, now)?;
    audit::record(
        tx,
        Some(&user.id),
        Event::Register,
        client,
        json!({}),
        &iso(now),
    )?;
    Ok(user)
}
