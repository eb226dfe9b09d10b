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
use crate::http::extract::{AppJson, AuthUser, OptionalJson};
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

async fn get_capability(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "enabled": state.passkeys.enabled(),
        "conditionalUIAvailable": state.passkeys.enabled(),
        "rpId": state.passkeys.rp_id(),
    }))
}

async fn get_passkeys(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>> {
    let list = state.db.read(move |c| store::list(c, &claims.sub)).await?;
    Ok(Json(json!({ "passkeys": list })))
}

async fn post_register_options(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>> {
    require_enabled(&state)?;
    let (challenge_id, options) = flow::register_options(&state, claims.sub).await?;
    let mut body = serde_json::to_value(options)?;
    body["challengeId"] = json!(challenge_id);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    name: Option<String>,
}

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

#[derive(Deserialize)]
struct AuthOptionsRequest {
    email: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
}

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

#[derive(Deserialize)]
struct RenameRequest {
    name: Option<String>,
}

async fn patch_passkey(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(req): AppJson<RenameRequest>,
) -> Result<Json<Value>> {
    let passkey = flow::rename(&state, claims.sub, id, req.name).await?;
    Ok(Json(json!({ "passkey": passkey })))
}

async fn delete_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    flow::delete(&state, claims.sub, id, client).await?;
    Ok(Json(json!({ "success": true })))
}
