//! The closing tables (side by side with the peer, the footprint) and the
//! targets of issues 9 and 21, each checked against this run and printed
//! with ✓ or ✗ (never asserted).

use serde_json::{json, Value};

use crate::storm::{self, OVERLOAD_CLIENTS, STORM_CLIENTS, TOKEN_CLIENTS};
use crate::{peer_of, title, Ctx, MIB, STARTS};

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

pub fn print_tables(
    ctx: &mut Ctx,
    fp: &serde_json::Map<String, Value>,
    peer_fp: &serde_json::Map<String, Value>,
) {
    if ctx.storm.is_some() || !ctx.overload.is_empty() {
        let js = storm::to_json(ctx.storm.as_ref(), &ctx.overload);
        ctx.out.insert("storm".into(), js);
    }
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
        rows.push((
            "peak RSS over the whole run (VmHWM)".into(),
            kib(fp, "peakRssRunKiB").map(mib),
            String::new(),
        ));
        if let Some(s) = fp.get("rssSettle") {
            rows.push((
                format!(
                    "RSS after the load: at once / under {:.0} MiB after",
                    storm::RSS_AFTER_KIB as f64 / 1024.0
                ),
                Some(format!(
                    "{} / {}",
                    mib(s["startKiB"].as_f64().unwrap_or(0.0)),
                    s["underAfterMs"]
                        .as_f64()
                        .map_or("never".into(), |v| format!("{:.1} s", v / 1000.0))
                )),
                String::new(),
            ));
        }
        for r in fp
            .get("loginByAccounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let n = r["accounts"].as_u64().unwrap_or(0);
            let f = |v: &Value| v.as_f64().unwrap_or(0.0);
            rows.push((
                format!("exec → healthy, {n} accounts (median of {STARTS})"),
                Some(format!("{:.0} ms", f(&r["readyMsMedian"]))),
                String::new(),
            ));
            rows.push((
                format!("admin stats c=1 p50 / p99, {n} accounts"),
                Some(format!(
                    "{:.2} / {:.2} ms",
                    f(&r["stats"]["p50Ms"]),
                    f(&r["stats"]["p99Ms"])
                )),
                String::new(),
            ));
            rows.push((
                format!("sync pull (current) c=32, {n} accounts"),
                Some(format!("{:.0}/s", f(&r["pull"]["reqPerSec"]))),
                String::new(),
            ));
        }
        for (what, ours, theirs) in rows {
            if let Some(ours) = ours {
                ctx.say(format!("{what:<44} {ours:>16} {theirs:>16}"));
            }
        }
    }
    let mut targets = issue9(ctx, fp);
    targets.extend(issue21(ctx, fp));
    print_targets(ctx, &targets);
}

/// One target of an issue, checked against this run.
pub struct Target {
    /// The issues that ask for it ("9", "9 14", "21").
    issues: &'static str,
    what: String,
    measured: String,
    goal: String,
    /// Met (`Some(true)`), missed, or not measurable in this run (no peer).
    met: Option<bool>,
}

/// The closing table: every target next to what this run measured.
fn print_targets(ctx: &mut Ctx, targets: &[Target]) {
    if targets.is_empty() {
        return;
    }
    let width = |f: fn(&Target) -> usize| targets.iter().map(f).max().unwrap_or(0);
    let (w_what, w_meas, w_goal) = (
        width(|t| t.what.chars().count()).max(6),
        width(|t| t.measured.chars().count()).max(8),
        width(|t| t.goal.chars().count()).max(4),
    );
    ctx.say(String::new());
    ctx.say("targets, this run (✓ met, ✗ missed, n/a not measured in this run):".into());
    ctx.say(format!(
        "    {:<6} {:<w_what$}  {:<w_meas$}  {:<w_goal$}",
        "issue", "target", "measured", "goal"
    ));
    let mut js = Vec::new();
    for t in targets {
        let m = t.met.map_or("n/a", mark);
        ctx.say(format!(
            "{m:<4}{:<6} {:<w_what$}  {:<w_meas$}  {:<w_goal$}",
            t.issues, t.what, t.measured, t.goal
        ));
        js.push(
            json!({ "issues": t.issues, "target": t.what, "measured": t.measured,
                        "goal": t.goal, "met": t.met }),
        );
    }
    let missed = targets.iter().filter(|t| t.met == Some(false)).count();
    let met = targets.iter().filter(|t| t.met == Some(true)).count();
    ctx.say(format!(
        "{met} met, {missed} missed, {} not measured",
        targets.len() - met - missed
    ));
    ctx.out.insert("targets".into(), Value::Array(js));
}

