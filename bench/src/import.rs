//! The `import` workload: `mana-auth import` of a seeded copy of the
//! PostgreSQL service's database (`tests/upstream/schema.sql` on a cluster
//! of its own, as the import test makes it), timed end to end: connect,
//! read everything in one snapshot, write one SQLite transaction, commit.
//! Run once as the schema's owner role (the vault table's forced row-level
//! security makes the import read vaults user by user) and once as the
//! superuser (one query). Needs Debian's `postgresql` (`./test` installs it).
//!
//! Then the timing of a wrong password on a server over the imported file
//! (scrypt hashes stored, so every check computes argon2id and scrypt):
//! the median login latency of "scrypt hash, wrong password", "argon2 hash,
//! wrong password" and "unknown email", next to a server without scrypt
//! hashes (argon2id only).

#[path = "../../tests/upstream/cluster.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]
mod cluster;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::http::Conn;
use crate::{median, procs, request};

/// A password hash made by Better Auth 1.7.25 (`hashPassword`), given to
/// every seeded account: the import parses hashes, it does not verify them.
const BETTER_AUTH_HASH: &str = "b1ea2e6b9f346d607f5af74a41a24b37:afa46aa6d850b134ad15a36ccee22e5e\
19d9452f8612def0b0607847ce931cab92f0d74362415424762fac637b16ccfa6d8edc2666f13dc0ce5676a8c3fcd5d8";

const KEK_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// Seeds `n` users the way a deployment holds them: each with a password,
/// a personal space, settings and a security event; every tenth with a
/// team space of three members, a pending invitation, an API key and a
/// zero-knowledge vault.
fn seed(c: &cluster::Cluster, n: u64) {
    c.psql("postgres", "CREATE ROLE mana LOGIN PASSWORD 'mana'");
    c.psql("postgres", "CREATE DATABASE mana_platform OWNER mana");
    let schema = include_str!("../../tests/upstream/schema.sql");
    c.psql("mana_platform", &format!("SET ROLE mana;\n{schema}"));
    let id = |prefix: &str, expr: &str| format!("'{prefix}' || lpad(({expr})::text, 31, '0')");
    let u = id("u", "i");
    let sql = format!(
        "SET ROLE mana;
         INSERT INTO auth.users (id, name, email, email_verified)
           SELECT {u}, 'User ' || i, 'user' || i || '@bench.test', true FROM generate_series(1, {n}) i;
         INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password)
           SELECT {a}, {u}, 'credential', {u}, '{BETTER_AUTH_HASH}' FROM generate_series(1, {n}) i;
         INSERT INTO auth.organizations (id, name, slug, metadata)
           SELECT {p}, 'User ' || i, 'user' || i, '{{\"type\": \"personal\", \"tier\": \"public\"}}'
           FROM generate_series(1, {n}) i;
         INSERT INTO auth.members (id, organization_id, user_id, role)
           SELECT {m}, {p}, {u}, 'owner' FROM generate_series(1, {n}) i;
         INSERT INTO auth.organizations (id, name, slug, metadata)
           SELECT {t}, 'Team ' || i, 'team' || i, to_jsonb('{{\"type\": \"team\"}}'::text)
           FROM generate_series(10, {n}, 10) i;
         INSERT INTO auth.members (id, organization_id, user_id, role)
           SELECT {tm}, {t}, 'u' || lpad((i - k)::text, 31, '0'), CASE k WHEN 0 THEN 'owner' ELSE 'member' END
           FROM generate_series(10, {n}, 10) i, generate_series(0, 2) k;
         INSERT INTO auth.invitations (id, organization_id, email, role, status, expires_at)
           SELECT {inv}, {t}, 'guest' || i || '@bench.test', 'member', 'pending', now() + interval '2 days'
           FROM generate_series(10, {n}, 10) i;
         INSERT INTO auth.api_keys (id, user_id, name, key_prefix, key_hash)
           SELECT {k}, {u}, 'key', '0123abcd', encode(sha256(('sk_live_' || i)::bytea), 'hex')
           FROM generate_series(10, {n}, 10) i;
         INSERT INTO auth.user_settings (user_id) SELECT {u} FROM generate_series(1, {n}) i;
         INSERT INTO auth.security_events (user_id, event_type, ip_address, metadata)
           SELECT {u}, 'LOGIN_SUCCESS', '192.0.2.1', '{{}}' FROM generate_series(1, {n}) i;
         RESET ROLE;
         INSERT INTO auth.encryption_vaults (user_id, recovery_wrapped_mk, recovery_iv, zero_knowledge)
           SELECT {u}, translate(encode(sha512(i::text::bytea), 'base64'), E'\\n', ''),
                  encode(substr(sha256(i::text::bytea), 1, 12), 'base64'), true
           FROM generate_series(10, {n}, 10) i;
         ANALYZE;",
        a = id("a", "i"),
        p = id("p", "i"),
        m = id("m", "i"),
        t = id("t", "i"),
        tm = id("x", "i * 3 + k"),
        inv = id("v", "i"),
        k = id("k", "i"),
    );
    c.psql("mana_platform", &sql);
}

