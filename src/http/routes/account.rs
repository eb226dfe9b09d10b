//! `/api/v1/auth` account lifecycle by mail: verification, password reset,
//! email change, magic links.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::header::{ACCEPT, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::wire::{success, Success};
use crate::audit::ClientInfo;
use crate::auth::lifecycle;
use crate::email::{templates::escape, with_param};
use crate::error::{ApiError, Result};
use crate::http::cookie;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AppQuery, BearerSession};
use crate::http::ratelimit::{envelope, guarded, Bucket};
use crate::state::AppState;

/// Routes merged into `/api/v1/auth`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(guarded(
            OpenApiRouter::new()
                .routes(routes!(post_resend_verification))
                .routes(routes!(post_forgot_password))
                .routes(routes!(post_reset_password))
                .routes(routes!(post_magic_link_send)),
            state,
            Bucket::Auth,
            envelope,
        ))
        .routes(routes!(get_verify_email))
        .routes(routes!(post_change_email))
        .routes(routes!(get_magic_link_verify))
}

/// The address is verified.
#[derive(Serialize, ToSchema)]
struct EmailVerified {
    success: bool,
    user: crate::users::User,
}

/// A verification mail went to the new address.
#[derive(Serialize, ToSchema)]
struct EmailChangeSent {
    /// `Verification email sent to new address`.
    message: &'static str,
    success: bool,
}

fn redirect(url: &str, extra: HeaderMap) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut response = (StatusCode::FOUND, extra).into_response();
            response.headers_mut().insert(LOCATION, location);
            response
        }
        Err(_) => ApiError::validation("callback URL is not a valid header value").into_response(),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResendRequest {
    email: String,
    source_app_url: Option<String>,
}

