//! `/api/v1/auth/passkeys`: capability, registration, sign-in, management.
//!
//! Shapes serve the shared auth client, which the upstream never matched:
//! options answer `{options, challengeId}` (and, as before, the WebAuthn
//! `publicKey` beside them); the verify routes take `credential` (or the
//! framework's `response`) and `friendlyName` (or `name`); the list is a
//! bare array of passkeys with the framework's fields and the client's
//! (`friendlyName`, `credentialId`, `lastUsedAt`).

use crate::http::openapi::routes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::better_auth::wire::BaPasskey;
use super::wire::SignedInBody;
use crate::audit::ClientInfo;
use crate::error::{ApiError, ErrorCode, Result};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::{AppJson, AuthUser, BearerSession, OptionalJson};
use crate::http::ratelimit::{envelope, guarded, Bucket};
use crate::passkeys::flow;
use crate::passkeys::store;
use crate::state::AppState;

/// Routes under `/api/v1/auth/passkeys`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_passkeys))
        .routes(routes!(get_capability))
        .routes(routes!(post_register_options))
        .routes(routes!(post_register_verify))
        .merge(guarded(
            OpenApiRouter::new().routes(routes!(post_authenticate_options)),
            state,
            Bucket::PasskeyOptions,
            envelope,
        ))
        .routes(routes!(post_authenticate_verify))
        .routes(routes!(patch_passkey, delete_passkey))
}

fn require_enabled(state: &AppState) -> Result<()> {
    if state.passkeys.enabled() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PasskeyNotEnabled,
            "passkeys are not configured on this server",
        ))
    }
}

/// A client payload that is not a WebAuthn credential: the ceremony was
/// cancelled or the browser sent something else.
fn parse_credential<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    if value.is_null() {
        return Err(ApiError::new(
            ErrorCode::PasskeyCancelled,
            "no credential: the passkey ceremony was cancelled",
        ));
    }
    serde_json::from_value(value).map_err(|_| {
        ApiError::new(
            ErrorCode::PasskeyCancelled,
            "credential is not a WebAuthn response",
        )
    })
}

#[utoipa::path(
    get, path = "/capability",
    tag = "passkeys",
    responses(
        (status = 200, description = "Whether passkeys work on this server", body = Capability)
    )
)]
async fn get_capability(State(state): State<AppState>) -> Json<Capability> {
    Json(Capability {
        conditional_ui_available: state.passkeys.enabled(),
        enabled: state.passkeys.enabled(),
        rp_id: state.passkeys.rp_id().to_owned(),
    })
}

/// Whether passkeys are configured, for the sign-in page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Capability {
    #[serde(rename = "conditionalUIAvailable")]
    conditional_ui_available: bool,
    enabled: bool,
    /// The WebAuthn relying party id (the host name).
    rp_id: String,
}

#[utoipa::path(
    get, path = "/",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's passkeys", body = Vec<ListedPasskey>)
    )
)]
async fn get_passkeys(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<ListedPasskey>>> {
    let uid = claims.sub.clone();
    let list = state.db.read(move |c| store::list(c, &uid)).await?;
    Ok(Json(
        list.iter()
            .map(|p| ListedPasskey::new(p, &claims.sub))
            .collect(),
    ))
}

/// One passkey: the framework's object (what the upstream proxied) plus
/// the names the shared auth client's passkey list reads.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ListedPasskey {
    #[serde(flatten)]
    framework: BaPasskey,
    credential_id: String,
    friendly_name: String,
    #[schema(required = true)]
    last_used_at: Option<String>,
}

impl ListedPasskey {
    fn new(p: &store::PasskeyInfo, user_id: &str) -> Self {
        Self {
            framework: BaPasskey::new(p, user_id),
            credential_id: p.credential_id.clone(),
            friendly_name: p.name.clone(),
            last_used_at: p.last_used_at.clone(),
        }
    }
}

/// A new passkey, at the top level and under `passkey`.
#[derive(Serialize, ToSchema)]
struct RegisteredPasskey {
    #[serde(flatten)]
    fields: ListedPasskey,
    passkey: ListedPasskey,
}

/// `{options, challengeId}` as the shared auth client destructures it, with
/// the WebAuthn `publicKey` (the options again) beside them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasskeyOptions {
    challenge_id: String,
    /// The WebAuthn options (`PublicKeyCredentialCreationOptions` or
    /// `…RequestOptions`), as the browser API takes them.
    #[schema(value_type = Object)]
    options: Value,
    /// The same options again.
    #[schema(value_type = Object)]
    public_key: Value,
}

impl PasskeyOptions {
    fn new<T: Serialize>(public_key: &T, challenge_id: String) -> Result<Self> {
        let public_key = serde_json::to_value(public_key)?;
        Ok(Self {
            challenge_id,
            options: public_key.clone(),
            public_key,
        })
    }
}

#[utoipa::path(
    post, path = "/register/options", request_body = Option<StepUpRequest>,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The WebAuthn creation options", body = PasskeyOptions),
        (status = 401, description = "INVALID_CREDENTIALS (wrong password)", body = ErrorEnvelope),
        (status = 403, description = "SESSION_NOT_FRESH: sign in again or send the password", body = ErrorEnvelope),
        (status = 404, description = "PASSKEY_NOT_ENABLED or the user is gone", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED (password attempts)", body = ErrorEnvelope)
    )
)]
async fn post_register_options(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BearerSession,
    OptionalJson(req): OptionalJson<StepUpRequest>,
) -> Result<Json<PasskeyOptions>> {
    require_enabled(&state)?;
    let password = req.and_then(|r| r.password);
    let (challenge_id, options) =
        flow::register_options(&state, &state.passkeys, &auth.caller, password, &client).await?;
    Ok(Json(PasskeyOptions::new(
        &options.public_key,
        challenge_id,
    )?))
}

