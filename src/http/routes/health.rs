//! Liveness.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::clock::iso;
use crate::state::AppState;

/// `GET /health`.
pub async fn get_health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "service": "mana-auth", "timestamp": iso(state.now()) }))
}
