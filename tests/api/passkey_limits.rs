//! Passkeys under attack: floods of bogus sign-ins add no rows and no
//! memory, forged assertions cannot block the owner, the counter check holds
//! under parallel assertions, email-scoped options do not tell who has
//! passkeys, and open ceremonies are bounded.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::WebauthnCError;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::{AuthenticatorBackendHashedClientData, WebauthnAuthenticator};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};
use webauthn_rs_proto::{PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions};

use crate::common::{Resp, TestServer};
use crate::passkeys::{assertion, authenticator, register, server, verify, ORIGIN};

const OPTIONS: &str = "/api/v1/auth/passkeys/authenticate/options";

/// Bytes of the database file and its WAL.
fn file_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(db).map_or(0, |m| m.len())
        + std::fs::metadata(Path::new(&wal)).map_or(0, |m| m.len())
}

/// A fresh sign-in ceremony (the clock moves 2.1 s per call, which keeps
/// a flood under the per-IP options limit of 30 a minute).
async fn challenge(t: &TestServer) -> String {
    t.clock.advance(chrono::Duration::milliseconds(2100));
    let r = t.post(OPTIONS, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["challengeId"].as_str().unwrap().to_owned()
}

/// A well-formed assertion that cannot verify, for credential id `raw`.
fn bogus_assertion(raw: &[u8]) -> Value {
    let id = URL_SAFE_NO_PAD.encode(raw);
    let b = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    json!({
        "id": id,
        "rawId": id,
        "type": "public-key",
        "extensions": {},
        "response": {
            "authenticatorData": b(&[7u8; 37]),
            "clientDataJSON": b(br#"{"type":"webauthn.get","challenge":"x","origin":"https://mana.test"}"#),
            "signature": b(&[9u8; 70]),
            "userHandle": null
        }
    })
}

fn events(t: &TestServer) -> i64 {
    t.count("SELECT count(*) FROM security_events")
}

#[tokio::test]
async fn a_flood_of_bogus_credential_ids_adds_no_rows_bytes_or_memory() {
    let t = server().await;
    let a = t.account("flooded@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);
    let list = t.get_auth("/api/v1/auth/passkeys", &a.access).await;
    let cred_id = list.body[0]["credentialId"].as_str().unwrap().to_owned();
    // The mail worker writes too (the sign-up mail): let it finish first.
    t.eventually("the outbox is settled", |t| {
        t.count("SELECT count(*) FROM mail_outbox WHERE status = 'pending'") == 0
    })
    .await;
    let (rows, bytes) = (events(&t), file_bytes(&t.db_path));

    // 20 KB credential ids (the body limit allows that much): refused
    // before anything.
    let huge = vec![0xabu8; 20 * 1024];
    for _ in 0..60 {
        let c = challenge(&t).await;
        let r = verify(&t, &c, &bogus_assertion(&huge)).await;
        r.assert_error(400, "VALIDATION");
    }
    // The limit is the WebAuthn one: 1,023 bytes.
    let c = challenge(&t).await;
    verify(&t, &c, &bogus_assertion(&[1u8; 1024]))
        .await
        .assert_error(400, "VALIDATION");
    let c = challenge(&t).await;
    verify(&t, &c, &bogus_assertion(&[1u8; 1023]))
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");

    // Ids nobody registered: refused, not counted, not stored.
    for i in 0..60 {
        let c = challenge(&t).await;
        let raw: Vec<u8> = (0..64).map(|b| (b as u8) ^ (i as u8)).collect();
        verify(&t, &c, &bogus_assertion(&raw))
            .await
            .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    }
    assert_eq!(events(&t), rows, "security events added by the flood");
    assert_eq!(file_bytes(&t.db_path), bytes, "bytes added by the flood");
    assert_eq!(t.state().passkeys.tracked_failures(), 0);

    // A failure on a real credential is recorded for its owner, with a
    // short prefix of the id only.
    let c = challenge(&t).await;
    let raw = URL_SAFE_NO_PAD.decode(&cred_id).unwrap();
    verify(&t, &c, &bogus_assertion(&raw))
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    let (owner, meta): (Option<String>, String) = t
        .db()
        .query_row(
            "SELECT user_id, metadata FROM security_events WHERE event_type = 'PASSKEY_LOGIN_FAILURE'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(owner.as_deref(), Some(a.id.as_str()));
    assert!(meta.len() < 120 && !meta.contains(&cred_id), "{meta}");
    assert!(meta.contains(&cred_id[..12]), "{meta}");
}

/// A signature byte flipped: what someone who knows a credential id but
/// not its key can send.
fn forged(mut credential: Value) -> Value {
    let sig = credential["response"]["signature"].as_str().unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    credential["response"]["signature"] = json!(URL_SAFE_NO_PAD.encode(bytes));
    credential
}

#[tokio::test]
async fn forged_assertions_against_a_known_credential_do_not_block_its_owner() {
    let t = server().await;
    let a = t.account("victim@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);
    for _ in 0..8 {
        let (c, cred) = assertion(&t, "victim@example.com", &mut auth, ORIGIN).await;
        verify(&t, &c, &forged(cred))
            .await
            .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    }
    let (c, cred) = assertion(&t, "victim@example.com", &mut auth, ORIGIN).await;
    let signed = verify(&t, &c, &cred).await;
    assert_eq!(signed.status, 200, "the owner was blocked: {}", signed.body);
}

/// A SoftToken shared by reference, so its state (keys and counter) can be
/// copied: copies sign with the same counter, as cloned authenticators do.
struct Borrowed<'a>(&'a mut SoftToken);

impl AuthenticatorBackendHashedClientData for Borrowed<'_> {
    fn perform_register(
        &mut self,
        client_data_hash: Vec<u8>,
        options: PublicKeyCredentialCreationOptions,
        timeout_ms: u32,
    ) -> Result<RegisterPublicKeyCredential, WebauthnCError> {
        self.0
            .perform_register(client_data_hash, options, timeout_ms)
    }

    fn perform_auth(
        &mut self,
        client_data_hash: Vec<u8>,
        options: PublicKeyCredentialRequestOptions,
        timeout_ms: u32,
    ) -> Result<PublicKeyCredential, WebauthnCError> {
        self.0.perform_auth(client_data_hash, options, timeout_ms)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_assertions_with_the_same_counter_sign_in_once() {
    let t = server().await;
    let a = t.account("counter@example.com").await;
    let (mut token, _) = SoftToken::new(true).unwrap();
    let r = register(
        &t,
        &a,
        &mut WebauthnAuthenticator::new(Borrowed(&mut token)),
        ORIGIN,
        "Token",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let saved = token.to_cbor().unwrap();
    for round in 0..3 {
        // Four copies of the token in the same state: each signs its own
        // challenge with the same counter value.
        let mut pending = Vec::new();
        for _ in 0..4 {
            let mut copy = SoftToken::from_cbor(&saved).unwrap();
            let mut auth = WebauthnAuthenticator::new(Borrowed(&mut copy));
            pending.push(assertion(&t, "counter@example.com", &mut auth, ORIGIN).await);
        }
        let answers: Vec<Resp> =
            futures::future::join_all(pending.iter().map(|(c, cred)| verify(&t, c, cred))).await;
        let accepted = answers.iter().filter(|r| r.status == 200).count();
        if round == 0 {
            assert_eq!(accepted, 1, "one counter value, one sign-in");
        } else {
            assert_eq!(accepted, 0, "a counter value seen before");
        }
        for r in answers.iter().filter(|r| r.status != 200) {
            // Refused; these signatures verified, so they count, and the
            // copies end up blocked.
            assert!([401, 429].contains(&r.status.as_u16()), "{}", r.body);
        }
    }
    let mut token = SoftToken::from_cbor(&saved).unwrap();
    let mut auth = WebauthnAuthenticator::new(Borrowed(&mut token));
    for _ in 0..3 {
        assertion(&t, "counter@example.com", &mut auth, ORIGIN).await;
    }
    let (c, cred) = assertion(&t, "counter@example.com", &mut auth, ORIGIN).await;
    verify(&t, &c, &cred)
        .await
        .assert_error(429, "RATE_LIMITED");
}

fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => json!(a.first().map(shape)),
        Value::String(_) => json!("s"),
        Value::Number(_) => json!(0),
        other => other.clone(),
    }
}

async fn email_options(t: &TestServer, email: &str) -> Value {
    let r = t.post(OPTIONS, json!({ "email": email })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn ids(options: &Value) -> Vec<String> {
    options["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn email_scoped_options_look_the_same_for_every_address() {
    let t = server().await;
    let a = t.account("haskey@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);
    t.account("nokey@example.com").await;

    let real = email_options(&t, "haskey@example.com").await;
    let none = email_options(&t, "nokey@example.com").await;
    let unknown = email_options(&t, "nobody@example.com").await;
    assert!(!ids(&real).is_empty());
    for other in [&none, &unknown] {
        assert_eq!(shape(other), shape(&real), "{other} vs {real}");
        assert!(!ids(other).is_empty(), "{other}");
        assert_eq!(
            other["publicKey"]["userVerification"],
            real["publicKey"]["userVerification"]
        );
    }
    // Stable per address, different between addresses.
    assert_eq!(
        ids(&email_options(&t, "nokey@example.com").await),
        ids(&none)
    );
    assert_eq!(
        ids(&email_options(&t, "NOBODY@example.com").await),
        ids(&unknown)
    );
    assert_ne!(ids(&none), ids(&unknown));
    for id in ids(&none).iter().chain(ids(&unknown).iter()) {
        let len = URL_SAFE_NO_PAD.decode(id).unwrap().len();
        assert!((16..=64).contains(&len), "{id}");
        assert!(!ids(&real).contains(id));
    }

    // Answering a decoy ceremony with a real passkey signs nobody in.
    let (c, cred) = {
        let rcr = serde_json::from_value(real.clone()).unwrap();
        let cred = auth
            .do_authentication(webauthn_rs::prelude::Url::parse(ORIGIN).unwrap(), rcr)
            .unwrap();
        (
            unknown["challengeId"].as_str().unwrap().to_owned(),
            serde_json::to_value(cred).unwrap(),
        )
    };
    verify(&t, &c, &cred)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
}

#[tokio::test]
async fn a_user_has_a_few_open_registrations_and_the_newest_replace_the_oldest() {
    let t = server().await;
    let a = t.account("ceremonies@example.com").await;
    let mut challenges = Vec::new();
    let mut options = Vec::new();
    for _ in 0..10 {
        let r = t
            .post_auth(
                "/api/v1/auth/passkeys/register/options",
                &a.access,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        challenges.push(r.body["challengeId"].as_str().unwrap().to_owned());
        options.push(r.body);
    }
    let finish = |i: usize| {
        let ccr = serde_json::from_value(options[i].clone()).unwrap();
        let cred = authenticator()
            .do_registration(webauthn_rs::prelude::Url::parse(ORIGIN).unwrap(), ccr)
            .unwrap();
        t.post_auth(
            "/api/v1/auth/passkeys/register/verify",
            &a.access,
            json!({ "challengeId": challenges[i], "credential": cred, "name": "K" }),
        )
    };
    assert_eq!(t.state().passkeys.open_ceremonies(), 3);
    finish(0)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    assert_eq!(finish(9).await.status, 200);
}

#[tokio::test]
async fn open_ceremonies_have_a_server_wide_cap_and_expired_ones_are_swept() {
    let t = TestServer::start_with(|c| {
        c.base_url = Some(ORIGIN.into());
        c.passkey_max_ceremonies = 5;
    })
    .await;
    let a = t.account("cap@example.com").await;
    for _ in 0..10 {
        let r = t
            .post_auth(
                "/api/v1/auth/passkeys/register/options",
                &a.access,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        t.state().passkeys.open_ceremonies(),
        3,
        "a user's registrations"
    );
    for _ in 0..2 {
        assert_eq!(t.post(OPTIONS, json!({})).await.status, 200);
    }
    let full = t.post(OPTIONS, json!({})).await;
    full.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(full.headers.contains_key("retry-after"));
    assert_eq!(t.state().passkeys.open_ceremonies(), 5);

    // The timed sweep frees them once expired (the task runs it every
    // minute; here it is called at the test clock's time).
    t.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(t.state().passkeys.sweep(t.clock.now()), 5);
    assert_eq!(t.state().passkeys.open_ceremonies(), 0);
    assert_eq!(t.post(OPTIONS, json!({})).await.status, 200);
}