type Targets = Vec<Target>;

fn kib(m: &serde_json::Map<String, Value>, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

fn target(
    issues: &'static str,
    what: impl Into<String>,
    measured: String,
    goal: &str,
    met: Option<bool>,
) -> Target {
    Target {
        issues,
        what: what.into(),
        measured,
        goal: goal.to_owned(),
        met,
    }
}

/// " (N errors)" when there were any.
fn errs(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} errors")
    }
}

/// The first round's targets (issue 9), and issue 14's cost of the
/// live-session check (`/validate` and `/session` ≥ 15× the peer).
fn issue9(ctx: &Ctx, fp: &serde_json::Map<String, Value>) -> Targets {
    let mut t = Vec::new();
    let get = |n: &str, c: usize| Ctx::find(&ctx.ours, n, c);
    if let Some(fl) = ctx.floor {
        for (n, need) in [("login", 90.0), ("register", 80.0)] {
            for c in [8, 32] {
                if let Some(f) = get(n, c) {
                    let p = pct_of(f.per_sec, fl);
                    t.push(target(
                        "9",
                        format!("{n} c={c}, share of the argon2 floor"),
                        format!(
                            "{p:.0} % ({:.1}/s of {fl:.1}/s){}",
                            f.per_sec,
                            errs(f.errors)
                        ),
                        &format!("≥ {need:.0} %"),
                        Some(p >= need && (n != "login" || f.errors == 0)),
                    ));
                }
            }
        }
    }
    let ps = Ctx::find(&ctx.peer, "peer-session", 32);
    for (n, need, issues) in [
        ("validate", 15.0, "9 14"),
        ("session", 15.0, "9 14"),
        ("bootstrap", 10.0, "9"),
    ] {
        if let Some(f) = get(n, 32) {
            let measured = ps.as_ref().map_or(
                format!("{:.0}/s (no peer run: add --peer)", f.per_sec),
                |p| {
                    format!(
                        "{:.1}× ({:.0}/s vs {:.0}/s)",
                        f.per_sec / p.per_sec.max(1e-9),
                        f.per_sec,
                        p.per_sec
                    )
                },
            );
            t.push(target(
                issues,
                format!("{} c=32 vs Better Auth get-session", title(n)),
                measured,
                &format!("≥ {need:.0}×"),
                ps.as_ref().map(|p| f.per_sec / p.per_sec.max(1e-9) >= need),
            ));
        }
    }
    if let Some(v) = kib(fp, "idleRssKiB") {
        t.push(target(
            "9",
            "idle RSS",
            format!("{:.1} MiB", v / 1024.0),
            "≤ 20 MB",
            Some(v * 1024.0 <= 20e6),
        ));
    }
    if let Some(v) = kib(fp, "readyMsFreshMedian") {
        t.push(target(
            "9",
            "exec → healthy, new file",
            format!("{v:.0} ms"),
            "≤ 50 ms",
            Some(v <= 50.0),
        ));
    }
    if let Some(v) = kib(fp, "binaryBytes") {
        t.push(target(
            "9",
            "binary size",
            format!("{:.1} MiB", v / MIB),
            "≤ 20 MB",
            Some(v <= 20e6),
        ));
    }
    if let Some(rows) = fp.get("loginByAccounts").and_then(Value::as_array) {
        if let (Some(a), Some(b)) = (rows.first(), rows.last()) {
            let (pa, pb) = (
                a["p50Ms"].as_f64().unwrap_or(0.0),
                b["p50Ms"].as_f64().unwrap_or(0.0),
            );
            t.push(target(
                "9",
                format!("login p50, {} vs {} accounts", b["accounts"], a["accounts"]),
                format!("{:+.1} % ({pb:.1} vs {pa:.1} ms)", pct_of(pb - pa, pa)),
                "within ±10 %",
                Some(pa > 0.0 && (pb - pa).abs() <= pa * 0.10),
            ));
        }
    }
    t
}

