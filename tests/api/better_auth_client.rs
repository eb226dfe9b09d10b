//! The real `better-auth/client` (npm `better-auth`, pinned in
//! tests/browser/package.json) with its organization, two-factor,
//! magic-link and JWT plugins, run with Node against the server:
//! sign-up/sign-in/session management, every core account route, the mailed
//! flows, organizations, the second factor and magic links
//! (tests/browser/better_auth_client.mjs). The script asks for what only
//! the test can give: a mailed link (from the outbox) and a TOTP code at
//! the server's clock.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::better_auth::ORIGIN;
use crate::common::smtp::SmtpSink;
use crate::common::TestServer;
use crate::two_factor::{align, code, secret_of};

/// Runs the script against `t`, answering its questions; its report.
fn drive(t: &TestServer, sink: &SmtpSink) -> (bool, Value, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/better-auth").exists(),
        "better-auth is not installed: run `npm ci --prefix tests/browser` (./test does)"
    );
    let mut child = Command::new("node")
        .arg(dir.join("better_auth_client.mjs"))
        .args([t.base.as_str(), ORIGIN])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node could not be started");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut report = Value::Null;
    let mut transcript = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        transcript.push_str(&line);
        transcript.push('\n');
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(ask) = msg.get("ask") else {
            report = msg;
            continue;
        };
        let answer = if ask["mail"].is_string() {
            let to = ask["to"].as_str().unwrap();
            let token = tokio::runtime::Handle::current()
                .block_on(crate::better_auth_core::link_token(t, sink, to));
            format!("http://mana.test/?token={token}")
        } else if let Some(uri) = ask["totp"].as_str() {
            // A fresh time step, so no code is a replay of the last one.
            align(t);
            code(t, &secret_of(uri), 0)
        } else {
            panic!("unknown question {ask}");
        };
        writeln!(stdin, "{answer}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    transcript.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report, transcript)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_better_auth_client_drives_sessions_accounts_organizations_2fa_and_magic_links() {
    let (t, sink) = TestServer::start_with_mail(|c| {
        // Every call comes from one address; the limits have their own tests.
        c.rate_limit_auth = 10_000;
    })
    .await;
    let (ok, report, transcript) = tokio::task::block_in_place(|| drive(&t, &sink));
    assert!(ok, "{transcript}");
    assert_eq!(report["failures"], json!([]), "{transcript}");
    // Every step ran (a script that stopped early has no report).
    assert_eq!(report["steps"], 78, "{transcript}");
    // What the client did is what the server holds.
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'ben@example.com'"),
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'ana.new@example.com'"),
        1
    );
}
