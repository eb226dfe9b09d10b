//! SQL for passkeys. The webauthn-rs `Passkey` is stored as JSON; the
//! counter and backup flags are copied into columns for display.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use webauthn_rs::prelude::Passkey;

use crate::db::Tx;
use crate::error::{ApiError, Result};

/// A passkey as its owner sees it (no key material).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub credential_id: String,
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub transports: Value,
    pub aaguid: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// base64url of a credential id.
pub fn encode_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

struct Flags {
    counter: i64,
    backup_eligible: bool,
    backup_state: bool,
}

fn flags(passkey: &Passkey) -> Result<(String, Flags)> {
    let json = serde_json::to_value(passkey)?;
    let cred = &json["cred"];
    let flags = Flags {
        counter: cred["counter"].as_i64().unwrap_or(0),
        backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: cred["backup_state"].as_bool().unwrap_or(false),
    };
    Ok((json.to_string(), flags))
}

/// Stores a new passkey.
pub fn insert(
    tx: &Tx,
    id: &str,
    user_id: &str,
    passkey: &Passkey,
    name: &str,
    transports: Option<Value>,
    now: &str,
) -> Result<()> {
    let (json, f) = flags(passkey)?;
    tx.prepare_cached(
        "INSERT INTO passkeys (id, user_id, credential_id, credential, counter, backup_eligible, backup_state, \
         transports, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        user_id,
        encode_id(passkey.cred_id().as_ref()),
        json,
        f.counter,
        f.backup_eligible,
        f.backup_state,
        transports.map(|t| t.to_string()),
        name,
        now
    ])
    .map_err(|e| {
        crate::error::on_constraint(e, |m| {
            m.contains("passkeys.credential_id")
                .then(|| ApiError::new(crate::error::ErrorCode::Conflict, "this passkey is already registered"))
        })
    })?;
    Ok(())
}

/// The passkeys of a user.
pub fn list(conn: &Connection, user_id: &str) -> Result<Vec<PasskeyInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, credential_id, counter, backup_eligible, backup_state, transports, aaguid, created_at, \
         last_used_at FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            let transports: Option<String> = r.get(6)?;
            Ok(PasskeyInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                credential_id: r.get(2)?,
                counter: r.get(3)?,
                backup_eligible: r.get(4)?,
                backup_state: r.get(5)?,
                transports: transports
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null),
                aaguid: r.get(7)?,
                created_at: r.get(8)?,
                last_used_at: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn parse(json: &str) -> Result<Passkey> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::internal(format!("stored passkey unreadable: {e}")))
}

/// The stored credentials of a user.
pub fn credentials_of(conn: &Connection, user_id: &str) -> Result<Vec<Passkey>> {
    let mut stmt = conn.prepare_cached("SELECT credential FROM passkeys WHERE user_id = ?1")?;
    let rows = stmt
        .query_map([user_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.iter().map(|j| parse(j)).collect()
}

/// A passkey by credential id: (row id, user id, credential).
pub fn by_credential_id(
    conn: &Connection,
    credential_id: &str,
) -> Result<Option<(String, String, Passkey)>> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached("SELECT id, user_id, credential FROM passkeys WHERE credential_id = ?1")?
        .query_row([credential_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(id, user, json)| Ok((id, user, parse(&json)?)))
        .transpose()
}

/// Stores the credential after a successful sign-in (new counter, flags),
/// as a compare-and-set on the counter: only while the stored counter is
/// below the new one (or both are 0, an authenticator without a counter).
/// False when another sign-in with the same or a higher counter got there
/// first — the caller refuses this one.
pub fn update_after_use(tx: &Tx, id: &str, passkey: &Passkey, now: &str) -> Result<bool> {
    let (json, f) = flags(passkey)?;
    Ok(tx
        .prepare_cached(
            "UPDATE passkeys SET credential = ?2, counter = ?3, backup_eligible = ?4, backup_state = ?5, \
             last_used_at = ?6 WHERE id = ?1 AND (counter < ?3 OR (?3 = 0 AND counter = 0))",
        )?
        .execute(params![id, json, f.counter, f.backup_eligible, f.backup_state, now])?
        == 1)
}

/// Records the authenticator model (AAGUID) of a passkey.
pub fn set_aaguid(tx: &Tx, id: &str, aaguid: &str) -> Result<()> {
    tx.prepare_cached("UPDATE passkeys SET aaguid = ?2 WHERE id = ?1")?
        .execute(params![id, aaguid])?;
    Ok(())
}

/// Renames a passkey of the user; false when it is not theirs.
pub fn rename(tx: &Tx, user_id: &str, id: &str, name: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2")?
        .execute(params![id, user_id, name])?
        == 1)
}

/// Deletes a passkey of the user; false when it is not theirs.
pub fn delete(tx: &Tx, user_id: &str, id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2")?
        .execute(params![id, user_id])?
        == 1)
}
