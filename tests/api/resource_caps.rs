//! Per-user resources are bounded: settings documents (count per device and
//! bytes per user), spaces owned, open sessions, pending invitations per
//! space, stored revoked API keys; old security events and mail are pruned
//! by the retention job.

use serde_json::json;

use crate::common::{TestServer, PASSWORD};
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

async fn fresh_login(t: &TestServer, email: &str) -> String {
    let l = t.login(email, PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    l.body["accessToken"].as_str().unwrap().to_owned()
}

fn verified(t: &TestServer, id: &str) {
    t.db()
        .execute("UPDATE users SET email_verified = 1 WHERE id = ?1", [id])
        .unwrap();
}

#[tokio::test]
async fn a_user_owns_a_bounded_number_of_spaces() {
    let t = TestServer::start().await;
    let a = t.account("builder@example.com").await;
    // The personal space counts: 49 more, then no more.
    for i in 0..49 {
        t.create_space(&a.access, &format!("Team {i}"), "team")
            .await;
    }
    t.post_auth(
        "/api/v1/gilden",
        &a.access,
        json!({ "name": "One too many", "type": "team" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM space_members WHERE user_id = '{}' AND role = 'owner'",
            a.id
        )),
        50
    );

    // The same cap through the Better Auth door, in its error shape.
    let b = crate::better_auth::Browser::new(&t);
    let r = b.sign_up("ba.builder@example.com", "B").await;
    let b_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    for i in 0..49 {
        let r = b
            .post(
                "/api/auth/organization/create",
                json!({ "name": format!("Org {i}"), "slug": format!("ba-org-{i}") }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = b
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Org 50", "slug": "ba-org-50" }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["code"].is_string() && r.body["message"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(
        t.count("SELECT count(*) FROM spaces WHERE slug = 'ba-org-50'"),
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM space_members WHERE user_id = '{b_id}' AND role = 'owner'"
        )),
        50
    );
}

#[tokio::test]
async fn the_oldest_session_goes_beyond_fifty_and_its_tokens_with_it() {
    let t = TestServer::start_with(|c| c.rate_limit_auth = 0).await;
    let a = t.account("many@example.com").await;
    let mut refresh = vec![a.refresh.clone()];
    let mut access = vec![a.access.clone()];
    for _ in 0..50 {
        let l = t.login("many@example.com", PASSWORD).await;
        assert_eq!(l.status, 200, "{}", l.body);
        refresh.push(l.body["refreshToken"].as_str().unwrap().to_owned());
        access.push(l.body["accessToken"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )),
        50
    );
    // The first session is gone, both its tokens refused at once.
    t.get_auth("/api/v1/auth/session", &access[0])
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    t.post(
        "/api/v1/auth/refresh",
        json!({ "refreshToken": refresh[0] }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
    // The second one and the newest still work.
    for i in [1, 50] {
        assert_eq!(
            t.get_auth("/api/v1/auth/session", &access[i]).await.status,
            200
        );
    }
}

#[tokio::test]
async fn a_space_has_a_bounded_number_of_pending_invitations() {
    let t = TestServer::start_with(|c| c.rate_limit_auth = 0).await;
    let a = t.account("inviter@example.com").await;
    verified(&t, &a.id);
    let space = t.create_space(&a.access, "Club", "club").await;
    let id = space["id"].as_str().unwrap().to_owned();
    let invite = |token: String, n: usize| {
        let path = format!("/api/v1/gilden/{id}/invite");
        let t = &t;
        async move {
            t.post_auth(
                &path,
                &token,
                json!({ "email": format!("guest{n}@example.com"), "role": "member" }),
            )
            .await
        }
    };
    // 100 in a day (the invitation rate limits allow that many).
    for hour in 0..5 {
        let token = fresh_login(&t, "inviter@example.com").await;
        for k in 0..20 {
            let r = invite(token.clone(), hour * 20 + k).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        t.clock.advance(chrono::Duration::minutes(61));
    }
    // A day later the rate limits allow more, but 100 are still pending.
    t.clock.advance(chrono::Duration::hours(20));
    let token = fresh_login(&t, "inviter@example.com").await;
    invite(token.clone(), 1000)
        .await
        .assert_error(400, "VALIDATION");
    // Re-inviting a pending address is not a new invitation.
    assert_eq!(invite(token, 5).await.status, 200);
    assert_eq!(
        t.count("SELECT count(*) FROM space_invitations WHERE status = 'pending'"),
        100
    );
}

#[tokio::test]
async fn only_the_newest_revoked_api_keys_are_kept() {
    let t = TestServer::start().await;
    let a = t.account("keys@example.com").await;
    for i in 0..30 {
        let r = t
            .post_auth(
                "/api/v1/api-keys",
                &a.access,
                json!({ "name": format!("k{i}") }),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let d = t
            .delete_auth(&format!("/api/v1/api-keys/{id}"), &a.access)
            .await;
        assert_eq!(d.status, 200, "{}", d.body);
    }
    assert_eq!(
        t.count("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL"),
        20
    );
    assert_eq!(
        t.count("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL AND name = 'k29'"),
        1
    );
}
