//! API keys: `sk_live_` + 64 hex characters, shown once at creation; only
//! the SHA-256 is stored, with a short prefix for display. Keys carry scopes;
//! `validate` answers whether a key is live and, optionally, holds a scope.
//!
//! A key without scopes authenticates its user but grants no scope; `*` in
//! the list grants every scope.

pub mod store;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, ClientInfo, Event};
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, Result};

/// Prefix of every key.
pub const KEY_PREFIX: &str = "sk_live_";
/// Characters of a key kept for display (`sk_live_` and 4 hex).
pub const DISPLAY_LEN: usize = 12;
/// Active keys per user.
pub const MAX_KEYS: u32 = 100;
/// Revoked keys kept per user (the newest; older rows are deleted, and a
/// deleted key then validates as `invalid` instead of `revoked`).
pub const MAX_REVOKED_KEPT: u32 = 20;
/// `last_used_at` is written at most this often per key, so validation
/// stays a read almost always.
pub const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);
/// The per-key request budget callers are told (`rateLimit.requests` per
/// `rateLimit.window` seconds), the upstream's fixed values. Enforcing it
/// is the calling service's job, as it was upstream.
pub const RATE_LIMIT_REQUESTS: u32 = 60;
/// Window of `RATE_LIMIT_REQUESTS`, in seconds.
pub const RATE_LIMIT_WINDOW: u32 = 60;

/// A key as listed: never the key, never its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the key, for recognising it.
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Always `RATE_LIMIT_REQUESTS`.
    pub rate_limit_requests: u32,
    /// Always `RATE_LIMIT_WINDOW`.
    pub rate_limit_window: u32,
}

/// A freshly created key: the one time the key itself is sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    pub user_id: String,
    pub key: String,
}

/// `rateLimit` of a valid key.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RateLimit {
    pub requests: u32,
    /// Seconds.
    pub window: u32,
}

/// The answer of `validate`.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Why a key is not valid, for humans (the Python callers log it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// The key to touch (`last_used_at`), never sent.
    #[serde(skip)]
    pub touch: Option<String>,
}

impl Validation {
    /// Not valid, with a reason (`missing`, `malformed`, `invalid`,
    /// `revoked`, `scope_denied`).
    pub fn invalid(reason: &'static str) -> Self {
        let error = match reason {
            "scope_denied" => "the API key does not have this scope",
            "revoked" => "the API key was revoked",
            "missing" => "apiKey is required",
            _ => "invalid API key",
        };
        Self {
            valid: false,
            user_id: None,
            scopes: None,
            rate_limit: None,
            reason: Some(reason),
            error: Some(error),
            touch: None,
        }
    }
}

/// SHA-256 of a key, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

fn well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks, sorts and de-duplicates scopes (at most 32, each 1..64 of
/// letters, digits, `- _ . : *`).
pub fn check_scopes(scopes: Option<Vec<String>>) -> Result<Vec<String>> {
    let mut scopes = scopes.unwrap_or_default();
    if scopes.len() > 32 {
        return Err(ApiError::validation("at most 32 scopes per key"));
    }
    for s in &scopes {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:*".contains(&b));
        if !ok {
            return Err(ApiError::validation(
                "scopes are 1..64 characters of letters, digits, - _ . : *",
            ));
        }
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Creates a key for a user; the returned key is never stored.
pub fn create(
    tx: &Tx,
    user_id: &str,
    name: &str,
    scopes: Option<Vec<String>>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<CreatedKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation("name must be 1..100 characters"));
    }
    let scopes = check_scopes(scopes)?;
    if store::active_count(tx, user_id)? >= MAX_KEYS {
        return Err(ApiError::validation(format!(
            "at most {MAX_KEYS} active keys; revoke one first"
        )));
    }
    let key = new_key();
    let api_key = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        key_prefix: key.chars().take(DISPLAY_LEN).collect(),
        scopes,
        created_at: iso(now),
        last_used_at: None,
        revoked_at: None,
        rate_limit_requests: RATE_LIMIT_REQUESTS,
        rate_limit_window: RATE_LIMIT_WINDOW,
    };
    store::insert(tx, user_id, &api_key, &hash_key(&key))?;
    let meta = json!({ "keyId": api_key.id, "name": api_key.name, "scopes": api_key.scopes });
    audit::record(
        tx,
        Some(user_id),
        Event::ApiKeyCreated,
        client,
        meta,
        &iso(now),
    )?;
    Ok(CreatedKey {
        api_key,
        user_id: user_id.to_owned(),
        key,
    })
}

