//! Read-only listings for the admin page: spaces with member counts, a
//! space's members, the sync change log, security events and the mail
//! outbox. All paginated, newest first.

use rusqlite::{params, Connection, Row};
use serde_json::{json, Value};

use super::{users::like_pattern, Paging};
use crate::email;
use crate::error::{ApiError, Result};
use crate::spaces::model::{Space, SPACE_COLUMNS};
use crate::vault::Kek;

fn json_col(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

super::page!(
    SpacesPage,
    spaces,
    Value,
    Vec<Object>,
    "A page of spaces: each space with `type`, `personalOf` and `memberCount`."
);
super::page!(
    ChangesPage,
    changes,
    Value,
    Vec<Object>,
    "A page of the sync change log."
);
super::page!(
    EventsPage,
    events,
    Value,
    Vec<Object>,
    "A page of security events, with the user's email."
);
super::page!(
    MailPage,
    mail,
    Value,
    Vec<Object>,
    "A page of the mail outbox (links redacted)."
);

/// One space in detail.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SpaceDetail {
    pub invitations: Vec<crate::spaces::Invitation>,
    pub members: Vec<crate::spaces::Member>,
    pub space: Space,
}

/// Spaces (optionally matching `search` in name or slug) with member counts.
pub fn spaces(conn: &Connection, search: Option<String>, paging: Paging) -> Result<SpacesPage> {
    let pattern = search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(|s| like_pattern(&s));
    let filter = "(?1 IS NULL OR s.name LIKE ?1 ESCAPE '\\' OR s.slug LIKE ?1 ESCAPE '\\')";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM spaces s WHERE {filter}"))?
        .query_row(params![pattern], |r| r.get(0))?;
    let sql = format!(
        "SELECT {SPACE_COLUMNS}, s.personal_of, \
         (SELECT count(*) FROM space_members m WHERE m.space_id = s.id) \
         FROM spaces s WHERE {filter} ORDER BY s.created_at DESC, s.id LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![pattern, paging.limit, paging.offset()], |r| {
            let space = Space::from_row(r)?;
            let personal_of: Option<String> = r.get(7)?;
            let members: i64 = r.get(8)?;
            let mut v = json!(space);
            v["type"] = json!(space.kind());
            v["personalOf"] = json!(personal_of);
            v["memberCount"] = json!(members);
            Ok(v)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(SpacesPage {
        spaces: rows,
        meta: paging.meta(total),
    })
}

/// One space with its members and invitations.
pub fn space(conn: &Connection, space_id: &str) -> Result<SpaceDetail> {
    let space =
        crate::spaces::store::space(conn, space_id)?.ok_or_else(|| ApiError::not_found("space"))?;
    let members = crate::spaces::store::members(conn, space_id)?;
    let invitations = crate::spaces::store::invitations(conn, space_id)?;
    Ok(SpaceDetail {
        invitations,
        members,
        space,
    })
}

/// Filters of the change-log browser.
pub struct ChangeFilter {
    pub user_id: Option<String>,
    pub space_id: Option<String>,
}

fn change_row(r: &Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "appId": r.get::<_, String>(1)?,
        "tableName": r.get::<_, String>(2)?,
        "recordId": r.get::<_, String>(3)?,
        "userId": r.get::<_, String>(4)?,
        "spaceId": r.get::<_, Option<String>>(5)?,
        "op": r.get::<_, String>(6)?,
        "data": json_col(r.get(7)?),
        "fieldMeta": json_col(r.get(8)?),
        "clientId": r.get::<_, String>(9)?,
        "createdAt": r.get::<_, String>(10)?,
        "schemaVersion": r.get::<_, i64>(11)?,
        "actor": json_col(r.get(12)?),
        "origin": r.get::<_, Option<String>>(13)?,
    }))
}

/// `sync_changes` rows by writer and/or space, newest first.
pub fn sync_changes(
    conn: &Connection,
    filter: ChangeFilter,
    paging: Paging,
) -> Result<ChangesPage> {
    let user = filter.user_id.filter(|s| !s.is_empty());
    let space = filter.space_id.filter(|s| !s.is_empty());
    let cond = "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR space_id = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM sync_changes WHERE {cond}"))?
        .query_row(params![user, space], |r| r.get(0))?;
    let sql = format!(
        "SELECT id, app_id, table_name, record_id, user_id, space_id, op, data, field_meta, \
         client_id, created_at, schema_version, actor, origin FROM sync_changes WHERE {cond} \
         ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![user, space, paging.limit, paging.offset()],
            change_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ChangesPage {
        changes: rows,
        meta: paging.meta(total),
    })
}

