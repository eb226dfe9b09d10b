//! Two-factor authentication: TOTP with backup codes. Codes come from
//! `totp-rs`, an implementation independent of the server's own; time moves
//! with the test clock.

use chrono::Duration;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::common::{Account, Resp, TestServer, PASSWORD};

const TF: &str = "/api/v1/auth/two-factor";

/// An account with 2FA enabled and confirmed.
pub(crate) struct Enrolled {
    pub account: Account,
    pub secret: Vec<u8>,
    pub backup_codes: Vec<String>,
}

fn path(p: &str) -> String {
    format!("{TF}{p}")
}

/// The secret of an otpauth URI, decoded by totp-rs.
pub(crate) fn secret_of(uri: &str) -> Vec<u8> {
    let query = uri.split_once('?').unwrap().1;
    let b32 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap();
    assert_eq!(b32.len(), 32, "20 bytes in base32: {b32}");
    Secret::Encoded(b32.to_owned()).to_bytes().unwrap()
}

/// The code `steps` time steps from the server's now, by totp-rs.
pub(crate) fn code(t: &TestServer, secret: &[u8], steps: i64) -> String {
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, secret.to_vec()).unwrap();
    let at = t.clock.now().timestamp() + steps * 30;
    totp.generate(at as u64)
}

/// Moves the clock to just after the start of the next time step, so a
/// phase of the test has ~29 s before the step changes under it.
pub(crate) fn align(t: &TestServer) {
    let into = t.clock.now().timestamp_millis().rem_euclid(30_000);
    t.clock.advance(Duration::milliseconds(30_000 - into + 200));
}

/// Moves to the start of a later step.
fn next_step(t: &TestServer) {
    align(t);
}

