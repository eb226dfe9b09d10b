//! Better Auth's scrypt password hashes (as `mana-auth import` brings them
//! over) sign in through both doors and are replaced by argon2id in the
//! write that opens the session. The hashes are made by Better Auth 1.7.25
//! itself, run with Node (`tests/browser/better_auth.mjs`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::better_auth::{assert_ba_error, Browser};
use crate::common::{TestServer, PASSWORD};

/// Runs `tests/browser/better_auth.mjs` with `request`; its JSON answer.
pub fn better_auth(request: &Value) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/better-auth").exists(),
        "better-auth is not installed: run `npm ci --prefix tests/browser` (.ci/run does)"
    );
    let mut child = Command::new("node")
        .arg(dir.join("better_auth.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node could not be started");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "better_auth.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Better Auth hashes of `passwords`, in order.
pub fn better_auth_hashes(passwords: &[&str]) -> Vec<String> {
    let answer = better_auth(&json!({ "hash": passwords }));
    answer["hash"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

fn stored_hash(t: &TestServer, email: &str) -> String {
    t.db()
        .query_row(
            "SELECT password_hash FROM password_credentials p JOIN users u ON u.id = p.user_id \
             WHERE u.email = ?1",
            [email],
            |r| r.get(0),
        )
        .unwrap()
}

/// Replaces the stored hash of `email` (as an import leaves it).
fn set_hash(t: &TestServer, email: &str, hash: &str) {
    let n = t
        .db()
        .execute(
            "UPDATE password_credentials SET password_hash = ?2 \
             WHERE user_id = (SELECT id FROM users WHERE email = ?1)",
            [email, hash],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn rehashed_events(t: &TestServer, email: &str) -> i64 {
    t.db()
        .query_row(
            "SELECT count(*) FROM security_events e JOIN users u ON u.id = e.user_id \
             WHERE u.email = ?1 AND e.event_type = 'PASSWORD_REHASHED'",
            [email],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auth_hashes_sign_in_through_both_doors_and_are_rehashed() {
    let t = TestServer::start().await;
    // NFKC: Better Auth hashed the normalised form; "ﬁ" is "fi" there.
    let old = "alte-Pa\u{fb01}word-2024";
    let hashes = better_auth_hashes(&[old, old]);
    for (email, hash) in [
        ("v1@example.com", &hashes[0]),
        ("ba@example.com", &hashes[1]),
    ] {
        assert_eq!(t.register(email).await.status, 200);
        set_hash(&t, email, hash);
    }

    // A wrong password is a normal credential failure; nothing is replaced.
    t.login("v1@example.com", "alte-Password-2025")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let browser = Browser::new(&t);
    let wrong = browser
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ba@example.com", "password": "alte-Password-2025" }),
        )
        .await;
    assert_ba_error(&wrong, 401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(stored_hash(&t, "v1@example.com"), hashes[0]);
    assert_eq!(
        t.count("SELECT count(*) FROM security_events WHERE event_type = 'LOGIN_FAILURE'"),
        2
    );

    // /api/v1/auth/login with the old password (in its NFKC form, too).
    let v1 = t.login("v1@example.com", "alte-Pafiword-2024").await;
    assert_eq!(v1.status, 200, "{}", v1.body);
    let now = stored_hash(&t, "v1@example.com");
    assert!(now.starts_with("$argon2id$v=19$"), "{now}");
    assert_eq!(rehashed_events(&t, "v1@example.com"), 1);
    // The session opened by that login works, and the new hash does too.
    let me = t
        .get_auth(
            "/api/v1/auth/session",
            v1.body["accessToken"].as_str().unwrap(),
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(t.login("v1@example.com", old).await.status, 200);
    assert_eq!(stored_hash(&t, "v1@example.com"), now);
    assert_eq!(rehashed_events(&t, "v1@example.com"), 1);
    t.login("v1@example.com", PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // /api/auth/sign-in/email.
    let ba = browser
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "ba@example.com", "password": old }),
        )
        .await;
    assert_eq!(ba.status, 200, "{}", ba.body);
    assert!(stored_hash(&t, "ba@example.com").starts_with("$argon2id$"));
    assert_eq!(rehashed_events(&t, "ba@example.com"), 1);
    let session = browser.get("/api/auth/get-session").await;
    assert_eq!(session.body["user"]["email"], "ba@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_factor_on_the_rehash_rides_on_the_ticket() {
    let t = TestServer::start().await;
    let a = t.account("tf@example.com").await;
    let en = t
        .post_auth(
            "/api/v1/auth/two-factor/enable",
            &a.access,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(en.status, 200, "{}", en.body);
    t.db()
        .execute(
            "UPDATE users SET two_factor_enabled = 1 WHERE id = ?1",
            [&a.id],
        )
        .unwrap();
    let hash = better_auth_hashes(&["ein-altes-passwort"]).remove(0);
    set_hash(&t, "tf@example.com", &hash);
    let r = t.login("tf@example.com", "ein-altes-passwort").await;
    r.assert_error(401, "TWO_FACTOR_REQUIRED");
    assert!(r.body["twoFactorTicket"].is_string());
    assert!(stored_hash(&t, "tf@example.com").starts_with("$argon2id$"));
    assert_eq!(rehashed_events(&t, "tf@example.com"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_learns_whether_scrypt_hashes_are_left() {
    let t = TestServer::start().await;
    assert!(!t.state().hasher.scrypt_stored());
    assert_eq!(t.register("left@example.com").await.status, 200);
    let hash = better_auth_hashes(&["noch-ein-altes"]).remove(0);
    set_hash(&t, "left@example.com", &hash);
    let t = t.restart().await;
    assert!(t.state().hasher.scrypt_stored());
    // Other passwords still check against argon2 only, and answer right.
    assert_eq!(t.register("new@example.com").await.status, 200);
    assert_eq!(t.login("new@example.com", PASSWORD).await.status, 200);
    assert_eq!(
        t.login("left@example.com", "noch-ein-altes").await.status,
        200
    );
    // Once none is left, the next start no longer pays for scrypt.
    let t = t.restart().await;
    assert!(!t.state().hasher.scrypt_stored());
}
