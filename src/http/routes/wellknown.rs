//! Public key discovery: JWKS and the OpenID configuration.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// `GET /api/auth/jwks`, `/.well-known/jwks.json`, `/api/v1/auth/jwks`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "The public signing keys (JWKS)", body = Object)))]
pub async fn get_jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=300")],
        Json(state.tokens.jwks(state.now())),
    )
}

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "meta", responses((status = 200, description = "OpenID discovery document", body = Object)))]
pub async fn get_openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = state.tokens.issuer().to_owned();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/api/v1/auth/refresh"),
        "subject_types_supported": ["public"],
        "response_types_supported": ["token"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "claims_supported": ["sub", "email", "role", "sid", "tier", "iss", "aud", "iat", "exp"],
    }))
}
