//! Secrets at rest: with `MANA_AUTH_KEK` set, the Ed25519 signing keys and
//! the TOTP secrets are stored wrapped (AES-256-GCM) — rows written in clear
//! before the KEK was set are wrapped in place at start-up — so neither the
//! database file, its WAL nor a backup holds them in clear. A missing or
//! different KEK on a later start stops start-up with a clear error and
//! never replaces the signing key.

use std::path::Path;
use std::process::Command;

use mana_auth::config::{Config, Secret};
use serde_json::json;

use crate::common::{binary, test_config, TestServer, PASSWORD};
use crate::two_factor::{align, code, enrolled, ticket, totp_with};

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEK: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn with_kek(db: &Path, kek: Option<&str>) -> Config {
    let mut c = test_config(db);
    c.mana_auth_kek = kek.map(|k| Secret::new(k.to_owned()));
    c
}

/// Stops the server and starts another on the same file with `config`.
async fn restart(mut t: TestServer, config: Config) -> TestServer {
    if let Some(server) = t.server.take() {
        server.stop().await;
    }
    TestServer::start_in(t.dir, t.db_path, config, t.clock).await
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file and its WAL, as bytes.
fn on_disk(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(Path::new(&wal)) {
        bytes.extend(w);
    }
    bytes
}

/// The 32-byte Ed25519 seed of a stored PKCS#8 key (the OCTET STRING after
/// the algorithm identifier: `04 20` at offset 14).
fn seed_of(der: &[u8]) -> Vec<u8> {
    assert_eq!(&der[7..12], &[0x06, 0x03, 0x2b, 0x65, 0x70], "Ed25519 OID");
    assert_eq!(&der[14..16], &[0x04, 0x20], "the seed's octet string");
    der[16..48].to_vec()
}

fn cli(db: &Path, kek: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_PATH", db)
        .args(args);
    if let Some(k) = kek {
        cmd.env("MANA_AUTH_KEK", k);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_secrets_are_wrapped_in_place_on_the_first_start_with_a_kek() {
    // A server without a KEK stores both in clear, as before.
    let t = TestServer::start().await;
    let e = enrolled(&t, "rest@example.com").await;
    let der: Vec<u8> = t
        .db()
        .query_row("SELECT private_der FROM jwt_keys", [], |r| r.get(0))
        .unwrap();
    let seed = seed_of(&der);
    assert!(contains(&on_disk(&t.db_path), &seed), "clear before a KEK");
    assert!(contains(&on_disk(&t.db_path), &e.secret));

    let db = t.db_path.clone();
    let t = restart(t, with_kek(&db, Some(KEK))).await;
    let disk = on_disk(&t.db_path);
    assert!(
        !contains(&disk, &seed),
        "the signing key seed is on disk in clear"
    );
    assert!(
        !contains(&disk, &e.secret),
        "the TOTP secret is on disk in clear"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM jwt_keys WHERE kek_id IS NULL")
            + t.count("SELECT count(*) FROM two_factor_secrets WHERE kek_id IS NULL"),
        0
    );

    // Both still work: the token signed before the restart, and the second
    // factor (a new code, as the last one was used).
    assert_eq!(
        t.get_auth("/api/v1/auth/session", &e.account.access)
            .await
            .status,
        200
    );
    align(&t);
    let tk = ticket(&t, "rest@example.com").await;
    let signed = totp_with(&t, &tk, &code(&t, &e.secret, 0)).await;
    assert_eq!(signed.status, 200, "{}", signed.body);

    // A backup holds neither in clear.
    let copy = t.dir.path().join("copy.db");
    let out = cli(&t.db_path, None, &["backup", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backup = std::fs::read(&copy).unwrap();
    assert!(!contains(&backup, &seed) && !contains(&backup, &e.secret));

    // A new TOTP secret is never written in clear.
    let b = t.account("fresh@example.com").await;
    let en = t
        .post_auth(
            "/api/v1/auth/two-factor/enable",
            &b.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    let fresh = crate::two_factor::secret_of(en.body["totpURI"].as_str().unwrap());
    assert!(!contains(&on_disk(&t.db_path), &fresh));

    // `keys rotate` with the KEK wraps the new key, and the running server's
    // reloader reads it.
    let out = cli(&t.db_path, Some(KEK), &["keys", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        t.count("SELECT count(*) FROM jwt_keys WHERE kek_id IS NULL"),
        0
    );
    let new_kid: String = t
        .db()
        .query_row(
            "SELECT kid FROM jwt_keys WHERE retired_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let tokens = t.state().tokens.clone();
    let db = t.state().db.clone();
    db.read(move |c| tokens.reload(c)).await.unwrap();
    assert_eq!(t.state().tokens.active_kid(), Some(new_kid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_kek_stops_start_up_and_keeps_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mana-auth.db");
    let t = TestServer::start_in(
        dir,
        db.clone(),
        with_kek(&db, Some(KEK)),
        mana_auth::clock::Clock::system(),
    )
    .await;
    let a = t.account("kept@example.com").await;
    let kid: String = t
        .db()
        .query_row("SELECT kid FROM jwt_keys", [], |r| r.get(0))
        .unwrap();
    let mut t = t;
    t.server.take().unwrap().stop().await;

    for (kek, says) in [
        (None, "MANA_AUTH_KEK is not set"),
        (Some(OTHER_KEK), "another key"),
    ] {
        let err = match mana_auth::start(with_kek(&db, kek), t.clock.clone()).await {
            Ok(_) => panic!("started with KEK {kek:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(KEK) && !err.contains(OTHER_KEK), "{err}");
        assert_eq!(
            t.count("SELECT count(*) FROM jwt_keys"),
            1,
            "no new signing key in place of the wrapped one"
        );
        let out = cli(&db, kek, &["keys", "rotate"]);
        assert!(!out.status.success(), "rotate with KEK {kek:?}");
        assert_eq!(t.count("SELECT count(*) FROM jwt_keys"), 1);
    }

    let t = restart(t, with_kek(&db, Some(KEK))).await;
    let still: String = t
        .db()
        .query_row("SELECT kid FROM jwt_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(still, kid);
    assert_eq!(
        t.get_auth("/api/v1/auth/session", &a.access).await.status,
        200
    );
}
