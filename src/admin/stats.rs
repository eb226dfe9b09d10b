//! The dashboard numbers, each counted by SQL in one read (people from the
//! per-hour counts that triggers keep, see `user_counts` in the schema).

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::clock::iso;
use crate::error::Result;

/// `GET /admin/stats`.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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
    // number (`not_human` is the handful of such ids). People are not
    // counted row by row: `user_counts` keeps them per hour of sign-up
    // (triggers), so "new since T" is the whole hours after T's hour plus
    // an indexed count of T's own hour from T on — a few hundred rows read
    // with a million accounts in the file.
    let mut stmt = conn.prepare_cached(
        "WITH not_human AS (SELECT id FROM users WHERE kind != 'human') SELECT \
           (SELECT coalesce(sum(humans), 0) FROM user_counts), \
           (SELECT coalesce(sum(humans), 0) FROM user_counts WHERE hour > substr(?1, 1, 13)) \
             + (SELECT count(*) FROM users WHERE created_at >= ?1 AND created_at < substr(?1, 1, 13) || ';' \
                  AND deleted_at IS NULL AND kind = 'human'), \
           (SELECT coalesce(sum(humans), 0) FROM user_counts WHERE hour > substr(?2, 1, 13)) \
             + (SELECT count(*) FROM users WHERE created_at >= ?2 AND created_at < substr(?2, 1, 13) || ';' \
                  AND deleted_at IS NULL AND kind = 'human'), \
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

#[cfg(test)]
mod tests {
    use super::*;

    /// People counted the slow way, as the dashboard did before `user_counts`.
    fn naive(conn: &Connection, since: &str) -> (i64, i64) {
        let count = |sql: &str| conn.query_row(sql, [since], |r| r.get(0)).unwrap();
        (
            count("SELECT count(*) FROM users WHERE deleted_at IS NULL AND kind = 'human' AND ?1 = ?1"),
            count("SELECT count(*) FROM users WHERE deleted_at IS NULL AND kind = 'human' AND created_at >= ?1"),
        )
    }

    #[test]
    fn per_hour_counts_agree_with_counting_every_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate::migrate(&mut conn).unwrap();
        let now: DateTime<Utc> = "2026-11-30T12:34:56.789Z".parse().unwrap();
        let d7 = now - Duration::days(7);
        // Around the 7-day edge: before it in its own hour, on it, after it
        // in its own hour, the hours either side, and recent ones.
        let offsets = [
            Duration::minutes(-20),
            Duration::zero(),
            Duration::milliseconds(1),
            Duration::minutes(20),
            Duration::hours(-1),
            Duration::hours(1),
            Duration::days(3),
            Duration::days(7),
            Duration::days(-30),
        ];
        for (i, off) in offsets.iter().enumerate() {
            conn.execute(
                "INSERT INTO users (id, email, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                rusqlite::params![format!("u{i}"), format!("u{i}@x.de"), iso(d7 + *off)],
            )
            .unwrap();
        }
        let check = |conn: &Connection| {
            let s = stats(conn, now).unwrap();
            let (total, new7) = naive(conn, &iso(d7));
            assert_eq!((s.total_users, s.new_users7d), (total, new7));
            let (_, new30) = naive(conn, &iso(now - Duration::days(30)));
            assert_eq!(s.new_users30d, new30);
        };
        check(&conn);
        // Soft deletion, a persona, a moved sign-up date, a hard delete,
        // an undeletion: each keeps the counts exact.
        let steps = [
            "UPDATE users SET deleted_at = '2026-11-30T00:00:00.000Z' WHERE id = 'u2'",
            "UPDATE users SET kind = 'persona' WHERE id = 'u3'",
            "UPDATE users SET created_at = '2026-11-29T09:00:00.000Z' WHERE id = 'u0'",
            "DELETE FROM users WHERE id = 'u1'",
            "DELETE FROM users WHERE id = 'u2'",
            "UPDATE users SET kind = 'human' WHERE id = 'u3'",
            "UPDATE users SET deleted_at = NULL WHERE id = 'u4'",
            "UPDATE users SET name = 'renamed'",
        ];
        for sql in steps {
            conn.execute(sql, []).unwrap();
            check(&conn);
        }
        let stored: i64 = conn
            .query_row("SELECT sum(humans) FROM user_counts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, naive(&conn, "").0);
    }
}
