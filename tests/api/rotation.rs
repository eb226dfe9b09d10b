//! Refresh tokens rotate on each `/refresh`; a replaced one works for a
//! 30-second grace window (concurrent refreshes) and ends the whole session
//! when presented after it (token family revocation). The session cookie
//! never rotates, so browsers and single sign-on keep working.

use chrono::Duration;
use serde_json::{json, Value};

use crate::common::{Resp, TestServer, PASSWORD};

async fn refresh(t: &TestServer, token: &str) -> Resp {
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": token }))
        .await
}

fn tokens(r: &Resp) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["accessToken"].as_str().unwrap().to_owned(),
        r.body["refreshToken"].as_str().unwrap().to_owned(),
    )
}

fn events(t: &TestServer, kind: &str) -> Vec<Value> {
    let db = t.db();
    let mut stmt = db
        .prepare("SELECT metadata FROM security_events WHERE event_type = ?1")
        .unwrap();
    stmt.query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|m| serde_json::from_str(&m.unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reuse_after_the_grace_window_ends_the_session() {
    let t = TestServer::start().await;
    let a = t.account("rot@example.com").await;
    let (_, r1) = tokens(&refresh(&t, &a.refresh).await);
    assert_ne!(r1, a.refresh, "the refresh token rotates");
    let (_, r2) = tokens(&refresh(&t, &r1).await);
    assert_ne!(r2, r1);
    // Within the grace window the replaced token still works (a second tab
    // refreshing at the same moment) and gets a token of its own.
    let (_, r2b) = tokens(&refresh(&t, &r1).await);
    assert_ne!(r2b, r2);
    t.clock.advance(Duration::seconds(29));
    tokens(&refresh(&t, &a.refresh).await);
    assert!(events(&t, "REFRESH_TOKEN_REUSED").is_empty());

    // Past the window, a replaced token is a reuse: the session ends.
    t.clock.advance(Duration::seconds(31));
    let session = t.get_auth("/api/v1/auth/session", &a.access).await;
    let sid = session.body["session"]["id"].as_str().unwrap().to_owned();
    refresh(&t, &r1).await.assert_error(401, "TOKEN_EXPIRED");
    // The tokens that were never replaced are gone with the session.
    for current in [&r2, &r2b] {
        refresh(&t, current)
            .await
            .assert_error(401, "TOKEN_EXPIRED");
    }
    t.get_auth("/api/v1/auth/session", &a.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    let reused = events(&t, "REFRESH_TOKEN_REUSED");
    assert_eq!(reused.len(), 1, "{reused:?}");
    assert_eq!(reused[0]["sessionId"], sid.as_str());
    assert_eq!(
        t.count("SELECT count(*) FROM session_tokens"),
        0,
        "the session's tokens went with it"
    );
    // A new sign-in works.
    assert_eq!(t.login(&a.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_thief_who_refreshes_first_loses_the_session_when_the_owner_returns() {
    let t = TestServer::start().await;
    let owner = t.account("owner@example.com").await;
    // The thief copied the owner's refresh token and uses it first.
    let (thief_access, thief_refresh) = tokens(&refresh(&t, &owner.refresh).await);
    t.clock.advance(Duration::minutes(10));
    let (_, thief_refresh) = tokens(&refresh(&t, &thief_refresh).await);
    // The owner's client comes back with the token it holds.
    refresh(&t, &owner.refresh)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    // Both lose the session: the thief's tokens are dead too.
    refresh(&t, &thief_refresh)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    t.get_auth("/api/v1/me/data", &thief_access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(events(&t, "REFRESH_TOKEN_REUSED").len(), 1);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_all_succeed() {
    let t = TestServer::start().await;
    let a = t.account("race@example.com").await;
    let answers = futures::future::join_all((0..6).map(|_| refresh(&t, &a.refresh))).await;
    let mut seen = std::collections::BTreeSet::new();
    for r in &answers {
        let (_, next) = tokens(r);
        assert!(seen.insert(next), "every caller gets its own token");
    }
    for next in &seen {
        tokens(&refresh(&t, next).await);
    }
    assert!(events(&t, "REFRESH_TOKEN_REUSED").is_empty());
}

#[tokio::test]
async fn the_session_cookie_does_not_rotate_and_survives_refreshes() {
    let t = TestServer::start().await;
    t.register("web@example.com").await;
    let login = t.login("web@example.com", PASSWORD).await;
    let cookie = login.session_cookie().unwrap();
    let body_token = login.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(
        cookie, body_token,
        "the body's refresh token rotates, the cookie does not: they differ"
    );
    let header = format!("mana.session_token={cookie}");
    let get_session = || {
        t.send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .header("cookie", &header),
        )
    };
    // The client refreshes with its body token, again and again.
    let mut r = body_token;
    for _ in 0..3 {
        let res = refresh(&t, &r).await;
        assert!(
            res.headers.get("set-cookie").is_none(),
            "a body refresh leaves the cookie alone"
        );
        r = tokens(&res).1;
        t.clock.advance(Duration::minutes(15));
    }
    assert_eq!(
        get_session().await.body["session"]["token"],
        cookie.as_str()
    );

    // session-to-token hands out a refresh token of its own.
    let s2t = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/session-to-token"))
                .header("origin", "http://app.mana.test")
                .header("cookie", &header),
        )
        .await;
    let (_, from_cookie) = tokens(&s2t);
    assert_ne!(from_cookie, cookie);
    tokens(&refresh(&t, &from_cookie).await);
    // /refresh with the cookie alone renews the same cookie.
    let by_cookie = t
        .send(
            t.client
                .post(t.url("/api/v1/auth/refresh"))
                .header("origin", "http://app.mana.test")
                .header("cookie", &header),
        )
        .await;
    assert_eq!(by_cookie.session_cookie().as_deref(), Some(cookie.as_str()));
    tokens(&by_cookie);
    t.clock.advance(Duration::minutes(5));
    for _ in 0..2 {
        assert_eq!(get_session().await.body["user"]["email"], "web@example.com");
    }
    assert!(events(&t, "REFRESH_TOKEN_REUSED").is_empty());
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_session_through_any_door() {
    let t = TestServer::start().await;
    let a = t.account("door@example.com").await;
    let (_, next) = tokens(&refresh(&t, &a.refresh).await);
    t.clock.advance(Duration::minutes(1));
    // Presented as a Better Auth bearer token: no session, and the session
    // is over for the holder of the current token too.
    let r = t
        .send(
            t.client
                .get(t.url("/api/auth/get-session"))
                .bearer_auth(&a.refresh),
        )
        .await;
    assert_eq!(r.body, Value::Null);
    refresh(&t, &next).await.assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(events(&t, "REFRESH_TOKEN_REUSED").len(), 1);
}
