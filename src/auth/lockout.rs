//! Password lockout: 5 credential failures for an email within 15 minutes
//! lock it for 30 minutes from the last failure. Only credential failures
//! are recorded (callers never record an infrastructure error); a successful
//! login clears the counter.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::clock::{iso, parse_iso};
use crate::error::Result;

/// Failures that lock an email.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::minutes(15);
/// How long a lock lasts after the last failure.
pub const LOCK_FOR: Duration = Duration::minutes(30);

/// Seconds until the email is unlocked, if it is locked.
pub fn locked_for(conn: &Connection, email: &str, now: DateTime<Utc>) -> Result<Option<u64>> {
    let until: Option<String> = conn
        .prepare_cached("SELECT locked_until FROM login_lockouts WHERE email = ?1")?
        .query_row([email], |r| r.get(0))
        .optional()?;
    Ok(until
        .as_deref()
        .and_then(parse_iso)
        .filter(|u| *u > now)
        .map(|u| ((u - now).num_milliseconds() + 999).max(1000) as u64 / 1000))
}

/// Records a credential failure; returns the lock duration in seconds when
/// this failure locked the email.
pub fn record_failure(
    conn: &Connection,
    email: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<u64>> {
    let window_start = iso(now - WINDOW);
    conn.prepare_cached("DELETE FROM login_failures WHERE email = ?1 AND created_at <= ?2")?
        .execute(params![email, window_start])?;
    conn.prepare_cached("INSERT INTO login_failures (email, ip, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![email, ip, iso(now)])?;
    let failures: u32 = conn
        .prepare_cached("SELECT count(*) FROM login_failures WHERE email = ?1 AND created_at > ?2")?
        .query_row(params![email, window_start], |r| r.get(0))?;
    if failures < MAX_FAILURES {
        return Ok(None);
    }
    conn.prepare_cached(
        "INSERT INTO login_lockouts (email, locked_until) VALUES (?1, ?2) \
         ON CONFLICT (email) DO UPDATE SET locked_until = excluded.locked_until",
    )?
    .execute(params![email, iso(now + LOCK_FOR)])?;
    Ok(Some(LOCK_FOR.num_seconds() as u64))
}

/// Clears failures and any lock of an email.
pub fn clear(conn: &Connection, email: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE email = ?1")?
        .execute([email])?;
    conn.prepare_cached("DELETE FROM login_lockouts WHERE email = ?1")?
        .execute([email])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn five_failures_in_window_lock_for_thirty_minutes() {
        let c = db();
        let t0 = crate::clock::Clock::system().now();
        for i in 0..4 {
            assert_eq!(
                record_failure(&c, "A@x.de", None, t0 + Duration::minutes(i)).unwrap(),
                None
            );
        }
        assert_eq!(locked_for(&c, "a@x.de", t0).unwrap(), None);
        let t5 = t0 + Duration::minutes(4);
        assert_eq!(record_failure(&c, "a@X.de", None, t5).unwrap(), Some(1800));
        assert_eq!(
            locked_for(&c, "a@x.de", t5 + Duration::minutes(10)).unwrap(),
            Some(1200)
        );
        assert_eq!(
            locked_for(&c, "a@x.de", t5 + Duration::minutes(31)).unwrap(),
            None
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_count_and_success_clears() {
        let c = db();
        let t0 = crate::clock::Clock::system().now();
        for i in 0..4 {
            record_failure(&c, "b@x.de", None, t0 + Duration::minutes(i * 10)).unwrap();
        }
        assert_eq!(
            locked_for(&c, "b@x.de", t0 + Duration::minutes(40)).unwrap(),
            None
        );
        for _ in 0..4 {
            record_failure(&c, "c@x.de", None, t0).unwrap();
        }
        clear(&c, "c@x.de").unwrap();
        assert_eq!(record_failure(&c, "c@x.de", None, t0).unwrap(), None);
    }
}