async fn enable(t: &TestServer, a: &Account) -> Value {
    let r = t
        .post_auth(&path("/enable"), &a.access, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

pub(crate) async fn enrolled(t: &TestServer, email: &str) -> Enrolled {
    let account = t.account(email).await;
    let body = enable(t, &account).await;
    let secret = secret_of(body["totpURI"].as_str().unwrap());
    let backup_codes: Vec<String> = body["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    align(t);
    let r = t
        .post_auth(
            &path("/verify-totp"),
            &account.access,
            json!({ "code": code(t, &secret, 0) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["confirmed"], true);
    Enrolled {
        account,
        secret,
        backup_codes,
    }
}

/// Signs in with the password; asserts TWO_FACTOR_REQUIRED; the ticket.
pub(crate) async fn ticket(t: &TestServer, email: &str) -> String {
    let r = t.login(email, PASSWORD).await;
    r.assert_error(401, "TWO_FACTOR_REQUIRED");
    assert!(r.body.get("accessToken").is_none() && r.session_cookie().is_none());
    r.body["twoFactorTicket"].as_str().unwrap().to_owned()
}

pub(crate) async fn totp_with(t: &TestServer, ticket: &str, code: &str) -> Resp {
    t.post(
        &path("/verify-totp"),
        json!({ "code": code, "ticket": ticket }),
    )
    .await
}

async fn backup_with(t: &TestServer, ticket: &str, code: &str) -> Resp {
    t.post(
        &path("/verify-backup-code"),
        json!({ "code": code, "ticket": ticket }),
    )
    .await
}

/// Asserts a sign-in answer like `/login`'s with tokens that validate.
async fn assert_signed_in(t: &TestServer, r: &Resp, user_id: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["id"], user_id);
    assert_eq!(r.body["user"]["twoFactorEnabled"], true);
    let refresh = r.body["refreshToken"].as_str().unwrap();
    assert!(r.session_cookie().is_some_and(|c| c != refresh));
    let v = t
        .post(
            "/api/v1/auth/validate",
            json!({ "token": r.body["accessToken"] }),
        )
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.body);
    assert_eq!(v.body["payload"]["sub"], user_id);
    let s = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
}

#[tokio::test]
async fn enable_confirm_and_sign_in_with_a_ticket() {
    let t = TestServer::start().await;
    let a = t.account("tf@example.com").await;
    let body = enable(&t, &a).await;
    let uri = body["totpURI"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Mana:tf@example.com?secret="),
        "{uri}"
    );
    assert!(uri.ends_with("&issuer=Mana&algorithm=SHA1&digits=6&period=30"));
    assert_eq!(secret_of(uri).len(), 20);
    assert_eq!(body["backupCodes"].as_array().unwrap().len(), 10);

    // Pending: not on until a first code confirms it.
    let pending = t.login("tf@example.com", PASSWORD).await;
    assert_eq!(pending.status, 200, "{}", pending.body);
    assert_eq!(pending.body["user"]["twoFactorEnabled"], false);

    let secret = secret_of(uri);
    align(&t);
    let wrong = code(&t, &secret, 5);
    t.post_auth(&path("/verify-totp"), &a.access, json!({ "code": wrong }))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    let ok = t
        .post_auth(
            &path("/verify-totp"),
            &a.access,
            json!({ "code": code(&t, &secret, 0) }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["confirmed"], true);
    let enabled: i64 = t.count("SELECT two_factor_enabled FROM users");
    assert_eq!(enabled, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'TWO_FACTOR_ENABLED'"),
        1
    );

    // Sign-in: password, then the ticket with the next step's code.
    let ticket = ticket(&t, "tf@example.com").await;
    next_step(&t);
    let r = totp_with(&t, &ticket, &code(&t, &secret, 0)).await;
    assert_signed_in(&t, &r, &a.id).await;
    // The ticket was used up.
    next_step(&t);
    totp_with(&t, &ticket, &code(&t, &secret, 0))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");

    // Step-up with a JWT once 2FA is on.
    let up = t
        .post_auth(
            &path("/verify-totp"),
            &a.access,
            json!({ "code": code(&t, &secret, 0) }),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["success"], true);
    assert_eq!(up.body["confirmed"], false);
}

#[tokio::test]
async fn a_used_code_cannot_be_replayed() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "replay@example.com").await;
    // The confirming code cannot sign in within its window.
    let confirming = code(&t, &e.secret, 0);
    let tk = ticket(&t, "replay@example.com").await;
    totp_with(&t, &tk, &confirming)
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");

    next_step(&t);
    let fresh = code(&t, &e.secret, 0);
    assert_signed_in(&t, &totp_with(&t, &tk, &fresh).await, &e.account.id).await;
    // Same code, new ticket: refused; so is the older step's code.
    let tk2 = ticket(&t, "replay@example.com").await;
    let again = totp_with(&t, &tk2, &fresh).await;
    again.assert_error(401, "TWO_FACTOR_FAILED");
    assert!(again.body["message"]
        .as_str()
        .unwrap()
        .contains("already used"));
    totp_with(&t, &tk2, &code(&t, &e.secret, -1))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    // The next step's code works (30 s later).
    t.clock.advance(Duration::seconds(30));
    let r = totp_with(&t, &tk2, &code(&t, &e.secret, 0)).await;
    assert_signed_in(&t, &r, &e.account.id).await;
}

#[tokio::test]
async fn one_step_either_side_is_accepted_two_are_not() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "window@example.com").await;
    let email = "window@example.com";

    // One step behind (the previous step is still newer than the last used).
    t.clock.advance(Duration::seconds(60));
    align(&t);
    let tk = ticket(&t, email).await;
    assert_signed_in(
        &t,
        &totp_with(&t, &tk, &code(&t, &e.secret, -1)).await,
        &e.account.id,
    )
    .await;

    // One step ahead.
    let tk = ticket(&t, email).await;
    assert_signed_in(
        &t,
        &totp_with(&t, &tk, &code(&t, &e.secret, 1)).await,
        &e.account.id,
    )
    .await;

    // Two steps either way: refused (both newer than the last used step).
    t.clock.advance(Duration::seconds(150));
    let tk = ticket(&t, email).await;
    totp_with(&t, &tk, &code(&t, &e.secret, -2))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    totp_with(&t, &tk, &code(&t, &e.secret, 2))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    // The ticket survives wrong codes; `twoFactorTicket` is accepted as well.
    let r = t
        .post(
            &path("/verify-totp"),
            json!({ "code": code(&t, &e.secret, 0), "twoFactorTicket": tk }),
        )
        .await;
    assert_signed_in(&t, &r, &e.account.id).await;
}

