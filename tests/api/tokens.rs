//! Access tokens, JWKS, refresh, logout and their survival across restarts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use crate::common::{TestServer, ISSUER, PASSWORD};

fn header_of(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn payload_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn access_token_verifies_against_the_published_jwks() {
    let t = TestServer::start().await;
    let a = t.account("jwks@example.com").await;

    let jwks: JwkSet = t
        .client
        .get(t.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let jwk = &jwks.keys[0];
    let kid = header_of(&a.access)["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwk.common.key_id.as_deref(), Some(kid.as_str()));
    assert_eq!(header_of(&a.access)["alg"], "EdDSA");

    // Verified by the jsonwebtoken library from the JWK alone.
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["mana"]);
    let data = jsonwebtoken::decode::<Value>(&a.access, &key, &validation).unwrap();
    let claims = data.claims.as_object().unwrap();
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["aud", "email", "exp", "iat", "iss", "role", "sid", "sub", "tier"]
    );
    assert_eq!(claims["sub"], a.id.as_str());
    assert_eq!(claims["email"], "jwks@example.com");
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["tier"], "public");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], "mana");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // All three JWKS paths agree, and discovery points at them.
    let b = t.get("/api/auth/jwks").await.body;
    let c = t.get("/api/v1/auth/jwks").await.body;
    assert_eq!(b, c);
    assert_eq!(b["keys"][0]["kid"], kid.as_str());
    assert_eq!(b["keys"][0]["kty"], "OKP");
    assert_eq!(b["keys"][0]["crv"], "Ed25519");
    let oidc = t.get("/.well-known/openid-configuration").await.body;
    assert_eq!(oidc["issuer"], ISSUER);
    assert_eq!(oidc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );

    // /validate agrees.
    let v = t
        .post("/api/v1/auth/validate", json!({ "token": a.access }))
        .await;
    assert_eq!(v.body["valid"], true);
    assert_eq!(v.body["payload"]["sub"], a.id.as_str());
    let v = t.post("/api/v1/auth/validate", json!({})).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body, json!({ "valid": false }));
}

#[tokio::test]
async fn forged_tokens_are_rejected() {
    let t = TestServer::start().await;
    let a = t.account("forge@example.com").await;
    let jwks = t.get("/.well-known/jwks.json").await.body;
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let public = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let mut claims = payload_of(&a.access);
    claims["role"] = json!("admin");

    // alg: none
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let alg_none = format!("{none_header}.{body}.");

    // HS256 keyed with the public key (raw bytes and its base64 text).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let hs_raw = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public)).unwrap();
    let hs_text =
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(x.as_bytes())).unwrap();

    // EdDSA signed by another key under our kid, and kid injection.
    let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let der = other.to_pkcs8_der().unwrap();
    let mut ed = Header::new(Algorithm::EdDSA);
    ed.kid = Some(kid.clone());
    let wrong_key =
        jsonwebtoken::encode(&ed, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    ed.kid = Some("../../../etc/passwd' OR '1'='1".into());
    let injected =
        jsonwebtoken::encode(&ed, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    ed.kid = None;
    let no_kid =
        jsonwebtoken::encode(&ed, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();

    // A genuine token with its payload swapped keeps the old signature.
    let parts: Vec<&str> = a.access.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], body, parts[2]);

    for (name, token) in [
        ("alg none", &alg_none),
        ("hs256 raw", &hs_raw),
        ("hs256 text", &hs_text),
        ("wrong key", &wrong_key),
        ("kid injection", &injected),
        ("no kid", &no_kid),
        ("tampered", &tampered),
        ("garbage", &"not.a.jwt".to_owned()),
    ] {
        let v = t
            .post("/api/v1/auth/validate", json!({ "token": token }))
            .await;
        assert_eq!(v.status, 200, "{name}");
        assert_eq!(v.body, json!({ "valid": false }), "{name}");
        let p = t.get_auth("/api/v1/auth/profile", token).await;
        p.assert_error(401, "UNAUTHORIZED");
    }
    // The genuine token still works.
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &a.access).await.status,
        200
    );
}

