//! Liveness (`/health`: the process answers) and readiness (`/ready`: the
//! database answers too).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::iso;
use crate::state::AppState;

/// The body of `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `mana-auth`.
    service: &'static str,
    /// `ok`.
    status: &'static str,
    timestamp: String,
}

/// The body of `GET /ready`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// The migration the database is at.
    schema_version: i64,
    /// `ready`.
    status: &'static str,
    timestamp: String,
}

/// `GET /health`.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "The process answers", body = Health)))]
pub async fn get_health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        service: "mana-auth",
        status: "ok",
        timestamp: iso(state.now()),
    })
}

/// `GET /ready`: 200 when a database read succeeds, else 503.
#[utoipa::path(get, path = "/ready", tag = "meta", responses(
    (status = 200, description = "The database answers", body = Ready),
    (status = 503, description = "SERVICE_UNAVAILABLE: the database does not answer", body = crate::http::error::ErrorEnvelope)
))]
pub async fn get_ready(
    State(state): State<AppState>,
) -> Result<Json<Ready>, crate::error::ApiError> {
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
    Ok(Json(Ready {
        schema_version: version,
        status: "ready",
        timestamp: iso(state.now()),
    }))
}
