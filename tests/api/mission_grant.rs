//! `POST /api/v1/me/ai-mission-grant`: the grant unwraps with the runner's
//! private key to the key an independent HKDF (ring's) derives from the
//! caller's master key; the refusals answer in the original `{error, code}`
//! shape; bad bodies write nothing; another user's vault is never used.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use serde_json::{json, Value};

use crate::common::{Account, TestServer};
use crate::self_service::KEK_B64;

const GRANT: &str = "/api/v1/me/ai-mission-grant";

/// One RSA-2048 key pair for the whole test binary (the runner's), made
/// here: no key material is committed.
pub fn runner_key() -> &'static (RsaPrivateKey, String) {
    static KEY: OnceLock<(RsaPrivateKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private, pem)
    })
}

/// A server with a KEK and the runner's public key.
pub async fn grant_server() -> TestServer {
    TestServer::start_with(|c| {
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(KEK_B64.to_owned()));
        c.mana_ai_public_key_pem = Some(runner_key().1.clone());
    })
    .await
}

/// Initialises the caller's vault; returns the master key.
async fn master_key(t: &TestServer, a: &Account) -> [u8; 32] {
    let r = t
        .post_auth("/api/v1/me/encryption-vault/init", &a.access, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    B64.decode(r.body["masterKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn unwrap_grant(grant: &Value) -> Vec<u8> {
    let wrapped = B64.decode(grant["wrappedKey"].as_str().unwrap()).unwrap();
    assert_eq!(wrapped.len(), 256, "RSA-2048 ciphertext");
    runner_key()
        .0
        .decrypt(Oaep::new::<sha2::Sha256>(), &wrapped)
        .unwrap()
}

struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 by ring, with the info string written out by hand.
fn independent_mdk(master_key: &[u8], mission_id: &str, info: &str) -> Vec<u8> {
    let prk =
        ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, mission_id.as_bytes()).extract(master_key);
    let info = [info.as_bytes()];
    let okm = prk.expand(&info, Len(32)).unwrap();
    let mut out = vec![0u8; 32];
    okm.fill(&mut out).unwrap();
    out
}

fn audit_rows(t: &TestServer, user_id: &str) -> Vec<(String, String, Option<String>)> {
    let db = t.db();
    let mut stmt = db
        .prepare("SELECT action, status, reason FROM vault_audit WHERE user_id = ?1 AND action = 'mission_grant' ORDER BY id")
        .unwrap();
    stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn ring_agrees_with_the_clients_golden_vector() {
    // The clients' drift guard, computed by the independent HKDF too.
    let mk: Vec<u8> = (1..=32).collect();
    let mdk = independent_mdk(
        &mk,
        "mission-abc",
        "mana-ai-mission-grant:v1:tables=notes,tasks:ids=notes:n1,tasks:t1",
    );
    assert_eq!(
        hex::encode(mdk),
        "7538df66c51d3ddb667c0135feb4ac7c2800ba372babc7e61e9423d6a9a65628"
    );
}

#[tokio::test]
async fn a_grant_unwraps_to_the_independently_derived_key() {
    let t = grant_server().await;
    let a = t.account("grant@example.com").await;
    let mk = master_key(&t, &a).await;
    let body = json!({
        "missionId": "mission-1",
        "tables": ["tasks", "notes"],
        "recordIds": ["tasks:t1", "notes:n1"],
    });
    let r = t.post_auth(GRANT, &a.access, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = &r.body;
    let keys: Vec<&String> = g.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["derivation", "expiresAt", "issuedAt", "wrappedKey"]);
    assert_eq!(
        g["derivation"],
        json!({"version": "v1", "missionId": "mission-1", "tables": ["notes", "tasks"], "recordIds": ["notes:n1", "tasks:t1"]})
    );
    let mdk = unwrap_grant(g);
    let expected = independent_mdk(
        &mk,
        "mission-1",
        "mana-ai-mission-grant:v1:tables=notes,tasks:ids=notes:n1,tasks:t1",
    );
    assert_eq!(mdk, expected);

    // Seven days by default, stamped by the server's clock.
    let issued = chrono::DateTime::parse_from_rfc3339(g["issuedAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(g["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - issued, chrono::Duration::days(7));
    assert!(g["issuedAt"].as_str().unwrap().ends_with('Z'));

    // Again: a fresh ciphertext (OAEP is randomised), the same key.
    let again = t.post_auth(GRANT, &a.access, body).await;
    assert_ne!(again.body["wrappedKey"], g["wrappedKey"]);
    assert_eq!(unwrap_grant(&again.body), expected);

    // Another scope, another key.
    let wider = t
        .post_auth(
            GRANT,
            &a.access,
            json!({"missionId": "mission-1", "tables": ["notes", "tasks"], "recordIds": ["notes:n1", "tasks:t1", "tasks:t2"]}),
        )
        .await;
    assert_eq!(wider.status, 200);
    let wider_key = unwrap_grant(&wider.body);
    assert_ne!(wider_key, expected);
    assert_eq!(
        wider_key,
        independent_mdk(
            &mk,
            "mission-1",
            "mana-ai-mission-grant:v1:tables=notes,tasks:ids=notes:n1,tasks:t1,tasks:t2"
        )
    );

    // Each grant is audited.
    let audited = audit_rows(&t, &a.id);
    assert_eq!(audited.len(), 3);
    assert!(audited
        .iter()
        .all(|(_, s, r)| s == "success" && r.is_none()));
}

#[tokio::test]
async fn lifetimes_are_clamped_as_the_original() {
    let t = grant_server().await;
    let a = t.account("ttl@example.com").await;
    master_key(&t, &a).await;
    for (ttl, days, hours) in [
        (json!(1000), 0, 1),
        (json!(1e12), 30, 0),
        (json!(86_400_000), 1, 0),
    ] {
        let r = t
            .post_auth(
                GRANT,
                &a.access,
                json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "ttlMs": ttl}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let issued =
            chrono::DateTime::parse_from_rfc3339(r.body["issuedAt"].as_str().unwrap()).unwrap();
        let expires =
            chrono::DateTime::parse_from_rfc3339(r.body["expiresAt"].as_str().unwrap()).unwrap();
        assert_eq!(
            expires - issued,
            chrono::Duration::days(days) + chrono::Duration::hours(hours),
            "{ttl}"
        );
    }
}

#[tokio::test]
async fn refusals_answer_as_the_original() {
    let body = json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"]});

    // No runner key configured.
    let plain = TestServer::start_with(|c| {
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(KEK_B64.to_owned()));
    })
    .await;
    let a = plain.account("nokey@example.com").await;
    master_key(&plain, &a).await;
    let r = plain.post_auth(GRANT, &a.access, body.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        json!({"error": "mission grants are not configured on this server", "code": "GRANT_NOT_CONFIGURED"})
    );
    assert!(audit_rows(&plain, &a.id).is_empty());

    // No vault.
    let t = grant_server().await;
    let b = t.account("novault@example.com").await;
    let r = t.post_auth(GRANT, &b.access, body.clone()).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        json!({"error": "vault not initialised", "code": "VAULT_NOT_INITIALISED"})
    );
    assert_eq!(
        audit_rows(&t, &b.id),
        [(
            "mission_grant".to_owned(),
            "failure".to_owned(),
            Some("VAULT_NOT_INITIALISED".to_owned())
        )]
    );

    // Zero-knowledge mode: the server no longer holds the key.
    let c = t.account("zk@example.com").await;
    master_key(&t, &c).await;
    t.db()
        .execute(
            "UPDATE encryption_vaults SET zero_knowledge = 1, wrapped_mk = NULL, wrap_iv = NULL, kek_id = NULL, \
             recovery_wrapped_mk = ?2, recovery_iv = ?3 WHERE user_id = ?1",
            rusqlite::params![c.id, vec![5u8; 48], vec![6u8; 12]],
        )
        .unwrap();
    let r = t.post_auth(GRANT, &c.access, body.clone()).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["code"], "ZK_ACTIVE");
    assert!(r.body["error"].as_str().unwrap().contains("zero-knowledge"));
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    assert_eq!(audit_rows(&t, &c.id)[0].2.as_deref(), Some("ZK_ACTIVE"));

    // Without a token.
    let r = t.post(GRANT, body).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_write_nothing() {
    let t = grant_server().await;
    let a = t.account("bad@example.com").await;
    master_key(&t, &a).await;
    let shape = json!({"error": "missionId (string), tables (string[]), recordIds (string[]) are required", "code": "BAD_REQUEST"});
    let ok_ids: Vec<String> = (0..10).map(|i| format!("notes:{i}")).collect();
    let cases: Vec<(Value, Option<Value>)> = vec![
        (json!({}), Some(shape.clone())),
        (
            json!({"missionId": "", "tables": ["notes"], "recordIds": ["notes:1"]}),
            Some(shape.clone()),
        ),
        (
            json!({"missionId": 7, "tables": ["notes"], "recordIds": ["notes:1"]}),
            Some(shape.clone()),
        ),
        (
            json!({"missionId": "m", "tables": "notes", "recordIds": ["notes:1"]}),
            Some(shape.clone()),
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": [1, 2]}),
            Some(shape.clone()),
        ),
        (
            json!({"missionId": "m", "tables": [{"a": 1}], "recordIds": ["notes:1"]}),
            Some(shape.clone()),
        ),
        (
            json!({"missionId": "m", "tables": [], "recordIds": ["notes:1"]}),
            Some(json!({"error": "tables must be a non-empty array", "code": "BAD_REQUEST"})),
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": []}),
            Some(json!({"error": "recordIds must be a non-empty array", "code": "BAD_REQUEST"})),
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": vec!["n"; 1001]}),
            Some(json!({"error": "recordIds must not exceed 1000 entries", "code": "BAD_REQUEST"})),
        ),
        (
            json!({"missionId": "m", "tables": vec!["t"; 101], "recordIds": ok_ids}),
            None,
        ),
        (
            json!({"missionId": "m".repeat(300), "tables": ["notes"], "recordIds": ["notes:1"]}),
            None,
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "ttlMs": 0}),
            None,
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "ttlMs": -3600000}),
            None,
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "ttlMs": "604800000"}),
            None,
        ),
        (
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "ttlMs": 1e300}),
            None,
        ),
        (json!([1, 2]), Some(shape.clone())),
    ];
    for (body, expected) in cases {
        let r = t.post_auth(GRANT, &a.access, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["code"], "BAD_REQUEST", "{body}");
        assert!(r.body["error"].is_string());
        if let Some(expected) = expected {
            assert_eq!(r.body, expected);
        }
    }
    // Not JSON at all, and an empty body.
    for raw in ["{not json", ""] {
        let r = t
            .send(
                t.client
                    .post(t.url(GRANT))
                    .bearer_auth(&a.access)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body, shape);
    }
    // Over the body limit: 413, connection intact.
    let huge =
        json!({"missionId": "m", "tables": ["notes"], "recordIds": vec!["x".repeat(200); 400]});
    let r = t.post_auth(GRANT, &a.access, huge).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body["code"], "PAYLOAD_TOO_LARGE");

    assert!(
        audit_rows(&t, &a.id).is_empty(),
        "a refused body is not audited"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM vault_audit WHERE action = 'mission_grant'"),
        0
    );
}

