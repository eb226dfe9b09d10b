//! Spaces (organizations): the personal space made at sign-up, creation with
//! a validated type, members with roles, invitations. Every function runs
//! inside the caller's write transaction; a space and its `kontextDoc`
//! bootstrap row are written together.
//!
//! Permissions: owners update, delete, invite, remove and change roles;
//! admins update, invite and remove (not owners); members read. Non-members
//! see nothing (404). The last owner can be neither removed nor demoted.

pub mod mail;
pub mod model;
pub mod refusal;
pub mod slug;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde_json::{json, Map, Value};

pub use model::{FullSpace, Invitation, Member, MySpace, Role, Space};
pub use refusal::{refusal_of, SpaceRefusal};

use crate::audit::{self, ClientInfo, Event};
use crate::clock::{iso, parse_iso};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};
use crate::ids::{InvitationId, MemberId, SpaceId, UserId};
use crate::sync;
use crate::users::{self, User};

/// How long an invitation stays open.
pub const INVITATION_TTL: Duration = Duration::hours(48);
/// Largest metadata object, serialized.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Invitations (new or sent again) one user may send per hour, and one
/// space may receive per hour.
pub const INVITES_PER_HOUR: i64 = 20;
/// The same per day.
pub const INVITES_PER_DAY: i64 = 100;
/// How far back the invitation log is read (and kept).
pub const INVITE_LOG_WINDOW: Duration = Duration::days(1);
/// Spaces one user may own (the personal space included).
pub const MAX_OWNED_SPACES: u32 = 50;
/// Pending, unexpired invitations one space may have at once.
pub const MAX_PENDING_INVITATIONS: u32 = 100;

fn not_found() -> ApiError {
    ApiError::not_found("space")
}

fn metadata_invalid(message: &str) -> ApiError {
    ApiError::new(ErrorCode::SpaceMetadataInvalid, message)
}

/// Refuses with `refusal` (see `SpaceRefusal`).
fn refuse<T>(refusal: SpaceRefusal) -> Result<T> {
    Err(refusal.into())
}