#[tokio::test]
async fn backup_codes_work_once_and_regenerating_voids_the_old_ones() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "backup@example.com").await;
    let email = "backup@example.com";
    let first = &e.backup_codes[0];
    assert_eq!(first.len(), 19, "{first}");

    let tk = ticket(&t, email).await;
    // Upper case and without dashes is the same code.
    let typed = first.replace('-', "").to_uppercase();
    assert_signed_in(&t, &backup_with(&t, &tk, &typed).await, &e.account.id).await;
    let tk = ticket(&t, email).await;
    backup_with(&t, &tk, first)
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    assert_signed_in(
        &t,
        &backup_with(&t, &tk, &e.backup_codes[1]).await,
        &e.account.id,
    )
    .await;

    // Regenerate: password needed, old codes void, new ones work.
    t.post_auth(
        &path("/generate-backup-codes"),
        &e.account.access,
        json!({ "password": "wrong-password" }),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    let r = t
        .post_auth(
            &path("/generate-backup-codes"),
            &e.account.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh: Vec<String> = serde_json::from_value(r.body["backupCodes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !e.backup_codes.contains(c)));
    let tk = ticket(&t, email).await;
    backup_with(&t, &tk, &e.backup_codes[2])
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    assert_signed_in(&t, &backup_with(&t, &tk, &fresh[0]).await, &e.account.id).await;

    // Only hashes are stored.
    let conn = t.db();
    let mut stmt = conn
        .prepare("SELECT code_hash FROM two_factor_backup_codes")
        .unwrap();
    let hashes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hashes.len(), 10);
    for code in fresh.iter().chain(&e.backup_codes) {
        let canonical = code.replace('-', "");
        for h in &hashes {
            assert_eq!(h.len(), 64);
            assert!(!h.contains(&canonical) && !h.contains(code.as_str()));
        }
    }
    let dump: String = conn
        .query_row(
            "SELECT group_concat(code_hash || coalesce(used_at, ''), ',') FROM two_factor_backup_codes",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!fresh.iter().any(|c| dump.contains(&c.replace('-', ""))));
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "lock2fa@example.com").await;
    let email = "lock2fa@example.com";
    let tk = ticket(&t, email).await;
    let wrong = code(&t, &e.secret, 10);
    for _ in 0..4 {
        totp_with(&t, &tk, &wrong)
            .await
            .assert_error(401, "TWO_FACTOR_FAILED");
    }
    // Backup-code failures count too.
    let fifth = backup_with(&t, &tk, "aaaa-aaaa-aaaa-aaaa").await;
    fifth.assert_error(429, "ACCOUNT_LOCKED");
    assert!(fifth.headers.contains_key("retry-after"));
    // Locked: the right code with the ticket, and the password, are refused.
    next_step(&t);
    totp_with(&t, &tk, &code(&t, &e.secret, 0))
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
    t.login(email, PASSWORD)
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ACCOUNT_LOCKED'"),
        1
    );
    // After the lock, a correct second factor signs in and clears the counter.
    t.clock.advance(Duration::minutes(31));
    align(&t);
    let tk = ticket(&t, email).await;
    assert_signed_in(
        &t,
        &totp_with(&t, &tk, &code(&t, &e.secret, 0)).await,
        &e.account.id,
    )
    .await;
    assert_eq!(
        t.count("SELECT count(*) FROM login_failures WHERE email = 'lock2fa@example.com'"),
        0
    );
}

#[tokio::test]
async fn a_right_password_does_not_reset_the_second_factor_counter() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "nobypass@example.com").await;
    let email = "nobypass@example.com";
    let wrong = code(&t, &e.secret, 10);
    for _ in 0..4 {
        let tk = ticket(&t, email).await;
        totp_with(&t, &tk, &wrong)
            .await
            .assert_error(401, "TWO_FACTOR_FAILED");
    }
    let tk = ticket(&t, email).await;
    totp_with(&t, &tk, &wrong)
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
}

#[tokio::test]
async fn tickets_expire_after_five_minutes() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "expire@example.com").await;
    let tk = ticket(&t, "expire@example.com").await;
    t.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    align(&t);
    let r = totp_with(&t, &tk, &code(&t, &e.secret, 0)).await;
    r.assert_error(401, "TWO_FACTOR_FAILED");
    assert!(r.body["message"].as_str().unwrap().contains("expired"));
    // Unknown tickets are refused alike, and count nothing.
    totp_with(&t, "not-a-ticket", &code(&t, &e.secret, 0))
        .await
        .assert_error(401, "TWO_FACTOR_FAILED");
    assert_eq!(t.count("SELECT count(*) FROM login_failures"), 0);
    // A fresh ticket within 5 minutes works.
    let tk = ticket(&t, "expire@example.com").await;
    t.clock.advance(Duration::minutes(4));
    align(&t);
    let r = totp_with(&t, &tk, &code(&t, &e.secret, 0)).await;
    assert_signed_in(&t, &r, &e.account.id).await;
}

