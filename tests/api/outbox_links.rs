//! Live one-time links in the mail outbox (issue 14 item 6). Whoever reads
//! the outbox — an admin through the admin API or page, anyone with the
//! database file or a backup — must not find a link that still works: the
//! admin API shows every `token=` value redacted, mail waiting to be sent
//! is stored sealed under the KEK when one is set, and a mail's links are
//! scrubbed once it is sent, logged, given up or its token has expired.

use chrono::Duration;
use serde_json::{json, Value};

use crate::admin::admin;
use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Every `token=` value in `text`.
fn token_values(text: &str) -> Vec<String> {
    text.match_indices("token=")
        .map(|(at, _)| {
            text[at + 6..]
                .chars()
                .take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%' | '.' | '~')
                })
                .collect()
        })
        .collect()
}

/// The outbox as the admin API shows it.
async fn admin_view(t: &TestServer, admin_token: &str) -> Vec<Value> {
    let r = t
        .get_auth("/api/v1/admin/mail-outbox?limit=100", admin_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["mail"].as_array().unwrap().clone()
}

/// What the admin could try from the outbox: every token value shown, used
/// as a reset token and as a magic link. Asserts none of it works.
async fn assert_no_working_link(t: &TestServer, mail: &[Value]) {
    for row in mail {
        let text = row["textBody"].as_str().unwrap_or_default();
        for value in token_values(text) {
            let reset = t
                .post(
                    "/api/v1/auth/reset-password",
                    json!({ "token": value, "newPassword": "Taken-Over-Password-1" }),
                )
                .await;
            assert_ne!(reset.status, 200, "the admin reset a password");
            let magic = t
                .get(&format!("/api/v1/auth/magic-link/verify?token={value}"))
                .await;
            assert_ne!(magic.status, 200, "the admin signed in by magic link");
            assert!(value.len() < 20, "a token in the admin view: {text}");
        }
    }
}

/// Waits for a mail to `to` whose link contains `needle`; its link.
async fn link_containing(sink: &SmtpSink, to: &str, needle: &str) -> String {
    for n in 1.. {
        let link = sink.link_to(to, n).await;
        if link.contains(needle) {
            return link;
        }
    }
    unreachable!()
}

/// The outbox rows as stored: (kind, status, text, html).
fn stored(t: &TestServer) -> Vec<(String, String, String, String)> {
    let conn = t.db();
    let mut stmt = conn
        .prepare("SELECT kind, status, text_body, html_body FROM mail_outbox ORDER BY created_at")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn an_admin_cannot_take_over_an_account_from_logged_mail() {
    // No SMTP: mail is logged and kept in the outbox.
    let t = TestServer::start().await;
    let a = admin(&t, "admin@example.com").await;
    let victim = t.account("victim@example.com").await;
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": victim.email }),
    )
    .await;
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": victim.email }),
    )
    .await;
    t.eventually("both mails logged", |t| {
        stored(t)
            .iter()
            .filter(|m| m.0 != "verification" && m.1 == "logged")
            .count()
            == 2
    })
    .await;
    let view = admin_view(&t, &a.access).await;
    let reset = view.iter().find(|m| m["kind"] == "password_reset").unwrap();
    // The admin still sees what was sent, without the secret.
    assert!(
        reset["textBody"].as_str().unwrap().contains("token="),
        "{reset}"
    );
    assert_no_working_link(&t, &view).await;
    // Nor does the file keep a working link.
    for (kind, _, text, html) in stored(&t) {
        for value in token_values(&text).into_iter().chain(token_values(&html)) {
            assert!(value.len() < 20, "{kind} keeps its token in the database");
        }
    }
    // The victim's password still works.
    assert_eq!(t.login(&victim.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn queued_mail_is_sealed_and_the_admin_sees_no_live_link() {
    // A port with nothing listening: the mail stays queued.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        c.smtp_tls = mana_auth::config::SmtpTls::None;
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(KEK.into()));
    })
    .await;
    let a = admin(&t, "admin@example.com").await;
    let victim = t.account("victim@example.com").await;
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": victim.email }),
    )
    .await;
    let attempted = |t: &TestServer| {
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset' AND attempts >= 1")
            == 1
    };
    t.eventually("a failed attempt", attempted).await;
    let rows = stored(&t);
    let (_, status, text, html) = rows.iter().find(|m| m.0 == "password_reset").unwrap();
    assert_eq!(status, "pending");
    // Sealed: neither the link nor the greeting is readable in the file.
    for body in [text, html] {
        assert!(!body.contains("token="), "queued mail in clear: {body}");
        assert!(
            !body.contains("victim") && !body.contains("Hallo"),
            "{body}"
        );
    }
    let view = admin_view(&t, &a.access).await;
    let shown = view.iter().find(|m| m["kind"] == "password_reset").unwrap();
    let shown_text = shown["textBody"].as_str().unwrap().to_owned();
    assert!(shown_text.contains("token="), "{shown}");
    assert_no_working_link(&t, &view).await;

    // The relay comes back: the mail goes out with its working link, and
    // the outbox keeps none of it.
    let sink = SmtpSink::start_on(port).await;
    t.clock.advance(Duration::minutes(2));
    t.state().mail.wake();
    let link = link_containing(&sink, &victim.email, "/reset-password?").await;
    let token = token_values(&link).remove(0);
    assert!(token.len() >= 40, "{link}");
    assert!(!shown_text.contains(&token));
    t.eventually("marked sent", |t| {
        t.count(
            "SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset' AND status = 'sent'",
        ) == 1
    })
    .await;
    for (_, _, text, html) in stored(&t) {
        assert!(!text.contains(&token) && !html.contains(&token));
    }
    let r = t
        .post(
            "/api/v1/auth/reset-password",
            json!({ "token": token, "newPassword": "A-New-Password-2026" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn links_of_mail_that_was_not_sent_die_with_their_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
        c.smtp_tls = mana_auth::config::SmtpTls::None;
    })
    .await;
    let victim = t.account("victim@example.com").await;
    t.post(
        "/api/v1/auth/magic-link/send",
        json!({ "email": victim.email }),
    )
    .await;
    t.eventually("a failed attempt", |t| {
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'magic_link' AND attempts >= 1") == 1
    })
    .await;
    // The magic link's token lives 10 minutes; the mail is not sent by then.
    t.clock.advance(Duration::minutes(11));
    t.state().mail.wake();
    let given_up = |t: &TestServer| {
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'magic_link' AND status = 'failed'")
            == 1
    };
    t.eventually("the mail given up", given_up).await;
    for (kind, _, text, html) in stored(&t).into_iter().filter(|m| m.0 == "magic_link") {
        for value in token_values(&text).into_iter().chain(token_values(&html)) {
            assert!(value.len() < 20, "{kind} keeps its dead link");
        }
    }
    // A relay that comes back later gets no mail with a dead link.
    let sink = SmtpSink::start_on(port).await;
    t.clock.advance(Duration::hours(2));
    t.state().mail.wake();
    t.post(
        "/api/v1/auth/forgot-password",
        json!({ "email": victim.email }),
    )
    .await;
    link_containing(&sink, &victim.email, "/reset-password?").await;
    t.eventually("nothing left to send", |t| {
        t.count("SELECT count(*) FROM mail_outbox WHERE status = 'pending'") == 0
    })
    .await;
    for mail in sink.received_by(&victim.email) {
        assert!(
            !mail.parse().link().contains("magic-link"),
            "a dead link was mailed"
        );
    }
}
