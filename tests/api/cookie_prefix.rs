//! The `__Secure-` prefix where cookies are secure: a cookie planted
//! without it (over plain http, by a sibling subdomain) is not a session,
//! and cannot shadow the real one.

use crate::common::TestServer;
use crate::passkeys::ORIGIN;

async fn session_email(t: &TestServer, cookie: &str) -> serde_json::Value {
    let r = t
        .send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .header("cookie", cookie),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["user"]["email"].clone()
}

/// Before: the unprefixed name was accepted too, and the first session
/// cookie sent won, so a planted cookie signed the victim in as the
/// attacker (login CSRF).
#[tokio::test]
async fn with_secure_cookies_only_the_prefixed_session_cookie_counts() {
    let t = TestServer::start_with(|c| c.base_url = Some(ORIGIN.into())).await;
    let victim = t.account("victim@example.com").await;
    let attacker = t.account("attacker@example.com").await;
    let real = format!("__Secure-mana.session_token={}", victim.refresh);
    assert_eq!(session_email(&t, &real).await, "victim@example.com");
    // The unprefixed name alone is no session.
    let planted = format!("mana.session_token={}", attacker.refresh);
    assert_eq!(session_email(&t, &planted).await, serde_json::Value::Null);
    // Planted first, real second: the real one counts.
    assert_eq!(
        session_email(&t, &format!("{planted}; {real}")).await,
        "victim@example.com"
    );
    // The /api/v1 cookie door agrees.
    let r = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/refresh"))
                .header("origin", ORIGIN)
                .header("cookie", &planted),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

/// Over plain http (development) the plain name works; if both are sent
/// the prefixed one is preferred.
#[tokio::test]
async fn without_secure_cookies_the_prefixed_cookie_is_preferred() {
    let t = TestServer::start().await;
    let a = t.account("dev-a@example.com").await;
    let b = t.account("dev-b@example.com").await;
    let plain = format!("mana.session_token={}", a.refresh);
    assert_eq!(session_email(&t, &plain).await, "dev-a@example.com");
    let prefixed = format!("__Secure-mana.session_token={}", b.refresh);
    assert_eq!(
        session_email(&t, &format!("{plain}; {prefixed}")).await,
        "dev-b@example.com"
    );
}
