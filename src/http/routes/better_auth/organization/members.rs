//! `/api/auth/organization/*` members: the caller's membership in the
//! active organization, listing, removing and re-roling members, leaving.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::{named, target, wire, Op, OrgIdBody, RoleInput};
use crate::http::routes::better_auth::wire::{BaMember, BaMemberBody, BaMemberList, BaMemberRole};
use crate::http::routes::better_auth::{BaAuth, BaErrorBody, BaJson, BaQuery, BaResult};
use crate::ids::{MemberId, SpaceId, UserId};
use crate::spaces::{self, Member};
use crate::state::AppState;

/// The caller's membership in the active organization.
async fn active_member(state: &AppState, auth: &BaAuth) -> BaResult<Member> {
    let space_id = target(auth, None)?;
    let user_id = UserId::from(&auth.user.id);
    state
        .db
        .read(move |c| spaces::membership(c, &space_id, &user_id))
        .await
        .map_err(wire(Op::ActiveMember))
}

#[utoipa::path(
    get, path = "/get-active-member",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's member object (with `user`) in the active organization", body = crate::spaces::Member),
        (status = 400, description = "NO_ACTIVE_ORGANIZATION, MEMBER_NOT_FOUND", body = BaErrorBody)
    )
)]
pub(crate) async fn get_active_member(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Member>> {
    Ok(Json(active_member(&state, &auth).await?))
}

#[utoipa::path(
    get, path = "/get-active-member-role",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{role}` in the active organization", body = BaMemberRole),
        (status = 400, description = "NO_ACTIVE_ORGANIZATION, MEMBER_NOT_FOUND", body = BaErrorBody)
    )
)]
pub(crate) async fn get_active_member_role(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<BaMemberRole>> {
    let member = active_member(&state, &auth).await?;
    Ok(Json(BaMemberRole { role: member.role }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListMembersQuery {
    organization_id: Option<String>,
    organization_slug: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[utoipa::path(
    get, path = "/list-members", params(ListMembersQuery),
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{members, total}` (members with `user`)", body = BaMemberList),
        (status = 400, description = "NO_ACTIVE_ORGANIZATION, ORGANIZATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn get_list_members(
    State(state): State<AppState>,
    auth: BaAuth,
    BaQuery(q): BaQuery<ListMembersQuery>,
) -> BaResult<Json<BaMemberList>> {
    let active = auth.session.active_organization_id.clone();
    let user_id = UserId::from(&auth.user.id);
    let (members, total) = state
        .db
        .read(move |c| {
            let space_id = match named(c, active, q.organization_id, q.organization_slug)? {
                Ok(id) => id,
                Err(e) => return Ok(Err(e)),
            };
            let all = spaces::members(c, &space_id, &user_id)?;
            let total = all.len();
            let offset = q.offset.unwrap_or(0) as usize;
            let limit = q.limit.map_or(usize::MAX, |l| l as usize);
            let page: Vec<Member> = all.into_iter().skip(offset).take(limit).collect();
            Ok(Ok((page, total)))
        })
        .await
        .map_err(wire(Op::ListMembers))??;
    Ok(Json(BaMemberList {
        members: members.into_iter().map(BaMember::with_user).collect(),
        total,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RemoveMemberBody {
    member_id_or_email: String,
    organization_id: Option<String>,
}

#[utoipa::path(
    post, path = "/remove-member", request_body = RemoveMemberBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{member}`: the removed membership", body = BaMemberBody),
        (status = 400, description = "MEMBER_NOT_FOUND, YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER, NO_ACTIVE_ORGANIZATION", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER", body = BaErrorBody)
    )
)]
pub(crate) async fn post_remove_member(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<RemoveMemberBody>,
) -> BaResult<Json<BaMemberBody>> {
    let space_id = target(&auth, body.organization_id)?;
    let actor = UserId::from(&auth.user.id);
    let member = state
        .db
        .write(move |tx, _| {
            let member_id = spaces::find_member(tx, &space_id, &body.member_id_or_email)?;
            spaces::remove_member(tx, &space_id, &actor, &member_id)
        })
        .await
        .map_err(wire(Op::RemoveMember))?;
    Ok(Json(BaMemberBody {
        member: BaMember::bare(&member),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateRoleBody {
    member_id: String,
    #[schema(value_type = String)]
    role: RoleInput,
    organization_id: Option<String>,
}

#[utoipa::path(
    post, path = "/update-member-role", request_body = UpdateRoleBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The member with its new role (without `user`)", body = BaMember),
        (status = 400, description = "MEMBER_NOT_FOUND, ROLE_NOT_FOUND, YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER", body = BaErrorBody)
    )
)]
pub(crate) async fn post_update_member_role(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<UpdateRoleBody>,
) -> BaResult<Json<BaMember>> {
    let role = body.role.parse()?;
    let space_id = target(&auth, body.organization_id)?;
    let actor = UserId::from(&auth.user.id);
    let member = state
        .db
        .write(move |tx, _| {
            let member_id = MemberId::from(body.member_id);
            spaces::change_role(tx, &space_id, &actor, &member_id, role)
        })
        .await
        .map_err(wire(Op::UpdateRole))?;
    Ok(Json(BaMember::bare(&member)))
}

#[utoipa::path(
    post, path = "/leave", request_body = OrgIdBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's former membership (with `user`)", body = crate::spaces::Member),
        (status = 400, description = "MEMBER_NOT_FOUND, YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER", body = BaErrorBody)
    )
)]
pub(crate) async fn post_leave(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<OrgIdBody>,
) -> BaResult<Json<Member>> {
    let actor = UserId::from(&auth.user.id);
    let member = state
        .db
        .write(move |tx, _| spaces::leave(tx, &SpaceId::from(body.organization_id), &actor))
        .await
        .map_err(wire(Op::RemoveMember))?;
    Ok(Json(member))
}
