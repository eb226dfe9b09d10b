//! Hashing under pressure. The password storm: 64 clients hammer login
//! (the hash pool saturated) while `/validate` and `/session` run at 8
//! clients each; their throughput and p99 are compared with the same pair
//! running without the storm, and login alone at 64 clients with the
//! floor. The overload: 256 clients on login, then on register, far past
//! what the hash pool can take; every answer is classified (accepted, shed
//! with 503 `OVERLOADED` + `Retry-After`, anything else), and connection
//! errors and timeouts are counted. Clients that are shed wait what
//! `Retry-After` says before they ask again, as a well-behaved client does.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::driver::{self, pct, Figure};
use crate::http::{build, Conn};
use crate::{mana_kind, Account, Ctx, PASSWORD};

/// Login clients of the storm.
pub const STORM_CLIENTS: usize = 64;
/// Clients of each token workload during the storm.
pub const TOKEN_CLIENTS: usize = 8;
/// Clients of the overload runs.
pub const OVERLOAD_CLIENTS: usize = 256;
/// RSS the server must be back under after the load…
pub const RSS_AFTER_KIB: u64 = 24 * 1024;
/// …within this long.
pub const SETTLE: Duration = Duration::from_secs(10);
/// A request without an answer after this long counts as a timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `name` is one of this module's parts.
pub fn is_part(name: &str) -> bool {
    name == "storm" || name == "overload"
}

/// The password storm's figures.
pub struct Storm {
    /// /validate and /session at `TOKEN_CLIENTS` each, no storm.
    pub idle: [Figure; 2],
    /// login at `STORM_CLIENTS`, /validate and /session as above, at once.
    pub storm: [Figure; 3],
    /// login at `STORM_CLIENTS`, nothing else.
    pub alone: Figure,
}

/// One overload run.
pub struct Overload {
    pub name: &'static str,
    /// Latencies (µs, sorted) of the accepted requests (200, right body).
    pub accepted: Vec<u32>,
    /// Latencies of 503 `OVERLOADED` answers.
    pub shed: Vec<u32>,
    /// 503 `OVERLOADED` answers without `Retry-After`.
    pub shed_bare: u64,
    /// Any other answer (status, code), counted.
    pub other: u64,
    pub conn_errors: u64,
    pub timeouts: u64,
    /// The longest any request waited for its answer.
    pub max_ms: f64,
    pub seconds: f64,
}

impl Overload {
    pub fn accepted_p99(&self) -> f64 {
        pct(&self.accepted, 0.99)
    }
    pub fn shed_p99(&self) -> f64 {
        pct(&self.shed, 0.99)
    }
    pub fn per_sec(&self) -> f64 {
        self.accepted.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Runs the part `name` ("storm" or "overload") against `addr`.
pub async fn run(ctx: &mut Ctx, name: &str, addr: &str, accts: &[Account]) -> Result<(), String> {
    let secs = ctx.args.seconds;
    let kind = |n: &str| mana_kind(n, accts, "", "").ok_or_else(|| format!("no workload {n}"));
    if name == "storm" {
        let (login, validate, session) = (kind("login")?, kind("validate")?, kind("session")?);
        let err = |e: io::Error| format!("storm: {e}");
        let idle = driver::run_groups(
            addr,
            &[
                (validate.clone(), TOKEN_CLIENTS),
                (session.clone(), TOKEN_CLIENTS),
            ],
            secs,
        )
        .await
        .map_err(err)?;
        let storm = driver::run_groups(
            addr,
            &[
                (login.clone(), STORM_CLIENTS),
                (validate, TOKEN_CLIENTS),
                (session, TOKEN_CLIENTS),
            ],
            secs,
        )
        .await
        .map_err(err)?;
        let alone = driver::run(addr, &login, STORM_CLIENTS, secs)
            .await
            .map_err(err)?;
        let s = Storm {
            idle: [idle[0].clone(), idle[1].clone()],
            storm: [storm[0].clone(), storm[1].clone(), storm[2].clone()],
            alone,
        };
        print_storm(ctx, &s);
        ctx.storm = Some(s);
        return Ok(());
    }
    ctx.say(format!(
        "\noverload: {OVERLOAD_CLIENTS} clients, {secs} s each; shed clients wait Retry-After"
    ));
    ctx.say(format!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>6} {:>8} {:>9}",
        "workload",
        "accepted",
        "acc/s",
        "acc p99",
        "shed",
        "shed p99",
        "other",
        "conn",
        "timeouts",
        "max ms"
    ));
    let login: Vec<Vec<u8>> = accts
        .iter()
        .map(|a| {
            crate::request(
                "POST",
                "/api/v1/auth/login",
                &[],
                &json!({ "email": a.login_email, "password": PASSWORD }),
            )
        })
        .collect();
    for which in ["login", "register"] {
        let what = if which == "login" {
            What::Login(Rc::new(login.clone()))
        } else {
            What::Register(format!("o{}", std::process::id()))
        };
        let o = overload(addr, which, what, secs)
            .await
            .map_err(|e| format!("overload {which}: {e}"))?;
        ctx.say(format!(
            "{:<10} {:>9} {:>9.1} {:>9.0} {:>9} {:>7.1} {:>6} {:>6} {:>8} {:>9.0}",
            o.name,
            o.accepted.len(),
            o.per_sec(),
            o.accepted_p99(),
            o.shed.len(),
            o.shed_p99(),
            o.other,
            o.conn_errors,
            o.timeouts,
            o.max_ms
        ));
        ctx.overload.push(o);
    }
    Ok(())
}