/// Filters of the security event list.
pub struct EventFilter {
    pub event_type: Option<String>,
    pub user_id: Option<String>,
}

/// Security events by type and/or user, newest first.
pub fn events(conn: &Connection, filter: EventFilter, paging: Paging) -> Result<EventsPage> {
    let kind = filter
        .event_type
        .map(|t| t.trim().to_ascii_uppercase())
        .filter(|t| !t.is_empty());
    if kind
        .as_ref()
        .is_some_and(|t| t.len() > 64 || !t.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
    {
        return Err(ApiError::validation(
            "type must be an event name like LOGIN_SUCCESS",
        ));
    }
    let user = filter.user_id.filter(|s| !s.is_empty());
    let cond = "(?1 IS NULL OR e.event_type = ?1) AND (?2 IS NULL OR e.user_id = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM security_events e WHERE {cond}"
        ))?
        .query_row(params![kind, user], |r| r.get(0))?;
    let sql = format!(
        "SELECT e.id, e.user_id, u.email, e.event_type, e.ip, e.user_agent, e.metadata, e.created_at \
         FROM security_events e LEFT JOIN users u ON u.id = e.user_id WHERE {cond} \
         ORDER BY e.created_at DESC, e.rowid DESC LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![kind, user, paging.limit, paging.offset()], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "userId": r.get::<_, Option<String>>(1)?,
                "userEmail": r.get::<_, Option<String>>(2)?,
                "eventType": r.get::<_, String>(3)?,
                "ipAddress": r.get::<_, Option<String>>(4)?,
                "userAgent": r.get::<_, Option<String>>(5)?,
                "metadata": json_col(r.get(6)?),
                "createdAt": r.get::<_, String>(7)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(EventsPage {
        events: rows,
        meta: paging.meta(total),
    })
}

const OUTBOX_STATUSES: &[&str] = &["pending", "sent", "logged", "failed"];

/// Outbox mail (optionally by status), newest first, with send state and
/// the last error. The text body is shown with every `token=` value
/// redacted, whatever the row's state (the mail may still be waiting with a
/// live link; a sealed body is opened first): the admin sees what was sent,
/// never a link that works. Developers find the links of mail kept without
/// SMTP in the log (`MAIL_LOG_LINKS`).
pub fn outbox(
    conn: &Connection,
    kek: Option<&Kek>,
    status: Option<String>,
    paging: Paging,
) -> Result<MailPage> {
    let status = status.filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !OUTBOX_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::validation(format!(
                "status must be one of {}",
                OUTBOX_STATUSES.join(", ")
            )));
        }
    }
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM mail_outbox WHERE ?1 IS NULL OR status = ?1")?
        .query_row(params![status], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, user_id, to_address, subject, text_body, status, attempts, last_error, \
         next_attempt_at, created_at, sent_at, kek_id FROM mail_outbox WHERE ?1 IS NULL OR status = ?1 \
         ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt
        .query_map(params![status, paging.limit, paging.offset()], |r| {
            let id: String = r.get(0)?;
            let stored: String = r.get(5)?;
            let kek_id: Option<String> = r.get(12)?;
            let opened =
                email::at_rest::open_body(kek, &id, "text_body", &stored, kek_id.as_deref());
            let text = match opened {
                Ok(text) => email::at_rest::redact(&text),
                Err(_) => "(sealed under another MANA_AUTH_KEK)".to_owned(),
            };
            Ok(json!({
                "id": id,
                "kind": r.get::<_, String>(1)?,
                "userId": r.get::<_, Option<String>>(2)?,
                "to": r.get::<_, String>(3)?,
                "subject": r.get::<_, String>(4)?,
                "textBody": text,
                "status": r.get::<_, String>(6)?,
                "attempts": r.get::<_, i64>(7)?,
                "lastError": r.get::<_, Option<String>>(8)?,
                "nextAttemptAt": r.get::<_, String>(9)?,
                "createdAt": r.get::<_, String>(10)?,
                "sentAt": r.get::<_, Option<String>>(11)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(MailPage {
        mail: rows,
        meta: paging.meta(total),
    })
}
