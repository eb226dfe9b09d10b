//! `/api/auth/passkey/*`: passkeys over `passkeys::flow`.
//!
//! The framework's client sends only the WebAuthn response to the verify
//! routes; the ceremony is found through a cookie. Ours live in memory
//! keyed by a challenge id (single use, 5 minutes), so the generate routes
//! put that id in the `mana.better-auth-passkey` cookie (the framework's
//! name; HttpOnly, 5 minutes) and the verify routes read it back.
//!
//! Passkey objects have the framework's fields except `publicKey`: we store
//! the parsed credential, not the COSE key bytes, so it is left out.

use crate::http::openapi::routes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::session::signed_in_cookies;
use super::wire::{
    BaPasskey, BaPasskeyBody, BaRegisteredPasskey, BaSession, BaSessionAndUser, BaStatus,
};
use super::{optional_auth, BaAuth, BaError, BaJson, BaQuery, BaResult};
use crate::audit::ClientInfo;
use crate::auth;
use crate::error::{ApiError, ErrorCode, Refusal};
use crate::http::cookie;
use crate::http::extract;
use crate::http::ratelimit::{guarded, Bucket};
use crate::passkeys::store;
use crate::passkeys::{flow, CEREMONY_TTL};
use crate::state::AppState;
use crate::users::store as users;

/// The cookie that carries the ceremony's challenge id.
pub const CHALLENGE_COOKIE: &str = "mana.better-auth-passkey";

/// Routes under `/api/auth/passkey`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_generate_register_options))
        .routes(routes!(post_verify_registration))
        .merge(guarded(
            OpenApiRouter::new().routes(routes!(get_generate_authenticate_options)),
            state,
            Bucket::PasskeyOptions,
            super::refusal,
        ))
        .routes(routes!(post_verify_authentication))
        .routes(routes!(get_list_user_passkeys))
        .routes(routes!(post_update_passkey))
        .routes(routes!(post_delete_passkey))
}

/// Which route a refusal is answered for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Register,
    Authenticate,
    Manage,
}

fn challenge_not_found() -> BaError {
    BaError::bad_request("CHALLENGE_NOT_FOUND", "Challenge not found")
}

fn passkey_not_found(status: StatusCode) -> BaError {
    BaError::new(status, "PASSKEY_NOT_FOUND", "Passkey not found")
}

fn registration_failed() -> BaError {
    BaError::bad_request(
        "FAILED_TO_VERIFY_REGISTRATION",
        "Failed to verify registration",
    )
}

fn authentication_failed() -> BaError {
    BaError::bad_request("AUTHENTICATION_FAILED", "Authentication failed")
}

/// One of our refusals in the framework's words.
fn refused(e: ApiError, route: Route) -> BaError {
    if e.code == ErrorCode::PasskeyVerificationFailed {
        return if e.refusal == Some(Refusal::PasskeyChallenge) {
            challenge_not_found()
        } else if e.refusal == Some(Refusal::PasskeyOtherSession) {
            BaError::new(
                StatusCode::UNAUTHORIZED,
                "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY",
                "You are not allowed to register this passkey",
            )
        } else if e.refusal == Some(Refusal::PasskeyNotRegistered) {
            passkey_not_found(StatusCode::UNAUTHORIZED)
        } else if route == Route::Register {
            registration_failed()
        } else {
            authentication_failed()
        };
    }
    match e.code {
        ErrorCode::NotFound if route == Route::Manage => passkey_not_found(StatusCode::NOT_FOUND),
        ErrorCode::Conflict if route == Route::Register => {
            BaError::bad_request("PREVIOUSLY_REGISTERED", "Previously registered")
        }
        _ => e.into(),
    }
}

fn require_enabled(state: &AppState) -> BaResult<()> {
    if state.passkeys.enabled() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::PasskeyNotEnabled,
        "passkeys are not configured on this server",
    )
    .into())
}

/// The challenge id from the ceremony cookie.
fn challenge_id(headers: &HeaderMap) -> BaResult<String> {
    extract::cookie(headers, CHALLENGE_COOKIE).ok_or_else(challenge_not_found)
}

/// Options with the cookie that names their ceremony.
fn with_challenge(state: &AppState, challenge_id: &str, options: impl Serialize) -> Response {
    let mut headers = HeaderMap::new();
    cookie::append(
        &mut headers,
        &state.config,
        CHALLENGE_COOKIE,
        challenge_id,
        Some(CEREMONY_TTL.num_seconds()),
    );
    (headers, Json(options)).into_response()
}

