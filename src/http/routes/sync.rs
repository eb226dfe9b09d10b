//! `GET /sync/{appId}/pull`: the read side of the change log.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use crate::clock::{iso, parse_iso};
use crate::error::{ApiError, Result};
use crate::http::extract::{AppQuery, AuthUser};
use crate::state::AppState;
use crate::sync::{self, PullPage};

/// Largest page.
const MAX_LIMIT: u32 = 1000;

/// Routes under `/sync`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_pull))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PullQuery {
    since: Option<String>,
    collection: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(
    get, path = "/{app_id}/pull", params(("app_id" = String, Path, description = "app id"), PullQuery),
    tag = "sync",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = crate::sync::PullPage)
    )
)]
async fn get_pull(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(app_id): Path<String>,
    AppQuery(q): AppQuery<PullQuery>,
) -> Result<Json<PullPage>> {
    if app_id.is_empty() || app_id.len() > 64 {
        return Err(ApiError::validation("appId must be 1..64 characters"));
    }
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => String::new(),
        Some(s) => iso(parse_iso(s)
            .ok_or_else(|| ApiError::validation("since must be an ISO-8601 timestamp"))?),
    };
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_LIMIT);
    let collection = q.collection.filter(|c| !c.is_empty());
    Ok(Json(
        state
            .db
            .read(move |c| {
                sync::pull(
                    c,
                    &claims.sub,
                    &app_id,
                    collection.as_deref(),
                    &since,
                    limit,
                )
            })
            .await?,
    ))
}
