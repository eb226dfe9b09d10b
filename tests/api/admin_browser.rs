//! The admin page in a real browser: headless Chromium driven by
//! playwright-core (`tests/browser/admin.mjs`). Screenshots land in
//! `target/browser-artifacts/`.

use std::path::PathBuf;
use std::process::Command;

use chrono::Duration;
use serde_json::{json, Value};

use crate::admin::admin;
use crate::common::{TestServer, PASSWORD};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/browser/<script>` with node against headless Chromium;
/// returns its stdout after asserting success.
pub(crate) async fn run_browser_script(
    script: &str,
    args: Vec<String>,
    env: Vec<(&str, String)>,
) -> String {
    let root = repo();
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (./test does this)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: install the Debian package `chromium` (./test does this)"
    );
    let script = root.join("tests/browser").join(script);
    let artifacts = root.join("target/browser-artifacts");
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .envs(env)
            .env("ARTIFACTS_DIR", &artifacts)
            .env("CHROMIUM", chromium)
            .output()
    })
    .await
    .unwrap()
    .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("browser run took {:?}\n{stdout}", started.elapsed());
    assert!(
        out.status.success(),
        "browser run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_works_in_headless_chromium() {
    let t = TestServer::start().await;
    // 29 days of history for the chart: sign-ups (only up to 8 days ago, so
    // the 7-day counter stays at the 6 accounts below), sign-ins and
    // failures of one regular user, different each day.
    t.clock.advance(Duration::days(-29));
    let mut history = Vec::new();
    let mut historic_users = 0;
    for d in 0..29_i64 {
        let date = t.clock.now().date_naive().to_string();
        let mut ups = if d <= 21 { d % 3 } else { 0 };
        if d == 0 {
            assert_eq!(t.register("regular@example.com").await.status, 200);
            ups += 1;
        }
        for k in 0..(if d == 0 { ups - 1 } else { ups }) {
            let r = t.register(&format!("day{d}-{k}@example.com")).await;
            assert_eq!(r.status, 200);
        }
        historic_users += ups;
        let fails = d % 4;
        for _ in 0..fails {
            let r = t.login("regular@example.com", "wrong-password").await;
            assert_eq!(r.status, 401);
        }
        let ins = (d * 7) % 5;
        for _ in 0..ins {
            assert_eq!(t.login("regular@example.com", PASSWORD).await.status, 200);
        }
        history.push(json!({
            "date": date, "signIns": ins, "failedSignIns": fails, "signUps": ups,
        }));
        t.clock.advance(Duration::days(1));
    }
    let a = admin(&t, "admin@example.com").await;
    let bob = t.account("bob.builder@example.com").await;
    for i in 0..4 {
        t.account(&format!("user{i}@example.com")).await;
    }
    let team = t.create_space(&bob.access, "Builders", "team").await;
    t.add_member(team["id"].as_str().unwrap(), &bob, &a, "member")
        .await;

    run_browser_script(
        "admin.mjs",
        vec![t.base.clone(), a.email.clone(), PASSWORD.to_owned()],
        vec![
            ("EXPECT_TOTAL_USERS", (6 + historic_users).to_string()),
            ("EXPECT_NEW_USERS_7D", "6".to_owned()),
            ("SEARCH_EMAIL", "bob.builder@example.com".to_owned()),
            ("EXPECT_TODAY", t.clock.now().date_naive().to_string()),
            ("EXPECT_DAYS", Value::Array(history).to_string()),
            ("EXPECT_VERSION", env!("CARGO_PKG_VERSION").to_owned()),
        ],
    )
    .await;

    // The tier change made in the browser is stored.
    let tier: String = t
        .db()
        .query_row(
            "SELECT access_tier FROM users WHERE id = ?1",
            [&bob.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tier, "founder");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ADMIN_TIER_CHANGED'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_page_signs_in_and_follows_an_allowed_callback() {
    let t = TestServer::start_at_own_origin(|_| {}).await;
    let a = t.account("login.page@example.com").await;
    run_browser_script(
        "login.mjs",
        vec![
            t.base.clone(),
            a.email.clone(),
            PASSWORD.to_owned(),
            "http://app.mana.test".to_owned(),
        ],
        vec![],
    )
    .await;
    // The sign-in through the page opened a session.
    assert!(
        t.count(&format!(
            "SELECT count(*) FROM sessions WHERE user_id = '{}'",
            a.id
        )) >= 2
    );
}

// ---- personas ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_manages_personas() {
    const KEY: &str = "browser-persona-runner-key-0123";
    let t = TestServer::start_with(|c| {
        c.mana_service_key = mana_auth::config::Secret::new(KEY.to_owned());
    })
    .await;
    let a = admin(&t, "admin@example.com").await;
    let r = t
        .post_auth(
            "/api/v1/admin/personas",
            &a.access,
            serde_json::json!({
                "email": "anna@mana.test", "name": "Anna", "archetype": "adhd-student",
                "systemPrompt": "You are Anna, 21, studying biology.",
                "moduleMix": {"todo": 0.6, "notes": 0.4},
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let anna = r.body["userId"].as_str().unwrap().to_owned();
    let runner = |path: &str, body: serde_json::Value| {
        t.client
            .post(t.url(&format!("/api/v1/internal/personas/{anna}/{path}")))
            .header("x-service-key", KEY)
            .json(&body)
    };
    let actions = serde_json::json!({"actions": [
        {"tickId": "tick-1", "toolName": "todo.create", "result": "ok", "latencyMs": 80},
        {"tickId": "tick-1", "toolName": "notes.search", "result": "error", "errorMessage": "timeout"},
    ]});
    assert_eq!(t.send(runner("actions", actions)).await.status, 200);
    let feedback = serde_json::json!({"feedback": [
        {"tickId": "tick-1", "module": "todo", "rating": 4},
        {"tickId": "tick-1", "module": "notes", "rating": 2, "notes": "zu langsam"},
    ]});
    assert_eq!(t.send(runner("feedback", feedback)).await.status, 200);

    run_browser_script(
        "admin-personas.mjs",
        vec![t.base.clone(), a.email.clone(), PASSWORD.to_owned()],
        vec![("PERSONA_EMAIL", "anna@mana.test".to_owned())],
    )
    .await;

    // The persona made in the page was stored and then erased; Anna stays.
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE email = 'ben@mana.test'"),
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM personas"),
        1,
        "only Anna is left"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ADMIN_PERSONA_SAVED'"),
        2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'ADMIN_DATA_ERASED'"),
        1
    );
}

// ---- retention --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_shows_retention_and_runs_it() {
    let t = TestServer::start().await;
    let old = t.account("old.user@example.com").await;
    let old_events = t.count(&format!(
        "SELECT count(*) FROM security_events WHERE user_id = '{}'",
        old.id
    ));
    assert!(old_events >= 1);
    t.clock.advance(chrono::Duration::days(200));
    let a = admin(&t, "admin@example.com").await;

    run_browser_script(
        "admin-retention.mjs",
        vec![t.base.clone(), a.email.clone(), PASSWORD.to_owned()],
        vec![
            ("EXPECT_EVENTS_DAYS", "180".to_owned()),
            ("EXPECT_MIN_EVENTS_REMOVED", old_events.to_string()),
        ],
    )
    .await;

    // The run from the page removed the old user's events, not the admin's.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM security_events WHERE user_id = '{}'",
            old.id
        )),
        0
    );
    assert!(
        t.count(&format!(
            "SELECT count(*) FROM security_events WHERE user_id = '{}'",
            a.id
        )) >= 1
    );
}
