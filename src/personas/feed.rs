//! What the persona runner reports back: the tool calls of a tick
//! (actions) and the persona's 1–5 ratings per module (feedback). Both are
//! append-only and idempotent: a row's id is built from its natural key
//! (`<tickId>-<index>-<toolName>`, `<tickId>-<module>`), unique per persona,
//! so a retried batch adds nothing. Both mark the persona active.
//!
//! The checks and their messages are the original service's; a batch is
//! all or nothing. Free text (error messages, notes) is cut to
//! `MAX_NOTE_CHARS`; identifiers longer than `MAX_KEY_CHARS` fail the row.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::store;
use crate::clock::iso;
use crate::db::Tx;
use crate::error::{ApiError, Result};

/// Most actions in one batch.
pub const MAX_ACTIONS: usize = 500;
/// Most ratings in one batch.
pub const MAX_FEEDBACK: usize = 100;
/// Longest tick id, tool name, module or input hash, in characters.
pub const MAX_KEY_CHARS: usize = 255;
/// Error messages and notes are cut to this many characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// One action row as stored.
pub struct Action {
    pub id: String,
    pub tick_id: String,
    pub tool_name: String,
    pub input_hash: Option<String>,
    pub result: String,
    pub error_message: Option<String>,
    pub latency_ms: Option<i64>,
}

/// One rating as stored.
pub struct Rating {
    pub id: String,
    pub tick_id: String,
    pub module: String,
    pub rating: i64,
    pub notes: Option<String>,
}

fn key(row: &Map<String, Value>, field: &str) -> Option<String> {
    row.get(field)
        .and_then(Value::as_str)
        .filter(|s| s.chars().count() <= MAX_KEY_CHARS)
        .map(str::to_owned)
}

/// An optional string field: absent/null → `Some(None)`, a string →
/// `Some(Some(cut))`, anything else → `None` (invalid).
fn optional_text(row: &Map<String, Value>, field: &str, max: usize) -> Option<Option<String>> {
    match row.get(field) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.chars().take(max).collect())),
        Some(_) => None,
    }
}

/// Row ids as the original builds them, cut to 255 characters.
fn row_id(parts: &[&str]) -> String {
    parts.join("-").chars().take(255).collect()
}

fn action(index: usize, value: &Value) -> Option<Action> {
    let row = value.as_object()?;
    let tick_id = key(row, "tickId")?;
    let tool_name = key(row, "toolName")?;
    let result = row
        .get("result")
        .and_then(Value::as_str)
        .filter(|r| *r == "ok" || *r == "error")?
        .to_owned();
    let input_hash = optional_text(row, "inputHash", usize::MAX)?;
    if input_hash
        .as_ref()
        .is_some_and(|h| h.chars().count() > MAX_KEY_CHARS)
    {
        return None;
    }
    let error_message = optional_text(row, "errorMessage", MAX_NOTE_CHARS)?;
    let latency_ms = match row.get("latencyMs") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|ms| (0..=i64::from(i32::MAX)).contains(ms))?,
        ),
    };
    Some(Action {
        id: row_id(&[&tick_id, &index.to_string(), &tool_name]),
        tick_id,
        tool_name,
        input_hash,
        result,
        error_message,
        latency_ms,
    })
}

fn rating(value: &Value) -> Option<Rating> {
    let row = value.as_object()?;
    let tick_id = key(row, "tickId")?;
    let module = key(row, "module")?;
    let rating = row
        .get("rating")
        .and_then(Value::as_i64)
        .filter(|r| (1..=5).contains(r))?;
    let notes = optional_text(row, "notes", MAX_NOTE_CHARS)?;
    Some(Rating {
        id: row_id(&[&tick_id, &module]),
        tick_id,
        module,
        rating,
        notes,
    })
}

