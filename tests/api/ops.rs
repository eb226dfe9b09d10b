//! Operations: readiness and Prometheus metrics.

use serde_json::json;

use crate::common::{TestServer, PASSWORD};

#[tokio::test]
async fn ready_answers_with_the_schema_version() {
    let t = TestServer::start().await;
    let r = t.get("/ready").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
    assert!(r.body["schemaVersion"].as_i64().unwrap() >= 3);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let t = TestServer::start().await;
    let a = t.account("metrics@example.com").await;
    t.login("metrics@example.com", "wrong-password").await;
    let personal = t.personal_space(&a.id);
    t.get_auth(&format!("/api/v1/gilden/{personal}"), &a.access)
        .await;
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "metrics@example.com" }),
    )
    .await;
    let text = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"mana_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"} 1"#,
        r#"mana_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1"#,
        r#"mana_http_requests_total{method="GET",route="/api/v1/gilden/{id}",status="200"} 1"#,
        r#"mana_http_request_duration_seconds_bucket{route="/api/v1/auth/register",le="+Inf"} 1"#,
        "# TYPE mana_argon2_queue_wait_seconds histogram",
        "# TYPE mana_db_wait_seconds histogram",
        r#"mana_mail_queue_depth{status="failed"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        text.contains("mana_argon2_queue_wait_seconds_count 3"),
        "two logins and a sign-up hashed\n{text}"
    );
    // Ids and tokens never become labels.
    assert!(!text.contains(&personal));
    assert!(!text.contains(PASSWORD));
}

/// The argon2 work of a request, read from the server's own metrics.
async fn hashes(t: &TestServer) -> u64 {
    let text = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("mana_argon2_queue_wait_seconds_count "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn unknown_emails_cost_the_same_hashing_as_known_ones() {
    // No wall clock: the server's own count of argon2 runs shows that a login
    // for an address without an account does the same work as a wrong
    // password for one that exists.
    let t = TestServer::start().await;
    t.register("known@example.com").await;
    let before = hashes(&t).await;
    t.login("known@example.com", "wrong-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let known = hashes(&t).await - before;
    t.login("unknown@example.com", "wrong-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let unknown = hashes(&t).await - before - known;
    assert_eq!(known, 1);
    assert_eq!(unknown, 1);
    // forgot-password answers alike and writes once either way.
    let writes = |t: &TestServer| {
        t.count(
            "SELECT count(*) FROM security_events WHERE event_type = 'PASSWORD_RESET_REQUESTED'",
        )
    };
    let a = t
        .post(
            "/api/v1/auth/forgot-password",
            json!({ "email": "known@example.com" }),
        )
        .await;
    let b = t
        .post(
            "/api/v1/auth/forgot-password",
            json!({ "email": "unknown@example.com" }),
        )
        .await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    assert_eq!(writes(&t), 2);
}
