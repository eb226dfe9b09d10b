//! The Better Auth plugin routes under `/api/auth`: two-factor, magic link
//! and passkey, driven as the framework's browser client drives them (a
//! cookie jar, `Origin` on every POST). Shapes, statuses, cookies and error
//! codes follow the recorded Better Auth 1.7 behaviour; where our rules are
//! stricter (replay refusal, account lockout, no sign-up by magic link) the
//! tests say so.

use chrono::Duration;
use serde_json::{json, Value};
use totp_rs::{Algorithm, TOTP};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url,
};

use crate::better_auth::{assert_ba_error, assert_user, Browser};
use crate::common::smtp::SmtpSink;
use crate::common::{Resp, TestServer, PASSWORD};

/// A `Set-Cookie` line: name, value, Max-Age.
struct SetCookie {
    name: String,
    value: String,
    max_age: Option<i64>,
    line: String,
}

fn set_cookies(r: &Resp) -> Vec<SetCookie> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|line| {
            let mut parts = line.split(';');
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let max_age = parts
                .filter_map(|p| p.trim().strip_prefix("Max-Age="))
                .map(|v| v.parse().unwrap())
                .next();
            SetCookie {
                name: name.trim_start_matches("__Secure-").to_owned(),
                value: value.to_owned(),
                max_age,
                line: line.to_owned(),
            }
        })
        .collect()
}

