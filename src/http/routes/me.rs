//! `/api/v1/me/*`: the caller's own things.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::http::extract::AuthUser;
use crate::state::AppState;
use crate::{sync, users};

/// Routes under `/api/v1/me`.
pub fn router() -> Router<AppState> {
    Router::new().route("/bootstrap-singletons", post(post_bootstrap_singletons))
}

async fn post_bootstrap_singletons(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>> {
    let uid = claims.sub.clone();
    state
        .db
        .read(move |c| users::store::by_id(c, &uid))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let done = sync::reconcile(&state.db, &state.clock, claims.sub).await?;
    Ok(Json(json!({ "ok": true, "bootstrapped": done })))
}
