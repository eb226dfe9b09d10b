//! `/api/auth/organization/*` invitations: inviting, listing, reading,
//! accepting, rejecting and canceling.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::{target, wire, Op, RoleInput};
use crate::audit::ClientInfo;
use crate::auth::session;
use crate::http::routes::better_auth::wire::{
    BaInvitationAnswer, BaInvitationDetail, BaMember, BaUserInvitation,
};
use crate::http::routes::better_auth::{BaAuth, BaError, BaErrorBody, BaJson, BaQuery, BaResult};
use crate::ids::{InvitationId, SessionId, SpaceId, UserId};
use crate::spaces::{self, IfPending, Invitation};
use crate::state::AppState;
use crate::users;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InviteBody {
    email: String,
    #[schema(value_type = String)]
    role: RoleInput,
    organization_id: Option<String>,
    resend: Option<bool>,
}

#[utoipa::path(
    post, path = "/invite-member", request_body = InviteBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The pending invitation; the invitation mail is queued", body = crate::spaces::Invitation),
        (status = 400, description = "INVALID_EMAIL, ROLE_NOT_FOUND, MEMBER_NOT_FOUND, USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION, USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION, NO_ACTIVE_ORGANIZATION", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_invite_member(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<InviteBody>,
) -> BaResult<Json<Invitation>> {
    let email = users::normalize_email(&body.email).map_err(|_| BaError::invalid_email())?;
    let role = body.role.parse()?;
    let space_id = target(&auth, body.organization_id)?;
    let if_pending = if body.resend == Some(true) {
        IfPending::SendAgain
    } else {
        IfPending::Refuse
    };
    let actor = UserId::from(&auth.user.id);
    let st = state.clone();
    let invitation = state
        .db
        .write(move |tx, now| {
            spaces::mail::invite_and_mail(
                tx, &st.config, &space_id, &actor, &email, role, if_pending, &client, now,
            )
        })
        .await
        .map_err(wire(Op::Invite))?;
    state.mail.wake();
    Ok(Json(invitation))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct OrgQuery {
    organization_id: Option<String>,
}

#[utoipa::path(
    get, path = "/list-invitations", params(OrgQuery),
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every invitation of the organization", body = Vec<crate::spaces::Invitation>),
        (status = 400, description = "NO_ACTIVE_ORGANIZATION, ORGANIZATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION", body = BaErrorBody)
    )
)]
pub(crate) async fn get_list_invitations(
    State(state): State<AppState>,
    auth: BaAuth,
    BaQuery(q): BaQuery<OrgQuery>,
) -> BaResult<Json<Vec<Invitation>>> {
    let space_id = target(&auth, q.organization_id)?;
    let user_id = UserId::from(&auth.user.id);
    let invitations = state
        .db
        .read(move |c| spaces::invitations(c, &space_id, &user_id))
        .await
        .map_err(wire(Op::ListInvitations))?;
    Ok(Json(invitations))
}

#[utoipa::path(
    get, path = "/list-user-invitations",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The pending invitations addressed to the caller, each with `organizationName`", body = Vec<BaUserInvitation>),
        (status = 403, description = "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION", body = BaErrorBody)
    )
)]
pub(crate) async fn get_list_user_invitations(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Vec<BaUserInvitation>>> {
    let user = auth.user.clone();
    let now = state.now();
    let open = state
        .db
        .read(move |c| spaces::invitations_for(c, &user, now))
        .await
        .map_err(wire(Op::ListUserInvitations))?;
    Ok(Json(
        open.into_iter()
            .map(|(inv, name)| BaUserInvitation::new(inv, name))
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InvitationQuery {
    id: String,
}

#[utoipa::path(
    get, path = "/get-invitation", params(InvitationQuery),
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A pending invitation addressed to the caller, with `organizationName`, `organizationSlug`, `inviterEmail`", body = BaInvitationDetail),
        (status = 400, description = "INVITATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION", body = BaErrorBody)
    )
)]
pub(crate) async fn get_invitation(
    State(state): State<AppState>,
    auth: BaAuth,
    BaQuery(q): BaQuery<InvitationQuery>,
) -> BaResult<Json<BaInvitationDetail>> {
    let user = auth.user.clone();
    let now = state.now();
    let (inv, space, inviter_email) = state
        .db
        .read(move |c| spaces::invitation_for(c, &InvitationId::from(q.id), &user, now))
        .await
        .map_err(wire(Op::GetInvitation))?;
    Ok(Json(BaInvitationDetail::new(inv, space, inviter_email)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvitationBody {
    invitation_id: String,
}

#[utoipa::path(
    post, path = "/accept-invitation", request_body = InvitationBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{invitation, member}`; the organization becomes the session's active one", body = BaInvitationAnswer),
        (status = 400, description = "INVITATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_accept_invitation(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<InvitationBody>,
) -> BaResult<Json<BaInvitationAnswer>> {
    let user = auth.user.clone();
    let session_id = auth.session.id.clone();
    let (invitation, member) = state
        .db
        .write(move |tx, now| {
            let spaces::Accepted { invitation, member } =
                spaces::accept(tx, &InvitationId::from(&body.invitation_id), &user, now)?;
            session::set_active_space(
                tx,
                &SessionId::from(&session_id),
                Some(&SpaceId::from(&member.organization_id)),
            )?;
            Ok((invitation, member))
        })
        .await
        .map_err(wire(Op::Answer))?;
    Ok(Json(BaInvitationAnswer {
        invitation: invitation.into(),
        member: Some(BaMember::bare(&member)),
    }))
}

#[utoipa::path(
    post, path = "/reject-invitation", request_body = InvitationBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{invitation, member: null}`", body = BaInvitationAnswer),
        (status = 400, description = "INVITATION_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_reject_invitation(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<InvitationBody>,
) -> BaResult<Json<BaInvitationAnswer>> {
    let user = auth.user.clone();
    let invitation = state
        .db
        .write(move |tx, now| {
            spaces::reject(tx, &InvitationId::from(body.invitation_id), &user, now)
        })
        .await
        .map_err(wire(Op::Answer))?;
    Ok(Json(BaInvitationAnswer {
        invitation: invitation.into(),
        member: None,
    }))
}

#[utoipa::path(
    post, path = "/cancel-invitation", request_body = InvitationBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The canceled invitation", body = crate::spaces::Invitation),
        (status = 400, description = "INVITATION_NOT_FOUND, MEMBER_NOT_FOUND", body = BaErrorBody),
        (status = 403, description = "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION", body = BaErrorBody)
    )
)]
pub(crate) async fn post_cancel_invitation(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<InvitationBody>,
) -> BaResult<Json<Invitation>> {
    let user_id = UserId::from(&auth.user.id);
    let invitation = state
        .db
        .write(move |tx, now| {
            let invitation_id = InvitationId::from(body.invitation_id);
            spaces::cancel(tx, None, &invitation_id, &user_id, now)
        })
        .await
        .map_err(wire(Op::Cancel))?;
    Ok(Json(invitation))
}
