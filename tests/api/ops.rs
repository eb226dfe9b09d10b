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
