//! `/api/auth/organization/*`: spaces through the framework's organization
//! routes, with the active organization kept on the session. The rules are
//! those of `crate::spaces` (the `/api/v1/gilden` door); this module maps
//! inputs, shapes and error codes. The organizations themselves are here;
//! members are in `members`, invitations in `invitations`.
//!
//! Like the framework, organization objects carry `metadata` as sent on
//! create/update and as a JSON string everywhere else (it stores metadata
//! as text); members in create, accept, remove and role answers come without
//! their `user`.

mod invitations;
mod members;

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rusqlite::Connection;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use super::wire::{
    BaInvitation, BaMember, BaOrganization, BaOrganizationWithMembers, BaStatus, Metadata,
};
use super::{BaAuth, BaError, BaErrorBody, BaJson, BaQuery, BaResult};
use crate::audit::ClientInfo;
use crate::auth::session;
use crate::error::{ApiError, ErrorCode};
use crate::ids::{SessionId, SpaceId, UserId};
use crate::spaces::{self, NewSpace, Role, SpacePatch, SpaceRefusal};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_create))
        .routes(routes!(get_list))
        .routes(routes!(post_set_active))
        .routes(routes!(members::get_active_member))
        .routes(routes!(members::get_active_member_role))
        .routes(routes!(members::get_list_members))
        .routes(routes!(invitations::post_invite_member))
        .routes(routes!(invitations::get_list_invitations))
        .routes(routes!(invitations::get_list_user_invitations))
        .routes(routes!(invitations::get_invitation))
        .routes(routes!(invitations::post_accept_invitation))
        .routes(routes!(invitations::post_reject_invitation))
        .routes(routes!(invitations::post_cancel_invitation))
        .routes(routes!(members::post_remove_member))
        .routes(routes!(members::post_update_member_role))
        .routes(routes!(get_full_organization))
        .routes(routes!(post_update))
        .routes(routes!(post_delete))
        .routes(routes!(members::post_leave))
        .routes(routes!(post_check_slug))
}

fn bad(code: &'static str, message: &str) -> BaError {
    BaError::new(StatusCode::BAD_REQUEST, code, message)
}

fn forbidden(code: &'static str, message: &str) -> BaError {
    BaError::new(StatusCode::FORBIDDEN, code, message)
}

fn no_active() -> BaError {
    bad("NO_ACTIVE_ORGANIZATION", "No active organization")
}

fn org_not_found() -> BaError {
    bad("ORGANIZATION_NOT_FOUND", "Organization not found")
}

fn not_a_member() -> BaError {
    forbidden(
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        "User is not a member of the organization",
    )
}

fn member_not_found() -> BaError {
    bad("MEMBER_NOT_FOUND", "Member not found")
}

fn invitation_not_found() -> BaError {
    bad("INVITATION_NOT_FOUND", "Invitation not found")
}

fn not_recipient() -> BaError {
    forbidden(
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
        "You are not the recipient of the invitation",
    )
}

fn slug_taken() -> BaError {
    bad(
        "ORGANIZATION_SLUG_ALREADY_TAKEN",
        "Organization slug already taken",
    )
}

fn role_not_found(role: &str) -> BaError {
    bad("ROLE_NOT_FOUND", &format!("ROLE_NOT_FOUND: {role}"))
}

/// The organization operation an error happened in: the framework answers
/// one refusal with different codes in different operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Update,
    Delete,
    SetActive,
    Full,
    ListMembers,
    ListInvitations,
    ActiveMember,
    Invite,
    ListUserInvitations,
    GetInvitation,
    Answer,
    Cancel,
    RemoveMember,
    UpdateRole,
}

