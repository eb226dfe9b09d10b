//! The open ceremonies, bounded: every ceremony expires after `CEREMONY_TTL`
//! and is single use; a user has at most `REGISTRATIONS_PER_USER` open
//! registrations (a new one replaces the oldest); all of them together are
//! at most the configured cap (`PASSKEY_MAX_CEREMONIES`), beyond which a new
//! one is refused until some expire. Expired ceremonies are dropped from the
//! front of an expiry-ordered queue — on every insert (amortised O(1), no
//! scan of the table) and by a timed sweep — never by a scan under the lock.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

/// Open registrations per user; the newest replace the oldest.
pub const REGISTRATIONS_PER_USER: usize = 3;

struct Entry<T> {
    state: T,
    expires_at: DateTime<Utc>,
    owner: Option<String>,
}

/// The table is full: no room until the oldest ceremony expires at this time.
#[derive(Debug)]
pub struct Full {
    pub until: DateTime<Utc>,
}

/// Ceremonies by id, with their expiry queue and the open registrations of
/// each user.
pub struct Ceremonies<T> {
    map: HashMap<String, Entry<T>>,
    /// (expires_at, id) in insertion order, which is expiry order (the TTL is
    /// fixed). Ids already taken stay until they reach the front.
    queue: VecDeque<(DateTime<Utc>, String)>,
    registrations: HashMap<String, VecDeque<String>>,
    cap: usize,
}

impl<T> Ceremonies<T> {
    /// An empty table holding at most `cap` ceremonies.
    pub fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            queue: VecDeque::new(),
            registrations: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Open ceremonies.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when none is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn forget(&mut self, id: &str) -> Option<Entry<T>> {
        let entry = self.map.remove(id)?;
        if let Some(owner) = &entry.owner {
            if let Some(list) = self.registrations.get_mut(owner) {
                list.retain(|i| i != id);
                if list.is_empty() {
                    self.registrations.remove(owner);
                }
            }
        }
        Some(entry)
    }

    /// Drops the ceremonies that expired by `now`; returns how many.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> usize {
        let mut dropped = 0;
        while let Some((expires_at, _)) = self.queue.front() {
            if *expires_at > now {
                break;
            }
            if let Some((_, id)) = self.queue.pop_front() {
                if self.forget(&id).is_some() {
                    dropped += 1;
                }
            }
        }
        // Taken ids wait in the queue until they expire; keep it from
        // growing past a small multiple of the table.
        if self.queue.len() > 2 * self.cap + 64 {
            let map = &self.map;
            self.queue.retain(|(_, id)| map.contains_key(id));
        }
        dropped
    }

    /// Adds a ceremony expiring at `expires_at`; a registration names its
    /// user as `owner`, whose oldest open registration goes when they
    /// already have `REGISTRATIONS_PER_USER`.
    pub fn insert(
        &mut self,
        id: String,
        state: T,
        owner: Option<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Full> {
        self.sweep(now);
        if let Some(owner) = &owner {
            let oldest: Vec<String> = self
                .registrations
                .get(owner)
                .map(|list| {
                    let excess = (list.len() + 1).saturating_sub(REGISTRATIONS_PER_USER);
                    list.iter().take(excess).cloned().collect()
                })
                .unwrap_or_default();
            for old in oldest {
                self.forget(&old);
            }
        }
        if self.map.len() >= self.cap {
            let until = self.queue.front().map_or(expires_at, |(t, _)| *t);
            return Err(Full { until });
        }
        if let Some(owner) = &owner {
            self.registrations
                .entry(owner.clone())
                .or_default()
                .push_back(id.clone());
        }
        self.queue.push_back((expires_at, id.clone()));
        self.map.insert(
            id,
            Entry {
                state,
                expires_at,
                owner,
            },
        );
        Ok(())
    }

    /// Removes a ceremony (single use); None when unknown or expired.
    pub fn take(&mut self, id: &str, now: DateTime<Utc>) -> Option<T> {
        let entry = self.forget(id)?;
        (entry.expires_at > now).then_some(entry.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn registrations_per_user_replace_the_oldest() {
        let mut c = Ceremonies::new(100);
        for i in 0..5 {
            let id = format!("r{i}");
            c.insert(id, i, Some("u".into()), at(i), at(i + 300))
                .unwrap();
        }
        c.insert("other".into(), 9, Some("v".into()), at(5), at(305))
            .unwrap();
        assert_eq!(c.len(), REGISTRATIONS_PER_USER + 1);
        assert_eq!(c.take("r0", at(10)), None);
        assert_eq!(c.take("r1", at(10)), None);
        assert_eq!(c.take("r4", at(10)), Some(4));
        assert_eq!(c.take("r4", at(10)), None, "single use");
        assert_eq!(c.take("other", at(10)), Some(9));
    }

    #[test]
    fn the_cap_refuses_until_the_oldest_expires_and_the_sweep_frees_memory() {
        let mut c = Ceremonies::new(3);
        for i in 0..3 {
            c.insert(format!("a{i}"), i, None, at(i), at(i + 300))
                .unwrap();
        }
        let full = c.insert("x".into(), 7, None, at(3), at(303)).unwrap_err();
        assert_eq!(full.until, at(300));
        assert_eq!(c.take("a0", at(10)), Some(0));
        c.insert("x".into(), 7, None, at(11), at(311)).unwrap();
        assert_eq!(c.sweep(at(302)), 2, "a1 and a2 expired");
        assert_eq!(c.len(), 1);
        assert_eq!(c.take("x", at(312)), None, "expired");
        assert!(c.is_empty());
        // Taken ids do not pile up in the queue.
        for i in 0..1000 {
            let id = format!("t{i}");
            c.insert(id.clone(), i, None, at(400), at(700)).unwrap();
            c.take(&id, at(400));
        }
        assert!(c.queue.len() <= 2 * 3 + 64 + 1);
    }
}
