//! The per-app part of the data summary: how many live records each app
//! holds for the user in `sync_changes`, in the shape the web app's "my
//! data" page reads (`projects[]`, `totals`). A record counts when its
//! newest change is not a delete.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::Result;

/// The apps the web app knows, in the order it lists them: id, display
/// name, icon. Any other app with data follows with its id as name.
const KNOWN: &[(&str, &str, &str)] = &[
    ("todo", "Todo", "✅"),
    ("chat", "ManaChat", "💬"),
    ("calendar", "Kalender", "📅"),
    ("clock", "Clock", "⏰"),
    ("contacts", "Kontakte", "👤"),
    ("cards", "Cards", "🃏"),
    ("picture", "ManaPicture", "🎨"),
    ("quotes", "Quotes", "✨"),
    ("presi", "Presi", "📊"),
    ("inventory", "Inventar", "📦"),
    ("food", "Food", "🥗"),
    ("plants", "Plants", "🌱"),
    ("storage", "Storage", "☁️"),
    ("questions", "Questions", "❓"),
    ("music", "Music", "🎵"),
    ("context", "Context", "📄"),
    ("photos", "Photos", "📷"),
    ("skilltree", "SkillTree", "🌳"),
    ("citycorners", "CityCorners", "🏙️"),
    ("times", "Taktik", "⏱️"),
    ("uload", "uLoad", "🔗"),
    ("calc", "Calc", "🧮"),
    ("mana", "Mana", "💎"),
];

/// Icon of an app the catalogue does not know.
const OTHER_ICON: &str = "📁";

/// Live records of one table.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntityCount {
    /// The table name as synced.
    pub entity: String,
    pub count: i64,
    /// The table name for humans ("kontextDoc" → "Kontext Doc").
    pub label: String,
}

/// One app's part of the summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub project_id: String,
    pub project_name: String,
    pub icon: String,
    /// Always true: the data lives in this very file.
    pub available: bool,
    pub entities: Vec<EntityCount>,
    pub total_count: i64,
    /// The newest change of the user in this app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
}

/// `totals` of the summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub total_entities: i64,
    pub projects_with_data: usize,
}

/// A table name for humans: a space before each capital, underscores as
/// spaces, the first letter upper-cased.
pub fn label(table: &str) -> String {
    let mut out = String::with_capacity(table.len() + 4);
    for c in table.chars() {
        match c {
            '_' => out.push(' '),
            c if c.is_uppercase() => {
                out.push(' ');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    let trimmed = out.trim();
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The catalogue's apps (always all of them) and then every other app the
/// user has data in, with their live record counts.
pub fn summary(conn: &Connection, user_id: &str) -> Result<(Vec<Project>, Totals)> {
    let mut stmt = conn.prepare_cached(
        "SELECT app_id, table_name, count(*) FROM ( \
           SELECT app_id, table_name, op, row_number() OVER ( \
             PARTITION BY app_id, table_name, record_id ORDER BY created_at DESC, rowid DESC) AS n \
           FROM sync_changes WHERE user_id = ?1) \
         WHERE n = 1 AND op != 'delete' GROUP BY app_id, table_name ORDER BY app_id, table_name",
    )?;
    let counts = stmt
        .query_map(params![user_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, String, i64)>>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT app_id, max(created_at) FROM sync_changes WHERE user_id = ?1 GROUP BY app_id ORDER BY app_id",
    )?;
    let activity = stmt
        .query_map(params![user_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let project = |id: &str, name: &str, icon: &str| {
        let entities: Vec<EntityCount> = counts
            .iter()
            .filter(|(app, _, _)| app == id)
            .map(|(_, table, n)| EntityCount {
                entity: table.clone(),
                count: *n,
                label: label(table),
            })
            .collect();
        Project {
            project_id: id.to_owned(),
            project_name: name.to_owned(),
            icon: icon.to_owned(),
            available: true,
            total_count: entities.iter().map(|e| e.count).sum(),
            entities,
            last_activity_at: activity
                .iter()
                .find(|(app, _)| app == id)
                .map(|(_, at)| at.clone()),
        }
    };
    let mut projects: Vec<Project> = KNOWN
        .iter()
        .map(|(id, name, icon)| project(id, name, icon))
        .collect();
    for (app, _) in &activity {
        if !KNOWN.iter().any(|(id, _, _)| id == app) {
            projects.push(project(app, app, OTHER_ICON));
        }
    }
    let totals = Totals {
        total_entities: projects.iter().map(|p| p.total_count).sum(),
        projects_with_data: projects.iter().filter(|p| p.total_count > 0).count(),
    };
    Ok((projects, totals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_camel_case_and_underscores() {
        assert_eq!(label("kontextDoc"), "Kontext Doc");
        assert_eq!(label("userContext"), "User Context");
        assert_eq!(label("time_entries"), "Time entries");
        assert_eq!(label("Tasks"), "Tasks");
        assert_eq!(label(""), "");
    }
}
