//! Pre-registration hijack (issue 14, item 2) and what sign-up tells
//! (item 14). An attacker registers the victim's address with a password of
//! their choosing; when the victim later proves the address without that
//! password (magic link, reset), nothing the attacker set up may survive.
//! A verification link proves only the registration that asked for it;
//! where verification is required, a never-verified address is restarted by
//! the next sign-up and expires after 7 days; a verified one answers 409.

use serde_json::{json, Value};

use crate::common::smtp::SmtpSink;
use crate::common::{Account, Resp, TestServer};

const VICTIM: &str = "cfo@victim.test";
const ATTACKER_PASSWORD: &str = "Attacker-Chose-1234";

async fn register_with(t: &TestServer, email: &str, password: &str) -> Resp {
    t.post(
        "/api/v1/auth/register",
        json!({ "email": email, "password": password, "name": "Mallory" }),
    )
    .await
}

async fn magic_link(t: &TestServer, sink: &SmtpSink, n: usize) -> (String, String) {
    let r = t
        .post("/api/v1/auth/magic-link/send", json!({ "email": VICTIM }))
        .await;
    assert_eq!(r.body, json!({ "success": true }));
    let mail = sink.nth_to(VICTIM, n).await;
    let link = mail.link();
    (link, mail.text)
}

fn events(t: &TestServer, kind: &str) -> Vec<Value> {
    let conn = t.db();
    let mut stmt = conn
        .prepare("SELECT metadata FROM security_events WHERE event_type = ?1")
        .unwrap();
    stmt.query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|m| serde_json::from_str(&m.unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_magic_link_does_not_hand_the_account_to_whoever_set_its_password() {
    // Default settings: verification required.
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = true).await;
    assert_eq!(
        register_with(&t, VICTIM, ATTACKER_PASSWORD).await.status,
        200
    );
    t.login(VICTIM, ATTACKER_PASSWORD)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    sink.nth_to(VICTIM, 1).await; // the verification mail, ignored

    let (link, text) = magic_link(&t, &sink, 2).await;
    let ok = t.send(t.client.get(t.local(&link))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["user"]["emailVerified"], true);

    // The attacker's password no longer opens the account.
    t.login(VICTIM, ATTACKER_PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let claimed = events(&t, "UNVERIFIED_ACCOUNT_CLAIMED");
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0]["passwordRemoved"], true);
    assert!(
        text.contains("nie best\u{e4}tigt") && text.contains("Passwort"),
        "the mail says what the link removes: {text}"
    );
    // The victim's own session works; they can set a password by reset.
    assert_eq!(
        t.get_auth(
            "/api/v1/auth/session",
            ok.body["accessToken"].as_str().unwrap()
        )
        .await
        .status,
        200
    );
}

