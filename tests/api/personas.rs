//! Personas over HTTP: an admin creates them (a real user, as sign-up makes
//! one), the runner drives them through `/due` → actions → feedback with a
//! moved clock, the admin reads and deletes them; plus every refusal.

use chrono::{Datelike, Duration, Timelike};
use serde_json::{json, Value};

use crate::admin::admin;
use crate::common::{Account, TestServer, PASSWORD};

pub(crate) const ADMIN: &str = "/api/v1/admin/personas";
pub(crate) const INTERNAL: &str = "/api/v1/internal/personas";
pub(crate) const SERVICE_KEY: &str = "persona-runner-service-key-0123";

pub(crate) async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.mana_service_key = mana_auth::config::Secret::new(SERVICE_KEY.to_owned());
    })
    .await
}

pub(crate) fn anna() -> Value {
    json!({
        "email": "anna@mana.test",
        "name": "Anna",
        "archetype": "adhd-student",
        "systemPrompt": "You are Anna, 21, studying biology.",
        "moduleMix": {"todo": 0.6, "notes": 0.4},
        "tickCadence": "hourly",
    })
}

pub(crate) async fn create(t: &TestServer, a: &Account, body: Value) -> String {
    let r = t.post_auth(ADMIN, &a.access, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["userId"].as_str().unwrap().to_owned()
}

pub(crate) async fn runner_get(t: &TestServer, path: &str) -> crate::common::Resp {
    t.send(
        t.client
            .get(t.url(&format!("{INTERNAL}{path}")))
            .header("x-service-key", SERVICE_KEY),
    )
    .await
}

pub(crate) async fn runner_post(t: &TestServer, path: &str, body: Value) -> crate::common::Resp {
    t.send(
        t.client
            .post(t.url(&format!("{INTERNAL}{path}")))
            .header("x-service-key", SERVICE_KEY)
            .json(&body),
    )
    .await
}

pub(crate) async fn due_ids(t: &TestServer) -> Vec<String> {
    let r = runner_get(t, "/due").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap().to_owned())
        .collect()
}

