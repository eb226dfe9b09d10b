//! The framework's mailed flows: `send-verification-email`, `verify-email`,
//! `request-password-reset` (and its old name `forget-password`),
//! `reset-password`. Thin adapters over `auth::lifecycle`, the functions
//! of the `/api/v1` door, with the same limits.

use crate::http::openapi::routes;
use crate::http::routes::alias;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

use super::wire::{BaStatus, BaStatusMessage, BaUser};
use super::{check_callback, BaError, BaJson, BaQuery, BaResult};
use crate::audit::ClientInfo;
use crate::auth::lifecycle;
use crate::email::with_param;
use crate::error::{ApiError, ErrorCode};
use crate::http::ratelimit::{guarded, Bucket};
use crate::state::AppState;
use crate::users;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(guarded(
            OpenApiRouter::new()
                .routes(routes!(post_send_verification_email))
                .routes(routes!(post_request_password_reset))
                .routes(alias(
                    routes!(post_request_password_reset),
                    "/forget-password",
                    "post_forget_password",
                ))
                .routes(routes!(post_reset_password)),
            state,
            Bucket::Auth,
            super::refusal,
        ))
        .routes(routes!(get_verify_email))
}

fn invalid_email() -> BaError {
    BaError::bad_request("VALIDATION_ERROR", "[body.email] Invalid email address")
}

fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(LOCATION, location);
            response
        }
        Err(_) => BaError::forbidden("INVALID_CALLBACK_URL", "Invalid callbackURL").into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SendVerificationBody {
    email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[utoipa::path(
    post, path = "/send-verification-email", request_body = SendVerificationBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{status: true}` (also for unknown or verified addresses, which get no mail)", body = BaStatus),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 403, description = "INVALID_CALLBACK_URL", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_send_verification_email(
    State(state): State<AppState>,
    client: ClientInfo,
    BaJson(body): BaJson<SendVerificationBody>,
) -> BaResult<Json<BaStatus>> {
    users::normalize_email(&body.email).map_err(|_| invalid_email())?;
    let callback = check_callback(&state, body.callback_url.as_deref())?;
    lifecycle::resend_verification(&state, &body.email, callback, client).await?;
    Ok(Json(BaStatus::TRUE))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyQuery {
    token: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// The framework's code for a link that does not verify.
fn link_error(e: &ApiError) -> Option<&'static str> {
    match e.code {
        ErrorCode::TokenExpired => Some("TOKEN_EXPIRED"),
        ErrorCode::TokenInvalid => Some("INVALID_TOKEN"),
        _ => None,
    }
}

/// `{status: true, user: null}`: the address is verified; no session is
/// opened, so there is no user to give.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BaVerifiedEmail {
    status: bool,
    #[schema(required = true)]
    user: Option<BaUser>,
}

#[utoipa::path(
    get, path = "/verify-email", params(VerifyQuery),
    tag = "better-auth",
    responses(
        (status = 200, description = "`{status: true, user: null}`: the address is verified (no session is opened)", body = BaVerifiedEmail),
        (status = 302, description = "To callbackURL, with `?error=INVALID_TOKEN|TOKEN_EXPIRED` when the link does not verify"),
        (status = 400, description = "VALIDATION_ERROR (no token)", body = super::BaErrorBody),
        (status = 401, description = "INVALID_TOKEN, TOKEN_EXPIRED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_CALLBACK_URL", body = super::BaErrorBody)
    )
)]
pub(crate) async fn get_verify_email(
    State(state): State<AppState>,
    client: ClientInfo,
    BaQuery(q): BaQuery<VerifyQuery>,
) -> BaResult<Response> {
    // The callback is checked before the token is spent.
    let callback = check_callback(&state, q.callback_url.as_deref())?;
    match lifecycle::verify_email(&state, q.token, client).await {
        Ok(done) => match callback.or(done.callback) {
            Some(url) => Ok(redirect(&url)),
            None => Ok(Json(BaVerifiedEmail {
                status: true,
                user: None,
            })
            .into_response()),
        },
        Err(e) => match (link_error(&e), callback) {
            (Some(code), Some(url)) => Ok(redirect(&with_param(&url, "error", code))),
            (Some(code), None) => Err(BaError::new(
                StatusCode::UNAUTHORIZED,
                code,
                if code == "TOKEN_EXPIRED" {
                    "Token expired"
                } else {
                    "Invalid token"
                },
            )),
            (None, _) => Err(e.into()),
        },
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResetRequestBody {
    email: String,
    /// Where the reset link leads (relative, or on an allowed origin).
    redirect_to: Option<String>,
}

#[utoipa::path(
    post, path = "/request-password-reset", request_body = ResetRequestBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{status: true, message}` (also for unknown addresses); `forget-password` is the same route", body = BaStatusMessage),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 403, description = "INVALID_REDIRECT_URL", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_request_password_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    BaJson(body): BaJson<ResetRequestBody>,
) -> BaResult<Json<BaStatusMessage>> {
    users::normalize_email(&body.email).map_err(|_| invalid_email())?;
    let redirect = check_callback(&state, body.redirect_to.as_deref())
        .map_err(|_| BaError::forbidden("INVALID_REDIRECT_URL", "Invalid redirectURL"))?;
    lifecycle::forgot_password(&state, &body.email, redirect, client).await?;
    Ok(Json(BaStatusMessage {
        message: "If this email exists in our system, check your email for the reset link",
        status: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResetBody {
    new_password: String,
    /// The token from the reset link (or `?token=` in the URL).
    token: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResetQuery {
    token: Option<String>,
}

#[utoipa::path(
    post, path = "/reset-password", request_body = ResetBody, params(ResetQuery),
    tag = "better-auth",
    responses(
        (status = 200, description = "`{status: true}`: the password is set and every session of the user ends", body = BaStatus),
        (status = 400, description = "INVALID_TOKEN, PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    BaQuery(q): BaQuery<ResetQuery>,
    BaJson(body): BaJson<ResetBody>,
) -> BaResult<Json<BaStatus>> {
    let invalid = || BaError::bad_request("INVALID_TOKEN", "Invalid token");
    let token = body.token.or(q.token).ok_or_else(invalid)?;
    lifecycle::reset_password(&state, token, body.new_password, client)
        .await
        .map_err(|e| match link_error(&e) {
            Some(_) => invalid(),
            None => e.into(),
        })?;
    Ok(Json(BaStatus::TRUE))
}
