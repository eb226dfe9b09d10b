//! Passkeys on webauthn-rs: registration by a signed-in user, sign-in with a
//! discoverable credential (or one of a named account's credentials), list,
//! rename, delete. Ceremony state lives in memory for five minutes, bound to
//! the user (registration) and single use. Signature counters are stored and
//! a counter that does not increase is refused (cloned authenticator).
//!
//! Limits, separate from the password lockout: `authenticate/options` per IP
//! (30 a minute), and a credential with 5 failed verifications in 10 minutes
//! is blocked for 15 minutes.

pub mod flow;
pub mod store;

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use webauthn_rs::prelude::*;
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode, Result};

/// How long a ceremony may take.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);
/// `authenticate/options` calls per IP and minute (enforced by
/// `http::ratelimit` in its own bucket).
pub const OPTIONS_PER_MINUTE: u32 = 30;
/// Failed verifications of one credential that block it.
pub const MAX_FAILURES: usize = 5;
/// The window those failures are counted in.
pub const FAILURE_WINDOW: Duration = Duration::minutes(10);
/// How long a blocked credential stays blocked.
pub const BLOCK_FOR: Duration = Duration::minutes(15);

enum State {
    Register {
        user_id: String,
        state: PasskeyRegistration,
    },
    Discoverable(DiscoverableAuthentication),
    ForUser {
        user_id: String,
        state: PasskeyAuthentication,
    },
}

struct Ceremony {
    state: State,
    expires_at: DateTime<Utc>,
}

/// What a finished authentication ceremony needs from storage.
pub enum Expected {
    /// Any credential (discoverable sign-in).
    Anyone,
    /// A credential of this user.
    User(String),
}

/// The relying party and the in-memory ceremony and limit tables.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    rp_id: String,
    ceremonies: Mutex<HashMap<String, Ceremony>>,
    failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// The messages of the PASSKEY_VERIFICATION_FAILED refusals, so an adapter
/// (the Better Auth routes) can tell them apart.
pub mod refusal {
    /// No such ceremony: unknown, used or expired.
    pub const UNKNOWN_CHALLENGE: &str =
        "this passkey challenge is unknown, used or expired; start again";
    /// A registration finished against a sign-in ceremony.
    pub const NOT_REGISTRATION: &str = "this challenge is not a registration";
    /// A sign-in finished against a registration ceremony.
    pub const NOT_SIGN_IN: &str = "this challenge is not a sign-in";
    /// A registration ceremony finished by another user.
    pub const OTHER_SESSION: &str = "this challenge belongs to another session";
    /// The authenticator's answer did not verify.
    pub const NOT_VERIFIED: &str = "the passkey could not be verified";
    /// A sign-in with a credential nobody registered.
    pub const NOT_REGISTERED: &str = "this passkey is not registered";
    /// A sign-in for one account answered with another's credential.
    pub const OTHER_ACCOUNT: &str = "this passkey belongs to another account";
}

fn failed(message: &str) -> ApiError {
    ApiError::new(ErrorCode::PasskeyVerificationFailed, message)
}

