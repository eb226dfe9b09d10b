//! `/api/v1/auth`: registration, sign-in, sessions, tokens, profile.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::wire::{success, SignedInBody, Success, Tokens, TokensAndUser};
use crate::auth::session::Session;
use crate::auth::token::Claims;
use crate::users::User;

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
        (status = 200, description = "The new account; `token` is `null` (registering opens no session)", body = Registered),
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
    Ok(Json(Registered { token: None, user }).into_response())
}

/// The body of `/register`.
#[derive(Serialize, ToSchema)]
struct Registered {
    /// Always `null`: registering opens no session (as upstream).
    token: Option<String>,
    user: User,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginRequest {
    email: String,
    password: String,
}

/// The upstream's sign-in body ([`SignedInBody`]) with the session cookie.
pub(super) fn signed_in_response(state: &AppState, signed: auth::SignedIn) -> Response {
    let headers = cookie::set_session(&state.config, &signed.session_token);
    (headers, Json(SignedInBody::from(&signed))).into_response()
}

#[utoipa::path(
    post, path = "/login", request_body = LoginRequest,
    tag = "auth",
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = SignedInBody),
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
        (status = 200, description = "A new refresh token of the cookie's session (the cookie stays as it is)", body = TokensAndUser),
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
    Ok(Json(TokensAndUser {
        access_token: signed.access_token,
        refresh_token: signed.refresh_token,
        user: signed.user,
    })
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
        (status = 200, description = "`{accessToken, refreshToken}`: the refresh token rotates (the one sent works for 30 s more; after that, sending it again ends the session); a session cookie sent instead is renewed as it is", body = Tokens),
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
    let body = Tokens {
        access_token: signed.access_token,
        refresh_token: signed.refresh_token,
    };
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
        (status = 200, description = "Whether the token is valid, and its claims when it is", body = Validity),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_validate(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<ValidateRequest>,
) -> Result<Json<Validity>> {
    let invalid = Validity {
        payload: None,
        valid: false,
    };
    let Some(token) = req.and_then(|r| r.token) else {
        return Ok(Json(invalid));
    };
    // Valid means: signed, unexpired and its session still live. An
    // infrastructure error stays an error (never a false "invalid").
    Ok(match auth::caller::by_access_token(&state, &token).await {
        Ok((claims, _)) => Json(Validity {
            payload: Some(claims),
            valid: true,
        }),
        Err(e) if e.code.status().is_client_error() => Json(invalid),
        Err(e) => return Err(e),
    })
}

/// Whether an access token is valid.
#[derive(Serialize, ToSchema)]
struct Validity {
    /// The token's claims; absent when it is not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Claims>,
    valid: bool,
}

#[utoipa::path(
    post, path = "/logout", request_body = Option<RefreshRequest>,
    tag = "auth",
    security((), ("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{success: true}`; clears the session cookie", body = Success)
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
    Ok((cookie::clear_session(&state.config), success()).into_response())
}

#[utoipa::path(
    get, path = "/session",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The caller's session and user", body = SessionAndUser)
    )
)]
async fn get_session(auth: SessionAuth) -> Json<SessionAndUser> {
    Json(SessionAndUser {
        session: auth.session,
        user: auth.user,
    })
}

/// A session and its user.
#[derive(Serialize, ToSchema)]
struct SessionAndUser {
    session: Session,
    user: User,
}

#[utoipa::path(
    get, path = "/sessions",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, newest first, as the shared auth client's session list reads them (`id, ipAddress, userAgent, deviceId, deviceName, lastActivityAt, createdAt, expiresAt`) plus `current`", body = Vec<ListedSession>)
    )
)]
async fn get_sessions(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> Result<Json<Vec<ListedSession>>> {
    let uid = auth.user.id.clone();
    let now = state.now();
    let sessions = state.db.read(move |c| session::list(c, &uid, now)).await?;
    let current = auth.session.id;
    let list = sessions
        .into_iter()
        .map(|s| ListedSession {
            current: s.id == current,
            device_id: None,
            device_name: None,
            last_activity_at: s.updated_at.clone(),
            session: s,
        })
        .collect();
    Ok(Json(list))
}

/// One live session in the caller's list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ListedSession {
    /// The session of this request.
    current: bool,
    /// Always `null`: there is no device registry (the user agent names the
    /// device).
    device_id: Option<String>,
    /// Always `null`.
    device_name: Option<String>,
    /// `updatedAt`.
    last_activity_at: String,
    #[serde(flatten)]
    session: Session,
}

