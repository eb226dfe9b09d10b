//! `/api/v1/admin/retention`: the retention policy, the per-user row caps
//! and the last run of the retention job (`retention`); an admin can run
//! it at once.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use super::admin::AdminUser;
use crate::error::Result;
use crate::http::error::ErrorEnvelope;
use crate::retention::{self, Report};
use crate::state::AppState;

/// Routes under `/api/v1/admin/retention`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_retention))
        .routes(routes!(post_run))
}

#[utoipa::path(
    get, path = "/",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{policy: {securityEventsDays, mailDays}, limits, lastRun: Report | null}`", body = Object),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_retention(AdminUser(_): AdminUser, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "policy": state.retention.policy,
        "limits": retention::limits(&state.config),
        "lastRun": state.retention.last(),
    }))
}

#[utoipa::path(
    post, path = "/run",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What this run removed", body = Report),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn post_run(AdminUser(_): AdminUser, State(state): State<AppState>) -> Result<Json<Report>> {
    Ok(Json(
        retention::run(&state.db, &state.retention, state.now()).await?,
    ))
}
