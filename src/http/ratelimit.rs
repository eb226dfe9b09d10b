//! The per-IP limits of `crate::ratelimit` as layers on the routers of the
//! routes they guard ([`guarded`]), so that no handler can
//! forget one: the request is counted before any extractor or handler
//! runs, and over the limit answered 429 RATE_LIMITED with `Retry-After` —
//! in the error envelope on `/api/v1`, in the framework's `{code, message}`
//! under `/api/auth`. Limits keyed by more than the address (the password
//! lockout per address and account, the passkey limits per user) stay in
//! the domain, where the key is known.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

pub use crate::ratelimit::*;

use crate::audit::ClientInfo;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// What one limit layer needs.
#[derive(Clone)]
struct Guard {
    state: AppState,
    bucket: Bucket,
    answer: fn(ApiError) -> Response,
}

/// `router` with the per-IP limit of `bucket` as a layer on each of its
/// routes; a refusal is answered by `answer` (the door's error shape:
/// [`envelope`] on `/api/v1`).
pub fn guarded(
    router: OpenApiRouter<AppState>,
    state: &AppState,
    bucket: Bucket,
    answer: fn(ApiError) -> Response,
) -> OpenApiRouter<AppState> {
    let guard = Guard {
        state: state.clone(),
        bucket,
        answer,
    };
    router.route_layer(from_fn_with_state(guard, limit))
}

/// A refusal in the error envelope.
pub fn envelope(e: ApiError) -> Response {
    e.into_response()
}

async fn limit(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    match check(&guard, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => (guard.answer)(e),
    }
}

/// Counts the request in its client's window of the guard's bucket.
async fn check(guard: &Guard, req: Request) -> Result<Request> {
    let (mut parts, body) = req.into_parts();
    let client = match ClientInfo::from_request_parts(&mut parts, &guard.state).await {
        Ok(client) => client,
        Err(never) => match never {},
    };
    guard.state.limit(guard.bucket, &client)?;
    Ok(Request::from_parts(parts, body))
}
