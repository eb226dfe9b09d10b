//! Per-IP rate limits for the endpoints that attackers hammer: register,
//! login, forgot-password, magic-link, two-factor and token validation.
//! Fixed one-minute windows in memory, on the server clock. Separate from
//! the password lockout (per email) and the passkey limits. 0 disables a
//! bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::error::{ApiError, ErrorCode, Result};

/// What is being limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Credential and mail-sending endpoints.
    Auth,
    /// Token and API-key validation.
    Validate,
    /// Passkey sign-in options (`authenticate/options`).
    PasskeyOptions,
}

/// Start and count of the current window of one (bucket, address).
type Windows = HashMap<(Bucket, IpAddr), (DateTime<Utc>, u32)>;

/// The limiter of one server.
pub struct Limits {
    auth: u32,
    validate: u32,
    passkey_options: u32,
    windows: Mutex<Windows>,
}

impl Limits {
    /// Limits per IP and minute.
    pub fn new(auth: u32, validate: u32, passkey_options: u32) -> Self {
        Self {
            auth,
            validate,
            passkey_options,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `ip` in `bucket`; RATE_LIMITED with
    /// Retry-After when over the limit.
    pub fn check(&self, bucket: Bucket, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<()> {
        let limit = match bucket {
            Bucket::Auth => self.auth,
            Bucket::Validate => self.validate,
            Bucket::PasskeyOptions => self.passkey_options,
        };
        let Some(ip) = ip.filter(|_| limit > 0) else {
            return Ok(());
        };
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now - *start < Duration::minutes(1));
        }
        let entry = windows.entry((bucket, ip)).or_insert((now, 0));
        if now - entry.0 >= Duration::minutes(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            let wait = (entry.0 + Duration::minutes(1) - now).num_seconds().max(1) as u64;
            return Err(
                ApiError::new(ErrorCode::RateLimited, "too many requests; slow down")
                    .with_retry_after(wait),
            );
        }
        Ok(())
    }
}

/// The client address: the socket peer, unless the peer is one of the
/// trusted proxies, in which case the right-most `X-Forwarded-For` entry that
/// is not itself a trusted proxy. The header of an untrusted peer is ignored.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut hops: Vec<IpAddr> = Vec::new();
    for part in header.split(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) => hops.push(ip),
            // A malformed chain: trust nothing beyond the proxy.
            Err(_) => return Some(peer),
        }
    }
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [ip("10.0.0.1")];
        assert_eq!(
            client_ip(Some(ip("1.2.3.4")), Some("9.9.9.9"), &proxies),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("9.9.9.9"), &proxies),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.1")),
                Some("6.6.6.6, 9.9.9.9, 10.0.0.1"),
                &proxies
            ),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("garbage"), &proxies),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &proxies),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn windows_reset_after_a_minute() {
        let l = Limits::new(2, 0, 0);
        let t = crate::clock::Clock::system().now();
        let a = Some(ip("1.1.1.1"));
        assert!(l.check(Bucket::Auth, a, t).is_ok());
        assert!(l.check(Bucket::Auth, a, t).is_ok());
        assert!(l.check(Bucket::Auth, a, t).is_err());
        assert!(l.check(Bucket::Auth, Some(ip("2.2.2.2")), t).is_ok());
        assert!(l.check(Bucket::Validate, a, t).is_ok(), "0 disables");
        assert!(l.check(Bucket::Auth, a, t + Duration::seconds(61)).is_ok());
    }
}
