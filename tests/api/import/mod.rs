//! `mana-auth import` against a real PostgreSQL (its own cluster, the
//! service's schema written from its Drizzle definitions, forced row-level
//! security on the vault): the built binary imports, then a server on the
//! imported file is driven through both doors with the old credentials.
//! Each rule of the "details the upstream schema forces" is checked
//! here (marked `rule:`).

#[path = "../../upstream/cluster.rs"]
pub mod cluster;
mod edges;
mod seed;

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::better_auth::Browser;
use crate::common::{binary, test_config, Resp, TestServer};
use crate::passkeys::{assertion, register, verify};
use cluster::Cluster;
use seed::{bid, password, Seeded, BACKUP_CODES, ORIGIN, TOTP_SECRET};

const KEK_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// Runs the built binary's import with the given environment.
fn import(db: &Path, from: &str, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.arg("import")
        .arg("--from")
        .arg(from)
        .args(args)
        .env("DATABASE_PATH", db)
        .env("MANA_AUTH_KEK", KEK_B64)
        .env_remove("SOURCE_MANA_AUTH_KEK")
        .env_remove("SOURCE_BETTER_AUTH_SECRET")
        .env_remove("IMPORT_FROM");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn source_env() -> Vec<(&'static str, String)> {
    vec![
        ("SOURCE_MANA_AUTH_KEK", STANDARD.encode(seed::SOURCE_KEK)),
        (
            "SOURCE_BETTER_AUTH_SECRET",
            seed::BETTER_AUTH_SECRET.to_owned(),
        ),
    ]
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `imported skipped` of a table's report line.
fn counts(report: &str, table: &str) -> (u64, u64) {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no line for {table} in\n{report}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols.len(), 3, "{line}");
    (cols[1].parse().unwrap(), cols[2].parse().unwrap())
}

/// The refusal line of `id` in `table`.
fn refusal<'r>(report: &'r str, table: &str, id: &str) -> &'r str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{table}  {id}  ")))
        .unwrap_or_else(|| panic!("{table} {id} not listed in\n{report}"))
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn imported_server(dir: tempfile::TempDir, db: std::path::PathBuf) -> TestServer {
    let mut config = test_config(&db);
    config.base_url = Some(ORIGIN.into());
    config.mana_auth_kek = Some(mana_auth::config::Secret::new(KEK_B64.to_owned()));
    TestServer::start_in(dir, db, config, mana_auth::clock::Clock::system()).await
}