/// This door's table: the framework's code for a space refusal (see
/// `spaces::SpaceRefusal`) in `op`; every other error maps as everywhere
/// on this surface.
fn wire(op: Op) -> impl Fn(ApiError) -> BaError {
    move |e: ApiError| {
        use Op::*;
        use SpaceRefusal as R;
        let not_allowed = |code, message| Some(forbidden(code, message));
        let not_a_member_400 = || {
            Some(bad(
                "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
                "User is not a member of the organization",
            ))
        };
        let you_are_not_a_member = || {
            not_allowed(
                "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
                "You are not a member of this organization",
            )
        };
        if e.code == ErrorCode::SpaceSlugTaken {
            match op {
                Create => return bad("ORGANIZATION_ALREADY_EXISTS", "Organization already exists"),
                Update => return slug_taken(),
                _ => {}
            }
        }
        let mapped = match (op, spaces::refusal_of(&e)) {
            (_, None) => None,
            (Update | Delete, Some(R::SpaceNotFound | R::NotMember)) => not_a_member_400(),
            (Update, Some(R::RoleTooLow(_))) => not_allowed(
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
                "You are not allowed to update this organization",
            ),
            (Delete, Some(R::RoleTooLow(_))) => not_allowed(
                "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
                "You are not allowed to delete this organization",
            ),
            (SetActive, Some(R::SpaceNotFound | R::NotMember)) => Some(not_a_member()),
            (Full | ListInvitations | Invite, Some(R::SpaceNotFound)) => Some(org_not_found()),
            (Full, Some(R::NotMember)) => Some(not_a_member()),
            (ListMembers, Some(R::SpaceNotFound | R::NotMember)) => you_are_not_a_member(),
            (ListInvitations, Some(R::NotMember)) => you_are_not_a_member(),
            (ActiveMember, Some(R::SpaceNotFound | R::NotMember)) => Some(member_not_found()),
            (Invite, Some(R::NotMember)) => Some(member_not_found()),
            (Invite, Some(R::RoleTooLow(_) | R::OnlyOwnersInviteOwners | R::PersonalNotShared)) => {
                not_allowed(
                    "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
                    "You are not allowed to invite users to this organization",
                )
            }
            (Invite, Some(R::AlreadyMember)) => Some(bad(
                "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
                "User is already a member of this organization",
            )),
            (Invite, Some(R::AlreadyInvited)) => Some(bad(
                "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
                "User is already invited to this organization",
            )),
            (ListUserInvitations, Some(R::UnverifiedToList)) => not_allowed(
                "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION",
                "Email verification required to view or list invitations for the session email",
            ),
            (
                GetInvitation | Answer | Cancel,
                Some(R::InvitationNotFound | R::NotPending(_) | R::Expired),
            ) => Some(invitation_not_found()),
            (GetInvitation | Answer, Some(R::NotRecipient)) => Some(not_recipient()),
            (Cancel, Some(R::NotMemberOfInvitationSpace)) => Some(member_not_found()),
            (Cancel, Some(R::RoleTooLow(_))) => not_allowed(
                "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
                "You are not allowed to cancel this invitation",
            ),
            (
                RemoveMember | UpdateRole,
                Some(R::SpaceNotFound | R::NotMember | R::MemberNotFound),
            ) => Some(member_not_found()),
            (RemoveMember, Some(R::CannotRemove)) => not_allowed(
                "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
                "You are not allowed to delete this member",
            ),
            (RemoveMember, Some(R::LastOwnerRemoved)) => Some(bad(
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
                "You cannot leave the organization as the only owner",
            )),
            (UpdateRole, Some(R::RoleTooLow(_))) => not_allowed(
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
                "You are not allowed to update this member",
            ),
            (UpdateRole, Some(R::LastOwnerDemoted)) => Some(bad(
                "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
                "You cannot leave the organization without an owner",
            )),
            _ => None,
        };
        mapped.unwrap_or_else(|| e.into())
    }
}

/// A role as the framework takes it: a string, or a list of one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum RoleInput {
    One(String),
    Many(Vec<String>),
}

