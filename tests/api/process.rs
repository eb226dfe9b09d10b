//! The built binary as an operator runs it: start-up checks, durability
//! across `kill -9`, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use mana_auth::clock::Clock;

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

/// Sends SIGTERM to `p` and waits for it to exit (at most 5 s, a hang
/// guard, not a timing assertion); returns the status, how long it took
/// (the `kill` command included) and when the exit was seen.
pub fn terminate(
    p: &mut Proc,
) -> (
    std::process::ExitStatus,
    Duration,
    chrono::DateTime<chrono::Utc>,
) {
    let pid = p.child.id().to_string();
    let started = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            return (status, started.elapsed(), Clock::system().now());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no exit 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[tokio::test]
async fn an_idle_server_exits_at_once_on_sigterm() {
    // Everything that runs beside the HTTP server has been used: the hashing
    // threads, the reader pool, the writer, the mail worker (a queued
    // verification mail) and the key reloader (reloading every second).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idle.db");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut p = spawn_with(&db, &[("KEY_RELOAD_SECS", "1")], Some(log.clone()));
    let client = reqwest::Client::new();
    for path in ["register", "login"] {
        let r = client
            .post(format!("{}/api/v1/auth/{path}", p.base))
            .json(&json!({ "email": "idle@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The client keeps its keep-alive connection open through the stop.
    let (status, took, exited) = tokio::task::spawn_blocking(move || terminate(&mut p))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let log = log.lock().unwrap().clone();
    let line = |message: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(message)
            })
            .unwrap_or_else(|| panic!("no {message:?} line in\n{log}"))
    };
    let stopped = line("stopped");
    let at = |l: &serde_json::Value| {
        mana_auth::clock::parse_iso(l["timestamp"].as_str().unwrap()).unwrap()
    };
    let signalled = at(&line("shutdown signal received"));
    let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1e3;
    println!(
        "idle server stop: signal -> 'stopped' {:.1} ms, signal -> exit {:.1} ms \
         (with the kill command {:.1} ms)",
        ms(at(&stopped) - signalled),
        ms(exited - signalled),
        took.as_secs_f64() * 1e3
    );
    assert_eq!(stopped["fields"]["checkpoint"], "truncated", "{log}");
    let wal = std::fs::metadata(dir.path().join("idle.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is checkpointed into the file");
}