fn print_storm(ctx: &mut Ctx, s: &Storm) {
    ctx.say(format!(
        "\npassword storm: login at {STORM_CLIENTS} clients while /validate and /session run at {TOKEN_CLIENTS} each"
    ));
    ctx.say(format!(
        "{:<21} {:>11} {:>9} | {:>11} {:>9} | {:>7} {:>7}",
        "workload", "idle req/s", "p99 ms", "storm req/s", "p99 ms", "kept", "p99 ×"
    ));
    for (i, name) in ["/validate", "/session (Bearer)"].iter().enumerate() {
        let (idle, storm) = (&s.idle[i], &s.storm[i + 1]);
        ctx.say(format!(
            "{:<21} {:>11.1} {:>9.2} | {:>11.1} {:>9.2} | {:>5.0} % {:>6.1}×",
            name,
            idle.per_sec,
            idle.p99_ms,
            storm.per_sec,
            storm.p99_ms,
            storm.per_sec / idle.per_sec.max(1e-9) * 100.0,
            storm.p99_ms / idle.p99_ms.max(1e-9)
        ));
    }
    ctx.say(format!(
        "login during the storm: {:.1}/s ({} errors); login alone at {STORM_CLIENTS}: {:.1}/s ({} errors), p99 {:.0} ms",
        s.storm[0].per_sec, s.storm[0].errors, s.alone.per_sec, s.alone.errors, s.alone.p99_ms
    ));
}

/// What the overload clients send.
enum What {
    /// The accounts' logins, client `i` as account `i % len`.
    Login(Rc<Vec<Vec<u8>>>),
    /// Sign-ups, each with a new address (`tag` keeps runs apart).
    Register(String),
}

#[derive(Default)]
struct Tally {
    accepted: Vec<u32>,
    shed: Vec<u32>,
    shed_bare: u64,
    other: u64,
    conn_errors: u64,
    timeouts: u64,
}

