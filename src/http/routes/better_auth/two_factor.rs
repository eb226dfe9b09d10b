//! `/api/auth/two-factor/*`: TOTP and backup codes over `auth::two_factor`.
//!
//! As in the framework, `enable` stores a pending secret and 2FA turns on
//! with the first `verify-totp` of the signed-in user. `verify-totp` and
//! `verify-backup-code` finish a pending sign-in when the two-factor cookie
//! (it carries our 5-minute ticket) is present; without it they check the
//! code for the signed-in user. Our rules stay: the account lockout counts
//! wrong codes, a TOTP code is accepted once (replay refusal), and there are
//! no trusted devices (`trustDevice` is accepted and ignored).

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

use super::session::{signed_in_cookies, TWO_FACTOR_COOKIE};
use super::wire::{BaStatus, BaTokenAndUser};
use super::{optional_auth, BaAuth, BaError, BaJson, BaResult};
use crate::audit::ClientInfo;
use crate::auth::two_factor::{self, totp, Proof};
use crate::error::{ApiError, ErrorCode};
use crate::http::cookie;
use crate::http::extract;
use crate::state::AppState;
use crate::users::store as users;

/// Routes under `/api/auth/two-factor`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_enable))
        .routes(routes!(post_disable))
        .routes(routes!(post_get_totp_uri))
        .routes(routes!(post_verify_totp))
        .routes(routes!(post_verify_backup_code))
        .routes(routes!(post_generate_backup_codes))
}

/// Which route a refusal is answered for: the framework names "not
/// enabled" and "wrong code" differently per route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Enable,
    Disable,
    TotpUri,
    Totp,
    Backup,
    BackupCodes,
}

fn invalid_two_factor_cookie() -> BaError {
    BaError::new(
        StatusCode::UNAUTHORIZED,
        "INVALID_TWO_FACTOR_COOKIE",
        "Invalid two factor cookie",
    )
}

/// One of our refusals in the framework's words.
fn refusal(e: ApiError, route: Route) -> BaError {
    let wrong_code = || match route {
        Route::Backup => BaError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_BACKUP_CODE",
            "Invalid backup code",
        ),
        _ => BaError::new(StatusCode::UNAUTHORIZED, "INVALID_CODE", "Invalid code"),
    };
    match e.code {
        ErrorCode::InvalidCredentials => {
            BaError::bad_request("INVALID_PASSWORD", "Invalid password")
        }
        ErrorCode::Conflict => match route {
            Route::Enable => {
                BaError::bad_request("TOTP_ALREADY_ENABLED", "TOTP is already enabled")
            }
            Route::Totp | Route::TotpUri => {
                BaError::bad_request("TOTP_NOT_ENABLED", "TOTP not enabled")
            }
            Route::Backup => {
                BaError::bad_request("BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled")
            }
            Route::Disable | Route::BackupCodes => {
                BaError::bad_request("TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled")
            }
        },
        ErrorCode::TwoFactorFailed if two_factor::is_ticket_refusal(&e) => {
            invalid_two_factor_cookie()
        }
        ErrorCode::TwoFactorFailed => wrong_code(),
        // A code that cannot be one (`parse_code`) is a wrong code here.
        ErrorCode::Validation if matches!(route, Route::Totp | Route::Backup) => wrong_code(),
        ErrorCode::AccountLocked => {
            let mut out = BaError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ACCOUNT_TEMPORARILY_LOCKED",
                "Too many failed verification attempts. Your account is temporarily locked. Please try again later.",
            );
            out.retry_after = e.retry_after;
            out
        }
        _ => e.into(),
    }
}

/// `{backupCodes, method: "totp", totpURI}`: a pending enrolment.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BaTotpEnrollment {
    backup_codes: Vec<String>,
    method: &'static str,
    #[serde(rename = "totpURI")]
    totp_uri: String,
}

/// `{totpURI}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BaTotpUri {
    #[serde(rename = "totpURI")]
    totp_uri: String,
}

/// `{backupCodes, status: true}`: the new backup codes.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BaBackupCodes {
    backup_codes: Vec<String>,
    status: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct EnableBody {
    password: String,
    /// Issuer label of the otpauth URI (default: the product name).
    issuer: Option<String>,
    /// Only `totp`; `otp` (mailed codes) is not offered.
    method: Option<String>,
}

