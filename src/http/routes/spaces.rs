//! `/api/v1/gilden`: spaces, members and invitations.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::wire::{success, Success};

use crate::audit::ClientInfo;
use crate::error::{ApiError, Result};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser};
use crate::ids::{InvitationId, MemberId, SpaceId, UserId};
use crate::spaces::{
    self, FullSpace, Invitation, Member, MySpace, NewSpace, Role, Space, SpacePatch,
};
use crate::state::AppState;
use crate::users::store as users;

/// Routes under `/api/v1/gilden`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_space, get_spaces))
        .routes(routes!(post_accept_invitation))
        .routes(routes!(post_reject_invitation))
        .routes(routes!(get_space, put_space, delete_space))
        .routes(routes!(post_invite))
        .routes(routes!(delete_invitation))
        .routes(routes!(delete_member))
        .routes(routes!(put_member_role))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CreateSpaceRequest {
    name: String,
    slug: Option<String>,
    logo: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    metadata: Option<Value>,
}

#[utoipa::path(
    post, path = "/", request_body = CreateSpaceRequest,
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new space", body = crate::spaces::Space),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 409, description = "SPACE_SLUG_TAKEN", body = ErrorEnvelope)
    )
)]
async fn post_space(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<CreateSpaceRequest>,
) -> Result<Json<Space>> {
    let input = NewSpace {
        name: req.name,
        slug: req.slug,
        logo: req.logo,
        kind: req.kind,
        metadata: req.metadata,
    };
    let space = state
        .db
        .write(move |tx, now| spaces::create(tx, &UserId::from(&claims.sub), input, &client, now))
        .await?;
    Ok(Json(space))
}

#[utoipa::path(
    get, path = "/",
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's spaces with roles", body = Vec<crate::spaces::MySpace>)
    )
)]
async fn get_spaces(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<MySpace>>> {
    Ok(Json(
        state
            .db
            .read(move |c| spaces::of_user(c, &UserId::from(&claims.sub)))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/{id}", params(("id" = String, Path, description = "space id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The space with members and invitations", body = crate::spaces::FullSpace),
        (status = 403, description = "not a member", body = ErrorEnvelope)
    )
)]
async fn get_space(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<FullSpace>> {
    Ok(Json(
        state
            .db
            .read(move |c| spaces::full(c, &SpaceId::from(id), &UserId::from(&claims.sub)))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct UpdateRequest {
    name: Option<String>,
    slug: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    logo: Option<Option<String>>,
    metadata: Option<Value>,
}

#[utoipa::path(
    put, path = "/{id}", request_body = UpdateRequest, params(("id" = String, Path, description = "space id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The space", body = crate::spaces::Space),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 409, description = "SPACE_SLUG_TAKEN", body = ErrorEnvelope)
    )
)]
async fn put_space(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(req): AppJson<UpdateRequest>,
) -> Result<Json<Space>> {
    let patch = SpacePatch {
        name: req.name,
        slug: req.slug,
        logo: req.logo,
        metadata: req.metadata,
    };
    Ok(Json(
        state
            .db
            .write(move |tx, now| {
                spaces::update(
                    tx,
                    &SpaceId::from(id),
                    &UserId::from(&claims.sub),
                    patch,
                    now,
                )
            })
            .await?,
    ))
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "space id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 403, description = "FORBIDDEN or SPACE_PERSONAL_UNDELETABLE", body = ErrorEnvelope)
    )
)]
async fn delete_space(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Success>> {
    state
        .db
        .write(move |tx, now| {
            spaces::delete(
                tx,
                &SpaceId::from(id),
                &UserId::from(&claims.sub),
                &client,
                now,
            )
        })
        .await?;
    Ok(success())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct InviteRequest {
    email: String,
    role: Option<String>,
}

#[utoipa::path(
    post, path = "/{id}/invite", request_body = InviteRequest, params(("id" = String, Path, description = "space id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitation", body = crate::spaces::Invitation),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 409, description = "already a member or invited", body = ErrorEnvelope)
    )
)]
async fn post_invite(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(req): AppJson<InviteRequest>,
) -> Result<Json<Invitation>> {
    let role = Role::parse(req.role.as_deref().unwrap_or("member"))?;
    let st = state.clone();
    let invitation = state
        .db
        .write(move |tx, now| {
            spaces::mail::invite_and_mail(
                tx,
                &st.config,
                &SpaceId::from(id),
                &UserId::from(claims.sub),
                &req.email,
                role,
                spaces::IfPending::SendAgain,
                &client,
                now,
            )
        })
        .await?;
    state.mail.wake();
    Ok(Json(invitation))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InvitationRequest {
    invitation_id: String,
}

#[utoipa::path(
    post, path = "/accept-invitation", request_body = InvitationRequest,
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The accepted invitation and the new membership", body = InvitationAccepted),
        (status = 403, description = "the invitation is for someone else", body = ErrorEnvelope),
        (status = 404, description = "no such invitation", body = ErrorEnvelope),
        (status = 409, description = "INVITATION_NOT_PENDING", body = ErrorEnvelope),
        (status = 410, description = "INVITATION_EXPIRED", body = ErrorEnvelope)
    )
)]
async fn post_accept_invitation(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<InvitationRequest>,
) -> Result<Json<InvitationAccepted>> {
    let (invitation, member) = state
        .db
        .write(move |tx, now| {
            let user = users::by_id(tx, &claims.sub)?.ok_or_else(ApiError::unauthorized)?;
            let accepted = spaces::accept(tx, &InvitationId::from(&req.invitation_id), &user, now)?;
            Ok((accepted.invitation, accepted.member))
        })
        .await?;
    Ok(Json(InvitationAccepted { invitation, member }))
}

