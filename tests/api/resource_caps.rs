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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_never_overshoot_the_space_cap() {
    let t = TestServer::start().await;
    let a = t.account("racer@example.com").await;
    // The personal space and 44 more: 45 owned.
    for i in 0..44 {
        t.create_space(&a.access, &format!("Team {i}"), "team")
            .await;
    }
    // 15 at once with 5 left: exactly 5 succeed, the rest are refused.
    let results = futures::future::join_all((0..15).map(|i| {
        t.post_auth(
            "/api/v1/gilden",
            &a.access,
            json!({ "name": format!("Race {i}"), "type": "team" }),
        )
    }))
    .await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        5,
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, r.body.to_string()))
            .collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(400, "VALIDATION");
    }
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM space_members WHERE user_id = '{}' AND role = 'owner'",
            a.id
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
    // The owner sees why a session ended: one event, naming the cap, and
    // none for the 49 sign-ins below it.
    let events = t
        .get_auth("/api/v1/auth/security-events", &access[50])
        .await;
    assert_eq!(events.status, 200, "{}", events.body);
    let ended: Vec<_> = events
        .body
        .as_array()
        .expect("a list of events")
        .iter()
        .filter(|e| {
            e["eventType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("SESSIONS_ENDED_BY_LIMIT"))
        })
        .cloned()
        .collect();
    assert_eq!(ended.len(), 1, "{}", events.body);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'SESSIONS_ENDED_BY_LIMIT' \
                 AND json_extract(metadata, '$.ended') = 1 AND json_extract(metadata, '$.limit') = 50"),
        1
    );
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

