//! Spaces, members and invitations as stored and as sent. Field names follow
//! the organization shapes existing clients know (`organizationId`).

use rusqlite::Row;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, Result};

/// Space types of SPEC §6.
pub const TYPES: &[&str] = &["personal", "brand", "club", "family", "team", "practice"];

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    /// Parses a wire/stored role.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(ApiError::validation("role must be owner, admin or member")),
        }
    }
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A space.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Space {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub metadata: Value,
    pub created_at: String,
    pub updated_at: String,
}

/// Columns for `Space::from_row`.
pub const SPACE_COLUMNS: &str =
    "s.id, s.name, s.slug, s.logo, s.metadata, s.created_at, s.updated_at";

impl Space {
    /// Maps a row selected with `SPACE_COLUMNS`.
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let metadata: String = r.get(4)?;
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            slug: r.get(2)?,
            logo: r.get(3)?,
            metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
        })
    }

    /// The space type from its metadata.
    pub fn kind(&self) -> &str {
        self.metadata
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A space with the caller's role in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MySpace {
    #[serde(flatten)]
    pub space: Space,
    pub role: Role,
}

/// The public part of a member's user.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub image: Option<String>,
}

/// A membership.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: Role,
    pub created_at: String,
    pub user: MemberUser,
}

/// Columns for `Member::from_row` (members `m` joined with users `u`).
pub const MEMBER_COLUMNS: &str =
    "m.id, m.space_id, m.user_id, m.role, m.created_at, u.name, u.email, u.image";

impl Member {
    /// Maps a row selected with `MEMBER_COLUMNS`.
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let role: String = r.get(3)?;
        let user_id: String = r.get(2)?;
        Ok(Self {
            id: r.get(0)?,
            organization_id: r.get(1)?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            created_at: r.get(4)?,
            user: MemberUser {
                id: user_id.clone(),
                name: r.get(5)?,
                email: r.get(6)?,
                image: r.get(7)?,
            },
            user_id,
        })
    }
}

/// An invitation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: Role,
    pub status: String,
    pub inviter_id: Option<String>,
    pub expires_at: String,
    pub created_at: String,
}

/// Columns for `Invitation::from_row`.
pub const INVITATION_COLUMNS: &str =
    "id, space_id, email, role, status, inviter_id, expires_at, created_at";

impl Invitation {
    /// Maps a row selected with `INVITATION_COLUMNS`.
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let role: String = r.get(3)?;
        Ok(Self {
            id: r.get(0)?,
            organization_id: r.get(1)?,
            email: r.get(2)?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            status: r.get(4)?,
            inviter_id: r.get(5)?,
            expires_at: r.get(6)?,
            created_at: r.get(7)?,
        })
    }
}

/// A space with its members and invitations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FullSpace {
    #[serde(flatten)]
    pub space: Space,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
}
