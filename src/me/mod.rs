//! Self-service for the signed-in user: profile, onboarding, the data
//! summary and export (`data`), and erasing the account (`erase`).

pub mod data;
pub mod erase;
pub mod export;
pub mod projects;
pub mod store;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, ClientInfo, Event};
use crate::clock::iso;
use crate::db::Tx;
use crate::error::{ApiError, Result};
use crate::users::{self, User};

pub use crate::users::require_user;

/// Changes to the profile; absent fields stay, `image: null` removes it.
pub struct ProfilePatch {
    pub name: Option<String>,
    pub image: Option<Option<String>>,
}

/// Updates name (1..80 characters) and image (http(s) URL); a patch that
/// changes neither is refused.
pub fn update_profile(
    tx: &Tx,
    user_id: &str,
    patch: ProfilePatch,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<User> {
    if patch.name.is_none() && patch.image.is_none() {
        return Err(ApiError::validation("no fields to update"));
    }
    let name = patch.name.as_deref().map(users::check_name).transpose()?;
    if name.as_deref() == Some("") {
        return Err(ApiError::validation("name must be 1..80 characters"));
    }
    let image = match patch.image {
        Some(Some(url)) => Some(Some(users::check_image(&url)?)),
        other => other,
    };
    let current = require_user(tx, user_id)?;
    let name = name.unwrap_or(current.name);
    let image = image.unwrap_or(current.image);
    let at = iso(now);
    users::store::update_profile(tx, user_id, &name, image.as_deref(), &at)?;
    audit::record(
        tx,
        Some(user_id),
        Event::ProfileUpdated,
        client,
        json!({}),
        &at,
    )?;
    require_user(tx, user_id)
}

/// Onboarding state as sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Onboarding {
    pub completed_at: Option<String>,
}

/// The onboarding state.
pub fn onboarding(conn: &Connection, user_id: &str) -> Result<Onboarding> {
    Ok(Onboarding {
        completed_at: require_user(conn, user_id)?.onboarding_completed_at,
    })
}

/// Marks onboarding complete; a second call keeps the first timestamp.
pub fn complete_onboarding(tx: &Tx, user_id: &str, now: DateTime<Utc>) -> Result<Onboarding> {
    require_user(tx, user_id)?;
    store::complete_onboarding(tx, user_id, &iso(now))?;
    onboarding(tx, user_id)
}

/// Clears the onboarding timestamp.
pub fn reset_onboarding(tx: &Tx, user_id: &str, now: DateTime<Utc>) -> Result<Onboarding> {
    require_user(tx, user_id)?;
    store::reset_onboarding(tx, user_id, &iso(now))?;
    onboarding(tx, user_id)
}
