//! Registration, sign-in, lockout, sign-up limit, profile and events.

use serde_json::json;

use crate::common::{TestServer, PASSWORD};

#[tokio::test]
async fn register_stores_argon2id_hash_and_returns_the_user() {
    let t = TestServer::start().await;
    let r = t.register("  New.User@Example.com ").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let user = &r.body["user"];
    assert_eq!(user["email"], "new.user@example.com");
    assert_eq!(user["name"], "Test");
    assert_eq!(user["role"], "user");
    assert_eq!(user["accessTier"], "public");
    assert_eq!(user["emailVerified"], false);
    assert!(r.body.get("password").is_none() && user.get("passwordHash").is_none());
    let hash: String = t
        .db()
        .query_row("SELECT password_hash FROM password_credentials", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'REGISTER'"),
        1
    );
}

#[tokio::test]
async fn duplicate_email_in_any_case_is_a_conflict() {
    let t = TestServer::start().await;
    assert_eq!(t.register("dup@example.com").await.status, 200);
    t.register("DUP@Example.COM")
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    assert_eq!(t.count("SELECT count(*) FROM users"), 1);
    // Concurrent duplicates: exactly one wins.
    let futures = (0..8).map(|_| t.register("race@example.com"));
    let results = futures::future::join_all(futures).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(409, "EMAIL_ALREADY_REGISTERED");
    }
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_refused() {
    let t = TestServer::start().await;
    let short = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "w@example.com", "password": "1234567" }),
        )
        .await;
    short.assert_error(400, "WEAK_PASSWORD");
    let long = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "w@example.com", "password": "x".repeat(129) }),
        )
        .await;
    long.assert_error(400, "WEAK_PASSWORD");
    let bad = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "not-an-email", "password": PASSWORD }),
        )
        .await;
    bad.assert_error(400, "VALIDATION");
    assert_eq!(t.count("SELECT count(*) FROM users"), 0);
}

