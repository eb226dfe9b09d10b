//! The Better Auth-compatible surface (`/api/auth/*`, docs/COMPAT.md):
//! session and organization routes with their shapes, cookies and error
//! codes, the Origin check, the cookie-only flow end to end, and parity with
//! `/api/v1/gilden`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::common::{Resp, TestServer, ISSUER, PASSWORD};

pub const ORIGIN: &str = "http://app.mana.test";

/// A browser: keeps cookies, sends the app's Origin.
pub struct Browser<'a> {
    pub t: &'a TestServer,
    pub cookies: Mutex<BTreeMap<String, String>>,
    pub origin: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(t: &'a TestServer) -> Self {
        Self {
            t,
            cookies: Mutex::new(BTreeMap::new()),
            origin: Some(ORIGIN.to_owned()),
        }
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.cookies.lock().unwrap();
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn keep(&self, r: &Resp) {
        let mut jar = self.cookies.lock().unwrap();
        for c in r.headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    pub async fn send(&self, mut req: reqwest::RequestBuilder) -> Resp {
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", c);
        }
        if let Some(o) = &self.origin {
            req = req.header("origin", o);
        }
        let r = self.t.send(req).await;
        self.keep(&r);
        r
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.t.client.post(self.t.url(path)).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.t.client.get(self.t.url(path))).await
    }

    pub fn has(&self, name: &str) -> bool {
        self.cookies.lock().unwrap().contains_key(name)
    }

    /// Signs up through `/api/auth/sign-up/email` and keeps the cookie;
    /// the address is then marked verified (`TestServer::mark_verified`).
    pub async fn sign_up(&self, email: &str, name: &str) -> Resp {
        let r = self
            .post(
                "/api/auth/sign-up/email",
                json!({ "name": name, "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.t
            .mark_verified(r.body["user"]["email"].as_str().unwrap())
            .await;
        r
    }
}

/// Asserts the framework's error body.
pub fn assert_ba_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(r.body["message"].is_string(), "{}", r.body);
}

fn set_cookie<'r>(r: &'r Resp, name: &str) -> &'r str {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers))
}

