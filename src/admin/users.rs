//! The user list (search, tier filter, paging) and one user's detail.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{lock_of, target, Paging};
use crate::auth::session;
use crate::error::{ApiError, Result};
use crate::users::model::{COLUMNS, TIERS};
use crate::users::User;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Filters of the user list.
pub struct UserFilter {
    pub search: Option<String>,
    pub tier: Option<String>,
}

super::page!(
    UsersPage,
    users,
    ListedUser,
    Vec<ListedUser>,
    "A page of users."
);

/// A user in the admin's list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ListedUser {
    #[serde(flatten)]
    pub user: User,
    /// Whether an admin lock is on.
    pub locked: bool,
}

/// A user in detail, for the admin.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDetail {
    pub has_password: bool,
    /// `null` when not locked.
    #[schema(required = true)]
    pub lock: Option<crate::users::Lock>,
    #[schema(value_type = Vec<Object>)]
    pub passkeys: Vec<crate::passkeys::store::PasskeyInfo>,
    pub recent_events: Vec<crate::audit::EventRow>,
    pub sessions: Vec<session::Session>,
    pub spaces: Vec<crate::spaces::MySpace>,
    pub user: User,
}

/// One page of users, newest first, with the total count of matches.
pub fn list(conn: &Connection, filter: UserFilter, paging: Paging) -> Result<UsersPage> {
    let search = filter
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::validation(
            "search must be at most 200 characters",
        ));
    }
    let tier = filter.tier.filter(|t| !t.is_empty());
    if let Some(t) = &tier {
        if !TIERS.contains(&t.as_str()) {
            return Err(ApiError::validation(format!(
                "tier must be one of {}",
                TIERS.join(", ")
            )));
        }
    }
    let pattern = search.as_deref().map(like_pattern);
    let filter_sql = "deleted_at IS NULL \
        AND (?1 IS NULL OR email LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\') \
        AND (?2 IS NULL OR access_tier = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM users WHERE {filter_sql}"))?
        .query_row(params![pattern, tier], |r| r.get(0))?;
    let sql = format!(
        "SELECT {COLUMNS}, EXISTS (SELECT 1 FROM user_locks l WHERE l.user_id = users.id) \
         FROM users WHERE {filter_sql} ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let users = stmt
        .query_map(params![pattern, tier, paging.limit, paging.offset()], |r| {
            let user = User::from_row(r)?;
            let locked: bool = r.get(12)?;
            Ok((user, locked))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(user, locked)| ListedUser { user, locked })
        .collect::<Vec<_>>();
    Ok(UsersPage {
        users,
        meta: paging.meta(total),
    })
}

/// Profile, lock, live sessions, passkeys, spaces and the 25 newest events
/// of a user.
pub fn detail(conn: &Connection, user_id: &str, now: DateTime<Utc>) -> Result<UserDetail> {
    let user = target(conn, user_id)?;
    let has_password = crate::users::store::password_hash(conn, user_id)?.is_some();
    Ok(UserDetail {
        has_password,
        lock: lock_of(conn, user_id)?,
        passkeys: crate::passkeys::store::list(conn, user_id)?,
        recent_events: crate::audit::recent(conn, user_id, 25)?,
        sessions: session::list(conn, user_id, now)?,
        spaces: crate::spaces::store::spaces_of(conn, user_id)?,
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(like_pattern("anna"), "%anna%");
    }
}
