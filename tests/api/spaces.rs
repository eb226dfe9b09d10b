//! Spaces: personal space at sign-up, slugs, the permission matrix,
//! invitations and the internal membership API.

use serde_json::{json, Value};

use crate::common::{Account, TestServer};

fn slug_of(t: &TestServer, user_id: &str) -> String {
    t.db()
        .query_row(
            "SELECT slug FROM spaces WHERE personal_of = ?1",
            [user_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn slugs_follow_the_rules() {
    let t = TestServer::start().await;
    let mut ids = Vec::new();
    for email in [
        "Foo.Bar@x.de",
        // (a run of other characters; `a..b` itself is not a mailable address)
        "a.+b_c@x.de",
        "admin@x.de",
        "foo.bar@other.de",
        "_____@x.de",
        &format!("{}@x.de", "abcdefghij".repeat(6)),
    ] {
        let r = t.register(email).await;
        assert_eq!(r.status, 200, "{email}: {}", r.body);
        ids.push(r.body["user"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(slug_of(&t, &ids[0]), "foo-bar");
    assert_eq!(slug_of(&t, &ids[1]), "a-b-c");
    assert_eq!(slug_of(&t, &ids[2]), "admin-2");
    assert_eq!(slug_of(&t, &ids[3]), "foo-bar-2");
    let fallback = slug_of(&t, &ids[4]);
    assert!(
        fallback.len() == 11
            && fallback.starts_with("user-")
            && fallback[5..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{fallback}"
    );
    let long = slug_of(&t, &ids[5]);
    assert!(long.len() <= 30 && long.starts_with("abcdefghij"), "{long}");
}

#[tokio::test]
async fn personal_space_is_listed_with_tier_and_cannot_be_deleted() {
    let t = TestServer::start().await;
    let a = t.account("owner@example.com").await;
    let list = t.get_auth("/api/v1/gilden", &a.access).await;
    assert_eq!(list.status, 200);
    let spaces = list.body.as_array().unwrap();
    assert_eq!(spaces.len(), 1);
    assert_eq!(
        spaces[0]["metadata"],
        json!({ "type": "personal", "tier": "public" })
    );
    assert_eq!(spaces[0]["role"], "owner");
    assert_eq!(spaces[0]["slug"], "owner");
    let id = spaces[0]["id"].as_str().unwrap();
    t.delete_auth(&format!("/api/v1/gilden/{id}"), &a.access)
        .await
        .assert_error(403, "SPACE_PERSONAL_UNDELETABLE");
    // Nor can its type be changed, or a second personal space be made.
    t.put_auth(
        &format!("/api/v1/gilden/{id}"),
        &a.access,
        json!({ "metadata": { "type": "team" } }),
    )
    .await
    .assert_error(400, "SPACE_METADATA_INVALID");
    t.post_auth(
        "/api/v1/gilden",
        &a.access,
        json!({ "name": "Me again", "type": "personal" }),
    )
    .await
    .assert_error(400, "SPACE_METADATA_INVALID");
    assert_eq!(t.count("SELECT count(*) FROM spaces"), 1);
}

#[tokio::test]
async fn create_requires_a_valid_type_and_writes_its_kontext_doc() {
    let t = TestServer::start().await;
    let a = t.account("creator@example.com").await;
    for body in [
        json!({ "name": "No type" }),
        json!({ "name": "Bad type", "type": "company" }),
        json!({ "name": "Bad meta", "metadata": { "type": 5 } }),
        json!({ "name": "Meta array", "metadata": [1] }),
    ] {
        t.post_auth("/api/v1/gilden", &a.access, body)
            .await
            .assert_error(400, "SPACE_METADATA_INVALID");
    }
    t.post_auth(
        "/api/v1/gilden",
        &a.access,
        json!({ "name": "", "type": "team" }),
    )
    .await
    .assert_error(400, "VALIDATION");
    t.post_auth(
        "/api/v1/gilden",
        &a.access,
        json!({ "name": "X", "type": "team", "slug": "api" }),
    )
    .await
    .assert_error(400, "VALIDATION");

    let team = t.create_space(&a.access, "Die Gilde", "team").await;
    assert_eq!(team["slug"], "die-gilde");
    assert_eq!(team["metadata"]["type"], "team");
    let by_meta = t
        .post_auth("/api/v1/gilden", &a.access, json!({ "name": "Club", "slug": "my-club", "metadata": { "type": "club", "color": "red" } }))
        .await;
    assert_eq!(by_meta.status, 200, "{}", by_meta.body);
    assert_eq!(
        by_meta.body["metadata"],
        json!({ "type": "club", "color": "red" })
    );
    t.post_auth(
        "/api/v1/gilden",
        &a.access,
        json!({ "name": "Club 2", "slug": "my-club", "type": "club" }),
    )
    .await
    .assert_error(409, "SPACE_SLUG_TAKEN");
    let same_name = t.create_space(&a.access, "Die Gilde", "team").await;
    assert_eq!(same_name["slug"], "die-gilde-2");

    let id = team["id"].as_str().unwrap();
    let docs = t.count(&format!(
        "SELECT count(*) FROM sync_changes WHERE space_id = '{id}' AND table_name = 'kontextDoc'"
    ));
    assert_eq!(docs, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ORG_CREATED'"),
        3
    );
}

struct Cast {
    owner: Account,
    admin: Account,
    member: Account,
    outsider: Account,
    space: String,
}

async fn cast(t: &TestServer) -> Cast {
    let owner = t.account("owner@cast.de").await;
    let admin = t.account("admin@cast.de").await;
    let member = t.account("member@cast.de").await;
    let outsider = t.account("outsider@cast.de").await;
    let space = t.create_space(&owner.access, "Cast", "team").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.add_member(&space, &owner, &admin, "admin").await;
    t.add_member(&space, &owner, &member, "member").await;
    Cast {
        owner,
        admin,
        member,
        outsider,
        space,
    }
}

fn member_id(full: &Value, email: &str) -> String {
    full["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn permission_matrix() {
    let t = TestServer::start().await;
    let c = cast(&t).await;
    let path = format!("/api/v1/gilden/{}", c.space);

    // read: every member; outsiders get 404
    for who in [&c.owner, &c.admin, &c.member] {
        let full = t.get_auth(&path, &who.access).await;
        assert_eq!(full.status, 200);
        assert_eq!(full.body["members"].as_array().unwrap().len(), 3);
    }
    t.get_auth(&path, &c.outsider.access)
        .await
        .assert_error(404, "NOT_FOUND");
    let full = t.get_auth(&path, &c.owner.access).await.body;
    let owner_mid = member_id(&full, "owner@cast.de");
    let admin_mid = member_id(&full, "admin@cast.de");
    let member_mid = member_id(&full, "member@cast.de");

    // update: owner, admin yes; member 403; outsider 404
    assert_eq!(
        t.put_auth(&path, &c.owner.access, json!({ "name": "Cast 1" }))
            .await
            .status,
        200
    );
    let upd = t
        .put_auth(
            &path,
            &c.admin.access,
            json!({ "name": "Cast 2", "logo": "https://x.de/l.png" }),
        )
        .await;
    assert_eq!(upd.status, 200);
    assert_eq!(upd.body["name"], "Cast 2");
    t.put_auth(&path, &c.member.access, json!({ "name": "no" }))
        .await
        .assert_error(403, "FORBIDDEN");
    t.put_auth(&path, &c.outsider.access, json!({ "name": "no" }))
        .await
        .assert_error(404, "NOT_FOUND");

    // invite: owner, admin yes; member 403; outsider 404; only owners invite owners
    let invite = |who: &Account, email: &str, role: &str| {
        t.post_auth(
            &format!("{path}/invite"),
            &who.access,
            json!({ "email": email, "role": role }),
        )
    };
    assert_eq!(invite(&c.owner, "new1@cast.de", "member").await.status, 200);
    assert_eq!(invite(&c.admin, "new2@cast.de", "admin").await.status, 200);
    invite(&c.admin, "new3@cast.de", "owner")
        .await
        .assert_error(403, "FORBIDDEN");
    invite(&c.member, "new4@cast.de", "member")
        .await
        .assert_error(403, "FORBIDDEN");
    invite(&c.outsider, "new5@cast.de", "member")
        .await
        .assert_error(404, "NOT_FOUND");
    invite(&c.owner, "member@cast.de", "member")
        .await
        .assert_error(409, "CONFLICT");
    invite(&c.owner, "x@cast.de", "king")
        .await
        .assert_error(400, "VALIDATION");

    // change role: owner only
    let role = |who: &Account, mid: &str, role: &str| {
        t.put_auth(
            &format!("{path}/members/{mid}/role"),
            &who.access,
            json!({ "role": role }),
        )
    };
    role(&c.admin, &member_mid, "admin")
        .await
        .assert_error(403, "FORBIDDEN");
    role(&c.member, &member_mid, "admin")
        .await
        .assert_error(403, "FORBIDDEN");
    role(&c.outsider, &member_mid, "admin")
        .await
        .assert_error(404, "NOT_FOUND");
    let promoted = role(&c.owner, &member_mid, "admin").await;
    assert_eq!(promoted.status, 200);
    assert_eq!(promoted.body["role"], "admin");
    assert_eq!(role(&c.owner, &member_mid, "member").await.status, 200);
    // The last owner cannot be demoted.
    role(&c.owner, &owner_mid, "admin")
        .await
        .assert_error(409, "SPACE_LAST_OWNER");

    // remove: admin cannot remove owner; member cannot remove others
    let remove =
        |who: &Account, mid: &str| t.delete_auth(&format!("{path}/members/{mid}"), &who.access);
    remove(&c.admin, &owner_mid)
        .await
        .assert_error(403, "FORBIDDEN");
    remove(&c.member, &admin_mid)
        .await
        .assert_error(403, "FORBIDDEN");
    remove(&c.outsider, &member_mid)
        .await
        .assert_error(404, "NOT_FOUND");
    remove(&c.owner, &owner_mid)
        .await
        .assert_error(409, "SPACE_LAST_OWNER");
    let removed = remove(&c.admin, &member_mid).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["success"], true);
    assert_eq!(removed.body["member"]["id"], member_mid.as_str());
    t.get_auth(&path, &c.member.access)
        .await
        .assert_error(404, "NOT_FOUND");
    // anyone may leave
    assert_eq!(remove(&c.admin, &admin_mid).await.status, 200);

    // delete: owner only
    t.delete_auth(&path, &c.outsider.access)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(t.delete_auth(&path, &c.owner.access).await.status, 200);
    t.get_auth(&path, &c.owner.access)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM space_members WHERE space_id = '{}'",
            c.space
        )),
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM space_invitations WHERE space_id = '{}'",
            c.space
        )),
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sync_changes WHERE space_id = '{}'",
            c.space
        )),
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ORG_DELETED'"),
        1
    );
}

