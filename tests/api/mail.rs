//! Mail and the account lifecycle, against a real SMTP listener and the
//! outbox: verification, password reset, magic link, email change,
//! invitations, retries while SMTP is down, and open-redirect refusals.

use serde_json::json;

use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

async fn with_smtp(sink: &SmtpSink) -> TestServer {
    let port = sink.port;
    TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        // The sink is a plain relay on loopback.
        c.smtp_tls = mana_auth::config::SmtpTls::None;
        c.require_email_verification = true;
    })
    .await
}

#[tokio::test]
async fn verification_mail_arrives_over_smtp_and_gates_login() {
    let sink = SmtpSink::start().await;
    let t = with_smtp(&sink).await;
    let r = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "verify@example.com", "password": PASSWORD, "name": "Vera", "sourceAppUrl": "http://app.mana.test/welcome" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["verify@example.com".to_owned()]);
    let m = mails[0].parse();
    assert_eq!(m.subject, "Bestätige deine E-Mail-Adresse für Mana");
    assert!(m.text.starts_with("Hallo Vera,"), "{}", m.text);
    assert!(m.html.contains("<a href=\""), "html part present");
    let link = m.link();
    assert!(
        link.starts_with("http://mana.test/api/v1/auth/verify-email?token="),
        "{link}"
    );
    assert!(m.html.contains(&link.replace('&', "&amp;")));
    t.eventually("outbox row marked sent", |t| {
        t.outbox().iter().any(|o| o.4 == "sent")
    })
    .await;
    // Sent mail does not keep its link in the database.
    assert!(t.outbox()[0].3.is_empty());

    t.login("verify@example.com", PASSWORD)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    let client = t.no_redirect();
    let res = client.get(t.local(&link)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "http://app.mana.test/welcome");
    assert_eq!(t.login("verify@example.com", PASSWORD).await.status, 200);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'EMAIL_VERIFIED'"),
        1
    );
    // The link works once; afterwards the app is told why.
    let again = client.get(t.local(&link)).send().await.unwrap();
    assert_eq!(
        again.headers()["location"],
        "http://app.mana.test/welcome?error=TOKEN_INVALID"
    );
}

#[tokio::test]
async fn language_follows_accept_language_and_resend_works() {
    let sink = SmtpSink::start().await;
    let t = with_smtp(&sink).await;
    let r = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/register"))
                .header("accept-language", "en-GB,en;q=0.9")
                .json(&json!({ "email": "english@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 200);
    let first = sink.wait_for(1).await[0].parse();
    assert_eq!(first.subject, "Confirm your email address for Mana");
    assert!(first.text.starts_with("Hello,"));
    let resend = t
        .post(
            "/api/v1/auth/resend-verification",
            json!({ "email": "english@example.com" }),
        )
        .await;
    assert_eq!(resend.body, json!({ "success": true }));
    let second = sink.wait_for(2).await[1].parse();
    assert_ne!(first.link(), second.link(), "a new token");
    // Asking again does not void the first link; using one voids the other.
    let ok = t.send(t.client.get(t.local(&second.link()))).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["user"]["emailVerified"], true);
    let old = t.send(t.client.get(t.local(&first.link()))).await;
    old.assert_error(400, "TOKEN_INVALID");
    // Unknown and verified addresses: same answer, no mail.
    for email in ["nobody@example.com", "english@example.com"] {
        let r = t
            .post(
                "/api/v1/auth/resend-verification",
                json!({ "email": email }),
            )
            .await;
        assert_eq!(r.body, json!({ "success": true }));
    }
    assert_eq!(t.outbox().len(), 2);
}

#[tokio::test]
async fn password_reset_works_once_and_revokes_sessions() {
    let sink = SmtpSink::start().await;
    let t = with_smtp(&sink).await;
    t.register("reset@example.com").await;
    let verify = sink.wait_for(1).await[0].parse().link();
    t.send(t.client.get(t.local(&verify))).await;
    let login = t.login("reset@example.com", PASSWORD).await;
    let old_refresh = login.body["refreshToken"].as_str().unwrap().to_owned();

    let unknown = t
        .post(
            "/api/v1/auth/forgot-password",
            json!({ "email": "ghost@example.com" }),
        )
        .await;
    let known = t
        .post(
            "/api/v1/auth/forgot-password",
            json!({ "email": "reset@example.com" }),
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.body, known.body);
    let mails = sink.wait_for(2).await;
    assert_eq!(
        t.outbox()
            .iter()
            .filter(|o| o.0 == "password_reset")
            .count(),
        1,
        "no mail for the unknown address"
    );
    let m = mails[1].parse();
    assert_eq!(m.subject, "Setze dein Mana-Passwort zurück");
    let link = m.link();
    assert!(
        link.starts_with("http://app.mana.test/reset-password?token="),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();

    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": token, "newPassword": "short" }),
    )
    .await
    .assert_error(400, "WEAK_PASSWORD");
    let ok = t
        .post(
            "/api/v1/auth/reset-password",
            json!({ "token": token, "newPassword": "brand-new-password" }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": token, "newPassword": "another-password" }),
    )
    .await
    .assert_error(400, "TOKEN_INVALID");
    t.login("reset@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        t.login("reset@example.com", "brand-new-password")
            .await
            .status,
        200
    );
    t.post(
        "/api/v1/auth/refresh",
        json!({ "refreshToken": old_refresh }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");

    // An expired reset link.
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "reset@example.com" }),
    )
    .await;
    let late = sink.wait_for(3).await[2].parse().link();
    let late_token = late.split("token=").nth(1).unwrap().to_owned();
    t.clock.advance(chrono::Duration::minutes(61));
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": late_token, "newPassword": "yet-another-one" }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": "made-up", "newPassword": "yet-another-one" }),
    )
    .await
    .assert_error(400, "TOKEN_INVALID");
}

