//! The OpenAPI document (`GET /api/openapi.json`): the router registers each
//! route with its operation (`utoipa_axum::routes!`), so the document lists
//! what is routed; each documented operation reaches a handler, no other
//! method is routed on a documented path, and a
//! property-based run (schemathesis) over it finds no 5xx, no answer outside
//! its declared statuses, content types and schemas, and no hang.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::TestServer;

/// The schemathesis release `./test` installs.
const SCHEMATHESIS: &str = "4.32.5";

/// The service key of the fuzzed server.
const SERVICE_KEY: &str = "fuzz-service-key-0123456789abcdef";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The error bodies a path may document: the framework's under
/// `/api/auth/`; the original service's own shapes on the routes whose
/// clients read them (next to the envelope of the guards); else the
/// envelope.
fn error_schemas(path: &str) -> &'static [&'static str] {
    if path.starts_with("/api/auth/") {
        &["BaErrorBody"]
    } else if path == "/api/v1/me/ai-mission-grant" {
        &["VaultError", "ErrorEnvelope"]
    } else if path.starts_with("/api/v1/admin/personas")
        || path.starts_with("/api/v1/internal/personas")
    {
        &["PlainErrorBody", "ErrorEnvelope"]
    } else {
        &["ErrorEnvelope"]
    }
}

#[tokio::test]
async fn every_operation_names_its_errors_and_security() {
    let t = TestServer::start().await;
    let r = t.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc = r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let in_doc = documented(&doc);
    assert!(in_doc.len() > 160, "only {} operations", in_doc.len());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["serviceKey"]["name"], "X-Service-Key");
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    let required: Vec<&str> = envelope["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["error", "message", "status"]);
    // axum's catch-alls are documented as parameters.
    assert!(doc["paths"]["/admin/{path}"]["get"].is_object());

    // Every operation names its errors with the shared envelope and every
    // protected operation its security.
    for (method, path) in &in_doc {
        let op = &doc["paths"][path][method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} has no success answer"
        );
        for (status, resp) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = resp["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    error_schemas(path)
                        .iter()
                        .any(|s| schema == format!("#/components/schemas/{s}")),
                    "{method} {path} {status}: {schema}"
                );
            }
        }
        if path.starts_with("/api/v1/internal/") {
            assert_eq!(op["security"], serde_json::json!([{ "serviceKey": [] }]));
        }
        if path.starts_with("/api/v1/admin/") || path.starts_with("/api/v1/gilden") {
            assert_eq!(op["security"], serde_json::json!([{ "bearer": [] }]));
        }
    }
}

/// The Better Auth door's shapes (its success bodies are covered by
/// `success_bodies_name_their_fields`): the framework's objects are
/// components, both answers of a sign-in are documented, and request
/// bodies are named per route.
#[tokio::test]
async fn better_auth_shapes_are_components() {
    let t = TestServer::start().await;
    let doc = t.get("/api/openapi.json").await.body;
    // The shapes the framework's clients read are components, each once.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "BaUser",
        "BaSession",
        "BaOrganization",
        "BaMember",
        "BaInvitation",
        "BaPasskey",
    ] {
        assert!(!untyped(&doc, &schemas[name]), "{name}: {}", schemas[name]);
    }
    let sign_in = &doc["paths"]["/api/auth/sign-in/email"]["post"]["responses"]["200"];
    assert_eq!(
        sign_in["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/BaSignInAnswer"
    );
    assert_eq!(
        schemas["BaSignInAnswer"]["oneOf"].as_array().unwrap().len(),
        2
    );
    // Request bodies are named per route: update-passkey takes `{id, name}`
    // (it once shared the name, and so the schema, of organization/update's).
    let update = &doc["paths"]["/api/auth/passkey/update-passkey"]["post"]["requestBody"];
    let name = update["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .trim_start_matches("#/components/schemas/");
    assert_eq!(schemas[name]["required"], json!(["id", "name"]));
}

#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let t = TestServer::start().await;
    let doc = t.get("/api/openapi.json").await.body;
    let operations = documented(&doc);
    for (method, path) in &operations {
        let concrete = path.replace('{', "x").replace('}', "");
        // The other methods of a documented path are not routed.
        for other in METHODS.map(str::to_uppercase) {
            if operations.contains(&(other.clone(), path.clone())) {
                continue;
            }
            let req = t
                .client
                .request(other.parse().unwrap(), t.url(&concrete))
                .header("content-type", "application/json")
                .body("{}");
            let r = t.send(req).await;
            assert_eq!(r.status, 405, "{other} {path} is routed but not documented");
        }
        let req = t
            .client
            .request(method.parse().unwrap(), t.url(&concrete))
            .header("content-type", "application/json")
            .body("{}");
        let r = t.send(req).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.body);
        assert_ne!(
            r.body["message"], "route not found",
            "{method} {path} is not routed"
        );
    }
}