/// The `Set-Cookie` of `name`, if the answer has one.
fn set_cookie(r: &Resp, name: &str) -> Option<SetCookie> {
    set_cookies(r).into_iter().find(|c| c.name == name)
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Path and query of an absolute link.
fn path_of(link: &str) -> String {
    let rest = link.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

/// Asserts the framework's error body `{code, message}` (and nothing of
/// the `/api/v1` envelope) and the status.
fn assert_ba(r: &Resp, status: u16, code: &str) {
    assert_ba_error(r, status, code);
    assert!(r.body.get("error").is_none(), "framework shape: {}", r.body);
}

/// A cookie of the browser's jar.
fn jar(b: &Browser<'_>, name: &str) -> Option<String> {
    b.cookies.lock().unwrap().get(name).cloned()
}

/// A GET that does not follow redirects.
async fn visit(b: &Browser<'_>, path: &str) -> Resp {
    b.send(b.t.no_redirect().get(b.t.url(path))).await
}

/// Signs up through `/api/auth/sign-up/email`; the user object.
async fn sign_up(b: &Browser<'_>, email: &str, name: &str) -> Value {
    let r = b.sign_up(email, name).await;
    assert_user(&r.body["user"], email);
    r.body["user"].clone()
}

/// The body of get-session.
async fn session(b: &Browser<'_>) -> Value {
    let r = b.get("/api/auth/get-session").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

// ---------------------------------------------------------------- 2FA ----

const TF: &str = "/api/auth/two-factor";

fn tf(p: &str) -> String {
    format!("{TF}{p}")
}

use crate::two_factor::secret_of;

/// The current code, by totp-rs.
fn code(t: &TestServer, secret: &[u8]) -> String {
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, secret.to_vec()).unwrap();
    totp.generate(t.clock.now().timestamp() as u64)
}

/// Moves the clock to just after the start of the next time step (a new
/// code; the last one is spent).
fn next_step(t: &TestServer) {
    let into = t.clock.now().timestamp_millis().rem_euclid(30_000);
    t.clock.advance(Duration::milliseconds(30_000 - into + 200));
}

/// `{token, user}` of a 2FA answer.
fn assert_token_user(r: &Resp, user_id: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["token", "user"], "{}", r.body);
    assert_eq!(r.body["user"]["id"], user_id);
    assert!(r.body["user"]["email"].is_string());
    assert!(r.body["user"]["twoFactorEnabled"].is_boolean());
}

/// Enables 2FA for the signed-in browser and confirms it; returns the
/// secret and the backup codes.
async fn enroll(t: &TestServer, b: &Browser<'_>) -> (Vec<u8>, Vec<String>) {
    let r = b
        .post(&tf("/enable"), json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = secret_of(r.body["totpURI"].as_str().unwrap());
    let codes = r.body["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    next_step(t);
    let ok = b
        .post(&tf("/verify-totp"), json!({ "code": code(t, &secret) }))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    (secret, codes)
}

#[tokio::test]
async fn two_factor_enrolment_sign_in_backup_codes_and_disable() {
    let t = TestServer::start().await;
    let b = Browser::new(&t);
    let user = sign_up(&b, "tina@example.com", "Tina").await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let session_token = jar(&b, "mana.session_token").unwrap().clone();

    // enable: errors, then the pending secret.
    let anon = Browser::new(&t);
    let r = anon
        .post(&tf("/enable"), json!({ "password": PASSWORD }))
        .await;
    assert_ba(&r, 401, "UNAUTHORIZED");
    assert_ba(
        &b.post(&tf("/enable"), json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    let r = b
        .post(&tf("/enable"), json!({ "password": "wrong-password-123" }))
        .await;
    assert_ba(&r, 400, "INVALID_PASSWORD");
    let r = b
        .post(
            &tf("/enable"),
            json!({ "password": PASSWORD, "method": "otp" }),
        )
        .await;
    assert_ba(&r, 400, "OTP_NOT_CONFIGURED");
    let r = b
        .post(
            &tf("/enable"),
            json!({ "password": PASSWORD, "issuer": "Mana Web" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(set_cookies(&r).is_empty(), "enable sets no cookie");
    assert_eq!(r.body["method"], "totp");
    let uri = r.body["totpURI"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Mana%20Web:tina@example.com?secret="),
        "{uri}"
    );
    assert!(uri.contains("&issuer=Mana%20Web&") && uri.contains("digits=6&period=30"));
    let backup = r.body["backupCodes"].as_array().unwrap();
    assert_eq!(backup.len(), 10);
    assert!(backup.iter().all(|c| c.is_string()));
    let secret = secret_of(uri);

    // Pending until the first code: not on yet.
    assert_eq!(session(&b).await["user"]["twoFactorEnabled"], false);
    let r = b
        .post(
            &tf("/generate-backup-codes"),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_ba(&r, 400, "TWO_FACTOR_NOT_ENABLED");
    let r = b
        .post(&tf("/get-totp-uri"), json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(secret_of(r.body["totpURI"].as_str().unwrap()), secret);
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    let r = b
        .post(
            &tf("/get-totp-uri"),
            json!({ "password": "wrong-password-123" }),
        )
        .await;
    assert_ba(&r, 400, "INVALID_PASSWORD");

    // The first code (signed in) turns 2FA on; the session stays.
    let r = b
        .post(&tf("/verify-totp"), json!({ "code": "000000" }))
        .await;
    assert_ba(&r, 401, "INVALID_CODE");
    next_step(&t);
    let r = b
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_token_user(&r, &uid);
    assert_eq!(r.body["token"], session_token.as_str());
    assert_eq!(r.body["user"]["twoFactorEnabled"], true);
    assert!(set_cookie(&r, "mana.session_token").is_none());
    assert_eq!(session(&b).await["user"]["twoFactorEnabled"], true);
    let r = b
        .post(&tf("/enable"), json!({ "password": PASSWORD }))
        .await;
    assert_ba(&r, 400, "TOTP_ALREADY_ENABLED");

    // Backup codes: new ones replace the old.
    let r = b
        .post(
            &tf("/generate-backup-codes"),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], true);
    let codes: Vec<String> = r.body["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let r = b
        .post(
            &tf("/generate-backup-codes"),
            json!({ "password": "wrong-password-123" }),
        )
        .await;
    assert_ba(&r, 400, "INVALID_PASSWORD");
    // The four wrong passwords and the wrong code above were credential
    // failures of the address, like wrong passwords at sign-in.
    assert_eq!(
        t.count("SELECT count(*) FROM login_failures WHERE email = 'tina@example.com'"),
        4
    );
    // Forget them, so that the sign-in below is not locked out (the clock
    // must stay in this TOTP step for the replay checks).
    t.db().execute("DELETE FROM login_failures", []).unwrap();

    // Sign-in through /api/auth: the second step rides in a cookie.
    assert_eq!(b.post("/api/auth/sign-out", json!({})).await.status, 200);
    let c = Browser::new(&t);
    let r = c
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "tina@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp"] })
    );
    let pending = set_cookie(&r, "mana.two_factor").unwrap();
    assert_eq!(pending.max_age, Some(300), "our ticket lasts 5 minutes");
    assert!(pending.line.contains("HttpOnly"));
    assert!(jar(&c, "mana.session_token").is_none());
    assert_eq!(session(&c).await, Value::Null);

    let r = anon
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_ba(&r, 401, "INVALID_TWO_FACTOR_COOKIE");
    let r = c
        .post(&tf("/verify-totp"), json!({ "code": "000000" }))
        .await;
    assert_ba(&r, 401, "INVALID_CODE");
    let r = c.post(&tf("/verify-totp"), json!({})).await;
    assert_ba(&r, 400, "VALIDATION_ERROR");
    // Still the code of the enrolment's step: refused as a replay (ours).
    let r = c
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_ba(&r, 401, "INVALID_CODE");
    next_step(&t);
    let fresh = code(&t, &secret);
    let r = c
        .post(
            &tf("/verify-totp"),
            json!({ "code": fresh, "trustDevice": true }),
        )
        .await;
    assert_token_user(&r, &uid);
    assert_eq!(r.body["user"]["twoFactorEnabled"], true);
    let sc = set_cookie(&r, "mana.session_token").unwrap();
    assert_eq!(sc.value, r.body["token"].as_str().unwrap());
    assert_eq!(sc.max_age, Some(604800));
    assert_eq!(set_cookie(&r, "mana.two_factor").unwrap().max_age, Some(0));
    assert!(
        set_cookie(&r, "mana.trust_device").is_none(),
        "no trusted devices"
    );
    let s = session(&c).await;
    assert_eq!(s["user"]["id"], uid.as_str());
    assert_eq!(s["session"]["token"], r.body["token"]);

    // The same code again, for a new sign-in: a replay (ours).
    let d = Browser::new(&t);
    d.post(
        "/api/auth/sign-in/email",
        json!({ "email": "tina@example.com", "password": PASSWORD }),
    )
    .await;
    let r = d.post(&tf("/verify-totp"), json!({ "code": fresh })).await;
    assert_ba(&r, 401, "INVALID_CODE");

    // Backup codes finish a sign-in, once each.
    let r = d
        .post(&tf("/verify-backup-code"), json!({ "code": "XXXXX-YYYYY" }))
        .await;
    assert_ba(&r, 401, "INVALID_BACKUP_CODE");
    let r = d
        .post(&tf("/verify-backup-code"), json!({ "code": codes[0] }))
        .await;
    assert_token_user(&r, &uid);
    assert_eq!(
        set_cookie(&r, "mana.session_token").unwrap().value,
        r.body["token"].as_str().unwrap()
    );
    assert_eq!(set_cookie(&r, "mana.two_factor").unwrap().max_age, Some(0));
    // Signed in, a backup code is checked and used up (step-up).
    let token = jar(&d, "mana.session_token").unwrap().clone();
    let r = d
        .post(&tf("/verify-backup-code"), json!({ "code": codes[0] }))
        .await;
    assert_ba(&r, 401, "INVALID_BACKUP_CODE");
    let r = d
        .post(&tf("/verify-backup-code"), json!({ "code": codes[1] }))
        .await;
    assert_token_user(&r, &uid);
    assert_eq!(r.body["token"], token.as_str());
    assert!(set_cookies(&r).is_empty());

    // A two-factor cookie that names no pending sign-in.
    let e = Browser::new(&t);
    e.cookies
        .lock()
        .unwrap()
        .insert("mana.two_factor".into(), "not-a-ticket".into());
    let r = e
        .post(&tf("/verify-totp"), json!({ "code": "123456" }))
        .await;
    assert_ba(&r, 401, "INVALID_TWO_FACTOR_COOKIE");
    assert_eq!(set_cookie(&r, "mana.two_factor").unwrap().max_age, Some(0));
    // The Origin check covers these routes.
    let r = t
        .send(
            t.client
                .post(t.url(&tf("/verify-totp")))
                .header("cookie", "mana.two_factor=x")
                .json(&json!({ "code": "123456" })),
        )
        .await;
    assert_ba(&r, 403, "MISSING_OR_NULL_ORIGIN");

    // disable
    let r = anon
        .post(&tf("/disable"), json!({ "password": PASSWORD }))
        .await;
    assert_ba(&r, 401, "UNAUTHORIZED");
    assert_ba(
        &d.post(&tf("/disable"), json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    let r = d
        .post(&tf("/disable"), json!({ "password": "wrong-password-123" }))
        .await;
    assert_ba(&r, 400, "INVALID_PASSWORD");
    let r = d
        .post(&tf("/disable"), json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    assert_eq!(session(&d).await["user"]["twoFactorEnabled"], false);
    let r = d
        .post(
            &tf("/generate-backup-codes"),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_ba(&r, 400, "TWO_FACTOR_NOT_ENABLED");
    next_step(&t);
    let r = d
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_ba(&r, 400, "TOTP_NOT_ENABLED");
    let r = d
        .post(&tf("/verify-backup-code"), json!({ "code": codes[2] }))
        .await;
    assert_ba(&r, 400, "BACKUP_CODES_NOT_ENABLED");
    let r = d
        .post(&tf("/get-totp-uri"), json!({ "password": PASSWORD }))
        .await;
    assert_ba(&r, 400, "TOTP_NOT_ENABLED");
    let r = d
        .post(&tf("/disable"), json!({ "password": PASSWORD }))
        .await;
    assert_ba(&r, 400, "TWO_FACTOR_NOT_ENABLED");
    // Password sign-in is one step again.
    let f = Browser::new(&t);
    let r = f
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "tina@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.body["user"]["id"], uid.as_str(), "{}", r.body);
}

#[tokio::test]
async fn remember_me_false_is_kept_across_the_second_factor() {
    let t = TestServer::start().await;
    let b = Browser::new(&t);
    sign_up(&b, "forget@example.com", "Forget").await;
    let (secret, _) = enroll(&t, &b).await;
    let c = Browser::new(&t);
    let r = c
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "forget@example.com", "password": PASSWORD, "rememberMe": false }),
        )
        .await;
    assert_eq!(r.body["twoFactorRedirect"], true, "{}", r.body);
    assert!(jar(&c, "mana.dont_remember").is_some());
    next_step(&t);
    let r = c
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let session = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mana.session_token="))
        .unwrap();
    assert!(!session.contains("Max-Age"), "{session}");
    // Signing out forgets the choice as well.
    let out = c.post("/api/auth/sign-out", json!({})).await;
    assert_eq!(out.status, 200);
    assert!(jar(&c, "mana.dont_remember").is_none());
}

#[tokio::test]
async fn two_factor_wrong_codes_lock_the_account() {
    let t = TestServer::start().await;
    let b = Browser::new(&t);
    sign_up(&b, "lock@example.com", "Lock").await;
    let (secret, _) = enroll(&t, &b).await;
    let c = Browser::new(&t);
    c.post(
        "/api/auth/sign-in/email",
        json!({ "email": "lock@example.com", "password": PASSWORD }),
    )
    .await;
    assert!(jar(&c, "mana.two_factor").is_some());
    for _ in 0..4 {
        let r = c
            .post(&tf("/verify-totp"), json!({ "code": "000000" }))
            .await;
        assert_ba(&r, 401, "INVALID_CODE");
    }
    let r = c
        .post(&tf("/verify-totp"), json!({ "code": "000000" }))
        .await;
    assert_ba(&r, 429, "ACCOUNT_TEMPORARILY_LOCKED");
    assert!(r.headers.contains_key("retry-after"));
    // Locked: a right code does not help either.
    next_step(&t);
    let r = c
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_ba(&r, 429, "ACCOUNT_TEMPORARILY_LOCKED");
}

// ---------------------------------------------------------- magic link ----

async fn with_smtp(sink: &SmtpSink) -> TestServer {
    let port = sink.port;
    TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        // The sink is a plain relay on loopback.
        c.smtp_tls = mana_auth::config::SmtpTls::None;
    })
    .await
}

/// Waits for the next mail to `to` after `seen` mails and returns its link.
async fn next_link(sink: &SmtpSink, seen: &mut usize, to: &str) -> String {
    let mails = sink.wait_for(*seen + 1).await;
    let mail = mails[*seen..]
        .iter()
        .find(|m| m.to == [to.to_owned()])
        .unwrap_or_else(|| panic!("no mail to {to}"));
    *seen = mails.len();
    mail.parse().link()
}

/// The token of a mailed link.
fn token_of(link: &str) -> String {
    link.split_once("token=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn magic_link_send_and_verify() {
    let sink = SmtpSink::start().await;
    let t = with_smtp(&sink).await;
    let mut seen = 0;
    let b = Browser::new(&t);
    let user = sign_up(&b, "alice@example.com", "Alice").await;
    // sign-up mails a verification link
    next_link(&sink, &mut seen, "alice@example.com").await;
    let m = Browser::new(&t);

    // send: refusals
    let r = m
        .post("/api/auth/sign-in/magic-link", json!({ "email": "nope" }))
        .await;
    assert_ba(&r, 400, "VALIDATION_ERROR");
    assert_ba(
        &m.post("/api/auth/sign-in/magic-link", json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
    ] {
        let r = m
            .post(
                "/api/auth/sign-in/magic-link",
                json!({ "email": "alice@example.com", field: "http://evil.example.com/" }),
            )
            .await;
        assert_ba(&r, 403, code);
    }
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/magic-link"))
                .header("origin", "http://evil.example.com")
                .json(&json!({ "email": "alice@example.com" })),
        )
        .await;
    assert_ba(&r, 403, "INVALID_ORIGIN");

    // send → mail → follow: signed in, redirected to the callback.
    let r = m
        .post(
            "/api/auth/sign-in/magic-link",
            json!({ "email": "Alice@Example.com", "callbackURL": "/dashboard", "errorCallbackURL": "/login" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    assert!(set_cookies(&r).is_empty());
    let link = next_link(&sink, &mut seen, "alice@example.com").await;
    assert!(
        link.starts_with("http://mana.test/api/auth/magic-link/verify?token="),
        "{link}"
    );
    assert!(
        link.ends_with("&callbackURL=%2Fdashboard&errorCallbackURL=%2Flogin"),
        "{link}"
    );
    let r = visit(&m, &path_of(&link)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "http://app.mana.test/dashboard");
    let sc = set_cookie(&r, "mana.session_token").unwrap();
    assert_eq!(sc.max_age, Some(604800));
    let s = session(&m).await;
    assert_eq!(s["user"]["id"], user["id"]);
    assert_eq!(s["user"]["emailVerified"], true);
    assert_eq!(s["session"]["token"], sc.value.as_str());
    // The password and the older session still work (ours: nothing is
    // revoked).
    assert_eq!(session(&b).await["user"]["id"], user["id"]);

    // The name the Mana clients use, /magic-link/send-magic-link, is the
    // same route.
    let r = m
        .post(
            "/api/auth/magic-link/send-magic-link",
            json!({ "email": "alice@example.com", "callbackURL": "/inbox" }),
        )
        .await;
    assert_eq!(r.body, json!({ "status": true }));
    let alias_link = next_link(&sink, &mut seen, "alice@example.com").await;
    assert!(
        alias_link.starts_with("http://mana.test/api/auth/magic-link/verify?token="),
        "{alias_link}"
    );
    assert!(
        alias_link.ends_with("&callbackURL=%2Finbox"),
        "{alias_link}"
    );

    // A used link, a bad token: back to the error callback with the code.
    let x = Browser::new(&t);
    let r = visit(&x, &path_of(&link)).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        "http://app.mana.test/login?error=INVALID_TOKEN"
    );
    assert!(set_cookies(&r).is_empty());
    let r = visit(
        &x,
        "/api/auth/magic-link/verify?token=badtoken&callbackURL=%2Fdashboard",
    )
    .await;
    assert_eq!(
        r.headers["location"],
        "http://app.mana.test/dashboard?error=INVALID_TOKEN"
    );
    let r = visit(&x, "/api/auth/magic-link/verify?token=badtoken").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        "http://app.mana.test/?error=INVALID_TOKEN"
    );
    assert_ba(
        &visit(&x, "/api/auth/magic-link/verify").await,
        400,
        "VALIDATION_ERROR",
    );
    let r = visit(
        &x,
        "/api/auth/magic-link/verify?token=badtoken&callbackURL=http%3A%2F%2Fevil.example.com%2F",
    )
    .await;
    assert_ba(&r, 403, "INVALID_CALLBACK_URL");

    // Without callbackURL the answer is JSON: {token, user, session}.
    m.post(
        "/api/auth/sign-in/magic-link",
        json!({ "email": "alice@example.com" }),
    )
    .await;
    let link = next_link(&sink, &mut seen, "alice@example.com").await;
    assert!(link.ends_with("&callbackURL=%2F"), "{link}");
    let y = Browser::new(&t);
    let r = visit(
        &y,
        &format!("/api/auth/magic-link/verify?token={}", token_of(&link)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["session", "token", "user"]);
    assert_eq!(r.body["user"]["id"], user["id"]);
    assert_eq!(r.body["session"]["token"], r.body["token"]);
    assert_eq!(r.body["session"]["userId"], user["id"]);
    assert!(r.body["session"]["expiresAt"].is_string());
    assert_eq!(
        set_cookie(&r, "mana.session_token").unwrap().value,
        r.body["token"].as_str().unwrap()
    );
    assert_eq!(session(&y).await["user"]["id"], user["id"]);

    // An unknown address: the same answer, no mail (ours: no sign-up).
    let r = m
        .post(
            "/api/auth/sign-in/magic-link",
            json!({ "email": "newbie@example.com", "name": "Newbie", "newUserCallbackURL": "/welcome" }),
        )
        .await;
    assert_eq!(r.body, json!({ "status": true }));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sink
        .received()
        .iter()
        .all(|m| m.to != ["newbie@example.com".to_owned()]));
}

#[tokio::test]
async fn magic_link_for_an_account_with_two_factor_needs_the_code() {
    let sink = SmtpSink::start().await;
    let t = with_smtp(&sink).await;
    let mut seen = 0;
    let b = Browser::new(&t);
    let user = sign_up(&b, "two@example.com", "Two").await;
    next_link(&sink, &mut seen, "two@example.com").await;
    let (secret, _) = enroll(&t, &b).await;

    // With a callback: to the error callback, the pending sign-in in the
    // two-factor cookie.
    let m = Browser::new(&t);
    m.post(
        "/api/auth/sign-in/magic-link",
        json!({ "email": "two@example.com", "callbackURL": "/dashboard" }),
    )
    .await;
    let link = next_link(&sink, &mut seen, "two@example.com").await;
    let r = visit(&m, &path_of(&link)).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        "http://app.mana.test/dashboard?error=TWO_FACTOR_REQUIRED"
    );
    assert!(set_cookie(&r, "mana.two_factor").is_some());
    assert!(jar(&m, "mana.session_token").is_none());
    next_step(&t);
    let r = m
        .post(&tf("/verify-totp"), json!({ "code": code(&t, &secret) }))
        .await;
    assert_token_user(&r, user["id"].as_str().unwrap());
    assert_eq!(session(&m).await["user"]["id"], user["id"]);

    // Without one: the sign-in answer of a first factor.
    m.post(
        "/api/auth/sign-in/magic-link",
        json!({ "email": "two@example.com" }),
    )
    .await;
    let link = next_link(&sink, &mut seen, "two@example.com").await;
    let n = Browser::new(&t);
    let r = visit(
        &n,
        &format!("/api/auth/magic-link/verify?token={}", token_of(&link)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp"] })
    );
    assert!(jar(&n, "mana.two_factor").is_some());
}

// ------------------------------------------------------------- passkey ----

const PK: &str = "/api/auth/passkey";
/// The WebAuthn origin: the server's https base URL.
const WEBAUTHN_ORIGIN: &str = "https://mana.test";

fn pk(p: &str) -> String {
    format!("{PK}{p}")
}

fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// Asserts the framework's passkey object (without `publicKey`).
fn assert_passkey(p: &Value, user_id: &str, name: &str) {
    let want = [
        "aaguid",
        "backedUp",
        "counter",
        "createdAt",
        "credentialID",
        "deviceType",
        "id",
        "name",
        "transports",
        "userId",
    ];
    assert_eq!(keys(p), want, "{p}");
    assert_eq!(p["name"], name);
    assert_eq!(p["userId"], user_id);
    assert!(p["id"].is_string() && p["credentialID"].is_string());
    assert!(p["counter"].is_i64());
    assert!(["singleDevice", "multiDevice"].contains(&p["deviceType"].as_str().unwrap()));
    assert!(p["backedUp"].is_boolean());
    assert!(p["transports"].is_string());
    assert!(p["createdAt"].is_string());
    assert!(p["aaguid"].is_string() || p["aaguid"].is_null());
}

/// Register options as the framework's client gets them, answered by
/// `auth`.
async fn registration(
    b: &Browser<'_>,
    auth: &mut WebauthnAuthenticator<SoftPasskey>,
    query: &str,
) -> (Resp, Value) {
    let opts = b
        .get(&format!("{}{query}", pk("/generate-register-options")))
        .await;
    assert_eq!(opts.status, 200, "{}", opts.body);
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": opts.body })).unwrap();
    let credential = auth
        .do_registration(Url::parse(WEBAUTHN_ORIGIN).unwrap(), ccr)
        .unwrap();
    (opts, serde_json::to_value(credential).unwrap())
}

/// Sign-in options answered by `auth`. A discoverable ceremony lists no
/// credentials; a browser finds its own, which the soft authenticator
/// cannot, so it is told which one.
async fn assertion(
    b: &Browser<'_>,
    auth: &mut WebauthnAuthenticator<SoftPasskey>,
    credential_id: &str,
) -> Value {
    let opts = b.get(&pk("/generate-authenticate-options")).await;
    assert_eq!(opts.status, 200, "{}", opts.body);
    let mut options = opts.body.clone();
    if options["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        options["allowCredentials"] = json!([{ "type": "public-key", "id": credential_id }]);
    }
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": options })).unwrap();
    let credential = auth
        .do_authentication(Url::parse(WEBAUTHN_ORIGIN).unwrap(), rcr)
        .unwrap();
    serde_json::to_value(credential).unwrap()
}

#[tokio::test]
async fn passkey_register_list_rename_sign_in_delete() {
    let t = TestServer::start_with(|c| c.base_url = Some(WEBAUTHN_ORIGIN.into())).await;
    let b = Browser::new(&t);
    let user = sign_up(&b, "paula@example.com", "Paula").await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let anon = Browser::new(&t);

    // Before any passkey.
    assert_ba(
        &anon.get(&pk("/generate-register-options")).await,
        401,
        "UNAUTHORIZED",
    );
    assert_ba(
        &anon.get(&pk("/list-user-passkeys")).await,
        401,
        "UNAUTHORIZED",
    );
    assert_eq!(b.get(&pk("/list-user-passkeys")).await.body, json!([]));
    let r = b
        .post(&pk("/update-passkey"), json!({ "id": "nope", "name": "x" }))
        .await;
    assert_ba(&r, 404, "PASSKEY_NOT_FOUND");
    let r = b
        .post(&pk("/update-passkey"), json!({ "id": "nope" }))
        .await;
    assert_ba(&r, 400, "VALIDATION_ERROR");
    let r = b
        .post(&pk("/delete-passkey"), json!({ "id": "nope" }))
        .await;
    assert_ba(&r, 404, "PASSKEY_NOT_FOUND");
    assert_ba(
        &b.post(&pk("/delete-passkey"), json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    let r = anon
        .post(
            &pk("/verify-registration"),
            json!({ "response": { "id": "garbage" } }),
        )
        .await;
    assert_ba(&r, 401, "UNAUTHORIZED");
    let r = b
        .post(
            &pk("/verify-registration"),
            json!({ "response": { "id": "garbage" } }),
        )
        .await;
    assert_ba(&r, 400, "CHALLENGE_NOT_FOUND");
    let r = b
        .get(&format!(
            "{}?authenticatorAttachment=usb",
            pk("/generate-register-options")
        ))
        .await;
    assert_ba(&r, 400, "VALIDATION_ERROR");

    // Options: the framework's flat shape, the ceremony in a cookie.
    let mut auth = authenticator();
    let (opts, credential) = registration(
        &b,
        &mut auth,
        "?authenticatorAttachment=cross-platform&name=paula-laptop",
    )
    .await;
    let o = &opts.body;
    assert!(o["challenge"].is_string() && o.get("publicKey").is_none());
    assert_eq!(o["rp"]["id"], "mana.test");
    assert!(o["rp"]["name"].is_string());
    assert!(o["user"]["id"].is_string());
    assert_eq!(o["user"]["name"], "paula-laptop");
    assert!(o["user"]["displayName"].is_string());
    assert!(!o["pubKeyCredParams"].as_array().unwrap().is_empty());
    assert!(o["timeout"].is_u64());
    assert_eq!(
        o["authenticatorSelection"]["authenticatorAttachment"],
        "cross-platform"
    );
    assert_eq!(o["authenticatorSelection"]["residentKey"], "preferred");
    let challenge = set_cookie(&opts, "mana.better-auth-passkey").unwrap();
    assert_eq!(challenge.max_age, Some(300));
    assert!(challenge.line.contains("HttpOnly"));

    // A response that is no credential.
    let r = b
        .post(
            &pk("/verify-registration"),
            json!({ "response": { "id": "garbage", "rawId": "garbage", "type": "public-key", "response": {} } }),
        )
        .await;
    assert_ba(&r, 400, "FAILED_TO_VERIFY_REGISTRATION");
    // The real one: the bare passkey object.
    let body = json!({ "response": credential, "name": "My Laptop" });
    let r = b.post(&pk("/verify-registration"), body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_passkey(&r.body, &uid, "My Laptop");
    assert!(set_cookie(&r, "mana.session_token").is_none());
    let passkey_id = r.body["id"].as_str().unwrap().to_owned();
    let credential_id = r.body["credentialID"].as_str().unwrap().to_owned();
    assert_eq!(credential_id, credential["id"].as_str().unwrap());
    // The ceremony is used up.
    let r = b.post(&pk("/verify-registration"), body).await;
    assert_ba(&r, 400, "CHALLENGE_NOT_FOUND");

    let list = b.get(&pk("/list-user-passkeys")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_passkey(&list.body[0], &uid, "My Laptop");
    let again = b.get(&pk("/generate-register-options")).await;
    assert_eq!(
        again.body["excludeCredentials"][0]["id"],
        credential_id.as_str()
    );

    let r = b
        .post(
            &pk("/update-passkey"),
            json!({ "id": passkey_id, "name": "Renamed" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    assert_passkey(&r.body["passkey"], &uid, "Renamed");
    let r = b
        .post(
            &pk("/update-passkey"),
            json!({ "id": passkey_id, "name": " " }),
        )
        .await;
    assert_ba(&r, 400, "VALIDATION_ERROR");

    // Someone else's passkey is not found (ours: the framework says 401).
    let other = Browser::new(&t);
    sign_up(&other, "mallory@example.com", "Mallory").await;
    let r = other
        .post(
            &pk("/update-passkey"),
            json!({ "id": passkey_id, "name": "Mine" }),
        )
        .await;
    assert_ba(&r, 404, "PASSKEY_NOT_FOUND");
    let r = other
        .post(&pk("/delete-passkey"), json!({ "id": passkey_id }))
        .await;
    assert_ba(&r, 404, "PASSKEY_NOT_FOUND");

    // Sign-in, without a session: discoverable options.
    let s = Browser::new(&t);
    let r = s
        .post(
            &pk("/verify-authentication"),
            json!({ "response": { "id": "garbage" } }),
        )
        .await;
    assert_ba(&r, 400, "CHALLENGE_NOT_FOUND");
    let opts = s.get(&pk("/generate-authenticate-options")).await;
    assert_eq!(opts.status, 200, "{}", opts.body);
    assert_eq!(opts.body["rpId"], "mana.test");
    assert!(opts.body["challenge"].is_string());
    assert!(opts.body["timeout"].is_u64());
    assert!(opts.body["userVerification"].is_string());
    assert!(opts.body["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    assert_eq!(
        set_cookie(&opts, "mana.better-auth-passkey")
            .unwrap()
            .max_age,
        Some(300)
    );
    let r = s
        .post(
            &pk("/verify-authentication"),
            json!({ "response": { "id": "garbage", "rawId": "garbage", "type": "public-key", "response": {} } }),
        )
        .await;
    assert_ba(&r, 401, "PASSKEY_NOT_FOUND");

    // A known credential with a bad signature.
    let mut forged = assertion(&s, &mut auth, &credential_id).await;
    forged["response"]["signature"] = json!("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE");
    let r = s
        .post(&pk("/verify-authentication"), json!({ "response": forged }))
        .await;
    assert_ba(&r, 400, "AUTHENTICATION_FAILED");

    let answer = assertion(&s, &mut auth, &credential_id).await;
    let r = s
        .post(&pk("/verify-authentication"), json!({ "response": answer }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), ["session", "user"]);
    assert_eq!(r.body["user"]["id"], uid.as_str());
    assert_eq!(r.body["session"]["userId"], uid.as_str());
    let cookie = set_cookie(&r, "mana.session_token").unwrap();
    assert_eq!(cookie.value, r.body["session"]["token"].as_str().unwrap());
    assert_eq!(session(&s).await["user"]["id"], uid.as_str());
    assert!(
        b.get(&pk("/list-user-passkeys")).await.body[0]["counter"]
            .as_i64()
            .unwrap()
            >= 1
    );
    // Replaying the same answer: its ceremony is gone.
    let r = s
        .post(&pk("/verify-authentication"), json!({ "response": answer }))
        .await;
    assert_ba(&r, 400, "CHALLENGE_NOT_FOUND");

    // Signed in, the options list the caller's passkeys.
    let opts = s.get(&pk("/generate-authenticate-options")).await;
    assert_eq!(
        opts.body["allowCredentials"][0]["id"],
        credential_id.as_str()
    );
    assert_eq!(opts.body["allowCredentials"][0]["type"], "public-key");

    // createSession: the passkey object plus session and user, and a cookie.
    let mut auth2 = authenticator();
    let (_, credential2) = registration(&b, &mut auth2, "").await;
    let r = b
        .post(
            &pk("/verify-registration"),
            json!({ "response": credential2, "createSession": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Passkey", "our default name");
    assert_eq!(r.body["session"]["userId"], uid.as_str());
    assert_eq!(r.body["user"]["id"], uid.as_str());
    assert_eq!(
        set_cookie(&r, "mana.session_token").unwrap().value,
        r.body["session"]["token"].as_str().unwrap()
    );

    let r = b
        .post(&pk("/delete-passkey"), json!({ "id": passkey_id }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    let list = b.get(&pk("/list-user-passkeys")).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["name"], "Passkey");
}

/// The browser library of the framework's client sends its own JSON form
/// (`clientExtensionResults`, `authenticatorAttachment`, a null
/// `userHandle`); these are the recorded bodies.
#[test]
fn recorded_browser_responses_parse() {
    let registration = json!({"id":"I9SchABch8pskiWTFXmClw","rawId":"I9SchABch8pskiWTFXmClw","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoid29COXNhZUxpZkgyaC0zTi1rN1dIc1BZMDFBM2ZYaDh4WWc1bWxIYW52VSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzAwMCIsImNyb3NzT3JpZ2luIjpmYWxzZX0","attestationObject":"o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViUSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAAAAAAAAAAAAAAAAAAAAAAAAECPUnIQAXIfKbJIlkxV5gpelAQIDJiABIVggcUahzyklf9ij3a0qukm0gtkLFkEAqnWc9rGIz8oOq-oiWCDJimiudOo-1vN1qLPmWvkPAGc-gf2uTppVZAdINht8Pg","transports":["internal","hybrid"]},"clientExtensionResults":{},"authenticatorAttachment":"platform"});
    let r: RegisterPublicKeyCredential = serde_json::from_value(registration).unwrap();
    assert_eq!(r.id, "I9SchABch8pskiWTFXmClw");
    let authentication = json!({"id":"I9SchABch8pskiWTFXmClw","rawId":"I9SchABch8pskiWTFXmClw","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiSHdkRlBQLTdUZndrU1lGNmI1Z3pyZ1p1S09Zem5hYWNxY1NwakNYek9FSSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzAwMCIsImNyb3NzT3JpZ2luIjpmYWxzZX0","authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg","signature":"MEUCIQD4P7Bdjtime1BK0c6f73ZOlcBKb_ZtBAB0OuOmwIxL4AIgSRuXgQQdFKLZdCZVd64dEGOBEXNtQOaYDE5bcOct1dk","userHandle":null},"clientExtensionResults":{},"authenticatorAttachment":"platform"});
    let a: PublicKeyCredential = serde_json::from_value(authentication).unwrap();
    assert!(a.response.user_handle.is_none());
}
