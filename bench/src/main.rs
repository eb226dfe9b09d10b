//! mana-bench: starts the release `mana-auth` on a fresh data dir, drives it
//! over loopback with its own bounded load driver and prints figures (a
//! table, and JSON to a file). Measures the argon2id floor with the shipped
//! parameters in the same run, the footprint (binary, exec → healthy, RSS,
//! login latency at 1 k vs 1 M accounts) and, with `--peer`, the same
//! workloads against a Better Auth 1.7 server (bench/peer/) side by side.
//! Figures are printed, never asserted.
//!
//! `cargo build --release && cargo run --release -p mana-bench -- --help`

mod driver;
mod http;
mod noop;
mod procs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

use driver::{Check, Figure, Kind};
use http::{build, Conn};
use procs::Proc;

/// Every part of a full run, in order.
const ALL: &str =
    "selfcheck,floor,footprint,register,login,refresh,validate,session,bootstrap,pull,stats,scale";

#[derive(Parser, Debug)]
#[command(about = "Benchmarks for mana-auth; prints figures, asserts nothing")]
struct Args {
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/mana-auth")]
    bin: String,
    /// What to run (comma list): selfcheck (driver vs a no-op server),
    /// floor (argon2id), footprint (exec → healthy, RSS), the HTTP
    /// workloads register, login, refresh, validate, session, bootstrap,
    /// pull, stats, and scale (login p50 at 1 k vs --scale-users accounts).
    #[arg(long, value_delimiter = ',', default_value = ALL)]
    workloads: Vec<String>,
    /// Concurrency levels (comma list).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Seconds per workload and concurrency.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Also start the Better Auth peer (bench/peer, `npm ci` when needed)
    /// and run its workloads side by side.
    #[arg(long)]
    peer: bool,
    /// The peer's folder.
    #[arg(long, default_value = "bench/peer")]
    peer_dir: PathBuf,
    /// Accounts in the big file of the scale check (1 k is the small one).
    #[arg(long, default_value_t = 1_000_000)]
    scale_users: u64,
    /// Only the driver self-check (same as `--workloads selfcheck`).
    #[arg(long)]
    self_check: bool,
    /// Where the JSON result goes.
    #[arg(long, default_value = "target/mana-bench.json")]
    json: PathBuf,
}

