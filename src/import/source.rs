//! Reading the PostgreSQL service's database (schema `auth` of its Drizzle
//! schema and `sql/` migrations) into memory, in one read-only
//! repeatable-read transaction, so every table comes from the same
//! snapshot. Timestamps are read as UTC ISO strings in this server's
//! format and jsonb as text, so no type mapping is needed here.
//!
//! TLS: the URL's `sslmode` decides (`disable`; `prefer`, the default: TLS
//! when the server offers it; `require`, `verify-ca`, `verify-full`: TLS or
//! no connection). Whenever TLS is used the server certificate is verified
//! against the system's roots or `sslrootcert=FILE`, and its host name is
//! checked except with `verify-ca`. Unlike libpq, `prefer` and `require`
//! do not accept an unverified certificate.

use std::collections::HashMap;

use openssl::ssl::{SslConnector, SslMethod};
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::{Client, Row, Transaction};

pub use super::rows::*;

/// Why the source could not be read.
#[derive(Debug)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn pg(what: &str) -> impl Fn(tokio_postgres::Error) -> SourceError + '_ {
    move |e| {
        // The database's own message (with its detail), never the URL.
        let text = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned());
        SourceError(format!("{what}: {text}"))
    }
}

/// `expr` of a timestamptz column as `2026-11-25T10:00:00.000Z`.
fn ts(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// How the vault table was read.
pub enum VaultAccess {
    /// The table does not exist.
    Absent,
    /// In one query: the role bypasses row-level security (superuser or
    /// BYPASSRLS), or the table does not force it.
    Whole,
    /// Per user, after `set_config('app.current_user_id', …)`: the policy
    /// hides every row otherwise, so "0 rows" would mean nothing.
    PerUser { probed: usize },
}

/// Everything read from the source.
pub struct Source {
    pub users: Vec<User>,
    pub accounts: Vec<Account>,
    /// `auth.passwords` (user id → hash), older than `accounts.password`.
    pub legacy_passwords: HashMap<String, String>,
    pub organizations: Vec<Organization>,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub passkeys: Vec<Passkey>,
    pub two_factor: Vec<TwoFactor>,
    pub api_keys: Vec<ApiKey>,
    pub settings: Vec<Settings>,
    pub vaults: Vec<Vault>,
    pub vault_access: VaultAccess,
    pub events: Vec<Event>,
    /// Tables not imported by design, with their row counts.
    pub left_behind: Vec<(&'static str, i64, &'static str)>,
}

/// A connection string split into the driver's configuration and the CA
/// file to trust, with libpq's `verify-ca`/`verify-full` understood.
pub struct Target {
    config: tokio_postgres::Config,
    root_cert: Option<String>,
    check_host: bool,
}

/// Parses `postgres://…` (or the key=value form).
pub fn parse(url: &str) -> Result<Target, SourceError> {
    let mut root_cert = None;
    let mut check_host = true;
    let mut rest = url.to_owned();
    if let Some((base, query)) = url.split_once('?') {
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslrootcert", file)) => root_cert = Some(file.to_owned()),
                Some(("sslmode", "verify-full")) => kept.push("sslmode=require".to_owned()),
                Some(("sslmode", "verify-ca")) => {
                    check_host = false;
                    kept.push("sslmode=require".to_owned());
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
    }
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| SourceError(format!("--from is not a PostgreSQL URL: {e}")))?;
    if config.get_password().is_none() {
        if let Ok(pw) = std::env::var("PGPASSWORD") {
            config.password(pw);
        }
    }
    Ok(Target {
        config,
        root_cert,
        check_host,
    })
}

/// Connects and spawns the connection task on the current runtime.
pub async fn connect(target: &Target) -> Result<Client, SourceError> {
    let tls_err = |e: openssl::error::ErrorStack| SourceError(format!("TLS setup: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(tls_err)?;
    if let Some(file) = &target.root_cert {
        builder.set_ca_file(file).map_err(tls_err)?;
    }
    let mut tls = MakeTlsConnector::new(builder.build());
    if !target.check_host {
        tls.set_callback(|cfg, _| {
            cfg.set_verify_hostname(false);
            Ok(())
        });
    }
    let (client, connection) = target
        .config
        .connect(tls)
        .await
        .map_err(pg("cannot connect to the source database"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "source connection ended");
        }
    });
    Ok(client)
}

async fn exists(tx: &Transaction<'_>, table: &str) -> Result<bool, SourceError> {
    let row = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(pg("schema lookup"))?;
    Ok(row.get(0))
}

async fn rows(tx: &Transaction<'_>, table: &str, sql: &str) -> Result<Vec<Row>, SourceError> {
    if !exists(tx, table).await? {
        return Ok(Vec::new());
    }
    tx.query(sql, &[])
        .await
        .map_err(|e| pg(&format!("reading {table}"))(e))
}

/// Reads everything in one snapshot.
pub async fn read(client: &mut Client) -> Result<Source, SourceError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg("cannot start a read transaction"))?;
    if !exists(&tx, "auth.users").await? {
        return Err(SourceError(
            "the source has no auth.users table: is this the PostgreSQL service's database?".into(),
        ));
    }
    let users: Vec<User> = rows(&tx, "auth.users", &format!(
        "SELECT id, name, email, email_verified, image, role::text, access_tier::text, kind::text, \
         coalesce(two_factor_enabled, false), {}, {}, {}, {} FROM auth.users ORDER BY created_at, id",
        ts("created_at"), ts("updated_at"), ts("deleted_at"), ts("onboarding_completed_at")
    ))
    .await?
    .into_iter()
    .map(|r| User {
        id: r.get(0),
        name: r.get(1),
        email: r.get(2),
        email_verified: r.get(3),
        image: r.get(4),
        role: r.get(5),
        access_tier: r.get(6),
        kind: r.get(7),
        two_factor_enabled: r.get(8),
        created_at: r.get(9),
        updated_at: r.get(10),
        deleted_at: r.get(11),
        onboarding_completed_at: r.get(12),
    })
    .collect();
    let accounts = rows(
        &tx,
        "auth.accounts",
        "SELECT id, user_id, provider_id, password FROM auth.accounts ORDER BY updated_at DESC, id",
    )
    .await?
    .into_iter()
    .map(|r| Account {
        id: r.get(0),
        user_id: r.get(1),
        provider_id: r.get(2),
        password: r.get(3),
    })
    .collect();
    let legacy_passwords = rows(
        &tx,
        "auth.passwords",
        "SELECT user_id, hashed_password FROM auth.passwords",
    )
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let (organizations, members, invitations) = read_spaces(&tx).await?;
    let passkeys = read_passkeys(&tx).await?;
    let (two_factor, api_keys, settings) = read_credentials(&tx).await?;
    let (vaults, vault_access) = read_vaults(&tx, &users).await?;
    let events = read_events(&tx).await?;
    let left_behind = count_left_behind(&tx).await?;
    tx.commit().await.map_err(pg("closing the read"))?;
    Ok(Source {
        users,
        accounts,
        legacy_passwords,
        organizations,
        members,
        invitations,
        passkeys,
        two_factor,
        api_keys,
        settings,
        vaults,
        vault_access,
        events,
        left_behind,
    })
}

