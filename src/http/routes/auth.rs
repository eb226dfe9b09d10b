//! `/api/v1/auth`: registration, sign-in, sessions, tokens, profile.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::audit::{self, ClientInfo};
use crate::auth::{self, session, Registration};
use crate::error::{ApiError, ErrorCode, Result};
use crate::http::cookie;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{session_cookie, AppJson, AuthUser, OptionalJson, SessionAuth};
use crate::http::ratelimit::{envelope, guarded, Bucket};
use crate::me::{self, ProfilePatch};
use crate::state::AppState;
use crate::users;

/// Routes under `/api/v1/auth`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_signup_status))
        .merge(guarded(
            OpenApiRouter::new()
                .routes(routes!(post_register))
                .routes(routes!(post_login)),
            state,
            Bucket::Auth,
            envelope,
        ))
        .routes(routes!(post_session_to_token))
        .routes(routes!(post_refresh))
        .merge(guarded(
            OpenApiRouter::new().routes(routes!(post_validate)),
            state,
            Bucket::Validate,
            envelope,
        ))
        .routes(routes!(post_logout))
        .routes(routes!(get_session))
        .routes(routes!(get_sessions))
        .routes(routes!(delete_session))
        .routes(routes!(get_profile, post_profile))
        .routes(routes!(post_change_password))
        .routes(routes!(super::me::delete_account))
        .routes(routes!(get_security_events))
        .routes(super::alias(
            routes!(super::wellknown::get_jwks),
            "/jwks",
            "get_jwks_v1",
        ))
        .merge(super::account::router(state))
        .nest("/two-factor", super::two_factor::router())
}