/// An accepted invitation and the membership it made.
#[derive(Serialize, ToSchema)]
struct InvitationAccepted {
    invitation: Invitation,
    member: Member,
}

/// An invitation after a change (rejected, cancelled).
#[derive(Serialize, ToSchema)]
struct InvitationChanged {
    invitation: Invitation,
}

/// A removed member.
#[derive(Serialize, ToSchema)]
struct MemberRemoved {
    member: Member,
    success: bool,
}

#[utoipa::path(
    post, path = "/reject-invitation", request_body = InvitationRequest,
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitation", body = InvitationChanged),
        (status = 403, description = "the invitation is for someone else", body = ErrorEnvelope),
        (status = 404, description = "no such invitation", body = ErrorEnvelope),
        (status = 409, description = "INVITATION_NOT_PENDING", body = ErrorEnvelope),
        (status = 410, description = "INVITATION_EXPIRED", body = ErrorEnvelope)
    )
)]
async fn post_reject_invitation(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<InvitationRequest>,
) -> Result<Json<InvitationChanged>> {
    let invitation = state
        .db
        .write(move |tx, now| {
            let user = users::by_id(tx, &claims.sub)?.ok_or_else(ApiError::unauthorized)?;
            spaces::reject(tx, &InvitationId::from(&req.invitation_id), &user, now)
        })
        .await?;
    Ok(Json(InvitationChanged { invitation }))
}

#[utoipa::path(
    delete, path = "/{id}/invitations/{invitation_id}", params(("id" = String, Path, description = "space id"), ("invitation_id" = String, Path, description = "invitation id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitation", body = InvitationChanged),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 409, description = "INVITATION_NOT_PENDING", body = ErrorEnvelope)
    )
)]
async fn delete_invitation(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<Json<InvitationChanged>> {
    let invitation = state
        .db
        .write(move |tx, now| {
            spaces::cancel(
                tx,
                Some(&SpaceId::from(id)),
                &InvitationId::from(invitation_id),
                &UserId::from(claims.sub),
                now,
            )
        })
        .await?;
    Ok(Json(InvitationChanged { invitation }))
}

#[utoipa::path(
    delete, path = "/{id}/members/{member_id}", params(("id" = String, Path, description = "space id"), ("member_id" = String, Path, description = "member id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The removed member", body = MemberRemoved),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 409, description = "SPACE_LAST_OWNER", body = ErrorEnvelope)
    )
)]
async fn delete_member(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path((id, member_id)): Path<(String, String)>,
) -> Result<Json<MemberRemoved>> {
    let member = state
        .db
        .write(move |tx, _| {
            spaces::remove_member(
                tx,
                &SpaceId::from(id),
                &UserId::from(claims.sub),
                &MemberId::from(member_id),
            )
        })
        .await?;
    Ok(Json(MemberRemoved {
        member,
        success: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MemberRoleRequest {
    role: String,
}

#[utoipa::path(
    put, path = "/{id}/members/{member_id}/role", request_body = MemberRoleRequest, params(("id" = String, Path, description = "space id"), ("member_id" = String, Path, description = "member id")),
    tag = "spaces",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member", body = crate::spaces::Member),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 409, description = "SPACE_LAST_OWNER", body = ErrorEnvelope)
    )
)]
async fn put_member_role(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path((id, member_id)): Path<(String, String)>,
    AppJson(req): AppJson<MemberRoleRequest>,
) -> Result<Json<Member>> {
    let role = Role::parse(&req.role)?;
    Ok(Json(
        state
            .db
            .write(move |tx, _| {
                spaces::change_role(
                    tx,
                    &SpaceId::from(id),
                    &UserId::from(claims.sub),
                    &MemberId::from(member_id),
                    role,
                )
            })
            .await?,
    ))
}
