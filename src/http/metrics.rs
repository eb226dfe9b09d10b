//! Prometheus metrics, hand-rolled (a few counters and histograms do not
//! justify an exporter stack): requests by route and status, request
//! latency by route, argon2 queue wait, database wait, mail queue depth.
//! Served at `GET /metrics` in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A cumulative histogram in seconds.
#[derive(Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    hash_wait: Histogram,
    db_wait: Histogram,
}

/// The metrics of one server.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Time spent waiting for an argon2 slot.
    pub fn observe_hash_wait(&self, d: Duration) {
        self.with(|m| m.hash_wait.observe(d.as_secs_f64()));
    }

    /// Time spent waiting for a database connection or the writer.
    pub fn observe_db_wait(&self, d: Duration) {
        self.with(|m| m.db_wait.observe(d.as_secs_f64()));
    }

    fn observe_request(&self, method: &str, route: &str, status: u16, d: Duration) {
        self.with(|m| {
            *m.requests
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
            m.latency
                .entry(route.to_owned())
                .or_default()
                .observe(d.as_secs_f64());
        });
    }

    /// The exposition text (mail queue depth passed in, read from the db).
    pub fn render(&self, mail_pending: i64, mail_failed: i64) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP mana_http_requests_total HTTP requests by method, route and status.\n");
            out.push_str("# TYPE mana_http_requests_total counter\n");
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(out, "mana_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP mana_http_request_duration_seconds Request latency by route.\n");
            out.push_str("# TYPE mana_http_request_duration_seconds histogram\n");
            for (route, h) in &m.latency {
                h.render(&mut out, "mana_http_request_duration_seconds", &format!("route=\"{route}\""));
            }
            out.push_str("# HELP mana_argon2_queue_wait_seconds Wait for a password hashing slot.\n");
            out.push_str("# TYPE mana_argon2_queue_wait_seconds histogram\n");
            m.hash_wait.render(&mut out, "mana_argon2_queue_wait_seconds", "");
            out.push_str("# HELP mana_db_wait_seconds Wait for a pooled connection or the writer.\n");
            out.push_str("# TYPE mana_db_wait_seconds histogram\n");
            m.db_wait.render(&mut out, "mana_db_wait_seconds", "");
        });
        out.push_str("# HELP mana_mail_queue_depth Mail in the outbox by state.\n");
        out.push_str("# TYPE mana_mail_queue_depth gauge\n");
        let _ = writeln!(
            out,
            "mana_mail_queue_depth{{status=\"pending\"}} {mail_pending}"
        );
        let _ = writeln!(
            out,
            "mana_mail_queue_depth{{status=\"failed\"}} {mail_failed}"
        );
        out
    }
}

/// Middleware: counts and times every request by its route template (never
/// the raw path, so ids and tokens do not become labels).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_request(
        &method,
        &route,
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
    (status = 401, description = "`METRICS_TOKEN` is set and the bearer token is missing or wrong", body = crate::http::openapi::ErrorEnvelope)
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
