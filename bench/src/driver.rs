//! The load driver: `concurrency` keep-alive connections, each a closed
//! loop (send, wait for the answer, check it, send the next) for a fixed
//! time, all on the caller's thread. `main` runs it on a current_thread
//! runtime, so the driver uses at most one core however many connections it
//! keeps. Requests are built before the clock starts wherever they do not
//! change; only sign-ups (a new address each time), random-user logins,
//! refreshes (the refresh token rotates) and the peer's token step build
//! bytes in the loop.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{build, Conn};

/// What one operation of a workload is.
#[derive(Clone)]
pub enum Kind {
    /// The same request again and again (per connection: `fixed[worker %
    /// len]`); `check` decides whether the answer is right.
    Fixed { fixed: Vec<Vec<u8>>, check: Check },
    /// A sign-up with a fresh address each time.
    Register {
        path: &'static str,
        headers: Vec<String>,
        /// Unique per workload run (addresses never repeat).
        tag: String,
        password: String,
        /// Better Auth requires a name.
        with_name: bool,
    },
    /// mana-auth login as a random one of `count` seeded accounts
    /// `{prefix}{i}@bench.test` (the 1 k vs 1 M comparison).
    LoginRandom {
        prefix: String,
        count: u64,
        password: String,
    },
    /// mana-auth `/refresh`: each worker refreshes account `worker % len`
    /// with its current refresh token and keeps the new one the answer
    /// brings (refresh tokens rotate). Shared across runs, so a later run
    /// continues each account's chain.
    RefreshChain { tokens: Rc<RefCell<Vec<String>>> },
    /// Better Auth sign-in (`fixed[worker]`), then `GET /api/auth/token`
    /// with the session cookie it set: one operation, timed as a whole.
    PeerLogin {
        fixed: Vec<Vec<u8>>,
        token_headers: Vec<String>,
    },
}

/// How a 2xx body is judged.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// `accessToken` is a string (login, refresh).
    AccessToken,
    /// `valid` is true.
    Valid,
    /// `user.id` is a string (session, register).
    UserId,
    /// `ok` true and `bootstrapped.userContext` false (already bootstrapped).
    Bootstrapped,
    /// `changes` is an array.
    Changes,
    /// `totalUsers` is a number.
    Stats,
    /// Better Auth get-session: `session.id` and `user.id` are strings.
    PeerSession,
    /// `token` is a string (Better Auth /token).
    Token,
    /// `ok` is true (the no-op server).
    Ok,
    /// `status` is "ok" (`GET /health`).
    Health,
}

fn body_ok(check: Check, body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    match check {
        Check::AccessToken => v["accessToken"].is_string(),
        Check::Valid => v["valid"] == true,
        Check::UserId => v["user"]["id"].is_string(),
        Check::Bootstrapped => v["ok"] == true && v["bootstrapped"]["userContext"] == false,
        Check::Changes => v["changes"].is_array(),
        Check::Stats => v["totalUsers"].is_number(),
        Check::PeerSession => v["session"]["id"].is_string() && v["user"]["id"].is_string(),
        Check::Token => v["token"].is_string(),
        Check::Ok => v["ok"] == true,
        Check::Health => v["status"] == "ok",
    }
}

/// Result of one workload at one concurrency.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    pub requests: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU the driver thread spent, as a share of one core.
    pub driver_cpu: f64,
    /// Latencies in µs, kept for merging slices (not in the JSON).
    pub latencies: Vec<u32>,
    pub seconds: f64,
}

impl Figure {
    /// Figures of several runs of the same load taken together.
    pub fn merge(parts: &[Figure]) -> Figure {
        let mut all: Vec<u32> = parts.iter().flat_map(|p| p.latencies.clone()).collect();
        all.sort_unstable();
        let seconds: f64 = parts.iter().map(|p| p.seconds).sum();
        let requests = all.len() as u64;
        Figure {
            requests,
            errors: parts.iter().map(|p| p.errors).sum(),
            per_sec: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: pct(&all, 0.50),
            p99_ms: pct(&all, 0.99),
            driver_cpu: 0.0,
            latencies: all,
            seconds,
        }
    }
}

pub fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn debug() -> bool {
    std::env::var_os("MANA_BENCH_DEBUG").is_some()
}

fn report(what: &str, status: u16, body: &[u8]) {
    if debug() {
        eprintln!("{what}: {status} {}", String::from_utf8_lossy(body));
    }
}

