//! The argon2id hasher: its cost, the anonymous ceiling, running jobs on
//! the pool, and making new hashes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::nfkc;
use super::pool::{HashLoad, Job, Memory, Pool, QUEUE};
use crate::error::{ApiError, ErrorCode, Result};

/// The argon2id hasher with its own thread pool.
#[derive(Clone)]
pub struct Hasher {
    pub(super) params: Params,
    pub(super) pool: Arc<Pool>,
    pub(super) dummy: Arc<String>,
    /// Whether Better Auth scrypt hashes may be stored (each verification
    /// then also pays one scrypt; see the module comment).
    pub(super) scrypt_stored: Arc<AtomicBool>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    anonymous: Arc<Gate>,
}

/// The ceiling on password work for callers that are not signed in
/// (sign-in, sign-up, password reset): jobs queued or running at most.
/// Beyond it they are shed with 503 OVERLOADED and `Retry-After`, so a
/// flood of sign-in attempts from many addresses cannot queue unbounded
/// work ahead of everyone; signed-in password checks are rate limited per
/// client and account instead and do not count here.
struct Gate {
    in_flight: AtomicUsize,
    max: usize,
}

/// A place under the ceiling, given back when dropped (the answer came,
/// or the requester left).
pub(super) struct Permit(Arc<Gate>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Password jobs of callers that are not signed in, per hashing thread,
/// when `HASH_MAX_ANONYMOUS` is not set.
pub const ANONYMOUS_PER_THREAD: usize = 32;

fn overloaded() -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        "the server is busy checking passwords; try again in a moment",
    )
    .with_retry_after(1)
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
            scrypt_stored: Arc::new(AtomicBool::new(false)),
            metrics: None,
            anonymous: Arc::new(Gate {
                in_flight: AtomicUsize::new(0),
                max: concurrency.max(1) * ANONYMOUS_PER_THREAD,
            }),
        };
        hasher.dummy = Arc::new(hasher.dummy_phc());
        Ok(hasher)
    }

    /// A PHC string with these parameters, a random salt and a random
    /// 32-byte output (the length real hashes have). Verifying any password
    /// against it costs one full argon2id computation, exactly like a real
    /// hash, and never matches (2^-256); unlike hashing a random password it
    /// costs nothing at start-up, which was ≈45 ms of exec → healthy.
    fn dummy_phc(&self) -> String {
        use base64::Engine as _;
        let mut salt = [0u8; 16];
        let mut output = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut salt);
        rand::Rng::fill(&mut rand::thread_rng(), &mut output);
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            b64.encode(salt),
            b64.encode(output)
        )
    }

    /// Tells the hasher whether the database holds scrypt hashes (checked at
    /// start-up: `users::store::has_scrypt_password`). While it does, every
    /// verification also computes one scrypt so that no outcome is faster.
    pub fn set_scrypt_stored(&self, stored: bool) {
        self.scrypt_stored.store(stored, Ordering::Relaxed);
    }

    /// Whether verifications currently also pay one scrypt.
    pub fn scrypt_stored(&self) -> bool {
        self.scrypt_stored.load(Ordering::Relaxed)
    }

    /// Sets the ceiling on queued and running password jobs of callers that
    /// are not signed in (at least 1).
    pub fn with_anonymous_limit(mut self, max: usize) -> Self {
        self.anonymous = Arc::new(Gate {
            in_flight: AtomicUsize::new(0),
            max: max.max(1),
        });
        self
    }

    pub(super) fn admit_anonymous(&self) -> Result<Permit> {
        let gate = &self.anonymous;
        if gate.in_flight.fetch_add(1, Ordering::SeqCst) >= gate.max {
            gate.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(overloaded());
        }
        Ok(Permit(gate.clone()))
    }

    /// Reports the wait for a hashing slot to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs `f` on a hashing thread with its working memory; the time it
    /// waited is reported. A job whose requester is gone by the time a
    /// thread takes it (the request timed out or the client left) is
    /// skipped. `permit` (a place under the anonymous ceiling) is held
    /// until the answer is in or the requester is gone: a job left behind
    /// by a client that gave up costs no hash and holds no place (before,
    /// it held one until a thread reached it, and the clients after a
    /// burst were refused for the jobs of clients long gone).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        permit: Option<Permit>,
        f: impl FnOnce(&Hasher, &mut Memory) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let queued = std::time::Instant::now();
        let _permit = permit;
        let job: Job = Box::new(move |memory| {
            let pool = &this.pool;
            pool.queued.fetch_sub(1, Ordering::Relaxed);
            if tx.is_closed() {
                return;
            }
            if let Some(m) = &this.metrics {
                m.observe_hash_wait(queued.elapsed());
            }
            pool.running.fetch_add(1, Ordering::Relaxed);
            let outcome = f(&this, memory);
            pool.running.fetch_sub(1, Ordering::Relaxed);
            pool.completed.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(outcome);
        });
        self.pool.queued.fetch_add(1, Ordering::Relaxed);
        self.pool.submit(job).map_err(|_| {
            self.pool.queued.fetch_sub(1, Ordering::Relaxed);
            ApiError::new(
                crate::error::ErrorCode::ServiceUnavailable,
                "too many sign-ins at once; try again",
            )
            .with_retry_after(1)
        })?;
        rx.await
            .map_err(|_| ApiError::internal("hashing thread ended"))?
    }

    /// What the pool is doing now.
    pub fn load(&self) -> HashLoad {
        let pool = &self.pool;
        HashLoad {
            threads: pool.threads,
            running: pool.running.load(Ordering::Relaxed),
            queued: pool.queued.load(Ordering::Relaxed),
            queue_capacity: QUEUE,
            completed: pool.completed.load(Ordering::Relaxed),
        }
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Hashes on the current thread (CLI, tests) with fresh memory.
    pub fn hash_blocking(&self, password: &str) -> Result<String> {
        self.hash_with(password, &mut Memory::default())
    }

    /// A new PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` for the
    /// NFKC form of `password`, computed in `memory`.
    pub fn hash_with(&self, password: &str, memory: &mut Memory) -> Result<String> {
        let password = nfkc(password);
        let fail = |e: &dyn std::fmt::Display| ApiError::internal(format!("argon2 hash: {e}"));
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| fail(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                memory.blocks(&self.params),
            )
            .map_err(|e| fail(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| fail(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Hashes a password off the async workers.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(None, move |h, memory| h.hash_with(&password, memory))
            .await
    }

    /// `hash` for a caller that is not signed in (sign-up, password reset):
    /// under the anonymous ceiling (503 OVERLOADED beyond it).
    pub async fn hash_anonymous(&self, password: String) -> Result<String> {
        let permit = self.admit_anonymous()?;
        self.run(Some(permit), move |h, memory| {
            h.hash_with(&password, memory)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: the job of a sign-in whose client left held its place until
    /// a thread reached it, and the next sign-in was refused meanwhile.
    #[tokio::test]
    async fn a_sign_in_given_up_frees_its_place_at_once() {
        let h = Hasher::new(64, 1, 1, 1).unwrap().with_anonymous_limit(1);
        // The only thread is busy until `release` is sent.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        h.pool
            .submit(Box::new(move |_| {
                let _ = wait.recv();
            }))
            .map_err(|_| "queue full")
            .unwrap();
        let mut gone = Box::pin(h.verify_for_login("pw 12345".into(), None));
        assert!(futures::poll!(gone.as_mut()).is_pending(), "queued");
        assert_eq!(h.load().queued, 1);
        drop(gone);
        // Its job still waits in the queue, but holds no place.
        assert!(h.admit_anonymous().is_ok(), "refused for a client gone");
        release.send(()).unwrap();
        let v = h.verify_for_login("pw 12345".into(), None).await.unwrap();
        assert!(!v.matches);
        assert_eq!(h.load().completed, 1, "the abandoned job was skipped");
    }
}
