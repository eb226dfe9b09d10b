//! `/api/v1/settings`: global settings over defaults, app overrides and
//! per-device app settings. PATCH bodies deep-merge (see `settings::merge`).

use axum::extract::{Path, State};
use axum::routing::{delete, get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::http::extract::{AppJson, AuthUser};
use crate::me::require_user;
use crate::settings::{self, AllSettings, Device, DevicePatch};
use crate::state::AppState;

/// Routes under `/api/v1/settings`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(get_settings))
        .route("/global", patch(patch_global))
        .route("/app/{app_id}", patch(patch_app).delete(delete_app))
        .route("/device/{device_id}/{app_id}", patch(patch_device_app))
        .route("/devices", get(get_devices))
        .route("/device/{device_id}", delete(delete_device))
}

async fn get_settings(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<AllSettings>> {
    Ok(Json(
        state
            .db
            .read(move |c| {
                require_user(c, &claims.sub)?;
                settings::get_all(c, &claims.sub)
            })
            .await?,
    ))
}

async fn patch_global(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(patch): AppJson<Value>,
) -> Result<Json<Value>> {
    let clock = state.clock.clone();
    let global = state
        .db
        .write(move |tx| {
            require_user(tx, &claims.sub)?;
            settings::patch_global(tx, &claims.sub, patch, clock.now())
        })
        .await?;
    Ok(Json(json!({ "global": global })))
}

async fn patch_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(app_id): Path<String>,
    AppJson(patch): AppJson<Value>,
) -> Result<Json<Value>> {
    let clock = state.clock.clone();
    let (id, doc) = state
        .db
        .write(move |tx| {
            require_user(tx, &claims.sub)?;
            let doc = settings::patch_app(tx, &claims.sub, &app_id, patch, clock.now())?;
            Ok((app_id, doc))
        })
        .await?;
    Ok(Json(json!({ "appId": id, "settings": doc })))
}

async fn delete_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(app_id): Path<String>,
) -> Result<Json<Value>> {
    let removed = state
        .db
        .write(move |tx| settings::delete_app(tx, &claims.sub, &app_id))
        .await?;
    if !removed {
        return Err(ApiError::not_found("app settings"));
    }
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRequest {
    device_name: Option<String>,
    device_type: Option<String>,
    settings: Option<Value>,
}

async fn patch_device_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path((device_id, app_id)): Path<(String, String)>,
    AppJson(req): AppJson<DeviceRequest>,
) -> Result<Json<Device>> {
    let clock = state.clock.clone();
    let patch = DevicePatch {
        device_name: req.device_name,
        device_type: req.device_type,
        settings: req.settings,
    };
    Ok(Json(
        state
            .db
            .write(move |tx| {
                require_user(tx, &claims.sub)?;
                settings::patch_device_app(tx, &claims.sub, &device_id, &app_id, patch, clock.now())
            })
            .await?,
    ))
}

async fn get_devices(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>> {
    let devices = state
        .db
        .read(move |c| settings::devices(c, &claims.sub))
        .await?;
    Ok(Json(json!({ "devices": devices })))
}

async fn delete_device(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(device_id): Path<String>,
) -> Result<Json<Value>> {
    let removed = state
        .db
        .write(move |tx| settings::delete_device(tx, &claims.sub, &device_id))
        .await?;
    if !removed {
        return Err(ApiError::not_found("device"));
    }
    Ok(Json(json!({ "success": true })))
}