/// The batch array under `field`, checked for presence and size.
fn batch<'a>(body: Option<&'a Value>, field: &str, max: usize) -> Result<&'a Vec<Value>> {
    let Some(body) = body else {
        return Err(ApiError::validation("Invalid JSON"));
    };
    let rows = body
        .get(field)
        .and_then(Value::as_array)
        .filter(|rows| !rows.is_empty())
        .ok_or_else(|| ApiError::validation(format!("`{field}` array required")))?;
    if rows.len() > max {
        return Err(ApiError::validation(format!(
            "`{field}` batch size must be ≤ {max}"
        )));
    }
    Ok(rows)
}

fn require_persona(conn: &Connection, persona_id: &str) -> Result<()> {
    if store::exists(conn, persona_id)? {
        Ok(())
    } else {
        Err(ApiError::not_found("persona"))
    }
}

/// Appends a batch of tool calls (`body`: `None` when not JSON); returns
/// the batch size, as the original does.
pub fn record_actions(
    tx: &Tx,
    persona_id: &str,
    body: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<usize> {
    require_persona(tx, persona_id)?;
    let rows = batch(body, "actions", MAX_ACTIONS)?;
    let actions: Vec<Action> = rows
        .iter()
        .enumerate()
        .map(|(i, v)| action(i, v))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::validation("One or more action rows failed validation"))?;
    let at = iso(now);
    for a in &actions {
        store::insert_action(tx, persona_id, a, &at)?;
    }
    store::touch(tx, persona_id, &at)?;
    Ok(actions.len())
}

/// Appends a batch of ratings (`body`: `None` when not JSON); returns the
/// batch size, as the original does.
pub fn record_feedback(
    tx: &Tx,
    persona_id: &str,
    body: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<usize> {
    require_persona(tx, persona_id)?;
    let rows = batch(body, "feedback", MAX_FEEDBACK)?;
    let ratings: Vec<Rating> = rows
        .iter()
        .map(rating)
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::validation("One or more feedback rows failed validation"))?;
    let at = iso(now);
    for r in &ratings {
        store::insert_rating(tx, persona_id, r, &at)?;
    }
    store::touch(tx, persona_id, &at)?;
    Ok(ratings.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_checked_like_the_original() {
        let ok = json!({"tickId": "t1", "toolName": "todo.create", "result": "ok"});
        let a = action(3, &ok).unwrap();
        assert_eq!(a.id, "t1-3-todo.create");
        assert!(action(
            0,
            &json!({"tickId": "t1", "toolName": "x", "result": "maybe"})
        )
        .is_none());
        assert!(action(0, &json!({"tickId": 1, "toolName": "x", "result": "ok"})).is_none());
        assert!(action(
            0,
            &json!({"tickId": "t", "toolName": "x", "result": "ok", "latencyMs": -1})
        )
        .is_none());
        assert!(action(
            0,
            &json!({"tickId": "t", "toolName": "x", "result": "ok", "inputHash": 5})
        )
        .is_none());
        let long = action(0, &json!({"tickId": "t", "toolName": "x", "result": "error", "errorMessage": "e".repeat(9000)})).unwrap();
        assert_eq!(long.error_message.unwrap().len(), MAX_NOTE_CHARS);
        assert_eq!(
            rating(&json!({"tickId": "t", "module": "todo", "rating": 5}))
                .unwrap()
                .id,
            "t-todo"
        );
        for bad in [json!(0), json!(6), json!(2.5), json!("3")] {
            assert!(rating(&json!({"tickId": "t", "module": "todo", "rating": bad})).is_none());
        }
        assert_eq!(row_id(&[&"x".repeat(300), "1"]).chars().count(), 255);
    }

    #[test]
    fn batches_are_checked_like_the_original() {
        assert_eq!(
            batch(None, "actions", 5).unwrap_err().message,
            "Invalid JSON"
        );
        assert_eq!(
            batch(Some(&json!({"actions": []})), "actions", 5)
                .unwrap_err()
                .message,
            "`actions` array required"
        );
        assert_eq!(
            batch(Some(&json!({"feedback": [1, 2, 3]})), "feedback", 2)
                .unwrap_err()
                .message,
            "`feedback` batch size must be ≤ 2"
        );
    }
}