/// Fields and types of the framework's user object.
pub fn assert_user(u: &Value, email: &str) {
    assert!(u["id"].is_string(), "{u}");
    assert_eq!(u["email"], email);
    assert!(u["name"].is_string());
    assert!(u["emailVerified"].is_boolean());
    assert!(u.get("image").is_some(), "{u}");
    assert!(u["twoFactorEnabled"].is_boolean());
    assert!(u["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(u["updatedAt"].as_str().unwrap().ends_with('Z'));
}

fn assert_session(s: &Value, user_id: &str) {
    for field in [
        "id",
        "token",
        "userId",
        "expiresAt",
        "createdAt",
        "updatedAt",
    ] {
        assert!(s[field].is_string(), "{field} in {s}");
    }
    assert_eq!(s["userId"], user_id);
    for field in ["ipAddress", "userAgent", "activeOrganizationId"] {
        assert!(s.get(field).is_some(), "{field} in {s}");
    }
}

#[tokio::test]
async fn better_auth_sign_up_sign_in_session_token_sign_out() {
    let t = TestServer::start().await;
    let b = Browser::new(&t);

    // sign-up/email
    let r = b.sign_up("ada@example.com", "Ada").await;
    assert!(r.body["token"].is_string());
    assert_user(&r.body["user"], "ada@example.com");
    let c = set_cookie(&r, "mana.session_token");
    for attr in ["Max-Age=604800", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(c.contains(attr), "{c}");
    }
    let user_id = r.body["user"]["id"].as_str().unwrap().to_owned();

    // The errors of sign-up.
    let again = b
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "A", "email": "ADA@example.com", "password": PASSWORD }),
        )
        .await;
    assert_ba_error(&again, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let anon = Browser {
        t: &t,
        cookies: Mutex::new(BTreeMap::new()),
        origin: Some(ORIGIN.to_owned()),
    };
    let short = anon
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "S", "email": "s@example.com", "password": "short" }),
        )
        .await;
    assert_ba_error(&short, 400, "PASSWORD_TOO_SHORT");
    let long = anon
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "S", "email": "s@example.com", "password": "x".repeat(129) }),
        )
        .await;
    assert_ba_error(&long, 400, "PASSWORD_TOO_LONG");
    let no_name = anon
        .post(
            "/api/auth/sign-up/email",
            json!({ "email": "s@example.com", "password": PASSWORD }),
        )
        .await;
    assert_ba_error(&no_name, 400, "VALIDATION_ERROR");
    let bad_email = anon
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "S", "email": "nope", "password": PASSWORD }),
        )
        .await;
    assert_ba_error(&bad_email, 400, "VALIDATION_ERROR");
    let evil_cb = anon
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "S", "email": "s@example.com", "password": PASSWORD,
                    "callbackURL": "http://evil.example.com/x" }),
        )
        .await;
    assert_ba_error(&evil_cb, 403, "INVALID_CALLBACK_URL");
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 's@example.com'"),
        0
    );

    // get-session: the framework's session and user objects; the personal
    // space is active; an access token rides in set-auth-jwt.
    let s = b.get("/api/auth/get-session").await;
    assert_eq!(s.status, 200);
    assert_session(&s.body["session"], &user_id);
    assert_user(&s.body["user"], "ada@example.com");
    assert_eq!(
        s.body["session"]["activeOrganizationId"],
        t.personal_space(&user_id)
    );
    assert_eq!(s.body["session"]["token"], r.body["token"]);
    assert_eq!(s.headers["cache-control"], "no-store");
    assert!(s.headers.contains_key("set-auth-jwt"));
    let nobody = t.get("/api/auth/get-session").await;
    assert_eq!(nobody.status, 200);
    assert_eq!(nobody.body, Value::Null);
    // The framework's signed cookie form `token.signature` is read too.
    let signed = t
        .send(t.client.get(t.url("/api/auth/get-session")).header(
            "cookie",
            format!(
                "mana.session_token={}.c2lnbmF0dXJl",
                r.body["token"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(signed.body["user"]["id"], user_id.as_str());
    // A Bearer access token works as well (the v1 clients' credential).
    let jwt = s.headers["set-auth-jwt"].to_str().unwrap().to_owned();
    let by_jwt = t.get_auth("/api/auth/get-session", &jwt).await;
    assert_eq!(by_jwt.body["user"]["id"], user_id.as_str());

    // token: an EdDSA JWT that verifies with the JWKS of /api/auth/jwks.
    let tok = b.get("/api/auth/token").await;
    assert_eq!(tok.status, 200);
    let token = tok.body["token"].as_str().unwrap();
    let jwks: JwkSet = serde_json::from_value(t.get("/api/auth/jwks").await.body).unwrap();
    let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["mana"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["sid"], s.body["session"]["id"]);
    assert_ba_error(&t.get("/api/auth/token").await, 401, "UNAUTHORIZED");

    // sign-in/email
    let fresh = Browser::new(&t);
    let ok = fresh
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["redirect"], false);
    assert!(ok.body["token"].is_string());
    assert!(ok.body.get("url").is_none());
    assert_user(&ok.body["user"], "ada@example.com");
    assert!(set_cookie(&ok, "mana.session_token").contains("Max-Age=604800"));
    let wrong = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com", "password": "wrong-password" }),
        )
        .await;
    assert_ba_error(&wrong, 401, "INVALID_EMAIL_OR_PASSWORD");
    let unknown = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        )
        .await;
    assert_ba_error(&unknown, 401, "INVALID_EMAIL_OR_PASSWORD");
    let invalid = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "nope", "password": PASSWORD }),
        )
        .await;
    assert_ba_error(&invalid, 400, "INVALID_EMAIL");
    let missing = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    assert_ba_error(&missing, 400, "VALIDATION_ERROR");
    let cb = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD, "callbackURL": "/dashboard" }),
        )
        .await;
    assert_eq!(cb.body["redirect"], true);
    assert_eq!(cb.body["url"], "/dashboard");
    assert_eq!(cb.headers["location"], "/dashboard");
    let evil = anon
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD,
                    "callbackURL": "http://evil.example.com/" }),
        )
        .await;
    assert_ba_error(&evil, 403, "INVALID_CALLBACK_URL");
    let session_only = Browser::new(&t)
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD, "rememberMe": false }),
        )
        .await;
    assert!(!set_cookie(&session_only, "mana.session_token").contains("Max-Age"));
    // An HTML form posts url-encoded fields.
    let form = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/email"))
                .header("origin", ORIGIN)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("email=ada%40example.com&password={PASSWORD}")),
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.body);

    // sign-out revokes the session and clears the cookie.
    let out = fresh.post("/api/auth/sign-out", json!({})).await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body, json!({ "success": true }));
    assert!(set_cookie(&out, "mana.session_token").contains("Max-Age=0"));
    assert!(!fresh.has("mana.session_token"));
    let token = ok.body["token"].as_str().unwrap();
    let gone = t
        .send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .header("cookie", format!("mana.session_token={token}")),
        )
        .await;
    assert_eq!(gone.body, Value::Null);
    // Without a session sign-out still answers success.
    let again = anon.post("/api/auth/sign-out", json!({})).await;
    assert_eq!(again.body, json!({ "success": true }));
}

