//! The framework's core account routes (`/api/auth/update-user`,
//! `change-password`, `change-email`, `delete-user`, `list-accounts`, the
//! session routes, the mailed flows, `organization/list-user-invitations`)
//! with the shapes, statuses, cookies and codes Better Auth 1.7.25 answered
//! (docs/COMPAT.md), and their attacks: another user's session, a revoked
//! session's cookie, a foreign Origin, a malformed body, a replayed link.

use serde_json::{json, Value};

use crate::better_auth::{assert_ba_error, Browser};
use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

/// The token of the newest mailed link to `to`, once nothing is pending in
/// the outbox (read from the SMTP sink: the outbox keeps no live link).
pub(crate) async fn link_token(t: &TestServer, sink: &SmtpSink, to: &str) -> String {
    for _ in 0..500 {
        if t.count("SELECT count(*) FROM mail_outbox WHERE status = 'pending'") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let link = sink
        .received_by(to)
        .iter()
        .rev()
        .map(|m| m.parse().link())
        .find(|l| l.contains("token="))
        .unwrap_or_else(|| panic!("no link mailed to {to}"));
    let url = reqwest::Url::parse(&link).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no token in {link}"))
}

async fn signed_in<'a>(t: &'a TestServer, email: &str) -> Browser<'a> {
    let b = Browser::new(t);
    b.sign_up(email, "Una").await;
    b
}