#[utoipa::path(
    post, path = "/enable", request_body = EnableBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{method: \"totp\", totpURI, backupCodes}`; 2FA turns on with the first verify-totp", body = BaTotpEnrollment),
        (status = 400, description = "INVALID_PASSWORD, TOTP_ALREADY_ENABLED, OTP_NOT_CONFIGURED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout), RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_enable(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<EnableBody>,
) -> BaResult<Json<BaTotpEnrollment>> {
    match body.method.as_deref() {
        None | Some("totp") => {}
        Some("otp") => {
            return Err(BaError::bad_request(
                "OTP_NOT_CONFIGURED",
                "OTP is not available",
            ))
        }
        Some(_) => {
            return Err(BaError::bad_request(
                "VALIDATION_ERROR",
                "[body.method] Invalid option: expected one of \"otp\"|\"totp\"",
            ))
        }
    }
    let enrollment = two_factor::enable_with_issuer(
        &state,
        auth.user.id,
        body.password,
        body.issuer.as_deref(),
        &client,
    )
    .await
    .map_err(|e| refusal(e, Route::Enable))?;
    Ok(Json(BaTotpEnrollment {
        backup_codes: enrollment.backup_codes,
        method: "totp",
        totp_uri: enrollment.totp_uri,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordBody {
    password: String,
}

#[utoipa::path(
    post, path = "/disable", request_body = PasswordBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`; secret, backup codes and pending sign-ins are deleted", body = BaStatus),
        (status = 400, description = "INVALID_PASSWORD, TWO_FACTOR_NOT_ENABLED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout), RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_disable(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<PasswordBody>,
) -> BaResult<Json<BaStatus>> {
    two_factor::disable(&state, auth.user.id, body.password, client)
        .await
        .map_err(|e| refusal(e, Route::Disable))?;
    Ok(Json(BaStatus::TRUE))
}

#[utoipa::path(
    post, path = "/get-totp-uri", request_body = PasswordBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{totpURI}` of the stored secret (pending or confirmed)", body = BaTotpUri),
        (status = 400, description = "INVALID_PASSWORD, TOTP_NOT_ENABLED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout), RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_get_totp_uri(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<PasswordBody>,
) -> BaResult<Json<BaTotpUri>> {
    let uri = two_factor::totp_uri(&state, auth.user.id, body.password, &client)
        .await
        .map_err(|e| refusal(e, Route::TotpUri))?;
    Ok(Json(BaTotpUri { totp_uri: uri }))
}

#[utoipa::path(
    post, path = "/generate-backup-codes", request_body = PasswordBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true, backupCodes}`; the old codes are void", body = BaBackupCodes),
        (status = 400, description = "INVALID_PASSWORD, TWO_FACTOR_NOT_ENABLED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout), RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_generate_backup_codes(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<PasswordBody>,
) -> BaResult<Json<BaBackupCodes>> {
    let codes = two_factor::regenerate_backup_codes(&state, auth.user.id, body.password, &client)
        .await
        .map_err(|e| refusal(e, Route::BackupCodes))?;
    Ok(Json(BaBackupCodes {
        backup_codes: codes,
        status: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CodeBody {
    code: String,
    /// Accepted and ignored: there are no trusted devices.
    #[allow(dead_code)]
    trust_device: Option<bool>,
    /// Accepted and ignored (verify-backup-code): a pending sign-in always
    /// ends with a session.
    #[allow(dead_code)]
    disable_session: Option<bool>,
}

#[utoipa::path(
    post, path = "/verify-totp", request_body = CodeBody,
    tag = "better-auth",
    security((), ("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{token, user}`. With the `mana.two_factor` cookie: the pending sign-in is finished, the session cookie set and the two-factor cookie cleared. Signed in without it: the code is checked (the first one turns 2FA on), `token` is the caller's session token", body = BaTokenAndUser),
        (status = 400, description = "TOTP_NOT_ENABLED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "INVALID_CODE, INVALID_TWO_FACTOR_COOKIE", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN, or the account is locked by an administrator", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout)", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_verify_totp(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    BaJson(body): BaJson<CodeBody>,
) -> BaResult<Response> {
    verify(&state, client, &headers, Route::Totp, body.code).await
}

#[utoipa::path(
    post, path = "/verify-backup-code", request_body = CodeBody,
    tag = "better-auth",
    security((), ("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{token, user}`, as verify-totp; the code is used up", body = BaTokenAndUser),
        (status = 400, description = "BACKUP_CODES_NOT_ENABLED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "INVALID_BACKUP_CODE, INVALID_TWO_FACTOR_COOKIE", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN, or the account is locked by an administrator", body = super::BaErrorBody),
        (status = 429, description = "ACCOUNT_TEMPORARILY_LOCKED (the account lockout)", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_verify_backup_code(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    BaJson(body): BaJson<CodeBody>,
) -> BaResult<Response> {
    verify(&state, client, &headers, Route::Backup, body.code).await
}

/// verify-totp and verify-backup-code: a pending sign-in (the two-factor
/// cookie) first, else the signed-in user.
async fn verify(
    state: &AppState,
    client: ClientInfo,
    headers: &HeaderMap,
    route: Route,
    code: String,
) -> BaResult<Response> {
    if let Some(ticket) = extract::cookie(headers, TWO_FACTOR_COOKIE) {
        let proof = match route {
            Route::Backup => totp::parse_backup_code(&code).map(Proof::Backup),
            _ => totp::parse_code(&code).map(Proof::Totp),
        }
        .map_err(|e| refusal(e, route))?;
        let signed = match two_factor::finish_login(state, ticket, proof, client).await {
            Ok(signed) => signed,
            Err(e) if two_factor::is_ticket_refusal(&e) => {
                // The ticket is gone for good: drop its cookie too.
                let mut response = invalid_two_factor_cookie().into_response();
                let mut clear = HeaderMap::new();
                cookie::append(&mut clear, &state.config, TWO_FACTOR_COOKIE, "", Some(0));
                response.headers_mut().extend(clear);
                return Ok(response);
            }
            Err(e) => return Err(refusal(e, route)),
        };
        let cookies = signed_in_cookies(state, &signed, super::session::remembered(headers));
        let body = BaTokenAndUser {
            token: Some(signed.session_token),
            user: signed.user.into(),
        };
        return Ok((cookies, Json(body)).into_response());
    }
    let Some(auth) = optional_auth(state, headers, &client).await? else {
        return Err(invalid_two_factor_cookie());
    };
    let user_id = auth.user.id.clone();
    match route {
        Route::Backup => {
            two_factor::verify_backup_code_signed_in(state, user_id.clone(), code, client).await
        }
        _ => two_factor::verify_totp_signed_in(state, &auth.session, code, client)
            .await
            .map(|_| ()),
    }
    .map_err(|e| refusal(e, route))?;
    // The user as it is now (`twoFactorEnabled` turns true on enrolment).
    let user = state
        .db
        .read(move |c| users::by_id(c, &user_id))
        .await?
        .ok_or_else(BaError::unauthorized)?;
    let body = BaTokenAndUser {
        token: auth.token,
        user: user.into(),
    };
    Ok(Json(body).into_response())
}
