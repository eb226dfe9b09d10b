//! Configuration: every setting is a CLI flag and an environment variable with
//! the same meaning. Names used by the original service keep their names.
//! `Config::validate` reports every problem at once.

use std::net::IpAddr;
use std::path::PathBuf;

use base64::Engine;
use clap::Args;

mod secret;
mod validate;

pub use secret::{Secret, SECRET_SETTINGS};

/// The service key shipped as the development default; production refuses it.
pub const DEFAULT_SERVICE_KEY: &str = "dev-service-key-change-me";

pub use crate::db::Synchronous;

/// SMTP transport security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// STARTTLS when the server offers it, plain otherwise.
    Opportunistic,
    /// STARTTLS or refuse to send.
    Required,
    /// Implicit TLS from the first byte (SMTPS, port 465).
    Wrapper,
    /// Never TLS (a relay on localhost).
    None,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// All settings of the server. Each field is `--flag` and `ENV_NAME`.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// TCP port to listen on (0 picks a free port).
    #[arg(long, env = "PORT", default_value_t = 3001, global = true)]
    pub port: u16,

    /// Public URL of this server; the JWT issuer. Default http://localhost:PORT.
    #[arg(long, env = "BASE_URL", global = true)]
    pub base_url: Option<String>,

    /// Cookie domain for cross-subdomain single sign-on (e.g. `.example.com`).
    #[arg(long, env = "COOKIE_DOMAIN", global = true)]
    pub cookie_domain: Option<String>,

    /// Browser origins allowed by CORS and for redirects (comma list).
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,

    /// Shared key that internal services send as `X-Service-Key`. A secret:
    /// `MANA_SERVICE_KEY` or `MANA_SERVICE_KEY_FILE` only, never a flag.
    #[arg(skip = Secret::new(DEFAULT_SERVICE_KEY.to_owned()))]
    pub mana_service_key: Secret<String>,

    /// Key-encryption key (base64 of 32 bytes) for the vault and the secrets
    /// at rest. A secret: `MANA_AUTH_KEK` or `MANA_AUTH_KEK_FILE` only.
    #[arg(skip)]
    pub mana_auth_kek: Option<Secret<String>>,

    /// Bearer token `/metrics` requires when set. A secret: `METRICS_TOKEN`
    /// or `METRICS_TOKEN_FILE` only.
    #[arg(skip)]
    pub metrics_token: Option<Secret<String>>,

    /// PEM text of the AI runner's RSA public key (SPKI, 2048 to 4096 bits)
    /// for mission grants; without it grants answer 503.
    #[arg(long, env = "MANA_AI_PUBLIC_KEY_PEM", global = true)]
    pub mana_ai_public_key_pem: Option<String>,

    /// A file holding MANA_AI_PUBLIC_KEY_PEM (instead of the text itself).
    #[arg(long, env = "MANA_AI_PUBLIC_KEY_PEM_FILE", global = true)]
    pub mana_ai_public_key_pem_file: Option<PathBuf>,

    /// `aud` claim of access tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "mana", global = true)]
    pub jwt_audience: String,

    /// Sign-ups allowed per UTC day (0 = unlimited).
    #[arg(long, env = "MAX_DAILY_SIGNUPS", default_value_t = 0, global = true)]
    pub max_daily_signups: u32,

    /// WebAuthn relying party id (default: COOKIE_DOMAIN without dot, else host of BASE_URL).
    #[arg(long, env = "WEBAUTHN_RP_ID", global = true)]
    pub webauthn_rp_id: Option<String>,

    /// WebAuthn relying party display name.
    #[arg(long, env = "WEBAUTHN_RP_NAME", default_value = "Mana", global = true)]
    pub webauthn_rp_name: String,

    /// WebAuthn allowed origins (comma list; default CORS_ORIGINS).
    #[arg(long, env = "WEBAUTHN_ORIGIN", value_delimiter = ',', global = true)]
    pub webauthn_origin: Vec<String>,

    /// SMTP relay host; without it mail goes to the built-in outbox.
    #[arg(long, env = "SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,

    /// SMTP port.
    #[arg(long, env = "SMTP_PORT", default_value_t = 587, global = true)]
    pub smtp_port: u16,

    /// SMTP user name.
    #[arg(long, env = "SMTP_USER", global = true)]
    pub smtp_user: Option<String>,

    /// SMTP password. A secret: `SMTP_PASS` or `SMTP_PASS_FILE` only.
    #[arg(skip)]
    pub smtp_pass: Option<Secret<String>>,

    /// SMTP transport security: `required` (STARTTLS or no mail; the
    /// default), `wrapper` (implicit TLS, port 465), `opportunistic`
    /// (STARTTLS when offered, else plain: whoever strips the offer reads
    /// the password and the links), `none` (plain, for a local relay).
    /// Production refuses `opportunistic` and `none` to a relay that is not
    /// on loopback when SMTP credentials are set.
    #[arg(
        long,
        env = "SMTP_TLS",
        value_enum,
        default_value = "required",
        global = true
    )]
    pub smtp_tls: SmtpTls,

    /// Sender of all mail, e.g. `Mana <noreply@example.com>` (default
    /// noreply@ the host of BASE_URL).
    #[arg(long, env = "MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Product name used in mail subjects and texts.
    #[arg(long, env = "MAIL_PRODUCT_NAME", default_value = "Mana", global = true)]
    pub mail_product_name: String,

    /// Web app URL that mail links into (password reset page, invitations);
    /// default: the first CORS origin, else BASE_URL.
    #[arg(long, env = "APP_URL", global = true)]
    pub app_url: Option<String>,

    /// Write mail links into the log when there is no SMTP (development
    /// convenience; default: on unless production).
    #[arg(long, env = "MAIL_LOG_LINKS", value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub mail_log_links: Option<bool>,

    /// Path of the SQLite file (default DATA_DIR/mana-auth.db).
    #[arg(long, env = "DATABASE_PATH", global = true)]
    pub database_path: Option<PathBuf>,

    /// Directory for the database when DATABASE_PATH is not set.
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Refuse password login until the email address is verified.
    #[arg(long, env = "REQUIRE_EMAIL_VERIFICATION", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub require_email_verification: bool,

    /// Runtime environment (`production` enables the strict checks).
    #[arg(long, env = "NODE_ENV", global = true)]
    pub node_env: Option<String>,

    /// Same as NODE_ENV; either one set to `production` is enough.
    #[arg(long, env = "MANA_ENV", global = true)]
    pub mana_env: Option<String>,

    /// SQLite `synchronous` mode: `full` (default) or `normal`.
    #[arg(
        long,
        env = "SQLITE_SYNCHRONOUS",
        value_enum,
        default_value = "full",
        global = true
    )]
    pub sqlite_synchronous: Synchronous,

    /// Argon2id memory cost in KiB (OWASP minimum 19456).
    #[arg(
        long,
        env = "ARGON2_MEMORY_KIB",
        default_value_t = 19456,
        global = true
    )]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations (OWASP minimum 2 at 19 MiB).
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2, global = true)]
    pub argon2_iterations: u32,

    /// Argon2id lanes.
    #[arg(long, env = "ARGON2_PARALLELISM", default_value_t = 1, global = true)]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once (default: number of cores).
    #[arg(long, env = "HASH_CONCURRENCY", global = true)]
    pub hash_concurrency: Option<usize>,

    /// Password jobs (sign-in, sign-up, reset) of callers that are not
    /// signed in, queued or running, at most; beyond: 503 OVERLOADED
    /// (default: 32 per hashing thread).
    #[arg(long, env = "HASH_MAX_ANONYMOUS", global = true)]
    pub hash_max_anonymous: Option<usize>,

    /// Proxies whose `X-Forwarded-For` is believed (comma list of IPs).
    #[arg(long, env = "TRUST_PROXY", value_delimiter = ',', global = true)]
    pub trust_proxy: Vec<IpAddr>,

    /// Requests per IP and minute to register, login, forgot-password,
    /// magic-link and two-factor endpoints (0 = no limit).
    #[arg(long, env = "RATE_LIMIT_AUTH", default_value_t = 30, global = true)]
    pub rate_limit_auth: u32,

    /// Length of the IPv6 prefix that counts as one client for the rate
    /// limits and the lockout (IPv4 addresses count singly).
    #[arg(
        long,
        env = "RATE_LIMIT_IPV6_PREFIX",
        default_value_t = 64,
        value_parser = clap::value_parser!(u8).range(1..=128),
        global = true
    )]
    pub rate_limit_ipv6_prefix: u8,

    /// Requests per IP and minute to the token and API-key validation
    /// endpoints (0 = no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_VALIDATE",
        default_value_t = 6000,
        global = true
    )]
    pub rate_limit_validate: u32,

    /// Passkey ceremonies (sign-in and registration options) open at once,
    /// server-wide; beyond it new options get 503 until some expire.
    #[arg(
        long,
        env = "PASSKEY_MAX_CEREMONIES",
        default_value_t = 10_000,
        global = true
    )]
    pub passkey_max_ceremonies: usize,

    /// Days security events are kept (0 = for ever); the retention job
    /// removes older ones every hour.
    #[arg(
        long,
        env = "RETENTION_SECURITY_EVENTS_DAYS",
        default_value_t = 180,
        global = true
    )]
    pub retention_security_events_days: u32,

    /// Days mail that is no longer pending (sent, logged, failed) is kept
    /// in the outbox (0 = for ever).
    #[arg(long, env = "RETENTION_MAIL_DAYS", default_value_t = 30, global = true)]
    pub retention_mail_days: u32,

    /// Seconds a client may take to send its request headers.
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub header_timeout_secs: u64,

    /// Seconds a request may take in total, body included (408 after).
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Largest accepted JSON body in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Seconds between re-reads of the signing keys, so a `keys rotate` by
    /// the CLI reaches a running server.
    #[arg(long, env = "KEY_RELOAD_SECS", default_value_t = 30, global = true)]
    pub key_reload_secs: u64,

    /// Seconds after a sign-in during which its session counts as fresh:
    /// creating an API key, changing the email, enabling 2FA and adding a
    /// passkey need a fresh session or the password (0 = always fresh).
    #[arg(
        long,
        env = "FRESH_SESSION_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub fresh_session_secs: u64,

    /// Log format: `text` or `json`. Levels come from RUST_LOG.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

