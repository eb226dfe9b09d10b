//! Server secrets at rest: the Ed25519 signing keys (`jwt_keys.private_der`),
//! the TOTP secrets (`two_factor_secrets.secret`) and the server's own
//! random keys (`server_secrets.value`). With `MANA_AUTH_KEK`
//! set they are stored sealed (AES-256-GCM, `IV ‖ ciphertext ‖ tag`, the row
//! named as associated data) and the row's `kek_id` holds the KEK's
//! fingerprint; `kek_id IS NULL` means clear bytes (a server without a KEK).
//!
//! Start-up (`prepare`, also run by `keys rotate`) checks that every sealed
//! row was sealed under the configured KEK — a missing or different KEK is
//! an error naming the fingerprints, never a reason to make a new signing
//! key — and seals the clear rows left from a start without a KEK, in one
//! transaction. The writer connection runs with `secure_delete`, so the old
//! cells are zeroed, and the caller then checkpoints and truncates the WAL,
//! so no earlier page image with a clear secret is left in either file.

use rusqlite::{params, OptionalExtension};

use super::Kek;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};

/// The sealed secrets: (table, key column, secret column).
const TABLES: [(&str, &str, &str); 3] = [
    ("jwt_keys", "kid", "private_der"),
    ("two_factor_secrets", "user_id", "secret"),
    ("server_secrets", "name", "value"),
];

/// Associated data of a row's secret: table and key, so a sealed value
/// cannot be moved to another row or table.
pub fn aad(table: &str, key: &str) -> String {
    format!("{table}:{key}")
}

/// The stored form of a secret: sealed under `kek` (with its fingerprint),
/// else clear (no KEK configured).
pub fn seal(kek: Option<&Kek>, aad: &str, clear: &[u8]) -> Result<(Vec<u8>, Option<String>)> {
    match kek {
        Some(kek) => Ok((kek.seal(aad, clear)?, Some(kek.id().to_owned()))),
        None => Ok((clear.to_vec(), None)),
    }
}

/// The clear secret of a stored value.
pub fn open(kek: Option<&Kek>, aad: &str, stored: &[u8], kek_id: Option<&str>) -> Result<Vec<u8>> {
    let Some(sealed_under) = kek_id else {
        return Ok(stored.to_vec());
    };
    match kek {
        Some(kek) if kek.id() == sealed_under => kek.open(aad, stored),
        Some(kek) => Err(unavailable(wrong_kek(sealed_under, kek))),
        None => Err(unavailable(missing_kek(sealed_under))),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(ErrorCode::ServiceUnavailable, message)
}

fn missing_kek(sealed_under: &str) -> String {
    format!(
        "the signing keys and two-factor secrets are wrapped under the KEK with fingerprint \
         {sealed_under}, but MANA_AUTH_KEK is not set: set it to that key (a new signing key \
         is never made in place of a wrapped one)"
    )
}

fn wrong_kek(sealed_under: &str, kek: &Kek) -> String {
    format!(
        "the signing keys and two-factor secrets are wrapped under the KEK with fingerprint \
         {sealed_under}, but MANA_AUTH_KEK is another key (fingerprint {}): set it to the \
         key they were wrapped under",
        kek.id()
    )
}

/// Checks the sealed rows against `kek` and seals the clear ones under it;
/// returns how many rows it sealed. Errors (a missing or different KEK)
/// name the fingerprints only.
pub fn prepare(tx: &Tx, kek: Option<&Kek>) -> Result<usize> {
    for (table, _, _) in TABLES {
        let mut stmt = tx.prepare(&format!(
            "SELECT DISTINCT kek_id FROM {table} WHERE kek_id IS NOT NULL"
        ))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for id in ids {
            match kek {
                None => return Err(unavailable(missing_kek(&id))),
                Some(k) if k.id() != id => return Err(unavailable(wrong_kek(&id, k))),
                Some(_) => {}
            }
        }
    }
    let Some(kek) = kek else {
        return Ok(0);
    };
    let mut sealed = 0;
    for (table, key, secret) in TABLES {
        let clear: Vec<(String, Vec<u8>)> = tx
            .prepare(&format!(
                "SELECT {key}, {secret} FROM {table} WHERE kek_id IS NULL"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut update = tx.prepare(&format!(
            "UPDATE {table} SET {secret} = ?2, kek_id = ?3 WHERE {key} = ?1 AND kek_id IS NULL"
        ))?;
        for (id, bytes) in clear {
            let wrapped = kek.seal(&aad(table, &id), &bytes)?;
            sealed += update.execute(params![id, wrapped, kek.id()])?;
        }
    }
    Ok(sealed)
}

/// A named random 32-byte server secret (e.g. the key of the passkey decoy
/// lists), made on first use and stored like the other secrets: sealed
/// under `kek` when there is one.
pub fn server_secret(tx: &Tx, name: &str, kek: Option<&Kek>, now: &str) -> Result<[u8; 32]> {
    let stored: Option<(Vec<u8>, Option<String>)> = tx
        .prepare_cached("SELECT value, kek_id FROM server_secrets WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let clear = match stored {
        Some((value, kek_id)) => {
            open(kek, &aad("server_secrets", name), &value, kek_id.as_deref())?
        }
        None => {
            let mut fresh = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
            let (value, kek_id) = seal(kek, &aad("server_secrets", name), &fresh)?;
            tx.prepare_cached(
                "INSERT INTO server_secrets (name, value, kek_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, value, kek_id, now])?;
            fresh.to_vec()
        }
    };
    clear
        .try_into()
        .map_err(|_| ApiError::internal(format!("server secret {name} is not 32 bytes")))
}
