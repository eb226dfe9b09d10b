//! Passkeys with a software authenticator (webauthn-authenticator-rs'
//! SoftPasskey): registration, sign-in, counters, origins, replay, expiry,
//! ownership and the limits.

use serde_json::{json, Value};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::common::{Account, Resp, TestServer};

pub(crate) const ORIGIN: &str = "https://mana.test";
/// Inside the relying party's domain, so an authenticator signs for it, but
/// not one of the server's allowed origins.
const OTHER_ORIGIN: &str = "https://other.mana.test";

/// A server whose public URL is https (WebAuthn needs a secure origin).
pub(crate) async fn server() -> TestServer {
    TestServer::start_with(|c| c.base_url = Some(ORIGIN.into())).await
}

pub(crate) fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

pub(crate) async fn register<B: AuthenticatorBackend>(
    t: &TestServer,
    a: &Account,
    auth: &mut WebauthnAuthenticator<B>,
    origin: &str,
    name: &str,
) -> Resp {
    let opts = t
        .post_auth(
            "/api/v1/auth/passkeys/register/options",
            &a.access,
            json!({}),
        )
        .await;
    assert_eq!(opts.status, 200, "{}", opts.body);
    assert_eq!(
        opts.body["publicKey"]["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let challenge = opts.body["challengeId"].as_str().unwrap().to_owned();
    let ccr: CreationChallengeResponse = serde_json::from_value(opts.body.clone()).unwrap();
    let credential = auth
        .do_registration(Url::parse(origin).unwrap(), ccr)
        .unwrap();
    t.post_auth(
        "/api/v1/auth/passkeys/register/verify",
        &a.access,
        json!({ "challengeId": challenge, "credential": credential, "name": name }),
    )
    .await
}

/// Options for `email`, answered by `auth`: (challenge id, credential JSON).
pub(crate) async fn assertion<B: AuthenticatorBackend>(
    t: &TestServer,
    email: &str,
    auth: &mut WebauthnAuthenticator<B>,
    origin: &str,
) -> (String, Value) {
    let opts = t
        .post(
            "/api/v1/auth/passkeys/authenticate/options",
            json!({ "email": email }),
        )
        .await;
    assert_eq!(opts.status, 200, "{}", opts.body);
    let challenge = opts.body["challengeId"].as_str().unwrap().to_owned();
    let rcr: RequestChallengeResponse = serde_json::from_value(opts.body.clone()).unwrap();
    let credential = auth
        .do_authentication(Url::parse(origin).unwrap(), rcr)
        .unwrap();
    (challenge, serde_json::to_value(credential).unwrap())
}

pub(crate) fn verify<'a>(
    t: &'a TestServer,
    challenge: &str,
    credential: &Value,
) -> impl std::future::Future<Output = Resp> + 'a {
    t.post(
        "/api/v1/auth/passkeys/authenticate/verify",
        json!({ "challengeId": challenge, "credential": credential }),
    )
}

#[tokio::test]
async fn register_list_rename_and_sign_in() {
    let t = server().await;
    let cap = t.get("/api/v1/auth/passkeys/capability").await;
    assert_eq!(
        cap.body,
        json!({ "enabled": true, "conditionalUIAvailable": true, "rpId": "mana.test" })
    );

    let a = t.account("pk@example.com").await;
    let mut auth = authenticator();
    let reg = register(&t, &a, &mut auth, ORIGIN, "Laptop").await;
    assert_eq!(reg.status, 200, "{}", reg.body);
    let id = reg.body["passkey"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reg.body["passkey"]["name"], "Laptop");
    assert!(
        reg.body["passkey"].get("credential").is_none(),
        "no key material in answers"
    );

    let list = t.get_auth("/api/v1/auth/passkeys", &a.access).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["friendlyName"], "Laptop");
    let renamed = t
        .send(
            t.client
                .patch(t.url(&format!("/api/v1/auth/passkeys/{id}")))
                .bearer_auth(&a.access)
                .json(&json!({ "name": "Phone" })),
        )
        .await;
    assert_eq!(renamed.body["passkey"]["name"], "Phone");

    let (challenge, credential) = assertion(&t, "pk@example.com", &mut auth, ORIGIN).await;
    let signed = verify(&t, &challenge, &credential).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.body["user"]["email"], "pk@example.com");
    assert!(signed.session_cookie().is_some());
    let v = t
        .post(
            "/api/v1/auth/validate",
            json!({ "token": signed.body["accessToken"] }),
        )
        .await;
    assert_eq!(v.body["valid"], true);
    let after = t.get_auth("/api/v1/auth/passkeys", &a.access).await;
    assert!(after.body[0]["counter"].as_i64().unwrap() >= 1);
    assert!(after.body[0]["lastUsedAt"].is_string());
    for event in ["PASSKEY_REGISTERED", "PASSKEY_LOGIN_SUCCESS"] {
        assert_eq!(
            t.count(&format!(
                "SELECT count(*) FROM security_events WHERE event_type = '{event}'"
            )),
            1,
            "{event}"
        );
    }
    // The same options cannot be answered twice.
    verify(&t, &challenge, &credential)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
}