#[tokio::test]
async fn cross_origin_cookie_posts_are_refused_and_change_nothing() {
    let t = TestServer::start().await;
    let b = Browser::new(&t);
    b.sign_up("eve-target@example.com", "Target").await;
    let spaces_before = t.count("SELECT count(*) FROM spaces");

    // A foreign Origin with a valid cookie.
    let mut evil = Browser::new(&t);
    *evil.cookies.lock().unwrap() = b.cookies.lock().unwrap().clone();
    evil.origin = Some("https://evil.example.com".to_owned());
    let r = evil
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Pwned", "slug": "pwned" }),
        )
        .await;
    assert_ba_error(&r, 403, "INVALID_ORIGIN");
    let out = evil.post("/api/auth/sign-out", json!({})).await;
    assert_ba_error(&out, 403, "INVALID_ORIGIN");
    // No Origin (and no Referer) with a cookie.
    evil.origin = None;
    let r = evil
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Pwned", "slug": "pwned" }),
        )
        .await;
    assert_ba_error(&r, 403, "MISSING_OR_NULL_ORIGIN");
    // A foreign Referer alone is no better; `null` neither.
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/organization/create"))
                .header("cookie", b.cookie_header().unwrap())
                .header("referer", "https://evil.example.com/page")
                .json(&json!({ "name": "Pwned", "slug": "pwned" })),
        )
        .await;
    assert_ba_error(&r, 403, "INVALID_ORIGIN");
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/organization/create"))
                .header("cookie", b.cookie_header().unwrap())
                .header("origin", "null")
                .json(&json!({ "name": "Pwned", "slug": "pwned" })),
        )
        .await;
    assert_ba_error(&r, 403, "MISSING_OR_NULL_ORIGIN");
    assert_eq!(t.count("SELECT count(*) FROM spaces"), spaces_before);
    // The session survived the refused sign-out.
    assert!(b.get("/api/auth/get-session").await.body["session"].is_object());

    // Sign-in from a foreign page (no cookie) is refused too; a browser's
    // cross-site form navigation as well.
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/email"))
                .header("origin", "https://evil.example.com")
                .json(&json!({ "email": "eve-target@example.com", "password": PASSWORD })),
        )
        .await;
    assert_ba_error(&r, 403, "INVALID_ORIGIN");
    let r = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/email"))
                .header("sec-fetch-site", "cross-site")
                .header("sec-fetch-mode", "navigate")
                .json(&json!({ "email": "eve-target@example.com", "password": PASSWORD })),
        )
        .await;
    assert_ba_error(&r, 403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED");

    // Reads are not checked; same-origin writes (the server's own /login
    // page) pass; bearer clients without cookies are not browsers.
    evil.origin = Some("https://evil.example.com".to_owned());
    assert_eq!(evil.get("/api/auth/get-session").await.status, 200);
    let own = t
        .send(
            t.client
                .post(t.url("/api/auth/sign-in/email"))
                .header("origin", ISSUER)
                .json(&json!({ "email": "eve-target@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    let jwt = b.get("/api/auth/token").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post_auth(
            "/api/auth/organization/create",
            &jwt,
            json!({ "name": "Bearer Co", "slug": "bearer-co" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn cookie_only_flow_from_sign_up_to_a_verified_jwt() {
    let t = TestServer::start().await;
    let alice = Browser::new(&t);
    let r = alice.sign_up("alice@example.com", "Alice").await;
    let alice_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let s = alice.get("/api/auth/get-session").await;
    assert_eq!(s.body["user"]["id"], alice_id.as_str());

    let org = alice
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Acme", "slug": "acme", "metadata": { "type": "team" } }),
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.body);
    let org_id = org.body["id"].as_str().unwrap().to_owned();
    // create made it active; switch to the personal space and back.
    let s = alice.get("/api/auth/get-session").await;
    assert_eq!(s.body["session"]["activeOrganizationId"], org_id.as_str());
    let personal = t.personal_space(&alice_id);
    let set = alice
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationId": personal }),
        )
        .await;
    assert_eq!(set.body["id"], personal.as_str());
    let set = alice
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationId": org_id }),
        )
        .await;
    assert_eq!(set.status, 200);
    assert_eq!(set.body["slug"], "acme");
    let me = alice.get("/api/auth/organization/get-active-member").await;
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["organizationId"], org_id.as_str());

    let inv = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "bob@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    let inv_id = inv.body["id"].as_str().unwrap().to_owned();

    let bob = Browser::new(&t);
    bob.sign_up("bob@example.com", "Bob").await;
    let acc = bob
        .post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv_id }),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.body);
    assert_eq!(acc.body["invitation"]["status"], "accepted");
    assert_eq!(acc.body["member"]["role"], "member");
    let s = bob.get("/api/auth/get-session").await;
    assert_eq!(s.body["session"]["activeOrganizationId"], org_id.as_str());

    let list = alice.get("/api/auth/organization/list-members").await;
    assert_eq!(list.body["total"], 2);
    let emails: Vec<&str> = list.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["alice@example.com", "bob@example.com"]);

    let token = bob.get("/api/auth/token").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks: JwkSet = serde_json::from_value(t.get("/api/auth/jwks").await.body).unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("kid in the JWKS");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["mana"]);
    let claims =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["email"], "bob@example.com");
    // Exactly one kontextDoc for the space.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sync_changes WHERE space_id = '{org_id}' AND table_name = 'kontextDoc'"
        )),
        1
    );
}

