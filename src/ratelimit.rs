//! Per-client rate limits for the endpoints that attackers hammer: register,
//! login, forgot-password, magic-link, two-factor, password checks and
//! token validation. Fixed one-minute windows in memory, on the server
//! clock. A client is its network: an IPv4 address, or an IPv6 prefix
//! (`RATE_LIMIT_IPV6_PREFIX`, /64 by default — one subscriber usually gets
//! a whole /64, so counting single IPv6 addresses would let one machine
//! rotate through billions). Separate from the password lockout (per
//! account) and the passkey limits. 0 disables a bucket.

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

/// The network an address counts as: IPv4 addresses as themselves, IPv6
/// addresses as their first `v6_prefix` bits (1..=128).
pub fn network(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.clamp(1, 128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// `network` as text: `203.0.113.7`, `2001:db8:1:2::/64`.
pub fn network_key(ip: IpAddr, v6_prefix: u8) -> String {
    match network(ip, v6_prefix) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/{}", v6_prefix.clamp(1, 128)),
    }
}

/// The limiter of one server.
pub struct Limits {
    auth: u32,
    validate: u32,
    passkey_options: u32,
    v6_prefix: u8,
    windows: Mutex<Windows>,
}

impl Limits {
    /// Limits per client network and minute.
    pub fn new(auth: u32, validate: u32, passkey_options: u32, v6_prefix: u8) -> Self {
        Self {
            auth,
            validate,
            passkey_options,
            v6_prefix,
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
        let ip = network(ip, self.v6_prefix);
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
    fn ipv6_counts_per_prefix_and_ipv4_per_address() {
        assert_eq!(
            network_key(ip("2001:db8:1:2:aaaa::1"), 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            network_key(ip("2001:db8:1:2:aaaa::1"), 128),
            "2001:db8:1:2:aaaa::1/128"
        );
        assert_eq!(
            network_key(ip("2001:db8:1:2:aaaa::1"), 48),
            "2001:db8:1::/48"
        );
        assert_eq!(network_key(ip("203.0.113.7"), 64), "203.0.113.7");
        let l = Limits::new(2, 0, 0, 64);
        let t = crate::clock::Clock::system().now();
        assert!(l.check(Bucket::Auth, Some(ip("2001:db8::1")), t).is_ok());
        assert!(l
            .check(Bucket::Auth, Some(ip("2001:db8::ffff:2")), t)
            .is_ok());
        assert!(
            l.check(Bucket::Auth, Some(ip("2001:db8::3")), t).is_err(),
            "the same /64"
        );
        assert!(l
            .check(Bucket::Auth, Some(ip("2001:db8:0:1::1")), t)
            .is_ok());
        assert!(l.check(Bucket::Auth, Some(ip("10.0.0.1")), t).is_ok());
        assert!(l.check(Bucket::Auth, Some(ip("10.0.0.2")), t).is_ok());
    }

    #[test]
    fn windows_reset_after_a_minute() {
        let l = Limits::new(2, 0, 0, 64);
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