#[tokio::test]
async fn update_user_changes_name_and_image_and_refuses_the_email() {
    let t = TestServer::start().await;
    let a = signed_in(&t, "upd@example.com").await;
    let r = a
        .post(
            "/api/auth/update-user",
            json!({ "name": "Una B", "image": "https://img.example.com/u.png" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    assert!(r.session_cookie().is_some(), "the cookie is re-sent");
    let s = a.get("/api/auth/get-session").await;
    assert_eq!(s.body["user"]["name"], "Una B");
    assert_eq!(s.body["user"]["image"], "https://img.example.com/u.png");
    let r = a
        .post("/api/auth/update-user", json!({ "image": null }))
        .await;
    assert_eq!(r.status, 200);
    assert!(a.get("/api/auth/get-session").await.body["user"]["image"].is_null());

    // The address, an empty change, a wrong type, bad JSON: refused.
    let r = a
        .post(
            "/api/auth/update-user",
            json!({ "email": "mine@example.com" }),
        )
        .await;
    assert_ba_error(&r, 400, "EMAIL_CAN_NOT_BE_UPDATED");
    assert_ba_error(
        &a.post("/api/auth/update-user", json!({})).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_ba_error(
        &a.post("/api/auth/update-user", json!({ "name": 5 })).await,
        400,
        "VALIDATION_ERROR",
    );
    let bad = a
        .send(
            t.client
                .post(t.url("/api/auth/update-user"))
                .header("content-type", "application/json")
                .body("{\"name\":"),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        a.get("/api/auth/get-session").await.body["user"]["email"],
        "upd@example.com"
    );

    // No session; a foreign page with the cookie.
    let nobody = Browser::new(&t);
    assert_ba_error(
        &nobody
            .post("/api/auth/update-user", json!({ "name": "X" }))
            .await,
        401,
        "UNAUTHORIZED",
    );
    let mut evil = Browser::new(&t);
    *evil.cookies.lock().unwrap() = a.cookies.lock().unwrap().clone();
    evil.origin = Some("http://evil.test".to_owned());
    assert_ba_error(
        &evil
            .post("/api/auth/update-user", json!({ "name": "Pwned" }))
            .await,
        403,
        "INVALID_ORIGIN",
    );
    assert_eq!(
        a.get("/api/auth/get-session").await.body["user"]["name"],
        "Una B"
    );
}

#[tokio::test]
async fn change_password_checks_the_old_one_and_ends_the_other_sessions() {
    let t = TestServer::start().await;
    let a = signed_in(&t, "pw@example.com").await;
    let other = Browser::new(&t);
    let r = other
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "pw@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200);

    let r = a
        .post(
            "/api/auth/change-password",
            json!({ "currentPassword": "not-the-password", "newPassword": "a-new-password-1" }),
        )
        .await;
    assert_ba_error(&r, 400, "INVALID_PASSWORD");
    let r = a
        .post(
            "/api/auth/change-password",
            json!({ "currentPassword": PASSWORD, "newPassword": "short" }),
        )
        .await;
    assert_ba_error(&r, 400, "PASSWORD_TOO_SHORT");
    assert_ba_error(
        &a.post(
            "/api/auth/change-password",
            json!({ "currentPassword": PASSWORD }),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    );

    let r = a
        .post(
            "/api/auth/change-password",
            json!({ "currentPassword": PASSWORD, "newPassword": "a-new-password-1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token"], Value::Null);
    assert_eq!(r.body["user"]["email"], "pw@example.com");
    // This session lives on, the other one ended (a revoked session's
    // cookie is a null session and a 401 on the protected routes).
    assert!(a.get("/api/auth/get-session").await.body["session"].is_object());
    assert_eq!(other.get("/api/auth/get-session").await.body, Value::Null);
    assert_ba_error(
        &other.get("/api/auth/list-sessions").await,
        401,
        "UNAUTHORIZED",
    );
    let old = t
        .post(
            "/api/v1/auth/login",
            json!({ "email": "pw@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(old.status, 401);

    // revokeOtherSessions: true answers the session token.
    let r = a
        .post(
            "/api/auth/change-password",
            json!({ "currentPassword": "a-new-password-1", "newPassword": PASSWORD,
                    "revokeOtherSessions": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["token"].as_str(),
        a.cookies
            .lock()
            .unwrap()
            .get("mana.session_token")
            .map(String::as_str)
    );
}

#[tokio::test]
async fn change_email_mails_the_new_address_and_does_not_tell_who_is_registered() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    let a = signed_in(&t, "old@example.com").await;
    signed_in(&t, "taken@example.com").await;
    let r = a
        .post(
            "/api/auth/change-email",
            json!({ "newEmail": "new@example.com", "callbackURL": "/settings" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    let token = link_token(&t, &sink, "new@example.com").await;
    // A taken address answers the same, and no mail goes out.
    let r = a
        .post(
            "/api/auth/change-email",
            json!({ "newEmail": "taken@example.com" }),
        )
        .await;
    assert_eq!(r.body, json!({ "status": true }));
    assert!(t
        .outbox()
        .iter()
        .all(|m| !(m.0 == "email_change" && m.1 == "taken@example.com")));
    assert_ba_error(
        &a.post("/api/auth/change-email", json!({ "newEmail": "nope" }))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_ba_error(
        &a.post(
            "/api/auth/change-email",
            json!({ "newEmail": "x@example.com", "callbackURL": "https://evil.test/" }),
        )
        .await,
        403,
        "INVALID_CALLBACK_URL",
    );
    // The link switches the address (through the framework's verify-email).
    let r = t
        .send(t.no_redirect().get(t.url(&format!(
            "/api/auth/verify-email?token={token}&callbackURL=/settings"
        ))))
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "/settings");
    assert_eq!(
        a.get("/api/auth/get-session").await.body["user"]["email"],
        "new@example.com"
    );

    // A session older than a day must sign in again first.
    t.clock.advance(chrono::Duration::days(2));
    let r = a
        .post(
            "/api/auth/change-email",
            json!({ "newEmail": "later@example.com" }),
        )
        .await;
    assert_ba_error(&r, 403, "SESSION_NOT_FRESH");
}

#[tokio::test]
async fn delete_user_needs_the_password_or_a_fresh_session() {
    let t = TestServer::start().await;
    let a = signed_in(&t, "gone@example.com").await;
    let b = signed_in(&t, "stays@example.com").await;
    let r = a
        .post(
            "/api/auth/delete-user",
            json!({ "password": "wrong-password!" }),
        )
        .await;
    assert_ba_error(&r, 400, "INVALID_PASSWORD");
    t.clock.advance(chrono::Duration::days(2));
    assert_ba_error(
        &a.post("/api/auth/delete-user", json!({})).await,
        403,
        "SESSION_NOT_FRESH",
    );
    let r = a
        .post("/api/auth/delete-user", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "success": true, "message": "User deleted" })
    );
    assert!(!a.has("mana.session_token"), "the cookie is cleared");
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'gone@example.com'"),
        0
    );
    assert_eq!(
        b.get("/api/auth/get-session").await.body["user"]["email"],
        "stays@example.com"
    );

    // A fresh session needs no password.
    let c = signed_in(&t, "fresh@example.com").await;
    let r = c.post("/api/auth/delete-user", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'fresh@example.com'"),
        0
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_only_for_their_owner() {
    let t = TestServer::start().await;
    let a = signed_in(&t, "many@example.com").await;
    let a2 = Browser::new(&t);
    a2.post(
        "/api/auth/sign-in/email",
        json!({ "email": "many@example.com", "password": PASSWORD }),
    )
    .await;
    let a3 = Browser::new(&t);
    a3.post(
        "/api/auth/sign-in/email",
        json!({ "email": "many@example.com", "password": PASSWORD }),
    )
    .await;
    let b = signed_in(&t, "bystander@example.com").await;

    let list = a.get("/api/auth/list-sessions").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let mine = a.cookies.lock().unwrap()["mana.session_token"].clone();
    let other_tokens: Vec<String> = [&a2, &a3]
        .iter()
        .map(|x| x.cookies.lock().unwrap()["mana.session_token"].clone())
        .collect();
    for s in &list {
        for key in ["id", "token", "userId", "expiresAt", "createdAt"] {
            assert!(s[key].is_string(), "{key} in {s}");
        }
        // Only the caller's own token appears; the others are their ids.
        let token = s["token"].as_str().unwrap();
        assert!(!other_tokens.iter().any(|o| o == token), "{s}");
        assert!(token == mine || token == s["id"], "{s}");
    }

    // Another user's session, by id or by token: 200, nothing ends.
    let b_list = b.get("/api/auth/list-sessions").await.body;
    let b_id = b_list[0]["id"].as_str().unwrap().to_owned();
    let b_token = b.cookies.lock().unwrap()["mana.session_token"].clone();
    for handle in [&b_id, &b_token] {
        let r = a
            .post("/api/auth/revoke-session", json!({ "token": handle }))
            .await;
        assert_eq!(r.body, json!({ "status": true }));
    }
    assert!(b.get("/api/auth/get-session").await.body["session"].is_object());
    assert_ba_error(
        &a.post("/api/auth/revoke-session", json!({})).await,
        400,
        "VALIDATION_ERROR",
    );

    // Own sessions: by the id from the list, and by token.
    let a2_id = a2.get("/api/auth/get-session").await.body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a
        .post("/api/auth/revoke-session", json!({ "token": a2_id }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(a2.get("/api/auth/get-session").await.body, Value::Null);
    assert_eq!(
        a.get("/api/auth/list-sessions")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = a.post("/api/auth/revoke-other-sessions", json!({})).await;
    assert_eq!(r.body, json!({ "status": true }));
    assert_eq!(a3.get("/api/auth/get-session").await.body, Value::Null);
    assert!(a.get("/api/auth/get-session").await.body["session"].is_object());
    let r = a.post("/api/auth/revoke-sessions", json!({})).await;
    assert_eq!(r.body, json!({ "status": true }));
    assert!(!a.has("mana.session_token"));
    // The revoked session's token, kept by an attacker, opens nothing.
    let stale = Browser::new(&t);
    stale
        .cookies
        .lock()
        .unwrap()
        .insert("mana.session_token".to_owned(), mine.clone());
    assert_ba_error(
        &stale.get("/api/auth/list-sessions").await,
        401,
        "UNAUTHORIZED",
    );
    assert_ba_error(
        &stale.post("/api/auth/revoke-sessions", json!({})).await,
        401,
        "UNAUTHORIZED",
    );
    assert!(b.get("/api/auth/get-session").await.body["session"].is_object());
    assert!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'SESSION_REVOKED'") >= 3
    );
}

#[tokio::test]
async fn list_accounts_shows_the_password_credential() {
    let t = TestServer::start().await;
    let a = signed_in(&t, "acc@example.com").await;
    let r = a.get("/api/auth/list-accounts").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let accounts = r.body.as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["providerId"], "credential");
    assert_eq!(accounts[0]["userId"], accounts[0]["accountId"]);
    assert_eq!(accounts[0]["scopes"], json!([]));
    assert!(!r.body.to_string().contains("$argon2"), "no hash");
    assert_ba_error(
        &Browser::new(&t).get("/api/auth/list-accounts").await,
        401,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn verification_and_password_reset_by_mail() {
    let (t, sink) = TestServer::start_with_mail(|c| c.require_email_verification = true).await;
    let a = Browser::new(&t);
    let r = a
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "Vee", "email": "vee@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // send-verification-email: the same answer for an unknown address.
    for email in ["vee@example.com", "nobody@example.com"] {
        let r = t
            .post(
                "/api/auth/send-verification-email",
                json!({ "email": email, "callbackURL": "/welcome" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, json!({ "status": true }));
    }
    assert_ba_error(
        &t.post(
            "/api/auth/send-verification-email",
            json!({ "email": "bad" }),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    );
    let token = link_token(&t, &sink, "vee@example.com").await;
    // A garbage link: 401 INVALID_TOKEN, or a redirect with the error.
    assert_ba_error(
        &t.get("/api/auth/verify-email?token=garbage").await,
        401,
        "INVALID_TOKEN",
    );
    let r = t
        .send(
            t.no_redirect()
                .get(t.url("/api/auth/verify-email?token=garbage&callbackURL=/welcome")),
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/welcome?error=INVALID_TOKEN");
    assert_ba_error(
        &t.get(&format!(
            "/api/auth/verify-email?token={token}&callbackURL=https://evil.test/"
        ))
        .await,
        403,
        "INVALID_CALLBACK_URL",
    );
    // Without callbackURL in the link, the one given with the request.
    let r = t
        .send(
            t.no_redirect()
                .get(t.url(&format!("/api/auth/verify-email?token={token}"))),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "http://app.mana.test/welcome");
    // Replayed: refused.
    assert_ba_error(
        &t.get(&format!("/api/auth/verify-email?token={token}"))
            .await,
        401,
        "INVALID_TOKEN",
    );
    let r = a
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "vee@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A link without any callback answers JSON.
    t.post(
        "/api/auth/send-verification-email",
        json!({ "email": "vee@example.com" }),
    )
    .await;
    t.db()
        .execute(
            "UPDATE users SET email_verified = 0 WHERE email = 'vee@example.com'",
            [],
        )
        .unwrap();
    t.post(
        "/api/auth/send-verification-email",
        json!({ "email": "vee@example.com" }),
    )
    .await;
    let plain = link_token(&t, &sink, "vee@example.com").await;
    let r = t
        .get(&format!("/api/auth/verify-email?token={plain}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true, "user": null }));

    // request-password-reset, and its old name.
    for path in [
        "/api/auth/request-password-reset",
        "/api/auth/forget-password",
    ] {
        for email in ["vee@example.com", "nobody@example.com"] {
            let r = t
                .post(path, json!({ "email": email, "redirectTo": "/reset" }))
                .await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.body["status"], true);
            assert!(r.body["message"].is_string());
        }
    }
    assert_ba_error(
        &t.post(
            "/api/auth/request-password-reset",
            json!({ "email": "vee@example.com", "redirectTo": "https://evil.test/" }),
        )
        .await,
        403,
        "INVALID_REDIRECT_URL",
    );
    let token = link_token(&t, &sink, "vee@example.com").await;
    assert_ba_error(
        &t.post(
            "/api/auth/reset-password",
            json!({ "newPassword": "short", "token": token }),
        )
        .await,
        400,
        "PASSWORD_TOO_SHORT",
    );
    for body in [
        json!({ "newPassword": "a-reset-password" }),
        json!({ "newPassword": "a-reset-password", "token": "garbage" }),
    ] {
        assert_ba_error(
            &t.post("/api/auth/reset-password", body).await,
            400,
            "INVALID_TOKEN",
        );
    }
    // The token may ride in the query, as the framework's link puts it.
    let r = t
        .post(
            &format!("/api/auth/reset-password?token={token}"),
            json!({ "newPassword": "a-reset-password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({ "status": true }));
    assert_ba_error(
        &t.post(
            "/api/auth/reset-password",
            json!({ "newPassword": "another-reset-pw", "token": token }),
        )
        .await,
        400,
        "INVALID_TOKEN",
    );
    // Every session ended; the new password signs in.
    assert_eq!(a.get("/api/auth/get-session").await.body, Value::Null);
    let r = t
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "vee@example.com", "password": "a-reset-password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn user_invitations_need_a_proven_address_and_show_only_ones_own() {
    let t = TestServer::start().await;
    let owner = signed_in(&t, "host@example.com").await;
    let guest = signed_in(&t, "guest@example.com").await;
    let third = signed_in(&t, "third@example.com").await;
    let org = owner
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Club", "slug": "club-inv", "metadata": { "type": "club" } }),
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.body);
    let r = owner
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "guest@example.com", "role": "member", "organizationId": org.body["id"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let list = guest
        .get("/api/auth/organization/list-user-invitations")
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["organizationName"], "Club");
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(list[0]["email"], "guest@example.com");
    assert_eq!(
        third
            .get("/api/auth/organization/list-user-invitations")
            .await
            .body,
        json!([])
    );
    // Accepted: no longer listed.
    let r = guest
        .post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": list[0]["id"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        guest
            .get("/api/auth/organization/list-user-invitations")
            .await
            .body,
        json!([])
    );

    // An unproven address sees nothing of what was sent to it.
    let unproven = Browser::new(&t);
    unproven
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "U", "email": "unproven@example.com", "password": PASSWORD }),
        )
        .await;
    owner
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "unproven@example.com", "role": "member", "organizationId": org.body["id"] }),
        )
        .await;
    assert_ba_error(
        &unproven
            .get("/api/auth/organization/list-user-invitations")
            .await,
        403,
        "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION",
    );
    assert_ba_error(
        &Browser::new(&t)
            .get("/api/auth/organization/list-user-invitations")
            .await,
        401,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn remove_member_accepts_the_members_user_id() {
    let t = TestServer::start().await;
    let owner = signed_in(&t, "own@example.com").await;
    let member = signed_in(&t, "mem@example.com").await;
    let outsider = signed_in(&t, "out@example.com").await;
    let org = owner
        .post(
            "/api/auth/organization/create",
            json!({ "name": "Team", "slug": "team-rm", "metadata": { "type": "team" } }),
        )
        .await;
    let org_id = org.body["id"].as_str().unwrap().to_owned();
    let inv = owner
        .post(
            "/api/auth/organization/invite-member",
            json!({ "email": "mem@example.com", "role": "member", "organizationId": org_id }),
        )
        .await;
    member
        .post(
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv.body["id"] }),
        )
        .await;
    let member_user = member.get("/api/auth/get-session").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone outside the organization: refused, the member stays.
    let r = outsider
        .post(
            "/api/auth/organization/remove-member",
            json!({ "memberIdOrEmail": member_user, "organizationId": org_id }),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    // The web app sends the user id.
    let r = owner
        .post(
            "/api/auth/organization/remove-member",
            json!({ "memberIdOrEmail": member_user, "organizationId": org_id }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["member"]["userId"], member_user);
    let members = owner
        .get(&format!(
            "/api/auth/organization/list-members?organizationId={org_id}"
        ))
        .await;
    assert_eq!(members.body["total"], 1, "{}", members.body);
}
