//! `mana-auth import` on a source that is not tidy: rows that conflict with
//! each other or with this server's rules, malformed values, a second
//! factor that cannot be opened, an unreachable source. Each bad row is
//! listed with its reason and the rest comes over; a whole-run refusal
//! writes nothing and names no secret; the fixed source imports on the next
//! run; a run into the filled file refuses and changes nothing.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;

use super::cluster::Cluster;
use super::seed::{bid, password, BETTER_AUTH_SECRET, DB, OWNER, OWNER_PASSWORD, SOURCE_KEK};
use super::{counts, import, imported_server, refusal, source_env, text, KEK_B64};
use crate::scrypt_passwords::better_auth;

/// A COSE EC2 P-256 public key (RFC 8152) of a fresh key pair.
fn cose_p256() -> Vec<u8> {
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use serde_cbor_2::Value as C;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    let mut ctx = BigNumContext::new().unwrap();
    key.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    let map = [
        (C::Integer(1), C::Integer(2)),
        (C::Integer(3), C::Integer(-7)),
        (C::Integer(-1), C::Integer(1)),
        (C::Integer(-2), C::Bytes(x.to_vec_padded(32).unwrap())),
        (C::Integer(-3), C::Bytes(y.to_vec_padded(32).unwrap())),
    ];
    serde_cbor_2::to_vec(&C::Map(map.into_iter().collect())).unwrap()
}

/// The schema, owned by the plain role, and rows that a long-running
/// deployment can hold (inserted as the superuser).
fn seed(c: &Cluster) {
    c.psql(
        "postgres",
        &format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'"),
    );
    c.psql("postgres", &format!("CREATE DATABASE {DB} OWNER {OWNER}"));
    let schema = include_str!("../../upstream/schema.sql");
    c.psql(DB, &format!("SET ROLE {OWNER};\n{schema}"));
    let made = better_auth(&json!({
        "hash": [password("ok")],
        "wrap": { "kek": STANDARD.encode([0x77u8; 32]), "keys": [STANDARD.encode([9u8; 32])] },
    }));
    let hash = made["hash"][0].as_str().unwrap();
    let foreign = &made["wrap"][0];
    let cose = cose_p256();
    let sha = |s: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()));
    let big = "x".repeat(70_000);
    let sql = format!(
        "INSERT INTO auth.users (id, name, email, created_at, two_factor_enabled) VALUES
           ('{ok}', 'Ok', 'ok@example.com', '2025-01-01T00:00:00Z', false),
           ('{okcase}', 'Ok again', 'OK@Example.com', '2025-01-02T00:00:00Z', false),
           ('{bademail}', 'Bad', 'not an address', '2025-01-03T00:00:00Z', false),
           ('{mal}', 'Mal', 'mal@example.com', '2025-01-04T00:00:00Z', false),
           ('{tf}', 'Tf', 'tf@example.com', '2025-01-05T00:00:00Z', true);
         INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password) VALUES
           ('{aok}', '{ok}', 'credential', '{ok}', '{hash}'),
           ('{amal}', '{mal}', 'credential', '{mal}', 'zz:not-a-hash'),
           ('{abad}', '{bademail}', 'credential', '{bademail}', '{hash}');
         INSERT INTO auth.organizations (id, name, slug, metadata) VALUES
           ('{pok}', 'Ok', 'ok', '{{\"type\": \"personal\"}}'),
           ('{team}', 'Team Rocket', 'Team Rocket!', to_jsonb('{{\"type\": \"team\"}}'::text)),
           ('{bad1}', 'Bad 1', 'bad-1', to_jsonb('{{not json'::text)),
           ('{bad2}', 'Bad 2', 'bad-2', '42'),
           ('{bad3}', 'Bad 3', 'bad-3', '{{\"type\": \"castle\"}}');
         INSERT INTO auth.members (id, organization_id, user_id, role) VALUES
           ('{m1}', '{pok}', '{ok}', 'owner'),
           ('{m2}', '{team}', '{ok}', 'owner'),
           ('{m3}', '{team}', '{ok}', 'member'),
           ('{m4}', '{team}', '{bademail}', 'member'),
           ('{m5}', '{team}', '{mal}', 'wizard'),
           ('{m6}', '{bad1}', '{ok}', 'owner');
         INSERT INTO auth.passkeys (id, user_id, credential_id, public_key, device_type) VALUES
           ('{pk1}', '{ok}', 'AQIDBA', '{key}', 'singleDevice'),
           ('{pk2}', '{mal}', 'AQIDBA==', '{key}', 'singleDevice'),
           ('{pk3}', '{ok}', 'BQYHCA', 'not a key', 'singleDevice');
         INSERT INTO auth.api_keys (id, user_id, name, key_prefix, key_hash, scopes) VALUES
           ('{k1}', '{ok}', 'k1', 'sk_live_', 'xyz', '[\"stt\"]'),
           ('{k2}', '{ok}', 'k2', 'sk_live_', '{h1}', '[\"stt\"]'),
           ('{k3}', '{mal}', 'k3', 'sk_live_', '{h1}', '[\"stt\"]'),
           ('{k4}', '{ok}', 'k4', 'sk_live_', '{h2}', '{{\"a\": 1}}');
         INSERT INTO auth.user_settings (user_id, global_settings) VALUES
           ('{ok}', jsonb_build_object('big', '{big}'));
         INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv) VALUES
           ('{ok}', '{fwrapped}', '{fiv}'),
           ('{mal}', 'not base64!!', 'AAAA');
         INSERT INTO auth.two_factor_auth (user_id, secret, enabled, backup_codes) VALUES
           ('{tf}', 'garbage', true, 'garbage');",
        ok = bid("ok"),
        okcase = bid("okcase"),
        bademail = bid("bademail"),
        mal = bid("mal"),
        tf = bid("tf"),
        aok = bid("aok"),
        amal = bid("amal"),
        abad = bid("abad"),
        pok = bid("pok"),
        team = bid("team"),
        bad1 = bid("bad1"),
        bad2 = bid("bad2"),
        bad3 = bid("bad3"),
        m1 = bid("m1"),
        m2 = bid("m2"),
        m3 = bid("m3"),
        m4 = bid("m4"),
        m5 = bid("m5"),
        m6 = bid("m6"),
        pk1 = bid("pk1"),
        pk2 = bid("pk2"),
        pk3 = bid("pk3"),
        key = URL_SAFE_NO_PAD.encode(&cose),
        k1 = bid("k1"),
        k2 = bid("k2"),
        k3 = bid("k3"),
        k4 = bid("k4"),
        h1 = sha("sk_live_one"),
        h2 = sha("sk_live_two"),
        fwrapped = foreign["wrappedMk"].as_str().unwrap(),
        fiv = foreign["wrapIv"].as_str().unwrap(),
    );
    c.psql(DB, &sql);
}

