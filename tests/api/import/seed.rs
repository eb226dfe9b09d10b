//! The source database of the import test: the service's schema
//! (`tests/upstream/schema.sql`) owned by a plain role, seeded with what a
//! real deployment holds, made the way the service made it: Better Auth
//! password hashes and encrypted two-factor secrets from Better Auth itself
//! (Node), vault wraps from Web Crypto, passkeys registered by a software
//! authenticator.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;

use super::cluster::Cluster;
use crate::common::TestServer;
use crate::scrypt_passwords::better_auth;

/// The owner role of the source database (not a superuser, so the vault's
/// forced row-level security binds it).
pub const OWNER: &str = "mana";
pub const OWNER_PASSWORD: &str = "mana-db-password";
pub const DB: &str = "mana_platform";
/// The service's BETTER_AUTH_SECRET and KEK.
pub const BETTER_AUTH_SECRET: &str = "the-services-better-auth-secret-0123456789";
pub const SOURCE_KEK: [u8; 32] = [0x5a; 32];
/// A Better Auth TOTP secret: 32 characters whose bytes are the key.
pub const TOTP_SECRET: &str = "Kq3x-9Zp_Lm2Vb7Nc4Rt8Wy1Hs6Jd0Fg";
pub const BACKUP_CODES: [&str; 3] = ["Ab3De-fG7hJ", "kL9mN-pQ2rS", "tU5vW-xY8zA"];
/// The relying party of passkeys, before and after.
pub const ORIGIN: &str = "https://mana.test";

/// A 32-character id as Better Auth makes them.
pub fn bid(tag: &str) -> String {
    format!("{tag}{}", "0".repeat(32 - tag.len()))
}

/// What the checks need to know about the seeded source.
pub struct Seeded {
    pub erin_key: String,
    pub erin_revoked_key: String,
    pub erin_master_key: [u8; 32],
    pub alice_recovery: (String, String),
    pub erin_authenticator: WebauthnAuthenticator<SoftPasskey>,
    pub alice_authenticator: WebauthnAuthenticator<SoftPasskey>,
}

pub fn password(user: &str) -> String {
    format!("{user}-old-password-2024")
}

