//! The OpenAPI 3.1 document of the whole HTTP API, generated from the code:
//! each handler carries a `#[utoipa::path]` annotation and is registered once,
//! with [`routes!`], on a `utoipa_axum` `OpenApiRouter` (`http::api_router`).
//! Served at `GET /api/openapi.json`.
//!
//! The document is built on its first request, not at start-up: building it
//! takes ≈6 MiB of heap at its peak and runs much code that nothing else
//! needs, and the heap and the code pages stay resident after it. The
//! serving router is built by the same registrations with the operations
//! left out ([`routes!`] asks a handler for its path and methods only),
//! the document by running them again with the operations in
//! ([`document`]).
//!
//! The error answers every operation can give are added by [`finish`] from
//! what the operation takes (a JSON body: 400/413/415; parameters: 400; a
//! path parameter: 404; a credential: 401; the database: 503); the ones only
//! some handlers give (403, 409, 410, 429, …) sit on the handler itself.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::ErrorEnvelope;
use super::routes::better_auth::BaErrorBody;
use crate::state::AppState;

thread_local! {
    /// True while [`document`] runs the registrations on this thread.
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
}

/// Whether [`routes!`] is to build the operations (only while the document
/// is being built).
pub fn collecting() -> bool {
    COLLECTING.with(Cell::get)
}

/// `utoipa_axum::routes!` while the document is being built; else the same
/// method router on the same path(s) without the operations and their
/// schemas (an empty path item per path: `OpenApiRouter::routes` routes by
/// the paths' keys).
macro_rules! routes {
    ( $( $($seg:ident)::+ ),+ $(,)? ) => {
        if $crate::http::openapi::collecting() {
            utoipa_axum::routes!( $( $($seg)::+ ),+ )
        } else {
            #[allow(unused_imports)]
            use utoipa_axum::PathItemExt as _;
            let mut paths = utoipa::openapi::path::Paths::new();
            let mut router = axum::routing::MethodRouter::new();
            $(
                let path: String = utoipa_axum::routes!(@path [path()] of $($seg)::+);
                for method in utoipa_axum::routes!(@path [methods()] of $($seg)::+) {
                    router = router.on(method.to_method_filter(), $($seg)::+);
                }
                paths
                    .paths
                    .insert(path, utoipa::openapi::path::PathItem::default());
            )+
            (Vec::new(), paths, router)
        }
    };
}
pub(crate) use routes;

/// What the document says about itself; the router adds the operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mana-auth",
        description = "Authentication and tenancy server. Errors use the envelope \
                       `{error, message, status, retryAfterSec?}` (schema ErrorEnvelope)."
    ),
    components(schemas(ErrorEnvelope, BaErrorBody))
)]
struct ApiDoc;

/// The document before the router's operations are added.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Completes the document the router collected: catch-all paths named as
/// parameters, the security schemes, the error answers.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    // axum's catch-all `{*rest}` is the parameter `{rest}` in OpenAPI.
    let catch_alls: Vec<String> = api
        .paths
        .paths
        .keys()
        .filter(|p| p.contains("{*"))
        .cloned()
        .collect();
    for path in catch_alls {
        if let Some(item) = api.paths.paths.remove(&path) {
            api.paths.paths.insert(path.replace("{*", "{"), item);
        }
    }
    Security.modify(&mut api);
    Errors.modify(&mut api);
    api
}

/// The finished document as JSON, built on its first request.
pub type Document = Arc<OnceLock<String>>;

/// The finished document: every registration of `http::api_router` run
/// again with its operation, plus this route's own.
pub fn document(state: &AppState) -> String {
    /// Ends the collecting, even should a registration unwind.
    struct Collecting;
    impl Drop for Collecting {
        fn drop(&mut self) {
            COLLECTING.with(|c| c.set(false));
        }
    }
    COLLECTING.with(|c| c.set(true));
    let guard = Collecting;
    let (_, api) = super::api_router(state)
        .routes(routes!(get_openapi))
        .split_for_parts();
    drop(guard);
    finish(api).to_json().unwrap_or_else(|_| "{}".to_owned())
}

/// The top level of an OpenAPI 3.1 document: the shape `GET
/// /api/openapi.json` answers with. The body itself is the text
/// [`document`] builds on the first request.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OpenApiDocument {
    /// `3.1.0`.
    openapi: String,
    #[schema(value_type = Object)]
    info: (),
    #[schema(value_type = Object)]
    paths: (),
    #[schema(value_type = Option<Object>)]
    components: (),
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = OpenApiDocument))
)]
pub async fn get_openapi(
    State(state): State<AppState>,
    Extension(doc): Extension<Document>,
) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        doc.get_or_init(|| document(&state)).clone(),
    )
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