#[tokio::test]
async fn a_cloned_authenticator_with_a_lower_counter_is_refused() {
    let t = server().await;
    let a = t.account("clone@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);
    let (c1, cred1) = assertion(&t, "clone@example.com", &mut auth, ORIGIN).await;
    assert_eq!(verify(&t, &c1, &cred1).await.status, 200);
    // The server has seen a higher counter than this authenticator will send:
    // exactly what a copy of the key that lags behind looks like.
    t.db()
        .execute(
            "UPDATE passkeys SET credential = json_set(credential, '$.cred.counter', 1000)",
            [],
        )
        .unwrap();
    let (c2, cred2) = assertion(&t, "clone@example.com", &mut auth, ORIGIN).await;
    verify(&t, &c2, &cred2)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'PASSKEY_LOGIN_FAILURE'"),
        1
    );
}

#[tokio::test]
async fn wrong_origin_is_refused() {
    let t = server().await;
    let a = t.account("origin@example.com").await;
    let mut evil = authenticator();
    let r = register(&t, &a, &mut evil, OTHER_ORIGIN, "Evil").await;
    r.assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    assert_eq!(t.count("SELECT count(*) FROM passkeys"), 0);
    let mut auth = authenticator();
    assert_eq!(
        register(&t, &a, &mut auth, ORIGIN, "Good").await.status,
        200
    );
    let (c, cred) = assertion(&t, "origin@example.com", &mut auth, OTHER_ORIGIN).await;
    verify(&t, &c, &cred)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
}

