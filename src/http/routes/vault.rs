//! `/api/v1/me/encryption-vault`: status, init, key, rotate, recovery wrap,
//! zero-knowledge mode. Every action goes through `vault::run`, which audits
//! it with its outcome.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::audit::ClientInfo;
use crate::error::Result;
use crate::http::extract::{AppJson, AuthUser};
use crate::http::openapi::ErrorEnvelope;
use crate::state::AppState;
use crate::vault::{self, Action, KeyResponse, Status};

/// Routes under `/api/v1/me/encryption-vault`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(get_status))
        .route("/init", post(post_init))
        .route("/key", get(get_key))
        .route("/rotate", post(post_rotate))
        .route(
            "/recovery-wrap",
            post(post_recovery_wrap).delete(delete_recovery_wrap),
        )
        .route("/zero-knowledge", post(post_zero_knowledge))
}

#[utoipa::path(
    get, path = "/status",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Vault status", body = crate::vault::Status),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn get_status(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<Status>> {
    let s = vault::run(&state, claims.sub, Action::Status, client, |c, u, k, _| {
        vault::status(c, u, k)
    });
    Ok(Json(s.await?))
}

#[utoipa::path(
    post, path = "/init",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = crate::vault::KeyResponse),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_init(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<KeyResponse>> {
    let r = vault::run(&state, claims.sub, Action::Init, client, vault::init);
    Ok(Json(r.await?))
}

#[utoipa::path(
    get, path = "/key",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = crate::vault::KeyResponse),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn get_key(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<KeyResponse>> {
    let r = vault::run(&state, claims.sub, Action::Key, client, |c, u, k, _| {
        vault::key(c, u, k)
    });
    Ok(Json(r.await?))
}

#[utoipa::path(
    post, path = "/rotate",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = crate::vault::KeyResponse),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_rotate(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<KeyResponse>> {
    let r = vault::run(&state, claims.sub, Action::Rotate, client, vault::rotate);
    Ok(Json(r.await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RecoveryRequest {
    recovery_wrapped_mk: String,
    recovery_iv: String,
}

#[utoipa::path(
    post, path = "/recovery-wrap", request_body = RecoveryRequest,
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Vault status", body = crate::vault::Status),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_recovery_wrap(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<RecoveryRequest>,
) -> Result<Json<Status>> {
    let r = vault::run(
        &state,
        claims.sub,
        Action::RecoverySet,
        client,
        move |c, u, k, now| {
            vault::set_recovery(c, u, &req.recovery_wrapped_mk, &req.recovery_iv, k, now)
        },
    );
    Ok(Json(r.await?))
}

#[utoipa::path(
    delete, path = "/recovery-wrap",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Vault status", body = crate::vault::Status),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn delete_recovery_wrap(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<Status>> {
    let r = vault::run(
        &state,
        claims.sub,
        Action::RecoveryClear,
        client,
        vault::clear_recovery,
    );
    Ok(Json(r.await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ZeroKnowledgeRequest {
    enabled: bool,
    master_key: Option<String>,
}

#[utoipa::path(
    post, path = "/zero-knowledge", request_body = ZeroKnowledgeRequest,
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Vault status", body = crate::vault::Status),
        (status = 404, description = "the user or the vault is missing", body = ErrorEnvelope),
        (status = 409, description = "ZK_ACTIVE, ZK_ROTATE_FORBIDDEN or already set up", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_zero_knowledge(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ZeroKnowledgeRequest>,
) -> Result<Json<Status>> {
    let action = if req.enabled {
        Action::ZkOn
    } else {
        Action::ZkOff
    };
    let r = vault::run(&state, claims.sub, action, client, move |c, u, k, now| {
        vault::set_zero_knowledge(c, u, req.enabled, req.master_key.as_deref(), k, now)
    });
    Ok(Json(r.await?))
}

/// The OpenAPI operations of this module (see `http::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_status,
    post_init,
    get_key,
    post_rotate,
    post_recovery_wrap,
    delete_recovery_wrap,
    post_zero_knowledge
))]
pub struct Doc;