/// A fresh access token for `a` (after the test clock moved past the old
/// one's 15 minutes).
pub(crate) async fn relogin(t: &TestServer, a: &Account) -> String {
    let l = t.login(&a.email, PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    l.body["accessToken"].as_str().unwrap().to_owned()
}

pub(crate) fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn a_persona_is_created_driven_and_deleted() {
    let t = server().await;
    let a = admin(&t, "admin@example.com").await;
    let r = t.post_auth(ADMIN, &a.access, anna()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["email", "ok", "userId"]);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["email"], "anna@mana.test");
    let id = r.body["userId"].as_str().unwrap().to_owned();

    // A real user, made as sign-up makes one: personal space, owner
    // membership, both bootstrap rows; verified founder, no password, no
    // verification mail.
    let (kind, tier, verified): (String, String, bool) = t
        .db()
        .query_row(
            "SELECT kind, access_tier, email_verified FROM users WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (kind.as_str(), tier.as_str(), verified),
        ("persona", "founder", true)
    );
    let space = t.personal_space(&id);
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM space_members WHERE space_id = '{space}' AND user_id = '{id}' AND role = 'owner'")),
        1
    );
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM sync_changes WHERE client_id = 'system:bootstrap' AND (user_id = '{id}' OR space_id = '{space}')")),
        2
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM password_credentials WHERE user_id = '{id}'"
        )),
        0
    );
    assert!(t
        .outbox()
        .iter()
        .all(|m| m.2 != "anna@mana.test" && m.1 != "anna@mana.test"));

    // Listed.
    let list = t.get_auth(ADMIN, &a.access).await;
    assert_eq!(list.status, 200);
    let p = &list.body["personas"][0];
    assert_eq!(
        keys(p),
        [
            "actions7d",
            "archetype",
            "createdAt",
            "email",
            "lastActiveAt",
            "name",
            "tickCadence",
            "userId"
        ]
    );
    assert_eq!(p["userId"], id.as_str());
    assert_eq!(p["name"], "Anna");
    assert_eq!(p["lastActiveAt"], Value::Null);
    assert_eq!(p["actions7d"], 0);

    // Never active: due, with the descriptor the runner needs.
    let due = runner_get(&t, "/due").await;
    assert_eq!(due.status, 200);
    assert_eq!(keys(&due.body), ["personas", "serverTime"]);
    let d = &due.body["personas"][0];
    assert_eq!(
        keys(d),
        [
            "archetype",
            "email",
            "lastActiveAt",
            "moduleMix",
            "systemPrompt",
            "tickCadence",
            "userId"
        ]
    );
    assert_eq!(d["moduleMix"], json!({"todo": 0.6, "notes": 0.4}));

    // The runner reports a tick.
    let actions = json!({"actions": [
        {"tickId": "tick-1", "toolName": "todo.create", "inputHash": "ab12", "result": "ok", "latencyMs": 120},
        {"tickId": "tick-1", "toolName": "notes.search", "result": "error", "errorMessage": "timeout"},
    ]});
    let r = runner_post(&t, &format!("/{id}/actions"), actions.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true, "written": 2}));
    // A retried batch adds nothing.
    let again = runner_post(&t, &format!("/{id}/actions"), actions).await;
    assert_eq!(again.body, json!({"ok": true, "written": 2}));
    assert_eq!(t.count("SELECT count(*) FROM persona_actions"), 2);
    assert!(!due_ids(&t).await.contains(&id), "just active");

    let feedback = json!({"feedback": [
        {"tickId": "tick-1", "module": "todo", "rating": 4},
        {"tickId": "tick-1", "module": "notes", "rating": 2, "notes": "zu langsam"},
    ]});
    let r = runner_post(&t, &format!("/{id}/feedback"), feedback.clone()).await;
    assert_eq!(r.body, json!({"ok": true, "written": 2}));
    runner_post(&t, &format!("/{id}/feedback"), feedback).await;
    assert_eq!(t.count("SELECT count(*) FROM persona_feedback"), 2);

    // An hour later it is due again.
    t.clock.advance(Duration::minutes(59));
    assert!(!due_ids(&t).await.contains(&id));
    t.clock.advance(Duration::minutes(2));
    assert_eq!(due_ids(&t).await, std::slice::from_ref(&id));

    // The detail: descriptor, recent actions, feedback per module.
    let token = relogin(&t, &a).await;
    let detail = t.get_auth(&format!("{ADMIN}/{id}"), &token).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(
        keys(&detail.body),
        [
            "feedbackByModule",
            "persona",
            "recentActions",
            "recentFeedback"
        ]
    );
    assert_eq!(
        keys(&detail.body["persona"]),
        [
            "archetype",
            "createdAt",
            "email",
            "lastActiveAt",
            "moduleMix",
            "name",
            "systemPrompt",
            "tickCadence",
            "userId"
        ]
    );
    let recent = detail.body["recentActions"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        keys(&recent[0]),
        [
            "createdAt",
            "errorMessage",
            "id",
            "inputHash",
            "latencyMs",
            "personaId",
            "result",
            "tickId",
            "toolName"
        ]
    );
    assert_eq!(recent[0]["id"], "tick-1-1-notes.search");
    assert_eq!(recent[1]["latencyMs"], 120);
    assert_eq!(
        detail.body["feedbackByModule"],
        json!([{"module": "notes", "avgRating": 2.0, "count": 1}, {"module": "todo", "avgRating": 4.0, "count": 1}])
    );
    let notes: Vec<&Value> = detail.body["recentFeedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["notes"])
        .collect();
    assert!(notes.contains(&&json!("zu langsam")), "{notes:?}");
    let list = t.get_auth(ADMIN, &token).await;
    assert_eq!(list.body["personas"][0]["actions7d"], 2);
    assert!(list.body["personas"][0]["lastActiveAt"].is_string());

    // The persona's rows are part of its data export.
    let export = t
        .get_auth(&format!("/api/v1/admin/users/{id}/data"), &token)
        .await;
    assert_eq!(export.status, 200);
    assert_eq!(
        export.body["persona"]["descriptor"]["archetype"],
        "adhd-student"
    );
    assert_eq!(
        export.body["persona"]["actions"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        export.body["persona"]["feedback"].as_array().unwrap().len(),
        2
    );

    // A week later the 7-day count is empty.
    t.clock.advance(Duration::days(8));
    let token = relogin(&t, &a).await;
    let list = t.get_auth(ADMIN, &token).await;
    assert_eq!(list.body["personas"][0]["actions7d"], 0);

    // Deleted with everything it owns; no farewell mail to a test address.
    let r = t.delete_auth(&format!("{ADMIN}/{id}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true, "deleted": id}));
    for table in ["personas", "persona_actions", "persona_feedback"] {
        assert_eq!(
            t.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM users WHERE id = '{id}'")),
        0
    );
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM spaces WHERE id = '{space}'")),
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sync_changes WHERE user_id = '{id}'"
        )),
        0
    );
    assert!(t
        .outbox()
        .iter()
        .all(|m| m.2 != "anna@mana.test" && m.1 != "anna@mana.test"));
    let r = t.delete_auth(&format!("{ADMIN}/{id}"), &token).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "Not found"}));
    let r = runner_post(
        &t,
        &format!("/{id}/actions"),
        json!({"actions": [{"tickId": "t", "toolName": "x", "result": "ok"}]}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "Persona not found"}));
}

