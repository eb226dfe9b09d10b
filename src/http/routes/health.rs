//! Liveness (`/health`: the process answers) and readiness (`/ready`: the
//! database answers too).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::clock::iso;
use crate::state::AppState;

/// `GET /health`.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "`{status, service, timestamp}`: the process answers", body = Object)))]
pub async fn get_health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "service": "mana-auth", "timestamp": iso(state.now()) }))
}

/// `GET /ready`: 200 when a database read succeeds, else 503.
#[utoipa::path(get, path = "/ready", tag = "meta", responses(
    (status = 200, description = "`{status, schemaVersion, timestamp}`: the database answers", body = Object),
    (status = 503, description = "SERVICE_UNAVAILABLE: the database does not answer", body = crate::http::error::ErrorEnvelope)
))]
pub async fn get_ready(
    State(state): State<AppState>,
) -> Result<Json<Value>, crate::error::ApiError> {
    let version: i64 = state
        .db
        .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
        .await
        .map_err(|_| {
            crate::error::ApiError::new(
                crate::error::ErrorCode::ServiceUnavailable,
                "database not ready",
            )
        })?;
    Ok(Json(
        json!({ "status": "ready", "schemaVersion": version, "timestamp": iso(state.now()) }),
    ))
}