type Spaces = (Vec<Organization>, Vec<Member>, Vec<Invitation>);

async fn read_spaces(tx: &Transaction<'_>) -> Result<Spaces, SourceError> {
    let orgs = rows(tx, "auth.organizations", &format!(
        "SELECT id, name, slug, logo, metadata::text, {}, {} FROM auth.organizations ORDER BY created_at, id",
        ts("created_at"), ts("updated_at")
    ))
    .await?
    .into_iter()
    .map(|r| Organization {
        id: r.get(0),
        name: r.get(1),
        slug: r.get(2),
        logo: r.get(3),
        metadata: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    })
    .collect();
    let members = rows(
        tx,
        "auth.members",
        &format!(
            "SELECT id, organization_id, user_id, role, {} FROM auth.members ORDER BY created_at, id",
            ts("created_at")
        ),
    )
    .await?
    .into_iter()
    .map(|r| Member {
        id: r.get(0),
        organization_id: r.get(1),
        user_id: r.get(2),
        role: r.get(3),
        created_at: r.get(4),
    })
    .collect();
    let invitations = rows(
        tx,
        "auth.invitations",
        &format!(
        "SELECT id, organization_id, email, role, status, {}, inviter_id, {} FROM auth.invitations \
         ORDER BY created_at DESC, id",
        ts("expires_at"), ts("created_at")
    ),
    )
    .await?
    .into_iter()
    .map(|r| Invitation {
        id: r.get(0),
        organization_id: r.get(1),
        email: r.get(2),
        role: r.get(3),
        status: r.get(4),
        expires_at: r.get(5),
        inviter_id: r.get(6),
        created_at: r.get(7),
    })
    .collect();
    Ok((orgs, members, invitations))
}

