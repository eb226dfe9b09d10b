//! Admin actions on a user: tier and role validation, the lock, and the
//! security event every action leaves.

use serde_json::{json, Value};

use crate::admin::admin;
use crate::common::{TestServer, PASSWORD};

#[tokio::test]
async fn tier_and_role_are_validated_and_applied() {
    let t = TestServer::start().await;
    let a = admin(&t, "root@example.com").await;
    let u = t.account("user@example.com").await;
    let tier = format!("/api/v1/admin/users/{}/tier", u.id);
    let role = format!("/api/v1/admin/users/{}/role", u.id);

    for body in [
        json!({ "tier": "gold" }),
        json!({ "tier": 3 }),
        json!({}),
        json!({ "tier": "" }),
    ] {
        t.put_auth(&tier, &a.access, body)
            .await
            .assert_error(400, "VALIDATION");
    }
    for body in [
        json!({ "role": "root" }),
        json!({ "role": null }),
        json!({ "role": "ADMIN" }),
    ] {
        t.put_auth(&role, &a.access, body)
            .await
            .assert_error(400, "VALIDATION");
    }
    t.put_auth(
        &format!("/api/v1/admin/users/{}/role", a.id),
        &a.access,
        json!({ "role": "user" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.put_auth(
        "/api/v1/admin/users/nope/tier",
        &a.access,
        json!({ "tier": "beta" }),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    t.get_auth("/api/v1/admin/users/nope", &a.access)
        .await
        .assert_error(404, "NOT_FOUND");
    t.get_auth("/api/v1/admin/users/nope/tier", &a.access)
        .await
        .assert_error(404, "NOT_FOUND");
    t.get_auth("/api/v1/admin/spaces/nope", &a.access)
        .await
        .assert_error(404, "NOT_FOUND");

    let r = t
        .put_auth(&tier, &a.access, json!({ "tier": "founder" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.get_auth(&tier, &a.access).await.body,
        json!({ "userId": u.id, "tier": "founder", "id": u.id, "email": "user@example.com",
                "accessTier": "founder" })
    );
    let meta: String = t
        .db()
        .query_row(
            "SELECT metadata FROM spaces WHERE personal_of = ?1",
            [&u.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&meta).unwrap()["tier"],
        "founder"
    );
    let r = t
        .put_auth(&role, &a.access, json!({ "role": "service" }))
        .await;
    assert_eq!(r.body["role"], "service");
    // The next token carries both.
    let fresh = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": u.refresh }))
        .await;
    let v = t
        .post(
            "/api/v1/auth/validate",
            json!({ "token": fresh.body["accessToken"] }),
        )
        .await;
    assert_eq!(v.body["payload"]["tier"], "founder");
    assert_eq!(v.body["payload"]["role"], "service");

    let detail = t
        .get_auth(&format!("/api/v1/admin/users/{}", u.id), &a.access)
        .await;
    assert_eq!(detail.body["user"]["accessTier"], "founder");
    assert_eq!(detail.body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(detail.body["spaces"].as_array().unwrap().len(), 1);
    assert!(detail.body["recentEvents"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn lock_makes_login_fail_and_unlock_restores_it() {
    let t = TestServer::start().await;
    let a = admin(&t, "root@example.com").await;
    let u = t.account("user@example.com").await;
    let base = format!("/api/v1/admin/users/{}", u.id);
    let r = t
        .post_auth(
            &format!("{base}/lock"),
            &a.access,
            json!({ "reason": "abuse" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["revokedSessions"], 1);
    t.login(&u.email, PASSWORD)
        .await
        .assert_error(403, "FORBIDDEN");
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": u.refresh }))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    // A wrong password is still just wrong (the lock is not revealed).
    t.login(&u.email, "wrong-password!")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let users = t
        .get_auth("/api/v1/admin/users?search=user@", &a.access)
        .await;
    assert_eq!(users.body["users"][0]["locked"], true);
    let detail = t.get_auth(&base, &a.access).await;
    assert_eq!(detail.body["lock"]["reason"], "abuse");
    // An admin cannot lock themselves out.
    t.post_auth(
        &format!("/api/v1/admin/users/{}/lock", a.id),
        &a.access,
        json!({}),
    )
    .await
    .assert_error(400, "VALIDATION");

    let r = t
        .post_auth(&format!("{base}/unlock"), &a.access, json!({}))
        .await;
    assert_eq!(r.body["wasLocked"], true);
    assert_eq!(t.login(&u.email, PASSWORD).await.status, 200);

    let s = t
        .send(
            t.client
                .delete(t.url(&format!("{base}/sessions")))
                .bearer_auth(&a.access),
        )
        .await;
    assert_eq!(s.body["revokedSessions"], 1);
}

#[tokio::test]
async fn every_admin_action_leaves_an_event_naming_the_admin() {
    let t = TestServer::start().await;
    let a = admin(&t, "root@example.com").await;
    let u = t.account("user@example.com").await;
    let base = format!("/api/v1/admin/users/{}", u.id);
    t.put_auth(
        &format!("{base}/tier"),
        &a.access,
        json!({ "tier": "beta" }),
    )
    .await;
    t.put_auth(
        &format!("{base}/role"),
        &a.access,
        json!({ "role": "service" }),
    )
    .await;
    t.post_auth(&format!("{base}/lock"), &a.access, json!({}))
        .await;
    t.post_auth(&format!("{base}/unlock"), &a.access, json!({}))
        .await;
    t.send(
        t.client
            .delete(t.url(&format!("{base}/sessions")))
            .bearer_auth(&a.access),
    )
    .await;
    let data = t.get_auth(&format!("{base}/data"), &a.access).await;
    assert_eq!(data.body["user"]["email"], u.email);
    let erased = t.delete_auth(&format!("{base}/data"), &a.access).await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["deleted"]["users"], 1);
    t.get_auth(&base, &a.access)
        .await
        .assert_error(404, "NOT_FOUND");

    let events = t
        .get_auth(
            &format!("/api/v1/admin/security-events?userId={}&limit=100", a.id),
            &a.access,
        )
        .await;
    let events = events.body["events"].as_array().unwrap().clone();
    for kind in [
        "ADMIN_TIER_CHANGED",
        "ADMIN_ROLE_CHANGED",
        "ADMIN_USER_LOCKED",
        "ADMIN_USER_UNLOCKED",
        "ADMIN_SESSIONS_REVOKED",
        "ADMIN_DATA_VIEWED",
        "ADMIN_DATA_ERASED",
    ] {
        let e = events
            .iter()
            .find(|e| e["eventType"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event"));
        assert_eq!(e["userId"], a.id.as_str());
        assert_eq!(e["metadata"]["adminId"], a.id.as_str());
        assert_eq!(e["metadata"]["adminEmail"], a.email.as_str());
        assert_eq!(e["metadata"]["targetUserId"], u.id.as_str());
    }
    let by_type = t
        .get_auth(
            "/api/v1/admin/security-events?type=admin_tier_changed",
            &a.access,
        )
        .await;
    assert_eq!(by_type.body["total"], 1);
    t.get_auth("/api/v1/admin/security-events?type=DROP%20TABLE", &a.access)
        .await
        .assert_error(400, "VALIDATION");
}