#[utoipa::path(
    get, path = "/signup-status",
    tag = "auth",
    responses(
        (status = 200, description = "Today's sign-up numbers", body = crate::users::SignupStatus)
    )
)]
async fn get_signup_status(State(state): State<AppState>) -> Result<Json<users::SignupStatus>> {
    let limit = state.config.max_daily_signups;
    let now = state.now();
    Ok(Json(
        state
            .db
            .read(move |c| users::signup_status(c, limit, now))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    email: String,
    password: String,
    name: Option<String>,
    source_app_url: Option<String>,
}

#[utoipa::path(
    post, path = "/register", request_body = RegisterRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{token: null, user}`: the new account", body = Object),
        (status = 409, description = "EMAIL_ALREADY_REGISTERED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED or SIGNUP_LIMIT_REACHED", body = ErrorEnvelope)
    )
)]
async fn post_register(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<Response> {
    let reg = Registration {
        email: req.email,
        password: req.password,
        name: req.name,
        image: None,
        source_app_url: req.source_app_url,
    };
    let user = auth::register(&state, reg, client).await?;
    // `token: null`: registering opens no session (as upstream).
    Ok(Json(json!({ "token": null, "user": user })).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginRequest {
    email: String,
    password: String,
}

/// `{redirect: false, token, user, accessToken, refreshToken}` (the
/// upstream's sign-in body) with the session cookie. `refreshToken` rotates
/// on each refresh; `token` (which the persona runner sends as a Better
/// Auth bearer token) is the cookie's token, which does not.
pub(super) fn signed_in_response(state: &AppState, signed: auth::SignedIn) -> Response {
    let headers = cookie::set_session(&state.config, &signed.session_token);
    (headers, Json(signed_in_json(&signed))).into_response()
}

/// The sign-in body of `/login` and the passkey sign-in.
pub(super) fn signed_in_json(signed: &auth::SignedIn) -> Value {
    json!({
        "redirect": false,
        "token": signed.session_token,
        "user": signed.user,
        "accessToken": signed.access_token,
        "refreshToken": signed.refresh_token,
    })
}

#[utoipa::path(
    post, path = "/login", request_body = LoginRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{redirect, token, user, accessToken, refreshToken}`; sets the session cookie", body = crate::auth::SignedIn),
        (status = 401, description = "INVALID_CREDENTIALS, or TWO_FACTOR_REQUIRED with `twoFactorTicket`", body = ErrorEnvelope),
        (status = 403, description = "EMAIL_NOT_VERIFIED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED or ACCOUNT_LOCKED", body = ErrorEnvelope)
    )
)]
async fn post_login(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<Response> {
    let signed = auth::login(&state, &req.email, req.password, client).await?;
    Ok(signed_in_response(&state, signed))
}

#[utoipa::path(
    post, path = "/session-to-token",
    tag = "auth",
    security(("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{accessToken, refreshToken, user}`: a new refresh token of the cookie's session (the cookie stays as it is)", body = Object),
        (status = 401, description = "no live session", body = ErrorEnvelope)
    )
)]
async fn post_session_to_token(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    let token = session_cookie(&headers).ok_or_else(ApiError::unauthorized)?;
    let signed = auth::refresh::exchange(&state, token, client).await?;
    // `user` too: the two-factor steps of the shared auth client read
    // `user.email` from here.
    Ok(Json(json!({
        "accessToken": signed.access_token,
        "refreshToken": signed.refresh_token,
        "user": signed.user,
    }))
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: Option<String>,
}

#[utoipa::path(
    post, path = "/refresh", request_body = Option<RefreshRequest>,
    tag = "auth",
    security((), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{accessToken, refreshToken}`: the refresh token rotates (the one sent works for 30 s more; after that, sending it again ends the session); a session cookie sent instead is renewed as it is", body = Object),
        (status = 401, description = "no or an invalid refresh token", body = ErrorEnvelope)
    )
)]
async fn post_refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    OptionalJson(req): OptionalJson<RefreshRequest>,
) -> Result<Response> {
    let by_body = req.and_then(|r| r.refresh_token);
    let by_cookie = session_cookie(&headers).filter(|_| by_body.is_none());
    let token = by_body
        .or_else(|| by_cookie.clone())
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "refreshToken is required"))?;
    let signed = auth::refresh::refresh(&state, token, client).await?;
    let body = json!({ "accessToken": signed.access_token, "refreshToken": signed.refresh_token });
    Ok(match by_cookie {
        // The cookie does not rotate; it gets its full lifetime again.
        Some(cookie) => (cookie::set_session(&state.config, &cookie), Json(body)).into_response(),
        None => Json(body).into_response(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ValidateRequest {
    token: Option<String>,
}

#[utoipa::path(
    post, path = "/validate", request_body = Option<ValidateRequest>,
    tag = "auth",
    responses(
        (status = 200, description = "`{valid, payload?}`", body = Object),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_validate(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<ValidateRequest>,
) -> Result<Json<Value>> {
    let Some(token) = req.and_then(|r| r.token) else {
        return Ok(Json(json!({ "valid": false })));
    };
    // Valid means: signed, unexpired and its session still live. An
    // infrastructure error stays an error (never a false "invalid").
    Ok(match auth::caller::by_access_token(&state, &token).await {
        Ok((claims, _)) => Json(json!({ "valid": true, "payload": claims })),
        Err(e) if e.code.status().is_client_error() => Json(json!({ "valid": false })),
        Err(e) => return Err(e),
    })
}

#[utoipa::path(
    post, path = "/logout", request_body = Option<RefreshRequest>,
    tag = "auth",
    security((), ("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{success}`; clears the session cookie", body = Object)
    )
)]
async fn post_logout(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    OptionalJson(req): OptionalJson<RefreshRequest>,
) -> Result<Response> {
    let by_body = req.and_then(|r| r.refresh_token);
    let found = match (
        by_body.or_else(|| session_cookie(&headers)),
        crate::http::extract::bearer(&headers),
    ) {
        (Some(token), _) => auth::resolve(&state, token, &client).await.ok(),
        (None, Some(jwt)) => auth::caller::by_access_token(&state, jwt)
            .await
            .ok()
            .map(|(_, c)| (c.session.clone(), c.user.clone())),
        (None, None) => None,
    };
    if let Some((session, _)) = found {
        auth::logout(&state, session, client).await?;
    }
    Ok((
        cookie::clear_session(&state.config),
        Json(json!({ "success": true })),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/session",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{session, user}`", body = Object)
    )
)]
async fn get_session(auth: SessionAuth) -> Json<Value> {
    Json(json!({ "session": auth.session, "user": auth.user }))
}