async fn read_passkeys(tx: &Transaction<'_>) -> Result<Vec<Passkey>, SourceError> {
    Ok(rows(tx, "auth.passkeys", &format!(
        "SELECT id, user_id, credential_id, public_key, counter::bigint, device_type, backed_up, transports, \
         name, aaguid, {}, {} FROM auth.passkeys ORDER BY created_at, id",
        ts("last_used_at"), ts("created_at")
    ))
    .await?
    .into_iter()
    .map(|r| Passkey {
        id: r.get(0),
        user_id: r.get(1),
        credential_id: r.get(2),
        public_key: r.get(3),
        counter: r.get(4),
        device_type: r.get(5),
        backed_up: r.get(6),
        transports: r.get(7),
        name: r.get(8),
        aaguid: r.get(9),
        last_used_at: r.get(10),
        created_at: r.get(11),
    })
    .collect())
}

type Credentials = (Vec<TwoFactor>, Vec<ApiKey>, Vec<Settings>);

async fn read_credentials(tx: &Transaction<'_>) -> Result<Credentials, SourceError> {
    let two_factor = rows(
        tx,
        "auth.two_factor_auth",
        &format!(
            "SELECT user_id, secret, backup_codes, {}, {} FROM auth.two_factor_auth",
            ts("created_at"),
            ts("enabled_at")
        ),
    )
    .await?
    .into_iter()
    .map(|r| TwoFactor {
        user_id: r.get(0),
        secret: r.get(1),
        backup_codes: r.get(2),
        created_at: r.get(3),
        enabled_at: r.get(4),
    })
    .collect();
    let api_keys = rows(tx, "auth.api_keys", &format!(
        "SELECT id, user_id, name, key_prefix, key_hash, scopes::text, {}, {}, {} FROM auth.api_keys \
         ORDER BY created_at, id",
        ts("created_at"), ts("last_used_at"), ts("revoked_at")
    ))
    .await?
    .into_iter()
    .map(|r| ApiKey {
        id: r.get(0),
        user_id: r.get(1),
        name: r.get(2),
        key_prefix: r.get(3),
        key_hash: r.get(4),
        scopes: r.get(5),
        created_at: r.get(6),
        last_used_at: r.get(7),
        revoked_at: r.get(8),
    })
    .collect();
    let settings = rows(
        tx,
        "auth.user_settings",
        &format!(
            "SELECT user_id, global_settings::text, app_overrides::text, device_settings::text, {} \
             FROM auth.user_settings",
            ts("updated_at")
        ),
    )
    .await?
    .into_iter()
    .map(|r| Settings {
        user_id: r.get(0),
        global: r.get(1),
        apps: r.get(2),
        devices: r.get(3),
        updated_at: r.get(4),
    })
    .collect();
    Ok((two_factor, api_keys, settings))
}

const VAULT_COLUMNS: &str =
    "user_id, wrapped_mk, wrap_iv, recovery_wrapped_mk, recovery_iv, zero_knowledge";

fn vault_from(r: &Row) -> Vault {
    Vault {
        user_id: r.get(0),
        wrapped_mk: r.get(1),
        wrap_iv: r.get(2),
        recovery_wrapped_mk: r.get(3),
        recovery_iv: r.get(4),
        zero_knowledge: r.get(5),
        created_at: r.get(6),
        rotated_at: r.get(7),
        recovery_set_at: r.get(8),
    }
}

/// Users probed per pipelined batch when reading vaults per user.
const VAULT_BATCH: usize = 1024;

