//! What the service holds about a user: a summary of counts and the full
//! export, both in the upstream's shapes (`UserDataSummary`, export version
//! "2.0") that the web app's "my data" page and admin view read, with this
//! service's own counts and rows beside them. The export is every row about
//! the user and never a secret: no
//! password hash, no session token hash, no API key hash, no vault wrap or
//! key material (the vault appears only as its status), no TOTP secret or
//! backup code hash (two-factor appears as its state and code counts).

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::erase::Erased;
pub use super::export::{AdminDataView, Export};
use super::{projects, require_user, store};
use crate::clock::iso;
use crate::error::Result;
use crate::{api_keys, audit, settings, spaces, vault};

/// Version of the export format (the upstream's numbering).
pub const EXPORT_VERSION: &str = "2.0";
/// Security events in the export's `details`, newest first.
const EXPORT_EVENTS: u32 = 200;

/// The newest successful sign-in of the user, if any.
fn last_login(conn: &Connection, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(created_at) FROM security_events WHERE user_id = ?1 \
             AND event_type IN ('LOGIN_SUCCESS', 'PASSKEY_LOGIN_SUCCESS')",
        )?
        .query_row([user_id], |r| r.get(0))?)
}

/// Counts of everything stored about the user: the upstream's
/// `{user, auth, credits, projects, totals}` plus `counts` and
/// `encryptionVault`. There is no credits service here: `credits` is zeros,
/// as upstream answered when its credits service was away.
pub fn summary(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<DataSummary> {
    let user = require_user(conn, user_id)?;
    let active_sessions: i64 = conn
        .prepare_cached("SELECT count(*) FROM sessions WHERE user_id = ?1 AND expires_at > ?2")?
        .query_row([user_id, &iso(now)], |r| r.get(0))?;
    let accounts = store::count_where(conn, "password_credentials", "user_id", user_id)?;
    let (projects, totals) = projects::summary(conn, user_id)?;
    let sync: BTreeMap<String, i64> = store::sync_counts(conn, user_id)?.into_iter().collect();
    let sync_total: i64 = sync.values().sum();
    let vault = vault::status(conn, user_id, None)?;
    Ok(DataSummary {
        auth: SummaryAuth {
            accounts_count: accounts,
            has_2fa: user.two_factor_enabled,
            last_login_at: last_login(conn, user_id)?,
            sessions_count: active_sessions,
        },
        counts: SummaryCounts {
            api_keys: api_keys::store::active_count(conn, user_id)?,
            app_settings: store::count_where(conn, "user_app_settings", "user_id", user_id)?,
            devices: store::count_where(conn, "user_devices", "user_id", user_id)?,
            passkeys: store::count_where(conn, "passkeys", "user_id", user_id)?,
            security_events: store::count_where(conn, "security_events", "user_id", user_id)?,
            sessions: active_sessions,
            spaces: store::count_where(conn, "space_members", "user_id", user_id)?,
            sync_changes: sync_total,
            sync_changes_by_app: sync,
        },
        credits: SummaryCredits::default(),
        encryption_vault: SummaryVault {
            initialized: vault.initialized,
            zero_knowledge: vault.zero_knowledge,
        },
        projects,
        totals,
        user: SummaryUser {
            created_at: user.created_at,
            email: user.email,
            email_verified: user.email_verified,
            id: user.id,
            name: user.name,
            role: user.role,
        },
    })
}

/// The summary of what is stored about a user (the upstream's
/// `UserDataSummary` plus `counts` and `encryptionVault`). Fields in
/// alphabetical order, as the wire has them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSummary {
    pub auth: SummaryAuth,
    pub counts: SummaryCounts,
    pub credits: SummaryCredits,
    pub encryption_vault: SummaryVault,
    pub projects: Vec<projects::Project>,
    pub totals: projects::Totals,
    pub user: SummaryUser,
}