impl Config {
    /// Parses a config from an argument list (without environment), for tests
    /// and tools. `args` excludes the program name.
    pub fn from_args<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString> + Clone>(
        args: I,
    ) -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let argv = std::iter::once(std::ffi::OsString::from("mana-auth"))
            .chain(args.into_iter().map(Into::into));
        <Wrapper as clap::Parser>::try_parse_from(argv).map(|w| w.config)
    }

    /// True when NODE_ENV or MANA_ENV says `production`.
    pub fn is_production(&self) -> bool {
        [&self.node_env, &self.mana_env]
            .iter()
            .any(|v| v.as_deref().map(str::trim) == Some("production"))
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://localhost:{}", self.port),
        }
    }

    /// The SQLite file.
    pub fn database_path(&self) -> PathBuf {
        self.database_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("mana-auth.db"))
    }

    /// Whether mail may leave in clear to a relay that is not on this host:
    /// `SMTP_TLS` is `opportunistic` or `none` and `SMTP_HOST` is not a
    /// loopback address (or `localhost`).
    pub fn smtp_sends_in_clear(&self) -> bool {
        let Some(host) = self.smtp_host.as_deref().map(str::trim) else {
            return false;
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        matches!(self.smtp_tls, SmtpTls::Opportunistic | SmtpTls::None) && !loopback
    }

    /// Decoded KEK, if configured and well formed.
    pub fn kek(&self) -> Option<[u8; 32]> {
        let raw = self.mana_auth_kek.as_ref()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.expose().trim())
            .ok()?;
        bytes.try_into().ok()
    }

    /// Origin of the web app that mail links point into.
    pub fn app_url(&self) -> String {
        self.app_url
            .clone()
            .or_else(|| self.cors_origins.first().cloned())
            .unwrap_or_else(|| self.base_url())
            .trim_end_matches('/')
            .to_owned()
    }

    /// The sender mailbox text.
    pub fn mail_from(&self) -> String {
        self.mail_from.clone().unwrap_or_else(|| {
            let base = self.base_url();
            let host = base
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':']).next())
                .filter(|h| h.contains('.'))
                .unwrap_or("localhost.localdomain");
            format!("{} <noreply@{host}>", self.mail_product_name)
        })
    }

    /// Whether the outbox log line may carry the mail's links.
    pub fn log_mail_links(&self) -> bool {
        self.mail_log_links.unwrap_or(!self.is_production())
    }

    /// Origins that callback and redirect URLs may point to: CORS_ORIGINS,
    /// APP_URL and BASE_URL.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .cors_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .collect();
        origins.push(self.app_url());
        origins.push(self.base_url());
        origins
    }

    /// Cookies are `Secure` in production or behind an https BASE_URL.
    pub fn secure_cookies(&self) -> bool {
        self.is_production() || self.base_url().starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_without_configuration() {
        let c = Config::from_args(Vec::<String>::new()).unwrap();
        assert_eq!(c.port, 3001);
        assert_eq!(c.jwt_audience, "mana");
        assert_eq!(c.base_url(), "http://localhost:3001");
        assert!(c.validate().is_ok());
        assert!(!c.is_production());
    }
}
