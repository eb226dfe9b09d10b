//! The encryption vault: one random 32-byte master key per user, stored only
//! wrapped — by the server under the KEK (AES-256-GCM, random 12-byte IV per
//! wrap, `kek_id` recorded) and/or by the client with a recovery secret
//! (opaque to the server). In zero-knowledge mode only the client's recovery
//! wrap exists, so the server cannot read the key any more.
//!
//! Without a configured KEK (`MANA_AUTH_KEK`) every action that needs the
//! server wrap answers 503 `SERVICE_UNAVAILABLE` ("vault disabled"); nothing
//! is derived or stored in its place. Production refuses to start without it.
//!
//! Transitions: rotating in zero-knowledge mode → 409 `ZK_ROTATE_FORBIDDEN`;
//! changing or removing the recovery wrap in zero-knowledge mode → 409
//! `ZK_ACTIVE`; zero-knowledge on without a recovery wrap → 400
//! `RECOVERY_WRAP_MISSING`. CHECK constraints in the schema back these up.
//! Every action writes a `vault_audit` row with its outcome: successes in the
//! action's own transaction, failures in a transaction of their own.

pub mod at_rest;
pub mod crypto;
pub mod grant;
pub mod store;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

pub use crypto::Kek;

use crate::audit::ClientInfo;
use crate::clock::iso;
use crate::config::Config;
use crate::db::Db;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};
use crate::users;

/// A vault action, as recorded in `vault_audit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Status,
    Init,
    Key,
    Rotate,
    RecoverySet,
    RecoveryClear,
    ZkOn,
    ZkOff,
    MissionGrant,
}

impl Action {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Init => "init",
            Action::Key => "key",
            Action::Rotate => "rotate",
            Action::RecoverySet => "recovery_set",
            Action::RecoveryClear => "recovery_clear",
            Action::ZkOn => "zk_on",
            Action::ZkOff => "zk_off",
            Action::MissionGrant => "mission_grant",
        }
    }
}

/// What `/status` reports: the upstream's four fields (`vaultExists`,
/// `hasRecoveryWrap`, `zeroKnowledge`, `recoverySetAt`) and more.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// True once `/init` made the vault.
    pub vault_exists: bool,
    pub has_recovery_wrap: bool,
    pub zero_knowledge: bool,
    /// When the current recovery wrap was set; null without one.
    pub recovery_set_at: Option<String>,
    /// False when no KEK is configured (vault disabled).
    pub available: bool,
    /// Same as `vaultExists`.
    pub initialized: bool,
    pub format_version: Option<i64>,
    pub created_at: Option<String>,
    pub rotated_at: Option<String>,
}

/// What `/init`, `/key` and `/rotate` hand out, in one of the upstream's two
/// shapes: `{masterKey, formatVersion, kekId}`, or in zero-knowledge mode
/// `{requiresRecoveryCode: true, recoveryWrappedMk, recoveryIv,
/// formatVersion}`; `zeroKnowledge` rides along in both.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    /// The master key, base64; absent in zero-knowledge mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
    /// The fingerprint of the KEK that wraps the key; absent in
    /// zero-knowledge mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kek_id: Option<String>,
    /// `true` in zero-knowledge mode (the client must unwrap with its
    /// recovery code); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_recovery_code: Option<bool>,
    pub zero_knowledge: bool,
    /// The client-made recovery wrap, base64 (zero-knowledge mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_wrapped_mk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_iv: Option<String>,
    pub format_version: i64,
}

fn disabled() -> ApiError {
    ApiError::new(
        ErrorCode::ServiceUnavailable,
        "vault disabled: set MANA_AUTH_KEK",
    )
}

fn need_kek(kek: Option<&Kek>) -> Result<&Kek> {
    kek.ok_or_else(disabled)
}

fn not_initialized() -> ApiError {
    ApiError::not_found("encryption vault (call /init first)")
}

fn zk_active(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ZkActive,
        format!("zero-knowledge mode is on: turn it off before you {what}"),
    )
}

