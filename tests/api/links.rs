//! Mailed links: a stranger cannot keep the owner's link dead by asking for
//! new ones (several may be outstanding; using one voids the others), nor
//! flood a mailbox (a silent hourly cap per address), and a link mailed to
//! an address the account no longer has stops working (issue 14 item 11,
//! issue 15 item 8).

use serde_json::json;

use crate::common::smtp::SmtpSink;
use crate::common::{TestServer, PASSWORD};

async fn ask_magic(t: &TestServer, email: &str) {
    let r = t
        .post("/api/v1/auth/magic-link/send", json!({ "email": email }))
        .await;
    assert_eq!(r.body, json!({ "success": true }));
}

async fn ask_reset(t: &TestServer, email: &str) {
    let r = t
        .post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await;
    assert_eq!(r.body, json!({ "success": true }));
}

fn token_of(link: &str) -> String {
    link.split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

async fn links(sink: &SmtpSink, to: &str, from: usize, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in from..from + n {
        out.push(sink.link_to(to, i).await);
    }
    out
}

#[tokio::test]
async fn asking_again_does_not_void_the_owners_link_using_one_voids_the_rest() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    t.account("owner@example.com").await; // verification mail: #1
                                          // The owner asks for a link; a stranger asks twice more.
    for _ in 0..3 {
        ask_magic(&t, "owner@example.com").await;
    }
    let magic = links(&sink, "owner@example.com", 2, 3).await;
    let ok = t.send(t.client.get(t.local(&magic[0]))).await;
    assert_eq!(ok.status, 200, "the owner's (first) link: {}", ok.body);
    for later in &magic[1..] {
        t.send(t.client.get(t.local(later)))
            .await
            .assert_error(400, "TOKEN_INVALID");
    }
    // Resets (an hour later: 5 mails an hour): the first of two links
    // still works, the other dies with it.
    t.clock.advance(chrono::Duration::minutes(61));
    ask_reset(&t, "owner@example.com").await;
    ask_reset(&t, "owner@example.com").await;
    let resets = links(&sink, "owner@example.com", 5, 2).await;
    let r = t
        .post(
            "/api/v1/auth/reset-password",
            json!({ "token": token_of(&resets[0]), "newPassword": "brand-new-password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": token_of(&resets[1]), "newPassword": "yet-another-password" }),
    )
    .await
    .assert_error(400, "TOKEN_INVALID");
    assert_eq!(
        t.login("owner@example.com", "brand-new-password")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn mail_to_one_address_is_capped_silently() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    t.account("flooded@example.com").await; // 1 mail
    for _ in 0..3 {
        ask_magic(&t, "flooded@example.com").await; // 3 more
    }
    for _ in 0..4 {
        ask_reset(&t, "flooded@example.com").await; // 1 more, then capped
    }
    sink.nth_to("flooded@example.com", 5).await;
    let queued = |t: &TestServer| {
        t.count("SELECT count(*) FROM mail_outbox WHERE to_address = 'flooded@example.com'")
    };
    assert_eq!(queued(&t), 5, "5 mails an hour, then nothing");
    assert_eq!(
        t.count("SELECT count(*) FROM verification_tokens WHERE purpose = 'password_reset'"),
        1,
        "no link is issued for a mail that is not sent"
    );
    // Other addresses are not affected; an hour later the address gets mail again.
    t.account("neighbour@example.com").await;
    sink.nth_to("neighbour@example.com", 1).await;
    t.clock.advance(chrono::Duration::minutes(61));
    ask_reset(&t, "flooded@example.com").await;
    let late = sink.nth_to("flooded@example.com", 6).await;
    assert!(late.link().contains("token="));
    assert_eq!(queued(&t), 6);
    // Invitations count too (an invitation stands, its mail waits).
    let owner = t.account("host@example.com").await;
    let space = t.create_space(&owner.access, "S", "team").await;
    for i in 0..6 {
        let r = t
            .post_auth(
                &format!("/api/v1/gilden/{}/invite", space["id"].as_str().unwrap()),
                &owner.access,
                json!({ "email": "invitee@example.com", "role": if i % 2 == 0 { "member" } else { "admin" } }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        t.count("SELECT count(*) FROM mail_outbox WHERE to_address = 'invitee@example.com'"),
        5
    );
}

#[tokio::test]
async fn changing_the_address_voids_links_mailed_to_the_old_one() {
    let (t, sink) = TestServer::start_with_mail(|_| {}).await;
    let a = t.account("old@example.com").await; // #1
                                                // Links for the old address, e.g. in a mailbox the owner is giving up.
    ask_reset(&t, "old@example.com").await; // #2
    ask_magic(&t, "old@example.com").await; // #3
    let old = links(&sink, "old@example.com", 2, 2).await;
    let r = t
        .post_auth(
            "/api/v1/auth/change-email",
            &a.access,
            json!({ "newEmail": "new@example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let confirm = sink.link_to("new@example.com", 1).await;
    assert_eq!(t.send(t.client.get(t.local(&confirm))).await.status, 200);
    t.post(
        "/api/v1/auth/reset-password",
        json!({ "token": token_of(&old[0]), "newPassword": "taken-over-password" }),
    )
    .await
    .assert_error(400, "TOKEN_INVALID");
    t.send(t.client.get(t.local(&old[1])))
        .await
        .assert_error(400, "TOKEN_INVALID");
    assert_eq!(t.login("new@example.com", PASSWORD).await.status, 200);
    t.login("new@example.com", "taken-over-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}
