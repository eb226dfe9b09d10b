//! The JSON envelope every `/api/v1`, admin and meta error answers with:
//! `{"error": CODE, "message": text, "status": n, "retryAfterSec"?: n}` and a
//! `Retry-After` header when there is one. Internal causes are logged inside
//! the request span, never sent.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// The error envelope of SPEC §10, as sent and as documented (schema
/// `ErrorEnvelope`). Some answers add fields (a sign-in that needs a second
/// factor adds `twoFactorTicket`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// The error code, e.g. `VALIDATION`, `UNAUTHORIZED`, `RATE_LIMITED`.
    #[schema(value_type = String)]
    error: &'static str,
    /// Text for humans; never internal detail.
    message: String,
    /// The HTTP status, repeated.
    status: u16,
    /// Seconds until a retry can succeed (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, value_type = u64)]
    retry_after_sec: Option<u64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        self.log_if_internal();
        let body = ErrorEnvelope {
            error: self.code.as_str(),
            message: self.message,
            status: status.as_u16(),
            retry_after_sec: self.retry_after,
            extra: self.extra,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, ErrorCode};
    use axum::http::StatusCode;

    #[tokio::test]
    async fn envelope_carries_code_status_and_retry_after() {
        let response = ApiError::new(ErrorCode::AccountLocked, "locked")
            .with_retry_after(90)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "90");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":"ACCOUNT_LOCKED","message":"locked","status":429,"retryAfterSec":90})
        );
    }

    #[tokio::test]
    async fn internal_text_is_never_sent() {
        let response = ApiError::internal("disk I/O error at /secret/path").into_response();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("/secret/path"));
        assert!(text.contains("\"INTERNAL\""));
    }
}