fn not_enabled() -> ApiError {
    ApiError::new(
        ErrorCode::PasskeyNotEnabled,
        "passkeys are not configured on this server",
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Passkeys {
    /// Builds the relying party: id from WEBAUTHN_RP_ID, else COOKIE_DOMAIN
    /// without its dot, else the host of BASE_URL; origins from
    /// WEBAUTHN_ORIGIN, else CORS_ORIGINS, plus BASE_URL. Origins outside
    /// the relying party's domain are dropped with a warning. A relying
    /// party that cannot be built disables passkeys (PASSKEY_NOT_ENABLED).
    pub fn new(config: &Config) -> Self {
        let rp_id = config
            .webauthn_rp_id
            .clone()
            .or_else(|| {
                config
                    .cookie_domain
                    .as_deref()
                    .map(|d| d.trim_start_matches('.').to_owned())
            })
            .or_else(|| host_of(&config.base_url()))
            .unwrap_or_else(|| "localhost".into());
        let mut origins: Vec<String> = if config.webauthn_origin.is_empty() {
            config.cors_origins.clone()
        } else {
            config.webauthn_origin.clone()
        };
        origins.push(config.base_url());
        let in_domain = |o: &String| {
            host_of(o).is_some_and(|h| h == rp_id || h.ends_with(&format!(".{rp_id}")))
        };
        let (keep, dropped): (Vec<String>, Vec<String>) = origins.into_iter().partition(in_domain);
        if !dropped.is_empty() {
            tracing::warn!(rp_id = %rp_id, dropped = ?dropped, "origins outside the passkey relying party are ignored");
        }
        let urls: Vec<Url> = keep.iter().filter_map(|o| Url::parse(o).ok()).collect();
        let webauthn = urls.first().and_then(|first| {
            let mut builder = WebauthnBuilder::new(&rp_id, first)
                .ok()?
                .rp_name(&config.webauthn_rp_name)
                .allow_any_port(rp_id == "localhost");
            for url in urls.iter().skip(1) {
                builder = builder.append_allowed_origin(url);
            }
            match builder.build() {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "passkeys disabled: relying party not valid");
                    None
                }
            }
        });
        Self {
            webauthn,
            rp_id,
            ceremonies: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether passkeys work on this server.
    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    /// The relying party id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    fn webauthn(&self) -> Result<&Webauthn> {
        self.webauthn.as_ref().ok_or_else(not_enabled)
    }

    fn put(&self, state: State, now: DateTime<Utc>) -> String {
        let id = crate::auth::session::new_token();
        let mut map = lock(&self.ceremonies);
        map.retain(|_, c| c.expires_at > now);
        map.insert(
            id.clone(),
            Ceremony {
                state,
                expires_at: now + CEREMONY_TTL,
            },
        );
        id
    }

    /// Removes a ceremony (single use) if it has not expired.
    fn take(&self, id: &str, now: DateTime<Utc>) -> Result<State> {
        let ceremony = lock(&self.ceremonies).remove(id);
        match ceremony {
            Some(c) if c.expires_at > now => Ok(c.state),
            _ => Err(failed(refusal::UNKNOWN_CHALLENGE)),
        }
    }

    /// Starts registering a passkey for `user`.
    pub fn register_options(
        &self,
        user_id: &str,
        email: &str,
        display_name: &str,
        existing: Vec<CredentialID>,
        now: DateTime<Utc>,
    ) -> Result<(String, CreationChallengeResponse)> {
        let uuid = Uuid::parse_str(user_id).map_err(ApiError::internal)?;
        let display = if display_name.is_empty() {
            email
        } else {
            display_name
        };
        let (mut ccr, state) = self
            .webauthn()?
            .start_passkey_registration(uuid, email, display, Some(existing))
            .map_err(|e| ApiError::internal(format!("webauthn start: {e}")))?;
        // Ask for a discoverable credential, so the browser can offer the
        // passkey without an email first; "preferred" rather than "required"
        // keeps security keys without resident-key storage usable (they sign
        // in with the email-scoped options).
        if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(ResidentKeyRequirement::Preferred);
            sel.require_resident_key = false;
        }
        let id = self.put(
            State::Register {
                user_id: user_id.to_owned(),
                state,
            },
            now,
        );
        Ok((id, ccr))
    }

    /// Finishes a registration started by the same user.
    pub fn register_finish(
        &self,
        challenge_id: &str,
        user_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: DateTime<Utc>,
    ) -> Result<Passkey> {
        let State::Register {
            user_id: owner,
            state,
        } = self.take(challenge_id, now)?
        else {
            return Err(failed(refusal::NOT_REGISTRATION));
        };
        if owner != user_id {
            return Err(failed(refusal::OTHER_SESSION));
        }
        self.webauthn()?
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                failed(refusal::NOT_VERIFIED)
            })
    }

    /// Starts a sign-in: discoverable when `for_user` is None, else limited
    /// to that user's credentials.
    pub fn auth_options(
        &self,
        for_user: Option<(String, Vec<Passkey>)>,
        now: DateTime<Utc>,
    ) -> Result<(String, RequestChallengeResponse)> {
        let webauthn = self.webauthn()?;
        let (rcr, state) = match for_user {
            Some((user_id, keys)) if !keys.is_empty() => {
                let (rcr, state) = webauthn
                    .start_passkey_authentication(&keys)
                    .map_err(|e| ApiError::internal(format!("webauthn start: {e}")))?;
                (rcr, State::ForUser { user_id, state })
            }
            _ => {
                let (mut rcr, state) = webauthn
                    .start_discoverable_authentication()
                    .map_err(|e| ApiError::internal(format!("webauthn start: {e}")))?;
                // A modal sign-in; clients that want conditional UI set it.
                rcr.mediation = None;
                (rcr, State::Discoverable(state))
            }
        };
        Ok((self.put(state, now), rcr))
    }

    /// Seconds a credential stays blocked, if it is.
    pub fn blocked_for(&self, credential_id: &str, now: DateTime<Utc>) -> Option<u64> {
        let failures = lock(&self.failures);
        let recent: Vec<&DateTime<Utc>> = failures
            .get(credential_id)?
            .iter()
            .filter(|t| now - **t < FAILURE_WINDOW.max(BLOCK_FOR))
            .collect();
        if recent.len() < MAX_FAILURES {
            return None;
        }
        let last = **recent.iter().max()?;
        let until = last + BLOCK_FOR;
        (until > now).then(|| (until - now).num_seconds().max(1) as u64)
    }

    /// Records a failed verification of a credential.
    pub fn record_failure(&self, credential_id: &str, now: DateTime<Utc>) {
        let mut failures = lock(&self.failures);
        let list = failures.entry(credential_id.to_owned()).or_default();
        list.retain(|t| now - *t < FAILURE_WINDOW);
        list.push(now);
    }

    /// The ceremony a verification belongs to, consumed.
    pub fn auth_take(&self, challenge_id: &str, now: DateTime<Utc>) -> Result<AuthCeremony> {
        match self.take(challenge_id, now)? {
            State::Register { .. } => Err(failed(refusal::NOT_SIGN_IN)),
            State::Discoverable(state) => Ok(AuthCeremony {
                expected: Expected::Anyone,
                state: AuthState::Discoverable(state),
            }),
            State::ForUser { user_id, state } => Ok(AuthCeremony {
                expected: Expected::User(user_id),
                state: AuthState::ForUser(state),
            }),
        }
    }

    /// Verifies an assertion against the stored passkey; returns the
    /// passkey with its counter updated.
    pub fn auth_finish(
        &self,
        ceremony: AuthCeremony,
        credential: &PublicKeyCredential,
        mut stored: Passkey,
    ) -> Result<Passkey> {
        let webauthn = self.webauthn()?;
        let result = match ceremony.state {
            AuthState::Discoverable(state) => webauthn.finish_discoverable_authentication(
                credential,
                state,
                &[DiscoverableKey::from(&stored)],
            ),
            AuthState::ForUser(state) => webauthn.finish_passkey_authentication(credential, &state),
        }
        .map_err(|e| {
            tracing::info!(error = %e, "passkey assertion refused");
            failed(refusal::NOT_VERIFIED)
        })?;
        stored.update_credential(&result);
        Ok(stored)
    }
}

enum AuthState {
    Discoverable(DiscoverableAuthentication),
    ForUser(PasskeyAuthentication),
}

/// A consumed sign-in ceremony.
pub struct AuthCeremony {
    /// Whose credential may answer it.
    pub expected: Expected,
    state: AuthState,
}
