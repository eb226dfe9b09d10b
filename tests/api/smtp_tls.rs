//! Mail transport security (issue 15 item 3): by default the mailer never
//! speaks to a relay without TLS, so a relay that does not offer STARTTLS
//! (or a man in the middle who strips the offer) gets neither the SMTP
//! password nor a mail with a live link.

use base64::Engine;
use serde_json::json;

use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

const SMTP_PASS: &str = "smtp-relay-password-4711";

#[tokio::test]
async fn the_default_never_sends_the_password_or_a_link_without_tls() {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    // The shipped default: SMTP_TLS is not set.
    let t = TestServer::start_with(move |c| {
        *c = mana_auth::config::Config::from_args([
            "--port",
            "0",
            "--base-url",
            crate::common::ISSUER,
            "--database-path",
            c.database_path().to_str().unwrap(),
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port.to_string(),
            "--smtp-user",
            "mailer",
        ])
        .unwrap();
        c.smtp_pass = Some(mana_auth::config::Secret::new(SMTP_PASS.to_owned()));
    })
    .await;
    let r = t
        .post(
            "/api/v1/auth/register",
            json!({ "email": "clear@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The mailer connects, sees no STARTTLS and stops there.
    sink.wait_for_line("EHLO").await;
    let attempt = |t: &TestServer| -> (String, i64, Option<String>) {
        t.db()
            .query_row(
                "SELECT status, attempts, last_error FROM mail_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    t.eventually("a refused attempt", |t| attempt(t).1 >= 1)
        .await;
    let (status, _, error) = attempt(&t);
    assert_eq!(status, "pending", "kept for a relay that speaks TLS");
    assert!(error.is_some_and(|e| !e.is_empty()));

    let transcript = sink.transcript();
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0mailer\0{SMTP_PASS}"));
    let login = base64::engine::general_purpose::STANDARD.encode(SMTP_PASS);
    for line in &transcript {
        let upper = line.to_ascii_uppercase();
        assert!(!upper.starts_with("AUTH"), "AUTH in clear: {transcript:?}");
        assert!(
            !line.contains(&plain) && !line.contains(&login) && !line.contains(SMTP_PASS),
            "the SMTP password in clear: {transcript:?}"
        );
        assert!(
            !line.contains("token="),
            "a live link in clear: {transcript:?}"
        );
    }
    assert!(sink.received().is_empty(), "a mail went out in clear");
}

#[tokio::test]
async fn production_refuses_a_relay_without_tls_when_it_has_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let production = |host: &str, tls: &str, user: Option<&str>| {
        let mut args = vec![
            "--node-env".to_owned(),
            "production".into(),
            "--base-url".into(),
            "https://auth.example.com".into(),
            "--database-path".into(),
            dir.path().join("p.db").to_str().unwrap().to_owned(),
            "--smtp-host".into(),
            host.into(),
            "--smtp-tls".into(),
            tls.into(),
        ];
        if let Some(user) = user {
            args.extend(["--smtp-user".to_owned(), user.to_owned()]);
        }
        let mut c = mana_auth::config::Config::from_args(args).unwrap();
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ));
        c.mana_service_key = mana_auth::config::Secret::new("a-long-random-service-key".into());
        if user.is_some() {
            c.smtp_pass = Some(mana_auth::config::Secret::new(SMTP_PASS.into()));
        }
        c
    };
    for tls in ["opportunistic", "none"] {
        let err = mana_auth::start(
            production("smtp.example.com", tls, Some("mailer")),
            mana_auth::clock::Clock::system(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("SMTP_TLS={tls} with credentials started"))
        .to_string();
        assert!(err.contains("SMTP_TLS"), "{err}");
        assert!(!err.contains(SMTP_PASS), "{err}");
    }
    // Allowed: TLS, a loopback relay, a relay that gets no credentials.
    for (host, tls, user) in [
        ("smtp.example.com", "required", Some("mailer")),
        ("smtp.example.com", "wrapper", Some("mailer")),
        ("127.0.0.1", "none", Some("mailer")),
        ("localhost", "opportunistic", Some("mailer")),
        ("::1", "none", Some("mailer")),
        ("smtp.example.com", "opportunistic", None),
    ] {
        let c = production(host, tls, user);
        assert!(c.validate().is_ok(), "{host} {tls}: {:?}", c.validate());
    }
}
