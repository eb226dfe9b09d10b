//! `GET /metrics` and the middleware that counts and times every request;
//! the counters themselves are `crate::metrics`.

use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::metrics::Metrics;
use crate::state::AppState;

/// Middleware: counts and times every request by its route template (never
/// the raw path, so ids and tokens do not become labels).
pub async fn track(state: &AppState, req: Request, next: Next) -> Response {
    // Both cheap clones: a standard method is a constant, the matched
    // path a shared string.
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_request(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// With `METRICS_TOKEN` set, `/metrics` wants `Authorization: Bearer <it>`
/// (compared as digests, in constant time).
fn check_token(state: &AppState, headers: &axum::http::HeaderMap) -> crate::error::Result<()> {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(expected) = &state.config.metrics_token else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .ok_or_else(crate::error::ApiError::unauthorized)?;
    let ok: bool = Sha256::digest(given)
        .ct_eq(&Sha256::digest(expected.expose().as_bytes()))
        .into();
    if ok {
        Ok(())
    } else {
        Err(crate::error::ApiError::unauthorized())
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    (status = 401, description = "`METRICS_TOKEN` is set and the bearer token is missing or wrong", body = crate::http::error::ErrorEnvelope)
))]
pub async fn get_metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(e) = check_token(&state, &headers) {
        return e.into_response();
    }
    let depth = state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'failed'), 0) FROM mail_outbox",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )?)
        })
        .await
        .unwrap_or((-1, -1));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render(depth.0, depth.1);
            let _ = write!(
                text,
                "# HELP mana_passkey_ceremonies_open Passkey ceremonies open in memory.\n\
                 # TYPE mana_passkey_ceremonies_open gauge\n\
                 mana_passkey_ceremonies_open {}\n\
                 # HELP mana_passkey_failures_tracked Passkeys with failed sign-ins on record.\n\
                 # TYPE mana_passkey_failures_tracked gauge\n\
                 mana_passkey_failures_tracked {}\n",
                state.passkeys.open_ceremonies(),
                state.passkeys.tracked_failures()
            );
            text
        },
    )
        .into_response()
}