/// A passkey registered by a software authenticator on a throw-away server
/// with the same relying party, as the service's passkey plugin stored it:
/// authenticator, credential id, COSE key, device type and backed-up flag
/// (from the BE and BS flags of the authenticator data).
async fn passkey() -> (
    WebauthnAuthenticator<SoftPasskey>,
    Vec<u8>,
    Vec<u8>,
    &'static str,
    bool,
) {
    let t = TestServer::start_with(|c| c.base_url = Some(ORIGIN.into())).await;
    let a = t.account("passkey-maker@example.com").await;
    let mut auth = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let opts = t
        .post_auth(
            "/api/v1/auth/passkeys/register/options",
            &a.access,
            json!({}),
        )
        .await;
    let ccr = serde_json::from_value(opts.body.clone()).unwrap();
    let credential = auth
        .do_registration(webauthn_rs::prelude::Url::parse(ORIGIN).unwrap(), ccr)
        .unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    let att = URL_SAFE_NO_PAD
        .decode(
            credential["response"]["attestationObject"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let att: serde_cbor_2::Value = serde_cbor_2::from_slice(&att).unwrap();
    let serde_cbor_2::Value::Map(att) = att else {
        panic!("attestation object is not a map")
    };
    let Some(serde_cbor_2::Value::Bytes(auth_data)) =
        att.get(&serde_cbor_2::Value::Text("authData".into()))
    else {
        panic!("no authData")
    };
    // rpIdHash 32, flags 1, counter 4, aaguid 16, id length 2, id, COSE key.
    let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    let cred_id = auth_data[55..55 + len].to_vec();
    let cose = auth_data[55 + len..].to_vec();
    let flags = auth_data[32];
    let device = if flags & 0x08 != 0 {
        "multiDevice"
    } else {
        "singleDevice"
    };
    (auth, cred_id, cose, device, flags & 0x10 != 0)
}

async fn exec(c: &tokio_postgres::Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) {
    c.execute(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Creates the role, the database and the schema, and seeds it.
pub async fn seed(cluster: &Cluster) -> Seeded {
    cluster.psql(
        "postgres",
        &format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'"),
    );
    cluster.psql("postgres", &format!("CREATE DATABASE {DB} OWNER {OWNER}"));
    let url = cluster.url(OWNER, Some(OWNER_PASSWORD), DB);
    let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(include_str!("../../upstream/schema.sql"))
        .await
        .unwrap();

    let users = ["alice", "bob", "carol", "erin", "dave", "alice-legacy"];
    let passwords: Vec<String> = users.iter().map(|u| password(u)).collect();
    let refs: Vec<&str> = passwords.iter().map(String::as_str).collect();
    let mut erin_mk = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut erin_mk);
    let made = better_auth(&json!({
        "hash": refs,
        "encrypt": { "secret": BETTER_AUTH_SECRET, "data": [
            TOTP_SECRET,
            serde_json::to_string(&BACKUP_CODES).unwrap(),
            "Pending0Setup0Of0Erin00000000000",
            "[]",
        ]},
        "wrap": { "kek": STANDARD.encode(SOURCE_KEK), "keys": [STANDARD.encode(erin_mk)] },
    }));
    let hash = |i: usize| made["hash"][i].as_str().unwrap().to_owned();
    let sealed = |i: usize| made["encrypt"][i].as_str().unwrap().to_owned();
    let wrap = &made["wrap"][0];

    let (erin_auth, erin_cred, erin_cose, erin_device, erin_backed_up) = passkey().await;
    let (alice_auth, alice_cred, alice_cose, alice_device, alice_backed_up) = passkey().await;

    let tx = client.transaction().await.unwrap();
    // Users: created long ago; one soft-deleted, a persona, a system user,
    // one who signs in only with a social provider.
    for (tag, email, role, tier, kind, extra) in [
        (
            "alice",
            "alice@example.com",
            "admin",
            "founder",
            "human",
            "email_verified = true, onboarding_completed_at = '2025-03-01T10:00:00Z'",
        ),
        (
            "bob",
            "bob@example.com",
            "user",
            "beta",
            "human",
            "email_verified = true, two_factor_enabled = true",
        ),
        (
            "carol",
            "Carol@Example.com",
            "user",
            "public",
            "human",
            "email_verified = true",
        ),
        (
            "erin",
            "erin@example.com",
            "service",
            "alpha",
            "human",
            "email_verified = true",
        ),
        (
            "dave",
            "dave@example.com",
            "user",
            "public",
            "human",
            "email_verified = true, deleted_at = '2025-06-01T00:00:00Z'",
        ),
        (
            "pia",
            "pia@personas.example.com",
            "user",
            "public",
            "persona",
            "email_verified = true",
        ),
        (
            "sys",
            "planner@system.example.com",
            "service",
            "public",
            "system",
            "email_verified = true",
        ),
        (
            "gina",
            "gina@example.com",
            "user",
            "public",
            "human",
            "email_verified = true",
        ),
    ] {
        exec(&tx, &format!(
            "INSERT INTO auth.users (id, name, email, role, access_tier, kind, created_at, updated_at) \
             VALUES ($1, $2, $3, '{role}', '{tier}', '{kind}', '2025-01-02T03:04:05.678Z', '2025-02-02T00:00:00Z')"
        ), &[&bid(tag), &format!("{tag} name"), &email]).await;
        exec(
            &tx,
            &format!("UPDATE auth.users SET {extra} WHERE id = $1"),
            &[&bid(tag)],
        )
        .await;
    }
    // Passwords: Better Auth's in accounts; carol's only in the old table;
    // alice's old-table entry is stale and must lose.
    for (i, tag) in ["alice", "bob", "erin", "dave"].iter().enumerate() {
        let h = hash([0, 1, 3, 4][i]);
        exec(
            &tx,
            "INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password) \
                   VALUES ($1, $2, 'credential', $2, $3)",
            &[&bid(&format!("acc{tag}")), &bid(tag), &h],
        )
        .await;
    }
    exec(
        &tx,
        "INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password) \
               VALUES ($1, $2, 'credential', $2, NULL)",
        &[&bid("acccarol"), &bid("carol")],
    )
    .await;
    exec(
        &tx,
        "INSERT INTO auth.accounts (id, account_id, provider_id, user_id) \
               VALUES ($1, 'google-sub-1', 'google', $2)",
        &[&bid("accgina"), &bid("gina")],
    )
    .await;
    exec(
        &tx,
        "INSERT INTO auth.passwords (user_id, hashed_password) VALUES ($1, $2), ($3, $4)",
        &[&bid("carol"), &hash(2), &bid("alice"), &hash(5)],
    )
    .await;
    // Two-factor: bob's is on; erin's setup was never finished.
    exec(
        &tx,
        "INSERT INTO auth.two_factor_auth (user_id, secret, enabled, backup_codes, enabled_at) \
               VALUES ($1, $2, true, $3, '2025-04-01T00:00:00Z'), ($4, $5, false, $6, NULL)",
        &[
            &bid("bob"),
            &sealed(0),
            &sealed(1),
            &bid("erin"),
            &sealed(2),
            &sealed(3),
        ],
    )
    .await;
    // Spaces: personal ones with an object as metadata, a team made through
    // the Better Auth plugin (metadata a JSON string), a club without a slug,
    // a dead user's personal space and one without a type.
    for (tag, name, slug, meta) in [
        (
            "palice",
            "Alice",
            Some("alice"),
            json!({ "type": "personal", "tier": "founder" }),
        ),
        (
            "pbob",
            "Bob",
            Some("bob"),
            json!({ "type": "personal", "tier": "beta" }),
        ),
        (
            "perin",
            "Erin",
            Some("erin"),
            json!({ "type": "personal", "tier": "alpha" }),
        ),
        (
            "pdave",
            "Dave",
            Some("dave"),
            json!({ "type": "personal", "tier": "public" }),
        ),
        (
            "acme",
            "Acme GmbH",
            Some("acme"),
            Value::String(json!({ "type": "team", "color": "teal" }).to_string()),
        ),
        ("club", "Lauftreff Süd", None, json!({ "type": "club" })),
        (
            "broken",
            "No Type",
            Some("no-type"),
            json!({ "color": "red" }),
        ),
    ] {
        exec(
            &tx,
            "INSERT INTO auth.organizations (id, name, slug, metadata, created_at) \
                   VALUES ($1, $2, $3, $4::text::jsonb, '2025-01-05T00:00:00Z')",
            &[&bid(tag), &name, &slug, &meta.to_string()],
        )
        .await;
    }
    for (tag, org, user, role) in [
        ("malice", "palice", "alice", "owner"),
        ("mbob", "pbob", "bob", "owner"),
        ("merin", "perin", "erin", "owner"),
        ("mdave", "pdave", "dave", "owner"),
        ("macmealice", "acme", "alice", "owner"),
        ("macmebob", "acme", "bob", "member,admin"),
        ("macmecarol", "acme", "carol", "member"),
        ("macmepia", "acme", "pia", "member"),
        ("mclub", "club", "erin", "owner"),
        ("mclubbob", "club", "bob", "trainer"),
        ("mbroken", "broken", "alice", "owner"),
    ] {
        exec(
            &tx,
            "INSERT INTO auth.members (id, organization_id, user_id, role) VALUES ($1, $2, $3, $4)",
            &[&bid(tag), &bid(org), &bid(user), &role],
        )
        .await;
    }
    for (tag, email, status, expires) in [
        (
            "ifrank",
            "frank@example.com",
            "pending",
            "2999-01-01T00:00:00Z",
        ),
        (
            "igus",
            "gus@example.com",
            "accepted",
            "2999-01-01T00:00:00Z",
        ),
        (
            "ihal",
            "hal@example.com",
            "rejected",
            "2999-01-01T00:00:00Z",
        ),
        (
            "iian",
            "ian@example.com",
            "canceled",
            "2999-01-01T00:00:00Z",
        ),
        ("ijo", "jo@example.com", "pending", "2020-01-01T00:00:00Z"),
    ] {
        exec(&tx, &format!(
            "INSERT INTO auth.invitations (id, organization_id, email, role, status, expires_at, inviter_id) \
             VALUES ($1, $2, $3, 'member', $4, '{expires}', $5)"
        ), &[&bid(tag), &bid("acme"), &email, &status, &bid("alice")]).await;
    }
    // Passkeys: erin's key as padded standard base64, alice's as base64url.
    exec(&tx, "INSERT INTO auth.passkeys (id, user_id, credential_id, public_key, counter, device_type, \
               backed_up, transports, name, aaguid) VALUES \
               ($1, $2, $3, $4, 0, $5, $6, 'internal,hybrid', 'Erins MacBook', '00000000-0000-0000-0000-000000000000'), \
               ($7, $8, $9, $10, 0, $11, $12, NULL, NULL, NULL)",
        &[&bid("pkerin"), &bid("erin"), &URL_SAFE_NO_PAD.encode(&erin_cred), &STANDARD.encode(&erin_cose),
          &erin_device, &erin_backed_up,
          &bid("pkalice"), &bid("alice"), &URL_SAFE_NO_PAD.encode(&alice_cred), &URL_SAFE_NO_PAD.encode(&alice_cose),
          &alice_device, &alice_backed_up]).await;
    // API keys as the service made them: sk_live_ + 64 hex, SHA-256 hex.
    let erin_key = format!("sk_live_{}", "ab12".repeat(16));
    let erin_revoked_key = format!("sk_live_{}", "cd34".repeat(16));
    for (tag, key, revoked) in [
        ("keyerin", &erin_key, false),
        ("keyerinold", &erin_revoked_key, true),
    ] {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        exec(
            &tx,
            &format!(
                "INSERT INTO auth.api_keys (id, user_id, name, key_prefix, key_hash, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, {})",
                if revoked {
                    "'2025-05-05T00:00:00Z'"
                } else {
                    "NULL"
                }
            ),
            &[
                &bid(tag),
                &bid("erin"),
                &format!("{tag} name"),
                &key[8..16].to_owned(),
                &hash,
            ],
        )
        .await;
    }
    exec(&tx, "INSERT INTO auth.user_settings (user_id, global_settings, app_overrides, device_settings) VALUES \
               ($1, '{\"locale\": \"en\", \"theme\": {\"mode\": \"dark\"}}', '{\"calendar\": {\"dayStartHour\": 7}}', \
               '{\"mac-1\": {\"deviceName\": \"MacBook\", \"deviceType\": \"desktop\", \"lastSeen\": \"2025-05-01T00:00:00.000Z\", \
               \"apps\": {\"calendar\": {\"weekStart\": 1}}}}')", &[&bid("alice")]).await;
    // Vaults, each written under its owner's scope as the service does.
    let mut recovery = [0u8; 60];
    rand::Rng::fill(&mut rand::thread_rng(), &mut recovery[..]);
    let alice_recovery = (STANDARD.encode(recovery), STANDARD.encode([9u8; 12]));
    for (user, wrapped, iv, rw, riv, zk) in [
        (
            "erin",
            Some(wrap["wrappedMk"].as_str().unwrap().to_owned()),
            Some(wrap["wrapIv"].as_str().unwrap().to_owned()),
            Some(alice_recovery.0.clone()),
            Some(alice_recovery.1.clone()),
            false,
        ),
        (
            "alice",
            None,
            None,
            Some(alice_recovery.0.clone()),
            Some(alice_recovery.1.clone()),
            true,
        ),
        (
            "dave",
            Some(wrap["wrappedMk"].as_str().unwrap().to_owned()),
            Some(wrap["wrapIv"].as_str().unwrap().to_owned()),
            None,
            None,
            false,
        ),
    ] {
        exec(
            &tx,
            "SELECT set_config('app.current_user_id', $1, true)",
            &[&bid(user)],
        )
        .await;
        exec(&tx, "INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv, recovery_wrapped_mk, recovery_iv, \
                   zero_knowledge) VALUES ($1, $2, $3, $4, $5, $6)", &[&bid(user), &wrapped, &iv, &rw, &riv, &zk]).await;
    }
    exec(&tx, "INSERT INTO auth.security_events (user_id, event_type, ip_address, metadata) VALUES \
               ($1, 'LOGIN_SUCCESS', '198.51.100.7', '{\"method\": \"password\"}'), ($2, 'LOGIN_SUCCESS', NULL, NULL)",
        &[&bid("alice"), &bid("dave")]).await;
    exec(&tx, "INSERT INTO auth.sessions (id, expires_at, token, user_id) VALUES ($1, '2999-01-01T00:00:00Z', 'tok', $2)",
        &[&bid("salice"), &bid("alice")]).await;
    tx.commit().await.unwrap();
    Seeded {
        erin_key,
        erin_revoked_key,
        erin_master_key: erin_mk,
        alice_recovery,
        erin_authenticator: erin_auth,
        alice_authenticator: alice_auth,
    }
}