#[tokio::test]
async fn daily_signup_limit_is_enforced_and_reported() {
    let t = TestServer::start_with(|c| c.max_daily_signups = 2).await;
    let s = t.get("/api/v1/auth/signup-status").await;
    assert_eq!(s.body["registrationOpen"], true);
    assert_eq!(s.body["spotsRemaining"], 2);
    assert_eq!(s.body["totalToday"], 0);
    assert_eq!(s.body["limit"], 2);
    assert!(s.body["resetsAt"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00.000Z"));

    // A burst of five concurrent sign-ups: exactly two get in.
    let emails: Vec<String> = (0..5).map(|i| format!("burst{i}@example.com")).collect();
    let results = futures::future::join_all(emails.iter().map(|e| t.register(e))).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 2);
    let refused = results.iter().find(|r| r.status == 429).unwrap();
    refused.assert_error(429, "SIGNUP_LIMIT_REACHED");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(refused.body["limit"], 2);
    assert_eq!(refused.body["totalToday"], 2);

    let s = t.get("/api/v1/auth/signup-status").await;
    assert_eq!(s.body["registrationOpen"], false);
    assert_eq!(s.body["spotsRemaining"], 0);
    assert_eq!(s.body["totalToday"], 2);

    // The next UTC day opens again.
    t.clock.advance(chrono::Duration::days(1));
    assert_eq!(t.register("tomorrow@example.com").await.status, 200);
}

#[tokio::test]
async fn unlimited_signups_report_no_spots_number() {
    let t = TestServer::start().await;
    let s = t.get("/api/v1/auth/signup-status").await;
    assert_eq!(s.body["registrationOpen"], true);
    assert_eq!(s.body["limit"], 0);
    assert!(s.body["spotsRemaining"].is_null());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let t = TestServer::start().await;
    t.register("known@example.com").await;
    let wrong = t.login("known@example.com", "wrong-password").await;
    let unknown = t.login("unknown@example.com", "wrong-password").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn five_failures_lock_the_account_for_thirty_minutes() {
    let t = TestServer::start().await;
    t.register("lock@example.com").await;
    for _ in 0..4 {
        t.login("lock@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let fifth = t.login("LOCK@example.com", "wrong-password").await;
    fifth.assert_error(429, "ACCOUNT_LOCKED");
    let right = t.login("lock@example.com", PASSWORD).await;
    right.assert_error(429, "ACCOUNT_LOCKED");
    let retry: u64 = right.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1700..=1800).contains(&retry), "{retry}");
    assert_eq!(right.body["retryAfterSec"], retry);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ACCOUNT_LOCKED'"),
        1
    );

    t.clock.advance(chrono::Duration::minutes(29));
    t.login("lock@example.com", PASSWORD)
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(t.login("lock@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn success_clears_the_counter_and_old_failures_expire() {
    let t = TestServer::start().await;
    t.register("clear@example.com").await;
    for _ in 0..4 {
        t.login("clear@example.com", "wrong-password").await;
    }
    assert_eq!(t.login("clear@example.com", PASSWORD).await.status, 200);
    for _ in 0..4 {
        t.login("clear@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // Failures older than 15 minutes no longer count.
    t.clock.advance(chrono::Duration::minutes(16));
    t.login("clear@example.com", "wrong-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(t.login("clear@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_storage_error_never_counts_toward_lockout() {
    let t = TestServer::start().await;
    t.register("storage@example.com").await;
    let good: String = t
        .db()
        .query_row("SELECT password_hash FROM password_credentials", [], |r| {
            r.get(0)
        })
        .unwrap();
    // Corrupt the stored credential: verification fails for infrastructure
    // reasons, not because the password is wrong.
    t.db()
        .execute(
            "UPDATE password_credentials SET password_hash = 'garbage'",
            [],
        )
        .unwrap();
    for _ in 0..7 {
        let r = t.login("storage@example.com", PASSWORD).await;
        r.assert_error(500, "INTERNAL");
        assert_eq!(r.body["message"], "internal error");
    }
    assert_eq!(t.count("SELECT count(*) FROM login_failures"), 0);
    t.db()
        .execute("UPDATE password_credentials SET password_hash = ?1", [good])
        .unwrap();
    assert_eq!(t.login("storage@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn profile_read_and_update() {
    let t = TestServer::start().await;
    let a = t.account("profile@example.com").await;
    let p = t.get_auth("/api/v1/auth/profile", &a.access).await;
    assert_eq!(p.body["user"]["email"], "profile@example.com");
    // The web app reads the fields at the top level.
    assert_eq!(p.body["email"], "profile@example.com");
    assert_eq!(p.body["name"], "Test");
    assert!(p.body["session"]["id"].is_string(), "{}", p.body);
    let u = t
        .post_auth(
            "/api/v1/auth/profile",
            &a.access,
            json!({ "name": "Renamed", "image": "https://img.example.com/a.png" }),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(u.body["status"], true);
    assert_eq!(u.body["user"]["name"], "Renamed");
    assert_eq!(u.body["user"]["image"], "https://img.example.com/a.png");
    // Absent image keeps it; null removes it.
    let keep = t
        .post_auth(
            "/api/v1/auth/profile",
            &a.access,
            json!({ "name": "Again" }),
        )
        .await;
    assert_eq!(keep.body["user"]["image"], "https://img.example.com/a.png");
    let clear = t
        .post_auth("/api/v1/auth/profile", &a.access, json!({ "image": null }))
        .await;
    assert!(clear.body["user"]["image"].is_null());
    assert_eq!(clear.body["user"]["name"], "Again");
    t.post_auth(
        "/api/v1/auth/profile",
        &a.access,
        json!({ "name": "x".repeat(81) }),
    )
    .await
    .assert_error(400, "VALIDATION");
    // No field, or the email: refused, nothing changes (as upstream).
    t.post_auth("/api/v1/auth/profile", &a.access, json!({}))
        .await
        .assert_error(400, "VALIDATION");
    t.post_auth(
        "/api/v1/auth/profile",
        &a.access,
        json!({ "name": "Sneaky", "email": "other@example.com" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    let p = t.get_auth("/api/v1/auth/profile", &a.access).await;
    assert_eq!(p.body["email"], "profile@example.com");
    assert_eq!(p.body["name"], "Again");
    t.post_auth(
        "/api/v1/auth/profile",
        &a.access,
        json!({ "image": "javascript:alert(1)" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.get("/api/v1/auth/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn security_events_list_the_callers_history() {
    let t = TestServer::start().await;
    t.register("events@example.com").await;
    t.login("events@example.com", "wrong-password").await;
    let a = t.login("events@example.com", PASSWORD).await;
    let access = a.body["accessToken"].as_str().unwrap();
    t.post_auth("/api/v1/auth/profile", access, json!({ "name": "E" }))
        .await;
    let other = t.account("other@example.com").await;
    let e = t
        .send(
            t.client
                .get(t.url("/api/v1/auth/security-events"))
                .bearer_auth(access)
                .header("user-agent", "events-test/1.0"),
        )
        .await;
    // A bare array (the shared auth client returns it as is); the web
    // app's camelCase names with lower-case types, and the upstream's
    // snake_case row names.
    let types: Vec<&str> = e
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "PROFILE_UPDATED",
            "LOGIN_SUCCESS",
            "LOGIN_FAILURE",
            "REGISTER"
        ]
    );
    assert_eq!(e.body[0]["eventType"], "profile_updated");
    assert_eq!(e.body[0]["ipAddress"], "127.0.0.1");
    assert_eq!(e.body[0]["ip_address"], "127.0.0.1");
    assert_eq!(e.body[0]["user_id"], a.body["user"]["id"]);
    let theirs = t
        .get_auth("/api/v1/auth/security-events", &other.access)
        .await;
    assert_eq!(theirs.body.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let t = TestServer::start().await;
    let pre = t
        .send(
            t.client
                .request(reqwest::Method::OPTIONS, t.url("/api/v1/auth/login"))
                .header("origin", "http://app.mana.test")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type,x-app-id"),
        )
        .await;
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "http://app.mana.test"
    );
    assert_eq!(pre.headers["access-control-allow-credentials"], "true");
    let evil = t
        .send(
            t.client
                .request(reqwest::Method::OPTIONS, t.url("/api/v1/auth/login"))
                .header("origin", "http://evil.test")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert!(!evil.headers.contains_key("access-control-allow-origin"));
}