const PASSWORD: &str = "bench-password-123";
/// Accounts created over HTTP for the token workloads (one per connection
/// at the highest concurrency).
const ACCOUNTS: usize = 32;
/// Starts per exec → healthy figure (the median is reported).
const STARTS: usize = 5;
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.self_check {
        args.workloads = vec!["selfcheck".into()];
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mana-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mana-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wants(args: &Args, part: &str) -> bool {
    args.workloads.iter().any(|w| w == part)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One request with a JSON answer (setup only, not measured).
async fn call(
    conn: &mut Conn,
    method: &str,
    path: &str,
    headers: &[String],
    body: &Value,
    want_cookie: bool,
) -> Result<(Value, Option<String>), String> {
    let payload = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let mut req = Vec::new();
    build(method, path, headers, &payload, &mut req);
    let r = conn
        .roundtrip(&req, want_cookie)
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let v: Value = serde_json::from_slice(r.body).unwrap_or(Value::Null);
    if r.status == 200 {
        Ok((v, r.cookie))
    } else {
        Err(format!("{method} {path}: {} {v}", r.status))
    }
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

fn request(method: &str, path: &str, headers: &[String], body: &Value) -> Vec<u8> {
    let payload = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let mut out = Vec::new();
    build(method, path, headers, &payload, &mut out);
    out
}

/// A signed-in mana-auth account.
struct Account {
    email: String,
    access: String,
    refresh: String,
}

async fn mana_accounts(addr: &str, n: usize) -> Result<Vec<Account>, String> {
    let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("u{i}@bench.test");
        let creds = json!({ "email": email, "password": PASSWORD });
        call(
            &mut conn,
            "POST",
            "/api/v1/auth/register",
            &[],
            &creds,
            false,
        )
        .await?;
        let (l, _) = call(&mut conn, "POST", "/api/v1/auth/login", &[], &creds, false).await?;
        out.push(Account {
            email,
            access: l["accessToken"].as_str().unwrap_or_default().to_owned(),
            refresh: l["refreshToken"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

/// The mana-auth workload `name`, or None when it is not one.
fn mana_kind(name: &str, accts: &[Account], admin: &str, tag: &str) -> Option<Kind> {
    let each = |f: &dyn Fn(&Account) -> Vec<u8>| accts.iter().map(f).collect::<Vec<_>>();
    let fixed = |fixed: Vec<Vec<u8>>, check| Some(Kind::Fixed { fixed, check });
    match name {
        "register" => Some(Kind::Register {
            path: "/api/v1/auth/register",
            headers: Vec::new(),
            tag: tag.to_owned(),
            password: PASSWORD.into(),
            with_name: false,
        }),
        "login" => fixed(
            each(&|a| {
                request(
                    "POST",
                    "/api/v1/auth/login",
                    &[],
                    &json!({ "email": a.email, "password": PASSWORD }),
                )
            }),
            Check::AccessToken,
        ),
        "refresh" => Some(Kind::RefreshChain {
            tokens: std::rc::Rc::new(std::cell::RefCell::new(
                accts.iter().map(|a| a.refresh.clone()).collect(),
            )),
        }),
        "validate" => fixed(
            each(&|a| {
                request(
                    "POST",
                    "/api/v1/auth/validate",
                    &[],
                    &json!({ "token": a.access }),
                )
            }),
            Check::Valid,
        ),
        "session" => fixed(
            each(&|a| {
                request(
                    "GET",
                    "/api/v1/auth/session",
                    &bearer(&a.access),
                    &Value::Null,
                )
            }),
            Check::UserId,
        ),
        "bootstrap" => fixed(
            each(&|a| {
                request(
                    "POST",
                    "/api/v1/me/bootstrap-singletons",
                    &bearer(&a.access),
                    &Value::Null,
                )
            }),
            Check::Bootstrapped,
        ),
        "pull" => fixed(
            each(&|a| {
                request(
                    "GET",
                    "/sync/kontext/pull",
                    &bearer(&a.access),
                    &Value::Null,
                )
            }),
            Check::Changes,
        ),
        "stats" => fixed(
            vec![request(
                "GET",
                "/api/v1/admin/stats",
                &bearer(admin),
                &Value::Null,
            )],
            Check::Stats,
        ),
        _ => None,
    }
}

/// Display names of the workloads.
fn title(name: &str) -> &str {
    match name {
        "register" => "register",
        "login" => "login",
        "refresh" => "refresh",
        "validate" => "/validate",
        "session" => "/session (Bearer)",
        "bootstrap" => "bootstrap (done)",
        "pull" => "sync pull",
        "stats" => "admin stats",
        "peer-register" => "sign-up/email",
        "peer-login" => "sign-in/email+token",
        "peer-token" => "token (cookie)",
        "peer-session" => "get-session (cookie)",
        other => other,
    }
}

/// The peer workload a mana-auth workload is compared with.
fn peer_of(name: &str) -> Option<&'static str> {
    match name {
        "register" => Some("peer-register"),
        "login" => Some("peer-login"),
        "refresh" => Some("peer-token"),
        "validate" | "session" | "bootstrap" => Some("peer-session"),
        _ => None,
    }
}

const HEADER: &str = "workload              conc  requests errors     req/s   p50 ms   p99 ms";

fn row(name: &str, c: usize, f: &Figure) -> String {
    format!(
        "{:<21} {:>4} {:>9} {:>6} {:>9.1} {:>8.2} {:>8.2}",
        title(name),
        c,
        f.requests,
        f.errors,
        f.per_sec,
        f.p50_ms,
        f.p99_ms
    )
}

fn figure_json(name: &str, c: usize, f: &Figure) -> Value {
    json!({ "workload": name, "concurrency": c, "requests": f.requests, "errors": f.errors,
            "reqPerSec": f.per_sec, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms,
            "driverCpuShare": f.driver_cpu })
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

/// Median exec → healthy over `STARTS` starts, each on a fresh directory,
/// and over as many restarts on an existing file.
async fn mana_start_times(bin: &str) -> Result<(Vec<f64>, Vec<f64>), String> {
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    for _ in 0..STARTS {
        let dir = procs::temp_dir()?;
        let db = procs::db_in(dir.path());
        let p = procs::start_mana(bin, &db).await?;
        fresh.push(p.ready_ms);
        p.stop().await;
        let p = procs::start_mana(bin, &db).await?;
        again.push(p.ready_ms);
        p.stop().await;
    }
    Ok((fresh, again))
}

struct Ctx {
    args: Args,
    out: serde_json::Map<String, Value>,
    /// (workload, concurrency, figure) of mana-auth and of the peer.
    ours: Vec<(String, usize, Figure)>,
    peer: Vec<(String, usize, Figure)>,
    floor: Option<f64>,
    /// Floor measurements of this run: (1 thread, all threads, one hash ms).
    floors: Vec<(f64, f64, f64)>,
}

impl Ctx {
    fn say(&mut self, line: String) {
        println!("{line}");
    }

    fn find(list: &[(String, usize, Figure)], name: &str, c: usize) -> Option<Figure> {
        list.iter()
            .find(|(n, k, _)| n == name && *k == c)
            .map(|(_, _, f)| f.clone())
    }
}

async fn run(args: Args) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut ctx = Ctx {
        args,
        out: serde_json::Map::new(),
        ours: Vec::new(),
        peer: Vec::new(),
        floor: None,
        floors: Vec::new(),
    };
    ctx.say(format!(
        "mana-bench {} · {cores} cores · {} s per workload and concurrency",
        today(),
        ctx.args.seconds
    ));
    ctx.out.insert("date".into(), json!(today()));
    ctx.out.insert("cores".into(), json!(cores));
    ctx.out
        .insert("secondsPerRun".into(), json!(ctx.args.seconds));

    if wants(&ctx.args, "selfcheck") {
        self_check(&mut ctx).await?;
    }
    let mut footprint = serde_json::Map::new();
    if wants(&ctx.args, "footprint") {
        let bin = ctx.args.bin.clone();
        let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
        let (fresh, again) = mana_start_times(&bin).await?;
        footprint.insert("binaryBytes".into(), json!(size));
        footprint.insert("readyMsFresh".into(), json!(fresh));
        footprint.insert("readyMsExisting".into(), json!(again));
        footprint.insert("readyMsFreshMedian".into(), json!(median(fresh)));
        footprint.insert("readyMsExistingMedian".into(), json!(median(again)));
    }
    mana_workloads(&mut ctx, &mut footprint).await?;
    if wants(&ctx.args, "floor") && ctx.floors.is_empty() {
        measure_floor(&mut ctx)?;
    }
    finish_floor(&mut ctx);
    let mut peer_fp = serde_json::Map::new();
    if ctx.args.peer {
        peer_workloads(&mut ctx, &mut peer_fp).await?;
    }
    if wants(&ctx.args, "scale") && ctx.args.scale_users > 0 {
        scale(&mut ctx, &mut footprint).await?;
    }
    ctx.out
        .insert("footprint".into(), Value::Object(footprint.clone()));
    if ctx.args.peer {
        ctx.out
            .insert("peerFootprint".into(), Value::Object(peer_fp.clone()));
    }
    print_tables(&mut ctx, &footprint, &peer_fp);
    let doc = Value::Object(ctx.out.clone());
    if let Some(dir) = ctx.args.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &ctx.args.json,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", ctx.args.json.display()))?;
    println!("\nJSON written to {}", ctx.args.json.display());
    Ok(())
}

/// Measures the argon2id floor now (the server under test idles).
fn measure_floor(ctx: &mut Ctx) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (one, hash_ms) = argon2_floor(1, ctx.args.seconds)?;
    let (all, _) = argon2_floor(cores, ctx.args.seconds)?;
    ctx.say(format!(
        "argon2id floor (m=19456 t=2 p=1, no HTTP, no database): one hash {hash_ms:.1} ms; \
         verifies/s: 1 thread {one:.1}, {cores} threads {all:.1}"
    ));
    ctx.floors.push((one, all, hash_ms));
    Ok(())
}

/// The floor of this run: the mean of its measurements (taken right before
/// and right after the argon2 workloads, so background load drifts alike).
fn finish_floor(ctx: &mut Ctx) {
    if ctx.floors.is_empty() {
        return;
    }
    let n = ctx.floors.len() as f64;
    let all = ctx.floors.iter().map(|f| f.1).sum::<f64>() / n;
    let one = ctx.floors.iter().map(|f| f.0).sum::<f64>() / n;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    ctx.say(format!(
        "\nthe floor: {all:.1} argon2id verifies/s ({cores} threads, one per core; mean of {} measurements; 1 thread {one:.1}/s)",
        ctx.floors.len()
    ));
    ctx.out.insert(
        "floor".into(),
        json!({ "verifiesPerSec": all, "verifiesPerSec1Thread": one, "threads": cores,
                "measurements": ctx.floors.iter().map(|f| json!({ "verifiesPerSec1Thread": f.0, "verifiesPerSec": f.1, "oneHashMs": f.2 })).collect::<Vec<_>>() }),
    );
    ctx.floor = Some(all);
}

async fn self_check(ctx: &mut Ctx) -> Result<(), String> {
    let results = noop::self_check(&ctx.args.concurrency, ctx.args.seconds)
        .await
        .map_err(|e| format!("self-check: {e}"))?;
    ctx.say("\nself-check: the driver (one thread, current_thread runtime) against a no-op HTTP server (its own thread)".into());
    ctx.say(format!("{HEADER}  driver CPU"));
    let mut js = Vec::new();
    for (c, f) in &results {
        let line = format!(
            "{}  {:>5.0} %",
            row("no-op GET", *c, f),
            f.driver_cpu * 100.0
        );
        ctx.say(line);
        js.push(figure_json("noop", *c, f));
    }
    let best = results.iter().map(|(_, f)| f.per_sec).fold(0.0, f64::max);
    let capacity = results
        .iter()
        .filter(|(_, f)| f.driver_cpu > 0.0)
        .map(|(_, f)| f.per_sec / f.driver_cpu)
        .fold(0.0, f64::max);
    let verdict = if best >= 30_000.0 { "≥" } else { "BELOW" };
    ctx.say(format!(
        "driver: {best:.0} req/s from one thread ({verdict} the 30 k req/s it must sustain); \
         ≈{capacity:.0} req/s per second of driver CPU"
    ));
    ctx.out.insert("selfCheck".into(), Value::Array(js));
    Ok(())
}

async fn mana_workloads(
    ctx: &mut Ctx,
    footprint: &mut serde_json::Map<String, Value>,
) -> Result<(), String> {
    let names: Vec<String> = ctx
        .args
        .workloads
        .iter()
        .filter(|w| mana_kind(w, &[], "", "").is_some())
        .cloned()
        .collect();
    if names.is_empty() && !wants(&ctx.args, "footprint") {
        return Ok(());
    }
    let bin = ctx.args.bin.clone();
    let dir = procs::temp_dir()?;
    let db = procs::db_in(dir.path());
    let server = procs::start_mana(&bin, &db).await?;
    let pid = server.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    footprint.insert("idleRssKiB".into(), json!(procs::rss_kib(pid)));
    if names.is_empty() {
        server.stop().await;
        return Ok(());
    }
    let accts = mana_accounts(&server.addr, ACCOUNTS).await?;
    // Passwords never go on a command line: the CLI reads them from a file.
    let password_file = dir.path().join("admin-password");
    std::fs::write(&password_file, PASSWORD).map_err(|e| e.to_string())?;
    procs::mana_cli(
        &bin,
        &db,
        &[
            "admin",
            "create",
            "--email",
            "admin@bench.test",
            "--password-file",
            &password_file.to_string_lossy(),
            "--admin",
        ],
    )
    .await?;
    let mut conn = Conn::open(&server.addr).await.map_err(|e| e.to_string())?;
    let (l, _) = call(
        &mut conn,
        "POST",
        "/api/v1/auth/login",
        &[],
        &json!({ "email": "admin@bench.test", "password": PASSWORD }),
        false,
    )
    .await?;
    let admin = l["accessToken"].as_str().unwrap_or_default().to_owned();
    drop(conn);
    ctx.say(format!(
        "\nmana-auth ({bin}, fresh data dir, {} accounts + 1 admin)",
        accts.len()
    ));
    ctx.say(HEADER.into());
    let mut results = Vec::new();
    let hashing = |n: &String| n == "login" || n == "register";
    let last_hashing = names.iter().rposition(hashing);
    let mut floor_before = wants(&ctx.args, "floor");
    // Refresh tokens rotate: one chain per account across the runs.
    let refresh_chain = mana_kind("refresh", &accts, &admin, "");
    for (i, name) in names.iter().enumerate() {
        if floor_before && hashing(name) {
            measure_floor(ctx)?;
            floor_before = false;
        }
        if name == "login" {
            footprint.insert("peakResetBeforeLogin".into(), json!(procs::reset_peak(pid)));
        }
        for &c in &ctx.args.concurrency.clone() {
            let tag = format!("{}c{c}", std::process::id());
            let kind = match name.as_str() {
                "refresh" => refresh_chain.clone(),
                _ => mana_kind(name, &accts, &admin, &tag),
            };
            let Some(kind) = kind else {
                continue;
            };
            let f = driver::run(&server.addr, &kind, c, ctx.args.seconds)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            ctx.say(row(name, c, &f));
            results.push(figure_json(name, c, &f));
            ctx.ours.push((name.clone(), c, f));
        }
        if name == "login" {
            footprint.insert("peakRssLoginKiB".into(), json!(procs::peak_kib(pid)));
        }
        if Some(i) == last_hashing && wants(&ctx.args, "floor") {
            measure_floor(ctx)?;
        }
    }
    footprint.insert("rssAfterKiB".into(), json!(procs::rss_kib(pid)));
    server.stop().await;
    ctx.out.insert("results".into(), Value::Array(results));
    Ok(())
}

async fn peer_workloads(
    ctx: &mut Ctx,
    fp: &mut serde_json::Map<String, Value>,
) -> Result<(), String> {
    let dir = ctx.args.peer_dir.clone();
    procs::peer_install(&dir).await?;
    let version = std::fs::read_to_string(dir.join("node_modules/better-auth/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut starts = Vec::new();
    for _ in 0..STARTS {
        let data = procs::temp_dir()?;
        let p = procs::start_peer(&dir, data.path()).await?;
        starts.push(p.ready_ms);
        p.stop().await;
    }
    fp.insert("betterAuthVersion".into(), json!(version));
    fp.insert(
        "nodeModulesBytes".into(),
        json!(dir_bytes(&dir.join("node_modules"))),
    );
    fp.insert("readyMsFresh".into(), json!(starts));
    fp.insert("readyMsFreshMedian".into(), json!(median(starts)));
    let data = procs::temp_dir()?;
    let peer = procs::start_peer(&dir, data.path()).await?;
    let pid = peer.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    fp.insert("idleRssKiB".into(), json!(procs::rss_kib(pid)));

    let origin = format!("Origin: http://{}", peer.addr);
    let mut conn = Conn::open(&peer.addr).await.map_err(|e| e.to_string())?;
    let mut sign_in = Vec::new();
    let mut cookies = Vec::new();
    for i in 0..ACCOUNTS {
        let email = format!("u{i}@bench.test");
        call(
            &mut conn,
            "POST",
            "/api/auth/sign-up/email",
            std::slice::from_ref(&origin),
            &json!({ "email": email, "password": PASSWORD, "name": "Bench" }),
            false,
        )
        .await?;
        let body = json!({ "email": email, "password": PASSWORD });
        let (_, cookie) = call(
            &mut conn,
            "POST",
            "/api/auth/sign-in/email",
            std::slice::from_ref(&origin),
            &body,
            true,
        )
        .await?;
        cookies.push(cookie.ok_or("peer sign-in set no cookie")?);
        sign_in.push(request(
            "POST",
            "/api/auth/sign-in/email",
            std::slice::from_ref(&origin),
            &body,
        ));
    }
    drop(conn);
    let with_cookie = |path: &str| -> Vec<Vec<u8>> {
        cookies
            .iter()
            .map(|c| {
                request(
                    "GET",
                    path,
                    &[origin.clone(), format!("Cookie: {c}")],
                    &Value::Null,
                )
            })
            .collect()
    };
    let session = with_cookie("/api/auth/get-session");
    let token = with_cookie("/api/auth/token");
    ctx.say(format!(
        "\nBetter Auth {version} peer (node {}, bench/peer/server.mjs, rate limiter off, {} accounts)",
        node_version().await,
        ACCOUNTS
    ));
    ctx.say(HEADER.into());
    let mut results = Vec::new();
    let wanted = [
        "register",
        "login",
        "refresh",
        "validate",
        "session",
        "bootstrap",
    ];
    let mut names: Vec<&str> = Vec::new();
    for w in wanted {
        if let Some(p) = peer_of(w).filter(|_| wants(&ctx.args, w)) {
            if !names.contains(&p) {
                names.push(p);
            }
        }
    }
    for name in names {
        if name == "peer-login" {
            fp.insert("peakResetBeforeLogin".into(), json!(procs::reset_peak(pid)));
        }
        for &c in &ctx.args.concurrency.clone() {
            let kind = match name {
                "peer-register" => Kind::Register {
                    path: "/api/auth/sign-up/email",
                    headers: vec![origin.clone()],
                    tag: format!("{}c{c}", std::process::id()),
                    password: PASSWORD.into(),
                    with_name: true,
                },
                "peer-login" => Kind::PeerLogin {
                    fixed: sign_in.clone(),
                    token_headers: vec![origin.clone()],
                },
                "peer-token" => Kind::Fixed {
                    fixed: token.clone(),
                    check: Check::Token,
                },
                _ => Kind::Fixed {
                    fixed: session.clone(),
                    check: Check::PeerSession,
                },
            };
            let f = driver::run(&peer.addr, &kind, c, ctx.args.seconds)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            ctx.say(row(name, c, &f));
            results.push(figure_json(name, c, &f));
            ctx.peer.push((name.to_owned(), c, f));
        }
        if name == "peer-login" {
            fp.insert("peakRssLoginKiB".into(), json!(procs::peak_kib(pid)));
        }
    }
    peer.stop().await;
    ctx.out.insert("peerResults".into(), Value::Array(results));
    Ok(())
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

async fn node_version() -> String {
    tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Login latency with 1 k accounts in the file vs `--scale-users`: both
/// files seeded by `mana-auth bench-seed` (the sign-up code path, one
/// precomputed hash), both servers up at once, login at concurrency 1 as a
/// random account, in alternating one-second slices so that background load
/// hits both alike.
async fn scale(ctx: &mut Ctx, fp: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    let bin = ctx.args.bin.clone();
    let big = ctx.args.scale_users;
    let small = 1000u64.min(big);
    let mut seeded = Vec::new();
    let mut dirs = Vec::new();
    for n in [small, big] {
        let dir = procs::temp_dir()?;
        let db = procs::db_in(dir.path());
        let t0 = Instant::now();
        eprintln!("seeding {n} accounts…");
        procs::mana_cli(
            &bin,
            &db,
            &[
                "bench-seed",
                "--count",
                &n.to_string(),
                "--password",
                PASSWORD,
            ],
        )
        .await?;
        let secs = t0.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        seeded.push(json!({ "accounts": n, "seedSeconds": secs, "fileBytes": bytes }));
        dirs.push((dir, db, n));
    }
    let mut servers: Vec<(Proc, u64)> = Vec::new();
    for (_, db, n) in &dirs {
        servers.push((procs::start_mana(&bin, db).await?, *n));
    }
    let slices = (ctx.args.seconds * 2.0).ceil().max(2.0) as usize;
    let mut parts: Vec<Vec<Figure>> = vec![Vec::new(); servers.len()];
    for _ in 0..slices {
        for (i, (p, n)) in servers.iter().enumerate() {
            let kind = Kind::LoginRandom {
                prefix: "seed".into(),
                count: *n,
                password: PASSWORD.into(),
            };
            let f = driver::run(&p.addr, &kind, 1, 1.0)
                .await
                .map_err(|e| format!("scale login: {e}"))?;
            parts[i].push(f);
        }
    }
    for (p, _) in servers {
        p.stop().await;
    }
    let merged: Vec<Figure> = parts.iter().map(|p| Figure::merge(p)).collect();
    let mut js = Vec::new();
    for (i, f) in merged.iter().enumerate() {
        let n = dirs[i].2;
        js.push(
            json!({ "accounts": n, "concurrency": 1, "requests": f.requests, "errors": f.errors,
            "reqPerSec": f.per_sec, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms, "seed": seeded[i] }),
        );
    }
    fp.insert("loginByAccounts".into(), Value::Array(js));
    Ok(())
}

fn pct_of(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b * 100.0
    } else {
        0.0
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

fn print_tables(
    ctx: &mut Ctx,
    fp: &serde_json::Map<String, Value>,
    peer_fp: &serde_json::Map<String, Value>,
) {
    let have_peer = !ctx.peer.is_empty();
    if !ctx.ours.is_empty() {
        ctx.say(String::new());
        ctx.say("Side by side (ratio = mana-auth req/s ÷ peer req/s at the same concurrency; % floor = req/s ÷ argon2 floor)".into());
        ctx.say(format!(
            "{:<21} {:>4} {:>9} {:>6} {:>8} {:>8} | {:<21} {:>9} {:>8} {:>6} | {:>7} {:>7}",
            "mana-auth",
            "conc",
            "req/s",
            "errors",
            "p50 ms",
            "p99 ms",
            "peer",
            "req/s",
            "p50 ms",
            "errors",
            "ratio",
            "% floor"
        ));
        let ours = ctx.ours.clone();
        for (name, c, f) in &ours {
            let peer_name = peer_of(name);
            let p = peer_name.and_then(|p| Ctx::find(&ctx.peer, p, *c));
            let (pn, pr, pp, pe, ratio) = match (&p, peer_name) {
                (Some(p), Some(n)) => (
                    title(n).to_owned(),
                    format!("{:.1}", p.per_sec),
                    format!("{:.2}", p.p50_ms),
                    p.errors.to_string(),
                    format!("{:.1}×", f.per_sec / p.per_sec.max(1e-9)),
                ),
                _ => ("—".into(), "—".into(), "—".into(), "—".into(), "—".into()),
            };
            let floor = match ctx.floor.filter(|_| name == "login" || name == "register") {
                Some(fl) => format!("{:.0} %", pct_of(f.per_sec, fl)),
                None => "—".into(),
            };
            let line = format!(
                "{:<21} {:>4} {:>9.1} {:>6} {:>8.2} {:>8.2} | {:<21} {:>9} {:>8} {:>6} | {:>7} {:>7}",
                title(name), c, f.per_sec, f.errors, f.p50_ms, f.p99_ms, pn, pr, pp, pe, ratio, floor
            );
            ctx.say(line);
        }
    }
    let kib = |m: &serde_json::Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    let mib = |v: f64| format!("{:.1} MiB", v / 1024.0);
    let ms = |v: f64| format!("{v:.0} ms");
    if !fp.is_empty() {
        ctx.say(String::new());
        let peer_col = if have_peer { "Better Auth" } else { "" };
        ctx.say(format!(
            "{:<44} {:>16} {:>16}",
            "footprint", "mana-auth", peer_col
        ));
        let mut rows: Vec<(String, Option<String>, String)> = Vec::new();
        let peer = |v: String| if have_peer { v } else { String::new() };
        rows.push((
            "binary (release, stripped)".into(),
            fp.get("binaryBytes")
                .and_then(Value::as_f64)
                .map(|b| format!("{:.1} MiB", b / MIB)),
            peer(
                kib(peer_fp, "nodeModulesBytes")
                    .map_or("—".into(), |b| format!("{:.0} MiB + node", b / MIB)),
            ),
        ));
        rows.push((
            format!("exec → healthy, new file (median of {STARTS})"),
            kib(fp, "readyMsFreshMedian").map(ms),
            peer(kib(peer_fp, "readyMsFreshMedian").map_or("—".into(), ms)),
        ));
        rows.push((
            format!("exec → healthy, existing file (median of {STARTS})"),
            kib(fp, "readyMsExistingMedian").map(ms),
            String::new(),
        ));
        rows.push((
            "idle RSS".into(),
            kib(fp, "idleRssKiB").map(mib),
            peer(kib(peer_fp, "idleRssKiB").map_or("—".into(), mib)),
        ));
        rows.push((
            "peak RSS under the login load (VmHWM)".into(),
            kib(fp, "peakRssLoginKiB").map(mib),
            peer(kib(peer_fp, "peakRssLoginKiB").map_or("—".into(), mib)),
        ));
        for r in fp
            .get("loginByAccounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rows.push((
                format!(
                    "login c=1 p50 / p99, {} accounts in the file",
                    r["accounts"].as_u64().unwrap_or(0)
                ),
                Some(format!(
                    "{:.1} / {:.1} ms",
                    r["p50Ms"].as_f64().unwrap_or(0.0),
                    r["p99Ms"].as_f64().unwrap_or(0.0)
                )),
                format!(
                    "(seeded in {:.0} s)",
                    r["seed"]["seedSeconds"].as_f64().unwrap_or(0.0)
                ),
            ));
        }
        for (what, ours, theirs) in rows {
            if let Some(ours) = ours {
                ctx.say(format!("{what:<44} {ours:>16} {theirs:>16}"));
            }
        }
    }
    // The targets, checked against this run (printed, not asserted).
    let mut targets = Vec::new();
    let mut check = |what: String, ok: Option<bool>| {
        let m = ok.map_or("n/a", mark);
        targets.push((what, m));
    };
    let ours = ctx.ours.clone();
    let get = |n: &str, c: usize| Ctx::find(&ours, n, c);
    if let Some(fl) = ctx.floor {
        for (n, need) in [("login", 90.0), ("register", 80.0)] {
            for c in [8, 32] {
                if let Some(f) = get(n, c) {
                    let p = pct_of(f.per_sec, fl);
                    check(
                        format!("{n} c={c}: {:.1}/s = {p:.0} % of the floor {fl:.1}/s (≥ {need:.0} %), {} errors", f.per_sec, f.errors),
                        Some(p >= need && (n != "login" || f.errors == 0)),
                    );
                }
            }
        }
    }
    let ps = Ctx::find(&ctx.peer, "peer-session", 32);
    for (n, need) in [("validate", 15.0), ("session", 15.0), ("bootstrap", 10.0)] {
        if let Some(f) = get(n, 32) {
            let ok = ps.as_ref().map(|p| f.per_sec / p.per_sec.max(1e-9) >= need);
            let ratio = ps.as_ref().map_or("no peer run".into(), |p| {
                format!("{:.1}×", f.per_sec / p.per_sec.max(1e-9))
            });
            check(
                format!(
                    "{} c=32: {:.0}/s = {ratio} the peer's get-session (≥ {need:.0}×)",
                    title(n),
                    f.per_sec
                ),
                ok,
            );
        }
    }
    if let Some(v) = kib(fp, "idleRssKiB") {
        check(
            format!("idle RSS {:.1} MiB (≤ 20 MB)", v / 1024.0),
            Some(v * 1024.0 <= 20e6),
        );
    }
    if let Some(v) = kib(fp, "readyMsFreshMedian") {
        check(
            format!("exec → healthy {v:.0} ms (≤ 50 ms)"),
            Some(v <= 50.0),
        );
    }
    if let Some(v) = fp.get("binaryBytes").and_then(Value::as_f64) {
        check(
            format!("binary {:.1} MiB (≤ 20 MB)", v / MIB),
            Some(v <= 20e6),
        );
    }
    if let Some(rows) = fp.get("loginByAccounts").and_then(Value::as_array) {
        if let (Some(a), Some(b)) = (rows.first(), rows.last()) {
            let (pa, pb) = (
                a["p50Ms"].as_f64().unwrap_or(0.0),
                b["p50Ms"].as_f64().unwrap_or(0.0),
            );
            check(
                format!(
                    "login p50 {:.1} ms at {} accounts vs {:.1} ms at {} ({:+.1} %, within 10 %)",
                    pb,
                    b["accounts"],
                    pa,
                    a["accounts"],
                    pct_of(pb - pa, pa)
                ),
                Some(pa > 0.0 && (pb - pa).abs() <= pa * 0.10),
            );
        }
    }
    if !targets.is_empty() {
        ctx.say(String::new());
        ctx.say("targets (issue 9), this run:".into());
        let mut js = Vec::new();
        for (what, m) in targets {
            js.push(json!({ "target": what, "met": m }));
            ctx.say(format!("  {m} {what}"));
        }
        ctx.out.insert("targets".into(), Value::Array(js));
    }
}
