//! Hardening (issue 14 item 18): the origin rule of cookie-carrying writes
//! trusts BASE_URL's origin, never the `Host` header a client sends;
//! confirming two-factor sign-in ends the user's other sessions;
//! `Strict-Transport-Security` when BASE_URL is https.

use serde_json::json;

use crate::better_auth::Browser;
use crate::common::{TestServer, ISSUER, PASSWORD};
use crate::two_factor::{align, code, secret_of};

#[tokio::test]
async fn a_host_header_that_matches_a_foreign_origin_is_not_same_origin() {
    let t = TestServer::start().await;
    let alice = Browser::new(&t);
    alice.sign_up("alice@example.com", "Alice").await;
    let signed_in = alice
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = alice
        .cookies
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    // A page on a foreign origin that also names itself in Host (DNS
    // rebinding, or any client that sets Host), with the victim's cookie.
    let forged = |path: &str| {
        t.client
            .post(t.url(path))
            .header("host", "evil.example")
            .header("origin", "http://evil.example")
            .header("cookie", cookie.clone())
            .json(&json!({}))
    };
    let r = t.send(forged("/api/auth/sign-out")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "INVALID_ORIGIN", "{}", r.body);
    let r = t.send(forged("/api/v1/auth/logout")).await;
    r.assert_error(403, "FORBIDDEN");
    // The session is untouched.
    let s = alice.get("/api/auth/get-session").await;
    assert_eq!(s.body["user"]["email"], "alice@example.com", "{}", s.body);
    // The server's own origin (BASE_URL) is allowed, whatever Host says.
    let own = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-out"))
                .header("origin", ISSUER)
                .header("cookie", cookie)
                .json(&json!({})),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test]
async fn confirming_two_factor_ends_the_other_sessions() {
    let t = TestServer::start().await;
    let here = t.account("twofa.others@example.com").await;
    let other = t.login(&here.email, PASSWORD).await;
    assert_eq!(other.status, 200);
    let other_access = other.body["accessToken"].as_str().unwrap().to_owned();
    let other_refresh = other.body["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &other_access)
            .await
            .status,
        200
    );
    let enabled = t
        .post_auth(
            "/api/v1/auth/two-factor/enable",
            &here.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let secret = secret_of(enabled.body["totpURI"].as_str().unwrap());
    align(&t);
    let confirmed = t
        .post_auth(
            "/api/v1/auth/two-factor/verify-totp",
            &here.access,
            json!({ "code": code(&t, &secret, 0) }),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    // The session that confirmed goes on; every other one is over.
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &here.access)
            .await
            .status,
        200
    );
    let r = t.get_auth("/api/v1/auth/profile", &other_access).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = t
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": other_refresh }),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let t = TestServer::start_with(|c| c.base_url = Some("https://auth.example.test".into())).await;
    for path in ["/health", "/api/v1/nothing-here", "/.well-known/jwks.json"] {
        let r = t.get(path).await;
        assert_eq!(
            r.headers
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("max-age=31536000".to_owned()),
            "{path}"
        );
    }
    // Over plain http (development) a browser would ignore it; not sent.
    let plain = TestServer::start().await;
    assert!(plain
        .get("/health")
        .await
        .headers
        .get("strict-transport-security")
        .is_none());
}
