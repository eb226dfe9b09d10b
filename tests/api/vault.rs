//! The encryption vault: idempotent init, no plaintext key in the file,
//! rotation, every forbidden zero-knowledge transition, the CHECK
//! constraints, the audit trail, and the KEK-less behaviour.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::TestServer;
use crate::self_service::server_with_kek;

const V: &str = "/api/v1/me/encryption-vault";

fn wrap_body() -> Value {
    json!({ "recoveryWrappedMk": B64.encode([5u8; 48]), "recoveryIv": B64.encode([6u8; 12]) })
}

/// Every blob and text value of the vault rows, for plaintext checks.
fn vault_bytes(t: &TestServer) -> Vec<Vec<u8>> {
    let db = t.db();
    let mut stmt = db
        .prepare("SELECT wrapped_mk, wrap_iv, kek_id, recovery_wrapped_mk, recovery_iv FROM encryption_vaults")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let mut out = Vec::new();
            for i in 0..5 {
                match r.get::<_, rusqlite::types::Value>(i)? {
                    rusqlite::types::Value::Blob(b) => out.push(b),
                    rusqlite::types::Value::Text(s) => out.push(s.into_bytes()),
                    _ => {}
                }
            }
            Ok(out)
        })
        .unwrap();
    rows.flat_map(Result::unwrap).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn init_is_idempotent_and_the_file_holds_no_plaintext_key() {
    let mut t = server_with_kek().await;
    let a = t.account("v@example.com").await;
    let s = t.get_auth(&format!("{V}/status"), &a.access).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["initialized"], false);
    assert_eq!(s.body["available"], true);
    t.get_auth(&format!("{V}/key"), &a.access)
        .await
        .assert_error(404, "NOT_FOUND");

    let first = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let mk = first.body["masterKey"].as_str().unwrap().to_owned();
    let raw = B64.decode(&mk).unwrap();
    assert_eq!(raw.len(), 32);
    let second = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await;
    assert_eq!(second.body["masterKey"], mk.as_str());
    let got = t.get_auth(&format!("{V}/key"), &a.access).await;
    assert_eq!(got.body["masterKey"], mk.as_str());
    assert_eq!(t.count("SELECT count(*) FROM encryption_vaults"), 1);

    // Stored wrapped: 48 bytes, 12-byte IV, the KEK's fingerprint — and the
    // plaintext key appears nowhere in the file, raw or encoded.
    let (len, iv_len, kek_id): (i64, i64, String) = t
        .db()
        .query_row(
            "SELECT length(wrapped_mk), length(wrap_iv), kek_id FROM encryption_vaults",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((len, iv_len), (48, 12));
    assert!(kek_id.starts_with("kek-"));
    assert!(!kek_id.contains(crate::self_service::KEK_B64));
    for value in vault_bytes(&t) {
        assert!(!contains(&value, &raw), "plaintext key in the vault row");
        assert!(!contains(&value, mk.as_bytes()));
    }
    t.server.take().unwrap().stop().await;
    let file = std::fs::read(&t.db_path).unwrap();
    assert!(!contains(&file, &raw), "plaintext key in the database file");
    assert!(!contains(&file, mk.as_bytes()));
    let kek = B64.decode(crate::self_service::KEK_B64).unwrap();
    assert!(!contains(&file, &kek), "the KEK is in the database file");
}

#[tokio::test]
async fn rotate_changes_the_key_and_drops_the_stale_recovery_wrap() {
    let t = server_with_kek().await;
    let a = t.account("rot@example.com").await;
    let mk = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await
        .body["masterKey"]
        .clone();
    let iv_before: Vec<u8> = t
        .db()
        .query_row("SELECT wrap_iv FROM encryption_vaults", [], |r| r.get(0))
        .unwrap();
    t.post_auth(&format!("{V}/recovery-wrap"), &a.access, wrap_body())
        .await;
    let r = t
        .post_auth(&format!("{V}/rotate"), &a.access, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.body["masterKey"], mk);
    assert_eq!(
        t.get_auth(&format!("{V}/key"), &a.access).await.body["masterKey"],
        r.body["masterKey"]
    );
    let iv_after: Vec<u8> = t
        .db()
        .query_row("SELECT wrap_iv FROM encryption_vaults", [], |r| r.get(0))
        .unwrap();
    assert_ne!(iv_before, iv_after, "a fresh IV per wrap");
    let s = t.get_auth(&format!("{V}/status"), &a.access).await;
    assert_eq!(s.body["hasRecoveryWrap"], false);
    assert!(s.body["rotatedAt"].is_string());
}

