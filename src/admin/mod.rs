//! Administration: what an admin may do to other accounts (tier, role, lock,
//! sessions, data) as synchronous functions over a transaction, each writing
//! a security event that names the admin. Listings live in `browse`, the
//! dashboard numbers in `stats` (the page itself is `http::page`), the CLI's operations
//! in `ops`.

pub mod browse;
pub mod ops;
pub mod personas;
pub mod stats;
pub mod system;
pub mod users;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::audit::{self, ClientInfo, Event};
use crate::auth::session;
use crate::clock::iso;
use crate::config::Config;
use crate::db::Tx;
use crate::error::{ApiError, Result};
use crate::ids::UserId;
use crate::me::erase::{self, Erased};
use crate::users::model::{ROLES, TIERS};
use crate::users::{self as accounts, User};

/// The admin performing an action.
#[derive(Clone, Debug)]
pub struct Admin {
    pub id: String,
    pub email: String,
}

/// Largest page an admin listing returns.
pub const MAX_LIMIT: u32 = 100;

/// A validated page request (1-based page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub limit: u32,
}

impl Paging {
    /// `page` defaults to 1 and `limit` to 20; `limit` above 100 or zero and
    /// page zero are validation errors, never silently changed.
    pub fn new(page: Option<u32>, limit: Option<u32>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(20);
        if page == 0 {
            return Err(ApiError::validation("page starts at 1"));
        }
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::validation(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(Self { page, limit })
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    /// The paging fields of a listing answer.
    pub fn meta(self, total: i64) -> PageMeta {
        let pages = (total + i64::from(self.limit) - 1) / i64::from(self.limit);
        PageMeta {
            limit: self.limit,
            page: self.page,
            total,
            total_pages: pages,
        }
    }
}

/// The paging fields of a listing answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    pub limit: u32,
    pub page: u32,
    pub total: i64,
    pub total_pages: i64,
}

/// A page of a listing: its rows under `$key`, the paging fields beside
/// them.
macro_rules! page {
    ($name:ident, $key:ident, $row:ty, $schema:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            #[schema(value_type = $schema)]
            pub $key: Vec<$row>,
            #[serde(flatten)]
            pub meta: $crate::admin::PageMeta,
        }
    };
}
pub(crate) use page;

/// A user that must exist (404 otherwise).
pub fn target(conn: &Connection, user_id: &str) -> Result<User> {
    accounts::store::by_id(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))
}

/// Writes an admin event under the admin's id, naming admin and target.
pub fn record(
    tx: &Tx,
    admin: &Admin,
    event: Event,
    target: &User,
    extra: Value,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut meta = json!({
        "adminId": admin.id,
        "adminEmail": admin.email,
        "targetUserId": target.id,
        "targetEmail": target.email,
    });
    if let (Some(m), Value::Object(extra)) = (meta.as_object_mut(), extra) {
        m.extend(extra);
    }
    audit::record(tx, Some(&admin.id), event, client, meta, &iso(now))
}

pub use crate::users::{ensure_not_locked, lock_of, Lock};

fn not_self(admin: &Admin, user_id: &str, what: &str) -> Result<()> {
    if admin.id == user_id {
        return Err(ApiError::validation(format!(
            "an admin cannot {what} their own account"
        )));
    }
    Ok(())
}

