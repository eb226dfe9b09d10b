//! Public key discovery: JWKS and the OpenID configuration.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::token::Jwks;
use crate::state::AppState;

/// The OpenID discovery document (snake_case, as the standard names it).
#[derive(Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    claims_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    issuer: String,
    jwks_uri: String,
    response_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    token_endpoint: String,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
}

/// `GET /api/auth/jwks`, `/.well-known/jwks.json`, `/api/v1/auth/jwks`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "The public signing keys (JWKS)", body = Jwks)))]
pub async fn get_jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=300")],
        Json(state.tokens.jwks(state.now())),
    )
}

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "meta", responses((status = 200, description = "OpenID discovery document", body = OpenIdConfiguration)))]
pub async fn get_openid_configuration(State(state): State<AppState>) -> Json<OpenIdConfiguration> {
    let issuer = state.tokens.issuer().to_owned();
    Json(OpenIdConfiguration {
        claims_supported: vec![
            "sub", "email", "role", "sid", "tier", "iss", "aud", "iat", "exp",
        ],
        id_token_signing_alg_values_supported: vec!["EdDSA"],
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["public"],
        token_endpoint: format!("{issuer}/api/v1/auth/refresh"),
        token_endpoint_auth_signing_alg_values_supported: vec!["EdDSA"],
        issuer,
    })
}