/// The vault's state (no key material).
pub fn status(conn: &Connection, user_id: &str, kek: Option<&Kek>) -> Result<Status> {
    let row = store::get(conn, user_id)?;
    let has_recovery_wrap = row
        .as_ref()
        .is_some_and(|r| r.recovery_wrapped_mk.is_some());
    Ok(Status {
        vault_exists: row.is_some(),
        has_recovery_wrap,
        zero_knowledge: row.as_ref().is_some_and(|r| r.zero_knowledge),
        recovery_set_at: row
            .as_ref()
            .filter(|_| has_recovery_wrap)
            .and_then(|r| r.recovery_set_at.clone()),
        available: kek.is_some(),
        initialized: row.is_some(),
        format_version: row.as_ref().map(|r| r.format_version),
        created_at: row.as_ref().map(|r| r.created_at.clone()),
        rotated_at: row.and_then(|r| r.rotated_at),
    })
}

fn key_of(row: &store::VaultRow, user_id: &str, kek: Option<&Kek>) -> Result<KeyResponse> {
    if row.zero_knowledge {
        return Ok(KeyResponse {
            master_key: None,
            kek_id: None,
            requires_recovery_code: Some(true),
            zero_knowledge: true,
            recovery_wrapped_mk: row.recovery_wrapped_mk.as_deref().map(|b| B64.encode(b)),
            recovery_iv: row.recovery_iv.as_deref().map(|b| B64.encode(b)),
            format_version: row.format_version,
        });
    }
    let mk = server_master_key(row, user_id, kek)?;
    Ok(KeyResponse {
        master_key: Some(B64.encode(mk)),
        kek_id: kek.map(|k| k.id().to_owned()),
        requires_recovery_code: None,
        zero_knowledge: false,
        recovery_wrapped_mk: None,
        recovery_iv: None,
        format_version: row.format_version,
    })
}

/// The master key of a vault outside zero-knowledge mode, unwrapped with
/// the KEK (wiped from memory when dropped).
pub fn server_master_key(
    row: &store::VaultRow,
    user_id: &str,
    kek: Option<&Kek>,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let kek = need_kek(kek)?;
    let (Some(sealed), Some(iv)) = (&row.wrapped_mk, &row.wrap_iv) else {
        return Err(ApiError::internal(
            "vault without server wrap outside zero-knowledge mode",
        ));
    };
    if row.kek_id.as_deref() != Some(kek.id()) {
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "vault key was wrapped under another MANA_AUTH_KEK",
        ));
    }
    Ok(zeroize::Zeroizing::new(
        kek.unwrap_key(user_id, sealed, iv)?,
    ))
}

/// Creates the vault with a fresh master key, or returns the existing key.
pub fn init(tx: &Tx, user_id: &str, kek: Option<&Kek>, now: DateTime<Utc>) -> Result<KeyResponse> {
    if let Some(row) = store::get(tx, user_id)? {
        return key_of(&row, user_id, kek);
    }
    let kek = need_kek(kek)?;
    let mk = crypto::new_master_key();
    let (sealed, iv) = kek.wrap(user_id, &mk)?;
    store::insert(tx, user_id, &sealed, &iv, kek.id(), &iso(now))?;
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    key_of(&row, user_id, Some(kek))
}

/// The master key (or, in zero-knowledge mode, only the recovery wrap).
pub fn key(conn: &Connection, user_id: &str, kek: Option<&Kek>) -> Result<KeyResponse> {
    let row = store::get(conn, user_id)?.ok_or_else(not_initialized)?;
    key_of(&row, user_id, kek)
}

