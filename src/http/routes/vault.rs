//! `/api/v1/me/encryption-vault`: status, init, key, rotate, recovery wrap,
//! zero-knowledge mode. Every action goes through `vault::run`, which audits
//! it with its outcome.
//!
//! Errors carry the envelope plus the upstream's `code`, which the web vault
//! client branches on (`VAULT_NOT_INITIALISED`, `ZK_ROTATE_FORBIDDEN`,
//! `ZK_ACTIVE`, `RECOVERY_WRAP_MISSING`, `BAD_REQUEST`).

use crate::http::openapi::routes;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::ClientInfo;
use crate::error::{ApiError, ErrorCode};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser};
use crate::state::AppState;
use crate::vault::{self, Action, KeyResponse, Status};

type Result<T> = std::result::Result<T, ApiError>;

/// Adds the upstream's vault `code` to an error.
fn with_code(e: ApiError) -> ApiError {
    let code = match e.code {
        ErrorCode::NotFound => "VAULT_NOT_INITIALISED",
        ErrorCode::Validation | ErrorCode::UnsupportedMediaType => "BAD_REQUEST",
        other => other.as_str(),
    };
    e.with_field("code", json!(code))
}

/// A JSON body whose rejection carries the vault `code` too.
type VaultJson<T> = std::result::Result<AppJson<T>, ApiError>;

fn body<T>(json: VaultJson<T>) -> Result<T> {
    json.map(|AppJson(v)| v).map_err(with_code)
}

fn ok(status: Status) -> Json<OkResponse> {
    Json(OkResponse { ok: true, status })
}

/// `{ok: true}` (what the upstream answered) with the vault status beside it.
#[derive(Serialize, utoipa::ToSchema)]
struct OkResponse {
    /// Always true.
    ok: bool,
    #[serde(flatten)]
    status: Status,
}

/// Routes under `/api/v1/me/encryption-vault`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_status))
        .routes(routes!(post_init))
        .routes(routes!(get_key))
        .routes(routes!(post_rotate))
        .routes(routes!(post_recovery_wrap, delete_recovery_wrap))
        .routes(routes!(post_zero_knowledge))
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
    let s = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::Status,
        client,
        |c, u, k, _| vault::status(c, u, k),
    );
    Ok(Json(s.await.map_err(with_code)?))
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
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::Init,
        client,
        vault::init,
    );
    Ok(Json(r.await.map_err(with_code)?))
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
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::Key,
        client,
        |c, u, k, _| vault::key(c, u, k),
    );
    Ok(Json(r.await.map_err(with_code)?))
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
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::Rotate,
        client,
        vault::rotate,
    );
    Ok(Json(r.await.map_err(with_code)?))
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
        (status = 200, description = "`{ok: true}` and the vault status", body = OkResponse),
        (status = 400, description = "code BAD_REQUEST", body = ErrorEnvelope),
        (status = 404, description = "code VAULT_NOT_INITIALISED", body = ErrorEnvelope),
        (status = 409, description = "code ZK_ACTIVE", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_recovery_wrap(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    req: VaultJson<RecoveryRequest>,
) -> Result<Json<OkResponse>> {
    let req = body(req)?;
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::RecoverySet,
        client,
        move |c, u, k, now| {
            vault::set_recovery(c, u, &req.recovery_wrapped_mk, &req.recovery_iv, k, now)
        },
    );
    Ok(ok(r.await.map_err(with_code)?))
}

#[utoipa::path(
    delete, path = "/recovery-wrap",
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{ok: true}` and the vault status", body = OkResponse),
        (status = 404, description = "code VAULT_NOT_INITIALISED", body = ErrorEnvelope),
        (status = 409, description = "code ZK_ACTIVE", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn delete_recovery_wrap(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Json<OkResponse>> {
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::RecoveryClear,
        client,
        vault::clear_recovery,
    );
    Ok(ok(r.await.map_err(with_code)?))
}

/// `enable` is the upstream's name; `enabled` is accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ZeroKnowledgeRequest {
    enable: Option<bool>,
    enabled: Option<bool>,
    master_key: Option<String>,
}

#[utoipa::path(
    post, path = "/zero-knowledge", request_body = ZeroKnowledgeRequest,
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{ok: true, zeroKnowledge}` and the vault status", body = OkResponse),
        (status = 400, description = "code BAD_REQUEST or RECOVERY_WRAP_MISSING", body = ErrorEnvelope),
        (status = 404, description = "code VAULT_NOT_INITIALISED", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: vault disabled (no KEK) or database busy", body = ErrorEnvelope)
    )
)]
async fn post_zero_knowledge(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    req: VaultJson<ZeroKnowledgeRequest>,
) -> Result<Json<OkResponse>> {
    let req = body(req)?;
    let enable = req
        .enable
        .or(req.enabled)
        .ok_or_else(|| with_code(ApiError::validation("`enable: boolean` is required")))?;
    let action = if enable { Action::ZkOn } else { Action::ZkOff };
    let r = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        action,
        client,
        move |c, u, k, now| {
            vault::set_zero_knowledge(c, u, enable, req.master_key.as_deref(), k, now)
        },
    );
    Ok(ok(r.await.map_err(with_code)?))
}
