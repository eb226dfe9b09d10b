//! Everything a request handler needs, passed in (never a global), so one
//! test process can run many servers. The domain flows take the narrow
//! `auth::Services` (which this state dereferences to) and, where they need
//! them, the passkey ceremonies or the retention policy as parameters; only
//! the HTTP side (`http`, `lib.rs`, `cli.rs`) names `AppState`.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::auth::Services;

/// Shared state of one server: one reference-counted pointer, so that the
/// clones every request makes (each layer and extractor takes one) cost
/// one atomic increment instead of one per handle.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of a server made of `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What `AppState` points to.
pub struct Shared {
    /// The handles the domain flows use (config, db, clock, tokens, hasher,
    /// mail, limits, live sessions); `state.db` reads through to them.
    pub services: Services,
    pub passkeys: Arc<crate::passkeys::Passkeys>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The AI runner's key for mission grants (`MANA_AI_PUBLIC_KEY_PEM`).
    pub grant_key: Option<Arc<crate::runner_key::RunnerKey>>,
    /// The retention policy and the last run (`retention`).
    pub retention: Arc<crate::retention::Retention>,
    /// When this server started (by its clock), for the uptime.
    pub started_at: DateTime<Utc>,
}

impl Deref for Shared {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
