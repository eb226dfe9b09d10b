//! Schema versioning with `PRAGMA user_version`. The ordered steps in
//! `migrations/` are the one source of the schema: a new file runs them all
//! in one transaction, an older file runs the steps it lacks (each in its own
//! transaction), a newer file is refused. `schema.sql` at the top of the
//! repository is the schema they produce, written out for people to read and
//! regenerated from them (see `tests::schema_sql_is_the_migrated_schema`).

use rusqlite::{Connection, TransactionBehavior};

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
        apply_all(conn, STEPS)?;
        return Ok(0);
    }
    for (version, sql) in STEPS.iter().filter(|(v, _)| *v > found) {
        apply(conn, sql, *version)?;
    }
    Ok(found)
}

/// Runs every step in one immediate transaction (a new file: one commit,
/// all or nothing), ending at the last step's version.
fn apply_all(conn: &mut Connection, steps: &[(i64, &str)]) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    for (version, sql) in steps {
        tx.execute_batch(sql)
            .map_err(|e| format!("schema step {version}: {e}"))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
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

    /// `schema.sql`: the schema a migrated file holds, as SQLite stores it
    /// (`sqlite_master`), each table followed by its indexes and triggers,
    /// in the order the migrations made them.
    fn schema_text(conn: &Connection) -> String {
        let objects: Vec<(String, String, String)> = conn
            .prepare(
                "SELECT type, tbl_name, sql FROM sqlite_master \
                 WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = String::from(SCHEMA_HEADER);
        for (_, table, sql) in objects.iter().filter(|(k, _, _)| k == "table") {
            out.push('\n');
            out.push_str(sql);
            out.push_str(";\n");
            for (_, _, sql) in objects
                .iter()
                .filter(|(k, t, _)| k != "table" && t == table)
            {
                out.push_str(sql);
                out.push_str(";\n");
            }
        }
        out
    }

    const SCHEMA_HEADER: &str = "\
-- mana-auth: the whole current schema, as a database file migrated to the
-- newest version holds it. GENERATED from migrations/ (the one source; see
-- src/db/migrate.rs) -- do not edit by hand. After adding a migration run
--
--   UPDATE_SCHEMA=1 cargo nextest run -E 'test(schema_sql_is_the_migrated_schema)'
--
-- and commit the result; without UPDATE_SCHEMA that test fails while this
-- file differs by one byte from what the migrations produce.
--
-- Conventions: STRICT tables; ids are UUID strings; timestamps are UTC
-- ISO-8601 strings with milliseconds (\"2026-11-25T10:00:00.000Z\"), so string
-- order is time order; booleans are INTEGER 0/1 with a CHECK.
";

    #[test]
    fn schema_sql_is_the_migrated_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let generated = schema_text(&conn);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql");
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            committed == generated,
            "schema.sql differs from the migrated schema; regenerate it with \
             UPDATE_SCHEMA=1 cargo nextest run -E 'test(schema_sql_is_the_migrated_schema)'"
        );
        // It is a runnable schema too: run on an empty file it makes the same.
        let replayed = Connection::open_in_memory().unwrap();
        replayed.execute_batch(&committed).unwrap();
        assert_eq!(schema_text(&replayed), generated);
    }

    #[test]
    fn fresh_schema_equals_stepwise_upgrade() {
        let mut fresh = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut fresh).unwrap(), 0);
        let mut stepped = Connection::open_in_memory().unwrap();
        apply(&mut stepped, STEPS[0].1, STEPS[0].0).unwrap();
        assert_eq!(migrate(&mut stepped).unwrap(), 1);
        assert_eq!(shape(&fresh), shape(&stepped));
        assert_eq!(schema_text(&fresh), schema_text(&stepped));
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