impl RoleInput {
    fn parse(&self) -> BaResult<Role> {
        let text = match self {
            RoleInput::One(s) => s.clone(),
            RoleInput::Many(v) => v.join(","),
        };
        Role::parse(&text).map_err(|_| role_not_found(&text))
    }
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The organization a request names, else the session's active one.
fn target(auth: &BaAuth, given: Option<String>) -> BaResult<SpaceId> {
    given
        .or_else(|| auth.session.active_organization_id.clone())
        .map(SpaceId::from)
        .ok_or_else(no_active)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBody {
    name: String,
    slug: String,
    logo: Option<String>,
    metadata: Option<Value>,
    keep_current_active_organization: Option<bool>,
}

#[utoipa::path(
    post, path = "/create", request_body = CreateBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The organization with `members: [owner]`; it becomes the session's active organization unless `keepCurrentActiveOrganization`", body = BaOrganizationWithMembers),
        (status = 400, description = "ORGANIZATION_ALREADY_EXISTS, VALIDATION_ERROR, SPACE_METADATA_INVALID", body = BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = BaErrorBody)
    )
)]
pub(crate) async fn post_create(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<CreateBody>,
) -> BaResult<Json<BaOrganizationWithMembers>> {
    if body.name.trim().is_empty() {
        return Err(bad(
            "VALIDATION_ERROR",
            "[body.name] Too small: expected string to have >=1 characters",
        ));
    }
    // Spaces are typed (SPEC §6); an organization created without a type
    // is a team.
    let metadata = match body.metadata {
        Some(Value::Object(mut m)) => {
            m.entry("type").or_insert_with(|| json!("team"));
            Value::Object(m)
        }
        None | Some(Value::Null) => json!({ "type": "team" }),
        Some(other) => other,
    };
    let input = NewSpace {
        name: body.name,
        slug: Some(body.slug),
        logo: body.logo,
        kind: None,
        metadata: Some(metadata),
    };
    let keep = body.keep_current_active_organization == Some(true);
    let user_id = UserId::from(&auth.user.id);
    let session_id = auth.session.id.clone();
    let (space, members) = state
        .db
        .write(move |tx, now| {
            let space = spaces::create(tx, &user_id, input, &client, now)?;
            if !keep {
                session::set_active_space(
                    tx,
                    &SessionId::from(&session_id),
                    Some(&SpaceId::from(&space.id)),
                )?;
            }
            let members = spaces::members(tx, &SpaceId::from(&space.id), &user_id)?;
            Ok((space, members))
        })
        .await
        .map_err(wire(Op::Create))?;
    Ok(Json(BaOrganizationWithMembers::new(
        BaOrganization::new(&space, Metadata::Object),
        members.iter().map(BaMember::bare).collect(),
        None,
    )))
}

