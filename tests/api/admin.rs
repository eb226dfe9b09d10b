//! `/api/v1/admin/*`: access control, stats, listings, validation, locks and
//! the audit trail of every admin action; the embedded admin page.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Account, TestServer, PASSWORD};

/// Signs up `email` and makes them admin (the stored role is what counts).
pub async fn admin(t: &TestServer, email: &str) -> Account {
    let a = t.account(email).await;
    t.db()
        .execute("UPDATE users SET role = 'admin' WHERE id = ?1", [&a.id])
        .unwrap();
    a
}

async fn call(
    t: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> crate::common::Resp {
    let mut req = t.client.request(method, t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    t.send(req).await
}

fn routes(user: &str, space: &str) -> Vec<(Method, String, Option<Value>)> {
    let u = format!("/api/v1/admin/users/{user}");
    vec![
        (Method::GET, "/api/v1/admin/stats".into(), None),
        (Method::GET, "/api/v1/admin/users".into(), None),
        (Method::GET, u.clone(), None),
        (Method::GET, format!("{u}/data"), None),
        (Method::DELETE, format!("{u}/data"), None),
        (Method::GET, format!("{u}/tier"), None),
        (
            Method::PUT,
            format!("{u}/tier"),
            Some(json!({ "tier": "beta" })),
        ),
        (
            Method::PUT,
            format!("{u}/role"),
            Some(json!({ "role": "admin" })),
        ),
        (Method::POST, format!("{u}/lock"), Some(json!({}))),
        (Method::POST, format!("{u}/unlock"), None),
        (Method::DELETE, format!("{u}/sessions"), None),
        (Method::GET, "/api/v1/admin/spaces".into(), None),
        (Method::GET, format!("/api/v1/admin/spaces/{space}"), None),
        (
            Method::GET,
            format!("/api/v1/admin/sync-changes?userId={user}"),
            None,
        ),
        (Method::GET, "/api/v1/admin/security-events".into(), None),
        (Method::GET, "/api/v1/admin/mail-outbox".into(), None),
    ]
}

#[tokio::test]
async fn every_admin_route_refuses_anonymous_and_normal_users() {
    let t = TestServer::start().await;
    let user = t.account("plain@example.com").await;
    let space = t.personal_space(&user.id);
    for (method, path, body) in routes(&user.id, &space) {
        call(&t, method.clone(), &path, None, body.clone())
            .await
            .assert_error(401, "UNAUTHORIZED");
        call(&t, method.clone(), &path, Some("not-a-jwt"), body.clone())
            .await
            .assert_error(401, "UNAUTHORIZED");
        call(&t, method, &path, Some(&user.access), body)
            .await
            .assert_error(403, "FORBIDDEN");
    }
    // Nothing happened to the user.
    assert_eq!(t.login(&user.email, PASSWORD).await.status, 200);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type LIKE 'ADMIN_%'"),
        0
    );
    // The cookie alone is never enough: admin routes take bearer tokens only.
    let a = admin(&t, "boss@example.com").await;
    let login = t.login(&a.email, PASSWORD).await;
    let cookie = login.session_cookie().unwrap();
    let r = t
        .send(
            t.client
                .get(t.url("/api/v1/admin/stats"))
                .header("cookie", format!("mana.session_token={cookie}")),
        )
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    // A demoted admin's still-valid token stops working at once (also
    // right after it was used, while its session is cached).
    assert_eq!(
        t.get_auth("/api/v1/admin/stats", &a.access).await.status,
        200
    );
    let other = admin(&t, "other-boss@example.com").await;
    let r = t
        .put_auth(
            &format!("/api/v1/admin/users/{}/role", a.id),
            &other.access,
            json!({ "role": "user" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.get_auth("/api/v1/admin/stats", &a.access)
        .await
        .assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn stats_match_a_seeded_database() {
    let t = TestServer::start().await;
    let a = admin(&t, "admin@example.com").await;
    let b = t.account("b@example.com").await;
    let c = t.account("c@example.com").await;
    let d = t.account("d@example.com").await;
    let db = t.db();
    // b joined 10 days ago, c 40 days ago.
    db.execute("UPDATE users SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 days') WHERE id = ?1", [&b.id]).unwrap();
    db.execute("UPDATE users SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days') WHERE id = ?1", [&c.id]).unwrap();
    // d's session has expired; an old sign-in of c does not count.
    db.execute(
        "UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE user_id = ?1",
        [&d.id],
    )
    .unwrap();
    db.execute(
        "INSERT INTO security_events (id, user_id, event_type, metadata, created_at) VALUES \
         ('old', ?1, 'LOGIN_SUCCESS', '{}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-8 days'))",
        [&c.id],
    )
    .unwrap();
    for _ in 0..2 {
        assert_eq!(t.login(&b.email, "wrong-password!").await.status, 401);
    }
    let s = t.get_auth("/api/v1/admin/stats", &a.access).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["totalUsers"], 4);
    assert_eq!(s.body["newUsers7d"], 2);
    assert_eq!(s.body["newUsers30d"], 3);
    assert_eq!(s.body["activeSessions"], 3);
    assert_eq!(s.body["uniqueUsers24h"], 4);
    assert_eq!(s.body["loginSuccess7d"], 4);
    assert_eq!(s.body["loginFailed7d"], 2);
    assert!(s.body["generatedAt"].as_str().unwrap().ends_with('Z'));
    // The same numbers straight from the file.
    assert_eq!(t.count("SELECT count(*) FROM users"), 4);
}

#[tokio::test]
async fn user_search_and_paging_edge_cases() {
    let t = TestServer::start().await;
    let a = admin(&t, "root@example.com").await;
    for i in 0..5 {
        t.account(&format!("anna{i}@example.com")).await;
    }
    t.account("percent%sign@example.com").await;
    let get = |q: &str| t.get_auth(&format!("/api/v1/admin/users{q}"), &a.access);

    let all = get("").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 7);
    assert_eq!(all.body["page"], 1);
    assert_eq!(all.body["limit"], 20);
    assert_eq!(all.body["users"].as_array().unwrap().len(), 7);
    assert_eq!(
        get("?search=").await.body["total"],
        7,
        "empty search is no filter"
    );
    assert_eq!(get("?search=%20%20").await.body["total"], 7);

    let anna = get("?search=ANNA&limit=2").await;
    assert_eq!(anna.body["total"], 5);
    assert_eq!(anna.body["totalPages"], 3);
    assert_eq!(anna.body["users"].as_array().unwrap().len(), 2);
    let last = get("?search=anna&limit=2&page=3").await;
    assert_eq!(last.body["users"].as_array().unwrap().len(), 1);
    let past = get("?search=anna&limit=2&page=9").await;
    assert_eq!(past.status, 200);
    assert_eq!(past.body["users"], json!([]));
    assert_eq!(past.body["total"], 5);
    // Pages do not overlap.
    let p1 = get("?search=anna&limit=2&page=1").await.body["users"].clone();
    let p2 = get("?search=anna&limit=2&page=2").await.body["users"].clone();
    assert_ne!(p1[0]["id"], p2[0]["id"]);

    // Names are searched too; LIKE wildcards are literal.
    assert_eq!(get("?search=Test").await.body["total"], 7);
    assert_eq!(get("?search=%25").await.body["total"], 1);
    assert_eq!(get("?search=_").await.body["total"], 0);
    assert_eq!(get("?limit=100").await.status, 200);

    for bad in [
        "?limit=101",
        "?limit=0",
        "?page=0",
        "?page=abc",
        "?limit=-1",
        "?tier=gold",
    ] {
        get(bad).await.assert_error(400, "VALIDATION");
    }
    assert_eq!(get("?tier=beta").await.body["total"], 0);
    assert_eq!(get("?tier=public").await.body["total"], 7);
}

#[tokio::test]
async fn spaces_sync_changes_and_outbox_are_browsable() {
    let t = TestServer::start().await;
    let a = admin(&t, "root@example.com").await;
    let u = t.account("user@example.com").await;
    let team = t.create_space(&u.access, "Team", "team").await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    t.add_member(&team_id, &u, &a, "member").await;

    let spaces = t
        .get_auth("/api/v1/admin/spaces?search=team", &a.access)
        .await;
    assert_eq!(spaces.body["total"], 1);
    assert_eq!(spaces.body["spaces"][0]["memberCount"], 2);
    assert_eq!(spaces.body["spaces"][0]["type"], "team");
    let all = t.get_auth("/api/v1/admin/spaces", &a.access).await;
    assert_eq!(all.body["total"], 3);
    let one = t
        .get_auth(&format!("/api/v1/admin/spaces/{team_id}"), &a.access)
        .await;
    assert_eq!(one.body["members"].as_array().unwrap().len(), 2);

    let changes = t
        .get_auth(
            &format!("/api/v1/admin/sync-changes?userId={}", u.id),
            &a.access,
        )
        .await;
    assert_eq!(changes.status, 200, "{}", changes.body);
    let rows = changes.body["changes"].as_array().unwrap();
    assert_eq!(changes.body["total"], 3, "userContext + 2 kontextDocs");
    assert_eq!(rows[0]["spaceId"], team_id.as_str(), "newest first");
    let ctx = rows
        .iter()
        .find(|r| r["tableName"] == "userContext")
        .unwrap();
    assert_eq!(ctx["data"]["userId"], u.id.as_str());
    let by_space = t
        .get_auth(
            &format!("/api/v1/admin/sync-changes?spaceId={team_id}"),
            &a.access,
        )
        .await;
    assert_eq!(by_space.body["total"], 1);
    let paged = t
        .get_auth(
            &format!("/api/v1/admin/sync-changes?userId={}&limit=1&page=2", u.id),
            &a.access,
        )
        .await;
    assert_eq!(paged.body["changes"].as_array().unwrap().len(), 1);

    let mail = t.get_auth("/api/v1/admin/mail-outbox", &a.access).await;
    assert_eq!(mail.status, 200, "{}", mail.body);
    let first = &mail.body["mail"][0];
    assert!(first["status"].is_string() && first["attempts"].is_number());
    assert!(first.get("lastError").is_some());
    t.get_auth("/api/v1/admin/mail-outbox?status=lost", &a.access)
        .await
        .assert_error(400, "VALIDATION");
}

#[tokio::test]
async fn admin_page_is_embedded_with_strict_headers_and_etags() {
    let t = TestServer::start().await;
    for path in ["/admin", "/admin/", "/admin/index.html"] {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-cache");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "no inline script or style"
        );
    }
    let js = t.client.get(t.url("/admin/admin.js")).send().await.unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = js.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66);
    let again = t
        .client
        .get(t.url("/admin/admin.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    let css = t
        .client
        .get(t.url("/admin/admin.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    for bad in [
        "/admin/../Cargo.toml",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/..%2fCargo.toml",
        "/admin/nope.js",
        "/admin//etc/passwd",
    ] {
        t.get(bad).await.assert_error(404, "NOT_FOUND");
    }
}
