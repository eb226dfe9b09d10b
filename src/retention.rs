//! Retention: rows that would otherwise pile up for ever are removed by a
//! job that runs every hour (and on demand from the admin API and page):
//!
//! - security events and vault audit rows older than
//!   `RETENTION_SECURITY_EVENTS_DAYS` (default 180);
//! - mail that is no longer pending (sent, logged, failed) older than
//!   `RETENTION_MAIL_DAYS` (default 30); pending mail is never removed;
//! - expired sessions (their tokens go with them), verification links a day
//!   after they expired (used or not), expired two-factor tickets;
//! - rate-limit bookkeeping past its window (login failures and lockouts,
//!   the per-address mail count, the invitation log);
//! - invitations answered, withdrawn or expired more than
//!   `CLOSED_INVITATIONS_KEPT` ago (open ones stay).
//!
//! A policy of 0 days keeps that kind for ever. Deletes go in batches of
//! `BATCH` rows, each its own short write transaction, so a first run over
//! a large file never holds the writer for long.
//!
//! The per-user row caps live with their rules (`spaces`, `auth::session`,
//! `api_keys`, `settings`); `limits` lists them for the admin page.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::Serialize;

use crate::clock::iso;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::error::Result;

/// Rows deleted per write transaction.
pub const BATCH: u32 = 2000;
/// How often the job runs.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// A verification link is kept this long after it expired, so that a late
/// click still reads "expired" rather than "invalid".
pub const EXPIRED_LINKS_KEPT: Duration = Duration::days(1);
/// Closed invitations (and open ones past their expiry) are kept this long.
pub const CLOSED_INVITATIONS_KEPT: Duration = Duration::days(30);

/// How long each kind of row is kept, in days (0 = for ever).
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub security_events_days: u32,
    pub mail_days: u32,
}

/// What one run removed.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub ran_at: String,
    /// Security events and vault audit rows.
    pub security_events: usize,
    pub mail: usize,
    pub expired_sessions: usize,
    /// Verification links and two-factor tickets.
    pub expired_tokens: usize,
    /// Login failures and lockouts, mail counts, invitation log rows.
    pub rate_limit_rows: usize,
    pub closed_invitations: usize,
}

/// The policy and the last run's report.
pub struct Retention {
    pub policy: Policy,
    last: Mutex<Option<Report>>,
}

impl Retention {
    /// The policy of `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            policy: Policy {
                security_events_days: config.retention_security_events_days,
                mail_days: config.retention_mail_days,
            },
            last: Mutex::new(None),
        }
    }

    /// The report of the last run since start, if any.
    pub fn last(&self) -> Option<Report> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The per-user and per-space row caps (fields in alphabetical order).
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub active_api_keys: u32,
    pub apps_per_device: u32,
    pub devices_per_user: u32,
    /// Passkey ceremonies in flight at once.
    pub passkey_ceremonies: usize,
    pub pending_invitations_per_space: u32,
    pub revoked_api_keys_kept: u32,
    pub sessions_per_user: u32,
    pub settings_bytes_per_user: usize,
    pub spaces_owned: u32,
}

/// The per-user and per-space row caps, as the admin page shows them.
pub fn limits(config: &Config) -> Limits {
    Limits {
        active_api_keys: crate::api_keys::MAX_KEYS,
        apps_per_device: crate::settings::MAX_APPS,
        devices_per_user: crate::settings::MAX_DEVICES,
        passkey_ceremonies: config.passkey_max_ceremonies,
        pending_invitations_per_space: crate::spaces::MAX_PENDING_INVITATIONS,
        revoked_api_keys_kept: crate::api_keys::MAX_REVOKED_KEPT,
        sessions_per_user: crate::auth::session::MAX_SESSIONS,
        settings_bytes_per_user: crate::settings::MAX_USER_BYTES,
        spaces_owned: crate::spaces::MAX_OWNED_SPACES,
    }
}

/// Which counter of the report a kind adds to.
#[derive(Clone, Copy)]
enum Bucket {
    Events,
    Mail,
    Sessions,
    Tokens,
    RateLimits,
    Invitations,
}

/// One kind of row: a DELETE of at most `?2` rows older than `?1`, and its
/// cutoff at `now` under the policy (None: keep for ever).
struct Kind {
    bucket: Bucket,
    sql: &'static str,
    cutoff: fn(DateTime<Utc>, Policy) -> Option<DateTime<Utc>>,
}

fn days(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    (days > 0).then(|| now - Duration::days(i64::from(days)))
}

