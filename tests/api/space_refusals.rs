//! Space rules refuse in one place (`spaces`) and both doors answer the
//! same refusal in the same order, each with its own codes: `/api/v1`
//! with the envelope, `/api/auth/organization/*` with the framework's.

use serde_json::json;

use crate::common::{Account, TestServer, PASSWORD};

struct Cast {
    owner: Account,
    admin: Account,
    member: Account,
    space: String,
}

async fn cast(t: &TestServer) -> Cast {
    let owner = t.account("owner@refusals.de").await;
    let admin = t.account("admin@refusals.de").await;
    let member = t.account("member@refusals.de").await;
    let space = t.create_space(&owner.access, "Refusals", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.add_member(&space, &owner, &admin, "admin").await;
    let member_row = t.add_member(&space, &owner, &member, "member").await;
    assert_eq!(member_row["role"], "member");
    Cast {
        owner,
        admin,
        member,
        space,
    }
}

fn member_id_of(t: &TestServer, space: &str, user_id: &str) -> String {
    t.db()
        .query_row(
            "SELECT id FROM space_members WHERE space_id = ?1 AND user_id = ?2",
            [space, user_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn an_unknown_member_is_refused_before_the_callers_role_on_both_doors() {
    let t = TestServer::start().await;
    let c = cast(&t).await;
    // An admin (who may not change roles) naming a member that does not
    // exist: both doors say the member is not there.
    t.put_auth(
        &format!("/api/v1/gilden/{}/members/no-such-member/role", c.space),
        &c.admin.access,
        json!({ "role": "admin" }),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let r = t
        .post_auth(
            "/api/auth/organization/update-member-role",
            &c.admin.access,
            json!({ "organizationId": c.space, "memberId": "no-such-member", "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["code"], "MEMBER_NOT_FOUND");

    // A real member: the role rule answers, on both doors, and nothing
    // changes.
    let target = member_id_of(&t, &c.space, &c.member.id);
    t.put_auth(
        &format!("/api/v1/gilden/{}/members/{target}/role", c.space),
        &c.admin.access,
        json!({ "role": "admin" }),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    let r = t
        .post_auth(
            "/api/auth/organization/update-member-role",
            &c.admin.access,
            json!({ "organizationId": c.space, "memberId": target, "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
    assert_eq!(
        t.count("SELECT count(*) FROM space_members WHERE role = 'admin'"),
        1
    );

    // The owner still can.
    let r = t
        .post_auth(
            "/api/auth/organization/update-member-role",
            &c.owner.access,
            json!({ "organizationId": c.space, "memberId": target, "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "admin");
}

#[tokio::test]
async fn an_unproven_inviter_is_refused_before_any_duplicate_check() {
    let t = TestServer::start().await;
    let email = "unproven.owner@example.com";
    assert_eq!(t.register(email).await.status, 200);
    let l = t.login(email, PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.body);
    let access = l.body["accessToken"].as_str().unwrap().to_owned();
    let space = t.create_space(&access, "Unproven", "club").await;
    let space = space["id"].as_str().unwrap();
    // Inviting their own address (a member already): the proof rule
    // answers first on both doors.
    t.post_auth(
        &format!("/api/v1/gilden/{space}/invite"),
        &access,
        json!({ "email": email, "role": "member" }),
    )
    .await
    .assert_error(403, "EMAIL_NOT_VERIFIED");
    let r = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &access,
            json!({ "organizationId": space, "email": email, "role": "member" }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "EMAIL_NOT_VERIFIED");
    assert_eq!(t.count("SELECT count(*) FROM space_invitations"), 0);
}

#[tokio::test]
async fn the_framework_door_refuses_a_second_invitation_unless_sent_again() {
    let t = TestServer::start().await;
    let c = cast(&t).await;
    let body = json!({ "organizationId": c.space, "email": "new@refusals.de", "role": "member" });
    let first = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &c.admin.access,
            body.clone(),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &c.admin.access,
            body.clone(),
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(
        again.body["code"],
        "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION"
    );
    let mut resend = body.clone();
    resend["resend"] = json!(true);
    let sent = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &c.admin.access,
            resend,
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["id"], first.body["id"]);
    // The v1 door always sends again (the same pending invitation).
    let v1 = t
        .post_auth(
            &format!("/api/v1/gilden/{}/invite", c.space),
            &c.admin.access,
            json!({ "email": "new@refusals.de", "role": "member" }),
        )
        .await;
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert_eq!(v1.body["id"], first.body["id"]);
    assert_eq!(
        t.count("SELECT count(*) FROM space_invitations WHERE status = 'pending'"),
        1
    );
}

#[tokio::test]
async fn an_invitation_is_canceled_only_through_its_own_space() {
    let t = TestServer::start().await;
    let c = cast(&t).await;
    let other = t.create_space(&c.owner.access, "Other", "team").await;
    let other = other["id"].as_str().unwrap();
    let inv = t
        .post_auth(
            &format!("/api/v1/gilden/{other}/invite"),
            &c.owner.access,
            json!({ "email": "far@refusals.de", "role": "member" }),
        )
        .await;
    assert_eq!(inv.status, 200, "{}", inv.body);
    let inv_id = inv.body["id"].as_str().unwrap();
    // Through the other space's path: not found, and still pending.
    t.delete_auth(
        &format!("/api/v1/gilden/{}/invitations/{inv_id}", c.space),
        &c.owner.access,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // A member of neither space: the invitation is not found there either;
    // on the framework door, the caller is no member.
    t.delete_auth(
        &format!("/api/v1/gilden/{other}/invitations/{inv_id}"),
        &c.member.access,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let r = t
        .post_auth(
            "/api/auth/organization/cancel-invitation",
            &c.member.access,
            json!({ "invitationId": inv_id }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["code"], "MEMBER_NOT_FOUND");
    assert_eq!(
        t.count("SELECT count(*) FROM space_invitations WHERE status = 'pending'"),
        1
    );
    // Through its own space it goes.
    let ok = t
        .delete_auth(
            &format!("/api/v1/gilden/{other}/invitations/{inv_id}"),
            &c.owner.access,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["invitation"]["status"], "canceled");
}
