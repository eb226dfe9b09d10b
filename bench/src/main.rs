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
mod import;
mod noop;
mod peer;
mod procs;
mod report;
mod scale;
mod seed;
mod storm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

use driver::{Check, Figure, Kind};
use http::{build, Conn};

/// Every part of a full run, in order.
const ALL: &str = "selfcheck,floor,footprint,health,register,login,refresh,validate,session,\
                   bootstrap,pull,stats,storm,overload,scale";

#[derive(Parser, Debug)]
#[command(about = "Benchmarks for mana-auth; prints figures, asserts nothing")]
struct Args {
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/mana-auth")]
    bin: String,
    /// What to run (comma list): selfcheck (driver vs a no-op server),
    /// floor (argon2id), footprint (exec → healthy, RSS), the HTTP
    /// workloads health, register, login, refresh, validate, session,
    /// bootstrap, pull, stats, storm (64 clients on login while /validate
    /// and /session run), overload (256 clients on login, on register), and
    /// scale (1 k vs --scale-users accounts: login, admin stats, start-up).
    /// Also `import` (`mana-auth import` of --import-users seeded users;
    /// not in the default list).
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
    /// Users seeded for the `import` workload (not in the default list: it
    /// starts a PostgreSQL cluster of its own, `--workloads import`).
    #[arg(long, default_value_t = 100_000)]
    import_users: u64,
    /// Only the driver self-check (same as `--workloads selfcheck`).
    #[arg(long)]
    self_check: bool,
    /// Where the JSON result goes.
    #[arg(long, default_value = "target/mana-bench.json")]
    json: PathBuf,
    /// Only fill this database file with --seed-count accounts
    /// `seed{i}@bench.test` (password `bench-password-123`), then exit.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// Accounts for --seed-file.
    #[arg(long, default_value_t = 1_000_000)]
    seed_count: u64,
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
    if let Some(file) = &args.seed_file {
        return match seed::seed(file, args.seed_count, 0, "seed", PASSWORD) {
            Ok(s) => {
                println!(
                    "seeded {} accounts into {} in {:.1} s",
                    s.accounts,
                    file.display(),
                    s.seconds
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mana-bench: {e}");
                ExitCode::FAILURE
            }
        };
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
    /// A second account that only the login workloads sign in to: every
    /// login opens a session, and past the per-user cap (50) the oldest
    /// ends, which would end the sessions the token workloads hold.
    login_email: String,
    access: String,
    refresh: String,
    /// `syncedUntil` of a first pull: what an up-to-date client sends.
    since: String,
}

/// Signs `email` in (password `PASSWORD`); its access token.
async fn sign_in(addr: &str, email: &str) -> Result<String, String> {
    let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
    let creds = json!({ "email": email, "password": PASSWORD });
    let (l, _) = call(&mut conn, "POST", "/api/v1/auth/login", &[], &creds, false).await?;
    Ok(l["accessToken"].as_str().unwrap_or_default().to_owned())
}

/// Pulls everything once; the `syncedUntil` an up-to-date client keeps.
async fn synced_until(addr: &str, access: &str) -> Result<String, String> {
    let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
    let (p, _) = call(
        &mut conn,
        "GET",
        "/sync/kontext/pull",
        &bearer(access),
        &Value::Null,
        false,
    )
    .await?;
    p["syncedUntil"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("first pull brought nothing: {p}"))
}

/// `GET /api/v1/admin/stats` as the admin.
fn stats_kind(admin: &str) -> Kind {
    Kind::Fixed {
        fixed: vec![request(
            "GET",
            "/api/v1/admin/stats",
            &bearer(admin),
            &Value::Null,
        )],
        check: Check::Stats,
    }
}

/// The sync pull of an up-to-date client: (access token, its syncedUntil).
fn pull_kind(clients: &[String], since: &str) -> Kind {
    Kind::Fixed {
        fixed: clients
            .iter()
            .map(|access| {
                request(
                    "GET",
                    &format!("/sync/kontext/pull?since={since}"),
                    &bearer(access),
                    &Value::Null,
                )
            })
            .collect(),
        check: Check::Changes,
    }
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
        let login_email = format!("l{i}@bench.test");
        let login_creds = json!({ "email": login_email, "password": PASSWORD });
        call(
            &mut conn,
            "POST",
            "/api/v1/auth/register",
            &[],
            &login_creds,
            false,
        )
        .await?;
        let (l, _) = call(&mut conn, "POST", "/api/v1/auth/login", &[], &creds, false).await?;
        let access = l["accessToken"].as_str().unwrap_or_default().to_owned();
        out.push(Account {
            login_email,
            since: synced_until(addr, &access).await?,
            access,
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
        "health" => fixed(
            vec![request("GET", "/health", &[], &Value::Null)],
            Check::Health,
        ),
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
                    &json!({ "email": a.login_email, "password": PASSWORD }),
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
        // An up-to-date client: `since` is its last `syncedUntil`.
        "pull" => fixed(
            each(&|a| {
                request(
                    "GET",
                    &format!("/sync/kontext/pull?since={}", a.since),
                    &bearer(&a.access),
                    &Value::Null,
                )
            }),
            Check::Changes,
        ),
        "stats" => Some(stats_kind(admin)),
        _ => None,
    }
}

/// Display names of the workloads.
fn title(name: &str) -> &str {
    match name {
        "health" => "/health",
        "register" => "register",
        "login" => "login",
        "refresh" => "refresh",
        "validate" => "/validate",
        "session" => "/session (Bearer)",
        "bootstrap" => "bootstrap (done)",
        "pull" => "sync pull (current)",
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
    /// The driver against the no-op server, by concurrency.
    noop: Vec<(usize, Figure)>,
    /// The password storm and the overload runs.
    storm: Option<storm::Storm>,
    overload: Vec<storm::Overload>,
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
        noop: Vec::new(),
        storm: None,
        overload: Vec::new(),
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
    if wants(&ctx.args, "import") {
        import::run(&ctx.args.bin, ctx.args.import_users, &mut ctx.out).await?;
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
        peer::peer_workloads(&mut ctx, &mut peer_fp).await?;
    }
    if wants(&ctx.args, "scale") && ctx.args.scale_users > 0 {
        scale::scale(&mut ctx, &mut footprint).await?;
    }
    ctx.out
        .insert("footprint".into(), Value::Object(footprint.clone()));
    if ctx.args.peer {
        ctx.out
            .insert("peerFootprint".into(), Value::Object(peer_fp.clone()));
    }
    report::print_tables(&mut ctx, &footprint, &peer_fp);
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
    ctx.noop = results;
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
        .filter(|w| mana_kind(w, &[], "", "").is_some() || storm::is_part(w))
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
    procs::make_admin(&bin, &db, dir.path()).await?;
    let admin = sign_in(&server.addr, procs::ADMIN_EMAIL).await?;
    ctx.say(format!(
        "\nmana-auth ({bin}, fresh data dir, {} accounts + 1 admin)",
        accts.len()
    ));
    ctx.say(HEADER.into());
    let mut results = Vec::new();
    let hashing = |n: &String| n == "login" || n == "register" || storm::is_part(n);
    // VmHWM of the whole run: read before every reset (the login figure
    // resets it) and at the end.
    let mut peak_run = 0u64;
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
            peak_run = peak_run.max(procs::peak_kib(pid));
            footprint.insert("peakResetBeforeLogin".into(), json!(procs::reset_peak(pid)));
        }
        if storm::is_part(name) {
            storm::run(ctx, name, &server.addr, &accts).await?;
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
    let settle = procs::settle(pid, storm::RSS_AFTER_KIB, storm::SETTLE).await;
    footprint.insert("rssSettle".into(), settle);
    footprint.insert("rssAfterKiB".into(), json!(procs::rss_kib(pid)));
    footprint.insert(
        "peakRssRunKiB".into(),
        json!(peak_run.max(procs::peak_kib(pid))),
    );
    server.stop().await;
    ctx.out.insert("results".into(), Value::Array(results));
    Ok(())
}