#[tokio::test]
async fn magic_link_signs_in_once_within_ten_minutes() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    t.register("magic@example.com").await;
    let r = t
        .post(
            "/api/v1/auth/magic-link/send",
            json!({ "email": "magic@example.com" }),
        )
        .await;
    assert_eq!(r.body, json!({ "success": true }));
    let link = sink.link_with("magic@example.com", "magic-link", 1).await;
    let ok = t.send(t.client.get(t.local(&link))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["user"]["email"], "magic@example.com");
    assert!(ok.body["accessToken"].is_string());
    assert!(ok.session_cookie().is_some());
    assert!(ok.body["refreshToken"].is_string());
    assert_eq!(
        t.post(
            "/api/v1/auth/validate",
            json!({ "token": ok.body["accessToken"] })
        )
        .await
        .body["valid"],
        true
    );
    t.send(t.client.get(t.local(&link)))
        .await
        .assert_error(400, "TOKEN_INVALID");

    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "magic@example.com" }),
    )
    .await;
    let late = sink.link_with("magic@example.com", "magic-link", 2).await;
    assert_ne!(late, link);
    t.clock.advance(chrono::Duration::minutes(11));
    t.send(t.client.get(t.local(&late)))
        .await
        .assert_error(401, "TOKEN_EXPIRED");

    let none = t
        .post(
            "/api/v1/auth/magic-link/send",
            json!({ "email": "stranger@example.com" }),
        )
        .await;
    assert_eq!(none.body, json!({ "success": true }));
    assert!(t.outbox().iter().all(|o| o.1 != "stranger@example.com"));
}

#[tokio::test]
async fn magic_link_with_callback_redirects_with_the_cookie() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    t.register("cb@example.com").await;
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "cb@example.com", "callbackURL": "http://app.mana.test/home" }),
    )
    .await;
    let link = sink.link_with("cb@example.com", "magic-link", 1).await;
    let res = t.no_redirect().get(t.local(&link)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "http://app.mana.test/home");
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("mana.session_token=") && cookie.contains("HttpOnly"));
}

#[tokio::test]
async fn email_change_is_confirmed_by_the_new_address() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    let a = t.account("old@example.com").await;
    let r = t
        .post_auth(
            "/api/v1/auth/change-email",
            &a.access,
            json!({ "newEmail": "New@Example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = sink.link_with("new@example.com", "verify-email", 1).await;
    // Still the old address until confirmed.
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &a.access).await.body["user"]["email"],
        "old@example.com"
    );
    let ok = t.send(t.client.get(t.local(&link))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &a.access).await.body["user"]["email"],
        "new@example.com"
    );
    assert_eq!(t.login("new@example.com", PASSWORD).await.status, 200);
    t.login("old@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // Taken addresses are refused up front.
    let b = t.account("other@example.com").await;
    t.post_auth(
        "/api/v1/auth/change-email",
        &b.access,
        json!({ "newEmail": "new@example.com" }),
    )
    .await
    .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'EMAIL_CHANGE_REQUESTED'"),
        1
    );
}

