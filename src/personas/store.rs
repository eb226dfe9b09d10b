//! SQL for personas, their actions and their feedback. Rows are mapped to
//! the original service's field names here, in one place.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use super::feed::{Action, Rating};
use super::Spec;
use crate::clock::parse_iso;
use crate::db::Tx;
use crate::error::Result;

/// Marks the user a verified founder-tier persona.
pub fn stamp(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached(
        "UPDATE users SET kind = 'persona', access_tier = 'founder', email_verified = 1, updated_at = ?2 \
         WHERE id = ?1",
    )?
    .execute(params![user_id, now])?;
    Ok(())
}

/// Creates or replaces the descriptor of a persona.
pub fn upsert(tx: &Tx, user_id: &str, spec: &Spec, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO personas (user_id, archetype, system_prompt, module_mix, tick_cadence, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (user_id) DO UPDATE SET archetype = excluded.archetype, \
         system_prompt = excluded.system_prompt, module_mix = excluded.module_mix, \
         tick_cadence = excluded.tick_cadence",
    )?
    .execute(params![
        user_id,
        spec.archetype,
        spec.system_prompt,
        Value::Object(spec.module_mix.clone()).to_string(),
        spec.tick_cadence,
        now
    ])?;
    Ok(())
}

/// True when `user_id` has a persona descriptor.
pub fn exists(conn: &Connection, user_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM personas WHERE user_id = ?1")?
        .query_row([user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Marks the persona active now.
pub fn touch(tx: &Tx, user_id: &str, now: &str) -> Result<()> {
    tx.prepare_cached("UPDATE personas SET last_active_at = ?2 WHERE user_id = ?1")?
        .execute(params![user_id, now])?;
    Ok(())
}

fn mix(raw: String) -> Value {
    serde_json::from_str(&raw).unwrap_or_else(|_| json!({}))
}

/// The descriptor with the user's email and name (admin detail, export).
pub fn get(conn: &Connection, user_id: &str) -> Result<Option<Value>> {
    Ok(conn
        .prepare_cached(
            "SELECT p.user_id, u.email, u.name, p.archetype, p.system_prompt, p.module_mix, \
             p.tick_cadence, p.last_active_at, p.created_at \
             FROM personas p JOIN users u ON u.id = p.user_id WHERE p.user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(json!({
                "userId": r.get::<_, String>(0)?,
                "email": r.get::<_, String>(1)?,
                "name": r.get::<_, String>(2)?,
                "archetype": r.get::<_, String>(3)?,
                "systemPrompt": r.get::<_, String>(4)?,
                "moduleMix": mix(r.get(5)?),
                "tickCadence": r.get::<_, String>(6)?,
                "lastActiveAt": r.get::<_, Option<String>>(7)?,
                "createdAt": r.get::<_, String>(8)?,
            }))
        })
        .optional()?)
}