async fn client(addr: String, what: Rc<What>, worker: usize, deadline: Instant) -> Tally {
    let mut t = Tally::default();
    let mut conn = None;
    let mut scratch = Vec::with_capacity(512);
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let c = match conn.take() {
            Some(c) => c,
            None => match Conn::open(&addr).await {
                Ok(c) => c,
                Err(_) => {
                    t.conn_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut c: Conn = c;
        let req: &[u8] = match &*what {
            What::Login(reqs) => &reqs[worker % reqs.len()],
            What::Register(tag) => {
                let body = json!({ "email": format!("{tag}w{worker}s{seq}@bench.test"), "password": PASSWORD });
                scratch.clear();
                build(
                    "POST",
                    "/api/v1/auth/register",
                    &[],
                    body.to_string().as_bytes(),
                    &mut scratch,
                );
                &scratch
            }
        };
        seq += 1;
        let t0 = Instant::now();
        let answer = tokio::time::timeout(TIMEOUT, c.roundtrip(req, false)).await;
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let mut wait = None;
        match answer {
            Err(_) => t.timeouts += 1,
            Ok(Err(_)) => t.conn_errors += 1,
            Ok(Ok(r)) => {
                let body: Value = serde_json::from_slice(r.body).unwrap_or(Value::Null);
                if r.status == 200
                    && (body["accessToken"].is_string() || body["user"]["id"].is_string())
                {
                    t.accepted.push(us);
                } else if r.status == 503 && body["error"] == "OVERLOADED" {
                    t.shed.push(us);
                    if r.retry_after.is_none() {
                        t.shed_bare += 1;
                    }
                    wait = Some(Duration::from_secs(r.retry_after.unwrap_or(1)));
                } else {
                    t.other += 1;
                    if std::env::var_os("MANA_BENCH_DEBUG").is_some() {
                        eprintln!("overload: {} {body}", r.status);
                    }
                }
                if !r.close {
                    conn = Some(c);
                }
            }
        }
        if let Some(wait) = wait {
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(wait.min(left)).await;
        }
    }
    t
}

async fn overload(
    addr: &str,
    name: &'static str,
    what: What,
    seconds: f64,
) -> io::Result<Overload> {
    let what = Rc::new(what);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..OVERLOAD_CLIENTS)
        .map(|w| local.spawn_local(client(addr.to_owned(), what.clone(), w, deadline)))
        .collect();
    let tallies = local
        .run_until(async move {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await);
            }
            out
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for t in tallies {
        let t = t.map_err(io::Error::other)?;
        all.accepted.extend(t.accepted);
        all.shed.extend(t.shed);
        all.shed_bare += t.shed_bare;
        all.other += t.other;
        all.conn_errors += t.conn_errors;
        all.timeouts += t.timeouts;
    }
    all.accepted.sort_unstable();
    all.shed.sort_unstable();
    let max = all
        .accepted
        .last()
        .copied()
        .max(all.shed.last().copied())
        .unwrap_or(0);
    Ok(Overload {
        name,
        accepted: all.accepted,
        shed: all.shed,
        shed_bare: all.shed_bare,
        other: all.other,
        conn_errors: all.conn_errors,
        timeouts: all.timeouts,
        max_ms: if all.timeouts > 0 {
            TIMEOUT.as_secs_f64() * 1000.0
        } else {
            max as f64 / 1000.0
        },
        seconds,
    })
}

/// The JSON of the storm and overload figures.
pub fn to_json(s: Option<&Storm>, o: &[Overload]) -> Value {
    let fig = |f: &Figure| json!({ "requests": f.requests, "errors": f.errors, "reqPerSec": f.per_sec, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms });
    json!({
        "storm": s.map(|s| json!({
            "idle": { "validate": fig(&s.idle[0]), "session": fig(&s.idle[1]) },
            "storm": { "login": fig(&s.storm[0]), "validate": fig(&s.storm[1]), "session": fig(&s.storm[2]) },
            "loginAlone": fig(&s.alone),
        })),
        "overload": o.iter().map(|o| json!({
            "workload": o.name, "clients": OVERLOAD_CLIENTS, "seconds": o.seconds,
            "accepted": o.accepted.len(), "acceptedPerSec": o.per_sec(), "acceptedP99Ms": o.accepted_p99(),
            "shed": o.shed.len(), "shedP99Ms": o.shed_p99(), "shedWithoutRetryAfter": o.shed_bare,
            "other": o.other, "connectionErrors": o.conn_errors, "timeouts": o.timeouts, "maxMs": o.max_ms,
        })).collect::<Vec<_>>(),
    })
}