#[tokio::test]
async fn expired_options_and_cancelled_ceremonies_are_refused() {
    let t = server().await;
    let a = t.account("slow@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);
    let (c, cred) = assertion(&t, "slow@example.com", &mut auth, ORIGIN).await;
    t.clock.advance(chrono::Duration::minutes(6));
    verify(&t, &c, &cred)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    let fresh = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    let access = fresh.body["accessToken"].as_str().unwrap();
    let opts = t
        .post_auth("/api/v1/auth/passkeys/register/options", access, json!({}))
        .await;
    let cancelled = t
        .post_auth(
            "/api/v1/auth/passkeys/register/verify",
            access,
            json!({ "challengeId": opts.body["challengeId"], "credential": null }),
        )
        .await;
    cancelled.assert_error(400, "PASSKEY_CANCELLED");
    let junk = t
        .post(
            "/api/v1/auth/passkeys/authenticate/verify",
            json!({ "challengeId": "x", "credential": { "id": 5 } }),
        )
        .await;
    junk.assert_error(400, "PASSKEY_CANCELLED");
}

#[tokio::test]
async fn registration_options_are_bound_to_their_user() {
    let t = server().await;
    let a = t.account("first@example.com").await;
    let b = t.account("second@example.com").await;
    let opts = t
        .post_auth(
            "/api/v1/auth/passkeys/register/options",
            &a.access,
            json!({}),
        )
        .await;
    let ccr: CreationChallengeResponse = serde_json::from_value(opts.body.clone()).unwrap();
    let credential = authenticator()
        .do_registration(Url::parse(ORIGIN).unwrap(), ccr)
        .unwrap();
    let r = t
        .post_auth(
            "/api/v1/auth/passkeys/register/verify",
            &b.access,
            json!({ "challengeId": opts.body["challengeId"], "credential": credential }),
        )
        .await;
    r.assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    assert_eq!(t.count("SELECT count(*) FROM passkeys"), 0);
}

#[tokio::test]
async fn deleted_passkeys_stop_working_and_others_cannot_touch_them() {
    let t = server().await;
    let a = t.account("owner@example.com").await;
    let b = t.account("intruder@example.com").await;
    let mut auth = authenticator();
    let id = register(&t, &a, &mut auth, ORIGIN, "Key").await.body["passkey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/auth/passkeys/{id}");
    let rename = t
        .send(
            t.client
                .patch(t.url(&path))
                .bearer_auth(&b.access)
                .json(&json!({ "name": "mine" })),
        )
        .await;
    rename.assert_error(404, "NOT_FOUND");
    t.delete_auth(&path, &b.access)
        .await
        .assert_error(404, "NOT_FOUND");
    let (c, cred) = assertion(&t, "owner@example.com", &mut auth, ORIGIN).await;
    assert_eq!(t.delete_auth(&path, &a.access).await.status, 200);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'PASSKEY_DELETED'"),
        1
    );
    verify(&t, &c, &cred)
        .await
        .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    t.get("/api/v1/auth/passkeys")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn options_are_rate_limited_per_ip_and_failing_credentials_are_blocked() {
    let t = server().await;
    let a = t.account("limits@example.com").await;
    let mut auth = authenticator();
    assert_eq!(register(&t, &a, &mut auth, ORIGIN, "Key").await.status, 200);

    // A credential that keeps failing is blocked, separately from the
    // password lockout.
    t.db()
        .execute(
            "UPDATE passkeys SET credential = json_set(credential, '$.cred.counter', 1000)",
            [],
        )
        .unwrap();
    for _ in 0..5 {
        let (c, cred) = assertion(&t, "limits@example.com", &mut auth, ORIGIN).await;
        verify(&t, &c, &cred)
            .await
            .assert_error(401, "PASSKEY_VERIFICATION_FAILED");
    }
    t.db()
        .execute(
            "UPDATE passkeys SET credential = json_set(credential, '$.cred.counter', 0)",
            [],
        )
        .unwrap();
    let (c, cred) = assertion(&t, "limits@example.com", &mut auth, ORIGIN).await;
    let blocked = verify(&t, &c, &cred).await;
    blocked.assert_error(429, "RATE_LIMITED");
    assert!(blocked.headers.contains_key("retry-after"));
    assert_eq!(
        t.login("limits@example.com", crate::common::PASSWORD)
            .await
            .status,
        200,
        "password login unaffected"
    );
    t.clock.advance(chrono::Duration::minutes(16));
    let (c, cred) = assertion(&t, "limits@example.com", &mut auth, ORIGIN).await;
    assert_eq!(verify(&t, &c, &cred).await.status, 200);

    // Options per IP: 30 a minute (the calls above count too).
    let mut limited = None;
    for _ in 0..40 {
        let r = t
            .post("/api/v1/auth/passkeys/authenticate/options", json!({}))
            .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("options were never limited");
    limited.assert_error(429, "RATE_LIMITED");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn passkeys_show_in_data_export_and_admin_detail_without_key_material() {
    let t = server().await;
    let a = t.account("shown@example.com").await;
    let mut auth = authenticator();
    assert_eq!(
        register(&t, &a, &mut auth, ORIGIN, "Desk").await.status,
        200
    );
    let summary = t.get_auth("/api/v1/me/data", &a.access).await;
    assert_eq!(summary.body["counts"]["passkeys"], 1);
    let export = t.get_auth("/api/v1/me/data/export", &a.access).await;
    assert_eq!(export.body["passkeys"][0]["name"], "Desk");
    let blob: String = t
        .db()
        .query_row("SELECT credential FROM passkeys", [], |r| r.get(0))
        .unwrap();
    let stored: Value = serde_json::from_str(&blob).unwrap();
    let key = stored["cred"]["cred"]["key"].to_string();
    assert!(
        key.len() > 40,
        "the stored credential holds a public key: {key}"
    );
    let exported = export.body.to_string();
    assert!(
        !exported.contains("\"cred\"") && !exported.contains("EC_EC2") && !exported.contains(&key)
    );
    let admin = crate::admin::admin(&t, "root@example.com").await;
    let detail = t
        .get_auth(&format!("/api/v1/admin/users/{}", a.id), &admin.access)
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(detail.body["passkeys"][0]["name"], "Desk");
    assert!(!detail.body.to_string().contains("\"cred\""));
}
