//! Personas refused: callers without the admin role or the service key, a
//! human's id on either door, and malformed bodies on every route; nothing
//! is written by a refused request.

use serde_json::{json, Value};

use crate::admin::admin;
use crate::personas::{anna, create, runner_post, server, ADMIN, INTERNAL, SERVICE_KEY};

#[tokio::test]
async fn only_admins_and_the_runner_get_in() {
    let t = server().await;
    let a = admin(&t, "admin@example.com").await;
    let user = t.account("user@example.com").await;
    let id = create(&t, &a, anna()).await;

    // Not an admin, no token, a revoked admin session.
    for (method, path) in [
        ("GET", ADMIN.to_owned()),
        ("POST", ADMIN.to_owned()),
        ("GET", format!("{ADMIN}/{id}")),
        ("DELETE", format!("{ADMIN}/{id}")),
    ] {
        let req = |token: Option<&str>| {
            let mut r = t
                .client
                .request(method.parse().unwrap(), t.url(&path))
                .json(&anna());
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            r
        };
        assert_eq!(
            t.send(req(Some(&user.access))).await.status,
            403,
            "{method} {path}"
        );
        assert_eq!(t.send(req(None)).await.status, 401, "{method} {path}");
    }
    let second = admin(&t, "admin2@example.com").await;
    t.post_auth("/api/v1/auth/logout", &second.access, json!({}))
        .await;
    assert_eq!(t.get_auth(ADMIN, &second.access).await.status, 401);

    // The runner's routes need the service key.
    let batch = json!({"actions": [{"tickId": "t", "toolName": "x", "result": "ok"}]});
    for key in [None, Some("wrong-key"), Some("")] {
        let mut r = t
            .client
            .post(t.url(&format!("{INTERNAL}/{id}/actions")))
            .json(&batch);
        if let Some(key) = key {
            r = r.header("x-service-key", key);
        }
        assert_eq!(t.send(r).await.status, 401);
        let mut r = t.client.get(t.url(&format!("{INTERNAL}/due")));
        if let Some(key) = key {
            r = r.header("x-service-key", key);
        }
        assert_eq!(t.send(r).await.status, 401);
    }
    // A user token is not a service key.
    let r = t
        .post_auth(
            &format!("{INTERNAL}/{id}/actions"),
            &user.access,
            batch.clone(),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(t.count("SELECT count(*) FROM persona_actions"), 0);

    // A human is not a persona, on either door.
    let r = runner_post(&t, &format!("/{}/actions", user.id), batch).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "Persona not found"}));
    let r = t.get_auth(&format!("{ADMIN}/{}", user.id), &a.access).await;
    assert_eq!(r.body, json!({"error": "Not found"}));
    let r = t
        .delete_auth(&format!("{ADMIN}/{}", user.id), &a.access)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"],
        "Refusing to delete non-persona user via this endpoint"
    );
    assert_eq!(r.body["hint"], "Use /api/v1/admin/users/:id/data instead");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM users WHERE id = '{}'",
            user.id
        )),
        1
    );
}

#[tokio::test]
async fn malformed_input_is_refused_and_writes_nothing() {
    let t = server().await;
    let a = admin(&t, "admin@example.com").await;
    let id = create(&t, &a, anna()).await;
    let other = {
        let mut b = anna();
        b["email"] = json!("ben@mana.test");
        create(&t, &a, b).await
    };
    let row = json!({"tickId": "t", "toolName": "x", "result": "ok"});
    let actions_cases = [
        (json!({}), "`actions` array required"),
        (json!({"actions": []}), "`actions` array required"),
        (json!({"actions": "many"}), "`actions` array required"),
        (
            json!({"actions": vec![row.clone(); 501]}),
            "`actions` batch size must be ≤ 500",
        ),
        (
            json!({"actions": [row.clone(), {"tickId": "t", "toolName": "x", "result": "fine"}]}),
            "One or more action rows failed validation",
        ),
        (
            json!({"actions": [{"tickId": 1, "toolName": "x", "result": "ok"}]}),
            "One or more action rows failed validation",
        ),
        (
            json!({"actions": [{"tickId": "t", "toolName": "x", "result": "ok", "latencyMs": "fast"}]}),
            "One or more action rows failed validation",
        ),
        (
            json!({"actions": [{"tickId": "t".repeat(300), "toolName": "x", "result": "ok"}]}),
            "One or more action rows failed validation",
        ),
        (json!([row.clone()]), "`actions` array required"),
    ];
    for (body, error) in actions_cases {
        let r = runner_post(&t, &format!("/{id}/actions"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body, json!({"error": error}), "{body}");
    }
    let rating = |r: Value| json!({"feedback": [{"tickId": "t", "module": "todo", "rating": r}]});
    for (body, error) in [
        (
            json!({"feedback": vec![json!({"tickId": "t", "module": "m", "rating": 3}); 101]}),
            "`feedback` batch size must be ≤ 100",
        ),
        (
            rating(json!(0)),
            "One or more feedback rows failed validation",
        ),
        (
            rating(json!(6)),
            "One or more feedback rows failed validation",
        ),
        (
            rating(json!(3.5)),
            "One or more feedback rows failed validation",
        ),
        (
            rating(json!("5")),
            "One or more feedback rows failed validation",
        ),
        (
            json!({"feedback": [{"tickId": "t", "rating": 3}]}),
            "One or more feedback rows failed validation",
        ),
    ] {
        let r = runner_post(&t, &format!("/{id}/feedback"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body, json!({"error": error}), "{body}");
    }
    for path in ["actions", "feedback"] {
        let r = t
            .send(
                t.client
                    .post(t.url(&format!("{INTERNAL}/{id}/{path}")))
                    .header("x-service-key", SERVICE_KEY)
                    .header("content-type", "application/json")
                    .body("{\"actions\": ["),
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body, json!({"error": "Invalid JSON"}));
    }
    assert_eq!(t.count("SELECT count(*) FROM persona_actions"), 0);
    assert_eq!(t.count("SELECT count(*) FROM persona_feedback"), 0);
    assert_eq!(
        t.count("SELECT count(*) FROM personas WHERE last_active_at IS NOT NULL"),
        0
    );

    // Two personas with the same tick ids keep their own rows.
    for pid in [&id, &other] {
        let r = runner_post(
            &t,
            &format!("/{pid}/actions"),
            json!({"actions": [row.clone()]}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(t.count("SELECT count(*) FROM persona_actions"), 2);

    // The admin door: bad JSON, every failed check named, nothing made.
    let r = t
        .send(
            t.client
                .post(t.url(ADMIN))
                .bearer_auth(&a.access)
                .header("content-type", "application/json")
                .body("{oops"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"error": "Invalid JSON body"}));
    let r = t
        .post_auth(ADMIN, &a.access, json!({"email": 5, "password": "short", "moduleMix": "todo", "tickCadence": "monthly", "archetype": ""}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"error": "ValidationError", "details": [
            "email required",
            "password ≥ 8 chars required",
            "archetype required",
            "systemPrompt required",
            "moduleMix object required",
            "tickCadence must be one of daily, weekdays, hourly"
        ]})
    );
    let mut huge = anna();
    huge["email"] = json!("huge@mana.test");
    huge["systemPrompt"] = json!("x".repeat(20_001));
    assert_eq!(t.post_auth(ADMIN, &a.access, huge).await.status, 400);
    let mut weights = anna();
    weights["email"] = json!("weights@mana.test");
    weights["moduleMix"] = json!({"todo": "lots"});
    assert_eq!(t.post_auth(ADMIN, &a.access, weights).await.status, 400);
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE kind = 'persona'"),
        2
    );
}
