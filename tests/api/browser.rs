//! End-to-end in a real browser: headless Chromium (Debian's `chromium`)
//! driven by playwright-core from `tests/browser/` (installed by `./test`
//! with `npm ci --prefix tests/browser`).

use std::path::PathBuf;
use std::process::Command;

use crate::common::{test_config, TestServer};

/// `node` with the given script, or a clear failure when the browser
/// tooling is missing.
pub fn node_script(script: &str, args: &[&str]) -> std::process::Output {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (./test does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: apt-get install chromium (./test does)"
    );
    Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node could not be started")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_registration_and_sign_in_in_chromium() {
    // The page origin must be the relying party: http://localhost:PORT.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("mana-auth.db");
    let mut config = test_config(&db_path);
    config.port = port;
    config.base_url = Some(format!("http://localhost:{port}"));
    let t = TestServer::start_in(dir, db_path, config, mana_auth::clock::Clock::system()).await;
    let a = t.account("browser@example.com").await;
    let base = format!("http://localhost:{port}");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        node_script("passkeys.mjs", &[&base, &a.access, "browser@example.com"])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "browser passkey ceremony took {:?}\n{stdout}",
        started.elapsed()
    );
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        report["residentCredentials"], 1,
        "a discoverable credential was created"
    );
    assert_eq!(t.count("SELECT count(*) FROM passkeys"), 1);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'PASSKEY_LOGIN_SUCCESS'"),
        1
    );
}

/// The shared auth client's passkey, session and security-event calls, made
/// in Chromium as that client makes them (`tests/browser/shared_auth_passkeys.mjs`):
/// `{options, challengeId}` from both options routes, `startRegistration` /
/// `startAuthentication` of @simplewebauthn/browser, `{challengeId,
/// credential, friendlyName}` to verify, and bare arrays from the lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_auth_client_passkey_and_list_calls_in_chromium() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("mana-auth.db");
    let mut config = test_config(&db_path);
    config.port = port;
    config.base_url = Some(format!("http://localhost:{port}"));
    let t = TestServer::start_in(dir, db_path, config, mana_auth::clock::Clock::system()).await;
    let a = t.account("shared@example.com").await;
    let base = format!("http://localhost:{port}");
    let out = tokio::task::spawn_blocking(move || {
        node_script(
            "shared_auth_passkeys.mjs",
            &[&base, &a.access, "shared@example.com"],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let r = &report["result"];
    // listPasskeys: an array, with the name registerPasskey sent.
    assert_eq!(r["passkeys"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["passkeys"][0]["friendlyName"], "Work laptop", "{r}");
    assert_eq!(r["passkeysAfter"][0]["friendlyName"], "Work laptop", "{r}");
    // getSecurityEvents: an array of the upstream's rows.
    let events = r["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event_type"] == "PASSKEY_REGISTERED"),
        "{r}"
    );
    // listSessions: an array holding the caller's session.
    let sessions = r["sessions"].as_array().unwrap();
    assert!(!sessions.is_empty() && sessions[0]["id"].is_string(), "{r}");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'PASSKEY_LOGIN_SUCCESS'"),
        1
    );
}
