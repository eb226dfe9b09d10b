//! `/api/v1/internal/*`: membership look-ups for other Mana services,
//! authenticated by `X-Service-Key` (compared in constant time).

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Result;
use crate::http::extract::ServiceKey;
use crate::ids::{SpaceId, UserId};
use crate::spaces;
use crate::state::AppState;

/// Whether a user is a member of a space.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MemberCheck {
    is_member: bool,
    /// `owner`, `admin` or `member`; empty when not a member.
    role: &'static str,
}

/// Every space a user belongs to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Memberships {
    memberships: Vec<Membership>,
    user_id: String,
}

/// One space of a user and the user's role there.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Membership {
    organization_id: String,
    role: String,
}

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
        (status = 200, description = "Whether the user is a member, and the role", body = MemberCheck)
    )
)]
async fn get_member(
    State(state): State<AppState>,
    _: ServiceKey,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Json<MemberCheck>> {
    let role = state
        .db
        .read(move |c| spaces::role_of(c, &SpaceId::from(org_id), &UserId::from(user_id)))
        .await?;
    Ok(Json(MemberCheck {
        is_member: role.is_some(),
        role: role.map_or("", |r| r.as_str()),
    }))
}

#[utoipa::path(
    get, path = "/users/{user_id}/memberships", params(("user_id" = String, Path, description = "user id")),
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "The user's spaces and roles", body = Memberships)
    )
)]
async fn get_memberships(
    State(state): State<AppState>,
    _: ServiceKey,
    Path(user_id): Path<String>,
) -> Result<Json<Memberships>> {
    let uid = user_id.clone();
    let rows = state
        .db
        .read(move |c| spaces::memberships_of(c, &UserId::from(uid)))
        .await?;
    let memberships = rows
        .into_iter()
        .map(|(organization_id, role)| Membership {
            organization_id,
            role,
        })
        .collect();
    Ok(Json(Memberships {
        memberships,
        user_id,
    }))
}
