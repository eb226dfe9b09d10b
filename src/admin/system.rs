//! What the admin dashboard draws besides the counters: sign-ins, failed
//! sign-ins and sign-ups per UTC day, and the system panel (the process,
//! the file, backups and replication, the mail queue, the signing key, the
//! hashing pool). Reads only; time comes in as `now`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::auth::password::HashLoad;
use crate::clock::{iso, parse_iso};
use crate::error::{ApiError, Result};

/// Most days the activity chart may ask for.
pub const MAX_DAYS: u32 = 90;

/// One UTC day of the activity chart.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Successful sign-ins (password, magic link, two-factor, passkey).
    pub sign_ins: i64,
    /// Failed sign-ins (wrong password or second factor, failed passkey).
    pub failed_sign_ins: i64,
    /// Accounts of people created that day and still stored.
    pub sign_ups: i64,
}

/// `GET /admin/activity`: the last `days` days, oldest first, today last;
/// every day present, empty ones as zeros.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub days: Vec<Day>,
    pub generated_at: String,
}

/// Counts per UTC day for the `days` days ending today.
pub fn activity(conn: &Connection, now: DateTime<Utc>, days: u32) -> Result<Activity> {
    if days == 0 || days > MAX_DAYS {
        return Err(ApiError::validation(format!(
            "days must be between 1 and {MAX_DAYS}"
        )));
    }
    let today = now.date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    let since = format!("{first}T00:00:00.000Z");
    let mut out: Vec<Day> = (0..i64::from(days))
        .map(|i| Day {
            date: (first + Duration::days(i)).to_string(),
            sign_ins: 0,
            failed_sign_ins: 0,
            sign_ups: 0,
        })
        .collect();
    let slot = |date: &str| {
        NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .and_then(|d| usize::try_from((d - first).num_days()).ok())
    };
    // People only, as in `stats`: events of personas and system users are
    // left out; failures for unknown addresses (no user) count.
    let mut events = conn.prepare_cached(
        "WITH not_human AS (SELECT id FROM users WHERE kind != 'human') \
         SELECT substr(created_at, 1, 10), event_type IN ('LOGIN_SUCCESS', 'PASSKEY_LOGIN_SUCCESS'), \
                count(*) \
           FROM security_events \
          WHERE event_type IN ('LOGIN_SUCCESS', 'PASSKEY_LOGIN_SUCCESS', 'LOGIN_FAILURE', 'PASSKEY_LOGIN_FAILURE') \
            AND created_at >= ?1 AND (user_id IS NULL OR user_id NOT IN not_human) \
          GROUP BY 1, 2",
    )?;
    let rows = events.query_map(params![since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (date, success, n) = row?;
        if let Some(day) = slot(&date).and_then(|i| out.get_mut(i)) {
            if success {
                day.sign_ins += n;
            } else {
                day.failed_sign_ins += n;
            }
        }
    }
    let mut signups = conn.prepare_cached(
        "SELECT substr(created_at, 1, 10), count(*) FROM users \
          WHERE created_at >= ?1 AND kind = 'human' GROUP BY 1",
    )?;
    let rows = signups.query_map(params![since], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (date, n) = row?;
        if let Some(day) = slot(&date).and_then(|i| out.get_mut(i)) {
            day.sign_ups += n;
        }
    }
    Ok(Activity {
        days: out,
        generated_at: iso(now),
    })
}

/// The process.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub version: &'static str,
    pub started_at: String,
    pub uptime_sec: i64,
}

/// The SQLite file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    /// Size of the main file in bytes.
    pub size_bytes: u64,
    /// Size of the `-wal` file (0 when absent).
    pub wal_bytes: u64,
    /// Pages on the free list (space a VACUUM would give back).
    pub free_bytes: u64,
    pub schema_version: i64,
    pub latest_schema_version: i64,
    pub synchronous: String,
}

/// The newest `mana-auth backup`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub at: String,
    pub age_sec: i64,
    pub file: String,
    pub bytes: i64,
}

/// Litestream's newest position, read from its metadata directory beside
/// the database: the last transaction it has taken from the WAL (it uploads
/// within its `sync-interval` of that).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replication {
    pub replicator: &'static str,
    pub meta_dir: String,
    /// Hex transaction id of the newest LTX file, if any.
    pub txid: Option<String>,
    pub at: Option<String>,
    pub age_sec: Option<i64>,
}

/// The mail outbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailQueue {
    pub smtp: bool,
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_age_sec: Option<i64>,
}

/// The signing key in use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    pub kid: Option<String>,
    pub created_at: Option<String>,
    pub age_sec: Option<i64>,
    /// Keys still published after a rotation (their tokens may be live).
    pub retired_published: i64,
    /// Rotation is manual (`mana-auth keys rotate`); nothing is scheduled.
    pub next_rotation: Option<String>,
}

/// `GET /admin/system`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct System {
    pub process: Process,
    pub database: Database,
    pub backup: Option<Backup>,
    pub replication: Option<Replication>,
    pub mail: MailQueue,
    pub signing_key: SigningKey,
    #[schema(value_type = Object)]
    pub hash_pool: HashLoad,
    pub generated_at: String,
}

/// What the reader connection cannot see by itself.
pub struct Context {
    pub db_path: PathBuf,
    pub started_at: DateTime<Utc>,
    pub hash_pool: HashLoad,
    pub smtp: bool,
}