/// An optional body with the current password (step-up).
#[derive(Deserialize, utoipa::ToSchema)]
struct StepUpRequest {
    /// Needed when the session is not fresh.
    password: Option<String>,
}

/// `credential` and `friendlyName` are the shared auth client's names;
/// `response` and `name` (the framework's) are accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegisterVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    #[serde(default)]
    response: Value,
    friendly_name: Option<String>,
    name: Option<String>,
}

#[utoipa::path(
    post, path = "/register/verify", request_body = RegisterVerifyRequest,
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new passkey, also under `passkey`", body = RegisteredPasskey),
        (status = 404, description = "PASSKEY_NOT_ENABLED or no such challenge", body = ErrorEnvelope),
        (status = 409, description = "the credential is registered already", body = ErrorEnvelope)
    )
)]
async fn post_register_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    AppJson(req): AppJson<RegisterVerifyRequest>,
) -> Result<Json<RegisteredPasskey>> {
    require_enabled(&state)?;
    let credential: RegisterPublicKeyCredential =
        parse_credential(either(req.credential, req.response))?;
    let uid = claims.sub.clone();
    let passkey = flow::register_verify(
        &state,
        &state.passkeys,
        claims.sub,
        &req.challenge_id,
        credential,
        req.friendly_name.or(req.name),
        client,
    )
    .await?;
    Ok(Json(RegisteredPasskey {
        fields: ListedPasskey::new(&passkey, &uid),
        passkey: ListedPasskey::new(&passkey, &uid),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AuthOptionsRequest {
    email: Option<String>,
}

#[utoipa::path(
    post, path = "/authenticate/options", request_body = Option<AuthOptionsRequest>,
    tag = "passkeys",
    responses(
        (status = 200, description = "The WebAuthn request options", body = PasskeyOptions),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_authenticate_options(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<AuthOptionsRequest>,
) -> Result<Json<PasskeyOptions>> {
    require_enabled(&state)?;
    let scope = match req.and_then(|r| r.email) {
        Some(email) => flow::Scope::Email(email),
        None => flow::Scope::Anyone,
    };
    let (challenge_id, options) = flow::auth_options(&state, &state.passkeys, scope).await?;
    Ok(Json(PasskeyOptions::new(
        &options.public_key,
        challenge_id,
    )?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuthVerifyRequest {
    challenge_id: String,
    #[serde(default)]
    credential: Value,
    /// The framework's name for `credential`.
    #[serde(default)]
    response: Value,
}

/// The first of two spellings that was sent.
fn either(first: Value, second: Value) -> Value {
    if first.is_null() {
        second
    } else {
        first
    }
}

#[utoipa::path(
    post, path = "/authenticate/verify", request_body = AuthVerifyRequest,
    tag = "passkeys",
    responses(
        (status = 200, description = "Signed in; sets the session cookie", body = SignedInBody),
        (status = 401, description = "PASSKEY_VERIFICATION_FAILED or TWO_FACTOR_REQUIRED", body = ErrorEnvelope),
        (status = 403, description = "EMAIL_NOT_VERIFIED or locked", body = ErrorEnvelope),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = ErrorEnvelope),
        (status = 429, description = "ACCOUNT_LOCKED or RATE_LIMITED", body = ErrorEnvelope)
    )
)]
async fn post_authenticate_verify(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<AuthVerifyRequest>,
) -> Result<Response> {
    require_enabled(&state)?;
    let credential: PublicKeyCredential = parse_credential(either(req.credential, req.response))?;
    let signed = flow::auth_verify(
        &state,
        &state.passkeys,
        &req.challenge_id,
        credential,
        client,
    )
    .await?;
    Ok(super::auth::signed_in_response(&state, signed))
}

/// `friendlyName` is the shared auth client's name; `name` the framework's.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RenameRequest {
    name: Option<String>,
    friendly_name: Option<String>,
}

#[utoipa::path(
    patch, path = "/{id}", request_body = RenameRequest, params(("id" = String, Path, description = "passkey id")),
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed passkey", body = RenamedPasskey)
    )
)]
async fn patch_passkey(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(req): AppJson<RenameRequest>,
) -> Result<Json<RenamedPasskey>> {
    let uid = claims.sub.clone();
    let passkey = flow::rename(&state, claims.sub, id, req.friendly_name.or(req.name)).await?;
    Ok(Json(RenamedPasskey {
        passkey: ListedPasskey::new(&passkey, &uid),
    }))
}

/// A renamed passkey.
#[derive(Serialize, ToSchema)]
struct RenamedPasskey {
    passkey: ListedPasskey,
}

#[utoipa::path(
    delete, path = "/{id}", params(("id" = String, Path, description = "passkey id")),
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = PasskeyDeleted)
    )
)]
async fn delete_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<PasskeyDeleted>> {
    flow::delete(&state, claims.sub, id, client).await?;
    Ok(Json(PasskeyDeleted {
        status: true,
        success: true,
    }))
}

/// `{status: true, success: true}` (the framework's and the client's).
#[derive(Serialize, ToSchema)]
struct PasskeyDeleted {
    status: bool,
    success: bool,
}
