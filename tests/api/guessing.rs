//! Password guessing: every password check outside login is limited and
//! counted like login; the lockout locks an (address, client) pair and
//! brakes the address, so a stranger cannot keep the owner out; IPv6
//! clients count per /64; anonymous argon2 work has a ceiling (503
//! OVERLOADED); a reset with a dead token costs no hashing, and hash jobs
//! whose requester is gone are skipped.

use chrono::Duration;
use serde_json::{json, Value};

use crate::common::{Resp, TestServer, PASSWORD};

/// A server that believes `X-Forwarded-For` from the test client, so each
/// request can come from another address.
async fn behind_proxy(adjust: impl FnOnce(&mut mana_auth::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.trust_proxy = vec!["127.0.0.1".parse().unwrap()];
        adjust(c);
    })
    .await
}

async fn login_from(t: &TestServer, ip: &str, email: &str, password: &str) -> Resp {
    t.send(
        t.client
            .post(t.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email, "password": password })),
    )
    .await
}

fn retry_after(r: &Resp) -> i64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// Before: 60 wrong guesses on change-password, then the right one worked.
#[tokio::test]
async fn password_checks_outside_login_count_toward_the_lockout() {
    let t = TestServer::start().await;
    let a = t.account("guess@example.com").await;
    let wrong = "not-the-password";
    // Five wrong passwords across the signed-in password checks.
    let attempts = [
        (
            "/api/v1/auth/change-password",
            json!({ "currentPassword": wrong, "newPassword": "new-password-123" }),
        ),
        (
            "/api/v1/auth/two-factor/enable",
            json!({ "password": wrong }),
        ),
        (
            "/api/v1/auth/two-factor/generate-backup-codes",
            json!({ "password": wrong }),
        ),
        (
            "/api/v1/auth/two-factor/disable",
            json!({ "password": wrong }),
        ),
    ];
    for (path, body) in &attempts {
        let r = t.post_auth(path, &a.access, body.clone()).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
    }
    let r = t
        .send(
            t.client
                .delete(t.url("/api/v1/auth/account"))
                .bearer_auth(&a.access)
                .json(&json!({ "password": wrong })),
        )
        .await;
    r.assert_error(429, "ACCOUNT_LOCKED");
    // Now even the right password is refused, on every door, login too.
    t.post_auth(
        "/api/v1/auth/change-password",
        &a.access,
        json!({ "currentPassword": PASSWORD, "newPassword": "new-password-123" }),
    )
    .await
    .assert_error(429, "ACCOUNT_LOCKED");
    t.login(&a.email, PASSWORD)
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
    let cookie = format!("mana.session_token={}", a.refresh);
    let ba = t
        .send(
            t.client
                .post(t.url("/api/auth/two-factor/get-totp-uri"))
                .header("origin", "http://app.mana.test")
                .header("cookie", cookie)
                .json(&json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(ba.status, 429, "{}", ba.body);
    assert_eq!(ba.body["code"], "ACCOUNT_TEMPORARILY_LOCKED");
    assert_eq!(
        t.count("SELECT count(*) FROM login_failures WHERE email = 'guess@example.com'"),
        5
    );
    // The password did not change.
    t.clock.advance(Duration::minutes(31));
    assert_eq!(t.login(&a.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn password_checks_outside_login_are_rate_limited_per_client() {
    // Sign-up and sign-in of `account` use two of the four.
    let t = TestServer::start_with(|c| c.rate_limit_auth = 4).await;
    let a = t.account("limit@example.com").await;
    let body = json!({ "password": "not-the-password" });
    for _ in 0..2 {
        let r = t
            .post_auth("/api/v1/auth/two-factor/enable", &a.access, body.clone())
            .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = t
        .post_auth("/api/v1/auth/two-factor/enable", &a.access, body)
        .await;
    r.assert_error(429, "RATE_LIMITED");
    assert!(retry_after(&r) >= 1);
}

/// Before: 5 wrong passwords from anywhere locked the address for 30
/// minutes, the owner included.
#[tokio::test]
async fn a_stranger_cannot_keep_the_owner_out() {
    let (t, sink) = TestServer::start_with_mail(|c| {
        c.trust_proxy = vec!["127.0.0.1".parse().unwrap()];
        c.rate_limit_auth = 0;
    })
    .await;
    t.account("owner@example.com").await;
    let email = "owner@example.com";
    for _ in 0..5 {
        login_from(&t, "203.0.113.9", email, "guess-guess-1").await;
    }
    // The stranger's client is locked for 30 minutes.
    let r = login_from(&t, "203.0.113.9", email, PASSWORD).await;
    r.assert_error(429, "ACCOUNT_LOCKED");
    assert!(retry_after(&r) > 1700);
    // The owner, elsewhere, waits a second at most.
    let r = login_from(&t, "198.51.100.7", email, PASSWORD).await;
    if r.status == 429 {
        r.assert_error(429, "RATE_LIMITED");
        assert!(retry_after(&r) <= 1, "{}", retry_after(&r));
        t.clock.advance(Duration::seconds(1));
    }
    assert_eq!(
        login_from(&t, "198.51.100.7", email, PASSWORD).await.status,
        200
    );
    // The owner's sign-in did not unlock the stranger.
    login_from(&t, "203.0.113.9", email, PASSWORD)
        .await
        .assert_error(429, "ACCOUNT_LOCKED");

    // A distributed guesser: one failure from each of many addresses. The
    // brake doubles, but never beyond a minute.
    for i in 0..12 {
        let ip = format!("192.0.2.{i}");
        let r = login_from(&t, &ip, email, "guess-guess-2").await;
        if r.status == 429 {
            r.assert_error(429, "RATE_LIMITED");
            assert!(retry_after(&r) <= 60);
            t.clock.advance(Duration::seconds(retry_after(&r)));
            login_from(&t, &ip, email, "guess-guess-2")
                .await
                .assert_error(401, "INVALID_CREDENTIALS");
        }
    }
    let r = login_from(&t, "198.51.100.7", email, PASSWORD).await;
    r.assert_error(429, "RATE_LIMITED");
    let wait = retry_after(&r);
    assert!((30..=60).contains(&wait), "{wait}");
    // A magic link is never braked.
    t.post("/api/v1/auth/magic-link/send", json!({ "email": email }))
        .await;
    let link = sink.link_with(email, "magic-link", 1).await;
    let m = t.send(t.client.get(t.local(&link))).await;
    assert_eq!(m.status, 200, "{}", m.body);
    // After the wait, the owner's password works (the magic link cleared
    // the counter anyway).
    t.clock.advance(Duration::seconds(wait));
    assert_eq!(
        login_from(&t, "198.51.100.7", email, PASSWORD).await.status,
        200
    );
}

/// Before: 40 forgot-password requests rotating inside one /64 were never
/// refused.
#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let t = behind_proxy(|c| c.rate_limit_auth = 5).await;
    let forgot = |ip: String| {
        t.send(
            t.client
                .post(t.url("/api/v1/auth/forgot-password"))
                .header("x-forwarded-for", ip)
                .json(&json!({ "email": "nobody@example.com" })),
        )
    };
    for i in 1..=5 {
        let r = forgot(format!("2001:db8:1:2::{i:x}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    forgot("2001:db8:1:2:ffff:ffff:ffff:ffff".into())
        .await
        .assert_error(429, "RATE_LIMITED");
    // Another /64 is another client; IPv4 addresses count one by one.
    assert_eq!(forgot("2001:db8:1:3::1".into()).await.status, 200);
    for i in 1..=6 {
        assert_eq!(forgot(format!("203.0.113.{i}")).await.status, 200);
    }
}

/// The number of argon2 jobs that ran, from `/metrics`.
async fn hash_jobs(t: &TestServer) -> u64 {
    let m = t.get("/metrics").await;
    let text = m.body.as_str().unwrap_or_default().to_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("mana_argon2_queue_wait_seconds_count "))
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn anonymous_password_work_is_shed_with_overloaded_beyond_the_ceiling() {
    let t = TestServer::start_with(|c| {
        c.rate_limit_auth = 0;
        c.hash_concurrency = Some(1);
        c.hash_max_anonymous = Some(1);
        // Slow enough that the sign-ins below overlap.
        c.argon2_memory_kib = 16 * 1024;
        c.argon2_iterations = 3;
    })
    .await;
    t.account("busy@example.com").await;
    let answers =
        futures::future::join_all((0..12).map(|_| t.login("busy@example.com", PASSWORD))).await;
    let shed: Vec<&Resp> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(!shed.is_empty(), "no sign-in was shed");
    for r in &answers {
        assert!(
            r.status == 200 || r.status == 503,
            "{} {}",
            r.status,
            r.body
        );
    }
    for r in shed {
        r.assert_error(503, "OVERLOADED");
        assert!(retry_after(r) >= 1);
    }
}

/// Before: the new password was hashed before the token was looked at.
#[tokio::test]
async fn a_reset_with_a_dead_token_costs_no_hashing() {
    let t = TestServer::start().await;
    let before = hash_jobs(&t).await;
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": "no-such-token", "newPassword": "whatever-it-is" }),
    )
    .await
    .assert_error(400, "TOKEN_INVALID");
    assert_eq!(hash_jobs(&t).await, before);
}

/// Before: every queued hash still ran after its request had timed out.
#[tokio::test]
async fn hash_jobs_of_requests_that_timed_out_are_skipped() {
    let t = TestServer::start_with(|c| {
        c.rate_limit_auth = 0;
        c.hash_concurrency = Some(1);
        c.request_timeout_secs = 1;
        c.hash_max_anonymous = Some(1000);
        c.argon2_memory_kib = 16 * 1024;
        c.argon2_iterations = 6;
    })
    .await;
    t.account("late@example.com").await;
    let before = hash_jobs(&t).await;
    let n = 60;
    let answers: Vec<Value> =
        futures::future::join_all((0..n).map(|_| t.login("late@example.com", PASSWORD)))
            .await
            .into_iter()
            .map(|r| json!(r.status.as_u16()))
            .collect();
    let ok = answers.iter().filter(|s| **s == 200).count() as u64;
    let timed_out = answers.iter().filter(|s| **s == 408).count();
    assert!(timed_out > 0, "no request timed out: {answers:?}");
    // Wait until the hashing thread is idle (no new job for a second).
    let mut last = hash_jobs(&t).await;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = hash_jobs(&t).await;
        if now == last {
            tokio::time::sleep(std::time::Duration::from_millis(750)).await;
            if hash_jobs(&t).await == now {
                break;
            }
        }
        last = now;
    }
    let ran = hash_jobs(&t).await - before;
    assert!(ran < n, "all {n} hashes ran, {timed_out} for nobody");
    assert!(ran <= ok + 2, "{ran} hashes ran for {ok} answers");
}

/// The brake and a stranger's lock stop passwords only: the owner's passkey
/// signs in at once, from the stranger's own network too.
#[tokio::test]
async fn a_passkey_signs_in_through_the_brake_and_the_lock() {
    use crate::passkeys::{assertion, authenticator, register, verify, ORIGIN};
    let t = behind_proxy(|c| {
        c.rate_limit_auth = 0;
        c.base_url = Some(ORIGIN.into());
    })
    .await;
    let email = "keyed@example.com";
    let a = t.account(email).await;
    let mut auth = authenticator();
    let reg = register(&t, &a, &mut auth, ORIGIN, "Laptop").await;
    assert_eq!(reg.status, 200, "{}", reg.body);
    // A stranger locks their pair and sets the address's brake.
    for _ in 0..6 {
        login_from(&t, "203.0.113.50", email, "guess-guess-3").await;
    }
    login_from(&t, "198.51.100.8", email, PASSWORD)
        .await
        .assert_error(429, "RATE_LIMITED");
    // The passkey does not wait (the test client is 127.0.0.1, the
    // proxy; the stranger's address is forwarded below as well).
    let (challenge, credential) = assertion(&t, email, &mut auth, ORIGIN).await;
    let signed = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/passkeys/authenticate/verify"))
                .header("x-forwarded-for", "203.0.113.50")
                .json(&json!({ "challengeId": challenge, "credential": credential })),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let (challenge, credential) = assertion(&t, email, &mut auth, ORIGIN).await;
    let again = verify(&t, &challenge, &credential).await;
    assert_eq!(again.status, 200, "{}", again.body);
}

/// The lock's client is the /64, not the single address: one machine
/// rotating through its /64 is locked like one address.
#[tokio::test]
async fn the_lockout_counts_an_ipv6_64_as_one_client() {
    let t = behind_proxy(|c| c.rate_limit_auth = 0).await;
    let email = "six@example.com";
    t.account(email).await;
    // Five machines of one /64, one wrong guess each: the fifth locks the
    // /64 (no brake yet: it starts past the fifth failure).
    for i in 1..=4u32 {
        login_from(&t, &format!("2001:db8:7:7::{i:x}"), email, "guess-guess-4")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(&t, "2001:db8:7:7::5", email, "guess-guess-4")
        .await
        .assert_error(429, "ACCOUNT_LOCKED");
    t.clock.advance(Duration::seconds(60));
    let r = login_from(&t, "2001:db8:7:7:abcd::99", email, PASSWORD).await;
    r.assert_error(429, "ACCOUNT_LOCKED");
    // Another /64 is someone else.
    assert_eq!(
        login_from(&t, "2001:db8:7:8::1", email, PASSWORD)
            .await
            .status,
        200
    );
}
