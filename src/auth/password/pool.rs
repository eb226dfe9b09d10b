//! The hashing threads: a fixed pool, each thread with its own argon2
//! working memory, fed from a bounded queue.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::{Block, Params};

use crate::error::{ApiError, Result};

/// argon2 working memory (`m_cost` blocks of 1 KiB), reused between hashes.
#[derive(Default)]
pub struct Memory(Vec<Block>);

/// The capacity every working memory is allocated with, in 1 KiB blocks:
/// 33 MiB, above the largest threshold from which glibc's malloc maps a
/// block by itself (32 MiB; it raises the threshold up to there to the size
/// of each mapped block freed). The buffer is then always its own mapping,
/// given back to the system when dropped, instead of a 19 MiB chunk of an
/// arena that free keeps; only the pages a hash touches are resident (the
/// rest is address space).
const MAPPED_BLOCKS: usize = 33 * 1024;

impl Memory {
    /// The first `params.block_count()` blocks, growing the buffer if needed.
    pub(super) fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            if self.0.capacity() < n {
                // A new mapping (the old one, if any, is unmapped).
                self.0 = Vec::with_capacity(n.max(MAPPED_BLOCKS));
            }
            self.0.resize(n, Block::default());
        }
        &mut self.0[..n]
    }
}

pub(super) type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Password jobs waiting for a hashing thread before new ones are refused
/// with 503 (a login burst queues; a flood does not grow memory).
pub(super) const QUEUE: usize = 1024;

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
pub(super) struct Pool {
    queue: Arc<Queue>,
    pub(super) threads: usize,
    /// Jobs handed to the queue and not yet picked up by a thread.
    pub(super) queued: AtomicUsize,
    /// Jobs a thread is computing now.
    pub(super) running: AtomicUsize,
    /// Jobs finished since start.
    pub(super) completed: AtomicU64,
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

/// The nice value of the hashing threads: the lowest priority. A hash is
/// pure CPU; under a password storm the threads that answer token checks
/// and everything else run first and hashing takes the rest, so `/validate`
/// and `/session` keep their speed while every core hashes. Alone, the
/// threads still get whole cores (nice only matters against runnable
/// threads; with the kernel's autogroups, only against this process's own
/// session). Raising one's own nice value needs no privilege.
pub const HASH_NICE: i32 = 19;

/// Lowers the calling thread's priority to `HASH_NICE` (Linux: the nice
/// value is per thread, `setpriority(PRIO_PROCESS, 0)` is the caller only).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, HASH_NICE) {
        tracing::warn!(error = %e, "cannot lower the hashing thread's priority");
    }
}

/// One hashing thread: runs jobs, gives its memory back when idle.
fn worker(queue: &Queue) {
    lower_priority();
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
    pub(super) fn new(threads: usize) -> Result<Self> {
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
    pub(super) fn submit(&self, job: Job) -> std::result::Result<(), Job> {
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
