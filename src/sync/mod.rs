//! The `sync_changes` change log: the bootstrap singletons every client must
//! find on its first pull, and a read-only pull.
//!
//! Exactly once, by the database: each bootstrap insert is a single
//! `INSERT … SELECT … WHERE NOT EXISTS (any row for that scope) ON CONFLICT
//! DO NOTHING` inside the caller's `BEGIN IMMEDIATE` transaction, and partial
//! unique indexes over the `system:bootstrap` rows back it up. `changes()`
//! tells whether this call wrote the row.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::iso;
use crate::db::Tx;
use crate::error::Result;

/// `client_id` of bootstrap rows.
pub const BOOTSTRAP_CLIENT: &str = "system:bootstrap";

fn actor() -> Value {
    json!({ "kind": "system", "principalId": BOOTSTRAP_CLIENT, "displayName": "Bootstrap" })
}

/// Every data key except `id`, mapped to the same timestamp.
fn field_meta(data: &Value, at: &str) -> Value {
    let map: Map<String, Value> = data
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| *k != "id")
                .map(|k| (k.clone(), Value::String(at.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(map)
}

/// The initial `userContext` record of a user.
pub fn user_context_data(user_id: &str) -> Value {
    json!({
        "id": "singleton",
        "about": {},
        "interests": [],
        "routine": {},
        "nutrition": {},
        "leisure": {},
        "goals": [],
        "social": {},
        "freeform": "",
        "interview": { "answeredIds": [], "skippedIds": [] },
        "userId": user_id,
    })
}

/// Writes the user's `userContext` singleton unless any such row exists.
/// Returns true when this call wrote it.
pub fn bootstrap_user_context(tx: &Tx, user_id: &str, now: DateTime<Utc>) -> Result<bool> {
    let at = iso(now);
    let data = user_context_data(user_id);
    let written = tx
        .prepare_cached(
            "INSERT INTO sync_changes (id, app_id, table_name, record_id, user_id, space_id, op, data, \
             field_meta, client_id, created_at, schema_version, actor, origin) \
             SELECT ?1, 'profile', 'userContext', 'singleton', ?2, NULL, 'insert', ?3, ?4, ?5, ?6, 1, ?7, 'system' \
             WHERE NOT EXISTS (SELECT 1 FROM sync_changes WHERE user_id = ?2 \
                               AND table_name = 'userContext' AND record_id = 'singleton') \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            uuid::Uuid::new_v4().to_string(),
            user_id,
            data.to_string(),
            field_meta(&data, &at).to_string(),
            BOOTSTRAP_CLIENT,
            at,
            actor().to_string()
        ])?;
    Ok(written == 1)
}

/// Writes the space's `kontextDoc` unless any `kontextDoc` row exists for the
/// space, whoever wrote it. Returns true when this call wrote it.
pub fn bootstrap_kontext_doc(
    tx: &Tx,
    space_id: &str,
    writer: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let at = iso(now);
    let record_id = uuid::Uuid::new_v4().to_string();
    let data = json!({ "id": record_id, "content": "" });
    let written = tx
        .prepare_cached(
            "INSERT INTO sync_changes (id, app_id, table_name, record_id, user_id, space_id, op, data, \
             field_meta, client_id, created_at, schema_version, actor, origin) \
             SELECT ?1, 'kontext', 'kontextDoc', ?2, ?3, ?4, 'insert', ?5, ?6, ?7, ?8, 1, ?9, 'system' \
             WHERE NOT EXISTS (SELECT 1 FROM sync_changes WHERE space_id = ?4 AND table_name = 'kontextDoc') \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            uuid::Uuid::new_v4().to_string(),
            record_id,
            writer,
            space_id,
            data.to_string(),
            field_meta(&data, &at).to_string(),
            BOOTSTRAP_CLIENT,
            at,
            actor().to_string()
        ])?;
    Ok(written == 1)
}

