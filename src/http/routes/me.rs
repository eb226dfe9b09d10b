//! `/api/v1/me/*`: the caller's own things — profile, onboarding, data
//! summary, export and erasure, the sync bootstrap, and the vault (nested).

use crate::http::openapi::routes;
use crate::http::routes::alias;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::ClientInfo;
use crate::error::{ApiError, Result};
use crate::http::cookie;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser};
use crate::me::data::Deletion;
use crate::me::{self, erase, Onboarding, ProfilePatch};
use crate::state::AppState;
use crate::{sync, users};

/// Routes under `/api/v1/me`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_bootstrap_singletons))
        .routes(routes!(patch_profile))
        .routes(routes!(get_onboarding))
        // The web app's onboarding store asks with a trailing slash.
        .routes(alias(
            routes!(get_onboarding),
            "/onboarding/",
            "get_onboarding_slash",
        ))
        .routes(routes!(post_onboarding_complete))
        .routes(routes!(patch_onboarding_reset))
        .routes(routes!(get_data, delete_data))
        .routes(routes!(get_data_export))
        .nest("/encryption-vault", super::vault::router())
        .nest("/ai-mission-grant", super::mission_grant::router())
}

#[utoipa::path(
    post, path = "/bootstrap-singletons",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What this call wrote", body = Bootstrapped)
    )
)]
async fn post_bootstrap_singletons(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Bootstrapped>> {
    let uid = claims.sub.clone();
    state
        .db
        .read(move |c| users::store::by_id(c, &uid))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let done = sync::reconcile(&state.db, claims.sub).await?;
    Ok(Json(Bootstrapped {
        bootstrapped: done,
        ok: true,
    }))
}

/// The sync bootstrap's answer.
#[derive(Serialize, ToSchema)]
struct Bootstrapped {
    bootstrapped: sync::Reconciled,
    ok: bool,
}

/// The changed profile: name and image at the top level, and the user.
#[derive(Serialize, ToSchema)]
struct ProfileChanged {
    #[schema(required = true)]
    image: Option<String>,
    name: String,
    user: users::User,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ProfilePatchRequest {
    name: Option<String>,
    /// `null` removes the image; absent keeps it.
    #[serde(default, deserialize_with = "super::double_option")]
    image: Option<Option<String>>,
}

#[utoipa::path(
    patch, path = "/profile", request_body = ProfilePatchRequest,
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed profile", body = ProfileChanged),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn patch_profile(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<ProfilePatchRequest>,
) -> Result<Json<ProfileChanged>> {
    let patch = ProfilePatch {
        name: req.name,
        image: req.image,
    };
    let user = state
        .db
        .write(move |tx, now| me::update_profile(tx, &claims.sub, patch, &client, now))
        .await?;
    Ok(Json(ProfileChanged {
        image: user.image.clone(),
        name: user.name.clone(),
        user,
    }))
}

#[utoipa::path(
    get, path = "/onboarding",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Onboarding state", body = crate::me::Onboarding),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn get_onboarding(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Onboarding>> {
    Ok(Json(
        state
            .db
            .read(move |c| me::onboarding(c, &claims.sub))
            .await?,
    ))
}

#[utoipa::path(
    post, path = "/onboarding/complete",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Onboarding state", body = crate::me::Onboarding),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn post_onboarding_complete(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Onboarding>> {
    Ok(Json(
        state
            .db
            .write(move |tx, now| me::complete_onboarding(tx, &claims.sub, now))
            .await?,
    ))
}

#[utoipa::path(
    patch, path = "/onboarding/reset",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Onboarding state", body = crate::me::Onboarding),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn patch_onboarding_reset(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Onboarding>> {
    Ok(Json(
        state
            .db
            .write(move |tx, now| me::reset_onboarding(tx, &claims.sub, now))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/data",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts of everything stored about the user", body = me::data::DataSummary),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn get_data(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<me::data::DataSummary>> {
    let now = state.now();
    Ok(Json(
        state
            .db
            .read(move |c| me::data::summary(c, &claims.sub, now))
            .await?,
    ))
}

#[utoipa::path(
    get, path = "/data/export",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{exportedAt, exportVersion, data, details, …every row}` as an attachment", body = me::data::Export),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn get_data_export(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Response> {
    let now = state.now();
    let export = state
        .db
        .read(move |c| me::data::export(c, &claims.sub, now))
        .await?;
    let body = serde_json::to_vec_pretty(&export)?;
    // The upstream's file name; the web app falls back to the same one.
    let filename = format!(
        "attachment; filename=\"meine-daten-{}.json\"",
        now.format("%Y-%m-%d")
    );
    Ok((
        [
            (CONTENT_TYPE, "application/json".to_owned()),
            (CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

fn erased_response(state: &AppState, erased: erase::Erased) -> Response {
    let body = me::data::deletion_result(erased);
    (cookie::clear_session(&state.config), Json(body)).into_response()
}

#[utoipa::path(
    delete, path = "/data",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was removed; clears the session cookie", body = Deletion),
        (status = 404, description = "the user is gone", body = ErrorEnvelope)
    )
)]
async fn delete_data(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
) -> Result<Response> {
    let st = state.clone();
    let erased = state
        .db
        .write(move |tx, now| erase::erase(tx, &st.config, &claims.sub, &client, now))
        .await?;
    state.mail.wake();
    Ok(erased_response(&state, erased))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct DeleteAccountRequest {
    password: String,
}

/// `DELETE /api/v1/auth/account` `{password}`: the same erase after a
/// password check.
#[utoipa::path(
    delete, path = "/account", request_body = DeleteAccountRequest, tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was removed; clears the session cookie", body = Deletion),
        (status = 404, description = "the user is gone", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
pub(super) async fn delete_account(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<DeleteAccountRequest>,
) -> Result<Response> {
    let erased = erase::erase_confirmed(&state, claims.sub, req.password, client).await?;
    Ok(erased_response(&state, erased))
}
