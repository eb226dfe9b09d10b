//! The command line: `serve` (the default) and the admin subcommands.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::admin::ops;
use crate::auth::password::{self, Hasher};
use crate::auth::token;
use crate::clock::Clock;
use crate::config::{Config, LogFormat};
use crate::db::Db;
use crate::http::page;

/// mana-auth: authentication and tenancy server in one binary.
#[derive(Parser, Debug)]
#[command(
    name = "mana-auth",
    version,
    about,
    after_help = "Secrets are read from the environment only, never from flags (flags show in \
                  `ps`): MANA_AUTH_KEK, MANA_SERVICE_KEY, SMTP_PASS, METRICS_TOKEN, or each \
                  with _FILE appended naming a file that holds the value."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage accounts: create, set a role, reset a password.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the JWT signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy the database to FILE with SQLite's online backup (safe while the
    /// server runs); the copy is integrity-checked.
    Backup {
        /// Where to write the copy (must not exist).
        file: PathBuf,
    },
    /// Check the database: `PRAGMA integrity_check` and the schema version.
    Check,
    /// Move an existing deployment in: copy users, passwords, passkeys,
    /// second factors, spaces, API keys, settings and vaults from the
    /// PostgreSQL service's database into DATABASE_PATH (a new or empty
    /// file), in one transaction. Secrets from the environment:
    /// SOURCE_MANA_AUTH_KEK (vaults) and SOURCE_BETTER_AUTH_SECRET
    /// (two-factor), or the same names with _FILE.
    #[cfg(feature = "import")]
    Import(crate::import::ImportArgs),
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a user as sign-up does (personal space included), email verified.
    Create {
        #[arg(long)]
        email: String,
        /// A file holding the password; read from stdin when absent (never
        /// a flag: flags show in `ps`).
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
    },
    /// Set the role of a user (user, admin, service).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Set a new password and revoke every session of the user.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// A file holding the new password; read from stdin when absent.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a new signing key; the old one stays in the JWKS until its
    /// tokens have expired. A running server picks it up within
    /// KEY_RELOAD_SECS.
    Rotate,
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::db::files::restrict_umask();
    let cli = Cli::parse();
    init_tracing(cli.config.log_format);
    let mut config = cli.config;
    if let Err(problems) = config.read_secrets(|name| std::env::var_os(name)) {
        eprintln!("mana-auth: {}", problems.join("\n  "));
        return ExitCode::FAILURE;
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Admin(cmd) => finish(admin(&config, cmd)),
        Command::Keys(KeysCommand::Rotate) => finish(rotate_key(&config)),
        Command::Backup { file } => finish(backup(&config, &file)),
        Command::Check => finish(check(&config)),
        #[cfg(feature = "import")]
        Command::Import(args) => finish(crate::import::command(&config, args)),
    }
}

/// Prints the outcome of a CLI command and maps it to an exit code.
fn finish(outcome: Result<String, String>) -> ExitCode {
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("mana-auth: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open_db(config: &Config) -> Result<Db, String> {
    Db::open(&config.database_path(), config.sqlite_synchronous).map_err(|e| e.to_string())
}

/// The password from the file, else one line from stdin.
fn password_arg(file: Option<PathBuf>) -> Result<String, String> {
    let mut line = String::new();
    match file {
        Some(path) => {
            line = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("Password: ");
            }
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        }
    }
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password given (pipe it on stdin or use --password-file)".into());
    }
    Ok(password)
}

fn hash_password(config: &Config, password: &str) -> Result<String, String> {
    password::check_strength(password).map_err(|e| e.message)?;
    let hasher = Hasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        1,
    )
    .map_err(|e| e.message)?;
    hasher.hash_blocking(password).map_err(|e| e.message)
}