/// Every persona, newest first, with its actions since `since`.
pub fn list(conn: &Connection, since: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.user_id, u.email, u.name, p.archetype, p.tick_cadence, p.last_active_at, p.created_at, \
         (SELECT count(*) FROM persona_actions a WHERE a.persona_id = p.user_id AND a.created_at >= ?1) \
         FROM personas p JOIN users u ON u.id = p.user_id ORDER BY p.created_at DESC, p.user_id",
    )?;
    let rows = stmt
        .query_map([since], |r| {
            Ok(json!({
                "userId": r.get::<_, String>(0)?,
                "email": r.get::<_, String>(1)?,
                "name": r.get::<_, String>(2)?,
                "archetype": r.get::<_, String>(3)?,
                "tickCadence": r.get::<_, String>(4)?,
                "lastActiveAt": r.get::<_, Option<String>>(5)?,
                "createdAt": r.get::<_, String>(6)?,
                "actions7d": r.get::<_, i64>(7)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A persona the runner might act for, with its due-check inputs.
pub struct Candidate {
    pub tick_cadence: String,
    pub last_active: Option<DateTime<Utc>>,
    /// The row as `/due` sends it.
    pub wire: Value,
}

/// Personas whose user is neither deleted nor locked, never-active first,
/// then the longest idle.
pub fn candidates(conn: &Connection) -> Result<Vec<Candidate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.user_id, u.email, p.archetype, p.system_prompt, p.module_mix, p.tick_cadence, p.last_active_at \
         FROM personas p JOIN users u ON u.id = p.user_id \
         WHERE u.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM user_locks l WHERE l.user_id = p.user_id) \
         ORDER BY p.last_active_at IS NOT NULL, p.last_active_at, p.created_at, p.user_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            let cadence: String = r.get(5)?;
            let last: Option<String> = r.get(6)?;
            Ok(Candidate {
                tick_cadence: cadence.clone(),
                last_active: last.as_deref().and_then(parse_iso),
                wire: json!({
                    "userId": r.get::<_, String>(0)?,
                    "email": r.get::<_, String>(1)?,
                    "archetype": r.get::<_, String>(2)?,
                    "systemPrompt": r.get::<_, String>(3)?,
                    "moduleMix": mix(r.get(4)?),
                    "tickCadence": cadence,
                    "lastActiveAt": last,
                }),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Adds an action unless its id is already stored for this persona.
pub fn insert_action(tx: &Tx, persona_id: &str, a: &Action, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO persona_actions (persona_id, id, tick_id, tool_name, input_hash, result, error_message, \
         latency_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        persona_id,
        a.id,
        a.tick_id,
        a.tool_name,
        a.input_hash,
        a.result,
        a.error_message,
        a.latency_ms,
        now
    ])?;
    Ok(())
}

/// Adds a rating unless its id is already stored for this persona.
pub fn insert_rating(tx: &Tx, persona_id: &str, f: &Rating, now: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO persona_feedback (persona_id, id, tick_id, module, rating, notes, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        persona_id, f.id, f.tick_id, f.module, f.rating, f.notes, now
    ])?;
    Ok(())
}

fn action_row(r: &Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "personaId": r.get::<_, String>(1)?,
        "tickId": r.get::<_, String>(2)?,
        "toolName": r.get::<_, String>(3)?,
        "inputHash": r.get::<_, Option<String>>(4)?,
        "result": r.get::<_, String>(5)?,
        "errorMessage": r.get::<_, Option<String>>(6)?,
        "latencyMs": r.get::<_, Option<i64>>(7)?,
        "createdAt": r.get::<_, String>(8)?,
    }))
}

/// The latest `limit` actions of a persona, newest first.
pub fn recent_actions(conn: &Connection, persona_id: &str, limit: u32) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, persona_id, tick_id, tool_name, input_hash, result, error_message, latency_ms, created_at \
         FROM persona_actions WHERE persona_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![persona_id, limit], action_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The latest `limit` ratings of a persona, newest first.
pub fn recent_feedback(conn: &Connection, persona_id: &str, limit: u32) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, persona_id, tick_id, module, rating, notes, created_at FROM persona_feedback \
         WHERE persona_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![persona_id, limit], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "personaId": r.get::<_, String>(1)?,
                "tickId": r.get::<_, String>(2)?,
                "module": r.get::<_, String>(3)?,
                "rating": r.get::<_, i64>(4)?,
                "notes": r.get::<_, Option<String>>(5)?,
                "createdAt": r.get::<_, String>(6)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Average rating and number of ratings per module.
pub fn feedback_by_module(conn: &Connection, persona_id: &str) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT module, avg(rating), count(*) FROM persona_feedback WHERE persona_id = ?1 \
         GROUP BY module ORDER BY module",
    )?;
    let rows = stmt
        .query_map([persona_id], |r| {
            Ok(json!({
                "module": r.get::<_, String>(0)?,
                "avgRating": r.get::<_, f64>(1)?,
                "count": r.get::<_, i64>(2)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