const KINDS: &[Kind] = &[
    Kind {
        bucket: Bucket::Events,
        sql: "DELETE FROM security_events WHERE rowid IN \
              (SELECT rowid FROM security_events WHERE created_at < ?1 LIMIT ?2)",
        cutoff: |now, p| days(now, p.security_events_days),
    },
    Kind {
        bucket: Bucket::Events,
        sql: "DELETE FROM vault_audit WHERE rowid IN \
              (SELECT rowid FROM vault_audit WHERE created_at < ?1 LIMIT ?2)",
        cutoff: |now, p| days(now, p.security_events_days),
    },
    Kind {
        bucket: Bucket::Mail,
        sql: "DELETE FROM mail_outbox WHERE rowid IN (SELECT rowid FROM mail_outbox \
              WHERE created_at < ?1 AND status <> 'pending' LIMIT ?2)",
        cutoff: |now, p| days(now, p.mail_days),
    },
    Kind {
        bucket: Bucket::Sessions,
        sql: "DELETE FROM sessions WHERE rowid IN \
              (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now),
    },
    Kind {
        bucket: Bucket::Tokens,
        sql: "DELETE FROM verification_tokens WHERE rowid IN \
              (SELECT rowid FROM verification_tokens WHERE expires_at < ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now - EXPIRED_LINKS_KEPT),
    },
    Kind {
        bucket: Bucket::Tokens,
        sql: "DELETE FROM two_factor_tickets WHERE rowid IN \
              (SELECT rowid FROM two_factor_tickets WHERE expires_at <= ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now),
    },
    Kind {
        bucket: Bucket::RateLimits,
        sql: "DELETE FROM login_failures WHERE rowid IN \
              (SELECT rowid FROM login_failures WHERE created_at <= ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now - crate::auth::lockout::WINDOW),
    },
    Kind {
        bucket: Bucket::RateLimits,
        sql: "DELETE FROM login_lockouts WHERE rowid IN \
              (SELECT rowid FROM login_lockouts WHERE locked_until <= ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now),
    },
    Kind {
        bucket: Bucket::RateLimits,
        sql: "DELETE FROM mail_quota WHERE rowid IN \
              (SELECT rowid FROM mail_quota WHERE created_at <= ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now - crate::email::QUOTA_WINDOW),
    },
    Kind {
        bucket: Bucket::RateLimits,
        sql: "DELETE FROM space_invite_log WHERE rowid IN \
              (SELECT rowid FROM space_invite_log WHERE created_at < ?1 LIMIT ?2)",
        cutoff: |now, _| Some(now - crate::spaces::INVITE_LOG_WINDOW),
    },
    Kind {
        bucket: Bucket::Invitations,
        sql: "DELETE FROM space_invitations WHERE rowid IN (SELECT rowid FROM space_invitations \
              WHERE (status <> 'pending' AND updated_at < ?1) \
              OR (status = 'pending' AND expires_at < ?1) LIMIT ?2)",
        cutoff: |now, _| Some(now - CLOSED_INVITATIONS_KEPT),
    },
];

/// Deletes rows of `sql` older than `before` (at most `BATCH` a transaction)
/// until a batch comes back short; returns the total.
async fn in_batches(db: &Db, sql: &'static str, before: String) -> Result<usize> {
    let mut total = 0;
    loop {
        let b = before.clone();
        let n = db
            .write(move |tx, _| Ok(tx.prepare_cached(sql)?.execute(params![b, BATCH])?))
            .await?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}

/// One run of the job at the server's now; the report is kept for the
/// admin page.
pub async fn run(db: &Db, retention: &Retention, now: DateTime<Utc>) -> Result<Report> {
    let policy = retention.policy;
    let mut report = Report {
        ran_at: iso(now),
        ..Report::default()
    };
    for kind in KINDS {
        let Some(before) = (kind.cutoff)(now, policy) else {
            continue;
        };
        let n = in_batches(db, kind.sql, iso(before)).await?;
        *match kind.bucket {
            Bucket::Events => &mut report.security_events,
            Bucket::Mail => &mut report.mail,
            Bucket::Sessions => &mut report.expired_sessions,
            Bucket::Tokens => &mut report.expired_tokens,
            Bucket::RateLimits => &mut report.rate_limit_rows,
            Bucket::Invitations => &mut report.closed_invitations,
        } += n;
    }
    tracing::info!(
        security_events = report.security_events,
        mail = report.mail,
        expired_sessions = report.expired_sessions,
        expired_tokens = report.expired_tokens,
        rate_limit_rows = report.rate_limit_rows,
        closed_invitations = report.closed_invitations,
        "retention run"
    );
    *retention.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
    Ok(report)
}

/// Runs the job every `period`, the first time one period after start.
pub async fn run_every(
    db: Db,
    clock: Clock,
    retention: Arc<Retention>,
    period: std::time::Duration,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = run(&db, &retention, clock.now()).await {
            tracing::warn!(error = %e, "retention run failed");
        }
    }
}
