//! What the service holds about a user: a summary of counts and the full
//! export. The export is every row about the user and never a secret: no
//! password hash, no session token hash, no API key hash, no vault wrap or
//! key material (the vault appears only as its status), no TOTP secret or
//! backup code hash (two-factor appears as its state and code counts).

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::{require_user, store};
use crate::clock::iso;
use crate::error::Result;
use crate::{api_keys, audit, settings, spaces, vault};

/// Counts of everything stored about the user.
pub fn summary(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<Value> {
    let user = require_user(conn, user_id)?;
    let active_sessions: i64 = conn
        .prepare_cached("SELECT count(*) FROM sessions WHERE user_id = ?1 AND expires_at > ?2")?
        .query_row([user_id, &iso(now)], |r| r.get(0))?;
    let sync: Map<String, Value> = store::sync_counts(conn, user_id)?
        .into_iter()
        .map(|(app, n)| (app, json!(n)))
        .collect();
    let sync_total: i64 = sync.values().filter_map(Value::as_i64).sum();
    let vault = vault::status(conn, user_id, None)?;
    Ok(json!({
        "user": { "id": user.id, "email": user.email, "name": user.name, "createdAt": user.created_at },
        "counts": {
            "sessions": active_sessions,
            "passkeys": store::count_where(conn, "passkeys", "user_id", user_id)?,
            "apiKeys": api_keys::store::active_count(conn, user_id)?,
            "spaces": store::count_where(conn, "space_members", "user_id", user_id)?,
            "syncChanges": sync_total,
            "syncChangesByApp": sync,
            "securityEvents": store::count_where(conn, "security_events", "user_id", user_id)?,
            "appSettings": store::count_where(conn, "user_app_settings", "user_id", user_id)?,
            "devices": store::count_where(conn, "user_devices", "user_id", user_id)?,
        },
        "encryptionVault": { "initialized": vault.initialized, "zeroKnowledge": vault.zero_knowledge },
    }))
}

/// The full export of the user's data.
pub fn export(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<Value> {
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
    Ok(json!({
        "exportedAt": iso(now),
        "formatVersion": 1,
        "user": user,
        "hasPassword": has_password,
        "sessions": store::sessions(conn, user_id)?,
        "spaces": spaces::store::spaces_of(conn, user_id)?,
        "invitations": store::invitations(conn, user_id, &user.email)?,
        "settings": settings,
        "apiKeys": api_keys::store::all(conn, user_id)?,
        // Name, counter, flags and dates; never the public key blob.
        "passkeys": crate::passkeys::store::list(conn, user_id)?,
        "twoFactor": crate::auth::two_factor::export(conn, user_id)?,
        "encryptionVault": {
            "initialized": vault.initialized,
            "zeroKnowledge": vault.zero_knowledge,
            "hasRecoveryWrap": vault.has_recovery_wrap,
            "createdAt": vault.created_at,
            "rotatedAt": vault.rotated_at,
        },
        "vaultAudit": store::vault_audit(conn, user_id)?,
        "securityEvents": audit::recent(conn, user_id, u32::MAX)?,
        "loginFailures": store::login_failures(conn, &user.email)?,
        "syncChanges": store::sync_changes(conn, user_id)?,
    }))
}