#[tokio::test]
async fn cadences_follow_the_server_clock() {
    let t = server().await;
    let a = admin(&t, "admin@example.com").await;
    let mut ids = std::collections::BTreeMap::new();
    for cadence in ["hourly", "daily", "weekdays"] {
        let mut body = anna();
        body["email"] = json!(format!("{cadence}@mana.test"));
        body["tickCadence"] = json!(cadence);
        ids.insert(cadence, create(&t, &a, body).await);
    }
    // Move to the coming Saturday, 12:00 UTC.
    let now = t.clock.now();
    let to_saturday = (6 + 7 - now.weekday().number_from_monday()) % 7;
    let target = (now + Duration::days(i64::from(to_saturday)))
        .with_hour(12)
        .and_then(|d| d.with_minute(0))
        .unwrap();
    let target = if target <= now {
        target + Duration::days(7)
    } else {
        target
    };
    t.clock.advance(target - t.clock.now());

    let due = due_ids(&t).await;
    assert!(due.contains(&ids["hourly"]) && due.contains(&ids["daily"]));
    assert!(!due.contains(&ids["weekdays"]), "not on a Saturday");
    for id in ids.values() {
        let r = runner_post(
            &t,
            &format!("/{id}/actions"),
            json!({"actions": [{"tickId": "sat", "toolName": "x", "result": "ok"}]}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert!(due_ids(&t).await.is_empty());

    // Saturday 23:30: none is a day stale yet; the hourly one is.
    t.clock.advance(Duration::minutes(11 * 60 + 30));
    assert_eq!(due_ids(&t).await, [ids["hourly"].clone()]);
    // Sunday 12:00: a day has passed; weekdays still waits.
    t.clock.advance(Duration::minutes(12 * 60 + 30));
    let due = due_ids(&t).await;
    assert!(due.contains(&ids["daily"]) && due.contains(&ids["hourly"]));
    assert!(!due.contains(&ids["weekdays"]));
    // Monday: weekdays is due too, never-active ones first.
    t.clock.advance(Duration::days(1));
    let due = due_ids(&t).await;
    assert_eq!(due.len(), 3);

    // Feedback alone also marks the persona active.
    let r = runner_post(
        &t,
        &format!("/{}/feedback", ids["daily"]),
        json!({"feedback": [{"tickId": "mon", "module": "todo", "rating": 5}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!due_ids(&t).await.contains(&ids["daily"]));

    // A locked persona is never due.
    let token = relogin(&t, &a).await;
    let r = t
        .post_auth(
            &format!("/api/v1/admin/users/{}/lock", ids["hourly"]),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!due_ids(&t).await.contains(&ids["hourly"]));
}

#[tokio::test]
async fn the_admin_sets_the_password_and_updates_by_email() {
    let t = server().await;
    let a = admin(&t, "admin@example.com").await;
    let id = create(&t, &a, anna()).await;
    // No password: no password sign-in, no reset link, no magic link.
    t.login("anna@mana.test", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    t.post(
        "/api/v1/auth/forgot-password",
        json!({"email": "anna@mana.test"}),
    )
    .await;
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({"email": "anna@mana.test"}),
    )
    .await;
    t.post(
        "/api/v1/auth/resend-verification",
        json!({"email": "anna@mana.test"}),
    )
    .await;
    assert!(t
        .outbox()
        .iter()
        .all(|m| m.2 != "anna@mana.test" && m.1 != "anna@mana.test"));

    // Create-or-update: same email, new descriptor and a password.
    let mut body = anna();
    body["archetype"] = json!("ceo-busy");
    body["tickCadence"] = json!("weekdays");
    body["password"] = json!("persona-password-1");
    assert_eq!(create(&t, &a, body).await, id);
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE kind = 'persona'"),
        1
    );
    let detail = t.get_auth(&format!("{ADMIN}/{id}"), &a.access).await;
    assert_eq!(detail.body["persona"]["archetype"], "ceo-busy");
    assert_eq!(detail.body["persona"]["tickCadence"], "weekdays");
    let l = t.login("anna@mana.test", "persona-password-1").await;
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["user"]["kind"], "persona");

    // Setting another password ends the persona's sessions.
    let mut body = anna();
    body["password"] = json!("persona-password-2");
    create(&t, &a, body).await;
    let token = l.body["accessToken"].as_str().unwrap();
    let refreshed = t
        .post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": l.body["refreshToken"]}),
        )
        .await;
    assert_eq!(refreshed.status, 401, "{}", refreshed.body);
    assert!(!token.is_empty());
    assert_eq!(
        t.login("anna@mana.test", "persona-password-2").await.status,
        200
    );

    // The email of a human is refused, and the human is untouched.
    let human = t.account("human@example.com").await;
    let mut body = anna();
    body["email"] = json!("Human@Example.com");
    let r = t.post_auth(ADMIN, &a.access, body).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.body["error"],
        "Refusing to turn a non-persona user into a persona"
    );
    assert!(r.body["hint"].is_string());
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM users WHERE id = '{}' AND kind = 'human'",
            human.id
        )),
        1
    );
    assert_eq!(t.count("SELECT count(*) FROM personas"), 1);
}