/// WebAuthn creation options (`PublicKeyCredentialCreationOptionsJSON`)
/// as the browser's `navigator.credentials.create` takes them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BaCreationOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    attestation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    attestation_formats: Option<Value>,
    /// `{authenticatorAttachment?, residentKey, requireResidentKey,
    /// userVerification}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    authenticator_selection: Option<Value>,
    /// base64url.
    #[schema(value_type = String)]
    challenge: Value,
    /// `[{type, id, transports?}]`: the caller's passkeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    exclude_credentials: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    extensions: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    hints: Option<Value>,
    /// `[{type, alg}]`.
    #[schema(value_type = Vec<Object>)]
    pub_key_cred_params: Value,
    /// `{id, name}`.
    #[schema(value_type = Object)]
    rp: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
    /// `{id, name, displayName}`.
    #[schema(value_type = Object)]
    user: Value,
}

/// Each part as `serde_json` writes it.
fn json_of<T: Serialize>(part: &T) -> serde_json::Result<Value> {
    serde_json::to_value(part)
}

fn json_opt<T: Serialize>(part: &Option<T>) -> serde_json::Result<Option<Value>> {
    part.as_ref().map(json_of).transpose()
}

impl BaCreationOptions {
    fn new(o: webauthn_rs_proto::PublicKeyCredentialCreationOptions) -> serde_json::Result<Self> {
        Ok(Self {
            attestation: json_opt(&o.attestation)?,
            attestation_formats: json_opt(&o.attestation_formats)?,
            authenticator_selection: json_opt(&o.authenticator_selection)?,
            challenge: json_of(&o.challenge)?,
            exclude_credentials: json_opt(&o.exclude_credentials)?,
            extensions: json_opt(&o.extensions)?,
            hints: json_opt(&o.hints)?,
            pub_key_cred_params: json_of(&o.pub_key_cred_params)?,
            rp: json_of(&o.rp)?,
            timeout: o.timeout,
            user: json_of(&o.user)?,
        })
    }
}

/// WebAuthn request options (`PublicKeyCredentialRequestOptionsJSON`) as
/// the browser's `navigator.credentials.get` takes them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BaRequestOptions {
    /// `[{type, id, transports?}]`: empty for a discoverable sign-in.
    #[schema(value_type = Vec<Object>)]
    allow_credentials: Value,
    /// base64url.
    #[schema(value_type = String)]
    challenge: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    extensions: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    hints: Option<Value>,
    rp_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
    #[schema(value_type = String)]
    user_verification: Value,
}

