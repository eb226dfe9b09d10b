//! Passkeys on webauthn-rs: registration by a signed-in user, sign-in with a
//! discoverable credential (or one of a named account's credentials), list,
//! rename, delete. Ceremony state lives in memory for five minutes, bound to
//! the user (registration) and single use, in a bounded table
//! (`ceremonies`). Signature counters are stored and a counter that does not
//! increase is refused (cloned authenticator); the store's write is a
//! compare-and-set, so parallel assertions with one counter value sign in
//! once.
//!
//! Limits, separate from the password lockout: `authenticate/options` per IP
//! (30 a minute); a credential id longer than WebAuthn's 1,023 bytes is
//! refused before anything else; a credential with 5 failed verifications
//! in 10 minutes is blocked for 15 minutes — counting only failures whose
//! signature verified (a counter that went backwards, a lost counter race),
//! which only a holder of the key can cause, so a stranger who knows a
//! credential id cannot block it. Unknown credential ids are not counted.

pub mod ceremonies;
pub mod decoy;
pub mod flow;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use webauthn_rs::prelude::*;
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode, Refusal, Result};

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
/// Longest credential id WebAuthn allows; longer ones are refused at once.
pub const MAX_CREDENTIAL_ID: usize = 1023;
/// Credentials whose failures are tracked at most (the oldest go first).
pub const FAILURES_TRACKED: usize = 10_000;

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
    /// Options with a decoy credential list: nobody can finish it.
    Decoy(DiscoverableAuthentication),
}

/// What a finished authentication ceremony needs from storage.
pub enum Expected {
    /// Any credential (discoverable sign-in).
    Anyone,
    /// A credential of this user.
    User(String),
    /// No credential: the options were a decoy list.
    Nobody,
}

/// Whose credentials sign-in options are for.
pub enum OptionsFor {
    /// Nobody named: a discoverable sign-in.
    Anyone,
    /// A signed-in user's own passkeys (discoverable when they have none).
    SignedIn { user_id: String, keys: Vec<Passkey> },
    /// An address typed at sign-in (normalised): the account's passkeys, or a
    /// decoy list (`decoy`) when there is no account or it has none.
    Address {
        address: String,
        account: Option<(String, Vec<Passkey>)>,
    },
}

/// Why an assertion was refused: `signed` when its signature verified (only
/// a holder of the key gets that far), which is what the block counts.
#[derive(Debug)]
pub struct Refused {
    pub signed: bool,
}

/// The relying party and the in-memory ceremony and limit tables.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    rp_id: String,
    ceremonies: Mutex<ceremonies::Ceremonies<State>>,
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
    decoy_key: [u8; 32],
}

fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// The messages of the PASSKEY_VERIFICATION_FAILED refusals (an adapter
/// tells them apart by `ApiError::refusal`, not by these texts).
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

