//! `POST /api/v1/me/ai-mission-grant`: a mission grant for the AI runner
//! from the caller's own vault (see `vault::grant`). Errors answer in the
//! original service's `{error, code}` shape, which its clients branch on.

use crate::http::openapi::routes;
use axum::extract::{Request, State};
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::ClientInfo;
use crate::http::extract::{read_body, AuthUser};
use crate::http::upstream::{VaultError, VaultStyle};
use crate::state::AppState;
use crate::vault::grant::{self, Grant};
use crate::vault::{self, Action};

/// Routes under `/api/v1/me/ai-mission-grant`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_grant))
}

/// The request (documentation only: the body is read leniently, as JSON of
/// any content type, and checked by `vault::grant`).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "documentation twin of the body vault::grant reads"
)]
struct GrantBody {
    #[schema(min_length = 1, max_length = 256)]
    mission_id: String,
    /// Encrypted table names, 1 to 100.
    #[schema(min_items = 1, max_items = 100)]
    tables: Vec<String>,
    /// `<table>:<id>` record ids, 1 to 1000.
    #[schema(min_items = 1, max_items = 1000)]
    record_ids: Vec<String>,
    /// Lifetime in milliseconds (default 7 days; clamped to 1 hour … 30 days).
    #[schema(minimum = 1)]
    ttl_ms: Option<f64>,
}

#[utoipa::path(
    post, path = "/", request_body = GrantBody,
    tag = "vault",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The grant", body = Grant),
        (status = 400, description = "BAD_REQUEST: a body of the wrong shape or content", body = VaultError),
        (status = 404, description = "VAULT_NOT_INITIALISED", body = VaultError),
        (status = 409, description = "ZK_ACTIVE: the vault is in zero-knowledge mode", body = VaultError),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = VaultError),
        (status = 503, description = "GRANT_NOT_CONFIGURED (no MANA_AI_PUBLIC_KEY_PEM), vault disabled, or database busy", body = VaultError)
    )
)]
async fn post_grant(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    req: Request,
) -> Result<Json<Grant>, VaultStyle> {
    let bytes = read_body(req, state.config.max_body_bytes).await?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let runner = state.grant_key.clone();
    let prepared = grant::prepare(body.as_ref(), runner.as_deref())?;
    let grant = vault::run(
        &state.db,
        &state.config,
        claims.sub,
        Action::MissionGrant,
        client,
        move |conn, user_id, kek, now| {
            let runner = runner.as_deref().ok_or_else(grant::not_configured)?;
            grant::issue(
                conn,
                user_id,
                prepared.derivation,
                prepared.ttl,
                runner,
                kek,
                now,
            )
        },
    )
    .await?;
    Ok(Json(grant))
}
