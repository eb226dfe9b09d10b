//! Extractors whose rejections are `ApiError`s in the envelope: JSON bodies
//! (content type, size with a drained overflow, object shape, field types),
//! query strings, bearer tokens, the session cookie and client info.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use std::sync::Arc;

use crate::audit::ClientInfo;
use crate::auth::caller::{self, Caller};
use crate::auth::token::Claims;
use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::users::User;

/// Bodies up to this size are read to the end even when over the limit, so
/// the client gets a clean 413 instead of a reset connection.
const DRAIN_CAP: usize = 16 * 1024 * 1024;

/// Name of the session cookie (`__Secure-` prefixed when cookies are secure).
pub const SESSION_COOKIE: &str = "mana.session_token";

/// A JSON object body.
pub struct AppJson<T>(pub T);

/// A JSON object body that may be absent (empty body).
pub struct OptionalJson<T>(pub Option<T>);

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {limit} bytes"),
    )
}

pub(crate) async fn read_body(req: Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_CAP) {
        return Err(too_large(limit));
    }
    let mut body = req.into_body();
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::validation("could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= limit {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_CAP {
                break;
            }
        }
    }
    if total > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a JSON object into `T`; errors name the field, never echo values.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::validation("request body is not valid JSON"))?;
    if !value.is_object() {
        return Err(ApiError::validation("request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if let Some(rest) = inner.strip_prefix("missing field ") {
            format!("missing field {rest}")
        } else if path == "." {
            "request body has the wrong shape".to_owned()
        } else {
            format!("field `{path}` has the wrong type or value")
        };
        ApiError::validation(message)
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::validation("request body must be a JSON object"));
        }
        parse_object(&bytes).map(AppJson)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let has_type = req.headers().contains_key(CONTENT_TYPE);
        let bytes = read_body(req, state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if has_type && !json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        parse_object(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// A query string whose rejection is the envelope.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(query).map(AppQuery)
    }
}

pub(crate) fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::validation("malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|_| ApiError::validation("query parameters have the wrong type or are missing"))
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let addr = crate::ratelimit::client_ip(peer, forwarded, &state.config.trust_proxy);
        let ip = addr.map(|ip| ip.to_string());
        let network =
            addr.map(|ip| crate::ratelimit::network_key(ip, state.config.rate_limit_ipv6_prefix));
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let accept_language = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect());
        Ok(ClientInfo {
            ip,
            user_agent,
            accept_language,
            network,
        })
    }
}

/// The bearer token of the Authorization header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of a cookie by name, its `__Secure-` name preferred when both
/// are sent (where cookies are secure, `secure_cookie_names` has removed
/// the plain names before any handler runs).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let secure = format!("__Secure-{name}");
    let pairs = || {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    };
    pairs()
        .find(|(n, _)| *n == secure)
        .or_else(|| pairs().find(|(n, _)| *n == name))
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Where cookies are secure (production, an https `BASE_URL`, or a
/// `COOKIE_DOMAIN`), this server's cookies count only under their
/// `__Secure-` names, which a browser accepts only from a secure origin:
/// a `mana.*` cookie planted without the prefix (over plain http, or by a
/// sibling subdomain) is dropped from the request before any handler
/// reads it, so it can neither be a session nor shadow the real one.
pub fn secure_cookie_names(state: &AppState, req: &mut Request) {
    if super::cookie::secure(&state.config) && req.headers().contains_key(COOKIE) {
        let kept: Vec<String> = req
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty() && !pair.starts_with("mana."))
            .map(str::to_owned)
            .collect();
        let headers = req.headers_mut();
        headers.remove(COOKIE);
        if let Ok(value) = axum::http::HeaderValue::from_str(&kept.join("; ")) {
            if !kept.is_empty() {
                headers.insert(COOKIE, value);
            }
        }
    }
}

/// The session token from the session cookie, if any. A value in the
/// framework's signed form `token.signature` yields its token part (our
/// tokens are base64url and never contain a dot; the token itself is the
/// secret, stored only as a hash, so the signature adds nothing).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .and_then(|v| v.split('.').next().map(str::to_owned))
        .filter(|v| !v.is_empty())
}

/// A caller authenticated by the bearer access token (JWT) of a live
/// session (`auth::caller`): its claims.
#[derive(Clone, Debug)]
pub struct AuthUser(pub Claims);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        BearerSession::from_request_parts(parts, state)
            .await
            .map(|b| AuthUser(b.claims))
    }
}

/// A caller authenticated by the bearer access token of a live session:
/// the claims and the session with its user.
pub struct BearerSession {
    pub claims: Claims,
    pub caller: Arc<Caller>,
}

impl FromRequestParts<AppState> for BearerSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jwt = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let (claims, caller) = caller::by_access_token(state, jwt).await?;
        Ok(BearerSession { claims, caller })
    }
}

/// A caller with a live session: by access token (its `sid`) or by cookie.
pub struct SessionAuth {
    pub session: Session,
    pub user: User,
    /// True when the session came from the cookie.
    pub via_cookie: bool,
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(jwt) = bearer(&parts.headers) {
            let (_, caller) = caller::by_access_token(state, jwt).await?;
            return Ok(SessionAuth {
                session: caller.session.clone(),
                user: caller.user.clone(),
                via_cookie: false,
            });
        }
        let token = session_cookie(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let caller = caller::by_session_token(state, token, &client)
            .await
            .map_err(|_| ApiError::unauthorized())?;
        Ok(SessionAuth {
            session: caller.session,
            user: caller.user,
            via_cookie: true,
        })
    }
}

/// An internal caller that presented the right `X-Service-Key`.
pub struct ServiceKey;

impl FromRequestParts<AppState> for ServiceKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use subtle::ConstantTimeEq;
        let given = parts
            .headers
            .get("x-service-key")
            .map(|v| v.as_bytes())
            .ok_or_else(ApiError::unauthorized)?;
        let expected = state.config.mana_service_key.expose().as_bytes();
        // Compare digests so the comparison time does not depend on length.
        use sha2::{Digest, Sha256};
        let ok: bool = Sha256::digest(given)
            .ct_eq(&Sha256::digest(expected))
            .into();
        if ok {
            Ok(ServiceKey)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}