/// Whether a schema says nothing about its fields: an object without
/// properties (after following `$ref`), an empty schema, or an array of
/// such.
fn untyped(doc: &Value, schema: &Value) -> bool {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return untyped(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().all(|p| untyped(doc, p));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = schema[key].as_array() {
            return parts.iter().any(|p| untyped(doc, p));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"array") {
        return untyped(doc, &schema["items"]);
    }
    let empty = schema.as_object().is_none_or(|o| o.is_empty());
    let bare_object = types.contains(&"object")
        && schema.get("properties").is_none()
        && !schema["additionalProperties"].is_object();
    empty || bare_object
}

/// Every success body names its fields, on every door (the Better Auth
/// door's `/api/auth/*` too): no `body = Object` can come back. The
/// embedded files of the admin page (`/admin/{path}`) are served as they
/// are.
#[tokio::test]
async fn success_bodies_name_their_fields() {
    let t = TestServer::start().await;
    let doc = t.get("/api/openapi.json").await.body;
    let mut found = BTreeSet::new();
    for (method, path) in documented(&doc) {
        if path == "/admin/{path}" {
            continue;
        }
        let op = &doc["paths"][&path][method.to_lowercase()];
        for (status, resp) in op["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            if let Some(content) = resp["content"].as_object() {
                for (kind, body) in content {
                    if kind.contains("json") && untyped(&doc, &body["schema"]) {
                        found.insert(format!("{method} {path}"));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "success bodies that say only 'object': {found:?}"
    );
}

/// The schemathesis binary, if installed.
fn schemathesis() -> Option<String> {
    let out = Command::new("schemathesis")
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Sum of `mana_http_requests_total` lines, and of those with a 5xx status.
fn request_counts(metrics: &str) -> (u64, u64) {
    let mut total = 0;
    let mut server_errors = 0;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("mana_http_requests_total{") else {
            continue;
        };
        let n: u64 = rest.rsplit(' ').next().unwrap().parse().unwrap();
        total += n;
        if rest.contains("status=\"5") {
            server_errors += n;
        }
    }
    (total, server_errors)
}

/// Operations that can end the fuzzing admin's session, account or admin
/// role (schemathesis follows links from `GET /api/v1/admin/users` to the
/// admin's own id). They run in a second phase, so that the first reaches
/// every other operation signed in.
const DESTRUCTIVE: [&str; 12] = [
    "POST /api/v1/auth/logout",
    "DELETE /api/v1/auth/sessions/{id}",
    "DELETE /api/v1/admin/users/{id}/sessions",
    "POST /api/v1/admin/users/{id}/lock",
    "PUT /api/v1/admin/users/{id}/role",
    "DELETE /api/v1/admin/users/{id}/data",
    "DELETE /api/v1/auth/account",
    "DELETE /api/v1/me/data",
    "POST /api/auth/sign-out",
    "POST /api/auth/revoke-session",
    "POST /api/auth/revoke-sessions",
    "POST /api/auth/delete-user",
];

/// `(method, route) → statuses` from `mana_http_requests_total`.
fn statuses_by_route(metrics: &str) -> std::collections::BTreeMap<(String, String), Vec<u16>> {
    let mut out: std::collections::BTreeMap<(String, String), Vec<u16>> = Default::default();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("mana_http_requests_total{") else {
            continue;
        };
        let field = |name: &str| {
            let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            let end = start + rest[start..].find('"').unwrap();
            rest[start..end].to_owned()
        };
        out.entry((field("method"), field("route")))
            .or_default()
            .push(field("status").parse().unwrap());
    }
    out
}

/// One schemathesis run with a filter; returns whether it passed, after
/// printing its output.
async fn run_schemathesis(
    t: &TestServer,
    access: &str,
    phase: &str,
    filter: Vec<String>,
    deadline: Instant,
) -> bool {
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "12".to_owned());
    let report = t.dir.path().join(format!("report-{phase}"));
    let log = t.dir.path().join(format!("schemathesis-{phase}.out"));
    let err_log = t.dir.path().join(format!("schemathesis-{phase}.err"));
    let mut cmd = Command::new("schemathesis");
    cmd.args(["run", &t.url("/api/openapi.json")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: with two, hypothesis (on CPython 3.11) sometimes fails
        // inside its own AST cache ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--seed", "8"])
        .args(["--max-redirects", "0"])
        .args(["--suppress-health-check", "all"])
        .args(filter)
        .args(["--header", &format!("Authorization: Bearer {access}")])
        .args(["--header", &format!("X-Service-Key: {SERVICE_KEY}")])
        // The app's origin, so cookie-carrying writes to /api/auth pass the
        // Origin check and reach their handlers.
        .args(["--header", "Origin: http://app.mana.test"])
        .args(["--report-dir", report.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        // Files, not pipes: a long report must not fill a pipe nobody reads.
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_log).unwrap()));
    let output = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("schemathesis did not start");
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = std::fs::read_to_string(&log).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_log).unwrap_or_default();
    println!("--- schemathesis phase {phase} ---\n{stdout}\n{stderr}");
    output.status.success()
}

/// The property-based run: every operation with generated valid and invalid
/// input, as a signed-in admin — first everything that keeps the session,
/// then the operations that end it. Bounded by examples per operation and a
/// hard deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let version = schemathesis().unwrap_or_else(|| {
        panic!(
            "schemathesis is not installed: run ./test (it installs schemathesis=={SCHEMATHESIS})"
        )
    });
    assert!(version.contains(SCHEMATHESIS), "found {version}");
    let t = TestServer::start_with(|c| {
        c.mana_auth_kek = Some(mana_auth::config::Secret::new(
            crate::self_service::KEK_B64.to_owned(),
        ));
        // Depth over realism: the limiter would answer most sign-in attempts
        // with 429 after the first half minute.
        c.rate_limit_auth = 0;
        c.mana_service_key = mana_auth::config::Secret::new(SERVICE_KEY.to_owned());
        c.mana_ai_public_key_pem = Some(crate::mission_grant::runner_key().1.clone());
    })
    .await;
    let admin = t.account("fuzz@example.com").await;
    t.db()
        .execute("UPDATE users SET role = 'admin' WHERE id = ?1", [&admin.id])
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(420);
    let keep: Vec<String> = DESTRUCTIVE
        .iter()
        .flat_map(|name| ["--exclude-name".to_owned(), (*name).to_owned()])
        .collect();
    let first = run_schemathesis(&t, &admin.access, "signed-in", keep, deadline).await;

    // The session outlived the first phase: protected operations were
    // reached signed in, not only refused with 401.
    let metrics = t.get("/metrics").await.body;
    let seen = statuses_by_route(metrics.as_str().unwrap());
    for (method, route) in [
        ("GET", "/api/v1/auth/session"),
        ("GET", "/api/v1/admin/stats"),
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/me/data"),
        ("GET", "/api/v1/gilden"),
    ] {
        let statuses = seen
            .get(&(method.to_owned(), route.to_owned()))
            .unwrap_or_else(|| panic!("{method} {route} was never called"));
        assert!(
            statuses.iter().any(|s| (200..300).contains(s)),
            "{method} {route} never answered 2xx: {statuses:?}"
        );
    }
    let after = t.get_auth("/api/v1/auth/session", &admin.access).await;
    if after.status != 200 {
        let db = t.db();
        let mut stmt = db
            .prepare("SELECT event_type || ' ' || coalesce(metadata, '') FROM security_events WHERE user_id = ?1 ORDER BY created_at")
            .unwrap();
        let events: Vec<String> = stmt
            .query_map([&admin.id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        panic!(
            "the admin's session did not survive: {} {}\nevents: {events:#?}",
            after.status, after.body
        );
    }

    let only: Vec<String> = DESTRUCTIVE
        .iter()
        .flat_map(|name| ["--include-name".to_owned(), (*name).to_owned()])
        .collect();
    let second = run_schemathesis(&t, &admin.access, "destructive", only, deadline).await;
    let elapsed = started.elapsed();

    let metrics = t.get("/metrics").await.body;
    let (requests, server_errors) = request_counts(metrics.as_str().unwrap());
    println!(
        "schemathesis {SCHEMATHESIS}: {requests} requests answered by handlers, \
         {server_errors} with 5xx, in {:.0} s",
        elapsed.as_secs_f64()
    );
    assert!(Instant::now() < deadline, "the run hit its deadline");
    assert_eq!(server_errors, 0, "5xx answers during the run");
    assert!(requests > 500, "only {requests} requests reached handlers");
    assert!(
        first,
        "schemathesis reported failures in the signed-in phase"
    );
    assert!(
        second,
        "schemathesis reported failures in the destructive phase"
    );
}

/// Every type the document names is named once: utoipa keys components by
/// their bare type name, so two `ToSchema` types called the same (two
/// `CreateRequest`s, say) silently become one component, and one of the
/// routes documents the other's body. The router registers types, not
/// names, so the document itself cannot show the clash; the sources can.
#[test]
fn no_two_schema_types_share_a_component_name() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.contains("derive(") && line.contains("ToSchema")) {
                continue;
            }
            // The attributes up to the item, then the item's name (or the
            // name `#[schema(as = …)]` gives it).
            let mut renamed = None;
            for next in lines.iter().skip(i + 1).take(12) {
                let next = next.trim();
                if let Some(rest) = next.split("schema(as = ").nth(1) {
                    renamed = rest
                        .split([')', ','])
                        .next()
                        .map(str::trim)
                        .map(str::to_owned);
                }
                let item = next
                    .split_whitespace()
                    .skip_while(|w| !matches!(*w, "struct" | "enum"))
                    .nth(1);
                if let Some(item) = item {
                    let name = renamed.take().unwrap_or_else(|| {
                        item.split(['<', '{', '(', ';'])
                            .next()
                            .unwrap_or(item)
                            .to_owned()
                    });
                    names
                        .entry(name)
                        .or_default()
                        .push(format!("{}:{}", file.display(), i + 1));
                    break;
                }
            }
        }
    }
    assert!(names.len() > 100, "found only {} schema types", names.len());
    let clashes: Vec<_> = names.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(
        clashes.is_empty(),
        "schema names used by more than one type: {clashes:#?}"
    );
}