#[utoipa::path(
    post, path = "/resend-verification", request_body = ResendRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{success: true}` (also for unknown addresses)", body = Success),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_resend_verification(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<ResendRequest>,
) -> Result<Json<Success>> {
    lifecycle::resend_verification(&state, &req.email, req.source_app_url, client).await?;
    Ok(success())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    token: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[utoipa::path(
    get, path = "/verify-email", params(TokenQuery),
    tag = "auth",
    responses(
        (status = 200, description = "`{success: true, user}`, or a page when HTML is accepted", content((EmailVerified = "application/json"), (String = "text/html"))),
        (status = 302, description = "Redirect to the callback URL"),
        (status = 401, description = "TOKEN_EXPIRED", body = ErrorEnvelope),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn get_verify_email(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    AppQuery(q): AppQuery<TokenQuery>,
) -> Result<Response> {
    // The callback is checked before the token is spent.
    let callback = lifecycle::check_callback(&state, q.callback_url.as_deref())?;
    let token = q
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::validation("token is required"))?;
    match lifecycle::verify_email(&state, token, client).await {
        Ok(done) => {
            let target = match callback.or(done.callback) {
                Some(cb) => Some(lifecycle::check_callback(&state, Some(&cb))?),
                None => None,
            };
            if let Some(Some(url)) = target {
                return Ok(redirect(&url, HeaderMap::new()));
            }
            if wants_html(&headers) {
                let product = escape(&state.config.mail_product_name);
                return Ok(Html(format!(
                    "<!doctype html><meta charset=utf-8><title>{product}</title>\
                     <p style=\"font-family:system-ui;margin:3rem auto;max-width:30rem\">\
                     {} ✓</p>",
                    escape(&done.user.email)
                ))
                .into_response());
            }
            Ok(Json(EmailVerified {
                success: true,
                user: done.user,
            })
            .into_response())
        }
        Err(e) => match callback {
            Some(cb) => Ok(redirect(
                &with_param(&cb, "error", e.code.as_str()),
                HeaderMap::new(),
            )),
            None => Err(e),
        },
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ForgotRequest {
    email: String,
    redirect_to: Option<String>,
}

#[utoipa::path(
    post, path = "/forgot-password", request_body = ForgotRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{success: true}` (also for unknown addresses)", body = Success),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<ForgotRequest>,
) -> Result<Json<Success>> {
    lifecycle::forgot_password(&state, &req.email, req.redirect_to, client).await?;
    Ok(success())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResetRequest {
    token: String,
    new_password: String,
}

#[utoipa::path(
    post, path = "/reset-password", request_body = ResetRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{success: true}`", body = Success),
        (status = 401, description = "TOKEN_EXPIRED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<ResetRequest>,
) -> Result<Json<Success>> {
    lifecycle::reset_password(&state, req.token, req.new_password, client).await?;
    Ok(success())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChangeEmailRequest {
    new_email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    /// The current password; needed when the session is not fresh.
    password: Option<String>,
}

#[utoipa::path(
    post, path = "/change-email", request_body = ChangeEmailRequest,
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification mail is on its way", body = EmailChangeSent),
        (status = 401, description = "INVALID_CREDENTIALS (wrong password)", body = ErrorEnvelope),
        (status = 403, description = "SESSION_NOT_FRESH: sign in again or send the password", body = ErrorEnvelope),
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 409, description = "EMAIL_ALREADY_REGISTERED", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED (password attempts)", body = ErrorEnvelope)
    )
)]
async fn post_change_email(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BearerSession,
    AppJson(req): AppJson<ChangeEmailRequest>,
) -> Result<Json<EmailChangeSent>> {
    let (email, callback, password) = (req.new_email, req.callback_url, req.password);
    lifecycle::change_email(&state, &auth.caller, &email, callback, password, client).await?;
    Ok(Json(EmailChangeSent {
        message: "Verification email sent to new address",
        success: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MagicLinkRequest {
    email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[utoipa::path(
    post, path = "/magic-link/send", request_body = MagicLinkRequest,
    tag = "auth",
    responses(
        (status = 200, description = "`{success: true}` (also for unknown addresses)", body = Success),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_magic_link_send(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<MagicLinkRequest>,
) -> Result<Json<Success>> {
    lifecycle::send_magic_link(&state, &req.email, req.callback_url, client).await?;
    Ok(success())
}

#[utoipa::path(
    get, path = "/magic-link/verify", params(TokenQuery),
    tag = "auth",
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = crate::auth::SignedIn),
        (status = 302, description = "Redirect to the callback URL"),
        (status = 401, description = "TOKEN_EXPIRED, or TWO_FACTOR_REQUIRED with `twoFactorTicket`", body = ErrorEnvelope),
        (status = 403, description = "EMAIL_NOT_VERIFIED or locked", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn get_magic_link_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    AppQuery(q): AppQuery<TokenQuery>,
) -> Result<Response> {
    let callback = lifecycle::check_callback(&state, q.callback_url.as_deref())?;
    let token = q
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::validation("token is required"))?;
    match lifecycle::verify_magic_link(&state, token, client).await {
        Ok((signed, stored_callback)) => {
            let cookie = cookie::set_session(&state.config, &signed.session_token);
            let target = match callback.or(stored_callback) {
                Some(cb) => lifecycle::check_callback(&state, Some(&cb))?,
                None => None,
            };
            match target {
                Some(url) => Ok(redirect(&url, cookie)),
                None => Ok((cookie, Json(signed)).into_response()),
            }
        }
        Err(mut e) => {
            // The callback stored with the link counts when the URL has none.
            let extra = e.extra.take().unwrap_or_default();
            let stored = extra
                .get("callbackURL")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let ticket = extra
                .get("twoFactorTicket")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let target = match callback.or(stored) {
                Some(cb) => lifecycle::check_callback(&state, Some(&cb))?,
                None => None,
            };
            match target {
                Some(cb) => {
                    // With 2FA on, the app gets the ticket for the code step.
                    let mut url = with_param(&cb, "error", e.code.as_str());
                    if let Some(ticket) = &ticket {
                        url = with_param(&url, "twoFactorTicket", ticket);
                    }
                    Ok(redirect(&url, HeaderMap::new()))
                }
                None => {
                    let mut extra = extra;
                    extra.remove("callbackURL");
                    e.extra = (!extra.is_empty()).then_some(extra);
                    Err(e)
                }
            }
        }
    }
}
