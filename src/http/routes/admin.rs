//! `/api/v1/admin/*`: for admins only. Authentication is the bearer access
//! token alone (never the session cookie), so a cross-site request cannot
//! carry an admin's credentials; the session behind the token must still be
//! live and the stored role (not only the token's claim) must be `admin`.

use crate::http::openapi::routes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::admin::browse::{ChangesPage, EventsPage, MailPage, SpaceDetail, SpacesPage};
use crate::admin::stats::Stats;
use crate::admin::system::{Activity, System};
use crate::admin::users::{UserDetail, UsersPage};
use crate::admin::{self, browse, stats, system, users, Admin, Paging};
use crate::audit::ClientInfo;
use crate::error::{ApiError, Result};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{bearer, AppJson, AppQuery, OptionalJson};
use crate::state::AppState;
use crate::users::User;

/// A caller whose bearer token belongs to a live session of an admin.
pub struct AdminUser(pub Admin);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jwt = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let (_, caller) = crate::auth::caller::by_access_token(state, jwt).await?;
        let user = &caller.user;
        if user.role != "admin" {
            return Err(ApiError::forbidden("admin role required"));
        }
        Ok(AdminUser(Admin {
            id: user.id.clone(),
            email: user.email.clone(),
        }))
    }
}

/// Routes under `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_stats))
        .routes(routes!(get_activity))
        .routes(routes!(get_system))
        .routes(routes!(get_users))
        .routes(routes!(get_user))
        .routes(routes!(get_user_data, delete_user_data))
        .routes(routes!(get_tier, put_tier))
        .routes(routes!(put_role))
        .routes(routes!(post_lock))
        .routes(routes!(post_unlock))
        .routes(routes!(delete_sessions))
        .routes(routes!(get_spaces))
        .routes(routes!(get_space))
        .routes(routes!(get_sync_changes))
        .routes(routes!(get_events))
        .routes(routes!(get_outbox))
        .nest("/personas", super::admin_personas::router())
        .nest("/retention", super::admin_retention::router())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    page: Option<u32>,
    limit: Option<u32>,
    search: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(rename = "spaceId")]
    space_id: Option<String>,
}

impl ListQuery {
    fn paging(&self) -> Result<Paging> {
        Paging::new(self.page, self.limit)
    }
}

