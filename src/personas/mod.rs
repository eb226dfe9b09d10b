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
//!
//! The admin's create-or-update and delete live in `admin::personas`.

pub mod feed;
pub mod spec;
pub mod store;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::clock::iso;
use crate::error::{ApiError, Result};

pub use feed::{record_actions, record_feedback};
pub use spec::{check_spec, Spec};

/// The kind of user a persona is.
pub use crate::users::PERSONA_KIND as KIND;
/// How often the runner gives a persona a turn.
pub const CADENCES: &[&str] = &["daily", "weekdays", "hourly"];

/// The admin list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PersonaList {
    /// `{userId, email, name, archetype, tickCadence, lastActiveAt,
    /// createdAt, actions7d}` each.
    #[schema(value_type = Vec<Object>)]
    pub personas: Vec<Value>,
}

/// One persona in detail.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonaDetail {
    /// The average rating per module.
    #[schema(value_type = Vec<Object>)]
    pub feedback_by_module: Vec<Value>,
    #[schema(value_type = Object)]
    pub persona: Value,
    #[schema(value_type = Vec<Object>)]
    pub recent_actions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub recent_feedback: Vec<Value>,
}

/// The personas due now, and the server's clock.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Due {
    /// `{userId, email, archetype, systemPrompt, moduleMix, tickCadence,
    /// lastActiveAt}` each.
    #[schema(value_type = Vec<Object>)]
    pub personas: Vec<Value>,
    pub server_time: String,
}

/// The admin list: every persona with its actions of the last 7 days.
pub fn list(conn: &Connection, now: DateTime<Utc>) -> Result<PersonaList> {
    let since = iso(now - Duration::days(7));
    Ok(PersonaList {
        personas: store::list(conn, &since)?,
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("persona")
}

/// One persona with its 20 latest actions and feedback, and the average
/// rating per module.
pub fn detail(conn: &Connection, persona_id: &str) -> Result<PersonaDetail> {
    let persona = store::get(conn, persona_id)?.ok_or_else(not_found)?;
    Ok(PersonaDetail {
        feedback_by_module: store::feedback_by_module(conn, persona_id)?,
        persona,
        recent_actions: store::recent_actions(conn, persona_id, 20)?,
        recent_feedback: store::recent_feedback(conn, persona_id, 20)?,
    })
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
pub fn due(conn: &Connection, now: DateTime<Utc>) -> Result<Due> {
    let personas: Vec<Value> = store::candidates(conn)?
        .into_iter()
        .filter(|c| is_due(&c.tick_cadence, c.last_active, now))
        .map(|c| c.wire)
        .collect();
    Ok(Due {
        personas,
        server_time: iso(now),
    })
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
