//! The built binary as an operator runs it: start-up checks, durability
//! across `kill -9`, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::{binary, PASSWORD};

pub struct Proc {
    pub child: Child,
    pub base: String,
}

/// Starts the binary on a free port and waits for its "listening" line.
pub fn spawn(db: &std::path::Path) -> Proc {
    spawn_with(db, &[], None)
}

/// Starts the binary with extra environment; every stdout line is also
/// appended to `log` when given.
pub fn spawn_with(
    db: &std::path::Path,
    env: &[(&str, &str)],
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
) -> Proc {
    let mut child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("DATABASE_PATH", db)
        .env("ARGON2_MEMORY_KIB", "64")
        .env("ARGON2_ITERATIONS", "1")
        .env("LOG_FORMAT", "json")
        .env("REQUIRE_EMAIL_VERIFICATION", "false")
        .env("RATE_LIMIT_AUTH", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let keep = move |line: &str| {
        if let Some(log) = &log {
            let mut l = log.lock().unwrap();
            l.push_str(line);
            l.push('\n');
        }
    };
    let base = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        keep(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            break format!("http://{addr}");
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep(&line);
        }
    });
    Proc { child, base }
}

#[test]
fn production_refuses_to_start_and_names_the_missing_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .env_clear()
        .env("NODE_ENV", "production")
        .env("PORT", "0")
        .env("DATABASE_PATH", dir.path().join("x.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MANA_AUTH_KEK"), "{err}");
    assert!(err.contains("MANA_SERVICE_KEY"), "{err}");
    assert!(
        !dir.path().join("x.db").exists(),
        "nothing is created before the checks pass"
    );

    let out = Command::new(binary())
        .env_clear()
        .env("MANA_ENV", "production")
        .env("MANA_AUTH_KEK", "dG9vLXNob3J0")
        .env("MANA_SERVICE_KEY", "a-long-random-service-key-123")
        .env("BASE_URL", "https://auth.example.com")
        .env("PORT", "0")
        .env("DATABASE_PATH", dir.path().join("x.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MANA_AUTH_KEK is malformed"), "{err}");
    assert!(
        !err.contains("a-long-random-service-key-123"),
        "secrets never printed"
    );
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let mut p = spawn(&db);
        for i in 0..10 {
            let email = format!("crash{round}-{i}@example.com");
            let r = client
                .post(format!("{}/api/v1/auth/register", p.base))
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            acknowledged.push(email);
        }
        p.child.kill().unwrap(); // SIGKILL
        p.child.wait().unwrap();
    }
    let p = spawn(&db);
    for email in &acknowledged {
        let r = client
            .post(format!("{}/api/v1/auth/login", p.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{email} lost after kill -9");
    }
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn sigterm_finishes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut p = spawn(&db);
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/health", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pid = p.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = p.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exited.expect("server did not stop on SIGTERM");
    assert!(status.success(), "{status:?}");
    // A clean stop checkpoints the WAL into the main file.
    let wal = dir.path().join("term.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}
