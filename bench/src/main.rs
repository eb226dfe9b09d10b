//! mana-bench: starts the release `mana-auth` on a fresh data dir, drives it
//! over loopback with a bounded load driver and prints figures (a table and
//! JSON). Also measures the argon2id floor with the shipped parameters.
//!
//! `cargo build --release && cargo run --release -p mana-bench -- --help`

mod http;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use http::Conn;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks for mana-auth; prints figures, asserts nothing")]
struct Args {
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/mana-auth")]
    bin: String,
    /// Workloads to run (comma list): floor, bootstrap, validate, session,
    /// refresh, login, register, pull.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "floor,bootstrap,validate,session,refresh,login,register,pull"
    )]
    workloads: Vec<String>,
    /// Concurrency levels (comma list).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Seconds per workload and concurrency.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Write the JSON result here too.
    #[arg(long)]
    json: Option<String>,
}

/// Distinguishes the runs of one bench process (sign-up emails stay unique).
static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Result of one workload at one concurrency.
struct Figure {
    workload: String,
    concurrency: usize,
    requests: u64,
    errors: u64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Server {
    child: tokio::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

async fn start_server(bin: &str) -> Result<Server, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(bin)
        .env("PORT", "0")
        .env("DATABASE_PATH", dir.path().join("bench.db"))
        .env("RUST_LOG", "warn,mana_auth=info")
        .env("REQUIRE_EMAIL_VERIFICATION", "false")
        .env("RATE_LIMIT_AUTH", "0")
        .env("RATE_LIMIT_VALIDATE", "0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e} (build it with `cargo build --release`)"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("server exited")?;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect::<String>();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server {
        child,
        addr,
        _dir: dir,
    })
}

/// A signed-in bench user.
#[derive(Clone)]
struct User {
    email: String,
    access: String,
    refresh: String,
}

const PASSWORD: &str = "bench-password-123";

async fn call(
    conn: &mut Conn,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Value, String> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let payload = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let (status, bytes) = conn
        .send(method, path, &headers, &payload)
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == 200 {
        Ok(v)
    } else {
        Err(format!("{method} {path}: {status} {v}"))
    }
}

async fn seed(addr: &str, n: usize) -> Result<Vec<User>, String> {
    let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
    let mut users = Vec::new();
    for i in 0..n {
        let email = format!("seed{i}@bench.test");
        call(
            &mut conn,
            "POST",
            "/api/v1/auth/register",
            None,
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
        let l = call(
            &mut conn,
            "POST",
            "/api/v1/auth/login",
            None,
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
        users.push(User {
            email,
            access: l["accessToken"].as_str().unwrap_or_default().to_owned(),
            refresh: l["refreshToken"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(users)
}

/// Checks a 200 body for the workload's expected shape.
fn body_ok(workload: &str, v: &Value) -> bool {
    match workload {
        "bootstrap" => v["ok"] == true && v["bootstrapped"]["userContext"] == false,
        "validate" => v["valid"] == true,
        "session" => v["user"]["id"].is_string(),
        "refresh" | "login" => v["accessToken"].is_string(),
        "register" => v["user"]["id"].is_string(),
        "pull" => v["changes"].is_array(),
        _ => false,
    }
}

async fn one_request(
    conn: &mut Conn,
    workload: &str,
    user: &User,
    seq: u64,
    worker: usize,
) -> bool {
    let (method, path, token, body) = match workload {
        "bootstrap" => (
            "POST",
            "/api/v1/me/bootstrap-singletons".to_owned(),
            Some(&user.access),
            Value::Null,
        ),
        "validate" => (
            "POST",
            "/api/v1/auth/validate".to_owned(),
            None,
            json!({ "token": user.access }),
        ),
        "session" => (
            "GET",
            "/api/v1/auth/session".to_owned(),
            Some(&user.access),
            Value::Null,
        ),
        "refresh" => (
            "POST",
            "/api/v1/auth/refresh".to_owned(),
            None,
            json!({ "refreshToken": user.refresh }),
        ),
        "login" => (
            "POST",
            "/api/v1/auth/login".to_owned(),
            None,
            json!({ "email": user.email, "password": PASSWORD }),
        ),
        "register" => (
            "POST",
            "/api/v1/auth/register".to_owned(),
            None,
            json!({ "email": format!("new{worker}-{seq}-{}-{}@bench.test", std::process::id(), RUN.load(std::sync::atomic::Ordering::Relaxed)), "password": PASSWORD }),
        ),
        "pull" => (
            "GET",
            "/sync/kontext/pull".to_owned(),
            Some(&user.access),
            Value::Null,
        ),
        _ => return false,
    };
    match call(conn, method, &path, token.map(String::as_str), &body).await {
        Ok(v) => body_ok(workload, &v),
        Err(e) => {
            if std::env::var_os("MANA_BENCH_DEBUG").is_some() {
                eprintln!("{workload}: {e}");
            }
            false
        }
    }
}

async fn run_load(
    addr: &str,
    workload: &str,
    users: &[User],
    concurrency: usize,
    seconds: f64,
) -> Result<Figure, String> {
    let users = Arc::new(users.to_vec());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let users = users.clone();
        let addr = addr.to_owned();
        let workload = workload.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.map_err(|e| e.to_string())?;
            let user = users[worker % users.len()].clone();
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                if !one_request(&mut conn, &workload, &user, seq, worker).await {
                    errors += 1;
                    conn = Conn::open(&addr).await.map_err(|e| e.to_string())?;
                }
                lat.push(t0.elapsed().as_micros() as u32);
                seq += 1;
            }
            Ok::<_, String>((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.map_err(|e| e.to_string())??;
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(Figure {
        workload: workload.to_owned(),
        concurrency,
        requests: all.len() as u64,
        errors,
        per_sec: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// argon2id verifies per second with the shipped parameters, `threads` at once.
fn argon2_floor(threads: usize, seconds: f64) -> Result<(f64, f64), String> {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    let params = argon2::Params::new(19456, 2, 1, None).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"bench-salt-16byt").map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let phc = argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let one_hash_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let phc = phc.clone();
            let argon = argon.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                if let Ok(parsed) = PasswordHash::new(&phc) {
                    while Instant::now() < deadline {
                        if argon.verify_password(PASSWORD.as_bytes(), &parsed).is_ok() {
                            n += 1;
                        }
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    Ok((total as f64 / started.elapsed().as_secs_f64(), one_hash_ms))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let mut out = serde_json::Map::new();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if args.workloads.iter().any(|w| w == "floor") {
        let (one, hash_ms) = argon2_floor(1, args.seconds)?;
        let (all, _) = argon2_floor(cores, args.seconds)?;
        println!("argon2id m=19456 t=2 p=1: one hash {hash_ms:.1} ms; verifies/s 1 thread {one:.1}, {cores} threads {all:.1}");
        out.insert("floor".into(), json!({ "oneHashMs": hash_ms, "verifiesPerSec1": one, "verifiesPerSecAll": all, "threads": cores }));
    }
    let size = std::fs::metadata(&args.bin).map(|m| m.len()).unwrap_or(0);
    let t0 = Instant::now();
    let server = start_server(&args.bin).await?;
    let mut probe = Conn::open(&server.addr).await.map_err(|e| e.to_string())?;
    call(&mut probe, "GET", "/health", None, &Value::Null).await?;
    let ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = server.child.id().and_then(rss_kib).unwrap_or(0);
    println!(
        "binary {:.1} MiB; exec to healthy {ready_ms:.0} ms; idle RSS {:.1} MiB",
        size as f64 / 1048576.0,
        idle as f64 / 1024.0
    );
    out.insert(
        "footprint".into(),
        json!({ "binaryBytes": size, "readyMs": ready_ms, "idleRssKiB": idle }),
    );

    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let users = seed(&server.addr, max_c.max(1)).await?;
    let mut figures = Vec::new();
    println!(
        "\n{:<10} {:>5} {:>9} {:>7} {:>10} {:>9} {:>9}",
        "workload", "conc", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for w in args.workloads.iter().filter(|w| *w != "floor") {
        for &c in &args.concurrency {
            let f = run_load(&server.addr, w, &users, c, args.seconds).await?;
            println!(
                "{:<10} {:>5} {:>9} {:>7} {:>10.1} {:>9.2} {:>9.2}",
                f.workload, f.concurrency, f.requests, f.errors, f.per_sec, f.p50_ms, f.p99_ms
            );
            figures.push(json!({ "workload": f.workload, "concurrency": f.concurrency, "requests": f.requests,
                "errors": f.errors, "reqPerSec": f.per_sec, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms }));
        }
    }
    let peak = server.child.id().and_then(rss_kib).unwrap_or(0);
    out.insert("results".into(), Value::Array(figures));
    out.insert("rssAfterKiB".into(), json!(peak));
    let doc = Value::Object(out);
    if let Some(path) = args.json {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
    }
    println!("\n{doc}");
    Ok(())
}
