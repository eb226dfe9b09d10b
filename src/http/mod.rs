//! The router and its layers: request ids, structured request logs (path
//! only, never the query string, which may carry tokens), CORS, security
//! headers, a panic guard, and envelope answers for unknown routes and
//! methods.

pub mod cookie;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod ratelimit;
pub mod routes;
pub mod serve;
pub mod upstream;

use std::any::Any;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use openapi::routes;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state);
    let timeout_secs = state.config.request_timeout_secs.max(1);
    // HSTS only where BASE_URL says the public face is https: a browser
    // then never sends a cookie or a password to this host in clear again.
    // Not for subdomains: this server cannot speak for its siblings.
    let hsts = state
        .config
        .base_url()
        .starts_with("https://")
        .then(|| HeaderValue::from_static("max-age=31536000"));
    let edge = Edge {
        state: state.clone(),
        timeout: std::time::Duration::from_secs(timeout_secs),
        hsts,
    };
    // The document is built on its first request (see `openapi`).
    let (router, _) = api_router(&state)
        .routes(routes!(openapi::get_openapi).layer(Extension(openapi::Document::default())))
        .split_for_parts();
    router
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this route")
        })
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), per_route))
        .with_state(state)
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(edge, edge_layer))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// Every route of the API, each registered once with its OpenAPI operation
/// (built only while `openapi::document` runs this).
pub fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(if openapi::collecting() {
        openapi::base()
    } else {
        utoipa::openapi::OpenApi::default()
    })
    .routes(routes!(routes::health::get_health))
    .routes(routes!(routes::health::get_ready))
    .routes(routes!(metrics::get_metrics))
    .routes(routes!(routes::wellknown::get_jwks))
    .routes(routes!(routes::wellknown::get_openid_configuration))
    .nest("/api/auth", routes::better_auth::router(state))
    .nest("/api/v1/auth/passkeys", routes::passkeys::router(state))
    .nest("/api/v1/auth", routes::auth::router(state))
    .nest("/api/v1/gilden", routes::spaces::router())
    .nest("/api/v1/me", routes::me::router())
    .nest("/api/v1/settings", routes::settings::router())
    .nest("/api/v1/api-keys", routes::api_keys::router(state))
    .nest("/api/v1/internal", routes::internal::router())
    .nest("/api/v1/admin", routes::admin::router())
    .merge(page::router())
    .nest("/sync", routes::sync::router())
}

/// A random (version 4) UUID for each request without an id of its own,
/// drawn from the thread's userspace generator: `Uuid::new_v4` asks the
/// OS for every one (a system call per request). A request id needs to be
/// unique, not secret.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// Requests with more header fields than this are refused with 431.
pub const MAX_HEADERS: usize = 100;
/// Requests whose header names and values sum to more than this are
/// refused with 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's own hard limits, above ours so that ours answer first.
pub(crate) const HYPER_MAX_HEADERS: usize = 1024;
pub(crate) const HYPER_MAX_BUF: usize = 256 * 1024;

/// What the edge layer needs.
#[derive(Clone)]
struct Edge {
    state: AppState,
    timeout: std::time::Duration,
    hsts: Option<HeaderValue>,
}

/// Security headers every answer of the router carries unless its handler
/// set them: (name, value).
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// The layers in front of the router, in one (each `from_fn` layer boxes
/// and clones the whole service inside it on every request): the CSRF
/// origin check, the header flood limit, the request timeout, and the
/// security headers on whatever the router answers.
async fn edge_layer(
    axum::extract::State(edge): axum::extract::State<Edge>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(refused) = routes::better_auth::origin_refusal(&edge.state, &req) {
        return refused;
    }
    if let Some(refused) = too_many_headers(&req) {
        return refused;
    }
    // A client that sends its body slowly, or a stuck handler, ends with
    // 408 after REQUEST_TIMEOUT_SECS.
    let Ok(mut response) = tokio::time::timeout(edge.timeout, next.run(req)).await else {
        return ApiError::new(ErrorCode::RequestTimeout, "the request took too long")
            .into_response();
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    if let Some(hsts) = edge.hsts {
        if !headers.contains_key(STRICT_TRANSPORT_SECURITY) {
            headers.insert(STRICT_TRANSPORT_SECURITY, hsts);
        }
    }
    response
}

/// The layer of every matched route: `mana.*` cookies without their
/// `__Secure-` name are dropped where cookies are secure, then the request
/// is counted and timed by its route template.
async fn per_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: axum::middleware::Next,
) -> Response {
    extract::secure_cookie_names(&state, &mut req);
    metrics::track(&state, req, next).await
}

/// Refuses header floods in the error envelope.
fn too_many_headers(req: &Request) -> Option<Response> {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(
            ApiError::new(
                ErrorCode::HeadersTooLarge,
                format!(
                    "at most {MAX_HEADERS} header fields and {MAX_HEADER_BYTES} bytes of headers are accepted"
                ),
            )
            .into_response(),
        );
    }
    None
}

fn on_panic(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::internal("handler panicked").into_response()
}

fn cors(state: &AppState) -> CorsLayer {
    let origins: Vec<HeaderValue> = state
        .config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_headers([
            CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static("x-service-key"),
            HeaderName::from_static("x-app-id"),
        ])
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .expose_headers([
            REQUEST_ID,
            axum::http::header::RETRY_AFTER,
            HeaderName::from_static("set-auth-jwt"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}