/// The caller's role; `SpaceNotFound` or `NotMember` otherwise (both 404
/// on the envelope: non-members see nothing).
pub fn require_member(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<Role> {
    match store::role_of(conn, space_id, user_id)? {
        Some(role) => Ok(role),
        None if store::space(conn, space_id)?.is_none() => refuse(SpaceRefusal::SpaceNotFound),
        None => refuse(SpaceRefusal::NotMember),
    }
}

fn require_role(
    conn: &Connection,
    space_id: &SpaceId,
    user_id: &UserId,
    at_least: Role,
) -> Result<Role> {
    let role = require_member(conn, space_id, user_id)?;
    if role < at_least {
        return refuse(SpaceRefusal::RoleTooLow(at_least));
    }
    Ok(role)
}

/// A space and the caller's role in it, for a member.
pub fn member_space(
    conn: &Connection,
    space_id: &SpaceId,
    user_id: &UserId,
) -> Result<(Space, Role)> {
    let role = require_member(conn, space_id, user_id)?;
    let space = store::space(conn, space_id)?.ok_or(SpaceRefusal::SpaceNotFound)?;
    Ok((space, role))
}

/// The caller's own membership of a space.
pub fn membership(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<Member> {
    Ok(store::member_of_user(conn, space_id, user_id)?.ok_or(SpaceRefusal::NotMember)?)
}

/// The members of a space (with their users), for a member.
pub fn members(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<Vec<Member>> {
    require_member(conn, space_id, user_id)?;
    store::members(conn, space_id)
}

/// Every invitation of a space, for a member.
pub fn invitations(
    conn: &Connection,
    space_id: &SpaceId,
    user_id: &UserId,
) -> Result<Vec<Invitation>> {
    require_member(conn, space_id, user_id)?;
    store::invitations(conn, space_id)
}

/// Creates the personal space of a new user with its owner membership and
/// its `kontextDoc`, in the caller's (sign-up) transaction.
pub fn create_personal(tx: &Tx, user: &User, now: DateTime<Utc>) -> Result<Space> {
    let base = slug::from_email(&user.email).unwrap_or_else(slug::fallback);
    let slug = slug::unique(tx, &base)?;
    let name = if user.name.is_empty() {
        user.email.split('@').next().unwrap_or("").to_owned()
    } else {
        user.name.clone()
    };
    let space = Space {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        slug,
        logo: None,
        metadata: json!({ "type": "personal", "tier": user.access_tier }),
        created_at: iso(now),
        updated_at: iso(now),
    };
    store::insert_space(tx, &space, Some(&user.id))?;
    store::insert_member(
        tx,
        &MemberId::from(uuid::Uuid::new_v4().to_string()),
        &SpaceId::from(&space.id),
        &UserId::from(&user.id),
        Role::Owner,
        &iso(now),
    )?;
    sync::bootstrap_kontext_doc(tx, &space.id, &user.id, now)?;
    Ok(space)
}

/// Input of `create`.
pub struct NewSpace {
    pub name: String,
    pub slug: Option<String>,
    pub logo: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
}

/// Metadata a client sent (create, update on either door): an object with
/// a valid type, at most 8 KiB. `tier` is dropped: it is the operator's,
/// set only by the admin API (`admin::set_tier`).
fn check_metadata(metadata: Option<Value>, kind: Option<String>) -> Result<Map<String, Value>> {
    let mut map = match metadata {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(metadata_invalid("metadata must be an object")),
    };
    map.remove("tier");
    if let Some(kind) = kind {
        map.insert("type".into(), Value::String(kind));
    }
    let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
    if !model::TYPES.contains(&kind) {
        return Err(metadata_invalid(
            "metadata.type must be one of personal, brand, club, family, team, practice",
        ));
    }
    if Value::Object(map.clone()).to_string().len() > MAX_METADATA_BYTES {
        return Err(metadata_invalid("metadata is larger than 8 KiB"));
    }
    Ok(map)
}

fn check_space_name(name: &str) -> Result<String> {
    let name = users::check_name(name)?;
    if name.is_empty() {
        return Err(ApiError::validation("name must not be empty"));
    }
    Ok(name)
}

fn check_logo(logo: Option<String>) -> Result<Option<String>> {
    logo.filter(|l| !l.trim().is_empty())
        .map(|l| users::check_image(&l))
        .transpose()
}

fn chosen_slug(tx: &Tx, slug: Option<String>, name: &str) -> Result<String> {
    match slug {
        Some(s) => {
            if !slug::is_valid(&s) || slug::RESERVED.contains(&s.as_str()) {
                return Err(ApiError::validation(
                    "slug must be lowercase letters, digits and single dashes, not a reserved word",
                ));
            }
            Ok(s)
        }
        None => slug::unique(tx, &slug::derive(name).unwrap_or_else(slug::fallback)),
    }
}

/// Creates a space owned by `creator`, with its `kontextDoc`.
pub fn create(
    tx: &Tx,
    creator: &UserId,
    input: NewSpace,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Space> {
    let name = check_space_name(&input.name)?;
    let metadata = check_metadata(input.metadata, input.kind)?;
    if metadata.get("type").and_then(Value::as_str) == Some("personal") {
        return Err(metadata_invalid(
            "every user has exactly one personal space already",
        ));
    }
    let logo = check_logo(input.logo)?;
    if store::owned_count(tx, creator)? >= MAX_OWNED_SPACES {
        return Err(ApiError::validation(format!(
            "you own {MAX_OWNED_SPACES} spaces already; delete one first"
        )));
    }
    let slug = chosen_slug(tx, input.slug, &name)?;
    let space = Space {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        slug,
        logo,
        metadata: Value::Object(metadata),
        created_at: iso(now),
        updated_at: iso(now),
    };
    store::insert_space(tx, &space, None)?;
    store::insert_member(
        tx,
        &MemberId::from(uuid::Uuid::new_v4().to_string()),
        &SpaceId::from(&space.id),
        creator,
        Role::Owner,
        &iso(now),
    )?;
    sync::bootstrap_kontext_doc(tx, &space.id, creator, now)?;
    let meta = json!({ "spaceId": space.id, "slug": space.slug, "type": space.kind() });
    audit::record(
        tx,
        Some(creator),
        Event::OrgCreated,
        client,
        meta,
        &iso(now),
    )?;
    Ok(space)
}

/// A space with members and invitations, for a member.
pub fn full(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<FullSpace> {
    let (space, _) = member_space(conn, space_id, user_id)?;
    Ok(FullSpace {
        space,
        members: store::members(conn, space_id)?,
        invitations: store::invitations(conn, space_id)?,
    })
}

/// Changes to a space; absent fields stay.
pub struct SpacePatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub logo: Option<Option<String>>,
    pub metadata: Option<Value>,
}

/// Updates a space (owner or admin). The type of a personal space and the
/// tier stay as they are.
pub fn update(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    patch: SpacePatch,
    now: DateTime<Utc>,
) -> Result<Space> {
    require_role(tx, space_id, actor, Role::Admin)?;
    let mut space = store::space(tx, space_id)?.ok_or_else(not_found)?;
    let personal = space.kind() == "personal";
    if let Some(name) = patch.name {
        space.name = check_space_name(&name)?;
    }
    if let Some(slug) = patch.slug.filter(|s| *s != space.slug) {
        space.slug = chosen_slug(tx, Some(slug), &space.name)?;
    }
    if let Some(logo) = patch.logo {
        space.logo = check_logo(logo)?;
    }
    if let Some(metadata) = patch.metadata {
        let old = space.metadata.clone();
        // A metadata object without `type` keeps the current type.
        let keep_kind = match &metadata {
            Value::Object(m) if !m.contains_key("type") => Some(space.kind().to_owned()),
            _ => None,
        };
        let mut map = check_metadata(Some(metadata), keep_kind)?;
        let new_kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        if personal != (new_kind == "personal") {
            return Err(metadata_invalid(
                "the personal type cannot be set or removed",
            ));
        }
        if let Some(tier) = old.get("tier") {
            map.insert("tier".into(), tier.clone());
        }
        space.metadata = Value::Object(map);
    }
    space.updated_at = iso(now);
    store::update_space(tx, &space)?;
    Ok(space)
}

/// Deletes a space (owner only; never the personal space); answers the
/// space as it was.
pub fn delete(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Space> {
    require_role(tx, space_id, actor, Role::Owner)?;
    let space = store::space(tx, space_id)?.ok_or_else(not_found)?;
    if space.kind() == "personal" {
        return refuse(SpaceRefusal::PersonalUndeletable);
    }
    store::delete_space(tx, space_id)?;
    let meta = json!({ "spaceId": space.id, "slug": space.slug });
    audit::record(tx, Some(actor), Event::OrgDeleted, client, meta, &iso(now))?;
    Ok(space)
}

/// What inviting an address that has a pending invitation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfPending {
    /// Rewrite it (role, inviter, expiry) and send it again.
    SendAgain,
    /// Refuse with `AlreadyInvited`.
    Refuse,
}

/// Invites an address (owner or admin of a shared space, with a proven
/// address; only owners invite owners). Inviting an address with a pending
/// invitation rewrites it (role, inviter, expiry) when `if_pending` says
/// so, but only within the actor's own invite right: an admin cannot turn
/// an owner's pending `owner` invitation into anything else.
#[allow(clippy::too_many_arguments)]
pub fn invite(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    email: &str,
    role: Role,
    if_pending: IfPending,
    now: DateTime<Utc>,
) -> Result<(Space, Invitation)> {
    let (space, actor_role) = member_space(tx, space_id, actor)?;
    if actor_role < Role::Admin {
        return refuse(SpaceRefusal::RoleTooLow(Role::Admin));
    }
    if role == Role::Owner && actor_role != Role::Owner {
        return refuse(SpaceRefusal::OnlyOwnersInviteOwners);
    }
    if space.kind() == "personal" {
        return refuse(SpaceRefusal::PersonalNotShared);
    }
    let inviter = users::store::by_id(tx, actor)?.ok_or_else(ApiError::unauthorized)?;
    if !inviter.email_verified {
        return refuse(SpaceRefusal::InviterUnverified);
    }
    let email = users::normalize_email(email)?;
    if store::email_is_member(tx, space_id, &email)? {
        return refuse(SpaceRefusal::AlreadyMember);
    }
    match store::pending_invitation(tx, space_id, &email)? {
        Some(_) if if_pending == IfPending::Refuse => return refuse(SpaceRefusal::AlreadyInvited),
        Some(pending) => {
            if pending.role == Role::Owner && actor_role != Role::Owner {
                return refuse(SpaceRefusal::PendingOwnerInvitation);
            }
        }
        None => {
            if store::open_invitation_count(tx, space_id, &iso(now))? >= MAX_PENDING_INVITATIONS {
                return refuse(SpaceRefusal::TooManyPending);
            }
        }
    }
    enforce_invite_limits(tx, space_id, actor, now)?;
    store::log_invite(
        tx,
        space_id,
        actor,
        &iso(now),
        &iso(now - INVITE_LOG_WINDOW),
    )?;
    let draft = Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: space_id.to_string(),
        email,
        role,
        status: "pending".into(),
        inviter_id: Some(actor.to_string()),
        expires_at: iso(now + INVITATION_TTL),
        created_at: iso(now),
    };
    let invitation = store::upsert_invitation(tx, &draft, &iso(now))?;
    Ok((space, invitation))
}

/// Refuses an account whose address is not proven (403
/// EMAIL_NOT_VERIFIED), whatever `REQUIRE_EMAIL_VERIFICATION` says: an
/// invitation is addressed to a mailbox, so only its proven owner may see,
/// accept or decline it, and only a proven sender may send one.
fn require_verified(user: &User, refusal: SpaceRefusal) -> Result<()> {
    if user.email_verified {
        Ok(())
    } else {
        refuse(refusal)
    }
}

/// One open invitation addressed to the user, with its space and the
/// inviter's address: unknown, answered or expired ones are refused
/// before the address is compared, then the address must be proven.
pub fn invitation_for(
    conn: &Connection,
    invitation_id: &InvitationId,
    user: &User,
    now: DateTime<Utc>,
) -> Result<(Invitation, Space, Option<String>)> {
    let inv = store::invitation(conn, invitation_id)?.ok_or(SpaceRefusal::InvitationNotFound)?;
    if inv.status != "pending" {
        return refuse(SpaceRefusal::NotPending(inv.status));
    }
    if parse_iso(&inv.expires_at).is_none_or(|t| t <= now) {
        return refuse(SpaceRefusal::Expired);
    }
    if !inv.email.eq_ignore_ascii_case(&user.email) {
        return refuse(SpaceRefusal::NotRecipient);
    }
    require_verified(user, SpaceRefusal::UnverifiedToSee)?;
    let space =
        store::space(conn, &inv.organization_id)?.ok_or(SpaceRefusal::InvitationNotFound)?;
    let inviter_email = match &inv.inviter_id {
        Some(id) => users::store::by_id(conn, id)?.map(|u| u.email),
        None => None,
    };
    Ok((inv, space, inviter_email))
}

/// The open invitations addressed to the user, with their space's name;
/// only a proven address may see them.
pub fn invitations_for(
    conn: &Connection,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Vec<(Invitation, String)>> {
    require_verified(user, SpaceRefusal::UnverifiedToList)?;
    store::open_invitations_for(conn, &user.email, &iso(now))
}

/// The per-inviter and per-space limits (`INVITES_PER_HOUR`,
/// `INVITES_PER_DAY`): 429 RATE_LIMITED with the seconds until the oldest
/// invitation in the full window leaves it.
fn enforce_invite_limits(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    for (by_space, key) in [(false, actor.as_str()), (true, space_id.as_str())] {
        for (window, max) in [
            (Duration::hours(1), INVITES_PER_HOUR),
            (Duration::days(1), INVITES_PER_DAY),
        ] {
            let (count, oldest) = store::invites_since(tx, by_space, key, &iso(now - window))?;
            if count < max {
                continue;
            }
            let frees_at = oldest
                .as_deref()
                .and_then(parse_iso)
                .map_or(now + window, |t| t + window);
            let secs = ((frees_at - now).num_milliseconds().max(1000) as u64).div_ceil(1000);
            let who = if by_space { "this space" } else { "you" };
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("{who} sent too many invitations; try again later"),
            )
            .with_retry_after(secs));
        }
    }
    Ok(())
}

/// An invitation the given user may answer: pending, unexpired, theirs,
/// and their address proven.
fn open_invitation_for(
    tx: &Tx,
    invitation_id: &InvitationId,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Invitation> {
    let inv = store::invitation(tx, invitation_id)?.ok_or(SpaceRefusal::InvitationNotFound)?;
    if !inv.email.eq_ignore_ascii_case(&user.email) {
        return refuse(SpaceRefusal::NotRecipient);
    }
    require_verified(user, SpaceRefusal::UnverifiedToAnswer)?;
    if inv.status != "pending" {
        return refuse(SpaceRefusal::NotPending(inv.status));
    }
    if parse_iso(&inv.expires_at).is_none_or(|t| t <= now) {
        return refuse(SpaceRefusal::Expired);
    }
    Ok(inv)
}

/// An accepted invitation (as stored now) and the membership it made.
#[derive(Debug)]
pub struct Accepted {
    pub invitation: Invitation,
    pub member: Member,
}

/// The spaces a user belongs to, with the role in each.
pub fn of_user(conn: &Connection, user_id: &UserId) -> Result<Vec<MySpace>> {
    store::spaces_of(conn, user_id.as_str())
}

/// The space a slug names, if any.
pub fn id_by_slug(conn: &Connection, slug: &str) -> Result<Option<SpaceId>> {
    Ok(store::id_by_slug(conn, slug)?.map(SpaceId::from))
}

/// The role a user has in a space, or `None` when not a member (the
/// internal membership check: no refusal, an answer).
pub fn role_of(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<Option<Role>> {
    store::role_of(conn, space_id, user_id)
}

/// Every membership of a user: `(space id, role)`.
pub fn memberships_of(conn: &Connection, user_id: &UserId) -> Result<Vec<(String, String)>> {
    store::memberships(conn, user_id.as_str())
}

/// Accepts an invitation: only its addressee, only pending and unexpired.
pub fn accept(
    tx: &Tx,
    invitation_id: &InvitationId,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Accepted> {
    let inv = open_invitation_for(tx, invitation_id, user, now)?;
    let member_id = MemberId::from(uuid::Uuid::new_v4().to_string());
    let space_id = SpaceId::from(&inv.organization_id);
    store::insert_member(
        tx,
        &member_id,
        &space_id,
        &UserId::from(&user.id),
        inv.role,
        &iso(now),
    )?;
    store::set_invitation_status(tx, &inv.id, "accepted", &iso(now))?;
    let member = store::member(tx, &space_id, &member_id)?
        .ok_or_else(|| ApiError::internal("member vanished"))?;
    let invitation =
        store::invitation(tx, &inv.id)?.ok_or_else(|| ApiError::internal("invitation vanished"))?;
    Ok(Accepted { invitation, member })
}

/// Declines an invitation (its addressee).
pub fn reject(
    tx: &Tx,
    invitation_id: &InvitationId,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Invitation> {
    let inv = open_invitation_for(tx, invitation_id, user, now)?;
    store::set_invitation_status(tx, &inv.id, "rejected", &iso(now))?;
    store::invitation(tx, &inv.id)?.ok_or_else(|| ApiError::internal("invitation vanished"))
}

/// Withdraws a pending invitation (owner or admin of its space). With
/// `in_space`, the caller must be a member of that space and the
/// invitation must be one of its own.
pub fn cancel(
    tx: &Tx,
    in_space: Option<&SpaceId>,
    invitation_id: &InvitationId,
    actor: &UserId,
    now: DateTime<Utc>,
) -> Result<Invitation> {
    if let Some(space_id) = in_space {
        require_member(tx, space_id, actor)?;
    }
    let inv = store::invitation(tx, invitation_id)?.ok_or(SpaceRefusal::InvitationNotFound)?;
    let space_id = SpaceId::from(&inv.organization_id);
    if store::role_of(tx, &space_id, actor)?.is_none() {
        return refuse(SpaceRefusal::NotMemberOfInvitationSpace);
    }
    require_role(tx, &space_id, actor, Role::Admin)?;
    if inv.status != "pending" {
        return refuse(SpaceRefusal::NotPending(inv.status));
    }
    if in_space.is_some_and(|id| *id != space_id) {
        return refuse(SpaceRefusal::InvitationNotFound);
    }
    store::set_invitation_status(tx, &inv.id, "canceled", &iso(now))?;
    store::invitation(tx, &inv.id)?.ok_or_else(|| ApiError::internal("invitation vanished"))
}

fn last_owner(tx: &Tx, space_id: &SpaceId, target: &Member) -> Result<bool> {
    Ok(target.role == Role::Owner && store::owner_count(tx, space_id)? <= 1)
}

/// Removes a member: owners remove anyone, admins remove non-owners, anyone
/// may leave; never the last owner.
pub fn remove_member(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    member_id: &MemberId,
) -> Result<Member> {
    let actor_role = require_member(tx, space_id, actor)?;
    let target = store::member(tx, space_id, member_id)?.ok_or(SpaceRefusal::MemberNotFound)?;
    let leaving = target.user_id == actor.as_str();
    let allowed = leaving
        || actor_role == Role::Owner
        || (actor_role == Role::Admin && target.role != Role::Owner);
    if !allowed {
        return refuse(SpaceRefusal::CannotRemove);
    }
    if last_owner(tx, space_id, &target)? {
        return refuse(SpaceRefusal::LastOwnerRemoved);
    }
    store::delete_member(tx, member_id)?;
    Ok(target)
}

/// Changes a member's role (owners only); never demotes the last owner.
/// An unknown member is refused before the caller's role is looked at.
pub fn change_role(
    tx: &Tx,
    space_id: &SpaceId,
    actor: &UserId,
    member_id: &MemberId,
    role: Role,
) -> Result<Member> {
    let actor_role = require_member(tx, space_id, actor)?;
    let target = store::member(tx, space_id, member_id)?.ok_or(SpaceRefusal::MemberNotFound)?;
    if actor_role < Role::Owner {
        return refuse(SpaceRefusal::RoleTooLow(Role::Owner));
    }
    if role != Role::Owner && last_owner(tx, space_id, &target)? {
        return refuse(SpaceRefusal::LastOwnerDemoted);
    }
    store::set_member_role(tx, member_id, role)?;
    store::member(tx, space_id, member_id)?.ok_or_else(|| ApiError::internal("member vanished"))
}

/// A member named the way the framework's clients name one: an address
/// (the member with that account address), a member id, or (as the web
/// app's member list sends) the member's user id.
pub fn find_member(conn: &Connection, space_id: &SpaceId, key: &str) -> Result<MemberId> {
    let found = if key.contains('@') {
        let email = key.trim().to_lowercase();
        store::members(conn, space_id)?
            .into_iter()
            .find(|m| m.user.email == email)
            .map(|m| m.id)
    } else {
        match store::member(conn, space_id, &MemberId::from(key))? {
            Some(m) => Some(m.id),
            None => store::member_of_user(conn, space_id, &UserId::from(key))?.map(|m| m.id),
        }
    };
    Ok(MemberId::from(found.ok_or(SpaceRefusal::MemberNotFound)?))
}

/// The caller leaves a space (see `remove_member`: never the last owner).
pub fn leave(tx: &Tx, space_id: &SpaceId, actor: &UserId) -> Result<Member> {
    let mine = store::member_of_user(tx, space_id, actor)?.ok_or(SpaceRefusal::MemberNotFound)?;
    remove_member(tx, space_id, actor, &MemberId::from(mine.id))
}
