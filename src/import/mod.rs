//! `mana-auth import`: moves an existing deployment of the PostgreSQL
//! service (Better Auth + Drizzle, schema `auth`) into this server's SQLite
//! file. Users keep their ids, passwords (Better Auth's scrypt hashes, which
//! sign-in verifies and replaces), two-factor secrets and backup codes,
//! passkeys, spaces with members and pending invitations, API keys (revoked
//! ones stay revoked), settings, vaults (re-wrapped under this server's KEK)
//! and security events. Sessions are not imported: everyone signs in once.
//!
//! One run: lock the target (refused while a server has it open), check it
//! holds no accounts, read the whole source in one snapshot, write
//! everything in one transaction, print the report. Any error rolls back
//! everything; `--dry-run` rolls back at the end and never creates a file.
//! The rules of each table live in `users` and `credentials`, the pure
//! conversions in `convert`.

pub mod convert;
mod credentials;
pub mod report;
mod rows;
pub mod secrets;
mod source;
mod target;
mod users;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;

use crate::config::Config;
use crate::db::Tx;
use crate::vault::crypto::Kek;
pub use report::Report;
use secrets::Secret;

/// What the operator asked for.
pub struct Options {
    /// `postgres://…` of the source.
    pub from: String,
    /// The source's `MANA_AUTH_KEK` (vault wraps).
    pub source_kek: Option<Secret<[u8; 32]>>,
    /// The source's `BETTER_AUTH_SECRET` (two-factor secrets).
    pub source_secret: Option<Secret<String>>,
    /// Roll back at the end.
    pub dry_run: bool,
}

/// Why nothing was imported; with the report of what the run found, when
/// it got that far.
#[derive(Debug)]
pub struct ImportError {
    pub message: String,
    pub report: Option<String>,
}

impl ImportError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            report: None,
        }
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The keys an import works with.
pub(crate) struct Keys {
    pub source_kek: Option<Secret<[u8; 32]>>,
    pub source_secret: Option<Secret<String>>,
    pub target_kek: Option<Kek>,
}

/// State shared by the table writers inside the one transaction.
pub(crate) struct Ctx<'a> {
    pub tx: &'a Tx<'a>,
    pub now: DateTime<Utc>,
    pub keys: Keys,
    pub report: Report,
    /// Imported users by id.
    pub users: HashMap<String, crate::users::User>,
    /// Imported spaces.
    pub spaces: HashSet<String>,
    /// User id → their personal space.
    pub personal: HashMap<String, String>,
    /// Space id → the member who writes its kontextDoc (an owner if any).
    pub writers: HashMap<String, (crate::spaces::Role, String)>,
    /// Accounts whose two-factor secret could not be opened (the run fails:
    /// importing them without it would drop their second factor).
    pub unopened_two_factor: Vec<String>,
}

/// Names the row whose write failed (the run then stops and rolls back).
pub(crate) fn at(
    table: &str,
    id: &str,
) -> impl FnOnce(crate::error::ApiError) -> crate::error::ApiError {
    let what = format!("{table} {id}");
    move |mut e| {
        e.message = format!("writing {what}: {}", e.message);
        e
    }
}

fn fail(e: impl std::fmt::Display) -> ImportError {
    ImportError::new(e.to_string())
}

/// Runs an import into `config`'s database file.
pub fn run(config: &Config, opts: Options, now: DateTime<Utc>) -> Result<Report, ImportError> {
    let path = config.database_path();
    let mut conn = target::open(&path, config.sqlite_synchronous, opts.dry_run)
        .map_err(|e| ImportError::new(e.0))?;
    target::ensure_empty(&conn).map_err(|e| ImportError::new(e.0))?;
    let started = std::time::Instant::now();
    let source = read_source(&opts.from)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        users = source.users.len(),
        "import: source read"
    );
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let write = Tx::from(&tx);
    let mut ctx = Ctx {
        tx: &write,
        now,
        keys: Keys {
            source_kek: opts.source_kek,
            source_secret: opts.source_secret,
            target_kek: Kek::from_config(config),
        },
        report: Report {
            dry_run: opts.dry_run,
            ..Report::default()
        },
        users: HashMap::new(),
        spaces: HashSet::new(),
        personal: HashMap::new(),
        writers: HashMap::new(),
        unopened_two_factor: Vec::new(),
    };
    write_all(&mut ctx, &source).map_err(|e| {
        let cause = e.source.map(|s| format!(": {s}")).unwrap_or_default();
        ImportError::new(format!("{}{cause}; nothing was imported", e.message))
    })?;
    let report = std::mem::take(&mut ctx.report);
    if !ctx.unopened_two_factor.is_empty() {
        return Err(ImportError {
            message: format!(
                "{} account(s) have two-factor authentication on and their secrets cannot be \
                 opened: set SOURCE_BETTER_AUTH_SECRET (or _FILE) to the service's \
                 BETTER_AUTH_SECRET, else they would lose their second factor; nothing was \
                 imported ({})",
                ctx.unopened_two_factor.len(),
                ctx.unopened_two_factor.join(", ")
            ),
            report: Some(report.to_string()),
        });
    }
    drop(ctx);
    let started = std::time::Instant::now();
    if opts.dry_run {
        tx.rollback().map_err(fail)?;
    } else {
        tx.commit().map_err(fail)?;
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        dry_run = opts.dry_run,
        "import: done"
    );
    Ok(report)
}