/// The account part of a summary.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryAuth {
    /// Password credentials.
    pub accounts_count: i64,
    #[serde(rename = "has2FA")]
    pub has_2fa: bool,
    /// The newest successful sign-in; null when there was none.
    pub last_login_at: Option<String>,
    /// Sessions not expired.
    pub sessions_count: i64,
}

/// Rows stored about the user, per kind.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryCounts {
    pub api_keys: u32,
    pub app_settings: i64,
    pub devices: i64,
    pub passkeys: i64,
    pub security_events: i64,
    pub sessions: i64,
    pub spaces: i64,
    pub sync_changes: i64,
    /// Sync changes per app.
    pub sync_changes_by_app: BTreeMap<String, i64>,
}

/// Credits: always zeros (there is no credits service here).
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryCredits {
    pub balance: i64,
    pub total_earned: i64,
    pub total_spent: i64,
    pub transactions_count: i64,
}

/// The vault's status in a summary.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryVault {
    pub initialized: bool,
    pub zero_knowledge: bool,
}

/// The user part of a summary.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryUser {
    pub created_at: String,
    pub email: String,
    pub email_verified: bool,
    pub id: String,
    pub name: String,
    pub role: String,
}

/// The upstream's `details` of the export: sessions, passkeys, API keys
/// and the newest security events, in its field names.
fn details(conn: &Connection, user_id: &str) -> Result<Value> {
    let sessions: Vec<Value> = store::sessions(conn, user_id)?
        .into_iter()
        .map(|s| {
            json!({
                "id": s["id"], "createdAt": s["createdAt"], "expiresAt": s["expiresAt"],
                "ipAddress": s["ipAddress"], "deviceName": null,
                "lastActivityAt": s["updatedAt"], "revokedAt": null,
            })
        })
        .collect();
    let passkeys: Vec<Value> = crate::passkeys::store::list(conn, user_id)?
        .into_iter()
        .map(|p| {
            json!({
                "id": p.id, "friendlyName": p.name,
                "deviceType": if p.backup_eligible { "multiDevice" } else { "singleDevice" },
                "createdAt": p.created_at, "lastUsedAt": p.last_used_at,
            })
        })
        .collect();
    let api_keys: Vec<Value> = api_keys::store::list(conn, user_id)?
        .into_iter()
        .map(|k| {
            json!({
                "id": k.id, "name": k.name, "keyPrefix": k.key_prefix, "scopes": k.scopes,
                "createdAt": k.created_at, "lastUsedAt": k.last_used_at, "revokedAt": k.revoked_at,
            })
        })
        .collect();
    let events: Vec<Value> = audit::recent(conn, user_id, EXPORT_EVENTS)?
        .into_iter()
        .map(|e| json!({ "eventType": e.event_type, "ipAddress": e.ip_address, "createdAt": e.created_at }))
        .collect();
    Ok(json!({
        "sessions": sessions,
        "passkeys": passkeys,
        "apiKeys": api_keys,
        "securityEvents": events,
    }))
}