fn challenge_refused(message: &str) -> ApiError {
    failed(message).with_refusal(Refusal::PasskeyChallenge)
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
    pub fn new(config: &Config, decoy_key: [u8; 32]) -> Self {
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
            ceremonies: Mutex::new(ceremonies::Ceremonies::new(config.passkey_max_ceremonies)),
            failures: Mutex::new(HashMap::new()),
            decoy_key,
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

    fn put(&self, state: State, owner: Option<String>, now: DateTime<Utc>) -> Result<String> {
        let id = crate::auth::session::new_token();
        lock(&self.ceremonies)
            .insert(id.clone(), state, owner, now, now + CEREMONY_TTL)
            .map_err(|full| {
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "too many passkey ceremonies are open; try again shortly",
                )
                .with_retry_after((full.until - now).num_seconds().max(1) as u64)
            })?;
        Ok(id)
    }

    /// Removes a ceremony (single use) if it has not expired.
    fn take(&self, id: &str, now: DateTime<Utc>) -> Result<State> {
        lock(&self.ceremonies)
            .take(id, now)
            .ok_or_else(|| challenge_refused(refusal::UNKNOWN_CHALLENGE))
    }

    /// Drops expired ceremonies (the timed sweep); returns how many.
    pub fn sweep(&self, now: DateTime<Utc>) -> usize {
        lock(&self.ceremonies).sweep(now)
    }

    /// Ceremonies open now (for metrics and tests).
    pub fn open_ceremonies(&self) -> usize {
        lock(&self.ceremonies).len()
    }

    /// Credentials with failures on record (for metrics and tests).
    pub fn tracked_failures(&self) -> usize {
        lock(&self.failures).len()
    }

    /// Starts registering a passkey for `user`. The WebAuthn user handle is
    /// the user id; an id that is not a UUID (accounts imported from the
    /// PostgreSQL service keep their 32-character ids) gets a stable UUID
    /// derived from it (`user_handle`).
    pub fn register_options(
        &self,
        user_id: &str,
        email: &str,
        display_name: &str,
        existing: Vec<CredentialID>,
        now: DateTime<Utc>,
    ) -> Result<(String, CreationChallengeResponse)> {
        let uuid = user_handle(user_id);
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
            Some(user_id.to_owned()),
            now,
        )?;
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
            return Err(challenge_refused(refusal::NOT_REGISTRATION));
        };
        if owner != user_id {
            return Err(failed(refusal::OTHER_SESSION).with_refusal(Refusal::PasskeyOtherSession));
        }
        self.webauthn()?
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                failed(refusal::NOT_VERIFIED)
            })
    }

    /// Starts a sign-in: limited to a user's credentials, discoverable, or
    /// (for an address without passkeys) a decoy of the same shape.
    pub fn auth_options(
        &self,
        request: OptionsFor,
        now: DateTime<Utc>,
    ) -> Result<(String, RequestChallengeResponse)> {
        let webauthn = self.webauthn()?;
        let start_for = |user_id: String, keys: &[Passkey]| {
            webauthn
                .start_passkey_authentication(keys)
                .map(|(rcr, state)| (rcr, State::ForUser { user_id, state }))
                .map_err(|e| ApiError::internal(format!("webauthn start: {e}")))
        };
        let discoverable = || {
            webauthn
                .start_discoverable_authentication()
                .map_err(|e| ApiError::internal(format!("webauthn start: {e}")))
        };
        let (mut rcr, state) = match request {
            OptionsFor::SignedIn { user_id, keys } if !keys.is_empty() => {
                start_for(user_id, &keys)?
            }
            OptionsFor::Address {
                account: Some((user_id, keys)),
                ..
            } if !keys.is_empty() => {
                let (mut rcr, state) = start_for(user_id, &keys)?;
                for c in &mut rcr.public_key.allow_credentials {
                    c.transports = None;
                }
                (rcr, state)
            }
            OptionsFor::Address { address, .. } => {
                // Shaped like the options of an account with passkeys; any
                // answer to it is refused (`Expected::Nobody`).
                let (mut rcr, state) = discoverable()?;
                rcr.public_key.allow_credentials = decoy::allow_list(&self.decoy_key, &address);
                rcr.public_key.extensions = None;
                (rcr, State::Decoy(state))
            }
            OptionsFor::Anyone | OptionsFor::SignedIn { .. } => {
                let (rcr, state) = discoverable()?;
                (rcr, State::Discoverable(state))
            }
        };
        // A modal sign-in; clients that want conditional UI set it.
        rcr.mediation = None;
        Ok((self.put(state, None, now)?, rcr))
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

    /// Records a failed verification of a stored credential whose signature
    /// verified. The table is bounded: at most `FAILURES_TRACKED`
    /// credentials (stale ones are pruned first, then the oldest), at most
    /// `MAX_FAILURES` times each.
    pub fn record_failure(&self, credential_id: &str, now: DateTime<Utc>) {
        let keep = FAILURE_WINDOW.max(BLOCK_FOR);
        let mut failures = lock(&self.failures);
        if !failures.contains_key(credential_id) && failures.len() >= FAILURES_TRACKED {
            failures.retain(|_, list| list.back().is_some_and(|t| now - *t < keep));
            if failures.len() >= FAILURES_TRACKED {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, list)| list.back().copied())
                    .map(|(id, _)| id.clone());
                if let Some(id) = oldest {
                    failures.remove(&id);
                }
            }
        }
        let list = failures.entry(credential_id.to_owned()).or_default();
        list.retain(|t| now - *t < keep);
        list.push_back(now);
        while list.len() > MAX_FAILURES {
            list.pop_front();
        }
    }

    /// The ceremony a verification belongs to, consumed.
    pub fn auth_take(&self, challenge_id: &str, now: DateTime<Utc>) -> Result<AuthCeremony> {
        match self.take(challenge_id, now)? {
            State::Register { .. } => Err(challenge_refused(refusal::NOT_SIGN_IN)),
            State::Discoverable(state) => Ok(AuthCeremony {
                expected: Expected::Anyone,
                state: AuthState::Discoverable(state),
            }),
            State::Decoy(state) => Ok(AuthCeremony {
                expected: Expected::Nobody,
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
    ) -> std::result::Result<Passkey, Refused> {
        let webauthn = self.webauthn().map_err(|_| Refused { signed: false })?;
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
            // The counter is checked after the signature.
            Refused {
                signed: matches!(e, WebauthnError::CredentialPossibleCompromise),
            }
        })?;
        stored.update_credential(&result);
        Ok(stored)
    }
}

/// The WebAuthn user handle of a user id: the id itself when it is a UUID,
/// else a UUID made of the first 16 bytes of a SHA-256 of the id (stable, so
/// an authenticator replaces its earlier credential for the same account).
/// Sign-in never maps a handle back: it looks up the credential id.
pub fn user_handle(user_id: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let digest = Sha256::digest(format!("mana-auth user handle\0{user_id}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    })
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

/// Drops expired ceremonies every `period` (they are also dropped as new
/// ones come in), so an idle server frees their memory too.
pub async fn sweep_every(
    passkeys: std::sync::Arc<Passkeys>,
    clock: crate::clock::Clock,
    period: std::time::Duration,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        passkeys.sweep(clock.now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_the_uuid_or_a_stable_derived_one() {
        let id = "2f1c1b6e-4d3a-4f5e-9a8b-0c1d2e3f4a5b";
        assert_eq!(user_handle(id).to_string(), id);
        let imported = "usr0alice000000000000000000000000";
        assert_eq!(user_handle(imported), user_handle(imported));
        assert_ne!(
            user_handle(imported),
            user_handle("usr0bob00000000000000000000000000")
        );
    }
}