async fn read_vaults(
    tx: &Transaction<'_>,
    users: &[User],
) -> Result<(Vec<Vault>, VaultAccess), SourceError> {
    if !exists(tx, "auth.encryption_vaults").await? {
        return Ok((Vec::new(), VaultAccess::Absent));
    }
    let select = format!(
        "SELECT {VAULT_COLUMNS}, {}, {}, {} FROM auth.encryption_vaults",
        ts("created_at"),
        ts("rotated_at"),
        ts("recovery_set_at")
    );
    // Row-level security applies unless the role bypasses it or the table
    // does not enable (or, for its owner, force) it.
    let row = tx
        .query_one(
            "SELECT r.rolsuper OR r.rolbypassrls, c.relrowsecurity, c.relforcerowsecurity, \
             c.relowner = r.oid FROM pg_roles r, pg_class c \
             WHERE r.rolname = current_user AND c.oid = 'auth.encryption_vaults'::regclass",
            &[],
        )
        .await
        .map_err(pg("reading the vault table's security"))?;
    let (bypass, enabled, forced, owner): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if bypass || !enabled || (owner && !forced) {
        let found = tx
            .query(&select, &[])
            .await
            .map_err(pg("reading auth.encryption_vaults"))?;
        return Ok((found.iter().map(vault_from).collect(), VaultAccess::Whole));
    }
    let scope = tx
        .prepare("SELECT set_config('app.current_user_id', $1, true)")
        .await
        .map_err(pg("preparing the vault scope"))?;
    let one = tx
        .prepare(&format!("{select} WHERE user_id = $1"))
        .await
        .map_err(pg("preparing the vault read"))?;
    let mut vaults = Vec::new();
    for batch in users.chunks(VAULT_BATCH) {
        // Pipelined on the one connection, strictly in this order: scope A,
        // read A, scope B, read B, … (the server runs them in sequence, so
        // each read sees its own user's scope).
        let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> =
            batch.iter().map(|u| [&u.id as _]).collect();
        let mut calls = Vec::with_capacity(batch.len() * 2);
        for p in &params {
            calls.push(tx.query(&scope, p));
            calls.push(tx.query(&one, p));
        }
        for (i, found) in in_order(calls).await.into_iter().enumerate() {
            let found = found.map_err(pg("reading auth.encryption_vaults per user"))?;
            if i % 2 == 1 {
                vaults.extend(found.iter().map(vault_from));
            }
        }
    }
    Ok((
        vaults,
        VaultAccess::PerUser {
            probed: users.len(),
        },
    ))
}

/// Runs `calls` together: each is polled once in order (which sends its
/// statement, so they are pipelined in that order), then they are awaited
/// in order, as their answers arrive. Results in order.
async fn in_order<F: std::future::Future>(calls: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pinned: Vec<_> = calls.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    let mut sent = false;
    let mut next = 0;
    std::future::poll_fn(|cx| {
        if !sent {
            sent = true;
            for (fut, slot) in pinned.iter_mut().zip(out.iter_mut()) {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *slot = Some(v);
                }
            }
        }
        while next < pinned.len() {
            if out[next].is_none() {
                match pinned[next].as_mut().poll(cx) {
                    Poll::Ready(v) => out[next] = Some(v),
                    Poll::Pending => return Poll::Pending,
                }
            }
            next += 1;
        }
        Poll::Ready(())
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn read_events(tx: &Transaction<'_>) -> Result<Vec<Event>, SourceError> {
    Ok(rows(
        tx,
        "auth.security_events",
        &format!(
            "SELECT user_id, event_type, ip_address, user_agent, metadata::text, {} \
             FROM auth.security_events ORDER BY created_at, id",
            ts("created_at")
        ),
    )
    .await?
    .into_iter()
    .map(|r| Event {
        user_id: r.get(0),
        event_type: r.get(1),
        ip: r.get(2),
        user_agent: r.get(3),
        metadata: r.get(4),
        created_at: r.get(5),
    })
    .collect())
}

/// Tables that stay behind, with why.
const LEFT_BEHIND: &[(&str, &str)] = &[
    (
        "auth.sessions",
        "sessions are not imported: everyone signs in once",
    ),
    (
        "auth.verification",
        "open verification and reset links are not imported",
    ),
    ("auth.jwks", "this server signs with its own Ed25519 key"),
    ("auth.login_attempts", "lockout counters start empty"),
    (
        "auth.encryption_vault_audit",
        "vault audit history stays in the source",
    ),
    ("auth.personas", "persona users are not imported"),
    (
        "spaces.credentials",
        "space credentials are not supported here",
    ),
    (
        "spaces.module_permissions",
        "module permissions are not supported here",
    ),
];

async fn count_left_behind(
    tx: &Transaction<'_>,
) -> Result<Vec<(&'static str, i64, &'static str)>, SourceError> {
    let mut out = Vec::new();
    for (table, why) in LEFT_BEHIND {
        if exists(tx, table).await? {
            let n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(pg("counting a table"))?
                .get(0);
            out.push((*table, n, *why));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::SslMode;

    #[test]
    fn libpq_ssl_modes_are_understood() {
        let t = parse("postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.root_cert.as_deref(), Some("/ca.pem"));
        assert!(t.check_host);
        let t = parse("postgres://u:p@db/x?sslmode=verify-ca").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert!(!t.check_host);
        let t = parse("postgres://u:p@db/x").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        assert!(t.root_cert.is_none());
        let t = parse("postgres://u:p@db/x?sslmode=disable&application_name=import").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        assert!(parse("postgres://u:p@db/x?sslmode=sometimes").is_err());
        assert!(parse("not a url").is_err());
    }
}
