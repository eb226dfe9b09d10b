//! Password hashing with argon2id (PHC strings). Hashing runs on the blocking
//! pool behind a semaphore sized to the cores, so a burst of logins queues
//! instead of allocating 19 MiB per request at once. Verifying an unknown
//! email spends the same time against a dummy hash: no timing oracle.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorCode, Result};

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_LEN: usize = 128;

/// Checks the length rule; `WEAK_PASSWORD` otherwise.
pub fn check_strength(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            format!("password must be at least {MIN_LEN} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            format!("password must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// The argon2id hasher with its concurrency limit.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
    metrics: Option<Arc<crate::http::metrics::Metrics>>,
}

impl Hasher {
    /// A hasher with the given cost; `concurrency` hashes run at once.
    pub fn new(memory_kib: u32, iterations: u32, lanes: u32, concurrency: usize) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, lanes, None)
            .map_err(|e| ApiError::internal(format!("argon2 parameters: {e}")))?;
        let mut hasher = Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(String::new()),
            metrics: None,
        };
        let mut random = [0u8; 24];
        rand::Rng::fill(&mut rand::thread_rng(), &mut random);
        hasher.dummy = Arc::new(hasher.hash_blocking(&hex::encode(random))?);
        Ok(hasher)
    }

    /// Reports the wait for a hashing slot to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::http::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        let started = std::time::Instant::now();
        let permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        if let Some(m) = &self.metrics {
            m.observe_hash_wait(started.elapsed());
        }
        Ok(permit)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Hashes on the current thread (CLI, start-up).
    pub fn hash_blocking(&self, password: &str) -> Result<String> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(format!("argon2 hash: {e}")))
    }

    /// Hashes a password off the async workers.
    pub async fn hash(&self, password: String) -> Result<String> {
        let _permit = self.slot().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    /// Verifies on the current thread. `None` (unknown account) verifies
    /// against the dummy hash and answers false. A malformed stored hash is
    /// an internal error, not a wrong password.
    pub fn verify_blocking(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        let (phc, known) = match phc {
            Some(p) => (p, true),
            None => (self.dummy.as_str(), false),
        };
        let parsed = PasswordHash::new(phc)
            .map_err(|e| ApiError::internal(format!("stored password hash unreadable: {e}")))?;
        match self.argon().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(known),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(ApiError::internal(format!("argon2 verify: {e}"))),
        }
    }

    /// Verifies off the async workers; see `verify_blocking`.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        let _permit = self.slot().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.verify_blocking(&password, phc.as_deref())).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let phc = h.hash_blocking("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify_blocking("correct horse", Some(&phc)).unwrap());
        assert!(!h.verify_blocking("wrong horse", Some(&phc)).unwrap());
        assert!(!h.verify_blocking("correct horse", None).unwrap());
        assert!(h.verify_blocking("x", Some("not a phc string")).is_err());
    }

    #[test]
    fn strength_rule_counts_characters() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
        assert!(check_strength(&"ä".repeat(128)).is_ok());
        assert!(check_strength(&"a".repeat(129)).is_err());
    }
}