/// The full export of the user's data: the upstream's `{exportedAt,
/// exportVersion, data, details}` and, beside them, every row about the
/// user.
pub fn export(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<Export> {
    let data = serde_json::to_value(summary(conn, user_id, now)?)?;
    let user = require_user(conn, user_id)?;
    let has_password = crate::users::store::password_hash(conn, user_id)?.is_some();
    let settings = json!({
        "global": settings::store::global(conn, user_id)?,
        "appOverrides": settings::store::apps(conn, user_id)?
            .into_iter()
            .collect::<Map<String, Value>>(),
        "devices": settings::devices(conn, user_id)?,
    });
    let vault = vault::status(conn, user_id, None)?;
    Ok(Export {
        api_keys: serde_json::to_value(api_keys::store::all(conn, user_id)?)?,
        data,
        details: details(conn, user_id)?,
        encryption_vault: json!({
            "initialized": vault.initialized,
            "zeroKnowledge": vault.zero_knowledge,
            "hasRecoveryWrap": vault.has_recovery_wrap,
            "createdAt": vault.created_at,
            "rotatedAt": vault.rotated_at,
        }),
        export_version: EXPORT_VERSION,
        exported_at: iso(now),
        format_version: 1,
        has_password,
        invitations: serde_json::to_value(store::invitations(
            conn,
            user_id,
            &user.email,
            user.email_verified,
        )?)?,
        login_failures: serde_json::to_value(store::login_failures(conn, &user.email)?)?,
        // Name, counter, flags and dates; never the public key blob.
        passkeys: serde_json::to_value(crate::passkeys::store::list(conn, user_id)?)?,
        persona: crate::personas::export(conn, user_id)?,
        security_events: serde_json::to_value(audit::recent(conn, user_id, u32::MAX)?)?,
        sessions: serde_json::to_value(store::sessions(conn, user_id)?)?,
        settings,
        spaces: serde_json::to_value(spaces::store::spaces_of(conn, user_id)?)?,
        sync_changes: serde_json::to_value(store::sync_changes(conn, user_id)?)?,
        two_factor: serde_json::to_value(crate::auth::two_factor::export(conn, user_id)?)?,
        user: serde_json::to_value(user)?,
        vault_audit: serde_json::to_value(store::vault_audit(conn, user_id)?)?,
    })
}

/// What an admin sees of a user: the summary (the upstream's admin answer)
/// with every row of the export beside it. The export's `user` (the whole
/// user record) and `encryptionVault` hold every field of the summary's.
pub fn summary_with_rows(
    conn: &Connection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<AdminDataView> {
    let export = export(conn, user_id, now)?;
    let summary = summary(conn, user_id, now)?;
    Ok(AdminDataView {
        auth: serde_json::to_value(summary.auth)?,
        counts: serde_json::to_value(summary.counts)?,
        credits: serde_json::to_value(summary.credits)?,
        projects: serde_json::to_value(summary.projects)?,
        totals: serde_json::to_value(summary.totals)?,
        export,
    })
}

/// What an erase removed, in the upstream's deletion shape
/// (`{success, deletedFromProjects, deletedFromAuth, totalDeleted}`), with
/// this service's per-table counts (`deleted`) and ownership hand-overs
/// (`promotedOwners`) beside it. "Accounts" are password credentials; there
/// are no credits here. Fields in alphabetical order.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    /// Rows removed, per table.
    #[schema(value_type = std::collections::BTreeMap<String, usize>)]
    pub deleted: std::collections::BTreeMap<&'static str, usize>,
    pub deleted_from_auth: DeletedFromAuth,
    pub deleted_from_projects: Vec<DeletedFromProject>,
    /// Members who became owner because the user was a space's last owner.
    #[schema(value_type = Vec<Object>)]
    pub promoted_owners: Vec<crate::users::erase::Promotion>,
    pub success: bool,
    pub total_deleted: usize,
}

/// The upstream's auth part of a deletion.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeletedFromAuth {
    pub accounts: usize,
    /// Always 0: there are no credits here.
    pub credits: u32,
    pub sessions: usize,
    pub user: bool,
}

/// The upstream's per-project part of a deletion (here: the sync data).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedFromProject {
    pub deleted_count: usize,
    pub project_id: &'static str,
    pub project_name: &'static str,
    pub success: bool,
}

/// The deletion answer of an erase.
pub fn deletion_result(erased: Erased) -> Deletion {
    let n = |table: &str| erased.deleted.get(table).copied().unwrap_or(0);
    let (sync, sessions, accounts) = (n("sync_changes"), n("sessions"), n("password_credentials"));
    Deletion {
        deleted_from_auth: DeletedFromAuth {
            accounts,
            credits: 0,
            sessions,
            user: true,
        },
        deleted_from_projects: vec![DeletedFromProject {
            deleted_count: sync,
            project_id: "sync",
            project_name: "Sync-Daten",
            success: true,
        }],
        total_deleted: sync + sessions + accounts + 1,
        success: true,
        deleted: erased.deleted,
        promoted_owners: erased.promoted_owners,
    }
}
