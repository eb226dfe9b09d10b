//! Password hashing with argon2id (PHC strings). Hashing runs on a dedicated
//! pool of threads sized to the cores with a bounded queue, so a burst of
//! logins queues instead of allocating 19 MiB per request at once; each
//! thread keeps its argon2 working memory for its lifetime. Verifying an
//! unknown email spends the same time against a dummy hash: no timing oracle.
//!
//! Imported accounts may still carry Better Auth's scrypt hashes
//! (`scrypt_hash`) until their first sign-in replaces them. While any exist
//! in the database, every verification computes one argon2id *and* one
//! scrypt, each against the stored hash of its kind or a dummy of the same
//! cost: "argon2 hash, wrong password", "scrypt hash, wrong password" and
//! "unknown email" then do the same work and take the same time. Without
//! scrypt hashes only the argon2id computation runs, as before.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::auth::scrypt_hash::{self, ScryptHash};
use crate::error::{ApiError, ErrorCode, Refusal, Result};

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
        )
        .with_refusal(Refusal::PasswordTooLong));
    }
    Ok(())
}

/// The NFKC form of a password, which new hashes are made of (as NIST SP
/// 800-63B advises, and as Better Auth hashed): a password typed with
/// another keyboard or input method in an equivalent form (composed or
/// decomposed accents, full-width or ligature characters) still matches.
/// ASCII is unchanged, so hashes of ASCII passwords are the same as before.
pub fn nfkc(password: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    if unicode_normalization::is_nfkc_quick(password.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        std::borrow::Cow::Borrowed(password)
    } else {
        std::borrow::Cow::Owned(password.nfkc().collect())
    }
}

/// argon2 working memory (`m_cost` blocks of 1 KiB), reused between hashes.
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    /// The first `params.block_count()` blocks, growing the buffer if needed.
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0.resize(n, Block::default());
        }
        &mut self.0[..n]
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Password jobs waiting for a hashing thread before new ones are refused
/// with 503 (a login burst queues; a flood does not grow memory).
const QUEUE: usize = 1024;

/// A hashing thread that had nothing to do for this long gives its working
/// memory back (the next hash allocates it again, ≈1 ms): RSS returns to
/// the idle figure after a burst.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// A fixed set of hashing threads, each with its own argon2 working memory
/// (19 MiB at the shipped cost) reused by every hash it computes while
/// busy and given back after `IDLE_RELEASE`: RSS stays at threads × 19 MiB
/// under any login load, and no hash in a burst pays for faulting in fresh
/// pages. (Allocating per hash, glibc kept freed blocks in its arenas and
/// RSS grew to ≈300 MB after 32 sign-ups; on the shared blocking pool, with
/// up to 512 threads, past 1.9 GB.)
struct Pool {
    queue: Arc<Queue>,
    threads: usize,
    /// Jobs handed to the queue and not yet picked up by a thread.
    queued: AtomicUsize,
    /// Jobs a thread is computing now.
    running: AtomicUsize,
    /// Jobs finished since start.
    completed: AtomicU64,
}

/// What the hashing pool is doing (the admin system panel).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HashLoad {
    /// Hashing threads (one per core unless `HASH_CONCURRENCY` says otherwise).
    pub threads: usize,
    /// Hashes being computed now.
    pub running: usize,
    /// Hashes waiting for a thread.
    pub queued: usize,
    /// Waiting hashes beyond which sign-ins get 503.
    pub queue_capacity: usize,
    /// Hashes computed since start.
    pub completed: u64,
}

/// The jobs waiting for a thread. Every idle thread waits on `ready` at
/// once (the lock is not held while waiting), so each one times out and
/// gives its memory back by itself. (With one receiver behind a mutex, an
/// idle thread held the lock while waiting and the others never timed out.)
#[derive(Default)]
struct Queue {
    jobs: std::sync::Mutex<std::collections::VecDeque<Job>>,
    ready: std::sync::Condvar,
    /// Set when the pool is dropped: the threads end.
    closed: AtomicBool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
        let _guard = self.queue.lock();
        self.queue.ready.notify_all();
    }
}

