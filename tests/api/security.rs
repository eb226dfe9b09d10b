//! Security review items: session fixation, tokens of deleted accounts, and
//! no secret in any log line.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::common::{TestServer, PASSWORD};
use crate::process::spawn_with;

#[tokio::test]
async fn login_always_opens_a_new_session() {
    let t = TestServer::start().await;
    t.register("fixation@example.com").await;
    let first = t.login("fixation@example.com", PASSWORD).await;
    let planted = first.session_cookie().unwrap();
    // A client that arrives with a (planted or old) session cookie gets a
    // fresh session, never the one it brought.
    let second = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/login"))
                .header("cookie", format!("mana.session_token={planted}"))
                .header("origin", "http://app.mana.test")
                .json(&json!({ "email": "fixation@example.com", "password": PASSWORD })),
        )
        .await;
    let fresh = second.session_cookie().unwrap();
    assert_ne!(fresh, planted);
    assert_ne!(second.body["refreshToken"], first.body["refreshToken"]);
}

#[tokio::test]
async fn tokens_of_a_deleted_account_stop_at_the_next_refresh() {
    let t = TestServer::start().await;
    let a = t.account("gone@example.com").await;
    let r = t.delete_auth("/api/v1/me/data", &a.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    t.get_auth("/api/v1/auth/session", &a.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut p = spawn_with(
        &dir.path().join("log.db"),
        &[
            ("RUST_LOG", "debug"),
            ("MAIL_LOG_LINKS", "false"),
            ("MANA_SERVICE_KEY", "svc-key-in-env-1234567"),
        ],
        Some(log.clone()),
    );
    let c = reqwest::Client::new();
    let post = |path: &str, body: Value| c.post(format!("{}{path}", p.base)).json(&body).send();
    post(
        "/api/v1/auth/register",
        json!({ "email": "secret@example.com", "password": PASSWORD }),
    )
    .await
    .unwrap();
    let login: Value = post(
        "/api/v1/auth/login",
        json!({ "email": "secret@example.com", "password": PASSWORD }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let access = login["accessToken"].as_str().unwrap().to_owned();
    let refresh = login["refreshToken"].as_str().unwrap().to_owned();
    post(
        "/api/v1/auth/login",
        json!({ "email": "secret@example.com", "password": "wrong-password-99" }),
    )
    .await
    .unwrap();
    post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
        .await
        .unwrap();
    post("/api/v1/auth/validate", json!({ "token": access }))
        .await
        .unwrap();
    post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "secret@example.com" }),
    )
    .await
    .unwrap();
    post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "secret@example.com" }),
    )
    .await
    .unwrap();
    c.get(format!(
        "{}/api/v1/auth/verify-email?token=not-a-real-token-xyz",
        p.base
    ))
    .send()
    .await
    .unwrap();
    c.get(format!("{}/api/v1/internal/users/x/memberships", p.base))
        .header("x-service-key", "svc-key-in-env-1234567")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // let the mail worker log
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    // Mail tokens exist only in the outbox; read them to search for them.
    let conn = rusqlite::Connection::open(dir.path().join("log.db")).unwrap();
    let mut stmt = conn.prepare("SELECT text_body FROM mail_outbox").unwrap();
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mail_tokens: Vec<String> = bodies
        .iter()
        .flat_map(|b| {
            b.split("token=")
                .skip(1)
                .map(|t| t.split(['&', '\n', ' ']).next().unwrap().to_owned())
        })
        .collect();
    assert!(
        mail_tokens.len() >= 3,
        "verification, reset and magic-link tokens: {mail_tokens:?}"
    );

    let log = log.lock().unwrap().clone();
    assert!(log.contains("request"), "the log was captured");
    let mut secrets = vec![
        PASSWORD.to_owned(),
        "wrong-password-99".into(),
        access,
        refresh,
        "svc-key-in-env-1234567".into(),
        "not-a-real-token-xyz".into(),
    ];
    secrets.extend(mail_tokens);
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "a secret reached the log: {}…",
            &secret[..6.min(secret.len())]
        );
    }
}

#[tokio::test]
async fn credential_endpoints_are_rate_limited_per_ip() {
    let t = TestServer::start_with(|c| c.rate_limit_auth = 5).await;
    for i in 0..5 {
        t.login(&format!("nobody{i}@example.com"), "whatever-pass")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let limited = t.login("nobody9@example.com", "whatever-pass").await;
    limited.assert_error(429, "RATE_LIMITED");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // The same bucket covers the mail-sending endpoints.
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "a@example.com" }),
    )
    .await
    .assert_error(429, "RATE_LIMITED");
    t.clock.advance(chrono::Duration::seconds(61));
    t.login("nobody9@example.com", "whatever-pass")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    fn send<'a>(
        t: &'a TestServer,
        xff: &'static str,
    ) -> impl std::future::Future<Output = crate::common::Resp> + 'a {
        t.send(
            t.client
                .post(t.url("/api/v1/auth/login"))
                .header("x-forwarded-for", xff)
                .json(&json!({ "email": "proxy@example.com", "password": "wrong-password" })),
        )
    }
    // Untrusted peer: the header is ignored, so rotating it does not help.
    let t = TestServer::start_with(|c| c.rate_limit_auth = 2).await;
    assert_eq!(send(&t, "1.1.1.1").await.status, 401);
    assert_eq!(send(&t, "2.2.2.2").await.status, 401);
    send(&t, "3.3.3.3").await.assert_error(429, "RATE_LIMITED");

    // Trusted proxy: each forwarded client has its own budget and is the
    // address recorded in the security events.
    let t = TestServer::start_with(|c| {
        c.rate_limit_auth = 2;
        c.trust_proxy = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(send(&t, "9.9.9.9").await.status, 401);
    }
    send(&t, "9.9.9.9").await.assert_error(429, "RATE_LIMITED");
    assert_eq!(send(&t, "8.8.8.8").await.status, 401);
    let ips: Vec<String> = {
        let conn = t.db();
        let mut stmt = conn
            .prepare("SELECT DISTINCT ip FROM security_events ORDER BY ip")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(ips, ["8.8.8.8", "9.9.9.9"]);
}

#[tokio::test]
async fn a_demoted_user_gets_the_new_role_at_the_next_refresh() {
    let t = TestServer::start().await;
    let root = crate::admin::admin(&t, "root@example.com").await;
    let boss = crate::admin::admin(&t, "boss@example.com").await;
    let login = t.login("boss@example.com", PASSWORD).await;
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    let refresh = login.body["refreshToken"].as_str().unwrap().to_owned();
    let claims = |tok: &str| t.post("/api/v1/auth/validate", json!({ "token": tok }));
    assert_eq!(claims(&token).await.body["payload"]["role"], "admin");
    let r = t
        .put_auth(
            &format!("/api/v1/admin/users/{}/role", boss.id),
            &root.access,
            json!({ "role": "user" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Admin routes check the stored role: the old token is refused at once.
    t.get_auth("/api/v1/admin/stats", &token)
        .await
        .assert_error(403, "FORBIDDEN");
    // And the next refresh carries the new role.
    let fresh = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
        .await;
    let fresh_token = fresh.body["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(claims(&fresh_token).await.body["payload"]["role"], "user");
}
