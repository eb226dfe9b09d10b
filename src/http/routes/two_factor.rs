//! `/api/v1/auth/two-factor`: TOTP with backup codes (SPEC §4).
//!
//! `verify-totp` serves two callers: with a ticket (body field `ticket`, or
//! `twoFactorTicket` as `/login` names it) it finishes a sign-in and answers
//! like `/login`; without one it needs a bearer token and confirms a pending
//! secret (turning 2FA on) or checks a code for step-up.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::wire::{success, SignedInBody, Success};
use crate::http::cookie;

use crate::audit::ClientInfo;
use crate::auth::two_factor::{self, totp, Enrollment, Proof};
use crate::error::{ApiError, Result};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{bearer, AppJson, AuthUser};
use crate::state::AppState;

/// Routes under `/api/v1/auth/two-factor`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_enable))
        .routes(routes!(post_verify_totp))
        .routes(routes!(post_verify_backup_code))
        .routes(routes!(post_generate_backup_codes))
        .routes(routes!(post_disable))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PasswordRequest {
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CodeRequest {
    code: String,
    #[serde(default, alias = "twoFactorTicket")]
    ticket: Option<String>,
}

#[utoipa::path(
    post, path = "/enable", request_body = PasswordRequest,
    tag = "two-factor",
    security(("bearer" = [])),
    responses(
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 200, description = "The pending secret and backup codes", body = crate::auth::two_factor::Enrollment),
        (status = 409, description = "already enabled", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_enable(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<PasswordRequest>,
) -> Result<Json<Enrollment>> {
    Ok(Json(
        two_factor::enable(&state, claims.sub, req.password, &client).await?,
    ))
}

#[utoipa::path(
    post, path = "/verify-totp", request_body = CodeRequest,
    tag = "two-factor",
    security((), ("bearer" = [])),
    responses(
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 200, description = "With a ticket: signed in as `/login` (sets the session cookie); else whether the code turned two-factor on", body = TotpVerified),
        (status = 401, description = "TWO_FACTOR_FAILED, or no credential", body = ErrorEnvelope),
        (status = 409, description = "nothing to confirm", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_verify_totp(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    AppJson(req): AppJson<CodeRequest>,
) -> Result<Response> {
    let code = totp::parse_code(&req.code)?;
    if let Some(ticket) = req.ticket {
        let signed = two_factor::finish_login(&state, ticket, Proof::Totp(code), client).await?;
        let headers = cookie::set_session(&state.config, &signed.session_token);
        let body = TotpVerified::SignedIn(Box::new(SignedInBody::from(&signed)));
        return Ok((headers, Json(body)).into_response());
    }
    let jwt = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let (_, caller) = crate::auth::caller::by_access_token(&state, jwt).await?;
    let enabled_now =
        two_factor::verify_totp_signed_in(&state, &caller.session, code, client).await?;
    let body = TotpVerified::Checked(TotpChecked {
        confirmed: enabled_now,
        enabled: true,
        success: true,
    });
    Ok(Json(body).into_response())
}

/// The two answers of `verify-totp`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum TotpVerified {
    /// With a ticket: signed in, as `/login` answers.
    SignedIn(Box<SignedInBody>),
    /// Signed in already: the code was right.
    Checked(TotpChecked),
}

/// A right code from a signed-in user.
#[derive(Serialize, ToSchema)]
struct TotpChecked {
    /// Whether this code turned two-factor on (confirmed a pending secret).
    confirmed: bool,
    /// Always `true`.
    enabled: bool,
    success: bool,
}

#[utoipa::path(
    post, path = "/verify-backup-code", request_body = CodeRequest,
    tag = "two-factor",
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = SignedInBody),
        (status = 401, description = "TWO_FACTOR_FAILED", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_verify_backup_code(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<CodeRequest>,
) -> Result<Response> {
    let code = totp::parse_backup_code(&req.code)?;
    let ticket = req
        .ticket
        .ok_or_else(|| ApiError::validation("missing field `ticket`"))?;
    let signed = two_factor::finish_login(&state, ticket, Proof::Backup(code), client).await?;
    Ok(super::auth::signed_in_response(&state, signed))
}

#[utoipa::path(
    post, path = "/generate-backup-codes", request_body = PasswordRequest,
    tag = "two-factor",
    security(("bearer" = [])),
    responses(
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 200, description = "The new backup codes (the old ones stop working)", body = BackupCodes),
        (status = 409, description = "two-factor is off", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_generate_backup_codes(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<PasswordRequest>,
) -> Result<Json<BackupCodes>> {
    let backup_codes =
        two_factor::regenerate_backup_codes(&state, claims.sub, req.password, &client).await?;
    Ok(Json(BackupCodes { backup_codes }))
}

/// Fresh backup codes, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BackupCodes {
    backup_codes: Vec<String>,
}

#[utoipa::path(
    post, path = "/disable", request_body = PasswordRequest,
    tag = "two-factor",
    security(("bearer" = [])),
    responses(
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 200, description = "Two-factor is off", body = Success),
        (status = 409, description = "two-factor is off", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_disable(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<PasswordRequest>,
) -> Result<Json<Success>> {
    two_factor::disable(&state, claims.sub, req.password, client).await?;
    Ok(success())
}
