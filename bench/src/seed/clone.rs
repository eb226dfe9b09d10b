//! Copies of one signed-up account, made in SQL.
//!
//! The template is every row the first account's sign-up added (found by
//! rowid: rows past each table's last rowid before it). For account `i`
//! each of those rows is inserted again with every value kept but:
//! - each id of the template (any text value that is a UUID, also inside
//!   JSON) replaced by a fresh random UUID of account `i`, the same one
//!   wherever the template had the same id (so the copies' rows refer to
//!   each other as the template's do);
//! - the address `{prefix}{start}@bench.test` and its local part (the
//!   personal space's name and slug) replaced by account `i`'s.
//!
//! A template value that holds the address or its local part in any other
//! way would be copied wrongly; seeding then stops and says where, rather
//! than fill the file with accounts that sign-up would not have written.
//! Every copy goes through the file's PRIMARY KEY and UNIQUE checks and
//! its triggers (the user counts), as the server's writes do.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::fail;

/// A random version-4 UUID, in SQL.
const UUID: &str = "lower(printf('%s-%s-4%s-%s%s-%s', hex(randomblob(4)), hex(randomblob(2)), \
                    substr(hex(randomblob(2)), 2), substr('89ab', 1 + (abs(random()) % 4), 1), \
                    substr(hex(randomblob(2)), 2), hex(randomblob(6))))";

/// The last rowid of every rowid table of the file (0 when empty), and the
/// row count of the others.
pub fn last_rowids(conn: &Connection) -> Result<BTreeMap<String, i64>, String> {
    tables(conn)?
        .into_iter()
        .map(|(name, sql)| {
            let what = if sql.contains("WITHOUT ROWID") {
                "count(*)"
            } else {
                "coalesce(max(rowid), 0)"
            };
            let last = conn
                .query_row(&format!("SELECT {what} FROM main.\"{name}\""), [], |r| {
                    r.get(0)
                })
                .map_err(fail)?;
            Ok((name, last))
        })
        .collect()
}

/// Adds accounts `start + 1 .. start + count` as copies of account `start`,
/// whose rows are those past `before` in each table.
pub fn accounts(
    conn: &Connection,
    before: &BTreeMap<String, i64>,
    prefix: &str,
    start: u64,
    count: u64,
) -> Result<(), String> {
    let local = format!("{prefix}{start}");
    let email = format!("{local}@bench.test");
    // The template's rows, per table.
    let mut template: Vec<(String, Vec<String>, Vec<Vec<Value>>)> = Vec::new();
    let kept_by_triggers = kept_by_triggers(conn)?;
    for (name, sql) in tables(conn)? {
        if kept_by_triggers.contains(&name) {
            // The copies' own inserts fire those triggers.
            continue;
        }
        let last = before.get(&name).copied().unwrap_or(0);
        if sql.contains("WITHOUT ROWID") {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM main.\"{name}\""), [], |r| {
                    r.get(0)
                })
                .map_err(fail)?;
            if rows != last {
                return Err(format!(
                    "sign-up wrote into {name}, whose rows the seed cannot find (no rowid); \
                     teach bench/src/seed/clone.rs"
                ));
            }
            continue;
        }
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM main.\"{name}\" WHERE rowid > ?1 ORDER BY rowid"
            ))
            .map_err(fail)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = columns.len();
        let rows = stmt
            .query_map([last], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .map_err(fail)?
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .map_err(fail)?;
        if !rows.is_empty() {
            template.push((name, columns, rows));
        }
    }
    // The template's ids, each a column of the accounts table.
    let mut ids: Vec<String> = Vec::new();
    for (_, _, rows) in &template {
        for value in rows.iter().flatten() {
            if let Value::Text(text) = value {
                for id in uuids_in(text) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
    }
    let columns: Vec<String> = (0..ids.len()).map(|k| format!("u{k}")).collect();
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.seed_accounts; \
         CREATE TEMP TABLE seed_accounts (i INTEGER PRIMARY KEY{});",
        columns
            .iter()
            .map(|c| format!(", {c} TEXT"))
            .collect::<String>()
    ))
    .map_err(fail)?;
    conn.execute(
        &format!(
            "INSERT INTO temp.seed_accounts WITH RECURSIVE n(i) AS \
             (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) SELECT i{} FROM n",
            columns
                .iter()
                .map(|_| format!(", {UUID}"))
                .collect::<String>()
        ),
        [start as i64 + 1, (start + count) as i64],
    )
    .map_err(fail)?;
    // The named indexes are dropped while the copies go in and built again
    // from their own SQL afterwards: one sort each instead of a random
    // B-tree insert per row. PRIMARY KEY and UNIQUE indexes stay.
    let indexes: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)?
    };
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX main.\"{name}\""))
            .map_err(fail)?;
    }
    // The CHECK constraints (JSON validity of the change log's documents,
    // above all) held for the template when sign-up wrote it, and a copy
    // differs from it only by one UUID for another inside those documents:
    // checking again costs a JSON parse per document and copy.
    // `PRAGMA integrity_check` checks them after the fact (the test does).
    conn.execute_batch("PRAGMA ignore_check_constraints = ON")
        .map_err(fail)?;
    for (name, cols, rows) in &template {
        for row in rows {
            let mut params: Vec<Value> = vec![Value::Text(prefix.to_string())];
            let mut exprs = Vec::with_capacity(row.len());
            for (col, value) in cols.iter().zip(row) {
                let Value::Text(text) = value else {
                    params.push(value.clone());
                    exprs.push(format!("?{}", params.len()));
                    continue;
                };
                if *text == email {
                    exprs.push("?1 || a.i || '@bench.test'".to_string());
                    continue;
                }
                if *text == local {
                    exprs.push("?1 || a.i".to_string());
                    continue;
                }
                if text.contains(&local) {
                    return Err(format!(
                        "sign-up wrote the address into {name}.{col} in a way the seed cannot \
                         copy; teach bench/src/seed/clone.rs"
                    ));
                }
                params.push(value.clone());
                let mut expr = format!("?{}", params.len());
                for (k, id) in ids.iter().enumerate() {
                    if text.contains(id.as_str()) {
                        params.push(Value::Text(id.clone()));
                        expr = format!("replace({expr}, ?{}, a.u{k})", params.len());
                    }
                }
                exprs.push(expr);
            }
            let names: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
            conn.execute(
                &format!(
                    "INSERT INTO main.\"{name}\" ({}) SELECT {} FROM temp.seed_accounts AS a ORDER BY 1",
                    names.join(", "),
                    exprs.join(", ")
                ),
                params_from_iter(params),
            )
            .map_err(fail)?;
        }
    }
    conn.execute_batch("PRAGMA ignore_check_constraints = OFF; DROP TABLE temp.seed_accounts")
        .map_err(fail)?;
    for (_, sql) in &indexes {
        conn.execute_batch(sql).map_err(fail)?;
    }
    Ok(())
}