/// sync pull c=32 before this round (issue 21 asks for ≥ 3×).
const PULL_BEFORE: f64 = 2934.3;

/// The second round's targets (issue 21).
fn issue21(ctx: &Ctx, fp: &serde_json::Map<String, Value>) -> Targets {
    let mut t: Targets = Vec::new();
    let get = |n: &str, c: usize| Ctx::find(&ctx.ours, n, c);
    let noop = ctx
        .noop
        .iter()
        .find(|(c, _)| *c == 32)
        .map(|(_, f)| f.clone());
    let health = get("health", 32);
    if let (Some(h), Some(n)) = (&health, &noop) {
        let p = pct_of(h.per_sec, n.per_sec);
        t.push(target(
            "21",
            "/health c=32, share of the no-op server",
            format!(
                "{p:.0} % ({:.0}/s of {:.0}/s){}",
                h.per_sec,
                n.per_sec,
                errs(h.errors)
            ),
            "≥ 50 %",
            Some(p >= 50.0 && h.errors == 0),
        ));
    }
    if let Some(h) = &health {
        for (n, need) in [("validate", 70.0), ("session", 60.0), ("refresh", 50.0)] {
            if let Some(f) = get(n, 32) {
                let p = pct_of(f.per_sec, h.per_sec);
                t.push(target(
                    "21",
                    format!("{} c=32, share of /health", title(n)),
                    format!("{p:.0} % ({:.0}/s){}", f.per_sec, errs(f.errors)),
                    &format!("≥ {need:.0} %"),
                    Some(p >= need && f.errors == 0),
                ));
            }
        }
    }
    if let Some(s) = &ctx.storm {
        for (i, n) in ["validate", "session"].iter().enumerate() {
            let (idle, storm) = (&s.idle[i], &s.storm[i + 1]);
            let kept = pct_of(storm.per_sec, idle.per_sec);
            let times = storm.p99_ms / idle.p99_ms.max(1e-9);
            t.push(target(
                "21",
                format!("storm: {} c={TOKEN_CLIENTS} throughput kept", title(n)),
                format!(
                    "{kept:.0} % ({:.0} of {:.0}/s){}",
                    storm.per_sec,
                    idle.per_sec,
                    errs(storm.errors)
                ),
                "≥ 50 %",
                Some(kept >= 50.0 && storm.errors == 0),
            ));
            t.push(target(
                "21",
                format!("storm: {} c={TOKEN_CLIENTS} p99 vs idle p99", title(n)),
                format!("{times:.1}× ({:.2} vs {:.2} ms)", storm.p99_ms, idle.p99_ms),
                "≤ 3×",
                Some(times <= 3.0),
            ));
        }
        if let Some(fl) = ctx.floor {
            let p = pct_of(s.alone.per_sec, fl);
            t.push(target(
                "21",
                format!("storm: login alone c={STORM_CLIENTS}, share of the floor"),
                format!(
                    "{p:.0} % ({:.1}/s of {fl:.1}/s){}",
                    s.alone.per_sec,
                    errs(s.alone.errors)
                ),
                "≥ 90 %",
                Some(p >= 90.0 && s.alone.errors == 0),
            ));
        }
    }
    for o in &ctx.overload {
        let (measured, ok) = if o.shed.is_empty() {
            ("none shed".to_owned(), true)
        } else {
            (
                format!(
                    "p99 {:.1} ms ({} shed, {} without Retry-After)",
                    o.shed_p99(),
                    o.shed.len(),
                    o.shed_bare
                ),
                o.shed_p99() <= 50.0 && o.shed_bare == 0,
            )
        };
        t.push(target(
            "21",
            format!(
                "overload {} c={OVERLOAD_CLIENTS}: 503 OVERLOADED answered",
                o.name
            ),
            measured,
            "p99 ≤ 50 ms",
            Some(ok),
        ));
        t.push(target(
            "21",
            format!("overload {}: accepted p99 / longest wait", o.name),
            format!(
                "{:.0} / {:.0} ms ({} accepted, {:.1}/s)",
                o.accepted_p99(),
                o.max_ms,
                o.accepted.len(),
                o.per_sec()
            ),
            "≤ 2000 ms each",
            Some(!o.accepted.is_empty() && o.accepted_p99() <= 2000.0 && o.max_ms <= 2000.0),
        ));
        t.push(target(
            "21",
            format!("overload {}: conn errors / timeouts / other", o.name),
            format!("{} / {} / {}", o.conn_errors, o.timeouts, o.other),
            "0 each",
            Some(o.conn_errors == 0 && o.timeouts == 0 && o.other == 0),
        ));
    }
    if let Some(v) = kib(fp, "peakRssRunKiB") {
        let whole = ctx.storm.is_some() && !ctx.overload.is_empty();
        t.push(target(
            "21",
            if whole {
                "peak RSS (VmHWM), whole run with storms"
            } else {
                "peak RSS (VmHWM), whole run (no storms)"
            },
            format!("{:.1} MiB", v / 1024.0),
            "≤ 64 MiB",
            Some(v <= 64.0 * 1024.0),
        ));
    }
    if let Some(s) = fp.get("rssSettle") {
        let under = s["underAfterMs"].as_f64();
        t.push(target(
            "21",
            format!(
                "RSS back under {:.0} MiB after the load",
                storm::RSS_AFTER_KIB as f64 / 1024.0
            ),
            format!(
                "{} (from {:.1} MiB)",
                under.map_or("not within 10 s".into(), |v| format!("{:.1} s", v / 1000.0)),
                s["startKiB"].as_f64().unwrap_or(0.0) / 1024.0
            ),
            "≤ 10 s",
            Some(under.is_some_and(|v| v <= 10_000.0)),
        ));
    }
    if let Some(p) = get("pull", 32) {
        let boot = get("bootstrap", 32)
            .map_or(String::new(), |b| format!("; bootstrap {:.0}/s", b.per_sec));
        t.push(target(
            "21",
            "sync pull, up-to-date client, c=32",
            format!(
                "{:.1}× ({:.0}/s vs {PULL_BEFORE:.0}/s before{boot}){}",
                p.per_sec / PULL_BEFORE,
                p.per_sec,
                errs(p.errors)
            ),
            "≥ 3×",
            Some(p.per_sec >= 3.0 * PULL_BEFORE && p.errors == 0),
        ));
    }
    let scale = fp.get("loginByAccounts").and_then(Value::as_array);
    if let Some(big) = scale.and_then(|r| r.last()) {
        let n = big["accounts"].as_u64().unwrap_or(0);
        let f = |v: &Value| v.as_f64().unwrap_or(f64::INFINITY);
        let p50 = f(&big["stats"]["p50Ms"]);
        t.push(target(
            "21",
            format!("admin stats p50, {n} accounts"),
            format!("{p50:.2} ms"),
            "≤ 20 ms",
            Some(p50 <= 20.0 && big["stats"]["errors"] == 0),
        ));
        let ready = f(&big["readyMsMedian"]);
        t.push(target(
            "21",
            format!("exec → healthy, {n} accounts"),
            format!("{ready:.0} ms"),
            "≤ 50 ms",
            Some(ready <= 50.0),
        ));
        let secs = f(&big["seed"]["seedSeconds"]);
        let budget = 60.0 * n as f64 / 1e6;
        t.push(target(
            "21",
            format!("bench seeding {n} accounts"),
            format!("{secs:.1} s"),
            &format!("≤ {budget:.0} s"),
            Some(secs <= budget),
        ));
    }
    t
}