#[tokio::test]
async fn admins_may_not_delete_and_a_second_owner_can_be_demoted() {
    let t = TestServer::start().await;
    let c = cast(&t).await;
    let path = format!("/api/v1/gilden/{}", c.space);
    t.delete_auth(&path, &c.admin.access)
        .await
        .assert_error(403, "FORBIDDEN");
    t.delete_auth(&path, &c.member.access)
        .await
        .assert_error(403, "FORBIDDEN");
    let full = t.get_auth(&path, &c.owner.access).await.body;
    let admin_mid = member_id(&full, "admin@cast.de");
    let owner_mid = member_id(&full, "owner@cast.de");
    let r = t
        .put_auth(
            &format!("{path}/members/{admin_mid}/role"),
            &c.owner.access,
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(r.status, 200);
    // With two owners, the first may step down.
    let r = t
        .put_auth(
            &format!("{path}/members/{owner_mid}/role"),
            &c.admin.access,
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn invitation_lifecycle() {
    let t = TestServer::start().await;
    let owner = t.account("host@inv.de").await;
    let guest = t.account("guest@inv.de").await;
    let stranger = t.account("stranger@inv.de").await;
    let space = t.create_space(&owner.access, "Family", "family").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = || {
        t.post_auth(
            &format!("/api/v1/gilden/{space}/invite"),
            &owner.access,
            json!({ "email": "GUEST@inv.de", "role": "member" }),
        )
    };
    let inv = invite().await;
    assert_eq!(inv.status, 200);
    assert_eq!(inv.body["status"], "pending");
    assert_eq!(inv.body["email"], "guest@inv.de");
    assert_eq!(inv.body["organizationId"], space.as_str());
    let inv_id = inv.body["id"].as_str().unwrap().to_owned();
    // Inviting again refreshes the same invitation.
    assert_eq!(invite().await.body["id"], inv_id.as_str());
    let accept = |who: &Account, id: &str| {
        t.post_auth(
            "/api/v1/gilden/accept-invitation",
            &who.access,
            json!({ "invitationId": id }),
        )
    };
    accept(&stranger, &inv_id)
        .await
        .assert_error(403, "FORBIDDEN");
    accept(&guest, "no-such-invitation")
        .await
        .assert_error(404, "NOT_FOUND");
    let ok = accept(&guest, &inv_id).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["member"]["role"], "member");
    // The original's answer carries the accepted invitation too.
    assert_eq!(ok.body["invitation"]["id"], inv_id.as_str());
    assert_eq!(ok.body["invitation"]["status"], "accepted");
    accept(&guest, &inv_id)
        .await
        .assert_error(409, "INVITATION_NOT_PENDING");
    let full = t
        .get_auth(&format!("/api/v1/gilden/{space}"), &guest.access)
        .await;
    assert_eq!(full.body["invitations"][0]["status"], "accepted");

    // Expired invitations cannot be accepted.
    let late = t
        .post_auth(
            &format!("/api/v1/gilden/{space}/invite"),
            &owner.access,
            json!({ "email": "stranger@inv.de" }),
        )
        .await;
    t.clock.advance(chrono::Duration::hours(49));
    let owner_fresh = t
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": owner.refresh }),
        )
        .await;
    let stranger_fresh = t
        .post(
            "/api/v1/auth/refresh",
            json!({ "refreshToken": stranger.refresh }),
        )
        .await;
    let stranger_token = stranger_fresh.body["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post_auth(
            "/api/v1/gilden/accept-invitation",
            &stranger_token,
            json!({ "invitationId": late.body["id"] }),
        )
        .await;
    r.assert_error(410, "INVITATION_EXPIRED");

    // Reject and cancel.
    let owner_token = owner_fresh.body["accessToken"].as_str().unwrap().to_owned();
    let again = t
        .post_auth(
            &format!("/api/v1/gilden/{space}/invite"),
            &owner_token,
            json!({ "email": "stranger@inv.de" }),
        )
        .await;
    let rej = t
        .post_auth(
            "/api/v1/gilden/reject-invitation",
            &stranger_token,
            json!({ "invitationId": again.body["id"] }),
        )
        .await;
    assert_eq!(rej.body["invitation"]["status"], "rejected");
    let third = t
        .post_auth(
            &format!("/api/v1/gilden/{space}/invite"),
            &owner_token,
            json!({ "email": "late@inv.de" }),
        )
        .await;
    let cancel = t
        .delete_auth(
            &format!(
                "/api/v1/gilden/{space}/invitations/{}",
                third.body["id"].as_str().unwrap()
            ),
            &owner_token,
        )
        .await;
    assert_eq!(cancel.body["invitation"]["status"], "canceled");
    // Personal spaces cannot be shared.
    let personal = t.personal_space(&owner.id);
    t.post_auth(
        &format!("/api/v1/gilden/{personal}/invite"),
        &owner_token,
        json!({ "email": "x@inv.de" }),
    )
    .await
    .assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn internal_api_requires_the_service_key() {
    let t = TestServer::start_with(|c| {
        c.mana_service_key = mana_auth::config::Secret::new("internal-test-key-123".into())
    })
    .await;
    let a = t.account("svc@example.com").await;
    let personal = t.personal_space(&a.id);
    let path = format!("/api/v1/internal/org/{personal}/member/{}", a.id);
    t.get(&path).await.assert_error(401, "UNAUTHORIZED");
    t.send(t.client.get(t.url(&path)).header("x-service-key", "wrong"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    let ok = t
        .send(
            t.client
                .get(t.url(&path))
                .header("x-service-key", "internal-test-key-123"),
        )
        .await;
    assert_eq!(ok.body, json!({ "isMember": true, "role": "owner" }));
    let other = t
        .send(
            t.client
                .get(t.url(&format!("/api/v1/internal/org/nope/member/{}", a.id)))
                .header("x-service-key", "internal-test-key-123"),
        )
        .await;
    assert_eq!(other.body, json!({ "isMember": false, "role": "" }));
    let m = t
        .send(
            t.client
                .get(t.url(&format!("/api/v1/internal/users/{}/memberships", a.id)))
                .header("x-service-key", "internal-test-key-123"),
        )
        .await;
    assert_eq!(
        m.body,
        json!({ "userId": a.id, "memberships": [{ "organizationId": personal, "role": "owner" }] })
    );
}
