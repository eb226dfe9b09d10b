//! Space admin integrity on both doors: `metadata.tier` is the operator's
//! (set only through the admin API), and a pending invitation cannot be
//! rewritten by someone who could not have made it.

use serde_json::{json, Value};

use crate::common::{Account, TestServer};

fn tier_of(t: &TestServer, space_id: &str) -> Option<String> {
    t.db()
        .query_row(
            "SELECT json_extract(metadata, '$.tier') FROM spaces WHERE id = ?1",
            [space_id],
            |r| r.get(0),
        )
        .unwrap()
}

async fn team_with_admin(t: &TestServer) -> (Account, Account, String) {
    let owner = t.account("owner.tier@example.com").await;
    let admin = t.account("admin.tier@example.com").await;
    let space = t.create_space(&owner.access, "Team", "team").await;
    let id = space["id"].as_str().unwrap().to_owned();
    t.add_member(&id, &owner, &admin, "admin").await;
    (owner, admin, id)
}

#[tokio::test]
async fn clients_cannot_set_the_tier_of_a_space() {
    let t = TestServer::start().await;
    let (owner, admin, id) = team_with_admin(&t).await;
    // v1: update by an admin, update by the owner, create with a tier.
    for who in [&admin, &owner] {
        let r = t
            .put_auth(
                &format!("/api/v1/gilden/{id}"),
                &who.access,
                json!({ "metadata": { "type": "team", "tier": "founder", "motto": "hi" } }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(tier_of(&t, &id), None, "{}", r.body);
        assert!(r.body["metadata"].get("tier").is_none(), "{}", r.body);
        assert_eq!(r.body["metadata"]["motto"], "hi");
    }
    let r = t
        .post_auth(
            "/api/v1/gilden",
            &owner.access,
            json!({ "name": "Club", "type": "club", "metadata": { "tier": "alpha" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tier_of(&t, r.body["id"].as_str().unwrap()), None);
    // The Better Auth door: create and update.
    let r = t
        .post_auth(
            "/api/auth/organization/create",
            &owner.access,
            json!({ "name": "Org", "slug": "org-tier", "metadata": { "type": "team", "tier": "founder" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let org = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(tier_of(&t, &org), None);
    let r = t
        .post_auth(
            "/api/auth/organization/update",
            &admin.access,
            json!({ "organizationId": id, "data": { "metadata": { "tier": "founder" } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tier_of(&t, &id), None);
    // The personal space keeps the tier the operator gave it.
    let personal = t.personal_space(&owner.id);
    assert_eq!(tier_of(&t, &personal).as_deref(), Some("public"));
    let r = t
        .put_auth(
            &format!("/api/v1/gilden/{personal}"),
            &owner.access,
            json!({ "metadata": { "tier": "founder" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tier_of(&t, &personal).as_deref(), Some("public"));
}

fn invitation_role(t: &TestServer, space_id: &str, email: &str) -> (String, i64) {
    t.db()
        .query_row(
            "SELECT role, count(*) OVER () FROM space_invitations WHERE space_id = ?1 AND email = ?2 AND status = 'pending'",
            [space_id, email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn an_admin_cannot_rewrite_a_pending_owner_invitation() {
    let t = TestServer::start().await;
    let (owner, admin, id) = team_with_admin(&t).await;
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{id}/invite"),
            &owner.access,
            json!({ "email": "cofounder@example.com", "role": "owner" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let inv_id = r.body["id"].clone();
    // v1: re-inviting as member would downgrade the owner's invitation.
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{id}/invite"),
            &admin.access,
            json!({ "email": "cofounder@example.com", "role": "member" }),
        )
        .await;
    r.assert_error(403, "FORBIDDEN");
    assert_eq!(invitation_role(&t, &id, "cofounder@example.com").0, "owner");
    // Better Auth door, with `resend`.
    let r = t
        .post_auth(
            "/api/auth/organization/invite-member",
            &admin.access,
            json!({ "organizationId": id, "email": "cofounder@example.com", "role": "member", "resend": true }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        invitation_role(&t, &id, "cofounder@example.com"),
        ("owner".to_owned(), 1)
    );
    let full = t
        .get_auth(&format!("/api/v1/gilden/{id}"), &owner.access)
        .await;
    let inv: &Value = full.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == inv_id)
        .unwrap();
    assert_eq!(inv["role"], "owner");
    assert_eq!(inv["inviterId"], json!(owner.id));
    // Within the admin's right, re-inviting still refreshes: an admin
    // invitation can be resent as member by an admin.
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{id}/invite"),
            &owner.access,
            json!({ "email": "helper@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{id}/invite"),
            &admin.access,
            json!({ "email": "helper@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(invitation_role(&t, &id, "helper@example.com").0, "member");
    // And the owner may rewrite their own owner invitation.
    let r = t
        .post_auth(
            &format!("/api/v1/gilden/{id}/invite"),
            &owner.access,
            json!({ "email": "cofounder@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(invitation_role(&t, &id, "cofounder@example.com").0, "admin");
}
