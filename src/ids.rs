//! Ids of different things as different types, where they meet in one
//! signature (`session::revoke(user, session)`): swapping two arguments no
//! longer compiles. On the wire and in SQLite each is its plain text
//! (serde transparent, `ToSql`/`FromSql` as text), so nothing a client or
//! the database sees changes.
//!
//! In order, the spaces calls compile (`cargo test --doc` checks these):
//!
//! ```no_run
//! use mana_auth::ids::{InvitationId, MemberId, SpaceId, UserId};
//! use mana_auth::{db::Tx, error::Result, spaces};
//!
//! fn calls(tx: &Tx, space: &SpaceId, user: &UserId, member: &MemberId) -> Result<()> {
//!     let now = mana_auth::clock::Clock::system().now();
//!     spaces::require_member(tx, space, user)?;
//!     spaces::remove_member(tx, space, user, member)?;
//!     spaces::cancel(tx, Some(space), &InvitationId::from("i"), user, now)?;
//!     Ok(())
//! }
//! ```
//!
//! a space id where a user id goes does not:
//!
//! ```compile_fail
//! # use mana_auth::ids::{SpaceId, UserId};
//! fn swapped(tx: &mana_auth::db::Tx, space: &SpaceId, user: &UserId) {
//!     let _ = mana_auth::spaces::require_member(tx, user, space);
//! }
//! ```
//!
//! nor a user id where a member id goes:
//!
//! ```compile_fail
//! # use mana_auth::ids::{MemberId, SpaceId, UserId};
//! fn swapped(tx: &mana_auth::db::Tx, space: &SpaceId, user: &UserId, member: &MemberId) {
//!     let _ = mana_auth::spaces::remove_member(tx, space, member, user);
//! }
//! ```
//!
//! nor a bare string where an invitation id goes:
//!
//! ```compile_fail
//! # use mana_auth::ids::UserId;
//! fn untyped(tx: &mana_auth::db::Tx, user: &UserId, invitation: &str) {
//!     let now = mana_auth::clock::Clock::system().now();
//!     let _ = mana_auth::spaces::cancel(tx, None, invitation, user, now);
//! }
//! ```

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map(Self)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A space's (organization's) id.
    SpaceId
);
id_type!(
    /// A session's id.
    SessionId
);
id_type!(
    /// A space membership's id (a row of `space_members`, not a user).
    MemberId
);
id_type!(
    /// A space invitation's id.
    InvitationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_text_on_the_wire_and_in_sqlite() {
        let id = SessionId::from("s-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"s-1\"");
        let back: SessionId = serde_json::from_str("\"s-1\"").unwrap();
        assert_eq!(back, id);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let read: String = conn.query_row("SELECT ?1", [&id], |r| r.get(0)).unwrap();
        assert_eq!(read, "s-1");
        let typed: UserId = conn.query_row("SELECT 'u-1'", [], |r| r.get(0)).unwrap();
        assert_eq!(typed.as_str(), "u-1");
        assert_eq!(typed.to_string(), "u-1");
    }
}