/// One timed import into `db`; (seconds, report).
fn timed(bin: &str, url: &str, db: &Path) -> Result<(f64, String), String> {
    let started = Instant::now();
    let out = Command::new(bin)
        .args(["import", "--from", url])
        .env("DATABASE_PATH", db)
        .env("MANA_AUTH_KEK", KEK_B64)
        .env_remove("SOURCE_MANA_AUTH_KEK")
        .env_remove("SOURCE_BETTER_AUTH_SECRET")
        .env("RUST_LOG", "mana_auth=debug")
        .env("LOG_FORMAT", "text")
        .output()
        .map_err(|e| format!("{bin}: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    // The report, without the log lines printed before it.
    let report = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip_while(|l| !l.starts_with("table "))
        .collect::<Vec<_>>()
        .join("\n");
    if !out.status.success() {
        return Err(format!(
            "import failed: {}{}",
            report,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // The import logs the time of each step.
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains("import:") {
            println!(
                "    {}",
                line.split_once("import:").map_or(line, |(_, l)| l).trim()
            );
        }
    }
    Ok((secs, report))
}

/// Login attempts per case in the timing comparison.
const ATTEMPTS: usize = 40;
const PASSWORD: &str = "bench-password-123";

/// Milliseconds of one login with a wrong password.
async fn wrong_login(conn: &mut Conn, email: &str) -> Result<f64, String> {
    let body = json!({ "email": email, "password": "not-the-password-0" });
    let req = request("POST", "/api/v1/auth/login", &[], &body);
    let started = Instant::now();
    let r = conn
        .roundtrip(&req, false)
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 401 {
        return Err(format!("wrong password answered {}", r.status));
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Median wrong-password latencies on a server over `db`: (argon2 user,
/// scrypt user if `scrypt_users`, unknown email), interleaved so load
/// changes hit all three alike.
async fn latencies(bin: &str, db: &Path, scrypt_users: bool) -> Result<Value, String> {
    let server = procs::start_mana(bin, db).await?;
    let mut conn = Conn::open(&server.addr).await.map_err(|e| e.to_string())?;
    for i in 0..ATTEMPTS {
        let body = json!({ "email": format!("argon{i}@bench.test"), "password": PASSWORD });
        let r = conn
            .roundtrip(&request("POST", "/api/v1/auth/register", &[], &body), false)
            .await
            .map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("register answered {}", r.status));
        }
    }
    let (mut argon, mut scrypt, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ATTEMPTS {
        argon.push(wrong_login(&mut conn, &format!("argon{i}@bench.test")).await?);
        if scrypt_users {
            scrypt.push(wrong_login(&mut conn, &format!("user{}@bench.test", i + 1)).await?);
        }
        unknown.push(wrong_login(&mut conn, &format!("nobody{i}@bench.test")).await?);
    }
    server.stop().await;
    Ok(json!({
        "argon2WrongMs": median(argon),
        "scryptWrongMs": (!scrypt.is_empty()).then(|| median(scrypt)),
        "unknownEmailMs": median(unknown),
    }))
}

/// Runs the workload; figures into `out["import"]`.
pub async fn run(bin: &str, users: u64, out: &mut Map<String, Value>) -> Result<(), String> {
    println!("\nimport: seeding {users} users into a PostgreSQL cluster of its own …");
    let c = cluster::Cluster::start();
    let started = Instant::now();
    seed(&c, users);
    println!("import: seeded in {:.1} s", started.elapsed().as_secs_f64());
    let mut figures = Map::new();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut db = dir.path().join("none");
    for (who, url) in [
        ("owner", c.url("mana", Some("mana"), "mana_platform")),
        ("superuser", c.url("postgres", None, "mana_platform")),
    ] {
        db = dir.path().join(format!("imported-as-{who}.db"));
        let (secs, report) = timed(bin, &url, &db)?;
        let imported = report
            .lines()
            .find(|l| l.split_whitespace().next() == Some("users"))
            .unwrap_or("")
            .to_owned();
        println!("import as {who:<9}: {secs:>6.1} s   ({imported})");
        figures.insert(
            who.into(),
            json!({ "seconds": secs, "usersLine": imported, "report": report }),
        );
    }
    figures.insert("users".into(), json!(users));
    drop(c);
    // Timing: over the imported file (scrypt hashes stored) and over a new
    // file (argon2id only).
    let with = latencies(bin, &db, true).await?;
    let without = latencies(bin, &dir.path().join("fresh.db"), false).await?;
    println!("wrong password, median ms   argon2 user  scrypt user  unknown email");
    for (label, v) in [
        ("scrypt hashes stored", &with),
        ("no scrypt hash", &without),
    ] {
        let ms = |k: &str| v[k].as_f64().map_or("–".to_owned(), |x| format!("{x:.1}"));
        println!(
            "  {label:<24} {:>11} {:>12} {:>14}",
            ms("argon2WrongMs"),
            ms("scryptWrongMs"),
            ms("unknownEmailMs")
        );
    }
    figures.insert("timingScryptStored".into(), with);
    figures.insert("timingNoScrypt".into(), without);
    out.insert("import".into(), Value::Object(figures));
    Ok(())
}
