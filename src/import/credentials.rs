//! What hangs off an account: passkeys, two-factor secrets and backup
//! codes, API keys, settings, the encryption vault and security events,
//! each written through its domain module.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::convert::{self, api_key_prefix, api_key_scopes};
use super::secrets::{better_auth_decrypt, unwrap_vault_key, UnwrapError};
use super::source::{Source, VaultAccess};
use super::users::clean_name;
use super::{at, Ctx};
use crate::api_keys::{self, ApiKey};
use crate::audit;
use crate::auth::two_factor::{self, totp};
use crate::error::Result;
use crate::passkeys::store as passkeys_store;
use crate::settings::store as settings_store;
use crate::vault::store::{self as vault_store, VaultRow};

/// Passkeys of imported users, ids kept; the public key becomes the
/// credential webauthn-rs verifies assertions with.
pub fn passkeys(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("passkeys");
    let mut seen = HashSet::new();
    for p in &src.passkeys {
        if !ctx.users.contains_key(&p.user_id) {
            ctx.report
                .refuse("passkeys", &p.id, "its user was not imported");
            continue;
        }
        let imported = match convert::passkey(
            &p.credential_id,
            &p.public_key,
            p.counter,
            &p.device_type,
            p.backed_up,
            p.transports.as_deref(),
        ) {
            Ok(k) => k,
            Err(why) => {
                ctx.report.refuse("passkeys", &p.id, why);
                continue;
            }
        };
        let cred_id = passkeys_store::encode_id(imported.passkey.cred_id().as_ref());
        if !seen.insert(cred_id) {
            ctx.report
                .refuse("passkeys", &p.id, "the same credential id again");
            continue;
        }
        let name = match clean_name(p.name.as_deref().unwrap_or("")) {
            n if n.is_empty() => "Passkey".to_owned(),
            n => n,
        };
        passkeys_store::insert(
            ctx.tx,
            &p.id,
            &p.user_id,
            &imported.passkey,
            &name,
            imported.transports,
            &p.created_at,
        )
        .map_err(at("passkeys", &p.id))?;
        if let Some(aaguid) = p
            .aaguid
            .as_deref()
            .filter(|a| !a.is_empty() && a.len() <= 64)
        {
            passkeys_store::set_aaguid(ctx.tx, &p.id, aaguid)?;
        }
        if let Some(at) = &p.last_used_at {
            passkeys_store::update_after_use(ctx.tx, &p.id, &imported.passkey, at)?;
        }
        ctx.report.imported("passkeys");
    }
    Ok(())
}

/// Backup codes as Better Auth stored them: an encrypted JSON list (or, with
/// `storeBackupCodes: "plain"`, the list itself); each hashed as this
/// server keeps them.
fn backup_code_hashes(ctx: &Ctx<'_>, user_id: &str, stored: &str) -> Option<Vec<String>> {
    let json = ctx
        .keys
        .source_secret
        .as_ref()
        .and_then(|s| better_auth_decrypt(s, stored))
        .unwrap_or_else(|| stored.to_owned());
    let codes: Vec<String> = serde_json::from_str(&json).ok()?;
    Some(
        codes
            .iter()
            .filter_map(|c| totp::parse_backup_code(c).ok())
            .map(|c| totp::hash_backup_code(user_id, &c))
            .collect(),
    )
}

/// TOTP secrets of users with two-factor on: the decrypted 32-character
/// string's bytes are the key. A secret that cannot be opened fails the
/// whole run (collected in `ctx.unopened_two_factor`).
pub fn two_factor(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("two_factor_auth");
    let rows: HashMap<&str, &super::source::TwoFactor> = src
        .two_factor
        .iter()
        .map(|r| (r.user_id.as_str(), r))
        .collect();
    let mut on: Vec<&str> = src
        .users
        .iter()
        .filter(|u| u.two_factor_enabled && ctx.users.contains_key(&u.id))
        .map(|u| u.id.as_str())
        .collect();
    on.sort_unstable();
    for user_id in &on {
        let Some(row) = rows.get(user_id) else {
            ctx.report.notes.push(format!(
                "users {user_id}: two-factor was on without a stored secret; imported with it off"
            ));
            continue;
        };
        let secret = ctx
            .keys
            .source_secret
            .as_ref()
            .and_then(|s| better_auth_decrypt(s, &row.secret))
            .filter(|s| (16..=64).contains(&s.len()));
        let Some(secret) = secret else {
            ctx.unopened_two_factor.push((*user_id).to_owned());
            continue;
        };
        let Some(hashes) = backup_code_hashes(ctx, user_id, &row.backup_codes) else {
            ctx.unopened_two_factor.push((*user_id).to_owned());
            continue;
        };
        let since = row.enabled_at.as_deref().unwrap_or(&row.created_at);
        let kek = ctx.keys.target_kek.as_ref();
        two_factor::import_confirmed(ctx.tx, user_id, secret.as_bytes(), &hashes, kek, since)
            .map_err(at("two_factor_auth", user_id))?;
        if let Some(user) = ctx.users.get_mut(*user_id) {
            user.two_factor_enabled = true;
        }
        ctx.report.imported("two_factor_auth");
    }
    for row in &src.two_factor {
        if !on.contains(&row.user_id.as_str()) {
            let why = if ctx.users.contains_key(&row.user_id) {
                "two-factor was never turned on (an unfinished setup)"
            } else {
                "its user was not imported"
            };
            ctx.report.refuse("two_factor_auth", &row.user_id, why);
        }
    }
    Ok(())
}

