//! Cross-site writes with the session cookie: one Origin check for every
//! door (not only `/api/auth/*`). A write that carries the session cookie
//! must come from an allowed origin (or the server's own); bearer-token
//! writes (no cookie) are not affected.

use reqwest::Method;
use serde_json::json;

use crate::common::{Resp, TestServer, PASSWORD};

/// Signs in over `/api/v1/auth/login` and answers the session cookie value.
async fn cookie_session(t: &TestServer, email: &str) -> String {
    t.account(email).await;
    let r = t.login(email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.session_cookie().expect("session cookie")
}

async fn with_cookie(
    t: &TestServer,
    method: Method,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
) -> Resp {
    let mut req = t
        .client
        .request(method, t.url(path))
        .header("cookie", format!("mana.session_token={cookie}"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    t.send(req).await
}

async fn session_alive(t: &TestServer, cookie: &str) -> bool {
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": cookie }))
        .await
        .status
        == 200
}

#[tokio::test]
async fn cross_site_logout_with_the_cookie_is_refused() {
    let t = TestServer::start().await;
    let cookie = cookie_session(&t, "csrf.logout@example.com").await;
    for origin in [Some("https://evil.test"), Some("null"), None] {
        let r = with_cookie(&t, Method::POST, "/api/v1/auth/logout", &cookie, origin).await;
        r.assert_error(403, "FORBIDDEN");
        assert!(
            session_alive(&t, &cookie).await,
            "{origin:?} logged the user out"
        );
    }
    // A Referer of a foreign site is no better than its Origin.
    let r = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/logout"))
                .header("cookie", format!("mana.session_token={cookie}"))
                .header("referer", "https://evil.test/page"),
        )
        .await;
    r.assert_error(403, "FORBIDDEN");
    assert!(session_alive(&t, &cookie).await);
    // The app's own origin logs out.
    let ok = with_cookie(
        &t,
        Method::POST,
        "/api/v1/auth/logout",
        &cookie,
        Some("http://app.mana.test"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(!session_alive(&t, &cookie).await);
}

#[tokio::test]
async fn every_cookie_write_of_the_v1_door_checks_the_origin() {
    let t = TestServer::start().await;
    let cookie = cookie_session(&t, "csrf.v1@example.com").await;
    let other = t.login("csrf.v1@example.com", PASSWORD).await;
    let other_id = t
        .db()
        .query_row(
            "SELECT id FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert!(other.session_cookie().is_some());
    let sessions_before = t.count("SELECT count(*) FROM sessions");
    for (method, path) in [
        (Method::POST, "/api/v1/auth/refresh".to_owned()),
        (Method::POST, "/api/v1/auth/session-to-token".to_owned()),
        (Method::DELETE, format!("/api/v1/auth/sessions/{other_id}")),
        (Method::POST, "/api/v1/auth/logout".to_owned()),
    ] {
        let r = with_cookie(
            &t,
            method.clone(),
            &path,
            &cookie,
            Some("https://evil.test"),
        )
        .await;
        r.assert_error(403, "FORBIDDEN");
        assert!(r.body["accessToken"].is_null(), "{method} {path}");
    }
    assert_eq!(t.count("SELECT count(*) FROM sessions"), sessions_before);
    // Reads stay open (CORS decides who may read them).
    let read = with_cookie(
        &t,
        Method::GET,
        "/api/v1/auth/session",
        &cookie,
        Some("https://evil.test"),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    // The allowed origin gets its token.
    let ok = with_cookie(
        &t,
        Method::POST,
        "/api/v1/auth/session-to-token",
        &cookie,
        Some("http://app.mana.test"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["accessToken"].is_string());
}

#[tokio::test]
async fn bearer_writes_without_cookies_need_no_origin() {
    let t = TestServer::start().await;
    let a = t.account("csrf.bearer@example.com").await;
    let r = t
        .post_auth("/api/v1/auth/profile", &a.access, json!({ "name": "Bea" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
