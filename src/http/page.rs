//! The admin page: `static/admin/` compiled into the binary with rust-embed.
//! Only embedded files are served (any other path, `..` included, is a 404
//! envelope). Each answer carries its content type, a strong ETag (the
//! file's SHA-256), `Cache-Control: no-cache` (revalidate, then 304) and the
//! strict page headers: a CSP without inline script or style, no framing,
//! no referrer, no sniffing.

use crate::http::openapi::routes;
use utoipa_axum::router::OpenApiRouter;

use crate::http::routes::{alias, catch_all};
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(rust_embed::RustEmbed)]
#[folder = "static/admin/"]
struct Assets;

/// The sign-in page of `/login` (`static/login/`), served the same way.
#[derive(rust_embed::RustEmbed)]
#[folder = "static/login/"]
struct LoginAssets;

/// The Content-Security-Policy of every admin page answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/admin`, `/admin/` and `/admin/<asset>`; `/login` and `/login/<asset>`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_index))
        .routes(alias(routes!(get_index), "/admin/", "get_index_slash"))
        .routes(catch_all(routes!(get_asset), "/admin/{*path}"))
        .routes(routes!(get_login))
        .routes(catch_all(routes!(get_login_asset), "/login/{*path}"))
}

/// `GET /login`: the minimal sign-in form for OIDC-style flows. It posts to
/// `/api/auth/sign-in/email` and follows `callbackURL` (allowed origins only).
#[utoipa::path(get, path = "/login", tag = "better-auth", params(
    ("callbackURL" = Option<String>, Query, description = "where to go after signing in (an allowed origin or a path)")
), responses(
    (status = 200, description = "The sign-in page", body = String, content_type = "text/html"),
    (status = 304, description = "Not modified (If-None-Match)")
))]
pub(crate) async fn get_login(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // The page follows a callback only to these origins (its own is
    // always allowed): they are written into its meta tag.
    let Some(file) = LoginAssets::get("index.html") else {
        return ApiError::not_found("login page asset").into_response();
    };
    let origins = crate::email::allowed_origins(&state.config).join(" ");
    let html = String::from_utf8_lossy(&file.data).replace(
        r#"<meta name="mana-allowed-origins" content="">"#,
        &format!(
            r#"<meta name="mana-allowed-origins" content="{}">"#,
            crate::email::templates::escape(&origins)
        ),
    );
    let etag = {
        use sha2::Digest;
        format!("\"{}\"", hex::encode(sha2::Sha256::digest(html.as_bytes())))
    };
    respond(html.into_bytes(), "index.html", etag, &headers)
}

#[utoipa::path(get, path = "/login/{path}", tag = "better-auth", params(("path" = String, Path, description = "an embedded asset name")), responses(
    (status = 200, description = "The asset", content((String = "text/javascript"), (String = "text/css"), (String = "text/html"))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 404, description = "NOT_FOUND: no such asset", body = crate::http::error::ErrorEnvelope)
))]
pub(crate) async fn get_login_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve_from::<LoginAssets>(&path, &headers, "login page asset")
}

/// `GET /admin`: the page itself.
#[utoipa::path(get, path = "/admin", tag = "admin", responses(
    (status = 200, description = "The admin page", body = String, content_type = "text/html"),
    (status = 304, description = "Not modified (If-None-Match)")
))]
pub(crate) async fn get_index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

#[utoipa::path(get, path = "/admin/{path}", tag = "admin", params(("path" = String, Path, description = "an embedded asset name")), responses(
    (status = 200, description = "The asset", content(
        (String = "text/html"), (String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"),
        (String = "image/png"), (String = "image/x-icon"), (Object = "application/json"), (String = "application/octet-stream"))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 404, description = "NOT_FOUND: no such asset", body = crate::http::error::ErrorEnvelope)
))]
pub(crate) async fn get_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Total bytes of the embedded page assets (reported by the CLI `check`).
pub fn total_bytes() -> usize {
    Assets::iter()
        .filter_map(|p| Assets::get(&p).map(|f| f.data.len()))
        .sum()
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    serve_from::<Assets>(path, headers, "admin asset")
}

fn serve_from<A: rust_embed::RustEmbed>(path: &str, headers: &HeaderMap, what: &str) -> Response {
    // Names are matched exactly against the embedded set; nothing is read
    // from the file system, so `..` or absolute paths simply do not match.
    let Some(file) = A::get(path) else {
        return ApiError::not_found(what).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    respond(file.data.into_owned(), path, etag, headers)
}

/// An asset answer with its ETag (304 when the client has it) and the
/// strict page headers.
fn respond(data: Vec<u8>, path: &str, etag: String, headers: &HeaderMap) -> Response {
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(content_type(path)))],
            data,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_with_types() {
        assert!(Assets::get("index.html").is_some());
        assert!(Assets::get("admin.js").is_some());
        assert!(Assets::get("admin.css").is_some());
        assert!(Assets::get("../Cargo.toml").is_none());
        assert_eq!(content_type("admin.js"), "text/javascript; charset=utf-8");
    }
}