#[tokio::test]
async fn personas_are_not_counted_as_people() {
    let t = TestServer::start_with(|c| c.max_daily_signups = 2).await;
    let a = admin(&t, "admin@example.com").await;
    let mut body = anna();
    body["password"] = json!("persona-password-1");
    create(&t, &a, body).await;
    for i in 0..3 {
        let mut p = anna();
        p["email"] = json!(format!("p{i}@mana.test"));
        create(&t, &a, p).await;
    }
    // The persona signs in (the runner does, every tick).
    assert_eq!(
        t.login("anna@mana.test", "persona-password-1").await.status,
        200
    );
    let stats = t.get_auth("/api/v1/admin/stats", &a.access).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.body["totalUsers"], 1);
    assert_eq!(stats.body["newUsers7d"], 1);
    assert_eq!(stats.body["newUsers30d"], 1);
    assert_eq!(stats.body["uniqueUsers24h"], 1);
    assert_eq!(stats.body["activeSessions"], 1);
    assert_eq!(stats.body["loginSuccess7d"], 1);
    // Four personas took none of the two sign-ups of the day.
    assert_eq!(t.register("second@example.com").await.status, 200);
    t.register("third@example.com")
        .await
        .assert_error(429, "SIGNUP_LIMIT_REACHED");
}