fn read_source(url: &str) -> Result<source::Source, ImportError> {
    let target = source::parse(url).map_err(|e| ImportError::new(e.0))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    rt.block_on(async {
        let mut client = source::connect(&target).await?;
        source::read(&mut client).await
    })
    .map_err(|e| ImportError::new(e.0))
}

type Step = fn(&mut Ctx<'_>, &source::Source) -> crate::error::Result<()>;

fn write_all(ctx: &mut Ctx<'_>, src: &source::Source) -> crate::error::Result<()> {
    let steps: [(&str, Step); 12] = [
        ("users", users::users),
        ("passwords", users::passwords),
        ("spaces", users::spaces),
        ("members", users::members),
        ("invitations", users::invitations),
        ("personal spaces", |c, _| users::missing_personal_spaces(c)),
        ("passkeys", credentials::passkeys),
        ("two-factor", credentials::two_factor),
        ("API keys", credentials::api_keys),
        ("settings", credentials::settings),
        ("vaults", credentials::vaults),
        ("security events", credentials::events),
    ];
    for (name, step) in steps {
        let started = std::time::Instant::now();
        step(ctx, src)?;
        tracing::debug!(
            step = name,
            ms = started.elapsed().as_millis() as u64,
            "import: written"
        );
    }
    for (table, rows, why) in &src.left_behind {
        ctx.report.left_behind(table, *rows, why);
    }
    let started = std::time::Instant::now();
    users::bootstrap(ctx)?;
    tracing::debug!(
        step = "sync bootstrap",
        ms = started.elapsed().as_millis() as u64,
        "import: written"
    );
    Ok(())
}

/// `mana-auth import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The source: `postgres://user@host:5432/db?sslmode=…` (`disable`,
    /// `prefer` (default), `require`, `verify-ca`, `verify-full`;
    /// `sslrootcert=FILE` to trust a private CA). The password is taken
    /// from PGPASSWORD when the URL has none.
    #[arg(long, env = "IMPORT_FROM", hide_env_values = true)]
    pub from: String,
    /// Read and check everything, print the report, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `mana-auth import` and renders its outcome.
pub fn command(config: &Config, args: ImportArgs) -> Result<String, String> {
    let source_kek = secret_from_env("SOURCE_MANA_AUTH_KEK")?
        .map(|t| parse_kek("SOURCE_MANA_AUTH_KEK", &t))
        .transpose()?;
    let source_secret = secret_from_env("SOURCE_BETTER_AUTH_SECRET")?;
    let opts = Options {
        from: args.from,
        source_kek,
        source_secret,
        dry_run: args.dry_run,
    };
    let now = crate::clock::Clock::system().now();
    match run(config, opts, now) {
        Ok(report) => Ok(report.to_string()),
        Err(e) => Err(match e.report {
            Some(report) => format!("{report}\n{}", e.message),
            None => e.message,
        }),
    }
}

/// Reads a secret from `NAME` or `NAME_FILE` in the environment (never a
/// command-line flag: those are visible to every local user).
pub fn secret_from_env(name: &str) -> Result<Option<Secret<String>>, String> {
    let file_name = format!("{name}_FILE");
    match (std::env::var_os(name), std::env::var_os(&file_name)) {
        (Some(_), Some(_)) => Err(format!("set {name} or {file_name}, not both")),
        (Some(v), None) => v
            .into_string()
            .map(|v| Some(Secret(v)))
            .map_err(|_| format!("{name} is not valid UTF-8")),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|t| Some(Secret(t.trim_end_matches(['\r', '\n']).to_owned())))
            .map_err(|e| format!("{file_name}: cannot read it: {}", e.kind())),
        (None, None) => Ok(None),
    }
}

/// A base64 KEK of 32 bytes.
pub fn parse_kek(name: &str, text: &Secret<String>) -> Result<Secret<[u8; 32]>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.0.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Secret)
        .ok_or_else(|| format!("{name} must be base64 of 32 bytes"))
}
