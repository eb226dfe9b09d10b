//! The OpenAPI 3.1 document of the whole HTTP API, generated from the code:
//! each handler carries a `#[utoipa::path]` annotation, each route module an
//! `OpenApi` list of its handlers, nested here under the prefix the router
//! nests it under. Served at `GET /api/openapi.json`.
//!
//! The error answers every operation can give are added by [`Errors`] from
//! what the operation takes (a JSON body: 400/413/415; parameters: 400; a
//! path parameter: 404; a credential: 401; the database: 503); the ones only
//! some handlers give (403, 409, 410, 429, …) sit on the handler itself.

use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::routes;

/// The error envelope of SPEC §10 (documentation twin of `http::error::Envelope`).
/// Some answers add fields (a sign-in that needs a second factor adds
/// `twoFactorTicket`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// The error code, e.g. `VALIDATION`, `UNAUTHORIZED`, `RATE_LIMITED`.
    pub error: String,
    /// Text for humans; never internal detail.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// Seconds until a retry can succeed (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = u64)]
    pub retry_after_sec: Option<u64>,
}

/// The whole document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mana-auth",
        description = "Authentication and tenancy server. Errors use the envelope \
                       `{error, message, status, retryAfterSec?}` (schema ErrorEnvelope)."
    ),
    paths(
        routes::health::get_health,
        routes::health::get_ready,
        super::metrics::get_metrics,
        routes::wellknown::get_jwks,
        routes::wellknown::get_openid_configuration,
        get_openapi,
        super::page::get_index,
        super::page::get_asset,
        super::page::get_login,
        super::page::get_login_asset,
    ),
    components(schemas(ErrorEnvelope, routes::better_auth::BaErrorBody)),
    nest(
        (path = "/api/auth", api = routes::better_auth::session::Doc),
        (path = "/api/auth", api = routes::better_auth::account::Doc),
        (path = "/api/auth", api = routes::better_auth::email_flows::Doc),
        (path = "/api/auth/organization", api = routes::better_auth::organization::Doc),
        (path = "/api/v1/auth/passkeys", api = routes::passkeys::Doc),
        (path = "/api/v1/auth", api = routes::auth::Doc),
        (path = "/api/v1/auth", api = routes::account::Doc),
        (path = "/api/v1/auth/two-factor", api = routes::two_factor::Doc),
        (path = "/api/auth/two-factor", api = routes::better_auth::two_factor::Doc),
        (path = "/api/auth", api = routes::better_auth::magic_link::Doc),
        (path = "/api/auth/passkey", api = routes::better_auth::passkey::Doc),
        (path = "/api/v1/gilden", api = routes::spaces::Doc),
        (path = "/api/v1/me", api = routes::me::Doc),
        (path = "/api/v1/me/encryption-vault", api = routes::vault::Doc),
        (path = "/api/v1/me/ai-mission-grant", api = routes::mission_grant::Doc),
        (path = "/api/v1/settings", api = routes::settings::Doc),
        (path = "/api/v1/api-keys", api = routes::api_keys::Doc),
        (path = "/api/v1/internal", api = routes::internal::Doc),
        (path = "/api/v1/internal/personas", api = routes::internal_personas::Doc),
        (path = "/api/v1/admin/personas", api = routes::admin_personas::Doc),
        (path = "/api/v1/admin/retention", api = routes::admin_retention::Doc),
        (path = "/api/v1/admin", api = routes::admin::Doc),
        (path = "/sync", api = routes::sync::Doc),
    ),
    modifiers(&Aliases, &Security, &Errors),
)]
pub struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned())
});

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn get_openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// Handlers mounted on more than one path: the copies get their own
/// operation ids.
struct Aliases;