#[tokio::test]
async fn zero_knowledge_transitions() {
    let t = server_with_kek().await;
    let a = t.account("zk@example.com").await;
    let zk = |on: bool| json!({ "enabled": on });
    // Nothing before init.
    t.post_auth(&format!("{V}/zero-knowledge"), &a.access, zk(true))
        .await
        .assert_error(404, "NOT_FOUND");
    let mk = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await
        .body["masterKey"]
        .as_str()
        .unwrap()
        .to_owned();
    // ZK on without a recovery wrap.
    t.post_auth(&format!("{V}/zero-knowledge"), &a.access, zk(true))
        .await
        .assert_error(400, "RECOVERY_WRAP_MISSING");
    t.post_auth(
        &format!("{V}/recovery-wrap"),
        &a.access,
        json!({ "recoveryWrappedMk": "!!", "recoveryIv": "AA==" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    let r = t
        .post_auth(&format!("{V}/recovery-wrap"), &a.access, wrap_body())
        .await;
    assert_eq!(r.body["hasRecoveryWrap"], true, "{}", r.body);
    let r = t
        .post_auth(&format!("{V}/zero-knowledge"), &a.access, zk(true))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["zeroKnowledge"], true);
    assert_eq!(t.count("SELECT count(*) FROM encryption_vaults WHERE wrapped_mk IS NULL AND zero_knowledge = 1"), 1);
    // In ZK mode: the key endpoint returns only the recovery wrap.
    let key = t.get_auth(&format!("{V}/key"), &a.access).await;
    assert_eq!(key.status, 200);
    assert!(key.body.get("masterKey").is_none(), "{}", key.body);
    assert_eq!(
        key.body["recoveryWrappedMk"],
        wrap_body()["recoveryWrappedMk"]
    );
    let init = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await;
    assert!(init.body.get("masterKey").is_none());
    // Forbidden transitions.
    t.post_auth(&format!("{V}/rotate"), &a.access, json!({}))
        .await
        .assert_error(409, "ZK_ROTATE_FORBIDDEN");
    t.delete_auth(&format!("{V}/recovery-wrap"), &a.access)
        .await
        .assert_error(409, "ZK_ACTIVE");
    t.post_auth(&format!("{V}/recovery-wrap"), &a.access, wrap_body())
        .await
        .assert_error(409, "ZK_ACTIVE");
    // ZK off needs the key back, then the server wraps it again.
    t.post_auth(&format!("{V}/zero-knowledge"), &a.access, zk(false))
        .await
        .assert_error(400, "VALIDATION");
    let r = t
        .post_auth(
            &format!("{V}/zero-knowledge"),
            &a.access,
            json!({ "enabled": false, "masterKey": mk }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.get_auth(&format!("{V}/key"), &a.access).await.body["masterKey"],
        mk.as_str()
    );
    let r = t
        .delete_auth(&format!("{V}/recovery-wrap"), &a.access)
        .await;
    assert_eq!(r.body["hasRecoveryWrap"], false);

    // Every action is audited with ip, user agent and outcome.
    let db = t.db();
    let failures: i64 = db
        .query_row(
            "SELECT count(*) FROM vault_audit WHERE status = 'failure'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failures, 7);
    let reasons: Vec<String> = db
        .prepare("SELECT reason FROM vault_audit WHERE status = 'failure' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reasons,
        [
            "NOT_FOUND",
            "RECOVERY_WRAP_MISSING",
            "VALIDATION",
            "ZK_ROTATE_FORBIDDEN",
            "ZK_ACTIVE",
            "ZK_ACTIVE",
            "VALIDATION"
        ]
    );
    let missing_ip: i64 = db
        .query_row(
            "SELECT count(*) FROM vault_audit WHERE ip IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(missing_ip, 0);
    let actions: i64 = db
        .query_row("SELECT count(DISTINCT action) FROM vault_audit", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        actions, 7,
        "init, key, recovery_set, zk_on, rotate, recovery_clear, zk_off"
    );
    drop(db);
    let r = t
        .send(
            t.client
                .get(t.url(&format!("{V}/status")))
                .bearer_auth(&a.access)
                .header("user-agent", "vault-test/1"),
        )
        .await;
    assert_eq!(r.status, 200);
    let (action, status, ua): (String, String, String) = t
        .db()
        .query_row(
            "SELECT action, status, user_agent FROM vault_audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (action.as_str(), status.as_str(), ua.as_str()),
        ("status", "success", "vault-test/1")
    );
}

#[tokio::test]
async fn constraints_reject_a_vault_without_wraps() {
    let t = server_with_kek().await;
    let a = t.account("chk@example.com").await;
    t.post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await;
    let db = t.db();
    let fails = |sql: &str| {
        let e = db.execute(sql, []).unwrap_err();
        assert!(
            e.to_string().contains("CHECK constraint failed"),
            "{sql}: {e}"
        );
    };
    // No wrap at all.
    fails("UPDATE encryption_vaults SET wrapped_mk = NULL, wrap_iv = NULL, kek_id = NULL");
    // Zero-knowledge without a recovery wrap.
    fails("UPDATE encryption_vaults SET zero_knowledge = 1, wrapped_mk = NULL, wrap_iv = NULL, kek_id = NULL");
    // Zero-knowledge while the server still holds a wrap.
    db.execute("UPDATE encryption_vaults SET recovery_wrapped_mk = zeroblob(48), recovery_iv = zeroblob(12)", []).unwrap();
    fails("UPDATE encryption_vaults SET zero_knowledge = 1");
    // A wrap that is not 32 bytes + tag, an IV that is not 12 bytes.
    fails("UPDATE encryption_vaults SET wrapped_mk = zeroblob(32)");
    fails("UPDATE encryption_vaults SET wrap_iv = zeroblob(16)");
    // Half a recovery wrap.
    fails("UPDATE encryption_vaults SET recovery_iv = NULL");
    // Inserting an empty vault.
    let e = db
        .execute(
            "INSERT INTO encryption_vaults (user_id, created_at, updated_at) VALUES (?1, 't', 't')",
            [&a.id],
        )
        .unwrap_err();
    assert!(e.to_string().contains("constraint failed"), "{e}");
}

#[tokio::test]
async fn without_a_kek_the_vault_is_disabled() {
    let t = TestServer::start().await;
    let a = t.account("nokek@example.com").await;
    let s = t.get_auth(&format!("{V}/status"), &a.access).await;
    assert_eq!(s.body["available"], false);
    let r = t
        .post_auth(&format!("{V}/init"), &a.access, json!({}))
        .await;
    r.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("MANA_AUTH_KEK"));
    assert_eq!(t.count("SELECT count(*) FROM encryption_vaults"), 0);
    assert_eq!(
        t.count("SELECT count(*) FROM vault_audit WHERE action = 'init' AND status = 'failure'"),
        1
    );
}
