//! Secrets never on the command line (every local user reads argv in `ps`):
//! the secret settings come from the environment or a `*_FILE`, the CLI
//! takes passwords from stdin or a file, and `/metrics` can require a bearer
//! token.

use std::process::Command;

use crate::common::binary;
use crate::process::{spawn_with, Proc};

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn run(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_PATH", db)
        .env("ARGON2_MEMORY_KIB", "64")
        .env("ARGON2_ITERATIONS", "1")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn secret_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flags.db");
    for (flag, value) in [
        ("--mana-auth-kek", KEK),
        ("--mana-service-key", "a-service-key-on-the-command-line"),
        ("--smtp-pass", "smtp-password-on-the-command-line"),
        ("--metrics-token", "metrics-token-on-the-command-line"),
    ] {
        let out = run(&db, &[flag, value, "keys", "rotate"]);
        assert!(!out.status.success(), "{flag} accepted on the command line");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
    let out = run(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "argv@example.com",
            "--password",
            "a-password-on-the-command-line",
        ],
    );
    assert!(!out.status.success(), "a password accepted as a flag");
    let help = run(&db, &["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("MANA_AUTH_KEK") && help.contains("_FILE"),
        "{help}"
    );
}

async fn get(p: &Proc, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", p.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn secrets_come_from_files_and_metrics_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("files.db");
    let key_file = dir.path().join("service-key");
    std::fs::write(&key_file, "service-key-from-a-file-0123\n").unwrap();
    let kek_file = dir.path().join("kek");
    std::fs::write(&kek_file, format!("{KEK}\n")).unwrap();
    let mut p = spawn_with(
        &db,
        &[
            ("MANA_SERVICE_KEY_FILE", key_file.to_str().unwrap()),
            ("MANA_AUTH_KEK_FILE", kek_file.to_str().unwrap()),
            ("METRICS_TOKEN", "metrics-bearer-0123456789"),
        ],
        None,
    );
    let path = "/api/v1/internal/org/none/member/none";
    let keyed = get(
        &p,
        path,
        &[("x-service-key", "service-key-from-a-file-0123")],
    )
    .await;
    assert_eq!(keyed.status(), 200, "the service key from the file");
    let default = get(&p, path, &[("x-service-key", "dev-service-key-change-me")]).await;
    assert_eq!(default.status(), 401);

    assert_eq!(get(&p, "/metrics", &[]).await.status(), 401);
    assert_eq!(
        get(&p, "/metrics", &[("authorization", "Bearer wrong")])
            .await
            .status(),
        401
    );
    let ok = get(
        &p,
        "/metrics",
        &[("authorization", "Bearer metrics-bearer-0123456789")],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("mana_"));

    // The KEK from the file is in use: the vault works (503 without a KEK).
    let client = reqwest::Client::new();
    let body =
        serde_json::json!({ "email": "file@example.com", "password": crate::common::PASSWORD });
    let r = client
        .post(format!("{}/api/v1/auth/register", p.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", p.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let init = client
        .post(format!("{}/api/v1/me/encryption-vault/init", p.base))
        .bearer_auth(login["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    let both = Command::new(binary())
        .env_clear()
        .env("DATABASE_PATH", &db)
        .env("PORT", "0")
        .env("SMTP_PASS", "x")
        .env("SMTP_PASS_FILE", kek_file.to_str().unwrap())
        .output()
        .unwrap();
    assert!(!both.status.success());
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(err.contains("SMTP_PASS or SMTP_PASS_FILE"), "{err}");
    assert!(!err.contains(KEK));
}
