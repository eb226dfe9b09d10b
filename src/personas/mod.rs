//! Personas: real accounts (`kind = 'persona'`) that the persona runner (a
//! separate program) signs in as and drives, to exercise the Mana apps like
//! a person would. A persona is made exactly as sign-up makes a user (the
//! personal space, its owner membership and the bootstrap sync rows, in one
//! transaction), is verified and on the founder tier, and carries a
//! descriptor: archetype, system prompt, module mix and tick cadence.
//!
//! Rules:
//! * Only an admin creates, updates, lists and deletes personas. Creating
//!   is create-or-update by email; an email that belongs to a human is
//!   refused (an admin typo must not turn a person into a test account).
//! * A persona has no password unless the admin sets one, and no mailed
//!   link (reset, magic link, verification) is ever issued for it.
//! * Personas are not people: they count in no human statistic and not
//!   against the daily sign-up limit.
//! * The runner (with `X-Service-Key`) asks which personas are due
//!   (`due`), and appends their tool calls (`record_actions`) and 1–5
//!   ratings per module (`record_feedback`); both are idempotent per
//!   natural key and mark the persona active.
//! * Deleting a persona is the account erase, with its actions and
//!   feedback; only personas can be deleted this way.

pub mod feed;
pub mod spec;
pub mod store;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Value};

use crate::admin::{self, Admin};
use crate::audit::{ClientInfo, Event};
use crate::auth::{session, signup};
use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};
use crate::state::AppState;
use crate::users::{self, User};

pub use feed::{record_actions, record_feedback};
pub use spec::{check_spec, Spec};

/// The kind of user a persona is.
pub const KIND: &str = "persona";
/// How often the runner gives a persona a turn.
pub const CADENCES: &[&str] = &["daily", "weekdays", "hourly"];

/// What create-or-update did.
#[derive(Debug, Serialize)]
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
    tx: &Connection,
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
                session::revoke_all(tx, &user.id, None)?;
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
    admin::record(
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
    state: &AppState,
    admin: Admin,
    body: Option<Value>,
    client: ClientInfo,
) -> Result<Saved> {
    let spec = check_spec(body.as_ref())?;
    let hash = match spec.password.clone() {
        Some(p) => Some(state.hasher.hash(p).await?),
        None => None,
    };
    let clock = state.clock.clone();
    state
        .db
        .write(move |tx| save(tx, &admin, &spec, hash.as_deref(), &client, clock.now()))
        .await
}

/// The admin list: every persona with its actions of the last 7 days.
pub fn list(conn: &Connection, now: DateTime<Utc>) -> Result<Value> {
    let since = iso(now - Duration::days(7));
    Ok(json!({ "personas": store::list(conn, &since)? }))
}

fn not_found() -> ApiError {
    ApiError::not_found("persona")
}

/// One persona with its 20 latest actions and feedback, and the average
/// rating per module.
pub fn detail(conn: &Connection, persona_id: &str) -> Result<Value> {
    let persona = store::get(conn, persona_id)?.ok_or_else(not_found)?;
    Ok(json!({
        "persona": persona,
        "recentActions": store::recent_actions(conn, persona_id, 20)?,
        "feedbackByModule": store::feedback_by_module(conn, persona_id)?,
        "recentFeedback": store::recent_feedback(conn, persona_id, 20)?,
    }))
}

/// Erases a persona (the account erase, actions and feedback included).
/// Anyone else is refused: their data goes through the users' erase.
pub fn delete(
    tx: &Connection,
    config: &crate::config::Config,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Value> {
    let user = users::store::by_id(tx, user_id)?.ok_or_else(not_found)?;
    if user.kind != KIND {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "Refusing to delete non-persona user via this endpoint",
        )
        .with_field("hint", json!("Use /api/v1/admin/users/:id/data instead")));
    }
    admin::erase_data(tx, config, admin, user_id, client, now)?;
    Ok(json!({ "ok": true, "deleted": user_id }))
}

/// Whether a persona with this cadence, last active at `last`, is due at
/// `now` (UTC): hourly after an hour, daily after a day, weekdays after a
/// day on Monday to Friday; never active means due.
pub fn is_due(cadence: &str, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let stale = |gap: Duration| last.is_none_or(|t| t <= now - gap);
    match cadence {
        "hourly" => stale(Duration::hours(1)),
        "daily" => stale(Duration::days(1)),
        "weekdays" => {
            !matches!(now.weekday(), Weekday::Sat | Weekday::Sun) && stale(Duration::days(1))
        }
        _ => false,
    }
}

/// The personas the runner should act for now: not deleted, not locked,
/// due by their cadence; never-active first, then the longest idle.
pub fn due(conn: &Connection, now: DateTime<Utc>) -> Result<Value> {
    let personas: Vec<Value> = store::candidates(conn)?
        .into_iter()
        .filter(|c| is_due(&c.tick_cadence, c.last_active, now))
        .map(|c| c.wire)
        .collect();
    Ok(json!({ "personas": personas, "serverTime": iso(now) }))
}

/// The persona part of a user's data export (`None` for everyone else).
pub fn export(conn: &Connection, user_id: &str) -> Result<Option<Value>> {
    let Some(persona) = store::get(conn, user_id)? else {
        return Ok(None);
    };
    Ok(Some(json!({
        "descriptor": persona,
        "actions": store::recent_actions(conn, user_id, u32::MAX)?,
        "feedback": store::recent_feedback(conn, user_id, u32::MAX)?,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        // 2026-11-02 is a Monday.
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn cadences_follow_the_original_rules() {
        let mon = at(2, 12);
        assert!(is_due("hourly", None, mon));
        assert!(is_due("hourly", Some(mon - Duration::hours(1)), mon));
        assert!(!is_due("hourly", Some(mon - Duration::minutes(59)), mon));
        assert!(is_due("daily", Some(mon - Duration::hours(24)), mon));
        assert!(!is_due("daily", Some(mon - Duration::hours(23)), mon));
        assert!(is_due("weekdays", Some(mon - Duration::days(2)), mon));
        let sat = at(7, 12);
        assert!(!is_due("weekdays", None, sat));
        assert!(!is_due(
            "weekdays",
            Some(sat - Duration::days(3)),
            at(8, 12)
        ));
        assert!(is_due("daily", None, sat));
        assert!(!is_due("monthly", None, mon));
    }
}
