//! The services the account flows (and the flows built on them: passkeys,
//! API keys, vault, personas, the account erase, retention) use, built once
//! at start-up. Every field is a cheap handle; a flow clones the struct into
//! its write closure. The HTTP state (`state::AppState`) holds one and
//! dereferences to it, so a handler passes `&state` where a flow takes
//! `&Services`; nothing below `state` sees the HTTP side.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::caller::LiveSessions;
use super::password::Hasher;
use super::token::Tokens;
use crate::audit::ClientInfo;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::email::Mailer;
use crate::error::Result;
use crate::ratelimit::{Bucket, Limits};

/// Handles to what the account flows read and write.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub tokens: Arc<Tokens>,
    pub hasher: Hasher,
    pub mail: Arc<Mailer>,
    /// The per-IP limits (`ratelimit`).
    pub limits: Arc<Limits>,
    /// Sessions recently resolved from access tokens (`auth::caller`).
    pub live: Arc<LiveSessions>,
}

impl Services {
    /// Now, by this server's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Applies the per-IP limit of `bucket` to this request.
    pub fn limit(&self, bucket: Bucket, client: &ClientInfo) -> Result<()> {
        let ip = client.ip.as_deref().and_then(|ip| ip.parse().ok());
        self.limits.check(bucket, ip, self.now())
    }
}