/// The code of `secret` for the server's current time step (totp-rs).
fn totp(t: &TestServer, secret: &[u8]) -> String {
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).unwrap();
    totp.generate(t.clock.now().timestamp() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_deployment_moves_in_and_keeps_working() {
    let cluster = Cluster::start();
    let mut seeded = seed::seed(&cluster).await;
    let owner_url = cluster.url(seed::OWNER, Some(seed::OWNER_PASSWORD), seed::DB);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("imported.db");

    // rule: --dry-run writes nothing of the source's data (no file at all
    // here). As the superuser, the vault table is read in one query. With
    // every log on (trace), no secret of the source reaches the output: it
    // opens the two-factor secrets and unwraps the vault keys all the same.
    let mut traced = source_env();
    traced.push(("RUST_LOG", "trace".to_owned()));
    let out = import(
        &db,
        &cluster.url("postgres", None, seed::DB),
        &traced,
        &["--dry-run"],
    );
    let (report, err) = text(&out);
    assert!(out.status.success(), "{report}{err}");
    no_secret_in(&format!("{report}{err}"), &seeded);
    assert!(!db.exists(), "a dry run created the file");
    assert!(report.contains("dry run: nothing was written"), "{report}");
    assert!(report.contains("read in one query"), "{report}");
    assert_eq!(counts(&report, "users"), (5, 3));

    // Without BETTER_AUTH_SECRET bob's second factor cannot be opened: the
    // run refuses as a whole and writes no account.
    let only_kek = vec![source_env().remove(0), ("RUST_LOG", "trace".to_owned())];
    let out = import(&db, &owner_url, &only_kek, &[]);
    let (stdout, err) = text(&out);
    assert!(!out.status.success());
    no_secret_in(&format!("{stdout}{err}"), &seeded);
    assert!(
        err.contains("two-factor") && err.contains(&bid("bob")),
        "{err}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 0);
    drop(conn);

    // The import, as the owner role: row-level security binds it.
    let out = import(&db, &owner_url, &source_env(), &[]);
    let (report, err) = text(&out);
    assert!(out.status.success(), "{report}{err}");
    check_report(&report);

    let t = imported_server(dir, db.clone()).await;
    sign_ins(&t, &mut seeded).await;
    spaces_and_bootstrap(&t).await;
    keys_vaults_settings(&t, &seeded).await;

    // rule: refused while a server holds the target file.
    let out = import(&db, &owner_url, &source_env(), &[]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("in use by another process"), "{err}");
    let users = t.count("SELECT count(*) FROM users");
    let path = t.db_path.clone();
    let dir = {
        let mut t = t;
        t.server.take().unwrap().stop().await;
        t.dir
    };
    // A second import into the same file refuses and changes nothing.
    let out = import(&path, &owner_url, &source_env(), &[]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("already holds"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let after: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, users);
    drop(dir);
}

/// None of the source's secrets (keys, the database password, TOTP secret,
/// backup codes, the API key, the vault's master key) in `output`.
fn no_secret_in(output: &str, seeded: &Seeded) {
    let mut secrets = vec![
        seed::BETTER_AUTH_SECRET.to_owned(),
        STANDARD.encode(seed::SOURCE_KEK),
        KEK_B64.to_owned(),
        seed::OWNER_PASSWORD.to_owned(),
        TOTP_SECRET.to_owned(),
        seeded.erin_key.clone(),
        STANDARD.encode(seeded.erin_master_key),
        URL_SAFE_NO_PAD.encode(seeded.erin_master_key),
    ];
    for code in BACKUP_CODES {
        secrets.push(code.to_owned());
        secrets.push(code.replace('-', ""));
    }
    for secret in secrets {
        assert!(
            !output.contains(&secret),
            "a secret in the output:\n{output}"
        );
    }
}

fn check_report(report: &str) {
    // rule: one line per table, `table imported skipped`, then every row
    // that was not imported with its reason.
    let header: Vec<&str> = report.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["table", "imported", "skipped"]);
    // rule: soft-deleted, persona and system users are skipped and reported.
    assert_eq!(counts(report, "users"), (5, 3));
    assert!(refusal(report, "users", &bid("dave")).contains("soft-deleted"));
    assert!(refusal(report, "users", &bid("pia")).contains("persona"));
    assert!(refusal(report, "users", &bid("sys")).contains("system"));
    assert_eq!(counts(report, "accounts"), (3, 3));
    assert!(refusal(report, "accounts", &bid("accgina")).contains("google"));
    // rule: auth.passwords only where accounts.password is empty.
    assert_eq!(counts(report, "passwords"), (1, 1));
    assert!(refusal(report, "passwords", &bid("alice")).contains("wins"));
    assert_eq!(counts(report, "organizations"), (5, 2));
    assert!(refusal(report, "organizations", &bid("broken")).contains("no space type"));
    assert!(refusal(report, "organizations", &bid("pdave")).contains("owner"));
    assert_eq!(counts(report, "members"), (7, 4));
    assert!(refusal(report, "members", &bid("mclubbob")).contains("trainer"));
    // rule: accepted/rejected/expired invitations are not imported.
    assert_eq!(counts(report, "invitations"), (1, 4));
    assert!(refusal(report, "invitations", &bid("igus")).contains("accepted"));
    assert!(refusal(report, "invitations", &bid("ihal")).contains("rejected"));
    assert!(refusal(report, "invitations", &bid("iian")).contains("canceled"));
    assert!(refusal(report, "invitations", &bid("ijo")).contains("expired"));
    assert_eq!(counts(report, "passkeys"), (2, 0));
    assert_eq!(counts(report, "two_factor_auth"), (1, 1));
    assert!(refusal(report, "two_factor_auth", &bid("erin")).contains("never turned on"));
    assert_eq!(counts(report, "api_keys"), (2, 0));
    assert_eq!(counts(report, "user_settings"), (1, 0));
    assert_eq!(counts(report, "encryption_vaults"), (2, 1));
    assert_eq!(counts(report, "security_events"), (1, 1));
    assert_eq!(counts(report, "auth.sessions"), (0, 1));
    // rule: the vault table forces row-level security: read per user and
    // counted, never "0 rows visible" taken for "no vaults".
    assert!(
        report.contains("row-level security is forced")
            && report.contains("8 users probed, 3 vaults found"),
        "{report}"
    );
    assert!(
        report.contains("personal spaces made for users without one: 2"),
        "{report}"
    );
}

async fn sign_ins(t: &TestServer, seeded: &mut Seeded) {
    // rule: ids are kept (sub is the source's user id); the old Better Auth
    // password signs in through /api/v1 and is rehashed on the way; role
    // and tier come along.
    let alice = t.login("alice@example.com", &password("alice")).await;
    assert_eq!(alice.status, 200, "{}", alice.body);
    let c = claims(alice.body["accessToken"].as_str().unwrap());
    assert_eq!(c["sub"], bid("alice"));
    assert_eq!(
        (c["role"].as_str(), c["tier"].as_str()),
        (Some("admin"), Some("founder"))
    );
    let hash: String = t
        .db()
        .query_row(
            "SELECT password_hash FROM password_credentials WHERE user_id = ?1",
            [bid("alice")],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'PASSWORD_REHASHED'"),
        1
    );
    // The stale password of the old table does not sign in.
    t.login("alice@example.com", &password("alice-legacy"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // Carol's password came from auth.passwords; the Better Auth door, the
    // address in another case.
    let b = Browser::new(t);
    let carol = b
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "CAROL@example.com", "password": password("carol") }),
        )
        .await;
    assert_eq!(carol.status, 200, "{}", carol.body);
    assert_eq!(carol.body["user"]["id"], bid("carol"));
    // Skipped users and social-only users do not sign in with a password.
    t.login("dave@example.com", &password("dave"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    t.login("gina@example.com", "whatever-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // rule: the TOTP secret's UTF-8 bytes are the key; backup codes were
    // decrypted and hashed; two-factor is on.
    let first = t.login("bob@example.com", &password("bob")).await;
    first.assert_error(401, "TWO_FACTOR_REQUIRED");
    let ticket = first.body["twoFactorTicket"].as_str().unwrap();
    let code = totp(t, TOTP_SECRET.as_bytes());
    let ok = t
        .post(
            "/api/v1/auth/two-factor/verify-totp",
            json!({ "code": code, "ticket": ticket }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["user"]["twoFactorEnabled"], true);
    let again = t.login("bob@example.com", &password("bob")).await;
    let ticket = again.body["twoFactorTicket"].as_str().unwrap().to_owned();
    let backup = |code: &str| {
        t.post(
            "/api/v1/auth/two-factor/verify-backup-code",
            json!({ "code": code, "ticket": ticket }),
        )
    };
    assert_eq!(backup(BACKUP_CODES[1]).await.status, 200);
    let again = t.login("bob@example.com", &password("bob")).await;
    let ticket = again.body["twoFactorTicket"].as_str().unwrap().to_owned();
    let reused = t
        .post(
            "/api/v1/auth/two-factor/verify-backup-code",
            json!({ "code": BACKUP_CODES[1], "ticket": ticket }),
        )
        .await;
    reused.assert_error(401, "TWO_FACTOR_FAILED");

    // rule: passkey public keys in padded standard base64 (erin) and
    // base64url (alice) sign in with the credential the service stored.
    for (email, auth, who) in [
        ("erin@example.com", &mut seeded.erin_authenticator, "erin"),
        (
            "alice@example.com",
            &mut seeded.alice_authenticator,
            "alice",
        ),
    ] {
        let (challenge, credential) = assertion(t, email, auth, ORIGIN).await;
        let signed = verify(t, &challenge, &credential).await;
        assert_eq!(signed.status, 200, "{}", signed.body);
        assert_eq!(signed.body["user"]["id"], bid(who));
    }
    // An imported account (a 32-character id, not a UUID) adds a passkey.
    let erin = t.login("erin@example.com", &password("erin")).await;
    let account = crate::common::Account {
        id: bid("erin"),
        email: "erin@example.com".into(),
        access: erin.body["accessToken"].as_str().unwrap().to_owned(),
        refresh: erin.body["refreshToken"].as_str().unwrap().to_owned(),
    };
    let mut fresh = webauthn_authenticator_rs::WebauthnAuthenticator::new(
        webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true),
    );
    let added = register(t, &account, &mut fresh, ORIGIN, "New phone").await;
    assert_eq!(added.status, 200, "{}", added.body);
    let list = t.get_auth("/api/v1/auth/passkeys", &account.access).await;
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["friendlyName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Erins MacBook") && names.contains(&"New phone"));
}

fn token(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["accessToken"].as_str().unwrap().to_owned()
}

async fn spaces_and_bootstrap(t: &TestServer) {
    let alice = token(&t.login("alice@example.com", &password("alice")).await);
    let mine = t.get_auth("/api/v1/gilden", &alice).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let list = mine.body.as_array().unwrap();
    let ids: Vec<&str> = list.iter().filter_map(|s| s["id"].as_str()).collect();
    // rule: spaces keep their ids.
    assert!(ids.contains(&bid("palice").as_str()) && ids.contains(&bid("acme").as_str()));
    // rule: metadata that arrived as a jsonb string is parsed.
    let acme = t
        .get_auth(&format!("/api/v1/gilden/{}", bid("acme")), &alice)
        .await;
    assert_eq!(acme.status, 200, "{}", acme.body);
    assert_eq!(acme.body["metadata"]["type"], "team");
    assert_eq!(acme.body["metadata"]["color"], "teal");
    // rule: members and invitations keep their ids; "member,admin" is admin.
    let members = acme.body["members"].as_array().unwrap();
    let role_of = |id: &str| {
        members
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["role"].as_str().unwrap().to_owned())
    };
    assert_eq!(role_of(&bid("macmealice")).as_deref(), Some("owner"));
    assert_eq!(role_of(&bid("macmebob")).as_deref(), Some("admin"));
    assert_eq!(role_of(&bid("macmecarol")).as_deref(), Some("member"));
    assert_eq!(members.len(), 3);
    let invitations = acme.body["invitations"].as_array().unwrap();
    let pending: Vec<&Value> = invitations
        .iter()
        .filter(|i| i["status"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], bid("ifrank"));
    // The personal space is the personal one, bound to its owner.
    assert_eq!(t.personal_space(&bid("alice")), bid("palice"));
    // rule: a user without a personal space gets one, as sign-up makes it.
    let carol_space = t.personal_space(&bid("carol"));
    let slug: String = t
        .db()
        .query_row(
            "SELECT slug FROM spaces WHERE id = ?1",
            [&carol_space],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(slug, "carol");
    // A space without a slug got one.
    let club: String = t
        .db()
        .query_row(
            "SELECT slug FROM spaces WHERE id = ?1",
            [bid("club")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(club, "lauftreff-s-d");
    // rule: the userContext of each user and the kontextDoc of each space
    // are written by the import, exactly once.
    assert_eq!(
        t.count(
            "SELECT count(*) FROM users u WHERE (SELECT count(*) FROM sync_changes s \
             WHERE s.user_id = u.id AND s.table_name = 'userContext') != 1"
        ),
        0
    );
    assert_eq!(
        t.count(
            "SELECT count(*) FROM spaces p WHERE (SELECT count(*) FROM sync_changes s \
             WHERE s.space_id = p.id AND s.table_name = 'kontextDoc') != 1"
        ),
        0
    );
    assert_eq!(t.count("SELECT count(*) FROM spaces"), 7);
    // Reconciling finds nothing left to write.
    let r = t
        .post_auth("/api/v1/me/bootstrap-singletons", &alice, json!({}))
        .await;
    assert_eq!(r.body["bootstrapped"]["userContext"], false, "{}", r.body);
}

async fn keys_vaults_settings(t: &TestServer, seeded: &Seeded) {
    let erin = token(&t.login("erin@example.com", &password("erin")).await);
    // rule: the vault key is unwrapped with the source KEK and wrapped
    // again: the same bytes come out.
    let key = t.get_auth("/api/v1/me/encryption-vault/key", &erin).await;
    assert_eq!(key.status, 200, "{}", key.body);
    assert_eq!(
        key.body["masterKey"],
        STANDARD.encode(seeded.erin_master_key)
    );
    let alice = token(&t.login("alice@example.com", &password("alice")).await);
    let zk = t.get_auth("/api/v1/me/encryption-vault/key", &alice).await;
    assert_eq!(zk.body["zeroKnowledge"], true, "{}", zk.body);
    assert_eq!(zk.body["recoveryWrappedMk"], seeded.alice_recovery.0);
    assert_eq!(zk.body["recoveryIv"], seeded.alice_recovery.1);
    // Nothing in the file opens with the source's KEK, and no key is clear.
    let blob: Vec<u8> = t
        .db()
        .query_row(
            "SELECT wrapped_mk FROM encryption_vaults WHERE user_id = ?1",
            [bid("erin")],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!blob
        .windows(32)
        .any(|w| w == seeded.erin_master_key.as_slice()));

    // rule: API keys keep their ids; revoked ones never validate.
    let valid = t
        .post(
            "/api/v1/api-keys/validate",
            json!({ "apiKey": seeded.erin_key, "scope": "tts" }),
        )
        .await;
    assert_eq!(valid.body["valid"], true, "{}", valid.body);
    assert_eq!(valid.body["userId"], bid("erin"));
    let revoked = t
        .post(
            "/api/v1/api-keys/validate",
            json!({ "apiKey": seeded.erin_revoked_key }),
        )
        .await;
    assert_eq!(revoked.body["valid"], false, "{}", revoked.body);
    let keys = t.get_auth("/api/v1/api-keys", &erin).await;
    assert!(
        keys.body.to_string().contains(&bid("keyerin")),
        "{}",
        keys.body
    );

    // Settings: global, per app, per device.
    let s = t.get_auth("/api/v1/settings", &alice).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["globalSettings"]["locale"], "en", "{}", s.body);
    assert_eq!(s.body["globalSettings"]["theme"]["mode"], "dark");
    assert_eq!(s.body["appOverrides"]["calendar"]["dayStartHour"], 7);
    let devices = s.body["deviceSettings"].to_string();
    assert!(
        devices.contains("mac-1") && devices.contains("weekStart"),
        "{devices}"
    );
    // Onboarding and the events of the account came along.
    let onboarding = t.get_auth("/api/v1/me/onboarding", &alice).await;
    assert!(
        onboarding.body["completedAt"].is_string(),
        "{}",
        onboarding.body
    );
    let events = t.get_auth("/api/v1/auth/security-events", &alice).await;
    assert!(
        events.body.to_string().contains("198.51.100.7"),
        "{}",
        events.body
    );
}

/// A self-signed certificate for `localhost` (its own root) and its key.
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509NameBuilder, X509};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (
        b.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

#[tokio::test]
async fn tls_to_postgres_verifies_the_certificate_and_the_host() {
    let (cert, key) = self_signed();
    let cluster = Cluster::start_with(Some((&cert, &key)));
    cluster.psql("postgres", "CREATE DATABASE empty_source");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let db = dir.path().join("never-made.db");
    let url = |host: &str, query: &str| {
        format!(
            "postgres://postgres@{host}:{}/empty_source?{query}",
            cluster.port
        )
    };
    let ca = ca.display();
    // Connected (the source then lacks the schema) or not, by sslmode.
    let connected = |from: &str| {
        let out = import(&db, from, &[], &["--dry-run"]);
        let (_, err) = text(&out);
        assert!(!out.status.success());
        if err.contains("no auth.users table") {
            true
        } else {
            assert!(err.contains("cannot connect"), "{err}");
            false
        }
    };
    assert!(connected(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}")
    )));
    assert!(connected(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}")
    )));
    // The host name is checked: the certificate names localhost only.
    assert!(!connected(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}")
    )));
    // Unlike libpq, `require` and `prefer` do not accept an unknown issuer.
    assert!(!connected(&url("localhost", "sslmode=require")));
    assert!(!connected(&url("localhost", "sslmode=prefer")));
    // Plain text only when asked for.
    assert!(connected(&url("localhost", "sslmode=disable")));
    assert!(!db.exists());
}