/// Signs the attacker in (verification not required) and sets up what an
/// attacker would: an API key, a confirmed second factor, a passkey.
async fn attacker_sets_up(t: &TestServer) -> (Account, String) {
    assert_eq!(
        register_with(t, VICTIM, ATTACKER_PASSWORD).await.status,
        200
    );
    let l = t.login(VICTIM, ATTACKER_PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    let a = Account {
        id: l.body["user"]["id"].as_str().unwrap().to_owned(),
        email: VICTIM.to_owned(),
        access: l.body["accessToken"].as_str().unwrap().to_owned(),
        refresh: l.body["refreshToken"].as_str().unwrap().to_owned(),
    };
    let key = t
        .post_auth(
            "/api/v1/api-keys",
            &a.access,
            json!({ "name": "mine", "scopes": ["*"] }),
        )
        .await;
    assert!(key.status.is_success(), "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();
    let en = t
        .post_auth(
            "/api/v1/auth/two-factor/enable",
            &a.access,
            json!({ "password": ATTACKER_PASSWORD }),
        )
        .await;
    assert_eq!(en.status, 200, "{}", en.body);
    let secret = crate::two_factor::secret_of(en.body["totpURI"].as_str().unwrap());
    crate::two_factor::align(t);
    let on = t
        .post_auth(
            "/api/v1/auth/two-factor/verify-totp",
            &a.access,
            json!({ "code": crate::two_factor::code(t, &secret, 0) }),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    // Confirming 2FA may end the other sessions: sign in again for the
    // passkey (with the second factor).
    let mut auth = crate::passkeys::authenticator();
    let pk = crate::passkeys::register(t, &a, &mut auth, crate::passkeys::ORIGIN, "mine").await;
    assert_eq!(pk.status, 200, "{}", pk.body);
    (a, key)
}

async fn api_key_valid(t: &TestServer, key: &str) -> bool {
    t.post("/api/v1/api-keys/validate", json!({ "apiKey": key }))
        .await
        .body["valid"]
        == true
}

fn count_for(t: &TestServer, table: &str, user_id: &str) -> i64 {
    t.db()
        .query_row(
            &format!("SELECT count(*) FROM {table} WHERE user_id = ?1"),
            [user_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn proving_the_address_removes_every_way_in_set_up_before() {
    // Verification not required: the unverified account is in use.
    let (t, sink) = TestServer::start_with_mail(|c| {
        c.base_url = Some(crate::passkeys::ORIGIN.into());
        c.require_email_verification = false;
    })
    .await;
    let (attacker, key) = attacker_sets_up(&t).await;
    assert!(api_key_valid(&t, &key).await);
    assert_eq!(count_for(&t, "passkeys", &attacker.id), 1);

    // The victim signs in by magic link, through the Better Auth door.
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/magic-link"))
                .json(&json!({ "email": VICTIM })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = sink.link_to(VICTIM, 2).await;
    let ok = t.send(t.no_redirect().get(t.local(&link))).await;
    // Signed in (to the app, with the session cookie), not sent to the
    // attacker's second factor.
    assert_eq!(ok.status, 302, "{}", ok.body);
    assert_eq!(ok.headers["location"], "http://app.mana.test/");
    let cookie = ok.session_cookie().expect("a session cookie");
    let me = t
        .send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .header("cookie", format!("__Secure-mana.session_token={cookie}")),
        )
        .await;
    assert_eq!(me.body["user"]["email"], VICTIM, "{}", me.body);
    assert_eq!(me.body["user"]["twoFactorEnabled"], false);
    assert_eq!(me.body["user"]["emailVerified"], true);

    // Nothing the attacker set up works any more.
    assert!(
        !api_key_valid(&t, &key).await,
        "the API key still validates"
    );
    t.post(
        "/api/v1/auth/refresh",
        json!({ "refreshToken": attacker.refresh }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
    t.login(VICTIM, ATTACKER_PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(count_for(&t, "passkeys", &attacker.id), 0);
    assert_eq!(count_for(&t, "two_factor_secrets", &attacker.id), 0);
    assert_eq!(count_for(&t, "two_factor_backup_codes", &attacker.id), 0);
    assert_eq!(count_for(&t, "password_credentials", &attacker.id), 0);
    let claimed = events(&t, "UNVERIFIED_ACCOUNT_CLAIMED");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["revokedApiKeys"], 1);
    assert_eq!(claimed[0]["removedPasskeys"], 1);
    assert_eq!(claimed[0]["twoFactorRemoved"], true);
    // The victim's session (the only one) lives.
    let sessions = count_for(&t, "sessions", &attacker.id);
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn a_password_reset_of_a_never_verified_account_claims_it_too() {
    let (t, sink) = TestServer::start_with_mail(|c| {
        c.base_url = Some(crate::passkeys::ORIGIN.into());
        c.require_email_verification = false;
    })
    .await;
    let (attacker, key) = attacker_sets_up(&t).await;
    t.post("/api/v1/auth/forgot-password", json!({ "email": VICTIM }))
        .await;
    let mail = sink.nth_to(VICTIM, 2).await;
    assert!(mail.text.contains("nie best\u{e4}tigt"), "{}", mail.text);
    let token = mail.link().split("token=").nth(1).unwrap().to_owned();
    let r = t
        .post(
            "/api/v1/auth/reset-password",
            json!({ "token": token, "newPassword": "victims-own-password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !api_key_valid(&t, &key).await,
        "the API key still validates"
    );
    assert_eq!(count_for(&t, "passkeys", &attacker.id), 0);
    assert_eq!(count_for(&t, "two_factor_secrets", &attacker.id), 0);
    // The victim signs in with their password and no second factor.
    let l = t.login(VICTIM, "victims-own-password").await;
    assert_eq!(l.status, 200, "{}", l.body);
}

#[tokio::test]
async fn a_verification_link_proves_only_the_registration_that_asked_for_it() {
    // Not required: the registrant can sign in and change the password.
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = false).await;
    assert_eq!(
        register_with(&t, VICTIM, ATTACKER_PASSWORD).await.status,
        200
    );
    let link = sink.link_to(VICTIM, 1).await;
    let l = t.login(VICTIM, ATTACKER_PASSWORD).await;
    let r = t
        .post_auth(
            "/api/v1/auth/change-password",
            l.body["accessToken"].as_str().unwrap(),
            json!({ "currentPassword": ATTACKER_PASSWORD, "newPassword": "another-password-1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The link was for the registration with the first password.
    t.send(t.client.get(t.local(&link)))
        .await
        .assert_error(400, "TOKEN_INVALID");
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email_verified = 1"),
        0
    );
    // A new link, for the current password, works.
    t.post(
        "/api/v1/auth/resend-verification",
        json!({ "email": VICTIM }),
    )
    .await;
    let fresh = sink.link_to(VICTIM, 2).await;
    assert_eq!(t.send(t.client.get(t.local(&fresh))).await.status, 200);
}

#[tokio::test]
async fn signing_up_again_restarts_a_never_verified_registration() {
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = true).await;
    // The victim registers but has not clicked yet; an attacker registers
    // the address again.
    let first = register_with(&t, VICTIM, "victims-password-1").await;
    assert_eq!(first.status, 200);
    let first_link = sink.link_to(VICTIM, 1).await;
    let second = register_with(&t, VICTIM, ATTACKER_PASSWORD).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(second.body["user"]["id"], first.body["user"]["id"]);
    assert_eq!(t.count("SELECT count(*) FROM users"), 1);
    assert_eq!(t.count("SELECT count(*) FROM spaces"), 1);
    // The first registration's link proved nothing of the second.
    t.send(t.client.get(t.local(&first_link)))
        .await
        .assert_error(400, "TOKEN_INVALID");
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email_verified = 1"),
        0
    );
    let restarted = events(&t, "ACCOUNT_DELETED");
    assert_eq!(restarted.len(), 1);
    assert_eq!(restarted[0]["reason"], "unverified_restarted");
    sink.nth_to(VICTIM, 2).await;
    assert!(
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'account_deleted'") == 0,
        "no deletion notice for a registration that was never proven"
    );

    // The Better Auth door restarts the same way…
    let ba = t
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "V", "email": VICTIM, "password": "victims-password-2" }),
        )
        .await;
    assert_eq!(ba.status, 200, "{}", ba.body);
    // …and once the address is proven, sign-up tells it exists (on both
    // doors), as clients show that answer.
    let link = sink.link_to(VICTIM, 3).await;
    assert_eq!(t.send(t.client.get(t.local(&link))).await.status, 200);
    register_with(&t, VICTIM, ATTACKER_PASSWORD)
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    let ba = t
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "M", "email": VICTIM, "password": ATTACKER_PASSWORD }),
        )
        .await;
    assert_eq!(ba.status, 422, "{}", ba.body);
    assert_eq!(t.login(VICTIM, "victims-password-2").await.status, 200);
}

#[tokio::test]
async fn where_verification_is_not_required_an_unverified_address_stays_taken() {
    let t = TestServer::start().await;
    assert_eq!(t.register("used@example.com").await.status, 200);
    t.register("used@example.com")
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
}

#[tokio::test]
async fn unverified_registrations_expire_after_seven_days() {
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = true).await;
    assert_eq!(
        register_with(&t, VICTIM, ATTACKER_PASSWORD).await.status,
        200
    );
    assert_eq!(
        register_with(&t, "other@victim.test", ATTACKER_PASSWORD)
            .await
            .status,
        200
    );
    sink.nth_to(VICTIM, 1).await;
    t.clock.advance(chrono::Duration::days(6));
    // Six days on, the registration still exists: a magic link is mailed.
    magic_link(&t, &sink, 2).await;
    t.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    // Seven days on, it has expired: the address is free, nothing is
    // mailed (the answer is the same).
    let r = t
        .post("/api/v1/auth/magic-link/send", json!({ "email": VICTIM }))
        .await;
    assert_eq!(r.body, json!({ "success": true }));
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM users WHERE email = '{VICTIM}'"
        )),
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'magic_link'"),
        1
    );
    // The sweep erases the others.
    let now = t.clock.now();
    let swept = t
        .state()
        .db
        .write(move |tx, _| mana_auth::auth::proof::sweep(tx, true, now))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(t.count("SELECT count(*) FROM users"), 0);
    let expired = events(&t, "ACCOUNT_DELETED");
    assert!(expired.iter().all(|e| e["reason"] == "unverified_expired"));
    // And the address can be registered anew.
    assert_eq!(
        register_with(&t, VICTIM, "victims-password-1").await.status,
        200
    );
}
