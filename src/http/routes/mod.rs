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
pub mod wire;

use serde::{Deserialize, Deserializer};
use utoipa::openapi::path::Paths;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::state::AppState;

/// The operation of `routes` (one handler) mounted at a second `path` as
/// well, documented there under its own `operation_id`: routed and
/// documented by the same call, like every other route.
pub(crate) fn alias(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    path: &str,
    operation_id: &str,
) -> UtoipaMethodRouter<AppState> {
    let mut moved = Paths::new();
    for (_, mut item) in paths.paths {
        for op in [item.get.as_mut(), item.post.as_mut()]
            .into_iter()
            .flatten()
        {
            op.operation_id = Some(operation_id.to_owned());
        }
        moved.paths.insert(path.to_owned(), item);
    }
    (schemas, moved, method_router)
}

/// The operation of `routes` (one handler, documented at `/x/{rest}`)
/// routed at axum's catch-all `path` (`/x/{*rest}`, any depth); the
/// document names it without the `*` (`openapi::finish`).
pub(crate) fn catch_all(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    path: &str,
) -> UtoipaMethodRouter<AppState> {
    let mut moved = Paths::new();
    for (_, item) in paths.paths {
        moved.paths.insert(path.to_owned(), item);
    }
    (schemas, moved, method_router)
}

/// For PATCH-like fields: absent → `None`, `null` → `Some(None)`.
pub(crate) fn double_option<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