/// `create` behind the step-up rule (`auth::reauth::step_up`): a key
/// outlives every session, so an old session must show the password.
pub async fn create_stepped(
    state: &crate::auth::Services,
    caller: &crate::auth::caller::Caller,
    name: String,
    scopes: Option<Vec<String>>,
    password: Option<String>,
    client: ClientInfo,
) -> Result<CreatedKey> {
    crate::auth::reauth::step_up(state, caller, password, &client).await?;
    let user_id = caller.user.id.clone();
    state
        .db
        .write(move |tx, now| {
            crate::users::require_user(tx, &user_id)?;
            create(tx, &user_id, &name, scopes, &client, now)
        })
        .await
}

/// Revokes one of the user's live keys; 404 for unknown, foreign or revoked.
pub fn revoke(
    tx: &Tx,
    user_id: &str,
    key_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<()> {
    if !store::revoke(tx, user_id, key_id, &iso(now))? {
        return Err(ApiError::not_found("api key"));
    }
    store::prune_revoked(tx, user_id, MAX_REVOKED_KEPT)?;
    let meta = json!({ "keyId": key_id });
    audit::record(
        tx,
        Some(user_id),
        Event::ApiKeyRevoked,
        client,
        meta,
        &iso(now),
    )
}

/// Checks a key (and optionally a scope). Reasons: `malformed`, `invalid`
/// (unknown), `revoked`, `locked` (its user is locked by an administrator,
/// for as long as the lock holds), `scope_denied`. Read-only; `touch` names the key
/// whose `last_used_at` is older than `LAST_USED_RESOLUTION`.
pub fn validate(
    conn: &Connection,
    key: &str,
    scope: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Validation> {
    if !well_formed(key) {
        return Ok(Validation::invalid("malformed"));
    }
    let Some(found) = store::by_hash(conn, &hash_key(key))? else {
        return Ok(Validation::invalid("invalid"));
    };
    if found.key.revoked_at.is_some() {
        return Ok(Validation::invalid("revoked"));
    }
    if crate::users::lock_of(conn, &found.user_id)?.is_some() {
        return Ok(Validation::invalid("locked"));
    }
    let scopes = found.key.scopes;
    if let Some(scope) = scope {
        if !scopes.iter().any(|s| s == scope || s == "*") {
            return Ok(Validation::invalid("scope_denied"));
        }
    }
    let stale = found
        .key
        .last_used_at
        .as_deref()
        .and_then(parse_iso)
        .is_none_or(|t| now - t >= LAST_USED_RESOLUTION);
    Ok(Validation {
        valid: true,
        user_id: Some(found.user_id),
        scopes: Some(scopes),
        rate_limit: Some(RateLimit {
            requests: RATE_LIMIT_REQUESTS,
            window: RATE_LIMIT_WINDOW,
        }),
        reason: None,
        error: None,
        touch: stale.then_some(found.key.id),
    })
}

/// Sets `last_used_at` unless a newer value is already stored.
pub fn touch(tx: &Tx, key_id: &str, now: DateTime<Utc>) -> Result<()> {
    store::touch(tx, key_id, &iso(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let k = new_key();
        assert!(well_formed(&k), "{k}");
        assert_eq!(k.len(), 8 + 64);
        assert!(!well_formed("sk_live_xyz"));
        assert!(!well_formed(&k.to_uppercase()));
        assert_ne!(hash_key(&k), k);
    }

    #[test]
    fn scopes_are_checked_and_deduplicated() {
        let s = check_scopes(Some(vec!["b:read".into(), "a".into(), "a".into()])).unwrap();
        assert_eq!(s, vec!["a", "b:read"]);
        assert!(check_scopes(Some(vec!["bad scope".into()])).is_err());
        assert!(check_scopes(None).unwrap().is_empty());
    }
}
