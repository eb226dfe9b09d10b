//! `/api/auth/*`: the Better Auth-compatible surface the existing Mana
//! clients call (SPEC §12, `docs/COMPAT.md`): cookie sessions, the
//! organization routes with an active organization per session, two-factor,
//! magic links and passkeys. Every handler is a thin adapter over the same
//! domain functions as `/api/v1`; only paths, shapes, cookies and error
//! codes follow the framework.

pub mod account;
pub mod email_flows;
pub mod magic_link;
pub mod organization;
pub mod passkey;
pub mod session;
pub mod two_factor;
pub mod wire;

use crate::http::openapi::routes;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::ClientInfo;
use crate::auth::{self, Session};
use crate::error::{ApiError, ErrorCode, Refusal};
use crate::http::extract::{bearer, session_cookie};
use crate::state::AppState;
use crate::users::User;

/// Routes under `/api/auth`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::router(state))
        .merge(account::router())
        .merge(email_flows::router(state))
        .routes(super::alias(
            routes!(super::wellknown::get_jwks),
            "/jwks",
            "get_jwks_api_auth",
        ))
        .nest("/organization", organization::router())
        .nest("/two-factor", two_factor::router())
        .merge(magic_link::router(state))
        .nest("/passkey", passkey::router(state))
}

/// The framework's error body: `{code, message}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BaErrorBody {
    /// Upper-snake error code, e.g. `INVALID_EMAIL_OR_PASSWORD`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// An error answered in the framework's shape.
#[derive(Debug)]
pub struct BaError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Set for internal errors, logged and never sent.
    pub source: Option<Box<ApiError>>,
}

pub type BaResult<T> = std::result::Result<T, BaError>;

impl BaError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized")
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn invalid_email() -> Self {
        Self::bad_request("INVALID_EMAIL", "Invalid email")
    }
}

/// The framework code and message for one of ours; the message stays ours
/// where the framework has no fixed text.
fn map(e: &ApiError) -> (StatusCode, &'static str, String) {
    use ErrorCode::*;
    let fixed = |status, code, msg: &str| (status, code, msg.to_owned());
    match e.code {
        InvalidCredentials => fixed(
            StatusCode::UNAUTHORIZED,
            "INVALID_EMAIL_OR_PASSWORD",
            "Invalid email or password",
        ),
        EmailNotVerified => fixed(
            StatusCode::FORBIDDEN,
            "EMAIL_NOT_VERIFIED",
            "Email not verified",
        ),
        EmailAlreadyRegistered => fixed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            "User already exists. Use another email.",
        ),
        WeakPassword if e.refusal == Some(Refusal::PasswordTooLong) => fixed(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_LONG",
            "Password too long",
        ),
        WeakPassword => fixed(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_SHORT",
            "Password too short",
        ),
        Unauthorized | TokenExpired => {
            fixed(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized")
        }
        TokenInvalid => fixed(StatusCode::BAD_REQUEST, "INVALID_TOKEN", "Invalid token"),
        SessionNotFresh => fixed(
            StatusCode::FORBIDDEN,
            "SESSION_NOT_FRESH",
            "Session is not fresh",
        ),
        Validation => (
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            e.message.clone(),
        ),
        RateLimited => fixed(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests. Please try again later.",
        ),
        other => (other.status(), other.as_str(), e.message.clone()),
    }
}

impl From<ApiError> for BaError {
    fn from(e: ApiError) -> Self {
        let (status, code, message) = map(&e);
        let internal = status.is_server_error();
        Self {
            status,
            code,
            message: if internal {
                "internal error".to_owned()
            } else {
                message
            },
            retry_after: e.retry_after,
            source: internal.then(|| Box::new(e)),
        }
    }
}

/// A refusal of the `/api/auth` door's guards, in the framework's shape.
pub fn refusal(e: ApiError) -> Response {
    BaError::from(e).into_response()
}

impl IntoResponse for BaError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            source.log_if_internal();
        }
        let mut response = (
            self.status,
            Json(BaErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, v.clone());
                response.headers_mut().insert("x-retry-after", v);
            }
        }
        response
    }
}

/// A caller with a live session: the session cookie (as the framework
/// reads it), or `Authorization: Bearer` with an access token or a session
/// token.
pub struct BaAuth {
    pub session: Session,
    pub user: User,
    /// The session token, when the caller presented it (cookie or bearer).
    pub token: Option<String>,
}

impl BaAuth {
    /// `{session, user}` as get-session answers it.
    pub fn to_wire(&self) -> wire::BaSessionAndUser {
        wire::BaSessionAndUser {
            session: wire::BaSession::new(&self.session, self.token.as_deref()),
            user: (&self.user).into(),
        }
    }
}

