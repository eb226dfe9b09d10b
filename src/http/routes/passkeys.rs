//! `/api/v1/auth/passkeys`: capability, registration, sign-in, management.
//!
//! Shapes serve the shared auth client, which the upstream never matched:
//! options answer `{options, challengeId}` (and, as before, the WebAuthn
//! `publicKey` beside them); the verify routes take `credential` (or the
//! framework's `response`) and `friendlyName` (or `name`); the list is a
//! bare array of passkeys with the framework's fields and the client's
//! (`friendlyName`, `credentialId`, `lastUsedAt`).

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::audit::ClientInfo;
use crate::error::{ApiError, ErrorCode, Result};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser, BearerSession, OptionalJson};
use crate::http::ratelimit::{envelope, guarded, Bucket};
use crate::passkeys::flow;
use crate::passkeys::store;
use crate::state::AppState;

/// Routes under `/api/v1/auth/passkeys`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_passkeys))
        .routes(routes!(get_capability))
        .routes(routes!(post_register_options))
        .routes(routes!(post_register_verify))
        .merge(guarded(
            OpenApiRouter::new().routes(routes!(post_authenticate_options)),
            state,
            Bucket::PasskeyOptions,
            envelope,
        ))
        .routes(routes!(post_authenticate_verify))
        .routes(routes!(patch_passkey, delete_passkey))
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
        (status = 200, description = "The caller's passkeys", body = Vec<Object>)
    )
)]
async fn get_passkeys(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<Value>>> {
    let uid = claims.sub.clone();
    let list = state.db.read(move |c| store::list(c, &uid)).await?;
    Ok(Json(
        list.iter().map(|p| passkey_json(p, &claims.sub)).collect(),
    ))
}

/// One passkey: the framework's object (what the upstream proxied) plus
/// the names the shared auth client's passkey list reads.
fn passkey_json(p: &store::PasskeyInfo, user_id: &str) -> Value {
    let mut v = super::better_auth::passkey::passkey_json(p, user_id);
    v["friendlyName"] = json!(p.name);
    v["credentialId"] = json!(p.credential_id);
    v["lastUsedAt"] = json!(p.last_used_at);
    v
}

/// `{options, challengeId}` as the shared auth client destructures it, with
/// the WebAuthn `publicKey` (the options again) beside them.
fn options_json(options: Value, challenge_id: String) -> Value {
    let inner = options.get("publicKey").cloned().unwrap_or(Value::Null);
    let mut body = options;
    body["options"] = inner;
    body["challengeId"] = json!(challenge_id);
    body
}

#[utoipa::path(
    post, path = "/register/options", request_body = Option<StepUpRequest>,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{options, challengeId, publicKey}`: the WebAuthn creation options", body = Object),
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
        flow::register_options(&state, &state.passkeys, &auth.caller, password, &client).await?;
    Ok(Json(options_json(
        serde_json::to_value(options)?,
        challenge_id,
    )))
}

/// An optional body with the current password (step-up).
#[derive(Deserialize, utoipa::ToSchema)]
struct StepUpRequest {
    /// Needed when the session is not fresh.
    password: Option<String>,
}

/// `credential` and `friendlyName` are the shared auth client's names;
/// `response` and `name` (the framework's) are accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegisterVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    #[serde(default)]
    response: Value,
    friendly_name: Option<String>,
    name: Option<String>,
}

#[utoipa::path(
    post, path = "/register/verify", request_body = RegisterVerifyRequest,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new passkey, also under `passkey`", body = Object),
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
    let credential: RegisterPublicKeyCredential =
        parse_credential(either(req.credential, req.response))?;
    let uid = claims.sub.clone();
    let passkey = flow::register_verify(
        &state,
        &state.passkeys,
        claims.sub,
        &req.challenge_id,
        credential,
        req.friendly_name.or(req.name),
        client,
    )
    .await?;
    let mut body = passkey_json(&passkey, &uid);
    body["passkey"] = body.clone();
    Ok(Json(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AuthOptionsRequest {
    email: Option<String>,
}

#[utoipa::path(
    post, path = "/authenticate/options", request_body = Option<AuthOptionsRequest>,
    tag = "passkeys",
    responses(
        (status = 200, description = "`{options, challengeId, publicKey}`: the WebAuthn request options", body = Object),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_authenticate_options(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<AuthOptionsRequest>,
) -> Result<Json<Value>> {
    require_enabled(&state)?;
    let scope = match req.and_then(|r| r.email) {
        Some(email) => flow::Scope::Email(email),
        None => flow::Scope::Anyone,
    };
    let (challenge_id, options) = flow::auth_options(&state, &state.passkeys, scope).await?;
    Ok(Json(options_json(
        serde_json::to_value(options)?,
        challenge_id,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuthVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    /// The framework's name for `credential`.
    #[serde(default)]
    response: Value,
}

/// The first of two spellings that was sent.
fn either(first: Value, second: Value) -> Value {
    if first.is_null() {
        second
    } else {
        first
    }
}

#[utoipa::path(
    post, path = "/authenticate/verify", request_body = AuthVerifyRequest,
    tag = "passkeys",
    responses(
        (status = 200, description = "`{redirect, token, user, accessToken, refreshToken}`; sets the session cookie", body = crate::auth::SignedIn),
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
    let credential: PublicKeyCredential = parse_credential(either(req.credential, req.response))?;
    let signed = flow::auth_verify(
        &state,
        &state.passkeys,
        &req.challenge_id,
        credential,
        client,
    )
    .await?;
    Ok(super::auth::signed_in_response(&state, signed))
}

/// `friendlyName` is the shared auth client's name; `name` the framework's.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RenameRequest {
    name: Option<String>,
    friendly_name: Option<String>,
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
    let uid = claims.sub.clone();
    let passkey = flow::rename(&state, claims.sub, id, req.friendly_name.or(req.name)).await?;
    Ok(Json(json!({ "passkey": passkey_json(&passkey, &uid) })))
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "passkey id")),
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true, success: true}`", body = Object)
    )
)]
async fn delete_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    flow::delete(&state, claims.sub, id, client).await?;
    Ok(Json(json!({ "status": true, "success": true })))
}
