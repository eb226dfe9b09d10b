//! The password-hashing pool under a storm: sign-ins queue on its threads,
//! token checks do not wait behind them, and the hashing threads run at
//! the lowest priority so that the threads answering everything else get
//! the cores first.

use serde_json::json;

use crate::common::{TestServer, PASSWORD};

/// Sign-ins sent at once, against one hashing thread.
const SIGN_INS: usize = 24;

/// While the queue of one hashing thread holds many sign-ins, `/validate`
/// and `/session` answer right (the user, the live session) before it has
/// drained, and every queued sign-in still gets its session after.
#[tokio::test]
async fn token_checks_are_answered_while_the_hash_queue_is_full() {
    let t = TestServer::start_with(|c| {
        c.rate_limit_auth = 0;
        c.rate_limit_validate = 0;
        c.hash_concurrency = Some(1);
        c.hash_max_anonymous = Some(1000);
        // A real cost, so that the queue takes a while to drain.
        c.argon2_memory_kib = 4096;
        c.argon2_iterations = 3;
    })
    .await;
    let a = t.account("storm@example.com").await;
    let logins = futures::future::join_all((0..SIGN_INS).map(|_| t.login(&a.email, PASSWORD)));
    let checks = async {
        // Wait until most sign-ins wait for the thread.
        while t.state().hasher.load().queued < SIGN_INS / 2 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let v = t
            .post("/api/v1/auth/validate", json!({ "token": a.access }))
            .await;
        let s = t.get_auth("/api/v1/auth/session", &a.access).await;
        let left = t.state().hasher.load();
        (v, s, left.queued + left.running)
    };
    let (answers, (v, s, left)) = tokio::join!(logins, checks);
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["valid"], true, "{}", v.body);
    assert_eq!(v.body["payload"]["sub"], a.id.as_str());
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["user"]["id"], a.id.as_str());
    assert!(
        left > 0,
        "the token checks were answered only after the queue drained"
    );
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["accessToken"].is_string());
    }
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )),
        1 + SIGN_INS as i64
    );
}

/// The hashing threads run at nice 19; the server's other threads keep
/// the process's nice value.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_at_the_lowest_priority() {
    let t = TestServer::start().await;
    // A hash, so the pool's threads have surely started.
    t.account("nice@example.com").await;
    let nice = |task: &std::path::Path| -> i64 {
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // Field 19 (nice), counted after the parenthesised command name.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    };
    let main = nice(&std::path::Path::new("/proc/self/task").join(std::process::id().to_string()));
    let (mut hashing, mut others) = (Vec::new(), Vec::new());
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.starts_with("argon2-") {
            hashing.push(nice(&path));
        } else {
            others.push(nice(&path));
        }
    }
    assert!(!hashing.is_empty(), "no hashing thread found");
    assert!(hashing.iter().all(|&n| n == 19), "{hashing:?}");
    assert!(others.iter().all(|&n| n == main), "{others:?} vs {main}");
    drop(t);
}
