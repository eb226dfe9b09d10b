//! The user as stored and as sent.

use rusqlite::Row;
use serde::Serialize;

/// Columns selected wherever a `User` is read; matches `User::from_row`.
pub const COLUMNS: &str = "id, name, email, email_verified, image, role, access_tier, kind, \
     two_factor_enabled, created_at, updated_at, onboarding_completed_at";

/// A user account.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub role: String,
    pub access_tier: String,
    pub kind: String,
    pub two_factor_enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub onboarding_completed_at: Option<String>,
}

impl User {
    /// Maps a row selected with `COLUMNS`.
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            email: r.get(2)?,
            email_verified: r.get(3)?,
            image: r.get(4)?,
            role: r.get(5)?,
            access_tier: r.get(6)?,
            kind: r.get(7)?,
            two_factor_enabled: r.get(8)?,
            created_at: r.get(9)?,
            updated_at: r.get(10)?,
            onboarding_completed_at: r.get(11)?,
        })
    }
}

/// Roles a user may have.
pub const ROLES: &[&str] = &["user", "admin", "service"];
/// Access tiers, lowest first.
pub const TIERS: &[&str] = &["guest", "public", "beta", "alpha", "founder"];