/// Every UUID (8-4-4-4-12 hex digits) in a text.
fn uuids_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 36 <= bytes.len() {
        let candidate = &bytes[i..i + 36];
        let is_uuid = candidate.iter().enumerate().all(|(k, b)| match k {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes.get(i + 36).is_none_or(|b| !b.is_ascii_alphanumeric());
        if is_uuid && bounded {
            if let Ok(s) = std::str::from_utf8(candidate) {
                found.push(s.to_ascii_lowercase());
            }
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

/// The tables a trigger of the file writes into (`INSERT INTO t`,
/// `UPDATE t`), other than the table the trigger is on.
fn kept_by_triggers(conn: &Connection) -> Result<Vec<String>, String> {
    let names: Vec<String> = tables(conn)?.into_iter().map(|(name, _)| name).collect();
    let mut stmt = conn
        .prepare("SELECT tbl_name, sql FROM main.sqlite_master WHERE type = 'trigger'")
        .map_err(fail)?;
    let triggers = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(fail)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let mut kept = Vec::new();
    for (on, sql) in triggers {
        let words: Vec<String> = sql
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        for pair in words.windows(2) {
            let target = match (pair[0].as_str(), pair[1].as_str()) {
                ("into" | "update", t) => t,
                _ => continue,
            };
            if target != on
                && names.iter().any(|n| n == target)
                && !kept.iter().any(|k| k == target)
            {
                kept.push(target.to_string());
            }
        }
    }
    Ok(kept)
}

/// Name and SQL of every table of the file.
fn tables(conn: &Connection) -> Result<Vec<(String, String)>, String> {
    let mut stmt = conn
        .prepare(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(fail)?;
    rows.collect::<Result<_, _>>().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::uuids_in;

    #[test]
    fn finds_the_uuids_of_a_text_and_nothing_else() {
        let text = r#"{"id":"27a37a2c-9b02-4e05-975b-31f09d1ceff2","x":"27a37a2c-9b02-4e05-975b-31f09d1ceff2z"}"#;
        assert_eq!(uuids_in(text), vec!["27a37a2c-9b02-4e05-975b-31f09d1ceff2"]);
        assert!(uuids_in("seed0@bench.test").is_empty());
    }
}
