//! Time, passed in rather than read: the system clock in production, a clock
//! that tests can move forward so expiry, lockout and rate windows need no
//! sleeps. One timestamp format everywhere (see `iso`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// A clock: system time plus an offset that only tests change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in UTC. The one reading of the system clock in the crate.
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// The stored and sent timestamp format: `2026-11-25T10:00:00.000Z`.
/// Fixed width, so string order is time order in SQL.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 timestamp into UTC.
pub fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_fixed_width_and_round_trips() {
        let clock = Clock::system();
        let a = clock.now();
        let s = iso(a);
        assert_eq!(s.len(), 24);
        assert!(s.ends_with('Z'));
        assert_eq!(iso(parse_iso(&s).unwrap()), s);
        let c2 = clock.clone();
        c2.advance(Duration::minutes(30));
        assert!(clock.now() - a >= Duration::minutes(30));
    }
}
