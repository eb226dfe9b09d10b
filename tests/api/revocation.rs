//! An access token lives only as long as its session: after logout, a
//! session revocation, a password change or reset, an admin lock or an
//! erasure every protected route refuses it at once (401, never 500) and
//! `/validate` answers `valid: false` — also right after the token was used,
//! while its session sits in the live-session cache. Plus the step-up rule
//! for API keys, email change and passkeys.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::admin;
use crate::common::{Account, TestServer, PASSWORD};

/// `(method, path)` of every documented operation that needs a bearer token
/// or a session (its `security` has no anonymous alternative).
async fn protected_operations(t: &TestServer) -> Vec<(Method, String)> {
    let doc = t.get("/api/openapi.json").await.body;
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op["security"].as_array() else {
                continue;
            };
            let bearer = security.iter().any(|s| s.get("bearer").is_some());
            let anonymous = security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
            if bearer && !anonymous {
                let concrete = path
                    .split('/')
                    .map(|seg| {
                        if seg.starts_with('{') {
                            "00000000-0000-4000-8000-000000000000"
                        } else {
                            seg
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((method.to_uppercase().parse().unwrap(), concrete));
            }
        }
    }
    assert!(out.len() > 60, "only {} protected operations", out.len());
    out
}

/// Every protected operation refuses `token` with 401, and `/validate`
/// calls it invalid.
async fn assert_refused_everywhere(t: &TestServer, token: &str) {
    let mut wrong = Vec::new();
    for (method, path) in protected_operations(t).await {
        let req = t
            .client
            .request(method.clone(), t.url(&path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}");
        let r = t.send(req).await;
        if r.status != 401 {
            wrong.push(format!("{method} {path} -> {} {}", r.status, r.body));
        }
    }
    assert!(wrong.is_empty(), "not refused:\n{}", wrong.join("\n"));
    let v = t
        .post("/api/v1/auth/validate", json!({ "token": token }))
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body, json!({ "valid": false }));
}

/// Uses the token (so its session is cached) and checks it works.
async fn warm(t: &TestServer, a: &Account) -> String {
    let s = t.get_auth("/api/v1/auth/session", &a.access).await;
    assert_eq!(s.status, 200, "{}", s.body);
    let v = t
        .post("/api/v1/auth/validate", json!({ "token": a.access }))
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.body);
    let k = t
        .get_auth("/api/v1/me/encryption-vault/status", &a.access)
        .await;
    assert!(k.status.is_success(), "{}", k.body);
    s.body["session"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logout_ends_the_access_token_everywhere() {
    let t = TestServer::start().await;
    let a = t.account("out@example.com").await;
    warm(&t, &a).await;
    let r = t
        .post_auth("/api/v1/auth/logout", &a.access, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
}

#[tokio::test]
async fn revoking_a_session_ends_its_access_token_everywhere() {
    let t = TestServer::start().await;
    let a = t.account("rev@example.com").await;
    let sid = warm(&t, &a).await;
    let other = t.login(&a.email, PASSWORD).await;
    let other = other.body["accessToken"].as_str().unwrap().to_owned();
    let r = t
        .delete_auth(&format!("/api/v1/auth/sessions/{sid}"), &other)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
    // The other session is untouched.
    assert_eq!(t.get_auth("/api/v1/auth/session", &other).await.status, 200);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_access_tokens() {
    let t = TestServer::start().await;
    let a = t.account("chg@example.com").await;
    warm(&t, &a).await;
    let other = t.login(&a.email, PASSWORD).await;
    let other = other.body["accessToken"].as_str().unwrap().to_owned();
    let r = t
        .post_auth(
            "/api/v1/auth/change-password",
            &other,
            json!({ "currentPassword": PASSWORD, "newPassword": "another-password-1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
    assert_eq!(t.get_auth("/api/v1/auth/session", &other).await.status, 200);
}

#[tokio::test]
async fn a_password_reset_ends_every_access_token() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    let a = t.account("reset@example.com").await;
    warm(&t, &a).await;
    let r = t
        .post("/api/v1/auth/forgot-password", json!({ "email": a.email }))
        .await;
    assert_eq!(r.status, 200);
    let link = sink.link_with(&a.email, "reset-password", 1).await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let r = t
        .post(
            "/api/v1/auth/reset-password",
            json!({ "token": token, "newPassword": "brand-new-password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
}

#[tokio::test]
async fn an_admin_lock_ends_every_access_token() {
    let t = TestServer::start().await;
    let root = admin(&t, "root@example.com").await;
    let a = t.account("locked@example.com").await;
    warm(&t, &a).await;
    let r = t
        .post_auth(
            &format!("/api/v1/admin/users/{}/lock", a.id),
            &root.access,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
}

#[tokio::test]
async fn an_admin_session_revocation_ends_every_access_token() {
    let t = TestServer::start().await;
    let root = admin(&t, "root@example.com").await;
    let a = t.account("victim@example.com").await;
    warm(&t, &a).await;
    let r = t
        .delete_auth(
            &format!("/api/v1/admin/users/{}/sessions", a.id),
            &root.access,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
}

/// The erased user's token on `POST /api/v1/gilden` answered 500 (a foreign
/// key failure): every route answers 401 instead.
#[tokio::test]
async fn an_erased_users_token_is_refused_with_401_on_every_route() {
    let t = TestServer::start().await;
    let a = t.account("erased@example.com").await;
    warm(&t, &a).await;
    let r = t.delete_auth("/api/v1/me/data", &a.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = t
        .post_auth(
            "/api/v1/gilden",
            &a.access,
            json!({ "name": "X", "type": "team" }),
        )
        .await;
    g.assert_error(401, "TOKEN_EXPIRED");
    assert_refused_everywhere(&t, &a.access).await;
}

#[tokio::test]
async fn an_admin_erasure_ends_every_access_token() {
    let t = TestServer::start().await;
    let root = admin(&t, "root@example.com").await;
    let a = t.account("wiped@example.com").await;
    warm(&t, &a).await;
    let r = t
        .delete_auth(&format!("/api/v1/admin/users/{}/data", a.id), &root.access)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_refused_everywhere(&t, &a.access).await;
}

#[tokio::test]
async fn the_better_auth_door_refuses_an_ended_session_too() {
    let t = TestServer::start().await;
    let a = t.account("door@example.com").await;
    warm(&t, &a).await;
    let cookie = format!("mana.session_token={}", a.refresh);
    let s = t
        .send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(s.body["user"]["id"], a.id.as_str(), "{}", s.body);
    let r = t
        .post_auth("/api/v1/auth/logout", &a.access, json!({}))
        .await;
    assert_eq!(r.status, 200);
    for auth in [
        ("cookie", cookie.clone()),
        ("authorization", format!("Bearer {}", a.access)),
        ("authorization", format!("Bearer {}", a.refresh)),
    ] {
        let s = t
            .send(
                t.client
                    .get(t.url("/api/auth/get-session"))
                    .header(auth.0, &auth.1),
            )
            .await;
        assert_eq!(s.status, 200);
        assert_eq!(s.body, Value::Null, "{}", auth.0);
        let tk = t
            .send(
                t.client
                    .get(t.url("/api/auth/token"))
                    .header(auth.0, &auth.1),
            )
            .await;
        assert_eq!(tk.status, 401, "{}", tk.body);
    }
}

/// A change made by another process on the same file (here a plain SQLite
/// connection, as the CLI would) reaches the running server's cache within
/// a second, without any request writing.
#[tokio::test]
async fn a_session_deleted_by_another_process_ends_within_a_second() {
    let t = TestServer::start().await;
    let a = t.account("ext@example.com").await;
    let sid = warm(&t, &a).await;
    t.db()
        .execute("DELETE FROM sessions WHERE id = ?1", [&sid])
        .unwrap();
    let mut refused = false;
    for _ in 0..50 {
        let r = t.get_auth("/api/v1/auth/session", &a.access).await;
        if r.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the deleted session still works after a second");
}

#[tokio::test]
async fn a_locked_users_api_keys_validate_as_locked_while_the_lock_holds() {
    let t = TestServer::start().await;
    let root = admin(&t, "root@example.com").await;
    let a = t.account("keys@example.com").await;
    let k = t
        .post_auth(
            "/api/v1/api-keys",
            &a.access,
            json!({ "name": "ci", "scopes": ["*"] }),
        )
        .await;
    assert!(k.status.is_success(), "{}", k.body);
    let key = k.body["key"].as_str().unwrap().to_owned();
    let validate = || t.post("/api/v1/api-keys/validate", json!({ "apiKey": key }));
    assert_eq!(validate().await.body["valid"], true);
    let lock = format!("/api/v1/admin/users/{}/lock", a.id);
    assert_eq!(
        t.post_auth(&lock, &root.access, json!({})).await.status,
        200
    );
    let v = validate().await.body;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["reason"], "locked", "{v}");
    let unlock = format!("/api/v1/admin/users/{}/unlock", a.id);
    assert_eq!(
        t.post_auth(&unlock, &root.access, json!({})).await.status,
        200
    );
    assert_eq!(validate().await.body["valid"], true);
}

/// Moves the clock past the fresh-session age and returns a new access
/// token of the same (now old) session.
async fn age_session(t: &TestServer, a: &Account) -> String {
    t.clock.advance(Duration::hours(25));
    let r = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn step_up_needs_a_fresh_session_or_the_password() {
    let t = TestServer::start().await;
    let a = t.account("step@example.com").await;
    // Fresh: no password needed.
    let k = t
        .post_auth("/api/v1/api-keys", &a.access, json!({ "name": "fresh" }))
        .await;
    assert!(k.status.is_success(), "{}", k.body);

    let old = age_session(&t, &a).await;
    let attempts: [(&str, Value); 3] = [
        ("/api/v1/api-keys", json!({ "name": "late" })),
        (
            "/api/v1/auth/change-email",
            json!({ "newEmail": "new@example.com" }),
        ),
        ("/api/v1/auth/passkeys/register/options", json!({})),
    ];
    for (path, body) in &attempts {
        t.post_auth(path, &old, body.clone())
            .await
            .assert_error(403, "SESSION_NOT_FRESH");
        let mut wrong = body.clone();
        wrong["password"] = json!("not-the-password");
        t.post_auth(path, &old, wrong)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
        let mut right = body.clone();
        right["password"] = json!(PASSWORD);
        let r = t.post_auth(path, &old, right).await;
        assert!(r.status.is_success(), "{path}: {}", r.body);
    }
    // Nothing was created by the refused attempts.
    assert_eq!(
        t.count("SELECT count(*) FROM api_keys WHERE name = 'late'"),
        1
    );
    // Reading the vault key stays open to an old session.
    let init = t
        .post_auth("/api/v1/me/encryption-vault/init", &old, json!({}))
        .await;
    assert_ne!(init.status, 403, "{}", init.body);
    // A new sign-in is fresh again.
    let fresh = t.login(&a.email, PASSWORD).await;
    let fresh = fresh.body["accessToken"].as_str().unwrap().to_owned();
    let k = t
        .post_auth("/api/v1/api-keys", &fresh, json!({ "name": "again" }))
        .await;
    assert!(k.status.is_success(), "{}", k.body);
}

#[tokio::test]
async fn the_better_auth_door_applies_the_same_step_up_rule() {
    let t = TestServer::start().await;
    let a = t.account("bastep@example.com").await;
    let cookie = format!("mana.session_token={}", a.refresh);
    let options = || {
        t.send(
            t.client
                .get(t.url("/api/auth/passkey/generate-register-options"))
                .header("cookie", &cookie),
        )
    };
    assert_eq!(options().await.status, 200);
    age_session(&t, &a).await;
    let r = options().await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "SESSION_NOT_FRESH");
}