/// One hashing thread: runs jobs, gives its memory back when idle.
fn worker(queue: &Queue) {
    let mut memory = Memory::default();
    let mut jobs = queue.lock();
    loop {
        if let Some(job) = jobs.pop_front() {
            drop(jobs);
            job(&mut memory);
            jobs = queue.lock();
            continue;
        }
        if queue.closed.load(Ordering::Acquire) {
            return;
        }
        if memory.0.is_empty() {
            jobs = queue.ready.wait(jobs).unwrap_or_else(|p| p.into_inner());
        } else {
            let (guard, waited) = queue
                .ready
                .wait_timeout(jobs, IDLE_RELEASE)
                .unwrap_or_else(|p| p.into_inner());
            jobs = guard;
            if waited.timed_out() && jobs.is_empty() {
                // Idle: give the working memory back (outside the lock).
                drop(jobs);
                memory = Memory::default();
                jobs = queue.lock();
            }
        }
    }
}

impl Pool {
    fn new(threads: usize) -> Result<Self> {
        let queue = Arc::new(Queue::default());
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&queue))
                .map_err(|e| ApiError::internal(format!("cannot start hashing thread: {e}")))?;
        }
        Ok(Self {
            queue,
            threads: threads.max(1),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
        })
    }

    /// Queues `job`, unless `QUEUE` jobs are already waiting.
    fn submit(&self, job: Job) -> std::result::Result<(), Job> {
        let mut jobs = self.queue.lock();
        if jobs.len() >= QUEUE {
            return Err(job);
        }
        jobs.push_back(job);
        drop(jobs);
        self.queue.ready.notify_one();
        Ok(())
    }
}

/// The argon2id hasher with its own thread pool.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    pool: Arc<Pool>,
    dummy: Arc<String>,
    /// Whether Better Auth scrypt hashes may be stored (each verification
    /// then also pays one scrypt; see the module comment).
    scrypt_stored: Arc<AtomicBool>,
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

/// A place under the ceiling, given back when dropped (the job ran, failed
/// or was skipped).
struct Permit(Arc<Gate>);

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

/// One hash computation of a verification (the test compares these lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// argon2 with (algorithm, m, t, p).
    Argon2(String, u32, u32, u32),
    /// Better Auth's scrypt (fixed cost).
    Scrypt(String),
}

/// The outcome of a sign-in's password check.
#[derive(Debug)]
pub struct Verified {
    /// The password is right.
    pub matches: bool,
    /// Set when the stored hash was Better Auth's scrypt and the password
    /// was right: its argon2id replacement, computed in the same job.
    pub rehashed: Option<String>,
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

