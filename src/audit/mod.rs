//! Security events: what happened to an account, with ip and user agent,
//! written in the same transaction as the change they describe.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::db::Tx;
use crate::error::Result;

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The `Accept-Language` header, for mail sent by the request.
    pub accept_language: Option<String>,
    /// The client's network as limits and the lockout count it: an IPv4
    /// address, or an IPv6 prefix (`RATE_LIMIT_IPV6_PREFIX`, /64).
    pub network: Option<String>,
}

/// Event types of SPEC §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Register,
    LoginSuccess,
    LoginFailure,
    Logout,
    PasswordChanged,
    /// A Better Auth scrypt hash was replaced by argon2id at sign-in.
    PasswordRehashed,
    AccountLocked,
    ProfileUpdated,
    SessionRevoked,
    /// A replaced refresh token was presented again: its session ended.
    RefreshTokenReused,
    OrgCreated,
    OrgDeleted,
    PasswordResetRequested,
    PasswordResetCompleted,
    EmailVerified,
    EmailChangeRequested,
    MagicLinkRequested,
    AccountDeleted,
    PasskeyRegistered,
    PasskeyDeleted,
    PasskeyLoginSuccess,
    PasskeyLoginFailure,
    ApiKeyCreated,
    ApiKeyRevoked,
    AdminTierChanged,
    AdminRoleChanged,
    AdminUserLocked,
    AdminUserUnlocked,
    AdminSessionsRevoked,
    AdminDataViewed,
    AdminDataErased,
    AdminUserCreated,
    AdminPasswordReset,
    AdminPersonaSaved,
    TwoFactorEnabled,
    TwoFactorDisabled,
    /// An address never verified was proven by a password-less way in
    /// (magic link, reset): what was set up before the proof was removed.
    UnverifiedAccountClaimed,
    BackupCreated,
    /// A new session pushed the user's oldest beyond the per-user cap.
    SessionsEndedByLimit,
}

impl Event {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Register => "REGISTER",
            Event::LoginSuccess => "LOGIN_SUCCESS",
            Event::LoginFailure => "LOGIN_FAILURE",
            Event::Logout => "LOGOUT",
            Event::PasswordChanged => "PASSWORD_CHANGED",
            Event::PasswordRehashed => "PASSWORD_REHASHED",
            Event::AccountLocked => "ACCOUNT_LOCKED",
            Event::ProfileUpdated => "PROFILE_UPDATED",
            Event::SessionRevoked => "SESSION_REVOKED",
            Event::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Event::OrgCreated => "ORG_CREATED",
            Event::OrgDeleted => "ORG_DELETED",
            Event::PasswordResetRequested => "PASSWORD_RESET_REQUESTED",
            Event::PasswordResetCompleted => "PASSWORD_RESET_COMPLETED",
            Event::EmailVerified => "EMAIL_VERIFIED",
            Event::EmailChangeRequested => "EMAIL_CHANGE_REQUESTED",
            Event::MagicLinkRequested => "MAGIC_LINK_REQUESTED",
            Event::AccountDeleted => "ACCOUNT_DELETED",
            Event::PasskeyRegistered => "PASSKEY_REGISTERED",
            Event::PasskeyDeleted => "PASSKEY_DELETED",
            Event::PasskeyLoginSuccess => "PASSKEY_LOGIN_SUCCESS",
            Event::PasskeyLoginFailure => "PASSKEY_LOGIN_FAILURE",
            Event::ApiKeyCreated => "API_KEY_CREATED",
            Event::ApiKeyRevoked => "API_KEY_REVOKED",
            Event::AdminTierChanged => "ADMIN_TIER_CHANGED",
            Event::AdminRoleChanged => "ADMIN_ROLE_CHANGED",
            Event::AdminUserLocked => "ADMIN_USER_LOCKED",
            Event::AdminUserUnlocked => "ADMIN_USER_UNLOCKED",
            Event::AdminSessionsRevoked => "ADMIN_SESSIONS_REVOKED",
            Event::AdminDataViewed => "ADMIN_DATA_VIEWED",
            Event::AdminDataErased => "ADMIN_DATA_ERASED",
            Event::AdminUserCreated => "ADMIN_USER_CREATED",
            Event::AdminPasswordReset => "ADMIN_PASSWORD_RESET",
            Event::AdminPersonaSaved => "ADMIN_PERSONA_SAVED",
            Event::TwoFactorEnabled => "TWO_FACTOR_ENABLED",
            Event::TwoFactorDisabled => "TWO_FACTOR_DISABLED",
            Event::UnverifiedAccountClaimed => "UNVERIFIED_ACCOUNT_CLAIMED",
            Event::BackupCreated => "BACKUP_CREATED",
            Event::SessionsEndedByLimit => "SESSIONS_ENDED_BY_LIMIT",
        }
    }
}

/// Writes one event.
pub fn record(
    tx: &Tx,
    user_id: Option<&str>,
    event: Event,
    client: &ClientInfo,
    metadata: serde_json::Value,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO security_events (id, user_id, event_type, ip, user_agent, metadata, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        user_id,
        event.as_str(),
        client.ip,
        client.user_agent,
        metadata.to_string(),
        now
    ])?;
    Ok(())
}

/// An event brought over by `mana-auth import`, as the source stored it
/// (its type may be one this server does not write).
pub struct Imported<'a> {
    pub user_id: Option<&'a str>,
    pub event_type: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// JSON text.
    pub metadata: &'a str,
    pub created_at: &'a str,
}

/// Writes an imported event.
pub fn record_imported(tx: &Tx, e: &Imported<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO security_events (id, user_id, event_type, ip, user_agent, metadata, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        uuid::Uuid::new_v4().to_string(),
        e.user_id,
        e.event_type,
        e.ip,
        e.user_agent,
        e.metadata,
        e.created_at
    ])?;
    Ok(())
}

/// A stored event as sent to its user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    pub id: String,
    pub event_type: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: serde_json::Value,
    pub created_at: String,
}

/// The newest `limit` events of a user.
pub fn recent(conn: &Connection, user_id: &str, limit: u32) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, event_type, ip, user_agent, metadata, created_at FROM security_events \
         WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![user_id, limit], |r| {
            let meta: String = r.get(4)?;
            Ok(EventRow {
                id: r.get(0)?,
                event_type: r.get(1)?,
                ip_address: r.get(2)?,
                user_agent: r.get(3)?,
                metadata: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
                created_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