/// Replaces the master key with a new random one; the recovery wrap of the
/// old key is removed (the client must make a new one).
pub fn rotate(
    tx: &Tx,
    user_id: &str,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<KeyResponse> {
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    if row.zero_knowledge {
        return Err(ApiError::new(
            ErrorCode::ZkRotateForbidden,
            "the server cannot rotate a key it does not hold (zero-knowledge mode)",
        ));
    }
    // Proves the current wrap is readable before replacing it.
    key_of(&row, user_id, kek)?;
    let kek = need_kek(kek)?;
    let mk = crypto::new_master_key();
    let (sealed, iv) = kek.wrap(user_id, &mk)?;
    store::rotate(tx, user_id, &sealed, &iv, kek.id(), &iso(now))?;
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    key_of(&row, user_id, Some(kek))
}

fn decode(field: &str, value: &str, min: usize, max: usize) -> Result<Vec<u8>> {
    let bytes = B64
        .decode(value.trim())
        .map_err(|_| ApiError::validation(format!("{field} must be base64")))?;
    if bytes.len() < min || bytes.len() > max {
        return Err(ApiError::validation(format!(
            "{field} must decode to {min}..{max} bytes"
        )));
    }
    Ok(bytes)
}

/// Stores the client-made recovery wrap (base64 ciphertext and IV).
pub fn set_recovery(
    tx: &Tx,
    user_id: &str,
    wrapped: &str,
    iv: &str,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let wrapped = decode("recoveryWrappedMk", wrapped, 32, 512)?;
    let iv = decode("recoveryIv", iv, 12, 64)?;
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    if row.zero_knowledge {
        return Err(zk_active("replace the recovery wrap"));
    }
    store::set_recovery(tx, user_id, Some((&wrapped, &iv)), &iso(now))?;
    status(tx, user_id, kek)
}

/// Removes the recovery wrap (not in zero-knowledge mode, where it is the
/// only wrap).
pub fn clear_recovery(
    tx: &Tx,
    user_id: &str,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    if row.zero_knowledge {
        return Err(zk_active("remove the recovery wrap"));
    }
    store::set_recovery(tx, user_id, None, &iso(now))?;
    status(tx, user_id, kek)
}

/// Zero-knowledge on (needs the recovery wrap; drops the server wrap) or off
/// (needs the master key back from the client, base64, to wrap it again).
pub fn set_zero_knowledge(
    tx: &Tx,
    user_id: &str,
    enabled: bool,
    master_key: Option<&str>,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let row = store::get(tx, user_id)?.ok_or_else(not_initialized)?;
    if enabled && !row.zero_knowledge {
        if row.recovery_wrapped_mk.is_none() {
            return Err(ApiError::new(
                ErrorCode::RecoveryWrapMissing,
                "set a recovery wrap before turning zero-knowledge mode on",
            ));
        }
        store::zk_on(tx, user_id, &iso(now))?;
    } else if !enabled && row.zero_knowledge {
        let kek = need_kek(kek)?;
        let mk = master_key.ok_or_else(|| {
            ApiError::validation("masterKey (base64) is required to turn zero-knowledge mode off")
        })?;
        let mk = decode(
            "masterKey",
            mk,
            crypto::MASTER_KEY_LEN,
            crypto::MASTER_KEY_LEN,
        )?;
        let (sealed, iv) = kek.wrap(user_id, &mk)?;
        store::zk_off(tx, user_id, &sealed, &iv, kek.id(), &iso(now))?;
    }
    status(tx, user_id, kek)
}

/// Runs one vault action in a write transaction and audits it: a success row
/// in the same transaction, a failure row (with the error code) in its own.
pub async fn run<T, F>(
    db: &Db,
    config: &Config,
    user_id: String,
    action: Action,
    client: ClientInfo,
    f: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Tx, &str, Option<&Kek>, DateTime<Utc>) -> Result<T> + Send + 'static,
{
    let kek = Kek::from_config(config);
    let (uid, who) = (user_id.clone(), client.clone());
    let outcome = db
        .write(move |tx, now| {
            users::store::by_id(tx, &uid)?.ok_or_else(ApiError::unauthorized)?;
            let value = f(tx, &uid, kek.as_ref(), now)?;
            store::audit(tx, &uid, action.as_str(), "success", None, &who, &iso(now))?;
            Ok(value)
        })
        .await;
    if let Err(e) = &outcome {
        let code = e.code.as_str();
        let audited = db
            .write(move |tx, now| {
                store::audit(
                    tx,
                    &user_id,
                    action.as_str(),
                    "failure",
                    Some(code),
                    &client,
                    &iso(now),
                )
            })
            .await;
        if audited.is_err() {
            tracing::warn!(
                action = action.as_str(),
                "could not audit a failed vault action"
            );
        }
    }
    outcome
}
