//! Password lockout, so that guessing is slow and a stranger cannot keep the
//! owner out:
//!
//! * **Hard lock per (address, client network).** 5 credential failures of
//!   one address from one client network (an IPv4 address, an IPv6 /64 by
//!   default) within 15 minutes lock that pair for 30 minutes from the last
//!   failure: 429 `ACCOUNT_LOCKED` for that client only.
//! * **Brake per address.** Past 5 failures of the address within 15
//!   minutes from all clients together, every further password attempt on
//!   it must wait after the last failure: 1 s, then twice as long per
//!   further failure, at most 60 s (429 `RATE_LIMITED` with `Retry-After`).
//!   A distributed guesser gets about one guess a minute; the owner waits
//!   at most a minute, and magic links and passkeys never wait.
//!
//! Only credential failures are recorded (callers never record an
//! infrastructure error); a successful sign-in clears the address.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::audit::ClientInfo;
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};

/// Failures of one (address, network) that lock the pair.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::minutes(15);
/// How long a pair's lock lasts after its last failure.
pub const LOCK_FOR: Duration = Duration::minutes(30);
/// Failures of an address (all clients) before the brake applies.
pub const BRAKE_AFTER: u32 = 5;
/// The longest wait the brake imposes, in seconds.
pub const BRAKE_MAX_SECS: i64 = 60;

/// Why a password attempt is refused before it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The (address, network) pair is locked for this many seconds.
    Locked(u64),
    /// The address's brake: try again in this many seconds.
    Braked(u64),
}

impl Refusal {
    /// The answer: 429 ACCOUNT_LOCKED or RATE_LIMITED, with Retry-After.
    pub fn error(self) -> ApiError {
        match self {
            Refusal::Locked(secs) => super::locked_error(secs),
            Refusal::Braked(secs) => ApiError::new(
                ErrorCode::RateLimited,
                "too many failed sign-in attempts for this account; try again shortly",
            )
            .with_retry_after(secs),
        }
    }
}

/// The key a client's failures count under: its network, or "" when the
/// address is unknown (all such clients share one key).
fn key(client: &ClientInfo) -> &str {
    client.network.as_deref().unwrap_or("")
}

fn secs_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    ((until - now).num_milliseconds() + 999).max(1000) as u64 / 1000
}

/// The brake's wait after `failures` failures of an address.
fn brake(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(BRAKE_AFTER)?;
    let secs = 1i64
        .checked_shl(over.min(16))
        .unwrap_or(BRAKE_MAX_SECS)
        .min(BRAKE_MAX_SECS);
    Some(Duration::seconds(secs))
}