#[utoipa::path(
    get, path = "/stats",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counters", body = Stats),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_stats(AdminUser(_): AdminUser, State(state): State<AppState>) -> Result<Json<Stats>> {
    let now = state.now();
    Ok(Json(state.db.read(move |c| stats::stats(c, now)).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ActivityQuery {
    /// Days ending today (UTC), 1..90; default 30.
    days: Option<u32>,
}

#[utoipa::path(
    get, path = "/activity", params(ActivityQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sign-ins, failed sign-ins and sign-ups per UTC day, oldest first", body = Activity),
        (status = 400, description = "VALIDATION: days out of range", body = ErrorEnvelope),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_activity(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ActivityQuery>,
) -> Result<Json<Activity>> {
    let now = state.now();
    let days = q.days.unwrap_or(30);
    let a = state
        .db
        .read(move |c| system::activity(c, now, days))
        .await?;
    Ok(Json(a))
}

#[utoipa::path(
    get, path = "/system",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Version, uptime, database and WAL size, schema version, last backup, replication position, mail queue, signing key, hash pool", body = System),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_system(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
) -> Result<Json<System>> {
    let now = state.now();
    let ctx = system::Context {
        db_path: state.db.path().to_owned(),
        started_at: state.started_at,
        hash_pool: state.hasher.load(),
        smtp: state.mail.has_smtp(),
    };
    Ok(Json(
        state.db.read(move |c| system::system(c, &ctx, now)).await?,
    ))
}

#[utoipa::path(
    get, path = "/users", params(ListQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UsersPage),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_users(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<UsersPage>> {
    let paging = q.paging()?;
    let filter = users::UserFilter {
        search: q.search,
        tier: q.tier,
    };
    Ok(Json(
        state
            .db
            .read(move |c| users::list(c, filter, paging))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/users/{id}", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user in detail", body = UserDetail),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_user(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>> {
    let now = state.now();
    Ok(Json(
        state.db.read(move |c| users::detail(c, &id, now)).await?,
    ))
}

#[utoipa::path(
    get, path = "/users/{id}/data", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's data summary `{user, auth, credits, projects, totals}` with every row of the export beside it (audited)", body = crate::me::data::AdminDataView),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_user_data(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<crate::me::data::AdminDataView>> {
    Ok(Json(
        state
            .db
            .write(move |tx, now| admin::view_data(tx, &admin, &id, &client, now))
            .await?,
    ))
}

#[utoipa::path(
    delete, path = "/users/{id}/data", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was removed", body = crate::me::data::Deletion),
        (status = 403, description = "admin role required", body = ErrorEnvelope),
        (status = 409, description = "refused for this user", body = ErrorEnvelope)
    )
)]
async fn delete_user_data(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<crate::me::data::Deletion>> {
    let st = state.clone();
    let erased = state
        .db
        .write(move |tx, now| admin::erase_data(tx, &st.config, &admin, &id, &client, now))
        .await?;
    state.mail.wake();
    Ok(Json(crate::me::data::deletion_result(erased)))
}

#[utoipa::path(
    get, path = "/users/{id}/tier", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{id, email, accessTier}` (the original's) and `{userId, tier}`", body = Tier),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_tier(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Tier>> {
    let user = state.db.read(move |c| admin::target(c, &id)).await?;
    Ok(Json(Tier {
        access_tier: user.access_tier.clone(),
        email: user.email,
        id: user.id.clone(),
        tier: user.access_tier,
        user_id: user.id,
    }))
}

/// A user's access tier, under the original's names and this service's.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Tier {
    access_tier: String,
    email: String,
    id: String,
    tier: String,
    user_id: String,
}

/// A user after an admin changed the tier.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TierChanged {
    success: bool,
    tier: String,
    user: User,
    user_id: String,
}

/// A user after an admin changed the role.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RoleChanged {
    role: String,
    user: User,
    user_id: String,
}

/// A user after an admin lock.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Locked {
    /// Always `true`.
    locked: bool,
    revoked_sessions: usize,
}

/// A user after an admin unlock.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Unlocked {
    /// Always `false`.
    locked: bool,
    was_locked: bool,
}

/// How many sessions an admin ended.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SessionsRevoked {
    revoked_sessions: usize,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TierRequest {
    tier: String,
}

#[utoipa::path(
    put, path = "/users/{id}/tier", request_body = TierRequest, params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success, user: {id, email, accessTier, …}}` (the original's) and `{userId, tier}`", body = TierChanged),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn put_tier(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(req): AppJson<TierRequest>,
) -> Result<Json<TierChanged>> {
    let user = state
        .db
        .write(move |tx, now| admin::set_tier(tx, &admin, &id, &req.tier, &client, now))
        .await?;
    Ok(Json(TierChanged {
        success: true,
        tier: user.access_tier.clone(),
        user_id: user.id.clone(),
        user,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct UserRoleRequest {
    role: String,
}

#[utoipa::path(
    put, path = "/users/{id}/role", request_body = UserRoleRequest, params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user with the new role", body = RoleChanged),
        (status = 403, description = "admin role required", body = ErrorEnvelope),
        (status = 409, description = "refused for this user", body = ErrorEnvelope)
    )
)]
async fn put_role(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
    AppJson(req): AppJson<UserRoleRequest>,
) -> Result<Json<RoleChanged>> {
    let user = state
        .db
        .write(move |tx, now| admin::set_role(tx, &admin, &id, &req.role, &client, now))
        .await?;
    Ok(Json(RoleChanged {
        role: user.role.clone(),
        user_id: user.id.clone(),
        user,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LockRequest {
    reason: Option<String>,
}

#[utoipa::path(
    post, path = "/users/{id}/lock", request_body = Option<LockRequest>, params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Locked; the user's sessions are ended", body = Locked),
        (status = 403, description = "admin role required", body = ErrorEnvelope),
        (status = 409, description = "refused for this user", body = ErrorEnvelope)
    )
)]
async fn post_lock(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<LockRequest>,
) -> Result<Json<Locked>> {
    let reason = req.and_then(|r| r.reason).filter(|r| !r.trim().is_empty());
    let revoked = state
        .db
        .write(move |tx, now| admin::lock(tx, &admin, &id, reason, &client, now))
        .await?;
    Ok(Json(Locked {
        locked: true,
        revoked_sessions: revoked,
    }))
}

#[utoipa::path(
    post, path = "/users/{id}/unlock", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unlocked, and whether a lock was on", body = Unlocked),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn post_unlock(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<Unlocked>> {
    let was = state
        .db
        .write(move |tx, now| admin::unlock(tx, &admin, &id, &client, now))
        .await?;
    Ok(Json(Unlocked {
        locked: false,
        was_locked: was,
    }))
}

#[utoipa::path(
    delete, path = "/users/{id}/sessions", params(("id" = String, Path, description = "user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions were ended", body = SessionsRevoked),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn delete_sessions(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<SessionsRevoked>> {
    let revoked = state
        .db
        .write(move |tx, now| admin::revoke_sessions(tx, &admin, &id, &client, now))
        .await?;
    Ok(Json(SessionsRevoked {
        revoked_sessions: revoked,
    }))
}

#[utoipa::path(
    get, path = "/spaces", params(ListQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of spaces", body = SpacesPage),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_spaces(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<SpacesPage>> {
    let paging = q.paging()?;
    Ok(Json(
        state
            .db
            .read(move |c| browse::spaces(c, q.search, paging))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/spaces/{id}", params(("id" = String, Path, description = "space id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The space in detail", body = SpaceDetail),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_space(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SpaceDetail>> {
    Ok(Json(state.db.read(move |c| browse::space(c, &id)).await?))
}

#[utoipa::path(
    get, path = "/sync-changes", params(ListQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sync changes", body = ChangesPage),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_sync_changes(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<ChangesPage>> {
    let paging = q.paging()?;
    let filter = browse::ChangeFilter {
        user_id: q.user_id,
        space_id: q.space_id,
    };
    Ok(Json(
        state
            .db
            .read(move |c| browse::sync_changes(c, filter, paging))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/security-events", params(ListQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of security events", body = EventsPage),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_events(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<EventsPage>> {
    let paging = q.paging()?;
    let filter = browse::EventFilter {
        event_type: q.event_type,
        user_id: q.user_id,
    };
    Ok(Json(
        state
            .db
            .read(move |c| browse::events(c, filter, paging))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/mail-outbox", params(ListQuery),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the mail outbox", body = MailPage),
        (status = 403, description = "admin role required", body = ErrorEnvelope)
    )
)]
async fn get_outbox(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<MailPage>> {
    let paging = q.paging()?;
    let mail = state.mail.clone();
    Ok(Json(
        state
            .db
            .read(move |c| browse::outbox(c, mail.kek(), q.status, paging))
            .await?,
    ))
}
