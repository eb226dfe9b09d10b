//! Hostile and malformed input: every endpoint answers a clean 4xx envelope,
//! changes nothing, and the server stays healthy.

use serde_json::json;

use crate::common::TestServer;

const JSON_ENDPOINTS: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/validate",
    "/api/v1/auth/logout",
    "/api/v1/auth/profile",
    "/api/v1/auth/change-password",
];

fn assert_4xx_envelope(r: &crate::common::Resp, what: &str) {
    assert!(
        r.status.is_client_error(),
        "{what}: status {} body {}",
        r.status,
        r.body
    );
    assert!(r.body["error"].is_string(), "{what}: {}", r.body);
    assert_eq!(r.body["status"], r.status.as_u16(), "{what}");
    assert!(r.body["message"].is_string(), "{what}");
}

#[tokio::test]
async fn malformed_bodies_get_a_4xx_envelope_on_every_endpoint() {
    let t = TestServer::start().await;
    let a = t.account("input@example.com").await;
    let huge_string = "x".repeat(70 * 1024);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed json", b"{\"email\": ".to_vec(), "application/json"),
        ("json array", br#"["input@example.com", "correct-horse-battery"]"#.to_vec(), "application/json"),
        ("json scalar", b"42".to_vec(), "application/json"),
        ("wrong types", br#"{"email": 5, "password": [1], "token": {}, "refreshToken": 7, "name": 1, "currentPassword": true, "newPassword": null}"#.to_vec(), "application/json"),
        ("huge string", format!("{{\"email\":\"{huge_string}\",\"password\":\"a\"}}").into_bytes(), "application/json"),
        ("oversized body", vec![b' '; 1024 * 1024], "application/json"),
        ("invalid utf-8", b"{\"email\": \"\xff\xfe\", \"password\": \"\xc3\x28\"}".to_vec(), "application/json"),
        ("deep nesting", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(), "application/json"),
        ("wrong content type", br#"{"email":"a@b.de","password":"x"}"#.to_vec(), "text/plain"),
    ];
    for path in JSON_ENDPOINTS {
        for (name, body, ctype) in &cases {
            let r = t
                .send(
                    t.client
                        .post(t.url(path))
                        .bearer_auth(&a.access)
                        .header("content-type", *ctype)
                        .body(body.clone()),
                )
                .await;
            // /validate and /logout accept a missing token; anything they
            // cannot parse is still a 4xx.
            assert_4xx_envelope(&r, &format!("{path} {name}"));
        }
    }
    // NUL bytes inside strings: refused for emails, harmless elsewhere.
    let nul = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "nul\u{0}@example.com", "password": "correct-horse-battery" }),
        )
        .await;
    nul.assert_error(400, "VALIDATION");
    let nul_login = t
        .post(
            "/api/v1/auth/login",
            json!({ "email": "input@example.com\u{0}", "password": "x\u{0}y" }),
        )
        .await;
    assert_4xx_envelope(&nul_login, "nul login");
    let nul_name = t
        .post_auth(
            "/api/v1/auth/profile",
            &a.access,
            json!({ "name": "a\u{0}b" }),
        )
        .await;
    nul_name.assert_error(400, "VALIDATION");

    // A 10 MB body is answered with 413, not a reset connection.
    let big = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/register"))
                .header("content-type", "application/json")
                .body(vec![b'a'; 10 * 1024 * 1024]),
        )
        .await;
    big.assert_error(413, "PAYLOAD_TOO_LARGE");

    // Nothing changed and the server is healthy.
    assert_eq!(t.count("SELECT count(*) FROM users"), 1);
    let h = t.get("/health").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    assert_eq!(h.body["service"], "mana-auth");
    assert!(h.body["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn field_errors_name_the_field_and_never_echo_values() {
    let t = TestServer::start().await;
    let r = t
        .post(
            "/api/v1/auth/login",
            json!({ "email": "a@b.de", "password": 1234567890123_u64 }),
        )
        .await;
    r.assert_error(400, "VALIDATION");
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("password"), "{msg}");
    assert!(!msg.contains("1234567890123"), "{msg}");
    let missing = t
        .post("/api/v1/auth/login", json!({ "email": "a@b.de" }))
        .await;
    missing.assert_error(400, "VALIDATION");
    assert!(missing.body["message"]
        .as_str()
        .unwrap()
        .contains("password"));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let t = TestServer::start().await;
    t.get("/api/v1/nothing-here")
        .await
        .assert_error(404, "NOT_FOUND");
    t.get("/../../etc/passwd")
        .await
        .assert_error(404, "NOT_FOUND");
    let r = t.send(t.client.delete(t.url("/api/v1/auth/login"))).await;
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    let r = t.send(t.client.get(t.url("/api/v1/auth/register"))).await;
    r.assert_error(405, "METHOD_NOT_ALLOWED");
    // Malformed query strings and bad bearer headers.
    let r = t
        .send(
            t.client
                .get(t.url("/api/v1/auth/profile"))
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    let r = t
        .send(
            t.client
                .get(t.url("/api/v1/auth/profile"))
                .header("authorization", "Bearer"),
        )
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(t.get("/health").await.status, 200);
}

#[tokio::test]
async fn responses_carry_request_id_and_security_headers() {
    let t = TestServer::start().await;
    let r = t.get("/health").await;
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    let given = t
        .send(
            t.client
                .get(t.url("/health"))
                .header("x-request-id", "trace-me-123"),
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "trace-me-123");
}

mod slow_and_flooding_clients {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use crate::common::TestServer;

    fn connect(t: &TestServer) -> TcpStream {
        let addr = t.base.trim_start_matches("http://").to_owned();
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn read_all(mut s: TcpStream) -> String {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_dribbles_its_headers_is_cut_off() {
        let t = TestServer::start_with(|c| c.header_timeout_secs = 1).await;
        let mut s = connect(&t);
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
        let started = Instant::now();
        let answer = tokio::task::spawn_blocking(move || read_all(s))
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(8),
            "connection held for {waited:?}"
        );
        assert!(!answer.contains("200 OK"), "{answer}");
        assert_eq!(t.get("/health").await.status, 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_dribbles_its_body_gets_408() {
        let t = TestServer::start_with(|c| c.request_timeout_secs = 1).await;
        let mut s = connect(&t);
        s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":").unwrap();
        let answer = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"REQUEST_TIMEOUT\""), "{answer}");
        assert_eq!(t.get("/health").await.status, 200);
    }

    #[tokio::test]
    async fn a_header_flood_is_refused_with_a_4xx() {
        let t = TestServer::start().await;
        // Many fields: answered in the envelope.
        let mut req = t.client.get(t.url("/health"));
        for i in 0..200 {
            req = req.header(format!("x-flood-{i}"), "v");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 431);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "HEADERS_TOO_LARGE");
        assert_eq!(body["status"], 431);
        // Few fields, many bytes: the same.
        let mut req = t.client.get(t.url("/health"));
        for i in 0..50 {
            req = req.header(format!("x-flood-{i}"), "v".repeat(1024));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 431);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "HEADERS_TOO_LARGE");
        let huge = t
            .client
            .get(t.url("/health"))
            .header("x-big", "v".repeat(512 * 1024))
            .send()
            .await;
        if let Ok(r) = huge {
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        assert_eq!(t.get("/health").await.status, 200);
    }
}
