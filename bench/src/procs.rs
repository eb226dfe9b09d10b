//! Starting and measuring the servers under test: mana-auth's release
//! binary on a fresh data directory, and the Better Auth peer (node). Time
//! from exec to the first healthy `/health`, RSS from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::http::{build, Conn};

/// A server process; killed when dropped.
pub struct Proc {
    pub child: tokio::process::Child,
    pub addr: String,
    /// Milliseconds from exec to the first 200 from `/health`.
    pub ready_ms: f64,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Stops the process with SIGKILL and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A free loopback port (bound, read and released).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Polls `GET /health` every 0.5 ms until it answers 200.
async fn wait_healthy(
    addr: &str,
    child: &mut tokio::process::Child,
    limit: Duration,
) -> Result<(), String> {
    let mut req = Vec::new();
    build("GET", "/health", &[], &[], &mut req);
    let until = Instant::now() + limit;
    loop {
        if let Ok(mut c) = Conn::open(addr).await {
            if let Ok(r) = c.roundtrip(&req, false).await {
                if r.status == 200 {
                    return Ok(());
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server exited before it was healthy: {status}"));
        }
        if Instant::now() > until {
            return Err(format!("{addr} not healthy after {limit:?}"));
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// The environment the bench gives mana-auth: rate limits and the sign-up
/// cap off (the driver sends everything from one IP), no e-mail
/// verification before login (accounts are registered over HTTP and have
/// no inbox), request logs off (the peer writes none), and glibc's
/// `MALLOC_ARENA_MAX=2` as the shipped service unit sets it.
/// Everything else is the default: argon2id m=19456 t=2 p=1,
/// SQLITE_SYNCHRONOUS=full.
pub fn mana_env(cmd: &mut tokio::process::Command, db: &Path) {
    cmd.env("DATABASE_PATH", db)
        .env("RUST_LOG", "warn")
        .env("REQUIRE_EMAIL_VERIFICATION", "false")
        .env("RATE_LIMIT_AUTH", "0")
        .env("RATE_LIMIT_VALIDATE", "0")
        .env("MAX_DAILY_SIGNUPS", "0")
        .env("MAIL_LOG_LINKS", "false")
        .env("MALLOC_ARENA_MAX", "2")
        .env_remove("NODE_ENV")
        .env_remove("MANA_ENV");
}

/// Starts `bin` with the bench environment on `db`.
pub async fn start_mana(bin: &str, db: &Path) -> Result<Proc, String> {
    let port = free_port()?;
    let mut cmd = tokio::process::Command::new(bin);
    mana_env(&mut cmd, db);
    cmd.env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e} (build it with `cargo build --release`)"))?;
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&addr, &mut child, Duration::from_secs(20)).await?;
    Ok(Proc {
        child,
        addr,
        ready_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Runs a `mana-auth` subcommand (admin create) on `db`.
pub async fn mana_cli(bin: &str, db: &Path, args: &[&str]) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(bin);
    mana_env(&mut cmd, db);
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {bin}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{bin} {}: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The admin account of every bench file.
pub const ADMIN_EMAIL: &str = "admin@bench.test";

/// Makes `ADMIN_EMAIL` (password `PASSWORD`) an admin of `db` with the
/// CLI; `dir` holds the password file (passwords never go on a command
/// line).
pub async fn make_admin(bin: &str, db: &Path, dir: &Path) -> Result<(), String> {
    let password_file = dir.join("admin-password");
    std::fs::write(&password_file, crate::PASSWORD).map_err(|e| e.to_string())?;
    mana_cli(
        bin,
        db,
        &[
            "admin",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--password-file",
            &password_file.to_string_lossy(),
            "--admin",
        ],
    )
    .await?;
    Ok(())
}

/// Installs the peer's packages when `node_modules` is missing.
pub async fn peer_install(dir: &Path) -> Result<(), String> {
    if dir.join("node_modules").is_dir() {
        return Ok(());
    }
    eprintln!(
        "installing the peer: npm ci --prefix {} (builds better-sqlite3, takes a few minutes)",
        dir.display()
    );
    let status = tokio::process::Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .await
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "npm ci --prefix {} failed: {status}",
            dir.display()
        ))
    }
}

/// Starts the Better Auth peer with its SQLite file in `data`.
pub async fn start_peer(dir: &Path, data: &Path) -> Result<Proc, String> {
    let port = free_port()?;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("server.mjs"))
        .env("PORT", port.to_string())
        .env("PEER_DATA_DIR", data)
        .env("NODE_ENV", "production")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start node: {e}"))?;
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&addr, &mut child, Duration::from_secs(60)).await?;
    Ok(Proc {
        child,
        addr,
        ready_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident set size now, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:").unwrap_or(0)
}

/// Peak resident set size since start or the last `reset_peak`, KiB.
pub fn peak_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:").unwrap_or(0)
}

/// Resets VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`);
/// false when the kernel refuses (then the peak covers the whole run).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A directory for one server's files, removed on drop.
pub fn temp_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("mana-bench-")
        .tempdir()
        .map_err(|e| e.to_string())
}

/// The database path inside `dir`.
pub fn db_in(dir: &Path) -> PathBuf {
    dir.join("mana-auth.db")
}

/// Watches RSS after a load for `limit`, every 100 ms: when it first went
/// under `under_kib` (ms, or null) and where it ended.
pub async fn settle(pid: u32, under_kib: u64, limit: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    let start = rss_kib(pid);
    let mut under_ms = None;
    let mut last = start;
    while t0.elapsed() < limit {
        last = rss_kib(pid);
        if last < under_kib && under_ms.is_none() {
            under_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serde_json::json!({ "startKiB": start, "underKiB": under_kib, "underAfterMs": under_ms,
                        "endKiB": last, "watchedMs": t0.elapsed().as_secs_f64() * 1000.0 })
}
