//! Password hashing with argon2id (PHC strings). Hashing runs on the blocking
//! pool behind a semaphore sized to the cores, so a burst of logins queues
//! instead of allocating 19 MiB per request at once. Verifying an unknown
//! email spends the same time against a dummy hash: no timing oracle.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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

type Job = Box<dyn FnOnce() + Send>;

/// Password jobs waiting for a hashing thread before new ones are refused
/// with 503 (a login burst queues; a flood does not grow memory).
const QUEUE: usize = 1024;

/// A fixed set of hashing threads. A dedicated pool (rather than the shared
/// blocking pool) keeps argon2's 19 MiB working memory in as many malloc
/// arenas as there are threads: on the blocking pool, every one of up to
/// 512 threads kept its own copy and RSS grew past 1.9 GB under a login load.
struct Pool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl Pool {
    fn new(threads: usize) -> Result<Self> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // Threads end when the last Hasher (the sender) is gone.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                })
                .map_err(|e| ApiError::internal(format!("cannot start hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }
}

/// The argon2id hasher with its own thread pool.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    pool: Arc<Pool>,
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
            pool: Arc::new(Pool::new(concurrency)?),
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

    /// Runs `f` on a hashing thread; the time it waited is reported.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Hasher) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move || {
            if let Some(m) = &this.metrics {
                m.observe_hash_wait(queued.elapsed());
            }
            let _ = tx.send(f(&this));
        });
        self.pool.jobs.try_send(job).map_err(|_| {
            ApiError::new(
                crate::error::ErrorCode::ServiceUnavailable,
                "too many sign-ins at once; try again",
            )
            .with_retry_after(1)
        })?;
        rx.await
            .map_err(|_| ApiError::internal("hashing thread ended"))?
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
        self.run(move |h| h.hash_blocking(&password)).await
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
        self.run(move |h| h.verify_blocking(&password, phc.as_deref()))
            .await
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
