//! SQL for spaces, members and invitations.

use rusqlite::{params, Connection, OptionalExtension};

use super::model::*;
use crate::db::Tx;
use crate::error::{on_constraint, ApiError, ErrorCode, Result};
use crate::ids::{MemberId, SpaceId, UserId};

fn slug_taken(e: rusqlite::Error) -> ApiError {
    on_constraint(e, |msg| {
        msg.contains("spaces.slug")
            .then(|| ApiError::new(ErrorCode::SpaceSlugTaken, "this slug is already taken"))
    })
}

/// Inserts a space.
pub fn insert_space(tx: &Tx, s: &Space, personal_of: Option<&str>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO spaces (id, name, slug, logo, metadata, personal_of, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        s.id,
        s.name,
        s.slug,
        s.logo,
        s.metadata.to_string(),
        personal_of,
        s.created_at,
        s.updated_at
    ])
    .map_err(slug_taken)?;
    Ok(())
}

/// Updates the editable fields of a space.
pub fn update_space(tx: &Tx, s: &Space) -> Result<()> {
    tx.prepare_cached(
        "UPDATE spaces SET name = ?2, slug = ?3, logo = ?4, metadata = ?5, updated_at = ?6 WHERE id = ?1",
    )?
    .execute(params![s.id, s.name, s.slug, s.logo, s.metadata.to_string(), s.updated_at])
    .map_err(slug_taken)?;
    Ok(())
}

/// Deletes a space (members, invitations and its sync rows cascade).
pub fn delete_space(tx: &Tx, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM spaces WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// A space by id.
pub fn space(conn: &Connection, id: &str) -> Result<Option<Space>> {
    let sql = format!("SELECT {SPACE_COLUMNS} FROM spaces s WHERE s.id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], Space::from_row)
        .optional()?)
}

/// The spaces of a user with their role, personal first, then by creation.
pub fn spaces_of(conn: &Connection, user_id: &str) -> Result<Vec<MySpace>> {
    let sql = format!(
        "SELECT {SPACE_COLUMNS}, m.role FROM spaces s JOIN space_members m ON m.space_id = s.id \
         WHERE m.user_id = ?1 ORDER BY s.personal_of IS NULL, s.created_at, s.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([user_id], |r| {
            let role: String = r.get(7)?;
            Ok(MySpace {
                space: Space::from_row(r)?,
                role: Role::parse(&role).unwrap_or(Role::Member),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The role of a user in a space, if a member.
pub fn role_of(conn: &Connection, space_id: &SpaceId, user_id: &UserId) -> Result<Option<Role>> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM space_members WHERE space_id = ?1 AND user_id = ?2")?
        .query_row(params![space_id, user_id], |r| r.get(0))
        .optional()?;
    role.as_deref().map(Role::parse).transpose()
}

/// Adds a member; an existing membership is a conflict.
pub fn insert_member(
    tx: &Tx,
    id: &MemberId,
    space_id: &SpaceId,
    user_id: &UserId,
    role: Role,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO space_members (id, space_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, space_id, user_id, role.as_str(), now])
    .map_err(|e| {
        on_constraint(e, |msg| {
            msg.contains("space_members.space_id")
                .then(|| ApiError::new(ErrorCode::Conflict, "already a member of this space"))
        })
    })?;
    Ok(())
}

/// Members of a space with their users.
pub fn members(conn: &Connection, space_id: &str) -> Result<Vec<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM space_members m JOIN users u ON u.id = m.user_id \
         WHERE m.space_id = ?1 ORDER BY m.created_at, m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([space_id], Member::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One member of a space by membership id.
pub fn member(
    conn: &Connection,
    space_id: &SpaceId,
    member_id: &MemberId,
) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM space_members m JOIN users u ON u.id = m.user_id \
         WHERE m.space_id = ?1 AND m.id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![space_id, member_id], Member::from_row)
        .optional()?)
}

/// A user's membership in a space.
pub fn member_of_user(
    conn: &Connection,
    space_id: &SpaceId,
    user_id: &UserId,
) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM space_members m JOIN users u ON u.id = m.user_id \
         WHERE m.space_id = ?1 AND m.user_id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![space_id, user_id], Member::from_row)
        .optional()?)
}

/// The id of the space with this slug.
pub fn id_by_slug(conn: &Connection, slug: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM spaces WHERE slug = ?1")?
        .query_row([slug], |r| r.get(0))
        .optional()?)
}

/// Number of owners of a space.
pub fn owner_count(conn: &Connection, space_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM space_members WHERE space_id = ?1 AND role = 'owner'",
        )?
        .query_row([space_id], |r| r.get(0))?)
}

/// Removes a membership.
pub fn delete_member(tx: &Tx, member_id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM space_members WHERE id = ?1")?
        .execute([member_id])?;
    Ok(())
}