#[tokio::test]
async fn expired_access_token_is_refused_and_refresh_issues_a_new_one() {
    let t = TestServer::start().await;
    let a = t.account("expiry@example.com").await;
    t.clock.advance(chrono::Duration::minutes(16));
    t.get_auth("/api/v1/auth/profile", &a.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(
        t.post("/api/v1/auth/validate", json!({ "token": a.access }))
            .await
            .body["valid"],
        false
    );

    let r = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.body["accessToken"].as_str().unwrap();
    let next = r.body["refreshToken"].as_str().unwrap();
    assert_ne!(next, a.refresh, "the refresh token rotates");
    assert_eq!(t.get_auth("/api/v1/auth/profile", fresh).await.status, 200);
    assert_eq!(payload_of(fresh)["sid"], payload_of(&a.access)["sid"]);

    // Sessions expire after 7 days without use.
    t.clock.advance(chrono::Duration::days(8));
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": next }))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn session_is_extended_at_most_once_a_day() {
    let t = TestServer::start().await;
    let a = t.account("extend@example.com").await;
    let expires = |t: &TestServer| -> String {
        t.db()
            .query_row("SELECT expires_at FROM sessions", [], |r| r.get(0))
            .unwrap()
    };
    let first = expires(&t);
    t.clock.advance(chrono::Duration::hours(2));
    let r = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(expires(&t), first, "no extension within a day");
    t.clock.advance(chrono::Duration::days(6));
    let r = t
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": r.body["refreshToken"] }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(expires(&t) > first, "extended after a day");
    t.clock.advance(chrono::Duration::days(3));
    assert_eq!(
        t.post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": r.body["refreshToken"] })
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let t = TestServer::start().await;
    let a = t.account("logout@example.com").await;
    let out = t
        .post_auth("/api/v1/auth/logout", &a.access, json!({}))
        .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.session_cookie().as_deref(), Some(""), "cookie cleared");
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    // Logging out twice is harmless.
    assert_eq!(
        t.post("/api/v1/auth/logout", json!({ "refreshToken": a.refresh }))
            .await
            .status,
        200
    );
    let events = t.count("SELECT count(*) FROM security_events WHERE event_type = 'LOGOUT'");
    assert_eq!(events, 1);
}

#[tokio::test]
async fn change_password_revokes_other_sessions() {
    let t = TestServer::start().await;
    let a = t.account("change@example.com").await;
    let other = t.login("change@example.com", PASSWORD).await;
    let other_refresh = other.body["refreshToken"].as_str().unwrap().to_owned();

    let wrong = t
        .post_auth(
            "/api/v1/auth/change-password",
            &a.access,
            json!({ "currentPassword": "not-the-password", "newPassword": "a-new-password-1" }),
        )
        .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let weak = t
        .post_auth(
            "/api/v1/auth/change-password",
            &a.access,
            json!({ "currentPassword": PASSWORD, "newPassword": "short" }),
        )
        .await;
    weak.assert_error(400, "WEAK_PASSWORD");

    let ok = t
        .post_auth(
            "/api/v1/auth/change-password",
            &a.access,
            json!({ "currentPassword": PASSWORD, "newPassword": "a-new-password-1" }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["revokedSessions"], 1);
    t.post(
        "/api/v1/auth/refresh",
        json!({ "refreshToken": other_refresh }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(
        t.post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
            .await
            .status,
        200
    );
    t.login("change@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        t.login("change@example.com", "a-new-password-1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn cookie_session_works_for_session_and_session_to_token() {
    let t = TestServer::start().await;
    t.register("cookie@example.com").await;
    let l = t.login("cookie@example.com", PASSWORD).await;
    let cookie = l.session_cookie().unwrap();
    // A token of the same session, but not the body's refresh token (which
    // rotates; the cookie does not).
    assert_ne!(cookie, l.body["refreshToken"].as_str().unwrap());
    let set_cookie = l
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );

    // (A browser sends its Origin with every write.)
    let with_cookie = |req: reqwest::RequestBuilder| {
        req.header("cookie", format!("mana.session_token={cookie}"))
            .header("origin", "http://app.mana.test")
    };
    let s = t
        .send(with_cookie(t.client.get(t.url("/api/v1/auth/session"))))
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["user"]["email"], "cookie@example.com");
    assert_eq!(s.body["session"]["userId"], s.body["user"]["id"]);

    let tok = t
        .send(with_cookie(
            t.client.post(t.url("/api/v1/auth/session-to-token")),
        ))
        .await;
    assert_eq!(tok.status, 200, "{}", tok.body);
    let access = tok.body["accessToken"].as_str().unwrap();
    let s2 = t.get_auth("/api/v1/auth/session", access).await;
    assert_eq!(s2.body["session"]["id"], s.body["session"]["id"]);

    // Without a cookie: 401 in the envelope.
    t.send(t.client.post(t.url("/api/v1/auth/session-to-token")))
        .await
        .assert_error(401, "UNAUTHORIZED");
    t.get("/api/v1/auth/session")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn sessions_can_be_listed_and_revoked() {
    let t = TestServer::start().await;
    let a = t.account("sessions@example.com").await;
    let b = t.login("sessions@example.com", PASSWORD).await;
    let list = t.get_auth("/api/v1/auth/sessions", &a.access).await;
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions[0]["lastActivityAt"].is_string(), "{}", list.body);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let b_sid = payload_of(b.body["accessToken"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = t
        .send(
            t.client
                .delete(t.url(&format!("/api/v1/auth/sessions/{b_sid}")))
                .bearer_auth(&a.access),
        )
        .await;
    assert_eq!(del.status, 200);
    t.post(
        "/api/v1/auth/refresh",
        json!({ "refreshToken": b.body["refreshToken"] }),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");
    let again = t
        .send(
            t.client
                .delete(t.url(&format!("/api/v1/auth/sessions/{b_sid}")))
                .bearer_auth(&a.access),
        )
        .await;
    again.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn users_sessions_and_signing_key_survive_a_restart() {
    let t = TestServer::start().await;
    let a = t.account("restart@example.com").await;
    let kid_before = t.get("/.well-known/jwks.json").await.body["keys"][0]["kid"].clone();
    let t = t.restart().await;
    assert_eq!(
        t.get("/.well-known/jwks.json").await.body["keys"][0]["kid"],
        kid_before
    );
    assert_eq!(
        t.post("/api/v1/auth/validate", json!({ "token": a.access }))
            .await
            .body["valid"],
        true
    );
    assert_eq!(
        t.get_auth("/api/v1/auth/profile", &a.access).await.status,
        200
    );
    let r = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.login("restart@example.com", PASSWORD).await.status, 200);
}
