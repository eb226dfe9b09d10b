//! The dashboard's chart and system panel: `/api/v1/admin/activity` and
//! `/api/v1/admin/system`, who may read them, and that their figures are
//! the real ones.

use chrono::Duration;
use serde_json::json;

use crate::admin::admin;
use crate::common::{TestServer, PASSWORD};

const ROUTES: [&str; 2] = ["/api/v1/admin/activity", "/api/v1/admin/system"];

#[tokio::test]
async fn only_a_live_admin_reads_the_chart_and_the_system_panel() {
    let t = TestServer::start().await;
    let user = t.account("plain@example.com").await;
    let boss = admin(&t, "boss@example.com").await;
    for path in ROUTES {
        t.get(path).await.assert_error(401, "UNAUTHORIZED");
        t.get_auth(path, "not-a-jwt")
            .await
            .assert_error(401, "UNAUTHORIZED");
        t.get_auth(path, &user.access)
            .await
            .assert_error(403, "FORBIDDEN");
        // A refresh token is not an access token.
        t.get_auth(path, &boss.refresh)
            .await
            .assert_error(401, "UNAUTHORIZED");
        assert_eq!(t.get_auth(path, &boss.access).await.status, 200);
    }
    // The session cookie alone never reaches the admin API.
    let cookie = t
        .login(&boss.email, PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let r = t
        .send(
            t.client
                .get(t.url(ROUTES[1]))
                .header("cookie", format!("mana.session_token={cookie}")),
        )
        .await;
    r.assert_error(401, "UNAUTHORIZED");
    // After sign-out the admin's still-unexpired access token is refused.
    let out = t
        .post_auth("/api/v1/auth/logout", &boss.access, json!({}))
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    for path in ROUTES {
        t.get_auth(path, &boss.access)
            .await
            .assert_error(401, "TOKEN_EXPIRED");
    }
    // Malformed ranges are a clean 400 and change nothing.
    let fresh = t.login(&boss.email, PASSWORD).await;
    let token = fresh.body["accessToken"].as_str().unwrap();
    for q in ["0", "91", "-1", "abc", "1e3", "99999999999"] {
        t.get_auth(&format!("{}?days={q}", ROUTES[0]), token)
            .await
            .assert_error(400, "VALIDATION");
    }
}

#[tokio::test]
async fn the_chart_counts_each_utc_day_and_has_one_point_per_day() {
    let t = TestServer::start().await;
    let boss = admin(&t, "boss@example.com").await;
    // Day 1 (today): two sign-ups and their sign-ins, one failure.
    t.account("a@example.com").await;
    assert_eq!(t.login("a@example.com", "wrong-password").await.status, 401);
    // Two days later: one more sign-up, a sign-in and two failures.
    t.clock.advance(Duration::days(2));
    t.account("b@example.com").await;
    for _ in 0..2 {
        assert_eq!(t.login("b@example.com", "wrong-password").await.status, 401);
    }
    // A persona's sign-up, sign-in and failure count nowhere (people only,
    // as in /stats).
    let p = t.account("persona@example.com").await;
    assert_eq!(
        t.login("persona@example.com", "wrong-password")
            .await
            .status,
        401
    );
    t.db()
        .execute("UPDATE users SET kind = 'persona' WHERE id = ?1", [&p.id])
        .unwrap();
    let fresh = t.login(&boss.email, PASSWORD).await;
    let token = fresh.body["accessToken"].as_str().unwrap();
    let r = t.get_auth(ROUTES[0], token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let days = r.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "30 days by default, today last");
    let today = t.clock.now().date_naive();
    assert_eq!(days[29]["date"], today.to_string());
    assert_eq!(
        days[0]["date"],
        (today - Duration::days(29)).to_string(),
        "oldest first, consecutive"
    );
    let day = |i: usize| {
        (
            days[i]["signIns"].as_i64().unwrap(),
            days[i]["failedSignIns"].as_i64().unwrap(),
            days[i]["signUps"].as_i64().unwrap(),
        )
    };
    // The boss signed up and in on day 1 too.
    assert_eq!(day(27), (2, 1, 2));
    assert_eq!(day(28), (0, 0, 0));
    assert_eq!(day(29), (2, 2, 1), "b's sign-in and the boss's fresh one");
    let r = t.get_auth(&format!("{}?days=7", ROUTES[0]), token).await;
    assert_eq!(r.body["days"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_panel_shows_the_file_the_queue_the_key_and_the_pool() {
    // A mail server that is down keeps mail pending.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestServer::start_with(move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = port;
    })
    .await;
    let boss = admin(&t, "boss@example.com").await;
    let r = t.get_auth(ROUTES[1], &boss.access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = &r.body;
    assert_eq!(s["process"]["version"], env!("CARGO_PKG_VERSION"));
    let db = &s["database"];
    assert_eq!(
        db["schemaVersion"], db["latestSchemaVersion"],
        "a fresh file is at the latest schema"
    );
    let on_disk = std::fs::metadata(&t.db_path).unwrap().len();
    assert_eq!(db["sizeBytes"].as_u64().unwrap(), on_disk);
    assert!(
        db["walBytes"].as_u64().unwrap() > 0,
        "the WAL holds commits"
    );
    assert_eq!(db["synchronous"], "full");
    assert!(s["backup"].is_null(), "no backup taken yet");
    assert!(s["replication"].is_null(), "no replicator beside the file");
    assert_eq!(s["mail"]["smtp"], true);
    assert_eq!(s["mail"]["pending"], 1, "the boss's verification mail");
    let jwks = t.get("/.well-known/jwks.json").await;
    assert_eq!(s["signingKey"]["kid"], jwks.body["keys"][0]["kid"]);
    assert!(
        s["signingKey"]["nextRotation"].is_null(),
        "rotation is manual"
    );
    let pool = &s["hashPool"];
    assert!(pool["threads"].as_u64().unwrap() >= 1);
    assert_eq!(pool["running"], 0);
    assert_eq!(pool["queued"], 0);
    assert_eq!(pool["completed"], 2, "one sign-up and one sign-in hashed");

    // Time passes: uptime, key age and the oldest pending mail grow with it.
    t.clock.advance(Duration::hours(3));
    let fresh = t.login(&boss.email, PASSWORD).await;
    let token = fresh.body["accessToken"].as_str().unwrap().to_owned();
    let r = t.get_auth(ROUTES[1], &token).await;
    let s = &r.body;
    assert!(s["process"]["uptimeSec"].as_i64().unwrap() >= 3 * 3600);
    assert!(s["signingKey"]["ageSec"].as_i64().unwrap() >= 3 * 3600);
    assert!(
        s["mail"]["oldestPendingAgeSec"].as_i64().unwrap() >= 3 * 3600,
        "{s}"
    );

    // A backup taken with the CLI while the server runs shows up.
    let dest = t.dir.path().join("snapshot.db");
    let (db_path, dest2) = (t.db_path.clone(), dest.clone());
    let out = tokio::task::spawn_blocking(move || {
        crate::admin_cli::cli(&db_path, &["backup", dest2.to_str().unwrap()], None)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = t.get_auth(ROUTES[1], &token).await.body;
    assert_eq!(s["backup"]["file"], dest.display().to_string());
    assert_eq!(
        s["backup"]["bytes"].as_u64().unwrap(),
        std::fs::metadata(&dest).unwrap().len()
    );
    // The backup itself does not contain its own record.
    let copy = rusqlite::Connection::open(&dest).unwrap();
    let n: i64 = copy
        .query_row(
            "SELECT count(*) FROM security_events WHERE event_type = 'BACKUP_CREATED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}
