//! The admin CLI on the built binary: create an admin, set a role, reset a
//! password, rotate the signing key under a running server, online backup
//! under a writer loop, integrity check, and the first-start hint.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{binary, TestServer, PASSWORD};

pub(crate) fn cli(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_PATH", db)
        .env("ARGON2_MEMORY_KIB", "64")
        .env("ARGON2_ITERATIONS", "1")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn kid_of(token: &str) -> String {
    let part = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_admin_can_sign_in_and_reach_the_admin_api() {
    // Verification is required here: the CLI marks the address verified.
    let t = TestServer::start_with(|c| c.require_email_verification = true).await;
    let db = t.db_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &db,
            &[
                "admin",
                "create",
                "--email",
                "Boss@Example.com",
                "--name",
                "Boss",
                "--admin",
            ],
            Some("a-long-password\n"),
        )
    })
    .await
    .unwrap();
    assert!(ok(&out).contains("boss@example.com"));
    let login = t.login("boss@example.com", "a-long-password").await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["user"]["role"], "admin");
    assert_eq!(login.body["user"]["emailVerified"], true);
    let id = login.body["user"]["id"].as_str().unwrap().to_owned();
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(t.get_auth("/api/v1/admin/stats", &token).await.status, 200);
    // Created exactly as sign-up does: personal space and both bootstrap rows.
    t.personal_space(&id);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM sync_changes WHERE user_id = '{id}'"
        )),
        2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ADMIN_USER_CREATED'"),
        1
    );

    // A taken address, a weak password and a bad role fail cleanly.
    let db = t.db_path.clone();
    let (dup, weak, role) = tokio::task::spawn_blocking(move || {
        (
            cli(
                &db,
                &["admin", "create", "--email", "boss@example.com"],
                Some("another-password\n"),
            ),
            cli(
                &db,
                &["admin", "create", "--email", "new@example.com"],
                Some("short\n"),
            ),
            cli(
                &db,
                &[
                    "admin",
                    "set-role",
                    "--email",
                    "boss@example.com",
                    "--role",
                    "king",
                ],
                None,
            ),
        )
    })
    .await
    .unwrap();
    assert!(
        !dup.status.success()
            && String::from_utf8_lossy(&dup.stderr).contains("already registered")
    );
    assert!(!weak.status.success());
    assert!(!role.status.success());
    assert!(
        !String::from_utf8_lossy(&weak.stderr).contains("short"),
        "no password echoed"
    );

    // set-role and reset-password.
    assert_eq!(t.register("plain@example.com").await.status, 200);
    t.db()
        .execute(
            "UPDATE users SET email_verified = 1 WHERE email = 'plain@example.com'",
            [],
        )
        .unwrap();
    let login = t.login("plain@example.com", PASSWORD).await;
    let refresh = login.body["refreshToken"].as_str().unwrap().to_owned();
    let db = t.db_path.clone();
    let password_file = t.dir.path().join("new-password");
    std::fs::write(&password_file, "brand-new-password\n").unwrap();
    let (promoted, reset) = tokio::task::spawn_blocking(move || {
        (
            cli(
                &db,
                &[
                    "admin",
                    "set-role",
                    "--email",
                    "plain@example.com",
                    "--role",
                    "admin",
                ],
                None,
            ),
            cli(
                &db,
                &[
                    "admin",
                    "reset-password",
                    "--email",
                    "plain@example.com",
                    "--password-file",
                    password_file.to_str().unwrap(),
                ],
                None,
            ),
        )
    })
    .await
    .unwrap();
    ok(&promoted);
    assert!(ok(&reset).contains("1 session"));
    t.post("/api/v1/auth/refresh", json!({ "refreshToken": refresh }))
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    assert_eq!(t.login("plain@example.com", PASSWORD).await.status, 401);
    let l = t.login("plain@example.com", "brand-new-password").await;
    assert_eq!(l.body["user"]["role"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_old_tokens_until_expiry_and_signs_with_the_new_kid() {
    let t = TestServer::start_with(|c| c.key_reload_secs = 1).await;
    let a = t.account("keys@example.com").await;
    let old_kid = kid_of(&a.access);
    let db = t.db_path.clone();
    let out = tokio::task::spawn_blocking(move || cli(&db, &["keys", "rotate"], None))
        .await
        .unwrap();
    let text = ok(&out);
    let new_kid = text
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(';')
        .to_owned();
    assert_ne!(new_kid, old_kid);

    // The running server picks the new key up without a restart.
    for _ in 0..100 {
        if t.state().tokens.active_kid().as_deref() == Some(new_kid.as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let jwks = t.get("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );

    // Old token still valid; new tokens carry the new kid.
    assert_eq!(
        t.get_auth("/api/v1/auth/session", &a.access).await.status,
        200
    );
    let fresh = t
        .post("/api/v1/auth/refresh", json!({ "refreshToken": a.refresh }))
        .await;
    let fresh = fresh.body["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(t.get_auth("/api/v1/auth/session", &fresh).await.status, 200);

    // After the old token's lifetime it is expired and its key unpublished.
    t.clock.advance(chrono::Duration::minutes(16));
    t.get_auth("/api/v1/auth/session", &a.access)
        .await
        .assert_error(401, "TOKEN_EXPIRED");
    let jwks = t.get("/.well-known/jwks.json").await;
    let kids: Vec<String> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, vec![new_kid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_a_writer_loop_is_consistent_and_complete() {
    let t = TestServer::start().await;
    t.account("backup@example.com").await;
    let db_path = t.db_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicI64::new(0));
    let writer = {
        let (stop, committed, db_path) = (stop.clone(), committed.clone(), db_path.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db_path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                conn.execute(
                    "INSERT INTO security_events (id, event_type, metadata, created_at) VALUES (?1, 'WRITER', '{}', '2026-01-01T00:00:00.000Z')",
                    [format!("w{i}")],
                )
                .unwrap();
                committed.store(i, Ordering::SeqCst);
            }
            i
        })
    };
    while committed.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before = committed.load(Ordering::SeqCst);
    let dest = t.dir.path().join("copy.db");
    let (db, d) = (db_path.clone(), dest.clone());
    let out = tokio::task::spawn_blocking(move || cli(&db, &["backup", d.to_str().unwrap()], None))
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let total = writer.join().unwrap();
    assert!(ok(&out).contains("integrity ok"));
    assert!(total > before, "the writer kept going during the backup");

    let copy = rusqlite::Connection::open(&dest).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = copy
        .query_row(
            "SELECT count(*) FROM security_events WHERE event_type = 'WRITER'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        rows >= before,
        "{rows} rows in the copy, {before} committed before it started"
    );
    for i in [1, before / 2, before] {
        let n: i64 = copy
            .query_row(
                "SELECT count(*) FROM security_events WHERE id = ?1",
                [format!("w{i}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "row w{i}");
    }
    assert_eq!(
        copy.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        1
    );
    let version: i64 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, mana_auth::db::migrate::LATEST);
    assert!(
        !t.dir.path().join("copy.db-wal").exists()
            || std::fs::metadata(t.dir.path().join("copy.db-wal"))
                .unwrap()
                .len()
                == 0
    );

    // It refuses to overwrite; `check` reports integrity and the version.
    let (db, d) = (db_path.clone(), dest.clone());
    let (again, check) = tokio::task::spawn_blocking(move || {
        (
            cli(&db, &["backup", d.to_str().unwrap()], None),
            cli(&db, &["check"], None),
        )
    })
    .await
    .unwrap();
    assert!(!again.status.success());
    let report = ok(&check);
    assert!(report.contains("integrity: ok"), "{report}");
    assert!(
        report.contains(&format!(
            "schema version: {}",
            mana_auth::db::migrate::LATEST
        )),
        "{report}"
    );
}

#[test]
fn first_start_without_an_admin_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .env_clear()
        .env("PORT", "0")
        .env("DATABASE_PATH", dir.path().join("x.db"))
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut found = (false, false);
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        found.0 |= line.contains("/admin");
        found.1 |= line.contains("mana-auth admin create --email");
        if found.0 && found.1 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found.0 && found.1,
        "admin page URL and the create command are logged"
    );
}