impl Modify for Aliases {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        // axum nests a module's "/" at the prefix itself (`/api/v1/gilden`),
        // utoipa appends it (`/api/v1/gilden/`).
        let trailing: Vec<String> = api
            .paths
            .paths
            .keys()
            .filter(|p| p.len() > 1 && p.ends_with('/'))
            .cloned()
            .collect();
        for path in trailing {
            if let Some(item) = api.paths.paths.remove(&path) {
                let trimmed = path.trim_end_matches('/').to_owned();
                api.paths.paths.insert(trimmed, item);
            }
        }
        let copies = [
            (
                "/.well-known/jwks.json",
                "/api/auth/jwks",
                "get_jwks_api_auth",
            ),
            ("/.well-known/jwks.json", "/api/v1/auth/jwks", "get_jwks_v1"),
            ("/admin", "/admin/", "get_index_slash"),
            (
                "/api/auth/request-password-reset",
                "/api/auth/forget-password",
                "post_forget_password",
            ),
            (
                "/api/v1/me/onboarding",
                "/api/v1/me/onboarding/",
                "get_onboarding_slash",
            ),
            (
                "/api/auth/sign-in/magic-link",
                "/api/auth/magic-link/send-magic-link",
                "post_send_magic_link",
            ),
        ];
        for (from, to, id) in copies {
            if let Some(mut item) = api.paths.paths.get(from).cloned() {
                for op in [item.get.as_mut(), item.post.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    op.operation_id = Some(id.to_owned());
                }
                api.paths.paths.insert(to.to_owned(), item);
            }
        }
    }
}

/// The three ways to present a credential.
struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("EdDSA access token from /login or /refresh"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "serviceKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Service-Key",
                "the shared key of the internal Mana services",
            ))),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::extract::SESSION_COOKIE,
                "the session cookie (`__Secure-` prefixed on HTTPS)",
            ))),
        );
    }
}

/// Adds the error answers an operation can give from its shape.
struct Errors;

/// The error body of a path: the framework's `{code, message}` under
/// `/api/auth/`, the envelope everywhere else.
fn error_schema(path: &str) -> &'static str {
    if path.starts_with("/api/auth/") {
        "BaErrorBody"
    } else {
        "ErrorEnvelope"
    }
}

fn envelope(schema: &str, description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            )
            .build(),
    )
}

fn add_errors(path: &str, op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path_param = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_query = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let has_body = op.request_body.is_some();
    let needs_credential = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && !s.iter().any(is_anonymous));
    let mut add = |status: &str, text: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| envelope(error_schema(path), text));
    };
    if has_body || has_query || has_path_param {
        add("400", "VALIDATION: a malformed body, field or parameter");
    }
    if has_body {
        add("413", "PAYLOAD_TOO_LARGE: the body is over the limit");
        add("415", "UNSUPPORTED_MEDIA_TYPE: the body is not JSON");
    }
    if has_path_param {
        add("404", "NOT_FOUND: no such resource");
    }
    if needs_credential {
        add("401", "UNAUTHORIZED / TOKEN_EXPIRED: no valid credential");
    }
    if path.starts_with("/api/v1/") || path.starts_with("/sync/") || path.starts_with("/api/auth/")
    {
        add("503", "SERVICE_UNAVAILABLE: the database is busy; retry");
    }
}

fn is_anonymous(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}

impl Modify for Errors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            for op in operations(item) {
                add_errors(path, op);
            }
            // The Origin check of the Better Auth surface refuses
            // cookie-carrying writes from foreign or missing origins.
            if path.starts_with("/api/auth/") {
                let writes = [
                    item.post.as_mut(),
                    item.put.as_mut(),
                    item.patch.as_mut(),
                    item.delete.as_mut(),
                ];
                for op in writes.into_iter().flatten() {
                    op.responses.responses.entry("403".to_owned()).or_insert_with(|| {
                        envelope(
                            "BaErrorBody",
                            "INVALID_ORIGIN / MISSING_OR_NULL_ORIGIN: a cookie-carrying write from a foreign or missing Origin",
                        )
                    });
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_the_envelope_and_the_schemes() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["serviceKey"]["name"], "X-Service-Key");
        let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
        let required: Vec<&str> = envelope["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["error", "message", "status"]);
    }
}
