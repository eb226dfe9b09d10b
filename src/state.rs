//! Everything a request handler needs, passed in (never a global), so one
//! test process can run many servers.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::auth::password::Hasher;
use crate::auth::token::Tokens;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::email::Mailer;

/// Shared state of one server.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub tokens: Arc<Tokens>,
    pub hasher: Hasher,
    pub mail: Arc<Mailer>,
    pub passkeys: Arc<crate::passkeys::Passkeys>,
    pub limits: Arc<crate::ratelimit::Limits>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The AI runner's key for mission grants (`MANA_AI_PUBLIC_KEY_PEM`).
    pub grant_key: Option<Arc<crate::vault::grant::RunnerKey>>,
    /// Sessions recently resolved from access tokens (`auth::caller`).
    pub live: Arc<crate::auth::caller::LiveSessions>,
    /// The retention policy and the last run (`retention`).
    pub retention: Arc<crate::retention::Retention>,
    /// When this server started (by its clock), for the uptime.
    pub started_at: DateTime<Utc>,
}

impl AppState {
    /// Applies the per-IP limit of `bucket` to this request.
    pub fn limit(
        &self,
        bucket: crate::ratelimit::Bucket,
        client: &crate::audit::ClientInfo,
    ) -> crate::error::Result<()> {
        let ip = client.ip.as_deref().and_then(|ip| ip.parse().ok());
        self.limits.check(bucket, ip, self.now())
    }
}

impl AppState {
    /// Now, by this server's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
