//! Per-user resources are bounded: settings documents (count per device and
//! bytes per user).

use serde_json::json;

use crate::common::TestServer;
use crate::self_service::patch_auth;

#[tokio::test]
async fn device_settings_are_capped_per_device_and_in_bytes_per_user() {
    let t = TestServer::start().await;
    let a = t.account("hoarder@example.com").await;

    // The per-app cap (100) applies per device.
    for i in 0..100 {
        let r = patch_auth(
            &t,
            &format!("/api/v1/settings/device/d1/app-{i}"),
            &a.access,
            json!({ "settings": { "x": i } }),
        )
        .await;
        assert_eq!(r.status, 200, "app {i}: {}", r.body);
    }
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/d1/app-100",
        &a.access,
        json!({ "settings": { "x": 1 } }),
    )
    .await;
    r.assert_error(400, "VALIDATION");
    // An app the device has already can still change.
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/d1/app-7",
        &a.access,
        json!({ "settings": { "y": 2 } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.count("SELECT count(*) FROM user_device_app_settings WHERE device_id = 'd1'"),
        100
    );
    assert_eq!(
        t.delete_auth("/api/v1/settings/device/d1", &a.access)
            .await
            .status,
        200
    );

    // 60 KB documents, as in the report: the per-user quota (1 MiB over
    // every settings document) stops them.
    let blob = "x".repeat(60 * 1024);
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..40 {
        let r = patch_auth(
            &t,
            &format!("/api/v1/settings/device/d2/big-{i}"),
            &a.access,
            json!({ "settings": { "blob": blob } }),
        )
        .await;
        if r.status == 200 {
            accepted += 1;
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("60 KB documents were never refused");
    refused.assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(accepted, 17, "1 MiB / 60 KB");
    let stored = t.count(
        "SELECT (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_device_app_settings) \
         + (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_app_settings) \
         + (SELECT coalesce(sum(length(CAST(settings AS BLOB))), 0) FROM user_settings)",
    );
    assert!(stored <= 1024 * 1024, "{stored} bytes stored");
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert!(all.body.to_string().len() < 1100 * 1024);

    // The quota counts app overrides and the global document too.
    let r = patch_auth(
        &t,
        "/api/v1/settings/app/notes",
        &a.access,
        json!({ "blob": blob }),
    )
    .await;
    r.assert_error(413, "PAYLOAD_TOO_LARGE");
    let r = patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "blob": blob }),
    )
    .await;
    r.assert_error(413, "PAYLOAD_TOO_LARGE");
    // Replacing a document with one of the same size is fine at the quota.
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/d2/big-0",
        &a.access,
        json!({ "settings": { "blob": "y".repeat(60 * 1024) } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Removing the device frees the room.
    assert_eq!(
        t.delete_auth("/api/v1/settings/device/d2", &a.access)
            .await
            .status,
        200
    );
    let r = patch_auth(
        &t,
        "/api/v1/settings/app/notes",
        &a.access,
        json!({ "blob": blob }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Another user's quota is their own.
    let b = t.account("modest@example.com").await;
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/d/big",
        &b.access,
        json!({ "settings": { "blob": blob } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