/// API keys, ids and hashes kept (the keys themselves were never stored);
/// revoked ones stay revoked.
pub fn api_keys(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("api_keys");
    let mut hashes = HashSet::new();
    for k in &src.api_keys {
        let hash = k.key_hash.to_ascii_lowercase();
        let scopes = api_key_scopes(&k.scopes);
        let name = clean_name(&k.name).chars().take(100).collect::<String>();
        let why = if !ctx.users.contains_key(&k.user_id) {
            Some("its user was not imported".to_owned())
        } else if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some("key hash is not a SHA-256 in hex".to_owned())
        } else if !hashes.insert(hash.clone()) {
            Some("the same key hash again".to_owned())
        } else {
            scopes.as_ref().err().cloned()
        };
        if let Some(why) = why {
            ctx.report.refuse("api_keys", &k.id, why);
            continue;
        }
        let key = ApiKey {
            id: k.id.clone(),
            name: if name.is_empty() {
                "API key".into()
            } else {
                name
            },
            key_prefix: api_key_prefix(&k.key_prefix),
            scopes: scopes.unwrap_or_default(),
            created_at: k.created_at.clone(),
            last_used_at: k.last_used_at.clone(),
            revoked_at: k.revoked_at.clone(),
            rate_limit_requests: api_keys::RATE_LIMIT_REQUESTS,
            rate_limit_window: api_keys::RATE_LIMIT_WINDOW,
        };
        api_keys::store::insert(ctx.tx, &k.user_id, &key, &hash).map_err(at("api_keys", &k.id))?;
        ctx.report.imported("api_keys");
    }
    Ok(())
}

/// Settings: the global document, app overrides and per-device documents.
pub fn settings(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("user_settings");
    for s in &src.settings {
        if !ctx.users.contains_key(&s.user_id) {
            ctx.report
                .refuse("user_settings", &s.user_id, "its user was not imported");
            continue;
        }
        let parts = convert::settings(&s.global, &s.apps, &s.devices);
        let at = &s.updated_at;
        let fits = |doc: &serde_json::Map<String, serde_json::Value>| {
            let text = serde_json::Value::Object(doc.clone()).to_string();
            (text.len() <= 65_536).then_some(text)
        };
        let Some(global) = fits(&parts.global) else {
            ctx.report.refuse(
                "user_settings",
                &s.user_id,
                "global settings larger than 64 KiB",
            );
            continue;
        };
        settings_store::put_global(ctx.tx, &s.user_id, &global, at)
            .map_err(super::at("user_settings", &s.user_id))?;
        for (app, doc) in &parts.apps {
            match fits(doc) {
                Some(text) => settings_store::put_app(ctx.tx, &s.user_id, app, &text, at)?,
                None => parts_note(ctx, &s.user_id, &format!("app {app:?} larger than 64 KiB")),
            }
        }
        for d in &parts.devices {
            let seen = d.last_seen.as_deref().unwrap_or(at);
            let (name, kind) = (d.name.as_deref(), d.kind.as_deref());
            settings_store::upsert_device(ctx.tx, &s.user_id, &d.id, name, kind, seen)?;
            for (app, doc) in &d.apps {
                match fits(doc) {
                    Some(text) => {
                        settings_store::put_device_app(ctx.tx, &s.user_id, &d.id, app, &text, at)?
                    }
                    None => parts_note(ctx, &s.user_id, &format!("device app {app:?} too large")),
                }
            }
        }
        for why in &parts.refused {
            parts_note(ctx, &s.user_id, why);
        }
        ctx.report.imported("user_settings");
    }
    Ok(())
}

fn parts_note(ctx: &mut Ctx<'_>, user_id: &str, why: &str) {
    ctx.report
        .notes
        .push(format!("user_settings {user_id}: {why}: not imported"));
}

/// Decodes a stored recovery wrap (base64) within this server's bounds.
fn recovery(wrapped: &str, iv: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let w = STANDARD.decode(wrapped.trim()).ok()?;
    let i = STANDARD.decode(iv.trim()).ok()?;
    ((32..=512).contains(&w.len()) && (12..=64).contains(&i.len())).then_some((w, i))
}