/// Resolves the caller's session, if any (`client` is recorded when a
/// reused refresh token ends a session).
pub async fn optional_auth(
    state: &AppState,
    headers: &HeaderMap,
    client: &ClientInfo,
) -> BaResult<Option<BaAuth>> {
    if let Some(token) = session_cookie(headers) {
        return match auth::resolve(state, token.clone(), client).await {
            Ok((session, user)) => Ok(Some(BaAuth {
                session,
                user,
                token: Some(token),
            })),
            Err(e) if matches!(e.code, ErrorCode::TokenExpired | ErrorCode::Unauthorized) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        };
    }
    if let Some(given) = bearer(headers) {
        // A JWT is an access token; anything else may be a session token.
        let found = if given.matches('.').count() == 2 {
            auth::caller::by_access_token(state, given)
                .await
                .map(|(_, c)| (c.session.clone(), c.user.clone(), None))
        } else {
            auth::resolve(state, given.to_owned(), client)
                .await
                .map(|(s, u)| (s, u, Some(given.to_owned())))
        };
        return match found {
            Ok((session, user, token)) => Ok(Some(BaAuth {
                session,
                user,
                token,
            })),
            Err(e) if matches!(e.code, ErrorCode::TokenExpired | ErrorCode::Unauthorized) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        };
    }
    Ok(None)
}

impl FromRequestParts<AppState> for BaAuth {
    type Rejection = BaError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        optional_auth(state, &parts.headers, &client)
            .await?
            .ok_or_else(BaError::unauthorized)
    }
}

/// Why a cookie-carrying write was refused: (Better Auth code, message).
type OriginRefusal = (&'static str, &'static str);

/// The origin rule of a cookie-carrying write: an `Origin` (else
/// `Referer`) of an allowed origin (CORS_ORIGINS, APP_URL, and BASE_URL,
/// the server's own pages such as `/login`); a missing or `null` origin is
/// refused. The `Host` header plays no part: a client chooses it (and a
/// rebound DNS name makes a foreign page's Host match its Origin).
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), OriginRefusal> {
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if origin.is_empty() || origin == "null" {
        return Err(("MISSING_OR_NULL_ORIGIN", "Missing or null Origin"));
    }
    if !crate::email::origin_is_allowed(&state.config, origin) {
        return Err(("INVALID_ORIGIN", "Invalid origin"));
    }
    Ok(())
}

/// The server's CSRF defence, one layer for every door. A state-changing
/// request (`POST`, …) that is authenticated by a cookie must come from an
/// allowed origin (`check_origin`). On `/api/auth/*` that is any request
/// with cookies (as the framework does), and a cross-site form navigation
/// to a sign-in or sign-up route is refused even without cookies; on every
/// other door it is a request that carries the session cookie (bearer-token
/// callers send none and are not affected).
/// Returns the refusal, if any (run by `http`'s edge layer).
pub fn origin_refusal(state: &AppState, req: &Request) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let headers = req.headers();
    let path = req.uri().path();
    if !path.starts_with("/api/auth/") {
        // Without the session cookie there is nothing to forge.
        session_cookie(headers)?;
        return match check_origin(state, headers) {
            Ok(()) => None,
            Err((_, message)) => Some(
                ApiError::forbidden(format!(
                    "cross-site request refused: {message} for a request with the session cookie"
                ))
                .into_response(),
            ),
        };
    }
    let first_login = path.starts_with("/api/auth/sign-in/")
        || path.starts_with("/api/auth/sign-up/")
        || path == "/api/auth/magic-link/send-magic-link"; // alias of sign-in/magic-link
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let fetch_mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
    if first_login && fetch_site == Some("cross-site") && fetch_mode == Some("navigate") {
        return Some(
            BaError::forbidden(
                "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
                "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
            )
            .into_response(),
        );
    }
    let uses_cookies = headers.contains_key(header::COOKIE);
    // Sign-in and sign-up also check an origin the browser did send, with
    // or without cookies (the framework's first-login CSRF defence).
    let fetch_metadata = first_login
        && (fetch_site.is_some() || fetch_mode.is_some() || headers.contains_key(header::ORIGIN));
    if uses_cookies || fetch_metadata {
        if let Err((code, message)) = check_origin(state, headers) {
            return Some(BaError::forbidden(code, message).into_response());
        }
    }
    None
}

/// A callback URL the framework would accept, by the server's one redirect
/// check (`email::check_redirect`); kept as given (relative ones stay
/// relative). Refused with 403 INVALID_CALLBACK_URL.
pub fn check_callback(state: &AppState, url: Option<&str>) -> BaResult<Option<String>> {
    match url {
        None => Ok(None),
        Some(u) => crate::email::check_redirect(&state.config, u)
            .map(|_| Some(u.to_owned()))
            .map_err(|_| BaError::forbidden("INVALID_CALLBACK_URL", "Invalid callbackURL")),
    }
}

/// A JSON object body whose rejection is the framework's error.
pub struct BaJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for BaJson<T> {
    type Rejection = BaError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Like the framework, HTML forms may post url-encoded fields.
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form {
            let bytes = crate::http::extract::read_body(req, state.config.max_body_bytes).await?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| BaError::bad_request("VALIDATION_ERROR", "the form is not UTF-8"))?;
            return Ok(BaJson(crate::http::extract::serde_urlencoded_from_str(
                text,
            )?));
        }
        crate::http::extract::AppJson::<T>::from_request(req, state)
            .await
            .map(|j| BaJson(j.0))
            .map_err(BaError::from)
    }
}

/// A query string whose rejection is the framework's error.
pub struct BaQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequestParts<AppState> for BaQuery<T> {
    type Rejection = BaError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        crate::http::extract::AppQuery::<T>::from_request_parts(parts, state)
            .await
            .map(|q| BaQuery(q.0))
            .map_err(BaError::from)
    }
}
