//! The dashboard numbers, each counted by SQL in one read.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::clock::iso;
use crate::error::Result;

/// `GET /admin/stats`.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_users: i64,
    pub new_users7d: i64,
    pub new_users30d: i64,
    /// Sessions not yet expired.
    pub active_sessions: i64,
    /// Users who signed in, or whose session was extended, in the last 24 h.
    pub unique_users24h: i64,
    pub login_success7d: i64,
    pub login_failed7d: i64,
    pub generated_at: String,
}

/// Counts everything as of `now`.
pub fn stats(conn: &Connection, now: DateTime<Utc>) -> Result<Stats> {
    let d7 = iso(now - Duration::days(7));
    let d30 = iso(now - Duration::days(30));
    let h24 = iso(now - Duration::hours(24));
    let at = iso(now);
    // Only people count: personas and system users are left out of every
    // number (`not_human` is the handful of such ids).
    let mut stmt = conn.prepare_cached(
        "WITH not_human AS (SELECT id FROM users WHERE kind != 'human') SELECT \
           (SELECT count(*) FROM users WHERE deleted_at IS NULL AND kind = 'human'), \
           (SELECT count(*) FROM users WHERE deleted_at IS NULL AND kind = 'human' AND created_at >= ?1), \
           (SELECT count(*) FROM users WHERE deleted_at IS NULL AND kind = 'human' AND created_at >= ?2), \
           (SELECT count(*) FROM sessions WHERE expires_at > ?4 AND user_id NOT IN not_human), \
           (SELECT count(*) FROM ( \
               SELECT user_id FROM security_events \
                WHERE event_type = 'LOGIN_SUCCESS' AND user_id IS NOT NULL AND created_at >= ?3 \
               UNION SELECT user_id FROM sessions WHERE updated_at >= ?3 AND expires_at > ?4) \
             WHERE user_id NOT IN not_human), \
           (SELECT count(*) FROM security_events WHERE event_type = 'LOGIN_SUCCESS' AND created_at >= ?1 \
             AND (user_id IS NULL OR user_id NOT IN not_human)), \
           (SELECT count(*) FROM security_events WHERE event_type = 'LOGIN_FAILURE' AND created_at >= ?1 \
             AND (user_id IS NULL OR user_id NOT IN not_human))",
    )?;
    Ok(stmt.query_row(rusqlite::params![d7, d30, h24, at], |r| {
        Ok(Stats {
            total_users: r.get(0)?,
            new_users7d: r.get(1)?,
            new_users30d: r.get(2)?,
            active_sessions: r.get(3)?,
            unique_users24h: r.get(4)?,
            login_success7d: r.get(5)?,
            login_failed7d: r.get(6)?,
            generated_at: at.clone(),
        })
    })?)
}
