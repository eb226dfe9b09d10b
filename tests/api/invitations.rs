//! Invitations need proven addresses on both sides and are rate limited:
//! whoever registers an invited address first (with
//! `REQUIRE_EMAIL_VERIFICATION=false`) must not find the invitation in their
//! export and join with its role; an unverified account cannot invite; and
//! one user or one space cannot send invitations without limit (a spam
//! relay with free text in the subject).

use serde_json::{json, Value};

use crate::common::{Account, TestServer, PASSWORD};

/// Registers and signs in without verifying the address.
async fn unverified(t: &TestServer, email: &str) -> Account {
    assert_eq!(t.register(email).await.status, 200);
    let l = t.login(email, PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["user"]["emailVerified"], false);
    Account {
        id: l.body["user"]["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        access: l.body["accessToken"].as_str().unwrap().to_owned(),
        refresh: l.body["refreshToken"].as_str().unwrap().to_owned(),
    }
}

/// A new access token after the clock moved past the old one's expiry.
async fn fresh_token(t: &TestServer, who: &mut Account) {
    let r = t
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": who.refresh }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    who.access = r.body["accessToken"].as_str().unwrap().to_owned();
    who.refresh = r.body["refreshToken"].as_str().unwrap().to_owned();
}

async fn invite(
    t: &TestServer,
    by: &Account,
    space: &str,
    email: &str,
    role: &str,
) -> crate::common::Resp {
    t.post_auth(
        &format!("/api/v1/gilden/{space}/invite"),
        &by.access,
        json!({ "email": email, "role": role }),
    )
    .await
}

#[tokio::test]
async fn an_unproven_address_cannot_see_or_take_an_invitation() {
    let t = TestServer::start().await;
    let owner = t.account("owner.inv@example.com").await;
    let space = t.create_space(&owner.access, "Board", "team").await;
    let space_id = space["id"].as_str().unwrap();
    let inv = invite(&t, &owner, space_id, "cfo@victim.test", "admin").await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    let inv_id = inv.body["id"].as_str().unwrap().to_owned();

    // The attacker registers the invited address first.
    let attacker = unverified(&t, "cfo@victim.test").await;
    let export = t.get_auth("/api/v1/me/data/export", &attacker.access).await;
    assert_eq!(export.status, 200);
    let listed: Vec<Value> = export.body["invitations"].as_array().unwrap().clone();
    assert!(listed.is_empty(), "the export lists {listed:?}");

    t.post_auth(
        "/api/v1/gilden/accept-invitation",
        &attacker.access,
        json!({ "invitationId": inv_id }),
    )
    .await
    .assert_error(403, "EMAIL_NOT_VERIFIED");
    t.post_auth(
        "/api/v1/gilden/reject-invitation",
        &attacker.access,
        json!({ "invitationId": inv_id }),
    )
    .await
    .assert_error(403, "EMAIL_NOT_VERIFIED");
    for (path, body) in [
        (
            "/api/auth/organization/accept-invitation",
            json!({ "invitationId": inv_id }),
        ),
        (
            "/api/auth/organization/reject-invitation",
            json!({ "invitationId": inv_id }),
        ),
    ] {
        let r = t.post_auth(path, &attacker.access, body).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "EMAIL_NOT_VERIFIED", "{path}");
    }
    let r = t
        .get_auth(
            &format!("/api/auth/organization/get-invitation?id={inv_id}"),
            &attacker.access,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        t.count("SELECT count(*) FROM space_members WHERE role = 'admin'"),
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM space_invitations WHERE status = 'pending'"),
        1
    );

    // Once the address is proven, the invitation is theirs.
    t.mark_verified("cfo@victim.test").await;
    let export = t.get_auth("/api/v1/me/data/export", &attacker.access).await;
    assert_eq!(export.body["invitations"].as_array().unwrap().len(), 1);
    let ok = t
        .post_auth(
            "/api/v1/gilden/accept-invitation",
            &attacker.access,
            json!({ "invitationId": inv_id }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn only_verified_users_invite() {
    let t = TestServer::start().await;
    let u = unverified(&t, "fresh.inviter@example.com").await;
    let space = t.create_space(&u.access, "Spam", "club").await;
    let space_id = space["id"].as_str().unwrap();
    invite(&t, &u, space_id, "someone@example.com", "member")
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    let r = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &u.access,
            json!({ "organizationId": space_id, "email": "someone@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "EMAIL_NOT_VERIFIED");
    assert_eq!(t.count("SELECT count(*) FROM space_invitations"), 0);
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'invitation'"),
        0
    );
}

#[tokio::test]
async fn invitations_are_limited_per_inviter_and_per_space() {
    let t = TestServer::start().await;
    let owner = t.account("owner.limit@example.com").await;
    let admin = t.account("admin.limit@example.com").await;
    let a = t.create_space(&owner.access, "A", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = t.create_space(&owner.access, "B", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.add_member(&a, &owner, &admin, "admin").await; // 1 invitation in A
    for i in 1..20 {
        let r = invite(&t, &owner, &a, &format!("p{i}@example.com"), "member").await;
        assert_eq!(r.status, 200, "{i}: {}", r.body);
    }
    // 20 in the hour: the next one, in any space, is refused.
    for space in [&a, &b] {
        let r = invite(&t, &owner, space, "one.more@example.com", "member").await;
        r.assert_error(429, "RATE_LIMITED");
        let retry = r.body["retryAfterSec"].as_u64().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert_eq!(r.headers["retry-after"], retry.to_string().as_str());
    }
    // Inviting again counts too (each sends a mail).
    invite(&t, &owner, &a, "p1@example.com", "member")
        .await
        .assert_error(429, "RATE_LIMITED");
    // The Better Auth door follows the same rule.
    let r = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &owner.access,
            json!({ "organizationId": b, "email": "ba@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["code"], "RATE_LIMITED");
    // Space A is at its hourly limit too: its admin is refused there, but
    // not elsewhere.
    invite(&t, &admin, &a, "by.admin@example.com", "member")
        .await
        .assert_error(429, "RATE_LIMITED");
    let own = t.create_space(&admin.access, "Own", "club").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        invite(&t, &admin, &own, "by.admin@example.com", "member")
            .await
            .status,
        200
    );
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE kind = 'invitation'"),
        21
    );

    // An hour later the hourly limit is free again; 100 a day still holds.
    let mut owner = owner;
    let mut sent = 20;
    let mut hour = 0;
    while sent < 100 {
        hour += 1;
        t.clock.advance(chrono::Duration::minutes(61));
        fresh_token(&t, &mut owner).await;
        for i in 0..20 {
            let space = if i % 2 == 0 { &a } else { &b };
            let r = invite(
                &t,
                &owner,
                space,
                &format!("h{hour}.{i}@example.com"),
                "member",
            )
            .await;
            assert_eq!(r.status, 200, "hour {hour}, {i}: {}", r.body);
            sent += 1;
        }
    }
    t.clock.advance(chrono::Duration::minutes(61));
    fresh_token(&t, &mut owner).await;
    let r = invite(&t, &owner, &b, "day.limit@example.com", "member").await;
    r.assert_error(429, "RATE_LIMITED");
    let retry = r.body["retryAfterSec"].as_u64().unwrap();
    assert!(retry > 3600 && retry <= 24 * 3600, "{retry}");
    // A day after the first ones, inviting works again.
    t.clock.advance(chrono::Duration::seconds(retry as i64));
    fresh_token(&t, &mut owner).await;
    assert_eq!(
        invite(&t, &owner, &b, "day.limit@example.com", "member")
            .await
            .status,
        200
    );
}
