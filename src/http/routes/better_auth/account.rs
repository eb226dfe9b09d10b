//! The framework's core account routes: `update-user`, `change-password`,
//! `change-email`, `delete-user`, `list-accounts`, and the session routes
//! `list-sessions`, `revoke-session`, `revoke-other-sessions`,
//! `revoke-sessions`. Each parses, calls the domain function the `/api/v1`
//! door calls, and answers in the framework's shape (`docs/COMPAT.md`).

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use super::session::{remembered, DONT_REMEMBER_COOKIE};
use super::wire::{BaAccount, BaSession, BaStatus, BaSuccessMessage, BaTokenAndUser};
use super::{check_callback, BaAuth, BaError, BaJson, BaResult};
use crate::audit::ClientInfo;
use crate::auth::caller::Caller;
use crate::auth::{self, lifecycle, sessions};
use crate::error::{ApiError, ErrorCode};
use crate::http::cookie;
use crate::me::{self, erase, ProfilePatch};
use crate::state::AppState;
use crate::users;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_update_user))
        .routes(routes!(post_change_password))
        .routes(routes!(post_change_email))
        .routes(routes!(post_delete_user))
        .routes(routes!(get_list_accounts))
        .routes(routes!(get_list_sessions))
        .routes(routes!(post_revoke_session))
        .routes(routes!(post_revoke_other_sessions))
        .routes(routes!(post_revoke_sessions))
}

fn caller(auth: &BaAuth) -> Caller {
    Caller {
        session: auth.session.clone(),
        user: auth.user.clone(),
    }
}

/// A wrong current password is the framework's 400 `INVALID_PASSWORD`.
fn password_error(e: ApiError) -> BaError {
    match e.code {
        ErrorCode::InvalidCredentials => {
            BaError::bad_request("INVALID_PASSWORD", "Invalid password")
        }
        _ => e.into(),
    }
}

/// The session cookie again, when the caller came with it (the framework
/// re-sends it after changing the user).
fn cookie_again(state: &AppState, auth: &BaAuth, headers: &HeaderMap) -> HeaderMap {
    match (&auth.token, crate::http::extract::session_cookie(headers)) {
        (Some(token), Some(_)) => {
            cookie::set_session_remember(&state.config, token, remembered(headers))
        }
        _ => HeaderMap::new(),
    }
}

