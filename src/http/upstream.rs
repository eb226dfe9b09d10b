//! Error bodies in the original service's own shapes, for the routes whose
//! clients read those shapes (UPSTREAM-WIRE §0.4): `{error, code}` of its
//! vault-style routes (`VaultStyle`), and the bare `{error, …}` objects of
//! its persona routes (`PlainError`). The status, the `Retry-After` header
//! and the logging of internal causes are those of `ApiError`; only the body
//! differs. A door maps its domain's `ApiError` into one of these in one
//! place, never by matching message text.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `{"error": text, "code": CODE}` with the code's status.
pub struct VaultStyle(pub ApiError);

impl From<ApiError> for VaultStyle {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

impl IntoResponse for VaultStyle {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log_if_internal();
        let status = e.code.status();
        // `message` never carries internal detail (see `ApiError`).
        let body = serde_json::json!({ "error": e.message, "code": e.code.as_str() });
        with_retry_after((status, axum::Json(body)).into_response(), e.retry_after)
    }
}

/// A bare JSON object with `error` and whatever else the original route
/// sent next to it (`details`, `hint`), with the given error's status.
/// Server errors keep the envelope (the original answered those with its
/// generic 500 body, which no client reads).
pub struct PlainError {
    error: ApiError,
    body: Map<String, Value>,
}

impl PlainError {
    /// `{"error": text}` plus `fields`, answered with the status of `error`.
    pub fn new(error: ApiError, text: &str, fields: Map<String, Value>) -> Self {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::String(text.to_owned()));
        body.extend(fields);
        Self { error, body }
    }
}

impl IntoResponse for PlainError {
    fn into_response(self) -> Response {
        let status = self.error.code.status();
        if status.is_server_error() {
            return self.error.into_response();
        }
        (status, axum::Json(Value::Object(self.body))).into_response()
    }
}

/// Documentation twin of `VaultStyle`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VaultError {
    /// Text for humans.
    pub error: String,
    /// The code clients branch on, e.g. `VAULT_NOT_INITIALISED`.
    pub code: String,
}

/// Documentation twin of `PlainError`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlainErrorBody {
    /// What went wrong, e.g. `Not found` or `ValidationError`.
    pub error: String,
    /// The failed checks (`ValidationError` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub details: Option<Vec<String>>,
    /// What to do instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub hint: Option<String>,
}