/// What a reconcile must still write for a user: whether the userContext is
/// missing, and each membership with whether its kontextDoc is missing.
pub fn missing(conn: &Connection, user_id: &str) -> Result<(bool, Vec<(String, bool)>)> {
    let has_context = conn
        .prepare_cached(
            "SELECT 1 FROM sync_changes WHERE user_id = ?1 AND table_name = 'userContext' AND record_id = 'singleton' LIMIT 1",
        )?
        .query_row([user_id], |_| Ok(()))
        .optional()?
        .is_some();
    let mut stmt = conn.prepare_cached(
        "SELECT m.space_id, NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.space_id = m.space_id \
         AND c.table_name = 'kontextDoc') FROM space_members m WHERE m.user_id = ?1 ORDER BY m.created_at, m.space_id",
    )?;
    let spaces = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((!has_context, spaces))
}

/// True when the user is a member of the space (checked inside the write).
pub fn is_member(conn: &Connection, space_id: &str, user_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM space_members WHERE space_id = ?1 AND user_id = ?2")?
        .query_row([space_id, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// One change as a client pulls it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub event_id: String,
    pub schema_version: i64,
    pub table: String,
    pub id: String,
    pub op: String,
    pub data: Value,
    pub space_id: Option<String>,
    pub actor: Value,
    pub origin: Option<String>,
    #[serde(skip)]
    pub created_at: String,
}

/// A page of a pull.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullPage {
    pub changes: Vec<Change>,
    /// Timestamp to pass as `since` next time (`null` when nothing came).
    pub synced_until: Option<String>,
    pub has_more: bool,
}

fn change_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    let parse = |s: Option<String>| {
        s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    };
    Ok(Change {
        event_id: r.get(0)?,
        schema_version: r.get(1)?,
        table: r.get(2)?,
        id: r.get(3)?,
        op: r.get(4)?,
        data: parse(r.get(5)?),
        space_id: r.get(6)?,
        actor: parse(r.get(7)?),
        origin: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// The rows visible to user ?3 of app ?1 (of collection ?2 unless it is
/// NULL) whose `created_at` compares with ?4 by `at`.
fn visible(at: &str) -> String {
    const COLS: &str = "c.id, c.schema_version, c.table_name, c.record_id, c.op, c.data, c.space_id, c.actor, c.origin, c.created_at, c.rowid AS rid";
    format!(
        "SELECT {COLS} FROM sync_changes c \
          WHERE c.user_id = ?3 AND c.app_id = ?1 AND c.space_id IS NULL \
            AND (?2 IS NULL OR c.table_name = ?2) AND c.created_at {at} ?4 \
         UNION ALL \
         SELECT {COLS} FROM space_members m CROSS JOIN sync_changes c ON c.space_id = m.space_id \
          WHERE m.user_id = ?3 AND c.app_id = ?1 \
            AND (?2 IS NULL OR c.table_name = ?2) AND c.created_at {at} ?4"
    )
}

/// A page of `limit` rows and one more. The limit is written into the
/// text (a number ≤ 1001: one cached statement per limit in use), never
/// bound: SQLite recompiles a statement on every use once a bound value
/// could change its plan, as a LIMIT's does, and that compile cost more
/// than an up-to-date pull itself.
fn page_sql(limit: u32) -> String {
    format!(
        "{} ORDER BY created_at, rid LIMIT {}",
        visible(">"),
        u64::from(limit) + 1
    )
}

/// Rows of `app_id` (optionally one collection) visible to the user, newer
/// than `since`, oldest first. Visible: the user's own rows outside any
/// space, and rows of spaces the user is a member of — never other spaces.
/// A page never splits rows that share a timestamp, so `since` is safe.
pub fn pull(
    conn: &Connection,
    user_id: &str,
    app_id: &str,
    collection: Option<&str>,
    since: &str,
    limit: u32,
) -> Result<PullPage> {
    // Two index-driven halves instead of one OR (which made SQLite walk
    // every change of the app, all users' included): the user's own rows
    // outside any space (`sync_changes_user_app`), and the rows of each
    // space the user is a member of (`sync_changes_space`). An up-to-date
    // client then costs two index probes, whatever the file holds (CROSS
    // JOIN keeps the memberships first: without statistics the planner
    // would otherwise walk the app index).
    let sql = page_sql(limit);
    let mut rows = conn
        .prepare_cached(&sql)?
        .query_map(params![app_id, collection, user_id, since], change_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = rows.len() > limit as usize;
    if has_more {
        let extra = rows.pop();
        let last = rows.last().map(|c| c.created_at.clone());
        // The page boundary falls inside a run of equal timestamps: take the
        // whole run so that `since = last` skips nothing.
        if let (Some(extra), Some(last)) = (extra, last) {
            if extra.created_at == last {
                let seen: std::collections::HashSet<String> =
                    rows.iter().map(|c| c.event_id.clone()).collect();
                let tie_sql = format!("{} ORDER BY rid", visible("="));
                let ties = conn
                    .prepare_cached(&tie_sql)?
                    .query_map(params![app_id, collection, user_id, last], change_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.extend(ties.into_iter().filter(|c| !seen.contains(&c.event_id)));
            }
        }
    }
    let synced_until = rows.last().map(|c| c.created_at.clone());
    Ok(PullPage {
        changes: rows,
        synced_until,
        has_more,
    })
}

/// What `reconcile` did: true where this call wrote the row.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    pub user_context: bool,
    pub spaces: std::collections::BTreeMap<String, bool>,
    /// Spaces whose row could not be written, with the error code.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub errors: std::collections::BTreeMap<String, &'static str>,
}

/// Provisions the user's `userContext` and the `kontextDoc` of every space
/// they are a member of. A read answers the common case (all present) with
/// no write at all; each missing row is then written in its own transaction
/// that re-checks existence and membership, so one failing space does not
/// abort the others and concurrent callers never write a second row.
pub async fn reconcile(db: &crate::db::Db, user_id: String) -> Result<Reconciled> {
    let uid = user_id.clone();
    let (context_missing, spaces) = db.read(move |c| missing(c, &uid)).await?;
    let mut out = Reconciled::default();
    if context_missing {
        let uid = user_id.clone();
        out.user_context = db
            .write(move |tx, now| bootstrap_user_context(tx, &uid, now))
            .await?;
    }
    for (space_id, doc_missing) in spaces {
        if !doc_missing {
            out.spaces.insert(space_id, false);
            continue;
        }
        let (uid, sid) = (user_id.clone(), space_id.clone());
        let written = db
            .write(move |tx, now| {
                if !is_member(tx, &sid, &uid)? {
                    return Ok(false);
                }
                bootstrap_kontext_doc(tx, &sid, &uid, now)
            })
            .await;
        match written {
            Ok(w) => {
                out.spaces.insert(space_id, w);
            }
            Err(e) => {
                tracing::warn!(space = %space_id, error = %e, "kontextDoc bootstrap failed");
                out.errors.insert(space_id.clone(), e.code.as_str());
                out.spaces.insert(space_id, false);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_pull_reuses_its_compiled_statements() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(
            &dir.path().join("pull.db"),
            crate::config::Synchronous::Full,
        )
        .unwrap();
        db.read_blocking(|c| {
            for (since, only) in [("", None), ("2026-01-01T00:00:00.000Z", None), ("x", None)] {
                pull(c, "u1", "kontext", only, since, 500)?;
            }
            for (since, only) in [("", Some("a")), ("y", Some("b"))] {
                pull(c, "u1", "kontext", only, since, 500)?;
            }
            let stmt = c.prepare_cached(&page_sql(500))?;
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn field_meta_covers_every_key_but_id() {
        let data = user_context_data("u1");
        let meta = field_meta(&data, "T");
        let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), data.as_object().unwrap().len() - 1);
        assert!(meta.get("id").is_none());
        assert!(meta.as_object().unwrap().values().all(|v| v == "T"));
    }
}