/// The cookies that end a browser's session.
fn clearing_cookies(state: &AppState) -> HeaderMap {
    let mut cookies = cookie::clear_session(&state.config);
    cookie::append(
        &mut cookies,
        &state.config,
        DONT_REMEMBER_COOKIE,
        "",
        Some(0),
    );
    cookies
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateUserBody {
    name: Option<String>,
    /// `null` removes the image; absent keeps it.
    #[serde(default, deserialize_with = "crate::http::routes::double_option")]
    image: Option<Option<String>>,
    /// Refused: the address changes through `change-email`.
    #[schema(value_type = Option<String>)]
    email: Option<Value>,
}

#[utoipa::path(
    post, path = "/update-user", request_body = UpdateUserBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`; the session cookie is re-sent", body = BaStatus),
        (status = 400, description = "EMAIL_CAN_NOT_BE_UPDATED, VALIDATION_ERROR (bad name or image, nothing to update)", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_update_user(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    auth: BaAuth,
    BaJson(body): BaJson<UpdateUserBody>,
) -> BaResult<Response> {
    if body.email.is_some() {
        return Err(BaError::bad_request(
            "EMAIL_CAN_NOT_BE_UPDATED",
            "Email can not be updated",
        ));
    }
    let patch = ProfilePatch {
        name: body.name,
        image: body.image,
    };
    let uid = auth.user.id.clone();
    state
        .db
        .write(move |tx, now| me::update_profile(tx, &uid, patch, &client, now))
        .await?;
    let cookies = cookie_again(&state, &auth, &headers);
    Ok((cookies, Json(BaStatus::TRUE)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangePasswordBody {
    new_password: String,
    current_password: String,
    /// Other sessions end whatever this says (see `docs/COMPAT.md`); when
    /// true, `token` is the caller's session token.
    revoke_other_sessions: Option<bool>,
}

#[utoipa::path(
    post, path = "/change-password", request_body = ChangePasswordBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{token, user}`; every other session of the user ends", body = BaTokenAndUser),
        (status = 400, description = "INVALID_PASSWORD, PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_LOCKED, RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<ChangePasswordBody>,
) -> BaResult<Json<BaTokenAndUser>> {
    auth::change_password(
        &state,
        auth.user.id.clone(),
        auth.session.id.clone(),
        body.current_password,
        body.new_password,
        client,
    )
    .await
    .map_err(password_error)?;
    let token = auth
        .token
        .filter(|_| body.revoke_other_sessions == Some(true));
    Ok(Json(BaTokenAndUser {
        token,
        user: auth.user.into(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeEmailBody {
    new_email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[utoipa::path(
    post, path = "/change-email", request_body = ChangeEmailBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`: a confirmation link goes to the new address (none when it is taken)", body = BaStatus),
        (status = 400, description = "VALIDATION_ERROR (bad or unchanged address)", body = super::BaErrorBody),
        (status = 403, description = "SESSION_NOT_FRESH, INVALID_CALLBACK_URL", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_change_email(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<ChangeEmailBody>,
) -> BaResult<Json<BaStatus>> {
    users::normalize_email(&body.new_email).map_err(|_| {
        BaError::bad_request("VALIDATION_ERROR", "[body.newEmail] Invalid email address")
    })?;
    let callback = check_callback(&state, body.callback_url.as_deref())?;
    let caller = caller(&auth);
    match lifecycle::change_email(&state, &caller, &body.new_email, callback, None, client).await {
        // As the framework: a taken address answers like a free one (no
        // mail goes out), so the answer does not tell who has an account.
        Ok(()) => Ok(Json(BaStatus::TRUE)),
        Err(e) if e.code == ErrorCode::EmailAlreadyRegistered => Ok(Json(BaStatus::TRUE)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteUserBody {
    /// Needed unless the session is fresh.
    password: Option<String>,
    /// Accepted and ignored (no deletion mail step).
    #[serde(rename = "callbackURL")]
    #[allow(dead_code)]
    callback_url: Option<String>,
    /// Accepted and ignored.
    #[allow(dead_code)]
    token: Option<String>,
}

#[utoipa::path(
    post, path = "/delete-user", request_body = DeleteUserBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{success: true, message}`: the user and everything they own are erased; the cookies are cleared", body = BaSuccessMessage),
        (status = 400, description = "INVALID_PASSWORD", body = super::BaErrorBody),
        (status = 403, description = "SESSION_NOT_FRESH: send the password", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_LOCKED, RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_delete_user(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<DeleteUserBody>,
) -> BaResult<Response> {
    let caller = caller(&auth);
    erase::erase_stepped_up(&state, &caller, body.password, client)
        .await
        .map_err(password_error)?;
    let body = BaSuccessMessage {
        message: "User deleted",
        success: true,
    };
    Ok((clearing_cookies(&state), Json(body)).into_response())
}

#[utoipa::path(
    get, path = "/list-accounts",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user's sign-in accounts: the password (`providerId: credential`) if set", body = Vec<BaAccount>)
    )
)]
pub(crate) async fn get_list_accounts(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Vec<BaAccount>>> {
    let uid = auth.user.id.clone();
    let set_at = state
        .db
        .read(move |c| users::store::password_set_at(c, &uid))
        .await?;
    let user = &auth.user;
    Ok(Json(
        set_at
            .map(|updated| BaAccount {
                account_id: user.id.clone(),
                created_at: user.created_at.clone(),
                id: user.id.clone(),
                provider_id: "credential",
                scopes: Vec::new(),
                updated_at: updated,
                user_id: user.id.clone(),
            })
            .into_iter()
            .collect(),
    ))
}

#[utoipa::path(
    get, path = "/list-sessions",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user's live sessions. `token` is the session token for the caller's own session when it was presented, else the session id (only hashes of tokens are stored); `revoke-session` takes either", body = Vec<BaSession>)
    )
)]
pub(crate) async fn get_list_sessions(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Vec<BaSession>>> {
    let uid = auth.user.id.clone();
    let now = state.now();
    let list = state
        .db
        .read(move |c| auth::session::list(c, &uid, now))
        .await?;
    Ok(Json(
        list.iter()
            .map(|s| {
                let handle = match &auth.token {
                    Some(token) if s.id == auth.session.id => token.as_str(),
                    _ => s.id.as_str(),
                };
                BaSession::new(s, Some(handle))
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RevokeSessionBody {
    /// A session token, or a session id from `list-sessions`.
    token: String,
}

#[utoipa::path(
    post, path = "/revoke-session", request_body = RevokeSessionBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`: the session ends if it is the caller's (else nothing changes)", body = BaStatus)
    )
)]
pub(crate) async fn post_revoke_session(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<RevokeSessionBody>,
) -> BaResult<Json<BaStatus>> {
    sessions::revoke(&state, auth.user.id.clone(), body.token, client).await?;
    Ok(Json(BaStatus::TRUE))
}

#[utoipa::path(
    post, path = "/revoke-other-sessions",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`: every session of the user but this one ends", body = BaStatus)
    )
)]
pub(crate) async fn post_revoke_other_sessions(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
) -> BaResult<Json<BaStatus>> {
    let keep = Some(auth.session.id.clone());
    sessions::revoke_all(&state, auth.user.id.clone(), keep, client).await?;
    Ok(Json(BaStatus::TRUE))
}

#[utoipa::path(
    post, path = "/revoke-sessions",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`: every session of the user ends, this one too; the cookies are cleared", body = BaStatus)
    )
)]
pub(crate) async fn post_revoke_sessions(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
) -> BaResult<Response> {
    sessions::revoke_all(&state, auth.user.id.clone(), None, client).await?;
    Ok((clearing_cookies(&state), Json(BaStatus::TRUE)).into_response())
}
