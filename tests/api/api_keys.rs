//! API keys: create → validate → scope denied → revoke → invalid; the key
//! is shown once and stored only as its SHA-256.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn key_lifecycle() {
    let t = TestServer::start().await;
    let a = t.account("keys@example.com").await;
    let r = t
        .post_auth(
            "/api/v1/api-keys",
            &a.access,
            json!({ "name": "deploy", "scopes": ["sync:read", "sync:write"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["userId"], a.id);
    assert_eq!(r.body["rateLimitRequests"], 60);
    assert!(r.body.get("keyHash").is_none(), "{}", r.body);
    let key = r.body["key"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk_live_") && key.len() == 72, "{key}");
    assert!(key[8..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(r.body["keyPrefix"], &key[..12]);

    // Stored: the SHA-256 of the key, never the key.
    let (hash, prefix): (String, String) = t
        .db()
        .query_row(
            "SELECT key_hash, key_prefix FROM api_keys WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(key.as_bytes())));
    assert_ne!(hash, key);
    assert_eq!(prefix, &key[..12]);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM api_keys WHERE key_hash LIKE '%{}%'",
            &key[8..]
        )),
        0
    );

    // The list never shows the key or the hash.
    let list = t.get_auth("/api/v1/api-keys", &a.access).await;
    let text = list.body.to_string();
    assert!(!text.contains(&key[8..]) && !text.contains(&hash));
    assert_eq!(list.body[0]["name"], "deploy");
    assert_eq!(list.body[0]["revokedAt"], json!(null));
    assert!(list.body[0].get("key").is_none());

    // Validate ok, with and without a scope; last_used_at set.
    let ok = t
        .post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
        .await;
    assert_eq!(
        ok.body,
        json!({ "valid": true, "userId": a.id, "scopes": ["sync:read", "sync:write"],
                "rateLimit": { "requests": 60, "window": 60 } })
    );
    let ok = t
        .post(
            "/api/v1/api-keys/validate",
            json!({ "apiKey": key, "scope": "sync:read" }),
        )
        .await;
    assert_eq!(ok.body["valid"], true);
    let used: Option<String> = t
        .db()
        .query_row(
            "SELECT last_used_at FROM api_keys WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    let used = used.expect("last_used_at is set on first use");
    // Within a minute no further write; after it, the stamp moves.
    t.post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
        .await;
    let same: String = t
        .db()
        .query_row(
            "SELECT last_used_at FROM api_keys WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(same, used);
    t.clock.advance(chrono::Duration::minutes(2));
    t.post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
        .await;
    let later: String = t
        .db()
        .query_row(
            "SELECT last_used_at FROM api_keys WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(later > used);

    // Scope denied.
    let denied = t
        .post(
            "/api/v1/api-keys/validate",
            json!({ "apiKey": key, "scope": "admin" }),
        )
        .await;
    assert_eq!(denied.status, 200);
    assert_eq!(denied.body["valid"], false);
    assert_eq!(denied.body["reason"], "scope_denied");
    assert!(denied.body["error"].is_string(), "{}", denied.body);
    assert!(denied.body.get("userId").is_none(), "{}", denied.body);
    // Unknown, malformed, missing.
    let unknown = format!("sk_live_{}", "0".repeat(64));
    assert_eq!(
        t.post("/api/v1/api-keys/validate", json!({ "apiKey": unknown }))
            .await
            .body["valid"],
        false
    );
    assert_eq!(
        t.post("/api/v1/api-keys/validate", json!({ "apiKey": "nope" }))
            .await
            .body["reason"],
        "malformed"
    );
    assert_eq!(
        t.post("/api/v1/api-keys/validate", json!({})).await.body["valid"],
        false
    );

    // Revoke: another user cannot; the owner can, once; then invalid.
    let b = t.account("other@example.com").await;
    t.delete_auth(&format!("/api/v1/api-keys/{id}"), &b.access)
        .await
        .assert_error(404, "NOT_FOUND");
    let r = t
        .delete_auth(&format!("/api/v1/api-keys/{id}"), &a.access)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.delete_auth(&format!("/api/v1/api-keys/{id}"), &a.access)
        .await
        .assert_error(404, "NOT_FOUND");
    let gone = t
        .post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
        .await;
    assert_eq!(gone.body["valid"], false);
    assert_eq!(gone.body["reason"], "revoked");
    assert!(gone.body.get("userId").is_none(), "{}", gone.body);
    // The list keeps the revoked key, marked (as upstream lists it).
    let list = t.get_auth("/api/v1/api-keys", &a.access).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(list.body[0]["revokedAt"].is_string(), "{}", list.body);

    // Security events for both.
    for event in ["API_KEY_CREATED", "API_KEY_REVOKED"] {
        assert_eq!(
            t.count(&format!("SELECT count(*) FROM security_events WHERE user_id = '{}' AND event_type = '{event}'", a.id)),
            1
        );
    }
}

#[tokio::test]
async fn key_input_is_checked() {
    let t = TestServer::start().await;
    let a = t.account("keys2@example.com").await;
    t.post_auth("/api/v1/api-keys", &a.access, json!({ "name": "" }))
        .await
        .assert_error(400, "VALIDATION");
    t.post_auth(
        "/api/v1/api-keys",
        &a.access,
        json!({ "name": "x", "scopes": ["has space"] }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.post_auth(
        "/api/v1/api-keys",
        &a.access,
        json!({ "name": "x", "scopes": "read" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.post("/api/v1/api-keys", json!({ "name": "x" }))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // No scopes: the key authenticates but grants no scope.
    let r = t
        .post_auth("/api/v1/api-keys", &a.access, json!({ "name": "plain" }))
        .await;
    let key = r.body["key"].as_str().unwrap();
    assert_eq!(
        t.post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
            .await
            .body["valid"],
        true
    );
    assert_eq!(
        t.post(
            "/api/v1/api-keys/validate",
            json!({ "apiKey": key, "scope": "read" })
        )
        .await
        .body["reason"],
        "scope_denied"
    );
}