/// Sets the access tier (also copied into the personal space's metadata).
pub fn set_tier(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    tier: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<User> {
    if !TIERS.contains(&tier) {
        return Err(ApiError::validation(format!(
            "tier must be one of {}",
            TIERS.join(", ")
        )));
    }
    let user = target(tx, user_id)?;
    let at = iso(now);
    tx.prepare_cached("UPDATE users SET access_tier = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![user_id, tier, at])?;
    tx.prepare_cached(
        "UPDATE spaces SET metadata = json_set(metadata, '$.tier', ?2), updated_at = ?3 \
         WHERE personal_of = ?1",
    )?
    .execute(params![user_id, tier, at])?;
    let extra = json!({ "from": user.access_tier, "to": tier });
    record(
        tx,
        admin,
        Event::AdminTierChanged,
        &user,
        extra,
        client,
        now,
    )?;
    target(tx, user_id)
}

/// Sets the role; an admin cannot change their own.
pub fn set_role(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    role: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<User> {
    if !ROLES.contains(&role) {
        return Err(ApiError::validation(format!(
            "role must be one of {}",
            ROLES.join(", ")
        )));
    }
    let user = target(tx, user_id)?;
    not_self(admin, user_id, "change the role of")?;
    tx.prepare_cached("UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![user_id, role, iso(now)])?;
    let extra = json!({ "from": user.role, "to": role });
    record(
        tx,
        admin,
        Event::AdminRoleChanged,
        &user,
        extra,
        client,
        now,
    )?;
    target(tx, user_id)
}

/// Locks a user and revokes all their sessions; returns how many.
pub fn lock(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    reason: Option<String>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<usize> {
    let user = target(tx, user_id)?;
    not_self(admin, user_id, "lock")?;
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::validation(
            "reason must be at most 500 characters",
        ));
    }
    tx.prepare_cached(
        "INSERT INTO user_locks (user_id, locked_by, reason, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user_id) DO UPDATE SET locked_by = excluded.locked_by, reason = excluded.reason",
    )?
    .execute(params![user_id, admin.id, reason, iso(now)])?;
    let revoked = session::revoke_all(tx, &UserId::from(user_id), None)?;
    let extra = json!({ "reason": reason, "revokedSessions": revoked });
    record(tx, admin, Event::AdminUserLocked, &user, extra, client, now)?;
    Ok(revoked)
}

/// Removes an admin lock (and any failed-login lockout of the address).
pub fn unlock(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<bool> {
    let user = target(tx, user_id)?;
    let was = tx
        .prepare_cached("DELETE FROM user_locks WHERE user_id = ?1")?
        .execute([user_id])?
        > 0;
    crate::auth::lockout::clear(tx, &user.email)?;
    let extra = json!({ "wasLocked": was });
    record(
        tx,
        admin,
        Event::AdminUserUnlocked,
        &user,
        extra,
        client,
        now,
    )?;
    Ok(was)
}

/// Revokes every session of a user; returns how many.
pub fn revoke_sessions(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<usize> {
    let user = target(tx, user_id)?;
    let revoked = session::revoke_all(tx, &UserId::from(user_id), None)?;
    let extra = json!({ "revokedSessions": revoked });
    record(
        tx,
        admin,
        Event::AdminSessionsRevoked,
        &user,
        extra,
        client,
        now,
    )?;
    Ok(revoked)
}

/// The full data export of a user; the viewing is recorded.
pub fn view_data(
    tx: &Tx,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<crate::me::data::AdminDataView> {
    let user = target(tx, user_id)?;
    let export = crate::me::data::summary_with_rows(tx, user_id, now)?;
    record(
        tx,
        admin,
        Event::AdminDataViewed,
        &user,
        json!({}),
        client,
        now,
    )?;
    Ok(export)
}

/// Erases a user and everything they own (the same erase as `DELETE
/// /me/data`); an admin cannot erase themselves here.
pub fn erase_data(
    tx: &Tx,
    config: &Config,
    admin: &Admin,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Erased> {
    let user = target(tx, user_id)?;
    not_self(admin, user_id, "erase")?;
    let erased = erase::erase(tx, config, user_id, client, now)?;
    // The trace keeps the id (meaningless once erased), not the address.
    let extra = json!({ "deleted": erased.deleted, "targetEmail": null });
    record(tx, admin, Event::AdminDataErased, &user, extra, client, now)?;
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_validated_not_clamped() {
        assert_eq!(
            Paging::new(None, None).unwrap(),
            Paging { page: 1, limit: 20 }
        );
        assert!(Paging::new(Some(0), None).is_err());
        assert!(Paging::new(None, Some(0)).is_err());
        assert!(Paging::new(None, Some(101)).is_err());
        let p = Paging::new(Some(3), Some(10)).unwrap();
        assert_eq!(p.offset(), 20);
        assert_eq!(p.meta(21).total_pages, 3);
        assert_eq!(p.meta(0).total_pages, 0);
    }
}
