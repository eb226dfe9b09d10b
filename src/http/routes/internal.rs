//! `/api/v1/internal/*`: membership look-ups for other Mana services,
//! authenticated by `X-Service-Key` (compared in constant time).

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::error::Result;
use crate::http::extract::ServiceKey;
use crate::spaces::store;
use crate::state::AppState;

/// Routes under `/api/v1/internal`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_member))
        .routes(routes!(get_memberships))
        .nest("/personas", super::internal_personas::router())
}

#[utoipa::path(
    get, path = "/org/{org_id}/member/{user_id}", params(("org_id" = String, Path, description = "space id"), ("user_id" = String, Path, description = "user id")),
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "`{isMember, role}`", body = Object)
    )
)]
async fn get_member(
    State(state): State<AppState>,
    _: ServiceKey,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let role = state
        .db
        .read(move |c| store::role_of(c, &org_id, &user_id))
        .await?;
    Ok(Json(
        json!({ "isMember": role.is_some(), "role": role.map_or("", |r| r.as_str()) }),
    ))
}

#[utoipa::path(
    get, path = "/users/{user_id}/memberships", params(("user_id" = String, Path, description = "user id")),
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "`{userId, memberships}`", body = Object)
    )
)]
async fn get_memberships(
    State(state): State<AppState>,
    _: ServiceKey,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let uid = user_id.clone();
    let rows = state.db.read(move |c| store::memberships(c, &uid)).await?;
    let memberships: Vec<Value> = rows
        .into_iter()
        .map(|(space, role)| json!({ "organizationId": space, "role": role }))
        .collect();
    Ok(Json(
        json!({ "userId": user_id, "memberships": memberships }),
    ))
}
