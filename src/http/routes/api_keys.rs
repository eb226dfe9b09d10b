//! `/api/v1/api-keys`: list, create (the key shown once), revoke, and the
//! public `POST /validate`.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use super::wire::{success, Success};
use crate::api_keys::{self, ApiKey, CreatedKey, Validation};
use crate::audit::ClientInfo;
use crate::error::Result;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser, BearerSession, OptionalJson};
use crate::http::ratelimit::{envelope, guarded, Bucket};
use crate::state::AppState;

/// Routes under `/api/v1/api-keys`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_keys, post_key))
        .merge(guarded(
            OpenApiRouter::new().routes(routes!(post_validate)),
            state,
            Bucket::Validate,
            envelope,
        ))
        .routes(routes!(delete_key))
}

#[utoipa::path(
    get, path = "/",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's keys (revoked ones with `revokedAt`), newest first", body = Vec<ApiKey>)
    )
)]
async fn get_keys(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<ApiKey>>> {
    let keys = state
        .db
        .read(move |c| api_keys::store::list(c, &claims.sub))
        .await?;
    Ok(Json(keys))
}

/// The web app also sends `rateLimitRequests` / `rateLimitWindow`; they are
/// ignored (every key reports the fixed budget), as upstream.
#[derive(Deserialize, utoipa::ToSchema)]
struct CreateApiKeyRequest {
    name: String,
    scopes: Option<Vec<String>>,
    /// The current password; needed when the session is not fresh.
    password: Option<String>,
}

#[utoipa::path(
    post, path = "/", request_body = CreateApiKeyRequest,
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The key, shown this once", body = crate::api_keys::CreatedKey),
        (status = 400, description = "bad name or scopes, or too many keys", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CREDENTIALS (wrong password)", body = ErrorEnvelope),
        (status = 403, description = "SESSION_NOT_FRESH: sign in again or send the password", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED (password attempts)", body = ErrorEnvelope)
    )
)]
async fn post_key(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BearerSession,
    AppJson(req): AppJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    let key = api_keys::create_stepped(
        &state,
        &auth.caller,
        req.name,
        req.scopes,
        req.password,
        client,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "key id")),
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = Success)
    )
)]
async fn delete_key(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Success>> {
    state
        .db
        .write(move |tx, now| api_keys::revoke(tx, &claims.sub, &id, &client, now))
        .await?;
    Ok(success())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ValidateApiKeyRequest {
    api_key: Option<String>,
    scope: Option<String>,
}

/// Validation is a read; `last_used_at` is written only when it is over a
/// minute old, so a busy key costs one small write a minute.
#[utoipa::path(
    post, path = "/validate", request_body = Option<ValidateApiKeyRequest>,
    tag = "api-keys",
    responses(
        (status = 200, description = "Whether the key is valid", body = crate::api_keys::Validation),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_validate(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<ValidateApiKeyRequest>,
) -> Result<Json<Validation>> {
    let Some((key, scope)) = req.and_then(|r| r.api_key.map(|k| (k, r.scope))) else {
        return Ok(Json(Validation::invalid("missing")));
    };
    let now = state.now();
    let mut answer = state
        .db
        .read(move |c| api_keys::validate(c, &key, scope.as_deref(), now))
        .await?;
    if let Some(key_id) = answer.touch.take() {
        // A failed stamp must not turn a valid key into an error; the next
        // validation finds the stamp still stale and writes it then.
        let stamped = state
            .db
            .write(move |tx, _| api_keys::touch(tx, &key_id, now))
            .await;
        if stamped.is_err() {
            tracing::warn!("could not update last_used_at of an API key");
        }
    }
    Ok(Json(answer))
}
