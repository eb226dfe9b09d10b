//! Settings: defaults, deep-merge cases, app overrides, the device
//! lifecycle and the size limit.

use serde_json::json;

use crate::common::TestServer;
use crate::self_service::patch_auth;

#[tokio::test]
async fn defaults_and_merge_cases() {
    let t = TestServer::start().await;
    let a = t.account("set@example.com").await;
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(
        all.body["globalSettings"],
        json!({ "nav": { "desktopPosition": "top", "sidebarCollapsed": false },
                "theme": { "mode": "system", "colorScheme": "ocean" }, "locale": "de" })
    );
    assert_eq!(all.body["appOverrides"], json!({}));

    // Nested object merge: one key changes, its siblings stay.
    let r = patch_auth(&t, "/api/v1/settings/global", &a.access,
        json!({ "theme": { "mode": "dark" }, "pinned": ["a", "b"], "extra": { "deep": { "x": 1, "y": 2 } } })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["globalSettings"]["theme"],
        json!({ "mode": "dark", "colorScheme": "ocean" })
    );
    assert_eq!(r.body["globalSettings"]["nav"]["desktopPosition"], "top");
    // Arrays replace, they do not append; nested objects merge recursively.
    let r = patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "pinned": ["c"], "extra": { "deep": { "y": 3 } } }),
    )
    .await;
    assert_eq!(r.body["globalSettings"]["pinned"], json!(["c"]));
    assert_eq!(
        r.body["globalSettings"]["extra"],
        json!({ "deep": { "x": 1, "y": 3 } })
    );
    // null deletes: a stored key vanishes, a defaulted key returns to default.
    let r = patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "pinned": null, "theme": { "mode": null }, "extra": { "deep": { "x": null } } }),
    )
    .await;
    assert!(
        r.body["globalSettings"].get("pinned").is_none(),
        "{}",
        r.body
    );
    assert_eq!(r.body["globalSettings"]["theme"]["mode"], "system");
    assert_eq!(
        r.body["globalSettings"]["extra"],
        json!({ "deep": { "y": 3 } })
    );
    // Scalar replaces object and back.
    let r = patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "extra": 5 }),
    )
    .await;
    assert_eq!(r.body["globalSettings"]["extra"], 5);
    // Only the user's choices are stored, not the defaults.
    let stored: String = t
        .db()
        .query_row(
            "SELECT settings FROM user_settings WHERE user_id = ?1",
            [&a.id],
            |r| r.get(0),
        )
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored, json!({ "theme": {}, "extra": 5 }));

    // Bad input.
    t.send(
        t.client
            .patch(t.url("/api/v1/settings/global"))
            .bearer_auth(&a.access)
            .json(&json!([1])),
    )
    .await
    .assert_error(400, "VALIDATION");
    let big = "x".repeat(40 * 1024);
    let r = patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "a": big }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    patch_auth(
        &t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "b": big }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.get("/api/v1/settings")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn app_overrides_merge_and_delete() {
    let t = TestServer::start().await;
    let a = t.account("apps@example.com").await;
    let r = patch_auth(
        &t,
        "/api/v1/settings/app/todo",
        &a.access,
        json!({ "view": "list", "sort": { "by": "date" } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = patch_auth(
        &t,
        "/api/v1/settings/app/todo",
        &a.access,
        json!({ "sort": { "dir": "asc" } }),
    )
    .await;
    assert_eq!(r.body["success"], true);
    assert_eq!(
        r.body["appOverrides"]["todo"],
        json!({ "view": "list", "sort": { "by": "date", "dir": "asc" } })
    );
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert_eq!(all.body["appOverrides"]["todo"]["sort"]["dir"], "asc");
    patch_auth(&t, "/api/v1/settings/app/bad%20id", &a.access, json!({}))
        .await
        .assert_error(400, "VALIDATION");
    let r = t.delete_auth("/api/v1/settings/app/todo", &a.access).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["appOverrides"], json!({}));
    // Deleting what is not there answers the settings too (as upstream).
    let r = t.delete_auth("/api/v1/settings/app/todo", &a.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], true);
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert_eq!(all.body["appOverrides"], json!({}));
}

#[tokio::test]
async fn device_lifecycle() {
    let t = TestServer::start().await;
    let a = t.account("dev@example.com").await;
    let b = t.account("dev2@example.com").await;
    let r = patch_auth(&t, "/api/v1/settings/device/laptop-1/todo", &a.access,
        json!({ "deviceName": "Laptop", "deviceType": "desktop", "settings": { "zoom": 1.2, "panes": [1, 2] } })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], true);
    let d = &r.body["deviceSettings"]["laptop-1"];
    assert_eq!(d["deviceName"], "Laptop");
    assert_eq!(d["deviceType"], "desktop");
    let first_seen = d["lastSeen"].as_str().unwrap().to_owned();
    assert_eq!(d["apps"]["todo"], json!({ "zoom": 1.2, "panes": [1, 2] }));

    t.clock.advance(chrono::Duration::minutes(5));
    // A second app on the same device; name and type stay when not sent.
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/laptop-1/notes",
        &a.access,
        json!({ "settings": { "font": "mono" } }),
    )
    .await;
    let d = &r.body["deviceSettings"]["laptop-1"];
    assert_eq!(d["deviceName"], "Laptop");
    assert!(d["lastSeen"].as_str().unwrap() > first_seen.as_str());
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/laptop-1/todo",
        &a.access,
        json!({ "settings": { "panes": [3] } }),
    )
    .await;
    assert_eq!(
        r.body["deviceSettings"]["laptop-1"]["apps"]["todo"],
        json!({ "zoom": 1.2, "panes": [3] })
    );
    // A device that never sent a name reads as "Unknown" (upstream default).
    let r = patch_auth(
        &t,
        "/api/v1/settings/device/phone/todo",
        &a.access,
        json!({ "deviceType": "mobile" }),
    )
    .await;
    assert_eq!(r.body["deviceSettings"]["phone"]["deviceName"], "Unknown");
    assert_eq!(r.body["deviceSettings"]["phone"]["deviceType"], "mobile");

    let list = t.get_auth("/api/v1/settings/devices", &a.access).await;
    assert_eq!(list.body["success"], true);
    let devices = list.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let laptop = devices
        .iter()
        .find(|d| d["deviceId"] == "laptop-1")
        .unwrap();
    assert_eq!(laptop["appCount"], 2);
    assert_eq!(laptop["apps"].as_object().unwrap().len(), 2);
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert_eq!(
        all.body["deviceSettings"]["laptop-1"]["apps"]["notes"]["font"],
        "mono"
    );
    // Another user sees none of it and cannot delete it: the answer is
    // their own (empty) settings, and the device stays.
    let other = t.get_auth("/api/v1/settings/devices", &b.access).await;
    assert_eq!(other.body["devices"], json!([]));
    let r = t
        .delete_auth("/api/v1/settings/device/laptop-1", &b.access)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["deviceSettings"], json!({}));
    let all = t.get_auth("/api/v1/settings", &a.access).await;
    assert!(all.body["deviceSettings"]["laptop-1"].is_object());

    let r = t
        .delete_auth("/api/v1/settings/device/laptop-1", &a.access)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM user_device_app_settings WHERE user_id = '{}' AND device_id = 'laptop-1'",
            a.id
        )),
        0
    );
    let list = t.get_auth("/api/v1/settings/devices", &a.access).await;
    assert_eq!(list.body["devices"].as_array().unwrap().len(), 1);
    let r = t
        .delete_auth("/api/v1/settings/device/laptop-1", &a.access)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["deviceSettings"].get("laptop-1").is_none());
}
