//! User settings: global settings over built-in defaults, per-app overrides
//! and per-device app settings. Only what the user set is stored; defaults
//! live here, so changing a default reaches everyone who never chose.
//!
//! Merge semantics of every PATCH (`merge`): objects merge recursively, key
//! by key; arrays and scalars replace; `null` deletes the key (a key with a
//! default then shows its default again). Each stored document is at most
//! `MAX_DOC_BYTES` of JSON; a user has at most `MAX_APPS` app overrides and
//! `MAX_APPS` app documents on each of at most `MAX_DEVICES` devices, and
//! all their documents together are at most `MAX_USER_BYTES`
//! (`PAYLOAD_TOO_LARGE` beyond), so one account cannot grow the file or the
//! `GET` answer without bound.

pub mod store;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::iso;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};

/// Largest stored settings document (serialized JSON).
pub const MAX_DOC_BYTES: usize = 64 * 1024;
/// Deepest nesting accepted in a settings document.
pub const MAX_DEPTH: usize = 16;
/// App overrides per user.
pub const MAX_APPS: u32 = 100;
/// Devices per user.
pub const MAX_DEVICES: u32 = 50;
/// All settings documents of one user together (serialized JSON bytes).
pub const MAX_USER_BYTES: usize = 1024 * 1024;

/// The global defaults of SPEC §7.
pub fn defaults() -> Value {
    json!({
        "nav": { "desktopPosition": "top", "sidebarCollapsed": false },
        "theme": { "mode": "system", "colorScheme": "ocean" },
        "locale": "de",
    })
}

/// Deep-merges `patch` into `base`: objects merge recursively, arrays and
/// scalars replace, `null` deletes the key.
pub fn merge(base: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                base.remove(&key);
            }
            Value::Object(inner) => match base.get_mut(&key) {
                Some(Value::Object(existing)) => merge(existing, inner),
                _ => {
                    let mut fresh = Map::new();
                    merge(&mut fresh, inner);
                    base.insert(key, Value::Object(fresh));
                }
            },
            other => {
                base.insert(key, other);
            }
        }
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn too_large() -> ApiError {
    ApiError::validation(format!(
        "settings document would exceed {} KiB",
        MAX_DOC_BYTES / 1024
    ))
}

/// A PATCH body must be an object of bounded depth.
pub fn check_patch(patch: Value) -> Result<Map<String, Value>> {
    if depth(&patch) > MAX_DEPTH {
        return Err(ApiError::validation(format!(
            "settings nest at most {MAX_DEPTH} levels"
        )));
    }
    match patch {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::validation("settings must be a JSON object")),
    }
}

/// Refuses a write that would take the user's documents over
/// `MAX_USER_BYTES`; `doc` is the one being replaced (its old size does not
/// count).
fn check_quota(tx: &Tx, user_id: &str, doc: store::Doc<'_>, text: &str) -> Result<()> {
    let others = store::bytes_besides(tx, user_id, doc)?;
    if others.saturating_add(text.len()) > MAX_USER_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "your settings would exceed {} KiB in all; remove some first",
                MAX_USER_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// Applies a patch to a stored document; fails when the result is too big.
fn apply(stored: Option<Value>, patch: Map<String, Value>) -> Result<(Value, String)> {
    let mut doc = match stored {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    merge(&mut doc, patch);
    let doc = Value::Object(doc);
    let text = doc.to_string();
    if text.len() > MAX_DOC_BYTES {
        return Err(too_large());
    }
    Ok((doc, text))
}

/// Checks an app or device id from the path.
pub fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= max
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{what} must be 1..{max} characters of letters, digits, - _ . :"
        )))
    }
}

/// Everything about a user's settings, in the upstream's field names.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllSettings {
    /// Defaults with the user's global settings merged over them.
    pub global_settings: Value,
    /// appId → override document.
    #[schema(value_type = Object)]
    pub app_overrides: Map<String, Value>,
    /// deviceId → device with its per-app settings.
    #[schema(value_type = Object)]
    pub device_settings: Map<String, Value>,
}

/// A known device. A device that never sent its name or type reads as
/// `"Unknown"` / `"desktop"`, as the upstream service answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub device_id: String,
    pub device_name: String,
    pub device_type: String,
    pub created_at: String,
    pub last_seen: String,
    /// How many apps have settings on this device.
    pub app_count: usize,
    /// appId → settings on this device.
    #[schema(value_type = Object)]
    pub apps: Map<String, Value>,
}

fn effective_global(stored: Option<Value>) -> Value {
    let mut global = match defaults() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(Value::Object(user)) = stored {
        merge(&mut global, user);
    }
    Value::Object(global)
}

/// The user's settings: global (over defaults), app overrides, devices.
pub fn get_all(conn: &Connection, user_id: &str) -> Result<AllSettings> {
    let global = effective_global(store::global(conn, user_id)?);
    let app_overrides = store::apps(conn, user_id)?.into_iter().collect();
    let device_settings = devices(conn, user_id)?
        .into_iter()
        .map(|d| (d.device_id.clone(), json!(d)))
        .collect();
    Ok(AllSettings {
        global_settings: global,
        app_overrides,
        device_settings,
    })
}

