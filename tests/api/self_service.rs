//! Self-service: profile, onboarding, the data summary and export (no
//! secrets), and erasing an account (everything of the user, nothing of
//! anyone else, shared spaces keep an owner).

use base64::Engine;
use serde_json::{json, Value};

use crate::common::{Account, Resp, TestServer, PASSWORD};

pub const KEK_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A server with a vault KEK configured.
pub async fn server_with_kek() -> TestServer {
    TestServer::start_with(|c| {
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(KEK_B64.to_owned()));
    })
    .await
}

pub async fn patch_auth(t: &TestServer, path: &str, token: &str, body: Value) -> Resp {
    t.send(t.client.patch(t.url(path)).bearer_auth(token).json(&body))
        .await
}

pub async fn delete_json_auth(t: &TestServer, path: &str, token: &str, body: Value) -> Resp {
    t.send(t.client.delete(t.url(path)).bearer_auth(token).json(&body))
        .await
}

#[tokio::test]
async fn profile_patch_validates_and_updates() {
    let t = TestServer::start().await;
    let a = t.account("prof@example.com").await;
    let r = patch_auth(
        &t,
        "/api/v1/me/profile",
        &a.access,
        json!({ "name": "Ada", "image": "https://img.test/a.png" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["name"], "Ada");
    assert_eq!(r.body["user"]["image"], "https://img.test/a.png");
    patch_auth(&t, "/api/v1/me/profile", &a.access, json!({ "name": "" }))
        .await
        .assert_error(400, "VALIDATION");
    patch_auth(
        &t,
        "/api/v1/me/profile",
        &a.access,
        json!({ "name": "n".repeat(81) }),
    )
    .await
    .assert_error(400, "VALIDATION");
    patch_auth(
        &t,
        "/api/v1/me/profile",
        &a.access,
        json!({ "image": "javascript:x" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    let r = patch_auth(
        &t,
        "/api/v1/me/profile",
        &a.access,
        json!({ "image": null }),
    )
    .await;
    assert_eq!(r.body["user"]["image"], Value::Null);
    assert_eq!(r.body["user"]["name"], "Ada");
    let events = t.count(&format!(
        "SELECT count(*) FROM security_events WHERE user_id = '{}' AND event_type = 'PROFILE_UPDATED'",
        a.id
    ));
    assert_eq!(events, 2);
}

#[tokio::test]
async fn onboarding_complete_is_idempotent_and_reset_clears() {
    let t = TestServer::start().await;
    let a = t.account("onb@example.com").await;
    let r = t.get_auth("/api/v1/me/onboarding", &a.access).await;
    assert_eq!(r.body, json!({ "completedAt": null }));
    let first = t
        .post_auth("/api/v1/me/onboarding/complete", &a.access, json!({}))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let at = first.body["completedAt"].as_str().unwrap().to_owned();
    t.clock.advance(chrono::Duration::minutes(5));
    let again = t
        .post_auth("/api/v1/me/onboarding/complete", &a.access, json!({}))
        .await;
    assert_eq!(again.body["completedAt"], at.as_str());
    let stored: String = t
        .db()
        .query_row(
            "SELECT onboarding_completed_at FROM users WHERE id = ?1",
            [&a.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, at);
    let reset = patch_auth(&t, "/api/v1/me/onboarding/reset", &a.access, json!({})).await;
    assert_eq!(reset.body, json!({ "completedAt": null }));
    let later = t
        .post_auth("/api/v1/me/onboarding/complete", &a.access, json!({}))
        .await;
    assert!(later.body["completedAt"].as_str().unwrap() > at.as_str());
}

/// Builds a user with rows in every table: spaces alone and shared, an
/// invitation to them, settings, devices, an API key, a vault with a
/// recovery wrap, a failed login and a sync row in someone else's space.
struct World {
    a: Account,
    b: Account,
    c: Account,
    shared: String,
    solo: String,
    b_team: String,
    master_key: String,
}

async fn world(t: &TestServer) -> World {
    let a = t.account("alice@example.com").await;
    let b = t.account("bob@example.com").await;
    let c = t.account("carol@example.com").await;
    let shared = t.create_space(&a.access, "Shared", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob joins first as member, Carol later as admin: Carol inherits.
    t.add_member(&shared, &a, &b, "member").await;
    t.add_member(&shared, &a, &c, "admin").await;
    let solo = t.create_space(&a.access, "Solo", "club").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_team = t.create_space(&b.access, "Bobs", "family").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.add_member(&b_team, &b, &a, "member").await;
    // Open invitations: one to Alice (received), one from Alice (sent).
    let other = t.create_space(&c.access, "Carols", "brand").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{other}/invite"),
            &c.access,
            json!({ "email": a.email }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{shared}/invite"),
            &a.access,
            json!({ "email": "dave@example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Settings, a device, an API key, a vault with recovery wrap.
    let r = patch_auth(
        t,
        "/api/v1/settings/global",
        &a.access,
        json!({ "locale": "en" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    patch_auth(
        t,
        "/api/v1/settings/app/todo",
        &a.access,
        json!({ "view": "list" }),
    )
    .await;
    let r = patch_auth(
        t,
        "/api/v1/settings/device/phone-1/todo",
        &a.access,
        json!({ "deviceName": "Phone", "deviceType": "mobile", "settings": { "compact": true } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = t
        .post_auth(
            "/api/v1/api-keys",
            &a.access,
            json!({ "name": "ci", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let init = t
        .post_auth("/api/v1/me/encryption-vault/init", &a.access, json!({}))
        .await;
    assert_eq!(init.status, 200, "{}", init.body);
    let wrap = base64::engine::general_purpose::STANDARD.encode([9u8; 48]);
    let iv = base64::engine::general_purpose::STANDARD.encode([3u8; 12]);
    let r = t
        .post_auth(
            "/api/v1/me/encryption-vault/recovery-wrap",
            &a.access,
            json!({ "recoveryWrappedMk": wrap, "recoveryIv": iv }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.login(&a.email, "wrong-password!").await.status, 401);
    // Alice wrote a change in Bob's space.
    t.db()
        .execute(
            "INSERT INTO sync_changes (id, app_id, table_name, record_id, user_id, space_id, op, data, \
             client_id, created_at) VALUES ('chg-1', 'todo', 'task', 'r1', ?1, ?2, 'insert', '{}', 'c1', \
             '2026-01-01T00:00:00.000Z')",
            [&a.id, &b_team],
        )
        .unwrap();
    World {
        a,
        b,
        c,
        shared,
        solo,
        b_team,
        master_key: init.body["masterKey"].as_str().unwrap().to_owned(),
    }
}

/// Every text or blob value in the file that contains `needle`, as
/// "table.column".
fn mentions(t: &TestServer, needle: &str) -> Vec<String> {
    let db = t.db();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let cols: Vec<String> = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for col in cols {
            let n: i64 = db
                .query_row(
                    &format!("SELECT count(*) FROM \"{table}\" WHERE instr(CAST(\"{col}\" AS TEXT), ?1) > 0"),
                    [needle],
                    |r| r.get(0),
                )
                .unwrap();
            if n > 0 {
                found.push(format!("{table}.{col} ({n})"));
            }
        }
    }
    found
}

#[tokio::test]
async fn export_holds_the_users_rows_and_no_secret_material() {
    let t = server_with_kek().await;
    let w = world(&t).await;
    let summary = t.get_auth("/api/v1/me/data", &w.a.access).await;
    assert_eq!(summary.status, 200, "{}", summary.body);
    let counts = &summary.body["counts"];
    assert_eq!(counts["spaces"], 4);
    assert_eq!(counts["apiKeys"], 1);
    assert_eq!(counts["sessions"], 1);
    assert_eq!(counts["devices"], 1);
    assert_eq!(counts["syncChangesByApp"]["todo"], 1);
    assert!(counts["securityEvents"].as_i64().unwrap() >= 4);
    // The upstream's summary: the todo app holds one live record.
    let todo = summary.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["projectId"] == "todo")
        .unwrap()
        .clone();
    assert_eq!(todo["totalCount"], 1, "{todo}");
    assert_eq!(summary.body["auth"]["sessionsCount"], 1);
    assert_eq!(summary.body["auth"]["accountsCount"], 1);
    assert!(summary.body["totals"]["totalEntities"].as_i64().unwrap() >= 1);

    let export = t
        .send(
            t.client
                .get(t.url("/api/v1/me/data/export"))
                .bearer_auth(&w.a.access),
        )
        .await;
    assert_eq!(export.status, 200);
    let disposition = export.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"meine-daten-"),
        "{disposition}"
    );
    let body = &export.body;
    assert_eq!(body["exportVersion"], "2.0");
    assert_eq!(body["data"]["user"]["email"], w.a.email);
    assert_eq!(body["details"]["apiKeys"][0]["name"], "ci");
    assert_eq!(body["details"]["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["user"]["email"], w.a.email);
    assert_eq!(body["hasPassword"], true);
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["spaces"].as_array().unwrap().len(), 4);
    // Sent: Shared to Bob, Carol, Dave; received: from Bob (accepted), Carol (open).
    assert_eq!(body["invitations"].as_array().unwrap().len(), 5);
    assert_eq!(body["settings"]["global"], json!({ "locale": "en" }));
    assert_eq!(
        body["settings"]["appOverrides"]["todo"],
        json!({ "view": "list" })
    );
    assert_eq!(body["settings"]["devices"][0]["deviceName"], "Phone");
    assert_eq!(body["apiKeys"][0]["name"], "ci");
    assert!(body["apiKeys"][0]["keyPrefix"]
        .as_str()
        .unwrap()
        .starts_with("sk_live_"));
    assert_eq!(body["encryptionVault"]["initialized"], true);
    assert_eq!(body["encryptionVault"]["hasRecoveryWrap"], true);
    assert!(!body["vaultAudit"].as_array().unwrap().is_empty());
    assert!(!body["securityEvents"].as_array().unwrap().is_empty());
    assert_eq!(body["loginFailures"].as_array().unwrap().len(), 1);
    let sync = body["syncChanges"].as_array().unwrap();
    assert!(sync.iter().any(|c| c["id"] == "chg-1"));
    assert!(sync.iter().any(|c| c["tableName"] == "userContext"));

    // No secret material, however encoded.
    let text = body.to_string();
    let db = t.db();
    let one = |sql: &str| -> Vec<u8> {
        db.query_row(sql, [&w.a.id], |r| {
            let v: rusqlite::types::Value = r.get(0)?;
            Ok(match v {
                rusqlite::types::Value::Text(s) => s.into_bytes(),
                rusqlite::types::Value::Blob(b) => b,
                _ => Vec::new(),
            })
        })
        .unwrap()
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let password_hash = String::from_utf8(one(
        "SELECT password_hash FROM password_credentials WHERE user_id = ?1",
    ))
    .unwrap();
    let token_hash =
        String::from_utf8(one("SELECT t.token_hash FROM session_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ?1 LIMIT 1")).unwrap();
    let key_hash =
        String::from_utf8(one("SELECT key_hash FROM api_keys WHERE user_id = ?1")).unwrap();
    let wrapped = one("SELECT wrapped_mk FROM encryption_vaults WHERE user_id = ?1");
    let recovery = one("SELECT recovery_wrapped_mk FROM encryption_vaults WHERE user_id = ?1");
    assert!(password_hash.starts_with("$argon2id$"));
    for secret in [
        password_hash.clone(),
        token_hash,
        key_hash,
        b64(&wrapped),
        hex::encode(&wrapped),
        b64(&recovery),
        w.master_key.clone(),
        w.a.refresh.clone(),
    ] {
        assert!(!text.contains(&secret), "export leaks a secret");
    }
    for field in [
        "password_hash",
        "passwordHash",
        "token_hash",
        "tokenHash",
        "keyHash",
        "key_hash",
        "wrappedMk",
        "wrapped_mk",
        "secret",
        "argon2",
    ] {
        assert!(!text.contains(field), "export has a field {field}");
    }
}

#[tokio::test]
async fn delete_erases_the_user_and_nothing_of_others() {
    let t = server_with_kek().await;
    let w = world(&t).await;
    // Bob's invitation to Alice holds her address and goes with her; every
    // other row that mentions Bob stays.
    let without_invitations = |m: Vec<String>| -> Vec<String> {
        m.into_iter()
            .filter(|c| !c.starts_with("space_invitations."))
            .collect()
    };
    let before_b = without_invitations(mentions(&t, &w.b.id));
    let b_sessions = t.count(&format!(
        "SELECT count(*) FROM sessions WHERE user_id = '{}'",
        w.b.id
    ));

    let r = t.delete_auth("/api/v1/me/data", &w.a.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eprintln!("DELETE /me/data counts: {}", r.body);
    // The upstream's deletion shape, from the same counts.
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["deletedFromProjects"][0]["projectId"], "sync");
    assert_eq!(r.body["deletedFromProjects"][0]["deletedCount"], 5);
    assert_eq!(
        r.body["deletedFromAuth"],
        json!({ "sessions": 1, "accounts": 1, "credits": 0, "user": true })
    );
    assert_eq!(r.body["totalDeleted"], 5 + 1 + 1 + 1);
    let d = &r.body["deleted"];
    assert_eq!(d["users"], 1);
    assert_eq!(d["spaces"], 2, "personal and solo");
    assert_eq!(d["sessions"], 1);
    assert_eq!(d["password_credentials"], 1);
    assert_eq!(d["api_keys"], 1);
    assert_eq!(d["encryption_vaults"], 1);
    assert_eq!(d["user_settings"], 1);
    assert_eq!(d["user_app_settings"], 1);
    assert_eq!(d["user_devices"], 1);
    assert_eq!(d["user_device_app_settings"], 1);
    assert_eq!(d["login_failures"], 1);
    // personal + solo + shared + bobs memberships.
    assert_eq!(d["space_members"], 4);
    // userContext, 3 kontextDocs of Alice's spaces, the change in Bob's space.
    assert_eq!(d["sync_changes"], 5);
    assert_eq!(d["space_invitations"], 2, "the two addressed to her");
    assert!(d["security_events"].as_i64().unwrap() >= 5);
    assert!(d["vault_audit"].as_i64().unwrap() >= 2);
    assert_eq!(
        r.body["promotedOwners"],
        json!([{ "spaceId": w.shared, "userId": w.c.id, "previousRole": "admin" }])
    );

    // Nothing in the file mentions her any more.
    assert_eq!(mentions(&t, &w.a.id), Vec::<String>::new());
    // Except the deletion notice itself, which has to be addressed to her
    // (not linked to any user; sent mail keeps no body).
    assert_eq!(
        mentions(&t, &w.a.email),
        vec!["mail_outbox.to_address (1)".to_owned()]
    );
    assert_eq!(
        t.count(
            "SELECT count(*) FROM mail_outbox WHERE kind = 'account_deleted' AND user_id IS NULL"
        ),
        1
    );
    assert!(
        d["mail_outbox"].as_i64().unwrap() >= 1,
        "her verification mail is gone"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM spaces WHERE id = '{}'",
            w.solo
        )),
        0
    );

    // Everyone else is intact; shared spaces survive with their members.
    assert_eq!(without_invitations(mentions(&t, &w.b.id)), before_b);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            w.b.id
        )),
        b_sessions
    );
    let shared = t
        .get_auth(&format!("/api/v1/gilden/{}", w.shared), &w.b.access)
        .await;
    assert_eq!(shared.status, 200, "{}", shared.body);
    let members = shared.body["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let carol = members
        .iter()
        .find(|m| m["userId"] == w.c.id.as_str())
        .unwrap();
    assert_eq!(carol["role"], "owner");
    let invitations = shared.body["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 3, "the invitations she sent stay");
    assert!(invitations.iter().all(|i| i["inviterId"].is_null()));
    // The shared space still has its kontextDoc singleton.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sync_changes WHERE space_id = '{}' AND table_name = 'kontextDoc'",
            w.shared
        )),
        1
    );
    let bobs = t
        .get_auth(&format!("/api/v1/gilden/{}", w.b_team), &w.b.access)
        .await;
    assert_eq!(bobs.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(t.count("SELECT count(*) FROM security_events WHERE event_type = 'ACCOUNT_DELETED' AND user_id IS NULL"), 1);

    // Her token no longer works; she cannot sign in.
    t.get_auth("/api/v1/me/data", &w.a.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(t.login(&w.a.email, PASSWORD).await.status, 401);
}

#[tokio::test]
async fn account_delete_needs_the_password() {
    let t = TestServer::start().await;
    let a = t.account("gone@example.com").await;
    let b = t.account("stays@example.com").await;
    delete_json_auth(
        &t,
        "/api/v1/auth/account",
        &a.access,
        json!({ "password": "not-my-password" }),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    delete_json_auth(&t, "/api/v1/auth/account", &a.access, json!({}))
        .await
        .assert_error(400, "VALIDATION");
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM users WHERE id = '{}'", a.id)),
        1
    );
    let r = delete_json_auth(
        &t,
        "/api/v1/auth/account",
        &a.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["deleted"]["users"], 1);
    assert_eq!(r.body["deleted"]["spaces"], 1);
    assert_eq!(mentions(&t, &a.id), Vec::<String>::new());
    assert_eq!(
        t.count(&format!("SELECT count(*) FROM users WHERE id = '{}'", b.id)),
        1
    );
    assert_eq!(t.login(&a.email, PASSWORD).await.status, 401);
}
