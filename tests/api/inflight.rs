//! Sign-ins in flight against a credential change: six clients keep
//! signing in with the old password while the owner resets it, changes it
//! or turns on a second factor. A sign-in that checked the old password
//! before the change committed must not open a session after it (each
//! user has a credential epoch, read with the password hash and checked in
//! the write that opens the session or issues a two-factor ticket).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::common::{Resp, TestServer, PASSWORD};
use crate::two_factor::{align, code, secret_of};

/// A server whose single hashing thread queues the sign-ins behind each
/// other, so the owner's change lands while some are waiting with the old
/// hash in hand.
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.rate_limit_auth = 0;
        c.hash_concurrency = Some(1);
        c.hash_max_anonymous = Some(1000);
    })
    .await
}

/// Runs `owner` while six clients sign in with `email` and the old
/// password in a loop; returns every answer that arrived.
async fn while_signing_in<F: std::future::Future<Output = ()>>(
    t: &TestServer,
    email: &str,
    owner: F,
) -> Vec<Resp> {
    let stop = Arc::new(AtomicBool::new(false));
    let clients = (0..6).map(|_| {
        let stop = stop.clone();
        async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(t.login(email, PASSWORD).await);
            }
            answers
        }
    });
    let stopper = async {
        owner.await;
        stop.store(true, Ordering::SeqCst);
    };
    let (answers, ()) = tokio::join!(futures::future::join_all(clients), stopper);
    answers.into_iter().flatten().collect()
}

/// Every answer is a refusal or a session; the sessions, as refresh
/// tokens.
fn sessions_handed_out(answers: &[Resp]) -> Vec<String> {
    for r in answers {
        assert!(
            matches!(r.status.as_u16(), 200 | 401 | 403 | 429),
            "{} {}",
            r.status,
            r.body
        );
    }
    answers
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body["refreshToken"].as_str().unwrap().to_owned())
        .collect()
}

async fn refreshes(t: &TestServer, refresh: &str) -> bool {
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
        .await
        .status
        == 200
}

/// Before: 5 of 5 trials left sessions opened with the old password that
/// still refreshed after the reset.
#[tokio::test]
async fn a_sign_in_in_flight_does_not_survive_a_password_reset() {
    let (t, sink) = TestServer::start_with_mail(|c| {
        c.rate_limit_auth = 0;
        c.hash_concurrency = Some(1);
        c.hash_max_anonymous = Some(1000);
    })
    .await;
    let a = t.account("reset-race@example.com").await;
    t.post("/api/v1/auth/forgot-password", json!({ "email": a.email }))
        .await;
    let link = sink.link_with(&a.email, "reset-password", 1).await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let answers = while_signing_in(&t, &a.email, async {
        let r = t
            .post(
                "/api/v1/auth/reset-password",
                json!({ "token": token, "newPassword": "a-new-password-42" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
    let handed_out = sessions_handed_out(&answers);
    assert!(!answers.is_empty());
    let mut alive = 0;
    for refresh in &handed_out {
        alive += usize::from(refreshes(&t, refresh).await);
    }
    assert_eq!(
        alive, 0,
        "sessions with the old password outlived the reset"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )),
        0
    );
    // The new password works (once the lock the old one earned this
    // client after the reset has run out).
    t.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(t.login(&a.email, "a-new-password-42").await.status, 200);
}

#[tokio::test]
async fn a_sign_in_in_flight_does_not_survive_a_password_change() {
    let t = server().await;
    let a = t.account("change-race@example.com").await;
    let answers = while_signing_in(&t, &a.email, async {
        let r = t
            .post_auth(
                "/api/v1/auth/change-password",
                &a.access,
                json!({ "currentPassword": PASSWORD, "newPassword": "a-new-password-43" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
    let handed_out = sessions_handed_out(&answers);
    let mut alive = 0;
    for refresh in &handed_out {
        alive += usize::from(refreshes(&t, refresh).await);
    }
    assert_eq!(
        alive, 0,
        "sessions with the old password outlived the change"
    );
    // Only the session that changed the password is left.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )),
        1
    );
}

/// Before: a sign-in that read "no second factor" before the owner turned
/// it on opened a session with the password alone.
#[tokio::test]
async fn a_sign_in_in_flight_does_not_skip_a_second_factor_turned_on_meanwhile() {
    let t = server().await;
    let a = t.account("tf-race@example.com").await;
    let enabled = t
        .post_auth(
            "/api/v1/auth/two-factor/enable",
            &a.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let secret = secret_of(enabled.body["totpURI"].as_str().unwrap());
    align(&t);
    let answers = while_signing_in(&t, &a.email, async {
        // Let the clients get going with the old state in hand.
        let first = t.login(&a.email, PASSWORD).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let r = t
            .post_auth(
                "/api/v1/auth/two-factor/verify-totp",
                &a.access,
                json!({ "code": code(&t, &secret, 0) }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["confirmed"], true);
    })
    .await;
    let handed_out = sessions_handed_out(&answers);
    let mut alive = 0;
    for refresh in &handed_out {
        alive += usize::from(refreshes(&t, refresh).await);
    }
    assert_eq!(alive, 0, "password-only sessions outlived turning on 2FA");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )),
        1,
        "only the owner's own session"
    );
    // Afterwards a password asks for the second factor.
    t.clock.advance(chrono::Duration::minutes(31));
    t.login(&a.email, PASSWORD)
        .await
        .assert_error(401, "TWO_FACTOR_REQUIRED");
}