/// None of the source's secrets in `output`.
fn no_secret_in(output: &str) {
    for secret in [
        BETTER_AUTH_SECRET.to_owned(),
        STANDARD.encode(SOURCE_KEK),
        KEK_B64.to_owned(),
        OWNER_PASSWORD.to_owned(),
    ] {
        assert!(
            !output.contains(&secret),
            "a secret in the output:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untidy_sources_are_listed_row_by_row_and_a_failed_run_writes_nothing() {
    let cluster = Cluster::start();
    seed(&cluster);
    let url = cluster.url("postgres", None, DB);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("imported.db");
    let mut env = source_env();
    env.push(("RUST_LOG", "trace".to_owned()));

    // An unreachable source: the error names neither the password in the
    // URL nor any other secret.
    let unreachable = format!("postgres://{OWNER}:{OWNER_PASSWORD}@127.0.0.1:1/{DB}");
    let out = import(&db, &unreachable, &env, &["--dry-run"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    no_secret_in(&format!("{stdout}{stderr}"));

    // A second factor that is on but cannot be opened refuses the whole
    // run: it names the user, writes no account, and shows no secret.
    let out = import(&db, &url, &env, &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("two-factor") && stderr.contains(&bid("tf")),
        "{stdout}{stderr}"
    );
    no_secret_in(&format!("{stdout}{stderr}"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 0);
    drop(conn);

    // Fixed at the source (2FA off for that user), the next run imports.
    cluster.psql(
        DB,
        &format!(
            "UPDATE auth.users SET two_factor_enabled = false WHERE id = '{}'",
            bid("tf")
        ),
    );
    let out = import(&db, &url, &source_env(), &[]);
    let (report, err) = text(&out);
    assert!(out.status.success(), "{report}{err}");
    no_secret_in(&format!("{report}{err}"));

    assert_eq!(counts(&report, "users"), (3, 2));
    assert!(refusal(&report, "users", &bid("okcase")).contains("differs only in case"));
    assert!(refusal(&report, "users", &bid("bademail")).contains("not a valid address"));
    assert_eq!(counts(&report, "accounts"), (1, 2));
    assert!(refusal(&report, "accounts", &bid("amal")).contains("not recognised"));
    assert!(refusal(&report, "accounts", &bid("abad")).contains("user was not imported"));
    assert_eq!(counts(&report, "organizations"), (2, 3));
    assert!(refusal(&report, "organizations", &bid("bad1")).contains("string that is not JSON"));
    assert!(refusal(&report, "organizations", &bid("bad2")).contains("not an object"));
    assert!(refusal(&report, "organizations", &bid("bad3")).contains("castle"));
    assert_eq!(counts(&report, "members"), (2, 4));
    assert!(refusal(&report, "members", &bid("m3")).contains("second membership"));
    assert!(refusal(&report, "members", &bid("m4")).contains("user was not imported"));
    assert!(refusal(&report, "members", &bid("m5")).contains("wizard"));
    assert!(refusal(&report, "members", &bid("m6")).contains("space was not imported"));
    // The same credential id, once unpadded and once padded: one passkey.
    assert_eq!(counts(&report, "passkeys"), (1, 2));
    assert!(refusal(&report, "passkeys", &bid("pk2")).contains("same credential id"));
    assert!(refusal(&report, "passkeys", &bid("pk3")).contains("public key"));
    assert_eq!(counts(&report, "api_keys"), (1, 3));
    assert!(refusal(&report, "api_keys", &bid("k1")).contains("not a SHA-256"));
    assert!(refusal(&report, "api_keys", &bid("k3")).contains("same key hash"));
    refusal(&report, "api_keys", &bid("k4"));
    assert_eq!(counts(&report, "user_settings"), (0, 1));
    assert!(refusal(&report, "user_settings", &bid("ok")).contains("larger than 64 KiB"));
    assert_eq!(counts(&report, "encryption_vaults"), (0, 2));
    assert!(
        refusal(&report, "encryption_vaults", &bid("ok")).contains("does not open"),
        "{report}"
    );
    assert!(refusal(&report, "encryption_vaults", &bid("mal")).contains("not base64"));
    assert!(refusal(&report, "two_factor_auth", &bid("tf")).contains("never turned on"));
    assert!(
        report.contains("slug \"Team Rocket!\" is now \"team-rocket\""),
        "{report}"
    );

    // What came over works: the password signs in, the space keeps its id
    // under a slug this server accepts, the user has no second factor.
    let t = imported_server(dir, db.clone()).await;
    let ok = t.login("ok@example.com", &password("ok")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        super::claims(ok.body["accessToken"].as_str().unwrap())["sub"],
        bid("ok")
    );
    let slug: String = t
        .db()
        .query_row(
            "SELECT slug FROM spaces WHERE id = ?1",
            [bid("team")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(slug, "team-rocket");
    let tf = t.login("tf@example.com", "anything-at-all-1").await;
    tf.assert_error(401, "INVALID_CREDENTIALS");
    let rows = t.count("SELECT count(*) FROM passkeys");
    let path = t.db_path.clone();
    let dir = {
        let mut t = t;
        t.server.take().unwrap().stop().await;
        t.dir
    };

    // Re-running into the filled file (dry run or not) refuses and changes
    // nothing.
    for args in [&["--dry-run"][..], &[][..]] {
        let out = import(&path, &url, &source_env(), args);
        let (_, err) = text(&out);
        assert!(!out.status.success());
        assert!(err.contains("already holds"), "{err}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let after: i64 = conn
        .query_row("SELECT count(*) FROM passkeys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, rows);
    drop(dir);
}
