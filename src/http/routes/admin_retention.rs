//! `/api/v1/admin/retention`: the retention policy, the per-user row caps
//! and the last run of the retention job (`retention`); an admin can run
//! it at once.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::admin::AdminUser;
use crate::error::Result;
use crate::http::error::ErrorEnvelope;
use crate::retention::{self, Limits, Policy, Report};
use crate::state::AppState;

/// The retention policy, the row caps and the last run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RetentionStatus {
    /// `null` until the job has run since the start.
    last_run: Option<Report>,
    limits: Limits,
    policy: Policy,
}

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
        (status = 200, description = "The policy, the row caps and the last run (`null` before the first)", body = RetentionStatus),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_retention(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
) -> Json<RetentionStatus> {
    Json(RetentionStatus {
        last_run: state.retention.last(),
        limits: retention::limits(&state.config),
        policy: state.retention.policy,
    })
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