#[utoipa::path(
    delete, path = "/sessions/{id}", params(("id" = String, Path, description = "session id")),
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "`{success: true}`", body = Success)
    )
)]
async fn delete_session(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: SessionAuth,
    Path(id): Path<String>,
) -> Result<Json<Success>> {
    if !auth::sessions::revoke(&state, auth.user.id, id, client).await? {
        return Err(ApiError::not_found("session"));
    }
    Ok(success())
}

/// The user's fields at the top level (what the web app's profile page
/// reads), and `{session, user}` as the upstream's get-session passthrough
/// answered.
#[utoipa::path(
    get, path = "/profile",
    tag = "auth",
    security(("bearer" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The user's fields, and `session` and `user`", body = Profile)
    )
)]
async fn get_profile(auth: SessionAuth) -> Result<Json<Profile>> {
    Ok(Json(Profile {
        fields: auth.user.clone(),
        session: auth.session,
        user: auth.user,
    }))
}

/// The user's fields at the top level, with the session and the user.
#[derive(Serialize, ToSchema)]
struct Profile {
    #[serde(flatten)]
    fields: User,
    session: Session,
    user: User,
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
        (status = 200, description = "The updated user; `status` is `true`", body = ProfileUpdated),
        (status = 400, description = "bad name or image, no field to update, or an email", body = ErrorEnvelope)
    )
)]
async fn post_profile(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ProfileRequest>,
) -> Result<Json<ProfileUpdated>> {
    let patch = req.into_patch()?;
    let user = state
        .db
        .write(move |tx, now| me::update_profile(tx, &claims.sub, patch, &client, now))
        .await?;
    Ok(Json(ProfileUpdated { status: true, user }))
}

/// The body of `POST /profile` (the upstream's).
#[derive(Serialize, ToSchema)]
struct ProfileUpdated {
    status: bool,
    user: User,
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
        (status = 200, description = "Changed; every other session of the user is ended", body = PasswordChanged),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> Result<Json<PasswordChanged>> {
    let revoked = auth::change_password(
        &state,
        claims.sub,
        claims.sid,
        req.current_password,
        req.new_password,
        client,
    )
    .await?;
    Ok(Json(PasswordChanged {
        revoked_sessions: revoked,
        success: true,
    }))
}

/// The body of `POST /change-password`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasswordChanged {
    /// How many other sessions were ended.
    revoked_sessions: usize,
    success: bool,
}

#[utoipa::path(
    get, path = "/security-events",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's newest 50 events, newest first: the web app's `{id, eventType, ipAddress, userAgent, metadata, createdAt}` and the upstream's row names (`event_type`, …)", body = Vec<EventBody>)
    )
)]
async fn get_security_events(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<EventBody>>> {
    let uid = claims.sub.clone();
    let events = state.db.read(move |c| audit::recent(c, &uid, 50)).await?;
    Ok(Json(
        events.iter().map(|e| event_json(e, &claims.sub)).collect(),
    ))
}

/// One event for its user. The web app's security log keys its labels on
/// lower-case types (`login_success`), so `eventType` is lower-case;
/// `event_type` keeps the stored name of the upstream's raw rows.
#[derive(Serialize, ToSchema)]
struct EventBody {
    #[serde(rename = "createdAt")]
    created_at_camel: String,
    created_at: String,
    #[serde(rename = "eventType")]
    event_type_lower: String,
    event_type: String,
    id: String,
    #[serde(rename = "ipAddress")]
    ip_address_camel: Option<String>,
    ip_address: Option<String>,
    /// What the event records beyond its type (`null` when nothing).
    #[schema(value_type = Option<Object>)]
    metadata: Value,
    #[serde(rename = "userAgent")]
    user_agent_camel: Option<String>,
    user_agent: Option<String>,
    user_id: String,
}

fn event_json(e: &audit::EventRow, user_id: &str) -> EventBody {
    EventBody {
        created_at_camel: e.created_at.clone(),
        created_at: e.created_at.clone(),
        event_type_lower: e.event_type.to_ascii_lowercase(),
        event_type: e.event_type.clone(),
        id: e.id.clone(),
        ip_address_camel: e.ip_address.clone(),
        ip_address: e.ip_address.clone(),
        metadata: e.metadata.clone(),
        user_agent_camel: e.user_agent.clone(),
        user_agent: e.user_agent.clone(),
        user_id: user_id.to_owned(),
    }
}