impl BaRequestOptions {
    fn new(o: webauthn_rs_proto::PublicKeyCredentialRequestOptions) -> serde_json::Result<Self> {
        Ok(Self {
            allow_credentials: json_of(&o.allow_credentials)?,
            challenge: json_of(&o.challenge)?,
            extensions: json_opt(&o.extensions)?,
            hints: json_opt(&o.hints)?,
            rp_id: o.rp_id,
            timeout: o.timeout,
            user_verification: json_of(&o.user_verification)?,
        })
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterOptionsQuery {
    /// `platform` or `cross-platform`: which authenticators the browser
    /// offers.
    authenticator_attachment: Option<String>,
    /// The account name the authenticator shows (default: the email).
    name: Option<String>,
    /// Accepted and ignored.
    #[allow(dead_code)]
    context: Option<String>,
}

#[utoipa::path(
    get, path = "/generate-register-options", params(RegisterOptionsQuery),
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "WebAuthn creation options (`challenge`, `rp`, `user`, `pubKeyCredParams`, `excludeCredentials`, `authenticatorSelection`, …); sets the `mana.better-auth-passkey` cookie", body = BaCreationOptions),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "SESSION_NOT_FRESH", body = super::BaErrorBody),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn get_generate_register_options(
    State(state): State<AppState>,
    client: crate::audit::ClientInfo,
    auth: BaAuth,
    BaQuery(q): BaQuery<RegisterOptionsQuery>,
) -> BaResult<Response> {
    require_enabled(&state)?;
    let attachment = match q.authenticator_attachment.as_deref() {
        None => None,
        Some(a @ ("platform" | "cross-platform")) => Some(a.to_owned()),
        Some(_) => {
            return Err(BaError::bad_request(
                "VALIDATION_ERROR",
                "[query.authenticatorAttachment] Invalid option: expected one of \"platform\"|\"cross-platform\"",
            ))
        }
    };
    let caller = crate::auth::caller::Caller {
        session: auth.session,
        user: auth.user,
    };
    let (id, ccr) = flow::register_options(&state, &state.passkeys, &caller, None, &client)
        .await
        .map_err(|e| refused(e, Route::Register))?;
    let mut options = BaCreationOptions::new(ccr.public_key).map_err(ApiError::from)?;
    if let Some(a) = attachment {
        let selection = options.authenticator_selection.get_or_insert(Value::Null);
        selection["authenticatorAttachment"] = json!(a);
    }
    if let Some(name) = q.name.filter(|n| !n.trim().is_empty()) {
        options.user["name"] = json!(name);
    }
    Ok(with_challenge(&state, &id, options))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistrationBody {
    /// The browser's `RegistrationResponseJSON`.
    #[serde(default)]
    #[schema(value_type = Object)]
    response: Value,
    /// The passkey's name (default `Passkey`).
    name: Option<String>,
    /// Also open a new session (cookie, and `session` and `user` in the
    /// answer).
    create_session: Option<bool>,
}

#[utoipa::path(
    post, path = "/verify-registration", request_body = RegistrationBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The passkey object (`id, name, userId, credentialID, counter, deviceType, backedUp, transports, createdAt, aaguid`); with `createSession`, also `session` and `user` and the session cookie", body = BaRegisteredPasskey),
        (status = 400, description = "CHALLENGE_NOT_FOUND, FAILED_TO_VERIFY_REGISTRATION, PREVIOUSLY_REGISTERED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED, YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN, or the account is locked by an administrator", body = super::BaErrorBody),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_verify_registration(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    auth: BaAuth,
    BaJson(body): BaJson<RegistrationBody>,
) -> BaResult<Response> {
    require_enabled(&state)?;
    let challenge = challenge_id(&headers)?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(body.response).map_err(|_| registration_failed())?;
    let user_id = auth.user.id.clone();
    let passkey = flow::register_verify(
        &state,
        &state.passkeys,
        user_id.clone(),
        &challenge,
        credential,
        body.name,
        client.clone(),
    )
    .await
    .map_err(|e| refused(e, Route::Register))?;
    let out = BaPasskey::new(&passkey, &user_id);
    if body.create_session != Some(true) {
        return Ok(Json(BaRegisteredPasskey::new(out, None, None)).into_response());
    }
    let uid = user_id.clone();
    let user = state
        .db
        .read(move |c| users::by_id(c, &uid))
        .await?
        .ok_or_else(BaError::unauthorized)?;
    let signed = auth::start_session(&state, user, client, None).await?;
    let out = BaRegisteredPasskey::new(
        out,
        Some(BaSession::new(&signed.session, Some(&signed.session_token))),
        Some(signed.user.clone().into()),
    );
    let cookies = signed_in_cookies(&state, &signed, true);
    Ok((cookies, Json(out)).into_response())
}

#[utoipa::path(
    get, path = "/generate-authenticate-options",
    tag = "better-auth",
    security((), ("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "WebAuthn request options (`challenge`, `rpId`, `timeout`, `userVerification`, and `allowCredentials` when signed in with passkeys); sets the `mana.better-auth-passkey` cookie", body = BaRequestOptions),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn get_generate_authenticate_options(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> BaResult<Response> {
    require_enabled(&state)?;
    // Signed in: limited to the caller's passkeys, as the framework does.
    let scope = match optional_auth(&state, &headers, &client).await? {
        Some(a) => flow::Scope::SignedIn(a.user.id),
        None => flow::Scope::Anyone,
    };
    let (id, rcr) = flow::auth_options(&state, &state.passkeys, scope)
        .await
        .map_err(|e| refused(e, Route::Authenticate))?;
    let options = BaRequestOptions::new(rcr.public_key).map_err(ApiError::from)?;
    Ok(with_challenge(&state, &id, options))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AuthenticationBody {
    /// The browser's `AuthenticationResponseJSON`.
    #[serde(default)]
    #[schema(value_type = Object)]
    response: Value,
}

#[utoipa::path(
    post, path = "/verify-authentication", request_body = AuthenticationBody,
    tag = "better-auth",
    responses(
        (status = 200, description = "`{session, user}`; sets the session cookie", body = BaSessionAndUser),
        (status = 400, description = "CHALLENGE_NOT_FOUND, AUTHENTICATION_FAILED, VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "PASSKEY_NOT_FOUND", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN, or the account is locked by an administrator", body = super::BaErrorBody),
        (status = 404, description = "PASSKEY_NOT_ENABLED", body = super::BaErrorBody),
        (status = 429, description = "RATE_LIMITED: the passkey is blocked after failed attempts", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_verify_authentication(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    BaJson(body): BaJson<AuthenticationBody>,
) -> BaResult<Response> {
    require_enabled(&state)?;
    let challenge = challenge_id(&headers)?;
    let credential: PublicKeyCredential = match serde_json::from_value(body.response.clone()) {
        Ok(c) => c,
        Err(_) => return Err(unreadable_assertion(&state, &challenge, &body.response).await),
    };
    let signed = flow::auth_verify(&state, &state.passkeys, &challenge, credential, client)
        .await
        .map_err(|e| refused(e, Route::Authenticate))?;
    let cookies = signed_in_cookies(&state, &signed, true);
    let out = BaSessionAndUser {
        session: BaSession::new(&signed.session, Some(&signed.session_token)),
        user: signed.user.clone().into(),
    };
    Ok((cookies, Json(out)).into_response())
}

/// The answer to a response that is no WebAuthn assertion, in the
/// framework's order: the ceremony is used up (CHALLENGE_NOT_FOUND if
/// there is none), then an unknown credential id is PASSKEY_NOT_FOUND and a
/// known one AUTHENTICATION_FAILED.
async fn unreadable_assertion(state: &AppState, challenge: &str, response: &Value) -> BaError {
    if state.passkeys.auth_take(challenge, state.now()).is_err() {
        return challenge_not_found();
    }
    let Some(id) = response
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return passkey_not_found(StatusCode::UNAUTHORIZED);
    };
    match state
        .db
        .read(move |c| store::by_credential_id(c, &id))
        .await
    {
        Ok(Some(_)) => authentication_failed(),
        Ok(None) => passkey_not_found(StatusCode::UNAUTHORIZED),
        Err(e) => e.into(),
    }
}

#[utoipa::path(
    get, path = "/list-user-passkeys",
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's passkey objects (`[]` if none)", body = Vec<BaPasskey>),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody)
    )
)]
pub(crate) async fn get_list_user_passkeys(
    State(state): State<AppState>,
    auth: BaAuth,
) -> BaResult<Json<Vec<BaPasskey>>> {
    let user_id = auth.user.id;
    let uid = user_id.clone();
    let list = state.db.read(move |c| store::list(c, &uid)).await?;
    Ok(Json(
        list.iter().map(|p| BaPasskey::new(p, &user_id)).collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdatePasskeyBody {
    id: String,
    name: String,
}

#[utoipa::path(
    post, path = "/update-passkey", request_body = UpdatePasskeyBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{passkey}`", body = BaPasskeyBody),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 404, description = "PASSKEY_NOT_FOUND (also for another user's passkey)", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_update_passkey(
    State(state): State<AppState>,
    auth: BaAuth,
    BaJson(body): BaJson<UpdatePasskeyBody>,
) -> BaResult<Json<BaPasskeyBody>> {
    let user_id = auth.user.id;
    let passkey = flow::rename(&state, user_id.clone(), body.id, Some(body.name))
        .await
        .map_err(|e| refused(e, Route::Manage))?;
    Ok(Json(BaPasskeyBody {
        passkey: BaPasskey::new(&passkey, &user_id),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DeleteBody {
    id: String,
}

#[utoipa::path(
    post, path = "/delete-passkey", request_body = DeleteBody,
    tag = "better-auth",
    security(("sessionCookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`{status: true}`", body = BaStatus),
        (status = 400, description = "VALIDATION_ERROR", body = super::BaErrorBody),
        (status = 401, description = "UNAUTHORIZED", body = super::BaErrorBody),
        (status = 403, description = "INVALID_ORIGIN, MISSING_OR_NULL_ORIGIN", body = super::BaErrorBody),
        (status = 404, description = "PASSKEY_NOT_FOUND (also for another user's passkey)", body = super::BaErrorBody)
    )
)]
pub(crate) async fn post_delete_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    auth: BaAuth,
    BaJson(body): BaJson<DeleteBody>,
) -> BaResult<Json<BaStatus>> {
    flow::delete(&state, auth.user.id, body.id, client)
        .await
        .map_err(|e| refused(e, Route::Manage))?;
    Ok(Json(BaStatus::TRUE))
}