fn age(now: DateTime<Utc>, at: &str) -> Option<i64> {
    parse_iso(at).map(|t| (now - t).num_seconds().max(0))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Everything of the system panel as of `now`.
pub fn system(conn: &Connection, ctx: &Context, now: DateTime<Utc>) -> Result<System> {
    let pragma = |name: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
    };
    let wal = {
        let mut p = ctx.db_path.clone().into_os_string();
        p.push("-wal");
        PathBuf::from(p)
    };
    let database = Database {
        size_bytes: file_len(&ctx.db_path),
        wal_bytes: file_len(&wal),
        free_bytes: u64::try_from(pragma("freelist_count")? * pragma("page_size")?).unwrap_or(0),
        schema_version: pragma("user_version")?,
        latest_schema_version: crate::db::migrate::LATEST,
        synchronous: match pragma("synchronous")? {
            0 => "off",
            1 => "normal",
            2 => "full",
            _ => "extra",
        }
        .to_owned(),
    };
    let backup = conn
        .prepare_cached(
            "SELECT created_at, metadata FROM security_events WHERE event_type = 'BACKUP_CREATED' \
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .optional()?
        .map(|(at, meta)| {
            let meta: serde_json::Value = serde_json::from_str(&meta).unwrap_or_default();
            Backup {
                age_sec: age(now, &at).unwrap_or(0),
                at,
                file: meta["file"].as_str().unwrap_or_default().to_owned(),
                bytes: meta["bytes"].as_i64().unwrap_or(0),
            }
        });
    let (pending, failed, oldest): (i64, i64, Option<String>) = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM mail_outbox WHERE status = 'pending'), \
                    (SELECT count(*) FROM mail_outbox WHERE status = 'failed'), \
                    (SELECT min(created_at) FROM mail_outbox WHERE status = 'pending')",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let current: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT kid, created_at FROM jwt_keys WHERE retired_at IS NULL \
             ORDER BY created_at DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let retired_published: i64 = conn
        .prepare_cached("SELECT count(*) FROM jwt_keys WHERE retired_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(System {
        process: Process {
            version: env!("CARGO_PKG_VERSION"),
            started_at: iso(ctx.started_at),
            uptime_sec: (now - ctx.started_at).num_seconds().max(0),
        },
        database,
        backup,
        replication: replication(&ctx.db_path, now),
        mail: MailQueue {
            smtp: ctx.smtp,
            pending,
            failed,
            oldest_pending_age_sec: oldest.as_deref().and_then(|t| age(now, t)),
        },
        signing_key: SigningKey {
            age_sec: current.as_ref().and_then(|(_, at)| age(now, at)),
            kid: current.as_ref().map(|(kid, _)| kid.clone()),
            created_at: current.map(|(_, at)| at),
            retired_published,
            next_rotation: None,
        },
        hash_pool: ctx.hash_pool,
        generated_at: iso(now),
    })
}

/// Litestream's newest local LTX file (`ltx/0/MINTXID-MAXTXID.ltx`) and its
/// modification time, when Litestream's metadata directory exists.
fn replication(db: &Path, now: DateTime<Utc>) -> Option<Replication> {
    let dir = crate::db::litestream_meta_dir(db)?;
    let newest = std::fs::read_dir(dir.join("ltx").join("0"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let max = name.strip_suffix(".ltx")?.split_once('-')?.1.to_owned();
            let txid = u64::from_str_radix(&max, 16).ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((txid, max, DateTime::<Utc>::from(modified)))
        })
        .max_by_key(|(txid, _, _)| *txid);
    Some(Replication {
        replicator: "litestream",
        meta_dir: dir.display().to_string(),
        txid: newest.as_ref().map(|(_, hex, _)| hex.clone()),
        at: newest.as_ref().map(|(_, _, at)| iso(*at)),
        age_sec: newest.map(|(_, _, at)| (now - at).num_seconds().max(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(include_str!("../../schema.sql")).unwrap();
        c
    }

    #[test]
    fn every_day_is_present_and_counted_on_its_utc_date() {
        let c = conn();
        let now = parse_iso("2026-03-10T12:00:00.000Z").unwrap();
        for (at, kind) in [
            ("2026-03-10T00:00:00.000Z", "LOGIN_SUCCESS"),
            ("2026-03-10T23:00:00.000Z", "PASSKEY_LOGIN_SUCCESS"),
            ("2026-03-09T23:59:59.999Z", "LOGIN_FAILURE"),
            ("2026-02-09T10:00:00.000Z", "LOGIN_SUCCESS"), // first day of 30
            ("2026-02-08T23:59:59.999Z", "LOGIN_SUCCESS"), // before the window
            ("2026-03-10T01:00:00.000Z", "LOGOUT"),
        ] {
            c.execute(
                "INSERT INTO security_events (id, event_type, created_at) VALUES (?1, ?2, ?3)",
                params![uuid::Uuid::new_v4().to_string(), kind, at],
            )
            .unwrap();
        }
        let a = activity(&c, now, 30).unwrap();
        assert_eq!(a.days.len(), 30);
        assert_eq!(a.days[0].date, "2026-02-09");
        assert_eq!(a.days[0].sign_ins, 1);
        let last = a.days.last().unwrap();
        assert_eq!((last.date.as_str(), last.sign_ins), ("2026-03-10", 2));
        assert_eq!(a.days[28].failed_sign_ins, 1);
        let total: i64 = a.days.iter().map(|d| d.sign_ins + d.failed_sign_ins).sum();
        assert_eq!(total, 4);
        assert!(activity(&c, now, 0).is_err());
        assert!(activity(&c, now, MAX_DAYS + 1).is_err());
    }
}
