//! Erasing an account and everything it owns, in one transaction.
//!
//! Spaces: the personal space and every shared space where the user is the
//! only member are deleted with their members, invitations and sync rows.
//! In other spaces only the membership goes. If the user is the last owner
//! of a space that keeps members, the longest-standing admin becomes owner,
//! else the longest-standing member: a shared space is never left ownerless.
//!
//! Then every row of the user goes, table by table, so the answer can count
//! them: sync_changes they wrote, invitations to their address, sessions,
//! password, API keys, settings, devices, vault and vault audit, security
//! events, two-factor secret, backup codes and tickets, login failures and
//! lockouts of their address, a persona's feedback, actions and descriptor,
//! and the user row.
//! Invitations they sent elsewhere stay, without the inviter. A surviving
//! space whose `kontextDoc` singleton the user wrote gets a new one from its
//! owner, in the same transaction.
//! A table added later with `ON DELETE CASCADE` to users is still erased by
//! the final user delete; add it to `OWNED` so it is counted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;

use super::User;
use crate::audit::{self, ClientInfo, Event};
use crate::clock::iso;
use crate::db::Tx;
use crate::error::Result;
use crate::sync;

/// Tables whose rows belong to the user by `user_id`, children first.
const OWNED: &[&str] = &[
    "sync_changes",
    "sessions",
    "password_credentials",
    "api_keys",
    "user_device_app_settings",
    "user_devices",
    "user_app_settings",
    "user_settings",
    "vault_audit",
    "encryption_vaults",
    "security_events",
    "two_factor_tickets",
    "two_factor_backup_codes",
    "two_factor_secrets",
    "space_invite_log",
];

/// A member who became owner because the deleted user was the last one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub space_id: String,
    pub user_id: String,
    pub previous_role: String,
}

/// What an erase removed: rows per table, and ownership hand-overs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    pub deleted: BTreeMap<&'static str, usize>,
    pub promoted_owners: Vec<Promotion>,
}

struct Membership {
    space_id: String,
    role: String,
    personal: bool,
    members: i64,
}

