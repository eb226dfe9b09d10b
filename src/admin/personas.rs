//! The admin's persona operations: create-or-update and delete (see
//! `personas` for the rules). A persona is saved as sign-up creates a user
//! and deleted with the account erase; both write a security event that
//! names the admin.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::Admin;
use crate::audit::{ClientInfo, Event};
use crate::auth::Services;
use crate::auth::{session, signup};
use crate::clock::iso;
use crate::config::Config;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};
use crate::ids::UserId;
use crate::personas::{check_spec, store, Spec, KIND};
use crate::users::{self, User};

/// What create-or-update did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub ok: bool,
    pub user_id: String,
    pub email: String,
    /// False when an existing persona was updated.
    #[serde(skip)]
    pub created: bool,
}

fn not_a_persona_email() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "Refusing to turn a non-persona user into a persona",
    )
    .with_field(
        "hint",
        json!("Use another email address; personas are separate accounts"),
    )
}

/// Creates the persona (as sign-up creates a user) or updates the one with
/// this email, inside the caller's transaction. `password_hash` (already
/// computed) replaces any password and ends the persona's sessions.
pub fn save(
    tx: &Tx,
    admin: &Admin,
    spec: &Spec,
    password_hash: Option<&str>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Saved> {
    let at = iso(now);
    let existing = users::store::with_password_by_email(tx, &spec.email)?.map(|(u, _)| u);
    let (user, created) = match existing {
        Some(user) if user.kind == KIND => {
            store::stamp(tx, &user.id, &at)?;
            if let Some(hash) = password_hash {
                users::store::set_password(tx, &user.id, hash, &at)?;
                session::revoke_all(tx, &UserId::from(&user.id), None)?;
            }
            (user, false)
        }
        Some(_) => return Err(not_a_persona_email()),
        None => {
            let mut user: User = users::new_user(spec.email.clone(), spec.name.clone(), now);
            user.kind = KIND.into();
            user.access_tier = "founder".into();
            user.email_verified = true;
            let user = signup::insert_user(tx, user, password_hash, client, now)?;
            (user, true)
        }
    };
    store::upsert(tx, &user.id, spec, &at)?;
    let extra = json!({
        "created": created,
        "archetype": spec.archetype,
        "tickCadence": spec.tick_cadence,
        "passwordSet": password_hash.is_some(),
    });
    super::record(
        tx,
        admin,
        Event::AdminPersonaSaved,
        &user,
        extra,
        client,
        now,
    )?;
    Ok(Saved {
        ok: true,
        user_id: user.id,
        email: user.email,
        created,
    })
}

/// `save` with the password hashed first, off the async workers.
pub async fn create_or_update(
    state: &Services,
    admin: Admin,
    body: Option<Value>,
    client: ClientInfo,
) -> Result<Saved> {
    let spec = check_spec(body.as_ref())?;
    let hash = match spec.password.clone() {
        Some(p) => Some(state.hasher.hash(p).await?),
        None => None,
    };
    state
        .db
        .write(move |tx, now| save(tx, &admin, &spec, hash.as_deref(), &client, now))
        .await
}

/// Erases a persona (the account erase, actions and feedback included).
/// Anyone else is refused: their data goes through the users' erase.
pub fn delete(
    tx: &Tx,
    config: &Config,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<PersonaDeleted> {
    let user = users::store::by_id(tx, user_id)?.ok_or_else(|| ApiError::not_found("persona"))?;
    if user.kind != KIND {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "Refusing to delete non-persona user via this endpoint",
        )
        .with_field("hint", json!("Use /api/v1/admin/users/:id/data instead")));
    }
    super::erase_data(tx, config, admin, user_id, client, now)?;
    Ok(PersonaDeleted {
        deleted: user_id.to_owned(),
        ok: true,
    })
}

/// A deleted persona.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonaDeleted {
    /// The persona's user id.
    pub deleted: String,
    pub ok: bool,
}
