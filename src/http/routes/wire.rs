//! Response bodies several route groups share, one definition each. Fields
//! are declared in the alphabetical order of their wire names: the bodies
//! were `json!` maps before, which serialise their keys sorted.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::users::User;

/// `{success: true}`: a write that has nothing else to say.
#[derive(Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

/// The `{success: true}` body.
pub fn success() -> Json<Success> {
    Json(Success { success: true })
}

/// A fresh token pair.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// A fresh token pair and the user they belong to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensAndUser {
    pub access_token: String,
    pub refresh_token: String,
    pub user: User,
}

/// The sign-in body of `/login` and the passkey sign-in (the upstream's):
/// `token` is the session cookie's token (which the persona runner sends as
/// a Better Auth bearer token) and does not rotate; `refreshToken` does.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedInBody {
    pub access_token: String,
    /// Always `false`.
    pub redirect: bool,
    pub refresh_token: String,
    pub token: String,
    pub user: User,
}

impl From<&crate::auth::SignedIn> for SignedInBody {
    fn from(signed: &crate::auth::SignedIn) -> Self {
        Self {
            access_token: signed.access_token.clone(),
            redirect: false,
            refresh_token: signed.refresh_token.clone(),
            token: signed.session_token.clone(),
            user: signed.user.clone(),
        }
    }
}
