//! `/api/v1/admin/personas`: create-or-update, list, detail and delete of
//! personas (see `personas`), for admins only. Refusals answer in the
//! original service's bare `{error, details?, hint?}` shape.

use crate::http::openapi::routes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;

use super::admin::AdminUser;
use crate::admin::personas::{self as admin_personas, Saved};
use crate::audit::ClientInfo;
use crate::error::{ApiError, ErrorCode};
use crate::http::extract::read_body;
use crate::http::upstream::{PlainError, PlainErrorBody};
use crate::personas;
use crate::state::AppState;

/// Routes under `/api/v1/admin/personas`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_personas, post_persona))
        .routes(routes!(get_persona, delete_persona))
}

/// This door's table from refusal to body.
pub struct AdminPersonaError(ApiError);

impl From<ApiError> for AdminPersonaError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AdminPersonaError {
    fn into_response(self) -> Response {
        let mut e = self.0;
        match e.code {
            ErrorCode::NotFound => PlainError::new(e, "Not found", Map::new()).into_response(),
            ErrorCode::Validation
            | ErrorCode::BadRequest
            | ErrorCode::Conflict
            | ErrorCode::EmailAlreadyRegistered => {
                let text = e.message.clone();
                let fields = e.extra.take().unwrap_or_default();
                PlainError::new(e, &text, fields).into_response()
            }
            _ => e.into_response(),
        }
    }
}

type Answer<T> = Result<Json<T>, AdminPersonaError>;

/// The request (documentation only; `personas::check_spec` reads it).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "documentation twin of the body personas::check_spec reads"
)]
struct PersonaBody {
    /// The persona's address (create-or-update key).
    email: String,
    /// Display name (default: the local part of the email).
    #[schema(max_length = 80)]
    name: Option<String>,
    /// Sets (or replaces) the persona's password; without one it cannot
    /// sign in with a password.
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    archetype: String,
    #[schema(min_length = 1, max_length = 20000)]
    system_prompt: String,
    /// Module → relative weight (non-negative numbers).
    module_mix: std::collections::BTreeMap<String, f64>,
    /// `daily` (default), `weekdays` or `hourly`.
    tick_cadence: Option<Cadence>,
}

#[derive(utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only")]
enum Cadence {
    Daily,
    Weekdays,
    Hourly,
}

#[utoipa::path(
    post, path = "/", request_body = PersonaBody,
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Created or updated", body = crate::admin::personas::Saved),
        (status = 400, description = "`ValidationError` with `details`, or `Invalid JSON body`", body = PlainErrorBody),
        (status = 409, description = "the email belongs to a user who is not a persona", body = PlainErrorBody),
        (status = 403, description = "admin role required", body = crate::http::error::ErrorEnvelope)
    )
)]
async fn post_persona(
    State(state): State<AppState>,
    client: ClientInfo,
    AdminUser(admin): AdminUser,
    req: Request,
) -> Answer<Saved> {
    let bytes = read_body(req, state.config.max_body_bytes).await?;
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    Ok(Json(
        admin_personas::create_or_update(&state, admin, body, client).await?,
    ))
}

#[utoipa::path(
    get, path = "/",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every persona with its actions of the last 7 days", body = crate::personas::PersonaList),
        (status = 403, description = "admin role required", body = crate::http::error::ErrorEnvelope)
    )
)]
async fn get_personas(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
) -> Answer<crate::personas::PersonaList> {
    let now = state.now();
    Ok(Json(state.db.read(move |c| personas::list(c, now)).await?))
}

#[utoipa::path(
    get, path = "/{id}", params(("id" = String, Path, description = "the persona's user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The persona, its latest actions and feedback", body = crate::personas::PersonaDetail),
        (status = 404, description = "`Not found`", body = PlainErrorBody),
        (status = 403, description = "admin role required", body = crate::http::error::ErrorEnvelope)
    )
)]
async fn get_persona(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer<crate::personas::PersonaDetail> {
    Ok(Json(
        state.db.read(move |c| personas::detail(c, &id)).await?,
    ))
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "the persona's user id")),
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = crate::admin::personas::PersonaDeleted),
        (status = 400, description = "the user is not a persona", body = PlainErrorBody),
        (status = 404, description = "`Not found`", body = PlainErrorBody),
        (status = 403, description = "admin role required", body = crate::http::error::ErrorEnvelope)
    )
)]
async fn delete_persona(
    State(state): State<AppState>,
    client: ClientInfo,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Answer<crate::admin::personas::PersonaDeleted> {
    let st = state.clone();
    let done = state
        .db
        .write(move |tx, now| admin_personas::delete(tx, &st.config, &admin, &id, &client, now))
        .await?;
    state.mail.wake();
    Ok(Json(done))
}
