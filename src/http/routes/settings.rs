//! `/api/v1/settings`: global settings over defaults, app overrides and
//! per-device app settings. PATCH bodies deep-merge (see `settings::merge`).
//! Every answer but `/devices` is the whole `{success, globalSettings,
//! appOverrides, deviceSettings}` the web app's settings store reads.

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::Json;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Result;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser};
use crate::me::require_user;
use crate::settings::{self, AllSettings, Device, DevicePatch};
use crate::state::AppState;

/// Routes under `/api/v1/settings`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings))
        .routes(routes!(patch_global))
        .routes(routes!(patch_app, delete_app))
        .routes(routes!(patch_device_app))
        .routes(routes!(get_devices))
        .routes(routes!(delete_device))
}

/// Every settings route but `/devices` answers the caller's whole settings,
/// as the upstream service did and its settings store reads them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SettingsResponse {
    /// Always true.
    success: bool,
    #[serde(flatten)]
    settings: AllSettings,
}

fn settings_response(c: &Connection, user_id: &str) -> Result<Json<SettingsResponse>> {
    Ok(Json(SettingsResponse {
        success: true,
        settings: settings::get_all(c, user_id)?,
    }))
}

#[utoipa::path(
    get, path = "/",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success, globalSettings, appOverrides, deviceSettings}`", body = SettingsResponse),
        (status = 401, description = "no valid token, or the user is gone", body = ErrorEnvelope)
    )
)]
async fn get_settings(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<SettingsResponse>> {
    state
        .db
        .read(move |c| {
            require_user(c, &claims.sub)?;
            settings_response(c, &claims.sub)
        })
        .await
}

#[utoipa::path(
    patch, path = "/global", request_body(content = Object, description = "A JSON object deep-merged over the global settings"),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All settings after the change", body = SettingsResponse),
        (status = 400, description = "not an object, too deep or too large", body = ErrorEnvelope)
    )
)]
async fn patch_global(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(patch): AppJson<Value>,
) -> Result<Json<SettingsResponse>> {
    state
        .db
        .write(move |tx, now| {
            require_user(tx, &claims.sub)?;
            settings::patch_global(tx, &claims.sub, patch, now)?;
            settings_response(tx, &claims.sub)
        })
        .await
}

#[utoipa::path(
    patch, path = "/app/{app_id}", request_body(content = Object, description = "A JSON object deep-merged over the app override"), params(("app_id" = String, Path, description = "app id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All settings after the change", body = SettingsResponse),
        (status = 400, description = "bad app id, body or size", body = ErrorEnvelope)
    )
)]
async fn patch_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(app_id): Path<String>,
    AppJson(patch): AppJson<Value>,
) -> Result<Json<SettingsResponse>> {
    state
        .db
        .write(move |tx, now| {
            require_user(tx, &claims.sub)?;
            settings::patch_app(tx, &claims.sub, &app_id, patch, now)?;
            settings_response(tx, &claims.sub)
        })
        .await
}

#[utoipa::path(
    delete, path = "/app/{app_id}", params(("app_id" = String, Path, description = "app id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All settings after the change (also when there was no override)", body = SettingsResponse)
    )
)]
async fn delete_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(app_id): Path<String>,
) -> Result<Json<SettingsResponse>> {
    state
        .db
        .write(move |tx, _| {
            require_user(tx, &claims.sub)?;
            settings::delete_app(tx, &claims.sub, &app_id)?;
            settings_response(tx, &claims.sub)
        })
        .await
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
        (status = 200, description = "All settings after the change", body = SettingsResponse),
        (status = 400, description = "bad ids, body or size; too many devices", body = ErrorEnvelope)
    )
)]
async fn patch_device_app(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path((device_id, app_id)): Path<(String, String)>,
    AppJson(req): AppJson<DeviceRequest>,
) -> Result<Json<SettingsResponse>> {
    let patch = DevicePatch {
        device_name: req.device_name,
        device_type: req.device_type,
        settings: req.settings,
    };
    state
        .db
        .write(move |tx, now| {
            require_user(tx, &claims.sub)?;
            settings::patch_device_app(tx, &claims.sub, &device_id, &app_id, patch, now)?;
            settings_response(tx, &claims.sub)
        })
        .await
}

#[derive(Serialize, utoipa::ToSchema)]
struct DevicesResponse {
    /// Always true.
    success: bool,
    devices: Vec<Device>,
}

#[utoipa::path(
    get, path = "/devices",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{success, devices}`", body = DevicesResponse)
    )
)]
async fn get_devices(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<DevicesResponse>> {
    let devices = state
        .db
        .read(move |c| settings::devices(c, &claims.sub))
        .await?;
    Ok(Json(DevicesResponse {
        success: true,
        devices,
    }))
}

#[utoipa::path(
    delete, path = "/device/{device_id}", params(("device_id" = String, Path, description = "device id")),
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All settings after the change (also when the device was unknown)", body = SettingsResponse)
    )
)]
async fn delete_device(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(device_id): Path<String>,
) -> Result<Json<SettingsResponse>> {
    state
        .db
        .write(move |tx, _| {
            require_user(tx, &claims.sub)?;
            settings::delete_device(tx, &claims.sub, &device_id)?;
            settings_response(tx, &claims.sub)
        })
        .await
}
