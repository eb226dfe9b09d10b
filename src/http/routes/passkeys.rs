//! `/api/v1/auth/passkeys`: capability, registration, sign-in, management.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::audit::ClientInfo;
use crate::error::{ApiError, ErrorCode, Result};
use crate::http::cookie;
use crate::http::extract::{AppJson, AuthUser, BearerSession, OptionalJson};
use crate::http::openapi::ErrorEnvelope;
use crate::passkeys::flow;
use crate::passkeys::store;
use crate::state::AppState;

/// Routes under `/api/v1/auth/passkeys`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(get_passkeys))
        .route("/capability", get(get_capability))
        .route("/register/options", post(post_register_options))
        .route("/register/verify", post(post_register_verify))
        .route("/authenticate/options", post(post_authenticate_options))
        .route("/authenticate/verify", post(post_authenticate_verify))
        .route("/{id}", patch(patch_passkey).delete(delete_passkey))
}

fn require_enabled(state: &AppState) -> Result<()> {
    if state.passkeys.enabled() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PasskeyNotEnabled,
            "passkeys are not configured on this server",
        ))
    }
}

/// A client payload that is not a WebAuthn credential: the ceremony was
/// cancelled or the browser sent something else.
fn parse_credential<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    if value.is_null() {
        return Err(ApiError::new(
            ErrorCode::PasskeyCancelled,
            "no credential: the passkey ceremony was cancelled",
        ));
    }
    serde_json::from_value(value).map_err(|_| {
        ApiError::new(
            ErrorCode::PasskeyCancelled,
            "credential is not a WebAuthn response",
        )
    })
}

#[utoipa::path(
    get, path = "/capability",
    tag = "passkeys",
    responses(
        (status = 200, description = "`{enabled, conditionalUIAvailable, rpId}`", body = Object)
    )
)]
async fn get_capability(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "enabled": state.passkeys.enabled(),
        "conditionalUIAvailable": state.passkeys.enabled(),
        "rpId": state.passkeys.rp_id(),
    }))
}

#[utoipa::path(
    get, path = "/",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{passkeys}`", body = Object)
    )
)]
async fn get_passkeys(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>> {
    let list = state.db.read(move |c| store::list(c, &claims.sub)).await?;
    Ok(Json(json!({ "passkeys": list })))
}

#[utoipa::path(
    post, path = "/register/options", request_body = Option<StepUpRequest>,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "WebAuthn creation options with `challengeId`", body = Object),
        (status = 401, description = "INVALID_CREDENTIALS (wrong password)", body = ErrorEnvelope),
        (status = 403, description = "SESSION_NOT_FRESH: sign in again or send the password", body = ErrorEnvelope),
        (status = 404, description = "PASSKEY_NOT_ENABLED or the user is gone", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED (password attempts)", body = ErrorEnvelope)
    )
)]
async fn post_register_options(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BearerSession,
    OptionalJson(req): OptionalJson<StepUpRequest>,
) -> Result<Json<Value>> {
    require_enabled(&state)?;
    let password = req.and_then(|r| r.password);
    let (challenge_id, options) =
        flow::register_options(&state, &auth.caller, password, &client).await?;
    let mut body = serde_json::to_value(options)?;
    body["challengeId"] = json!(challenge_id);
    Ok(Json(body))
}

/// An optional body with the current password (step-up).
#[derive(Deserialize, utoipa::ToSchema)]
struct StepUpRequest {
    /// Needed when the session is not fresh.
    password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegisterVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    name: Option<String>,
}

#[utoipa::path(
    post, path = "/register/verify", request_body = RegisterVerifyRequest,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{passkey}`", body = Object),
        (status = 404, description = "PASSKEY_NOT_ENABLED or no such challenge", body = ErrorEnvelope),
        (status = 409, description = "the credential is registered already", body = ErrorEnvelope)
    )
)]
async fn post_register_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<RegisterVerifyRequest>,
) -> Result<Json<Value>> {
    require_enabled(&state)?;
    let credential: RegisterPublicKeyCredential = parse_credential(req.credential)?;
    let passkey = flow::register_verify(
        &state,
        claims.sub,
        &req.challenge_id,
        credential,
        req.name,
        client,
    )
    .await?;
    Ok(Json(json!({ "passkey": passkey })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AuthOptionsRequest {
    email: Option<String>,
}

#[utoipa::path(
    post, path = "/authenticate/options", request_body = Option<AuthOptionsRequest>,
    tag = "passkeys",
    responses(
        (status = 200, description = "WebAuthn request options with `challengeId`", body = Object),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_authenticate_options(
    State(state): State<AppState>,
    client: ClientInfo,
    OptionalJson(req): OptionalJson<AuthOptionsRequest>,
) -> Result<Json<Value>> {
    require_enabled(&state)?;
    let email = req.and_then(|r| r.email);
    let (challenge_id, options) = flow::auth_options(&state, email, &client).await?;
    let mut body = serde_json::to_value(options)?;
    body["challengeId"] = json!(challenge_id);
    Ok(Json(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuthVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
}

#[utoipa::path(
    post, path = "/authenticate/verify", request_body = AuthVerifyRequest,
    tag = "passkeys",
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = crate::auth::SignedIn),
        (status = 401, description = "PASSKEY_VERIFICATION_FAILED or TWO_FACTOR_REQUIRED", body = ErrorEnvelope),
        (status = 403, description = "EMAIL_NOT_VERIFIED or locked", body = ErrorEnvelope),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_authenticate_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<AuthVerifyRequest>,
) -> Result<Response> {
    require_enabled(&state)?;
    let credential: PublicKeyCredential = parse_credential(req.credential)?;
    let signed = flow::auth_verify(&state, &req.challenge_id, credential, client).await?;
    let headers = cookie::set_session(&state.config, &signed.refresh_token);
    Ok((headers, Json(signed)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RenameRequest {
    name: Option<String>,
}

#[utoipa::path(
    patch, path = "/{id}", request_body = RenameRequest, params(("id" = String, Path, description = "passkey id")),
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{passkey}`", body = Object)
    )
)]
async fn patch_passkey(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(req): AppJson<RenameRequest>,
) -> Result<Json<Value>> {
    let passkey = flow::rename(&state, claims.sub, id, req.name).await?;
    Ok(Json(json!({ "passkey": passkey })))
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "passkey id")),
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success}`", body = Object)
    )
)]
async fn delete_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    flow::delete(&state, claims.sub, id, client).await?;
    Ok(Json(json!({ "success": true })))
}

/// The OpenAPI operations of this module (see `http::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_passkeys,
    get_capability,
    post_register_options,
    post_register_verify,
    post_authenticate_options,
    post_authenticate_verify,
    patch_passkey,
    delete_passkey
))]
pub struct Doc;
