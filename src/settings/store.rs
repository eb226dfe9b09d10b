//! SQL for settings documents and devices.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::Device;
use crate::db::Tx;
use crate::error::Result;

fn parse(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// The stored global settings (without defaults).
pub fn global(conn: &Connection, user_id: &str) -> Result<Option<Value>> {
    Ok(conn
        .prepare_cached("SELECT settings FROM user_settings WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get::<_, String>(0))
        .optional()?
        .map(parse))
}

/// Stores the global settings document.
pub fn put_global(tx: &Tx, user_id: &str, doc: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO user_settings (user_id, settings, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![user_id, doc, now])?;
    Ok(())
}

/// All app overrides as (appId, document), by app id.
pub fn apps(conn: &Connection, user_id: &str) -> Result<Vec<(String, Value)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT app_id, settings FROM user_app_settings WHERE user_id = ?1 ORDER BY app_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, parse(r.get(1)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One app override.
pub fn app(conn: &Connection, user_id: &str, app_id: &str) -> Result<Option<Value>> {
    Ok(conn
        .prepare_cached(
            "SELECT settings FROM user_app_settings WHERE user_id = ?1 AND app_id = ?2",
        )?
        .query_row([user_id, app_id], |r| r.get::<_, String>(0))
        .optional()?
        .map(parse))
}

/// Number of app overrides of a user.
pub fn app_count(conn: &Connection, user_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM user_app_settings WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))?)
}

/// Stores an app override.
pub fn put_app(tx: &Tx, user_id: &str, app_id: &str, doc: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO user_app_settings (user_id, app_id, settings, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user_id, app_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![user_id, app_id, doc, now])?;
    Ok(())
}

/// Deletes an app override; true when one existed.
pub fn delete_app(tx: &Tx, user_id: &str, app_id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM user_app_settings WHERE user_id = ?1 AND app_id = ?2")?
        .execute([user_id, app_id])?
        > 0)
}

/// Devices of a user, most recently seen first (apps left empty).
pub fn devices(conn: &Connection, user_id: &str) -> Result<Vec<Device>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device_id, coalesce(device_name, 'Unknown'), coalesce(device_type, 'desktop'), \
         created_at, last_seen FROM user_devices \
         WHERE user_id = ?1 ORDER BY last_seen DESC, device_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(Device {
                device_id: r.get(0)?,
                device_name: r.get(1)?,
                device_type: r.get(2)?,
                created_at: r.get(3)?,
                last_seen: r.get(4)?,
                app_count: 0,
                apps: Map::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every per-device app document of a user as (deviceId, appId, document).
pub fn device_apps(conn: &Connection, user_id: &str) -> Result<Vec<(String, String, Value)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device_id, app_id, settings FROM user_device_app_settings WHERE user_id = ?1 \
         ORDER BY device_id, app_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, parse(r.get(2)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// True when the device is known.
pub fn device_exists(conn: &Connection, user_id: &str, device_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM user_devices WHERE user_id = ?1 AND device_id = ?2")?
        .query_row([user_id, device_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Number of devices of a user.
pub fn device_count(conn: &Connection, user_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM user_devices WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))?)
}

/// Creates a device or updates it: last seen always, name and type when given.
pub fn upsert_device(
    tx: &Tx,
    user_id: &str,
    device_id: &str,
    name: Option<&str>,
    kind: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO user_devices (user_id, device_id, device_name, device_type, created_at, last_seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (user_id, device_id) DO UPDATE SET \
         device_name = coalesce(excluded.device_name, device_name), \
         device_type = coalesce(excluded.device_type, device_type), last_seen = excluded.last_seen",
    )?
    .execute(params![user_id, device_id, name, kind, now])?;
    Ok(())
}

/// One per-device app document.
pub fn device_app(
    conn: &Connection,
    user_id: &str,
    device_id: &str,
    app_id: &str,
) -> Result<Option<Value>> {
    Ok(conn
        .prepare_cached(
            "SELECT settings FROM user_device_app_settings WHERE user_id = ?1 AND device_id = ?2 AND app_id = ?3",
        )?
        .query_row([user_id, device_id, app_id], |r| r.get::<_, String>(0))
        .optional()?
        .map(parse))
}

/// Stores a per-device app document.
pub fn put_device_app(
    tx: &Tx,
    user_id: &str,
    device_id: &str,
    app_id: &str,
    doc: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO user_device_app_settings (user_id, device_id, app_id, settings, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, device_id, app_id) DO UPDATE SET \
         settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![user_id, device_id, app_id, doc, now])?;
    Ok(())
}

/// Deletes a device (its app documents cascade); true when it existed.
pub fn delete_device(tx: &Tx, user_id: &str, device_id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM user_devices WHERE user_id = ?1 AND device_id = ?2")?
        .execute([user_id, device_id])?
        > 0)
}

/// One settings document of a user.
#[derive(Clone, Copy)]
pub enum Doc<'a> {
    Global,
    App(&'a str),
    DeviceApp(&'a str, &'a str),
}

/// Bytes of all settings documents of a user except `doc`.
pub fn bytes_besides(conn: &Connection, user_id: &str, doc: Doc<'_>) -> Result<usize> {
    let (kind, device, app) = match doc {
        Doc::Global => ("global", "", ""),
        Doc::App(app) => ("app", "", app),
        Doc::DeviceApp(device, app) => ("device", device, app),
    };
    let bytes: i64 = conn
        .prepare_cached(
            "SELECT \
             (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_settings \
               WHERE user_id = ?1 AND ?2 <> 'global') + \
             (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_app_settings \
               WHERE user_id = ?1 AND NOT (?2 = 'app' AND app_id = ?4)) + \
             (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_device_app_settings \
               WHERE user_id = ?1 AND NOT (?2 = 'device' AND device_id = ?3 AND app_id = ?4))",
        )?
        .query_row(params![user_id, kind, device, app], |r| r.get(0))?;
    Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// Number of app documents on one device of a user.
pub fn device_app_count(conn: &Connection, user_id: &str, device_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM user_device_app_settings WHERE user_id = ?1 AND device_id = ?2",
        )?
        .query_row([user_id, device_id], |r| r.get(0))?)
}
