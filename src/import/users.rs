//! Accounts and spaces: users (ids kept), their passwords, organizations as
//! spaces (ids kept, personal ones bound to their owner), members, pending
//! invitations, a personal space for whoever lacks one, and the sync
//! bootstrap rows, all through the domain modules' own writes.

use std::collections::{HashMap, HashSet};

use argon2::password_hash::PasswordHash;
use serde_json::Value;

use super::convert::{check_enum, member_role, space_metadata};
use super::source::Source;
use super::{at, Ctx};
use crate::auth::scrypt_hash::ScryptHash;
use crate::clock::{iso, parse_iso};
use crate::error::Result;
use crate::ids::{MemberId, SpaceId, UserId};
use crate::spaces::{self, slug, store as spaces_store, Invitation, Role, Space};
use crate::sync;
use crate::users::{self, store as users_store, User};

const ROLES: &[&str] = &["user", "admin", "service"];
const TIERS: &[&str] = &["guest", "public", "beta", "alpha", "founder"];

/// A display name as this server stores one: no control characters, at
/// most 80 characters.
pub(super) fn clean_name(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(users::MAX_NAME_LEN)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Users: soft-deleted, persona and system users stay behind; the rest keep
/// id, email, verification, role, tier, dates. Two-factor is turned on by
/// `credentials::two_factor` once the secret is stored.
pub fn users(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("users");
    let mut emails = HashSet::new();
    for u in &src.users {
        if let Some(at) = &u.deleted_at {
            ctx.report
                .refuse("users", &u.id, format!("soft-deleted (deleted_at {at})"));
            continue;
        }
        match u.kind.as_str() {
            "persona" => {
                ctx.report.refuse("users", &u.id, "persona user");
                continue;
            }
            "system" => {
                ctx.report.refuse("users", &u.id, "system user");
                continue;
            }
            _ => {}
        }
        let checked = check_enum("role", &u.role, ROLES)
            .and_then(|()| check_enum("access tier", &u.access_tier, TIERS))
            .and_then(|()| check_enum("kind", &u.kind, &["human"]));
        if let Err(why) = checked {
            ctx.report.refuse("users", &u.id, why);
            continue;
        }
        if u.id.is_empty() || u.id.len() > 128 || u.id.chars().any(char::is_control) {
            ctx.report.refuse("users", &u.id, "id is not usable here");
            continue;
        }
        let Ok(email) = users::normalize_email(&u.email) else {
            ctx.report
                .refuse("users", &u.id, "email is not a valid address");
            continue;
        };
        if !emails.insert(email.clone()) {
            ctx.report.refuse(
                "users",
                &u.id,
                "email differs only in case from an account imported before",
            );
            continue;
        }
        let image = u.image.as_deref().and_then(|i| users::check_image(i).ok());
        if u.image.is_some() && image.is_none() {
            ctx.report.notes.push(format!(
                "users {}: image is not an http(s) URL, dropped",
                u.id
            ));
        }
        let user = User {
            id: u.id.clone(),
            name: clean_name(&u.name),
            email,
            email_verified: u.email_verified,
            image,
            role: u.role.clone(),
            access_tier: u.access_tier.clone(),
            kind: u.kind.clone(),
            two_factor_enabled: false,
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
            onboarding_completed_at: u.onboarding_completed_at.clone(),
        };
        users_store::insert(ctx.tx, &user).map_err(at("users", &u.id))?;
        ctx.users.insert(user.id.clone(), user);
        ctx.report.imported("users");
    }
    Ok(())
}

/// A stored hash this server can verify: Better Auth's scrypt or argon2.
fn usable_hash(hash: &str) -> bool {
    ScryptHash::parse(hash).is_some()
        || PasswordHash::new(hash).is_ok_and(|p| p.algorithm.as_str().starts_with("argon2"))
}

/// Passwords: `accounts.password` of the `credential` provider, else the
/// older `auth.passwords` table. Other providers (social sign-in) are not
/// supported here and are listed.
pub fn passwords(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("accounts");
    let mut chosen: HashMap<&str, &str> = HashMap::new();
    for a in &src.accounts {
        if a.provider_id != "credential" {
            let why = format!("sign-in with {:?} is not supported here", a.provider_id);
            ctx.report.refuse("accounts", &a.id, why);
        } else if !ctx.users.contains_key(&a.user_id) {
            ctx.report
                .refuse("accounts", &a.id, "its user was not imported");
        } else if let Some(pw) = a.password.as_deref().filter(|p| !p.is_empty()) {
            // Newest first: a second credential account of the same user
            // (which Better Auth does not make) loses.
            if chosen.contains_key(a.user_id.as_str()) {
                ctx.report
                    .refuse("accounts", &a.id, "an older credential of the same user");
            } else if !usable_hash(pw) {
                ctx.report.refuse(
                    "accounts",
                    &a.id,
                    "password hash format not recognised (the user can reset it)",
                );
            } else {
                chosen.insert(&a.user_id, pw);
                ctx.report.imported("accounts");
            }
        } else {
            ctx.report
                .refuse("accounts", &a.id, "no password (see the legacy table)");
        }
    }
    if !src.legacy_passwords.is_empty() {
        ctx.report.touch("passwords");
    }
    for (user_id, hash) in &src.legacy_passwords {
        if !ctx.users.contains_key(user_id) {
            ctx.report
                .refuse("passwords", user_id, "its user was not imported");
        } else if chosen.contains_key(user_id.as_str()) {
            ctx.report
                .refuse("passwords", user_id, "accounts.password is set and wins");
        } else if !usable_hash(hash) {
            ctx.report.refuse(
                "passwords",
                user_id,
                "password hash format not recognised (the user can reset it)",
            );
        } else {
            chosen.insert(user_id, hash);
            ctx.report.imported("passwords");
        }
    }
    for (user_id, hash) in chosen {
        let time = ctx.users.get(user_id).map(|u| u.updated_at.clone());
        users_store::set_password(ctx.tx, user_id, hash, &time.unwrap_or_default())
            .map_err(at("password of", user_id))?;
    }
    Ok(())
}

/// Organizations become spaces with their ids. A personal space is bound to
/// its (imported) owner; a user's second personal space and spaces with no
/// imported member are listed, not imported.
pub fn spaces(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("organizations");
    let mut members_of: HashMap<&str, Vec<(&str, Role)>> = HashMap::new();
    for m in &src.members {
        if let (true, Ok(role)) = (ctx.users.contains_key(&m.user_id), member_role(&m.role)) {
            members_of
                .entry(m.organization_id.as_str())
                .or_default()
                .push((m.user_id.as_str(), role));
        }
    }
    // Spaces with a slug first, so a slug made up for one without cannot
    // take a slug the source already uses.
    let mut orgs: Vec<_> = src.organizations.iter().collect();
    orgs.sort_by_key(|o| o.slug.is_none());
    for org in orgs {
        let metadata = match space_metadata(org.metadata.as_deref()) {
            Ok(m) => m,
            Err(why) => {
                ctx.report.refuse("organizations", &org.id, why);
                continue;
            }
        };
        let people = members_of.get(org.id.as_str()).cloned().unwrap_or_default();
        let personal = metadata.get("type").and_then(Value::as_str) == Some("personal");
        let personal_of = if personal {
            let Some(&(owner, _)) = people.iter().find(|(_, r)| *r == Role::Owner) else {
                ctx.report.refuse(
                    "organizations",
                    &org.id,
                    "personal space without an imported owner",
                );
                continue;
            };
            if let Some(first) = ctx.personal.get(owner) {
                let why = format!("a second personal space of user {owner} (kept {first})");
                ctx.report.refuse("organizations", &org.id, why);
                continue;
            }
            Some(owner.to_owned())
        } else {
            if people.is_empty() {
                ctx.report
                    .refuse("organizations", &org.id, "no member was imported");
                continue;
            }
            None
        };
        let name = match clean_name(&org.name) {
            n if n.is_empty() => "Space".to_owned(),
            n => n,
        };
        // A slug this server would not accept from a client (upper case,
        // spaces, punctuation) is derived anew from it, and noted.
        let wanted = org.slug.clone().filter(|s| !s.is_empty());
        let slug = match &wanted {
            Some(s) if slug::is_valid(s) && spaces_store::id_by_slug(ctx.tx, s)?.is_none() => {
                s.clone()
            }
            other => slug::unique(
                ctx.tx,
                &slug::derive(other.as_deref().unwrap_or(&name)).unwrap_or_else(slug::fallback),
            )?,
        };
        if let Some(old) = wanted.filter(|w| *w != slug) {
            ctx.report.notes.push(format!(
                "organizations {}: slug {old:?} is now {slug:?}",
                org.id
            ));
        }
        let space = Space {
            id: org.id.clone(),
            name,
            slug,
            logo: org.logo.as_deref().and_then(|l| users::check_image(l).ok()),
            metadata: Value::Object(metadata),
            created_at: org.created_at.clone(),
            updated_at: org.updated_at.clone(),
        };
        spaces_store::insert_space(ctx.tx, &space, personal_of.as_deref())
            .map_err(at("organizations", &org.id))?;
        if let Some(owner) = personal_of {
            ctx.personal.insert(owner, space.id.clone());
        }
        ctx.spaces.insert(space.id);
        ctx.report.imported("organizations");
    }
    Ok(())
}

/// Memberships of imported spaces and users, ids kept.
pub fn members(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("members");
    let mut seen = HashSet::new();
    for m in &src.members {
        let why = if !ctx.spaces.contains(&m.organization_id) {
            Some("its space was not imported".to_owned())
        } else if !ctx.users.contains_key(&m.user_id) {
            Some("its user was not imported".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            ctx.report.refuse("members", &m.id, why);
            continue;
        }
        let role = match member_role(&m.role) {
            Ok(r) => r,
            Err(why) => {
                ctx.report.refuse("members", &m.id, why);
                continue;
            }
        };
        if !seen.insert((m.organization_id.as_str(), m.user_id.as_str())) {
            ctx.report
                .refuse("members", &m.id, "a second membership of the same user");
            continue;
        }
        spaces_store::insert_member(
            ctx.tx,
            &MemberId::from(&m.id),
            &SpaceId::from(&m.organization_id),
            &UserId::from(&m.user_id),
            role,
            &m.created_at,
        )
        .map_err(at("members", &m.id))?;
        let writer = ctx
            .writers
            .entry(m.organization_id.clone())
            .or_insert_with(|| (role, m.user_id.clone()));
        if role > writer.0 {
            *writer = (role, m.user_id.clone());
        }
        ctx.report.imported("members");
    }
    Ok(())
}

/// Pending, unexpired invitations to imported spaces, ids kept; the newest
/// per space and address wins.
pub fn invitations(ctx: &mut Ctx<'_>, src: &Source) -> Result<()> {
    ctx.report.touch("invitations");
    let mut seen = HashSet::new();
    for inv in &src.invitations {
        let expired = parse_iso(&inv.expires_at).is_none_or(|t| t <= ctx.now);
        let email = users::normalize_email(&inv.email).ok();
        let role = member_role(&inv.role);
        let why = if inv.status != "pending" {
            Some(format!(
                "{} (only pending invitations are imported)",
                inv.status
            ))
        } else if expired {
            Some(format!("expired at {}", inv.expires_at))
        } else if !ctx.spaces.contains(&inv.organization_id) {
            Some("its space was not imported".to_owned())
        } else if email.is_none() {
            Some("email is not a valid address".to_owned())
        } else {
            role.as_ref().err().cloned()
        };
        if let Some(why) = why {
            ctx.report.refuse("invitations", &inv.id, why);
            continue;
        }
        let (Some(email), Ok(role)) = (email, role) else {
            continue;
        };
        if !seen.insert((inv.organization_id.clone(), email.clone())) {
            ctx.report.refuse(
                "invitations",
                &inv.id,
                "an older pending invitation of the same address",
            );
            continue;
        }
        let invitation = Invitation {
            id: inv.id.clone(),
            organization_id: inv.organization_id.clone(),
            email,
            role,
            status: "pending".into(),
            inviter_id: inv.inviter_id.clone().filter(|i| ctx.users.contains_key(i)),
            expires_at: inv.expires_at.clone(),
            created_at: inv.created_at.clone(),
        };
        spaces_store::upsert_invitation(ctx.tx, &invitation, &inv.created_at)
            .map_err(at("invitations", &inv.id))?;
        ctx.report.imported("invitations");
    }
    Ok(())
}

/// Every imported user without a personal space gets one, as sign-up makes
/// it (slug from the email, owner membership, its kontextDoc).
pub fn missing_personal_spaces(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut ids: Vec<&String> = ctx.users.keys().collect();
    ids.sort();
    let mut made = 0u64;
    for id in ids {
        if ctx.personal.contains_key(id) {
            continue;
        }
        if let Some(user) = ctx.users.get(id) {
            let space = spaces::create_personal(ctx.tx, user, ctx.now)
                .map_err(at("personal space of", id))?;
            ctx.writers
                .insert(space.id.clone(), (Role::Owner, user.id.clone()));
            ctx.spaces.insert(space.id);
            made += 1;
        }
    }
    ctx.report.notes.push(format!(
        "personal spaces made for users without one: {made}"
    ));
    Ok(())
}

/// The `userContext` row of every user and the `kontextDoc` of every space,
/// through the guarded inserts (a second write of either is a no-op). The
/// source kept them in the sync service's database.
pub fn bootstrap(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut written = 0u64;
    let mut ids: Vec<&String> = ctx.users.keys().collect();
    ids.sort();
    for id in ids {
        written += u64::from(sync::bootstrap_user_context(ctx.tx, id, ctx.now)?);
    }
    let mut spaces: Vec<&String> = ctx.spaces.iter().collect();
    spaces.sort();
    for space in spaces {
        // The writer: an owner, else any member (every imported space has one).
        if let Some((_, writer)) = ctx.writers.get(space) {
            written += u64::from(sync::bootstrap_kontext_doc(ctx.tx, space, writer, ctx.now)?);
        }
    }
    ctx.report.notes.push(format!(
        "sync bootstrap rows written (userContext, kontextDoc): {written}, at {}",
        iso(ctx.now)
    ));
    Ok(())
}