fn admin(config: &Config, cmd: AdminCommand) -> Result<String, String> {
    let now = Clock::system().now();
    match cmd {
        AdminCommand::Create {
            email,
            password_file,
            name,
            admin,
        } => {
            let hash = hash_password(config, &password_arg(password_file)?)?;
            let db = open_db(config)?;
            let user = db
                .write_blocking(|tx, _| {
                    ops::create_user(tx, &email, name.as_deref(), &hash, admin, now)
                })
                .map_err(|e| e.message)?;
            Ok(format!(
                "created {} ({}) with role {}; sign in at {}/admin",
                user.email,
                user.id,
                user.role,
                config.base_url()
            ))
        }
        AdminCommand::SetRole { email, role } => {
            let db = open_db(config)?;
            let user = db
                .write_blocking(|tx, _| ops::set_role(tx, &email, &role, now))
                .map_err(|e| e.message)?;
            Ok(format!(
                "{} now has role {} (effective from their next token refresh)",
                user.email, user.role
            ))
        }
        AdminCommand::ResetPassword {
            email,
            password_file,
        } => {
            let hash = hash_password(config, &password_arg(password_file)?)?;
            let db = open_db(config)?;
            let revoked = db
                .write_blocking(|tx, _| ops::reset_password(tx, &email, &hash, now))
                .map_err(|e| e.message)?;
            Ok(format!("password set; {revoked} session(s) revoked"))
        }
    }
}

fn rotate_key(config: &Config) -> Result<String, String> {
    let db = open_db(config)?;
    let now = Clock::system().now();
    let kid = db
        .write_blocking(|tx, _| {
            token::rotate(tx, now, crate::vault::Kek::from_config(config).as_ref())
        })
        .map_err(|e| e.message)?;
    Ok(format!(
        "new signing key {kid}; the previous key stays published until its tokens expire \
         ({} minutes); a running server switches within {} s",
        token::ACCESS_TTL.num_minutes(),
        config.key_reload_secs
    ))
}

fn backup(config: &Config, file: &std::path::Path) -> Result<String, String> {
    let report = ops::backup(&config.database_path(), file, Clock::system().now())?;
    Ok(format!(
        "backup written to {} (integrity ok, schema version {})",
        file.display(),
        report.schema_version
    ))
}

fn check(config: &Config) -> Result<String, String> {
    let report = ops::check(&config.database_path())?;
    let text = format!(
        "integrity: {}\nschema version: {} (this binary: {})\nadmin page assets: {} bytes",
        report.integrity.join("; "),
        report.schema_version,
        report.latest_version,
        page::total_bytes()
    );
    if report.healthy() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Threads for blocking work (SQLite): more than the read connections and
/// the writer can use only wait, and each costs memory.
const BLOCKING_THREADS: usize = 32;
/// An idle blocking thread ends after this long (tokio's default is 10 s):
/// after a burst, RSS returns to the idle figure within seconds.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

fn serve(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mana-auth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let stop = shutdown_signal();
        tracing::info!(config = ?config, "starting");
        let base = config.base_url();
        let db_path = config.database_path();
        let server = match crate::start(config, Clock::system()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("mana-auth: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            addr = %server.addr,
            database = %db_path.display(),
            "mana-auth listening on http://{} (public URL {base})",
            server.addr
        );
        announce_admin(&server.state, &base).await;
        tokio::select! {
            () = stop => {
                tracing::info!("shutdown signal received; finishing in-flight requests");
                server.stop().await;
            }
        }
        ExitCode::SUCCESS
    });
    // By now connections are drained, the mail worker has stopped and the
    // database is checkpointed. Dropping the runtime would wait for every
    // blocking-pool thread, including a read a dropped request left
    // behind; the stop must not hang on those.
    runtime.shutdown_timeout(std::time::Duration::from_millis(250));
    code
}

/// Logs where the admin page is and, while no admin exists, how to make one.
async fn announce_admin(state: &crate::state::AppState, base: &str) {
    tracing::info!("admin page: {base}/admin");
    match state.db.read(|c| ops::has_admin(c)).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "no admin user yet; create one with: mana-auth admin create --email you@example.com --admin \
             (add --database-path {} if you changed it; the password is read from stdin)",
            state.db.path().display()
        ),
        Err(e) => tracing::warn!(error = %e, "could not check for an admin user"),
    }
}

/// Installs the SIGINT/SIGTERM handlers now (before the server starts, so a
/// signal that arrives during start-up is not the default "die at once") and
/// returns a future that resolves on the first signal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => {},
                () = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
