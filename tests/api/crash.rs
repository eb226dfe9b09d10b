//! Crash safety: a write load (sign-ups, space creation, bootstrap calls)
//! against the real binary, killed with SIGKILL at random moments and
//! restarted on the same file. Every write acknowledged with 2xx must be
//! there afterwards, nothing may be half-written and the file must pass
//! `PRAGMA integrity_check`.
//!
//! Short form in CI (20 kills); the long form is
//! `CRASH_KILLS=200 cargo nextest run crash --no-capture`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use crate::common::PASSWORD;
use crate::process::spawn;

#[derive(Default)]
struct Acknowledged {
    users: BTreeSet<String>,
    spaces: BTreeSet<String>,
}

async fn worker(base: String, token: String, seed: u64, acked: Arc<Mutex<Acknowledged>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for i in 0.. {
        let op = (seed + i) % 3;
        let result = match op {
            0 => {
                let email = format!("w{seed}-{i}-{}@crash.test", rand::random::<u32>());
                let r = client
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap().users.insert(email);
                        Ok(())
                    }
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
            1 => {
                let r = client
                    .post(format!("{base}/api/v1/gilden"))
                    .bearer_auth(&token)
                    .json(&json!({ "name": format!("Crash {seed} {i}"), "type": "team" }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        if let Some(id) = body["id"].as_str() {
                            acked.lock().unwrap().spaces.insert(id.to_owned());
                        }
                        Ok(())
                    }
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
            _ => client
                .post(format!("{base}/api/v1/me/bootstrap-singletons"))
                .bearer_auth(&token)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if result.is_err() {
            // The server is gone (killed); this worker is done.
            return;
        }
    }
}

fn check_file(db: &std::path::Path, acked: &Acknowledged, round: usize) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let q = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "round {round}");
    for email in &acked.users {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM users WHERE email = ?1",
                [email],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "round {round}: acknowledged sign-up {email} lost");
    }
    for id in &acked.spaces {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM spaces WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1, "round {round}: acknowledged space {id} lost");
    }
    // Nothing half-written.
    assert_eq!(q("SELECT count(*) FROM users u WHERE (SELECT count(*) FROM spaces s WHERE s.personal_of = u.id) != 1"), 0, "round {round}: user without exactly one personal space");
    assert_eq!(q("SELECT count(*) FROM spaces s WHERE NOT EXISTS (SELECT 1 FROM space_members m WHERE m.space_id = s.id AND m.role = 'owner')"), 0, "round {round}: space without owner");
    assert_eq!(q("SELECT count(*) FROM users u WHERE (SELECT count(*) FROM sync_changes c WHERE c.user_id = u.id AND c.table_name = 'userContext') != 1"), 0, "round {round}: userContext not exactly once");
    assert_eq!(q("SELECT count(*) FROM spaces s WHERE (SELECT count(*) FROM sync_changes c WHERE c.space_id = s.id AND c.table_name = 'kontextDoc') != 1"), 0, "round {round}: kontextDoc not exactly once");
    assert_eq!(q("SELECT count(*) FROM password_credentials p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_random_sigkills() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let client = reqwest::Client::new();

    // One account whose token survives every restart (persisted signing key).
    let p = spawn(&db);
    let r = client
        .post(format!("{}/api/v1/auth/register", p.base))
        .json(&json!({ "email": "base@crash.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    acked.lock().unwrap().users.insert("base@crash.test".into());
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", p.base))
        .json(&json!({ "email": "base@crash.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = login["refreshToken"].as_str().unwrap().to_owned();
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    let mut total_writes = 0;
    for round in 0..kills {
        let mut p = spawn(&db);
        // A fresh access token each round (refresh survives the kills too).
        let r: Value = client
            .post(format!("{}/api/v1/auth/refresh", p.base))
            .json(&json!({ "refreshToken": refresh }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["accessToken"]
            .as_str()
            .expect("refresh token survived")
            .to_owned();
        let workers: Vec<_> = (0..6)
            .map(|w| {
                tokio::spawn(worker(
                    p.base.clone(),
                    token.clone(),
                    (round * 10 + w) as u64,
                    acked.clone(),
                ))
            })
            .collect();
        let wait = rand::thread_rng().gen_range(30..250);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        p.child.kill().unwrap(); // SIGKILL, mid-write
        p.child.wait().unwrap();
        for w in workers {
            let _ = w.await;
        }
        let snapshot = acked.lock().unwrap();
        check_file(&db, &snapshot, round);
        total_writes = snapshot.users.len() + snapshot.spaces.len();
    }
    eprintln!("crash harness: {kills} kills, {total_writes} acknowledged writes, none lost");
    assert!(total_writes > kills, "the load did write something");
}
