//! `/api/v1/internal/personas`: the persona runner's three calls, with
//! `X-Service-Key`: which personas are due, and their actions and feedback
//! (see `personas`). Refusals answer in the original `{error}` shape.

use crate::http::openapi::routes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorCode};
use crate::http::extract::{read_body, ServiceKey};
use crate::http::upstream::{PlainError, PlainErrorBody};
use crate::personas;
use crate::state::AppState;

/// Batches of 500 actions with error texts are larger than ordinary
/// bodies; this caller is a trusted service.
const BATCH_BODY_LIMIT: usize = 1024 * 1024;

/// Routes under `/api/v1/internal/personas`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_due))
        .routes(routes!(post_actions))
        .routes(routes!(post_feedback))
}

/// This door's table from refusal to body.
pub struct RunnerError(ApiError);

impl From<ApiError> for RunnerError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for RunnerError {
    fn into_response(self) -> Response {
        let e = self.0;
        match e.code {
            ErrorCode::NotFound => {
                PlainError::new(e, "Persona not found", Map::new()).into_response()
            }
            ErrorCode::Validation => {
                let text = e.message.clone();
                PlainError::new(e, &text, Map::new()).into_response()
            }
            _ => e.into_response(),
        }
    }
}

type Answer = Result<Json<Written>, RunnerError>;

/// A batch taken in.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Written {
    ok: bool,
    /// Rows written.
    written: usize,
}

#[utoipa::path(
    get, path = "/due",
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "The personas due now, and the server's clock", body = crate::personas::Due)
    )
)]
async fn get_due(
    State(state): State<AppState>,
    _: ServiceKey,
) -> Result<Json<crate::personas::Due>, RunnerError> {
    let now = state.now();
    Ok(Json(state.db.read(move |c| personas::due(c, now)).await?))
}

/// One batch (documentation only; `personas::feed` reads it).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documentation twin of the body personas::feed reads"
)]
struct ActionsBody {
    /// 1 to 500 rows `{tickId, toolName, result: ok|error, inputHash?, errorMessage?, latencyMs?}`.
    #[schema(min_items = 1, max_items = 500)]
    actions: Vec<Value>,
}

/// One batch (documentation only; `personas::feed` reads it).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documentation twin of the body personas::feed reads"
)]
struct FeedbackBody {
    /// 1 to 100 rows `{tickId, module, rating: 1..5, notes?}`.
    #[schema(min_items = 1, max_items = 100)]
    feedback: Vec<Value>,
}

async fn body_of(req: Request) -> Result<Option<Value>, ApiError> {
    let bytes = read_body(req, BATCH_BODY_LIMIT).await?;
    Ok(serde_json::from_slice(&bytes).ok())
}

#[utoipa::path(
    post, path = "/{id}/actions", request_body = ActionsBody,
    params(("id" = String, Path, description = "the persona's user id")),
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "How many rows were written", body = Written),
        (status = 400, description = "a malformed batch", body = PlainErrorBody),
        (status = 404, description = "`Persona not found`", body = PlainErrorBody)
    )
)]
async fn post_actions(
    State(state): State<AppState>,
    _: ServiceKey,
    Path(id): Path<String>,
    req: Request,
) -> Answer {
    let body = body_of(req).await?;
    let written = state
        .db
        .write(move |tx, now| personas::record_actions(tx, &id, body.as_ref(), now))
        .await?;
    Ok(Json(Written { ok: true, written }))
}

#[utoipa::path(
    post, path = "/{id}/feedback", request_body = FeedbackBody,
    params(("id" = String, Path, description = "the persona's user id")),
    tag = "internal",
    security(("serviceKey" = [])),
    responses(
        (status = 200, description = "How many rows were written", body = Written),
        (status = 400, description = "a malformed batch", body = PlainErrorBody),
        (status = 404, description = "`Persona not found`", body = PlainErrorBody)
    )
)]
async fn post_feedback(
    State(state): State<AppState>,
    _: ServiceKey,
    Path(id): Path<String>,
    req: Request,
) -> Answer {
    let body = body_of(req).await?;
    let written = state
        .db
        .write(move |tx, now| personas::record_feedback(tx, &id, body.as_ref(), now))
        .await?;
    Ok(Json(Written { ok: true, written }))
}