fn memberships(tx: &Tx, user_id: &str) -> Result<Vec<Membership>> {
    let mut stmt = tx.prepare_cached(
        "SELECT m.space_id, m.role, s.personal_of IS NOT NULL, \
         (SELECT count(*) FROM space_members o WHERE o.space_id = m.space_id) \
         FROM space_members m JOIN spaces s ON s.id = m.space_id WHERE m.user_id = ?1 ORDER BY m.created_at",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(Membership {
                space_id: r.get(0)?,
                role: r.get(1)?,
                personal: r.get(2)?,
                members: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn delete_where(tx: &Tx, table: &str, column: &str, value: &str) -> Result<usize> {
    Ok(tx
        .prepare_cached(&format!("DELETE FROM {table} WHERE {column} = ?1"))?
        .execute([value])?)
}

/// Hands ownership to the longest-standing admin, else member.
fn promote_successor(tx: &Tx, space_id: &str, leaving: &str) -> Result<Option<Promotion>> {
    let owners: i64 = tx
        .prepare_cached("SELECT count(*) FROM space_members WHERE space_id = ?1 AND role = 'owner' AND user_id != ?2")?
        .query_row([space_id, leaving], |r| r.get(0))?;
    if owners > 0 {
        return Ok(None);
    }
    let next: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT id, user_id, role FROM space_members WHERE space_id = ?1 AND user_id != ?2 \
             ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, created_at, id LIMIT 1",
        )?
        .query_row([space_id, leaving], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((member_id, user_id, previous_role)) = next else {
        return Ok(None);
    };
    tx.prepare_cached("UPDATE space_members SET role = 'owner' WHERE id = ?1")?
        .execute([&member_id])?;
    Ok(Some(Promotion {
        space_id: space_id.to_owned(),
        user_id,
        previous_role,
    }))
}

/// A surviving space whose `kontextDoc` singleton was written by the erased
/// user gets a fresh one, written by its (first) owner, so the space keeps
/// the row every client pulls.
fn rebootstrap_kontext_doc(tx: &Tx, space_id: &str, now: DateTime<Utc>) -> Result<()> {
    let owner: Option<String> = tx
        .prepare_cached(
            "SELECT user_id FROM space_members WHERE space_id = ?1 \
             ORDER BY role != 'owner', created_at, id LIMIT 1",
        )?
        .query_row([space_id], |r| r.get(0))
        .optional()?;
    if let Some(owner) = owner {
        sync::bootstrap_kontext_doc(tx, space_id, &owner, now)?;
    }
    Ok(())
}

/// Deletes a persona's feedback, actions and descriptor (children first);
/// rows removed per table. Part of the account erase.
fn erase_persona(tx: &Tx, user_id: &str) -> Result<Vec<(&'static str, usize)>> {
    let mut out = Vec::new();
    for (table, column) in [
        ("persona_feedback", "persona_id"),
        ("persona_actions", "persona_id"),
        ("personas", "user_id"),
    ] {
        let n = tx
            .prepare_cached(&format!("DELETE FROM {table} WHERE {column} = ?1"))?
            .execute([user_id])?;
        out.push((table, n));
    }
    Ok(out)
}

/// Erases a registration whose address was never proven (restarted by a
/// new sign-up, or expired): everything goes as in `erase`, but no notice
/// is mailed (the mailbox owner never had this account) and its mail stays
/// (it counts toward the address's hourly mail cap; the links in it die
/// with its tokens). The ACCOUNT_DELETED event names the `reason`.
pub fn erase_unproven(
    tx: &Tx,
    user_id: &str,
    reason: &'static str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Erased> {
    let user = super::require_user(tx, user_id)?;
    erase_rows(tx, &user, client, now, 0, Some(reason))
}

/// The erase itself, inside the caller's transaction; `mail_removed`
/// counts the outbox rows the caller already removed.
pub fn erase_rows(
    tx: &Tx,
    user: &User,
    client: &ClientInfo,
    now: DateTime<Utc>,
    mail_removed: usize,
    reason: Option<&'static str>,
) -> Result<Erased> {
    let user_id = user.id.as_str();
    let mut deleted: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut add = |table: &'static str, n: usize| *deleted.entry(table).or_insert(0) += n;
    add("mail_outbox", mail_removed);
    let mut promoted_owners = Vec::new();
    let mut surviving = Vec::new();
    for m in memberships(tx, user_id)? {
        if m.personal || m.members <= 1 {
            add(
                "sync_changes",
                delete_where(tx, "sync_changes", "space_id", &m.space_id)?,
            );
            add(
                "space_invitations",
                delete_where(tx, "space_invitations", "space_id", &m.space_id)?,
            );
            add(
                "space_members",
                delete_where(tx, "space_members", "space_id", &m.space_id)?,
            );
            add("spaces", delete_where(tx, "spaces", "id", &m.space_id)?);
            continue;
        }
        if m.role == "owner" {
            promoted_owners.extend(promote_successor(tx, &m.space_id, user_id)?);
        }
        add(
            "space_members",
            tx.prepare_cached("DELETE FROM space_members WHERE space_id = ?1 AND user_id = ?2")?
                .execute([&m.space_id, user_id])?,
        );
        surviving.push(m.space_id);
    }
    add(
        "space_invitations",
        delete_where(tx, "space_invitations", "email", &user.email)?,
    );
    tx.prepare_cached("UPDATE space_invitations SET inviter_id = NULL WHERE inviter_id = ?1")?
        .execute([user_id])?;
    for (table, n) in erase_persona(tx, user_id)? {
        add(table, n);
    }
    for &table in OWNED {
        add(table, delete_where(tx, table, "user_id", user_id)?);
    }
    for space_id in &surviving {
        rebootstrap_kontext_doc(tx, space_id, now)?;
    }
    add(
        "login_failures",
        delete_where(tx, "login_failures", "email", &user.email)?,
    );
    add(
        "login_lockouts",
        delete_where(tx, "login_lockouts", "email", &user.email)?,
    );
    add("users", delete_where(tx, "users", "id", user_id)?);

    // The trace of the deletion names no one: no user id, no address.
    let mut meta = json!({ "deleted": deleted, "promotedOwners": promoted_owners.len() });
    if let Some(reason) = reason {
        meta["reason"] = json!(reason);
    }
    audit::record(tx, None, Event::AccountDeleted, client, meta, &iso(now))?;
    Ok(Erased {
        deleted,
        promoted_owners,
    })
}