    fn admit_anonymous(&self) -> Result<Permit> {
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
    /// until the job ran or was skipped.
    async fn run<T: Send + 'static>(
        &self,
        permit: Option<Permit>,
        f: impl FnOnce(&Hasher, &mut Memory) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move |memory| {
            let _permit = permit;
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

    /// Verifies on the current thread with fresh memory; see `verify_with`.
    pub fn verify_blocking(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        self.verify_with(password, phc, &mut Memory::default())
    }

    /// Verifies `password` against a stored hash, in `memory`: an argon2 PHC
    /// string with the algorithm, version and cost written in it, or a
    /// Better Auth scrypt hash. `None` (unknown account) verifies against
    /// dummies and answers false. A malformed stored hash is an internal
    /// error, not a wrong password.
    pub fn verify_with(
        &self,
        password: &str,
        phc: Option<&str>,
        memory: &mut Memory,
    ) -> Result<bool> {
        Ok(self.check(password, phc, memory, &mut Vec::new())?.0)
    }

    /// The check itself: whether the password matches and whether the
    /// stored hash was scrypt. `work` receives every hash computation done.
    /// Which computations run depends only on whether scrypt hashes are
    /// stored at all, never on the account or the password.
    fn check(
        &self,
        password: &str,
        stored: Option<&str>,
        memory: &mut Memory,
        work: &mut Vec<Work>,
    ) -> Result<(bool, bool)> {
        let scrypt = stored.and_then(ScryptHash::parse);
        if scrypt.is_some() {
            // Only an import writes these, and it refuses to run beside a
            // server; should one appear anyway, equalise from now on.
            self.set_scrypt_stored(true);
        }
        let (phc, argon2_known) = match (stored, &scrypt) {
            (Some(phc), None) => (phc, true),
            _ => (self.dummy.as_str(), false),
        };
        // Hashes are made of the NFKC form (see `nfkc`); older ones of the
        // password as typed. Both are tried when they differ, which depends
        // on the password alone, never on the account.
        let normalised = nfkc(password);
        let mut argon2_ok = self.argon2_matches(password, phc, memory, work)?;
        if normalised != password {
            argon2_ok |= self.argon2_matches(&normalised, phc, memory, work)?;
        }
        let argon2_ok = argon2_ok && argon2_known;
        if !self.scrypt_stored.load(Ordering::Relaxed) {
            return Ok((argon2_ok, false));
        }
        work.push(Work::Scrypt(scrypt_hash::cost()));
        Ok(match scrypt {
            Some(hash) => (hash.verify(password)?, true),
            None => {
                ScryptHash::dummy().verify(password)?;
                (argon2_ok, false)
            }
        })
    }

    fn argon2_matches(
        &self,
        password: &str,
        phc: &str,
        memory: &mut Memory,
        work: &mut Vec<Work>,
    ) -> Result<bool> {
        let unreadable = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!("stored password hash unreadable: {e}"))
        };
        let parsed = PasswordHash::new(phc).map_err(|e| unreadable(&e))?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(unreadable(&"no salt or no hash"));
        };
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| unreadable(&e))?;
        let mut out = vec![0u8; expected.len()];
        work.push(Work::Argon2(
            algorithm.to_string(),
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
        ));
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                memory.blocks(&params),
            )
            .map_err(|e| ApiError::internal(format!("argon2 verify: {e}")))?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(|e| unreadable(&e))? == expected)
    }

    /// Verifies off the async workers; see `verify_with`.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        self.run(None, move |h, memory| {
            h.verify_with(&password, phc.as_deref(), memory)
        })
        .await
    }

    /// Verifies a sign-in's password off the async workers; when it was
    /// right and the stored hash was scrypt, also computes the argon2id
    /// hash that replaces it (in the same job: the password is at hand).
    /// The caller is not signed in: under the anonymous ceiling.
    pub async fn verify_for_login(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified> {
        let permit = self.admit_anonymous()?;
        self.run(Some(permit), move |h, memory| {
            let (matches, scrypt) =
                h.check(&password, stored.as_deref(), memory, &mut Vec::new())?;
            let rehashed = if matches && scrypt {
                Some(h.hash_with(&password, memory)?)
            } else {
                None
            };
            Ok(Verified { matches, rehashed })
        })
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
    fn reused_memory_agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let h = Hasher::new(256, 2, 1, 1).unwrap();
        let mut memory = Memory::default();
        // Ours, checked by the crate's verifier.
        let ours = h.hash_with("correct horse", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        let crate_argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, h.params().clone());
        assert!(crate_argon
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        // The crate's hash (how stored hashes were made), checked by ours,
        // also with other costs than the hasher's and with the same memory.
        for (m, t, p) in [(256, 2, 1), (64, 1, 1), (512, 3, 2)] {
            let params = Params::new(m, t, p, None).unwrap();
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            let theirs = argon.hash_password(b"pw 12345", &salt).unwrap().to_string();
            assert!(h
                .verify_with("pw 12345", Some(&theirs), &mut memory)
                .unwrap());
            assert!(!h
                .verify_with("pw 12346", Some(&theirs), &mut memory)
                .unwrap());
        }
        assert!(h
            .verify_with("correct horse", Some(&ours), &mut memory)
            .unwrap());
    }

    #[test]
    fn dummy_hash_has_the_real_shape_and_cost() {
        let h = Hasher::new(64, 3, 2, 1).unwrap();
        let real = PasswordHash::new(&h.hash_blocking("pw").unwrap())
            .unwrap()
            .to_string();
        let dummy = PasswordHash::new(h.dummy.as_str()).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.salt.unwrap().len(), real.salt.unwrap().len());
        assert_eq!(dummy.hash.unwrap().len(), real.hash.unwrap().len());
        // Verifying against it is a normal verify that answers false.
        assert!(!h.verify_blocking("pw", Some(h.dummy.as_str())).unwrap());
        assert!(!h.verify_blocking("pw", None).unwrap());
    }

    /// Made by Better Auth 1.7.25's `hashPassword` (Node) for
    /// "correct-horse-battery"; the API tests make fresh ones with Node.
    const BETTER_AUTH_HASH: &str = "b1ea2e6b9f346d607f5af74a41a24b37:afa46aa6d850b134ad15a36ccee22e5e\
        19d9452f8612def0b0607847ce931cab92f0d74362415424762fac637b16ccfa6d8edc2666f13dc0ce5676a8c3fcd5d8";

    #[test]
    fn better_auth_hashes_verify() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        assert!(h
            .verify_blocking("correct-horse-battery", Some(BETTER_AUTH_HASH))
            .unwrap());
        assert!(!h
            .verify_blocking("correct-horse-batterx", Some(BETTER_AUTH_HASH))
            .unwrap());
    }

    #[test]
    fn every_failure_does_the_same_work() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let argon = h.hash_blocking("right password").unwrap();
        let scrypt = scrypt_hash::hash("right password").unwrap();
        let mut memory = Memory::default();
        let argon2_only = vec![Work::Argon2("argon2id".into(), 64, 1, 1)];
        // No scrypt hash stored: one argon2id per check, as before.
        for stored in [Some(argon.as_str()), None] {
            let mut work = Vec::new();
            assert!(!h.check("wrong", stored, &mut memory, &mut work).unwrap().0);
            assert_eq!(work, argon2_only);
        }
        // With scrypt hashes stored, the three failures compute the same.
        h.set_scrypt_stored(true);
        let both = vec![
            Work::Argon2("argon2id".into(), 64, 1, 1),
            Work::Scrypt(scrypt_hash::cost()),
        ];
        for stored in [Some(argon.as_str()), Some(scrypt.as_str()), None] {
            let mut work = Vec::new();
            assert!(!h.check("wrong", stored, &mut memory, &mut work).unwrap().0);
            assert_eq!(work, both, "stored: {stored:?}");
        }
        // Successes too, and each kind still matches only its own hash.
        for (stored, scrypt_kind) in [(&argon, false), (&scrypt, true)] {
            let mut work = Vec::new();
            let found = h.check("right password", Some(stored), &mut memory, &mut work);
            assert_eq!(found.unwrap(), (true, scrypt_kind));
            assert_eq!(work, both);
        }
    }

    #[test]
    fn equivalent_forms_of_a_password_match_new_hashes() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let composed = "Gr\u{fc}\u{df}e-Pa\u{fb01}word";
        let decomposed = "Gru\u{308}\u{df}e-Pafiword";
        let new = h.hash_blocking(composed).unwrap();
        assert!(h.verify_blocking(decomposed, Some(&new)).unwrap());
        assert!(h.verify_blocking(composed, Some(&new)).unwrap());
        // A hash of the password as typed (made before normalising) still
        // matches exactly that input.
        let params = Params::new(64, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let raw = argon2::password_hash::PasswordHasher::hash_password(
            &argon,
            composed.as_bytes(),
            &salt,
        )
        .unwrap()
        .to_string();
        assert!(h.verify_blocking(composed, Some(&raw)).unwrap());
        // The work depends on the password typed, never on the account.
        h.set_scrypt_stored(true);
        let scrypt = scrypt_hash::hash(composed).unwrap();
        let mut works = Vec::new();
        for stored in [Some(new.as_str()), Some(scrypt.as_str()), None] {
            let mut work = Vec::new();
            h.check("Gru\u{308}n", stored, &mut Memory::default(), &mut work)
                .unwrap();
            works.push(work);
        }
        assert_eq!(works[0].len(), 3);
        assert!(works.iter().all(|w| *w == works[0]));
    }

    #[test]
    fn a_scrypt_hash_turns_equalising_on() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let scrypt = scrypt_hash::hash("pw 12345").unwrap();
        assert!(h.verify_blocking("pw 12345", Some(&scrypt)).unwrap());
        let mut work = Vec::new();
        h.check("pw", None, &mut Memory::default(), &mut work)
            .unwrap();
        assert_eq!(work.len(), 2);
    }

    #[tokio::test]
    async fn a_right_scrypt_password_comes_back_rehashed() {
        let h = Hasher::new(64, 1, 1, 1).unwrap();
        let scrypt = scrypt_hash::hash("pw 12345").unwrap();
        let v = h
            .verify_for_login("pw 12345".into(), Some(scrypt.clone()))
            .await
            .unwrap();
        assert!(v.matches);
        let new = v.rehashed.unwrap();
        assert!(new.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify_blocking("pw 12345", Some(&new)).unwrap());
        let wrong = h
            .verify_for_login("pw 12346".into(), Some(scrypt))
            .await
            .unwrap();
        assert!(!wrong.matches && wrong.rehashed.is_none());
        let argon = h.hash_blocking("pw 12345").unwrap();
        let right = h
            .verify_for_login("pw 12345".into(), Some(argon))
            .await
            .unwrap();
        assert!(right.matches && right.rehashed.is_none());
    }

    #[test]
    fn strength_rule_counts_characters() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
        assert!(check_strength(&"ä".repeat(128)).is_ok());
        assert!(check_strength(&"a".repeat(129)).is_err());
    }
}