/// Whether a password attempt on `email` by `client` may be checked now.
pub fn check(
    conn: &Connection,
    email: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Option<Refusal>> {
    let until: Option<String> = conn
        .prepare_cached(
            "SELECT locked_until FROM login_lockouts WHERE email = ?1 AND network = ?2",
        )?
        .query_row(params![email, key(client)], |r| r.get(0))
        .optional()?;
    if let Some(until) = until.as_deref().and_then(parse_iso).filter(|u| *u > now) {
        return Ok(Some(Refusal::Locked(secs_until(until, now))));
    }
    let (failures, last): (u32, Option<String>) = conn
        .prepare_cached(
            "SELECT count(*), max(created_at) FROM login_failures WHERE email = ?1 AND created_at > ?2",
        )?
        .query_row(params![email, iso(now - WINDOW)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let wait_until = brake(failures)
        .zip(last.as_deref().and_then(parse_iso))
        .map(|(wait, last)| last + wait)
        .filter(|t| *t > now);
    Ok(wait_until.map(|t| Refusal::Braked(secs_until(t, now))))
}

/// Records a credential failure of `email` by `client`; returns the lock
/// when this failure locked the pair.
pub fn record_failure(
    tx: &Tx,
    email: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Option<Refusal>> {
    let window_start = iso(now - WINDOW);
    tx.prepare_cached("DELETE FROM login_failures WHERE email = ?1 AND created_at <= ?2")?
        .execute(params![email, window_start])?;
    tx.prepare_cached(
        "INSERT INTO login_failures (email, ip, network, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![email, client.ip, key(client), iso(now)])?;
    let failures: u32 = tx
        .prepare_cached(
            "SELECT count(*) FROM login_failures WHERE email = ?1 AND network = ?2 AND created_at > ?3",
        )?
        .query_row(params![email, key(client), window_start], |r| r.get(0))?;
    if failures < MAX_FAILURES {
        return Ok(None);
    }
    tx.prepare_cached(
        "INSERT INTO login_lockouts (email, network, locked_until) VALUES (?1, ?2, ?3) \
         ON CONFLICT (email, network) DO UPDATE SET locked_until = excluded.locked_until",
    )?
    .execute(params![email, key(client), iso(now + LOCK_FOR)])?;
    Ok(Some(Refusal::Locked(LOCK_FOR.num_seconds() as u64)))
}

/// After a successful sign-in by `client`: the address's failures are
/// forgotten (no brake) and the client's own lock lifted; locks of other
/// clients stay until they run out (the owner signing in does not unlock a
/// stranger).
pub fn succeeded(tx: &Tx, email: &str, client: &ClientInfo) -> Result<()> {
    tx.prepare_cached("DELETE FROM login_failures WHERE email = ?1")?
        .execute([email])?;
    tx.prepare_cached("DELETE FROM login_lockouts WHERE email = ?1 AND network = ?2")?
        .execute(params![email, key(client)])?;
    Ok(())
}

/// Clears failures and every lock of an address (password reset, admin
/// unlock).
pub fn clear(tx: &Tx, email: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM login_failures WHERE email = ?1")?
        .execute([email])?;
    tx.prepare_cached("DELETE FROM login_lockouts WHERE email = ?1")?
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

    fn from(network: &str) -> ClientInfo {
        ClientInfo {
            ip: Some(network.to_owned()),
            network: Some(network.to_owned()),
            ..ClientInfo::default()
        }
    }

    #[test]
    fn five_failures_lock_the_pair_not_the_address() {
        let conn = db();
        let t = conn.unchecked_transaction().unwrap();
        let c = Tx::from(&t);
        let (a, b) = (from("1.1.1.1"), from("2.2.2.2"));
        let t0 = crate::clock::Clock::system().now();
        for i in 0..4 {
            let at = t0 + Duration::minutes(i);
            assert_eq!(record_failure(&c, "A@x.de", &a, at).unwrap(), None);
        }
        let t5 = t0 + Duration::minutes(4);
        assert_eq!(
            record_failure(&c, "a@X.de", &a, t5).unwrap(),
            Some(Refusal::Locked(1800))
        );
        let later = t5 + Duration::minutes(10);
        assert_eq!(
            check(&c, "a@x.de", &a, later).unwrap(),
            Some(Refusal::Locked(1200))
        );
        assert_eq!(check(&c, "a@x.de", &b, later).unwrap(), None);
        assert_eq!(
            check(&c, "a@x.de", &a, t5 + Duration::minutes(31)).unwrap(),
            None
        );
    }

    #[test]
    fn the_brake_doubles_up_to_a_minute_for_everyone() {
        let conn = db();
        let t = conn.unchecked_transaction().unwrap();
        let c = Tx::from(&t);
        let t0 = crate::clock::Clock::system().now();
        let owner = from("9.9.9.9");
        // Four failures from four places: no brake yet.
        for i in 0..4 {
            record_failure(&c, "b@x.de", &from(&format!("10.0.0.{i}")), t0).unwrap();
        }
        assert_eq!(check(&c, "b@x.de", &owner, t0).unwrap(), None);
        record_failure(&c, "b@x.de", &from("10.0.0.5"), t0).unwrap();
        assert_eq!(
            check(&c, "b@x.de", &owner, t0).unwrap(),
            Some(Refusal::Braked(1))
        );
        assert_eq!(
            check(&c, "b@x.de", &owner, t0 + Duration::seconds(1)).unwrap(),
            None
        );
        for i in 0..10 {
            record_failure(&c, "b@x.de", &from(&format!("10.1.0.{i}")), t0).unwrap();
        }
        assert_eq!(
            check(&c, "b@x.de", &owner, t0).unwrap(),
            Some(Refusal::Braked(60)),
            "capped at a minute"
        );
        assert_eq!(
            check(&c, "b@x.de", &owner, t0 + Duration::seconds(60)).unwrap(),
            None
        );
        // Outside the window the failures no longer count.
        assert_eq!(brake(4), None);
        assert_eq!(brake(6), Some(Duration::seconds(2)));
        assert_eq!(brake(u32::MAX), Some(Duration::seconds(60)));
    }

    #[test]
    fn clear_forgets_failures_and_locks() {
        let conn = db();
        let t = conn.unchecked_transaction().unwrap();
        let c = Tx::from(&t);
        let t0 = crate::clock::Clock::system().now();
        let a = from("1.1.1.1");
        for _ in 0..5 {
            record_failure(&c, "c@x.de", &a, t0).unwrap();
        }
        clear(&c, "c@x.de").unwrap();
        assert_eq!(check(&c, "c@x.de", &a, t0).unwrap(), None);
        assert_eq!(record_failure(&c, "c@x.de", &a, t0).unwrap(), None);
    }
}