#[utoipa::path(
    get, path = "/list",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses((status = 200, description = "The caller's organizations (metadata as text)", body = Vec<BaOrganization>))
)]
pub(crate) async fn get_list(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Vec<BaOrganization>>> {
    let user_id = auth.user.id.clone();
    let spaces = state
        .db
        .read(move |c| spaces::of_user(c, &UserId::from(user_id)))
        .await?;
    Ok(Json(
        spaces
            .iter()
            .map(|s| BaOrganization::new(&s.space, Metadata::Text))
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetActiveBody {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    organization_id: Option<Option<String>>,
    organization_slug: Option<String>,
}

#[utoipa::path(
    post, path = "/set-active", request_body = SetActiveBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The now active organization, or `null` (`organizationId: null` clears it)", body = Option<BaOrganization>),
        (status = 400, description = "ORGANIZATION_NOT_FOUND (by slug)", body = BaErrorBody),
        (status = 403, description = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_set_active(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<SetActiveBody>,
) -> BaResult<Json<Option<BaOrganization>>> {
    enum Want {
        Clear,
        Id(String),
        Slug(String),
        Current,
    }
    let want = match (body.organization_id, body.organization_slug) {
        (Some(Some(id)), _) => Want::Id(id),
        (_, Some(slug)) => Want::Slug(slug),
        (Some(None), None) => Want::Clear,
        (None, None) => Want::Current,
    };
    let want = match want {
        Want::Current => match auth.session.active_organization_id.clone() {
            Some(id) => Want::Id(id),
            None => return Ok(Json(None)),
        },
        w => w,
    };
    let user_id = UserId::from(&auth.user.id);
    let session_id = auth.session.id.clone();
    let answer = state
        .db
        .write(move |tx, _| {
            let space_id = match want {
                Want::Clear | Want::Current => {
                    session::set_active_space(tx, &SessionId::from(&session_id), None)?;
                    return Ok(Ok(None));
                }
                Want::Id(id) => SpaceId::from(id),
                Want::Slug(slug) => match spaces::id_by_slug(tx, &slug)? {
                    Some(id) => id,
                    None => return Ok(Err(org_not_found())),
                },
            };
            let (space, _) = spaces::member_space(tx, &space_id, &user_id)?;
            session::set_active_space(
                tx,
                &SessionId::from(&session_id),
                Some(&SpaceId::from(&space.id)),
            )?;
            Ok(Ok(Some(space)))
        })
        .await
        .map_err(wire(Op::SetActive))??;
    Ok(Json(
        answer.map(|space| BaOrganization::new(&space, Metadata::Text)),
    ))
}

/// Resolves an organization named by id or slug (or the active one).
fn named(
    conn: &Connection,
    auth_active: Option<String>,
    id: Option<String>,
    slug: Option<String>,
) -> Result<Result<SpaceId, BaError>, ApiError> {
    if let Some(id) = id {
        return Ok(Ok(SpaceId::from(id)));
    }
    if let Some(slug) = slug {
        return Ok(spaces::id_by_slug(conn, &slug)?.ok_or_else(org_not_found));
    }
    Ok(auth_active.map(SpaceId::from).ok_or_else(no_active))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct FullQuery {
    organization_id: Option<String>,
    organization_slug: Option<String>,
    members_limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/get-full-organization", params(FullQuery),
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The organization (metadata as text) with `members` (with `user`) and `invitations`; `null` without a named or active organization", body = Option<BaOrganizationWithMembers>),
        (status = 400, description = "ORGANIZATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn get_full_organization(
    State(state): State<AppState>,
    auth: BaAuth,
    BaQuery(q): BaQuery<FullQuery>,
) -> BaResult<Json<Option<BaOrganizationWithMembers>>> {
    let active = auth.session.active_organization_id.clone();
    let user_id = UserId::from(&auth.user.id);
    let out = state
        .db
        .read(move |c| {
            let space_id = match named(c, active, q.organization_id, q.organization_slug)? {
                Ok(id) => id,
                Err(e) if e.code == "NO_ACTIVE_ORGANIZATION" => return Ok(Ok(None)),
                Err(e) => return Ok(Err(e)),
            };
            let full = spaces::full(c, &space_id, &user_id)?;
            let limit = q.members_limit.map_or(usize::MAX, |l| l as usize);
            let members = full.members.into_iter().take(limit);
            Ok(Ok(Some(BaOrganizationWithMembers::new(
                BaOrganization::new(&full.space, Metadata::Text),
                members.map(BaMember::with_user).collect(),
                Some(
                    full.invitations
                        .into_iter()
                        .map(BaInvitation::from)
                        .collect(),
                ),
            ))))
        })
        .await
        .map_err(wire(Op::Full))??;
    Ok(Json(out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateData {
    name: Option<String>,
    slug: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    logo: Option<Option<String>>,
    metadata: Option<Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateBody {
    data: UpdateData,
    organization_id: Option<String>,
}

#[utoipa::path(
    post, path = "/update", request_body = UpdateBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The updated organization (metadata as an object)", body = BaOrganization),
        (status = 400, description = "ORGANIZATION_SLUG_ALREADY_TAKEN, USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION, NO_ACTIVE_ORGANIZATION, SPACE_METADATA_INVALID", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_update(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<UpdateBody>,
) -> BaResult<Json<BaOrganization>> {
    let space_id = target(&auth, body.organization_id)?;
    let actor = UserId::from(&auth.user.id);
    let patch = SpacePatch {
        name: body.data.name,
        slug: body.data.slug,
        logo: body.data.logo,
        metadata: body.data.metadata,
    };
    let space = state
        .db
        .write(move |tx, now| spaces::update(tx, &space_id, &actor, patch, now))
        .await
        .map_err(wire(Op::Update))?;
    Ok(Json(BaOrganization::new(&space, Metadata::Object)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrgIdBody {
    organization_id: String,
}

#[utoipa::path(
    post, path = "/delete", request_body = OrgIdBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The deleted organization (metadata as text); sessions that had it active have none", body = BaOrganization),
        (status = 400, description = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION, SPACE_PERSONAL_UNDELETABLE", body = BaErrorBody)
    )
)]
pub(crate) async fn post_delete(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<OrgIdBody>,
) -> BaResult<Json<BaOrganization>> {
    let actor = UserId::from(&auth.user.id);
    let space = state
        .db
        .write(move |tx, now| {
            let space_id = SpaceId::from(body.organization_id);
            spaces::delete(tx, &space_id, &actor, &client, now)
        })
        .await
        .map_err(wire(Op::Delete))?;
    Ok(Json(BaOrganization::new(&space, Metadata::Text)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SlugBody {
    slug: String,
}

#[utoipa::path(
    post, path = "/check-slug", request_body = SlugBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`: the slug is free", body = BaStatus),
        (status = 400, description = "ORGANIZATION_SLUG_ALREADY_TAKEN", body = BaErrorBody)
    )
)]
pub(crate) async fn post_check_slug(
    State(state): State<AppState>,
    _auth: BaAuth,
    BaJson(body): BaJson<SlugBody>,
) -> BaResult<Json<BaStatus>> {
    let taken = state
        .db
        .read(move |c| spaces::id_by_slug(c, &body.slug))
        .await?;
    if taken.is_some() {
        return Err(slug_taken());
    }
    Ok(Json(BaStatus::TRUE))
}
