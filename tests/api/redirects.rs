//! Open redirects: one redirect check for every door (`email::check_redirect`,
//! built on the URL standard's parser) refuses control characters and
//! whitespace, which browsers drop from a URL (`/\t/evil.example` becomes
//! `//evil.example`), and `/login` checks the target again before it follows
//! it. Each attack is made against the real server, in Chromium where a
//! browser is what turns the value into a redirect.

use serde_json::json;

use crate::admin_browser::run_browser_script;
use crate::common::{TestServer, PASSWORD};

/// The values of the review (and their relatives) that browsers turn into
/// `//evil.example`.
const BROWSER_MANGLED: &[&str] = &[
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/ /evil.example",
    "\t//evil.example",
    "/\\evil.example",
    "/\u{3000}/evil.example",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_page_never_lands_on_a_foreign_site() {
    let t = TestServer::start_at_own_origin(|_| {}).await;
    let a = t.account("redirect.page@example.com").await;
    let out = run_browser_script(
        "login_redirect.mjs",
        vec![
            t.base.clone(),
            a.email.clone(),
            PASSWORD.to_owned(),
            "http://app.mana.test".to_owned(),
        ],
        vec![],
    )
    .await;
    assert!(out.contains("refused every redirect"), "{out}");
}

#[tokio::test]
async fn sign_in_refuses_mangled_callbacks_before_checking_the_password() {
    let t = TestServer::start().await;
    t.account("cb.sign-in@example.com").await;
    for cb in BROWSER_MANGLED {
        let r = t
            .send(
                t.client
                    .post(t.url("/api/auth/sign-in/email"))
                    .json(&json!({ "email": "cb.sign-in@example.com", "password": PASSWORD, "callbackURL": cb })),
            )
            .await;
        assert_eq!(r.status, 403, "{cb:?}: {}", r.body);
        assert_eq!(r.body["code"], "INVALID_CALLBACK_URL", "{cb:?}");
        assert!(r.headers.get("location").is_none(), "{cb:?}");
        assert!(
            r.session_cookie().is_none(),
            "{cb:?}: no session was opened"
        );
    }
    // The same check on sign-up, and the allowed forms still pass.
    let r = t
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "N", "email": "cb.sign-up@example.com", "password": PASSWORD, "callbackURL": "/\t/evil.example" }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'cb.sign-up@example.com'"),
        0
    );
    for ok in ["/home", "http://app.mana.test/x?y=1"] {
        let r = t
            .post(
                "/api/auth/sign-in/email",
                json!({ "email": "cb.sign-in@example.com", "password": PASSWORD, "callbackURL": ok }),
            )
            .await;
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
        assert_eq!(r.headers["location"], ok);
    }
}

#[tokio::test]
async fn mail_flows_refuse_mangled_callbacks_on_both_doors() {
    let t = TestServer::start().await;
    t.account("cb.mail@example.com").await;
    for cb in BROWSER_MANGLED {
        t.post(
            "/api/v1/auth/magic-link/send",
            json!({ "email": "cb.mail@example.com", "callbackURL": cb }),
        )
        .await
        .assert_error(400, "VALIDATION");
        t.post(
            "/api/v1/auth/forgot-password",
            json!({ "email": "cb.mail@example.com", "redirectTo": cb }),
        )
        .await
        .assert_error(400, "VALIDATION");
        let r = t
            .post(
                "/api/auth/sign-in/magic-link",
                json!({ "email": "cb.mail@example.com", "callbackURL": cb }),
            )
            .await;
        assert_eq!(r.status, 403, "{cb:?}: {}", r.body);
        assert_eq!(r.body["code"], "INVALID_CALLBACK_URL");
        // A verification link with such a callback is refused before the
        // token is looked at.
        let url = format!(
            "/api/v1/auth/verify-email?token=x&callbackURL={}",
            mana_auth::email::encode_param(cb)
        );
        let r = t.send(t.no_redirect().get(t.url(&url))).await;
        r.assert_error(400, "VALIDATION");
    }
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE kind IN ('magic_link', 'password_reset')"),
        0
    );
}