/// Vaults: the master key is unwrapped with the source's KEK and wrapped
/// again under this server's, so the client gets the same bytes; without
/// the source KEK a server-wrapped vault is skipped, never stored
/// unwrapped. The recovery wrap (made by the client) comes over as is.
pub fn vaults(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("encryption_vaults");
    for v in &src.vaults {
        match vault_row(ctx, v) {
            Ok(row) => {
                vault_store::insert_imported(ctx.tx, &v.user_id, &row)
                    .map_err(at("encryption_vaults", &v.user_id))?;
                ctx.report.imported("encryption_vaults");
            }
            Err(why) => ctx.report.refuse("encryption_vaults", &v.user_id, why),
        }
    }
    let found = src.vaults.len();
    ctx.report.notes.push(match src.vault_access {
        VaultAccess::Absent => "encryption_vaults: the source has no vault table".to_owned(),
        VaultAccess::Whole => format!(
            "encryption_vaults: read in one query (the role bypasses row-level security): {found} found"
        ),
        VaultAccess::PerUser { probed } => format!(
            "encryption_vaults: row-level security is forced and this role cannot bypass it, so \
             each user's vault was read after set_config('app.current_user_id'): {probed} users \
             probed, {found} vaults found"
        ),
    });
    Ok(())
}

fn vault_row(ctx: &Ctx<'_>, v: &super::source::Vault) -> std::result::Result<VaultRow, String> {
    if !ctx.users.contains_key(&v.user_id) {
        return Err("its user was not imported".into());
    }
    let recovery = match (&v.recovery_wrapped_mk, &v.recovery_iv) {
        (Some(w), Some(i)) => {
            Some(recovery(w, i).ok_or("recovery wrap is not base64 of a usable length")?)
        }
        _ => None,
    };
    let mut row = VaultRow {
        wrapped_mk: None,
        wrap_iv: None,
        kek_id: None,
        recovery_wrapped_mk: recovery.as_ref().map(|r| r.0.clone()),
        recovery_iv: recovery.as_ref().map(|r| r.1.clone()),
        zero_knowledge: v.zero_knowledge,
        format_version: 1,
        created_at: v.created_at.clone(),
        updated_at: v.rotated_at.clone().unwrap_or_else(|| v.created_at.clone()),
        rotated_at: v.rotated_at.clone(),
        recovery_set_at: recovery.as_ref().map(|_| {
            (v.recovery_set_at.clone())
                .unwrap_or_else(|| v.rotated_at.clone().unwrap_or_else(|| v.created_at.clone()))
        }),
    };
    if v.zero_knowledge {
        // Only the client can open it; nothing to re-wrap.
        return match recovery {
            Some(_) => Ok(row),
            None => Err("zero-knowledge vault without a recovery wrap".into()),
        };
    }
    let (Some(wrapped), Some(iv)) = (&v.wrapped_mk, &v.wrap_iv) else {
        return Err("no server wrap and not zero-knowledge".into());
    };
    let Some(source_kek) = &ctx.keys.source_kek else {
        return Err(
            "server-wrapped: set SOURCE_MANA_AUTH_KEK to re-wrap it (never stored unwrapped)"
                .into(),
        );
    };
    let Some(target_kek) = &ctx.keys.target_kek else {
        return Err("MANA_AUTH_KEK is not set for this server: nowhere to wrap it".into());
    };
    let key = unwrap_vault_key(source_kek, wrapped, iv).map_err(|e| match e {
        UnwrapError::Malformed => "server wrap is not base64 with a 12-byte IV",
        UnwrapError::WrongKek => "server wrap does not open with SOURCE_MANA_AUTH_KEK",
        UnwrapError::WrongLength => "server wrap does not hold a 32-byte key",
    })?;
    let (sealed, new_iv) = target_kek.wrap(&v.user_id, &key.0).map_err(|e| e.message)?;
    row.wrapped_mk = Some(sealed);
    row.wrap_iv = Some(new_iv.to_vec());
    row.kek_id = Some(target_kek.id().to_owned());
    Ok(row)
}

/// Security events of imported users (and those without a user), with
/// their original type, time and metadata.
pub fn events(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("security_events");
    for (i, e) in src.events.iter().enumerate() {
        if let Some(user) = &e.user_id {
            if !ctx.users.contains_key(user) {
                let id = format!("#{} of {user}", i + 1);
                ctx.report
                    .refuse("security_events", &id, "its user was not imported");
                continue;
            }
        }
        let metadata = e
            .metadata
            .as_deref()
            .filter(|m| *m != "null")
            .unwrap_or("{}");
        audit::record_imported(
            ctx.tx,
            &audit::Imported {
                user_id: e.user_id.as_deref(),
                event_type: &e.event_type,
                ip: e.ip.as_deref(),
                user_agent: e.user_agent.as_deref(),
                metadata,
                created_at: &e.created_at,
            },
        )?;
        ctx.report.imported("security_events");
    }
    Ok(())
}
