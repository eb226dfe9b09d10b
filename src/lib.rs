//! mana-auth: an authentication and tenancy server in one binary with one
//! SQLite file. `start` opens the store and serves the HTTP app until told
//! to stop; `main.rs` only parses the command line and calls in here.

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod email;
pub mod error;
pub mod http;
pub mod ids;
#[cfg(feature = "import")]
pub mod import;
pub mod me;
pub mod metrics;
pub mod passkeys;
pub mod personas;
pub mod ratelimit;
pub mod retention;
pub mod runner_key;
pub mod settings;
pub mod spaces;
pub mod state;
pub mod sync;
pub mod users;
pub mod vault;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use http::app;

use crate::auth::password::Hasher;
use crate::auth::token::{self, Tokens};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

/// Why the server did not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Opens the database, makes sure a signing key exists and builds the state.
pub fn build_state(config: Config, clock: Clock) -> Result<AppState, StartError> {
    if let Err(problems) = config.validate() {
        return Err(StartError(format!(
            "configuration is not valid:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let db = Db::open(&config.database_path(), config.sqlite_synchronous)
        .map_err(|e| StartError(format!("cannot open database: {e}")))?
        .with_clock(clock.clone());
    let now = clock.now();
    let kek = vault::Kek::from_config(&config);
    let sealed = db
        .write_blocking(|tx, _| {
            Ok(vault::at_rest::prepare(tx, kek.as_ref())?
                + email::at_rest::prepare(tx, kek.as_ref())?)
        })
        .map_err(|e| StartError(format!("cannot open the stored secrets: {}", e.message)))?;
    if sealed > 0 {
        // The clear rows are gone from the pages (secure_delete); the WAL
        // still holds their earlier images until it is checkpointed.
        db.checkpoint()
            .map_err(|e| StartError(format!("cannot checkpoint after sealing secrets: {e}")))?;
        tracing::info!(
            rows = sealed,
            kek = kek.as_ref().map(|k| k.id()),
            "stored secrets wrapped under MANA_AUTH_KEK"
        );
    }
    db.write_blocking(|tx, _| token::ensure_key(tx, now, kek.as_ref()))
        .map_err(|e| StartError(format!("cannot create signing key: {e}")))?;
    let tokens = db
        .read_blocking(|c| {
            Tokens::load(
                c,
                config.base_url(),
                config.jwt_audience.clone(),
                kek.clone(),
            )
        })
        .map_err(|e| StartError(format!("cannot load signing keys: {}", e.message)))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hasher = Hasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        config.hash_concurrency.unwrap_or(cores),
    )
    .map_err(|e| StartError(format!("password hasher: {e}")))?
    .with_metrics(metrics.clone());
    let hasher = match config.hash_max_anonymous {
        Some(max) => hasher.with_anonymous_limit(max),
        None => hasher,
    };
    let scrypt_stored = db
        .read_blocking(|c| users::store::has_scrypt_password(c))
        .map_err(|e| StartError(format!("cannot read password hashes: {e}")))?;
    hasher.set_scrypt_stored(scrypt_stored);
    let mail = email::Mailer::new(&config).map_err(StartError)?;
    let grant_key = runner_key::RunnerKey::from_settings(
        config.mana_ai_public_key_pem.as_deref(),
        config.mana_ai_public_key_pem_file.as_deref(),
    )
    .map_err(StartError)?
    .map(Arc::new);
    let decoy_key = db
        .write_blocking(|tx, _| {
            vault::at_rest::server_secret(
                tx,
                passkeys::decoy::SECRET_NAME,
                kek.as_ref(),
                &clock::iso(now),
            )
        })
        .map_err(|e| StartError(format!("cannot open the stored secrets: {}", e.message)))?;
    let passkeys = passkeys::Passkeys::new(&config, decoy_key);
    let limits = ratelimit::Limits::new(
        config.rate_limit_auth,
        config.rate_limit_validate,
        passkeys::OPTIONS_PER_MINUTE,
        config.rate_limit_ipv6_prefix,
    );
    let retention = Arc::new(retention::Retention::new(&config));
    Ok(AppState::new(state::Shared {
        services: auth::Services {
            config: Arc::new(config),
            db: db.with_metrics(metrics.clone()),
            clock,
            tokens: Arc::new(tokens),
            hasher,
            mail: Arc::new(mail),
            limits: Arc::new(limits),
            live: Arc::default(),
        },
        passkeys: Arc::new(passkeys),
        metrics,
        grant_key,
        retention,
        started_at: now,
    }))
}

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its state (tests use the clock and the database path).
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Stops accepting, finishes in-flight requests, closes the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server ends by itself.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts serving `config` with `clock`; returns once the socket is bound.
pub async fn start(config: Config, clock: Clock) -> Result<Server, StartError> {
    let bind = SocketAddr::new(config.host, config.port);
    let state = tokio::task::spawn_blocking(move || build_state(config, clock))
        .await
        .map_err(|e| StartError(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| StartError(format!("cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = app(state.clone());
    let db = state.db.clone();
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(email::worker::run(
        state.db.clone(),
        state.clock.clone(),
        state.mail.clone(),
        worker_stop,
    ));
    let reloader = tokio::spawn(auth::token::reload_every(
        state.db.clone(),
        state.tokens.clone(),
        std::time::Duration::from_secs(state.config.key_reload_secs.max(1)),
    ));
    // Another process's commits (the CLI) reach the live-session cache
    // within this period; in-process changes reach it at once.
    let watcher = {
        let db = state.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                db.poll_external().await;
            }
        })
    };
    let housekeeping = tokio::spawn(retention::run_every(
        state.db.clone(),
        state.clock.clone(),
        state.retention.clone(),
        retention::EVERY,
    ));
    let sweeper = tokio::spawn(passkeys::sweep_every(
        state.passkeys.clone(),
        state.clock.clone(),
        std::time::Duration::from_secs(60),
    ));
    // Registrations left unverified expire (where verification is required).
    let unproven_sweeper = tokio::spawn(auth::proof::sweep_every(
        state.db.clone(),
        state.config.require_email_verification,
        std::time::Duration::from_secs(600),
    ));
    let header_timeout = std::time::Duration::from_secs(state.config.header_timeout_secs.max(1));
    let task = tokio::spawn(async move {
        http::serve::serve(listener, app, header_timeout, async move {
            let _ = stop_rx.await;
        })
        .await;
        reloader.abort();
        unproven_sweeper.abort();
        watcher.abort();
        sweeper.abort();
        housekeeping.abort();
        let _ = stop_worker.send(true);
        let _ = worker.await;
        let checkpoint = match tokio::task::spawn_blocking(move || db.close()).await {
            Ok(Ok(c)) => {
                match &c {
                    db::StopCheckpoint::Busy => tracing::warn!(
                        "another process holds a read transaction on the database; \
                         its WAL stays in place and is replayed on the next start"
                    ),
                    db::StopCheckpoint::LeftToReplicator(dir) => tracing::info!(
                        litestream = %dir.display(),
                        "Litestream replicates this file; the WAL is left to it"
                    ),
                    db::StopCheckpoint::Truncated => {}
                }
                c.as_str()
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "database checkpoint on shutdown failed");
                "failed"
            }
            Err(_) => "failed",
        };
        tracing::info!(checkpoint, "stopped");
    });
    Ok(Server {
        addr,
        state,
        stop: Some(stop_tx),
        task,
    })
}
