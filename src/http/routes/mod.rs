//! One module per route group; handlers stay thin.

pub mod account;
pub mod admin;
pub mod admin_personas;
pub mod admin_retention;
pub mod api_keys;
pub mod auth;
pub mod better_auth;
pub mod health;
pub mod internal;
pub mod internal_personas;
pub mod me;
pub mod mission_grant;
pub mod passkeys;
pub mod settings;
pub mod spaces;
pub mod sync;
pub mod two_factor;
pub mod vault;
pub mod wellknown;

use serde::{Deserialize, Deserializer};

/// For PATCH-like fields: absent → `None`, `null` → `Some(None)`.
pub(crate) fn double_option<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