/// Leaves one of each kind of row the retention job looks at, for `email`:
/// sign-up events and mail, a reset request
/// (link, mail count, mail), an invitation withdrawn and one left open (the
/// invitation log), a failed login (failure row).
async fn leave_traces(t: &TestServer, email: &str) -> crate::common::Account {
    let a = t.account(email).await;
    verified(t, &a.id);
    let r = t
        .post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = fresh_login(t, email).await;
    let space = t
        .create_space(&token, &format!("Club of {email}"), "club")
        .await;
    let id = space["id"].as_str().unwrap().to_owned();
    let mut invitations = vec![];
    for guest in ["gone", "open"] {
        let r = t
            .post_auth(
                &format!("/api/v1/gilden/{id}/invite"),
                &token,
                json!({ "email": format!("{guest}.{email}"), "role": "member" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        invitations.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let d = t
        .delete_auth(
            &format!("/api/v1/gilden/{id}/invitations/{}", invitations[0]),
            &token,
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    // Last: a successful sign-in clears the failures.
    let bad = t.login(email, "not the password").await;
    assert_eq!(bad.status, 401, "{}", bad.body);
    t.eventually("the mail is handled", |t| {
        t.count("SELECT count(*) FROM mail_outbox WHERE status = 'pending' AND id <> 'stuck'") == 0
    })
    .await;
    a
}

/// Rows of `table` whose `column` is the user's id or mentions `email`.
fn rows(t: &TestServer, table: &str, column: &str, who: &str) -> i64 {
    t.count(&format!(
        "SELECT count(*) FROM {table} WHERE {column} LIKE '%{who}%'"
    ))
}

#[tokio::test]
async fn retention_removes_what_is_due_and_nothing_else() {
    let t = TestServer::start_with(|c| c.rate_limit_auth = 0).await;
    crate::admin::admin(&t, "root@example.com").await;
    let old = leave_traces(&t, "old@example.com").await;
    // Mail still pending (a relay that was down) is never removed, however old.
    t.db()
        .execute(
            "INSERT INTO mail_outbox (id, kind, to_address, subject, text_body, html_body, \
             status, next_attempt_at, created_at) VALUES ('stuck', 'test', 'old@example.com', \
             's', 't', 'h', 'pending', '2999-01-01T00:00:00.000Z', ?1)",
            [mana_auth::clock::iso(t.clock.now())],
        )
        .unwrap();
    let kinds = |who: &str| {
        [
            rows(&t, "security_events", "user_id", who),
            rows(&t, "mail_outbox", "to_address", who),
            rows(&t, "sessions", "user_id", who),
            rows(&t, "verification_tokens", "email", who),
            rows(&t, "login_failures", "email", who),
            rows(&t, "space_invitations", "email", who),
        ]
    };
    let before = kinds("old@example.com");
    let before_id = kinds(&old.id);
    assert!(before_id[0] >= 2 && before_id[2] >= 1, "{before_id:?}");
    assert!(
        before[1] >= 3 && before[3] >= 1 && before[4] == 1 && before[5] == 2,
        "{before:?}"
    );
    let old_quota = t.count("SELECT count(*) FROM mail_quota");
    let old_log = t.count("SELECT count(*) FROM space_invite_log");
    assert!(old_quota >= 1 && old_log == 2);

    // 160 days on: someone whose rows are 21 days old at the run.
    t.clock.advance(chrono::Duration::days(160));
    let middle = leave_traces(&t, "middle@example.com").await;
    let middle_before = (kinds("middle@example.com"), kinds(&middle.id));
    // 21 days on: someone whose rows are new, and the run.
    t.clock.advance(chrono::Duration::days(21));
    let quota_before_fresh = t.count("SELECT count(*) FROM mail_quota");
    let fresh = leave_traces(&t, "fresh@example.com").await;
    let fresh_quota = t.count("SELECT count(*) FROM mail_quota") - quota_before_fresh;
    assert!(fresh_quota >= 1);
    let fresh_before = (kinds("fresh@example.com"), kinds(&fresh.id));
    let admin = fresh_login(&t, "root@example.com").await;
    let run = t
        .post_auth("/api/v1/admin/retention/run", &admin, json!({}))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);

    // Everything of the old user's is due: events (180 days), mail not
    // pending (30), sessions and links long expired, the failure window
    // gone, invitations closed or expired more than 30 days ago.
    assert_eq!(kinds(&old.id)[0], 0, "old events");
    assert_eq!(kinds(&old.id)[2], 0, "old sessions");
    let after = kinds("old@example.com");
    assert_eq!(after[1], 1, "only the pending mail stays");
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE id = 'stuck'"),
        1
    );
    assert_eq!(after[3], 0, "old links");
    assert_eq!(after[4], 0, "old login failures");
    assert_eq!(after[5], 0, "old invitations");
    // The middle user's rows are 21 days old: their sessions and links
    // expired, their events, mail and invitations are kept.
    let (m, m_id) = (kinds("middle@example.com"), kinds(&middle.id));
    assert_eq!(m_id[0], middle_before.1[0], "events of 21 days stay");
    assert_eq!(m[1], middle_before.0[1], "mail of 21 days stays");
    assert_eq!(m_id[2], 0, "expired sessions go");
    assert_eq!(m[3], 0, "links expired for more than a day go");
    assert_eq!(m[4], 0, "failures out of the window go");
    assert_eq!(m[5], 2, "invitations closed 21 days ago stay");
    // The fresh user's rows all stay, the admin's session too.
    assert_eq!(kinds("fresh@example.com"), fresh_before.0);
    assert_eq!(kinds(&fresh.id), fresh_before.1);
    assert_eq!(t.get_auth("/api/v1/auth/session", &admin).await.status, 200);
    // Rate-limit rows: the fresh ones are left (the mail count of the last
    // hour, the invitation log of the last day).
    assert_eq!(t.count("SELECT count(*) FROM space_invite_log"), 2);
    assert_eq!(t.count("SELECT count(*) FROM mail_quota"), fresh_quota);

    // The report counts them; a second run finds nothing left.
    assert!(run.body["securityEvents"].as_i64().unwrap() >= before_id[0]);
    assert!(run.body["mail"].as_i64().unwrap() >= before[1] - 1);
    assert!(run.body["expiredSessions"].as_i64().unwrap() >= 2);
    assert!(run.body["expiredTokens"].as_i64().unwrap() >= 2);
    assert!(run.body["rateLimitRows"].as_i64().unwrap() >= 4);
    assert_eq!(run.body["closedInvitations"], 2);
    let again = t
        .post_auth("/api/v1/admin/retention/run", &admin, json!({}))
        .await;
    for k in [
        "securityEvents",
        "mail",
        "expiredSessions",
        "expiredTokens",
        "closedInvitations",
    ] {
        assert_eq!(again.body[k], 0, "{k}: {}", again.body);
    }
}

#[tokio::test]
async fn retention_of_zero_days_keeps_events_and_mail_for_ever() {
    let t = TestServer::start_with(|c| {
        c.retention_security_events_days = 0;
        c.retention_mail_days = 0;
    })
    .await;
    let a = t.account("keeper@example.com").await;
    t.eventually("the mail is handled", |t| {
        t.count("SELECT count(*) FROM mail_outbox WHERE status = 'pending'") == 0
    })
    .await;
    let events = rows(&t, "security_events", "user_id", &a.id);
    let mail = t.count("SELECT count(*) FROM mail_outbox");
    t.clock.advance(chrono::Duration::days(3650));
    let state = t.state();
    let report = mana_auth::retention::run(&state.db, &state.retention, state.now())
        .await
        .unwrap();
    assert_eq!(report.security_events, 0);
    assert_eq!(report.mail, 0);
    assert_eq!(rows(&t, "security_events", "user_id", &a.id), events);
    assert_eq!(t.count("SELECT count(*) FROM mail_outbox"), mail);
    assert!(report.expired_sessions >= 1, "expired sessions still go");
}

#[tokio::test]
async fn the_admin_sees_the_retention_policy_and_no_one_else_does() {
    let t = TestServer::start_with(|c| c.retention_mail_days = 7).await;
    let root = crate::admin::admin(&t, "root@example.com").await;
    let user = t.account("user@example.com").await;
    let admin = fresh_login(&t, &root.email).await;
    let policy = t.get_auth("/api/v1/admin/retention", &admin).await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    assert_eq!(policy.body["policy"]["securityEventsDays"], 180);
    assert_eq!(policy.body["policy"]["mailDays"], 7);
    assert_eq!(policy.body["limits"]["sessionsPerUser"], 50);
    assert_eq!(policy.body["limits"]["spacesOwned"], 50);
    assert!(policy.body["lastRun"].is_null());
    let run = t
        .post_auth("/api/v1/admin/retention/run", &admin, json!({}))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let again = t.get_auth("/api/v1/admin/retention", &admin).await;
    assert_eq!(again.body["lastRun"]["ranAt"], run.body["ranAt"]);

    // Not for a user, nor without a token, nor with a revoked admin session.
    t.get_auth("/api/v1/admin/retention", &user.access)
        .await
        .assert_error(403, "FORBIDDEN");
    t.post_auth("/api/v1/admin/retention/run", &user.access, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    t.post("/api/v1/admin/retention/run", json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    let out = t.post_auth("/api/v1/auth/logout", &admin, json!({})).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        t.post_auth("/api/v1/admin/retention/run", &admin, json!({}))
            .await
            .status,
        401
    );
}