#[utoipa::path(
    get, path = "/sessions",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, newest first, as the shared auth client's session list reads them (`id, ipAddress, userAgent, deviceId, deviceName, lastActivityAt, createdAt, expiresAt`) plus `current`", body = Vec<Object>)
    )
)]
async fn get_sessions(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> Result<Json<Vec<Value>>> {
    let uid = auth.user.id.clone();
    let now = state.now();
    let sessions = state.db.read(move |c| session::list(c, &uid, now)).await?;
    let current = auth.session.id;
    let list: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            let is_current = s.id == current;
            let last_activity = s.updated_at.clone();
            let mut v = json!(s);
            v["current"] = json!(is_current);
            // No device registry: the user agent names the device.
            v["deviceId"] = Value::Null;
            v["deviceName"] = Value::Null;
            v["lastActivityAt"] = json!(last_activity);
            v
        })
        .collect();
    Ok(Json(list))
}

#[utoipa::path(
    delete, path = "/sessions/{id}", params(("id" = String, Path, description = "session id")),
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{success}`", body = Object)
    )
)]
async fn delete_session(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: SessionAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    if !auth::sessions::revoke(&state, auth.user.id, id, client).await? {
        return Err(ApiError::not_found("session"));
    }
    Ok(Json(json!({ "success": true })))
}

/// The user's fields at the top level (what the web app's profile page
/// reads), and `{session, user}` as the upstream's get-session passthrough
/// answered.
#[utoipa::path(
    get, path = "/profile",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{id, name, email, image, …, session, user}`", body = Object)
    )
)]
async fn get_profile(auth: SessionAuth) -> Result<Json<Value>> {
    let mut body = json!(auth.user);
    body["session"] = json!(auth.session);
    body["user"] = json!(auth.user);
    Ok(Json(body))
}

/// The web app's profile form. `email` cannot be changed here (400, as
/// upstream); use `/change-email`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ProfileRequest {
    pub(crate) name: Option<String>,
    /// `null` removes the image; absent keeps it.
    #[serde(default, deserialize_with = "super::double_option")]
    pub(crate) image: Option<Option<String>>,
    /// Refused when present.
    #[schema(value_type = Option<String>)]
    pub(crate) email: Option<Value>,
}

impl ProfileRequest {
    /// The change, or 400 when it tries to change the email address.
    pub(crate) fn into_patch(self) -> Result<ProfilePatch> {
        if self.email.is_some() {
            return Err(ApiError::validation("Email can not be updated"));
        }
        Ok(ProfilePatch {
            name: self.name,
            image: self.image,
        })
    }
}

#[utoipa::path(
    post, path = "/profile", request_body = ProfileRequest,
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true, user}`", body = Object),
        (status = 400, description = "bad name or image, no field to update, or an email", body = ErrorEnvelope)
    )
)]
async fn post_profile(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ProfileRequest>,
) -> Result<Json<Value>> {
    let patch = req.into_patch()?;
    let user = state
        .db
        .write(move |tx, now| me::update_profile(tx, &claims.sub, patch, &client, now))
        .await?;
    Ok(Json(json!({ "status": true, "user": user })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

#[utoipa::path(
    post, path = "/change-password", request_body = ChangePasswordRequest,
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success, revokedSessions}`", body = Object),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> Result<Json<Value>> {
    let revoked = auth::change_password(
        &state,
        claims.sub,
        claims.sid,
        req.current_password,
        req.new_password,
        client,
    )
    .await?;
    Ok(Json(json!({ "success": true, "revokedSessions": revoked })))
}

#[utoipa::path(
    get, path = "/security-events",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's newest 50 events, newest first: the web app's `{id, eventType, ipAddress, userAgent, metadata, createdAt}` and the upstream's row names (`event_type`, …)", body = Vec<Object>)
    )
)]
async fn get_security_events(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<Value>>> {
    let uid = claims.sub.clone();
    let events = state.db.read(move |c| audit::recent(c, &uid, 50)).await?;
    Ok(Json(
        events.iter().map(|e| event_json(e, &claims.sub)).collect(),
    ))
}

/// One event for its user. The web app's security log keys its labels on
/// lower-case types (`login_success`), so `eventType` is lower-case;
/// `event_type` keeps the stored name of the upstream's raw rows.
fn event_json(e: &audit::EventRow, user_id: &str) -> Value {
    json!({
        "id": e.id,
        "eventType": e.event_type.to_ascii_lowercase(),
        "ipAddress": e.ip_address,
        "userAgent": e.user_agent,
        "metadata": e.metadata,
        "createdAt": e.created_at,
        "user_id": user_id,
        "event_type": e.event_type,
        "ip_address": e.ip_address,
        "user_agent": e.user_agent,
        "created_at": e.created_at,
    })
}
