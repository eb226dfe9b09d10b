//! Figures at scale: two files, 1 k and `--scale-users` accounts (1 M),
//! both filled by `seed` (the sign-up code path, one precomputed hash);
//! exec → healthy on each, then both servers up at once and driven in
//! alternating one-second slices (so that background load hits both
//! alike): login at concurrency 1 as a random account, admin stats at
//! concurrency 1, and the sync pull of an up-to-date client at 32.

use std::time::Instant;

use serde_json::{json, Value};

use crate::driver::{self, Figure, Kind};
use crate::procs::{self, Proc};
use crate::{median, seed, Ctx, PASSWORD, STARTS};

/// One seeded file and what was measured on it.
struct File {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    accounts: u64,
    seed_secs: f64,
}

/// Runs `kind` on every server in turn, `slices` times one second each;
/// the merged figure per server.
async fn sliced(
    servers: &[(Proc, Vec<Kind>)],
    which: usize,
    concurrency: usize,
    slices: usize,
) -> Result<Vec<Figure>, String> {
    let mut parts: Vec<Vec<Figure>> = vec![Vec::new(); servers.len()];
    for _ in 0..slices {
        for (i, (p, kinds)) in servers.iter().enumerate() {
            let f = driver::run(&p.addr, &kinds[which], concurrency, 1.0)
                .await
                .map_err(|e| format!("scale: {e}"))?;
            parts[i].push(f);
        }
    }
    Ok(parts.iter().map(|p| Figure::merge(p)).collect())
}

fn figure(f: &Figure, c: usize) -> Value {
    json!({ "concurrency": c, "requests": f.requests, "errors": f.errors,
            "reqPerSec": f.per_sec, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms })
}

pub async fn scale(ctx: &mut Ctx, fp: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    let bin = ctx.args.bin.clone();
    let big = ctx.args.scale_users;
    let small = 1000u64.min(big);
    let mut files = Vec::new();
    for n in [small, big] {
        let dir = procs::temp_dir()?;
        let db = procs::db_in(dir.path());
        eprintln!("seeding {n} accounts…");
        let path = db.clone();
        let seeded = tokio::task::spawn_blocking(move || seed::seed(&path, n, 0, "seed", PASSWORD))
            .await
            .map_err(|e| e.to_string())??;
        procs::make_admin(&bin, &db, dir.path()).await?;
        files.push(File {
            _dir: dir,
            db,
            accounts: n,
            seed_secs: seeded.seconds,
        });
    }
    // exec → healthy on each file (the server reads nothing in proportion
    // to the accounts at start).
    let mut ready = Vec::new();
    for f in &files {
        let mut ms = Vec::new();
        for _ in 0..STARTS {
            let p = procs::start_mana(&bin, &f.db).await?;
            ms.push(p.ready_ms);
            p.stop().await;
        }
        ready.push(median(ms));
    }
    let mut servers: Vec<(Proc, Vec<Kind>)> = Vec::new();
    for f in &files {
        let p = procs::start_mana(&bin, &f.db).await?;
        let admin = crate::sign_in(&p.addr, procs::ADMIN_EMAIL).await?;
        let user = crate::sign_in(&p.addr, "seed0@bench.test").await?;
        let since = crate::synced_until(&p.addr, &user).await?;
        let kinds = vec![
            Kind::LoginRandom {
                prefix: "seed".into(),
                count: f.accounts,
                password: PASSWORD.into(),
            },
            crate::stats_kind(&admin),
            crate::pull_kind(std::slice::from_ref(&user), &since),
        ];
        servers.push((p, kinds));
    }
    let slices = (ctx.args.seconds * 2.0).ceil().max(2.0) as usize;
    let t0 = Instant::now();
    let login = sliced(&servers, 0, 1, slices).await?;
    let stats = sliced(&servers, 1, 1, slices).await?;
    let pull = sliced(&servers, 2, 32, slices / 2 + 1).await?;
    for (p, _) in servers {
        p.stop().await;
    }
    let mut js = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::metadata(&f.db).map(|m| m.len()).unwrap_or(0);
        js.push(json!({
            "accounts": f.accounts,
            "concurrency": 1, "requests": login[i].requests, "errors": login[i].errors,
            "reqPerSec": login[i].per_sec, "p50Ms": login[i].p50_ms, "p99Ms": login[i].p99_ms,
            "seed": { "accounts": f.accounts, "seedSeconds": f.seed_secs, "fileBytes": bytes },
            "readyMsMedian": ready[i],
            "stats": figure(&stats[i], 1),
            "pull": figure(&pull[i], 32),
        }));
    }
    fp.insert("loginByAccounts".into(), Value::Array(js));
    fp.insert("scaleSeconds".into(), json!(t0.elapsed().as_secs_f64()));
    Ok(())
}
