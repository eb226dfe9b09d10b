//! Schema versioning with `PRAGMA user_version`. A new file gets `schema.sql`
//! (the whole current schema); an older file runs the ordered steps in
//! `migrations/`, each in its own transaction; a newer file is refused.

use rusqlite::{Connection, TransactionBehavior};

/// The current schema, applied to a new database file.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Ordered upgrade steps: (version reached, SQL). Step 1 is the first schema.
pub const STEPS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_foundation.sql")),
    (2, include_str!("../../migrations/0002_spaces.sql")),
    (3, include_str!("../../migrations/0003_mail.sql")),
    (4, include_str!("../../migrations/0004_self_service.sql")),
    (5, include_str!("../../migrations/0005_admin.sql")),
    (6, include_str!("../../migrations/0006_two_factor.sql")),
    (7, include_str!("../../migrations/0007_passkeys.sql")),
    (8, include_str!("../../migrations/0008_active_space.sql")),
    (
        9,
        include_str!("../../migrations/0009_scrypt_passwords.sql"),
    ),
    (
        10,
        include_str!("../../migrations/0010_vault_recovery_set_at.sql"),
    ),
    (11, include_str!("../../migrations/0011_mission_grant.sql")),
    (
        12,
        include_str!("../../migrations/0012_secrets_at_rest.sql"),
    ),
    (13, include_str!("../../migrations/0013_invite_limits.sql")),
    (14, include_str!("../../migrations/0014_personas.sql")),
    (
        15,
        include_str!("../../migrations/0015_rotating_refresh_tokens.sql"),
    ),
    (16, include_str!("../../migrations/0016_server_secrets.sql")),
    (17, include_str!("../../migrations/0017_links.sql")),
    (18, include_str!("../../migrations/0018_retention.sql")),
    (
        19,
        include_str!("../../migrations/0019_lockout_per_client.sql"),
    ),
    (
        20,
        include_str!("../../migrations/0020_two_factor_secret_length.sql"),
    ),
    (
        21,
        include_str!("../../migrations/0021_credential_epoch.sql"),
    ),
    (22, include_str!("../../migrations/0022_outbox_at_rest.sql")),
    (23, include_str!("../../migrations/0023_user_counts.sql")),
    (
        24,
        include_str!("../../migrations/0024_session_tokens_pruning.sql"),
    ),
];

/// The schema version this binary writes.
pub const LATEST: i64 = STEPS[STEPS.len() - 1].0;

/// Brings the database to `LATEST`; returns the version found before.
pub fn migrate(conn: &mut Connection) -> Result<i64, String> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if found > LATEST {
        return Err(format!(
            "schema version {found} is newer than this binary knows ({LATEST}); \
             upgrade mana-auth instead of downgrading"
        ));
    }
    if found == LATEST {
        return Ok(found);
    }
    if found == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if tables > 0 {
            return Err(
                "file has tables but no mana-auth schema version; refusing to touch it".into(),
            );
        }
        apply(conn, SCHEMA, LATEST)?;
        return Ok(0);
    }
    for (version, sql) in STEPS.iter().filter(|(v, _)| *v > found) {
        apply(conn, sql, *version)?;
    }
    Ok(found)
}

/// Runs one step in its own immediate transaction, version bump included.
pub fn apply(conn: &mut Connection, sql: &str, version: i64) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    tx.execute_batch(sql)
        .map_err(|e| format!("schema step {version}: {e}"))?;
    tx.pragma_update(None, "user_version", version)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables, columns and indexes in a comparable form.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (kind, name, table) in rows {
            out.push(format!("{kind} {name} on {table}"));
            let pragma = if kind == "table" {
                "table_xinfo"
            } else {
                "index_xinfo"
            };
            let mut cols = conn.prepare(&format!("PRAGMA {pragma}('{name}')")).unwrap();
            let n = cols.column_count();
            let described: Vec<String> = cols
                .query_map([], |r| {
                    let mut parts = Vec::new();
                    for i in 0..n {
                        let v: rusqlite::types::Value = r.get(i)?;
                        parts.push(format!("{v:?}"));
                    }
                    Ok(parts.join(","))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.extend(described.into_iter().map(|d| format!("  {d}")));
        }
        out
    }

    #[test]
    fn fresh_schema_equals_stepwise_upgrade() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        let mut stepped = Connection::open_in_memory().unwrap();
        apply(&mut stepped, STEPS[0].1, STEPS[0].0).unwrap();
        migrate(&mut stepped).unwrap();
        assert_eq!(shape(&fresh), shape(&stepped));
        let v: i64 = stepped
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
    }

    #[test]
    fn older_file_is_upgraded_in_place_without_losing_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, STEPS[0].1, 1).unwrap();
        conn.execute(
            "INSERT INTO users (id, email, created_at, updated_at) VALUES ('u1', 'a@b.de', 't', 't')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 1);
        let email: String = conn
            .query_row("SELECT email FROM users WHERE id = 'u1'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(email, "a@b.de");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
        conn.execute("SELECT count(*) FROM sync_changes", []).ok();
    }

    #[test]
    fn newer_file_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        assert!(migrate(&mut conn).unwrap_err().contains("newer"));
    }
}
