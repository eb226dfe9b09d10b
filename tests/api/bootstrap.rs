//! The sync bootstrap: exact rows at sign-up, all-or-nothing sign-up,
//! exactly-once under concurrency, isolation of failures, and the pull.

use serde_json::{json, Value};

use crate::common::TestServer;

struct Row {
    id: String,
    app_id: String,
    table_name: String,
    record_id: String,
    user_id: String,
    space_id: Option<String>,
    op: String,
    data: Value,
    field_meta: Value,
    client_id: String,
    created_at: String,
    schema_version: i64,
    actor: Value,
    origin: String,
}

fn rows(t: &TestServer, table: &str) -> Vec<Row> {
    let conn = t.db();
    let mut stmt = conn
        .prepare(
            "SELECT id, app_id, table_name, record_id, user_id, space_id, op, data, field_meta, client_id, \
             created_at, schema_version, actor, origin FROM sync_changes WHERE table_name = ?1 ORDER BY rowid",
        )
        .unwrap();
    let parse = |s: String| serde_json::from_str::<Value>(&s).unwrap();
    stmt.query_map([table], |r| {
        Ok(Row {
            id: r.get(0)?,
            app_id: r.get(1)?,
            table_name: r.get(2)?,
            record_id: r.get(3)?,
            user_id: r.get(4)?,
            space_id: r.get(5)?,
            op: r.get(6)?,
            data: parse(r.get(7)?),
            field_meta: parse(r.get(8)?),
            client_id: r.get(9)?,
            created_at: r.get(10)?,
            schema_version: r.get(11)?,
            actor: parse(r.get(12)?),
            origin: r.get(13)?,
        })
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn assert_field_meta(row: &Row) {
    let data = row.data.as_object().unwrap();
    let meta = row.field_meta.as_object().unwrap();
    let mut expected: Vec<&String> = data.keys().filter(|k| *k != "id").collect();
    let mut got: Vec<&String> = meta.keys().collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(meta.values().all(|v| v == row.created_at.as_str()));
}

#[tokio::test]
async fn signup_writes_exactly_the_bootstrap_rows() {
    let t = TestServer::start().await;
    let r = t.register("boot@example.com").await;
    let user_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(t.count("SELECT count(*) FROM spaces"), 1);
    assert_eq!(
        t.count("SELECT count(*) FROM space_members WHERE role = 'owner'"),
        1
    );
    let space_id = t.personal_space(&user_id);
    let actor =
        json!({ "kind": "system", "principalId": "system:bootstrap", "displayName": "Bootstrap" });

    let ctx = rows(&t, "userContext");
    assert_eq!(ctx.len(), 1);
    let c = &ctx[0];
    assert!(uuid::Uuid::parse_str(&c.id).is_ok());
    assert_eq!(
        (
            c.app_id.as_str(),
            c.table_name.as_str(),
            c.record_id.as_str()
        ),
        ("profile", "userContext", "singleton")
    );
    assert_eq!(c.user_id, user_id);
    assert_eq!(c.space_id, None);
    assert_eq!(c.op, "insert");
    assert_eq!(c.client_id, "system:bootstrap");
    assert_eq!(c.schema_version, 1);
    assert_eq!(c.origin, "system");
    assert_eq!(c.actor, actor);
    assert_eq!(
        c.data,
        json!({
            "id": "singleton", "about": {}, "interests": [], "routine": {}, "nutrition": {},
            "leisure": {}, "goals": [], "social": {}, "freeform": "",
            "interview": { "answeredIds": [], "skippedIds": [] }, "userId": user_id,
        })
    );
    assert_field_meta(c);

    let docs = rows(&t, "kontextDoc");
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(
        (d.app_id.as_str(), d.table_name.as_str()),
        ("kontext", "kontextDoc")
    );
    assert!(uuid::Uuid::parse_str(&d.record_id).is_ok());
    assert_eq!(d.data, json!({ "id": d.record_id, "content": "" }));
    assert_eq!(d.user_id, user_id);
    assert_eq!(d.space_id.as_deref(), Some(space_id.as_str()));
    assert_eq!(
        (d.op.as_str(), d.client_id.as_str(), d.origin.as_str()),
        ("insert", "system:bootstrap", "system")
    );
    assert_eq!(d.schema_version, 1);
    assert_eq!(d.actor, actor);
    assert_eq!(d.field_meta, json!({ "content": d.created_at }));
    assert_eq!(t.count("SELECT count(*) FROM sync_changes"), 2);
}

#[tokio::test]
async fn a_failure_inside_signup_leaves_nothing_behind() {
    let t = TestServer::start().await;
    // Make the last write of the sign-up transaction fail inside SQLite.
    t.db()
        .execute_batch(
            "CREATE TRIGGER fail_bootstrap BEFORE INSERT ON sync_changes WHEN NEW.table_name = 'userContext' \
             BEGIN SELECT RAISE(ABORT, 'forced failure'); END;",
        )
        .unwrap();
    let r = t.register("atomic@example.com").await;
    r.assert_error(500, "INTERNAL");
    assert!(
        !r.body.to_string().contains("forced failure"),
        "internal text is not sent"
    );
    for table in [
        "users",
        "password_credentials",
        "spaces",
        "space_members",
        "sync_changes",
        "security_events",
    ] {
        assert_eq!(
            t.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    t.db().execute_batch("DROP TRIGGER fail_bootstrap").unwrap();
    assert_eq!(t.register("atomic@example.com").await.status, 200);
    assert_eq!(t.count("SELECT count(*) FROM sync_changes"), 2);
}

async fn bootstrap_burst(t: &TestServer, token: &str, n: usize) -> Vec<Value> {
    let calls = (0..n).map(|_| t.post_auth("/api/v1/me/bootstrap-singletons", token, json!({})));
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.body["ok"], true);
            r.body["bootstrapped"].clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bootstrap_writes_each_singleton_exactly_once() {
    let t = TestServer::start().await;
    let solo = t.account("solo@race.de").await;
    let multi = t.account("multi@race.de").await;
    let team = t.create_space(&multi.access, "Team", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let club = t.create_space(&multi.access, "Club", "club").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let personal = t.personal_space(&multi.id);

    // Already bootstrapped: nothing is written.
    let calm = bootstrap_burst(&t, &multi.access, 1).await;
    assert_eq!(calm[0]["userContext"], false);
    assert_eq!(
        calm[0]["spaces"],
        json!({ personal.clone(): false, team.clone(): false, club.clone(): false })
    );

    for round in 0..20 {
        t.db().execute("DELETE FROM sync_changes", []).unwrap();
        let solo_results = bootstrap_burst(&t, &solo.access, 64);
        let multi_results = bootstrap_burst(&t, &multi.access, 64);
        let (solo_results, multi_results) = futures::join!(solo_results, multi_results);

        let ctx_rows = |user: &str| {
            t.count(&format!(
                "SELECT count(*) FROM sync_changes WHERE table_name = 'userContext' AND user_id = '{user}'"
            ))
        };
        assert_eq!(ctx_rows(&solo.id), 1, "round {round}");
        assert_eq!(ctx_rows(&multi.id), 1, "round {round}");
        assert_eq!(
            solo_results
                .iter()
                .filter(|b| b["userContext"] == true)
                .count(),
            1,
            "round {round}"
        );
        assert_eq!(
            multi_results
                .iter()
                .filter(|b| b["userContext"] == true)
                .count(),
            1,
            "round {round}"
        );
        for space in [&personal, &team, &club] {
            let docs = t.count(&format!(
                "SELECT count(*) FROM sync_changes WHERE table_name = 'kontextDoc' AND space_id = '{space}'"
            ));
            assert_eq!(docs, 1, "round {round} space {space}");
            let writers = multi_results
                .iter()
                .filter(|b| b["spaces"][space.as_str()] == true)
                .count();
            assert_eq!(writers, 1, "round {round} space {space}");
        }
        assert_eq!(
            t.count("SELECT count(*) FROM sync_changes"),
            6,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn one_failing_space_does_not_abort_the_others() {
    let t = TestServer::start().await;
    let a = t.account("partial@example.com").await;
    let bad = t.create_space(&a.access, "Bad", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let good = t.create_space(&a.access, "Good", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let personal = t.personal_space(&a.id);
    let db = t.db();
    db.execute("DELETE FROM sync_changes", []).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER fail_one BEFORE INSERT ON sync_changes WHEN NEW.space_id = '{bad}' \
         BEGIN SELECT RAISE(ABORT, 'forced'); END;"
    ))
    .unwrap();
    let r = t
        .post_auth("/api/v1/me/bootstrap-singletons", &a.access, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body["bootstrapped"];
    assert_eq!(b["userContext"], true);
    assert_eq!(b["spaces"][&personal], true);
    assert_eq!(b["spaces"][&good], true);
    assert_eq!(b["spaces"][&bad], false);
    assert_eq!(b["errors"][&bad], "INTERNAL");
    db.execute_batch("DROP TRIGGER fail_one").unwrap();
    let again = t
        .post_auth("/api/v1/me/bootstrap-singletons", &a.access, json!({}))
        .await;
    assert_eq!(again.body["bootstrapped"]["spaces"][&bad], true);
    assert_eq!(again.body["bootstrapped"]["spaces"][&good], false);
    assert!(again.body["bootstrapped"].get("errors").is_none());
}

#[tokio::test]
async fn bootstrap_requires_a_token() {
    let t = TestServer::start().await;
    t.post("/api/v1/me/bootstrap-singletons", json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn pull_returns_only_what_the_caller_may_see() {
    let t = TestServer::start().await;
    let a = t.account("alice@pull.de").await;
    let b = t.account("bob@pull.de").await;
    let team = t.create_space(&b.access, "Bobs Team", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let pull = |token: &str, query: &str| t.get_auth(&format!("/sync/kontext/pull{query}"), token);
    let ids = |body: &Value| -> Vec<String> {
        body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["spaceId"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    let a_personal = t.personal_space(&a.id);
    let b_personal = t.personal_space(&b.id);
    let pa = pull(&a.access, "").await;
    assert_eq!(pa.status, 200, "{}", pa.body);
    assert_eq!(ids(&pa.body), vec![a_personal.clone()]);
    let change = &pa.body["changes"][0];
    assert_eq!(change["table"], "kontextDoc");
    assert_eq!(change["op"], "insert");
    assert_eq!(change["schemaVersion"], 1);
    assert_eq!(change["origin"], "system");
    assert_eq!(change["actor"]["principalId"], "system:bootstrap");
    assert_eq!(change["id"], change["data"]["id"]);
    assert!(change["eventId"].is_string());
    assert_eq!(pa.body["hasMore"], false);

    let mut pb = ids(&pull(&b.access, "").await.body);
    pb.sort();
    let mut expected = vec![b_personal.clone(), team.clone()];
    expected.sort();
    assert_eq!(pb, expected);

    // The profile app: each sees their own userContext only.
    let ctx = t
        .get_auth("/sync/profile/pull?collection=userContext", &a.access)
        .await;
    let changes = ctx.body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["data"]["userId"], a.id.as_str());
    assert_eq!(changes[0]["id"], "singleton");

    // Joining shows the team; leaving hides it again.
    let member = t.add_member(&team, &b, &a, "member").await;
    assert!(ids(&pull(&a.access, "").await.body).contains(&team));
    t.delete_auth(
        &format!(
            "/api/v1/gilden/{team}/members/{}",
            member["id"].as_str().unwrap()
        ),
        &a.access,
    )
    .await;
    assert!(!ids(&pull(&a.access, "").await.body).contains(&team));

    // since and paging
    let all = pull(&b.access, "").await.body;
    let until = all["syncedUntil"].as_str().unwrap();
    let after = pull(&b.access, &format!("?since={until}")).await.body;
    assert_eq!(after["changes"].as_array().unwrap().len(), 0);
    let page = pull(&b.access, "?limit=1").await.body;
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    assert_eq!(page["hasMore"], true);
    pull(&b.access, "?since=yesterday")
        .await
        .assert_error(400, "VALIDATION");
    pull(&b.access, "?limit=abc")
        .await
        .assert_error(400, "VALIDATION");
    t.get("/sync/kontext/pull")
        .await
        .assert_error(401, "UNAUTHORIZED");
}
