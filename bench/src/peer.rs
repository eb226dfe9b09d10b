//! The Better Auth peer (bench/peer, `--peer`): started on a fresh data
//! dir, driven by the same driver with its own paths, side by side.

use std::time::Duration;

use serde_json::{json, Value};

use crate::driver::{self, Check, Kind};
use crate::http::Conn;
use crate::{
    call, figure_json, median, peer_of, procs, request, row, wants, Ctx, ACCOUNTS, HEADER,
    PASSWORD, STARTS,
};

pub async fn peer_workloads(
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