#[tokio::test]
async fn organization_routes_answer_the_framework_shapes_and_errors() {
    let t = TestServer::start().await;
    let alice = Browser::new(&t);
    let r = alice.sign_up("alice@example.com", "Alice").await;
    let alice_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let bob = Browser::new(&t);
    let r = bob.sign_up("bob@example.com", "Bob").await;
    let bob_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let anon = Browser::new(&t);

    // create: metadata as sent, members without user; errors.
    let acme = alice
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Acme", "slug": "acme", "logo": "https://example.com/l.png",
                    "metadata": { "plan": "pro" } }),
        )
        .await;
    assert_eq!(acme.status, 200, "{}", acme.body);
    for f in ["id", "name", "slug", "createdAt"] {
        assert!(acme.body[f].is_string(), "{f}");
    }
    assert_eq!(acme.body["logo"], "https://example.com/l.png");
    assert_eq!(acme.body["metadata"]["plan"], "pro");
    assert_eq!(acme.body["metadata"]["type"], "team");
    let owner = &acme.body["members"][0];
    assert_eq!(owner["role"], "owner");
    assert_eq!(owner["userId"], alice_id.as_str());
    assert!(owner.get("user").is_none());
    let acme_id = acme.body["id"].as_str().unwrap().to_owned();
    let owner_member = owner["id"].as_str().unwrap().to_owned();
    let dup = alice
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Acme", "slug": "acme" }),
        )
        .await;
    assert_ba_error(&dup, 400, "ORGANIZATION_ALREADY_EXISTS");
    let no_slug = alice
        .post("/api/auth/organization/create", json!({ "name": "X" }))
        .await;
    assert_ba_error(&no_slug, 400, "VALIDATION_ERROR");
    let empty = alice
        .post(
            "/api/auth/organization/create",
            json!({ "name": "", "slug": "empty" }),
        )
        .await;
    assert_ba_error(&empty, 400, "VALIDATION_ERROR");
    let unauth = anon
        .post(
            "/api/auth/organization/create",
            json!({ "name": "X", "slug": "x" }),
        )
        .await;
    assert_ba_error(&unauth, 401, "UNAUTHORIZED");
    let beta = alice
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Beta", "slug": "beta", "keepCurrentActiveOrganization": true }),
        )
        .await;
    assert_eq!(beta.status, 200);
    let s = alice.get("/api/auth/get-session").await;
    assert_eq!(s.body["session"]["activeOrganizationId"], acme_id.as_str());

    // list: metadata as text.
    let list = alice.get("/api/auth/organization/list").await;
    let orgs = list.body.as_array().unwrap();
    assert_eq!(orgs.len(), 3); // personal, Acme, Beta
    let listed = orgs.iter().find(|o| o["id"] == acme_id.as_str()).unwrap();
    let meta: Value = serde_json::from_str(listed["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(meta["plan"], "pro");
    assert_ba_error(
        &anon.get("/api/auth/organization/list").await,
        401,
        "UNAUTHORIZED",
    );

    // set-active: null clears, {} answers the current one, slug works;
    // errors change nothing.
    let cleared = alice
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationId": null }),
        )
        .await;
    assert_eq!(cleared.body, Value::Null);
    let none = alice.get("/api/auth/organization/get-active-member").await;
    assert_ba_error(&none, 400, "NO_ACTIVE_ORGANIZATION");
    assert_ba_error(
        &alice.get("/api/auth/organization/list-members").await,
        400,
        "NO_ACTIVE_ORGANIZATION",
    );
    assert_eq!(
        alice
            .get("/api/auth/organization/get-full-organization")
            .await
            .body,
        Value::Null
    );
    let by_slug = alice
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationSlug": "acme" }),
        )
        .await;
    assert_eq!(by_slug.body["id"], acme_id.as_str());
    assert!(by_slug.body["metadata"].is_string());
    let current = alice
        .post("/api/auth/organization/set-active", json!({}))
        .await;
    assert_eq!(current.body["id"], acme_id.as_str());
    let unknown_slug = alice
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationSlug": "nope" }),
        )
        .await;
    assert_ba_error(&unknown_slug, 400, "ORGANIZATION_NOT_FOUND");
    let not_member = bob
        .post(
            "/api/auth/organization/set-active",
            json!({ "organizationId": acme_id }),
        )
        .await;
    assert_ba_error(&not_member, 403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    assert_eq!(
        bob.get("/api/auth/get-session").await.body["session"]["activeOrganizationId"],
        t.personal_space(&bob_id)
    );

    // get-active-member(-role)
    let me = alice.get("/api/auth/organization/get-active-member").await;
    assert_eq!(me.body["user"]["email"], "alice@example.com");
    for f in ["id", "organizationId", "userId", "role", "createdAt"] {
        assert!(me.body[f].is_string(), "{f}");
    }
    assert_eq!(
        alice
            .get("/api/auth/organization/get-active-member-role")
            .await
            .body,
        json!({ "role": "owner" })
    );

    // list-members: paging and errors.
    let page = alice
        .get(&format!(
            "/api/auth/organization/list-members?organizationId={acme_id}&limit=10&offset=0"
        ))
        .await;
    assert_eq!(page.body["total"], 1);
    assert_eq!(page.body["members"][0]["user"]["name"], "Alice");
    let foreign = bob
        .get(&format!(
            "/api/auth/organization/list-members?organizationId={acme_id}"
        ))
        .await;
    assert_ba_error(&foreign, 403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");

    // invite-member and its errors.
    let inv = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "bob@example.com", "role": "member", "organizationId": acme_id }),
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    for f in [
        "id",
        "organizationId",
        "email",
        "role",
        "status",
        "expiresAt",
        "createdAt",
        "inviterId",
    ] {
        assert!(inv.body[f].is_string(), "{f} in {}", inv.body);
    }
    assert_eq!(inv.body["status"], "pending");
    let inv_id = inv.body["id"].as_str().unwrap().to_owned();
    let twice = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "bob@example.com", "role": "member" }),
        )
        .await;
    assert_ba_error(&twice, 400, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION");
    let resend = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "bob@example.com", "role": "member", "resend": true }),
        )
        .await;
    assert_eq!(resend.body["id"], inv_id.as_str());
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/invite-member",
                json!({ "email": "zed@example.com", "role": "superhero" }),
            )
            .await,
        400,
        "ROLE_NOT_FOUND",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/invite-member",
                json!({ "email": "nope", "role": "member" }),
            )
            .await,
        400,
        "INVALID_EMAIL",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/invite-member",
                json!({ "email": "zed@example.com" }),
            )
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/invite-member",
                json!({ "email": "alice@example.com", "role": "member" }),
            )
            .await,
        400,
        "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
    );
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/invite-member",
            json!({ "email": "zed@example.com", "role": "member", "organizationId": acme_id }),
        )
        .await,
        400,
        "MEMBER_NOT_FOUND",
    );
    let carol_inv = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "carol@example.com", "role": ["admin"] }),
        )
        .await;
    assert_eq!(carol_inv.body["role"], "admin");
    let carol_inv = carol_inv.body["id"].as_str().unwrap().to_owned();

    // list-invitations, get-invitation
    let invs = alice.get("/api/auth/organization/list-invitations").await;
    assert_eq!(invs.body.as_array().unwrap().len(), 2);
    assert_ba_error(
        &bob.get(&format!(
            "/api/auth/organization/list-invitations?organizationId={acme_id}"
        ))
        .await,
        403,
        "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
    );
    let got = bob
        .get(&format!(
            "/api/auth/organization/get-invitation?id={inv_id}"
        ))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["organizationName"], "Acme");
    assert_eq!(got.body["organizationSlug"], "acme");
    assert_eq!(got.body["inviterEmail"], "alice@example.com");
    assert_ba_error(
        &alice
            .get(&format!(
                "/api/auth/organization/get-invitation?id={inv_id}"
            ))
            .await,
        403,
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
    );
    assert_ba_error(
        &bob.get("/api/auth/organization/get-invitation?id=nope")
            .await,
        400,
        "INVITATION_NOT_FOUND",
    );
    assert_ba_error(
        &bob.get("/api/auth/organization/get-invitation").await,
        400,
        "VALIDATION_ERROR",
    );

    // accept / reject / cancel
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/accept-invitation",
                json!({ "invitationId": inv_id }),
            )
            .await,
        403,
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
    );
    let acc = bob
        .post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv_id }),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.body);
    assert_eq!(acc.body["invitation"]["status"], "accepted");
    assert!(acc.body["member"].get("user").is_none());
    let bob_member = acc.body["member"]["id"].as_str().unwrap().to_owned();
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv_id }),
        )
        .await,
        400,
        "INVITATION_NOT_FOUND",
    );
    assert_ba_error(
        &bob.post("/api/auth/organization/accept-invitation", json!({}))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    let carol = Browser::new(&t);
    carol.sign_up("carol@example.com", "Carol").await;
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/reject-invitation",
            json!({ "invitationId": carol_inv }),
        )
        .await,
        403,
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
    );
    let rej = carol
        .post(
            "/api/auth/organization/reject-invitation",
            json!({ "invitationId": carol_inv }),
        )
        .await;
    assert_eq!(rej.body["invitation"]["status"], "rejected");
    assert_eq!(rej.body["member"], Value::Null);
    let dave_inv = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "dave@example.com", "role": "member" }),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/cancel-invitation",
            json!({ "invitationId": dave_inv }),
        )
        .await,
        403,
        "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
    );
    assert_ba_error(
        &carol
            .post(
                "/api/auth/organization/cancel-invitation",
                json!({ "invitationId": dave_inv }),
            )
            .await,
        400,
        "MEMBER_NOT_FOUND",
    );
    let cancel = alice
        .post(
            "/api/auth/organization/cancel-invitation",
            json!({ "invitationId": dave_inv }),
        )
        .await;
    assert_eq!(cancel.body["status"], "canceled");
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/cancel-invitation",
                json!({ "invitationId": "nope" }),
            )
            .await,
        400,
        "INVITATION_NOT_FOUND",
    );

    // update-member-role
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/update-member-role",
            json!({ "memberId": owner_member, "role": "member", "organizationId": acme_id }),
        )
        .await,
        403,
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
    );
    let promoted = alice
        .post(
            "/api/auth/organization/update-member-role",
            json!({ "memberId": bob_member, "role": "admin" }),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin");
    assert!(promoted.body.get("user").is_none());
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/update-member-role",
                json!({ "memberId": "nope", "role": "admin" }),
            )
            .await,
        400,
        "MEMBER_NOT_FOUND",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/update-member-role",
                json!({ "memberId": bob_member, "role": "superhero" }),
            )
            .await,
        400,
        "ROLE_NOT_FOUND",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/update-member-role",
                json!({ "memberId": owner_member, "role": "member" }),
            )
            .await,
        400,
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
    );

    // get-full-organization
    let full = alice
        .get(&format!(
            "/api/auth/organization/get-full-organization?organizationId={acme_id}"
        ))
        .await;
    assert_eq!(full.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(full.body["members"][1]["user"]["email"], "bob@example.com");
    assert_eq!(full.body["invitations"].as_array().unwrap().len(), 3);
    assert!(full.body["metadata"].is_string());
    let by_slug = alice
        .get("/api/auth/organization/get-full-organization?organizationSlug=acme")
        .await;
    assert_eq!(by_slug.body["id"], acme_id.as_str());
    assert_ba_error(
        &carol
            .get(&format!(
                "/api/auth/organization/get-full-organization?organizationId={acme_id}"
            ))
            .await,
        403,
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    );
    assert_ba_error(
        &alice
            .get("/api/auth/organization/get-full-organization?organizationId=nope")
            .await,
        400,
        "ORGANIZATION_NOT_FOUND",
    );

    // update
    let upd = alice
        .post(
            "/api/auth/organization/update",
            json!({ "organizationId": acme_id, "data": { "name": "Acme Inc", "metadata": { "plan": "enterprise" } } }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.body["name"], "Acme Inc");
    assert_eq!(upd.body["metadata"]["plan"], "enterprise");
    let nologo = alice
        .post(
            "/api/auth/organization/update",
            json!({ "data": { "logo": null } }),
        )
        .await;
    assert_eq!(nologo.body["logo"], Value::Null);
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/update",
                json!({ "organizationId": acme_id, "data": { "slug": "beta" } }),
            )
            .await,
        400,
        "ORGANIZATION_SLUG_ALREADY_TAKEN",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/update",
                json!({ "organizationId": acme_id }),
            )
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_ba_error(
        &carol
            .post(
                "/api/auth/organization/update",
                json!({ "organizationId": acme_id, "data": { "name": "Hacked" } }),
            )
            .await,
        400,
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    );
    assert_eq!(
        alice
            .post(
                "/api/auth/organization/check-slug",
                json!({ "slug": "free-slug" }),
            )
            .await
            .body,
        json!({ "status": true })
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/check-slug",
                json!({ "slug": "beta" }),
            )
            .await,
        400,
        "ORGANIZATION_SLUG_ALREADY_TAKEN",
    );

    // remove-member: the last owner stays; removal clears the removed
    // member's active organization.
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/remove-member",
                json!({ "memberIdOrEmail": owner_member }),
            )
            .await,
        400,
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
    );
    assert_ba_error(
        &alice
            .post(
                "/api/auth/organization/remove-member",
                json!({ "memberIdOrEmail": "nope" }),
            )
            .await,
        400,
        "MEMBER_NOT_FOUND",
    );
    assert_eq!(
        bob.get("/api/auth/get-session").await.body["session"]["activeOrganizationId"],
        acme_id.as_str()
    );
    let removed = alice
        .post(
            "/api/auth/organization/remove-member",
            json!({ "memberIdOrEmail": "bob@example.com", "organizationId": acme_id }),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["member"]["id"], bob_member.as_str());
    assert_eq!(
        bob.get("/api/auth/get-session").await.body["session"]["activeOrganizationId"],
        Value::Null
    );

    // delete: members may not; the owner may; personal spaces never.
    let beta_id = beta.body["id"].as_str().unwrap().to_owned();
    let bob_inv = alice
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "bob@example.com", "role": "member", "organizationId": beta_id }),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.post(
        "/api/auth/organization/accept-invitation",
        json!({ "invitationId": bob_inv }),
    )
    .await;
    assert_ba_error(
        &bob.post(
            "/api/auth/organization/delete",
            json!({ "organizationId": beta_id }),
        )
        .await,
        403,
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
    );
    let left = bob
        .post(
            "/api/auth/organization/leave",
            json!({ "organizationId": beta_id }),
        )
        .await;
    assert_eq!(left.body["user"]["email"], "bob@example.com");
    assert_ba_error(
        &carol
            .post(
                "/api/auth/organization/delete",
                json!({ "organizationId": acme_id }),
            )
            .await,
        400,
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    );
    assert_ba_error(
        &alice.post("/api/auth/organization/delete", json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    let personal = t.personal_space(&alice_id);
    let r = alice
        .post(
            "/api/auth/organization/delete",
            json!({ "organizationId": personal }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let del = alice
        .post(
            "/api/auth/organization/delete",
            json!({ "organizationId": acme_id }),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(del.body["id"], acme_id.as_str());
    assert_eq!(
        alice.get("/api/auth/get-session").await.body["session"]["activeOrganizationId"],
        Value::Null
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM spaces WHERE id = '{acme_id}'"
        )),
        0
    );
}

/// The stored rows of a space, without ids and timestamps.
fn stored_space(t: &TestServer, space_id: &str, invitee: &str) -> Value {
    let db = t.db();
    let (name, slug, logo, metadata): (String, String, Option<String>, String) = db
        .query_row(
            "SELECT name, slug, logo, metadata FROM spaces WHERE id = ?1",
            [space_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let rows = |sql: &str| -> Vec<Value> {
        let mut stmt = db.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([space_id], |r| {
            let mut row = Vec::new();
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i)?;
                row.push(format!("{v:?}"));
            }
            Ok(json!(row))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let members = rows(
        "SELECT u.email, m.role FROM space_members m JOIN users u ON u.id = m.user_id \
         WHERE m.space_id = ?1 ORDER BY m.role",
    );
    let invitations = rows(
        "SELECT email, role, status, inviter_id IS NOT NULL FROM space_invitations \
         WHERE space_id = ?1 ORDER BY email",
    );
    let sync = rows(
        "SELECT app_id, table_name, op, json_remove(data, '$.id'), client_id, origin \
         FROM sync_changes WHERE space_id = ?1 ORDER BY table_name",
    );
    let mails: i64 = db
        .query_row(
            "SELECT count(*) FROM mail_outbox WHERE kind = 'invitation' AND to_address = ?1",
            [invitee],
            |r| r.get(0),
        )
        .unwrap();
    json!({
        "name": name,
        "slug": slug,
        "logo": logo,
        "metadata": serde_json::from_str::<Value>(&metadata).unwrap(),
        "members": members,
        "invitations": invitations,
        "sync": sync,
        "invitationMails": mails,
    })
}

#[tokio::test]
async fn v1_gilden_and_better_auth_organization_store_the_same_rows() {
    let t = TestServer::start().await;
    // Two owners, two invitees: one set through each door.
    let v1_owner = t.account("owner-v1@example.com").await;
    let v1_guest = t.account("guest-v1@example.com").await;
    let ba_owner = Browser::new(&t);
    let r = ba_owner.sign_up("owner-ba@example.com", "Owner").await;
    let ba_owner_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let ba_guest = Browser::new(&t);
    ba_guest.sign_up("guest-ba@example.com", "Guest").await;

    // v1: create, invite, accept.
    let space = t
        .post_auth(
            "/api/v1/gilden",
            &v1_owner.access,
            json!({ "name": "Team", "slug": "team-v1", "metadata": { "type": "team", "color": "red" } }),
        )
        .await;
    assert_eq!(space.status, 200, "{}", space.body);
    let v1_id = space.body["id"].as_str().unwrap().to_owned();
    let inv = t
        .post_auth(
            &format!("/api/v1/gilden/{v1_id}/invite"),
            &v1_owner.access,
            json!({ "email": "guest-v1@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    let acc = t
        .post_auth(
            "/api/v1/gilden/accept-invitation",
            &v1_guest.access,
            json!({ "invitationId": inv.body["id"] }),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.body);

    // Better Auth: the same.
    let org = ba_owner
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Team", "slug": "team-ba", "metadata": { "type": "team", "color": "red" } }),
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.body);
    let ba_id = org.body["id"].as_str().unwrap().to_owned();
    let inv = ba_owner
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "guest-ba@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    let acc = ba_guest
        .post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv.body["id"] }),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.body);

    let mut a = stored_space(&t, &v1_id, "guest-v1@example.com");
    let mut b = stored_space(&t, &ba_id, "guest-ba@example.com");
    // Only the people, their emails and the chosen slugs differ.
    for (v, owner) in [(&mut a, &v1_owner.id), (&mut b, &ba_owner_id)] {
        let text = v
            .to_string()
            .replace(owner.as_str(), "OWNER")
            .replace("-v1", "-X")
            .replace("-ba", "-X");
        *v = serde_json::from_str(&text).unwrap();
    }
    assert_eq!(a, b);
    // Exactly one kontextDoc per space either way.
    for id in [&v1_id, &ba_id] {
        assert_eq!(
            t.count(&format!(
                "SELECT count(*) FROM sync_changes WHERE space_id = '{id}' AND table_name = 'kontextDoc'"
            )),
            1
        );
    }
    assert_eq!(a["invitationMails"], 1);
}