/// A small xorshift generator: which account a random login uses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs one operation; Ok(true) counts as a success, Ok(false) as an error
/// (wrong status or body), Err as an error that also drops the connection.
async fn one(
    conn: &mut Conn,
    kind: &Kind,
    worker: usize,
    seq: u64,
    rng: &mut Rng,
    scratch: &mut Vec<u8>,
) -> io::Result<(bool, bool)> {
    match kind {
        Kind::Fixed { fixed, check } => {
            let req = &fixed[worker % fixed.len()];
            let r = conn.roundtrip(req, false).await?;
            let ok = (200..300).contains(&r.status) && body_ok(*check, r.body);
            if !ok {
                report(&format!("{check:?}"), r.status, r.body);
            }
            Ok((ok, r.close))
        }
        Kind::Register {
            path,
            headers,
            tag,
            password,
            with_name,
        } => {
            let email = format!("r{tag}w{worker}s{seq}@bench.test");
            let body = if *with_name {
                serde_json::json!({ "email": email, "password": password, "name": "Bench" })
            } else {
                serde_json::json!({ "email": email, "password": password })
            };
            scratch.clear();
            build("POST", path, headers, body.to_string().as_bytes(), scratch);
            let r = conn.roundtrip(scratch, false).await?;
            let ok = (200..300).contains(&r.status) && body_ok(Check::UserId, r.body);
            if !ok {
                report("register", r.status, r.body);
            }
            Ok((ok, r.close))
        }
        Kind::LoginRandom {
            prefix,
            count,
            password,
        } => {
            let i = rng.next() % (*count).max(1);
            let body = serde_json::json!({ "email": format!("{prefix}{i}@bench.test"), "password": password });
            scratch.clear();
            build(
                "POST",
                "/api/v1/auth/login",
                &[],
                body.to_string().as_bytes(),
                scratch,
            );
            let r = conn.roundtrip(scratch, false).await?;
            let ok = r.status == 200 && body_ok(Check::AccessToken, r.body);
            if !ok {
                report("login", r.status, r.body);
            }
            Ok((ok, r.close))
        }
        Kind::RefreshChain { tokens } => {
            let (slot, current) = {
                let tokens = tokens.borrow();
                if tokens.is_empty() {
                    return Ok((false, false));
                }
                let slot = worker % tokens.len();
                (slot, tokens[slot].clone())
            };
            let body = serde_json::json!({ "refreshToken": current });
            scratch.clear();
            build(
                "POST",
                "/api/v1/auth/refresh",
                &[],
                body.to_string().as_bytes(),
                scratch,
            );
            let r = conn.roundtrip(scratch, false).await?;
            let next = serde_json::from_slice::<Value>(r.body)
                .ok()
                .filter(|v| r.status == 200 && v["accessToken"].is_string())
                .and_then(|v| v["refreshToken"].as_str().map(str::to_owned));
            let ok = match next {
                Some(next) => {
                    tokens.borrow_mut()[slot] = next;
                    true
                }
                None => {
                    report("refresh", r.status, r.body);
                    false
                }
            };
            Ok((ok, r.close))
        }
        Kind::PeerLogin {
            fixed,
            token_headers,
        } => {
            let req = &fixed[worker % fixed.len()];
            let r = conn.roundtrip(req, true).await?;
            let (status, close) = (r.status, r.close);
            let Some(cookie) = r.cookie.filter(|_| status == 200) else {
                report("peer sign-in", status, r.body);
                return Ok((false, close));
            };
            if close {
                return Ok((false, true));
            }
            let mut headers = token_headers.clone();
            headers.push(format!("Cookie: {cookie}"));
            scratch.clear();
            build("GET", "/api/auth/token", &headers, &[], scratch);
            let r = conn.roundtrip(scratch, false).await?;
            let ok = r.status == 200 && body_ok(Check::Token, r.body);
            if !ok {
                report("peer token", r.status, r.body);
            }
            Ok((ok, r.close))
        }
    }
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name in parentheses; utime and stime are
    // fields 14 and 15 (1-based), i.e. 12 and 13 after the ')'.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Drives `addr` with `kind` on `concurrency` connections for `seconds`.
pub async fn run(addr: &str, kind: &Kind, concurrency: usize, seconds: f64) -> io::Result<Figure> {
    let mut figures = run_groups(addr, &[(kind.clone(), concurrency)], seconds).await?;
    figures.pop().ok_or_else(|| io::Error::other("no figure"))
}

/// Drives `addr` with several workloads at once, each `(kind,
/// concurrency)` on connections of its own, for `seconds`; one figure per
/// group (the driver's CPU share is that of the whole run).
pub async fn run_groups(
    addr: &str,
    groups: &[(Kind, usize)],
    seconds: f64,
) -> io::Result<Vec<Figure>> {
    let mut conns = Vec::new();
    for (g, (kind, concurrency)) in groups.iter().enumerate() {
        let kind = Rc::new(kind.clone());
        for worker in 0..*concurrency {
            conns.push((g, worker, kind.clone(), Conn::open(addr).await?));
        }
    }
    let started = Instant::now();
    let cpu0 = thread_cpu();
    let deadline = started + Duration::from_secs_f64(seconds);
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::with_capacity(conns.len());
    for (g, worker, kind, conn) in conns {
        let addr = addr.to_owned();
        let handle = local.spawn_local(async move {
            let mut conn = conn;
            let mut lat = Vec::with_capacity(8192);
            let mut errors = 0u64;
            let mut seq = 0u64;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) << 17));
            let mut scratch = Vec::with_capacity(1024);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let reopen = match one(&mut conn, &kind, worker, seq, &mut rng, &mut scratch).await
                {
                    Ok((true, close)) => close,
                    Ok((false, close)) => {
                        errors += 1;
                        close
                    }
                    Err(e) => {
                        if debug() {
                            eprintln!("connection error: {e}");
                        }
                        errors += 1;
                        true
                    }
                };
                lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                seq += 1;
                if reopen {
                    conn = Conn::open(&addr).await?;
                }
            }
            Ok::<_, io::Error>((lat, errors))
        });
        handles.push((g, handle));
    }
    let joined = local
        .run_until(async move {
            let mut out = Vec::with_capacity(handles.len());
            for (g, h) in handles {
                out.push((g, h.await));
            }
            out
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (thread_cpu().saturating_sub(cpu0)).as_secs_f64() / elapsed;
    let mut lats: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
    let mut errors = vec![0u64; groups.len()];
    for (g, j) in joined {
        let (lat, e) = j.map_err(io::Error::other)??;
        lats[g].extend(lat);
        errors[g] += e;
    }
    Ok(lats
        .into_iter()
        .zip(errors)
        .map(|(mut all, errors)| {
            all.sort_unstable();
            Figure {
                requests: all.len() as u64,
                errors,
                per_sec: all.len() as f64 / elapsed,
                p50_ms: pct(&all, 0.50),
                p99_ms: pct(&all, 0.99),
                driver_cpu: cpu,
                latencies: all,
                seconds: elapsed,
            }
        })
        .collect())
}
