//! The per-IP door limits are layers on the routers of the routes they
//! guard (`http::ratelimit::guarded`): every guarded route — aliases
//! included — is counted before its body is read, answers 429 with
//! Retry-After in its door's error shape once the client's window is full,
//! and the routes beside them are not limited.

use serde_json::json;

use crate::common::{Resp, TestServer};

/// `/api/v1` routes in the `Auth` bucket.
const V1_AUTH: [&str; 6] = [
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/resend-verification",
    "/api/v1/auth/forgot-password",
    "/api/v1/auth/reset-password",
    "/api/v1/auth/magic-link/send",
];

/// `/api/auth` routes in the `Auth` bucket.
const BA_AUTH: [&str; 7] = [
    "/api/auth/sign-up/email",
    "/api/auth/sign-in/email",
    "/api/auth/send-verification-email",
    "/api/auth/request-password-reset",
    "/api/auth/forget-password",
    "/api/auth/reset-password",
    "/api/auth/magic-link/send-magic-link",
];

/// A POST with a body no handler would accept.
async fn malformed(t: &TestServer, path: &str) -> Resp {
    t.send(
        t.client
            .post(t.url(path))
            .header("origin", "http://app.mana.test")
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn every_auth_route_shares_one_window_and_counts_before_its_body() {
    let t = TestServer::start_with(|c| c.rate_limit_auth = 1).await;
    // The one request of the window: a malformed body, refused by the
    // handler's extractor after the limiter counted it.
    let first = malformed(&t, "/api/v1/auth/login").await;
    assert_eq!(first.status, 400, "{}", first.body);

    for path in V1_AUTH {
        let r = malformed(&t, path).await;
        r.assert_error(429, "RATE_LIMITED");
        assert!(retry_after(&r) >= 1, "{path}");
        assert_eq!(r.body["retryAfterSec"], retry_after(&r), "{path}");
    }
    for path in BA_AUTH {
        let r = malformed(&t, path).await;
        assert_eq!(r.status, 429, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "RATE_LIMITED", "{path}: {}", r.body);
        assert!(r.body["message"].is_string(), "{path}");
        assert!(r.body.get("error").is_none(), "{path}: {}", r.body);
        assert!(retry_after(&r) >= 1, "{path}");
    }

    // Routes beside them are not limited.
    let r = t.get("/api/v1/auth/signup-status").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.post("/api/v1/auth/validate", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.get("/api/auth/get-session").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The window ends on the server's clock.
    t.clock.advance(chrono::Duration::seconds(61));
    let r = malformed(&t, "/api/auth/forget-password").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn token_and_key_validation_share_the_validate_window() {
    let t = TestServer::start_with(|c| c.rate_limit_validate = 2).await;
    let r = t.post("/api/v1/auth/validate", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.post("/api/v1/api-keys/validate", json!({})).await;
    assert_ne!(r.status, 429, "{}", r.body);
    for path in ["/api/v1/auth/validate", "/api/v1/api-keys/validate"] {
        let r = t.post(path, json!({})).await;
        r.assert_error(429, "RATE_LIMITED");
        assert!(retry_after(&r) >= 1, "{path}");
    }
    // The Auth bucket is a different window.
    let r = malformed(&t, "/api/v1/auth/login").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn both_doors_passkey_sign_in_options_share_one_window() {
    let t = TestServer::start().await;
    let v1 = "/api/v1/auth/passkeys/authenticate/options";
    let ba = "/api/auth/passkey/generate-authenticate-options";
    for i in 0..mana_auth::passkeys::OPTIONS_PER_MINUTE {
        let r = if i % 2 == 0 {
            t.post(v1, json!({})).await
        } else {
            t.get(ba).await
        };
        assert_eq!(r.status, 200, "{i}: {}", r.body);
    }
    let r = t.post(v1, json!({})).await;
    r.assert_error(429, "RATE_LIMITED");
    assert!(retry_after(&r) >= 1);
    let r = t.get(ba).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["code"], "RATE_LIMITED", "{}", r.body);
    assert!(retry_after(&r) >= 1);
}
