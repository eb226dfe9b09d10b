//! What an import did: one line per table (`table  imported  skipped`), then
//! every row that was not imported with its reason, then notes.

use std::fmt::Write as _;

/// Counts of one source table.
pub struct Table {
    pub name: &'static str,
    pub imported: u64,
    pub skipped: u64,
}

/// A row that was not imported.
pub struct Refused {
    pub table: &'static str,
    pub id: String,
    pub reason: String,
}

/// The report of one run.
#[derive(Default)]
pub struct Report {
    pub tables: Vec<Table>,
    pub refused: Vec<Refused>,
    pub notes: Vec<String>,
    pub dry_run: bool,
}

impl Report {
    fn table(&mut self, name: &'static str) -> &mut Table {
        if let Some(i) = self.tables.iter().position(|t| t.name == name) {
            return &mut self.tables[i];
        }
        self.tables.push(Table {
            name,
            imported: 0,
            skipped: 0,
        });
        let last = self.tables.len() - 1;
        &mut self.tables[last]
    }

    /// Lists `name` even when it stays at 0 / 0.
    pub fn touch(&mut self, name: &'static str) {
        self.table(name);
    }

    /// One row of `table` was imported.
    pub fn imported(&mut self, table: &'static str) {
        self.table(table).imported += 1;
    }

    /// One row of `table` was not imported, for `reason`.
    pub fn refuse(&mut self, table: &'static str, id: &str, reason: impl Into<String>) {
        self.table(table).skipped += 1;
        self.refused.push(Refused {
            table,
            id: id.to_owned(),
            reason: reason.into(),
        });
    }

    /// A table left behind as a whole (no per-row lines).
    pub fn left_behind(&mut self, table: &'static str, rows: i64, why: &str) {
        self.table(table).skipped += u64::try_from(rows).unwrap_or(0);
        self.notes.push(format!("{table}: not imported ({why})"));
    }

    /// Imported count of `table`.
    pub fn count(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.name == table)
            .map_or(0, |t| t.imported)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self
            .tables
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>9}",
            "table", "imported", "skipped"
        );
        for t in &self.tables {
            let _ = writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}",
                t.name, t.imported, t.skipped
            );
        }
        if !self.refused.is_empty() {
            let _ = writeln!(out, "\nnot imported:");
            for r in &self.refused {
                let _ = writeln!(out, "{}  {}  {}", r.table, r.id, r.reason);
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nnotes:");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        if self.dry_run {
            let _ = writeln!(out, "\ndry run: nothing was written");
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_table_then_refusals() {
        let mut r = Report::default();
        r.imported("users");
        r.imported("users");
        r.refuse("users", "u3", "soft-deleted");
        r.touch("passkeys");
        let text = r.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["table", "imported", "skipped"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["users", "2", "1"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["passkeys", "0", "0"]
        );
        assert!(text.contains("users  u3  soft-deleted"));
        assert_eq!(r.count("users"), 2);
    }
}