/// Changes a member's role.
pub fn set_member_role(tx: &Tx, member_id: &str, role: Role) -> Result<()> {
    tx.prepare_cached("UPDATE space_members SET role = ?2 WHERE id = ?1")?
        .execute(params![member_id, role.as_str()])?;
    Ok(())
}

/// Creates a pending invitation, or refreshes the open one for that address.
pub fn upsert_invitation(tx: &Tx, inv: &Invitation, now: &str) -> Result<Invitation> {
    let sql = format!(
        "INSERT INTO space_invitations (id, space_id, email, role, status, inviter_id, expires_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?7) \
         ON CONFLICT (space_id, email) WHERE status = 'pending' DO UPDATE SET \
         role = excluded.role, inviter_id = excluded.inviter_id, expires_at = excluded.expires_at, updated_at = excluded.updated_at \
         RETURNING {INVITATION_COLUMNS}"
    );
    Ok(tx.prepare_cached(&sql)?.query_row(
        params![
            inv.id,
            inv.organization_id,
            inv.email,
            inv.role.as_str(),
            inv.inviter_id,
            inv.expires_at,
            now
        ],
        Invitation::from_row,
    )?)
}

/// An invitation by id.
pub fn invitation(conn: &Connection, id: &str) -> Result<Option<Invitation>> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM space_invitations WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], Invitation::from_row)
        .optional()?)
}

/// Records one invitation sent by `user_id` in `space_id`, and prunes the
/// rows of both from before `prune_before`.
pub fn log_invite(
    tx: &Tx,
    space_id: &SpaceId,
    user_id: &UserId,
    now: &str,
    prune_before: &str,
) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM space_invite_log WHERE (user_id = ?1 OR space_id = ?2) AND created_at < ?3",
    )?
    .execute(params![user_id, space_id, prune_before])?;
    tx.prepare_cached(
        "INSERT INTO space_invite_log (space_id, user_id, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![space_id, user_id, now])?;
    Ok(())
}

/// Invitations sent after `since` by a user (or, with `by_space`, in a
/// space): how many, and the time of the oldest.
pub fn invites_since(
    conn: &Connection,
    by_space: bool,
    key: &str,
    since: &str,
) -> Result<(i64, Option<String>)> {
    let sql = if by_space {
        "SELECT count(*), min(created_at) FROM space_invite_log WHERE space_id = ?1 AND created_at > ?2"
    } else {
        "SELECT count(*), min(created_at) FROM space_invite_log WHERE user_id = ?1 AND created_at > ?2"
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params![key, since], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// The pending invitation of an address to a space, if any.
pub fn pending_invitation(
    conn: &Connection,
    space_id: &str,
    email: &str,
) -> Result<Option<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM space_invitations \
         WHERE space_id = ?1 AND email = ?2 AND status = 'pending'"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([space_id, email], Invitation::from_row)
        .optional()?)
}

/// Pending, unexpired invitations addressed to `email`, with the name of
/// their space, newest first.
pub fn open_invitations_for(
    conn: &Connection,
    email: &str,
    now: &str,
) -> Result<Vec<(Invitation, String)>> {
    let columns = INVITATION_COLUMNS
        .split(", ")
        .map(|c| format!("i.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, s.name FROM space_invitations i JOIN spaces s ON s.id = i.space_id \
         WHERE i.email = ?1 AND i.status = 'pending' AND i.expires_at > ?2 \
         ORDER BY i.created_at DESC, i.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([email, now], |r| Ok((Invitation::from_row(r)?, r.get(8)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Invitations of a space, newest first.
pub fn invitations(conn: &Connection, space_id: &str) -> Result<Vec<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM space_invitations WHERE space_id = ?1 ORDER BY created_at DESC, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([space_id], Invitation::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Sets an invitation's status.
pub fn set_invitation_status(tx: &Tx, id: &str, status: &str, now: &str) -> Result<()> {
    tx.prepare_cached("UPDATE space_invitations SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status, now])?;
    Ok(())
}

/// True when a user with this email is a member of the space.
pub fn email_is_member(conn: &Connection, space_id: &str, email: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM space_members m JOIN users u ON u.id = m.user_id WHERE m.space_id = ?1 AND u.email = ?2",
        )?
        .query_row([space_id, email], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Memberships of a user as (space id, role).
pub fn memberships(conn: &Connection, user_id: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT space_id, role FROM space_members WHERE user_id = ?1 ORDER BY created_at, space_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Spaces the user owns (the personal space included).
pub fn owned_count(conn: &Connection, user_id: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM space_members WHERE user_id = ?1 AND role = 'owner'")?
        .query_row([user_id], |r| r.get(0))?)
}

/// Pending invitations of a space that have not expired by `now`.
pub fn open_invitation_count(conn: &Connection, space_id: &str, now: &str) -> Result<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM space_invitations \
             WHERE space_id = ?1 AND status = 'pending' AND expires_at > ?2",
        )?
        .query_row([space_id, now], |r| r.get(0))?)
}