#[tokio::test]
async fn another_users_vault_is_never_used() {
    let t = grant_server().await;
    let a = t.account("alice@example.com").await;
    let b = t.account("bob@example.com").await;
    let mk_a = master_key(&t, &a).await;
    let mk_b = master_key(&t, &b).await;
    assert_ne!(mk_a, mk_b);
    // Fields naming someone else are not part of the contract and change
    // nothing.
    let r = t
        .post_auth(
            GRANT,
            &a.access,
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"], "userId": b.id, "sub": b.id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let info = "mana-ai-mission-grant:v1:tables=notes:ids=notes:1";
    let mdk = unwrap_grant(&r.body);
    assert_eq!(mdk, independent_mdk(&mk_a, "m", info));
    assert_ne!(mdk, independent_mdk(&mk_b, "m", info));
    assert_eq!(audit_rows(&t, &a.id).len(), 1);
    assert!(audit_rows(&t, &b.id).is_empty());

    // A caller without a vault gets 404 even though others have one.
    let c = t.account("carol@example.com").await;
    let r = t
        .post_auth(
            GRANT,
            &c.access,
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"]}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_bad_runner_key_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(&dir.path().join("x.db"));
    config.mana_ai_public_key_pem =
        Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into());
    let e = mana_auth::start(config, mana_auth::clock::Clock::system())
        .await
        .err()
        .unwrap();
    assert!(e.0.contains("MANA_AI_PUBLIC_KEY_PEM"), "{e}");

    // The same key from a file works, and a one-line PEM with `\n` escapes.
    let path = dir.path().join("runner.pem");
    std::fs::write(&path, &runner_key().1).unwrap();
    let from_file = TestServer::start_with(|c| {
        c.mana_ai_public_key_pem_file = Some(path.clone());
    })
    .await;
    assert!(from_file.state().grant_key.is_some());
    let one_line = runner_key().1.replace('\n', "\\n");
    let t = TestServer::start_with(|c| c.mana_ai_public_key_pem = Some(one_line)).await;
    assert!(t.state().grant_key.is_some());
}
#[tokio::test]
async fn a_revoked_sessions_token_is_refused() {
    let t = grant_server().await;
    let d = t.account("revoked@example.com").await;
    master_key(&t, &d).await;
    let out = t
        .post_auth("/api/v1/auth/logout", &d.access, json!({}))
        .await;
    assert!(out.status.is_success(), "{}", out.body);
    let r = t
        .post_auth(
            GRANT,
            &d.access,
            json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"]}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(audit_rows(&t, &d.id).is_empty());
}