#[tokio::test]
async fn disable_needs_the_password_and_removes_everything() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "off@example.com").await;
    let a = &e.account;
    t.post_auth(
        &path("/disable"),
        &a.access,
        json!({ "password": "wrong-password" }),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    let r = t
        .post_auth(
            &path("/disable"),
            &a.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for table in [
        "two_factor_secrets",
        "two_factor_backup_codes",
        "two_factor_tickets",
    ] {
        assert_eq!(
            t.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'TWO_FACTOR_DISABLED'"),
        1
    );
    let l = t.login("off@example.com", PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["user"]["twoFactorEnabled"], false);
    t.post_auth(
        &path("/disable"),
        &a.access,
        json!({ "password": PASSWORD }),
    )
    .await
    .assert_error(409, "CONFLICT");
}

#[tokio::test]
async fn error_paths_answer_with_the_envelope() {
    let t = TestServer::start().await;
    let a = t.account("errors@example.com").await;
    t.post_auth(
        &path("/enable"),
        &a.access,
        json!({ "password": "wrong-password" }),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    t.post(&path("/enable"), json!({ "password": PASSWORD }))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Not set up yet.
    t.post_auth(
        &path("/verify-totp"),
        &a.access,
        json!({ "code": "123456" }),
    )
    .await
    .assert_error(409, "CONFLICT");
    t.post_auth(
        &path("/generate-backup-codes"),
        &a.access,
        json!({ "password": PASSWORD }),
    )
    .await
    .assert_error(409, "CONFLICT");
    // Malformed codes are 400 VALIDATION (not counted as failures).
    for bad in [
        json!("12345"),
        json!("abcdef"),
        json!(123456),
        json!("1234567"),
    ] {
        t.post_auth(&path("/verify-totp"), &a.access, json!({ "code": bad }))
            .await
            .assert_error(400, "VALIDATION");
    }
    t.post(
        &path("/verify-backup-code"),
        json!({ "code": "x", "ticket": "t" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.post(
        &path("/verify-backup-code"),
        json!({ "code": "aaaa-aaaa-aaaa-aaaa" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    // No ticket and no bearer token.
    t.post(&path("/verify-totp"), json!({ "code": "123456" }))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Only the wrong password counted as a credential failure.
    assert_eq!(t.count("SELECT count(*) FROM login_failures"), 1);

    let e = enrolled(&t, "errors2@example.com").await;
    t.post_auth(
        &path("/enable"),
        &e.account.access,
        json!({ "password": PASSWORD }),
    )
    .await
    .assert_error(409, "CONFLICT");
}

#[tokio::test]
async fn export_and_database_hold_no_secret_material() {
    let t = TestServer::start().await;
    let e = enrolled(&t, "export@example.com").await;
    let tk = ticket(&t, "export@example.com").await;
    assert_signed_in(
        &t,
        &backup_with(&t, &tk, &e.backup_codes[0]).await,
        &e.account.id,
    )
    .await;

    let export = t
        .get_auth("/api/v1/me/data/export", &e.account.access)
        .await;
    assert_eq!(export.status, 200, "{}", export.body);
    let tf = &export.body["twoFactor"];
    assert_eq!(tf["enabled"], true);
    assert_eq!(tf["backupCodesRemaining"], 9);
    assert_eq!(tf["backupCodesUsed"], 1);
    let text = export.body.to_string();
    let conn = t.db();
    let secret_b32: String = {
        let raw: Vec<u8> = conn
            .query_row("SELECT secret FROM two_factor_secrets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw, e.secret);
        match Secret::Raw(raw).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        }
    };
    assert!(!text.contains(&secret_b32));
    assert!(!text.to_lowercase().contains(&secret_b32.to_lowercase()));
    assert!(!text.contains(&hex_of(&e.secret)));
    let mut stmt = conn
        .prepare("SELECT code_hash FROM two_factor_backup_codes")
        .unwrap();
    let hashes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hashes.len(), 10);
    for h in &hashes {
        assert!(!text.contains(h.as_str()));
    }
    for c in &e.backup_codes {
        assert!(!text.contains(c.as_str()));
    }

    // Erasing the account removes the two-factor rows.
    let r = t.delete_auth("/api/v1/me/data", &e.account.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["deleted"]["two_factor_secrets"], 1);
    assert_eq!(r.body["deleted"]["two_factor_backup_codes"], 10);
    for table in [
        "two_factor_secrets",
        "two_factor_backup_codes",
        "two_factor_tickets",
    ] {
        assert_eq!(
            t.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_magic_link_does_not_skip_the_second_factor() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    let e = enrolled(&t, "mailbox@example.com").await;
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "mailbox@example.com" }),
    )
    .await;
    let link = sink.link_with("mailbox@example.com", "magic-link", 1).await;
    let r = t.send(t.client.get(t.local(&link))).await;
    r.assert_error(401, "TWO_FACTOR_REQUIRED");
    assert!(
        r.session_cookie().is_none(),
        "no session from the mailbox alone"
    );
    let ticket = r.body["twoFactorTicket"].as_str().unwrap().to_owned();
    assert!(r.body.get("callbackURL").is_none());
    next_step(&t);
    let done = t
        .post(
            &path("/verify-totp"),
            json!({ "code": code(&t, &e.secret, 0), "ticket": ticket }),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["user"]["email"], "mailbox@example.com");

    // Through the browser: the app gets the ticket on its callback.
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "mailbox@example.com", "callbackURL": "http://app.mana.test/in" }),
    )
    .await;
    let link = sink.link_with("mailbox@example.com", "magic-link", 2).await;
    let res = t.no_redirect().get(t.local(&link)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://app.mana.test/in?error=TWO_FACTOR_REQUIRED&twoFactorTicket="),
        "{location}"
    );
    assert!(res.headers().get("set-cookie").is_none());
}
