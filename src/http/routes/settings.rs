//! `/api/v1/settings`: global settings over defaults, app overrides and
//! per-device app settings. PATCH bodies deep-merge (see `settings::merge`).

use axum::extract::{Path, State};
use axum::routing::{delete, get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::http::extract::{AppJson, AuthUser};
use crate::http::openapi::ErrorEnvelope;
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

#[utoipa::path(
    get, path = "/",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All settings", body = crate::settings::AllSettings),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
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

#[utoipa::path(
    patch, path = "/global", request_body(content = Object, description = "A JSON object deep-merged over the global settings"),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{global}`", body = Object),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
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

#[utoipa::path(
    patch, path = "/app/{app_id}", request_body(content = Object, description = "A JSON object deep-merged over the app override"), params(("app_id" = String, Path, description = "app id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{appId, settings}`", body = Object)
    )
)]
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

#[utoipa::path(
    delete, path = "/app/{app_id}", params(("app_id" = String, Path, description = "app id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success}`", body = Object)
    )
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeviceRequest {
    device_name: Option<String>,
    device_type: Option<String>,
    settings: Option<Value>,
}

#[utoipa::path(
    patch, path = "/device/{device_id}/{app_id}", request_body = DeviceRequest, params(("device_id" = String, Path, description = "device id"), ("app_id" = String, Path, description = "app id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The device", body = crate::settings::Device)
    )
)]
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

#[utoipa::path(
    get, path = "/devices",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{devices}`", body = Object)
    )
)]
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

#[utoipa::path(
    delete, path = "/device/{device_id}", params(("device_id" = String, Path, description = "device id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success}`", body = Object)
    )
)]
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

/// The OpenAPI operations of this module (see `http::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_settings,
    patch_global,
    patch_app,
    delete_app,
    patch_device_app,
    get_devices,
    delete_device
))]
pub struct Doc;