#[tokio::test]
async fn invitation_mail_names_the_space_and_the_inviter() {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        // The sink is a plain relay on loopback.
        c.smtp_tls = mana_auth::config::SmtpTls::None;
    })
    .await;
    let owner = t.account("host@example.com").await;
    sink.wait_for(1).await; // the verification mail
    let space = t.create_space(&owner.access, "Chor <Nord>", "club").await;
    let inv = t
        .post_auth(
            &format!("/api/v1/gilden/{}/invite", space["id"].as_str().unwrap()),
            &owner.access,
            json!({ "email": "singer@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(inv.status, 200);
    let m = sink.wait_for(2).await[1].parse();
    assert_eq!(m.to, "singer@example.com");
    assert!(m.subject.contains("Chor <Nord>"), "{}", m.subject);
    assert!(m.html.contains("Chor &lt;Nord&gt;"));
    assert!(m.text.contains("Test"), "inviter name");
    assert!(m.link().ends_with(&format!(
        "/accept-invitation/{}",
        inv.body["id"].as_str().unwrap()
    )));
}

#[tokio::test]
async fn smtp_down_keeps_the_mail_and_delivers_it_later() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        // The sink is a plain relay on loopback.
        c.smtp_tls = mana_auth::config::SmtpTls::None;
    })
    .await;
    let r = t.register("patient@example.com").await;
    assert_eq!(r.status, 200, "the request succeeds although SMTP is down");
    let row = |t: &TestServer| -> (String, i64, Option<String>) {
        t.db()
            .query_row(
                "SELECT status, attempts, last_error FROM mail_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    t.eventually("a failed attempt", |t| row(t).1 >= 1).await;
    let (status, attempts, error) = row(&t);
    eprintln!(
        "outbox while SMTP is down: status={status} attempts={attempts} last_error={error:?}"
    );
    assert_eq!(status, "pending");
    assert!(error.as_deref().is_some_and(|e| !e.is_empty()), "{error:?}");

    // The listener comes back; after the backoff the worker delivers.
    let sink = SmtpSink::start_on(port).await;
    t.clock.advance(chrono::Duration::hours(2));
    t.state().mail.wake();
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["patient@example.com".to_owned()]);
    t.eventually("row marked sent", |t| row(t).0 == "sent")
        .await;
    let (_, final_attempts, final_error) = row(&t);
    eprintln!("outbox after the listener came back: status=sent attempts={final_attempts} last_error={final_error:?}");
    assert!(final_attempts > attempts);
    assert_eq!(final_error, None);
}

#[tokio::test]
async fn foreign_callback_urls_are_refused() {
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = true).await;
    let evil = "https://evil.test/steal";
    t.post(
        "/api/v1/auth/register",
        json!({ "email": "r@example.com", "password": PASSWORD, "sourceAppUrl": evil }),
    )
    .await
    .assert_error(400, "VALIDATION");
    assert_eq!(t.count("SELECT count(*) FROM users"), 0);
    t.register("victim@example.com").await;
    let link = sink
        .link_with("victim@example.com", "verify-email", 1)
        .await;
    for cb in [
        evil,
        "//evil.test/x",
        "javascript:alert(1)",
        "http://app.mana.test@evil.test/",
    ] {
        let url = format!(
            "{}&callbackURL={}",
            t.local(&link),
            mana_auth::email::encode_param(cb)
        );
        let r = t.send(t.no_redirect().get(url)).await;
        r.assert_error(400, "VALIDATION");
    }
    // The refused attempts did not spend the token.
    assert_eq!(t.send(t.client.get(t.local(&link))).await.status, 200);
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": "victim@example.com", "callbackURL": evil }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "victim@example.com", "redirectTo": evil }),
    )
    .await
    .assert_error(400, "VALIDATION");
    let a = t.login("victim@example.com", PASSWORD).await;
    t.post_auth(
        "/api/v1/auth/change-email",
        a.body["accessToken"].as_str().unwrap(),
        json!({ "newEmail": "x@example.com", "callbackURL": evil }),
    )
    .await
    .assert_error(400, "VALIDATION");
}

#[tokio::test]
async fn account_deletion_sends_a_notice_and_drops_earlier_mail() {
    let t = TestServer::start().await;
    let a = t.account("leaving@example.com").await;
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": "leaving@example.com" }),
    )
    .await;
    assert_eq!(t.outbox().len(), 2, "verification and reset");
    let r = t.delete_auth("/api/v1/me/data", &a.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let outbox = t.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].0, "account_deleted");
    assert_eq!(outbox[0].1, "leaving@example.com");
    assert_eq!(outbox[0].2, "Dein Mana-Konto wurde gelöscht");
    let user_links: i64 = t.count("SELECT count(*) FROM mail_outbox WHERE user_id IS NOT NULL");
    assert_eq!(user_links, 0);
}

#[tokio::test]
async fn the_users_locale_setting_chooses_the_language() {
    let t = TestServer::start().await;
    let a = t.account("locale@example.com").await;
    let r = t
        .send(
            t.client
                .patch(t.url("/api/v1/settings/global"))
                .bearer_auth(&a.access)
                .json(&json!({ "locale": "en" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.send(
        t.client
            .post(t.url("/api/v1/auth/forgot-password"))
            .header("accept-language", "de-DE")
            .json(&json!({ "email": "locale@example.com" })),
    )
    .await;
    let reset = t
        .outbox()
        .into_iter()
        .find(|m| m.0 == "password_reset")
        .unwrap();
    assert_eq!(reset.2, "Reset your Mana password");
}