/// The user's devices with their per-app settings, most recently seen first.
pub fn devices(conn: &Connection, user_id: &str) -> Result<Vec<Device>> {
    let mut list = store::devices(conn, user_id)?;
    for (device_id, app_id, settings) in store::device_apps(conn, user_id)? {
        if let Some(d) = list.iter_mut().find(|d| d.device_id == device_id) {
            d.apps.insert(app_id, settings);
            d.app_count = d.apps.len();
        }
    }
    Ok(list)
}

/// Deep-merges a patch into the global settings; returns the effective global.
pub fn patch_global(tx: &Tx, user_id: &str, patch: Value, now: DateTime<Utc>) -> Result<Value> {
    let patch = check_patch(patch)?;
    let (doc, text) = apply(store::global(tx, user_id)?, patch)?;
    check_quota(tx, user_id, store::Doc::Global, &text)?;
    store::put_global(tx, user_id, &text, &iso(now))?;
    Ok(effective_global(Some(doc)))
}

/// Deep-merges a patch into one app's override; returns the override.
pub fn patch_app(
    tx: &Tx,
    user_id: &str,
    app_id: &str,
    patch: Value,
    now: DateTime<Utc>,
) -> Result<Value> {
    check_id("appId", app_id, 64)?;
    let patch = check_patch(patch)?;
    let stored = store::app(tx, user_id, app_id)?;
    if stored.is_none() && store::app_count(tx, user_id)? >= MAX_APPS {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!("at most {MAX_APPS} app overrides per user"),
        ));
    }
    let (doc, text) = apply(stored, patch)?;
    check_quota(tx, user_id, store::Doc::App(app_id), &text)?;
    store::put_app(tx, user_id, app_id, &text, &iso(now))?;
    Ok(doc)
}

/// Removes an app override; false when there was none.
pub fn delete_app(tx: &Tx, user_id: &str, app_id: &str) -> Result<bool> {
    check_id("appId", app_id, 64)?;
    store::delete_app(tx, user_id, app_id)
}

/// What a device reports along with its app settings.
pub struct DevicePatch {
    pub device_name: Option<String>,
    pub device_type: Option<String>,
    pub settings: Option<Value>,
}

fn check_label(what: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(v) = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "{what} must be at most {max} characters without control characters"
        )));
    }
    Ok(Some(v))
}

/// Records the device (name, type, last seen = now) and deep-merges the app
/// settings on it; returns the device.
pub fn patch_device_app(
    tx: &Tx,
    user_id: &str,
    device_id: &str,
    app_id: &str,
    patch: DevicePatch,
    now: DateTime<Utc>,
) -> Result<Device> {
    check_id("deviceId", device_id, 128)?;
    check_id("appId", app_id, 64)?;
    let name = check_label("deviceName", patch.device_name, 100)?;
    let kind = check_label("deviceType", patch.device_type, 32)?;
    let settings = check_patch(patch.settings.unwrap_or_else(|| json!({})))?;
    let known = store::device_exists(tx, user_id, device_id)?;
    if !known && store::device_count(tx, user_id)? >= MAX_DEVICES {
        return Err(ApiError::validation(format!(
            "at most {MAX_DEVICES} devices per user; remove one first"
        )));
    }
    let stored = store::device_app(tx, user_id, device_id, app_id)?;
    if stored.is_none() && store::device_app_count(tx, user_id, device_id)? >= MAX_APPS {
        return Err(ApiError::validation(format!(
            "at most {MAX_APPS} apps per device; remove one first"
        )));
    }
    let (_, text) = apply(stored, settings)?;
    check_quota(tx, user_id, store::Doc::DeviceApp(device_id, app_id), &text)?;
    let at = iso(now);
    store::upsert_device(
        tx,
        user_id,
        device_id,
        name.as_deref(),
        kind.as_deref(),
        &at,
    )?;
    store::put_device_app(tx, user_id, device_id, app_id, &text, &at)?;
    devices(tx, user_id)?
        .into_iter()
        .find(|d| d.device_id == device_id)
        .ok_or_else(|| ApiError::internal("device vanished"))
}

/// Forgets a device and its settings; false when unknown.
pub fn delete_device(tx: &Tx, user_id: &str, device_id: &str) -> Result<bool> {
    check_id("deviceId", device_id, 128)?;
    store::delete_device(tx, user_id, device_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: Value, patch: Value) -> Value {
        let mut b = base.as_object().unwrap().clone();
        merge(&mut b, patch.as_object().unwrap().clone());
        Value::Object(b)
    }

    #[test]
    fn objects_merge_arrays_and_scalars_replace_null_deletes() {
        let base = json!({"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "s": "x", "k": 1});
        let patch = json!({"a": {"c": {"e": 3}}, "l": [3], "s": {"now": "obj"}, "k": null, "n": {"x": null}});
        assert_eq!(
            merged(base, patch),
            json!({"a": {"b": 1, "c": {"d": 2, "e": 3}}, "l": [3], "s": {"now": "obj"}, "n": {}})
        );
    }

    #[test]
    fn patches_must_be_shallow_objects() {
        assert!(check_patch(json!([1])).is_err());
        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!({ "x": deep });
        }
        assert!(check_patch(deep).is_err());
        assert!(check_id("appId", "todo.app-1", 64).is_ok());
        assert!(check_id("appId", "../x y", 64).is_err());
    }
}
