//! Addresses: one stored form (NFKC, lower case, IDNA domain), invisible
//! code points refused, and only what the mailer's own parser can send to.
//! Attacks from the reviews: `new2@x.test` + U+200B and fullwidth
//! `ｍail@x.test` registered as accounts of their own; `a,b@evil.test`,
//! `a@[127.0.0.1]` and a 65-character local part were accepted at sign-up
//! and their mail retried for ever.

use mana_auth::config::SmtpTls;
use serde_json::json;

use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

#[tokio::test]
async fn look_alike_addresses_are_the_same_account_or_refused() {
    let t = TestServer::start().await;
    assert_eq!(t.register("mail@x.test").await.status, 200);
    // Fullwidth letters are the letters: the same address, already taken.
    t.register("\u{ff4d}ail@x.test")
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    t.register("MAIL@\u{ff38}.TEST")
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    // Invisible characters are refused, wherever they hide.
    for email in [
        "new2@x.test\u{200b}",
        "new2\u{200b}@x.test",
        "ma\u{200d}il@x.test",
        "ma\u{ad}il@x.test",
        "mail@x\u{2060}.test",
        "m\u{202e}ail@x.test",
    ] {
        t.register(email).await.assert_error(400, "VALIDATION");
        let r = t
            .post(
                "/api/auth/sign-up/email",
                json!({ "name": "N", "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 400, "{email:?}: {}", r.body);
    }
    assert_eq!(t.count("SELECT count(*) FROM users"), 1);
    // The fullwidth form signs in to the one account.
    let l = t.login("\u{ff4d}ail@x.test", PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["user"]["email"], "mail@x.test");
}

#[tokio::test]
async fn domains_are_stored_in_their_idna_form() {
    let t = TestServer::start().await;
    let r = t.register("Idn@B\u{fc}cher.Example").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["email"], "idn@xn--bcher-kva.example");
    t.register("idn@xn--bcher-kva.example")
        .await
        .assert_error(409, "EMAIL_ALREADY_REGISTERED");
    assert_eq!(
        t.login("idn@b\u{fc}cher.example", PASSWORD).await.status,
        200
    );
    assert_eq!(
        t.login("idn@xn--bcher-kva.example", PASSWORD).await.status,
        200
    );
}

/// What the mailer (lettre) cannot send to, or should not: a list, an IP
/// literal, a local part over 64 bytes.
fn unmailable() -> Vec<String> {
    vec![
        "a,b@evil.test".into(),
        "a@[127.0.0.1]".into(),
        "a@127.0.0.1".into(),
        format!("{}@x.test", "a".repeat(65)),
    ]
}

#[tokio::test]
async fn sign_up_refuses_addresses_the_mailer_refuses() {
    let t = TestServer::start().await;
    let a = t.account("owner.unmailable@example.com").await;
    let space = t.create_space(&a.access, "Team", "team").await;
    let space_id = space["id"].as_str().unwrap();
    // (and a quoted local part with a space: mailable, but not an address
    // anyone types)
    for email in unmailable()
        .into_iter()
        .chain(["\"a b\"@x.test".to_owned()])
    {
        t.register(&email).await.assert_error(400, "VALIDATION");
        let r = t
            .post(
                "/api/auth/sign-up/email",
                json!({ "name": "N", "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 400, "{email:?}: {}", r.body);
        t.post_auth(
            "/api/v1/auth/change-email",
            &a.access,
            json!({ "newEmail": email }),
        )
        .await
        .assert_error(400, "VALIDATION");
        t.post_auth(
            &format!("/api/v1/gilden/{space_id}/invite"),
            &a.access,
            json!({ "email": email, "role": "member" }),
        )
        .await
        .assert_error(400, "VALIDATION");
    }
    assert_eq!(t.count("SELECT count(*) FROM users"), 1);
    assert_eq!(t.count("SELECT count(*) FROM space_invitations"), 0);
    // A 64-byte local part is still fine.
    let ok = format!("{}@x.test", "b".repeat(64));
    assert_eq!(t.register(&ok).await.status, 200);
}

/// Puts a mail to `to` into the outbox, as rows stored before this check
/// existed would be (the API no longer accepts such an address).
fn queue_raw(t: &TestServer, to: &str) {
    t.db()
        .execute(
            "INSERT INTO mail_outbox (id, kind, to_address, subject, text_body, html_body, next_attempt_at, created_at) \
             VALUES (?1, 'invitation', ?2, 'Hi', 'text', '<p>html</p>', '2000-01-01T00:00:00.000Z', '2000-01-01T00:00:00.000Z')",
            rusqlite::params![uuid::Uuid::new_v4().to_string(), to],
        )
        .unwrap();
}

fn outbox_row(t: &TestServer, to: &str) -> (String, i64, Option<String>) {
    t.db()
        .query_row(
            "SELECT status, attempts, last_error FROM mail_outbox WHERE to_address = ?1",
            [to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn mail_to_a_bad_recipient_fails_at_once_over_smtp() {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        c.smtp_tls = SmtpTls::None;
    })
    .await;
    for to in unmailable() {
        queue_raw(&t, &to);
    }
    queue_raw(&t, "fine@example.com");
    t.state().mail.wake();
    sink.wait_for(1).await;
    for to in unmailable() {
        t.eventually("the bad recipient's mail is failed", |t| {
            outbox_row(t, &to).0 == "failed"
        })
        .await;
        let (_, attempts, error) = outbox_row(&t, &to);
        assert_eq!(attempts, 1, "{to}: given up at the first attempt");
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("bad recipient")),
            "{to}: {error:?}"
        );
    }
    let received = sink.received();
    assert_eq!(received.len(), 1, "only the good address got mail");
    assert_eq!(received[0].to, vec!["fine@example.com".to_owned()]);
}

#[tokio::test]
async fn mail_to_a_bad_recipient_fails_at_once_without_smtp() {
    let t = TestServer::start().await;
    queue_raw(&t, "a,b@evil.test");
    t.state().mail.wake();
    t.eventually("the mail is given up", |t| {
        outbox_row(t, "a,b@evil.test").0 != "pending"
    })
    .await;
    let (status, attempts, error) = outbox_row(&t, "a,b@evil.test");
    assert_eq!((status.as_str(), attempts), ("failed", 1), "{error:?}");
}
